/* The route table (one place, like Redis's command table) and the small management routes. */
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "lib/paseto.h"
#include "vaultd/audit.h"
#include "vaultd/ceilings.h"
#include "vaultd/common.h"
#include "vaultd/personal.h"
#include "vaultd/recovery.h"
#include "vaultd/rekey.h"
#include "vaultd/revlist.h"
#include "vaultd/routes.h"
#include "vaultd/sealed.h"
#include "vaultd/session.h"
#include "vaultd/threshold.h"
#include "vaultd/tokens.h"

static void handle_health(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	zk_http_reply(r, 200, json_pack("{sssosbsb}", "status", "ok", "groupId",
					 v->cfg.group_id ? json_string(v->cfg.group_id) : json_null(),
					 "vaultInitialized", v->initialized, "vaultUnlocked", vault_unlocked(v)));
}

static void handle_status(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	if (!require_management(v, r))
		return;
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	uint64_t revision = v->revision;
	zk_brlock_rdunlock(&v->state_lock, slot);
	json_t *o = json_pack("{sbsbsIsssI}", "initialized", v->initialized, "unlocked", vault_unlocked(v),
			      "expiresIn", (json_int_t)vault_expires_in(v), "kind", v->cfg.kind, "revision",
			      (json_int_t)revision);
	if (v->initialized && !v->ocmt_pending)
		json_object_set_new(o, "vaultId", json_string(v->vault_id_hex));
	if (v->ocmt_pending)
		json_object_set_new(o, "pendingConversion", json_string("ocmt-group-vault"));
	zk_http_reply(r, 200, o);
}

