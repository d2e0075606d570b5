-- jobmeter collector storage, migration 2: rollups and time indexes so that a
-- report over weeks reads a few thousand pre-summed rows instead of millions
-- of windows.  The collector keeps every rollup current inside the same
-- transaction that stores a batch (tools/collector/store.c); the INSERTs below
-- backfill them from a version-1 database.  Raw tables are unchanged: the
-- rollups are derived data and can always be rebuilt from them.
--
-- Bucketing is by the row's end time in UTC: day = end_ns / 86400e9,
-- hour = end_ns / 3600e9 (integer division).
-- jm_dhist_agg() and jm_qhist_agg() are aggregates the collector registers on
-- its connection: the run-duration histogram (encoding in
-- tools/collector/rollup_hist.h) and the bucket-wise sum of query latency
-- histograms (JM_HIST_BUCKETS little-endian uint64, as db_stats.latency_buckets;
-- bucket bounds in agent/histogram.h).

CREATE INDEX IF NOT EXISTS runs_end           ON runs (end_ns);
CREATE INDEX IF NOT EXISTS windows_end        ON windows (end_ns);
CREATE INDEX IF NOT EXISTS db_stats_kind_end  ON db_stats (owner_kind, end_ns);
CREATE INDEX IF NOT EXISTS outputs_last_write ON outputs (last_write_ns);
CREATE INDEX IF NOT EXISTS host_usage_end     ON host_usage (end_ns);

-- Finished runs per (UTC day of end, job), with the run-owned db_stats.
CREATE TABLE IF NOT EXISTS job_day (
  day                 INTEGER NOT NULL,
  job                 TEXT    NOT NULL,
  runs                INTEGER NOT NULL,
  successes           INTEGER NOT NULL,
  failures            INTEGER NOT NULL,
  restarts            INTEGER NOT NULL,
  oom_kills           INTEGER NOT NULL,
  processes           INTEGER NOT NULL,
  cpu_s               REAL    NOT NULL,
  mem_gib_s           REAL    NOT NULL,
  peak_rss_bytes      INTEGER NOT NULL,          -- max over the runs
  file_read_bytes     INTEGER NOT NULL,
  file_write_bytes    INTEGER NOT NULL,
  net_rx_bytes        INTEGER NOT NULL,
  net_tx_bytes        INTEGER NOT NULL,
  duration_s_sum      REAL    NOT NULL,
  duration_hist       BLOB,                      -- see rollup_hist.h
  last_success_ns     INTEGER NOT NULL,          -- 0 = none that day
  queries             INTEGER NOT NULL,
  query_errors        INTEGER NOT NULL,
  query_latency_s_sum REAL    NOT NULL,
  query_p95_x_queries REAL    NOT NULL,          -- sum of latency_p95_s * queries
  query_buckets       BLOB,                      -- merged latency_buckets, NULL = none sent
  PRIMARY KEY (day, job)
) WITHOUT ROWID;

-- Statements of run-owned db_stats per (day, job, fingerprint).
CREATE TABLE IF NOT EXISTS statement_day (
  day           INTEGER NOT NULL,
  job           TEXT    NOT NULL,
  fingerprint   TEXT    NOT NULL,
  calls         INTEGER NOT NULL,
  errors        INTEGER NOT NULL,
  rows          INTEGER NOT NULL,
  latency_s_sum REAL    NOT NULL,
  PRIMARY KEY (day, job, fingerprint)
) WITHOUT ROWID;

-- Latest write of each output dataset per UTC day of that write; job is the
-- writer of that latest write.
CREATE TABLE IF NOT EXISTS dataset_day (
  day           INTEGER NOT NULL,
  kind          TEXT    NOT NULL,
  name          TEXT    NOT NULL,
  job           TEXT    NOT NULL,
  last_write_ns INTEGER NOT NULL,
  PRIMARY KEY (day, kind, name)
) WITHOUT ROWID;

-- Host capacity (host_usage) and the usage attributed to jobs (windows) per
-- (UTC hour of end, host): idle cost = capacity - attributed.
CREATE TABLE IF NOT EXISTS host_hour (
  hour           INTEGER NOT NULL,
  host           TEXT    NOT NULL,
  core_s         REAL    NOT NULL,               -- cpu_cores * window_s
  cpu_busy_s     REAL    NOT NULL,
  mem_gib_s      REAL    NOT NULL,               -- mem_total GiB * window_s
  mem_used_gib_s REAL    NOT NULL,
  window_s       REAL    NOT NULL,
  attr_cpu_s     REAL    NOT NULL,
  attr_mem_gib_s REAL    NOT NULL,
  PRIMARY KEY (hour, host)
) WITHOUT ROWID;

INSERT INTO job_day
SELECT r.end_ns / 86400000000000, r.job, count(*),
       sum(r.outcome = 'success'), sum(r.outcome = 'failure'),
       sum(r.restart), sum(r.oom_killed), sum(r.processes),
       sum(r.cpu_s), sum(r.mem_gib_s), max(r.peak_rss_bytes),
       sum(r.file_read_bytes), sum(r.file_write_bytes),
       sum(r.net_rx_bytes), sum(r.net_tx_bytes),
       sum((r.end_ns - r.start_ns) / 1e9), jm_dhist_agg((r.end_ns - r.start_ns) / 1e9),
       coalesce(max(CASE WHEN r.outcome = 'success' THEN r.end_ns END), 0),
       coalesce(sum(d.q), 0), coalesce(sum(d.e), 0),
       coalesce(sum(d.l), 0.0), coalesce(sum(d.p), 0.0), jm_qhist_agg(d.hb)
  FROM runs r
  LEFT JOIN (SELECT owner_id, sum(queries) AS q, sum(errors) AS e,
                    sum(latency_s_sum) AS l, sum(latency_p95_s * queries) AS p,
                    jm_qhist_agg(latency_buckets) AS hb
               FROM db_stats WHERE owner_kind = 'run' GROUP BY owner_id) d
         ON d.owner_id = r.id
 GROUP BY 1, 2;

INSERT INTO statement_day
SELECT d.end_ns / 86400000000000, d.job, s.fingerprint,
       sum(s.calls), sum(s.errors), sum(s.rows), sum(s.latency_s_sum)
  FROM statements s JOIN db_stats d ON d.id = s.db_stats_id
 WHERE d.owner_kind = 'run'
 GROUP BY 1, 2, 3;

-- The bare column `job` takes its value from the row holding max(): SQLite
-- documents this for a single min()/max() aggregate.
INSERT INTO dataset_day
SELECT last_write_ns / 86400000000000, kind, name, job, max(last_write_ns)
  FROM outputs WHERE last_write_ns > 0
 GROUP BY 1, 2, 3;

INSERT INTO host_hour
SELECT hour, host, sum(core_s), sum(busy), sum(mem), sum(used), sum(ws), sum(acpu), sum(amem)
  FROM (SELECT end_ns / 3600000000000 AS hour, host, cpu_cores * window_s AS core_s,
               cpu_busy_s AS busy, mem_total_bytes / 1073741824.0 * window_s AS mem,
               mem_used_bytes / 1073741824.0 * window_s AS used, window_s AS ws,
               0.0 AS acpu, 0.0 AS amem
          FROM host_usage
        UNION ALL
        SELECT end_ns / 3600000000000, host, 0.0, 0.0, 0.0, 0.0, 0.0, cpu_s, mem_gib_s
          FROM windows)
 GROUP BY hour, host;
