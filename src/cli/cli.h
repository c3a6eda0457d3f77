/*
 * What every client subcommand shares: its declarative spec (options, operands, help text; the same table
 * feeds getopt, --help and the bash completion), credentials, the request to vaultd and the exit codes.
 */
#ifndef ZK_CLI_H
#define ZK_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lib/client.h"

enum cli_exit {
	CLI_OK = 0,
	CLI_ERROR = 1,
	CLI_USAGE = 2,
	CLI_LOCKED = 3,    /* HTTP 423 */
	CLI_NOT_FOUND = 4, /* HTTP 404 */
	CLI_DENIED = 5,    /* HTTP 401, 403 */
	CLI_CONTINUE = -1, /* cli_begin: go on with the command */
};

#define CLI_EXIT_CODES "Exit codes: 0 ok, 1 error, 2 usage, 3 vault locked, 4 not found, 5 denied (401/403)."
#define CLI_DEFAULT_ADDR "http://127.0.0.1:18790"

/* The shared options a command takes. */
enum cli_flags {
	CLI_NET = 1 << 0,      /* --addr, --ca-file */
	CLI_MGMT = 1 << 1,     /* management token (X-Auth-Token) */
	CLI_CAP = 1 << 2,      /* capability token (X-Capability-Token; read by the command itself without CLI_NET) */
	CLI_PASSWORD = 1 << 3, /* --password-stdin */
	CLI_JSON = 1 << 4,     /* --json */
	CLI_IN_ORDER = 1 << 5, /* options end at the first operand: what follows belongs to another program */
};

struct cli_option {
	const char *name;    /* long name, without "--" */
	char short_name;     /* or 0 */
	const char *arg;     /* placeholder of the value ("FILE" completes file names), NULL for a flag */
	const char *help;
	const char *choices; /* values offered by completion, space-separated, or NULL */
};

struct cli_spec {
	const char *name;     /* as typed after "zkvault": "get", "token issue" */
	const char *operands; /* usage of the operands: "NAME", "[--] COMMAND [ARG]..."; "FILE" completes files */
	const char *operand_choices; /* values offered by completion for the operand, or NULL */
	int min_operands;
	int max_operands; /* -1: any number */
	unsigned flags;
	const char *brief;                         /* one line, for the list of a command's subcommands */
	const char *summary;                       /* what it does, a few lines */
	const struct cli_option *options;          /* ends with { 0 }; may be NULL */
	const struct cli_spec *const *subcommands; /* ends with NULL; for "token" */
	const char *examples;                      /* may be NULL */
};

struct cli_value {
	const char *name;
	const char *value; /* "" for a flag */
};

struct cli {
	const struct cli_spec *spec;
	char **args; /* operands */
	int nargs;
	struct cli_value *values; /* the command's own options, in the order given */
	size_t nvalues;
	bool json;
	bool password_stdin;
	struct zk_client client;
	long status;    /* HTTP status of the last answer */
	char error[512]; /* its error message */
	char code[32];   /* its error code ("ROLLBACK"), or "" */
	/* unlock --session-file: base64 of the X25519 key the strict-mode session is to be sealed to, or "".
	   The unlock requests (password, sealed, hardware key) send it as sessionPublicKey. */
	char session_pk[48];
};

/*
 * Parses argv, answers --help, resolves the address and credentials and opens the client. Returns
 * CLI_CONTINUE, or the exit code to return at once (0 after --help, 2 on a usage error, 1 on failure).
 */
int cli_begin(struct cli *c, const struct cli_spec *spec, int argc, char *argv[]);
void cli_end(struct cli *c);

/* The last value of option name, "" for a flag that is set, NULL if absent. */
const char *cli_opt(const struct cli *c, const char *name);
/* Iterates over every value of a repeatable option: start with *pos = 0. */
const char *cli_opt_next(const struct cli *c, const char *name, size_t *pos);

/*
 * Calls vaultd. On success returns 0 with the answer in *out (an object; the caller decrefs). Otherwise
 * prints "zkvault: <error>" and returns the exit code for it (1, 3, 4 or 5).
 */
int cli_request(struct cli *c, const char *method, const char *path, const json_t *body, json_t **out);
/* prefix + percent-encoded segment + suffix; free with free(). */
char *cli_path(struct cli *c, const char *prefix, const char *segment, const char *suffix);

/* Reads the password from the terminal (twice if confirm) or one line of stdin (--password-stdin). */
int cli_read_password(struct cli *c, const char *prompt, bool confirm, char **password, size_t *len);

/* Reads the password and POSTs {"password", "userId"?} to path. */
int cli_send_password(struct cli *c, const char *path, const char *prompt, bool confirm, const char *user,
		      json_t **out);

/* The string member key of o, or "" (never NULL, for printf). */
const char *cli_str(const json_t *o, const char *key);

/* "1h30m", "45s". */
void cli_duration(char *buf, size_t n, long long seconds);

int cli_usage_error(const struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes to stdout without stdio's buffer (which would keep a copy of a secret). */
int cli_write_stdout(const char *p, size_t n);
/*
 * Writes data to file with mode 0600, never through a symbolic link, and fsyncs it. An existing file is an
 * error ("FILE already exists; " exists_hint) unless replace; a file this call created is removed if the
 * write fails.
 */
int cli_write_file(const char *file, const char *data, size_t n, bool replace, const char *exists_hint);
/*
 * --session-file FILE, for a vault in strict mode: cli_session_begin makes a key pair for this unlock (sk in
 * guarded memory, free it with sodium_free) and sets c->session_pk; after the unlock, cli_session_save opens
 * the "session" the vault sealed to it and stores it base64 in FILE (0600). Without a session in out it fails
 * ("not in strict mode").
 */
int cli_session_begin(struct cli *c, const char *file, unsigned char pk[32], unsigned char **sk);
int cli_session_save(const char *file, const json_t *out, const unsigned char pk[32], const unsigned char *sk);
/* Pretty-prints o on stdout (through wiped memory). */
int cli_print_json(const json_t *o);

/* Runs the subcommand of a command with subcommands ("token issue"), or prints its help. */
int cli_dispatch(const struct cli_spec *spec, int (*const fns[])(int, char *[]), int argc, char *argv[]);

void cli_print_help(const struct cli_spec *spec, FILE *f);
/* The shared options that apply to spec, for help and completion; returns how many. */
#define CLI_MAX_COMMON 10
size_t cli_common_options(const struct cli_spec *spec, const struct cli_option **out);

/*
 * The capability token (--token-file, ZKVAULT_TOKEN, ZKVAULT_TOKEN_FILE) or, when management, the management
 * token (--auth-token-file, ZKVAULT_AUTH_TOKEN, ZKVAULT_AUTH_TOKEN_FILE), in wiped memory. Returns an exit code.
 */
int cli_load_token(struct cli *c, bool management, char **token);

/* Parses a whole non-negative decimal number; -1 if s is not one or exceeds max. */
int cli_parse_number(const char *s, unsigned long long max, unsigned long long *out);

/* Restores what cli_begin changed for this process before exec'ing another program. */
void cli_prepare_exec(void);

#endif
