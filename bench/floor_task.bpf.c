// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The floor plus the one question every per-process filter has to ask:
 * which process is this?  On the socket hooks of bench/floor.bpf.c, each
 * program asks for the current task (bpf_get_current_task_btf, the cheapest
 * way: one helper call) and loads its tgid, and does nothing else.
 *
 * The benchmark runs it only in its statistics pass, outside jobs: what it
 * costs over the empty programs is the least any filter by process can
 * cost on this kernel, so it shows how much of jobmeter's outside-job cost
 * is that question and how much is jobmeter's own test (one bitmap word).
 * Names are task_X for jobmeter's jm_X. */
#include "vmlinux_min.h"        /* the agent's CO-RE kernel types (bpf/) */
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The tgid goes somewhere, or the compiler drops the load. */
volatile __u32 last_tgid;

SEC("tp_btf/sock_send_length")
int task_sock_send(void *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();

	last_tgid = t->tgid;
	return 0;
}

SEC("tp_btf/sock_recv_length")
int task_sock_recv(void *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();

	last_tgid = t->tgid;
	return 0;
}
