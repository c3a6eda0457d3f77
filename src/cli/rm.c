/* zkvault rm: delete a secret (a tombstone version; older versions stay readable). */
#include <stdlib.h>

#include "cli/cli.h"

const struct cli_spec cli_rm_spec = {
	.name = "rm",
	.operands = "NAME",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_NET | CLI_CAP | CLI_JSON,
	.summary = "Delete secret NAME. The deletion is a new version: 'zkvault versions NAME' still lists\n"
		   "the older ones and 'zkvault get NAME --version N' reads them. Needs the delete\n"
		   "permission; exits 4 if there is no such secret.",
};

int cli_rm(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL;
	char *path;
	int rc = cli_begin(&c, &cli_rm_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	if (!(path = cli_path(&c, "/secrets/", c.args[0], NULL))) {
		cli_end(&c);
		return cli_error("out of memory");
	}
	rc = cli_request(&c, "DELETE", path, NULL, &out);
	free(path);
	if (rc == CLI_OK && c.json)
		rc = cli_print_json(out);
	else if (rc == CLI_OK)
		printf("Deleted %s.\n", c.args[0]);
	json_decref(out);
	cli_end(&c);
	return rc;
}
