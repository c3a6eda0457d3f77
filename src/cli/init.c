/* zkvault init: create the vault and set its password. */
#include "cli/cli.h"

const struct cli_spec cli_init_spec = {
	.name = "init",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_PASSWORD | CLI_JSON,
	.summary = "Create the vault and set its password (at least 16 characters).\n"
		   "The password is asked twice on the terminal with echo off, or read as one line from\n"
		   "standard input with --password-stdin; never from the command line or the environment.\n"
		   "The new vault is locked: run 'zkvault unlock' next.",
	.examples = "  zkvault init\n"
		    "  zkvault init --password-stdin < password-file\n",
};

int cli_init(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL;
	int rc = cli_begin(&c, &cli_init_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_send_password(&c, "/init", "New vault password: ", true, NULL, &out);
	if (rc == CLI_OK && c.json)
		rc = cli_print_json(out);
	else if (rc == CLI_OK)
		printf("Vault initialized. Unlock it with 'zkvault unlock'.\n");
	json_decref(out);
	cli_end(&c);
	return rc;
}
