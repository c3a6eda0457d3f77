#include <signal.h>
#include <pthread.h>

#include "shutdown.h"

static void shutdown_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

void zk_shutdown_block(void)
{
	sigset_t set;

	shutdown_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int zk_shutdown_wait(void)
{
	sigset_t set;
	int sig = 0;

	shutdown_set(&set);
	while (sigwait(&set, &sig) != 0)
		;
	return sig;
}
