// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Process lifecycle of job processes: exec, fork, exit (status, CPU, peak
 * RSS, byte totals) and OOM kills.
 *
 * Membership is a bit of the "members" bitmap, and a job process has
 * per-CPU counters (jm_proc_claim, maps.bpf.h).  Entry happens three ways: (1) at exec, when the environment
 * carries an identity variable (JOBMETER_JOB=... or a configured set) — done
 * here, in the kernel, so a process that lives < 1 ms is still attributed;
 * (2) at fork, children of a member become members; (3) user space inserts
 * processes matched by config rules or found in /proc at start-up.
 * Events here are rare (one per exec/fork/exit), so they all go through the
 * ring buffer; per-operation (socket) work lives in io.bpf.c.  The agent's 1 s sample
 * of live processes (CPU, RSS, bytes) is the jm_sample task iterator at the
 * end of this file. */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "core_fixes.bpf.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before load (rodata). */
const volatile __u32 n_env_keys = 0;
const volatile char env_keys[JM_ENV_KEYS_MAX][JM_ENV_KEY_LEN] = {};
const volatile __u64 page_size = 4096;
/* Emit exits of untracked processes too: rule-matched processes are
 * classified in user space, possibly after they already exited. */
const volatile bool emit_all_exits = false;

#define SIGNAL_GROUP_EXIT 0x00000004
#define CLONE_THREAD      0x00010000
#define PF_EXITING        0x00000004

/* Scratch for building the (large) exec event, one per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct jm_ev_exec);
} exec_scratch SEC(".maps");

/* Leaders of job processes between their exit and their free: the run
 * time counted for them at the exit (jm_ev_reap).  The scheduler charges a
 * running task's time at ticks and switches only, so at the exit
 * tracepoint sum_exec_runtime lacks the stretch since the last of them:
 * up to a tick, which is all of a process shorter than one (0 for 135 of
 * 200 `sh -c 'exit 0'` here).  The kernel's own figure is final after the
 * task's last schedule; sched_process_free comes after that (and after the
 * parent reaped it).  Other threads need nothing: the kernel itself sums
 * their time when they are released, before their last schedule.
 * Task storage: it lives and dies with the task (no pid reuse to tell
 * apart, nothing to delete), and any other task freed on the machine is
 * told from a job leader by one load. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);         /* its sum_exec_runtime at its exit */
} reaping SEC(".maps");

/* Keep a leader's run time at its exit for jm_free; false if no room. */
static __always_inline bool reap_put(struct task_struct *p, __u64 rt)
{
	__u64 *v = bpf_task_storage_get(&reaping, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!v) {
		jm_stat_inc(JM_STAT_PROCS_FULL); /* its last tick unseen */
		return false;
	}
	*v = rt;
	return true;
}

struct env_scan {
	unsigned long pos;            /* user address of the next env string */
	unsigned long end;
	__u32 out;                    /* bytes used in ev->env */
	__u32 matched;
	__u32 in_long;                /* inside a string longer than one chunk */
	__u32 pad;
};

/* Does the env string in buf start with one of the configured keys? */
static __always_inline bool env_key_match(const char *buf)
{
	for (__u32 k = 0; k < JM_ENV_KEYS_MAX; k++) {
		if (k >= n_env_keys)
			return false;
		bool ok = true;
		for (__u32 i = 0; i < JM_ENV_KEY_LEN; i++) {
			char c = env_keys[k][i];
			if (!c)
				break;
			if (buf[i] != c) {
				ok = false;
				break;
			}
		}
		if (ok)
			return true;
	}
	return false;
}

/* One step of the environment walk: read up to one chunk (JM_PATH_LEN
 * bytes, ev->filename serves as the buffer) at pos.  Most strings fit, so
 * a string usually costs one helper call; a longer one (PATH, LS_COLORS) is
 * skipped chunk by chunk on the following steps, never matched. */
