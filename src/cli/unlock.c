/* zkvault unlock: open a session with the vault password. */
#include <sodium.h>
#include <string.h>

#include "cli/cli.h"

static const struct cli_option options[] = {
	{ "user", 0, "UUID", "who unlocks, for the audit log", NULL },
	{ "hardware-key", 0, NULL, "unlock with the hardware backup key instead (asked like the password)", NULL },
	{ "sealed", 0, NULL, "derive the key here and send it sealed to the vault's transport key", NULL },
	{ "transport-key", 0, "FINGERPRINT", "with --sealed: the transport key fingerprint to insist on", NULL },
	{ "session-file", 0, "FILE", "strict mode: store the vault session in FILE (mode 0600)", NULL },
	{ 0 },
};

const struct cli_spec cli_unlock_spec = {
	.name = "unlock",
	.operands = "",
	.flags = CLI_NET | CLI_MGMT | CLI_PASSWORD | CLI_JSON,
	.options = options,
	.summary = "Unlock the vault with its password for one session (30 minutes by default; see\n"
		   "'zkvault extend'). The password is asked on the terminal with echo off, or read as one\n"
		   "line from standard input with --password-stdin. A wrong password exits 1; the vault\n"
		   "allows 5 failed attempts per client address in 15 minutes. --hardware-key unlocks with\n"
		   "the hardware backup key ('zkvault recovery hardware') instead, read the same way.\n"
		   "--sealed runs Argon2id here with the vault's published parameters and sends only a box\n"
		   "sealed to the vault's transport key with a single-use challenge, so a proxy in between\n"
		   "sees neither the password nor the key; --transport-key pins that key's fingerprint.\n"
		   "On a vault in strict mode, --session-file asks for the vault session (sealed to a key\n"
		   "made here for this unlock) and stores it in FILE; give it to the commands that issue\n"
		   "tokens or change access with ZKVAULT_SESSION_FILE=FILE.",
	.examples = "  zkvault unlock\n"
		    "  zkvault unlock --password-stdin < password-file\n"
		    "  zkvault unlock --sealed --transport-key 1a2b-3c4d-5e6f-7a8b\n"
		    "  zkvault unlock --session-file ~/.zkvault-session && ZKVAULT_SESSION_FILE=~/.zkvault-session \\\n"
		    "      zkvault token issue --user 6f1c... --allow 'api.*'\n",
};

/* recover.c */
int cli_unlock_hardware(struct cli *c, const char *user, json_t **out);
/* sealed.c */
int cli_unlock_sealed(struct cli *c, const char *user, const char *pin, json_t **out);

int cli_unlock(int argc, char *argv[])
{
	struct cli c;
	json_t *out = NULL;
	char left[32];
	unsigned char pk[32], *sk = NULL;
	const char *session_file;
	int rc = cli_begin(&c, &cli_unlock_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	if ((session_file = cli_opt(&c, "session-file")) && (rc = cli_session_begin(&c, session_file, pk, &sk)) != CLI_OK) {
		cli_end(&c);
		return rc;
	}
	if (cli_opt(&c, "sealed"))
		rc = cli_unlock_sealed(&c, cli_opt(&c, "user"), cli_opt(&c, "transport-key"), &out);
	else if (cli_opt(&c, "hardware-key"))
		rc = cli_unlock_hardware(&c, cli_opt(&c, "user"), &out);
	else
		rc = cli_send_password(&c, "/unlock", "Vault password: ", false, cli_opt(&c, "user"), &out);
	/* A wrong password is an ordinary failure, not a denied credential. */
	if (rc == CLI_DENIED && !strcmp(c.error, "Invalid password"))
		rc = CLI_ERROR;
	if (rc == CLI_OK && sk)
		rc = cli_session_save(session_file, out, pk, sk);
	sodium_free(sk);
	if (rc == CLI_OK && c.json) {
		rc = cli_print_json(out);
	} else if (rc == CLI_OK) {
		json_int_t count = json_integer_value(json_object_get(out, "secretCount"));
		cli_duration(left, sizeof(left), json_integer_value(json_object_get(out, "expiresIn")));
		printf("Vault unlocked for %s (%lld secret%s).\n", left, (long long)count, count == 1 ? "" : "s");
	}
	json_decref(out);
	cli_end(&c);
	return rc;
}
