#!/usr/bin/env bash
# Workload identity on REAL cgroups: build the exact kubelet (systemd and
# cgroupfs driver) and systemd unit shapes under the cgroup v2 mount, exec a
# process inside each, check that /proc/PID/cgroup reports the expected path,
# and run the identity parsers (tests/helpers/jm_idcheck) on what the kernel
# reports, with a fake kubelet log root for the name lookup.
# Every cgroup this test creates is removed again (trap), including parents
# such as /kubepods.slice when they did not exist before.
source "$(dirname "$0")/../lib.sh"

CG=/sys/fs/cgroup/unified
CREATED=()          # cgroup dirs (relative to $CG) this run made, in creation order
PIDS=()

uuid() { cat /proc/sys/kernel/random/uuid; }
cid() { echo "$(uuid)$(uuid)" | tr -d '-'; }    # 64 lower-case hex

mkcg() {            # mkcg /a/b/c: create missing components, remember them
  local rel=$1 cur="" part
  IFS=/ read -ra parts <<<"${rel#/}"
  for part in "${parts[@]}"; do
    cur="$cur/$part"
    if [ ! -d "$CG$cur" ]; then
      if mkdir "$CG$cur" 2>/dev/null; then CREATED+=("$cur")
      elif [ ! -d "$CG$cur" ]; then return 1; fi
    fi
  done
}

start_in() {        # start_in /rel: exec `sleep` inside the cgroup; sets LAST_PID
  bash -c 'echo $$ > "$1/cgroup.procs" && exec sleep 300' _ "$CG$1" &
  LAST_PID=$!
  PIDS+=("$LAST_PID"); _bg_pids+=("$LAST_PID")
  for _ in $(seq 1 100); do
    [ "$(cat "/proc/$LAST_PID/comm" 2>/dev/null)" = sleep ] && return 0
    kill -0 "$LAST_PID" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}

cg_of() { sed -n 's/^0:://p' "/proc/$1/cgroup"; }
field() { sed -n "s/^$1=//p" <<<"$2"; }

