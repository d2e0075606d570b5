#!/usr/bin/env bash
# The agent's spool on a full disk: a batch that cannot be written takes no
# sequence number, so no gap at the collector would tell; the agent counts
# it (spool_dropped_batches), ships the count with the next batch it can
# write, and the report's completeness shows the agent incomplete.  The
# counters carry over an agent restart (same boot): the collector reads
# them as cumulative, and a reset would hide the loss before it.
source "$(dirname "$0")/../lib.sh"
BURN=$HELPERS/jm_burn
PORT=$(free_port)
TOKEN="tok-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "$TOKEN" > "$T/token"; chmod 600 "$T/token"
mkdir -p "$T/spool" "$T/state"
mount -t tmpfs -o size=2m tmpfs "$T/spool" || { fail tmpfs "cannot mount a tmpfs for the spool"; exit 1; }
unmount() { umount "$T/spool" 2>/dev/null; }
trap 'unmount; cleanup' EXIT

"$COLLECTOR" --listen 127.0.0.1:$PORT --db "$T/jm.db" --token-file "$T/token" >>"$T/collector.log" 2>&1 &
_bg_pids+=("$!")
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.05; done
cat > "$T/agent.yaml" <<YAML
interval: 1
collector:
  url: http://127.0.0.1:$PORT/v1/batches
  token_file: $T/token
  spool_dir: $T/spool
YAML
start_agent "$T/agent.yaml" --state-dir "$T/state" || { fail agent-start "agent not ready"; exit 1; }
JOBMETER_JOB=before-$UNIQ $BURN exit 0
sleep 2.5                                     # shipped while there is room

# The agent logs each batch it could not spool; those that failed before
# taking a seq (a full disk refuses the seq file) say they are counted.  A
# batch file freed by the shipper meanwhile can let a seq through and fail
# the batch's own write (a gap at the collector instead): only the counted
# ones are compared with the counter.
# full_disk SECONDS TAG: fill the disk, run a job a second for SECONDS,
# make room, run one more job (TAG) and wait until the collector has it;
# then stop the agent.
full_disk() {
  dd if=/dev/zero of="$T/spool/fill" bs=64k status=none 2>/dev/null
  for _ in $(seq 1 "$1"); do JOBMETER_JOB=full-$2-$UNIQ $BURN exit 0; sleep 1; done
  sleep 0.5
  rm -f "$T/spool/fill"
  JOBMETER_JOB=$2-$UNIQ $BURN exit 0
  for _ in $(seq 1 100); do
    [ -n "$(sqlite3 "$T/jm.db" "select 1 from runs where job = '$2-$UNIQ'" 2>/dev/null)" ] && break; sleep 0.2
  done
  sleep 1.5
  stop_agent
}
full_disk 3 after
n1=$(jq -s '[.[] | select(.type == "loss") | .total.spool_dropped_batches] | max // 0' "$T/out.jsonl")
check_eq "agent: its loss counters saved in the state directory" \
  "$(awk '$1 == "spool_dropped_batches" {print $2}' "$T/state/loss")" "$n1"

# Restart, then a longer full disk: more drops than before.
mv "$T/out.jsonl" "$T/out1.jsonl"; mv "$T/agent.log" "$T/agent1.log"
start_agent "$T/agent.yaml" --state-dir "$T/state" || { fail agent-restart "agent not ready"; exit 1; }
sleep 1.5
full_disk 6 after2
n2=$(grep -c "batch not spooled.*counted in spool_dropped_batches" "$T/agent.log")
if [ "$n2" -gt "$n1" ]; then pass "restart: more drops the second time ($n2 > $n1)"
else fail "restart: more drops the second time" "$n2 after $n1"; fi
check_eq "restart: the counter goes on from the last run's" \
  "$(jq -s '[.[] | select(.type == "loss") | .total.spool_dropped_batches] | max // 0' "$T/out.jsonl")" \
  "$((n1 + n2))"
cat "$T/agent1.log" >> "$T/agent.log"

# An agent killed (-9) never flushes the interval it holds: the next start
# finds its "running" marker and counts that batch.
mv "$T/out.jsonl" "$T/out2.jsonl"; mv "$T/agent.log" "$T/agent2.log"
start_agent "$T/agent.yaml" --state-dir "$T/state" || { fail agent-restart "agent not ready"; exit 1; }
check_eq "kill -9: the running agent is marked in its state directory" "$(cat "$T/state/running" 2>/dev/null)" "$AGENT_PID"
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
mv "$T/agent.log" "$T/agent3.log"
start_agent "$T/agent.yaml" --state-dir "$T/state" || { fail agent-restart "agent not ready"; exit 1; }
sleep 1.5
stop_agent
check_eq "kill -9: the next start says the last interval was lost" \
  "$(grep -c "ended without a clean stop" "$T/agent.log")" 1
check_eq "kill -9: ... and counts it" \
  "$(jq -s '[.[] | select(.type == "loss") | .total.spool_dropped_batches] | max // 0' "$T/out.jsonl")" \
  "$((n1 + n2 + 1))"
check_eq "a clean stop removes the marker" "$(ls "$T/state/running" 2>/dev/null | wc -l)" 0
cat "$T/agent2.log" "$T/agent3.log" >> "$T/agent.log"

n=$(grep -c "batch not spooled.*counted in spool_dropped_batches" "$T/agent1.log")
check_eq "a clean stop is not counted as a crash" "$(grep -c "ended without a clean stop" "$T/agent2.log")" 0
if [ "$n" -ge 1 ]; then pass "agent: says which batches were not spooled ($n)"
else fail "agent: says which batches were not spooled" "no 'batch not spooled' in its log"; fi
check_eq "agent: each counted in spool_dropped_batches" "$n1" "$n"
check_eq "collector: the run after the disk filled arrived" \
  "$(sqlite3 "$T/jm.db" "select count(*) from runs where job = 'after-$UNIQ'")" 1
"$REPORT" --db "$T/jm.db" --since 1h --format json > "$T/report.json" 2>"$T/report.err"
AG=$(cat "$T/state/agent-id")
check_eq "report: the agent's spool drops are its loss, before and after the restarts" \
  "$(jq -r --arg a "$AG" '.completeness.agents[] | select(.agent_id == $a) | .loss.spool_dropped_batches' "$T/report.json")" "$((n1 + n2 + 1))"
check_eq "report: the agent is not complete" \
  "$(jq -r --arg a "$AG" '.completeness.agents[] | select(.agent_id == $a) | .complete // (.lost == 0 and .seq_gaps == 0)' "$T/report.json")" false
