#!/usr/bin/env bash
# 42_report: a database built by the collector from generated batches with
# known figures; jobmeter-report in every format.  JSON figures and costs
# against a hand computation (awk) and the stored rows (sqlite3), CSV parsed
# by SQLite's own importer, Markdown table shape, text width, and the HTML
# rendered by headless Chromium (non-blank screenshot, names escaped, no
# external assets).
source "$(dirname "$0")/../lib.sh"

DB=$T/r.db
A="etl-$UNIQ"
W="load,\"q\" <i>$UNIQ</i>"          # a name that needs CSV quoting and HTML escaping
AGENT="rep-$UNIQ"
NOW=$(date +%s)
START=$(( (NOW - 7200) * 1000000000 ))

"$COLLECTOR" --listen 127.0.0.1:0 --db "$DB" >"$T/coll.log" 2>&1 &
CPID=$!; _bg_pids+=("$CPID")
for _ in $(seq 1 100); do grep -q 'listening on' "$T/coll.log" && break; sleep 0.05; done
URL=http://$(grep -o 'listening on [0-9.:]*' "$T/coll.log" | awk '{print $3}')

post() {
  "$COLLECTOR" gen-batch --agent-id "$AGENT" --boot-id b "$@" |
    curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-protobuf' --data-binary @- "$URL/v1/batches"
}
# Batch 1: 4 runs of A (every 4th fails), 3 statements, an output table.
c1=$(post --seq 1 --start-ns "$START" --job "$A" --runs 4 --windows 2 --cpu-s 90.25 --mem-gib-s 7200 \
      --file-read-bytes 500000000000 --net-tx-bytes 3000000000 --peak-rss-bytes 2000000000 --duration-s 120 \
      --fail-every 4 --queries 100 --query-errors 5 --latency-sum-s 2 --latency-p95-s 0.3 --statements 3 \
      --output "tbl-$UNIQ" --cpu-cores 8 --mem-total-bytes 34359738368)
# Batch 2: 2 more runs of A with latency histograms, 1 hour later.
c2=$(post --seq 2 --start-ns $((START + 3600000000000)) --job "$A" --runs 2 --windows 1 --cpu-s 30.5 \
      --mem-gib-s 100 --file-read-bytes 1000000 --duration-s 60 --queries 10 --latency-sum-s 0.1 \
      --latency-p95-s 0.01 --latency-buckets 31:6,35:4 --cpu-cores 8 --mem-total-bytes 34359738368)
# Batch 3: the awkward name.
c3=$(post --seq 3 --start-ns $((START + 3600000000000)) --job "$W" --runs 1 --windows 1 --cpu-s 10 \
      --duration-s 5 --output "files/$UNIQ.csv" --output-kind file --no-host)
check_eq "batches stored" "$c1$c2$c3" 200200200

R=("$REPORT" --db "$DB" --from "$(( NOW - 3 * 3600 ))" --to "$(( NOW + 60 ))")
"${R[@]}" --format json --out "$T/r.json"; check_eq "json: exit 0" "$?" 0
jq -e . "$T/r.json" >/dev/null && pass "json parses" || fail "json parses" "jq refused it"
j() { jq -r --arg j "$1" ".jobs[] | select(.job == \$j) | $2" "$T/r.json"; }
# Daily figures are whole UTC days: JSON says where the first one starts.
check_eq "json: daily_from is the midnight of --from's day" "$(jq -r .daily_from "$T/r.json")" \
  "$(date -u -d "@$(( (NOW - 3 * 3600) / 86400 * 86400 ))" +%Y-%m-%dT%H:%M:%SZ)"

# Hand computation of A from the generator's figures.
read -r hand_cpu hand_mem hand_read hand_tx hand_total <<<"$(awk 'BEGIN {
  cpu = 4 * 90.25 + 2 * 30.5; mem = 4 * 7200 + 2 * 100; rd = 4 * 500000000000 + 2 * 1000000; tx = 4 * 3000000000
  c = cpu / 3600 * 0.031611 + mem / 3600 * 0.004237 + rd / 2^40 * 5 + tx / 2^30 * 0.09
  printf "%.17g %.17g %.17g %.17g %.17g\n", cpu, mem, rd, tx, c }')"
