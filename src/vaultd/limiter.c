#include "vaultd/limiter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"

#define LIMITER_SLOTS 4096

struct window {
	char key[130];
	int64_t start_ms;
	int count;
};

struct limiter {
	pthread_mutex_t lock;
	int max;
	int64_t window_ms;
	struct window slots[LIMITER_SLOTS];
};

struct limiter *limiter_new(int max, int64_t window_ms)
{
	struct limiter *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	l->max = max;
	l->window_ms = window_ms;
	return l;
}

void limiter_free(struct limiter *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/*
 * Open addressing over a fixed table; a slot whose window has ended is free again. A full table reuses the
 * slot with the oldest window, which only ever forgets the oldest counts.
 */
static struct window *find(struct limiter *l, const char *key, int64_t now, bool create)
{
	uint64_t h;
	struct window *oldest = NULL;
	crypto_shorthash((unsigned char *)&h, (const unsigned char *)key, strlen(key),
			 (const unsigned char *)"zkvault-limiter!");
	for (size_t i = 0; i < 64; i++) {
		struct window *w = &l->slots[(h + i) % LIMITER_SLOTS];
		bool expired = !w->key[0] || now - w->start_ms > l->window_ms;
		if (w->key[0] && !strcmp(w->key, key)) {
			if (expired) {
				w->start_ms = now;
				w->count = 0;
			}
			return w;
		}
		if (expired && create) {
			snprintf(w->key, sizeof(w->key), "%s", key);
			w->start_ms = now;
			w->count = 0;
			return w;
		}
		if (!oldest || w->start_ms < oldest->start_ms)
			oldest = w;
	}
	if (!create)
		return NULL;
	snprintf(oldest->key, sizeof(oldest->key), "%s", key);
	oldest->start_ms = now;
	oldest->count = 0;
	return oldest;
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

void client_address(const struct vault *v, struct zk_http_req *r, char out[48])
{
	snprintf(out, 48, "%s", r->peer);
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
			snprintf(out, 48, "%s", hop);
			return;
		}
		if (!comma)
			return;
		*comma = '\0';
	}
}
