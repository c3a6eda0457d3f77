#include "vaultd/session.h"

#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/ocmt.h"
#include "vaultd/audit.h"
#include "vaultd/common.h"
#include "vaultd/limiter.h"
#include "vaultd/tokens.h"

bool vault_unlocked(struct vault *v)
{
	return atomic_load(&v->expires_mono) > zk_mono_ms();
}

int64_t vault_expires_in(struct vault *v)
{
	int64_t left = atomic_load(&v->expires_mono) - zk_mono_ms();
	return left > 0 ? left / 1000 : 0;
}

bool session_due(struct vault *v)
{
	int64_t exp = atomic_load(&v->expires_mono);
	return v->keys && exp <= zk_mono_ms();
}

/* Lock: record it while the keys still exist, sign a checkpoint, then drop the keys. */
struct lock_arg {
	char user[130];
	bool automatic;
};

static int lock_apply(struct vault *v, struct job *j)
{
	struct lock_arg *a = j->arg;
	struct writer_state *st = writer_state(v->writer);
	struct audit_event e = { "vault.locked", a->user, NULL, NULL, NULL, a->automatic ? "session expired" : NULL,
				 NULL, true };
	if (!v->keys)
		return 0;
	if (audit_append(v, st, &e) != 0)
		return 500;
	audit_maybe_checkpoint(v, st, true);
	return 0;
}

static void lock_publish(struct vault *v, struct job *j)
{
	zk_keys_free(v->keys);
	v->keys = NULL;
	atomic_store(&v->expires_mono, 0);
	index_clear(&v->index);
	token_cache_clear(v->tcache);
}

struct job *session_lock_job(struct vault *v, bool automatic)
{
	struct job *j = job_new(lock_apply, lock_publish, job_reply_done, NULL);
	struct lock_arg *a = calloc(1, sizeof(*a));
	if (!j || !a) {
		free(j);
		free(a);
		return NULL;
	}
	strcpy(a->user, "system");
	a->automatic = automatic;
	j->arg = a;
	j->free_arg = free;
	return j;
}

