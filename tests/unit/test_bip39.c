/* BIP39 (src/lib/bip39.h) against the official vectors (tests/vectors/bip39/vectors.json, Trezor's python-mnemonic),
   plus the refusals a person typing a phrase will meet. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "lib/bip39.h"
#include "lib/bip39_english.h"
#include "lib/mem.h"

#define VECTORS ZK_VECTORS "/bip39/vectors.json"
#define ZERO_12 "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

static json_t *english_vectors(void)
{
	json_error_t jerr;
	json_t *doc = json_load_file(VECTORS, 0, &jerr);
	if (!doc)
		fail_msg("cannot load %s: %s", VECTORS, jerr.text);
	json_t *en = json_incref(json_object_get(doc, "english"));
	json_decref(doc);
	assert_non_null(en);
	assert_int_equal(json_array_size(en), 24);
	return en;
}

static void hex(unsigned char *out, size_t outlen, size_t *len, const char *h)
{
	assert_int_equal(sodium_hex2bin(out, outlen, h, strlen(h), NULL, len, NULL), 0);
}

/* ---------------------------------------------------------------- vectors */

static void test_wordlist(void **state)
{
	/* The generated header is the list the vectors use: spot-check both ends and the ordering. */
	assert_string_equal(bip39_english[0], "abandon");
	assert_string_equal(bip39_english[3], "about");
	assert_string_equal(bip39_english[2047], "zoo");
	for (size_t i = 1; i < ZK_BIP39_WORDS; i++)
		assert_true(strcmp(bip39_english[i - 1], bip39_english[i]) < 0);
}

static void test_vectors_entropy_to_mnemonic(void **state)
{
	json_t *en = english_vectors();
	size_t i;
	json_t *v;
	json_array_foreach(en, i, v) {
		unsigned char ent[ZK_BIP39_ENTROPY_MAX];
		size_t entlen = 0;
		char m[ZK_BIP39_MNEMONIC_MAX];
		hex(ent, sizeof(ent), &entlen, json_string_value(json_array_get(v, 0)));
		assert_int_equal(zk_bip39_from_entropy(m, sizeof(m), ent, entlen), 0);
		assert_string_equal(m, json_string_value(json_array_get(v, 1)));
		/* Exactly the needed size is enough; one byte less is refused and writes nothing. */
		size_t need = strlen(m) + 1;
		char exact[ZK_BIP39_MNEMONIC_MAX];
		assert_int_equal(zk_bip39_from_entropy(exact, need, ent, entlen), 0);
		assert_string_equal(exact, m);
		memset(exact, 'x', sizeof(exact));
		assert_int_equal(zk_bip39_from_entropy(exact, need - 1, ent, entlen), -1);
		assert_int_equal(exact[0], 'x');
	}
	json_decref(en);
}

static void test_vectors_mnemonic_to_entropy(void **state)
{
	json_t *en = english_vectors();
	size_t i;
	json_t *v;
	json_array_foreach(en, i, v) {
		unsigned char want[ZK_BIP39_ENTROPY_MAX], got[ZK_BIP39_ENTROPY_MAX];
		size_t wantlen = 0, gotlen = sizeof(got);
		struct zk_bip39_error err;
		hex(want, sizeof(want), &wantlen, json_string_value(json_array_get(v, 0)));
		assert_int_equal(zk_bip39_to_entropy(got, &gotlen, json_string_value(json_array_get(v, 1)), &err), 0);
		assert_int_equal(err.code, ZK_BIP39_OK);
		assert_int_equal(gotlen, wantlen);
		assert_memory_equal(got, want, wantlen);
	}
	json_decref(en);
}

