#include "vaultd/recovery.h"

#include <stdlib.h>
#include <string.h>

#include "lib/base32.h"
#include "lib/bip39.h"
#include "lib/mem.h"
#include "lib/shamir.h"
#include "vaultd/audit.h"
#include "vaultd/common.h"
#include "vaultd/limiter.h"
#include "vaultd/session.h"

unsigned char *recovery_vmk_copy(struct vault *v)
{
	unsigned char *vmk = sodium_malloc(ZK_KEY_BYTES);
	bool ok = false;
	if (!vmk)
		return NULL;
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	if (v->keys && vault_unlocked(v)) {
		memcpy(vmk, v->keys->vmk, ZK_KEY_BYTES);
		ok = true;
	}
	zk_brlock_rdunlock(&v->state_lock, slot);
	if (!ok) {
		sodium_free(vmk);
		return NULL;
	}
	return vmk;
}

void recovery_fingerprint(char out[20], const unsigned char pk[32])
{
	unsigned char h[32];
	char hex[17];
	crypto_generichash(h, sizeof(h), pk, 32, NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, 8);
	snprintf(out, 20, "%.4s-%.4s-%.4s-%.4s", hex, hex + 4, hex + 8, hex + 12);
}

json_t *recovery_split_and_seal(const json_t *holders, json_int_t k, const unsigned char secret[32],
				const unsigned char set_id[16], const char **problem)
{
	size_t n = json_array_size(holders), i;
	json_t *out = NULL, *h;
	unsigned char(*shares)[ZK_SHARE_MAX] = NULL;
	enum zk_share_error why;

	*problem = NULL;
	if (!json_is_array(holders) || n < 2 || n > 64) {
		*problem = "between 2 and 64 key holders are required";
		return NULL;
	}
	if (k < 2 || (size_t)k > n) {
		*problem = "k must be at least 2 and at most the number of key holders";
		return NULL;
	}
	json_array_foreach(holders, i, h) {
		unsigned char pk[32];
		const char *id = json_string_value(json_object_get(h, "id"));
		if (!id || !*id || strlen(id) > 128) {
			*problem = "every key holder needs an \"id\" of 1 to 128 characters";
			return NULL;
		}
		if (zk_b64_decode_exact(pk, sizeof(pk), json_string_value(json_object_get(h, "publicKey"))) != 0) {
			*problem = "every key holder needs a \"publicKey\": 32 bytes of base64 (X25519)";
			return NULL;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(id, json_string_value(json_object_get(json_array_get(holders, j), "id")))) {
				*problem = "key holder ids must be unique";
				return NULL;
			}
	}
	if (!(shares = sodium_malloc(n * sizeof(*shares))) ||
	    zk_shamir_split(shares, n, (size_t)k, secret, 32, set_id, &why) != 0)
		goto fail;
	out = json_array();
	json_array_foreach(holders, i, h) {
		unsigned char pk[32];
		char text[ZK_SHARE_TEXT_MAX], fp[20];
		zk_b64_decode_exact(pk, sizeof(pk), json_string_value(json_object_get(h, "publicKey")));
		if (zk_share_to_text(text, shares[i], ZK_SHARE_BYTES(32), &why) != 0)
			goto fail;
		size_t tlen = strlen(text);
		unsigned char *box = malloc(tlen + crypto_box_SEALBYTES);
		if (!box)
			goto fail;
		crypto_box_seal(box, (unsigned char *)text, tlen, pk);
		sodium_memzero(text, sizeof(text));
		char *b64 = zk_b64_dup(box, tlen + crypto_box_SEALBYTES);
		free(box);
		recovery_fingerprint(fp, pk);
		json_array_append_new(out, json_pack("{sssssIssss}", "id", json_string_value(json_object_get(h, "id")),
						     "publicKey", json_string_value(json_object_get(h, "publicKey")),
						     "x", (json_int_t)(i + 1), "fingerprint", fp, "sealedShare", b64));
		free(b64);
	}
	sodium_free(shares);
	return out;
fail:
	sodium_free(shares);
	json_decref(out);
	*problem = "cannot split the key";
	return NULL;
}

struct store_arg {
	int type;
	unsigned char wrapper[WRAPPER_BYTES];
	const char *meta_key;
	json_t *meta;
	const char *action;
	char ip[48];
};

static void store_arg_free(void *p)
{
	struct store_arg *a = p;
	sodium_memzero(a->wrapper, sizeof(a->wrapper));
	json_decref(a->meta);
	free(a);
}

