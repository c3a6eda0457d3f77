#ifndef ZK_VAULTD_LIMITER_H
#define ZK_VAULTD_LIMITER_H

/* Fixed-window counters per key (client address or user id), as the reference's rate limits. */
#include <stdint.h>

#include "vaultd/vaultd.h"

struct limiter_status {
	int limit;
	int remaining;
	int64_t reset_epoch_s;
	int64_t retry_after_s;
	bool blocked;
};

struct limiter *limiter_new(int max, int64_t window_ms);
void limiter_free(struct limiter *l);
/* Looks at the window of key without counting. */
void limiter_peek(struct limiter *l, const char *key, struct limiter_status *st);
/* Counts one event against key. */
void limiter_hit(struct limiter *l, const char *key);
/* Adds RateLimit-* (and Retry-After when blocked) headers to the reply. */
void limiter_headers(struct zk_http_req *r, const struct limiter_status *st);

/*
 * The address limits apply to: the peer, or, only when the peer is a configured trusted proxy, the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy.
 */
void client_address(const struct vault *v, struct zk_http_req *r, char out[48]);

#endif
