#!/usr/bin/env bash
# 41_collector_durability: kill -9 the collector 20 times in the middle of
# heavy parallel ingest.  After every crash the database must pass
# PRAGMA integrity_check and hold every batch that was answered 200 (the
# collector answers 200 only after the COMMIT, synchronous=FULL, of the
# group transaction that holds the batch).  Enough parallel posters that
# the writer commits groups of several batches.
source "$(dirname "$0")/../lib.sh"

DB=$T/d.db
AGENT="dur-$UNIQ"
ROUNDS=${ROUNDS:-20}
WORKERS=8

start_collector() {
  "$COLLECTOR" --listen 127.0.0.1:0 --db "$DB" >>"$T/coll.log" 2>&1 &
  CPID=$!; _bg_pids+=("$CPID")
  local before=$1
  for _ in $(seq 1 200); do
    local a; a=$(grep -o 'listening on [0-9.:]*' "$T/coll.log" | sed -n "$((before + 1))p" | awk '{print $3}')
    if [ -n "$a" ]; then URL=http://$a; return 0; fi
    kill -0 "$CPID" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# A batch's window derives from its seq, so that a batch generated again
# for the same seq is the same batch (a true replay, answered "duplicate");
# the same seq with another window is a different batch (409).
BASE_NS=$(( ($(date +%s) - 86400) * 1000000000 ))
start_of() { echo $(( BASE_NS + $1 * 1000000 )); }

# poster ROUND WORKER: posts batches until the collector goes away; every
# seq answered 200 is appended to $T/ok.
poster() {
  local round=$1 w=$2 i=0 code s
  while :; do
    s=$(( (round * WORKERS + w) * 100000 + i + 1 ))
    code=$("$COLLECTOR" gen-batch --agent-id "$AGENT" --boot-id b --seq "$s" --start-ns "$(start_of "$s")" --job "dur-$UNIQ" \
             --jobs 8 --runs 6 --windows 6 --queries 20 --statements 5 --latency-sum-s 0.5 \
             --latency-p95-s 0.01 --output "out-$UNIQ" |
           curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
             -H 'Content-Type: application/x-protobuf' --data-binary @- "$URL/v1/batches")
    case "$code" in
      200) echo "$s" >> "$T/ok.$w" ;;
      503) sleep 0.05 ;;
      *) return 0 ;;   # connection refused or reset: the collector is gone
    esac
    i=$((i + 1))
  done
}

: > "$T/coll.log"
starts=0
for round in $(seq 1 "$ROUNDS"); do
  start_collector "$starts" || { fail "round $round: start" "$(tail -5 "$T/coll.log")"; break; }
  starts=$((starts + 1))
  pids=()
  for w in $(seq 1 $WORKERS); do poster "$round" "$w" & pids+=($!); done
  # Let ingest run for 0.4..1.2 s, then pull the plug.
  sleep "0.$(( 4 + RANDOM % 8 ))"
  if [ "$round" -eq 1 ]; then
    sleep 0.5
    curl -s "$URL/metrics" > "$T/metrics.1"
  fi
  kill -9 "$CPID"; wait "$CPID" 2>/dev/null
  for p in "${pids[@]}"; do wait "$p"; done
  cat "$T"/ok.* 2>/dev/null | LC_ALL=C sort > "$T/acked"
  ic=$(sqlite3 "$DB" 'pragma integrity_check' 2>&1)
  check_eq "round $round: integrity_check" "$ic" ok
  sqlite3 "$DB" "select seq from batches where agent_id='$AGENT'" | LC_ALL=C sort > "$T/stored"
  missing=$(LC_ALL=C comm -23 "$T/acked" "$T/stored" | wc -l)
  check_eq "round $round: all $(wc -l < "$T/acked") acknowledged batches stored" "$missing" 0
done

# The crashes hit group commits: more batches than transactions.
m1() { awk -v k="$1" '$1==k{print $2}' "$T/metrics.1"; }
commits=$(m1 jobmeter_collector_commits_total); grouped=$(m1 jobmeter_collector_committed_batches_total)
[ "${grouped:-0}" -gt "${commits:-0}" ] && pass "group commit under load: ${grouped} batches in ${commits} commits (round 1)" \
  || fail "group commit under load" "${grouped:-?} batches in ${commits:-?} commits"

total=$(wc -l < "$T/acked")
[ "$total" -ge $((ROUNDS * 4)) ] && pass "heavy ingest: $total batches acknowledged over $ROUNDS crashes" \
  || fail "heavy ingest" "only $total batches acknowledged"
