// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Socket accounting of job processes: bytes on sockets, database
 * connections and the payload heads of those connections; and, only when a
 * job declares output files, the opens/closes/renames that make an output
 * fresh.
 *
 * No hook on every syscall.  A program on sys_exit costs every process on
 * the machine ~75 ns per syscall whatever it does (measured here: the empty
 * program is the floor in bench/RESULTS.md), and most of that is the
 * syscall tracepoint machinery itself.  So:
 *   - socket bytes and payloads come from the sock_send_length and
 *     sock_recv_length tracepoints, which fire on socket operations only,
 *     with the socket in hand;
 *   - file bytes are the kernel's own per-task I/O accounting (rchar/wchar),
 *     read at thread exit and by the sampler (process.bpf.c), minus the
 *     socket bytes that went through read()/write(), counted here;
 *   - a TCP connection's end comes from inet_sock_set_state.
 * Order of work on a socket operation: the thread filter (one load), job
 * membership (one bit), the per-CPU byte counters, then — stream sockets
 * only — the socket's storage, and only for database connections the
 * payload copy. */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "core_fixes.bpf.h"
#include "maps.bpf.h"
#include "io.h"
#include "xring.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 cap_head = 512;      /* <= JM_CAP_HEAD_MAX */
const volatile __u32 cap_tail = 256;      /* <= JM_CAP_TAIL_MAX */
/* db.enabled: false keeps every payload byte inside the job (and the
 * capture's cost out of it); socket byte counts stay. */
const volatile bool db_trace = true;

#define AF_UNIX  1
#define AF_INET  2
#define AF_INET6 10
#define O_ACCMODE 3
#define O_CREAT  0100
#define O_TRUNC  01000

#define SOCK_STREAM 1
#define MSG_PEEK    2
#define TCP_CLOSE   7
#define PF_IO_WORKER 0x00000010

/* Connection state, freed by the kernel with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct jm_conn_val);
} conns SEC(".maps");

/* User space's answers to JM_CONN_PROBE, key socket cookie. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, JM_MAX_CONNS);
	__uint(map_flags, BPF_F_NO_PREALLOC);   /* short-lived entries */
	__type(key, __u64);
	__type(value, __u32);
} verdicts SEC(".maps");

/* The last socket found IGNORE on this CPU, as (address, cookie): a job
 * talking to a non-database peer keeps using one socket, and this skips the
 * storage lookup (a helper call) for it.  The cookie tells a new socket at
 * the same address apart: it is 0 until asked for, then unique. */
struct ignore_hint {
	__u64 sk;
	__u64 cookie;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ignore_hint);
} ignore_hints SEC(".maps");

struct fd_key {
	__u32 tgid;
	__u32 fd;
};

/* Files opened for writing by job processes (outputs only). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, JM_MAX_CONNS);
	__uint(map_flags, BPF_F_NO_PREALLOC);   /* empty unless outputs are declared */
	__type(key, struct fd_key);
	__type(value, __u32);
} wfds SEC(".maps");

/* The io ring (xring.h): connects, payloads, closes, opens and renames, in
 * the order they happened.  The bell only wakes the reader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct jm_xring);
} io_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} io_bell SEC(".maps");

/* Room for a record in the io ring, or the drop counted. */
static __always_inline struct jm_xr_slot io_reserve(__u32 size)
{
	return jm_xr_reserve(&io_ring, size, JM_STAT_PAYLOADS_DROPPED);
}

static __always_inline void io_commit(struct jm_xr_slot *s)
{
	jm_xr_commit(&io_bell, s);
}

struct iovec_u {                               /* struct iovec, user layout */
	__u64 base;
	__u64 len;
};

struct msghdr_u {                              /* struct user_msghdr */
	__u64 name;
	__s32 namelen;
	__s32 pad;
	__u64 iov;
	__u64 iovlen;
};

