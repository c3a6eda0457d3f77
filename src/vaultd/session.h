#ifndef ZK_VAULTD_SESSION_H
#define ZK_VAULTD_SESSION_H

/*
 * Init, unlock and lock. The KDF runs on a thread of its own (one at a time per process, others get 429) so
 * it never stalls the HTTP threads; what it yields is handed to the writer as a job.
 */
#include "vaultd/writer.h"

bool session_due(struct vault *v);
struct job *session_lock_job(struct vault *v, bool automatic);

/*
 * A key-derivation task: secrets in wiped memory, run on a thread of its own while the request waits
 * (suspended). Only one runs at a time per process: kdf_start answers 429 KDF_BUSY otherwise. The run function
 * releases the KDF slot (kdf_release) as soon as the expensive part is done, then answers through a job or
 * kdf_fail.
 */
struct kdf_task {
	struct vault *v;
	struct zk_http_req *req;
	void (*run)(struct kdf_task *t);
	char *secret[2];
	size_t secret_len[2];
	char user[130];
	char ip[48];
	bool has_client_pk; /* the request's sessionPublicKey, checked by its handler before the KDF */
	unsigned char client_pk[crypto_box_PUBLICKEYBYTES];
	bool released;
	void *arg;
	void (*free_arg)(void *arg);
};

struct kdf_task *kdf_task_new(struct vault *v, struct zk_http_req *r, void (*run)(struct kdf_task *t),
			      const char *user, const char *ip);
int kdf_task_secret(struct kdf_task *t, int i, const char *s);
void kdf_start(struct kdf_task *t);
/* kdf_task_new + secrets + kdf_start; arg (freed with free_arg) belongs to the task, or is freed at once on failure,
 * which answers 500. client_pk: the session key an unlock is sealed to (strict mode), or NULL. */
void kdf_defer(struct vault *v, struct zk_http_req *r, void (*run)(struct kdf_task *t), const char *user,
	       const char *ip, const char *secret0, const char *secret1, const unsigned char *client_pk, void *arg,
	       void (*free_arg)(void *arg));
void kdf_release(struct kdf_task *t);
void kdf_fail(struct kdf_task *t, unsigned status, const char *msg, const char *code);
/* A wrong password or recovery secret: counted by the unlock limiter and audited, then 401 msg. */
void kdf_bad_secret(struct kdf_task *t, const char *audit_error, const char *msg);

/* Unlocks with vmk through the writer; new_password_wrapper (optional) replaces the password wrapper in the
 * same transaction (recovery). */
void session_submit_unlock(struct kdf_task *t, const unsigned char vmk[ZK_KEY_BYTES], const char *action,
			   const unsigned char *new_password_wrapper);
struct job *session_unlock_job(struct vault *v, struct zk_http_req *r, const unsigned char vmk[ZK_KEY_BYTES],
			       const char *action, const char *user, const char *ip,
			       const unsigned char *new_password_wrapper);
/* The key the job's session is sealed to (strict mode); none unless set. */
void session_job_client_key(struct job *j, const unsigned char *pk);
int session_password_wrapper(unsigned char out[WRAPPER_BYTES], struct vault *v, const char *password, size_t len,
			     const unsigned char vmk[ZK_KEY_BYTES]);
int session_open_password(struct vault *v, unsigned char vmk[ZK_KEY_BYTES], const char *password, size_t len);
int session_read_wrapper(struct vault *v, int type, unsigned char blob[WRAPPER_BYTES]);
/* Writer thread helpers. */
int session_put_wrapper(struct vault *v, int type, const unsigned char blob[WRAPPER_BYTES]);
int session_write_public_meta(struct vault *v, const struct zk_keys *k);
int session_load_index(struct vault *v, struct zk_keys *keys, struct index *ix, size_t *count,
		       unsigned char digest[ZK_HASH_BYTES]);
/* Answers 429 (with the RateLimit headers) when the client address has used up its failed unlocks. */
bool session_unlock_limited(struct vault *v, struct zk_http_req *r, char ip[48]);

/* Route handlers. */
void handle_init(struct zk_http_req *r, void *app);
void handle_unlock(struct zk_http_req *r, void *app);
void handle_lock(struct zk_http_req *r, void *app);
void handle_extend(struct zk_http_req *r, void *app);

#endif
