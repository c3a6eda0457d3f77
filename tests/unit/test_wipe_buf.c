/*
 * zk_wipe_buf_append (src/lib/mem.c), the growing wiped buffer behind request and response bodies: pieces come
 * out in order and NUL-terminated, the block grows by doubling (so a body in thousands of pieces is copied a
 * handful of times), and a size that could overflow is refused with the buffer left as it was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/mem.h"

static int setup(void **state)
{
	(void)state;
	return zk_mem_init();
}

static void pieces_in_order_by_doubling(void **state)
{
	(void)state;
	struct zk_wipe_buf b = { 0 };
	char piece[16];
	size_t grows = 0, cap = 0;

	for (int i = 0; i < 10000; i++) {
		int n = snprintf(piece, sizeof(piece), "%06d;", i);
		assert_int_equal(zk_wipe_buf_append(&b, piece, (size_t)n), 0);
		if (b.cap != cap) {
			assert_true(cap == 0 || b.cap >= 2 * cap);
			cap = b.cap;
			grows++;
		}
		assert_int_equal(b.p[b.len], '\0');
	}
	assert_int_equal(b.len, 70000);
	assert_true(grows <= 8); /* 1 KB to 128 KB */
	for (int i = 0; i < 10000; i += 997) {
		snprintf(piece, sizeof(piece), "%06d;", i);
		assert_memory_equal(b.p + 7 * i, piece, 7);
	}
	zk_wipe_free(b.p);
}

static void overflow_refused(void **state)
{
	(void)state;
	struct zk_wipe_buf b = { 0 };
	assert_int_equal(zk_wipe_buf_append(&b, "abc", 3), 0);
	char *p = b.p;
	assert_int_equal(zk_wipe_buf_append(&b, "x", SIZE_MAX - 2), -1);
	assert_ptr_equal(b.p, p);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.p, "abc");
	zk_wipe_free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pieces_in_order_by_doubling),
		cmocka_unit_test(overflow_refused),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
