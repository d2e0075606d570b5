/* Report over a real collector database with figures known by hand: ten
 * days of two jobs stored through the collector's own store, then the
 * report read three ways (raw rows only, rollups for whole days, the
 * default mix) and from version-1 and version-2 copies of the database.
 * Checks sums, exact and estimated duration percentiles, query p95 from
 * histograms and from weighted run p95s, statement p95/p99 (highest per
 * run, equal on every path, shown by every format that lists statements),
 * freshness, burn rates, error budget, the cost anomaly and the idle host
 * cost. */
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "report_fixture.h"
#include "jobmeter.pb-c.h"
#include "tools/collector/schema.h"
#include "tools/collector/store.h"
#include "tools/report/analyze.h"
#include "tools/report/qhist.h"
#include "tools/report/query.h"
#include "tools/report/render.h"

/* db_stats as schema version 1 has it (later migrations add columns). */
#define V1_DB_STATS_COLS \
	"id, owner_kind, owner_id, job, end_ns, system, endpoint, queries, errors, rows, tx_bytes, rx_bytes, latency_s_sum, latency_p50_s," \
	" latency_p95_s, latency_p99_s, latency_buckets, statements_overflow"

#define D0   INT64_C(1714521600)            /* 2024-05-01T00:00:00Z */
#define SEC  INT64_C(1000000000)
#define DAYS (86400 * SEC)
#define HRS  (3600 * SEC)

/* Store one batch holding one run (and optionally one window / host usage). */
struct run_spec {
	const char *job;
	int64_t end_ns;
	double dur_s, cpu_s, mem_gib_s;
	uint64_t file_read, net_tx;
	bool fail;
	uint64_t queries, query_errors;
	double p95;
	bool buckets;
	const char *output;
	double stmt_p95, stmt_p99;      /* the statement's; 0 = not sent */
};

static int store_run(struct jm_coll_store *st, uint64_t *seq, const struct run_spec *rs)
{
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity a = JOBMETER__V1__AGENT_IDENTITY__INIT;
	Jobmeter__V1__JobRun r = JOBMETER__V1__JOB_RUN__INIT, *rp = &r;
	Jobmeter__V1__Counters c = JOBMETER__V1__COUNTERS__INIT;
	Jobmeter__V1__DbStats d = JOBMETER__V1__DB_STATS__INIT, *dp = &d;
	Jobmeter__V1__StatementStats s = JOBMETER__V1__STATEMENT_STATS__INIT, *sp = &s;
	Jobmeter__V1__OutputWrite o = JOBMETER__V1__OUTPUT_WRITE__INIT, *op = &o;
	uint64_t hb[32] = { 0 };
	struct jm_coll_store_result res;
	char run_id[32];

	a.host = "h1";
	a.agent_id = "agent";
	a.boot_id = "boot";
	snprintf(run_id, sizeof(run_id), "r%llu", (unsigned long long)*seq + 1);
	c.processes = 1;
	c.cpu_s = rs->cpu_s;
	c.mem_gib_s = rs->mem_gib_s;
	c.file_read_bytes = rs->file_read;
	c.net_tx_bytes = rs->net_tx;
	c.peak_rss_bytes = 1000;
	r.job = (char *)rs->job;
	r.run_id = run_id;
	r.end_unix_ns = rs->end_ns;
	r.start_unix_ns = rs->end_ns - (int64_t)(rs->dur_s * 1e9);
	r.outcome = rs->fail ? JOBMETER__V1__OUTCOME__OUTCOME_FAILURE : JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS;
	r.exit_code = rs->fail ? 3 : 0;
	r.counters = &c;
	if (rs->queries) {
		s.fingerprint = "SELECT * FROM t WHERE id = ?";
		s.calls = rs->queries;
		s.errors = rs->query_errors;
		s.latency_s_sum = 0.02 * (double)rs->queries;
		s.latency_p50_s = rs->stmt_p95 / 2;
		s.latency_p95_s = rs->stmt_p95;
		s.latency_p99_s = rs->stmt_p99;
		d.system = "postgresql";
		d.queries = rs->queries;
		d.errors = rs->query_errors;
		d.latency_s_sum = s.latency_s_sum;
		d.latency_p95_s = rs->p95;
		/* beta's runs (100 queries) each had a connection it could
		 * not read (TLS) */
		d.connections_unreadable = rs->queries == 100 ? 1 : 0;
		d.n_statements = 1;
		d.statements = &sp;
		if (rs->buckets) {
			hb[31] = rs->queries;   /* (U(30), 10 ms] */
			d.n_latency_buckets = 32;
			d.latency_buckets = hb;
		}
		r.n_db = 1;
		r.db = &dp;
	}
	if (rs->output) {
		o.kind = "table";
		o.name = (char *)rs->output;
		o.last_write_unix_ns = rs->end_ns;
		r.n_outputs = 1;
		r.outputs = &op;
	}
	b.schema_version = 1;
	b.agent = &a;
	b.seq = ++*seq;
	b.window_start_unix_ns = rs->end_ns - 60 * SEC;
	b.window_end_unix_ns = rs->end_ns;
	b.n_runs = 1;
	b.runs = &rp;
	return jm_coll_store_batch(st, &b, 1, &res) == JM_STORE_STORED ? 0 : -1;
}

