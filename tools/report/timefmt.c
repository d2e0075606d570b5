/* Times and durations: see timefmt.h. */
#include "tools/report/timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Largest value accepted anywhere: about 292 years in ns fits int64, keep
 * a margin so sums of two never overflow. */
#define NS_LIMIT 4.0e18

int jm_rep_parse_duration(const char *s, int64_t *ns)
{
	double total = 0;
	int parts = 0;

	if (!s)
		return -1;
	while (*s) {
		char *end;
		double v, mul;

		if (!isdigit((unsigned char)*s) && *s != '.')
			return -1;
		errno = 0;
		v = strtod(s, &end);
		if (errno || end == s || !isfinite(v) || v < 0)
			return -1;
		s = end;
		if (strncmp(s, "ms", 2) == 0) { mul = 1e6; s += 2; }
		else if (*s == 's') { mul = 1e9; s++; }
		else if (*s == 'm') { mul = 60e9; s++; }
		else if (*s == 'h') { mul = 3600e9; s++; }
		else if (*s == 'd') { mul = 86400e9; s++; }
		else if (*s == 'w') { mul = 7 * 86400e9; s++; }
		else if (*s == '\0' && parts == 0) mul = 1e9;   /* bare seconds */
		else return -1;
		total += v * mul;
		if (total > NS_LIMIT)
			return -1;
		parts++;
	}
	if (parts == 0)
		return -1;
	*ns = (int64_t)llround(total);
	return 0;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : d[m - 1];
}

static int parse_rfc3339(const char *s, int64_t *ns)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 0;
	double frac = 0;
	struct tm tm = { 0 };
	time_t t;

	if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' || digits(&s, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || y < 1970)
		return -1;
	if (*s) {
		if (*s != 'T' && *s != 't' && *s != ' ')
			return -1;
		s++;
		if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) || *s++ != ':' || digits(&s, 2, &sec))
			return -1;
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		if (sec == 60)   /* leap second: the instant before the next minute */
			sec = 59;
		if (*s == '.') {
			/* Digits only: strtod would also take an exponent,
			 * reading "00:00:00.5e3Z" as 00:08:20. */
			double scale = 0.1;

			if (!isdigit((unsigned char)*++s))
				return -1;
			for (; isdigit((unsigned char)*s); s++, scale /= 10)
				frac += (*s - '0') * scale;
		}
		if (*s == 'Z' || *s == 'z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			sign = *s == '+' ? 1 : -1;
			s++;
			if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) || oh > 23 || om > 59)
				return -1;
		} else {
			return -1;   /* RFC 3339 requires an offset */
		}
		if (*s)
			return -1;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	t -= sign * (oh * 3600 + om * 60);
	if ((double)t * 1e9 > NS_LIMIT)
		return -1;
	*ns = (int64_t)t * 1000000000 + (int64_t)llround(frac * 1e9);
	return 0;
}

int jm_rep_parse_time(const char *s, int64_t *ns)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	if (strlen(s) >= 10 && s[4] == '-')
		return parse_rfc3339(s, ns);
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v * 1e9 > NS_LIMIT || !isdigit((unsigned char)*s))
		return -1;
	*ns = (int64_t)llround(v * 1e9);
	return 0;
}

void jm_rep_format_time(int64_t ns, char *buf, size_t n)
{
	time_t t = (time_t)(ns >= 0 ? ns / 1000000000 : (ns - 999999999) / 1000000000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "?");
}

void jm_rep_format_day(int64_t day, char *buf, size_t n)
{
	time_t t = (time_t)(day * 86400);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%d", &tm))
		snprintf(buf, n, "?");
}

void jm_rep_format_duration(double s, char *buf, size_t n)
{
	if (!isfinite(s)) {
		snprintf(buf, n, "-");
		return;
	}
	if (s < 0) {
		char tmp[32];

		jm_rep_format_duration(-s, tmp, sizeof(tmp));
		snprintf(buf, n, "-%s", tmp);
		return;
	}
	/* Query latencies live below 10 ms: "0ms" for a 300 us p95 would say
	 * nothing (and look like no data). */
	if (s == 0)
		snprintf(buf, n, "0ms");
	else if (s < 0.0000005)
		snprintf(buf, n, "<1us");
	else if (s < 0.0009995)
		snprintf(buf, n, "%.0fus", s * 1e6);
	else if (s < 0.009995)
		snprintf(buf, n, "%.2fms", s * 1000);
	else if (s < 0.9995)
		snprintf(buf, n, "%.0fms", s * 1000);
	else if (s < 59.95)
		snprintf(buf, n, "%.1fs", s);
	else if (s < 3599.5) {
		long t = lround(s);                      /* to the unit shown */
		snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
	} else if (s < 86370) {
		long t = lround(s / 60);
		snprintf(buf, n, "%ldh%02ldm", t / 60, t % 60);
	} else {
		double h = round(s / 3600);
		snprintf(buf, n, "%.0fd%02.0fh", floor(h / 24), fmod(h, 24));
	}
}
