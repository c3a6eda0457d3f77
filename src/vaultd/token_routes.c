/* POST /tokens, DELETE /tokens/:tokenId, DELETE /tokens/user/:userId, POST /tokens/introspect. */
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/tokenchain.h"
#include "vaultd/audit.h"
#include "vaultd/ceilings.h"
#include "vaultd/common.h"
#include "vaultd/limiter.h"
#include "vaultd/routes.h"
#include "vaultd/tokens.h"

struct token_arg {
	char jti[33];
	char sub[130];
	char by[130];
	char ip[48];
	char aud[129];
	int64_t exp_ms;
	int64_t not_before;
	int64_t ttl;
	unsigned perms;
	uint32_t max_uses;
	json_t *allowed;
	json_int_t revoked;
	uint64_t epoch;
	json_t *jtis; /* user revocation: the token ids it revoked */
};

static void token_arg_free(void *p)
{
	struct token_arg *a = p;
	json_decref(a->allowed);
	json_decref(a->jtis);
	free(a);
}

static int64_t subject_not_before(sqlite3 *db, const char *sub)
{
	sqlite3_stmt *q;
	int64_t nb = 0;
	if (sqlite3_prepare_v2(db, "SELECT not_before FROM subjects WHERE sub=?", -1, &q, NULL) != SQLITE_OK)
		return INT64_MAX; /* refuse to issue rather than issue below a not-before */
	sqlite3_bind_text(q, 1, sub, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		nb = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return nb;
}

/*
 * Signing happens here, in the writer, so that iat follows commit order: every token a revocation snapshot does
 * not contain has an iat above the snapshot's coverage bound (revlist.c), and none is below its subject's
 * not-before.
 */
static int issue_apply(struct vault *v, struct job *j)
{
	struct token_arg *a = j->arg;
	sqlite3_stmt *q;
	unsigned char le[8];

	if (!v->keys)
		return 423;
	int64_t nb = subject_not_before(v->db, a->sub);
	if (nb == INT64_MAX)
		return 500;
	int64_t iat = revocations_next_iat(v->revoked, zk_now_ms(), nb);
	char *token = token_issue(v, v->keys, a->sub, a->allowed, a->perms, a->ttl, a->aud[0] ? a->aud : NULL,
				  a->max_uses, iat, a->jti, &a->exp_ms);
	if (!token) {
		j->error = "Failed to issue token";
		return 500;
	}
	j->reply = json_pack("{sssIss}", "token", token, "expiresIn", (json_int_t)a->ttl, "id", a->jti);
	sodium_memzero(token, strlen(token));
	free(token);
	if (sqlite3_prepare_v2(v->db, "INSERT INTO tokens(jti, sub, exp) VALUES(?,?,?)", -1, &q, NULL) != SQLITE_OK)
		return 500;
	sqlite3_bind_text(q, 1, a->jti, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, a->sub, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, a->exp_ms);
	int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : 500;
	sqlite3_finalize(q);
	zk_store_u64le(le, (uint64_t)iat);
	if (rc == 0 && store_meta_put(v->db, "token_last_iat", le, sizeof(le)) != 0)
		rc = 500;
	struct audit_event e = { "token.issued", a->sub, NULL, NULL, a->jti, NULL, a->ip, true };
	if (rc == 0 && audit_append(v, writer_state(v->writer), &e) != 0)
		rc = 500;
	if (rc)
		j->error = "Failed to issue token";
	return rc;
}

/* Optional "aud" (an agent id the token is for) and "maxUses" (requests it and its descendants may make). */
static const char *issue_extras(const json_t *body, struct token_arg *a)
{
	json_t *aud = json_object_get(body, "aud");
	if (aud) {
		const char *s = json_string_value(aud);
		if (!s || !zk_chain_aud_valid(s, strlen(s)))
			return "aud: Expected 1-128 characters of letters, digits and ._:@-";
		snprintf(a->aud, sizeof(a->aud), "%s", s);
	}
	json_t *uses = json_object_get(body, "maxUses");
	if (uses) {
		if (!json_is_integer(uses) || json_integer_value(uses) < 1 || json_integer_value(uses) > UINT32_MAX)
			return "maxUses: Expected an integer from 1 to 4294967295";
		a->max_uses = (uint32_t)json_integer_value(uses);
	}
	return NULL;
}

void handle_token_issue(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	unsigned perms;
	int64_t ttl;
	char details[160];
	struct limiter_status ls;

	if (!require_management(v, r) || !require_session(v, r) || !body_object(r, &body))
		return;
	const char *problem = validate_issue_body(body, &perms, &ttl, details, sizeof(details));
	struct token_arg *a = calloc(1, sizeof(*a));
	if (!a) {
		json_decref(body);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	if (!problem)
		problem = issue_extras(body, a);
	if (problem) {
		validation_error(r, "Invalid request body", problem);
		token_arg_free(a);
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
		token_arg_free(a);
		json_decref(body);
		return;
	}
	if (!require_unlocked(v, r)) {
		token_arg_free(a);
		json_decref(body);
		return;
	}
	json_t *allowed = json_object_get(body, "allowedSecrets");
	a->allowed = allowed ? json_incref(allowed) : json_pack("[s]", "*");
	a->perms = perms;
	a->ttl = ttl;
	snprintf(a->sub, sizeof(a->sub), "%s", uid);
	json_decref(body);
	/* The ceiling is checked here for a clear answer, and again by every verification. */
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	const struct ceiling *c = ceilings_find(v->ceilings, a->sub);
	problem = c ? ceiling_check_grant(c, a->allowed, perms, ttl, details, sizeof(details)) : NULL;
	zk_brlock_rdunlock(&v->state_lock, slot);
	if (problem) {
		zk_http_reply(r, 403, json_pack("{ssssss}", "error", "Grant exceeds the capability ceiling", "code",
						"CEILING_EXCEEDED", "details", problem));
		audit_async(v, "token.denied.ceiling", a->sub, NULL, false, "ceiling exceeded", NULL);
		token_arg_free(a);
		return;
	}
	limiter_hit(v->token_limiter, a->sub); /* uid belonged to the body, freed above */
	client_address(v, r, a->ip);
	struct job *j = job_new(issue_apply, NULL, job_reply_done, r);
	j->arg = a;
	j->free_arg = token_arg_free;
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

/* The next revocation epoch, inside the writer's transaction (so jobs of one batch get distinct ones). */
static int next_epoch(sqlite3 *db, uint64_t *epoch)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(epoch), 0) + 1 FROM revlog", -1, &q, NULL) != SQLITE_OK)
		return -1;
	int rc = sqlite3_step(q) == SQLITE_ROW ? 0 : -1;
	*epoch = (uint64_t)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return rc;
}

/* Records jti as revoked (explicitly) and in the distribution log at epoch; 1 when it was new, 0, or -1. */
static int revoke_id(sqlite3 *db, const char *jti, uint64_t epoch, int64_t now)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO revocations(jti, at) VALUES(?,?)", -1, &q, NULL) !=
	    SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, jti, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(q);
	if (rc || sqlite3_changes(db) == 0)
		return rc;
	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO revlog(epoch, jti) VALUES(?,?)", -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)epoch);
	sqlite3_bind_text(q, 2, jti, -1, SQLITE_STATIC);
	rc = sqlite3_step(q) == SQLITE_DONE ? 1 : -1;
	sqlite3_finalize(q);
	return rc;
}

