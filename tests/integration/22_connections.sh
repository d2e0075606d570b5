#!/usr/bin/env bash
# Connections are followed as sockets, not file descriptors: one PostgreSQL
# connection used through a dup2()'d fd, by a forked child and by the
# parent counts every query once; a Unix-socket connection (no close event
# exists for it) ends with the client's Terminate, a TCP one at its close.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../services.sh"
pg_start || { fail pg-start "PostgreSQL 15 did not start"; exit 1; }
U=$UNIQ
: > "$T/agent.yaml"
start_agent "$T/agent.yaml" --interval 1 -vv || { fail agent-start "agent not ready"; exit 1; }

# The script runs as the postgres OS user: peer authentication on the socket.
install -m 0755 "$(dirname "$0")/../helpers/pg_handoff.py" "$T/pg_handoff.py"
chmod 0755 "$T"
setpriv --reuid postgres --regid postgres --clear-groups \
  env JOBMETER_JOB=handoff-$U python3 "$T/pg_handoff.py" /var/run/postgresql/.s.PGSQL.5432 postgres postgres \
  || fail handoff "pg_handoff.py failed"
JOBMETER_JOB=tcp-$U pg_sql -c "select 42" > /dev/null || fail tcp "psql over TCP failed"
# A TCP connection closed without a goodbye, by a process that lives on.
JOBMETER_JOB=tcpclose-$U python3 -c '
import socket, struct, time
s = socket.create_connection(("127.0.0.1", 5432))
s.sendall(struct.pack("!II", 8, 80877103))   # SSLRequest
s.recv(1)
s.close()
time.sleep(1.5)' || fail tcpclose "client failed"
# A Unix-socket client killed mid-query: no goodbye, no close event.
setpriv --reuid postgres --regid postgres --clear-groups \
  env JOBMETER_JOB=killed-$U psql -qAtX -d postgres -c "select pg_sleep(30) as k_${U//-/_}" > /dev/null 2>&1 &
kpid=$!
for _ in $(seq 1 100); do
  [ "$(su postgres -c "psql -qAtX -c \"select count(*) from pg_stat_activity where query like '%k_${U//-/_}%' and pid <> pg_backend_pid()\"")" = 1 ] && break
  sleep 0.05
done
kill -9 "$kpid"; wait "$kpid" 2>/dev/null
# its backend sleeps on without a client: end it
su postgres -c "psql -qAtX -c \"select pg_terminate_backend(pid) from pg_stat_activity where query like '%k_${U//-/_}%' and pid <> pg_backend_pid()\"" > /dev/null
# 200 short connections to a peer that is no database, then the process ends:
# every answer the agent gave the kernel about them must be gone.
python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept(); c.recv(64); c.sendall(b"hi"); c.close()' > "$T/port" &
_bg_pids+=($!)
for _ in $(seq 1 50); do [ -s "$T/port" ] && break; sleep 0.05; done
JOBMETER_JOB=short-$U python3 -c '
import socket, sys, time
for _ in range(200):
    c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    c.sendall(b"GET / HTTP/1.0\r\n\r\n"); c.recv(64); c.close()
open(sys.argv[2], "w").close()
time.sleep(3)' "$(cat "$T/port")" "$T/short.done" &
short=$!
for _ in $(seq 1 200); do [ -f "$T/short.done" ] && break; sleep 0.05; done
sleep 1.5   # the agent has read the closes
# Answers about this process's sockets still in the kernel's map (other job
# processes on the machine may have answers of their own).
pending() {
  comm -12 <(agent_map_keys verdicts | sort -u) \
    <(grep -oE "connection [0-9a-f]+ of pid $short: " "$T/agent.log" |
      while read -r _ hex _; do echo $((16#$hex)); done | sort -u) | wc -l
}
check "short: the agent answered about its 200 connections" \
  test "$(grep -cE "connection [0-9a-f]+ of pid $short: ignored" "$T/agent.log")" -ge 200
check_eq "short: TCP closes clear the answers while the process lives" "$(pending)" 0
wait "$short" || fail short "client failed"
wait_run "handoff-$U" || fail run-handoff "no run line"
wait_run "tcp-$U" || fail run-tcp "no run line"

check_eq "handoff: 3 queries (dup2'd fd, forked child, parent)" "$(db_field handoff-$U postgresql queries)" 3
check_eq "handoff: one statement, 3 calls" "$(stmt_field handoff-$U '^select' calls)" 3
check_eq "handoff: no errors" "$(db_field handoff-$U postgresql errors)" 0
check_eq "handoff: endpoint is the Unix socket" "$(db_field handoff-$U postgresql endpoint)" \
  /var/run/postgresql/.s.PGSQL.5432
check "handoff: the connection ended with the client's Terminate" \
  grep -q "to /var/run/postgresql/.s.PGSQL.5432 ended (client goodbye)" "$T/agent.log"
check_eq "tcp: 1 query" "$(db_field tcp-$U postgresql queries)" 1
check "tcp: psql's connection ended" grep -Eq "to 127\.0\.0\.1:5432 ended \((TCP close|client goodbye)\)" "$T/agent.log"
wait_run "tcpclose-$U" || fail run-tcpclose "no run line"
check "tcp: a connection closed without goodbye ended at its TCP close" \
  grep -q "to 127.0.0.1:5432 ended (TCP close)" "$T/agent.log"
wait_run "killed-$U" || fail run-killed "no run line"
check "unix: a killed client's connection ended with its process" \
  grep -q "to /var/run/postgresql/.s.PGSQL.5432 ended (its process exited)" "$T/agent.log"
wait_run "short-$U" || fail run-short "no run line"
check_within "short: 200 x 18 bytes sent, counted as net" "$(run_field short-$U net_tx_bytes)" 3600 1
sleep 1.5   # one more poll after the exit
check_eq "short: no answer left in the kernel's verdicts map" "$(pending)" 0
stop_agent; check_eq "agent exits 0 on SIGTERM" "$?" 0
