/*
 * POST /password (change the password: rewrap the VMK) and POST /rekey (a new VMK: every record version and
 * audit entry re-encrypted, every other wrapper dropped, tokens invalidated). A rekey is one SQLite
 * transaction, so a crash at any point leaves either the old or the new state.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "vaultd/audit.h"
#include "vaultd/common.h"
#include "vaultd/limiter.h"
#include "vaultd/rekey.h"
#include "vaultd/sealed.h"
#include "vaultd/session.h"
#include "vaultd/tokens.h"

struct password_arg {
	unsigned char wrapper[WRAPPER_BYTES];
	char user[130];
	char ip[48];
};

static int password_apply(struct vault *v, struct job *j)
{
	struct password_arg *a = j->arg;
	struct audit_event e = { .action = "vault.password_changed", .user_id = a->user, .ip = a->ip, .success = true };
	if (session_put_wrapper(v, WRAPPER_PASSWORD, a->wrapper) != 0 ||
	    audit_append(v, writer_state(v->writer), &e) != 0)
		return 500;
	return 0;
}

static void password_publish(struct vault *v, struct job *j)
{
	struct password_arg *a = j->arg;
	wrapper_params(&v->kdf, a->wrapper, WRAPPER_BYTES);
	v->password_enabled = true;
}

static void run_password(struct kdf_task *t)
{
	unsigned char *vmk = sodium_malloc(ZK_KEY_BYTES);
	struct password_arg *a = calloc(1, sizeof(*a));
	if (!vmk || !a) {
		free(a);
		sodium_free(vmk);
		kdf_fail(t, 500, "Failed to change password", NULL);
		return;
	}
	if (session_open_password(t->v, vmk, t->secret[0], t->secret_len[0]) != 0) {
		free(a);
		sodium_free(vmk);
		kdf_bad_secret(t, "Invalid password (password change)", "Invalid password");
		return;
	}
	int rc = session_password_wrapper(a->wrapper, t->v, t->secret[1], t->secret_len[1], vmk);
	sodium_free(vmk);
	kdf_release(t);
	if (rc != 0) {
		free(a);
		kdf_fail(t, 500, "Failed to change password", NULL);
		return;
	}
	snprintf(a->user, sizeof(a->user), "%s", t->user);
	snprintf(a->ip, sizeof(a->ip), "%s", t->ip);
	struct job *j = job_new(password_apply, password_publish, job_reply_done, t->req);
	j->arg = a;
	j->free_arg = free;
	writer_submit(t->v->writer, j);
}

void handle_password(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	char ip[48];

	if (session_unlock_limited(v, r, ip) || !require_management(v, r) || !require_session(v, r) || !body_object(r, &body))
		return;
	json_t *cur = json_object_get(body, "currentPassword"), *next = json_object_get(body, "newPassword");
	if (json_object_get(body, "sealed"))
		sealed_password(v, r, body, ip); /* sealed.c: the client ran the KDF for both passwords */
	else if (!json_is_string(cur) || !json_string_length(cur))
		validation_error(r, "Invalid request body", "currentPassword: Required");
	else if (!json_is_string(next))
		validation_error(r, "Invalid request body", "newPassword: Required");
	else if (json_string_length(next) < 16)
		validation_error(r, "Invalid request body", "newPassword: Vault password must be at least 16 characters");
	else if (!v->initialized || v->ocmt_pending)
		zk_http_error(r, 400, "Vault not initialized", NULL);
	else if (!v->password_enabled)
		zk_http_error(r, 403, "Password unlock is disabled for this vault", "PASSWORD_DISABLED");
	else
		kdf_defer(v, r, run_password, "system", ip, json_string_value(cur), json_string_value(next), NULL, NULL,
			  NULL);
	json_decref(body);
}

/* The rekey job: everything under the old keys is re-encrypted under the new ones in one transaction. */
struct rekey_arg {
	struct zk_keys *keys; /* new */
	struct index index;
	size_t count;
	unsigned char password_wrapper[WRAPPER_BYTES];
	bool keep_password;
	unsigned char extra_wrapper[WRAPPER_BYTES]; /* e.g. the threshold wrapper of a threshold-only switch */
	int extra_type;
	char user[130];
	char ip[48];
	json_t *removed;
	const char *meta_key;
	json_t *meta;
	json_t *reply_extra;
};

static void rekey_arg_free(void *p)
{
	struct rekey_arg *a = p;
	zk_keys_free(a->keys);
	index_clear(&a->index);
	json_decref(a->removed);
	json_decref(a->meta);
	json_decref(a->reply_extra);
	free(a);
}

