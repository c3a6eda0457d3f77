/*
 * Use without reveal (POST /secrets/:key/use) and the capability self-description (GET /capability).
 *
 * The vault itself makes the outgoing request, so a token with only `use` never reveals the secret to anyone:
 * not to the agent, not to the MCP server that holds the token. The secret's owner lists the origins it may be
 * sent to (metadata.allowedOrigins); redirects to any other origin are not followed; every form of the value in
 * the answer is replaced by [REDACTED].
 */
#include "vaultd/use.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/libcurl.h"
#include "lib/mem.h"
#include "lib/thread.h"
#include "vaultd/audit.h"
#include "vaultd/common.h"
#include "vaultd/limiter.h"
#include "vaultd/routes.h"
#include "vaultd/tokens.h"

/* ---------------------------------------------------------------- pure parts (fuzzed) */

static bool tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool valid_header_name(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!tchar((unsigned char)s[n]))
			return false;
	return n >= 1 && n <= 128;
}

bool use_header_forbidden(const char *name)
{
	static const char *const forbidden[] = {
		"host",	      "content-length", "transfer-encoding", "connection", "expect",	   "te",
		"upgrade",    "trailer",	"keep-alive",	     "proxy-authorization",	   "proxy-connection",
		"range",      "if-range",	"accept-encoding",   "http2-settings",
	};
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
		if (!strcasecmp(name, forbidden[i]))
			return true;
	return false;
}