check_eq "A runs" "$(j "$A" .runs)" 6
check_eq "A successes (every 4th of batch 1 fails)" "$(j "$A" .successes)" 5
check_within "A cpu_s = hand" "$(j "$A" .raw.cpu_s)" "$hand_cpu" 0.0000000001
check_within "A mem_gib_s = hand" "$(j "$A" .raw.mem_gib_s)" "$hand_mem" 0.0000000001
check_eq "A file_read_bytes = hand" "$(j "$A" .raw.file_read_bytes)" "$(printf %.0f "$hand_read")"
check_eq "A net_tx_bytes = hand" "$(j "$A" .raw.net_tx_bytes)" "$(printf %.0f "$hand_tx")"
check_within "A cost = hand" "$(j "$A" .cost.total)" "$hand_total" 0.0000000001
check_eq "A peak RSS" "$(j "$A" .raw.peak_rss_bytes)" 2000000000
check_eq "A queries" "$(j "$A" .raw.queries)" 420
# Raw figures are exactly the sums of the stored run rows.
db_cpu=$(sqlite3 "$DB" "select printf('%.17g', sum(cpu_s)) from runs where job = '$A'")
awk -v a="$(j "$A" .raw.cpu_s)" -v b="$db_cpu" 'BEGIN { exit !(a == b) }' \
  && pass "A cpu_s equals the stored rows' sum ($db_cpu)" || fail "A cpu_s vs rows" "$(j "$A" .raw.cpu_s) vs $db_cpu"
check_eq "A file_read_bytes equals the stored rows" "$(j "$A" .raw.file_read_bytes)" \
  "$(sqlite3 "$DB" "select sum(file_read_bytes) from runs where job = '$A'")"
# Durations: 4 x 120 s and 2 x 60 s -> p50 = 120, p95 = 120.
check_eq "A p50 duration" "$(j "$A" .duration_p50_s)" 120
check_eq "A p95 query latency comes from histograms" "$(j "$A" .query_p95_source)" histogram
check_eq "A top statements" "$(j "$A" '.top_statements | length')" 3
check_eq "A top statement by total time" "$(j "$A" '.top_statements[0].fingerprint')" "SELECT * FROM t2 WHERE id = ?"
check_eq "awkward name survives JSON" "$(j "$W" .runs)" 1
check_eq "prices printed in JSON" "$(jq -r '.prices.cpu_core_hour' "$T/r.json")" 0.031611
# data completeness: the agent's batches stored in the period, as sqlite3 counts them
check_eq "completeness: batches of the agent" \
  "$(jq -r --arg a "$AGENT" '.completeness.agents[] | select(.agent_id == $a) | .batches' "$T/r.json")" \
  "$(sqlite3 "$DB" "select count(*) from batches where agent_id = '$AGENT' and window_end_ns >= $(( NOW - 3 * 3600 ))000000000 and window_end_ns < $(( NOW + 60 ))000000000")"
check_eq "completeness: seq gaps and loss are numbers" \
  "$(jq -r --arg a "$AGENT" '.completeness.agents[] | select(.agent_id == $a) | [.seq_gaps, .lost] | map(type) | join(",")' "$T/r.json")" "number,number"
check_eq "dataset of A" "$(jq -r --arg n "tbl-$UNIQ" '.datasets[] | select(.name == $n) | .job' "$T/r.json")" "$A"
idle=$(jq -r '.idle.cost.total' "$T/r.json")
awk -v i="$idle" 'BEGIN { exit !(i > 0) }' && pass "idle cost shown ($idle)" || fail "idle cost" "$idle"

# Another price file re-prices the same history.
printf 'cpu_core_hour: 1\nmemory_gib_hour: 0\nscan_tib: 0\negress_gib: 0\n' > "$T/prices.yaml"
"${R[@]}" --format json --prices "$T/prices.yaml" --out "$T/r2.json"
check_within "custom prices: cost = cpu hours" "$(jq -r --arg j "$A" '.jobs[] | select(.job == $j) | .cost.total' "$T/r2.json")" \
  "$(awk -v c="$hand_cpu" 'BEGIN { printf "%.17g", c / 3600 }')" 0.0000000001

