#include "lib/revsnap.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "ZKR1"
#define CERT_CONTEXT "zkv1rvk\0"
#define SIG_CONTEXT "zkv1rvl\0"
#define FIXED (4 + 1 + 16 + 8 + 8 + 8 + 8 + 32 + 64)

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 8; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void zk_revsnap_cert(unsigned char cert[64], const unsigned char vault_id[16], const unsigned char rev_pk[32],
		     const unsigned char token_sk[64])
{
	unsigned char m[8 + 16 + 32];
	memcpy(m, CERT_CONTEXT, 8);
	memcpy(m + 8, vault_id, 16);
	memcpy(m + 24, rev_pk, 32);
	crypto_sign_detached(cert, NULL, m, sizeof(m), token_sk);
}

/* The signed message: "zkv1rvl\0" | body. */
static int sig_op(unsigned char *sig, const unsigned char *body, size_t len, const unsigned char *key, bool sign)
{
	unsigned char *m = malloc(8 + len);
	if (!m)
		return -1;
	memcpy(m, SIG_CONTEXT, 8);
	memcpy(m + 8, body, len);
	int rc = sign ? crypto_sign_detached(sig, NULL, m, 8 + len, key)
		      : crypto_sign_verify_detached(sig, m, 8 + len, key);
	free(m);
	return rc;
}

int zk_revsnap_sign(unsigned char **out, size_t *len, const struct zk_revsnap *s, const unsigned char rev_sk[64])
{
	if (!out || !len || !s || (s->kind != ZK_REVSNAP_FULL && s->kind != ZK_REVSNAP_DELTA) ||
	    s->cascade_len > UINT32_MAX || s->nids > UINT32_MAX / 16 || (s->kind == ZK_REVSNAP_DELTA && s->cascade_len))
		return -1;
	size_t total = FIXED + 4 + s->cascade_len + 4 + s->nids * 16 + 64;
	unsigned char *b = malloc(total), *p = b;
	if (!b)
		return -1;
	memcpy(p, MAGIC, 4);
	p[4] = (unsigned char)s->kind;
	memcpy(p + 5, s->vault_id, 16);
	put64(p + 21, s->epoch);
	put64(p + 29, s->since);
	put64(p + 37, (uint64_t)s->built_ms);
	put64(p + 45, (uint64_t)s->covered_ms);
	memcpy(p + 53, s->rev_pk, 32);
	memcpy(p + 85, s->cert, 64);
	p += FIXED;
	put32(p, (uint32_t)s->cascade_len);
	if (s->cascade_len)
		memcpy(p + 4, s->cascade, s->cascade_len);
	p += 4 + s->cascade_len;
	put32(p, (uint32_t)s->nids);
	if (s->nids)
		memcpy(p + 4, s->ids, s->nids * 16);
	p += 4 + s->nids * 16;
	if (sig_op(p, b, (size_t)(p - b), rev_sk, true) != 0) {
		free(b);
		return -1;
	}
	*out = b;
	*len = total;
	return 0;
}

int zk_revsnap_open(struct zk_revsnap *s, const unsigned char *buf, size_t len, const unsigned char token_pk[32])
{
	struct zk_revsnap r;
	unsigned char m[8 + 16 + 32];
	if (!s || !buf || len < FIXED + 4 + 4 + 64 || memcmp(buf, MAGIC, 4) != 0)
		return -1;
	memset(&r, 0, sizeof(r));
	r.kind = buf[4];
	memcpy(r.vault_id, buf + 5, 16);
	r.epoch = get64(buf + 21);
	r.since = get64(buf + 29);
	r.built_ms = (int64_t)get64(buf + 37);
	r.covered_ms = (int64_t)get64(buf + 45);
	memcpy(r.rev_pk, buf + 53, 32);
	memcpy(r.cert, buf + 85, 64);
	size_t p = FIXED;
	r.cascade_len = get32(buf + p);
	p += 4;
	if (len - p < r.cascade_len + 4 + 64)
		return -1;
	r.cascade = buf + p;
	p += r.cascade_len;
	r.nids = get32(buf + p);
	p += 4;
	if ((len - p - 64) / 16 < r.nids || p + r.nids * 16 + 64 != len)
		return -1;
	r.ids = buf + p;
	p += r.nids * 16;
	if ((r.kind != ZK_REVSNAP_FULL && r.kind != ZK_REVSNAP_DELTA) || (r.kind == ZK_REVSNAP_DELTA && r.cascade_len))
		return -1;
	/* Which key first: the certificate under the pinned token key, then the snapshot under the certified key. */
	memcpy(m, CERT_CONTEXT, 8);
	memcpy(m + 8, r.vault_id, 16);
	memcpy(m + 24, r.rev_pk, 32);
	if (crypto_sign_verify_detached(r.cert, m, sizeof(m), token_pk) != 0 ||
	    sig_op((unsigned char *)buf + p, buf, p, r.rev_pk, false) != 0)
		return -1;
	struct zk_cascade c;
	if (r.kind == ZK_REVSNAP_FULL && zk_cascade_parse(&c, r.cascade, r.cascade_len) != 0)
		return -1;
	if (r.kind == ZK_REVSNAP_DELTA)
		r.cascade = NULL;
	*s = r;
	return 0;
}

int zk_revview_init(struct zk_revview *v, const struct zk_revsnap *full)
{
	memset(v, 0, sizeof(*v));
	if (full->kind != ZK_REVSNAP_FULL || zk_cascade_parse(&v->cascade, full->cascade, full->cascade_len) != 0)
		return -1;
	v->full = *full;
	v->epoch = full->epoch;
	return 0;
}

int zk_revview_apply(struct zk_revview *v, const struct zk_revsnap *d)
{
	if (d->kind != ZK_REVSNAP_DELTA || memcmp(d->vault_id, v->full.vault_id, 16) != 0 || d->since != v->epoch ||
	    d->epoch < d->since)
		return -1;
	const unsigned char **ids = realloc(v->delta_ids, (v->ndeltas + 1) * sizeof(*ids));
	if (!ids)
		return -1;
	v->delta_ids = ids;
	size_t *n = realloc(v->delta_n, (v->ndeltas + 1) * sizeof(*n));
	if (!n)
		return -1;
	v->delta_n = n;
	v->delta_ids[v->ndeltas] = d->ids;
	v->delta_n[v->ndeltas++] = d->nids;
	v->epoch = d->epoch;
	return 0;
}

void zk_revview_free(struct zk_revview *v)
{
	free(v->delta_ids);
	free(v->delta_n);
	memset(v, 0, sizeof(*v));
}

static bool listed(const unsigned char *ids, size_t n, const unsigned char id[16])
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(ids + 16 * i, id, 16))
			return true;
	return false;
}

static bool explicit_revoked(const struct zk_revview *v, const unsigned char id[16])
{
	if (listed(v->full.ids, v->full.nids, id))
		return true;
	for (size_t d = 0; d < v->ndeltas; d++)
		if (listed(v->delta_ids[d], v->delta_n[d], id))
			return true;
	return false;
}

bool zk_revview_revoked(const struct zk_revview *v, const unsigned char jti[16], int64_t iat_ms,
			const unsigned char (*rids)[16], size_t nrids)
{
	if (explicit_revoked(v, jti))
		return true;
	for (size_t i = 0; i < nrids; i++)
		if (explicit_revoked(v, rids[i]))
			return true;
	/* The cascade is exact only over the tokens it was built from: those issued up to its coverage bound. */
	return iat_ms <= v->full.covered_ms && zk_cascade_revoked(&v->cascade, jti);
}