/* When TCP last stamped the socket (tcp_sock.tcp_mstamp, microseconds of
 * CLOCK_MONOTONIC, refreshed when it transmits and when it processes an
 * incoming segment), in ns.  sk is a trusted BTF pointer; the cast makes the
 * read a plain load. */
static __always_inline __u64 tcp_stamp_ns(struct sock *sk)
{
	struct tcp_sock *tp = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
	return tp->tcp_mstamp * 1000;
}

/* Copy head (and tail) of a user buffer of a DB connection to user space:
 * from the user buffer straight into an io ring record of their size.  If a
 * read fails, its part is left out; room left over is never read (the
 * header says what is there). */
static __always_inline void capture(__u32 tgid, __u64 cookie, __u8 dir, __u64 ts,
				    __u64 ubuf, __u64 avail, __u64 total)
{
	__u32 head, tail = 0;

	head = avail < cap_head ? avail : cap_head;
	if (avail > head && avail == total) {
		/* flat buffer: the tail is meaningful (response ends there) */
		__u64 rest = avail - head;
		tail = rest < cap_tail ? rest : cap_tail;
	}
	/* the loader clamps the caps; restated for the verifier */
	if (head > JM_CAP_HEAD_MAX)
		head = JM_CAP_HEAD_MAX;
	if (tail > JM_CAP_TAIL_MAX)
		tail = JM_CAP_TAIL_MAX;
	struct jm_xr_slot s = io_reserve(sizeof(struct jm_payload_hdr) + head + tail);
	if (!s.rec)
		return;
	struct jm_payload_hdr *e = jm_xr_body(&s);
	__u8 *data = (__u8 *)(e + 1);

	if (bpf_probe_read_user(data, head, (void *)ubuf))
		head = 0;
	if (tail && bpf_probe_read_user(data + head, tail, (void *)(ubuf + total - tail)))
		tail = 0;
	if (head + tail < total)
		jm_stat_inc(JM_STAT_PAYLOAD_TRUNC);
	e->hdr.ts_ns = ts;
	e->hdr.type = JM_EV_PAYLOAD;
	e->hdr.tgid = tgid;
	e->cookie = cookie;
	e->total_len = total;
	e->head_len = head;
	e->tail_len = tail;
	e->dir = dir;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	io_commit(&s);
}

static __always_inline void on_close(__u32 tgid, __u32 fd)
{
	struct fd_key k = { .tgid = tgid, .fd = fd };

	if (bpf_map_delete_elem(&wfds, &k))
		return;
	struct jm_xr_slot s = io_reserve(sizeof(struct jm_ev_close));
	if (!s.rec)
		return;
	struct jm_ev_close *e = jm_xr_body(&s);
	jm_hdr(&e->hdr, JM_EV_CLOSE, tgid);
	e->cookie = 0;
	e->fd = fd;
	e->flags = JM_CLOSE_WRITTEN;
	io_commit(&s);
}

static __always_inline void on_open(__u32 tgid, int dirfd, __u64 upath, __u32 oflags, long fd)
{
	if (fd < 0)
		return;
	if ((oflags & O_ACCMODE) == 0 && !(oflags & (O_CREAT | O_TRUNC)))
		return;                                 /* read-only open */
	struct fd_key k = { .tgid = tgid, .fd = fd };
	__u32 one = 1;
	if (bpf_map_update_elem(&wfds, &k, &one, BPF_ANY))
		jm_stat_inc(JM_STAT_CONNS_FULL);
	struct jm_xr_slot s = io_reserve(sizeof(struct jm_ev_open));
	if (!s.rec)
		return;
	struct jm_ev_open *e = jm_xr_body(&s);
	jm_hdr(&e->hdr, JM_EV_OPEN, tgid);
	e->dirfd = dirfd;
	e->fd = fd;
	e->flags = oflags;
	e->pad = 0;
	if (bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)upath) < 0)
		e->path[0] = 0;
	io_commit(&s);
}

