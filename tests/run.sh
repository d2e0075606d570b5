#!/usr/bin/env bash
# jobmeter test runner.  Every check prints one line "PASS <name>" or
# "FAIL <name>: <why>".  Unit test binaries (build/tests/test_*) and
# integration scripts (tests/integration/*.sh) are run in order; a program that
# exits non-zero without printing a FAIL line counts as one failure.
# Usage: tests/run.sh [unit|integration] [name-filter]
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
filter=${2:-}
pass=0; fail=0
log_dir=build/test-logs
mkdir -p "$log_dir"

run_one() {   # $1 = display name, rest = command
  local name=$1; shift
  local out="$log_dir/$(basename "$name").log" rc
  local t0=$(date +%s)
  "$@" >"$out" 2>&1 </dev/null
  rc=$?
  local p f
  p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out")
  grep -E '^(PASS|FAIL) ' "$out" | sed "s|^|  |"
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "  FAIL $name: exited $rc (log: $out)"; tail -n 15 "$out" | sed 's/^/      /'
    f=1
  elif [ "$f" -gt 0 ]; then
    echo "      (log: $out)"
  fi
  echo "  -- $name: $p passed, $f failed ($(( $(date +%s) - t0 )) s)"
  pass=$((pass + p)); fail=$((fail + f))
}

if [ "$what" = all ] || [ "$what" = unit ]; then
  echo "== unit tests"
  for t in build/tests/test_*; do
    [ -x "$t" ] || continue
    [ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
    run_one "$(basename "$t")" "$t"
  done
fi
if [ "$what" = all ] || [ "$what" = integration ]; then
  echo "== integration tests (root, real BPF, real processes)"
  for t in tests/integration/*.sh; do
    [ -f "$t" ] || continue
    [ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
    run_one "$(basename "$t" .sh)" bash "$t"
  done
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