# SLOs: 5 of 6 runs succeeded against 0.99.
printf '"*":\n  success_rate: 0.99\n  freshness_max_age: 26h\n' > "$T/slos.yaml"
"${R[@]}" --format json --slos "$T/slos.yaml" --out "$T/r3.json"
check_eq "SLO success_rate missed" "$(jq -r --arg j "$A" '.jobs[] | select(.job == $j) | .slo.success_rate.status' "$T/r3.json")" missed
# error budget remaining = 1 - (1/6)/(1 - 0.99): check its spent part, positive.
spent=$(jq -r --arg j "$A" '.jobs[] | select(.job == $j) | 1 - .slo.success_rate.error_budget_remaining' "$T/r3.json")
check_within "SLO budget spent = (1/6)/0.01" "$spent" "$(awk 'BEGIN { printf "%.17g", (1/6) / 0.01 }')" 0.0000001
check_eq "SLO freshness met" "$(jq -r --arg j "$A" '.jobs[] | select(.job == $j) | .slo.freshness_max_age.status' "$T/r3.json")" met

# CSV: SQLite's importer is the independent RFC 4180 parser.
"${R[@]}" --format csv --out "$T/r.csv"
sqlite3 "$T/csv.db" ".import --csv $T/r.csv rep"
check_eq "csv: rows (jobs + __idle__)" "$(sqlite3 "$T/csv.db" 'select count(*) from rep')" 3
check_eq "csv: the record column tells job records from the idle one" \
  "$(sqlite3 "$T/csv.db" "select group_concat(job || '=' || record, ' ') from rep where job = '__idle__' or record = 'idle'")" \
  "__idle__=idle"
check_eq "csv: awkward name round-trips" "$(sqlite3 "$T/csv.db" "select job from rep where runs = '1'")" "$W"
check_within "csv: cost equals JSON" "$(sqlite3 "$T/csv.db" "select cost_total from rep where job = '$A'")" \
  "$(j "$A" .cost.total)" 0.0000000001
check_eq "csv: prices on every row" "$(sqlite3 "$T/csv.db" "select count(*) from rep where price_cpu_core_hour = '0.031611'")" 3
grep -q $'\r$' "$T/r.csv" && pass "csv: CRLF records" || fail "csv CRLF" "no CRLF"

# Markdown: every table line has the header's number of cells.
"${R[@]}" --format md --out "$T/r.md"
bad=$(awk '/^\|/ { n = gsub(/[^\\]\|/, "&"); if (!intable) { want = n; intable = 1 } else if (n != want) bad++ }
           !/^\|/ { intable = 0 } END { print bad + 0 }' "$T/r.md")
check_eq "md: table rows match their header" "$bad" 0
grep -Eq '^\|( ---:? \|)+$' "$T/r.md" && pass "md: separator rows" || fail "md separator" "none found"
tables=$(grep -c '^| JOB |' "$T/r.md"); [ "$tables" -ge 5 ] && pass "md: $tables job tables" || fail "md tables" "$tables"

# Text: fits 120 columns.
"${R[@]}" --format text --slos "$T/slos.yaml" > "$T/r.txt"
width=$(LC_ALL=C.UTF-8 wc -L < "$T/r.txt")
[ "$width" -le 120 ] && pass "text: width $width <= 120" || fail "text width" "$width"
grep -q "$A" "$T/r.txt" && pass "text: job listed" || fail "text job" "missing"
grep -q 'cpu_core_hour 0.031611' "$T/r.txt" && pass "text: prices printed" || fail "text prices" "missing"

# HTML: self-contained, escaped, renders.
"${R[@]}" --format html --slos "$T/slos.yaml" --out "$T/r.html"
grep -q "$A" "$T/r.html" && pass "html: job name present" || fail "html job" "missing"
grep -qF "load,&quot;q&quot; &lt;i&gt;$UNIQ&lt;/i&gt;" "$T/r.html" && pass "html: awkward name escaped" || fail "html escape" "escaped form missing"
grep -qF "<i>$UNIQ</i>" "$T/r.html" && fail "html escape" "raw markup from the database" || pass "html: no raw markup from the database"
grep -Eiq '(src|href)=|@import|url\(' "$T/r.html" && fail "html self-contained" "external reference found" || pass "html: no external assets"
[ "$(grep -c '<svg' "$T/r.html")" -ge 3 ] && pass "html: 3 inline SVG charts" || fail "html charts" "$(grep -c '<svg' "$T/r.html")"
# The cost chart's note counts the bars it draws (fewer jobs than its 25).
njobs=$(jq '.jobs | length' "$T/r.json")
grep -qF "<p class=\"note\">all $njobs jobs, most expensive first</p>" "$T/r.html" \
  && pass "html: cost chart note counts $njobs jobs" \
  || fail "html cost chart note" "$(grep -o '<p class="note">[^<]*expensive[^<]*</p>' "$T/r.html")"
if ! command -v chromium >/dev/null; then
  fail "html renders" "chromium is not installed (apt-get install chromium)"
else
  timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d "$T/chrome.XXXXXX")" --screenshot="$T/r.png" --window-size=1200,1600 \
    "file://$T/r.html" >"$T/chrome.log" 2>&1
  if [ -s "$T/r.png" ]; then
    pass "html: screenshot taken ($(stat -c %s "$T/r.png") bytes)"
    # Distinct colours of the screenshot: a blank page has 1, text ~tens,
    # charts and tables hundreds.
    colours=$(convert "$T/r.png" ppm:- 2>/dev/null | tail -c $((1200 * 1600 * 3)) | od -An -v -tx1 -w3 | sort -u | wc -l)
    [ "$colours" -ge 50 ] && pass "html: screenshot not blank ($colours colours)" || fail "html blank" "$colours colours"
  else
    fail "html: screenshot" "$(tail -3 "$T/chrome.log")"
  fi
