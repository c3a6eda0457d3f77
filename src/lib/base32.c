#include "lib/base32.h"

#include <liboath/oath.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dl.h"

_Static_assert(ZK_HWKEY_CHARS == 52 && ZK_HWKEY_TEXT_MAX == 65, "hardware key text layout");

/*
 * oath_base32_decode() upper-cases its input into a malloc'd copy and frees it without wiping: for a key that copy
 * is the key. glibc hands the most recently freed chunk of a size back to the next malloc of that size, so
 * allocating, wiping and freeing the same size right away overwrites it. Best effort, harmless where it misses.
 */
/* liboath, loaded on first use (lib/dl.h): only the hardware backup key and TOTP secrets are base32. */
#define OATH_SYMBOLS(X) X(oath_base32_encode) X(oath_base32_decode)
ZK_DL_DEFINE(oathlib, "liboath.so.0", "liboath0", OATH_SYMBOLS);

static void scrub_freed(size_t size)
{
	unsigned char *p = malloc(size);
	if (p) {
		sodium_memzero(p, size);
		free(p);
	}
}

static void wipe_free(char *p, size_t n)
{
	if (p) {
		sodium_memzero(p, n);
		free(p);
	}
}

int zk_base32_encode(char *out, size_t outlen, const unsigned char *in, size_t len)
{
	size_t chars = ZK_BASE32_ENCODED_LEN(len);
	if (!out || (!in && len > 0) || outlen < chars + 1 || zk_dl_load(&oathlib_dl) != 0)
		return -1;
	char *enc = NULL;
	size_t enclen = 0;
	if (oathlib.oath_base32_encode((const char *)in, len, &enc, &enclen) != OATH_OK || !enc)
		return -1;
	int rc = -1;
	/* liboath pads with '=' to a multiple of 8; everything before the padding is the unpadded encoding. */
	if (enclen >= chars && strspn(enc + chars, "=") == enclen - chars) {
		memcpy(out, enc, chars);
		out[chars] = '\0';
		rc = 0;
	}
	wipe_free(enc, enclen);
	return rc;
}

static int is_b32(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
}

int zk_base32_decode(unsigned char *out, size_t *outlen, const char *in, size_t inlen)
{
	if (!out || !outlen || (!in && inlen > 0) || zk_dl_load(&oathlib_dl) != 0)
		return -1;
	for (size_t i = 0; i < inlen; i++)
		if (!is_b32((unsigned char)in[i]))
			return -1;
	char *dec = NULL;
	size_t declen = 0;
	int orc = oathlib.oath_base32_decode(in, inlen, &dec, &declen);
	scrub_freed(inlen + 6); /* the size oath_base32_decode allocated for its copy */
	if (orc != OATH_OK || (!dec && declen > 0)) {
		wipe_free(dec, declen);
		return -1;
	}
	int rc = -1;
	/* Canonical: re-encoding gives back the input (case-folded). Rejects lengths that no byte string has. */
	char *re = malloc(ZK_BASE32_ENCODED_LEN(declen) + 1);
	if (re && declen <= *outlen && ZK_BASE32_ENCODED_LEN(declen) == inlen &&
	    zk_base32_encode(re, ZK_BASE32_ENCODED_LEN(declen) + 1, (const unsigned char *)dec, declen) == 0) {
		unsigned char diff = 0;
		for (size_t i = 0; i < inlen; i++) {
			unsigned char c = (unsigned char)in[i];
			if (c >= 'a' && c <= 'z')
				c ^= 0x20;
			diff |= (unsigned char)(c ^ (unsigned char)re[i]);
		}
		if (diff == 0) {
			if (declen > 0)
				memcpy(out, dec, declen);
			*outlen = declen;
			rc = 0;
		}
	}
	wipe_free(re, ZK_BASE32_ENCODED_LEN(declen) + 1);
	wipe_free(dec, declen);
	return rc;
}

const char *zk_hwkey_strerror(enum zk_hwkey_error e)
{
	switch (e) {
	case ZK_HWKEY_OK:
		return "ok";
	case ZK_HWKEY_BAD_CHAR:
		return "the backup key may contain only letters A-Z, digits 2-7 and dashes";
	case ZK_HWKEY_BAD_LENGTH:
		return "the backup key must have 52 characters (13 groups of 4)";
	case ZK_HWKEY_NONCANONICAL:
		return "the backup key's last group is mistyped";
	case ZK_HWKEY_INTERNAL:
		return "internal error";
	}
	return "unknown error";
}

int zk_hwkey_encode(char out[ZK_HWKEY_TEXT_MAX], const unsigned char key[ZK_HWKEY_BYTES])
{
	char b32[ZK_HWKEY_CHARS + 1];
	if (!out || !key || zk_base32_encode(b32, sizeof(b32), key, ZK_HWKEY_BYTES) != 0)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < ZK_HWKEY_CHARS; i++) {
		if (i > 0 && i % ZK_HWKEY_GROUP == 0)
			out[o++] = '-';
		out[o++] = b32[i];
	}
	out[o] = '\0';
	sodium_memzero(b32, sizeof(b32));
	return 0;
}

static int hw_fail(enum zk_hwkey_error *why, enum zk_hwkey_error e)
{
	if (why)
		*why = e;
	return -1;
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int zk_hwkey_decode(unsigned char key[ZK_HWKEY_BYTES], const char *text, enum zk_hwkey_error *why)
{
	char b32[ZK_HWKEY_CHARS];
	unsigned char tmp[ZK_HWKEY_BYTES];
	size_t n = 0, tmplen = sizeof(tmp);
	int rc = -1;

	if (!key || !text)
		return hw_fail(why, ZK_HWKEY_BAD_LENGTH);
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		unsigned char c = *p;
		if (c == '-' || is_space(c))
			continue;
		if (!is_b32(c)) {
			hw_fail(why, ZK_HWKEY_BAD_CHAR);
			goto done;
		}
		if (n < sizeof(b32))
			b32[n] = (char)(c >= 'a' && c <= 'z' ? c ^ 0x20 : c);
		n++;
	}
	if (n != ZK_HWKEY_CHARS) {
		hw_fail(why, ZK_HWKEY_BAD_LENGTH);
		goto done;
	}
	if (zk_base32_decode(tmp, &tmplen, b32, sizeof(b32)) != 0 || tmplen != ZK_HWKEY_BYTES) {
		/* Every character is valid and the count is right, so only the last one's padding bits can be wrong. */
		hw_fail(why, ZK_HWKEY_NONCANONICAL);
		goto done;
	}
	memcpy(key, tmp, ZK_HWKEY_BYTES);
	if (why)
		*why = ZK_HWKEY_OK;
	rc = 0;
done:
	sodium_memzero(b32, sizeof(b32));
	sodium_memzero(tmp, sizeof(tmp));
	return rc;
}
