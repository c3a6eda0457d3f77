#include "vaultd/threshold.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/mem.h"
#include "lib/shamir.h"
#include "vaultd/audit.h"
#include "vaultd/common.h"
#include "vaultd/limiter.h"
#include "vaultd/recovery.h"
#include "vaultd/rekey.h"
#include "vaultd/sealed.h"
#include "vaultd/session.h"

struct approval {
	char admin[130];
	unsigned char share[ZK_SHARE_MAX];
};

/* At most one pending request; shares in guarded memory, wiped when the request ends. */
struct threshold_state {
	pthread_mutex_t lock;
	bool active;
	char id[33];
	int64_t expires_ms;
	char requested_by[130];
	unsigned k;
	size_t napprovals;
	struct approval *approvals; /* sodium_malloc'd, ZK_SHAMIR_MAX_SHARES entries, while a request is open */
};

struct threshold_state *threshold_new(void)
{
	/* The guarded pages for the shares are taken when a request opens: a sodium_malloc is four system calls,
	   and every vault starts without a request. */
	struct threshold_state *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

static void end_request(struct threshold_state *t)
{
	sodium_free(t->approvals); /* wipes */
	t->approvals = NULL;
	t->napprovals = 0;
	t->active = false;
}

void threshold_free(struct threshold_state *t)
{
	if (!t)
		return;
	sodium_free(t->approvals);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* The request id goes in the entry's target field. */
static void threshold_audit(struct vault *v, const char *action, const char *admin, const char *request_id,
			    bool success, const char *error, const char *ip)
{
	audit_async_target(v, action, admin, request_id, success, error, ip);
}

int64_t threshold_ms_left(struct vault *v)
{
	struct threshold_state *t = v->threshold;
	int64_t left = -1;
	pthread_mutex_lock(&t->lock);
	if (t->active) {
		left = t->expires_ms + 1 - zk_now_ms(); /* threshold_sweep ends it once now > expires_ms */
		if (left < 0)
			left = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return left;
}

void threshold_sweep(struct vault *v)
{
	struct threshold_state *t = v->threshold;
	char id[33] = "";
	pthread_mutex_lock(&t->lock);
	if (t->active && zk_now_ms() > t->expires_ms) {
		snprintf(id, sizeof(id), "%s", t->id);
		end_request(t);
	}
	pthread_mutex_unlock(&t->lock);
	if (*id)
		threshold_audit(v, "threshold.expired", "system", id, false, "request expired", NULL);
}

static json_t *threshold_set(struct vault *v)
{
	unsigned char *text;
	size_t len;
	json_t *o = NULL;
	pthread_mutex_lock(&v->rodb_lock);
	if (store_meta_get(v->rodb, "threshold", &text, &len) == 0) {
		o = json_loadb((char *)text, len, 0, NULL);
		free(text);
	}
	pthread_mutex_unlock(&v->rodb_lock);
	return o;
}

static json_t *find_admin(json_t *set, const char *id)
{
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(set, "admins"), i, a)
		if (id && !strcmp(json_string_value(json_object_get(a, "id")), id))
			return a;
	return NULL;
}

void handle_threshold_setup(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	unsigned char set_id[16], *key = NULL, *vmk = NULL, *kek = NULL, wrapper[WRAPPER_BYTES];
	const char *problem;
	char hex[33], ip[48];

	if (!require_management(v, r) || !require_session(v, r) || !body_object(r, &body))
		return;
	if (!v->initialized || v->ocmt_pending) {
		zk_http_error(r, 400, "Vault not initialized", NULL);
		goto out;
	}
	if (!require_unlocked(v, r))
		goto out;
	json_t *only = json_object_get(body, "thresholdOnly");
	if (only && !json_is_boolean(only)) {
		validation_error(r, "Invalid request body", "thresholdOnly: Expected boolean");
		goto out;
	}
	key = sodium_malloc(32);
	kek = sodium_malloc(ZK_KEY_BYTES);
	vmk = json_is_true(only) ? sodium_malloc(ZK_KEY_BYTES) : recovery_vmk_copy(v);
	if (!key || !kek || !vmk) {
		zk_http_error(r, 500, "Internal error", NULL);
		goto out;
	}
	/* Every split makes a new unlock key, so shares of an earlier split (e.g. a removed admin's) are useless. */
	randombytes_buf(key, 32);
	randombytes_buf(set_id, sizeof(set_id));
	json_int_t k = json_integer_value(json_object_get(body, "k"));
	json_t *admins = recovery_split_and_seal(json_object_get(body, "admins"), k, key, set_id, &problem);
	if (!admins) {
		validation_error(r, "Invalid request body", problem);
		goto out;
	}
	sodium_bin2hex(hex, sizeof(hex), set_id, sizeof(set_id));
	json_t *meta = json_pack("{sssIsOsb}", "setId", hex, "k", k, "admins", admins, "thresholdOnly", json_is_true(only));
	json_t *reply = json_pack("{sbsssIsosb}", "success", 1, "setId", hex, "k", k, "admins", admins,
				  "thresholdOnly", json_is_true(only));
	client_address(v, r, ip);
	struct job *j;
	if (json_is_true(only)) {
		/* Threshold-only: a new VMK that only the unlock key wraps; every single-holder wrapper is dropped. */
		randombytes_buf(vmk, ZK_KEY_BYTES);
		wrapper_kek_from_secret(kek, v, WRAPPER_THRESHOLD, key, 32);
		wrapper_seal(wrapper, v, WRAPPER_THRESHOLD, WRAPPER_KDF_SECRET, NULL, kek, vmk);
		j = rekey_job(v, r, "system", ip, NULL, WRAPPER_THRESHOLD, wrapper, vmk);
		if (j)
			rekey_job_set_meta(j, "threshold", meta, reply);
	} else {
		wrapper_kek_from_secret(kek, v, WRAPPER_THRESHOLD, key, 32);
		wrapper_seal(wrapper, v, WRAPPER_THRESHOLD, WRAPPER_KDF_SECRET, NULL, kek, vmk);
		j = recovery_store_job(r, WRAPPER_THRESHOLD, wrapper, "threshold", meta, "threshold.setup", ip, reply);
	}
	if (!j) {
		zk_http_error(r, 500, "Internal error", NULL);
		goto out;
	}
	pthread_mutex_lock(&v->threshold->lock);
	end_request(v->threshold); /* a re-split cancels a pending request */
	pthread_mutex_unlock(&v->threshold->lock);
	defer_job(v, r, j);
out:
	sodium_free(key);
	sodium_free(kek);
	sodium_free(vmk);
	sodium_memzero(wrapper, sizeof(wrapper));
	json_decref(body);
}

static json_t *request_json(struct threshold_state *t)
{
	char iso[ZK_ISO8601_MAX];
	json_t *who = json_array();
	for (size_t i = 0; i < t->napprovals; i++)
		json_array_append_new(who, json_string(t->approvals[i].admin));
	zk_iso8601(iso, t->expires_ms);
	return json_pack("{sssssssIsIso}", "requestId", t->id, "requestedBy", t->requested_by, "expiresAt", iso,
			 "required", (json_int_t)t->k, "approvals", (json_int_t)t->napprovals, "approvedBy", who);
}

void handle_threshold_status(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	if (!require_management(v, r))
		return;
	json_t *set = threshold_set(v), *a;
	size_t i;
	if (!set) {
		zk_http_error(r, 404, "Threshold unlock is not set up", NULL);
		return;
	}
	json_array_foreach(json_object_get(set, "admins"), i, a)
		json_object_del(a, "sealedShare");
	pthread_mutex_lock(&v->threshold->lock);
	json_object_set_new(set, "pending", v->threshold->active ? request_json(v->threshold) : json_null());
	pthread_mutex_unlock(&v->threshold->lock);
	json_object_set_new(set, "unlocked", json_boolean(vault_unlocked(v)));
	zk_http_reply(r, 200, set);
}

/* An admin's client fetches its sealed share to open it with its own secret key. */
void handle_threshold_share(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	if (!require_management(v, r))
		return;
	json_t *set = threshold_set(v), *a = find_admin(set, r->param[0]);
	if (!a)
		zk_http_error(r, 404, set ? "No such admin in the threshold set" : "Threshold unlock is not set up", NULL);
	else
		zk_http_reply(r, 200, json_pack("{sOsOsOsO}", "id", json_object_get(a, "id"), "x", json_object_get(a, "x"),
						"setId", json_object_get(set, "setId"), "sealedShare",
						json_object_get(a, "sealedShare")));
	json_decref(set);
}

void handle_threshold_request(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	struct threshold_state *t = v->threshold;
	json_t *body;
	char ip[48];
	if (!require_management(v, r) || !body_object(r, &body))
		return;
	json_t *set = threshold_set(v), *by = json_object_get(body, "requestedBy");
	if (!set)
		zk_http_error(r, 404, "Threshold unlock is not set up", NULL);
	else if (by && (!json_is_string(by) || json_string_length(by) > 128))
		validation_error(r, "Invalid request body", "requestedBy: Expected a string of at most 128 characters");
	else if (vault_unlocked(v))
		zk_http_error(r, 409, "Vault is already unlocked", NULL);
	else {
		threshold_sweep(v);
		pthread_mutex_lock(&t->lock);
		if (t->active) {
			json_t *o = json_pack("{ssss}", "error", "A pending unlock request already exists", "requestId", t->id);
			pthread_mutex_unlock(&t->lock);
			zk_http_reply(r, 409, o);
		} else if (!(t->approvals = sodium_malloc(ZK_SHAMIR_MAX_SHARES * sizeof(*t->approvals)))) {
			pthread_mutex_unlock(&t->lock);
			zk_http_error(r, 503, "Out of memory for the request's shares; try again", "UNAVAILABLE");
		} else {
			unsigned char id[16];
			randombytes_buf(id, sizeof(id));
			sodium_bin2hex(t->id, sizeof(t->id), id, sizeof(id));
			t->active = true;
			t->k = (unsigned)json_integer_value(json_object_get(set, "k"));
			t->expires_ms = zk_now_ms() + (int64_t)v->cfg.threshold_seconds * 1000;
			t->napprovals = 0;
			snprintf(t->requested_by, sizeof(t->requested_by), "%s", by ? json_string_value(by) : "system");
			json_t *o = request_json(t);
			char rid[33];
			snprintf(rid, sizeof(rid), "%s", t->id);
			pthread_mutex_unlock(&t->lock);
			client_address(v, r, ip);
			threshold_audit(v, "threshold.requested", by ? json_string_value(by) : "system", rid, true, NULL, ip);
			zk_http_reply(r, 200, o);
		}
	}
	json_decref(set);
	json_decref(body);
}

void handle_threshold_request_status(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	struct threshold_state *t = v->threshold;
	if (!require_management(v, r))
		return;
	threshold_sweep(v);
	pthread_mutex_lock(&t->lock);
	json_t *o = t->active && !strcmp(t->id, r->param[0]) ? request_json(t) : NULL;
	pthread_mutex_unlock(&t->lock);
	if (!o)
		zk_http_error(r, 404, "Unlock request not found or expired", NULL);
	else
		zk_http_reply(r, 200, o);
}

/*
 * The share of an approval: {"share": "zks1-…"} in the clear, or {"sealed": base64} = crypto_box_seal to the
 * transport key of {"purpose":"threshold-approve","vaultId","requestId","x","share"}, which a relaying server
 * can neither read nor replay for another request.
 */
/*
 * The share of an approval, plain or from its sealed box, and the sessionPublicKey that goes with it (strict
 * mode): from inside the box when there is one, where no forwarder can swap it. *has_pk as session_client_key.
 */
static const char *approval_share(struct vault *v, json_t *body, const char *request_id, json_int_t x,
				  unsigned char share[ZK_SHARE_MAX], unsigned char pk[crypto_box_PUBLICKEYBYTES],
				  int *has_pk)
{
	enum zk_share_error why;
	json_t *plain = json_object_get(body, "share"), *sealed = json_object_get(body, "sealed"), *inner = NULL;
	const char *problem = NULL, *text;

	if (sealed) {
		unsigned char *box, *m;
		size_t blen;
		if (zk_b64_decode(&box, &blen, json_string_value(sealed)) != 0 || blen <= crypto_box_SEALBYTES ||
		    blen > 4096)
			return "sealed: Expected base64 of a sealed box";
		m = zk_wipe_malloc(blen);
		if (!m || sealed_open(v, m, box, blen) != 0) {
			free(box);
			zk_wipe_free(m);
			return "sealed: the box does not open with this vault's transport key";
		}
		inner = json_loadb((char *)m, blen - crypto_box_SEALBYTES, 0, NULL);
		free(box);
		zk_wipe_free(m);
		if (!inner || strcmp(json_string_value(json_object_get(inner, "purpose")) ?: "", "threshold-approve") ||
		    strcmp(json_string_value(json_object_get(inner, "vaultId")) ?: "", v->vault_id_hex) ||
		    strcmp(json_string_value(json_object_get(inner, "requestId")) ?: "", request_id) ||
		    json_integer_value(json_object_get(inner, "x")) != x) {
			json_decref(inner);
			return "sealed: the box was made for another vault, request or share";
		}
		text = json_string_value(json_object_get(inner, "share"));
	} else {
		text = json_string_value(plain);
	}
	if (!text)
		problem = "share: Required (or sealed)";
	else if (zk_share_from_text(share, NULL, text, &why) != 0)
		problem = zk_share_strerror(why);
	else if ((*has_pk = session_client_key(inner ? inner : body, pk)) < 0)
		problem = inner ? "sealed: " SESSION_KEY_PROBLEM : SESSION_KEY_PROBLEM;
	json_decref(inner);
	return problem;
}

struct threshold_unlock {
	unsigned char key[32];
};

void handle_threshold_approve(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	struct threshold_state *t = v->threshold;
	json_t *body, *set = NULL;
	unsigned char *share = NULL, *key = NULL, *kek = NULL, *vmk = NULL, set_id[16], blob[WRAPPER_BYTES];
	char ip[48], details[160];
	enum zk_share_error why;
	struct zk_share_info info;

	if (!require_management(v, r) || !body_object(r, &body))
		return;
	client_address(v, r, ip);
	const char *admin_id = json_string_value(json_object_get(body, "adminId"));
	set = threshold_set(v);
	json_t *admin = find_admin(set, admin_id);
	if (!set) {
		zk_http_error(r, 404, "Threshold unlock is not set up", NULL);
		goto out;
	}
	if (!admin) {
		zk_http_error(r, 403, "adminId is not an admin of this vault's threshold set", NULL);
		goto out;
	}
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	int has_pk = 0;
	json_int_t x = json_integer_value(json_object_get(admin, "x"));
	share = sodium_malloc(ZK_SHARE_MAX);
	const char *problem = share ? approval_share(v, body, r->param[0], x, share, pk, &has_pk) : "out of memory";
	if (problem) {
		snprintf(details, sizeof(details), "%s", problem);
		validation_error(r, "Invalid request body", details);
		goto out;
	}
	zk_hex_decode_exact(set_id, 16, json_string_value(json_object_get(set, "setId")));
	if (zk_share_inspect(&info, share, ZK_SHARE_BYTES(32), &why) != 0 || memcmp(info.set_id, set_id, 16) != 0) {
		validation_error(r, "Invalid request body", "share: share belongs to another recovery set");
		threshold_audit(v, "threshold.rejected", admin_id, r->param[0], false, "foreign share", ip);
		goto out;
	}
	if ((json_int_t)info.x != x) {
		validation_error(r, "Invalid request body", "share: this share belongs to another admin");
		goto out;
	}

	threshold_sweep(v);
	pthread_mutex_lock(&t->lock);
	if (!t->active || strcmp(t->id, r->param[0]) != 0) {
		pthread_mutex_unlock(&t->lock);
		zk_http_error(r, 404, "Unlock request not found or expired", NULL);
		goto out;
	}
	for (size_t i = 0; i < t->napprovals; i++)
		if (!strcmp(t->approvals[i].admin, admin_id)) {
			pthread_mutex_unlock(&t->lock);
			zk_http_error(r, 409, "You have already approved this request", NULL);
			goto out;
		}
	struct approval *ap = &t->approvals[t->napprovals++];
	snprintf(ap->admin, sizeof(ap->admin), "%s", admin_id);
	memcpy(ap->share, share, ZK_SHARE_MAX);
	json_t *status = request_json(t);
	bool complete = t->napprovals >= t->k;
	if (complete) {
		unsigned char(*rows)[ZK_SHARE_MAX] = sodium_malloc(t->napprovals * ZK_SHARE_MAX);
		key = sodium_malloc(32);
		int rc = rows && key ? 0 : -1;
		for (size_t i = 0; rc == 0 && i < t->napprovals; i++)
			memcpy(rows[i], t->approvals[i].share, ZK_SHARE_MAX);
		if (rc == 0)
			rc = zk_shamir_combine(key, 32, (const unsigned char(*)[ZK_SHARE_MAX])rows, t->napprovals, set_id,
					       &why);
		sodium_free(rows);
		end_request(t); /* shares are wiped whatever happens next */
		pthread_mutex_unlock(&t->lock);
		if (rc != 0) {
			json_decref(status);
			threshold_audit(v, "threshold.failed", admin_id, r->param[0], false, zk_share_strerror(why), ip);
			zk_http_error(r, 400, "The approvals' shares do not combine; the request was closed", "SHARES_INVALID");
			goto out;
		}
	} else {
		pthread_mutex_unlock(&t->lock);
	}
	threshold_audit(v, "threshold.approved", admin_id, r->param[0], true, NULL, ip);
	if (!complete) {
		json_object_set_new(status, "unlocked", json_false());
		zk_http_reply(r, 200, status);
		goto out;
	}
	json_decref(status);
	kek = sodium_malloc(ZK_KEY_BYTES);
	vmk = sodium_malloc(ZK_KEY_BYTES);
	if (!kek || !vmk || session_read_wrapper(v, WRAPPER_THRESHOLD, blob) != 0) {
		zk_http_error(r, 500, "Internal error", NULL);
		goto out;
	}
	wrapper_kek_from_secret(kek, v, WRAPPER_THRESHOLD, key, 32);
	if (wrapper_open(vmk, v, blob, sizeof(blob), kek) != 0) {
		threshold_audit(v, "threshold.failed", admin_id, r->param[0], false, "unlock key does not open the vault", ip);
		zk_http_error(r, 400, "The shares do not open this vault", "SHARES_INVALID");
		goto out;
	}
	struct job *j = session_unlock_job(v, r, vmk, "vault.threshold_unlocked", admin_id, ip, NULL);
	if (!j) {
		zk_http_error(r, 500, "Internal error", NULL);
	} else {
		session_job_client_key(j, has_pk == 1 ? pk : NULL);
		defer_job(v, r, j);
	}
out:
	sodium_free(share);
	sodium_free(key);
	sodium_free(kek);
	sodium_free(vmk);
	json_decref(set);
	json_decref(body);
}

void handle_threshold_deny(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	struct threshold_state *t = v->threshold;
	json_t *body;
	char ip[48];
	if (!require_management(v, r) || !body_object(r, &body))
		return;
	const char *by = json_string_value(json_object_get(body, "adminId"));
	pthread_mutex_lock(&t->lock);
	bool found = t->active && !strcmp(t->id, r->param[0]);
	if (found)
		end_request(t);
	pthread_mutex_unlock(&t->lock);
	client_address(v, r, ip);
	if (!found) {
		zk_http_error(r, 404, "Unlock request not found or expired", NULL);
	} else {
		threshold_audit(v, "threshold.denied", by ? by : "system", r->param[0], true, NULL, ip);
		zk_http_reply(r, 200, json_pack("{sbss}", "success", 1, "message", "Unlock request denied; shares wiped"));
	}
	json_decref(body);
}
