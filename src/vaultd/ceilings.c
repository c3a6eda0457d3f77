/* Capability ceilings: GET/PUT/DELETE /policy/ceilings[/:subject], persisted through the writer, audited. */
#include "vaultd/ceilings.h"

#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "vaultd/audit.h"
#include "vaultd/common.h"
#include "vaultd/limiter.h"
#include "vaultd/routes.h"

/* Sorted by subject; mutated only under the state write lock. */
struct ceilings {
	struct ceiling **items;
	size_t count, cap;
};

struct ceilings *ceilings_new(void)
{
	return calloc(1, sizeof(struct ceilings));
}

static void ceilings_clear(struct ceilings *cs)
{
	for (size_t i = 0; i < cs->count; i++)
		free(cs->items[i]);
	cs->count = 0;
}

void ceilings_free(struct ceilings *cs)
{
	if (!cs)
		return;
	ceilings_clear(cs);
	free(cs->items);
	free(cs);
}

static size_t lower_bound(const struct ceilings *cs, const char *sub)
{
	size_t lo = 0, hi = cs->count;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(cs->items[mid]->sub, sub) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct ceiling *find_exact(const struct ceilings *cs, const char *sub)
{
	size_t i = lower_bound(cs, sub);
	return i < cs->count && !strcmp(cs->items[i]->sub, sub) ? cs->items[i] : NULL;
}

const struct ceiling *ceilings_find(const struct ceilings *cs, const char *sub)
{
	if (!cs || !cs->count)
		return NULL;
	const struct ceiling *c = find_exact(cs, sub);
	return c ? c : find_exact(cs, CEILING_DEFAULT);
}

/* Takes c (replacing any ceiling of the same subject). */
static int ceilings_put(struct ceilings *cs, struct ceiling *c)
{
	size_t i = lower_bound(cs, c->sub);
	if (i < cs->count && !strcmp(cs->items[i]->sub, c->sub)) {
		free(cs->items[i]);
		cs->items[i] = c;
		return 0;
	}
	if (cs->count == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 16;
		struct ceiling **items = realloc(cs->items, cap * sizeof(*items));
		if (!items)
			return -1;
		cs->items = items;
		cs->cap = cap;
	}
	memmove(cs->items + i + 1, cs->items + i, (cs->count - i) * sizeof(*cs->items));
	cs->items[i] = c;
	cs->count++;
	return 0;
}

static void ceilings_del(struct ceilings *cs, const char *sub)
{
	size_t i = lower_bound(cs, sub);
	if (i < cs->count && !strcmp(cs->items[i]->sub, sub)) {
		free(cs->items[i]);
		memmove(cs->items + i, cs->items + i + 1, (cs->count - i - 1) * sizeof(*cs->items));
		cs->count--;
	}
}

/* A policy body {allowedSecrets, permissions, maxTtlSeconds?} into c; NULL or the validation message. */
static const char *policy_parse(struct ceiling *c, const json_t *b, char *details, size_t n)
{
	json_t *allowed = json_object_get(b, "allowedSecrets"), *pa = json_object_get(b, "permissions");
	json_t *ttl = json_object_get(b, "maxTtlSeconds"), *x;
	size_t i;

	if (!allowed)
		return "allowedSecrets: Required";
	if (!json_is_array(allowed))
		return "allowedSecrets: Expected array";
	if (json_array_size(allowed) > ZK_CHAIN_MAX_PATTERNS)
		return "allowedSecrets: Too many patterns (at most 64)";
	json_array_foreach(allowed, i, x) {
		const char *p = json_string_value(x);
		if (!p || zk_caveats_add_pattern(&c->allowed, p) != 0) {
			snprintf(details, n, "allowedSecrets.%zu: Expected a secret name, \"*\" or a prefix ending in \"*\"", i);
			return details;
		}
	}
	if (!pa)
		return "permissions: Required";
	if (!json_is_array(pa))
		return "permissions: Expected array";
	json_array_foreach(pa, i, x) {
		unsigned p = json_is_string(x) ? zk_chain_perm_parse(json_string_value(x)) : 0;
		if (!p) {
			snprintf(details, n,
				 "permissions.%zu: Invalid enum value. Expected 'read' | 'write' | 'delete' | 'use' | 'admin'",
				 i);
			return details;
		}
		c->perms |= p;
	}
	c->max_ttl_s = TOKEN_TTL_MAX;
	if (ttl) {
		if (!json_is_integer(ttl))
			return "maxTtlSeconds: Expected an integer";
		c->max_ttl_s = json_integer_value(ttl);
		if (c->max_ttl_s < TOKEN_TTL_MIN || c->max_ttl_s > TOKEN_TTL_MAX)
			return "maxTtlSeconds: Expected 60 to 2592000";
	}
	return NULL;
}

static json_t *ceiling_json(const struct ceiling *c)
{
	json_t *allowed = json_array(), *perms = json_array();
	char updated[ZK_ISO8601_MAX];
	for (int i = 0; i < c->allowed.npatterns; i++)
		json_array_append_new(allowed, json_string(c->allowed.patterns + c->allowed.pattern_off[i]));
	for (unsigned b = 1; b <= ZK_CHAIN_PERM_ADMIN; b <<= 1)
		if (c->perms & b)
			json_array_append_new(perms, json_string(zk_chain_perm_name(b)));
	zk_iso8601(updated, c->updated_ms);
	return json_pack("{sssososIss}", "subject", c->sub, "allowedSecrets", allowed, "permissions", perms,
			 "maxTtlSeconds", (json_int_t)c->max_ttl_s, "updatedAt", updated);
}

void ceiling_narrow(const struct ceiling *c, struct claims *cl)
{
	char patterns[CLAIMS_PATTERN_BYTES];
	uint16_t off[CLAIMS_MAX_PATTERNS];
	int n = 0;
	size_t used = 0;

	cl->perms &= c->perms | (1u << 31);
	if (cl->exp_ms > cl->iat_ms + c->max_ttl_s * 1000)
		cl->exp_ms = cl->iat_ms + c->max_ttl_s * 1000;
	/* A name is allowed by both sets exactly when one of the pair covering it covers the other; keep that one.
	   Running out of room only drops patterns, which narrows. */
	for (int i = 0; i < cl->npatterns; i++) {
		const char *t = cl->patterns + cl->pattern_off[i];
		for (int j = 0; j < c->allowed.npatterns; j++) {
			const char *p = c->allowed.patterns + c->allowed.pattern_off[j], *keep = NULL;
			if (zk_pattern_covers(p, t))
				keep = t;
			else if (zk_pattern_covers(t, p))
				keep = p;
			size_t len = keep ? strlen(keep) : 0;
			if (!keep || n == CLAIMS_MAX_PATTERNS || used + len + 1 > sizeof(patterns))
				continue;
			off[n++] = (uint16_t)used;
			memcpy(patterns + used, keep, len + 1);
			used += len + 1;
			if (keep == t)
				break;
		}
	}
	cl->npatterns = n;
	memcpy(cl->pattern_off, off, sizeof(off[0]) * (size_t)n);
	memcpy(cl->patterns, patterns, used);
}

const char *ceiling_check_grant(const struct ceiling *c, const json_t *allowed, unsigned perms, int64_t ttl_s,
				char *buf, size_t n)
{
	size_t i;
	json_t *x;
	if (perms & ~c->perms) {
		for (unsigned b = 1; b <= ZK_CHAIN_PERM_ADMIN; b <<= 1)
			if (perms & b & ~c->perms) {
				snprintf(buf, n, "permissions: '%s' is above the ceiling", zk_chain_perm_name(b));
				return buf;
			}
	}
	json_array_foreach(allowed, i, x) {
		if (!zk_caveats_allow_name(&c->allowed, json_string_value(x))) {
			snprintf(buf, n, "allowedSecrets.%zu: not covered by the ceiling", i);
			return buf;
		}
	}
	if (ttl_s > c->max_ttl_s) {
		snprintf(buf, n, "ttlSeconds: above the ceiling's maxTtlSeconds (%lld)", (long long)c->max_ttl_s);
		return buf;
	}
	return NULL;
}

int ceilings_load(struct vault *v)
{
	sqlite3_stmt *q;
	char details[160];
	ceilings_clear(v->ceilings);
	if (sqlite3_prepare_v2(v->db, "SELECT sub, policy, updated FROM ceilings", -1, &q, NULL) != SQLITE_OK)
		return -1;
	int rc = 0;
	while (rc == 0 && sqlite3_step(q) == SQLITE_ROW) {
		struct ceiling *c = calloc(1, sizeof(*c));
		json_t *b = json_loads((const char *)sqlite3_column_text(q, 1), 0, NULL);
		if (!c || !b || policy_parse(c, b, details, sizeof(details)) != NULL) {
			/* An unreadable ceiling must not silently lift the cap: refuse to start. */
			rc = -1;
			free(c);
		} else {
			snprintf(c->sub, sizeof(c->sub), "%s", (const char *)sqlite3_column_text(q, 0));
			c->updated_ms = sqlite3_column_int64(q, 2);
			rc = ceilings_put(v->ceilings, c);
		}
		json_decref(b);
	}
	sqlite3_finalize(q);
	return rc;
}

struct ceiling_arg {
	struct ceiling *c; /* NULL: delete */
	char sub[129];
	char *policy;
	char ip[48];
	bool found;
};

static void ceiling_arg_free(void *p)
{
	struct ceiling_arg *a = p;
	free(a->c);
	zk_wipe_str(a->policy); /* json_dumps allocates through zk_wipe_malloc */
	free(a);
}

static int ceiling_apply(struct vault *v, struct job *j)
{
	struct ceiling_arg *a = j->arg;
	sqlite3_stmt *q;
	const char *sql = a->c ? "INSERT OR REPLACE INTO ceilings(sub, policy, updated) VALUES(?,?,?)"
			       : "DELETE FROM ceilings WHERE sub=?";
	if (sqlite3_prepare_v2(v->db, sql, -1, &q, NULL) != SQLITE_OK)
		return 500;
	sqlite3_bind_text(q, 1, a->sub, -1, SQLITE_STATIC);
	if (a->c) {
		sqlite3_bind_text(q, 2, a->policy, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, a->c->updated_ms);
	}
	int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : 500;
	sqlite3_finalize(q);
	if (rc == 0 && !a->c && sqlite3_changes(v->db) == 0) {
		j->error = "No ceiling for this subject";
		return 404;
	}
	struct audit_event e = { a->c ? "ceiling.set" : "ceiling.deleted", "system", NULL, a->sub, NULL, NULL, a->ip,
				 true };
	if (rc == 0 && audit_append(v, writer_state(v->writer), &e) != 0)
		rc = 500;
	if (rc == 500)
		j->error = "Failed to store the ceiling";
	if (rc == 0)
		j->reply = a->c ? ceiling_json(a->c) : json_pack("{sb}", "success", 1);
	return rc;
}

static void ceiling_publish(struct vault *v, struct job *j)
{
	struct ceiling_arg *a = j->arg;
	if (!a->c) {
		ceilings_del(v->ceilings, a->sub);
		return;
	}
	if (ceilings_put(v->ceilings, a->c) == 0)
		a->c = NULL; /* now owned by the table */
}

static bool valid_subject(struct zk_http_req *r)
{
	if (!strcmp(r->param[0], CEILING_DEFAULT) || valid_uuid(r->param[0]))
		return true;
	validation_error(r, "Invalid URL parameters", "subject: Expected a UUID or \"default\"");
	return false;
}

void handle_ceiling_put(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	char details[160];

	if (!require_management(v, r) || !require_session(v, r) || !valid_subject(r) || !body_object(r, &body))
		return;
	struct ceiling_arg *a = calloc(1, sizeof(*a));
	if (!a || !(a->c = calloc(1, sizeof(*a->c)))) {
		free(a);
		json_decref(body);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	const char *problem = policy_parse(a->c, body, details, sizeof(details));
	if (problem) {
		validation_error(r, "Invalid request body", problem);
		ceiling_arg_free(a);
		json_decref(body);
		return;
	}
	snprintf(a->sub, sizeof(a->sub), "%s", r->param[0]);
	snprintf(a->c->sub, sizeof(a->c->sub), "%s", r->param[0]);
	a->c->updated_ms = zk_now_ms();
	json_t *stored = ceiling_json(a->c);
	json_object_del(stored, "subject");
	json_object_del(stored, "updatedAt");
	a->policy = json_dumps(stored, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(stored);
	json_decref(body);
	client_address(v, r, a->ip);
	struct job *j = job_new(ceiling_apply, ceiling_publish, job_reply_done, r);
	j->arg = a;
	j->free_arg = ceiling_arg_free;
	defer_job(v, r, j);
}

void handle_ceiling_delete(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	if (!require_management(v, r) || !require_session(v, r) || !valid_subject(r))
		return;
	struct ceiling_arg *a = calloc(1, sizeof(*a));
	snprintf(a->sub, sizeof(a->sub), "%s", r->param[0]);
	client_address(v, r, a->ip);
	struct job *j = job_new(ceiling_apply, ceiling_publish, job_reply_done, r);
	j->arg = a;
	j->free_arg = ceiling_arg_free;
	defer_job(v, r, j);
}

void handle_ceiling_get(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	if (!require_management(v, r))
		return;
	const char *sub = r->param[0];
	if (sub && !valid_subject(r))
		return;
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	json_t *out = NULL;
	if (sub) {
		const struct ceiling *c = find_exact(v->ceilings, sub);
		out = c ? ceiling_json(c) : NULL;
	} else {
		json_t *list = json_array();
		for (size_t i = 0; i < v->ceilings->count; i++)
			json_array_append_new(list, ceiling_json(v->ceilings->items[i]));
		out = json_pack("{so}", "ceilings", list);
	}
	zk_brlock_rdunlock(&v->state_lock, slot);
	if (!out) {
		zk_http_error(r, 404, "No ceiling for this subject", NULL);
		return;
	}
	zk_http_reply(r, 200, out);
}
