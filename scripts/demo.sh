#!/usr/bin/env bash
# make demo: the whole pipeline on one machine, in under two minutes.
#   collector (temporary SQLite) <- agent (real eBPF) <- a small demo ETL
#   against a local PostgreSQL, then the text report and an HTML report.
# Leaves nothing running: every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/bin
OUT=$ROOT/build/demo
REL=build/demo    # the same, as printed: relative to the clone (make demo's directory)
rm -rf "$OUT"; mkdir -p "$OUT/spool" "$OUT/curated"
source tests/services.sh
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
step() { printf '\n==> %s\n' "$*"; }

step "starting PostgreSQL 15 (local, test credentials)"
pg_start
pg_sql -c "drop table if exists demo_sales; create table demo_sales (day date, region text, amount numeric)"
pgbench -h 127.0.0.1 -U $JM_PG_USER -i -q -s 1 $JM_PG_DB >/dev/null 2>&1

step "starting jobmeter-collector on 127.0.0.1:9470 (SQLite $REL/jobmeter.db)"
head -c 24 /dev/urandom | base64 > "$OUT/token"
"$BIN/jobmeter-collector" --listen 127.0.0.1:9470 --db "$REL/jobmeter.db" \
  --token-file "$OUT/token" 2> "$OUT/collector.log" &
pids+=($!)

cat > "$OUT/agent.yaml" <<YAML
interval: 2
jobs:
  - name: load-sales
    outputs:
      - table: public.demo_sales
  - name: export-parquet
    outputs:
      - file: "$OUT/curated/*.parquet"
collector:
  url: http://127.0.0.1:9470/v1/batches
  token_file: $OUT/token
  spool_dir: $OUT/spool
YAML
step "starting jobmeter-agent (config $REL/agent.yaml)"
"$BIN/jobmeter-agent" --config "$OUT/agent.yaml" --jsonl "$OUT/agent.jsonl" \
  --ready-file "$OUT/ready" --state-dir "$OUT" --metrics-listen 127.0.0.1:9471 \
  2> "$OUT/agent.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -f "$OUT/ready" ] && break; sleep 0.1; done
[ -f "$OUT/ready" ] || { cat "$OUT/agent.log"; exit 1; }

step "running the demo ETL (jobs are named by JOBMETER_JOB; nothing in them knows about jobmeter)"
export PGPASSWORD=$JM_PG_PASS
echo "  extract-orders: reads a 64 MiB extract"
head -c $((64 << 20)) /dev/urandom > "$OUT/orders.csv"
JOBMETER_JOB=extract-orders sh -c "dd if='$OUT/orders.csv' of=/dev/null bs=1M status=none; sha256sum '$OUT/orders.csv' >/dev/null"
echo "  load-sales: inserts into public.demo_sales (an output table)"
JOBMETER_JOB=load-sales psql -h 127.0.0.1 -U $JM_PG_USER -d $JM_PG_DB -qX -c \
  "insert into demo_sales select current_date - (g % 30), 'r' || (g % 5), g * 1.5 from generate_series(1, 5000) g"
echo "  nightly-rollup: fails twice (a missing table), then succeeds: 3 runs, 2 restarts"
for attempt in 1 2; do
  JOBMETER_JOB=nightly-rollup psql -h 127.0.0.1 -U $JM_PG_USER -d $JM_PG_DB -qX -v ON_ERROR_STOP=1 \
    -c "select region, sum(amount) from demo_sales_rollup group by 1" >/dev/null 2>&1 || true
done
JOBMETER_JOB=nightly-rollup psql -h 127.0.0.1 -U $JM_PG_USER -d $JM_PG_DB -qX -v ON_ERROR_STOP=1 \
  -c "select region, sum(amount) from demo_sales group by 1" >/dev/null
echo "  query-bench: 2,000 point lookups (pgbench -S)"
JOBMETER_JOB=query-bench pgbench -h 127.0.0.1 -U $JM_PG_USER -n -S -t 2000 -c 1 $JM_PG_DB >/dev/null 2>&1
echo "  export-parquet: exports demo_sales to a file and renames it into place (an output file)"
JOBMETER_JOB=export-parquet sh -c "psql -h 127.0.0.1 -U $JM_PG_USER -d $JM_PG_DB -qX \
  -c 'copy (select * from demo_sales) to stdout' > '$OUT/curated/.part.tmp' &&
  mv '$OUT/curated/.part.tmp' '$OUT/curated/part-0001.parquet'"
echo "  cpu-heavy: burns ~1.5 s of CPU in 2 threads"
JOBMETER_JOB=cpu-heavy "$ROOT/build/tests/helpers/jm_burn" cpu 1.5 2

step "waiting for the next interval, then stopping the agent (SIGTERM flushes and ships)"
sleep 3
kill -TERM "${pids[1]}"; wait "${pids[1]}" || true
unset 'pids[1]'
sleep 1

step "runs the agent saw (JSONL, $REL/agent.jsonl)"
jq -r 'select(.type=="run") | [.job, .outcome, (if .restart then "restart" else "-" end),
  "cpu=\(.cpu_s*1000|floor)ms", "read=\(.file_read_bytes/1048576|floor)MiB",
  "queries=\([.db[].queries]|add // 0)"] | @tsv' "$OUT/agent.jsonl" | column -t

# Objectives the report checks the runs against (tools/report/slos.example.yaml
# documents the keys).  hourly-snapshot never runs here: a job that silently
# stopped shows up as stale.
cat > "$OUT/slos.yaml" <<YAML
"*":
  success_rate: 0.99
  freshness_max_age: 26h
nightly-rollup:
  success_rate: 0.95
  query_p95_latency: 500ms
query-bench:
  query_p95_latency: 5ms
  cost_per_day: 0.50
hourly-snapshot:
  freshness_max_age: 90m
YAML
step "jobmeter-report (text, objectives from $REL/slos.yaml)"
"$BIN/jobmeter-report" --db "$REL/jobmeter.db" --since 1h --slos "$REL/slos.yaml" --format text
"$BIN/jobmeter-report" --db "$REL/jobmeter.db" --since 1h --slos "$REL/slos.yaml" --format html \
  --out "$REL/report.html"
step "HTML report written to $REL/report.html"