static void handle_well_known(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	char transport[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(transport, sizeof(transport), v->transport_pk, 32, sodium_base64_VARIANT_ORIGINAL);
	json_t *o = json_pack("{sssssosbss}", "format", "zkvault-1", "kind", v->cfg.kind, "groupId",
			      v->cfg.group_id ? json_string(v->cfg.group_id) : json_null(), "initialized",
			      v->initialized && !v->ocmt_pending, "transportPublicKey", transport);
	if (v->initialized && !v->ocmt_pending) {
		char paserk[ZK_PASERK_K4_PUBLIC_MAX], pid[ZK_PASERK_K4_PID_MAX], salt[32];
		zk_paserk_k4_public(paserk, v->token_pk);
		zk_paserk_k4_pid(pid, v->token_pk);
		sodium_bin2base64(salt, sizeof(salt), v->kdf.salt, ZK_SALT_BYTES, sodium_base64_VARIANT_ORIGINAL);
		unsigned slot = zk_brlock_rdlock(&v->state_lock);
		uint64_t revision = v->revision;
		zk_brlock_rdunlock(&v->state_lock, slot);
		json_object_set_new(o, "vaultId", json_string(v->vault_id_hex));
		json_object_set_new(o, "tokenPublicKey", json_string(paserk));
		json_object_set_new(o, "tokenKeyId", json_string(pid));
		json_object_set_new(o, "revision", json_integer((json_int_t)revision));
		json_object_set_new(o, "kdf", json_pack("{sssIsIss}", "algorithm", "argon2id13", "opslimit",
							(json_int_t)v->kdf.opslimit, "memlimit",
							(json_int_t)v->kdf.memlimit, "salt", salt));
	}
	zk_http_reply(r, 200, o);
}

static void handle_audit(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	const char *key = r->param[0];
	const char *lq = zk_http_query(r, "limit");
	long limit = key ? 50 : 100;

	if (!require_management(v, r))
		return;
	if (key && secret_name_problem(key)) {
		char details[160];
		snprintf(details, sizeof(details), "key: %s", secret_name_problem(key));
		validation_error(r, "Invalid URL parameters", details);
		return;
	}
	if (lq) {
		char *end;
		limit = strtol(lq, &end, 10);
		if (!*lq || *end || limit < 1 || limit > 1000) {
			validation_error(r, "Invalid query parameters", "limit: Expected an integer from 1 to 1000");
			return;
		}
	}
	if (!require_unlocked(v, r))
		return;
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	json_t *logs = v->keys ? audit_query(v, key, limit) : NULL;
	zk_brlock_rdunlock(&v->state_lock, slot);
	if (!logs) {
		locked_error(v, r);
		return;
	}
	zk_http_reply(r, 200, json_pack("{so}", "logs", logs));
}

static void handle_metrics(struct zk_http_req *r, void *app)
{
	struct vault *v = app;
	char *text = NULL;
	if (!require_management(v, r))
		return;
	unsigned slot = zk_brlock_rdlock(&v->state_lock);
	size_t records = v->index.count;
	uint64_t revision = v->revision;
	size_t revoked = revocations_count(v->revoked);
	zk_brlock_rdunlock(&v->state_lock, slot);
	if (asprintf(&text,
		     "# TYPE zkvault_unlocked gauge\nzkvault_unlocked %d\n"
		     "# TYPE zkvault_records gauge\nzkvault_records %zu\n"
		     "# TYPE zkvault_revision gauge\nzkvault_revision %llu\n"
		     "# TYPE zkvault_revoked_tokens gauge\nzkvault_revoked_tokens %zu\n"
		     "# TYPE zkvault_reads_total counter\nzkvault_reads_total %llu\n"
		     "# TYPE zkvault_writes_total counter\nzkvault_writes_total %llu\n"
		     "# TYPE zkvault_denied_total counter\nzkvault_denied_total %llu\n"
		     "# TYPE zkvault_unlocks_total counter\nzkvault_unlocks_total %llu\n"
		     "# TYPE zkvault_unlock_failures_total counter\nzkvault_unlock_failures_total %llu\n"
		     "# TYPE zkvault_token_verifications_total counter\nzkvault_token_verifications_total %llu\n",
		     vault_unlocked(v), records, (unsigned long long)revision, revoked,
		     (unsigned long long)atomic_load(&v->n_reads), (unsigned long long)atomic_load(&v->n_writes),
		     (unsigned long long)atomic_load(&v->n_denied), (unsigned long long)atomic_load(&v->n_unlocks),
		     (unsigned long long)atomic_load(&v->n_unlock_failures),
		     (unsigned long long)token_cache_verifications(v->tcache)) < 0) {
		zk_http_error(r, 500, "Internal error", NULL);
		return;
	}
	char *copy = zk_wipe_strdup(text);
	free(text);
	zk_http_reply_text(r, 200, "text/plain; version=0.0.4", copy);
}

const struct zk_route vaultd_routes[] = {
	{ "GET", "/health", handle_health },
	{ "GET", "/.well-known/zkvault", handle_well_known },
	{ "POST", "/init", handle_init },
	{ "POST", "/import", handle_import },
	{ "GET", "/export", handle_export },
	{ "GET", "/unlock/challenge", handle_unlock_challenge },
	{ "POST", "/unlock", handle_unlock },
	{ "POST", "/lock", handle_lock },
	{ "POST", "/extend", handle_extend },
	{ "POST", "/password", handle_password },
	{ "POST", "/rekey", handle_rekey },
	{ "POST", "/recover", handle_recover },
	{ "GET", "/recovery", handle_recovery_status },
	{ "POST", "/recovery/phrase", handle_recovery_phrase },
	{ "POST", "/recovery/hardware", handle_recovery_hardware },
	{ "POST", "/recovery/social", handle_recovery_social },
	{ "DELETE", "/recovery/:method", handle_recovery_delete },
	{ "POST", "/threshold/setup", handle_threshold_setup },
	{ "GET", "/threshold", handle_threshold_status },
	{ "GET", "/threshold/shares/:adminId", handle_threshold_share },
	{ "POST", "/threshold/unlock/request", handle_threshold_request },
	{ "GET", "/threshold/unlock/:requestId", handle_threshold_request_status },
	{ "POST", "/threshold/unlock/:requestId/approve", handle_threshold_approve },
	{ "POST", "/threshold/unlock/:requestId/deny", handle_threshold_deny },
	{ "GET", "/status", handle_status },
	{ "GET", "/metrics", handle_metrics },
	{ "POST", "/tokens", handle_token_issue },
	{ "DELETE", "/tokens/user/:userId", handle_token_revoke_user },
	{ "DELETE", "/tokens/:tokenId", handle_token_revoke },
	{ "POST", "/tokens/introspect", handle_token_introspect },
	{ "GET", "/revocations", handle_revocations },
	{ "GET", "/policy/ceilings", handle_ceiling_get },
	{ "GET", "/policy/ceilings/:subject", handle_ceiling_get },
	{ "PUT", "/policy/ceilings/:subject", handle_ceiling_put },
	{ "DELETE", "/policy/ceilings/:subject", handle_ceiling_delete },
	{ "GET", "/audit", handle_audit },
	{ "GET", "/audit/secret/:key", handle_audit },
	{ "GET", "/capability", handle_capability },
	{ "GET", "/secrets", handle_secret_list },
	{ "GET", "/secrets/:key", handle_secret_get },
	{ "GET", "/secrets/:key/versions", handle_secret_versions },
	{ "POST", "/secrets/:key", handle_secret_put },
	{ "POST", "/secrets/:key/use", handle_secret_use },
	{ "DELETE", "/secrets/:key", handle_secret_delete },
	{ "GET", "/v1/integrations", handle_integration_list },
	{ "GET", "/v1/integrations/:service", handle_integration_get },
	{ "PUT", "/v1/integrations/:service", handle_integration_put },
	{ "DELETE", "/v1/integrations/:service", handle_integration_delete },
	{ "POST", "/v1/oauth/:service/start", handle_oauth_start },
	{ "GET", "/v1/oauth/callback", handle_oauth_callback },
	{ "POST", "/v1/oauth/:service/refresh", handle_oauth_refresh },
	{ "GET", "/v1/transcripts", handle_transcript_list },
	{ "GET", "/v1/transcripts/:id", handle_transcript_get },
	{ "POST", "/v1/transcripts/:id", handle_transcript_append },
};
const size_t vaultd_nroutes = sizeof(vaultd_routes) / sizeof(vaultd_routes[0]);
