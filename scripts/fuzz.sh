#!/usr/bin/env bash
# Build and run every libFuzzer target tests/fuzz/fuzz_*.c.
#
# Usage: scripts/fuzz.sh SECONDS [name-filter...]
#   SECONDS       -max_total_time per target (default 60)
#   name-filter   only targets whose name contains one of these words
#   FUZZ_SRC=dir  where the fuzz_*.c targets are (default tests/fuzz)
#   BUILD=dir     build directory (default build); everything lands in
#                 $BUILD/fuzz/<name>/: the binary, corpus/, fuzz.log and any
#                 crash-*/timeout-*/oom-* reproducer
#
# Convention for fuzz targets (each engineer's fuzz_*.c follows it):
#   The file defines LLVMFuzzerTestOneInput and, within its first 10 lines,
#   names the project sources it must be linked with:
#       // fuzz-sources: agent/protocol/mysql.c agent/sql.c
#   Paths are relative to the repository root; a path under build/ means
#   $BUILD/... and is generated with `make BUILD=$BUILD <path>` when missing
#   (e.g. build/proto/jobmeter.pb-c.c).  Targets link with the libraries of
#   the main build (-lz -lprotobuf-c ..., as needed); one more line may add
#   linker flags:
#       // fuzz-libs: -lfoo
#   A file without the fuzz-sources line still builds: its sources are then
#   derived from its #include "..." lines, transitively (x.h found under the
#   file's directory, agent/, . or $BUILD/proto brings in the x.c next to
#   it), and the script says so.
#   Targets are compiled with
#       clang -g -O1 -fsanitize=fuzzer,address,undefined
#             -fno-sanitize-recover=undefined -Iagent -I. -I$BUILD/proto
#   plus -std=gnu11 -D_GNU_SOURCE (the dialect of the main build) and
#   -Werror=implicit-function-declaration (an undeclared function returning a
#   pointer is silently truncated, a bug the sanitizers cannot see).
#
# Per target the script prints executions, exec/s, coverage (cov/ft/corpus
# from libFuzzer's final DONE line) and exits non-zero when any target fails
# to build, crashes, times out, runs out of memory or trips a sanitizer.
set -u
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
filters=("$@")
BUILD=${BUILD:-build}
CLANG=${CLANG:-clang}
CFLAGS_FUZZ=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
             -Iagent -I. -I"$BUILD/proto" -std=gnu11 -D_GNU_SOURCE
             -Werror=implicit-function-declaration)
# The main build's libraries (Makefile LDLIBS); --as-needed keeps only used ones.
LIBS_DEFAULT=(-Wl,--as-needed -lbpf -lelf -lz -lprotobuf-c -lyaml -lcurl -lmicrohttpd -lsqlite3
              -lpthread -lm)

case "$seconds" in
  ''|*[!0-9]*) echo "usage: $0 SECONDS [name-filter...]" >&2; exit 2 ;;
esac
command -v "$CLANG" >/dev/null || { echo "fuzz: $CLANG not found (scripts/deps.sh installs it)" >&2; exit 2; }

# Words after the marker on the first matching line among the first 10.
directive() {   # $1 = file, $2 = marker
  head -n 10 "$1" | sed -n "s|^[[:space:]]*//[[:space:]]*$2:[[:space:]]*||p" | head -n 1
}

# Fallback when a target has no fuzz-sources line: the .c files next to the
# headers it includes, transitively (bounded).
derive_sources() {   # $1 = fuzz file
  local queue=("$1") seen=" " out=() f inc base h c n=0
  while [ ${#queue[@]} -gt 0 ] && [ $n -lt 500 ]; do
    f=${queue[0]}; queue=("${queue[@]:1}"); n=$((n + 1))
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
      for base in "$(dirname "$f")" agent . "$BUILD/proto"; do
        h="$base/$inc"
        [ -f "$h" ] || continue
        h=$(realpath --relative-to=. "$h")
        case "$seen" in *" $h "*) break ;; esac
        seen="$seen$h "
        queue+=("$h")
        c="${h%.h}.c"
        if [ "$c" != "$h" ] && [ -f "$c" ]; then
          case "$seen" in *" $c "*) ;; *) seen="$seen$c "; queue+=("$c"); out+=("$c") ;; esac
        fi
        break
      done
    done
  done
  echo "${out[*]}"
}

