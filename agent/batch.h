/* Collects what one shipped batch carries: deep copies of the runs that
 * finished and of the windows emitted during the interval (the jobs module
 * frees its records right after the callbacks).  A copy whose end lies
 * before its start (the wall clock stepped back between the two readings)
 * gets end = start, for the same reason as jm_batch_window_end().  At the interval tick the
 * agent takes a jm_batch view, renders it (protobuf, OTLP) and resets. */
#ifndef JM_BATCH_H
#define JM_BATCH_H
#include "model.h"

struct jm_batch_builder {
	size_t n_runs, cap_runs;
	struct jm_run_record *runs;
	size_t n_windows, cap_windows;
	struct jm_window_record *windows;
};

void jm_batch_builder_init(struct jm_batch_builder *bb);
void jm_batch_builder_free(struct jm_batch_builder *bb);
int jm_batch_builder_add_run(struct jm_batch_builder *bb, const struct jm_run_record *r)
	__attribute__((warn_unused_result));
int jm_batch_builder_add_window(struct jm_batch_builder *bb, const struct jm_window_record *w)
	__attribute__((warn_unused_result));
/* The end of a batch window that started at start_ns, read now_ns from
 * CLOCK_REALTIME: never before its start.  A wall clock stepped back (NTP,
 * an operator) would otherwise give a window that "ends before it starts",
 * which the collector refuses with 400 and the agent then moves to
 * rejected/ with every job's figures in it.  The clamped window is empty;
 * the next one starts at the same instant, so windows still tile. */
int64_t jm_batch_window_end(int64_t start_ns, int64_t now_ns);
/* Point b's run/window arrays at the builder's copies (valid until reset). */
void jm_batch_builder_view(const struct jm_batch_builder *bb, struct jm_batch *b);
/* What one batch may hold, as the collector enforces it: at most
 * JM_COLL_ITEMS_MAX (tools/collector/ingest.h) runs + windows, and a body of
 * at most --max-body bytes on the wire (default 4 MiB; the shipper gzips, so
 * a rendered size within the same bound always fits).  Beyond either, the
 * collector answers 400/413 and the agent moves the batch, with every job's
 * figures, to rejected/: the agent splits instead (jm_batch_render_parts). */
#define JM_BATCH_MAX_ITEMS 10000
#define JM_BATCH_MAX_BYTES ((size_t)4 << 20)

/* Hands out the sequence number of the next part (jm_spool_next_seq). */
typedef int (*jm_batch_seq_fn)(void *ctx, uint64_t *seq);
/* Stores one rendered part (jm_spool_put); buf is freed after it returns. */
typedef int (*jm_batch_put_fn)(void *ctx, const struct jm_batch *part, const uint8_t *buf, size_t len);

/* Render b (its seq is ignored) as as few protobuf batches as the limits
 * allow, runs first, then windows, each record whole and in order.  Every
 * part carries b's agent, window and loss counters; only the first carries
 * b's host usage (the others send zeros: the capacity of the interval must
 * be counted once).  A part over max_bytes is cut in half until it fits;
 * one record that does not fit on its own is sent alone all the same (the
 * collector then refuses that one record's batch, not its neighbours').
 * An empty batch is one part (host usage and loss still travel).
 * Each part takes its sequence number before it is rendered, and keeps it
 * while it is cut to size, so no number is skipped for size.  Returns 0,
 * or the first error of seq(), put() or rendering (-errno); *n_parts and
 * *n_items say how many parts and records were put before it. */
int jm_batch_render_parts(const struct jm_batch *b, size_t max_items, size_t max_bytes,
			  jm_batch_seq_fn seq, jm_batch_put_fn put, void *ctx,
			  size_t *n_parts, size_t *n_items) __attribute__((warn_unused_result));
/* Free the copies; keep the arrays for the next interval. */
void jm_batch_builder_reset(struct jm_batch_builder *bb);
#endif
