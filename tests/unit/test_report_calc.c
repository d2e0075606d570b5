/* Report arithmetic and formatting: prices computed by hand, the price and
 * SLO files, burn rate and error budget, duration and time parsing,
 * percentiles, the query-latency histogram against the agent's own
 * jm_hist_quantile, shortest-round-trip doubles, CSV/HTML/JSON/Markdown
 * escaping and fixed-width text cells. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "histogram.h"
#include "tools/report/analyze.h"
#include "tools/report/out.h"
#include "tools/report/prices.h"
#include "tools/report/qhist.h"
#include "tools/report/slo.h"
#include "tools/report/timefmt.h"

static int near(double a, double b)
{
	return fabs(a - b) <= 1e-12 * (fabs(a) + fabs(b)) + 1e-15;
}

/* Run fn(f) into a memory buffer and return it (malloc'd). */
static char *capture(void (*fn)(FILE *, const char *), const char *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fn(f, arg);
	fclose(f);
	return buf;
}

static void json_num_cb(FILE *f, const char *s)
{
	jm_rep_json_num(f, strtod(s, NULL));
}

static char *write_tmp(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/jm-report-calc.XXXXXX");
	fd = mkstemp(path);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_prices(void)
{
	struct jm_rep_prices p;
	struct jm_rep_cost c;
	char err[512], *path;

	jm_rep_prices_default(&p);
	/* One core-hour, one GiB-hour, one TiB read, one GiB sent. */
	jm_rep_cost_of(&p, 3600, 3600, UINT64_C(1) << 40, UINT64_C(1) << 30, &c);
	CHECK("cost: 1 core-hour = cpu price", near(c.cpu, 0.031611));
	CHECK("cost: 1 GiB-hour = memory price", near(c.memory, 0.004237));
	CHECK("cost: 1 TiB scanned = scan price", near(c.scan, 5.0));
	CHECK("cost: 1 GiB egress = egress price", near(c.egress, 0.09));
	CHECK("cost: total is the sum", near(c.total, 0.031611 + 0.004237 + 5.0 + 0.09));
	/* A run: 90 s CPU, 7200 GiB-s, 500 GB read, 3 GB sent, by hand. */
	jm_rep_cost_of(&p, 90, 7200, 500000000000ull, 3000000000ull, &c);
	CHECK("cost by hand: cpu", near(c.cpu, 90.0 / 3600 * 0.031611));
	CHECK("cost by hand: memory", near(c.memory, 2 * 0.004237));
	CHECK("cost by hand: scan", near(c.scan, 500000000000.0 / 1099511627776.0 * 5));
	CHECK("cost by hand: egress", near(c.egress, 3000000000.0 / 1073741824.0 * 0.09));

	path = write_tmp("currency: EUR\ncpu_core_hour: 0.05\nscan_tib: 0   # free scans\n");
	CHECK_INT("price file loads", jm_rep_prices_load(path, &p, err, sizeof(err)), 0);
	CHECK("price file: cpu", p.cpu_core_hour == 0.05);
	CHECK("price file: scan 0", p.scan_tib == 0);
	CHECK("price file: missing key keeps default", p.memory_gib_hour == JM_REP_PRICE_MEMORY_GIB_HOUR);
	CHECK_STR("price file: currency", p.currency, "EUR");
	CHECK_STR("price file: source", p.source, path);
	unlink(path);
	path = write_tmp("currency: \"<i>x</i>\"\n");
	CHECK_INT("price file: markup in currency refused", jm_rep_prices_load(path, &p, err, sizeof(err)), -1);
	CHECK("price file: currency error says why", strstr(err, "currency") && strstr(err, "markup"));
	unlink(path);
	path = write_tmp("currency: \"\\e[31mEUR\"\n");
	CHECK_INT("price file: control character in currency refused",
		  jm_rep_prices_load(path, &p, err, sizeof(err)), -1);
	unlink(path);
	path = write_tmp("currency: \"\u20ac\"\n");
	CHECK_INT("price file: a currency symbol loads", jm_rep_prices_load(path, &p, err, sizeof(err)), 0);
	CHECK_STR("price file: euro sign", p.currency, "\xe2\x82\xac");
	unlink(path);
	path = write_tmp("cpu_core_hours: 0.05\n");
	CHECK_INT("price file: unknown key refused", jm_rep_prices_load(path, &p, err, sizeof(err)), -1);
	CHECK("price file: unknown key named", strstr(err, "cpu_core_hours") != NULL);
	unlink(path);
	path = write_tmp("egress_gib: -1\n");
	CHECK_INT("price file: negative refused", jm_rep_prices_load(path, &p, err, sizeof(err)), -1);
	unlink(path);
	path = write_tmp("egress_gib: cheap\n");
	CHECK_INT("price file: text refused", jm_rep_prices_load(path, &p, err, sizeof(err)), -1);
	unlink(path);
	path = write_tmp("egress_gib: [1, 2\n");
	CHECK_INT("price file: bad YAML refused", jm_rep_prices_load(path, &p, err, sizeof(err)), -1);
	CHECK("price file: YAML error has a line", strstr(err, ":1:") != NULL || strstr(err, ":2:") != NULL);
	unlink(path);
	/* The shipped file spells out exactly the built-in defaults. */
	{
		struct jm_rep_prices d, s;

		jm_rep_prices_default(&d);
		jm_rep_prices_default(&s);
		if (access("tools/report/prices.default.yaml", R_OK) == 0) {
			CHECK_INT("shipped price file loads",
				  jm_rep_prices_load("tools/report/prices.default.yaml", &s, err, sizeof(err)), 0);
			CHECK("shipped price file = built-in defaults",
			      s.cpu_core_hour == d.cpu_core_hour && s.memory_gib_hour == d.memory_gib_hour &&
			      s.scan_tib == d.scan_tib && s.egress_gib == d.egress_gib &&
			      strcmp(s.currency, d.currency) == 0);
		}
	}
}

static void test_slo(void)
{
	struct jm_rep_slo_file *f;
	struct jm_rep_slo_spec s;
	char err[512], *path;

	CHECK("burn: 5% errors vs 99% target = 5x", near(jm_rep_burn_rate(5, 100, 0.99), 5.0));
	CHECK("burn: no errors = 0", jm_rep_burn_rate(0, 10, 0.99) == 0);
	CHECK("burn: all bad vs 90% = 10x", near(jm_rep_burn_rate(3, 3, 0.9), 10.0));
	CHECK("burn: no runs = NaN", isnan(jm_rep_burn_rate(0, 0, 0.99)));
	CHECK("budget: exactly spent", near(jm_rep_budget_remaining(1, 100, 0.99), 0.0));
	CHECK("budget: untouched", near(jm_rep_budget_remaining(0, 100, 0.99), 1.0));
	CHECK("budget: half", near(jm_rep_budget_remaining(1, 200, 0.99), 0.5));
	CHECK("budget: overspent is negative", near(jm_rep_budget_remaining(3, 100, 0.99), -2.0));
	CHECK("budget: no runs = NaN", isnan(jm_rep_budget_remaining(0, 0, 0.99)));

	path = write_tmp("\"*\":\n  success_rate: 0.99\n  freshness_max_age: 26h\n"
			 "etl:\n  success_rate: 0.9\n  query_p95_latency: 500ms\n  cost_per_day: 5\n");
	CHECK_INT("slo file loads", jm_rep_slo_load(path, &f, err, sizeof(err)), 0);
	CHECK_INT("slo file: 2 entries", f ? f->n : 0, 2);
	jm_rep_slo_effective(f, "etl", &s);
	CHECK("slo: own success_rate overrides", s.has_success && s.success_rate == 0.9);
	CHECK("slo: freshness inherited from *", s.has_freshness && s.freshness_max_age_s == 26 * 3600);
	CHECK("slo: latency in seconds", s.has_latency && near(s.query_p95_latency_s, 0.5));
	CHECK("slo: cost", s.has_cost && s.cost_per_day == 5);
	jm_rep_slo_effective(f, "other", &s);
	CHECK("slo: other job gets defaults", s.has_success && s.success_rate == 0.99 && !s.has_latency);
	jm_rep_slo_effective(NULL, "x", &s);
	CHECK("slo: no file, no objectives", !s.has_success && !s.has_freshness);
	jm_rep_slo_free(f);
	unlink(path);
	path = write_tmp("etl:\n  success_rate: 1.5\n");
	CHECK_INT("slo: rate > 1 refused", jm_rep_slo_load(path, &f, err, sizeof(err)), -1);
	unlink(path);
	path = write_tmp("etl:\n  freshnes_max_age: 1h\n");
	CHECK_INT("slo: unknown objective refused", jm_rep_slo_load(path, &f, err, sizeof(err)), -1);
	CHECK("slo: unknown objective named", strstr(err, "freshnes_max_age") != NULL);
	unlink(path);
	path = write_tmp("etl:\n  freshness_max_age: soon\n");
	CHECK_INT("slo: bad duration refused", jm_rep_slo_load(path, &f, err, sizeof(err)), -1);
	unlink(path);
	if (access("tools/report/slos.example.yaml", R_OK) == 0) {
		CHECK_INT("shipped slos.example.yaml loads",
			  jm_rep_slo_load("tools/report/slos.example.yaml", &f, err, sizeof(err)), 0);
		jm_rep_slo_free(f);
	}
}

static void test_parse(void)
{
	int64_t ns;

	CHECK("dur 30m", jm_rep_parse_duration("30m", &ns) == 0 && ns == INT64_C(1800000000000));
	CHECK("dur 6h", jm_rep_parse_duration("6h", &ns) == 0 && ns == INT64_C(21600000000000));
	CHECK("dur 7d", jm_rep_parse_duration("7d", &ns) == 0 && ns == INT64_C(604800000000000));
	CHECK("dur 2w", jm_rep_parse_duration("2w", &ns) == 0 && ns == INT64_C(1209600000000000));
	CHECK("dur 500ms", jm_rep_parse_duration("500ms", &ns) == 0 && ns == 500000000);
	CHECK("dur 90s", jm_rep_parse_duration("90s", &ns) == 0 && ns == INT64_C(90000000000));
	CHECK("dur 1h30m", jm_rep_parse_duration("1h30m", &ns) == 0 && ns == INT64_C(5400000000000));
	CHECK("dur 1.5h", jm_rep_parse_duration("1.5h", &ns) == 0 && ns == INT64_C(5400000000000));
	CHECK("dur bare seconds", jm_rep_parse_duration("45", &ns) == 0 && ns == INT64_C(45000000000));
	CHECK("dur empty refused", jm_rep_parse_duration("", &ns) != 0);
	CHECK("dur unit only refused", jm_rep_parse_duration("h", &ns) != 0);
	CHECK("dur bad unit refused", jm_rep_parse_duration("5x", &ns) != 0);
	CHECK("dur negative refused", jm_rep_parse_duration("-5m", &ns) != 0);
	CHECK("dur trailing number refused", jm_rep_parse_duration("1h30", &ns) != 0);
	CHECK("dur absurd refused", jm_rep_parse_duration("99999999999d", &ns) != 0);

	CHECK("time RFC 3339 Z", jm_rep_parse_time("2024-05-01T00:00:00Z", &ns) == 0 &&
	      ns == INT64_C(1714521600) * 1000000000);
	CHECK("time RFC 3339 offset", jm_rep_parse_time("2024-05-01T02:00:00+02:00", &ns) == 0 &&
	      ns == INT64_C(1714521600) * 1000000000);
	CHECK("time RFC 3339 fraction", jm_rep_parse_time("2024-05-01T00:00:00.25Z", &ns) == 0 &&
	      ns == INT64_C(1714521600) * 1000000000 + 250000000);
	CHECK("time date only", jm_rep_parse_time("2024-05-01", &ns) == 0 && ns == INT64_C(1714521600) * 1000000000);
	CHECK("time leap day", jm_rep_parse_time("2024-02-29T12:00:00Z", &ns) == 0);
	CHECK("time unix seconds", jm_rep_parse_time("1714521600", &ns) == 0 && ns == INT64_C(1714521600) * 1000000000);
	CHECK("time unix fraction", jm_rep_parse_time("1714521600.5", &ns) == 0 &&
	      ns == INT64_C(1714521600) * 1000000000 + 500000000);
	CHECK("time RFC 3339 fraction, nanoseconds", jm_rep_parse_time("2024-05-01T00:00:00.123456789Z", &ns) == 0 &&
	      ns == INT64_C(1714521600) * 1000000000 + 123456789);
	CHECK("time RFC 3339 fraction with an exponent refused",
	      jm_rep_parse_time("2024-05-01T00:00:00.5e3Z", &ns) != 0);
	CHECK("time RFC 3339 empty fraction refused", jm_rep_parse_time("2024-05-01T00:00:00.Z", &ns) != 0);
	CHECK("time month 13 refused", jm_rep_parse_time("2024-13-01T00:00:00Z", &ns) != 0);
	CHECK("time Feb 30 refused", jm_rep_parse_time("2023-02-29T00:00:00Z", &ns) != 0);
	CHECK("time without offset refused", jm_rep_parse_time("2024-05-01T00:00:00", &ns) != 0);
	CHECK("time garbage refused", jm_rep_parse_time("yesterday", &ns) != 0);
	CHECK("time negative refused", jm_rep_parse_time("-5", &ns) != 0);
	{
		char b[40];

		jm_rep_format_time(INT64_C(1714521600) * 1000000000 + 999999999, b, sizeof(b));
		CHECK_STR("format time", b, "2024-05-01T00:00:00Z");
		jm_rep_format_day(19844, b, sizeof(b));
		CHECK_STR("format day", b, "2024-05-01");
		jm_rep_format_duration(0.12, b, sizeof(b));
		CHECK_STR("format 120ms", b, "120ms");
		jm_rep_format_duration(0.0003, b, sizeof(b));
		CHECK_STR("format 300us", b, "300us");
		jm_rep_format_duration(0.00734, b, sizeof(b));
		CHECK_STR("format 7.34ms", b, "7.34ms");
		jm_rep_format_duration(0.0099999, b, sizeof(b));
		CHECK_STR("format 10ms, rounded up", b, "10ms");
		jm_rep_format_duration(0.0009999, b, sizeof(b));
		CHECK_STR("format 1.00ms, rounded up", b, "1.00ms");
		jm_rep_format_duration(1e-7, b, sizeof(b));
		CHECK_STR("format <1us", b, "<1us");
		jm_rep_format_duration(0, b, sizeof(b));
		CHECK_STR("format 0", b, "0ms");
		jm_rep_format_duration(0.9999, b, sizeof(b));
		CHECK_STR("format 1.0s, rounded up", b, "1.0s");
		jm_rep_format_duration(59.97, b, sizeof(b));
		CHECK_STR("format 1m00s, rounded up", b, "1m00s");
		jm_rep_format_duration(3599.7, b, sizeof(b));
		CHECK_STR("format 1h00m, rounded up", b, "1h00m");
		jm_rep_format_duration(86399, b, sizeof(b));
		CHECK_STR("format 1d00h, rounded up", b, "1d00h");
		jm_rep_format_duration(45.25, b, sizeof(b));
		CHECK_STR("format 45.2s", b, "45.2s");
		jm_rep_format_duration(725, b, sizeof(b));
		CHECK_STR("format 12m05s", b, "12m05s");
		jm_rep_format_duration(26 * 3600, b, sizeof(b));
		CHECK_STR("format 1d02h", b, "1d02h");
		jm_rep_format_duration(NAN, b, sizeof(b));
		CHECK_STR("format NaN", b, "-");
	}
}

static void test_percentiles(void)
{
	double v[] = { 4, 1, 3, 2 }, one[] = { 7 }, m[] = { 5, 1, 9, 3, 7, 0, 0 };

	CHECK("p50 of 1..4 = 2.5", near(jm_rep_percentile(v, 4, 0.5), 2.5));
	CHECK("p95 of 1..4 = 3.85", near(jm_rep_percentile(v, 4, 0.95), 3.85));
	CHECK("p0 = min", jm_rep_percentile(v, 4, 0) == 1);
	CHECK("p100 = max", jm_rep_percentile(v, 4, 1) == 4);
	CHECK("single value", jm_rep_percentile(one, 1, 0.95) == 7);
	CHECK("empty = NaN", isnan(jm_rep_percentile(v, 0, 0.5)));
	CHECK("median of 7 (with zero days)", jm_rep_median(m, 7) == 3);
	CHECK("median leaves input alone", m[0] == 5 && m[6] == 0);
}

static void test_qhist(void)
{
	uint64_t b[JM_HIST_BUCKETS];
	unsigned seed = 12345;
	int same = 1;

	/* The report re-derives the agent's bucket scheme: it must agree with
	 * jm_hist_quantile on random histograms and quantiles. */
	for (int t = 0; t < 2000; t++) {
		double q = (double)(t % 101) / 100.0;

		memset(b, 0, sizeof(b));
		for (int k = 0; k < 1 + t % 7; k++) {
			seed = seed * 1103515245 + 12345;
			b[(seed >> 8) % JM_HIST_BUCKETS] += 1 + (seed >> 20) % 1000;
		}
		if (jm_rep_qhist_quantile(b, q) != jm_hist_quantile(b, q)) {
			printf("# mismatch t=%d q=%g: %.17g vs %.17g\n", t, q, jm_rep_qhist_quantile(b, q),
			       jm_hist_quantile(b, q));
			same = 0;
			break;
		}
	}
	CHECK("qhist quantile = agent jm_hist_quantile", same);
	memset(b, 0, sizeof(b));
	CHECK("qhist empty = 0", jm_rep_qhist_quantile(b, 0.95) == 0);
	{
		uint8_t blob[16] = { 5, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };

		jm_rep_qhist_add_blob(b, blob, sizeof(blob));
		jm_rep_qhist_add_blob(b, blob, 12);   /* a short tail is ignored */
		CHECK("qhist blob little-endian", b[0] == 10 && b[1] == 256 && b[2] == 0);
	}
}

static void test_escaping(void)
{
	char *s, b[64];

	s = capture(jm_rep_csv_field, "plain");
	CHECK_STR("csv plain", s, "plain");
	free(s);
	s = capture(jm_rep_csv_field, "a,b");
	CHECK_STR("csv comma quoted", s, "\"a,b\"");
	free(s);
	s = capture(jm_rep_csv_field, "say \"hi\"");
	CHECK_STR("csv quotes doubled", s, "\"say \"\"hi\"\"\"");
	free(s);
	s = capture(jm_rep_csv_field, "two\nlines");
	CHECK_STR("csv newline quoted", s, "\"two\nlines\"");
	free(s);
	s = capture(jm_rep_csv_field, " padded");
	CHECK_STR("csv edge space quoted", s, "\" padded\"");
	free(s);
	s = capture(jm_rep_csv_field, "");
	CHECK_STR("csv empty", s, "");
	free(s);
	s = capture(jm_rep_csv_field, "=HYPERLINK(\"http://x/?\"&A1,\"open\")");
	CHECK_STR("csv formula neutralised, quoted", s, "\"'=HYPERLINK(\"\"http://x/?\"\"&A1,\"\"open\"\")\"");
	free(s);
	s = capture(jm_rep_csv_field, "@SUM(A1)");
	CHECK_STR("csv @ formula neutralised", s, "'@SUM(A1)");
	free(s);
	s = capture(jm_rep_csv_field, "+1");
	CHECK_STR("csv + neutralised", s, "'+1");
	free(s);
	s = capture(jm_rep_csv_field, "-x");
	CHECK_STR("csv - neutralised", s, "'-x");
	free(s);
	s = capture(jm_rep_csv_field, "a=b");
	CHECK_STR("csv = inside left alone", s, "a=b");
	free(s);

	s = capture(jm_rep_html, "<script>alert('x')</script> & \"q\"");
	CHECK_STR("html escape", s, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
	free(s);
	s = capture(jm_rep_html, "caf\xc3\xa9");
	CHECK_STR("html keeps UTF-8", s, "caf\xc3\xa9");
	free(s);

	s = capture(jm_rep_json_str, "a\"b\\c\nd\x01");
	CHECK_STR("json string escape", s, "\"a\\\"b\\\\c\\nd\\u0001\"");
	free(s);
	/* A Latin-1 byte, a lone continuation byte, a truncated sequence and
	 * an overlong '/': each is U+FFFD, so the document stays valid UTF-8. */
	s = capture(jm_rep_json_str, "caf\xe9|\x80|\xe2\x82|\xc0\xaf|\xc3\xa9\xe2\x82\xac");
	CHECK_STR("json string: invalid UTF-8 as U+FFFD", s,
		  "\"caf\\ufffd|\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd|\xc3\xa9\xe2\x82\xac\"");
	free(s);
	s = capture(json_num_cb, "nan");
	CHECK_STR("json NaN = null", s, "null");
	free(s);
	s = capture(json_num_cb, "0.1");
	CHECK_STR("json 0.1 shortest", s, "0.1");
	free(s);
	CHECK("fmt_double round-trips", jm_rep_fmt_double(0.1 + 0.2, b, sizeof(b)) && strtod(b, NULL) == 0.1 + 0.2);
	CHECK_STR("fmt_double 0.30000000000000004", b, "0.30000000000000004");
	CHECK("fmt_double inf is no value", !jm_rep_fmt_double(INFINITY, b, sizeof(b)) && b[0] == '\0');

	s = capture(jm_rep_md_cell, "a|b*c_d<e>&`f`");
	CHECK_STR("md cell escape", s, "a\\|b\\*c\\_d&lt;e&gt;&amp;\\`f\\`");
	free(s);
	s = capture(jm_rep_md_cell, "x\ny");
	CHECK_STR("md cell newline", s, "x y");
	free(s);
	s = capture(jm_rep_md_cell, "a\x1b\x7f\xc2\x9b" "31m\xc2\xa9");
	CHECK_STR("md cell neutralises C0, DEL and C1 controls", s, "a???31m\xc2\xa9");
	free(s);
	/* RLO ... PDF, LRI ... PDI: would reorder the raw Markdown line. */
	s = capture(jm_rep_md_cell, "a\xe2\x80\xaerid\xe2\x80\xac\xe2\x81\xa6x\xe2\x81\xa9\xe2\x80\x8f\xe2\x80\xaf");
	CHECK_STR("md cell neutralises bidi overrides and isolates, keeps RLM and U+202F", s,
		  "a?rid??x?\xe2\x80\x8f\xe2\x80\xaf");
	free(s);

	jm_rep_fmt_money(1234.567, b, sizeof(b));
	CHECK_STR("money >= 100", b, "1234.57");
	jm_rep_fmt_money(0.000087808, b, sizeof(b));
	CHECK_STR("money small: 3 significant, no exponent", b, "0.0000878");
	jm_rep_fmt_money(0.00000123456, b, sizeof(b));
	CHECK_STR("money a millionth: 3 significant in 10 characters", b, "0.00000123");
	jm_rep_fmt_money(0.000000082, b, sizeof(b));
	CHECK_STR("money below a millionth: said so, not cut", b, "<0.000001");
	jm_rep_fmt_money(0.00000099996, b, sizeof(b));
	CHECK_STR("money just below a millionth", b, "<0.000001");
	jm_rep_fmt_money(0.0000009999996, b, sizeof(b));
	CHECK_STR("money rounding up to a millionth stays below", b, "<0.000001");
	/* Every money cell of the text tables fits its 10-wide column. */
	int fits = 1;
	for (double m = 1e-12; m < 9999999; m *= 1.37) {
		jm_rep_fmt_money(m, b, sizeof(b));
		if (strlen(b) > 10)
			fits = 0;
	}
	CHECK("money: 1e-12 .. 1e7 all fit 10 characters", fits);
	jm_rep_fmt_bytes(1536, b, sizeof(b));
	CHECK_STR("bytes KiB", b, "1.50 KiB");
	jm_rep_fmt_pct(0.9996, b, sizeof(b));
	CHECK_STR("pct 99.96% not rounded to 100", b, "99.96%");
	jm_rep_fmt_pct(0.99995, b, sizeof(b));
	CHECK_STR("pct 99.995% cut, not rounded to 100.00", b, "99.99%");
	jm_rep_fmt_pct(0.99999, b, sizeof(b));
	CHECK_STR("pct 99.999% cut", b, "99.99%");
	jm_rep_fmt_pct(0.9899, b, sizeof(b));
	CHECK_STR("pct 98.99% cut below a 99% target", b, "98.9%");
	jm_rep_fmt_pct(0.995, b, sizeof(b));
	CHECK_STR("pct 0.995 (0.99499.. in binary) is 99.5%", b, "99.5%");
	jm_rep_fmt_pct(1.0 / 3, b, sizeof(b));
	CHECK_STR("pct a third", b, "33.3%");
	jm_rep_fmt_pct(1, b, sizeof(b));
	CHECK_STR("pct 100%", b, "100.0%");
	jm_rep_fmt_pct(-12.333, b, sizeof(b));
	CHECK_STR("pct negative budget as before", b, "-1233.3%");
	jm_rep_fmt_ending(false, false, 0, 3, b, sizeof(b));
	CHECK_STR("ending: exit code", b, "exit 3");
	jm_rep_fmt_ending(false, false, 9, -1, b, sizeof(b));
	CHECK_STR("ending: a signal by name", b, "SIGKILL");
	jm_rep_fmt_ending(false, false, 15, -1, b, sizeof(b));
	CHECK_STR("ending: SIGTERM", b, "SIGTERM");
	jm_rep_fmt_ending(false, false, 100, -1, b, sizeof(b));
	CHECK_STR("ending: a signal without a name", b, "signal 100");
	jm_rep_fmt_ending(true, false, 9, -1, b, sizeof(b));
	CHECK_STR("ending: the OOM killer's SIGKILL", b, "OOM kill");
	jm_rep_fmt_ending(false, true, 0, 0, b, sizeof(b));
	CHECK_STR("ending: never seen", b, "exit unseen");
	jm_rep_fmt_pct_bad(2.0 / 3, b, sizeof(b));
	CHECK_STR("error pct: 2 of 3 rounded up", b, "66.7%");
	jm_rep_fmt_pct_bad(0.2, b, sizeof(b));
	CHECK_STR("error pct: 0.2 exactly (0.2000..1 in binary)", b, "20.0%");
	jm_rep_fmt_pct_bad(0.0001, b, sizeof(b));
	CHECK_STR("error pct: 1 in 10,000 is not 0.0%", b, "0.01%");
	jm_rep_fmt_pct_bad(0.00002, b, sizeof(b));
	CHECK_STR("error pct: below 0.01%", b, "<0.01%");
	jm_rep_fmt_pct_bad(0, b, sizeof(b));
	CHECK_STR("error pct: none", b, "0.0%");
	jm_rep_fmt_pct_bad(0.9999, b, sizeof(b));
	CHECK_STR("error pct: all but one in 10,000 is not 100%", b, "99.99%");
	jm_rep_fmt_pct_bad(0.999999, b, sizeof(b));
	CHECK_STR("error pct: all but one in a million is not 100% either", b, "99.99%");
	jm_rep_fmt_pct_bad(1, b, sizeof(b));
	CHECK_STR("error pct: all", b, "100.0%");
}

static void cell_cb(FILE *f, const char *s)
{
	jm_rep_text_cell(f, s, 6, false);
}

static void cell_right_cb(FILE *f, const char *s)
{
	jm_rep_text_cell(f, s, 6, true);
}

static void test_text(void)
{
	char *s;

	s = capture(cell_cb, "abc");
	CHECK_STR("text cell pad", s, "abc   ");
	free(s);
	s = capture(cell_right_cb, "abc");
	CHECK_STR("text cell right", s, "   abc");
	free(s);
	s = capture(cell_cb, "abcdefgh");
	CHECK_STR("text cell cut", s, "abcde~");
	free(s);
	s = capture(cell_cb, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	CHECK("text cell cuts UTF-8 on code points", jm_rep_text_width(s) == 6 && strlen(s) == 11);
	free(s);
	s = capture(cell_cb, "a\tb\x1b[31m");
	CHECK_STR("text cell neutralises control characters", s, "a?b?[~");
	free(s);
	/* C1 controls in UTF-8: U+009B is CSI to a UTF-8 terminal, so
	 * "\xc2\x9b31m" would turn the rest of the line red. */
	s = capture(cell_cb, "\xc2\x9b" "31m");
	CHECK_STR("text cell neutralises C1 CSI (U+009B)", s, "?31m  ");
	free(s);
	s = capture(cell_cb, "ab\xc2\x85\xc2\x9b" "31mxyz");
	CHECK_STR("text cell neutralises C1 when cutting", s, "ab??3~");
	free(s);
	/* Bidi overrides and isolates (U+202A..U+202E, U+2066..U+2069): a
	 * job named "\u202e..." turned the rest of its row, figures too,
	 * right to left in a terminal that applies the bidi algorithm. */
	s = capture(cell_cb, "a\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x80\xae" "b");
	CHECK_STR("text cell neutralises LRE RLE PDF LRO RLO", s, "a????~");
	free(s);
	s = capture(cell_cb, "\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9");
	CHECK_STR("text cell neutralises LRI RLI FSI PDI, one column each", s, "????  ");
	free(s);
	s = capture(cell_cb, "\xe2\x80\xaf\xe2\x81\xa5x");
	CHECK_STR("text cell keeps U+202F and U+2065 (next to them, not bidi controls)", s,
		  "\xe2\x80\xaf\xe2\x81\xa5x   ");
	free(s);
	/* East Asian wide characters take two terminal columns: a job named
	 * in Chinese pushed every column after it (and the line past 120). */
	CHECK_INT("text width: CJK is 2 columns", jm_rep_text_width("\xe6\x95\xb0\xe6\x8d\xae" "a"), 5);
	CHECK_INT("text width: a combining mark is 0", jm_rep_text_width("e\xcc\x81"), 1);
	s = capture(cell_cb, "\xe6\x95\xb0\xe6\x8d\xae");
	CHECK_STR("text cell pads CJK by columns", s, "\xe6\x95\xb0\xe6\x8d\xae  ");
	free(s);
	s = capture(cell_cb, "\xe6\x95\xb0\xe6\x8d\xae\xe5\x8a\xa0\xe8\xbd\xbd");
	CHECK_STR("text cell cuts CJK by columns", s, "\xe6\x95\xb0\xe6\x8d\xae ~");
	free(s);
	s = capture(cell_cb, "ab\xff" "c");
	CHECK_STR("text cell: a byte that is no UTF-8 is ?", s, "ab?c  ");
	free(s);
	s = capture(cell_right_cb, "\xc2\xa9\xc2\xa0x");
	CHECK_STR("text cell keeps U+00A0.. (not controls)", s, "   \xc2\xa9\xc2\xa0x");
	free(s);
}

int main(void)
{
	test_prices();
	test_slo();
	test_parse();
	test_percentiles();
	test_qhist();
	test_escaping();
	test_text();
	TEST_EXIT();
}
