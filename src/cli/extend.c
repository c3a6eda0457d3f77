/* zkvault extend: renew the session. */
#include "cli/cli.h"

const struct cli_spec cli_extend_spec = {
	.name = "extend",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.summary = "Renew the unlocked session for its full length again (reads do not renew it).\n"
		   "Exits 3 if the vault is already locked.",
};

int cli_extend(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL;
	char left[32];
	int rc = cli_begin(&c, &cli_extend_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request(&c, "POST", "/extend", NULL, &out);
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		cli_duration(left, sizeof(left), json_integer_value(json_object_get(out, "expiresIn")));
		printf("Session extended: the vault locks in %s.\n", left);
	}
	json_decref(out);
	cli_end(&c);
	return rc;
}
