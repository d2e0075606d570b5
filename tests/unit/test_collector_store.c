/* Collector storage: idempotent ingest, seq gaps, rollups equal to the raw
 * rows, schema migration v1 -> latest (the backfill gives the same rollups as
 * ingest did), migration v2 -> v3 (statement percentiles: data kept, all or
 * nothing, a no-op the second time, percentiles round-trip), refusal of a
 * newer schema, run-duration histogram codec. */
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "jobmeter.pb-c.h"
#include "tools/collector/rollup_hist.h"
#include "tools/collector/schema.h"
#include "tools/collector/store.h"

/* db_stats as schema version 1 has it (later migrations add columns). */
#define V1_DB_STATS_COLS \
	"id, owner_kind, owner_id, job, end_ns, system, endpoint, queries, errors, rows, tx_bytes, rx_bytes, latency_s_sum, latency_p50_s," \
	" latency_p95_s, latency_p99_s, latency_buckets, statements_overflow"

#define NRUNS 6
#define DAY_NS INT64_C(86400000000000)

/* One batch with NRUNS runs of two jobs spread over two UTC days, windows,
 * db stats, statements and outputs; figures depend on seq so batches differ. */
struct mk {
	Jobmeter__V1__Batch b;
	Jobmeter__V1__AgentIdentity agent;
	Jobmeter__V1__JobRun run[NRUNS], *runs[NRUNS];
	Jobmeter__V1__JobWindow win[NRUNS], *wins[NRUNS];
	Jobmeter__V1__Counters rc[NRUNS], wc[NRUNS];
	Jobmeter__V1__DbStats db[NRUNS], *dbs[NRUNS][1];
	Jobmeter__V1__StatementStats st[NRUNS][2], *sts[NRUNS][2];
	Jobmeter__V1__OutputWrite out[NRUNS], *outs[NRUNS][1];
	Jobmeter__V1__HostUsage host;
	uint64_t buckets[NRUNS][5];
	char run_ids[NRUNS][32];
};

/* The latency percentiles (p50, p95, p99) mk_batch sends for statement k
 * of run i in batch seq: not monotonic in i, so that the day's maximum is
 * not simply the last run's.  Run 2's UPDATE sends none (all 0: stored as
 * NULL), run 3's UPDATE an invalid p95 (stored as NULL, the others kept). */
static void mk_pct(int i, int k, uint64_t seq, double p[3])
{
	double p95 = 0.01 * (double)(((uint64_t)i * 7 + seq) % 5 + 1) * (k + 1);

	p[0] = p95 / 4;
	p[1] = p95;
	p[2] = p95 * 1.5;
	if (i == 2 && k == 1)
		p[0] = p[1] = p[2] = 0;
	if (i == 3 && k == 1)
		p[1] = -1;
}