fi

# Statement latency percentiles (schema v3).  gen-batch sends none: stored
# as NULL, shown as null.  Then a hand-encoded protobuf batch whose statement
# carries p50/p95/p99 goes through HTTP ingest into the statements table, the
# statement_day rollup and every report format that lists statements.
check_eq "statements has p50/p95/p99 columns (migration 3)" \
  "$(sqlite3 "$DB" "select count(*) from pragma_table_info('statements') where name glob 'latency_p[59]*_s'")" 3
check_eq "gen-batch statements: percentiles unknown (NULL)" \
  "$(sqlite3 "$DB" 'select count(*) from statements where latency_p95_s is not null')" 0
check_eq "gen-batch statements: JSON p95 null" "$(j "$A" '.top_statements[0].latency_p95_s')" null
P="p-$UNIQ"   # fits the 20-column JOB cell of the text table
PEND=$(( (NOW - 600) * 1000000000 ))
python3 - "$AGENT" "$P" "$PEND" > "$T/pct.pb" <<'PY'
import struct, sys
agent, job, end = sys.argv[1], sys.argv[2], int(sys.argv[3])
def varint(n):
    out = b""
    while True:
        b = n & 0x7F; n >>= 7
        if n: out += bytes([b | 0x80])
        else: return out + bytes([b])
def vi(f, n): return varint(f << 3) + varint(n)                 # varint field
def db(f, x): return varint(f << 3 | 1) + struct.pack("<d", x)  # double field
def ld(f, b): return varint(f << 3 | 2) + varint(len(b)) + b    # bytes / string / message
def st(f, s): return ld(f, s.encode())
stmt = (st(1, "SELECT * FROM pct WHERE id = ?") + vi(2, 7) + db(5, 0.7)
        + db(7, 0.05) + db(8, 0.123) + db(9, 0.456))
dbs = st(1, "postgresql") + st(2, "127.0.0.1:5432") + vi(3, 7) + db(8, 0.7) + ld(12, stmt)
run = (st(1, job) + st(2, "r1") + vi(3, end - 30 * 10**9) + vi(4, end) + vi(5, 1)
       + ld(10, vi(1, 1) + db(2, 1.0)) + ld(11, dbs))
batch = (vi(1, 1) + ld(2, st(1, "h") + st(2, agent) + st(3, "b")) + vi(3, 4)
         + vi(4, end - 60 * 10**9) + vi(5, end) + ld(6, run))
sys.stdout.buffer.write(batch)
PY
c4=$(curl -s -o "$T/c4.resp" -w '%{http_code}' -H 'Content-Type: application/x-protobuf' \
      --data-binary @"$T/pct.pb" "$URL/v1/batches")
check_eq "batch with statement percentiles stored" "$c4" 200
check_eq "statement percentiles stored as sent" "$(sqlite3 "$DB" "select s.latency_p50_s || ' ' ||
  s.latency_p95_s || ' ' || s.latency_p99_s from statements s join db_stats d on d.id = s.db_stats_id
  where d.job = '$P'")" "0.05 0.123 0.456"
check_eq "statement_day keeps p95/p99 maxima" "$(sqlite3 "$DB" "select latency_p95_s_max || ' ' ||
  latency_p99_s_max from statement_day where job = '$P'")" "0.123 0.456"
