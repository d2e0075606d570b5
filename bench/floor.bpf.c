// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The "floor" of the benchmark: empty programs on exactly the hooks jobmeter
 * attaches to by default (BTF raw tracepoints sock_send_length,
 * sock_recv_length, inet_sock_set_state, sched_prepare_exec,
 * sched_process_exec, sched_process_fork, sched_process_exit,
 * sched_process_free).  What an operation costs with
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
 * report pairs them) and fit the kernel's 15-character program names.
 *
 * Built with -DMINCAP_PORT=P, the same file is the "mincap" variant: the
 * floor, except that the two socket programs copy each payload of the
 * client end of a TCP connection to port P, as a tracer that sees every
 * query must.  Nothing else: no question of which process (the port
 * selects the client end), no connection state, no ring, no reader.  Each
 * copy is min(bytes, 512) from the syscall's buffer argument (send/recv,
 * read/write: its second) into a per-CPU scratch buffer, with one
 * bpf_probe_read_user(), the one way a tracepoint program can read user
 * memory.  What this costs over the floor is the least exact payload
 * capture on these hooks can cost on this kernel, so jobmeter's cost is
 * judged against it too. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#ifdef MINCAP_PORT
#include "vmlinux_min.h"         /* the agent's CO-RE kernel types (bpf/) */
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#ifndef MINCAP_PORT
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
#else
#define MINCAP_MAX 512

struct mincap_buf {
	__u64 copies;                /* the bench checks that copies happened */
	__u64 bytes;
	__u8 data[MINCAP_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mincap_buf);
} mincap_buf SEC(".maps");

static __always_inline void mincap(struct sock *sk, int ret)
{
	if (ret <= 0 || sk->__sk_common.skc_dport != bpf_htons(MINCAP_PORT))
		return;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u32 zero = 0;
	struct mincap_buf *b = bpf_map_lookup_elem(&mincap_buf, &zero);
	if (!b)
		return;
	/* 64-bit: as a __u32, clang hands the helper ret's own register,
	 * whose upper half the verifier cannot bound. */
	__u64 n = (__u32)ret;
	if (n > MINCAP_MAX)
		n = MINCAP_MAX;
	/* regs->si: the syscall's second argument (x86-64) */
	if (bpf_probe_read_user(b->data, n, (void *)regs->si) == 0) {
		b->copies++;
		b->bytes += n;
	}
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(mincap_send, struct sock *sk, int ret, int flags)
{
	mincap(sk, ret);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(mincap_recv, struct sock *sk, int ret, int flags)
{
	mincap(sk, ret);
	return 0;
}
#endif

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

SEC("tp_btf/sched_process_free")
int floor_free(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_prepare_exec")
int floor_prep_exec(void *ctx)
{
	return 0;
}
