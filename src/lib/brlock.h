#ifndef ZK_BRLOCK_H
#define ZK_BRLOCK_H

/*
 * A big-reader lock: one rwlock per slot, each on its own cache line. A reader takes only the slot of its
 * thread, so concurrent readers never share a cache line; a writer (rare: commits, lock, unlock) takes all.
 */
#include <pthread.h>

#define ZK_BRLOCK_SLOTS 8

struct zk_brlock {
	struct {
		pthread_rwlock_t lock;
		char pad[64 - sizeof(pthread_rwlock_t) % 64];
	} slot[ZK_BRLOCK_SLOTS];
};

void zk_brlock_init(struct zk_brlock *l);
void zk_brlock_destroy(struct zk_brlock *l);
/* Returns the slot to pass to zk_brlock_rdunlock. */
unsigned zk_brlock_rdlock(struct zk_brlock *l);
void zk_brlock_rdunlock(struct zk_brlock *l, unsigned slot);
void zk_brlock_wrlock(struct zk_brlock *l);
void zk_brlock_wrunlock(struct zk_brlock *l);

#endif
