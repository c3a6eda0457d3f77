/*
 * Attenuation chains (src/lib/tokenchain.h, docs/FORMAT.md §Attenuation chains): the committed vector
 * (tests/vectors/tokenchain/chain-1.json, fixed keys) and every widening or splicing attempt.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/paseto.h"
#include "lib/tokenchain.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

static json_t *vec;
static unsigned char vault_sk[64], vault_pk[32];

static void seed_of(unsigned char seed[32], const char *key)
{
	const char *hex = json_string_value(json_object_get(vec, key));
	assert_non_null(hex);
	assert_int_equal(sodium_hex2bin(seed, 32, hex, strlen(hex), NULL, NULL, NULL), 0);
}

static void caveats_of(struct zk_caveats *c, const json_t *o)
{
	size_t i;
	json_t *x;
	memset(c, 0, sizeof(*c));
	assert_int_equal(zk_parse_iso8601(&c->exp_ms, json_string_value(json_object_get(o, "exp"))), 0);
	json_array_foreach(json_object_get(o, "permissions"), i, x)
		c->perms |= zk_chain_perm_parse(json_string_value(x));
	json_array_foreach(json_object_get(o, "allowedSecrets"), i, x)
		assert_int_equal(zk_caveats_add_pattern(c, json_string_value(x)), 0);
	if (json_object_get(o, "aud"))
		strcpy(c->aud, json_string_value(json_object_get(o, "aud")));
	c->max_uses = (uint32_t)json_integer_value(json_object_get(o, "maxUses"));
}

/* The root exactly as vaultd makes it: claims JSON with "nextKey", kid footer, "~" and the seed. */
static char *make_root(const char *claims_template, const unsigned char seed[32])
{
	unsigned char pk[32], sk[64];
	char next[64], proof[64], kid[ZK_PASERK_K4_PID_MAX], footer[128], claims[2048], *root = NULL, *out;
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_bin2base64(next, sizeof(next), pk, 32, B64);
	sodium_bin2base64(proof, sizeof(proof), seed, 32, B64);
	const char *hole = strstr(claims_template, "%s");
	assert_non_null(hole);
	snprintf(claims, sizeof(claims), "%.*s%s%s", (int)(hole - claims_template), claims_template, next, hole + 2);
	assert_int_equal(zk_paserk_k4_pid(kid, vault_pk), 0);
	snprintf(footer, sizeof(footer), "{\"kid\":\"%s\"}", kid);
	assert_int_equal(zk_paseto_v4_public_sign(&root, (unsigned char *)claims, strlen(claims), footer, NULL, vault_sk),
			 0);
	assert_true(asprintf(&out, "%s~%s", root, proof) > 0);
	free(root);
	return out;
}

/* Verifies a token as a vault does: root signature, root caveats, then the chain. */
static int verify(const char *token, struct zk_caveats *eff)
{
	struct zk_chain *c;
	char *root, *json;
	size_t len;
	unsigned char *msg, next_pk[32];
	bool has_next;
	struct zk_caveats *rc_ = malloc(sizeof(*rc_));
	int rc = -1;
	if (zk_chain_parse(&c, token) != 0) {
		free(rc_);
		return -1;
	}
	root = strndup(c->root, c->root_len);
	if (zk_paseto_v4_public_verify(&msg, &len, NULL, root, NULL, NULL, vault_pk) == 0) {
		if (zk_chain_root_caveats(rc_, next_pk, &has_next, (char *)msg, len) == 0 && has_next)
			rc = zk_chain_verify(c, 0, rc_, next_pk, eff);
		free(msg);
	}
	assert_int_equal(zk_chain_root_payload(&json, &len, c), 0);
	free(json);
	free(root);
	free(rc_);
	zk_chain_free(c);
	return rc;
}

static char *root_token(void)
{
	unsigned char seed[32];
	seed_of(seed, "rootNextSeed");
	return make_root(json_string_value(json_object_get(vec, "rootClaimsTemplate")), seed);
}

static char *attenuate_to(int depth)
{
	char *t = root_token();
	struct zk_caveats *parent = malloc(sizeof(*parent)), *child = malloc(sizeof(*child));
	caveats_of(parent, json_object_get(vec, "rootCaveats"));
	for (int i = 0; i < depth; i++) {
		char key[16], *next;
		unsigned char seed[32];
		snprintf(key, sizeof(key), "blockSeed%d", i + 1);
		seed_of(seed, key);
		caveats_of(child, json_array_get(json_object_get(vec, "blocks"), (size_t)i));
		assert_int_equal(zk_chain_attenuate_seed(&next, t, parent, child, seed), 0);
		free(t);
		t = next;
		memcpy(parent, child, sizeof(*child));
	}
	free(parent);
	free(child);
	return t;
}

