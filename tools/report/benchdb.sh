#!/usr/bin/env bash
# Build a synthetic collector database and time jobmeter-report on it.
#
#   tools/report/benchdb.sh DB [DAYS] [JOBS]     (defaults: 30 days, 500 jobs)
#
# A fleet of AGENTS agents (default 20), each sending one batch every
# BATCH_S seconds (default 60) for DAYS days with a window for each of its
# share of the JOBS jobs (job k runs on agent k % AGENTS): DAYS x 86400 /
# BATCH_S x JOBS window rows in DAYS x 86400 / BATCH_S x AGENTS batches, each
# batch with its host_usage and loss rows (agent 0 reports one ring-buffer
# drop a day, so the completeness section has something to add up).  And one
# finished run per job per hour with its db_stats, three statements and an
# output table.  Raw rows are written straight into a schema-v1 database
# with SQL (ingest through HTTP would take hours at this size);
# jobmeter-collector then opens it, which applies the migrations and
# backfills the rollups exactly as for any v1 database.  Then the report is
# timed in every format over the whole period.
# Environment: BIN (default build/bin), AGENTS, BATCH_S.
set -euo pipefail
DB=${1:?usage: benchdb.sh DB [DAYS] [JOBS]}
DAYS=${2:-30}
JOBS=${3:-500}
AGENTS=${AGENTS:-20}
BATCH_S=${BATCH_S:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
T0=1714521600000000000            # 2024-05-01T00:00:00Z
MIN=60000000000
B=$((BATCH_S * 1000000000))
STEPS=$((DAYS * 86400 / BATCH_S))
PER_DAY=$((86400 / BATCH_S))
PER_AGENT=$(( (JOBS + AGENTS - 1) / AGENTS ))
HOURS=$((DAYS * 24))
((BATCH_S > 0 && 3600 % BATCH_S == 0)) || { echo "benchdb.sh: BATCH_S must divide an hour" >&2; exit 2; }

rm -f "$DB" "$DB-wal" "$DB-shm"
t() { date +%s.%N; }
s0=$(t)
{
  cat "$ROOT/tools/collector/schema.sql"
  cat <<SQL
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
INSERT INTO schema_version VALUES (1);
BEGIN;
WITH RECURSIVE m(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM m WHERE i < $STEPS - 1),
               g(a) AS (SELECT 0 UNION ALL SELECT a + 1 FROM g WHERE a < $AGENTS - 1)
INSERT INTO batches (id, agent_id, boot_id, seq, host, kernel, agent_version, window_start_ns, window_end_ns, received_ns)
SELECT i * $AGENTS + a + 1, 'bench-agent-' || a, 'boot', i + 1, 'bench-host-' || a, '6.1', 'bench',
       $T0 + i * $B, $T0 + (i + 1) * $B, $T0 + (i + 1) * $B FROM m, g ORDER BY 1;
INSERT INTO host_usage SELECT id, host, window_start_ns, window_end_ns, 64, 1800.0 * $BATCH_S / 60, 274877906944,
       137438953472, $BATCH_S FROM batches;
INSERT INTO loss SELECT id, CASE WHEN (id - 1) % $AGENTS = 0 THEN (seq - 1) / $PER_DAY ELSE 0 END,
       0, 0, 0, 0, 0, 0, 0, 0 FROM batches;
WITH RECURSIVE j(t) AS (SELECT 0 UNION ALL SELECT t + 1 FROM j WHERE t < $PER_AGENT - 1)
INSERT INTO windows (batch_id, host, job, run_id, start_ns, end_ns, processes, cpu_s, peak_rss_bytes, mem_gib_s,
                     file_read_bytes, file_write_bytes, net_rx_bytes, net_tx_bytes)
SELECT b.id, b.host, printf('job-%03d', k), '', b.window_start_ns, b.window_end_ns, 1,
       (0.5 + (k % 7) * 0.1) * $BATCH_S / 60, 200000000, 1.5 * $BATCH_S / 60, 1000000, 10000, 5000, 1000
  FROM (SELECT b.*, (b.id - 1) % $AGENTS + $AGENTS * j.t AS k FROM batches b, j) b WHERE k < $JOBS;
WITH RECURSIVE h(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM h WHERE i < $HOURS - 1),
               j(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM j WHERE k < $JOBS - 1)
INSERT INTO runs (batch_id, host, job, run_id, start_ns, end_ns, outcome, exit_code, signal, oom_killed, restart,
                  source, labels_json, processes, cpu_s, peak_rss_bytes, mem_gib_s, file_read_bytes,
                  file_write_bytes, net_rx_bytes, net_tx_bytes)
SELECT (i * 3600 + (k % 60) * 60 + 30) / $BATCH_S * $AGENTS + k % $AGENTS + 1, 'bench-host-' || (k % $AGENTS),
       printf('job-%03d', k), printf('r-%d-%d', i, k),
       $T0 + i * 3600000000000 + (k % 60) * $MIN + 30000000000 - (20 + k % 40) * 1000000000,
       $T0 + i * 3600000000000 + (k % 60) * $MIN + 30000000000,
       CASE WHEN (i * 7 + k) % 50 = 0 THEN 'failure' ELSE 'success' END,
       CASE WHEN (i * 7 + k) % 50 = 0 THEN 1 ELSE 0 END, 0, 0, 0, 'env', '{}', 3,
       30.0 + (k % 7) * 2.5, 500000000 + k * 1000000, 90.0, 60000000 + k * 1000, 1000000, 500000, 20000
  FROM h, j;
INSERT INTO db_stats (owner_kind, owner_id, job, end_ns, system, endpoint, queries, errors, rows, tx_bytes,
                      rx_bytes, latency_s_sum, latency_p50_s, latency_p95_s, latency_p99_s, latency_buckets,
                      statements_overflow)
SELECT 'run', id, job, end_ns, 'postgresql', '127.0.0.1:5432', 99, id % 3, 99, 10000, 90000, 0.99, 0.005,
       0.02 + (id % 5) * 0.001, 0.05, NULL, 0 FROM runs;
INSERT INTO statements (db_stats_id, fingerprint, calls, errors, rows, latency_s_sum, last_error)
SELECT d.id, printf('SELECT * FROM t%d WHERE id = ?', s.n), 33, 0, 33, 0.33 * (s.n + 1), ''
  FROM db_stats d, (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2) s;
INSERT INTO outputs (owner_kind, owner_id, job, kind, name, last_write_ns)
SELECT 'run', id, job, 'table', 'ds_' || job, end_ns FROM runs;
COMMIT;
SQL
} | sqlite3 "$DB" > /dev/null
s1=$(t)
echo "generated v1 database: $(awk -v a="$s0" -v b="$s1" 'BEGIN{printf "%.0f", b-a}') s," \
     "$(sqlite3 "$DB" 'select count(*) from windows') windows, $(sqlite3 "$DB" 'select count(*) from runs') runs," \
     "$(sqlite3 "$DB" 'select count(*) from batches') batches from $AGENTS agents"

# Migrate (and backfill the rollups) by starting the collector once.
"$BIN/jobmeter-collector" --listen 127.0.0.1:0 --db "$DB" > "$DB.collector.log" 2>&1 &
pid=$!
for _ in $(seq 1 36000); do grep -q 'listening on' "$DB.collector.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$DB.collector.log"; exit 1; }; sleep 0.1; done
kill -TERM "$pid"; wait "$pid" || true
s2=$(t)
echo "collector migration v1 -> latest (rollup backfill): $(awk -v a="$s1" -v b="$s2" 'BEGIN{printf "%.0f", b-a}') s;" \
     "database $(du -m "$DB" | cut -f1) MiB"

FROM=$(( T0 / 1000000000 + 1800 ))                       # edges that are not whole days or hours
TO=$(( T0 / 1000000000 + DAYS * 86400 - 600 ))
for fmt in text json csv md html; do
  best=
  for _ in 1 2 3; do
    a=$(t)
    "$BIN/jobmeter-report" --db "$DB" --from "$FROM" --to "$TO" --format "$fmt" > "$DB.report.$fmt"
    b=$(t)
    d=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.3f", b-a}')
    best=$(awk -v x="${best:-$d}" -v y="$d" 'BEGIN{print (y < x) ? y : x}')
  done
  echo "report --format $fmt over $DAYS days x $JOBS jobs: best of 3 = ${best} s"
done
