#include "lib/ocmt.h"

#include <argon2.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/dl.h"

/* libargon2, loaded on first use (lib/dl.h): only an OCMT import needs its Argon2id parameters. */
#define ARGON2_SYMBOLS(X) X(argon2id_hash_raw) X(argon2_error_message)
ZK_DL_DEFINE(a2, "libargon2.so.1", "libargon2-1", ARGON2_SYMBOLS);

/* Longest base64 text we accept for the fixed-size fields (salt, nonce, tag): anything longer is the wrong size. */
#define SMALL_B64_MAX 64

struct envelope {
	unsigned char salt[ZK_OCMT_SALT_BYTES];
	unsigned char nonce[ZK_OCMT_NONCE_BYTES];
	unsigned char tag[ZK_OCMT_TAG_BYTES];
	unsigned char *ct; /* malloc'd; ciphertext is not secret */
	size_t ct_len;
};

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Strict standard base64 with padding. Returns 0 and the decoded length, or -1 if s is not valid base64. */
static int b64_decode(unsigned char *out, size_t outmax, const char *s, size_t slen, size_t *outlen)
{
	*outlen = 0;
	if (zk_base642bin(out, outmax, s, slen, outlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	return 0;
}

static const json_t *get_field(const json_t *obj, const char *name, const char *where, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, name);
	if (!v)
		set_err(err, errlen, "missing field: %s%s", where, name);
	return v;
}

static int check_string(const json_t *obj, const char *name, const char *where, const char *expected, char *err,
                        size_t errlen)
{
	const json_t *v = get_field(obj, name, where, err, errlen);
	if (!v)
		return -1;
	if (!json_is_string(v)) {
		set_err(err, errlen, "%s%s must be a string", where, name);
		return -1;
	}
	if (expected && strcmp(json_string_value(v), expected) != 0) {
		set_err(err, errlen, "%s%s must be \"%s\"", where, name, expected);
		return -1;
	}
	return 0;
}

static int check_integer(const json_t *obj, const char *name, const char *where, json_int_t expected, char *err,
                         size_t errlen)
{
	const json_t *v = get_field(obj, name, where, err, errlen);
	if (!v)
		return -1;
	if (!json_is_integer(v)) {
		set_err(err, errlen, "%s%s must be an integer", where, name);
		return -1;
	}
	if (json_integer_value(v) != expected) {
		set_err(err, errlen, "%s%s must be %" JSON_INTEGER_FORMAT, where, name, expected);
		return -1;
	}
	return 0;
}

static int check_fixed_b64(const json_t *obj, const char *name, const char *where, unsigned char *out, size_t n,
                           char *err, size_t errlen)
{
	if (check_string(obj, name, where, NULL, err, errlen) != 0)
		return -1;
	const json_t *v = json_object_get(obj, name);
	const char *s = json_string_value(v);
	size_t slen = json_string_length(v);
	unsigned char buf[SMALL_B64_MAX];
	size_t len;
	if (slen > SMALL_B64_MAX) {
		set_err(err, errlen, "%s%s must be %zu bytes", where, name, n);
		return -1;
	}
	if (b64_decode(buf, sizeof(buf), s, slen, &len) != 0) {
		set_err(err, errlen, "%s%s is not valid base64", where, name);
		return -1;
	}
	if (len != n) {
		set_err(err, errlen, "%s%s must be %zu bytes", where, name, n);
		return -1;
	}
	memcpy(out, buf, n);
	return 0;
}

/* Checks the envelope and decodes its binary fields. On success e->ct must be freed by the caller. */
static int parse_envelope(const json_t *env, struct envelope *e, char *err, size_t errlen)
{
	memset(e, 0, sizeof(*e));
	if (!json_is_object(env)) {
		set_err(err, errlen, "envelope is not a JSON object");
		return -1;
	}
	if (check_integer(env, "version", "", ZK_OCMT_VERSION, err, errlen) != 0 ||
	    check_string(env, "format", "", ZK_OCMT_FORMAT, err, errlen) != 0 ||
	    check_string(env, "created", "", NULL, err, errlen) != 0 ||
	    check_string(env, "updated", "", NULL, err, errlen) != 0)
		return -1;

	const json_t *kdf = get_field(env, "kdf", "", err, errlen);
	if (!kdf)
		return -1;
	if (!json_is_object(kdf)) {
		set_err(err, errlen, "kdf must be an object");
		return -1;
	}
	if (check_string(kdf, "algorithm", "kdf.", "argon2id", err, errlen) != 0 ||
	    check_integer(kdf, "version", "kdf.", ZK_OCMT_KDF_VERSION, err, errlen) != 0 ||
	    check_integer(kdf, "memory", "kdf.", ZK_OCMT_KDF_MEMORY_KIB, err, errlen) != 0 ||
	    check_integer(kdf, "iterations", "kdf.", ZK_OCMT_KDF_ITERATIONS, err, errlen) != 0 ||
	    check_integer(kdf, "parallelism", "kdf.", ZK_OCMT_KDF_PARALLELISM, err, errlen) != 0 ||
	    check_fixed_b64(kdf, "salt", "kdf.", e->salt, sizeof(e->salt), err, errlen) != 0)
		return -1;

	const json_t *enc = get_field(env, "encryption", "", err, errlen);
	if (!enc)
		return -1;
	if (!json_is_object(enc)) {
		set_err(err, errlen, "encryption must be an object");
		return -1;
	}
	if (check_string(enc, "algorithm", "encryption.", "aes-256-gcm", err, errlen) != 0 ||
	    check_fixed_b64(enc, "nonce", "encryption.", e->nonce, sizeof(e->nonce), err, errlen) != 0 ||
	    check_fixed_b64(enc, "tag", "encryption.", e->tag, sizeof(e->tag), err, errlen) != 0)
		return -1;

	if (check_string(env, "ciphertext", "", NULL, err, errlen) != 0)
		return -1;
	const json_t *ctv = json_object_get(env, "ciphertext");
	size_t slen = json_string_length(ctv);
	if (slen == 0) {
		set_err(err, errlen, "ciphertext is empty");
		return -1;
	}
	size_t max = slen / 4 * 3 + 3;
	unsigned char *ct = malloc(max);
	if (!ct) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	size_t len;
	if (b64_decode(ct, max, json_string_value(ctv), slen, &len) != 0) {
		free(ct);
		set_err(err, errlen, "ciphertext is not valid base64");
		return -1;
	}
	if (len == 0) {
		free(ct);
		set_err(err, errlen, "ciphertext is empty");
		return -1;
	}
	if ((unsigned long long)len > crypto_aead_aes256gcm_MESSAGEBYTES_MAX) {
		free(ct);
		set_err(err, errlen, "ciphertext is too long");
		return -1;
	}
	e->ct = ct;
	e->ct_len = len;
	return 0;
}

int zk_ocmt_check(const json_t *envelope, char *err, size_t errlen)
{
	struct envelope e;
	if (parse_envelope(envelope, &e, err, errlen) != 0)
		return -1;
	free(e.ct);
	return 0;
}

static int valid_key_name(const char *k)
{
	size_t n = strlen(k);
	if (n < 1 || n > ZK_OCMT_KEY_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

/* Validates the decrypted document; fills in missing metadata. Messages never echo plaintext. */
static int validate_plaintext(json_t *root, char *err, size_t errlen)
{
	if (!json_is_object(root)) {
		set_err(err, errlen, "decrypted vault is not a JSON object");
		return -1;
	}
	json_t *secrets = json_object_get(root, "secrets");
	if (!json_is_object(secrets)) {
		set_err(err, errlen, "decrypted vault has no \"secrets\" object");
		return -1;
	}
	const char *key;
	json_t *rec;
	json_object_foreach(secrets, key, rec)
	{
		if (!valid_key_name(key)) {
			set_err(err, errlen, "decrypted vault has an invalid secret name");
			return -1;
		}
		if (!json_is_object(rec)) {
			set_err(err, errlen, "decrypted vault has a secret that is not an object");
			return -1;
		}
		json_t *value = json_object_get(rec, "value");
		if (!json_is_string(value) || json_string_length(value) == 0) {
			set_err(err, errlen, "decrypted vault has a secret whose value is not a non-empty string");
			return -1;
		}
		json_t *meta = json_object_get(rec, "metadata");
		if (!meta) {
			if (json_object_set_new(rec, "metadata", json_object()) != 0) {
				set_err(err, errlen, "out of memory");
				return -1;
			}
		} else if (!json_is_object(meta)) {
			set_err(err, errlen, "decrypted vault has a secret whose metadata is not an object");
			return -1;
		}
	}
	return 0;
}

int zk_ocmt_open(json_t **secrets, const json_t *envelope, const char *password, size_t password_len,
                 char *err, size_t errlen)
{
	struct envelope e;
	unsigned char *key = NULL;
	unsigned char *pt = NULL;
	json_t *root = NULL;
	int rc;

	if (!secrets) {
		set_err(err, errlen, "no output given");
		return ZK_OCMT_EINTERNAL;
	}
	*secrets = NULL;
	if (parse_envelope(envelope, &e, err, errlen) != 0)
		return ZK_OCMT_EAUTH;
	if (sodium_init() < 0) {
		set_err(err, errlen, "libsodium failed to initialise");
		rc = ZK_OCMT_EINTERNAL;
		goto out;
	}
	if (!crypto_aead_aes256gcm_is_available()) {
		set_err(err, errlen, "AES-256-GCM is not available on this CPU (needs AES-NI and PCLMUL)");
		rc = ZK_OCMT_EINTERNAL;
		goto out;
	}
	if (password_len > ARGON2_MAX_PWD_LENGTH) {
		set_err(err, errlen, "Invalid password");
		rc = ZK_OCMT_EAUTH;
		goto out;
	}
	key = sodium_malloc(ZK_OCMT_KEY_BYTES);
	pt = sodium_malloc(e.ct_len);
	if (!key || !pt) {
		set_err(err, errlen, "out of memory");
		rc = ZK_OCMT_EINTERNAL;
		goto out;
	}
	if (zk_dl_load(&a2_dl) != 0) {
		set_err(err, errlen, "%s", zk_dl_error(&a2_dl));
		rc = ZK_OCMT_EINTERNAL;
		goto out;
	}
	int arc = a2.argon2id_hash_raw(ZK_OCMT_KDF_ITERATIONS, ZK_OCMT_KDF_MEMORY_KIB, ZK_OCMT_KDF_PARALLELISM, password,
	                            password_len, e.salt, sizeof(e.salt), key, ZK_OCMT_KEY_BYTES);
	if (arc != ARGON2_OK) {
		set_err(err, errlen, "key derivation failed: %s", a2.argon2_error_message(arc));
		rc = ZK_OCMT_EINTERNAL;
		goto out;
	}
	int drc = crypto_aead_aes256gcm_decrypt_detached(pt, NULL, e.ct, e.ct_len, e.tag, NULL, 0, e.nonce, key);
	sodium_free(key);
	key = NULL;
	if (drc != 0) {
		set_err(err, errlen, "Invalid password");
		rc = ZK_OCMT_EAUTH;
		goto out;
	}

	/* Parsed straight from the guarded buffer; jansson's own buffers go through the wipe-on-free allocator. */
	json_error_t jerr;
	root = json_loadb((const char *)pt, e.ct_len, JSON_REJECT_DUPLICATES, &jerr);
	/* jansson's error text may quote plaintext: never copy it out, and wipe it. */
	sodium_memzero(&jerr, sizeof(jerr));
	if (!root) {
		set_err(err, errlen, "decrypted vault is not valid JSON");
		rc = ZK_OCMT_EPLAIN;
		goto out;
	}
	if (validate_plaintext(root, err, errlen) != 0) {
		rc = ZK_OCMT_EPLAIN;
		goto out;
	}
	*secrets = json_incref(json_object_get(root, "secrets"));
	rc = ZK_OCMT_OK;
out:
	json_decref(root);
	sodium_free(pt);
	sodium_free(key);
	free(e.ct);
	return rc;
}
