/* Formatted report tables: see tables.h. */
#include "tools/report/tables.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/report/timefmt.h"

#define JOBW 28

const char *jm_rep_verdict_name(enum jm_rep_verdict v)
{
	switch (v) {
	case JM_REP_NO_SLO: return "-";
	case JM_REP_NO_DATA: return "no data";
	case JM_REP_MET: return "ok";
	case JM_REP_MISSED: return "MISSED";
	}
	return "?";
}

static struct jm_rep_table *table_new(struct jm_rep_table **ts, size_t *n, const char *id,
				      const struct jm_rep_col *cols, size_t ncols)
{
	struct jm_rep_table *nt = realloc(*ts, (*n + 1) * sizeof(*nt)), *t;

	if (!nt)
		return NULL;
	*ts = nt;
	t = &nt[(*n)++];
	memset(t, 0, sizeof(*t));
	t->id = id;
	t->cols = cols;
	t->ncols = ncols;
	t->text_only_col = ncols;
	return t;
}

/* Append a row; the variadic arguments are ncols strings (copied). */
static int row(struct jm_rep_table *t, enum jm_rep_row_kind kind, ...)
{
	va_list ap;
	int rc = 0;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **nc = realloc(t->cells, cap * t->ncols * sizeof(*nc));
		unsigned char *nk;

		if (!nc)
			return -1;
		t->cells = nc;
		nk = realloc(t->kind, cap);
		if (!nk)
			return -1;
		t->kind = nk;
		t->cap = cap;
	}
	va_start(ap, kind);
	for (size_t c = 0; c < t->ncols; c++) {
		const char *s = va_arg(ap, const char *);

		t->cells[t->nrows * t->ncols + c] = strdup(s ? s : "");
		if (!t->cells[t->nrows * t->ncols + c])
			rc = -1;
	}
	va_end(ap);
	t->kind[t->nrows++] = (unsigned char)kind;
	return rc;
}

void jm_rep_tables_free(struct jm_rep_table *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < t[i].nrows * t[i].ncols; k++)
			free(t[i].cells[k]);
		free(t[i].cells);
		free(t[i].kind);
	}
	free(t);
}

void jm_rep_facts_free(struct jm_rep_fact f[JM_REP_N_FACTS])
{
	for (int i = 0; i < JM_REP_N_FACTS; i++) {
		free(f[i].value);
		f[i].value = NULL;
	}
}

