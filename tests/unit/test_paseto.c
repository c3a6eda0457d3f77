/*
 * PASETO v4.public and PASERK k4.public / k4.pid.
 *
 * Vectors: tests/vectors/paseto/{v4.json,k4.public.json,k4.pid.json}, unchanged from
 * github.com/paseto-standard/test-vectors at 32d7406591eb022f9eff88abb84106dd9d42c0f2 (ISC; see
 * tests/vectors/README.md).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "vectors.h"
#include "lib/paseto.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

static json_t *load(const char *name)
{
	return vec_load("paseto", name);
}

/* The only way to get a key into the fixed-size API: anything but exactly 32 bytes is refused here. */
static int key32_from_hex(unsigned char key[32], const char *hex)
{
	unsigned char *b;
	size_t n = vec_unhex(&b, hex);
	int rc = -1;
	if (n == 32) {
		memcpy(key, b, 32);
		rc = 0;
	}
	free(b);
	return rc;
}

static char *b64(const unsigned char *bin, size_t len, int variant)
{
	size_t n = sodium_base64_encoded_len(len, variant);
	char *s = malloc(n);
	assert_non_null(s);
	sodium_bin2base64(s, n, bin, len, variant);
	return s;
}

static char *concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);
	assert_non_null(s);
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

/* Verify must fail and leave every output untouched. */
static void expect_reject(const char *token, const char *expected_footer, const char *implicit,
                          const unsigned char pk[32])
{
	unsigned char *const m_sentinel = (unsigned char *)(uintptr_t)0x1;
	char *const f_sentinel = (char *)(uintptr_t)0x2;
	unsigned char *m = m_sentinel;
	size_t m_len = 12345;
	char *f = f_sentinel;
	assert_int_equal(zk_paseto_v4_public_verify(&m, &m_len, &f, token, expected_footer, implicit, pk), -1);
	assert_ptr_equal(m, m_sentinel);
	assert_int_equal(m_len, 12345);
	assert_ptr_equal(f, f_sentinel);
}

static void expect_accept(const char *token, const char *expected_footer, const char *implicit,
                          const unsigned char pk[32], const unsigned char *want, size_t want_len,
                          const char *want_footer)
{
	unsigned char *m = NULL;
	size_t m_len = 0;
	char *f = NULL;
	assert_int_equal(zk_paseto_v4_public_verify(&m, &m_len, &f, token, expected_footer, implicit, pk), 0);
	assert_int_equal(m_len, want_len);
	assert_memory_equal(m, want, want_len);
	assert_int_equal(m[m_len], '\0');
	assert_string_equal(f, want_footer);
	free(m);
	free(f);
	/* footer out-parameter is optional */
	assert_int_equal(zk_paseto_v4_public_verify(&m, &m_len, NULL, token, expected_footer, implicit, pk), 0);
	free(m);
}

/* ---- v4.json ---------------------------------------------------------------------------------------------- */