static __always_inline void on_rename(__u32 tgid, int odfd, __u64 op, int ndfd, __u64 np)
{
	struct jm_xr_slot s = io_reserve(sizeof(struct jm_ev_rename));
	if (!s.rec)
		return;
	struct jm_ev_rename *e = jm_xr_body(&s);
	jm_hdr(&e->hdr, JM_EV_RENAME, tgid);
	e->olddirfd = odfd;
	e->newdirfd = ndfd;
	if (bpf_probe_read_user_str(e->oldpath, sizeof(e->oldpath), (void *)op) < 0)
		e->oldpath[0] = 0;
	if (bpf_probe_read_user_str(e->newpath, sizeof(e->newpath), (void *)np) < 0)
		e->newpath[0] = 0;
	io_commit(&s);
}

/* First iovec of an iovec array: base and the bytes of it the syscall used. */
static __always_inline void first_iov(__u64 uiov, long ret, __u64 *base, __u64 *len)
{
	struct iovec_u iov = {};
	*base = 0;
	*len = 0;
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)uiov))
		return;
	*base = iov.base;
	*len = (__u64)ret < iov.len ? (__u64)ret : iov.len;
}

#define AT_FDCWD -100

/* Output files: opens for writing, their closes, renames.  Loaded only
 * when a job declares output files (autoload, set by the loader): it is the
 * one program on every syscall of the machine. */
SEC("tp_btf/sys_exit")
int BPF_PROG(jm_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = JM_SYSCALL_NR(regs);

	switch (nr) {
	case JM_NR_close:
	case JM_NR_open: case JM_NR_openat: case JM_NR_openat2: case JM_NR_creat:
	case JM_NR_rename: case JM_NR_renameat: case JM_NR_renameat2:
		break;
	default:
		return 0;
	}
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!jm_member(tgid))
		return 0;

	switch (nr) {
	case JM_NR_close:
		if (ret == 0)
			on_close(tgid, JM_ARG1(regs));
		return 0;
	case JM_NR_open:
		on_open(tgid, AT_FDCWD, JM_ARG1(regs), JM_ARG2(regs), ret);
		return 0;
	case JM_NR_creat:
		on_open(tgid, AT_FDCWD, JM_ARG1(regs), O_CREAT | 1 | O_TRUNC, ret);
		return 0;
	case JM_NR_openat:
		on_open(tgid, JM_ARG1(regs), JM_ARG2(regs), JM_ARG3(regs), ret);
		return 0;
	case JM_NR_openat2: {
		__u64 how_flags = 0;
		bpf_probe_read_user(&how_flags, sizeof(how_flags), (void *)JM_ARG3(regs));
		on_open(tgid, JM_ARG1(regs), JM_ARG2(regs), how_flags, ret);
		return 0;
	}
	case JM_NR_rename:
		if (ret == 0)
			on_rename(tgid, AT_FDCWD, JM_ARG1(regs), AT_FDCWD, JM_ARG2(regs));
		return 0;
	case JM_NR_renameat: case JM_NR_renameat2:
		if (ret == 0)
			on_rename(tgid, JM_ARG1(regs), JM_ARG2(regs), JM_ARG3(regs), JM_ARG4(regs));
		return 0;
	}
	return 0;
}

/* The peer of a stream socket as a struct sockaddr: TCP from the socket's
 * own addresses, Unix from the peer socket's bound name (a connected client
 * is usually unbound; the server's accepted socket shares the listener's
 * name). */
