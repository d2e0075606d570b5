#!/usr/bin/env bash
# Prometheus exposition of the real agent: /metrics lints clean with promtool,
# and a real Prometheus server scraping the agent every second ends up with
# the same CPU seconds as the run line of the JSONL output (within 3 %).
source "$(dirname "$0")/../lib.sh"
BURN=$HELPERS/jm_burn
ALERTS=$ROOT/deploy/prometheus/alerts.yaml

# prom_value QUERY -> the value of the first sample of an instant query ("" if none)
prom_value() {
  curl -s --max-time 5 -G "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
    jq -r '.data.result[0].value[1] // empty' 2>/dev/null
}

MPORT=$(free_port) || { fail setup "no free port"; exit 1; }
: > "$T/empty.yaml"
start_agent "$T/empty.yaml" --interval 1 --metrics-listen "127.0.0.1:$MPORT" ||
  { fail agent-start "agent did not become ready"; exit 1; }
M=http://127.0.0.1:$MPORT

check_eq "healthz answers 200" "$(curl -s -o /dev/null -w '%{http_code}' "$M/healthz")" 200

JOB=prom-$UNIQ FAILJOB=promfail-$UNIQ
JOBMETER_JOB=$JOB $BURN cpu 1.5
JOBMETER_JOB=$FAILJOB sh -c 'exit 2'
wait_run "$JOB" || fail run "no run line for $JOB"
wait_run "$FAILJOB" || fail run "no run line for $FAILJOB"
CPU=$(run_field "$JOB" cpu_s)
# The run's last CPU delta reaches the registry with the next window.
sleep 2.5

# --- the exposition itself ---
code=$(curl -s -D "$T/headers" -o "$T/metrics.txt" -w '%{http_code}' "$M/metrics")
check_eq "GET /metrics answers 200" "$code" 200
ctype=$(grep -i '^content-type:' "$T/headers" | tr -d '\r' | cut -d' ' -f2-)
check_eq "content type is text format 0.0.4" "$ctype" "text/plain; version=0.0.4; charset=utf-8"
lint=$(promtool check metrics < "$T/metrics.txt" 2>&1); rc=$?
if [ $rc -eq 0 ] && [ -z "$lint" ]; then pass "promtool check metrics is clean";
else fail "promtool check metrics is clean" "rc=$rc: $(echo "$lint" | head -5)"; fi
check_eq "runs_total success of $JOB" \
  "$(grep -F "jobmeter_job_runs_total{job=\"$JOB\",outcome=\"success\"}" "$T/metrics.txt" | awk '{print $2}')" 1
check_eq "runs_total failure of $FAILJOB" \
  "$(grep -F "jobmeter_job_runs_total{job=\"$FAILJOB\",outcome=\"failure\"}" "$T/metrics.txt" | awk '{print $2}')" 1
check_eq "last_success_timestamp only for the successful job" \
  "$(grep -c -F "jobmeter_job_last_success_timestamp_seconds{job=\"$FAILJOB\"}" "$T/metrics.txt")" 0
scraped=$(grep -F "jobmeter_job_cpu_seconds_total{job=\"$JOB\"}" "$T/metrics.txt" | awk '{print $2}')
check_within "scraped cpu_seconds_total vs JSONL cpu_s" "${scraped:-0}" "$CPU" 3
end_s=$(jq -rs --arg j "$JOB" '[.[] | select(.type=="run" and .job==$j)][0].end_time' "$T/out.jsonl")
end_unix=$(date -d "$end_s" +%s.%N)
got=$(grep -F "jobmeter_job_last_run_timestamp_seconds{job=\"$JOB\"}" "$T/metrics.txt" | awk '{print $2}')
if awk -v a="${got:-0}" -v b="$end_unix" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(d < 0.001)}'; then
  pass "last_run_timestamp = run end_time ($got)"
else fail "last_run_timestamp = run end_time" "got ${got:-none}, JSONL end_time $end_s"; fi
check_eq "POST /metrics is refused" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$M/metrics")" 405

# Every jobmeter_* series the alert rules use exists in a real scrape (the
# output timestamp needs declared outputs; its name is pinned by test_metrics).
missing=""
for name in $(grep -o 'jobmeter_[a-z_]*' "$ALERTS" | sort -u); do
  [ "$name" = jobmeter_job_output_last_write_timestamp_seconds ] && continue
  grep -q "^# TYPE $name " "$T/metrics.txt" || missing="$missing $name"
done
check_eq "alert rules only use exported families" "${missing:-none}" none

