/* The secrets routes (capability token) and the one function that writes a record version. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "vaultd/audit.h"
#include "vaultd/common.h"
#include "vaultd/limiter.h"
#include "vaultd/routes.h"
#include "vaultd/tokens.h"

/* Deletes the rows of the versions that fall out of the newest max_versions and lists the rest in e->older. */
static int prune_versions(struct vault *v, const struct index_entry *prev, struct index_entry *e)
{
	if (!prev)
		return 0;
	uint64_t keep_from = e->version > (uint64_t)v->cfg.max_versions ? e->version - v->cfg.max_versions + 1 : 1;
	if (!(e->older = malloc((prev->nolder + 1) * sizeof(*e->older))))
		return -1;
	for (uint32_t i = 0; i <= prev->nolder; i++) {
		struct version_row row = i < prev->nolder ? prev->older[i]
							  : (struct version_row){ prev->version, prev->seq };
		if (row.version >= keep_from) {
			e->older[e->nolder++] = row;
			continue;
		}
		sqlite3_stmt *q = store_stmt(v->db, "DELETE FROM records WHERE seq=?");
		if (!q)
			return -1;
		sqlite3_bind_int64(q, 1, row.seq);
		int rc = sqlite3_step(q);
		sqlite3_reset(q);
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

int record_write(struct vault *v, const struct zk_keys *k, struct writer_state *st, const char *name,
		 json_t *plain, bool tombstone, struct index_entry *out, bool *created)
{
	unsigned char name_hash[ZK_HASH_BYTES], old[ZK_HASH_BYTES], h[ZK_HASH_BYTES];
	struct index_entry e = { 0 };
	sqlite3_stmt *q;
	struct zk_aad a;

	zk_name_hash(name_hash, name, strlen(name), k->name_mac);
	/* The latest version: written earlier in this batch, else as published (the writer is its only author). */
	const struct index_entry *prev = writer_pending_get(v->writer, name_hash);
	if (!prev)
		prev = index_get(&v->index, name_hash);
	bool existed = prev != NULL, was_tombstone = prev && prev->tombstone;
	if (prev) {
		e.version = prev->version + 1;
		memcpy(e.record_id, prev->record_id, ZK_RECORD_ID_BYTES);
		digest_entry(old, k, name_hash, prev->record_id, prev->version, was_tombstone);
	} else {
		e.version = 1;
		randombytes_buf(e.record_id, ZK_RECORD_ID_BYTES);
	}
	if (tombstone && (!existed || was_tombstone))
		return 1; /* nothing to delete */

	memcpy(e.name_hash, name_hash, ZK_HASH_BYTES);
	e.tombstone = tombstone;
	char *text = json_dumps(plain, JSON_COMPACT);
	if (!text)
		return -1;
	size_t n = strlen(text);
	e.sealed_len = n + ZK_SEAL_OVERHEAD;
	if (!(e.sealed = malloc(e.sealed_len))) {
		zk_wipe_str(text);
		return -1;
	}
	record_aad(&a, v, name_hash, e.record_id, e.version, tombstone);
	zk_seal(e.sealed, (unsigned char *)text, n, &a, k->record_aead);
	zk_wipe_str(text);

	if (!(q = store_stmt(v->db, "INSERT INTO records(name_hash, version, record_id, tombstone, sealed) "
				    "VALUES(?,?,?,?,?)")))
		goto fail;
	sqlite3_bind_blob(q, 1, name_hash, ZK_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)e.version);
	sqlite3_bind_blob(q, 3, e.record_id, ZK_RECORD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int(q, 4, tombstone);
	sqlite3_bind_blob(q, 5, e.sealed, (int)e.sealed_len, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		goto fail;
	e.seq = sqlite3_last_insert_rowid(v->db);
	if (prune_versions(v, prev, &e) != 0)
		goto fail;

	if (existed)
		digest_sub(st->digest, old);
	digest_entry(h, k, name_hash, e.record_id, e.version, tombstone);
	digest_add(st->digest, h);
	st->revision++;
	if (created)
		*created = !existed || was_tombstone;
	*out = e;
	return 0;
fail:
	index_entry_release(&e);
	return -1;
}

/* The capability check shared by the secrets routes (and use.c): token, then lock state. */
bool require_capability(struct vault *v, struct zk_http_req *r, struct cap *c)
{
	const char *t = zk_http_header(r, "X-Capability-Token");
	if (!t) {
		zk_http_error(r, 401, "Capability token required", NULL);
		return false;
	}
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	enum token_status st = token_check_agent(v, t, zk_http_header(r, "X-Agent-Id"), &c->claims);
	zk_brlock_rdunlock(&v->state_lock, slot);
	if (st == TOKEN_INVALID) {
		zk_http_error(r, 401, "Invalid or expired capability token", NULL);
		return false;
	}
	if (st == TOKEN_WRONG_GROUP) {
		zk_http_error(r, 403, "Token not valid for this org", NULL);
		return false;
	}
	client_address(v, r, c->ip);
	return require_unlocked(v, r);
}

static void deny(struct vault *v, struct zk_http_req *r, struct cap *c, const char *action, const char *key)
{
	struct audit_event e = { action, c->claims.sub, key, NULL, c->claims.jti, "Access denied", c->ip, false };
	atomic_fetch_add(&v->n_denied, 1);
	if (audit_read(v, &e) != 0) {
		zk_http_error(r, 503, "Audit backlog is full; try again", "AUDIT_BACKLOG");
		return;
	}
	zk_http_error(r, 403, "Access denied for this secret", NULL);
}

static bool valid_key_param(struct zk_http_req *r)
{
	const char *problem = secret_name_problem(r->param[0]);
	if (!problem)
		return true;
	char details[160];
	snprintf(details, sizeof(details), "key: %s", problem);
	validation_error(r, "Invalid URL parameters", details);
	return false;
}

static void reply_record(struct zk_http_req *r, const char *key, json_t *rec, uint64_t version)
{
	json_t *o = json_pack("{sssOsOsI}", "key", key, "value", json_object_get(rec, "value"), "metadata",
			      json_object_get(rec, "metadata"), "version", (json_int_t)version);
	if (!o) {
		zk_http_error(r, 500, "Failed to get secret", NULL);
		return;
	}
	zk_http_reply(r, 200, o);
}

/*
 * A stored version comes from SQLite, by its row, which the in-memory index knows. Returns 0, 1 when the row
 * is gone or is not that version of that name (pruned since), -1 on error; e->sealed is malloc'd.
 */
static int read_row(struct vault *v, const unsigned char name_hash[ZK_HASH_BYTES], uint64_t version, int64_t seq,
		    struct index_entry *e)
{
	sqlite3_stmt *q;
	int rc = 1;
	pthread_mutex_lock(&v->rodb_lock);
	if (sqlite3_prepare_v2(v->rodb, "SELECT name_hash, version, record_id, tombstone, sealed FROM records "
					"WHERE seq=?", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, seq);
		memset(e, 0, sizeof(*e));
		if (sqlite3_step(q) == SQLITE_ROW && store_record_row(q, 0, e) == 0 &&
		    !memcmp(e->name_hash, name_hash, ZK_HASH_BYTES) && e->version == version) {
			const unsigned char *sealed = e->sealed; /* SQLite's, until finalize */
			e->seq = seq;
			e->sealed = malloc(e->sealed_len ? e->sealed_len : 1);
			if (e->sealed)
				memcpy(e->sealed, sealed, e->sealed_len);
			rc = e->sealed ? 0 : -1;
		} else {
			e->sealed = NULL;
		}
		sqlite3_finalize(q);
	}
	pthread_mutex_unlock(&v->rodb_lock);
	return rc;
}

void handle_secret_get(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	struct cap c;
	const char *key = r->param[0];
	const char *vq = zk_http_query(r, "version");
	unsigned long long want = 0;

	if (!valid_key_param(r))
		return;
	if (vq) {
		char *end;
		errno = 0;
		want = strtoull(vq, &end, 10);
		/* Digits only: strtoull would take "-1" (as 2^64 - 1), a sign or leading spaces, and saturate. */
		if (!*vq || *end || want == 0 || strspn(vq, "0123456789") != strlen(vq) || errno == ERANGE ||
		    want > INT64_MAX) {
			validation_error(r, "Invalid query parameters", "version: Expected a positive integer");
			return;
		}
	}
	if (!require_capability(v, r, &c))
		return;
	if (!claims_allow(&c.claims, key, PERM_READ)) {
		deny(v, r, &c, "secret.read.denied", key);
		return;
	}

	json_t *rec = NULL;
	char *text = NULL; /* the reply, when record_reply could build it */
	uint64_t version = 0;
	int found = 0;
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	if (v->keys) {
		unsigned char h[ZK_HASH_BYTES];
		zk_name_hash(h, key, strlen(key), v->keys->name_mac);
		const struct index_entry *e = index_get(&v->index, h);
		if (e && !want && !e->tombstone) {
			int rc = record_reply(&text, v, v->keys, e, key);
			if (rc == 1)
				found = record_open(&rec, v, v->keys, e) == 0 ? 1 : -1;
			else
				found = rc == 0 ? 1 : -1;
			version = e->version;
		} else if (e && want) {
			struct index_entry old;
			int64_t seq = index_version_seq(e, want);
			int rc = seq < 0 ? 1 : read_row(v, h, want, seq, &old);
			if (rc == 0) {
				if (!old.tombstone)
					found = record_open(&rec, v, v->keys, &old) == 0 ? 1 : -1;
				free(old.sealed);
				version = want;
			} else if (rc < 0) {
				found = -1;
			}
		}
	}
	bool unlocked = v->keys != NULL;
	zk_brlock_rdunlock(&v->state_lock, slot);

	if (!unlocked) {
		locked_error(v, r);
	} else if (found < 0) {
		zk_http_error(r, 500, "Failed to get secret", NULL);
	} else if (!found) {
		zk_http_error(r, 404, "Secret not found", NULL);
	} else {
		struct audit_event e = { "secret.read", c.claims.sub, key, NULL, c.claims.jti, NULL, c.ip, true };
		if (audit_read(v, &e) != 0) {
			zk_http_error(r, 503, "Audit backlog is full; try again", "AUDIT_BACKLOG");
		} else if (text) {
			zk_http_reply_text(r, 200, NULL, text);
			text = NULL;
		} else {
			reply_record(r, key, rec, version);
		}
		atomic_fetch_add(&v->n_reads, 1);
	}
	zk_wipe_free(text);
	json_decref(rec);
}

void handle_secret_versions(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	struct cap c;
	const char *key = r->param[0];

	if (!valid_key_param(r) || !require_capability(v, r, &c))
		return;
	if (!claims_allow(&c.claims, key, PERM_READ)) {
		deny(v, r, &c, "secret.read.denied", key);
		return;
	}
	json_t *versions = json_array();
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	if (v->keys) {
		unsigned char h[ZK_HASH_BYTES];
		zk_name_hash(h, key, strlen(key), v->keys->name_mac);
		const struct index_entry *latest = index_get(&v->index, h);
		/* Newest first: the latest version, then the older ones (the index lists them oldest first). */
		for (uint32_t i = 0; latest && i <= latest->nolder; i++) {
			struct version_row row = i ? latest->older[latest->nolder - i]
						   : (struct version_row){ latest->version, latest->seq };
			struct index_entry e;
			json_t *rec;
			if (read_row(v, h, row.version, row.seq, &e) != 0)
				continue;
			int opened = record_open(&rec, v, v->keys, &e);
			free(e.sealed);
			if (opened != 0)
				continue;
			json_t *when = json_object_get(rec, e.tombstone ? "deletedAt" : "updatedAt");
			json_t *who = json_object_get(rec, e.tombstone ? "deletedBy" : "updatedBy");
			json_array_append_new(versions, json_pack("{sIsbsOsO}", "version", (json_int_t)e.version, "deleted",
								  e.tombstone, "updatedAt", when ? when : json_null(),
								  "updatedBy", who ? who : json_null()));
			json_decref(rec);
		}
	}
	bool unlocked = v->keys != NULL;
	zk_brlock_rdunlock(&v->state_lock, slot);
	if (!unlocked) {
		json_decref(versions);
		locked_error(v, r);
	} else if (!json_array_size(versions)) {
		json_decref(versions);
		zk_http_error(r, 404, "Secret not found", NULL);
	} else {
		struct audit_event e = { "secret.versions", c.claims.sub, key, NULL, c.claims.jti, NULL, c.ip, true };
		audit_read(v, &e);
		zk_http_reply(r, 200, json_pack("{ssso}", "key", key, "versions", versions));
	}
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "key")),
		      json_string_value(json_object_get(*(json_t *const *)b, "key")));
}

