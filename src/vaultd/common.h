#ifndef ZK_VAULTD_COMMON_H
#define ZK_VAULTD_COMMON_H

/* Checks and replies shared by the route handlers. */
#include "vaultd/validate.h"
#include "vaultd/writer.h"

/* Each returns true when the request may go on; otherwise it has set the error reply. */
bool require_management(struct vault *v, struct zk_http_req *r);
bool require_unlocked(struct vault *v, struct zk_http_req *r);
/*
 * Strict mode: the vault session (X-Vault-Session, base64 of the 32 bytes handed sealed to the client that
 * unlocked) on top of the management token, for routes that grant or widen access. Always true otherwise.
 * Call after require_management. 403 SESSION_REQUIRED when missing or wrong.
 */
bool require_session(struct vault *v, struct zk_http_req *r);
/* "sessionPublicKey" of a request body: 1 and pk when present and a base64 X25519 public key, 0 when absent,
 * -1 when malformed. */
int session_client_key(const json_t *body, unsigned char pk[crypto_box_PUBLICKEYBYTES]);
#define SESSION_KEY_PROBLEM "sessionPublicKey: must be a base64 X25519 public key (32 bytes)"
/* X-Capability-Token: verified claims and the client address, then the lock state (secrets.c). */
struct cap {
	struct claims claims;
	char ip[48];
};
bool require_capability(struct vault *v, struct zk_http_req *r, struct cap *c);
/* Parses the body as a JSON object ({} when empty). */
bool body_object(struct zk_http_req *r, json_t **out);
void validation_error(struct zk_http_req *r, const char *what, const char *details);
void locked_error(struct vault *v, struct zk_http_req *r);

/* Suspends the request and hands j to the writer; j->done answers it. */
void defer_job(struct vault *v, struct zk_http_req *r, struct job *j);
/* Default done(): 200 with j->reply, or the error for j->rc. */
void job_reply_done(struct vault *v, struct job *j);
/* Queues an audit entry in its own job (nobody waits for it). */
/* The same with a target (a user or request id) instead of a secret name. */
void audit_async_target(struct vault *v, const char *action, const char *user, const char *target, bool success,
			const char *error, const char *ip);
void audit_async(struct vault *v, const char *action, const char *user, const char *secret_key, bool success,
		 const char *error, const char *ip);

#endif
