/* OCMT group vault import (src/lib/ocmt.c) against a fixture made by the independent Node generator
   (tests/interop/ocmt-export.mjs), plus envelope checks and malformed plaintexts sealed here with libargon2 + libsodium. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <argon2.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "lib/ocmt.h"

#define FIXTURE ZK_VECTORS "/ocmt/export-1.json"
#define PASSWORD "correct horse battery staple 1"

/* Exactly what tests/vectors/ocmt/README.md says went into export-1.json. */
static const char EXPECTED[] =
	"{\"DATABASE_URL\":{\"value\":\"postgres://app:s3cret@db.internal:5432/app\","
	"\"metadata\":{\"env\":\"prod\",\"owner\":\"platform-team\",\"rotate\":true},"
	"\"updatedAt\":\"2025-01-15T10:20:30.000Z\",\"updatedBy\":\"6f1c2b9e-3d4a-4e5f-8a7b-1c2d3e4f5a6b\"},"
	"\"greeting.unicode_v-2\":{\"value\":\"Gr\\u00fc\\u00dfe, \\u4e16\\u754c \\u2014 \\u043a\\u043b\\u044e\\u0447 "
	"\\ud83d\\udd10\",\"metadata\":{\"langs\":[\"de\",\"zh\",\"ru\"],\"note\":\"non-ASCII value\",\"n\":3},"
	"\"updatedAt\":\"2025-02-01T08:00:00.123Z\",\"updatedBy\":\"0b9d3c2a-1e4f-4a5b-9c8d-7e6f5a4b3c2d\"}}";
/* The same unicode value as raw UTF-8 bytes: "Grüße, 世界 — ключ 🔐". */
static const char UNICODE_VALUE[] = "Gr\xc3\xbc\xc3\x9f"
				    "e, \xe4\xb8\x96\xe7\x95\x8c \xe2\x80\x94 \xd0\xba\xd0\xbb\xd1\x8e\xd1\x87 "
				    "\xf0\x9f\x94\x90";

static json_t *load_fixture(void)
{
	json_error_t jerr;
	json_t *env = json_load_file(FIXTURE, 0, &jerr);
	if (!env)
		fail_msg("cannot load %s: %s", FIXTURE, jerr.text);
	return env;
}

static int open_env(json_t **out, const json_t *env, const char *password, char *err, size_t errlen)
{
	return zk_ocmt_open(out, env, password, strlen(password), err, errlen);
}

/* ---------------------------------------------------------------- fixture */

static void test_fixture_checks(void **state)
{
	json_t *env = load_fixture();
	char err[256] = "";
	assert_int_equal(zk_ocmt_check(env, err, sizeof(err)), 0);
	/* Unknown extra fields are kept by the reference, so they must not be rejected. */
	json_object_set_new(env, "x-extra", json_string("kept"));
	assert_int_equal(zk_ocmt_check(env, err, sizeof(err)), 0);
	json_decref(env);
}

static void test_fixture_opens(void **state)
{
	json_t *env = load_fixture();
	json_t *expected = json_loads(EXPECTED, 0, NULL);
	assert_non_null(expected);
	json_t *secrets = NULL;
	char err[256] = "";

	int rc = open_env(&secrets, env, PASSWORD, err, sizeof(err));
	if (rc != 0)
		fail_msg("open: %d %s", rc, err);
	assert_non_null(secrets);
	assert_true(json_is_object(secrets));
	assert_int_equal(secrets->refcount, 1); /* a new reference, owned by the caller alone */
	assert_int_equal(json_object_size(secrets), 2);
	if (!json_equal(secrets, expected)) {
		char *got = json_dumps(secrets, JSON_SORT_KEYS);
		fail_msg("secrets differ: %s", got);
	}
	const json_t *v = json_object_get(json_object_get(secrets, "greeting.unicode_v-2"), "value");
	assert_string_equal(json_string_value(v), UNICODE_VALUE);
	assert_int_equal(json_string_length(v), strlen(UNICODE_VALUE));

	json_decref(secrets);
	json_decref(expected);
	json_decref(env);
}

