# Shared helpers for integration tests.  Source it; every check prints
# "PASS name" or "FAIL name: why".  Tests scope every assertion to their own
# job names (unique per run) because other processes run on this machine.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AGENT=$ROOT/build/bin/jobmeter-agent
COLLECTOR=$ROOT/build/bin/jobmeter-collector
REPORT=$ROOT/build/bin/jobmeter-report
HELPERS=$ROOT/build/tests/helpers
T=$(mktemp -d /tmp/jm-test.XXXXXX)
UNIQ="t$$-$RANDOM"
_bg_pids=()

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
check() {           # check NAME CMD...   (passes when CMD succeeds)
  local n=$1; shift
  if "$@"; then pass "$n"; else fail "$n" "command failed: $*"; fi
}
# within VALUE REF PCT -> success when |VALUE-REF| <= PCT% of REF
within() { awk -v v="$1" -v r="$2" -v p="$3" 'BEGIN{d=v-r; if(d<0)d=-d; exit !(d <= r*p/100.0)}'; }
check_within() {    # check_within NAME VALUE REF PCT
  if within "$2" "$3" "$4"; then pass "$1 ($2 vs $3, ±$4%)";
  else fail "$1" "$2 not within $4% of $3"; fi
}
check_range() {     # check_range NAME VALUE LO HI   (LO <= VALUE <= HI)
  if awk -v v="$2" -v lo="$3" -v hi="$4" 'BEGIN{exit !(v != "" && v >= lo && v <= hi)}'; then
    pass "$1 ($2 in $3..$4)"; else fail "$1" "[$2] not in $3..$4"; fi
}
free_port() {       # a TCP port nothing listens on right now
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    [ -z "$(ss -Htln "sport = :$p")" ] && { echo "$p"; return 0; }
  done
  return 1
}
check_eq() {        # check_eq NAME GOT WANT
  if [ "$2" = "$3" ]; then pass "$1 ($2)"; else fail "$1" "got [$2] want [$3]"; fi
}

# start_agent CONFIG [extra args...]: runs the agent writing JSONL to $T/out.jsonl
start_agent() {
  local cfg=$1; shift
  rm -f "$T/ready"
  "$AGENT" --config "$cfg" --jsonl "$T/out.jsonl" --ready-file "$T/ready" "$@" \
      >>"$T/agent.log" 2>&1 &
  AGENT_PID=$!
  _bg_pids+=("$AGENT_PID")
  for _ in $(seq 1 200); do
    [ -f "$T/ready" ] && return 0
    kill -0 "$AGENT_PID" 2>/dev/null || { echo "agent died:"; cat "$T/agent.log"; return 1; }
    sleep 0.05
  done
  echo "agent not ready after 10 s"; cat "$T/agent.log"; return 1
}
stop_agent() {      # SIGTERM and wait: the agent flushes open runs and windows
  kill -TERM "$AGENT_PID" 2>/dev/null
  wait "$AGENT_PID"; local rc=$?
  return $rc
}
# wait_run JOB [N]: wait until N (default 1) run lines of JOB are in out.jsonl
wait_run() {
  local job=$1 n=${2:-1}
  for _ in $(seq 1 200); do
    [ "$(jq -c "select(.type==\"run\" and .job==\"$job\")" "$T/out.jsonl" 2>/dev/null | wc -l)" -ge "$n" ] && return 0
    sleep 0.05
  done
  return 1
}
run_field() {       # run_field JOB FIELD [INDEX]: field of the INDEX-th run of JOB
  jq -rs --arg j "$1" --arg f "$2" --argjson i "${3:-0}" \
    '[.[] | select(.type=="run" and .job==$j)][$i][$f]' "$T/out.jsonl"
}
cleanup() {
  for p in "${_bg_pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
agent_progs() {     # names of the eBPF programs the running agent holds, one per line
  local f id
  for f in /proc/"$AGENT_PID"/fd/*; do
    [ "$(readlink "$f" 2>/dev/null)" = "anon_inode:bpf-prog" ] || continue
    id=$(awk '$1 == "prog_id:" {print $2}' /proc/"$AGENT_PID"/fdinfo/"${f##*/}")
    [ -n "$id" ] && bpftool prog show id "$id" --json 2>/dev/null | jq -r .name
  done | sort -u
}
agent_map_id() {    # agent_map_id NAME: id of the running agent's map NAME
  local f id
  for f in /proc/"$AGENT_PID"/fdinfo/*; do
    id=$(awk '$1 == "map_id:" {print $2}' "$f" 2>/dev/null)
    [ -n "$id" ] || continue
    [ "$(bpftool map show id "$id" --json 2>/dev/null | jq -r .name)" = "$1" ] || continue
    echo "$id"
    return 0
  done
  return 1
}
agent_map_keys() {  # agent_map_keys NAME: keys of the running agent's map NAME (integer keys)
  local id
  id=$(agent_map_id "$1") || return 1
  bpftool map dump id "$id" --json 2>/dev/null | jq -r '.[].formatted.key'
}
agent_kernel_stat() {  # agent_kernel_stat INDEX: a kernel counter (enum jm_stat), summed over CPUs
  local id
  id=$(agent_map_id stats) || return 1
  bpftool map lookup id "$id" key $1 0 0 0 --json 2>/dev/null | jq '[.formatted.values[].value] | add'
}
