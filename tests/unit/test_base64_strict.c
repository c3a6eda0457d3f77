/*
 * Non-ASCII bytes in base64 input are rejected everywhere. libsodium 1.0.18 decodes every byte >= 0x80 as the
 * 63rd alphabet character ('/' or '_'); found by fuzz/fuzz_envelope.c and fuzz/fuzz_token.c (their corpora keep
 * the inputs: fuzz/corpus/envelope/crash-b64-high-byte.txt, fuzz/corpus/token/crash-paserk-high-byte.txt).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/mem.h"
#include "lib/ocmt.h"
#include "lib/paseto.h"

static int setup(void **state)
{
	return zk_mem_init();
}

/* A copy of s with every c replaced by the byte with. */
static char *replace_char(const char *s, char c, unsigned char with)
{
	char *t = strdup(s);
	assert_non_null(t);
	for (char *p = t; *p; p++)
		if (*p == c)
			*p = (char)with;
	return t;
}

static void test_standard_base64(void **state)
{
	unsigned char *buf, id[16];
	size_t n;

	/* The canonical text decodes; the same text with '/' swapped for any byte >= 0x80 does not. */
	assert_int_equal(zk_b64_decode_exact(id, sizeof(id), "jiBKSceWlrwk79Q//bIvdw=="), 0);
	assert_int_equal(zk_b64_decode(&buf, &n, "jiBKSceWlrwk79Q//bIvdw=="), 0);
	free(buf);
	for (unsigned c = 0x80; c <= 0xff; c++) {
		char *t = replace_char("jiBKSceWlrwk79Q//bIvdw==", '/', (unsigned char)c);
		assert_int_equal(zk_b64_decode_exact(id, sizeof(id), t), -1);
		assert_int_equal(zk_b64_decode(&buf, &n, t), -1);
		free(t);
	}
	/* The fuzzer's input. */
	assert_int_equal(zk_b64_decode(&buf, &n, "jiBKSceWlrwk79Q\x87\x8e" "bIvdw=="), -1);
}

static void test_paserk_and_paseto(void **state)
{
	unsigned char pk[32], sk[64], *msg;
	size_t mlen;
	char *token, *footer;

	assert_int_equal(zk_paserk_k4_public_decode(pk, "k4.public.cHFyc3R1dnd4eXp7fH1-f4CBgoOEhYaHiImKi4yNjo8"), 0);
	assert_int_equal(zk_paserk_k4_public_decode(pk, "k4.public.cHFyc3R1dnd4eXp7fH1\xf3" "f4CBgoOEhYaHiImKi4yNjo8"),
			 -1);

	/* A token whose payload holds '_' (0x3f bits) verifies; with a high byte in its place it must not. */
	crypto_sign_keypair(pk, sk);
	static const unsigned char m[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	assert_int_equal(zk_paseto_v4_public_sign(&token, m, sizeof(m), "{\"kid\":\"x\"}", NULL, sk), 0);
	assert_non_null(strchr(token + 10, '_'));
	assert_int_equal(zk_paseto_v4_public_verify(&msg, &mlen, NULL, token, NULL, NULL, pk), 0);
	free(msg);
	char *bad = replace_char(token, '_', 0xdf);
	assert_int_equal(zk_paseto_v4_public_verify(&msg, &mlen, NULL, bad, NULL, NULL, pk), -1);
	assert_int_equal(zk_paseto_footer(&footer, bad), -1);
	free(bad);
	free(token);
}

static void test_ocmt_fields(void **state)
{
	char err[128];
	json_t *env = json_pack("{sisssssss{sssisisisiss}s{ssssss}ss}", "version", 1, "format", "ocmt-group-vault",
				"created", "2024-01-01T00:00:00.000Z", "updated", "2024-01-01T00:00:00.000Z", "kdf",
				"algorithm", "argon2id", "version", 19, "memory", 65536, "iterations", 3, "parallelism",
				4, "salt", "AAAAAAAAAAAAAAAAAAAA/w==", "encryption", "algorithm", "aes-256-gcm", "nonce",
				"AAAAAAAAAAAAAAAA", "tag", "AAAAAAAAAAAAAAAAAAAAAA==", "ciphertext", "AAAA");
	assert_non_null(env);
	assert_int_equal(zk_ocmt_check(env, err, sizeof(err)), 0);
	/* "ÿ" is C3 BF in UTF-8: libsodium 1.0.18 alone reads it as "//", giving "AAAAAAAAAAAAAAAAAAA//w==". */
	assert_int_equal(json_object_set_new(json_object_get(env, "kdf"), "salt",
					     json_string("AAAAAAAAAAAAAAAAAAA\xc3\xbfw==")), 0);
	assert_int_equal(zk_ocmt_check(env, err, sizeof(err)), -1);
	json_decref(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_standard_base64),
		cmocka_unit_test(test_paserk_and_paseto),
		cmocka_unit_test(test_ocmt_fields),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