static void test_wrong_password(void **state)
{
	static const char *wrong[] = { "correct horse battery staple 2", "correct horse battery staple 1 ",
		                       "Correct horse battery staple 1", "" };
	json_t *env = load_fixture();
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		json_t *secrets = (json_t *)1;
		char err[256] = "";
		assert_int_equal(open_env(&secrets, env, wrong[i], err, sizeof(err)), -1);
		assert_null(secrets);
		assert_string_equal(err, "Invalid password");
	}
	/* The right password with a trailing NUL counted in its length is a different password. */
	json_t *secrets = NULL;
	char err[256] = "";
	assert_int_equal(zk_ocmt_open(&secrets, env, PASSWORD, sizeof(PASSWORD), err, sizeof(err)), -1);
	assert_null(secrets);
	json_decref(env);
}

/* Decodes envelope field <obj>.<name>, flips one bit of byte idx (negative: from the end), re-encodes. */
static void flip_bit(json_t *env, const char *obj, const char *name, long idx)
{
	json_t *parent = obj ? json_object_get(env, obj) : env;
	const char *b64 = json_string_value(json_object_get(parent, name));
	assert_non_null(b64);
	size_t cap = strlen(b64), len;
	unsigned char *bin = malloc(cap);
	assert_non_null(bin);
	assert_int_equal(sodium_base642bin(bin, cap, b64, strlen(b64), NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL),
	                 0);
	size_t at = idx >= 0 ? (size_t)idx : len - (size_t)(-idx);
	assert_true(at < len);
	bin[at] ^= 0x01;
	char *out = malloc(sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL));
	assert_non_null(out);
	sodium_bin2base64(out, sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL), bin, len,
	                  sodium_base64_VARIANT_ORIGINAL);
	json_object_set_new(parent, name, json_string(out));
	free(out);
	free(bin);
}

static void test_tampered(void **state)
{
	static const struct {
		const char *obj, *name;
		long idx;
	} cases[] = {
		{ NULL, "ciphertext", 0 },     { NULL, "ciphertext", -1 },  { "encryption", "tag", 0 },
		{ "encryption", "tag", -1 },   { "encryption", "nonce", 0 }, { "encryption", "nonce", -1 },
		{ "kdf", "salt", 0 },
	};
	json_t *fixture = load_fixture();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *env = json_deep_copy(fixture);
		flip_bit(env, cases[i].obj, cases[i].name, cases[i].idx);
		char err[256] = "";
		assert_int_equal(zk_ocmt_check(env, err, sizeof(err)), 0); /* still well-formed */
		json_t *secrets = NULL;
		int rc = open_env(&secrets, env, PASSWORD, err, sizeof(err));
		if (rc != -1)
			fail_msg("tampered %s byte %ld: rc %d", cases[i].name, cases[i].idx, rc);
		assert_null(secrets);
		assert_string_equal(err, "Invalid password");
		json_decref(env);
	}
	/* Truncated ciphertext (still valid base64, one byte shorter). */
	json_t *env = json_deep_copy(fixture);
	const char *ct = json_string_value(json_object_get(env, "ciphertext"));
	unsigned char bin[4096];
	size_t len;
	assert_int_equal(sodium_base642bin(bin, sizeof(bin), ct, strlen(ct), NULL, &len, NULL,
	                                   sodium_base64_VARIANT_ORIGINAL),
	                 0);
	char b64[sodium_base64_ENCODED_LEN(sizeof(bin), sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(b64, sizeof(b64), bin, len - 1, sodium_base64_VARIANT_ORIGINAL);
	json_object_set_new(env, "ciphertext", json_string(b64));
	json_t *secrets = NULL;
	char err[256] = "";
	assert_int_equal(open_env(&secrets, env, PASSWORD, err, sizeof(err)), -1);
	assert_null(secrets);
	json_decref(env);
	json_decref(fixture);
}

/* ---------------------------------------------------------------- zk_ocmt_check */

struct mutation {
	const char *path;  /* "field" or "object.field" */
	const char *value; /* JSON text of the new value; NULL removes the field */
	const char *why;   /* expected substring of the error, or NULL */
};

static void apply(json_t *env, const struct mutation *m)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", m->path);
	json_t *parent = env;
	char *field = buf;
	char *dot = strchr(buf, '.');
	if (dot) {
		*dot = '\0';
		parent = json_object_get(env, buf);
		field = dot + 1;
		assert_true(json_is_object(parent));
	}
	if (!m->value) {
		assert_int_equal(json_object_del(parent, field), 0);
		return;
	}
	json_error_t jerr;
	json_t *v = json_loads(m->value, JSON_DECODE_ANY, &jerr);
	if (!v)
		fail_msg("bad test value %s: %s", m->value, jerr.text);
	json_object_set_new(parent, field, v);
}