/* f->value = the formatted string, allocated; -1 out of memory. */
static int fact(struct jm_rep_fact *f, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fact(struct jm_rep_fact *f, const char *label, const char *fmt, ...)
{
	va_list ap;
	int n;

	f->label = label;
	va_start(ap, fmt);
	n = vasprintf(&f->value, fmt, ap);
	va_end(ap);
	if (n < 0) {
		f->value = NULL;
		return -1;
	}
	return 0;
}

int jm_rep_facts(const struct jm_rep_report *r, struct jm_rep_fact f[JM_REP_N_FACTS])
{
	char a[40], b[40], d[40], m1[40], m2[40];
	int rc = 0;

	memset(f, 0, JM_REP_N_FACTS * sizeof(*f));
	jm_rep_format_time(r->from_ns, a, sizeof(a));
	jm_rep_format_time(r->to_ns, b, sizeof(b));
	jm_rep_format_duration((double)(r->to_ns - r->from_ns) / 1e9, d, sizeof(d));
	jm_rep_fmt_money(r->total_cost.total, m1, sizeof(m1));
	jm_rep_fmt_money(r->idle.cost.total, m2, sizeof(m2));
	rc |= fact(&f[0], "period", "%s .. %s (%s)%s%s", a, b, d, r->job_filter ? ", job " : "",
		   r->job_filter ? r->job_filter : "");
	rc |= fact(&f[1], "database", "%s (schema v%d, %s)", r->db_path, r->schema_version,
		   r->rollup_used ? "whole days from rollups, edges from raw rows" : "raw rows");
	rc |= fact(&f[2], "prices",
		   "%s per cpu_core_hour %.10g, memory_gib_hour %.10g, scan_tib %.10g, egress_gib %.10g (%s)",
		   r->prices.currency, r->prices.cpu_core_hour, r->prices.memory_gib_hour, r->prices.scan_tib,
		   r->prices.egress_gib, r->prices.source);
	rc |= fact(&f[3], "totals", "%zu jobs, %llu runs, cost %s %s + idle %s %s", r->n_jobs,
		   (unsigned long long)r->total.runs, m1, r->prices.currency, m2, r->prices.currency);
	rc |= fact(&f[4], "slos", "%s", r->slos ? r->slos->path : "none (--slos FILE)");
	if (rc) {
		jm_rep_facts_free(f);
		return -1;
	}
	return 0;
}

static void fmt_u64(uint64_t v, char *b, size_t n)
{
	snprintf(b, n, "%llu", (unsigned long long)v);
}

static void fmt_hours(double seconds, char *b, size_t n)
{
	double h = seconds / 3600;

	snprintf(b, n, h >= 100 ? "%.0f" : h >= 1 ? "%.2f" : "%.4f", h);
}

static void fmt_age(const struct jm_rep_report *r, int64_t t, char *b, size_t n)
{
	if (t <= 0)
		snprintf(b, n, "never");
	else
		jm_rep_format_duration((double)(r->to_ns - t) / 1e9, b, n);
}

static int jobs_table(const struct jm_rep_report *r, struct jm_rep_table **ts, size_t *n)
{
	static const struct jm_rep_col cols[] = {
		{ "JOB", JOBW, false }, { "RUNS", 6, true }, { "OK%", 6, true }, { "FAILED", 6, true },
		{ "UNKNOWN", 7, true }, { "RESTARTS", 8, true },
		{ "OOM", 5, true }, { "P50 DUR", 8, true }, { "P95 DUR", 8, true }, { "CPU-H", 9, true },
		{ "PEAK RSS", 9, true }, { "GIB-H", 9, true },
	};
	struct jm_rep_table *t = table_new(ts, n, "jobs", cols, sizeof(cols) / sizeof(cols[0]));
	bool estimated = false;

	if (!t)
		return -1;
	for (size_t i = 0; i < r->n_jobs; i++)
		estimated |= r->jobs[i].durations_estimated;
	snprintf(t->title, sizeof(t->title), "Jobs");
	snprintf(t->note, sizeof(t->note), "runs that ended in the period; UNKNOWN = the exit went unseen "
		 "(counted as not OK)%s",
		 estimated ? "; duration percentiles from the rollup histogram (within 4.5%)" : "");
	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct jm_rep_job *j = &r->jobs[i];
		char runs[24], ok[16], fl[24], unk[24], rst[24], oom[24], p50[24], p95[24], cpu[24], rss[24],
		     gib[24];

		fmt_u64(j->u.runs, runs, sizeof(runs));
		fmt_u64(j->u.failures, fl, sizeof(fl));
		fmt_u64(jm_rep_unknown_outcomes(&j->u), unk, sizeof(unk));
		jm_rep_fmt_pct(j->u.runs ? (double)j->u.successes / (double)j->u.runs : NAN, ok, sizeof(ok));
		fmt_u64(j->u.restarts, rst, sizeof(rst));
		fmt_u64(j->u.oom_kills, oom, sizeof(oom));
		jm_rep_format_duration(j->dur_p50_s, p50, sizeof(p50));
		jm_rep_format_duration(j->dur_p95_s, p95, sizeof(p95));
		fmt_hours(j->u.cpu_s, cpu, sizeof(cpu));
		jm_rep_fmt_bytes((double)j->u.peak_rss_bytes, rss, sizeof(rss));
		fmt_hours(j->u.mem_gib_s, gib, sizeof(gib));
		if (row(t, j->u.runs > j->u.successes || j->u.oom_kills ? JM_ROW_ALERT : JM_ROW_NORMAL,
			j->name, runs, ok, fl, unk, rst, oom, p50, p95, cpu, rss, gib))
			return -1;
	}
	return 0;
}

static int failures_table(const struct jm_rep_report *r, struct jm_rep_table **ts, size_t *n)
{
	static const struct jm_rep_col cols[] = {
		{ "JOB", JOBW, false }, { "HOW IT ENDED", 14, false }, { "RUNS", 6, true },
		{ "LAST", 20, false },
	};
	struct jm_rep_table *t = table_new(ts, n, "failures", cols, sizeof(cols) / sizeof(cols[0]));

	if (!t)
		return -1;
	snprintf(t->title, sizeof(t->title), "Failed runs");
	snprintf(t->note, sizeof(t->note), "runs of the period that did not succeed, by how they ended");
	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct jm_rep_job *j = &r->jobs[i];

		for (size_t k = 0; k < j->n_failures; k++) {
			const struct jm_rep_failure *f = &j->failures[k];
			char runs[24], last[40];

			fmt_u64(f->runs, runs, sizeof(runs));
			jm_rep_format_time(f->last_end_ns, last, sizeof(last));
			if (row(t, JM_ROW_ALERT, j->name, f->how, runs, last))
				return -1;
		}
	}
	return 0;
}

