#ifndef ZK_OCMT_H
#define ZK_OCMT_H

#include <jansson.h>
#include <stddef.h>

/*
 * OCMT group vault export ("ocmt-group-vault" v1, docs: shared/reference/ocmt-vault.md §1.6).
 *
 * Envelope: {version:1, format:"ocmt-group-vault", created, updated,
 *            kdf:{algorithm:"argon2id", version:19, memory:65536, iterations:3, parallelism:4, salt:b64(16)},
 *            encryption:{algorithm:"aes-256-gcm", nonce:b64(12), tag:b64(16)}, ciphertext:b64}
 * Key = Argon2id(password, salt, t=3, m=65536 KiB, p=4, 32 bytes); AES-256-GCM, no AAD, tag detached.
 * Unlike the reference (which ignores the stored kdf params), we require them to equal those constants.
 * Base64 is the standard alphabet with '=' padding, strict (no whitespace, canonical trailing bits).
 * Unknown extra fields are allowed (the reference preserves them).
 */

#define ZK_OCMT_FORMAT "ocmt-group-vault"
#define ZK_OCMT_VERSION 1
#define ZK_OCMT_KDF_VERSION 19
#define ZK_OCMT_KDF_MEMORY_KIB 65536
#define ZK_OCMT_KDF_ITERATIONS 3
#define ZK_OCMT_KDF_PARALLELISM 4
#define ZK_OCMT_SALT_BYTES 16
#define ZK_OCMT_NONCE_BYTES 12
#define ZK_OCMT_TAG_BYTES 16
#define ZK_OCMT_KEY_BYTES 32
#define ZK_OCMT_KEY_NAME_MAX 255

/* Return codes of zk_ocmt_open(). */
#define ZK_OCMT_OK 0
#define ZK_OCMT_EAUTH (-1)     /* wrong password, tampered data, or envelope failing zk_ocmt_check() */
#define ZK_OCMT_EPLAIN (-2)    /* decrypted fine, but the plaintext is not a valid OCMT vault */
#define ZK_OCMT_EINTERNAL (-3) /* out of memory, AES-256-GCM not available on this CPU, Argon2 failure */

/* Structural check of an OCMT v1 envelope: every field present with the right type, salt 16 bytes, nonce 12, tag 16,
   ciphertext non-empty valid base64, kdf params equal to the OCMT constants. Returns 0, or -1 with a short
   human-readable reason in err (never containing key material). err may be NULL. */
int zk_ocmt_check(const json_t *envelope, char *err, size_t errlen);

/* Derives the key and decrypts. On success returns 0 and *secrets = the "secrets" object (new reference; every key
   validated against ^[a-zA-Z0-9_.-]{1,255}$ and every value a non-empty string, metadata an object (missing -> {})).
   Returns -1 on a wrong password or tampered data (err "Invalid password"), -2 on malformed plaintext. All
   intermediate buffers (key, plaintext) are in sodium_malloc'd memory and wiped before return.
   Also: an envelope that fails zk_ocmt_check() gives -1 with the check's reason in err (call zk_ocmt_check() first
   to tell "invalid format" from "invalid password"); -3 on an internal failure (see ZK_OCMT_EINTERNAL).
   *secrets is NULL on any failure. Needs sodium_init() (zk_mem_init()) to have run. */
int zk_ocmt_open(json_t **secrets, const json_t *envelope, const char *password, size_t password_len,
                 char *err, size_t errlen);

#endif
