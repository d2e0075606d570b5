#!/usr/bin/env bash
# Kubernetes manifests: schema validation with kubernetes-models plus
# jobmeter's security rules (tests/js/validate_k8s.js), the ConfigMap's
# agent.yaml parsed by the real agent, and broken copies that must be
# rejected, so a passing run means the checks can fail.
source "$(dirname "$0")/../lib.sh"

JS=$ROOT/tests/js
K8S=$ROOT/deploy/kubernetes
if ! command -v node >/dev/null; then
  fail "node" "Node.js is not installed (scripts/deps.sh installs it)"; exit 1
fi
if [ ! -d "$JS/node_modules/kubernetes-models" ] || [ ! -d "$JS/node_modules/yaml" ]; then
  fail "tests/js dependencies" "run scripts/deps.sh (npm install in tests/js)"; exit 1
fi

# 1. The shipped manifests.
node "$JS/validate_k8s.js" "$K8S" --dump-agent-config "$T/agent.yaml" >"$T/validate.log" 2>&1
rc=$?
grep -E '^(PASS|FAIL) ' "$T/validate.log"
check_eq "validate_k8s.js on deploy/kubernetes: exit status" "$rc" 0
[ "$rc" -eq 0 ] || tail -n 5 "$T/validate.log"

# 2. The agent itself accepts the ConfigMap's configuration.
if [ ! -x "$AGENT" ]; then
  fail "agent accepts the ConfigMap's agent.yaml" "no agent binary ($AGENT)"
elif [ ! -s "$T/agent.yaml" ]; then
  fail "agent accepts the ConfigMap's agent.yaml" "validator wrote no agent.yaml"
else
  out=$("$AGENT" --check-config --config "$T/agent.yaml" 2>&1); rc=$?
  if [ "$rc" -eq 0 ]; then pass "agent --check-config accepts the ConfigMap's agent.yaml"
  else fail "agent accepts the ConfigMap's agent.yaml" "rc=$rc: $(head -n 3 <<<"$out" | tr '\n' ' ')"; fi
fi

# 3. Broken copies must fail, each for the expected reason.
#    broken NAME FILE SED-SCRIPT EXPECTED-FAIL-TEXT
broken() {
  local name=$1 file=$2 script=$3 want=$4 d=$T/broken-$1
  rm -rf "$d"; cp -r "$K8S" "$d"
  sed -i -e "$script" "$d/$file"
  if cmp -s "$K8S/$file" "$d/$file"; then
    fail "broken copy $name" "the edit did not apply to $file"; return
  fi
  node "$JS/validate_k8s.js" "$d" >"$d.log" 2>&1
  local rc=$? hit
  hit=$(grep '^FAIL ' "$d.log" | grep -F -- "$want" | head -n 1)
  if [ "$rc" -ne 0 ] && [ -n "$hit" ]; then
    pass "broken copy $name rejected (${hit#FAIL })"
  else
    fail "broken copy $name" "rc=$rc, no FAIL line with '$want': $(grep '^FAIL ' "$d.log" | head -n 3 | tr '\n' ' ')"
  fi
}
broken hostpid-string  agent-daemonset.yaml 's/hostPID: true/hostPID: "yes"/' 'hostPID must be boolean'
broken privileged      agent-daemonset.yaml 's/privileged: false/privileged: true/' 'privileged explicitly false'
broken escalation      agent-daemonset.yaml 's/allowPrivilegeEscalation: false/allowPrivilegeEscalation: true/' 'allowPrivilegeEscalation false'
broken cap-sys-admin   agent-daemonset.yaml 's/add: \["BPF",/add: ["SYS_ADMIN", "BPF",/' "capabilities add exactly"
broken cap-missing     agent-daemonset.yaml 's/, "DAC_READ_SEARCH"\]/]/' "capabilities add exactly"
broken no-drop-all     agent-daemonset.yaml 's/drop: \["ALL"\]/drop: ["NET_RAW"]/' 'capabilities drop [ALL]'
broken writable-host   agent-daemonset.yaml '/mountPath: \/sys\/kernel\/tracing/{n;d}' 'read-only except'
broken host-root       agent-daemonset.yaml 's|path: /sys/fs/cgroup|path: /|' 'hostPath volumes only'
broken no-hostpid      agent-daemonset.yaml 's/hostPID: true/hostPID: false/' 'hostPID true'
broken typo-field      agent-daemonset.yaml 's/readinessProbe:/readinessProbee:/' 'unknown field(s): /spec/template/spec/containers/0/readinessProbee'
broken bad-quantity    collector.yaml        's/memory: 1Gi/memory: one-gig/' 'must match format "quantity"'
broken collector-root  collector.yaml        's/runAsNonRoot: true/runAsNonRoot: false/' 'collector: pod runs as non-root'
broken wrong-url       agent-config.yaml     's|jobmeter-collector.jobmeter.svc:8443|collector.example:8443|' 'collector.url names the collector Service'
broken loopback-metrics agent-config.yaml    's|metrics_listen: 0.0.0.0:9464|metrics_listen: 127.0.0.1:9464|' 'is the probed port'