struct list_ctx {
	json_t *list;
	const struct claims *claims;
};

static void list_secret(json_t *rec, const struct index_entry *e, void *arg)
{
	struct list_ctx *ctx = arg;
	const char *name = json_string_value(json_object_get(rec, "name"));
	(void)e;
	/* Integrations and transcripts ("prefix:…", personal.h) are not secrets. */
	if (name && !strchr(name, ':') && claims_allow_name(ctx->claims, name))
		json_array_append_new(ctx->list,
				      json_pack("{sssO}", "key", name, "metadata", json_object_get(rec, "metadata")));
}

void handle_secret_list(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	struct cap c;

	if (!require_capability(v, r, &c))
		return;
	if (!(c.claims.perms & PERM_READ)) {
		deny(v, r, &c, "secrets.list.denied", NULL);
		return;
	}
	struct list_ctx ctx = { json_array(), &c.claims };
	if (!records_foreach(v, list_secret, &ctx)) {
		json_decref(ctx.list);
		locked_error(v, r);
		return;
	}
	json_t *sorted = records_sorted(ctx.list, cmp_keys);
	struct audit_event e = { "secrets.listed", c.claims.sub, NULL, NULL, c.claims.jti, NULL, c.ip, true };
	audit_read(v, &e);
	zk_http_reply(r, 200, json_pack("{so}", "keys", sorted));
}

