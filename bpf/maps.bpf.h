/* Maps shared by every jobmeter BPF object.  process.bpf.o owns them; the
 * loader hands their fds to io.bpf.o with bpf_map__reuse_fd() before loading
 * it, so both objects see one "procs" table (membership + byte counters),
 * one "lives" table, one events ring and one set of loss counters. */
#ifndef JM_MAPS_BPF_H
#define JM_MAPS_BPF_H
#include "process.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, JM_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct jm_proc_cpu);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, JM_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct jm_proc_life);
} lives SEC(".maps");

/* Membership bitmap, one bit per tgid (PID_MAX_LIMIT = 4M on 64-bit).  An
 * array lookup is inlined by the verifier, so "is this a job process?"
 * costs a load and a bit test, not a hash lookup, on every hooked syscall of
 * every process.  User space mmaps it and sets bits with atomics. */
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

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, JM_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Possible CPUs (rodata, set by the loader for each object): bounds the
 * loops over the per-CPU copies of a procs value. */
const volatile __u32 nr_cpus = 1;

/* Run the statement that follows with v = each CPU's copy of tgid's procs
 * value (bpf_map_lookup_percpu_elem), skipping CPUs without one. */
#define jm_for_each_proc_copy(tgid, v)                                            \
	for (__u32 jm_cpu_ = 0; jm_cpu_ < JM_MAX_CPUS && jm_cpu_ < nr_cpus; jm_cpu_++) \
		if (((v) = bpf_map_lookup_percpu_elem(&procs, &(tgid), jm_cpu_)) != NULL)

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
