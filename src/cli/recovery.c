/*
 * zkvault recovery status | phrase | hardware | social | rm | open-share: the single-holder ways back into a
 * vault (docs/RECOVERY.md), and what the recovery commands share (src/cli/recovery.h).
 */
#include "cli/recovery.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "lib/mem.h"
#include "lib/qr.h"
#include "lib/shamir.h"
#include "lib/term.h"

#define KEY_FILE_MAX 4096
#define SEALED_MAX 4096

/* ---- shared helpers ---- */

void cli_fingerprint(char out[CLI_FINGERPRINT_MAX], const unsigned char pk[32])
{
	unsigned char h[32];
	char hex[17];
	crypto_generichash(h, sizeof(h), pk, 32, NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, 8);
	snprintf(out, CLI_FINGERPRINT_MAX, "%.4s-%.4s-%.4s-%.4s", hex, hex + 4, hex + 8, hex + 12);
}

/* Leading and trailing ASCII whitespace off a NUL-terminated buffer; returns the first byte kept. */
static char *trim(char *s)
{
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

int cli_load_secret_key(const char *file, unsigned char **sk, unsigned char pk[32])
{
	struct stat st;
	char *text = NULL;
	size_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	*sk = NULL;
	if (fd < 0)
		return cli_error("cannot open the key file %s: %s", file, strerror(errno));
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		fprintf(stderr, "zkvault: warning: %s can be read by other users (chmod 600 %s)\n", file, file);
	int rc = zk_term_read_all(fd, KEY_FILE_MAX, &text, &n);
	close(fd);
	if (rc != 0)
		return cli_error("cannot read the key file %s", file);
	if (!(*sk = sodium_malloc(32))) {
		zk_wipe_free(text);
		return cli_error("out of memory");
	}
	rc = strlen(text) == n ? zk_b64_decode_exact(*sk, 32, trim(text)) : -1;
	zk_wipe_free(text);
	if (rc != 0) {
		sodium_free(*sk);
		*sk = NULL;
		return cli_error("%s is not a zkvault key file (one line: a 32-byte secret key in base64, from "
				 "'zkvault keygen')", file);
	}
	crypto_scalarmult_base(pk, *sk);
	return CLI_OK;
}

int cli_write_new_file(const char *file, const char *data, size_t n)
{
	return cli_write_file(file, data, n, false, "not overwriting it");
}

int cli_parse_holder(struct cli *c, const char *option, const char *arg, json_t *holders)
{
	const char *eq = strchr(arg, '=');
	unsigned char pk[32];
	size_t i;
	json_t *h;

	/* Split at the first '=': base64 ends with '=' padding, ids cannot hold one. */
	if (!eq || eq == arg || eq - arg > 128 || zk_b64_decode_exact(pk, sizeof(pk), eq + 1) != 0)
		return cli_usage_error(c, "--%s expects ID=PUBKEY: an id of 1 to 128 characters and the 32-byte "
					  "public key in base64 that 'zkvault keygen' prints, not '%s'", option, arg);
	json_array_foreach(holders, i, h) {
		const char *id = json_string_value(json_object_get(h, "id"));
		if (strlen(id) == (size_t)(eq - arg) && !memcmp(id, arg, (size_t)(eq - arg)))
			return cli_usage_error(c, "--%s: id '%s' is given twice", option, id);
	}
	json_t *o = json_pack("{s:s%,s:s}", "id", arg, (size_t)(eq - arg), "publicKey", eq + 1);
	if (!o)
		return cli_usage_error(c, "--%s: the id is not UTF-8 text", option);
	json_array_append_new(holders, o);
	return CLI_OK;
}

int cli_read_secret(struct cli *c, const char *prompt, const char *what, char **out, size_t *len)
{
	bool from_stdin = c->password_stdin || !isatty(STDIN_FILENO);
	int rc = from_stdin ? zk_term_read_line(STDIN_FILENO, out, len) : zk_term_read_hidden(prompt, out, len);
	if (rc == -2)
		return cli_error("the %s is longer than %d bytes", what, ZK_TERM_LINE_MAX);
	if (rc == -3)
		return cli_error("no %s given on standard input", what);
	if (rc != 0)
		return cli_error("cannot read the %s: %s", what, strerror(errno));
	if (*len == 0) {
		zk_wipe_free(*out);
		*out = NULL;
		return cli_error("the %s is empty", what);
	}
	return CLI_OK;
}

int cli_read_new_password(struct cli *c, char **password, size_t *len)
{
	int rc = cli_read_password(c, "New vault password: ", true, password, len);
	if (rc == CLI_OK && *len < 16) {
		zk_wipe_free(*password);
		rc = cli_error("the new password must be at least 16 characters");
	}
	if (rc != CLI_OK)
		*password = NULL; /* cli_read_password frees what it refuses */
	return rc;
}

int cli_confirm(struct cli *c, const char *question, const char *flag)
{
	char *answer = NULL;
	size_t n;
	if (!zk_term_available())
		return cli_usage_error(c, "no terminal to confirm on; add %s to go ahead", flag);
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return cli_error("cannot open the terminal: %s", strerror(errno));
	dprintf(fd, "%s\nType yes to continue: ", question);
	int rc = zk_term_read_line(fd, &answer, &n);
	close(fd);
	bool yes = rc == 0 && !strcmp(answer, "yes");
	if (rc == 0)
		zk_wipe_free(answer);
	return yes ? CLI_OK : cli_error("cancelled: nothing was changed");
}

const char *cli_wrapper_name(json_int_t type)
{
	static const char *const names[] = { "?", "password", "recovery phrase", "hardware key", "threshold unlock",
					     "social recovery" };
	return type > 0 && type < (json_int_t)(sizeof(names) / sizeof(names[0])) ? names[type] : "unknown method";
}

void cli_print_rekeyed(const json_t *answer)
{
	json_t *removed = json_object_get(answer, "removedWrappers"), *x;
	size_t i;
	if (json_array_size(removed)) {
		printf("Removed:");
		json_array_foreach(removed, i, x)
			printf("%s %s", i ? "," : "", cli_wrapper_name(json_integer_value(x)));
		printf(". Set up again what you still want (zkvault recovery ...).\n");
	} else {
		printf("No other way in was set up; nothing else was removed.\n");
	}
	printf("Every capability token stopped working (the token key changed): issue new ones.\n");
}

/* ---- recovery status ---- */

static const struct cli_spec status_spec = {
	.name = "recovery status",
	.brief = "which ways into the vault are set up (never their secrets)",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.summary = "Show which ways into the vault are set up: password, recovery phrase, hardware key,\n"
		   "social recovery (k of n contacts and their key fingerprints) and threshold unlock.\n"
		   "Never shows a secret; works locked or unlocked.",
};

static void print_holders(const json_t *set, const char *key)
{
	json_t *h;
	size_t i;
	json_array_foreach(json_object_get(set, key), i, h)
		printf("    %-24s share %-3lld fingerprint %s\n", cli_str(h, "id"),
		       (long long)json_integer_value(json_object_get(h, "x")), cli_str(h, "fingerprint"));
}

static int recovery_status(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL;
	int rc = cli_begin(&c, &status_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request(&c, "GET", "/recovery", NULL, &out);
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		json_t *social = json_object_get(out, "social"), *th = json_object_get(out, "threshold");
		printf("password:         %s\n", json_is_true(json_object_get(out, "password")) ? "enabled" :
			"disabled (threshold only)");
		printf("recovery phrase:  %s\n", json_is_true(json_object_get(out, "phrase")) ? "set up" : "not set up");
		printf("hardware key:     %s\n", json_is_true(json_object_get(out, "hardware")) ? "set up" : "not set up");
		if (json_is_object(social)) {
			printf("social recovery:  any %lld of %zu contacts (set %s)\n",
			       (long long)json_integer_value(json_object_get(social, "threshold")),
			       json_array_size(json_object_get(social, "contacts")), cli_str(social, "setId"));
			print_holders(social, "contacts");
		} else {
			printf("social recovery:  not set up\n");
		}
		if (json_is_object(th)) {
			printf("threshold unlock: any %lld of %zu admins%s (set %s)\n",
			       (long long)json_integer_value(json_object_get(th, "k")),
			       json_array_size(json_object_get(th, "admins")),
			       json_is_true(json_object_get(th, "thresholdOnly")) ? ", the only way in" : "",
			       cli_str(th, "setId"));
			print_holders(th, "admins");
		} else {
			printf("threshold unlock: not set up\n");
		}
	}
	json_decref(out);
	cli_end(&c);
	return rc;
}

/* ---- recovery phrase ---- */

static const struct cli_spec phrase_spec = {
	.name = "recovery phrase",
	.brief = "make a 12-word recovery phrase and print it once",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.summary = "Make a new recovery phrase (12 BIP39 English words, 128 random bits) and print it, once:\n"
		   "the vault keeps only what the phrase opens. Write it down and keep it offline; with it\n"
		   "anyone can set a new password ('zkvault recover --phrase'). A previous phrase stops\n"
		   "working. On a terminal the words are numbered; otherwise they are one line. Needs the\n"
		   "vault unlocked.",
	.examples = "  zkvault recovery phrase\n",
};

/* The words numbered, three rows of four, in wiped memory. */
static char *phrase_grid(const char *phrase)
{
	size_t cap = strlen(phrase) * 2 + 256, used = 0, i = 0;
	char *out = zk_wipe_malloc(cap);
	const char *p = phrase;
	if (!out)
		return NULL;
	while (*p && used < cap) {
		size_t n = strcspn(p, " ");
		i++;
		if (i % 4 == 0 || !p[n])
			used += (size_t)snprintf(out + used, cap - used, "%s%2zu. %.*s", i % 4 == 1 ? "  " : "", i, (int)n,
						 p);
		else
			used += (size_t)snprintf(out + used, cap - used, "%s%2zu. %-10.*s", i % 4 == 1 ? "  " : "", i,
						 (int)n, p);
		if (i % 4 == 0 && used < cap)
			used += (size_t)snprintf(out + used, cap - used, "\n");
		p += n;
		p += strspn(p, " ");
	}
	if (i % 4 && used < cap)
		snprintf(out + used, cap - used, "\n");
	return out;
}

static int recovery_phrase(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL;
	int rc = cli_begin(&c, &phrase_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_request(&c, "POST", "/recovery/phrase", NULL, &out);
	json_t *phrase = json_object_get(out, "phrase");
	if (rc == CLI_OK && !json_is_string(phrase))
		rc = cli_error("the vault's answer has no phrase");
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		fprintf(stderr, "Your recovery phrase, shown only this once. Write the %lld words down in order and keep "
				"them offline:\nanyone who has them can set a new password and open the vault. A "
				"previous phrase no longer works.\n\n",
			(long long)json_integer_value(json_object_get(out, "words")));
		if (isatty(STDOUT_FILENO)) {
			char *grid = phrase_grid(json_string_value(phrase));
			rc = grid ? cli_write_stdout(grid, strlen(grid)) : cli_error("out of memory");
			zk_wipe_str(grid);
		} else {
			rc = cli_write_stdout(json_string_value(phrase), json_string_length(phrase));
			if (rc == CLI_OK)
				rc = cli_write_stdout("\n", 1);
		}
	}
	json_decref(out);
	cli_end(&c);
	return rc;
}

/* ---- recovery hardware ---- */

static const struct cli_option hardware_options[] = {
	{ "qr", 0, NULL, "also show the key as a QR code (the default when standard output is a terminal)", NULL },
	{ "no-qr", 0, NULL, "never show the QR code", NULL },
	{ 0 },
};

static const struct cli_spec hardware_spec = {
	.name = "recovery hardware",
	.brief = "make a hardware backup key and print it (and its QR code)",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = hardware_options,
	.summary = "Make a new hardware backup key (256 bits, 52 base32 characters in groups of four) and\n"
		   "print it once, with a QR code on a terminal (--qr, --no-qr). Store it offline: print it,\n"
		   "scan the code into a password manager, or type it into a security key's static-password\n"
		   "slot. It unlocks the vault ('zkvault unlock --hardware-key') or recovers it with a new\n"
		   "password ('zkvault recover --hardware-key'). A previous key stops working. Needs the\n"
		   "vault unlocked.",
	.examples = "  zkvault recovery hardware\n"
		    "  zkvault recovery hardware --no-qr | lpr\n",
};

/* The QR code through a stdio stream over wiped memory, so no stdio buffer keeps a copy of the key. */
static int print_qr(const char *text)
{
	int side = zk_qr_modules(text);
	if (side < 0)
		return cli_error("cannot encode the key as a QR code");
	size_t cap = ((size_t)side * 3 + 1) * (((size_t)side + 1) / 2) + 1;
	char *buf = zk_wipe_malloc(cap);
	if (!buf)
		return cli_error("out of memory");
	memset(buf, 0, cap);
	FILE *f = fmemopen(buf, cap, "w");
	int rc = f ? CLI_OK : CLI_ERROR;
	if (f) {
		setvbuf(f, NULL, _IONBF, 0);
		if (zk_qr_render(f, text) != 0)
			rc = CLI_ERROR;
		if (fclose(f) != 0)
			rc = CLI_ERROR;
	}
	if (rc == CLI_OK)
		rc = cli_write_stdout(buf, strnlen(buf, cap));
	else
		cli_error("cannot render the QR code");
	zk_wipe_free(buf);
	return rc;
}

static int recovery_hardware(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL;
	int rc = cli_begin(&c, &hardware_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	bool qr = cli_opt(&c, "qr") ? true : cli_opt(&c, "no-qr") ? false : isatty(STDOUT_FILENO);
	if (cli_opt(&c, "qr") && cli_opt(&c, "no-qr")) {
		rc = cli_usage_error(&c, "--qr and --no-qr exclude each other");
		goto out;
	}
	rc = cli_request(&c, "POST", "/recovery/hardware", NULL, &out);
	json_t *key = json_object_get(out, "hardwareKey");
	if (rc == CLI_OK && !json_is_string(key))
		rc = cli_error("the vault's answer has no hardware key");
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		fprintf(stderr, "Your hardware backup key, shown only this once. Store it offline: anyone who has it can "
				"unlock the vault.\nA previous hardware key no longer works.\n\n");
		rc = cli_write_stdout(json_string_value(key), json_string_length(key));
		if (rc == CLI_OK)
			rc = cli_write_stdout("\n", 1);
		if (rc == CLI_OK && qr) {
			rc = cli_write_stdout("\n", 1);
			if (rc == CLI_OK)
				rc = print_qr(json_string_value(key));
		}
	}
out:
	json_decref(out);
	cli_end(&c);
	return rc;
}

/* ---- recovery social ---- */

static const struct cli_option social_options[] = {
	{ "threshold", 'k', "K", "how many contacts it takes to recover (at least 2; required)", NULL },
	{ "contact", 'c', "ID=PUBKEY", "a contact and their X25519 public key from 'zkvault keygen' (repeatable: "
				       "2 to 64)", NULL },
	{ "out", 0, "DIR", "also write each contact's sealed share to DIR/ID.sealed (created 0700)", NULL },
	{ 0 },
};

static const struct cli_spec social_spec = {
	.name = "recovery social",
	.brief = "split a recovery key among contacts, k of n",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.options = social_options,
	.summary = "Set up social recovery: the vault makes a new recovery key, splits it so that any K of the\n"
		   "contacts can rebuild it (Shamir), and seals each share to that contact's public key. Prints\n"
		   "each contact's sealed share (ciphertext: only their secret key opens it) and the\n"
		   "fingerprint of their key, for them to check against 'zkvault keygen'. Give each contact\n"
		   "their box; to recover, K of them run 'zkvault recovery open-share' and send you the\n"
		   "zks1-... text for 'zkvault recover --shares'. A new split makes the old shares useless.\n"
		   "Needs the vault unlocked.",
	.examples = "  zkvault recovery social -k 2 --contact alice=Hx3...= --contact bob=q9T...= \\\n"
		    "      --contact carol=0aZ...= --out shares/\n",
};

/* Ids become file names under --out: letters, digits and . _ - @ +, not starting with '.'. */
static bool file_safe(const char *id)
{
	if (!*id || *id == '.')
		return false;
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-@+", *p))
			return false;
	return true;
}

static int social_body(struct cli *c, json_t **body)
{
	const char *k = cli_opt(c, "threshold"), *v, *dir = cli_opt(c, "out");
	unsigned long long threshold;
	json_t *contacts = json_array(), *h;
	size_t pos = 0, i;
	int rc = CLI_OK;

	if (!k || cli_parse_number(k, 255, &threshold) != 0 || threshold < 2)
		rc = cli_usage_error(c, "--threshold K (2 or more) is required");
	while (rc == CLI_OK && (v = cli_opt_next(c, "contact", &pos)))
		rc = cli_parse_holder(c, "contact", v, contacts);
	if (rc == CLI_OK && json_array_size(contacts) < 2)
		rc = cli_usage_error(c, "give at least two --contact ID=PUBKEY");
	if (rc == CLI_OK && threshold > json_array_size(contacts))
		rc = cli_usage_error(c, "--threshold %llu is more than the %zu contacts", threshold,
				     json_array_size(contacts));
	json_array_foreach(contacts, i, h)
		if (rc == CLI_OK && dir && !file_safe(cli_str(h, "id")))
			rc = cli_usage_error(c, "with --out, contact ids are file names: letters, digits and . _ - @ + "
						"('%s' is not)", cli_str(h, "id"));
	if (rc == CLI_OK && dir && mkdir(dir, 0700) != 0 && errno != EEXIST)
		rc = cli_error("cannot create %s: %s", dir, strerror(errno));
	if (rc == CLI_OK)
		*body = json_pack("{sIsO}", "threshold", (json_int_t)threshold, "contacts", contacts);
	json_decref(contacts);
	return rc;
}

static int write_sealed_files(const char *dir, const json_t *contacts, bool quiet)
{
	json_t *h;
	size_t i;
	int rc = CLI_OK;
	json_array_foreach(contacts, i, h) {
		char *path = NULL, *text = NULL;
		if (asprintf(&path, "%s/%s.sealed", dir, cli_str(h, "id")) < 0 ||
		    asprintf(&text, "%s\n", cli_str(h, "sealedShare")) < 0) {
			free(path);
			return cli_error("out of memory");
		}
		int r = cli_write_new_file(path, text, strlen(text));
		if (r == CLI_OK && !quiet)
			printf("    -> %s\n", path);
		else
			rc = r;
		free(path);
		free(text);
	}
	return rc;
}

static int recovery_social(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *body = NULL, *h;
	size_t i;
	int rc = cli_begin(&c, &social_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	const char *dir = cli_opt(&c, "out");
	if ((rc = social_body(&c, &body)) == CLI_OK)
		rc = cli_request(&c, "POST", "/recovery/social", body, &out);
	json_t *contacts = json_object_get(out, "contacts");
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
		if (rc == CLI_OK && dir)
			rc = write_sealed_files(dir, contacts, true);
	} else if (rc == CLI_OK) {
		printf("Social recovery: any %lld of these %zu contacts can recover the vault (set %s).\n"
		       "Give each their sealed share; each checks the fingerprint against their own key.\n",
		       (long long)json_integer_value(json_object_get(out, "threshold")), json_array_size(contacts),
		       cli_str(out, "setId"));
		json_array_foreach(contacts, i, h) {
			printf("\n  %s  (share %lld, fingerprint %s)\n", cli_str(h, "id"),
			       (long long)json_integer_value(json_object_get(h, "x")), cli_str(h, "fingerprint"));
			if (!dir)
				printf("    %s\n", cli_str(h, "sealedShare"));
			else if (rc == CLI_OK) {
				json_t *one = json_array();
				json_array_append(one, h);
				rc = write_sealed_files(dir, one, false);
				json_decref(one);
			}
		}
	}
	json_decref(body);
	json_decref(out);
	cli_end(&c);
	return rc;
}

/* ---- recovery rm ---- */

static const struct cli_spec rm_spec = {
	.name = "recovery rm",
	.brief = "remove the recovery phrase, hardware key or social recovery",
	.operands = "phrase|hardware|social",
	.operand_choices = "phrase hardware social",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_NET | CLI_MGMT | CLI_JSON,
	.summary = "Remove one recovery method: what it opened is deleted, so the phrase, key or shares stop\n"
		   "working at once (audited). Exits 4 when it was not set up. Needs the vault unlocked.",
	.examples = "  zkvault recovery rm hardware\n",
};

static int recovery_rm(int argc, char *argv[])
{
	static const char *const what[][2] = { { "phrase", "recovery phrase" }, { "hardware", "hardware key" },
					       { "social", "social recovery" } };
	struct cli c;
	json_t *out = NULL;
	char path[32];
	const char *name = NULL;
	int rc = cli_begin(&c, &rm_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++)
		if (!strcmp(c.args[0], what[i][0]))
			name = what[i][1];
	if (!name) {
		rc = cli_usage_error(&c, "expects phrase, hardware or social, not '%s'", c.args[0]);
		goto out;
	}
	snprintf(path, sizeof(path), "/recovery/%s", c.args[0]);
	rc = cli_request(&c, "DELETE", path, NULL, &out);
	if (rc == CLI_OK && c.json)
		rc = cli_print_json(out);
	else if (rc == CLI_OK)
		printf("Removed the %s: it no longer opens the vault.\n", name);
out:
	json_decref(out);
	cli_end(&c);
	return rc;
}

/* ---- recovery open-share ---- */

static const struct cli_option open_options[] = {
	{ "key", 0, "FILE", "your secret key file, from 'zkvault keygen' (required)", NULL },
	{ "output", 'o', "FILE", "write the share to FILE (created with mode 0600) instead of standard output", NULL },
	{ 0 },
};

static const struct cli_spec open_share_spec = {
	.name = "recovery open-share",
	.brief = "open a sealed share with your key and print the zks1-... text (offline)",
	.operands = "SEALED|@FILE",
	.min_operands = 1,
	.max_operands = 1,
	.flags = CLI_JSON,
	.options = open_options,
	.summary = "For a recovery contact or threshold admin, offline: open a sealed share (the base64 box\n"
		   "'zkvault recovery social' printed, or @FILE holding it) with your secret key and print the\n"
		   "share, zks1-..., checked for typos and truncation. The share is a secret: send it only to\n"
		   "the vault's owner, over a channel you trust, when they ask to recover.",
	.examples = "  zkvault recovery open-share --key alice.key @shares/alice.sealed\n"
		    "  zkvault recovery open-share --key alice.key 'pZk3...==' -o share.txt\n",
};

static int read_sealed(const char *arg, unsigned char **box, size_t *len)
{
	char *text = NULL;
	size_t n;
	int rc;
	if (arg[0] != '@')
		rc = zk_b64_decode(box, len, arg);
	else {
		int fd = open(arg + 1, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return cli_error("cannot open %s: %s", arg + 1, strerror(errno));
		rc = zk_term_read_all(fd, SEALED_MAX * 2, &text, &n);
		close(fd);
		if (rc != 0)
			return cli_error("cannot read %s", arg + 1);
		rc = zk_b64_decode(box, len, trim(text));
		zk_wipe_free(text);
	}
	if (rc != 0 || *len <= crypto_box_SEALBYTES || *len > SEALED_MAX) {
		if (rc == 0)
			free(*box);
		*box = NULL;
		return cli_error("%s is not a sealed share (base64 of a sealed box)", arg[0] == '@' ? arg + 1 : "SEALED");
	}
	return CLI_OK;
}

static int recovery_open_share(int argc, char *argv[])
{
	struct cli c;
	unsigned char *box = NULL, *sk = NULL, pk[32], *bin = NULL;
	char *text = NULL, fp[CLI_FINGERPRINT_MAX], set[33];
	size_t len = 0, size;
	enum zk_share_error why = ZK_SHARE_MALFORMED;
	struct zk_share_info info;
	int rc = cli_begin(&c, &open_share_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	const char *key = cli_opt(&c, "key"), *file = cli_opt(&c, "output");
	if (!key) {
		rc = cli_usage_error(&c, "--key FILE is required");
		goto out;
	}
	if ((rc = read_sealed(c.args[0], &box, &len)) != CLI_OK || (rc = cli_load_secret_key(key, &sk, pk)) != CLI_OK)
		goto out;
	text = zk_wipe_malloc(len - crypto_box_SEALBYTES + 2);
	bin = sodium_malloc(ZK_SHARE_MAX);
	if (!text || !bin) {
		rc = cli_error("out of memory");
		goto out;
	}
	cli_fingerprint(fp, pk);
	if (crypto_box_seal_open((unsigned char *)text, box, len, pk, sk) != 0) {
		rc = cli_error("this share does not open with the key in %s (fingerprint %s): it was sealed to another "
			       "key, or damaged", key, fp);
		goto out;
	}
	len -= crypto_box_SEALBYTES;
	text[len] = '\0';
	if (strlen(text) != len || zk_share_from_text(bin, &size, text, &why) != 0 ||
	    zk_share_inspect(&info, bin, size, &why) != 0) {
		rc = cli_error("the sealed box does not hold a valid share: %s", zk_share_strerror(why));
		goto out;
	}
	sodium_bin2hex(set, sizeof(set), info.set_id, sizeof(info.set_id));
	if (c.json) {
		json_t *o = json_pack("{sssIsIsIssss}", "share", text, "x", (json_int_t)info.x, "k", (json_int_t)info.k,
				      "n", (json_int_t)info.n, "setId", set, "fingerprint", fp);
		rc = o ? cli_print_json(o) : cli_error("out of memory");
		json_decref(o);
	} else {
		text[len] = '\n';
		rc = file ? cli_write_new_file(file, text, len + 1) : cli_write_stdout(text, len + 1);
		text[len] = '\0';
		if (rc == CLI_OK)
			fprintf(stderr, "Share %u of %u (any %u recover; set %.8s...) opened with key %s%s%s.\n"
					"It is a secret: send it only to the vault's owner, over a channel you trust.\n",
				info.x, info.n, info.k, set, fp, file ? ", written to " : "", file ? file : "");
	}
out:
	free(box);
	sodium_free(sk);
	sodium_free(bin);
	zk_wipe_free(text);
	sodium_memzero(&info, sizeof(info));
	cli_end(&c);
	return rc;
}

static const struct cli_spec *const recovery_subcommands[] = { &status_spec, &phrase_spec, &hardware_spec,
								&social_spec, &rm_spec, &open_share_spec, NULL };

const struct cli_spec cli_recovery_spec = {
	.name = "recovery",
	.operands = "",
	.summary = "Set up, list and remove the ways back into a vault when the password is lost: a recovery\n"
		   "phrase, a hardware backup key, social recovery among contacts (docs/RECOVERY.md). Use them\n"
		   "with 'zkvault recover'; 'zkvault keygen' makes a contact's key pair.",
	.subcommands = recovery_subcommands,
};

int cli_recovery(int argc, char *argv[])
{
	static int (*const fns[])(int, char *[]) = { recovery_status, recovery_phrase, recovery_hardware,
						      recovery_social, recovery_rm, recovery_open_share };
	return cli_dispatch(&cli_recovery_spec, fns, argc, argv);
}
