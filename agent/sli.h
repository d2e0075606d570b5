/* The per-job SLI figures both metric exporters publish -- Prometheus
 * /metrics (metrics.h) and OTLP (otlp.h) -- aggregated by one piece of code
 * so the two cannot disagree on a bucket bound, an outcome, a database
 * figure or a loss reason.  The exporters differ only in how long they
 * accumulate (since start vs one batch) and how they spell the result.
 * Plain data and pure functions: no allocation, no locking. */
#ifndef JM_SLI_H
#define JM_SLI_H
#include <math.h>
#include <stdint.h>

#include "model.h"

/* Run-duration histogram bounds (seconds, upper-inclusive) for batch jobs:
 * one second to a day.  A duration above the last bound goes to the +Inf
 * bucket, index JM_SLI_RUN_BOUNDS. */
#define JM_SLI_RUN_BOUNDS 16
extern const double jm_sli_run_bounds[JM_SLI_RUN_BOUNDS];

#define JM_SLI_OUTCOMES 3   /* enum jm_outcome has three values */

/* Finished runs of one job.  Zero-initialise, then jm_sli_runs_add(). */
struct jm_sli_runs {
	uint64_t total;
	uint64_t by_outcome[JM_SLI_OUTCOMES];    /* indexed by enum jm_outcome */
	uint64_t restarts, oom_kills;
	uint64_t duration_buckets[JM_SLI_RUN_BOUNDS + 1];   /* per bucket, not cumulative */
	double   duration_s_sum;
};

/* Count r: an outcome outside the enum counts as unspecified, and a run
 * that ended before it started lasted 0 s (clocks of two sources). */
void jm_sli_runs_add(struct jm_sli_runs *s, const struct jm_run_record *r);

/* Database figures of one job and one database system.  Zero-initialise,
 * then jm_sli_db_add() every jm_db_stats of that system. */
struct jm_sli_db {
	uint64_t queries, errors, rows, rows_unknown;   /* saturating */
	uint64_t conns_unreadable;
	double   latency_s_sum;
	uint64_t buckets[JM_HIST_BUCKETS];       /* histogram.h, per bucket */
};

void jm_sli_db_add(struct jm_sli_db *s, const struct jm_db_stats *d);

/* The loss counters under their exported reason names, in export order. */
#define JM_SLI_LOSS_REASONS 8
struct jm_sli_reason {
	const char *reason;                      /* static string */
	uint64_t count;
};

void jm_sli_loss_reasons(const struct jm_loss *l, struct jm_sli_reason out[JM_SLI_LOSS_REASONS]);

/* A delta as a counter may take it: negative or NaN deltas would make an
 * exported counter go backwards. */
static inline double jm_sli_pos(double v)
{
	return isfinite(v) && v > 0 ? v : 0;
}

static inline uint64_t jm_sli_add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}
#endif
