/*
 * Cold start: the time from fork() of a server to its first answered GET /health. Repeats N times and prints
 * one time per line in ms; on stderr, how many servers did not stop on SIGTERM.
 *
 *   coldstart N -- command args...             ("{PORT}" in an argument is replaced by a free loopback port)
 *   coldstart --activate N -- command args...
 *
 * Without --activate the server binds its own port and the client polls it (a connect attempt every 50 us,
 * as a client that knows nothing else would do; on 2 cores the poller itself takes most of a core). With
 * --activate this program listens and passes the socket to the server as fd 3 (LISTEN_FDS=1, LISTEN_PID: the
 * systemd protocol agentd uses to wake a stopped vault); the request is sent at once, waits in the backlog,
 * and the time is that of the wake as its client sees it, with no poller competing for the CPU.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A loopback socket on a free port; listening when listening is set, else closed again (the port is kept). */
static int loopback_socket(bool listening, unsigned *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t n = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(s, (struct sockaddr *)&a, &n) != 0 ||
	    (listening && listen(s, 128) != 0)) {
		if (s >= 0)
			close(s);
		return -1;
	}
	*port = ntohs(a.sin_port);
	if (!listening) {
		close(s);
		return 0;
	}
	return s;
}

/* One attempt: 1 when a 200 answer came back, 0 when the server is not there yet, -1 on a bad answer. */
static int try_health(unsigned port)
{
	static const char req[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { 5, 0 };
	char buf[512];
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0;
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto out;
	if (write(s, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
		goto out;
	ssize_t n = read(s, buf, sizeof(buf) - 1);
	if (n <= 0)
		goto out;
	buf[n] = '\0';
	rc = !strncmp(buf, "HTTP/1.1 200", 12) ? 1 : -1;
out:
	close(s);
	return rc;
}

int main(int argc, char *argv[])
{
	bool activate = argc > 1 && !strcmp(argv[1], "--activate");
	if (activate) {
		argv++;
		argc--;
	}
	if (argc < 4 || strcmp(argv[2], "--")) {
		fprintf(stderr, "usage: coldstart [--activate] N -- command args...\n");
		return 2;
	}
	int n = atoi(argv[1]), hung = 0;
	char **cmd = argv + 3;
	int ncmd = argc - 3;

	for (int i = 0; i < n; i++) {
		unsigned port = 0;
		int ls = loopback_socket(activate, &port);
		char portstr[16], *args[ncmd + 1];
		if (ls < 0) {
			fprintf(stderr, "coldstart: no free loopback port: %s\n", strerror(errno));
			return 1;
		}
		snprintf(portstr, sizeof(portstr), "%u", port);
		for (int j = 0; j < ncmd; j++)
			args[j] = strcmp(cmd[j], "{PORT}") ? cmd[j] : portstr;
		args[ncmd] = NULL;

		double t0 = now_ms();
		pid_t pid = fork();
		if (pid == 0) {
			if (activate) {
				char pidstr[16];
				snprintf(pidstr, sizeof(pidstr), "%ld", (long)getpid());
				if ((ls != 3 && dup2(ls, 3) != 3) || setenv("LISTEN_FDS", "1", 1) || setenv("LISTEN_PID", pidstr, 1))
					_exit(127);
				if (ls != 3)
					close(ls);
			}
			execvp(args[0], args);
			_exit(127);
		}
		if (activate)
			close(ls); /* the server holds it now */
		int rc = 0;
		struct timespec pause = { 0, 50000 };
		while ((rc = try_health(port)) == 0) {
			if (activate || now_ms() - t0 > 5000 || waitpid(pid, NULL, WNOHANG) == pid) {
				rc = -1;
				break;
			}
			nanosleep(&pause, NULL);
		}
		double t = now_ms() - t0;
		/* Stop it; a server that has not exited after 500 ms is killed and counted. */
		kill(pid, SIGTERM);
		double k0 = now_ms();
		while (waitpid(pid, NULL, WNOHANG) != pid) {
			if (now_ms() - k0 > 500) {
				kill(pid, SIGKILL);
				waitpid(pid, NULL, 0);
				hung++;
				break;
			}
			nanosleep(&pause, NULL);
		}
		if (rc != 1) {
			fprintf(stderr, "coldstart: the server did not answer /health with 200\n");
			return 1;
		}
		printf("%.3f\n", t);
		fflush(stdout);
	}
	if (hung)
		fprintf(stderr, "coldstart: %d of %d servers ignored SIGTERM and were killed\n", hung, n);
	return 0;
}
