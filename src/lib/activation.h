#ifndef ZK_ACTIVATION_H
#define ZK_ACTIVATION_H

#include <stddef.h>

/*
 * Socket activation, the systemd protocol (sd_listen_fds(3)): whoever started this process — systemd, agentd
 * waking a stopped vault — already holds the listening socket and passes it as fd 3, with LISTEN_FDS=1 and
 * LISTEN_PID set to this process's pid. Connections that arrived while the server was stopped wait in that
 * socket's backlog and are answered once it runs; no client ever sees "connection refused".
 *
 * Returns the socket (>= 3, close-on-exec, non-blocking) when one was passed to this process, 0 when none was
 * (LISTEN_PID absent or naming another process), -1 with a message in err when one was passed but cannot be
 * used (not exactly one fd, not a listening TCP socket). Unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES
 * either way, so a child of this process does not take the socket for its own.
 */
int zk_activation_socket(char *err, size_t errlen);

#endif