/* POST and DELETE go through the writer. */
struct write_arg {
	char name[VAULTD_NAME_MAX + 1];
	char user[130];
	char jti[33];
	char ip[48];
	json_t *plain;
	bool tombstone;
	struct index_entry entry;
};

static void write_arg_free(void *p)
{
	struct write_arg *a = p;
	json_decref(a->plain);
	index_entry_release(&a->entry);
	free(a);
}

int record_job_write(struct vault *v, const char *name, json_t *plain, bool tombstone, struct index_entry *out,
		     bool *created)
{
	if (!v->keys || !vault_unlocked(v))
		return 423;
	int rc = record_write(v, v->keys, writer_state(v->writer), name, plain, tombstone, out, created);
	if (rc == 1)
		return 404;
	return rc == 0 && writer_pending_add(v->writer, out) == 0 ? 0 : 500;
}

static int write_apply(struct vault *v, struct job *j)
{
	struct write_arg *a = j->arg;
	bool created = false;

	int rc = record_job_write(v, a->name, a->plain, a->tombstone, &a->entry, &created);
	if (rc == 404)
		j->error = "Secret not found";
	else if (rc == 500)
		j->error = a->tombstone ? "Failed to delete secret" : "Failed to store secret";
	if (rc)
		return rc;
	const char *action = a->tombstone ? "secret.deleted" : created ? "secret.created" : "secret.updated";
	struct audit_event e = { action, a->user, a->name, NULL, a->jti, NULL, a->ip, true };
	if (audit_append(v, writer_state(v->writer), &e) != 0)
		return 500;
	j->reply = a->tombstone ? json_pack("{sb}", "success", 1)
				: json_pack("{sbsbsI}", "success", 1, "created", created, "version",
					    (json_int_t)a->entry.version);
	return 0;
}

