#include "lib/brlock.h"

#include <stdatomic.h>

static _Thread_local int my_slot = -1;
static atomic_uint next_slot;

void zk_brlock_init(struct zk_brlock *l)
{
	for (unsigned i = 0; i < ZK_BRLOCK_SLOTS; i++)
		pthread_rwlock_init(&l->slot[i].lock, NULL);
}

void zk_brlock_destroy(struct zk_brlock *l)
{
	for (unsigned i = 0; i < ZK_BRLOCK_SLOTS; i++)
		pthread_rwlock_destroy(&l->slot[i].lock);
}

unsigned zk_brlock_rdlock(struct zk_brlock *l)
{
	if (my_slot < 0)
		my_slot = (int)(atomic_fetch_add(&next_slot, 1) % ZK_BRLOCK_SLOTS);
	pthread_rwlock_rdlock(&l->slot[my_slot].lock);
	return (unsigned)my_slot;
}

void zk_brlock_rdunlock(struct zk_brlock *l, unsigned slot)
{
	pthread_rwlock_unlock(&l->slot[slot].lock);
}

void zk_brlock_wrlock(struct zk_brlock *l)
{
	for (unsigned i = 0; i < ZK_BRLOCK_SLOTS; i++)
		pthread_rwlock_wrlock(&l->slot[i].lock);
}

void zk_brlock_wrunlock(struct zk_brlock *l)
{
	for (unsigned i = ZK_BRLOCK_SLOTS; i-- > 0;)
		pthread_rwlock_unlock(&l->slot[i].lock);
}
