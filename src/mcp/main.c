/*
 * zkvault mcp: the MCP server's transports. stdio (newline-delimited JSON-RPC, the token from ZKVAULT_TOKEN or
 * --token-file) and Streamable HTTP (POST /mcp with JSON answers, the token from each request's
 * Authorization: Bearer header). The vault is reached with src/mcp/vault.c.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/libcurl.h"
#include "lib/http.h"
#include "lib/mem.h"
#include "lib/shutdown.h"
#include "lib/subcommands.h"
#include "lib/thread.h"
#include "mcp/mcp.h"
#include "mcp/vault.h"

#define DEFAULT_ADDR "http://127.0.0.1:18790"
#define MAX_ALLOWED_ORIGINS 16
#define MAX_INFLIGHT 64
#define TOKEN_MAX 8192

static void usage(FILE *f)
{
	fprintf(f,
		"usage: zkvault mcp [options]\n"
		"\n"
		"MCP server for agents: tools ocmt_get_credentials, vault_status, vault_list, vault_use.\n"
		"stdio by default (newline-delimited JSON-RPC); --http serves Streamable HTTP at POST /mcp.\n"
		"  --addr URL            vault address (ZKVAULT_ADDR; default " DEFAULT_ADDR ")\n"
		"  --ca-file F           CA certificates for an https vault (ZKVAULT_CA_FILE)\n"
		"  --token-file F        capability token file for stdio (or ZKVAULT_TOKEN, ZKVAULT_TOKEN_FILE)\n"
		"  --unlock-url URL      unlock URL to show when the vault is locked and gives none\n"
		"                        (ZKVAULT_UNLOCK_URL)\n"
		"  --agent-id ID         agent id recorded in the vault's audit (ZKVAULT_AGENT_ID; default: the\n"
		"                        token's aud claim)\n"
		"  --http                Streamable HTTP instead of stdio; each request needs\n"
		"                        Authorization: Bearer <capability token>\n"
		"  --port N              HTTP port (default 18791; 0 picks a free port)\n"
		"  --bind ADDR           HTTP bind address (default 127.0.0.1)\n"
		"  --allow-origin O      an Origin header the HTTP transport accepts besides loopback ones\n"
		"                        (repeatable)\n"
		"  --port-file F         write the bound HTTP port to F once listening\n");
}

struct options {
	const char *addr;
	const char *ca_file;
	const char *unlock_url;
	const char *agent_id;
	char *token; /* stdio */
	bool http;
	long port;
	const char *bind;
	const char *port_file;
	const char *origins[MAX_ALLOWED_ORIGINS];
	int norigins;
};

static struct options opt;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static char *read_secret_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = zk_wipe_malloc(TOKEN_MAX + 1);
	size_t n = 0;
	if (!f || !buf) {
		if (f)
			fclose(f);
		zk_wipe_free(buf);
		return NULL;
	}
	n = fread(buf, 1, TOKEN_MAX, f);
	fclose(f);
	buf[n] = '\0';
	while (n && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	return buf;
}

static bool valid_agent_id(const char *a)
{
	size_t n = a ? strlen(a) : 0;
	if (!n || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)a[i]) && !strchr("._:@-", a[i]))
			return false;
	return true;
}

static const char *agent_for(const char *token, char **owned)
{
	*owned = NULL;
	if (opt.agent_id)
		return opt.agent_id;
	*owned = mcp_token_audience(token);
	return *owned && valid_agent_id(*owned) ? *owned : NULL;
}