static int origin_of(char out[USE_ORIGIN_MAX], CURLU *u, bool *insecure)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL;
	int rc = -1;

	if (curl_sym.curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_sym.curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
		goto out;
	/* Credentials in the URL would be sent to the origin beside the injected secret: refuse them. */
	if (curl_sym.curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_sym.curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK)
		goto out;
	curl_sym.curl_url_get(u, CURLUPART_PORT, &port, 0);
	for (char *p = scheme; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (char *p = host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	/* Plain DNS names (IDN as punycode) and IP literals only: no percent-encoding, no zone ids. */
	bool v6 = host[0] == '[';
	for (const char *p = host + v6; *p && !(v6 && *p == ']' && !p[1]); p++)
		if (!(isalnum((unsigned char)*p) || *p == '.' || (!v6 && *p == '-') || (v6 && *p == ':')))
			goto out;
	bool http = !strcmp(scheme, "http");
	if (!http && strcmp(scheme, "https"))
		goto out;
	if (port && ((http && !strcmp(port, "80")) || (!http && !strcmp(port, "443")))) {
		curl_sym.curl_free(port);
		port = NULL;
	}
	int n = snprintf(out, USE_ORIGIN_MAX, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
	if (n < 0 || n >= USE_ORIGIN_MAX)
		goto out;
	*insecure = http;
	rc = 0;
out:
	curl_sym.curl_free(scheme);
	curl_sym.curl_free(host);
	curl_sym.curl_free(port);
	curl_sym.curl_free(user);
	curl_sym.curl_free(pass);
	return rc;
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int use_origin(char out[USE_ORIGIN_MAX], const char *url, bool *insecure)
{
	if (!url || strlen(url) > USE_URL_MAX || !printable_ascii(url) ||
	    (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)) || zk_curl_global_init() != 0)
		return -1;
	CURLU *u = curl_sym.curl_url();
	if (!u)
		return -1;
	int rc = curl_sym.curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK ? origin_of(out, u, insecure) : -1;
	curl_sym.curl_url_cleanup(u);
	return rc;
}

bool use_origin_loopback(const char *origin)
{
	const char *h = strstr(origin, "://");
	if (!h)
		return false;
	h += 3;
	static const char *const hosts[] = { "127.0.0.1", "localhost", "[::1]" };
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(hosts[i]);
		if (!strncmp(h, hosts[i], n) && (h[n] == '\0' || h[n] == ':'))
			return true;
	}
	return false;
}

const char *use_check_origin(const json_t *metadata, const char *origin)
{
	const json_t *list = json_object_get(metadata, "allowedOrigins"), *x;
	size_t i;
	if (!json_is_array(list) || !json_array_size(list))
		return "no allowedOrigins";
	json_array_foreach(list, i, x) {
		char o[USE_ORIGIN_MAX];
		bool insecure;
		if (json_is_string(x) && use_origin(o, json_string_value(x), &insecure) == 0 && !strcmp(o, origin))
			return NULL;
	}
	return "origin not allowed";
}

const char *use_check_inject(const char *header, const char *format)
{
	if (!header || !valid_header_name(header))
		return "inject.header: Expected an HTTP header name";
	if (use_header_forbidden(header))
		return "inject.header: This header cannot carry a secret";
	if (!format || strlen(format) > USE_FORMAT_MAX)
		return "inject.format: Expected a string of at most 256 characters";
	for (const char *p = format; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			return "inject.format: Control characters are not allowed";
	const char *at = strstr(format, "{value}");
	if (!at || strstr(at + 1, "{value}"))
		return "inject.format: Must contain {value} exactly once";
	return NULL;
}

bool use_metadata_inject(const json_t *metadata, const char **header, const char **format)
{
	const json_t *inj = json_object_get(metadata, "inject");
	const char *h = json_string_value(json_object_get(inj, "header"));
	const char *f = json_string_value(json_object_get(inj, "format"));
	if (!h)
		return false;
	if (!f)
		f = USE_DEFAULT_FORMAT;
	if (use_check_inject(h, f))
		return false;
	*header = h;
	*format = f;
	return true;
}

void use_request_clear(struct use_request *u)
{
	if (u->body) {
		sodium_memzero(u->body, u->body_len);
		zk_wipe_free(u->body);
	}
	memset(u, 0, sizeof(*u));
}

static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" };

const char *use_parse(struct use_request *u, const json_t *body, char *details, size_t n)
{
	const char *k;
	json_t *x;

	(void)details;
	(void)n;
	memset(u, 0, sizeof(*u));
	json_object_foreach((json_t *)body, k, x)
		if (strcmp(k, "request") && strcmp(k, "inject"))
			return "Unknown field (expected request and inject)";
	json_t *req = json_object_get(body, "request"), *inj = json_object_get(body, "inject");
	if (!req)
		return "request: Required";
	if (!json_is_object(req))
		return "request: Expected object";
	json_object_foreach(req, k, x)
		if (strcmp(k, "method") && strcmp(k, "url") && strcmp(k, "headers") && strcmp(k, "body"))
			return "request: Unknown field (expected method, url, headers, body)";

	const char *m = json_string_value(json_object_get(req, "method"));
	if (!m)
		return "request.method: Required";
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcasecmp(m, methods[i]))
			strcpy(u->method, methods[i]);
	if (!*u->method)
		return "request.method: Expected GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS";

	json_t *url = json_object_get(req, "url");
	if (!json_is_string(url))
		return "request.url: Required";
	if (json_string_length(url) != strlen(json_string_value(url)) ||
	    use_origin(u->origin, json_string_value(url), &u->insecure) != 0)
		return "request.url: Expected an absolute http(s) URL without credentials";
	u->url = json_string_value(url);

	json_t *h = json_object_get(req, "headers");
	if (h && !json_is_null(h)) {
		if (!json_is_object(h))
			return "request.headers: Expected object";
		if (json_object_size(h) > USE_MAX_HEADERS)
			return "request.headers: At most 50 headers";
		json_object_foreach(h, k, x) {
			if (!valid_header_name(k))
				return "request.headers: Invalid header name";
			if (use_header_forbidden(k))
				return "request.headers: A header the vault sets itself (framing, ranges, encodings)";
			const char *val = json_string_value(x);
			if (!val || json_string_length(x) > USE_HEADER_VALUE_MAX)
				return "request.headers: Values must be strings of at most 8192 characters";
			for (size_t i = 0; i < json_string_length(x); i++)
				if (val[i] == '\r' || val[i] == '\n' || val[i] == '\0')
					return "request.headers: Values must not contain line breaks";
		}
		u->headers = h;
	}

	json_t *b = json_object_get(req, "body");
	if (json_is_string(b)) {
		u->body_len = json_string_length(b);
		if (!(u->body = zk_wipe_malloc(u->body_len + 1)))
			return "request.body: Too large";
		memcpy(u->body, json_string_value(b), u->body_len);
		u->body[u->body_len] = '\0';
	} else if (json_is_object(b) || json_is_array(b)) {
		char *text = json_dumps(b, JSON_COMPACT);
		if (!text)
			return "request.body: Too large";
		u->body = text; /* jansson allocates through zk_wipe_malloc */
		u->body_len = strlen(text);
		u->body_is_json = true;
	} else if (b && !json_is_null(b)) {
		return "request.body: Expected string, object or array";
	}

	if (inj && !json_is_null(inj)) {
		if (!json_is_object(inj))
			return "inject: Expected object";
		json_object_foreach(inj, k, x)
			if (strcmp(k, "header") && strcmp(k, "format"))
				return "inject: Unknown field (expected header, format)";
		u->inject_header = json_string_value(json_object_get(inj, "header"));
		u->inject_format = json_string_value(json_object_get(inj, "format"));
		if (!u->inject_format && !json_object_get(inj, "format"))
			u->inject_format = USE_DEFAULT_FORMAT;
		const char *problem = use_check_inject(u->inject_header, u->inject_format);
		if (problem)
			return problem;
		if (u->headers) {
			json_object_foreach((json_t *)u->headers, k, x)
				if (!strcasecmp(k, u->inject_header))
					return "request.headers: Must not set the header the secret is injected into";
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ redaction */

struct needle {
	char *p;
	size_t n;
	const unsigned char *next; /* next occurrence at or after the scan position, or NULL */
	bool stale;
};

#define MAX_NEEDLES 32

struct needles {
	struct needle v[MAX_NEEDLES];
	int count;
};

static void add_needle(struct needles *s, char *p, size_t n)
{
	if (!p)
		return;
	if (!n || s->count == MAX_NEEDLES) {
		zk_wipe_free(p);
		return;
	}
	for (int i = 0; i < s->count; i++)
		if (s->v[i].n == n && !memcmp(s->v[i].p, p, n)) {
			zk_wipe_free(p);
			return;
		}
	s->v[s->count++] = (struct needle){ .p = p, .n = n, .stale = true };
}

static char *dup_bytes(const void *p, size_t n)
{
	char *d = zk_wipe_malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

static void add_hex(struct needles *s, const unsigned char *secret, size_t slen, bool upper)
{
	char *d = zk_wipe_malloc(2 * slen + 1);
	static const char lo[] = "0123456789abcdef", hi[] = "0123456789ABCDEF";
	if (!d)
		return;
	for (size_t i = 0; i < slen; i++) {
		d[2 * i] = (upper ? hi : lo)[secret[i] >> 4];
		d[2 * i + 1] = (upper ? hi : lo)[secret[i] & 15];
	}
	d[2 * slen] = '\0';
	add_needle(s, d, 2 * slen);
}

/* mode 0: %XX upper case; 1: %xx lower case; 2: form encoding (space as +), upper case. */
static void add_percent(struct needles *s, const unsigned char *secret, size_t slen, int mode)
{
	char *d = zk_wipe_malloc(3 * slen + 1);
	const char *hex = mode == 1 ? "0123456789abcdef" : "0123456789ABCDEF";
	size_t o = 0;
	if (!d)
		return;
	for (size_t i = 0; i < slen; i++) {
		unsigned char c = secret[i];
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			d[o++] = (char)c;
		} else if (mode == 2 && c == ' ') {
			d[o++] = '+';
		} else {
			d[o++] = '%';
			d[o++] = hex[c >> 4];
			d[o++] = hex[c & 15];
		}
	}
	d[o] = '\0';
	add_needle(s, d, o);
}

static void add_json(struct needles *s, const unsigned char *secret, size_t slen, size_t flags)
{
	json_t *str = json_stringn((const char *)secret, slen);
	char *text = str ? json_dumps(str, JSON_ENCODE_ANY | flags) : NULL;
	json_decref(str);
	if (!text)
		return;
	size_t n = strlen(text);
	if (n >= 2)
		add_needle(s, dup_bytes(text + 1, n - 2), n - 2);
	zk_wipe_str(text);
}

/*
 * Base64 of the secret at each byte alignment k (as when it sits inside a larger encoded string, e.g.
 * "Bearer <secret>" or "user:<secret>" in Basic auth): only the characters that depend on the secret's bytes
 * alone, so they match whatever surrounds it.
 */
static void add_base64(struct needles *s, const unsigned char *secret, size_t slen, int variant)
{
	for (size_t k = 0; k < 3; k++) {
		size_t n = k + slen;
		unsigned char *buf = zk_wipe_malloc(n ? n : 1);
		size_t elen = sodium_base64_ENCODED_LEN(n, variant);
		char *enc = zk_wipe_malloc(elen);
		if (!buf || !enc) {
			zk_wipe_free(buf);
			zk_wipe_free(enc);
			return;
		}
		memset(buf, 0, k);
		memcpy(buf + k, secret, slen);
		sodium_bin2base64(enc, elen, buf, n, variant);
		size_t first = (8 * k + 5) / 6, end = (8 * (k + slen)) / 6;
		if (end > first && end - first >= 6)
			add_needle(s, dup_bytes(enc + first, end - first), end - first);
		if (k == 0)
			add_needle(s, dup_bytes(enc, strlen(enc)), strlen(enc));
		zk_wipe_free(buf);
		zk_wipe_free(enc);
	}
}

static int append(char **out, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 256;
		while (c < *len + n + 1)
			c *= 2;
		char *q = zk_wipe_malloc(c);
		if (!q)
			return -1;
		if (*out)
			memcpy(q, *out, *len);
		zk_wipe_free(*out);
		*out = q;
		*cap = c;
	}
	memcpy(*out + *len, p, n);
	*len += n;
	(*out)[*len] = '\0';
	return 0;
}

char *use_redact(const unsigned char *in, size_t len, const unsigned char *secret, size_t slen, size_t *out_len)
{
	static const char mark[] = "[REDACTED]";
	struct needles s = { .count = 0 };
	char *out = NULL;
	size_t olen = 0, cap = 0, pos = 0;

	if (slen) {
		add_needle(&s, dup_bytes(secret, slen), slen);
		add_json(&s, secret, slen, 0);
		add_json(&s, secret, slen, JSON_ESCAPE_SLASH);
		add_json(&s, secret, slen, JSON_ENSURE_ASCII);
		add_json(&s, secret, slen, JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH);
		for (int m = 0; m < 3; m++)
			add_percent(&s, secret, slen, m);
		add_hex(&s, secret, slen, false);
		add_hex(&s, secret, slen, true);
		add_base64(&s, secret, slen, sodium_base64_VARIANT_ORIGINAL);
		add_base64(&s, secret, slen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	}
	if (append(&out, &olen, &cap, "", 0) != 0)
		goto fail;
	while (pos < len) {
		struct needle *best = NULL;
		for (int i = 0; i < s.count; i++) {
			struct needle *nd = &s.v[i];
			if (nd->stale || (nd->next && nd->next < in + pos)) {
				nd->next = memmem(in + pos, len - pos, nd->p, nd->n);
				nd->stale = false;
			}
			if (nd->next && (!best || nd->next < best->next || (nd->next == best->next && nd->n > best->n)))
				best = nd;
		}
		if (!best) {
			if (append(&out, &olen, &cap, in + pos, len - pos) != 0)
				goto fail;
			break;
		}
		size_t at = (size_t)(best->next - in);
		if (append(&out, &olen, &cap, in + pos, at - pos) != 0 || append(&out, &olen, &cap, mark, 10) != 0)
			goto fail;
		pos = at + best->n;
	}
	for (int i = 0; i < s.count; i++)
		zk_wipe_free(s.v[i].p);
	*out_len = olen;
	return out;
fail:
	for (int i = 0; i < s.count; i++)
		zk_wipe_free(s.v[i].p);
	zk_wipe_free(out);
	return NULL;
}

/* ------------------------------------------------------------------ the route */

bool use_allow_insecure_origins;
static atomic_int inflight;
static atomic_bool shutting_down;

/* Aborts transfers in flight once the server is stopping. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	return atomic_load(&shutting_down) ? 1 : 0;
}

void use_shutdown(void)
{
	atomic_store(&shutting_down, true);
	/* Each request answers (503) within a progress tick; zk_http_stop then waits for the answers to go out. */
	for (int i = 0; i < 200 && atomic_load(&inflight); i++)
		usleep(25 * 1000);
}

/*
 * The agent id of the request (X-Agent-Id), kept only when it is short and plain. A token with an audience is
 * accepted only when this header equals it, so for such tokens it is verified, not just reported.
 */
static const char *agent_id(struct zk_http_req *r)
{
	const char *a = zk_http_header(r, "X-Agent-Id");
	size_t n = a ? strlen(a) : 0;
	if (!n || n > 128)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)a[i]) && !strchr("._:@-", a[i]))
			return NULL;
	return a;
}

static int audit_use(struct vault *v, struct zk_http_req *r, const struct cap *c, const char *action,
		     const char *key, const char *error, bool success)
{
	struct audit_event e = { action, c->claims.sub, key, NULL, c->claims.jti, error, c->ip, success };
	return audit_read_agent(v, &e, agent_id(r));
}

static void use_denied(struct vault *v, struct zk_http_req *r, const struct cap *c, const char *key,
		       const char *reason, unsigned status, const char *msg, const char *code)
{
	atomic_fetch_add(&v->n_denied, 1);
	if (audit_use(v, r, c, "secret.use.denied", key, reason, false) != 0) {
		zk_http_error(r, 503, "Audit backlog is full; try again", "AUDIT_BACKLOG");
		return;
	}
	zk_http_error(r, status, msg, code);
}

struct use_job {
	struct zk_http_req *req;
	json_t *body; /* the parsed request body u points into */
	json_t *rec;  /* the decrypted record: value and metadata */
	struct use_request u;
	const char *secret;
	size_t secret_len;
	const char *inject_header;
	const char *inject_format;
	bool insecure_allowed;
};

static void use_job_free(struct use_job *j)
{
	use_request_clear(&j->u);
	json_decref(j->rec);
	json_decref(j->body);
	free(j);
}

struct buf {
	char *p;
	size_t len, cap, max;
	bool too_big;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	if (n > b->max - b->len) {
		b->too_big = true;
		return 0;
	}
	return append(&b->p, &b->len, &b->cap, data, n) == 0 ? n : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	/* A new status line (an interim 1xx answer came first): keep only the last response's headers. */
	if (n >= 5 && !memcmp(data, "HTTP/", 5) && b->p) {
		sodium_memzero(b->p, b->len);
		b->len = 0;
	}
	return on_body(data, size, nmemb, arg);
}

static void buf_free(struct buf *b)
{
	zk_wipe_free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Headers the answer never carries: cookies (sessions derived from the credential), framing, encodings. */
static bool response_header_dropped(const char *name)
{
	static const char *const dropped[] = { "set-cookie", "set-cookie2", "content-encoding", "content-length",
					       "transfer-encoding", "connection", "keep-alive" };
	for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
		if (!strcasecmp(name, dropped[i]))
			return true;
	return false;
}

static char *redact_str(struct use_job *j, const char *p, size_t n, size_t *out_len)
{
	return use_redact((const unsigned char *)p, n, (const unsigned char *)j->secret, j->secret_len, out_len);
}

/* Non-ASCII bytes in header values become '?', so the value is always a JSON string. */
static json_t *parse_headers(struct use_job *j, struct buf *h)
{
	json_t *o = json_object();
	char *save = NULL;
	if (!h->p)
		return o;
	for (char *line = strtok_r(h->p, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strchr(line, ':');
		if (!strncmp(line, "HTTP/", 5) || !colon)
			continue;
		*colon = '\0';
		char *val = colon + 1;
		while (*val == ' ' || *val == '\t')
			val++;
		for (char *p = line; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (response_header_dropped(line))
			continue;
		size_t nl, vl;
		char *name = redact_str(j, line, strlen(line), &nl), *value = redact_str(j, val, strlen(val), &vl);
		if (name && value) {
			for (size_t i = 0; i < vl; i++)
				if ((unsigned char)value[i] >= 0x80 || (unsigned char)value[i] < 0x20)
					value[i] = '?';
			for (size_t i = 0; i < nl; i++)
				if ((unsigned char)name[i] >= 0x80)
					name[i] = '?';
			json_t *prev = json_object_get(o, name);
			if (json_is_string(prev)) {
				size_t pl = json_string_length(prev);
				char *joined = zk_wipe_malloc(pl + 2 + vl + 1);
				if (joined) {
					memcpy(joined, json_string_value(prev), pl);
					memcpy(joined + pl, ", ", 2);
					memcpy(joined + pl + 2, value, vl + 1);
					json_object_set_new(o, name, json_string(joined));
					zk_wipe_str(joined);
				}
			} else {
				json_object_set_new(o, name, json_string(value));
			}
		}
		zk_wipe_str(name);
		zk_wipe_str(value);
	}
	return o;
}

static bool has_header(const json_t *headers, const char *name)
{
	const char *k;
	json_t *x;
	json_object_foreach((json_t *)headers, k, x)
		if (!strcasecmp(k, name))
			return true;
	return false;
}

static struct curl_slist *build_headers(struct use_job *j, bool with_body)
{
	struct curl_slist *list = curl_sym.curl_slist_append(NULL, "Expect:");
	const char *k;
	json_t *x;

	if (j->u.headers) {
		json_object_foreach((json_t *)j->u.headers, k, x) {
			char *line = NULL;
			size_t n = strlen(k) + json_string_length(x) + 3;
			if (!list || !(line = zk_wipe_malloc(n))) {
				curl_sym.curl_slist_free_all(list);
				return NULL;
			}
			snprintf(line, n, "%s: %s", k, json_string_value(x));
			struct curl_slist *next = curl_sym.curl_slist_append(list, line);
			zk_wipe_str(line);
			if (!next) {
				curl_sym.curl_slist_free_all(list);
				return NULL;
			}
			list = next;
		}
	}
	if (list && with_body && j->u.body_is_json && !(j->u.headers && has_header(j->u.headers, "Content-Type")))
		list = curl_sym.curl_slist_append(list, "Content-Type: application/json");

	/* The injected header: format with {value} replaced, built in wiped memory. */
	const char *at = strstr(j->inject_format, "{value}");
	size_t pre = (size_t)(at - j->inject_format), post = strlen(at + 7);
	size_t n = strlen(j->inject_header) + 2 + pre + j->secret_len + post + 1;
	char *line = list ? zk_wipe_malloc(n) : NULL;
	if (!line) {
		curl_sym.curl_slist_free_all(list);
		return NULL;
	}
	size_t o = (size_t)snprintf(line, n, "%s: ", j->inject_header);
	memcpy(line + o, j->inject_format, pre);
	memcpy(line + o + pre, j->secret, j->secret_len);
	memcpy(line + o + pre + j->secret_len, at + 7, post + 1);
	struct curl_slist *next = curl_sym.curl_slist_append(list, line);
	sodium_memzero(line, n);
	zk_wipe_free(line);
	if (!next)
		curl_sym.curl_slist_free_all(list);
	return next;
}

/* Performs the request, following redirects only within the same origin. Sets *status and returns the body. */
static json_t *perform(struct use_job *j, unsigned *status)
{
	CURL *h = curl_sym.curl_easy_init();
	CURLU *cu = curl_sym.curl_url();
	struct buf body = { .max = USE_MAX_RESPONSE }, hdrs = { .max = USE_MAX_RESPONSE_HEADERS };
	char method[8], origin[USE_ORIGIN_MAX], curl_err[CURL_ERROR_SIZE];
	const char *send_body = j->u.body;
	size_t send_len = j->u.body_len;
	json_t *reply = NULL;
	long code = 0;
	int64_t deadline = zk_mono_ms() + USE_TIMEOUT_S * 1000;

	*status = 502;
	snprintf(method, sizeof(method), "%s", j->u.method);
	snprintf(origin, sizeof(origin), "%s", j->u.origin);
	if (!h || !cu || curl_sym.curl_url_set(cu, CURLUPART_URL, j->u.url, 0) != CURLUE_OK) {
		*status = 500;
		reply = json_pack("{ss}", "error", "Internal error");
		goto out;
	}
	for (int hop = 0;; hop++) {
		struct curl_slist *list = build_headers(j, send_body != NULL);
		int64_t left = deadline - zk_mono_ms();
		if (!list || left <= 0) {
			curl_sym.curl_slist_free_all(list);
			*status = list ? 504 : 500;
			reply = list ? json_pack("{ssss}", "error", "The request timed out", "code", "UPSTREAM_TIMEOUT")
				     : json_pack("{ss}", "error", "Internal error");
			goto out;
		}
		buf_free(&body);
		buf_free(&hdrs);
		body.max = USE_MAX_RESPONSE;
		hdrs.max = USE_MAX_RESPONSE_HEADERS;
		curl_err[0] = '\0';
		curl_sym.curl_easy_reset(h);
		curl_sym.curl_easy_setopt(h, CURLOPT_CURLU, cu);
		curl_sym.curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, j->insecure_allowed ? "http,https" : "https");
		curl_sym.curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
		curl_sym.curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_sym.curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, USE_CONNECT_TIMEOUT_S);
		curl_sym.curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
		curl_sym.curl_easy_setopt(h, CURLOPT_USERAGENT, "zkvault-use/1");
		curl_sym.curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
		/* Decoded here, so a compressed echo of the secret cannot slip past the redaction. */
		curl_sym.curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
		curl_sym.curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
		curl_sym.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
		curl_sym.curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
		curl_sym.curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
		curl_sym.curl_easy_setopt(h, CURLOPT_HEADERDATA, &hdrs);
		curl_sym.curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_sym.curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		if (!strncmp(origin, "http://", 7))
			curl_sym.curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* loopback test origins only */
		if (!strcmp(method, "HEAD"))
			curl_sym.curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		else if (strcmp(method, "GET") || send_body)
			curl_sym.curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		if (send_body) {
			curl_sym.curl_easy_setopt(h, CURLOPT_POSTFIELDS, send_body);
			curl_sym.curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)send_len);
		}
		CURLcode cc = curl_sym.curl_easy_perform(h);
		curl_sym.curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		curl_sym.curl_slist_free_all(list);
		if (cc != CURLE_OK) {
			if (body.too_big || hdrs.too_big) {
				reply = json_pack("{ssss}", "error", "The response is larger than the vault relays (1 MiB)",
						  "code", "UPSTREAM_TOO_LARGE");
			} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
				*status = 503;
				reply = json_pack("{ssss}", "error", "The vault is shutting down", "code", "SHUTTING_DOWN");
			} else if (cc == CURLE_OPERATION_TIMEDOUT) {
				*status = 504;
				reply = json_pack("{ssss}", "error", "The request timed out", "code", "UPSTREAM_TIMEOUT");
			} else {
				char msg[CURL_ERROR_SIZE + 64];
				snprintf(msg, sizeof(msg), "The request failed: %s", curl_sym.curl_easy_strerror(cc));
				reply = json_pack("{ssss}", "error", msg, "code", "UPSTREAM_ERROR");
			}
			goto out;
		}
		curl_sym.curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		char *location = NULL;
		curl_sym.curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &location);
		bool redirect = code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
		if (!redirect || !location || hop == USE_MAX_REDIRECTS)
			break;
		/* Follow only within the same origin; otherwise the redirect itself is the answer. */
		char next[USE_ORIGIN_MAX];
		bool insecure;
		if (use_origin(next, location, &insecure) != 0 || strcmp(next, origin) ||
		    curl_sym.curl_url_set(cu, CURLUPART_URL, location, 0) != CURLUE_OK)
			break;
		if (code == 303 || ((code == 301 || code == 302) && !strcmp(method, "POST"))) {
			if (strcmp(method, "HEAD"))
				strcpy(method, "GET");
			send_body = NULL;
			send_len = 0;
		}
	}

	size_t blen;
	char *red = use_redact((const unsigned char *)(body.p ? body.p : ""), body.len,
			       (const unsigned char *)j->secret, j->secret_len, &blen);
	json_t *headers = parse_headers(j, &hdrs);
	if (!red || !headers) {
		zk_wipe_free(red);
		json_decref(headers);
		*status = 500;
		reply = json_pack("{ss}", "error", "Internal error");
		goto out;
	}
	reply = json_pack("{sIso}", "status", (json_int_t)code, "headers", headers);
	json_t *text = json_stringn(red, blen);
	if (text) {
		json_object_set_new(reply, "body", text);
	} else {
		char *b64 = zk_b64_dup((const unsigned char *)red, blen);
		json_object_set_new(reply, "body", json_string(b64 ? b64 : ""));
		json_object_set_new(reply, "bodyEncoding", json_string("base64"));
		zk_wipe_str(b64);
	}
	zk_wipe_free(red);
	*status = 200;
