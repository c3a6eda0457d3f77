#include "vaultd/writer.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "vaultd/audit.h"
#include "vaultd/session.h"
#include "vaultd/threshold.h"

#define BATCH_MAX 512
#define TICK_MS 100
#define IDLE_TICK_MS 1000

struct writer {
	struct vault *v;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	bool stop;
	bool kicked;
	bool woken; /* writer_wake since the writer last looked */
	struct writer_state st;
	const struct index_entry *pending[2 * BATCH_MAX]; /* st.npending of them */
};

int writer_pending_add(struct writer *w, const struct index_entry *e)
{
	if (w->st.npending == sizeof(w->pending) / sizeof(w->pending[0]))
		return -1;
	w->pending[w->st.npending++] = e;
	return 0;
}

const struct index_entry *writer_pending_get(struct writer *w, const unsigned char name_hash[ZK_HASH_BYTES])
{
	for (unsigned i = w->st.npending; i-- > 0;)
		if (!memcmp(w->pending[i]->name_hash, name_hash, ZK_HASH_BYTES))
			return w->pending[i];
	return NULL;
}

struct job *job_new(job_apply_fn apply, job_publish_fn publish, job_done_fn done, struct zk_http_req *req)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->apply = apply;
	j->publish = publish;
	j->done = done;
	j->req = req;
	return j;
}

void job_free(struct job *j)
{
	if (!j)
		return;
	json_decref(j->reply);
	if (j->free_arg)
		j->free_arg(j->arg);
	free(j);
}

struct writer_state *writer_state(struct writer *w)
{
	return &w->st;
}

static void finish(struct vault *v, struct job *j)
{
	if (j->sync) {
		pthread_mutex_lock(&j->sync_lock);
		j->finished = true;
		pthread_cond_signal(&j->sync_cond);
		pthread_mutex_unlock(&j->sync_lock);
		return;
	}
	if (j->done)
		j->done(v, j);
	if (j->req)
		zk_http_resume(j->req);
	job_free(j);
}

/* The header and the audit head are written once per batch, not once per change. */
static void save_state(struct vault *v, const struct writer_state *st, const struct writer_state *before)
{
	const struct zk_keys *k = st->next_keys ? st->next_keys : v->keys;
	if (k && (st->revision != before->revision || memcmp(st->digest, before->digest, ZK_HASH_BYTES))) {
		unsigned char h[HEADER_BYTES];
		header_encode(h, v, k, st->revision, st->digest);
		store_meta_put(v->db, "header", h, sizeof(h));
	}
	if (st->audit_seq != before->audit_seq)
		audit_save_state(v, st);
}

static void run_batch(struct writer *w, struct job *batch)
{
	struct vault *v = w->v;
	struct writer_state saved = w->st;
	bool any = false;
	sqlite3 *db = v->db;

	if (store_exec(db, "BEGIN IMMEDIATE") != 0) {
		for (struct job *j = batch, *next; j; j = next) {
			next = j->next;
			j->rc = 500;
			finish(v, j);
		}
		return;
	}
	struct job *rest = NULL;
	for (struct job *j = batch; j; j = j->next) {
		store_run(db, "SAVEPOINT job");
		struct writer_state before = w->st;
		j->rc = j->apply(v, j);
		if (j->rc == 0) {
			store_run(db, "RELEASE job");
			any = true;
			if (w->st.next_keys && j->next) {
				/*
				 * The keys change when this batch is published (a rekey): a job after it would still
				 * seal with the old ones, into a vault already re-encrypted. It runs in the next batch.
				 */
				rest = j->next;
				j->next = NULL;
			}
		} else {
			store_run(db, "ROLLBACK TO job");
			store_run(db, "RELEASE job");
			w->st = before;
		}
	}
	audit_flush_reads(v, &w->st);
	if (!w->st.next_keys)
		audit_maybe_checkpoint(v, &w->st, w->st.checkpoint_due);
	if (memcmp(&saved, &w->st, sizeof(saved)) != 0)
		save_state(v, &w->st, &saved);
	w->st.next_keys = NULL;
	if (store_exec(db, "COMMIT") != 0) {
		store_exec(db, "ROLLBACK");
		w->st = saved;
		for (struct job *j = batch; j; j = j->next)
			if (j->rc == 0)
				j->rc = 500;
		any = false;
	}
	if (any) {
		zk_brlock_wrlock(&v->state_lock);
		bool had_keys = v->keys != NULL;
		for (struct job *j = batch; j; j = j->next)
			if (j->rc == 0 && j->publish)
				j->publish(v, j);
		/* Only a batch that ran unlocked (or unlocked the vault) has the authenticated revision; a locked vault
		   keeps the one it loaded (store_load_public). */
		if (had_keys || v->keys) {
			v->revision = w->st.revision;
			memcpy(v->digest, w->st.digest, ZK_HASH_BYTES);
		}
		zk_brlock_wrunlock(&v->state_lock);
	}
	w->st.npending = 0; /* published (or rolled back): the index is the truth again */
	for (struct job *j = batch, *next; j; j = next) {
		next = j->next;
		finish(v, j);
	}
	if (rest) {
		struct job *last = rest;
		while (last->next)
			last = last->next;
		pthread_mutex_lock(&w->lock);
		last->next = w->head;
		w->head = rest;
		if (!w->tail)
			w->tail = last;
		w->woken = true;
		pthread_mutex_unlock(&w->lock);
	}
}