static void mk_batch(struct mk *m, const char *agent, uint64_t seq)
{
	const int64_t t0 = INT64_C(1714607000000000000);   /* 2024-05-01 23:43:20 UTC */
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity a = JOBMETER__V1__AGENT_IDENTITY__INIT;
	Jobmeter__V1__HostUsage h = JOBMETER__V1__HOST_USAGE__INIT;

	memset(m, 0, sizeof(*m));
	m->agent = a;
	m->agent.host = "host-a";
	m->agent.agent_id = (char *)agent;
	m->agent.boot_id = "boot";
	for (int i = 0; i < NRUNS; i++) {
		Jobmeter__V1__JobRun r = JOBMETER__V1__JOB_RUN__INIT;
		Jobmeter__V1__JobWindow w = JOBMETER__V1__JOB_WINDOW__INIT;
		Jobmeter__V1__Counters c = JOBMETER__V1__COUNTERS__INIT;
		Jobmeter__V1__DbStats d = JOBMETER__V1__DB_STATS__INIT;
		Jobmeter__V1__OutputWrite o = JOBMETER__V1__OUTPUT_WRITE__INIT;
		/* Runs 0..2 end before midnight, 3..5 after: two UTC days. */
		int64_t end = t0 + (int64_t)seq * 1000000000 + i * INT64_C(600000000000);

		m->rc[i] = c;
		m->rc[i].processes = 1 + (uint64_t)i;
		m->rc[i].cpu_s = 0.1 * (double)(i + 1) + (double)seq / 7.0;
		m->rc[i].mem_gib_s = 1.0 / (double)(i + 3);
		m->rc[i].peak_rss_bytes = 1000u * (uint64_t)(i + 1) + seq;
		m->rc[i].file_read_bytes = 1u << (10 + i);
		m->rc[i].file_write_bytes = 7;
		m->rc[i].net_rx_bytes = 11;
		m->rc[i].net_tx_bytes = 13u * (uint64_t)(i + 1);
		m->wc[i] = m->rc[i];
		m->wc[i].cpu_s /= 3.0;
		for (int k = 0; k < 2; k++) {
			Jobmeter__V1__StatementStats s = JOBMETER__V1__STATEMENT_STATS__INIT;
			double p[3];

			m->st[i][k] = s;
			m->st[i][k].fingerprint = k ? "UPDATE t SET a = ?" : "SELECT * FROM t WHERE id = ?";
			m->st[i][k].calls = 5u + (uint64_t)k;
			m->st[i][k].errors = (uint64_t)k;
			m->st[i][k].rows_unknown = (uint64_t)k * 2;
			m->st[i][k].latency_s_sum = 0.01 * (k + 1) * (i + 1);
			mk_pct(i, k, seq, p);
			m->st[i][k].latency_p50_s = p[0];
			m->st[i][k].latency_p95_s = p[1];
			m->st[i][k].latency_p99_s = p[2];
			m->sts[i][k] = &m->st[i][k];
		}
		m->db[i] = d;
		m->db[i].system = "postgresql";
		m->db[i].endpoint = "127.0.0.1:5432";
		m->db[i].queries = 11;
		m->db[i].errors = 1;
		m->db[i].rows_unknown = 2;
		m->db[i].connections_unreadable = (uint64_t)(i % 2);
		m->db[i].latency_s_sum = 0.3 * (i + 1);
		m->db[i].latency_p95_s = 0.05 * (i + 1);
		m->db[i].n_statements = 2;
		/* Run 1 sends no histogram: merging must treat it as absent. */
		if (i != 1) {
			for (int k = 0; k < 5; k++)
				m->buckets[i][k] = (uint64_t)(k * (i + 1)) + seq;
			m->db[i].n_latency_buckets = 5;
			m->db[i].latency_buckets = m->buckets[i];
		}
		m->db[i].statements = m->sts[i];
		m->dbs[i][0] = &m->db[i];
		m->out[i] = o;
		m->out[i].kind = "table";
		m->out[i].name = i % 2 ? "public.b" : "public.a";
		m->out[i].last_write_unix_ns = end - 1000 * i;
		m->outs[i][0] = &m->out[i];
		snprintf(m->run_ids[i], sizeof(m->run_ids[i]), "r-%llu-%d", (unsigned long long)seq, i);
		m->run[i] = r;
		m->run[i].job = i % 2 ? "job-b" : "job-a";
		m->run[i].run_id = m->run_ids[i];
		m->run[i].end_unix_ns = end;
		m->run[i].start_unix_ns = end - (int64_t)(i + 1) * 1500000000;
		m->run[i].outcome = i == 4 ? JOBMETER__V1__OUTCOME__OUTCOME_FAILURE
					   : JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS;
		m->run[i].oom_killed = i == 4;
		m->run[i].restart = i == 5;
		m->run[i].counters = &m->rc[i];
		m->run[i].n_db = 1;
		m->run[i].db = m->dbs[i];
		m->run[i].n_outputs = 1;
		m->run[i].outputs = m->outs[i];
		m->runs[i] = &m->run[i];
		m->win[i] = w;
		m->win[i].job = m->run[i].job;
		m->win[i].start_unix_ns = end - 60000000000;
		m->win[i].end_unix_ns = end;
		m->win[i].counters = &m->wc[i];
		m->wins[i] = &m->win[i];
	}
	m->host = h;
	m->host.cpu_cores = 8;
	m->host.cpu_busy_s = 100;
	m->host.mem_total_bytes = UINT64_C(32) << 30;
	m->host.mem_used_bytes = UINT64_C(5) << 30;
	m->host.window_s = 60;
	m->b = b;
	m->b.schema_version = 1;
	m->b.agent = &m->agent;
	m->b.seq = seq;
	m->b.window_start_unix_ns = t0;
	m->b.window_end_unix_ns = t0 + 4 * DAY_NS / 24;
	m->b.n_runs = NRUNS;
	m->b.runs = m->runs;
	m->b.n_windows = NRUNS;
	m->b.windows = m->wins;
	m->b.host = &m->host;
}

static double q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	double v = NAN;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		printf("# sql error: %s: %s\n", sql, sqlite3_errmsg(db));
		return NAN;
	}
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_double(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Sum of little-endian uint64 number idx over the blobs a query returns. */
static uint64_t blob_sum(sqlite3 *db, const char *sql, int idx)
{
	sqlite3_stmt *s;
	uint64_t sum = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return UINT64_MAX;
	while (sqlite3_step(s) == SQLITE_ROW) {
		const uint8_t *p = sqlite3_column_blob(s, 0);
		int n = sqlite3_column_bytes(s, 0);
		uint64_t v = 0;

		if (!p || n < (idx + 1) * 8)
			continue;
		for (int k = 7; k >= 0; k--)
			v = (v << 8) | p[idx * 8 + k];
		sum += v;
	}
	sqlite3_finalize(s);
	return sum;
}

static int close_enough(double a, double b)
{
	return fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b)) + 1e-12;
}

/* Check every run statement stored for `agent` against what mk_batch sent
 * (mk_pct): exact values, NULL where none or an invalid one was sent.
 * Returns the number of statements checked, -1 on the first mismatch. */
