/* JSON renderer: see render.h.  Keys are written in a fixed order (the
 * order of this file), doubles in the shortest form that reads back
 * exactly, undefined figures as null.  The per-job "raw" object holds the
 * sums of the stored run rows. */
#include "tools/report/render.h"

#include <math.h>
#include <stdbool.h>

#include "tools/report/out.h"
#include "tools/report/timefmt.h"

#define MAX_DEPTH 16

/* A minimal pretty-printing writer: it only tracks commas and indentation. */
struct jw {
	FILE *f;
	int depth;
	bool first[MAX_DEPTH];
};

static void jw_key(struct jw *w, const char *key)
{
	if (!w->first[w->depth])
		fputc(',', w->f);
	w->first[w->depth] = false;
	if (w->depth > 0 || key)
		fputc('\n', w->f);
	for (int i = 0; i < w->depth; i++)
		fputs("  ", w->f);
	if (key) {
		jm_rep_json_str(w->f, key);
		fputs(": ", w->f);
	}
}

static void jw_open(struct jw *w, const char *key, char c)
{
	if (w->depth > 0)
		jw_key(w, key);
	fputc(c, w->f);
	if (w->depth < MAX_DEPTH - 1)
		w->depth++;
	w->first[w->depth] = true;
}

static void jw_close(struct jw *w, char c)
{
	bool empty = w->first[w->depth];

	if (w->depth > 0)
		w->depth--;
	if (!empty) {
		fputc('\n', w->f);
		for (int i = 0; i < w->depth; i++)
			fputs("  ", w->f);
	}
	fputc(c, w->f);
}

static void jw_num(struct jw *w, const char *key, double v)
{
	jw_key(w, key);
	jm_rep_json_num(w->f, v);
}

static void jw_u64(struct jw *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	fprintf(w->f, "%llu", (unsigned long long)v);
}

static void jw_i64(struct jw *w, const char *key, int64_t v)
{
	jw_key(w, key);
	fprintf(w->f, "%lld", (long long)v);
}

static void jw_str(struct jw *w, const char *key, const char *s)
{
	jw_key(w, key);
	if (s)
		jm_rep_json_str(w->f, s);
	else
		fputs("null", w->f);
}

static void jw_bool(struct jw *w, const char *key, bool b)
{
	jw_key(w, key);
	fputs(b ? "true" : "false", w->f);
}

static void jw_time(struct jw *w, const char *key, int64_t ns)
{
	char b[40];

	if (ns <= 0) {
		jw_str(w, key, NULL);
		return;
	}
	jm_rep_format_time(ns, b, sizeof(b));
	jw_str(w, key, b);
}

static void jw_cost(struct jw *w, const char *key, const struct jm_rep_cost *c)
{
	jw_open(w, key, '{');
	jw_num(w, "cpu", c->cpu);
	jw_num(w, "memory", c->memory);
	jw_num(w, "scan", c->scan);
	jw_num(w, "egress", c->egress);
	jw_num(w, "total", c->total);
	jw_close(w, '}');
}

static const char *status(enum jm_rep_verdict v)
{
	switch (v) {
	case JM_REP_MET: return "met";
	case JM_REP_MISSED: return "missed";
	case JM_REP_NO_DATA: return "no_data";
	default: return "none";
	}
}

