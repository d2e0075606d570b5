#!/usr/bin/env bash
# systemd units: install into a staging root, `systemd-analyze verify` and
# `security` them (no systemd PID 1 here: everything runs with --root), check
# the sysusers/tmpfiles snippets, then prove least privilege with the real
# agent: it runs as an unprivileged user holding exactly the unit's
# capabilities, its system calls, socket families and paths fit the unit's
# sandbox (strace), and removing any one capability makes it fail naming it.
source "$(dirname "$0")/../lib.sh"

UNITS=$ROOT/deploy/systemd
AGENT_UNIT=$UNITS/jobmeter-agent.service
COLL_UNIT=$UNITS/jobmeter-collector.service
DEST=$T/root
# Highest exposure scores accepted (systemd-analyze security, 0..10).
MAX_AGENT_EXPOSURE=3.0
MAX_COLLECTOR_EXPOSURE=1.5
chmod 0711 "$T"    # the unprivileged agent must reach its files under $T

# ---------------------------------------------------------------- unit text
unit_val() { sed -n "s/^$2=//p" "$1"; }   # every value of KEY, one per line
amb=$(unit_val "$AGENT_UNIT" AmbientCapabilities)
bnd=$(unit_val "$AGENT_UNIT" CapabilityBoundingSet)
check_eq "agent unit: AmbientCapabilities == CapabilityBoundingSet" "$amb" "$bnd"
read -r -a CAPS <<<"$amb"
if [ "${#CAPS[@]}" -ge 2 ] && [ "$(printf '%s\n' "${CAPS[@]}" | grep -vc '^CAP_[A-Z_]*$')" -eq 0 ]; then
  pass "agent unit: one capability set (${CAPS[*]})"
else
  fail "agent unit: one capability set" "AmbientCapabilities= must be one line of CAP_* names, got [$amb]"
fi
check_eq "agent unit: runs as user jobmeter" "$(unit_val "$AGENT_UNIT" User)" jobmeter
check_eq "collector unit: runs as user jobmeter-collector" "$(unit_val "$COLL_UNIT" User)" jobmeter-collector
check_eq "collector unit: no capabilities" "$(unit_val "$COLL_UNIT" CapabilityBoundingSet)|$(unit_val "$COLL_UNIT" AmbientCapabilities)" "|"
# Directives that would hide other processes or the kernel from the agent.
bad=$(grep -E '^(ProtectProc=invisible|ProtectProc=noaccess|ProcSubset=pid|PrivateUsers=yes|PrivatePIDs=yes)' "$AGENT_UNIT" || true)
check_eq "agent unit: keeps the host view of /proc and capabilities" "$bad" ""

# ------------------------------------------------------------- install.sh
if DESTDIR="$DEST" PREFIX=/usr BUILD="$ROOT/build" "$ROOT/scripts/install.sh" >"$T/install.log" 2>&1; then
  pass "install.sh into a staging root"
else
  fail "install.sh into a staging root" "$(tail -n 3 "$T/install.log" | tr '\n' ' ')"
fi
for f in usr/bin/jobmeter-agent usr/bin/jobmeter-collector usr/bin/jobmeter-report \
         lib/systemd/system/jobmeter-agent.service lib/systemd/system/jobmeter-collector.service \
         usr/lib/sysusers.d/jobmeter.conf usr/lib/tmpfiles.d/jobmeter.conf \
         etc/jobmeter/agent.yaml etc/default/jobmeter-collector; do
  [ -e "$DEST/$f" ] || fail "install.sh: /$f" "not installed"
done
[ -x "$DEST/usr/bin/jobmeter-agent" ] && [ -f "$DEST/etc/jobmeter/agent.yaml" ] &&
  pass "install.sh: binaries, units, snippets and config in place"
# An admin's edited configuration survives a reinstall; the example goes to .dist.
if [ -f "$DEST/etc/jobmeter/agent.yaml" ]; then
  echo "# edited by the admin $UNIQ" >>"$DEST/etc/jobmeter/agent.yaml"
  DESTDIR="$DEST" PREFIX=/usr BUILD="$ROOT/build" "$ROOT/scripts/install.sh" >"$T/install2.log" 2>&1
  if grep -q "$UNIQ" "$DEST/etc/jobmeter/agent.yaml" && cmp -s "$DEST/etc/jobmeter/agent.yaml.dist" "$ROOT/deploy/config/agent.yaml"; then
    pass "install.sh: keeps an edited agent.yaml, writes agent.yaml.dist"
  else
    fail "install.sh: keeps an edited agent.yaml" "$(cat "$T/install2.log")"
  fi
  rm -f "$DEST/etc/jobmeter/agent.yaml.dist"