static int data_table(const struct jm_rep_report *r, struct jm_rep_table **ts, size_t *n)
{
	static const struct jm_rep_col cols[] = {
		{ "JOB", JOBW, false }, { "SCANNED", 10, true }, { "WRITTEN", 10, true }, { "NET TX", 10, true },
		{ "QUERIES", 10, true }, { "QUERY ERR", 9, true }, { "QUERY P95", 9, true },
	};
	struct jm_rep_table *t = table_new(ts, n, "data", cols, sizeof(cols) / sizeof(cols[0]));

	if (!t)
		return -1;
	snprintf(t->title, sizeof(t->title), "Data and queries");
	/* One text line (120 columns): shorter when it must explain a mark. */
	if (r->total.db_conns_unreadable)
		snprintf(t->note, sizeof(t->note), "bytes read (scanned), written, sent; queries of the runs;"
			 " * = some DB connections unreadable (TLS, compression)");
	else
		snprintf(t->note, sizeof(t->note), "bytes read from files (scanned), written, sent on"
			 " sockets; database queries of the runs");
	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct jm_rep_job *j = &r->jobs[i];
		char sc[24], wr[24], tx[24], q[32], qe[16], p95[24];

		jm_rep_fmt_bytes((double)j->u.file_read_bytes, sc, sizeof(sc));
		jm_rep_fmt_bytes((double)j->u.file_write_bytes, wr, sizeof(wr));
		jm_rep_fmt_bytes((double)j->u.net_tx_bytes, tx, sizeof(tx));
		fmt_u64(j->u.queries, q, sizeof(q));
		if (j->u.db_conns_unreadable)
			strcat(q, "*");                /* q holds at most 20 digits */
		jm_rep_fmt_pct_bad(j->u.queries ? (double)j->u.query_errors / (double)j->u.queries : NAN, qe,
				   sizeof(qe));
		jm_rep_format_duration(j->query_p95_s, p95, sizeof(p95));
		if (row(t, JM_ROW_NORMAL, j->name, sc, wr, tx, q, qe, p95))
			return -1;
	}
	return 0;
}

static int cost_row(struct jm_rep_table *t, enum jm_rep_row_kind k, const char *name,
		    const struct jm_rep_cost *c, double per_run, double per_gib)
{
	char a[24], b[24], s[24], e[24], tot[24], pr[24], pg[24];

	jm_rep_fmt_money(c->cpu, a, sizeof(a));
	jm_rep_fmt_money(c->memory, b, sizeof(b));
	jm_rep_fmt_money(c->scan, s, sizeof(s));
	jm_rep_fmt_money(c->egress, e, sizeof(e));
	jm_rep_fmt_money(c->total, tot, sizeof(tot));
	jm_rep_fmt_money(per_run, pr, sizeof(pr));
	jm_rep_fmt_money(per_gib, pg, sizeof(pg));
	return row(t, k, name, a, b, s, e, tot, pr, pg);
}

static int cost_table(const struct jm_rep_report *r, struct jm_rep_table **ts, size_t *n)
{
	static const struct jm_rep_col cols[] = {
		{ "JOB", JOBW, false }, { "CPU", 10, true }, { "MEMORY", 10, true }, { "SCAN", 10, true },
		{ "EGRESS", 10, true }, { "TOTAL", 11, true }, { "PER RUN", 10, true }, { "PER GIB SCAN", 12, true },
	};
	struct jm_rep_table *t = table_new(ts, n, "cost", cols, sizeof(cols) / sizeof(cols[0]));
	double tot_gib = (double)r->total.file_read_bytes / 1073741824.0;

	if (!t)
		return -1;
	snprintf(t->title, sizeof(t->title), "Cost (%s)", r->prices.currency);
	snprintf(t->note, sizeof(t->note), "raw figures x prices; __idle__ is host capacity no job used");
	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct jm_rep_job *j = &r->jobs[i];

		if (cost_row(t, JM_ROW_NORMAL, j->name, &j->cost, j->cost_per_run, j->cost_per_gib_scanned))
			return -1;
	}
	if (cost_row(t, JM_ROW_SUMMARY, "__idle__ (unattributed)", &r->idle.cost, NAN, NAN) ||
	    cost_row(t, JM_ROW_SUMMARY, "TOTAL (jobs)", &r->total_cost,
		     r->total.runs ? r->total_cost.total / (double)r->total.runs : NAN,
		     tot_gib > 0 ? r->total_cost.total / tot_gib : NAN))
		return -1;
	return 0;
}

