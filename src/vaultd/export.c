/*
 * GET /export and POST /import: the whole vault as one JSON envelope of ciphertext and public data
 * (docs/FORMAT.md §Export). The transport key is never exported. Import also takes an OCMT v1 export,
 * converted to the native format at the first unlock.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/mem.h"
#include "lib/ocmt.h"
#include "vaultd/audit.h"
#include "vaultd/common.h"
#include "vaultd/limiter.h"
#include "vaultd/routes.h"
#include "vaultd/tokens.h"
#include "vaultd/validate.h"

static json_t *b64(const void *p, size_t n)
{
	char *s = zk_b64_dup(p, n);
	json_t *j = s ? json_string(s) : NULL;
	free(s);
	return j;
}

static json_t *meta_b64(sqlite3 *db, const char *k)
{
	unsigned char *buf;
	size_t len;
	if (store_meta_get(db, k, &buf, &len) != 0)
		return json_null();
	json_t *j = b64(buf, len);
	free(buf);
	return j;
}

static json_t *meta_text(sqlite3 *db, const char *k)
{
	unsigned char *buf;
	size_t len;
	if (store_meta_get(db, k, &buf, &len) != 0)
		return json_null();
	json_t *j = json_stringn((char *)buf, len);
	free(buf);
	return j;
}

/* Every column of every row: integers as numbers, blobs as base64, text as strings. */
static json_t *dump_table(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q;
	json_t *rows = json_array();
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return NULL;
	while (sqlite3_step(q) == SQLITE_ROW) {
		json_t *row = json_object();
		for (int c = 0; c < sqlite3_column_count(q); c++) {
			const char *name = sqlite3_column_name(q, c);
			switch (sqlite3_column_type(q, c)) {
			case SQLITE_INTEGER:
				json_object_set_new(row, name, json_integer(sqlite3_column_int64(q, c)));
				break;
			case SQLITE_BLOB:
				json_object_set_new(row, name, b64(sqlite3_column_blob(q, c),
								   (size_t)sqlite3_column_bytes(q, c)));
				break;
			default:
				json_object_set_new(row, name, json_string((const char *)sqlite3_column_text(q, c)));
			}
		}
		json_array_append_new(rows, row);
	}
	sqlite3_finalize(q);
	return rows;
}

static const struct table {
	const char *key;
	const char *select;
	const char *insert;
	const char *columns[6]; /* name and type: 'i' integer, 'b' blob, 't' text */
} tables[] = {
	{ "wrappers", "SELECT type, blob FROM wrappers ORDER BY type",
	  "INSERT INTO wrappers(type, blob) VALUES(?,?)", { "itype", "bblob" } },
	{ "records", "SELECT name_hash, version, record_id, tombstone, sealed FROM records ORDER BY name_hash, version",
	  "INSERT INTO records(name_hash, version, record_id, tombstone, sealed) VALUES(?,?,?,?,?)",
	  { "bname_hash", "iversion", "brecord_id", "itombstone", "bsealed" } },
	{ "audit", "SELECT seq, ts, kind, blob, chain FROM audit ORDER BY seq",
	  "INSERT INTO audit(seq, ts, kind, blob, chain) VALUES(?,?,?,?,?)",
	  { "iseq", "its", "ikind", "bblob", "bchain" } },
	{ "checkpoints", "SELECT seq, head, revision, ts, sig FROM checkpoints ORDER BY seq",
	  "INSERT INTO checkpoints(seq, head, revision, ts, sig) VALUES(?,?,?,?,?)",
	  { "iseq", "bhead", "irevision", "its", "bsig" } },
	{ "tokens", "SELECT jti, sub, exp FROM tokens ORDER BY jti", "INSERT INTO tokens(jti, sub, exp) VALUES(?,?,?)",
	  { "tjti", "tsub", "iexp" } },
	{ "revocations", "SELECT jti, at FROM revocations ORDER BY jti",
	  "INSERT INTO revocations(jti, at) VALUES(?,?)", { "tjti", "iat" } },
	{ "subjects", "SELECT sub, not_before FROM subjects ORDER BY sub",
	  "INSERT INTO subjects(sub, not_before) VALUES(?,?)", { "tsub", "inot_before" } },
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))
_Static_assert(NTABLES == EXPORT_NTABLES, "validate.c's export_table_keys must list the same tables");

