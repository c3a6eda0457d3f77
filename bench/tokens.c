/*
 * Capability token verification and revocation list figures (docs/PERFORMANCE.md §Tokens), on one core:
 *   - cold verification through vaultd's own token_check (cache emptied before every call): a root alone and
 *     chains of 1 and 2 attenuation blocks (1, 2 and 3 Ed25519 signatures, plus the proof key derivation);
 *   - the cached path (a cache hit, plus the per-request expiry, revocation, not-before and ceiling checks);
 *   - the revocation cascade over 1,000,000 issued ids: size, build time, query rate, and delta sizes.
 * Build and run: bench/tokens.sh [BUILD_DIR] (outside ctest).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/cascade.h"
#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/revsnap.h"
#include "lib/tokenchain.h"
#include "vaultd/ceilings.h"
#include "vaultd/tokens.h"

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct vault v;

/* Runs token_check n times (emptying the cache before each when cold); returns calls per second. */
static double rate(const char *token, int n, int cold)
{
	struct claims *c = malloc(sizeof(*c));
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		if (cold)
			token_cache_clear(v.tcache);
		if (token_check(&v, token, c) != TOKEN_OK) {
			fprintf(stderr, "tokens: token refused\n");
			exit(1);
		}
	}
	double s = now_s() - t0;
	free(c);
	return n / s;
}

static char *narrow(const char *token, const char *pattern, int64_t exp_ms)
{
	struct zk_caveats *parent = calloc(1, sizeof(*parent)), *child = calloc(1, sizeof(*child));
	char *out = NULL;
	parent->exp_ms = exp_ms;
	parent->perms = ZK_CHAIN_PERM_READ;
	zk_caveats_add_pattern(parent, "*");
	child->exp_ms = exp_ms;
	child->perms = ZK_CHAIN_PERM_READ;
	zk_caveats_add_pattern(child, pattern);
	if (zk_chain_attenuate(&out, token, parent, child) != 0) {
		fprintf(stderr, "tokens: attenuate failed\n");
		exit(1);
	}
	free(parent);
	free(child);
	return out;
}

static void cascade_figures(size_t issued, size_t revoked)
{
	unsigned char (*ids)[16] = malloc(issued * 16), salt[16] = { 1 }, *enc;
	size_t len;
	randombytes_buf(ids, issued * 16);
	double t0 = now_s();
	if (zk_cascade_build(&enc, &len, (const unsigned char (*)[16])ids, revoked,
			     (const unsigned char (*)[16])(ids + revoked), issued - revoked, salt) != 0) {
		fprintf(stderr, "tokens: cascade failed\n");
		exit(1);
	}
	double build = now_s() - t0;
	struct zk_cascade *c = malloc(sizeof(*c));
	zk_cascade_parse(c, enc, len);
	size_t wrong = 0;
	t0 = now_s();
	for (size_t i = 0; i < issued; i++)
		wrong += zk_cascade_revoked(c, ids[i]) != (i < revoked);
	double q = now_s() - t0;
	printf("cascade %zu issued / %zu revoked: %zu bytes (%d levels), built in %.0f ms, %.1f M queries/s, "
	       "%zu wrong answers; full snapshot %zu bytes\n",
	       issued, revoked, len, c->nlevels, build * 1000, issued / q / 1e6, wrong, len + 221);
	free(c);
	free(enc);
	free(ids);
}

