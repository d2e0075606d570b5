#!/usr/bin/env bash
# OTLP/HTTP export of the real agent, decoded by an independent decoder (the
# protobufjs code OpenTelemetry JS generates from the official protos, in
# tests/js/otlp_decode.js): process.cpu.time of a job adds up to the run's
# cpu_s in the JSONL, the resource carries host, service and job attributes,
# and a run inside a kubelet-shaped cgroup carries its k8s names.
source "$(dirname "$0")/../lib.sh"
BURN=$HELPERS/jm_burn
CG=/sys/fs/cgroup/unified
CREATED=()

remove_cgroups() {
  local i
  for ((i = ${#CREATED[@]} - 1; i >= 0; i--)); do
    for _ in $(seq 1 50); do
      rmdir "$CG${CREATED[$i]}" 2>/dev/null && break
      [ -d "$CG${CREATED[$i]}" ] || break
      [ -n "$(find "$CG${CREATED[$i]}" -mindepth 1 -maxdepth 1 -type d -print -quit)" ] && break
      sleep 0.02
    done
  done
}
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
trap 'remove_cgroups; cleanup' EXIT

[ -f "$ROOT/tests/js/node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js" ] ||
  { fail otlp-setup "npm package @opentelemetry/otlp-transformer missing (cd tests/js && npm install)"; exit 1; }

# --- the receiver ---
node "$ROOT/tests/js/otlp_decode.js" "$T/otlp.jsonl" "$T/otlp.port" >"$T/receiver.log" 2>&1 &
_bg_pids+=("$!")
for _ in $(seq 1 100); do [ -s "$T/otlp.port" ] && break; sleep 0.05; done
OPORT=$(cat "$T/otlp.port" 2>/dev/null)
[ -n "$OPORT" ] || { fail otlp-receiver "receiver did not start: $(cat "$T/receiver.log")"; exit 1; }

# --- a kubelet-shaped cgroup (cgroupfs driver) with its log links, so the
#     agent names the pod; see tests/integration/30_identity_cgroups.sh ---
NS=jm-$UNIQ POD=reindex-q8z4m CTR=reindex
U=$(cat /proc/sys/kernel/random/uuid)
C=$( (cat /proc/sys/kernel/random/uuid; cat /proc/sys/kernel/random/uuid) | tr -d '\n-')
KCG=/kubepods/besteffort/pod$U/crio-$C
LR=$T/logs
mkdir -p "$LR/containers" "$LR/pods/${NS}_${POD}_$U/$CTR"
echo x > "$LR/pods/${NS}_${POD}_$U/$CTR/0.log"
ln -s "$LR/pods/${NS}_${POD}_$U/$CTR/0.log" "$LR/containers/${POD}_${NS}_$CTR-$C.log"
K8S=1
if ! grep -q " $CG cgroup2 " /proc/mounts || ! mkcg "$KCG"; then
  K8S=""; fail "otlp: kubelet cgroup" "cannot create $CG$KCG"
fi

cat > "$T/agent.yaml" <<EOF
kubernetes:
  enabled: true
  log_root: $LR
otlp:
  url: http://127.0.0.1:$OPORT/v1/metrics
EOF
start_agent "$T/agent.yaml" --interval 1 || { fail agent-start "agent did not become ready"; exit 1; }

JOB=otlp-$UNIQ
JOBMETER_JOB=$JOB $BURN cpu 1.0
wait_run "$JOB" || fail run "no run line for $JOB"
KJOB=""
if [ -n "$K8S" ]; then
  bash -c 'echo $$ > "$1/cgroup.procs" && exec "$2" cpu 0.5' _ "$CG$KCG" "$BURN"
  KJOB=$(jq -r --arg ns "$NS" 'select(.type=="run" and (.job | startswith($ns + "/"))) | .job' \
         "$T/out.jsonl" 2>/dev/null | head -n 1)
  for _ in $(seq 1 100); do
    [ -n "$KJOB" ] && break
    sleep 0.05
    KJOB=$(jq -r --arg ns "$NS" 'select(.type=="run" and (.job | startswith($ns + "/"))) | .job' \
           "$T/out.jsonl" 2>/dev/null | head -n 1)
  done
  [ -n "$KJOB" ] && pass "k8s run attributed ($KJOB)" || fail "k8s run attributed" "no run in namespace $NS"
fi
# The last window and the run's batch are exported at the next interval.
sleep 3

stop_agent; check_eq "agent exits 0 on SIGTERM" "$?" 0

OUT=$T/otlp.jsonl
n=$(jq -s 'length' "$OUT" 2>/dev/null)
if [ "${n:-0}" -gt 0 ]; then pass "receiver got $n requests"; else fail "receiver got requests" "none"; exit 1; fi
check_eq "every request decodes with the official schema" \
  "$(jq -r 'select(.error) | .error' "$OUT" | head -n 3)" ""
check_eq "POST to /v1/metrics" "$(jq -r '"\(.method) \(.path)"' "$OUT" | sort -u)" "POST /v1/metrics"
check_eq "Content-Type" "$(jq -r '.content_type' "$OUT" | sort -u)" "application/x-protobuf"
check_eq "Content-Encoding" "$(jq -r '.content_encoding' "$OUT" | sort -u)" "gzip"

# All resources of a job, across requests.
res() { jq -c --arg j "$1" '.request.resourceMetrics[]? |
  select(any(.resource.attributes[]?; .key=="jobmeter.job" and .value.stringValue==$j))' "$OUT"; }
attr() { jq -r --arg k "$1" '[.resource.attributes[] | select(.key==$k) | .value.stringValue][0] // empty'; }
res "$JOB" > "$T/job.res"
[ -s "$T/job.res" ] && pass "resources for $JOB" || fail "resources for $JOB" "none"

cpu_otlp=$(jq -s '[.[] | .scopeMetrics[].metrics[] | select(.name=="process.cpu.time") |
  .sum.dataPoints[].asDouble] | add // 0' "$T/job.res")
CPU=$(run_field "$JOB" cpu_s)
check_within "OTLP process.cpu.time sum vs JSONL cpu_s" "$cpu_otlp" "$CPU" 3
check_eq "process.cpu.time unit" \
  "$(jq -r '.scopeMetrics[].metrics[] | select(.name=="process.cpu.time") | .unit' "$T/job.res" | sort -u)" s
check_eq "process.cpu.time is a delta monotonic Sum" \
  "$(jq -r '.scopeMetrics[].metrics[] | select(.name=="process.cpu.time") |
     "\(.sum.aggregationTemporality) \(.sum.isMonotonic)"' "$T/job.res" | sort -u)" \
  "AGGREGATION_TEMPORALITY_DELTA true"
bad_times=$(jq -r '.scopeMetrics[].metrics[] | select(.name=="process.cpu.time") | .sum.dataPoints[] |
  select((.startTimeUnixNano | tonumber) > (.timeUnixNano | tonumber) or (.startTimeUnixNano | tonumber) == 0) |
  .timeUnixNano' "$T/job.res" | head -n 1)
check_eq "cpu points have start <= time" "$bad_times" ""
check_eq "host.name" "$(head -n 1 "$T/job.res" | attr host.name)" "$(uname -n)"
check_eq "service.name" "$(head -n 1 "$T/job.res" | attr service.name)" jobmeter
check_eq "runs: one success" "$(jq -s '[.[] | .scopeMetrics[].metrics[] | select(.name=="jobmeter.job.runs") |
  .sum.dataPoints[] | select(any(.attributes[]; .key=="outcome" and .value.stringValue=="success")) |
  .asInt | tonumber] | add' "$T/job.res")" 1
check_eq "no k8s attributes on an env-attributed job" \
  "$(jq -r '.resource.attributes[] | select(.key | startswith("k8s.")) | .key' "$T/job.res")" ""

if [ -n "$KJOB" ]; then
  res "$KJOB" > "$T/k8s.res"
  # The labels travel with the run: the resource holding the run has them.
  jq -c 'select(any(.scopeMetrics[].metrics[]; .name=="jobmeter.job.runs"))' "$T/k8s.res" > "$T/k8s.run"
  check_eq "k8s.namespace.name" "$(head -n 1 "$T/k8s.run" | attr k8s.namespace.name)" "$NS"
  check_eq "k8s.pod.name" "$(head -n 1 "$T/k8s.run" | attr k8s.pod.name)" "$POD"
  check_eq "k8s.container.name" "$(head -n 1 "$T/k8s.run" | attr k8s.container.name)" "$CTR"
  kcpu=$(jq -s '[.[] | .scopeMetrics[].metrics[] | select(.name=="process.cpu.time") |
    .sum.dataPoints[].asDouble] | add // 0' "$T/k8s.res")
  check_within "k8s job: OTLP cpu vs JSONL" "$kcpu" "$(run_field "$KJOB" cpu_s)" 3
fi

# The agent's own resource carries the loss counters.
check_eq "agent resource with loss counters" "$(jq -r '.request.resourceMetrics[] |
  select(all(.resource.attributes[]; .key != "jobmeter.job")) | .scopeMetrics[].metrics[].name' "$OUT" |
  sort -u | tr '\n' ' ')" "jobmeter.agent.events.lost jobmeter.agent.payloads.truncated "
