#ifndef ZK_MEM_H
#define ZK_MEM_H

#include <stddef.h>

/*
 * Memory that may hold plaintext. zk_mem_init() must run once at start: it initialises libsodium and makes
 * jansson allocate through zk_wipe_malloc()/zk_wipe_free(), so every parsed request body and every built
 * response that held a secret is wiped when it is freed.
 */
int zk_mem_init(void);

void *zk_wipe_malloc(size_t n);
void zk_wipe_free(void *p);
char *zk_wipe_strdup(const char *s);
/* realloc copies into a new wiped block and wipes the old one; calloc checks count * size for overflow. */
void *zk_wipe_realloc(void *p, size_t n);
void *zk_wipe_calloc(size_t count, size_t size);
/* Wipes and frees a NUL-terminated string (e.g. one returned by json_dumps). */
void zk_wipe_str(char *s);

/* A growing buffer in wiped memory (a request or response body), kept NUL-terminated for text parsers. */
struct zk_wipe_buf {
	char *p; /* free with zk_wipe_free */
	size_t len, cap;
};
/* Appends n bytes, doubling the block when it is full (the old one wiped): data that arrives in many pieces is
   copied O(log) times, not once per piece. -1 when out of memory, the buffer unchanged. */
int zk_wipe_buf_append(struct zk_wipe_buf *b, const void *data, size_t n);

/* Disables core dumps and ptrace attach for this process. */
void zk_mem_harden_process(void);

#endif