static void test_v4_vectors(void **state)
{
	json_t *root = load("v4.json");
	json_t *tests = json_object_get(root, "tests");
	size_t i, signed_ok = 0, public_fail = 0, other_rejected = 0;
	json_t *t;

	json_array_foreach(tests, i, t) {
		const char *name = vec_str(t, "name");
		const char *token = vec_str(t, "token");
		const char *footer = vec_str(t, "footer");
		const char *implicit = vec_str(t, "implicit-assertion");
		int expect_fail = json_is_true(json_object_get(t, "expect-fail"));
		const char *pk_hex = json_string_value(json_object_get(t, "public-key"));
		int is_public = pk_hex != NULL || strncmp(token, "v4.public.", 10) == 0;
		unsigned char pk[32];

		if (!is_public) {
			/* v4.local / v3 vectors: a v4.public verifier must refuse every one of them, whatever the key. */
			assert_int_equal(key32_from_hex(pk, vec_str(t, "key")), 0);
			expect_reject(token, NULL, implicit, pk);
			expect_reject(token, footer, implicit, pk);
			other_rejected++;
			continue;
		}

		/* 4-F-2 is a v4.public token that carries only a symmetric "key": used as a public key it must fail. */
		assert_int_equal(key32_from_hex(pk, pk_hex ? pk_hex : vec_str(t, "key")), 0);
		if (expect_fail) {
			expect_reject(token, NULL, implicit, pk);
			expect_reject(token, footer, implicit, pk);
			expect_reject(token, footer, NULL, pk);
			char *f = NULL;
			if (strncmp(token, "v4.public.", 10) != 0)
				assert_int_equal(zk_paseto_footer(&f, token), -1);
			public_fail++;
			continue;
		}

		const char *payload = vec_str(t, "payload");
		unsigned char *sk;
		assert_int_equal(vec_unhex(&sk, vec_str(t, "secret-key")), 64);

		char *got = NULL;
		assert_int_equal(zk_paseto_v4_public_sign(&got, (const unsigned char *)payload, strlen(payload), footer,
		                                          implicit, sk),
		                 0);
		if (strcmp(got, token) != 0)
			fail_msg("%s: signed token differs\n got  %s\n want %s", name, got, token);
		free(got);

		expect_accept(token, footer, implicit, pk, (const unsigned char *)payload, strlen(payload), footer);
		expect_accept(token, NULL, implicit, pk, (const unsigned char *)payload, strlen(payload), footer);

		char *f = NULL;
		assert_int_equal(zk_paseto_footer(&f, token), 0);
		assert_string_equal(f, footer);
		free(f);

		/* The same vector with the wrong implicit assertion, footer or key fails. */
		expect_reject(token, footer, "{\"test-vector\":\"other\"}", pk);
		expect_reject(token, "{\"kid\":\"other\"}", implicit, pk);
		unsigned char pk2[32];
		memcpy(pk2, pk, 32);
		pk2[0] ^= 1;
		expect_reject(token, footer, implicit, pk2);

		free(sk);
		signed_ok++;
	}
	print_message("v4.json: %zu v4.public sign+verify, %zu v4.public expect-fail, %zu local/v3 rejected\n",
	              signed_ok, public_fail, other_rejected);
	assert_int_equal(signed_ok, 3);   /* 4-S-1..3 */
	assert_int_equal(public_fail, 2); /* 4-F-1 (v4.local token, public key), 4-F-2 (v4.public, local key) */
	assert_int_equal(signed_ok + public_fail + other_rejected, json_array_size(tests));
	json_decref(root);
}

/* ---- PASERK ----------------------------------------------------------------------------------------------- */

/* For an expect-fail vector whose key has the wrong size: it cannot enter the 32-byte API, and its bytes
 * wrapped as a k4.public PASERK are refused by the decoder. */
static void paserk_wrong_size_key(const char *hex)
{
	unsigned char key[32];
	assert_int_equal(key32_from_hex(key, hex), -1);
	unsigned char *b;
	size_t n = vec_unhex(&b, hex);
	assert_int_not_equal(n, 32);
	char *enc = b64(b, n, B64);
	char *paserk = concat("k4.public.", enc);
	unsigned char pk[32] = { 0 };
	assert_int_equal(zk_paserk_k4_public_decode(pk, paserk), -1);
	assert_true(sodium_is_zero(pk, 32));
	free(paserk);
	free(enc);
	free(b);
}

