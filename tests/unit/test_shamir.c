/* Shamir over libgfshare (src/lib/shamir.h): the field checked against OCMT's reference vectors
   (shared/reference/ocmt-mesh.md §3.3), the share encoding against texts computed independently (Python hashlib
   BLAKE2b + base64), and every refusal the recovery flows rely on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libgfshare.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "lib/mem.h"
#include "lib/shamir.h"

/* OCMT's "Hi" split, k = 3: base64 of [version=1][x][data...]. */
static const char *const REF_SHARES[5] = {"AQFL8A==", "AQJCzg==", "AQNBVw==", "AQRsIA==", "AQVvuQ=="};

/* The same five points in our encoding with set id 00..0f, k = 3, n = 5; the check and base64url were computed with
   Python's hashlib.blake2b(body, key=b"zkvault shamir share v1", digest_size=16) and base64.urlsafe_b64encode. */
static const char *const ZKS_SHARES[5] = {
	"zks1-WktTMQABAgMEBQYHCAkKCwwNDg8DBQECS_DQCmBE34cI0tl9fdfLycHR",
	"zks1-WktTMQABAgMEBQYHCAkKCwwNDg8DBQICQs7USNMYC8A5u5gPEs9mYRFR",
	"zks1-WktTMQABAgMEBQYHCAkKCwwNDg8DBQMCQVcIt5UKZZd-XHsXZLaMfwDp",
	"zks1-WktTMQABAgMEBQYHCAkKCwwNDg8DBQQCbCCytRq4UXqRUCYfFekwheXO",
	"zks1-WktTMQABAgMEBQYHCAkKCwwNDg8DBQUCb7k1f05RPGshrXVAQ3BYNi3T",
};

