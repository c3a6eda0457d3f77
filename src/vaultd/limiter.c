#include "vaultd/limiter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"

/*
 * Windows live in an open-addressing table that starts small and doubles up to MAX_SLOTS, so a vault that has
 * seen a few clients holds a few hundred bytes, not a table sized for thousands. A slot names its key by a keyed
 * 16-byte BLAKE2b hash (the key is per process: no one can aim two keys at the same slot), 32 bytes a slot.
 */
#define MIN_SLOTS 16
#define MAX_SLOTS 4096 /* 128 KB at most */
#define PROBES 64

struct window {
	unsigned char id[16];
	int64_t start_ms;
	int32_t count;
	uint32_t used;
};

struct limiter {
	pthread_mutex_t lock;
	int max;
	int64_t window_ms;
	unsigned char hash_key[crypto_generichash_KEYBYTES];
	struct window *slots;
	size_t cap, used; /* used: slots holding a window, ended or not */
};

struct limiter *limiter_new(int max, int64_t window_ms)
{
	struct limiter *l = calloc(1, sizeof(*l));
	if (!l || !(l->slots = calloc(MIN_SLOTS, sizeof(*l->slots)))) {
		free(l);
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);
	l->max = max;
	l->window_ms = window_ms;
	l->cap = MIN_SLOTS;
	randombytes_buf(l->hash_key, sizeof(l->hash_key));
	return l;
}

void limiter_free(struct limiter *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l->slots);
	free(l);
}

static bool ended(const struct limiter *l, const struct window *w, int64_t now)
{
	return now - w->start_ms > l->window_ms;
}

static size_t home(const struct limiter *l, const unsigned char id[16])
{
	uint64_t h;
	memcpy(&h, id, sizeof(h));
	return (size_t)(h & (l->cap - 1));
}

/* Doubles the table, keeping only the windows that have not ended. On failure the table stays as it was. */
static void grow(struct limiter *l, int64_t now)
{
	size_t cap = l->cap * 2;
	struct window *slots = calloc(cap, sizeof(*slots)), *old = l->slots;
	size_t oldcap = l->cap;
	if (!slots)
		return;
	l->slots = slots;
	l->cap = cap;
	l->used = 0;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i].used || ended(l, &old[i], now))
			continue;
		for (size_t j = home(l, old[i].id);; j = (j + 1) & (cap - 1)) {
			if (!slots[j].used) {
				slots[j] = old[i];
				l->used++;
				break;
			}
		}
	}
	sodium_memzero(old, oldcap * sizeof(*old));
	free(old);
}

/*
 * The window of key, or with create a new one. The whole probe sequence is searched for the key before a free
 * slot is taken: taking the first ended slot on the way would open a second, empty window for a key whose
 * window is still counting further along. With the table at its largest and no slot free, the oldest window in
 * the sequence is reused, which only ever forgets the oldest counts.
 */
static struct window *find(struct limiter *l, const char *key, int64_t now, bool create)
{
	unsigned char id[16];
	crypto_generichash(id, sizeof(id), (const unsigned char *)key, strlen(key), l->hash_key, sizeof(l->hash_key));

	if (create && l->cap < MAX_SLOTS && (l->used + 1) * 2 > l->cap)
		grow(l, now);
	struct window *freeslot = NULL, *oldest = NULL;
	size_t probes = l->cap < PROBES ? l->cap : PROBES;
	for (size_t i = 0, j = home(l, id); i < probes; i++, j = (j + 1) & (l->cap - 1)) {
		struct window *w = &l->slots[j];
		if (w->used && sodium_memcmp(w->id, id, sizeof(id)) == 0) {
			if (ended(l, w, now)) {
				w->start_ms = now;
				w->count = 0;
			}
			return w;
		}
		if (!freeslot && (!w->used || ended(l, w, now)))
			freeslot = w;
		if (w->used && (!oldest || w->start_ms < oldest->start_ms))
			oldest = w;
	}
	if (!create)
		return NULL;
	struct window *w = freeslot ? freeslot : oldest;
	if (!w->used)
		l->used++;
	memcpy(w->id, id, sizeof(id));
	w->used = 1;
	w->start_ms = now;
	w->count = 0;
	return w;
}

void limiter_peek(struct limiter *l, const char *key, struct limiter_status *st)
{
	int64_t now = zk_now_ms();
	pthread_mutex_lock(&l->lock);
	struct window *w = find(l, key, now, false);
	int count = w ? w->count : 0;
	int64_t start = w ? w->start_ms : now;
	pthread_mutex_unlock(&l->lock);

	st->limit = l->max;
	st->remaining = count >= l->max ? 0 : l->max - count;
	st->reset_epoch_s = (start + l->window_ms + 999) / 1000;
	st->blocked = count >= l->max;
	st->retry_after_s = (start + l->window_ms - now + 999) / 1000;
	if (st->retry_after_s < 1)
		st->retry_after_s = 1;
}

void limiter_hit(struct limiter *l, const char *key)
{
	pthread_mutex_lock(&l->lock);
	struct window *w = find(l, key, zk_now_ms(), true);
	w->count++;
	pthread_mutex_unlock(&l->lock);
}

void limiter_headers(struct zk_http_req *r, const struct limiter_status *st)
{
	zk_http_add_header(r, "RateLimit-Limit", "%d", st->limit);
	zk_http_add_header(r, "RateLimit-Remaining", "%d", st->remaining);
	zk_http_add_header(r, "RateLimit-Reset", "%lld", (long long)st->reset_epoch_s);
	if (st->blocked)
		zk_http_add_header(r, "Retry-After", "%lld", (long long)st->retry_after_s);
}

static bool trusted(const struct vault *v, const char *addr)
{
	for (int i = 0; i < v->cfg.ntrusted_proxies; i++)
		if (!strcmp(v->cfg.trusted_proxies[i], addr))
			return true;
	return false;
}

/* snprintf(out, 48, "%s", s) without printf: this runs for every request. */
static void copy_address(char out[48], const char *s)
{
	size_t n = strnlen(s, 47);
	memcpy(out, s, n);
	out[n] = '\0';
}

void client_address(const struct vault *v, struct zk_http_req *r, char out[48])
{
	copy_address(out, r->peer);
	if (!trusted(v, r->peer))
		return;
	const char *xff = zk_http_header(r, "X-Forwarded-For");
	if (!xff || strlen(xff) > 4096)
		return;
	char buf[4097];
	snprintf(buf, sizeof(buf), "%s", xff);
	/* Walk from the right: the first hop that is not one of our proxies is the client. */
	for (;;) {
		char *comma = strrchr(buf, ',');
		char *hop = comma ? comma + 1 : buf;
		while (*hop == ' ' || *hop == '\t')
			hop++;
		char *end = hop + strlen(hop);
		while (end > hop && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*hop && !trusted(v, hop)) {
			copy_address(out, hop);
			return;
		}
		if (!comma)
			return;
		*comma = '\0';
	}
}
