/*
 * OAuth 2.0 authorization code flow with PKCE, run inside a personal vault (RFC 6749, RFC 7636 S256):
 *
 *   POST /v1/oauth/:service/start (management auth, unlocked)
 *     {"issuer"} (OIDC discovery) or {"authorizationEndpoint","tokenEndpoint"}, plus "clientId",
 *     "clientSecret"?, "redirectUri" (sent exactly as given, twice), "scopes"?, "accountLabel"?
 *     -> {"authorizationUrl","state","expiresIn"}: the code verifier never leaves the vault.
 *   GET /v1/oauth/callback?code&state (no auth: the provider redirects the user's browser here; the state,
 *     32 random bytes, single use, 10 minutes, is what authorizes it)
 *     -> the vault exchanges the code with libcurl and stores the tokens as integration:<service> (type oauth);
 *        the answer is {"success","service"}: no token reaches the browser or the management side.
 *
 * Provider endpoints must be https, or http on a loopback address (tests, local providers). Flows live only
 * in memory (at most OAUTH_PENDING; the oldest is dropped), their secrets in wiped memory.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/libcurl.h"
#include "lib/mem.h"
#include "lib/thread.h"
#include "vaultd/audit.h"
#include "vaultd/limiter.h"
#include "vaultd/personal.h"
#include "vaultd/use.h"

#define OAUTH_PENDING 16
#define OAUTH_FLOW_MS (10 * 60 * 1000)
#define OAUTH_TIMEOUT_S 15L
#define OAUTH_MAX_RESPONSE (256 * 1024)
#define B64URL_32 44 /* 43 characters and the NUL */

struct oauth_flow {
	int64_t created; /* monotonic ms; 0 = free */
	char state[B64URL_32];
	char verifier[B64URL_32];
	char service[PERSONAL_ID_MAX + 1];
	char *token_endpoint, *client_id, *client_secret, *redirect_uri, *provider;
	json_t *scopes, *label;
};

static struct {
	pthread_mutex_t lock;
	struct oauth_flow f[OAUTH_PENDING];
} flows = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void flow_clear(struct oauth_flow *f)
{
	zk_wipe_str(f->token_endpoint);
	zk_wipe_str(f->client_id);
	zk_wipe_str(f->client_secret);
	zk_wipe_str(f->redirect_uri);
	zk_wipe_str(f->provider);
	json_decref(f->scopes);
	json_decref(f->label);
	sodium_memzero(f, sizeof(*f));
}

static char *dup_or_null(const char *s)
{
	return s ? zk_wipe_strdup(s) : NULL;
}

/* An endpoint the vault may call: https, or http on loopback. */
static bool endpoint_ok(const char *url)
{
	char origin[USE_ORIGIN_MAX];
	bool insecure;
	if (!url || strlen(url) > 2048 || use_origin(origin, url, &insecure) != 0)
		return false;
	return !insecure || use_origin_loopback(origin);
}