static __always_inline __u16 peer_sockaddr(struct sock *sk, __u16 family, __u8 *out)
{
	if (family == AF_INET) {
		struct { __u16 family; __u16 port; __u32 addr; } *in = (void *)out;
		in->family = AF_INET;
		in->port = sk->__sk_common.skc_dport;
		in->addr = sk->__sk_common.skc_daddr;
		return 16;
	}
	if (family == AF_INET6) {
		struct { __u16 family; __u16 port; __u32 flow; __u8 addr[16]; __u32 scope; } *in6 = (void *)out;
		in6->family = AF_INET6;
		in6->port = sk->__sk_common.skc_dport;
		in6->flow = 0;
		in6->scope = 0;
		if (bpf_probe_read_kernel(in6->addr, 16, &sk->__sk_common.skc_v6_daddr))
			return 0;
		return 28;
	}
	struct unix_sock *u = (struct unix_sock *)sk;
	struct sock *peer = BPF_CORE_READ(u, peer);
	struct unix_address *ua = BPF_CORE_READ((struct unix_sock *)peer, addr);
	int len = BPF_CORE_READ(ua, len);
	if (!ua || len <= 0)
		return 0;
	if (len > JM_SOCKADDR_LEN)
		len = JM_SOCKADDR_LEN;
	if (bpf_probe_read_kernel(out, len & 0x7f, &ua->name))
		return 0;
	return len;
}

/* First operation of a job process on a stream socket: create its state
 * (PROBE) and tell user space who the peer is.  Two threads racing here
 * share the storage; the one that sets the state reports it. */
static __always_inline struct jm_conn_val *conn_new(struct sock *sk, __u16 family, __u32 tgid)
{
	struct jm_conn_val *cv = bpf_sk_storage_get(&conns, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);

	if (!cv) {
		jm_stat_inc(JM_STAT_CONNS_FULL);
		return NULL;
	}
	if (__sync_val_compare_and_swap(&cv->state, 0, JM_CONN_PROBE) != 0)
		return cv;
	cv->cookie = bpf_get_socket_cookie(sk);
	cv->flags = family == AF_UNIX ? 0 : JM_CONN_INET;

	struct jm_xr_slot s = io_reserve(sizeof(struct jm_ev_connect));
	if (!s.rec)
		return cv;
	struct jm_ev_connect *e = jm_xr_body(&s);
	jm_hdr(&e->hdr, JM_EV_CONNECT, tgid);
	e->cookie = cv->cookie;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	e->addr_len = peer_sockaddr(sk, family, e->addr);
	io_commit(&s);
	return cv;
}

/* Did this operation go through read()/write()-family syscalls, which the
 * task I/O accounting (rchar/wchar) counts as well? */
static __always_inline bool via_vfs(long nr)
{
	return nr == JM_NR_read || nr == JM_NR_write || nr == JM_NR_readv ||
	       nr == JM_NR_writev || nr == JM_NR_sendfile || nr == JM_NR_preadv2 ||
	       nr == JM_NR_pwritev2;
}