static void expect_rejected(const json_t *env, const char *label, const char *why)
{
	char err[256] = "";
	if (zk_ocmt_check(env, err, sizeof(err)) != -1)
		fail_msg("%s: accepted", label);
	if (err[0] == '\0')
		fail_msg("%s: no reason given", label);
	if (why && !strstr(err, why))
		fail_msg("%s: reason \"%s\" lacks \"%s\"", label, err, why);
	/* zk_ocmt_open must refuse it the same way (before any key derivation). */
	json_t *secrets = NULL;
	char err2[256] = "";
	if (zk_ocmt_open(&secrets, env, PASSWORD, strlen(PASSWORD), err2, sizeof(err2)) != -1 || secrets)
		fail_msg("%s: open did not fail with -1", label);
	assert_string_equal(err, err2);
}

static void run_mutations(const struct mutation *ms, size_t n)
{
	json_t *fixture = load_fixture();
	for (size_t i = 0; i < n; i++) {
		json_t *env = json_deep_copy(fixture);
		apply(env, &ms[i]);
		char label[160];
		snprintf(label, sizeof(label), "%s = %s", ms[i].path, ms[i].value ? ms[i].value : "(missing)");
		expect_rejected(env, label, ms[i].why);
		json_decref(env);
	}
	json_decref(fixture);
}

#define RUN(ms) run_mutations(ms, sizeof(ms) / sizeof(ms[0]))

static void test_check_missing_fields(void **state)
{
	static const struct mutation ms[] = {
		{ "version", NULL, "missing field: version" },
		{ "format", NULL, "missing field: format" },
		{ "created", NULL, "missing field: created" },
		{ "updated", NULL, "missing field: updated" },
		{ "kdf", NULL, "missing field: kdf" },
		{ "encryption", NULL, "missing field: encryption" },
		{ "ciphertext", NULL, "missing field: ciphertext" },
		{ "kdf.algorithm", NULL, "missing field: kdf.algorithm" },
		{ "kdf.version", NULL, "missing field: kdf.version" },
		{ "kdf.memory", NULL, "missing field: kdf.memory" },
		{ "kdf.iterations", NULL, "missing field: kdf.iterations" },
		{ "kdf.parallelism", NULL, "missing field: kdf.parallelism" },
		{ "kdf.salt", NULL, "missing field: kdf.salt" },
		{ "encryption.algorithm", NULL, "missing field: encryption.algorithm" },
		{ "encryption.nonce", NULL, "missing field: encryption.nonce" },
		{ "encryption.tag", NULL, "missing field: encryption.tag" },
		{ "version", "null", "version" },
		{ "kdf.salt", "null", "kdf.salt" },
	};
	RUN(ms);
}

static void test_check_version_format(void **state)
{
	static const struct mutation ms[] = {
		{ "version", "2", "version must be 1" },
		{ "version", "0", "version" },
		{ "version", "\"1\"", "version must be an integer" },
		{ "version", "1.0", "version must be an integer" },
		{ "version", "true", "version" },
		{ "format", "\"ocmt-vault\"", "format" },
		{ "format", "\"OCMT-GROUP-VAULT\"", "format" },
		{ "format", "\"ocmt-group-vault \"", "format" },
		{ "format", "1", "format must be a string" },
		{ "created", "1700000000000", "created must be a string" },
		{ "updated", "{}", "updated must be a string" },
		{ "ciphertext", "[]", "ciphertext must be a string" },
	};
	RUN(ms);
}