static void write_publish(struct vault *v, struct job *j)
{
	struct write_arg *a = j->arg;
	if (v->keys)
		index_put(&v->index, &a->entry);
	atomic_fetch_add(&v->n_writes, 1);
}

static void submit_write(struct vault *v, struct zk_http_req *r, struct cap *c, json_t *plain, bool tombstone)
{
	struct write_arg *a = calloc(1, sizeof(*a));
	struct job *j = job_new(write_apply, write_publish, job_reply_done, r);
	if (!a || !j) {
		free(a);
		free(j);
		json_decref(plain);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	snprintf(a->name, sizeof(a->name), "%s", r->param[0]);
	snprintf(a->user, sizeof(a->user), "%s", c->claims.sub);
	snprintf(a->jti, sizeof(a->jti), "%s", c->claims.jti);
	snprintf(a->ip, sizeof(a->ip), "%s", c->ip);
	a->plain = plain;
	a->tombstone = tombstone;
	j->arg = a;
	j->free_arg = write_arg_free;
	defer_job(v, r, j);
}

void handle_secret_put(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	struct cap c;
	json_t *body;
	char iso[ZK_ISO8601_MAX];

	if (!valid_key_param(r) || !body_object(r, &body))
		return;
	json_t *value = json_object_get(body, "value"), *meta = json_object_get(body, "metadata");
	const char *problem = validate_secret_body(body);
	if (problem)
		validation_error(r, "Invalid request body", problem);
	else if (require_capability(v, r, &c)) {
		if (!claims_allow(&c.claims, r->param[0], PERM_WRITE)) {
			deny(v, r, &c, "secret.write.denied", r->param[0]);
		} else {
			zk_iso8601(iso, zk_now_ms());
			json_t *plain = json_pack("{sssOsossss}", "name", r->param[0], "value", value, "metadata",
						  meta ? json_incref(meta) : json_object(), "updatedAt", iso,
						  "updatedBy", c.claims.sub);
			submit_write(v, r, &c, plain, false);
		}
	}
	json_decref(body);
}

void handle_secret_delete(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	struct cap c;
	char iso[ZK_ISO8601_MAX];

	if (!valid_key_param(r) || !require_capability(v, r, &c))
		return;
	if (!claims_allow(&c.claims, r->param[0], PERM_DELETE)) {
		deny(v, r, &c, "secret.delete.denied", r->param[0]);
		return;
	}
	zk_iso8601(iso, zk_now_ms());
	submit_write(v, r, &c, json_pack("{ssssss}", "name", r->param[0], "deletedAt", iso, "deletedBy", c.claims.sub),
		     true);
}
