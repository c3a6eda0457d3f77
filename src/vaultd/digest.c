/*
 * The vault header: a revision counter and an incremental multiset digest over (name hash, record id,
 * latest version, tombstone) of every record: the sum mod 2^256 of keyed BLAKE2b values, so one write updates
 * it in O(1) and unlock can recompute it to detect a deleted or rolled-back record.
 */
#include <string.h>

#include "vaultd/vaultd.h"

void digest_entry(unsigned char out[ZK_HASH_BYTES], const struct zk_keys *k,
		  const unsigned char name_hash[ZK_HASH_BYTES], const unsigned char record_id[ZK_RECORD_ID_BYTES],
		  uint64_t version, bool tombstone)
{
	crypto_generichash_state st;
	unsigned char ver[8], t = tombstone ? 1 : 0;
	zk_store_u64le(ver, version);
	crypto_generichash_init(&st, k->index_mac, ZK_KEY_BYTES, ZK_HASH_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)"zkv1idx\0", 8);
	crypto_generichash_update(&st, name_hash, ZK_HASH_BYTES);
	crypto_generichash_update(&st, record_id, ZK_RECORD_ID_BYTES);
	crypto_generichash_update(&st, ver, sizeof(ver));
	crypto_generichash_update(&st, &t, 1);
	crypto_generichash_final(&st, out, ZK_HASH_BYTES);
}

void digest_add(unsigned char acc[ZK_HASH_BYTES], const unsigned char e[ZK_HASH_BYTES])
{
	sodium_add(acc, e, ZK_HASH_BYTES);
}

void digest_sub(unsigned char acc[ZK_HASH_BYTES], const unsigned char e[ZK_HASH_BYTES])
{
	sodium_sub(acc, e, ZK_HASH_BYTES);
}

static void header_mac(unsigned char out[ZK_HASH_BYTES], const struct vault *v, const struct zk_keys *k,
		       const unsigned char body[8 + ZK_HASH_BYTES])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, k->index_mac, ZK_KEY_BYTES, ZK_HASH_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)"zkv1hdr\0", 8);
	crypto_generichash_update(&st, v->vault_id, ZK_VAULT_ID_BYTES);
	crypto_generichash_update(&st, body, 8 + ZK_HASH_BYTES);
	crypto_generichash_final(&st, out, ZK_HASH_BYTES);
}

void header_encode(unsigned char out[HEADER_BYTES], const struct vault *v, const struct zk_keys *k,
		   uint64_t revision, const unsigned char digest[ZK_HASH_BYTES])
{
	zk_store_u64le(out, revision);
	memcpy(out + 8, digest, ZK_HASH_BYTES);
	header_mac(out + 8 + ZK_HASH_BYTES, v, k, out);
}

int header_decode(uint64_t *revision, unsigned char digest[ZK_HASH_BYTES], const unsigned char *in, size_t len,
		  const struct vault *v, const struct zk_keys *k)
{
	unsigned char mac[ZK_HASH_BYTES];
	if (len != HEADER_BYTES)
		return -1;
	header_mac(mac, v, k, in);
	if (sodium_memcmp(mac, in + 8 + ZK_HASH_BYTES, ZK_HASH_BYTES) != 0)
		return -1;
	*revision = zk_load_u64le(in);
	memcpy(digest, in + 8, ZK_HASH_BYTES);
	return 0;
}
