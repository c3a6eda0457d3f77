#ifndef ZK_CLOCK_H
#define ZK_CLOCK_H

#include <stdint.h>

#define ZK_ISO8601_MAX 32

/* Milliseconds since the Unix epoch (wall clock) and a monotonic clock for timeouts. */
int64_t zk_now_ms(void);
int64_t zk_mono_ms(void);
/* "2026-11-27T04:05:06.789Z" */
void zk_iso8601(char out[ZK_ISO8601_MAX], int64_t ms);
/* Parses RFC 3339 date-times ("Z" or "+hh:mm"/"-hh:mm", optional fraction); returns 0 or -1. */
int zk_parse_iso8601(int64_t *ms, const char *s);

#endif
