#!/usr/bin/env bash
# tools/report/benchdb.sh, the database behind bench §5's report figures, at
# a small size: a fleet of 3 agents with batches every 30 s for 2 days, then
# the collector's migrations (rollup backfill) and the report in every
# format.  The completeness section it times must be right: every batch
# counted, no seq gap, and agent 0's one ring-buffer drop a day (counted
# on day 2) -- the same from the rollups as with --raw.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/build/bin
out=$(AGENTS=3 BATCH_S=30 BIN=$BIN "$ROOT/tools/report/benchdb.sh" "$T/b.db" 2 10 2>&1)
check "benchdb.sh runs" test $? = 0
check "benchdb.sh: 2 days x 10 jobs x 2 windows a minute" grep -q '57600 windows, 480 runs, 17280 batches from 3 agents' <<<"$out"
check_eq "benchdb.sh timed every format" "$(grep -c '^report --format' <<<"$out")" 5
F=$((1714521600 + 1800)); TO=$((1714521600 + 2 * 86400 - 600))
"$BIN/jobmeter-report" --db "$T/b.db" --from "$F" --to "$TO" --format json > "$T/r.json"
"$BIN/jobmeter-report" --db "$T/b.db" --from "$F" --to "$TO" --format json --raw > "$T/raw.json"
# per agent, 5,760 windows ending at 00:00:30 .. 48:00:00; in [00:30, 47:50):
# all but the 59 ending before 00:30 and the 21 from 47:50 on
check_eq "batches per agent" "$(jq -c '[.completeness.agents[].batches]' "$T/r.json")" "[5680,5680,5680]"
check_eq "no seq gaps" "$(jq '[.completeness.agents[].seq_gaps] | add' "$T/r.json")" 0
check_eq "agent 0: the day-2 drop" "$(jq -c '[.completeness.agents[] | .loss.ringbuf_drops]' "$T/r.json")" "[1,0,0]"
check_eq "rollup = raw" "$(jq -c .completeness "$T/r.json")" "$(jq -c .completeness "$T/raw.json")"
check_eq "report: rollups used" "$(jq -c .database.rollups_used "$T/r.json")" true
check_eq "--raw: none" "$(jq -c .database.rollups_used "$T/raw.json")" false