static int idle_table(const struct jm_rep_report *r, struct jm_rep_table **ts, size_t *n)
{
	static const struct jm_rep_col cols[] = {
		{ "RESOURCE", 10, false }, { "CAPACITY", 12, true }, { "USED BY JOBS", 12, true },
		{ "IDLE", 12, true }, { "IDLE COST", 11, true },
	};
	struct jm_rep_table *t = table_new(ts, n, "idle", cols, sizeof(cols) / sizeof(cols[0]));
	char c[24], u[24], i[24], m[24];

	if (!t)
		return -1;
	snprintf(t->title, sizeof(t->title), "Idle host capacity");
	snprintf(t->note, sizeof(t->note), "%u host(s); capacity = cores x time and memory x time the hosts"
		 " reported, used = job windows on them; idle per host", r->idle.hosts);
	fmt_hours(r->idle.capacity_core_s, c, sizeof(c));
	fmt_hours(r->idle.attributed_cpu_s, u, sizeof(u));
	fmt_hours(r->idle.idle_core_s, i, sizeof(i));
	jm_rep_fmt_money(r->idle.cost.cpu, m, sizeof(m));
	if (row(t, JM_ROW_NORMAL, "core-h", c, u, i, m))
		return -1;
	fmt_hours(r->idle.capacity_mem_gib_s, c, sizeof(c));
	fmt_hours(r->idle.attributed_mem_gib_s, u, sizeof(u));
	fmt_hours(r->idle.idle_mem_gib_s, i, sizeof(i));
	jm_rep_fmt_money(r->idle.cost.memory, m, sizeof(m));
	return row(t, JM_ROW_NORMAL, "GiB-h", c, u, i, m);
}

static int freshness_tables(const struct jm_rep_report *r, struct jm_rep_table **ts, size_t *n)
{
	static const struct jm_rep_col jcols[] = {
		{ "JOB", JOBW, false }, { "LAST SUCCESS", 20, false }, { "AGE", 9, true },
		{ "MAX AGE", 9, true }, { "STATUS", 7, false },
	};
	static const struct jm_rep_col dcols[] = {
		{ "DATASET", 40, false }, { "WRITER", 24, false }, { "LAST WRITE", 20, false },
		{ "AGE", 9, true }, { "STATUS", 7, false },
	};
	struct jm_rep_table *t = table_new(ts, n, "freshness", jcols, sizeof(jcols) / sizeof(jcols[0]));
	char to[40];

	if (!t)
		return -1;
	jm_rep_format_time(r->to_ns, to, sizeof(to));
	snprintf(t->title, sizeof(t->title), "Freshness");
	snprintf(t->note, sizeof(t->note), "age of the last successful run as of %s", to);
	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct jm_rep_job *j = &r->jobs[i];
		char last[40], age[24], max[24];

		if (j->last_success_ns > 0)
			jm_rep_format_time(j->last_success_ns, last, sizeof(last));
		else
			snprintf(last, sizeof(last), "never");
		fmt_age(r, j->last_success_ns, age, sizeof(age));
		jm_rep_format_duration(j->slo.spec.has_freshness ? j->slo.spec.freshness_max_age_s : NAN, max,
				       sizeof(max));
		if (row(t, j->slo.freshness == JM_REP_MISSED ? JM_ROW_ALERT : JM_ROW_NORMAL, j->name, last, age, max,
			jm_rep_verdict_name(j->slo.freshness)))
			return -1;
	}
	t = table_new(ts, n, "datasets", dcols, sizeof(dcols) / sizeof(dcols[0]));
	if (!t)
		return -1;
	snprintf(t->title, sizeof(t->title), "Datasets");
	snprintf(t->note, sizeof(t->note), "last write of each output table or file (max age = writer's"
		 " freshness objective)");
	for (size_t i = 0; i < r->n_datasets; i++) {
		const struct jm_rep_dataset *d = &r->datasets[i];
		char *name, last[40], age[24];
		double a = (double)(r->to_ns - d->last_write_ns) / 1e9;
		enum jm_rep_verdict v = isnan(d->max_age_s) ? JM_REP_NO_SLO : a <= d->max_age_s ? JM_REP_MET
												 : JM_REP_MISSED;
		int rc;

		/* Whole: names run to 4 KiB (object store paths), and a
		 * fixed buffer cut them without a mark, mid-character. */
		if (asprintf(&name, "%s:%s", d->kind, d->name) < 0)
			return -1;
		jm_rep_format_time(d->last_write_ns, last, sizeof(last));
		jm_rep_format_duration(a, age, sizeof(age));
		rc = row(t, v == JM_REP_MISSED ? JM_ROW_ALERT : JM_ROW_NORMAL, name, d->job, last, age,
			 jm_rep_verdict_name(v));
		free(name);
		if (rc)
			return -1;
	}
	return 0;
}

