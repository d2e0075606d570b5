/* Reading the collector's database: see query.h. */
#include "tools/report/query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/report/qhist.h"

#define DAY  JM_REP_NS_PER_DAY
#define HOUR JM_REP_NS_PER_HOUR

/* A span [a, b) split at bucket boundaries: [a, mid_a*unit) raw, buckets
 * [mid_a, mid_b) from a rollup, [mid_b*unit, b) raw.  Without whole buckets
 * inside, all of it is the head. */
struct split {
	int64_t head_a, head_b, tail_a, tail_b;
	int64_t mid_a, mid_b;     /* bucket numbers; empty when equal */
};

static int64_t floor_div(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static void split_span(int64_t a, int64_t b, int64_t unit, bool rollup, struct split *s)
{
	int64_t d0 = floor_div(a + unit - 1, unit), d1 = floor_div(b, unit);

	memset(s, 0, sizeof(*s));
	if (!rollup || d0 >= d1) {
		s->head_a = a;
		s->head_b = b;
		s->tail_a = s->tail_b = b;
		s->mid_a = s->mid_b = 0;
		return;
	}
	s->head_a = a;
	s->head_b = d0 * unit;
	s->mid_a = d0;
	s->mid_b = d1;
	s->tail_a = d1 * unit;
	s->tail_b = b;
}

struct q {
	sqlite3 *db;
	struct jm_rep_report *r;
	char *err;
	size_t err_len;
};

static int prep(struct q *q, const char *sql, sqlite3_stmt **s)
{
	if (sqlite3_prepare_v2(q->db, sql, -1, s, NULL) != SQLITE_OK) {
		snprintf(q->err, q->err_len, "query failed: %s", sqlite3_errmsg(q->db));
		return -1;
	}
	return 0;
}

/* Bind ?1 = a, ?2 = b, ?3 = job filter or NULL. */
static void bind_span(struct q *q, sqlite3_stmt *s, int64_t a, int64_t b)
{
	sqlite3_bind_int64(s, 1, a);
	sqlite3_bind_int64(s, 2, b);
	if (q->r->job_filter)
		sqlite3_bind_text(s, 3, q->r->job_filter, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 3);
}

static int finish(struct q *q, sqlite3_stmt *s, int rc)
{
	if (rc != SQLITE_DONE) {
		snprintf(q->err, q->err_len, "query failed: %s", sqlite3_errmsg(q->db));
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? (const char *)t : "";
}

static uint64_t col_u64(sqlite3_stmt *s, int i)
{
	sqlite3_int64 v = sqlite3_column_int64(s, i);

	return v > 0 ? (uint64_t)v : 0;
}

static int oom(struct q *q)
{
	snprintf(q->err, q->err_len, "out of memory");
	return -1;
}

static int push_duration(struct jm_rep_job *j, double d)
{
	if (j->n_durations == j->cap_durations) {
		size_t cap = j->cap_durations ? j->cap_durations * 2 : 16;
		double *nd = realloc(j->durations, cap * sizeof(*nd));

		if (!nd)
			return -1;
		j->durations = nd;
		j->cap_durations = cap;
	}
	j->durations[j->n_durations++] = d;
	j->dhist[jm_dhist_index(d)]++;
	return 0;
}

/* ---- period: runs ---------------------------------------------------- */

static int runs_raw(struct q *q, int64_t a, int64_t b)
{
	static const char sql[] =
		"SELECT job, start_ns, end_ns, outcome, restart, oom_killed, processes, cpu_s,"
		" mem_gib_s, peak_rss_bytes, file_read_bytes, file_write_bytes, net_rx_bytes,"
		" net_tx_bytes FROM runs WHERE end_ns >= ?1 AND end_ns < ?2"
		" AND (?3 IS NULL OR job = ?3) ORDER BY id";
	sqlite3_stmt *s;
	int rc;

	if (a >= b)
		return 0;
	if (prep(q, sql, &s))
		return -1;
	bind_span(q, s, a, b);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct jm_rep_job *j = jm_rep_job_get(q->r, col_text(s, 0));
		struct jm_rep_usage *u;
		const char *outcome = col_text(s, 3);
		double dur = (double)(sqlite3_column_int64(s, 2) - sqlite3_column_int64(s, 1)) / 1e9;

		if (!j || push_duration(j, dur)) {
			sqlite3_finalize(s);
			return oom(q);
		}
		u = &j->u;
		u->runs++;
		u->successes += strcmp(outcome, "success") == 0;
		u->failures += strcmp(outcome, "failure") == 0;
		u->restarts += sqlite3_column_int(s, 4) != 0;
		u->oom_kills += sqlite3_column_int(s, 5) != 0;
		u->processes += col_u64(s, 6);
		u->cpu_s += sqlite3_column_double(s, 7);
		u->mem_gib_s += sqlite3_column_double(s, 8);
		if (col_u64(s, 9) > u->peak_rss_bytes)
			u->peak_rss_bytes = col_u64(s, 9);
		u->file_read_bytes += col_u64(s, 10);
		u->file_write_bytes += col_u64(s, 11);
		u->net_rx_bytes += col_u64(s, 12);
		u->net_tx_bytes += col_u64(s, 13);
		u->duration_s_sum += dur;
	}
	return finish(q, s, rc);
}

static int db_raw(struct q *q, int64_t a, int64_t b)
{
	static const char sql[] =
		"SELECT job, queries, errors, latency_s_sum, latency_p95_s, latency_buckets"
		" FROM db_stats WHERE owner_kind = 'run' AND end_ns >= ?1 AND end_ns < ?2"
		" AND (?3 IS NULL OR job = ?3) ORDER BY id";
	sqlite3_stmt *s;
	int rc;

	if (a >= b)
		return 0;
	if (prep(q, sql, &s))
		return -1;
	bind_span(q, s, a, b);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		/* Owned by a run of the period, so the job exists already;
		 * get() only matters for a run row deleted by hand. */
		struct jm_rep_job *j = jm_rep_job_get(q->r, col_text(s, 0));
		struct jm_rep_usage *u;

		if (!j) {
			sqlite3_finalize(s);
			return oom(q);
		}
		u = &j->u;
		u->queries += col_u64(s, 1);
		u->query_errors += col_u64(s, 2);
		u->query_latency_s_sum += sqlite3_column_double(s, 3);
		u->query_p95_x_queries += sqlite3_column_double(s, 4) * (double)col_u64(s, 1);
		if (sqlite3_column_type(s, 5) == SQLITE_BLOB) {
			jm_rep_qhist_add_blob(u->qbuckets, sqlite3_column_blob(s, 5),
					      (size_t)sqlite3_column_bytes(s, 5));
			u->has_qbuckets = true;
		}
	}
	return finish(q, s, rc);
}

