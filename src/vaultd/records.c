/*
 * A sealed record: nonce | XChaCha20-Poly1305(JSON) with
 * AAD = "zkv1rec\0" | vault id | name hash | record id | version u64le | tombstone u8.
 * The plaintext JSON holds the name, so names are hidden at rest and a record cannot move between names.
 */
#include <string.h>

#include "lib/mem.h"
#include "vaultd/vaultd.h"

void record_aad(struct zk_aad *a, const struct vault *v, const unsigned char name_hash[ZK_HASH_BYTES],
		const unsigned char record_id[ZK_RECORD_ID_BYTES], uint64_t version, bool tombstone)
{
	unsigned char t = tombstone ? 1 : 0;
	zk_aad_init(a, "zkv1rec\0", v->vault_id);
	zk_aad_put(a, name_hash, ZK_HASH_BYTES);
	zk_aad_put(a, record_id, ZK_RECORD_ID_BYTES);
	zk_aad_u64(a, version);
	zk_aad_put(a, &t, 1);
}

int record_open(json_t **out, const struct vault *v, const struct zk_keys *k, const struct index_entry *e)
{
	struct zk_aad a;
	size_t n;
	unsigned char *m;
	json_t *j;

	if (e->sealed_len < ZK_SEAL_OVERHEAD)
		return -1;
	n = e->sealed_len - ZK_SEAL_OVERHEAD;
	if (!(m = zk_wipe_malloc(n + 1)))
		return -1;
	record_aad(&a, v, e->name_hash, e->record_id, e->version, e->tombstone);
	if (zk_open(m, e->sealed, e->sealed_len, &a, k->record_aead) != 0) {
		zk_wipe_free(m);
		return -1;
	}
	j = json_loadb((const char *)m, n, JSON_REJECT_DUPLICATES, NULL);
	zk_wipe_free(m);
	if (!json_is_object(j)) {
		json_decref(j);
		return -1;
	}
	*out = j;
	return 0;
}