/* One batch per day at 23:00 with the host's capacity and alpha's window. */
static int store_host_day(struct jm_coll_store *st, uint64_t *seq, int d)
{
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity a = JOBMETER__V1__AGENT_IDENTITY__INIT;
	Jobmeter__V1__JobWindow w = JOBMETER__V1__JOB_WINDOW__INIT, *wp = &w;
	Jobmeter__V1__Counters c = JOBMETER__V1__COUNTERS__INIT;
	Jobmeter__V1__HostUsage h = JOBMETER__V1__HOST_USAGE__INIT;
	struct jm_coll_store_result res;
	int64_t end = D0 * SEC + d * DAYS + 23 * HRS;

	a.host = "h1";
	a.agent_id = "agent";
	a.boot_id = "boot";
	c.cpu_s = 14400;
	c.mem_gib_s = 7200;
	w.job = "alpha";
	w.start_unix_ns = end - 86400 * SEC;
	w.end_unix_ns = end;
	w.counters = &c;
	h.cpu_cores = 2;
	h.window_s = 86400;
	h.mem_total_bytes = UINT64_C(8) << 30;
	h.mem_used_bytes = UINT64_C(1) << 30;
	b.schema_version = 1;
	b.agent = &a;
	b.seq = ++*seq;
	b.window_start_unix_ns = end - 86400 * SEC;
	b.window_end_unix_ns = end;
	b.n_windows = 1;
	b.windows = &wp;
	b.host = &h;
	return jm_coll_store_batch(st, &b, 1, &res) == JM_STORE_STORED ? 0 : -1;
}

/* A host that sends windows but no capacity (an agent without host usage):
 * it has host_hour rows, and must not count as a host of the idle figures
 * on either path. */
static int store_window_only(struct jm_coll_store *st, uint64_t *seq, int d)
{
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity a = JOBMETER__V1__AGENT_IDENTITY__INIT;
	Jobmeter__V1__JobWindow w = JOBMETER__V1__JOB_WINDOW__INIT, *wp = &w;
	Jobmeter__V1__Counters c = JOBMETER__V1__COUNTERS__INIT;
	struct jm_coll_store_result res;
	int64_t end = D0 * SEC + d * DAYS + 22 * HRS;

	a.host = "h2";
	a.agent_id = "agent2";
	a.boot_id = "boot2";
	w.job = "alpha";
	w.start_unix_ns = end - 60 * SEC;
	w.end_unix_ns = end;
	w.counters = &c;
	b.schema_version = 1;
	b.agent = &a;
	b.seq = ++*seq;
	b.window_start_unix_ns = end - 60 * SEC;
	b.window_end_unix_ns = end;
	b.n_windows = 1;
	b.windows = &wp;
	return jm_coll_store_batch(st, &b, 1, &res) == JM_STORE_STORED ? 0 : -1;
}

static int build_db(const char *path)
{
	struct jm_coll_store *st;
	struct jm_coll_store_open_info info;
	char err[256];
	static const int hours[] = { 1, 7, 13, 19 };
	uint64_t seq = 0, seq2 = 0;

	if (jm_coll_store_open(path, &st, &info, err, sizeof(err))) {
		printf("# %s\n", err);
		return -1;
	}
	for (int d = 0; d < 10; d++) {
		for (int k = 0; k < 4; k++) {
			/* Statement p95: the period's highest (250 ms) on D5, a
			 * whole day of the period; a higher one on D1, before
			 * the period; none sent on D3 01:00. */
			double p95 = d == 5 && k == 2 ? 0.25 : d == 1 && k == 2 ? 0.9
				   : d == 3 && k == 0 ? 0 : 0.02 + 0.001 * d;
			struct run_spec rs = { "alpha", D0 * SEC + d * DAYS + hours[k] * HRS, 100 + hours[k],
					       d == 9 ? 36000 : 3600, 1800, 1u << 20, 0,
					       d == 9 && hours[k] == 19, 10, d == 9 && hours[k] == 19 ? 10 : 0,
					       0.05, false, NULL, p95, 2 * p95 };

			if (store_run(st, &seq, &rs))
				goto fail;
		}
		if (d >= 8) {
			/* beta's highest p95 on D9 (a ragged edge when whole
			 * days come from rollups), its highest p99 on D8. */
			struct run_spec rs = { "beta", D0 * SEC + d * DAYS + 12 * HRS, 600, 60, 0,
					       UINT64_C(1) << 40, UINT64_C(1) << 30, false, 100, 0,
					       d == 9 ? 0.0095 : 0.008, true,
					       "beta.out", d == 9 ? 0.007 : 0.004, d == 9 ? 0.01 : 0.03 };

			if (store_run(st, &seq, &rs))
				goto fail;
		}
		if (store_host_day(st, &seq, d) || store_window_only(st, &seq2, d))
			goto fail;
	}
	jm_coll_store_close(st);
	return 0;
fail:
	jm_coll_store_close(st);
	return -1;
}

