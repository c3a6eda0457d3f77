/* zkvault run: exec a command with secrets added to its environment, never printed. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/mem.h"

/* Credentials of zkvault itself that the command does not get. */
static const char *const withheld[] = { "ZKVAULT_TOKEN", "ZKVAULT_TOKEN_FILE", "ZKVAULT_AUTH_TOKEN",
					"ZKVAULT_AUTH_TOKEN_FILE" };

static const struct cli_option options[] = {
	{ "secret", 's', "NAME=VAR", "put secret NAME in variable VAR (repeatable); NAME alone gives VAR = NAME "
				     "upper-cased with '.' and '-' as '_'", NULL },
	{ 0 },
};

const struct cli_spec cli_run_spec = {
	.name = "run",
	.operands = "[--] COMMAND [ARG]...",
	.min_operands = 1,
	.max_operands = -1,
	.flags = CLI_NET | CLI_CAP | CLI_IN_ORDER,
	.options = options,
	.summary = "Run COMMAND with the given secrets added to its environment only: the values are never\n"
		   "printed, and zkvault's own tokens (ZKVAULT_TOKEN, ZKVAULT_AUTH_TOKEN and their _FILE\n"
		   "forms) are removed from it. zkvault replaces itself with COMMAND (exec), so the exit\n"
		   "status and signals are COMMAND's; 127 if COMMAND is not found, 126 if it cannot run.\n"
		   "If any secret cannot be read, COMMAND does not run and the exit code says why.",
	.examples = "  zkvault run --secret db-password=PGPASSWORD -- psql -h db app\n"
		    "  zkvault run -s openai.key=OPENAI_API_KEY -s github-token -- ./agent.sh\n",
};

struct injection {
	char *name;  /* secret */
	char *var;   /* environment variable */
	char *entry; /* "VAR=value", wiped memory */
};

static bool valid_var(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static int parse_injections(struct cli *c, struct injection *inj, size_t *n)
{
	const char *spec;
	size_t pos = 0;

	*n = 0;
	while ((spec = cli_opt_next(c, "secret", &pos))) {
		struct injection *x = &inj[*n];
		const char *eq = strchr(spec, '=');
		x->name = eq ? strndup(spec, (size_t)(eq - spec)) : strdup(spec);
		x->var = strdup(eq ? eq + 1 : spec);
		(*n)++;
		if (!x->name || !x->var)
			return cli_error("out of memory");
		if (!eq)
			for (char *p = x->var; *p; p++)
				*p = *p == '.' || *p == '-' ? '_' : (char)toupper((unsigned char)*p);
		if (!*x->name)
			return cli_usage_error(c, "--secret '%s' names no secret", spec);
		if (!valid_var(x->var))
			return cli_usage_error(c, "'%s' is not a valid environment variable name", x->var);
		for (size_t i = 0; i + 1 < *n; i++)
			if (!strcmp(inj[i].var, x->var))
				return cli_usage_error(c, "variable %s is given twice", x->var);
	}
	if (*n == 0)
		return cli_usage_error(c, "give at least one --secret NAME=VAR");
	return CLI_OK;
}

static int fetch(struct cli *c, struct injection *x)
{
	json_t *out = NULL;
	char *path = cli_path(c, "/secrets/", x->name, NULL);
	int rc = path ? cli_request(c, "GET", path, NULL, &out) : cli_error("out of memory");
	free(path);
	if (rc != CLI_OK)
		return rc;
	json_t *value = json_object_get(out, "value");
	size_t vlen = json_string_length(value), nlen = strlen(x->var);
	if (!json_is_string(value))
		rc = cli_error("the vault's answer for %s has no value", x->name);
	else if (strlen(json_string_value(value)) != vlen)
		rc = cli_error("secret %s holds a NUL byte and cannot go into an environment variable", x->name);
	else if (!(x->entry = zk_wipe_malloc(nlen + vlen + 2)))
		rc = cli_error("out of memory");
	else
		snprintf(x->entry, nlen + vlen + 2, "%s=%s", x->var, json_string_value(value));
	json_decref(out);
	return rc;
}

static bool replaced(const char *entry, const struct injection *inj, size_t n)
{
	size_t len = strcspn(entry, "=");
	for (size_t i = 0; i < sizeof(withheld) / sizeof(withheld[0]); i++)
		if (strlen(withheld[i]) == len && !strncmp(entry, withheld[i], len))
			return true;
	for (size_t i = 0; i < n; i++)
		if (strlen(inj[i].var) == len && !strncmp(entry, inj[i].var, len))
			return true;
	return false;
}

/* The current environment less zkvault's credentials and the injected names, plus the injections. */
static char **child_environment(const struct injection *inj, size_t n)
{
	extern char **environ;
	size_t count = 0, k = 0;
	while (environ[count])
		count++;
	char **envp = calloc(count + n + 1, sizeof(*envp));
	if (!envp)
		return NULL;
	for (size_t i = 0; i < count; i++)
		if (!replaced(environ[i], inj, n))
			envp[k++] = environ[i];
	for (size_t i = 0; i < n; i++)
		envp[k++] = inj[i].entry;
	return envp;
}

int cli_run(int argc, char *argv[])
{
	struct cli c;
	struct injection *inj = calloc((size_t)argc, sizeof(*inj));
	size_t n = 0;
	char **envp = NULL;
	int rc = cli_begin(&c, &cli_run_spec, argc, argv);

	if (rc != CLI_CONTINUE) {
		free(inj);
		return rc;
	}
	if (!inj) {
		rc = cli_error("out of memory");
		goto out;
	}
	if ((rc = parse_injections(&c, inj, &n)) != CLI_OK)
		goto out;
	for (size_t i = 0; i < n && rc == CLI_OK; i++)
		rc = fetch(&c, &inj[i]);
	if (rc == CLI_OK && !(envp = child_environment(inj, n)))
		rc = cli_error("out of memory");
	if (rc == CLI_OK) {
		zk_client_close(&c.client); /* wipes the token and libcurl's buffers before exec */
		cli_prepare_exec();
		fflush(NULL);
		execvpe(c.args[0], c.args, envp);
		int err = errno;
		rc = err == ENOENT ? 127 : 126;
		cli_error("cannot run %s: %s", c.args[0], strerror(err));
	}
out:
	free(envp);
	for (size_t i = 0; inj && i < n; i++) {
		free(inj[i].name);
		free(inj[i].var);
		zk_wipe_str(inj[i].entry);
	}
	free(inj);
	cli_end(&c);
	return rc;
}
