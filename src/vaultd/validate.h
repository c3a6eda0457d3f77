#ifndef ZK_VAULTD_VALIDATE_H
#define ZK_VAULTD_VALIDATE_H

/*
 * Validation of untrusted request input, as pure functions: no vault, no request, no I/O, no global state.
 * The route handlers call these and turn a problem into their 400 reply; fuzz/fuzz_request.c and
 * fuzz/fuzz_envelope.c run them on arbitrary input.
 *
 * Each validate_*() returns NULL when the input is acceptable, else the reference's "details" text (a string
 * constant, or the caller's buffer when it has to name an index). The order of the checks is the order in which
 * the reference reports problems.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXPORT_FORMAT "zkvault-export"
#define EXPORT_VERSION 1
/* The tables of a native export, in export order (export.c's table list must name the same ones). */
#define EXPORT_NTABLES 7
extern const char *const export_table_keys[EXPORT_NTABLES];

#define TOKEN_TTL_DEFAULT 3600
#define TOKEN_TTL_MIN 60
#define TOKEN_TTL_MAX 2592000

/*
 * A request body: all white space means {}; otherwise JSON (duplicate keys rejected) that must be an object.
 * Returns NULL and the object in *out (the caller's reference), or the error title ("Invalid JSON",
 * "Invalid request body") with its details written to details.
 */
const char *validate_parse_body(json_t **out, const unsigned char *body, size_t len, char *details, size_t n);

bool valid_uuid(const char *s);
/* NULL when s is a valid secret name, else the reference's message (without the "key: " prefix). */
const char *secret_name_problem(const char *s);

/* POST /init {password} */
const char *validate_init_body(const json_t *b);
/* POST /unlock {password, userId?} */
const char *validate_unlock_body(const json_t *b);
/* POST /lock {userId?} */
const char *validate_lock_body(const json_t *b);
/* POST /tokens {userId, allowedSecrets?, permissions?, ttlSeconds?}: on success also the permission bits (enum
   perm) and the TTL in seconds. details (n bytes) holds messages that name an array index. */
const char *validate_issue_body(const json_t *b, unsigned *perms, int64_t *ttl, char *details, size_t n);
/* DELETE /tokens/:id and /tokens/user/:userId {revokedBy?, reason?} */
const char *validate_revoke_body(const json_t *b);
/* POST /secrets/:key {value, metadata?} */
const char *validate_secret_body(const json_t *b);
/* Structural check of a native ("zkvault-export") envelope, before anything is written. */
const char *validate_export_envelope(const json_t *env);
/* The "vault" member of POST /import: native or OCMT (*ocmt says which format it claims). err (n bytes) holds
   the OCMT check's reason. */
const char *validate_import_envelope(const json_t *env, bool *ocmt, char *err, size_t n);

#endif