out:
	if (h) {
		curl_sym.curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
		curl_sym.curl_easy_cleanup(h);
	}
	curl_sym.curl_url_cleanup(cu);
	buf_free(&body);
	buf_free(&hdrs);
	return reply;
}

static void *use_thread(void *arg)
{
	struct use_job *j = arg;
	struct zk_http_req *r = j->req;
	unsigned status;
	json_t *reply = perform(j, &status);
	use_job_free(j);
	zk_http_reply(r, status, reply ? reply : json_pack("{ss}", "error", "Internal error"));
	zk_http_resume(r);
	atomic_fetch_sub(&inflight, 1);
	return NULL;
}

static void start_use(struct zk_http_req *r, void *arg)
{
	struct use_job *j = arg;
	if (zk_thread_detached(use_thread, j) != 0) {
		use_job_free(j);
		zk_http_error(r, 503, "Too many requests in flight; try again", "USE_BUSY");
		zk_http_resume(r);
		atomic_fetch_sub(&inflight, 1);
	}
}

void handle_secret_use(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	const char *key = r->param[0];
	struct use_job *j = NULL;
	struct cap c;
	json_t *body = NULL, *rec = NULL;
	char details[160];

	const char *problem = secret_name_problem(key);
	if (problem) {
		snprintf(details, sizeof(details), "key: %s", problem);
		validation_error(r, "Invalid URL parameters", details);
		return;
	}
	if (!body_object(r, &body))
		return;
	if (!(j = calloc(1, sizeof(*j)))) {
		zk_http_error(r, 500, "Internal error", NULL);
		goto fail;
	}
	if ((problem = use_parse(&j->u, body, details, sizeof(details)))) {
		validation_error(r, "Invalid request body", problem);
		goto fail;
	}
	if (!require_capability(v, r, &c))
		goto fail;
	if (!claims_allow(&c.claims, key, PERM_USE)) {
		use_denied(v, r, &c, key, "Access denied", 403, "Access denied for this secret", NULL);
		goto fail;
	}
	if (j->u.insecure && !(use_allow_insecure_origins && use_origin_loopback(j->u.origin))) {
		use_denied(v, r, &c, key, "insecure origin", 403, "The request must use https", "INSECURE_ORIGIN");
		goto fail;
	}

	int found = 0;
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	if (v->keys) {
		unsigned char h[ZK_HASH_BYTES];
		zk_name_hash(h, key, strlen(key), v->keys->name_mac);
		const struct index_entry *e = index_get(&v->index, h);
		if (e && !e->tombstone)
			found = record_open(&rec, v, v->keys, e) == 0 ? 1 : -1;
	}
	bool unlocked = v->keys != NULL;
	zk_brlock_rdunlock(&v->state_lock, slot);
	if (!unlocked) {
		locked_error(v, r);
		goto fail;
	}
	if (found < 0) {
		zk_http_error(r, 500, "Failed to get secret", NULL);
		goto fail;
	}
	json_t *value = json_object_get(rec, "value"), *meta = json_object_get(rec, "metadata");
	if (!found || !json_is_string(value)) {
		zk_http_error(r, 404, "Secret not found", NULL);
		goto fail;
	}
	const char *why = use_check_origin(meta, j->u.origin);
	if (why) {
		if (!strcmp(why, "no allowedOrigins"))
			use_denied(v, r, &c, key, why, 403,
				   "This secret has no allowedOrigins; its owner must set metadata.allowedOrigins",
				   "NO_ALLOWED_ORIGINS");
		else
			use_denied(v, r, &c, key, why, 403, "Origin not allowed for this secret", "ORIGIN_NOT_ALLOWED");
		goto fail;
	}
	const char *pin_header, *pin_format;
	if (use_metadata_inject(meta, &pin_header, &pin_format)) {
		if (j->u.inject_header) {
			validation_error(r, "Invalid request body", "inject: This secret fixes its injection; omit inject");
			goto fail;
		}
		if (j->u.headers && has_header(j->u.headers, pin_header)) {
			validation_error(r, "Invalid request body",
					 "request.headers: Must not set the header the secret is injected into");
			goto fail;
		}
		j->inject_header = pin_header;
		j->inject_format = pin_format;
	} else if (j->u.inject_header) {
		j->inject_header = j->u.inject_header;
		j->inject_format = j->u.inject_format;
	} else {
		if (j->u.headers && has_header(j->u.headers, USE_DEFAULT_HEADER)) {
			validation_error(r, "Invalid request body",
					 "request.headers: Must not set the header the secret is injected into");
			goto fail;
		}
		j->inject_header = USE_DEFAULT_HEADER;
		j->inject_format = USE_DEFAULT_FORMAT;
	}

	/* libcurl's own buffers (headers holding the secret, receive buffers) are wiped when freed. */
	if (zk_curl_global_init() != 0) {
		zk_http_error(r, 500, "Internal error", NULL);
		goto fail;
	}
	/* Counted before the check: use_shutdown sets the flag, then reads the count, so one of them sees the other. */
	int before = atomic_fetch_add(&inflight, 1);
	if (atomic_load(&shutting_down)) {
		atomic_fetch_sub(&inflight, 1);
		zk_http_error(r, 503, "The vault is shutting down", "SHUTTING_DOWN");
		goto fail;
	}
	if (before >= USE_MAX_INFLIGHT) {
		atomic_fetch_sub(&inflight, 1);
		zk_http_add_header(r, "Retry-After", "1");
		zk_http_error(r, 503, "Too many requests in flight; try again", "USE_BUSY");
		goto fail;
	}
	/* Audited before the secret leaves: no audit, no use. */
	if (audit_use(v, r, &c, "secret.used", key, NULL, true) != 0) {
		atomic_fetch_sub(&inflight, 1);
		zk_http_error(r, 503, "Audit backlog is full; try again", "AUDIT_BACKLOG");
		goto fail;
	}
	atomic_fetch_add(&v->n_reads, 1);
	j->req = r;
	j->body = body;
	j->rec = rec;
	j->secret = json_string_value(value);
	j->secret_len = json_string_length(value);
	j->insecure_allowed = use_allow_insecure_origins;
	zk_http_defer(r, start_use, j);
	return;
fail:
	if (j)
		use_request_clear(&j->u);
	free(j);
	json_decref(rec);
	json_decref(body);
}

