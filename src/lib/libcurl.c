#include "lib/libcurl.h"

#include <pthread.h>

#include "lib/mem.h"

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
	if (curl_sym.curl_global_init_mem(CURL_GLOBAL_DEFAULT, zk_wipe_malloc, zk_wipe_free, zk_wipe_realloc,
					  zk_wipe_strdup, zk_wipe_calloc) != CURLE_OK) {
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
