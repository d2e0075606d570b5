/* Maps shared by every jobmeter BPF object.  process.bpf.o owns them; the
 * loader hands their fds to io.bpf.o with bpf_map__reuse_fd() before loading
 * it, so both objects see one membership bitmap, one set of per-process
 * counters (procs + procs_spill), one "lives" table, one events ring and one
 * set of loss counters. */
#ifndef JM_MAPS_BPF_H
#define JM_MAPS_BPF_H
#include "process.h"

/* Per-process counters: see struct jm_proc_cpu (process.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, JM_PROC_SLOTS);
	__type(key, __u32);
	__type(value, struct jm_proc_cpu);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, JM_MAX_PROCS);
	__uint(map_flags, BPF_F_NO_PREALLOC);   /* memory for entries in use only */
	__type(key, __u32);
	__type(value, struct jm_proc_cpu);
} procs_spill SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, JM_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct jm_proc_life);
} lives SEC(".maps");

/* Membership bitmap, one bit per tgid (PID_MAX_LIMIT = 4M on 64-bit).  An
 * array lookup is inlined by the verifier, so "is this a job process?"
 * costs a load and a bit test, not a hash lookup, on every socket operation
 * of every process.  User space mmaps it and sets bits with atomics. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, JM_MEMBER_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} members SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* The thread filter: "might the current thread belong to a job?" without a
 * helper call.  Asking which task is running costs a helper call on every
 * socket operation of every process on the machine (~10 ns here: this
 * kernel does not inline bpf_get_current_task_btf() and its return pays the
 * return-stack mitigation), and nearly all of them are not jobs'.
 *
 * A tracepoint program's ctx (the argument array of bpf_trace_run*()) lives
 * on the kernel stack of the task that hit the tracepoint, one stack per
 * thread.  So the 16 KiB chunk of memory ctx falls in points at the thread.
 * Programs cannot turn a pointer into a number, but pointer - pointer is a
 * number for tracing programs loaded with CAP_PERFMON (the verifier's
 * allow_ptr_leaks), so addresses are taken relative to this map's value:
 * ctx - f.  A job thread puts in the bits of every chunk its stack's top
 * 32 KiB overlap (task_pt_regs() is at the top): three, wherever the chunk
 * boundaries fall, for 16 KiB stacks and the 32 KiB of KASAN kernels.
 *
 * Bits are set for every thread of a job process before it can run
 * (task_newtask, fork, exec, and the jm_mark iterator for processes user
 * space starts tracking) and never cleared: a dead job thread's stack
 * reused by another thread (or the memory next to a job thread's stack)
 * only sends that thread to the exact test (the membership bit of its
 * tgid), never the other way.  Two checks count a job thread the filter
 * lacks (JM_STAT_TFILTER_MISS): the sampler (jm_sample) tests every job
 * thread it visits, by its pt_regs, and mends it; every exec of a job
 * process tests the real thing, its ctx. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct jm_thread_filter);
} thread_filter SEC(".maps");

static __always_inline struct jm_thread_filter *jm_tf(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&thread_filter, &zero);
}

/* The offset of addr from the filter, as a number. */
static __always_inline __u64 jm_tf_off(const void *addr, const struct jm_thread_filter *f)
{
	__u64 off = (const char *)addr - (const char *)f;
	/* The verifier takes pointer - pointer only as written: keep clang
	 * from folding later arithmetic into the pointers. */
	asm volatile("" : "+r"(off));
	return off;
}

/* The bit of the 16 KiB chunk at offset off.  Offsets wrap at 2^64, a
 * multiple of the chunk: a stack just below the filter's memory is fine. */
static __always_inline __u64 jm_tf_bit(__u64 off)
{
	return ((off >> JM_TF_SHIFT) * 0x9e3779b97f4a7c15ull) >> (64 - JM_TF_LOG2);
}

static __always_inline void jm_tf_set(struct jm_thread_filter *f, __u64 off)
{
	__u64 h = jm_tf_bit(off);
	__sync_fetch_and_or(&f->bits[h >> 6], 1ull << (h & 63));
}

static __always_inline bool jm_tf_test(const struct jm_thread_filter *f, __u64 off)
{
	__u64 h = jm_tf_bit(off);
	return f->bits[h >> 6] & (1ull << (h & 63));
}

/* The offset of a task's stack top (the end of its pt_regs, regs). */
static __always_inline __u64 jm_tf_top(const struct jm_thread_filter *f, const void *regs)
{
	return jm_tf_off(regs, f) + bpf_core_type_size(struct pt_regs);
}

/* Learn where pt_regs sit in a task's stack, from t and its pt_regs as the
 * helper gave them: the socket programs then find the current thread's
 * syscall registers with two loads instead of a second helper call
 * (jm_current_regs).  The offset is a constant of the running kernel
 * (THREAD_SIZE, the stack-top padding, sizeof(struct pt_regs)); every
 * thread added checks it again, and one that disagrees retires it for good.
 * t->stack is read twice (by the helper, then here), so t must be a task
 * whose stack cannot be freed meanwhile: the current one, or one that has
 * not run yet -- not a thread an iterator stands on, which may be exiting
 * on another CPU.  Written only when it changes: the socket programs read
 * this line. */
