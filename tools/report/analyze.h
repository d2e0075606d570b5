/* Derived figures of a report, from the raw figures query.c read:
 * duration percentiles, query p95, costs at the report's prices, daily
 * costs, idle (unattributed) host cost, SLO verdicts with error budget and
 * burn rates, cost anomalies; then jobs are sorted by cost. */
#ifndef JM_REP_ANALYZE_H
#define JM_REP_ANALYZE_H
#include <stddef.h>

#include "tools/report/report.h"

int jm_rep_analyze(struct jm_rep_report *r, char *err, size_t err_len) __attribute__((warn_unused_result));

/* Exact q-quantile of v[0..n) (sorted in place): linear interpolation
 * between closest ranks, position q*(n-1) (numpy's default).  NAN if n=0. */
double jm_rep_percentile(double *v, size_t n, double q);
/* Median of n values (copied, not modified). */
double jm_rep_median(const double *v, size_t n);
#endif
