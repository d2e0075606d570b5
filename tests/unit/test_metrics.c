/* Prometheus registry: exact rendered lines for a fed sequence of runs,
 * windows and loss totals; label escaping; the job cap; the HTTP endpoint. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "histogram.h"
#include "metrics.h"
#include "ship.h"

#define SEC 1000000000LL
#define T0 (1767225600LL * SEC)      /* 2026-01-01T00:00:00Z */

/* True when `line` (without its newline) is one whole line of text. */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p && *p; ) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == n && memcmp(p, line, n) == 0)
			return 1;
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

static int count_prefix(const char *text, const char *prefix)
{
	int c = 0;
	size_t n = strlen(prefix);
	for (const char *p = text; p && *p; ) {
		if (strncmp(p, prefix, n) == 0)
			c++;
		const char *nl = strchr(p, '\n');
		p = nl ? nl + 1 : NULL;
	}
	return c;
}

#define LINE(name, text, l) do {                                             \
	int ok_ = has_line((text), (l));                                      \
	if (ok_) printf("PASS %s\n", (name));                                 \
	else { printf("FAIL %s: missing line [%s]\n", (name), (l)); th_failed++; } \
} while (0)

/* Every sample's family must have been announced by # HELP and # TYPE, each
 * family exactly once, before its samples. */
static int families_declared(const char *text, char *why, size_t whylen)
{
	char *copy = strdup(text), *save = NULL;
	char seen_help[200][96], seen_type[200][96], types[200][16];
	int n_help = 0, n_type = 0, ok = 1;
	for (char *l = strtok_r(copy, "\n", &save); l && ok; l = strtok_r(NULL, "\n", &save)) {
		char name[96], type[16];
		if (sscanf(l, "# HELP %95s", name) == 1) {
			for (int i = 0; i < n_help; i++)
				if (!strcmp(seen_help[i], name)) {
					snprintf(why, whylen, "HELP twice for %s", name);
					ok = 0;
				}
			if (n_help < 200)
				snprintf(seen_help[n_help++], 96, "%s", name);
			continue;
		}
		if (sscanf(l, "# TYPE %95s %15s", name, type) == 2) {
			if (n_type < 200) {
				snprintf(types[n_type], 16, "%s", type);
				snprintf(seen_type[n_type++], 96, "%s", name);
			}
			continue;
		}
		size_t k = strcspn(l, "{ ");
		if (k >= sizeof(name))
			k = sizeof(name) - 1;
		memcpy(name, l, k);
		name[k] = 0;
		int found = 0;
		for (int i = 0; i < n_type && !found; i++) {
			size_t fl = strlen(seen_type[i]);
			if (!strcmp(seen_type[i], name))
				found = 1;
			else if (!strcmp(types[i], "histogram") && !strncmp(name, seen_type[i], fl) &&
				 (!strcmp(name + fl, "_bucket") || !strcmp(name + fl, "_sum") ||
				  !strcmp(name + fl, "_count")))
				found = 1;
		}
		int helped = 0;
		for (int i = 0; i < n_help; i++)
			if (!strncmp(name, seen_help[i], strlen(seen_help[i])))
				helped = 1;
		if (!found || !helped) {
			snprintf(why, whylen, "sample %s without # TYPE/# HELP", name);
			ok = 0;
		}
	}
	free(copy);
	return ok;
}

static struct jm_window_record window(const char *job, double cpu, uint64_t rd)
{
	struct jm_window_record w;
	memset(&w, 0, sizeof(w));
	snprintf(w.job, sizeof(w.job), "%s", job);
	w.start_ns = T0;
	w.end_ns = T0 + 10 * SEC;
	w.counters.cpu_s = cpu;
	w.counters.file_read_bytes = rd;
	return w;
}

static struct jm_run_record run(const char *job, enum jm_outcome oc, int64_t start, int64_t end)
{
	struct jm_run_record r;
	memset(&r, 0, sizeof(r));
	snprintf(r.job, sizeof(r.job), "%s", job);
	r.outcome = oc;
	r.start_ns = start;
	r.end_ns = end;
	return r;
}

