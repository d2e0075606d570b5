/* Latency histogram shared by the agent (per-job DB stats), the collector and
 * the Prometheus exporter.  A histogram is a plain uint64_t[JM_HIST_BUCKETS]
 * so it can live inside struct jm_db_stats, be copied, merged and shipped
 * without any allocation.
 *
 * Bucket scheme (geometric, Prometheus "le" semantics):
 *   JM_HIST_BUCKETS = 64 buckets.  Let r = 10^(4/31) ~= 1.3458 (7.75 buckets
 *   per decade, ~2.33 per octave) and U(i) = 1 us * r^i, rounded to whole ns:
 *     bucket 0       : latency <= U(0) = 1 us        (sub-microsecond)
 *     bucket i 1..62 : U(i-1) < latency <= U(i)      (U(31) = 10 ms exactly,
 *                                                     U(62) = 100 s exactly)
 *     bucket 63      : latency > 100 s               (overflow, le="+Inf")
 *   jm_hist_bucket_upper_s(i) returns U(i) in seconds (+Inf for 63), which is
 *   exactly the "le" label a cumulative Prometheus histogram needs.
 *
 * Why not 4 buckets per octave (19% per bucket)?  With 64 buckets that scheme
 * only reaches 1 us * 2^15.5 = 46 ms, far too short for ETL queries that run
 * for seconds or minutes.  Covering 1 us .. 100 s with 62 finite buckets
 * forces r = (10^8)^(1/62).
 *
 * Accuracy: jm_hist_quantile() finds the bucket holding the q-quantile sample
 * and interpolates linearly inside [U(i-1), U(i)], so for buckets 1..62 the
 * estimate and the true sample share the bucket and
 *     |estimate - true| / true <= r - 1 ~= 34.6%.
 * (Bucket 0 spans [0, 1 us]: no relative bound; overflow answers 100 s.) */
#ifndef JM_HISTOGRAM_H
#define JM_HISTOGRAM_H
#include <stdint.h>

#include "model.h"

#define JM_HIST_OVERFLOW   (JM_HIST_BUCKETS - 1)  /* index of the +Inf bucket */
#define JM_HIST_MIN_NS     1000ULL                /* U(0) */
#define JM_HIST_MAX_NS     100000000000ULL        /* U(62) = 100 s */
#define JM_HIST_REL_ERROR  0.3458                 /* r - 1, see above */

/* Bucket index (0..63) a latency of `ns` nanoseconds falls into. */
int jm_hist_bucket(uint64_t ns);

/* Count one observation. */
void jm_hist_add(uint64_t b[JM_HIST_BUCKETS], uint64_t ns);
/* Count one observation in bucket i (jm_hist_bucket()), saturating: for a
 * value that goes into several histograms, bucketed once. */
void jm_hist_inc(uint64_t b[JM_HIST_BUCKETS], int i);

/* q-quantile (q clamped to [0,1]) in seconds, linearly interpolated inside
 * the bucket; 0.0 for an empty histogram. */
double jm_hist_quantile(const uint64_t b[JM_HIST_BUCKETS], double q);

/* As jm_hist_quantile, for a histogram whose smallest and largest samples
 * are known exactly (min_ns <= max_ns): the lowest non-empty bucket is
 * interpolated from min_ns instead of its lower edge, the highest up to
 * max_ns instead of its upper edge (the overflow bucket included), and the
 * answer stays inside [min_ns, max_ns].  So one sample, or samples that
 * are all equal, give their exact value, where the bucket alone is only
 * good to JM_HIST_REL_ERROR.  min_ns > max_ns means "not known": plain
 * jm_hist_quantile. */
double jm_hist_quantile_within(const uint64_t b[JM_HIST_BUCKETS], double q,
			       uint64_t min_ns, uint64_t max_ns);

/* Inclusive upper bound of bucket i in seconds; +Inf for the overflow bucket
 * (and any i >= 63), 0 for i < 0. */
double jm_hist_bucket_upper_s(int i);

/* dst[i] += src[i] (saturating). */
void jm_hist_merge(uint64_t dst[JM_HIST_BUCKETS], const uint64_t src[JM_HIST_BUCKETS]);
#endif
