// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Per-syscall accounting of job processes: bytes on regular files (a job's
 * "bytes scanned") and on sockets, database connections, payload heads of
 * those connections, and the opens/renames that make an output dataset
 * fresh.
 *
 * One syscall hook: the BTF raw tracepoint sys_exit.  Every syscall on the
 * machine passes here, so the order of work is the whole design:
 *   1. syscall number — a bit test, no memory touched;
 *   2. job membership — one bit of the members bitmap;
 *   3. only then the per-process counters, fd classification and payload
 *      copies.
 * A process outside any job pays step 1 and, for the ~25 syscalls below,
 * step 2.  Counters are per-CPU: no atomics on the hot path.
 *
 * There is deliberately no sys_enter program: a hook on every syscall entry
 * costs every process on the machine ~50 ns per syscall (measured, see
 * bench/RESULTS.md), and the only thing it bought was the start time of a
 * database request.  On TCP that is the socket's own transmit stamp, read
 * at sys_exit of the send (file_tcp_stamp_ns). */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "core_fixes.bpf.h"
#include "maps.bpf.h"
#include "io.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 cap_head = 512;      /* <= JM_CAP_HEAD_MAX */
const volatile __u32 cap_tail = 256;      /* <= JM_CAP_TAIL_MAX */
const volatile bool track_outputs = false;

#define S_IFMT   0170000
#define S_IFSOCK 0140000
#define S_IFREG  0100000
#define EINPROGRESS 115
#define AF_UNIX  1
#define AF_INET  2
#define AF_INET6 10
#define O_ACCMODE 3
#define O_CREAT  0100
#define O_TRUNC  01000

enum fd_kind { FD_OTHER = 0, FD_FILE = 1, FD_SOCK = 2 };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, JM_MAX_CONNS);
	__type(key, struct jm_conn_key);
	__type(value, struct jm_conn_val);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, JM_MAX_CONNS);
	__type(key, struct jm_conn_key);
	__type(value, __u32);
} wfds SEC(".maps");


struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} payloads SEC(".maps");

/* Reserve a record in the io ring or count the drop. */
static __always_inline void *io_reserve(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&payloads, size, 0);
	if (!e)
		jm_stat_inc(JM_STAT_PAYLOADS_DROPPED);
	return e;
}

struct payload_buf {
	struct jm_payload_hdr hdr;
	__u8 data[JM_CAP_HEAD_MAX + JM_CAP_TAIL_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct payload_buf);
} scratch SEC(".maps");

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

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* The open file behind fd of the current process, or NULL.  The task
 * pointer is a trusted BTF pointer: task->files->fdt are plain
 * (fault-tolerant) loads, not helper calls.  The fd slot needs one helper
 * read (a variable index into a BTF array is not a plain load); the file
 * pointer it yields is cast back to a BTF pointer so that what callers read
 * from it are plain loads again instead of more helper calls. */