wanted() {   # $1 = target name
  [ ${#filters[@]} -eq 0 ] && return 0
  local f
  for f in "${filters[@]}"; do [[ "$1" == *"$f"* ]] && return 0; done
  return 1
}

# One value from libFuzzer's last status line ("#N DONE cov: C ft: F corp: K/S ...").
stat_of() {   # $1 = line, $2 = key (cov|ft|corp|exec/s)
  sed -n "s|.*[[:space:]]$2:[[:space:]]*\([^[:space:]]*\).*|\1|p" <<<"$1"
}

targets=0; failed=0
summary=()
for src in "${FUZZ_SRC:-tests/fuzz}"/fuzz_*.c; do
  [ -f "$src" ] || continue
  name=$(basename "$src" .c)
  wanted "$name" || continue
  targets=$((targets + 1))
  dir="$BUILD/fuzz/$name"
  mkdir -p "$dir/corpus"
  log="$dir/fuzz.log"

  sources=$(directive "$src" fuzz-sources)
  libs=$(directive "$src" fuzz-libs)
  if [ -z "$sources" ]; then
    sources=$(derive_sources "$src")
    echo "== $name: no '// fuzz-sources:' line; derived from its includes: ${sources:-(none)}"
  fi
  srcs=()
  ok=1
  for s in $sources; do
    case "$s" in build/*) s="$BUILD/${s#build/}" ;; esac
    if [ ! -f "$s" ]; then
      case "$s" in
        "$BUILD"/*) make --no-print-directory BUILD="$BUILD" "$s" >"$dir/make.log" 2>&1 || true ;;
      esac
    fi
    if [ ! -f "$s" ]; then
      echo "FAIL $name: source $s not found"; ok=0; break
    fi
    srcs+=("$s")
  done
  if [ $ok -eq 0 ]; then
    summary+=("$name: missing source"); failed=$((failed + 1)); continue
  fi

  echo "== $name: building ($sources${libs:+; $libs})"
  # shellcheck disable=SC2086  # $libs is a list of flags
  if ! "$CLANG" "${CFLAGS_FUZZ[@]}" "$src" "${srcs[@]}" -o "$dir/$name" $libs "${LIBS_DEFAULT[@]}" \
       >"$dir/build.log" 2>&1; then
    echo "FAIL $name: build failed ($dir/build.log)"; sed 's/^/      /' "$dir/build.log" | tail -n 20
    summary+=("$name: build failed"); failed=$((failed + 1)); continue
  fi

  echo "== $name: running ${seconds}s (corpus $dir/corpus)"
  "$dir/$name" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" >"$log" 2>&1
  rc=$?
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
  last_line=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1)
  line=${done_line:-$last_line}
  execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -n 1)
  [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$line")
  rate=$(stat_of "$line" "exec/s"); cov=$(stat_of "$line" cov)
  ft=$(stat_of "$line" ft); corp=$(stat_of "$line" corp)
  info="${execs:-?} execs, ${rate:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
  if [ $rc -ne 0 ] || [ -z "$done_line" ]; then
    artifact=$(ls -t "$dir"/crash-* "$dir"/timeout-* "$dir"/oom-* "$dir"/leak-* 2>/dev/null | head -n 1)
    echo "FAIL $name: exit $rc after $info${artifact:+ (reproducer: $artifact)}"
    grep -E 'ERROR|runtime error|SUMMARY|ALARM|out-of-memory' "$log" | head -n 5 | sed 's/^/      /'
    echo "      log: $log"
    summary+=("$name: FAILED ($info)"); failed=$((failed + 1))
  else
    echo "PASS $name: $info"
    summary+=("$name: $info")
  fi
done

echo "== fuzz summary (${seconds}s per target)"
for s in "${summary[@]}"; do echo "  $s"; done
echo "$targets targets, $failed failed"
[ "$targets" -gt 0 ] && [ "$failed" -eq 0 ]
