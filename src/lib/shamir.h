#ifndef ZK_SHAMIR_H
#define ZK_SHAMIR_H

/*
 * k-of-n Shamir secret sharing over GF(2^8) with the polynomial 0x11D (libgfshare; the same field as OCMT's
 * reference), random coefficients from libsodium, and a self-checking share encoding:
 *
 *   share = "ZKS1" | set_id[16] | k u8 | n u8 | x u8 | len u8 | data[len] | check[16]     (40 + len bytes)
 *   check = BLAKE2b-128 keyed with ZK_SHARE_CHECK_KEY (the ASCII label, 23 bytes) over everything before it
 *   text  = "zks1-" base64url(share) without padding (libsodium base64)
 *
 * x is the share's evaluation point, 1..n; data[i] = f_i(x) where f_i is a random polynomial of degree k-1 with
 * f_i(0) = secret[i]. The check detects typos, truncation and mix-ups; it is NOT a MAC (anyone can recompute it):
 * authenticity comes from how shares travel (sealed to each holder) and from the recovered secret itself being
 * verified (e.g. by the AEAD it unwraps). A share never carries the secret's length as anything but len.
 */
#include <sodium.h>
#include <stddef.h>

#define ZK_SHAMIR_SET_ID_BYTES 16
#define ZK_SHAMIR_SECRET_MAX 64
#define ZK_SHAMIR_MAX_SHARES 255
#define ZK_SHARE_MAGIC "ZKS1"
#define ZK_SHARE_CHECK_KEY "zkvault shamir share v1"
#define ZK_SHARE_CHECK_BYTES 16
#define ZK_SHARE_HEADER_BYTES (4 + ZK_SHAMIR_SET_ID_BYTES + 4)
/* Size of the binary share of a len-byte secret. */
#define ZK_SHARE_BYTES(len) (ZK_SHARE_HEADER_BYTES + (len) + ZK_SHARE_CHECK_BYTES)
#define ZK_SHARE_MAX ZK_SHARE_BYTES(ZK_SHAMIR_SECRET_MAX)
#define ZK_SHARE_TEXT_PREFIX "zks1-"
/* Text of the largest share, with its NUL. */
#define ZK_SHARE_TEXT_MAX \
	(sizeof(ZK_SHARE_TEXT_PREFIX) - 1 + sodium_base64_ENCODED_LEN(ZK_SHARE_MAX, sodium_base64_VARIANT_URLSAFE_NO_PADDING))

enum zk_share_error {
	ZK_SHARE_OK = 0,
	ZK_SHARE_BAD_PARAMS,    /* split: not 2 <= k <= n <= 255, or len not 1..ZK_SHAMIR_SECRET_MAX */
	ZK_SHARE_MALFORMED,     /* not zks1- text, bad base64, wrong length or magic, impossible k/n/x/len */
	ZK_SHARE_CORRUPTED,     /* the check does not match */
	ZK_SHARE_FOREIGN_SET,   /* set id, k, n or len differ between shares, or the set id is not the one expected */
	ZK_SHARE_DUPLICATE,     /* two shares with the same x */
	ZK_SHARE_TOO_FEW,       /* fewer than k shares */
	ZK_SHARE_INCONSISTENT,  /* more than k shares that do not lie on one polynomial: one is wrong */
	ZK_SHARE_WRONG_LENGTH,  /* combine: the shares' secret length is not the length asked for */
	ZK_SHARE_INTERNAL,      /* allocation failure */
};

/* One sentence for a person ("share is corrupted", "share belongs to another recovery set", ...). */
const char *zk_share_strerror(enum zk_share_error e);

/* What a share says about itself, once its check has passed. */
struct zk_share_info {
	unsigned char set_id[ZK_SHAMIR_SET_ID_BYTES];
	unsigned k, n, x;
	size_t len;   /* of the secret */
	size_t size;  /* of the binary share: ZK_SHARE_BYTES(len) */
};

/*
 * Splits secret[0..len) into n shares, any k of which recover it. shares[i] (i = 0..n-1) receives the binary share
 * with x = i+1 (ZK_SHARE_BYTES(len) bytes; the rest of the row is left as it was). set_id names this split: make it
 * random per split (a re-split gets a new one) so shares of different splits are never combined.
 * 2 <= k <= n <= 255, 1 <= len <= ZK_SHAMIR_SECRET_MAX. Returns 0, or -1 with *why (may be NULL) set.
 */
int zk_shamir_split(unsigned char shares[][ZK_SHARE_MAX], size_t n, size_t k, const unsigned char *secret, size_t len,
		    const unsigned char set_id[ZK_SHAMIR_SET_ID_BYTES], enum zk_share_error *why);

/*
 * Checks one binary share (size bytes) — magic, length, 1 <= x <= n, 2 <= k <= n, check — and describes it.
 * Returns 0, or -1 with *why set (ZK_SHARE_MALFORMED or ZK_SHARE_CORRUPTED) and info untouched.
 */
int zk_share_inspect(struct zk_share_info *info, const unsigned char *share, size_t size, enum zk_share_error *why);

/*
 * Recovers the len-byte secret from count binary shares (rows of ZK_SHARE_MAX; each row's size comes from its len
 * byte). Every share is inspected; all must carry the same set id, k, n and len (and set id == expected_set_id when
 * that is not NULL), distinct x, len == the len asked for, and count >= k. With more than k shares, each extra share
 * must agree with the first k (else ZK_SHARE_INCONSISTENT): nothing is ever combined silently.
 * Returns 0, or -1 with *why set and secret untouched.
 */
int zk_shamir_combine(unsigned char *secret, size_t len, const unsigned char shares[][ZK_SHARE_MAX], size_t count,
		      const unsigned char expected_set_id[ZK_SHAMIR_SET_ID_BYTES], enum zk_share_error *why);

/* Binary share -> "zks1-<base64url>" (NUL-terminated). The share is inspected first. Returns 0 or -1. */
int zk_share_to_text(char out[ZK_SHARE_TEXT_MAX], const unsigned char *share, size_t size, enum zk_share_error *why);

/*
 * Text -> binary share (ZK_SHARE_MAX row), then inspected. Leading and trailing ASCII whitespace is ignored; the
 * "zks1-" prefix is case-insensitive; the base64url body is exact (no padding, no inner whitespace).
 * On success *size (may be NULL) is the binary size. Returns 0, or -1 with *why set and share untouched.
 */
int zk_share_from_text(unsigned char share[ZK_SHARE_MAX], size_t *size, const char *text, enum zk_share_error *why);

#endif