static int statements_table(const struct jm_rep_report *r, struct jm_rep_table **ts, size_t *n)
{
	/* 120 columns: durations print in at most 6 characters ("12.3s",
	 * "1h02m") except totals over days ("123d04h"), so P95/P99 take
	 * their room from MEAN and the fingerprint. */
	static const struct jm_rep_col cols[] = {
		{ "JOB", 20, false }, { "CALLS", 9, true }, { "ERRORS", 7, true }, { "TOTAL", 9, true },
		{ "MEAN", 7, true }, { "P95", 7, true }, { "P99", 7, true }, { "FINGERPRINT", 47, false },
	};
	struct jm_rep_table *t = table_new(ts, n, "statements", cols, sizeof(cols) / sizeof(cols[0]));

	if (!t)
		return -1;
	snprintf(t->title, sizeof(t->title), "Top statements");
	snprintf(t->note, sizeof(t->note), "up to %d per job by total time (normalized SQL); P95/P99 = highest"
		 " of any run (an upper bound), - = not recorded", JM_REP_TOP_STATEMENTS);
	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct jm_rep_job *j = &r->jobs[i];

		for (size_t k = 0; k < j->n_stmts; k++) {
			const struct jm_rep_stmt *s = &j->stmts[k];
			char calls[24], errs[24], tot[24], mean[24], p95[24], p99[24];

			fmt_u64(s->calls, calls, sizeof(calls));
			fmt_u64(s->errors, errs, sizeof(errs));
			jm_rep_format_duration(s->latency_s_sum, tot, sizeof(tot));
			jm_rep_format_duration(s->calls ? s->latency_s_sum / (double)s->calls : NAN, mean, sizeof(mean));
			jm_rep_format_duration(s->latency_p95_s, p95, sizeof(p95));
			jm_rep_format_duration(s->latency_p99_s, p99, sizeof(p99));
			if (row(t, JM_ROW_NORMAL, j->name, calls, errs, tot, mean, p95, p99,
				s->fingerprint[0] ? s->fingerprint : "(no SQL seen: empty, or prepared unseen)"))
				return -1;
		}
	}
	return 0;
}

static void fmt_ratio(double v, char *b, size_t n)
{
	if (isnan(v))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.2f", v);
}