# --- a real Prometheus scraping the agent ---
PPORT=$(free_port) || { fail setup "no free port"; exit 1; }
cat > "$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: jobmeter-agent
    honor_labels: true      # keep the agent's job="<jobmeter job>" label
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
EOF
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
  --web.listen-address="127.0.0.1:$PPORT" >"$T/prometheus.log" 2>&1 &
PROM_PID=$!
_bg_pids+=("$PROM_PID")
ready=""
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PPORT/-/ready")" = 200 ] && { ready=1; break; }
  kill -0 "$PROM_PID" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$ready" ]; then
  fail prometheus-start "prometheus not ready: $(tail -n 5 "$T/prometheus.log")"; exit 1
fi
pass "prometheus started on 127.0.0.1:$PPORT"

q="jobmeter_job_cpu_seconds_total{job=\"$JOB\"}"
val=""
for _ in $(seq 1 60); do
  val=$(prom_value "$q")
  [ -n "$val" ] && within "$val" "$CPU" 3 && break
  sleep 0.5
done
check_within "Prometheus $q vs JSONL cpu_s" "${val:-0}" "$CPU" 3
check_within "JSONL cpu_s is the 1.5 s burned" "$CPU" 1.5 3
check_eq "Prometheus sees the target up" "$(prom_value 'up{job="jobmeter-agent"}')" 1
check_eq "Prometheus: failure run of $FAILJOB" \
  "$(prom_value "jobmeter_job_runs_total{job=\"$FAILJOB\",outcome=\"failure\"}")" 1
check_eq "Prometheus: loss counters scraped" \
  "$(prom_value 'count(jobmeter_events_lost_total{job="jobmeter-agent"})')" 8

kill -TERM "$PROM_PID" 2>/dev/null; wait "$PROM_PID" 2>/dev/null

# --- slow clients cannot hold the listener ---
# 16 connections (the limit; 8 a source address, so two addresses) send a
# request a header line every 2 s, which libmicrohttpd's 15-s idle timeout
# never ends.  While they hold every slot a third address gets nothing; the
# 10-s exchange deadline cuts them and /healthz answers again.
cut0=$(curl -s "$M/metrics" | awk '$1 == "jobmeter_metrics_http_cut_total" {print $2}')
python3 - "$MPORT" "$T/slow.status" <<'PY' &
import socket, sys, time
port, status = int(sys.argv[1]), sys.argv[2]
socks = []
for src in ("127.0.0.2", "127.0.0.3"):
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(src, 0))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
open(status, "w").write("%d\n" % len(socks))
end = time.time() + 40
while socks and time.time() < end:
    time.sleep(2)
    for s in list(socks):
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except OSError:
            socks.remove(s)
    open(status, "a").write("%d\n" % len(socks))
PY
SLOW_PID=$!
_bg_pids+=("$SLOW_PID")
for _ in $(seq 1 50); do [ -s "$T/slow.status" ] && break; sleep 0.1; done
t_open=$(date +%s)
sleep 1
check_eq "16 slow connections are open" "$(head -n 1 "$T/slow.status")" 16
held=$(curl -s --interface 127.0.0.4 --max-time 3 -o /dev/null -w '%{http_code}' "$M/healthz")
check_eq "while they hold every slot, /healthz gets no answer" "$held" 000
# By 14 s after they connected (the deadline, the once-a-second sweep and
# slack); they would go on for 40 s.
code=000
while [ $(( $(date +%s) - t_open )) -lt 14 ]; do
  code=$(curl -s --interface 127.0.0.4 --max-time 2 -o /dev/null -w '%{http_code}' "$M/healthz")
  [ "$code" = 200 ] && break
  sleep 0.5
done
check_eq "/healthz answers again once the deadline cut them" "$code" 200
# A client learns of the cut at its second write after it (the first one
# only draws the reset).
for _ in $(seq 1 50); do
  left=$(tail -n 1 "$T/slow.status")
  [ "$left" = 0 ] && break
  sleep 0.2
done
check_eq "the slow clients' connections were all cut" "$left" 0
cut1=$(curl -s "$M/metrics" | awk '$1 == "jobmeter_metrics_http_cut_total" {print $2}')
check_eq "jobmeter_metrics_http_cut_total counts the 16" "$(( ${cut1:-0} - ${cut0:-0} ))" 16
kill "$SLOW_PID" 2>/dev/null; wait "$SLOW_PID" 2>/dev/null

stop_agent; check_eq "agent exits 0 on SIGTERM" "$?" 0