static const char *meta_blobs[] = { "vault_id", "token_pk", "audit_pk", "checkpoint_pk", "header", "audit_head" };
static const char *meta_texts[] = { "format", "kind", "group_id", "created" };
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static json_t *export_native(struct vault *v)
{
	json_t *env = json_pack("{sssi}", "format", EXPORT_FORMAT, "version", EXPORT_VERSION);
	json_t *meta = json_object();
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	uint64_t revision = v->revision;
	zk_brlock_rdunlock(&v->state_lock, slot);

	pthread_mutex_lock(&v->rodb_lock);
	store_exec(v->rodb, "BEGIN"); /* one consistent snapshot */
	for (size_t i = 0; i < NELEM(meta_blobs); i++)
		json_object_set_new(meta, meta_blobs[i], meta_b64(v->rodb, meta_blobs[i]));
	for (size_t i = 0; i < NELEM(meta_texts); i++)
		json_object_set_new(meta, meta_texts[i], meta_text(v->rodb, meta_texts[i]));
	json_object_set_new(env, "meta", meta);
	for (size_t t = 0; t < NTABLES; t++)
		json_object_set_new(env, tables[t].key, dump_table(v->rodb, tables[t].select));
	store_exec(v->rodb, "COMMIT");
	pthread_mutex_unlock(&v->rodb_lock);
	json_object_set_new(env, "vaultId", json_string(v->vault_id_hex));
	json_object_set_new(env, "revision", json_integer((json_int_t)revision));
	return env;
}

void handle_export(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	char ip[48];
	json_t *env = NULL;

	if (!require_management(v, r))
		return;
	if (!v->initialized) {
		zk_http_error(r, 400, "Vault not initialized", NULL);
		return;
	}
	if (v->ocmt_pending) {
		unsigned char *text;
		size_t len;
		pthread_mutex_lock(&v->rodb_lock);
		if (store_meta_get(v->rodb, "ocmt_import", &text, &len) == 0) {
			env = json_loadb((char *)text, len, 0, NULL);
			free(text);
		}
		pthread_mutex_unlock(&v->rodb_lock);
	} else {
		env = export_native(v);
	}
	if (!env) {
		zk_http_error(r, 500, "Failed to export vault", NULL);
		return;
	}
	client_address(v, r, ip);
	audit_async(v, "vault.exported", "system", NULL, true, NULL, ip);
	zk_http_reply(r, 200, json_pack("{so}", "vault", env));
}

/* Import: validate everything first, then write it all in one job. */
struct import_arg {
	json_t *env;
	bool ocmt;
	bool replace;
	bool forced;
	char ip[48];
};

static void import_arg_free(void *p)
{
	struct import_arg *a = p;
	json_decref(a->env);
	free(a);
}

