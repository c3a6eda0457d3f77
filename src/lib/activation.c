/* Socket activation: take over a listening socket passed as fd 3 (sd_listen_fds(3)'s protocol). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "activation.h"

#define LISTEN_FDS_START 3

static int parse_count(const char *s, long *out)
{
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < 0)
		return -1;
	*out = n;
	return 0;
}

int zk_activation_socket(char *err, size_t errlen)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	long pid, nfds;
	int rc = 0;

	if (!pid_s)
		goto out;
	if (parse_count(pid_s, &pid) != 0 || pid != (long)getpid())
		goto out; /* meant for another process (the one that exec'd us kept the variables) */
	if (!fds_s || parse_count(fds_s, &nfds) != 0 || nfds != 1) {
		snprintf(err, errlen, "socket activation: LISTEN_FDS must be 1 (one listening socket), not '%s'",
			 fds_s ? fds_s : "");
		rc = -1;
		goto out;
	}

	int fd = LISTEN_FDS_START, type = 0, listening = 0;
	struct sockaddr_storage ss;
	socklen_t tl = sizeof(type), ll = sizeof(listening), sl = sizeof(ss);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		snprintf(err, errlen, "socket activation: fd 3 is not a socket: %s", strerror(errno));
		rc = -1;
		goto out;
	}
	if (type != SOCK_STREAM || !listening || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
		snprintf(err, errlen, "socket activation: fd 3 is not a listening TCP socket");
		rc = -1;
		goto out;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		snprintf(err, errlen, "socket activation: fd 3: %s", strerror(errno));
		rc = -1;
		goto out;
	}
	rc = fd;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return rc;
}