static int store_apply(struct vault *v, struct job *j)
{
	struct store_arg *a = j->arg;
	struct audit_event e = { .action = a->action, .user_id = "system", .ip = a->ip, .success = true };
	if (!v->keys)
		return 423;
	if (session_put_wrapper(v, a->type, a->wrapper) != 0)
		return 500;
	if (a->meta_key) {
		char *text = json_dumps(a->meta, JSON_COMPACT);
		int rc = text ? store_meta_put(v->db, a->meta_key, text, strlen(text)) : -1;
		zk_wipe_str(text);
		if (rc)
			return 500;
	}
	return audit_append(v, writer_state(v->writer), &e) == 0 ? 0 : 500;
}

struct job *recovery_store_job(struct zk_http_req *r, int type, const unsigned char wrapper[WRAPPER_BYTES],
			       const char *meta_key, json_t *meta, const char *action, const char *ip, json_t *reply)
{
	struct store_arg *a = calloc(1, sizeof(*a));
	struct job *j = job_new(store_apply, NULL, job_reply_done, r);
	if (!a || !j) {
		free(a);
		free(j);
		json_decref(meta);
		json_decref(reply);
		return NULL;
	}
	a->type = type;
	memcpy(a->wrapper, wrapper, WRAPPER_BYTES);
	a->meta_key = meta_key;
	a->meta = meta;
	a->action = action;
	snprintf(a->ip, sizeof(a->ip), "%s", ip);
	j->arg = a;
	j->free_arg = store_arg_free;
	j->reply = reply;
	return j;
}

/* Seals the VMK under a KEK made from a high-entropy secret and stores it through the writer. */
static void store_secret_wrapper(struct vault *v, struct zk_http_req *r, int type, const unsigned char *secret,
				 size_t len, const char *meta_key, json_t *meta, const char *action, json_t *reply)
{
	unsigned char *vmk = recovery_vmk_copy(v), *kek = sodium_malloc(ZK_KEY_BYTES), wrapper[WRAPPER_BYTES];
	char ip[48];
	if (!vmk || !kek) {
		sodium_free(vmk);
		sodium_free(kek);
		json_decref(meta);
		json_decref(reply);
		locked_error(v, r);
		return;
	}
	wrapper_kek_from_secret(kek, v, type, secret, len);
	wrapper_seal(wrapper, v, type, WRAPPER_KDF_SECRET, NULL, kek, vmk);
	sodium_free(vmk);
	sodium_free(kek);
	client_address(v, r, ip);
	struct job *j = recovery_store_job(r, type, wrapper, meta_key, meta, action, ip, reply);
	if (!j)
		zk_http_error(r, 500, "Internal error", NULL);
	else
		defer_job(v, r, j);
}

static bool recovery_preconditions(struct vault *v, struct zk_http_req *r)
{
	if (!require_management(v, r) || !require_session(v, r))
		return false;
	if (!v->initialized || v->ocmt_pending) {
		zk_http_error(r, 400, "Vault not initialized", NULL);
		return false;
	}
	if (!v->password_enabled) {
		zk_http_error(r, 403, "This vault opens only by threshold unlock; single-holder recovery is disabled",
			      "THRESHOLD_ONLY");
		return false;
	}
	return require_unlocked(v, r);
}

