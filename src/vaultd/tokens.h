#ifndef ZK_VAULTD_TOKENS_H
#define ZK_VAULTD_TOKENS_H

/*
 * Capability tokens: PASETO v4.public signed with the vault's token subkey (docs/FORMAT.md §Tokens).
 * Verification is cached by BLAKE2b-256 of the token; expiry, revocation and the subject's not-before are
 * checked on every request.
 */
#include "vaultd/vaultd.h"

enum token_status { TOKEN_OK = 0, TOKEN_INVALID = 401, TOKEN_WRONG_GROUP = 403 };

/*
 * Verifies a token (a root alone, or an attenuation chain) and returns its effective claims: the chain's
 * narrowest caveats, further narrowed by the subject's capability ceiling. Expiry, revocation of the root or of
 * any block, the subject's not-before and the ceiling are checked on every call; signatures only on a cache miss.
 * A token with an audience is accepted only when agent (the request's X-Agent-Id) equals it, and a token with a
 * use limit spends one use per call. Caller holds the state read lock (revocations and ceilings are state).
 */
enum token_status token_check_agent(struct vault *v, const char *token, const char *agent, struct claims *out);
/* token_check_agent without an agent: tokens with an audience are refused. */
enum token_status token_check(struct vault *v, const char *token, struct claims *out);
/* For introspection: the same checks, but the audience is not required and no use is spent. */
enum token_status token_inspect(struct vault *v, const char *token, struct claims *out);
/*
 * Parses the JSON claims of a verified token into c (zeroed first): iss must equal vault_id_hex; a groupId other
 * than group_id (or a NULL group_id) sets bit 31 of c->perms, which token_check answers with 403. Optional
 * "aud", "maxUses" and "nextKey" (the first attenuation key) are parsed too.
 * Returns 0, or -1 when the claims are malformed.
 */
int claims_parse(struct claims *c, const char *text, size_t len, const char *vault_id_hex, const char *group_id);
bool claims_allow(const struct claims *c, const char *name, unsigned perm);
bool claims_allow_name(const struct claims *c, const char *name);

/*
 * Signs a root token at iat_ms with a fresh attenuation key: returns a malloc'd "root~proof" string or NULL.
 * aud may be NULL; max_uses 0 means no use limit.
 */
char *token_issue(struct vault *v, const struct zk_keys *k, const char *sub, json_t *allowed, unsigned perms,
		  int64_t ttl_s, const char *aud, uint32_t max_uses, int64_t iat_ms, char jti[33], int64_t *exp_ms);
/* POST /tokens/introspect (token_routes.c) */
void handle_token_introspect(struct zk_http_req *r, void *app);
/* Parses one permission name; returns its bit or 0. */
unsigned perm_parse(const char *s);

struct token_cache *token_cache_new(void);
void token_cache_free(struct token_cache *c);
void token_cache_clear(struct token_cache *c);
/* How many token checks missed the cache and verified the chain, since start. */
uint64_t token_cache_verifications(struct token_cache *c);

struct revocations *revocations_new(void);
void revocations_free(struct revocations *r);
bool revocations_has(const struct revocations *r, const char *jti);
int revocations_add(struct revocations *r, const char *jti);
int64_t revocations_not_before(const struct revocations *r, const char *sub);
int revocations_set_not_before(struct revocations *r, const char *sub, int64_t ms);
/* Loads revocations, not-before times, the epoch, ceilings (ceilings.c) at start and after an import. */
int revocations_load(struct vault *v);
size_t revocations_count(const struct revocations *r);
/* The revocation epoch: +1 for every committed change that revokes something (docs/API.md GET /revocations). */
uint64_t revocations_epoch(const struct revocations *r);
void revocations_set_epoch(struct revocations *r, uint64_t epoch);
/*
 * Writer thread only: the iat of a token issued now (never below the last snapshot's coverage, nor below the
 * subject's not-before, so every token a snapshot does not cover has a later iat), and the coverage bound.
 */
int64_t revocations_next_iat(struct revocations *r, int64_t now, int64_t not_before);
int64_t revocations_cover(struct revocations *r, int64_t now);

#endif
