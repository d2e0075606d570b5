#!/usr/bin/env bash
# bench/report.py's §3 "outside any job" part: per-process eBPF time by
# agent config, side by side, and what rules add, from a synthetic
# execstorm_outside.jsonl whose figures are known; a results directory from
# before that part existed still renders §3 without it.
source "$(dirname "$0")/../lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
R=$T/res
mkdir -p "$R"
# The paced storm's line, as bench/run.sh writes it.
cat > "$R/execstorm.jsonl" <<'J'
{"mode":"paced","agent_wakeups":400,"generator":{"spawned":60000,"failed":0,"seconds":10.0,"rate":6000.0},"expected_processes":60001,"reported_processes":60001,"loss_lines":[],"agent_cpu_pct":0.8,"agent_cpu_pct_incl_drain":0.6,"seconds":10.0,"agent_vmhwm_kib":27000,"bpf":[{"prog":"jm_exec","run_cnt":60000,"run_time_ns":360000000}]}
J
# Two passes x three configs, 10,000 processes each: ns per process are
# run_time_ns / 10,000.  rules and nojobs: jm_exit 3,000, jm_free 1,000;
# norules: 700 and 200; jm_exec 5,000; jm_newtask, jm_fork and
# jm_prepare_exec 100 each; but pass 2 of rules: jm_exec 5,400, jm_free
# 1,200.  Totals: rules 9,300 and 9,900, nojobs 9,300, norules 6,200.
gen() {   # gen PASS VARIANT EMIT EXEC EXIT FREE RING_BYTES
  jq -nc --argjson pass "$1" --arg v "$2" --argjson emit "$3" --argjson ex "$4" \
    --argjson xt "$5" --argjson fr "$6" --argjson ring "$7" '
    def p(n; ns): {prog: n, run_cnt: 10200, run_time_ns: (ns * 10000)};
    {pass: $pass, variant: $v, config: "x.yaml", emit_all_exits: $emit,
     generator: {spawned: 10000, failed: 0, seconds: 4.0, rate: 2500.0},
     ring_bytes: $ring, event_sizes: {exec: 1264, exit: 88, reap: 24},
     agent_task_clock_ms: 80, task_clock_seconds: 5, agent_wakeups: 110,
     bpf: [p("jm_newtask"; 100), p("jm_fork"; 100), p("jm_prepare_exec"; 100),
           p("jm_exec"; $ex), p("jm_exit"; $xt), p("jm_free"; $fr), p("jm_sample"; 9)]}'
}
{
  gen 1 nojobs true 5000 3000 1000 14000000
  gen 1 norules false 5000 700 200 12720000
  gen 1 rules true 5000 3000 1000 14000000
  gen 2 norules false 5000 700 200 12720000
  gen 2 rules true 5400 3000 1200 14000000
  gen 2 nojobs true 5000 3000 1000 14000000
} > "$R/execstorm_outside.jsonl"
check "report.py renders the synthetic results" \
  python3 "$ROOT/bench/report.py" "$R" "$T/R.md"
sec=$(awk '/^## 3\./,/^## 4\./' "$T/R.md")
row() { grep -F "| $1 |" <<< "$sec" | head -1; }
check_eq "§3 keeps the paced storm's table" "$(row paced | cut -d'|' -f2-5)" " paced | 6,000/s for 10.0 s | 60,001 | 60,001 "
check_eq "jm_exit per process, by config, and rules - norules" "$(row jm_exit)" \
  "| jm_exit | 3,000 (3,000–3,000), 1.02 runs | 3,000 (3,000–3,000), 1.02 runs | 700 (700–700), 1.02 runs | +2,300 (+2,300 to +2,300) |"
check_eq "jm_free: median and range over passes" "$(row jm_free | cut -d'|' -f3,6)" \
  " 1,100 (1,000–1,200), 1.02 runs | +900 (+800 to +1,000) "
check_eq "the six programs' total" "$(row '**all six**' | cut -d'|' -f3-6)" \
  " 9,600 (9,300–9,900) | 9,300 (9,300–9,300) | 6,200 (6,200–6,200) | +3,400 (+3,100 to +3,700) "
check_eq "ring bytes per process and emit_all_exits by config" \
  "$(row norules | cut -d'|' -f3-4)" " off | 1,272 (1,272–1,272) "
check "the record sizes are stated with their headers" \
  grep -q "exec 1,272 B, exit 96 B, reap 32 B" <<< "$sec"
check "the added cost is stated with its pairs and parts" grep -qF \
  "+3,400 ns of eBPF time per process (median of 2 paired passes, +3,100 to +3,700), +55%" <<< "$sec"
check "ring bytes rules add, in exit+reap pairs" grep -qF \
  "+128 bytes on the events ring (1.00 times an exit and a reap record, 128 B" <<< "$sec"
check "nojobs is compared with norules" grep -qF \
  "*nojobs* is +3,100 ns per process over *norules*, \`emit_all_exits\` on" <<< "$sec"
check "what a process outside jobs costs without rules" grep -qF \
  "Without any rule, a process outside every job still costs 6,200 ns, 5,000 of it in \`jm_exec\`" <<< "$sec"
check "the configs are named with their emit_all_exits" grep -qF \
  "*norules* = without \`jobs:\` and \`systemd:\`, \`kubernetes: enabled: false\` (\`emit_all_exits\` off)" <<< "$sec"
# Results from before the outside storms: §3 without the part, no error.
rm "$R/execstorm_outside.jsonl"
check "report.py renders results without execstorm_outside.jsonl" \
  python3 "$ROOT/bench/report.py" "$R" "$T/R2.md"
check "... and §3 then has no outside-job part" \
  bash -c "! grep -q 'Processes outside any job' '$T/R2.md' && grep -q '^| paced |' '$T/R2.md'"
