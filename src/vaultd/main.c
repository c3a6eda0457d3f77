/* zkvault vaultd: configuration, start-up and clean shutdown. */
#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/activation.h"
#include "lib/mem.h"
#include "lib/shutdown.h"
#include "vaultd/audit.h"
#include "vaultd/ceilings.h"
#include "vaultd/revlist.h"
#include "vaultd/session.h"
#include "vaultd/threshold.h"
#include "vaultd/limiter.h"
#include "vaultd/tokens.h"
#include "vaultd/use.h"
#include "vaultd/writer.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: zkvault vaultd [options]\n"
		"\n"
		"Runs one vault. Flags override the environment.\n"
		"  --port N              PORT (default 18790; 0 picks a free port)\n"
		"  --bind ADDR           ZKVAULT_BIND (default 127.0.0.1)\n"
		"  --data-dir DIR        ZKVAULT_DATA_DIR (default ./data)\n"
		"  --group-id ID         GROUP_ID (required for --kind group)\n"
		"  --kind group|user     ZKVAULT_KIND (default group)\n"
		"  --auth-token-file F   AUTH_TOKEN_FILE; or AUTH_TOKEN in the environment (never a flag)\n"
		"  --tls-cert F --tls-key F   ZKVAULT_TLS_CERT, ZKVAULT_TLS_KEY\n"
		"  --unlock-url URL      ZKVAULT_UNLOCK_URL, returned with 423 answers\n"
		"  --session-timeout S   ZKVAULT_SESSION_TIMEOUT (default 1800 seconds)\n"
		"  --max-versions N      ZKVAULT_MAX_VERSIONS versions kept per secret (default 10)\n"
		"  --threshold-ttl S     ZKVAULT_THRESHOLD_TTL lifetime of a threshold unlock request (default 900)\n"
		"  --trusted-proxy ADDR  ZKVAULT_TRUSTED_PROXIES (comma-separated); X-Forwarded-For is used only\n"
		"                        from these peers\n"
		"  --threads N           HTTP threads (default: number of CPUs)\n"
		"  --port-file F         write the bound port to F once listening\n"
		"  --strict              ZKVAULT_STRICT=1: issuing tokens, introspection, password change, rekey,\n"
		"                        recovery and threshold setup, ceilings and transcript reads also need\n"
		"                        X-Vault-Session, given (sealed) only to the client that unlocked\n"
		"  --allow-insecure-use-origins  POST /secrets/:key/use may also send to http://127.0.0.1,\n"
		"                        localhost or [::1] (tests only; https is required otherwise)\n"
		"  --verify-audit        check the audit chain and checkpoints of the data dir, then exit\n");
}

static char *read_token_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[512];
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	char *t = zk_wipe_strdup(buf);
	sodium_memzero(buf, sizeof(buf));
	return t;
}

static void add_proxies(struct vaultd_config *c, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	for (char *p = strtok_r(copy, ", ", &save); p && c->ntrusted_proxies < VAULTD_MAX_PROXIES;
	     p = strtok_r(NULL, ", ", &save))
		c->trusted_proxies[c->ntrusted_proxies++] = strdup(p);
	free(copy);
}

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

