#!/usr/bin/env bash
# 40_collector_input: hostile and malformed input at the collector's HTTP
# front.  Every refused request must leave the database untouched and the
# collector healthy; a valid batch is stored exactly once; the bearer token
# never reaches the log; /metrics passes promtool.
source "$(dirname "$0")/../lib.sh"

B=$T/batches; mkdir -p "$B"
DB=$T/c.db
TOKEN="tok-$UNIQ-$RANDOM$RANDOM$RANDOM"
printf '%s\n' "$TOKEN" > "$T/token"; chmod 600 "$T/token"
AGENT="agent-$UNIQ"

# start_collector LOG [args...]: port 0 = the kernel picks a free port; the
# collector logs the bound address, which sets URL.
start_collector() {
  local log=$1; shift
  "$COLLECTOR" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
  CPID=$!; _bg_pids+=("$CPID")
  for _ in $(seq 1 100); do
    local a; a=$(grep -o 'listening on [0-9.:]*' "$log" | head -n1 | awk '{print $3}')
    if [ -n "$a" ]; then URL_HOSTPORT=$a; return 0; fi
    kill -0 "$CPID" 2>/dev/null || { cat "$log"; return 1; }
    sleep 0.05
  done
  cat "$log"; return 1
}
count() { sqlite3 "$DB" 'select count(*) from batches'; }
gen() { "$COLLECTOR" gen-batch --agent-id "$AGENT" --boot-id boot-1 "$@"; }

start_collector "$T/coll.log" --db "$DB" --token-file "$T/token" || { fail start "collector did not start"; exit 1; }
URL=http://$URL_HOSTPORT; C1=$CPID
pass "collector started on $URL_HOSTPORT"

# post NAME WANT_CODE [curl args...]: one request; checks the status, that
# the batch count did not move (unless WANT_CODE is 200) and /healthz.
post() {
  local name=$1 want=$2; shift 2
  local before after code
  before=$(count)
  code=$(curl -s -o "$T/resp" -D "$T/hdr" -w '%{http_code}' "$@" "$URL/v1/batches")
  check_eq "$name: status" "$code" "$want"
  after=$(count)
  if [ "$want" != 200 ]; then check_eq "$name: nothing stored" "$after" "$before"; fi
  check_eq "$name: healthz" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" 200
}
PB=(-H 'Content-Type: application/x-protobuf')
AUTH=(-H "Authorization: Bearer $TOKEN")

gen --seq 1 --job "job-$UNIQ" --runs 3 --windows 2 --queries 50 --statements 40 \
    --latency-sum-s 2 --latency-p95-s 0.1 --output "tbl-$UNIQ" > "$B/good.pb"
check_eq "empty database" "$(count)" 0

post "missing token" 401 "${PB[@]}" --data-binary @"$B/good.pb"
grep -q '"reason":"missing bearer token"' "$T/resp" && pass "missing token: reason" || fail "missing token: reason" "$(cat "$T/resp")"
grep -qi '^WWW-Authenticate: Bearer' "$T/hdr" && pass "401 carries WWW-Authenticate" || fail "401 header" "$(cat "$T/hdr")"
post "wrong token (same length)" 401 "${PB[@]}" -H "Authorization: Bearer $(echo "$TOKEN" | tr 'a-z0-9' 'b-z0-9a')" --data-binary @"$B/good.pb"
post "wrong token (prefix)" 401 "${PB[@]}" -H "Authorization: Bearer ${TOKEN:0:8}" --data-binary @"$B/good.pb"
post "wrong scheme" 401 "${PB[@]}" -H "Authorization: Basic $TOKEN" --data-binary @"$B/good.pb"

head -c 2000 /dev/urandom > "$B/garbage"
post "garbage body" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/garbage"
len=$(stat -c %s "$B/good.pb")
head -c $((len / 2)) "$B/good.pb" > "$B/trunc.pb"
post "truncated protobuf" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/trunc.pb"
grep -q 'invalid protobuf' "$T/resp" && pass "truncated: reason invalid protobuf" || fail "truncated: reason" "$(cat "$T/resp")"
post "wrong content type" 415 -H 'Content-Type: text/plain' "${AUTH[@]}" --data-binary @"$B/good.pb"
post "no content type" 415 -H 'Content-Type:' "${AUTH[@]}" --data-binary @"$B/good.pb"
post "unsupported encoding" 415 "${PB[@]}" "${AUTH[@]}" -H 'Content-Encoding: br' --data-binary @"$B/good.pb"
post "gzip label on plain body" 400 "${PB[@]}" "${AUTH[@]}" -H 'Content-Encoding: gzip' --data-binary @"$B/good.pb"

