/* Reading the collector's database: see query.h. */
#include "tools/report/query.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/report/out.h"
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

/* Bind ?1 = a, ?2 = b and, in statements that have it, ?3 = job filter or
 * NULL (every per-job query reads "?3 IS NULL OR job = ?3"). */
static void bind_span(struct q *q, sqlite3_stmt *s, int64_t a, int64_t b)
{
	sqlite3_bind_int64(s, 1, a);
	sqlite3_bind_int64(s, 2, b);
	if (sqlite3_bind_parameter_count(s) < 3)
		return;
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

/* A non-negative integer column.  Sums come from total() (a REAL, exact
 * while below 2^53), and a rollup column that outgrew int64 at ingest holds a
 * REAL too (SQLite's + turns to floating point on overflow): both are read as
 * a double and saturated at UINT64_MAX. */
static uint64_t col_u64(sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) == SQLITE_FLOAT) {
		double d = sqlite3_column_double(s, i);

		if (!(d > 0))
			return 0;
		return d >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)d;
	}
	sqlite3_int64 v = sqlite3_column_int64(s, i);

	return v > 0 ? (uint64_t)v : 0;
}

static int oom(struct q *q)
{
	snprintf(q->err, q->err_len, "out of memory");
	return -1;
}

/* Takes one result row; 0, or -1 with q->err set (stops the query). */
typedef int (*row_fn)(struct q *q, sqlite3_stmt *s, void *ctx);

/* Run sql over the span [a, b) (see bind_span) and hand each row to fn.
 * Every query selects on ">= ?1 AND < ?2" of one column, so an empty span
 * cannot match a row and is not run at all. */
static int each_row(struct q *q, const char *sql, int64_t a, int64_t b, row_fn fn, void *ctx)
{
	sqlite3_stmt *s;
	int rc;

	if (a >= b)
		return 0;
	if (prep(q, sql, &s))
		return -1;
	bind_span(q, s, a, b);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (fn(q, s, ctx)) {
			sqlite3_finalize(s);
			return -1;
		}
	}
	return finish(q, s, rc);
}

/* The job named in column c, created when new; NULL (q->err set) only when
 * out of memory. */
static struct jm_rep_job *row_job(struct q *q, sqlite3_stmt *s, int c)
{
	struct jm_rep_job *j = jm_rep_job_get(q->r, col_text(s, c));

	if (!j)
		oom(q);
	return j;
}

/* Columns c..c+7 as runs and job_day both order them: processes, cpu_s,
 * mem_gib_s, peak_rss_bytes (a max), file_read_bytes, file_write_bytes,
 * net_rx_bytes, net_tx_bytes. */
static void add_resources(struct jm_rep_usage *u, sqlite3_stmt *s, int c)
{
	jm_rep_sat_add(&u->processes, col_u64(s, c));
	u->cpu_s += sqlite3_column_double(s, c + 1);
	u->mem_gib_s += sqlite3_column_double(s, c + 2);
	if (col_u64(s, c + 3) > u->peak_rss_bytes)
		u->peak_rss_bytes = col_u64(s, c + 3);
	jm_rep_sat_add(&u->file_read_bytes, col_u64(s, c + 4));
	jm_rep_sat_add(&u->file_write_bytes, col_u64(s, c + 5));
	jm_rep_sat_add(&u->net_rx_bytes, col_u64(s, c + 6));
	jm_rep_sat_add(&u->net_tx_bytes, col_u64(s, c + 7));
}

/* Columns c, c+1, c+2 = queries, errors, latency_s_sum and c+4 = the
 * latency histogram blob, as db_stats and job_day both order them.  Column
 * c+3 holds p95 in one and p95 x queries in the other, so the caller
 * passes the product. */
static void add_queries(struct jm_rep_usage *u, sqlite3_stmt *s, int c, double p95_x_queries)
{
	jm_rep_sat_add(&u->queries, col_u64(s, c));
	jm_rep_sat_add(&u->query_errors, col_u64(s, c + 1));
	u->query_latency_s_sum += sqlite3_column_double(s, c + 2);
	u->query_p95_x_queries += p95_x_queries;
	if (sqlite3_column_type(s, c + 4) == SQLITE_BLOB) {
		jm_rep_qhist_add_blob(u->qbuckets, sqlite3_column_blob(s, c + 4),
				      (size_t)sqlite3_column_bytes(s, c + 4));
		u->has_qbuckets = true;
	}
}

