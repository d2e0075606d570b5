#!/usr/bin/env bash
# The io ring full (bpf/xring.h).  With the agent stopped, a job's queries
# overflow the 8 MiB ring: the records that found no room are counted and
# reported in a loss line, no query is invented from what is left, and once
# the agent runs again a new job's queries are exact.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../services.sh"
pg_start || { fail pg-start "PostgreSQL 15 did not start"; exit 1; }
U=$UNIQ
: > "$T/agent.yaml"
pgbench -h 127.0.0.1 -U $JM_PG_USER -i -q -s 1 $JM_PG_DB >/dev/null 2>&1 || fail setup "pgbench -i"
start_agent "$T/agent.yaml" --interval 1 || { fail agent-start "agent not ready"; exit 1; }

# ~280 bytes of records a transaction: 60,000 need twice the ring.
SENT=60000
kill -STOP "$AGENT_PID"
JOBMETER_JOB=flood-$U pgbench -h 127.0.0.1 -U $JM_PG_USER -n -S -t $SENT -c 1 $JM_PG_DB \
  > "$T/flood.out" 2>&1 || fail flood "pgbench failed"
kill -CONT "$AGENT_PID"
wait_run flood-$U || fail flood "no run line"
JOBMETER_JOB=after-$U pgbench -h 127.0.0.1 -U $JM_PG_USER -n -S -t 2000 -c 1 $JM_PG_DB \
  > "$T/after.out" 2>&1 || fail after "pgbench failed"
wait_run after-$U || fail after "no run line"
sleep 1.2   # one more interval: the loss line of the last drops

drops=$(jq -s '[.[] | select(.type=="loss")] | last | .total.payload_drops // 0' "$T/out.jsonl")
check "full ring: dropped records counted and reported ($drops)" test "$drops" -gt 0
sel=$(stmt_field flood-$U '^select abalance' calls)
check "full ring: some of the job's queries read, none invented ($sel of $SENT)" \
  test "$sel" -gt 0 -a "$sel" -lt "$SENT"
# Two records a transaction (the query, its result): each one was either
# read or counted as dropped (the last transaction before the ring filled,
# and the goodbye, may be split).
check "full ring: every transaction read or its records counted ($sel + $drops/2 vs $SENT)" \
  awk -v s="$sel" -v d="$drops" -v n="$SENT" 'BEGIN { x = s + d / 2 - n; exit !(x >= -2 && x <= 2) }'
check "full ring: the reader found no broken record" bash -c "! grep -q \"impossible length\" \"$T/agent.log\""
check_eq "after: the SELECT counted 2000 times" "$(stmt_field after-$U '^select abalance' calls)" 2000
check_eq "after: errors" "$(db_field after-$U postgresql errors)" 0
check "after: the agent is running" kill -0 "$AGENT_PID"