"${R[@]}" --format json --out "$T/r4.json"
check_eq "json: statement p95" "$(jq -r --arg j "$P" '.jobs[] | select(.job == $j) | .top_statements[0].latency_p95_s' "$T/r4.json")" 0.123
check_eq "json: statement p99" "$(jq -r --arg j "$P" '.jobs[] | select(.job == $j) | .top_statements[0].latency_p99_s' "$T/r4.json")" 0.456
"${R[@]}" --format text > "$T/r4.txt"
grep -E "^$P +7 +0 +700ms +100ms +123ms +456ms SELECT \* FROM pct" "$T/r4.txt" >/dev/null \
  && pass "text: statement p95/p99 shown" || fail "text: statement p95/p99" "$(grep -F "$P" "$T/r4.txt")"
width=$(LC_ALL=C.UTF-8 wc -L < "$T/r4.txt")
[ "$width" -le 120 ] && pass "text with percentiles: width $width <= 120" || fail "text width" "$width"
"${R[@]}" --format md --out "$T/r4.md"
grep -qF "| $P | 7 | 0 | 700ms | 100ms | 123ms | 456ms |" "$T/r4.md" \
  && pass "md: statement p95/p99 shown" || fail "md: statement p95/p99" "$(grep -F "$P" "$T/r4.md")"
"${R[@]}" --format html --out "$T/r4.html"
grep -qF '<td class="r">123ms</td><td class="r">456ms</td>' "$T/r4.html" \
  && pass "html: statement p95/p99 shown" || fail "html: statement p95/p99" "cells not found"

# Failed runs, by how they ended: A's one (exit 1), and an OOM-killed job's.
O=oom-$UNIQ
c5=$(post --seq 9 --start-ns $((START + 3600000000000)) --job "$O" --runs 2 --windows 0 \
      --fail-every 1 --oom-every 1 --no-host)
check_eq "batch with OOM kills stored" "$c5" 200
"${R[@]}" --format json --out "$T/r5.json"
check_eq "json: A's failed run, by how it ended" \
  "$(jq -c --arg j "$A" '.jobs[] | select(.job == $j) | [.failure_endings[] | [.how, .runs]]' "$T/r5.json")" '[["exit 1",1]]'
check_eq "json: the OOM-killed runs" \
  "$(jq -c --arg j "$O" '.jobs[] | select(.job == $j) | [.failure_endings[] | [.how, .runs]]' "$T/r5.json")" '[["OOM kill",2]]'
