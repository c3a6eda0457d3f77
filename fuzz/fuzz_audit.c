/* libFuzzer target for audit_entries (src/vaultd/audit.h): the opened plaintext of an audit row, a plain entry or
   a batch of reads (compact, or the array written before 2026-11-27), as GET /audit reads it. The first byte picks
   the row's kind; the rest is the plaintext. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "fuzz.h"
#include "vaultd/audit.h"

ZK_FUZZ_INIT_MEM()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int kind = data[0] & 1 ? 1 : 2;
	json_t *row = json_loadb((const char *)data + 1, size - 1, 0, NULL);
	bool batch = json_is_array(row) || json_object_get(row, "reads") != NULL;
	json_t *entries = audit_entries(row, kind, 7);
	if (entries) {
		size_t i;
		json_t *e;
		CHECK(json_is_array(entries) && json_array_size(entries) > 0);
		/* A batch is only ever a row sealed with the audit key (kind 1). */
		CHECK(!batch || kind == 1);
		json_array_foreach(entries, i, e) {
			CHECK(json_is_object(e));
			CHECK(json_integer_value(json_object_get(e, "seq")) == 7);
		}
		char *text = json_dumps(entries, JSON_COMPACT);
		CHECK(text != NULL);
		zk_wipe_str(text);
	}
	json_decref(entries);
	return 0;
}
