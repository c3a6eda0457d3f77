#ifndef ZK_VAULTD_WRITER_H
#define ZK_VAULTD_WRITER_H

/*
 * The single writer thread. Every change to the vault is a job; the writer runs every job that is waiting
 * inside one SQLite transaction (each under its own savepoint), commits once (one fsync for the batch: group
 * commit), then publishes the in-memory changes under the state lock and only then answers each job.
 */
#include <stdbool.h>

#include "vaultd/vaultd.h"

struct job;
typedef int (*job_apply_fn)(struct vault *v, struct job *j);
typedef void (*job_publish_fn)(struct vault *v, struct job *j);
typedef void (*job_done_fn)(struct vault *v, struct job *j);

struct job {
	job_apply_fn apply;     /* writer thread, inside the transaction; returns 0 or an HTTP status */
	job_publish_fn publish; /* after a durable commit, under the state write lock; may be NULL */
	job_done_fn done;       /* after commit (or failure); sets the reply; NULL for synchronous jobs */
	struct zk_http_req *req;
	struct writer *writer; /* set by defer_job */
	int rc;
	void *arg;
	void (*free_arg)(void *arg);
	struct job *next;

	/* Set by apply/done: the success body, or an error message for rc. */
	json_t *reply;
	const char *error;
	const char *error_code;

	bool sync;
	bool finished;
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_cond;
};

/* State only the writer thread touches; published copies live in struct vault. */
struct writer_state {
	uint64_t revision;
	unsigned char digest[ZK_HASH_BYTES];
	uint64_t audit_seq;
	unsigned char audit_head[ZK_HASH_BYTES];
	uint64_t entries_since_checkpoint;
	bool checkpoint_due;
	/* Set by a job that switches keys (rekey): the header is MAC'd with these, and no checkpoint is signed
	 * until the new keys are published. Reset after every batch. */
	const struct zk_keys *next_keys;
	unsigned npending; /* entries in writer_pending_* */
};

struct writer *writer_start(struct vault *v);
void writer_stop(struct writer *w);
struct writer_state *writer_state(struct writer *w);

/* Hands a job to the writer; the job's done() answers the request. */
void writer_submit(struct writer *w, struct job *j);
/* Runs a job and waits for it; returns its rc. */
int writer_run(struct writer *w, struct job *j);
/* Wakes the writer so it drains the read-audit ring now. */
void writer_kick(struct writer *w);
/* Wakes an idle writer so it looks again at what is pending (reads in the ring: flushed within TICK_MS). */
void writer_wake(struct writer *w);

/*
 * Record entries written earlier in the running batch and not yet published: record_write looks here before
 * the published index, so two writes of one name in one batch get consecutive versions. The entry must stay
 * valid until the batch ends (the job owns it); a job that fails is rolled back with what it added.
 */
int writer_pending_add(struct writer *w, const struct index_entry *e);
const struct index_entry *writer_pending_get(struct writer *w, const unsigned char name_hash[ZK_HASH_BYTES]);

/*
 * Writes one new version of the record name (secrets.c), updating the digest and revision in st.
 * Returns 0, 1 when deleting what does not exist, -1 on error. out->sealed and out->older are malloc'd
 * (index_entry_release). Deletes the rows of versions past --max-versions.
 */
int record_write(struct vault *v, const struct zk_keys *k, struct writer_state *st, const char *name,
		 json_t *plain, bool tombstone, struct index_entry *out, bool *created);
/*
 * record_write as a job makes it, with the vault's keys: 423 when locked, 404 when deleting what does not
 * exist, 500 on error, else 0 with out registered as pending for the rest of the batch (the job owns out until
 * it is published). Only the OCMT conversion, writing distinct names into a vault without an index, calls
 * record_write itself.
 */
int record_job_write(struct vault *v, const char *name, json_t *plain, bool tombstone, struct index_entry *out,
		     bool *created);

struct job *job_new(job_apply_fn apply, job_publish_fn publish, job_done_fn done, struct zk_http_req *req);
void job_free(struct job *j);

#endif