void handle_lock(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	if (!require_management(v, r) || !body_object(r, &body))
		return;
	json_t *uid = json_object_get(body, "userId");
	const char *problem = validate_lock_body(body);
	if (problem) {
		json_decref(body);
		validation_error(r, "Invalid request body", problem);
		return;
	}
	struct job *j = session_lock_job(v, false);
	if (!j) {
		json_decref(body);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	if (uid)
		snprintf(((struct lock_arg *)j->arg)->user, sizeof(((struct lock_arg *)j->arg)->user), "%s",
			 json_string_value(uid));
	json_decref(body);
	defer_job(v, r, j);
}

void handle_extend(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	if (!require_management(v, r))
		return;
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	bool ok = v->keys && vault_unlocked(v);
	if (ok)
		atomic_store(&v->expires_mono, zk_mono_ms() + (int64_t)v->cfg.session_seconds * 1000);
	zk_brlock_rdunlock(&v->state_lock, slot);
	if (!ok) {
		locked_error(v, r);
		return;
	}
	zk_http_reply(r, 200, json_pack("{sbsi}", "success", 1, "expiresIn", v->cfg.session_seconds));
}

/* A KDF task: the password lives in wiped memory and the task runs on a thread of its own. */
enum kdf_what { KDF_INIT, KDF_UNLOCK };

struct kdf_task {
	struct vault *v;
	struct zk_http_req *req;
	enum kdf_what what;
	char *password;
	size_t password_len;
	char user[130];
	char ip[48];
};

static void kdf_task_free(struct kdf_task *t)
{
	if (t->password) {
		sodium_memzero(t->password, t->password_len);
		zk_wipe_free(t->password);
	}
	free(t);
}

/* What the unlock and init jobs carry to the writer: keys in guarded memory. */
struct unlock_arg {
	struct zk_keys *keys;
	struct index index;
	unsigned char wrapper[WRAPPER_BYTES];
	char user[130];
	char ip[48];
	bool fresh;           /* init: create the vault */
	json_t *ocmt_secrets; /* OCMT conversion: records to write */
	size_t count;
};

static void unlock_arg_free(void *p)
{
	struct unlock_arg *a = p;
	zk_keys_free(a->keys);
	index_clear(&a->index);
	json_decref(a->ocmt_secrets);
	free(a);
}

static int load_index(struct vault *v, struct unlock_arg *a, unsigned char digest[ZK_HASH_BYTES])
{
	sqlite3_stmt *q;
	unsigned char prev[ZK_HASH_BYTES] = { 0 };
	bool have_prev = false;

	memset(digest, 0, ZK_HASH_BYTES);
	if (sqlite3_prepare_v2(v->db, "SELECT name_hash, version, record_id, tombstone, sealed FROM records "
				      "ORDER BY name_hash, version DESC", -1, &q, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(q) == SQLITE_ROW) {
		struct index_entry e;
		if (sqlite3_column_bytes(q, 0) != ZK_HASH_BYTES || sqlite3_column_bytes(q, 2) != ZK_RECORD_ID_BYTES)
			goto fail;
		memcpy(e.name_hash, sqlite3_column_blob(q, 0), ZK_HASH_BYTES);
		if (have_prev && !memcmp(prev, e.name_hash, ZK_HASH_BYTES))
			continue; /* an older version */
		memcpy(prev, e.name_hash, ZK_HASH_BYTES);
		have_prev = true;
		e.version = (uint64_t)sqlite3_column_int64(q, 1);
		memcpy(e.record_id, sqlite3_column_blob(q, 2), ZK_RECORD_ID_BYTES);
		e.tombstone = sqlite3_column_int(q, 3) != 0;
		e.sealed = (unsigned char *)sqlite3_column_blob(q, 4);
		e.sealed_len = (size_t)sqlite3_column_bytes(q, 4);
		unsigned char h[ZK_HASH_BYTES];
		digest_entry(h, a->keys, e.name_hash, e.record_id, e.version, e.tombstone);
		digest_add(digest, h);
		if (index_put(&a->index, &e) != 0)
			goto fail;
		if (!e.tombstone)
			a->count++;
	}
	sqlite3_finalize(q);
	return 0;
fail:
	sqlite3_finalize(q);
	return -1;
}

static int write_public_meta(struct vault *v, const struct zk_keys *k)
{
	char iso[ZK_ISO8601_MAX];
	zk_iso8601(iso, zk_now_ms());
	if (store_meta_put(v->db, "format", "zkvault-1", 9) || store_meta_put(v->db, "vault_id", v->vault_id, 16) ||
	    store_meta_put(v->db, "kind", v->cfg.kind, strlen(v->cfg.kind)) ||
	    store_meta_put(v->db, "group_id", v->cfg.group_id ? v->cfg.group_id : "",
			   v->cfg.group_id ? strlen(v->cfg.group_id) : 0) ||
	    store_meta_put(v->db, "created", iso, strlen(iso)) ||
	    store_meta_put(v->db, "token_pk", k->token_pk, sizeof(k->token_pk)) ||
	    store_meta_put(v->db, "audit_pk", k->audit_pk, sizeof(k->audit_pk)) ||
	    store_meta_put(v->db, "checkpoint_pk", k->checkpoint_pk, sizeof(k->checkpoint_pk)))
		return -1;
	snprintf(v->created, sizeof(v->created), "%s", iso);
	return 0;
}

static int init_apply(struct vault *v, struct job *j)
{
	struct unlock_arg *a = j->arg;
	struct writer_state *st = writer_state(v->writer);
	unsigned char *tmp;
	size_t len;

	if (store_meta_get(v->db, "vault_id", &tmp, &len) == 0) {
		free(tmp);
		j->error = "Vault already initialized";
		return 409;
	}
	if (write_public_meta(v, a->keys) != 0)
		return 500;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(v->db, "INSERT OR REPLACE INTO wrappers(type, blob) VALUES(1, ?)", -1, &q, NULL) !=
	    SQLITE_OK)
		return 500;
	sqlite3_bind_blob(q, 1, a->wrapper, WRAPPER_BYTES, SQLITE_STATIC);
	int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : 500;
	sqlite3_finalize(q);
	if (rc)
		return rc;

	memset(st->digest, 0, ZK_HASH_BYTES);
	st->revision = 0;
	if (a->ocmt_secrets) {
		const char *name;
		json_t *rec;
		json_object_foreach(a->ocmt_secrets, name, rec) {
			struct index_entry e;
			bool created;
			json_t *plain = json_pack("{sssOsO}", "name", name, "value",
						  json_string_value(json_object_get(rec, "value")), "metadata",
						  json_object_get(rec, "metadata"), "updatedAt",
						  json_object_get(rec, "updatedAt") ? json_object_get(rec, "updatedAt")
										: json_string(""));
			if (!plain)
				return 500;
			json_object_set(plain, "updatedBy", json_object_get(rec, "updatedBy") ?
								    json_object_get(rec, "updatedBy") : json_null());
			rc = record_write(v, a->keys, st, name, plain, false, &e, &created);
			json_decref(plain);
			if (rc != 0)
				return 500;
			free(e.sealed);
		}
		store_meta_del(v->db, "ocmt_import");
	}
	/* The header is MAC'd with the new keys; the writer saves it only for an unlocked vault. */
	unsigned char h[HEADER_BYTES];
	header_encode(h, v, a->keys, st->revision, st->digest);
	if (store_meta_put(v->db, "header", h, sizeof(h)) != 0)
		return 500;
	struct audit_event e = { a->ocmt_secrets ? "vault.imported" : "vault.initialized", a->user, NULL, NULL, NULL,
				 NULL, a->ip, true };
	memcpy(v->audit_pk, a->keys->audit_pk, sizeof(v->audit_pk));
	sodium_bin2hex(v->vault_id_hex, sizeof(v->vault_id_hex), v->vault_id, sizeof(v->vault_id));
	bool pending = v->ocmt_pending;
	v->ocmt_pending = false;
	rc = audit_append(v, st, &e) == 0 ? 0 : 500;
	v->ocmt_pending = pending;
	return rc;
}

static void init_publish(struct vault *v, struct job *j)
{
	store_load_public(v);
}

static int unlock_apply(struct vault *v, struct job *j)
{
	struct unlock_arg *a = j->arg;
	struct writer_state *st = writer_state(v->writer);
	unsigned char *hdr, digest[ZK_HASH_BYTES], stored[ZK_HASH_BYTES];
	size_t len;
	uint64_t revision;

	if (a->ocmt_secrets) {
		int rc = init_apply(v, j);
		if (rc)
			return rc;
	}
	if (store_meta_get(v->db, "header", &hdr, &len) != 0)
		return 500;
	int rc = header_decode(&revision, stored, hdr, len, v, a->keys);
	free(hdr);
	if (rc != 0 || load_index(v, a, digest) != 0 || sodium_memcmp(digest, stored, ZK_HASH_BYTES) != 0) {
		/* Refuse to serve a vault whose records do not match its authenticated header. */
		j->error = "Vault integrity check failed: records were removed, replaced or rolled back";
		j->error_code = "INTEGRITY";
		struct audit_event e = { "vault.integrity_failed", a->user, NULL, NULL, NULL, "digest mismatch", a->ip,
					 false };
		audit_append(v, st, &e);
		return 500;
	}
	st->revision = revision;
	memcpy(st->digest, digest, ZK_HASH_BYTES);
	struct audit_event e = { "vault.unlocked", a->user, NULL, NULL, NULL, NULL, a->ip, true };
	if (audit_append(v, st, &e) != 0)
		return 500;
	st->checkpoint_due = true;
	j->reply = json_pack("{sbsisI}", "success", 1, "expiresIn", v->cfg.session_seconds, "secretCount",
			     (json_int_t)a->count);
	return 0;
}

static void unlock_publish(struct vault *v, struct job *j)
{
	struct unlock_arg *a = j->arg;
	if (a->ocmt_secrets)
		store_load_public(v);
	zk_keys_free(v->keys);
	index_clear(&v->index);
	v->keys = a->keys;
	v->index = a->index;
	a->keys = NULL;
	index_init(&a->index);
	token_cache_clear(v->tcache);
	atomic_store(&v->expires_mono, zk_mono_ms() + (int64_t)v->cfg.session_seconds * 1000);
	atomic_fetch_add(&v->n_unlocks, 1);
}

static void unlock_failed(struct kdf_task *t, unsigned status, const char *msg, const char *code)
{
	zk_http_error(t->req, status, msg, code);
	zk_http_resume(t->req);
}

static struct unlock_arg *new_keys_for_init(struct vault *v, struct kdf_task *t, const unsigned char kek[32],
					    const struct zk_kdf_params *p, const unsigned char vmk[32])
{
	struct unlock_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->keys = zk_keys_new(vmk);
	wrapper_seal(a->wrapper, v, WRAPPER_PASSWORD, p, kek, vmk);
	return a;
}

static void run_init(struct kdf_task *t)
{
	struct vault *v = t->v;
	struct zk_kdf_params p;
	unsigned char *kek = sodium_malloc(ZK_KEY_BYTES), *vmk = sodium_malloc(ZK_KEY_BYTES);
	struct unlock_arg *a = NULL;

	zk_kdf_default(&p);
	if (kek && vmk && zk_kdf_derive(kek, t->password, t->password_len, &p) == 0) {
		randombytes_buf(vmk, ZK_KEY_BYTES);
		randombytes_buf(v->vault_id, sizeof(v->vault_id)); /* not public until the init job publishes */
		a = new_keys_for_init(v, t, kek, &p, vmk);
	}
	sodium_free(kek);
	sodium_free(vmk);
	pthread_mutex_unlock(&v->kdf_lock);
	if (!a || !a->keys) {
		if (a)
			unlock_arg_free(a);
		unlock_failed(t, 500, "Failed to initialize vault", NULL);
		return;
	}
	snprintf(a->user, sizeof(a->user), "%s", t->user);
	snprintf(a->ip, sizeof(a->ip), "%s", t->ip);
	struct job *j = job_new(init_apply, init_publish, job_reply_done, t->req);
	j->arg = a;
	j->free_arg = unlock_arg_free;
	j->reply = json_pack("{sbss}", "success", 1, "message", "Org vault initialized");
	writer_submit(v->writer, j);
}

static int read_password_wrapper(struct vault *v, unsigned char blob[WRAPPER_BYTES])
{
	sqlite3_stmt *q;
	int rc = -1;
	pthread_mutex_lock(&v->rodb_lock);
	if (sqlite3_prepare_v2(v->rodb, "SELECT blob FROM wrappers WHERE type=1", -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 0) == WRAPPER_BYTES) {
			memcpy(blob, sqlite3_column_blob(q, 0), WRAPPER_BYTES);
			rc = 0;
		}
		sqlite3_finalize(q);
	}
	pthread_mutex_unlock(&v->rodb_lock);
	return rc;
}

