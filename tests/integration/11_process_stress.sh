#!/usr/bin/env bash
# Issue 2 acceptance: no loss with 2,000 short-lived processes while a busy
# workload outside any job runs; OOM kill in a memory-limited cgroup; a job
# already running when the agent starts.
source "$(dirname "$0")/../lib.sh"
BURN=$HELPERS/jm_burn
: > "$T/empty.yaml"

# 7. Already running: started before the agent.
# 7b. ... with a thread that burned 1.5 s and exited before the agent
#     started; the main thread then burns 1.5 s more.
JOBMETER_JOB=earlymt-$UNIQ $BURN hold 8 3.0 &
earlymt=$!
ntasks() { ls "/proc/$1/task" 2>/dev/null | wc -l; }
for _ in $(seq 1 200); do [ "$(ntasks $earlymt)" = 2 ] && break; sleep 0.01; done   # thread made
for _ in $(seq 1 400); do [ "$(ntasks $earlymt)" = 1 ] && break; sleep 0.05; done   # and gone
t_early=$(date +%s.%N)
JOBMETER_JOB=early-$UNIQ $BURN cpu 3.0 &
early=$!
# A JOBMETER_JOB the exec probe keeps whole (113 characters) and one it would
# cut (120: it keeps 127 bytes of NAME=value), each started before the agent
# (start-up scan of /proc) and again after it (exec): one answer on both
# paths, so a job never splits into a whole name and a cut one.
fit=$(printf 'fit-%s-%0200d' "$UNIQ" 0 | head -c 113)
long=$(printf 'cut-%s-%0200d' "$UNIQ" 0 | head -c 120)
JOBMETER_JOB=$fit $BURN cpu 2.5 &
early_fit=$!
JOBMETER_JOB=$long $BURN cpu 2.5 &
early_long=$!
# 7c. ... that reaped a child which read 16 MiB (the kernel adds those bytes
#     to the parent's own /proc/PID/io), then execs dd to read 4 MiB itself
#     once the agent runs: its file bytes from the start are those 4 MiB.
head -c $((16 << 20)) /dev/zero > "$T/r.bin"
mkfifo "$T/go"
#     Its run's CPU is its own whole life's, not that of the children it
#     reaped before the start (some may have been runs of other jobs).
JOBMETER_JOB=reaped-$UNIQ /usr/bin/time -f "%U %S %e" -o "$T/time.reaped" bash -c "
  dd if='$T/r.bin' of=/dev/null bs=1M status=none; $BURN cpu 0.4; : > '$T/pre_done'
  read -r _ < '$T/go'
  exec dd if='$T/r.bin' of=/dev/null bs=1M count=4 status=none" &
sleep 0.5
for _ in $(seq 1 200); do [ -e "$T/pre_done" ] && break; sleep 0.05; done   # its child reaped
# early's CPU before the agent: at most what it had at the scan (clock ticks)
early_cpu0=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' /proc/$early/stat)
start_agent "$T/empty.yaml" --interval 1 || { fail agent-start "agent did not become ready"; exit 1; }
sleep 1.2                                # a sample of it, after the scan
echo go > "$T/go"

# 6. 2,000 short processes (bash arithmetic loop: no hidden helpers), with a
#    busy unrelated exec loop on the side.
( for ((i = 0; i < 3000; i++)); do /bin/true; done ) &
noise=$!
JOBMETER_JOB=storm-$UNIQ bash -c 'for ((i = 0; i < 2000; i++)); do /bin/true; done'
wait $noise

