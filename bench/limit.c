/*
 * The physical limit of a read on this machine: a bare libmicrohttpd + libsodium server in the same MHD mode
 * and response path as vaultd (internal polling thread pool of nproc threads, epoll, turbo, suspend/resume
 * allowed; the JSON reply is a malloc'd buffer handed over with MHD_create_response_from_buffer_with_free_callback
 * and wiped when MHD frees it; the same three response headers). Per request it does only what any read
 * must do:
 *   1. BLAKE2b-256 of the X-Capability-Token header, looked up in a hash table of known tokens;
 *   2. keyed BLAKE2b-256 of the secret name, looked up in a hash table of sealed values;
 *   3. XChaCha20-Poly1305 decryption of one 64-byte value (AAD = name hash);
 *   4. reply {"key":...,"value":...} with JSON escaping.
 *
 *   limit --tokens FILE --secrets N [--prefix P] [--port N] [--port-file F] [--threads N]
 *   limit --pwhash       one crypto_pwhash (Argon2id13, opslimit 3, memlimit 64 MiB, 32-byte key); prints ms
 *   limit --fsync DIR    median time of one 4 KiB overwrite + fdatasync in DIR (like a WAL commit); prints ms
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>

#include "lib/activation.h"

#define HASH 32
#define VALUE_BYTES 64
#define SEALED (crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + VALUE_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)

struct secret {
	unsigned char name_hash[HASH];
	unsigned char sealed[SEALED];
};

/* Open addressing keyed by uniform hash bytes, as vaultd's index and token cache. */
struct table {
	unsigned char (*keys)[HASH];
	void **vals;
	size_t cap;
};

static unsigned char name_key[32], value_key[32];
static struct table tokens, secrets;

static size_t slot_of(const unsigned char h[HASH], size_t cap)
{
	uint64_t x;
	memcpy(&x, h, sizeof(x));
	return (size_t)x & (cap - 1);
}

static void table_init(struct table *t, size_t n)
{
	t->cap = 64;
	while (t->cap < n * 2)
		t->cap *= 2;
	t->keys = calloc(t->cap, HASH);
	t->vals = calloc(t->cap, sizeof(void *));
	if (!t->keys || !t->vals)
		abort();
}

static void table_put(struct table *t, const unsigned char h[HASH], void *val)
{
	size_t i = slot_of(h, t->cap);
	while (t->vals[i] && memcmp(t->keys[i], h, HASH))
		i = (i + 1) & (t->cap - 1);
	memcpy(t->keys[i], h, HASH);
	t->vals[i] = val;
}

static void *table_get(const struct table *t, const unsigned char h[HASH])
{
	for (size_t i = slot_of(h, t->cap);; i = (i + 1) & (t->cap - 1)) {
		if (!t->vals[i])
			return NULL;
		if (!memcmp(t->keys[i], h, HASH))
			return t->vals[i];
	}
}

static void wipe_free(void *p)
{
	size_t n;
	if (!p)
		return;
	unsigned char *b = (unsigned char *)p - sizeof(size_t);
	memcpy(&n, b, sizeof(n));
	sodium_memzero(b, n + sizeof(size_t));
	free(b);
}

static char *wipe_malloc(size_t n)
{
	unsigned char *b = malloc(n + sizeof(size_t));
	if (!b)
		return NULL;
	memcpy(b, &n, sizeof(n));
	return (char *)b + sizeof(size_t);
}

