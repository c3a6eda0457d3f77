/* zkvault versions: the kept versions of a secret. */
#include <stdlib.h>

#include "cli/cli.h"

const struct cli_spec cli_versions_spec = {
	.name = "versions",
	.operands = "NAME",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_NET | CLI_CAP | CLI_JSON,
	.summary = "List the kept versions of secret NAME, newest first: number, whether it is a deletion,\n"
		   "when and by whom it was written (no values). Needs the read permission.",
};

int cli_versions(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *v;
	char *path;
	size_t i;
	int rc = cli_begin(&c, &cli_versions_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	if (!(path = cli_path(&c, "/secrets/", c.args[0], "/versions"))) {
		cli_end(&c);
		return cli_error("out of memory");
	}
	rc = cli_request(&c, "GET", path, NULL, &out);
	free(path);
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		printf("%-8s %-8s %-25s %s\n", "VERSION", "STATE", "WRITTEN", "BY");
		json_array_foreach(json_object_get(out, "versions"), i, v)
			printf("%-8lld %-8s %-25s %s\n", (long long)json_integer_value(json_object_get(v, "version")),
			       json_is_true(json_object_get(v, "deleted")) ? "deleted" : "value", cli_str(v, "updatedAt"),
			       cli_str(v, "updatedBy"));
	}
	json_decref(out);
	cli_end(&c);
	return rc;
}
