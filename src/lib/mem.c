#include "lib/mem.h"

#include <jansson.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

/* A size header in front of each block lets free() wipe exactly what was allocated. */
#define HEADER 16

void *zk_wipe_malloc(size_t n)
{
	if (n > SIZE_MAX - HEADER)
		return NULL;
	unsigned char *p = malloc(n + HEADER);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HEADER;
}

void zk_wipe_free(void *ptr)
{
	if (!ptr)
		return;
	unsigned char *p = (unsigned char *)ptr - HEADER;
	size_t n;
	memcpy(&n, p, sizeof(n));
	sodium_memzero(p, n + HEADER);
	free(p);
}

char *zk_wipe_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = zk_wipe_malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

void *zk_wipe_realloc(void *ptr, size_t n)
{
	size_t old;
	if (!ptr)
		return zk_wipe_malloc(n);
	memcpy(&old, (unsigned char *)ptr - HEADER, sizeof(old));
	void *q = zk_wipe_malloc(n ? n : 1);
	if (!q)
		return NULL;
	memcpy(q, ptr, old < n ? old : n);
	zk_wipe_free(ptr);
	return q;
}

int zk_wipe_buf_append(struct zk_wipe_buf *b, const void *data, size_t n)
{
	if (b->len > SIZE_MAX / 4 || n > SIZE_MAX / 4 - b->len) /* the doubling below cannot overflow */
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *q = zk_wipe_malloc(cap);
		if (!q)
			return -1;
		if (b->p)
			memcpy(q, b->p, b->len);
		zk_wipe_free(b->p);
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

void *zk_wipe_calloc(size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return NULL;
	void *p = zk_wipe_malloc(count * size);
	if (p)
		memset(p, 0, count * size);
	return p;
}

void zk_wipe_str(char *s)
{
	zk_wipe_free(s);
}

int zk_mem_init(void)
{
	if (sodium_init() < 0)
		return -1;
	json_set_alloc_funcs(zk_wipe_malloc, zk_wipe_free);
	return 0;
}

void zk_mem_harden_process(void)
{
	struct rlimit none = { 0, 0 };
	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
