/* zkvault audit: the vault's audit log, newest first. */
#include <stdlib.h>

#include "cli/cli.h"

static const struct cli_option options[] = {
	{ "secret", 0, "NAME", "only the entries about secret NAME", NULL },
	{ "limit", 'n', "N", "at most N entries, 1 to 1000 (default 100; 50 with --secret)", NULL },
	{ 0 },
};

const struct cli_spec cli_audit_spec = {
	.name = "audit",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = options,
	.summary = "Print the audit log, newest first: time, action, result, who, and what it was about\n"
		   "(secret or user, error, client address, repeat count). The vault must be unlocked\n"
		   "(the log is encrypted).",
	.examples = "  zkvault audit --secret db-password --limit 20\n",
};

static void print_entry(json_t *e)
{
	const char *secret = cli_str(e, "secretKey"), *target = cli_str(e, "targetUserId");
	const char *error = cli_str(e, "error"), *ip = cli_str(e, "ipAddress");
	json_int_t count = json_integer_value(json_object_get(e, "count"));

	if (!json_object_get(e, "action")) {
		printf("%-24s %-24s %s\n", "-", "(unreadable)", error);
		return;
	}
	printf("%-24s %-24s %-6s %-36s", cli_str(e, "timestamp"), cli_str(e, "action"),
	       json_is_true(json_object_get(e, "success")) ? "ok" : "FAILED", cli_str(e, "userId"));
	if (*secret)
		printf(" %s", secret);
	if (*target)
		printf(" user %s", target);
	if (*error)
		printf(" (%s)", error);
	if (*ip)
		printf(" from %s", ip);
	if (count > 1)
		printf(" x%lld", (long long)count);
	printf("\n");
}

int cli_audit(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *e;
	char *path = NULL, query[32] = "";
	unsigned long long limit;
	size_t i;
	int rc = cli_begin(&c, &cli_audit_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_opt(&c, "limit")) {
		if (cli_parse_number(cli_opt(&c, "limit"), 1000, &limit) != 0 || limit == 0) {
			rc = cli_usage_error(&c, "--limit expects a whole number from 1 to 1000");
			goto out;
		}
		snprintf(query, sizeof(query), "?limit=%llu", limit);
	}
	path = cli_opt(&c, "secret") ? cli_path(&c, "/audit/secret/", cli_opt(&c, "secret"), query)
				     : cli_path(&c, "/audit", "", query);
	if (!path) {
		rc = cli_error("out of memory");
		goto out;
	}
	rc = cli_request(&c, "GET", path, NULL, &out);
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		printf("%-24s %-24s %-6s %-36s %s\n", "TIME", "ACTION", "RESULT", "USER", "DETAILS");
		json_array_foreach(json_object_get(out, "logs"), i, e)
			print_entry(e);
	}
out:
	free(path);
	json_decref(out);
	cli_end(&c);
	return rc;
}
