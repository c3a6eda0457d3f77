#include "lib/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/mem.h"

struct zk_http_server {
	struct MHD_Daemon *daemon;
	/*
	 * Requests whose handler has started and whose answer is not yet sent, deferred ones included: zk_http_stop
	 * waits for them. Once stopping is set, no handler starts (the request is answered 503).
	 */
	atomic_int busy;
	atomic_bool stopping;
	struct zk_http_config cfg;
	char *tls_cert;
	char *tls_key;
};

/*
 * Percent-decoding of the path and the query arguments, in place. "%00" and "%2F" stay encoded: a decoded NUL
 * would silently cut the path short (so /secrets/a%00b would name the secret "a") and a decoded "/" would move
 * segment boundaries (/secrets/a%2Fversions would route to the versions of "a"). Left encoded, they reach the
 * handlers as text that fails their validation.
 */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *out = s;
	(void)cls;
	(void)c;
	for (const char *in = s; *in;) {
		if (in[0] == '%' && isxdigit((unsigned char)in[1]) && isxdigit((unsigned char)in[2])) {
			char hex[3] = { in[1], in[2], 0 };
			char ch = (char)strtoul(hex, NULL, 16);
			if (ch != '\0' && ch != '/') {
				*out++ = ch;
				in += 3;
				continue;
			}
		}
		*out++ = *in++;
	}
	*out = '\0';
	return (size_t)(out - s);
}

static bool route_matches(const char *pattern, char *path, const char *param[ZK_HTTP_MAX_PARAMS])
{
	int nparam = 0;
	const char *p = pattern;
	char *u = path;

	while (*p && *u) {
		if (*p != '/' || *u != '/')
			return false;
		p++;
		u++;
		if (*p != ':' && *p != *u) /* most routes differ at a segment's first byte: no need to measure it */
			return false;
		const char *pend = strchrnul(p, '/');
		char *uend = strchrnul(u, '/');
		if (*p == ':') {
			if (uend == u || nparam == ZK_HTTP_MAX_PARAMS)
				return false;
			param[nparam++] = u;
		} else if ((size_t)(pend - p) != (size_t)(uend - u) || memcmp(p, u, (size_t)(pend - p)) != 0) {
			return false;
		}
		p = pend;
		u = uend;
	}
	if (*p || *u)
		return false;
	/* Terminate the parameters in place only once the whole pattern matched. */
	for (int i = 0; i < nparam; i++)
		*strchrnul((char *)param[i], '/') = '\0';
	return true;
}

_Static_assert(sizeof(struct zk_http_req) < 1000, "a request must stay out of malloc's large bins (http.h)");

static void match_route(struct zk_http_server *s, struct zk_http_req *r)
{
	bool path_known = false;
	/* One copy for every route tried: route_matches writes into it only once a whole pattern matched. */
	char *copy = strdup(r->path);

	for (size_t i = 0; copy && i < s->cfg.nroutes; i++) {
		const struct zk_route *rt = &s->cfg.routes[i];
		const char *param[ZK_HTTP_MAX_PARAMS] = { 0 };
		if (!route_matches(rt->pattern, copy, param))
			continue;
		path_known = true;
		if (strcmp(rt->method, r->method) != 0) {
			/* Matched in place: start again from a fresh copy. */
			free(copy);
			copy = strdup(r->path);
			continue;
		}
		r->route = rt;
		r->path_copy = copy;
		memcpy(r->param, param, sizeof(param));
		return;
	}
	free(copy);
	if (path_known)
		zk_http_error(r, 405, "Method not allowed", NULL);
	else
		zk_http_error(r, 404, "Not found", NULL);
}

static void peer_address(struct zk_http_req *r)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	strcpy(r->peer, "unknown");
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		/* What inet_ntop writes, without its sprintf (a visible share of a read's instructions). */
		const unsigned char *b = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
		char *o = r->peer;
		for (int i = 0; i < 4; i++) {
			if (b[i] >= 100)
				*o++ = (char)('0' + b[i] / 100);
			if (b[i] >= 10)
				*o++ = (char)('0' + b[i] / 10 % 10);
			*o++ = (char)('0' + b[i] % 10);
			*o++ = i < 3 ? '.' : '\0';
		}
	} else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->peer, sizeof(r->peer));
}

