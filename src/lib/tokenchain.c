#include "lib/crypto.h"
#include "lib/tokenchain.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define BLOCK_MAGIC "zkb1"
#define BLOCK_CONTEXT "zkv1blk\0"
#define RID_CONTEXT "zkv1rid\0"
#define SIG_BYTES 64
#define PK_BYTES 32
/* magic, depth, exp, perms, max_uses, aud_len, npatterns, next_pk */
#define BLOCK_FIXED (4 + 1 + 8 + 1 + 4 + 1 + 1 + PK_BYTES)
#define BLOCK_MAX (BLOCK_FIXED + ZK_CHAIN_AUD_MAX + ZK_CHAIN_PATTERN_BYTES + SIG_BYTES)

static const char *const perm_names[] = { "read", "write", "delete", "use", "admin" };

unsigned zk_chain_perm_parse(const char *name)
{
	for (unsigned i = 0; i < sizeof(perm_names) / sizeof(perm_names[0]); i++)
		if (!strcmp(name, perm_names[i]))
			return 1u << i;
	return 0;
}

const char *zk_chain_perm_name(unsigned bit)
{
	for (unsigned i = 0; i < sizeof(perm_names) / sizeof(perm_names[0]); i++)
		if (bit == 1u << i)
			return perm_names[i];
	return NULL;
}

static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
	       ch == '.' || ch == '-';
}

bool zk_chain_pattern_valid(const char *p, size_t len)
{
	if (len == 0 || len > ZK_CHAIN_PATTERN_MAX)
		return false;
	size_t name_len = p[len - 1] == '*' ? len - 1 : len;
	for (size_t i = 0; i < name_len; i++)
		if (!name_char(p[i]))
			return false;
	return true;
}

bool zk_chain_aud_valid(const char *a, size_t len)
{
	if (len == 0 || len > ZK_CHAIN_AUD_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char(a[i]) && a[i] != ':' && a[i] != '@')
			return false;
	return true;
}

bool zk_pattern_covers(const char *p, const char *q)
{
	size_t n = strlen(p);
	if (n && p[n - 1] == '*')
		return strncmp(q, p, n - 1) == 0;
	return strcmp(p, q) == 0;
}

bool zk_caveats_allow_name(const struct zk_caveats *c, const char *name)
{
	for (int i = 0; i < c->npatterns; i++)
		if (zk_pattern_covers(c->patterns + c->pattern_off[i], name))
			return true;
	return false;
}

int zk_caveats_add_pattern(struct zk_caveats *c, const char *p)
{
	size_t n = strlen(p), used = 0;
	if (!zk_chain_pattern_valid(p, n) || c->npatterns >= ZK_CHAIN_MAX_PATTERNS)
		return -1;
	if (c->npatterns) {
		const char *last = c->patterns + c->pattern_off[c->npatterns - 1];
		used = (size_t)(last - c->patterns) + strlen(last) + 1;
	}
	if (used + n + 1 > sizeof(c->patterns))
		return -1;
	c->pattern_off[c->npatterns++] = (uint16_t)used;
	memcpy(c->patterns + used, p, n + 1);
	return 0;
}

bool zk_caveats_narrows(const struct zk_caveats *child, const struct zk_caveats *parent)
{
	if (child->exp_ms > parent->exp_ms || (child->perms & ~parent->perms))
		return false;
	if (parent->aud[0] && strcmp(child->aud, parent->aud) != 0)
		return false;
	if (parent->max_uses && (child->max_uses == 0 || child->max_uses > parent->max_uses))
		return false;
	for (int i = 0; i < child->npatterns; i++)
		if (!zk_caveats_allow_name(parent, child->patterns + child->pattern_off[i]))
			return false;
	return true;
}

void zk_chain_rid(unsigned char rid[ZK_CHAIN_RID_BYTES], const unsigned char sig[64])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, ZK_CHAIN_RID_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)RID_CONTEXT, 8);
	crypto_generichash_update(&st, sig, SIG_BYTES);
	crypto_generichash_final(&st, rid, ZK_CHAIN_RID_BYTES);
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