/* ZK_PRINT_VECTORS=1 prints what the vector's "tokens" and "blockRids" are for this code (to regenerate it). */
static void print_vector(void)
{
	json_t *tokens = json_array(), *rids = json_array();
	struct zk_chain *c;
	for (int d = 0; d <= 2; d++) {
		char *t = attenuate_to(d);
		json_array_append_new(tokens, json_string(t));
		if (d == 2 && zk_chain_parse(&c, t) == 0) {
			for (int i = 0; i < c->nblocks; i++) {
				char hex[33];
				sodium_bin2hex(hex, sizeof(hex), c->block[i].rid, 16);
				json_array_append_new(rids, json_string(hex));
			}
			zk_chain_free(c);
		}
		free(t);
	}
	json_t *o = json_pack("{soso}", "tokens", tokens, "blockRids", rids);
	json_dumpf(o, stdout, JSON_INDENT(2));
	json_decref(o);
}

static void test_vector(void **state)
{
	(void)state;
	if (getenv("ZK_PRINT_VECTORS"))
		print_vector();
	json_t *expected = json_object_get(vec, "tokens");
	for (int d = 0; d <= 2; d++) {
		char *t = attenuate_to(d);
		const char *want = json_string_value(json_array_get(expected, (size_t)d));
		if (!want || strcmp(t, want) != 0)
			fail_msg("depth %d token differs:\n%s", d, t);
		struct zk_caveats eff;
		assert_int_equal(verify(t, &eff), 0);
		free(t);
	}
	/* The block revocation ids. */
	struct zk_chain *c;
	char *t = attenuate_to(2);
	assert_int_equal(zk_chain_parse(&c, t), 0);
	for (int i = 0; i < 2; i++) {
		char hex[33];
		sodium_bin2hex(hex, sizeof(hex), c->block[i].rid, 16);
		assert_string_equal(hex, json_string_value(json_array_get(json_object_get(vec, "blockRids"), (size_t)i)));
	}
	zk_chain_free(c);
	free(t);
}

static void test_effective_caveats(void **state)
{
	(void)state;
	char *t = attenuate_to(2);
	struct zk_caveats eff;
	assert_int_equal(verify(t, &eff), 0);
	assert_int_equal(eff.perms, ZK_CHAIN_PERM_READ);
	assert_string_equal(eff.aud, "agent-7");
	assert_int_equal(eff.max_uses, 5);
	assert_true(zk_caveats_allow_name(&eff, "db-prod-main"));
	assert_false(zk_caveats_allow_name(&eff, "db-prod-other"));
	assert_false(zk_caveats_allow_name(&eff, "api"));
	free(t);
}

/* Attenuating with child caveats must fail in zk_chain_attenuate, and a block forced past that check (signed
   with the right key) must fail verification. */
static void expect_widening_refused(const struct zk_caveats *child)
{
	char *t = attenuate_to(1), *forced = NULL, *out = NULL;
	struct zk_caveats *parent = malloc(sizeof(*parent)), *wide = malloc(sizeof(*wide)), eff;
	caveats_of(parent, json_array_get(json_object_get(vec, "blocks"), 0));
	assert_int_equal(zk_chain_attenuate(&out, t, parent, child), -1);
	/* Pretend the parent was as wide as the child: the signature is then right, the narrowing is not. */
	memcpy(wide, child, sizeof(*wide));
	assert_int_equal(zk_chain_attenuate(&forced, t, wide, child), 0);
	assert_int_equal(verify(forced, &eff), -1);
	free(forced);
	free(parent);
	free(wide);
	free(t);
}

