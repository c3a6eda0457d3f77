#ifndef ZK_VAULTD_H
#define ZK_VAULTD_H

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/brlock.h"
#include "lib/crypto.h"
#include "lib/http.h"

#define VAULTD_DEFAULT_PORT 18790
#define VAULTD_SESSION_SECONDS 1800
#define VAULTD_MAX_VERSIONS 10
#define VAULTD_NAME_MAX 255
#define VAULTD_TOKEN_MAX 8192 /* leaves half of the 16 KiB connection pool (zk_http_config) to the rest */
#define VAULTD_MAX_PROXIES 16

struct vaultd_config {
	const char *data_dir;
	const char *bind;
	uint16_t port;
	const char *group_id;
	const char *kind; /* "group" or "user" */
	char *auth_token;  /* wiped at exit */
	const char *tls_cert;
	const char *tls_key;
	const char *unlock_url;
	int session_seconds;
	int threshold_seconds; /* lifetime of a threshold unlock request */
	int max_versions;
	char *trusted_proxies[VAULTD_MAX_PROXIES];
	int ntrusted_proxies;
	unsigned threads;
	bool strict; /* routes that grant or widen access also need X-Vault-Session (docs/API.md §Strict mode) */
};

/* Where one stored version of a record is: its row in the records table. */
struct version_row {
	uint64_t version;
	int64_t seq;
};

/*
 * One record's latest version, as the read path needs it, and the rows of every version stored. The records
 * table has no index by name (its rows are in write order, docs/FORMAT.md): this is the only way from a name to
 * its rows, built at unlock and kept by the writer.
 */
struct index_entry {
	unsigned char name_hash[ZK_HASH_BYTES];
	unsigned char record_id[ZK_RECORD_ID_BYTES];
	uint64_t version;
	bool tombstone;
	unsigned char *sealed;
	size_t sealed_len;
	int64_t seq;               /* the row of this version */
	struct version_row *older; /* the older versions still stored, oldest first; NULL when none */
	uint32_t nolder;
};

struct index {
	struct index_entry **slots;
	size_t cap; /* power of two */
	size_t count;
};

/* Verified token claims, as cached and as checked on every request. */
#define CLAIMS_MAX_PATTERNS 64
#define CLAIMS_PATTERN_BYTES 4096
#define CLAIMS_MAX_BLOCKS 8
enum perm { PERM_READ = 1, PERM_WRITE = 2, PERM_DELETE = 4, PERM_USE = 8, PERM_ADMIN = 16 };
struct claims {
	char jti[33];
	char sub[129];
	int64_t iat_ms;
	int64_t exp_ms;
	unsigned perms;
	int npatterns;
	uint16_t pattern_off[CLAIMS_MAX_PATTERNS];
	/* Attenuation (docs/FORMAT.md §Attenuation chains): the effective audience and use limits, and each block's
	   revocation id (hex) beside the root's jti. */
	char aud[129];
	uint32_t max_uses;
	bool has_next;
	unsigned char next_pk[32];
	int nrids;
	char rids[CLAIMS_MAX_BLOCKS][33];
	uint32_t rid_max_uses[CLAIMS_MAX_BLOCKS];
	/* NUL-separated, at pattern_off[i]. Last, so that a copy can stop after the used part (tokens.c). */
	char patterns[CLAIMS_PATTERN_BYTES];
};

struct revocations; /* tokens.c */
struct token_cache; /* tokens.c */
struct ceilings;    /* ceilings.c */
struct revlist;     /* revlist.c */
struct limiter;     /* limiter.c */
struct writer;      /* writer.c */
struct read_audit;  /* audit.c */
struct threshold_state; /* threshold.c */

struct vault {
	struct vaultd_config cfg;
	sqlite3 *db;     /* owned by the writer thread once it runs */
	sqlite3 *rodb;   /* read-only connection for cold reads (versions, audit) */
	pthread_mutex_t rodb_lock;

