#!/usr/bin/env python3
"""Turn bench/results/ into bench/RESULTS.md.

    bench/report.py RESULTS_DIR OUTPUT.md

Reads only what bench/run.sh wrote (per-round TSV/JSON, eBPF statistics,
perf profiles, meta files) and computes every figure in the page from it:
medians and quartiles over interleaved rounds, paired per-round differences
against the "none" variant, ratios, and the verdict on each target of
issue 6.  Nothing is typed in by hand; a scenario without results is said to
be missing.
"""
import csv
import json
import os
import re
import random
import statistics
import sys

SIMPLE_OPS = ["getppid", "read_zero", "write_null", "pread_file", "pwrite_file"]
SOCK_OPS = ["cli_send", "srv_recv", "srv_send", "cli_recv"]
OPS = SIMPLE_OPS + SOCK_OPS
OP_DOC = {
    "getppid": "getppid() — no file or socket work",
    "read_zero": "read 64 B /dev/zero",
    "write_null": "write 64 B /dev/null",
    "pread_file": "pread 64 B regular file",
    "pwrite_file": "pwrite 64 B regular file",
    "cli_send": "sendto 64 B, DB client end",
    "srv_recv": "recvfrom 64 B, server end",
    "srv_send": "sendto 64 B, server end",
    "cli_recv": "recvfrom 64 B, DB client end",
}
# Syscalls of a job whose bytes jobmeter counts (file or socket), without
# payload capture: the "byte accounting" target.
ACCOUNTED_OPS = ["pread_file", "pwrite_file", "srv_recv", "srv_send"]
DB_OPS = ["cli_send", "cli_recv"]
# Hooks whose programs run once per operation (a syscall, a socket send or
# receive) rather than once per process or connection; a variant's program
# on hook H is named floor_H or jm_H.  An operation's program cost is the sum
# over those of the variant's programs that are loaded.
PER_OP_HOOKS = ["sys_exit", "sock_send", "sock_recv"]
# "outputs" is the agent with one file output declared (bench/run.sh), which
# loads jm_sys_exit; it is informational: the targets judge "jobmeter".
# "task" is the floor's socket programs plus one helper call for the current
# task (bench/floor_task.bpf.c), measured outside jobs on sockets only: the
# least a filter by process costs.
PREFIX = {"floor": "floor_", "task": "task_", "jobmeter": "jm_", "outputs": "jm_"}
# The programs a process's life runs, from its fork to its free (§3).
EXEC_PROGS = ("jm_newtask", "jm_fork", "jm_prepare_exec", "jm_exec", "jm_exit", "jm_free")


def prof_categories(res, name):
    """{category: % of samples} from the "# category" lines of a profile."""
    out = {}
    try:
        with open(os.path.join(res, name)) as f:
            for line in f:
                if line.startswith("# category "):
                    k, v = line[len("# category "):].rstrip("\n").split("\t")
                    out[k] = float(v)
    except (OSError, ValueError):
        pass
    return out


CATS = ["jobmeter programs", "helper memory reads", "map lookups/updates", "ring buffer",
        "clock reads", "tracepoint dispatch", "other eBPF programs", "rest (the syscall itself, user space)"]


def quartiles(xs):
    xs = sorted(xs)
    if not xs:
        return (float("nan"),) * 3
    if len(xs) < 4:
        return xs[0], statistics.median(xs), xs[-1]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[1], q[2]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def f0(x):
    return "n/a" if x != x else f"{x:,.0f}"


def f1(x):
    return "n/a" if x != x else f"{x:,.1f}"


def f2(x):
    return "n/a" if x != x else f"{x:,.2f}"


def signed(x):
    return "n/a" if x != x else f"{x:+,.0f}"


def verdict(ok):
    if isinstance(ok, str):       # a run that could not judge says why
        return ok
    return "**met**" if ok else "**NOT met**"


def q_agent_pct(q):
    """The agent's CPU at ~20k queries/s, % of one core: perf task-clock (ns)
    when the run has it, else clock ticks (about 8 in the interval)."""
    if q.get("agent_task_clock_ms") and q.get("task_clock_seconds"):
        return q["agent_task_clock_ms"] / 10 / q["task_clock_seconds"]
    return q["agent_cpu_pct"]


def jm_per_query(fp):
    """(queries, [(prog, run_cnt, run_time_ns)]) of jobmeter's programs
    during footprint.json's fixed-rate pgbench run, or None."""
    q = (fp or {}).get("queries") or {}
    if not q.get("bpf") or not q.get("pgbench", {}).get("tps"):
        return None
    nq = q["pgbench"]["tps"] * q["seconds"]
    progs = sorted(((b["prog"], b["run_cnt"], b["run_time_ns"]) for b in q["bpf"]
                    if b["prog"].startswith("jm_") and b["run_cnt"]), key=lambda x: -x[2])
    return (nq, progs) if nq > 0 else None


