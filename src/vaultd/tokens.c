#include "lib/crypto.h"
#include "vaultd/tokens.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/paseto.h"
#include "lib/thread.h"
#include "lib/tokenchain.h"
#include "vaultd/ceilings.h"
#include "vaultd/revlist.h"

/*
 * The verification cache is 8-way set associative (a set's pointers are one cache line), each set kept in
 * recency order. It was direct-mapped: two live tokens whose hashes met in one slot evicted each other on every
 * alternate use, and each miss is a full chain verification (Ed25519, PASETO and JSON parsing) — with 100 tokens
 * in 4,096 slots that happens in seven vaults out of ten (the birthday bound).
 */
#define CACHE_WAYS 8
#define CACHE_SETS 512
#define CACHE_SLOTS (CACHE_WAYS * CACHE_SETS)
#define CACHE_STRIPES 16

/* What the root itself limited, before blocks narrowed the claims: its use limit binds every descendant. */
struct root_limits {
	uint32_t max_uses;
	int64_t exp_ms;
};

/*
 * A slot is a pointer; what it points to holds the claims at their used size (claims_size), not the 4.9 KB of
 * struct claims, which is mostly room for patterns. The table is 32 KB and 100 cached tokens cost tens of KB; a
 * hit copies a few hundred bytes.
 */
struct cache_entry {
	uint64_t gen; /* valid only while equal to the cache's generation */
	unsigned char hash[ZK_HASH_BYTES];
	struct root_limits lim;
	size_t claims_len;
	unsigned char claims[]; /* the first claims_len bytes of a struct claims */
};

/* Use counters of tokens with a use limit, keyed by the revocation id of the level that set the limit. Not
   cleared at lock (a lock must not give uses back); lost at restart (docs/SECURITY.md). */
#define USE_SLOTS 4096

struct use_slot {
	char rid[33];
	uint32_t count;
	int64_t exp_ms;
};

struct token_cache {
	pthread_mutex_t stripe[CACHE_STRIPES];
	struct cache_entry **slots;
	uint64_t gen; /* bumped by token_cache_clear, under all stripes */
	atomic_uint_fast64_t verifications; /* cold chain verifications: the misses */
	pthread_mutex_t use_lock;
	struct use_slot *uses;
	size_t nuses;
};

struct token_cache *token_cache_new(void)
{
	struct token_cache *c = calloc(1, sizeof(*c));
	/* Aligned, so that each set of 8 pointers is one cache line. */
	if (!c || !(c->slots = aligned_alloc(64, CACHE_SLOTS * sizeof(*c->slots))) ||
	    !(c->uses = calloc(USE_SLOTS, sizeof(*c->uses)))) {
		if (c)
			free(c->slots);
		free(c);
		return NULL;
	}
	memset(c->slots, 0, CACHE_SLOTS * sizeof(*c->slots));
	for (int i = 0; i < CACHE_STRIPES; i++)
		zk_mutex_init_adaptive(&c->stripe[i]); /* taken by every request */
	pthread_mutex_init(&c->use_lock, NULL);
	return c;
}

void token_cache_free(struct token_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < CACHE_STRIPES; i++)
		pthread_mutex_destroy(&c->stripe[i]);
	pthread_mutex_destroy(&c->use_lock);
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		free(c->slots[i]);
	free(c->slots);
	free(c->uses);
	free(c);
}

void token_cache_clear(struct token_cache *c)
{
	for (int i = 0; i < CACHE_STRIPES; i++)
		pthread_mutex_lock(&c->stripe[i]);
	/* A new generation instead of a pass over the slots, which would make the whole table resident. */
	c->gen++;
	for (int i = CACHE_STRIPES; i-- > 0;)
		pthread_mutex_unlock(&c->stripe[i]);
}

uint64_t token_cache_verifications(struct token_cache *c)
{
	return atomic_load_explicit(&c->verifications, memory_order_relaxed);
}

static size_t hash_index(const unsigned char hash[ZK_HASH_BYTES], size_t n)
{
	uint32_t x;
	memcpy(&x, hash, sizeof(x));
	return x % n;
}

