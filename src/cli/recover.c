/*
 * zkvault recover: back into a vault whose password is lost, with the recovery phrase, the hardware key or k
 * contact shares, setting a new password; and the hardware-key path of 'zkvault unlock --hardware-key'.
 * Every secret is read from the terminal (echo off) or standard input, checked here first, kept in wiped memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/recovery.h"
#include "lib/base32.h"
#include "lib/bip39.h"
#include "lib/mem.h"
#include "lib/shamir.h"
#include "lib/term.h"

#define SHARE_FILE_MAX (64u << 10)

static const struct cli_option options[] = {
	{ "phrase", 0, NULL, "recover with the 12-word recovery phrase", NULL },
	{ "hardware-key", 0, NULL, "recover with the hardware backup key", NULL },
	{ "shares", 0, NULL, "recover with contact shares (zks1-...), one per line, ended by an empty line", NULL },
	{ "share-file", 0, "FILE", "read shares from FILE, one per line (repeatable)", NULL },
	{ "share", 0, "TEXT", "a share on the command line (repeatable; other users can read it in ps and "
			      "/proc: prefer --share-file or standard input)", NULL },
	{ 0 },
};

const struct cli_spec cli_recover_spec = {
	.name = "recover",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_PASSWORD | CLI_JSON,
	.options = options,
	.summary = "Recover a vault whose password is lost, with one of: --phrase (the 12 words), --hardware-key,\n"
		   "or contact shares (--shares, --share-file, --share). Sets a new password (asked twice, at\n"
		   "least 16 characters) and unlocks the vault; the phrase, key or shares keep working.\n"
		   "The phrase or key is read from the terminal with echo off, or as the first line of standard\n"
		   "input when it is not a terminal or with --password-stdin (the new password is then the\n"
		   "second line). Shares are read one per line until an empty line (then the password line).\n"
		   "Everything is checked here before it is sent: a mistyped phrase word exits 2, naming the\n"
		   "word and the closest list word on the terminal only.",
	.examples = "  zkvault recover --phrase\n"
		    "  zkvault recover --hardware-key --password-stdin < key-and-new-password.txt\n"
		    "  zkvault recover --share-file alice.share --share-file bob.share\n",
};

/* "zkvault: msg\n" straight to fd: no stdio buffer keeps a copy. */
static void say_secret(int fd, const char *msg)
{
	const char *parts[] = { "zkvault: ", msg, "\n" };
	for (size_t i = 0; i < 3; i++)
		for (size_t n = strlen(parts[i]), off = 0; off < n;) {
			ssize_t w = write(fd, parts[i] + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return;
			off += (size_t)w;
		}
}

/*
 * A mistyped word: the message quotes it and suggests the intended word, both part of the phrase. They go to the
 * person at the terminal only: to stderr when it is a terminal, else to /dev/tty, and stderr (maybe a log) gets
 * only the position.
 */
static int bip39_refused(struct zk_bip39_error *err)
{
	if (err->code == ZK_BIP39_UNKNOWN_WORD) {
		int fd;
		if (isatty(STDERR_FILENO)) {
			say_secret(STDERR_FILENO, err->msg);
		} else if ((fd = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC)) >= 0) {
			say_secret(fd, err->msg);
			close(fd);
			fprintf(stderr, "zkvault: word %zu of the recovery phrase is not in the BIP39 English list (the "
					"terminal shows it, with a suggestion)\n", err->word_index);
		} else {
			fprintf(stderr, "zkvault: word %zu of the recovery phrase is not in the BIP39 English list (run "
					"on a terminal to see the word and a suggestion)\n", err->word_index);
		}
	} else if (err->code == ZK_BIP39_CHECKSUM) {
		fprintf(stderr, "zkvault: the recovery phrase's checksum does not match: a word is wrong or out of "
				"order\n");
	} else {
		fprintf(stderr, "zkvault: %s\n", err->msg); /* empty, or a word count: no word is quoted */
	}
	sodium_memzero(err, sizeof(*err));
	return CLI_USAGE;
}

static int read_phrase(struct cli *c, json_t *body)
{
	struct zk_bip39_error err;
	unsigned char entropy[ZK_BIP39_ENTROPY_MAX];
	size_t elen = 16, len;
	char *phrase;
	int rc = cli_read_secret(c, "Recovery phrase (12 words): ", "recovery phrase", &phrase, &len);

	if (rc != CLI_OK)
		return rc;
	if (zk_bip39_to_entropy(entropy, &elen, phrase, &err) != 0) {
		zk_wipe_free(phrase);
		return bip39_refused(&err);
	}
	sodium_memzero(entropy, sizeof(entropy));
	json_t *s = json_stringn(phrase, len);
	zk_wipe_free(phrase);
	if (!s)
		return cli_error("out of memory");
	json_object_set_new(body, "phrase", s);
	return CLI_OK;
}