/* ------------------------------------------------------------------ stdio */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int run_stdio(void)
{
	char *agent_owned;
	struct mcp_vault vc = { .addr = opt.addr, .ca_file = opt.ca_file, .token = opt.token };
	struct mcp_session s = { .call = mcp_vault_call, .ctx = &vc, .unlock_url = opt.unlock_url };
	vc.agent_id = agent_for(opt.token, &agent_owned);

	/* Lines are read into wiped memory: a request may carry data an agent meant for an API. */
	size_t cap = 65536, len = 0;
	char *line = zk_wipe_malloc(cap);
	bool too_long = false;
	int c = 0;
	if (!line)
		return 1;
	while (!stop && (c = getchar()) != EOF) {
		if (c != '\n') {
			if (too_long)
				continue;
			if (len + 1 >= cap) {
				if (cap >= MCP_MAX_MESSAGE) {
					too_long = true;
					continue;
				}
				char *bigger = zk_wipe_malloc(cap * 2);
				if (!bigger)
					break;
				memcpy(bigger, line, len);
				zk_wipe_free(line);
				line = bigger;
				cap *= 2;
			}
			line[len++] = (char)c;
			continue;
		}
		/* One message per line; blank lines (and a trailing \r) are tolerated. */
		if (len && line[len - 1] == '\r')
			len--;
		bool blank = true;
		for (size_t i = 0; i < len; i++)
			blank = blank && isspace((unsigned char)line[i]);
		if (!blank || too_long) {
			bool no_id;
			char *reply = too_long ? mcp_handle(&s, line, MCP_MAX_MESSAGE + 1, &no_id)
					       : mcp_handle(&s, line, len, &no_id);
			if (reply) {
				size_t n = strlen(reply);
				reply[n] = '\n';
				int rc = write_all(STDOUT_FILENO, reply, n + 1);
				reply[n] = '\0';
				zk_wipe_str(reply);
				if (rc != 0)
					break;
			}
		}
		sodium_memzero(line, len);
		len = 0;
		too_long = false;
	}
	zk_wipe_free(line);
	mcp_vault_close(&vc);
	zk_wipe_str(agent_owned);
	return 0;
}

/* ------------------------------------------------------------------ Streamable HTTP */

static atomic_int inflight;

struct http_job {
	struct zk_http_req *req;
	char *token;
	char version[16];
};

static bool origin_allowed(const char *origin)
{
	static const char *const loopback[] = { "http://127.0.0.1", "http://localhost", "http://[::1]",
						"https://127.0.0.1", "https://localhost", "https://[::1]" };
	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
		size_t n = strlen(loopback[i]);
		if (!strncmp(origin, loopback[i], n) && (origin[n] == '\0' || origin[n] == ':'))
			return true;
	}
	for (int i = 0; i < opt.norigins; i++)
		if (!strcmp(origin, opt.origins[i]))
			return true;
	return false;
}

static void http_rpc_error(struct zk_http_req *r, unsigned status, int code, const char *message)
{
	zk_http_reply(r, status, json_pack("{sssos{siss}}", "jsonrpc", "2.0", "id", json_null(), "error", "code", code,
					   "message", message));
}

static void *http_thread(void *arg)
{
	struct http_job *j = arg;
	struct zk_http_req *r = j->req;
	char *agent_owned;
	struct mcp_vault vc = { .addr = opt.addr, .ca_file = opt.ca_file, .token = j->token };
	struct mcp_session s = { .call = mcp_vault_call, .ctx = &vc, .unlock_url = opt.unlock_url, .initialized = true };
	bool no_id;

	snprintf(s.version, sizeof(s.version), "%s", j->version);
	vc.agent_id = agent_for(j->token, &agent_owned);
	char *reply = mcp_handle(&s, r->body.p, r->body.len, &no_id);
	mcp_vault_close(&vc);
	zk_wipe_str(agent_owned);
	zk_wipe_str(j->token);
	free(j);
	if (reply)
		zk_http_reply_text(r, no_id ? 400 : 200, NULL, reply);
	else
		zk_http_reply_text(r, 202, NULL, zk_wipe_strdup(""));
	atomic_fetch_sub(&inflight, 1);
	zk_http_resume(r);
	return NULL;
}

static void start_http_job(struct zk_http_req *r, void *arg)
{
	struct http_job *j = arg;
	if (zk_thread_detached(http_thread, j) != 0) {
		zk_wipe_str(j->token);
		free(j);
		atomic_fetch_sub(&inflight, 1);
		http_rpc_error(r, 503, MCP_INTERNAL_ERROR, "Server busy");
		zk_http_resume(r);
	}
}

static bool accepts_json(const char *accept)
{
	return !accept || strstr(accept, "application/json") || strstr(accept, "*/*") ||
	       strstr(accept, "application/*");
}