static void test_check_kdf_params(void **state)
{
	static const struct mutation ms[] = {
		{ "kdf", "\"argon2id\"", "kdf must be an object" },
		{ "kdf", "[]", "kdf must be an object" },
		{ "encryption", "null", "encryption must be an object" },
		{ "kdf.algorithm", "\"argon2i\"", "kdf.algorithm" },
		{ "kdf.algorithm", "\"argon2d\"", "kdf.algorithm" },
		{ "kdf.algorithm", "\"Argon2id\"", "kdf.algorithm" },
		{ "kdf.version", "16", "kdf.version must be 19" },
		{ "kdf.version", "\"19\"", "kdf.version must be an integer" },
		{ "kdf.memory", "65535", "kdf.memory must be 65536" },
		{ "kdf.memory", "19456", "kdf.memory" },
		{ "kdf.memory", "131072", "kdf.memory" },
		{ "kdf.memory", "65536.0", "kdf.memory must be an integer" },
		{ "kdf.iterations", "2", "kdf.iterations must be 3" },
		{ "kdf.iterations", "4", "kdf.iterations" },
		{ "kdf.parallelism", "1", "kdf.parallelism must be 4" },
		{ "kdf.parallelism", "-4", "kdf.parallelism" },
		{ "encryption.algorithm", "\"aes-128-gcm\"", "encryption.algorithm" },
		{ "encryption.algorithm", "\"chacha20-poly1305\"", "encryption.algorithm" },
	};
	RUN(ms);
}

static void test_check_sizes(void **state)
{
	static const struct mutation ms[] = {
		{ "kdf.salt", "\"AAAAAAAAAAAAAAAAAAAA\"", "kdf.salt must be 16 bytes" },         /* 15 */
		{ "kdf.salt", "\"AAAAAAAAAAAAAAAAAAAAAAA=\"", "kdf.salt must be 16 bytes" },      /* 17 */
		{ "kdf.salt", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"",
		  "kdf.salt must be 16 bytes" },
		{ "kdf.salt", "\"\"", "kdf.salt must be 16 bytes" },
		{ "encryption.nonce", "\"AAAAAAAAAAAAAAA=\"", "encryption.nonce must be 12 bytes" }, /* 11 */
		{ "encryption.nonce", "\"AAAAAAAAAAAAAAAAAAAAAA==\"", "encryption.nonce must be 12 bytes" }, /* 16 */
		{ "encryption.tag", "\"AAAAAAAAAAAAAAAAAAAA\"", "encryption.tag must be 16 bytes" }, /* 15 */
		{ "encryption.tag", "\"AAAAAAAAAAAAAAAA\"", "encryption.tag must be 16 bytes" },     /* 12 */
		{ "ciphertext", "\"\"", "ciphertext is empty" },
	};
	RUN(ms);
}

static void test_check_base64(void **state)
{
	static const struct mutation ms[] = {
		{ "kdf.salt", "\"27qT4nvKMI1p35I5j+YpCw\"", "kdf.salt is not valid base64" },  /* padding missing */
		{ "kdf.salt", "\"27qT4nvKMI1p35I5j+YpCw=\"", "kdf.salt is not valid base64" }, /* padding short */
		{ "kdf.salt", "\"27qT4nvKMI1p35I5j-YpCw==\"", "kdf.salt is not valid base64" }, /* base64url */
		{ "kdf.salt", "\"27qT4nvKMI1p35I5j+YpCx==\"", "kdf.salt is not valid base64" }, /* non-zero pad bits */
		{ "kdf.salt", "\"27qT4nvKMI1p35I5j!YpCw==\"", "kdf.salt is not valid base64" },
		{ "encryption.nonce", "\"8/SjH4GpLNoM iXdR\"", "encryption.nonce is not valid base64" },
		{ "encryption.nonce", "\"8/SjH4GpLNoMiXdR\\n\"", "encryption.nonce is not valid base64" },
		{ "encryption.tag", "\"GeTYFTFIF+Qf97LBlmK87A==AAAA\"", "encryption.tag is not valid base64" },
		{ "encryption.tag", "\"GeTYFTFIF_Qf97LBlmK87A==\"", "encryption.tag is not valid base64" },
		{ "ciphertext", "\"!!!!\"", "ciphertext is not valid base64" },
		{ "ciphertext", "\"koOiC5gj\\njaxO\"", "ciphertext is not valid base64" },
		{ "ciphertext", "\"koOiC5g\"", "ciphertext is not valid base64" },
		{ "ciphertext", "\"====\"", "ciphertext" },
	};
	RUN(ms);
}