head -c $((5 * 1024 * 1024)) /dev/urandom > "$B/big"
post "oversized body" 413 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/big"
post "oversized body, no Expect" 413 "${PB[@]}" "${AUTH[@]}" -H 'Expect:' --data-binary @"$B/big"
post "oversized chunked body" 413 "${PB[@]}" "${AUTH[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$B/big"

head -c 1G /dev/zero | gzip -9 > "$B/bomb.gz"
echo "bomb: $(stat -c %s "$B/bomb.gz") bytes gzip for 1 GiB"
post "gzip bomb (1 GiB of zeros)" 413 "${PB[@]}" "${AUTH[@]}" -H 'Content-Encoding: gzip' --data-binary @"$B/bomb.gz"
grep -q 'decompressed body too large' "$T/resp" && pass "gzip bomb stopped while inflating" || fail "gzip bomb reason" "$(cat "$T/resp")"
rss_kb=$(awk '/VmHWM/{print $2}' /proc/$C1/status)
[ "$rss_kb" -lt 400000 ] && pass "collector peak RSS after bomb ${rss_kb} KiB < 400 MiB" || fail "bomb memory" "peak RSS $rss_kb KiB"

gen --seq 7 --schema-version 2 > "$B/bad1.pb";          post "schema_version 2" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad1.pb"
gen --seq 0 > "$B/bad2.pb";                              post "seq 0" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad2.pb"
gen --seq 7 --cpu-s nan > "$B/bad3.pb";                  post "cpu_s NaN" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad3.pb"
gen --seq 7 --cpu-s -1 > "$B/bad4.pb";                   post "cpu_s negative" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad4.pb"
gen --seq 7 --mem-gib-s inf > "$B/bad5.pb";              post "mem_gib_s inf" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad5.pb"
# finite, but two of them sum to inf: the job's day and every total over it
# read "-" (unknown cost) in the report for good
gen --seq 7 --runs 2 --cpu-s 1e308 > "$B/bad5b.pb";      post "cpu_s 1e308" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad5b.pb"
grep -q 'cpu_s: out of range (1e+308, max 1e+15)' "$T/resp" && pass "cpu_s 1e308: reason" || fail "cpu_s 1e308 reason" "$(cat "$T/resp")"
gen --seq 7 --start-ns 9000000000000000000 > "$B/bad6.pb"; post "time in year 2255" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad6.pb"
gen --seq 7 --start-ns 5609500000000000000 > "$B/bad6b.pb"; post "window in 2147 (clock ahead): retry later" 425 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad6b.pb"
grep -q 'ends in the future' "$T/resp" && pass "clock ahead: reason" || fail "clock ahead reason" "$(cat "$T/resp")"
gen --seq 7 --start-ns 31536000000000000 > "$B/bad6c.pb"; post "window in 1971 (clock reset)" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad6c.pb"
grep -q 'ends before 2000' "$T/resp" && pass "clock reset: reason" || fail "clock reset reason" "$(cat "$T/resp")"
# Starts are judged like ends: a run of 31.7 years (from 1995 to now) or a
# window from 1971 to now comes from a clock just as wrong.
gen --seq 7 --duration-s 1000000000 > "$B/bad6d.pb"; post "run starting in 1995 (clock reset)" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad6d.pb"
grep -q 'a run starts before 2000 (runs\[0\].start_unix_ns' "$T/resp" && pass "run start before 2000: reason" || fail "run start reason" "$(cat "$T/resp")"
gen --seq 7 --start-ns 31536000000000000 --interval-s $(( $(date +%s) - 31536000 - 60 )) --runs 0 --no-host > "$B/bad6e.pb"
post "window from 1971 to now (clock reset)" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad6e.pb"
grep -q 'the batch window starts before 2000 (window_start_unix_ns' "$T/resp" && pass "window start before 2000: reason" || fail "window start reason" "$(cat "$T/resp")"
gen --seq 7 --outcome 9 > "$B/bad7.pb";                  post "unknown outcome" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad7.pb"
gen --seq 7 --file-read-bytes 18446744073709551615 > "$B/bad8.pb"; post "counter above int64" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad8.pb"
gen --seq 7 --jobs 101 --runs 50 --windows 50 > "$B/bad9.pb"; post "10100 runs+windows" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad9.pb"
"$COLLECTOR" gen-batch --agent-id "" --seq 7 > "$B/bad10.pb"; post "empty agent id" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad10.pb"
gen --seq 7 --queries 10 --statements 2 --stmt-latency-p95-s nan > "$B/bad11.pb"; post "statement p95 NaN" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad11.pb"
grep -q 'latency_p50_s' "$T/resp" && pass "statement p95 NaN: the field is named" || fail "statement NaN reason" "$(cat "$T/resp")"
gen --seq 7 --queries 10 --statements 2 --stmt-latency-p95-s -0.5 > "$B/bad12.pb"; post "statement p95 negative" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/bad12.pb"
gen --seq 7 --runs 1 --windows 0 --long-string 1048576 > "$B/long.pb"
post "1 MiB job name" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/long.pb"
grep -q 'too long' "$T/resp" && pass "1 MiB string: reason" || fail "1 MiB string reason" "$(cat "$T/resp")"
# Two Batches concatenated decode as one (protobuf merges them) with every
# run and window twice: stored, each job's usage would count double.
invalid_batches() { curl -s "$URL/metrics" | awk '$1 == "jobmeter_collector_rejected_requests_total{reason=\"invalid_batch\"}" {print $2}'; }
cat "$B/good.pb" "$B/good.pb" > "$B/doubled.pb"
n0=$(invalid_batches)
post "every run and window twice" 400 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/doubled.pb"
grep -q '"reason":"runs\[3\]: duplicates runs\[0\] (same job, run_id, start and end)"' "$T/resp" \
  && pass "doubled records: reason" || fail "doubled records reason" "$(cat "$T/resp")"