remove_cgroups() {
  local p i
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  PIDS=()
  for ((i = ${#CREATED[@]} - 1; i >= 0; i--)); do
    # An exiting task can keep its cgroup populated for a moment.  A shared
    # parent (/system.slice, /kubepods.slice) that another test has since
    # put children in is theirs to remove now.
    for _ in $(seq 1 50); do
      rmdir "$CG${CREATED[$i]}" 2>/dev/null && break
      [ -d "$CG${CREATED[$i]}" ] || break
      has_children "$CG${CREATED[$i]}" && break
      sleep 0.02
    done
  done
}
has_children() { [ -n "$(find "$1" -mindepth 1 -maxdepth 1 -type d -print -quit)" ]; }
all_removed() {     # every dir we made is gone, or is a parent others now use
  local d
  for d in "${CREATED[@]}"; do
    [ -d "$CG$d" ] && ! has_children "$CG$d" && return 1
  done
  return 0
}
trap 'remove_cgroups; cleanup' EXIT

if [ "$(id -u)" != 0 ] || ! grep -q " $CG cgroup2 " /proc/mounts; then
  fail "identity_cgroups setup" "needs root and cgroup2 mounted at $CG"
  exit 1
fi

# The helper: the Makefile builds it; a stale or missing one is built here.
IDC=$HELPERS/jm_idcheck
for src in "$ROOT/tests/helpers/jm_idcheck.c" "$ROOT"/agent/identity/*.[ch] "$ROOT/agent/rules.c"; do
  if [ ! -x "$IDC" ] || [ "$src" -nt "$IDC" ]; then IDC=$T/jm_idcheck; break; fi
done
if [ "$IDC" = "$T/jm_idcheck" ]; then
  cc -std=gnu11 -O2 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
     -I"$ROOT/agent" -I"$ROOT" "$ROOT/tests/helpers/jm_idcheck.c" -o "$IDC" \
     || { fail "identity_cgroups helper" "cannot build jm_idcheck"; exit 1; }
fi

# ---- shapes -----------------------------------------------------------------
U1=$(uuid); C1=$(cid)          # systemd driver, Burstable, containerd
U2=$(uuid); C2=$(cid)          # systemd driver, Guaranteed, CRI-O
U3=$(uuid); C3=$(cid)          # cgroupfs driver, BestEffort, CRI-O leaf
U4=$(uuid); C4=$(cid)          # systemd driver, BestEffort, docker; no log links
K1="/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U1//-/_}.slice/cri-containerd-$C1.scope"
K2="/kubepods.slice/kubepods-pod${U2//-/_}.slice/crio-$C2.scope"
K3="/kubepods/besteffort/pod$U3/crio-$C3"
K4="/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U4//-/_}.slice/docker-$C4.scope"
S1="/system.slice/etl-sales-$UNIQ.service"
S2="/system.slice/etl-$UNIQ.slice/load-$UNIQ.service/worker"
S3="/user.slice/user-0.slice/session-$UNIQ.scope"

# Fake kubelet log root (what a DaemonSet sees through a hostPath mount).
LR=$T/logs
CRON_POD="nightly-sales-$(( $(date +%s) / 60 ))-x7k2p"
DEPLOY_POD="api-66b6c48dd5-4jw2p"
mkdir -p "$LR/containers" "$LR/pods/etl_${CRON_POD}_$U1/loader" "$LR/pods/web_${DEPLOY_POD}_$U2/api" \
         "$LR/pods/batch_reindex-q8z4m_$U3/reindex" "$LR/pods/default_debug_$U4"
for n in 0 1 2; do echo x > "$LR/pods/etl_${CRON_POD}_$U1/loader/$n.log"; done
echo x > "$LR/pods/web_${DEPLOY_POD}_$U2/api/0.log"
echo x > "$LR/pods/batch_reindex-q8z4m_$U3/reindex/0.log"
ln -s "$LR/pods/etl_${CRON_POD}_$U1/loader/2.log" "$LR/containers/${CRON_POD}_etl_loader-$C1.log"
ln -s "$LR/pods/web_${DEPLOY_POD}_$U2/api/0.log" "$LR/containers/${DEPLOY_POD}_web_api-$C2.log"
ln -s "$LR/pods/batch_reindex-q8z4m_$U3/reindex/0.log" "$LR/containers/reindex-q8z4m_batch_reindex-$C3.log"

for rel in "$K1" "$K2" "$K3" "$K4" "$S1" "$S2" "$S3"; do
  if mkcg "$rel" && [ -d "$CG$rel" ]; then pass "cgroup created $rel"
  else fail "cgroup created $rel" "mkdir failed"; fi
done

# ---- one real process per shape -----------------------------------------------
declare -A PID_OF
for rel in "$K1" "$K2" "$K3" "$K4" "$S1" "$S2" "$S3"; do
  if start_in "$rel"; then
    PID_OF[$rel]=$LAST_PID
    check_eq "proc cgroup line ${rel##*/}" "$(cg_of "$LAST_PID")" "$rel"
  else
    fail "process started in $rel" "could not exec inside the cgroup"
    PID_OF[$rel]=0
  fi
done

idc() { "$IDC" pid "${PID_OF[$1]}" "$LR" 2>&1; }

# ---- kubelet, systemd driver, Burstable, containerd: full resolution --------------
o=$(idc "$K1")
check_eq "k8s burstable pod uid" "$(field pod_uid "$o")" "$U1"
check_eq "k8s burstable container id" "$(field container_id "$o")" "$C1"
check_eq "k8s burstable runtime" "$(field runtime "$o")" "cri-containerd"
check_eq "k8s burstable qos" "$(field qos "$o")" "Burstable"
check_eq "k8s burstable driver" "$(field driver "$o")" "systemd"
check_eq "k8s burstable resolve" "$(field resolve "$o")" "2"
check_eq "k8s burstable ns" "$(field ns "$o")" "etl"
check_eq "k8s burstable pod" "$(field pod "$o")" "$CRON_POD"
check_eq "k8s burstable container" "$(field container "$o")" "loader"
check_eq "k8s burstable restarts" "$(field restarts "$o")" "2"
check_eq "k8s burstable job" "$(field job "$o")" "etl/nightly-sales"
check_eq "k8s burstable kind" "$(field kind "$o")" "CronJob"
check_eq "k8s path is not a systemd unit" "$(field unit "$o")" ""

# ---- Guaranteed, CRI-O: Deployment --------------------------------------------
o=$(idc "$K2")
check_eq "k8s guaranteed uid" "$(field pod_uid "$o")" "$U2"
check_eq "k8s guaranteed cid" "$(field container_id "$o")" "$C2"
check_eq "k8s guaranteed runtime" "$(field runtime "$o")" "crio"
check_eq "k8s guaranteed qos" "$(field qos "$o")" "Guaranteed"
check_eq "k8s guaranteed container" "$(field container "$o")" "api"
check_eq "k8s guaranteed restarts" "$(field restarts "$o")" "0"
check_eq "k8s guaranteed job" "$(field job "$o")" "web/api"
check_eq "k8s guaranteed kind" "$(field kind "$o")" "Deployment"

# ---- cgroupfs driver, BestEffort, crio- leaf: Job ---------------------------------
o=$(idc "$K3")
check_eq "k8s cgroupfs uid" "$(field pod_uid "$o")" "$U3"
check_eq "k8s cgroupfs cid" "$(field container_id "$o")" "$C3"
check_eq "k8s cgroupfs runtime" "$(field runtime "$o")" "crio"
check_eq "k8s cgroupfs qos" "$(field qos "$o")" "BestEffort"
check_eq "k8s cgroupfs driver" "$(field driver "$o")" "cgroupfs"
check_eq "k8s cgroupfs job" "$(field job "$o")" "batch/reindex"
check_eq "k8s cgroupfs kind" "$(field kind "$o")" "Job"

# ---- docker, no containers/ link yet: pod only -------------------------------------
o=$(idc "$K4")
check_eq "k8s docker runtime" "$(field runtime "$o")" "docker"
check_eq "k8s docker qos" "$(field qos "$o")" "BestEffort"
check_eq "k8s no link: pod only" "$(field resolve "$o")" "1"
check_eq "k8s no link: pod name" "$(field job "$o")" "default/debug"
check_eq "k8s no link: no container" "$(field container "$o")" ""
check_eq "k8s no link: restarts unknown" "$(field restarts "$o")" "-1"

# ---- systemd units ---------------------------------------------------------------
o=$(idc "$S1")
check_eq "systemd service unit" "$(field unit "$o")" "etl-sales-$UNIQ.service"
check_eq "systemd service job" "$(field systemd_job "$o")" "etl-sales-$UNIQ"
check_eq "systemd service is not k8s" "$(field pod_uid "$o")" ""
o=$(idc "$S2")
check_eq "systemd nested slice + sub-cgroup unit" "$(field unit "$o")" "load-$UNIQ.service"
check_eq "systemd nested job" "$(field systemd_job "$o")" "load-$UNIQ"
o=$(idc "$S3")
check_eq "systemd user session unit" "$(field unit "$o")" "session-$UNIQ.scope"
check_eq "systemd user session flagged" "$(field user_unit "$o")" "1"
check_eq "systemd user session not a job" "$(field systemd_job "$o")" ""

# Our own shell sits elsewhere: nothing must be found there (exit 1).
"$IDC" cgroup "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U1//-/_}.slice" >/dev/null
check_eq "pod slice alone is no identity" "$?" "1"

# ---- cleanup is part of the contract ---------------------------------------------
n_created=${#CREATED[@]}
remove_cgroups
if all_removed; then pass "all $n_created created cgroups removed"
else fail "cgroups removed" "left: $(for d in "${CREATED[@]}"; do [ -d "$CG$d" ] && echo -n "$d "; done)"; fi