static int runs_rollup(struct q *q, int64_t d0, int64_t d1)
{
	static const char sql[] =
		"SELECT job, runs, successes, failures, restarts, oom_kills, processes, cpu_s,"
		" mem_gib_s, peak_rss_bytes, file_read_bytes, file_write_bytes, net_rx_bytes,"
		" net_tx_bytes, duration_s_sum, duration_hist, queries, query_errors,"
		" query_latency_s_sum, query_p95_x_queries, query_buckets FROM job_day"
		" WHERE day >= ?1 AND day < ?2 AND (?3 IS NULL OR job = ?3) ORDER BY day, job";
	sqlite3_stmt *s;
	int rc;

	if (d0 >= d1)
		return 0;
	if (prep(q, sql, &s))
		return -1;
	bind_span(q, s, d0, d1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct jm_rep_job *j = jm_rep_job_get(q->r, col_text(s, 0));
		struct jm_rep_usage *u;

		if (!j) {
			sqlite3_finalize(s);
			return oom(q);
		}
		u = &j->u;
		j->durations_estimated = true;
		u->runs += col_u64(s, 1);
		u->successes += col_u64(s, 2);
		u->failures += col_u64(s, 3);
		u->restarts += col_u64(s, 4);
		u->oom_kills += col_u64(s, 5);
		u->processes += col_u64(s, 6);
		u->cpu_s += sqlite3_column_double(s, 7);
		u->mem_gib_s += sqlite3_column_double(s, 8);
		if (col_u64(s, 9) > u->peak_rss_bytes)
			u->peak_rss_bytes = col_u64(s, 9);
		u->file_read_bytes += col_u64(s, 10);
		u->file_write_bytes += col_u64(s, 11);
		u->net_rx_bytes += col_u64(s, 12);
		u->net_tx_bytes += col_u64(s, 13);
		u->duration_s_sum += sqlite3_column_double(s, 14);
		if (sqlite3_column_type(s, 15) == SQLITE_BLOB)
			jm_dhist_decode_add(sqlite3_column_blob(s, 15), (size_t)sqlite3_column_bytes(s, 15), j->dhist);
		u->queries += col_u64(s, 16);
		u->query_errors += col_u64(s, 17);
		u->query_latency_s_sum += sqlite3_column_double(s, 18);
		u->query_p95_x_queries += sqlite3_column_double(s, 19);
		if (sqlite3_column_type(s, 20) == SQLITE_BLOB) {
			jm_rep_qhist_add_blob(u->qbuckets, sqlite3_column_blob(s, 20),
					      (size_t)sqlite3_column_bytes(s, 20));
			u->has_qbuckets = true;
		}
	}
	return finish(q, s, rc);
}

