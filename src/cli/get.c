/* zkvault get: print a secret's value. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"

static const struct cli_option options[] = {
	{ "version", 0, "N", "print version N instead of the latest", NULL },
	{ 0 },
};

const struct cli_spec cli_get_spec = {
	.name = "get",
	.operands = "NAME",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_NET | CLI_CAP | CLI_JSON,
	.options = options,
	.summary = "Print the value of secret NAME, exactly as stored: nothing else, and a newline only when\n"
		   "standard output is a terminal, so $(zkvault get NAME) and 'zkvault get NAME > file' work.\n"
		   "--json prints the whole record (key, value, metadata, version). Needs the read\n"
		   "permission; exits 4 if there is no such secret (or version).",
	.examples = "  export PGPASSWORD=\"$(zkvault get db-password)\"\n"
		    "  zkvault get tls-key --version 2 > key.pem\n",
};

int cli_get(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL;
	char *path, query[40] = "";
	unsigned long long version;
	int rc = cli_begin(&c, &cli_get_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_opt(&c, "version")) {
		if (cli_parse_number(cli_opt(&c, "version"), INT64_MAX, &version) != 0 || version == 0) {
			rc = cli_usage_error(&c, "--version expects a positive whole number");
			goto out;
		}
		snprintf(query, sizeof(query), "?version=%llu", version);
	}
	if (!(path = cli_path(&c, "/secrets/", c.args[0], query))) {
		rc = cli_error("out of memory");
		goto out;
	}
	rc = cli_request(&c, "GET", path, NULL, &out);
	free(path);
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		json_t *value = json_object_get(out, "value");
		if (!json_is_string(value))
			rc = cli_error("the vault's answer has no value");
		else
			rc = cli_write_stdout(json_string_value(value), json_string_length(value));
		if (rc == CLI_OK && isatty(STDOUT_FILENO))
			rc = cli_write_stdout("\n", 1);
	}
out:
	json_decref(out);
	cli_end(&c);
	return rc;
}
