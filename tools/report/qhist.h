/* Query-latency quantiles from merged agent histograms (db_stats /
 * job_day.query_buckets: JM_HIST_BUCKETS little-endian uint64).
 *
 * The bucket scheme is agent/histogram.h's: bucket 0 <= 1 us, bucket i in
 * 1..62 is (U(i-1), U(i)] with U(i) = round(1 us * 10^(4i/31)) ns, bucket 63
 * > 100 s.  The report cannot link the agent's histogram.c (separate
 * program), so the scheme is re-derived here from that documentation and
 * tests/unit/test_report_calc.c checks it against jm_hist_quantile. */
#ifndef JM_REP_QHIST_H
#define JM_REP_QHIST_H
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* q-quantile in seconds, linear inside the bucket (as jm_hist_quantile);
 * 0 for an empty histogram. */
double jm_rep_qhist_quantile(const uint64_t b[JM_HIST_BUCKETS], double q);
/* Add a little-endian blob of up to JM_HIST_BUCKETS uint64 into b. */
void jm_rep_qhist_add_blob(uint64_t b[JM_HIST_BUCKETS], const void *blob, size_t len);
#endif