static enum MHD_Result queue_reply(struct zk_http_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!r->replied)
		zk_http_error(r, 500, "Internal error", NULL);
	resp = MHD_create_response_from_buffer_with_free_callback(r->reply_len, r->reply, zk_wipe_free);
	if (!resp)
		return MHD_NO;
	r->reply = NULL;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				r->content_type ? r->content_type : "application/json; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	for (int i = 0; i < r->nheaders; i++)
		MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
	ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct zk_http_server *s = cls;
	struct zk_http_req *r = *con_cls;

	if (!r) {
		/* malloc and memset, not calloc: glibc's calloc skips the per-thread cache and takes the arena's
		   lock, which the HTTP threads then contend for on every request. */
		if (!(r = malloc(sizeof(*r))))
			return MHD_NO;
		memset(r, 0, sizeof(*r));
		r->conn = conn;
		r->method = method;
		r->path = url;
		peer_address(r);
		*con_cls = r;
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
		unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
		if (declared > ZK_HTTP_MAX_BODY) {
			r->body_too_large = true;
			/*
			 * Answer before the upload when the client waits for "100 Continue" or announces more than is worth
			 * reading; libmicrohttpd then closes the connection. Otherwise the client is already sending:
			 * closing now would reset the connection under it and it might never see the answer, so the
			 * upload is read and dropped (like a chunked one) and the 413 comes at its end.
			 */
			if ((expect && !strcasecmp(expect, "100-continue")) || declared > ZK_HTTP_DRAIN_MAX) {
				zk_http_error(r, 413, "Request body too large", "PAYLOAD_TOO_LARGE");
				return queue_reply(r);
			}
		}
		match_route(s, r);
		return MHD_YES;
	}

	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (r->body_too_large || r->replied)
			return MHD_YES;
		if (n > ZK_HTTP_MAX_BODY - r->body.len) {
			r->body_too_large = true;
			return MHD_YES;
		}
		if (zk_wipe_buf_append(&r->body, upload_data, n) != 0)
			return MHD_NO;
		return MHD_YES;
	}

	if (r->suspended) {
		/* Resumed: the worker thread has set the reply. */
		r->suspended = false;
		return queue_reply(r);
	}
	if (r->body_too_large) {
		zk_http_error(r, 413, "Request body too large", "PAYLOAD_TOO_LARGE");
	} else if (!r->replied && r->route) {
		/*
		 * Counted before stopping is read, and zk_http_stop sets stopping before it reads the count: either the
		 * stop waits for this request, or this request sees the stop and runs no handler (which could suspend
		 * the connection under MHD_stop_daemon).
		 */
		r->busy = true;
		atomic_fetch_add(&s->busy, 1);
		if (atomic_load(&s->stopping))
			zk_http_error(r, 503, "Server is shutting down", "SHUTTING_DOWN");
		else
			r->route->handler(r, s->cfg.app);
	}

	if (r->deferred) {
		void (*fn)(struct zk_http_req *, void *) = r->deferred;
		r->deferred = NULL;
		r->suspended = true;
		MHD_suspend_connection(conn);
		fn(r, r->deferred_arg);
		return MHD_YES;
	}
	return queue_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct zk_http_server *s = cls;
	struct zk_http_req *r = *con_cls;
	if (!r)
		return;
	if (r->busy) /* answered (or the connection ended): it no longer holds up zk_http_stop */
		atomic_fetch_sub(&s->busy, 1);
	if (s->cfg.cleanup)
		s->cfg.cleanup(r, s->cfg.app);
	zk_wipe_free(r->body.p);
	zk_wipe_free(r->reply);
	free(r->path_copy);
	free(r);
	*con_cls = NULL;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (1 << 20) && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = zk_wipe_malloc((size_t)n + 1))) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			zk_wipe_free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
		}
	}
	fclose(f);
	return buf;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	/* libmicrohttpd's own messages concern connections, never request contents. */
	fputs("http: ", stderr);
	vfprintf(stderr, fmt, ap);
}

