/* Sealed requests to the transport key: the shared opener, unlock challenges and sealed unlock. */
#include "vaultd/sealed.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "vaultd/audit.h"
#include "vaultd/common.h"
#include "vaultd/limiter.h"
#include "vaultd/session.h"

int sealed_open(struct vault *v, unsigned char *out, const unsigned char *box, size_t len)
{
	char path[4096];
	unsigned char *sk = sodium_malloc(crypto_box_SECRETKEYBYTES);
	int rc = -1;
	if (len < crypto_box_SEALBYTES) {
		sodium_free(sk);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/transport.key", v->cfg.data_dir);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (sk && fd >= 0 && read(fd, sk, crypto_box_SECRETKEYBYTES) == crypto_box_SECRETKEYBYTES)
		rc = crypto_box_seal_open(out, box, len, v->transport_pk, sk);
	if (fd >= 0)
		close(fd);
	sodium_free(sk);
	return rc;
}

json_t *sealed_open_json(struct vault *v, const char *b64, const char **problem, bool *not_opened)
{
	unsigned char *box = NULL, *m;
	size_t blen;
	json_t *inner;

	*not_opened = false;
	if (!b64 || zk_b64_decode(&box, &blen, b64) != 0 || blen <= crypto_box_SEALBYTES || blen > SEALED_BOX_MAX) {
		free(box);
		*problem = "sealed: Expected base64 of a sealed box";
		return NULL;
	}
	m = zk_wipe_malloc(blen);
	if (!m || sealed_open(v, m, box, blen) != 0) {
		free(box);
		zk_wipe_free(m);
		*not_opened = true;
		*problem = "sealed: the box does not open with this vault's transport key";
		return NULL;
	}
	inner = json_loadb((char *)m, blen - crypto_box_SEALBYTES, 0, NULL);
	sodium_memzero(m, blen);
	free(box);
	zk_wipe_free(m);
	if (!json_is_object(inner)) {
		json_decref(inner);
		*problem = "sealed: the box does not hold a JSON object";
		return NULL;
	}
	return inner;
}

/* The challenge table: small, in memory, one per process (a process serves one vault). */
static struct {
	pthread_mutex_t lock;
	struct {
		unsigned char c[SEALED_CHALLENGE_BYTES];
		int64_t issued;  /* monotonic ms; 0 = free */
	} slot[SEALED_CHALLENGES];
} challenges = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void challenge_issue(unsigned char out[SEALED_CHALLENGE_BYTES])
{
	int64_t now = zk_mono_ms();
	size_t pick = 0;
	randombytes_buf(out, SEALED_CHALLENGE_BYTES);
	pthread_mutex_lock(&challenges.lock);
	for (size_t i = 0; i < SEALED_CHALLENGES; i++) {
		int64_t t = challenges.slot[i].issued;
		if (t && now - t >= SEALED_CHALLENGE_MS)
			challenges.slot[i].issued = t = 0; /* expired */
		if (!t) {
			pick = i;
			break;
		}
		if (t < challenges.slot[pick].issued)
			pick = i; /* full: the oldest goes */
	}
	memcpy(challenges.slot[pick].c, out, SEALED_CHALLENGE_BYTES);
	challenges.slot[pick].issued = now ? now : 1;
	pthread_mutex_unlock(&challenges.lock);
}

bool sealed_challenge_consume(const unsigned char c[SEALED_CHALLENGE_BYTES])
{
	int64_t now = zk_mono_ms();
	bool ok = false;
	pthread_mutex_lock(&challenges.lock);
	for (size_t i = 0; i < SEALED_CHALLENGES; i++) {
		if (!challenges.slot[i].issued ||
		    sodium_memcmp(challenges.slot[i].c, c, SEALED_CHALLENGE_BYTES) != 0)
			continue;
		ok = now - challenges.slot[i].issued < SEALED_CHALLENGE_MS;
		challenges.slot[i].issued = 0;
		sodium_memzero(challenges.slot[i].c, SEALED_CHALLENGE_BYTES);
		break;
	}
	pthread_mutex_unlock(&challenges.lock);
	return ok;
}

void handle_unlock_challenge(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	unsigned char c[SEALED_CHALLENGE_BYTES];
	char b64[sodium_base64_ENCODED_LEN(SEALED_CHALLENGE_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	if (!require_management(v, r))
		return;
	if (!v->initialized || v->ocmt_pending) {
		zk_http_error(r, 400, "Vault not initialized", NULL);
		return;
	}
	challenge_issue(c);
	sodium_bin2base64(b64, sizeof(b64), c, sizeof(c), sodium_base64_VARIANT_ORIGINAL);
	zk_http_reply(r, 200, json_pack("{sssiss}", "challenge", b64, "expiresIn", SEALED_CHALLENGE_MS / 1000,
					"vaultId", v->vault_id_hex));
}

/* A failed sealed unlock counts like a wrong password: limiter, counter, audit, 401. */
static void sealed_failed(struct vault *v, struct zk_http_req *r, const char *user, const char *ip,
			  const char *why, const char *msg, const char *code)
{
	limiter_hit(v->unlock_limiter, ip);
	atomic_fetch_add(&v->n_unlock_failures, 1);
	audit_async(v, "vault.unlock_failed", user, NULL, false, why, ip);
	zk_http_error(r, 401, msg, code);
}

void sealed_unlock(struct vault *v, struct zk_http_req *r, json_t *body, const char *user, const char *ip)
{
	json_t *sealed = json_object_get(body, "sealed"), *inner = NULL;
	const char *problem = validate_lock_body(body), *s;
	unsigned char challenge[SEALED_CHALLENGE_BYTES], blob[WRAPPER_BYTES];
	unsigned char *kek = NULL, *vmk = NULL;
	bool not_opened;

	if (!problem && json_object_get(body, "password"))
		problem = "sealed: Send either password or sealed, not both";
	if (!problem && !json_is_string(sealed))
		problem = "sealed: Expected base64 of a sealed box";
	if (problem) {
		validation_error(r, "Invalid request body", problem);
		return;
	}
	if (!v->initialized || v->ocmt_pending) {
		/* An OCMT import converts on its first unlock, which needs the password itself. */
		zk_http_error(r, 400, "Vault not initialized", NULL);
		return;
	}
	if (!v->password_enabled) {
		zk_http_error(r, 403, "Password unlock is disabled for this vault; use threshold unlock",
			      "PASSWORD_DISABLED");
		return;
	}
	inner = sealed_open_json(v, json_string_value(sealed), &problem, &not_opened);
	if (!inner) {
		if (not_opened)
			sealed_failed(v, r, user, ip, "sealed box does not open", "Invalid sealed unlock",
				      "SEALED_INVALID");
		else
			validation_error(r, "Invalid request body", problem);
		return;
	}
	/* The challenge goes first, whatever else is wrong with the box: it never works twice. */
	if (zk_b64_decode_exact(challenge, sizeof(challenge), json_string_value(json_object_get(inner, "challenge"))) !=
		    0 ||
	    !sealed_challenge_consume(challenge)) {
		sealed_failed(v, r, user, ip, "unknown, expired or used challenge",
			      "Unknown, expired or already used unlock challenge", "CHALLENGE_INVALID");
		goto out;
	}
	s = json_string_value(json_object_get(inner, "purpose"));
	if (!s || strcmp(s, "unlock") != 0 || !(s = json_string_value(json_object_get(inner, "vaultId"))) ||
	    strcmp(s, v->vault_id_hex) != 0) {
		sealed_failed(v, r, user, ip, "sealed box for another vault or purpose",
			      "The sealed box was made for another vault or purpose", "SEALED_MISMATCH");
		goto out;
	}
	kek = sodium_malloc(ZK_KEY_BYTES);
	vmk = sodium_malloc(ZK_KEY_BYTES);
	if (!kek || !vmk) {
		zk_http_error(r, 500, "Internal error", NULL);
		goto out;
	}
	if (zk_b64_decode_exact(kek, ZK_KEY_BYTES, json_string_value(json_object_get(inner, "kek"))) != 0) {
		sealed_failed(v, r, user, ip, "sealed box without a KEK", "Invalid sealed unlock", "SEALED_INVALID");
		goto out;
	}
	/* The session key travels inside the box: one outside could be swapped by whoever forwards it. */
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	int has_pk = session_client_key(inner, pk);
	if (has_pk < 0) {
		validation_error(r, "Invalid request body", "sealed: " SESSION_KEY_PROBLEM);
		goto out;
	}
	if (session_read_wrapper(v, WRAPPER_PASSWORD, blob) != 0) {
		zk_http_error(r, 500, "Failed to unlock vault", NULL);
		goto out;
	}
	if (wrapper_open(vmk, v, blob, sizeof(blob), kek) != 0) {
		sealed_failed(v, r, user, ip, "Invalid password", "Invalid password", NULL);
		goto out;
	}
	struct job *j = session_unlock_job(v, r, vmk, "vault.unlocked", user, ip, NULL);
	if (!j) {
		zk_http_error(r, 500, "Failed to unlock vault", NULL);
	} else {
		session_job_client_key(j, has_pk == 1 ? pk : NULL);
		defer_job(v, r, j);
	}
out:
	sodium_memzero(challenge, sizeof(challenge));
	sodium_free(kek);
	sodium_free(vmk);
	json_decref(inner);
}

/*
 * POST /password {"sealed"}: crypto_box_seal of {"purpose":"password","vaultId","challenge","currentKek",
 * "newKek","kdf":{"opslimit","memlimit","salt"}}. The client ran Argon2id for both passwords (the new one with
 * parameters and a salt it chose, at least the floor); the vault opens the password wrapper with currentKek and
 * seals the VMK under newKek with those parameters. No password reaches the vault, so its length rule (16
 * characters) is the client's to enforce.
 */
struct sealed_password_arg {
	unsigned char wrapper[WRAPPER_BYTES];
	char ip[48];
};

static int sealed_password_apply(struct vault *v, struct job *j)
{
	struct sealed_password_arg *a = j->arg;
	struct audit_event e = { .action = "vault.password_changed", .user_id = "system", .ip = a->ip, .success = true };
	if (session_put_wrapper(v, WRAPPER_PASSWORD, a->wrapper) != 0 ||
	    audit_append(v, writer_state(v->writer), &e) != 0)
		return 500;
	return 0;
}

static void sealed_password_publish(struct vault *v, struct job *j)
{
	struct sealed_password_arg *a = j->arg;
	wrapper_params(&v->kdf, a->wrapper, WRAPPER_BYTES);
	v->password_enabled = true;
}

void sealed_password(struct vault *v, struct zk_http_req *r, json_t *body, const char *ip)
{
	json_t *inner = NULL, *kdf;
	const char *problem = NULL, *s;
	unsigned char challenge[SEALED_CHALLENGE_BYTES], blob[WRAPPER_BYTES];
	unsigned char *cur = NULL, *next = NULL, *vmk = NULL;
	struct zk_kdf_params p;
	bool not_opened;

	if (json_object_size(body) != 1 || !json_is_string(json_object_get(body, "sealed"))) {
		validation_error(r, "Invalid request body", "sealed: Send only sealed (base64 of a sealed box)");
		return;
	}
	if (!v->initialized || v->ocmt_pending) {
		zk_http_error(r, 400, "Vault not initialized", NULL);
		return;
	}
	if (!v->password_enabled) {
		zk_http_error(r, 403, "Password unlock is disabled for this vault", "PASSWORD_DISABLED");
		return;
	}
	inner = sealed_open_json(v, json_string_value(json_object_get(body, "sealed")), &problem, &not_opened);
	if (!inner) {
		if (not_opened)
			sealed_failed(v, r, "system", ip, "sealed box does not open (password change)",
				      "Invalid sealed request", "SEALED_INVALID");
		else
			validation_error(r, "Invalid request body", problem);
		return;
	}
	if (zk_b64_decode_exact(challenge, sizeof(challenge), json_string_value(json_object_get(inner, "challenge"))) !=
		    0 ||
	    !sealed_challenge_consume(challenge)) {
		sealed_failed(v, r, "system", ip, "unknown, expired or used challenge (password change)",
			      "Unknown, expired or already used unlock challenge", "CHALLENGE_INVALID");
		goto out;
	}
	s = json_string_value(json_object_get(inner, "purpose"));
	if (!s || strcmp(s, "password") != 0 || !(s = json_string_value(json_object_get(inner, "vaultId"))) ||
	    strcmp(s, v->vault_id_hex) != 0) {
		sealed_failed(v, r, "system", ip, "sealed box for another vault or purpose",
			      "The sealed box was made for another vault or purpose", "SEALED_MISMATCH");
		goto out;
	}
	kdf = json_object_get(inner, "kdf");
	p.opslimit = (uint64_t)json_integer_value(json_object_get(kdf, "opslimit"));
	p.memlimit = (uint64_t)json_integer_value(json_object_get(kdf, "memlimit"));
	if (!json_is_integer(json_object_get(kdf, "opslimit")) || !json_is_integer(json_object_get(kdf, "memlimit")) ||
	    zk_b64_decode_exact(p.salt, ZK_SALT_BYTES, json_string_value(json_object_get(kdf, "salt"))) != 0 ||
	    zk_kdf_check(&p) != 0) {
		validation_error(r, "Invalid request body",
				 "sealed.kdf: Expected {opslimit, memlimit, salt (16 bytes)} at or above the floor");
		goto out;
	}
	cur = sodium_malloc(ZK_KEY_BYTES);
	next = sodium_malloc(ZK_KEY_BYTES);
	vmk = sodium_malloc(ZK_KEY_BYTES);
	if (!cur || !next || !vmk) {
		zk_http_error(r, 500, "Internal error", NULL);
		goto out;
	}
	if (zk_b64_decode_exact(next, ZK_KEY_BYTES, json_string_value(json_object_get(inner, "newKek"))) != 0) {
		validation_error(r, "Invalid request body", "sealed.newKek: Expected base64 of 32 bytes");
		goto out;
	}
	if (zk_b64_decode_exact(cur, ZK_KEY_BYTES, json_string_value(json_object_get(inner, "currentKek"))) != 0 ||
	    session_read_wrapper(v, WRAPPER_PASSWORD, blob) != 0 || wrapper_open(vmk, v, blob, sizeof(blob), cur) != 0) {
		sealed_failed(v, r, "system", ip, "Invalid password (password change)", "Invalid password", NULL);
		goto out;
	}
	struct sealed_password_arg *a = calloc(1, sizeof(*a));
	struct job *j = a ? job_new(sealed_password_apply, sealed_password_publish, job_reply_done, r) : NULL;
	if (!j) {
		free(a);
		zk_http_error(r, 500, "Failed to change password", NULL);
		goto out;
	}
	wrapper_seal(a->wrapper, v, WRAPPER_PASSWORD, WRAPPER_KDF_ARGON2ID, &p, next, vmk);
	snprintf(a->ip, sizeof(a->ip), "%s", ip);
	j->arg = a;
	j->free_arg = free;
	defer_job(v, r, j);
out:
	sodium_memzero(challenge, sizeof(challenge));
	sodium_free(cur);
	sodium_free(next);
	sodium_free(vmk);
	json_decref(inner);
}
