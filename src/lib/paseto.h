#ifndef ZK_PASETO_H
#define ZK_PASETO_H

/*
 * PASETO v4.public (Ed25519) and PASERK k4.public / k4.pid.
 *
 * Spec: github.com/paseto-standard/paseto-spec (docs/01-Protocol-Versions/Version4.md, PAE in
 * docs/01-Protocol-Versions/Common.md) and github.com/paseto-standard/paserk (types/public.md, types/pid.md).
 *
 * Keys are libsodium's Ed25519 formats: sk is the 64-byte seed||pk, pk the 32-byte point.
 * Every returned string or buffer is allocated with malloc() and is released with free(); v4.public payloads
 * and footers are signed, not encrypted, so they are not treated as secret.
 * Tokens are bounded: a token string longer than ZK_PASETO_MAX_TOKEN characters is neither produced nor parsed,
 * and neither is an implicit assertion longer than ZK_PASETO_MAX_IMPLICIT.
 */

#include <stddef.h>

#define ZK_PASETO_MAX_TOKEN 65536    /* 64 KiB, not counting the NUL */
#define ZK_PASETO_MAX_IMPLICIT 65536 /* 64 KiB, not counting the NUL */

#define ZK_PASERK_K4_PUBLIC_MAX 64   /* "k4.public." + base64url(32) + NUL */
#define ZK_PASERK_K4_PID_MAX 64      /* "k4.pid." + base64url(33) + NUL */

/* Returns 0 and a malloc'd NUL-terminated token in *token, or -1. footer/implicit may be NULL (= empty). */
int zk_paseto_v4_public_sign(char **token, const unsigned char *msg, size_t msg_len,
                             const char *footer, const char *implicit, const unsigned char sk[64]);

/*
 * Returns 0 and malloc'd message (NUL-terminated, length in *msg_len) and footer (malloc'd, "" if none; may pass
 * NULL to ignore) or -1, writing nothing on failure. Rejects anything not exactly "v4.public.", bad base64url
 * (padding or non-url alphabet must be rejected), too-short payloads, bad signatures, and, when
 * expected_footer != NULL, a footer that differs. A footer that decodes to bytes containing NUL is rejected
 * (it could not be returned as a string), as is a '.' followed by an empty footer.
 */
int zk_paseto_v4_public_verify(unsigned char **msg, size_t *msg_len, char **footer, const char *token,
                               const char *expected_footer, const char *implicit, const unsigned char pk[32]);

/*
 * Splits a v4.public token WITHOUT verifying it (a cheap pre-check, e.g. to read a key id): returns 0 and the
 * decoded footer, malloc'd ("" if none), in *footer, or -1 (writing nothing) if the token is not a well-formed
 * v4.public token. Nothing in the footer may be trusted before zk_paseto_v4_public_verify() succeeds.
 */
int zk_paseto_footer(char **footer, const char *token);

/* Writes "k4.public.<b64url>". Returns 0, or -1. */
int zk_paserk_k4_public(char out[ZK_PASERK_K4_PUBLIC_MAX], const unsigned char pk[32]);

/* Parses exactly "k4.public." + unpadded base64url of 32 bytes. Returns 0, or -1 (pk untouched). */
int zk_paserk_k4_public_decode(unsigned char pk[32], const char *paserk);

/* k4.pid per the PASERK spec (BLAKE2b-264 over "k4.pid." || paserk k4.public string). Returns 0, or -1. */
int zk_paserk_k4_pid(char out[ZK_PASERK_K4_PID_MAX], const unsigned char pk[32]);

#endif