dups=$(python3 -c '
import json, sys
seen = []
def hook(pairs):
    keys = [k for k, _ in pairs]
    seen.extend(k for k in set(keys) if keys.count(k) > 1)
    return dict(pairs)
json.load(open(sys.argv[1]), object_pairs_hook=hook)
print(",".join(sorted(set(seen))))' "$T/r5.json")
check_eq "json: no object repeats a key" "$dups" ""
"${R[@]}" --format text > "$T/r5.txt"
grep -qE "^$O +OOM kill +2 " "$T/r5.txt" && pass "text: failed runs by how they ended" \
  || fail "text: failed runs" "$(sed -n '/FAILED RUNS/,/^$/p' "$T/r5.txt")"

# A dataset name of 2 KiB (an object store path) is shown whole in the HTML
# and Markdown tables, and the documents stay UTF-8.
LONG="s3://b-$UNIQ/$(printf 'é%.0s' $(seq 1 1000))/part.parquet"
c6=$(post --seq 10 --start-ns $((START + 3600000000000)) --job "lo-$UNIQ" --runs 1 --windows 0 \
      --output "$LONG" --output-kind file --no-host)
check_eq "batch with a 2 KiB dataset name stored" "$c6" 200
"${R[@]}" --format html --out "$T/r6.html"; "${R[@]}" --format md --out "$T/r6.md"
for f in html md; do
  python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$T/r6.$f" 2>/dev/null \
    && pass "$f with a long dataset name: valid UTF-8" || fail "$f long dataset name" "not UTF-8"
  grep -qF "${LONG%%/*}" "$T/r6.$f" && grep -q "é/part\.parquet" "$T/r6.$f" \
    && pass "$f: long dataset name whole" || fail "$f long dataset name" "cut"
done

# Usage errors are clear.
"$REPORT" --db "$DB" --since soon >/dev/null 2>"$T/e1"; check_eq "bad --since: exit 2" "$?" 2
"$REPORT" --db "$DB" --format xml >/dev/null 2>"$T/e2"; check_eq "bad --format: exit 2" "$?" 2
"$REPORT" --db "$T/nope.db" >/dev/null 2>"$T/e3"; rc=$?
[ "$rc" -eq 1 ] && grep -q 'cannot open database .*nope.db: it does not exist' "$T/e3" \
  && pass "missing database: exit 1, 'it does not exist'" || fail "missing db" "rc=$rc $(cat "$T/e3")"
# A long path (1,0xx bytes) still gets its cause: the message was cut at
# 1,024 bytes, before it.
long=$T/$(printf 'd%.0s/' $(seq 1 500))nope.db
"$REPORT" --db "$long" >/dev/null 2>"$T/e3l"; rc=$?
[ "$rc" -eq 1 ] && grep -q 'nope.db: it does not exist' "$T/e3l" \
  && pass "missing database, ${#long}-byte path: the cause is in the message" \
  || fail "missing db, long path" "rc=$rc $(tail -c 200 "$T/e3l")"
# A directory: SQLite says "disk I/O error", which points nowhere.
mkdir "$T/dir.db"
"$REPORT" --db "$T/dir.db" >/dev/null 2>"$T/e3d"; rc=$?
[ "$rc" -eq 1 ] && grep -q 'cannot open database .*dir.db: it is a directory' "$T/e3d" \
  && ! grep -q 'I/O error' "$T/e3d" && pass "--db a directory: exit 1, 'it is a directory'" \
  || fail "--db a directory" "rc=$rc $(cat "$T/e3d")"
# A database newer than the report knows is read, with one warning.
sqlite3 "$DB" ".backup '$T/v7.db'" && sqlite3 "$T/v7.db" 'insert into schema_version (version) values (7)'
"$REPORT" --db "$T/v7.db" --format json --out "$T/v7.json" 2>"$T/e7v"; rc=$?
check_eq "schema v7: exit 0" "$rc" 0
check_eq "schema v7: one warning naming both versions" \
  "$(grep -c 'warn.*schema version 7 is newer than this jobmeter-report knows (6)' "$T/e7v")/$(wc -l < "$T/e7v")" 1/1
check_eq "schema v7: the report is written" "$(jq -r .database.schema_version "$T/v7.json")" 7
"$REPORT" --db "$DB" --format json --out /dev/null 2>"$T/e6v"
check_eq "schema v6: no warning" "$(wc -c < "$T/e6v")" 0
# A database that exists but cannot be read says why; "not a jobmeter
# collector database" is only for files that are not one.
sqlite3 "$T/lock.db" 'create table schema_version (version integer); insert into schema_version values (6)'
python3 - "$T/lock.db" "$T/locked" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("pragma locking_mode=exclusive"); c.execute("begin exclusive")
c.execute("select count(*) from schema_version").fetchall()
open(sys.argv[2], "w").close(); time.sleep(8)
PY
LPID=$!; _bg_pids+=("$LPID")
for _ in $(seq 1 100); do [ -f "$T/locked" ] && break; sleep 0.05; done
"$REPORT" --db "$T/lock.db" >/dev/null 2>"$T/e4"; rc=$?
[ "$rc" -eq 1 ] && grep -q 'cannot read database .*locked' "$T/e4" && ! grep -q 'not a jobmeter' "$T/e4" \
  && pass "locked database: exit 1, 'cannot read ... locked'" || fail "locked database" "rc=$rc $(cat "$T/e4")"
kill "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null
# A WAL database in a directory the reader cannot write, no collector on it.
mkdir "$T/ro" && sqlite3 "$DB" ".backup '$T/ro/c.db'" && chmod 555 "$T/ro" && chmod 711 "$T"
runuser -u nobody -- "$REPORT" --db "$T/ro/c.db" >/dev/null 2>"$T/e5"; rc=$?
[ "$rc" -eq 1 ] && grep -q 'cannot read database .*directory must be writable' "$T/e5" \
  && ! grep -q 'not a jobmeter' "$T/e5" && pass "read-only directory: exit 1, cause named" \
  || fail "read-only directory" "rc=$rc $(cat "$T/e5")"
chmod 755 "$T/ro"
head -c 20000 "$T/ro/c.db" > "$T/trunc.db"
"$REPORT" --db "$T/trunc.db" >/dev/null 2>"$T/e6"; rc=$?
[ "$rc" -eq 1 ] && grep -q 'cannot read database .*malformed' "$T/e6" \
  && pass "damaged database: exit 1, 'cannot read ... malformed'" || fail "damaged database" "rc=$rc $(cat "$T/e6")"
"$REPORT" --db /etc/hostname >/dev/null 2>"$T/e7"; rc=$?
[ "$rc" -eq 1 ] && grep -q 'not a jobmeter collector database' "$T/e7" \
  && pass "not a database: exit 1, said so" || fail "not a database" "rc=$rc $(cat "$T/e7")"
# --out naming the database (any spelling) is refused before anything is
# written: the rename would put the report in place of the whole history.
sqlite3 "$DB" ".backup '$T/keep.db'"
runs_before=$(sqlite3 "$T/keep.db" 'select count(*) from runs')
"$REPORT" --db "$T/keep.db" --out "$T/./keep.db" >/dev/null 2>"$T/e8"; rc=$?
check_eq "--out = --db: exit 2" "$rc" 2
grep -q 'is the database' "$T/e8" && pass "--out = --db: said so" || fail "--out = --db message" "$(cat "$T/e8")"
check_eq "--out = --db: database intact" "$(sqlite3 "$T/keep.db" 'select count(*) from runs' 2>&1)" "$runs_before"
# --out onto something that is not a regular file writes into it: renaming
# a temporary file over it would replace the node itself (as root,
# --out /dev/null would replace /dev/null for every process).
mknod "$T/null" c 1 3
"$REPORT" --db "$DB" --out "$T/null" 2>"$T/e9"; rc=$?
check_eq "--out a character device: exit 0" "$rc" 0
[ -c "$T/null" ] && pass "--out a character device: still a device" || fail "--out device" "$(ls -l "$T/null")"
mkfifo "$T/fifo"
timeout 20 cat "$T/fifo" > "$T/fifo.out" & FPID=$!; _bg_pids+=("$FPID")   # bounded: a report that never opens it
timeout 20 "$REPORT" --db "$DB" --out "$T/fifo" 2>"$T/e10"; rc=$?
wait "$FPID"
check_eq "--out a FIFO: exit 0" "$rc" 0
[ -p "$T/fifo" ] && pass "--out a FIFO: still a FIFO" || fail "--out FIFO" "$(ls -l "$T/fifo")"
grep -q '^jobmeter report' "$T/fifo.out" && pass "--out a FIFO: the reader got the report" || fail "--out FIFO read" "nothing"
echo old > "$T/target.txt"; ln -s target.txt "$T/link.txt"
"$REPORT" --db "$DB" --out "$T/link.txt" 2>"$T/e11"
[ -L "$T/link.txt" ] && grep -q '^jobmeter report' "$T/target.txt" \
  && pass "--out a symlink: the file it points to gets the report, the link stays" \
  || fail "--out symlink" "$(ls -l "$T/link.txt" "$T/target.txt")"
# --out /dev/stdout (/dev/fd/N) is the report's own open file: written where
# it stands, so a '>>' redirection appends; reopening it would truncate the
# file, and a rename over it would replace it (both lost the lines before).
printf 'kept line 1\nkept line 2\n' > "$T/append.log"
"$REPORT" --db "$DB" --out /dev/stdout >> "$T/append.log" 2>"$T/e12"; rc=$?
check_eq "--out /dev/stdout >> FILE: exit 0" "$rc" 0
check_eq "--out /dev/stdout >> FILE: appended after the lines it held" \
  "$(sed -n '1p;3p' "$T/append.log" | tr '\n' '|')" "kept line 1|jobmeter report|"
"$REPORT" --db "$DB" --out /dev/fd/3 3>> "$T/append.log" 2>>"$T/e12"
check_eq "--out /dev/fd/3 3>> FILE: appended too" \
  "$(grep -c '^jobmeter report' "$T/append.log")/$(head -1 "$T/append.log")" "2/kept line 1"
# Writing a report again keeps the mode of the file it replaces (a report
# kept private stays private); a new file gets the umask's mode.
echo old > "$T/private.txt"; chmod 600 "$T/private.txt"
"$REPORT" --db "$DB" --out "$T/private.txt" 2>/dev/null
check_eq "--out over a 0600 file: still 0600" "$(stat -c %a "$T/private.txt")" 600
(umask 022; "$REPORT" --db "$DB" --out "$T/fresh.txt" 2>/dev/null)
check_eq "--out a new file: 0644 under umask 022" "$(stat -c %a "$T/fresh.txt")" 644
kill -TERM "$CPID"; wait "$CPID"