fi
# PREFIX moves the binaries and the units' ExecStart with them.
if DESTDIR="$T/root-local" PREFIX=/usr/local BUILD="$ROOT/build" "$ROOT/scripts/install.sh" >/dev/null 2>&1 &&
   [ -x "$T/root-local/usr/local/bin/jobmeter-agent" ] &&
   grep -q '^ExecStart=/usr/local/bin/jobmeter-agent ' "$T/root-local/lib/systemd/system/jobmeter-agent.service"; then
  pass "install.sh: PREFIX=/usr/local moves binaries and ExecStart"
else
  fail "install.sh: PREFIX=/usr/local" "binaries or ExecStart not under /usr/local"
fi
# Missing example config: a clear error, nothing installed.
mkdir -p "$T/fakeroot/scripts" "$T/fakeroot/deploy/systemd"
cp "$ROOT/scripts/install.sh" "$T/fakeroot/scripts/"
cp "$UNITS"/* "$T/fakeroot/deploy/systemd/"
msg=$(DESTDIR="$T/root-noconf" BUILD="$ROOT/build" "$T/fakeroot/scripts/install.sh" 2>&1); rc=$?
if [ "$rc" -ne 0 ] && [[ $msg == *agent.yaml* ]] && [ ! -e "$T/root-noconf" ]; then
  pass "install.sh: fails clearly without deploy/config/agent.yaml"
else
  fail "install.sh: without deploy/config/agent.yaml" "rc=$rc msg=[$msg]"
fi

# ------------------------------------------------------------ systemd-analyze
# The staging root needs the standard targets the units refer to.
mkdir -p "$DEST/usr/lib/systemd/system"
cp -a /usr/lib/systemd/system/. "$DEST/usr/lib/systemd/system/"
out=$(systemd-analyze verify --root="$DEST" jobmeter-agent.service jobmeter-collector.service 2>&1); rc=$?
if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
  pass "systemd-analyze verify: both units clean"
else
  fail "systemd-analyze verify" "rc=$rc: $out"
fi
# The same check must notice a bad unit (so the pass above means something).
cp "$DEST/lib/systemd/system/jobmeter-agent.service" "$T/agent.orig"
sed -i 's/^NoNewPrivileges=/NoNewPrivilegez=/' "$DEST/lib/systemd/system/jobmeter-agent.service"
out=$(systemd-analyze verify --root="$DEST" jobmeter-agent.service 2>&1)
if [[ $out == *NoNewPrivilegez* ]]; then pass "systemd-analyze verify: catches a misspelt directive"
else fail "systemd-analyze verify: catches a misspelt directive" "no complaint: [$out]"; fi
cp "$T/agent.orig" "$DEST/lib/systemd/system/jobmeter-agent.service"

exposure() {
  systemd-analyze security --offline=true --root="$DEST" "$1" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}
for pair in "jobmeter-agent.service:$MAX_AGENT_EXPOSURE" "jobmeter-collector.service:$MAX_COLLECTOR_EXPOSURE"; do
  u=${pair%%:*} max=${pair##*:}
  s=$(exposure "$u")
  if [ -n "$s" ] && awk -v s="$s" -v m="$max" 'BEGIN{exit !(s <= m)}'; then
    pass "systemd-analyze security $u: exposure $s <= $max"
  else
    fail "systemd-analyze security $u" "exposure [$s] > $max"
  fi
  # deploy/README.md records the score; it must not go stale.
  if grep -Eq "\`?$u\`?[^0-9]*\| *$s\b" "$ROOT/deploy/README.md"; then
    pass "deploy/README.md records $u exposure $s"
  else
    fail "deploy/README.md records $u exposure" "no table row '$u | $s' in deploy/README.md"
  fi
done

# ----------------------------------------------------- sysusers and tmpfiles
sysout=$(systemd-sysusers --root="$DEST" 2>&1); rc=$?
a=$(grep '^jobmeter:' "$DEST/etc/passwd" 2>/dev/null | cut -d: -f6,7)
c=$(grep '^jobmeter-collector:' "$DEST/etc/passwd" 2>/dev/null | cut -d: -f6,7)
check_eq "sysusers: jobmeter user (rc=$rc)" "$a" "/var/lib/jobmeter:/usr/sbin/nologin"
check_eq "sysusers: jobmeter-collector user" "$c" "/var/lib/jobmeter-collector:/usr/sbin/nologin"
touch "$DEST/etc/jobmeter/token"
systemd-tmpfiles --root="$DEST" --create jobmeter.conf >"$T/tmpfiles.log" 2>&1
juid=$(grep '^jobmeter:' "$DEST/etc/passwd" 2>/dev/null | cut -d: -f3)
check_eq "tmpfiles: /var/lib/jobmeter/spool owner and mode" \
  "$(stat -c '%u %a' "$DEST/var/lib/jobmeter/spool" 2>/dev/null)" "$juid 750"
check_eq "tmpfiles: /etc/jobmeter/token readable by the agent's group only" \
  "$(stat -c '%u %g %a' "$DEST/etc/jobmeter/token" 2>/dev/null)" "0 $(grep '^jobmeter:' "$DEST/etc/group" | cut -d: -f3) 640"
: "$sysout"

# ------------------------------------------------------ least privilege run
BIN=$DEST/usr/bin/jobmeter-agent
if [ ! -x "$BIN" ]; then
  fail "least privilege" "no agent binary (build/bin/jobmeter-agent not built?)"
  exit 1
fi
# An unprivileged uid with no passwd entry: nothing on this machine is touched.
TUID=
for u in $(seq 61000 61999); do
  getent passwd "$u" >/dev/null || getent group "$u" >/dev/null || { TUID=$u; break; }
done
RUN=$T/run
mkdir -p "$RUN/state"
chown -R "$TUID:$TUID" "$RUN"
# A private copy of sleep: an exe rule that can only match this test's process.
mkdir -p "$T/bin"
cp "$(command -v sleep)" "$T/bin/jm-sleep-$UNIQ"
cat >"$T/agent.yaml" <<EOF
interval: 1
jobs:
  - name: $UNIQ-exe
    match:
      exe: "$T/bin/jm-sleep-$UNIQ"
collector:
  spool_dir: $RUN/state/spool
EOF
chmod 0644 "$T/agent.yaml"

lc() { echo "$1" | tr 'A-Z' 'a-z'; }
capspec() {   # "-all,+bpf,+perfmon" from CAP_ names
  local s="-all" c
  for c in "$@"; do s+=",+$(lc "${c#CAP_}")"; done
  echo "$s"
}
# as_agent TAG CAPS... -- ARGS: run the installed agent as $TUID with exactly
# CAPS (inheritable, ambient and bounding, no_new_privs as in the unit).
as_agent() {
  local tag=$1; shift
  local caps=() spec
  while [ "$1" != -- ]; do caps+=("$1"); shift; done; shift
  spec=$(capspec "${caps[@]}")
  rm -f "$RUN/ready-$tag"
  timeout 60 setpriv --reuid="$TUID" --regid="$TUID" --clear-groups \
    --inh-caps="$spec" --ambient-caps="$spec" --bounding-set="$spec" --no-new-privs -- \
    "$@" >"$T/agent-$tag.log" 2>&1
}
AGENT_ARGS=(--config "$T/agent.yaml" --state-dir "$RUN/state" --interval 1)

# run_observed TAG CAPS...: the agent with CAPS for 5 s, while three jobs of
# another user (root) run: two started before the agent, found by the
# start-up scan of /proc (one named by JOBMETER_JOB in /proc/PID/environ, one
# by an exe rule on /proc/PID/exe), and one started once the agent is ready
# (seen at exec by eBPF).  Sets RC and PRE/EXE/POST (run lines of each job).
run_observed() {
  local tag=$1; shift
  local out=$RUN/out-$tag.jsonl pre=$UNIQ-$tag-pre post=$UNIQ-$tag-post apid jpid xpid
  JOBMETER_JOB=$pre sh -c 'sleep 2.5' &
  jpid=$!; _bg_pids+=("$jpid")
  "$T/bin/jm-sleep-$UNIQ" 2.5 &
  xpid=$!; _bg_pids+=("$xpid")
  sleep 0.3
  as_agent "$tag" "$@" -- "$BIN" "${AGENT_ARGS[@]}" --duration 5 \
    --ready-file "$RUN/ready-$tag" --jsonl "$out" &
  apid=$!; _bg_pids+=("$apid")
  for _ in $(seq 1 200); do
    [ -f "$RUN/ready-$tag" ] && break
    kill -0 "$apid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -f "$RUN/ready-$tag" ]; then
    JOBMETER_JOB=$post sh -c 'head -c 4000000 /dev/zero | cat >/dev/null; sleep 0.3'
  fi
  wait "$apid"; RC=$?
  wait "$jpid" "$xpid" 2>/dev/null
  PRE=$(jq -c --arg j "$pre" 'select(.type=="run" and .job==$j)' "$out" 2>/dev/null | wc -l)
  EXE=$(jq -c --arg j "$UNIQ-exe" 'select(.type=="run" and .job==$j)' "$out" 2>/dev/null | wc -l)
  POST=$(jq -c --arg j "$post" 'select(.type=="run" and .job==$j)' "$out" 2>/dev/null | wc -l)
}

# 1. exactly the unit's capabilities: ready, sees both jobs, exits 0.
run_observed full "${CAPS[@]}"
if [ "$RC" -eq 0 ] && [ -f "$RUN/ready-full" ]; then
  pass "agent as uid $TUID with only ${CAPS[*]}: ready, exit 0"
else
  fail "agent with only the unit's capabilities" "rc=$RC ready=$([ -f "$RUN/ready-full" ] && echo yes || echo no): $(tail -n 5 "$T/agent-full.log" | tr '\n' ' ')"
fi
if [ "$POST" -ge 1 ]; then pass "unprivileged agent attributes a root-owned job started after it ($POST run)"
else fail "unprivileged agent attributes a root-owned job started after it" "no run line in out-full.jsonl"; fi
if [ "$PRE" -ge 1 ]; then pass "unprivileged agent attributes a root-owned running job by its environ ($PRE run)"
else fail "unprivileged agent attributes a root-owned running job by its environ" "no run line in out-full.jsonl"; fi
if [ "$EXE" -ge 1 ]; then pass "unprivileged agent attributes a root-owned running job by its exe ($EXE run)"
else fail "unprivileged agent attributes a root-owned running job by its exe" "no run line in out-full.jsonl"; fi
FULL_SEEN="$PRE $EXE $POST"

# 2. Both services under strace, as they run in production: the
#    unprivileged agent ships batches (to "localhost", so name resolution is
#    exercised) to the collector, which holds no capability at all, and
#    serves /healthz and /metrics.  Everything they do must fit their units.
expand_filter() {   # allowed syscalls of a unit's SystemCallFilter= lines, one per line
  local unit=$1
  systemd-analyze syscall-filter 2>/dev/null | awk -v unit="$unit" '
    /^@/ { g = $1; next }
    /^ +[@a-z0-9_]/ { m[g] = m[g] " " $1 }
    function add(x, sign,   n, i, a) {
      if (x ~ /^@/) { n = split(m[x], a, " "); for (i = 1; i <= n; i++) add(a[i], sign); return }
      if (sign > 0) allow[x] = 1; else delete allow[x]
    }
    END {
      while ((getline line < unit) > 0) {
        if (line !~ /^SystemCallFilter=/) continue
        sub(/^SystemCallFilter=/, "", line)
        sign = 1
        if (line ~ /^~/) { sign = -1; sub(/^~/, "", line) }
        n = split(line, w, " ")
        for (i = 1; i <= n; i++) add(w[i], sign)
      }
      add("@default", 1)        # always allowed by systemd
      for (x in allow) print x
    }'
}
expand_filter "$AGENT_UNIT" | sort -u >"$T/allowed.txt"
if grep -qx bpf "$T/allowed.txt" && grep -qx read "$T/allowed.txt" && ! grep -qx init_module "$T/allowed.txt"; then
  pass "agent unit: SystemCallFilter expands ($(wc -l <"$T/allowed.txt") calls, bpf allowed, init_module not)"
else
  fail "agent unit: SystemCallFilter expands" "unexpected set in $T/allowed.txt"
fi
# sandbox_checks NAME UNIT STRACE_FILE WRITABLE_REGEX
sandbox_checks() {
  local name=$1 unit=$2 tr=$3 wre=$4 denied fams allowed_fams bad_fams devs homes writes f
  expand_filter "$unit" | sort -u >"$T/$name-allowed.txt"
  sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p' "$tr" | sort -u >"$T/$name-used.txt"
  denied=$(comm -23 "$T/$name-used.txt" "$T/$name-allowed.txt" | tr '\n' ' ')
  if [ -s "$T/$name-used.txt" ] && [ -z "$denied" ]; then
    pass "$name: its $(wc -l <"$T/$name-used.txt") system calls are all allowed by SystemCallFilter="
  else
    fail "$name: system calls vs SystemCallFilter=" "not allowed: [$denied]"
  fi
  fams=$(grep -oE '(socket|socketpair)\((AF|PF)_[A-Z0-9]+' "$tr" | sed -E 's/.*\((AF|PF)_/AF_/' | sort -u | tr '\n' ' ')
  allowed_fams=" $(unit_val "$unit" RestrictAddressFamilies) "
  bad_fams=
  for f in $fams; do [[ $allowed_fams == *" $f "* ]] || bad_fams+="$f "; done
  check_eq "$name: socket families (${fams:-none}) within RestrictAddressFamilies=" "$bad_fams" ""
  devs=$(grep -oE 'open(at)?\([^"]*"/dev/[^"]*"' "$tr" | sed -E 's/.*"(.*)"/\1/' |
         grep -vxE '/dev/(null|zero|full|random|urandom|tty|pts/.*|ptmx|shm/.*)' | sort -u | tr '\n' ' ')
  check_eq "$name: opens no device PrivateDevices= hides" "$devs" ""
  homes=$(grep -oE 'open(at)?\([^"]*"(/home|/root|/run/user)/[^"]*"' "$tr" | sort -u | tr '\n' ' ')
  check_eq "$name: opens nothing ProtectHome= hides" "$homes" ""
  # Successful writes, creations, renames and removals, with directory fds
  # resolved (strace -y prints "3</dir>"): all must be inside the writable dir.
  writes=$(grep -E '^[0-9]+ +((open|openat)\(.*O_(WRONLY|RDWR|CREAT)|(mkdir|mkdirat|rename|renameat|renameat2|unlink|unlinkat|link|linkat|symlink|symlinkat|creat|truncate)\()' "$tr" |
           grep -v ' = -1 ' |
           sed -nE 's/^[0-9]+ +[a-z0-9]+\([0-9]+<([^>]*)>, "([^"]*)".*/\1\/\2/p; t; s/^[0-9]+ +[a-z0-9]+\((AT_FDCWD(<[^>]*>)?, )?"([^"]*)".*/\3/p' |
           grep -vE "^($wre|/dev/null)" | sort -u | tr '\n' ' ')
  check_eq "$name: writes only its own directory (ProtectSystem=strict)" "$writes" ""
  # MemoryDenyWriteExecute=: no page both writable and executable.
  local wx
  wx=$(grep -cE '^[0-9]+ +(mmap|mprotect|pkey_mprotect)\(.*(PROT_WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE)' "$tr")
  check_eq "$name: no writable+executable mapping (MemoryDenyWriteExecute=)" "$wx" 0
  # RestrictNamespaces=: no namespace created or joined.
  local ns
  ns=$(grep -E '^[0-9]+ +(clone|clone3|unshare|setns)\(' "$tr" | grep -c 'CLONE_NEW')
  check_eq "$name: creates no namespace (RestrictNamespaces=)" "$ns" 0
}
CBIN=$DEST/usr/bin/jobmeter-collector
if ! command -v strace >/dev/null; then
  fail "services under strace" "strace is not installed"
