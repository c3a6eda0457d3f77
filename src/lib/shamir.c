#include "lib/crypto.h"
#include "lib/dl.h"
#include "lib/shamir.h"

#include <libgfshare.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#define OFF_SET_ID 4
#define OFF_K (OFF_SET_ID + ZK_SHAMIR_SET_ID_BYTES)
#define OFF_N (OFF_K + 1)
#define OFF_X (OFF_N + 1)
#define OFF_LEN (OFF_X + 1)
#define OFF_DATA ZK_SHARE_HEADER_BYTES

_Static_assert(OFF_LEN + 1 == ZK_SHARE_HEADER_BYTES, "share header layout");
_Static_assert(ZK_SHAMIR_SECRET_MAX <= 255, "len is one byte");

/* libgfshare draws the polynomial coefficients, and the bytes it scrubs its buffers with on free, from this
   global. Debian's libgfshare 2.0.0 leaves it NULL (older releases used random()): it must be set before any use. */
static void fill_rand(unsigned char *buf, unsigned int n)
{
	randombytes_buf(buf, n);
}

/* libgfshare, loaded on first use (lib/dl.h). gfshare_fill_rand is a variable: its pointer is its address. */
#define GF_SYMBOLS(X)                                                                                          \
	X(gfshare_fill_rand)                                                                                   \
	X(gfshare_ctx_init_enc)                                                                                \
	X(gfshare_ctx_init_dec)                                                                                \
	X(gfshare_ctx_enc_setsecret)                                                                           \
	X(gfshare_ctx_enc_getshare)                                                                            \
	X(gfshare_ctx_dec_giveshare)                                                                           \
	X(gfshare_ctx_dec_newshares)                                                                           \
	X(gfshare_ctx_dec_extract)                                                                             \
	X(gfshare_ctx_free)

ZK_DL_DEFINE(gf, "libgfshare.so.2", "libgfshare2", GF_SYMBOLS);

static pthread_once_t gf_once = PTHREAD_ONCE_INIT;
static int gf_ready;

static void gf_init(void)
{
	if (sodium_init() < 0 || zk_dl_load(&gf_dl) != 0)
		return;
	*gf.gfshare_fill_rand = fill_rand;
	gf_ready = 1;
}

static int gf_setup(void)
{
	pthread_once(&gf_once, gf_init);
	return gf_ready && *gf.gfshare_fill_rand == fill_rand ? 0 : -1;
}

static int fail(enum zk_share_error *why, enum zk_share_error e)
{
	if (why)
		*why = e;
	return -1;
}

const char *zk_share_strerror(enum zk_share_error e)
{
	switch (e) {
	case ZK_SHARE_OK:
		return "ok";
	case ZK_SHARE_BAD_PARAMS:
		return "invalid threshold, share count or secret length";
	case ZK_SHARE_MALFORMED:
		return "not a zkvault recovery share";
	case ZK_SHARE_CORRUPTED:
		return "share is corrupted";
	case ZK_SHARE_FOREIGN_SET:
		return "share belongs to another recovery set";
	case ZK_SHARE_DUPLICATE:
		return "the same share was given twice";
	case ZK_SHARE_TOO_FEW:
		return "not enough shares to recover the secret";
	case ZK_SHARE_INCONSISTENT:
		return "the shares do not agree: one of them is wrong";
	case ZK_SHARE_WRONG_LENGTH:
		return "the shares hold a secret of another length";
	case ZK_SHARE_INTERNAL:
		return "internal error";
	}
	return "unknown error";
}

static void share_check(unsigned char check[ZK_SHARE_CHECK_BYTES], const unsigned char *share, size_t body)
{
	crypto_generichash(check, ZK_SHARE_CHECK_BYTES, share, body, (const unsigned char *)ZK_SHARE_CHECK_KEY,
			   sizeof(ZK_SHARE_CHECK_KEY) - 1);
}

