#ifndef ZK_VAULTD_SESSION_H
#define ZK_VAULTD_SESSION_H

/*
 * Init, unlock and lock. The KDF runs on a thread of its own (one at a time per process, others get 429) so
 * it never stalls the HTTP threads; what it yields is handed to the writer as a job.
 */
#include "vaultd/writer.h"

bool session_due(struct vault *v);
struct job *session_lock_job(struct vault *v, bool automatic);

/* Route handlers. */
void handle_init(struct zk_http_req *r, void *app);
void handle_unlock(struct zk_http_req *r, void *app);
void handle_lock(struct zk_http_req *r, void *app);
void handle_extend(struct zk_http_req *r, void *app);

#endif