int main(int argc, char *argv[])
{
	int n = argc > 1 ? atoi(argv[1]) : 3000;
	unsigned char vmk[32];
	if (zk_mem_init() != 0)
		return 1;
	randombytes_buf(vmk, sizeof(vmk));
	struct zk_keys *k = zk_keys_new(vmk);
	memset(v.vault_id, 7, sizeof(v.vault_id));
	sodium_bin2hex(v.vault_id_hex, sizeof(v.vault_id_hex), v.vault_id, sizeof(v.vault_id));
	memcpy(v.token_pk, k->token_pk, 32);
	v.cfg.group_id = "bench";
	v.initialized = true;
	v.tcache = token_cache_new();
	v.revoked = revocations_new();
	v.ceilings = ceilings_new();

	char jti[33];
	int64_t exp_ms, now = zk_now_ms();
	json_t *allowed = json_pack("[s]", "*");
	char *root = token_issue(&v, k, "6f1c2a4e-2b7d-4f3a-9c1e-0a1b2c3d4e5f", allowed, PERM_READ, 3600, NULL, 0, now, jti,
				 &exp_ms);
	char *b1 = narrow(root, "db-*", exp_ms), *b2 = narrow(b1, "db-main", exp_ms);
	printf("token sizes: root %zu, 1 block %zu, 2 blocks %zu characters\n", strlen(root), strlen(b1), strlen(b2));
	printf("cold verify (vaultd token_check, cache emptied each call), one core:\n");
	printf("  root alone (1 signature + proof):  %8.0f /s\n", rate(root, n, 1));
	printf("  1 block    (2 signatures + proof): %8.0f /s\n", rate(b1, n, 1));
	printf("  2 blocks   (3 signatures + proof): %8.0f /s\n", rate(b2, n, 1));
	/* New children of a token already verified: the cached prefix leaves one signature and the proof. */
	int nchild = n < 500 ? n : 500;
	char **kids = malloc((size_t)nchild * sizeof(*kids));
	for (int i = 0; i < nchild; i++)
		kids[i] = narrow(b1, "db-main", exp_ms);
	token_cache_clear(v.tcache);
	rate(b1, 1, 0);
	double t_kids = now_s();
	for (int i = 0; i < nchild; i++)
		rate(kids[i], 1, 0);
	double with_prefix = nchild / (now_s() - t_kids);
	t_kids = now_s();
	for (int i = 0; i < nchild; i++)
		rate(kids[i], 1, 1);
	printf("  2 blocks, block 1 already verified (a new child of a known token): %8.0f /s (same children, "
	       "nothing cached: %.0f /s)\n", with_prefix, nchild / (now_s() - t_kids));
	for (int i = 0; i < nchild; i++)
		free(kids[i]);
	free(kids);
	rate(b2, 1, 1);
	double hit = rate(b2, n * 300, 0);
	printf("cached path (2-block chain): %.0f /s = %.3f us per check\n", hit, 1e6 / hit);
	rate(root, 1, 1);
	hit = rate(root, n * 300, 0);
	printf("cached path (root alone): %.0f /s = %.3f us per check\n", hit, 1e6 / hit);
	/* The same run's bare primitives, so the figures can be read on a busy machine too. */
	unsigned char seed[32] = { 0 }, pk[32], sk[64], sig[64], h[32];
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		seed[0] = (unsigned char)i;
		crypto_sign_seed_keypair(pk, sk, seed);
	}
	double kp = (now_s() - t0) / n * 1e6;
	crypto_sign_detached(sig, NULL, (const unsigned char *)b2, 300, sk);
	t0 = now_s();
	for (int i = 0; i < n; i++)
		if (crypto_sign_verify_detached(sig, (const unsigned char *)b2, 300, pk) != 0)
			return 1;
	double ver = (now_s() - t0) / n * 1e6;
	t0 = now_s();
	for (int i = 0; i < n * 100; i++)
		crypto_generichash(h, sizeof(h), (const unsigned char *)b2, strlen(b2), NULL, 0);
	double hash = (now_s() - t0) / (n * 100) * 1e6;
	printf("same run, bare libsodium: Ed25519 verify %.1f us (%.0f /s), seed -> key pair %.1f us, "
	       "BLAKE2b-256 of the 2-block token %.2f us\n", ver, 1e6 / ver, kp, hash);

	cascade_figures(1000000, 10000);
	cascade_figures(1000000, 1000);
	cascade_figures(1000000, 100000);
	cascade_figures(10000, 100);
	printf("delta sizes (signed, any universe): 0 ids %d bytes, 1 id %d, 100 ids %d, 10,000 ids %d\n", 221,
	       221 + 16, 221 + 1600, 221 + 160000);
	free(root);
	free(b1);
	free(b2);
	json_decref(allowed);
	zk_keys_free(k);
	return 0;
}