static const char slos[] = "\"*\":\n  success_rate: 0.9\nalpha:\n  freshness_max_age: 1h\n"
			   "beta:\n  cost_per_day: 1\n  query_p95_latency: 5ms\nghost:\n  freshness_max_age: 1d\n";

/* mode: 0 raw rows only, 1 rollups for whole days, 2 default */
static int run_report(const char *db_path, int mode, const char *job, struct jm_rep_report *r,
		      struct jm_rep_slo_file *slo)
{
	fx_report_init(r, db_path, (D0 + 2 * 86400) * SEC, (D0 + 9 * 86400 + 20 * 3600) * SEC);
	r->raw_forced = mode == 0;
	if (mode == 1)
		r->raw_runs_max = -1;
	r->job_filter = job;
	r->slos = slo;
	return fx_report_run(r);
}

static int rel(double a, double b, double tol)
{
	return fabs(a - b) <= tol * (fabs(a) + fabs(b)) + 1e-12;
}

static void check_report(const char *tag, struct jm_rep_report *r, bool estimated)
{
	struct jm_rep_job *a = jm_rep_job_find(r, "alpha"), *b = jm_rep_job_find(r, "beta"),
			  *g = jm_rep_job_find(r, "ghost");
	uint64_t hb[JM_HIST_BUCKETS] = { 0 };
	char n[160];

#define T(name) (snprintf(n, sizeof(n), "%s: %s", tag, name), n)
	CHECK(T("jobs alpha, beta, ghost"), a && b && g && r->n_jobs == 3);
	if (!a || !b || !g)
		return;
	CHECK_INT(T("alpha runs"), a->u.runs, 32);
	CHECK_INT(T("alpha successes"), a->u.successes, 31);
	CHECK_INT(T("alpha failures"), a->u.failures, 1);
	CHECK(T("alpha cpu_s = 28 x 3600 + 4 x 36000"), rel(a->u.cpu_s, 244800, 1e-12));
	CHECK(T("alpha mem_gib_s"), rel(a->u.mem_gib_s, 32 * 1800, 1e-12));
	CHECK_INT(T("alpha file_read_bytes"), a->u.file_read_bytes, 32u << 20);
	CHECK(T("alpha cost cpu by hand"), rel(a->cost.cpu, 244800.0 / 3600 * 0.031611, 1e-12));
	CHECK(T("alpha cost per run"), rel(a->cost_per_run, a->cost.total / 32, 1e-12));
	CHECK(T("durations estimated only from rollups"), a->durations_estimated == estimated);
	if (estimated) {
		CHECK(T("alpha p50 estimate within 4.5%"), rel(a->dur_p50_s, 110, 0.045) ||
		      fabs(a->dur_p50_s - 107) / 107 < 0.045 || fabs(a->dur_p50_s - 113) / 113 < 0.045);
		CHECK(T("alpha p95 estimate within 4.5%"), fabs(a->dur_p95_s - 119) / 119 < 0.045);
	} else {
		CHECK(T("alpha p50 exact = 110"), a->dur_p50_s == 110);
		CHECK(T("alpha p95 exact = 119"), a->dur_p95_s == 119);
	}
	CHECK_INT(T("alpha queries"), a->u.queries, 320);
	CHECK_INT(T("alpha query errors"), a->u.query_errors, 10);
	CHECK(T("alpha p95 = weighted run p95 (no histograms)"), rel(a->query_p95_s, 0.05, 1e-12) &&
	      !a->query_p95_from_hist);
	CHECK_INT(T("alpha top statement calls"), a->n_stmts ? a->stmts[0].calls : 0, 320);
	CHECK(T("alpha last success D9 13:00"), a->last_success_ns == (D0 + 9 * 86400 + 13 * 3600) * SEC);
	CHECK(T("alpha freshness missed (7h > 1h)"), a->slo.freshness == JM_REP_MISSED);
	CHECK(T("alpha success rate 31/32 >= 0.9"), a->slo.success == JM_REP_MET);
	CHECK(T("alpha budget left = 1 - (1/32)/0.1"), rel(a->slo.budget_remaining, 1 - (1.0 / 32) / 0.1, 1e-12));
	CHECK(T("alpha burn 1h = 10"), rel(a->slo.burn_1h, 10, 1e-12));
	CHECK(T("alpha burn 6h = 10"), rel(a->slo.burn_6h, 10, 1e-12));
	CHECK(T("alpha burn flagged"), a->slo.burn_flag);

	CHECK(T("alpha: its one failed run, by how it ended"), a->n_failures == 1 &&
	      strcmp(a->failures[0].how, "exit 3") == 0 && a->failures[0].runs == 1 &&
	      a->failures[0].last_end_ns == (D0 + 9 * 86400 + 19 * 3600) * SEC);
	CHECK_INT(T("beta: no failed run"), b->n_failures, 0);
	CHECK_INT(T("beta runs"), b->u.runs, 2);
	/* Schema 6 stores them; an older database has no such column, and
	 * reads as 0 rather than failing. */
	uint64_t want_unreadable = r->schema_version >= 6 ? 2 : 0;
	CHECK_INT(T("beta: 2 unreadable connections, from raw rows and rollups alike (0 before schema 6)"),
		  b->u.db_conns_unreadable, want_unreadable);
	CHECK_INT(T("alpha: none"), a->u.db_conns_unreadable, 0);
	CHECK_INT(T("total: beta's"), r->total.db_conns_unreadable, want_unreadable);
	CHECK(T("beta scan cost = 2 TiB x 5"), rel(b->cost.scan, 10, 1e-12));
	CHECK(T("beta egress cost = 2 GiB x 0.09"), rel(b->cost.egress, 0.18, 1e-12));
	hb[31] = 200;
	/* Its runs' p95s are 8 and 9.5 ms; the merged buckets say 9.87 ms,
	 * above both, which all the queries together cannot be.  From raw
	 * rows the estimate is held at the highest run p95; a rollup day
	 * keeps no run p95s, so there it stands as the buckets say. */
	CHECK(T("beta p95 from merged histograms"), b->query_p95_from_hist &&
	      jm_rep_qhist_quantile(hb, 0.95) > 0.0095 &&
	      b->query_p95_s == (estimated ? jm_rep_qhist_quantile(hb, 0.95) : 0.0095));
	CHECK(T("beta latency verdict matches"), (b->query_p95_s <= 0.005) == (b->slo.latency == JM_REP_MET));
	CHECK(T("beta cost per day missed"), b->slo.cost == JM_REP_MISSED &&
	      rel(b->slo.cost_per_day, b->cost.total / (7 + 20.0 / 24), 1e-12));
	CHECK(T("ghost: 0 runs, never succeeded, stale"), g->u.runs == 0 && g->last_success_ns == 0 &&
	      g->slo.freshness == JM_REP_MISSED && g->slo.success == JM_REP_NO_DATA);
	CHECK(T("jobs sorted by cost"), r->jobs[0].cost.total >= r->jobs[1].cost.total &&
	      r->jobs[1].cost.total >= r->jobs[2].cost.total);

	CHECK_INT(T("one dataset"), r->n_datasets, 1);
	if (r->n_datasets == 1)
		CHECK(T("dataset beta.out written D9 12:00 by beta"), strcmp(r->datasets[0].name, "beta.out") == 0 &&
		      strcmp(r->datasets[0].job, "beta") == 0 &&
		      r->datasets[0].last_write_ns == (D0 + 9 * 86400 + 12 * 3600) * SEC);

	CHECK_INT(T("one anomaly"), r->n_anomalies, 1);
	if (r->n_anomalies == 1) {
		const struct jm_rep_anomaly *x = &r->anomalies[0];

		CHECK(T("anomaly: alpha on day 9, cpu grew"), strcmp(r->jobs[x->job].name, "alpha") == 0 &&
		      x->day == D0 / 86400 + 9 && strcmp(x->component, "cpu") == 0);
		CHECK(T("anomaly ratio ~ 10x"), x->ratio > 9 && x->ratio < 10);
	}
	CHECK(T("daily trend: 8 period days"), r->n_days - r->first_period_day == 8);

	CHECK_INT(T("idle: one host (the one that sent capacity)"), r->idle.hosts, 1);
	CHECK(T("idle capacity 7 x 2 cores x 1 day"), rel(r->idle.capacity_core_s, 7 * 2 * 86400.0, 1e-12));
	CHECK(T("idle attributed 7 x 14400"), rel(r->idle.attributed_cpu_s, 7 * 14400.0, 1e-12));
	CHECK(T("idle cpu cost by hand"), rel(r->idle.cost.cpu, (7 * 2 * 86400.0 - 7 * 14400.0) / 3600 * 0.031611, 1e-12));
	CHECK(T("idle memory GiB-s"), rel(r->idle.idle_mem_gib_s, 7 * 8 * 86400.0 - 7 * 7200.0, 1e-12));
#undef T
}