static void test_empty(void)
{
	struct jm_metrics *m = NULL;
	CHECK_INT("open registry-only", jm_metrics_open(&m, NULL, 10), 0);
	char *t = jm_metrics_render(m);
	CHECK("render empty", t != NULL);
	if (!t)
		goto out;
	CHECK("empty: build_info first", strncmp(t, "# HELP jobmeter_build_info ", 27) == 0);
	CHECK("empty: build_info sample", count_prefix(t, "jobmeter_build_info{version=\"") == 1);
	LINE("empty: TYPE of loss", t, "# TYPE jobmeter_events_lost_total counter");
	LINE("empty: loss ringbuf 0", t, "jobmeter_events_lost_total{reason=\"ringbuf_full\"} 0");
	LINE("empty: loss exits 0", t, "jobmeter_events_lost_total{reason=\"exits_synthesized\"} 0");
	LINE("empty: jobs gauge 0", t, "jobmeter_metrics_jobs 0");
	LINE("empty: dropped 0", t, "jobmeter_metrics_jobs_dropped_total 0");
	LINE("empty: thread filter misses 0", t, "jobmeter_thread_filter_misses_total 0");
	LINE("empty: env scan truncated 0", t, "jobmeter_env_scan_truncated_total 0");
	CHECK("empty: no job families", strstr(t, "jobmeter_job_") == NULL);
	char why[128] = "";
	CHECK("empty: every family declared", families_declared(t, why, sizeof(why)));
	free(t);
out:
	jm_metrics_close(m);
}