static void handle_post(struct zk_http_req *r, void *app)
{
	const char *origin = zk_http_header(r, "Origin");
	const char *auth = zk_http_header(r, "Authorization");
	const char *version = zk_http_header(r, "MCP-Protocol-Version");

	/* DNS rebinding: a browser page on another origin must not reach this server. */
	if (origin && !origin_allowed(origin)) {
		http_rpc_error(r, 403, MCP_INVALID_REQUEST, "Forbidden: Origin not allowed");
		return;
	}
	if (!auth || strncasecmp(auth, "Bearer ", 7) || !auth[7] || strlen(auth + 7) > TOKEN_MAX) {
		zk_http_add_header(r, "WWW-Authenticate", "Bearer realm=\"zkvault-mcp\"");
		http_rpc_error(r, 401, -32001, "Unauthorized: send Authorization: Bearer <zkvault capability token>");
		return;
	}
	if (version && !mcp_version_supported(version)) {
		http_rpc_error(r, 400, MCP_INVALID_REQUEST, "Unsupported MCP-Protocol-Version");
		return;
	}
	if (!accepts_json(zk_http_header(r, "Accept"))) {
		http_rpc_error(r, 406, MCP_INVALID_REQUEST, "Not Acceptable: this server answers application/json");
		return;
	}
	if (atomic_fetch_add(&inflight, 1) >= MAX_INFLIGHT) {
		atomic_fetch_sub(&inflight, 1);
		zk_http_add_header(r, "Retry-After", "1");
		http_rpc_error(r, 503, MCP_INTERNAL_ERROR, "Server busy");
		return;
	}
	struct http_job *j = calloc(1, sizeof(*j));
	const char *tok = auth + 7;
	while (*tok == ' ')
		tok++;
	if (!j || !(j->token = zk_wipe_strdup(tok))) {
		free(j);
		atomic_fetch_sub(&inflight, 1);
		http_rpc_error(r, 500, MCP_INTERNAL_ERROR, "Internal error");
		return;
	}
	j->req = r;
	snprintf(j->version, sizeof(j->version), "%s", version ? version : MCP_HTTP_DEFAULT_VERSION);
	zk_http_defer(r, start_http_job, j);
}

/* No server-initiated stream (GET) and no sessions to end (DELETE): 405, as the transport allows. */
static void handle_not_allowed(struct zk_http_req *r, void *app)
{
	zk_http_add_header(r, "Allow", "POST");
	http_rpc_error(r, 405, MCP_INVALID_REQUEST, "Method not allowed: POST JSON-RPC messages to /mcp");
}

static const struct zk_route mcp_routes[] = {
	{ "POST", "/mcp", handle_post },
	{ "GET", "/mcp", handle_not_allowed },
	{ "DELETE", "/mcp", handle_not_allowed },
};

static int run_http(void)
{
	char err[256];
	struct zk_http_config hc = {
		.bind = opt.bind,
		.port = (uint16_t)opt.port,
		.threads = 2,
		.connection_memory = 32 * 1024, /* a Bearer chain may be ZK_CHAIN_MAX_TOKEN (16 KiB) */
		.routes = mcp_routes,
		.nroutes = sizeof(mcp_routes) / sizeof(mcp_routes[0]),
	};
	struct zk_http_server *http = zk_http_start(&hc, err, sizeof(err));
	if (!http) {
		fprintf(stderr, "mcp: %s\n", err);
		return 1;
	}
	unsigned port = zk_http_port(http);
	fprintf(stderr, "mcp: Streamable HTTP on http://%s:%u/mcp (vault %s)\n", opt.bind, port, opt.addr);
	if (opt.port_file && zk_http_write_port_file(opt.port_file, port) != 0)
		fprintf(stderr, "mcp: cannot write %s\n", opt.port_file);
	zk_shutdown_wait();
	/* Let requests in flight finish (each is bounded by the vault's own timeouts). */
	for (int i = 0; i < 400 && atomic_load(&inflight); i++)
		usleep(100 * 1000);
	zk_http_stop(http);
	return 0;
}

/* ------------------------------------------------------------------ main */