/* Statement percentiles: the highest per-run p95/p99 within the period,
 * whichever path read them; NAN from a database older than migration 3. */
static void check_stmt_pct(const char *tag, struct jm_rep_report *r, bool known)
{
	struct jm_rep_job *a = jm_rep_job_find(r, "alpha"), *b = jm_rep_job_find(r, "beta");
	char n[160];

#define T(name) (snprintf(n, sizeof(n), "%s: %s", tag, name), n)
	CHECK(T("alpha and beta have one statement"), a && b && a->n_stmts == 1 && b->n_stmts == 1);
	if (!a || !b || a->n_stmts != 1 || b->n_stmts != 1)
		return;
	if (known) {
		CHECK(T("alpha statement p95 = period max 250 ms (D5)"), a->stmts[0].latency_p95_s == 0.25);
		CHECK(T("alpha statement p99 = period max 500 ms"), a->stmts[0].latency_p99_s == 0.5);
		CHECK(T("beta statement p95 = max 7 ms (D9)"), b->stmts[0].latency_p95_s == 0.007);
		CHECK(T("beta statement p99 = max 30 ms (D8)"), b->stmts[0].latency_p99_s == 0.03);
	} else {
		CHECK(T("statement percentiles unknown"), isnan(a->stmts[0].latency_p95_s) &&
		      isnan(a->stmts[0].latency_p99_s) && isnan(b->stmts[0].latency_p95_s) &&
		      isnan(b->stmts[0].latency_p99_s));
	}
#undef T
}