/* Appends a JSON string; out must have room for 6 * n + 2 bytes. */
static size_t json_str(char *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	out[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 15];
			o += 6;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	return o;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, body, wipe_free);
	if (!r) {
		wipe_free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_const(struct MHD_Connection *c, unsigned status, const char *text)
{
	size_t n = strlen(text);
	char *b = wipe_malloc(n);
	if (!b)
		return MHD_NO;
	memcpy(b, text, n);
	return reply(c, status, b, n);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	static const char prefix[] = "/secrets/";
	static int seen;
	(void)cls, (void)version, (void)upload_data;

	/*
	 * As vaultd: the first call only notes the request (answering in it makes libmicrohttpd close the
	 * connection, as the body has not been read), the last one answers. No per-request allocation here.
	 */
	if (!*con_cls) {
		*con_cls = &seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!strcmp(url, "/health"))
		return reply_const(c, 200, "{\"status\":\"ok\"}");
	if (strcmp(method, "GET") || strncmp(url, prefix, sizeof(prefix) - 1))
		return reply_const(c, 404, "{\"error\":\"Not found\"}");

	const char *key = url + sizeof(prefix) - 1;
	size_t klen = strlen(key);
	const char *tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Capability-Token");
	unsigned char h[HASH];
	if (!tok || klen == 0 || klen > 255)
		return reply_const(c, 401, "{\"error\":\"Capability token required\"}");
	crypto_generichash(h, HASH, (const unsigned char *)tok, strlen(tok), NULL, 0);
	if (!table_get(&tokens, h))
		return reply_const(c, 401, "{\"error\":\"Invalid or expired capability token\"}");

	crypto_generichash(h, HASH, (const unsigned char *)key, klen, name_key, sizeof(name_key));
	const struct secret *s = table_get(&secrets, h);
	if (!s)
		return reply_const(c, 404, "{\"error\":\"Secret not found\"}");

	unsigned char value[VALUE_BYTES];
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(value, NULL, NULL, s->sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
						       SEALED - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, s->name_hash,
						       HASH, s->sealed, value_key) != 0)
		return reply_const(c, 500, "{\"error\":\"Failed to get secret\"}");

	char *b = wipe_malloc(32 + 6 * (klen + VALUE_BYTES));
	if (!b) {
		sodium_memzero(value, sizeof(value));
		return MHD_NO;
	}
	size_t n = 0;
	memcpy(b + n, "{\"key\":", 7), n += 7;
	n += json_str(b + n, key, klen);
	memcpy(b + n, ",\"value\":", 9), n += 9;
	n += json_str(b + n, (const char *)value, VALUE_BYTES);
	b[n++] = '}';
	sodium_memzero(value, sizeof(value));
	return reply(c, 200, b, n);
}

