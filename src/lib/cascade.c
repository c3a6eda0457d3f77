#include "lib/cascade.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "ZKC1"
#define LEVEL_CONTEXT "zkv1cas\0"
#define HEADER (4 + ZK_CASCADE_SALT_BYTES + 1)
#define LEVEL_HEADER (1 + 4)
#define MAX_K 32
#define MAX_BITS (UINT32_C(1) << 31)

typedef unsigned char id_t16[ZK_CASCADE_ID_BYTES];

/* key_i = BLAKE2b-128(key = salt, "zkv1cas\0" | u8 i) */
static void level_key(unsigned char key[16], const unsigned char salt[ZK_CASCADE_SALT_BYTES], int i)
{
	unsigned char in[9];
	memcpy(in, LEVEL_CONTEXT, 8);
	in[8] = (unsigned char)i;
	crypto_generichash(key, 16, in, sizeof(in), salt, ZK_CASCADE_SALT_BYTES);
}

static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 8; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* Bit j of an id at a level: (h1 + j * h2) mod 2^64 mod m, with h1 | h2 = SipHash-2-4-128(key, id), h2 odd. */
static void positions(uint64_t *h1, uint64_t *h2, const struct zk_cascade_level *l, const unsigned char *id)
{
	unsigned char h[crypto_shorthash_siphashx24_BYTES];
	crypto_shorthash_siphashx24(h, id, ZK_CASCADE_ID_BYTES, l->key);
	*h1 = le64(h);
	*h2 = le64(h + 8) | 1;
}

static bool level_has(const struct zk_cascade_level *l, const unsigned char *id)
{
	uint64_t h1, h2;
	positions(&h1, &h2, l, id);
	for (unsigned j = 0; j < l->k; j++) {
		uint64_t bit = (h1 + j * h2) % l->m;
		if (!(l->bits[bit >> 3] & (1u << (bit & 7))))
			return false;
	}
	return true;
}

static void level_add(const struct zk_cascade_level *l, unsigned char *bits, const unsigned char *id)
{
	uint64_t h1, h2;
	positions(&h1, &h2, l, id);
	for (unsigned j = 0; j < l->k; j++) {
		uint64_t bit = (h1 + j * h2) % l->m;
		bits[bit >> 3] |= (unsigned char)(1u << (bit & 7));
	}
}

/* Bloom size for n items at false-positive rate p: m = n ln(1/p) / ln(2)^2 bits, k = log2(1/p) hashes. */
static void size_level(uint32_t *m, unsigned *k, size_t n, double p)
{
	double bits = ceil((double)n * log(1 / p) / (M_LN2 * M_LN2));
	if (bits < 8)
		bits = 8;
	if (bits > (double)MAX_BITS)
		bits = (double)MAX_BITS;
	*m = (uint32_t)bits;
	long kk = lround(log2(1 / p));
	*k = kk < 1 ? 1 : kk > MAX_K ? MAX_K : (unsigned)kk;
}

