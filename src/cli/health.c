/* zkvault health: the unauthenticated liveness check. */
#include "cli/cli.h"

const struct cli_spec cli_health_spec = {
	.name = "health",
	.operands = "",
	.flags = CLI_NET | CLI_JSON,
	.summary = "Check that the vault answers (no credential needed). Exits 0 whenever it answers,\n"
		   "locked or not; 1 when it cannot be reached.",
};

int cli_health(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL;
	int rc = cli_begin(&c, &cli_health_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request(&c, "GET", "/health", NULL, &out);
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		const char *group = json_string_value(json_object_get(out, "groupId"));
		printf("%s: %s, %s%s%s\n", cli_str(out, "status"),
		       json_is_true(json_object_get(out, "vaultInitialized")) ? "initialized" : "not initialized",
		       json_is_true(json_object_get(out, "vaultUnlocked")) ? "unlocked" : "locked",
		       group ? ", group " : "", group ? group : "");
	}
	json_decref(out);
	cli_end(&c);
	return rc;
}