static int noop_apply(struct vault *v, struct job *j)
{
	return 0;
}

/*
 * How long the writer may sleep. Busy — reads wait in the ring for their flush, or the last work was less than a
 * second ago (its memory not yet returned) — TICK_MS. Idle: until the session or the threshold request expires,
 * at most IDLE_TICK_MS, so that thousands of idle vaults on one machine do not wake ten times a second each; a
 * reader wakes the writer (writer_wake) when the read ring stops being empty.
 */
static int64_t wait_ms(struct writer *w, bool idle, int64_t last_flush)
{
	struct vault *v = w->v;
	int64_t ms = IDLE_TICK_MS, left;

	if (audit_reads_pending(v))
		return (left = last_flush + TICK_MS - zk_mono_ms()) > 0 ? left : 0;
	if (!idle)
		return TICK_MS;
	if (v->keys && (left = atomic_load(&v->expires_mono) - zk_mono_ms()) < ms)
		ms = left;
	if ((left = threshold_ms_left(v)) >= 0 && left < ms)
		ms = left;
	return ms < 1 ? 1 : ms;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	int64_t last_flush = zk_mono_ms();
	bool trimmed = false;

	pthread_mutex_lock(&w->lock);
	while (!w->stop || w->head) {
		if (!w->head && !w->kicked && !w->woken) {
			pthread_mutex_unlock(&w->lock);
			int64_t ms = wait_ms(w, trimmed, last_flush);
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += ms / 1000;
			ts.tv_nsec += (ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_mutex_lock(&w->lock);
			/* woken covers a wake that came while the lock was released above. */
			if (!w->head && !w->kicked && !w->woken && !w->stop)
				pthread_cond_timedwait(&w->cond, &w->lock, &ts);
		}
		w->woken = false;
		struct job *batch = w->head, *last = NULL;
		int n = 0;
		for (struct job *j = batch; j && n < BATCH_MAX; j = j->next, n++)
			last = j;
		if (last) {
			w->head = last->next;
			if (!w->head)
				w->tail = NULL;
			last->next = NULL;
		}
		bool kicked = w->kicked;
		w->kicked = false;
		pthread_mutex_unlock(&w->lock);

		int64_t now = zk_mono_ms();
		if (!batch && session_due(w->v))
			batch = session_lock_job(w->v, true);
		if (!batch && (w->st.checkpoint_due && w->v->keys))
			batch = job_new(noop_apply, NULL, NULL, NULL);
		if (!batch && (kicked || now - last_flush >= TICK_MS) && audit_reads_pending(w->v))
			batch = job_new(noop_apply, NULL, NULL, NULL);
		if (batch) {
			run_batch(w, batch);
			last_flush = now;
			trimmed = false;
		}
#ifdef __GLIBC__
		/*
		 * A second without work: give SQLite's page caches and the free pages of the malloc arenas back (a
		 * load leaves the HTTP threads' arenas holding the connections' 16 KiB pools), so an idle vault's RSS
		 * is what it holds, not its peak.
		 */
		if (!batch && !trimmed && now - last_flush >= 1000) {
			store_release_memory(w->v);
			audit_release_idle(w->v);
			malloc_trim(0);
			trimmed = true;
		}
#endif
		threshold_sweep(w->v);

		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct writer *writer_start(struct vault *v)
{
	struct writer *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->v = v;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (audit_load_state(v, &w->st) != 0 || pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

void writer_stop(struct writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}

void writer_submit(struct writer *w, struct job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void writer_wake(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->woken = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void writer_kick(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->kicked = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int writer_run(struct writer *w, struct job *j)
{
	j->sync = true;
	pthread_mutex_init(&j->sync_lock, NULL);
	pthread_cond_init(&j->sync_cond, NULL);
	writer_submit(w, j);
	pthread_mutex_lock(&j->sync_lock);
	while (!j->finished)
		pthread_cond_wait(&j->sync_cond, &j->sync_lock);
	pthread_mutex_unlock(&j->sync_lock);
	pthread_mutex_destroy(&j->sync_lock);
	pthread_cond_destroy(&j->sync_cond);
	return j->rc;
}
