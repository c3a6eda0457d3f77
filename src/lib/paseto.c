#include "lib/paseto.h"

#include <sodium.h>

#include "lib/crypto.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * PASETO v4.public, per paseto-spec docs/01-Protocol-Versions/Version4.md:
 *   sign:   m2 = PAE(h, m, f, i); sig = Ed25519-Sign(sk, m2); token = h || b64(m || sig) [|| "." || b64(f)]
 *   verify: check h, compare f (constant time), decode, split off the last 64 bytes as sig, check sig over PAE.
 * b64 is unpadded base64url (RFC 4648 §5). libsodium's decoder with the URLSAFE_NO_PADDING variant, no ignore set
 * and b64_end == NULL is strict: it rejects '=', '+', '/', whitespace, any trailing character, a length of
 * 4k+1 and non-zero unused trailing bits (so each byte string has exactly one accepted encoding) -- except that
 * 1.0.18 decodes any byte >= 0x80 as '_', so it is called through zk_base642bin(), which rejects those first.
 */

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

static const char V4_PUBLIC[] = "v4.public.";
#define V4_PUBLIC_LEN (sizeof(V4_PUBLIC) - 1)

static const char K4_PUBLIC[] = "k4.public.";
#define K4_PUBLIC_LEN (sizeof(K4_PUBLIC) - 1)
#define K4_PUBLIC_B64_LEN 43 /* unpadded base64url of 32 bytes */

static const char K4_PID[] = "k4.pid.";
#define K4_PID_LEN (sizeof(K4_PID) - 1)
#define K4_PID_HASH_LEN 33 /* BLAKE2b-264 */

#define SIG_LEN crypto_sign_ed25519_BYTES

/* Strict unpadded base64url decode of s[0..len) into a fresh malloc'd buffer (never NULL on success). */
static int b64_decode(unsigned char **out, size_t *out_len, const char *s, size_t len)
{
	size_t max = len / 4 * 3 + 3;
	unsigned char *bin = malloc(max);
	size_t bin_len = 0;

	if (!bin)
		return -1;
	if (zk_base642bin(bin, max, s, len, &bin_len, NULL, B64) != 0) {
		free(bin);
		return -1;
	}
	*out = bin;
	*out_len = bin_len;
	return 0;
}

static void le64(unsigned char *p, uint64_t n)
{
	n &= UINT64_MAX >> 1; /* PAE clears the most significant bit */
	for (int i = 0; i < 8; i++) {
		p[i] = (unsigned char)(n & 0xff);
		n >>= 8;
	}
}

/* PAE (paseto-spec Common.md): LE64(n) || for each piece LE64(len) || piece. Callers bound every length. */
static unsigned char *pae(size_t *out_len, size_t n, const unsigned char *const pieces[], const size_t lens[])
{
	size_t total = 8;
	for (size_t k = 0; k < n; k++)
		total += 8 + lens[k];
	unsigned char *buf = malloc(total);
	if (!buf)
		return NULL;
	unsigned char *p = buf;
	le64(p, n);
	p += 8;
	for (size_t k = 0; k < n; k++) {
		le64(p, lens[k]);
		p += 8;
		if (lens[k])
			memcpy(p, pieces[k], lens[k]);
		p += lens[k];
	}
	*out_len = total;
	return buf;
}

static unsigned char *v4_public_pae(size_t *out_len, const unsigned char *m, size_t m_len, const char *f,
                                    size_t f_len, const char *i, size_t i_len)
{
	const unsigned char *pieces[4] = { (const unsigned char *)V4_PUBLIC, m, (const unsigned char *)f,
	                                   (const unsigned char *)i };
	const size_t lens[4] = { V4_PUBLIC_LEN, m_len, f_len, i_len };
	return pae(out_len, 4, pieces, lens);
}

/* Length of an optional bounded string: 0 for NULL, or (size_t)-1 when longer than max. */
static size_t opt_len(const char *s, size_t max)
{
	if (!s)
		return 0;
	size_t n = strnlen(s, max + 1);
	return n > max ? (size_t)-1 : n;
}

/*
 * Splits and decodes a v4.public token: body (m || sig, at least 64 bytes) and footer (NUL-terminated, "" if
 * none). Both malloc'd on success; nothing written on failure.
 */
