#ifndef ZK_TOKENCHAIN_H
#define ZK_TOKENCHAIN_H

/*
 * Attenuable capability tokens (docs/FORMAT.md §Attenuation chains): a vault-signed PASETO v4.public root whose
 * claims name the public key of the next block, then attenuation blocks, each signed with the secret key that
 * its parent handed down and bound to its parent's signature, then the secret key of the last block (the proof).
 *
 *   token = root *("~" b64url(block)) "~" b64url(seed)       (a root without "nextKey" stands alone: no "~")
 *
 * This file holds no vault state: it splits and decodes a chain, verifies its blocks against the parent caveats,
 * and appends blocks. The root's own signature and its vault-specific claims (iss, sub, jti, groupId) are the
 * caller's business (vaultd/tokens.c, the CLI). Functions return 0 or -1 and write nothing useful on failure.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZK_CHAIN_MAX_BLOCKS 8
#define ZK_CHAIN_MAX_PATTERNS 64
#define ZK_CHAIN_PATTERN_BYTES 4096 /* patterns with their NULs */
#define ZK_CHAIN_PATTERN_MAX 255
#define ZK_CHAIN_AUD_MAX 128
#define ZK_CHAIN_RID_BYTES 16
#define ZK_CHAIN_MAX_TOKEN 16384
#define ZK_CHAIN_SEP '~'

/* Permission bits, the same as vaultd's enum perm. */
#define ZK_CHAIN_PERM_READ 1u
#define ZK_CHAIN_PERM_WRITE 2u
#define ZK_CHAIN_PERM_DELETE 4u
#define ZK_CHAIN_PERM_USE 8u
#define ZK_CHAIN_PERM_ADMIN 16u
#define ZK_CHAIN_PERMS_ALL 31u

/* What a token (or one block of it) allows. */
struct zk_caveats {
	int64_t exp_ms;
	unsigned perms;
	uint32_t max_uses;               /* 0: no limit */
	char aud[ZK_CHAIN_AUD_MAX + 1]; /* "": any audience */
	int npatterns;
	uint16_t pattern_off[ZK_CHAIN_MAX_PATTERNS];
	char patterns[ZK_CHAIN_PATTERN_BYTES]; /* NUL-separated */
};

struct zk_chain_block {
	struct zk_caveats cav;
	unsigned char next_pk[32];
	unsigned char sig[64];
	unsigned char rid[ZK_CHAIN_RID_BYTES];
	unsigned char *payload; /* the signed bytes, malloc'd */
	size_t payload_len;
};

struct zk_chain {
	const char *root; /* the PASETO part, pointing into the token given to zk_chain_parse */
	size_t root_len;
	unsigned char root_sig[64];
	int nblocks;
	bool has_proof;
	unsigned char proof[32]; /* the last block's Ed25519 seed; wiped by zk_chain_free */
	struct zk_chain_block block[ZK_CHAIN_MAX_BLOCKS];
};

/*
 * Splits and decodes a token without checking any signature: the root must look like a v4.public token, every
 * block must decode and parse (canonically, with valid patterns and audience), the proof must be 32 bytes.
 * *out is malloc'd (zk_chain_free) and points into token, which must outlive it.
 */
int zk_chain_parse(struct zk_chain **out, const char *token);
void zk_chain_free(struct zk_chain *c);

/*
 * Verifies blocks from..nblocks-1: each block's signature under the parent's next key over its parent's signature
 * and payload, its depth, and that its caveats narrow the parent's; then the proof. parent/parent_pk describe
 * the state before block `from` (the root's caveats and "nextKey" when from == 0). On success *out holds the
 * effective caveats (the last block's, or parent's when there is no block left).
 */
int zk_chain_verify(const struct zk_chain *c, int from, const struct zk_caveats *parent,
		    const unsigned char parent_pk[32], struct zk_caveats *out);

/*
 * Parses the caveat claims of a root (exp, permissions, allowedSecrets, aud?, maxUses?, nextKey?) from its JSON
 * payload. has_next tells whether "nextKey" is present (next_pk then holds it).
 */
int zk_chain_root_caveats(struct zk_caveats *cav, unsigned char next_pk[32], bool *has_next, const char *json,
			  size_t len);
/* The root's payload (its claims JSON, NUL-terminated, malloc'd) WITHOUT verifying the signature. */
int zk_chain_root_payload(char **json, size_t *len, const struct zk_chain *c);

/*
 * Appends a block with the caveats `child` to token, signed with the token's proof key, and a fresh proof.
 * parent is the token's effective caveats: a child that does not narrow it is refused here already.
 * Returns 0 and a malloc'd token.
 */
int zk_chain_attenuate(char **out, const char *token, const struct zk_caveats *parent,
		       const struct zk_caveats *child);
/* The same with a given seed for the new key (test vectors): the output is then deterministic. */
int zk_chain_attenuate_seed(char **out, const char *token, const struct zk_caveats *parent,
			    const struct zk_caveats *child, const unsigned char seed[32]);

/* true when child allows nothing that parent does not (exp, permissions, patterns, audience, use limit). */
bool zk_caveats_narrows(const struct zk_caveats *child, const struct zk_caveats *parent);
/* A pattern p covers q when they are equal, when p is "*", or when p = "x*" and q starts with x. */
bool zk_pattern_covers(const char *p, const char *q);
bool zk_caveats_allow_name(const struct zk_caveats *c, const char *name);
/* Adds a pattern; -1 when it is not a valid pattern or there is no room. */
int zk_caveats_add_pattern(struct zk_caveats *c, const char *p);
bool zk_chain_pattern_valid(const char *p, size_t len);
bool zk_chain_aud_valid(const char *a, size_t len);
unsigned zk_chain_perm_parse(const char *name);
const char *zk_chain_perm_name(unsigned bit);

/* rid = BLAKE2b-128("zkv1rid\0" | sig) */
void zk_chain_rid(unsigned char rid[ZK_CHAIN_RID_BYTES], const unsigned char sig[64]);

/* Encodes one block's payload; returns its length, or 0 when c is not encodable or buf is too small. */
size_t zk_chain_block_encode(unsigned char *buf, size_t n, int depth, const struct zk_caveats *c,
			     const unsigned char next_pk[32]);

#endif