size_t zk_chain_block_encode(unsigned char *buf, size_t n, int depth, const struct zk_caveats *c,
			     const unsigned char next_pk[32])
{
	size_t aud_len = strlen(c->aud), p = 0;
	if (depth < 1 || depth > ZK_CHAIN_MAX_BLOCKS || c->exp_ms < 0 || (c->perms & ~ZK_CHAIN_PERMS_ALL) ||
	    c->npatterns < 1 || c->npatterns > ZK_CHAIN_MAX_PATTERNS ||
	    (aud_len && !zk_chain_aud_valid(c->aud, aud_len)) || n < BLOCK_FIXED + aud_len)
		return 0;
	memcpy(buf, BLOCK_MAGIC, 4);
	buf[4] = (unsigned char)depth;
	put_le(buf + 5, (uint64_t)c->exp_ms, 8);
	buf[13] = (unsigned char)c->perms;
	put_le(buf + 14, c->max_uses, 4);
	buf[18] = (unsigned char)aud_len;
	memcpy(buf + 19, c->aud, aud_len);
	p = 19 + aud_len;
	buf[p++] = (unsigned char)c->npatterns;
	for (int i = 0; i < c->npatterns; i++) {
		const char *pat = c->patterns + c->pattern_off[i];
		size_t len = strlen(pat);
		if (!zk_chain_pattern_valid(pat, len) || p + 1 + len + PK_BYTES > n)
			return 0;
		buf[p++] = (unsigned char)len;
		memcpy(buf + p, pat, len);
		p += len;
	}
	if (p + PK_BYTES > n)
		return 0;
	memcpy(buf + p, next_pk, PK_BYTES);
	return p + PK_BYTES;
}

/* Parses one block's payload (canonically: every byte accounted for, every field in range). */
static int block_decode(struct zk_chain_block *b, int *depth, const unsigned char *in, size_t len)
{
	struct zk_caveats *c = &b->cav;
	size_t p;
	memset(c, 0, sizeof(*c));
	if (len < BLOCK_FIXED || memcmp(in, BLOCK_MAGIC, 4) != 0)
		return -1;
	*depth = in[4];
	uint64_t exp = get_le(in + 5, 8);
	if (exp > INT64_MAX || (in[13] & ~ZK_CHAIN_PERMS_ALL))
		return -1;
	c->exp_ms = (int64_t)exp;
	c->perms = in[13];
	c->max_uses = (uint32_t)get_le(in + 14, 4);
	size_t aud_len = in[18];
	if (aud_len > ZK_CHAIN_AUD_MAX || 19 + aud_len + 1 + PK_BYTES > len ||
	    (aud_len && !zk_chain_aud_valid((const char *)in + 19, aud_len)))
		return -1;
	memcpy(c->aud, in + 19, aud_len);
	p = 19 + aud_len;
	int npatterns = in[p++];
	if (npatterns < 1 || npatterns > ZK_CHAIN_MAX_PATTERNS)
		return -1;
	size_t used = 0;
	for (int i = 0; i < npatterns; i++) {
		if (p >= len)
			return -1;
		size_t n = in[p++];
		if (p + n + PK_BYTES > len || !zk_chain_pattern_valid((const char *)in + p, n) ||
		    used + n + 1 > sizeof(c->patterns))
			return -1;
		c->pattern_off[c->npatterns++] = (uint16_t)used;
		memcpy(c->patterns + used, in + p, n);
		c->patterns[used + n] = '\0';
		used += n + 1;
		p += n;
	}
	if (p + PK_BYTES != len)
		return -1;
	memcpy(b->next_pk, in + p, PK_BYTES);
	return 0;
}

static int b64_decode(unsigned char *out, size_t max, size_t *out_len, const char *s, size_t len)
{
	return zk_base642bin(out, max, s, len, out_len, NULL, B64);
}

void zk_chain_free(struct zk_chain *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->nblocks; i++)
		free(c->block[i].payload);
	sodium_memzero(c->proof, sizeof(c->proof));
	free(c);
}

/* The root: "v4.public." b64url(m | sig) ["." b64url(footer)]; only its signature is taken here. */
static int root_split(struct zk_chain *c, const char *root, size_t len)
{
	static const char hdr[] = "v4.public.";
	const size_t hlen = sizeof(hdr) - 1;
	if (len <= hlen || memcmp(root, hdr, hlen) != 0)
		return -1;
	const char *body = root + hlen;
	const char *dot = memchr(body, '.', len - hlen);
	size_t blen = dot ? (size_t)(dot - body) : len - hlen;
	size_t max = blen / 4 * 3 + 3, n = 0;
	unsigned char *bin = malloc(max);
	if (!bin)
		return -1;
	int rc = -1;
	if (b64_decode(bin, max, &n, body, blen) == 0 && n >= SIG_BYTES) {
		memcpy(c->root_sig, bin + n - SIG_BYTES, SIG_BYTES);
		rc = 0;
	}
	free(bin);
	return rc;
}

