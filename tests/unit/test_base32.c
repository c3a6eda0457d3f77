/* base32 over liboath and the hardware backup key text (src/lib/base32.h): RFC 4648 §10 vectors and OCMT's key vector
   (shared/reference/ocmt-mesh.md §3.4). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <string.h>

#include "lib/base32.h"
#include "lib/mem.h"

#define OCMT_KEY_TEXT "AAAQ-EAYE-AUDA-OCAJ-BIFQ-YDIO-B4IB-CEQT-CQKR-MFYY-DENB-WHA5-DYPQ"

/* RFC 4648 §10, without the padding. */
static const char *const RFC[][2] = {
	{"", ""},           {"f", "MY"},           {"fo", "MZXQ"},          {"foo", "MZXW6"},
	{"foob", "MZXW6YQ"}, {"fooba", "MZXW6YTB"}, {"foobar", "MZXW6YTBOI"},
};

static void test_rfc4648(void **state)
{
	for (size_t i = 0; i < sizeof(RFC) / sizeof(RFC[0]); i++) {
		const char *in = RFC[i][0], *want = RFC[i][1];
		char out[32];
		assert_int_equal(zk_base32_encode(out, sizeof(out), (const unsigned char *)in, strlen(in)), 0);
		assert_string_equal(out, want);
		assert_int_equal(strlen(want), ZK_BASE32_ENCODED_LEN(strlen(in)));
		/* Exactly enough room, then one byte short. */
		char exact[32];
		assert_int_equal(zk_base32_encode(exact, strlen(want) + 1, (const unsigned char *)in, strlen(in)), 0);
		assert_int_equal(zk_base32_encode(exact, strlen(want), (const unsigned char *)in, strlen(in)), -1);

		unsigned char dec[16];
		size_t declen = sizeof(dec);
		assert_int_equal(zk_base32_decode(dec, &declen, want, strlen(want)), 0);
		assert_int_equal(declen, strlen(in));
		assert_memory_equal(dec, in, declen);
		/* Lower case decodes the same. */
		char lower[32];
		for (size_t j = 0; j <= strlen(want); j++)
			lower[j] = (char)(want[j] >= 'A' && want[j] <= 'Z' ? want[j] | 0x20 : want[j]);
		declen = sizeof(dec);
		assert_int_equal(zk_base32_decode(dec, &declen, lower, strlen(lower)), 0);
		assert_memory_equal(dec, in, declen);
	}
}

static void test_decode_strict(void **state)
{
	static const char *const bad[] = {
		"MY======", /* padding */
		"MZ",       /* non-canonical: the last character's unused bit is set */
		"MZXR",     /* idem */
		"M",        /* lengths no byte string has */
		"MZX",
		"MZXW6Y",
		"MZXW 6",   /* whitespace */
		"MZXW0",    /* 0, 1, 8, 9 are not in the alphabet */
		"MZXW1",
		"MZXW8",
		"MZ-XQ",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char dec[16] = {0x77};
		size_t declen = sizeof(dec);
		assert_int_equal(zk_base32_decode(dec, &declen, bad[i], strlen(bad[i])), -1);
		assert_int_equal(declen, sizeof(dec));
		assert_int_equal(dec[0], 0x77);
	}
	/* Too small an output buffer. */
	unsigned char dec[5];
	size_t declen = 5;
	assert_int_equal(zk_base32_decode(dec, &declen, "MZXW6YTBOI", 10), -1);
	declen = 6;
	unsigned char dec6[6];
	assert_int_equal(zk_base32_decode(dec6, &declen, "MZXW6YTBOI", 10), 0);
}

static void test_hwkey_vector(void **state)
{
	unsigned char key[ZK_HWKEY_BYTES];
	for (int i = 0; i < ZK_HWKEY_BYTES; i++)
		key[i] = (unsigned char)i;
	char text[ZK_HWKEY_TEXT_MAX];
	assert_int_equal(zk_hwkey_encode(text, key), 0);
	assert_string_equal(text, OCMT_KEY_TEXT);
	assert_int_equal(strlen(text) + 1, ZK_HWKEY_TEXT_MAX);

	static const char *const same[] = {
		OCMT_KEY_TEXT,
		"aaaq-eaye-auda-ocaj-bifq-ydio-b4ib-ceqt-cqkr-mfyy-denb-wha5-dypq",
		"AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ",
		"AAAQ EAYE AUDA OCAJ BIFQ YDIO B4IB CEQT CQKR MFYY DENB WHA5 DYPQ",
		"  AaAq-EAYEAUDA--OCAJ\nBIFQ-YDIO-B4IB-CEQT\tCQKR-MFYY-DENB-WHA5-DYPQ\r\n",
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		unsigned char got[ZK_HWKEY_BYTES];
		enum zk_hwkey_error why = ZK_HWKEY_INTERNAL;
		assert_int_equal(zk_hwkey_decode(got, same[i], &why), 0);
		assert_int_equal(why, ZK_HWKEY_OK);
		assert_memory_equal(got, key, sizeof(key));
	}
}

