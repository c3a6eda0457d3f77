#ifndef ZK_VAULTD_USE_H
#define ZK_VAULTD_USE_H

/*
 * Use without reveal: POST /secrets/:key/use makes an outgoing HTTP request with the secret injected into one
 * header, and answers with the response, every form of the secret replaced by [REDACTED]. The caller (a token
 * with only `use`) never sees the value. docs/API.md §Use without reveal.
 *
 * The parsing, origin and redaction functions below are pure (no vault, no I/O) so fuzz/fuzz_use.c can run them
 * on arbitrary input.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define USE_URL_MAX 8192
#define USE_ORIGIN_MAX 512
#define USE_MAX_HEADERS 50
#define USE_HEADER_VALUE_MAX 8192
#define USE_FORMAT_MAX 256
#define USE_MAX_RESPONSE (1u << 20)
#define USE_MAX_RESPONSE_HEADERS (64u << 10)
#define USE_MAX_REDIRECTS 5
#define USE_CONNECT_TIMEOUT_S 10L
#define USE_TIMEOUT_S 30L
#define USE_MAX_INFLIGHT 32
#define USE_DEFAULT_HEADER "Authorization"
#define USE_DEFAULT_FORMAT "Bearer {value}"

/* --allow-insecure-use-origins (tests): http:// to 127.0.0.1, localhost or [::1] is allowed too. */
extern bool use_allow_insecure_origins;
/* Before the HTTP server stops: aborts outgoing requests in flight and waits until each has answered. */
void use_shutdown(void);

/* A validated request; the strings point into the JSON it was parsed from (which must outlive it). */
struct use_request {
	char method[8];
	const char *url;
	char origin[USE_ORIGIN_MAX]; /* scheme://host[:port], lowercase, default port omitted */
	bool insecure;               /* http:// */
	const json_t *headers;       /* object name -> string, or NULL */
	char *body;                  /* owned (zk_wipe_malloc), or NULL */
	size_t body_len;
	bool body_is_json;
	const char *inject_header; /* NULL: the secret's metadata or the default decides */
	const char *inject_format;
};

/*
 * Parses {"request":{"method","url","headers"?,"body"?},"inject"?:{"header","format"}}. Returns NULL, or the
 * "details" text of a 400 answer (a constant, or details when it names a field).
 */
const char *use_parse(struct use_request *u, const json_t *body, char *details, size_t n);
void use_request_clear(struct use_request *u);

/*
 * Normalises an absolute http(s) URL or origin into scheme://host[:port]. Refuses user info. *insecure is set
 * for http. Returns 0 or -1.
 */
int use_origin(char out[USE_ORIGIN_MAX], const char *url, bool *insecure);
/* Whether the host of an http origin is loopback (127.0.0.1, localhost, [::1]). */
bool use_origin_loopback(const char *origin);
/*
 * Checks origin against the secret's metadata.allowedOrigins. Returns NULL when allowed, else the audit
 * reason: "no allowedOrigins" or "origin not allowed".
 */
const char *use_check_origin(const json_t *metadata, const char *origin);
/* The injection the secret's metadata pins ({"inject":{"header","format"}}), if valid. */
bool use_metadata_inject(const json_t *metadata, const char **header, const char **format);
/* Validates an injection header name and format (one "{value}", no control characters). */
const char *use_check_inject(const char *header, const char *format);
/* Request header names the caller may not set (framing, hop-by-hop, ranges, encodings). */
bool use_header_forbidden(const char *name);

/*
 * Returns a zk_wipe_malloc'd copy of in (NUL-terminated; length in *out_len) with every occurrence of the
 * secret replaced by "[REDACTED]": raw, base64 (standard and URL alphabets, at every byte alignment),
 * percent-encoded, hex and JSON-escaped forms. NULL when out of memory.
 */
char *use_redact(const unsigned char *in, size_t len, const unsigned char *secret, size_t slen, size_t *out_len);

#endif
