/*
 * zkvault unlock --sealed: the client side of sealed unlock (docs/API.md §Sealed unlock). Argon2id runs here
 * with the vault's published parameters (the floor enforced by zk_kdf_derive), and only a crypto_box_seal to
 * the vault's transport key, bound to a fresh single-use challenge, goes over the wire.
 */
#include <string.h>

#include "cli/cli.h"
#include "cli/recovery.h"
#include "lib/crypto.h"
#include "lib/mem.h"

int cli_unlock_sealed(struct cli *c, const char *user, const char *pin, json_t **out);

int cli_unlock_sealed(struct cli *c, const char *user, const char *pin, json_t **out)
{
	json_t *wk = NULL, *ch = NULL, *inner = NULL, *body = NULL;
	unsigned char pk[32], *kek = NULL, *box = NULL;
	char fp[CLI_FINGERPRINT_MAX], *password = NULL, *text = NULL, *sealed = NULL;
	size_t len = 0;
	struct zk_kdf_params p;
	int rc;

	if ((rc = cli_request(c, "GET", "/.well-known/zkvault", NULL, &wk)) != CLI_OK)
		goto out;
	json_t *kdf = json_object_get(wk, "kdf");
	const char *vault_id = json_string_value(json_object_get(wk, "vaultId"));
	if (zk_b64_decode_exact(pk, 32, json_string_value(json_object_get(wk, "transportPublicKey"))) != 0 ||
	    !vault_id || strcmp(json_string_value(json_object_get(kdf, "algorithm")) ?: "", "argon2id13") ||
	    !json_is_integer(json_object_get(kdf, "opslimit")) || !json_is_integer(json_object_get(kdf, "memlimit")) ||
	    zk_b64_decode_exact(p.salt, ZK_SALT_BYTES, json_string_value(json_object_get(kdf, "salt"))) != 0) {
		rc = cli_error("the vault publishes no transport key or KDF parameters (is it initialized?)");
		goto out;
	}
	cli_fingerprint(fp, pk);
	if (pin && strcmp(pin, fp) != 0) {
		rc = cli_error("the vault's transport key has fingerprint %s, not %s: refusing to send it anything", fp,
			       pin);
		goto out;
	}
	if (!pin)
		fprintf(stderr, "transport key fingerprint %s (pin it with --transport-key %s)\n", fp, fp);
	p.opslimit = (uint64_t)json_integer_value(json_object_get(kdf, "opslimit"));
	p.memlimit = (uint64_t)json_integer_value(json_object_get(kdf, "memlimit"));
	if (zk_kdf_check(&p) != 0) {
		rc = cli_error("the vault asks for KDF parameters below the floor (opslimit 3, memlimit 64 MiB)");
		goto out;
	}
	if ((rc = cli_read_password(c, "Vault password: ", false, &password, &len)) != CLI_OK)
		goto out;
	kek = sodium_malloc(ZK_KEY_BYTES);
	if (!kek || zk_kdf_derive(kek, password, len, &p) != 0) {
		rc = cli_error("key derivation failed");
		goto out;
	}
	if ((rc = cli_request(c, "GET", "/unlock/challenge", NULL, &ch)) != CLI_OK)
		goto out;
	char kek_b64[sodium_base64_ENCODED_LEN(ZK_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(kek_b64, sizeof(kek_b64), kek, ZK_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
	inner = json_pack("{ssssssss}", "purpose", "unlock", "vaultId", vault_id, "challenge",
			  json_string_value(json_object_get(ch, "challenge")) ?: "", "kek", kek_b64);
	sodium_memzero(kek_b64, sizeof(kek_b64));
	if (inner && c->session_pk[0]) /* inside the box, where no forwarder can swap it */
		json_object_set_new(inner, "sessionPublicKey", json_string(c->session_pk));
	text = inner ? json_dumps(inner, JSON_COMPACT) : NULL;
	size_t n = text ? strlen(text) : 0;
	box = text ? malloc(n + crypto_box_SEALBYTES) : NULL;
	if (!box || crypto_box_seal(box, (unsigned char *)text, n, pk) != 0) {
		rc = cli_error("out of memory");
		goto out;
	}
	size_t blen = sodium_base64_ENCODED_LEN(n + crypto_box_SEALBYTES, sodium_base64_VARIANT_ORIGINAL);
	sealed = malloc(blen);
	if (!sealed) {
		rc = cli_error("out of memory");
		goto out;
	}
	sodium_bin2base64(sealed, blen, box, n + crypto_box_SEALBYTES, sodium_base64_VARIANT_ORIGINAL);
	body = json_pack("{ss}", "sealed", sealed);
	if (body && user)
		json_object_set_new(body, "userId", json_string(user));
	rc = body ? cli_request(c, "POST", "/unlock", body, out) : cli_error("out of memory");
out:
	if (text) {
		sodium_memzero(text, strlen(text));
		zk_wipe_str(text); /* jansson allocates through zk_wipe_malloc */
	}
	free(box);
	free(sealed);
	zk_wipe_free(password);
	sodium_free(kek);
	json_decref(inner);
	json_decref(body);
	json_decref(ch);
	json_decref(wk);
	return rc;
}
