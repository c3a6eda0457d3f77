/*
 * The integrations store of a personal vault: /v1/integrations[/:service]. One record per service, named
 * "integration:<service>" (personal.h), holding an API key or OAuth tokens with their metadata.
 *
 * The management side (the owner's browser or CLI, X-Auth-Token) writes, lists and deletes, and reads the
 * metadata only: a credential is write-only from there. The credential itself is returned only to a capability
 * token with `read` and a pattern naming the namespace ("integration:*", "integration:<service>"), and every
 * such read is audited with the token id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/tokenchain.h"
#include "vaultd/audit.h"
#include "vaultd/limiter.h"
#include "vaultd/personal.h"
#include "vaultd/tokens.h"

#define CREDENTIAL_MAX 16384
#define LABEL_MAX 128
#define SCOPES_MAX 64
#define SCOPE_MAX 256

bool personal_reserved_name(const char *name)
{
	return name && strchr(name, ':') != NULL;
}

const char *personal_id_problem(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0)
		return "Required";
	if (n > PERSONAL_ID_MAX)
		return "Must be at most 128 characters";
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') && !(s[i] >= '0' && s[i] <= '9') &&
		    s[i] != '_' && s[i] != '.' && s[i] != '-')
			return "Must contain only letters, numbers, underscores, dots, and hyphens";
	return NULL;
}

bool personal_token_allows(const struct claims *c, const char *name, unsigned perm)
{
	const char *colon = strchr(name, ':');
	if (!(c->perms & perm) || !colon)
		return false;
	size_t plen = (size_t)(colon - name) + 1; /* the prefix with its ':' */
	for (int i = 0; i < c->npatterns; i++) {
		const char *p = c->patterns + c->pattern_off[i];
		if (strncmp(p, name, plen) == 0 && zk_pattern_covers(p, name))
			return true;
	}
	return false;
}

bool require_personal(struct vault *v, struct zk_http_req *r)
{
	if (!strcmp(v->cfg.kind, "user"))
		return true;
	zk_http_error(r, 404, "Not found", NULL);
	return false;
}

static const char *string_field(const json_t *body, const char *key, size_t max, bool required, char *details,
				size_t n)
{
	json_t *x = json_object_get(body, key);
	if (!x) {
		if (!required)
			return NULL;
		snprintf(details, n, "%s: Required", key);
		return details;
	}
	if (!json_is_string(x) || json_string_length(x) == 0 || json_string_length(x) > max ||
	    strlen(json_string_value(x)) != json_string_length(x)) {
		snprintf(details, n, "%s: Expected a string of 1 to %zu characters", key, max);
		return details;
	}
	return NULL;
}

const char *integration_body_problem(const json_t *body, char *details, size_t n)
{
	static const char *const known[] = { "type",	 "apiKey",    "accessToken", "refreshToken", "tokenType",
					     "accountLabel", "scopes", "expiresAt",   "metadata" };
	const char *key, *problem, *type;
	json_t *x;

	if (!json_is_object(body))
		return "Expected an object";
	json_object_foreach((json_t *)body, key, x) {
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || !strcmp(key, known[i]);
		if (!ok) {
			snprintf(details, n, "%.64s: Unknown field", key);
			return details;
		}
	}
	type = json_string_value(json_object_get(body, "type"));
	if (!type || (strcmp(type, "api_key") && strcmp(type, "oauth")))
		return "type: Expected \"api_key\" or \"oauth\"";
	if (!strcmp(type, "api_key")) {
		if ((problem = string_field(body, "apiKey", CREDENTIAL_MAX, true, details, n)))
			return problem;
		if (json_object_get(body, "accessToken") || json_object_get(body, "refreshToken") ||
		    json_object_get(body, "tokenType"))
			return "type: api_key takes apiKey, not OAuth tokens";
	} else {
		if ((problem = string_field(body, "accessToken", CREDENTIAL_MAX, true, details, n)) ||
		    (problem = string_field(body, "refreshToken", CREDENTIAL_MAX, false, details, n)) ||
		    (problem = string_field(body, "tokenType", 32, false, details, n)))
			return problem;
		if (json_object_get(body, "apiKey"))
			return "type: oauth takes accessToken (and refreshToken), not apiKey";
	}
	if ((problem = string_field(body, "accountLabel", LABEL_MAX, false, details, n)))
		return problem;
	if ((x = json_object_get(body, "scopes"))) {
		size_t i;
		json_t *s;
		if (!json_is_array(x) || json_array_size(x) > SCOPES_MAX)
			return "scopes: Expected an array of at most 64 strings";
		json_array_foreach(x, i, s) {
			if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) > SCOPE_MAX ||
			    strlen(json_string_value(s)) != json_string_length(s)) {
				snprintf(details, n, "scopes.%zu: Expected a string of 1 to %d characters", i, SCOPE_MAX);
				return details;
			}
		}
	}
	if ((x = json_object_get(body, "expiresAt"))) {
		int64_t ms;
		if (!json_is_null(x) && (!json_is_string(x) || zk_parse_iso8601(&ms, json_string_value(x)) != 0))
			return "expiresAt: Expected an ISO 8601 date-time or null";
	}
	if ((x = json_object_get(body, "metadata")) && !json_is_object(x))
		return "metadata: Expected object";
	return NULL;
}

