/* Decrypts the committed export vector (tests/vectors/export) with the vault's own format code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "vaultd/vaultd.h"

static json_t *load_vector(void)
{
	json_error_t e;
	json_t *env = json_load_file(ZK_VECTORS "/export/export-1.json", 0, &e);
	assert_non_null(env);
	return env;
}

static void b64_exact(unsigned char *out, size_t n, json_t *s)
{
	assert_int_equal(zk_b64_decode_exact(out, n, json_string_value(s)), 0);
}

static struct zk_keys *unwrap(struct vault *v, json_t *env, const char *password)
{
	unsigned char blob[WRAPPER_BYTES], kek[ZK_KEY_BYTES], vmk[ZK_KEY_BYTES];
	struct zk_kdf_params p;
	b64_exact(v->vault_id, sizeof(v->vault_id), json_object_get(json_object_get(env, "meta"), "vault_id"));
	b64_exact(blob, sizeof(blob), json_object_get(json_array_get(json_object_get(env, "wrappers"), 0), "blob"));
	assert_int_equal(wrapper_params(&p, blob, sizeof(blob)), 0);
	assert_int_equal(p.opslimit, 3);
	assert_int_equal(p.memlimit, 64u << 20);
	assert_int_equal(zk_kdf_derive(kek, password, strlen(password), &p), 0);
	if (wrapper_open(vmk, v, blob, sizeof(blob), kek) != 0)
		return NULL;
	return zk_keys_new(vmk);
}

static void test_vector_decrypts(void **state)
{
	struct vault v = { 0 };
	json_t *env = load_vector(), *r;
	size_t i;
	struct zk_keys *k = unwrap(&v, env, "correct horse battery staple 42");
	assert_non_null(k);

	unsigned char digest[ZK_HASH_BYTES] = { 0 };
	int live = 0;
	json_t *records = json_object_get(env, "records");
	json_array_foreach(records, i, r) {
		struct index_entry e;
		unsigned char sealed[4096];
		json_t *plain;
		size_t n;
		const char *b = json_string_value(json_object_get(r, "sealed"));
		b64_exact(e.name_hash, ZK_HASH_BYTES, json_object_get(r, "name_hash"));
		b64_exact(e.record_id, ZK_RECORD_ID_BYTES, json_object_get(r, "record_id"));
		e.version = (uint64_t)json_integer_value(json_object_get(r, "version"));
		e.tombstone = json_integer_value(json_object_get(r, "tombstone")) != 0;
		assert_int_equal(sodium_base642bin(sealed, sizeof(sealed), b, strlen(b), NULL, &n, NULL,
						   sodium_base64_VARIANT_ORIGINAL), 0);
		e.sealed = sealed;
		e.sealed_len = n;
		assert_int_equal(record_open(&plain, &v, k, &e), 0);

		const char *name = json_string_value(json_object_get(plain, "name"));
		unsigned char h[ZK_HASH_BYTES];
		zk_name_hash(h, name, strlen(name), k->name_mac);
		assert_memory_equal(h, e.name_hash, ZK_HASH_BYTES);

		/* Latest versions: github-token v1, db.password v2, old-key v2 (tombstone). */
		bool latest = (!strcmp(name, "github-token") && e.version == 1) || e.version == 2;
		if (latest) {
			digest_entry(h, k, e.name_hash, e.record_id, e.version, e.tombstone);
			digest_add(digest, h);
		}
		if (latest && !e.tombstone) {
			live++;
			const char *value = json_string_value(json_object_get(plain, "value"));
			if (!strcmp(name, "github-token"))
				assert_string_equal(value, "ghp_example_only_0001");
			else
				assert_string_equal(value, "hunter2 with spaces \xe2\x9c\x93");
		}
		/* Moving a ciphertext to another version must fail. */
		e.version++;
		json_t *moved = NULL;
		assert_int_not_equal(record_open(&moved, &v, k, &e), 0);
		json_decref(plain);
	}
	assert_int_equal(live, 2);

	unsigned char hdr[HEADER_BYTES], stored[ZK_HASH_BYTES];
	uint64_t revision;
	b64_exact(hdr, sizeof(hdr), json_object_get(json_object_get(env, "meta"), "header"));
	assert_int_equal(header_decode(&revision, stored, hdr, sizeof(hdr), &v, k), 0);
	assert_int_equal(revision, 5);
	assert_memory_equal(stored, digest, ZK_HASH_BYTES);
	hdr[0] ^= 1; /* a forged revision */
	assert_int_not_equal(header_decode(&revision, stored, hdr, sizeof(hdr), &v, k), 0);

	zk_keys_free(k);
	json_decref(env);
}