static __always_inline void sock_op(const void *ctx, struct sock *sk, int ret, int flags, bool rx)
{
	if (ret <= 0 || (rx && (flags & MSG_PEEK)))
		return;
	/* Most operations are not a job's: the thread filter (maps.bpf.h)
	 * says so with one load, no helper call. */
	if (!jm_tf_maybe(ctx))
		return;
	/* The exact test.  The task pointer, not bpf_get_current_pid_tgid():
	 * a job process needs it anyway. */
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 tgid = t->tgid;
	if (!jm_member(tgid))
		return;
	struct jm_proc_cpu *pc = jm_proc_this_cpu(tgid);
	if (!pc)
		return;

	/* The syscall this operation is part of.  io_uring workers have no
	 * syscall frame of their own: no nr, no user buffer. */
	struct pt_regs *regs = NULL;
	long nr = -1;
	if (!(t->flags & PF_IO_WORKER)) {
		regs = jm_current_regs(t);
		nr = JM_SYSCALL_NR(regs);
	}
	bool vfs = via_vfs(nr);
	if (rx) {
		pc->sock.rx_bytes += ret;
		if (vfs)
			pc->sock.vfs_rx_bytes += ret;
	} else {
		pc->sock.tx_bytes += ret;
		if (vfs)
			pc->sock.vfs_tx_bytes += ret;
	}

	if (!db_trace || sk->sk_type != SOCK_STREAM)
		return;
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
		return;
	__u32 zero = 0;
	struct ignore_hint *hint = bpf_map_lookup_elem(&ignore_hints, &zero);
	if (hint && hint->sk == (__u64)sk && hint->cookie &&
	    hint->cookie == sk->__sk_common.skc_cookie.counter)
		return;
	struct jm_conn_val *cv = bpf_sk_storage_get(&conns, sk, 0, 0);
	if (!cv) {
		cv = conn_new(sk, family, tgid);
		if (!cv)
			return;
	}
	if (cv->state == JM_CONN_PROBE) {
		__u32 *v = bpf_map_lookup_elem(&verdicts, &cv->cookie);
		if (v) {
			cv->state = *v;
			bpf_map_delete_elem(&verdicts, &cv->cookie);
		}
	}
	if (cv->state == JM_CONN_IGNORE) {
		if (hint) {
			hint->sk = (__u64)sk;
			hint->cookie = cv->cookie;
		}
		return;
	}

	/* A request starts when its bytes leave: on loopback much of the round
	 * trip happens inside send() itself (the peer is woken from the
	 * sender's softirq), so the end of send() is too late.  TCP stamped
	 * the socket when this send transmitted; a stamp not newer than the
	 * last response means it did not transmit yet (corked), and the
	 * current time is used.  A response ends when TCP processed its last
	 * segment, which refreshed the same stamp: no clock read either (a
	 * clock read is ~40 ns in a VM). */
	__u64 ts = 0;
	if (cv->flags & JM_CONN_INET) {
		__u64 st = tcp_stamp_ns(sk);
		if (rx || st > cv->last_rx_ns)
			ts = st;
	}
	if (!ts)
		ts = bpf_ktime_get_ns();
	if (rx)
		cv->last_rx_ns = ts;

	__u64 base = 0, len = 0;
	if (regs) {
		switch (nr) {
		case JM_NR_read: case JM_NR_write: case JM_NR_sendto: case JM_NR_recvfrom:
			base = JM_ARG2(regs);
			len = ret;
			break;
		case JM_NR_readv: case JM_NR_writev: case JM_NR_preadv2: case JM_NR_pwritev2:
			first_iov(JM_ARG2(regs), ret, &base, &len);
			break;
		case JM_NR_sendmsg: case JM_NR_recvmsg: {
			struct msghdr_u m = {};
			if (bpf_probe_read_user(&m, sizeof(m), (void *)JM_ARG2(regs)) == 0)
				first_iov(m.iov, ret, &base, &len);
			break;
		}
		}
	}
	/* An unknown buffer (sendfile, splice, io_uring) still reports its
	 * length, so the parser knows bytes went by. */
	capture(tgid, cv->cookie, rx ? JM_PAYLOAD_RX : JM_PAYLOAD_TX, ts, base, len, ret);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(jm_sock_send, struct sock *sk, int ret, int flags)
{
	sock_op(ctx, sk, ret, flags, false);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(jm_sock_recv, struct sock *sk, int ret, int flags)
{
	sock_op(ctx, sk, ret, flags, true);
	return 0;
}

/* The end of a TCP connection we hold state for (from any context: a
 * reset arrives in softirq).  Reported in every state, IGNORE included:
 * user space may still hold the answer it gave. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(jm_tcp_state, struct sock *sk, int oldstate, int newstate)
{
	if (newstate != TCP_CLOSE)
		return 0;
	struct jm_conn_val *cv = bpf_sk_storage_get(&conns, sk, 0, 0);
	if (!cv || cv->state == 0)
		return 0;
	if (cv->state == JM_CONN_PROBE)          /* an answer it will never take */
		bpf_map_delete_elem(&verdicts, &cv->cookie);
	struct jm_xr_slot s = io_reserve(sizeof(struct jm_ev_close));
	if (s.rec) {
		struct jm_ev_close *e = jm_xr_body(&s);
		jm_hdr(&e->hdr, JM_EV_CLOSE, bpf_get_current_pid_tgid() >> 32);
		e->cookie = cv->cookie;
		e->fd = 0;
		e->flags = JM_CLOSE_CONN;
		io_commit(&s);
	}
	cv->state = JM_CONN_IGNORE;
	return 0;
}
