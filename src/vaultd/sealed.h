#ifndef ZK_VAULTD_SEALED_H
#define ZK_VAULTD_SEALED_H

/*
 * Sealed requests (docs/API.md §Sealed unlock, docs/FORMAT.md §Sealed requests): crypto_box_seal boxes to the
 * vault's X25519 transport key, so a proxy between client and vault only forwards opaque bytes.
 *
 * GET /unlock/challenge hands out single-use 32-byte challenges (60 s, a table of SEALED_CHALLENGES, the oldest
 * evicted when full). POST /unlock {"sealed"} carries crypto_box_seal of
 * {"purpose":"unlock","vaultId","challenge","kek"}: the client ran Argon2id itself with the published KDF
 * parameters, the vault only opens the password wrapper with the KEK.
 */
#include <stdbool.h>

#include "vaultd/vaultd.h"

#define SEALED_CHALLENGES 64
#define SEALED_CHALLENGE_BYTES 32
#define SEALED_CHALLENGE_MS 60000
#define SEALED_BOX_MAX 4096

/* Opens a box with <data>/transport.key (read when needed, wiped after). out holds len - crypto_box_SEALBYTES
 * bytes. Returns 0 or -1. */
int sealed_open(struct vault *v, unsigned char *out, const unsigned char *box, size_t len);
/* Decodes base64 and opens it as a JSON object (parsed into wiped memory). NULL with *problem on failure;
 * *not_opened is set when the base64 was fine but the box did not open. */
json_t *sealed_open_json(struct vault *v, const char *b64, const char **problem, bool *not_opened);

/* Takes the challenge out of the table; true when it was there and not expired. */
bool sealed_challenge_consume(const unsigned char c[SEALED_CHALLENGE_BYTES]);

void handle_unlock_challenge(struct zk_http_req *r, void *app);
/* POST /unlock {"sealed"}, after the rate limit and management checks (session.c). */
void sealed_unlock(struct vault *v, struct zk_http_req *r, json_t *body, const char *user, const char *ip);

/* POST /password {"sealed"}, after the rate limit and management checks (rekey.c). */
void sealed_password(struct vault *v, struct zk_http_req *r, json_t *body, const char *ip);

#endif
