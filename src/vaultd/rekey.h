#ifndef ZK_VAULTD_REKEY_H
#define ZK_VAULTD_REKEY_H

#include "vaultd/writer.h"

void handle_password(struct zk_http_req *r, void *app);
void handle_rekey(struct zk_http_req *r, void *app);

/*
 * A job that moves the unlocked vault to new_vmk in one transaction: records and audit re-encrypted, every
 * wrapper dropped, then password_wrapper (optional) and extra_wrapper of extra_type (optional) stored.
 */
struct job *rekey_job(struct vault *v, struct zk_http_req *r, const char *user, const char *ip,
		      const unsigned char *password_wrapper, int extra_type, const unsigned char *extra_wrapper,
		      const unsigned char new_vmk[ZK_KEY_BYTES]);

/* Also stores meta_key = meta (taking the reference) in the same transaction, and merges reply into the answer. */
void rekey_job_set_meta(struct job *j, const char *meta_key, json_t *meta, json_t *reply);

#endif