	/* Public state, set at init and never changed after. */
	bool initialized;
	bool ocmt_pending; /* imported from OCMT, converted on first unlock */
	unsigned char vault_id[ZK_VAULT_ID_BYTES];
	char vault_id_hex[ZK_VAULT_ID_BYTES * 2 + 1];
	unsigned char token_pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char audit_pk[crypto_box_PUBLICKEYBYTES];
	unsigned char checkpoint_pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char transport_pk[crypto_box_PUBLICKEYBYTES];
	struct zk_kdf_params kdf;
	bool password_enabled; /* false once the vault is threshold-only */
	char created[32];

	/* Guarded by state_lock: readers take a slot, the writer thread takes all. */
	struct zk_brlock state_lock;
	struct zk_keys *keys;      /* NULL while locked */
	unsigned char *session_key; /* strict mode: sodium_malloc'd, 32 bytes; NULL while locked or not issued */
	atomic_llong expires_mono; /* monotonic ms; 0 when locked */
	struct index index;
	struct revocations *revoked;
	struct ceilings *ceilings;
	uint64_t revision;
	unsigned char digest[ZK_HASH_BYTES];

	pthread_mutex_t kdf_lock; /* one Argon2id at a time */
	struct token_cache *tcache;
	struct revlist *revlist; /* signed revocation snapshots, per epoch */
	struct limiter *unlock_limiter;
	struct limiter *token_limiter;
	struct writer *writer;
	struct read_audit *raudit;
	struct threshold_state *threshold;

	atomic_ullong n_requests, n_reads, n_writes, n_denied, n_unlocks, n_unlock_failures;
};

/* main.c */
int vaultd_main(int argc, char *argv[]);

/* store.c: the SQLite file of one vault. */
int store_open(struct vault *v, char *err, size_t errlen);
void store_close(struct vault *v);
/* Writer thread, while idle: frees the page caches of both connections (they refill from the OS cache). */
void store_release_memory(struct vault *v);
int store_exec(sqlite3 *db, const char *sql);
/* A statement prepared once per connection and kept until store_close (writer thread, v->db): reset it after use,
 * never finalize it. store_run steps one such statement (a savepoint) and resets it. */
sqlite3_stmt *store_stmt(sqlite3 *db, const char *sql);
int store_run(sqlite3 *db, const char *sql);
int store_meta_get(sqlite3 *db, const char *k, unsigned char **v, size_t *len);
int store_meta_put(sqlite3 *db, const char *k, const void *v, size_t len);
int store_meta_del(sqlite3 *db, const char *k);
int store_load_public(struct vault *v);
/*
 * Decodes the columns name_hash, version, record_id, tombstone, sealed of a records row, from column col on.
 * e->sealed points into SQLite's copy (valid until the next step); e->seq and e->older are left alone.
 * Returns -1 when a blob has the wrong length (not a row this vault wrote).
 */
int store_record_row(sqlite3_stmt *q, int col, struct index_entry *e);

/* index.c: name hash -> latest sealed record, and the rows of its stored versions. */
void index_init(struct index *ix);
void index_clear(struct index *ix);
const struct index_entry *index_get(const struct index *ix, const unsigned char name_hash[ZK_HASH_BYTES]);
int index_put(struct index *ix, const struct index_entry *e); /* copies e, its sealed blob and its older rows */
/* The entry to change in place (the loader), or NULL. */
struct index_entry *index_find(struct index *ix, const unsigned char name_hash[ZK_HASH_BYTES]);
/* Frees what an entry owns (sealed, older); the entry itself stays. */
void index_entry_release(struct index_entry *e);
/* The row of one version of an entry (the latest or an older one), or -1 when it is not stored. */
int64_t index_version_seq(const struct index_entry *e, uint64_t version);