/* ------------------------------------------------------- GET /capability */

static json_t *perm_list(unsigned perms)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = { { PERM_READ, "read" }, { PERM_WRITE, "write" }, { PERM_DELETE, "delete" },
		      { PERM_USE, "use" },   { PERM_ADMIN, "admin" } };
	json_t *a = json_array();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (perms & names[i].bit)
			json_array_append_new(a, json_string(names[i].name));
	return a;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "key")),
		      json_string_value(json_object_get(*(json_t *const *)b, "key")));
}

struct capability_ctx {
	json_t *list;
	const struct claims *claims;
	unsigned perms;
};

static void list_capability(json_t *rec, const struct index_entry *e, void *arg)
{
	struct capability_ctx *ctx = arg;
	const char *name = json_string_value(json_object_get(rec, "name"));
	(void)e;
	if (ctx->perms && name && !strchr(name, ':') && claims_allow_name(ctx->claims, name)) { /* not "integration:…" */
		json_t *item = json_pack("{ssso}", "key", name, "permissions", perm_list(ctx->perms));
		json_t *origins = json_object_get(json_object_get(rec, "metadata"), "allowedOrigins");
		if ((ctx->perms & PERM_USE) && json_is_array(origins))
			json_object_set(item, "allowedOrigins", origins);
		json_array_append_new(ctx->list, item);
	}
}