static void bad_password(struct kdf_task *t)
{
	struct vault *v = t->v;
	limiter_hit(v->unlock_limiter, t->ip);
	atomic_fetch_add(&v->n_unlock_failures, 1);
	audit_async(v, "vault.unlock_failed", t->user, NULL, false, "Invalid password", t->ip);
	unlock_failed(t, 401, "Invalid password", NULL);
}

/* First unlock of an OCMT import: decrypt it with the password, then create the native vault. */
static void run_ocmt_conversion(struct kdf_task *t)
{
	struct vault *v = t->v;
	unsigned char *text;
	size_t len;
	char err[128];
	json_t *secrets = NULL;

	pthread_mutex_lock(&v->rodb_lock);
	int rc = store_meta_get(v->rodb, "ocmt_import", &text, &len);
	pthread_mutex_unlock(&v->rodb_lock);
	json_t *env = rc == 0 ? json_loadb((char *)text, len, 0, NULL) : NULL;
	if (rc == 0)
		free(text);
	rc = env ? zk_ocmt_open(&secrets, env, t->password, t->password_len, err, sizeof(err)) : -3;
	json_decref(env);
	if (rc == -1) {
		pthread_mutex_unlock(&v->kdf_lock);
		bad_password(t);
		return;
	}
	if (rc != 0) {
		pthread_mutex_unlock(&v->kdf_lock);
		unlock_failed(t, 500, "Failed to unlock vault", NULL);
		return;
	}

	struct zk_kdf_params p;
	unsigned char *kek = sodium_malloc(ZK_KEY_BYTES), *vmk = sodium_malloc(ZK_KEY_BYTES);
	struct unlock_arg *a = NULL;
	zk_kdf_default(&p);
	if (kek && vmk && zk_kdf_derive(kek, t->password, t->password_len, &p) == 0) {
		randombytes_buf(vmk, ZK_KEY_BYTES);
		randombytes_buf(v->vault_id, sizeof(v->vault_id));
		a = new_keys_for_init(v, t, kek, &p, vmk);
	}
	sodium_free(kek);
	sodium_free(vmk);
	pthread_mutex_unlock(&v->kdf_lock);
	if (!a || !a->keys) {
		json_decref(secrets);
		if (a)
			unlock_arg_free(a);
		unlock_failed(t, 500, "Failed to unlock vault", NULL);
		return;
	}
	a->ocmt_secrets = secrets;
	snprintf(a->user, sizeof(a->user), "%s", t->user);
	snprintf(a->ip, sizeof(a->ip), "%s", t->ip);
	struct job *j = job_new(unlock_apply, unlock_publish, job_reply_done, t->req);
	j->arg = a;
	j->free_arg = unlock_arg_free;
	writer_submit(v->writer, j);
}