/* ---- statements ------------------------------------------------------ */

static int add_stmt(struct jm_rep_job *j, const char *fp, uint64_t calls, uint64_t errors, uint64_t rows,
		    double lat)
{
	struct jm_rep_stmt *st;

	if (j->n_stmts == j->cap_stmts) {
		size_t cap = j->cap_stmts ? j->cap_stmts * 2 : 8;
		struct jm_rep_stmt *ns = realloc(j->stmts, cap * sizeof(*ns));

		if (!ns)
			return -1;
		j->stmts = ns;
		j->cap_stmts = cap;
	}
	st = &j->stmts[j->n_stmts];
	st->fingerprint = strdup(fp);
	if (!st->fingerprint)
		return -1;
	st->calls = calls;
	st->errors = errors;
	st->rows = rows;
	st->latency_s_sum = lat;
	j->n_stmts++;
	return 0;
}

static int stmts_read(struct q *q, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *s;
	int rc;

	if (a >= b)
		return 0;
	if (prep(q, sql, &s))
		return -1;
	bind_span(q, s, a, b);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct jm_rep_job *j = jm_rep_job_find(q->r, col_text(s, 0));

		if (j && add_stmt(j, col_text(s, 1), col_u64(s, 2), col_u64(s, 3), col_u64(s, 4),
				  sqlite3_column_double(s, 5))) {
			sqlite3_finalize(s);
			return oom(q);
		}
	}
	return finish(q, s, rc);
}

static int stmts_raw(struct q *q, int64_t a, int64_t b)
{
	return stmts_read(q,
		"SELECT d.job, s.fingerprint, sum(s.calls), sum(s.errors), sum(s.rows),"
		" sum(s.latency_s_sum) FROM statements s JOIN db_stats d ON d.id = s.db_stats_id"
		" WHERE d.owner_kind = 'run' AND d.end_ns >= ?1 AND d.end_ns < ?2"
		" AND (?3 IS NULL OR d.job = ?3) GROUP BY d.job, s.fingerprint", a, b);
}

static int stmts_rollup(struct q *q, int64_t d0, int64_t d1)
{
	return stmts_read(q,
		"SELECT job, fingerprint, sum(calls), sum(errors), sum(rows), sum(latency_s_sum)"
		" FROM statement_day WHERE day >= ?1 AND day < ?2 AND (?3 IS NULL OR job = ?3)"
		" GROUP BY job, fingerprint", d0, d1);
}

/* ---- days (whole UTC days, for the trend and anomalies) -------------- */

static int days_read(struct q *q, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *s;
	int rc;

	if (a >= b)
		return 0;
	if (prep(q, sql, &s))
		return -1;
	bind_span(q, s, a, b);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t day = sqlite3_column_int64(s, 0) - q->r->first_day;
		struct jm_rep_job *j = jm_rep_job_find(q->r, col_text(s, 1));
		struct jm_rep_dayuse *d;

		if (!j || day < 0 || (size_t)day >= q->r->n_days)
			continue;
		d = &j->days[day];
		d->cpu_s += sqlite3_column_double(s, 2);
		d->mem_gib_s += sqlite3_column_double(s, 3);
		d->file_read_bytes += col_u64(s, 4);
		d->net_tx_bytes += col_u64(s, 5);
	}
	return finish(q, s, rc);
}

static int days_raw(struct q *q, int64_t a, int64_t b)
{
	return days_read(q,
		"SELECT end_ns / 86400000000000, job, sum(cpu_s), sum(mem_gib_s), sum(file_read_bytes),"
		" sum(net_tx_bytes) FROM runs WHERE end_ns >= ?1 AND end_ns < ?2"
		" AND (?3 IS NULL OR job = ?3) GROUP BY 1, 2", a, b);
}

