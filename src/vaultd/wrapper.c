/*
 * A wrapper of the vault master key (docs/FORMAT.md §Wrapper):
 *   "ZKW1" | type u8 | kdf u8 | 0 u16 | opslimit u64le | memlimit u64le | salt[16]
 *   | nonce[24] | XChaCha20-Poly1305(VMK) [32 + 16]
 * AAD = "zkv1wrap" | vault id | the first 40 bytes, so the type and KDF parameters are authenticated.
 * kdf 2: the KEK is Argon2id of a password with the stored parameters (floor enforced before running it).
 * kdf 1: the KEK comes from a high-entropy secret (recovery phrase seed, hardware key, Shamir-shared key) by
 *        keyed BLAKE2b; parameters and salt are zero.
 */
#include <string.h>

#include "vaultd/vaultd.h"

#define WRAPPER_HEAD 40

static void wrapper_aad(struct zk_aad *a, const struct vault *v, const unsigned char head[WRAPPER_HEAD])
{
	zk_aad_init(a, "zkv1wrap", v->vault_id);
	zk_aad_put(a, head, WRAPPER_HEAD);
}

void wrapper_seal(unsigned char out[WRAPPER_BYTES], const struct vault *v, enum wrapper_type type, int kdf,
		  const struct zk_kdf_params *p, const unsigned char kek[ZK_KEY_BYTES],
		  const unsigned char vmk[ZK_KEY_BYTES])
{
	struct zk_aad a;
	memset(out, 0, WRAPPER_HEAD);
	memcpy(out, "ZKW1", 4);
	out[4] = (unsigned char)type;
	out[5] = (unsigned char)kdf;
	if (kdf == WRAPPER_KDF_ARGON2ID) {
		zk_store_u64le(out + 8, p->opslimit);
		zk_store_u64le(out + 16, p->memlimit);
		memcpy(out + 24, p->salt, ZK_SALT_BYTES);
	}
	wrapper_aad(&a, v, out);
	zk_seal(out + WRAPPER_HEAD, vmk, ZK_KEY_BYTES, &a, kek);
}

int wrapper_params(struct zk_kdf_params *p, const unsigned char *blob, size_t len)
{
	if (len != WRAPPER_BYTES || memcmp(blob, "ZKW1", 4) != 0 || blob[5] != WRAPPER_KDF_ARGON2ID)
		return -1;
	p->opslimit = zk_load_u64le(blob + 8);
	p->memlimit = zk_load_u64le(blob + 16);
	memcpy(p->salt, blob + 24, ZK_SALT_BYTES);
	return zk_kdf_check(p);
}

int wrapper_open(unsigned char vmk[ZK_KEY_BYTES], const struct vault *v, const unsigned char *blob, size_t len,
		 const unsigned char kek[ZK_KEY_BYTES])
{
	struct zk_aad a;
	struct zk_kdf_params p;
	if (len != WRAPPER_BYTES || memcmp(blob, "ZKW1", 4) != 0)
		return -1;
	if (blob[5] == WRAPPER_KDF_ARGON2ID && wrapper_params(&p, blob, len) != 0)
		return -1;
	if (blob[5] != WRAPPER_KDF_ARGON2ID && blob[5] != WRAPPER_KDF_SECRET)
		return -1;
	wrapper_aad(&a, v, blob);
	return zk_open(vmk, blob + WRAPPER_HEAD, len - WRAPPER_HEAD, &a, kek);
}

void wrapper_kek_from_secret(unsigned char kek[ZK_KEY_BYTES], const struct vault *v, enum wrapper_type type,
			     const unsigned char *secret, size_t len)
{
	crypto_generichash_state st;
	unsigned char t = (unsigned char)type;
	crypto_generichash_init(&st, secret, len, ZK_KEY_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)"zkv1kek\0", 8);
	crypto_generichash_update(&st, &t, 1);
	crypto_generichash_update(&st, v->vault_id, ZK_VAULT_ID_BYTES);
	crypto_generichash_final(&st, kek, ZK_KEY_BYTES);
}