static void job_slo(struct jw *w, const struct jm_rep_report *r, const struct jm_rep_job *j)
{
	const struct jm_rep_job_slo *s = &j->slo;

	jw_open(w, "slo", '{');
	if (s->spec.has_success) {
		jw_open(w, "success_rate", '{');
		jw_num(w, "target", s->spec.success_rate);
		jw_num(w, "observed", j->u.runs ? (double)j->u.successes / (double)j->u.runs : NAN);
		jw_str(w, "status", status(s->success));
		jw_num(w, "error_budget_remaining", s->budget_remaining);
		jw_num(w, "burn_rate_1h", s->burn_1h);
		jw_num(w, "burn_rate_6h", s->burn_6h);
		jw_u64(w, "runs_1h", s->runs_1h);
		jw_u64(w, "bad_1h", s->bad_1h);
		jw_u64(w, "runs_6h", s->runs_6h);
		jw_u64(w, "bad_6h", s->bad_6h);
		jw_bool(w, "burn_flag", s->burn_flag);
		jw_close(w, '}');
	} else {
		jw_str(w, "success_rate", NULL);
	}
	if (s->spec.has_freshness) {
		jw_open(w, "freshness_max_age", '{');
		jw_num(w, "target_s", s->spec.freshness_max_age_s);
		jw_num(w, "observed_age_s",
		       j->last_success_ns > 0 ? (double)(r->to_ns - j->last_success_ns) / 1e9 : NAN);
		jw_str(w, "status", status(s->freshness));
		jw_close(w, '}');
	} else {
		jw_str(w, "freshness_max_age", NULL);
	}
	if (s->spec.has_latency) {
		jw_open(w, "query_p95_latency", '{');
		jw_num(w, "target_s", s->spec.query_p95_latency_s);
		jw_num(w, "observed_s", j->query_p95_s);
		jw_str(w, "status", status(s->latency));
		jw_close(w, '}');
	} else {
		jw_str(w, "query_p95_latency", NULL);
	}
	if (s->spec.has_cost) {
		jw_open(w, "cost_per_day", '{');
		jw_num(w, "target", s->spec.cost_per_day);
		jw_num(w, "observed", s->cost_per_day);
		jw_num(w, "worst_day", s->worst_day_cost);
		jw_str(w, "status", status(s->cost));
		jw_close(w, '}');
	} else {
		jw_str(w, "cost_per_day", NULL);
	}
	jw_close(w, '}');
}