# Rows of a stored batch are all there (no half transactions): 8 jobs x 6 runs.
bad=$(sqlite3 "$DB" "select count(*) from (select b.id from batches b left join runs r on r.batch_id = b.id
       where b.agent_id='$AGENT' group by b.id having count(r.id) != 48)")
check_eq "every stored batch is complete (48 runs each)" "$bad" 0
# Rollups were maintained in the same transactions.
check_eq "rollup runs = raw runs" \
  "$(sqlite3 "$DB" "select sum(runs) from job_day where job like 'dur-$UNIQ%'")" \
  "$(sqlite3 "$DB" "select count(*) from runs where job like 'dur-$UNIQ%'")"

# The same at full speed: 20 agents posting 50-window batches from one
# libcurl process (tools/collector/bench/ingest_load.c, thousands of batches
# a second), so the crashes hit large group commits whose WAL frames are
# written in several pieces (walbuf.h).
FAST_ROUNDS=${FAST_ROUNDS:-10}
if cc -O2 -std=gnu11 -D_GNU_SOURCE -I"$ROOT/build/proto" "$ROOT/tools/collector/bench/ingest_load.c" \
     "$ROOT/build/proto/jobmeter.pb-c.c" -lprotobuf-c -lcurl -lz -lpthread -o "$T/ingest_load" 2>"$T/cc.log"; then
  mkdir -p "$T/tpl"
  for a in $(seq 1 20); do
    "$COLLECTOR" gen-batch --agent-id "fast-$UNIQ-$a" --boot-id b --seq 1 --job "fast-$UNIQ-$a" \
      --jobs 50 --runs 0 --windows 1 --start-ns $(( ($(date +%s) - 80 * 86400) * 1000000000 )) > "$T/tpl/agent-$a.pb"
  done
  : > "$T/fast.acked"
  for round in $(seq 1 "$FAST_ROUNDS"); do
    start_collector "$starts" || { fail "fast round $round: start" "$(tail -5 "$T/coll.log")"; break; }
    starts=$((starts + 1))
    "$T/ingest_load" --url "$URL" --dir "$T/tpl" --agents 20 --batches 5000 --seq-base $((round * 10000)) \
      --acked "$T/fast.acked" --until-gone > "$T/fast.out" 2>&1 &
    LP=$!
    sleep "0.$(( 5 + RANDOM % 5 ))"
    kill -9 "$CPID"; wait "$CPID" 2>/dev/null
    wait "$LP" || fail "fast round $round: load generator" "$(cat "$T/fast.out")"
    check_eq "fast round $round: integrity_check" "$(sqlite3 "$DB" 'pragma integrity_check' 2>&1)" ok
    LC_ALL=C sort "$T/fast.acked" > "$T/fast.sorted"
    sqlite3 "$DB" "select agent_id || ' ' || seq from batches where agent_id like 'fast-$UNIQ-%'" | LC_ALL=C sort > "$T/fast.stored"
    check_eq "fast round $round: all $(wc -l < "$T/fast.sorted") acknowledged batches stored" \
      "$(LC_ALL=C comm -23 "$T/fast.sorted" "$T/fast.stored" | wc -l)" 0
  done
  n=$(wc -l < "$T/fast.acked")
  [ "$n" -ge $((FAST_ROUNDS * 200)) ] && pass "fast ingest: $n batches acknowledged over $FAST_ROUNDS crashes" \
    || fail "fast ingest" "only $n batches acknowledged"
  check_eq "every fast batch is complete (50 windows each)" "$(sqlite3 "$DB" "select count(*) from (select b.id
     from batches b left join windows w on w.batch_id = b.id where b.agent_id like 'fast-$UNIQ-%'
     group by b.id having count(w.id) != 50)")" 0
else
  fail "fast ingest: build the load generator" "$(cat "$T/cc.log")"
fi

# After the last crash, the collector restarts and answers replays as duplicates.
start_collector "$starts" || fail "final start" "$(tail -5 "$T/coll.log")"
s=$(head -n1 "$T/acked")
body=$("$COLLECTOR" gen-batch --agent-id "$AGENT" --boot-id b --seq "$s" --start-ns "$(start_of "$s")" --job "dur-$UNIQ" --jobs 8 --runs 6 \
         --windows 6 --queries 20 --statements 5 --latency-sum-s 0.5 --latency-p95-s 0.01 --output "out-$UNIQ" |
       curl -s -H 'Content-Type: application/x-protobuf' --data-binary @- "$URL/v1/batches")
check_eq "replay after crashes: duplicate" "$body" '{"status":"duplicate"}'
kill -TERM "$CPID"; wait "$CPID"; check_eq "final clean stop" "$?" 0
