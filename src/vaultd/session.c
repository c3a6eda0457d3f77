#include "vaultd/session.h"

#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/ocmt.h"
#include "lib/thread.h"
#include "vaultd/audit.h"
#include "vaultd/common.h"
#include "vaultd/limiter.h"
#include "vaultd/recovery.h"
#include "vaultd/sealed.h"
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
	struct audit_event e = { .action = "vault.locked", .user_id = a->user, .error = a->automatic ? "session expired" : NULL, .success = true };
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
	sodium_free(v->session_key);
	v->session_key = NULL;
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

static void kdf_task_free(struct kdf_task *t)
{
	for (int i = 0; i < 2; i++)
		if (t->secret[i]) {
			sodium_memzero(t->secret[i], t->secret_len[i]);
			zk_wipe_free(t->secret[i]);
		}
	if (t->free_arg)
		t->free_arg(t->arg);
	free(t);
}

/* What the unlock and init jobs carry to the writer: keys in guarded memory. */
struct unlock_arg {
	struct zk_keys *keys;
	struct index index;
	unsigned char wrapper[WRAPPER_BYTES];
	char user[130];
	char ip[48];
	const char *action;   /* the audit action of a successful unlock */
	json_t *ocmt_secrets; /* OCMT conversion: records to write */
	unsigned char new_wrapper[WRAPPER_BYTES]; /* recovery: the new password wrapper */
	bool set_password;
	size_t count;
	/* Strict mode: the unlocking client's key, and the session made for it (sodium_malloc'd). */
	unsigned char client_pk[crypto_box_PUBLICKEYBYTES];
	bool has_client_pk;
	unsigned char *session_key;
};

static void unlock_arg_free(void *p)
{
	struct unlock_arg *a = p;
	zk_keys_free(a->keys);
	index_clear(&a->index);
	json_decref(a->ocmt_secrets);
	sodium_memzero(a->new_wrapper, sizeof(a->new_wrapper));
	sodium_free(a->session_key);
	free(a);
}

/* Files (version, seq) among e's older rows, oldest first; a version stored twice is refused. */
static int add_older(struct index_entry *e, uint64_t version, int64_t seq)
{
	struct version_row *o = realloc(e->older, (e->nolder + 1) * sizeof(*o));
	if (!o)
		return -1;
	e->older = o;
	uint32_t i = e->nolder;
	for (; i > 0 && o[i - 1].version > version; i--)
		o[i] = o[i - 1];
	if (i > 0 && o[i - 1].version == version)
		return -1;
	o[i] = (struct version_row){ version, seq };
	e->nolder++;
	return 0;
}

/*
 * Builds the index from the records table in one pass over its rows, in write order: each name's latest
 * version (with its sealed blob) and the rows of its older versions. The digest is that of the latest versions.
 */