static void run_unlock(struct kdf_task *t)
{
	struct vault *v = t->v;
	unsigned char blob[WRAPPER_BYTES];
	struct zk_kdf_params p;
	unsigned char *kek = sodium_malloc(ZK_KEY_BYTES), *vmk = sodium_malloc(ZK_KEY_BYTES);
	struct unlock_arg *a = NULL;
	int rc = -1;

	if (kek && vmk && read_password_wrapper(v, blob) == 0 && wrapper_params(&p, blob, sizeof(blob)) == 0 &&
	    zk_kdf_derive(kek, t->password, t->password_len, &p) == 0) {
		rc = wrapper_open(vmk, v, blob, sizeof(blob), kek);
		if (rc == 0 && (a = calloc(1, sizeof(*a))))
			a->keys = zk_keys_new(vmk);
	}
	sodium_free(kek);
	sodium_free(vmk);
	pthread_mutex_unlock(&v->kdf_lock);
	if (rc != 0) {
		bad_password(t);
		return;
	}
	if (!a || !a->keys) {
		if (a)
			unlock_arg_free(a);
		unlock_failed(t, 500, "Failed to unlock vault", NULL);
		return;
	}
	snprintf(a->user, sizeof(a->user), "%s", t->user);
	snprintf(a->ip, sizeof(a->ip), "%s", t->ip);
	struct job *j = job_new(unlock_apply, unlock_publish, job_reply_done, t->req);
	j->arg = a;
	j->free_arg = unlock_arg_free;
	writer_submit(v->writer, j);
}