int zk_share_inspect(struct zk_share_info *info, const unsigned char *share, size_t size, enum zk_share_error *why)
{
	if (!info || !share || size < ZK_SHARE_BYTES(1) || size > ZK_SHARE_MAX)
		return fail(why, ZK_SHARE_MALFORMED);
	if (memcmp(share, ZK_SHARE_MAGIC, 4) != 0)
		return fail(why, ZK_SHARE_MALFORMED);
	size_t len = share[OFF_LEN];
	if (len < 1 || len > ZK_SHAMIR_SECRET_MAX || size != ZK_SHARE_BYTES(len))
		return fail(why, ZK_SHARE_MALFORMED);
	unsigned char check[ZK_SHARE_CHECK_BYTES];
	size_t body = size - ZK_SHARE_CHECK_BYTES;
	share_check(check, share, body);
	if (sodium_memcmp(check, share + body, ZK_SHARE_CHECK_BYTES) != 0)
		return fail(why, ZK_SHARE_CORRUPTED);
	unsigned k = share[OFF_K], n = share[OFF_N], x = share[OFF_X];
	if (k < 2 || k > n || x < 1 || x > n)
		return fail(why, ZK_SHARE_MALFORMED);
	memcpy(info->set_id, share + OFF_SET_ID, ZK_SHAMIR_SET_ID_BYTES);
	info->k = k;
	info->n = n;
	info->x = x;
	info->len = len;
	info->size = size;
	if (why)
		*why = ZK_SHARE_OK;
	return 0;
}

int zk_shamir_split(unsigned char shares[][ZK_SHARE_MAX], size_t n, size_t k, const unsigned char *secret, size_t len,
		    const unsigned char set_id[ZK_SHAMIR_SET_ID_BYTES], enum zk_share_error *why)
{
	if (!shares || !secret || !set_id || k < 2 || k > n || n > ZK_SHAMIR_MAX_SHARES || len < 1 ||
	    len > ZK_SHAMIR_SECRET_MAX)
		return fail(why, ZK_SHARE_BAD_PARAMS);
	if (gf_setup() != 0)
		return fail(why, ZK_SHARE_INTERNAL);

	unsigned char xs[ZK_SHAMIR_MAX_SHARES];
	for (size_t i = 0; i < n; i++)
		xs[i] = (unsigned char)(i + 1);
	gfshare_ctx *g = gf.gfshare_ctx_init_enc(xs, (unsigned)n, (unsigned char)k, (unsigned)len);
	if (!g)
		return fail(why, ZK_SHARE_INTERNAL);
	unsigned char copy[ZK_SHAMIR_SECRET_MAX]; /* libgfshare takes a non-const pointer */
	memcpy(copy, secret, len);
	gf.gfshare_ctx_enc_setsecret(g, copy);
	sodium_memzero(copy, sizeof(copy));

	for (size_t i = 0; i < n; i++) {
		unsigned char *s = shares[i];
		memcpy(s, ZK_SHARE_MAGIC, 4);
		memcpy(s + OFF_SET_ID, set_id, ZK_SHAMIR_SET_ID_BYTES);
		s[OFF_K] = (unsigned char)k;
		s[OFF_N] = (unsigned char)n;
		s[OFF_X] = xs[i];
		s[OFF_LEN] = (unsigned char)len;
		gf.gfshare_ctx_enc_getshare(g, (unsigned char)i, s + OFF_DATA);
		share_check(s + OFF_DATA + len, s, OFF_DATA + len);
	}
	gf.gfshare_ctx_free(g); /* overwrites the coefficients with random bytes before freeing them */
	if (why)
		*why = ZK_SHARE_OK;
	return 0;
}

/* Checks that the shares form one usable set (see shamir.h); fills xs with their x. */
static int check_set(unsigned char xs[ZK_SHAMIR_MAX_SHARES], unsigned *k, const unsigned char shares[][ZK_SHARE_MAX],
		     size_t count, size_t len, const unsigned char *expected_set_id, enum zk_share_error *why)
{
	struct zk_share_info first, info;
	unsigned char seen[256] = {0};
	if (count == 0)
		return fail(why, ZK_SHARE_TOO_FEW);
	for (size_t i = 0; i < count; i++) {
		const unsigned char *s = shares[i];
		size_t size = s[OFF_LEN] <= ZK_SHAMIR_SECRET_MAX ? ZK_SHARE_BYTES(s[OFF_LEN]) : 0;
		if (zk_share_inspect(i == 0 ? &first : &info, s, size, why) != 0)
			return -1;
		if (i == 0) {
			if (expected_set_id && sodium_memcmp(first.set_id, expected_set_id, ZK_SHAMIR_SET_ID_BYTES) != 0)
				return fail(why, ZK_SHARE_FOREIGN_SET);
			if (first.len != len)
				return fail(why, ZK_SHARE_WRONG_LENGTH);
			info = first;
		} else if (sodium_memcmp(info.set_id, first.set_id, ZK_SHAMIR_SET_ID_BYTES) != 0 || info.k != first.k ||
			   info.n != first.n || info.len != first.len) {
			return fail(why, ZK_SHARE_FOREIGN_SET);
		}
		if (seen[info.x])
			return fail(why, ZK_SHARE_DUPLICATE);
		seen[info.x] = 1;
		xs[i] = (unsigned char)info.x;
	}
	/* Distinct x in 1..n <= 255 bound count as well. */
	if (count < first.k)
		return fail(why, ZK_SHARE_TOO_FEW);
	*k = first.k;
	return 0;
}