int session_load_index(struct vault *v, struct zk_keys *keys, struct index *ix, size_t *count,
		       unsigned char digest[ZK_HASH_BYTES])
{
	sqlite3_stmt *q;

	memset(digest, 0, ZK_HASH_BYTES);
	if (sqlite3_prepare_v2(v->db, "SELECT seq, name_hash, version, record_id, tombstone, sealed FROM records",
			       -1, &q, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(q) == SQLITE_ROW) {
		struct index_entry row = { 0 };
		if (store_record_row(q, 1, &row) != 0)
			goto fail;
		row.seq = sqlite3_column_int64(q, 0);

		struct index_entry *e = index_find(ix, row.name_hash);
		if (!e) {
			if (index_put(ix, &row) != 0)
				goto fail;
		} else if (row.version > e->version) {
			/* The newer version becomes the entry; the one it replaces joins the older rows. */
			unsigned char *sealed = malloc(row.sealed_len ? row.sealed_len : 1);
			if (!sealed || add_older(e, e->version, e->seq) != 0) {
				free(sealed);
				goto fail;
			}
			memcpy(sealed, row.sealed, row.sealed_len);
			free(e->sealed);
			e->sealed = sealed;
			e->sealed_len = row.sealed_len;
			e->version = row.version;
			e->seq = row.seq;
			memcpy(e->record_id, row.record_id, ZK_RECORD_ID_BYTES);
			e->tombstone = row.tombstone;
		} else if (row.version == e->version || add_older(e, row.version, row.seq) != 0) {
			goto fail; /* a version stored twice: not something this vault wrote */
		}
	}
	sqlite3_finalize(q);
	for (size_t i = 0; i < ix->cap; i++) {
		const struct index_entry *e = ix->slots[i];
		if (!e)
			continue;
		unsigned char h[ZK_HASH_BYTES];
		digest_entry(h, keys, e->name_hash, e->record_id, e->version, e->tombstone);
		digest_add(digest, h);
		if (!e->tombstone)
			(*count)++;
	}
	return 0;
fail:
	sqlite3_finalize(q);
	return -1;
}

int session_write_public_meta(struct vault *v, const struct zk_keys *k)
{
	if (store_meta_put(v->db, "token_pk", k->token_pk, sizeof(k->token_pk)) ||
	    store_meta_put(v->db, "audit_pk", k->audit_pk, sizeof(k->audit_pk)) ||
	    store_meta_put(v->db, "checkpoint_pk", k->checkpoint_pk, sizeof(k->checkpoint_pk)))
		return -1;
	memcpy(v->audit_pk, k->audit_pk, sizeof(v->audit_pk));
	return 0;
}

static int write_init_meta(struct vault *v, const struct zk_keys *k)
{
	char iso[ZK_ISO8601_MAX];
	zk_iso8601(iso, zk_now_ms());
	if (store_meta_put(v->db, "format", "zkvault-1", 9) || store_meta_put(v->db, "vault_id", v->vault_id, 16) ||
	    store_meta_put(v->db, "kind", v->cfg.kind, strlen(v->cfg.kind)) ||
	    store_meta_put(v->db, "group_id", v->cfg.group_id ? v->cfg.group_id : "",
			   v->cfg.group_id ? strlen(v->cfg.group_id) : 0) ||
	    store_meta_put(v->db, "created", iso, strlen(iso)) || session_write_public_meta(v, k))
		return -1;
	snprintf(v->created, sizeof(v->created), "%s", iso);
	return 0;
}

int session_put_wrapper(struct vault *v, int type, const unsigned char blob[WRAPPER_BYTES])
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(v->db, "INSERT OR REPLACE INTO wrappers(type, blob) VALUES(?, ?)", -1, &q, NULL) !=
	    SQLITE_OK)
		return -1;
	sqlite3_bind_int(q, 1, type);
	sqlite3_bind_blob(q, 2, blob, WRAPPER_BYTES, SQLITE_STATIC);
	int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(q);
	return rc;
}

