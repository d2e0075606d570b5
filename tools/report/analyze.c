/* Derived report figures: see analyze.h. */
#include "tools/report/analyze.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/report/qhist.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double jm_rep_percentile(double *v, size_t n, double q)
{
	double pos, frac;
	size_t lo;

	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	pos = q * (double)(n - 1);
	lo = (size_t)floor(pos);
	if (lo >= n - 1)
		return v[n - 1];
	frac = pos - (double)lo;
	return v[lo] + (v[lo + 1] - v[lo]) * frac;
}

double jm_rep_median(const double *v, size_t n)
{
	double tmp[64], *c = n <= 64 ? tmp : malloc(n * sizeof(*c)), m;

	if (!c || n == 0)
		return NAN;
	memcpy(c, v, n * sizeof(*c));
	m = jm_rep_percentile(c, n, 0.5);
	if (c != tmp)
		free(c);
	return m;
}

static int cmp_stmt_fp(const void *a, const void *b)
{
	return strcmp(((const struct jm_rep_stmt *)a)->fingerprint, ((const struct jm_rep_stmt *)b)->fingerprint);
}

static int cmp_stmt_time(const void *a, const void *b)
{
	const struct jm_rep_stmt *x = a, *y = b;

	if (x->latency_s_sum != y->latency_s_sum)
		return x->latency_s_sum > y->latency_s_sum ? -1 : 1;
	return strcmp(x->fingerprint, y->fingerprint);
}

/* Merge rows of the same fingerprint (raw edges + rollup days), keep the
 * top statements by total time. */
static void top_statements(struct jm_rep_job *j)
{
	size_t w = 0;

	if (j->n_stmts == 0)
		return;
	qsort(j->stmts, j->n_stmts, sizeof(*j->stmts), cmp_stmt_fp);
	for (size_t i = 1; i < j->n_stmts; i++) {
		struct jm_rep_stmt *d = &j->stmts[w], *s = &j->stmts[i];

		if (strcmp(d->fingerprint, s->fingerprint) == 0) {
			jm_rep_sat_add(&d->calls, s->calls);
			jm_rep_sat_add(&d->errors, s->errors);
			jm_rep_sat_add(&d->rows, s->rows);
			jm_rep_sat_add(&d->rows_unknown, s->rows_unknown);
			d->latency_s_sum += s->latency_s_sum;
			/* Maxima, not sums; fmax() skips a NAN (unknown) side. */
			d->latency_p95_s = fmax(d->latency_p95_s, s->latency_p95_s);
			d->latency_p99_s = fmax(d->latency_p99_s, s->latency_p99_s);
			free(s->fingerprint);
		} else {
			j->stmts[++w] = *s;
		}
	}
	j->n_stmts = w + 1;
	qsort(j->stmts, j->n_stmts, sizeof(*j->stmts), cmp_stmt_time);
	while (j->n_stmts > JM_REP_TOP_STATEMENTS)
		free(j->stmts[--j->n_stmts].fingerprint);
}

static void day_cost(const struct jm_rep_prices *p, const struct jm_rep_dayuse *d, struct jm_rep_cost *c)
{
	jm_rep_cost_of(p, d->cpu_s, d->mem_gib_s, d->file_read_bytes, d->net_tx_bytes, c);
}

static void evaluate_slo(struct jm_rep_report *r, struct jm_rep_job *j)
{
	struct jm_rep_job_slo *s = &j->slo;
	double period_days = (double)(r->to_ns - r->from_ns) / (double)JM_REP_NS_PER_DAY;
	uint64_t bad = j->u.runs - j->u.successes;

	jm_rep_slo_effective(r->slos, j->name, &s->spec);
	s->budget_remaining = s->burn_1h = s->burn_6h = NAN;
	s->cost_per_day = period_days > 0 ? j->cost.total / period_days : NAN;
	s->worst_day_cost = 0;
	for (size_t d = r->first_period_day; d < r->n_days; d++) {
		struct jm_rep_cost c;

		day_cost(&r->prices, &j->days[d], &c);
		if (c.total > s->worst_day_cost)
			s->worst_day_cost = c.total;
	}
	if (s->spec.has_success) {
		double target = s->spec.success_rate;

		s->success = j->u.runs == 0 ? JM_REP_NO_DATA
			     : (double)j->u.successes / (double)j->u.runs >= target ? JM_REP_MET : JM_REP_MISSED;
		s->budget_remaining = jm_rep_budget_remaining(bad, j->u.runs, target);
		s->burn_1h = jm_rep_burn_rate(s->bad_1h, s->runs_1h, target);
		s->burn_6h = jm_rep_burn_rate(s->bad_6h, s->runs_6h, target);
		s->burn_flag = s->burn_1h > JM_REP_BURN_FLAG || s->burn_6h > JM_REP_BURN_FLAG;
	}
	if (s->spec.has_freshness) {
		double age = (double)(r->to_ns - j->last_success_ns) / 1e9;

		/* Never succeeded counts as stale: that is what the objective
		 * is there to catch. */
		s->freshness = j->last_success_ns > 0 && age <= s->spec.freshness_max_age_s ? JM_REP_MET
											  : JM_REP_MISSED;
	}
	if (s->spec.has_latency)
		s->latency = isnan(j->query_p95_s) ? JM_REP_NO_DATA
			     : j->query_p95_s <= s->spec.query_p95_latency_s ? JM_REP_MET : JM_REP_MISSED;
	if (s->spec.has_cost)
		s->cost = isnan(s->cost_per_day) ? JM_REP_NO_DATA
			  : s->cost_per_day <= s->spec.cost_per_day ? JM_REP_MET : JM_REP_MISSED;
}

