/*
 * A sealed record: nonce | XChaCha20-Poly1305(JSON) with
 * AAD = "zkv1rec\0" | vault id | name hash | record id | version u64le | tombstone u8.
 * The plaintext JSON holds the name, so names are hidden at rest and a record cannot move between names.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "vaultd/vaultd.h"

void record_aad(struct zk_aad *a, const struct vault *v, const unsigned char name_hash[ZK_HASH_BYTES],
		const unsigned char record_id[ZK_RECORD_ID_BYTES], uint64_t version, bool tombstone)
{
	unsigned char t = tombstone ? 1 : 0;
	zk_aad_init(a, "zkv1rec\0", v->vault_id);
	zk_aad_put(a, name_hash, ZK_HASH_BYTES);
	zk_aad_put(a, record_id, ZK_RECORD_ID_BYTES);
	zk_aad_u64(a, version);
	zk_aad_put(a, &t, 1);
}

int record_open(json_t **out, const struct vault *v, const struct zk_keys *k, const struct index_entry *e)
{
	struct zk_aad a;
	size_t n;
	unsigned char *m;
	json_t *j;

	if (e->sealed_len < ZK_SEAL_OVERHEAD)
		return -1;
	n = e->sealed_len - ZK_SEAL_OVERHEAD;
	if (!(m = zk_wipe_malloc(n + 1)))
		return -1;
	record_aad(&a, v, e->name_hash, e->record_id, e->version, e->tombstone);
	if (zk_open(m, e->sealed, e->sealed_len, &a, k->record_aead) != 0) {
		zk_wipe_free(m);
		return -1;
	}
	j = json_loadb((const char *)m, n, JSON_REJECT_DUPLICATES, NULL);
	zk_wipe_free(m);
	if (!json_is_object(j)) {
		json_decref(j);
		return -1;
	}
	*out = j;
	return 0;
}

/*
 * The fast path of GET /secrets/:key. The reply {"key","value","metadata","version"} is what json_pack +
 * json_dumps(JSON_COMPACT) make of the record, and record_write stores each record as json_dumps(JSON_COMPACT)
 * wrote it, so for such a record "value" and "metadata" can be copied from the plaintext as they are: same
 * bytes, without building and serialising a jansson tree (two thirds of the instructions of a read).
 * canon_* accept exactly what jansson writes (no whitespace; strings valid UTF-8 with jansson's escapes; integers
 * only; no duplicate keys; bounded depth). Anything else makes record_reply return 1 and the caller takes the
 * jansson path, so the answer never differs.
 */
#define CANON_DEPTH 32
#define CANON_KEYS 64

/* The spans of "value" and "metadata" in the top-level object. */
struct canon_top {
	const char *val, *meta;
	size_t vlen, mlen;
};

static const char *canon_value(const char *p, const char *end, int depth);

static const char *canon_string(const char *p, const char *end)
{
	if (p == end || *p++ != '"')
		return NULL;
	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			if (end - p < 2)
				return NULL;
			switch (p[1]) {
			case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't':
				p += 2;
				continue;
			case 'u': {
				/* \u00XX, upper-case hex, for the control characters without a short escape; no NUL. */
				static const char hex[] = "0123456789ABCDEF";
				const char *x = end - p >= 6 && p[5] ? memchr(hex, p[5], 16) : NULL;
				if (!x || p[2] != '0' || p[3] != '0' || (p[4] != '0' && p[4] != '1'))
					return NULL;
				int cp = (p[4] - '0') * 16 + (int)(x - hex);
				if (cp == 0 || cp == '\b' || cp == '\t' || cp == '\n' || cp == '\f' || cp == '\r')
					return NULL;
				p += 6;
				continue;
			}
			default:
				return NULL;
			}
		}
		if (c < 0x80) {
			p++;
			continue;
		}
		/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as jansson checks it. */
		size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
		if (c < 0xC2 || c > 0xF4 || (size_t)(end - p) < n)
			return NULL;
		unsigned char c1 = (unsigned char)p[1];
		if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F))
			return NULL;
		for (size_t i = 1; i < n; i++)
			if (((unsigned char)p[i] & 0xC0) != 0x80)
				return NULL;
		p += n;
	}
	return NULL;
}

/* Integers as jansson writes them ("%lld"), short enough not to overflow; reals take the jansson path. */
static const char *canon_number(const char *p, const char *end)
{
	const char *q = p;
	if (q < end && *q == '-')
		q++;
	const char *digits = q;
	while (q < end && *q >= '0' && *q <= '9')
		q++;
	size_t n = (size_t)(q - digits);
	if (n == 0 || n > 18 || (n > 1 && *digits == '0') || (n == 1 && *digits == '0' && digits != p))
		return NULL;
	if (q < end && (*q == '.' || *q == 'e' || *q == 'E'))
		return NULL;
	return q;
}