static int init_apply(struct vault *v, struct job *j)
{
	struct unlock_arg *a = j->arg;
	struct writer_state *st = writer_state(v->writer);
	unsigned char *tmp;
	size_t len;
	int rc;

	if (store_meta_get(v->db, "vault_id", &tmp, &len) == 0) {
		free(tmp);
		j->error = "Vault already initialized";
		return 409;
	}
	if (write_init_meta(v, a->keys) != 0 || session_put_wrapper(v, WRAPPER_PASSWORD, a->wrapper) != 0)
		return 500;

	memset(st->digest, 0, ZK_HASH_BYTES);
	st->revision = 0;
	if (a->ocmt_secrets) {
		const char *name;
		json_t *rec;
		json_object_foreach(a->ocmt_secrets, name, rec) {
			struct index_entry e;
			bool created;
			json_t *meta = json_object_get(rec, "metadata"), *at = json_object_get(rec, "updatedAt");
			json_t *by = json_object_get(rec, "updatedBy");
			json_t *plain = json_pack("{sssOsOsOsO}", "name", name, "value", json_object_get(rec, "value"),
						  "metadata", meta ? meta : json_object(), "updatedAt",
						  at ? at : json_null(), "updatedBy", by ? by : json_null());
			if (!plain)
				return 500;
			rc = record_write(v, a->keys, st, name, plain, false, &e, &created);
			json_decref(plain);
			if (rc != 0)
				return 500;
			index_entry_release(&e); /* distinct names, no index yet: nothing to register as pending */
		}
		store_meta_del(v->db, "ocmt_import");
	}
	/* The header is MAC'd with the new keys; the writer saves it only for an unlocked vault. */
	unsigned char h[HEADER_BYTES];
	header_encode(h, v, a->keys, st->revision, st->digest);
	if (store_meta_put(v->db, "header", h, sizeof(h)) != 0)
		return 500;
	struct audit_event e = { .action = a->ocmt_secrets ? "vault.imported" : "vault.initialized", .user_id = a->user, .ip = a->ip, .success = true };
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

/* Strict mode: a new vault session, returned sealed to the unlocking client's key as "session". */
static int session_issue(struct unlock_arg *a, json_t *reply)
{
	unsigned char box[32 + crypto_box_SEALBYTES];
	char b64[sodium_base64_ENCODED_LEN(sizeof(box), sodium_base64_VARIANT_ORIGINAL)];
	if (!(a->session_key = sodium_malloc(32)))
		return 500;
	randombytes_buf(a->session_key, 32);
	if (crypto_box_seal(box, a->session_key, 32, a->client_pk) != 0)
		return 500;
	sodium_bin2base64(b64, sizeof(b64), box, sizeof(box), sodium_base64_VARIANT_ORIGINAL);
	json_object_set_new(reply, "session", json_string(b64));
	return 0;
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
	if (rc != 0 || session_load_index(v, a->keys, &a->index, &a->count, digest) != 0 ||
	    sodium_memcmp(digest, stored, ZK_HASH_BYTES) != 0) {
		/* Refuse to serve a vault whose records do not match its authenticated header. */
		j->error = "Vault integrity check failed: records were removed, replaced or rolled back";
		j->error_code = "INTEGRITY";
		struct audit_event e = { .action = "vault.integrity_failed", .user_id = a->user, .error = "digest mismatch", .ip = a->ip, .success = false };
		audit_append(v, st, &e);
		return 500;
	}
	if (a->set_password && session_put_wrapper(v, WRAPPER_PASSWORD, a->new_wrapper) != 0)
		return 500;
	st->revision = revision;
	memcpy(st->digest, digest, ZK_HASH_BYTES);
	struct audit_event e = { .action = a->action ? a->action : "vault.unlocked", .user_id = a->user, .ip = a->ip, .success = true };
	if (audit_append(v, st, &e) != 0)
		return 500;
	st->checkpoint_due = true;
	j->reply = json_pack("{sbsisI}", "success", 1, "expiresIn", v->cfg.session_seconds, "secretCount",
			     (json_int_t)a->count);
	if (a->set_password)
		json_object_set_new(j->reply, "passwordChanged", json_true());
	if (v->cfg.strict && a->has_client_pk)
		return session_issue(a, j->reply);
	return 0;
}

static void unlock_publish(struct vault *v, struct job *j)
{
	struct unlock_arg *a = j->arg;
	if (a->ocmt_secrets)
		store_load_public(v);
	if (a->set_password)
		wrapper_params(&v->kdf, a->new_wrapper, WRAPPER_BYTES);
	zk_keys_free(v->keys);
	index_clear(&v->index);
	v->keys = a->keys;
	v->index = a->index;
	a->keys = NULL;
	/* A new unlock ends the previous session, whether or not it starts one. */
	sodium_free(v->session_key);
	v->session_key = a->session_key;
	a->session_key = NULL;
	index_init(&a->index);
	token_cache_clear(v->tcache);
	atomic_store(&v->expires_mono, zk_mono_ms() + (int64_t)v->cfg.session_seconds * 1000);
	atomic_fetch_add(&v->n_unlocks, 1);
}

void kdf_release(struct kdf_task *t)
{
	if (!t->released) {
		t->released = true;
		pthread_mutex_unlock(&t->v->kdf_lock);
	}
}

void kdf_fail(struct kdf_task *t, unsigned status, const char *msg, const char *code)
{
	kdf_release(t);
	zk_http_error(t->req, status, msg, code);
	zk_http_resume(t->req);
}

void kdf_bad_secret(struct kdf_task *t, const char *audit_error, const char *msg)
{
	struct vault *v = t->v;
	kdf_release(t);
	limiter_hit(v->unlock_limiter, t->ip);
	atomic_fetch_add(&v->n_unlock_failures, 1);
	audit_async(v, "vault.unlock_failed", t->user, NULL, false, audit_error, t->ip);
	kdf_fail(t, 401, msg, NULL);
}

int session_password_wrapper(unsigned char out[WRAPPER_BYTES], struct vault *v, const char *password,
			     size_t len, const unsigned char vmk[ZK_KEY_BYTES])
{
	struct zk_kdf_params p;
	unsigned char *kek = sodium_malloc(ZK_KEY_BYTES);
	int rc = -1;
	zk_kdf_default(&p);
	if (kek && zk_kdf_derive(kek, password, len, &p) == 0) {
		wrapper_seal(out, v, WRAPPER_PASSWORD, 2, &p, kek, vmk);
		rc = 0;
	}
	sodium_free(kek);
	return rc;
}

struct job *session_unlock_job(struct vault *v, struct zk_http_req *r, const unsigned char vmk[ZK_KEY_BYTES],
			       const char *action, const char *user, const char *ip,
			       const unsigned char *new_password_wrapper)
{
	struct unlock_arg *a = calloc(1, sizeof(*a));
	struct job *j = job_new(unlock_apply, unlock_publish, job_reply_done, r);
	if (!a || !j || !(a->keys = zk_keys_new(vmk))) {
		free(a);
		free(j);
		return NULL;
	}
	snprintf(a->user, sizeof(a->user), "%s", user);
	snprintf(a->ip, sizeof(a->ip), "%s", ip);
	a->action = action;
	if (new_password_wrapper) {
		memcpy(a->new_wrapper, new_password_wrapper, WRAPPER_BYTES);
		a->set_password = true;
	}
	j->arg = a;
	j->free_arg = unlock_arg_free;
	return j;
}

void session_job_client_key(struct job *j, const unsigned char *pk)
{
	struct unlock_arg *a = j->arg;
	a->has_client_pk = pk != NULL;
	if (pk)
		memcpy(a->client_pk, pk, sizeof(a->client_pk));
}

void session_submit_unlock(struct kdf_task *t, const unsigned char vmk[ZK_KEY_BYTES], const char *action,
			   const unsigned char *new_password_wrapper)
{
	struct job *j = session_unlock_job(t->v, t->req, vmk, action, t->user, t->ip, new_password_wrapper);
	kdf_release(t);
	if (!j) {
		kdf_fail(t, 500, "Failed to unlock vault", NULL);
		return;
	}
	session_job_client_key(j, t->has_client_pk ? t->client_pk : NULL);
	writer_submit(t->v->writer, j);
}

/* init: a new VMK and vault id, wrapped by the password. */
static struct unlock_arg *new_vault_keys(struct kdf_task *t)
{
	struct vault *v = t->v;
	unsigned char *vmk = sodium_malloc(ZK_KEY_BYTES);
	struct unlock_arg *a = calloc(1, sizeof(*a));
	if (!vmk || !a)
		goto fail;
	randombytes_buf(vmk, ZK_KEY_BYTES);
	randombytes_buf(v->vault_id, sizeof(v->vault_id)); /* not public until the init job publishes */
	if (session_password_wrapper(a->wrapper, v, t->secret[0], t->secret_len[0], vmk) != 0 ||
	    !(a->keys = zk_keys_new(vmk)))
		goto fail;
	sodium_free(vmk);
	snprintf(a->user, sizeof(a->user), "%s", t->user);
	snprintf(a->ip, sizeof(a->ip), "%s", t->ip);
	return a;
fail:
	sodium_free(vmk);
	if (a)
		unlock_arg_free(a);
	return NULL;
}

static void run_init(struct kdf_task *t)
{
	struct unlock_arg *a = new_vault_keys(t);
	kdf_release(t);
	if (!a) {
		kdf_fail(t, 500, "Failed to initialize vault", NULL);
		return;
	}
	struct job *j = job_new(init_apply, init_publish, job_reply_done, t->req);
	j->arg = a;
	j->free_arg = unlock_arg_free;
	j->reply = json_pack("{sbss}", "success", 1, "message", "Org vault initialized");
	writer_submit(t->v->writer, j);
}

int session_read_wrapper(struct vault *v, int type, unsigned char blob[WRAPPER_BYTES])
{
	sqlite3_stmt *q;
	int rc = -1;
	pthread_mutex_lock(&v->rodb_lock);
	if (sqlite3_prepare_v2(v->rodb, "SELECT blob FROM wrappers WHERE type=?", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int(q, 1, type);
		if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 0) == WRAPPER_BYTES) {
			memcpy(blob, sqlite3_column_blob(q, 0), WRAPPER_BYTES);
			rc = 0;
		}
		sqlite3_finalize(q);
	}
	pthread_mutex_unlock(&v->rodb_lock);
	return rc;
}

