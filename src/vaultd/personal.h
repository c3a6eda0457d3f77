#ifndef ZK_VAULTD_PERSONAL_H
#define ZK_VAULTD_PERSONAL_H

/*
 * The personal vault's stores (--kind user; a group vault answers 404): integrations (integrations.c) and
 * encrypted transcripts (transcripts.c). Both are ordinary records of the same engine, named with a reserved
 * prefix that the secret-name validator cannot produce (it refuses ':'), so /secrets/:key can never address
 * them and /secrets, /capability leave them out. Names are MAC'd like every record name, so the prefix is not
 * visible on disk; /export carries them as ciphertext like any record.
 *
 *   integration:<service>             one credential per service (docs/FORMAT.md §Integration records)
 *   transcript:<id>                   a transcript's head: its version is the number of entries
 *   transcript:<id>:<seq>             entry seq (1, 2, …), written once, never changed
 *
 * Capability tokens reach them only through a pattern that names the prefix itself ("integration:*",
 * "integration:github", "transcript:*"): a bare "*" covers secrets, not these.
 */
#include <stdbool.h>

#include "vaultd/common.h"

#define INTEGRATION_PREFIX "integration:"
#define TRANSCRIPT_PREFIX "transcript:"
#define PERSONAL_ID_MAX 128

/* True for names of the reserved namespaces (anything with ':'): left out of /secrets and /capability. */
bool personal_reserved_name(const char *name);
/* NULL when s is a valid service or transcript id: 1..128 of [A-Za-z0-9._-]. */
const char *personal_id_problem(const char *s);
/* The token has perm and a pattern that starts with the reserved prefix of name and covers it. */
bool personal_token_allows(const struct claims *c, const char *name, unsigned perm);
/* 404 on a group vault. */
bool require_personal(struct vault *v, struct zk_http_req *r);

/*
 * Pure validators (fuzz/fuzz_personal.c): NULL when acceptable, else the details text (a constant or details).
 * integration_build turns a valid PUT body into the record plaintext (without name and timestamps).
 */
const char *integration_body_problem(const json_t *body, char *details, size_t n);
json_t *integration_build(const json_t *body);
/* The view of an integration record: metadata only, or with the credential. */
json_t *integration_view(const json_t *rec, bool with_credential);
const char *transcript_body_problem(const json_t *body);

/* Writer: one record version plus its audit entry, answered with reply (set by the caller; version added). */
struct personal_write {
	char name[VAULTD_NAME_MAX + 1];
	char name2[VAULTD_NAME_MAX + 24]; /* transcripts: the entry written after the head */
	json_t *plain, *plain2;
	bool tombstone;
	const char *action;
	char user[130], jti[33], ip[48];
	struct index_entry entry, entry2;
	json_t *reply;
	bool reply_as_is; /* answer reply without version/created (a read that refreshed) */
};

/* Hands a to the writer (which frees it); the job answers r. */
void personal_submit(struct vault *v, struct zk_http_req *r, struct personal_write *a);
/* The same job without deferring (for a request already suspended); the caller hands it to writer_submit. */
struct job *personal_job(struct personal_write *a, struct zk_http_req *r);
/* The latest version of a record, opened; the caller holds the state lock. 1 found, 0 not (or locked), -1. */
int personal_read(struct vault *v, const char *name, json_t **rec, uint64_t *version);

void handle_integration_list(struct zk_http_req *r, void *app);
void handle_integration_get(struct zk_http_req *r, void *app);
void handle_integration_put(struct zk_http_req *r, void *app);
void handle_integration_delete(struct zk_http_req *r, void *app);
void handle_oauth_start(struct zk_http_req *r, void *app);    /* oauth.c */
void handle_oauth_callback(struct zk_http_req *r, void *app); /* oauth.c */
void handle_oauth_refresh(struct zk_http_req *r, void *app);  /* oauth.c */
/* An oauth integration with a refresh token that expires within a minute (or has expired). */
bool oauth_refresh_due(const json_t *rec);
/* Refreshes rec (taken) on a thread, stores the new tokens and answers r: with the credential view when
 * capability, else {"success","service","expiresAt"}. */
void oauth_refresh(struct vault *v, struct zk_http_req *r, json_t *rec, bool capability, const char *user,
		   const char *jti, const char *ip);
/* Pure validator of the start body (fuzz/fuzz_personal.c). */
const char *oauth_start_problem(const json_t *body);
void handle_transcript_list(struct zk_http_req *r, void *app);
void handle_transcript_get(struct zk_http_req *r, void *app);
void handle_transcript_append(struct zk_http_req *r, void *app);

#endif
