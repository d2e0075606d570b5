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

# ---- 9. the spool's numbering restarts on the same agent and boot ----------
# Same state dir (agent_id) and boot, a new empty spool dir: seq starts at 1
# again, below what the collector has stored.  Each 409 seq conflict carries
# the collector's highest stored seq; the agent advances its numbering past
# it and renumbers the refused batches.  Before, every batch up to the old
# maximum went to rejected/ and the report showed no gap.
port_in_range() {     # a free port in 47200-47299, skipping $1
  local p; for p in $(seq 47200 47299); do
    [ "$p" = "${1:-}" ] && continue
    (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return 0; }
  done; return 1
}
S9=$T/s9; mkdir -p "$S9/state"
P9=$(port_in_range); M9=$(port_in_range "$P9")
"$COLLECTOR" --listen 127.0.0.1:$P9 --db "$S9/jm.db" --token-file "$T/token" >>"$T/collector.log" 2>&1 &
C9=$!; _bg_pids+=("$C9")
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$P9/healthz" && break; sleep 0.05; done
cfg9() { printf 'interval: 1\ncollector:\n  url: http://127.0.0.1:%s/v1/batches\n  token_file: %s\n  spool_dir: %s\n  timeout_s: 3\n' \
           "$P9" "$T/token" "$1" > "$S9/agent.yaml"; }
count9() { sqlite3 "$S9/jm.db" "select count(*) from batches where agent_id='$(cat "$S9/state/agent-id" 2>/dev/null)'"; }
cfg9 "$S9/A"
start_agent "$S9/agent.yaml" --state-dir "$S9/state" || fail seq-restart-start1 "agent not ready"
for _ in $(seq 1 100); do [ "$(count9)" -ge 4 ] && break; sleep 0.2; done
stop_agent; sleep 0.3
n1=$(count9)
if [ "$n1" -ge 4 ]; then pass "seq restart: first run stored $n1 batches"; else fail "seq restart: first run stored batches" "only $n1"; fi
cfg9 "$S9/B"
log_from=$(wc -l < "$T/agent.log")
start_agent "$S9/agent.yaml" --state-dir "$S9/state" --metrics-listen "127.0.0.1:$M9" || fail seq-restart-start2 "agent not ready"
t0=$(date +%s%N)
sleep 6.5
curl -s "http://127.0.0.1:$M9/metrics" > "$S9/metrics.txt"
t1=$(date +%s%N)
stop_agent; sleep 0.5
n2=$(count9); ivals=$(( (t1 - t0) / 1000000000 ))
if [ $((n2 - n1)) -ge $((ivals - 1)) ] && [ $((n2 - n1)) -le $((ivals + 2)) ]; then
  pass "seq restart: every batch of the second run stored ($((n2 - n1)) for $ivals intervals)"
else fail "seq restart: every batch of the second run stored" "$((n2 - n1)) stored for $ivals intervals"; fi
check_eq "seq restart: nothing in B/rejected" "$(ls "$S9/B/rejected" 2>/dev/null | wc -l)" 0
check_eq "seq restart: B drained" "$(ls "$S9/B"/*.batch 2>/dev/null | wc -l)" 0
s=$(sqlite3 "$S9/jm.db" "select seq from batches where agent_id='$(cat "$S9/state/agent-id")' order by seq")
check_eq "seq restart: seqs 1..$n2, no gap, no duplicate" "$(echo "$s" | sort -u | wc -l) $(echo "$s" | tail -1)" "$n2 $n2"
rn=$(awk '$1=="jobmeter_ship_batches_renumbered_total"{print $2}' "$S9/metrics.txt")
if [ -n "$rn" ] && [ "$rn" -ge 1 ]; then pass "seq restart: renumbered counter ($rn)"; else fail "seq restart: renumbered counter" "'$rn'"; fi
check_eq "seq restart: rejected counter" "$(awk '$1=="jobmeter_ship_batches_rejected_total"{print $2}' "$S9/metrics.txt")" 0
line=$(tail -n +"$((log_from + 1))" "$T/agent.log" | grep -m1 "seq conflict: the collector has seqs up to")
if echo "$line" | grep -q "renumbered: seq 1\.\."; then pass "seq restart: recovery logged (${line##*renumbered: })";
else fail "seq restart: recovery logged" "$(tail -n +"$((log_from + 1))" "$T/agent.log" | grep -i conflict | head -3)"; fi
kill -TERM "$C9" 2>/dev/null; wait "$C9" 2>/dev/null

# ---- 6b. credentials in the collector URL never reach the log --------------
URLPW="url-pass-$U"
log_from=$(wc -l < "$T/agent.log")
printf 'interval: 1\ncollector:\n  url: http://etl:%s@127.0.0.1:1/v1/batches?token=%s\n  token_file: %s\n  spool_dir: %s/spool-url\n' \
  "$URLPW" "$URLPW" "$T/token" "$T" > "$T/agent-url.yaml"
mkdir -p "$T/state-url"
start_agent "$T/agent-url.yaml" --state-dir "$T/state-url" || fail agent-url "agent not ready"
stop_agent
newlog=$(tail -n +"$((log_from + 1))" "$T/agent.log")
if grep -qF "$URLPW" <<< "$newlog"; then fail "collector URL credentials never logged" "$(grep -F "$URLPW" <<< "$newlog" | head -2)"
elif grep -qF 'shipping batches to http://***@127.0.0.1:1/v1/batches?***' <<< "$newlog"; then
  pass "collector URL credentials never logged (the URL is, without them)"
else fail "collector URL credentials never logged" "no redacted URL line: $(head -3 <<< "$newlog")"; fi

# ---- 7. the token never reaches a log --------------------------------------
if grep -rqF "$TOKEN" "$T/agent.log" "$T/collector.log" "$T/out.jsonl"; then
  fail "token never logged" "token found in a log"; else pass "token never logged"; fi
