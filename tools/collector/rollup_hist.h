/* Run-duration histogram of the job_day rollup (schema v2), shared by the
 * collector (which writes it) and the report (which reads it).  Header-only
 * (static inline) because the two programs share no library.
 *
 * Buckets: 0 holds durations <= 1 ms; bucket i >= 1 holds
 * [1 ms * 2^((i-1)/8), 1 ms * 2^(i/8)), i.e. eight buckets per doubling, up
 * to bucket 255 (about 42 days and beyond).  A percentile read back from the
 * histogram is the bucket's geometric middle: within 4.5 % of the truth.
 *
 * Blob encoding (SQLite BLOB): a sequence of 5-byte records, one per
 * non-empty bucket in increasing index order: u8 index, u32 little-endian
 * count.  Compact because one job's durations fall into few buckets. */
#ifndef JM_ROLLUP_HIST_H
#define JM_ROLLUP_HIST_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define JM_DHIST_BUCKETS   256
#define JM_DHIST_MIN_S     0.001
#define JM_DHIST_PER_OCT   8
#define JM_DHIST_REC       5
#define JM_DHIST_BLOB_MAX  (JM_DHIST_BUCKETS * JM_DHIST_REC)

static inline unsigned jm_dhist_index(double seconds)
{
	double i;

	if (!(seconds > JM_DHIST_MIN_S))   /* also catches NaN */
		return 0;
	i = 1.0 + floor(JM_DHIST_PER_OCT * log2(seconds / JM_DHIST_MIN_S));
	if (!(i < JM_DHIST_BUCKETS - 1))
		return JM_DHIST_BUCKETS - 1;
	return (unsigned)i;
}

/* Representative duration of a bucket (geometric middle). */
static inline double jm_dhist_value(unsigned i)
{
	if (i == 0)
		return JM_DHIST_MIN_S / 2;
	return JM_DHIST_MIN_S * exp2(((double)i - 0.5) / JM_DHIST_PER_OCT);
}

/* Add a blob's counts into dense counts[].  Malformed tails are ignored: a
 * blob is only ever written by jm_dhist_encode. */
static inline void jm_dhist_decode_add(const void *blob, size_t n, uint64_t counts[JM_DHIST_BUCKETS])
{
	const uint8_t *p = blob;

	for (size_t off = 0; p && off + JM_DHIST_REC <= n; off += JM_DHIST_REC) {
		uint32_t c = (uint32_t)p[off + 1] | (uint32_t)p[off + 2] << 8 |
			     (uint32_t)p[off + 3] << 16 | (uint32_t)p[off + 4] << 24;
		counts[p[off]] += c;
	}
}

/* Encode dense counts; out must hold JM_DHIST_BLOB_MAX bytes.  Counts above
 * 2^32-1 saturate (a day of one job never gets near). */
static inline size_t jm_dhist_encode(const uint64_t counts[JM_DHIST_BUCKETS], uint8_t *out)
{
	size_t n = 0;

	for (unsigned i = 0; i < JM_DHIST_BUCKETS; i++) {
		uint32_t c = counts[i] > UINT32_MAX ? UINT32_MAX : (uint32_t)counts[i];

		if (!c)
			continue;
		out[n++] = (uint8_t)i;
		out[n++] = (uint8_t)c;
		out[n++] = (uint8_t)(c >> 8);
		out[n++] = (uint8_t)(c >> 16);
		out[n++] = (uint8_t)(c >> 24);
	}
	return n;
}

/* Quantile q in [0,1] with the same rank convention as the exact path of
 * the report (rank = q * (n - 1), lower neighbour): the bucket holding
 * that rank.  Returns NAN when the histogram is empty. */
static inline double jm_dhist_quantile(const uint64_t counts[JM_DHIST_BUCKETS], double q)
{
	uint64_t total = 0, seen = 0, rank;

	for (unsigned i = 0; i < JM_DHIST_BUCKETS; i++)
		total += counts[i];
	if (total == 0)
		return NAN;
	rank = (uint64_t)floor(q * (double)(total - 1));
	for (unsigned i = 0; i < JM_DHIST_BUCKETS; i++) {
		seen += counts[i];
		if (seen > rank)
			return jm_dhist_value(i);
	}
	return jm_dhist_value(JM_DHIST_BUCKETS - 1);
}
#endif