/* The key, checked and sent in its canonical form (upper case, dashes). */
static int read_hardware_key(struct cli *c, json_t *body)
{
	char *text, canonical[ZK_HWKEY_TEXT_MAX];
	size_t len;
	enum zk_hwkey_error why = ZK_HWKEY_INTERNAL;
	unsigned char *key = sodium_malloc(ZK_HWKEY_BYTES);
	int rc = key ? cli_read_secret(c, "Hardware key: ", "hardware key", &text, &len) : cli_error("out of memory");

	if (rc != CLI_OK) {
		sodium_free(key);
		return rc;
	}
	if (zk_hwkey_decode(key, text, &why) != 0 || zk_hwkey_encode(canonical, key) != 0) {
		zk_wipe_free(text);
		sodium_free(key);
		fprintf(stderr, "zkvault: this is not a hardware key: %s\n", zk_hwkey_strerror(why));
		return CLI_USAGE;
	}
	zk_wipe_free(text);
	sodium_free(key);
	json_object_set_new(body, "hardwareKey", json_string(canonical));
	sodium_memzero(canonical, sizeof(canonical));
	return CLI_OK;
}

struct shares {
	unsigned char (*rows)[ZK_SHARE_MAX]; /* sodium_malloc'd, ZK_SHAMIR_MAX_SHARES rows */
	struct zk_share_info info[ZK_SHAMIR_MAX_SHARES];
	size_t n;
	json_t *texts;
};

/* One share's text: checked on its own (format, check), then against the ones before (same set, new x). */
static int add_share(struct shares *s, const char *text, const char *where)
{
	enum zk_share_error why;
	size_t size;
	if (s->n == ZK_SHAMIR_MAX_SHARES)
		return cli_error("more than %d shares", ZK_SHAMIR_MAX_SHARES);
	if (zk_share_from_text(s->rows[s->n], &size, text, &why) != 0 ||
	    zk_share_inspect(&s->info[s->n], s->rows[s->n], size, &why) != 0) {
		fprintf(stderr, "zkvault: %s: %s\n", where, zk_share_strerror(why));
		return CLI_USAGE;
	}
	const struct zk_share_info *a = &s->info[0], *b = &s->info[s->n];
	if (s->n && (memcmp(a->set_id, b->set_id, sizeof(a->set_id)) || a->k != b->k || a->n != b->n)) {
		fprintf(stderr, "zkvault: %s: %s (not the set of the first share)\n", where,
			zk_share_strerror(ZK_SHARE_FOREIGN_SET));
		return CLI_USAGE;
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->info[i].x == b->x) {
			fprintf(stderr, "zkvault: %s: share %u was given already\n", where, b->x);
			return CLI_USAGE;
		}
	json_t *t = json_string(text);
	if (!t)
		return cli_error("%s: not a share", where);
	json_array_append_new(s->texts, t);
	s->n++;
	return CLI_OK;
}

/* Every non-empty line of buf is a share. */
static int add_share_lines(struct shares *s, char *buf, const char *file)
{
	char where[300];
	size_t lineno = 0;
	int rc = CLI_OK;
	for (char *line = buf, *nl; line && rc == CLI_OK; line = nl ? nl + 1 : NULL) {
		if ((nl = strchr(line, '\n')))
			*nl = '\0';
		lineno++;
		if (!line[strspn(line, " \t\r")])
			continue;
		snprintf(where, sizeof(where), "%s, line %zu", file, lineno);
		rc = add_share(s, line, where);
	}
	return rc;
}

static int read_share_file(struct shares *s, const char *file)
{
	char *buf;
	size_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cli_error("cannot open %s: %s", file, strerror(errno));
	int rc = zk_term_read_all(fd, SHARE_FILE_MAX, &buf, &n);
	close(fd);
	if (rc != 0)
		return cli_error("cannot read %s", file);
	size_t before = s->n;
	rc = add_share_lines(s, buf, file);
	zk_wipe_free(buf);
	if (rc == CLI_OK && s->n == before)
		rc = cli_error("%s holds no share", file);
	return rc;
}

/* Shares one per line from standard input or the terminal, until an empty line (or the end of input). */
static int read_share_lines(struct cli *c, struct shares *s)
{
	bool from_stdin = c->password_stdin || !isatty(STDIN_FILENO);
	char prompt[64], where[64], *line;
	size_t len;
	for (size_t i = 1;; i++) {
		snprintf(prompt, sizeof(prompt), "Share %zu (an empty line when done): ", i);
		snprintf(where, sizeof(where), "share %zu", i);
		int r = from_stdin ? zk_term_read_line(STDIN_FILENO, &line, &len) : zk_term_read_hidden(prompt, &line, &len);
		if (r == -3)
			return CLI_OK;
		if (r == -2)
			return cli_error("%s is longer than %d bytes", where, ZK_TERM_LINE_MAX);
		if (r != 0)
			return cli_error("cannot read the shares: %s", strerror(errno));
		if (len == 0) {
			zk_wipe_free(line);
			return CLI_OK;
		}
		int rc = add_share(s, line, where);
		zk_wipe_free(line);
		if (rc != CLI_OK)
			return rc;
	}
}

