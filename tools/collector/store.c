/* SQLite storage of the collector: see store.h. */
#include "tools/collector/store.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "model.h"
#include "tools/collector/rollup_hist.h"
#include "tools/collector/schema.h"
#include "tools/collector/walbuf.h"

#define NS_PER_DAY  INT64_C(86400000000000)
#define NS_PER_HOUR INT64_C(3600000000000)
#define GIB         1073741824.0
/* A group of a few hundred batches changes a few thousand pages: 4 MiB
 * holds the WAL frames of a typical group commit. */
#define WALBUF_BYTES ((size_t)4 << 20)

/* Every statement the ingest path runs, prepared once at open. */
enum {
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO, Q_MAX_SEQ, Q_BATCH, Q_BATCH_WINDOW, Q_RUN, Q_WINDOW, Q_DB,
	Q_STMT, Q_OUTPUT, Q_HOST, Q_LOSS, Q_JOB_DAY, Q_STMT_DAY, Q_DATASET_DAY,
	Q_HOST_HOUR, Q_AGENT_HOUR, Q_SEQ_REPEAT, Q_SEQ_PRED, Q_SEQ_SUCC, Q_LOSS_PRED, Q_LOSS_SUCC,
	Q_HEALTH, Q_COUNT
};

/* The loss counters the report shows, in its order (jm_rep_loss_names);
 * payload_truncated is stored but is not a loss. */
#define LOSS_N 8
#define LOSS_COLS \
	"l.ringbuf_drops, l.map_full, l.payload_drops, l.parse_errors, l.statements_overflow," \
	" l.jobs_overflow, l.spool_dropped_batches, l.exits_synthesized"

static const char *const sql_text[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	/* One savepoint per batch of a group: a failing batch is undone
	 * alone, the others of the group stay in the transaction. */
	[Q_SAVEPOINT] = "SAVEPOINT jm_batch",
	[Q_RELEASE] = "RELEASE jm_batch",
	[Q_ROLLBACK_TO] = "ROLLBACK TO jm_batch",
	[Q_MAX_SEQ] = "SELECT max(seq) FROM batches WHERE agent_id = ?1",
	[Q_BATCH] =
		"INSERT INTO batches (agent_id, boot_id, seq, host, kernel, agent_version,"
		" window_start_ns, window_end_ns, received_ns)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
		" ON CONFLICT (agent_id, boot_id, seq) DO NOTHING",
	/* The window of the batch already stored under a key: a retry sends
	 * the same one, a reused seq another. */
	[Q_BATCH_WINDOW] =
		"SELECT window_start_ns, window_end_ns FROM batches"
		" WHERE agent_id = ?1 AND boot_id = ?2 AND seq = ?3",
	[Q_RUN] =
		"INSERT INTO runs (batch_id, host, job, run_id, start_ns, end_ns, outcome,"
		" exit_code, signal, oom_killed, restart, source, labels_json, processes, cpu_s,"
		" peak_rss_bytes, mem_gib_s, file_read_bytes, file_write_bytes, net_rx_bytes,"
		" net_tx_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
		" ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
	[Q_WINDOW] =
		"INSERT INTO windows (batch_id, host, job, run_id, start_ns, end_ns, processes,"
		" cpu_s, peak_rss_bytes, mem_gib_s, file_read_bytes, file_write_bytes,"
		" net_rx_bytes, net_tx_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
		" ?11, ?12, ?13, ?14)",
	[Q_DB] =
		"INSERT INTO db_stats (owner_kind, owner_id, job, end_ns, system, endpoint,"
		" queries, errors, rows, tx_bytes, rx_bytes, latency_s_sum, latency_p50_s,"
		" latency_p95_s, latency_p99_s, latency_buckets, statements_overflow, rows_unknown,"
		" connections_unreadable)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
		" ?18, ?19)",
	[Q_STMT] =
		"INSERT INTO statements (db_stats_id, fingerprint, calls, errors, rows,"
		" latency_s_sum, last_error, latency_p50_s, latency_p95_s, latency_p99_s, rows_unknown)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[Q_OUTPUT] =
		"INSERT INTO outputs (owner_kind, owner_id, job, kind, name, last_write_ns)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_HOST] =
		"INSERT INTO host_usage (batch_id, host, start_ns, end_ns, cpu_cores, cpu_busy_s,"
		" mem_total_bytes, mem_used_bytes, window_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[Q_LOSS] =
		"INSERT INTO loss (batch_id, ringbuf_drops, map_full, payload_drops,"
		" payload_truncated, parse_errors, statements_overflow, jobs_overflow,"
		" spool_dropped_batches, exits_synthesized)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	/* Rollups: the same arithmetic as the backfill of migration 2, so a
	 * migrated database and a freshly ingested one hold the same sums. */
	[Q_JOB_DAY] =
		"INSERT INTO job_day (day, job, runs, successes, failures, restarts, oom_kills,"
		" processes, cpu_s, mem_gib_s, peak_rss_bytes, file_read_bytes, file_write_bytes,"
		" net_rx_bytes, net_tx_bytes, duration_s_sum, duration_hist, last_success_ns,"
		" queries, query_errors, query_latency_s_sum, query_p95_x_queries, query_buckets,"
		" db_connections_unreadable)"
		" VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
		" jm_dhist_one(?15), ?16, ?17, ?18, ?19, ?20, ?21, ?22)"
		" ON CONFLICT (day, job) DO UPDATE SET runs = runs + 1,"
		" successes = successes + excluded.successes,"
		" failures = failures + excluded.failures,"
		" restarts = restarts + excluded.restarts,"
		" oom_kills = oom_kills + excluded.oom_kills,"
		" processes = processes + excluded.processes,"
		" cpu_s = cpu_s + excluded.cpu_s,"
		" mem_gib_s = mem_gib_s + excluded.mem_gib_s,"
		" peak_rss_bytes = max(peak_rss_bytes, excluded.peak_rss_bytes),"
		" file_read_bytes = file_read_bytes + excluded.file_read_bytes,"
		" file_write_bytes = file_write_bytes + excluded.file_write_bytes,"
		" net_rx_bytes = net_rx_bytes + excluded.net_rx_bytes,"
		" net_tx_bytes = net_tx_bytes + excluded.net_tx_bytes,"
		" duration_s_sum = duration_s_sum + excluded.duration_s_sum,"
		" duration_hist = jm_dhist_merge(duration_hist, excluded.duration_hist),"
		" last_success_ns = max(last_success_ns, excluded.last_success_ns),"
		" queries = queries + excluded.queries,"
		" query_errors = query_errors + excluded.query_errors,"
		" query_latency_s_sum = query_latency_s_sum + excluded.query_latency_s_sum,"
		" query_p95_x_queries = query_p95_x_queries + excluded.query_p95_x_queries,"
		" query_buckets = jm_qhist_merge(query_buckets, excluded.query_buckets),"
		" db_connections_unreadable = db_connections_unreadable + excluded.db_connections_unreadable",
	/* Percentiles cannot be summed: the day keeps the highest per-run
	 * p95/p99, an upper bound of the day's (migration 3 explains why).
	 * Scalar max() is NULL when either side is, hence the coalesce: a
	 * run without the figure leaves the day's maximum as it was. */
	[Q_STMT_DAY] =
		"INSERT INTO statement_day (day, job, fingerprint, calls, errors, rows, latency_s_sum,"
		" latency_p95_s_max, latency_p99_s_max, rows_unknown)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
		" ON CONFLICT (day, job, fingerprint) DO UPDATE SET calls = calls + excluded.calls,"
		" errors = errors + excluded.errors, rows = rows + excluded.rows,"
		" rows_unknown = rows_unknown + excluded.rows_unknown,"
		" latency_s_sum = latency_s_sum + excluded.latency_s_sum,"
		" latency_p95_s_max = coalesce(max(latency_p95_s_max, excluded.latency_p95_s_max),"
		" latency_p95_s_max, excluded.latency_p95_s_max),"
		" latency_p99_s_max = coalesce(max(latency_p99_s_max, excluded.latency_p99_s_max),"
		" latency_p99_s_max, excluded.latency_p99_s_max)",
	/* SET expressions see the old row, so job is chosen before
	 * last_write_ns moves. */
	[Q_DATASET_DAY] =
		"INSERT INTO dataset_day (day, kind, name, job, last_write_ns)"
		" VALUES (?1, ?2, ?3, ?4, ?5)"
		" ON CONFLICT (day, kind, name) DO UPDATE SET"
		" job = CASE WHEN excluded.last_write_ns >= last_write_ns THEN excluded.job ELSE job END,"
		" last_write_ns = max(last_write_ns, excluded.last_write_ns)",
	[Q_HOST_HOUR] =
		"INSERT INTO host_hour (hour, host, core_s, cpu_busy_s, mem_gib_s, mem_used_gib_s,"
		" window_s, attr_cpu_s, attr_mem_gib_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
		" ON CONFLICT (hour, host) DO UPDATE SET core_s = core_s + excluded.core_s,"
		" cpu_busy_s = cpu_busy_s + excluded.cpu_busy_s,"
		" mem_gib_s = mem_gib_s + excluded.mem_gib_s,"
		" mem_used_gib_s = mem_used_gib_s + excluded.mem_used_gib_s,"
		" window_s = window_s + excluded.window_s,"
		" attr_cpu_s = attr_cpu_s + excluded.attr_cpu_s,"
		" attr_mem_gib_s = attr_mem_gib_s + excluded.attr_mem_gib_s",
	/* Data completeness (migration 4 defines what a batch contributes).
	 * Also called with the difference a new batch makes to the one after
	 * it: batches 0, host '' (its row holds its host already). */
	[Q_AGENT_HOUR] =
		"INSERT INTO agent_hour (hour, agent_id, batches, host, seq_gaps, l0, l1, l2, l3,"
		" l4, l5, l6, l7) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
		" ON CONFLICT (hour, agent_id) DO UPDATE SET batches = batches + excluded.batches,"
		" host = max(host, excluded.host), seq_gaps = seq_gaps + excluded.seq_gaps,"
		" l0 = l0 + excluded.l0, l1 = l1 + excluded.l1, l2 = l2 + excluded.l2,"
		" l3 = l3 + excluded.l3, l4 = l4 + excluded.l4, l5 = l5 + excluded.l5,"
		" l6 = l6 + excluded.l6, l7 = l7 + excluded.l7",
	/* The lookups below go through batches_agent_seq and the
	 * (agent_id, boot_id, seq) key; only a batch stored below the agent's
	 * highest seq (a spool replayed late) needs more than Q_LOSS_PRED. */
	[Q_SEQ_REPEAT] = "SELECT 1 FROM batches WHERE agent_id = ?1 AND seq = ?2 AND id < ?3 LIMIT 1",
	[Q_SEQ_PRED] = "SELECT max(seq) FROM batches WHERE agent_id = ?1 AND seq < ?2",
	/* The next seq's first-stored batch: the one holding that seq's gap. */
	[Q_SEQ_SUCC] =
		"SELECT seq, window_end_ns FROM batches WHERE agent_id = ?1 AND seq > ?2"
		" ORDER BY seq, id LIMIT 1",
	[Q_LOSS_PRED] =
		"SELECT " LOSS_COLS ", x.window_end_ns FROM batches x JOIN loss l ON l.batch_id = x.id"
		" WHERE x.agent_id = ?1 AND x.boot_id = ?2 AND x.seq < ?3 ORDER BY x.seq DESC LIMIT 1",
	[Q_LOSS_SUCC] =
		"SELECT " LOSS_COLS ", x.window_end_ns FROM batches x JOIN loss l ON l.batch_id = x.id"
		" WHERE x.agent_id = ?1 AND x.boot_id = ?2 AND x.seq > ?3 ORDER BY x.seq LIMIT 1",
	[Q_HEALTH] = "SELECT max(version) FROM schema_version",
};

