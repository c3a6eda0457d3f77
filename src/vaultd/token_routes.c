/* POST /tokens, DELETE /tokens/:tokenId, DELETE /tokens/user/:userId. */
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "vaultd/audit.h"
#include "vaultd/common.h"
#include "vaultd/limiter.h"
#include "vaultd/routes.h"
#include "vaultd/tokens.h"

struct token_arg {
	char jti[33];
	char sub[130];
	char by[130];
	char ip[48];
	int64_t exp_ms;
	int64_t not_before;
	json_int_t revoked;
};

static int issue_apply(struct vault *v, struct job *j)
{
	struct token_arg *a = j->arg;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(v->db, "INSERT INTO tokens(jti, sub, exp) VALUES(?,?,?)", -1, &q, NULL) != SQLITE_OK)
		return 500;
	sqlite3_bind_text(q, 1, a->jti, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, a->sub, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, a->exp_ms);
	int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : 500;
	sqlite3_finalize(q);
	struct audit_event e = { "token.issued", a->sub, NULL, NULL, a->jti, NULL, a->ip, true };
	if (rc == 0 && audit_append(v, writer_state(v->writer), &e) != 0)
		rc = 500;
	if (rc)
		j->error = "Failed to issue token";
	return rc;
}

void handle_token_issue(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	unsigned perms;
	int64_t ttl;
	char details[160];
	struct limiter_status ls;

	if (!require_management(v, r) || !body_object(r, &body))
		return;
	const char *problem = validate_issue_body(body, &perms, &ttl, details, sizeof(details));
	if (problem) {
		validation_error(r, "Invalid request body", problem);
		json_decref(body);
		return;
	}
	const char *uid = json_string_value(json_object_get(body, "userId"));
	/* Keyed by the validated user id, after authentication: an attacker cannot exhaust another's budget. */
	limiter_peek(v->token_limiter, uid, &ls);
	limiter_headers(r, &ls);
	if (ls.blocked) {
		zk_http_reply(r, 429, json_pack("{sssssI}", "error", "Too many token requests. Please try again later.",
						"code", "RATE_LIMIT_EXCEEDED", "retryAfter", (json_int_t)ls.retry_after_s));
		json_decref(body);
		return;
	}
	if (!require_unlocked(v, r)) {
		json_decref(body);
		return;
	}
	json_t *allowed = json_object_get(body, "allowedSecrets");
	allowed = allowed ? json_incref(allowed) : json_pack("[s]", "*");
	struct token_arg *a = calloc(1, sizeof(*a));
	char *token = NULL;
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	if (v->keys && a)
		token = token_issue(v, v->keys, uid, allowed, perms, ttl, a->jti, &a->exp_ms);
	zk_brlock_rdunlock(&v->state_lock, slot);
	json_decref(allowed);
	if (!token) {
		free(a);
		json_decref(body);
		zk_http_error(r, 500, "Failed to issue token", NULL);
		return;
	}
	limiter_hit(v->token_limiter, uid);
	snprintf(a->sub, sizeof(a->sub), "%s", uid);
	client_address(v, r, a->ip);
	struct job *j = job_new(issue_apply, NULL, job_reply_done, r);
	j->arg = a;
	j->free_arg = free;
	j->reply = json_pack("{sssIss}", "token", token, "expiresIn", (json_int_t)ttl, "id", a->jti);
	free(token);
	json_decref(body);
	defer_job(v, r, j);
}

static bool check_revoke_body(struct zk_http_req *r, json_t **body)
{
	if (!body_object(r, body))
		return false;
	const char *problem = validate_revoke_body(*body);
	if (problem) {
		validation_error(r, "Invalid request body", problem);
		json_decref(*body);
		return false;
	}
	return true;
}