int session_open_password(struct vault *v, unsigned char vmk[ZK_KEY_BYTES], const char *password, size_t len)
{
	unsigned char blob[WRAPPER_BYTES];
	struct zk_kdf_params p;
	unsigned char *kek = sodium_malloc(ZK_KEY_BYTES);
	int rc = -1;

	if (kek && session_read_wrapper(v, WRAPPER_PASSWORD, blob) == 0 &&
	    wrapper_params(&p, blob, sizeof(blob)) == 0 && zk_kdf_derive(kek, password, len, &p) == 0)
		rc = wrapper_open(vmk, v, blob, sizeof(blob), kek);
	sodium_free(kek);
	return rc;
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
	rc = env ? zk_ocmt_open(&secrets, env, t->secret[0], t->secret_len[0], err, sizeof(err)) : -3;
	json_decref(env);
	if (rc == -1) {
		kdf_bad_secret(t, "Invalid password", "Invalid password");
		return;
	}
	if (rc != 0) {
		kdf_fail(t, 500, "Failed to unlock vault", NULL);
		return;
	}
	struct unlock_arg *a = new_vault_keys(t);
	kdf_release(t);
	if (!a) {
		json_decref(secrets);
		kdf_fail(t, 500, "Failed to unlock vault", NULL);
		return;
	}
	a->ocmt_secrets = secrets;
	struct job *j = job_new(unlock_apply, unlock_publish, job_reply_done, t->req);
	if (!j) {
		unlock_arg_free(a);
		kdf_fail(t, 500, "Failed to unlock vault", NULL);
		return;
	}
	j->arg = a;
	j->free_arg = unlock_arg_free;
	session_job_client_key(j, t->has_client_pk ? t->client_pk : NULL);
	writer_submit(v->writer, j);
}

