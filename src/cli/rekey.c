/* zkvault rekey: a new vault key; every record re-encrypted, other ways in removed, every token invalidated. */
#include <string.h>

#include "cli/recovery.h"

const struct cli_spec cli_rekey_spec = {
	.name = "rekey",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_PASSWORD | CLI_JSON,
	.summary = "Give the vault a new master key: every record version and audit entry is re-encrypted in\n"
		   "one transaction (all or nothing). The password keeps working; every other way in (recovery\n"
		   "phrase, hardware key, social recovery, threshold unlock) is removed and listed, and every\n"
		   "capability token stops working. Asks for the password (or --password-stdin). Needs the\n"
		   "vault unlocked.",
	.examples = "  zkvault rekey\n",
};

int cli_rekey(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL;
	int rc = cli_begin(&c, &cli_rekey_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_send_password(&c, "/rekey", "Vault password: ", false, NULL, &out);
	if (rc == CLI_DENIED && !strcmp(c.error, "Invalid password"))
		rc = CLI_ERROR;
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		printf("Vault rekeyed (revision %lld): every record and audit entry is under a new key.\n",
		       (long long)json_integer_value(json_object_get(out, "revision")));
		cli_print_rekeyed(out);
	}
	json_decref(out);
	cli_end(&c);
	return rc;
}
