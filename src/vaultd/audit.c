#include "vaultd/audit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/thread.h"

#define RING_SIZE 4096
#define CHECKPOINT_EVERY 1000
#define CHECKPOINT_MS 60000

enum audit_kind { AUDIT_AEAD = 1, AUDIT_SEALED = 2 };

struct scratch {
	unsigned char *p;
	size_t cap;
};

/*
 * One read (or a run of identical reads) waiting in the ring for the writer. The strings are packed one after
 * another into text, each NUL-terminated and cut to its field's limit, so that a slot written by an HTTP thread
 * and read by the writer on the other core moves the few cache lines in use, not the whole slot.
 */
enum read_field { RF_ACTION, RF_USER, RF_KEY, RF_TOKEN, RF_IP, RF_ERROR, RF_AGENT, RF_COUNT };

static const size_t read_field_max[RF_COUNT] = { 23, 128, VAULTD_NAME_MAX, 32, 47, 31, 128 };

struct read_entry {
	int64_t second;
	uint64_t count;
	bool success;
	uint16_t len; /* bytes of text in use */
	uint16_t off[RF_COUNT];
	char text[23 + 128 + VAULTD_NAME_MAX + 32 + 47 + 31 + 128 + RF_COUNT];
};

#define READ_ENTRY_SIZE(r) (offsetof(struct read_entry, text) + (r)->len)

struct read_audit {
	pthread_mutex_t lock;
	pthread_cond_t drained; /* signalled by the writer as it takes entries out, when readers wait */
	unsigned waiting;
	bool kicked; /* the writer was woken and has not started draining yet */
	struct read_entry *ring;
	size_t head, count;
	size_t used; /* entries [0, used) may be resident; see audit_release_idle */
	int64_t last_checkpoint_ms;
	/* The writer's, kept while it is busy (fresh buffers of this size would fault in at every flush): the text
	   of a batch of reads, and a row as sealed; the batch being built. */
	struct scratch text, sealed;
	struct batch *batch;
};

static void scratch_free(struct scratch *s)
{
	if (s->p) {
		sodium_memzero(s->p, s->cap);
		free(s->p);
	}
	s->p = NULL;
	s->cap = 0;
}

/* At least n bytes in s, the first keep of them preserved; NULL when out of memory (s unchanged). */
static unsigned char *scratch_grow(struct scratch *s, size_t n, size_t keep)
{
	if (n <= s->cap)
		return s->p;
	size_t cap = s->cap ? s->cap : 4096;
	while (cap < n)
		cap *= 2;
	unsigned char *p = malloc(cap);
	if (!p)
		return NULL;
	if (keep)
		memcpy(p, s->p, keep);
	scratch_free(s);
	s->p = p;
	s->cap = cap;
	return p;
}

#define READ_BATCH 256
#define READ_TAKE 16
#define BATCH_FIELDS 10 /* an entry of a batch row: docs/FORMAT.md §Audit log */
#define BATCH_STRINGS (READ_BATCH * RF_COUNT)
#define BATCH_SLOTS 4096 /* a power of two, over twice BATCH_STRINGS */

/*
 * A batch of reads as it is built: its distinct strings (each stored once, entries refer to them by index), and
 * the entries. Kept with the scratch buffers while the writer is busy.
 */
struct batch {
	struct zk_wipe_buf raw; /* the distinct strings, NUL-terminated, in order of first use */
	size_t nstrings;
	uint32_t off[BATCH_STRINGS];
	uint16_t slot[BATCH_SLOTS]; /* 1 + the index of the string hashed there; 0 when free */
	struct zk_wipe_buf reads; /* the entries' text, comma-separated */
	size_t nreads;
	int64_t t0;
};

static void batch_free(struct read_audit *ra)
{
	if (!ra->batch)
		return;
	zk_wipe_free(ra->batch->raw.p);
	zk_wipe_free(ra->batch->reads.p);
	free(ra->batch);
	ra->batch = NULL;
}

struct read_audit *read_audit_new(void)
{
	struct read_audit *ra = calloc(1, sizeof(*ra));
	if (!ra || !(ra->ring = calloc(RING_SIZE, sizeof(*ra->ring)))) {
		free(ra);
		return NULL;
	}
	zk_mutex_init_adaptive(&ra->lock); /* every read takes it, from every HTTP thread */
	pthread_cond_init(&ra->drained, NULL);
	ra->last_checkpoint_ms = zk_mono_ms();
	return ra;
}

void read_audit_free(struct read_audit *ra)
{
	if (!ra)
		return;
	/* Only the part ever used: wiping all 2.7 MB would first make every page of it resident. */
	sodium_memzero(ra->ring, ra->used * sizeof(*ra->ring));
	free(ra->ring);
	scratch_free(&ra->text);
	scratch_free(&ra->sealed);
	batch_free(ra);
	pthread_cond_destroy(&ra->drained);
	pthread_mutex_destroy(&ra->lock);
	free(ra);
}

static const char *read_field(const struct read_entry *r, enum read_field f)
{
	return r->text + r->off[f];
}

static void read_fields(const char *f[RF_COUNT], const struct audit_event *e, const char *agent)
{
	f[RF_ACTION] = e->action;
	f[RF_USER] = e->user_id;
	f[RF_KEY] = e->secret_key;
	f[RF_TOKEN] = e->token_id;
	f[RF_IP] = e->ip;
	f[RF_ERROR] = e->error;
	f[RF_AGENT] = agent;
}