static int revoke_apply(struct vault *v, struct job *j)
{
	struct token_arg *a = j->arg;
	if (next_epoch(v->db, &a->epoch) != 0)
		return 500;
	int rc = revoke_id(v->db, a->jti, a->epoch, zk_now_ms()) < 0 ? 500 : 0;
	struct audit_event e = { "token.revoked", a->by, NULL, NULL, a->jti, NULL, a->ip, true };
	if (rc == 0 && audit_append(v, writer_state(v->writer), &e) != 0)
		rc = 500;
	if (rc)
		j->error = "Failed to revoke token";
	return rc;
}

static void publish_epoch(struct vault *v, uint64_t epoch)
{
	if (epoch > revocations_epoch(v->revoked))
		revocations_set_epoch(v->revoked, epoch);
}

static void revoke_publish(struct vault *v, struct job *j)
{
	struct token_arg *a = j->arg;
	revocations_add(v->revoked, a->jti);
	publish_epoch(v, a->epoch);
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
	/* Any revocation id: a root's jti, or an attenuation block's id (which revokes that block's descendants). */
	snprintf(a->jti, sizeof(a->jti), "%s", id);
	json_t *by = json_object_get(body, "revokedBy");
	snprintf(a->by, sizeof(a->by), "%s", by ? json_string_value(by) : "system");
	client_address(v, r, a->ip);
	json_decref(body);
	j->arg = a;
	j->free_arg = token_arg_free;
	defer_job(v, r, j);
}