static void analyze_job(struct jm_rep_report *r, struct jm_rep_job *j)
{
	struct jm_rep_usage *u = &j->u;
	uint64_t qtotal = 0;

	top_statements(j);
	if (j->durations_estimated) {
		j->dur_p50_s = jm_dhist_quantile(j->dhist, 0.5);
		j->dur_p95_s = jm_dhist_quantile(j->dhist, 0.95);
	} else {
		j->dur_p50_s = jm_rep_percentile(j->durations, j->n_durations, 0.5);
		j->dur_p95_s = jm_rep_percentile(j->durations, j->n_durations, 0.95);
	}
	for (int i = 0; i < JM_HIST_BUCKETS; i++)
		qtotal += u->qbuckets[i];
	j->query_p95_s = NAN;
	if (u->has_qbuckets && qtotal > 0) {
		j->query_p95_s = jm_rep_qhist_quantile(u->qbuckets, 0.95);
		j->query_p95_from_hist = true;
		/* Every run's queries have at least 95% at or below that run's
		 * p95, so all of them together do at or below the highest run
		 * p95, and not below the lowest: the merged buckets' estimate
		 * (good to one bucket, ~35%) stays inside.  One run: its p95,
		 * as the agent bounded it by the exact extremes. */
		if (u->p95_range_runs && !u->p95_range_unknown)
			j->query_p95_s = fmin(fmax(j->query_p95_s, u->p95_lo_s), u->p95_hi_s);
	} else if (u->queries > 0) {
		/* No histograms sent: per-run p95s weighted by their queries. */
		j->query_p95_s = u->query_p95_x_queries / (double)u->queries;
	}
	jm_rep_cost_of(&r->prices, u->cpu_s, u->mem_gib_s, u->file_read_bytes, u->net_tx_bytes, &j->cost);
	j->cost_per_run = u->runs ? j->cost.total / (double)u->runs : NAN;
	j->cost_per_gib_scanned = u->file_read_bytes ? j->cost.total / ((double)u->file_read_bytes / 1073741824.0)
						     : NAN;
	evaluate_slo(r, j);
	for (size_t d = 0; d < r->n_days; d++) {
		struct jm_rep_cost c;

		day_cost(&r->prices, &j->days[d], &c);
		r->day_total_cost[d] += c.total;
	}
}