static int check_pcts(sqlite3 *db, const char *agent)
{
	sqlite3_stmt *s;
	int n = 0;

	if (sqlite3_prepare_v2(db,
		"SELECT b.seq, r.run_id, s.fingerprint, s.latency_p50_s, s.latency_p95_s, s.latency_p99_s"
		" FROM statements s JOIN db_stats d ON d.id = s.db_stats_id AND d.owner_kind = 'run'"
		" JOIN runs r ON r.id = d.owner_id JOIN batches b ON b.id = r.batch_id"
		" WHERE b.agent_id = ?1", -1, &s, NULL) != SQLITE_OK) {
		printf("# check_pcts: %s\n", sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_text(s, 1, agent, -1, SQLITE_STATIC);
	while (sqlite3_step(s) == SQLITE_ROW) {
		unsigned long long seq, rseq;
		int i, k = strncmp((const char *)sqlite3_column_text(s, 2), "UPDATE", 6) == 0;
		double p[3];

		seq = (unsigned long long)sqlite3_column_int64(s, 0);
		if (sscanf((const char *)sqlite3_column_text(s, 1), "r-%llu-%d", &rseq, &i) != 2 || rseq != seq) {
			n = -1;
			break;
		}
		mk_pct(i, k, seq, p);
		for (int c = 0; c < 3; c++) {
			bool unknown = (p[0] == 0 && p[1] == 0 && p[2] == 0) || p[c] < 0;
			bool null = sqlite3_column_type(s, 3 + c) == SQLITE_NULL;

			if (unknown != null || (!null && sqlite3_column_double(s, 3 + c) != p[c])) {
				printf("# seq %llu run %d stmt %d: p%d stored %s%g, sent %g\n", seq, i, k, c,
				       null ? "NULL " : "", sqlite3_column_double(s, 3 + c), p[c]);
				n = -1;
			}
		}
		if (n < 0)
			break;
		n++;
	}
	sqlite3_finalize(s);
	return n;
}

/* statement_day rows whose p95/p99 maximum is not the maximum of the raw
 * run-owned statements of that (day, job, fingerprint), NULLs ignored. */
static const char stmt_day_max_wrong[] =
	"SELECT count(*) FROM statement_day sd WHERE"
	" latency_p95_s_max IS NOT (SELECT max(s.latency_p95_s) FROM statements s"
	"   JOIN db_stats d ON d.id = s.db_stats_id WHERE d.owner_kind = 'run' AND d.job = sd.job"
	"   AND d.end_ns / 86400000000000 = sd.day AND s.fingerprint = sd.fingerprint)"
	" OR latency_p99_s_max IS NOT (SELECT max(s.latency_p99_s) FROM statements s"
	"   JOIN db_stats d ON d.id = s.db_stats_id WHERE d.owner_kind = 'run' AND d.job = sd.job"
	"   AND d.end_ns / 86400000000000 = sd.day AND s.fingerprint = sd.fingerprint)";

/* Copy the raw rows of database `from` into an open version-1 database
 * (statements by name: the source may have the columns of migration 3). */
static int copy_raw_v1(sqlite3 *db, const char *from)
{
	char sql[2048];

	snprintf(sql, sizeof(sql),
		 "ATTACH '%s' AS o;"
		 "INSERT INTO batches SELECT * FROM o.batches; INSERT INTO runs SELECT * FROM o.runs;"
		 "INSERT INTO windows SELECT * FROM o.windows;"
		 "INSERT INTO db_stats (" V1_DB_STATS_COLS ") SELECT " V1_DB_STATS_COLS " FROM o.db_stats;"
		 "INSERT INTO statements (id, db_stats_id, fingerprint, calls, errors, rows, latency_s_sum,"
		 " last_error) SELECT id, db_stats_id, fingerprint, calls, errors, rows, latency_s_sum,"
		 " last_error FROM o.statements;"
		 "INSERT INTO outputs SELECT * FROM o.outputs;"
		 "INSERT INTO host_usage SELECT * FROM o.host_usage; INSERT INTO loss SELECT * FROM o.loss;"
		 "DETACH o;", from);
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int has_column(sqlite3 *db, const char *table, const char *col)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pragma_table_info('%s') WHERE name = '%s'", table, col);
	return q1(db, sql) == 1;
}

/* Compare each numeric column of a rollup table between two databases
 * (main vs attached "o"), row by row on the key. */
static int same_table(sqlite3 *db, const char *table, const char *key, const char *const *cols)
{
	char sql[1024];
	int ok = 1;

	snprintf(sql, sizeof(sql), "SELECT (SELECT count(*) FROM main.%s) - (SELECT count(*) FROM o.%s)",
		 table, table);
	if (q1(db, sql) != 0) {
		printf("# %s: row counts differ\n", table);
		return 0;
	}
	for (int i = 0; cols[i]; i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT max(abs(a.%s - b.%s) / (abs(a.%s) + abs(b.%s) + 1e-12)) FROM main.%s a"
			 " JOIN o.%s b USING (%s)", cols[i], cols[i], cols[i], cols[i], table, table, key);
		double d = q1(db, sql);

		if (!(d <= 1e-12)) {
			printf("# %s.%s differs (rel %g)\n", table, cols[i], d);
			ok = 0;
		}
	}
	return ok;
}

static void test_hist_codec(void)
{
	uint64_t c[JM_DHIST_BUCKETS] = { 0 }, d[JM_DHIST_BUCKETS] = { 0 };
	uint8_t blob[JM_DHIST_BLOB_MAX];
	size_t n;
	int ok = 1;

	CHECK_INT("dhist index 0 s", jm_dhist_index(0), 0);
	CHECK_INT("dhist index NaN", jm_dhist_index(NAN), 0);
	CHECK_INT("dhist index 1 ms", jm_dhist_index(0.001), 0);
	CHECK_INT("dhist index 2 ms", jm_dhist_index(0.002), 9);
	CHECK_INT("dhist index huge", jm_dhist_index(1e12), JM_DHIST_BUCKETS - 1);
	for (double s = 0.0011; s < 1e6; s *= 1.37) {
		double v = jm_dhist_value(jm_dhist_index(s));

		if (fabs(v - s) / s > 0.045)
			ok = 0;
	}
	CHECK("dhist value within 4.5 %", ok);
	c[3] = 2;
	c[200] = 70000;
	c[255] = 1;
	n = jm_dhist_encode(c, blob);
	CHECK_INT("dhist encoded size", n, 15);
	jm_dhist_decode_add(blob, n, d);
	jm_dhist_decode_add(blob, n, d);
	CHECK("dhist decode_add doubles", d[3] == 4 && d[200] == 140000 && d[255] == 2 && d[0] == 0);
	CHECK("dhist quantile 0 = lowest", jm_dhist_quantile(c, 0) == jm_dhist_value(3));
	CHECK("dhist quantile 1 = highest", jm_dhist_quantile(c, 1) == jm_dhist_value(255));
	CHECK("dhist quantile 0.5", jm_dhist_quantile(c, 0.5) == jm_dhist_value(200));
	memset(c, 0, sizeof(c));
	CHECK("dhist empty quantile NaN", isnan(jm_dhist_quantile(c, 0.5)));
}

/* Figures of a database that the upgrade must not change. */
struct snap {
	double batches, runs, statements, stmt_calls, stmt_lat, sd_rows, sd_calls, sd_lat, jd_cpu, jd_runs;
};

static void take_snap(sqlite3 *db, struct snap *x)
{
	x->batches = q1(db, "SELECT count(*) FROM batches");
	x->runs = q1(db, "SELECT count(*) FROM runs");
	x->statements = q1(db, "SELECT count(*) FROM statements");
	x->stmt_calls = q1(db, "SELECT sum(calls) FROM statements");
	x->stmt_lat = q1(db, "SELECT sum(latency_s_sum) FROM statements");
	x->sd_rows = q1(db, "SELECT count(*) FROM statement_day");
	x->sd_calls = q1(db, "SELECT sum(calls) FROM statement_day");
	x->sd_lat = q1(db, "SELECT sum(latency_s_sum) FROM statement_day");
	x->jd_cpu = q1(db, "SELECT sum(cpu_s) FROM job_day");
	x->jd_runs = q1(db, "SELECT sum(runs) FROM job_day");
}

/* Same figures, exactly (the upgrade copies nothing, it only adds columns). */
static int same_snap(const struct snap *a, const struct snap *b)
{
	return a->batches == b->batches && a->runs == b->runs && a->statements == b->statements &&
	       a->stmt_calls == b->stmt_calls && a->stmt_lat == b->stmt_lat && a->sd_rows == b->sd_rows &&
	       a->sd_calls == b->sd_calls && a->sd_lat == b->sd_lat && a->jd_cpu == b->jd_cpu &&
	       a->jd_runs == b->jd_runs && a->batches > 0 && a->statements > 0 && a->sd_rows > 0;
}

/* Migration 3 on a true version-2 database (schema.sql, the raw rows of
 * database a, then 002_rollups.sql with its backfill): a failure half-way
 * leaves version 2 untouched and the next start applies it whole; success
 * keeps every row and figure, old statements have unknown percentiles, new
 * batches store theirs and the day maxima merge with the unknown ones;
 * opening again is a no-op. */
static void test_v2_upgrade(const char *dir, const char *a_path, struct mk *m,
			    const struct jm_coll_migration *mig)
{
	char path[300], err[512];
	struct jm_coll_store_open_info info;
	struct jm_coll_store_result res;
	struct jm_coll_store *st = NULL;
	struct snap before, after;
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/v2.db", dir);
	CHECK_INT("v2: sqlite open", sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT("v2: SQL functions", jm_coll_store_register_functions(db), 0);
	CHECK_INT("v2: schema v1", sqlite3_exec(db, mig[0].sql, NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT("v2: copy raw rows", copy_raw_v1(db, a_path), SQLITE_OK);
	CHECK_INT("v2: migration 2 with backfill", sqlite3_exec(db, mig[1].sql, NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT("v2: version 2", sqlite3_exec(db, "INSERT INTO schema_version VALUES (2)", NULL, NULL, NULL),
		  SQLITE_OK);
	CHECK("v2: no percentile columns yet", !has_column(db, "statements", "latency_p95_s") &&
	      !has_column(db, "statement_day", "latency_p95_s_max"));
	take_snap(db, &before);
	CHECK("v2: rollups backfilled", before.sd_rows > 0 && before.jd_runs == before.runs);
	/* A column in the way of the second ALTER of statement_day: the
	 * migration fails after it has altered statements. */
	CHECK_INT("v2: obstacle column", sqlite3_exec(db, "ALTER TABLE statement_day ADD COLUMN latency_p99_s_max TEXT",
						   NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	db = NULL;

	CHECK_INT("v2: failed migration refused", jm_coll_store_open(path, &st, &info, err, sizeof(err)), -1);
	CHECK("v2: failure names migration 3", strstr(err, "003_statement_percentiles") != NULL);
	CHECK_INT("v2: sqlite reopen", sqlite3_open(path, &db), SQLITE_OK);
	CHECK("v2: failed migration left version 2",
	      q1(db, "SELECT group_concat(version) FROM schema_version") == 2);
	CHECK("v2: failed migration rolled back whole", !has_column(db, "statements", "latency_p50_s") &&
	      !has_column(db, "statements", "latency_p95_s") && !has_column(db, "statement_day", "latency_p95_s_max"));
	CHECK_INT("v2: remove the obstacle", sqlite3_exec(db, "ALTER TABLE statement_day DROP COLUMN latency_p99_s_max",
						       NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	db = NULL;

	CHECK_INT("v2: open upgrades", jm_coll_store_open(path, &st, &info, err, sizeof(err)), 0);
	if (!st) {
		printf("# %s\n", err);
		return;
	}
	CHECK_INT("v2 -> v3: version before", info.version_before, 2);
	CHECK_INT("v2 -> latest: version after", info.version_after, jm_coll_schema_latest());
	jm_coll_store_close(st);
	st = NULL;
	CHECK_INT("v3: sqlite open", sqlite3_open(path, &db), SQLITE_OK);
	take_snap(db, &after);
	CHECK("v3: every row and figure kept", same_snap(&before, &after));
	CHECK("v3: rollups still equal the raw rows", close_enough(after.sd_lat, after.stmt_lat) &&
	      after.sd_calls == after.stmt_calls);
	CHECK("v3: columns added", has_column(db, "statements", "latency_p50_s") &&
	      has_column(db, "statements", "latency_p95_s") && has_column(db, "statements", "latency_p99_s") &&
	      has_column(db, "statement_day", "latency_p95_s_max") &&
	      has_column(db, "statement_day", "latency_p99_s_max"));
	CHECK("v3: old rows have unknown percentiles",
	      q1(db, "SELECT count(latency_p50_s) + count(latency_p95_s) + count(latency_p99_s) FROM statements") == 0 &&
	      q1(db, "SELECT count(latency_p95_s_max) + count(latency_p99_s_max) FROM statement_day") == 0);
	CHECK("v3: one version row, the latest",
	      q1(db, "SELECT group_concat(version) FROM schema_version") == jm_coll_schema_latest());
	sqlite3_close(db);
	db = NULL;

	/* Ingest after the upgrade: new statements of the same days. */
	CHECK_INT("v3: open again", jm_coll_store_open(path, &st, &info, err, sizeof(err)), 0);
	if (!st)
		return;
	CHECK("v3: second open is a no-op", info.version_before == jm_coll_schema_latest() &&
	      info.version_after == jm_coll_schema_latest());
	mk_batch(m, "agent-3", 1);
	CHECK_INT("v3: store a batch with percentiles", jm_coll_store_batch(st, &m->b, 8, &res), JM_STORE_STORED);
	mk_batch(m, "agent-3", 2);
	CHECK_INT("v3: and another", jm_coll_store_batch(st, &m->b, 9, &res), JM_STORE_STORED);
	jm_coll_store_close(st);
	st = NULL;
	CHECK_INT("v3: sqlite open after ingest", sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT("v3: new statements' percentiles as sent", check_pcts(db, "agent-3"), 2 * NRUNS * 2);
	CHECK("v3: old statements still unknown",
	      q1(db, "SELECT count(s.latency_p95_s) FROM statements s JOIN db_stats d ON d.id = s.db_stats_id"
		     " JOIN runs r ON r.id = d.owner_id AND d.owner_kind = 'run' JOIN batches b ON b.id = r.batch_id"
		     " WHERE b.agent_id != 'agent-3'") == 0);
	CHECK("v3: day maxima over old (unknown) and new rows = raw maxima", q1(db, stmt_day_max_wrong) == 0);
	CHECK("v3: day maxima set where the old rows had none",
	      q1(db, "SELECT count(*) FROM statement_day WHERE latency_p95_s_max IS NULL") == 0 &&
	      q1(db, "SELECT count(*) FROM statement_day") == before.sd_rows);
	CHECK("v3: sums still add up", q1(db, "SELECT sum(calls) FROM statement_day") ==
	      q1(db, "SELECT sum(s.calls) FROM statements s JOIN db_stats d ON d.id = s.db_stats_id"
		     " WHERE d.owner_kind = 'run'"));
	sqlite3_close(db);
}

/* Progress reports of a migration (jm_coll_store_open_ex). */
#define PROG_MAX 4096
struct prog_log {
	int n;
	char name[PROG_MAX][64];
	double s[PROG_MAX];
};

static void prog_note(void *ctx, const char *migration, double elapsed_s)
{
	struct prog_log *pl = ctx;

	if (pl->n < PROG_MAX) {
		snprintf(pl->name[pl->n], sizeof(pl->name[0]), "%s", migration);
		pl->s[pl->n] = elapsed_s;
	}
	pl->n++;
}

/* A version-1 database big enough that its backfill runs for a while
 * (50,000 batches with loss counters): opening it reports progress while
 * migration 4 runs, not only when each migration starts. */
static void test_progress_ticks(const char *dir, const struct jm_coll_migration *mig)
{
	static struct prog_log pl;
	struct jm_coll_store_progress prog = { .fn = prog_note, .ctx = &pl, .interval_s = 0 };
	struct jm_coll_store_open_info info;
	struct jm_coll_store *st = NULL;
	char path[300], err[512];
	sqlite3 *db = NULL;
	int ticks4 = 0;

	snprintf(path, sizeof(path), "%s/big-v1.db", dir);
	CHECK_INT("big v1: sqlite open", sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT("big v1: schema", sqlite3_exec(db, mig[0].sql, NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT("big v1: rows", sqlite3_exec(db,
		"INSERT INTO schema_version VALUES (1);"
		"WITH RECURSIVE m(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM m WHERE i < 50000)"
		" INSERT INTO batches (agent_id, boot_id, seq, host, window_start_ns, window_end_ns, received_ns)"
		" SELECT 'a' || (i % 5), 'b', i, 'h', i * 10000000000, (i + 1) * 10000000000, 0 FROM m;"
		"INSERT INTO loss SELECT id, id / 1000, 0, 0, 0, 0, 0, 0, 0, 0 FROM batches;",
		NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT("big v1: open", jm_coll_store_open_ex(path, &st, &info, &prog, err, sizeof(err)), 0);
	jm_coll_store_close(st);
	for (int i = 0; i < pl.n && i < PROG_MAX; i++)
		ticks4 += pl.s[i] > 0 && strcmp(pl.name[i], "migrations/004_agent_hour.sql") == 0;
	CHECK("big v1: progress while migration 4 ran", ticks4 > 0);
}

int main(void)
{
	char dir[] = "/tmp/jm-store-test.XXXXXX", a_path[256], b_path[256], err[512], sql[512];
	struct jm_coll_store_open_info info;
	struct jm_coll_store_result res;
	struct jm_coll_store *st = NULL;
	sqlite3 *db = NULL;
	struct mk *m = malloc(sizeof(*m));
	const struct jm_coll_migration *mig;
	size_t nmig;

	test_hist_codec();
	if (!mkdtemp(dir)) {
		printf("FAIL mkdtemp\n");
		return 1;
	}
	snprintf(a_path, sizeof(a_path), "%s/a.db", dir);
	snprintf(b_path, sizeof(b_path), "%s/b.db", dir);

	mig = jm_coll_schema_migrations(&nmig);
	CHECK("schema v1 embedded", nmig >= 2 && mig[0].version == 1 &&
	      strstr(mig[0].sql, "CREATE TABLE IF NOT EXISTS batches") != NULL);
	CHECK("migration 2 embedded", strstr(mig[1].sql, "CREATE TABLE IF NOT EXISTS job_day") != NULL);
	CHECK("migration 3 embedded", nmig >= 3 && mig[2].version == 3 &&
	      strstr(mig[2].sql, "ALTER TABLE statements ADD COLUMN latency_p95_s REAL") != NULL);
	/* The embedded texts are the files, byte for byte (a stale build of
	 * schema.o after editing a .sql file fails here). */
	for (size_t i = 0; i < nmig; i++) {
		char path[256], name[300];
		FILE *f;
		char *txt = calloc(1, 1 << 20);
		size_t n;

		snprintf(path, sizeof(path), "tools/collector/%s", mig[i].name);
		snprintf(name, sizeof(name), "embedded %s matches the file", mig[i].name);
		f = fopen(path, "r");
		if (f) {
			n = fread(txt, 1, (1 << 20) - 1, f);
			CHECK(name, n == strlen(mig[i].sql) && memcmp(txt, mig[i].sql, n) == 0);
			fclose(f);
		} else {
			printf("# %s: skipped (not run from the repository root)\n", name);
		}
		free(txt);
	}

	static struct prog_log pl;
	struct jm_coll_store_progress prog = { .fn = prog_note, .ctx = &pl, .interval_s = 0 };

	CHECK_INT("open fresh", jm_coll_store_open_ex(a_path, &st, &info, &prog, err, sizeof(err)), 0);
	CHECK_INT("fresh: no progress reports (nothing to backfill)", pl.n, 0);
	CHECK_INT("fresh: version before", info.version_before, 0);
	CHECK_INT("fresh: version after", info.version_after, jm_coll_schema_latest());
	CHECK_INT("healthy", jm_coll_store_healthy(st), 0);

	mk_batch(m, "agent-1", 1);
	CHECK_INT("store seq 1", jm_coll_store_batch(st, &m->b, 1, &res), JM_STORE_STORED);
	CHECK_INT("seq 1: no gap", res.seq_gap, 0);
	CHECK_INT("replay seq 1: duplicate", jm_coll_store_batch(st, &m->b, 2, &res), JM_STORE_DUPLICATE);
	mk_batch(m, "agent-1", 4);
	CHECK_INT("store seq 4", jm_coll_store_batch(st, &m->b, 3, &res), JM_STORE_STORED);
	CHECK_INT("seq 4 after 1: gap 2", res.seq_gap, 2);
	mk_batch(m, "agent-1", 3);
	CHECK_INT("late seq 3", jm_coll_store_batch(st, &m->b, 4, &res), JM_STORE_STORED);
	CHECK_INT("late seq 3: no gap", res.seq_gap, 0);
	mk_batch(m, "agent-2", 9);
	CHECK_INT("other agent seq 9", jm_coll_store_batch(st, &m->b, 5, &res), JM_STORE_STORED);
	CHECK_INT("first batch of an agent: no gap", res.seq_gap, 0);
	m->agent.boot_id = "boot-2";
	CHECK_INT("same seq, other boot: stored", jm_coll_store_batch(st, &m->b, 6, &res), JM_STORE_STORED);
	jm_coll_store_close(st);
	st = NULL;

	CHECK_INT("sqlite open a", sqlite3_open(a_path, &db), SQLITE_OK);
	CHECK("batches", q1(db, "SELECT count(*) FROM batches") == 5);
	CHECK("runs", q1(db, "SELECT count(*) FROM runs") == 5 * NRUNS);
	CHECK("statements", q1(db, "SELECT count(*) FROM statements") == 5 * NRUNS * 2);
	CHECK("journal is WAL", sqlite3_exec(db, "", NULL, NULL, NULL) == SQLITE_OK &&
	      q1(db, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") == 1);
	CHECK("outcome stored as text", q1(db, "SELECT count(*) FROM runs WHERE outcome = 'failure'") == 5);
	CHECK("labels_json default", q1(db, "SELECT count(*) FROM runs WHERE labels_json = '{}'") == 5 * NRUNS);
	CHECK("host_usage row per batch", q1(db, "SELECT count(*) FROM host_usage") == 5);
	/* Rollups agree with the raw rows. */
	CHECK("job_day covers two days",
	      q1(db, "SELECT count(DISTINCT day) FROM job_day") == 2);
	CHECK("job_day runs = raw runs", q1(db, "SELECT sum(runs) FROM job_day") == 5 * NRUNS);
	CHECK("job_day cpu = raw cpu", close_enough(q1(db, "SELECT sum(cpu_s) FROM job_day"),
						    q1(db, "SELECT sum(cpu_s) FROM runs")));
	CHECK("job_day failures", q1(db, "SELECT sum(failures) FROM job_day") == 5);
	CHECK("job_day oom", q1(db, "SELECT sum(oom_kills) FROM job_day") == 5);
	CHECK("job_day restarts", q1(db, "SELECT sum(restarts) FROM job_day") == 5);
	CHECK("job_day peak = raw max", q1(db, "SELECT max(peak_rss_bytes) FROM job_day") ==
					q1(db, "SELECT max(peak_rss_bytes) FROM runs"));
	CHECK("job_day last success per day",
	      q1(db, "SELECT count(*) FROM job_day j WHERE last_success_ns = (SELECT max(end_ns) FROM runs r"
		     " WHERE r.job = j.job AND r.outcome = 'success' AND r.end_ns / 86400000000000 = j.day)") ==
	      q1(db, "SELECT count(*) FROM job_day WHERE last_success_ns > 0"));
	CHECK("job_day queries", q1(db, "SELECT sum(queries) FROM job_day") == 5 * NRUNS * 11);
	CHECK("rows_unknown stored (db_stats, statements)",
	      q1(db, "SELECT count(*) FROM db_stats WHERE rows_unknown != 2") == 0 &&
	      q1(db, "SELECT sum(rows_unknown) FROM statements") ==
	      q1(db, "SELECT count(*) FROM statements WHERE fingerprint LIKE 'UPDATE%'") * 2 &&
	      q1(db, "SELECT sum(rows_unknown) FROM statements") > 0);
	CHECK("connections_unreadable stored; job_day sums the runs'",
	      q1(db, "SELECT sum(connections_unreadable) FROM db_stats WHERE owner_kind = 'run'") ==
	      q1(db, "SELECT sum(db_connections_unreadable) FROM job_day") &&
	      q1(db, "SELECT sum(db_connections_unreadable) FROM job_day") > 0);
	CHECK("statement_day rows_unknown = the runs' statements'",
	      q1(db, "SELECT sum(rows_unknown) FROM statement_day") ==
	      q1(db, "SELECT sum(s.rows_unknown) FROM statements s JOIN db_stats d ON d.id = s.db_stats_id"
		     " WHERE d.owner_kind = 'run'") &&
	      q1(db, "SELECT sum(rows_unknown) FROM statement_day") > 0);
	CHECK("job_day p95 x queries", close_enough(q1(db, "SELECT sum(query_p95_x_queries) FROM job_day"),
		q1(db, "SELECT sum(latency_p95_s * queries) FROM db_stats WHERE owner_kind = 'run'")));
	CHECK("statement_day calls", q1(db, "SELECT sum(calls) FROM statement_day") == 5 * NRUNS * 11);
	CHECK("dataset_day latest write",
	      q1(db, "SELECT max(last_write_ns) FROM dataset_day") == q1(db, "SELECT max(last_write_ns) FROM outputs"));
	CHECK("host_hour capacity", close_enough(q1(db, "SELECT sum(core_s) FROM host_hour"), 5 * 8 * 60.0));
	CHECK("host_hour attributed", close_enough(q1(db, "SELECT sum(attr_cpu_s) FROM host_hour"),
						   q1(db, "SELECT sum(cpu_s) FROM windows")));
	/* Merged query buckets: bucket 2 of a job-day = sum over its runs. */
	CHECK("query buckets: 64 x 8 bytes",
	      q1(db, "SELECT count(*) FROM job_day WHERE query_buckets IS NOT NULL AND"
		     " length(query_buckets) != 512") == 0);
	/* job-b's only run before midnight (run 1) sent no histogram. */
	CHECK("query buckets: NULL when no run sent any",
	      q1(db, "SELECT count(*) FROM job_day WHERE query_buckets IS NULL") == 1);
	for (int k = 0; k < 5; k++)
		CHECK("query buckets: merged sum = raw sum",
		      blob_sum(db, "SELECT query_buckets FROM job_day", k) ==
		      blob_sum(db, "SELECT latency_buckets FROM db_stats WHERE owner_kind = 'run'", k));
	CHECK("histogram counts = runs",
	      q1(db, "SELECT count(*) FROM job_day WHERE duration_hist IS NULL") == 0);
	/* Statement percentiles (migration 3) round-trip as sent. */
	CHECK_INT("statement percentiles as sent (agent-1)", check_pcts(db, "agent-1"), 3 * NRUNS * 2);
	CHECK_INT("statement percentiles as sent (agent-2)", check_pcts(db, "agent-2"), 2 * NRUNS * 2);
	CHECK("statement p95: NULL only where none or an invalid one was sent",
	      q1(db, "SELECT count(*) FROM statements WHERE latency_p95_s IS NULL") == 5 * 2 &&
	      q1(db, "SELECT count(*) FROM statements WHERE latency_p50_s IS NULL") == 5);
	CHECK("statement_day p95/p99 max = max of the raw statements", q1(db, stmt_day_max_wrong) == 0);
	CHECK("statement_day p95/p99 max recorded",
	      q1(db, "SELECT count(*) FROM statement_day WHERE latency_p95_s_max IS NULL"
		     " OR latency_p99_s_max IS NULL") == 0);
	sqlite3_close(db);
	db = NULL;

	/* Migration: a true version-1 database with the same raw rows. */
	CHECK_INT("sqlite open b", sqlite3_open(b_path, &db), SQLITE_OK);
	CHECK_INT("b: schema v1", sqlite3_exec(db, mig[0].sql, NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT("b: version 1", sqlite3_exec(db, "INSERT INTO schema_version VALUES (1)", NULL, NULL, NULL),
		  SQLITE_OK);
	CHECK_INT("b: copy raw rows", copy_raw_v1(db, a_path), SQLITE_OK);
	CHECK("b: no rollup yet", q1(db, "SELECT count(*) FROM sqlite_master WHERE name = 'job_day'") == 0);
	sqlite3_close(db);
	db = NULL;
	pl.n = 0;
	CHECK_INT("open v1 db", jm_coll_store_open_ex(b_path, &st, &info, &prog, err, sizeof(err)), 0);
	{
		/* Each migration announced when it starts, in order; reports
		 * while it runs (interval 0: at every progress tick) come
		 * after its announcement, with growing times. */
		int starts = 0, order_ok = 1;
		const char *cur = NULL;
		double last = 0;

		for (int i = 0; i < pl.n && i < PROG_MAX; i++) {
			if (pl.s[i] == 0) {
				const char *want[] = { "migrations/002_rollups.sql",
						       "migrations/003_statement_percentiles.sql",
						       "migrations/004_agent_hour.sql",
						       "migrations/005_rows_unknown.sql",
						       "migrations/006_connections_unreadable.sql" };
				order_ok &= starts < 5 && strcmp(pl.name[i], want[starts]) == 0;
				cur = pl.name[i];
				starts++;
				last = 0;
			} else {
				order_ok &= cur && strcmp(pl.name[i], cur) == 0 && pl.s[i] >= last;
				last = pl.s[i];
			}
		}
		CHECK_INT("v1 db: migrations 2..6 announced", starts, 5);
		CHECK("v1 db: progress in order, times growing", order_ok);
	}
	CHECK_INT("v1 db: version before", info.version_before, 1);
	CHECK_INT("v1 db: migrated to the latest", info.version_after, jm_coll_schema_latest());
	/* Still ingests after the migration, and sees the old seqs. */
	mk_batch(m, "agent-1", 4);
	CHECK_INT("migrated: old seq is duplicate", jm_coll_store_batch(st, &m->b, 7, &res), JM_STORE_DUPLICATE);
	jm_coll_store_close(st);
	st = NULL;

	CHECK_INT("sqlite reopen b", sqlite3_open(b_path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "ATTACH '%s' AS o", a_path);
	CHECK_INT("b: attach a again", sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	{
		static const char *const jd[] = { "runs", "successes", "failures", "restarts", "oom_kills",
			"processes", "cpu_s", "mem_gib_s", "peak_rss_bytes", "file_read_bytes",
			"file_write_bytes", "net_rx_bytes", "net_tx_bytes", "duration_s_sum", "last_success_ns",
			"queries", "query_errors", "query_latency_s_sum", "query_p95_x_queries", NULL };
		static const char *const sd[] = { "calls", "errors", "rows", "latency_s_sum", NULL };
		static const char *const dd[] = { "last_write_ns", NULL };
		static const char *const hh[] = { "core_s", "cpu_busy_s", "mem_gib_s", "mem_used_gib_s",
			"window_s", "attr_cpu_s", "attr_mem_gib_s", NULL };
		static const char *const ah[] = { "batches", "seq_gaps", "l0", "l1", "l2", "l3", "l4", "l5",
			"l6", "l7", NULL };

		CHECK("migration: job_day = ingest's", same_table(db, "job_day", "day, job", jd));
		CHECK("migration: histograms identical",
		      q1(db, "SELECT count(*) FROM main.job_day a JOIN o.job_day b USING (day, job)"
			     " WHERE a.duration_hist = b.duration_hist") ==
		      q1(db, "SELECT count(*) FROM main.job_day"));
		CHECK("migration: query histograms identical",
		      q1(db, "SELECT count(*) FROM main.job_day a JOIN o.job_day b USING (day, job)"
			     " WHERE a.query_buckets IS b.query_buckets") ==
		      q1(db, "SELECT count(*) FROM main.job_day"));
		CHECK("migration: statement_day = ingest's",
		      same_table(db, "statement_day", "day, job, fingerprint", sd));
		CHECK("migration: dataset_day = ingest's", same_table(db, "dataset_day", "day, kind, name", dd));
		CHECK("migration: dataset_day writer",
		      q1(db, "SELECT count(*) FROM main.dataset_day a JOIN o.dataset_day b USING (day, kind, name)"
			     " WHERE a.job = b.job") == q1(db, "SELECT count(*) FROM main.dataset_day"));
		CHECK("migration: host_hour = ingest's", same_table(db, "host_hour", "hour, host", hh));
		CHECK("migration: agent_hour = ingest's", same_table(db, "agent_hour", "hour, agent_id", ah));
		CHECK("migration: agent_hour hosts and batches",
		      q1(db, "SELECT count(*) FROM main.agent_hour a JOIN o.agent_hour b USING (hour, agent_id)"
			     " WHERE a.host = b.host") == q1(db, "SELECT count(*) FROM main.agent_hour") &&
		      q1(db, "SELECT sum(batches) FROM main.agent_hour") == q1(db, "SELECT count(*) FROM main.batches"));
		CHECK("migration: version-1 statements have unknown percentiles",
		      q1(db, "SELECT count(latency_p50_s) + count(latency_p95_s) + count(latency_p99_s)"
			     " FROM main.statements") == 0 &&
		      q1(db, "SELECT count(latency_p95_s_max) + count(latency_p99_s_max) FROM main.statement_day") == 0);
	}
	CHECK("migration: one version row, the latest",
	      q1(db, "SELECT group_concat(version) FROM schema_version") == jm_coll_schema_latest());
	/* A schema newer than this build is refused, with a clear reason. */
	CHECK_INT("bump version", sqlite3_exec(db, "UPDATE main.schema_version SET version = 99", NULL, NULL, NULL),
		  SQLITE_OK);
	sqlite3_close(db);
	db = NULL;
	CHECK_INT("newer schema refused", jm_coll_store_open(b_path, &st, &info, err, sizeof(err)), -1);
	CHECK("newer schema: reason", strstr(err, "newer than this collector") != NULL);

	test_v2_upgrade(dir, a_path, m, mig);
	test_progress_ticks(dir, mig);

	/* Not a database. */
	{
		char p[300];
		FILE *f;

		snprintf(p, sizeof(p), "%s/junk", dir);
		f = fopen(p, "w");
		fputs("this is not an sqlite database, only some text that is long enough", f);
		fclose(f);
		CHECK_INT("junk file refused", jm_coll_store_open(p, &st, &info, err, sizeof(err)), -1);
		CHECK("junk file: reason", strstr(err, "cannot open database") != NULL);
		unlink(p);
	}

	snprintf(sql, sizeof(sql), "rm -rf '%s'", dir);
	if (system(sql) != 0)
		printf("# could not remove %s\n", dir);
	free(m);
	TEST_EXIT();
}
