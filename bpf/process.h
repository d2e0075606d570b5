/* Kernel <-> user ABI of bpf/process.bpf.c: process lifecycle events and the
 * maps every jobmeter program shares.  Fields are __u64/__u32, ordered by size,
 * padding explicit; agent/abi_check.c pins sizes and offsets with
 * _Static_assert so a change here cannot silently break the agent. */
#ifndef JM_BPF_PROCESS_H
#define JM_BPF_PROCESS_H
#include <linux/types.h>

#define JM_COMM_LEN      16
#define JM_PATH_LEN      256
#define JM_ARGS_LEN      256
#define JM_ENV_LEN       512      /* matched NAME=value strings, NUL-separated */
#define JM_ENV_STR_MAX   128      /* bytes copied per matched env string */
#define JM_ENV_KEYS_MAX  8
#define JM_ENV_KEY_LEN   32
#define JM_ENV_SCAN_MAX  512      /* env strings looked at per exec (user space mirrors it) */
#define JM_MAX_CPUS      256
#define JM_MAX_PROCS     65536    /* tracked processes at once (procs_spill) */
/* procs: slot tgid % JM_PROC_SLOTS.  A per-CPU array costs slots x 40 B x
 * CPUs whether used or not (0.625 MiB per CPU here); the spill hash allocates
 * per entry. */
#define JM_PROC_SLOTS    16384
#define JM_PID_LIMIT     (1u << 22)            /* PID_MAX_LIMIT on 64-bit */
#define JM_MEMBER_WORDS  (JM_PID_LIMIT / 64)   /* words of the membership bitmap */

/* The thread filter (bpf/maps.bpf.h): one bit per hashed kernel stack of a
 * job thread, tested before anything else on every socket operation. */
#define JM_TF_LOG2       20                    /* bits: 2^20, 128 KiB */
#define JM_TF_WORDS      (1u << (JM_TF_LOG2 - 6))
#define JM_TF_SHIFT      14                    /* 16 KiB: the smallest THREAD_SIZE */

/* regs_off: where a task's pt_regs sit in its kernel stack (task->stack +
 * regs_off), learned by the programs; 0 not yet, JM_TF_REGS_BAD when two
 * tasks disagreed (the programs then ask the helper every time).  self:
 * the kernel address of this value, for the programs' own arithmetic.
 * The bits start on a cache line of their own. */
#define JM_TF_REGS_BAD   (~0ull)
#define JM_TF_REGS_MAX   (1u << 16)           /* larger is not a stack offset */

struct jm_thread_filter {
	__u64 self;
	__u64 regs_off;
	__u64 pad[6];
	__u64 bits[JM_TF_WORDS];
};

enum jm_event_type {
	JM_EV_EXEC    = 1,
	JM_EV_FORK    = 2,
	JM_EV_EXIT    = 3,
	JM_EV_OOM     = 4,
	JM_EV_CONNECT = 5,   /* bpf/io.h */
	JM_EV_CLOSE   = 6,
	JM_EV_OPEN    = 7,
	JM_EV_RENAME  = 8,
	JM_EV_PAYLOAD = 9,   /* bpf/io.h: a payload head of a DB connection */
	JM_EV_REAP    = 10,  /* a job process's leader was freed: its last CPU */
};

/* Indexes of the per-CPU loss/health counters (map "stats"). */
enum jm_stat {
	JM_STAT_EVENTS_DROPPED   = 0,  /* events ring buffer full */
	JM_STAT_PAYLOADS_DROPPED = 1,  /* io ring full (bpf/xring.h) */
	JM_STAT_PROCS_FULL       = 2,  /* procs/lives/reaping map full: a job process untracked */
	JM_STAT_CONNS_FULL       = 3,  /* conns/wfds map full */
	JM_STAT_PAYLOAD_TRUNC    = 4,  /* payload longer than head+tail */
	JM_STAT_ENV_TRUNC        = 5,  /* env scan stopped at its bound */
	JM_STAT_TFILTER_MISS     = 6,  /* a job thread the thread filter did not have */
	JM_STAT_MAX              = 8,
};

/* flags of jm_ev_exec / jm_ev_exit */
#define JM_F_TRACKED    0x1       /* process was in the procs map */
#define JM_F_ENV_MATCH  0x2       /* exec: env carried an identity variable */
#define JM_F_ENV_TRUNC  0x4       /* exec: env scan hit its bound */
#define JM_F_REAP       0x8       /* exit: a jm_ev_reap for this tgid follows */

struct jm_ev_hdr {
	__u64 ts_ns;                  /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 type;                   /* enum jm_event_type */
	__u32 tgid;
};

/* Byte counters of one job process as reported (exit event, sampler):
 * file bytes are the kernel's own task I/O accounting (rchar/wchar: what
 * read()/write()-family calls moved, on files, pipes and devices) minus the
 * socket bytes among them; socket bytes come from the socket tracepoints. */
struct jm_proc_io {
	__u64 file_read_bytes;
	__u64 file_write_bytes;
	__u64 net_rx_bytes;
	__u64 net_tx_bytes;
};

/* Socket byte counters of one job process, one CPU's share.  vfs_*: the
 * part moved by read()/write()/readv()/writev()/sendfile(), which rchar and
 * wchar count as well; the socket calls (send*, recv*) they do not. */
struct jm_sock_io {
	__u64 rx_bytes;
	__u64 tx_bytes;
	__u64 vfs_rx_bytes;
	__u64 vfs_tx_bytes;
};

/* File bytes from task I/O accounting and the socket bytes inside it. */
static inline __u64 jm_sub0(__u64 a, __u64 b)
{
	return a > b ? a - b : 0;
}