static void b64url(char out[B64URL_32], const unsigned char in[32])
{
	sodium_bin2base64(out, B64URL_32, in, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

struct buf {
	char *p;
	size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t add = size * n;
	if (b->len + add > OAUTH_MAX_RESPONSE)
		return 0;
	char *np = zk_wipe_malloc(b->len + add + 1);
	if (!np)
		return 0;
	if (b->p)
		memcpy(np, b->p, b->len);
	memcpy(np + b->len, ptr, add);
	np[b->len + add] = '\0';
	if (b->p) {
		sodium_memzero(b->p, b->len);
		zk_wipe_free(b->p);
	}
	b->p = np;
	b->len += add;
	return add;
}

/* GET (form == NULL) or POST a form; the JSON object answered, or NULL with *status (HTTP) set. */
static json_t *http_json(const char *url, const char *form, long *status)
{
	*status = 0;
	if (zk_curl_global_init() != 0)
		return NULL;
	CURL *h = curl_sym.curl_easy_init();
	struct buf b = { 0 };
	struct curl_slist *hdr = curl_sym.curl_slist_append(NULL, "Accept: application/json");
	json_t *out = NULL;
	if (!h || !hdr || !endpoint_ok(url))
		goto done;
	curl_sym.curl_easy_setopt(h, CURLOPT_URL, url);
	curl_sym.curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_sym.curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_sym.curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_sym.curl_easy_setopt(h, CURLOPT_TIMEOUT, OAUTH_TIMEOUT_S);
	curl_sym.curl_easy_setopt(h, CURLOPT_USERAGENT, "zkvault-oauth/1");
	curl_sym.curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_sym.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_sym.curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (!strncmp(url, "http://", 7))
		curl_sym.curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	if (form) {
		curl_sym.curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
		curl_sym.curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
	}
	if (curl_sym.curl_easy_perform(h) == CURLE_OK) {
		curl_sym.curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
		if (b.p)
			out = json_loadb(b.p, b.len, 0, NULL);
		if (out && !json_is_object(out)) {
			json_decref(out);
			out = NULL;
		}
	}
done:
	if (b.p) {
		sodium_memzero(b.p, b.len);
		zk_wipe_free(b.p);
	}
	curl_sym.curl_slist_free_all(hdr);
	if (h)
		curl_sym.curl_easy_cleanup(h);
	return out;
}

/* Appends &k=v (URL-encoded) to a malloc'd string. */
static int append_param(char **s, const char *k, const char *v)
{
	char *ev = zk_curl_global_init() == 0 ? curl_sym.curl_easy_escape(NULL, v, 0) : NULL, *n = NULL;
	if (!ev)
		return -1;
	size_t len = (*s ? strlen(*s) : 0) + strlen(k) + strlen(ev) + 3;
	n = zk_wipe_malloc(len);
	if (n)
		snprintf(n, len, "%s%s%s=%s", *s ? *s : "", *s && **s ? "&" : "", k, ev);
	sodium_memzero(ev, strlen(ev));
	curl_sym.curl_free(ev);
	zk_wipe_str(*s);
	*s = n;
	return n ? 0 : -1;
}

const char *oauth_start_problem(const json_t *body)
{
	static const char *const known[] = { "issuer",	     "authorizationEndpoint", "tokenEndpoint", "clientId",
					     "clientSecret", "redirectUri",	      "scopes",	       "accountLabel" };
	const char *key, *s;
	json_t *x;
	if (!json_is_object(body))
		return "Expected an object";
	json_object_foreach((json_t *)body, key, x) {
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || !strcmp(key, known[i]);
		if (!ok)
			return "Unknown field";
		if (strcmp(key, "scopes") && (!json_is_string(x) || json_string_length(x) == 0 ||
					      json_string_length(x) > 2048 ||
					      strlen(json_string_value(x)) != json_string_length(x)))
			return "Expected non-empty strings (up to 2048 characters) and scopes";
	}
	if (!json_object_get(body, "clientId"))
		return "clientId: Required";
	if (!(s = json_string_value(json_object_get(body, "redirectUri"))) ||
	    (strncmp(s, "https://", 8) && strncmp(s, "http://", 7)))
		return "redirectUri: Required, an absolute http(s) URL";
	bool issuer = json_object_get(body, "issuer") != NULL;
	bool explicit_ = json_object_get(body, "authorizationEndpoint") || json_object_get(body, "tokenEndpoint");
	if (issuer == explicit_)
		return "issuer: Give issuer (OIDC discovery) or authorizationEndpoint and tokenEndpoint";
	if (issuer && !endpoint_ok(json_string_value(json_object_get(body, "issuer"))))
		return "issuer: Expected an https URL (http only on loopback)";
	if (!issuer && (!endpoint_ok(json_string_value(json_object_get(body, "authorizationEndpoint"))) ||
			!endpoint_ok(json_string_value(json_object_get(body, "tokenEndpoint")))))
		return "authorizationEndpoint: Both endpoints required, https URLs (http only on loopback)";
	if ((x = json_object_get(body, "scopes"))) {
		size_t i;
		json_t *sc;
		if (!json_is_array(x) || json_array_size(x) > 64)
			return "scopes: Expected an array of at most 64 strings";
		json_array_foreach(x, i, sc) {
			const char *t = json_string_value(sc);
			if (!t || !*t || strlen(t) > 256 || strpbrk(t, " \t\r\n"))
				return "scopes: Expected scope tokens without spaces";
		}
	}
	return NULL;
}

/*
 * The OAuth steps that talk to the provider run on a thread of their own, so that no HTTP thread waits on the
 * network: the request is suspended (zk_http_defer), and the thread runs the step and resumes it, unless a
 * writer job took the request over to answer once the tokens are stored (the step then set r to NULL).
 */
struct task {
	struct vault *v;
	struct zk_http_req *r;
	void (*run)(struct task *t);
	void (*free)(struct task *t);
};

static void *task_thread(void *p)
{
	struct task *t = p;
	t->run(t);
	if (t->r)
		zk_http_resume(t->r);
	t->free(t);
	return NULL;
}

/* zk_http_defer's hook: starts the task's thread, detached. */
static void defer_task(struct zk_http_req *r, void *arg)
{
	struct task *t = arg;
	if (zk_thread_detached(task_thread, t) != 0) {
		t->free(t);
		zk_http_error(r, 500, "Internal error", NULL);
		zk_http_resume(r);
	}
}

struct start_task {
	struct task task; /* first: a struct task * is a struct start_task * */
	json_t *body;
	char service[PERSONAL_ID_MAX + 1];
};

static void start_task_free(struct task *task)
{
	struct start_task *t = (struct start_task *)task;
	json_decref(t->body);
	free(t);
}

static void run_start(struct task *task)
{
	struct start_task *t = (struct start_task *)task;
	json_t *b = t->body, *disc = NULL;
	const char *issuer = json_string_value(json_object_get(b, "issuer"));
	const char *authz = json_string_value(json_object_get(b, "authorizationEndpoint"));
	const char *token = json_string_value(json_object_get(b, "tokenEndpoint"));
	struct zk_http_req *r = t->task.r;

	if (issuer) {
		char url[2200];
		long status;
		size_t n = strlen(issuer);
		snprintf(url, sizeof(url), "%.*s/.well-known/openid-configuration",
			 (int)(n && issuer[n - 1] == '/' ? n - 1 : n), issuer);
		disc = http_json(url, NULL, &status);
		const char *iss = json_string_value(json_object_get(disc, "issuer"));
		authz = json_string_value(json_object_get(disc, "authorization_endpoint"));
		token = json_string_value(json_object_get(disc, "token_endpoint"));
		json_t *methods = json_object_get(disc, "code_challenge_methods_supported");
		bool s256 = !methods;
		size_t i;
		json_t *m;
		json_array_foreach(methods, i, m) s256 = s256 || !strcmp(json_string_value(m) ?: "", "S256");
		if (!disc || status != 200 || !iss || strcmp(iss, issuer) != 0 || !endpoint_ok(authz) ||
		    !endpoint_ok(token) || !s256) {
			zk_http_reply(r, 502, json_pack("{ssss}", "error",
							"OIDC discovery failed: no matching issuer, endpoints or S256",
							"code", "OAUTH_DISCOVERY"));
			goto out;
		}
	}

	unsigned char raw[32], h[32];
	struct oauth_flow f = { 0 };
	randombytes_buf(raw, 32);
	b64url(f.verifier, raw);
	crypto_hash_sha256(h, (const unsigned char *)f.verifier, strlen(f.verifier));
	char challenge[B64URL_32];
	b64url(challenge, h);
	randombytes_buf(raw, 32);
	b64url(f.state, raw);
	sodium_memzero(raw, sizeof(raw));
	snprintf(f.service, sizeof(f.service), "%s", t->service);
	f.token_endpoint = dup_or_null(token);
	f.client_id = dup_or_null(json_string_value(json_object_get(b, "clientId")));
	f.client_secret = dup_or_null(json_string_value(json_object_get(b, "clientSecret")));
	f.redirect_uri = dup_or_null(json_string_value(json_object_get(b, "redirectUri")));
	f.provider = dup_or_null(issuer ? issuer : token);
	f.scopes = json_incref(json_object_get(b, "scopes"));
	f.label = json_incref(json_object_get(b, "accountLabel"));

	char *scope = NULL, *q = NULL;
	size_t i;
	json_t *sc;
	json_array_foreach(f.scopes, i, sc) {
		const char *t1 = json_string_value(sc);
		size_t len = (scope ? strlen(scope) : 0) + strlen(t1) + 2;
		char *n = zk_wipe_malloc(len);
		if (n)
			snprintf(n, len, "%s%s%s", scope ? scope : "", scope ? " " : "", t1);
		zk_wipe_str(scope);
		scope = n;
	}
	if (append_param(&q, "response_type", "code") || append_param(&q, "client_id", f.client_id) ||
	    append_param(&q, "redirect_uri", f.redirect_uri) || (scope && append_param(&q, "scope", scope)) ||
	    append_param(&q, "state", f.state) || append_param(&q, "code_challenge", challenge) ||
	    append_param(&q, "code_challenge_method", "S256")) {
		zk_wipe_str(scope);
		zk_wipe_str(q);
		flow_clear(&f);
		zk_http_error(r, 500, "Internal error", NULL);
		goto out;
	}
	zk_wipe_str(scope);
	size_t ulen = strlen(authz) + strlen(q) + 2;
	char *url = zk_wipe_malloc(ulen);
	if (url)
		snprintf(url, ulen, "%s%s%s", authz, strchr(authz, '?') ? "&" : "?", q);
	zk_wipe_str(q);

	/* Into the table: a free or expired slot, else the oldest. */
	int64_t now = zk_mono_ms();
	pthread_mutex_lock(&flows.lock);
	size_t pick = 0;
	for (size_t k = 0; k < OAUTH_PENDING; k++) {
		struct oauth_flow *g = &flows.f[k];
		if (g->created && now - g->created >= OAUTH_FLOW_MS)
			flow_clear(g);
		if (!g->created) {
			pick = k;
			break;
		}
		if (g->created < flows.f[pick].created)
			pick = k;
	}
	flow_clear(&flows.f[pick]);
	f.created = now ? now : 1;
	flows.f[pick] = f;
	json_t *reply = json_pack("{sssssi}", "authorizationUrl", url ? url : "", "state", f.state, "expiresIn",
				  OAUTH_FLOW_MS / 1000);
	pthread_mutex_unlock(&flows.lock);
	sodium_memzero(&f, sizeof(f));
	zk_wipe_str(url);
	audit_async(t->task.v, "oauth.started", "owner", NULL, true, NULL, NULL);
	zk_http_reply(r, 200, reply);
out:
	json_decref(disc);
}

void handle_oauth_start(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	char details[160];

	if (!require_personal(v, r) || !require_management(v, r))
		return;
	const char *problem = personal_id_problem(r->param[0]);
	if (problem) {
		snprintf(details, sizeof(details), "service: %s", problem);
		validation_error(r, "Invalid URL parameters", details);
		return;
	}
	if (!body_object(r, &body))
		return;
	if ((problem = oauth_start_problem(body))) {
		validation_error(r, "Invalid request body", problem);
		json_decref(body);
		return;
	}
	if (!require_unlocked(v, r) || zk_curl_global_init() != 0) {
		if (vault_unlocked(v))
			zk_http_error(r, 500, "Internal error", NULL);
		json_decref(body);
		return;
	}
	struct start_task *t = calloc(1, sizeof(*t));
	if (!t) {
		json_decref(body);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	t->task = (struct task){ v, r, run_start, start_task_free };
	t->body = body;
	snprintf(t->service, sizeof(t->service), "%s", r->param[0]);
	zk_http_defer(r, defer_task, t);
}

/* The callback: the flow (taken out of the table), the code, then the exchange on a thread of its own. */
/* expiresAt of a token response: expires_in seconds after now, or null when absent or implausible. */
static json_t *expires_at(const json_t *tok, int64_t now)
{
	json_t *in = json_object_get(tok, "expires_in");
	json_int_t sec = json_is_integer(in) ? json_integer_value(in) : 0;
	if (sec <= 0 || sec >= 10LL * 365 * 86400)
		return json_null();
	char iso[ZK_ISO8601_MAX];
	zk_iso8601(iso, now + sec * 1000);
	return json_string(iso);
}

/*
 * A writer job storing plain (taken) as the integration record name and answering r; the caller fills in who
 * and the reply, then hands *j to writer_submit. NULL (plain freed, r answered 500) when out of memory.
 */
static struct personal_write *integration_write(struct zk_http_req *r, const char *name, json_t *plain,
						struct job **j)
{
	struct personal_write *a = calloc(1, sizeof(*a));
	*j = plain && a ? personal_job(a, r) : NULL;
	if (!*j) {
		json_decref(plain);
		free(a);
		zk_http_error(r, 500, "Internal error", NULL);
		return NULL;
	}
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->plain = plain;
	a->action = "integration";
	return a;
}

struct callback_task {
	struct task task; /* first */
	struct oauth_flow f;
	char *code;
	char ip[48];
};

static void callback_task_free(struct task *task)
{
	struct callback_task *t = (struct callback_task *)task;
	flow_clear(&t->f);
	zk_wipe_str(t->code);
	free(t);
}

static void run_callback(struct task *task)
{
	struct callback_task *t = (struct callback_task *)task;
	struct zk_http_req *r = t->task.r;
	struct oauth_flow *f = &t->f;
	char *form = NULL;
	long status;
	char name[VAULTD_NAME_MAX + 1], iso[ZK_ISO8601_MAX];

	if (append_param(&form, "grant_type", "authorization_code") || append_param(&form, "code", t->code) ||
	    append_param(&form, "redirect_uri", f->redirect_uri) || append_param(&form, "client_id", f->client_id) ||
	    append_param(&form, "code_verifier", f->verifier) ||
	    (f->client_secret && append_param(&form, "client_secret", f->client_secret))) {
		zk_wipe_str(form);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	json_t *tok = http_json(f->token_endpoint, form, &status);
	zk_wipe_str(form);
	const char *access = json_string_value(json_object_get(tok, "access_token"));
	if (status != 200 || !access || !*access) {
		const char *err = json_string_value(json_object_get(tok, "error"));
		audit_async(t->task.v, "oauth.failed", "owner", NULL, false, err ? err : "token exchange failed", t->ip);
		zk_http_reply(r, 502, json_pack("{ssssss}", "error", "The provider refused the code exchange", "code",
						"OAUTH_EXCHANGE", "details", err ? err : "no access_token"));
		json_decref(tok);
		return;
	}
	/* The integration record, as PUT /v1/integrations/:service would build it. */
	json_t *cred = json_pack("{ss}", "accessToken", access), *x;
	if ((x = json_object_get(tok, "refresh_token")) && json_is_string(x))
		json_object_set(cred, "refreshToken", x);
	if ((x = json_object_get(tok, "token_type")) && json_is_string(x))
		json_object_set(cred, "tokenType", x);
	if ((x = json_object_get(tok, "id_token")) && json_is_string(x))
		json_object_set(cred, "idToken", x);
	json_t *scopes = json_array();
	const char *granted = json_string_value(json_object_get(tok, "scope"));
	if (granted) {
		char *copy = zk_wipe_strdup(granted), *save = NULL;
		for (char *s = copy ? strtok_r(copy, " ", &save) : NULL; s; s = strtok_r(NULL, " ", &save))
			json_array_append_new(scopes, json_string(s));
		zk_wipe_str(copy);
	} else if (f->scopes) {
		json_array_extend(scopes, f->scopes);
	}
	int64_t now = zk_now_ms();
	json_t *exp = expires_at(tok, now);
	json_decref(tok);
	zk_iso8601(iso, now);
	snprintf(name, sizeof(name), INTEGRATION_PREFIX "%s", f->service);
	json_t *plain = json_pack("{sssssssssOsosososssssss{ssssss}}", "name", name, "kind", "integration", "service",
				  f->service, "type", "oauth", "accountLabel", f->label ? f->label : json_null(),
				  "scopes", scopes, "expiresAt", exp, "credential", cred, "createdAt", iso,
				  "updatedAt", iso, "updatedBy", "oauth", "metadata", "provider", f->provider,
				  "tokenEndpoint", f->token_endpoint, "clientId", f->client_id);
	if (plain && f->client_secret)
		json_object_set_new(plain, "oauthClientSecret", json_string(f->client_secret)); /* for refresh */
	struct job *j;
	struct personal_write *a = integration_write(r, name, plain, &j);
	if (!a)
		return;
	snprintf(a->user, sizeof(a->user), "oauth");
	snprintf(a->ip, sizeof(a->ip), "%s", t->ip);
	a->reply = json_pack("{sbssss}", "success", 1, "service", f->service, "message",
			     "Connected. The tokens are stored in your vault; you can close this window.");
	writer_submit(t->task.v->writer, j); /* its done() answers and resumes r */
	t->task.r = NULL;
}

void handle_oauth_callback(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	const char *state = zk_http_query(r, "state"), *code = zk_http_query(r, "code");
	const char *err = zk_http_query(r, "error");
	char ip[48];

	if (!require_personal(v, r))
		return;
	if (!state || strlen(state) != B64URL_32 - 1) {
		validation_error(r, "Invalid query parameters", "state: Required");
		return;
	}
	if (!require_unlocked(v, r))
		return; /* the flow stays: unlock, then reload the callback */
	client_address(v, r, ip);
	struct callback_task *t = calloc(1, sizeof(*t));
	if (!t) {
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	/* Single use: the flow leaves the table whatever happens next. */
	int64_t now = zk_mono_ms();
	bool found = false;
	pthread_mutex_lock(&flows.lock);
	for (size_t k = 0; k < OAUTH_PENDING; k++) {
		struct oauth_flow *g = &flows.f[k];
		if (!g->created || sodium_memcmp(g->state, state, B64URL_32 - 1) != 0)
			continue;
		found = now - g->created < OAUTH_FLOW_MS;
		if (found) {
			t->f = *g;
			memset(g, 0, sizeof(*g));
		} else {
			flow_clear(g);
		}
		break;
	}
	pthread_mutex_unlock(&flows.lock);
	if (!found) {
		free(t);
		audit_async(v, "oauth.failed", "owner", NULL, false, "unknown, used or expired state", ip);
		zk_http_error(r, 400, "Unknown, used or expired OAuth state", "OAUTH_STATE");
		return;
	}
	if (err || !code || !*code || strlen(code) > 4096) {
		char details[160];
		snprintf(details, sizeof(details), "%.120s", err ? err : "code: Required");
		audit_async(v, "oauth.failed", "owner", NULL, false, details, ip);
		callback_task_free(&t->task);
		zk_http_reply(r, 400, json_pack("{ssssss}", "error", "Authorization failed", "code", "OAUTH_DENIED",
						"details", details));
		return;
	}
	t->task = (struct task){ v, r, run_callback, callback_task_free };
	t->code = zk_wipe_strdup(code);
	snprintf(t->ip, sizeof(t->ip), "%s", ip);
	if (!t->code || zk_curl_global_init() != 0) {
		callback_task_free(&t->task);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	zk_http_defer(r, defer_task, t);
}

/*
 * Refresh (RFC 6749 §6) in the vault: a capability read of an oauth integration that expires within
 * OAUTH_REFRESH_MS and has a refresh token is answered with freshly refreshed tokens (stored first), and
 * POST /v1/oauth/:service/refresh (management) forces one. The client secret, kept in the record as
 * "oauthClientSecret", is never part of any view.
 */
#define OAUTH_REFRESH_MS 60000

bool oauth_refresh_due(const json_t *rec)
{
	int64_t ms;
	const char *exp = json_string_value(json_object_get(rec, "expiresAt"));
	return !strcmp(json_string_value(json_object_get(rec, "type")) ?: "", "oauth") &&
	       json_string_value(json_object_get(json_object_get(rec, "credential"), "refreshToken")) &&
	       json_string_value(json_object_get(json_object_get(rec, "metadata"), "tokenEndpoint")) && exp &&
	       zk_parse_iso8601(&ms, exp) == 0 && ms - zk_now_ms() < OAUTH_REFRESH_MS;
}

struct refresh_task {
	struct task task; /* first */
	json_t *rec;
	int mode; /* 0: management (no credential in the answer), 1: capability read */
	char user[130], jti[33], ip[48];
};

static void refresh_task_free(struct task *task)
{
	struct refresh_task *t = (struct refresh_task *)task;
	json_decref(t->rec);
	free(t);
}

static void run_refresh(struct task *task)
{
	struct refresh_task *t = (struct refresh_task *)task;
	json_t *rec = t->rec, *meta = json_object_get(rec, "metadata"), *cred = json_object_get(rec, "credential");
	const char *endpoint = json_string_value(json_object_get(meta, "tokenEndpoint"));
	const char *client_id = json_string_value(json_object_get(meta, "clientId"));
	const char *secret = json_string_value(json_object_get(rec, "oauthClientSecret"));
	const char *name = json_string_value(json_object_get(rec, "name"));
	char *form = NULL, iso[ZK_ISO8601_MAX];
	long status = 0;
	json_t *tok = NULL;

	if (!append_param(&form, "grant_type", "refresh_token") &&
	    !append_param(&form, "refresh_token", json_string_value(json_object_get(cred, "refreshToken"))) &&
	    (!client_id || !append_param(&form, "client_id", client_id)) &&
	    (!secret || !append_param(&form, "client_secret", secret)))
		tok = http_json(endpoint, form, &status);
	zk_wipe_str(form);
	const char *access = json_string_value(json_object_get(tok, "access_token"));
	if (status != 200 || !access || !*access) {
		const char *err = json_string_value(json_object_get(tok, "error"));
		audit_async_target(t->task.v, "oauth.refresh_failed", t->user, name, false, err ? err : "refresh failed",
				   t->ip);
		if (t->mode == 0) {
			zk_http_reply(t->task.r, 502, json_pack("{ssssss}", "error", "The provider refused the refresh", "code",
							   "OAUTH_REFRESH", "details", err ? err : "no access_token"));
		} else {
			/* The stored tokens, as they are: the caller sees the expiry and the failure. */
			json_t *view = integration_view(rec, true);
			json_object_set_new(view, "refreshFailed", json_true());
			zk_http_reply(t->task.r, 200, view);
		}
		json_decref(tok);
		return;
	}
	json_t *plain = json_deep_copy(rec), *nc = json_object_get(plain, "credential"), *x;
	json_object_set_new(nc, "accessToken", json_string(access));
	if ((x = json_object_get(tok, "refresh_token")) && json_is_string(x))
		json_object_set(nc, "refreshToken", x); /* rotated */
	if ((x = json_object_get(tok, "token_type")) && json_is_string(x))
		json_object_set(nc, "tokenType", x);
	if ((x = json_object_get(tok, "id_token")) && json_is_string(x))
		json_object_set(nc, "idToken", x);
	int64_t now = zk_now_ms();
	json_object_set_new(plain, "expiresAt", expires_at(tok, now));
	json_decref(tok);
	zk_iso8601(iso, now);
	json_object_set_new(plain, "updatedAt", json_string(iso));
	json_object_set_new(plain, "updatedBy", json_string("oauth-refresh"));

	struct job *j;
	struct personal_write *a = integration_write(t->task.r, name, plain, &j);
	if (!a)
		return;
	a->reply_as_is = true;
	snprintf(a->user, sizeof(a->user), "%s", t->user);
	snprintf(a->jti, sizeof(a->jti), "%s", t->jti);
	snprintf(a->ip, sizeof(a->ip), "%s", t->ip);
	if (t->mode == 0) {
		a->reply = json_pack("{sbsOsO}", "success", 1, "service", json_object_get(plain, "service"), "expiresAt",
				     json_object_get(plain, "expiresAt"));
	} else {
		a->reply = integration_view(plain, true);
		json_object_set_new(a->reply, "refreshed", json_true());
	}
	writer_submit(t->task.v->writer, j);
	t->task.r = NULL;
}

void oauth_refresh(struct vault *v, struct zk_http_req *r, json_t *rec, bool capability, const char *user,
		   const char *jti, const char *ip)
{
	struct refresh_task *t = calloc(1, sizeof(*t));
	if (!t || zk_curl_global_init() != 0) {
		free(t);
		json_decref(rec);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	t->task = (struct task){ v, r, run_refresh, refresh_task_free };
	t->rec = rec;
	t->mode = capability ? 1 : 0;
	snprintf(t->user, sizeof(t->user), "%s", user ? user : "owner");
	snprintf(t->jti, sizeof(t->jti), "%s", jti ? jti : "");
	snprintf(t->ip, sizeof(t->ip), "%s", ip ? ip : "");
	zk_http_defer(r, defer_task, t);
}

void handle_oauth_refresh(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	char name[VAULTD_NAME_MAX + 1], details[160], ip[48];
	json_t *rec = NULL;

	if (!require_personal(v, r) || !require_management(v, r))
		return;
	const char *problem = personal_id_problem(r->param[0]);
	if (problem) {
		snprintf(details, sizeof(details), "service: %s", problem);
		validation_error(r, "Invalid URL parameters", details);
		return;
	}
	if (!require_unlocked(v, r))
		return;
	snprintf(name, sizeof(name), INTEGRATION_PREFIX "%s", r->param[0]);
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	int found = personal_read(v, name, &rec, NULL);
	zk_brlock_rdunlock(&v->state_lock, slot);
	if (found != 1) {
		json_decref(rec);
		zk_http_error(r, found < 0 ? 500 : 404, found < 0 ? "Failed to read integration" : "Integration not found",
			      NULL);
		return;
	}
	if (strcmp(json_string_value(json_object_get(rec, "type")) ?: "", "oauth") ||
	    !json_string_value(json_object_get(json_object_get(rec, "credential"), "refreshToken")) ||
	    !json_string_value(json_object_get(json_object_get(rec, "metadata"), "tokenEndpoint"))) {
		json_decref(rec);
		zk_http_error(r, 409, "This integration has no refresh token or token endpoint", "NOT_REFRESHABLE");
		return;
	}
	client_address(v, r, ip);
	oauth_refresh(v, r, rec, false, "owner", NULL, ip);
}