static void job(struct jw *w, const struct jm_rep_report *r, const struct jm_rep_job *j)
{
	const struct jm_rep_usage *u = &j->u;

	jw_open(w, NULL, '{');
	jw_str(w, "job", j->name);
	jw_u64(w, "runs", u->runs);
	jw_u64(w, "successes", u->successes);
	jw_u64(w, "failures", u->failures);
	jw_u64(w, "unknown_outcomes", jm_rep_unknown_outcomes(u));
	jw_open(w, "failure_endings", '[');
	for (size_t k = 0; k < j->n_failures; k++) {
		jw_open(w, NULL, '{');
		jw_str(w, "how", j->failures[k].how);
		jw_u64(w, "runs", j->failures[k].runs);
		jw_time(w, "last_end", j->failures[k].last_end_ns);
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_num(w, "success_rate", u->runs ? (double)u->successes / (double)u->runs : NAN);
	jw_u64(w, "restarts", u->restarts);
	jw_u64(w, "oom_kills", u->oom_kills);
	jw_num(w, "duration_p50_s", j->dur_p50_s);
	jw_num(w, "duration_p95_s", j->dur_p95_s);
	jw_bool(w, "duration_estimated", j->durations_estimated);
	jw_open(w, "raw", '{');
	jw_u64(w, "processes", u->processes);
	jw_num(w, "cpu_s", u->cpu_s);
	jw_num(w, "mem_gib_s", u->mem_gib_s);
	jw_u64(w, "peak_rss_bytes", u->peak_rss_bytes);
	jw_u64(w, "file_read_bytes", u->file_read_bytes);
	jw_u64(w, "file_write_bytes", u->file_write_bytes);
	jw_u64(w, "net_rx_bytes", u->net_rx_bytes);
	jw_u64(w, "net_tx_bytes", u->net_tx_bytes);
	jw_num(w, "duration_s_sum", u->duration_s_sum);
	jw_u64(w, "queries", u->queries);
	jw_u64(w, "query_errors", u->query_errors);
	jw_num(w, "query_latency_s_sum", u->query_latency_s_sum);
	jw_close(w, '}');
	jw_num(w, "cpu_hours", u->cpu_s / 3600);
	jw_num(w, "gib_hours", u->mem_gib_s / 3600);
	jw_num(w, "gib_scanned", (double)u->file_read_bytes / 1073741824.0);
	jw_num(w, "query_error_rate", u->queries ? (double)u->query_errors / (double)u->queries : NAN);
	jw_num(w, "query_p95_s", j->query_p95_s);
	jw_u64(w, "db_connections_unreadable", j->u.db_conns_unreadable);
	jw_str(w, "query_p95_source", isnan(j->query_p95_s) ? NULL
				      : j->query_p95_from_hist ? "histogram" : "weighted_run_p95");
	jw_open(w, "top_statements", '[');
	for (size_t k = 0; k < j->n_stmts; k++) {
		jw_open(w, NULL, '{');
		jw_str(w, "fingerprint", j->stmts[k].fingerprint);
		jw_u64(w, "calls", j->stmts[k].calls);
		jw_u64(w, "errors", j->stmts[k].errors);
		jw_u64(w, "rows", j->stmts[k].rows);
		jw_u64(w, "rows_unknown", j->stmts[k].rows_unknown);
		jw_num(w, "latency_s_sum", j->stmts[k].latency_s_sum);
		/* Highest per-run figure (upper bound); null = not recorded. */
		jw_num(w, "latency_p95_s", j->stmts[k].latency_p95_s);
		jw_num(w, "latency_p99_s", j->stmts[k].latency_p99_s);
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_open(w, "freshness", '{');
	jw_time(w, "last_success", j->last_success_ns);
	if (j->last_success_ns > 0)
		jw_i64(w, "last_success_unix_ns", j->last_success_ns);
	else
		jw_str(w, "last_success_unix_ns", NULL);
	jw_num(w, "age_s", j->last_success_ns > 0 ? (double)(r->to_ns - j->last_success_ns) / 1e9 : NAN);
	jw_close(w, '}');
	jw_open(w, "cost", '{');
	jw_num(w, "cpu", j->cost.cpu);
	jw_num(w, "memory", j->cost.memory);
	jw_num(w, "scan", j->cost.scan);
	jw_num(w, "egress", j->cost.egress);
	jw_num(w, "total", j->cost.total);
	jw_num(w, "per_run", j->cost_per_run);
	jw_num(w, "per_gib_scanned", j->cost_per_gib_scanned);
	jw_close(w, '}');
	jw_open(w, "daily_cost", '[');
	for (size_t d = r->first_period_day; d < r->n_days; d++) {
		const struct jm_rep_dayuse *x = &j->days[d];
		struct jm_rep_cost c;
		char day[16];

		jm_rep_cost_of(&r->prices, x->cpu_s, x->mem_gib_s, x->file_read_bytes, x->net_tx_bytes, &c);
		jm_rep_format_day(r->first_day + (int64_t)d, day, sizeof(day));
		jw_open(w, NULL, '{');
		jw_str(w, "day", day);
		jw_num(w, "cost", c.total);
		jw_close(w, '}');
	}
	jw_close(w, ']');
	job_slo(w, r, j);
	jw_close(w, '}');
}

int jm_rep_render_json(FILE *f, const struct jm_rep_report *r)
{
	struct jw w = { f, 0, { true } };
	char buf[64];

	jw_open(&w, NULL, '{');
	snprintf(buf, sizeof(buf), "jobmeter-report %s", r->version ? r->version : "");
	jw_str(&w, "generator", buf);
	jw_open(&w, "period", '{');
	jw_time(&w, "from", r->from_ns);
	jw_time(&w, "to", r->to_ns);
	jw_i64(&w, "from_unix_ns", r->from_ns);
	jw_i64(&w, "to_unix_ns", r->to_ns);
	jw_num(&w, "seconds", (double)(r->to_ns - r->from_ns) / 1e9);
	jw_str(&w, "job_filter", r->job_filter);
	jw_close(&w, '}');
	jw_open(&w, "database", '{');
	jw_str(&w, "path", r->db_path);
	jw_i64(&w, "schema_version", r->schema_version);
	jw_bool(&w, "rollups_used", r->rollup_used);
	jw_close(&w, '}');
	jw_open(&w, "prices", '{');
	jw_str(&w, "currency", r->prices.currency);
	jw_str(&w, "source", r->prices.source);
	jw_num(&w, "cpu_core_hour", r->prices.cpu_core_hour);
	jw_num(&w, "memory_gib_hour", r->prices.memory_gib_hour);
	jw_num(&w, "scan_tib", r->prices.scan_tib);
	jw_num(&w, "egress_gib", r->prices.egress_gib);
	jw_close(&w, '}');
	jw_str(&w, "slo_file", r->slos ? r->slos->path : NULL);
	jw_open(&w, "totals", '{');
	jw_u64(&w, "jobs", r->n_jobs);
	jw_u64(&w, "runs", r->total.runs);
	jw_cost(&w, "cost", &r->total_cost);
	jw_num(&w, "idle_cost", r->idle.cost.total);
	jw_close(&w, '}');
	jw_open(&w, "jobs", '[');
	for (size_t i = 0; i < r->n_jobs; i++)
		job(&w, r, &r->jobs[i]);
	jw_close(&w, ']');
	jw_open(&w, "idle", '{');
	jw_u64(&w, "hosts", r->idle.hosts);
	jw_num(&w, "capacity_core_s", r->idle.capacity_core_s);
	jw_num(&w, "capacity_mem_gib_s", r->idle.capacity_mem_gib_s);
	jw_num(&w, "attributed_cpu_s", r->idle.attributed_cpu_s);
	jw_num(&w, "attributed_mem_gib_s", r->idle.attributed_mem_gib_s);
	jw_num(&w, "idle_core_s", r->idle.idle_core_s);
	jw_num(&w, "idle_mem_gib_s", r->idle.idle_mem_gib_s);
	jw_cost(&w, "cost", &r->idle.cost);
	jw_close(&w, '}');
	jw_open(&w, "datasets", '[');
	for (size_t i = 0; i < r->n_datasets; i++) {
		const struct jm_rep_dataset *d = &r->datasets[i];
		double age = (double)(r->to_ns - d->last_write_ns) / 1e9;

		jw_open(&w, NULL, '{');
		jw_str(&w, "kind", d->kind);
		jw_str(&w, "name", d->name);
		jw_str(&w, "job", d->job);
		jw_time(&w, "last_write", d->last_write_ns);
		jw_i64(&w, "last_write_unix_ns", d->last_write_ns);
		jw_num(&w, "age_s", age);
		jw_num(&w, "max_age_s", d->max_age_s);
		jw_str(&w, "status", isnan(d->max_age_s) ? "none" : age <= d->max_age_s ? "met" : "missed");
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	/* Whole UTC days: the first starts at its midnight, which may be
	 * before the period's start, so "daily" can add up to more than the
	 * period's totals.  Said here, so no reader has to guess. */
	jw_time(&w, "daily_from", (r->first_day + (int64_t)r->first_period_day) * JM_REP_NS_PER_DAY);
	jw_open(&w, "daily", '[');
	for (size_t d = r->first_period_day; d < r->n_days; d++) {
		char day[16];

		jm_rep_format_day(r->first_day + (int64_t)d, day, sizeof(day));
		jw_open(&w, NULL, '{');
		jw_str(&w, "day", day);
		jw_num(&w, "cost", r->day_total_cost[d]);
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	jw_open(&w, "anomalies", '[');
	for (size_t i = 0; i < r->n_anomalies; i++) {
		const struct jm_rep_anomaly *a = &r->anomalies[i];
		char day[16];

		jm_rep_format_day(a->day, day, sizeof(day));
		jw_open(&w, NULL, '{');
		jw_str(&w, "day", day);
		jw_str(&w, "job", r->jobs[a->job].name);
		jw_num(&w, "cost", a->cost);
		jw_num(&w, "median_7d", a->median);
		jw_num(&w, "ratio", a->ratio);
		jw_str(&w, "component", a->component);
		jw_num(&w, "component_growth", a->component_growth);
		jw_close(&w, '}');
	}
	jw_close(&w, ']');
	/* Per agent: batches stored, seqs never stored, loss reported; a
	 * reviewer checks "complete" before trusting the figures above. */
	{
		bool complete = r->n_agents > 0;

		for (size_t i = 0; i < r->n_agents; i++)
			if (r->agents[i].seq_gaps || r->agents[i].lost)
				complete = false;
		jw_open(&w, "completeness", '{');
		jw_bool(&w, "complete", complete);
		jw_open(&w, "agents", '[');
		for (size_t i = 0; i < r->n_agents; i++) {
			const struct jm_rep_agent *a = &r->agents[i];

			jw_open(&w, NULL, '{');
			jw_str(&w, "agent_id", a->agent_id);
			jw_str(&w, "host", a->host);
			jw_u64(&w, "batches", a->batches);
			jw_u64(&w, "seq_gaps", a->seq_gaps);
			jw_u64(&w, "lost", a->lost);
			jw_open(&w, "loss", '{');
			for (int k = 0; k < JM_REP_LOSS_N; k++)
				jw_u64(&w, jm_rep_loss_names[k], a->loss[k]);
			jw_close(&w, '}');
			jw_close(&w, '}');
		}
		jw_close(&w, ']');
		jw_close(&w, '}');
	}
	jw_close(&w, '}');
	fputc('\n', f);
	return ferror(f) ? -1 : 0;
}