json_t *integration_build(const json_t *body)
{
	const char *type = json_string_value(json_object_get(body, "type"));
	json_t *cred = json_object(), *x;
	if (!strcmp(type, "api_key")) {
		json_object_set(cred, "apiKey", json_object_get(body, "apiKey"));
	} else {
		json_object_set(cred, "accessToken", json_object_get(body, "accessToken"));
		if ((x = json_object_get(body, "refreshToken")))
			json_object_set(cred, "refreshToken", x);
		if ((x = json_object_get(body, "tokenType")))
			json_object_set(cred, "tokenType", x);
	}
	x = json_object_get(body, "metadata");
	json_t *scopes = json_object_get(body, "scopes"), *label = json_object_get(body, "accountLabel");
	json_t *exp = json_object_get(body, "expiresAt");
	return json_pack("{sssssOsosOsoso}", "kind", "integration", "type", type, "accountLabel",
			 label ? label : json_null(), "scopes", scopes ? json_incref(scopes) : json_array(), "expiresAt",
			 exp ? exp : json_null(), "metadata", x ? json_incref(x) : json_object(), "credential", cred);
}

json_t *integration_view(const json_t *rec, bool with_credential)
{
	static const char *const keys[] = { "service", "type", "accountLabel", "scopes", "expiresAt", "metadata",
					    "createdAt", "updatedAt", "updatedBy" };
	json_t *o = json_object();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *x = json_object_get(rec, keys[i]);
		json_object_set(o, keys[i], x ? x : json_null());
	}
	int64_t ms;
	const char *exp = json_string_value(json_object_get(rec, "expiresAt"));
	json_object_set_new(o, "expired", json_boolean(exp && zk_parse_iso8601(&ms, exp) == 0 && ms <= zk_now_ms()));
	if (with_credential)
		json_object_set(o, "credential", json_object_get(rec, "credential"));
	return o;
}

/* The writer job shared with transcripts.c. */
static void personal_write_free(void *p)
{
	struct personal_write *a = p;
	json_decref(a->plain);
	json_decref(a->plain2);
	json_decref(a->reply);
	index_entry_release(&a->entry);
	index_entry_release(&a->entry2);
	free(a);
}

static int personal_apply(struct vault *v, struct job *j)
{
	struct personal_write *a = j->arg;
	bool created = false;

	int rc = record_job_write(v, a->name, a->plain, a->tombstone, &a->entry, &created);
	if (rc == 404)
		j->error = !strcmp(a->action, "integration") ? "Integration not found" : "Not found";
	if (rc)
		return rc;
	if (a->plain2) {
		/* A transcript entry: its sequence number is the head's new version. */
		bool c2;
		snprintf(a->name2, sizeof(a->name2), "%s:%llu", a->name, (unsigned long long)a->entry.version);
		json_object_set_new(a->plain2, "name", json_string(a->name2));
		json_object_set_new(a->plain2, "seq", json_integer((json_int_t)a->entry.version));
		if (record_job_write(v, a->name2, a->plain2, false, &a->entry2, &c2) != 0)
			return 500;
	}
	char action[48];
	snprintf(action, sizeof(action), "%s%s", a->action,
		 a->tombstone ? ".deleted" : a->plain2 ? ".appended" : created ? ".created" : ".updated");
	struct audit_event e = { action, a->user, a->name, NULL, a->jti[0] ? a->jti : NULL, NULL, a->ip, true };
	if (audit_append(v, writer_state(v->writer), &e) != 0)
		return 500;
	j->reply = a->reply ? json_incref(a->reply) : json_pack("{sb}", "success", 1);
	if (a->reply_as_is)
		return 0;
	if (!a->tombstone)
		json_object_set_new(j->reply, a->plain2 ? "seq" : "version", json_integer((json_int_t)a->entry.version));
	if (!a->tombstone && !a->plain2)
		json_object_set_new(j->reply, "created", json_boolean(created));
	return 0;
}

