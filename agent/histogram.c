/* Geometric latency histogram; the bucket scheme is documented in
 * histogram.h.  Every reader of a bound goes through upper_ns(). */
#include "histogram.h"

#include <math.h>
#include <stdbool.h>

/* U(i) in ns for i in 0..62: llround(1000 * 10^(4*i/31)), which the unit
 * test recomputes for every entry.  A table, not pow() per call: bucketing
 * runs once per query in the agent (pow and log10 were ~20% of its CPU at
 * 20,000 queries/s). */
static const uint64_t upper_tab[JM_HIST_OVERFLOW] = {
	1000ULL, 1346ULL, 1812ULL, 2438ULL,
	3282ULL, 4417ULL, 5946ULL, 8003ULL,
	10771ULL, 14497ULL, 19513ULL, 26264ULL,
	35350ULL, 47579ULL, 64040ULL, 86195ULL,
	116016ULL, 156152ULL, 210175ULL, 282887ULL,
	380755ULL, 512481ULL, 689779ULL, 928415ULL,
	1249609ULL, 1681924ULL, 2263803ULL, 3046990ULL,
	4101127ULL, 5519954ULL, 7429640ULL, 10000000ULL,
	13459603ULL, 18116092ULL, 24383541ULL, 32819279ULL,
	44173447ULL, 59455707ULL, 80025023ULL, 107710506ULL,
	144974067ULL, 195129342ULL, 262636353ULL, 353498111ULL,
	475794431ULL, 640400427ULL, 861953566ULL, 1160155302ULL,
	1561523006ULL, 2101748011ULL, 2828869435ULL, 3807546021ULL,
	5124805877ULL, 6897785379ULL, 9284145445ULL, 12496091413ULL,
	16819243249ULL, 22638034095ULL, 30469895709ULL, 41011270706ULL,
	55199543213ULL, 74296395076ULL, 100000000000ULL,
};

_Static_assert(sizeof(upper_tab) / sizeof(upper_tab[0]) == JM_HIST_OVERFLOW, "one bound per bucket");

static uint64_t upper_ns(int i)
{
	return upper_tab[i];
}

int jm_hist_bucket(uint64_t ns)
{
	if (ns <= JM_HIST_MIN_NS)
		return 0;
	if (ns > JM_HIST_MAX_NS)
		return JM_HIST_OVERFLOW;
	/* The first bucket whose upper bound is >= ns: U(0) < ns <= U(62). */
	int lo = 1, hi = JM_HIST_OVERFLOW - 1;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (ns <= upper_ns(mid))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void jm_hist_inc(uint64_t b[JM_HIST_BUCKETS], int i)
{
	if (b[i] != UINT64_MAX)
		b[i]++;
}

void jm_hist_add(uint64_t b[JM_HIST_BUCKETS], uint64_t ns)
{
	jm_hist_inc(b, jm_hist_bucket(ns));
}

double jm_hist_bucket_upper_s(int i)
{
	if (i < 0)
		return 0.0;
	if (i >= JM_HIST_OVERFLOW)
		return INFINITY;
	return (double)upper_ns(i) / 1e9;
}

/* The q-quantile; lo_s/hi_s (when lo_s <= hi_s) replace the outer edges of
 * the lowest and highest non-empty buckets and bound the answer. */
static double quantile(const uint64_t b[JM_HIST_BUCKETS], double q, double lo_s, double hi_s)
{
	double total = 0.0, cum = 0.0;
	int first = -1, last = -1;

	for (int i = 0; i < JM_HIST_BUCKETS; i++) {
		total += (double)b[i];
		if (b[i]) {
			if (first < 0)
				first = i;
			last = i;
		}
	}
	if (total <= 0.0)
		return 0.0;
	if (!(q >= 0.0)) /* also catches NaN */
		q = 0.0;
	if (q > 1.0)
		q = 1.0;
	bool bounded = lo_s <= hi_s;

	double rank = q * total;
	int at = last;            /* rounding left rank above the sum: the top */
	double frac = 1.0;
	for (int i = first; i <= last; i++) {
		if (b[i] == 0)
			continue;
		double n = (double)b[i];
		if (cum + n >= rank) {
			at = i;
			frac = (rank - cum) / n;
			if (frac < 0.0)
				frac = 0.0;
			break;
		}
		cum += n;
	}
	double lo = jm_hist_bucket_upper_s(at - 1);
	double hi = jm_hist_bucket_upper_s(at);
	if (bounded) {
		if (at == first && lo_s > lo)
			lo = lo_s;
		if (at == last && (hi_s < hi || at == JM_HIST_OVERFLOW))
			hi = hi_s;
	} else if (at == JM_HIST_OVERFLOW) {
		return lo; /* unbounded bucket: its lower edge is all we know */
	}
	double v = lo + (hi - lo) * frac;
	if (bounded)
		v = v < lo_s ? lo_s : v > hi_s ? hi_s : v;
	return v;
}

double jm_hist_quantile(const uint64_t b[JM_HIST_BUCKETS], double q)
{
	return quantile(b, q, 1.0, 0.0);
}

double jm_hist_quantile_within(const uint64_t b[JM_HIST_BUCKETS], double q,
			       uint64_t min_ns, uint64_t max_ns)
{
	if (min_ns > max_ns)
		return quantile(b, q, 1.0, 0.0);
	return quantile(b, q, (double)min_ns / 1e9, (double)max_ns / 1e9);
}

void jm_hist_merge(uint64_t dst[JM_HIST_BUCKETS], const uint64_t src[JM_HIST_BUCKETS])
{
	for (int i = 0; i < JM_HIST_BUCKETS; i++) {
		uint64_t s = dst[i] + src[i];
		dst[i] = s < dst[i] ? UINT64_MAX : s;
	}
}