static void test_wrong_password_fails(void **state)
{
	struct vault v = { 0 };
	json_t *env = load_vector();
	assert_null(unwrap(&v, env, "correct horse battery staple 43"));
	json_decref(env);
}

static void test_kdf_floor(void **state)
{
	struct zk_kdf_params p;
	unsigned char kek[ZK_KEY_BYTES];
	zk_kdf_default(&p);
	assert_int_equal(zk_kdf_check(&p), 0);
	p.memlimit = (64u << 20) - 1024;
	assert_int_not_equal(zk_kdf_check(&p), 0);
	assert_int_not_equal(zk_kdf_derive(kek, "pw", 2, &p), 0);
	p.memlimit = 64u << 20;
	p.opslimit = 2;
	assert_int_not_equal(zk_kdf_derive(kek, "pw", 2, &p), 0);
}

static void test_lowered_params_in_wrapper_fail(void **state)
{
	/* A server that rewrites the stored parameters (even to stronger ones) breaks the AEAD. */
	struct vault v = { 0 };
	json_t *env = load_vector();
	unsigned char blob[WRAPPER_BYTES], kek[ZK_KEY_BYTES], vmk[ZK_KEY_BYTES];
	struct zk_kdf_params p;
	b64_exact(v.vault_id, sizeof(v.vault_id), json_object_get(json_object_get(env, "meta"), "vault_id"));
	b64_exact(blob, sizeof(blob), json_object_get(json_array_get(json_object_get(env, "wrappers"), 0), "blob"));
	zk_store_u64le(blob + 8, 4);
	assert_int_equal(wrapper_params(&p, blob, sizeof(blob)), 0);
	assert_int_equal(zk_kdf_derive(kek, "correct horse battery staple 42", 31, &p), 0);
	assert_int_not_equal(wrapper_open(vmk, &v, blob, sizeof(blob), kek), 0);
	json_decref(env);
}

static void test_digest_is_order_independent(void **state)
{
	unsigned char vmk[ZK_KEY_BYTES] = { 1 }, a[32] = { 0 }, b[32] = { 0 }, e1[32], e2[32], n1[32] = { 1 },
		      n2[32] = { 2 }, id[16] = { 0 };
	struct zk_keys *k = zk_keys_new(vmk);
	digest_entry(e1, k, n1, id, 1, false);
	digest_entry(e2, k, n2, id, 1, false);
	digest_add(a, e1);
	digest_add(a, e2);
	digest_add(b, e2);
	digest_add(b, e1);
	assert_memory_equal(a, b, 32);
	digest_sub(a, e2);
	digest_sub(b, e1);
	assert_memory_not_equal(a, b, 32);
	digest_sub(a, e1);
	assert_memory_equal(a, (unsigned char[32]){ 0 }, 32);
	zk_keys_free(k);
}

int main(void)
{
	zk_mem_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_decrypts),
		cmocka_unit_test(test_wrong_password_fails),
		cmocka_unit_test(test_kdf_floor),
		cmocka_unit_test(test_lowered_params_in_wrapper_fail),
		cmocka_unit_test(test_digest_is_order_independent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
