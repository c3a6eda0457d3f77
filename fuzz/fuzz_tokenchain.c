/* libFuzzer target for attenuation chains (src/lib/tokenchain.h) and the revocation structures
   (src/lib/cascade.h, src/lib/revsnap.h). Each input is used four ways:
     a) as a token string: split and decoded; a decoded block must re-encode to exactly its bytes (one encoding
        per block), and the chain is verified against the root of tests/vectors/tokenchain/chain-1.json (whose
        seeds, the committed corpus, verify); a chain that verifies is attenuated once more, narrower, and the
        result must verify too, while a widened child must be refused;
     b) as root claims JSON (zk_chain_root_caveats);
     c) as a cascade encoding and d) as a signed revocation list, parsed and queried. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lib/cascade.h"
#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/revsnap.h"
#include "lib/tokenchain.h"

/* The vector's root caveats and the public key of its "rootNextSeed" (0x02 * 32). */
static struct zk_caveats root_cav;
static unsigned char root_next_pk[32], vault_pk[32];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned char seed[32], sk[64];
	if (zk_mem_init() != 0)
		return -1;
	memset(seed, 2, sizeof(seed));
	crypto_sign_seed_keypair(root_next_pk, sk, seed);
	memset(seed, 1, sizeof(seed));
	crypto_sign_seed_keypair(vault_pk, sk, seed);
	if (zk_parse_iso8601(&root_cav.exp_ms, "2026-01-02T00:00:00.000Z") != 0)
		return -1;
	root_cav.perms = ZK_CHAIN_PERM_READ | ZK_CHAIN_PERM_WRITE;
	zk_caveats_add_pattern(&root_cav, "db-*");
	zk_caveats_add_pattern(&root_cav, "api");
	return 0;
}

static void as_token(const char *s)
{
	struct zk_chain *c = NULL;
	if (zk_chain_parse(&c, s) != 0)
		return;
	CHECK(c->nblocks >= 0 && c->nblocks <= ZK_CHAIN_MAX_BLOCKS);
	CHECK(c->root_len <= strlen(s));
	for (int i = 0; i < c->nblocks; i++) {
		const struct zk_chain_block *b = &c->block[i];
		unsigned char buf[ZK_CHAIN_PATTERN_BYTES + 512];
		size_t n = zk_chain_block_encode(buf, sizeof(buf), i + 1, &b->cav, b->next_pk);
		CHECK(n == b->payload_len && memcmp(buf, b->payload, n) == 0);
		for (int p = 0; p < b->cav.npatterns; p++) {
			const char *pat = b->cav.patterns + b->cav.pattern_off[p];
			CHECK(zk_chain_pattern_valid(pat, strlen(pat)));
		}
	}
	char *json = NULL;
	size_t len;
	if (zk_chain_root_payload(&json, &len, c) == 0)
		free(json);
	struct zk_caveats *eff = malloc(sizeof(*eff));
	if (eff && zk_chain_verify(c, 0, &root_cav, root_next_pk, eff) == 0) {
		CHECK(zk_caveats_narrows(eff, &root_cav));
		/* Narrower still: must verify. Wider: must be refused, before and after signing. */
		struct zk_caveats *child = malloc(sizeof(*child)), *eff2 = malloc(sizeof(*eff2));
		char *t2 = NULL;
		memcpy(child, eff, sizeof(*child));
		child->exp_ms = eff->exp_ms > 0 ? eff->exp_ms - 1 : 0;
		child->perms &= ZK_CHAIN_PERM_READ;
		if (c->nblocks < ZK_CHAIN_MAX_BLOCKS && zk_chain_attenuate(&t2, s, eff, child) == 0) {
			struct zk_chain *c2 = NULL;
			CHECK(zk_chain_parse(&c2, t2) == 0);
			CHECK(zk_chain_verify(c2, 0, &root_cav, root_next_pk, eff2) == 0);
			CHECK(eff2->exp_ms == child->exp_ms && eff2->perms == child->perms);
			zk_chain_free(c2);
			free(t2);
		}
		child->exp_ms = eff->exp_ms + 1;
		CHECK(zk_chain_attenuate(&t2, s, eff, child) == -1);
		free(child);
		free(eff2);
	}
	free(eff);
	zk_chain_free(c);
}

static void as_structures(const uint8_t *data, size_t size)
{
	struct zk_caveats *cav = malloc(sizeof(*cav));
	unsigned char pk[32], id[16] = { 0 };
	bool has_next;
	if (cav && zk_chain_root_caveats(cav, pk, &has_next, (const char *)data, size) == 0)
		CHECK(cav->npatterns >= 0 && cav->npatterns <= ZK_CHAIN_MAX_PATTERNS);
	free(cav);

	struct zk_cascade *casc = malloc(sizeof(*casc));
	if (casc && zk_cascade_parse(casc, data, size) == 0) {
		if (size >= 16)
			memcpy(id, data, 16);
		(void)zk_cascade_revoked(casc, id);
	}
	free(casc);

	struct zk_revsnap snap;
	if (zk_revsnap_open(&snap, data, size, vault_pk) == 0) {
		struct zk_revview view;
		if (zk_revview_init(&view, &snap) == 0) {
			(void)zk_revview_revoked(&view, id, 0, NULL, 0);
			zk_revview_free(&view);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	as_token(s);
	free(s);
	as_structures(data, size);
	return 0;
}
