/* GET /revocations: signed full snapshots (cached per epoch) and deltas of the revocation list. */
#include "vaultd/revlist.h"

#include <stdlib.h>
#include <string.h>

#include "lib/cascade.h"
#include "lib/clock.h"
#include "lib/revsnap.h"
#include "vaultd/common.h"
#include "vaultd/tokens.h"

/* Past this many ids a delta is answered with a full snapshot (smaller for the verifier by then). */
#define DELTA_MAX_IDS 4096

struct revlist {
	pthread_mutex_t lock;
	unsigned char *full; /* the signed full snapshot of full_epoch */
	size_t full_len;
	uint64_t full_epoch;
	size_t full_nids;
	unsigned char token_pk[32]; /* the token key that certified it: a rekey makes a new list */
};

void revlist_invalidate(struct revlist *rl)
{
	pthread_mutex_lock(&rl->lock);
	free(rl->full);
	rl->full = NULL;
	pthread_mutex_unlock(&rl->lock);
}

struct revlist *revlist_new(void)
{
	struct revlist *rl = calloc(1, sizeof(*rl));
	if (rl)
		pthread_mutex_init(&rl->lock, NULL);
	return rl;
}

void revlist_free(struct revlist *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl->full);
	free(rl);
}

void revlist_keys(unsigned char pk[32], unsigned char sk[64], unsigned char cert[64], const struct vault *v,
		  const struct zk_keys *k)
{
	unsigned char seed[32];
	crypto_kdf_derive_from_key(seed, sizeof(seed), ZK_SUBKEY_REVOCATION_ED25519, ZK_KDF_CONTEXT, k->vmk);
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
	zk_revsnap_cert(cert, v->vault_id, pk, k->token_sk);
}

static int sign_snapshot(unsigned char **out, size_t *len, struct zk_revsnap *s, const struct vault *v,
			 const struct zk_keys *k)
{
	unsigned char sk[64];
	memcpy(s->vault_id, v->vault_id, 16);
	revlist_keys(s->rev_pk, sk, s->cert, v, k);
	int rc = zk_revsnap_sign(out, len, s, sk);
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

static json_t *reply_json(const struct vault *v, const unsigned char *blob, size_t len, int kind, uint64_t epoch,
			  uint64_t since, size_t nids)
{
	char *b64 = zk_b64_dup(blob, len);
	json_t *o = json_pack("{sssIsssIsIss}", "vaultId", v->vault_id_hex, "epoch", (json_int_t)epoch, "kind",
			      kind == ZK_REVSNAP_FULL ? "full" : "delta", "bytes", (json_int_t)len, "ids",
			      (json_int_t)nids, "snapshot", b64 ? b64 : "");
	if (kind == ZK_REVSNAP_DELTA)
		json_object_set_new(o, "since", json_integer((json_int_t)since));
	free(b64);
	return o;
}

/* Reads 32-hex ids from a query into a growing array of 16-byte ids. */
static int collect(sqlite3 *db, const char *sql, int64_t arg, unsigned char (**ids)[16], size_t *n,
		   unsigned char **revoked_flags)
{
	sqlite3_stmt *q;
	size_t cap = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -1;
	if (arg >= 0)
		sqlite3_bind_int64(q, 1, arg);
	*ids = NULL;
	*n = 0;
	int rc = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 1024;
			void *p = realloc(*ids, cap * 16);
			void *f = revoked_flags ? realloc(*revoked_flags, cap) : NULL;
			if (!p || (revoked_flags && !f)) {
				free(p ? p : *ids);
				*ids = NULL;
				rc = -1;
				break;
			}
			*ids = p;
			if (revoked_flags)
				*revoked_flags = f;
		}
		const char *hex = (const char *)sqlite3_column_text(q, 0);
		/* Only 32-hex ids can name tokens; anything else cannot be presented and is left out. */
		if (!hex || zk_hex_decode_exact((*ids)[*n], 16, hex) != 0)
			continue;
		if (revoked_flags)
			(*revoked_flags)[*n] = (unsigned char)sqlite3_column_int(q, 1);
		(*n)++;
	}
	sqlite3_finalize(q);
	return rc;
}

