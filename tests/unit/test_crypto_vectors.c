/*
 * Known-answer tests for the libsodium primitives zkvault relies on.
 *
 * - XChaCha20-Poly1305 and Ed25519: Wycheproof, tests/vectors/wycheproof/{xchacha20_poly1305_test.json,
 *   ed25519_test.json}, unchanged from github.com/C2SP/wycheproof testvectors_v1/ at
 *   dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166 (Apache-2.0; see tests/vectors/README.md).
 * - Argon2id: quoted below from libsodium's own test suite (github.com/jedisct1/libsodium,
 *   test/default/pwhash_argon2id.c, function tv(), with the expected output from test/default/pwhash_argon2id.exp;
 *   ISC license).
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

#include "lib/mem.h"
#include "vectors.h"

static json_t *load(const char *name)
{
	return vec_load("wycheproof", name);
}

static int group_int(const json_t *g, const char *key)
{
	json_t *v = json_object_get(g, key);
	if (!json_is_integer(v))
		fail_msg("missing integer field %s", key);
	return (int)json_integer_value(v);
}

/* ---- XChaCha20-Poly1305 (crypto_aead_xchacha20poly1305_ietf_*) -------------------------------------------- */

static void test_wycheproof_xchacha20poly1305(void **state)
{
	json_t *root = load("xchacha20_poly1305_test.json");
	json_t *groups = json_object_get(root, "testGroups");
	size_t gi, ti, valid = 0, invalid = 0, skipped_groups = 0, skipped_tests = 0;
	json_t *g, *t;

	json_array_foreach(groups, gi, g) {
		json_t *tests = json_object_get(g, "tests");
		/* libsodium's API takes exactly a 24-byte nonce, a 32-byte key and a 16-byte tag. Groups with other
		 * sizes (Wycheproof's InvalidNonceSize cases) cannot even be expressed; they hold only "invalid"
		 * results, which is asserted so that no valid case is ever skipped. */
		if (group_int(g, "ivSize") != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES * 8 ||
		    group_int(g, "keySize") != crypto_aead_xchacha20poly1305_ietf_KEYBYTES * 8 ||
		    group_int(g, "tagSize") != crypto_aead_xchacha20poly1305_ietf_ABYTES * 8) {
			json_array_foreach(tests, ti, t)
				assert_string_equal(vec_str(t, "result"), "invalid");
			skipped_groups++;
			skipped_tests += json_array_size(tests);
			continue;
		}
		json_array_foreach(tests, ti, t) {
			int id = group_int(t, "tcId");
			const char *result = vec_str(t, "result");
			unsigned char *key, *iv, *aad, *msg, *ct, *tag;
			size_t key_len = vec_unhex(&key, vec_str(t, "key"));
			size_t iv_len = vec_unhex(&iv, vec_str(t, "iv"));
			size_t aad_len = vec_unhex(&aad, vec_str(t, "aad"));
			size_t msg_len = vec_unhex(&msg, vec_str(t, "msg"));
			size_t ct_len = vec_unhex(&ct, vec_str(t, "ct"));
			size_t tag_len = vec_unhex(&tag, vec_str(t, "tag"));
			assert_int_equal(key_len, crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
			assert_int_equal(iv_len, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
			assert_int_equal(tag_len, crypto_aead_xchacha20poly1305_ietf_ABYTES);

			/* ct || tag, the layout the combined API uses */
			size_t ctag_len = ct_len + tag_len;
			unsigned char *ctag = malloc(ctag_len);
			unsigned char *out = malloc(ctag_len + 1);
			assert_non_null(ctag);
			assert_non_null(out);
			memcpy(ctag, ct, ct_len);
			memcpy(ctag + ct_len, tag, tag_len);

			unsigned long long out_len = 0;
			int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out, &out_len, NULL, ctag, ctag_len, aad,
			                                                    aad_len, iv, key);
			if (strcmp(result, "valid") == 0) {
				if (rc != 0)
					fail_msg("tcId %d: valid case does not decrypt", id);
				assert_int_equal(out_len, msg_len);
				assert_memory_equal(out, msg, msg_len);
				assert_int_equal(crypto_aead_xchacha20poly1305_ietf_encrypt(out, &out_len, msg, msg_len, aad,
				                                                            aad_len, NULL, iv, key),
				                 0);
				assert_int_equal(out_len, ctag_len);
				if (memcmp(out, ctag, ctag_len) != 0)
					fail_msg("tcId %d: encryption differs from ct || tag", id);
				valid++;
			} else {
				assert_string_equal(result, "invalid"); /* this file has no "acceptable" cases */
				if (rc != -1)
					fail_msg("tcId %d: invalid case was accepted", id);
				invalid++;
			}
			free(out);
			free(ctag);
			free(key);
			free(iv);
			free(aad);
			free(msg);
			free(ct);
			free(tag);
		}
	}
	print_message("XChaCha20-Poly1305: %zu valid, %zu invalid run; %zu groups (%zu tests) skipped for nonce size\n",
	              valid, invalid, skipped_groups, skipped_tests);
	assert_int_equal(valid + invalid + skipped_tests, json_integer_value(json_object_get(root, "numberOfTests")));
	assert_int_equal(valid, 246);
	assert_int_equal(invalid, 60);
	assert_int_equal(skipped_groups, 9); /* ivSize 0, 64, 88, 96, 104, 112, 128, 160, 256 bits */
	json_decref(root);
}

/* ---- Ed25519 (crypto_sign_ed25519_verify_detached) --------------------------------------------------------- */

/*
 * libsodium 1.0.18 (built without ED25519_COMPAT) rejects non-canonical S (S >= L), small-order R and A, and
 * non-canonical A. All 151 cases of this file come out as Wycheproof says: no "invalid" case is accepted and no
 * "valid" case is rejected, so there is no exception to document. Signatures that are not exactly 64 bytes
 * (TruncatedSignature, SignatureWithGarbage) cannot be passed to the detached API and are rejected on length,
 * as any caller must.
 */
static int ed25519_verify(const unsigned char *sig, size_t sig_len, const unsigned char *msg, size_t msg_len,
                          const unsigned char *pk, size_t pk_len)
{
	if (sig_len != crypto_sign_ed25519_BYTES || pk_len != crypto_sign_ed25519_PUBLICKEYBYTES)
		return -1;
	return crypto_sign_ed25519_verify_detached(sig, msg, msg_len, pk);
}

static void test_wycheproof_ed25519(void **state)
{
	json_t *root = load("ed25519_test.json");
	json_t *groups = json_object_get(root, "testGroups");
	size_t gi, ti, valid = 0, invalid = 0, on_length = 0;
	json_t *g, *t;

	json_array_foreach(groups, gi, g) {
		unsigned char *pk;
		size_t pk_len = vec_unhex(&pk, vec_str(json_object_get(g, "publicKey"), "pk"));
		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			int id = group_int(t, "tcId");
			const char *result = vec_str(t, "result");
			unsigned char *msg, *sig;
			size_t msg_len = vec_unhex(&msg, vec_str(t, "msg"));
			size_t sig_len = vec_unhex(&sig, vec_str(t, "sig"));
			int rc = ed25519_verify(sig, sig_len, msg, msg_len, pk, pk_len);
			if (strcmp(result, "valid") == 0) {
				if (rc != 0)
					fail_msg("tcId %d: valid signature rejected", id);
				valid++;
			} else {
				assert_string_equal(result, "invalid"); /* this file has no "acceptable" cases */
				if (rc == 0)
					fail_msg("tcId %d: invalid signature accepted", id);
				if (sig_len != crypto_sign_ed25519_BYTES)
					on_length++;
				invalid++;
			}
			free(msg);
			free(sig);
		}
		free(pk);
	}
	print_message("Ed25519: %zu valid verified, %zu invalid rejected (%zu of them on signature length)\n", valid,
	              invalid, on_length);
	assert_int_equal(valid + invalid, json_integer_value(json_object_get(root, "numberOfTests")));
	json_decref(root);
}