static void test_vectors_seed(void **state)
{
	json_t *en = english_vectors();
	size_t i;
	json_t *v;
	json_array_foreach(en, i, v) {
		unsigned char want[ZK_BIP39_SEED_BYTES], seed[ZK_BIP39_SEED_BYTES];
		size_t wantlen = 0;
		hex(want, sizeof(want), &wantlen, json_string_value(json_array_get(v, 2)));
		assert_int_equal(wantlen, ZK_BIP39_SEED_BYTES);
		assert_int_equal(zk_bip39_seed(seed, json_string_value(json_array_get(v, 1)), "TREZOR"), 0);
		assert_memory_equal(seed, want, sizeof(seed));
	}
	json_decref(en);
}

/* OCMT's vector (ocmt-mesh.md §3.2): empty passphrase; OCMT keeps the first 32 bytes as its AES key. */
static void test_ocmt_empty_passphrase(void **state)
{
	unsigned char seed[ZK_BIP39_SEED_BYTES], want[32];
	size_t wantlen = 0;
	hex(want, sizeof(want), &wantlen, "5eb00bbddcf069084889a8ab9155568165f5c453ccb85e70811aaed6f6da5fc1");
	assert_int_equal(zk_bip39_seed(seed, ZERO_12, ""), 0);
	assert_memory_equal(seed, want, 32);
	unsigned char seed_null[ZK_BIP39_SEED_BYTES];
	assert_int_equal(zk_bip39_seed(seed_null, ZERO_12, NULL), 0);
	assert_memory_equal(seed_null, seed, sizeof(seed));
	/* zk-auth.md §3.7's vector. */
	unsigned char trezor[ZK_BIP39_SEED_BYTES];
	hex(trezor, sizeof(trezor), &wantlen,
	    "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4a"
	    "b7c81b2f001698e7463b04");
	assert_int_equal(zk_bip39_seed(seed, ZERO_12, "TREZOR"), 0);
	assert_memory_equal(seed, trezor, sizeof(seed));
}

/* ---------------------------------------------------------------- normalisation */

static void test_whitespace_and_case(void **state)
{
	static const char *const variants[] = {
		"  ABANDON abandon\tabandon\n\nabandon abandon   abandon abandon abandon abandon abandon abandon About \r\n",
		"Abandon Abandon Abandon Abandon Abandon Abandon Abandon Abandon Abandon Abandon Abandon About",
		"abandon\vabandon\fabandon abandon abandon abandon abandon abandon abandon abandon abandon ABOUT",
	};
	unsigned char canon_seed[ZK_BIP39_SEED_BYTES];
	assert_int_equal(zk_bip39_seed(canon_seed, ZERO_12, "TREZOR"), 0);
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		unsigned char ent[16] = {0xff}, zero[16] = {0}, seed[ZK_BIP39_SEED_BYTES];
		size_t len = sizeof(ent);
		assert_int_equal(zk_bip39_to_entropy(ent, &len, variants[i], NULL), 0);
		assert_int_equal(len, 16);
		assert_memory_equal(ent, zero, 16);
		/* The seed is taken over the canonical sentence, so these give the vector's seed too. */
		assert_int_equal(zk_bip39_seed(seed, variants[i], "TREZOR"), 0);
		assert_memory_equal(seed, canon_seed, sizeof(seed));
	}
}

/* ---------------------------------------------------------------- refusals */

static void expect_refused(const char *m, enum zk_bip39_code code, struct zk_bip39_error *err)
{
	unsigned char ent[ZK_BIP39_ENTROPY_MAX], before[ZK_BIP39_ENTROPY_MAX];
	size_t len = sizeof(ent);
	memset(ent, 0xa5, sizeof(ent));
	memcpy(before, ent, sizeof(ent));
	assert_int_equal(zk_bip39_to_entropy(ent, &len, m, err), -1);
	assert_int_equal(err->code, code);
	assert_int_equal(len, sizeof(ent));
	assert_memory_equal(ent, before, sizeof(ent));
	assert_non_null(memchr(err->msg, '\0', sizeof(err->msg)));
	assert_true(strlen(err->msg) > 0);
	unsigned char seed[ZK_BIP39_SEED_BYTES] = {0};
	assert_int_equal(zk_bip39_seed(seed, m, ""), -1);
}

