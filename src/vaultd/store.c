/* The vault's SQLite file: WAL, synchronous=FULL, a small page cache; schema in docs/FORMAT.md. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vaultd/vaultd.h"

/* The records table (its layout: records_migrate). */
#define RECORDS_COLUMNS                                                                                        \
	"(seq INTEGER PRIMARY KEY, name_hash BLOB NOT NULL, version INTEGER NOT NULL, record_id BLOB NOT NULL,"  \
	" tombstone INTEGER NOT NULL, sealed BLOB NOT NULL)"

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=FULL;"
	"PRAGMA cache_size=-256;"
	"PRAGMA secure_delete=ON;"
	/* One transaction: statement by statement, each CREATE took and dropped its own read lock. */
	"BEGIN;"
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS wrappers(type INTEGER PRIMARY KEY, blob BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS records" RECORDS_COLUMNS ";"
	"CREATE TABLE IF NOT EXISTS audit(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind INTEGER NOT NULL,"
	" blob BLOB NOT NULL, chain BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS checkpoints(seq INTEGER PRIMARY KEY, head BLOB NOT NULL,"
	" revision INTEGER NOT NULL, ts INTEGER NOT NULL, sig BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS tokens(jti TEXT PRIMARY KEY, sub TEXT NOT NULL, exp INTEGER NOT NULL)"
	" WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS revocations(jti TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS subjects(sub TEXT PRIMARY KEY, not_before INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS revlog(epoch INTEGER NOT NULL, jti TEXT NOT NULL, PRIMARY KEY(epoch, jti))"
	" WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS ceilings(sub TEXT PRIMARY KEY, policy TEXT NOT NULL, updated INTEGER NOT NULL)"
	" WITHOUT ROWID;"
	"COMMIT;";

/*
 * Prepared statements kept for the life of their connection. The writer runs the same few statements for every
 * change (savepoints, record and audit inserts); preparing them each time was half of its work per write.
 * Keyed by connection and by the address of the SQL text (a string literal); store_close finalizes them. A
 * cached statement is for one thread at a time: only the writer thread uses them, on v->db.
 */
static struct cached_stmt {
	sqlite3 *db;
	const char *sql;
	sqlite3_stmt *st;
} *stmts;
static size_t nstmts, stmts_cap;
static pthread_mutex_t stmts_lock = PTHREAD_MUTEX_INITIALIZER;

sqlite3_stmt *store_stmt(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&stmts_lock);
	for (size_t i = 0; i < nstmts && !st; i++)
		if (stmts[i].db == db && stmts[i].sql == sql)
			st = stmts[i].st;
	if (!st && (nstmts < stmts_cap || (stmts = realloc(stmts, (stmts_cap = stmts_cap * 2 + 16) * sizeof(*stmts))))) {
		if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) == SQLITE_OK)
			stmts[nstmts++] = (struct cached_stmt){ db, sql, st };
		else
			st = NULL;
	}
	pthread_mutex_unlock(&stmts_lock);
	return st;
}