static void test_sequence(void)
{
	struct jm_metrics *m = NULL;
	struct jm_db_stats db[2];
	struct jm_output_write out[2];
	struct jm_window_record w;
	struct jm_run_record r;
	char *t;

	if (jm_metrics_open(&m, "", 100)) {
		CHECK("open", 0);
		return;
	}
	/* Window 1: CPU, bytes, two postgres endpoints and one mysql. */
	w = window("sales", 1.25, 1000);
	w.counters.file_write_bytes = 20;
	w.counters.net_rx_bytes = 30;
	w.counters.net_tx_bytes = 40;
	w.counters.mem_gib_s = 0.5;
	memset(db, 0, sizeof(db));
	db[0].system = JM_DB_POSTGRES;
	db[0].queries = 3;
	db[0].errors = 1;
	db[0].rows = 7;
	db[0].rows_unknown = 2;
	db[0].conns_unreadable = 1;
	db[0].latency_s_sum = 0.006;
	jm_hist_add(db[0].latency_buckets, 1000000);       /* 1 ms */
	jm_hist_add(db[0].latency_buckets, 2000000);       /* 2 ms */
	jm_hist_add(db[0].latency_buckets, 3000000);       /* 3 ms */
	db[1].system = JM_DB_MYSQL;
	db[1].queries = 1;
	db[1].latency_s_sum = 200;
	jm_hist_add(db[1].latency_buckets, 200 * 1000000000ULL);   /* overflow */
	w.n_db = 2;
	w.db = db;
	memset(out, 0, sizeof(out));
	out[0].kind = JM_OUTPUT_TABLE;
	snprintf(out[0].name, sizeof(out[0].name), "public.sales");
	out[0].last_write_ns = T0 + 5 * SEC;
	out[1].kind = JM_OUTPUT_FILE;
	snprintf(out[1].name, sizeof(out[1].name), "/data/never");
	out[1].last_write_ns = 0;                          /* never written: no series */
	w.n_outputs = 2;
	w.outputs = out;
	jm_metrics_observe_window(m, &w);

	/* Window 2: more of the same postgres, the table written later. */
	w = window("sales", 0.75, 24);
	memset(&db[0], 0, sizeof(db[0]));
	db[0].system = JM_DB_POSTGRES;
	db[0].queries = 2;
	db[0].rows = 1;
	db[0].latency_s_sum = 0.004;
	jm_hist_add(db[0].latency_buckets, 2000000);
	jm_hist_add(db[0].latency_buckets, 2000000);
	w.n_db = 1;
	w.db = db;
	out[0].last_write_ns = T0 + 9500000000LL;
	w.n_outputs = 1;
	w.outputs = out;
	jm_metrics_observe_window(m, &w);

	/* Runs: success (3 s), failure (90 s, OOM), restart success (0.5 s). */
	r = run("sales", JM_OUTCOME_SUCCESS, T0, T0 + 3 * SEC);
	r.counters.peak_rss_bytes = 1 << 20;
	jm_metrics_observe_run(m, &r);
	r = run("sales", JM_OUTCOME_FAILURE, T0 + 10 * SEC, T0 + 100 * SEC);
	r.oom_killed = true;
	jm_metrics_observe_run(m, &r);
	r = run("sales", JM_OUTCOME_SUCCESS, T0 + 200 * SEC, T0 + 200 * SEC + 500000000);
	r.restart = true;
	r.counters.peak_rss_bytes = 4096;
	jm_metrics_observe_run(m, &r);
	/* A job that only ever failed: success series still present (0). */
	r = run("only-fails", JM_OUTCOME_FAILURE, T0, T0 + SEC);
	jm_metrics_observe_run(m, &r);

	struct jm_loss loss = { .ringbuf_drops = 5, .map_full = 2, .payload_truncated = 9,
				.exits_synthesized = 1 };
	jm_metrics_set_loss(m, &loss);
	loss.ringbuf_drops = 3;                             /* must not go backwards */
	jm_metrics_set_loss(m, &loss);
	jm_metrics_set_thread_filter(m, 4, 1024);
	jm_metrics_set_thread_filter(m, 2, 2048);           /* misses never go backwards */
	jm_metrics_set_env_scan_truncated(m, 3);
	jm_metrics_set_env_scan_truncated(m, 1);            /* never backwards either */

	t = jm_metrics_render(m);
	if (!t) {
		CHECK("render", 0);
		goto out;
	}
	LINE("runs: success", t, "jobmeter_job_runs_total{job=\"sales\",outcome=\"success\"} 2");
	LINE("runs: failure", t, "jobmeter_job_runs_total{job=\"sales\",outcome=\"failure\"} 1");
	LINE("runs: zero success kept", t,
	     "jobmeter_job_runs_total{job=\"only-fails\",outcome=\"success\"} 0");
	LINE("runs: zero unknown kept", t,
	     "jobmeter_job_runs_total{job=\"sales\",outcome=\"unknown\"} 0");
	LINE("restarts", t, "jobmeter_job_restarts_total{job=\"sales\"} 1");
	LINE("oom kills", t, "jobmeter_job_oom_kills_total{job=\"sales\"} 1");
	LINE("duration: le=1 has the 0.5 s run", t,
	     "jobmeter_job_run_duration_seconds_bucket{job=\"sales\",le=\"1\"} 1");
	LINE("duration: le=5 cumulative", t,
	     "jobmeter_job_run_duration_seconds_bucket{job=\"sales\",le=\"5\"} 2");
	LINE("duration: le=60 still 2", t,
	     "jobmeter_job_run_duration_seconds_bucket{job=\"sales\",le=\"60\"} 2");
	LINE("duration: le=120 has the 90 s run", t,
	     "jobmeter_job_run_duration_seconds_bucket{job=\"sales\",le=\"120\"} 3");
	LINE("duration: +Inf", t,
	     "jobmeter_job_run_duration_seconds_bucket{job=\"sales\",le=\"+Inf\"} 3");
	LINE("duration: sum", t, "jobmeter_job_run_duration_seconds_sum{job=\"sales\"} 93.5");
	LINE("duration: count", t, "jobmeter_job_run_duration_seconds_count{job=\"sales\"} 3");
	LINE("last run = latest end", t,
	     "jobmeter_job_last_run_timestamp_seconds{job=\"sales\"} 1767225800.5");
	LINE("last success", t,
	     "jobmeter_job_last_success_timestamp_seconds{job=\"sales\"} 1767225800.5");
	CHECK("last success: none for a job that never succeeded",
	      !strstr(t, "jobmeter_job_last_success_timestamp_seconds{job=\"only-fails\"}"));
	LINE("last run peak memory", t, "jobmeter_job_last_run_peak_memory_bytes{job=\"sales\"} 4096");
	/* jobs.c keeps the largest process peak (the kernel's maxrss is per
	 * process; a sum would add peaks that never coincided): HELP says so */
	LINE("last run peak memory: HELP says max, not sum", t,
	     "# HELP jobmeter_job_last_run_peak_memory_bytes Peak resident memory of the last finished run "
	     "(the largest peak among its processes).");
	LINE("cpu: sum of windows", t, "jobmeter_job_cpu_seconds_total{job=\"sales\"} 2");
	LINE("cpu: job without windows is 0", t,
	     "jobmeter_job_cpu_seconds_total{job=\"only-fails\"} 0");
	LINE("memory byte-seconds", t,
	     "jobmeter_job_memory_byte_seconds_total{job=\"sales\"} 536870912");
	LINE("file read", t, "jobmeter_job_file_read_bytes_total{job=\"sales\"} 1024");
	LINE("file write", t, "jobmeter_job_file_write_bytes_total{job=\"sales\"} 20");
	LINE("net rx", t, "jobmeter_job_network_receive_bytes_total{job=\"sales\"} 30");
	LINE("net tx", t, "jobmeter_job_network_transmit_bytes_total{job=\"sales\"} 40");
	LINE("db queries pg", t,
	     "jobmeter_job_db_queries_total{job=\"sales\",system=\"postgresql\"} 5");
	LINE("db queries mysql", t, "jobmeter_job_db_queries_total{job=\"sales\",system=\"mysql\"} 1");
	LINE("db errors", t, "jobmeter_job_db_errors_total{job=\"sales\",system=\"postgresql\"} 1");
	LINE("db rows", t, "jobmeter_job_db_rows_total{job=\"sales\",system=\"postgresql\"} 8");
	LINE("db rows unknown", t,
	     "jobmeter_job_db_rows_unknown_total{job=\"sales\",system=\"postgresql\"} 2");
	LINE("db connections unreadable", t,
	     "jobmeter_job_db_connections_unreadable_total{job=\"sales\",system=\"postgresql\"} 1");
	LINE("db connections unreadable: 0 for the other system", t,
	     "jobmeter_job_db_connections_unreadable_total{job=\"sales\",system=\"mysql\"} 0");
	CHECK("db: no series for a job without DB", !strstr(t, "db_queries_total{job=\"only-fails\""));

	/* Histogram: le values are the bucket bounds; counts cumulative.
	 * 1 ms falls in bucket 24 (U(24) = 1.0 ms... see histogram.h), so
	 * compute the expected lines from the contract functions. */
	char line[256];
	int b1 = jm_hist_bucket(1000000), b2 = jm_hist_bucket(2000000), b3 = jm_hist_bucket(3000000);
	snprintf(line, sizeof(line),
		 "jobmeter_job_db_query_duration_seconds_bucket{job=\"sales\",system=\"postgresql\",le=\"%.15g\"} 0",
		 jm_hist_bucket_upper_s(b1 - 1));
	LINE("db hist: below 1 ms is 0", t, line);
	snprintf(line, sizeof(line),
		 "jobmeter_job_db_query_duration_seconds_bucket{job=\"sales\",system=\"postgresql\",le=\"%.15g\"} 1",
		 jm_hist_bucket_upper_s(b1));
	LINE("db hist: 1 ms bucket", t, line);
	snprintf(line, sizeof(line),
		 "jobmeter_job_db_query_duration_seconds_bucket{job=\"sales\",system=\"postgresql\",le=\"%.15g\"} 4",
		 jm_hist_bucket_upper_s(b2));
	LINE("db hist: 2 ms bucket cumulative over two windows", t, line);
	snprintf(line, sizeof(line),
		 "jobmeter_job_db_query_duration_seconds_bucket{job=\"sales\",system=\"postgresql\",le=\"%.15g\"} 5",
		 jm_hist_bucket_upper_s(b3));
	LINE("db hist: 3 ms bucket", t, line);
	LINE("db hist: le of U(31) is 0.01", t,
	     "jobmeter_job_db_query_duration_seconds_bucket{job=\"sales\",system=\"postgresql\",le=\"0.01\"} 5");
	LINE("db hist: le of U(62) is 100", t,
	     "jobmeter_job_db_query_duration_seconds_bucket{job=\"sales\",system=\"postgresql\",le=\"100\"} 5");
	LINE("db hist: first le is 1e-06", t,
	     "jobmeter_job_db_query_duration_seconds_bucket{job=\"sales\",system=\"postgresql\",le=\"1e-06\"} 0");
	LINE("db hist: +Inf", t,
	     "jobmeter_job_db_query_duration_seconds_bucket{job=\"sales\",system=\"postgresql\",le=\"+Inf\"} 5");
	LINE("db hist: sum", t,
	     "jobmeter_job_db_query_duration_seconds_sum{job=\"sales\",system=\"postgresql\"} 0.01");
	LINE("db hist: count", t,
	     "jobmeter_job_db_query_duration_seconds_count{job=\"sales\",system=\"postgresql\"} 5");
	LINE("db hist: mysql overflow only in +Inf (le=100)", t,
	     "jobmeter_job_db_query_duration_seconds_bucket{job=\"sales\",system=\"mysql\",le=\"100\"} 0");
	LINE("db hist: mysql overflow only in +Inf", t,
	     "jobmeter_job_db_query_duration_seconds_bucket{job=\"sales\",system=\"mysql\",le=\"+Inf\"} 1");
	CHECK_INT("db hist: 64 buckets per series",
		  count_prefix(t, "jobmeter_job_db_query_duration_seconds_bucket{job=\"sales\",system=\"postgresql\""),
		  JM_HIST_BUCKETS);
	LINE("output: latest write wins", t,
	     "jobmeter_job_output_last_write_timestamp_seconds{job=\"sales\",kind=\"table\",name=\"public.sales\"} 1767225609.5");
	CHECK("output: never-written output has no series", !strstr(t, "/data/never"));
	LINE("loss: ringbuf keeps max", t, "jobmeter_events_lost_total{reason=\"ringbuf_full\"} 5");
	LINE("loss: map_full", t, "jobmeter_events_lost_total{reason=\"map_full\"} 2");
	LINE("loss: exits_synthesized", t, "jobmeter_events_lost_total{reason=\"exits_synthesized\"} 1");
	LINE("loss: truncation is not loss", t, "jobmeter_payloads_truncated_total 9");
	LINE("thread filter: misses keep max", t, "jobmeter_thread_filter_misses_total 4");
	LINE("env scan truncated: keeps max", t, "jobmeter_env_scan_truncated_total 3");
	CHECK("env scan truncated: HELP and TYPE",
	      strstr(t, "# HELP jobmeter_env_scan_truncated_total ") &&
	      strstr(t, "# TYPE jobmeter_env_scan_truncated_total counter\n"));
	LINE("thread filter: fill is the latest, of 2^20", t, "jobmeter_thread_filter_fill_ratio 0.001953");
	LINE("thread filter: TYPE gauge", t, "# TYPE jobmeter_thread_filter_fill_ratio gauge");
	LINE("jobs gauge", t, "jobmeter_metrics_jobs 2");
	LINE("TYPE histogram", t, "# TYPE jobmeter_job_db_query_duration_seconds histogram");
	LINE("TYPE counter", t, "# TYPE jobmeter_job_cpu_seconds_total counter");
	LINE("TYPE gauge", t, "# TYPE jobmeter_job_last_success_timestamp_seconds gauge");
	char why[128] = "";
	CHECK("every family declared once, before its samples", families_declared(t, why, sizeof(why)));
	if (why[0])
		printf("  (%s)\n", why);
	CHECK("ends with a newline", t[strlen(t) - 1] == '\n');
	free(t);
	/* A run whose exit was never seen: neither success nor failure. */
	r = run("only-fails", JM_OUTCOME_UNSPECIFIED, T0, T0 + SEC);
	jm_metrics_observe_run(m, &r);
	t = jm_metrics_render(m);
	if (t) {
		LINE("runs: unknown outcome series", t,
		     "jobmeter_job_runs_total{job=\"only-fails\",outcome=\"unknown\"} 1");
		LINE("runs: unknown is not a failure", t,
		     "jobmeter_job_runs_total{job=\"only-fails\",outcome=\"failure\"} 1");
		CHECK("runs: unknown is not a success",
		      !strstr(t, "jobmeter_job_last_success_timestamp_seconds{job=\"only-fails\"}"));
		free(t);
	}
out:
	jm_metrics_close(m);
}

