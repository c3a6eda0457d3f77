/*
 * zkvault dev: everything on localhost with embedded SQLite, one command. Today that is one group vault;
 * the other components join here as they land.
 */
#include <errno.h>
#include <sodium.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/mem.h"
#include "lib/subcommands.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: zkvault dev [--data-dir DIR] [--port N]\n"
		   "\n"
		   "Runs a group vault on 127.0.0.1 for local development. The management token is created once\n"
		   "in DIR/auth-token (mode 0600); point the CLI at it with ZKVAULT_AUTH_TOKEN_FILE.\n");
}

/* Reads DIR/auth-token, creating it (exclusively, 0600) with 32 random bytes as hex the first time. */
static int auth_token_file(const char *dir, char *path, size_t n)
{
	unsigned char raw[32];
	char hex[65];
	snprintf(path, n, "%s/auth-token", dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? 0 : -1;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	hex[64] = '\n';
	int rc = write(fd, hex, 65) == 65 && fsync(fd) == 0 ? 0 : -1;
	close(fd);
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

int dev_main(int argc, char *argv[])
{
	const char *dir = "./data", *port = "18790";
	char path[4096];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--data-dir") && i + 1 < argc) {
			dir = argv[++i];
		} else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			port = argv[++i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (zk_mem_init() != 0 || auth_token_file(dir, path, sizeof(path)) != 0) {
		fprintf(stderr, "zkvault dev: cannot create %s/auth-token: %s\n", dir, strerror(errno));
		return 1;
	}
	printf("zkvault dev\n"
	       "  group vault   http://127.0.0.1:%s   (group id: dev, data: %s)\n"
	       "  auth token    %s\n"
	       "\n"
	       "Try:\n"
	       "  export ZKVAULT_ADDR=http://127.0.0.1:%s ZKVAULT_AUTH_TOKEN_FILE=%s\n"
	       "  zkvault init && zkvault unlock && zkvault status\n"
	       "Stop with Ctrl-C.\n\n",
	       port, dir, path, port, path);
	fflush(stdout);
	setenv("GROUP_ID", "dev", 0);
	char *vargv[] = { "vaultd", "--data-dir", (char *)dir, "--port", (char *)port, "--auth-token-file", path,
			  "--unlock-url", NULL, NULL };
	char unlock[128];
	snprintf(unlock, sizeof(unlock), "http://127.0.0.1:%s/unlock", port);
	vargv[8] = unlock;
	return vaultd_main(9, vargv);
}
