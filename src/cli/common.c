/* The part every client subcommand shares: option parsing, help, credentials, requests, exit codes. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/crypto.h"
#include "lib/libcurl.h"
#include "lib/mem.h"
#include "lib/term.h"

#define TOKEN_FILE_MAX (64u << 10)
#define HELP_COLUMN 28

static const struct cli_option opt_password_stdin = {
	"password-stdin", 0, NULL, "read the password as one line from standard input, not the terminal", NULL
};
static const struct cli_option opt_json = { "json", 0, NULL, "print JSON instead of text", NULL };
static const struct cli_option opt_addr = { "addr", 0, "URL", "vault address (ZKVAULT_ADDR; " CLI_DEFAULT_ADDR ")",
					    NULL };
static const struct cli_option opt_ca_file = { "ca-file", 0, "FILE", "CA certificates for https (ZKVAULT_CA_FILE)",
					       NULL };
static const struct cli_option opt_auth_token_file = {
	"auth-token-file", 0, "FILE", "management token file (or ZKVAULT_AUTH_TOKEN, ZKVAULT_AUTH_TOKEN_FILE)", NULL
};
static const struct cli_option opt_token_file = {
	"token-file", 0, "FILE", "capability token file (or ZKVAULT_TOKEN, ZKVAULT_TOKEN_FILE)", NULL
};
static const struct cli_option opt_agent_id = {
	"agent-id", 0, "ID", "send X-Agent-Id for a token with an audience (ZKVAULT_AGENT_ID)", NULL
};
static const struct cli_option opt_help = { "help", 'h', NULL, "show this help", NULL };

size_t cli_common_options(const struct cli_spec *spec, const struct cli_option **out)
{
	size_t n = 0;
	if (spec->flags & CLI_PASSWORD)
		out[n++] = &opt_password_stdin;
	if (spec->flags & CLI_JSON)
		out[n++] = &opt_json;
	if (spec->flags & CLI_NET) {
		out[n++] = &opt_addr;
		out[n++] = &opt_ca_file;
	}
	if (spec->flags & CLI_MGMT)
		out[n++] = &opt_auth_token_file;
	if (spec->flags & CLI_CAP)
		out[n++] = &opt_token_file;
	if ((spec->flags & CLI_CAP) && (spec->flags & CLI_NET))
		out[n++] = &opt_agent_id;
	out[n++] = &opt_help;
	return n;
}

int cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("zkvault: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_ERROR;
}

int cli_usage_error(const struct cli *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "zkvault %s: ", c->spec->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nSee 'zkvault %s --help'.\n", c->spec->name);
	return CLI_USAGE;
}

static void print_option(FILE *f, const struct cli_option *o)
{
	char left[96];
	int n = snprintf(left, sizeof(left), "  %c%c%s--%s%s%s", o->short_name ? '-' : ' ',
			 o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
	if (n < HELP_COLUMN - 1)
		fprintf(f, "%-*s %s\n", HELP_COLUMN - 1, left, o->help);
	else
		fprintf(f, "%s\n%*s%s\n", left, HELP_COLUMN, "", o->help);
}

void cli_print_help(const struct cli_spec *spec, FILE *f)
{
	const struct cli_option *common[CLI_MAX_COMMON];
	size_t ncommon = cli_common_options(spec, common);

	if (spec->subcommands)
		fprintf(f, "usage: zkvault %s <command> [options]\n\n%s\n", spec->name, spec->summary);
	else
		fprintf(f, "usage: zkvault %s%s%s [options]\n\n%s\n", spec->name, *spec->operands ? " " : "",
			spec->operands, spec->summary);
	if (spec->subcommands) {
		fprintf(f, "\nCommands:\n");
		for (const struct cli_spec *const *s = spec->subcommands; *s; s++) {
			const char *line = (*s)->brief ? (*s)->brief : (*s)->summary;
			fprintf(f, "  %-*s%.*s\n", HELP_COLUMN - 2, (*s)->name, (int)strcspn(line, "\n"), line);
		}
		fprintf(f, "\nRun 'zkvault %s <command> --help' for the options of one command.\n", spec->name);
	}
	fprintf(f, "\nOptions:\n");
	for (const struct cli_option *o = spec->options; o && o->name; o++)
		print_option(f, o);
	for (size_t i = 0; i < ncommon; i++)
		print_option(f, common[i]);
	if (spec->examples)
		fprintf(f, "\nExamples:\n%s", spec->examples);
	fprintf(f, "\n%s\n", CLI_EXIT_CODES);
}

const char *cli_opt(const struct cli *c, const char *name)
{
	const char *v = NULL;
	for (size_t i = 0; i < c->nvalues; i++)
		if (!strcmp(c->values[i].name, name))
			v = c->values[i].value;
	return v;
}

const char *cli_opt_next(const struct cli *c, const char *name, size_t *pos)
{
	while (*pos < c->nvalues) {
		const struct cli_value *v = &c->values[(*pos)++];
		if (!strcmp(v->name, name))
			return v->value;
	}
	return NULL;
}

/* getopt_long over the command's options and the shared ones; values land in c->values. */
static int parse_options(struct cli *c, int argc, char *argv[])
{
	const struct cli_spec *spec = c->spec;
	const struct cli_option *common[CLI_MAX_COMMON];
	size_t ncommon = cli_common_options(spec, common), nown = 0;
	char shorts[64];
	size_t ns = 0;
	int rc = CLI_CONTINUE, o;

	while (spec->options && spec->options[nown].name)
		nown++;
	struct option *lo = calloc(nown + ncommon + 1, sizeof(*lo));
	c->values = calloc((size_t)argc + 1, sizeof(*c->values));
	if (!lo || !c->values) {
		free(lo);
		return cli_error("out of memory");
	}
	if (spec->flags & CLI_IN_ORDER)
		shorts[ns++] = '+';
	shorts[ns++] = ':';
	for (size_t i = 0; i < nown + ncommon; i++) {
		const struct cli_option *opt = i < nown ? &spec->options[i] : common[i - nown];
		lo[i] = (struct option){ opt->name, opt->arg ? required_argument : no_argument, NULL, 1000 + (int)i };
		if (opt->short_name && ns + 3 < sizeof(shorts)) {
			shorts[ns++] = opt->short_name;
			if (opt->arg)
				shorts[ns++] = ':';
		}
	}
	shorts[ns] = '\0';

	optind = 0;
	opterr = 0;
	while (rc == CLI_CONTINUE && (o = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const struct cli_option *opt = NULL;
		if (o == '?') {
			if (optopt)
				rc = cli_usage_error(c, "unknown option '-%c'", optopt);
			else
				rc = cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
			break;
		}
		if (o == ':') {
			rc = cli_usage_error(c, "option '%s' needs a value", argv[optind - 1]);
			break;
		}
		if (o >= 1000)
			opt = (size_t)(o - 1000) < nown ? &spec->options[o - 1000] : common[o - 1000 - (int)nown];
		for (size_t i = 0; !opt && i < nown + ncommon; i++) {
			const struct cli_option *x = i < nown ? &spec->options[i] : common[i - nown];
			if (x->short_name == o)
				opt = x;
		}
		if (opt == &opt_help) {
			cli_print_help(spec, stdout);
			rc = CLI_OK;
		} else if (opt == &opt_json) {
			c->json = true;
		} else if (opt == &opt_password_stdin) {
			c->password_stdin = true;
		} else if (opt) {
			c->values[c->nvalues++] = (struct cli_value){ opt->name, opt->arg ? optarg : "" };
		}
	}
	free(lo);
	if (rc != CLI_CONTINUE)
		return rc;
	c->args = argv + optind;
	c->nargs = argc - optind;
	if (c->nargs < spec->min_operands)
		return cli_usage_error(c, "missing %s", spec->operands);
	if (spec->max_operands >= 0 && c->nargs > spec->max_operands)
		return cli_usage_error(c, "unexpected argument '%s'", c->args[spec->max_operands]);
	return CLI_CONTINUE;
}

/* A token from --FLAG FILE, else the variable env, else the file named by env_file. */
static int load_credential(struct cli *c, const char *flag, const char *env, const char *env_file,
			   const char *what, char **out)
{
	const char *file = flag ? cli_opt(c, flag) : NULL, *value = getenv(env);
	char *buf;
	size_t n;

	if (!file && value && *value) {
		if (!(*out = zk_wipe_strdup(value)))
			return cli_error("out of memory");
		return CLI_OK;
	}
	if (!file && (file = getenv(env_file)) && !*file)
		file = NULL;
	if (!file)
		return cli_usage_error(c, "no %s: set %s or use --%s FILE", what, env, flag);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cli_error("cannot open %s: %s", file, strerror(errno));
	int rc = zk_term_read_all(fd, TOKEN_FILE_MAX, &buf, &n);
	close(fd);
	if (rc != 0)
		return cli_error("cannot read %s", file);
	while (n && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	if (!n || memchr(buf, '\n', n) || strlen(buf) != n) {
		zk_wipe_free(buf);
		return cli_error("%s does not hold a %s (one line expected)", file, what);
	}
	*out = buf;
	return CLI_OK;
}

int cli_load_token(struct cli *c, bool management, char **token)
{
	if (management)
		return load_credential(c, "auth-token-file", "ZKVAULT_AUTH_TOKEN", "ZKVAULT_AUTH_TOKEN_FILE",
				       "management token", token);
	return load_credential(c, "token-file", "ZKVAULT_TOKEN", "ZKVAULT_TOKEN_FILE", "capability token", token);
}

static bool env_set(const char *name)
{
	const char *s = getenv(name);
	return s && *s;
}

static int open_client(struct cli *c)
{
	const char *addr = cli_opt(c, "addr"), *ca = cli_opt(c, "ca-file");
	char err[256], *token = NULL;
	int rc;

	if (!addr && (!(addr = getenv("ZKVAULT_ADDR")) || !*addr))
		addr = CLI_DEFAULT_ADDR;
	if (!ca && (ca = getenv("ZKVAULT_CA_FILE")) && !*ca)
		ca = NULL;
	if (zk_client_open(&c->client, addr, ca, err, sizeof(err)) != 0)
		return cli_usage_error(c, "%s", err);
	if (c->client.plaintext_remote)
		fprintf(stderr, "zkvault: warning: %s is plain http to another host; tokens and secrets cross the "
				"network in clear\n", addr);
	if (c->spec->flags & CLI_MGMT) {
		rc = cli_load_token(c, true, &token);
		if (rc == CLI_OK && zk_client_add_header(&c->client, "X-Auth-Token", token) != 0)
			rc = cli_error("out of memory");
		zk_wipe_free(token);
		if (rc != CLI_OK)
			return rc;
		/* A strict-mode vault's session ('zkvault unlock --session-file'), when one is given. */
		if (env_set("ZKVAULT_SESSION") || env_set("ZKVAULT_SESSION_FILE")) {
			rc = load_credential(c, NULL, "ZKVAULT_SESSION", "ZKVAULT_SESSION_FILE", "vault session", &token);
			if (rc == CLI_OK && zk_client_add_header(&c->client, "X-Vault-Session", token) != 0)
				rc = cli_error("out of memory");
			zk_wipe_free(token);
			if (rc != CLI_OK)
				return rc;
		}
	}
	if (c->spec->flags & CLI_CAP) {
		const char *agent = cli_opt(c, "agent-id");
		if (!agent && (agent = getenv("ZKVAULT_AGENT_ID")) && !*agent)
			agent = NULL;
		rc = cli_load_token(c, false, &token);
		if (rc == CLI_OK && zk_client_add_header(&c->client, "X-Capability-Token", token) != 0)
			rc = cli_error("out of memory");
		if (rc == CLI_OK && agent && zk_client_add_header(&c->client, "X-Agent-Id", agent) != 0)
			rc = cli_error("out of memory");
		zk_wipe_free(token);
		if (rc != CLI_OK)
			return rc;
	}
	return CLI_CONTINUE;
}

/* No core dumps and no ptrace attach while secrets are in memory; the hard core limit is kept for run. */
static struct rlimit saved_core;
static bool core_saved;

static int process_init(void)
{
	static bool done;
	if (done)
		return 0;
	if (zk_mem_init() != 0 || zk_client_global_init() != 0)
		return -1;
	if (getrlimit(RLIMIT_CORE, &saved_core) == 0) {
		struct rlimit none = { 0, saved_core.rlim_max };
		core_saved = setrlimit(RLIMIT_CORE, &none) == 0;
	}
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	done = true;
	return 0;
}

void cli_prepare_exec(void)
{
	if (core_saved)
		setrlimit(RLIMIT_CORE, &saved_core);
}

int cli_begin(struct cli *c, const struct cli_spec *spec, int argc, char *argv[])
{
	memset(c, 0, sizeof(*c));
	c->spec = spec;
	if (process_init() != 0)
		return cli_error("%s", zk_curl_error() ? zk_curl_error() : "cannot initialise libsodium");
	int rc = parse_options(c, argc, argv);
	if (rc == CLI_CONTINUE && (spec->flags & CLI_NET))
		rc = open_client(c);
	if (rc != CLI_CONTINUE)
		cli_end(c);
	return rc;
}

void cli_end(struct cli *c)
{
	if (c->client.curl)
		zk_client_close(&c->client);
	free(c->values);
	c->values = NULL;
	c->nvalues = 0;
}

static int exit_for_status(long status)
{
	switch (status) {
	case 423:
		return CLI_LOCKED;
	case 404:
		return CLI_NOT_FOUND;
	case 401:
	case 403:
		return CLI_DENIED;
	default:
		return CLI_ERROR;
	}
}

int cli_request(struct cli *c, const char *method, const char *path, const json_t *body, json_t **out)
{
	struct zk_response res;
	char err[sizeof(c->error) - 1];

	*out = NULL;
	c->status = 0;
	c->error[0] = '\0';
	c->code[0] = '\0';
	if (zk_client_call(&c->client, method, path, body, &res, err, sizeof(err)) != 0) {
		snprintf(c->error, sizeof(c->error), "%s", err);
		return cli_error("%s", err);
	}
	c->status = res.status;
	if (res.status >= 200 && res.status < 300) {
		*out = res.body ? res.body : json_object();
		return *out ? CLI_OK : cli_error("out of memory");
	}
	const char *msg = json_string_value(json_object_get(res.body, "error"));
	const char *details = json_string_value(json_object_get(res.body, "details"));
	const char *unlock_url = json_string_value(json_object_get(res.body, "unlockUrl"));
	const char *code = json_string_value(json_object_get(res.body, "code"));
	snprintf(c->code, sizeof(c->code), "%s", code ? code : "");
	if (msg)
		snprintf(c->error, sizeof(c->error), "%s", msg);
	else
		snprintf(c->error, sizeof(c->error), "the vault answered HTTP %ld", res.status);
	if (details)
		cli_error("%s: %s", c->error, details);
	else
		cli_error("%s", c->error);
	if (unlock_url)
		cli_error("unlock it at %s", unlock_url);
	zk_response_clear(&res);
	return exit_for_status(c->status);
}

char *cli_path(struct cli *c, const char *prefix, const char *segment, const char *suffix)
{
	char *escaped = zk_client_escape(&c->client, segment), *path = NULL;
	if (escaped && asprintf(&path, "%s%s%s", prefix, escaped, suffix ? suffix : "") < 0)
		path = NULL;
	zk_client_free_string(escaped);
	return path;
}

static int read_error(int rc, const char *where)
{
	if (rc == -2)
		return cli_error("the password is longer than %d bytes", ZK_TERM_LINE_MAX);
	if (rc == -3)
		return cli_error("no password given on %s", where);
	return cli_error("cannot read the password from %s: %s", where, strerror(errno));
}

int cli_read_password(struct cli *c, const char *prompt, bool confirm, char **password, size_t *len)
{
	char *again = NULL;
	size_t again_len;
	int rc;

	if (c->password_stdin) {
		if ((rc = zk_term_read_line(STDIN_FILENO, password, len)) != 0)
			return read_error(rc, "standard input");
	} else {
		if (!zk_term_available())
			return cli_usage_error(c, "no terminal to ask for the password on; use --password-stdin");
		if ((rc = zk_term_read_hidden(prompt, password, len)) != 0)
			return read_error(rc, "the terminal");
		if (confirm && (rc = zk_term_read_hidden("Repeat the password: ", &again, &again_len)) != 0) {
			zk_wipe_free(*password);
			return read_error(rc, "the terminal");
		}
		if (confirm) {
			bool same = again_len == *len && sodium_memcmp(again, *password, *len) == 0;
			zk_wipe_free(again);
			if (!same) {
				zk_wipe_free(*password);
				return cli_error("the passwords do not match");
			}
		}
	}
	if (*len == 0) {
		zk_wipe_free(*password);
		return cli_error("the password is empty");
	}
	return CLI_OK;
}

int cli_send_password(struct cli *c, const char *path, const char *prompt, bool confirm, const char *user,
		      json_t **out)
{
	char *password;
	size_t len;
	int rc = cli_read_password(c, prompt, confirm, &password, &len);
	if (rc != CLI_OK)
		return rc;
	json_t *p = json_stringn(password, len);
	zk_wipe_free(password);
	if (!p)
		return cli_error("the password is not valid UTF-8");
	json_t *body = json_pack("{so}", "password", p);
	if (body && user)
		json_object_set_new(body, "userId", json_string(user));
	if (body && c->session_pk[0])
		json_object_set_new(body, "sessionPublicKey", json_string(c->session_pk));
	rc = body ? cli_request(c, "POST", path, body, out) : cli_error("out of memory");
	json_decref(body);
	return rc;
}

const char *cli_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

void cli_duration(char *buf, size_t n, long long seconds)
{
	static const struct {
		char unit;
		long long size;
	} units[] = { { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };
	size_t used = 0;

	buf[0] = '\0';
	if (seconds <= 0) {
		snprintf(buf, n, "0s");
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && used < n; i++) {
		long long k = seconds / units[i].size;
		seconds %= units[i].size;
		if (k)
			used += (size_t)snprintf(buf + used, n - used, "%lld%c", k, units[i].unit);
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int cli_write_stdout(const char *p, size_t n)
{
	fflush(stdout);
	if (write_all(STDOUT_FILENO, p, n) != 0)
		return cli_error("cannot write to standard output: %s", strerror(errno));
	return CLI_OK;
}

int cli_write_file(const char *file, const char *data, size_t n, bool replace, const char *exists_hint)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (replace ? O_TRUNC : O_EXCL), 0600);
	if (fd < 0 && errno == EEXIST)
		return cli_error("%s already exists; %s", file, exists_hint);
	if (fd < 0)
		return cli_error("cannot create %s: %s", file, strerror(errno));
	int err = 0;
	if (fchmod(fd, 0600) != 0 || write_all(fd, data, n) != 0 || fsync(fd) != 0)
		err = errno;
	if (close(fd) != 0 && !err)
		err = errno;
	if (err) {
		if (!replace)
			unlink(file); /* ours, and incomplete */
		return cli_error("cannot write %s: %s", file, strerror(err));
	}
	return CLI_OK;
}

int cli_session_begin(struct cli *c, const char *file, unsigned char pk[32], unsigned char **sk)
{
	if (!*file)
		return cli_usage_error(c, "--session-file needs a file");
	if (!(*sk = sodium_malloc(crypto_box_SECRETKEYBYTES)))
		return cli_error("out of memory");
	crypto_box_keypair(pk, *sk);
	sodium_bin2base64(c->session_pk, sizeof(c->session_pk), pk, 32, sodium_base64_VARIANT_ORIGINAL);
	return CLI_OK;
}

int cli_session_save(const char *file, const json_t *out, const unsigned char pk[32], const unsigned char *sk)
{
	unsigned char box[32 + crypto_box_SEALBYTES], session[32];
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL) + 1];
	const char *sealed = json_string_value(json_object_get(out, "session"));
	int rc;

	if (!sealed)
		return cli_error("the vault is unlocked but returned no session: it is not in strict mode");
	if (zk_b64_decode_exact(box, sizeof(box), sealed) != 0 || crypto_box_seal_open(session, box, sizeof(box), pk, sk))
		return cli_error("the vault is unlocked but its session does not open with this unlock's key");
	sodium_bin2base64(b64, sizeof(b64) - 1, session, sizeof(session), sodium_base64_VARIANT_ORIGINAL);
	strcat(b64, "\n");
	rc = cli_write_file(file, b64, strlen(b64), true, "");
	sodium_memzero(session, sizeof(session));
	sodium_memzero(b64, sizeof(b64));
	return rc;
}

int cli_print_json(const json_t *o)
{
	char *text = json_dumps(o, JSON_INDENT(2));
	if (!text)
		return cli_error("cannot encode JSON");
	int rc = cli_write_stdout(text, strlen(text));
	if (rc == CLI_OK)
		rc = cli_write_stdout("\n", 1);
	zk_wipe_str(text);
	return rc;
}

int cli_dispatch(const struct cli_spec *spec, int (*const fns[])(int, char *[]), int argc, char *argv[])
{
	struct cli c = { .spec = spec };
	if (argc < 2) {
		cli_print_help(spec, stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		cli_print_help(spec, stdout);
		return CLI_OK;
	}
	for (size_t i = 0; spec->subcommands[i]; i++) {
		const char *name = strrchr(spec->subcommands[i]->name, ' ');
		if (name && !strcmp(name + 1, argv[1]))
			return fns[i](argc - 1, argv + 1);
	}
	return cli_usage_error(&c, "'%s' is not a %s command", argv[1], spec->name);
}

int cli_parse_number(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;
	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (*s < '0' || *s > '9' || v > max / 10 || (v == max / 10 && d > max % 10))
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}