int zk_shamir_combine(unsigned char *secret, size_t len, const unsigned char shares[][ZK_SHARE_MAX], size_t count,
		      const unsigned char expected_set_id[ZK_SHAMIR_SET_ID_BYTES], enum zk_share_error *why)
{
	unsigned char xs[ZK_SHAMIR_MAX_SHARES], use[ZK_SHAMIR_MAX_SHARES];
	unsigned char out[ZK_SHAMIR_SECRET_MAX], other[ZK_SHAMIR_SECRET_MAX];
	unsigned k = 0;
	int rc = -1;

	if (!secret || !shares || len < 1 || len > ZK_SHAMIR_SECRET_MAX)
		return fail(why, ZK_SHARE_BAD_PARAMS);
	if (check_set(xs, &k, shares, count, len, expected_set_id, why) != 0)
		return -1;
	if (gf_setup() != 0)
		return fail(why, ZK_SHARE_INTERNAL);
	gfshare_ctx *g = gf.gfshare_ctx_init_dec(xs, (unsigned)count, (unsigned)len);
	if (!g)
		return fail(why, ZK_SHARE_INTERNAL);
	for (size_t i = 0; i < count; i++)
		gf.gfshare_ctx_dec_giveshare(g, (unsigned char)i, (unsigned char *)shares[i] + OFF_DATA);

	/* The secret from the first k shares (a zero x tells libgfshare to skip that share). */
	memset(use, 0, sizeof(use));
	memcpy(use, xs, k);
	gf.gfshare_ctx_dec_newshares(g, use);
	gf.gfshare_ctx_dec_extract(g, out);
	/* Each further share, with the first k-1, must give the same secret, else it is not on the same polynomial. */
	for (size_t j = k; j < count; j++) {
		memset(use, 0, sizeof(use));
		memcpy(use, xs, k - 1);
		use[j] = xs[j];
		gf.gfshare_ctx_dec_newshares(g, use);
		gf.gfshare_ctx_dec_extract(g, other);
		if (sodium_memcmp(other, out, len) != 0) {
			fail(why, ZK_SHARE_INCONSISTENT);
			goto done;
		}
	}
	memcpy(secret, out, len);
	if (why)
		*why = ZK_SHARE_OK;
	rc = 0;
done:
	gf.gfshare_ctx_free(g);
	sodium_memzero(out, sizeof(out));
	sodium_memzero(other, sizeof(other));
	return rc;
}

int zk_share_to_text(char out[ZK_SHARE_TEXT_MAX], const unsigned char *share, size_t size, enum zk_share_error *why)
{
	struct zk_share_info info;
	const size_t plen = sizeof(ZK_SHARE_TEXT_PREFIX) - 1;
	if (!out)
		return fail(why, ZK_SHARE_MALFORMED);
	if (zk_share_inspect(&info, share, size, why) != 0)
		return -1;
	memcpy(out, ZK_SHARE_TEXT_PREFIX, plen);
	sodium_bin2base64(out + plen, ZK_SHARE_TEXT_MAX - plen, share, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return 0;
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int zk_share_from_text(unsigned char share[ZK_SHARE_MAX], size_t *size, const char *text, enum zk_share_error *why)
{
	const size_t plen = sizeof(ZK_SHARE_TEXT_PREFIX) - 1;
	if (!share || !text)
		return fail(why, ZK_SHARE_MALFORMED);
	size_t n = strlen(text);
	while (n > 0 && is_space((unsigned char)text[n - 1]))
		n--;
	while (n > 0 && is_space((unsigned char)*text)) {
		text++;
		n--;
	}
	if (n <= plen || strncasecmp(text, ZK_SHARE_TEXT_PREFIX, plen) != 0)
		return fail(why, ZK_SHARE_MALFORMED);

	unsigned char bin[ZK_SHARE_MAX];
	struct zk_share_info info;
	size_t binlen = 0;
	const char *end = NULL;
	int rc = -1;
	if (zk_base642bin(bin, sizeof(bin), text + plen, n - plen, &binlen, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    end != text + n) {
		fail(why, ZK_SHARE_MALFORMED);
		goto done;
	}
	if (zk_share_inspect(&info, bin, binlen, why) != 0)
		goto done;
	memcpy(share, bin, binlen);
	if (size)
		*size = binlen;
	rc = 0;
done:
	sodium_memzero(bin, sizeof(bin));
	return rc;
}