/* One run's p95 (NAN: not known) into the range its job's p95 lies in. */
static void note_p95_range(struct jm_rep_usage *u, double p95)
{
	if (!isfinite(p95) || p95 < 0.0) {
		u->p95_range_unknown = true;
		return;
	}
	if (u->p95_range_runs == 0 || p95 < u->p95_lo_s)
		u->p95_lo_s = p95;
	if (u->p95_range_runs == 0 || p95 > u->p95_hi_s)
		u->p95_hi_s = p95;
	u->p95_range_runs++;
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

static int run_raw_row(struct q *q, sqlite3_stmt *s, void *ctx)
{
	struct jm_rep_job *j = row_job(q, s, 0);
	const char *outcome = col_text(s, 3);
	double dur = (double)(sqlite3_column_int64(s, 2) - sqlite3_column_int64(s, 1)) / 1e9;
	(void)ctx;

	if (!j)
		return -1;
	if (push_duration(j, dur))
		return oom(q);
	j->u.runs++;
	j->u.successes += strcmp(outcome, "success") == 0;
	j->u.failures += strcmp(outcome, "failure") == 0;
	j->u.restarts += sqlite3_column_int(s, 4) != 0;
	j->u.oom_kills += sqlite3_column_int(s, 5) != 0;
	add_resources(&j->u, s, 6);
	j->u.duration_s_sum += dur;
	return 0;
}

static int runs_raw(struct q *q, int64_t a, int64_t b)
{
	return each_row(q,
		"SELECT job, start_ns, end_ns, outcome, restart, oom_killed, processes, cpu_s,"
		" mem_gib_s, peak_rss_bytes, file_read_bytes, file_write_bytes, net_rx_bytes,"
		" net_tx_bytes FROM runs WHERE end_ns >= ?1 AND end_ns < ?2"
		" AND (?3 IS NULL OR job = ?3) ORDER BY id", a, b, run_raw_row, NULL);
}

static int db_raw_row(struct q *q, sqlite3_stmt *s, void *ctx)
{
	/* Owned by a run of the period, so the job exists already; get()
	 * only matters for a run row deleted by hand. */
	struct jm_rep_job *j = row_job(q, s, 0);
	(void)ctx;

	if (!j)
		return -1;
	add_queries(&j->u, s, 1, sqlite3_column_double(s, 4) * (double)col_u64(s, 1));
	jm_rep_sat_add(&j->u.db_conns_unreadable, col_u64(s, 6));
	if (col_u64(s, 1) > 0)
		note_p95_range(&j->u, sqlite3_column_type(s, 4) == SQLITE_NULL ? NAN
						: sqlite3_column_double(s, 4));
	return 0;
}

static int db_raw(struct q *q, int64_t a, int64_t b)
{
	/* connections_unreadable: schema 6 (0 before: no agent sent it) */
	return each_row(q, q->r->schema_version >= 6 ?
		"SELECT job, queries, errors, latency_s_sum, latency_p95_s, latency_buckets,"
		" connections_unreadable"
		" FROM db_stats WHERE owner_kind = 'run' AND end_ns >= ?1 AND end_ns < ?2"
		" AND (?3 IS NULL OR job = ?3) ORDER BY id" :
		"SELECT job, queries, errors, latency_s_sum, latency_p95_s, latency_buckets, 0"
		" FROM db_stats WHERE owner_kind = 'run' AND end_ns >= ?1 AND end_ns < ?2"
		" AND (?3 IS NULL OR job = ?3) ORDER BY id", a, b, db_raw_row, NULL);
}

static int run_rollup_row(struct q *q, sqlite3_stmt *s, void *ctx)
{
	struct jm_rep_job *j = row_job(q, s, 0);
	(void)ctx;

	if (!j)
		return -1;
	j->durations_estimated = true;
	jm_rep_sat_add(&j->u.runs, col_u64(s, 1));
	jm_rep_sat_add(&j->u.successes, col_u64(s, 2));
	jm_rep_sat_add(&j->u.failures, col_u64(s, 3));
	jm_rep_sat_add(&j->u.restarts, col_u64(s, 4));
	jm_rep_sat_add(&j->u.oom_kills, col_u64(s, 5));
	add_resources(&j->u, s, 6);
	j->u.duration_s_sum += sqlite3_column_double(s, 14);
	if (sqlite3_column_type(s, 15) == SQLITE_BLOB)
		jm_dhist_decode_add(sqlite3_column_blob(s, 15), (size_t)sqlite3_column_bytes(s, 15),
				    j->dhist);
	add_queries(&j->u, s, 16, sqlite3_column_double(s, 19));
	jm_rep_sat_add(&j->u.db_conns_unreadable, col_u64(s, 21));
	if (col_u64(s, 16) > 0)
		note_p95_range(&j->u, NAN);    /* a day of runs: their p95s are gone */
	return 0;
}

#define JOB_DAY_SELECT(unreadable)                                                        \
	"SELECT job, runs, successes, failures, restarts, oom_kills, processes, cpu_s,"      \
	" mem_gib_s, peak_rss_bytes, file_read_bytes, file_write_bytes, net_rx_bytes,"       \
	" net_tx_bytes, duration_s_sum, duration_hist, queries, query_errors,"               \
	" query_latency_s_sum, query_p95_x_queries, query_buckets, " unreadable " FROM job_day" \
	" WHERE day >= ?1 AND day < ?2 AND (?3 IS NULL OR job = ?3) ORDER BY day, job"

static int runs_rollup(struct q *q, int64_t d0, int64_t d1)
{
	/* db_connections_unreadable: schema 6 */
	return each_row(q, q->r->schema_version >= 6 ? JOB_DAY_SELECT("db_connections_unreadable")
						     : JOB_DAY_SELECT("0"),
			d0, d1, run_rollup_row, NULL);
}
#undef JOB_DAY_SELECT

/* ---- statements ------------------------------------------------------ */

static int add_stmt(struct jm_rep_job *j, const char *fp, uint64_t calls, uint64_t errors, uint64_t rows,
		    uint64_t rows_unknown, double lat, double p95, double p99)
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
	st->rows_unknown = rows_unknown;
	st->latency_s_sum = lat;
	st->latency_p95_s = p95;
	st->latency_p99_s = p99;
	j->n_stmts++;
	return 0;
}