static bool same_read(const struct read_entry *r, const char *f[RF_COUNT], bool success, int64_t second)
{
	if (r->second != second || r->success != success)
		return false;
	for (int i = 0; i < RF_COUNT; i++) {
		const char *have = read_field(r, i);
		size_t n = f[i] ? strnlen(f[i], read_field_max[i]) : 0;
		if (strlen(have) != n || memcmp(have, f[i] ? f[i] : "", n) != 0)
			return false;
	}
	return true;
}

static void read_store(struct read_entry *r, const char *f[RF_COUNT], bool success, int64_t second)
{
	size_t len = 0;
	for (int i = 0; i < RF_COUNT; i++) {
		size_t n = f[i] ? strnlen(f[i], read_field_max[i]) : 0;
		r->off[i] = (uint16_t)len;
		if (n)
			memcpy(r->text + len, f[i], n);
		r->text[len + n] = '\0';
		len += n + 1;
	}
	r->len = (uint16_t)len;
	r->success = success;
	r->second = second;
	r->count = 1;
}

int audit_read(struct vault *v, const struct audit_event *e)
{
	return audit_read_agent(v, e, NULL);
}

int audit_read_agent(struct vault *v, const struct audit_event *e, const char *agent_id)
{
	struct read_audit *ra = v->raudit;
	int64_t second = zk_now_ms() / 1000;
	int rc = 0;
	bool kick = false, wake = false;
	const char *f[RF_COUNT];

	read_fields(f, e, agent_id);
	pthread_mutex_lock(&ra->lock);
	if (ra->count) {
		struct read_entry *last = &ra->ring[(ra->head + ra->count - 1) % RING_SIZE];
		if (same_read(last, f, e->success, second)) {
			last->count++;
			goto out;
		}
	}
	if (ra->count == RING_SIZE) {
		/*
		 * The writer is behind: it shares the cores with the readers and gets a thread's share of them.
		 * Wait up to one writer tick for room (the waiting readers free the CPU it needs) and answer 503
		 * only when the backlog persists. Nothing is served unaudited either way.
		 */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		ra->waiting++;
		while (ra->count == RING_SIZE && pthread_cond_timedwait(&ra->drained, &ra->lock, &until) == 0)
			;
		ra->waiting--;
		if (ra->count == RING_SIZE) {
			rc = -1;
			goto out;
		}
	}
	/* A quarter full: wake the writer now rather than at its next 100 ms tick, before the ring fills. */
	if (ra->count >= RING_SIZE / 4 && !ra->kicked)
		kick = ra->kicked = true;
	/* The first read after the ring emptied: an idle writer sleeps up to a second, so wake it to its tick. */
	wake = !ra->count;
	size_t slot = (ra->head + ra->count++) % RING_SIZE;
	if (slot >= ra->used)
		ra->used = slot + 1;
	read_store(&ra->ring[slot], f, e->success, second);
out:
	pthread_mutex_unlock(&ra->lock);
	if (kick && v->writer)
		writer_kick(v->writer);
	else if (wake && v->writer)
		writer_wake(v->writer);
	return rc;
}

bool audit_reads_pending(struct vault *v)
{
	pthread_mutex_lock(&v->raudit->lock);
	bool pending = v->raudit->count > 0;
	pthread_mutex_unlock(&v->raudit->lock);
	return pending;
}

static void chain_hash(unsigned char out[ZK_HASH_BYTES], const unsigned char prev[ZK_HASH_BYTES], uint64_t seq,
		       int64_t ts, int kind, const unsigned char *blob, size_t len)
{
	crypto_generichash_state st;
	unsigned char b[8], k = (unsigned char)kind;
	crypto_generichash_init(&st, NULL, 0, ZK_HASH_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)"zkv1chn\0", 8);
	crypto_generichash_update(&st, prev, ZK_HASH_BYTES);
	zk_store_u64le(b, seq);
	crypto_generichash_update(&st, b, 8);
	zk_store_u64le(b, (uint64_t)ts);
	crypto_generichash_update(&st, b, 8);
	crypto_generichash_update(&st, &k, 1);
	crypto_generichash_update(&st, blob, len);
	crypto_generichash_final(&st, out, ZK_HASH_BYTES);
}

static void entry_aad(struct zk_aad *a, const struct vault *v, uint64_t seq)
{
	zk_aad_init(a, "zkv1aud\0", v->vault_id);
	zk_aad_u64(a, seq);
}

static json_t *event_json(const struct audit_event *e, uint64_t seq, int part, int64_t ts, uint64_t count,
			  const char *agent)
{
	char iso[ZK_ISO8601_MAX];
	zk_iso8601(iso, ts);
	json_t *o = json_pack("{sI}", "seq", (json_int_t)seq);
	if (part >= 0)
		json_object_set_new(o, "part", json_integer(part));
	json_object_set_new(o, "timestamp", json_string(iso));
	json_object_set_new(o, "action", json_string(e->action));
	json_object_set_new(o, "userId", json_string(e->user_id ? e->user_id : "system"));
	if (e->secret_key && *e->secret_key)
		json_object_set_new(o, "secretKey", json_string(e->secret_key));
	if (e->target_user_id && *e->target_user_id)
		json_object_set_new(o, "targetUserId", json_string(e->target_user_id));
	if (e->token_id && *e->token_id)
		json_object_set_new(o, "tokenId", json_string(e->token_id));
	if (agent && *agent)
		json_object_set_new(o, "agentId", json_string(agent));
	json_object_set_new(o, "success", json_boolean(e->success));
	if (e->error && *e->error)
		json_object_set_new(o, "error", json_string(e->error));
	if (e->ip && *e->ip)
		json_object_set_new(o, "ipAddress", json_string(e->ip));
	if (count > 1)
		json_object_set_new(o, "count", json_integer((json_int_t)count));
	return o;
}