static void personal_publish(struct vault *v, struct job *j)
{
	struct personal_write *a = j->arg;
	if (v->keys) {
		index_put(&v->index, &a->entry);
		if (a->plain2)
			index_put(&v->index, &a->entry2);
	}
	atomic_fetch_add(&v->n_writes, 1);
}

struct job *personal_job(struct personal_write *a, struct zk_http_req *r)
{
	struct job *j = job_new(personal_apply, personal_publish, job_reply_done, r);
	if (j) {
		j->arg = a;
		j->free_arg = personal_write_free;
	}
	return j;
}

void personal_submit(struct vault *v, struct zk_http_req *r, struct personal_write *a)
{
	struct job *j = personal_job(a, r);
	if (!j) {
		personal_write_free(a);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	defer_job(v, r, j);
}

/* The latest version of a record, opened (caller holds the state lock). 1 found, 0 not, -1 error. */
int personal_read(struct vault *v, const char *name, json_t **rec, uint64_t *version)
{
	unsigned char h[ZK_HASH_BYTES];
	if (!v->keys)
		return 0;
	zk_name_hash(h, name, strlen(name), v->keys->name_mac);
	const struct index_entry *e = index_get(&v->index, h);
	if (!e || e->tombstone)
		return 0;
	if (version)
		*version = e->version;
	return record_open(rec, v, v->keys, e) == 0 ? 1 : -1;
}

static bool service_param(struct zk_http_req *r, char name[VAULTD_NAME_MAX + 1])
{
	const char *problem = personal_id_problem(r->param[0]);
	if (problem) {
		char details[160];
		snprintf(details, sizeof(details), "service: %s", problem);
		validation_error(r, "Invalid URL parameters", details);
		return false;
	}
	snprintf(name, VAULTD_NAME_MAX + 1, INTEGRATION_PREFIX "%s", r->param[0]);
	return true;
}

static int cmp_service(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "service")),
		      json_string_value(json_object_get(*(json_t *const *)b, "service")));
}

static void list_integration(json_t *rec, const struct index_entry *e, void *list)
{
	const char *name = json_string_value(json_object_get(rec, "name"));
	if (name && !strncmp(name, INTEGRATION_PREFIX, strlen(INTEGRATION_PREFIX))) {
		json_t *view = integration_view(rec, false);
		json_object_set_new(view, "version", json_integer((json_int_t)e->version));
		json_array_append_new(list, view);
	}
}

void handle_integration_list(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	if (!require_personal(v, r) || !require_management(v, r) || !require_unlocked(v, r))
		return;
	json_t *list = json_array();
	if (!records_foreach(v, list_integration, list)) {
		json_decref(list);
		locked_error(v, r);
		return;
	}
	zk_http_reply(r, 200, json_pack("{so}", "integrations", records_sorted(list, cmp_service)));
}

