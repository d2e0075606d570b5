// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The "floor" of the benchmark: empty programs on exactly the hooks jobmeter
 * attaches to by default (BTF raw tracepoints sock_send_length,
 * sock_recv_length, inet_sock_set_state, sched_process_exec,
 * sched_process_fork, sched_process_exit).  What an operation costs with
 * these attached, minus what it costs with nothing attached, is the price of
 * the hooks themselves: no eBPF tool on these tracepoints can be cheaper.
 * jobmeter's added cost is judged against it.
 *
 * There is no sys_exit program here: jobmeter loads one only when a job
 * declares output files, so a file read or write passes no hook of the
 * floor, and a socket send or receive passes one (sock_*_length).  When the
 * agent does load sys_exit, the difference to this floor includes that
 * hook's dispatch as well, on purpose: it is a cost of the configuration.
 *
 * The programs take the raw context and return at once: no helper call, no
 * map, no argument load, so the measured cost is the trampoline and the
 * tracepoint dispatch only.  Names are floor_X for jobmeter's jm_X (the
 * report pairs them) and fit the kernel's 15-character program names. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sock_send_length")
int floor_sock_send(void *ctx)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int floor_sock_recv(void *ctx)
{
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int floor_tcp_state(void *ctx)
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
