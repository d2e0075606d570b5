/* The kernel types jobmeter's BPF programs touch, declared by hand with
 * preserve_access_index so that libbpf relocates every field access against
 * the running kernel's BTF (CO-RE).
 *
 * Why not a generated vmlinux.h?  A dump of /sys/kernel/btf/vmlinux is ~3 MB,
 * specific to one kernel build, and cannot be produced on a build machine
 * whose kernel lacks BTF.  These ~100 lines build anywhere (only the uapi
 * headers from linux-libc-dev are needed), review easily, and still run on any
 * BTF-enabled kernel because offsets are resolved at load time.  Only field
 * *names* must exist in the target kernel; kernel differences in names are
 * handled in core_fixes.bpf.h. */
#ifndef JM_VMLINUX_MIN_H
#define JM_VMLINUX_MIN_H

#include <linux/types.h>
#include <linux/bpf.h>

/* bpf_tracing.h picks kernel (not uapi) pt_regs field names with this set. */
#define __VMLINUX_H__ 1

typedef __u8  u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef int pid_t;
typedef _Bool bool;
#define true 1
#define false 0

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

struct pt_regs {                     /* x86_64 kernel layout names */
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

typedef struct { int counter; } atomic_t;
typedef struct { s64 counter; } atomic64_t;

struct sched_entity {
	u64 sum_exec_runtime;
};

/* CONFIG_TASK_XACCT: bytes read()/written() by a task (/proc/PID/io). */
struct task_io_accounting {
	u64 rchar;
	u64 wchar;
};

struct signal_struct {
	struct task_io_accounting ioac;   /* released threads */
	atomic_t live;
	unsigned int flags;
	int group_exit_code;
	unsigned long maxrss;
	unsigned long long sum_sched_runtime;
};

/* 6.2+: RSS counters are percpu_counters; .count is what /proc reports
 * (percpu_counter_read_positive). */
struct percpu_counter {
	s64 count;
};

struct mm_struct {
	unsigned long arg_start, arg_end, env_start, env_end;
	unsigned long hiwater_rss;      /* peak RSS of this address space (pages) */
	struct percpu_counter rss_stat[4];
};

struct inode {
	unsigned short i_mode;
};

struct file {
	struct inode *f_inode;
	void *private_data;               /* struct socket * for sockets */
};

struct in6_addr {
	u8 s6_addr[16];
};

struct sock_common {
	unsigned short skc_family;
	u32 skc_daddr;                    /* network order */
	u16 skc_dport;                    /* network order */
	struct in6_addr skc_v6_daddr;
	atomic64_t skc_cookie;            /* 0 until a cookie is asked for */
};

struct sock {
	struct sock_common __sk_common;
	u16 sk_type;
	u16 sk_protocol;
};

struct sockaddr_un {
	unsigned short sun_family;
	char sun_path[108];
};

struct unix_address {
	int len;
	struct sockaddr_un name[];
};

struct unix_sock {
	struct unix_address *addr;
	struct sock *peer;
};

/* Only its transmit/receive stamp is read (request start times). */
struct tcp_sock {
	u64 tcp_mstamp;
};

struct socket {
	struct sock *sk;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct task_struct {
	void *stack;                    /* the kernel stack (jm_current_regs) */
	unsigned int flags;
	int exit_code;
	int exit_state;
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct mm_struct *mm;
	struct signal_struct *signal;
	struct files_struct *files;
	struct sched_entity se;
	struct task_io_accounting ioac;
	u64 start_time;                 /* fork time: tells a reused pid apart */
	char comm[16];
};

struct linux_binprm {
	const char *filename;
};

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	u64 session_id;
	u64 seq_num;
};

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
};

struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
};

struct trace_event_raw_mark_victim {
	struct trace_entry ent;
	int pid;
};

#pragma clang attribute pop

#endif
