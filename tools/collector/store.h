/* SQLite storage of the collector: one writer connection (WAL,
 * synchronous=FULL) behind a mutex.  Opening applies the schema and any
 * pending migration (schema.h); storing a batch is one transaction that is
 * idempotent on (agent_id, boot_id, seq) and keeps the rollup tables of
 * schema v2 current. */
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
};

struct jm_coll_store_result {
	enum jm_coll_store_rc rc;
	uint64_t seq_gap;       /* seqs missing between this agent's previous max and this batch */
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
/* Store one validated batch (jm_coll_decode_batch).  Thread-safe. */
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
