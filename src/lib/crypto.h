#ifndef ZK_CRYPTO_H
#define ZK_CRYPTO_H

/*
 * The vault's key hierarchy and sealing primitives (docs/FORMAT.md §Keys). Everything is libsodium:
 * Argon2id for the KEK, XChaCha20-Poly1305-IETF for every AEAD, keyed BLAKE2b for MACs,
 * crypto_kdf for subkeys of the vault master key (VMK).
 */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define ZK_KEY_BYTES 32
#define ZK_VAULT_ID_BYTES 16
#define ZK_RECORD_ID_BYTES 16
#define ZK_HASH_BYTES 32
#define ZK_SALT_BYTES 16
#define ZK_NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define ZK_TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define ZK_SEAL_OVERHEAD (ZK_NONCE_BYTES + ZK_TAG_BYTES)

/* The floor every client and the vault enforce before running the KDF: a server cannot downgrade it. */
#define ZK_KDF_OPSLIMIT_FLOOR 3ULL
#define ZK_KDF_MEMLIMIT_FLOOR (64ULL << 20)
#define ZK_KDF_OPSLIMIT_MAX 64ULL
#define ZK_KDF_MEMLIMIT_MAX (4ULL << 30)

enum zk_subkey_id {
	ZK_SUBKEY_RECORD_AEAD = 1,
	ZK_SUBKEY_NAME_MAC = 2,
	ZK_SUBKEY_INDEX_MAC = 3,
	ZK_SUBKEY_AUDIT_AEAD = 4,
	ZK_SUBKEY_AUDIT_X25519 = 5,
	ZK_SUBKEY_TOKEN_ED25519 = 6,
	ZK_SUBKEY_CHECKPOINT_ED25519 = 7,
	ZK_SUBKEY_BACKUP_MAC = 8,
	ZK_SUBKEY_REVOCATION_ED25519 = 9, /* signs the revocation list (vaultd/revlist.c) */
};
#define ZK_KDF_CONTEXT "zkvault1"

struct zk_kdf_params {
	uint64_t opslimit;
	uint64_t memlimit;
	unsigned char salt[ZK_SALT_BYTES];
};

/* All keys of an unlocked vault. Lives only in sodium_malloc'd, mlock'ed memory (zk_keys_new). */
struct zk_keys {
	unsigned char vmk[ZK_KEY_BYTES];
	unsigned char record_aead[ZK_KEY_BYTES];
	unsigned char name_mac[ZK_KEY_BYTES];
	unsigned char index_mac[ZK_KEY_BYTES];
	unsigned char audit_aead[ZK_KEY_BYTES];
	unsigned char audit_pk[crypto_box_PUBLICKEYBYTES];
	unsigned char audit_sk[crypto_box_SECRETKEYBYTES];
	unsigned char token_pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char token_sk[crypto_sign_SECRETKEYBYTES];
	unsigned char checkpoint_pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char checkpoint_sk[crypto_sign_SECRETKEYBYTES];
	unsigned char backup_mac[ZK_KEY_BYTES];
};

struct zk_keys *zk_keys_new(const unsigned char vmk[ZK_KEY_BYTES]);
void zk_keys_free(struct zk_keys *k);

/* Returns 0 when the parameters are within [floor, max], -1 otherwise. */
int zk_kdf_check(const struct zk_kdf_params *p);
/* Argon2id13. Refuses parameters below the floor. Returns 0 or -1. */
int zk_kdf_derive(unsigned char kek[ZK_KEY_BYTES], const char *password, size_t password_len,
		  const struct zk_kdf_params *p);
void zk_kdf_default(struct zk_kdf_params *p);

/* Associated data: an 8-byte type tag, the vault id, then fields appended in a fixed order. */
struct zk_aad {
	unsigned char buf[192];
	size_t len;
};
void zk_aad_init(struct zk_aad *a, const char tag[8], const unsigned char vault_id[ZK_VAULT_ID_BYTES]);
void zk_aad_put(struct zk_aad *a, const void *p, size_t n);
void zk_aad_u64(struct zk_aad *a, uint64_t v);

/* out (mlen + ZK_SEAL_OVERHEAD bytes) = nonce || ciphertext || tag, with a fresh random nonce. */
void zk_seal(unsigned char *out, const unsigned char *m, size_t mlen, const struct zk_aad *aad,
	     const unsigned char key[ZK_KEY_BYTES]);
/* m (clen - ZK_SEAL_OVERHEAD bytes). Returns 0, or -1 and writes nothing useful on forgery. */
int zk_open(unsigned char *m, const unsigned char *c, size_t clen, const struct zk_aad *aad,
	    const unsigned char key[ZK_KEY_BYTES]);

/* Keyed BLAKE2b-256 of a record name: how a record is found without storing its name. */
void zk_name_hash(unsigned char out[ZK_HASH_BYTES], const char *name, size_t len,
		  const unsigned char name_mac[ZK_KEY_BYTES]);

/* Little-endian encoding helpers for byte-exact formats. */
void zk_store_u64le(unsigned char out[8], uint64_t v);
uint64_t zk_load_u64le(const unsigned char in[8]);

/*
 * sodium_base642bin() with no ignore set, that first rejects any byte >= 0x80. libsodium 1.0.18 (Debian 12) reads the
 * input as signed char and its constant-time compare assumes 8-bit values, so it decodes every such byte as the
 * 63rd character ('/' or '_'): "jiBKSceWlrwk79Q\x87\x8ebIvdw==" would decode like "jiBKSceWlrwk79Q//bIvdw==".
 * Every base64 decode in zkvault goes through here. Same arguments and result otherwise.
 */
int zk_base642bin(unsigned char *bin, size_t bin_maxlen, const char *b64, size_t b64_len, size_t *bin_len,
		  const char **b64_end, int variant);

/* Hex and base64 (libsodium); the *_dup forms return malloc'd strings. */
char *zk_hex_dup(const unsigned char *bin, size_t len);
char *zk_b64_dup(const unsigned char *bin, size_t len);
/* Decodes exactly expected bytes (standard base64 with padding); returns 0 or -1. */
int zk_b64_decode_exact(unsigned char *out, size_t expected, const char *b64);
/* Decodes into a malloc'd buffer; returns 0 or -1. */
int zk_b64_decode(unsigned char **out, size_t *out_len, const char *b64);
int zk_hex_decode_exact(unsigned char *out, size_t expected, const char *hex);

#endif
