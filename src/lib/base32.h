#ifndef ZK_BASE32_H
#define ZK_BASE32_H

/*
 * RFC 4648 base32 (alphabet A-Z 2-7) through liboath's oath_base32_encode/decode, and the hardware backup key's text
 * form on top of it (OCMT's format, shared/reference/ocmt-mesh.md §3.4): 32 key bytes -> 52 base32 characters without
 * padding, in 13 groups of 4 joined by '-':
 *   00 01 .. 1f -> AAAQ-EAYE-AUDA-OCAJ-BIFQ-YDIO-B4IB-CEQT-CQKR-MFYY-DENB-WHA5-DYPQ
 */
#include <stddef.h>

/* Characters of the unpadded encoding of n bytes (without NUL). */
#define ZK_BASE32_ENCODED_LEN(n) (((n) * 8 + 4) / 5)

#define ZK_HWKEY_BYTES 32
#define ZK_HWKEY_CHARS ZK_BASE32_ENCODED_LEN(ZK_HWKEY_BYTES) /* 52 */
#define ZK_HWKEY_GROUP 4
/* 52 characters, 12 dashes, NUL. */
#define ZK_HWKEY_TEXT_MAX (ZK_HWKEY_CHARS + ZK_HWKEY_CHARS / ZK_HWKEY_GROUP - 1 + 1)

/* in[0..len) -> upper-case base32 without padding, NUL-terminated; outlen >= ZK_BASE32_ENCODED_LEN(len) + 1.
   Returns 0, or -1 leaving out untouched. liboath's temporary copy is wiped before it is freed. */
int zk_base32_encode(char *out, size_t outlen, const unsigned char *in, size_t len);

/*
 * Strict decode of in[0..inlen): only A-Z a-z 2-7, no padding, separators or whitespace, and canonical (the unused
 * low bits of the last character are zero, so every byte string has exactly one accepted text). *outlen is in/out:
 * the size of out on entry, the decoded length on success. Returns 0, or -1 leaving out and *outlen untouched.
 */
int zk_base32_decode(unsigned char *out, size_t *outlen, const char *in, size_t inlen);

enum zk_hwkey_error {
	ZK_HWKEY_OK = 0,
	ZK_HWKEY_BAD_CHAR,    /* a character other than A-Z a-z 2-7, '-' or ASCII whitespace */
	ZK_HWKEY_BAD_LENGTH,  /* not exactly 52 base32 characters */
	ZK_HWKEY_NONCANONICAL,/* 52 characters whose last one carries non-zero padding bits: a typo */
	ZK_HWKEY_INTERNAL,    /* liboath or allocation failure */
};

const char *zk_hwkey_strerror(enum zk_hwkey_error e);

/* key -> "XXXX-XXXX-...-XXXX" (64 characters + NUL). Returns 0 or -1. */
int zk_hwkey_encode(char out[ZK_HWKEY_TEXT_MAX], const unsigned char key[ZK_HWKEY_BYTES]);

/*
 * Text -> key. Normalisation: '-' and ASCII whitespace (space, \t, \n, \v, \f, \r) anywhere are dropped, a-z is
 * folded to A-Z; any other character is refused (OCMT silently dropped them: a mistyped '0', '1', '8' or 'O' would
 * then yield a different key, so we say which problem it is instead). Exactly 52 characters must remain, and be
 * canonical base32. Returns 0, or -1 with *why (may be NULL) set and key untouched. Temporaries are wiped.
 */
int zk_hwkey_decode(unsigned char key[ZK_HWKEY_BYTES], const char *text, enum zk_hwkey_error *why);

#endif
