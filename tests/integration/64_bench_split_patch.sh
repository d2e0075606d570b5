#!/usr/bin/env bash
# bench/split/split.patch (the split benchmark's experiment-only agent) must
# keep applying to the tree: `bench/run.sh split` builds from it.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$T/tree"
# A copy, so that the check needs no git repository and touches nothing.
(cd "$ROOT" && tar cf - bpf agent) | (cd "$T/tree" && tar xf -)
check "split.patch applies to bpf/ and agent/" \
  git -C "$T/tree" apply --check "$ROOT/bench/split/split.patch"
# Every flag the README documents is one the patch reads.
for f in detach stop1 stop2 stop3 noparse; do
  check "split.patch reads the $f flag" grep -q "\"$f\"" "$ROOT/bench/split/split.patch"
  check "README documents the $f flag" grep -q "\`$f\`" "$ROOT/bench/split/README.md"
done
