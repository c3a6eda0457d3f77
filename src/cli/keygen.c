/* zkvault keygen: an X25519 key pair for a recovery contact or threshold admin, offline. */
#include <sodium.h>
#include <string.h>

#include "cli/recovery.h"
#include "lib/mem.h"

#define DEFAULT_KEY_FILE "zkvault.key"

static const struct cli_option options[] = {
	{ "output", 'o', "FILE", "write the secret key to FILE (default " DEFAULT_KEY_FILE "; never overwritten)",
	  NULL },
	{ "from", 0, "FILE", "make no key: print the public key and fingerprint of the key in FILE", NULL },
	{ 0 },
};

const struct cli_spec cli_keygen_spec = {
	.name = "keygen",
	.operands = "",
	.flags = CLI_JSON,
	.options = options,
	.summary = "Make an X25519 key pair for a recovery contact or a threshold admin, offline. The secret\n"
		   "key goes to FILE (one line of base64; created exclusively with mode 0600, never through a\n"
		   "symbolic link); keep it private. Prints the public key, to give to the vault's owner for\n"
		   "'zkvault recovery social --contact ID=PUBKEY' or 'zkvault threshold setup --admin\n"
		   "ID=PUBKEY', and its fingerprint, to check against the one the vault shows for you.",
	.examples = "  zkvault keygen -o ~/.config/zkvault/alice.key\n"
		    "  zkvault keygen --from ~/.config/zkvault/alice.key     # show the public key again\n",
};

int cli_keygen(int argc, char *argv[])
{
	struct cli c;
	unsigned char pk[32], *sk = NULL;
	char pub[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)], fp[CLI_FINGERPRINT_MAX];
	size_t line = sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL) + 1;
	char *text = NULL;
	int rc = cli_begin(&c, &cli_keygen_spec, argc, argv);

	if (rc != CLI_CONTINUE)
		return rc;
	const char *from = cli_opt(&c, "from"), *file = cli_opt(&c, "output");
	if (from && file) {
		rc = cli_usage_error(&c, "--from and --output exclude each other");
		goto out;
	}
	if (from) {
		if ((rc = cli_load_secret_key(from, &sk, pk)) != CLI_OK)
			goto out;
		file = from;
	} else {
		if (!file)
			file = DEFAULT_KEY_FILE;
		sk = sodium_malloc(crypto_box_SECRETKEYBYTES);
		text = zk_wipe_malloc(line);
		if (!sk || !text) {
			rc = cli_error("out of memory");
			goto out;
		}
		crypto_box_keypair(pk, sk);
		sodium_bin2base64(text, line, sk, crypto_box_SECRETKEYBYTES, sodium_base64_VARIANT_ORIGINAL);
		size_t n = strlen(text);
		text[n] = '\n';
		if ((rc = cli_write_new_file(file, text, n + 1)) != CLI_OK)
			goto out;
	}
	sodium_bin2base64(pub, sizeof(pub), pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
	cli_fingerprint(fp, pk);
	if (c.json) {
		json_t *o = json_pack("{sssssssb}", "file", file, "publicKey", pub, "fingerprint", fp, "created", !from);
		rc = o ? cli_print_json(o) : cli_error("out of memory");
		json_decref(o);
	} else {
		if (!from)
			printf("Wrote the secret key to %s (mode 0600). Keep it private: it opens what is sealed to you.\n",
			       file);
		printf("public key:  %s\nfingerprint: %s\n", pub, fp);
	}
out:
	sodium_free(sk);
	zk_wipe_free(text);
	cli_end(&c);
	return rc;
}
