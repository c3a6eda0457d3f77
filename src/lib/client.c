#include "lib/client.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/libcurl.h"
#include "lib/mem.h"

#define KDF_BUSY_RETRIES 20

/* libcurl's own allocations (receive buffers, header lists holding tokens) are wiped too: src/lib/libcurl.c. */
int zk_client_global_init(void)
{
	return zk_curl_global_init();
}

static bool loopback_host(const char *h)
{
	return !strcmp(h, "localhost") || !strncmp(h, "127.", 4) || !strcmp(h, "[::1]") || !strcmp(h, "::1");
}

int zk_client_open(struct zk_client *c, const char *addr, const char *ca_file, char *err, size_t errlen)
{
	CURLU *u = curl_sym.curl_url();
	char *scheme = NULL, *host = NULL;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	if (!u)
		goto out;
	if (curl_sym.curl_url_set(u, CURLUPART_URL, addr, 0) != CURLUE_OK ||
	    curl_sym.curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_sym.curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
		snprintf(err, errlen, "invalid vault address '%s' (expected http://HOST:PORT or https://HOST:PORT)", addr);
		goto out;
	}
	c->plaintext_remote = !strcmp(scheme, "http") && !loopback_host(host);
	c->addr = strdup(addr);
	c->ca_file = ca_file ? strdup(ca_file) : NULL;
	c->curl = curl_sym.curl_easy_init();
	if (!c->addr || (ca_file && !c->ca_file) || !c->curl) {
		snprintf(err, errlen, "out of memory");
		zk_client_close(c);
		goto out;
	}
	for (size_t n = strlen(c->addr); n && c->addr[n - 1] == '/'; n--)
		c->addr[n - 1] = '\0';
	rc = 0;
out:
	curl_sym.curl_free(scheme);
	curl_sym.curl_free(host);
	curl_sym.curl_url_cleanup(u);
	return rc;
}

int zk_client_add_header(struct zk_client *c, const char *name, const char *value)
{
	char *copy;
	if (c->nheaders == ZK_CLIENT_MAX_HEADERS || !(copy = zk_wipe_strdup(value)))
		return -1;
	c->header_name[c->nheaders] = name;
	c->header_value[c->nheaders++] = copy;
	return 0;
}

void zk_client_close(struct zk_client *c)
{
	if (c->curl)
		curl_sym.curl_easy_cleanup(c->curl);
	for (int i = 0; i < c->nheaders; i++)
		zk_wipe_str(c->header_value[i]);
	free(c->addr);
	free(c->ca_file);
	memset(c, 0, sizeof(*c));
}

char *zk_client_escape(struct zk_client *c, const char *segment)
{
	return curl_sym.curl_easy_escape(c->curl, segment, 0);
}

void zk_client_free_string(char *s)
{
	curl_sym.curl_free(s);
}

void zk_response_clear(struct zk_response *res)
{
	json_decref(res->body);
	res->body = NULL;
	res->status = 0;
}

/* The response body, in wiped memory. */
struct body {
	struct zk_wipe_buf buf;
	bool too_big;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (n > ZK_CLIENT_MAX_RESPONSE - b->buf.len) {
		b->too_big = true;
		return 0;
	}
	return zk_wipe_buf_append(&b->buf, data, n) == 0 ? n : 0;
}

/* Loopback addresses never go through a proxy: the credential would leave the machine in clear. */
static char *no_proxy_list(void)
{
	const char *env = getenv("no_proxy");
	char *list = NULL;
	if (!env || !*env)
		env = getenv("NO_PROXY");
	if (asprintf(&list, "%s%slocalhost,127.0.0.1,::1", env && *env ? env : "", env && *env ? "," : "") < 0)
		return NULL;
	return list;
}