static void ref_share(unsigned char *x, unsigned char data[2], int i)
{
	unsigned char raw[4];
	size_t len = 0;
	assert_int_equal(sodium_base642bin(raw, sizeof(raw), REF_SHARES[i], strlen(REF_SHARES[i]), NULL, &len, NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	assert_int_equal(len, 4);
	assert_int_equal(raw[0], 1);
	*x = raw[1];
	memcpy(data, raw + 2, 2);
}

/* libgfshare's own decoder on (x, data) pairs. */
static void gf_combine(unsigned char out[2], const int *which, int count)
{
	unsigned char xs[5], data[5][2];
	for (int i = 0; i < count; i++)
		ref_share(&xs[i], data[i], which[i]);
	gfshare_ctx *g = gfshare_ctx_init_dec(xs, (unsigned)count, 2);
	assert_non_null(g);
	for (int i = 0; i < count; i++)
		gfshare_ctx_dec_giveshare(g, (unsigned char)i, data[i]);
	gfshare_ctx_dec_extract(g, out);
	gfshare_ctx_free(g);
}

/* ---------------------------------------------------------------- the field */

static void test_reference_shares_combine_with_libgfshare(void **state)
{
	unsigned char out[2];
	/* Any 3 of the 5 give "Hi": only true if libgfshare's field is OCMT's (0x11D, generator 2). */
	for (int a = 0; a < 5; a++)
		for (int b = a + 1; b < 5; b++)
			for (int c = b + 1; c < 5; c++) {
				int which[3] = {a, b, c};
				gf_combine(out, which, 3);
				assert_memory_equal(out, "Hi", 2);
			}
	int all[5] = {0, 1, 2, 3, 4};
	gf_combine(out, all, 5);
	assert_memory_equal(out, "Hi", 2);
	/* The reference's value for too few shares: 1 + 2 -> 0x4c11. */
	int two[2] = {0, 1};
	gf_combine(out, two, 2);
	assert_int_equal(out[0], 0x4c);
	assert_int_equal(out[1], 0x11);
}

/* A deterministic coefficient source, to reproduce the reference's split: the first call gets `coeffs`, later calls
   (libgfshare scrubbing its buffers on free) get zeros. */
static const unsigned char *fixed_coeffs;
static size_t fixed_len;
static void fixed_rand(unsigned char *buf, unsigned int n)
{
	memset(buf, 0, n);
	if (fixed_coeffs) {
		memcpy(buf, fixed_coeffs, n < fixed_len ? n : fixed_len);
		fixed_coeffs = NULL;
	}
}

static void gf_split_fixed(unsigned char *share, const unsigned char *secret, unsigned size, unsigned char k,
			   unsigned char x, const unsigned char *coeffs, size_t ncoeffs)
{
	gfshare_rand_func_t saved = gfshare_fill_rand;
	gfshare_fill_rand = fixed_rand;
	fixed_coeffs = coeffs;
	fixed_len = ncoeffs;
	unsigned char xs[1] = {x};
	gfshare_ctx *g = gfshare_ctx_init_enc(xs, 1, k, size);
	assert_non_null(g);
	gfshare_ctx_enc_setsecret(g, (unsigned char *)secret);
	gfshare_ctx_enc_getshare(g, 0, share);
	gfshare_ctx_free(g);
	gfshare_fill_rand = saved;
}

static void test_reference_split_reproduced(void **state)
{
	/* libgfshare stores the coefficients highest degree first, byte-interleaved per block: x^2 block (0x02, 0x3C),
	   then x^1 block (0x01, 0xA5); the secret is the constant block. */
	static const unsigned char coeffs[4] = {0x02, 0x3C, 0x01, 0xA5};
	for (int i = 0; i < 5; i++) {
		unsigned char x, want[2], got[2];
		ref_share(&x, want, i);
		gf_split_fixed(got, (const unsigned char *)"Hi", 2, 3, x, coeffs, sizeof(coeffs));
		assert_memory_equal(got, want, 2);
	}
}

static void test_field_vectors(void **state)
{
	/* f(x) = c·x with secret 0 and k = 2 evaluates one product: 0x53·0xCA = 0x8f and 0x80·2 = 0x1d. */
	const unsigned char zero = 0;
	unsigned char out;
	const unsigned char ca = 0xCA, c80 = 0x80;
	gf_split_fixed(&out, &zero, 1, 2, 0x53, &ca, 1);
	assert_int_equal(out, 0x8f);
	gf_split_fixed(&out, &zero, 1, 2, 2, &c80, 1);
	assert_int_equal(out, 0x1d);
	/* f(x) = x^j at x = 2 gives exp[j]: 02 04 08 10 20 40 80 1d 3a for j = 1..9. */
	static const unsigned char exps[10] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1d, 0x3a};
	for (unsigned j = 1; j < 10; j++) {
		unsigned char leading_one[9] = {1};
		gf_split_fixed(&out, &zero, 1, (unsigned char)(j + 1), 2, leading_one, j);
		assert_int_equal(out, exps[j]);
	}
}

/* ---------------------------------------------------------------- our encoding */

static void test_encoding_vector(void **state)
{
	unsigned char set_id[16];
	for (int i = 0; i < 16; i++)
		set_id[i] = (unsigned char)i;
	unsigned char rows[5][ZK_SHARE_MAX];
	for (int i = 0; i < 5; i++) {
		size_t size = 0;
		enum zk_share_error why;
		assert_int_equal(zk_share_from_text(rows[i], &size, ZKS_SHARES[i], &why), 0);
		assert_int_equal(size, ZK_SHARE_BYTES(2));
		struct zk_share_info info;
		assert_int_equal(zk_share_inspect(&info, rows[i], size, &why), 0);
		assert_int_equal(info.k, 3);
		assert_int_equal(info.n, 5);
		assert_int_equal(info.x, (unsigned)i + 1);
		assert_int_equal(info.len, 2);
		assert_memory_equal(info.set_id, set_id, 16);
		unsigned char x, data[2];
		ref_share(&x, data, i);
		assert_memory_equal(rows[i] + ZK_SHARE_HEADER_BYTES, data, 2);
		/* And back to the same text. */
		char text[ZK_SHARE_TEXT_MAX];
		assert_int_equal(zk_share_to_text(text, rows[i], size, &why), 0);
		assert_string_equal(text, ZKS_SHARES[i]);
	}
	unsigned char hi[2];
	enum zk_share_error why;
	assert_int_equal(zk_shamir_combine(hi, 2, (const unsigned char(*)[ZK_SHARE_MAX])rows + 2, 3, set_id, &why), 0);
	assert_memory_equal(hi, "Hi", 2);
	/* All five: the two extra shares are checked against the first three. */
	assert_int_equal(zk_shamir_combine(hi, 2, (const unsigned char(*)[ZK_SHARE_MAX])rows, 5, NULL, &why), 0);
	assert_memory_equal(hi, "Hi", 2);
}

static void test_text_parsing(void **state)
{
	unsigned char row[ZK_SHARE_MAX], before[ZK_SHARE_MAX];
	enum zk_share_error why;
	char buf[ZK_SHARE_TEXT_MAX + 8];
	/* Surrounding whitespace and the prefix's case do not matter. */
	snprintf(buf, sizeof(buf), "  \tZKS1-%s\r\n", ZKS_SHARES[0] + 5);
	assert_int_equal(zk_share_from_text(row, NULL, buf, &why), 0);

	memset(row, 0x5a, sizeof(row));
	memcpy(before, row, sizeof(row));
	static const char *const malformed[] = {
		"",
		"zks1-",
		"zks2-WktTMQABAgMEBQYHCAkKCwwNDg8DBQECS_DQCmBE34cI0tl9fdfLycHR",
		"WktTMQABAgMEBQYHCAkKCwwNDg8DBQECS_DQCmBE34cI0tl9fdfLycHR",
		"zks1-WktTMQABAgMEBQYHCAkKCwwNDg8DBQECS_DQCmBE34cI0tl9fdfLycHR==",     /* padding */
		"zks1-WktTMQABAgMEBQYHCAkKCwwNDg8DBQECS/DQCmBE34cI0tl9fdfLycHR",       /* standard alphabet */
		"zks1-WktTMQABAgMEBQYHCAkKCwwNDg8DBQECS_DQCmBE 34cI0tl9fdfLycHR",      /* inner space */
		"zks1-WktTMQABAgMEBQYHCAkKCwwNDg8DBQECS_DQCmBE34cI0tl9fdfLycH",        /* truncated */
		"zks1-WktTMQABAgMEBQYHCAkKCwwNDg8DBQECS_DQCmBE34cI0tl9fdfLycHRAA",     /* extra bytes */
		"zks1-WktTMQABAgMEBQYHCAkKCwwNDg8DBQECS_DQCmBE34cI0tl9fdfLycHS",       /* last character changed */
		"zks1-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",       /* bad magic */
	};
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		why = ZK_SHARE_OK;
		assert_int_equal(zk_share_from_text(row, NULL, malformed[i], &why), -1);
		assert_true(why == ZK_SHARE_MALFORMED || why == ZK_SHARE_CORRUPTED);
		assert_memory_equal(row, before, sizeof(row));
	}
}