static int rewrite_records(struct vault *v, const struct zk_keys *old, const struct zk_keys *nk)
{
	sqlite3_stmt *q, *u;
	int rc = -1;
	if (sqlite3_prepare_v2(v->db, "SELECT name_hash, version, record_id, tombstone, sealed FROM records", -1, &q,
			       NULL) != SQLITE_OK)
		return -1;
	/* New name hashes change the unique key, so rows are re-inserted into a fresh table. */
	if (store_exec(v->db, "CREATE TEMP TABLE rekeyed AS SELECT name_hash, version, record_id, tombstone, sealed "
			      "FROM records WHERE 0") != 0 ||
	    sqlite3_prepare_v2(v->db, "INSERT INTO temp.rekeyed(name_hash, version, record_id, tombstone, sealed) "
				      "VALUES(?,?,?,?,?)", -1, &u, NULL) != SQLITE_OK) {
		sqlite3_finalize(q);
		return -1;
	}
	while (sqlite3_step(q) == SQLITE_ROW) {
		struct index_entry e = { 0 };
		json_t *plain;
		if (store_record_row(q, 0, &e) != 0 || record_open(&plain, v, old, &e) != 0)
			goto out;
		const char *name = json_string_value(json_object_get(plain, "name"));
		char *text = json_dumps(plain, JSON_COMPACT);
		unsigned char nh[ZK_HASH_BYTES];
		if (name)
			zk_name_hash(nh, name, strlen(name), nk->name_mac);
		json_decref(plain);
		if (!name || !text) {
			zk_wipe_str(text);
			goto out;
		}
		struct zk_aad aad;
		size_t n = strlen(text);
		unsigned char *sealed = malloc(n + ZK_SEAL_OVERHEAD);
		if (!sealed) {
			zk_wipe_str(text);
			goto out;
		}
		record_aad(&aad, v, nh, e.record_id, e.version, e.tombstone);
		zk_seal(sealed, (unsigned char *)text, n, &aad, nk->record_aead);
		zk_wipe_str(text);
		sqlite3_reset(u);
		sqlite3_bind_blob(u, 1, nh, ZK_HASH_BYTES, SQLITE_TRANSIENT);
		sqlite3_bind_int64(u, 2, (sqlite3_int64)e.version);
		sqlite3_bind_blob(u, 3, e.record_id, ZK_RECORD_ID_BYTES, SQLITE_TRANSIENT);
		sqlite3_bind_int(u, 4, e.tombstone);
		sqlite3_bind_blob(u, 5, sealed, (int)(n + ZK_SEAL_OVERHEAD), SQLITE_TRANSIENT);
		int step = sqlite3_step(u);
		free(sealed);
		if (step != SQLITE_DONE)
			goto out;
	}
	rc = store_exec(v->db, "DELETE FROM records; INSERT INTO records(name_hash, version, record_id, tombstone, sealed)"
			       " SELECT name_hash, version, record_id, tombstone, sealed FROM temp.rekeyed;");
out:
	sqlite3_finalize(q);
	sqlite3_finalize(u);
	store_exec(v->db, "DROP TABLE IF EXISTS temp.rekeyed");
	return rc;
}

static int rekey_apply(struct vault *v, struct job *j)
{
	struct rekey_arg *a = j->arg;
	struct writer_state *st = writer_state(v->writer);
	unsigned char digest[ZK_HASH_BYTES];
	sqlite3_stmt *q;

	if (!v->keys)
		return 423;
	if (rewrite_records(v, v->keys, a->keys) != 0 ||
	    audit_rekey(v, st, v->keys, a->keys) != 0 ||
	    session_write_public_meta(v, a->keys) != 0)
		return 500;
	/* Every other way in was a wrapper of the old VMK: list and drop them. */
	if (sqlite3_prepare_v2(v->db, "SELECT type FROM wrappers ORDER BY type", -1, &q, NULL) != SQLITE_OK)
		return 500;
	while (sqlite3_step(q) == SQLITE_ROW) {
		int type = sqlite3_column_int(q, 0);
		if (!(type == WRAPPER_PASSWORD && a->keep_password))
			json_array_append_new(a->removed, json_integer(type));
	}
	sqlite3_finalize(q);
	/* The social and threshold sets described wrappers that are gone now. */
	if (store_exec(v->db, "DELETE FROM wrappers; DELETE FROM tokens; DELETE FROM meta WHERE k IN ('social', 'threshold');") != 0)
		return 500;
	if (a->meta_key) {
		char *text = json_dumps(a->meta, JSON_COMPACT);
		int rc = text ? store_meta_put(v->db, a->meta_key, text, strlen(text)) : -1;
		zk_wipe_str(text);
		if (rc)
			return 500;
	}
	if (a->keep_password && session_put_wrapper(v, WRAPPER_PASSWORD, a->password_wrapper) != 0)
		return 500;
	if (a->extra_type && session_put_wrapper(v, a->extra_type, a->extra_wrapper) != 0)
		return 500;

	if (session_load_index(v, a->keys, &a->index, &a->count, digest) != 0)
		return 500;
	memcpy(st->digest, digest, ZK_HASH_BYTES);
	st->revision++;
	st->next_keys = a->keys; /* the writer MACs the header with the new keys */
	j->reply = json_pack("{sbsIsO}", "success", 1, "revision", (json_int_t)st->revision, "removedWrappers",
			     a->removed);
	if (a->reply_extra)
		json_object_update(j->reply, a->reply_extra);
	return 0;
}