/* A line of buf holding every one of the NULL-terminated strings. */
static bool line_with(const char *buf, ...)
{
	for (const char *l = buf; l && *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		bool all = true;
		va_list ap;

		va_start(ap, buf);
		for (const char *w = va_arg(ap, const char *); w && all; w = va_arg(ap, const char *))
			all = memmem(l, len, w, strlen(w)) != NULL;
		va_end(ap);
		if (all)
			return true;
		l = e ? e + 1 : NULL;
	}
	return false;
}

/* The statement row of job in a rendered table: MEAN, P95, P99 cells
 * next to each other, then the fingerprint, as each format lays them out. */
static bool stmt_row_shown(const char *buf, int fmt, const char *job, const char *p95, const char *p99)
{
	char cells[200];

	if (fmt == 0)
		snprintf(cells, sizeof(cells), "%7s %7s %7s SELECT", "20ms", p95, p99);
	else if (fmt == 1)
		snprintf(cells, sizeof(cells), "| %s | %s | %s | SELECT", "20ms", p95, p99);
	else
		snprintf(cells, sizeof(cells), "<td class=\"r\">%s</td><td class=\"r\">%s</td><td class=\"r\">%s</td>"
			 "<td>SELECT", "20ms", p95, p99);
	return line_with(buf, job, cells, NULL);
}

/* The top-statements section of every format that has one (CSV has one
 * record per job and no statements) shows the percentiles: text, Markdown
 * and HTML on each job's statement row, JSON as numbers; "-" / null when
 * not known. */
static void check_stmt_renders(const char *tag, struct jm_rep_report *r, bool known)
{
	int (*fns[])(FILE *, const struct jm_rep_report *) = {
		jm_rep_render_text, jm_rep_render_md, jm_rep_render_html, jm_rep_render_json,
	};
	static const char *const names[] = { "text", "md", "html", "json" };

	for (int i = 0; i < 4; i++) {
		char *buf = NULL, name[160];
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		bool ok;

		if (!f)
			return;
		ok = fns[i](f, r) == 0;
		fclose(f);
		if (i == 3)
			ok = ok && (known ? line_with(buf, "\"latency_p95_s\": 0.25,", NULL) &&
					    line_with(buf, "\"latency_p99_s\": 0.5", NULL) &&
					    line_with(buf, "\"latency_p95_s\": 0.007,", NULL) &&
					    line_with(buf, "\"latency_p99_s\": 0.03", NULL)
					  : line_with(buf, "\"latency_p95_s\": null,", NULL) &&
					    line_with(buf, "\"latency_p99_s\": null", NULL) &&
					    !line_with(buf, "\"latency_p95_s\": 0", NULL));
		else if (known)
			ok = ok && stmt_row_shown(buf, i, "alpha", "250ms", "500ms") &&
			     stmt_row_shown(buf, i, "beta", "7.00ms", "30ms");
		else
			ok = ok && stmt_row_shown(buf, i, "alpha", "-", "-") && stmt_row_shown(buf, i, "beta", "-", "-");
		/* beta's queries (200, known only from schema 6 on) carry the
		 * unreadable-connection mark, explained in the table's note;
		 * JSON has the count. */
		if (r->schema_version >= 6) {
			bool marked = i == 3 ? line_with(buf, "\"db_connections_unreadable\": 2", NULL)
				    : i == 1 ? line_with(buf, "beta", "200\\*", NULL)
					     : line_with(buf, "beta", "200*", NULL);
			marked = marked && (i == 3 || line_with(buf, "unreadable (TLS, compression)", NULL));
			snprintf(name, sizeof(name), "%s: %s marks beta's unreadable connections", tag, names[i]);
			CHECK(name, marked);
		}
		snprintf(name, sizeof(name), "%s: %s shows statement p95/p99%s", tag, names[i],
			 known ? "" : " as unknown");
		CHECK(name, ok);
		free(buf);
	}
}