static void test_k4_public_vectors(void **state)
{
	json_t *root = load("k4.public.json");
	json_t *tests = json_object_get(root, "tests");
	size_t i, ok = 0, failed = 0;
	json_t *t;
	json_array_foreach(tests, i, t) {
		const char *hex = vec_str(t, "key");
		if (json_is_true(json_object_get(t, "expect-fail"))) {
			paserk_wrong_size_key(hex);
			failed++;
			continue;
		}
		const char *want = vec_str(t, "paserk");
		unsigned char key[32], back[32];
		char out[ZK_PASERK_K4_PUBLIC_MAX];
		assert_int_equal(key32_from_hex(key, hex), 0);
		assert_int_equal(zk_paserk_k4_public(out, key), 0);
		assert_string_equal(out, want);
		assert_int_equal(zk_paserk_k4_public_decode(back, want), 0);
		assert_memory_equal(back, key, 32);

		/* Wrong version / type, padding, standard alphabet, truncation, trailing bytes. */
		char *bad = strdup(want);
		assert_non_null(bad);
		bad[1] = '3';
		assert_int_equal(zk_paserk_k4_public_decode(back, bad), -1);
		free(bad);
		char *padded = concat(want, "=");
		assert_int_equal(zk_paserk_k4_public_decode(back, padded), -1);
		free(padded);
		char *trunc = strdup(want);
		assert_non_null(trunc);
		trunc[strlen(trunc) - 1] = '\0';
		assert_int_equal(zk_paserk_k4_public_decode(back, trunc), -1);
		free(trunc);
		char *std = b64(key, 32, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
		char *std_paserk = concat("k4.public.", std);
		if (strcmp(std_paserk, want) != 0) /* only where the key's encoding has '+' or '/' */
			assert_int_equal(zk_paserk_k4_public_decode(back, std_paserk), -1);
		free(std_paserk);
		free(std);
		char pid[ZK_PASERK_K4_PID_MAX];
		assert_int_equal(zk_paserk_k4_pid(pid, key), 0);
		assert_int_equal(zk_paserk_k4_public_decode(back, pid), -1);
		ok++;
	}
	json_decref(root);
	print_message("k4.public.json: %zu encoded+decoded, %zu expect-fail rejected\n", ok, failed);
	assert_int_equal(ok, 3);
	assert_int_equal(failed, 1);
}

static void test_k4_pid_vectors(void **state)
{
	json_t *root = load("k4.pid.json");
	json_t *tests = json_object_get(root, "tests");
	size_t i, ok = 0, failed = 0;
	json_t *t;
	json_array_foreach(tests, i, t) {
		const char *hex = vec_str(t, "key");
		if (json_is_true(json_object_get(t, "expect-fail"))) {
			paserk_wrong_size_key(hex);
			failed++;
			continue;
		}
		unsigned char key[32];
		char out[ZK_PASERK_K4_PID_MAX];
		assert_int_equal(key32_from_hex(key, hex), 0);
		assert_int_equal(zk_paserk_k4_pid(out, key), 0);
		assert_string_equal(out, vec_str(t, "paserk"));
		ok++;
	}
	json_decref(root);
	print_message("k4.pid.json: %zu ids, %zu expect-fail rejected\n", ok, failed);
	assert_int_equal(ok, 3);
	assert_int_equal(failed, 2);
}

/* ---- tampering -------------------------------------------------------------------------------------------- */

static unsigned char tpk[32], tsk[64];

static int setup_keys(void **state)
{
	unsigned char seed[32];
	for (int i = 0; i < 32; i++)
		seed[i] = (unsigned char)(0xa0 + i);
	return crypto_sign_ed25519_seed_keypair(tpk, tsk, seed);
}

/* 70 bytes: 70 + 64 is not a multiple of 3, so the padded encoding of m || sig really differs. */
static const char MSG[] = "{\"sub\":\"alice\",\"scope\":\"vault:read\",\"exp\":\"2030-01-01T00:00:00+00:00\"}";
static const char FOOTER[] = "{\"kid\":\"k4.pid.test\"}";
static const char IMPLICIT[] = "{\"aud\":\"zkvault\"}";

/* Out-parameter rather than a return value: GCC 12 -Wdangling-pointer misreads the latter after inlining. */
static void sign_default(char **tok)
{
	*tok = NULL;
	assert_int_equal(
	    zk_paseto_v4_public_sign(tok, (const unsigned char *)MSG, strlen(MSG), FOOTER, IMPLICIT, tsk), 0);
}

static void test_roundtrip(void **state)
{
	char *tok;
	sign_default(&tok);
	expect_accept(tok, FOOTER, IMPLICIT, tpk, (const unsigned char *)MSG, strlen(MSG), FOOTER);
	expect_accept(tok, NULL, IMPLICIT, tpk, (const unsigned char *)MSG, strlen(MSG), FOOTER);
	free(tok);

	/* NULL footer/implicit mean empty; no footer means no '.' part. */
	assert_int_equal(zk_paseto_v4_public_sign(&tok, (const unsigned char *)MSG, strlen(MSG), NULL, NULL, tsk), 0);
	assert_null(strchr(tok + strlen("v4.public."), '.'));
	expect_accept(tok, "", "", tpk, (const unsigned char *)MSG, strlen(MSG), "");
	expect_accept(tok, NULL, NULL, tpk, (const unsigned char *)MSG, strlen(MSG), "");
	char *tok2 = NULL;
	assert_int_equal(zk_paseto_v4_public_sign(&tok2, (const unsigned char *)MSG, strlen(MSG), "", "", tsk), 0);
	assert_string_equal(tok, tok2);
	free(tok2);
	free(tok);

	/* Empty message; binary message with NUL bytes. */
	assert_int_equal(zk_paseto_v4_public_sign(&tok, NULL, 0, NULL, NULL, tsk), 0);
	expect_accept(tok, NULL, NULL, tpk, (const unsigned char *)"", 0, "");
	free(tok);
	const unsigned char bin[] = { 0, 1, 2, 0, 0xff, 0 };
	assert_int_equal(zk_paseto_v4_public_sign(&tok, bin, sizeof bin, NULL, NULL, tsk), 0);
	expect_accept(tok, NULL, NULL, tpk, bin, sizeof bin, "");
	free(tok);

	/* Bad arguments. */
	assert_int_equal(zk_paseto_v4_public_sign(NULL, bin, sizeof bin, NULL, NULL, tsk), -1);
	assert_int_equal(zk_paseto_v4_public_sign(&tok, NULL, 3, NULL, NULL, tsk), -1);
	assert_int_equal(zk_paseto_v4_public_sign(&tok, bin, sizeof bin, NULL, NULL, NULL), -1);
	expect_reject(NULL, NULL, NULL, tpk);
}

static void test_flip_every_char(void **state)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *tok;
	sign_default(&tok);
	size_t n = strlen(tok);
	for (size_t i = 0; i < n; i++) {
		char saved = tok[i];
		/* Replace with the next character of the alphabet (a different one, valid wherever base64 is). */
		const char *at = strchr(alphabet, saved);
		tok[i] = at ? alphabet[((size_t)(at - alphabet) + 1) % 64] : 'A';
		expect_reject(tok, NULL, IMPLICIT, tpk);
		expect_reject(tok, FOOTER, IMPLICIT, tpk);
		tok[i] = saved;
	}
	/* Flip one bit of each decoded byte of the payload (m || sig) and re-encode canonically. */
	const char *payload = tok + strlen("v4.public.");
	const char *dot = strchr(payload, '.');
	assert_non_null(dot);
	unsigned char body[512];
	size_t body_len = 0;
	assert_int_equal(sodium_base642bin(body, sizeof body, payload, (size_t)(dot - payload), NULL, &body_len, NULL,
	                                   B64),
	                 0);
	for (size_t i = 0; i < body_len; i++) {
		body[i] ^= 0x01;
		char *enc = b64(body, body_len, B64);
		char *t1 = concat("v4.public.", enc);
		char *t2 = concat(t1, dot);
		expect_reject(t2, NULL, IMPLICIT, tpk);
		free(t2);
		free(t1);
		free(enc);
		body[i] ^= 0x01;
	}
	expect_accept(tok, FOOTER, IMPLICIT, tpk, (const unsigned char *)MSG, strlen(MSG), FOOTER);
	free(tok);
}