int store_run(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = store_stmt(db, sql);
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
	if (st)
		sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fprintf(stderr, "vaultd: storage: %s\n", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

static void store_stmts_close(sqlite3 *db)
{
	pthread_mutex_lock(&stmts_lock);
	for (size_t i = 0; i < nstmts;) {
		if (stmts[i].db == db) {
			sqlite3_finalize(stmts[i].st);
			stmts[i] = stmts[--nstmts];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&stmts_lock);
}

int store_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "vaultd: storage: %s\n", msg ? msg : "error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * The records table holds its rows in write order (seq) and has no index: the unlocked vault's in-memory index
 * knows the row of every stored version (struct index_entry), and the writer keeps it so. Keyed by name hash —
 * uniformly random — every record of a group-commit batch dirtied a random page (a leaf of the table, later of
 * a unique index), and every WAL checkpoint copied about as many random pages back: the write tail of
 * docs/PERFORMANCE.md. Now a batch appends to the table's last pages, plus the pages of the versions it prunes.
 * A vault made before (keyed by (name_hash, version) WITHOUT ROWID, or with a UNIQUE index on them) is rebuilt
 * once, in one transaction, at its first open by this version.
 */
static int records_migrate(sqlite3 *db)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(db, "SELECT EXISTS(SELECT 1 FROM pragma_table_info('records') WHERE name='seq') AND "
				   "NOT EXISTS(SELECT 1 FROM pragma_index_list('records'))", -1, &q, NULL) != SQLITE_OK)
		return -1;
	bool current = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 1;
	sqlite3_finalize(q);
	if (current)
		return 0;
	if (store_exec(db, "BEGIN IMMEDIATE;"
			   "CREATE TABLE records_seq" RECORDS_COLUMNS ";"
			   "INSERT INTO records_seq(name_hash, version, record_id, tombstone, sealed)"
			   " SELECT name_hash, version, record_id, tombstone, sealed FROM records"
			   " ORDER BY name_hash, version;"
			   "DROP TABLE records;"
			   "ALTER TABLE records_seq RENAME TO records;"
			   "COMMIT;") != 0) {
		store_exec(db, "ROLLBACK");
		return -1;
	}
	return 0;
}

static int open_db(sqlite3 **db, const char *path, int flags)
{
	if (sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return -1;
	sqlite3_busy_timeout(*db, 5000);
	return 0;
}

static int load_transport_key(struct vault *v, char *err, size_t errlen)
{
	char path[4096];
	unsigned char sk[crypto_box_SECRETKEYBYTES];
	snprintf(path, sizeof(path), "%s/transport.key", v->cfg.data_dir);

	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		/* Created once, exclusively, mode 0600: the only secret a locked vault holds. */
		crypto_box_keypair(v->transport_pk, sk);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, sk, sizeof(sk)) != (ssize_t)sizeof(sk) || fsync(fd) != 0) {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			sodium_memzero(sk, sizeof(sk));
			return -1;
		}
		close(fd);
		sodium_memzero(sk, sizeof(sk));
		return 0;
	}
	if (fd < 0 || read(fd, sk, sizeof(sk)) != (ssize_t)sizeof(sk)) {
		snprintf(err, errlen, "cannot read %s", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	crypto_scalarmult_base(v->transport_pk, sk);
	sodium_memzero(sk, sizeof(sk));
	return 0;
}

int store_open(struct vault *v, char *err, size_t errlen)
{
	char path[4096];

	/*
	 * No initial bulk allocation for the page caches: by default each connection takes 20 pages' worth (87 KB)
	 * at its first read and keeps it for its life, which sqlite3_db_release_memory cannot give back. Pages one
	 * by one can be. Process-wide and only before SQLite initialises (a no-op after).
	 */
	sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
	if (mkdir(v->cfg.data_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", v->cfg.data_dir, strerror(errno));
		return -1;
	}
	if (load_transport_key(v, err, errlen) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/vault.db", v->cfg.data_dir);
	if (open_db(&v->db, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) != 0 || store_exec(v->db, schema) != 0 ||
	    records_migrate(v->db) != 0) {
		snprintf(err, errlen, "cannot open %s", path);
		return -1;
	}
	chmod(path, 0600);
	if (open_db(&v->rodb, path, SQLITE_OPEN_READONLY) != 0) {
		snprintf(err, errlen, "cannot open %s read-only", path);
		return -1;
	}
	store_exec(v->rodb, "PRAGMA cache_size=-256;");
	pthread_mutex_init(&v->rodb_lock, NULL);
	return store_load_public(v);
}

void store_close(struct vault *v)
{
	if (v->rodb)
		sqlite3_close(v->rodb);
	if (v->db) {
		store_stmts_close(v->db);
		sqlite3_close(v->db);
	}
	v->db = v->rodb = NULL;
}

void store_release_memory(struct vault *v)
{
	sqlite3_db_release_memory(v->db);
	pthread_mutex_lock(&v->rodb_lock);
	sqlite3_db_release_memory(v->rodb);
	pthread_mutex_unlock(&v->rodb_lock);
}

int store_record_row(sqlite3_stmt *q, int col, struct index_entry *e)
{
	if (sqlite3_column_bytes(q, col) != ZK_HASH_BYTES || sqlite3_column_bytes(q, col + 2) != ZK_RECORD_ID_BYTES)
		return -1;
	memcpy(e->name_hash, sqlite3_column_blob(q, col), ZK_HASH_BYTES);
	e->version = (uint64_t)sqlite3_column_int64(q, col + 1);
	memcpy(e->record_id, sqlite3_column_blob(q, col + 2), ZK_RECORD_ID_BYTES);
	e->tombstone = sqlite3_column_int(q, col + 3) != 0;
	e->sealed = (unsigned char *)sqlite3_column_blob(q, col + 4);
	e->sealed_len = (size_t)sqlite3_column_bytes(q, col + 4);
	return 0;
}

int store_meta_get(sqlite3 *db, const char *k, unsigned char **out, size_t *len)
{
	sqlite3_stmt *st;
	int rc = -1;
	if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k=?", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		int n = sqlite3_column_bytes(st, 0);
		unsigned char *buf = malloc((size_t)n + 1);
		if (buf) {
			if (n)
				memcpy(buf, sqlite3_column_blob(st, 0), (size_t)n);
			buf[n] = '\0';
			*out = buf;
			*len = (size_t)n;
			rc = 0;
		}
	} else {
		rc = 1;
	}
	sqlite3_finalize(st);
	return rc;
}

int store_meta_put(sqlite3 *db, const char *k, const void *val, size_t len)
{
	sqlite3_stmt *st;
	int rc;
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(k, v) VALUES(?, ?)", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, val, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return rc;
}

int store_meta_del(sqlite3 *db, const char *k)
{
	sqlite3_stmt *st;
	int rc;
	if (sqlite3_prepare_v2(db, "DELETE FROM meta WHERE k=?", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return rc;
}

static int meta_exact(sqlite3 *db, const char *k, unsigned char *out, size_t n)
{
	unsigned char *buf;
	size_t len;
	if (store_meta_get(db, k, &buf, &len) != 0)
		return -1;
	int rc = len == n ? 0 : -1;
	if (rc == 0)
		memcpy(out, buf, n);
	free(buf);
	return rc;
}

/* Loads what a locked vault may know: ids, public keys, KDF parameters. */
int store_load_public(struct vault *v)
{
	unsigned char *buf;
	size_t len;

	v->initialized = false;
	v->ocmt_pending = store_meta_get(v->db, "ocmt_import", &buf, &len) == 0;
	if (v->ocmt_pending) {
		free(buf);
		v->initialized = true;
		return 0;
	}
	if (meta_exact(v->db, "vault_id", v->vault_id, sizeof(v->vault_id)) != 0)
		return 0;
	if (meta_exact(v->db, "token_pk", v->token_pk, sizeof(v->token_pk)) != 0 ||
	    meta_exact(v->db, "audit_pk", v->audit_pk, sizeof(v->audit_pk)) != 0 ||
	    meta_exact(v->db, "checkpoint_pk", v->checkpoint_pk, sizeof(v->checkpoint_pk)) != 0)
		return -1;
	sodium_bin2hex(v->vault_id_hex, sizeof(v->vault_id_hex), v->vault_id, sizeof(v->vault_id));
	/* The stored revision: unauthenticated until unlock checks the header, but what this vault has reached, so a
	   restarted (locked) vault still refuses to import an older export and reports its revision. */
	if (store_meta_get(v->db, "header", &buf, &len) == 0) {
		if (len == HEADER_BYTES)
			v->revision = zk_load_u64le(buf);
		free(buf);
	}
	if (store_meta_get(v->db, "created", &buf, &len) == 0) {
		snprintf(v->created, sizeof(v->created), "%s", (char *)buf);
		free(buf);
	}

	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(v->db, "SELECT blob FROM wrappers WHERE type=1", -1, &st, NULL) != SQLITE_OK)
		return -1;
	int rc = 0;
	v->password_enabled = false;
	memset(&v->kdf, 0, sizeof(v->kdf));
	if (sqlite3_step(st) == SQLITE_ROW) {
		rc = wrapper_params(&v->kdf, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
		v->password_enabled = rc == 0;
	}
	sqlite3_finalize(st);
	if (rc != 0)
		return -1;
	v->initialized = true;
	return 0;
}