static int read_shares(struct cli *c, json_t *body)
{
	struct shares *s = sodium_malloc(sizeof(*s));
	const char *v;
	size_t pos = 0;
	int rc = CLI_OK;

	if (!s)
		return cli_error("out of memory");
	memset(s, 0, sizeof(*s));
	s->texts = json_array();
	if (!(s->rows = sodium_malloc(ZK_SHAMIR_MAX_SHARES * sizeof(*s->rows)))) {
		rc = cli_error("out of memory");
		goto out;
	}
	while (rc == CLI_OK && (v = cli_opt_next(c, "share", &pos))) {
		char where[32];
		snprintf(where, sizeof(where), "--share %zu", s->n + 1);
		rc = add_share(s, v, where);
	}
	for (pos = 0; rc == CLI_OK && (v = cli_opt_next(c, "share-file", &pos));)
		rc = read_share_file(s, v);
	if (rc == CLI_OK && cli_opt(c, "shares"))
		rc = read_share_lines(c, s);
	if (rc == CLI_OK && s->n == 0)
		rc = cli_error("no share given");
	if (rc == CLI_OK && s->n < s->info[0].k) {
		fprintf(stderr, "zkvault: %s: %zu given, this set needs %u of its %u\n",
			zk_share_strerror(ZK_SHARE_TOO_FEW), s->n, s->info[0].k, s->info[0].n);
		rc = CLI_USAGE;
	}
	if (rc == CLI_OK)
		json_object_set(body, "shares", s->texts);
out:
	json_decref(s->texts);
	sodium_free(s->rows);
	sodium_free(s);
	return rc;
}

/* A wrong phrase, key or set of shares is an ordinary failure (exit 1), as a wrong password is for unlock. */
static int wrong_secret(const struct cli *c, int rc)
{
	static const char *const msgs[] = { "Invalid recovery phrase", "Invalid hardware key",
					    "The shares do not open this vault" };
	for (size_t i = 0; rc == CLI_DENIED && i < sizeof(msgs) / sizeof(msgs[0]); i++)
		if (!strcmp(c->error, msgs[i]))
			return CLI_ERROR;
	return rc;
}

int cli_recover(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL, *body = NULL;
	char *password = NULL, left[32];
	size_t len;
	int rc = cli_begin(&c, &cli_recover_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	body = json_object(); /* jansson allocates through wiped memory once cli_begin has run */
	bool phrase = cli_opt(&c, "phrase"), hw = cli_opt(&c, "hardware-key");
	bool shares = cli_opt(&c, "shares") || cli_opt(&c, "share") || cli_opt(&c, "share-file");
	if (phrase + hw + shares != 1) {
		rc = cli_usage_error(&c, "give one of --phrase, --hardware-key or shares (--shares, --share-file, --share)");
		goto out;
	}
	if (cli_opt(&c, "share"))
		fprintf(stderr, "zkvault: warning: a share given with --share is visible to other users of this host "
				"(ps, /proc/PID/cmdline); prefer --share-file or --shares\n");
	if (!body) {
		rc = cli_error("out of memory");
		goto out;
	}
	rc = phrase ? read_phrase(&c, body) : hw ? read_hardware_key(&c, body) : read_shares(&c, body);
	if (rc == CLI_OK)
		rc = cli_read_new_password(&c, &password, &len);
	if (rc == CLI_OK) {
		json_t *p = json_stringn(password, len);
		if (!p)
			rc = cli_error("the password is not valid UTF-8");
		else
			json_object_set_new(body, "newPassword", p);
	}
	if (rc == CLI_OK)
		rc = wrong_secret(&c, cli_request(&c, "POST", "/recover", body, &out));
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		json_int_t count = json_integer_value(json_object_get(out, "secretCount"));
		cli_duration(left, sizeof(left), json_integer_value(json_object_get(out, "expiresIn")));
		printf("Vault recovered: the new password is set and the vault is unlocked for %s (%lld secret%s).\n",
		       left, (long long)count, count == 1 ? "" : "s");
		if (shares)
			printf("The shares you gathered have left your contacts: consider 'zkvault recovery social' "
			       "again for a new split.\n");
	}
out:
	zk_wipe_free(password);
	json_decref(body);
	json_decref(out);
	cli_end(&c);
	return rc;
}

/* zkvault unlock --hardware-key (src/cli/unlock.c): POST /unlock {"hardwareKey", "userId"?}. */
int cli_unlock_hardware(struct cli *c, const char *user, json_t **out)
{
	json_t *body = json_object();
	int rc = body ? read_hardware_key(c, body) : cli_error("out of memory");
	if (rc == CLI_OK && user)
		json_object_set_new(body, "userId", json_string(user));
	if (rc == CLI_OK && c->session_pk[0])
		json_object_set_new(body, "sessionPublicKey", json_string(c->session_pk));
	if (rc == CLI_OK)
		rc = wrong_secret(c, cli_request(c, "POST", "/unlock", body, out));
	json_decref(body);
	return rc;
}
