#include "lib/crypto.h"

#include <stdlib.h>
#include <string.h>

struct zk_keys *zk_keys_new(const unsigned char vmk[ZK_KEY_BYTES])
{
	struct zk_keys *k = sodium_malloc(sizeof(*k));
	if (!k)
		return NULL;
	unsigned char seed[ZK_KEY_BYTES];

	memcpy(k->vmk, vmk, ZK_KEY_BYTES);
	crypto_kdf_derive_from_key(k->record_aead, ZK_KEY_BYTES, ZK_SUBKEY_RECORD_AEAD, ZK_KDF_CONTEXT, vmk);
	crypto_kdf_derive_from_key(k->name_mac, ZK_KEY_BYTES, ZK_SUBKEY_NAME_MAC, ZK_KDF_CONTEXT, vmk);
	crypto_kdf_derive_from_key(k->index_mac, ZK_KEY_BYTES, ZK_SUBKEY_INDEX_MAC, ZK_KDF_CONTEXT, vmk);
	crypto_kdf_derive_from_key(k->audit_aead, ZK_KEY_BYTES, ZK_SUBKEY_AUDIT_AEAD, ZK_KDF_CONTEXT, vmk);
	crypto_kdf_derive_from_key(k->backup_mac, ZK_KEY_BYTES, ZK_SUBKEY_BACKUP_MAC, ZK_KDF_CONTEXT, vmk);

	crypto_kdf_derive_from_key(seed, sizeof(seed), ZK_SUBKEY_AUDIT_X25519, ZK_KDF_CONTEXT, vmk);
	crypto_box_seed_keypair(k->audit_pk, k->audit_sk, seed);
	crypto_kdf_derive_from_key(seed, sizeof(seed), ZK_SUBKEY_TOKEN_ED25519, ZK_KDF_CONTEXT, vmk);
	crypto_sign_seed_keypair(k->token_pk, k->token_sk, seed);
	crypto_kdf_derive_from_key(seed, sizeof(seed), ZK_SUBKEY_CHECKPOINT_ED25519, ZK_KDF_CONTEXT, vmk);
	crypto_sign_seed_keypair(k->checkpoint_pk, k->checkpoint_sk, seed);
	sodium_memzero(seed, sizeof(seed));

	sodium_mprotect_readonly(k);
	return k;
}

void zk_keys_free(struct zk_keys *k)
{
	if (k)
		sodium_free(k); /* sodium_free wipes before unmapping */
}

void zk_kdf_default(struct zk_kdf_params *p)
{
	p->opslimit = ZK_KDF_OPSLIMIT_FLOOR;
	p->memlimit = ZK_KDF_MEMLIMIT_FLOOR;
	randombytes_buf(p->salt, sizeof(p->salt));
}

int zk_kdf_check(const struct zk_kdf_params *p)
{
	if (p->opslimit < ZK_KDF_OPSLIMIT_FLOOR || p->opslimit > ZK_KDF_OPSLIMIT_MAX)
		return -1;
	if (p->memlimit < ZK_KDF_MEMLIMIT_FLOOR || p->memlimit > ZK_KDF_MEMLIMIT_MAX)
		return -1;
	return 0;
}

int zk_kdf_derive(unsigned char kek[ZK_KEY_BYTES], const char *password, size_t password_len,
		  const struct zk_kdf_params *p)
{
	if (zk_kdf_check(p) != 0)
		return -1;
	return crypto_pwhash(kek, ZK_KEY_BYTES, password, password_len, p->salt, p->opslimit,
			     (size_t)p->memlimit, crypto_pwhash_ALG_ARGON2ID13);
}

void zk_aad_init(struct zk_aad *a, const char tag[8], const unsigned char vault_id[ZK_VAULT_ID_BYTES])
{
	memcpy(a->buf, tag, 8);
	memcpy(a->buf + 8, vault_id, ZK_VAULT_ID_BYTES);
	a->len = 8 + ZK_VAULT_ID_BYTES;
}