int zk_chain_parse(struct zk_chain **out, const char *token)
{
	if (!out || !token)
		return -1;
	size_t len = strnlen(token, ZK_CHAIN_MAX_TOKEN + 1);
	if (len > ZK_CHAIN_MAX_TOKEN)
		return -1;
	struct zk_chain *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	const char *sep = memchr(token, ZK_CHAIN_SEP, len);
	c->root = token;
	c->root_len = sep ? (size_t)(sep - token) : len;
	if (root_split(c, token, c->root_len) != 0)
		goto fail;
	if (!sep) {
		*out = c;
		return 0;
	}
	/* The parts after the root: blocks, and the proof last. */
	const char *p = sep + 1, *end = token + len;
	for (;;) {
		const char *next = memchr(p, ZK_CHAIN_SEP, (size_t)(end - p));
		size_t plen = next ? (size_t)(next - p) : (size_t)(end - p);
		if (!next) {
			size_t n = 0;
			if (b64_decode(c->proof, sizeof(c->proof), &n, p, plen) != 0 || n != sizeof(c->proof))
				goto fail;
			c->has_proof = true;
			break;
		}
		if (c->nblocks == ZK_CHAIN_MAX_BLOCKS || plen > sodium_base64_encoded_len(BLOCK_MAX, B64))
			goto fail;
		struct zk_chain_block *b = &c->block[c->nblocks];
		unsigned char *bin = malloc(plen / 4 * 3 + 3);
		size_t n = 0;
		int depth;
		if (!bin)
			goto fail;
		if (b64_decode(bin, plen / 4 * 3 + 3, &n, p, plen) != 0 || n < SIG_BYTES ||
		    block_decode(b, &depth, bin, n - SIG_BYTES) != 0 || depth != c->nblocks + 1) {
			free(bin);
			goto fail;
		}
		memcpy(b->sig, bin + n - SIG_BYTES, SIG_BYTES);
		zk_chain_rid(b->rid, b->sig);
		b->payload = bin;
		b->payload_len = n - SIG_BYTES;
		c->nblocks++;
		p = next + 1;
	}
	*out = c;
	return 0;
fail:
	zk_chain_free(c);
	return -1;
}

static int block_verify(const struct zk_chain_block *b, const unsigned char prev_sig[64], const unsigned char pk[32])
{
	unsigned char *m = malloc(8 + SIG_BYTES + b->payload_len);
	if (!m)
		return -1;
	memcpy(m, BLOCK_CONTEXT, 8);
	memcpy(m + 8, prev_sig, SIG_BYTES);
	memcpy(m + 8 + SIG_BYTES, b->payload, b->payload_len);
	int rc = crypto_sign_verify_detached(b->sig, m, 8 + SIG_BYTES + b->payload_len, pk);
	free(m);
	return rc;
}

static int proof_matches(const unsigned char seed[32], const unsigned char pk[32])
{
	unsigned char derived_pk[32], sk[64];
	crypto_sign_seed_keypair(derived_pk, sk, seed);
	sodium_memzero(sk, sizeof(sk));
	return sodium_memcmp(derived_pk, pk, 32) == 0 ? 0 : -1;
}

int zk_chain_verify(const struct zk_chain *c, int from, const struct zk_caveats *parent,
		    const unsigned char parent_pk[32], struct zk_caveats *out)
{
	if (!c || !parent || !parent_pk || !out || from < 0 || from > c->nblocks || !c->has_proof)
		return -1;
	const struct zk_caveats *cur = parent;
	const unsigned char *pk = parent_pk;
	for (int i = from; i < c->nblocks; i++) {
		const struct zk_chain_block *b = &c->block[i];
		const unsigned char *prev_sig = i ? c->block[i - 1].sig : c->root_sig;
		if (block_verify(b, prev_sig, pk) != 0 || !zk_caveats_narrows(&b->cav, cur))
			return -1;
		cur = &b->cav;
		pk = b->next_pk;
	}
	if (proof_matches(c->proof, pk) != 0)
		return -1;
	if (out != cur)
		memcpy(out, cur, sizeof(*out));
	return 0;
}

int zk_chain_root_payload(char **json, size_t *len, const struct zk_chain *c)
{
	static const size_t hlen = sizeof("v4.public.") - 1;
	const char *body = c->root + hlen;
	const char *dot = memchr(body, '.', c->root_len - hlen);
	size_t blen = dot ? (size_t)(dot - body) : c->root_len - hlen, n = 0;
	unsigned char *bin = malloc(blen / 4 * 3 + 3);
	if (!bin)
		return -1;
	if (b64_decode(bin, blen / 4 * 3 + 3, &n, body, blen) != 0 || n < SIG_BYTES) {
		free(bin);
		return -1;
	}
	bin[n - SIG_BYTES] = '\0';
	*json = (char *)bin;
	*len = n - SIG_BYTES;
	return 0;
}