static int cmp_job_cost(const void *a, const void *b)
{
	const struct jm_rep_job *x = a, *y = b;

	if (x->cost.total != y->cost.total)
		return x->cost.total > y->cost.total ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cmp_dataset(const void *a, const void *b)
{
	const struct jm_rep_dataset *x = a, *y = b;
	int c = strcmp(x->kind, y->kind);

	return c ? c : strcmp(x->name, y->name);
}

/* A day whose cost is more than twice the median of the 7 days before it
 * (missing days count as 0; no baseline cost, no verdict). */
static int find_anomalies(struct jm_rep_report *r, size_t ji)
{
	const struct jm_rep_job *j = &r->jobs[ji];

	for (size_t d = r->first_period_day; d < r->n_days; d++) {
		double base[JM_REP_BASELINE_DAYS][5], col[JM_REP_BASELINE_DAYS], med[5], now[5];
		struct jm_rep_cost c;
		struct jm_rep_anomaly *a;
		static const char *const names[4] = { "cpu", "memory", "scan", "egress" };
		int best = 0;

		for (size_t k = 0; k < JM_REP_BASELINE_DAYS; k++) {
			day_cost(&r->prices, &j->days[d - JM_REP_BASELINE_DAYS + k], &c);
			base[k][0] = c.cpu;
			base[k][1] = c.memory;
			base[k][2] = c.scan;
			base[k][3] = c.egress;
			base[k][4] = c.total;
		}
		for (int m = 0; m < 5; m++) {
			for (size_t k = 0; k < JM_REP_BASELINE_DAYS; k++)
				col[k] = base[k][m];
			med[m] = jm_rep_median(col, JM_REP_BASELINE_DAYS);
		}
		day_cost(&r->prices, &j->days[d], &c);
		now[0] = c.cpu;
		now[1] = c.memory;
		now[2] = c.scan;
		now[3] = c.egress;
		now[4] = c.total;
		if (!(med[4] > 0) || !(now[4] > JM_REP_ANOMALY_FACTOR * med[4]))
			continue;
		for (int m = 1; m < 4; m++)
			if (now[m] - med[m] > now[best] - med[best])
				best = m;
		if (r->n_anomalies == r->cap_anomalies) {
			size_t cap = r->cap_anomalies ? r->cap_anomalies * 2 : 16;
			struct jm_rep_anomaly *na = realloc(r->anomalies, cap * sizeof(*na));

			if (!na)
				return -1;
			r->anomalies = na;
			r->cap_anomalies = cap;
		}
		a = &r->anomalies[r->n_anomalies++];
		a->job = ji;
		a->day = r->first_day + (int64_t)d;
		a->cost = now[4];
		a->median = med[4];
		a->ratio = now[4] / med[4];
		a->component = names[best];
		a->component_growth = now[best] - med[best];
	}
	return 0;
}

static void usage_add(struct jm_rep_usage *t, const struct jm_rep_usage *u)
{
	jm_rep_sat_add(&t->runs, u->runs);
	jm_rep_sat_add(&t->successes, u->successes);
	jm_rep_sat_add(&t->failures, u->failures);
	jm_rep_sat_add(&t->restarts, u->restarts);
	jm_rep_sat_add(&t->oom_kills, u->oom_kills);
	jm_rep_sat_add(&t->processes, u->processes);
	t->cpu_s += u->cpu_s;
	t->mem_gib_s += u->mem_gib_s;
	if (u->peak_rss_bytes > t->peak_rss_bytes)
		t->peak_rss_bytes = u->peak_rss_bytes;
	jm_rep_sat_add(&t->file_read_bytes, u->file_read_bytes);
	jm_rep_sat_add(&t->file_write_bytes, u->file_write_bytes);
	jm_rep_sat_add(&t->net_rx_bytes, u->net_rx_bytes);
	jm_rep_sat_add(&t->net_tx_bytes, u->net_tx_bytes);
	t->duration_s_sum += u->duration_s_sum;
	jm_rep_sat_add(&t->queries, u->queries);
	jm_rep_sat_add(&t->query_errors, u->query_errors);
	t->query_latency_s_sum += u->query_latency_s_sum;
	t->query_p95_x_queries += u->query_p95_x_queries;
	jm_rep_sat_add(&t->db_conns_unreadable, u->db_conns_unreadable);
}

int jm_rep_analyze(struct jm_rep_report *r, char *err, size_t err_len)
{
	struct jm_rep_idle *idle = &r->idle;

	for (size_t i = 0; i < r->n_jobs; i++)
		analyze_job(r, &r->jobs[i]);
	if (r->n_jobs)
		qsort(r->jobs, r->n_jobs, sizeof(*r->jobs), cmp_job_cost);
	if (jm_rep_jobs_reindex(r)) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	memset(&r->total, 0, sizeof(r->total));
	for (size_t i = 0; i < r->n_jobs; i++) {
		usage_add(&r->total, &r->jobs[i].u);
		if (find_anomalies(r, i)) {
			snprintf(err, err_len, "out of memory");
			return -1;
		}
	}
	jm_rep_cost_of(&r->prices, r->total.cpu_s, r->total.mem_gib_s, r->total.file_read_bytes,
		       r->total.net_tx_bytes, &r->total_cost);
	if (r->n_datasets)   /* qsort's base must not be NULL, even for 0 items */
		qsort(r->datasets, r->n_datasets, sizeof(*r->datasets), cmp_dataset);
	for (size_t i = 0; i < r->n_datasets; i++) {
		struct jm_rep_slo_spec spec;

		/* A dataset is as fresh as its writer job is required to be. */
		jm_rep_slo_effective(r->slos, r->datasets[i].job, &spec);
		r->datasets[i].max_age_s = spec.has_freshness ? spec.freshness_max_age_s : NAN;
	}
	/* Idle core-s and GiB-s come per host from query.c. */
	jm_rep_cost_of(&r->prices, idle->idle_core_s, idle->idle_mem_gib_s, 0, 0, &idle->cost);
	return 0;
}