static int revoke_user_apply(struct vault *v, struct job *j)
{
	struct token_arg *a = j->arg;
	sqlite3_stmt *q;
	int64_t now = zk_now_ms();
	int rc = 0;

	/* The subject's live tokens are also revoked by id, so the published revocation list needs no subject
	   names and stays exact; not-before covers anything this vault never recorded. */
	if (sqlite3_prepare_v2(v->db, "SELECT jti FROM tokens WHERE sub=? AND exp>? AND jti NOT IN "
				      "(SELECT jti FROM revocations)", -1, &q, NULL) != SQLITE_OK)
		return 500;
	sqlite3_bind_text(q, 1, a->sub, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	a->jtis = json_array();
	while (sqlite3_step(q) == SQLITE_ROW)
		json_array_append_new(a->jtis, json_string((const char *)sqlite3_column_text(q, 0)));
	sqlite3_finalize(q);
	a->revoked = (json_int_t)json_array_size(a->jtis);
	if (a->revoked && next_epoch(v->db, &a->epoch) != 0)
		return 500;
	size_t i;
	json_t *x;
	json_array_foreach(a->jtis, i, x) {
		if (revoke_id(v->db, json_string_value(x), a->epoch, now) < 0)
			return 500;
	}

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
	size_t i;
	json_t *x;
	revocations_set_not_before(v->revoked, a->sub, a->not_before);
	json_array_foreach(a->jtis, i, x)
		revocations_add(v->revoked, json_string_value(x));
	publish_epoch(v, a->epoch);
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
	j->free_arg = token_arg_free;
	defer_job(v, r, j);
}

/* RFC 7662 shape: {"active": false} and nothing else for a token that would not be accepted now. */
static json_t *introspection(const struct vault *v, const struct claims *c)
{
	json_t *allowed = json_array(), *perms = json_array(), *rids = json_array();
	char scope[64] = "";
	for (int i = 0; i < c->npatterns; i++)
		json_array_append_new(allowed, json_string(c->patterns + c->pattern_off[i]));
	for (unsigned b = 1; b <= ZK_CHAIN_PERM_ADMIN; b <<= 1)
		if (c->perms & b) {
			json_array_append_new(perms, json_string(zk_chain_perm_name(b)));
			if (scope[0])
				strcat(scope, " ");
			strcat(scope, zk_chain_perm_name(b));
		}
	json_array_append_new(rids, json_string(c->jti));
	for (int i = 0; i < c->nrids; i++)
		json_array_append_new(rids, json_string(c->rids[i]));
	json_t *o = json_pack("{sbsssssssssIsIsssosososi}", "active", 1, "token_type", "zkvault-capability", "iss",
			      v->vault_id_hex, "sub", c->sub, "jti", c->jti, "iat", (json_int_t)(c->iat_ms / 1000),
			      "exp", (json_int_t)(c->exp_ms / 1000), "scope", scope, "allowedSecrets", allowed,
			      "permissions", perms, "revocationIds", rids, "depth", c->nrids);
	if (c->aud[0])
		json_object_set_new(o, "aud", json_string(c->aud));
	if (c->max_uses)
		json_object_set_new(o, "maxUses", json_integer(c->max_uses));
	if (v->cfg.group_id)
		json_object_set_new(o, "groupId", json_string(v->cfg.group_id));
	return o;
}

void handle_token_introspect(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	json_t *body;
	struct claims *c;

	if (!require_management(v, r) || !require_session(v, r) || !body_object(r, &body))
		return;
	const char *token = json_string_value(json_object_get(body, "token"));
	if (!token) {
		json_decref(body);
		validation_error(r, "Invalid request body", "token: Required");
		return;
	}
	if (!(c = malloc(sizeof(*c)))) {
		json_decref(body);
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	enum token_status st = token_inspect(v, token, c);
	zk_brlock_rdunlock(&v->state_lock, slot);
	json_decref(body);
	zk_http_reply(r, 200, st == TOKEN_OK ? introspection(v, c) : json_pack("{sb}", "active", 0));
	free(c);
}