struct jm_coll_store {
	pthread_mutex_t lock;   /* one writer: serialises every use of db */
	sqlite3 *db;
	sqlite3_stmt *q[Q_COUNT];
	struct jm_coll_walbuf *walbuf;   /* the VFS db was opened with */
	char *path;
	dev_t dev;              /* identity of the file opened, to notice */
	ino_t ino;              /* it being deleted or replaced under us */
};

/* ---- run-duration histogram SQL functions --------------------------- */

static void fn_dhist_one(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint8_t out[JM_DHIST_REC];
	uint64_t counts[JM_DHIST_BUCKETS] = { 0 };
	size_t n;

	(void)argc;
	counts[jm_dhist_index(sqlite3_value_double(argv[0]))] = 1;
	n = jm_dhist_encode(counts, out);
	sqlite3_result_blob(ctx, out, (int)n, SQLITE_TRANSIENT);
}

static void fn_dhist_merge(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint64_t counts[JM_DHIST_BUCKETS] = { 0 };
	uint8_t out[JM_DHIST_BLOB_MAX];
	size_t n;

	for (int i = 0; i < argc; i++) {
		const void *p = sqlite3_value_blob(argv[i]);
		int len = sqlite3_value_bytes(argv[i]);

		if (p && len > 0)
			jm_dhist_decode_add(p, (size_t)len, counts);
	}
	n = jm_dhist_encode(counts, out);
	sqlite3_result_blob(ctx, out, (int)n, SQLITE_TRANSIENT);
}

static void fn_dhist_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint64_t *counts = sqlite3_aggregate_context(ctx, sizeof(uint64_t) * JM_DHIST_BUCKETS);

	(void)argc;
	if (!counts) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (sqlite3_value_type(argv[0]) != SQLITE_NULL)
		counts[jm_dhist_index(sqlite3_value_double(argv[0]))]++;
}

static void fn_dhist_final(sqlite3_context *ctx)
{
	uint64_t *counts = sqlite3_aggregate_context(ctx, 0);
	uint8_t out[JM_DHIST_BLOB_MAX];
	size_t n;

	if (!counts) {
		sqlite3_result_null(ctx);
		return;
	}
	n = jm_dhist_encode(counts, out);
	sqlite3_result_blob(ctx, out, (int)n, SQLITE_TRANSIENT);
}

/* ---- query latency histogram sums (db_stats.latency_buckets format) --- */

#define QHIST_BYTES (JM_HIST_BUCKETS * 8)

/* Add a little-endian uint64 bucket blob (possibly shorter) into sum[];
 * saturating, like the agent's jm_hist_merge. */
static void qhist_add(uint64_t sum[JM_HIST_BUCKETS], const uint8_t *p, int len)
{
	for (int i = 0; i < JM_HIST_BUCKETS && (i + 1) * 8 <= len; i++) {
		uint64_t v = 0;

		for (int k = 7; k >= 0; k--)
			v = (v << 8) | p[i * 8 + k];
		sum[i] = v > UINT64_MAX - sum[i] ? UINT64_MAX : sum[i] + v;
	}
}