void handle_recovery_phrase(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	unsigned char entropy[16], *seed;
	char *phrase;

	if (!recovery_preconditions(v, r))
		return;
	phrase = zk_wipe_malloc(ZK_BIP39_MNEMONIC_MAX);
	seed = sodium_malloc(ZK_BIP39_SEED_BYTES);
	randombytes_buf(entropy, sizeof(entropy));
	if (!phrase || !seed || zk_bip39_from_entropy(phrase, ZK_BIP39_MNEMONIC_MAX, entropy, sizeof(entropy)) != 0 ||
	    zk_bip39_seed(seed, phrase, NULL) != 0) {
		sodium_memzero(entropy, sizeof(entropy));
		zk_wipe_free(phrase);
		sodium_free(seed);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	sodium_memzero(entropy, sizeof(entropy));
	/* The phrase is answered once and never stored: only the wrapper its seed opens is. */
	json_t *reply = json_pack("{sbsssi}", "success", 1, "phrase", phrase, "words", 12);
	zk_wipe_free(phrase);
	store_secret_wrapper(v, r, WRAPPER_RECOVERY, seed, ZK_BIP39_SEED_BYTES, NULL, NULL, "recovery.phrase_created",
			     reply);
	sodium_free(seed);
}

void handle_recovery_hardware(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	unsigned char *key;
	char text[ZK_HWKEY_TEXT_MAX];

	if (!recovery_preconditions(v, r))
		return;
	if (!(key = sodium_malloc(32))) {
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	randombytes_buf(key, 32);
	if (zk_hwkey_encode(text, key) != 0) {
		sodium_free(key);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	json_t *reply = json_pack("{sbss}", "success", 1, "hardwareKey", text);
	sodium_memzero(text, sizeof(text));
	store_secret_wrapper(v, r, WRAPPER_HARDWARE, key, 32, NULL, NULL, "recovery.hardware_created", reply);
	sodium_free(key);
}

void handle_recovery_social(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	unsigned char set_id[16], *key;
	const char *problem;
	char hex[33];

	if (!recovery_preconditions(v, r) || !body_object(r, &body))
		return;
	if (!(key = sodium_malloc(32))) {
		json_decref(body);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	randombytes_buf(key, 32);
	randombytes_buf(set_id, sizeof(set_id));
	json_int_t k = json_integer_value(json_object_get(body, "threshold"));
	json_t *holders = recovery_split_and_seal(json_object_get(body, "contacts"), k, key, set_id, &problem);
	json_decref(body);
	if (!holders) {
		sodium_free(key);
		validation_error(r, "Invalid request body", problem);
		return;
	}
	sodium_bin2hex(hex, sizeof(hex), set_id, sizeof(set_id));
	json_t *meta = json_pack("{sssIsO}", "setId", hex, "threshold", k, "contacts", holders);
	json_t *reply = json_pack("{sbsssIso}", "success", 1, "setId", hex, "threshold", k, "contacts", holders);
	/* What is kept: the set id, k and each contact's public key and sealed share (ciphertext only). */
	store_secret_wrapper(v, r, WRAPPER_SOCIAL, key, 32, "social", meta, "recovery.social_created", reply);
	sodium_free(key);
}

static bool has_wrapper(struct vault *v, int type)
{
	unsigned char blob[WRAPPER_BYTES];
	return session_read_wrapper(v, type, blob) == 0;
}

static json_t *meta_json(struct vault *v, const char *k)
{
	unsigned char *text;
	size_t len;
	json_t *o = NULL;
	pthread_mutex_lock(&v->rodb_lock);
	if (store_meta_get(v->rodb, k, &text, &len) == 0) {
		o = json_loadb((char *)text, len, 0, NULL);
		free(text);
	}
	pthread_mutex_unlock(&v->rodb_lock);
	return o;
}

void handle_recovery_status(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	if (!require_management(v, r))
		return;
	json_t *social = meta_json(v, "social"), *threshold = meta_json(v, "threshold"), *x;
	size_t i;
	/* Public parts only: who holds a share, not the sealed shares. */
	json_array_foreach(json_object_get(social, "contacts"), i, x)
		json_object_del(x, "sealedShare");
	json_array_foreach(json_object_get(threshold, "admins"), i, x)
		json_object_del(x, "sealedShare");
	zk_http_reply(r, 200, json_pack("{sbsbsbsoso}", "password", v->password_enabled, "phrase",
					has_wrapper(v, WRAPPER_RECOVERY), "hardware", has_wrapper(v, WRAPPER_HARDWARE),
					"social", social && has_wrapper(v, WRAPPER_SOCIAL) ? social : json_null(),
					"threshold", threshold && has_wrapper(v, WRAPPER_THRESHOLD) ? threshold : json_null()));
	if (social && !has_wrapper(v, WRAPPER_SOCIAL))
		json_decref(social);
	if (threshold && !has_wrapper(v, WRAPPER_THRESHOLD))
		json_decref(threshold);
}

struct delete_arg {
	int type;
	const char *meta_key;
	char ip[48];
};

static int delete_apply(struct vault *v, struct job *j)
{
	struct delete_arg *a = j->arg;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(v->db, "DELETE FROM wrappers WHERE type=?", -1, &q, NULL) != SQLITE_OK)
		return 500;
	sqlite3_bind_int(q, 1, a->type);
	int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : 500;
	sqlite3_finalize(q);
	if (rc == 0 && sqlite3_changes(v->db) == 0) {
		j->error = "That recovery method is not set up";
		return 404;
	}
	if (rc == 0 && a->meta_key)
		store_meta_del(v->db, a->meta_key);
	struct audit_event e = { .action = "recovery.removed", .user_id = "system", .ip = a->ip, .success = true };
	char what[32];
	snprintf(what, sizeof(what), "wrapper type %d", a->type);
	e.target_user_id = what;
	return rc == 0 && audit_append(v, writer_state(v->writer), &e) == 0 ? 0 : 500;
}

void handle_recovery_delete(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	const char *m = r->param[0];
	struct delete_arg *a;
	if (!require_management(v, r) || !require_unlocked(v, r))
		return;
	if (!(a = calloc(1, sizeof(*a)))) {
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	if (!strcmp(m, "phrase"))
		a->type = WRAPPER_RECOVERY;
	else if (!strcmp(m, "hardware"))
		a->type = WRAPPER_HARDWARE;
	else if (!strcmp(m, "social")) {
		a->type = WRAPPER_SOCIAL;
		a->meta_key = "social";
	} else {
		free(a);
		validation_error(r, "Invalid URL parameters", "method: Expected phrase, hardware or social");
		return;
	}
	client_address(v, r, a->ip);
	struct job *j = job_new(delete_apply, NULL, job_reply_done, r);
	j->arg = a;
	j->free_arg = free;
	defer_job(v, r, j);
}

/* Recovery: what the caller sent opens its wrapper; a new password wrapper is stored and the vault unlocks. */
enum recover_kind { RECOVER_PHRASE, RECOVER_HARDWARE, RECOVER_SHARES };

struct recover_arg {
	enum recover_kind kind;
	unsigned char *secret; /* sodium_malloc: seed, hardware key or combined social key */
	size_t len;
	bool set_password;
};

static void recover_arg_free(void *p)
{
	struct recover_arg *a = p;
	sodium_free(a->secret);
	free(a);
}

static const int recover_wrapper[] = { WRAPPER_RECOVERY, WRAPPER_HARDWARE, WRAPPER_SOCIAL };

static void run_recover(struct kdf_task *t)
{
	struct recover_arg *a = t->arg;
	struct vault *v = t->v;
	unsigned char blob[WRAPPER_BYTES], wrapper[WRAPPER_BYTES];
	unsigned char *kek = sodium_malloc(ZK_KEY_BYTES), *vmk = sodium_malloc(ZK_KEY_BYTES);
	int type = recover_wrapper[a->kind];

	if (!kek || !vmk) {
		kdf_fail(t, 500, "Internal error", NULL);
		goto out;
	}
	if (session_read_wrapper(v, type, blob) != 0) {
		kdf_fail(t, 400, "That recovery method is not set up for this vault", "NOT_CONFIGURED");
		goto out;
	}
	wrapper_kek_from_secret(kek, v, type, a->secret, a->len);
	if (wrapper_open(vmk, v, blob, sizeof(blob), kek) != 0) {
		static const char *const msg[] = { "Invalid recovery phrase", "Invalid hardware key",
						   "The shares do not open this vault" };
		kdf_bad_secret(t, msg[a->kind], msg[a->kind]);
		goto out;
	}
	if (a->set_password) {
		if (session_password_wrapper(wrapper, v, t->secret[0], t->secret_len[0], vmk) != 0) {
			kdf_fail(t, 500, "Internal error", NULL);
			goto out;
		}
		session_submit_unlock(t, vmk, "vault.recovered", wrapper);
	} else {
		session_submit_unlock(t, vmk, "vault.unlocked.hardware", NULL);
	}
out:
	sodium_free(kek);
	sodium_free(vmk);
}

/* Parses what the caller sent into a recover_arg; on a problem sets the 400 reply and returns NULL. */
static struct recover_arg *recover_input(struct vault *v, struct zk_http_req *r, json_t *body)
{
	json_t *phrase = json_object_get(body, "phrase"), *hw = json_object_get(body, "hardwareKey");
	json_t *shares = json_object_get(body, "shares");
	struct recover_arg *a = calloc(1, sizeof(*a));
	char details[160];

	if (!a || !(a->secret = sodium_malloc(64))) {
		free(a);
		zk_http_error(r, 500, "Internal error", NULL);
		return NULL;
	}
	if ((phrase != NULL) + (hw != NULL) + (shares != NULL) != 1) {
		validation_error(r, "Invalid request body", "Send exactly one of phrase, hardwareKey or shares");
		goto fail;
	}
	if (phrase) {
		struct zk_bip39_error err;
		unsigned char entropy[ZK_BIP39_ENTROPY_MAX];
		size_t elen = 16;
		a->kind = RECOVER_PHRASE;
		a->len = ZK_BIP39_SEED_BYTES;
		if (!json_is_string(phrase) ||
		    zk_bip39_to_entropy(entropy, &elen, json_string_value(phrase), &err) != 0) {
			/* The position, never the word: whoever relays this answer must not learn part of a phrase. */
			if (!json_is_string(phrase))
				snprintf(details, sizeof(details), "phrase: Expected string");
			else if (err.code == ZK_BIP39_UNKNOWN_WORD)
				snprintf(details, sizeof(details), "phrase: word %zu is not in the BIP39 English list",
					 err.word_index);
			else if (err.code == ZK_BIP39_CHECKSUM)
				snprintf(details, sizeof(details),
					 "phrase: the checksum does not match: a word is wrong or out of order");
			else
				snprintf(details, sizeof(details), "phrase: expected 12 words, got %zu", err.word_count);
			sodium_memzero(&err, sizeof(err));
			validation_error(r, "Invalid request body", details);
			goto fail;
		}
		sodium_memzero(entropy, sizeof(entropy));
		if (zk_bip39_seed(a->secret, json_string_value(phrase), NULL) != 0)
			goto fail;
	} else if (hw) {
		a->kind = RECOVER_HARDWARE;
		a->len = 32;
		if (zk_hwkey_decode(a->secret, json_string_value(hw) ? json_string_value(hw) : "", NULL) != 0) {
			validation_error(r, "Invalid request body",
					 "hardwareKey: Expected 52 base32 characters (dashes and case do not matter)");
			goto fail;
		}
	} else {
		json_t *social = meta_json(v, "social");
		unsigned char set_id[16], (*rows)[ZK_SHARE_MAX] = NULL;
		size_t n = json_array_size(shares), i;
		enum zk_share_error why = ZK_SHARE_MALFORMED;
		json_t *s;
		int rc = -1;
		a->kind = RECOVER_SHARES;
		a->len = 32;
		if (!social || zk_hex_decode_exact(set_id, 16, json_string_value(json_object_get(social, "setId")))) {
			json_decref(social);
			zk_http_error(r, 400, "Social recovery is not set up for this vault", "NOT_CONFIGURED");
			goto fail;
		}
		json_decref(social);
		if (!json_is_array(shares) || n == 0 || n > ZK_SHAMIR_MAX_SHARES || !(rows = sodium_malloc(n * sizeof(*rows)))) {
			validation_error(r, "Invalid request body", "shares: Expected a non-empty array of share texts");
			goto fail;
		}
		rc = 0;
		json_array_foreach(shares, i, s) {
			if (zk_share_from_text(rows[i], NULL, json_string_value(s) ? json_string_value(s) : "", &why) != 0) {
				snprintf(details, sizeof(details), "shares.%zu: %s", i, zk_share_strerror(why));
				rc = -1;
				break;
			}
		}
		if (rc == 0 && zk_shamir_combine(a->secret, 32, (const unsigned char(*)[ZK_SHARE_MAX])rows, n, set_id, &why) != 0) {
			snprintf(details, sizeof(details), "shares: %s", zk_share_strerror(why));
			rc = -1;
		}
		sodium_free(rows);
		if (rc != 0) {
			validation_error(r, "Invalid request body", details);
			goto fail;
		}
	}
	return a;
fail:
	recover_arg_free(a);
	return NULL;
}

void handle_recover(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	char ip[48];

	if (session_unlock_limited(v, r, ip) || !require_management(v, r) || !body_object(r, &body))
		return;
	json_t *pw = json_object_get(body, "newPassword");
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	int has_pk = 0;
	if (!v->initialized || v->ocmt_pending)
		zk_http_error(r, 400, "Vault not initialized", NULL);
	else if ((has_pk = session_client_key(body, pk)) < 0)
		validation_error(r, "Invalid request body", SESSION_KEY_PROBLEM);
	else if (!json_is_string(pw))
		validation_error(r, "Invalid request body", "newPassword: Required (recovery sets a new password)");
	else if (json_string_length(pw) < 16)
		validation_error(r, "Invalid request body", "newPassword: Vault password must be at least 16 characters");
	else {
		struct recover_arg *a = recover_input(v, r, body);
		if (a) {
			a->set_password = true;
			kdf_defer(v, r, run_recover, "system", ip, json_string_value(pw), NULL, has_pk ? pk : NULL, a,
				  recover_arg_free);
		}
	}
	json_decref(body);
}

void recovery_unlock_hardware(struct vault *v, struct zk_http_req *r, json_t *body, const char *user, const char *ip,
			      const unsigned char *client_pk)
{
	json_t *only = json_pack("{sO}", "hardwareKey", json_object_get(body, "hardwareKey"));
	struct recover_arg *a = recover_input(v, r, only);
	json_decref(only);
	if (a)
		kdf_defer(v, r, run_recover, user, ip, NULL, NULL, client_pk, a, recover_arg_free);
}
