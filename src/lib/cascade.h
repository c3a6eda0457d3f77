#ifndef ZK_CASCADE_H
#define ZK_CASCADE_H

/*
 * A Bloom filter cascade (CRLite) over a known universe of 16-byte ids split into revoked and valid: exact for
 * every id of the universe (no false positive, no false negative), undefined for ids outside it. Format and
 * hashing in docs/FORMAT.md §Revocation cascade; hashes are libsodium's SipHash-2-4-128 under per-level keys
 * derived from a salt with keyed BLAKE2b.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZK_CASCADE_ID_BYTES 16
#define ZK_CASCADE_SALT_BYTES 16
#define ZK_CASCADE_MAX_LEVELS 64

/*
 * Builds the cascade; revoked and valid must be disjoint (ids in both make it fail). Returns 0 and a malloc'd
 * encoding in *out, or -1.
 */
int zk_cascade_build(unsigned char **out, size_t *out_len, const unsigned char (*revoked)[ZK_CASCADE_ID_BYTES],
		     size_t nrevoked, const unsigned char (*valid)[ZK_CASCADE_ID_BYTES], size_t nvalid,
		     const unsigned char salt[ZK_CASCADE_SALT_BYTES]);

/* A parsed cascade points into the encoding it was parsed from. */
struct zk_cascade {
	int nlevels;
	struct zk_cascade_level {
		unsigned k;
		uint32_t m; /* bits */
		const unsigned char *bits;
		unsigned char key[16];
	} level[ZK_CASCADE_MAX_LEVELS];
};

/* Checks the encoding strictly (lengths, ranges, no trailing bytes). Returns 0, or -1. */
int zk_cascade_parse(struct zk_cascade *c, const unsigned char *buf, size_t len);
/* For an id of the universe the cascade was built over: whether it is revoked. */
bool zk_cascade_revoked(const struct zk_cascade *c, const unsigned char id[ZK_CASCADE_ID_BYTES]);

#endif