static int days_rollup(struct q *q, int64_t d0, int64_t d1)
{
	return days_read(q,
		"SELECT day, job, cpu_s, mem_gib_s, file_read_bytes, net_tx_bytes FROM job_day"
		" WHERE day >= ?1 AND day < ?2 AND (?3 IS NULL OR job = ?3)", d0, d1);
}

/* ---- freshness, burn windows, datasets ------------------------------- */

static int last_success_read(struct q *q, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *s;
	int rc;

	if (prep(q, sql, &s))
		return -1;
	bind_span(q, s, a, b);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct jm_rep_job *j = jm_rep_job_find(q->r, col_text(s, 0));
		int64_t t = sqlite3_column_int64(s, 1);

		if (j && t > j->last_success_ns)
			j->last_success_ns = t;
	}
	return finish(q, s, rc);
}

static int last_success(struct q *q, bool rollup)
{
	int64_t to = q->r->to_ns, to_day = floor_div(to, DAY);

	if (!rollup)
		return last_success_read(q,
			"SELECT job, max(end_ns) FROM runs WHERE outcome = 'success' AND end_ns >= ?1"
			" AND end_ns < ?2 AND (?3 IS NULL OR job = ?3) GROUP BY job", 0, to);
	if (last_success_read(q,
			"SELECT job, max(last_success_ns) FROM job_day WHERE day >= ?1 AND day < ?2"
			" AND (?3 IS NULL OR job = ?3) GROUP BY job", 0, to_day))
		return -1;
	return last_success_read(q,
		"SELECT job, max(end_ns) FROM runs WHERE outcome = 'success' AND end_ns >= ?1"
		" AND end_ns < ?2 AND (?3 IS NULL OR job = ?3) GROUP BY job", to_day * DAY, to);
}

static int burn_windows(struct q *q)
{
	static const char sql[] =
		"SELECT job, end_ns, outcome FROM runs WHERE end_ns >= ?1 AND end_ns < ?2"
		" AND (?3 IS NULL OR job = ?3)";
	int64_t to = q->r->to_ns;
	sqlite3_stmt *s;
	int rc;

	if (prep(q, sql, &s))
		return -1;
	bind_span(q, s, to - 6 * HOUR, to);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct jm_rep_job *j = jm_rep_job_find(q->r, col_text(s, 0));
		bool bad = strcmp(col_text(s, 2), "success") != 0;

		if (!j)
			continue;
		j->slo.runs_6h++;
		j->slo.bad_6h += bad;
		if (sqlite3_column_int64(s, 1) >= to - HOUR) {
			j->slo.runs_1h++;
			j->slo.bad_1h += bad;
		}
	}
	return finish(q, s, rc);
}

static int dataset_add(struct q *q, const char *kind, const char *name, const char *job, int64_t t)
{
	struct jm_rep_report *r = q->r;
	struct jm_rep_dataset *d;

	/* Few datasets per report: a linear merge keeps this simple. */
	for (size_t i = 0; i < r->n_datasets; i++) {
		d = &r->datasets[i];
		if (strcmp(d->kind, kind) == 0 && strcmp(d->name, name) == 0) {
			if (t >= d->last_write_ns) {
				char *nj = strdup(job);

				if (!nj)
					return oom(q);
				free(d->job);
				d->job = nj;
				d->last_write_ns = t;
			}
			return 0;
		}
	}
	if (r->n_datasets == r->cap_datasets) {
		size_t cap = r->cap_datasets ? r->cap_datasets * 2 : 16;
		struct jm_rep_dataset *nd = realloc(r->datasets, cap * sizeof(*nd));

		if (!nd)
			return oom(q);
		r->datasets = nd;
		r->cap_datasets = cap;
	}
	d = &r->datasets[r->n_datasets];
	memset(d, 0, sizeof(*d));
	d->kind = strdup(kind);
	d->name = strdup(name);
	d->job = strdup(job);
	d->last_write_ns = t;
	d->max_age_s = NAN;
	r->n_datasets++;
	if (!d->kind || !d->name || !d->job)
		return oom(q);
	return 0;
}

static int datasets_read(struct q *q, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *s;
	int rc;

	if (a >= b)
		return 0;
	if (prep(q, sql, &s))
		return -1;
	bind_span(q, s, a, b);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (dataset_add(q, col_text(s, 0), col_text(s, 1), col_text(s, 2), sqlite3_column_int64(s, 3))) {
			sqlite3_finalize(s);
			return -1;
		}
	}
	return finish(q, s, rc);
}

