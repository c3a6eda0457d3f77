/* libFuzzer target for zk_parse_iso8601 (src/lib/clock.h), which reads the iat/exp claims of every token and the
   timestamps of imported records. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lib/clock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	int64_t ms = 0x5a5a5a5a5a5a5a5aLL, ms2;
	int rc = zk_parse_iso8601(&ms, s);
	CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		/* The shortest RFC 3339 date-time is "YYYY-MM-DDTHH:MM:SSZ". */
		CHECK(strlen(s) >= 20);
		/* Deterministic. */
		CHECK(zk_parse_iso8601(&ms2, s) == 0 && ms2 == ms);
		/* Within years 1970..9999 our own rendering parses back to the same instant. */
		if (ms >= 0 && ms < 253402300800000LL) {
			char iso[ZK_ISO8601_MAX];
			zk_iso8601(iso, ms);
			CHECK(zk_parse_iso8601(&ms2, iso) == 0 && ms2 == ms);
		}
	} else {
		CHECK(ms == 0x5a5a5a5a5a5a5a5aLL); /* nothing written on failure */
	}
	free(s);
	return 0;
}