static long env_scan_one(__u32 idx, struct env_scan *s)
{
	__u32 zero = 0;
	struct jm_ev_exec *ev = bpf_map_lookup_elem(&exec_scratch, &zero);

	if (!ev || s->pos >= s->end)
		return 1;
	long n = bpf_probe_read_user_str(ev->filename, JM_PATH_LEN, (void *)s->pos);
	if (n <= 0)
		return 1;
	if (!s->in_long && env_key_match(ev->filename)) {
		__u32 off = s->out;
		if (off > JM_ENV_LEN - 1)
			return 1;
		long m = bpf_probe_read_kernel_str(&ev->env[off & (JM_ENV_LEN - 1)],
						   JM_ENV_STR_MAX, ev->filename);
		if (m > 0) {
			s->out = off + (__u32)m;
			s->matched++;
		}
	}
	if (n == JM_PATH_LEN) {           /* no NUL in this chunk: more follows */
		s->pos += JM_PATH_LEN - 1;
		s->in_long = 1;
	} else {
		s->pos += n;
		s->in_long = 0;
	}
	return 0;
}

static __always_inline void sum_sock(__u32 tgid, struct jm_sock_io *out)
{
	struct jm_proc_cpu *v;

	jm_for_each_proc_copy(tgid, v) {
		out->rx_bytes += v->sock.rx_bytes;
		out->tx_bytes += v->sock.tx_bytes;
		out->vfs_rx_bytes += v->sock.vfs_rx_bytes;
		out->vfs_tx_bytes += v->sock.vfs_tx_bytes;
	}
}

/* Task I/O accounting (CONFIG_TASK_XACCT); 0 on kernels without it. */
static __always_inline __u64 task_rchar(struct task_struct *t)
{
	return bpf_core_field_exists(t->ioac.rchar) ? BPF_CORE_READ(t, ioac.rchar) : 0;
}