static void run_unlock(struct kdf_task *t)
{
	unsigned char *vmk = sodium_malloc(ZK_KEY_BYTES);
	if (!vmk) {
		kdf_fail(t, 500, "Failed to unlock vault", NULL);
		return;
	}
	if (t->v->ocmt_pending) {
		sodium_free(vmk);
		run_ocmt_conversion(t);
		return;
	}
	if (session_open_password(t->v, vmk, t->secret[0], t->secret_len[0]) != 0)
		kdf_bad_secret(t, "Invalid password", "Invalid password");
	else
		session_submit_unlock(t, vmk, NULL, NULL);
	sodium_free(vmk);
}

static void *kdf_thread(void *p)
{
	struct kdf_task *t = p;
	t->run(t);
	kdf_release(t);
	kdf_task_free(t);
	return NULL;
}

static void start_kdf(struct zk_http_req *r, void *arg)
{
	struct kdf_task *t = arg;
	if (zk_thread_detached(kdf_thread, t) != 0) {
		kdf_fail(t, 500, "Internal error", NULL);
		kdf_task_free(t);
	}
}

struct kdf_task *kdf_task_new(struct vault *v, struct zk_http_req *r, void (*run)(struct kdf_task *t),
			      const char *user, const char *ip)
{
	struct kdf_task *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->v = v;
	t->req = r;
	t->run = run;
	snprintf(t->user, sizeof(t->user), "%s", user ? user : "system");
	snprintf(t->ip, sizeof(t->ip), "%s", ip ? ip : "");
	return t;
}