static int parse(unsigned char **body, size_t *body_len, char **footer, size_t *footer_len, const char *token)
{
	if (!token)
		return -1;
	size_t len = strnlen(token, ZK_PASETO_MAX_TOKEN + 1);
	if (len > ZK_PASETO_MAX_TOKEN || len < V4_PUBLIC_LEN || memcmp(token, V4_PUBLIC, V4_PUBLIC_LEN) != 0)
		return -1;

	const char *payload = token + V4_PUBLIC_LEN;
	size_t rest = len - V4_PUBLIC_LEN;
	const char *dot = memchr(payload, '.', rest);
	size_t payload_b64_len = dot ? (size_t)(dot - payload) : rest;

	unsigned char *f = NULL;
	size_t f_len = 0;
	if (dot) {
		size_t f_b64_len = rest - payload_b64_len - 1;
		/* An empty footer is encoded by leaving out the '.', so "<payload>." is not canonical. A second '.' is
		 * outside the base64url alphabet and fails the decode. */
		if (f_b64_len == 0 || b64_decode(&f, &f_len, dot + 1, f_b64_len) != 0)
			return -1;
		if (memchr(f, '\0', f_len)) {
			free(f);
			return -1;
		}
	}

	unsigned char *b = NULL;
	size_t b_len = 0;
	if (b64_decode(&b, &b_len, payload, payload_b64_len) != 0 || b_len < SIG_LEN) {
		free(b);
		free(f);
		return -1;
	}

	/* Footer as a string: the decode buffer has room for the NUL (max is len / 4 * 3 + 3 > f_len). */
	char *fs;
	if (f) {
		f[f_len] = '\0';
		fs = (char *)f;
	} else {
		fs = calloc(1, 1);
		if (!fs) {
			free(b);
			return -1;
		}
	}
	*body = b;
	*body_len = b_len;
	*footer = fs;
	*footer_len = f_len;
	return 0;
}

int zk_paseto_v4_public_sign(char **token, const unsigned char *msg, size_t msg_len, const char *footer,
                             const char *implicit, const unsigned char sk[64])
{
	if (!token || !sk || (!msg && msg_len))
		return -1;
	/* The token holds base64 of msg || sig, so any msg of ZK_PASETO_MAX_TOKEN bytes is already too long. */
	size_t f_len = opt_len(footer, ZK_PASETO_MAX_TOKEN);
	size_t i_len = opt_len(implicit, ZK_PASETO_MAX_IMPLICIT);
	if (msg_len > ZK_PASETO_MAX_TOKEN || f_len == (size_t)-1 || i_len == (size_t)-1)
		return -1;

	size_t body_len = msg_len + SIG_LEN;
	size_t body_b64 = sodium_base64_encoded_len(body_len, B64); /* includes the NUL */
	size_t f_b64 = f_len ? sodium_base64_encoded_len(f_len, B64) : 0;
	size_t total = V4_PUBLIC_LEN + (body_b64 - 1) + (f_len ? 1 + (f_b64 - 1) : 0);
	if (total > ZK_PASETO_MAX_TOKEN)
		return -1;

	unsigned char *body = malloc(body_len);
	if (!body)
		return -1;
	if (msg_len)
		memcpy(body, msg, msg_len);

	size_t m2_len = 0;
	unsigned char *m2 = v4_public_pae(&m2_len, body, msg_len, footer, f_len, implicit, i_len);
	if (!m2) {
		free(body);
		return -1;
	}
	int rc = crypto_sign_ed25519_detached(body + msg_len, NULL, m2, m2_len, sk);
	free(m2);
	if (rc != 0) {
		free(body);
		return -1;
	}

	char *out = malloc(total + 1);
	if (!out) {
		free(body);
		return -1;
	}
	size_t p = 0;
	memcpy(out, V4_PUBLIC, V4_PUBLIC_LEN);
	p += V4_PUBLIC_LEN;
	sodium_bin2base64(out + p, body_b64, body, body_len, B64);
	p += body_b64 - 1;
	if (f_len) {
		out[p++] = '.';
		sodium_bin2base64(out + p, f_b64, (const unsigned char *)footer, f_len, B64);
		p += f_b64 - 1;
	}
	out[p] = '\0';
	free(body);
	*token = out;
	return 0;
}

