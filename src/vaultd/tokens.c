#include "vaultd/tokens.h"

#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/paseto.h"

#define CACHE_SLOTS 4096
#define CACHE_STRIPES 16

struct cache_slot {
	bool used;
	uint64_t gen; /* valid only while equal to the cache's generation */
	unsigned char hash[ZK_HASH_BYTES];
	struct claims claims;
};

struct token_cache {
	pthread_mutex_t stripe[CACHE_STRIPES];
	struct cache_slot *slots;
	uint64_t gen; /* bumped by token_cache_clear, under all stripes */
};

struct token_cache *token_cache_new(void)
{
	struct token_cache *c = calloc(1, sizeof(*c));
	if (!c || !(c->slots = calloc(CACHE_SLOTS, sizeof(*c->slots)))) {
		free(c);
		return NULL;
	}
	for (int i = 0; i < CACHE_STRIPES; i++)
		pthread_mutex_init(&c->stripe[i], NULL);
	return c;
}

void token_cache_free(struct token_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < CACHE_STRIPES; i++)
		pthread_mutex_destroy(&c->stripe[i]);
	free(c->slots);
	free(c);
}

void token_cache_clear(struct token_cache *c)
{
	for (int i = 0; i < CACHE_STRIPES; i++)
		pthread_mutex_lock(&c->stripe[i]);
	/*
	 * A new generation instead of a pass over the slots: the table is 18 MB of calloc'd pages that become
	 * resident only when touched, and touching every slot at each unlock made all of it resident.
	 */
	c->gen++;
	for (int i = CACHE_STRIPES; i-- > 0;)
		pthread_mutex_unlock(&c->stripe[i]);
}

static size_t cache_slot(const unsigned char hash[ZK_HASH_BYTES])
{
	uint32_t x;
	memcpy(&x, hash, sizeof(x));
	return x % CACHE_SLOTS;
}

static bool cache_get(struct token_cache *c, const unsigned char hash[ZK_HASH_BYTES], struct claims *out)
{
	size_t i = cache_slot(hash);
	bool hit = false;
	pthread_mutex_lock(&c->stripe[i % CACHE_STRIPES]);
	if (c->slots[i].used && c->slots[i].gen == c->gen && !memcmp(c->slots[i].hash, hash, ZK_HASH_BYTES)) {
		*out = c->slots[i].claims;
		hit = true;
	}
	pthread_mutex_unlock(&c->stripe[i % CACHE_STRIPES]);
	return hit;
}

static void cache_put(struct token_cache *c, const unsigned char hash[ZK_HASH_BYTES], const struct claims *cl)
{
	size_t i = cache_slot(hash);
	pthread_mutex_lock(&c->stripe[i % CACHE_STRIPES]);
	c->slots[i].used = true;
	c->slots[i].gen = c->gen;
	memcpy(c->slots[i].hash, hash, ZK_HASH_BYTES);
	c->slots[i].claims = *cl;
	pthread_mutex_unlock(&c->stripe[i % CACHE_STRIPES]);
}

static const char *perm_names[] = { "read", "write", "delete", "use", "admin" };

unsigned perm_parse(const char *s)
{
	for (unsigned i = 0; i < sizeof(perm_names) / sizeof(perm_names[0]); i++)
		if (!strcmp(s, perm_names[i]))
			return 1u << i;
	return 0;
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
	rc = 0;
out:
	json_decref(o);
	return rc;
}

enum token_status token_check(struct vault *v, const char *token, struct claims *out)
{
	unsigned char hash[ZK_HASH_BYTES];
	size_t len = strlen(token);

	if (len > VAULTD_TOKEN_MAX || !v->initialized || v->ocmt_pending)
		return TOKEN_INVALID;
	crypto_generichash(hash, sizeof(hash), (const unsigned char *)token, len, NULL, 0);
	if (!cache_get(v->tcache, hash, out)) {
		unsigned char *msg = NULL;
		size_t mlen;
		if (zk_paseto_v4_public_verify(&msg, &mlen, NULL, token, NULL, NULL, v->token_pk) != 0)
			return TOKEN_INVALID;
		int rc = claims_parse(out, (const char *)msg, mlen, v->vault_id_hex, v->cfg.group_id);
		free(msg);
		if (rc != 0)
			return TOKEN_INVALID;
		cache_put(v->tcache, hash, out);
	}
	if (out->exp_ms < zk_now_ms() || revocations_has(v->revoked, out->jti) ||
	    out->iat_ms < revocations_not_before(v->revoked, out->sub))
		return TOKEN_INVALID;
	if (out->perms & (1u << 31))
		return TOKEN_WRONG_GROUP;
	return TOKEN_OK;
}

bool claims_allow_name(const struct claims *c, const char *name)
{
	for (int i = 0; i < c->npatterns; i++) {
		const char *p = c->patterns + c->pattern_off[i];
		size_t n = strlen(p);
		if (n && p[n - 1] == '*') {
			if (!strncmp(name, p, n - 1))
				return true;
		} else if (!strcmp(name, p)) {
			return true;
		}
	}
	return false;
}

bool claims_allow(const struct claims *c, const char *name, unsigned perm)
{
	return (c->perms & perm) && claims_allow_name(c, name);
}

char *token_issue(struct vault *v, const struct zk_keys *k, const char *sub, json_t *allowed, unsigned perms,
		  int64_t ttl_s, char jti[33], int64_t *exp_ms)
{
	unsigned char id[16];
	char iat[ZK_ISO8601_MAX], exp[ZK_ISO8601_MAX], kid[ZK_PASERK_K4_PID_MAX], footer[128];
	int64_t now = zk_now_ms();
	json_t *pa = json_array();
	char *text, *token = NULL;

	randombytes_buf(id, sizeof(id));
	sodium_bin2hex(jti, 33, id, sizeof(id));
	*exp_ms = now + ttl_s * 1000;
	zk_iso8601(iat, now);
	zk_iso8601(exp, *exp_ms);
	for (unsigned i = 0; i < sizeof(perm_names) / sizeof(perm_names[0]); i++)
		if (perms & (1u << i))
			json_array_append_new(pa, json_string(perm_names[i]));
	json_t *o = json_pack("{sssssssssssssOso}", "iss", v->vault_id_hex, "sub", sub, "jti", jti, "iat", iat,
			      "exp", exp, "groupId", v->cfg.group_id ? v->cfg.group_id : "", "allowedSecrets",
			      allowed, "permissions", pa);
	if (!o || !(text = json_dumps(o, JSON_COMPACT))) {
		json_decref(o);
		return NULL;
	}
	json_decref(o);
	if (zk_paserk_k4_pid(kid, k->token_pk) == 0) {
		snprintf(footer, sizeof(footer), "{\"kid\":\"%s\"}", kid);
		zk_paseto_v4_public_sign(&token, (unsigned char *)text, strlen(text), footer, NULL, k->token_sk);
	}
	zk_wipe_str(text);
	return token;
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
	return 0;
}