static __always_inline struct file *fd_file(int fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = t->files->fdt;
	struct file **fds, *f = NULL;

	if (fd < 0 || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	return bpf_rdonly_cast(f, bpf_core_type_id_kernel(struct file));
}

static __always_inline int file_kind(struct file *f)
{
	if (!f)
		return FD_OTHER;
	unsigned short mode = f->f_inode->i_mode & S_IFMT;
	return mode == S_IFREG ? FD_FILE : mode == S_IFSOCK ? FD_SOCK : FD_OTHER;
}

/* When TCP last stamped the socket of file f (tcp_sock.tcp_mstamp, microseconds
 * of CLOCK_MONOTONIC, refreshed when it transmits and when it processes an
 * incoming segment), in ns; 0 when unknown. */
static __always_inline __u64 file_tcp_stamp_ns(struct file *f)
{
	if (!f)
		return 0;
	struct socket *so = bpf_rdonly_cast(f->private_data, bpf_core_type_id_kernel(struct socket));
	struct tcp_sock *tp = bpf_rdonly_cast(so->sk, bpf_core_type_id_kernel(struct tcp_sock));
	return tp->tcp_mstamp * 1000;
}

/* The procs mask bit of an fd (see struct jm_proc_cpu). */
static __always_inline __u64 conn_fd_bit(__u32 fd)
{
	return fd < 63 ? 1ull << fd : 1ull << 63;
}

/* Set or clear an fd's bit in every CPU's copy of the process's procs
 * value.  Connects and closes of DB candidates are rare; this keeps the
 * per-syscall test a load from the current CPU's copy. */
static __always_inline void conn_fds_update(__u32 tgid, __u32 fd, bool on)
{
	__u64 bit = conn_fd_bit(fd);
	struct jm_proc_cpu *v;

	jm_for_each_proc_copy(tgid, v) {
		if (on)
			__sync_fetch_and_or(&v->conn_fds, bit);
		else
			__sync_fetch_and_and(&v->conn_fds, ~bit);
	}
}

/* Copy head (and tail) of a user buffer of a DB connection to user space. */
static __always_inline void capture(__u32 tgid, __u32 fd, __u8 dir, __u64 ts,
				    __u64 ubuf, __u64 avail, __u64 total)
{
	__u32 zero = 0;
	struct payload_buf *b = bpf_map_lookup_elem(&scratch, &zero);
	__u32 head, tail = 0;

	if (!b)
		return;
	head = avail < cap_head ? avail : cap_head;
	if (head > JM_CAP_HEAD_MAX)
		head = JM_CAP_HEAD_MAX;
	if (bpf_probe_read_user(b->data, head, (void *)ubuf))
		head = 0;
	if (avail > head && avail == total) {
		/* flat buffer: the tail is meaningful (response ends there) */
		__u64 rest = avail - head;
		tail = rest < cap_tail ? rest : cap_tail;
		if (tail > JM_CAP_TAIL_MAX)
			tail = JM_CAP_TAIL_MAX;
		if (bpf_probe_read_user(b->data + JM_CAP_HEAD_MAX, tail,
					(void *)(ubuf + avail - tail)))
			tail = 0;
	}
	if (head + tail < total)
		jm_stat_inc(JM_STAT_PAYLOAD_TRUNC);
	/* Move the tail next to the head so the record is contiguous. */
	if (tail && head < JM_CAP_HEAD_MAX) {
		if (bpf_probe_read_kernel(b->data + (head & (JM_CAP_HEAD_MAX - 1)), tail & (JM_CAP_TAIL_MAX * 2 - 1) & 0x3ff,
					  b->data + JM_CAP_HEAD_MAX))
			tail = 0;
	}
	b->hdr.hdr.ts_ns = ts;
	b->hdr.hdr.type = JM_EV_PAYLOAD;
	b->hdr.hdr.tgid = tgid;
	b->hdr.fd = fd;
	b->hdr.total_len = total;
	b->hdr.head_len = head;
	b->hdr.tail_len = tail;
	b->hdr.dir = dir;

	__u64 size = sizeof(b->hdr) + head + tail;
	if (size > sizeof(*b))
		size = sizeof(*b);
	/* Batched wakeups: the reader polls on a timer, and is woken early
	 * only when a lot is pending. */
	if (bpf_ringbuf_output(&payloads, b, size, jm_wakeup(&payloads)))
		jm_stat_inc(JM_STAT_PAYLOADS_DROPPED);
}

static __always_inline struct jm_conn_val *db_conn(__u32 tgid, __u32 fd)
{
	struct jm_conn_key k = { .tgid = tgid, .fd = fd };
	return bpf_map_lookup_elem(&conns, &k);
}

static __always_inline void on_connect(__u32 tgid, struct pt_regs *regs, long ret)
{
	if (ret != 0 && ret != -EINPROGRESS)
		return;
	__u32 fd = JM_ARG1(regs);
	__u64 uaddr = JM_ARG2(regs);
	__u64 alen = JM_ARG3(regs) & 0xffffffff;   /* socklen_t */
	__u16 family = 0;

	if (bpf_probe_read_user(&family, sizeof(family), (void *)uaddr))
		return;
	if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
		return;
	struct jm_conn_key k = { .tgid = tgid, .fd = fd };
	struct jm_conn_val st = { .state = JM_CONN_PROBE,
				  .flags = family == AF_UNIX ? 0 : JM_CONN_INET };
	if (bpf_map_update_elem(&conns, &k, &st, BPF_ANY))
		jm_stat_inc(JM_STAT_CONNS_FULL);
	else
		conn_fds_update(tgid, fd, true);

	struct jm_ev_connect *e = io_reserve(sizeof(*e));
	if (!e)
		return;
	jm_hdr(&e->hdr, JM_EV_CONNECT, tgid);
	e->fd = fd;
	e->ret = ret;
	if (alen > JM_SOCKADDR_LEN)
		alen = JM_SOCKADDR_LEN;
	e->addr_len = alen;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	if (bpf_probe_read_user(e->addr, alen, (void *)uaddr))
		e->addr_len = 0;
	bpf_ringbuf_submit(e, jm_wakeup(&payloads));
}

static __always_inline void on_close(struct jm_proc_cpu *pc, __u32 tgid, __u32 fd)
{
	struct jm_conn_key k = { .tgid = tgid, .fd = fd };
	__u32 flags = 0;

	if ((pc->conn_fds & conn_fd_bit(fd)) && bpf_map_delete_elem(&conns, &k) == 0) {
		flags |= JM_CLOSE_CONN;
		if (fd < 63)            /* bit 63 is shared by all higher fds */
			conn_fds_update(tgid, fd, false);
	}
	if (track_outputs && bpf_map_delete_elem(&wfds, &k) == 0)
		flags |= JM_CLOSE_WRITTEN;
	if (!flags)
		return;
	struct jm_ev_close *e = io_reserve(sizeof(*e));
	if (!e)
		return;
	jm_hdr(&e->hdr, JM_EV_CLOSE, tgid);
	e->fd = fd;
	e->flags = flags;
	bpf_ringbuf_submit(e, jm_wakeup(&payloads));
}

static __always_inline void on_open(__u32 tgid, int dirfd, __u64 upath, __u32 oflags, long fd)
{
	if (!track_outputs || fd < 0)
		return;
	if ((oflags & O_ACCMODE) == 0 && !(oflags & (O_CREAT | O_TRUNC)))
		return;                                 /* read-only open */
	struct jm_conn_key k = { .tgid = tgid, .fd = fd };
	__u32 one = 1;
	if (bpf_map_update_elem(&wfds, &k, &one, BPF_ANY))
		jm_stat_inc(JM_STAT_CONNS_FULL);
	struct jm_ev_open *e = io_reserve(sizeof(*e));
	if (!e)
		return;
	jm_hdr(&e->hdr, JM_EV_OPEN, tgid);
	e->dirfd = dirfd;
	e->fd = fd;
	e->flags = oflags;
	e->pad = 0;
	if (bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)upath) < 0)
		e->path[0] = 0;
	bpf_ringbuf_submit(e, jm_wakeup(&payloads));
}