static void test_wrong_footer(void **state)
{
	char *tok;
	sign_default(&tok);
	expect_reject(tok, "", IMPLICIT, tpk);
	expect_reject(tok, "{\"kid\":\"k4.pid.tesT\"}", IMPLICIT, tpk);
	expect_reject(tok, "{\"kid\":\"k4.pid.test\"} ", IMPLICIT, tpk);
	expect_reject(tok, "{\"kid\":\"k4.pid.test\"", IMPLICIT, tpk);

	/* Swap in another footer (validly encoded) without re-signing: signature covers the footer. */
	char *dot = strrchr(tok, '.');
	*dot = '\0';
	const char other[] = "{\"kid\":\"k4.pid.evil\"}";
	char *enc = b64((const unsigned char *)other, strlen(other), B64);
	char *t1 = concat(tok, ".");
	char *t2 = concat(t1, enc);
	expect_reject(t2, NULL, IMPLICIT, tpk);
	expect_reject(t2, other, IMPLICIT, tpk);
	/* Strip the footer entirely. */
	expect_reject(tok, NULL, IMPLICIT, tpk);
	expect_reject(tok, "", IMPLICIT, tpk);
	/* A '.' with nothing after it, and two footers. */
	char *t3 = concat(tok, ".");
	expect_reject(t3, NULL, IMPLICIT, tpk);
	char *f = NULL;
	assert_int_equal(zk_paseto_footer(&f, t3), -1);
	*dot = '.';
	char *t4 = concat(tok, ".");
	char *t5 = concat(t4, enc);
	expect_reject(t5, NULL, IMPLICIT, tpk);
	assert_int_equal(zk_paseto_footer(&f, t5), -1);
	free(t5);
	free(t4);
	free(t3);
	free(t2);
	free(t1);
	free(enc);

	/* A footer that decodes to bytes with a NUL in them is refused (it could not be returned as a string). */
	const unsigned char nul_footer[] = { 'a', 0, 'b' };
	char *fenc = b64(nul_footer, sizeof nul_footer, B64);
	char *plain = NULL;
	assert_int_equal(zk_paseto_v4_public_sign(&plain, (const unsigned char *)MSG, strlen(MSG), NULL, NULL, tsk), 0);
	char *p1 = concat(plain, ".");
	char *p2 = concat(p1, fenc);
	expect_reject(p2, NULL, NULL, tpk);
	assert_int_equal(zk_paseto_footer(&f, p2), -1);
	free(p2);
	free(p1);
	free(plain);
	free(fenc);
	free(tok);
}