static void test_escaping_and_cap(void)
{
	struct jm_metrics *m = NULL;
	struct jm_window_record w;
	struct jm_output_write o;
	char *t;

	if (jm_metrics_open(&m, NULL, 2)) {
		CHECK("open", 0);
		return;
	}
	/* Quote, backslash, newline, and an invalid UTF-8 byte; valid UTF-8 kept. */
	w = window("a\"b\\c\nd\xff\xc3\xa9", 1, 0);
	memset(&o, 0, sizeof(o));
	o.kind = JM_OUTPUT_FILE;
	snprintf(o.name, sizeof(o.name), "/out/\"x\"\\y");
	o.last_write_ns = T0;
	w.n_outputs = 1;
	w.outputs = &o;
	jm_metrics_observe_window(m, &w);
	w = window("second", 1, 0);
	jm_metrics_observe_window(m, &w);
	w = window("third-over-cap", 1, 0);
	jm_metrics_observe_window(m, &w);
	struct jm_run_record r = run("fourth-over-cap", JM_OUTCOME_SUCCESS, T0, T0 + SEC);
	jm_metrics_observe_run(m, &r);
	w = window("second", 2, 0);           /* an existing job still counts */
	jm_metrics_observe_window(m, &w);

	t = jm_metrics_render(m);
	if (!t) {
		CHECK("render", 0);
		goto out;
	}
	LINE("escape: job label", t,
	     "jobmeter_job_cpu_seconds_total{job=\"a\\\"b\\\\c\\nd?\xc3\xa9\"} 1");
	LINE("escape: output name", t,
	     "jobmeter_job_output_last_write_timestamp_seconds{job=\"a\\\"b\\\\c\\nd?\xc3\xa9\",kind=\"file\",name=\"/out/\\\"x\\\"\\\\y\"} 1767225600");
	LINE("cap: existing job keeps counting", t, "jobmeter_job_cpu_seconds_total{job=\"second\"} 3");
	CHECK("cap: third job not exported", !strstr(t, "third-over-cap"));
	CHECK("cap: fourth job not exported", !strstr(t, "fourth-over-cap"));
	LINE("cap: records dropped counted", t, "jobmeter_metrics_jobs_dropped_total 2");
	LINE("cap: jobs gauge at cap", t, "jobmeter_metrics_jobs 2");
	free(t);
out:
	jm_metrics_close(m);
}