static int datasets(struct q *q, bool rollup)
{
	/* Bare column job: SQLite takes it from the row holding max(). */
	static const char raw[] =
		"SELECT kind, name, job, max(last_write_ns) FROM outputs WHERE last_write_ns >= ?1"
		" AND last_write_ns < ?2 AND last_write_ns > 0 AND (?3 IS NULL OR job = ?3)"
		" GROUP BY kind, name";
	static const char roll[] =
		"SELECT kind, name, job, max(last_write_ns) FROM dataset_day WHERE day >= ?1"
		" AND day < ?2 AND (?3 IS NULL OR job = ?3) GROUP BY kind, name";
	int64_t to = q->r->to_ns, to_day = floor_div(to, DAY);

	if (!rollup)
		return datasets_read(q, raw, 1, to);
	if (datasets_read(q, roll, 0, to_day))
		return -1;
	return datasets_read(q, raw, to_day * DAY, to);
}

/* ---- idle capacity --------------------------------------------------- */

static int idle_read(struct q *q, const char *sql, int64_t a, int64_t b, bool capacity)
{
	struct jm_rep_idle *i = &q->r->idle;
	sqlite3_stmt *s;
	int rc;

	if (a >= b)
		return 0;
	if (prep(q, sql, &s))
		return -1;
	sqlite3_bind_int64(s, 1, a);
	sqlite3_bind_int64(s, 2, b);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (capacity) {
			i->capacity_core_s += sqlite3_column_double(s, 0);
			i->capacity_mem_gib_s += sqlite3_column_double(s, 1);
		} else {
			i->attributed_cpu_s += sqlite3_column_double(s, 0);
			i->attributed_mem_gib_s += sqlite3_column_double(s, 1);
		}
	}
	return finish(q, s, rc);
}