static bool plain_ascii(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7E || *s == '"' || *s == '\\')
			return false;
	return true;
}

/* A bounded text buffer; ok turns false, for good, once something does not fit. */
struct text {
	char *p;
	size_t cap, len;
	bool ok;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (!t->ok || n > t->cap - t->len) {
		t->ok = false;
		return;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
}

#define PUT(t, lit) put((t), "" lit, sizeof(lit) - 1) /* "" lit: string literals only */

static void put_str(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

static void put_u64(struct text *t, uint64_t v)
{
	char d[20];
	size_t i = sizeof(d);
	do
		d[--i] = (char)('0' + v % 10);
	while (v /= 10);
	put(t, d + i, sizeof(d) - i);
}

/* ,"key":"value" — when the value is plain ASCII; otherwise the text is spoilt (the caller takes jansson). */
static void put_field(struct text *t, const char *key, const char *value)
{
	if (!plain_ascii(value)) {
		t->ok = false;
		return;
	}
	PUT(t, ",\"");
	put_str(t, key);
	PUT(t, "\":\"");
	put_str(t, value);
	PUT(t, "\"");
}

/* zk_iso8601, remembering the last instant: the entries of a batch of reads mostly share their second. */
static const char *iso_time(int64_t ms)
{
	static _Thread_local int64_t last = -1;
	static _Thread_local char iso[ZK_ISO8601_MAX];
	if (ms != last) {
		zk_iso8601(iso, ms);
		last = ms;
	}
	return iso;
}

/*
 * The entry exactly as json_dumps(event_json(...), JSON_COMPACT) writes it, without building a jansson object
 * or calling printf (a read load with many tokens and secrets makes one entry per read, and either cost more
 * than the rest of the entry). Only when every string is printable ASCII with nothing to escape (ids, names,
 * addresses, fixed words); otherwise, or when it does not fit, 0, and the caller takes the jansson path.
 */
static size_t event_text(char *buf, size_t cap, const struct audit_event *e, uint64_t seq, int64_t ts,
			 uint64_t count, const char *agent)
{
	const char *opt[][2] = { { "secretKey", e->secret_key }, { "targetUserId", e->target_user_id },
				 { "tokenId", e->token_id }, { "agentId", agent } };
	struct text t = { .p = buf, .cap = cap, .ok = true };

	if (!e->action)
		return 0;
	PUT(&t, "{\"seq\":");
	put_u64(&t, seq);
	put_field(&t, "timestamp", iso_time(ts));
	put_field(&t, "action", e->action);
	put_field(&t, "userId", e->user_id ? e->user_id : "system");
	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
		if (opt[i][1] && *opt[i][1])
			put_field(&t, opt[i][0], opt[i][1]);
	if (e->success)
		PUT(&t, ",\"success\":true");
	else
		PUT(&t, ",\"success\":false");
	if (e->error && *e->error)
		put_field(&t, "error", e->error);
	if (e->ip && *e->ip)
		put_field(&t, "ipAddress", e->ip);
	if (count > 1) {
		PUT(&t, ",\"count\":");
		put_u64(&t, count);
	}
	PUT(&t, "}");
	return t.ok ? t.len : 0;
}

/*
 * One entry as compact JSON: into buf (ENTRY_BUF bytes) when it fits, else a zk_wipe_str-freed string. Returns
 * the text and its length in *n, or NULL. Free with entry_text_free.
 */
#define ENTRY_BUF 1024

static char *entry_text(char buf[ENTRY_BUF], size_t *n, const struct audit_event *e, uint64_t seq, int64_t ts,
			uint64_t count, const char *agent)
{
	*n = event_text(buf, ENTRY_BUF, e, seq, ts, count, agent);
	if (*n)
		return buf;
	json_t *o = event_json(e, seq, -1, ts, count, agent);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	*n = text ? strlen(text) : 0;
	return text;
}

static void entry_text_free(char buf[ENTRY_BUF], char *text, size_t n)
{
	if (text == buf)
		sodium_memzero(buf, n);
	else
		zk_wipe_str(text);
}

/* Seals text (an entry, or a batch of entries) as row seq = audit_seq + 1, chains it and inserts it. */
static int append_row(struct vault *v, struct writer_state *st, const char *text, size_t n, int64_t ts)
{
	uint64_t seq = st->audit_seq + 1;
	size_t blen = n + (v->keys ? ZK_SEAL_OVERHEAD : crypto_box_SEALBYTES);
	unsigned char *blob = scratch_grow(&v->raudit->sealed, blen, 0);
	int kind;
	sqlite3_stmt *q;

	if (!blob)
		return -1;
	if (v->keys) {
		struct zk_aad a;
		kind = AUDIT_AEAD;
		entry_aad(&a, v, seq);
		zk_seal(blob, (const unsigned char *)text, n, &a, v->keys->audit_aead);
	} else {
		kind = AUDIT_SEALED;
		crypto_box_seal(blob, (const unsigned char *)text, n, v->audit_pk);
	}
	unsigned char chain[ZK_HASH_BYTES];
	chain_hash(chain, st->audit_head, seq, ts, kind, blob, blen);
	if (!(q = store_stmt(v->db, "INSERT INTO audit(seq, ts, kind, blob, chain) VALUES(?,?,?,?,?)")))
		return -1;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)seq);
	sqlite3_bind_int64(q, 2, ts);
	sqlite3_bind_int(q, 3, kind);
	sqlite3_bind_blob(q, 4, blob, (int)blen, SQLITE_STATIC);
	sqlite3_bind_blob(q, 5, chain, ZK_HASH_BYTES, SQLITE_STATIC);
	int stepped = sqlite3_step(q);
	sqlite3_reset(q);
	if (stepped != SQLITE_DONE)
		return -1;
	st->audit_seq = seq;
	memcpy(st->audit_head, chain, ZK_HASH_BYTES);
	st->entries_since_checkpoint++;
	return 0;
}

