#ifndef ZK_THREAD_H
#define ZK_THREAD_H

#include <pthread.h>

/*
 * Runs fn(arg) on a new detached thread: the work an HTTP thread hands off (key derivation, outgoing requests)
 * and answers on its own. Returns 0, or the error number of pthread_create (fn did not run).
 */
int zk_thread_detached(void *(*fn)(void *), void *arg);

/*
 * An adaptive mutex: a thread that finds it held spins a while before it sleeps in the kernel. For locks taken on
 * every request and held for a copy, where sleeping meant waiting to be scheduled again, on a busy machine for a
 * whole time slice. Returns what pthread_mutex_init returns.
 */
int zk_mutex_init_adaptive(pthread_mutex_t *m);

#endif
