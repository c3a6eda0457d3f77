#ifndef ZK_VAULTD_AUDIT_H
#define ZK_VAULTD_AUDIT_H

/*
 * The audit log: append-only, hash-chained over the stored ciphertext, each entry encrypted with the audit
 * AEAD subkey (or sealed to the audit X25519 key while locked). Reads are coalesced in a ring that the writer
 * commits at least every 100 ms; everything else is committed in the transaction of the change it records.
 */
#include <stdio.h>

#include "vaultd/writer.h"

struct audit_event {
	const char *action;
	const char *user_id;
	const char *secret_key;
	const char *target_user_id;
	const char *token_id;
	const char *error;
	const char *ip;
	bool success;
};

/*
 * The entries of an audit row's opened plaintext (kind 1 or 2, row seq), oldest first: one for a plain entry,
 * each entry of a batch of reads (compact or, as written before 2026-11-27, an array) with its "part". Takes the
 * reference to row; NULL when it is not a valid row of that kind and seq (docs/FORMAT.md §Audit log).
 */
json_t *audit_entries(json_t *row, int kind, uint64_t seq);

/* Writer thread, inside a transaction. */
int audit_append(struct vault *v, struct writer_state *st, const struct audit_event *e);
int audit_load_state(struct vault *v, struct writer_state *st);
int audit_save_state(struct vault *v, const struct writer_state *st);
void audit_flush_reads(struct vault *v, struct writer_state *st);
bool audit_reads_pending(struct vault *v);
/* Writer thread, when idle: returns the read ring's pages beyond its first few to the kernel. */
void audit_release_idle(struct vault *v);
void audit_maybe_checkpoint(struct vault *v, struct writer_state *st, bool force);

/* Writer thread, inside the rekey transaction: re-encrypts every entry under the new keys and rebuilds the
 * chain; the old checkpoints no longer verify and are replaced by one signed with the new key. */
int audit_rekey(struct vault *v, struct writer_state *st, const struct zk_keys *old, const struct zk_keys *nk);

/* Any thread: records a read (or read denial) without waiting. Returns -1 when the ring is full. */
int audit_read(struct vault *v, const struct audit_event *e);
/* The same, with the agent id the caller reported (X-Agent-Id; may be NULL), kept beside the token's sub and jti. */
int audit_read_agent(struct vault *v, const struct audit_event *e, const char *agent_id);
struct read_audit *read_audit_new(void);
void read_audit_free(struct read_audit *ra);

/* Decrypted entries, newest first; secret_key filters. Caller holds the state read lock and the vault is
 * unlocked. */
json_t *audit_query(struct vault *v, const char *secret_key, long limit);

/* Offline check of the chain and the signed checkpoints. Returns 0 when intact. */
int audit_verify(struct vault *v, FILE *out);

#endif