/* The bytes of c up to the end of its last pattern. */
static size_t claims_size(const struct claims *c)
{
	size_t end = 0;
	for (int i = 0; i < c->npatterns; i++) {
		size_t e = c->pattern_off[i] + strnlen(c->patterns + c->pattern_off[i],
							sizeof(c->patterns) - c->pattern_off[i]) + 1;
		if (e > end)
			end = e;
	}
	return offsetof(struct claims, patterns) + (end < sizeof(c->patterns) ? end : sizeof(c->patterns));
}

static bool cache_get(struct token_cache *c, const unsigned char hash[ZK_HASH_BYTES], struct claims *out,
		      struct root_limits *lim)
{
	size_t set = hash_index(hash, CACHE_SETS);
	struct cache_entry **ways = c->slots + set * CACHE_WAYS;
	bool hit = false;
	pthread_mutex_lock(&c->stripe[set % CACHE_STRIPES]);
	for (int w = 0; w < CACHE_WAYS; w++) {
		struct cache_entry *e = ways[w];
		if (!e || e->gen != c->gen || memcmp(e->hash, hash, ZK_HASH_BYTES) != 0)
			continue;
		memcpy(out, e->claims, e->claims_len);
		*lim = e->lim;
		hit = true;
		if (w) { /* most recently used first */
			memmove(ways + 1, ways, (size_t)w * sizeof(*ways));
			ways[0] = e;
		}
		break;
	}
	pthread_mutex_unlock(&c->stripe[set % CACHE_STRIPES]);
	return hit;
}

static void cache_put(struct token_cache *c, const unsigned char hash[ZK_HASH_BYTES], const struct claims *cl,
		      const struct root_limits *lim)
{
	size_t set = hash_index(hash, CACHE_SETS), len = claims_size(cl);
	struct cache_entry **ways = c->slots + set * CACHE_WAYS, *e = malloc(sizeof(*e) + len), *old;
	int w;
	if (!e)
		return; /* not cached: the next check verifies again */
	memcpy(e->hash, hash, ZK_HASH_BYTES);
	e->lim = *lim;
	e->claims_len = len;
	memcpy(e->claims, cl, len);
	pthread_mutex_lock(&c->stripe[set % CACHE_STRIPES]);
	e->gen = c->gen;
	/* The way to reuse: this token's own (another thread verified it too), a free or stale one, else the LRU. */
	for (w = 0; w < CACHE_WAYS - 1; w++)
		if (!ways[w] || ways[w]->gen != c->gen || !memcmp(ways[w]->hash, hash, ZK_HASH_BYTES))
			break;
	old = ways[w];
	memmove(ways + 1, ways, (size_t)w * sizeof(*ways));
	ways[0] = e;
	pthread_mutex_unlock(&c->stripe[set % CACHE_STRIPES]);
	free(old);
}

unsigned perm_parse(const char *s)
{
	return zk_chain_perm_parse(s);
}