static void test_widening_rejected(void **state)
{
	(void)state;
	struct zk_caveats *base = malloc(sizeof(*base)), *c = malloc(sizeof(*c));
	caveats_of(base, json_array_get(json_object_get(vec, "blocks"), 0)); /* block 1: db-prod*, read, agent-7 */

	memcpy(c, base, sizeof(*c)); /* more secrets */
	assert_int_equal(zk_caveats_add_pattern(c, "api"), 0);
	expect_widening_refused(c);
	memcpy(c, base, sizeof(*c)); /* a wider pattern */
	c->npatterns = 0;
	assert_int_equal(zk_caveats_add_pattern(c, "db-*"), 0);
	expect_widening_refused(c);
	memcpy(c, base, sizeof(*c)); /* more permissions */
	c->perms |= ZK_CHAIN_PERM_WRITE;
	expect_widening_refused(c);
	memcpy(c, base, sizeof(*c)); /* later expiry */
	c->exp_ms += 1;
	expect_widening_refused(c);
	memcpy(c, base, sizeof(*c)); /* dropped audience */
	c->aud[0] = '\0';
	expect_widening_refused(c);
	memcpy(c, base, sizeof(*c)); /* another audience */
	strcpy(c->aud, "agent-8");
	expect_widening_refused(c);
	memcpy(c, base, sizeof(*c)); /* a use limit may be added, then only lowered, never dropped */
	c->max_uses = 3;
	char *t = attenuate_to(1), *t2 = NULL, *t3 = NULL;
	assert_int_equal(zk_chain_attenuate(&t2, t, base, c), 0);
	struct zk_caveats *d = malloc(sizeof(*d)), eff;
	memcpy(d, c, sizeof(*d));
	d->max_uses = 0;
	assert_int_equal(zk_chain_attenuate(&t3, t2, c, d), -1);
	d->max_uses = 4;
	assert_int_equal(zk_chain_attenuate(&t3, t2, c, d), -1);
	d->max_uses = 2;
	assert_int_equal(zk_chain_attenuate(&t3, t2, c, d), 0);
	assert_int_equal(verify(t3, &eff), 0);
	assert_int_equal(eff.max_uses, 2);
	free(t);
	free(t2);
	free(t3);
	free(d);
	free(base);
	free(c);
}

static char *replace_part(const char *token, int index, const char *part)
{
	/* index counts "~"-separated parts: 0 is the root */
	char *copy = strdup(token), *save = NULL, *out = calloc(1, strlen(token) + strlen(part) + 8);
	int i = 0;
	for (char *p = strtok_r(copy, "~", &save); p; p = strtok_r(NULL, "~", &save), i++) {
		if (i)
			strcat(out, "~");
		strcat(out, i == index ? part : p);
	}
	free(copy);
	return out;
}

static char *part(const char *token, int index)
{
	char *copy = strdup(token), *save = NULL, *out = NULL;
	int i = 0;
	for (char *p = strtok_r(copy, "~", &save); p; p = strtok_r(NULL, "~", &save), i++)
		if (i == index)
			out = strdup(p);
	free(copy);
	return out;
}

static void test_splicing_rejected(void **state)
{
	(void)state;
	struct zk_caveats eff;
	char *t0 = attenuate_to(0), *t1 = attenuate_to(1), *t2 = attenuate_to(2);
	char *root = part(t2, 0), *b1 = part(t2, 1), *b2 = part(t2, 2), *proof = part(t2, 3), *s;

	assert_int_equal(verify(t2, &eff), 0);
	/* Truncation: drop the last block (its key is not the proof), or everything after the root. */
	assert_true(asprintf(&s, "%s~%s~%s", root, b1, proof) > 0);
	assert_int_equal(verify(s, &eff), -1);
	free(s);
	assert_true(asprintf(&s, "%s~%s", root, proof) > 0);
	assert_int_equal(verify(s, &eff), -1);
	free(s);
	assert_int_equal(verify(root, &eff), -1); /* a root with "nextKey" never stands alone */
	/* Swapped order. */
	assert_true(asprintf(&s, "%s~%s~%s~%s", root, b2, b1, proof) > 0);
	assert_int_equal(verify(s, &eff), -1);
	free(s);
	/* A re-signed block: block 2's payload signed by the holder's own (last) key instead of block 1's. */
	{
		struct zk_chain *c;
		assert_int_equal(zk_chain_parse(&c, t2), 0);
		unsigned char m[8 + 64 + 4096 + 64], pk[32], sk[64], bin[4096 + 64];
		crypto_sign_seed_keypair(pk, sk, c->proof);
		memcpy(m, "zkv1blk\0", 8);
		memcpy(m + 8, c->block[0].sig, 64);
		memcpy(m + 72, c->block[1].payload, c->block[1].payload_len);
		memcpy(bin, c->block[1].payload, c->block[1].payload_len);
		crypto_sign_detached(bin + c->block[1].payload_len, NULL, m, 72 + c->block[1].payload_len, sk);
		char b64[8192];
		sodium_bin2base64(b64, sizeof(b64), bin, c->block[1].payload_len + 64, B64);
		s = replace_part(t2, 2, b64);
		assert_int_equal(verify(s, &eff), -1);
		free(s);
		zk_chain_free(c);
	}
	/* A block from another chain: same holder key, another root (another signature to bind to). */
	{
		unsigned char seed[32];
		seed_of(seed, "rootNextSeed");
		char *other = make_root(json_string_value(json_object_get(vec, "otherRootClaimsTemplate")), seed);
		struct zk_caveats *parent = malloc(sizeof(*parent)), *child = malloc(sizeof(*child));
		caveats_of(parent, json_object_get(vec, "rootCaveats"));
		caveats_of(child, json_array_get(json_object_get(vec, "blocks"), 0));
		char *o1;
		seed_of(seed, "blockSeed1");
		assert_int_equal(zk_chain_attenuate_seed(&o1, other, parent, child, seed), 0);
		assert_int_equal(verify(o1, &eff), 0);
		char *ob1 = part(o1, 1);
		assert_string_not_equal(ob1, b1);
		/* Graft the other chain's block 1 (and, for the worst case, this chain's own later parts). */
		s = replace_part(t1, 1, ob1);
		assert_int_equal(verify(s, &eff), -1);
		free(s);
		s = replace_part(t2, 1, ob1);
		assert_int_equal(verify(s, &eff), -1);
		free(s);
		free(ob1);
		free(o1);
		free(other);
		free(parent);
		free(child);
	}
	/* Flipped bits anywhere in a block or the proof. */
	for (size_t i = strlen(root) + 1; i < strlen(t2); i += 7) {
		if (t2[i] == '~')
			continue;
		s = strdup(t2);
		s[i] = s[i] == 'A' ? 'B' : 'A';
		assert_int_equal(verify(s, &eff), -1);
		free(s);
	}
	free(t0);
	free(t1);
	free(t2);
	free(root);
	free(b1);
	free(b2);
	free(proof);
}

