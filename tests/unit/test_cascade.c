/*
 * The revocation filter cascade (src/lib/cascade.h) and signed snapshots (src/lib/revsnap.h): exact answers for
 * every id of the universe, the acceptance case of 1,000,000 issued ids with 10,000 revoked, strict decoding,
 * signatures and certificates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/cascade.h"
#include "lib/mem.h"
#include "lib/revsnap.h"

typedef unsigned char id16[16];

/* Deterministic ids: BLAKE2b-128 of a counter, so a failure can be replayed. */
static void make_ids(id16 *ids, size_t n, uint32_t tag)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char in[12];
		memcpy(in, &tag, 4);
		uint64_t x = i;
		memcpy(in + 4, &x, 8);
		crypto_generichash(ids[i], 16, in, sizeof(in), NULL, 0);
	}
}

static void check_exact(size_t nissued, size_t nrevoked, double *build_s, size_t *bytes)
{
	id16 *ids = malloc(nissued * sizeof(*ids));
	unsigned char salt[16] = { 7 }, *enc = NULL;
	size_t len = 0;
	struct zk_cascade *c = malloc(sizeof(*c));
	make_ids(ids, nissued, (uint32_t)nissued);
	/* The first nrevoked are revoked. */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(zk_cascade_build(&enc, &len, (const unsigned char (*)[16])ids, nrevoked,
					  (const unsigned char (*)[16])(ids + nrevoked), nissued - nrevoked, salt),
			 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(zk_cascade_parse(c, enc, len), 0);
	size_t wrong = 0;
	for (size_t i = 0; i < nissued; i++)
		if (zk_cascade_revoked(c, ids[i]) != (i < nrevoked))
			wrong++;
	assert_int_equal(wrong, 0);
	if (build_s)
		*build_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (bytes)
		*bytes = len;
	free(enc);
	free(ids);
	free(c);
}

static void test_small_sets(void **state)
{
	(void)state;
	check_exact(0, 0, NULL, NULL);
	check_exact(1, 0, NULL, NULL);
	check_exact(1, 1, NULL, NULL);
	check_exact(10, 10, NULL, NULL);
	check_exact(1000, 1, NULL, NULL);
	check_exact(1000, 999, NULL, NULL);
	check_exact(5000, 2500, NULL, NULL);
}

/* The acceptance case: 1,000,000 issued, 10,000 revoked, zero false positives (and negatives). */
static void test_million(void **state)
{
	(void)state;
	double s;
	size_t bytes;
	check_exact(1000000, 10000, &s, &bytes);
	print_message("cascade 1,000,000 issued / 10,000 revoked: %zu bytes, built in %.2f s\n", bytes, s);
	assert_true(bytes < 64 * 1024);
}

static void test_overlap_fails(void **state)
{
	(void)state;
	id16 ids[4];
	unsigned char salt[16] = { 0 }, *enc;
	size_t len;
	make_ids(ids, 4, 1);
	memcpy(ids[3], ids[0], 16); /* one id both revoked and valid */
	assert_int_equal(zk_cascade_build(&enc, &len, (const unsigned char (*)[16])ids, 2,
					  (const unsigned char (*)[16])(ids + 2), 2, salt),
			 -1);
}

static void test_parse_strict(void **state)
{
	(void)state;
	id16 ids[100];
	unsigned char salt[16] = { 1 }, *enc, *copy;
	size_t len;
	struct zk_cascade c;
	make_ids(ids, 100, 9);
	assert_int_equal(zk_cascade_build(&enc, &len, (const unsigned char (*)[16])ids, 10,
					  (const unsigned char (*)[16])(ids + 10), 90, salt),
			 0);
	assert_int_equal(zk_cascade_parse(&c, enc, len), 0);
	assert_int_equal(zk_cascade_parse(&c, enc, len - 1), -1);
	copy = malloc(len + 1);
	memcpy(copy, enc, len);
	copy[len] = 0;
	assert_int_equal(zk_cascade_parse(&c, copy, len + 1), -1); /* trailing byte */
	copy[0] = 'X';
	assert_int_equal(zk_cascade_parse(&c, copy, len), -1);
	memcpy(copy, enc, len);
	copy[4 + 16] = 65; /* too many levels */
	assert_int_equal(zk_cascade_parse(&c, copy, len), -1);
	free(copy);
	free(enc);
}

static void test_snapshot(void **state)
{
	(void)state;
	unsigned char tok_pk[32], tok_sk[64], rev_pk[32], rev_sk[64], other_pk[32], other_sk[64];
	unsigned char salt[16] = { 3 }, *casc, *blob, *dblob;
	size_t clen, blen, dlen;
	id16 ids[50], extra[1], late[1];
	crypto_sign_keypair(tok_pk, tok_sk);
	crypto_sign_keypair(rev_pk, rev_sk);
	crypto_sign_keypair(other_pk, other_sk);
	make_ids(ids, 50, 5);
	make_ids(extra, 1, 6);
	make_ids(late, 1, 7);
	assert_int_equal(zk_cascade_build(&casc, &clen, (const unsigned char (*)[16])ids, 5,
					  (const unsigned char (*)[16])(ids + 5), 45, salt),
			 0);
	struct zk_revsnap s = { .kind = ZK_REVSNAP_FULL, .epoch = 3, .built_ms = 1000, .covered_ms = 1000,
				.cascade = casc, .cascade_len = clen, .ids = extra[0], .nids = 1 };
	memset(s.vault_id, 0x11, 16);
	memcpy(s.rev_pk, rev_pk, 32);
	zk_revsnap_cert(s.cert, s.vault_id, rev_pk, tok_sk);
	assert_int_equal(zk_revsnap_sign(&blob, &blen, &s, rev_sk), 0);
	struct zk_revsnap opened, delta;
	assert_int_equal(zk_revsnap_open(&opened, blob, blen, tok_pk), 0);
	assert_int_equal(zk_revsnap_open(&opened, blob, blen, other_pk), -1); /* certificate from another key */
	blob[30] ^= 1;
	assert_int_equal(zk_revsnap_open(&opened, blob, blen, tok_pk), -1);
	blob[30] ^= 1;
	assert_int_equal(zk_revsnap_open(&opened, blob, blen, tok_pk), 0);

	struct zk_revsnap d = { .kind = ZK_REVSNAP_DELTA, .epoch = 4, .since = 3, .built_ms = 2000, .ids = late[0],
				.nids = 1 };
	memcpy(d.vault_id, s.vault_id, 16);
	memcpy(d.rev_pk, rev_pk, 32);
	memcpy(d.cert, s.cert, 64);
	assert_int_equal(zk_revsnap_sign(&dblob, &dlen, &d, rev_sk), 0);
	assert_int_equal(zk_revsnap_open(&delta, dblob, dlen, tok_pk), 0);

	struct zk_revview view;
	assert_int_equal(zk_revview_init(&view, &opened), 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(zk_revview_revoked(&view, ids[i], 500, NULL, 0), i < 5);
	/* A block id revoked outside the universe is listed explicitly. */
	assert_true(zk_revview_revoked(&view, ids[10], 500, (const unsigned char (*)[16])extra, 1));
	/* A token issued after the coverage bound is not asked of the cascade; its revocation comes in a delta. */
	assert_false(zk_revview_revoked(&view, late[0], 1500, NULL, 0));
	assert_int_equal(zk_revview_apply(&view, &delta), 0);
	assert_true(zk_revview_revoked(&view, late[0], 1500, NULL, 0));
	assert_int_equal(zk_revview_apply(&view, &delta), -1); /* does not start at epoch 4 */
	zk_revview_free(&view);
	free(casc);
	free(blob);
	free(dblob);
}

int main(void)
{
	if (zk_mem_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_sets),   cmocka_unit_test(test_million),
		cmocka_unit_test(test_overlap_fails), cmocka_unit_test(test_parse_strict),
		cmocka_unit_test(test_snapshot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