static void test_wrong_word(void **state)
{
	struct zk_bip39_error err;
	expect_refused("abandon abandon abandon abandon abandn abandon abandon abandon abandon abandon abandon about",
		       ZK_BIP39_UNKNOWN_WORD, &err);
	assert_int_equal(err.word_index, 5);
	assert_int_equal(err.word_count, 12);
	assert_string_equal(err.word, "abandn");
	assert_string_equal(err.suggestion, "abandon");
	assert_string_equal(err.msg, "word 5 \"abandn\" is not in the BIP39 English list (did you mean \"abandon\"?)");

	/* A transposition is one edit; case is kept in the quote but folded for the suggestion. */
	expect_refused("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon Aobut",
		       ZK_BIP39_UNKNOWN_WORD, &err);
	assert_int_equal(err.word_index, 12);
	assert_string_equal(err.suggestion, "about");
	assert_string_equal(err.msg, "word 12 \"Aobut\" is not in the BIP39 English list (did you mean \"about\"?)");

	/* A 4-letter prefix is not accepted, but it suggests its word. */
	expect_refused("aban abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
		       ZK_BIP39_UNKNOWN_WORD, &err);
	assert_int_equal(err.word_index, 1);
	assert_string_equal(err.suggestion, "abandon");

	/* Nothing close: no suggestion. */
	expect_refused("abandon xxxxxxxxxxxx abandon", ZK_BIP39_UNKNOWN_WORD, &err);
	assert_int_equal(err.word_index, 2);
	assert_string_equal(err.suggestion, "");
	assert_string_equal(err.msg, "word 2 \"xxxxxxxxxxxx\" is not in the BIP39 English list");

	/* Cyrillic 'а' (U+0430) in "аbandon": not ASCII, so not the word; the quote shows '?' for its bytes. */
	expect_refused("\xd0\xb0" "bandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
		       "about",
		       ZK_BIP39_UNKNOWN_WORD, &err);
	assert_int_equal(err.word_index, 1);
	assert_string_equal(err.word, "??bandon");

	/* Punctuation glued to a word (a comma-separated paste) is part of the word. */
	expect_refused("abandon, abandon", ZK_BIP39_UNKNOWN_WORD, &err);
	assert_string_equal(err.word, "abandon,");

	/* A control sequence or a quote in the typed word cannot leak into the message. */
	expect_refused("ab\x1b[31mandon\"", ZK_BIP39_UNKNOWN_WORD, &err);
	assert_null(strchr(err.msg, '\x1b'));
	assert_string_equal(err.word, "ab?[31mandon?");

	/* Long garbage is cut in the quote. */
	expect_refused("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ZK_BIP39_UNKNOWN_WORD, &err);
	assert_string_equal(err.word, "aaaaaaaaaaaaaaaaaaaaaaaa...");
}

static void test_wrong_checksum(void **state)
{
	struct zk_bip39_error err;
	/* The last word carries the checksum: "abandon" instead of "about". */
	expect_refused("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon",
		       ZK_BIP39_CHECKSUM, &err);
	assert_int_equal(err.word_index, 0);
	assert_int_equal(err.word_count, 12);
	assert_non_null(strstr(err.msg, "checksum"));
	/* Two valid words swapped. */
	expect_refused("legal winner thank year wave sausage worth useful legal winner yellow thank", ZK_BIP39_CHECKSUM,
		       &err);
	/* The 24-word all-zero vector with the wrong last word. */
	expect_refused("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
		       "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
		       ZK_BIP39_CHECKSUM, &err);
	assert_int_equal(err.word_count, 24);
}

static void test_wrong_count(void **state)
{
	struct zk_bip39_error err;
	expect_refused("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
		       ZK_BIP39_WORD_COUNT, &err);
	assert_int_equal(err.word_count, 11);
	assert_string_equal(err.msg, "expected 12 words (or 15, 18, 21, 24), got 11");
	expect_refused(ZERO_12 " abandon", ZK_BIP39_WORD_COUNT, &err);
	assert_int_equal(err.word_count, 13);
	char many[27 * 8 + 1] = "";
	for (int i = 0; i < 27; i++)
		strcat(many, "abandon ");
	expect_refused(many, ZK_BIP39_WORD_COUNT, &err);
	assert_int_equal(err.word_count, 27);
	expect_refused("", ZK_BIP39_EMPTY, &err);
	expect_refused(" \t\n ", ZK_BIP39_EMPTY, &err);
	assert_int_equal(err.word_count, 0);
}

static void test_buffer_too_small(void **state)
{
	/* A valid 24-word phrase into a 16-byte buffer (the vault's 12-word recovery) is refused, not truncated. */
	struct zk_bip39_error err;
	unsigned char ent[16];
	size_t len = sizeof(ent);
	const char *m24 = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
			  "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art";
	assert_int_equal(zk_bip39_to_entropy(ent, &len, m24, &err), -1);
	assert_int_equal(err.code, ZK_BIP39_TOO_LONG);
	assert_int_equal(len, 16);
	len = sizeof(ent);
	assert_int_equal(zk_bip39_to_entropy(ent, &len, ZERO_12, &err), 0);
	assert_int_equal(len, 16);
}

static void test_bad_inputs(void **state)
{
	char m[ZK_BIP39_MNEMONIC_MAX];
	unsigned char ent[33] = {0}, seed[ZK_BIP39_SEED_BYTES];
	static const size_t bad[] = {0, 12, 15, 17, 31, 33};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(zk_bip39_from_entropy(m, sizeof(m), ent, bad[i]), -1);
	/* Non-ASCII passphrases are refused rather than mis-normalised; ASCII ones with any printable byte are fine. */
	assert_int_equal(zk_bip39_seed(seed, ZERO_12, "caf\xc3\xa9"), -1);
	assert_int_equal(zk_bip39_seed(seed, ZERO_12, "p@ss w0rd!~"), 0);
	char longpass[ZK_BIP39_PASSPHRASE_MAX + 2];
	memset(longpass, 'a', sizeof(longpass) - 1);
	longpass[sizeof(longpass) - 1] = '\0';
	assert_int_equal(zk_bip39_seed(seed, ZERO_12, longpass), -1);
	longpass[ZK_BIP39_PASSPHRASE_MAX] = '\0';
	assert_int_equal(zk_bip39_seed(seed, ZERO_12, longpass), 0);
}

static void test_random_round_trip(void **state)
{
	for (int i = 0; i < 200; i++) {
		size_t len = 16 + 4 * (size_t)(i % 5);
		unsigned char ent[ZK_BIP39_ENTROPY_MAX], back[ZK_BIP39_ENTROPY_MAX];
		size_t backlen = sizeof(back);
		char m[ZK_BIP39_MNEMONIC_MAX];
		randombytes_buf(ent, len);
		assert_int_equal(zk_bip39_from_entropy(m, sizeof(m), ent, len), 0);
		assert_int_equal(zk_bip39_to_entropy(back, &backlen, m, NULL), 0);
		assert_int_equal(backlen, len);
		assert_memory_equal(back, ent, len);
	}
}

int main(void)
{
	if (zk_mem_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wordlist),
		cmocka_unit_test(test_vectors_entropy_to_mnemonic),
		cmocka_unit_test(test_vectors_mnemonic_to_entropy),
		cmocka_unit_test(test_vectors_seed),
		cmocka_unit_test(test_ocmt_empty_passphrase),
		cmocka_unit_test(test_whitespace_and_case),
		cmocka_unit_test(test_wrong_word),
		cmocka_unit_test(test_wrong_checksum),
		cmocka_unit_test(test_wrong_count),
		cmocka_unit_test(test_buffer_too_small),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_random_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