static int bind_value(sqlite3_stmt *q, int i, char type, json_t *val)
{
	switch (type) {
	case 'i':
		if (!json_is_integer(val))
			return -1;
		return sqlite3_bind_int64(q, i, json_integer_value(val)) == SQLITE_OK ? 0 : -1;
	case 't':
		if (!json_is_string(val))
			return -1;
		return sqlite3_bind_text(q, i, json_string_value(val), -1, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
	default: {
		unsigned char *buf;
		size_t n;
		if (zk_b64_decode(&buf, &n, json_string_value(val)) != 0)
			return -1;
		int rc = sqlite3_bind_blob(q, i, buf, (int)n, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
		free(buf);
		return rc;
	}
	}
}

static int load_table(sqlite3 *db, const struct table *t, json_t *rows)
{
	sqlite3_stmt *q;
	size_t i;
	json_t *row;

	if (!json_is_array(rows))
		return -1;
	if (sqlite3_prepare_v2(db, t->insert, -1, &q, NULL) != SQLITE_OK)
		return -1;
	json_array_foreach(rows, i, row) {
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
		for (int c = 0; c < 6 && t->columns[c]; c++)
			if (bind_value(q, c + 1, t->columns[c][0], json_object_get(row, t->columns[c] + 1)) != 0)
				goto fail;
		if (sqlite3_step(q) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(q);
	return 0;
fail:
	sqlite3_finalize(q);
	return -1;
}

static int import_apply(struct vault *v, struct job *j)
{
	struct import_arg *a = j->arg;
	struct writer_state *st = writer_state(v->writer);
	unsigned char *tmp;
	size_t len;

	if (a->ocmt) {
		if (v->initialized) {
			j->error = "Vault already initialized";
			return 409;
		}
		char *text = json_dumps(a->env, JSON_COMPACT);
		int rc = text && store_meta_put(v->db, "ocmt_import", text, strlen(text)) == 0 ? 0 : 500;
		zk_wipe_str(text);
		return rc;
	}
	if (a->replace) {
		if (v->keys) {
			j->error = "Lock the vault before restoring a backup over it";
			return 409;
		}
		for (size_t t = 0; t < NTABLES; t++) {
			char sql[64];
			snprintf(sql, sizeof(sql), "DELETE FROM %s", tables[t].key);
			if (store_exec(v->db, sql) != 0)
				return 500;
		}
	} else if (store_meta_get(v->db, "vault_id", &tmp, &len) == 0) {
		free(tmp);
		j->error = "Vault already initialized";
		return 409;
	}
	json_t *meta = json_object_get(a->env, "meta");
	for (size_t i = 0; i < NELEM(meta_blobs); i++) {
		unsigned char *buf;
		size_t n;
		json_t *val = json_object_get(meta, meta_blobs[i]);
		if (json_is_null(val) || !val)
			continue;
		if (zk_b64_decode(&buf, &n, json_string_value(val)) != 0)
			return 400;
		int rc = store_meta_put(v->db, meta_blobs[i], buf, n);
		free(buf);
		if (rc)
			return 500;
	}
	for (size_t i = 0; i < NELEM(meta_texts); i++) {
		const char *s = json_string_value(json_object_get(meta, meta_texts[i]));
		if (s && store_meta_put(v->db, meta_texts[i], s, strlen(s)) != 0)
			return 500;
	}
	for (size_t t = 0; t < NTABLES; t++)
		if (load_table(v->db, &tables[t], json_object_get(a->env, tables[t].key)) != 0) {
			j->error = "Invalid vault format";
			return 400;
		}
	/* The records table has no unique key (docs/FORMAT.md): one version of a name twice is refused here. */
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(v->db, "SELECT 1 FROM records GROUP BY name_hash, version HAVING count(*) > 1 LIMIT 1",
			       -1, &q, NULL) != SQLITE_OK)
		return 500;
	bool twice = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	if (twice) {
		j->error = "Invalid vault format";
		return 400;
	}
	/* The revision is only a claim until unlock checks the authenticated header; remember the highest. */
	json_int_t revision = json_integer_value(json_object_get(a->env, "revision"));
	unsigned char rb[8];
	zk_store_u64le(rb, (uint64_t)revision);
	if (store_meta_put(v->db, "max_revision", rb, 8) != 0)
		return 500;
	if (audit_load_state(v, st) != 0)
		return 500;
	return 0;
}

static void import_publish(struct vault *v, struct job *j)
{
	struct import_arg *a = j->arg;
	store_load_public(v);
	if (!a->ocmt) {
		revocations_free(v->revoked);
		v->revoked = revocations_new();
		revocations_load(v);
	}
}

static void import_done(struct vault *v, struct job *j)
{
	struct import_arg *a = j->arg;
	if (j->rc == 0)
		audit_async(v, a->forced ? "vault.imported.forced" : "vault.imported", "system", NULL, true, NULL, a->ip);
	job_reply_done(v, j);
}

void handle_import(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	char err[160];

	if (!require_management(v, r) || !body_object(r, &body))
		return;
	json_t *env = json_object_get(body, "vault"), *force = json_object_get(body, "force");
	struct import_arg *a = calloc(1, sizeof(*a));
	if (!a) {
		json_decref(body);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	a->env = json_incref(env);
	a->forced = json_is_true(force);
	client_address(v, r, a->ip);
	json_decref(body);

	const char *problem = validate_import_envelope(env, &a->ocmt, err, sizeof(err));
	if (!problem && a->ocmt) {
		if (v->initialized) {
			import_arg_free(a);
			zk_http_error(r, 409, "Vault already initialized", NULL);
			return;
		}
	} else if (!problem) {
		if (v->initialized) {
			/* Only a newer (or forced) copy of this same vault may replace it: a restore. */
			unsigned char id[ZK_VAULT_ID_BYTES];
			zk_b64_decode_exact(id, sizeof(id), json_string_value(json_object_get(json_object_get(env, "meta"), "vault_id")));
			unsigned char *mr;
			size_t len;
			uint64_t seen = v->revision;
			pthread_mutex_lock(&v->rodb_lock);
			if (store_meta_get(v->rodb, "max_revision", &mr, &len) == 0) {
				if (len == 8 && zk_load_u64le(mr) > seen)
					seen = zk_load_u64le(mr);
				free(mr);
			}
			pthread_mutex_unlock(&v->rodb_lock);
			uint64_t rev = (uint64_t)json_integer_value(json_object_get(env, "revision"));
			if (v->ocmt_pending || sodium_memcmp(id, v->vault_id, sizeof(id)) != 0) {
				import_arg_free(a);
				zk_http_error(r, 409, "Vault already initialized", NULL);
				return;
			}
			if (rev < seen && !a->forced) {
				import_arg_free(a);
				zk_http_error(r, 409, "Refusing to import an older revision than this vault has seen; "
						      "pass \"force\": true to roll back", "ROLLBACK");
				return;
			}
			a->replace = true;
		}
	}
	if (problem) {
		import_arg_free(a);
		zk_http_reply(r, 400, json_pack("{ssss}", "error", "Invalid vault format", "details", problem));
		return;
	}
	struct job *j = job_new(import_apply, import_publish, import_done, r);
	j->arg = a;
	j->free_arg = import_arg_free;
	j->reply = json_pack("{sbss}", "success", 1, "message", "Vault imported");
	defer_job(v, r, j);
}