static __always_inline __u64 task_wchar(struct task_struct *t)
{
	return bpf_core_field_exists(t->ioac.wchar) ? BPF_CORE_READ(t, ioac.wchar) : 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(jm_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 zero = 0, tgid = bpf_get_current_pid_tgid() >> 32;
	struct jm_ev_exec *ev = bpf_map_lookup_elem(&exec_scratch, &zero);
	struct mm_struct *mm;
	bool tracked;

	if (!ev)
		return 0;
	tracked = jm_member(tgid);

	ev->hdr.ts_ns = bpf_ktime_get_ns();
	ev->hdr.type = JM_EV_EXEC;
	ev->hdr.tgid = tgid;
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->ppid = BPF_CORE_READ(p, real_parent, tgid);
	ev->flags = tracked ? JM_F_TRACKED : 0;
	ev->env_len = 0;
	ev->pad = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ev->cpu_ns = 0;
	/* Every exec: the peak the process brought to this point, the old
	 * image's folded in at exec_mmap() (and, for a child forked since its
	 * last exec, its parent's: the fork copies the mm's high-water mark).
	 * A process that enters a job here brought that in from outside it. */
	ev->maxrss_bytes = p->signal->maxrss * page_size;
	ev->image_peak_bytes = 0;
	__builtin_memset(&ev->io, 0, sizeof(ev->io));
	if (tracked) {
		/* What the process used before: an exec that moves it to
		 * another job leaves this with the run it had (the sampler
		 * may not have seen it yet).  Counted as jm_sample counts:
		 * one thread is left (de_thread), the others are in the
		 * group's sums and the lives entry. */
		struct jm_proc_life *pl = bpf_map_lookup_elem(&lives, &tgid);
		struct jm_sock_io so = {};
		__u64 rchar = task_rchar(p), wchar = task_wchar(p);

		if (pl) {
			rchar += pl->rchar;
			wchar += pl->wchar;
			ev->image_peak_bytes = pl->image_peak;
			pl->image_peak = 0;
		}
		sum_sock(tgid, &so);
		ev->cpu_ns = BPF_CORE_READ(p, signal, sum_sched_runtime) +
			     BPF_CORE_READ(p, se.sum_exec_runtime);
		ev->io.file_read_bytes = jm_sub0(rchar, so.vfs_rx_bytes);
		ev->io.file_write_bytes = jm_sub0(wchar, so.vfs_tx_bytes);
		ev->io.net_rx_bytes = so.rx_bytes;
		ev->io.net_tx_bytes = so.tx_bytes;
	}

	mm = BPF_CORE_READ(p, mm);
	/* Environment first (it reuses ev->filename as scratch). */
	if (n_env_keys) {
		struct env_scan s = {
			.pos = BPF_CORE_READ(mm, env_start),
			.end = BPF_CORE_READ(mm, env_end),
		};
		long loops = bpf_loop(JM_ENV_SCAN_MAX, env_scan_one, &s, 0);
		if (s.pos < s.end && loops >= JM_ENV_SCAN_MAX) {
			ev->flags |= JM_F_ENV_TRUNC;
			jm_stat_inc(JM_STAT_ENV_TRUNC);
		}
		ev->env_len = s.out > JM_ENV_LEN ? JM_ENV_LEN : s.out;
		if (s.matched)
			ev->flags |= JM_F_ENV_MATCH;
	}

	long n = bpf_probe_read_kernel_str(ev->filename, sizeof(ev->filename),
					   BPF_CORE_READ(bprm, filename));
	ev->filename_len = n > 0 ? n - 1 : 0;

	unsigned long a0 = BPF_CORE_READ(mm, arg_start), a1 = BPF_CORE_READ(mm, arg_end);
	unsigned long alen = a1 > a0 ? a1 - a0 : 0;
	if (alen > JM_ARGS_LEN)
		alen = JM_ARGS_LEN;
	ev->args_len = 0;
	if (alen && bpf_probe_read_user(ev->args, alen & (JM_ARGS_LEN * 2 - 1) & 0x1ff,
					(void *)a0) == 0)
		ev->args_len = alen;

	/* An identity variable makes this a job process right now, before
	 * user space has seen the event. */
	if (!tracked && (ev->flags & JM_F_ENV_MATCH)) {
		struct jm_proc_life life = { .threads = 1 };
		if (jm_proc_claim(tgid) == 0) {
			if (bpf_map_update_elem(&lives, &tgid, &life, BPF_NOEXIST) != 0) {
				jm_proc_release(tgid);
				jm_stat_inc(JM_STAT_PROCS_FULL);
			} else {
				ev->flags |= JM_F_TRACKED;
				jm_tf_add(p, true);
				jm_member_set(tgid, true);
			}
		} else {
			jm_stat_inc(JM_STAT_PROCS_FULL);
		}
	}

	/* The thread filter's own test, on the real thing: this ctx is on the
	 * stack of a job thread, which the socket programs must let through. */
	if ((ev->flags & JM_F_TRACKED) && !jm_tf_maybe(ctx)) {
		jm_stat_inc(JM_STAT_TFILTER_MISS);
		jm_tf_add(p, true);
	}

	if (bpf_ringbuf_output(&events, ev, sizeof(*ev), jm_wakeup(&events)))
		jm_stat_inc(JM_STAT_EVENTS_DROPPED);
	return 0;
}

/* Every new task of a job process goes into the thread filter before it
 * runs: threads, children (jm_fork makes them members next) and io_uring
 * workers, which sched_process_fork does not see (create_io_thread() skips
 * it).  A child that then cannot be tracked (maps full) leaves a stale bit,
 * which costs a thread the exact test and nothing else. */
SEC("tp_btf/task_newtask")
int BPF_PROG(jm_newtask, struct task_struct *task, __u64 clone_flags)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!jm_member(tgid))
		return 0;
	jm_tf_add(task, true);
	/* Count a new thread here, not at sched_process_fork: io_uring and
	 * vhost workers are threads (CLONE_THREAD) that tracepoint never
	 * sees, yet each of their exits takes one off (jm_exit).  And here
	 * the thread has not run yet, so its exit cannot come first. */
	if (clone_flags & CLONE_THREAD) {
		struct jm_proc_life *pl = bpf_map_lookup_elem(&lives, &tgid);
		if (pl)
			__sync_fetch_and_add(&pl->threads, 1);
	}
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(jm_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct jm_proc_life *pl;

	if (!jm_member(ptgid))
		return 0;                       /* not a job process: done */
	pl = bpf_map_lookup_elem(&lives, &ptgid);
	if (!pl)
		return 0;

	if (ctgid == ptgid)                     /* a thread: jm_newtask counted it */
		return 0;

	struct jm_proc_life life = { .threads = 1 };
	if (jm_proc_claim(ctgid) ||
	    bpf_map_update_elem(&lives, &ctgid, &life, BPF_ANY)) {
		jm_proc_release(ctgid);
		jm_stat_inc(JM_STAT_PROCS_FULL);
		return 0;
	}
	/* jm_newtask added the child only if the parent was a member then:
	 * user space may have made it one since. */
	jm_tf_add(child, true);
	jm_member_set(ctgid, true);
	struct jm_ev_fork *e = jm_event_reserve(sizeof(*e));
	if (!e)
		return 0;
	jm_hdr(&e->hdr, JM_EV_FORK, ctgid);
	e->ppid = ptgid;
	e->pad = 0;
	bpf_ringbuf_submit(e, jm_wakeup(&events));
	return 0;
}