static void test_wrong_implicit(void **state)
{
	char *tok;
	sign_default(&tok);
	expect_reject(tok, FOOTER, NULL, tpk);
	expect_reject(tok, FOOTER, "", tpk);
	expect_reject(tok, FOOTER, "{\"aud\":\"zkvaulT\"}", tpk);
	expect_reject(tok, FOOTER, "{\"aud\":\"zkvault\"} ", tpk);
	free(tok);

	/* Signed with no implicit assertion, verified with one. */
	assert_int_equal(
	    zk_paseto_v4_public_sign(&tok, (const unsigned char *)MSG, strlen(MSG), FOOTER, NULL, tsk), 0);
	expect_reject(tok, FOOTER, IMPLICIT, tpk);
	free(tok);

	/* Another key. */
	unsigned char pk2[32], sk2[64];
	crypto_sign_ed25519_keypair(pk2, sk2);
	sign_default(&tok);
	expect_reject(tok, FOOTER, IMPLICIT, pk2);
	free(tok);
}

static void test_bad_encoding(void **state)
{
	/* Re-encode m || sig with padding, and with the standard alphabet. Pick a message for which the
	 * encodings really differ (the length leaves a remainder, and '+' or '/' appears). */
	char *tok;
	sign_default(&tok);
	const char *payload = tok + strlen("v4.public.");
	const char *dot = strchr(payload, '.');
	unsigned char body[512];
	size_t body_len = 0;
	assert_int_equal(sodium_base642bin(body, sizeof body, payload, (size_t)(dot - payload), NULL, &body_len, NULL,
	                                   B64),
	                 0);
	assert_int_not_equal(body_len % 3, 0);

	char *padded = b64(body, body_len, sodium_base64_VARIANT_URLSAFE);
	assert_non_null(strchr(padded, '='));
	char *t1 = concat("v4.public.", padded);
	char *t2 = concat(t1, dot);
	expect_reject(t2, FOOTER, IMPLICIT, tpk);
	free(t2);
	free(t1);
	free(padded);

	char *std = b64(body, body_len, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	if (!strpbrk(std, "+/"))
		fail_msg("test key/message give no '+' or '/' in the standard encoding; change MSG");
	t1 = concat("v4.public.", std);
	t2 = concat(t1, dot);
	expect_reject(t2, FOOTER, IMPLICIT, tpk);
	free(t2);
	free(t1);
	free(std);

	/* Padding on the footer part, whitespace, and a non-canonical last character. */
	char *t3 = concat(tok, "=");
	expect_reject(t3, NULL, IMPLICIT, tpk);
	free(t3);
	char *t4 = concat(tok, "\n");
	expect_reject(t4, NULL, IMPLICIT, tpk);
	free(t4);
	char *t5 = strdup(tok);
	assert_non_null(t5);
	t5[strlen("v4.public.") + 3] = ' ';
	expect_reject(t5, NULL, IMPLICIT, tpk);
	free(t5);

	/* Too short: a payload of 63 bytes cannot hold a signature; 0 bytes neither. */
	unsigned char shortbody[63];
	memset(shortbody, 0x42, sizeof shortbody);
	char *s = b64(shortbody, sizeof shortbody, B64);
	char *t6 = concat("v4.public.", s);
	expect_reject(t6, NULL, NULL, tpk);
	char *f = NULL;
	assert_int_equal(zk_paseto_footer(&f, t6), -1);
	free(t6);
	free(s);
	expect_reject("v4.public.", NULL, NULL, tpk);
	expect_reject("v4.public..Zm9v", NULL, NULL, tpk);
	free(tok);
}

static void test_wrong_header(void **state)
{
	char *tok;
	sign_default(&tok);
	const char *rest = tok + strlen("v4.public.");
	const char *headers[] = { "v4.local.", "v3.public.", "v2.public.", "V4.public.", "v4.PUBLIC.", "v4.public",
	                          "v4.publi.", "v4.publicc.", " v4.public.", "", "v4.", "k4.public." };
	for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
		char *t = concat(headers[i], rest);
		expect_reject(t, NULL, IMPLICIT, tpk);
		char *f = NULL;
		assert_int_equal(zk_paseto_footer(&f, t), -1);
		free(t);
	}
	expect_reject("", NULL, NULL, tpk);
	expect_reject("v4.public", NULL, NULL, tpk);
	char *f = NULL;
	assert_int_equal(zk_paseto_footer(&f, ""), -1);
	assert_int_equal(zk_paseto_footer(&f, NULL), -1);
	assert_null(f);
	free(tok);
}