static void qhist_result(sqlite3_context *ctx, const uint64_t sum[JM_HIST_BUCKETS])
{
	uint8_t out[QHIST_BYTES];

	for (int i = 0; i < JM_HIST_BUCKETS; i++)
		for (int k = 0; k < 8; k++)
			out[i * 8 + k] = (uint8_t)(sum[i] >> (8 * k));
	sqlite3_result_blob(ctx, out, QHIST_BYTES, SQLITE_TRANSIENT);
}

static void fn_qhist_merge(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint64_t sum[JM_HIST_BUCKETS] = { 0 };
	bool any = false;

	for (int i = 0; i < argc; i++) {
		if (sqlite3_value_type(argv[i]) != SQLITE_BLOB)
			continue;
		qhist_add(sum, sqlite3_value_blob(argv[i]), sqlite3_value_bytes(argv[i]));
		any = true;
	}
	if (any)
		qhist_result(ctx, sum);
	else
		sqlite3_result_null(ctx);
}

struct qhist_agg {
	uint64_t sum[JM_HIST_BUCKETS];
	bool any;
};

static void fn_qhist_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct qhist_agg *a = sqlite3_aggregate_context(ctx, sizeof(*a));

	(void)argc;
	if (!a) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	if (sqlite3_value_type(argv[0]) != SQLITE_BLOB)
		return;
	qhist_add(a->sum, sqlite3_value_blob(argv[0]), sqlite3_value_bytes(argv[0]));
	a->any = true;
}

static void fn_qhist_final(sqlite3_context *ctx)
{
	struct qhist_agg *a = sqlite3_aggregate_context(ctx, 0);

	if (a && a->any)
		qhist_result(ctx, a->sum);
	else
		sqlite3_result_null(ctx);
}

int jm_coll_store_register_functions(void *handle)
{
	sqlite3 *db = handle;
	int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;

	if (sqlite3_create_function(db, "jm_dhist_one", 1, flags, NULL, fn_dhist_one, NULL, NULL) ||
	    sqlite3_create_function(db, "jm_dhist_merge", 2, flags, NULL, fn_dhist_merge, NULL, NULL) ||
	    sqlite3_create_function(db, "jm_dhist_agg", 1, flags, NULL, NULL, fn_dhist_step,
				    fn_dhist_final) ||
	    sqlite3_create_function(db, "jm_qhist_merge", 2, flags, NULL, fn_qhist_merge, NULL, NULL) ||
	    sqlite3_create_function(db, "jm_qhist_agg", 1, flags, NULL, NULL, fn_qhist_step,
				    fn_qhist_final))
		return -1;
	return 0;
}

/* ---- open / migrate -------------------------------------------------- */

static int current_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*version = 0;
	rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
				" AND name = 'schema_version'", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return -1;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		return -1;
	}
	if (sqlite3_column_int(s, 0) == 0) {
		sqlite3_finalize(s);
		return 0;
	}
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &s,
			       NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Progress of the migration that is running (sqlite3_progress_handler). */
struct mig_progress {
	const struct jm_coll_store_progress *p;
	const char *name;
	struct timespec t0;
	double next_s;
};