check_eq "doubled records: counted as invalid_batch" "$(invalid_batches)" "$((n0 + 1))"

# Requests libmicrohttpd refuses or loses on its own (the collector never
# sees them): each is logged by it, so any client could write a line per
# connection into the collector's log (2000 connections closed mid-request
# made 2000 lines); they are counted in /metrics and their log lines capped.
http_errors() { curl -s "$URL/metrics" | awk '$1 == "jobmeter_collector_http_errors_total" {print $2}'; }
e0=$(http_errors); l0=$(wc -l < "$T/coll.log")
python3 - "${URL#http://}" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(':', 1)
for i in range(300):   # headers cut off: the client goes away mid-request
    s = socket.create_connection((host, int(port))); s.sendall(b'POST /v1/batches HTTP/1.1\r\nHost: x\r\n'); s.close()
s = socket.create_connection((host, int(port)))   # a header too large: 431 from libmicrohttpd
s.sendall(b'POST /v1/batches HTTP/1.1\r\nHost: x\r\nX-Pad: ' + b'a' * 100000 + b'\r\nContent-Length: 0\r\n\r\n')
print(s.recv(100).split(b'\r\n')[0].decode()); s.close()
PY
sleep 0.5
e1=$(http_errors); l1=$(wc -l < "$T/coll.log")
check_range "HTTP-layer refusals counted in /metrics" "$(( ${e1:-0} - ${e0:-0} ))" 301 400
check_range "... and their log lines capped (10 a minute)" "$((l1 - l0))" 0 12
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/batches");   check_eq "GET /v1/batches" "$code" 405
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope");         check_eq "unknown path" "$code" 404