/* Render every format into memory: none may fail, text lines stay <= 120. */
/* A --job name and a --db path longer than the 1,024 bytes the header facts
 * were built in: shown whole in Markdown and HTML (the text report cuts its
 * line visibly, with '~', at 120 columns). */
static void check_long_facts(struct jm_rep_report *r)
{
	int (*fns[])(FILE *, const struct jm_rep_report *) = { jm_rep_render_md, jm_rep_render_html,
							       jm_rep_render_text };
	static const char *const names[] = { "md", "html", "text" };
	const char *job0 = r->job_filter, *db0 = r->db_path;
	char job[3001], db[2001], want[3100];

	memset(job, 'j', sizeof(job) - 5);
	snprintf(job + sizeof(job) - 5, 5, "-end");
	memset(db, 'd', sizeof(db) - 5);
	snprintf(db + sizeof(db) - 5, 5, "/c.b");
	r->job_filter = job;
	r->db_path = db;
	for (size_t i = 0; i < 3; i++) {
		char *buf = NULL, name[96];
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		int rc = f ? fns[i](f, r) : -1;

		if (f)
			fclose(f);
		snprintf(name, sizeof(name), "long facts: %s renders", names[i]);
		CHECK(name, rc == 0 && buf);
		if (i < 2) {
			snprintf(want, sizeof(want), ", job %s", job);
			snprintf(name, sizeof(name), "long facts: %s shows a 3000-byte --job whole", names[i]);
			CHECK(name, buf && strstr(buf, want));
			snprintf(want, sizeof(want), "%s (schema v", db);
			snprintf(name, sizeof(name), "long facts: %s shows a 2000-byte --db whole", names[i]);
			CHECK(name, buf && strstr(buf, want));
		} else {
			CHECK("long facts: text cuts the period line visibly",
			      buf && strstr(buf, ", job jjjjjjjj") && strstr(buf, "j~\n"));
		}
		free(buf);
	}
	r->job_filter = job0;
	r->db_path = db0;
}

