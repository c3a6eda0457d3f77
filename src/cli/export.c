/* zkvault export: the whole vault as one envelope of ciphertext (docs/FORMAT.md), to a 0600 file. */
#include <string.h>

#include "cli/cli.h"
#include "lib/mem.h"

static const struct cli_option options[] = {
	{ "output", 'o', "FILE", "write to FILE (created with mode 0600) instead of standard output", NULL },
	{ "force", 0, NULL, "overwrite FILE if it exists", NULL },
	{ 0 },
};

const struct cli_spec cli_export_spec = {
	.name = "export",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = options,
	.summary = "Export the vault: records, wrapped keys, audit chain and token state, all encrypted or\n"
		   "public (the transport key stays behind). Works locked or unlocked. The file is created\n"
		   "exclusively with mode 0600 and never follows a symbolic link; --force overwrites.\n"
		   "Restore it with 'zkvault import'.",
	.examples = "  zkvault export -o vault-$(date +%F).json\n",
};

int cli_export(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *env;
	char *text = NULL;
	const char *file;
	int rc = cli_begin(&c, &cli_export_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	file = cli_opt(&c, "output");
	if (file && !strcmp(file, "-"))
		file = NULL;
	rc = cli_request(&c, "GET", "/export", NULL, &out);
	env = json_object_get(out, "vault");
	if (rc == CLI_OK && !json_is_object(env))
		rc = cli_error("the vault's answer holds no export");
	if (rc == CLI_OK && !(text = json_dumps(env, JSON_COMPACT)))
		rc = cli_error("out of memory");
	if (rc == CLI_OK && !file) {
		rc = cli_write_stdout(text, strlen(text));
		if (rc == CLI_OK)
			rc = cli_write_stdout("\n", 1);
	} else if (rc == CLI_OK) {
		size_t n = strlen(text);
		text[n] = '\n'; /* json_dumps leaves room for its NUL; the file ends with a newline instead */
		rc = cli_write_file(file, text, n + 1, cli_opt(&c, "force") != NULL, "use --force to overwrite it");
		text[n] = '\0';
	}
	if (rc == CLI_OK && file) {
		json_t *id = json_object_get(env, "vaultId"), *rev = json_object_get(env, "revision");
		if (c.json) {
			json_t *o = json_pack("{sssOsO}", "file", file, "vaultId", id ? id : json_null(), "revision",
					      rev ? rev : json_null());
			rc = o ? cli_print_json(o) : cli_error("out of memory");
			json_decref(o);
		} else {
			printf("Exported vault %s (revision %lld) to %s.\n", id ? json_string_value(id) : "(OCMT import)",
			       (long long)json_integer_value(rev), file);
		}
	}
	zk_wipe_str(text);
	json_decref(out);
	cli_end(&c);
	return rc;
}
