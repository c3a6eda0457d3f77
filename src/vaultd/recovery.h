#ifndef ZK_VAULTD_RECOVERY_H
#define ZK_VAULTD_RECOVERY_H

/*
 * Recovery wrappers of the VMK (docs/RECOVERY.md): a BIP39 phrase, a hardware backup key, and social recovery
 * (a key split k-of-n with Shamir, each share sealed to a contact's X25519 key). Threshold unlock (threshold.c)
 * uses the same split-and-seal.
 */
#include "vaultd/writer.h"

void handle_recovery_status(struct zk_http_req *r, void *app);
void handle_recovery_phrase(struct zk_http_req *r, void *app);
void handle_recovery_hardware(struct zk_http_req *r, void *app);
void handle_recovery_social(struct zk_http_req *r, void *app);
void handle_recovery_delete(struct zk_http_req *r, void *app);
void handle_recover(struct zk_http_req *r, void *app);
/* POST /unlock {"hardwareKey"} */
void recovery_unlock_hardware(struct vault *v, struct zk_http_req *r, json_t *body, const char *user, const char *ip,
			      const unsigned char *client_pk);

/* Copies the VMK of an unlocked vault into guarded memory; NULL when locked. Free with sodium_free. */
unsigned char *recovery_vmk_copy(struct vault *v);

/*
 * Splits secret (32 bytes) k-of-n among holders [{"id", "publicKey": base64 X25519}] and seals each share to
 * its holder. Returns the holders array with "x", "fingerprint" and "sealedShare" added, or NULL with *problem
 * set (a validation message).
 */
json_t *recovery_split_and_seal(const json_t *holders, json_int_t k, const unsigned char secret[32],
				const unsigned char set_id[16], const char **problem);
/* "ab12-cd34-ef56-7890": the first 8 bytes of BLAKE2b-256(pk), what a holder compares to confirm its key. */
void recovery_fingerprint(char out[20], const unsigned char pk[32]);

/* A job that stores one wrapper (and optionally a meta JSON value) and audits action. Takes meta's reference. */
struct job *recovery_store_job(struct zk_http_req *r, int type, const unsigned char wrapper[WRAPPER_BYTES],
			       const char *meta_key, json_t *meta, const char *action, const char *ip, json_t *reply);

#endif