elif [ ! -x "$CBIN" ]; then
  fail "services under strace" "no collector binary"
else
  mkdir -p "$RUN/coll"; printf '%s\n' "tok-$UNIQ" >"$RUN/coll/token"
  chown -R "$TUID:$TUID" "$RUN/coll"; chmod 0600 "$RUN/coll/token"
  cport=$((20000 + RANDOM % 20000)); mport=$((cport + 1))
  as_agent coll -- strace -ff -qq -y -o "$RUN/c-strace" "$CBIN" --listen "127.0.0.1:$cport" \
    --db "$RUN/coll/jobmeter.db" --token-file "$RUN/coll/token" &
  cpid=$!; _bg_pids+=("$cpid")
  for _ in $(seq 1 100); do
    curl -fs -m 2 "http://127.0.0.1:$cport/healthz" >/dev/null 2>&1 && break
    sleep 0.05
  done
  printf 'interval: 1\nmetrics_listen: 127.0.0.1:%s\ncollector:\n  url: http://localhost:%s/v1/batches\n  token_file: %s\n  spool_dir: %s\n' \
    "$mport" "$cport" "$RUN/coll/token" "$RUN/state/spool" >"$T/agent-ship.yaml"
  chmod 0644 "$T/agent-ship.yaml"
  as_agent strace "${CAPS[@]}" -- strace -ff -qq -y -o "$RUN/a-strace" "$BIN" --config "$T/agent-ship.yaml" \
    --state-dir "$RUN/state" --duration 4 --ready-file "$RUN/ready-strace" &
  apid=$!; _bg_pids+=("$apid")
  for _ in $(seq 1 300); do [ -f "$RUN/ready-strace" ] && break; kill -0 "$apid" 2>/dev/null || break; sleep 0.05; done
  h=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/healthz")
  m=$(curl -s -m 2 "http://127.0.0.1:$mport/metrics" | grep -c '^jobmeter_')
  wait "$apid"; rc=$?
  check_eq "agent under strace: exit status" "$rc" 0
  check_eq "agent's /healthz answers" "$h" 200
  if [ "$m" -gt 0 ]; then pass "agent's /metrics serves $m jobmeter_ samples"; else fail "agent's /metrics" "no jobmeter_ samples"; fi
  # Stop exactly our collector (its argv starts with its path and our port).
  kill -TERM $(pgrep -f -- "^$CBIN --listen 127.0.0.1:$cport ") 2>/dev/null
  wait "$cpid"
  aid=$(cat "$RUN/state/agent-id" 2>/dev/null)
  nb=$(sqlite3 "$RUN/coll/jobmeter.db" "SELECT count(*) FROM batches WHERE agent_id = '$aid'" 2>/dev/null)
  if [ -n "$aid" ] && [ "${nb:-0}" -ge 1 ]; then
    pass "collector (no capabilities) stored $nb batch(es) of the unprivileged agent"
  else
    fail "collector stored the agent's batches" "agent-id [$aid], batches [$nb]: $(tail -n 3 "$T/agent-strace.log" | tr '\n' ' ')"
  fi
  # One file per thread (-ff: no interleaved "unfinished" lines); merge them
  # with the thread id in front, as strace -f would print it.
  for x in a c; do
    for f in "$RUN/$x-strace".[0-9]*; do sed "s/^/${f##*.} /" "$f"; done >"$RUN/$x-merged.trace"
  done
  sandbox_checks agent "$AGENT_UNIT" "$RUN/a-merged.trace" "$RUN/"
  sandbox_checks collector "$COLL_UNIT" "$RUN/c-merged.trace" "$RUN/coll/"
  # The comparison can fail: the agent's calls against the collector's filter.
  if comm -23 "$T/agent-used.txt" "$T/collector-allowed.txt" | grep -qx bpf; then
    pass "strace comparison catches a forbidden call (agent's bpf vs collector's filter)"
  else
    fail "strace comparison catches a forbidden call" "bpf not reported as denied by the collector's filter"
  fi
fi

# 3. each capability is needed: without it the agent fails and names it
#    (a silent partial failure would be a blind spot in production).
for drop in "${CAPS[@]}"; do
  keep=()
  for c in "${CAPS[@]}"; do [ "$c" = "$drop" ] || keep+=("$c"); done
  run_observed "no-$drop" "${keep[@]}"
  name=${drop#CAP_}
  # Needed = the agent refuses to run, or it misses something it saw with
  # the full set.  Otherwise the capability is superfluous: remove it.
  if [ "$RC" -ne 0 ] || [ "$PRE $EXE $POST" != "$FULL_SEEN" ]; then
    pass "$drop is needed (exit $RC; environ/exe/exec jobs seen: $PRE/$EXE/$POST vs ${FULL_SEEN// //})"
  else
    fail "$drop is needed" "the agent ran and saw every job without it: drop it from the unit"
  fi
  if [ "$RC" -ne 0 ] && grep -qi "$name" "$T/agent-no-$drop.log"; then
    pass "without $drop: exit $RC, message names it"
  else
    fail "without $drop" "rc=$RC (want non-zero and a message naming $name); log: $(tail -n 2 "$T/agent-no-$drop.log" | tr '\n' ' ')"
  fi
done