int claims_parse(struct claims *c, const char *text, size_t len, const char *vault_id_hex, const char *group_id)
{
	json_error_t e;
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e), *a, *x;
	size_t i, used = 0;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(o))
		goto out;
	const char *iss = json_string_value(json_object_get(o, "iss"));
	const char *sub = json_string_value(json_object_get(o, "sub"));
	const char *jti = json_string_value(json_object_get(o, "jti"));
	const char *gid = json_string_value(json_object_get(o, "groupId"));
	if (!iss || strcmp(iss, vault_id_hex) != 0 || !sub || strlen(sub) >= sizeof(c->sub) || !jti ||
	    strlen(jti) != 32 || !gid)
		goto out;
	if (zk_parse_iso8601(&c->iat_ms, json_string_value(json_object_get(o, "iat"))) != 0 ||
	    zk_parse_iso8601(&c->exp_ms, json_string_value(json_object_get(o, "exp"))) != 0)
		goto out;
	strcpy(c->sub, sub);
	strcpy(c->jti, jti);
	/* A token for another group is answered 403, as the reference does; mark it with no permissions. */
	if (!group_id || strcmp(gid, group_id) != 0)
		c->perms = 1u << 31;
	a = json_object_get(o, "permissions");
	if (!json_is_array(a))
		goto out;
	json_array_foreach(a, i, x) {
		unsigned p = json_is_string(x) ? perm_parse(json_string_value(x)) : 0;
		if (!p)
			goto out;
		c->perms |= p;
	}
	a = json_object_get(o, "allowedSecrets");
	if (!json_is_array(a) || json_array_size(a) > CLAIMS_MAX_PATTERNS)
		goto out;
	json_array_foreach(a, i, x) {
		const char *p = json_string_value(x);
		size_t n = p ? strlen(p) : 0;
		if (!p || used + n + 1 > sizeof(c->patterns))
			goto out;
		c->pattern_off[c->npatterns++] = (uint16_t)used;
		memcpy(c->patterns + used, p, n + 1);
		used += n + 1;
	}
	if ((x = json_object_get(o, "aud"))) {
		const char *aud = json_string_value(x);
		if (!aud || !zk_chain_aud_valid(aud, strlen(aud)))
			goto out;
		strcpy(c->aud, aud);
	}
	if ((x = json_object_get(o, "maxUses"))) {
		if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > UINT32_MAX)
			goto out;
		c->max_uses = (uint32_t)json_integer_value(x);
	}
	if ((x = json_object_get(o, "nextKey"))) {
		const char *k = json_string_value(x);
		size_t n = 0;
		if (!k || zk_base642bin(c->next_pk, sizeof(c->next_pk), k, strlen(k), &n, NULL,
					    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
		    n != sizeof(c->next_pk))
			goto out;
		c->has_next = true;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static void caveats_from_claims(struct zk_caveats *cav, const struct claims *c)
{
	cav->exp_ms = c->exp_ms;
	cav->perms = c->perms & ZK_CHAIN_PERMS_ALL;
	cav->max_uses = c->max_uses;
	memcpy(cav->aud, c->aud, sizeof(cav->aud));
	cav->npatterns = c->npatterns;
	memcpy(cav->pattern_off, c->pattern_off, sizeof(cav->pattern_off));
	memcpy(cav->patterns, c->patterns, sizeof(cav->patterns));
}

/*
 * The caveats of depth n of the chain (block n's; n >= 1) replace the root's; sub, jti, iat and the group mark
 * stay the root's. next_pk becomes block n's key, the one that signs block n + 1.
 */
static void claims_narrow_to(struct claims *c, const struct zk_chain *ch, const struct zk_caveats *eff, int n)
{
	c->exp_ms = eff->exp_ms;
	c->perms = (c->perms & (1u << 31)) | eff->perms;
	memcpy(c->aud, eff->aud, sizeof(c->aud));
	c->npatterns = eff->npatterns;
	memcpy(c->pattern_off, eff->pattern_off, sizeof(c->pattern_off));
	memcpy(c->patterns, eff->patterns, sizeof(c->patterns));
	c->nrids = n;
	for (int i = 0; i < n; i++) {
		sodium_bin2hex(c->rids[i], sizeof(c->rids[i]), ch->block[i].rid, ZK_CHAIN_RID_BYTES);
		c->rid_max_uses[i] = ch->block[i].cav.max_uses;
	}
	c->max_uses = eff->max_uses;
	if (n)
		memcpy(c->next_pk, ch->block[n - 1].next_pk, sizeof(c->next_pk));
}

/*
 * Verified chain prefixes (the root and its first k blocks, without the proof) are cached too, under a keyed
 * hash so that a prefix entry can never answer for a whole token: a new child of a token already seen then
 * costs only its own blocks' signatures and the proof.
 */
static const unsigned char PREFIX_KEY[16] = "zkv1-chain-pfx!";

static void prefix_hashes(unsigned char h[][ZK_HASH_BYTES], const char *token, const struct zk_chain *ch)
{
	crypto_generichash_state st, snap;
	const char *sep = token + ch->root_len; /* the "~" after the root */
	crypto_generichash_init(&st, PREFIX_KEY, sizeof(PREFIX_KEY), ZK_HASH_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)token, ch->root_len);
	for (int k = 0;; k++) {
		snap = st;
		crypto_generichash_final(&snap, h[k], ZK_HASH_BYTES);
		if (k == ch->nblocks)
			break;
		const char *next = strchr(sep + 1, ZK_CHAIN_SEP);
		crypto_generichash_update(&st, (const unsigned char *)sep, (size_t)(next - sep));
		sep = next;
	}
}

/* The root under the vault's token key: its claims, with nothing narrowed yet. */
static int verify_root(struct vault *v, const struct zk_chain *ch, struct claims *out, struct root_limits *lim)
{
	unsigned char *msg = NULL;
	size_t mlen;
	char *root = strndup(ch->root, ch->root_len);
	int rc = -1;
	if (root && zk_paseto_v4_public_verify(&msg, &mlen, NULL, root, NULL, NULL, v->token_pk) == 0 &&
	    claims_parse(out, (const char *)msg, mlen, v->vault_id_hex, v->cfg.group_id) == 0) {
		lim->max_uses = out->max_uses;
		lim->exp_ms = out->exp_ms;
		rc = 0;
	}
	free(msg);
	free(root);
	return rc;
}

/* Signature work: the root under the vault's token key (unless a verified prefix is cached), every further block
   of the chain, and the proof. */
static enum token_status verify_cold(struct vault *v, const char *token, struct claims *out,
				     struct root_limits *lim)
{
	struct zk_chain *ch = NULL;
	unsigned char (*ph)[ZK_HASH_BYTES] = NULL;
	struct zk_caveats *cav = NULL, *eff = NULL;
	struct claims *prefix = NULL;
	enum token_status st = TOKEN_INVALID;
	int from = -1;

	if (zk_chain_parse(&ch, token) != 0)
		goto out;
	if (!ch->has_proof) {
		/* A root without an attenuation key stands alone (and one with a key never does). */
		if (verify_root(v, ch, out, lim) == 0 && !out->has_next)
			st = TOKEN_OK;
		goto out;
	}
	if (!(ph = malloc((size_t)(ch->nblocks + 1) * sizeof(*ph))) || !(cav = malloc(sizeof(*cav))) ||
	    !(eff = malloc(sizeof(*eff))) || !(prefix = malloc(sizeof(*prefix))))
		goto out;
	prefix_hashes(ph, token, ch);
	for (int k = ch->nblocks; k >= 0 && from < 0; k--)
		if (cache_get(v->tcache, ph[k], out, lim))
			from = k;
	if (from < 0) {
		if (verify_root(v, ch, out, lim) != 0 || !out->has_next)
			goto out;
		from = 0;
	}
	caveats_from_claims(cav, out);
	if (zk_chain_verify(ch, from, cav, out->next_pk, eff) != 0)
		goto out;
	/* Every prefix is now known good: remember those not cached yet. */
	for (int k = from == 0 ? 0 : from + 1; k <= ch->nblocks; k++) {
		memcpy(prefix, out, sizeof(*prefix));
		if (k > from)
			claims_narrow_to(prefix, ch, &ch->block[k - 1].cav, k);
		cache_put(v->tcache, ph[k], prefix, lim);
	}
	if (ch->nblocks > from)
		claims_narrow_to(out, ch, eff, ch->nblocks);
	st = TOKEN_OK;
out:
	free(ph);
	free(cav);
	free(eff);
	free(prefix);
	zk_chain_free(ch);
	return st;
}

static bool any_revoked(const struct revocations *r, const struct claims *c)
{
	if (revocations_has(r, c->jti))
		return true;
	for (int i = 0; i < c->nrids; i++)
		if (revocations_has(r, c->rids[i]))
			return true;
	return false;
}

static struct use_slot *use_find(struct token_cache *tc, const char *rid, int64_t exp_ms)
{
	size_t i = hash_index((const unsigned char *)rid, USE_SLOTS);
	for (size_t n = 0; n < USE_SLOTS; n++, i = (i + 1) % USE_SLOTS) {
		struct use_slot *u = &tc->uses[i];
		if (u->rid[0] && !strcmp(u->rid, rid))
			return u;
		if (!u->rid[0]) {
			snprintf(u->rid, sizeof(u->rid), "%s", rid);
			u->count = 0;
			u->exp_ms = exp_ms;
			tc->nuses++;
			return u;
		}
	}
	return NULL;
}

/* Drops the counters of expired tokens when the table fills up (rebuilt in place). */
static void use_sweep(struct token_cache *tc, int64_t now)
{
	struct use_slot *old = tc->uses, *fresh = calloc(USE_SLOTS, sizeof(*fresh));
	if (!fresh)
		return;
	tc->uses = fresh;
	tc->nuses = 0;
	for (size_t i = 0; i < USE_SLOTS; i++)
		if (old[i].rid[0] && old[i].exp_ms >= now) {
			struct use_slot *u = use_find(tc, old[i].rid, old[i].exp_ms);
			if (u)
				u->count = old[i].count;
		}
	free(old);
}

/*
 * One use of every level that set a limit; all or nothing. Counters live until the root expires (no descendant
 * outlives it). Fails closed when the table is full.
 */
static bool spend_use(struct token_cache *tc, const struct claims *c, const struct root_limits *lim, int64_t now)
{
	struct use_slot *slot[CLAIMS_MAX_BLOCKS + 1];
	uint32_t limit[CLAIMS_MAX_BLOCKS + 1];
	int n = 0;
	bool ok = true;

	pthread_mutex_lock(&tc->use_lock);
	if (tc->nuses * 4 >= USE_SLOTS * 3)
		use_sweep(tc, now);
	if (lim->max_uses) {
		limit[n] = lim->max_uses;
		slot[n++] = use_find(tc, c->jti, lim->exp_ms);
	}
	for (int i = 0; i < c->nrids; i++)
		if (c->rid_max_uses[i]) {
			limit[n] = c->rid_max_uses[i];
			slot[n++] = use_find(tc, c->rids[i], lim->exp_ms);
		}
	for (int i = 0; i < n; i++)
		if (!slot[i] || slot[i]->count >= limit[i])
			ok = false;
	if (ok)
		for (int i = 0; i < n; i++)
			slot[i]->count++;
	pthread_mutex_unlock(&tc->use_lock);
	return ok;
}

enum check_mode { CHECK_USE, CHECK_INSPECT };

struct cached {
	struct claims claims;
	uint32_t root_max_uses;
};

static enum token_status check(struct vault *v, const char *token, const char *agent, enum check_mode mode,
			       struct claims *out)
{
	unsigned char hash[ZK_HASH_BYTES];
	size_t len = strlen(token);
	int64_t now = zk_now_ms();
	struct root_limits lim;

	if (len > VAULTD_TOKEN_MAX || !v->initialized || v->ocmt_pending)
		return TOKEN_INVALID;
	crypto_generichash(hash, sizeof(hash), (const unsigned char *)token, len, NULL, 0);
	if (!cache_get(v->tcache, hash, out, &lim)) {
		atomic_fetch_add_explicit(&v->tcache->verifications, 1, memory_order_relaxed);
		if (verify_cold(v, token, out, &lim) != TOKEN_OK)
			return TOKEN_INVALID;
		cache_put(v->tcache, hash, out, &lim);
	}
	if (out->exp_ms < now || any_revoked(v->revoked, out) ||
	    out->iat_ms < revocations_not_before(v->revoked, out->sub))
		return TOKEN_INVALID;
	/* The ceiling is policy of now, not of issuance: lowering it narrows live tokens. */
	const struct ceiling *ceiling = ceilings_find(v->ceilings, out->sub);
	if (ceiling) {
		ceiling_narrow(ceiling, out);
		if (out->exp_ms < now)
			return TOKEN_INVALID;
	}
	if (out->perms & (1u << 31))
		return TOKEN_WRONG_GROUP;
	if (mode == CHECK_INSPECT)
		return TOKEN_OK;
	if (out->aud[0] && (!agent || strcmp(agent, out->aud) != 0))
		return TOKEN_INVALID;
	if ((lim.max_uses || out->max_uses) && !spend_use(v->tcache, out, &lim, now))
		return TOKEN_INVALID;
	return TOKEN_OK;
}

enum token_status token_check_agent(struct vault *v, const char *token, const char *agent, struct claims *out)
{
	return check(v, token, agent, CHECK_USE, out);
}

enum token_status token_check(struct vault *v, const char *token, struct claims *out)
{
	return check(v, token, NULL, CHECK_USE, out);
}

enum token_status token_inspect(struct vault *v, const char *token, struct claims *out)
{
	return check(v, token, NULL, CHECK_INSPECT, out);
}

bool claims_allow_name(const struct claims *c, const char *name)
{
	for (int i = 0; i < c->npatterns; i++)
		if (zk_pattern_covers(c->patterns + c->pattern_off[i], name))
			return true;
	return false;
}

bool claims_allow(const struct claims *c, const char *name, unsigned perm)
{
	return (c->perms & perm) && claims_allow_name(c, name);
}

char *token_issue(struct vault *v, const struct zk_keys *k, const char *sub, json_t *allowed, unsigned perms,
		  int64_t ttl_s, const char *aud, uint32_t max_uses, int64_t iat_ms, char jti[33], int64_t *exp_ms)
{
	unsigned char id[16], next_pk[32], next_sk[64];
	char iat[ZK_ISO8601_MAX], exp[ZK_ISO8601_MAX], kid[ZK_PASERK_K4_PID_MAX], footer[128];
	char next_b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	char proof_b64[sizeof(next_b64)];
	json_t *pa = json_array();
	char *text, *token = NULL, *out = NULL;

	randombytes_buf(id, sizeof(id));
	sodium_bin2hex(jti, 33, id, sizeof(id));
	*exp_ms = iat_ms + ttl_s * 1000;
	zk_iso8601(iat, iat_ms);
	zk_iso8601(exp, *exp_ms);
	for (unsigned i = 0; i < 5; i++)
		if (perms & (1u << i))
			json_array_append_new(pa, json_string(zk_chain_perm_name(1u << i)));
	/* The first attenuation key: its public half is signed into the root, its seed is the holder's proof. */
	crypto_sign_keypair(next_pk, next_sk);
	sodium_bin2base64(next_b64, sizeof(next_b64), next_pk, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_bin2base64(proof_b64, sizeof(proof_b64), next_sk, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(next_sk, sizeof(next_sk));
	json_t *o = json_pack("{sssssssssssssOsoss}", "iss", v->vault_id_hex, "sub", sub, "jti", jti, "iat", iat,
			      "exp", exp, "groupId", v->cfg.group_id ? v->cfg.group_id : "", "allowedSecrets",
			      allowed, "permissions", pa, "nextKey", next_b64);
	if (o && aud)
		json_object_set_new(o, "aud", json_string(aud));
	if (o && max_uses)
		json_object_set_new(o, "maxUses", json_integer(max_uses));
	if (!o || !(text = json_dumps(o, JSON_COMPACT))) {
		json_decref(o);
		sodium_memzero(proof_b64, sizeof(proof_b64));
		return NULL;
	}
	json_decref(o);
	if (zk_paserk_k4_pid(kid, k->token_pk) == 0) {
		snprintf(footer, sizeof(footer), "{\"kid\":\"%s\"}", kid);
		zk_paseto_v4_public_sign(&token, (unsigned char *)text, strlen(text), footer, NULL, k->token_sk);
	}
	zk_wipe_str(text);
	if (token && asprintf(&out, "%s%c%s", token, ZK_CHAIN_SEP, proof_b64) < 0)
		out = NULL;
	sodium_memzero(proof_b64, sizeof(proof_b64));
	free(token);
	return out;
}

/* Revoked token ids (a hash set) and per-subject not-before times. Mutated only under the state write lock. */
struct revocations {
	char (*ids)[33];
	size_t cap, count;
	struct subject {
		char sub[129];
		int64_t not_before;
	} *subjects;
	size_t nsubjects, subjects_cap;
	uint64_t epoch;
	int64_t last_iat; /* writer thread */
	int64_t covered;  /* writer thread: the last snapshot's coverage bound */
};

struct revocations *revocations_new(void)
{
	return calloc(1, sizeof(struct revocations));
}

void revocations_free(struct revocations *r)
{
	if (!r)
		return;
	free(r->ids);
	free(r->subjects);
	free(r);
}

static size_t id_slot(const char *jti, size_t cap)
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, (const unsigned char *)jti, strlen(jti),
			 (const unsigned char *)"zkvault-revoked!");
	return (size_t)h & (cap - 1);
}

bool revocations_has(const struct revocations *r, const char *jti)
{
	if (!r->cap)
		return false;
	for (size_t i = id_slot(jti, r->cap);; i = (i + 1) & (r->cap - 1)) {
		if (!r->ids[i][0])
			return false;
		if (!strcmp(r->ids[i], jti))
			return true;
	}
}

int revocations_add(struct revocations *r, const char *jti)
{
	if (strlen(jti) > 32 || revocations_has(r, jti))
		return 0;
	if ((r->count + 1) * 2 > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		char(*ids)[33] = calloc(cap, sizeof(*ids));
		if (!ids)
			return -1;
		for (size_t i = 0; i < r->cap; i++) {
			if (!r->ids[i][0])
				continue;
			size_t j = id_slot(r->ids[i], cap);
			while (ids[j][0])
				j = (j + 1) & (cap - 1);
			memcpy(ids[j], r->ids[i], 33);
		}
		free(r->ids);
		r->ids = ids;
		r->cap = cap;
	}
	size_t i = id_slot(jti, r->cap);
	while (r->ids[i][0])
		i = (i + 1) & (r->cap - 1);
	snprintf(r->ids[i], 33, "%s", jti);
	r->count++;
	return 0;
}

size_t revocations_count(const struct revocations *r)
{
	return r->count;
}

uint64_t revocations_epoch(const struct revocations *r)
{
	return r->epoch;
}

void revocations_set_epoch(struct revocations *r, uint64_t epoch)
{
	r->epoch = epoch;
}

int64_t revocations_next_iat(struct revocations *r, int64_t now, int64_t not_before)
{
	int64_t iat = now;
	if (iat <= r->covered)
		iat = r->covered + 1;
	if (iat < not_before)
		iat = not_before;
	if (iat > r->last_iat)
		r->last_iat = iat;
	return iat;
}

int64_t revocations_cover(struct revocations *r, int64_t now)
{
	int64_t t = now > r->last_iat ? now : r->last_iat;
	if (t < r->covered)
		t = r->covered;
	r->covered = t;
	return t;
}

static int64_t meta_i64(sqlite3 *db, const char *k)
{
	unsigned char *buf;
	size_t len;
	int64_t v = 0;
	if (store_meta_get(db, k, &buf, &len) == 0) {
		if (len == 8)
			v = (int64_t)zk_load_u64le(buf);
		free(buf);
	}
	return v;
}

int64_t revocations_not_before(const struct revocations *r, const char *sub)
{
	for (size_t i = 0; i < r->nsubjects; i++)
		if (!strcmp(r->subjects[i].sub, sub))
			return r->subjects[i].not_before;
	return 0;
}

int revocations_set_not_before(struct revocations *r, const char *sub, int64_t ms)
{
	for (size_t i = 0; i < r->nsubjects; i++)
		if (!strcmp(r->subjects[i].sub, sub)) {
			r->subjects[i].not_before = ms;
			return 0;
		}
	if (r->nsubjects == r->subjects_cap) {
		size_t cap = r->subjects_cap ? r->subjects_cap * 2 : 16;
		struct subject *s = realloc(r->subjects, cap * sizeof(*s));
		if (!s)
			return -1;
		r->subjects = s;
		r->subjects_cap = cap;
	}
	snprintf(r->subjects[r->nsubjects].sub, sizeof(r->subjects[0].sub), "%s", sub);
	r->subjects[r->nsubjects++].not_before = ms;
	return 0;
}

int revocations_load(struct vault *v)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(v->db, "SELECT jti FROM revocations", -1, &q, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(q) == SQLITE_ROW)
		revocations_add(v->revoked, (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(v->db, "SELECT sub, not_before FROM subjects", -1, &q, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(q) == SQLITE_ROW)
		revocations_set_not_before(v->revoked, (const char *)sqlite3_column_text(q, 0),
					   sqlite3_column_int64(q, 1));
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(v->db, "SELECT coalesce(max(epoch), 0) FROM revlog", -1, &q, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(q) == SQLITE_ROW)
		v->revoked->epoch = (uint64_t)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	v->revoked->last_iat = meta_i64(v->db, "token_last_iat");
	v->revoked->covered = meta_i64(v->db, "revocation_covered");
	if ((!v->ceilings && !(v->ceilings = ceilings_new())) || (!v->revlist && !(v->revlist = revlist_new())))
		return -1;
	revlist_invalidate(v->revlist);
	return ceilings_load(v);
}
