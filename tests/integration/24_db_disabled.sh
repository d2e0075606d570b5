#!/usr/bin/env bash
# db.enabled: false — no payload byte of a job leaves the job: the io ring
# (connects and payload copies, bpf/xring.h) never advances, the runs carry
# no database figures, and socket bytes are still counted.  The same job
# under an agent with DB tracing on is the control: the ring advances and
# the queries are counted, so each check below can tell the two apart.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../services.sh"
pg_start || { fail pg-start "PostgreSQL 15 did not start"; exit 1; }
U=$UNIQ
MAPWORD=$HELPERS/jm_mapword
TX=2000
pgbench -h 127.0.0.1 -U $JM_PG_USER -i -q -s 1 $JM_PG_DB >/dev/null 2>&1 || fail setup "pgbench -i"

# one_pass MODE: start an agent with db.enabled MODE, run the job, record
# the io ring's producer position (its first word) and stop the agent.
one_pass() {
  printf 'db:\n  enabled: %s\n' "$1" > "$T/agent-$1.yaml"
  start_agent "$T/agent-$1.yaml" --interval 1 || { fail "agent-start-$1" "agent not ready"; return 1; }
  JOBMETER_JOB=db-$1-$U pgbench -h 127.0.0.1 -U $JM_PG_USER -n -S -t $TX -c 1 $JM_PG_DB \
    > "$T/pgb-$1.out" 2>&1 || fail "pgbench-$1" "$(tail -2 "$T/pgb-$1.out")"
  wait_run db-$1-$U || fail "run-$1" "no run line for db-$1-$U"
  local ring
  ring=$(agent_map_id io_ring) || fail "io-ring-$1" "io_ring map not found"
  PROD[$1]=$($MAPWORD "$ring" 0)
  PROGS[$1]=$(agent_progs | tr '\n' ' ')
  stop_agent
}
declare -A PROD PROGS
one_pass false
one_pass true

check_eq "db off: the io ring never advanced" "${PROD[false]}" 0
check "db off: no TCP close program (no connection state to end)" \
  bash -c "! grep -qw jm_tcp_state <<< '${PROGS[false]}'"
check "db on (control): the TCP close program is loaded" grep -qw jm_tcp_state <<< "${PROGS[true]}"
check "db on (control): the io ring advanced" test "${PROD[true]:-0}" -gt 0
check_eq "db off: no database figures on the run" \
  "$(jq -rs --arg j "db-false-$U" '[.[] | select(.type=="run" and .job==$j)][0].db | length' "$T/out.jsonl")" 0
check_eq "db on (control): every transaction's query counted" \
  "$(jq -rs --arg j "db-true-$U" '[.[] | select(.type=="run" and .job==$j)][0].db[0].statements[] |
    select(.fingerprint | test("pgbench_accounts")) | .calls' "$T/out.jsonl")" $TX
# Socket bytes do not depend on DB tracing: the same transactions move the
# same bytes (pgbench -S sends one random key per query: a few % of spread).
for dir in tx rx; do
  off=$(run_field db-false-$U net_${dir}_bytes)
  on=$(run_field db-true-$U net_${dir}_bytes)
  check "db off: socket $dir bytes counted ($off)" test "${off:-0}" -gt $((TX * 20))
  check_within "db off: socket $dir bytes match the control ($off vs $on)" "$off" "$on" 5
done