post "valid batch" 200 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/good.pb"
grep -q '"status":"stored"' "$T/resp" && pass "valid batch: stored" || fail "valid batch body" "$(cat "$T/resp")"
check_eq "valid batch: count" "$(count)" 1
check_eq "valid batch: runs stored" "$(sqlite3 "$DB" "select count(*) from runs where job='job-$UNIQ'")" 3
post "replay" 200 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/good.pb"
grep -q '"status":"duplicate"' "$T/resp" && pass "replay: duplicate" || fail "replay body" "$(cat "$T/resp")"
check_eq "replay: count unchanged" "$(count)" 1
check_eq "replay: runs unchanged" "$(sqlite3 "$DB" "select count(*) from runs where job='job-$UNIQ'")" 3
# seq 1 again from a restarted seq (new spool_dir, deleted seq file): another
# window, so not a retry -- 409, nothing stored, counted (was 200 "duplicate")
gen --seq 1 --job "reused-$UNIQ" --start-ns 1700000000000000000 > "$B/reused.pb"
post "reused seq, another batch" 409 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/reused.pb"
grep -q 'stored already for another window' "$T/resp" && pass "reused seq: reason" || fail "reused seq body" "$(cat "$T/resp")"
# the highest seq stored for the agent, for the agent to renumber past it
check_eq "reused seq: stored_max_seq in the body" "$(jq -r .stored_max_seq "$T/resp")" 1
check_eq "reused seq: its runs not stored" "$(sqlite3 "$DB" "select count(*) from runs where job='reused-$UNIQ'")" 0

gen --seq 2 --job "job-$UNIQ" > "$B/s2.pb"; gzip -c "$B/s2.pb" > "$B/s2.gz"
post "gzip batch" 200 "${PB[@]}" "${AUTH[@]}" -H 'Content-Encoding: gzip' --data-binary @"$B/s2.gz"
check_eq "gzip batch: count" "$(count)" 2
gen --seq 5 --job "job-$UNIQ" > "$B/s5.pb"
post "seq 5 after 2" 200 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/s5.pb"

curl -s "$URL/metrics" > "$T/metrics.txt"
if promtool check metrics < "$T/metrics.txt" > "$T/promtool.out" 2>&1; then pass "promtool check metrics"
else fail "promtool check metrics" "$(cat "$T/promtool.out")"; fi
m() { awk -v k="$1" '$1==k{print $2}' "$T/metrics.txt"; }
check_eq "metric batches stored" "$(m jobmeter_collector_batches_stored_total)" 3
check_eq "metric duplicates" "$(m jobmeter_collector_batches_duplicate_total)" 1
check_eq "metric rejected seq_conflict" "$(m 'jobmeter_collector_rejected_requests_total{reason="seq_conflict"}')" 1
check_eq "metric rejected unauthorized" "$(m 'jobmeter_collector_rejected_requests_total{reason="unauthorized"}')" 4
check_eq "metric rejected decompressed" "$(m 'jobmeter_collector_rejected_requests_total{reason="decompressed_too_large"}')" 1
check_eq "metric seq gaps for agent" "$(m "jobmeter_collector_agent_seq_gaps_total{agent_id=\"$AGENT\"}")" 2
last=$(m "jobmeter_collector_agent_last_batch_timestamp_seconds{agent_id=\"$AGENT\"}")
check_within "metric last batch time is now" "${last:-0}" "$(date +%s)" 0.001

# Content-Length headers that disagree (RFC 9112 6.3: the message is
# invalid).  libmicrohttpd went by the first and parsed the rest of the body
# as the next request on the connection: a request smuggled past a proxy
# that goes by the last one.  Refused at once -- 400, Connection: close,
# counted as invalid_framing --, none of the body read as a request, nothing
# stored, the connection closed.  The same value twice is one length: taken.
# Transfer-Encoding with a Content-Length (RFC 9112 6.1: the server MUST
# close the connection after answering): libmicrohttpd went by the chunks
# and answered the request after the last one too; refused the same way.
framing() { curl -s "$URL/metrics" | awk '$1 == "jobmeter_collector_rejected_requests_total{reason=\"invalid_framing\"}" {print $2}'; }
"$COLLECTOR" gen-batch --agent-id "$AGENT-cl" --seq 1 --job "cl-$UNIQ" > "$B/cl-same.pb"
"$COLLECTOR" gen-batch --agent-id "$AGENT-cl" --seq 2 --job "cl-$UNIQ" > "$B/cl-two.pb"
f0=$(framing)
python3 - "${URL#http://}" "$TOKEN" "$B/cl-two.pb" "$B/cl-same.pb" > "$T/framing.out" <<'PY2'
import socket, sys
host, port = sys.argv[1].rsplit(':', 1)
tok = sys.argv[2].encode()
two, same = open(sys.argv[3], 'rb').read(), open(sys.argv[4], 'rb').read()
def exchange(name, lengths, body, te=b''):
    s = socket.create_connection((host, int(port))); s.settimeout(3)
    s.sendall(b'POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n'
              b'Authorization: Bearer ' + tok + b'\r\n' + te +
              b''.join(b'Content-Length: %d\r\n' % n for n in lengths) + b'\r\n' + body)
    out, conn = b'', 'open'
    try:
        while True:
            d = s.recv(65536)
            if not d:
                conn = 'closed'; break
            out += d
    except socket.timeout:
        pass
    s.close()
    status = out.split(b' ', 2)[1].decode() if out.startswith(b'HTTP/1.1 ') else '-'
    reason = (b'Transfer-Encoding together with Content-Length' if te else
              b'Content-Length headers with different values') in out
    print(name, status, out.count(b'HTTP/1.1 '), conn, 'reason' if reason else 'no-reason')