int zk_paseto_v4_public_verify(unsigned char **msg, size_t *msg_len, char **footer, const char *token,
                               const char *expected_footer, const char *implicit, const unsigned char pk[32])
{
	if (!msg || !msg_len || !token || !pk)
		return -1;
	size_t i_len = opt_len(implicit, ZK_PASETO_MAX_IMPLICIT);
	if (i_len == (size_t)-1)
		return -1;

	unsigned char *body;
	size_t body_len;
	char *f;
	size_t f_len;
	if (parse(&body, &body_len, &f, &f_len, token) != 0)
		return -1;

	if (expected_footer) {
		/* A footer longer than the token bound cannot match; the length itself is not secret. */
		size_t e_len = opt_len(expected_footer, ZK_PASETO_MAX_TOKEN);
		if (e_len != f_len || sodium_memcmp(f, expected_footer, f_len) != 0)
			goto fail;
	}

	size_t m_len = body_len - SIG_LEN;
	size_t m2_len = 0;
	unsigned char *m2 = v4_public_pae(&m2_len, body, m_len, f, f_len, implicit, i_len);
	if (!m2)
		goto fail;
	int rc = crypto_sign_ed25519_verify_detached(body + m_len, m2, m2_len, pk);
	free(m2);
	if (rc != 0)
		goto fail;

	body[m_len] = '\0'; /* the signature is no longer needed: its first byte becomes the terminator */
	*msg = body;
	*msg_len = m_len;
	if (footer)
		*footer = f;
	else
		free(f);
	return 0;

fail:
	free(body);
	free(f);
	return -1;
}

int zk_paseto_footer(char **footer, const char *token)
{
	if (!footer)
		return -1;
	unsigned char *body;
	size_t body_len;
	char *f;
	size_t f_len;
	if (parse(&body, &body_len, &f, &f_len, token) != 0)
		return -1;
	free(body);
	*footer = f;
	return 0;
}

int zk_paserk_k4_public(char out[ZK_PASERK_K4_PUBLIC_MAX], const unsigned char pk[32])
{
	if (!out || !pk)
		return -1;
	memcpy(out, K4_PUBLIC, K4_PUBLIC_LEN);
	sodium_bin2base64(out + K4_PUBLIC_LEN, ZK_PASERK_K4_PUBLIC_MAX - K4_PUBLIC_LEN, pk, 32, B64);
	return 0;
}

int zk_paserk_k4_public_decode(unsigned char pk[32], const char *paserk)
{
	if (!pk || !paserk)
		return -1;
	if (strnlen(paserk, ZK_PASERK_K4_PUBLIC_MAX) != K4_PUBLIC_LEN + K4_PUBLIC_B64_LEN ||
	    memcmp(paserk, K4_PUBLIC, K4_PUBLIC_LEN) != 0)
		return -1;
	unsigned char key[32];
	size_t key_len = 0;
	if (zk_base642bin(key, sizeof key, paserk + K4_PUBLIC_LEN, K4_PUBLIC_B64_LEN, &key_len, NULL, B64) != 0 ||
	    key_len != sizeof key)
		return -1;
	memcpy(pk, key, sizeof key);
	return 0;
}

int zk_paserk_k4_pid(char out[ZK_PASERK_K4_PID_MAX], const unsigned char pk[32])
{
	if (!out || !pk)
		return -1;
	/* h = "k4.pid."; p = "k4.public.<b64>"; d = BLAKE2b-264(h || p); id = h || b64(d) */
	char buf[K4_PID_LEN + ZK_PASERK_K4_PUBLIC_MAX];
	memcpy(buf, K4_PID, K4_PID_LEN);
	if (zk_paserk_k4_public(buf + K4_PID_LEN, pk) != 0)
		return -1;
	unsigned char d[K4_PID_HASH_LEN];
	if (crypto_generichash(d, sizeof d, (const unsigned char *)buf, strlen(buf), NULL, 0) != 0)
		return -1;
	memcpy(out, K4_PID, K4_PID_LEN);
	sodium_bin2base64(out + K4_PID_LEN, ZK_PASERK_K4_PID_MAX - K4_PID_LEN, d, sizeof d, B64);
	return 0;
}