static void test_corrupted(void **state)
{
	unsigned char row[ZK_SHARE_MAX];
	enum zk_share_error why;
	/* One typo in the text: the check fails. */
	char text[ZK_SHARE_TEXT_MAX];
	snprintf(text, sizeof(text), "%s", ZKS_SHARES[0]);
	text[40] = text[40] == 'A' ? 'B' : 'A';
	assert_int_equal(zk_share_from_text(row, NULL, text, &why), -1);
	assert_int_equal(why, ZK_SHARE_CORRUPTED);
	assert_string_equal(zk_share_strerror(why), "share is corrupted");

	/* Every single-bit flip of a binary share is caught. */
	unsigned char set_id[16] = {1}, secret[32], shares[3][ZK_SHARE_MAX];
	randombytes_buf(secret, sizeof(secret));
	assert_int_equal(zk_shamir_split(shares, 3, 2, secret, 32, set_id, &why), 0);
	struct zk_share_info info;
	for (size_t bit = 0; bit < ZK_SHARE_BYTES(32) * 8; bit++) {
		unsigned char bad[ZK_SHARE_MAX];
		memcpy(bad, shares[0], sizeof(bad));
		bad[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		assert_int_equal(zk_share_inspect(&info, bad, ZK_SHARE_BYTES(32), &why), -1);
		unsigned char rows[2][ZK_SHARE_MAX], out[32] = {0};
		memcpy(rows[0], bad, sizeof(bad));
		memcpy(rows[1], shares[1], sizeof(bad));
		assert_int_equal(zk_shamir_combine(out, 32, (const unsigned char(*)[ZK_SHARE_MAX])rows, 2, NULL, &why), -1);
		assert_true(why == ZK_SHARE_CORRUPTED || why == ZK_SHARE_MALFORMED);
	}
}

/* ---------------------------------------------------------------- split and combine */

static int popcount(unsigned v)
{
	return __builtin_popcount(v);
}

static void check_every_subset(size_t n, size_t k, size_t len)
{
	unsigned char set_id[16], secret[ZK_SHAMIR_SECRET_MAX], shares[8][ZK_SHARE_MAX];
	enum zk_share_error why;
	randombytes_buf(set_id, sizeof(set_id));
	randombytes_buf(secret, len);
	assert_int_equal(zk_shamir_split(shares, n, k, secret, len, set_id, &why), 0);
	for (unsigned mask = 1; mask < (1u << n); mask++) {
		unsigned char rows[8][ZK_SHARE_MAX], out[ZK_SHAMIR_SECRET_MAX];
		size_t count = 0;
		/* Also vary the order: subsets are taken from the highest x down. */
		for (size_t i = n; i-- > 0;)
			if (mask & (1u << i))
				memcpy(rows[count++], shares[i], ZK_SHARE_MAX);
		memset(out, 0xee, sizeof(out));
		int rc = zk_shamir_combine(out, len, (const unsigned char(*)[ZK_SHARE_MAX])rows, count, set_id, &why);
		if ((size_t)popcount(mask) >= k) {
			assert_int_equal(rc, 0);
			assert_memory_equal(out, secret, len);
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(why, ZK_SHARE_TOO_FEW);
			unsigned char untouched[ZK_SHAMIR_SECRET_MAX];
			memset(untouched, 0xee, sizeof(untouched));
			assert_memory_equal(out, untouched, sizeof(out));
		}
	}
}

static void test_every_k_subset(void **state)
{
	check_every_subset(2, 2, 32);
	check_every_subset(3, 2, 32);
	check_every_subset(5, 3, 32);
	check_every_subset(5, 5, 16);
	check_every_subset(8, 4, 64);
	check_every_subset(6, 2, 1);
}

static void test_max_shares(void **state)
{
	static unsigned char shares[255][ZK_SHARE_MAX];
	unsigned char set_id[16] = {9}, secret[32], out[32];
	enum zk_share_error why;
	randombytes_buf(secret, sizeof(secret));
	assert_int_equal(zk_shamir_split(shares, 255, 255, secret, 32, set_id, &why), 0);
	assert_int_equal(zk_shamir_combine(out, 32, (const unsigned char(*)[ZK_SHARE_MAX])shares, 255, set_id, &why), 0);
	assert_memory_equal(out, secret, 32);
	assert_int_equal(zk_shamir_combine(out, 32, (const unsigned char(*)[ZK_SHARE_MAX])shares, 254, set_id, &why), -1);
	assert_int_equal(why, ZK_SHARE_TOO_FEW);
	assert_int_equal(zk_shamir_split(shares, 255, 3, secret, 32, set_id, &why), 0);
	assert_int_equal(zk_shamir_combine(out, 32, (const unsigned char(*)[ZK_SHARE_MAX])shares, 255, set_id, &why), 0);
	assert_memory_equal(out, secret, 32);
}

static void test_bad_params(void **state)
{
	unsigned char shares[4][ZK_SHARE_MAX], secret[ZK_SHAMIR_SECRET_MAX + 1] = {0}, set_id[16] = {0};
	enum zk_share_error why;
	static unsigned char many[256][ZK_SHARE_MAX];
	assert_int_equal(zk_shamir_split(shares, 3, 1, secret, 32, set_id, &why), -1); /* k = 1: anyone alone */
	assert_int_equal(why, ZK_SHARE_BAD_PARAMS);
	assert_int_equal(zk_shamir_split(shares, 3, 4, secret, 32, set_id, &why), -1);
	assert_int_equal(zk_shamir_split(shares, 0, 0, secret, 32, set_id, &why), -1);
	assert_int_equal(zk_shamir_split(many, 256, 2, secret, 32, set_id, &why), -1);
	assert_int_equal(zk_shamir_split(shares, 3, 2, secret, 0, set_id, &why), -1);
	assert_int_equal(zk_shamir_split(shares, 3, 2, secret, ZK_SHAMIR_SECRET_MAX + 1, set_id, &why), -1);
	assert_int_equal(zk_shamir_split(shares, 3, 2, secret, ZK_SHAMIR_SECRET_MAX, set_id, &why), 0);
	unsigned char out[ZK_SHAMIR_SECRET_MAX];
	assert_int_equal(zk_shamir_combine(out, 32, (const unsigned char(*)[ZK_SHARE_MAX])shares, 0, NULL, &why), -1);
	assert_int_equal(why, ZK_SHARE_TOO_FEW);
	/* The shares hold 64 bytes: asking for 32 is refused, not truncated. */
	assert_int_equal(zk_shamir_combine(out, 32, (const unsigned char(*)[ZK_SHARE_MAX])shares, 3, NULL, &why), -1);
	assert_int_equal(why, ZK_SHARE_WRONG_LENGTH);
}

static void test_foreign_and_duplicate(void **state)
{
	unsigned char secret[32], set_a[16], set_b[16];
	unsigned char a[3][ZK_SHARE_MAX], b[3][ZK_SHARE_MAX], rows[3][ZK_SHARE_MAX], out[32];
	enum zk_share_error why;
	randombytes_buf(secret, sizeof(secret));
	randombytes_buf(set_a, sizeof(set_a));
	randombytes_buf(set_b, sizeof(set_b));
	/* Same secret, two splits (a re-split after removing an admin): shares never mix. */
	assert_int_equal(zk_shamir_split(a, 3, 2, secret, 32, set_a, &why), 0);
	assert_int_equal(zk_shamir_split(b, 3, 2, secret, 32, set_b, &why), 0);
	memcpy(rows[0], a[0], ZK_SHARE_MAX);
	memcpy(rows[1], b[1], ZK_SHARE_MAX);
	assert_int_equal(zk_shamir_combine(out, 32, (const unsigned char(*)[ZK_SHARE_MAX])rows, 2, NULL, &why), -1);
	assert_int_equal(why, ZK_SHARE_FOREIGN_SET);
	assert_string_equal(zk_share_strerror(why), "share belongs to another recovery set");
	/* A whole consistent set from another vault is refused when the expected set id is given. */
	assert_int_equal(zk_shamir_combine(out, 32, (const unsigned char(*)[ZK_SHARE_MAX])b, 2, set_a, &why), -1);
	assert_int_equal(why, ZK_SHARE_FOREIGN_SET);
	/* Same set id but another k (a caller reusing set ids): refused too. */
	unsigned char c[3][ZK_SHARE_MAX];
	assert_int_equal(zk_shamir_split(c, 3, 3, secret, 32, set_a, &why), 0);
	memcpy(rows[0], a[0], ZK_SHARE_MAX);
	memcpy(rows[1], c[1], ZK_SHARE_MAX);
	memcpy(rows[2], c[2], ZK_SHARE_MAX);
	assert_int_equal(zk_shamir_combine(out, 32, (const unsigned char(*)[ZK_SHARE_MAX])rows, 3, set_a, &why), -1);
	assert_int_equal(why, ZK_SHARE_FOREIGN_SET);
	/* The same share twice does not count twice. */
	memcpy(rows[0], a[1], ZK_SHARE_MAX);
	memcpy(rows[1], a[1], ZK_SHARE_MAX);
	assert_int_equal(zk_shamir_combine(out, 32, (const unsigned char(*)[ZK_SHARE_MAX])rows, 2, set_a, &why), -1);
	assert_int_equal(why, ZK_SHARE_DUPLICATE);
}

/* A share with a valid check but wrong data (a tampered or buggy share): caught whenever there is a spare share. */
static void test_inconsistent(void **state)
{
	unsigned char secret[32], set_id[16] = {7}, shares[5][ZK_SHARE_MAX], out[32];
	enum zk_share_error why;
	randombytes_buf(secret, sizeof(secret));
	assert_int_equal(zk_shamir_split(shares, 5, 3, secret, 32, set_id, &why), 0);
	for (int bad = 0; bad < 4; bad++) {
		unsigned char rows[4][ZK_SHARE_MAX];
		memcpy(rows, shares, sizeof(rows));
		rows[bad][ZK_SHARE_HEADER_BYTES + 5] ^= 0x01;
		crypto_generichash(rows[bad] + ZK_SHARE_HEADER_BYTES + 32, ZK_SHARE_CHECK_BYTES, rows[bad],
				   ZK_SHARE_HEADER_BYTES + 32, (const unsigned char *)ZK_SHARE_CHECK_KEY,
				   sizeof(ZK_SHARE_CHECK_KEY) - 1);
		memset(out, 0, sizeof(out));
		assert_int_equal(zk_shamir_combine(out, 32, (const unsigned char(*)[ZK_SHARE_MAX])rows, 4, set_id, &why),
				 -1);
		assert_int_equal(why, ZK_SHARE_INCONSISTENT);
		unsigned char zero[32] = {0};
		assert_memory_equal(out, zero, 32);
	}
}

/* k-1 shares reveal nothing: combining is refused by the count check, libgfshare forced to interpolate k-1 points
   gives something else, and the share bytes of k-1 shares are distributed the same whatever the secret. */
static void test_k_minus_one_reveals_nothing(void **state)
{
	unsigned char set_id[16] = {3}, secret[32], shares[5][ZK_SHARE_MAX], out[32];
	enum zk_share_error why;
	randombytes_buf(secret, sizeof(secret));
	assert_int_equal(zk_shamir_split(shares, 5, 3, secret, 32, set_id, &why), 0);
	assert_int_equal(zk_shamir_combine(out, 32, (const unsigned char(*)[ZK_SHARE_MAX])shares, 2, set_id, &why), -1);
	assert_int_equal(why, ZK_SHARE_TOO_FEW);
	unsigned char xs[2] = {1, 2};
	gfshare_ctx *g = gfshare_ctx_init_dec(xs, 2, 32);
	gfshare_ctx_dec_giveshare(g, 0, shares[0] + ZK_SHARE_HEADER_BYTES);
	gfshare_ctx_dec_giveshare(g, 1, shares[1] + ZK_SHARE_HEADER_BYTES);
	gfshare_ctx_dec_extract(g, out);
	gfshare_ctx_free(g);
	assert_memory_not_equal(out, secret, 32);

	/* Chi-square of the byte histogram of shares x=1 and x=2 of a 3-of-5 split, for secret 00..00 and ff..ff. With
	   255 degrees of freedom the statistic has mean 255 and sd 22.6: 400 is beyond 6 sd. */
	static const unsigned char fills[2] = {0x00, 0xff};
	for (int f = 0; f < 2; f++) {
		unsigned long hist[256] = {0}, total = 0;
		memset(secret, fills[f], sizeof(secret));
		for (int rep = 0; rep < 400; rep++) {
			assert_int_equal(zk_shamir_split(shares, 5, 3, secret, 32, set_id, &why), 0);
			for (int s = 0; s < 2; s++)
				for (int i = 0; i < 32; i++, total++)
					hist[shares[s][ZK_SHARE_HEADER_BYTES + i]]++;
		}
		double expected = (double)total / 256.0, chi2 = 0;
		for (int v = 0; v < 256; v++)
			chi2 += ((double)hist[v] - expected) * ((double)hist[v] - expected) / expected;
		assert_true(chi2 < 400.0);
	}
}

static void test_split_refuses_foreign_rng(void **state)
{
	/* If anything replaced libgfshare's coefficient source, splitting refuses rather than use it. */
	unsigned char set_id[16] = {0}, secret[32] = {0}, shares[3][ZK_SHARE_MAX];
	enum zk_share_error why;
	assert_int_equal(zk_shamir_split(shares, 3, 2, secret, 32, set_id, &why), 0);
	gfshare_rand_func_t saved = gfshare_fill_rand;
	gfshare_fill_rand = gfshare_bad_idea_but_fill_rand_using_random;
	assert_int_equal(zk_shamir_split(shares, 3, 2, secret, 32, set_id, &why), -1);
	assert_int_equal(why, ZK_SHARE_INTERNAL);
	gfshare_fill_rand = saved;
	/* Two splits of one secret differ. */
	unsigned char again[3][ZK_SHARE_MAX];
	assert_int_equal(zk_shamir_split(shares, 3, 2, secret, 32, set_id, &why), 0);
	assert_int_equal(zk_shamir_split(again, 3, 2, secret, 32, set_id, &why), 0);
	assert_memory_not_equal(shares[0] + ZK_SHARE_HEADER_BYTES, again[0] + ZK_SHARE_HEADER_BYTES, 32);
}

static void test_text_round_trip(void **state)
{
	unsigned char set_id[16], secret[ZK_SHAMIR_SECRET_MAX], shares[4][ZK_SHARE_MAX], rows[4][ZK_SHARE_MAX];
	enum zk_share_error why;
	randombytes_buf(set_id, sizeof(set_id));
	randombytes_buf(secret, sizeof(secret));
	assert_int_equal(zk_shamir_split(shares, 4, 3, secret, ZK_SHAMIR_SECRET_MAX, set_id, &why), 0);
	for (int i = 0; i < 4; i++) {
		char text[ZK_SHARE_TEXT_MAX];
		size_t size = 0;
		assert_int_equal(zk_share_to_text(text, shares[i], ZK_SHARE_MAX, &why), 0);
		assert_int_equal(strlen(text) + 1, ZK_SHARE_TEXT_MAX);
		assert_int_equal(strncmp(text, "zks1-", 5), 0);
		assert_int_equal(zk_share_from_text(rows[i], &size, text, &why), 0);
		assert_int_equal(size, ZK_SHARE_MAX);
		assert_memory_equal(rows[i], shares[i], ZK_SHARE_MAX);
	}
	unsigned char out[ZK_SHAMIR_SECRET_MAX];
	assert_int_equal(zk_shamir_combine(out, sizeof(out), (const unsigned char(*)[ZK_SHARE_MAX])rows + 1, 3, set_id,
					   &why),
			 0);
	assert_memory_equal(out, secret, sizeof(out));
}

int main(void)
{
	if (zk_mem_init() != 0)
		return 1;
	/* The first split installs zkvault's coefficient source, which libgfshare also uses to scrub on free: the tests
	   that drive libgfshare directly need it in place. */
	unsigned char prime[2][ZK_SHARE_MAX], one = 1, id[16] = {0};
	if (zk_shamir_split(prime, 2, 2, &one, 1, id, NULL) != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_shares_combine_with_libgfshare),
		cmocka_unit_test(test_reference_split_reproduced),
		cmocka_unit_test(test_field_vectors),
		cmocka_unit_test(test_encoding_vector),
		cmocka_unit_test(test_text_parsing),
		cmocka_unit_test(test_corrupted),
		cmocka_unit_test(test_every_k_subset),
		cmocka_unit_test(test_max_shares),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_foreign_and_duplicate),
		cmocka_unit_test(test_inconsistent),
		cmocka_unit_test(test_k_minus_one_reveals_nothing),
		cmocka_unit_test(test_split_refuses_foreign_rng),
		cmocka_unit_test(test_text_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