def per_query_text(nq, progs):
    return ", ".join(f"{p_} {t / nq:,.0f} ns ({c / nq:.2f} runs)" for p_, c, t in progs)


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_jsonl(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except (OSError, ValueError):
        return None


def load_tsv(path):
    try:
        with open(path) as f:
            return list(csv.DictReader(f, delimiter="\t"))
    except OSError:
        return None


def read_text(path):
    try:
        with open(path) as f:
            return f.read().rstrip("\n")
    except OSError:
        return None


class Page:
    def __init__(self, res):
        self.res = res
        self.lines = []
        self.targets = []      # (target, figure, ok or None, where)
        self.missed = []       # what stands in the way, one paragraph per missed target

    def p(self, *lines):
        self.lines.extend(lines)

    def table(self, head, rows):
        self.p("| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|")
        for r in rows:
            self.p("| " + " | ".join(str(c) for c in r) + " |")
        self.p("")

    def section(self, title, sc, have):
        """Heading of a scenario's section, then its run line, or how to get
        results when there are none.  True when the section has data."""
        self.p(title, "")
        if not have:
            self.p(f"_No results: run `bench/run.sh {sc}`._", "")
            return False
        self.p(self.meta_line(sc) or "", "")
        return True

    def meta_line(self, sc):
        m = load_json(os.path.join(self.res, f"{sc}.meta.json"))
        if not m:
            return None
        s = (f"_Run {m['date']} (`{m['command']}`, tree at git {m['git']}"
             + (f", agent --version {m['agent_version']}" if m.get("agent_version") else "")
             + (f", kernel {m['kernel']}" if m.get("kernel") else "")
             + f"), {m['seconds']:.0f} s, "
             f"status {m['status']}; load average at the end {m['loadavg_at_end']}")
        if "cpu_pressure_pct" in m:
            s += (f"; CPU pressure (PSI some) {m['cpu_pressure_pct']:.0f}% of the time — the share "
                  "of time some runnable task waited for a CPU, ours or the machine's other tenants'")
        s += "._"
        if m.get("foreign_bpf_at_start"):
            s += (f" _Other tracing programs were attached when it started (they slow every "
                  f"variant alike): {m['foreign_bpf_at_start']}._")
        return s

    def profile(self, name, title):
        txt = read_text(os.path.join(self.res, name))
        if txt:
            self.p(f"<details><summary>{title} (<code>results/{name}</code>)</summary>", "",
                   "```", txt, "```", "</details>", "")


# ---------------------------------------------------------------- syscalls
def syscalls(pg):
    rows = load_tsv(os.path.join(pg.res, "syscalls.tsv"))
    if not pg.section("## 1. Syscall microbenchmark", "syscalls", rows):
        return
    ns = {}                     # (round, variant, who, op) -> ns
    for r in rows:
        ns[(int(r["round"]), r["variant"], r["who"], r["op"])] = float(r["ns"])
    rounds = sorted({k[0] for k in ns})
    # Results written before the "outputs" variant existed lack it: every
    # use of it below is conditional on this.
    has_out = any(r["variant"] == "outputs" for r in rows)
    foreign = sorted({int(r["foreign_progs"]) for r in rows})

    def vals(v, who, op):
        return [ns[(r, v, who, op)] for r in rounds if (r, v, who, op) in ns]

    def added(v, who, op, base="none"):
        return [ns[(r, v, who, op)] - ns[(r, base, who, op)] for r in rounds
                if (r, v, who, op) in ns and (r, base, who, op) in ns]

    prm = load_json(os.path.join(pg.res, "syscalls.params.json")) or {}
    pg.p(f"`bench/sysbench.c`, {len(rounds)} interleaved rounds (the variant order rotates each "
         "round; job and outside-job runs alternate). Each figure of a round is the fastest of "
         f"{prm.get('reps', '?')} repetitions of {prm.get('iters', 0):,} calls "
         f"({prm.get('sock_iters', 0):,} per socket operation, in blocks of 32); the "
         "table gives the median over rounds with the interquartile range, and \"added\" is "
         "the median of the per-round differences against **none** from the same round "
         "(paired, so slow phases of the VM cancel out). Socket operations run on one TCP "
         "loopback connection in one thread; its client end was `connect()`ed by the "
         "benchmark to a port the agent config declares as PostgreSQL, and the byte streams "
         "are valid PostgreSQL protocol (startup, then 64-byte Query / 64-byte "
         "ParameterStatus+CommandComplete+ReadyForQuery), so in a job the client end's "
         "payloads are captured and parsed as queries.", "")
    if foreign != [0]:
        pg.p(f"Other tracing programs attached during rounds (count per round): {foreign}.", "")
    for who, title in (("job", "In a job process (JOBMETER_JOB set)"),
                       ("outside", "In a process outside any job")):
        pg.p(f"### {title}", "")
        table = []
        for op in OPS:
            q1, m, q3 = quartiles(vals("none", who, op))
            row = [OP_DOC[op], f"{f0(m)} ({f0(q1)}–{f0(q3)})"]
            for v in ("floor", "jobmeter") + (("outputs",) if has_out else ()) + ("peer",):
                a = quartiles(added(v, who, op))
                row.append(f"{signed(a[1])} ({signed(a[0])}…{signed(a[2])})")
            fa, ja = med(added("floor", who, op)), med(added("jobmeter", who, op))
            row.append(f2(ja / fa) if fa > 0 else "n/a")
            if has_out:
                a = quartiles(added("outputs", who, op, base="jobmeter"))
                row.append(f"{signed(a[1])} ({signed(a[0])}…{signed(a[2])})")
            table.append(row)
        pg.table(["operation", "none ns/call (IQR)", "floor added ns (IQR)", "jobmeter added ns (IQR)"] +
                 (["outputs added ns (IQR)"] if has_out else []) +
                 ["peer added ns (IQR)", "jobmeter/floor added"] +
                 (["outputs over jobmeter ns (IQR, paired)"] if has_out else []), table)
    if has_out:
        pg.p("**outputs** is jobmeter with one file output declared on the example job "
             "(`results/agent-outputs.yaml`: the same config plus a `file:` line), which loads "
             "jm_sys_exit on every syscall; \"outputs over jobmeter\" is the median of its "
             "per-round differences against **jobmeter** from the same round. It is shown for "
             "information: the targets judge **jobmeter**.", "")

    # eBPF statistics per program
    st = load_tsv(os.path.join(pg.res, "syscalls_bpfstats.tsv")) or []
    reps = {}                  # (variant, who, op) -> {rep: {prog: (cnt, ns)}}
    calls = {}
    for r in st:
        k = (r["variant"], r["who"], r["op"])
        reps.setdefault(k, {}).setdefault(r.get("rep", "1"), {})[r["prog"]] = \
            (int(r["run_cnt"]), int(r["run_time_ns"]))
        calls[k] = int(r["calls"])
    per = {}                   # (variant, who, op) -> {prog: (cnt, ns)} of its fastest repetition
    for k, by_rep in reps.items():
        progs = {p_ for rp in by_rep.values() for p_ in rp}
        # Each program's fastest repetition: the least run time for the same
        # number of the benchmark's calls, the one least disturbed by the
        # machine's other tenants.  A repetition without a row for a program
        # (older results kept only programs that ran) had it run 0 times.
        per[k] = {p_: min((rp.get(p_, (0, 0)) for rp in by_rep.values()), key=lambda x: x[1])
                  for p_ in progs}

    def op_progs(v, who, op):
        """[(hook, prog, cnt, ns)] of the variant's per-operation programs
        that are loaded (they ran at least once in the pass)."""
        pre = PREFIX[v]
        got = per.get((v, who, op), {})
        return [(h, pre + h) + got[pre + h] for h in PER_OP_HOOKS if pre + h in got]

    def op_ns(v, who, op):
        """Program ns per operation of the benchmark: run_time_ns / calls
        summed over the variant's per-operation programs (0 when the
        operation passes none of them)."""
        k = (v, who, op)
        if k not in per or not calls.get(k):
            return float("nan")
        return sum(t for _, _, _, t in op_progs(v, who, op)) / calls[k]

    loaded = {v: sorted({p_ for (v_, _, _), progs in per.items() if v_ == v for p_ in progs
                         if any(p_ == PREFIX[v] + h for h in PER_OP_HOOKS)}) for v in PREFIX}
    if st:
        ayaml = read_text(os.path.join(pg.res, "agent.yaml")) or ""
        file_outputs = any(l.strip().startswith("- file:") for l in ayaml.splitlines())
        sysx = "jm_sys_exit" in loaded["jobmeter"]
        pg.p("### eBPF programs per operation (kernel.bpf_stats_enabled=1)", "",
             "One pass per variant with the statistics on (they add two clock reads to every "
             "program run — the floor's empty programs show that cost — so they are off in "
             "the timed rounds): each operation alone, three times (each program's fastest "
             "repetition counts), `bpftool prog show --json` before and "
             f"after {prm.get('iters', 0):,} calls (socket: 4 x {prm.get('sock_iters', 0):,}), "
             "run_cnt and run_time_ns per program. Programs that run once per operation, seen "
             "loaded in this pass: floor " + (", ".join(loaded["floor"]) or "none") +
             ("; task " + ", ".join(loaded["task"]) + " (outside jobs, socket only: the "
              "floor's programs plus `bpf_get_current_task_btf()` and a load of the tgid, "
              "bench/floor_task.bpf.c — the least any filter by process costs)"
              if loaded["task"] else "") +
             "; jobmeter " + (", ".join(loaded["jobmeter"]) or "none") +
             ("; outputs " + (", ".join(loaded["outputs"]) or "none") if has_out else "") + ". "
             "An operation's program time is the sum over these of run_time_ns / the "
             "benchmark's calls, so an operation that passes none of the variant's hooks "
             "costs 0; each cell gives ns per run x runs per call of the benchmark (runs "
             "beyond what the operation itself causes are the machine's other processes on "
             "the same hook in the interval). The peer's figure is its programs' time per "
             "call only — its per-syscall tracepoint plumbing (perf trace buffers) is not in "
             "run_time_ns and shows only in wall time.", "")
        if sysx:
            pg.p("jobmeter loaded jm_sys_exit, a program on every syscall" +
                 (": the agent config (`results/agent.yaml`) declares file outputs, which "
                  "need it" if file_outputs else "") +
                 ", so every syscall of the benchmark pays it" +
                 ("; the floor has no sys_exit program, so all of it is in jobmeter's "
                  "difference to the floor." if "floor_sys_exit" not in loaded["floor"] else "."), "")
        hooks = [h for h in PER_OP_HOOKS if any(PREFIX[v] + h in loaded[v] for v in PREFIX)]

        def cell(v, who, op, h):
            got = per[(v, who, op)].get(PREFIX[v] + h)
            if got is None:
                return "not loaded"
            c, t = got
            if not c:
                return "0 runs"
            return f"{t / c:,.1f} ns x {c / calls[(v, who, op)]:.2f}"

        table = []
        ops = SIMPLE_OPS + ["sock", "plain"]
        for v in ("floor", "task", "jobmeter", "outputs"):
            for who in ("job", "outside"):
                for op in ops:
                    if (v, who, op) not in per:
                        continue
                    table.append([v, who, op] + [cell(v, who, op, h) for h in hooks] +
                                 [f1(op_ns(v, who, op))])
        for who in ("job", "outside"):
            for op in ops:
                k = ("peer", who, op)
                if k in per:
                    tot = sum(t for _, t in per[k].values())
                    table.append(["peer", who, op] + [""] * len(hooks) +
                                 [f"{f1(tot / calls[k])} (all programs)"])
        pg.table(["variant", "process", "operation"] + [f"{h} ns/run x runs/call" for h in hooks] +
                 ["program ns per call"], table)
        agg = {}
        for (v, who, op), progs in per.items():
            if v != "jobmeter":
                continue
            for p_, (c, t) in progs.items():
                if c and p_ not in loaded["jobmeter"]:
                    ac, at = agg.get(p_, (0, 0))
                    agg[p_] = (ac + c, at + t)
        if agg:
            pg.p("jobmeter's other programs (per process, connection or sample) seen in the same "
                 "pass (the benchmark's own start, connection and exit, and the machine's): " + ", ".join(
                     f"{p_} {t / c / 1000:.2f} µs/run over {c} runs" for p_, (c, t) in sorted(agg.items())) + ".", "")

    # Outside-job sockets with the programs side by side (bench/run.sh): per
    # round, each program's fastest repetition, then per variant its socket
    # programs' ns per call; the figure is the median of per-round
    # differences to the floor.
    sb = load_tsv(os.path.join(pg.res, "syscalls_sidebyside.tsv")) or []
    side = {}                  # variant -> [ns per call, by round]; "order" -> [order, by round]
    if sb:
        sb_rounds = {}
        for r in sb:
            sb_rounds.setdefault((int(r["round"]), r["order"]), {}).setdefault(r["rep"], {})[r["prog"]] = \
                (int(r["run_cnt"]), int(r["run_time_ns"]), int(r["calls"]))
        for (rnd, order), by_rep in sorted(sb_rounds.items()):
            side.setdefault("order", []).append(order)
            for v in ("floor", "task", "jobmeter"):
                names = [PREFIX[v] + h for h in ("sock_send", "sock_recv")]
                tot, n = 0, 0
                for p_ in names:
                    got = [rp[p_] for rp in by_rep.values() if p_ in rp]
                    if got:
                        c, t, n = min(got, key=lambda x: x[1])
                        tot += t
                side.setdefault(v, []).append(tot / n if n else float("nan"))
    # Per variant: its per-round differences to the floor by order, and the
    # figure: the mean of the two orders' medians.  The program that runs
    # first pays ~8 ns more than the second (the first touch of what both
    # touch), so each order alone is biased by half that, in opposite
    # directions; alone, each would be first.  The median of all rounds
    # would fall in the gap between the two clusters.
    side_o, side_fig = {}, {}
    for i, order in enumerate(side.get("order", [])):
        for v in ("task", "jobmeter"):
            if v in order.split(","):
                side_o.setdefault(v, {}).setdefault(order, []).append(side[v][i] - side["floor"][i])
    for v, by in side_o.items():
        side_fig[v] = statistics.mean(med(d) for d in by.values()) if len(by) == 2 else float("nan")
    if sb:
        def q3(xs):
            lo, m, hi = quartiles(xs)
            return f"{m:+.1f} ({lo:+.1f}…{hi:+.1f})"
        orders = sorted(set(side["order"]))
        pg.p("### Outside-job sockets, programs side by side", "",
             "The pass above measures each variant on its own, minutes apart; the outside-job "
             "target is a difference of a few ns between two of them. Here the floor's socket "
             "programs and jobmeter's (or the task reference's) are attached together, so every "
             "socket operation of a process outside any job runs both, back to back, in the same "
             "state of the machine (each program's run_time_ns is its own). They run in the order "
             f"they were attached, which alternates: {len(side['order'])} rounds, orders "
             + ", ".join(o.replace(",", " → ") for o in orders) +
             f"; in each round each program's fastest of {prm.get('reps', 3)} repetitions counts. "
             "jobmeter and the reference never run together: whichever ran first would take the "
             "cache misses on the current task for both. Program ns per socket operation, median "
             "over rounds (IQR) of the per-round difference to the floor. The program that runs "
             "first pays more than the second, so each order is biased, in opposite directions; "
             "alone, every program is the first. The last row, the mean of the two orders' "
             "medians, cancels that, and is the figure the outside-job target judges:", "")
        rows = []
        for o in orders:
            idx = [i for i, x in enumerate(side["order"]) if x == o]
            v = "jobmeter" if "jobmeter" in o else "task"
            d = side_o[v][o]
            rows.append([o.replace(",", " → "), str(len(idx)), f1(med([side["floor"][i] for i in idx])),
                         q3(d) if v == "task" else "", q3(d) if v == "jobmeter" else ""])
        sf = lambda v: "n/a" if side_fig.get(v, float("nan")) != side_fig.get(v, float("nan")) \
            else f"{side_fig[v]:+.1f}"
        rows.append(["both orders (mean of the two medians)", str(len(side["order"])), "",
                     sf("task"), sf("jobmeter")])
        pg.table(["order", "rounds", "floor ns/op", "task over floor", "jobmeter over floor"], rows)

    if has_out:
        # What declaring a file output costs: outputs against jobmeter, both
        # in program time (statistics pass) and in wall time (paired rounds).
        def span(xs):
            xs = [x for x in xs if x == x]
            if not xs:
                return "n/a"
            return (f"{signed(min(xs))} to {signed(max(xs))} ns (median {signed(med(xs))})"
                    if len(xs) > 1 else f"{signed(xs[0])} ns")
        sops = SIMPLE_OPS + ["sock"]
        prog, wall, sysx_run = {}, {}, []
        for who in ("outside", "job"):
            prog[who] = span([op_ns("outputs", who, op) - op_ns("jobmeter", who, op) for op in sops]
                             if st else [])
            # Simple syscalls apart: the socket operations' wall times
            # (several µs, the agent parsing on the other vCPU) are noisier.
            wall[who] = (span([med(added("outputs", who, op, base="jobmeter")) for op in SIMPLE_OPS]),
                         span([med(added("outputs", who, op, base="jobmeter")) for op in SOCK_OPS]))
            for op in sops:
                c, t = per.get(("outputs", who, op), {}).get("jm_sys_exit", (0, 0))
                if c:
                    sysx_run.append(t / c)
        pg.p("**What declaring a file output costs**: with one file output in the config "
             "(**outputs**), " +
             (f"jm_sys_exit runs {f1(med(sysx_run))} ns per run (median over the statistics "
              "pass's operations) on every syscall of every process; " if sysx_run else
              "jm_sys_exit was not seen running in the statistics pass; " if st else "") +
             "over **jobmeter**, program time per call is " +
             (f"{prog['outside']} outside jobs and {prog['job']} inside a job (the {len(sops)} "
              "operations of the table above), and " if st else "not measured (no statistics "
              "pass), and ") +
             f"wall time per call {wall['outside'][0]} outside jobs and {wall['job'][0]} inside a "
             f"job over the {len(SIMPLE_OPS)} simple syscalls (per-operation medians of paired "
             f"per-round differences). Over the {len(SOCK_OPS)} socket operations the wall time "
             f"added is {wall['outside'][1]} outside jobs and {wall['job'][1]} inside a job.", "")

    # targets
    out_rows, ok_all = [], True
    for op in SIMPLE_OPS + ["sock"]:
        d = op_ns("jobmeter", "outside", op) - op_ns("floor", "outside", op)
        seq = ""
        if op == "sock" and side_fig.get("jobmeter", float("nan")) == side_fig.get("jobmeter"):
            # the side-by-side figure judges: the same operations, paired
            seq = f", side by side; {d:+.1f} in the pass of its own"
            d = side_fig["jobmeter"]
        wall_ops = SOCK_OPS if op == "sock" else [op]
        wall = [med([a - b for a, b in zip(added("jobmeter", "outside", o), added("floor", "outside", o))])
                for o in wall_ops]
        ok = d == d and d <= 10
        ok_all &= ok
        # One decimal: the verdict compares the unrounded figure with 10.
        out_rows.append(f"{op} {'n/a' if d != d else f'{d:+.1f}'} ns{seq} "
                        f"(wall {', '.join(signed(w) for w in wall)})")
    pg.targets.append(("Outside-job syscall ≤ floor + 10 ns",
                       "jobmeter's program time over the floor's, per call: " + "; ".join(out_rows),
                       ok_all, "§1"))
    if not ok_all and st:
        def dif(o):
            x = op_ns("jobmeter", "outside", o) - op_ns("floor", "outside", o)
            return x if x == x else float("-inf")
        worst = max(SIMPLE_OPS + ["sock"], key=dif)
        ex = dif(worst)

        def parts(v):
            ps = op_progs(v, "outside", worst)
            n = calls.get((v, "outside", worst), 0)
            return ", ".join(f"{p_} {t / n:,.1f} ns per call ({t / c:,.1f} ns/run x {c / n:.2f})"
                             for _, p_, c, t in ps if c and n) or "no program ran"
        ask = ""
        if ("task", "outside", worst) in per:
            tk = op_ns("task", "outside", worst) - op_ns("floor", "outside", worst)
            ask = (f" Asking which process it is costs {tk:+.1f} ns of that on its own (the "
                   f"**task** reference: {parts('task')}): the helper call is the one way to "
                   "the current task here (this kernel does not inline it), and its return "
                   "pays the return-stack mitigation (spec_rstack_overflow: "
                   f"{(load_json(os.path.join(pg.res, 'machine.json')) or {}).get('srso') or 'not recorded'})"
                   f". jobmeter's own test, one word of its "
                   f"membership bitmap, adds {ex - tk:+.1f} ns.")
        if worst == "sock" and "jobmeter" in side_fig:
            ask += (f" Side by side (the figure judged): jobmeter {side_fig['jobmeter']:+.1f} ns "
                    f"over the floor, the task reference {side_fig.get('task', float('nan')):+.1f}.")
        pg.missed.append(
            f"**Outside-job syscalls** (§1): the worst case is {worst}, {ex:+.1f} ns of program "
            f"time per call over the floor's in the pass of its own. jobmeter: {parts('jobmeter')}; "
            f"floor: {parts('floor')}." + ask)
    acc, ok_all = [], True
    for op in ACCOUNTED_OPS:
        fa, ja = med(added("floor", "job", op)), med(added("jobmeter", "job", op))
        if st and ("jobmeter", "job", op) in per and op_ns("jobmeter", "job", op) == 0:
            # No jobmeter program runs on this operation at all (its bytes
            # come from the kernel's own accounting): nothing is added, and
            # the wall difference is the VM's noise around zero.
            acc.append(f"{op}: no program runs (wall {signed(ja)} vs floor {signed(fa)} ns)")
            continue
        ok = fa == fa and ja == ja and ja <= 2 * fa
        ok_all &= ok
        acc.append(f"{op} {signed(ja)} vs floor {signed(fa)} ns ({f1(ja / fa) + 'x' if fa > 0 else 'ratio n/a'})")
    prog_acc = [f"{op} {f1(op_ns('jobmeter', 'job', op))} vs {f1(op_ns('floor', 'job', op))}"
                for op in ("pread_file", "pwrite_file", "sock", "plain") if ("jobmeter", "job", op) in per]
    pg.targets.append(("Traced job syscall with byte accounting ≤ 2x floor's added cost",
                       "added wall time, jobmeter vs floor: " + "; ".join(acc) +
                       ("; program ns per call, jobmeter vs floor: " + "; ".join(prog_acc)
                        if prog_acc else ""), ok_all, "§1"))
    if not ok_all:
        # How well the rounds pin the ratio down: a bootstrap over rounds
        # (fixed seed, so the page is reproducible from the same results).
        rng = random.Random(6)
        spans = []
        for op in ACCOUNTED_OPS:
            # (jobmeter added, floor added) of the same round, rounds with all three
            pairs = [(ns[(r, "jobmeter", "job", op)] - ns[(r, "none", "job", op)],
                      ns[(r, "floor", "job", op)] - ns[(r, "none", "job", op)]) for r in rounds
                     if all((r, v, "job", op) in ns for v in ("none", "floor", "jobmeter"))]
            if len(pairs) < 5 or op_ns("jobmeter", "job", op) == 0:
                continue
            rs = []
            for _ in range(2000):
                smp = [pairs[rng.randrange(len(pairs))] for _ in pairs]
                fm = med([f for _, f in smp])
                if fm > 0:
                    rs.append(med([j for j, _ in smp]) / fm)
            rs.sort()
            sd = statistics.stdev([j - f for j, f in pairs])
            spans.append(f"{op} {f1(rs[len(rs) // 20])}x to {f1(rs[len(rs) * 19 // 20])}x "
                         f"(per-round jobmeter − floor difference: sd {sd:,.0f} ns)")
        pg.missed.append(
            "**Traced job syscalls** (§1): the ratios come from wall-time medians over "
            f"{len(rounds)} rounds; a bootstrap over those rounds puts them (90% of "
            "resamples) at " + "; ".join(spans) + ". A ratio whose interval spans 2x is not "
            "resolved by this run: the socket calls take " + ", ".join(
                f"{op} {med(vals('none', 'job', op)):,.0f} ns"
                for op in ACCOUNTED_OPS if op.startswith("srv")) +
            " here, and an added cost that moves by more than the floor's whole cost from round "
            "to round cannot be split finer; the statistics pass's program time per socket "
            "operation (above) is the steadier measure of jobmeter's own share.")
    dbs, ok_all = [], True
    for op in DB_OPS:
        ja = med(added("jobmeter", "job", op))
        ok_all &= ja == ja and ja <= 500
        dbs.append(f"{op} {signed(ja)} ns")
    pg.targets.append(("DB send/recv with payload capture ≤ 500 ns added", "; ".join(dbs), ok_all, "§1"))
    if not ok_all:
        fa = {op: med(added("floor", "job", op)) for op in DB_OPS}
        srv = {op: med(added("jobmeter", "job", op)) for op in ("srv_send", "srv_recv")}
        cats = prof_categories(pg.res, "profile_syscalls_job_sock.txt")
        pg.missed.append(
            "**DB send/recv** (§1): added wall time " + ", ".join(
                f"{op} {signed(med(added('jobmeter', 'job', op)))} ns (floor {signed(fa[op])})" for op in DB_OPS) +
            "; the same process's non-DB socket end costs " + ", ".join(
                f"{op} {signed(v)} ns" for op, v in srv.items()) +
            ", so the DB-connection work (connection lookup, the socket's TCP stamp as the request start, "
            "payload copy into the ring buffer, and the agent parsing it) is the difference. " + (
                f"Program time per socket operation in a job (the four averaged): jobmeter "
                f"{f1(op_ns('jobmeter', 'job', 'sock'))} ns, floor {f1(op_ns('floor', 'job', 'sock'))} ns. "
                if ("jobmeter", "job", "sock") in per else "") + (
                "In the job socket profile: " + ", ".join(f"{k} {cats.get(k, 0):.1f}%" for k in CATS[:6]) +
                " of all samples." if cats else ""))

    # What the figures say about where the cost is (computed, not typed).
    if st:
        lines = ["### What the statistics show", "",
                 "jobmeter's per-operation program time over the floor's (the floor's programs "
                 "are empty, so on a hook both have the difference is jobmeter's own work; on a "
                 "hook only jobmeter has, all of it counts), from the table above:", ""]
        rows = []
        out_st = any(k[0] == "outputs" for k in per)
        for who in ("outside", "job"):
            for op in SIMPLE_OPS + ["sock", "plain"]:
                if (who, op) == ("outside", "plain"):
                    continue
                ex = op_ns("jobmeter", who, op) - op_ns("floor", who, op)
                rows.append([who, op, f1(op_ns("floor", who, op)), f1(op_ns("jobmeter", who, op)), signed(ex)] +
                            ([f1(op_ns("outputs", who, op))] if out_st else []))
        lines.append("| process | operation | floor program ns/call | jobmeter program ns/call | jobmeter over floor ns |" +
                     (" outputs program ns/call |" if out_st else ""))
        lines.append("|---|---|---|---|---|" + ("---|" if out_st else ""))
        lines.extend("| " + " | ".join(r) + " |" for r in rows)
        lines.append("")
        lines.append("(\"sock\" averages the four socket operations; only the two on the client "
                     "end capture payloads. \"plain\" is the same four on a connection with no "
                     "protocol, 64 bytes of 'x' each way, to a port no config declares: in a job, "
                     "the byte accounting alone.) The wall-time tables also contain what the statistics "
                     "cannot see: cache and TLB effects of the programs on the syscall itself, and "
                     "the agent's user-space work on the other vCPU.")
        lines.append("")
        pg.p(*lines)

    profs = [(f"profile_syscalls_{w}_{o}.txt", f"{o}, {'job' if w == 'job' else 'outside'}")
             for w, o in (("outside", "read_zero"), ("outside", "sock"), ("job", "read_zero"),
                          ("job", "write_null"), ("job", "pread_file"), ("job", "sock"))]
    cats = [(label, prof_categories(pg.res, f)) for f, label in profs]
    cats = [(l, c) for l, c in cats if c]
    if cats:
        pg.p("Share of all CPU samples of the benchmark process, jobmeter loaded, by what the "
             "sampled symbol is (`perf record -e cpu-clock`, summed over every symbol):", "")
        pg.table(["profile"] + CATS, [[l] + [f"{c.get(k, 0):.1f}%" for k in CATS] for l, c in cats])

    pg.p("### Where jobmeter's time goes (perf, software clock)", "",
         "`perf record -e cpu-clock -F 20000` of the benchmark alone with the agent loaded "
         "(this VM has no hardware counters); symbols `bpf_prog_<tag>_<name>` are the JIT'ed "
         "programs, `bpf_probe_read_kernel`/`copy_from_kernel_nofault` the helper every "
         "`BPF_CORE_READ` step calls, `bpf_trace_run*`/`__bpf_trace_*` the dispatch the floor "
         "pays as well.", "")
    for who, op in (("job", "pread_file"), ("job", "read_zero"), ("job", "write_null"), ("job", "sock"),
                    ("outside", "read_zero"), ("outside", "sock")):
        pg.profile(f"profile_syscalls_{who}_{op}.txt", f"{op} in a {'job' if who == 'job' else 'process outside any job'}")


# ----------------------------------------------------------------- pgbench
def pgbench(pg):
    rows = load_tsv(os.path.join(pg.res, "pgbench.tsv"))
    if not pg.section("## 2. pgbench -S against local PostgreSQL 15", "pgbench", rows):
        return
    d = {}
    for r in rows:
        conf = r["clients"] + ("p" if r.get("pinned") == "1" else "")
        d[(int(r["round"]), r["variant"], conf)] = r
    rounds = sorted({k[0] for k in d})
    confs = [c for c in ("1p", "1", "4") if any(k[2] == c for k in d)]
    label = {"1p": "-c 1, pinned", "1": "-c 1", "4": "-c 4"}
    agent_runs = {r["job"]: r for r in (load_jsonl(os.path.join(pg.res, "pgbench_agent_runs.jsonl")) or [])}
    loss = load_jsonl(os.path.join(pg.res, "pgbench_loss.jsonl")) or []
    secs = med([int(r["transactions"]) / float(r["tps"]) for r in rows if float(r["tps"] or 0) > 0])
    pg.p(f"`pgbench -n -S -T {secs:.0f} -c C -j min(C,2)` on a database of its own (scale 1), run as a "
         f"job (`JOBMETER_JOB` set) in every variant; {len(rounds)} interleaved rounds (variant "
         "order rotating, and the client configurations rotating inside each variant). "
         "**pinned**: pgbench and its backend process (found by application_name) share one "
         "vCPU. Unpinned, a single client's TPS depends on whether the scheduler happens to "
         "put pgbench and its backend on the same vCPU — every cross-vCPU wakeup is a VM "
         "exit — and swings by 2x between runs of the same variant; pinned, it measures the "
         "CPU work per query, which is what a tracer adds to. TPS is pgbench's own (without "
         "connection time); ratios are medians of per-round ratios to **none** of the same round." +
         (" **mincap** is the floor except that its two socket programs copy every payload "
          "of the client end of pgbench's connections (selected by the server's port) into a "
          "per-CPU buffer with one `bpf_probe_read_user()`, and do nothing else: no process "
          "filter, no connection state, no ring, no reader (`bench/floor.bpf.c` built with "
          "`MINCAP_PORT`). No tool that sees every query on these tracepoints can cost less."
          if any(k[1] == "mincap" for k in d) else "") +
         (" **nodb** is jobmeter with `db.enabled: false` (socket bytes counted, no payload "
          "copied or parsed); it is not judged, and tells jobmeter's DB capture and parsing "
          "apart from the rest of its cost." if any(k[1] == "nodb" for k in d) else ""), "")
    table = []
    ratios = {}
    variants = [v for v in ("none", "floor", "mincap", "nodb", "jobmeter", "peer") if any(k[1] == v for k in d)]
    for c in confs:
        for v in variants:
            tps = [float(d[(r, v, c)]["tps"]) for r in rounds if (r, v, c) in d]
            lat = [float(d[(r, v, c)]["latency_ms"]) for r in rounds if (r, v, c) in d]
            rat = [float(d[(r, v, c)]["tps"]) / float(d[(r, "none", c)]["tps"])
                   for r in rounds if (r, v, c) in d and (r, "none", c) in d]
            cpu = [float(d[(r, v, c)].get("tracer_cpu_pct") or 0) for r in rounds if (r, v, c) in d]
            psi = [float(d[(r, v, c)].get("cpu_pressure_pct") or 0) for r in rounds if (r, v, c) in d]
            ratios[(v, c)] = quartiles(rat)
            q = quartiles(tps)
            l = quartiles(lat)
            table.append([label[c], v, f"{f0(q[1])} ({f0(q[0])}–{f0(q[2])})",
                          f"{l[1] * 1000:.1f} ({l[0] * 1000:.1f}–{l[2] * 1000:.1f})",
                          f"{ratios[(v, c)][1]:.3f} ({ratios[(v, c)][0]:.3f}–{ratios[(v, c)][2]:.3f})",
                          "" if v == "none" else f1(med(cpu)), f0(med(psi))])
    pg.table(["clients", "variant", "TPS median (IQR)", "latency µs median (IQR)",
              "TPS ratio to none (IQR)", "tracer process CPU % of a core", "CPU pressure %"], table)
    pg.p("CPU pressure is `/proc/pressure/cpu` \"some\" during each run (median): the share of "
         "time some runnable task waited for a CPU. Our own runs cause some (a pinned client "
         "and its backend queue on one vCPU; -c 4 has more runnable tasks than vCPUs), so "
         "compare it between variants of one configuration: a variant far above the others "
         "ran while other tenants of the VM competed for the vCPUs.", "")
    pg.p("The tracer's CPU is its user-space process (jobmeter-agent, bpftrace) during the "
         "run; eBPF program time is charged to pgbench and postgres and shows as lower TPS.", "")
    # CPU per transaction (pinned runs): robust against other tenants.
    cpu_tx = {}
    for (r, v, c), row in d.items():
        if c == "1p" and row.get("cpu_ms") and float(row["cpu_ms"] or 0) > 0 and int(row["transactions"]):
            cpu_tx[(r, v)] = float(row["cpu_ms"]) * 1000 / int(row["transactions"])
    if cpu_tx:
        table = []
        for v in variants:
            xs = [cpu_tx[(r, v)] for r in rounds if (r, v) in cpu_tx]
            add = [cpu_tx[(r, v)] - cpu_tx[(r, "none")] for r in rounds if (r, v) in cpu_tx and (r, "none") in cpu_tx]
            rat = [cpu_tx[(r, "none")] / cpu_tx[(r, v)] for r in rounds if (r, v) in cpu_tx and (r, "none") in cpu_tx]
            q, a, t = quartiles(xs), quartiles(add), quartiles(rat)
            table.append([v, f"{q[1]:.2f} ({q[0]:.2f}–{q[2]:.2f})",
                          "" if v == "none" else f"{a[1]:+.2f} ({a[0]:+.2f}…{a[2]:+.2f})",
                          "" if v == "none" else f"{t[1]:.3f} ({t[0]:.3f}–{t[2]:.3f})"])
        pg.p("**CPU per transaction, -c 1 pinned** (`perf stat -e task-clock` of pgbench and of "
             "its backend: the eBPF programs run inside their syscalls, so this is what the "
             "tracer costs each query, and other tenants' load hardly changes it); the last "
             "column is the TPS ratio that CPU cost alone implies for a CPU-bound client:", "")
        pg.table(["variant", "CPU µs per transaction (IQR)", "added µs vs none (IQR)",
                  "implied TPS ratio (IQR)"], table)
        d_cpu = {v: med([cpu_tx[(r, "none")] / cpu_tx[(r, v)] for r in rounds
                         if (r, v) in cpu_tx and (r, "none") in cpu_tx]) for v in variants if v != "none"}
    else:
        d_cpu = {}
    mc = load_tsv(os.path.join(pg.res, "pgbench_mincap.tsv")) or []
    per_tx = []
    for m in mc:
        r = int(m["round"])
        tx = sum(int(d[(r, "mincap", c)]["transactions"]) for c in confs if (r, "mincap", c) in d)
        if tx:
            per_tx.append(int(m["copies"]) / tx)
    if per_tx:
        pg.p(f"**mincap** copied {min(per_tx):.2f}-{max(per_tx):.2f} payloads per transaction in "
             f"its {len(per_tx)} rounds (its programs' own count, over its three runs a round): "
             "every send and receive of pgbench on its connections — a transaction's query and "
             "its response, which pgbench may take in more than one `recv()` — and none of the "
             "server's. jobmeter copies the same payloads.", "")
    seen = []
    for (r, v, c), row in sorted(d.items()):
        if v != "jobmeter":
            continue
        a = agent_runs.get(row["job"])
        seen.append((int(row["transactions"]), a["queries"] if a else 0, a["errors"] if a else 0))
    if seen:
        tx = sum(s_[0] for s_ in seen)
        q = sum(s_[1] for s_ in seen)
        pg.p(f"DB tracing was on: over the {len(seen)} jobmeter runs pgbench reported {tx:,} "
             f"transactions and the agent's run lines counted {q:,} PostgreSQL queries "
             f"({sum(s_[2] for s_ in seen)} errors); loss lines from the agent: {len(loss)}.", "")
    fp = load_json(os.path.join(pg.res, "footprint.json"))
    jq_ = jm_per_query(fp)
    if jq_ and fp["queries"].get("agent_queries_counted"):
        q = fp["queries"]
        nq, progs = jq_
        per_q = sum(t for _, _, t in progs) / nq
        c1 = "1p" if "1p" in confs else "1"
        lat1 = med([float(d[(r, "none", c1)]["latency_ms"]) for r in rounds if (r, "none", c1) in d]) * 1000
        agent_q = q_agent_pct(q) / 100 / max(1, q["pgbench"]["tps"]) * 1e9
        pg.p(f"Cost per query, from §4's run at {q['pgbench']['tps']:,.0f} queries/s (statistics on, "
             "which add two clock reads per program run): jobmeter's programs, all of them, ran "
             f"{per_q:,.0f} ns per query ({per_query_text(nq, progs)}; whoever ran them during "
             "the interval: pgbench — the job —, postgres and the machine's other processes), "
             f"and the agent process spent {agent_q:,.0f} ns of CPU per "
             f"query parsing the captured payloads. One {label[c1]} transaction takes {lat1:.0f} µs "
             f"with nothing attached, so the programs alone are {per_q / 10 / lat1:.1f}% of it. "
             "At -c 4 both vCPUs are busy with pgbench and postgres, so whatever the programs and "
             "the agent take comes out of TPS.", "")
    pc = prof_categories(pg.res, "profile_pgbench_c1_pinned.txt")
    if pc:
        pg.p("The pinned vCPU during one more jobmeter -c 1 run (pgbench, its backend and whatever "
             "else ran there), by what the sampled symbol is:", "")
        pg.table(CATS, [[f"{pc.get(k, 0):.1f}%" for k in CATS]])
        pg.profile("profile_pgbench_c1_pinned.txt", "pinned vCPU profile, jobmeter, -c 1")
    # -c 4: the whole machine's samples, none and jobmeter, by category.
    p4 = {v: prof_categories(pg.res, f"profile_pgbench_c4_{v}.txt") for v in ("none", "jobmeter")}
    c4_implied, c4_text = None, ""
    if p4["none"] and p4["jobmeter"]:
        cats4 = ["tracer process"] + CATS
        pg.p("**-c 4, the whole machine** (`perf record -a`, both vCPUs, 10 s of one more run per variant): "
             "the share of all samples by what the sampled symbol is, and — **tracer process** — "
             "the samples of the agent process itself. With both vCPUs busy, every share the tracer "
             "takes comes out of pgbench and postgres, and shares are not moved by the VM's slow "
             "phases, which stretch all samples alike:", "")
        pg.table(["variant"] + cats4, [[v] + [f"{p4[v].get(k, 0):.1f}%" for k in cats4]
                                       for v in ("none", "jobmeter")])
        mine = ["tracer process", "jobmeter programs", "helper memory reads", "map lookups/updates",
                "ring buffer", "tracepoint dispatch"]
        jm_share = sum(p4["jobmeter"].get(k, 0) for k in mine)
        none_share = sum(p4["none"].get(k, 0) for k in mine)
        c4_implied = (100 - jm_share) / (100 - none_share)
        c4_text = (f"in the whole-machine -c 4 profile jobmeter's categories take {jm_share:.1f}% "
                   f"of all samples ({none_share:.1f}% with nothing attached), of which the agent "
                   f"process {p4['jobmeter'].get('tracer process', 0):.1f}%, the ring buffer "
                   f"{p4['jobmeter'].get('ring buffer', 0):.1f}% and the programs "
                   f"{p4['jobmeter'].get('jobmeter programs', 0):.1f}%; that alone bounds the -c 4 "
                   f"ratio at {c4_implied:.3f}, against the 0.97 target.")
        pg.p(f"jobmeter's categories (tracer process, its programs, helper reads, maps, ring buffer, "
             f"tracepoint dispatch) take {jm_share:.1f}% of the machine's samples against "
             f"{none_share:.1f}% with nothing attached: CPU alone implies a -c 4 TPS ratio of "
             f"{c4_implied:.3f}. It is an upper bound of the ratio: the cache and scheduling "
             "effects of tracing land in the other categories.", "")
        pg.profile("profile_pgbench_c4_jobmeter.txt", "whole-machine profile, jobmeter, -c 4")
    ok = True
    fig = []
    for c in [c for c in ("1p", "4") if c in confs]:
        jr, pr = ratios[("jobmeter", c)][1], ratios[("peer", c)][1]
        ok &= jr >= 0.97 and jr > pr
        fig.append(f"{label[c]}: jobmeter {jr:.3f}, peer {pr:.3f} of none")
    if "1" in confs:
        fig.append(f"(-c 1 unpinned, not judged: jobmeter {ratios[('jobmeter', '1')][1]:.3f}, "
                   f"peer {ratios[('peer', '1')][1]:.3f})")
    # The TPS medians carry the VM's noise; the CPU measures much less.  A
    # verdict of met needs both: a lucky median must not pass a tracer whose
    # CPU cost alone is over budget.
    if "mincap" in variants:
        fig.append("least exact capture (mincap): " +
                   ", ".join(f"{label[c]} {ratios[('mincap', c)][1]:.3f}" for c in ("1p", "4") if c in confs))
    if d_cpu:
        fig.append(f"CPU per transaction implies jobmeter {d_cpu['jobmeter']:.3f}, peer {d_cpu['peer']:.3f}" +
                   (f", mincap {d_cpu['mincap']:.3f}" if "mincap" in d_cpu else "") + " at -c 1")
        ok &= d_cpu["jobmeter"] >= 0.97
    if c4_implied is not None:
        fig.append(f"the -c 4 profile implies jobmeter ≤ {c4_implied:.3f}")
        ok &= c4_implied >= 0.97
    # The floor only adds work.  A run in which it measured as a gain was
    # moved more by the VM than by the costs sought: it cannot judge them,
    # either way.
    # So does one whose spread between rounds, for the same empty programs,
    # is wider than the 3% being judged (pinned: the robust measures).
    noise = []
    for c in [c for c in ("1p", "4") if ("floor", c) in ratios]:
        if ratios[("floor", c)][1] > 1.0:
            noise.append(f"the floor's TPS ratio {ratios[('floor', c)][1]:.3f} at {label[c]}")
    if ("floor", "1p") in ratios:
        q = ratios[("floor", "1p")]
        if q[2] - q[0] > 0.03:
            noise.append(f"the floor's pinned TPS ratio spread {q[0]:.3f}–{q[2]:.3f} over rounds")
    if cpu_tx:
        fq = quartiles([cpu_tx[(r, "floor")] - cpu_tx[(r, "none")] for r in rounds
                        if (r, "floor") in cpu_tx and (r, "none") in cpu_tx])
        base0 = med([cpu_tx[(r, "none")] for r in rounds if (r, "none") in cpu_tx])
        if fq[1] == fq[1] and fq[1] <= 0:
            noise.append(f"the floor's CPU per transaction {fq[1]:+.2f} µs at -c 1, pinned")
        elif fq[1] == fq[1] and fq[2] - fq[0] > 0.03 * base0:
            noise.append(f"the floor's added CPU per transaction spread {fq[0]:+.2f}…{fq[2]:+.2f} µs "
                         f"over rounds, against a 3% budget of {0.03 * base0:.2f} µs")
    if noise:
        pg.targets.append(("pgbench -S TPS with jobmeter ≥ 97% of none at -c 1 and -c 4, and better than peer",
                           "; ".join(fig), "**not resolved by this run**", "§2"))
        pg.missed.append(
            "**pgbench** (§2): this run cannot judge the target, either way: for the **floor**, whose "
            "empty programs only add work and always the same, it measured " + "; ".join(noise) +
            ". The VM's noise during the run was larger than the costs sought. Re-run the "
            "scenario (`bench/run.sh pgbench`) on a quieter machine.")
        return
    pg.targets.append(("pgbench -S TPS with jobmeter ≥ 97% of none at -c 1 and -c 4, and better than peer",
                       "; ".join(fig), ok, "§2"))
    if not ok and cpu_tx:
        add = med([cpu_tx[(r, "jobmeter")] - cpu_tx[(r, "none")] for r in rounds
                   if (r, "jobmeter") in cpu_tx and (r, "none") in cpu_tx])
        base = med([cpu_tx[(r, "none")] for r in rounds if (r, "none") in cpu_tx])
        fl = med([cpu_tx[(r, "floor")] - cpu_tx[(r, "none")] for r in rounds
                  if (r, "floor") in cpu_tx and (r, "none") in cpu_tx])
        sc = load_tsv(os.path.join(pg.res, "pgbench_syscalls.tsv"))
        per_tx = ""
        if sc and float(sc[0]["tps"]) > 0:
            r0 = sc[0]
            n = (int(r0["client_syscalls"]) / max(1, int(r0["transactions"])) +
                 int(r0["server_syscalls"]) / (float(r0["tps"]) * float(r0["seconds"])))
            per_tx = (f" A transaction makes about {n:.1f} syscalls (pgbench and its backend, "
                      "counted with perf on raw_syscalls:sys_enter in a separate pinned run)" +
                      (f"; jobmeter's programs ran {sum(c for _, c, _ in jq_[1]) / jq_[0]:.2f} times "
                       "per query in §4's run" if jq_ else "") + ".")
        ml = med([cpu_tx[(r, "mincap")] - cpu_tx[(r, "none")] for r in rounds
                  if (r, "mincap") in cpu_tx and (r, "none") in cpu_tx])
        floor_txt = ""
        if fl == fl:
            left = base * 0.03 - fl
            floor_txt = (f" Empty programs on the same hooks (the **floor** variant) add "
                         f"{fl:.2f} µs ({fl / base * 100:.1f}%)" +
                         (", so no program on these hooks can reach 97% here" if left <= 0 else
                          f", which leaves {left:.2f} µs for all of jobmeter's own work per "
                          "transaction") +
                         f"; jobmeter's own work on top of the floor measures {add - fl:.2f} µs." +
                         (f" The least exact capture (**mincap**: the floor plus one "
                          f"`bpf_probe_read_user()` of each payload, nothing else) adds {ml:.2f} µs "
                          f"({ml / base * 100:.1f}%, implied ratio {base / (base + ml):.3f}), "
                          + ("so no tracer that sees every query on these hooks meets the "
                             "target on this machine; " if ml >= base * 0.03 else "")
                          + f"jobmeter adds {add - ml:.2f} µs more than it."
                          if ml == ml else "") +

                         (" Its programs per query in §4's run (statistics on): " +
                          per_query_text(*jq_) + "; jm_sock_send and jm_sock_recv, the payload "
                          "captures, are " +
                          f"{sum(t for p_, _, t in jq_[1] if p_ in ('jm_sock_send', 'jm_sock_recv')) / max(1, sum(t for _, _, t in jq_[1])) * 100:.0f}"
                          "% of that time." if jq_ else "") +
                         " The agent's parsing runs in the agent process, which this CPU figure "
                         "does not count.")
        nodb_txt = ""
        if ("nodb", "4") in ratios and ("jobmeter", "4") in ratios:
            nodb_txt = (f" At -c 4, **nodb** (DB tracing off) reached "
                        f"{ratios[('nodb', '4')][1]:.3f}" +
                        (f", the **floor** {ratios[('floor', '4')][1]:.3f} and **mincap** "
                         f"{ratios[('mincap', '4')][1]:.3f}" if ("mincap", "4") in ratios else
                         f" and the **floor** {ratios[('floor', '4')][1]:.3f}") + " against jobmeter's "
                        f"{ratios[('jobmeter', '4')][1]:.3f}: turning payload capture and "
                        f"parsing off moved the median by "
                        f"{(ratios[('nodb', '4')][1] - ratios[('jobmeter', '4')][1]) * 100:+.1f} points "
                        "(the per-round IQRs in the table show the VM's noise, of a similar size).")
        pg.missed.append(
            f"**pgbench** (§2): jobmeter adds {add:.2f} µs of CPU to a {base:.1f}-µs transaction "
            f"({add / base * 100:.1f}%), against a 3% budget of {base * 0.03:.2f} µs." + per_tx +
            floor_txt + (" With both vCPUs busy (-c 4) the agent's own parsing competes for CPU as "
            "well: " + c4_text if c4_text else " With both vCPUs busy (-c 4) the agent's own "
            "parsing competes for CPU as well (its CPU column).") + nodb_txt)


# ----------------------------------------------------------------- pgprogs
def pgprogs(pg):
    rows = load_tsv(os.path.join(pg.res, "pgprogs.tsv"))
    if not pg.section("## 2c. pgbench: eBPF program time per transaction, side by side", "pgprogs", rows):
        return
    prog_tx = {}
    for row in rows:
        k = (row["rep"], row["variant"])
        tx = int(row["transactions"] or 0)
        if tx:
            prog_tx[k] = prog_tx.get(k, 0.0) + int(row["run_time_ns"]) / tx
    reps = sorted({k[0] for k in prog_tx})
    pvar = [v for v in ("floor", "mincap", "jobmeter") if any(k[1] == v for k in prog_tx)]
    over = {}
    table = []
    for v in pvar:
        xs = [prog_tx[(r, v)] for r in reps if (r, v) in prog_tx]
        if "floor" in pvar and v != "floor":
            over[v] = med([prog_tx[(r, v)] - prog_tx[(r, "floor")] for r in reps
                           if (r, v) in prog_tx and (r, "floor") in prog_tx])
        table.append([v, f"{med(xs):,.0f} ({min(xs):,.0f}–{max(xs):,.0f})",
                      f"{over[v]:+,.0f}" if v in over else ""])
    pg.p(f"`pgbench -n -S -c 1` with pgbench and its backend pinned to one vCPU, one run per "
         f"variant in {len(reps)} alternating passes, `kernel.bpf_stats_enabled` on: each "
         "variant's own programs (by the ids its process holds), their run_time_ns over the "
         "run / pgbench's transactions (median, min–max; \"over the floor\" is the median of "
         "the per-pass differences). Only the programs' own time is counted, so the VM's "
         "noise moves it far less than TPS or CPU per transaction (§2); the tracepoint "
         "dispatch around them is not in it. The statistics add two clock reads to every "
         "program run, of every variant alike: the floor's figure is mostly those. **mincap** "
         "is the least exact capture: the floor, except that its socket programs copy every "
         "payload of the client end of pgbench's connections with one `bpf_probe_read_user()` "
         "and do nothing else (`bench/floor.bpf.c` built with `MINCAP_PORT`).", "")
    pg.table(["variant", "program ns per transaction", "over the floor"], table)
    if "mincap" in over and "jobmeter" in over:
        txt = (f" By program time alone (§2c, side by side), the least capture's programs take "
               f"{over['mincap']:,.0f} ns per transaction over the floor's, jobmeter's "
               f"{over['jobmeter']:,.0f} ns.")
        pg.p(f"jobmeter's programs take {over['jobmeter'] - over['mincap']:,.0f} ns per "
             "transaction more than the least capture's: the thread filter and membership test, "
             "the per-process byte counters, the connection's state and the io ring record "
             "around the same copy.", "")
        for i, m in enumerate(pg.missed):
            if m.startswith("**pgbench**"):
                pg.missed[i] = m + txt

# ------------------------------------------------------------------- split
SPLIT_PHASE = 4      # bench/run.sh SPLIT_PHASE
SPLIT_STEPS = [      # (step, flags kept set, flag flipped, what the flip turns off)
    ("total", "", "detach", "everything: the socket programs come off their tracepoints"),
    ("dispatch", "stop1", "detach", "the tracepoint dispatch of every socket operation on the "
                                    "machine, and the thread filter"),
    ("checks", "stop2", "stop1", "the job checks and the socket byte accounting"),
    ("conn", "stop3", "stop2", "connection state (socket storage, verdicts, TCP stamps)"),
    ("copy", "noparse", "stop3", "the payload copy into the io ring (parsing already off)"),
    ("parse", "", "noparse", "the agent's parsing (payloads still copied and drained)"),
]


def split_pairs(path):
    """Per-pair TPS ratios: each flagged phase over the mean of its two
    unflagged neighbours, the first second of every phase dropped."""
    txt = read_text(path) or ""
    tps = [float(m.group(1)) for m in re.finditer(r"progress: [\d.]+ s, ([\d.]+) tps", txt)]
    phases = {}
    for k, t in enumerate(tps):
        if k % SPLIT_PHASE:
            phases.setdefault(k // SPLIT_PHASE, []).append(t)
    means = {j: sum(v) / len(v) for j, v in phases.items() if len(v) == SPLIT_PHASE - 1}
    return [means[j] / ((means[j - 1] + means[j + 1]) / 2) for j in sorted(means)
            if j % 2 and j - 1 in means and j + 1 in means]


def split(pg):
    have = {st: split_pairs(os.path.join(pg.res, f"split_{st}.txt")) for st, *_ in SPLIT_STEPS}
    if not any(have.values()):
        return
    pg.section("## 2b. pgbench -c 4: where jobmeter's cost goes (live toggles)", "split", True)
    secs = len(re.findall(r"progress: ", read_text(os.path.join(pg.res, "split_total.txt")) or ""))
    pg.p("Separate runs of this VM differ by more than the effects sought here, so "
         f"`bench/run.sh split` measures inside single runs: a {secs}-s `pgbench -S -c 4 -j 2 -P 1` "
         "as a job per step, under an agent built with `bench/split/split.patch`, whose socket "
         "programs and parser skip parts of their work while flag files exist (the agent reads "
         "them at every 50-ms drain; `bench/split/README.md`). A step keeps some flags set and "
         f"flips one more every {SPLIT_PHASE} s, so it turns exactly one part off and on; each "
         "flipped phase is compared with the mean of its two neighbours, seconds apart, the "
         "first second of every phase dropped. The gain is what TPS rises by while the part "
         "is off: what it costs.", "")
    rows, gain, gse = [], {}, {}
    for st, base, flag, what in SPLIT_STEPS:
        r = have[st]
        if len(r) < 2:
            rows.append([st, f"`{base}`" if base else "none", f"`{flag}`", what, "no data", ""])
            continue
        m = sum(r) / len(r)
        se = (sum((x - m) ** 2 for x in r) / (len(r) - 1)) ** 0.5 / len(r) ** 0.5
        gain[st], gse[st] = (m - 1) * 100, se * 100
        rows.append([st, f"`{base}`" if base else "none", f"`{flag}`", what,
                     f"{(m - 1) * 100:+.1f}% ± {se * 100:.1f} (median {(med(r) - 1) * 100:+.1f}%)",
                     str(len(r))])
    pg.table(["step", "kept set", "flipped", "the flip turns off", "TPS gain, mean ± s.e. (median)",
              "pairs"], rows)
    if len(gain) != len(SPLIT_STEPS):
        return
    parts = [st for st, *_ in SPLIT_STEPS if st != "total"]
    total, tse = gain["total"], gse["total"]
    psum = sum(gain[p_] for p_ in parts)
    pse = sum(gse[p_] ** 2 for p_ in parts) ** 0.5
    pg.p(f"The parts add up to {psum:+.1f} ± {pse:.1f} points against {total:+.1f} ± {tse:.1f} "
         "measured for everything at once. A gain within two standard errors of zero is not "
         "resolved by this run.", "")
    names = {"dispatch": "tracepoint dispatch and thread filter", "checks": "job checks and byte "
             "accounting", "conn": "connection state", "copy": "payload copy and io ring",
             "parse": "the agent's parsing"}
    resolved = [f"{names[p_]} {gain[p_]:.1f} ± {gse[p_]:.1f}" for p_ in parts
                if abs(gain[p_]) > 2 * gse[p_]]
    txt = (f" Measured inside single runs (§2b): the socket programs and the parsing they feed "
           f"cost {total:.1f}% ± {tse:.1f} of -c 4 throughput; " +
           ("resolved parts, in points: " + "; ".join(resolved) + "." if resolved else
            "no part is resolved on its own (each within two standard errors)."))
    for i, mtxt in enumerate(pg.missed):
        if mtxt.startswith("**pgbench**"):
            pg.missed[i] = mtxt + txt


# --------------------------------------------------------------- execstorm
def execstorm(pg):
    runs = load_jsonl(os.path.join(pg.res, "execstorm.jsonl"))
    if not pg.section("## 3. Exec storm", "execstorm", runs):
        return
    pg.p("`bench/execstorm.c`: one job process vfork+execs `bench/tiny.c` (a 9 KiB static "
         "binary that exits 0 — `/bin/true` reaches only ~3,500 execs/s on this VM with "
         "nothing traced, so it cannot make a 5,000/s storm) with up to 4 children in "
         "flight, paced at a fixed rate; a fresh agent with interval 1 s. Expected processes "
         "= children + the generator itself; reported = the job's run line. Agent CPU = "
         "utime+stime of `/proc/<agent>/stat` over the storm, in % of one core (and "
         "including a 3-s drain after it); wakeups = its voluntary context switches. eBPF "
         "program time (statistics on) is charged to the exec'ing processes, not to the "
         "agent, and is listed separately.", "")
    table = []
    for r in runs:
        g = r["generator"]
        lost = r["loss_lines"]
        bpf = ", ".join(f"{p['prog']} {p['run_time_ns'] / p['run_cnt']:.0f} ns/run x {p['run_cnt']:,}"
                        for p in r["bpf"] if p["run_cnt"] and p["prog"] in EXEC_PROGS)
        bpf_pct = sum(p["run_time_ns"] for p in r["bpf"] if p["prog"] in EXEC_PROGS) \
            / 1e7 / r["seconds"]
        table.append([r["mode"], f"{g['rate']:,.0f}/s for {g['seconds']:.1f} s", f"{r['expected_processes']:,}",
                      f"{r['reported_processes']:,}", str(len(lost)), f2(r["agent_cpu_pct"]),
                      f2(r["agent_cpu_pct_incl_drain"]), f"{r.get('agent_wakeups', 0) / r['seconds']:,.0f}",
                      f"{r['agent_vmhwm_kib'] / 1024:.1f}", bpf, f2(bpf_pct)])
    pg.table(["mode", "exec rate", "expected processes", "reported", "loss lines",
              "agent CPU % of a core", "incl. drain", "agent wakeups/s", "agent VmHWM MiB",
              "eBPF per event", "eBPF CPU % of a core"], table)
    for r in runs:
        if r["loss_lines"]:
            pg.p(f"Loss lines ({r['mode']}): `{json.dumps(r['loss_lines'][-1].get('total', r['loss_lines'][-1]))}` (cumulative).", "")
    rt = load_tsv(os.path.join(pg.res, "execstorm_rate.tsv"))
    if rt:
        rates = {}
        for r in rt:
            rates.setdefault((r["variant"], r["who"]), []).append(float(r["rate"]))
        rounds = len({r["round"] for r in rt})
        base = {w: med(rates.get(("none", w), [])) for w in ("job", "outside")}
        pg.p(f"**How fast processes can start**: the same generator unpaced for 2 s per variant, "
             f"{rounds} interleaved rounds, statistics off (median execs/s, min–max):", "")
        table = []
        for v in ("none", "floor", "jobmeter"):
            for w in ("job", "outside"):
                xs = rates.get((v, w), [])
                if xs:
                    table.append([v, "in a job" if w == "job" else "outside any job",
                                  f"{f0(med(xs))} ({f0(min(xs))}–{f0(max(xs))})",
                                  f2(med(xs) / base[w]) if base[w] == base[w] else "n/a"])
        pg.table(["variant", "generator", "execs/s", "ratio to none"], table)
    execstorm_outside(pg)
    paced = [r for r in runs if r["mode"] == "paced"]
    if paced:
        r = paced[0]
        ok = (r["generator"]["rate"] >= 5000 and r["expected_processes"] == r["reported_processes"]
              and not r["loss_lines"] and r["agent_cpu_pct"] < 10)
        pg.targets.append(("Exec storm ≥ 5,000/s for 10 s: zero loss, agent < 10% of one core",
                           f"{r['generator']['rate']:,.0f} execs/s, {r['reported_processes']:,} of "
                           f"{r['expected_processes']:,} processes, {len(r['loss_lines'])} loss lines, "
                           f"agent {r['agent_cpu_pct']:.2f}%", ok, "§3"))
        if not ok:
            pg.profile("profile_execstorm_agent.txt", "agent profile during the paced storm")
        pg.profile("profile_execstorm_processes.txt",
                   "profile of the storm's own processes (perf following the children, 2 s)")


# The configs of the storms outside any job (bench/run.sh storm_outside).
OUTSIDE_CFGS = (("rules", "`results/agent.yaml`, the bench config"),
                ("nojobs", "the same without its `jobs:` list"),
                ("norules", "without `jobs:` and `systemd:`, `kubernetes: enabled: false`"))


def ring_record(size):
    """Bytes a record of SIZE takes on a BPF ring buffer: an 8-byte header,
    rounded up to 8."""
    return (size + 8 + 7) // 8 * 8


def span_text(xs, fmt=f0):
    return f"{fmt(med(xs))} ({fmt(min(xs))}–{fmt(max(xs))})" if xs else "n/a"


def execstorm_outside(pg):
    """§3: eBPF time per process of storms outside any job, the agent with
    and without rules, side by side (execstorm_outside.jsonl)."""
    rows = load_jsonl(os.path.join(pg.res, "execstorm_outside.jsonl"))
    if not rows:
        return
    by = {}
    for r in rows:
        if r["generator"]["spawned"] > 0:
            by.setdefault(r["variant"], {})[r["pass"]] = r
    cfgs = [(v, d) for v, d in OUTSIDE_CFGS if v in by]
    if not cfgs:
        return
    passes = len({r["pass"] for r in rows})

    def per_proc(r, prog, key):
        n = r["generator"]["spawned"]
        return sum(b[key] for b in r["bpf"] if b["prog"] == prog) / n

    def total(r):
        return sum(per_proc(r, p_, "run_time_ns") for p_ in EXEC_PROGS)

    def emit(v):
        xs = {r["emit_all_exits"] for r in by[v].values()}
        return "/".join("on" if x else "off" for x in sorted(xs, reverse=True))

    rates = [r["generator"]["rate"] for x in by.values() for r in x.values()]
    spawned = [r["generator"]["spawned"] for x in by.values() for r in x.values()]
    pg.p(f"**Processes outside any job, with and without rules**: the same generator run "
         f"outside any job, paced (median {f0(med(rates))} execs/s, {f0(med(spawned))} processes "
         f"a run), in {passes} passes; each pass starts a fresh agent with each config in turn, "
         "the order rotating, eBPF statistics on. Configs: " +
         "; ".join(f"*{v}* = {d} (`emit_all_exits` {emit(v)})" for v, d in cfgs) +
         ". `emit_all_exits` is read from the running agent's rodata: the agent sets it when any "
         "job has a `match:`, when `systemd:` lists a unit or when Kubernetes is enabled "
         "(`has_rules` in `agent/agent.c`), and then every exit on the machine sends an exit "
         "event, and a group leader's exit also takes a task-storage entry and sends a reap "
         "event when the task is freed (`jm_free`). Per process = a program's run time over the "
         "run ÷ processes spawned; runs per process above 1.00 are the machine's other "
         "processes in the same seconds (the bench's own `bpftool` and `jq` among them). The "
         "statistics add ~20 ns to every run in every config alike; the kernel's freeing of a "
         "task's storage is no program's time and is not in these figures. "
         "Median over passes (min–max); the last column pairs each pass's *rules* run with its "
         "*norules* run.", "")
    base = "norules" if "norules" in by else None
    both = sorted(set(by.get("rules", {})) & set(by.get(base, {}))) if base else []

    def diffs(f):
        return [f(by["rules"][k]) - f(by[base][k]) for k in both]

    head = ["program"] + [f"{v}: ns per process, runs" for v, _ in cfgs]
    if both:
        head.append("rules − norules, ns per process")
    table = []
    for prog in EXEC_PROGS + ("total",):
        cells = [prog if prog != "total" else "**all six**"]
        for v, _ in cfgs:
            rs = list(by[v].values())
            if prog == "total":
                cells.append(span_text([total(r) for r in rs]))
            else:
                ns = [per_proc(r, prog, "run_time_ns") for r in rs]
                runs = [per_proc(r, prog, "run_cnt") for r in rs]
                cells.append(f"{span_text(ns)}, {f2(med(runs))} runs")
        if both:
            f = total if prog == "total" else (lambda r, p_=prog: per_proc(r, p_, "run_time_ns"))
            d = diffs(f)
            cells.append(f"{signed(med(d))} ({signed(min(d))} to {signed(max(d))})")
        table.append(cells)
    pg.table(head, table)

    sizes = next((r.get("event_sizes") for r in rows if r.get("event_sizes")), None)
    table = []
    for v, _ in cfgs:
        rs = list(by[v].values())
        ring = [r["ring_bytes"] / r["generator"]["spawned"] for r in rs]
        task = [r["agent_task_clock_ms"] * 1e6 / r["generator"]["spawned"] for r in rs
                if r.get("agent_task_clock_ms")]
        wake = [r["agent_wakeups"] / r["task_clock_seconds"] for r in rs]
        table.append([v, emit(v), span_text(ring), span_text(task), span_text(wake)])
    pg.p("What reaches the agent: bytes the programs put on its events ring per process (the "
         "ring's producer position before and after the storm; every record there, the machine's "
         "other processes' too), and the agent's own CPU per process (`perf stat -e task-clock` "
         "over the storm and 1 s after it, in ns; noisy: other tenants' execs reach it too) and "
         "its wakeups. The agent keeps no count of the events it receives (none in its JSONL "
         "or metrics), so events are counted where they are sent." +
         (f" Records on the ring: exec {ring_record(sizes['exec']):,} B, exit "
          f"{ring_record(sizes['exit'])} B, reap {ring_record(sizes['reap'])} B (8-byte header "
          "included)." if sizes else ""), "")
    pg.table(["config", "emit_all_exits", "ring bytes per process", "agent CPU ns per process",
              "agent wakeups/s"], table)
    if both:
        d = diffs(total)
        rel = [x / total(by[base][k]) * 100 for x, k in zip(d, both)]
        dring = [by["rules"][k]["ring_bytes"] / by["rules"][k]["generator"]["spawned"]
                 - by[base][k]["ring_bytes"] / by[base][k]["generator"]["spawned"] for k in both]
        txt = (f"**What rules cost a process outside any job**: {signed(med(d))} ns of eBPF "
               f"time per process (median of {len(d)} paired passes, {signed(min(d))} to "
               f"{signed(max(d))}), {med(rel):+.0f}% over the same agent without rules, and "
               f"{signed(med(dring))} bytes on the events ring")
        if sizes:
            two = ring_record(sizes["exit"]) + ring_record(sizes["reap"])
            txt += (f" ({med(dring) / two:.2f} times an exit and a reap record, {two} B, per "
                    "process spawned: the machine's other exits are in it too)")
        dx = [per_proc(by["rules"][k], "jm_exit", "run_time_ns")
              - per_proc(by[base][k], "jm_exit", "run_time_ns") for k in both]
        df = [per_proc(by["rules"][k], "jm_free", "run_time_ns")
              - per_proc(by[base][k], "jm_free", "run_time_ns") for k in both]
        txt += (f"; of it, `jm_exit` {signed(med(dx))} ns and `jm_free` {signed(med(df))} ns. "
                f"On a host that starts 1,000 processes a second, that is "
                f"{f2(med(d) * 1000 / 1e9 * 100)}% of one core, all of it for processes in no job.")
        if "nojobs" in by:
            both_nj = sorted(set(by["nojobs"]) & set(by[base]))
            dn = [total(by["nojobs"][k]) - total(by[base][k]) for k in both_nj]
            if dn:
                txt += (f" Removing only the `jobs:` list saves nothing of it: *nojobs* is "
                        f"{signed(med(dn))} ns per process over *norules*, `emit_all_exits` "
                        f"{emit('nojobs')}.")
        nr = [total(r) for r in by[base].values()]
        nx = [per_proc(r, "jm_exec", "run_time_ns") for r in by[base].values()]
        txt += (f" Without any rule, a process outside every job still costs {f0(med(nr))} ns, "
                f"{f0(med(nx))} of it in `jm_exec`, which scans every exec's environment for "
                "the identity variables and sends every exec on the machine to the agent.")
        pg.p(txt, "")


# --------------------------------------------------------------- footprint
def footprint(pg):
    f = load_json(os.path.join(pg.res, "footprint.json"))
    if not pg.section("## 4. Agent footprint", "footprint", f):
        return
    p, q = f["processes"], f["queries"]
    pg.p(f"**{p['wanted']:,} live job processes in {p['jobs']:,} jobs** (`bench/spawn.c`: per job "
         "one leader exec'd with `JOBMETER_JOB=<prefix>-<i>` forks the others; all sleep), agent "
         f"interval 10 s. They were all up {p['spawn_seconds']:.1f} s after the start; CPU measured "
         "over 10 s of steady state 3 s later, then all processes killed.", "")
    pg.table(["measure", "value"], [
        ["agent RSS before the processes (VmRSS)", f"{p['rss_kib_idle'] / 1024:.1f} MiB"],
        ["agent RSS while tracking them (VmRSS)", f"{p['rss_kib_live'] / 1024:.1f} MiB"],
        ["agent peak RSS while tracking (VmHWM)", f"{p['hwm_kib_live'] / 1024:.1f} MiB"],
        ["agent peak RSS incl. teardown (VmHWM)", f"{p['hwm_kib_end'] / 1024:.1f} MiB"],
        ["agent CPU, steady, % of one core", f2(p["agent_cpu_pct"])],
        ["agent wakeups (voluntary context switches) over those 10 s", f"{p.get('agent_wakeups', 0):,}"],
        ["agent CPU during teardown (10k exits, 1k runs closed)",
         f"{f2(p['agent_cpu_pct_teardown'])}% over {p['teardown_seconds']:.1f} s"],
        ["jobs / processes in the agent's run lines", f"{p['jobs_reported']:,} / {p['processes_reported']:,}"],
        ["loss lines", str(len(p["loss_lines"]))],
    ])
    cpu_per_proc = p["agent_cpu_pct"] / 100 * 10 / max(1, p["wanted"]) * 1e6   # µs per process per 10-s interval
    prof = read_text(os.path.join(pg.res, "profile_footprint_agent.txt")) or ""
    procfs = [sym for sym in ("do_task_stat", "pid_revalidate", "proc_pid_", "__d_lookup_rcu", "vfscanf")
              if sym in prof]
    pg.p(f"With every process asleep, the agent's steady CPU comes to {cpu_per_proc:,.0f} µs per "
         "tracked process per 10-s interval" +
         (f"; its profile has /proc reads ({', '.join(f'`{x}`' for x in procfs)} "
          "among the top symbols)" if procfs else "") + ".", "")
    pg.profile("profile_footprint_agent.txt", "agent profile during those 10 s of steady state")
    peak = max(p["hwm_kib_live"], p["hwm_kib_end"]) / 1024
    ok = peak <= 40 and p["processes_reported"] == p["wanted"] and p["jobs_reported"] == p["jobs"]
    pg.targets.append((f"Agent ≤ 40 MiB RSS at {p['wanted']:,} processes / {p['jobs']:,} jobs",
                       f"peak {peak:.1f} MiB (VmHWM); {p['processes_reported']:,} processes in "
                       f"{p['jobs_reported']:,} jobs reported", ok, "§4"))
    pg.p(f"**~{q['target_qps']:,} queries/s**: `pgbench -n -S -R {q['target_qps']} -c 8 -j 2` as a job, "
         f"DB tracing on; measured over {q['seconds']:.1f} s in the middle of the run.", "")
    bpf = ", ".join(f"{b['prog']} {b['run_time_ns'] / b['run_cnt']:.0f} ns/run x {b['run_cnt']:,}"
                    for b in sorted(q["bpf"], key=lambda b: -b["run_time_ns"])
                    if b["run_cnt"] and b["prog"].startswith("jm_"))
    pg.table(["measure", "value"], [
        ["pgbench TPS achieved (1 query per transaction)", f0(q["pgbench"]["tps"])],
        ["pgbench latency average", f"{q['pgbench']['latency_ms'] * 1000:.0f} µs"],
        ["queries the agent counted / pgbench transactions",
         f"{q['agent_queries_counted']:,} / {q['pgbench']['transactions']:,}"],
        ["agent CPU, % of one core (perf task-clock; clock ticks of user+sys)",
         f"{f2(q_agent_pct(q))} ({f2(q['agent_cpu_pct'])})"],
        ["agent wakeups per second", f"{q.get('agent_wakeups', 0) / q['seconds']:,.0f}"],
        ["jobmeter eBPF programs, % of one core (charged to pgbench/postgres)", f2(q["bpf_cpu_pct"])],
        ["eBPF programs", bpf],
        ["agent VmHWM", f"{q['agent_vmhwm_kib'] / 1024:.1f} MiB"],
    ])
    rate = q["pgbench"]["tps"]
    ok = q_agent_pct(q) < 3 and rate >= 0.95 * q["target_qps"]
    pg.targets.append(("Agent < 3% of one core at 20k queries/s",
                       f"{q_agent_pct(q):.2f}% at {rate:,.0f} queries/s (plus {q['bpf_cpu_pct']:.2f}% "
                       "in eBPF programs, charged to the traced processes)", ok, "§4"))
    if not ok:
        pg.profile("profile_qps_agent.txt", "agent profile at ~20k queries/s")


# --------------------------------------------------------------- collector
def collector(pg):
    runs = load_jsonl(os.path.join(pg.res, "collector.jsonl"))
    rep = load_json(os.path.join(pg.res, "report30.json"))
    if not pg.section("## 5. Collector ingest and report", "collector", runs or rep):
        return
    if runs:
        a = runs[0]["agents"]
        pg.p(f"`tools/collector/bench/ingest_load.c --template --gzip`: {a} simulated agents, "
             "each a thread with its own keep-alive "
             "connection posting in seq order, gzip'd protobuf batches of 50 job windows (the "
             "template is `jobmeter-collector gen-batch --jobs 50 --windows 1 --runs 0`; agent "
             "id, seq and window times set per batch, all built before the clock starts). "
             "Collector with default options (`--max-ingest 4`: more concurrent batches get "
             "503 + Retry-After, which the poster retries after 10 ms) on a fresh database per run.", "")
        table = [[r["run"], f1(r["batches_per_s"]), f"{r['stored']:,}", f"{r['retried_503']:,}",
                  r["errors"], f"{r['latency_ms_p50']:.1f} / {r['latency_ms_p99']:.1f}",
                  f1(r["collector_cpu_pct"]), f"{r['body_bytes_avg']:.0f}", f"{r['window_rows_in_db']:,}"]
                 for r in runs]
        pg.table(["run", "batches/s stored", "stored", "503 retried", "errors",
                  "latency ms p50 / p99", "collector CPU %", "body bytes", "window rows"], table)
        m = med([r["batches_per_s"] for r in runs])
        pg.targets.append(("Collector ≥ 2,000 batches/s (50 windows, 20 agents)",
                           f"median {m:,.0f} batches/s over {len(runs)} runs", m >= 2000, "§5"))
        if m < 2000:
            pg.profile("profile_collector.txt", "collector profile under the same load")
    fleet = load_json(os.path.join(pg.res, "report30_fleet.json"))
    for r in (rep, fleet):
        if not (r and "best_of_3_s" in r):
            continue
        b = r["best_of_3_s"]
        who = (f"{r['agents']} agents sending a batch every {r['batch_s']} s, {r['batches']:,} batches each with "
               f"its loss counters; " if "agents" in r else "")
        pg.p(f"**Report over {r['days']} days x {r['jobs']} jobs** "
             f"(`tools/report/benchdb.sh`: {who}{r['windows']:,} window rows, {r['runs']:,} runs, "
             f"{r['db_mib']:,} MiB database; generated in {r['generate_s']} s, collector "
             f"migration with rollup backfill {r['migrate_s']} s):", "")
        pg.table(["format"] + list(b.keys()), [["best of 3, s"] + [str(v) for v in b.values()]])
        worst = max(b.values())
        if r is rep:
            pg.targets.append(("30-day report ≤ 2 s", f"slowest format {worst} s (best of 3)", worst <= 2, "§5"))
    if rep and "skipped" in rep:
        pg.p(f"Report timing skipped: {rep.get('skipped')}.", "")


SECTION_OF = {"syscalls": "§1", "pgbench": "§2", "split": "§2b", "pgprogs": "§2c",
              "execstorm": "§3", "footprint": "§4", "collector": "§5"}


def kernels_text(res, latest):
    """The latest run's kernel, or, when the sections' runs were made on
    different kernels (their meta files say), each with its sections."""
    by = {}
    for sc, sec in SECTION_OF.items():
        m = load_json(os.path.join(res, f"{sc}.meta.json"))
        if m and m.get("kernel"):
            by.setdefault(m["kernel"], []).append(sec)
    if len(by) <= 1:
        return latest
    return "; ".join(f"{k} ({', '.join(v)})" for k, v in by.items())


def main():
    res, out = sys.argv[1], sys.argv[2]
    pg = Page(res)
    body = Page(res)
    mach = load_json(os.path.join(res, "machine.json")) or {}
    for fn in (syscalls, pgbench, split, pgprogs, execstorm, footprint, collector):
        fn(body)
    pg.p("# jobmeter benchmark results", "",
         "Generated by `bench/report.py` from `bench/results/` (written by `bench/run.sh`, run "
         "by `make bench`). Do not edit by hand: re-run the suite.", "")
    pg.p("## Machine", "")
    pg.table(["", ""], [
        ["CPUs (nproc)", mach.get("nproc", "?")], ["CPU model", mach.get("cpu", "?")],
        ["memory", mach.get("memory", "?")], ["kernel", kernels_text(res, mach.get("kernel", "?"))],
        ["OS", mach.get("os", "?")],
        ["return-stack mitigation (spec_rstack_overflow)", mach.get("srso") or "not recorded"],
        ["tools", f"{mach.get('bpftool', '?')}; {mach.get('bpftrace', '?')}; {mach.get('pgbench', '?')}"],
    ])
    pg.p("A noisy 2-core VM (wall times swing ±10%) without hardware performance counters: "
         "wall-time figures are medians of interleaved rounds, eBPF program costs come from "
         "`kernel.bpf_stats_enabled`, profiles from the software `cpu-clock` event. The agent "
         "ran with `bench/results/agent.yaml` (the shipped `deploy/config/agent.yaml` "
         "settings, shipping off, the benchmark's port declared as PostgreSQL).", "")
    pg.p("## Targets", "")
    pg.table(["target", "measured", "verdict", "details"],
             [[t, f, "n/a" if ok is None else verdict(ok), w] for t, f, ok, w in body.targets])
    if body.missed:
        pg.p("### What stands in the way of the missed targets", "")
        for m in body.missed:
            pg.p("- " + m)
        pg.p("")
    pg.lines.extend(body.lines)
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(pg.lines).rstrip("\n") + "\n")
    os.replace(out + ".tmp", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
