#ifndef ZK_VAULTD_CEILINGS_H
#define ZK_VAULTD_CEILINGS_H

/*
 * Capability ceilings (docs/API.md §Capability ceilings): per subject, the most any token may grant: secret
 * patterns, permissions and a longest lifetime. POST /tokens refuses a grant above the ceiling, and every
 * verification narrows a live token to the ceiling of now, so lowering a ceiling narrows tokens already out.
 * A subject without a ceiling of its own gets the "default" one, if any; with neither, nothing is capped.
 */
#include "lib/tokenchain.h"
#include "vaultd/vaultd.h"

#define CEILING_DEFAULT "default"

struct ceiling {
	char sub[129];
	unsigned perms;
	int64_t max_ttl_s;
	int64_t updated_ms;
	struct zk_caveats allowed; /* only its patterns are used */
};

struct ceilings *ceilings_new(void);
void ceilings_free(struct ceilings *cs);
/* Reads the ceilings table into memory (start-up, import). */
int ceilings_load(struct vault *v);
/* The subject's ceiling, else the default one, else NULL. Caller holds the state read lock. */
const struct ceiling *ceilings_find(const struct ceilings *cs, const char *sub);
/* Narrows verified claims to the ceiling: permissions, patterns (the exact intersection), exp <= iat + TTL. */
void ceiling_narrow(const struct ceiling *c, struct claims *cl);
/* NULL when a grant (patterns, permission bits, TTL) fits under c, else a message naming what does not. */
const char *ceiling_check_grant(const struct ceiling *c, const json_t *allowed, unsigned perms, int64_t ttl_s,
				char *buf, size_t n);

void handle_ceiling_get(struct zk_http_req *r, void *app); /* GET /policy/ceilings[/:subject] */
void handle_ceiling_put(struct zk_http_req *r, void *app);
void handle_ceiling_delete(struct zk_http_req *r, void *app);

#endif