static void load_tokens(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;
	if (!f) {
		fprintf(stderr, "limit: cannot open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (getline(&line, &cap, f) > 0)
		n++;
	rewind(f);
	table_init(&tokens, n);
	while ((len = getline(&line, &cap, f)) > 0) {
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len)
			continue;
		unsigned char h[HASH];
		crypto_generichash(h, HASH, (unsigned char *)line, (size_t)len, NULL, 0);
		table_put(&tokens, h, (void *)1);
	}
	free(line);
	fclose(f);
}

static void make_secrets(const char *prefix, long n)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
	struct secret *all = calloc((size_t)n, sizeof(*all));
	if (!all)
		abort();
	table_init(&secrets, (size_t)n);
	randombytes_buf(name_key, sizeof(name_key));
	randombytes_buf(value_key, sizeof(value_key));
	for (long i = 0; i < n; i++) {
		char name[300];
		unsigned char value[VALUE_BYTES];
		int len = snprintf(name, sizeof(name), "%s%06ld", prefix, i);
		randombytes_buf(value, sizeof(value));
		for (size_t j = 0; j < sizeof(value); j++)
			value[j] = (unsigned char)alphabet[value[j] & 63];
		crypto_generichash(all[i].name_hash, HASH, (unsigned char *)name, (size_t)len, name_key, sizeof(name_key));
		randombytes_buf(all[i].sealed, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
		crypto_aead_xchacha20poly1305_ietf_encrypt(all[i].sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
							   NULL, value, sizeof(value), all[i].name_hash, HASH, NULL,
							   all[i].sealed, value_key);
		table_put(&secrets, all[i].name_hash, &all[i]);
	}
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The bare KDF with vaultd's parameters: the reference point of unlock. */
static int pwhash_once(void)
{
	unsigned char key[32], salt[crypto_pwhash_SALTBYTES];
	const char pw[] = "correct horse battery staple, benchmark";
	randombytes_buf(salt, sizeof(salt));
	double t0 = now_ms();
	if (crypto_pwhash(key, sizeof(key), pw, sizeof(pw) - 1, salt, 3, 64u << 20, crypto_pwhash_ALG_ARGON2ID13) != 0) {
		fprintf(stderr, "limit: crypto_pwhash failed\n");
		return 1;
	}
	printf("%.3f\n", now_ms() - t0);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* What one durable commit costs on this disk at least: the reference point of durable writes. */
static int fsync_probe(const char *dir)
{
	enum { N = 200 };
	char path[4096], buf[4096];
	double t[N];
	snprintf(path, sizeof(path), "%s/fsync.probe", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "limit: cannot create %s: %s\n", path, strerror(errno));
		return 1;
	}
	randombytes_buf(buf, sizeof(buf));
	for (int i = 0; i < N; i++)
		if (pwrite(fd, buf, sizeof(buf), (off_t)i * (off_t)sizeof(buf)) != (ssize_t)sizeof(buf))
			return 1;
	fsync(fd);
	for (int i = 0; i < N; i++) {
		double t0 = now_ms();
		if (pwrite(fd, buf, sizeof(buf), (off_t)i * (off_t)sizeof(buf)) != (ssize_t)sizeof(buf) || fdatasync(fd) != 0)
			return 1;
		t[i] = now_ms() - t0;
	}
	close(fd);
	unlink(path);
	qsort(t, N, sizeof(t[0]), cmp_double);
	printf("%.3f\n", t[N / 2]);
	return 0;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char *argv[])
{
	const char *token_file = NULL, *port_file = NULL, *prefix = "bench-";
	long nsecrets = 1000, port = 0, threads = sysconf(_SC_NPROCESSORS_ONLN);

	if (sodium_init() < 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--pwhash"))
			return pwhash_once();
		if (!v)
			goto usage;
		if (!strcmp(a, "--fsync"))
			return fsync_probe(v);
		if (!strcmp(a, "--tokens"))
			token_file = v;
		else if (!strcmp(a, "--secrets"))
			nsecrets = strtol(v, NULL, 10);
		else if (!strcmp(a, "--prefix"))
			prefix = v;
		else if (!strcmp(a, "--port"))
			port = strtol(v, NULL, 10);
		else if (!strcmp(a, "--port-file"))
			port_file = v;
		else if (!strcmp(a, "--threads"))
			threads = strtol(v, NULL, 10);
		else
			goto usage;
		i++;
	}
	if (!token_file || nsecrets < 1 || port < 0 || port > 65535 || threads < 1)
		goto usage;
	load_tokens(token_file);
	make_secrets(prefix, nsecrets);

	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG | MHD_USE_TURBO;
	char err[256];
	int listen_fd = zk_activation_socket(err, sizeof(err));
	if (listen_fd < 0) {
		fprintf(stderr, "limit: %s\n", err);
		return 1;
	}
	/* Where to listen: vaultd's choice (zk_http_start), an activated socket or the loopback port. */
	struct MHD_OptionItem where[] = {
		{ listen_fd ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_SOCK_ADDR, listen_fd, &sin },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, NULL,
						MHD_OPTION_ARRAY, where,
						MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
						MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16 * 1024,
						MHD_OPTION_CONNECTION_TIMEOUT, 30u,
						MHD_OPTION_CONNECTION_LIMIT, 4096u,
						MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
						MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "limit: cannot listen: %s\n", strerror(errno));
		return 1;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (port_file) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%u\n", di ? di->port : 0) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0) {
			fprintf(stderr, "limit: cannot write %s\n", port_file);
			return 1;
		}
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	return 0;
usage:
	fprintf(stderr, "usage: limit --tokens FILE [--secrets N] [--prefix P] [--port N] [--port-file F] [--threads N]\n"
			"       limit --pwhash\n       limit --fsync DIR\n");
	return 2;
}