static int parse_config(struct vaultd_config *c, int argc, char *argv[], bool *verify, const char **port_file)
{
	static const struct option opts[] = {
		{ "port", required_argument, 0, 'p' },       { "bind", required_argument, 0, 'b' },
		{ "data-dir", required_argument, 0, 'd' },   { "group-id", required_argument, 0, 'g' },
		{ "kind", required_argument, 0, 'k' },       { "auth-token-file", required_argument, 0, 'a' },
		{ "tls-cert", required_argument, 0, 'c' },   { "tls-key", required_argument, 0, 'K' },
		{ "unlock-url", required_argument, 0, 'u' }, { "session-timeout", required_argument, 0, 's' },
		{ "max-versions", required_argument, 0, 'm' }, { "trusted-proxy", required_argument, 0, 't' },
		{ "threads", required_argument, 0, 'T' },    { "port-file", required_argument, 0, 'P' },
		{ "threshold-ttl", required_argument, 0, 'R' },
		{ "verify-audit", no_argument, 0, 'V' },     { "help", no_argument, 0, 'h' },
		{ "allow-insecure-use-origins", no_argument, 0, 'I' },
		{ "strict", no_argument, 0, 'S' },
		{ 0, 0, 0, 0 },
	};
	const char *token_file = getenv("AUTH_TOKEN_FILE");
	long port = strtol(env_or("PORT", "18790"), NULL, 10);
	long session = strtol(env_or("ZKVAULT_SESSION_TIMEOUT", "1800"), NULL, 10);
	long versions = strtol(env_or("ZKVAULT_MAX_VERSIONS", "10"), NULL, 10);
	long threshold = strtol(env_or("ZKVAULT_THRESHOLD_TTL", "900"), NULL, 10);
	long threads = sysconf(_SC_NPROCESSORS_ONLN);
	int o;

	c->bind = env_or("ZKVAULT_BIND", "127.0.0.1");
	c->data_dir = env_or("ZKVAULT_DATA_DIR", "./data");
	c->group_id = getenv("GROUP_ID");
	c->kind = env_or("ZKVAULT_KIND", "group");
	c->tls_cert = getenv("ZKVAULT_TLS_CERT");
	c->tls_key = getenv("ZKVAULT_TLS_KEY");
	c->unlock_url = getenv("ZKVAULT_UNLOCK_URL");
	c->strict = getenv("ZKVAULT_STRICT") && !strcmp(getenv("ZKVAULT_STRICT"), "1");
	if (getenv("ZKVAULT_TRUSTED_PROXIES"))
		add_proxies(c, getenv("ZKVAULT_TRUSTED_PROXIES"));

	optind = 1;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'b': c->bind = optarg; break;
		case 'd': c->data_dir = optarg; break;
		case 'g': c->group_id = optarg; break;
		case 'k': c->kind = optarg; break;
		case 'a': token_file = optarg; break;
		case 'c': c->tls_cert = optarg; break;
		case 'K': c->tls_key = optarg; break;
		case 'u': c->unlock_url = optarg; break;
		case 's': session = strtol(optarg, NULL, 10); break;
		case 'm': versions = strtol(optarg, NULL, 10); break;
		case 't': add_proxies(c, optarg); break;
		case 'T': threads = strtol(optarg, NULL, 10); break;
		case 'R': threshold = strtol(optarg, NULL, 10); break;
		case 'P': *port_file = optarg; break;
		case 'V': *verify = true; break;
		case 'I': use_allow_insecure_origins = true; break;
		case 'S': c->strict = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (port < 0 || port > 65535 || session < 1 || versions < 1 || versions > 1000 || threshold < 1 || threads < 1 ||
	    threads > 64) {
		fprintf(stderr, "vaultd: a numeric option is out of range\n");
		return 2;
	}
	c->port = (uint16_t)port;
	c->session_seconds = (int)session;
	c->max_versions = (int)versions;
	c->threshold_seconds = (int)threshold;
	c->threads = (unsigned)threads;
	if (strcmp(c->kind, "group") && strcmp(c->kind, "user")) {
		fprintf(stderr, "vaultd: --kind must be group or user\n");
		return 2;
	}
	if (*verify)
		return 0;
	if (!strcmp(c->kind, "group") && (!c->group_id || !*c->group_id)) {
		fprintf(stderr, "vaultd: GROUP_ID environment variable is required\n");
		return 2;
	}
	if (token_file)
		c->auth_token = read_token_file(token_file);
	else if (getenv("AUTH_TOKEN"))
		c->auth_token = zk_wipe_strdup(getenv("AUTH_TOKEN"));
	if (!c->auth_token || strlen(c->auth_token) < 16) {
		fprintf(stderr, "vaultd: AUTH_TOKEN (or AUTH_TOKEN_FILE) is required, at least 16 characters\n");
		return 2;
	}
	/* Keep it out of /proc/<pid>/environ of this process's children. */
	if (getenv("AUTH_TOKEN"))
		unsetenv("AUTH_TOKEN");
	return 0;
}

static void vault_free(struct vault *v)
{
	writer_stop(v->writer);
	zk_keys_free(v->keys);
	v->keys = NULL;
	sodium_free(v->session_key);
	v->session_key = NULL;
	index_clear(&v->index);
	store_close(v);
	token_cache_free(v->tcache);
	revocations_free(v->revoked);
	ceilings_free(v->ceilings);
	revlist_free(v->revlist);
	limiter_free(v->unlock_limiter);
	limiter_free(v->token_limiter);
	read_audit_free(v->raudit);
	threshold_free(v->threshold);
	zk_brlock_destroy(&v->state_lock);
	if (v->cfg.auth_token) {
		sodium_memzero(v->cfg.auth_token, strlen(v->cfg.auth_token));
		zk_wipe_free(v->cfg.auth_token);
	}
	for (int i = 0; i < v->cfg.ntrusted_proxies; i++)
		free(v->cfg.trusted_proxies[i]);
}