static double since_s(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int mig_tick(void *arg)
{
	struct mig_progress *mp = arg;
	double s = since_s(&mp->t0);

	if (s >= mp->next_s) {
		mp->p->fn(mp->p->ctx, mp->name, s);
		mp->next_s = s + mp->p->interval_s;
	}
	return 0;                          /* never interrupts */
}

/* Apply one migration and record its version in the same transaction, so a
 * crash leaves either the old or the new schema, never half of one.  With
 * progress (mp), it is told of every interval while the SQL runs. */
static int apply_migration(sqlite3 *db, const struct jm_coll_migration *m, struct mig_progress *mp,
			   char *err, size_t err_len)
{
	char *msg = NULL, setv[96];
	int rc;

	snprintf(setv, sizeof(setv),
		 "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d);", m->version);
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
	if (rc == SQLITE_OK && mp) {
		mp->name = m->name;
		clock_gettime(CLOCK_MONOTONIC, &mp->t0);
		mp->next_s = mp->p->interval_s;
		/* every 10,000 VM steps (~0.1 ms): the clock read is noise */
		sqlite3_progress_handler(db, 10000, mig_tick, mp);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, m->sql, NULL, NULL, &msg);
	sqlite3_progress_handler(db, 0, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, setv, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, err_len, "migration %s failed: %s", m->name, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

static int migrate(sqlite3 *db, struct jm_coll_store_open_info *info,
		   const struct jm_coll_store_progress *progress, char *err, size_t err_len)
{
	const struct jm_coll_migration *m;
	struct mig_progress mp = { .p = progress };
	size_t n;
	int v;

	if (current_version(db, &v)) {
		snprintf(err, err_len, "cannot read schema version: %s", sqlite3_errmsg(db));
		return -1;
	}
	info->version_before = v;
	if (v > jm_coll_schema_latest()) {
		snprintf(err, err_len, "database schema version %d is newer than this collector (%d)",
			 v, jm_coll_schema_latest());
		return -1;
	}
	m = jm_coll_schema_migrations(&n);
	for (size_t i = 0; i < n; i++) {
		if (m[i].version <= v)
			continue;
		/* A new database has nothing to backfill: no word of it. */
		bool tell = progress && progress->fn && info->version_before > 0;
		if (tell)
			progress->fn(progress->ctx, m[i].name, 0);
		if (apply_migration(db, &m[i], tell ? &mp : NULL, err, err_len))
			return -1;
		v = m[i].version;
	}
	info->version_after = v;
	return 0;
}

/* Run a pragma; with `want`, one result row must equal it (journal_mode
 * answers the mode it actually got). */
static int exec_pragma(sqlite3 *db, const char *sql, const char *want, char *err, size_t err_len)
{
	sqlite3_stmt *s = NULL;
	int ok = 0, rc;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(s, 0);

		if (want && v && strcmp((const char *)v, want) == 0)
			ok = 1;
	}
	if (rc != SQLITE_DONE)
		ok = 0;
	else if (!want)
		ok = 1;
out:
	if (!ok)
		snprintf(err, err_len, "%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(s);
	return ok ? 0 : -1;
}

void jm_coll_store_close(struct jm_coll_store *st)
{
	if (!st)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(st->q[i]);
	sqlite3_close(st->db);
	jm_coll_walbuf_free(st->walbuf);
	pthread_mutex_destroy(&st->lock);
	free(st->path);
	free(st);
}

int jm_coll_store_open(const char *path, struct jm_coll_store **out,
		       struct jm_coll_store_open_info *info, char *err, size_t err_len)
{
	return jm_coll_store_open_ex(path, out, info, NULL, err, err_len);
}

int jm_coll_store_open_ex(const char *path, struct jm_coll_store **out,
			  struct jm_coll_store_open_info *info,
			  const struct jm_coll_store_progress *progress, char *err, size_t err_len)
{
	struct jm_coll_store *st;
	int rc;

	*out = NULL;
	memset(info, 0, sizeof(*info));
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	if (pthread_mutex_init(&st->lock, NULL)) {
		free(st);
		snprintf(err, err_len, "mutex init failed");
		return -1;
	}
	/* WAL appends coalesced into one write per commit (walbuf.h); only
	 * sound with synchronous=FULL, set below before anything is written. */
	st->walbuf = jm_coll_walbuf_new(WALBUF_BYTES);
	if (!st->walbuf) {
		snprintf(err, err_len, "cannot open database %s: cannot register the WAL buffer VFS", path);
		goto fail;
	}
	/* NOMUTEX: st->lock already serialises the connection. */
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, jm_coll_walbuf_name(st->walbuf));
	if (rc != SQLITE_OK) {
		snprintf(err, err_len, "cannot open database %s: %s", path,
			 st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	/* The busy timeout covers another process (a report, sqlite3 shell,
	 * a second collector) holding the write lock for a moment. */
	sqlite3_busy_timeout(st->db, 5000);
	/* synchronous=FULL first: every commit syncs the WAL before it is
	 * acknowledged, and the WAL buffer relies on that sync.  Switching
	 * to WAL reads the header: "not a database" is caught there. */
	if (exec_pragma(st->db, "PRAGMA synchronous=FULL", NULL, err, err_len) ||
	    exec_pragma(st->db, "PRAGMA journal_mode=WAL", "wal", err, err_len) ||
	    /* Savepoint journals (one savepoint per batch of a group) in
	     * memory: as temporary files they cost a pwrite per changed
	     * page and an open/unlink per transaction. */
	    exec_pragma(st->db, "PRAGMA temp_store=MEMORY", NULL, err, err_len) ||
	    /* 64 MiB of page cache (default 2 MiB): the index and rollup
	     * pages every batch touches stay in memory instead of being
	     * read back with a pread each. */
	    exec_pragma(st->db, "PRAGMA cache_size=-65536", NULL, err, err_len) ||
	    /* Checkpoint every 64 MiB of WAL rather than 4 MiB: the pages
	     * every group rewrites (index leaves, rollups) are copied into
	     * the database once per checkpoint, so fewer checkpoints copy
	     * less; the WAL is cut back to 64 MiB after one. */
	    exec_pragma(st->db, "PRAGMA wal_autocheckpoint=16384", NULL, err, err_len) ||
	    exec_pragma(st->db, "PRAGMA journal_size_limit=67108864", NULL, err, err_len)) {
		char tmp[256];

		snprintf(tmp, sizeof(tmp), "cannot open database %s: %s", path, err);
		snprintf(err, err_len, "%s", tmp);
		goto fail;
	}
	if (jm_coll_store_register_functions(st->db)) {
		snprintf(err, err_len, "cannot register SQL functions: %s", sqlite3_errmsg(st->db));
		goto fail;
	}
	if (migrate(st->db, info, progress, err, err_len))
		goto fail;
	for (int i = 0; i < Q_COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &st->q[i],
				       NULL) != SQLITE_OK) {
			snprintf(err, err_len, "cannot prepare statement %d: %s", i, sqlite3_errmsg(st->db));
			goto fail;
		}
	}
	{
		struct stat sb;

		if (stat(path, &sb) || !(st->path = strdup(path))) {
			snprintf(err, err_len, "cannot stat %s", path);
			goto fail;
		}
		st->dev = sb.st_dev;
		st->ino = sb.st_ino;
	}
	*out = st;
	return 0;
fail:
	jm_coll_store_close(st);
	return -1;
}

/* A database file deleted or replaced while open keeps working on the old
 * inode: every batch "stored" after that would vanish at restart.  Checked
 * before each write and by the health check. */
static bool file_still_ours(const struct jm_coll_store *st)
{
	struct stat sb;

	return stat(st->path, &sb) == 0 && sb.st_dev == st->dev && sb.st_ino == st->ino;
}

/* ---- ingest ---------------------------------------------------------- */

/* Growable string for labels_json. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_json_str(struct sbuf *b, const char *s)
{
	sb_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			sb_put(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			sb_put(b, esc, 6);
		} else {
			sb_put(b, s, 1);
		}
	}
	sb_put(b, "\"", 1);
}

static int labels_json(const Jobmeter__V1__JobRun *r, struct sbuf *b)
{
	b->len = 0;
	sb_put(b, "{", 1);
	for (size_t i = 0; i < r->n_labels; i++) {
		if (i)
			sb_put(b, ",", 1);
		sb_json_str(b, r->labels[i]->key);
		sb_put(b, ":", 1);
		sb_json_str(b, r->labels[i]->value);
	}
	sb_put(b, "}", 1);
	return b->oom ? -1 : 0;
}

/* Step a fully bound INSERT/UPDATE; resets it for the next use. */
static int step_done(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

static void bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
	sqlite3_bind_int64(s, i, (sqlite3_int64)v);   /* validated <= INT64_MAX */
}

static const Jobmeter__V1__Counters zero_counters = JOBMETER__V1__COUNTERS__INIT;

/* A statement's latency percentile as stored: NULL when unknown.  proto3
 * cannot tell a 0 from "not sent", and the agent sends three zeros only for
 * a statement with no timed call (empty histogram), so all three 0 is
 * unknown -- like every row stored before migration 3.  ingest.c does not
 * vet these fields: a value that is not a finite number >= 0 is stored as
 * NULL rather than bouncing a whole batch over a figure that is only shown. */
static void bind_pct(sqlite3_stmt *s, int i, const Jobmeter__V1__StatementStats *x, double v)
{
	bool sent = x->latency_p50_s != 0 || x->latency_p95_s != 0 || x->latency_p99_s != 0;

	if (sent && isfinite(v) && v >= 0)
		sqlite3_bind_double(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

static int store_db_stats(struct jm_coll_store *st, const char *kind, sqlite3_int64 owner,
			  const char *job, int64_t end_ns, size_t n, Jobmeter__V1__DbStats *const *db)
{
	int rc;

	for (size_t i = 0; i < n; i++) {
		const Jobmeter__V1__DbStats *d = db[i];
		sqlite3_stmt *s = st->q[Q_DB];
		sqlite3_int64 id;
		uint8_t blob[8 * JM_HIST_BUCKETS];

		bind_text(s, 1, kind);
		sqlite3_bind_int64(s, 2, owner);
		bind_text(s, 3, job);
		sqlite3_bind_int64(s, 4, end_ns);
		bind_text(s, 5, d->system);
		bind_text(s, 6, d->endpoint);
		bind_u64(s, 7, d->queries);
		bind_u64(s, 8, d->errors);
		bind_u64(s, 9, d->rows);
		bind_u64(s, 10, d->tx_bytes);
		bind_u64(s, 11, d->rx_bytes);
		sqlite3_bind_double(s, 12, d->latency_s_sum);
		sqlite3_bind_double(s, 13, d->latency_p50_s);
		sqlite3_bind_double(s, 14, d->latency_p95_s);
		sqlite3_bind_double(s, 15, d->latency_p99_s);
		if (d->n_latency_buckets && d->n_latency_buckets <= sizeof(blob) / 8) {
			/* Schema: JM_HIST_BUCKETS little-endian uint64. */
			for (size_t k = 0; k < d->n_latency_buckets; k++)
				for (int byte = 0; byte < 8; byte++)
					blob[k * 8 + (size_t)byte] = (uint8_t)(d->latency_buckets[k] >> (8 * byte));
			sqlite3_bind_blob(s, 16, blob, (int)(d->n_latency_buckets * 8), SQLITE_TRANSIENT);
		} else {
			sqlite3_bind_null(s, 16);
		}
		bind_u64(s, 17, d->statements_overflow);
		bind_u64(s, 18, d->rows_unknown);
		bind_u64(s, 19, d->connections_unreadable);
		if ((rc = step_done(s)) != SQLITE_OK)
			return rc;
		id = sqlite3_last_insert_rowid(st->db);
		for (size_t k = 0; k < d->n_statements; k++) {
			const Jobmeter__V1__StatementStats *x = d->statements[k];

			s = st->q[Q_STMT];
			sqlite3_bind_int64(s, 1, id);
			bind_text(s, 2, x->fingerprint);
			bind_u64(s, 3, x->calls);
			bind_u64(s, 4, x->errors);
			bind_u64(s, 5, x->rows);
			sqlite3_bind_double(s, 6, x->latency_s_sum);
			bind_text(s, 7, x->last_error);
			bind_pct(s, 8, x, x->latency_p50_s);
			bind_pct(s, 9, x, x->latency_p95_s);
			bind_pct(s, 10, x, x->latency_p99_s);
			bind_u64(s, 11, x->rows_unknown);
			if ((rc = step_done(s)) != SQLITE_OK)
				return rc;
			/* Only run-owned statements roll up: windows are the
			 * same queries again, as deltas. */
			if (strcmp(kind, "run") != 0)
				continue;
			s = st->q[Q_STMT_DAY];
			sqlite3_bind_int64(s, 1, end_ns / NS_PER_DAY);
			bind_text(s, 2, job);
			bind_text(s, 3, x->fingerprint);
			bind_u64(s, 4, x->calls);
			bind_u64(s, 5, x->errors);
			bind_u64(s, 6, x->rows);
			sqlite3_bind_double(s, 7, x->latency_s_sum);
			bind_pct(s, 8, x, x->latency_p95_s);
			bind_pct(s, 9, x, x->latency_p99_s);
			bind_u64(s, 10, x->rows_unknown);
			if ((rc = step_done(s)) != SQLITE_OK)
				return rc;
		}
	}
	return SQLITE_OK;
}

static int store_outputs(struct jm_coll_store *st, const char *kind, sqlite3_int64 owner,
			 const char *job, size_t n, Jobmeter__V1__OutputWrite *const *o)
{
	int rc;

	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *s = st->q[Q_OUTPUT];

		bind_text(s, 1, kind);
		sqlite3_bind_int64(s, 2, owner);
		bind_text(s, 3, job);
		bind_text(s, 4, o[i]->kind);
		bind_text(s, 5, o[i]->name);
		sqlite3_bind_int64(s, 6, o[i]->last_write_unix_ns);
		if ((rc = step_done(s)) != SQLITE_OK)
			return rc;
		if (o[i]->last_write_unix_ns <= 0)
			continue;
		s = st->q[Q_DATASET_DAY];
		sqlite3_bind_int64(s, 1, o[i]->last_write_unix_ns / NS_PER_DAY);
		bind_text(s, 2, o[i]->kind);
		bind_text(s, 3, o[i]->name);
		bind_text(s, 4, job);
		sqlite3_bind_int64(s, 5, o[i]->last_write_unix_ns);
		if ((rc = step_done(s)) != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int host_hour_add(struct jm_coll_store *st, int64_t end_ns, const char *host, double core_s,
			 double busy, double mem, double used, double ws, double acpu, double amem)
{
	sqlite3_stmt *s = st->q[Q_HOST_HOUR];

	sqlite3_bind_int64(s, 1, end_ns / NS_PER_HOUR);
	bind_text(s, 2, host);
	sqlite3_bind_double(s, 3, core_s);
	sqlite3_bind_double(s, 4, busy);
	sqlite3_bind_double(s, 5, mem);
	sqlite3_bind_double(s, 6, used);
	sqlite3_bind_double(s, 7, ws);
	sqlite3_bind_double(s, 8, acpu);
	sqlite3_bind_double(s, 9, amem);
	return step_done(s);
}

static int store_run(struct jm_coll_store *st, sqlite3_int64 batch_id, const char *host,
		     const Jobmeter__V1__JobRun *r, struct sbuf *sb)
{
	const Jobmeter__V1__Counters *c = r->counters ? r->counters : &zero_counters;
	sqlite3_stmt *s = st->q[Q_RUN];
	const char *outcome = r->outcome == JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS ? "success"
			      : r->outcome == JOBMETER__V1__OUTCOME__OUTCOME_FAILURE ? "failure"
			      : "unknown";
	uint64_t queries = 0, qerrors = 0, unreadable = 0, qb[JM_HIST_BUCKETS] = { 0 };
	uint8_t qblob[QHIST_BYTES];
	bool has_buckets = false;
	double qlat = 0, qp95 = 0;
	sqlite3_int64 id;
	int rc;

	if (labels_json(r, sb))
		return SQLITE_NOMEM;
	sqlite3_bind_int64(s, 1, batch_id);
	bind_text(s, 2, host);
	bind_text(s, 3, r->job);
	bind_text(s, 4, r->run_id);
	sqlite3_bind_int64(s, 5, r->start_unix_ns);
	sqlite3_bind_int64(s, 6, r->end_unix_ns);
	bind_text(s, 7, outcome);
	sqlite3_bind_int(s, 8, r->exit_code);
	sqlite3_bind_int(s, 9, r->signal);
	sqlite3_bind_int(s, 10, r->oom_killed ? 1 : 0);
	sqlite3_bind_int(s, 11, r->restart ? 1 : 0);
	bind_text(s, 12, r->source);
	bind_text(s, 13, sb->p);
	bind_u64(s, 14, c->processes);
	sqlite3_bind_double(s, 15, c->cpu_s);
	bind_u64(s, 16, c->peak_rss_bytes);
	sqlite3_bind_double(s, 17, c->mem_gib_s);
	bind_u64(s, 18, c->file_read_bytes);
	bind_u64(s, 19, c->file_write_bytes);
	bind_u64(s, 20, c->net_rx_bytes);
	bind_u64(s, 21, c->net_tx_bytes);
	if ((rc = step_done(s)) != SQLITE_OK)
		return rc;
	id = sqlite3_last_insert_rowid(st->db);
	if ((rc = store_db_stats(st, "run", id, r->job, r->end_unix_ns, r->n_db, r->db)) != SQLITE_OK ||
	    (rc = store_outputs(st, "run", id, r->job, r->n_outputs, r->outputs)) != SQLITE_OK)
		return rc;
	for (size_t i = 0; i < r->n_db; i++) {
		/* Same order of additions as the backfill's per-run sum. */
		queries += r->db[i]->queries;
		qerrors += r->db[i]->errors;
		unreadable += r->db[i]->connections_unreadable;
		qlat += r->db[i]->latency_s_sum;
		qp95 += r->db[i]->latency_p95_s * (double)r->db[i]->queries;
		for (size_t k = 0; k < r->db[i]->n_latency_buckets && k < JM_HIST_BUCKETS; k++) {
			uint64_t v = r->db[i]->latency_buckets[k];

			qb[k] = v > UINT64_MAX - qb[k] ? UINT64_MAX : qb[k] + v;
			has_buckets = true;
		}
	}
	for (int i = 0; i < JM_HIST_BUCKETS; i++)
		for (int k = 0; k < 8; k++)
			qblob[i * 8 + k] = (uint8_t)(qb[i] >> (8 * k));
	s = st->q[Q_JOB_DAY];
	sqlite3_bind_int64(s, 1, r->end_unix_ns / NS_PER_DAY);
	bind_text(s, 2, r->job);
	sqlite3_bind_int(s, 3, r->outcome == JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS);
	sqlite3_bind_int(s, 4, r->outcome == JOBMETER__V1__OUTCOME__OUTCOME_FAILURE);
	sqlite3_bind_int(s, 5, r->restart ? 1 : 0);
	sqlite3_bind_int(s, 6, r->oom_killed ? 1 : 0);
	bind_u64(s, 7, c->processes);
	sqlite3_bind_double(s, 8, c->cpu_s);
	sqlite3_bind_double(s, 9, c->mem_gib_s);
	bind_u64(s, 10, c->peak_rss_bytes);
	bind_u64(s, 11, c->file_read_bytes);
	bind_u64(s, 12, c->file_write_bytes);
	bind_u64(s, 13, c->net_rx_bytes);
	bind_u64(s, 14, c->net_tx_bytes);
	sqlite3_bind_double(s, 15, (double)(r->end_unix_ns - r->start_unix_ns) / 1e9);
	sqlite3_bind_int64(s, 16, r->outcome == JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS ? r->end_unix_ns : 0);
	bind_u64(s, 17, queries);
	bind_u64(s, 18, qerrors);
	sqlite3_bind_double(s, 19, qlat);
	sqlite3_bind_double(s, 20, qp95);
	if (has_buckets)
		sqlite3_bind_blob(s, 21, qblob, QHIST_BYTES, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 21);
	bind_u64(s, 22, unreadable);
	return step_done(s);
}

/* Usage attributed to jobs, summed over consecutive windows of a batch
 * that end in the same hour, so that a batch of 50 windows makes one
 * host_hour upsert rather than 50 (half the statements of such a batch).
 * The sums differ from the backfill's row-by-row ones only by rounding. */
struct hour_acc {
	bool open;
	int64_t hour;
	double cpu_s, mem_gib_s;
};

static int hour_acc_flush(struct jm_coll_store *st, const char *host, struct hour_acc *acc)
{
	if (!acc->open)
		return SQLITE_OK;
	acc->open = false;
	return host_hour_add(st, acc->hour * NS_PER_HOUR, host, 0, 0, 0, 0, 0, acc->cpu_s, acc->mem_gib_s);
}

static int hour_acc_add(struct jm_coll_store *st, const char *host, struct hour_acc *acc,
			int64_t end_ns, double cpu_s, double mem_gib_s)
{
	int64_t hour = end_ns / NS_PER_HOUR;
	int rc;

	if (acc->open && acc->hour != hour && (rc = hour_acc_flush(st, host, acc)) != SQLITE_OK)
		return rc;
	if (!acc->open) {
		*acc = (struct hour_acc){ .open = true, .hour = hour };
	}
	acc->cpu_s += cpu_s;
	acc->mem_gib_s += mem_gib_s;
	return SQLITE_OK;
}

static int store_window(struct jm_coll_store *st, sqlite3_int64 batch_id, const char *host,
			const Jobmeter__V1__JobWindow *w, struct hour_acc *acc)
{
	const Jobmeter__V1__Counters *c = w->counters ? w->counters : &zero_counters;
	sqlite3_stmt *s = st->q[Q_WINDOW];
	sqlite3_int64 id;
	int rc;

	sqlite3_bind_int64(s, 1, batch_id);
	bind_text(s, 2, host);
	bind_text(s, 3, w->job);
	bind_text(s, 4, w->run_id);
	sqlite3_bind_int64(s, 5, w->start_unix_ns);
	sqlite3_bind_int64(s, 6, w->end_unix_ns);
	bind_u64(s, 7, c->processes);
	sqlite3_bind_double(s, 8, c->cpu_s);
	bind_u64(s, 9, c->peak_rss_bytes);
	sqlite3_bind_double(s, 10, c->mem_gib_s);
	bind_u64(s, 11, c->file_read_bytes);
	bind_u64(s, 12, c->file_write_bytes);
	bind_u64(s, 13, c->net_rx_bytes);
	bind_u64(s, 14, c->net_tx_bytes);
	if ((rc = step_done(s)) != SQLITE_OK)
		return rc;
	id = sqlite3_last_insert_rowid(st->db);
	if ((rc = store_db_stats(st, "window", id, w->job, w->end_unix_ns, w->n_db, w->db)) != SQLITE_OK ||
	    (rc = store_outputs(st, "window", id, w->job, w->n_outputs, w->outputs)) != SQLITE_OK)
		return rc;
	return hour_acc_add(st, host, acc, w->end_unix_ns, c->cpu_s, c->mem_gib_s);
}

static int store_host_loss(struct jm_coll_store *st, sqlite3_int64 batch_id, const char *host,
			   const Jobmeter__V1__Batch *b)
{
	const Jobmeter__V1__HostUsage *h = b->host;
	const Jobmeter__V1__LossCounters *l = b->loss;
	sqlite3_stmt *s;
	int rc;

	if (h) {
		s = st->q[Q_HOST];
		sqlite3_bind_int64(s, 1, batch_id);
		bind_text(s, 2, host);
		sqlite3_bind_int64(s, 3, b->window_start_unix_ns);
		sqlite3_bind_int64(s, 4, b->window_end_unix_ns);
		sqlite3_bind_int64(s, 5, h->cpu_cores);
		sqlite3_bind_double(s, 6, h->cpu_busy_s);
		bind_u64(s, 7, h->mem_total_bytes);
		bind_u64(s, 8, h->mem_used_bytes);
		sqlite3_bind_double(s, 9, h->window_s);
		if ((rc = step_done(s)) != SQLITE_OK)
			return rc;
		rc = host_hour_add(st, b->window_end_unix_ns, host, (double)h->cpu_cores * h->window_s,
				   h->cpu_busy_s, (double)h->mem_total_bytes / GIB * h->window_s,
				   (double)h->mem_used_bytes / GIB * h->window_s, h->window_s, 0, 0);
		if (rc != SQLITE_OK)
			return rc;
	}
	if (l) {
		s = st->q[Q_LOSS];
		sqlite3_bind_int64(s, 1, batch_id);
		bind_u64(s, 2, l->ringbuf_drops);
		bind_u64(s, 3, l->map_full);
		bind_u64(s, 4, l->payload_drops);
		bind_u64(s, 5, l->payload_truncated);
		bind_u64(s, 6, l->parse_errors);
		bind_u64(s, 7, l->statements_overflow);
		bind_u64(s, 8, l->jobs_overflow);
		bind_u64(s, 9, l->spool_dropped_batches);
		bind_u64(s, 10, l->exits_synthesized);
		if ((rc = step_done(s)) != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

/* ---- data completeness (agent_hour) ---------------------------------- */

/* A batch's loss counters as stored, or the nearest with some. */
struct loss_row {
	bool    ok;               /* found */
	int64_t v[LOSS_N];
	int64_t end_ns;           /* its window end: its hour */
};

static void loss_of(const Jobmeter__V1__LossCounters *l, int64_t v[LOSS_N])
{
	v[0] = (int64_t)l->ringbuf_drops;
	v[1] = (int64_t)l->map_full;
	v[2] = (int64_t)l->payload_drops;
	v[3] = (int64_t)l->parse_errors;
	v[4] = (int64_t)l->statements_overflow;
	v[5] = (int64_t)l->jobs_overflow;
	v[6] = (int64_t)l->spool_dropped_batches;
	v[7] = (int64_t)l->exits_synthesized;
}

/* The increase of a cumulative counter at value c since the previous
 * value p (ok: there is one); a lower c means the agent restarted. */
static int64_t loss_inc(bool ok, int64_t p, int64_t c)
{
	return c - (ok && p <= c ? p : 0);
}

/* Add to the (hour of end_ns, agent) row; l may be NULL (all 0).  Hours
 * by truncating division, as the backfill's SQL does. */
static int agent_hour_add(struct jm_coll_store *st, int64_t end_ns, const char *agent,
			  int64_t batches, const char *host, int64_t gaps, const int64_t *l)
{
	sqlite3_stmt *s = st->q[Q_AGENT_HOUR];

	sqlite3_bind_int64(s, 1, end_ns / NS_PER_HOUR);
	bind_text(s, 2, agent);
	sqlite3_bind_int64(s, 3, batches);
	bind_text(s, 4, host);
	sqlite3_bind_int64(s, 5, gaps);
	for (int i = 0; i < LOSS_N; i++)
		sqlite3_bind_int64(s, 6 + i, l ? l[i] : 0);
	return step_done(s);
}

static int loss_near(struct jm_coll_store *st, int q, const char *agent, const char *boot,
		     uint64_t seq, struct loss_row *out)
{
	sqlite3_stmt *s = st->q[q];
	int rc;

	memset(out, 0, sizeof(*out));
	bind_text(s, 1, agent);
	bind_text(s, 2, boot);
	bind_u64(s, 3, seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->ok = true;
		for (int i = 0; i < LOSS_N; i++)
			out->v[i] = sqlite3_column_int64(s, i);
		out->end_ns = sqlite3_column_int64(s, LOSS_N);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* One-row lookup bound with (agent, seq[, id]): *found, and columns 0 and 1
 * (NULL reads as not found). */
static int seq_lookup(struct jm_coll_store *st, int q, const char *agent, uint64_t seq,
		      sqlite3_int64 id, bool *found, int64_t *c0, int64_t *c1)
{
	sqlite3_stmt *s = st->q[q];
	int rc;

	*found = false;
	bind_text(s, 1, agent);
	bind_u64(s, 2, seq);
	if (sqlite3_bind_parameter_count(s) >= 3)
		sqlite3_bind_int64(s, 3, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*found = true;
		*c0 = sqlite3_column_int64(s, 0);
		if (c1 && sqlite3_column_count(s) > 1)
			*c1 = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* What the new batch b (row batch_id) contributes to agent_hour, and the
 * difference it makes to the next batch's contribution when it was stored
 * below the agent's highest seq (max_seq, if has_max) -- a late spool
 * replay.  Definitions: migration 4.  A batch in seq order costs one
 * lookup (its boot's previous loss counters). */
static int completeness_store(struct jm_coll_store *st, sqlite3_int64 batch_id,
			      const Jobmeter__V1__Batch *b, bool has_max, uint64_t max_seq)
{
	const char *agent = b->agent->agent_id, *boot = b->agent->boot_id;
	int64_t seq = (int64_t)b->seq, gap = 0, inc[LOSS_N] = { 0 };
	bool late = has_max && b->seq <= max_seq;
	int rc;

	if (has_max && !late) {
		gap = seq - (int64_t)max_seq - 1;
	} else if (late) {
		bool repeat, has_pred, has_succ;
		int64_t one, pred = 0, succ = 0, succ_end = 0;

		if ((rc = seq_lookup(st, Q_SEQ_REPEAT, agent, b->seq, batch_id, &repeat, &one, NULL)))
			return rc;
		if (!repeat) {             /* else the seq's gap is its first batch's */
			if ((rc = seq_lookup(st, Q_SEQ_PRED, agent, b->seq, 0, &has_pred, &pred, NULL)) ||
			    (rc = seq_lookup(st, Q_SEQ_SUCC, agent, b->seq, 0, &has_succ, &succ, &succ_end)))
				return rc;
			if (has_pred)
				gap = seq - pred - 1;
			if (has_succ) {
				int64_t d = (succ - seq - 1) - (has_pred ? succ - pred - 1 : 0);
				if (d && (rc = agent_hour_add(st, succ_end, agent, 0, "", d, NULL)))
					return rc;
			}
		}
	}
	if (b->loss) {
		struct loss_row p, n;
		int64_t v[LOSS_N], d[LOSS_N];
		bool any = false;

		loss_of(b->loss, v);
		if ((rc = loss_near(st, Q_LOSS_PRED, agent, boot, b->seq, &p)))
			return rc;
		for (int i = 0; i < LOSS_N; i++)
			inc[i] = loss_inc(p.ok, p.v[i], v[i]);
		if (late) {
			if ((rc = loss_near(st, Q_LOSS_SUCC, agent, boot, b->seq, &n)))
				return rc;
			for (int i = 0; n.ok && i < LOSS_N; i++) {
				d[i] = loss_inc(true, v[i], n.v[i]) - loss_inc(p.ok, p.v[i], n.v[i]);
				any |= d[i] != 0;
			}
			if (any && (rc = agent_hour_add(st, n.end_ns, agent, 0, "", 0, d)))
				return rc;
		}
	}
	return agent_hour_add(st, b->window_end_unix_ns, agent, 1, b->agent->host, gap, inc);
}

static enum jm_coll_store_rc classify(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_NOMEM:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
		return JM_STORE_RETRY;
	default:
		return JM_STORE_ERROR;
	}
}

/* The key of b is stored already: a true retry (same window) stays
 * JM_STORE_DUPLICATE; another window means the agent's seq restarted (a new
 * spool_dir, a deleted seq file) and b is a batch never stored:
 * res->rc = JM_STORE_CONFLICT with the reason.  Returns an SQLite code. */
static int same_batch(struct jm_coll_store *st, const Jobmeter__V1__Batch *b,
		      struct jm_coll_store_result *res)
{
	sqlite3_stmt *s = st->q[Q_BATCH_WINDOW];
	int rc;

	bind_text(s, 1, b->agent->agent_id);
	bind_text(s, 2, b->agent->boot_id);
	bind_u64(s, 3, b->seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		int64_t ws = sqlite3_column_int64(s, 0), we = sqlite3_column_int64(s, 1);

		if (ws != b->window_start_unix_ns || we != b->window_end_unix_ns) {
			res->rc = JM_STORE_CONFLICT;
			snprintf(res->err, sizeof(res->err),
				 "seq %llu of this agent and boot is stored already for another "
				 "window (%lld..%lld ns): the agent's seq restarted",
				 (unsigned long long)b->seq, (long long)ws, (long long)we);
		}
		rc = SQLITE_OK;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The body of the transaction; returns an SQLite code. */
static int store_locked(struct jm_coll_store *st, const Jobmeter__V1__Batch *b, int64_t received_ns,
			struct jm_coll_store_result *res, bool *dup)
{
	const Jobmeter__V1__AgentIdentity *a = b->agent;
	sqlite3_stmt *s = st->q[Q_MAX_SEQ];
	struct sbuf sb = { 0 };
	struct hour_acc acc = { .open = false };
	sqlite3_int64 batch_id;
	bool has_max = false;
	uint64_t prev = 0;
	int rc;

	bind_text(s, 1, a->agent_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		has_max = true;
		prev = (uint64_t)sqlite3_column_int64(s, 0);

		if (b->seq > prev + 1)
			res->seq_gap = b->seq - prev - 1;
		/* Reported with a conflict: the agent renumbers past it. */
		res->stored_max_seq = prev;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_ROW)
		return rc;

	s = st->q[Q_BATCH];
	bind_text(s, 1, a->agent_id);
	bind_text(s, 2, a->boot_id);
	bind_u64(s, 3, b->seq);
	bind_text(s, 4, a->host);
	bind_text(s, 5, a->kernel);
	bind_text(s, 6, a->version);
	sqlite3_bind_int64(s, 7, b->window_start_unix_ns);
	sqlite3_bind_int64(s, 8, b->window_end_unix_ns);
	sqlite3_bind_int64(s, 9, received_ns);
	if ((rc = step_done(s)) != SQLITE_OK)
		return rc;
	if (sqlite3_changes(st->db) == 0) {
		*dup = true;
		res->seq_gap = 0;
		return same_batch(st, b, res);
	}
	batch_id = sqlite3_last_insert_rowid(st->db);
	for (size_t i = 0; i < b->n_runs && rc == SQLITE_OK; i++)
		rc = store_run(st, batch_id, a->host, b->runs[i], &sb);
	for (size_t i = 0; i < b->n_windows && rc == SQLITE_OK; i++)
		rc = store_window(st, batch_id, a->host, b->windows[i], &acc);
	if (rc == SQLITE_OK)
		rc = hour_acc_flush(st, a->host, &acc);
	if (rc == SQLITE_OK)
		rc = store_host_loss(st, batch_id, a->host, b);
	if (rc == SQLITE_OK)
		rc = completeness_store(st, batch_id, b, has_max, prev);
	free(sb.p);
	return rc;
}

/* Record an SQLite failure in a result. */
static void set_failure(struct jm_coll_store_result *res, enum jm_coll_store_rc rc, int code,
			const char *msg)
{
	res->rc = rc;
	res->sqlite_code = code;
	res->seq_gap = 0;
	snprintf(res->err, sizeof(res->err), "%s", msg);
}

/* The failure of a batch's statements, into its result. */
static void batch_failure(struct jm_coll_store *st, struct jm_coll_store_result *res, int rc)
{
	int code = sqlite3_extended_errcode(st->db);

	/* Our own failures (labels_json out of memory) leave no error on
	 * the connection: report the code itself. */
	if ((code & 0xff) != (rc & 0xff))
		set_failure(res, classify(rc), rc, sqlite3_errstr(rc));
	else
		set_failure(res, classify(rc), code, sqlite3_errmsg(st->db));
}

/* One batch inside the open transaction.  With a savepoint, a batch whose
 * statements fail is rolled back alone; SQLITE_OK then means the
 * transaction is still usable and res says what became of the batch.
 * Without one, any failure is returned: the caller starts over. */
static int store_one_locked(struct jm_coll_store *st, struct jm_coll_store_item *it, bool savepoint)
{
	struct jm_coll_store_result *res = &it->res;
	bool dup = false;
	int rc;

	if (savepoint && (rc = step_done(st->q[Q_SAVEPOINT])) != SQLITE_OK)
		return rc;
	res->rc = JM_STORE_STORED;
	rc = store_locked(st, it->batch, it->received_ns, res, &dup);
	if (rc != SQLITE_OK)
		batch_failure(st, res, rc);
	else if (res->rc != JM_STORE_CONFLICT)
		res->rc = dup ? JM_STORE_DUPLICATE : JM_STORE_STORED;   /* until COMMIT */
	if (!savepoint)
		return rc;
	if (rc == SQLITE_OK && !dup)
		return step_done(st->q[Q_RELEASE]);
	/* Some errors (I/O, full disk, out of memory) may have rolled the
	 * whole transaction back already. */
	if (rc != SQLITE_OK && sqlite3_get_autocommit(st->db))
		return rc;
	/* A duplicate wrote nothing but its savepoint; a failed batch may
	 * have written half: undo either to where the batch began. */
	rc = step_done(st->q[Q_ROLLBACK_TO]);
	if (rc == SQLITE_OK)
		rc = step_done(st->q[Q_RELEASE]);
	return rc;
}

/* One attempt at the whole group: BEGIN, every batch, COMMIT.  *in_batch
 * tells whether a failure came from a batch (rather than BEGIN/COMMIT). */
static int group_locked(struct jm_coll_store *st, struct jm_coll_store_item *items, size_t n,
			bool savepoints, size_t *done, bool *in_batch)
{
	int rc;

	*done = 0;
	*in_batch = false;
	for (size_t i = 0; i < n; i++)
		memset(&items[i].res, 0, sizeof(items[i].res));
	rc = step_done(st->q[Q_BEGIN]);
	for (; rc == SQLITE_OK && *done < n; (*done)++)
		if ((rc = store_one_locked(st, &items[*done], savepoints)) != SQLITE_OK)
			*in_batch = true;
	if (rc == SQLITE_OK)
		rc = step_done(st->q[Q_COMMIT]);
	return rc;
}

/* Give up a failed transaction: a failed COMMIT (e.g. BUSY) leaves it
 * open; an I/O error may already have rolled it back. */
static void rollback_locked(struct jm_coll_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

int jm_coll_store_batches(struct jm_coll_store *st, struct jm_coll_store_item *items, size_t n)
{
	size_t done = 0;
	bool in_batch;
	char msg[160];
	int rc, code;

	if (n == 0)
		return 0;
	if (!file_still_ours(st)) {
		snprintf(msg, sizeof(msg), "database file %s was removed or replaced", st->path);
		for (size_t i = 0; i < n; i++)
			set_failure(&items[i].res, JM_STORE_RETRY, SQLITE_CANTOPEN, msg);
		return -1;
	}
	pthread_mutex_lock(&st->lock);
	/* Optimistic first: validated batches practically never fail, and a
	 * savepoint per batch costs about a tenth of the writer's time (each
	 * page a batch changes is first copied to the statement journal). */
	rc = group_locked(st, items, n, false, &done, &in_batch);
	if (rc != SQLITE_OK && in_batch) {
		/* One batch failed: start over with a savepoint per batch, so
		 * that it fails alone and the others are stored. */
		rollback_locked(st);
		rc = group_locked(st, items, n, true, &done, &in_batch);
	}
	if (rc == SQLITE_OK) {
		pthread_mutex_unlock(&st->lock);
		return 0;
	}
	code = sqlite3_extended_errcode(st->db);
	snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(st->db));
	rollback_locked(st);
	pthread_mutex_unlock(&st->lock);
	/* Nothing of the group is kept: every batch that had not failed on
	 * its own (stored or duplicate so far, or never reached) fails with
	 * the transaction -- a duplicate too, since the batch it duplicates
	 * may have been one of this group. */
	for (size_t i = 0; i < n; i++) {
		struct jm_coll_store_result *res = &items[i].res;

		if (i >= done || res->rc == JM_STORE_STORED || res->rc == JM_STORE_DUPLICATE ||
		    res->rc == JM_STORE_CONFLICT)
			set_failure(res, classify(rc), code, msg);
	}
	return -1;
}

enum jm_coll_store_rc jm_coll_store_batch(struct jm_coll_store *st, const Jobmeter__V1__Batch *b,
					  int64_t received_ns, struct jm_coll_store_result *res)
{
	struct jm_coll_store_item it = { .batch = b, .received_ns = received_ns };
	int committed = jm_coll_store_batches(st, &it, 1);

	/* The item's own result says everything, committed or not. */
	(void)committed;
	*res = it.res;
	return res->rc;
}

int jm_coll_store_healthy(struct jm_coll_store *st)
{
	sqlite3_stmt *s = st->q[Q_HEALTH];
	int rc;

	if (!file_still_ours(st))
		return -1;
	pthread_mutex_lock(&st->lock);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	pthread_mutex_unlock(&st->lock);
	return rc == SQLITE_ROW ? 0 : -1;
}