static int slo_table(const struct jm_rep_report *r, struct jm_rep_table **ts, size_t *n)
{
	static const struct jm_rep_col cols[] = {
		{ "JOB", JOBW, false }, { "OBJECTIVE", 17, false }, { "TARGET", 9, true }, { "OBSERVED", 9, true },
		{ "STATUS", 7, false }, { "BUDGET LEFT", 11, true }, { "BURN 1H", 8, true }, { "BURN 6H", 8, true },
		{ "FLAG", 4, false },
	};
	struct jm_rep_table *t = table_new(ts, n, "slo", cols, sizeof(cols) / sizeof(cols[0]));

	if (!t)
		return -1;
	snprintf(t->title, sizeof(t->title), "Service level objectives");
	snprintf(t->note, sizeof(t->note), "burn rate = error ratio / (1 - target) over the last 1 h and 6 h;"
		 " FLAG when > %.0fx", JM_REP_BURN_FLAG);
	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct jm_rep_job *j = &r->jobs[i];
		const struct jm_rep_job_slo *s = &j->slo;
		char tg[24], ob[24], bl[24], b1[24], b6[24];

		if (s->spec.has_success) {
			jm_rep_fmt_pct(s->spec.success_rate, tg, sizeof(tg));
			jm_rep_fmt_pct(j->u.runs ? (double)j->u.successes / (double)j->u.runs : NAN, ob, sizeof(ob));
			jm_rep_fmt_pct(s->budget_remaining, bl, sizeof(bl));
			fmt_ratio(s->burn_1h, b1, sizeof(b1));
			fmt_ratio(s->burn_6h, b6, sizeof(b6));
			if (row(t, s->success == JM_REP_MISSED || s->burn_flag ? JM_ROW_ALERT : JM_ROW_NORMAL, j->name,
				"success_rate", tg, ob, jm_rep_verdict_name(s->success), bl, b1, b6,
				s->burn_flag ? "BURN" : ""))
				return -1;
		}
		if (s->spec.has_freshness) {
			jm_rep_format_duration(s->spec.freshness_max_age_s, tg, sizeof(tg));
			fmt_age(r, j->last_success_ns, ob, sizeof(ob));
			if (row(t, s->freshness == JM_REP_MISSED ? JM_ROW_ALERT : JM_ROW_NORMAL, j->name,
				"freshness_max_age", tg, ob, jm_rep_verdict_name(s->freshness), "", "", "", ""))
				return -1;
		}
		if (s->spec.has_latency) {
			jm_rep_format_duration(s->spec.query_p95_latency_s, tg, sizeof(tg));
			jm_rep_format_duration(j->query_p95_s, ob, sizeof(ob));
			if (row(t, s->latency == JM_REP_MISSED ? JM_ROW_ALERT : JM_ROW_NORMAL, j->name,
				"query_p95_latency", tg, ob, jm_rep_verdict_name(s->latency), "", "", "", ""))
				return -1;
		}
		if (s->spec.has_cost) {
			jm_rep_fmt_money(s->spec.cost_per_day, tg, sizeof(tg));
			jm_rep_fmt_money(s->cost_per_day, ob, sizeof(ob));
			if (row(t, s->cost == JM_REP_MISSED ? JM_ROW_ALERT : JM_ROW_NORMAL, j->name,
				"cost_per_day", tg, ob, jm_rep_verdict_name(s->cost), "", "", "", ""))
				return -1;
		}
	}
	return 0;
}

static int anomaly_table(const struct jm_rep_report *r, struct jm_rep_table **ts, size_t *n)
{
	static const struct jm_rep_col cols[] = {
		{ "DAY", 10, false }, { "JOB", JOBW, false }, { "COST", 10, true }, { "7D MEDIAN", 10, true },
		{ "RATIO", 7, true }, { "GREW MOST", 22, false },
	};
	struct jm_rep_table *t = table_new(ts, n, "anomalies", cols, sizeof(cols) / sizeof(cols[0]));

	if (!t)
		return -1;
	snprintf(t->title, sizeof(t->title), "Cost anomalies");
	snprintf(t->note, sizeof(t->note), "a day's cost above %.0fx the median of the %d days before it",
		 JM_REP_ANOMALY_FACTOR, JM_REP_BASELINE_DAYS);
	for (size_t i = 0; i < r->n_anomalies; i++) {
		const struct jm_rep_anomaly *a = &r->anomalies[i];
		char day[16], c[24], m[24], ra[24], g[24], grew[64];

		jm_rep_format_day(a->day, day, sizeof(day));
		jm_rep_fmt_money(a->cost, c, sizeof(c));
		jm_rep_fmt_money(a->median, m, sizeof(m));
		snprintf(ra, sizeof(ra), "%.1fx", a->ratio);
		jm_rep_fmt_money(a->component_growth, g, sizeof(g));
		snprintf(grew, sizeof(grew), "%s (+%s)", a->component, g);
		if (row(t, JM_ROW_ALERT, day, r->jobs[a->job].name, c, m, ra, grew))
			return -1;
	}
	return 0;
}

