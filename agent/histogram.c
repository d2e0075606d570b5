/* Geometric latency histogram; the bucket scheme is documented in
 * histogram.h.  Bounds are computed (not tabled) so there is a single source
 * of truth: every reader of a bound goes through upper_ns(). */
#include "histogram.h"

#include <math.h>

/* U(i) in ns for i in 0..62, rounded to the nearest ns.  The exponent
 * 4*i/31 is an exact integer for i = 0, 31, 62, so the decade bounds
 * (1 us, 10 ms, 100 s) are exact. */
static uint64_t upper_ns(int i)
{
	return (uint64_t)llround((double)JM_HIST_MIN_NS * pow(10.0, 4.0 * (double)i / 31.0));
}

int jm_hist_bucket(uint64_t ns)
{
	if (ns <= JM_HIST_MIN_NS)
		return 0;
	if (ns > JM_HIST_MAX_NS)
		return JM_HIST_OVERFLOW;
	/* Guess with logarithms, then settle against the integer bounds so a
	 * rounding error in log10() can never disagree with upper_ns(). */
	int i = (int)ceil(log10((double)ns / (double)JM_HIST_MIN_NS) * 31.0 / 4.0);
	if (i < 1)
		i = 1;
	if (i > JM_HIST_OVERFLOW - 1)
		i = JM_HIST_OVERFLOW - 1;
	while (i > 1 && ns <= upper_ns(i - 1))
		i--;
	while (i < JM_HIST_OVERFLOW - 1 && ns > upper_ns(i))
		i++;
	return i;
}

void jm_hist_add(uint64_t b[JM_HIST_BUCKETS], uint64_t ns)
{
	int i = jm_hist_bucket(ns);

	if (b[i] != UINT64_MAX)
		b[i]++;
}

double jm_hist_bucket_upper_s(int i)
{
	if (i < 0)
		return 0.0;
	if (i >= JM_HIST_OVERFLOW)
		return INFINITY;
	return (double)upper_ns(i) / 1e9;
}

double jm_hist_quantile(const uint64_t b[JM_HIST_BUCKETS], double q)
{
	double total = 0.0, cum = 0.0;

	for (int i = 0; i < JM_HIST_BUCKETS; i++)
		total += (double)b[i];
	if (total <= 0.0)
		return 0.0;
	if (!(q >= 0.0)) /* also catches NaN */
		q = 0.0;
	if (q > 1.0)
		q = 1.0;

	double rank = q * total;
	for (int i = 0; i < JM_HIST_BUCKETS; i++) {
		if (b[i] == 0)
			continue;
		double n = (double)b[i];
		if (cum + n >= rank) {
			double lo = jm_hist_bucket_upper_s(i - 1);
			if (i == JM_HIST_OVERFLOW)
				return lo; /* unbounded bucket: its lower edge is all we know */
			double hi = jm_hist_bucket_upper_s(i);
			double frac = (rank - cum) / n;
			if (frac < 0.0)
				frac = 0.0;
			return lo + (hi - lo) * frac;
		}
		cum += n;
	}
	/* Floating-point rounding left rank above the sum: answer the top. */
	for (int i = JM_HIST_BUCKETS - 1; i >= 0; i--)
		if (b[i])
			return i == JM_HIST_OVERFLOW ? jm_hist_bucket_upper_s(i - 1)
						     : jm_hist_bucket_upper_s(i);
	return 0.0;
}

void jm_hist_merge(uint64_t dst[JM_HIST_BUCKETS], const uint64_t src[JM_HIST_BUCKETS])
{
	for (int i = 0; i < JM_HIST_BUCKETS; i++) {
		uint64_t s = dst[i] + src[i];
		dst[i] = s < dst[i] ? UINT64_MAX : s;
	}
}
