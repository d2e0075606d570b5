/* Query-latency quantiles: see qhist.h. */
#include "tools/report/qhist.h"

#include <math.h>

#define OVERFLOW (JM_HIST_BUCKETS - 1)

/* Upper bound of bucket i in seconds (+Inf for the overflow bucket). */
static double upper_s(int i)
{
	if (i < 0)
		return 0.0;
	if (i >= OVERFLOW)
		return INFINITY;
	return (double)llround(1000.0 * pow(10.0, 4.0 * (double)i / 31.0)) / 1e9;
}

double jm_rep_qhist_quantile(const uint64_t b[JM_HIST_BUCKETS], double q)
{
	double total = 0.0, cum = 0.0, rank;

	for (int i = 0; i < JM_HIST_BUCKETS; i++)
		total += (double)b[i];
	if (total <= 0.0)
		return 0.0;
	if (!(q >= 0.0))
		q = 0.0;
	if (q > 1.0)
		q = 1.0;
	rank = q * total;
	for (int i = 0; i < JM_HIST_BUCKETS; i++) {
		double n = (double)b[i], lo, frac;

		if (b[i] == 0)
			continue;
		if (cum + n >= rank) {
			lo = upper_s(i - 1);
			if (i == OVERFLOW)
				return lo;   /* unbounded: its lower edge is all we know */
			frac = (rank - cum) / n;
			if (frac < 0.0)
				frac = 0.0;
			return lo + (upper_s(i) - lo) * frac;
		}
		cum += n;
	}
	/* Rounding left rank above the sum: answer the top non-empty bucket. */
	for (int i = JM_HIST_BUCKETS - 1; i >= 0; i--)
		if (b[i])
			return i == OVERFLOW ? upper_s(i - 1) : upper_s(i);
	return 0.0;
}

void jm_rep_qhist_add_blob(uint64_t b[JM_HIST_BUCKETS], const void *blob, size_t len)
{
	const uint8_t *p = blob;

	for (size_t i = 0; p && i < JM_HIST_BUCKETS && (i + 1) * 8 <= len; i++) {
		uint64_t v = 0;

		for (int k = 7; k >= 0; k--)
			v = (v << 8) | p[i * 8 + (size_t)k];
		b[i] = v > UINT64_MAX - b[i] ? UINT64_MAX : b[i] + v;
	}
}