static void test_parse_rejects(void **state)
{
	(void)state;
	struct zk_chain *c;
	char *t = attenuate_to(1), *s;
	assert_int_equal(zk_chain_parse(&c, "v4.public.AAAA"), -1);
	assert_true(asprintf(&s, "%s~", t) > 0); /* empty proof */
	assert_int_equal(zk_chain_parse(&c, s), -1);
	free(s);
	assert_true(asprintf(&s, "%s=", t) > 0); /* padding */
	assert_int_equal(zk_chain_parse(&c, s), -1);
	free(s);
	char *root = part(t, 0), *b1 = part(t, 1), *proof = part(t, 2);
	/* nine blocks is one too many */
	char big[16384] = "";
	strcat(big, root);
	for (int i = 0; i < 9; i++) {
		strcat(big, "~");
		strcat(big, b1);
	}
	strcat(big, "~");
	strcat(big, proof);
	assert_int_equal(zk_chain_parse(&c, big), -1);
	free(root);
	free(b1);
	free(proof);
	free(t);
	/* patterns and audiences */
	assert_true(zk_chain_pattern_valid("db-*", 4));
	assert_true(zk_chain_pattern_valid("*", 1));
	assert_false(zk_chain_pattern_valid("a*b", 3));
	assert_false(zk_chain_pattern_valid("a b", 3));
	assert_false(zk_chain_pattern_valid("", 0));
	assert_true(zk_pattern_covers("db-*", "db-prod*"));
	assert_true(zk_pattern_covers("db-*", "db-prod"));
	assert_false(zk_pattern_covers("db-prod*", "db-*"));
	assert_false(zk_pattern_covers("db", "db*"));
	assert_true(zk_pattern_covers("*", "anything*"));
}

int main(void)
{
	char path[4096];
	json_error_t err;
	if (zk_mem_init() != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/tokenchain/chain-1.json", ZK_VECTORS);
	if (!(vec = json_load_file(path, 0, &err))) {
		fprintf(stderr, "%s: %s\n", path, err.text);
		return 1;
	}
	unsigned char seed[32];
	const char *hex = json_string_value(json_object_get(vec, "vaultTokenSeed"));
	if (!hex || sodium_hex2bin(seed, 32, hex, strlen(hex), NULL, NULL, NULL) != 0)
		return 1;
	crypto_sign_seed_keypair(vault_pk, vault_sk, seed);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector),
		cmocka_unit_test(test_effective_caveats),
		cmocka_unit_test(test_widening_rejected),
		cmocka_unit_test(test_splicing_rejected),
		cmocka_unit_test(test_parse_rejects),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	json_decref(vec);
	return rc;
}