static int idle(struct q *q, bool rollup)
{
	static const char cap[] =
		"SELECT coalesce(sum(cpu_cores * window_s), 0), coalesce(sum(mem_total_bytes /"
		" 1073741824.0 * window_s), 0) FROM host_usage WHERE end_ns >= ?1 AND end_ns < ?2";
	static const char attr[] =
		"SELECT coalesce(sum(cpu_s), 0), coalesce(sum(mem_gib_s), 0) FROM windows"
		" WHERE end_ns >= ?1 AND end_ns < ?2";
	static const char roll_cap[] =
		"SELECT coalesce(sum(core_s), 0), coalesce(sum(mem_gib_s), 0) FROM host_hour"
		" WHERE hour >= ?1 AND hour < ?2";
	static const char roll_attr[] =
		"SELECT coalesce(sum(attr_cpu_s), 0), coalesce(sum(attr_mem_gib_s), 0) FROM host_hour"
		" WHERE hour >= ?1 AND hour < ?2";
	static const char hosts_raw[] =
		"SELECT count(DISTINCT host) FROM host_usage WHERE end_ns >= ?1 AND end_ns < ?2";
	struct split sp;
	sqlite3_stmt *s;
	int rc;

	split_span(q->r->from_ns, q->r->to_ns, HOUR, rollup, &sp);
	if (idle_read(q, cap, sp.head_a, sp.head_b, true) || idle_read(q, cap, sp.tail_a, sp.tail_b, true) ||
	    idle_read(q, attr, sp.head_a, sp.head_b, false) || idle_read(q, attr, sp.tail_a, sp.tail_b, false) ||
	    idle_read(q, roll_cap, sp.mid_a, sp.mid_b, true) || idle_read(q, roll_attr, sp.mid_a, sp.mid_b, false))
		return -1;
	if (rollup && sp.mid_a < sp.mid_b) {
		if (prep(q, "SELECT count(DISTINCT host) FROM host_hour WHERE hour >= ?1 AND hour < ?2", &s))
			return -1;
		sqlite3_bind_int64(s, 1, sp.mid_a);
		sqlite3_bind_int64(s, 2, sp.mid_b);
	} else {
		if (prep(q, hosts_raw, &s))
			return -1;
		sqlite3_bind_int64(s, 1, q->r->from_ns);
		sqlite3_bind_int64(s, 2, q->r->to_ns);
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		q->r->idle.hosts = (unsigned)sqlite3_column_int(s, 0);
	return finish(q, s, rc);
}

/* ---- entry points ---------------------------------------------------- */

int jm_rep_db_open(const char *path, sqlite3 **db, int *schema_version, char *err, size_t err_len)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*db = NULL;
	*schema_version = 0;
	rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, err_len, "cannot open database %s: %s", path,
			 *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(*db, 5000);
	if (sqlite3_prepare_v2(*db, "SELECT max(version) FROM schema_version", -1, &s, NULL) != SQLITE_OK) {
		snprintf(err, err_len, "%s is not a jobmeter collector database: %s", path, sqlite3_errmsg(*db));
		goto fail;
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		*schema_version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (*schema_version < 1) {
		snprintf(err, err_len, "%s has no schema version: not initialised by jobmeter-collector", path);
		goto fail;
	}
	return 0;
fail:
	sqlite3_close(*db);
	*db = NULL;
	return -1;
}

static int rollup_runs(struct q *q, int64_t d0, int64_t d1, int64_t *n)
{
	sqlite3_stmt *s;
	int rc;

	*n = 0;
	if (d0 >= d1)
		return 0;
	if (prep(q, "SELECT coalesce(sum(runs), 0) FROM job_day WHERE day >= ?1 AND day < ?2"
		    " AND (?3 IS NULL OR job = ?3)", &s))
		return -1;
	bind_span(q, s, d0, d1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		*n = sqlite3_column_int64(s, 0);
	return finish(q, s, rc);
}

int jm_rep_query(sqlite3 *db, struct jm_rep_report *r, char *err, size_t err_len)
{
	struct q q = { db, r, err, err_len };
	bool rollup = r->schema_version >= 2 && !r->raw_forced, raw_runs;
	struct split sp;
	int64_t n_mid, last_day;

	/* Period runs. */
	split_span(r->from_ns, r->to_ns, DAY, rollup, &sp);
	if (rollup_runs(&q, sp.mid_a, sp.mid_b, &n_mid))
		return -1;
	raw_runs = !rollup || n_mid <= r->raw_runs_max;
	if (raw_runs) {
		if (runs_raw(&q, r->from_ns, r->to_ns) || db_raw(&q, r->from_ns, r->to_ns) ||
		    stmts_raw(&q, r->from_ns, r->to_ns))
			return -1;
	} else {
		r->rollup_used = true;
		if (runs_raw(&q, sp.head_a, sp.head_b) || db_raw(&q, sp.head_a, sp.head_b) ||
		    runs_rollup(&q, sp.mid_a, sp.mid_b) ||
		    runs_raw(&q, sp.tail_a, sp.tail_b) || db_raw(&q, sp.tail_a, sp.tail_b) ||
		    stmts_raw(&q, sp.head_a, sp.head_b) || stmts_rollup(&q, sp.mid_a, sp.mid_b) ||
		    stmts_raw(&q, sp.tail_a, sp.tail_b))
			return -1;
	}

	/* Jobs with objectives of their own appear even without runs. */
	if (r->slos) {
		for (size_t i = 0; i < r->slos->n; i++) {
			const char *job = r->slos->entries[i].job;

			if (strcmp(job, "*") == 0 || (r->job_filter && strcmp(job, r->job_filter) != 0))
				continue;
			if (!jm_rep_job_get(r, job))
				return oom(&q);
		}
	}

	/* Whole days from the baseline start to the last day of the period. */
	r->first_day = floor_div(r->from_ns, DAY) - JM_REP_BASELINE_DAYS;
	last_day = floor_div(r->to_ns - 1, DAY);
	r->n_days = (size_t)(last_day - r->first_day + 1);
	r->first_period_day = JM_REP_BASELINE_DAYS;
	r->day_total_cost = calloc(r->n_days, sizeof(double));
	if (!r->day_total_cost)
		return oom(&q);
	for (size_t j = 0; j < r->n_jobs; j++) {
		r->jobs[j].days = calloc(r->n_days, sizeof(struct jm_rep_dayuse));
		if (!r->jobs[j].days)
			return oom(&q);
	}
	split_span(r->first_day * DAY, r->to_ns, DAY, rollup, &sp);
	if (rollup && sp.mid_a < sp.mid_b)
		r->rollup_used = true;
	if (days_raw(&q, sp.head_a, sp.head_b) || days_rollup(&q, sp.mid_a, sp.mid_b) ||
	    days_raw(&q, sp.tail_a, sp.tail_b))
		return -1;

	if (last_success(&q, rollup) || burn_windows(&q) || datasets(&q, rollup) || idle(&q, rollup))
		return -1;
	return 0;
}