void zk_aad_put(struct zk_aad *a, const void *p, size_t n)
{
	if (n > sizeof(a->buf) - a->len)
		abort(); /* a programming error: every AAD has a fixed, small layout */
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void zk_aad_u64(struct zk_aad *a, uint64_t v)
{
	unsigned char b[8];
	zk_store_u64le(b, v);
	zk_aad_put(a, b, sizeof(b));
}

void zk_seal(unsigned char *out, const unsigned char *m, size_t mlen, const struct zk_aad *aad,
	     const unsigned char key[ZK_KEY_BYTES])
{
	randombytes_buf(out, ZK_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + ZK_NONCE_BYTES, NULL, m, mlen, aad->buf, aad->len,
						   NULL, out, key);
}

int zk_open(unsigned char *m, const unsigned char *c, size_t clen, const struct zk_aad *aad,
	    const unsigned char key[ZK_KEY_BYTES])
{
	if (clen < ZK_SEAL_OVERHEAD)
		return -1;
	return crypto_aead_xchacha20poly1305_ietf_decrypt(m, NULL, NULL, c + ZK_NONCE_BYTES,
							  clen - ZK_NONCE_BYTES, aad->buf, aad->len, c, key);
}

void zk_name_hash(unsigned char out[ZK_HASH_BYTES], const char *name, size_t len,
		  const unsigned char name_mac[ZK_KEY_BYTES])
{
	crypto_generichash(out, ZK_HASH_BYTES, (const unsigned char *)name, len, name_mac, ZK_KEY_BYTES);
}

void zk_store_u64le(unsigned char out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(v >> (8 * i));
}

uint64_t zk_load_u64le(const unsigned char in[8])
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | in[i];
	return v;
}

char *zk_hex_dup(const unsigned char *bin, size_t len)
{
	char *s = malloc(len * 2 + 1);
	if (s)
		sodium_bin2hex(s, len * 2 + 1, bin, len);
	return s;
}

char *zk_b64_dup(const unsigned char *bin, size_t len)
{
	size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(n);
	if (s)
		sodium_bin2base64(s, n, bin, len, sodium_base64_VARIANT_ORIGINAL);
	return s;
}

int zk_base642bin(unsigned char *bin, size_t bin_maxlen, const char *b64, size_t b64_len, size_t *bin_len,
		  const char **b64_end, int variant)
{
	for (size_t i = 0; i < b64_len; i++)
		if ((unsigned char)b64[i] >= 0x80) {
			if (bin_len)
				*bin_len = 0;
			if (b64_end)
				*b64_end = b64 + i;
			return -1;
		}
	return sodium_base642bin(bin, bin_maxlen, b64, b64_len, NULL, bin_len, b64_end, variant);
}

int zk_b64_decode_exact(unsigned char *out, size_t expected, const char *b64)
{
	size_t n = 0;
	const char *end;
	if (!b64)
		return -1;
	if (zk_base642bin(out, expected, b64, strlen(b64), &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    *end != '\0' || n != expected)
		return -1;
	return 0;
}

int zk_b64_decode(unsigned char **out, size_t *out_len, const char *b64)
{
	const char *end;
	size_t len = b64 ? strlen(b64) : 0, n = 0;
	unsigned char *buf;
	if (!b64 || !(buf = malloc(len / 4 * 3 + 3)))
		return -1;
	if (zk_base642bin(buf, len / 4 * 3 + 3, b64, len, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    *end != '\0') {
		free(buf);
		return -1;
	}
	*out = buf;
	*out_len = n;
	return 0;
}

int zk_hex_decode_exact(unsigned char *out, size_t expected, const char *hex)
{
	size_t n = 0;
	const char *end;
	if (!hex || strlen(hex) != expected * 2)
		return -1;
	if (sodium_hex2bin(out, expected, hex, expected * 2, NULL, &n, &end) != 0 || n != expected)
		return -1;
	return 0;
}
