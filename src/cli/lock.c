/* zkvault lock: end the session; the vault drops its keys. */
#include "cli/cli.h"

static const struct cli_option options[] = {
	{ "user", 0, "UUID", "who locks, for the audit log", NULL },
	{ 0 },
};

const struct cli_spec cli_lock_spec = {
	.name = "lock",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = options,
	.summary = "Lock the vault now: it wipes its keys, and every secret request answers 423 (exit 3)\n"
		   "until the next 'zkvault unlock'.",
};

int cli_lock(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *body = NULL;
	int rc = cli_begin(&c, &cli_lock_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_opt(&c, "user"))
		body = json_pack("{ss}", "userId", cli_opt(&c, "user"));
	rc = cli_request(&c, "POST", "/lock", body, &out);
	if (rc == CLI_OK && c.json)
		rc = cli_print_json(out);
	else if (rc == CLI_OK)
		printf("Vault locked.\n");
	json_decref(body);
	json_decref(out);
	cli_end(&c);
	return rc;
}