static int parse_options(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "addr", required_argument, 0, 'a' },	       { "ca-file", required_argument, 0, 'c' },
		{ "token-file", required_argument, 0, 't' },   { "unlock-url", required_argument, 0, 'u' },
		{ "agent-id", required_argument, 0, 'A' },     { "http", no_argument, 0, 'H' },
		{ "port", required_argument, 0, 'p' },	       { "bind", required_argument, 0, 'b' },
		{ "allow-origin", required_argument, 0, 'o' }, { "port-file", required_argument, 0, 'P' },
		{ "help", no_argument, 0, 'h' },	       { 0, 0, 0, 0 },
	};
	const char *token_file = getenv("ZKVAULT_TOKEN_FILE");
	int o;

	opt.addr = getenv("ZKVAULT_ADDR");
	opt.ca_file = getenv("ZKVAULT_CA_FILE");
	opt.unlock_url = getenv("ZKVAULT_UNLOCK_URL");
	opt.agent_id = getenv("ZKVAULT_AGENT_ID");
	opt.port = 18791;
	opt.bind = "127.0.0.1";
	optind = 1;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'a': opt.addr = optarg; break;
		case 'c': opt.ca_file = optarg; break;
		case 't': token_file = optarg; break;
		case 'u': opt.unlock_url = optarg; break;
		case 'A': opt.agent_id = optarg; break;
		case 'H': opt.http = true; break;
		case 'p': opt.port = strtol(optarg, NULL, 10); break;
		case 'b': opt.bind = optarg; break;
		case 'o':
			if (opt.norigins == MAX_ALLOWED_ORIGINS) {
				fprintf(stderr, "mcp: at most %d --allow-origin\n", MAX_ALLOWED_ORIGINS);
				return 2;
			}
			opt.origins[opt.norigins++] = optarg;
			break;
		case 'P': opt.port_file = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!opt.addr || !*opt.addr)
		opt.addr = DEFAULT_ADDR;
	if (opt.ca_file && !*opt.ca_file)
		opt.ca_file = NULL;
	if (opt.unlock_url && !*opt.unlock_url)
		opt.unlock_url = NULL;
	if (opt.agent_id && !*opt.agent_id)
		opt.agent_id = NULL;
	if (opt.agent_id && !valid_agent_id(opt.agent_id)) {
		fprintf(stderr, "mcp: --agent-id: 1-128 characters of A-Z a-z 0-9 . _ : @ -\n");
		return 2;
	}
	if (opt.port < 0 || opt.port > 65535) {
		fprintf(stderr, "mcp: --port out of range\n");
		return 2;
	}
	/* Check the address now rather than at the first tool call. */
	char err[256];
	bool remote_plain;
	if (mcp_vault_check_addr(opt.addr, &remote_plain, err, sizeof(err)) != 0) {
		fprintf(stderr, "mcp: %s\n", err);
		return 2;
	}
	if (remote_plain)
		fprintf(stderr, "mcp: warning: %s is plain http to another host; the token crosses the network in "
				"clear\n", opt.addr);
	/* Paths are appended to the address. */
	static char addr[1024];
	snprintf(addr, sizeof(addr), "%s", opt.addr);
	for (size_t n = strlen(addr); n && addr[n - 1] == '/'; n--)
		addr[n - 1] = '\0';
	opt.addr = addr;
	if (opt.http)
		return 0;
	if (token_file && *token_file) {
		if (!(opt.token = read_secret_file(token_file))) {
			fprintf(stderr, "mcp: cannot read the token file %s\n", token_file);
			return 2;
		}
	} else if (getenv("ZKVAULT_TOKEN") && *getenv("ZKVAULT_TOKEN")) {
		opt.token = zk_wipe_strdup(getenv("ZKVAULT_TOKEN"));
		unsetenv("ZKVAULT_TOKEN");
	}
	if (!opt.token || !*opt.token) {
		fprintf(stderr, "mcp: a capability token is required (ZKVAULT_TOKEN, ZKVAULT_TOKEN_FILE or --token-file)\n");
		return 2;
	}
	return 0;
}

int mcp_main(int argc, char *argv[])
{
	int rc;
	if (zk_mem_init() != 0) {
		fprintf(stderr, "mcp: cannot initialise libsodium\n");
		return 1;
	}
	if (zk_curl_global_init() != 0) {
		fprintf(stderr, "mcp: %s\n", zk_curl_error());
		return 1;
	}
	zk_mem_harden_process();
	umask(077);
	if ((rc = parse_options(argc, argv)) != 0)
		return rc;
	if (opt.http) {
		zk_shutdown_block();
		rc = run_http();
	} else {
		struct sigaction sa = { .sa_handler = on_signal };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		rc = run_stdio();
	}
	zk_wipe_str(opt.token);
	return rc;
}