inner = b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'
exchange('smuggle', [0, len(inner)], inner)      # by the first: no body, then a GET
exchange('batch', [len(two), 0], two)            # by the first: a batch; by the last: none
exchange('same', [len(same), len(same)], same)   # one length, given twice
chunks = b'0\r\n\r\n'                                # by the chunks: no body, then a GET
exchange('te', [len(chunks) + len(inner)], chunks + inner, b'Transfer-Encoding: chunked\r\n')
PY2
read -r _ st n conn why < <(grep '^smuggle ' "$T/framing.out")
check_eq "two Content-Length (0, then a request's length): 400" "$st" 400
check_eq "... one answer: the body is not read as a request" "$n" 1
check_eq "... the connection closed after it" "$conn" closed
check_eq "... the reason says why" "$why" reason
read -r _ st n conn why < <(grep '^batch ' "$T/framing.out")
check_eq "two Content-Length (the batch's, then 0): 400" "$st" 400
check_eq "... the connection closed after it" "$conn" closed
check_eq "... the batch not stored" "$(sqlite3 "$DB" "select count(*) from batches where agent_id = '$AGENT-cl' and seq = 2")" 0
read -r _ st n conn why < <(grep '^same ' "$T/framing.out")
check_eq "the same Content-Length twice: 200" "$st" 200
check_eq "... stored once" "$(sqlite3 "$DB" "select count(*) from batches where agent_id = '$AGENT-cl' and seq = 1")" 1
read -r _ st n conn why < <(grep '^te ' "$T/framing.out")
check_eq "Transfer-Encoding with a Content-Length: 400" "$st" 400
check_eq "... one answer: what follows the chunks is not read as a request" "$n" 1
check_eq "... the connection closed after it" "$conn" closed
check_eq "... the reason says why" "$why" reason
check_eq "the three refusals counted as invalid_framing" "$(framing)" "$(( ${f0:-0} + 3 ))"
check_eq "healthz after the framing refusals" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" 200

gen --seq 6 --job "pct-$UNIQ" --queries 10 --statements 2 --stmt-latency-p95-s 0.2 > "$B/s6.pb"
post "statement percentiles" 200 "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/s6.pb"
check_eq "statement percentiles stored as sent" "$(sqlite3 "$DB" "select distinct round(s.latency_p50_s, 6)
  || ' ' || round(s.latency_p95_s, 6) || ' ' || round(s.latency_p99_s, 6) from statements s
  join db_stats d on d.id = s.db_stats_id where d.job = 'pct-$UNIQ'")" "0.1 0.2 0.3"

# Too many concurrent uploads: one slow upload holds the only slot.
start_collector "$T/coll2.log" --db "$T/c2.db" --max-ingest 1 || fail start2 "second collector"
URL2=http://$URL_HOSTPORT; C2=$CPID
head -c 400000 /dev/urandom > "$B/slow"
curl -s -o /dev/null --limit-rate 40K -H 'Expect:' "${PB[@]}" --data-binary @"$B/slow" "$URL2/v1/batches" &
SLOW=$!; _bg_pids+=("$SLOW"); sleep 1
code=$(curl -s -o "$T/resp" -D "$T/hdr" -w '%{http_code}' "${PB[@]}" --data-binary @"$B/s2.pb" "$URL2/v1/batches")
check_eq "second concurrent upload: 503" "$code" 503
grep -qi '^Retry-After: 5' "$T/hdr" && pass "503 carries Retry-After" || fail "Retry-After" "$(cat "$T/hdr")"
kill "$SLOW" 2>/dev/null; wait "$SLOW" 2>/dev/null