static int daily_table(const struct jm_rep_report *r, struct jm_rep_table **ts, size_t *n)
{
	static const struct jm_rep_col cols[] = {
		{ "DAY", 10, false }, { "COST", 11, true }, { "", 60, false },
	};
	struct jm_rep_table *t = table_new(ts, n, "daily", cols, sizeof(cols) / sizeof(cols[0]));
	double max = 0;

	if (!t)
		return -1;
	t->text_only_col = 2;
	snprintf(t->title, sizeof(t->title), "Daily cost (%s)", r->prices.currency);
	snprintf(t->note, sizeof(t->note), "all jobs, whole UTC days: the first from its midnight, before the period start, the last up to the period end");
	for (size_t d = r->first_period_day; d < r->n_days; d++)
		if (r->day_total_cost[d] > max)
			max = r->day_total_cost[d];
	for (size_t d = r->first_period_day; d < r->n_days; d++) {
		char day[16], c[24], bar[64];
		int w = max > 0 ? (int)lround(r->day_total_cost[d] / max * 60) : 0;

		jm_rep_format_day(r->first_day + (int64_t)d, day, sizeof(day));
		jm_rep_fmt_money(r->day_total_cost[d], c, sizeof(c));
		memset(bar, '#', (size_t)w);
		bar[w] = '\0';
		if (row(t, JM_ROW_NORMAL, day, c, bar))
			return -1;
	}
	return 0;
}

/* Per agent: what the collector stored, the seqs it never got and what the
 * agent reported lost.  Any non-zero gap or loss means the figures above
 * miss something: the row is flagged, never hidden. */
static int completeness_table(const struct jm_rep_report *r, struct jm_rep_table **ts, size_t *n)
{
	static const struct jm_rep_col cols[] = {
		{ "AGENT", 22, false }, { "HOST", 14, false }, { "BATCHES", 8, true },
		{ "SEQ GAPS", 8, true }, { "LOST", 8, true }, { "STATUS", 10, false }, { "LOSS BY REASON", 42, false },
	};
	struct jm_rep_table *t = table_new(ts, n, "completeness", cols, sizeof(cols) / sizeof(cols[0]));
	size_t incomplete = 0;

	if (!t)
		return -1;
	for (size_t i = 0; i < r->n_agents; i++)
		incomplete += r->agents[i].seq_gaps || r->agents[i].lost;
	snprintf(t->title, sizeof(t->title), "Data completeness");
	if (r->n_agents == 0)
		snprintf(t->note, sizeof(t->note), "no batch stored in the period: every figure above is "
			 "missing, not zero");
	else
		snprintf(t->note, sizeof(t->note), "%zu of %zu agent(s) incomplete: seq gaps = batches "
			 "never stored (lost or refused), lost = dropped by the agent",
			 incomplete, r->n_agents);
	for (size_t i = 0; i < r->n_agents; i++) {
		const struct jm_rep_agent *a = &r->agents[i];
		char b[24], g[24], l[24], why[256] = "";
		size_t w = 0;

		fmt_u64(a->batches, b, sizeof(b));
		fmt_u64(a->seq_gaps, g, sizeof(g));
		fmt_u64(a->lost, l, sizeof(l));
		for (int k = 0; k < JM_REP_LOSS_N && w < sizeof(why); k++) {
			if (!a->loss[k])
				continue;
			int m = snprintf(why + w, sizeof(why) - w, "%s%s=%llu", w ? " " : "",
					 jm_rep_loss_names[k], (unsigned long long)a->loss[k]);
			if (m < 0)
				break;
			w += (size_t)m;
		}
		bool bad = a->seq_gaps || a->lost;
		if (row(t, bad ? JM_ROW_ALERT : JM_ROW_NORMAL, a->agent_id, a->host, b, g, l,
			bad ? "INCOMPLETE" : "complete", why[0] ? why : "-"))
			return -1;
	}
	return 0;
}

int jm_rep_tables_build(const struct jm_rep_report *r, struct jm_rep_table **out, size_t *n)
{
	struct jm_rep_table *t = NULL;
	size_t k = 0;

	if (jobs_table(r, &t, &k) || failures_table(r, &t, &k) || data_table(r, &t, &k) || cost_table(r, &t, &k) || idle_table(r, &t, &k) ||
	    freshness_tables(r, &t, &k) || statements_table(r, &t, &k) || slo_table(r, &t, &k) ||
	    anomaly_table(r, &t, &k) || daily_table(r, &t, &k) || completeness_table(r, &t, &k)) {
		jm_rep_tables_free(t, k);
		return -1;
	}
	*out = t;
	*n = k;
	return 0;
}