static void *kdf_thread(void *p)
{
	struct kdf_task *t = p;
	if (t->what == KDF_INIT)
		run_init(t);
	else if (t->v->ocmt_pending)
		run_ocmt_conversion(t);
	else
		run_unlock(t);
	kdf_task_free(t);
	return NULL;
}

static void start_kdf(struct zk_http_req *r, void *arg)
{
	struct kdf_task *t = arg;
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, kdf_thread, t) != 0) {
		pthread_mutex_unlock(&t->v->kdf_lock);
		unlock_failed(t, 500, "Internal error", NULL);
		kdf_task_free(t);
	}
	pthread_attr_destroy(&attr);
}

/* Takes the password out of the body into wiped memory and starts the KDF. */
static void defer_kdf(struct vault *v, struct zk_http_req *r, enum kdf_what what, const char *password,
		      const char *user, const char *ip)
{
	struct kdf_task *t = calloc(1, sizeof(*t));
	if (!t) {
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	if (pthread_mutex_trylock(&v->kdf_lock) != 0) {
		free(t);
		zk_http_add_header(r, "Retry-After", "1");
		zk_http_error(r, 429, "Another key derivation is running; try again shortly", "KDF_BUSY");
		return;
	}
	t->v = v;
	t->req = r;
	t->what = what;
	t->password_len = strlen(password);
	t->password = zk_wipe_strdup(password);
	snprintf(t->user, sizeof(t->user), "%s", user ? user : "system");
	snprintf(t->ip, sizeof(t->ip), "%s", ip);
	zk_http_defer(r, start_kdf, t);
}

void handle_init(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	char ip[48];

	if (!require_management(v, r) || !body_object(r, &body))
		return;
	json_t *pw = json_object_get(body, "password");
	const char *problem = validate_init_body(body);
	if (problem)
		validation_error(r, "Invalid request body", problem);
	else if (v->initialized)
		zk_http_error(r, 409, "Vault already initialized", NULL);
	else {
		client_address(v, r, ip);
		defer_kdf(v, r, KDF_INIT, json_string_value(pw), "system", ip);
	}
	json_decref(body);
}

void handle_unlock(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	struct limiter_status ls;
	json_t *body;
	char ip[48];

	client_address(v, r, ip);
	limiter_peek(v->unlock_limiter, ip, &ls);
	limiter_headers(r, &ls);
	if (ls.blocked) {
		zk_http_reply(r, 429, json_pack("{sssssI}", "error",
						"Too many vault unlock attempts. Please try again in 15 minutes.",
						"code", "RATE_LIMIT_EXCEEDED", "retryAfter", (json_int_t)ls.retry_after_s));
		return;
	}
	if (!require_management(v, r) || !body_object(r, &body))
		return;
	json_t *pw = json_object_get(body, "password"), *uid = json_object_get(body, "userId");
	const char *problem = validate_unlock_body(body);
	if (problem)
		validation_error(r, "Invalid request body", problem);
	else if (!v->initialized)
		zk_http_error(r, 400, "Vault not initialized", NULL);
	else
		defer_kdf(v, r, KDF_UNLOCK, json_string_value(pw), uid ? json_string_value(uid) : "system", ip);
	json_decref(body);
}
