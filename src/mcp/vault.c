#include "mcp/vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/libcurl.h"
#include "lib/mem.h"

static bool loopback_host(const char *h)
{
	return !strcmp(h, "localhost") || !strncmp(h, "127.", 4) || !strcmp(h, "[::1]") || !strcmp(h, "::1");
}

int mcp_vault_check_addr(const char *addr, bool *remote_plain, char *err, size_t errlen)
{
	CURLU *u = sym_curl_url();
	char *scheme = NULL, *host = NULL;
	int rc = -1;
	if (u && sym_curl_url_set(u, CURLUPART_URL, addr, 0) == CURLUE_OK &&
	    sym_curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    sym_curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && (!strcmp(scheme, "http") || !strcmp(scheme, "https"))) {
		*remote_plain = !strcmp(scheme, "http") && !loopback_host(host);
		rc = 0;
	} else {
		snprintf(err, errlen, "invalid vault address '%s' (expected http://HOST:PORT or https://HOST:PORT)", addr);
	}
	sym_curl_free(scheme);
	sym_curl_free(host);
	sym_curl_url_cleanup(u);
	return rc;
}

struct body {
	char *p;
	size_t len, cap;
	bool too_big;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;
	if (n > MCP_VAULT_MAX_RESPONSE - b->len) {
		b->too_big = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *q = zk_wipe_malloc(cap);
		if (!q)
			return 0;
		if (b->p)
			memcpy(q, b->p, b->len);
		zk_wipe_free(b->p);
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static struct curl_slist *add_line(struct curl_slist *h, const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 3;
	char *line = h ? zk_wipe_malloc(n) : NULL;
	if (!line) {
		sym_curl_slist_free_all(h);
		return NULL;
	}
	snprintf(line, n, "%s: %s", name, value);
	struct curl_slist *next = sym_curl_slist_append(h, line);
	zk_wipe_str(line);
	if (!next)
		sym_curl_slist_free_all(h);
	return next;
}

int mcp_vault_call(void *ctx, const char *method, const char *path, const json_t *body, long *status,
		   json_t **reply, char *err, size_t errlen)
{
	struct mcp_vault *v = ctx;
	char curl_err[CURL_ERROR_SIZE] = "", *url = NULL, *text = NULL;
	struct body b = { 0 };
	int rc = -1;

	*status = 0;
	*reply = NULL;
	if (!v->curl && !(v->curl = sym_curl_easy_init())) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	CURL *h = v->curl;
	struct curl_slist *hdrs = sym_curl_slist_append(NULL, "Accept: application/json");
	hdrs = hdrs ? sym_curl_slist_append(hdrs, "Expect:") : NULL;
	if (hdrs && body)
		hdrs = sym_curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = add_line(hdrs, "X-Capability-Token", v->token);
	if (hdrs && v->agent_id)
		hdrs = add_line(hdrs, "X-Agent-Id", v->agent_id);
	if (!hdrs || asprintf(&url, "%s%s", v->addr, path) < 0 || (body && !(text = json_dumps(body, JSON_COMPACT)))) {
		snprintf(err, errlen, "out of memory");
		url = NULL;
		goto out;
	}
	sym_curl_easy_reset(h);
	sym_curl_easy_setopt(h, CURLOPT_URL, url);
	sym_curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	sym_curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	sym_curl_easy_setopt(h, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	sym_curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	sym_curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	sym_curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	sym_curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	/* The vault's own outgoing request (vault_use) may take up to 30 s per hop. */
	sym_curl_easy_setopt(h, CURLOPT_TIMEOUT, 200L);
	sym_curl_easy_setopt(h, CURLOPT_USERAGENT, "zkvault-mcp");
	sym_curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	sym_curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	sym_curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (v->ca_file)
		sym_curl_easy_setopt(h, CURLOPT_CAINFO, v->ca_file);
	if (text || !strcmp(method, "POST")) {
		sym_curl_easy_setopt(h, CURLOPT_POSTFIELDS, text ? text : "");
		sym_curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(text ? strlen(text) : 0));
	}
	CURLcode cc = sym_curl_easy_perform(h);
	if (cc != CURLE_OK) {
		if (b.too_big)
			snprintf(err, errlen, "the vault's answer is larger than %u bytes", MCP_VAULT_MAX_RESPONSE);
		else
			snprintf(err, errlen, "cannot reach the vault at %s: %s", v->addr,
				 *curl_err ? curl_err : sym_curl_easy_strerror(cc));
		goto out;
	}
	sym_curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (b.len) {
		json_t *o = json_loadb(b.p, b.len, 0, NULL);
		if (json_is_object(o))
			*reply = o;
		else
			json_decref(o);
	}
	rc = 0;
out:
	sym_curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	sym_curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	sym_curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	sym_curl_slist_free_all(hdrs);
	zk_wipe_free(b.p);
	zk_wipe_str(text);
	free(url);
	return rc;
}

void mcp_vault_close(struct mcp_vault *v)
{
	if (v->curl)
		sym_curl_easy_cleanup(v->curl);
	v->curl = NULL;
}
