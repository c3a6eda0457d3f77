#ifndef ZK_HTTP_H
#define ZK_HTTP_H

/*
 * A small layer over libmicrohttpd: one route table, bodies capped at ZK_HTTP_MAX_BODY, JSON replies that are
 * wiped when freed, and deferred replies (the connection is suspended while another thread finishes the work,
 * e.g. the group-commit writer).
 */
#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/mem.h"

#define ZK_HTTP_MAX_BODY (1u << 20)
/* An oversize upload up to this size is read (and dropped) before its 413, so the client sees the answer. */
#define ZK_HTTP_DRAIN_MAX (16u << 20)
#define ZK_HTTP_MAX_PARAMS 2
#define ZK_HTTP_MAX_HEADERS 6 /* extra response headers; 4 at most are set (RateLimit-*, Retry-After) */

struct zk_http_req;
typedef void (*zk_http_handler)(struct zk_http_req *r, void *app);

struct zk_route {
	const char *method;
	const char *pattern; /* literal segments and ":name" segments, e.g. "/secrets/:key" */
	zk_http_handler handler;
};

/* A value is cut at 63 bytes. With these sizes a request is under 1 KB: glibc's malloc serves a larger one
   from its large bins, first consolidating the fast bins, once per request. */
struct zk_http_header {
	const char *name;
	char value[64];
};

struct zk_http_req {
	struct MHD_Connection *conn;
	const struct zk_route *route;
	const char *method;
	const char *path;
	const char *param[ZK_HTTP_MAX_PARAMS];
	char *path_copy;
	struct zk_wipe_buf body; /* the request body, NUL-terminated */
	bool body_too_large;
	char peer[48];

	unsigned status;
	char *reply; /* serialized JSON, allocated by zk_wipe_malloc */
	size_t reply_len;
	const char *content_type;
	struct zk_http_header headers[ZK_HTTP_MAX_HEADERS];
	int nheaders;
	bool replied;

	void (*deferred)(struct zk_http_req *r, void *arg);
	void *deferred_arg;
	bool suspended;
	bool busy; /* its handler has started: counted until its answer is sent (zk_http_stop waits for it) */
	void *app_state; /* owned by the application; freed through the server's cleanup hook */
};

struct zk_http_config {
	const char *bind; /* IPv4 or IPv6 literal */
	uint16_t port;
	int listen_fd; /* > 0: serve this listening socket (zk_activation_socket) instead of bind and port */
	unsigned threads;
	/*
	 * libmicrohttpd's memory pool per connection, which must hold the request head (request line and headers;
	 * a bigger one gets libmicrohttpd's 431). 0: 16 KiB. The pool is zeroed for every request, so its size is
	 * paid per request: at 64 KiB that memset was 2 us of a 17 us read.
	 */
	size_t connection_memory;
	const char *tls_cert_path;
	const char *tls_key_path;
	const struct zk_route *routes;
	size_t nroutes;
	void *app;
	void (*cleanup)(struct zk_http_req *r, void *app);
};

struct zk_http_server;

struct zk_http_server *zk_http_start(const struct zk_http_config *cfg, char *err, size_t errlen);
void zk_http_stop(struct zk_http_server *s);
uint16_t zk_http_port(const struct zk_http_server *s);
/* Writes port as one line to path, atomically (a temporary file renamed), for whoever started the server. */
int zk_http_write_port_file(const char *path, unsigned port);

const char *zk_http_header(struct zk_http_req *r, const char *name);
const char *zk_http_query(struct zk_http_req *r, const char *name);

/* Sets the reply; takes the reference to body. Replaces any earlier reply. */
void zk_http_reply(struct zk_http_req *r, unsigned status, json_t *body);
/* {"error": msg} plus optional "code" */
void zk_http_error(struct zk_http_req *r, unsigned status, const char *msg, const char *code);
void zk_http_reply_text(struct zk_http_req *r, unsigned status, const char *content_type, char *text);
void zk_http_add_header(struct zk_http_req *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Suspends the connection, then calls fn(r, arg) on the server thread; fn hands the work to another thread,
 * which later sets the reply and calls zk_http_resume(r).
 */
void zk_http_defer(struct zk_http_req *r, void (*fn)(struct zk_http_req *r, void *arg), void *arg);
void zk_http_resume(struct zk_http_req *r);

#endif
