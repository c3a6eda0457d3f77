/*
 * Encrypted, append-only session transcripts of a personal vault: /v1/transcripts[/:id]. A transcript is a
 * head record "transcript:<id>" whose version counts the entries, and one record per entry,
 * "transcript:<id>:<seq>", written once in the same writer job as the head's new version (personal.h). No
 * route changes or deletes an entry. Reading needs the vault unlocked and management auth; appending takes
 * management auth or a capability token with `write` and a "transcript:" pattern (an agent logging its own
 * conversation). /export carries them as ciphertext like every record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "vaultd/audit.h"
#include "vaultd/limiter.h"
#include "vaultd/personal.h"
#include "vaultd/tokens.h"

#define ROLE_MAX 64
#define READ_LIMIT_DEFAULT 100
#define READ_LIMIT_MAX 1000

const char *transcript_body_problem(const json_t *body)
{
	const char *key;
	json_t *x;
	if (!json_is_object(body))
		return "Expected an object";
	json_object_foreach((json_t *)body, key, x) {
		if (strcmp(key, "role") && strcmp(key, "content") && strcmp(key, "metadata"))
			return "Unknown field (expected role, content, metadata)";
	}
	x = json_object_get(body, "content");
	if (!x)
		return "content: Required";
	if (!json_is_string(x) && !json_is_object(x) && !json_is_array(x))
		return "content: Expected a string, an object or an array";
	x = json_object_get(body, "role");
	if (x && (!json_is_string(x) || json_string_length(x) == 0 || json_string_length(x) > ROLE_MAX ||
		  strlen(json_string_value(x)) != json_string_length(x)))
		return "role: Expected a string of 1 to 64 characters";
	x = json_object_get(body, "metadata");
	if (x && !json_is_object(x))
		return "metadata: Expected object";
	return NULL;
}

static bool id_param(struct zk_http_req *r, char name[VAULTD_NAME_MAX + 1])
{
	const char *problem = personal_id_problem(r->param[0]);
	if (problem) {
		char details[160];
		snprintf(details, sizeof(details), "id: %s", problem);
		validation_error(r, "Invalid URL parameters", details);
		return false;
	}
	snprintf(name, VAULTD_NAME_MAX + 1, TRANSCRIPT_PREFIX "%s", r->param[0]);
	return true;
}

void handle_transcript_append(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	char name[VAULTD_NAME_MAX + 1], iso[ZK_ISO8601_MAX];
	struct cap c;
	json_t *body;
	bool management = zk_http_header(r, "X-Auth-Token") || !zk_http_header(r, "X-Capability-Token");

	if (!require_personal(v, r) || !id_param(r, name))
		return;
	if (management ? !require_management(v, r) : !require_capability(v, r, &c))
		return;
	if (!body_object(r, &body))
		return;
	const char *problem = transcript_body_problem(body);
	if (problem) {
		validation_error(r, "Invalid request body", problem);
		json_decref(body);
		return;
	}
	if (management) {
		if (!require_unlocked(v, r)) {
			json_decref(body);
			return;
		}
		memset(&c, 0, sizeof(c));
		snprintf(c.claims.sub, sizeof(c.claims.sub), "owner");
		client_address(v, r, c.ip);
	} else if (!personal_token_allows(&c.claims, name, PERM_WRITE)) {
		struct audit_event e = { "transcript.append.denied", c.claims.sub, name, NULL, c.claims.jti,
					 "Access denied", c.ip, false };
		atomic_fetch_add(&v->n_denied, 1);
		audit_read(v, &e);
		json_decref(body);
		zk_http_error(r, 403, "Access denied for this transcript", NULL);
		return;
	}
	struct personal_write *a = calloc(1, sizeof(*a));
	if (!a) {
		json_decref(body);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	zk_iso8601(iso, zk_now_ms());
	json_t *old = NULL, *created = NULL;
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	if (personal_read(v, name, &old, NULL) == 1)
		created = json_incref(json_object_get(old, "createdAt"));
	zk_brlock_rdunlock(&v->state_lock, slot);
	json_decref(old);
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->plain = json_pack("{sssssssoss}", "name", name, "kind", "transcript", "id", r->param[0], "createdAt",
			     created ? created : json_string(iso), "updatedAt", iso);
	a->plain2 = json_pack("{sssssssssO}", "kind", "transcript-entry", "transcript", r->param[0], "at", iso, "by",
			      c.claims.sub, "content", json_object_get(body, "content"));
	if (json_object_get(body, "role"))
		json_object_set(a->plain2, "role", json_object_get(body, "role"));
	if (json_object_get(body, "metadata"))
		json_object_set(a->plain2, "metadata", json_object_get(body, "metadata"));
	json_decref(body);
	a->action = "transcript";
	snprintf(a->user, sizeof(a->user), "%s", c.claims.sub);
	snprintf(a->jti, sizeof(a->jti), "%s", c.claims.jti);
	snprintf(a->ip, sizeof(a->ip), "%s", c.ip);
	a->reply = json_pack("{sbss}", "success", 1, "id", r->param[0]);
	if (!a->plain || !a->plain2 || !a->reply) {
		json_decref(a->plain);
		json_decref(a->plain2);
		json_decref(a->reply);
		free(a);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	personal_submit(v, r, a);
}

static bool query_uint(struct zk_http_req *r, const char *key, long min, long max, long *out)
{
	const char *q = zk_http_query(r, key);
	if (!q)
		return true;
	char *end;
	long n = strtol(q, &end, 10);
	if (!*q || *end || strspn(q, "0123456789") != strlen(q) || n < min || n > max) {
		char details[96];
		snprintf(details, sizeof(details), "%s: Expected an integer from %ld to %ld", key, min, max);
		validation_error(r, "Invalid query parameters", details);
		return false;
	}
	*out = n;
	return true;
}

void handle_transcript_get(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	char name[VAULTD_NAME_MAX + 1], entry_name[VAULTD_NAME_MAX + 24], ip[48];
	long after = 0, limit = READ_LIMIT_DEFAULT;

	if (!require_personal(v, r) || !require_management(v, r) || !require_session(v, r) || !id_param(r, name) ||
	    !query_uint(r, "after", 0, INT32_MAX, &after) || !query_uint(r, "limit", 1, READ_LIMIT_MAX, &limit) ||
	    !require_unlocked(v, r))
		return;
	json_t *head = NULL, *entries = json_array();
	uint64_t count = 0;
	int found, bad = 0;
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	bool unlocked = v->keys != NULL;
	found = personal_read(v, name, &head, &count);
	for (uint64_t seq = (uint64_t)after + 1; found == 1 && seq <= count && seq <= (uint64_t)(after + limit); seq++) {
		json_t *rec = NULL;
		snprintf(entry_name, sizeof(entry_name), "%s:%llu", name, (unsigned long long)seq);
		if (personal_read(v, entry_name, &rec, NULL) != 1) {
			bad++; /* pruned or missing: the header digest would have caught a removal at unlock */
			continue;
		}
		json_object_del(rec, "name");
		json_object_del(rec, "kind");
		json_object_del(rec, "transcript");
		json_array_append_new(entries, rec);
	}
	zk_brlock_rdunlock(&v->state_lock, slot);
	if (!unlocked) {
		locked_error(v, r);
	} else if (found < 0 || bad) {
		zk_http_error(r, 500, "Failed to read transcript", NULL);
	} else if (!found) {
		zk_http_error(r, 404, "Transcript not found", NULL);
	} else {
		client_address(v, r, ip);
		struct audit_event e = { "transcript.read", "owner", name, NULL, NULL, NULL, ip, true };
		audit_read(v, &e);
		zk_http_reply(r, 200, json_pack("{sssIsOsOso}", "id", r->param[0], "count", (json_int_t)count,
						"createdAt", json_object_get(head, "createdAt"), "updatedAt",
						json_object_get(head, "updatedAt"), "entries", entries));
		entries = NULL;
	}
	json_decref(entries);
	json_decref(head);
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
		      json_string_value(json_object_get(*(json_t *const *)b, "id")));
}

static void list_transcript(json_t *rec, const struct index_entry *e, void *list)
{
	const char *kind = json_string_value(json_object_get(rec, "kind"));
	const char *name = json_string_value(json_object_get(rec, "name"));
	if (kind && name && !strcmp(kind, "transcript") && !strncmp(name, TRANSCRIPT_PREFIX, strlen(TRANSCRIPT_PREFIX)))
		json_array_append_new(list, json_pack("{sOsIsOsO}", "id", json_object_get(rec, "id"), "count",
						      (json_int_t)e->version, "createdAt", json_object_get(rec, "createdAt"),
						      "updatedAt", json_object_get(rec, "updatedAt")));
}

void handle_transcript_list(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	if (!require_personal(v, r) || !require_management(v, r) || !require_unlocked(v, r))
		return;
	json_t *list = json_array();
	if (!records_foreach(v, list_transcript, list)) {
		json_decref(list);
		locked_error(v, r);
		return;
	}
	zk_http_reply(r, 200, json_pack("{so}", "transcripts", records_sorted(list, cmp_id)));
}