static const char *canon_object(const char *p, const char *end, int depth, struct canon_top *top)
{
	const char *keys[CANON_KEYS];
	size_t lens[CANON_KEYS];
	int nkeys = 0;

	p++;
	if (p < end && *p == '}')
		return p + 1;
	for (;;) {
		const char *k = p;
		if (!(p = canon_string(p, end)) || nkeys == CANON_KEYS)
			return NULL;
		/* A duplicate key fails json_loadb(JSON_REJECT_DUPLICATES); escapes are unique, so bytes compare. */
		for (int i = 0; i < nkeys; i++)
			if (lens[i] == (size_t)(p - k) && !memcmp(keys[i], k, lens[i]))
				return NULL;
		keys[nkeys] = k;
		lens[nkeys++] = (size_t)(p - k);
		if (p == end || *p++ != ':')
			return NULL;
		const char *v = p;
		if (!(p = canon_value(p, end, depth + 1)) || p == end)
			return NULL;
		if (top && lens[nkeys - 1] == 7 && !memcmp(k, "\"value\"", 7)) {
			top->val = v;
			top->vlen = (size_t)(p - v);
		} else if (top && lens[nkeys - 1] == 10 && !memcmp(k, "\"metadata\"", 10)) {
			top->meta = v;
			top->mlen = (size_t)(p - v);
		}
		if (*p == '}')
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *canon_value(const char *p, const char *end, int depth)
{
	if (p == end || depth > CANON_DEPTH)
		return NULL;
	switch (*p) {
	case '"':
		return canon_string(p, end);
	case '{':
		return canon_object(p, end, depth, NULL);
	case '[':
		p++;
		if (p < end && *p == ']')
			return p + 1;
		for (;;) {
			if (!(p = canon_value(p, end, depth + 1)) || p == end)
				return NULL;
			if (*p == ']')
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	case 't':
		return end - p >= 4 && !memcmp(p, "true", 4) ? p + 4 : NULL;
	case 'f':
		return end - p >= 5 && !memcmp(p, "false", 5) ? p + 5 : NULL;
	case 'n':
		return end - p >= 4 && !memcmp(p, "null", 4) ? p + 4 : NULL;
	default:
		return canon_number(p, end);
	}
}

/* One pass over a canonical record, noting its top-level "value" and "metadata"; false when it is not one. */
static bool canon_record(const char *p, const char *end, struct canon_top *top)
{
	memset(top, 0, sizeof(*top));
	return p < end && *p == '{' && canon_object(p, end, 0, top) == end && top->val && top->meta;
}

int record_reply(char **out, const struct vault *v, const struct zk_keys *k, const struct index_entry *e,
		 const char *key)
{
	struct zk_aad a;
	struct canon_top top;
	size_t n, klen = strlen(key);
	unsigned char small[512], *m; /* plaintext: on the stack when it fits, wiped either way */
	int rc = 1;

	/* The key is a checked secret name (letters, digits, "_.-"): it needs no escaping. */
	for (size_t i = 0; i < klen; i++)
		if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] >= 0x7F || key[i] == '"' || key[i] == '\\')
			return 1;
	if (e->sealed_len < ZK_SEAL_OVERHEAD)
		return 1;
	n = e->sealed_len - ZK_SEAL_OVERHEAD;
	if (!(m = n < sizeof(small) ? small : zk_wipe_malloc(n)))
		return -1;
	record_aad(&a, v, e->name_hash, e->record_id, e->version, e->tombstone);
	if (zk_open(m, e->sealed, e->sealed_len, &a, k->record_aead) != 0)
		rc = -1;
	else if (canon_record((const char *)m, (const char *)m + n, &top)) {
		char num[20], *d = num + sizeof(num);
		uint64_t x = e->version;
		do
			*--d = (char)('0' + x % 10);
		while (x /= 10);
		size_t dn = (size_t)(num + sizeof(num) - d);
		char *t = zk_wipe_malloc(8 + klen + 10 + top.vlen + 12 + top.mlen + 11 + dn + 2), *o = t;
#define PUT(s, len) (memcpy(o, (s), (len)), o += (len))
		if (t) {
			PUT("{\"key\":\"", 8);
			PUT(key, klen);
			PUT("\",\"value\":", 10);
			PUT(top.val, top.vlen);
			PUT(",\"metadata\":", 12);
			PUT(top.meta, top.mlen);
			PUT(",\"version\":", 11);
			PUT(d, dn);
			PUT("}", 2); /* with the terminating NUL */
			*out = t;
			rc = 0;
		} else {
			rc = -1;
		}
#undef PUT
	}
	if (m == small)
		sodium_memzero(small, n);
	else
		zk_wipe_free(m);
	return rc;
}

bool records_foreach(struct vault *v, record_visit_fn *visit, void *ctx)
{
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	bool unlocked = v->keys != NULL;
	for (size_t i = 0; unlocked && i < v->index.cap; i++) {
		const struct index_entry *e = v->index.slots[i];
		json_t *rec;
		if (!e || e->tombstone || record_open(&rec, v, v->keys, e) != 0)
			continue;
		visit(rec, e, ctx);
		json_decref(rec);
	}
	zk_brlock_rdunlock(&v->state_lock, slot);
	return unlocked;
}

json_t *records_sorted(json_t *arr, int (*cmp)(const void *, const void *))
{
	size_t n = json_array_size(arr);
	json_t **items = malloc((n ? n : 1) * sizeof(*items)), *out = json_array();
	for (size_t i = 0; items && i < n; i++)
		items[i] = json_array_get(arr, i);
	if (items)
		qsort(items, n, sizeof(*items), cmp);
	for (size_t i = 0; items && i < n; i++)
		json_array_append(out, items[i]);
	free(items);
	json_decref(arr);
	return out;
}