/* ---- HTTP ---- */

struct body {
	char data[1 << 16];
	size_t len;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct body *b = ud;
	size_t k = sz * n;
	if (k > sizeof(b->data) - 1 - b->len)
		k = sizeof(b->data) - 1 - b->len;
	memcpy(b->data + b->len, p, k);
	b->len += k;
	b->data[b->len] = 0;
	return sz * n;
}

static long http(const char *url, const char *method, struct body *b, char *ctype, size_t ctlen)
{
	CURL *c = curl_easy_init();
	long code = -1;
	if (!c)
		return -1;
	b->len = 0;
	b->data[0] = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	if (method)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (curl_easy_perform(c) == CURLE_OK) {
		char *ct = NULL;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (ctype && curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
			snprintf(ctype, ctlen, "%s", ct);
	}
	curl_easy_cleanup(c);
	return code;
}

/* A port nobody listens on right now (bind to 0, read it back, release). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void test_http(void)
{
	struct jm_metrics *m = NULL;
	static struct body b;
	char listen[64], url[128], ctype[128] = "";
	int port = free_port();

	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	if (port < 0 || jm_metrics_open(&m, listen, 10)) {
		CHECK("http: open on a free port", 0);
		return;
	}
	struct jm_window_record w = window("web-job", 0.5, 0);
	jm_metrics_observe_window(m, &w);

	snprintf(url, sizeof(url), "http://%s/metrics", listen);
	CHECK_INT("http: GET /metrics 200", http(url, NULL, &b, ctype, sizeof(ctype)), 200);
	CHECK_STR("http: content type", ctype, "text/plain; version=0.0.4; charset=utf-8");
	char *want = jm_metrics_render(m);
	CHECK("http: body is the rendering", want && strcmp(b.data, want) == 0);
	free(want);
	CHECK("http: body has the job", has_line(b.data,
					       "jobmeter_job_cpu_seconds_total{job=\"web-job\"} 0.5"));
	CHECK_INT("http: POST /metrics 405", http(url, "POST", &b, NULL, 0), 405);
	CHECK_INT("http: DELETE 405", http(url, "DELETE", &b, NULL, 0), 405);

	snprintf(url, sizeof(url), "http://%s/healthz", listen);
	CHECK_INT("http: healthz 200", http(url, NULL, &b, NULL, 0), 200);
	jm_metrics_set_health(m, false);
	CHECK_INT("http: healthz 503 when unhealthy", http(url, NULL, &b, NULL, 0), 503);
	jm_metrics_set_health(m, true);
	CHECK_INT("http: healthz 200 again", http(url, NULL, &b, NULL, 0), 200);

	snprintf(url, sizeof(url), "http://%s/other", listen);
	CHECK_INT("http: unknown path 404", http(url, NULL, &b, NULL, 0), 404);

	/* The port is taken now: a second registry must fail, naming the address. */
	struct jm_metrics *m2 = NULL;
	CHECK("http: busy port is an error", jm_metrics_open(&m2, listen, 10) != 0 && m2 == NULL);
	jm_metrics_close(m);

	snprintf(url, sizeof(url), "http://%s/metrics", listen);
	CHECK("http: closed after jm_metrics_close", http(url, NULL, &b, NULL, 0) == -1);

	struct jm_metrics *m3 = NULL;
	CHECK("listen: no port is an error", jm_metrics_open(&m3, "127.0.0.1", 10) != 0);
	CHECK("listen: bad port is an error", jm_metrics_open(&m3, "127.0.0.1:99999", 10) != 0);
	CHECK("listen: unclosed bracket is an error", jm_metrics_open(&m3, "[::1:9464", 10) != 0);
	CHECK("listen: garbage host is an error",
	      jm_metrics_open(&m3, "no such host!:9464", 10) != 0);

	/* IPv6 loopback, when the host has it. */
	port = free_port();
	snprintf(listen, sizeof(listen), "[::1]:%d", port);
	if (jm_metrics_open(&m3, listen, 10) == 0) {
		snprintf(url, sizeof(url), "http://[::1]:%d/healthz", port);
		CHECK_INT("http: IPv6 listen", http(url, NULL, &b, NULL, 0), 200);
		jm_metrics_close(m3);
	}
	curl_global_cleanup();
}