/* digest.c: the header (revision + keyed multiset digest of the latest versions). */
void digest_entry(unsigned char out[ZK_HASH_BYTES], const struct zk_keys *k,
		  const unsigned char name_hash[ZK_HASH_BYTES], const unsigned char record_id[ZK_RECORD_ID_BYTES],
		  uint64_t version, bool tombstone);
void digest_add(unsigned char acc[ZK_HASH_BYTES], const unsigned char e[ZK_HASH_BYTES]);
void digest_sub(unsigned char acc[ZK_HASH_BYTES], const unsigned char e[ZK_HASH_BYTES]);
#define HEADER_BYTES (8 + ZK_HASH_BYTES + ZK_HASH_BYTES)
void header_encode(unsigned char out[HEADER_BYTES], const struct vault *v, const struct zk_keys *k,
		   uint64_t revision, const unsigned char digest[ZK_HASH_BYTES]);
int header_decode(uint64_t *revision, unsigned char digest[ZK_HASH_BYTES], const unsigned char *in, size_t len,
		  const struct vault *v, const struct zk_keys *k);

/* records.c: sealing records. */
void record_aad(struct zk_aad *a, const struct vault *v, const unsigned char name_hash[ZK_HASH_BYTES],
		const unsigned char record_id[ZK_RECORD_ID_BYTES], uint64_t version, bool tombstone);
int record_open(json_t **out, const struct vault *v, const struct zk_keys *k, const struct index_entry *e);
/* Calls visit for every live record, opened (and released after), under the state read lock. Returns false,
 * visiting nothing, when the vault is locked. */
typedef void record_visit_fn(json_t *rec, const struct index_entry *e, void *ctx);
bool records_foreach(struct vault *v, record_visit_fn *visit, void *ctx);
/* arr sorted by cmp (a new array; arr is released): listings are sorted so the order does not reveal the name
 * hashes. */
json_t *records_sorted(json_t *arr, int (*cmp)(const void *, const void *));
/* The body of GET /secrets/:key for e, built without jansson when the record is in jansson's canonical form;
 * *out is zk_wipe_malloc'd. Returns 0, 1 when the caller must take the record_open path, -1 on error. */
int record_reply(char **out, const struct vault *v, const struct zk_keys *k, const struct index_entry *e,
		 const char *key);

/* wrapper.c: the VMK wrapped by a password KEK. */
#define WRAPPER_BYTES (40 + ZK_SEAL_OVERHEAD + ZK_KEY_BYTES)
enum wrapper_type {
	WRAPPER_PASSWORD = 1,
	WRAPPER_RECOVERY = 2,
	WRAPPER_HARDWARE = 3,
	WRAPPER_THRESHOLD = 4,
	WRAPPER_SOCIAL = 5,
};
#define WRAPPER_KDF_SECRET 1
#define WRAPPER_KDF_ARGON2ID 2
void wrapper_seal(unsigned char out[WRAPPER_BYTES], const struct vault *v, enum wrapper_type type, int kdf,
		  const struct zk_kdf_params *p, const unsigned char kek[ZK_KEY_BYTES],
		  const unsigned char vmk[ZK_KEY_BYTES]);
/* KEK = BLAKE2b-256(key = secret, "zkv1kek\0" | u8(type) | vault id); secret is 16..64 bytes. */
void wrapper_kek_from_secret(unsigned char kek[ZK_KEY_BYTES], const struct vault *v, enum wrapper_type type,
			     const unsigned char *secret, size_t len);
int wrapper_params(struct zk_kdf_params *p, const unsigned char *blob, size_t len);
int wrapper_open(unsigned char vmk[ZK_KEY_BYTES], const struct vault *v, const unsigned char *blob, size_t len,
		 const unsigned char kek[ZK_KEY_BYTES]);

/* session.c */
bool vault_unlocked(struct vault *v);
int64_t vault_expires_in(struct vault *v);

/* routes.c */
extern const struct zk_route vaultd_routes[];
extern const size_t vaultd_nroutes;
void vaultd_request_cleanup(struct zk_http_req *r, void *app);

#endif
