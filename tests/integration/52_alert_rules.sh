#!/usr/bin/env bash
# The Prometheus rules in deploy/prometheus: promtool validates them and runs
# their unit tests (series that fire and that must not fire each alert).
source "$(dirname "$0")/../lib.sh"
DIR=$ROOT/deploy/prometheus
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
[ -x "$PROMTOOL" ] || { fail "alert rules: promtool" "$PROMTOOL missing (apt package prometheus)"; exit 1; }

out=$("$PROMTOOL" check rules "$DIR/alerts.yaml" 2>&1); rc=$?
if [ $rc -eq 0 ]; then pass "promtool check rules ($(grep -o '[0-9]* rules found' <<<"$out"))"
else fail "promtool check rules" "$(tail -n 5 <<<"$out")"; fi

# promtool resolves rule_files relative to the test file.
out=$(cd "$DIR" && "$PROMTOOL" test rules alerts_test.yaml 2>&1); rc=$?
if [ $rc -eq 0 ]; then pass "promtool test rules"
else fail "promtool test rules" "$(head -n 20 <<<"$out" | tr '\n' ' ')"; fi

# Every alert has at least one test case that expects it to fire and one
# that expects silence, so no alert goes untested.
for a in $(sed -n 's/^ *- alert: *//p' "$DIR/alerts.yaml"); do
  fires=$(awk -v a="$a" '$0 ~ "alertname: *"a"$" {f=1; next} f && /exp_alerts: *\[\]/ {f=0; next}
                          f && /exp_alerts:$/ {n++; f=0} END {print n+0}' "$DIR/alerts_test.yaml")
  silent=$(awk -v a="$a" '$0 ~ "alertname: *"a"$" {f=1; next} f && /exp_alerts: *\[\]/ {n++; f=0}
                           f && /exp_alerts:$/ {f=0} END {print n+0}' "$DIR/alerts_test.yaml")
  if [ "$fires" -gt 0 ] && [ "$silent" -gt 0 ]; then pass "alert $a: $fires firing and $silent silent cases"
  else fail "alert $a tested both ways" "firing cases $fires, silent cases $silent"; fi
done

# A broken rule must be caught: the test above is not vacuous.
sed 's/\* 0\.99/* 0.5/' "$DIR/alerts.yaml" > "$T/alerts.yaml"
cp "$DIR/alerts_test.yaml" "$T/"
if (cd "$T" && "$PROMTOOL" test rules alerts_test.yaml >/dev/null 2>&1); then
  fail "rule tests catch a wrong SLO target" "a 50 % target still passed"
else pass "rule tests catch a wrong SLO target"; fi