static __always_inline void jm_tf_learn(struct jm_thread_filter *f, struct task_struct *t,
					const void *regs)
{
	/* f's address as a number: stored (a pointer store, allowed with
	 * allow_ptr_leaks), then read back, where it is a scalar. */
	if (f->self != (__u64)f)
		f->self = (__u64)f;
	__u64 self = *(volatile __u64 *)&f->self;
	__u64 off = self + jm_tf_off(regs, f) - (__u64)t->stack;
	__u64 cur = f->regs_off;

	if (cur == off || cur == JM_TF_REGS_BAD)
		return;
	if (cur == 0 && off - 1 < JM_TF_REGS_MAX - 1) {
		cur = __sync_val_compare_and_swap(&f->regs_off, 0, off);
		if (cur == 0 || cur == off)
			return;
	}
	f->regs_off = JM_TF_REGS_BAD;
}

/* Put t's stack in the filter: every chunk of [top - 32 KiB, top).  learn:
 * t is the current task or has not run yet (jm_tf_learn). */
static __always_inline void jm_tf_add(struct task_struct *t, bool learn)
{
	struct jm_thread_filter *f = jm_tf();
	if (!f)
		return;
	const void *regs = (const void *)bpf_task_pt_regs(t);
	__u64 top = jm_tf_top(f, regs);
	jm_tf_set(f, top - 1);
	jm_tf_set(f, top - 1 - (1ull << JM_TF_SHIFT));
	jm_tf_set(f, top - (2ull << JM_TF_SHIFT));
	if (learn)
		jm_tf_learn(f, t, regs);
}

/* Is t's stack (the chunk of its top) in the filter? */
static __always_inline bool jm_tf_has(struct task_struct *t)
{
	struct jm_thread_filter *f = jm_tf();
	return f && jm_tf_test(f, jm_tf_top(f, (const void *)bpf_task_pt_regs(t)) - 1);
}

/* The per-operation test, from a tracepoint program's ctx: false only when
 * the current thread is certainly not a job's. */
static __always_inline bool jm_tf_maybe(const void *ctx)
{
	struct jm_thread_filter *f = jm_tf();
	return !f || jm_tf_test(f, jm_tf_off(ctx, f));
}

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* The current task's pt_regs (t: the current task): at the learned offset
 * in its stack, read through an untrusted cast (plain loads that cannot
 * fault), or from the helper until the offset is known. */