/* A nullable REAL column: NAN when NULL. */
static double col_dbl_or_nan(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

/* Columns: job, fingerprint, calls, errors, rows, latency_s_sum, p95, p99
 * (NULL when unknown), rows_unknown. */
static int stmt_row(struct q *q, sqlite3_stmt *s, void *ctx)
{
	struct jm_rep_job *j = jm_rep_job_find(q->r, col_text(s, 0));
	(void)ctx;

	if (j && add_stmt(j, col_text(s, 1), col_u64(s, 2), col_u64(s, 3), col_u64(s, 4),
			  col_u64(s, 8), sqlite3_column_double(s, 5), col_dbl_or_nan(s, 6),
			  col_dbl_or_nan(s, 7)))
		return oom(q);
	return 0;
}

/* Statement percentiles are the highest per-run p95/p99 (an upper bound of
 * the period's; percentiles cannot be summed), read the same way from raw
 * rows and from statement_day so that both paths agree.  Schema < 3 has no
 * such columns: NULL; schema < 5 no rows_unknown: 0. */
#define STMTS_RAW(pct) \
	"SELECT d.job, s.fingerprint, total(s.calls), total(s.errors), total(s.rows), total(s.latency_s_sum), " \
	pct " FROM statements s JOIN db_stats d ON d.id = s.db_stats_id" \
	" WHERE d.owner_kind = 'run' AND d.end_ns >= ?1 AND d.end_ns < ?2" \
	" AND (?3 IS NULL OR d.job = ?3) GROUP BY d.job, s.fingerprint"
#define STMTS_ROLLUP(pct) \
	"SELECT job, fingerprint, total(calls), total(errors), total(rows), total(latency_s_sum), " \
	pct " FROM statement_day WHERE day >= ?1 AND day < ?2 AND (?3 IS NULL OR job = ?3)" \
	" GROUP BY job, fingerprint"

static int stmts_raw(struct q *q, int64_t a, int64_t b)
{
	int v = q->r->schema_version;
	const char *sql = v >= 5 ? STMTS_RAW("max(s.latency_p95_s), max(s.latency_p99_s), total(s.rows_unknown)")
			: v >= 3 ? STMTS_RAW("max(s.latency_p95_s), max(s.latency_p99_s), 0")
				 : STMTS_RAW("NULL, NULL, 0");

	return each_row(q, sql, a, b, stmt_row, NULL);
}

static int stmts_rollup(struct q *q, int64_t d0, int64_t d1)
{
	int v = q->r->schema_version;
	const char *sql = v >= 5 ? STMTS_ROLLUP("max(latency_p95_s_max), max(latency_p99_s_max), total(rows_unknown)")
			: v >= 3 ? STMTS_ROLLUP("max(latency_p95_s_max), max(latency_p99_s_max), 0")
				 : STMTS_ROLLUP("NULL, NULL, 0");

	return each_row(q, sql, d0, d1, stmt_row, NULL);
}

/* ---- days (whole UTC days, for the trend and anomalies) -------------- */

/* Columns: day number, job, cpu_s, mem_gib_s, file_read_bytes, net_tx_bytes. */
static int day_row(struct q *q, sqlite3_stmt *s, void *ctx)
{
	int64_t day = sqlite3_column_int64(s, 0) - q->r->first_day;
	struct jm_rep_job *j = jm_rep_job_find(q->r, col_text(s, 1));
	struct jm_rep_dayuse *d;
	(void)ctx;

	if (!j || day < 0 || (size_t)day >= q->r->n_days)
		return 0;
	d = &j->days[day];
	d->cpu_s += sqlite3_column_double(s, 2);
	d->mem_gib_s += sqlite3_column_double(s, 3);
	jm_rep_sat_add(&d->file_read_bytes, col_u64(s, 4));
	jm_rep_sat_add(&d->net_tx_bytes, col_u64(s, 5));
	return 0;
}

static int days_raw(struct q *q, int64_t a, int64_t b)
{
	return each_row(q,
		"SELECT end_ns / 86400000000000, job, total(cpu_s), total(mem_gib_s), total(file_read_bytes),"
		" total(net_tx_bytes) FROM runs WHERE end_ns >= ?1 AND end_ns < ?2"
		" AND (?3 IS NULL OR job = ?3) GROUP BY 1, 2", a, b, day_row, NULL);
}

static int days_rollup(struct q *q, int64_t d0, int64_t d1)
{
	return each_row(q,
		"SELECT day, job, cpu_s, mem_gib_s, file_read_bytes, net_tx_bytes FROM job_day"
		" WHERE day >= ?1 AND day < ?2 AND (?3 IS NULL OR job = ?3)", d0, d1, day_row, NULL);
}

/* ---- freshness, burn windows, datasets ------------------------------- */

/* Columns: job, Unix ns of its last success. */
static int last_success_row(struct q *q, sqlite3_stmt *s, void *ctx)
{
	struct jm_rep_job *j = jm_rep_job_find(q->r, col_text(s, 0));
	int64_t t = sqlite3_column_int64(s, 1);
	(void)ctx;

	if (j && t > j->last_success_ns)
		j->last_success_ns = t;
	return 0;
}

static int last_success(struct q *q, bool rollup)
{
	static const char raw[] =
		"SELECT job, max(end_ns) FROM runs WHERE outcome = 'success' AND end_ns >= ?1"
		" AND end_ns < ?2 AND (?3 IS NULL OR job = ?3) GROUP BY job";
	int64_t to = q->r->to_ns, to_day = floor_div(to, DAY);

	if (!rollup)
		return each_row(q, raw, 0, to, last_success_row, NULL);
	if (each_row(q, "SELECT job, max(last_success_ns) FROM job_day WHERE day >= ?1 AND day < ?2"
		     " AND (?3 IS NULL OR job = ?3) GROUP BY job", 0, to_day, last_success_row, NULL))
		return -1;
	return each_row(q, raw, to_day * DAY, to, last_success_row, NULL);
}

/* Columns: job, end_ns, outcome of a run in the last 6 hours. */
static int burn_row(struct q *q, sqlite3_stmt *s, void *ctx)
{
	struct jm_rep_job *j = jm_rep_job_find(q->r, col_text(s, 0));
	bool bad = strcmp(col_text(s, 2), "success") != 0;
	(void)ctx;

	if (!j)
		return 0;
	j->slo.runs_6h++;
	j->slo.bad_6h += bad;
	if (sqlite3_column_int64(s, 1) >= q->r->to_ns - HOUR) {
		j->slo.runs_1h++;
		j->slo.bad_1h += bad;
	}
	return 0;
}

static int burn_windows(struct q *q)
{
	return each_row(q,
		"SELECT job, end_ns, outcome FROM runs WHERE end_ns >= ?1 AND end_ns < ?2"
		" AND (?3 IS NULL OR job = ?3)", q->r->to_ns - 6 * HOUR, q->r->to_ns, burn_row, NULL);
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

/* Columns: kind, name, job, last_write_ns. */
static int dataset_row(struct q *q, sqlite3_stmt *s, void *ctx)
{
	(void)ctx;
	return dataset_add(q, col_text(s, 0), col_text(s, 1), col_text(s, 2),
			   sqlite3_column_int64(s, 3));
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

	/* dataset_day keeps each day's LAST writer of a dataset only: filtered
	 * by job it would lose every dataset the job wrote before another job
	 * overwrote it that day (which --raw still shows).  With --job the
	 * job's own writes come from the raw outputs rows, on both paths. */
	if (!rollup || q->r->job_filter)
		return each_row(q, raw, 1, to, dataset_row, NULL);
	if (each_row(q, roll, 0, to_day, dataset_row, NULL))
		return -1;
	return each_row(q, raw, to_day * DAY, to, dataset_row, NULL);
}

/* ---- idle capacity --------------------------------------------------- */

/* One host's capacity and the usage its job windows were attributed. */
struct host_use {
	char  *host;
	double cap_core_s, cap_mem_gib_s, attr_cpu_s, attr_mem_gib_s;
};

struct host_set {
	struct host_use *v;
	size_t n, cap;
};

/* The entry of host name, added when new; NULL only when out of memory. */
static struct host_use *host_get(struct host_set *h, const char *name)
{
	struct host_use *u;

	for (size_t k = 0; k < h->n; k++)      /* hosts of a fleet: a scan is enough */
		if (strcmp(h->v[k].host, name) == 0)
			return &h->v[k];
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct host_use *v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		h->v = v;
		h->cap = cap;
	}
	u = &h->v[h->n];
	memset(u, 0, sizeof(*u));
	if (!(u->host = strdup(name)))
		return NULL;
	h->n++;
	return u;
}

/* Columns: host, capacity core-s, capacity GiB-s, attributed cpu-s,
 * attributed GiB-s (each query fills the pair it has, 0 for the other). */
static int host_row(struct q *q, sqlite3_stmt *s, void *ctx)
{
	struct host_use *u = host_get(ctx, col_text(s, 0));

	if (!u)
		return oom(q);
	u->cap_core_s += sqlite3_column_double(s, 1);
	u->cap_mem_gib_s += sqlite3_column_double(s, 2);
	u->attr_cpu_s += sqlite3_column_double(s, 3);
	u->attr_mem_gib_s += sqlite3_column_double(s, 4);
	return 0;
}

/* A single integer (a count or a sum) into *(int64_t *)ctx. */
static int int64_row(struct q *q, sqlite3_stmt *s, void *ctx)
{
	(void)q;
	*(int64_t *)ctx = sqlite3_column_int64(s, 0);
	return 0;
}

/* Idle = per host, its capacity minus what its own job windows used
 * (never below zero), summed over the hosts that reported capacity.
 * Per host, because a host that sends no capacity (an agent without host
 * usage) still sends windows: subtracted from the fleet's total, its jobs'
 * usage was taken off other hosts' idle time, and one host's
 * over-attribution hid another's idle capacity. */
static int idle(struct q *q, bool rollup)
{
	static const char cap[] =
		"SELECT host, total(cpu_cores * window_s), total(mem_total_bytes / 1073741824.0 * window_s),"
		" 0, 0 FROM host_usage WHERE end_ns >= ?1 AND end_ns < ?2 GROUP BY host";
	static const char attr[] =
		"SELECT host, 0, 0, total(cpu_s), total(mem_gib_s) FROM windows"
		" WHERE end_ns >= ?1 AND end_ns < ?2 GROUP BY host";
	static const char roll[] =
		"SELECT host, total(core_s), total(mem_gib_s), total(attr_cpu_s), total(attr_mem_gib_s)"
		" FROM host_hour WHERE hour >= ?1 AND hour < ?2 GROUP BY host";
	struct jm_rep_idle *i = &q->r->idle;
	struct host_set hosts = { 0 };
	struct split sp;
	int rc;

	split_span(q->r->from_ns, q->r->to_ns, HOUR, rollup, &sp);
	rc = each_row(q, cap, sp.head_a, sp.head_b, host_row, &hosts) ||
	     each_row(q, cap, sp.tail_a, sp.tail_b, host_row, &hosts) ||
	     each_row(q, attr, sp.head_a, sp.head_b, host_row, &hosts) ||
	     each_row(q, attr, sp.tail_a, sp.tail_b, host_row, &hosts) ||
	     each_row(q, roll, sp.mid_a, sp.mid_b, host_row, &hosts) ? -1 : 0;
	for (size_t k = 0; k < hosts.n; k++) {
		const struct host_use *u = &hosts.v[k];

		/* Hosts that reported capacity, the same on both paths:
		 * host_hour also has rows for hosts that only sent windows. */
		if (rc == 0 && (u->cap_core_s > 0 || u->cap_mem_gib_s > 0)) {
			i->hosts++;
			i->capacity_core_s += u->cap_core_s;
			i->capacity_mem_gib_s += u->cap_mem_gib_s;
			i->attributed_cpu_s += u->attr_cpu_s;
			i->attributed_mem_gib_s += u->attr_mem_gib_s;
			i->idle_core_s += u->cap_core_s > u->attr_cpu_s ? u->cap_core_s - u->attr_cpu_s : 0;
			i->idle_mem_gib_s += u->cap_mem_gib_s > u->attr_mem_gib_s
					     ? u->cap_mem_gib_s - u->attr_mem_gib_s : 0;
		}
		free(u->host);
	}
	free(hosts.v);
	return rc;
}

/* ---- failed runs, by how they ended (raw rows: failures are few) ------ */

/* Columns: job, oom_killed, outcome, signal, exit_code, count, last end.
 * Several groups can end the same way as the report names it -- an OOM
 * kill is one ending whatever exit code or signal the run recorded, and so
 * is an unseen exit -- so a group whose name the job has already is added
 * to that entry instead of listed again. */
static int failure_row(struct q *q, sqlite3_stmt *s, void *ctx)
{
	struct jm_rep_job *j = row_job(q, s, 0);
	struct jm_rep_failure *f;
	char how[sizeof(f->how)];
	uint64_t runs = col_u64(s, 5);
	int64_t last = sqlite3_column_int64(s, 6);

	(void)ctx;
	if (!j)
		return -1;
	jm_rep_fmt_ending(sqlite3_column_int(s, 1) != 0, strcmp(col_text(s, 2), "unknown") == 0,
			  sqlite3_column_int(s, 3), sqlite3_column_int(s, 4), how, sizeof(how));
	for (size_t k = 0; k < j->n_failures; k++) {
		f = &j->failures[k];
		if (strcmp(f->how, how) == 0) {
			jm_rep_sat_add(&f->runs, runs);
			if (last > f->last_end_ns)
				f->last_end_ns = last;
			return 0;
		}
	}
	if (j->n_failures == j->cap_failures) {
		size_t cap = j->cap_failures ? j->cap_failures * 2 : 4;
		struct jm_rep_failure *v = realloc(j->failures, cap * sizeof(*v));
		if (!v)
			return oom(q);
		j->failures = v;
		j->cap_failures = cap;
	}
	f = &j->failures[j->n_failures++];
	memcpy(f->how, how, sizeof(f->how));
	f->runs = runs;
	f->last_end_ns = last;
	return 0;
}

/* Most runs first, then the most recent: the order the SQL gave each
 * group, which merging may have changed. */
static int cmp_failure(const void *a, const void *b)
{
	const struct jm_rep_failure *x = a, *y = b;

	if (x->runs != y->runs)
		return x->runs > y->runs ? -1 : 1;
	if (x->last_end_ns != y->last_end_ns)
		return x->last_end_ns > y->last_end_ns ? -1 : 1;
	return strcmp(x->how, y->how);
}

static int failures(struct q *q)
{
	if (each_row(q,
		"SELECT job, oom_killed, outcome, signal, exit_code, count(*), max(end_ns) FROM runs"
		" WHERE end_ns >= ?1 AND end_ns < ?2 AND outcome <> 'success'"
		" AND (?3 IS NULL OR job = ?3)"
		" GROUP BY job, oom_killed, outcome, signal, exit_code ORDER BY job, count(*) DESC, 7 DESC",
		q->r->from_ns, q->r->to_ns, failure_row, NULL))
		return -1;
	for (size_t i = 0; i < q->r->n_jobs; i++) {
		struct jm_rep_job *j = &q->r->jobs[i];

		if (j->n_failures > 1)
			qsort(j->failures, j->n_failures, sizeof(*j->failures), cmp_failure);
	}
	return 0;
}

/* ---- entry points ---------------------------------------------------- */

/* Why the first read of path failed, in words that point at the cause:
 * only a file that is no SQLite database, or one without the collector's
 * schema_version table, is "not a jobmeter collector database"; a lock, a
 * directory SQLite cannot create its WAL index in, or a damaged file is a
 * database that could not be read. */
static void read_error(sqlite3 *db, const char *path, char *err, size_t err_len)
{
	int ec = sqlite3_extended_errcode(db);

	if (ec == SQLITE_ERROR || ec == SQLITE_NOTADB)
		snprintf(err, err_len, "%s is not a jobmeter collector database: %s", path, sqlite3_errmsg(db));
	else if (ec == SQLITE_READONLY_DIRECTORY || ec == SQLITE_READONLY_CANTINIT)
		/* A WAL database is read through its -shm index, which a
		 * reader must create when no collector holds it open. */
		snprintf(err, err_len, "cannot read database %s: %s (a WAL database: its directory must be"
			 " writable for the -shm file, or the collector running; or report on a copy)",
			 path, sqlite3_errmsg(db));
	else
		snprintf(err, err_len, "cannot read database %s: %s", path, sqlite3_errmsg(db));
}

/* What SQLite would only call "unable to open database file" (a missing
 * file) or "disk I/O error" (a directory, found when it first reads), said
 * before it tries.  Returns -1 with err set, or 0 to go on and open. */
static int path_error(const char *path, char *err, size_t err_len)
{
	struct stat st;

	if (stat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return 0;
		snprintf(err, err_len, "cannot open database %s: it is a directory, not a database file", path);
		return -1;
	}
	if (errno == ENOENT)
		snprintf(err, err_len, "cannot open database %s: it does not exist", path);
	else
		snprintf(err, err_len, "cannot open database %s: %s", path, strerror(errno));
	return -1;
}

int jm_rep_db_open(const char *path, sqlite3 **db, int *schema_version, char *err, size_t err_len)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*db = NULL;
	*schema_version = 0;
	if (path_error(path, err, err_len))
		return -1;
	rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, err_len, "cannot open database %s: %s", path,
			 *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(*db, 5000);
	if (sqlite3_prepare_v2(*db, "SELECT max(version) FROM schema_version", -1, &s, NULL) != SQLITE_OK) {
		read_error(*db, path, err, err_len);
		goto fail;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*schema_version = sqlite3_column_int(s, 0);
	else if (rc != SQLITE_DONE)
		read_error(*db, path, err, err_len);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
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
	*n = 0;
	return each_row(q, "SELECT coalesce(sum(runs), 0) FROM job_day WHERE day >= ?1 AND day < ?2"
			" AND (?3 IS NULL OR job = ?3)", d0, d1, int64_row, n);
}

/* ---- data completeness (per agent) ------------------------------------ */

static struct jm_rep_agent *agent_get(struct q *q, const char *id)
{
	struct jm_rep_report *r = q->r;
	struct jm_rep_agent *a, *na;

	for (size_t i = 0; i < r->n_agents; i++)       /* a few agents: a scan */
		if (strcmp(r->agents[i].agent_id, id) == 0)
			return &r->agents[i];
	na = realloc(r->agents, (r->n_agents + 1) * sizeof(*na));
	if (!na)
		return NULL;
	r->agents = na;
	a = &na[r->n_agents];
	memset(a, 0, sizeof(*a));
	a->agent_id = strdup(id);
	a->host = strdup("");
	if (!a->agent_id || !a->host) {
		free(a->agent_id);
		free(a->host);
		return NULL;
	}
	r->n_agents++;
	return a;
}

/* Columns: agent_id, host, batches, seq gaps, then the JM_REP_LOSS_N
 * increases; a span's rows add to what earlier spans gave. */
static int agent_row(struct q *q, sqlite3_stmt *s, void *ctx)
{
	struct jm_rep_agent *a = agent_get(q, col_text(s, 0));
	const char *host = col_text(s, 1);
	(void)ctx;

	if (!a)
		return oom(q);
	if (strcmp(host, a->host) > 0) {
		char *h = strdup(host);
		if (!h)
			return oom(q);
		free(a->host);
		a->host = h;
	}
	jm_rep_sat_add(&a->batches, col_u64(s, 2));
	jm_rep_sat_add(&a->seq_gaps, col_u64(s, 3));
	for (int i = 0; i < JM_REP_LOSS_N; i++)
		jm_rep_sat_add(&a->loss[i], col_u64(s, 4 + i));
	return 0;
}

static int agent_cmp(const void *x, const void *y)
{
	return strcmp(((const struct jm_rep_agent *)x)->agent_id,
		      ((const struct jm_rep_agent *)y)->agent_id);
}

/* What one batch b contributes, computed from the batches (the same
 * definitions as the agent_hour rollup, migration 4, which the collector
 * keeps at ingest): a seq gap below its seq unless an earlier-stored batch
 * holds that seq, and the increase of each loss counter since the previous
 * batch with loss counters of its agent and boot.  Three index lookups per
 * batch (batches_agent_seq, the (agent, boot, seq) key): for the partial
 * hours at the ends of a period, or all of it on a database that predates
 * the rollup or with --raw. */
#define LOSS_INC(c) ", total(l." c " - CASE WHEN p." c " <= l." c " THEN p." c " ELSE 0 END)"
static const char completeness_raw[] =
	"SELECT b.agent_id, max(b.host), count(*),"
	" sum(CASE WHEN EXISTS (SELECT 1 FROM batches x WHERE x.agent_id = b.agent_id"
	" AND x.seq = b.seq AND x.id < b.id) THEN 0 ELSE coalesce(b.seq - 1 - (SELECT max(x.seq)"
	" FROM batches x WHERE x.agent_id = b.agent_id AND x.seq < b.seq), 0) END)"
	LOSS_INC("ringbuf_drops") LOSS_INC("map_full") LOSS_INC("payload_drops")
	LOSS_INC("parse_errors") LOSS_INC("statements_overflow") LOSS_INC("jobs_overflow")
	LOSS_INC("spool_dropped_batches") LOSS_INC("exits_synthesized")
	" FROM batches b LEFT JOIN loss l ON l.batch_id = b.id"
	" LEFT JOIN loss p ON l.batch_id IS NOT NULL AND p.batch_id = (SELECT x.id FROM batches x"
	" JOIN loss lx ON lx.batch_id = x.id WHERE x.agent_id = b.agent_id AND x.boot_id = b.boot_id"
	" AND x.seq < b.seq ORDER BY x.seq DESC LIMIT 1)"
	" WHERE b.window_end_ns >= ?1 AND b.window_end_ns < ?2 GROUP BY b.agent_id";
#undef LOSS_INC

/* Loss sums with total(): they can pass 2^63 (migration 4); col_u64
 * saturates.  Batches and gaps cannot (gaps are below the highest seq). */
static const char completeness_rollup[] =
	"SELECT agent_id, max(host), sum(batches), sum(seq_gaps), total(l0), total(l1), total(l2),"
	" total(l3), total(l4), total(l5), total(l6), total(l7) FROM agent_hour"
	" WHERE hour >= ?1 AND hour < ?2 GROUP BY agent_id";

/* Per agent, the batches whose window ends in the period, the seqs never
 * stored below theirs (lost or refused batches; seqs continue across agent
 * restarts and reboots, the spool keeps them) and the loss the agent
 * reported in them: whole hours from agent_hour, the rest from batches. */
static int completeness(struct q *q)
{
	struct jm_rep_report *r = q->r;
	bool rollup = r->schema_version >= 4 && !r->raw_forced;
	struct split sp;

	split_span(r->from_ns, r->to_ns, HOUR, rollup, &sp);
	if (each_row(q, completeness_raw, sp.head_a, sp.head_b, agent_row, NULL) ||
	    each_row(q, completeness_rollup, sp.mid_a, sp.mid_b, agent_row, NULL) ||
	    each_row(q, completeness_raw, sp.tail_a, sp.tail_b, agent_row, NULL))
		return -1;
	if (sp.mid_a < sp.mid_b)
		r->rollup_used = true;
	if (r->n_agents > 1)
		qsort(r->agents, r->n_agents, sizeof(r->agents[0]), agent_cmp);
	for (size_t i = 0; i < r->n_agents; i++) {
		struct jm_rep_agent *a = &r->agents[i];

		a->lost = 0;
		for (int k = 0; k < JM_REP_LOSS_N; k++)
			jm_rep_sat_add(&a->lost, a->loss[k]);
	}
	return 0;
}

static int query_all(struct q *qp)
{
	struct q q = *qp;
	struct jm_rep_report *r = q.r;
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

	if (last_success(&q, rollup) || burn_windows(&q) || datasets(&q, rollup) || idle(&q, rollup) ||
	    completeness(&q) || failures(&q))
		return -1;
	return 0;
}

/* Every query of a report in one read transaction: one snapshot of the
 * database while the collector goes on writing (WAL readers do not block
 * it), so the sections agree with each other -- and the edges of a period
 * with its rollup hours, when a late batch moves figures between them. */
int jm_rep_query(sqlite3 *db, struct jm_rep_report *r, char *err, size_t err_len)
{
	struct q q = { db, r, err, err_len };
	int rc;

	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, err_len, "query failed: %s", sqlite3_errmsg(db));
		return -1;
	}
	rc = query_all(&q);
	/* Read only: ending the transaction just releases the snapshot. */
	if (rc) {
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);   /* err says why already */
		return rc;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, err_len, "query failed: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}
