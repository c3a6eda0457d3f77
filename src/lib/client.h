#ifndef ZK_CLIENT_H
#define ZK_CLIENT_H

#include <jansson.h>
#include <stddef.h>

/*
 * A small JSON-over-HTTP client (libcurl) for talking to a vaultd. Every buffer libcurl allocates, the
 * response body, and the request body are wiped when freed, because they may hold secret values.
 */

#define ZK_CLIENT_MAX_RESPONSE (64u << 20)
#define ZK_CLIENT_MAX_HEADERS 4

struct zk_client {
	void *curl;            /* CURL * */
	char *addr;            /* base URL without a trailing slash */
	char *ca_file;         /* CA bundle for https, or NULL for the system's */
	int plaintext_remote;  /* http:// to a host that is not loopback: credentials cross the network in clear */
	const char *user_agent; /* a static string; "zkvault-cli" when NULL */
	const char *header_name[ZK_CLIENT_MAX_HEADERS]; /* sent with every request: credentials, agent id */
	char *header_value[ZK_CLIENT_MAX_HEADERS];      /* wiped on close */
	int nheaders;
};

struct zk_response {
	long status;  /* HTTP status; 0 if no answer */
	json_t *body; /* parsed JSON object, or NULL if the answer was not JSON */
};

/* Once per process, before any other call (it installs libcurl's wiping allocator). */
int zk_client_global_init(void);

/* ca_file may be NULL. Returns -1 and writes err on a malformed address. */
int zk_client_open(struct zk_client *c, const char *addr, const char *ca_file, char *err, size_t errlen);
/* Sends header name (a static string) with every request; value is copied into wiped memory. */
int zk_client_add_header(struct zk_client *c, const char *name, const char *value);
void zk_client_close(struct zk_client *c);

/* Percent-encodes one path segment; free with zk_client_free_string(). */
char *zk_client_escape(struct zk_client *c, const char *segment);
void zk_client_free_string(char *s);

/*
 * Sends method path (plus body as JSON when not NULL) and parses the answer. Returns 0 when an HTTP answer
 * arrived (whatever its status), -1 on a transport error described in err. A 429 KDF_BUSY answer is retried.
 */
int zk_client_call(struct zk_client *c, const char *method, const char *path, const json_t *body,
		   struct zk_response *res, char *err, size_t errlen);
void zk_response_clear(struct zk_response *res);

#endif