static struct curl_slist *request_headers(struct zk_client *c, bool has_body)
{
	struct curl_slist *h = curl_sym.curl_slist_append(NULL, "Accept: application/json");
	h = h ? curl_sym.curl_slist_append(h, "Expect:") : NULL;
	if (h && has_body)
		h = curl_sym.curl_slist_append(h, "Content-Type: application/json");
	for (int i = 0; h && i < c->nheaders; i++) {
		size_t n = strlen(c->header_name[i]) + strlen(c->header_value[i]) + 3;
		char *line = zk_wipe_malloc(n);
		struct curl_slist *next = NULL;
		if (line) {
			snprintf(line, n, "%s: %s", c->header_name[i], c->header_value[i]);
			next = curl_sym.curl_slist_append(h, line);
			zk_wipe_free(line);
		}
		if (!next)
			curl_sym.curl_slist_free_all(h);
		h = next;
	}
	return h;
}

static int call_once(struct zk_client *c, const char *method, const char *path, const char *text,
		     struct zk_response *res, char *err, size_t errlen)
{
	CURL *h = c->curl;
	char curl_err[CURL_ERROR_SIZE] = "";
	struct body b = { 0 };
	char *url = NULL, *no_proxy = no_proxy_list();
	struct curl_slist *headers = request_headers(c, text != NULL);
	int rc = -1;

	res->status = 0;
	res->body = NULL;
	if (!no_proxy || !headers || asprintf(&url, "%s%s", c->addr, path) < 0) {
		url = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	curl_sym.curl_easy_reset(h);
	curl_sym.curl_easy_setopt(h, CURLOPT_URL, url);
	curl_sym.curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_sym.curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_sym.curl_easy_setopt(h, CURLOPT_NOPROXY, no_proxy);
	curl_sym.curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_sym.curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_sym.curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_sym.curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
	curl_sym.curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent ? c->user_agent : "zkvault-cli");
	curl_sym.curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_sym.curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	curl_sym.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_sym.curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (c->ca_file)
		curl_sym.curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (text || !strcmp(method, "POST")) {
		curl_sym.curl_easy_setopt(h, CURLOPT_POSTFIELDS, text ? text : "");
		curl_sym.curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(text ? strlen(text) : 0));
	}

	CURLcode cc = curl_sym.curl_easy_perform(h);
	if (cc != CURLE_OK) {
		if (b.too_big)
			snprintf(err, errlen, "the answer from %s is larger than %u bytes", c->addr, ZK_CLIENT_MAX_RESPONSE);
		else
			snprintf(err, errlen, "cannot reach the vault at %s: %s", c->addr,
				 *curl_err ? curl_err : curl_sym.curl_easy_strerror(cc));
		goto out;
	}
	curl_sym.curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
	if (b.buf.len) {
		json_t *o = json_loadb(b.buf.p, b.buf.len, 0, NULL);
		if (json_is_object(o))
			res->body = o;
		else
			json_decref(o);
	}
	rc = 0;
out:
	/* Drop our pointers into this call's buffers before they are freed. */
	curl_sym.curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	curl_sym.curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_sym.curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_sym.curl_slist_free_all(headers);
	zk_wipe_free(b.buf.p);
	free(url);
	free(no_proxy);
	return rc;
}

static bool kdf_busy(const struct zk_response *res)
{
	const char *code = json_string_value(json_object_get(res->body, "code"));
	return res->status == 429 && code && !strcmp(code, "KDF_BUSY");
}

int zk_client_call(struct zk_client *c, const char *method, const char *path, const json_t *body,
		   struct zk_response *res, char *err, size_t errlen)
{
	char *text = NULL;
	int rc;

	if (body && !(text = json_dumps(body, JSON_COMPACT))) {
		snprintf(err, errlen, "cannot encode the request");
		return -1;
	}
	/* Only one key derivation runs at a time on a vault; wait for ours rather than fail. */
	for (int attempt = 0;; attempt++) {
		rc = call_once(c, method, path, text, res, err, errlen);
		if (rc != 0 || !kdf_busy(res) || attempt == KDF_BUSY_RETRIES)
			break;
		zk_response_clear(res);
		nanosleep(&(struct timespec){ .tv_nsec = 500 * 1000 * 1000 }, NULL);
	}
	zk_wipe_str(text);
	return rc;
}