/* The shipper's counters: a batch the collector refused (4xx, moved to
 * rejected/) is data missing from every report, so it is exported, not
 * only logged by the sender thread.  Before any shipper reports (no
 * collector configured) the families are absent. */
static void test_ship(void)
{
	struct jm_metrics *m = NULL;
	struct jm_ship_stats st;
	char *t;

	CHECK_INT("ship: registry", jm_metrics_open(&m, NULL, 10), 0);
	if (!m)
		return;
	t = jm_metrics_render(m);
	CHECK("ship: no collector: no ship families", t && !strstr(t, "jobmeter_ship_"));
	free(t);

	memset(&st, 0, sizeof(st));
	st.sent = 12;
	st.retries = 3;
	st.rejected_4xx = 2;
	st.renumbered = 5;
	st.spool_depth = 4;
	st.spool_bytes = 4096;
	st.last_http_status = 409;
	jm_metrics_set_ship(m, &st);
	t = jm_metrics_render(m);
	CHECK("ship: sent", t && has_line(t, "jobmeter_ship_batches_sent_total 12"));
	CHECK("ship: retries", t && has_line(t, "jobmeter_ship_retries_total 3"));
	CHECK("ship: rejected batches", t && has_line(t, "jobmeter_ship_batches_rejected_total 2"));
	CHECK("ship: rejected: declared a counter",
	      t && has_line(t, "# TYPE jobmeter_ship_batches_rejected_total counter"));
	CHECK("ship: renumbered batches", t && has_line(t, "jobmeter_ship_batches_renumbered_total 5"));
	CHECK("ship: renumbered: declared a counter",
	      t && has_line(t, "# TYPE jobmeter_ship_batches_renumbered_total counter"));
	CHECK("ship: spool depth", t && has_line(t, "jobmeter_ship_spool_batches 4"));
	CHECK("ship: spool bytes", t && has_line(t, "jobmeter_ship_spool_bytes 4096"));
	CHECK("ship: last status", t && has_line(t, "jobmeter_ship_last_http_status 409"));
	free(t);
	jm_metrics_close(m);
}

int main(void)
{
	/* Line-buffered: the modules log to stderr into the same file, and a
	 * block-buffered PASS line could be split by a log line. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_empty();
	test_sequence();
	test_escaping_and_cap();
	test_http();
	test_ship();
	TEST_EXIT();
}