struct zk_http_server *zk_http_start(const struct zk_http_config *cfg, char *err, size_t errlen)
{
	struct zk_http_server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage ss = { 0 };
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG | MHD_USE_TURBO;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg = *cfg;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (cfg->listen_fd > 0) {
		/* bound and listening already (socket activation): bind and port are not used */
	} else if (inet_pton(AF_INET, cfg->bind, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(cfg->port);
	} else if (inet_pton(AF_INET6, cfg->bind, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(cfg->port);
		flags |= MHD_USE_IPv6;
	} else {
		snprintf(err, errlen, "bind address '%s' is not an IP address", cfg->bind);
		free(s);
		return NULL;
	}
	if (cfg->tls_cert_path || cfg->tls_key_path) {
		if (!cfg->tls_cert_path || !cfg->tls_key_path) {
			snprintf(err, errlen, "TLS needs both a certificate and a key");
			free(s);
			return NULL;
		}
		s->tls_cert = read_file(cfg->tls_cert_path);
		s->tls_key = read_file(cfg->tls_key_path);
		if (!s->tls_cert || !s->tls_key) {
			snprintf(err, errlen, "cannot read the TLS certificate or key");
			zk_http_stop(s);
			return NULL;
		}
		flags |= MHD_USE_TLS;
	}

	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL },
		{ MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL },
		{ cfg->listen_fd > 0 ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_SOCK_ADDR, cfg->listen_fd, &ss },
		{ MHD_OPTION_THREAD_POOL_SIZE, cfg->threads ? cfg->threads : 1, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->connection_memory ? cfg->connection_memory : 16 * 1024, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, 30, NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, 4096, NULL },
		{ MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL },
		{ s->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->tls_cert },
		{ s->tls_key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->tls_key },
		{ MHD_OPTION_END, 0, NULL },
	};
	errno = 0;
	s->daemon = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
				     MHD_OPTION_END);
	if (!s->daemon) {
		/* A pair GnuTLS cannot use fails before any socket call: errno says nothing then. */
		if (s->tls_cert && errno != EADDRINUSE && errno != EACCES && errno != EADDRNOTAVAIL)
			snprintf(err, errlen, "cannot start TLS with that certificate and key (the reason is above)");
		else if (cfg->listen_fd > 0)
			snprintf(err, errlen, "cannot serve the inherited socket (fd %d): %s", cfg->listen_fd,
				 strerror(errno));
		else
			snprintf(err, errlen, "cannot listen on %s:%u: %s", cfg->bind, cfg->port, strerror(errno));
		zk_http_stop(s);
		return NULL;
	}
	return s;
}

void zk_http_stop(struct zk_http_server *s)
{
	if (!s)
		return;
	if (s->daemon) {
		/*
		 * libmicrohttpd aborts the process when stopped with a connection suspended, and a request waiting for
		 * the writer (a durable write, an unlock) is suspended: let every request whose handler has started
		 * finish and its answer go out — the threads that answer them are still running —, answer later ones
		 * 503, then stop.
		 * Not MHD_quiesce_daemon: with epoll worker threads it races with them to take the listening socket
		 * out of their epoll sets, and the loser aborts the process ("Failed to remove listen FD from epoll
		 * set"; seen in 8 of 60 stops right after an answer, with the process slowed by strace).
		 */
		atomic_store(&s->stopping, true);
		for (int ms = 0; atomic_load(&s->busy) > 0; ms++) {
			if (ms == 30000) {
				fprintf(stderr, "http: %d requests still unanswered after 30 s; exiting without them\n",
					atomic_load(&s->busy));
				_exit(1);
			}
			usleep(1000);
		}
		MHD_stop_daemon(s->daemon);
	}
	zk_wipe_free(s->tls_cert);
	zk_wipe_free(s->tls_key);
	free(s);
}

uint16_t zk_http_port(const struct zk_http_server *s)
{
	/* From the socket itself: libmicrohttpd reports the configured port, not that of a socket passed to it. */
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_LISTEN_FD);
	struct sockaddr_storage ss;
	socklen_t n = sizeof(ss);
	if (!di || getsockname(di->listen_fd, (struct sockaddr *)&ss, &n) != 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

const char *zk_http_header(struct zk_http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *zk_http_query(struct zk_http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

void zk_http_reply(struct zk_http_req *r, unsigned status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text) {
		status = 500;
		text = zk_wipe_strdup("{\"error\":\"Internal error\"}");
	}
	zk_http_reply_text(r, status, NULL, text);
}

void zk_http_reply_text(struct zk_http_req *r, unsigned status, const char *content_type, char *text)
{
	zk_wipe_free(r->reply);
	r->status = status;
	r->reply = text;
	r->reply_len = text ? strlen(text) : 0;
	r->content_type = content_type;
	r->replied = true;
}

void zk_http_error(struct zk_http_req *r, unsigned status, const char *msg, const char *code)
{
	json_t *o = json_pack("{ss}", "error", msg);
	if (code)
		json_object_set_new(o, "code", json_string(code));
	zk_http_reply(r, status, o);
}

void zk_http_add_header(struct zk_http_req *r, const char *name, const char *fmt, ...)
{
	va_list ap;
	if (r->nheaders == ZK_HTTP_MAX_HEADERS)
		return;
	struct zk_http_header *h = &r->headers[r->nheaders++];
	h->name = name;
	va_start(ap, fmt);
	vsnprintf(h->value, sizeof(h->value), fmt, ap);
	va_end(ap);
}

void zk_http_defer(struct zk_http_req *r, void (*fn)(struct zk_http_req *r, void *arg), void *arg)
{
	r->deferred = fn;
	r->deferred_arg = arg;
}

void zk_http_resume(struct zk_http_req *r)
{
	MHD_resume_connection(r->conn);
}

int zk_http_write_port_file(const char *path, unsigned port)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}