static int revoke_apply(struct vault *v, struct job *j)
{
	struct token_arg *a = j->arg;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(v->db, "INSERT OR IGNORE INTO revocations(jti, at) VALUES(?,?)", -1, &q, NULL) !=
	    SQLITE_OK)
		return 500;
	sqlite3_bind_text(q, 1, a->jti, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, zk_now_ms());
	int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : 500;
	sqlite3_finalize(q);
	struct audit_event e = { "token.revoked", a->by, NULL, NULL, a->jti, NULL, a->ip, true };
	if (rc == 0 && audit_append(v, writer_state(v->writer), &e) != 0)
		rc = 500;
	if (rc)
		j->error = "Failed to revoke token";
	return rc;
}

static void revoke_publish(struct vault *v, struct job *j)
{
	struct token_arg *a = j->arg;
	revocations_add(v->revoked, a->jti);
}

void handle_token_revoke(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	const char *id = r->param[0];

	if (!require_management(v, r) || !check_revoke_body(r, &body))
		return;
	/* Token ids are 32 hex characters; anything else cannot name a token we issued. */
	if (strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32) {
		json_decref(body);
		validation_error(r, "Invalid URL parameters", "tokenId: Expected a 32-character token id");
		return;
	}
	struct token_arg *a = calloc(1, sizeof(*a));
	struct job *j = job_new(revoke_apply, revoke_publish, job_reply_done, r);
	snprintf(a->jti, sizeof(a->jti), "%s", id);
	json_t *by = json_object_get(body, "revokedBy");
	snprintf(a->by, sizeof(a->by), "%s", by ? json_string_value(by) : "system");
	client_address(v, r, a->ip);
	json_decref(body);
	j->arg = a;
	j->free_arg = free;
	defer_job(v, r, j);
}

static int revoke_user_apply(struct vault *v, struct job *j)
{
	struct token_arg *a = j->arg;
	sqlite3_stmt *q;
	int64_t now = zk_now_ms();
	int rc;

	if (sqlite3_prepare_v2(v->db, "SELECT count(*) FROM tokens WHERE sub=? AND exp>? AND jti NOT IN "
				      "(SELECT jti FROM revocations)", -1, &q, NULL) != SQLITE_OK)
		return 500;
	sqlite3_bind_text(q, 1, a->sub, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	a->revoked = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
	sqlite3_finalize(q);

	/* Every token of this subject issued before now is revoked: also ones this process never saw. */
	a->not_before = now + 1;
	if (sqlite3_prepare_v2(v->db, "INSERT OR REPLACE INTO subjects(sub, not_before) VALUES(?,?)", -1, &q, NULL) !=
	    SQLITE_OK)
		return 500;
	sqlite3_bind_text(q, 1, a->sub, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, a->not_before);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : 500;
	sqlite3_finalize(q);
	struct audit_event e = { "tokens.revoked.user", a->by, NULL, a->sub, NULL, NULL, a->ip, true };
	if (rc == 0 && audit_append(v, writer_state(v->writer), &e) != 0)
		rc = 500;
	if (rc) {
		j->error = "Failed to revoke user tokens";
		return rc;
	}
	j->reply = json_pack("{sbs{sIsI}}", "success", 1, "revokedCount", "memory", a->revoked, "db", a->revoked);
	return 0;
}

static void revoke_user_publish(struct vault *v, struct job *j)
{
	struct token_arg *a = j->arg;
	revocations_set_not_before(v->revoked, a->sub, a->not_before);
}

void handle_token_revoke_user(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;

	if (!require_management(v, r))
		return;
	if (!valid_uuid(r->param[0])) {
		validation_error(r, "Invalid URL parameters", "userId: Invalid UUID format");
		return;
	}
	if (!check_revoke_body(r, &body))
		return;
	struct token_arg *a = calloc(1, sizeof(*a));
	struct job *j = job_new(revoke_user_apply, revoke_user_publish, job_reply_done, r);
	snprintf(a->sub, sizeof(a->sub), "%s", r->param[0]);
	json_t *by = json_object_get(body, "revokedBy");
	snprintf(a->by, sizeof(a->by), "%s", by ? json_string_value(by) : "system");
	client_address(v, r, a->ip);
	json_decref(body);
	j->arg = a;
	j->free_arg = free;
	defer_job(v, r, j);
}
