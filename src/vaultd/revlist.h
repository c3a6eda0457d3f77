#ifndef ZK_VAULTD_REVLIST_H
#define ZK_VAULTD_REVLIST_H

/*
 * GET /revocations?since=EPOCH: the signed revocation list for offline verifiers (docs/API.md, docs/FORMAT.md
 * §Revocation list). A full snapshot (a filter cascade over the issued, unexpired token ids, built in the writer
 * so that its coverage bound is exact) is cached per epoch; deltas are read from the revocation log.
 */
#include "vaultd/vaultd.h"

/* The revocation key: Ed25519 from VMK subkey ZK_SUBKEY_REVOCATION_ED25519, certified by the token key. */
void revlist_keys(unsigned char pk[32], unsigned char sk[64], unsigned char cert[64], const struct vault *v,
		  const struct zk_keys *k);

struct revlist *revlist_new(void);
void revlist_free(struct revlist *rl);
/* Drops the cached full snapshot (after an import replaced the tables it was built from). */
void revlist_invalidate(struct revlist *rl);
void handle_revocations(struct zk_http_req *r, void *app);

#endif