int zk_chain_root_caveats(struct zk_caveats *cav, unsigned char next_pk[32], bool *has_next, const char *json,
			  size_t len)
{
	json_error_t e;
	json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e), *a, *x;
	struct zk_caveats c;
	size_t i, used = 0;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	if (!json_is_object(o) || zk_parse_iso8601(&c.exp_ms, json_string_value(json_object_get(o, "exp"))) != 0)
		goto out;
	a = json_object_get(o, "permissions");
	if (!json_is_array(a))
		goto out;
	json_array_foreach(a, i, x) {
		unsigned p = json_is_string(x) ? zk_chain_perm_parse(json_string_value(x)) : 0;
		if (!p)
			goto out;
		c.perms |= p;
	}
	a = json_object_get(o, "allowedSecrets");
	if (!json_is_array(a) || json_array_size(a) > ZK_CHAIN_MAX_PATTERNS)
		goto out;
	json_array_foreach(a, i, x) {
		const char *p = json_string_value(x);
		size_t n = p ? strlen(p) : 0;
		if (!p || used + n + 1 > sizeof(c.patterns))
			goto out;
		c.pattern_off[c.npatterns++] = (uint16_t)used;
		memcpy(c.patterns + used, p, n + 1);
		used += n + 1;
	}
	if ((x = json_object_get(o, "aud"))) {
		const char *aud = json_string_value(x);
		if (!aud || !zk_chain_aud_valid(aud, strlen(aud)))
			goto out;
		strcpy(c.aud, aud);
	}
	if ((x = json_object_get(o, "maxUses"))) {
		if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > UINT32_MAX)
			goto out;
		c.max_uses = (uint32_t)json_integer_value(x);
	}
	*has_next = false;
	if ((x = json_object_get(o, "nextKey"))) {
		const char *k = json_string_value(x);
		size_t n = 0;
		unsigned char pk[32];
		if (!k || b64_decode(pk, sizeof(pk), &n, k, strlen(k)) != 0 || n != sizeof(pk))
			goto out;
		memcpy(next_pk, pk, sizeof(pk));
		*has_next = true;
	}
	memcpy(cav, &c, sizeof(c));
	rc = 0;
out:
	json_decref(o);
	return rc;
}

int zk_chain_attenuate_seed(char **out, const char *token, const struct zk_caveats *parent,
			    const struct zk_caveats *child, const unsigned char seed[32])
{
	struct zk_chain *c = NULL;
	unsigned char next_pk[32], next_sk[64], sk[64], pk[32];
	unsigned char *block = NULL, *m = NULL;
	char *s = NULL;
	int rc = -1;

	if (!out || !parent || !child || !zk_caveats_narrows(child, parent) || zk_chain_parse(&c, token) != 0 ||
	    !c->has_proof || c->nblocks == ZK_CHAIN_MAX_BLOCKS)
		goto done;
	size_t cap = BLOCK_MAX;
	if (!(block = malloc(cap)) || !(m = malloc(8 + SIG_BYTES + cap)))
		goto done;
	crypto_sign_seed_keypair(next_pk, next_sk, seed);
	size_t plen = zk_chain_block_encode(block, cap - SIG_BYTES, c->nblocks + 1, child, next_pk);
	if (!plen)
		goto done;
	/* Sign with the handed-down key, over the parent's signature: the block belongs to this chain only. */
	crypto_sign_seed_keypair(pk, sk, c->proof);
	memcpy(m, BLOCK_CONTEXT, 8);
	memcpy(m + 8, c->nblocks ? c->block[c->nblocks - 1].sig : c->root_sig, SIG_BYTES);
	memcpy(m + 8 + SIG_BYTES, block, plen);
	crypto_sign_detached(block + plen, NULL, m, 8 + SIG_BYTES + plen, sk);

	/* token without its proof | "~" | block | "~" | new proof */
	size_t keep = strlen(token) - sodium_base64_encoded_len(32, B64) + 1;
	size_t blen = sodium_base64_encoded_len(plen + SIG_BYTES, B64);
	size_t slen = sodium_base64_encoded_len(32, B64);
	size_t total = keep + blen + slen + 1;
	if (total > ZK_CHAIN_MAX_TOKEN || !(s = malloc(total)))
		goto done;
	memcpy(s, token, keep);
	sodium_bin2base64(s + keep, blen, block, plen + SIG_BYTES, B64);
	s[keep + blen - 1] = ZK_CHAIN_SEP;
	sodium_bin2base64(s + keep + blen, slen, seed, 32, B64);
	*out = s;
	s = NULL;
	rc = 0;
done:
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(next_sk, sizeof(next_sk));
	free(s);
	free(block);
	free(m);
	zk_chain_free(c);
	return rc;
}

int zk_chain_attenuate(char **out, const char *token, const struct zk_caveats *parent,
		       const struct zk_caveats *child)
{
	unsigned char seed[32];
	randombytes_buf(seed, sizeof(seed));
	int rc = zk_chain_attenuate_seed(out, token, parent, child, seed);
	sodium_memzero(seed, sizeof(seed));
	return rc;
}
