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
/* Free the copies; keep the arrays for the next interval. */
void jm_batch_builder_reset(struct jm_batch_builder *bb);
#endif
