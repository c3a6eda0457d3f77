#ifndef ZK_SHUTDOWN_H
#define ZK_SHUTDOWN_H

/*
 * Shutdown on SIGINT/SIGTERM for multi-threaded servers. A signal handler that sets a flag and a main
 * thread in pause() miss a signal delivered to another thread, so instead the signals are blocked in
 * the main thread before any thread starts (threads inherit the mask) and the main thread collects
 * them with sigwait(). SIGPIPE is ignored.
 */

/* Call before the first thread is created. */
void zk_shutdown_block(void);

/* Waits until SIGINT or SIGTERM arrives (one that came in before the call counts); returns it. */
int zk_shutdown_wait(void);

#endif