/* ---- Argon2id ----------------------------------------------------------------------------------------------- */

/*
 * From libsodium test/default/pwhash_argon2id.c, tv(): entries [0], [4] and [6] of `tests`, run there through
 * crypto_pwhash() with crypto_pwhash_alg_default() (= Argon2id v1.3) and lanes 1; the expected hex is the
 * matching line of test/default/pwhash_argon2id.exp. As in that test, sodium_hex2bin() fills only the first
 * crypto_pwhash_SALTBYTES (16) bytes of the salt from the 32-byte hex string, so `salt` holds those 16 bytes.
 * tv() prints one .exp line per entry ([3] prints its failure message), so [0], [4], [6] are .exp lines 1, 5, 7.
 * Entry [3] (outlen 5) is the one libsodium itself expects to fail: outputs under 16 bytes are refused.
 */
static const struct {
	const char *passwd_hex;
	size_t passwd_len;
	const char *salt_hex;
	size_t outlen;
	unsigned long long opslimit;
	size_t memlimit;
	const char *out_hex;
} ARGON2ID[] = {
	{ "a347ae92bce9f80f6f595a4480fc9c2fe7e7d7148d371e9487d75f5c23008ffae0"
	  "65577a928febd9b1973a5a95073acdbeb6a030cfc0d79caa2dc5cd011cef02c08d"
	  "a232d76d52dfbca38ca8dcbd665b17d1665f7cf5fe59772ec909733b24de97d6f5"
	  "8d220b20c60d7c07ec1fd93c52c31020300c6c1facd77937a597c7a6",
	  127, "5541fbc995d5c197ba290346d2c559de", 155, 5, 7256678,
	  "18acec5d6507739f203d1f5d9f1d862f7c2cdac4f19d2bdff64487e60d969e3ced615337b9eec6ac4461c6ca07f0939741e57c24d000"
	  "5c7ea171a0ee1e7348249d135b38f222e4dad7b9a033ed83f5ca27277393e316582033c74affe2566a2bea47f91f0fd9fe49ece7e1f7"
	  "9f3ad6e9b23e0277c8ecc4b313225748dd2a80f5679534a0700e246a79a49b3f74eb89ec6205fe1eeb941c73b1fcf1" },
	{ "4a857e2ee8aa9b6056f2424e84d24a72473378906ee04a46cb05311502d5250b82"
	  "ad86b83c8f20a23dbb74f6da60b0b6ecffd67134d45946ac8ebfb3064294bc097d"
	  "43ced68642bfb8bbbdd0f50b30118f5e",
	  82, "39d82eef32010b8b79cc5ba88ed539fb", 190, 3, 1432947,
	  "08d8cd330c57e1b4643241d05bb468ba4ee4e932cd0858816be9ef15360b27bbd06a87130ee92222be267a29b81f5ae8fe8613324cfc"
	  "4832dc49387fd0602f1c57b4d0f3855db94fb7e12eb05f9a484aed4a4307abf586cd3d55c809bc081541e00b682772fb2066504ff935"
	  "b8ebc551a2083882f874bc0fae68e56848ae34c91097c3bf0cca8e75c0797eef3efde3f75e005815018db3cf7c109a812264c4de69dc"
	  "b22322dbbcfa447f5b00ecd1b04a7be1569c8e556adb7bba48adf81d" },
	{ "b540beb016a5366524d4605156493f9874514a5aa58818cd0c6dfffaa9e90205f1"
	  "7b",
	  34, "44071f6d181561670bda728d43fb79b4", 231, 1, 1631659,
	  "7fb72409b0987f8190c3729710e98c3f80c5a8727d425fdcde7f3644d467fe973f5b5fee683bd3fce812cb9ae5e9921a2d06c2f1905e"
	  "4e839692f2b934b682f11a2fe2b90482ea5dd234863516dba6f52dc0702d324ec77d860c2e181f84472bd7104fedce071ffa93c53094"
	  "94ad51623d214447a7b2b1462dc7d5d55a1f6fd5b54ce024118d86f0c6489d16545aaa87b6689dad9f2fb47fda9894f8e12b87d978b4"
	  "83ccd4cc5fd9595cdc7a818452f915ce2f7df95ec12b1c72e3788d473441d884f9748eb14703c21b45d82fd667b85f5b2d98c13303b3"
	  "fe76285531a826b6fc0fe8e3dddecf" },
};

