-- jobmeter collector storage, schema version 1.
-- One row per stored batch (idempotency key: agent_id, boot_id, seq) and the
-- batch's content flattened into relational tables so that reports are plain
-- SQL.  All times are Unix nanoseconds (INTEGER).  Costs are NOT stored: the
-- report prices raw figures at report time, so a new price file re-prices
-- history.
-- Migrations: schema_version holds the applied version; the collector applies
-- tools/collector/migrations in order inside one transaction at start-up.

CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS batches (
  id              INTEGER PRIMARY KEY,
  agent_id        TEXT    NOT NULL,
  boot_id         TEXT    NOT NULL,
  seq             INTEGER NOT NULL,
  host            TEXT    NOT NULL,
  kernel          TEXT    NOT NULL DEFAULT '',
  agent_version   TEXT    NOT NULL DEFAULT '',
  window_start_ns INTEGER NOT NULL,
  window_end_ns   INTEGER NOT NULL,
  received_ns     INTEGER NOT NULL,
  UNIQUE (agent_id, boot_id, seq)
);
CREATE INDEX IF NOT EXISTS batches_agent_seq ON batches (agent_id, seq);

-- Finished runs.
CREATE TABLE IF NOT EXISTS runs (
  id               INTEGER PRIMARY KEY,
  batch_id         INTEGER NOT NULL REFERENCES batches(id),
  host             TEXT    NOT NULL,
  job              TEXT    NOT NULL,
  run_id           TEXT    NOT NULL,
  start_ns         INTEGER NOT NULL,
  end_ns           INTEGER NOT NULL,
  outcome          TEXT    NOT NULL,          -- 'success' | 'failure'
  exit_code        INTEGER NOT NULL,
  signal           INTEGER NOT NULL,
  oom_killed       INTEGER NOT NULL,          -- 0/1
  restart          INTEGER NOT NULL,          -- 0/1
  source           TEXT    NOT NULL DEFAULT '',
  labels_json      TEXT    NOT NULL DEFAULT '{}',
  processes        INTEGER NOT NULL,
  cpu_s            REAL    NOT NULL,
  peak_rss_bytes   INTEGER NOT NULL,
  mem_gib_s        REAL    NOT NULL,
  file_read_bytes  INTEGER NOT NULL,
  file_write_bytes INTEGER NOT NULL,
  net_rx_bytes     INTEGER NOT NULL,
  net_tx_bytes     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_job_end ON runs (job, end_ns);

-- Per-job deltas over one agent interval.
CREATE TABLE IF NOT EXISTS windows (
  id               INTEGER PRIMARY KEY,
  batch_id         INTEGER NOT NULL REFERENCES batches(id),
  host             TEXT    NOT NULL,
  job              TEXT    NOT NULL,
  run_id           TEXT    NOT NULL,
  start_ns         INTEGER NOT NULL,
  end_ns           INTEGER NOT NULL,
  processes        INTEGER NOT NULL,
  cpu_s            REAL    NOT NULL,
  peak_rss_bytes   INTEGER NOT NULL,
  mem_gib_s        REAL    NOT NULL,
  file_read_bytes  INTEGER NOT NULL,
  file_write_bytes INTEGER NOT NULL,
  net_rx_bytes     INTEGER NOT NULL,
  net_tx_bytes     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS windows_job_end ON windows (job, end_ns);

-- Database client figures of a run or a window (owner_kind 'run'|'window').
CREATE TABLE IF NOT EXISTS db_stats (
  id              INTEGER PRIMARY KEY,
  owner_kind      TEXT    NOT NULL,
  owner_id        INTEGER NOT NULL,
  job             TEXT    NOT NULL,
  end_ns          INTEGER NOT NULL,           -- owner's end, for time filters
  system          TEXT    NOT NULL,
  endpoint        TEXT    NOT NULL,
  queries         INTEGER NOT NULL,
  errors          INTEGER NOT NULL,
  rows            INTEGER NOT NULL,
  tx_bytes        INTEGER NOT NULL,
  rx_bytes        INTEGER NOT NULL,
  latency_s_sum   REAL    NOT NULL,
  latency_p50_s   REAL    NOT NULL,
  latency_p95_s   REAL    NOT NULL,
  latency_p99_s   REAL    NOT NULL,
  latency_buckets BLOB,                       -- JM_HIST_BUCKETS little-endian uint64
  statements_overflow INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS db_stats_owner ON db_stats (owner_kind, owner_id);
CREATE INDEX IF NOT EXISTS db_stats_job_end ON db_stats (job, end_ns);

CREATE TABLE IF NOT EXISTS statements (
  id            INTEGER PRIMARY KEY,
  db_stats_id   INTEGER NOT NULL REFERENCES db_stats(id),
  fingerprint   TEXT    NOT NULL,
  calls         INTEGER NOT NULL,
  errors        INTEGER NOT NULL,
  rows          INTEGER NOT NULL,
  latency_s_sum REAL    NOT NULL,
  last_error    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS statements_db ON statements (db_stats_id);

-- Output datasets written (freshness).
CREATE TABLE IF NOT EXISTS outputs (
  id            INTEGER PRIMARY KEY,
  owner_kind    TEXT    NOT NULL,             -- 'run' | 'window'
  owner_id      INTEGER NOT NULL,
  job           TEXT    NOT NULL,
  kind          TEXT    NOT NULL,             -- 'table' | 'file'
  name          TEXT    NOT NULL,
  last_write_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outputs_name ON outputs (kind, name, last_write_ns);

CREATE TABLE IF NOT EXISTS host_usage (
  batch_id        INTEGER PRIMARY KEY REFERENCES batches(id),
  host            TEXT    NOT NULL,
  start_ns        INTEGER NOT NULL,
  end_ns          INTEGER NOT NULL,
  cpu_cores       INTEGER NOT NULL,
  cpu_busy_s      REAL    NOT NULL,
  mem_total_bytes INTEGER NOT NULL,
  mem_used_bytes  INTEGER NOT NULL,
  window_s        REAL    NOT NULL
);

-- Loss counters as reported (cumulative since that agent's start).
CREATE TABLE IF NOT EXISTS loss (
  batch_id              INTEGER PRIMARY KEY REFERENCES batches(id),
  ringbuf_drops         INTEGER NOT NULL,
  map_full              INTEGER NOT NULL,
  payload_drops         INTEGER NOT NULL,
  payload_truncated     INTEGER NOT NULL,
  parse_errors          INTEGER NOT NULL,
  statements_overflow   INTEGER NOT NULL,
  jobs_overflow         INTEGER NOT NULL,
  spool_dropped_batches INTEGER NOT NULL,
  exits_synthesized     INTEGER NOT NULL
);