void handle_integration_get(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	char name[VAULTD_NAME_MAX + 1];
	struct cap c;
	bool management = zk_http_header(r, "X-Auth-Token") || !zk_http_header(r, "X-Capability-Token");

	if (!require_personal(v, r) || !service_param(r, name))
		return;
	if (management ? !require_management(v, r) || !require_unlocked(v, r) : !require_capability(v, r, &c))
		return;
	if (!management && !personal_token_allows(&c.claims, name, PERM_READ)) {
		struct audit_event e = { "integration.read.denied", c.claims.sub, name, NULL, c.claims.jti,
					 "Access denied", c.ip, false };
		atomic_fetch_add(&v->n_denied, 1);
		audit_read(v, &e);
		zk_http_error(r, 403, "Access denied for this integration", NULL);
		return;
	}
	json_t *rec = NULL;
	uint64_t version = 0;
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	bool unlocked = v->keys != NULL;
	int found = personal_read(v, name, &rec, &version);
	zk_brlock_rdunlock(&v->state_lock, slot);
	if (!unlocked) {
		locked_error(v, r);
	} else if (found < 0) {
		zk_http_error(r, 500, "Failed to read integration", NULL);
	} else if (!found) {
		zk_http_error(r, 404, "Integration not found", NULL);
	} else if (!management && oauth_refresh_due(rec)) {
		/* Refreshed in the vault before it is handed out (audited as the token's update and read). */
		struct audit_event e = { "integration.read", c.claims.sub, name, NULL, c.claims.jti, NULL, c.ip, true };
		audit_read(v, &e);
		atomic_fetch_add(&v->n_reads, 1);
		oauth_refresh(v, r, rec, true, c.claims.sub, c.claims.jti, c.ip);
		return;
	} else {
		json_t *view = integration_view(rec, !management);
		json_object_set_new(view, "version", json_integer((json_int_t)version));
		if (!management) {
			struct audit_event e = { "integration.read", c.claims.sub, name, NULL, c.claims.jti, NULL, c.ip,
						 true };
			if (audit_read(v, &e) != 0) {
				json_decref(view);
				json_decref(rec);
				zk_http_error(r, 503, "Audit backlog is full; try again", "AUDIT_BACKLOG");
				return;
			}
			atomic_fetch_add(&v->n_reads, 1);
		}
		zk_http_reply(r, 200, view);
	}
	json_decref(rec);
}

void handle_integration_put(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	char name[VAULTD_NAME_MAX + 1], details[160], iso[ZK_ISO8601_MAX], ip[48];
	json_t *body;

	if (!require_personal(v, r) || !require_management(v, r) || !service_param(r, name) ||
	    !body_object(r, &body))
		return;
	const char *problem = integration_body_problem(body, details, sizeof(details));
	if (problem) {
		validation_error(r, "Invalid request body", problem);
		json_decref(body);
		return;
	}
	if (!require_unlocked(v, r)) {
		json_decref(body);
		return;
	}
	json_t *plain = integration_build(body);
	json_decref(body);
	struct personal_write *a = calloc(1, sizeof(*a));
	if (!plain || !a) {
		json_decref(plain);
		free(a);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	/* Keep createdAt across updates (racy only between two concurrent writers of the same service). */
	json_t *old = NULL;
	zk_iso8601(iso, zk_now_ms());
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	if (personal_read(v, name, &old, NULL) == 1 && json_is_string(json_object_get(old, "createdAt")))
		json_object_set(plain, "createdAt", json_object_get(old, "createdAt"));
	zk_brlock_rdunlock(&v->state_lock, slot);
	json_decref(old);
	if (!json_object_get(plain, "createdAt"))
		json_object_set_new(plain, "createdAt", json_string(iso));
	json_object_set_new(plain, "name", json_string(name));
	json_object_set_new(plain, "service", json_string(r->param[0]));
	json_object_set_new(plain, "updatedAt", json_string(iso));
	json_object_set_new(plain, "updatedBy", json_string("owner"));
	client_address(v, r, ip);
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->plain = plain;
	a->action = "integration";
	snprintf(a->user, sizeof(a->user), "owner");
	snprintf(a->ip, sizeof(a->ip), "%s", ip);
	a->reply = json_pack("{sbss}", "success", 1, "service", r->param[0]);
	personal_submit(v, r, a);
}

void handle_integration_delete(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	char name[VAULTD_NAME_MAX + 1], iso[ZK_ISO8601_MAX], ip[48];

	if (!require_personal(v, r) || !require_management(v, r) || !service_param(r, name) ||
	    !require_unlocked(v, r))
		return;
	struct personal_write *a = calloc(1, sizeof(*a));
	if (!a) {
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	zk_iso8601(iso, zk_now_ms());
	client_address(v, r, ip);
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->plain = json_pack("{ssssss}", "name", name, "deletedAt", iso, "deletedBy", "owner");
	a->tombstone = true;
	a->action = "integration";
	snprintf(a->user, sizeof(a->user), "owner");
	snprintf(a->ip, sizeof(a->ip), "%s", ip);
	personal_submit(v, r, a);
}