static void test_argon2id_kat(void **state)
{
	for (size_t i = 0; i < sizeof ARGON2ID / sizeof ARGON2ID[0]; i++) {
		unsigned char *passwd, *salt, *want;
		assert_int_equal(vec_unhex(&passwd, ARGON2ID[i].passwd_hex), ARGON2ID[i].passwd_len);
		assert_int_equal(vec_unhex(&salt, ARGON2ID[i].salt_hex), crypto_pwhash_SALTBYTES);
		assert_int_equal(vec_unhex(&want, ARGON2ID[i].out_hex), ARGON2ID[i].outlen);
		unsigned char out[256];
		assert_int_equal(crypto_pwhash(out, ARGON2ID[i].outlen, (const char *)passwd, ARGON2ID[i].passwd_len, salt,
		                               ARGON2ID[i].opslimit, ARGON2ID[i].memlimit,
		                               crypto_pwhash_ALG_ARGON2ID13),
		                 0);
		if (memcmp(out, want, ARGON2ID[i].outlen) != 0)
			fail_msg("Argon2id KAT %zu differs", i);
		free(passwd);
		free(salt);
		free(want);
	}
	/* tv() entry [3]: outlen 5 is below crypto_pwhash_BYTES_MIN and must fail. */
	unsigned char *passwd, *salt;
	size_t passwd_len = vec_unhex(&passwd,
	                          "027b6d8e8c8c474e9b69c7d9ed4f9971e8e1ce2f6ba95048414c3970f0f09b70e3"
	                          "b6c5ae05872b3d8678705b7d381829c351a5a9c88c233569b35d6b0b809df44b64"
	                          "51a9c273f1150e2ef8a0b5437eb701e373474cd44b97ef0248ebce2ca0400e1b53"
	                          "f3d86221eca3f18eb45b702b9172440f774a82cbf1f6f525df30a6e293c873cce6"
	                          "9bb078ed1f0d31e7f9b8062409f37f19f8550aae");
	assert_int_equal(passwd_len, 152);
	assert_int_equal(vec_unhex(&salt, "eb2a3056a09ad2d7d7f975bcd707598f"), crypto_pwhash_SALTBYTES);
	unsigned char out5[5];
	assert_int_equal(crypto_pwhash(out5, sizeof out5, (const char *)passwd, passwd_len, salt, 4, 1397645,
	                               crypto_pwhash_ALG_ARGON2ID13),
	                 -1);
	free(passwd);
	free(salt);
	print_message("Argon2id: %zu known answers matched, 1 refused as in libsodium's test\n",
	              sizeof ARGON2ID / sizeof ARGON2ID[0]);
}

int main(void)
{
	if (zk_mem_init() != 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wycheproof_xchacha20poly1305),
		cmocka_unit_test(test_wycheproof_ed25519),
		cmocka_unit_test(test_argon2id_kat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
