/* zkvault status: whether the vault is initialized and unlocked, and for how long. */
#include "cli/cli.h"

const struct cli_spec cli_status_spec = {
	.name = "status",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.summary = "Show whether the vault is initialized and unlocked, when the session ends, its id,\n"
		   "kind and revision. Exits 0 when unlocked and 3 when locked or not initialized, so\n"
		   "'zkvault status >/dev/null || zkvault unlock' works in scripts.",
};

int cli_status(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL;
	char left[32];
	int rc = cli_begin(&c, &cli_status_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request(&c, "GET", "/status", NULL, &out);
	if (rc == CLI_OK) {
		bool initialized = json_is_true(json_object_get(out, "initialized"));
		bool unlocked = json_is_true(json_object_get(out, "unlocked"));
		const char *id = json_string_value(json_object_get(out, "vaultId"));
		const char *pending = json_string_value(json_object_get(out, "pendingConversion"));
		if (c.json) {
			rc = cli_print_json(out);
		} else {
			cli_duration(left, sizeof(left), json_integer_value(json_object_get(out, "expiresIn")));
			printf("Initialized: %s\n", initialized ? "yes" : "no");
			if (unlocked)
				printf("Unlocked:    yes (locks in %s)\n", left);
			else
				printf("Unlocked:    no\n");
			printf("Kind:        %s\n", cli_str(out, "kind"));
			if (id)
				printf("Vault id:    %s\n", id);
			printf("Revision:    %lld\n", (long long)json_integer_value(json_object_get(out, "revision")));
			if (pending)
				printf("Pending:     %s import, converted at the first unlock\n", pending);
		}
		if (rc == CLI_OK && !unlocked)
			rc = CLI_LOCKED;
	}
	json_decref(out);
	cli_end(&c);
	return rc;
}