/* Resident pages of an address space: MM_FILEPAGES, MM_ANONPAGES,
 * MM_SHMEMPAGES; a counter can dip below zero between per-CPU folds. */
static __always_inline __u64 mm_rss_pages(struct mm_struct *mm)
{
	if (!mm)
		return 0;
	s64 f = mm->rss_stat[0].count, a = mm->rss_stat[1].count, sh = mm->rss_stat[3].count;
	return (f > 0 ? f : 0) + (a > 0 ? a : 0) + (sh > 0 ? sh : 0);
}

/* The old image's own peak, while the exec still holds it: exec_mmap()
 * folds it into signal->maxrss, where it is one with every earlier image's
 * and, for a process that entered its job at an exec, with the memory it
 * brought in (a big parent's).  Job processes only: one membership test for
 * every other exec.  Loaded where the kernel has the tracepoint (6.10). */
SEC("tp_btf/sched_prepare_exec")
int BPF_PROG(jm_prepare_exec, struct task_struct *task, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct jm_proc_life *pl;
	struct mm_struct *mm;

	if (!jm_member(tgid))
		return 0;
	pl = bpf_map_lookup_elem(&lives, &tgid);
	mm = task->mm;
	if (!pl || !mm)
		return 0;
	/* get_mm_hiwater_rss(): the mark moves only when RSS drops */
	__u64 hw = mm->hiwater_rss, now = mm_rss_pages(mm);
	pl->image_peak = (hw > now ? hw : now) * page_size;
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(jm_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	struct jm_proc_life *pl = bpf_map_lookup_elem(&lives, &tgid);
	__u64 cpu_ns = 0;
	bool last, reap = false;

	if (pl) {
		__u64 rt = BPF_CORE_READ(p, se.sum_exec_runtime);

		if (BPF_CORE_READ(p, pid) == (pid_t)tgid && reap_put(p, rt))
			__sync_fetch_and_or(&pl->flags, JM_LIFE_REAP);
		/* Every thread adds its own runtime on the way out; the last
		 * thread we know of reports the process.  Counting threads
		 * ourselves (rather than trusting signal->live) guarantees all
		 * threads have added their share before the exit is reported:
		 * live drops before this tracepoint, so a thread still on its
		 * way out can read it as 0 too.  The count is exact only for
		 * entries made here (exec and fork see one thread).  User space
		 * inserts processes some ms after their exec, and threads made
		 * in between were never counted: for those entries the group is
		 * over only when signal->live says so, and the first thread to
		 * see that (and claim JM_LIFE_REPORTED) reports; CPU of a thread
		 * still exiting next to it is then the only thing that can be
		 * missed, never the rest of the process's life. */
		__sync_fetch_and_add(&pl->cpu_ns, rt);
		__sync_fetch_and_add(&pl->rchar, task_rchar(p));
		__sync_fetch_and_add(&pl->wchar, task_wchar(p));
		last = __sync_sub_and_fetch(&pl->threads, 1) <= 0;
		if (pl->flags & JM_LIFE_USER) {
			if (!jm_group_dead(p))
				return 0;
			if (__sync_fetch_and_or(&pl->flags, JM_LIFE_REPORTED) & JM_LIFE_REPORTED)
				return 0;
		} else if (!last) {
			return 0;
		}
		cpu_ns = pl->cpu_ns;
		if (pl->flags & JM_LIFE_USER) {
			/* Threads that ended before the entry existed are in
			 * the group's own sum (released threads) only. */
			__u64 grp = BPF_CORE_READ(p, signal, sum_sched_runtime) +
				    BPF_CORE_READ(p, se.sum_exec_runtime);
			if (grp > cpu_ns)
				cpu_ns = grp;
		}
	} else {
		/* Untracked by user space while alive (no lives entry): its
		 * counters go with its last thread. */
		if (jm_group_dead(p) && jm_proc_in_slot(tgid))
			jm_proc_release(tgid);
		if (!emit_all_exits || !jm_group_dead(p))
			return 0;
		struct signal_struct *sig = BPF_CORE_READ(p, signal);
		__u64 rt = BPF_CORE_READ(p, se.sum_exec_runtime);
		cpu_ns = BPF_CORE_READ(sig, sum_sched_runtime) + rt;
		/* A rule-matched process that ended before user space
		 * tracked it is as short as they come: its leader's last
		 * stretch too (only when rules ask for every exit). */
		if (BPF_CORE_READ(p, pid) == (pid_t)tgid && reap_put(p, rt))
			reap = true;
	}

	struct jm_ev_exit *e = jm_event_reserve(sizeof(*e));
	if (!e)
		goto out;
	jm_hdr(&e->hdr, JM_EV_EXIT, tgid);
	__builtin_memset(&e->io, 0, sizeof(e->io));
	if (pl) {
		struct jm_sock_io so = {};
		sum_sock(tgid, &so);
		e->io.file_read_bytes = jm_sub0(pl->rchar, so.vfs_rx_bytes);
		e->io.file_write_bytes = jm_sub0(pl->wchar, so.vfs_tx_bytes);
		e->io.net_rx_bytes = so.rx_bytes;
		e->io.net_tx_bytes = so.tx_bytes;
	}
	e->cpu_ns = cpu_ns;
	e->maxrss_bytes = BPF_CORE_READ(p, signal, maxrss) * page_size;
	e->mm_peak_bytes = 0;
	struct mm_struct *mm = p->mm;
	if (mm) {
		/* get_mm_hiwater_rss(): the mark moves only when RSS drops */
		__u64 hw = mm->hiwater_rss, now = mm_rss_pages(mm);
		e->mm_peak_bytes = (hw > now ? hw : now) * page_size;
	}
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	/* wait(2) semantics: a group exit's code wins over the thread's own. */
	if (BPF_CORE_READ(p, signal, flags) & SIGNAL_GROUP_EXIT)
		e->status = BPF_CORE_READ(p, signal, group_exit_code);
	else
		e->status = BPF_CORE_READ(p, group_leader, exit_code);
	e->flags = pl ? JM_F_TRACKED : 0;
	/* The leader's exit kept its run time (it may have exited before
	 * this thread); user space waits for its free then. */
	if (pl && (pl->flags & JM_LIFE_REAP))
		reap = true;
	if (reap)
		e->flags |= JM_F_REAP;
	e->pad = 0;
	bpf_ringbuf_submit(e, jm_wakeup(&events));
out:
	if (pl) {
		jm_member_set(tgid, false);
		jm_proc_release(tgid);
		bpf_map_delete_elem(&lives, &tgid);
	}
	return 0;
}

/* Every task on the machine is freed here; any but a job leader that
 * exited leaves at the storage test. */
SEC("tp_btf/sched_process_free")
int BPF_PROG(jm_free, struct task_struct *p)
{
	__u64 *was = bpf_task_storage_get(&reaping, p, 0, 0);

	if (!was)
		return 0;
	__u64 now = BPF_CORE_READ(p, se.sum_exec_runtime);
	struct jm_ev_reap *e = jm_event_reserve(sizeof(*e));
	if (!e)
		return 0;
	jm_hdr(&e->hdr, JM_EV_REAP, BPF_CORE_READ(p, tgid));
	e->cpu_ns = now > *was ? now - *was : 0;
	bpf_ringbuf_submit(e, jm_wakeup(&events));
	return 0;
}

static __always_inline void oom_event(__u32 tgid)
{
	struct jm_ev_oom *e = jm_event_reserve(sizeof(*e));
	if (!e)
		return;
	jm_hdr(&e->hdr, JM_EV_OOM, tgid);
	bpf_ringbuf_submit(e, jm_wakeup(&events));
}

/* The OOM killer's victim is the first thread of the chosen process that
 * still has an mm (find_lock_task_mm): the leader, unless the leader
 * exited first, and then a thread whose tid is not the process's pid.
 * Kernels whose mark_victim passes the task (6.18 here) get jm_oom_task, which
 * reports the victim's process; older ones (the pid only) jm_oom. */
SEC("tp_btf/mark_victim")
int BPF_PROG(jm_oom_task, struct task_struct *task)
{
	oom_event(BPF_CORE_READ(task, tgid));
	return 0;
}

SEC("tracepoint/oom/mark_victim")
int jm_oom(struct trace_event_raw_mark_victim *ctx)
{
	oom_event(BPF_CORE_READ(ctx, pid));
	return 0;
}


/* The 1 s sampler's view of every job process, in one read(2) of an
 * iterator instead of a /proc/PID/stat read and a map lookup per process
 * (which cost the agent ~12% of a core at 10,000 processes).  Visits every
 * thread on the machine; non-members leave after the membership bit. */
SEC("iter/task")
int jm_sample(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *t = ctx->task;
	struct jm_sample s = {};

	if (!t)
		return 0;
	s.tgid = t->tgid;
	if (!jm_member(s.tgid))
		return 0;
	s.tid = t->pid;
	s.runtime_ns = t->se.sum_exec_runtime;
	if (!t->exit_state && !jm_tf_has(t)) {
		/* A job thread the filter lacks: its socket operations went
		 * uncounted.  Counted (unless it never ran: task_newtask fires
		 * after the thread joins the list this walks), then mended.
		 * An exited thread (a zombie leader) has no stack any more. */
		if (s.runtime_ns)
			jm_stat_inc(JM_STAT_TFILTER_MISS);
		jm_tf_add(t, false);
	}
	/* File bytes are counted the way the exit event counts them: each
	 * live thread's own, plus what jm_exit added to the process's lives
	 * entry for threads that ended.  Not signal->ioac: it takes in every
	 * child the process reaps (wait_task_zombie), and those bytes are the
	 * child's, counted at its own exit -- a shell that ran dd and lives on
	 * would count dd's bytes twice.  A thread past exit_signals() may have
	 * added its own to the entry already: left out until it is gone (a
	 * short count for a moment; an over-count would stay, since only
	 * growth is reported). */
	if (!(t->flags & PF_EXITING)) {
		s.rchar = task_rchar(t);
		s.wchar = task_wchar(t);
	}
	if (s.tid == s.tgid) {
		s.flags = JM_SAMPLE_LEADER;
		/* A zombie, or on its way there: past exit_mm() it holds no
		 * memory to sample (unmapping a large one takes a while), and
		 * its exit event charges the last RSS seen up to the exit. */
		if (t->exit_state || ((t->flags & PF_EXITING) && !t->mm))
			s.flags |= JM_SAMPLE_ZOMBIE;
		s.runtime_ns += t->signal->sum_sched_runtime;
		struct jm_proc_life *pl = bpf_map_lookup_elem(&lives, &s.tgid);
		if (pl) {
			s.rchar += pl->rchar;
			s.wchar += pl->wchar;
		}
		s.rss_pages = mm_rss_pages(t->mm);
		sum_sock(s.tgid, &s.sock);
	} else if (!t->mm) {
		/* Past exit_mm(): this thread holds no memory any more.  Not a
		 * live thread to see the group's memory through (the last one
		 * of a zombie leader read as 0 RSS for the whole pass). */
		s.flags = JM_SAMPLE_ZOMBIE;
	} else if (t->group_leader->exit_state || !t->group_leader->mm) {
		/* The leader exited first (or is exiting) and dropped its mm:
		 * the memory the group still holds is seen through a live
		 * thread. */
		s.rss_pages = mm_rss_pages(t->mm);
	}
	bpf_seq_write(seq, &s, sizeof(s));
	return 0;
}

/* The threads of a process user space starts tracking, into the thread
 * filter (jm_probes_track runs it for that process only, after setting the
 * membership bit: a thread made later goes through jm_newtask).  Writes
 * the tid of every thread it visits: the walk ends early when the thread
 * it stands on is released, and user space looks for the ones it missed. */
SEC("iter/task")
int jm_mark(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	__u32 tid;

	if (!t)
		return 0;
	tid = t->pid;
	bpf_seq_write(ctx->meta->seq, &tid, sizeof(tid));
	if (!t->exit_state && jm_member(t->tgid))   /* an exited one has no stack */
		jm_tf_add(t, false);
	return 0;
}
