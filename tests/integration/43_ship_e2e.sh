#!/usr/bin/env bash
# Issue 4 acceptance, end to end: real agent -> real collector -> report.
#  1. report figures equal the agent's JSONL figures; cost = hand computation
#  2. collector down for 30 s in a 60 s workload: every seq exactly once
#  3. kill -9 of the agent while batches are spooled: delivered after restart
#  6. TLS with a test CA works; a wrong CA fails clearly and keeps the spool
#  7. the token never appears in any log
#  8. an empty query's statement (empty fingerprint) is stored, not refused
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../services.sh"
BURN=$HELPERS/jm_burn
U=$UNIQ
TOKEN="tok-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "$TOKEN" > "$T/token"; chmod 600 "$T/token"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
start_collector() {   # start_collector [extra args]
  "$COLLECTOR" --listen 127.0.0.1:$PORT --db "$T/jm.db" --token-file "$T/token" "$@" \
    >>"$T/collector.log" 2>&1 &
  COLL_PID=$!; _bg_pids+=("$COLL_PID")
  for _ in $(seq 1 100); do curl -sk -o /dev/null "${SCHEME:-http}://127.0.0.1:$PORT/healthz" && return 0; sleep 0.05; done
  return 1
}
stop_collector() { kill -TERM "$COLL_PID" 2>/dev/null; wait "$COLL_PID" 2>/dev/null; }
agent_cfg() {         # agent_cfg URL [ca_file]
  cat > "$T/agent.yaml" <<YAML
interval: 1
collector:
  url: $1
  token_file: $T/token
  spool_dir: $T/spool
  timeout_s: 3
${2:+  ca_file: $2}
YAML
}
seqs() { sqlite3 "$T/jm.db" "select seq from batches where agent_id='$(cat "$T/state/agent-id")' order by seq"; }
report_json() { "$REPORT" --db "$T/jm.db" --since 1h --format json > "$T/report.json"; }
mkdir -p "$T/state"

# ---- 1. end to end, with the outage of 2 in the middle ---------------------
start_collector || { fail collector-start "collector did not start"; exit 1; }
agent_cfg "http://127.0.0.1:$PORT/v1/batches"
start_agent "$T/agent.yaml" --state-dir "$T/state" || { fail agent-start "agent not ready"; exit 1; }
head -c $((32 << 20)) /dev/urandom > "$T/in.bin"
JOBMETER_JOB=e2e-cpu-$U $BURN cpu 0.6 2
JOBMETER_JOB=e2e-read-$U dd if="$T/in.bin" of=/dev/null bs=1M status=none
JOBMETER_JOB=e2e-fail-$U $BURN exit 4
pg_start || fail pg-start "PostgreSQL 15 did not start"
JOBMETER_JOB=e2e-emptyq-$U pg_sql -c ' -- ping' -c 'select 1' >/dev/null || fail emptyq "psql failed"
# 60 s workload: one short job a second; the collector is away from 15 s to 45 s.
for i in $(seq 1 60); do
  JOBMETER_JOB=e2e-tick-$U $BURN cpu 0.02
  [ "$i" = 15 ] && stop_collector
  [ "$i" = 45 ] && { start_collector || fail collector-restart "collector did not restart"; }
  sleep 0.9
done
# The shipper backs off exponentially (1 s .. 60 s, full jitter) while the
# collector is away; give it one backoff period to deliver the backlog.
for _ in $(seq 1 140); do
  [ "$(ls "$T/spool"/*.batch 2>/dev/null | wc -l)" -le 1 ] && break; sleep 0.5
done
stop_agent; check_eq "agent exits 0 after draining" "$?" 0
sleep 0.5
s=$(seqs); n=$(echo "$s" | wc -l); first=$(echo "$s" | head -1); last=$(echo "$s" | tail -1)
check_eq "outage: no duplicate seq" "$(echo "$s" | sort -u | wc -l)" "$n"
check_eq "outage: no gap in seq ($first..$last)" "$n" "$((last - first + 1))"
if [ "$n" -ge 55 ]; then pass "outage: all interval batches arrived ($n)"; else fail "outage: all interval batches arrived" "only $n"; fi
check_eq "outage: spool empty after drain" "$(ls "$T/spool"/*.batch 2>/dev/null | wc -l)" 0

report_json
for j in e2e-cpu e2e-read e2e-fail e2e-tick; do
  for f in cpu_s file_read_bytes net_tx_bytes processes mem_gib_s; do
    want=$(jq -s --arg j "$j-$U" --arg f "$f" '[.[] | select(.type=="run" and .job==$j) | .[$f]] | add' "$T/out.jsonl")
    got=$(jq --arg j "$j-$U" --arg f "$f" '.jobs[] | select(.job==$j) | .raw[$f]' "$T/report.json")
    if awk -v a="$got" -v b="$want" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(a!="" && d <= 1e-9*(b<0?-b:b) + 1e-12)}'; then
      pass "report = JSONL: $j $f ($got)"; else fail "report = JSONL: $j $f" "report $got, jsonl $want"; fi
  done
  runs_j=$(jq -s --arg j "$j-$U" '[.[] | select(.type=="run" and .job==$j)] | length' "$T/out.jsonl")
  check_eq "report = JSONL: $j runs" "$(jq --arg j "$j-$U" '.jobs[] | select(.job==$j) | .runs' "$T/report.json")" "$runs_j"
