#include "lib/term.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "lib/mem.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

/* A signal caught while prompting ends the read (EINTR) when interruptible; otherwise reads go on. */
static int read_line(int fd, char **out, size_t *len, bool interruptible)
{
	char *buf = zk_wipe_malloc(ZK_TERM_LINE_MAX + 1);
	size_t n = 0;
	ssize_t r;
	char ch;

	if (!buf)
		return -1;
	while ((r = read(fd, &ch, 1)) != 0) {
		if (r < 0 && errno == EINTR && !(interruptible && interrupted))
			continue;
		if (r < 0)
			goto fail;
		if (ch == '\n')
			goto done;
		if (n == ZK_TERM_LINE_MAX) {
			zk_wipe_free(buf);
			return -2;
		}
		buf[n++] = ch;
	}
	if (n == 0) {
		zk_wipe_free(buf);
		return -3;
	}
done:
	while (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
fail:
	zk_wipe_free(buf);
	return -1;
}

int zk_term_read_line(int fd, char **out, size_t *len)
{
	return read_line(fd, out, len, false);
}

static void write_all(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

int zk_term_available(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* Like readpassphrase(3): echo off, terminal restored before any signal that arrived is delivered. */
int zk_term_read_hidden(const char *prompt, char **out, size_t *len)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
	struct sigaction sa = { .sa_handler = on_signal }, saved[sizeof(sigs) / sizeof(sigs[0])];
	struct termios old, quiet;
	bool restore = false;
	int rc, fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	interrupted = 0;
	sigemptyset(&sa.sa_mask); /* no SA_RESTART: a signal must end the read */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, &saved[i]);
	if (tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
		quiet.c_lflag |= ECHONL;
		restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	write_all(fd, prompt);
	rc = read_line(fd, out, len, true);
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	else
		write_all(fd, "\n");
	close(fd);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &saved[i], NULL);
	if (interrupted) {
		if (rc == 0)
			zk_wipe_free(*out);
		kill(getpid(), interrupted);
		errno = EINTR;
		return -1;
	}
	return rc;
}

int zk_term_read_all(int fd, size_t max, char **out, size_t *len)
{
	size_t n = 0, cap = max < 4096 ? max : 4096;
	char *buf = zk_wipe_malloc(cap + 1);

	if (!buf)
		return -1;
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				zk_wipe_free(buf);
				return -2;
			}
			size_t bigger = cap * 2 > max ? max : cap * 2;
			char *q = zk_wipe_malloc(bigger + 1);
			if (!q) {
				zk_wipe_free(buf);
				return -1;
			}
			memcpy(q, buf, n);
			zk_wipe_free(buf);
			buf = q;
			cap = bigger;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			zk_wipe_free(buf);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}