static void test_hwkey_refused(void **state)
{
	static const struct {
		const char *text;
		enum zk_hwkey_error why;
	} bad[] = {
		{"", ZK_HWKEY_BAD_LENGTH},
		{"AAAQ-EAYE-AUDA-OCAJ-BIFQ-YDIO-B4IB-CEQT-CQKR-MFYY-DENB-WHA5-DYP", ZK_HWKEY_BAD_LENGTH},
		{"AAAQ-EAYE-AUDA-OCAJ-BIFQ-YDIO-B4IB-CEQT-CQKR-MFYY-DENB-WHA5-DYPQA", ZK_HWKEY_BAD_LENGTH},
		{"AAAQ-EAYE-AUDA-OCAJ-BIFQ-YDIO-B4IB-CEQT-CQKR-MFYY-DENB-WHA5-DYPQ-AAAQ", ZK_HWKEY_BAD_LENGTH},
		{"AAAQ-EAYE-AUDA-OCAJ-BIF0-YDIO-B4IB-CEQT-CQKR-MFYY-DENB-WHA5-DYPQ", ZK_HWKEY_BAD_CHAR}, /* 0 for Q */
		{"AAAQ-EAYE-AUDA-OCAJ-BIFQ-YDIO-B41B-CEQT-CQKR-MFYY-DENB-WHA5-DYPQ", ZK_HWKEY_BAD_CHAR}, /* 1 for I */
		{"AAAQ-EAYE-AUDA-OCAJ-BIFQ-YDIO-B4IB-CEQT-CQKR-MFYY-DENB-WHA5-DYPQ====", ZK_HWKEY_BAD_CHAR},
		{"AAAQ_EAYE_AUDA_OCAJ_BIFQ_YDIO_B4IB_CEQT_CQKR_MFYY_DENB_WHA5_DYPQ", ZK_HWKEY_BAD_CHAR},
		{"AAAQ-EAYE-AUDA-OCAJ-BIFQ-YDIO-B4IB-CEQT-CQKR-MFYY-DENB-WHA5-DYP\xc3\x9c", ZK_HWKEY_BAD_CHAR},
		{"AAAQ-EAYE-AUDA-OCAJ-BIFQ-YDIO-B4IB-CEQT-CQKR-MFYY-DENB-WHA5-DYPR", ZK_HWKEY_NONCANONICAL},
		{"AAAQ-EAYE-AUDA-OCAJ-BIFQ-YDIO-B4IB-CEQT-CQKR-MFYY-DENB-WHA5-DYP7", ZK_HWKEY_NONCANONICAL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char key[ZK_HWKEY_BYTES];
		memset(key, 0x42, sizeof(key));
		enum zk_hwkey_error why = ZK_HWKEY_OK;
		assert_int_equal(zk_hwkey_decode(key, bad[i].text, &why), -1);
		assert_int_equal(why, bad[i].why);
		for (size_t j = 0; j < sizeof(key); j++)
			assert_int_equal(key[j], 0x42);
		assert_true(strlen(zk_hwkey_strerror(why)) > 0);
	}
	unsigned char key[ZK_HWKEY_BYTES];
	assert_int_equal(zk_hwkey_decode(key, NULL, NULL), -1);
}

static void test_hwkey_round_trip(void **state)
{
	for (int i = 0; i < 256; i++) {
		unsigned char key[ZK_HWKEY_BYTES], back[ZK_HWKEY_BYTES];
		char text[ZK_HWKEY_TEXT_MAX];
		randombytes_buf(key, sizeof(key));
		assert_int_equal(zk_hwkey_encode(text, key), 0);
		/* The UI's pattern: ^[A-Z2-7]{4}(-[A-Z2-7]{4})*$ with 13 groups. */
		assert_int_equal(strlen(text), 64);
		for (size_t j = 0; j < 64; j++) {
			if (j % 5 == 4)
				assert_int_equal(text[j], '-');
			else
				assert_true((text[j] >= 'A' && text[j] <= 'Z') || (text[j] >= '2' && text[j] <= '7'));
		}
		assert_int_equal(zk_hwkey_decode(back, text, NULL), 0);
		assert_memory_equal(back, key, sizeof(key));
	}
}

int main(void)
{
	if (zk_mem_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648),
		cmocka_unit_test(test_decode_strict),
		cmocka_unit_test(test_hwkey_vector),
		cmocka_unit_test(test_hwkey_refused),
		cmocka_unit_test(test_hwkey_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
