#include "vaultd/common.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "vaultd/audit.h"

bool require_management(struct vault *v, struct zk_http_req *r)
{
	const char *t = zk_http_header(r, "X-Auth-Token");
	size_t n = strlen(v->cfg.auth_token);
	unsigned char a[crypto_generichash_BYTES], b[crypto_generichash_BYTES];

	if (!t) {
		zk_http_error(r, 401, "Unauthorized", NULL);
		return false;
	}
	/* Compare digests in constant time so neither the length nor a prefix leaks. */
	crypto_generichash(a, sizeof(a), (const unsigned char *)t, strlen(t), NULL, 0);
	crypto_generichash(b, sizeof(b), (const unsigned char *)v->cfg.auth_token, n, NULL, 0);
	if (sodium_memcmp(a, b, sizeof(a)) != 0) {
		zk_http_error(r, 401, "Unauthorized", NULL);
		return false;
	}
	return true;
}

bool require_session(struct vault *v, struct zk_http_req *r)
{
	if (!v->cfg.strict)
		return true;
	const char *h = zk_http_header(r, "X-Vault-Session");
	unsigned char given[32];
	bool ok = false;
	if (h && zk_b64_decode_exact(given, sizeof(given), h) == 0) {
		unsigned slot = zk_brlock_rdlock(&v->state_lock);
		ok = v->session_key && sodium_memcmp(given, v->session_key, sizeof(given)) == 0;
		zk_brlock_rdunlock(&v->state_lock, slot);
	}
	sodium_memzero(given, sizeof(given));
	if (!ok)
		zk_http_error(r, 403, "This vault is in strict mode: the route needs the vault session (X-Vault-Session)",
			      "SESSION_REQUIRED");
	return ok;
}

int session_client_key(const json_t *body, unsigned char pk[crypto_box_PUBLICKEYBYTES])
{
	json_t *k = json_object_get(body, "sessionPublicKey");
	if (!k)
		return 0;
	if (!json_is_string(k) || zk_b64_decode_exact(pk, crypto_box_PUBLICKEYBYTES, json_string_value(k)) != 0)
		return -1;
	return 1;
}

void locked_error(struct vault *v, struct zk_http_req *r)
{
	json_t *o = json_pack("{ssss}", "error", "Vault is locked", "code", "VAULT_LOCKED");
	if (v->cfg.unlock_url)
		json_object_set_new(o, "unlockUrl", json_string(v->cfg.unlock_url));
	zk_http_reply(r, 423, o);
}

bool require_unlocked(struct vault *v, struct zk_http_req *r)
{
	if (vault_unlocked(v))
		return true;
	locked_error(v, r);
	return false;
}

void validation_error(struct zk_http_req *r, const char *what, const char *details)
{
	zk_http_reply(r, 400, json_pack("{ssss}", "error", what, "details", details));
}

bool body_object(struct zk_http_req *r, json_t **out)
{
	char details[96];
	const char *what = validate_parse_body(out, (const unsigned char *)r->body.p, r->body.len, details, sizeof(details));
	if (what) {
		validation_error(r, what, details);
		return false;
	}
	return true;
}

void job_reply_done(struct vault *v, struct job *j)
{
	if (!j->req)
		return;
	if (j->rc == 0) {
		zk_http_reply(j->req, 200, j->reply ? json_incref(j->reply) : json_pack("{sb}", "success", 1));
		return;
	}
	if (j->rc == 423) {
		locked_error(v, j->req);
		return;
	}
	zk_http_error(j->req, (unsigned)j->rc, j->error ? j->error : "Internal error", j->error_code);
}

struct audit_arg {
	char action[32], user[130], key[256], target[130], error[64], ip[48];
	bool success;
};

static int audit_apply(struct vault *v, struct job *j)
{
	struct audit_arg *a = j->arg;
	struct audit_event e = { .action = a->action, .user_id = a->user, .secret_key = a->key, .target_user_id = a->target, .error = a->error, .ip = a->ip, .success = a->success };
	return audit_append(v, writer_state(v->writer), &e) == 0 ? 0 : 500;
}

static struct audit_arg *audit_job(struct vault *v, const char *action, const char *user, const char *secret_key,
				   const char *target, bool success, const char *error, const char *ip);

void audit_async_target(struct vault *v, const char *action, const char *user, const char *target, bool success,
			const char *error, const char *ip)
{
	audit_job(v, action, user, NULL, target, success, error, ip);
}

void audit_async(struct vault *v, const char *action, const char *user, const char *secret_key, bool success,
		 const char *error, const char *ip)
{
	audit_job(v, action, user, secret_key, NULL, success, error, ip);
}

static struct audit_arg *audit_job(struct vault *v, const char *action, const char *user, const char *secret_key,
				   const char *target, bool success, const char *error, const char *ip)
{
	struct job *j = job_new(audit_apply, NULL, NULL, NULL);
	struct audit_arg *a = calloc(1, sizeof(*a));
	if (!j || !a) {
		free(j);
		free(a);
		return NULL;
	}
	snprintf(a->target, sizeof(a->target), "%s", target ? target : "");
	snprintf(a->action, sizeof(a->action), "%s", action);
	snprintf(a->user, sizeof(a->user), "%s", user ? user : "system");
	snprintf(a->key, sizeof(a->key), "%s", secret_key ? secret_key : "");
	snprintf(a->error, sizeof(a->error), "%s", error ? error : "");
	snprintf(a->ip, sizeof(a->ip), "%s", ip ? ip : "");
	a->success = success;
	j->arg = a;
	j->free_arg = free;
	writer_submit(v->writer, j);
	return a;
}

static void submit_deferred(struct zk_http_req *r, void *arg)
{
	struct job *j = arg;
	writer_submit(j->writer, j);
}

void defer_job(struct vault *v, struct zk_http_req *r, struct job *j)
{
	j->req = r;
	j->writer = v->writer;
	zk_http_defer(r, submit_deferred, j);
}
