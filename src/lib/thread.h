#ifndef ZK_THREAD_H
#define ZK_THREAD_H

/*
 * Runs fn(arg) on a new detached thread: the work an HTTP thread hands off (key derivation, outgoing requests)
 * and answers on its own. Returns 0, or the error number of pthread_create (fn did not run).
 */
int zk_thread_detached(void *(*fn)(void *), void *arg);

#endif
