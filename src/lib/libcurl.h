#ifndef ZK_LIBCURL_H
#define ZK_LIBCURL_H

/* curl.h's type-checking macros would also expand curl_sym.curl_easy_setopt(...); calls through the pointers
   never had them. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "lib/dl.h"

/*
 * libcurl, loaded on first use. A vault needs an HTTP client only for POST /secrets/:key/use and OAuth, and
 * libcurl brings twenty libraries with it (OpenSSL, Kerberos, LDAP, SSH, ...): linked normally they are mapped,
 * relocated and initialised in every vault process at start, which is most of a vault's start-up time and a
 * third of its resident memory. So nothing links libcurl; zk_curl_global_init() opens it (lib/dl.h),
 * resolves the functions below as curl_sym.<name>, and installs a wiping allocator: every buffer libcurl allocates
 * (receive buffers, the header lists that hold tokens and injected secrets) goes through zk_wipe_malloc and
 * is wiped when freed.
 *
 * Call zk_mem_init() first, then zk_curl_global_init() before any sym_ function; it runs once per process
 * (later calls return the first result) and is safe to call from several threads.
 */
int zk_curl_global_init(void);

/* After zk_curl_global_init() failed: why. NULL before the first call or after success. */
const char *zk_curl_error(void);

#define ZK_CURL_SYMBOLS(X)                                                                                     \
	X(curl_easy_cleanup)                                                                                   \
	X(curl_easy_escape)                                                                                    \
	X(curl_easy_getinfo)                                                                                   \
	X(curl_easy_init)                                                                                      \
	X(curl_easy_perform)                                                                                   \
	X(curl_easy_reset)                                                                                     \
	X(curl_easy_setopt)                                                                                    \
	X(curl_easy_strerror)                                                                                  \
	X(curl_free)                                                                                           \
	X(curl_global_init_mem)                                                                                \
	X(curl_slist_append)                                                                                   \
	X(curl_slist_free_all)                                                                                 \
	X(curl_url)                                                                                            \
	X(curl_url_cleanup)                                                                                    \
	X(curl_url_get)                                                                                        \
	X(curl_url_set)

extern struct zk_curl_symbols {
	ZK_CURL_SYMBOLS(ZK_DL_POINTER)
} curl_sym;

#endif
