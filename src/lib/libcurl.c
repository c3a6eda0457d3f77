#include "lib/libcurl.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "lib/mem.h"

/* A size prefix of our own, so realloc knows how much to copy and free wipes everything. */
#define PREFIX 16

static void *wipe_malloc(size_t n)
{
	if (n > SIZE_MAX - PREFIX)
		return NULL;
	unsigned char *p = zk_wipe_malloc(n + PREFIX);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + PREFIX;
}

static void wipe_free(void *p)
{
	if (p)
		zk_wipe_free((unsigned char *)p - PREFIX);
}

static void *wipe_realloc(void *p, size_t n)
{
	size_t old;
	if (!p)
		return wipe_malloc(n);
	memcpy(&old, (unsigned char *)p - PREFIX, sizeof(old));
	void *q = wipe_malloc(n ? n : 1);
	if (!q)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	wipe_free(p);
	return q;
}

static char *wipe_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = wipe_malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

static void *wipe_calloc(size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return NULL;
	void *p = wipe_malloc(count * size);
	if (p)
		memset(p, 0, count * size);
	return p;
}

struct zk_curl_symbols curl_sym;
static const char *const names[] = { ZK_CURL_SYMBOLS(ZK_DL_NAME) NULL };
/* The soname of libcurl's ABI 4, which every libcurl since 7.16 keeps. */
static struct zk_dl lib = ZK_DL("libcurl.so.4", "libcurl4", names, &curl_sym);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int result = -1;
static const char *error;

static void init(void)
{
	if (zk_dl_load(&lib) != 0) {
		error = zk_dl_error(&lib);
		return;
	}
	if (curl_sym.curl_global_init_mem(CURL_GLOBAL_DEFAULT, wipe_malloc, wipe_free, wipe_realloc, wipe_strdup,
				     wipe_calloc) != CURLE_OK) {
		error = "libcurl failed to initialise";
		return;
	}
	result = 0;
}

int zk_curl_global_init(void)
{
	pthread_once(&once, init);
	return result;
}

const char *zk_curl_error(void)
{
	return error;
}