# 4. OOM: 64 MiB limit, 256 MiB wanted.  Hybrid hosts: v1 memory controller;
#    pure v2 hosts: memory.max.
cg=""
if [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
  cg=/sys/fs/cgroup/memory/jm-oom-$UNIQ; mkdir -p "$cg"
  echo $((64 << 20)) > "$cg/memory.limit_in_bytes"
  echo 0 > "$cg/memory.swappiness" 2>/dev/null || true
elif [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
  cg=/sys/fs/cgroup/jm-oom-$UNIQ; mkdir -p "$cg"; echo $((64 << 20)) > "$cg/memory.max"
fi
if [ -n "$cg" ]; then
  JOBMETER_JOB=oom-$UNIQ sh -c "echo \$\$ > $cg/cgroup.procs; exec $BURN touch 256"
  wait_run "oom-$UNIQ" || fail oom-run "no run line"
  check_eq "oom: oom_killed" "$(run_field oom-$UNIQ oom_killed)" true
  check_eq "oom: failure" "$(run_field oom-$UNIQ outcome)" failure
  check_eq "oom: SIGKILL" "$(run_field oom-$UNIQ signal)" 9
  # The leader thread exited first (pthread_exit): the OOM killer picks
  # the thread that still holds the memory, whose tid is not the pid.
  JOBMETER_JOB=oomz-$UNIQ sh -c "echo \$\$ > $cg/cgroup.procs; exec $BURN zombie 256 1"
  wait_run "oomz-$UNIQ" || fail oomz-run "no run line"
  check_eq "oom, zombie leader: oom_killed" "$(run_field oomz-$UNIQ oom_killed)" true
  check_eq "oom, zombie leader: SIGKILL" "$(run_field oomz-$UNIQ signal)" 9
  rmdir "$cg" 2>/dev/null
else
  fail oom "no memory cgroup controller found (v1 memory or v2 memory.max)"
fi

# The identity variable behind a 3 KiB variable (the kernel walks the
# environment in chunks) in a process that lives well under 1 ms.
env -i LONG=$(head -c 3000 /dev/zero | tr '\0' x) PATH=/usr/bin:/bin JOBMETER_JOB=longenv-$UNIQ /bin/true
wait_run "longenv-$UNIQ" && pass "env: JOBMETER_JOB found after a 3 KiB variable" ||
  fail "env: JOBMETER_JOB found after a 3 KiB variable" "no run line"

wait $early $early_fit $early_long
JOBMETER_JOB=$long $BURN cpu 0.1
JOBMETER_JOB=$fit $BURN cpu 0.1
wait_run "$fit" 2 || fail env-fit-runs "fewer than 2 runs of the 113-character job"
sleep 0.5
check_eq "env: 113-character JOBMETER_JOB, found running and at exec: 2 runs" \
  "$(jq -c "select(.type==\"run\" and .job==\"$fit\")" "$T/out.jsonl" | wc -l)" 2
check_eq "env: 120-character JOBMETER_JOB: no run under a whole or a cut name" \
  "$(jq -c "select(.type==\"run\" and (.job|startswith(\"cut-$UNIQ\")))" "$T/out.jsonl" | wc -l)" 0
wait_run "storm-$UNIQ" || fail storm-run "no run line"
wait_run "early-$UNIQ" || fail early-run "no run line"
check_eq "storm: exactly 2,001 processes" "$(run_field storm-$UNIQ processes)" 2001
check_eq "storm: success" "$(run_field storm-$UNIQ outcome)" success
sleep 1.2
check_eq "storm: no loss line" "$(jq -c 'select(.type=="loss")' "$T/out.jsonl" | wc -l)" 0
check_eq "early: attributed" "$(run_field early-$UNIQ job)" "early-$UNIQ"
check_eq "early: source" "$(run_field early-$UNIQ source)" env
# A run found running costs its whole life (a run that outlives an agent
# restart is not cut short), and starts with its process.
check_within "early: the run's CPU is its whole life's" "$(run_field early-$UNIQ cpu_s)" 3.0 3
wsum=$(jq -s --arg j "early-$UNIQ" '[.[] | select(.type == "window" and .job == $j) | .cpu_s] | add' "$T/out.jsonl")
# The windows hold at most what it burnt after the scan: 3.0 s less what it
# had before we started the agent (one tick of slack).
if awk -v w="$wsum" -v c="$early_cpu0" 'BEGIN{exit !(c > 0 && w > 1.0 && w <= 3.0 - c + 0.011)}'; then
  pass "early: its windows count from the agent's start ($wsum s; $early_cpu0 s before)"
else fail "early: its windows count from the agent's start" "window cpu_s sum $wsum, $early_cpu0 s before the start"; fi
st=$(date -d "$(run_field early-$UNIQ start_time)" +%s.%N)
if awk -v s="$st" -v t="$t_early" 'BEGIN{d = s - t; exit !(d > -0.05 && d < 0.3)}'; then
  pass "early: the run started with its process ($st, launched at $t_early)"
else fail "early: the run started with its process" "start $st, launched at $t_early"; fi
wait_run "reaped-$UNIQ" || fail reaped-run "no run line"
check_within "early: a process that reaped a child before the start, its own bytes from then on" \
  "$(run_field reaped-$UNIQ file_read_bytes)" $((4 << 20)) 2
cpu=$(run_field reaped-$UNIQ cpu_s)
if awk -v c="$cpu" 'BEGIN{exit !(c > 0 && c < 0.3)}'; then
  pass "early: the run's CPU leaves out the 0.4 s its reaped child burnt before the start ($cpu s)"
else fail "early: the run's CPU leaves out the 0.4 s its reaped child burnt before the start" "cpu_s=$cpu"; fi
check_within "early: the run started with its process (duration vs GNU time's elapsed)" \
  "$(run_field reaped-$UNIQ duration_s)" "$(awk '{print $3}' "$T/time.reaped")" 5
wait $earlymt
wait_run "earlymt-$UNIQ" || fail earlymt-run "no run line"
# the thread's 1.5 s, used and ended before the agent started, are the
# run's too: 3.0 s in all
check_within "early: an exited thread's CPU from before the start is the run's" \
  "$(run_field earlymt-$UNIQ cpu_s)" 3.0 3
# The socket programs' registers offset (bpf/maps.bpf.h) is learned only
# from tasks whose stack cannot go away meanwhile: threads exiting under
# the sampler during the storm never retire it.
check_eq "storm: the learned registers offset held" "$(grep -c "saved registers" "$T/agent.log")" 0
stop_agent
