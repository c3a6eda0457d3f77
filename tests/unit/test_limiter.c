/*
 * The fixed-window rate limiter (src/vaultd/limiter.c): counts per key, keys independent of each other, windows
 * that end, and no count lost while the table grows from 16 slots to its largest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <time.h>

#include "vaultd/limiter.h"

static int setup(void **state)
{
	return sodium_init() < 0 ? -1 : 0;
}

static void key_of(char out[48], int i)
{
	snprintf(out, 48, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

static void counts_per_key(void **state)
{
	struct limiter *l = limiter_new(5, 60 * 1000);
	struct limiter_status st;
	assert_non_null(l);

	limiter_peek(l, "203.0.113.7", &st);
	assert_int_equal(st.limit, 5);
	assert_int_equal(st.remaining, 5);
	assert_false(st.blocked);
	for (int i = 1; i <= 5; i++) {
		limiter_hit(l, "203.0.113.7");
		limiter_peek(l, "203.0.113.7", &st);
		assert_int_equal(st.remaining, 5 - i);
	}
	assert_true(st.blocked);
	assert_true(st.retry_after_s >= 59 && st.retry_after_s <= 60);
	/* Another address is not affected, and peeking does not count. */
	limiter_peek(l, "203.0.113.8", &st);
	limiter_peek(l, "203.0.113.8", &st);
	assert_int_equal(st.remaining, 5);
	limiter_free(l);
}

static void windows_end(void **state)
{
	struct limiter *l = limiter_new(2, 50);
	struct limiter_status st;
	limiter_hit(l, "u1");
	limiter_hit(l, "u1");
	limiter_peek(l, "u1", &st);
	assert_true(st.blocked);
	nanosleep(&(struct timespec){ .tv_nsec = 120 * 1000000L }, NULL);
	limiter_peek(l, "u1", &st);
	assert_false(st.blocked);
	assert_int_equal(st.remaining, 2);
	limiter_free(l);
}

/*
 * Thousands of keys, each at its limit: every one must still be blocked after the table has doubled its way up,
 * and a key seen once must show exactly one hit (a second window opened for the same key would show none).
 */
static void many_keys_keep_their_counts(void **state)
{
	const int n = 1500;
	struct limiter *l = limiter_new(3, 60 * 1000);
	struct limiter_status st;
	char key[48];

	for (int round = 0; round < 3; round++)
		for (int i = 0; i < n; i++) {
			key_of(key, i);
			limiter_hit(l, key);
		}
	for (int i = 0; i < n; i++) {
		key_of(key, i);
		limiter_peek(l, key, &st);
		assert_true(st.blocked);
		assert_int_equal(st.remaining, 0);
	}
	key_of(key, n);
	limiter_hit(l, key);
	limiter_peek(l, key, &st);
	assert_int_equal(st.remaining, 2);
	limiter_free(l);
}

/* Ended windows make room: a table full of them takes new keys without forgetting the live ones. */
static void ended_windows_are_reused(void **state)
{
	struct limiter *l = limiter_new(1, 50);
	struct limiter_status st;
	char key[48];

	for (int i = 0; i < 2000; i++) {
		key_of(key, i);
		limiter_hit(l, key);
	}
	nanosleep(&(struct timespec){ .tv_nsec = 120 * 1000000L }, NULL);
	for (int i = 2000; i < 4000; i++) {
		key_of(key, i);
		limiter_hit(l, key);
	}
	for (int i = 2000; i < 4000; i++) {
		key_of(key, i);
		limiter_peek(l, key, &st);
		assert_true(st.blocked);
	}
	key_of(key, 0);
	limiter_peek(l, key, &st);
	assert_false(st.blocked);
	limiter_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_per_key),
		cmocka_unit_test(windows_end),
		cmocka_unit_test(many_keys_keep_their_counts),
		cmocka_unit_test(ended_windows_are_reused),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
