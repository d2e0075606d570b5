// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The "floor" of the benchmark: empty programs on exactly the hooks jobmeter
 * attaches to (BTF raw tracepoints sys_exit, sched_process_exec,
 * sched_process_fork, sched_process_exit).  What a syscall costs with these
 * attached, minus what it costs with nothing attached, is the price of the
 * hook itself: no eBPF tool on these tracepoints can be cheaper.  jobmeter's
 * added cost is judged against it.
 *
 * The programs take the raw context and return at once: no helper call, no
 * map, no argument load, so the measured cost is the trampoline and the
 * tracepoint dispatch only. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sys_exit")
int floor_sys_exit(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_exec")
int floor_exec(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_fork")
int floor_fork(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_exit")
int floor_exit(void *ctx)
{
	return 0;
}