static void test_check_non_object(void **state)
{
	static const char *docs[] = { "[]", "[{\"version\":1}]", "\"ocmt-group-vault\"", "1", "null", "true" };
	char err[256] = "";
	assert_int_equal(zk_ocmt_check(NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "envelope is not a JSON object");
	assert_int_equal(zk_ocmt_check(NULL, NULL, 0), -1); /* no error buffer is fine */
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		json_t *v = json_loads(docs[i], JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		expect_rejected(v, docs[i], "not a JSON object");
		json_decref(v);
	}
	json_t *empty = json_object();
	expect_rejected(empty, "{}", "missing field: version");
	json_decref(empty);
	/* A tiny error buffer is truncated, not overrun. */
	char small[8];
	memset(small, 'x', sizeof(small));
	assert_int_equal(zk_ocmt_check(NULL, small, sizeof(small)), -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

/* ---------------------------------------------------------------- malformed plaintext */

#define SEAL_PASSWORD "a test password for sealing"
static unsigned char seal_salt[16];
static unsigned char seal_key[32];

static int setup_seal(void **state)
{
	randombytes_buf(seal_salt, sizeof(seal_salt));
	return argon2id_hash_raw(3, 65536, 4, SEAL_PASSWORD, strlen(SEAL_PASSWORD), seal_salt, sizeof(seal_salt),
	                         seal_key, sizeof(seal_key)) == ARGON2_OK
	               ? 0
	               : -1;
}

static int teardown_seal(void **state)
{
	sodium_memzero(seal_key, sizeof(seal_key));
	return 0;
}

static char *b64(const unsigned char *bin, size_t len)
{
	size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(n);
	assert_non_null(s);
	return sodium_bin2base64(s, n, bin, len, sodium_base64_VARIANT_ORIGINAL);
}

/* An OCMT envelope around an arbitrary plaintext, sealed with the key derived in setup_seal(). */
static json_t *seal(const char *plaintext, size_t len)
{
	unsigned char nonce[12], tag[16];
	unsigned char *ct = malloc(len + 1);
	assert_non_null(ct);
	randombytes_buf(nonce, sizeof(nonce));
	assert_true(crypto_aead_aes256gcm_is_available());
	assert_int_equal(crypto_aead_aes256gcm_encrypt_detached(ct, tag, NULL, (const unsigned char *)plaintext, len,
	                                                        NULL, 0, NULL, nonce, seal_key),
	                 0);
	char *s_salt = b64(seal_salt, sizeof(seal_salt)), *s_nonce = b64(nonce, sizeof(nonce));
	char *s_tag = b64(tag, sizeof(tag)), *s_ct = b64(ct, len);
	json_t *env = json_pack("{s:i, s:s, s:s, s:s, s:{s:s, s:i, s:i, s:i, s:i, s:s}, s:{s:s, s:s, s:s}, s:s}",
	                        "version", 1, "format", "ocmt-group-vault", "created", "2025-01-01T00:00:00.000Z",
	                        "updated", "2025-01-01T00:00:00.000Z", "kdf", "algorithm", "argon2id", "version", 19,
	                        "memory", 65536, "iterations", 3, "parallelism", 4, "salt", s_salt, "encryption",
	                        "algorithm", "aes-256-gcm", "nonce", s_nonce, "tag", s_tag, "ciphertext", s_ct);
	assert_non_null(env);
	free(s_salt);
	free(s_nonce);
	free(s_tag);
	free(s_ct);
	free(ct);
	return env;
}

static int open_plain(const char *plaintext, json_t **secrets, char *err, size_t errlen)
{
	json_t *env = seal(plaintext, strlen(plaintext));
	assert_int_equal(zk_ocmt_check(env, err, errlen), 0);
	int rc = zk_ocmt_open(secrets, env, SEAL_PASSWORD, strlen(SEAL_PASSWORD), err, errlen);
	json_decref(env);
	return rc;
}

#define REC(v) "{\"value\":" v ",\"metadata\":{},\"updatedAt\":\"2025-01-01T00:00:00.000Z\",\"updatedBy\":\"u\"}"
#define DOC(secrets) "{\"secrets\":" secrets ",\"metadata\":{\"version\":1,\"createdAt\":\"2025-01-01T00:00:00.000Z\"}}"

static void test_sealed_valid(void **state)
{
	/* The helper itself produces openable vaults; edge cases of the rules that must pass. */
	char key255[256], doc[1024];
	memset(key255, 'k', 255);
	key255[255] = '\0';
	snprintf(doc, sizeof(doc), "{\"secrets\":{\"%s\":%s,\".\":%s,\"..\":%s,\"A-z_0.9\":%s}}", key255, REC("\"v\""),
	         REC("\"x\""), REC("\"y\""), REC("\"z\""));
	json_t *secrets = NULL;
	char err[256] = "";
	int rc = open_plain(doc, &secrets, err, sizeof(err));
	if (rc != 0)
		fail_msg("rc %d: %s", rc, err);
	assert_int_equal(json_object_size(secrets), 4);
	assert_string_equal(json_string_value(json_object_get(json_object_get(secrets, key255), "value")), "v");
	json_decref(secrets);

	/* Missing metadata becomes {}; an empty vault is fine. */
	rc = open_plain(DOC("{\"K\":{\"value\":\"v\"}}"), &secrets, err, sizeof(err));
	if (rc != 0)
		fail_msg("rc %d: %s", rc, err);
	json_t *meta = json_object_get(json_object_get(secrets, "K"), "metadata");
	assert_true(json_is_object(meta));
	assert_int_equal(json_object_size(meta), 0);
	json_decref(secrets);

	rc = open_plain(DOC("{}"), &secrets, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(json_object_size(secrets), 0);
	json_decref(secrets);
}

static void test_sealed_malformed(void **state)
{
	char key256[257], long_doc[1024];
	memset(key256, 'k', 256);
	key256[256] = '\0';
	snprintf(long_doc, sizeof(long_doc), "{\"secrets\":{\"%s\":%s}}", key256, REC("\"v\""));
	const char *docs[] = {
		DOC("{\"bad key!\":" REC("\"v\"") "}"),
		DOC("{\"\":" REC("\"v\"") "}"),
		DOC("{\"a/b\":" REC("\"v\"") "}"),
		DOC("{\"good\":" REC("\"v\"") ",\"\\u043a\\u043b\\u044e\\u0447\":" REC("\"v\"") "}"),
		DOC("{\"tab\\tkey\":" REC("\"v\"") "}"),
		long_doc,
		DOC("{\"K\":" REC("\"\"") "}"),
		DOC("{\"K\":" REC("42") "}"),
		DOC("{\"K\":" REC("null") "}"),
		DOC("{\"K\":{\"metadata\":{}}}"),
		DOC("{\"K\":{\"value\":\"v\",\"metadata\":[]}}"),
		DOC("{\"K\":{\"value\":\"v\",\"metadata\":null}}"),
		DOC("{\"K\":{\"value\":\"v\",\"metadata\":\"m\"}}"),
		DOC("{\"K\":\"just a string\"}"),
		DOC("[]"),
		DOC("null"),
		DOC("{\"K\":" REC("\"v1\"") ",\"K\":" REC("\"v2\"") "}"), /* duplicate key */
		"{\"metadata\":{\"version\":1}}",
		"[]",
		"\"secrets\"",
		"{\"secrets\":{}",
		"not json at all: bad key!",
		"{\"secrets\":{}} trailing",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		json_t *secrets = (json_t *)1;
		char err[256] = "";
		int rc = open_plain(docs[i], &secrets, err, sizeof(err));
		if (rc != -2)
			fail_msg("case %zu (%.80s): rc %d (%s)", i, docs[i], rc, err);
		assert_null(secrets);
		assert_true(err[0] != '\0');
		/* The reason never quotes the plaintext. */
		assert_null(strstr(err, "bad key"));
		assert_null(strstr(err, "just a string"));
	}
}

int main(void)
{
	if (zk_mem_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_checks),
		cmocka_unit_test(test_fixture_opens),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_check_missing_fields),
		cmocka_unit_test(test_check_version_format),
		cmocka_unit_test(test_check_kdf_params),
		cmocka_unit_test(test_check_sizes),
		cmocka_unit_test(test_check_base64),
		cmocka_unit_test(test_check_non_object),
		cmocka_unit_test(test_sealed_valid),
		cmocka_unit_test(test_sealed_malformed),
	};
	return cmocka_run_group_tests(tests, setup_seal, teardown_seal);
}