int vaultd_main(int argc, char *argv[])
{
	static struct vault v; /* large; one per process */
	bool verify = false;
	const char *port_file = NULL;
	char err[256];
	int rc;

	if (zk_mem_init() != 0) {
		fprintf(stderr, "vaultd: cannot initialise libsodium\n");
		return 1;
	}
	zk_mem_harden_process();
	umask(077);
#ifdef __GLIBC__
	/*
	 * Two malloc arenas, not one per thread (glibc's default is eight per core): every arena keeps its own
	 * partly used pages, and an idle vault held about 330 KB more in five of them than in two. Two threads serve
	 * HTTP on a typical vault and the writer allocates little, so two arenas cost no measurable throughput.
	 */
	mallopt(M_ARENA_MAX, 2);
#endif
	if ((rc = parse_config(&v.cfg, argc, argv, &verify, &port_file)) != 0)
		return rc;
	int listen_fd = verify ? 0 : zk_activation_socket(err, sizeof(err));
	if (listen_fd < 0) {
		fprintf(stderr, "vaultd: %s\n", err);
		return 1;
	}

	zk_brlock_init(&v.state_lock);
	index_init(&v.index);
	pthread_mutex_init(&v.kdf_lock, NULL);
	v.tcache = token_cache_new();
	v.revoked = revocations_new();
	v.unlock_limiter = limiter_new(5, 15 * 60 * 1000);
	v.token_limiter = limiter_new(100, 60 * 60 * 1000);
	v.raudit = read_audit_new();
	v.threshold = threshold_new();
	if (!v.tcache || !v.revoked || !v.unlock_limiter || !v.token_limiter || !v.raudit || !v.threshold) {
		fprintf(stderr, "vaultd: out of memory\n");
		return 1;
	}
	if (store_open(&v, err, sizeof(err)) != 0) {
		fprintf(stderr, "vaultd: %s\n", err);
		vault_free(&v);
		return 1;
	}
	if (verify) {
		rc = v.initialized ? audit_verify(&v, stdout) : 1;
		if (!v.initialized)
			fprintf(stderr, "vaultd: %s holds no initialised vault\n", v.cfg.data_dir);
		vault_free(&v);
		return rc;
	}
	zk_shutdown_block();
	if (revocations_load(&v) != 0 || !(v.writer = writer_start(&v))) {
		fprintf(stderr, "vaultd: cannot load the vault state\n");
		vault_free(&v);
		return 1;
	}

	struct zk_http_config hc = {
		.bind = v.cfg.bind,
		.port = v.cfg.port,
		.listen_fd = listen_fd,
		.threads = v.cfg.threads,
		.tls_cert_path = v.cfg.tls_cert,
		.tls_key_path = v.cfg.tls_key,
		.routes = vaultd_routes,
		.nroutes = vaultd_nroutes,
		.app = &v,
	};
	struct zk_http_server *http = zk_http_start(&hc, err, sizeof(err));
	if (!http) {
		fprintf(stderr, "vaultd: %s\n", err);
		vault_free(&v);
		return 1;
	}
	uint16_t port = zk_http_port(http);
	char where[96];
	if (listen_fd)
		snprintf(where, sizeof(where), "the socket it was started with (port %u)", port);
	else
		snprintf(where, sizeof(where), "%s:%u", v.cfg.bind, port);
	fprintf(stderr, "vaultd: %s vault%s%s listening on %s (%s)\n", v.cfg.kind, v.cfg.group_id ? " for group " : "",
		v.cfg.group_id ? v.cfg.group_id : "", where, v.initialized ? "initialized, locked" : "not initialized");
	if (port_file && zk_http_write_port_file(port_file, port) != 0)
		fprintf(stderr, "vaultd: cannot write %s\n", port_file);

	zk_shutdown_wait();

	fprintf(stderr, "vaultd: shutting down\n");
	use_shutdown();
	zk_http_stop(http);
	/* Lock on the way out so the lock is audited and the keys are wiped. */
	if (v.keys) {
		struct job *j = session_lock_job(&v, false);
		if (j) {
			j->done = NULL;
			writer_run(v.writer, j);
			job_free(j);
		}
	}
	vault_free(&v);
	return 0;
}
