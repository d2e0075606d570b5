/* Group commit for the collector.
 *
 * With synchronous=FULL every COMMIT waits for an fsync, so one transaction
 * per request bounds ingest by the disk's flush latency (about 156 batches/s
 * on the development VM).  Instead, request threads decode and validate in
 * parallel and hand the decoded batch to ONE writer thread through a
 * bounded queue, then wait.  The writer takes everything queued (up to
 * group_max batches; when batches are still being decoded it waits up to
 * group_wait_us for them to join), stores the group in ONE transaction with
 * a savepoint per batch (jm_coll_store_batches) and commits once, then
 * wakes every waiter with its own outcome.
 *
 * The contract of the HTTP API is unchanged: a submitter hears STORED or
 * DUPLICATE only after the COMMIT that contains its batch returned; a full
 * queue or a stopping writer is JM_STORE_BUSY, a failed commit
 * JM_STORE_RETRY or JM_STORE_ERROR: never a success for data not kept. */
#ifndef JM_COLL_WRITER_H
#define JM_COLL_WRITER_H
#include <stddef.h>
#include <stdint.h>

#include "tools/collector/metrics.h"
#include "tools/collector/store.h"

struct jm_coll_writer_config {
	unsigned queue_max;       /* batches waiting for the writer before RETRY (>= 1) */
	unsigned group_max;       /* most batches in one transaction (>= 1) */
	unsigned group_wait_us;   /* longest wait for announced batches to join a group */
};

struct jm_coll_writer;

/* Start the writer thread over an open store.  metrics may be NULL. */
int jm_coll_writer_start(struct jm_coll_store *st, struct jm_coll_metrics *metrics,
			 const struct jm_coll_writer_config *cfg, struct jm_coll_writer **out,
			 char *err, size_t err_len) __attribute__((warn_unused_result));

/* A request is about to submit a batch (it is decoding one): while any are
 * announced, the writer may wait a little for them to join its group.
 * Every announce is matched by exactly one jm_coll_writer_submit or
 * jm_coll_writer_cancel. */
void jm_coll_writer_announce(struct jm_coll_writer *w);
void jm_coll_writer_cancel(struct jm_coll_writer *w);

/* Queue one validated batch and wait until the transaction holding it has
 * committed or failed; *res is this batch's own outcome.  b must stay valid
 * until this returns.  Pass announced = 1 when jm_coll_writer_announce was
 * called for this batch.  Thread-safe. */
enum jm_coll_store_rc jm_coll_writer_submit(struct jm_coll_writer *w, const Jobmeter__V1__Batch *b,
					    int64_t received_ns, int announced,
					    struct jm_coll_store_result *res)
	__attribute__((warn_unused_result));

/* Refuse new batches (JM_STORE_BUSY), store those already queued, stop the
 * thread, wait for every submitter to have left, free.  No new call may
 * start once this returned (stop the HTTP server first). */
void jm_coll_writer_stop(struct jm_coll_writer *w);
#endif
