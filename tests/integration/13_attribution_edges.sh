#!/usr/bin/env bash
# Attribution edge cases through the real agent, each one a defect an
# adversarial review reproduced: real cgroups (v2 under the unified mount and
# v1 hierarchies of this hybrid host) with the shapes systemd and kubelet
# create, real processes exec'd inside them.  Every cgroup made is removed.
source "$(dirname "$0")/../lib.sh"
U=$UNIQ
CG2=$(awk '$3=="cgroup2"{print $2; exit}' /proc/self/mounts)
V1SD=/sys/fs/cgroup/systemd
[ -n "$CG2" ] || { fail cgroup2 "no cgroup2 mount"; exit 1; }
created=()
mkcg() {            # mkcg DIR: mkdir -p, remembering each directory it made
  local d=$1 missing=()
  while [ ! -d "$d" ]; do missing=("$d" "${missing[@]}"); d=$(dirname "$d"); done
  for d in "${missing[@]}"; do mkdir "$d" && created+=("$d") || return 1; done
}
cleanup_cg() {
  local i d
  for ((i=${#created[@]}-1; i>=0; i--)); do
    d=${created[$i]}
    for _ in $(seq 1 50); do rmdir "$d" 2>/dev/null && break; [ -d "$d" ] || break; sleep 0.02; done
  done
}
trap 'cleanup_cg; cleanup' EXIT
# in_cg DIR CMD...: run CMD exec'd inside cgroup DIR (its cgroup.procs)
in_cg() { local d=$1; shift; sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$d" "$@"; }
runs_of() { jq -c --arg j "$1" 'select(.type=="run" and .job==$j)' "$T/out.jsonl" 2>/dev/null | wc -l; }

# ---- systemd units outside system.slice (Slice=, systemd-run --slice) --------
mkcg "$CG2/batch-$U.slice/batch-$U-nightly.slice/load-$U.service"
mkcg "$CG2/batch-$U.slice/etl-$U.service"
V1OK=0
[ -d "$V1SD" ] && mkcg "$V1SD/batch-$U.slice/v1etl-$U.service" && V1OK=1

cat > "$T/agent.yaml" <<YAML
systemd:
  - unit: "etl-$U.service"
  - unit: "load-$U.service"
  - unit: "v1etl-$U.service"
YAML
start_agent "$T/agent.yaml" --interval 1 || { fail agent-start "agent not ready"; exit 1; }

in_cg "$CG2/batch-$U.slice/etl-$U.service" sh -c 'exit 0'
wait_run "etl-$U" || fail "systemd: unit in a custom slice" "no run of etl-$U"
check_eq "systemd: unit in a custom slice is attributed" "$(run_field "etl-$U" source)" systemd
check_eq "systemd: custom slice unit label" \
  "$(jq -rs --arg j "etl-$U" '[.[] | select(.type=="run" and .job==$j)][0].labels["systemd.unit"]' "$T/out.jsonl")" \
  "etl-$U.service"
in_cg "$CG2/batch-$U.slice/batch-$U-nightly.slice/load-$U.service" sh -c 'exit 3'
wait_run "load-$U" || fail "systemd: unit in a nested custom slice" "no run of load-$U"
check_eq "systemd: unit in a nested custom slice, outcome" "$(run_field "load-$U" outcome)" failure
if [ "$V1OK" = 1 ]; then
  # v1 name=systemd hierarchy: the process's 0:: line stays the root.
  # (on v1 the path is read from /proc at the exec: the process must live a moment)
  in_cg "$V1SD/batch-$U.slice/v1etl-$U.service" sh -c "sleep 0.5; exit 0"
  wait_run "v1etl-$U" || fail "systemd v1: unit in a custom slice" "no run of v1etl-$U"
  check_eq "systemd v1: unit in a custom slice is attributed" "$(run_field "v1etl-$U" source)" systemd
else
  fail "systemd v1" "no name=systemd hierarchy at $V1SD"
fi
stop_agent

# ---- max_jobs is a cap on jobs at once, not over the agent's life ------------
# (jobs named per run -- pods, JOBMETER_JOB=<task>-<date> -- come and go).
# Other sessions' jobs on this machine count against the cap too, so it is
# not 2: 14 jobs one after another through a cap of 8.
printf 'max_jobs: 8\n' > "$T/cap.yaml"
start_agent "$T/cap.yaml" --interval 1 || { fail agent-start "agent not ready"; exit 1; }
got=""
for n in $(seq 1 14); do
  JOBMETER_JOB=cap$n-$U sh -c 'exit 0'
  wait_run "cap$n-$U" 1 && got="${got}1" || got="${got}0"
  sleep 0.3
done
check_eq "max_jobs 8: 14 jobs one after another are all attributed" "$got" 11111111111111
# (That a job is still refused while max_jobs jobs have runs is in
# tests/unit/test_jobs.c: here other sessions' jobs come and go.)
stop_agent

# ---- kubelet: bare pods with long names are jobs of their own -----------------
# "<ns>/<pod>" can be 317 characters, a job name 127: two pods that share
# the kept prefix must not merge into one job (the second one a "restart").
LR=$T/logs; mkdir -p "$LR/containers"
NS=ns$U
PFX=$(head -c 150 /dev/zero | tr '\0' p)
declare -A KD
for P in "$PFX-one" "$PFX-two"; do
  UID_=$(cat /proc/sys/kernel/random/uuid)
  CID=$(cat /proc/sys/kernel/random/uuid /proc/sys/kernel/random/uuid | tr -d -- '-\n')
  mkdir -p "$LR/pods/${NS}_${P}_${UID_}/main"; touch "$LR/pods/${NS}_${P}_${UID_}/main/0.log"
  ln -s "$LR/pods/${NS}_${P}_${UID_}/main/0.log" "$LR/containers/${P}_${NS}_main-${CID}.log"
  KD[$P]=$CG2/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_//-/_}.slice/cri-containerd-$CID.scope
  mkcg "${KD[$P]}"
done
printf 'kubernetes:\n  log_root: %s\n' "$LR" > "$T/k8s.yaml"
start_agent "$T/k8s.yaml" --interval 1 || { fail agent-start "agent not ready"; exit 1; }
in_cg "${KD[$PFX-one]}" sh -c 'exit 1'
in_cg "${KD[$PFX-two]}" sh -c 'exit 0'
for _ in $(seq 1 100); do
  [ "$(jq -c --arg n "$NS/" 'select(.type=="run" and (.job | startswith($n)))' "$T/out.jsonl" | wc -l)" -ge 2 ] && break
  sleep 0.1
done
check_eq "k8s: two long-named bare pods are two jobs" \
  "$(jq -r --arg n "$NS/" 'select(.type=="run" and (.job | startswith($n))) | .job' "$T/out.jsonl" | sort -u | wc -l)" 2
check_eq "k8s: the second long-named pod is no restart of the first" \
  "$(jq -r --arg n "$NS/" 'select(.type=="run" and (.job | startswith($n))) | "\(.outcome)/\(.restart)"' "$T/out.jsonl" | sort | tr '\n' ' ')" \
  "failure/false success/false "
stop_agent

# ---- JOBMETER_JOB inside pods and units: concurrent ones stay runs of their own
# (the variable names the job; the pod or unit still says which run)
EU1=$(cat /proc/sys/kernel/random/uuid); EU2=$(cat /proc/sys/kernel/random/uuid)
EC1=$(cat /proc/sys/kernel/random/uuid /proc/sys/kernel/random/uuid | tr -d -- '-\n')
EC2=$(cat /proc/sys/kernel/random/uuid /proc/sys/kernel/random/uuid | tr -d -- '-\n')
KB=$CG2/kubepods.slice/kubepods-burstable.slice
EP1=$KB/kubepods-burstable-pod${EU1//-/_}.slice/cri-containerd-$EC1.scope
EP2=$KB/kubepods-burstable-pod${EU2//-/_}.slice/cri-containerd-$EC2.scope
ES1=$CG2/system.slice/system-envu$U.slice/envu$U@a.service
ES2=$CG2/system.slice/system-envu$U.slice/envu$U@b.service
mkcg "$EP1"; mkcg "$EP2"; mkcg "$ES1"; mkcg "$ES2"
: > "$T/envk.yaml"
start_agent "$T/envk.yaml" --interval 1 || { fail agent-start "agent not ready"; exit 1; }
# The container's entrypoint (a pod process by its cgroup) exports the
# variable and execs the job; a unit's ExecStart does the same.
in_cg "$EP1" env JOBMETER_JOB="envpod-$U" sh -c 'sleep 1.2; exit 0' & e1=$!
in_cg "$ES1" env JOBMETER_JOB="envunit-$U" sh -c 'sleep 1.2; exit 0' & e2=$!
sleep 0.3
in_cg "$EP2" env JOBMETER_JOB="envpod-$U" sh -c 'exit 1'
in_cg "$ES2" env JOBMETER_JOB="envunit-$U" sh -c 'exit 1'
wait $e1 $e2
wait_run "envpod-$U" 2; wait_run "envunit-$U" 2
for j in envpod envunit; do
  check_eq "env in $j: two at once are two runs, each with its outcome" \
    "$(jq -r --arg j "$j-$U" 'select(.type=="run" and .job==$j) | .outcome' "$T/out.jsonl" | sort | tr '\n' ' ')" \
    "failure success "
done
check_eq "env in a unit: the run carries its unit" \
  "$(jq -r --arg j "envunit-$U" 'select(.type=="run" and .job==$j) | .labels["systemd.unit"]' "$T/out.jsonl" | sort | tr '\n' ' ')" \
  "envu$U@a.service envu$U@b.service "
stop_agent

# ---- an exec into a running container (exec probe, kubectl exec) ------------
# joins the container's cgroup: part of its run, not how the container ends.
PU=$(cat /proc/sys/kernel/random/uuid)
PC=$(cat /proc/sys/kernel/random/uuid /proc/sys/kernel/random/uuid | tr -d -- '-\n')
PD=$CG2/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${PU//-/_}.slice/cri-containerd-$PC.scope
mkcg "$PD"
PLR=$T/plogs; PPOD=probe-x7k2p; PNS=pr$U
mkdir -p "$PLR/pods/${PNS}_${PPOD}_${PU}/main" "$PLR/containers"
touch "$PLR/pods/${PNS}_${PPOD}_${PU}/main/0.log"
ln -s "$PLR/pods/${PNS}_${PPOD}_${PU}/main/0.log" "$PLR/containers/${PPOD}_${PNS}_main-${PC}.log"
printf 'kubernetes:\n  log_root: %s\n' "$PLR" > "$T/probe.yaml"
start_agent "$T/probe.yaml" --interval 1 || { fail agent-start "agent not ready"; exit 1; }
in_cg "$PD" sh -c 'sleep 1.5; exit 0' & pm=$!
sleep 0.4
in_cg "$PD" sh -c 'exit 1'          # a readiness probe: not ready yet
wait $pm
wait_run "$PNS/probe" || fail "k8s exec probe" "no run of $PNS/probe"
check_eq "k8s: a failing exec probe does not fail the container's run" \
  "$(run_field "$PNS/probe" outcome)/$(run_field "$PNS/probe" processes)" success/3
stop_agent

# ---- kubelet links a container's log name just after the container starts ----
# (often after its first exec): the run still gets its k8s.container label.
LU=$(cat /proc/sys/kernel/random/uuid)
LC=$(cat /proc/sys/kernel/random/uuid /proc/sys/kernel/random/uuid | tr -d -- '-\n')
LD=$CG2/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${LU//-/_}.slice/cri-containerd-$LC.scope
mkcg "$LD"
LLR=$T/llogs; LPOD=late-x7k2p; LNS=la$U
mkdir -p "$LLR/pods/${LNS}_${LPOD}_${LU}/main" "$LLR/containers"
touch "$LLR/pods/${LNS}_${LPOD}_${LU}/main/0.log"
printf 'kubernetes:\n  log_root: %s\n' "$LLR" > "$T/late.yaml"
start_agent "$T/late.yaml" --interval 1 || { fail agent-start "agent not ready"; exit 1; }
in_cg "$LD" sh -c 'sleep 2.5; exit 0' & lm=$!
sleep 0.2
ln -s "$LLR/pods/${LNS}_${LPOD}_${LU}/main/0.log" "$LLR/containers/${LPOD}_${LNS}_main-${LC}.log"
wait $lm
wait_run "$LNS/late" || fail "k8s late log link" "no run of $LNS/late"
check_eq "k8s: container label once kubelet linked the log" \
  "$(jq -rs --arg j "$LNS/late" '[.[] | select(.type=="run" and .job==$j)][0].labels["k8s.container"]' "$T/out.jsonl")" main
stop_agent

# ---- an identity variable past the exec probe's 512 environment strings ------
# (a Kubernetes namespace with ~80 Services gives a pod that many service
# link variables): the process is not attributed, and that must show.
MP=$(free_port) || { fail setup "no free port"; exit 1; }
: > "$T/empty.yaml"
start_agent "$T/empty.yaml" --interval 1 --metrics-listen "127.0.0.1:$MP" ||
  { fail agent-start "agent not ready"; exit 1; }
python3 - "$U" <<'PY'
import subprocess, sys
u = sys.argv[1]
env = {"PATH": "/usr/bin:/bin"}
for i in range(600):
    env["SVC%03d_SERVICE_HOST" % i] = "10.0.%d.%d" % (i // 250, i % 250)
subprocess.run(["sh", "-c", "exit 0"], env={"JOBMETER_JOB": "envfirst-" + u, **env})
subprocess.run(["sh", "-c", "exit 0"], env={**env, "JOBMETER_JOB": "envlast-" + u})
PY
wait_run "envfirst-$U" || fail "env: JOBMETER_JOB first of 600 variables" "no run"
sleep 1.5
check_eq "env: JOBMETER_JOB after 512 strings is not seen (the probe's bound)" "$(runs_of "envlast-$U")" 0
n=$(curl -s "http://127.0.0.1:$MP/metrics" | awk '$1=="jobmeter_env_scan_truncated_total"{print $2}')
check "env: the unread environment is counted in /metrics (got ${n:-none})" test "${n:-0}" -ge 1
check "env: and logged" grep -q "more than 512 environment strings" "$T/agent.log"
stop_agent