static int append_entry(struct vault *v, struct writer_state *st, const struct audit_event *e, int64_t ts,
			uint64_t count, const char *agent)
{
	char buf[ENTRY_BUF];
	size_t n;
	char *text = entry_text(buf, &n, e, st->audit_seq + 1, ts, count, agent);
	if (!text)
		return -1;
	int rc = append_row(v, st, text, n, ts);
	entry_text_free(buf, text, n);
	return rc;
}

int audit_append(struct vault *v, struct writer_state *st, const struct audit_event *e)
{
	/* Before init there is no audit key, and nothing secret to record. The init job sets the key before it
	   records vault.initialized, while the vault is not yet published as initialised. */
	if (v->ocmt_pending || sodium_is_zero(v->audit_pk, sizeof(v->audit_pk)))
		return 0;
	return append_entry(v, st, e, zk_now_ms(), 1, NULL);
}

/*
 * The ring is 2.7 MB. Refilled from its start whenever it empties, a light read load keeps only its first
 * pages in use. A burst spreads entries further; once the vault has been idle for a second, the pages beyond
 * the first 64 entries (wiped entries, zeros) go back to the kernel, so an idle vault does not keep the burst
 * resident. Not at every emptying: under load the ring empties at every flush, and faulting the pages back in
 * costs more than the reads. The writer's scratch buffers go too. Called by the writer.
 */
void audit_release_idle(struct vault *v)
{
	struct read_audit *ra = v->raudit;
	const size_t keep = 64;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);

	pthread_mutex_lock(&ra->lock);
	if (!ra->count && ra->used > keep) {
		uintptr_t from = ((uintptr_t)&ra->ring[keep] + page - 1) & ~(page - 1);
		uintptr_t to = (uintptr_t)&ra->ring[ra->used] & ~(page - 1);
		if (from < to)
			madvise((void *)from, to - from, MADV_DONTNEED);
		ra->used = keep;
	}
	pthread_mutex_unlock(&ra->lock);
	scratch_free(&ra->text);
	scratch_free(&ra->sealed);
	batch_free(ra);
}

/* Takes up to max entries out of the ring into out; returns how many. */
static size_t take_reads(struct read_audit *ra, struct read_entry *out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&ra->lock);
	ra->kicked = false;
	while (n < max && ra->count) {
		struct read_entry *r = &ra->ring[ra->head];
		size_t size = READ_ENTRY_SIZE(r);
		memcpy(&out[n++], r, size);
		sodium_memzero(r, size);
		ra->head = (ra->head + 1) % RING_SIZE;
		if (!--ra->count)
			ra->head = 0; /* refill from the start: see audit_release_idle */
	}
	if (n && ra->waiting)
		pthread_cond_broadcast(&ra->drained);
	pthread_mutex_unlock(&ra->lock);
	return n;
}

static struct audit_event read_event(const struct read_entry *r)
{
	return (struct audit_event){ .action = read_field(r, RF_ACTION), .user_id = read_field(r, RF_USER),
				     .secret_key = read_field(r, RF_KEY), .token_id = read_field(r, RF_TOKEN),
				     .error = read_field(r, RF_ERROR), .ip = read_field(r, RF_IP),
				     .success = r->success };
}

static void reads_wipe(struct read_entry *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sodium_memzero(&r[i], READ_ENTRY_SIZE(&r[i]));
}

/* Whether s can go into a JSON string: jansson refuses what is not UTF-8 (and the old path dropped such fields). */
static bool json_ok(const char *s)
{
	if (plain_ascii(s))
		return true;
	json_t *j = json_string(s);
	json_decref(j);
	return j != NULL;
}

/* The index of s in the batch's strings, adding it; -1 for an empty (absent) or unrepresentable string, -2 when
   out of memory. */
static long batch_string(struct batch *b, const char *s)
{
	size_t n = strlen(s), i;
	uint32_t h = 2166136261u; /* FNV-1a */

	if (!n)
		return -1;
	for (size_t k = 0; k < n; k++)
		h = (h ^ (unsigned char)s[k]) * 16777619u;
	for (i = h & (BATCH_SLOTS - 1); b->slot[i]; i = (i + 1) & (BATCH_SLOTS - 1))
		if (!strcmp(b->raw.p + b->off[b->slot[i] - 1], s))
			return b->slot[i] - 1;
	if (!json_ok(s))
		return -1;
	size_t off = b->raw.len;
	if (b->nstrings == BATCH_STRINGS || zk_wipe_buf_append(&b->raw, s, n + 1) != 0)
		return -2;
	b->off[b->nstrings] = (uint32_t)off;
	b->slot[i] = (uint16_t)(b->nstrings + 1);
	return (long)b->nstrings++;
}