static void test_size_limits(void **state)
{
	/* Largest message whose token is exactly 64 KiB: 10 + ceil(4 * (m + 64) / 3) = 65536 at m = 49080. */
	size_t big = 49080;
	unsigned char *m = malloc(big + 1);
	assert_non_null(m);
	memset(m, 'x', big + 1);
	char *tok = NULL;
	assert_int_equal(zk_paseto_v4_public_sign(&tok, m, big, NULL, NULL, tsk), 0);
	assert_int_equal(strlen(tok), ZK_PASETO_MAX_TOKEN);
	expect_accept(tok, NULL, NULL, tpk, m, big, "");
	char *f = NULL;
	assert_int_equal(zk_paseto_footer(&f, tok), 0);
	assert_string_equal(f, "");
	free(f);
	/* One byte more would make a 65537-character token: refused on both sides. */
	char *tok2 = NULL;
	assert_int_equal(zk_paseto_v4_public_sign(&tok2, m, big + 1, NULL, NULL, tsk), -1);
	assert_null(tok2);
	char *longer = concat(tok, "A");
	expect_reject(longer, NULL, NULL, tpk);
	free(longer);
	/* A footer can push a token over the limit too. */
	assert_int_equal(zk_paseto_v4_public_sign(&tok2, m, big, "k", NULL, tsk), -1);
	free(tok);
	free(m);

	/* A huge token (1 MiB of valid base64url after the header) is refused without being decoded. */
	size_t huge = 1 << 20;
	char *h = malloc(huge + 1);
	assert_non_null(h);
	memset(h, 'A', huge);
	memcpy(h, "v4.public.", 10);
	h[huge] = '\0';
	expect_reject(h, NULL, NULL, tpk);
	assert_int_equal(zk_paseto_footer(&f, h), -1);
	/* An implicit assertion or footer over 64 KiB is refused when signing. */
	char *hi = h + 10; /* 1 MiB - 10 of 'A' */
	assert_int_equal(zk_paseto_v4_public_sign(&tok2, (const unsigned char *)"x", 1, NULL, hi, tsk), -1);
	assert_int_equal(zk_paseto_v4_public_sign(&tok2, (const unsigned char *)"x", 1, hi, NULL, tsk), -1);
	assert_int_equal(zk_paseto_v4_public_sign(&tok2, (const unsigned char *)hi, 70000, NULL, NULL, tsk), -1);
	/* ... and when verifying. */
	char *ok;
	sign_default(&ok);
	expect_reject(ok, NULL, hi, tpk);
	expect_reject(ok, hi, IMPLICIT, tpk);
	free(ok);
	free(h);
}

static void test_footer_precheck(void **state)
{
	char *tok;
	sign_default(&tok);
	char *f = NULL;
	assert_int_equal(zk_paseto_footer(&f, tok), 0);
	assert_string_equal(f, FOOTER);
	free(f);
	/* It does not verify: a token with a garbage signature still yields its footer. */
	char *dot = strrchr(tok, '.');
	dot[-2] = dot[-2] == 'A' ? 'B' : 'A';
	assert_int_equal(zk_paseto_footer(&f, tok), 0);
	assert_string_equal(f, FOOTER);
	free(f);
	expect_reject(tok, NULL, IMPLICIT, tpk);
	assert_int_equal(zk_paseto_footer(NULL, tok), -1);
	free(tok);
}

int main(void)
{
	if (zk_mem_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_vectors),
		cmocka_unit_test(test_k4_public_vectors),
		cmocka_unit_test(test_k4_pid_vectors),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_flip_every_char),
		cmocka_unit_test(test_wrong_footer),
		cmocka_unit_test(test_wrong_implicit),
		cmocka_unit_test(test_bad_encoding),
		cmocka_unit_test(test_wrong_header),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_footer_precheck),
	};
	return cmocka_run_group_tests(tests, setup_keys, NULL);
}
