#ifndef ZK_VAULTD_THRESHOLD_H
#define ZK_VAULTD_THRESHOLD_H

/*
 * Threshold unlock of a group vault: an unlock key split k-of-n among admins (each share sealed to the admin's
 * X25519 key). An unlock request lives only in memory for 15 minutes; admins approve it with their share, sealed
 * to the vault's transport key and bound to {vault id, request id, share index}; at k approvals the vault
 * unlocks. Fewer than k shares reveal nothing about the key.
 */
#include "vaultd/writer.h"

struct threshold_state *threshold_new(void);
void threshold_free(struct threshold_state *t);
/* Wipes an expired request (writer tick). */
void threshold_sweep(struct vault *v);
/* Milliseconds until the pending request expires (0 if it has), or -1 when none is pending. */
int64_t threshold_ms_left(struct vault *v);

void handle_threshold_setup(struct zk_http_req *r, void *app);
void handle_threshold_status(struct zk_http_req *r, void *app);
void handle_threshold_share(struct zk_http_req *r, void *app);
void handle_threshold_request(struct zk_http_req *r, void *app);
void handle_threshold_request_status(struct zk_http_req *r, void *app);
void handle_threshold_approve(struct zk_http_req *r, void *app);
void handle_threshold_deny(struct zk_http_req *r, void *app);

#endif
