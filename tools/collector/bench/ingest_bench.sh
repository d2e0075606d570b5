#!/usr/bin/env bash
# ingest_bench.sh: ingest throughput of jobmeter-collector under concurrent
# agents (the figure in tools/collector/README.md).
#
#   tools/collector/bench/ingest_bench.sh [BUILD_DIR]      (default: build)
#   env: AGENTS=20 BATCHES=300 (per agent) JOBS=50 (one window each)
#        RUNS=0 (finished runs per job) GEN_ARGS=... (more gen-batch options,
#        e.g. "--queries 20 --statements 3 --output t" for db_stats,
#        statements and an output per run) DB_DIR=/var/tmp COLLECTOR_ARGS=...
#
# Builds the load generator (ingest_load.c; bench/run.sh's collector
# scenario runs the same one with --template --gzip) against BUILD_DIR's
# protobuf code, writes one gen-batch template per agent, starts the
# collector on a fresh database (on disk: the point is the fsync), runs
# AGENTS closed-loop posters, then checks that the database holds every
# batch and passes integrity_check.  Prints the load generator's line and
# the collector's commit counters (batches per transaction).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${1:-$ROOT/build}
AGENTS=${AGENTS:-20}
BATCHES=${BATCHES:-300}
JOBS=${JOBS:-50}
RUNS=${RUNS:-0}
COLLECTOR=$BUILD/bin/jobmeter-collector
T=$(mktemp -d "${DB_DIR:-/var/tmp}/jm-ingest-bench.XXXXXX")
CPID=
cleanup() {
  [ -n "$CPID" ] && kill "$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

cc -O2 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$BUILD/proto" \
  "$ROOT/tools/collector/bench/ingest_load.c" "$BUILD/proto/jobmeter.pb-c.c" \
  -lprotobuf-c -lcurl -lz -lpthread -o "$T/ingest_load"

# Batch k of an agent covers minute k, starting BATCHES minutes ago.
start_ns=$(( ($(date +%s) - BATCHES * 60 - 60) * 1000000000 ))
mkdir -p "$T/tpl"
for a in $(seq 1 "$AGENTS"); do
  "$COLLECTOR" gen-batch --agent-id "bench-agent-$a" --boot-id "boot-$a" --host "bench-host-$a" \
    --seq 1 --job "bench-job-$a" --jobs "$JOBS" --runs "$RUNS" --windows 1 \
    --start-ns "$start_ns" --interval-s 60 --cpu-s 1.5 --mem-gib-s 0.25 ${GEN_ARGS:-} > "$T/tpl/agent-$a.pb"
done

# shellcheck disable=SC2086
"$COLLECTOR" --listen 127.0.0.1:0 --db "$T/bench.db" ${COLLECTOR_ARGS:-} >"$T/coll.log" 2>&1 &
CPID=$!
URL=
for _ in $(seq 1 200); do
  URL=$(grep -o 'listening on [0-9.:]*' "$T/coll.log" | awk '{print $3}' || true)
  [ -n "$URL" ] && break
  kill -0 "$CPID" 2>/dev/null || { cat "$T/coll.log"; exit 1; }
  sleep 0.05
done
[ -n "$URL" ] || { echo "collector did not start"; cat "$T/coll.log"; exit 1; }

echo "machine: $(nproc) cores, $(uname -r), db on $(df --output=fstype "$T" | tail -1) ($(df --output=source "$T" | tail -1))"
echo "load: $AGENTS agents x $BATCHES batches, $JOBS windows + $((JOBS * RUNS)) runs per batch${GEN_ARGS:+ ($GEN_ARGS)}, $(stat -c %s "$T/tpl/agent-1.pb") bytes"
"$T/ingest_load" --url "http://$URL" --dir "$T/tpl" --agents "$AGENTS" --batches "$BATCHES"
curl -s "http://$URL/metrics" | grep -E '^jobmeter_collector_(commits_total|commit_failures_total|committed_batches_total|commit_duration_seconds_sum)' || true
# CPU seconds (user + system) of the whole collector and of its writer
# thread: less disturbed by other load on the machine than the wall clock.
tck=$(getconf CLK_TCK)
cpu() { awk -v t="$tck" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "$1"; }
wtid=$(grep -l '^jm-writer$' /proc/"$CPID"/task/*/comm 2>/dev/null | head -n1 | xargs -r dirname || true)
echo "collector cpu: $(cpu /proc/"$CPID"/stat) s total${wtid:+, writer thread $(cpu "$wtid/stat") s}"
kill -TERM "$CPID"; wait "$CPID"; CPID=
n=$(sqlite3 "$T/bench.db" 'select count(*) from batches')
ic=$(sqlite3 "$T/bench.db" 'pragma integrity_check')
echo "database: $n batches (want $((AGENTS * BATCHES))), integrity_check $ic"
[ "$n" -eq $((AGENTS * BATCHES)) ] && [ "$ic" = ok ]
