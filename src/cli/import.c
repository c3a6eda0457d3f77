/* zkvault import: restore an export, or bring in an OCMT group vault export. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/mem.h"
#include "lib/term.h"

#define IMPORT_MAX (64u << 20)

static const struct cli_option options[] = {
	{ "force", 0, NULL, "restore even an older revision than the vault has seen (a rollback; audited)", NULL },
	{ 0 },
};

const struct cli_spec cli_import_spec = {
	.name = "import",
	.operands = "FILE",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = options,
	.summary = "Import FILE ('-' for standard input), made by 'zkvault export' or by OCMT (format\n"
		   "ocmt-group-vault, converted at the first unlock). Into an empty vault it creates the\n"
		   "vault; over an existing one it restores a copy of that same vault, which must be locked\n"
		   "and not older than what it has seen unless --force. Unlock afterwards with the password\n"
		   "of the exported vault.",
	.examples = "  zkvault lock && zkvault import vault-2026-11-27.json && zkvault unlock\n",
};

static int read_envelope(const char *file, json_t **env)
{
	char *text;
	size_t n;
	int fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (fd < 0)
		return cli_error("cannot open %s: %s", file, strerror(errno));
	int rc = zk_term_read_all(fd, IMPORT_MAX, &text, &n);
	if (fd != STDIN_FILENO)
		close(fd);
	if (rc == -2)
		return cli_error("%s is larger than %u bytes", file, IMPORT_MAX);
	if (rc != 0)
		return cli_error("cannot read %s: %s", file, strerror(errno));
	json_t *o = json_loadb(text, n, JSON_REJECT_DUPLICATES, NULL);
	zk_wipe_free(text);
	/* Also accept the whole answer of GET /export, {"vault": envelope}. */
	if (json_is_object(o) && !json_object_get(o, "format") && json_is_object(json_object_get(o, "vault"))) {
		json_t *inner = json_incref(json_object_get(o, "vault"));
		json_decref(o);
		o = inner;
	}
	if (!json_is_object(o) || !json_is_string(json_object_get(o, "format"))) {
		json_decref(o);
		return cli_error("%s is not a vault export (a JSON object with a \"format\")", file);
	}
	*env = o;
	return CLI_OK;
}

int cli_import(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *env = NULL, *body = NULL;
	int rc = cli_begin(&c, &cli_import_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	if ((rc = read_envelope(c.args[0], &env)) != CLI_OK)
		goto out;
	if (!(body = json_pack("{sO}", "vault", env))) {
		rc = cli_error("out of memory");
		goto out;
	}
	if (cli_opt(&c, "force"))
		json_object_set_new(body, "force", json_true());
	rc = cli_request(&c, "POST", "/import", body, &out);
	if (rc != CLI_OK && !strcmp(c.code, "ROLLBACK"))
		cli_error("use --force to roll back to this older copy (the rollback is audited)");
	if (rc == CLI_OK && c.json)
		rc = cli_print_json(out);
	else if (rc == CLI_OK)
		printf("Vault imported from %s. Unlock it with the password of the exported vault.\n", c.args[0]);
out:
	json_decref(body);
	json_decref(env);
	json_decref(out);
	cli_end(&c);
	return rc;
}
