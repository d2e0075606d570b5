/* SQLite storage of the collector: one writer connection (WAL,
 * synchronous=FULL) behind a mutex.  Opening applies the schema and any
 * pending migration (schema.h).  Batches are stored in groups: one
 * transaction (one fsync'd COMMIT) for the whole group, one SAVEPOINT per
 * batch inside it, so a batch that fails is undone alone.  Storing is
 * idempotent on (agent_id, boot_id, seq) -- also between two batches of the
 * same group -- and keeps the rollup tables of schema v2 current.  A batch
 * whose key is stored already is a retry only when its window (start, end;
 * stored in every batches row since schema v1) is the stored one too;
 * otherwise the seq was reused by a different batch: JM_STORE_CONFLICT. */
#ifndef JM_COLL_STORE_H
#define JM_COLL_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "jobmeter.pb-c.h"

struct jm_coll_store;

enum jm_coll_store_rc {
	JM_STORE_STORED = 0,    /* committed */
	JM_STORE_DUPLICATE,     /* (agent_id, boot_id, seq) already stored: nothing written */
	JM_STORE_RETRY,         /* disk full, I/O error, busy, locked: try later (503) */
	JM_STORE_ERROR,         /* anything else (500) */
	JM_STORE_BUSY,          /* not attempted: the writer's queue is full or it is stopping (503) */
	JM_STORE_CONFLICT,      /* (agent_id, boot_id, seq) already stored for ANOTHER batch (a
				 * different window: the agent's seq restarted) -- nothing written,
				 * answered 409 so that the agent keeps the batch (res.err says why) */
};

struct jm_coll_store_result {
	enum jm_coll_store_rc rc;
	uint64_t seq_gap;       /* seqs missing between this agent's previous max and this batch */
	uint64_t stored_max_seq;   /* JM_STORE_CONFLICT: the highest seq stored for the
				    * agent_id (any boot), so the agent can skip past it */
	int sqlite_code;        /* extended result code of the failure, 0 on success */
	char err[160];          /* sqlite3_errmsg of the failure */
};

struct jm_coll_store_open_info {
	int version_before;     /* 0 = empty database */
	int version_after;
};

/* Open (creating if needed) and migrate.  On failure returns -1 with a
 * message in err. */
int jm_coll_store_open(const char *path, struct jm_coll_store **out,
		       struct jm_coll_store_open_info *info, char *err, size_t err_len)
	__attribute__((warn_unused_result));

/* Migrating a large database backfills rollups (tens of seconds at millions
 * of rows): fn hears of each migration when it starts (elapsed_s 0, on a
 * database that has data) and every interval_s while it runs. */
struct jm_coll_store_progress {
	void (*fn)(void *ctx, const char *migration, double elapsed_s);
	void *ctx;
	double interval_s;
};

/* jm_coll_store_open with progress reports (progress may be NULL). */
int jm_coll_store_open_ex(const char *path, struct jm_coll_store **out,
			  struct jm_coll_store_open_info *info,
			  const struct jm_coll_store_progress *progress, char *err, size_t err_len)
	__attribute__((warn_unused_result));
/* One batch of a group (jm_coll_store_batches). */
struct jm_coll_store_item {
	const Jobmeter__V1__Batch *batch;   /* in: validated (jm_coll_decode_batch) */
	int64_t received_ns;                /* in: stored as batches.received_ns */
	struct jm_coll_store_result res;    /* out: this batch's own outcome */
};

/* Store n validated batches in ONE transaction, each inside its own
 * savepoint, then COMMIT once.  Every items[i].res is set: STORED or
 * DUPLICATE only when the COMMIT that contains the batch succeeded; a batch
 * whose statements fail is rolled back to its savepoint and gets its own
 * error while the others go on; when the transaction as a whole fails
 * (BEGIN, COMMIT, an error that ends the transaction, the database file
 * replaced) every batch not already failed on its own gets that failure.
 * Returns 0 when the transaction committed, -1 when it did not.
 * Thread-safe (serialised with every other use of the connection). */
int jm_coll_store_batches(struct jm_coll_store *st, struct jm_coll_store_item *items, size_t n)
	__attribute__((warn_unused_result));
/* Store one validated batch: a group of one.  Thread-safe. */
enum jm_coll_store_rc jm_coll_store_batch(struct jm_coll_store *st, const Jobmeter__V1__Batch *b,
					  int64_t received_ns, struct jm_coll_store_result *res)
	__attribute__((warn_unused_result));
/* 0 when the database file is still the one opened and a trivial read
 * works, -1 otherwise.  Thread-safe. */
int jm_coll_store_healthy(struct jm_coll_store *st) __attribute__((warn_unused_result));
void jm_coll_store_close(struct jm_coll_store *st);

/* Register jm_dhist_one / jm_dhist_merge / jm_dhist_agg (run-duration
 * histogram, rollup_hist.h) on a connection; migration 2 needs them. */
int jm_coll_store_register_functions(void *sqlite3_db) __attribute__((warn_unused_result));
#endif