struct build_arg {
	uint64_t epoch;
	unsigned char *blob;
	size_t len, nids;
};

static void build_arg_free(void *p)
{
	struct build_arg *a = p;
	free(a->blob);
	free(a);
}

/*
 * In the writer, inside its transaction: the universe is every token committed so far and unexpired, and the
 * coverage bound is then raised above every iat issued, so any later token has a larger iat.
 */
static int build_apply(struct vault *v, struct job *j)
{
	struct build_arg *a = j->arg;
	unsigned char (*all)[16] = NULL, (*extra)[16] = NULL, (*rev)[16] = NULL, (*ok)[16] = NULL, *flags = NULL;
	size_t nall = 0, nextra = 0, nrev = 0, nok = 0;
	unsigned char *casc = NULL, salt[ZK_CASCADE_SALT_BYTES], le[8];
	size_t casc_len = 0;
	int64_t now = zk_now_ms();
	int rc = 500;

	if (!v->keys)
		return 423;
	a->epoch = revocations_epoch(v->revoked);
	/* Requests that queued while an earlier job built this epoch's snapshot take that one. */
	pthread_mutex_lock(&v->revlist->lock);
	if (v->revlist->full && v->revlist->full_epoch == a->epoch &&
	    !memcmp(v->revlist->token_pk, v->keys->token_pk, 32))
		j->reply = reply_json(v, v->revlist->full, v->revlist->full_len, ZK_REVSNAP_FULL, a->epoch, 0,
				      v->revlist->full_nids);
	pthread_mutex_unlock(&v->revlist->lock);
	if (j->reply)
		return 0;
	if (collect(v->db,
		    "SELECT t.jti, r.jti IS NOT NULL FROM tokens t LEFT JOIN revocations r ON r.jti = t.jti "
		    "WHERE t.exp > ?", now, &all, &nall, &flags) != 0 ||
	    collect(v->db, "SELECT jti FROM revocations WHERE jti NOT IN (SELECT jti FROM tokens)", -1, &extra,
		    &nextra, NULL) != 0)
		goto out;
	if (!(rev = malloc((nall ? nall : 1) * 16)) || !(ok = malloc((nall ? nall : 1) * 16)))
		goto out;
	for (size_t i = 0; i < nall; i++)
		memcpy(flags[i] ? rev[nrev++] : ok[nok++], all[i], 16);
	randombytes_buf(salt, sizeof(salt));
	if (zk_cascade_build(&casc, &casc_len, (const unsigned char (*)[16])rev, nrev,
			     (const unsigned char (*)[16])ok, nok, salt) != 0)
		goto out;
	struct zk_revsnap s = { .kind = ZK_REVSNAP_FULL, .epoch = a->epoch, .built_ms = now,
				.covered_ms = revocations_cover(v->revoked, now), .cascade = casc,
				.cascade_len = casc_len, .ids = (const unsigned char *)extra, .nids = nextra };
	zk_store_u64le(le, (uint64_t)s.covered_ms);
	if (store_meta_put(v->db, "revocation_covered", le, sizeof(le)) != 0 ||
	    sign_snapshot(&a->blob, &a->len, &s, v, v->keys) != 0)
		goto out;
	a->nids = nextra;
	pthread_mutex_lock(&v->revlist->lock);
	if (!v->revlist->full || v->revlist->full_epoch <= a->epoch) {
		unsigned char *copy = malloc(a->len);
		if (copy) {
			memcpy(copy, a->blob, a->len);
			free(v->revlist->full);
			v->revlist->full = copy;
			v->revlist->full_len = a->len;
			v->revlist->full_epoch = a->epoch;
			v->revlist->full_nids = nextra;
			memcpy(v->revlist->token_pk, v->keys->token_pk, 32);
		}
	}
	pthread_mutex_unlock(&v->revlist->lock);
	j->reply = reply_json(v, a->blob, a->len, ZK_REVSNAP_FULL, a->epoch, 0, nextra);
	rc = 0;
out:
	if (rc)
		j->error = "Failed to build the revocation list";
	free(all);
	free(extra);
	free(rev);
	free(ok);
	free(flags);
	free(casc);
	return rc;
}

