#ifndef ZK_VAULTD_TOKENS_H
#define ZK_VAULTD_TOKENS_H

/*
 * Capability tokens: PASETO v4.public signed with the vault's token subkey (docs/FORMAT.md §Tokens).
 * Verification is cached by BLAKE2b-256 of the token; expiry, revocation and the subject's not-before are
 * checked on every request.
 */
#include "vaultd/vaultd.h"

enum token_status { TOKEN_OK = 0, TOKEN_INVALID = 401, TOKEN_WRONG_GROUP = 403 };

/* Caller holds the state read lock (revocations are state). */
enum token_status token_check(struct vault *v, const char *token, struct claims *out);
/*
 * Parses the JSON claims of a verified token into c (zeroed first): iss must equal vault_id_hex; a groupId other
 * than group_id (or a NULL group_id) sets bit 31 of c->perms, which token_check answers with 403.
 * Returns 0, or -1 when the claims are malformed.
 */
int claims_parse(struct claims *c, const char *text, size_t len, const char *vault_id_hex, const char *group_id);
bool claims_allow(const struct claims *c, const char *name, unsigned perm);
bool claims_allow_name(const struct claims *c, const char *name);

/* Signs a token; returns a malloc'd string or NULL. */
char *token_issue(struct vault *v, const struct zk_keys *k, const char *sub, json_t *allowed, unsigned perms,
		  int64_t ttl_s, char jti[33], int64_t *exp_ms);
/* Parses one permission name; returns its bit or 0. */
unsigned perm_parse(const char *s);

struct token_cache *token_cache_new(void);
void token_cache_free(struct token_cache *c);
void token_cache_clear(struct token_cache *c);

struct revocations *revocations_new(void);
void revocations_free(struct revocations *r);
bool revocations_has(const struct revocations *r, const char *jti);
int revocations_add(struct revocations *r, const char *jti);
int64_t revocations_not_before(const struct revocations *r, const char *sub);
int revocations_set_not_before(struct revocations *r, const char *sub, int64_t ms);
int revocations_load(struct vault *v);
size_t revocations_count(const struct revocations *r);

#endif
