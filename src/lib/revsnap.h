#ifndef ZK_REVSNAP_H
#define ZK_REVSNAP_H

/*
 * Signed revocation snapshots and deltas (docs/FORMAT.md §Revocation list): what GET /revocations serves and
 * what an offline verifier (the CLI, the relay, a peer vault) checks tokens against. A full snapshot holds a
 * filter cascade over the vault's issued, unexpired token ids plus the revoked ids outside that universe
 * (attenuation blocks); a delta lists the ids revoked after an epoch. Signed with the vault's revocation key,
 * which the token key certifies, so a verifier pins only the token key (k4.public).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cascade.h"

#define ZK_REVSNAP_FULL 1
#define ZK_REVSNAP_DELTA 2
#define ZK_REVSNAP_ID_BYTES 16

struct zk_revsnap {
	int kind;
	unsigned char vault_id[16];
	uint64_t epoch;
	uint64_t since;     /* delta: the epoch it starts after; full: 0 */
	int64_t built_ms;
	int64_t covered_ms; /* full: every token with iat <= this is in the cascade's universe */
	unsigned char rev_pk[32];
	unsigned char cert[64];
	const unsigned char *cascade; /* full only */
	size_t cascade_len;
	const unsigned char *ids; /* nids * 16 bytes */
	size_t nids;
};

/* cert = Ed25519(token_sk, "zkv1rvk\0" | vault_id | rev_pk): the token key vouches for the revocation key. */
void zk_revsnap_cert(unsigned char cert[64], const unsigned char vault_id[16], const unsigned char rev_pk[32],
		     const unsigned char token_sk[64]);
/* Encodes s (rev_pk and cert included) and signs it with rev_sk. Returns 0 and a malloc'd blob. */
int zk_revsnap_sign(unsigned char **out, size_t *len, const struct zk_revsnap *s, const unsigned char rev_sk[64]);
/*
 * Parses and verifies a blob: the certificate under token_pk, the signature under the certified key, and (for a
 * full snapshot) the cascade's encoding. s points into buf. Returns 0, or -1.
 */
int zk_revsnap_open(struct zk_revsnap *s, const unsigned char *buf, size_t len, const unsigned char token_pk[32]);

/*
 * A verifier's view: one full snapshot and the deltas applied after it (in order, each starting at the epoch
 * reached). zk_revview_revoked answers for a token: its root jti and iat, and its blocks' revocation ids.
 */
struct zk_revview {
	struct zk_revsnap full;
	struct zk_cascade cascade;
	uint64_t epoch;
	const unsigned char **delta_ids; /* each nids * 16 bytes */
	size_t *delta_n;
	size_t ndeltas;
};
int zk_revview_init(struct zk_revview *v, const struct zk_revsnap *full);
/* -1 when the delta is not for this vault or does not start at v->epoch. */
int zk_revview_apply(struct zk_revview *v, const struct zk_revsnap *delta);
void zk_revview_free(struct zk_revview *v);
bool zk_revview_revoked(const struct zk_revview *v, const unsigned char jti[16], int64_t iat_ms,
			const unsigned char (*rids)[16], size_t nrids);

#endif
