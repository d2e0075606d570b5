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
	__type(value, struct jm_proc_io);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, JM_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct jm_proc_life);
} lives SEC(".maps");

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
