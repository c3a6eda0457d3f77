/* zkvault ls: the names of the secrets the capability token may read. */
#include "cli/cli.h"

const struct cli_spec cli_ls_spec = {
	.name = "ls",
	.operands = "",
	.flags = CLI_NET | CLI_CAP | CLI_JSON,
	.summary = "List the secrets the capability token may read, one name per line, sorted\n"
		   "(needs the read permission). --json adds each secret's metadata.",
};

int cli_ls(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *item;
	size_t i;
	int rc = cli_begin(&c, &cli_ls_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request(&c, "GET", "/secrets", NULL, &out);
	if (rc == CLI_OK && c.json)
		rc = cli_print_json(out);
	else if (rc == CLI_OK)
		json_array_foreach(json_object_get(out, "keys"), i, item)
			printf("%s\n", cli_str(item, "key"));
	json_decref(out);
	cli_end(&c);
	return rc;
}
