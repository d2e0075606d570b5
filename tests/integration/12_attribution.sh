#!/usr/bin/env bash
# Attribution by config rules, systemd units and Kubernetes pods, end to end
# through the real agent.  The cgroups are real (cgroup v2 under
# /sys/fs/cgroup/unified on this hybrid host) with the exact path shapes
# kubelet and systemd create; the kubelet log root is a fake tree.
source "$(dirname "$0")/../lib.sh"
BURN=$HELPERS/jm_burn
U=$UNIQ
CG2=$(awk '$3=="cgroup2"{print $2; exit}' /proc/self/mounts)
[ -n "$CG2" ] || { fail cgroup2 "no cgroup2 mount"; exit 1; }
UID_=3f2a9c1e-8b7d-4e6f-a5c4-1b2d3e4f5a6b
CID=$(printf 'c%.0s' {1..8}; head -c 28 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 56)
POD=nightly-sales-29512345-x7k2p
NS=etl
SVC=etl-sales-$U.service
created=()
mkcg() { mkdir -p "$CG2$1" && created+=("$CG2$1"); }
cleanup_cg() {
  for ((i=${#created[@]}-1; i>=0; i--)); do
    d=${created[$i]}
    [ -f "$d/cgroup.procs" ] && while read -r p; do echo "$p" > "$CG2/cgroup.procs" 2>/dev/null; done < "$d/cgroup.procs"
    rmdir "$d" 2>/dev/null
  done
}
v1_created=()
cleanup_v1() {
  for ((i=${#v1_created[@]}-1; i>=0; i--)); do rmdir "${v1_created[$i]}" 2>/dev/null; done
}
trap 'cleanup_v1; cleanup_cg; cleanup' EXIT

# fake kubelet log root
LR=$T/varlog
mkdir -p "$LR/pods/${NS}_${POD}_${UID_}/main" "$LR/containers"
touch "$LR/pods/${NS}_${POD}_${UID_}/main/0.log" "$LR/pods/${NS}_${POD}_${UID_}/main/1.log"
ln -s "$LR/pods/${NS}_${POD}_${UID_}/main/1.log" "$LR/containers/${POD}_${NS}_main-${CID}.log"
KPATH=/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_//-/_}.slice/cri-containerd-$CID.scope
mkcg /kubepods.slice; mkcg /kubepods.slice/kubepods-burstable.slice
mkcg /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_//-/_}.slice
mkcg "$KPATH"
mkcg /system.slice; mkcg "/system.slice/$SVC"
mkcg "/system.slice/pair-a-$U.service"; mkcg "/system.slice/pair-b-$U.service"
# A second pod of the same CronJob, running at the same time as the first.
UID2=7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f
CID2=$(printf 'd%.0s' {1..8}; head -c 28 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 56)
POD2=nightly-sales-29512399-b8c9d
mkdir -p "$LR/pods/${NS}_${POD2}_${UID2}/main"
touch "$LR/pods/${NS}_${POD2}_${UID2}/main/0.log"
ln -s "$LR/pods/${NS}_${POD2}_${UID2}/main/0.log" "$LR/containers/${POD2}_${NS}_main-${CID2}.log"
KPATH2=/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID2//-/_}.slice/cri-containerd-$CID2.scope
mkcg /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID2//-/_}.slice
mkcg "$KPATH2"

cat > "$T/agent.yaml" <<YAML
jobs:
  - name: rule-argv-$U
    match:
      comm: jm_burn
      argv: "cpu 0\\\\.7$"
  - name: rule-mt-$U
    match:
      comm: jm_burn
      argv: "hold 8 1\\\\.2$"
  - name: rule-bytes-$U
    match:
      comm: sh
      argv: "rule-bytes-$U"
  - name: rule-sockmt-$U
    match:
      comm: jm_burn
      argv: "sockmt 8 4$"
  - name: rule-short-$U
    match:
      comm: jm_burn
      argv: "exit 7$"
systemd:
  - unit: "etl-sales-$U.*"
  - unit: "pair-*-$U.service"
    job: pair-$U
kubernetes:
  log_root: $LR
YAML
start_agent "$T/agent.yaml" --interval 1 || { fail agent-start "agent not ready"; exit 1; }

# rule: comm + argv regex, no env var
$BURN cpu 0.7
wait_run "rule-argv-$U" || fail rule-run "no run"
check_eq "rule: source" "$(run_field rule-argv-$U source)" rule
check_within "rule: cpu" "$(run_field rule-argv-$U cpu_s)" 0.7 5
# A rule-matched process that starts a thread at once (before user space
# saw its exec and asked the kernel to track it): the thread's exit, halfway
# through, is not the process's; CPU and duration are the whole process's.
/usr/bin/time -f "%U %S %e" -o "$T/time.mt" $BURN hold 8 1.2
wait_run "rule-mt-$U" || fail rule-mt-run "no run"
check_within "rule: thread started before tracking, cpu of the whole process" \
  "$(run_field rule-mt-$U cpu_s)" "$(awk '{print $1+$2}' "$T/time.mt")" 5
check_within "rule: thread started before tracking, duration of the whole process" \
  "$(run_field rule-mt-$U duration_s)" "$(awk '{print $3}' "$T/time.mt")" 10
check_eq "rule: thread started before tracking, one run" \
  "$(jq -c "select(.type==\"run\" and .job==\"rule-mt-$U\")" "$T/out.jsonl" | wc -l)" 1
# rule-matched processes are tracked by user space (the per-process counters
# of the spill table, not a kernel-claimed slot): bytes read after the match
# are all counted, across an exec that keeps the process.
head -c $((8 << 20)) /dev/urandom > "$T/rule-bytes.bin"
sh -c "sleep 0.5; exec dd if=$T/rule-bytes.bin of=/dev/null bs=64k status=none # rule-bytes-$U"
wait_run "rule-bytes-$U" || fail rule-bytes-run "no run"
# (plus the few KiB the dynamic loader reads from libraries at exec)
check_within "rule: bytes read by a user-tracked process" "$(run_field rule-bytes-$U file_read_bytes)" $((8 << 20)) 1
# Threads that existed before user space tracked the process (it runs the
# jm_mark iterator over them then): their socket bytes all count.  Each of
# 4 threads sends 8 MiB 0.5 s after the start, to a child forked at start
# (before tracking, so the child and its reads are not the job's).
$BURN sockmt 8 4
wait_run "rule-sockmt-$U" || fail rule-sockmt-run "no run"
check_within "rule: socket bytes of threads started before tracking" \
  "$(run_field rule-sockmt-$U net_tx_bytes)" $((32 << 20)) 1
check_eq "thread filter: no job thread missing" "$(agent_kernel_stat 6)" 0
# 100 rule-matched processes shorter than a tick, most of them gone before
# user space tracks them: each one's CPU against its own wait4() rusage.
# The kernel charges a task's last stretch at its last schedule, after the
# exit tracepoint: for these, nearly all of it.
python3 - "$BURN" "$T/rshort.rusage" <<'PY'
import os, sys
tot = 0.0
for _ in range(100):
    pid = os.fork()
    if pid == 0:
        os.execv(sys.argv[1], [sys.argv[1], "exit", "7"])
    _, _, ru = os.wait4(pid, 0)
    tot += ru.ru_utime + ru.ru_stime
open(sys.argv[2], "w").write("%.6f\n" % tot)
PY
wait_run "rule-short-$U" 100 || fail rule-short-run "fewer than 100 runs of rule-short-$U"
check_within "rule: 100 short processes' CPU vs their wait4() rusage" \
  "$(jq -s --arg j "rule-short-$U" '[.[] | select(.type=="run" and .job==$j) | .cpu_s] | add' "$T/out.jsonl")" \
  "$(cat "$T/rshort.rusage")" 10
$BURN cpu 0.3        # same comm, argv does not match: not a job
sleep 0.5
check_eq "rule: non-matching argv is not attributed" \
  "$(jq -c "select(.type==\"run\" and .job==\"rule-argv-$U\")" "$T/out.jsonl" | wc -l)" 1

# systemd: a unit that fails twice then succeeds (restarts of the unit)
for code in 1 1 0; do
  sh -c "echo \$\$ > '$CG2/system.slice/$SVC/cgroup.procs'; exec $BURN exit $code"
done
wait_run "etl-sales-$U" 3 || fail systemd-run "fewer than 3 runs of etl-sales-$U"
check_eq "systemd: job named after the unit" "$(run_field etl-sales-$U job)" "etl-sales-$U"
check_eq "systemd: source" "$(run_field etl-sales-$U source)" systemd
check_eq "systemd: restarts of the unit" \
  "$(jq -rs --arg j "etl-sales-$U" '[.[] | select(.type=="run" and .job==$j) | .restart] | map(tostring) | join(",")' "$T/out.jsonl")" \
  "false,true,true"
check_eq "systemd: unit label" \
  "$(jq -rs --arg j "etl-sales-$U" '[.[] | select(.type=="run" and .job==$j)][0].labels["systemd.unit"]' "$T/out.jsonl")" "$SVC"

# kubernetes: a CronJob pod's container, fails then (restart) succeeds
sh -c "echo \$\$ > '$CG2$KPATH/cgroup.procs'; exec $BURN exit 2"
sh -c "echo \$\$ > '$CG2$KPATH/cgroup.procs'; exec $BURN cpu 0.2"
wait_run "$NS/nightly-sales" 2 || fail k8s-run "no runs of $NS/nightly-sales"
check_eq "k8s: job from the CronJob name" "$(run_field "$NS/nightly-sales" job)" "$NS/nightly-sales"
check_eq "k8s: source" "$(run_field "$NS/nightly-sales" source)" kubernetes
check_eq "k8s: namespace label" \
  "$(jq -rs --arg j "$NS/nightly-sales" '[.[] | select(.type=="run" and .job==$j)][0].labels["k8s.namespace"]' "$T/out.jsonl")" "$NS"
check_eq "k8s: pod label" \
  "$(jq -rs --arg j "$NS/nightly-sales" '[.[] | select(.type=="run" and .job==$j)][0].labels["k8s.pod"]' "$T/out.jsonl")" "$POD"
check_eq "k8s: container label" \
  "$(jq -rs --arg j "$NS/nightly-sales" '[.[] | select(.type=="run" and .job==$j)][0].labels["k8s.container"]' "$T/out.jsonl")" main
check_eq "k8s: restart after a failed run" "$(run_field "$NS/nightly-sales" restart 1)" true

# Concurrent runs of one job are runs of their own: two units one rule maps
# to one job, two pods of one CronJob.  Each keeps its own labels and outcome.
sh -c "echo \$\$ > '$CG2/system.slice/pair-a-$U.service/cgroup.procs'; exec sh -c 'sleep 1.2; exit 0'" &
pa=$!
sleep 0.3
sh -c "echo \$\$ > '$CG2/system.slice/pair-b-$U.service/cgroup.procs'; exec $BURN exit 1"
wait $pa
wait_run "pair-$U" 2 || fail pair-runs "fewer than 2 runs of pair-$U"
check_eq "systemd: two units of one job are two runs, each with its unit and outcome" \
  "$(jq -rs --arg j "pair-$U" '[.[] | select(.type=="run" and .job==$j) | "\(.labels["systemd.unit"])=\(.outcome)"] | sort | join(",")' "$T/out.jsonl")" \
  "pair-a-$U.service=success,pair-b-$U.service=failure"
n0=$(jq -c "select(.type==\"run\" and .job==\"$NS/nightly-sales\")" "$T/out.jsonl" | wc -l)
sh -c "echo \$\$ > '$CG2$KPATH/cgroup.procs'; exec sh -c 'sleep 1.2; exit 0'" &
pk=$!
sleep 0.3
sh -c "echo \$\$ > '$CG2$KPATH2/cgroup.procs'; exec $BURN exit 3"
wait $pk
wait_run "$NS/nightly-sales" $((n0 + 2)) || fail k8s-pods "fewer than 2 more runs of $NS/nightly-sales"
check_eq "k8s: two pods of one CronJob are two runs, each with its pod and outcome" \
  "$(jq -rs --arg j "$NS/nightly-sales" --argjson n "$n0" '[.[] | select(.type=="run" and .job==$j)][$n:] | map("\(.labels["k8s.pod"])=\(.outcome)") | sort | join(",")' "$T/out.jsonl")" \
  "$POD=success,$POD2=failure"

# kubernetes on cgroup v1: kubelet's cgroupfs shape in the v1 memory hierarchy
# (this hybrid host's memory controller); "0::" stays "/" for the process, so
# the agent must read the v1 line of /proc/PID/cgroup.
V1MEM=/sys/fs/cgroup/memory
if [ -f "$V1MEM/memory.limit_in_bytes" ]; then
  NS1=v1$U; POD1=load-29512346-q8m4z
  UID1=$(cat /proc/sys/kernel/random/uuid)
  CID1=$(cat /proc/sys/kernel/random/uuid /proc/sys/kernel/random/uuid | tr -d -- '-\n')
  mkdir -p "$LR/pods/${NS1}_${POD1}_${UID1}/main"
  touch "$LR/pods/${NS1}_${POD1}_${UID1}/main/0.log"
  ln -s "$LR/pods/${NS1}_${POD1}_${UID1}/main/0.log" "$LR/containers/${POD1}_${NS1}_main-${CID1}.log"
  V1PATH=/jm-$U/kubepods/burstable/pod$UID1/$CID1
  d=$V1MEM
  for part in jm-$U kubepods burstable pod$UID1 $CID1; do
    d=$d/$part; mkdir "$d" && v1_created+=("$d")
  done
  sh -c "echo \$\$ > '$V1MEM$V1PATH/cgroup.procs'; grep -q '^0::/\$' /proc/self/cgroup && echo v2-root > '$T/v1.state'; exec $BURN cpu 0.3"
  check_eq "k8s v1: the process's v2 line stays the root" "$(cat "$T/v1.state" 2>/dev/null)" v2-root
  wait_run "$NS1/load" || fail k8s-v1-run "no run of $NS1/load"
  check_eq "k8s v1: job from the v1 memory cgroup" "$(run_field "$NS1/load" job)" "$NS1/load"
  check_eq "k8s v1: source" "$(run_field "$NS1/load" source)" kubernetes
  check_eq "k8s v1: pod label" \
    "$(jq -rs --arg j "$NS1/load" '[.[] | select(.type=="run" and .job==$j)][0].labels["k8s.pod"]' "$T/out.jsonl")" "$POD1"
else
  fail k8s-v1 "no v1 memory hierarchy at $V1MEM on this host"
fi
stop_agent