# Slow clients from one address hold at most --max-per-ip connections: the
# third from 127.0.0.2 is refused at once (counted), while another address's
# batch is stored next to the two held ones.  Without the limit, 32 clients
# dripping a body byte a second held every ingest slot (503 for everyone).
start_collector "$T/coll6.log" --db "$T/c6.db" --max-per-ip 2 || fail start6 "per-ip collector"
URL6=http://$URL_HOSTPORT; C6=$CPID
read -r held third other < <(python3 - "$URL_HOSTPORT" "$B/s2.pb" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(':', 1)
body = open(sys.argv[2], 'rb').read()
def conn(src):
    s = socket.socket(); s.bind((src, 0)); s.settimeout(5)
    s.connect((host, int(port))); return s
held = [conn('127.0.0.2') for _ in range(2)]
for s in held:                       # headers sent, body one byte so far
    s.sendall(b'POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n'
              b'Content-Length: %d\r\n\r\n' % len(body) + body[:1])
time.sleep(0.3)
t = conn('127.0.0.2')
try:
    t.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    r = t.recv(100)
    third = 'answered' if r else 'refused'
except OSError:
    third = 'refused'
o = conn('127.0.0.1')
o.sendall(b'POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n'
          b'Content-Length: %d\r\nConnection: close\r\n\r\n' % len(body) + body)
other = o.recv(100).split(b'\r\n')[0].decode().split(' ')[1]
alive = 0
for s in held:                       # still open: finish their bodies
    try:
        s.sendall(body[1:]); alive += bool(s.recv(100))
    except OSError:
        pass
print(alive, third, other)
PY
)
check_eq "--max-per-ip 2: two slow clients of one address held" "$held" 2
check_eq "--max-per-ip 2: its third connection refused" "$third" refused
check_eq "--max-per-ip 2: another address's batch stored meanwhile" "$other" 200
check_range "--max-per-ip 2: the refusal counted in http_errors" \
  "$(curl -s "$URL6/metrics" | awk '$1 == "jobmeter_collector_http_errors_total" {print $2}')" 1 1
kill "$C6"; wait "$C6" 2>/dev/null

# A full disk answers 503 + Retry-After, never 200 without a commit.
mkdir -p "$T/small"
if mount -t tmpfs -o size=3m tmpfs "$T/small" 2>/dev/null; then
  trap 'umount "$T/small" 2>/dev/null; cleanup' EXIT
  kill "$C2"; wait "$C2" 2>/dev/null
  start_collector "$T/coll3.log" --db "$T/small/full.db" || fail start3 "third collector"
  URL3=http://$URL_HOSTPORT; C3=$CPID
  ok=0; full=0
  for s in $(seq 1 60); do
    gen --seq "$s" --jobs 20 --runs 20 --windows 20 > "$B/f.pb"
    code=$(curl -s -o "$T/resp" -D "$T/hdr" -w '%{http_code}' "${PB[@]}" --data-binary @"$B/f.pb" "$URL3/v1/batches")
    if [ "$code" = 200 ]; then ok=$((ok + 1)); elif [ "$code" = 503 ]; then full=1; break; else break; fi
  done
  check_eq "full disk: 503" "$code" 503
  grep -qi '^Retry-After: 5' "$T/hdr" && pass "full disk: Retry-After" || fail "full disk Retry-After" "$(cat "$T/hdr")"
  grep -q 'storage unavailable' "$T/resp" && pass "full disk: reason" || fail "full disk reason" "$(cat "$T/resp")"
  check_eq "full disk: every 200 committed" "$(sqlite3 "$T/small/full.db" 'select count(*) from batches')" "$ok"
  kill "$C3"; wait "$C3" 2>/dev/null
  umount "$T/small"
else
  fail "full disk" "cannot mount a tmpfs here"
fi