int kdf_task_secret(struct kdf_task *t, int i, const char *s)
{
	if (!s)
		return 0;
	t->secret_len[i] = strlen(s);
	t->secret[i] = zk_wipe_strdup(s);
	return t->secret[i] ? 0 : -1;
}

void kdf_start(struct kdf_task *t)
{
	struct zk_http_req *r = t->req;
	if (pthread_mutex_trylock(&t->v->kdf_lock) != 0) {
		t->released = true;
		kdf_task_free(t);
		zk_http_add_header(r, "Retry-After", "1");
		zk_http_error(r, 429, "Another key derivation is running; try again shortly", "KDF_BUSY");
		return;
	}
	zk_http_defer(r, start_kdf, t);
}

void kdf_defer(struct vault *v, struct zk_http_req *r, void (*run)(struct kdf_task *t), const char *user,
	       const char *ip, const char *secret0, const char *secret1, const unsigned char *client_pk, void *arg,
	       void (*free_arg)(void *arg))
{
	struct kdf_task *t = kdf_task_new(v, r, run, user, ip);
	if (!t) {
		if (free_arg)
			free_arg(arg);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	t->arg = arg;
	t->free_arg = free_arg;
	if (client_pk) {
		t->has_client_pk = true;
		memcpy(t->client_pk, client_pk, sizeof(t->client_pk));
	}
	if (kdf_task_secret(t, 0, secret0) != 0 || kdf_task_secret(t, 1, secret1) != 0) {
		kdf_task_free(t);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	kdf_start(t);
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
		kdf_defer(v, r, run_init, "system", ip, json_string_value(pw), NULL, NULL, NULL, NULL);
	}
	json_decref(body);
}

bool session_unlock_limited(struct vault *v, struct zk_http_req *r, char ip[48])
{
	struct limiter_status ls;
	client_address(v, r, ip);
	limiter_peek(v->unlock_limiter, ip, &ls);
	limiter_headers(r, &ls);
	if (!ls.blocked)
		return false;
	zk_http_reply(r, 429, json_pack("{sssssI}", "error", "Too many vault unlock attempts. Please try again in 15 minutes.",
					"code", "RATE_LIMIT_EXCEEDED", "retryAfter", (json_int_t)ls.retry_after_s));
	return true;
}

void handle_unlock(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	char ip[48];

	if (session_unlock_limited(v, r, ip) || !require_management(v, r) || !body_object(r, &body))
		return;
	json_t *uid = json_object_get(body, "userId");
	const char *user = uid && json_is_string(uid) ? json_string_value(uid) : "system";
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	int has_pk = session_client_key(body, pk);
	if (has_pk < 0) {
		validation_error(r, "Invalid request body", SESSION_KEY_PROBLEM);
		json_decref(body);
		return;
	}
	if (json_object_get(body, "sealed")) {
		sealed_unlock(v, r, body, user, ip); /* sealed.c: the client ran the KDF */
		json_decref(body);
		return;
	}
	if (json_object_get(body, "hardwareKey") && !json_object_get(body, "password")) {
		if (!v->initialized || v->ocmt_pending)
			zk_http_error(r, 400, "Vault not initialized", NULL);
		else
			recovery_unlock_hardware(v, r, body, user, ip, has_pk ? pk : NULL);
		json_decref(body);
		return;
	}
	const char *problem = validate_unlock_body(body);
	if (problem)
		validation_error(r, "Invalid request body", problem);
	else if (!v->initialized)
		zk_http_error(r, 400, "Vault not initialized", NULL);
	else if (!v->password_enabled && !v->ocmt_pending)
		zk_http_error(r, 403, "Password unlock is disabled for this vault; use threshold unlock",
			      "PASSWORD_DISABLED");
	else
		kdf_defer(v, r, run_unlock, user, ip, json_string_value(json_object_get(body, "password")), NULL,
			  has_pk ? pk : NULL, NULL, NULL);
	json_decref(body);
}