static char *render_to_string(int (*fn)(FILE *, const struct jm_rep_report *), const struct jm_rep_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (fn(f, r)) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	return buf;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The start of the line holding p. */
static const char *line_start(const char *s, const char *p)
{
	while (p > s && p[-1] != '\n')
		p--;
	return p;
}

/* Whether the line ending at eol (its '\n') is a rule of dashes. */
static bool line_is_rule(const char *s, const char *eol)
{
	const char *q = line_start(s, eol);

	if (eol - q < 3)
		return false;
	for (; q < eol; q++)
		if (*q != '-')
			return false;
	return true;
}

/* Jobs named like the report's idle row ("__idle__" in CSV, "__idle__
 * (unattributed)" in the cost table): every format tells the job's record
 * from the idle one. */
static void check_idle_name(struct jm_rep_report *r)
{
	char n0[] = "__idle__", n1[] = "__idle__ (unattributed)";
	char *save0 = r->jobs[0].name, *save1 = r->jobs[1].name, *s, *cost, *p;

	r->jobs[0].name = n0;
	r->jobs[1].name = n1;
	s = render_to_string(jm_rep_render_csv, r);
	CHECK("idle name: csv header ends with the record column", s && strstr(s, ",period_to,record\r\n"));
	CHECK_INT("idle name: csv has one idle record", count_of(s, ",idle\r\n"), 1);
	p = s ? strstr(s, ",idle\r\n") : NULL;
	CHECK("idle name: csv idle record is __idle__ (as before)",
	      p && strncmp(line_start(s, p), "__idle__,,", 10) == 0);
	CHECK_INT("idle name: csv job records say job", count_of(s, ",job\r\n"), r->n_jobs);
	free(s);

	s = render_to_string(jm_rep_render_text, r);
	cost = s ? strstr(s, "\nCOST (") : NULL;
	p = cost ? strstr(cost, "\n__idle__ (unattributed) ") : NULL;       /* the job's row */
	CHECK("idle name: text cost table lists the job", p != NULL);
	p = p ? strstr(p + 1, "\n__idle__ (unattributed) ") : NULL;        /* the idle row */
	CHECK("idle name: text idle row is under a rule, apart from the job rows", p && line_is_rule(s, p));
	free(s);

	s = render_to_string(jm_rep_render_md, r);
	CHECK_INT("idle name: md idle row is bold, once", count_of(s, "| **\\_\\_idle\\_\\_ (unattributed)** |"), 1);
	CHECK("idle name: md job row is not bold", s && strstr(s, "| \\_\\_idle\\_\\_ (unattributed) |"));
	free(s);

	s = render_to_string(jm_rep_render_html, r);
	CHECK_INT("idle name: html idle row is the summary row, once",
		  count_of(s, "<tr class=\"summary\"><td>__idle__ (unattributed)</td>"), 1);
	CHECK("idle name: html job row is a plain row", s && (strstr(s, "<tr><td>__idle__ (unattributed)</td>") ||
							      strstr(s, "<tr class=\"alert\"><td>__idle__ (unattributed)</td>")));
	free(s);

	s = render_to_string(jm_rep_render_json, r);
	CHECK("idle name: json lists the job in jobs[] and idle apart",
	      s && strstr(s, "\"job\": \"__idle__\"") && strstr(s, "\"idle\": {"));
	free(s);
	r->jobs[0].name = save0;
	r->jobs[1].name = save1;
}

static void check_renders(struct jm_rep_report *r)
{
	int (*fns[])(FILE *, const struct jm_rep_report *) = {
		jm_rep_render_text, jm_rep_render_csv, jm_rep_render_md, jm_rep_render_json, jm_rep_render_html,
	};
	static const char *const names[] = { "text", "csv", "md", "json", "html" };

	for (size_t i = 0; i < 5; i++) {
		char *buf = NULL, name[64];
		size_t len = 0, maxw = 0, w = 0;
		FILE *f = open_memstream(&buf, &len);
		int rc = fns[i](f, r);

		fclose(f);
		snprintf(name, sizeof(name), "render %s", names[i]);
		CHECK(name, rc == 0 && len > 200);
		if (i == 0) {
			for (size_t k = 0; k < len; k++) {
				if (buf[k] == '\n') {
					if (w > maxw)
						maxw = w;
					w = 0;
				} else if (((unsigned char)buf[k] & 0xc0) != 0x80) {
					w++;
				}
			}
			CHECK("render text: lines <= 120 columns", maxw <= JM_REP_TEXT_WIDTH);
		}
		if (i == 1) {
			/* Every CSV record has as many fields as the header. */
			size_t fields = 1, first = 0, bad = 0;
			bool q = false;

			for (size_t k = 0; k < len; k++) {
				if (buf[k] == '"')
					q = !q;
				else if (!q && buf[k] == ',')
					fields++;
				else if (!q && buf[k] == '\n') {
					if (!first)
						first = fields;
					else if (fields != first)
						bad++;
					fields = 1;
				}
			}
			CHECK("render csv: rectangular (41 columns, record last)", first == 41 && bad == 0);
		}
		free(buf);
	}
}

int main(void)
{
	char dir[] = "/tmp/jm-report-test.XXXXXX", path[256], v1[256], v2[256], sql[2048], slo_path[300];
	struct jm_rep_report raw, roll, mix, filt, old, old2;
	struct jm_rep_slo_file *slo[6];
	char err[256];
	sqlite3 *db;
	FILE *f;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/c.db", dir);
	snprintf(v1, sizeof(v1), "%s/v1.db", dir);
	snprintf(v2, sizeof(v2), "%s/v2.db", dir);
	snprintf(slo_path, sizeof(slo_path), "%s/slos.yaml", dir);
	f = fopen(slo_path, "w");
	fputs(slos, f);
	fclose(f);
	for (int i = 0; i < 6; i++)
		if (jm_rep_slo_load(slo_path, &slo[i], err, sizeof(err)))
			printf("# %s\n", err);
	CHECK_INT("build database through the collector store", build_db(path), 0);
	/* The report warns about a database newer than it knows: what it
	 * knows must move with the collector's migrations. */
	CHECK_INT("report knows the collector's latest schema version", JM_REP_SCHEMA_KNOWN,
		  jm_coll_schema_latest());

	CHECK_INT("report raw", run_report(path, 0, NULL, &raw, slo[0]), 0);
	check_report("raw", &raw, false);
	CHECK("raw: no rollup used", !raw.rollup_used);
	check_renders(&raw);
	check_long_facts(&raw);
	if (raw.n_jobs >= 2)
		check_idle_name(&raw);
	check_stmt_pct("raw", &raw, true);
	check_stmt_renders("raw", &raw, true);
	CHECK_INT("report rollup", run_report(path, 1, NULL, &roll, slo[1]), 0);
	check_report("rollup", &roll, true);
	CHECK("rollup: rollups used", roll.rollup_used);
	check_stmt_pct("rollup", &roll, true);
	check_stmt_renders("rollup", &roll, true);
	CHECK_INT("report default", run_report(path, 2, NULL, &mix, slo[2]), 0);
	check_report("default", &mix, false);
	check_stmt_pct("default", &mix, true);
	CHECK_INT("report --job alpha", run_report(path, 2, "alpha", &filt, slo[3]), 0);
	CHECK("--job alpha: only alpha", filt.n_jobs == 1 && strcmp(filt.jobs[0].name, "alpha") == 0 &&
	      filt.jobs[0].u.runs == 32);

	/* The same raw rows in a version-1 database: raw path, same figures. */
	CHECK_INT("v1: open", sqlite3_open(v1, &db), SQLITE_OK);
	{
		size_t nm;
		const struct jm_coll_migration *m = jm_coll_schema_migrations(&nm);

		CHECK_INT("v1: schema", sqlite3_exec(db, m[0].sql, NULL, NULL, NULL), SQLITE_OK);
	}
	snprintf(sql, sizeof(sql),
		 "ATTACH '%s' AS o; INSERT INTO schema_version VALUES (1);"
		 "INSERT INTO batches SELECT * FROM o.batches; INSERT INTO runs SELECT * FROM o.runs;"
		 "INSERT INTO windows SELECT * FROM o.windows;"
		 "INSERT INTO db_stats (" V1_DB_STATS_COLS ") SELECT " V1_DB_STATS_COLS " FROM o.db_stats;"
		 "INSERT INTO statements (id, db_stats_id, fingerprint, calls, errors, rows, latency_s_sum,"
		 " last_error) SELECT id, db_stats_id, fingerprint, calls, errors, rows, latency_s_sum,"
		 " last_error FROM o.statements; INSERT INTO outputs SELECT * FROM o.outputs;"
		 "INSERT INTO host_usage SELECT * FROM o.host_usage; DETACH o;", path);
	CHECK_INT("v1: copy rows", sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT("report on a v1 database", run_report(v1, 2, NULL, &old, slo[4]), 0);
	CHECK_INT("v1: schema version seen", old.schema_version, 1);
	check_report("v1", &old, false);
	CHECK("v1 = raw, bit for bit (cpu_s)", old.n_jobs == raw.n_jobs &&
	      jm_rep_job_find(&old, "alpha")->u.cpu_s == jm_rep_job_find(&raw, "alpha")->u.cpu_s);
	check_stmt_pct("v1", &old, false);
	check_stmt_renders("v1", &old, false);

	/* A version-2 database (rollups, no statement percentiles): the same
	 * database with the columns of migration 3 dropped. */
	CHECK_INT("v2: open", sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "VACUUM INTO '%s'", v2);
	CHECK_INT("v2: copy", sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT("v2: open the copy", sqlite3_open(v2, &db), SQLITE_OK);
	CHECK_INT("v2: drop the columns of migration 3", sqlite3_exec(db,
		"ALTER TABLE statements DROP COLUMN latency_p50_s; ALTER TABLE statements DROP COLUMN latency_p95_s;"
		"ALTER TABLE statements DROP COLUMN latency_p99_s;"
		"ALTER TABLE statement_day DROP COLUMN latency_p95_s_max;"
		"ALTER TABLE statement_day DROP COLUMN latency_p99_s_max;"
		"ALTER TABLE db_stats DROP COLUMN rows_unknown; ALTER TABLE statements DROP COLUMN rows_unknown;"
		"ALTER TABLE statement_day DROP COLUMN rows_unknown;"
		"UPDATE schema_version SET version = 2;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT("report on a v2 database (rollups)", run_report(v2, 1, NULL, &old2, slo[5]), 0);
	CHECK_INT("v2: schema version seen", old2.schema_version, 2);
	check_report("v2", &old2, true);
	check_stmt_pct("v2", &old2, false);
	check_stmt_renders("v2", &old2, false);

	/* The database is only read. */
	CHECK_INT("report leaves the database untouched",
		  sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db, "PRAGMA quick_check", NULL, NULL, NULL) == 0, 1);
	sqlite3_close(db);

	jm_rep_report_free(&raw);
	jm_rep_report_free(&roll);
	jm_rep_report_free(&mix);
	jm_rep_report_free(&filt);
	jm_rep_report_free(&old);
	jm_rep_report_free(&old2);
	snprintf(sql, sizeof(sql), "rm -rf '%s'", dir);
	if (system(sql) != 0)
		printf("# could not remove %s\n", dir);
	TEST_EXIT();
}