int zk_cascade_build(unsigned char **out, size_t *out_len, const unsigned char (*revoked)[ZK_CASCADE_ID_BYTES],
		     size_t nrevoked, const unsigned char (*valid)[ZK_CASCADE_ID_BYTES], size_t nvalid,
		     const unsigned char salt[ZK_CASCADE_SALT_BYTES])
{
	/* include: the ids the next level holds; exclude: the ids it is tested against. Both start as copies. */
	id_t16 *inc = NULL, *exc = NULL;
	unsigned char *buf = NULL;
	size_t ninc = nrevoked, nexc = nvalid, len = HEADER, cap = 0;
	int nlevels = 0, rc = -1;

	if (!out || !out_len || (nrevoked && !revoked) || (nvalid && !valid))
		return -1;
	inc = malloc((nrevoked ? nrevoked : 1) * sizeof(*inc));
	exc = malloc((nvalid ? nvalid : 1) * sizeof(*exc));
	cap = HEADER + 4096;
	buf = malloc(cap);
	if (!inc || !exc || !buf)
		goto done;
	if (nrevoked)
		memcpy(inc, revoked, nrevoked * sizeof(*inc));
	if (nvalid)
		memcpy(exc, valid, nvalid * sizeof(*exc));
	memcpy(buf, MAGIC, 4);
	memcpy(buf + 4, salt, ZK_CASCADE_SALT_BYTES);

	while (ninc) {
		if (nlevels == ZK_CASCADE_MAX_LEVELS)
			goto done; /* the sets overlap, or the hashes are hopeless */
		struct zk_cascade_level l;
		/* CRLite's choice: the first level sized for sqrt(2) r / s, the others for 1/2. */
		double p = 0.5;
		if (nlevels == 0 && nexc)
			p = fmin(0.5, fmax(1e-9, (double)ninc * M_SQRT2 / (double)nexc));
		size_level(&l.m, &l.k, ninc, p);
		level_key(l.key, salt, nlevels);
		size_t nbytes = (l.m + 7) / 8;
		if (len + LEVEL_HEADER + nbytes > cap) {
			size_t ncap = (len + LEVEL_HEADER + nbytes) * 2;
			unsigned char *nb = realloc(buf, ncap);
			if (!nb)
				goto done;
			buf = nb;
			cap = ncap;
		}
		unsigned char *p_hdr = buf + len, *bits = p_hdr + LEVEL_HEADER;
		p_hdr[0] = (unsigned char)l.k;
		for (int i = 0; i < 4; i++)
			p_hdr[1 + i] = (unsigned char)(l.m >> (8 * i));
		memset(bits, 0, nbytes);
		for (size_t i = 0; i < ninc; i++)
			level_add(&l, bits, inc[i]);
		l.bits = bits;
		len += LEVEL_HEADER + nbytes;
		nlevels++;
		/* The excluded ids this level would wrongly claim are what the next level must hold. */
		size_t nfp = 0;
		for (size_t i = 0; i < nexc; i++)
			if (level_has(&l, exc[i]))
				memmove(exc[nfp++], exc[i], ZK_CASCADE_ID_BYTES);
		id_t16 *t = inc;
		inc = exc;
		exc = t;
		nexc = ninc;
		ninc = nfp;
	}
	buf[4 + ZK_CASCADE_SALT_BYTES] = (unsigned char)nlevels;
	*out = buf;
	*out_len = len;
	buf = NULL;
	rc = 0;
done:
	free(buf);
	free(inc);
	free(exc);
	return rc;
}

int zk_cascade_parse(struct zk_cascade *c, const unsigned char *buf, size_t len)
{
	if (!c || !buf || len < HEADER || memcmp(buf, MAGIC, 4) != 0)
		return -1;
	const unsigned char *salt = buf + 4;
	int n = buf[4 + ZK_CASCADE_SALT_BYTES];
	size_t p = HEADER;
	if (n > ZK_CASCADE_MAX_LEVELS)
		return -1;
	for (int i = 0; i < n; i++) {
		struct zk_cascade_level *l = &c->level[i];
		if (len - p < LEVEL_HEADER)
			return -1;
		l->k = buf[p];
		l->m = (uint32_t)buf[p + 1] | (uint32_t)buf[p + 2] << 8 | (uint32_t)buf[p + 3] << 16 |
		       (uint32_t)buf[p + 4] << 24;
		p += LEVEL_HEADER;
		size_t nbytes = ((size_t)l->m + 7) / 8;
		if (l->k < 1 || l->k > MAX_K || l->m < 8 || l->m > MAX_BITS || len - p < nbytes)
			return -1;
		l->bits = buf + p;
		level_key(l->key, salt, i);
		p += nbytes;
	}
	if (p != len)
		return -1;
	c->nlevels = n;
	return 0;
}

bool zk_cascade_revoked(const struct zk_cascade *c, const unsigned char id[ZK_CASCADE_ID_BYTES])
{
	/* Level 0 holds the revoked ids; leaving at an even level means valid, at an odd one revoked. */
	for (int i = 0; i < c->nlevels; i++)
		if (!level_has(&c->level[i], id))
			return i % 2 == 1;
	return c->nlevels % 2 == 1;
}