/* Per-CPU counters of one job process.
 *
 * They live in map "procs" (per-CPU array) at slot tgid % JM_PROC_SLOTS when
 * that slot is free — an array lookup the verifier inlines, so a job
 * socket operation pays no helper call for it — with owner = tgid in every
 * CPU's copy; otherwise (two job processes with equal slots, or a process
 * user space tracks) in "procs_spill" (per-CPU hash, key tgid), owner
 * unused. */
struct jm_proc_cpu {
	struct jm_sock_io sock;
	__u32 owner;                  /* procs: tgid using the slot, 0 = free */
	__u32 pad;
};

/* One record of the "jm_sample" task iterator, per thread of a tracked
 * process: what the 1 s sampler used to read from /proc/PID/stat, for all
 * job processes in one read(2).  Threads carry their own run time only; the
 * leader's record adds the group's dead threads, the RSS and the byte
 * counters summed over CPUs. */
#define JM_SAMPLE_LEADER  0x1
#define JM_SAMPLE_ZOMBIE  0x2         /* leader: exited; other thread: past exit_mm() */
/* rss_pages of a thread other than the leader: set only when the leader is
 * a zombie (its mm is gone, the group's memory is the live threads'). */

struct jm_sample {
	__u64 runtime_ns;             /* se.sum_exec_runtime (+ signal's, leader) */
	__u64 rss_pages;              /* leader (or any thread of a zombie leader): file + anon + shmem pages */
	__u64 rchar;                  /* task I/O accounting of this thread */
	__u64 wchar;                  /* (leader: + the group's released threads) */
	struct jm_sock_io sock;       /* leader: totals over all CPUs */
	__u32 tgid;
	__u32 tid;
	__u32 flags;                  /* JM_SAMPLE_* */
	__u32 pad;
};

/* Shared (not per-CPU) lifecycle state, touched only on fork/exit
 * (map "lives", key tgid). */
struct jm_proc_life {
	__u64 cpu_ns;                 /* sum_exec_runtime of threads that exited */
	__u64 rchar;                  /* their task I/O accounting */
	__u64 wchar;
	/* Peak RSS of the image an exec of it is replacing, taken at
	 * sched_prepare_exec (the last point that still has the old mm),
	 * handed to that exec's event and cleared. */
	__u64 image_peak;
	__s32 threads;                /* live threads we know of */
	__u32 flags;                  /* JM_LIFE_* */
};

/* flags of jm_proc_life */
#define JM_LIFE_USER      0x1         /* inserted by user space: threads is a guess */
#define JM_LIFE_REPORTED  0x2         /* its exit event has been emitted */
#define JM_LIFE_REAP      0x4         /* its leader's exit kept its run time (jm_free) */

struct jm_ev_exec {
	struct jm_ev_hdr hdr;
	__u64 cgroup_id;              /* cgroup v2 id (inode of the cgroup dir) */
	/* A process tracked before this exec (JM_F_TRACKED): what it used up
	 * to it, counted as jm_sample counts (the run it may leave keeps
	 * that); 0 otherwise. */
	__u64 cpu_ns;                 /* all threads, user + system */
	/* Every exec: signal->maxrss after the exec, i.e. the peak of every
	 * image before this one, and of the parent's memory a fork copied. */
	__u64 maxrss_bytes;
	/* Tracked before this exec, on kernels with sched_prepare_exec: the
	 * peak of the image this exec replaced alone (its mm's high-water
	 * mark just before the exec), which maxrss cannot tell apart from
	 * the images before it; 0 otherwise. */
	__u64 image_peak_bytes;
	struct jm_proc_io io;
	__u32 ppid;
	__u32 flags;                  /* JM_F_* */
	__u16 filename_len;
	__u16 args_len;               /* bytes of args[], NUL-separated argv */
	__u16 env_len;                /* bytes of env[] */
	__u16 pad;
	char  comm[JM_COMM_LEN];
	char  filename[JM_PATH_LEN];
	char  args[JM_ARGS_LEN];
	char  env[JM_ENV_LEN + JM_ENV_STR_MAX];
};

struct jm_ev_fork {
	struct jm_ev_hdr hdr;         /* tgid = child */
	__u32 ppid;
	__u32 pad;
};

struct jm_ev_exit {
	struct jm_ev_hdr hdr;
	__u64 cpu_ns;                 /* all threads, user + system */
	__u64 maxrss_bytes;           /* peak RSS of the process (signal->maxrss) */
	struct jm_proc_io io;         /* totals over all CPUs (tracked only) */
	/* Peak RSS of its current image alone (the mm's high-water mark): the
	 * process's maxrss includes every image it exec'd from.  0 when the
	 * kernel has dropped the mm before the exit tracepoint (older ones). */
	__u64 mm_peak_bytes;
	__u32 ppid;
	__s32 status;                 /* wait(2) status: exit code << 8 | signal */
	__u32 flags;                  /* JM_F_TRACKED */
	__u32 pad;
};

struct jm_ev_oom {
	struct jm_ev_hdr hdr;         /* tgid = victim */
};

/* The CPU a process's leader thread used after its exit tracepoint, sent
 * when the kernel frees it (after its last schedule, which is when the
 * scheduler charges the stretch it ran since its last tick or switch: the
 * whole life of a process shorter than a tick).  getrusage() and the
 * parent's wait4() count it; the exit event cannot. */
struct jm_ev_reap {
	struct jm_ev_hdr hdr;
	__u64 cpu_ns;                 /* leader's sum_exec_runtime now - at its exit */
};

#endif