static void rekey_publish(struct vault *v, struct job *j)
{
	struct rekey_arg *a = j->arg;
	zk_keys_free(v->keys);
	index_clear(&v->index);
	v->keys = a->keys;
	v->index = a->index;
	a->keys = NULL;
	index_init(&a->index);
	token_cache_clear(v->tcache);
	store_load_public(v);
}

/* Audited after the switch, with the new keys, so the entry is readable afterwards. */
static void rekey_done(struct vault *v, struct job *j)
{
	struct rekey_arg *a = j->arg;
	if (j->rc == 0)
		audit_async(v, a->keep_password ? "vault.rekeyed" : "vault.threshold_only", a->user, NULL, true, NULL,
			    a->ip);
	job_reply_done(v, j);
}

struct job *rekey_job(struct vault *v, struct zk_http_req *r, const char *user, const char *ip,
		      const unsigned char *password_wrapper, int extra_type, const unsigned char *extra_wrapper,
		      const unsigned char new_vmk[ZK_KEY_BYTES])
{
	struct rekey_arg *a = calloc(1, sizeof(*a));
	struct job *j = job_new(rekey_apply, rekey_publish, rekey_done, r);
	if (!a || !j || !(a->keys = zk_keys_new(new_vmk))) {
		free(a);
		free(j);
		return NULL;
	}
	a->removed = json_array();
	if (password_wrapper) {
		memcpy(a->password_wrapper, password_wrapper, WRAPPER_BYTES);
		a->keep_password = true;
	}
	if (extra_type) {
		a->extra_type = extra_type;
		memcpy(a->extra_wrapper, extra_wrapper, WRAPPER_BYTES);
	}
	snprintf(a->user, sizeof(a->user), "%s", user);
	snprintf(a->ip, sizeof(a->ip), "%s", ip);
	j->arg = a;
	j->free_arg = rekey_arg_free;
	return j;
}

static void run_rekey(struct kdf_task *t)
{
	unsigned char *old = sodium_malloc(ZK_KEY_BYTES), *vmk = sodium_malloc(ZK_KEY_BYTES);
	unsigned char wrapper[WRAPPER_BYTES];
	struct job *j = NULL;

	if (!old || !vmk) {
		kdf_fail(t, 500, "Failed to rekey", NULL);
		goto out;
	}
	/* The password proves the caller may rekey, and wraps the new VMK. */
	if (session_open_password(t->v, old, t->secret[0], t->secret_len[0]) != 0) {
		kdf_bad_secret(t, "Invalid password (rekey)", "Invalid password");
		goto out;
	}
	randombytes_buf(vmk, ZK_KEY_BYTES);
	if (session_password_wrapper(wrapper, t->v, t->secret[0], t->secret_len[0], vmk) != 0 ||
	    !(j = rekey_job(t->v, t->req, t->user, t->ip, wrapper, 0, NULL, vmk))) {
		kdf_fail(t, 500, "Failed to rekey", NULL);
		goto out;
	}
	kdf_release(t);
	writer_submit(t->v->writer, j);
out:
	sodium_free(old);
	sodium_free(vmk);
}

void handle_rekey(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	char ip[48];

	if (session_unlock_limited(v, r, ip) || !require_management(v, r) || !require_session(v, r) || !body_object(r, &body))
		return;
	json_t *pw = json_object_get(body, "password");
	if (!json_is_string(pw) || !json_string_length(pw))
		validation_error(r, "Invalid request body", "password: Required");
	else if (!v->password_enabled)
		zk_http_error(r, 403, "Password unlock is disabled for this vault", "PASSWORD_DISABLED");
	else if (require_unlocked(v, r))
		kdf_defer(v, r, run_rekey, "system", ip, json_string_value(pw), NULL, NULL, NULL, NULL);
	json_decref(body);
}

void rekey_job_set_meta(struct job *j, const char *meta_key, json_t *meta, json_t *reply)
{
	struct rekey_arg *a = j->arg;
	a->meta_key = meta_key;
	a->meta = meta;
	a->reply_extra = reply;
}