static __always_inline void on_rename(__u32 tgid, int odfd, __u64 op, int ndfd, __u64 np)
{
	if (!track_outputs)
		return;
	struct jm_ev_rename *e = io_reserve(sizeof(*e));
	if (!e)
		return;
	jm_hdr(&e->hdr, JM_EV_RENAME, tgid);
	e->olddirfd = odfd;
	e->newdirfd = ndfd;
	if (bpf_probe_read_user_str(e->oldpath, sizeof(e->oldpath), (void *)op) < 0)
		e->oldpath[0] = 0;
	if (bpf_probe_read_user_str(e->newpath, sizeof(e->newpath), (void *)np) < 0)
		e->newpath[0] = 0;
	bpf_ringbuf_submit(e, jm_wakeup(&payloads));
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

SEC("tp_btf/sys_exit")
int BPF_PROG(jm_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = JM_SYSCALL_NR(regs);
	bool rx = false;

	switch (nr) {
	case JM_NR_read: case JM_NR_pread64: case JM_NR_readv: case JM_NR_preadv:
	case JM_NR_preadv2: case JM_NR_recvfrom: case JM_NR_recvmsg:
		rx = true;
		break;
	case JM_NR_write: case JM_NR_pwrite64: case JM_NR_writev: case JM_NR_pwritev:
	case JM_NR_pwritev2: case JM_NR_sendto: case JM_NR_sendmsg:
	case JM_NR_sendfile: case JM_NR_copy_file_range: case JM_NR_splice:
	case JM_NR_connect: case JM_NR_close:
	case JM_NR_open: case JM_NR_openat: case JM_NR_openat2: case JM_NR_creat:
	case JM_NR_rename: case JM_NR_renameat: case JM_NR_renameat2:
		break;
	default:
		return 0;
	}

	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!jm_member(tgid))
		return 0;
	struct jm_proc_cpu *pc = jm_proc_this_cpu(tgid);
	if (!pc)
		return 0;
	struct jm_proc_io *io = &pc->io;

	switch (nr) {
	case JM_NR_connect:
		on_connect(tgid, regs, ret);
		return 0;
	case JM_NR_close:
		if (ret == 0)
			on_close(pc, tgid, JM_ARG1(regs));
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

	if (ret <= 0)
		return 0;

	/* In-kernel copies: bytes never pass through a user buffer. */
	if (nr == JM_NR_sendfile || nr == JM_NR_copy_file_range || nr == JM_NR_splice) {
		int in_fd, out_fd;
		if (nr == JM_NR_sendfile) {
			out_fd = JM_ARG1(regs);
			in_fd = JM_ARG2(regs);
		} else {                              /* (fd_in, off_in, fd_out, ...) */
			in_fd = JM_ARG1(regs);
			out_fd = JM_ARG3(regs);
		}
		int ik = file_kind(fd_file(in_fd)), ok = file_kind(fd_file(out_fd));
		if (ik == FD_FILE)
			io->file_read_bytes += ret;
		else if (ik == FD_SOCK)
			io->net_rx_bytes += ret;
		if (ok == FD_FILE)
			io->file_write_bytes += ret;
		else if (ok == FD_SOCK)
			io->net_tx_bytes += ret;
		return 0;
	}

	__u32 fd = JM_ARG1(regs);
	struct file *f = NULL;          /* looked up once, when it is needed */
	int kind;
	switch (nr) {
	case JM_NR_sendto: case JM_NR_recvfrom: case JM_NR_sendmsg: case JM_NR_recvmsg:
		kind = FD_SOCK;
		break;
	case JM_NR_pread64: case JM_NR_pwrite64: case JM_NR_preadv: case JM_NR_pwritev:
		kind = FD_FILE;     /* ESPIPE on pipes and sockets: only files get here */
		break;
	default:
		f = fd_file(fd);
		kind = file_kind(f);
	}

	if (kind == FD_FILE) {
		if (rx)
			io->file_read_bytes += ret;
		else
			io->file_write_bytes += ret;
		return 0;
	}
	if (kind != FD_SOCK)
		return 0;
	if (rx)
		io->net_rx_bytes += ret;
	else
		io->net_tx_bytes += ret;

	if (!(pc->conn_fds & conn_fd_bit(fd)))
		return 0;                   /* not a DB candidate: no hash lookup */
	struct jm_conn_val *cv = db_conn(tgid, fd);
	if (!cv)
		return 0;
	/* A request starts when its bytes leave: on loopback much of the round
	 * trip happens inside send() itself (the peer is woken from the
	 * sender's softirq), so send()'s return is too late.  TCP stamped the
	 * socket when this send transmitted; a stamp not newer than the last
	 * response means this send did not transmit yet (corked), and the
	 * return time is used. */
	__u64 ts = 0;
	if (!rx && (cv->flags & JM_CONN_INET)) {
		__u64 st = file_tcp_stamp_ns(f ? f : fd_file(fd));
		if (st > cv->last_rx_ns)
			ts = st;
	}
	if (!ts)
		ts = bpf_ktime_get_ns();
	if (rx)
		cv->last_rx_ns = ts;
	__u64 base, len;
	switch (nr) {
	case JM_NR_readv: case JM_NR_writev: case JM_NR_preadv: case JM_NR_pwritev:
	case JM_NR_preadv2: case JM_NR_pwritev2:
		first_iov(JM_ARG2(regs), ret, &base, &len);
		break;
	case JM_NR_sendmsg: case JM_NR_recvmsg: {
		struct msghdr_u m = {};
		if (bpf_probe_read_user(&m, sizeof(m), (void *)JM_ARG2(regs)))
			return 0;
		first_iov(m.iov, ret, &base, &len);
		break;
	}
	default:
		base = JM_ARG2(regs);
		len = ret;
	}
	capture(tgid, fd, rx ? JM_PAYLOAD_RX : JM_PAYLOAD_TX, ts, base, len, ret);
	return 0;
}