static void put_i64(struct text *t, int64_t v)
{
	if (v < 0) {
		PUT(t, "-");
		put_u64(t, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(t, (uint64_t)v);
	}
}

/* Appends a read to the batch: [second - t0, action, userId, secretKey, tokenId, agentId, error, ipAddress,
   success, count], strings by index (docs/FORMAT.md §Audit log). */
static int batch_add(struct batch *b, const struct read_entry *r)
{
	static const enum read_field order[] = { RF_ACTION, RF_USER, RF_KEY, RF_TOKEN, RF_AGENT, RF_ERROR, RF_IP };
	char buf[BATCH_FIELDS * 22 + 8];
	struct text t = { .p = buf, .cap = sizeof(buf), .ok = true };
	long idx[sizeof(order) / sizeof(order[0])];

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if ((idx[i] = batch_string(b, read_field(r, order[i]))) < -1)
			return -1;
	if (idx[0] < 0)
		return -1; /* every read has an action */
	if (!b->nreads)
		b->t0 = r->second;
	PUT(&t, ",[");
	put_i64(&t, r->second - b->t0);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		PUT(&t, ",");
		put_i64(&t, idx[i]);
	}
	if (r->success)
		PUT(&t, ",1,");
	else
		PUT(&t, ",0,");
	put_u64(&t, r->count);
	PUT(&t, "]");
	size_t skip = b->nreads ? 0 : 1; /* no comma before the first */
	if (!t.ok || zk_wipe_buf_append(&b->reads, buf + skip, t.len - skip) != 0)
		return -1;
	b->nreads++;
	return 0;
}

/* An empty batch, allocated on first use; NULL when out of memory. */
static struct batch *batch_begin(struct read_audit *ra)
{
	struct batch *b = ra->batch;
	if (!b && !(b = ra->batch = calloc(1, sizeof(*b))))
		return NULL;
	if (b->raw.len)
		sodium_memzero(b->raw.p, b->raw.len);
	if (b->reads.len)
		sodium_memzero(b->reads.p, b->reads.len);
	if (b->nstrings)
		memset(b->slot, 0, sizeof(b->slot));
	b->raw.len = b->nstrings = b->reads.len = b->nreads = 0;
	return b;
}

/* The row's text into ra->text: {"seq":S,"t":T,"strings":[...],"reads":[...]}. Returns its length, 0 on error. */
static size_t batch_text(struct read_audit *ra, const struct batch *b, uint64_t seq)
{
	size_t cap = 64 + 6 * b->raw.len + 3 * b->nstrings + b->reads.len;
	struct text t = { .cap = cap, .ok = true };

	if (!(t.p = (char *)scratch_grow(&ra->text, cap, 0)))
		return 0;
	PUT(&t, "{\"seq\":");
	put_u64(&t, seq);
	PUT(&t, ",\"t\":");
	put_i64(&t, b->t0);
	PUT(&t, ",\"strings\":[");
	for (size_t i = 0; i < b->nstrings; i++) {
		const char *s = b->raw.p + b->off[i];
		if (i)
			PUT(&t, ",");
		if (plain_ascii(s)) {
			PUT(&t, "\"");
			put_str(&t, s);
			PUT(&t, "\"");
		} else {
			json_t *j = json_string(s);
			char *x = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
			json_decref(j);
			if (!x)
				return 0;
			put_str(&t, x);
			zk_wipe_str(x);
		}
	}
	PUT(&t, "],\"reads\":[");
	put(&t, b->reads.p, b->reads.len);
	PUT(&t, "]}");
	return t.ok ? t.len : 0;
}

/*
 * The reads taken in one go become one row, each distinct string stored once (batch_text; docs/FORMAT.md §Audit
 * log). Under a load of distinct (token, secret) pairs that is one seal, one chain hash and
 * one INSERT per batch instead of per read. A batch of one is an ordinary entry; so is every read while the
 * vault is locked (each sealed to the audit public key). The writer takes READ_TAKE entries per hold of the
 * ring's lock, so that readers are not kept waiting while a batch is formatted.
 */
void audit_flush_reads(struct vault *v, struct writer_state *st)
{
	struct read_audit *ra = v->raudit;
	struct read_entry r[READ_TAKE];

	/* At most one ring's worth per transaction, so a steady read load cannot keep it open for ever. */
	for (size_t done = 0; done < RING_SIZE;) {
		size_t n = take_reads(ra, r, READ_TAKE);
		if (n == 1)
			n += take_reads(ra, r + 1, READ_TAKE - 1);
		if (!n)
			break;
		done += n;
		struct batch *b = NULL;
		if (n == 1 || !v->keys || !v->initialized || !(b = batch_begin(ra))) {
			for (size_t i = 0; i < n && v->initialized; i++) {
				struct audit_event e = read_event(&r[i]);
				append_entry(v, st, &e, r[i].second * 1000, r[i].count, read_field(&r[i], RF_AGENT));
			}
			reads_wipe(r, n);
			continue;
		}
		int64_t ts = 0;
		int rc = 0;
		for (;;) {
			for (size_t i = 0; i < n && rc == 0; i++) {
				rc = batch_add(b, &r[i]);
				if (r[i].second * 1000 > ts)
					ts = r[i].second * 1000;
			}
			reads_wipe(r, n);
			if (rc != 0 || b->nreads >= READ_BATCH)
				break;
			n = take_reads(ra, r, READ_BATCH - b->nreads < READ_TAKE ? READ_BATCH - b->nreads : READ_TAKE);
			if (!n)
				break;
			done += n;
		}
		size_t len = rc == 0 ? batch_text(ra, b, st->audit_seq + 1) : 0;
		if (len) {
			append_row(v, st, (const char *)ra->text.p, len, ts);
			sodium_memzero(ra->text.p, len);
		}
	}
}

