/*
 * Audit rows as GET /audit reads them (audit_entries, src/vaultd/audit.c; docs/FORMAT.md §Audit log): a compact
 * batch of reads stands for exactly the entries the older array form spelt out, and a row whose indexes, seq,
 * kind or fields do not fit is refused, not half read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "lib/mem.h"
#include "vaultd/audit.h"

static int setup(void **state)
{
	(void)state;
	return zk_mem_init();
}

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *o = json_loads(text, 0, &e);
	assert_non_null(o);
	return o;
}

/* 1795796572 s is 2026-11-27T16:22:52Z. */
static const char *COMPACT =
	"{\"seq\":7,\"t\":1795796572,\"strings\":[\"secret.read\",\"00000000-0000-4000-8000-000000000001\",\"a\","
	"\"87309123e9c2f6ec8795ffecf38ff097\",\"127.0.0.1\",\"secret.read.denied\",\"c\",\"Access denied\","
	"\"agent \\\"7\\\" \\u00fc\"],"
	"\"reads\":[[0,0,1,2,3,8,-1,4,1,1],[1,5,1,6,3,-1,7,4,0,3]]}";

static const char *ARRAY =
	"[{\"seq\":7,\"part\":0,\"timestamp\":\"2026-11-27T16:22:52.000Z\",\"action\":\"secret.read\","
	"\"userId\":\"00000000-0000-4000-8000-000000000001\",\"secretKey\":\"a\","
	"\"tokenId\":\"87309123e9c2f6ec8795ffecf38ff097\",\"agentId\":\"agent \\\"7\\\" \\u00fc\",\"success\":true,"
	"\"ipAddress\":\"127.0.0.1\"},"
	"{\"seq\":7,\"part\":1,\"timestamp\":\"2026-11-27T16:22:53.000Z\",\"action\":\"secret.read.denied\","
	"\"userId\":\"00000000-0000-4000-8000-000000000001\",\"secretKey\":\"c\","
	"\"tokenId\":\"87309123e9c2f6ec8795ffecf38ff097\",\"success\":false,\"error\":\"Access denied\","
	"\"ipAddress\":\"127.0.0.1\",\"count\":3}]";

static void compact_batch_is_the_array_it_stands_for(void **state)
{
	(void)state;
	json_t *compact = audit_entries(load(COMPACT), 1, 7), *array = audit_entries(load(ARRAY), 1, 7);
	assert_non_null(compact);
	assert_non_null(array);
	assert_int_equal(json_array_size(compact), 2);
	assert_true(json_equal(compact, array));
	/* Key order too: GET /audit shows the entry as it always did. */
	char *a = json_dumps(compact, JSON_COMPACT), *b = json_dumps(array, JSON_COMPACT);
	assert_string_equal(a, b);
	zk_wipe_str(a);
	zk_wipe_str(b);
	json_decref(compact);
	json_decref(array);
}

static void plain_entry_is_one(void **state)
{
	(void)state;
	json_t *e = audit_entries(load("{\"seq\":3,\"action\":\"vault.unlocked\",\"success\":true}"), 2, 3);
	assert_non_null(e);
	assert_int_equal(json_array_size(e), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(e, 0), "action")), "vault.unlocked");
	json_decref(e);
	assert_null(audit_entries(load("{\"seq\":4,\"action\":\"vault.unlocked\",\"success\":true}"), 2, 3));
}

static void bad_rows_are_refused(void **state)
{
	(void)state;
	static const char *bad[] = {
		/* another row's seq */
		"{\"seq\":8,\"t\":1,\"strings\":[\"a\"],\"reads\":[[0,0,-1,-1,-1,-1,-1,-1,1,1]]}",
		/* a string index past the table, and the action missing */
		"{\"seq\":7,\"t\":1,\"strings\":[\"a\"],\"reads\":[[0,0,1,-1,-1,-1,-1,-1,1,1]]}",
		"{\"seq\":7,\"t\":1,\"strings\":[\"a\"],\"reads\":[[0,-1,-1,-1,-1,-1,-1,-1,1,1]]}",
		/* success not 0 or 1, count 0, a field short, a string that is not one, no reads, time out of range */
		"{\"seq\":7,\"t\":1,\"strings\":[\"a\"],\"reads\":[[0,0,-1,-1,-1,-1,-1,-1,2,1]]}",
		"{\"seq\":7,\"t\":1,\"strings\":[\"a\"],\"reads\":[[0,0,-1,-1,-1,-1,-1,-1,1,0]]}",
		"{\"seq\":7,\"t\":1,\"strings\":[\"a\"],\"reads\":[[0,0,-1,-1,-1,-1,-1,-1,1]]}",
		"{\"seq\":7,\"t\":1,\"strings\":[1],\"reads\":[[0,0,-1,-1,-1,-1,-1,-1,1,1]]}",
		"{\"seq\":7,\"t\":1,\"strings\":[\"a\"],\"reads\":[]}",
		"{\"seq\":7,\"t\":1,\"strings\":[\"a\"],\"reads\":[[-2,0,-1,-1,-1,-1,-1,-1,1,1]]}",
		"{\"seq\":7,\"t\":253402300800,\"strings\":[\"a\"],\"reads\":[[0,0,-1,-1,-1,-1,-1,-1,1,1]]}",
		/* an array entry of another row */
		"[{\"seq\":7,\"part\":0},{\"seq\":6,\"part\":1}]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(audit_entries(load(bad[i]), 1, 7));
	/* A batch sealed to the audit public key (kind 2, written while locked) is never written: refused. */
	assert_null(audit_entries(load(COMPACT), 2, 7));
	assert_null(audit_entries(load(ARRAY), 2, 7));
	assert_null(audit_entries(NULL, 1, 7));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(compact_batch_is_the_array_it_stands_for),
		cmocka_unit_test(plain_entry_is_one),
		cmocka_unit_test(bad_rows_are_refused),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