void handle_capability(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	struct cap c;
	char exp[ZK_ISO8601_MAX];

	if (!require_capability(v, r, &c))
		return;
	json_t *patterns = json_array();
	for (int i = 0; i < c.claims.npatterns; i++)
		json_array_append_new(patterns, json_string(c.claims.patterns + c.claims.pattern_off[i]));
	zk_iso8601(exp, c.claims.exp_ms);
	unsigned perms = c.claims.perms & (PERM_READ | PERM_WRITE | PERM_DELETE | PERM_USE | PERM_ADMIN);

	/* The names this token may act on, with what it may do, and where a `use` may send each. */
	struct capability_ctx ctx = { json_array(), &c.claims, perms };
	if (!records_foreach(v, list_capability, &ctx)) {
		json_decref(ctx.list);
		json_decref(patterns);
		locked_error(v, r);
		return;
	}
	json_t *sorted = records_sorted(ctx.list, cmp_names);

	if (audit_use(v, r, &c, "capability.checked", NULL, NULL, true) != 0) {
		json_decref(sorted);
		json_decref(patterns);
		zk_http_error(r, 503, "Audit backlog is full; try again", "AUDIT_BACKLOG");
		return;
	}
	json_t *o = json_pack("{sbsIs{sssssossso}so}", "vaultUnlocked", 1, "expiresIn",
			      (json_int_t)vault_expires_in(v), "token", "id", c.claims.jti, "subject", c.claims.sub,
			      "permissions", perm_list(perms), "expiresAt", exp, "allowedSecrets", patterns, "secrets",
			      sorted);
	zk_http_reply(r, 200, o);
}