# The database file removed under a running collector: unhealthy, and no
# batch is acknowledged into the orphaned file.
start_collector "$T/coll5.log" --db "$T/gone.db" || fail start5 "collector on gone.db"
URL5=http://$URL_HOSTPORT; C5=$CPID
check_eq "healthz before removal" "$(curl -s -o /dev/null -w '%{http_code}' "$URL5/healthz")" 200
rm -f "$T/gone.db"
check_eq "healthz after the database file was removed" "$(curl -s -o /dev/null -w '%{http_code}' "$URL5/healthz")" 503
code=$(curl -s -o "$T/resp" -D "$T/hdr" -w '%{http_code}' "${PB[@]}" --data-binary @"$B/s2.pb" "$URL5/v1/batches")
check_eq "batch into a removed database file: 503" "$code" 503
grep -q 'removed or replaced' "$T/resp" && pass "removed database: reason" || fail "removed db reason" "$(cat "$T/resp")"
kill "$C5"; wait "$C5" 2>/dev/null

# TLS
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1
start_collector "$T/coll4.log" --db "$T/c4.db" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --token-file "$T/token" \
  || fail start4 "TLS collector"
C4=$CPID
code=$(curl -s -o "$T/resp" -w '%{http_code}' --cacert "$T/cert.pem" "${PB[@]}" "${AUTH[@]}" --data-binary @"$B/good.pb" "https://$URL_HOSTPORT/v1/batches")
check_eq "TLS: valid batch" "$code" 200
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$URL_HOSTPORT/healthz")
[ "$code" != 200 ] && pass "TLS: plain HTTP refused ($code)" || fail "TLS plain" "plain HTTP answered 200"
kill -TERM "$C4"; wait "$C4"; check_eq "TLS collector: clean exit" "$?" 0

# Start-up errors are clear and fatal.
"$COLLECTOR" --listen "${URL#http://}" --db "$T/c5.db" > "$T/bind.log" 2>&1; rc=$?
[ "$rc" -ne 0 ] && grep -q 'cannot bind' "$T/bind.log" && pass "port in use: clear error" || fail "port in use" "rc=$rc $(cat "$T/bind.log")"
"$COLLECTOR" --listen 127.0.0.1:0 --db /nonexistent/dir/x.db > "$T/db.log" 2>&1; rc=$?
[ "$rc" -ne 0 ] && grep -q 'cannot open database' "$T/db.log" && pass "bad db path: clear error" || fail "bad db" "rc=$rc $(cat "$T/db.log")"
echo "not a database at all, just text padding padding padding padding padding padding" > "$T/notdb"
"$COLLECTOR" --listen 127.0.0.1:0 --db "$T/notdb" > "$T/db2.log" 2>&1; rc=$?
[ "$rc" -ne 0 ] && grep -q 'cannot open database' "$T/db2.log" && pass "not a database: clear error" || fail "not a db" "rc=$rc $(cat "$T/db2.log")"

# SIGTERM while a batch is still uploading: the collector stops accepting,
# lets that request finish (200, stored), then exits 0.
gen --seq 9 --job "slow-$UNIQ" --jobs 40 --runs 20 --windows 5 > "$B/slowgood.pb"
curl -s -o "$T/slow.resp" -w '%{http_code}' --limit-rate 30K -H 'Expect:' "${PB[@]}" "${AUTH[@]}" \
  --data-binary @"$B/slowgood.pb" "$URL/v1/batches" > "$T/slow.code" &
SLOWC=$!
sleep 0.7
kill -TERM "$C1"
wait "$SLOWC"
check_eq "SIGTERM mid-upload: upload answered 200 ($(stat -c %s "$B/slowgood.pb") bytes at 30 KB/s)" "$(cat "$T/slow.code")" 200
wait "$C1"; check_eq "SIGTERM: exit status" "$?" 0
check_eq "SIGTERM mid-upload: batch stored" "$(sqlite3 "$DB" "select count(*) from batches where seq = 9")" 1
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")
[ "$code" = 000 ] && pass "stopped collector accepts nothing" || fail "after stop" "answered $code"
# Nothing secret in any log.
for p in "${_bg_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
wait 2>/dev/null
check_eq "integrity after all that" "$(sqlite3 "$DB" 'pragma integrity_check')" ok
if grep -q -- "$TOKEN" "$T"/*.log; then fail "token never logged" "token found in a log"; else pass "token never logged"; fi
grep -q 'stopped' "$T/coll.log" && pass "SIGTERM: clean stop logged" || fail "SIGTERM" "$(tail -3 "$T/coll.log")"