int audit_load_state(struct vault *v, struct writer_state *st)
{
	sqlite3_stmt *q;
	memset(st, 0, sizeof(*st));
	if (sqlite3_prepare_v2(v->db, "SELECT seq, chain FROM audit ORDER BY seq DESC LIMIT 1", -1, &q, NULL) !=
	    SQLITE_OK)
		return -1;
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 1) == ZK_HASH_BYTES) {
		st->audit_seq = (uint64_t)sqlite3_column_int64(q, 0);
		memcpy(st->audit_head, sqlite3_column_blob(q, 1), ZK_HASH_BYTES);
	}
	sqlite3_finalize(q);
	return 0;
}

int audit_save_state(struct vault *v, const struct writer_state *st)
{
	unsigned char head[8 + ZK_HASH_BYTES];
	zk_store_u64le(head, st->audit_seq);
	memcpy(head + 8, st->audit_head, ZK_HASH_BYTES);
	return store_meta_put(v->db, "audit_head", head, sizeof(head));
}

static void checkpoint_message(unsigned char m[8 + 16 + 8 + 32 + 8 + 8], const struct vault *v, uint64_t seq,
			       const unsigned char head[ZK_HASH_BYTES], uint64_t revision, int64_t ts)
{
	memcpy(m, "zkv1ckp\0", 8);
	memcpy(m + 8, v->vault_id, 16);
	zk_store_u64le(m + 24, seq);
	memcpy(m + 32, head, 32);
	zk_store_u64le(m + 64, revision);
	zk_store_u64le(m + 72, (uint64_t)ts);
}

void audit_maybe_checkpoint(struct vault *v, struct writer_state *st, bool force)
{
	struct read_audit *ra = v->raudit;
	int64_t now = zk_mono_ms();
	unsigned char m[80], sig[crypto_sign_BYTES];
	sqlite3_stmt *q;

	if (!v->keys || !st->audit_seq)
		return;
	if (!force && st->entries_since_checkpoint < CHECKPOINT_EVERY && now - ra->last_checkpoint_ms < CHECKPOINT_MS)
		return;
	if (!st->entries_since_checkpoint && !force)
		return;
	int64_t ts = zk_now_ms();
	checkpoint_message(m, v, st->audit_seq, st->audit_head, st->revision, ts);
	crypto_sign_detached(sig, NULL, m, sizeof(m), v->keys->checkpoint_sk);
	if (sqlite3_prepare_v2(v->db, "INSERT OR REPLACE INTO checkpoints(seq, head, revision, ts, sig) "
				      "VALUES(?,?,?,?,?)", -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)st->audit_seq);
	sqlite3_bind_blob(q, 2, st->audit_head, ZK_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)st->revision);
	sqlite3_bind_int64(q, 4, ts);
	sqlite3_bind_blob(q, 5, sig, sizeof(sig), SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_DONE) {
		st->entries_since_checkpoint = 0;
		st->checkpoint_due = false;
		ra->last_checkpoint_ms = now;
	}
	sqlite3_finalize(q);
}

static json_t *open_entry_with(struct vault *v, const struct zk_keys *k, uint64_t seq, int kind,
			       const unsigned char *blob, size_t len);

static json_t *open_entry(struct vault *v, uint64_t seq, int kind, const unsigned char *blob, size_t len)
{
	return open_entry_with(v, v->keys, seq, kind, blob, len);
}

int audit_rekey(struct vault *v, struct writer_state *st, const struct zk_keys *old, const struct zk_keys *nk)
{
	sqlite3_stmt *q, *u;
	unsigned char head[ZK_HASH_BYTES] = { 0 };
	int rc = -1;

	if (sqlite3_prepare_v2(v->db, "SELECT seq, ts, kind, blob FROM audit ORDER BY seq", -1, &q, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(v->db, "UPDATE audit SET kind=?, blob=?, chain=? WHERE seq=?", -1, &u, NULL) !=
	    SQLITE_OK) {
		sqlite3_finalize(q);
		return -1;
	}
	while (sqlite3_step(q) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(q, 0);
		int64_t ts = sqlite3_column_int64(q, 1);
		json_t *o = open_entry_with(v, old, seq, sqlite3_column_int(q, 2), sqlite3_column_blob(q, 3),
					    (size_t)sqlite3_column_bytes(q, 3));
		char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!text)
			goto out;
		size_t n = strlen(text), blen = n + ZK_SEAL_OVERHEAD;
		unsigned char *blob = malloc(blen), chain[ZK_HASH_BYTES];
		struct zk_aad a;
		if (!blob) {
			zk_wipe_str(text);
			goto out;
		}
		entry_aad(&a, v, seq);
		zk_seal(blob, (unsigned char *)text, n, &a, nk->audit_aead);
		zk_wipe_str(text);
		chain_hash(chain, head, seq, ts, AUDIT_AEAD, blob, blen);
		memcpy(head, chain, ZK_HASH_BYTES);
		sqlite3_reset(u);
		sqlite3_bind_int(u, 1, AUDIT_AEAD);
		sqlite3_bind_blob(u, 2, blob, (int)blen, SQLITE_TRANSIENT);
		sqlite3_bind_blob(u, 3, chain, ZK_HASH_BYTES, SQLITE_TRANSIENT);
		sqlite3_bind_int64(u, 4, (sqlite3_int64)seq);
		int step = sqlite3_step(u);
		free(blob);
		if (step != SQLITE_DONE)
			goto out;
	}
	if (store_exec(v->db, "DELETE FROM checkpoints") != 0)
		goto out;
	memcpy(st->audit_head, head, ZK_HASH_BYTES);
	st->checkpoint_due = true;
	rc = 0;
out:
	sqlite3_finalize(q);
	sqlite3_finalize(u);
	return rc;
}

