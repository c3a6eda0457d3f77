/* Open-addressing hash table keyed by name hash; the hash is keyed BLAKE2b, so its bytes are uniform. */
#include <stdlib.h>
#include <string.h>

#include "vaultd/vaultd.h"

static size_t slot_of(const unsigned char h[ZK_HASH_BYTES], size_t cap)
{
	uint64_t x;
	memcpy(&x, h, sizeof(x));
	return (size_t)x & (cap - 1);
}

void index_init(struct index *ix)
{
	memset(ix, 0, sizeof(*ix));
}

void index_entry_release(struct index_entry *e)
{
	free(e->sealed);
	free(e->older);
	e->sealed = NULL;
	e->older = NULL;
	e->nolder = 0;
}

int64_t index_version_seq(const struct index_entry *e, uint64_t version)
{
	if (version == e->version)
		return e->seq;
	for (uint32_t i = 0; i < e->nolder; i++)
		if (e->older[i].version == version)
			return e->older[i].seq;
	return -1;
}

void index_clear(struct index *ix)
{
	for (size_t i = 0; i < ix->cap; i++) {
		if (ix->slots[i]) {
			index_entry_release(ix->slots[i]);
			free(ix->slots[i]);
		}
	}
	free(ix->slots);
	index_init(ix);
}

const struct index_entry *index_get(const struct index *ix, const unsigned char name_hash[ZK_HASH_BYTES])
{
	return index_find((struct index *)ix, name_hash);
}

struct index_entry *index_find(struct index *ix, const unsigned char name_hash[ZK_HASH_BYTES])
{
	if (!ix->cap)
		return NULL;
	for (size_t i = slot_of(name_hash, ix->cap);; i = (i + 1) & (ix->cap - 1)) {
		struct index_entry *e = ix->slots[i];
		if (!e)
			return NULL;
		if (!memcmp(e->name_hash, name_hash, ZK_HASH_BYTES))
			return e;
	}
}

static int grow(struct index *ix)
{
	size_t cap = ix->cap ? ix->cap * 2 : 64;
	struct index_entry **slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	for (size_t i = 0; i < ix->cap; i++) {
		struct index_entry *e = ix->slots[i];
		if (!e)
			continue;
		size_t j = slot_of(e->name_hash, cap);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = e;
	}
	free(ix->slots);
	ix->slots = slots;
	ix->cap = cap;
	return 0;
}

int index_put(struct index *ix, const struct index_entry *src)
{
	if ((ix->count + 1) * 4 > ix->cap * 3 && grow(ix) != 0)
		return -1;
	unsigned char *sealed = malloc(src->sealed_len ? src->sealed_len : 1);
	struct version_row *older = src->nolder ? malloc(src->nolder * sizeof(*older)) : NULL;
	if (!sealed || (src->nolder && !older)) {
		free(sealed);
		free(older);
		return -1;
	}
	memcpy(sealed, src->sealed, src->sealed_len);
	if (src->nolder)
		memcpy(older, src->older, src->nolder * sizeof(*older));

	size_t i = slot_of(src->name_hash, ix->cap);
	for (; ix->slots[i]; i = (i + 1) & (ix->cap - 1)) {
		struct index_entry *e = ix->slots[i];
		if (!memcmp(e->name_hash, src->name_hash, ZK_HASH_BYTES)) {
			index_entry_release(e);
			*e = *src;
			e->sealed = sealed;
			e->older = older;
			return 0;
		}
	}
	struct index_entry *e = malloc(sizeof(*e));
	if (!e) {
		free(sealed);
		free(older);
		return -1;
	}
	*e = *src;
	e->sealed = sealed;
	e->older = older;
	ix->slots[i] = e;
	ix->count++;
	return 0;
}