done
# cost by hand from the default price file (printed in the report)
p_cpu=$(jq '.prices.cpu_core_hour' "$T/report.json"); p_mem=$(jq '.prices.memory_gib_hour' "$T/report.json")
p_scan=$(jq '.prices.scan_tib' "$T/report.json"); p_eg=$(jq '.prices.egress_gib' "$T/report.json")
for j in e2e-cpu e2e-read; do
  hand=$(jq -s --arg j "$j-$U" --argjson c "$p_cpu" --argjson m "$p_mem" --argjson s "$p_scan" --argjson e "$p_eg" \
    '[.[] | select(.type=="run" and .job==$j)] | (map(.cpu_s)|add)/3600*$c + (map(.mem_gib_s)|add)/3600*$m
     + (map(.file_read_bytes)|add)/1099511627776*$s + (map(.net_tx_bytes)|add)/1073741824*$e' "$T/out.jsonl")
  got=$(jq --arg j "$j-$U" '.jobs[] | select(.job==$j) | .cost.total' "$T/report.json")
  if awk -v a="$got" -v b="$hand" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(d <= 1e-9*b + 1e-15)}'; then
    pass "cost = hand computation: $j ($got)"; else fail "cost = hand computation: $j" "report $got, hand $hand"; fi
done
check_eq "empty query: no batch refused" "$(ls "$T/spool/rejected" 2>/dev/null | wc -l)" 0
check_eq "empty query: its statement stored with an empty fingerprint" \
  "$(jq -c --arg j "e2e-emptyq-$U" '[.jobs[] | select(.job==$j) | .top_statements[] | .fingerprint] | sort' "$T/report.json")" \
  '["","select ?"]'
check_eq "report: failed run counted" "$(jq --arg j "e2e-fail-$U" '.jobs[] | select(.job==$j) | .failures' "$T/report.json")" 1

# ---- 3. kill -9 of the agent with batches spooled --------------------------
stop_collector
start_agent "$T/agent.yaml" --state-dir "$T/state" || fail agent-restart "agent not ready"
JOBMETER_JOB=e2e-k9-$U $BURN cpu 0.1
sleep 3.5
spooled=$(ls "$T/spool"/*.batch 2>/dev/null | sed 's|.*/0*||; s|\.batch||' | sort -n)
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
if [ -n "$spooled" ]; then pass "kill -9: batches were spooled ($(echo $spooled | wc -w))"; else fail "kill -9: batches were spooled" "spool empty"; fi
start_collector || fail collector-restart2 "collector did not restart"
start_agent "$T/agent.yaml" --state-dir "$T/state" || fail agent-restart2 "agent not ready"
sleep 3
stop_agent
missing=0
for sq in $spooled; do
  [ "$(sqlite3 "$T/jm.db" "select count(*) from batches where seq=$sq and agent_id='$(cat "$T/state/agent-id")'")" = 1 ] || missing=$((missing + 1))
done
check_eq "kill -9: every spooled batch delivered after restart" "$missing" 0
s=$(seqs); check_eq "kill -9: still no duplicate seq" "$(echo "$s" | sort -u | wc -l)" "$(echo "$s" | wc -l)"
stop_collector

# ---- 6. TLS --------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=jm-test-ca" \
  -keyout "$T/ca.key" -out "$T/ca.pem" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$T/srv.key" -out "$T/srv.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\n' > "$T/san.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 1 \
  -extfile "$T/san.ext" -out "$T/srv.pem" >/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=other-ca" \
  -keyout "$T/other.key" -out "$T/other.pem" >/dev/null 2>&1
SCHEME=https start_collector --tls-cert "$T/srv.pem" --tls-key "$T/srv.key" || fail tls-start "TLS collector did not start"
before=$(seqs | wc -l)
agent_cfg "https://127.0.0.1:$PORT/v1/batches" "$T/ca.pem"
start_agent "$T/agent.yaml" --state-dir "$T/state" || fail agent-tls "agent not ready"
JOBMETER_JOB=e2e-tls-$U $BURN cpu 0.05
sleep 2.5; stop_agent
after=$(seqs | wc -l)
if [ "$after" -gt "$before" ]; then pass "tls: batches delivered over HTTPS with the test CA ($((after - before)))";
else fail "tls: batches delivered over HTTPS" "none arrived"; fi
agent_cfg "https://127.0.0.1:$PORT/v1/batches" "$T/other.pem"
start_agent "$T/agent.yaml" --state-dir "$T/state" || fail agent-tls2 "agent not ready"
sleep 2.5; stop_agent
if grep -qi "tls\|certificate" "$T/agent.log"; then pass "tls: wrong CA fails with a clear error ($(grep -i -m1 'tls\|certificate' "$T/agent.log" | cut -c1-90))";
else fail "tls: wrong CA fails with a clear error" "no TLS error in the agent log"; fi
if ls "$T/spool"/*.batch >/dev/null 2>&1; then pass "tls: the batch stays spooled"; else fail "tls: the batch stays spooled" "spool empty"; fi
stop_collector

# ---- 7. the token never reaches a log --------------------------------------
if grep -rqF "$TOKEN" "$T/agent.log" "$T/collector.log" "$T/out.jsonl"; then
  fail "token never logged" "token found in a log"; else pass "token never logged"; fi