#define AUDIT_SECONDS_MAX 253402300799 /* 9999-12-31T23:59:59Z */

/* A compact batch of reads (docs/FORMAT.md §Audit log): {"seq","t","strings","reads"}, every index checked. */
static bool batch_ok(const json_t *o, uint64_t seq)
{
	const json_t *strings = json_object_get(o, "strings"), *reads = json_object_get(o, "reads");
	json_int_t t0 = json_integer_value(json_object_get(o, "t")), ns = (json_int_t)json_array_size(strings);
	size_t i, j;
	json_t *r, *x;

	if (json_integer_value(json_object_get(o, "seq")) != (json_int_t)seq ||
	    !json_is_integer(json_object_get(o, "t")) || t0 < 0 || t0 > AUDIT_SECONDS_MAX || !json_is_array(strings) ||
	    !json_is_array(reads) || !json_array_size(reads))
		return false;
	json_array_foreach(strings, i, x)
		if (!json_is_string(x))
			return false;
	json_array_foreach(reads, i, r) {
		if (!json_is_array(r) || json_array_size(r) != BATCH_FIELDS)
			return false;
		json_array_foreach(r, j, x) {
			json_int_t n = json_integer_value(x);
			if (!json_is_integer(x) || (j == 0 && (t0 + n < 0 || t0 + n > AUDIT_SECONDS_MAX)) ||
			    (j >= 1 && j <= 7 && (n < (j == 1 ? 0 : -1) || n >= ns)) || (j == 8 && n != 0 && n != 1) ||
			    (j == 9 && n < 1))
				return false;
		}
	}
	return true;
}

/* The entries of a compact batch, oldest first, each as the plain entry it stands for with its "part". */
static json_t *batch_expand(const json_t *o, uint64_t seq)
{
	const json_t *strings = json_object_get(o, "strings"), *reads = json_object_get(o, "reads");
	json_int_t t0 = json_integer_value(json_object_get(o, "t"));
	json_t *out = json_array(), *r;
	size_t i;

	json_array_foreach(reads, i, r) {
		const char *f[BATCH_FIELDS - 3];
		for (size_t k = 0; k < BATCH_FIELDS - 3; k++) {
			json_int_t n = json_integer_value(json_array_get(r, k + 1));
			f[k] = n < 0 ? NULL : json_string_value(json_array_get(strings, (size_t)n));
		}
		struct audit_event e = { .action = f[0], .user_id = f[1], .secret_key = f[2], .token_id = f[3],
					 .error = f[5], .ip = f[6],
					 .success = json_integer_value(json_array_get(r, 8)) == 1 };
		int64_t ts = (t0 + json_integer_value(json_array_get(r, 0))) * 1000;
		json_array_append_new(out, event_json(&e, seq, (int)i, ts,
						      (uint64_t)json_integer_value(json_array_get(r, 9)), f[4]));
	}
	return out;
}

/*
 * An entry carries the seq of its row (for a sealed entry that is what binds it to the row). A batch of reads,
 * compact or (as written before 2026-11-27) an array of entries that all carry the row's seq, is only ever an
 * AEAD row.
 */
static bool entries_ok(const json_t *o, int kind, uint64_t seq)
{
	size_t i;
	json_t *e;

	if (json_is_object(o) && json_object_get(o, "reads"))
		return kind == AUDIT_AEAD && batch_ok(o, seq);
	if (json_is_object(o))
		return json_integer_value(json_object_get(o, "seq")) == (json_int_t)seq;
	if (!json_is_array(o) || kind != AUDIT_AEAD || !json_array_size(o))
		return false;
	json_array_foreach(o, i, e)
		if (!json_is_object(e) || json_integer_value(json_object_get(e, "seq")) != (json_int_t)seq)
			return false;
	return true;
}

static json_t *open_entry_with(struct vault *v, const struct zk_keys *k, uint64_t seq, int kind,
			       const unsigned char *blob, size_t len)
{
	unsigned char *m;
	size_t n;
	int ok;

	if (kind == AUDIT_AEAD) {
		struct zk_aad a;
		if (len < ZK_SEAL_OVERHEAD)
			return NULL;
		n = len - ZK_SEAL_OVERHEAD;
		if (!(m = zk_wipe_malloc(n + 1)))
			return NULL;
		entry_aad(&a, v, seq);
		ok = zk_open(m, blob, len, &a, k->audit_aead) == 0;
	} else {
		if (len < crypto_box_SEALBYTES)
			return NULL;
		n = len - crypto_box_SEALBYTES;
		if (!(m = zk_wipe_malloc(n + 1)))
			return NULL;
		ok = crypto_box_seal_open(m, blob, len, k->audit_pk, k->audit_sk) == 0;
	}
	json_t *o = ok ? json_loadb((const char *)m, n, 0, NULL) : NULL;
	zk_wipe_free(m);
	if (o && !entries_ok(o, kind, seq)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

json_t *audit_entries(json_t *row, int kind, uint64_t seq)
{
	json_t *out;
	if (!row || !entries_ok(row, kind, seq)) {
		json_decref(row);
		return NULL;
	}
	if (json_is_array(row))
		return row;
	if (json_object_get(row, "reads"))
		out = batch_expand(row, seq);
	else
		json_array_append(out = json_array(), row);
	json_decref(row);
	return out;
}

json_t *audit_query(struct vault *v, const char *secret_key, long limit)
{
	json_t *logs = json_array();
	sqlite3_stmt *q;

	pthread_mutex_lock(&v->rodb_lock);
	if (sqlite3_prepare_v2(v->rodb, "SELECT seq, kind, blob FROM audit ORDER BY seq DESC", -1, &q, NULL) ==
	    SQLITE_OK) {
		while ((long)json_array_size(logs) < limit && sqlite3_step(q) == SQLITE_ROW) {
			uint64_t seq = (uint64_t)sqlite3_column_int64(q, 0);
			int kind = sqlite3_column_int(q, 1);
			json_t *o = audit_entries(open_entry(v, seq, kind, sqlite3_column_blob(q, 2),
							     (size_t)sqlite3_column_bytes(q, 2)), kind, seq);
			if (!o)
				o = json_pack("[{sIss}]", "seq", (json_int_t)seq, "error", "entry cannot be decrypted");
			/* A batch of reads (oldest first) lists its entries newest first, like the rows. */
			for (size_t i = json_array_size(o); i-- > 0 && (long)json_array_size(logs) < limit;) {
				json_t *e = json_array_get(o, i);
				const char *k = json_string_value(json_object_get(e, "secretKey"));
				if (!secret_key || (k && !strcmp(k, secret_key)))
					json_array_append(logs, e);
			}
			json_decref(o);
		}
		sqlite3_finalize(q);
	}
	pthread_mutex_unlock(&v->rodb_lock);
	return logs;
}

/* Whether the stored chain value at seq is the signed head. */
static bool chain_at(struct vault *v, uint64_t seq, const unsigned char head[ZK_HASH_BYTES])
{
	sqlite3_stmt *q;
	bool ok = false;
	if (sqlite3_prepare_v2(v->db, "SELECT chain FROM audit WHERE seq=?", -1, &q, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)seq);
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 0) == ZK_HASH_BYTES)
		ok = sodium_memcmp(sqlite3_column_blob(q, 0), head, ZK_HASH_BYTES) == 0;
	sqlite3_finalize(q);
	return ok;
}