static void serve_full(struct vault *v, struct zk_http_req *r, uint64_t epoch)
{
	json_t *o = NULL;
	unsigned char token_pk[32];
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	memcpy(token_pk, v->token_pk, 32);
	zk_brlock_rdunlock(&v->state_lock, slot);
	pthread_mutex_lock(&v->revlist->lock);
	if (v->revlist->full && v->revlist->full_epoch == epoch && !memcmp(v->revlist->token_pk, token_pk, 32))
		o = reply_json(v, v->revlist->full, v->revlist->full_len, ZK_REVSNAP_FULL, epoch, 0,
			       v->revlist->full_nids);
	pthread_mutex_unlock(&v->revlist->lock);
	if (o) {
		zk_http_reply(r, 200, o);
		return;
	}
	struct build_arg *a = calloc(1, sizeof(*a));
	struct job *j = a ? job_new(build_apply, NULL, job_reply_done, r) : NULL;
	if (!j) {
		free(a);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	j->arg = a;
	j->free_arg = build_arg_free;
	defer_job(v, r, j);
}

/* Ids revoked in epochs (since, epoch], from the read-only connection; NULL when too many. */
static int read_delta(struct vault *v, uint64_t since, uint64_t epoch, unsigned char (**ids)[16], size_t *n)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT DISTINCT jti FROM revlog WHERE epoch > ? AND epoch <= %llu LIMIT %d",
		 (unsigned long long)epoch, DELTA_MAX_IDS + 1);
	pthread_mutex_lock(&v->rodb_lock);
	int rc = collect(v->rodb, sql, (int64_t)since, ids, n, NULL);
	pthread_mutex_unlock(&v->rodb_lock);
	return rc;
}

void handle_revocations(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	const char *sq = zk_http_query(r, "since");
	uint64_t since = 0;

	if (sq) {
		char *end;
		unsigned long long x = strtoull(sq, &end, 10);
		if (!*sq || *end || *sq == '-' || *sq == '+') {
			validation_error(r, "Invalid query parameters", "since: Expected a non-negative integer epoch");
			return;
		}
		since = x;
	}
	if (!v->initialized || v->ocmt_pending) {
		zk_http_error(r, 400, "Vault not initialized", NULL);
		return;
	}
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	uint64_t epoch = revocations_epoch(v->revoked);
	zk_brlock_rdunlock(&v->state_lock, slot);
	/* A delta only from an epoch this vault has passed (after a restore, the verifier starts over). */
	if (!sq || since > epoch) {
		serve_full(v, r, epoch);
		return;
	}
	unsigned char (*ids)[16] = NULL;
	size_t n = 0;
	if (read_delta(v, since, epoch, &ids, &n) != 0) {
		zk_http_error(r, 500, "Failed to read the revocation log", NULL);
		return;
	}
	if (n > DELTA_MAX_IDS) {
		free(ids);
		serve_full(v, r, epoch);
		return;
	}
	/* A delta is signed fresh (built_ms proves how recent it is); that needs the unlocked keys. */
	unsigned char *blob = NULL;
	size_t len = 0;
	struct zk_revsnap s = { .kind = ZK_REVSNAP_DELTA, .epoch = epoch, .since = since, .built_ms = zk_now_ms(),
				.ids = (const unsigned char *)ids, .nids = n };
	slot = zk_brlock_rdlock(&v->state_lock);
	int rc = v->keys ? sign_snapshot(&blob, &len, &s, v, v->keys) : 1;
	zk_brlock_rdunlock(&v->state_lock, slot);
	free(ids);
	if (rc == 1) {
		locked_error(v, r);
		return;
	}
	if (rc != 0) {
		zk_http_error(r, 500, "Failed to sign the revocation list", NULL);
		return;
	}
	zk_http_reply(r, 200, reply_json(v, blob, len, ZK_REVSNAP_DELTA, epoch, since, n));
	free(blob);
}