static __always_inline struct pt_regs *jm_current_regs(struct task_struct *t)
{
	struct jm_thread_filter *f = jm_tf();
	__u64 off = f ? f->regs_off : 0;

	if (off - 1 < JM_TF_REGS_MAX - 1)
		return bpf_rdonly_cast((void *)((__u64)t->stack + off),
				       bpf_core_type_id_kernel(struct pt_regs));
	return (struct pt_regs *)bpf_task_pt_regs(t);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, JM_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Possible CPUs (rodata, set by the loader for each object): bounds the
 * loops over the per-CPU copies of a procs value. */
const volatile __u32 nr_cpus = 1;

static __always_inline __u32 jm_proc_slot(__u32 tgid)
{
	return tgid & (JM_PROC_SLOTS - 1);
}

/* Does tgid own its procs slot?  CPU 0's copy is the one claims race on. */
static __always_inline bool jm_proc_in_slot(__u32 tgid)
{
	__u32 slot = jm_proc_slot(tgid);
	struct jm_proc_cpu *c0 = bpf_map_lookup_percpu_elem(&procs, &slot, 0);
	return c0 && c0->owner == tgid;
}

/* This CPU's counters of a job process: the slot (inlined array lookup, no
 * helper call) when it owns it, else the spill hash.  NULL if neither. */
static __always_inline struct jm_proc_cpu *jm_proc_this_cpu(__u32 tgid)
{
	__u32 slot = jm_proc_slot(tgid);
	struct jm_proc_cpu *v = bpf_map_lookup_elem(&procs, &slot);
	if (v && v->owner == tgid)
		return v;
	return bpf_map_lookup_elem(&procs_spill, &tgid);
}

/* CPU cpu's copy of tgid's counters, wherever they live (in_slot from
 * jm_proc_in_slot). */
static __always_inline struct jm_proc_cpu *jm_proc_copy(__u32 tgid, bool in_slot, __u32 cpu)
{
	__u32 slot = jm_proc_slot(tgid);
	return in_slot ? bpf_map_lookup_percpu_elem(&procs, &slot, cpu) :
			 bpf_map_lookup_percpu_elem(&procs_spill, &tgid, cpu);
}

/* Run the statement that follows with v = each CPU's copy of tgid's
 * counters, skipping CPUs without one. */
#define jm_for_each_proc_copy(tgid, v)                                                \
	for (__u32 jm_cpu_ = 0, jm_in_ = jm_proc_in_slot(tgid);                           \
	     jm_cpu_ < JM_MAX_CPUS && jm_cpu_ < nr_cpus; jm_cpu_++)                       \
		if (((v) = jm_proc_copy(tgid, jm_in_, jm_cpu_)) != NULL)

/* Give tgid zeroed counters: its slot if free (claimed on CPU 0's copy with
 * a compare-and-swap, then owner written into the other copies), else the
 * spill hash.  0, or -1 when both are full. */
static __always_inline int jm_proc_claim(__u32 tgid)
{
	__u32 slot = jm_proc_slot(tgid);
	struct jm_proc_cpu *c0 = bpf_map_lookup_percpu_elem(&procs, &slot, 0);

	if (tgid && c0 && __sync_val_compare_and_swap(&c0->owner, 0, tgid) == 0) {
		for (__u32 cpu = 0; cpu < JM_MAX_CPUS && cpu < nr_cpus; cpu++) {
			struct jm_proc_cpu *v = bpf_map_lookup_percpu_elem(&procs, &slot, cpu);
			if (!v)
				continue;
			__builtin_memset(&v->sock, 0, sizeof(v->sock));
			v->owner = tgid;
		}
		return 0;
	}
	struct jm_proc_cpu zero = {};
	return bpf_map_update_elem(&procs_spill, &tgid, &zero, BPF_ANY) ? -1 : 0;
}

/* Drop tgid's counters: free its slot if it owns it (other copies first,
 * CPU 0's last, so a new claim never sees a half-released slot), and its
 * spill entry if any. */
static __always_inline void jm_proc_release(__u32 tgid)
{
	__u32 slot = jm_proc_slot(tgid);
	struct jm_proc_cpu *c0 = bpf_map_lookup_percpu_elem(&procs, &slot, 0);

	if (c0 && c0->owner == tgid) {
		for (__u32 cpu = 1; cpu < JM_MAX_CPUS && cpu < nr_cpus; cpu++) {
			struct jm_proc_cpu *v = bpf_map_lookup_percpu_elem(&procs, &slot, cpu);
			if (v)
				v->owner = 0;
		}
		__sync_val_compare_and_swap(&c0->owner, tgid, 0);
	}
	bpf_map_delete_elem(&procs_spill, &tgid);
}

static __always_inline bool jm_member(__u32 tgid)
{
	__u32 w = tgid >> 6;
	__u64 *word = bpf_map_lookup_elem(&members, &w);
	return word && (*word & (1ull << (tgid & 63)));
}

static __always_inline void jm_member_set(__u32 tgid, bool on)
{
	__u32 w = tgid >> 6;
	__u64 *word = bpf_map_lookup_elem(&members, &w);
	if (!word)
		return;
	if (on)
		__sync_fetch_and_or(word, 1ull << (tgid & 63));
	else
		__sync_fetch_and_and(word, ~(1ull << (tgid & 63)));
}

/* Wake the reader only when a lot is pending: it drains both rings every
 * 50 ms anyway, and a wakeup costs about a microsecond.  Past the threshold,
 * wake once per 64 KiB the backlog grows — not on every record: a reader
 * that is slow (or stopped) must not turn every event into a wakeup, which
 * measured 3 µs per syscall with the reader stopped.  The backlog itself is
 * read (a helper call) on every 16th record of a CPU only; the rest pay an
 * inlined per-CPU counter. */
#define JM_WAKEUP_BYTES (256 << 10)
#define JM_WAKEUP_STEP_SHIFT 16
#define JM_WAKEUP_EVERY 16            /* power of two */

struct jm_wake_state {
	__u64 last_avail;             /* backlog at this CPU's last look */
	__u32 tick;                   /* records since then */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct jm_wake_state);
} wake_state SEC(".maps");

/* Flags for writing a record to ring (bpf_ringbuf_output or _submit). */
static __always_inline __u64 jm_wakeup(void *ring)
{
	__u32 zero = 0;
	struct jm_wake_state *w = bpf_map_lookup_elem(&wake_state, &zero);
	if (!w || (w->tick++ & (JM_WAKEUP_EVERY - 1)))
		return BPF_RB_NO_WAKEUP;
	__u64 avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA), lo = w->last_avail;
	w->last_avail = avail;
	return avail > JM_WAKEUP_BYTES &&
	       (avail >> JM_WAKEUP_STEP_SHIFT) != (lo >> JM_WAKEUP_STEP_SHIFT) ?
	       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void jm_stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		(*v)++;
}

/* Reserve an event or count the drop: never silent. */
static __always_inline void *jm_event_reserve(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);
	if (!e)
		jm_stat_inc(JM_STAT_EVENTS_DROPPED);
	return e;
}

static __always_inline void jm_hdr(struct jm_ev_hdr *h, __u32 type, __u32 tgid)
{
	h->ts_ns = bpf_ktime_get_ns();
	h->type = type;
	h->tgid = tgid;
}
#endif