int audit_verify(struct vault *v, FILE *out)
{
	sqlite3_stmt *q;
	unsigned char head[ZK_HASH_BYTES] = { 0 };
	uint64_t expect = 0, entries = 0, checkpoints = 0;
	int bad = 0;

	if (sqlite3_prepare_v2(v->db, "SELECT seq, ts, kind, blob, chain FROM audit ORDER BY seq", -1, &q, NULL) !=
	    SQLITE_OK)
		return -1;
	while (sqlite3_step(q) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(q, 0);
		unsigned char chain[ZK_HASH_BYTES];
		if (entries == 0)
			expect = seq; /* retention may have moved the root; the first checkpoint then anchors it */
		if (seq != expect) {
			fprintf(out, "audit: entry %llu missing (found %llu)\n", (unsigned long long)expect,
				(unsigned long long)seq);
			bad = 1;
			break;
		}
		if (entries == 0 && seq != 1) {
			fprintf(out, "audit: log starts at entry %llu, not 1\n", (unsigned long long)seq);
			bad = 1;
			break;
		}
		chain_hash(chain, head, seq, sqlite3_column_int64(q, 1), sqlite3_column_int(q, 2),
			   sqlite3_column_blob(q, 3), (size_t)sqlite3_column_bytes(q, 3));
		if (sqlite3_column_bytes(q, 4) != ZK_HASH_BYTES ||
		    sodium_memcmp(chain, sqlite3_column_blob(q, 4), ZK_HASH_BYTES) != 0) {
			fprintf(out, "audit: entry %llu was altered or moved\n", (unsigned long long)seq);
			bad = 1;
			break;
		}
		memcpy(head, chain, ZK_HASH_BYTES);
		expect = seq + 1;
		entries++;
	}
	sqlite3_finalize(q);

	unsigned char *saved;
	size_t len;
	if (!bad && store_meta_get(v->db, "audit_head", &saved, &len) == 0) {
		if (len != 8 + ZK_HASH_BYTES || zk_load_u64le(saved) != entries ||
		    sodium_memcmp(saved + 8, head, ZK_HASH_BYTES) != 0) {
			fprintf(out, "audit: the log ends before its recorded head (entries were deleted)\n");
			bad = 1;
		}
		free(saved);
	}

	if (!bad && sqlite3_prepare_v2(v->db, "SELECT seq, head, revision, ts, sig FROM checkpoints ORDER BY seq",
				       -1, &q, NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW) {
			unsigned char m[80];
			uint64_t seq = (uint64_t)sqlite3_column_int64(q, 0);
			if (sqlite3_column_bytes(q, 1) != ZK_HASH_BYTES || sqlite3_column_bytes(q, 4) != crypto_sign_BYTES) {
				bad = 1;
				break;
			}
			checkpoint_message(m, v, seq, sqlite3_column_blob(q, 1), (uint64_t)sqlite3_column_int64(q, 2),
					   sqlite3_column_int64(q, 3));
			if (crypto_sign_verify_detached(sqlite3_column_blob(q, 4), m, sizeof(m), v->checkpoint_pk) != 0) {
				fprintf(out, "audit: checkpoint at entry %llu has a bad signature\n",
					(unsigned long long)seq);
				bad = 1;
				break;
			}
			if (seq > entries || !chain_at(v, seq, sqlite3_column_blob(q, 1))) {
				fprintf(out, "audit: checkpoint at entry %llu does not match the log (altered or truncated)\n",
					(unsigned long long)seq);
				bad = 1;
				break;
			}
			checkpoints++;
		}
		sqlite3_finalize(q);
	}
	if (!bad)
		fprintf(out, "audit: %llu entries, %llu signed checkpoints, chain intact\n",
			(unsigned long long)entries, (unsigned long long)checkpoints);
	return bad ? 1 : 0;
}
