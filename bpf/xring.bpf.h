/* Producer side of the io ring (ABI and rationale: xring.h).
 *
 * Programs writing it must not be preempted between reserve and commit, or
 * the reader waits at their record: tp_btf programs run with preemption off
 * (tracepoint probes; syscall tracepoint probes disable it explicitly for
 * BPF).  An interrupt may run another program that writes a record in
 * between; its record is behind ours in the ring and waits for our commit,
 * as long as the interrupt lasts.  (A producer that could be preempted
 * would delay the reader the same way, never corrupt the ring.) */
#ifndef JM_XRING_BPF_H
#define JM_XRING_BPF_H
#include "xring.h"
#include "maps.bpf.h"

/* Compare-and-swap attempts.  A failed one means another CPU reserved in
 * the few ns between our read and our swap; a drop must mean "full", not
 * "busy", on a machine of many CPUs too. */
#define JM_XR_TRIES 64

struct jm_xr_slot {
	struct jm_xring_rec *rec;     /* NULL: no room, the drop is counted */
	__u64 pos;
	bool wake;                    /* the backlog crossed a wakeup step */
};

/* The reader drains the ring every 50 ms and is woken early (the bell, see
 * jm_xr_commit) only when 256 KiB are pending, then once per 64 KiB the
 * backlog grows: a reader that is slow (or stopped) must not turn every
 * record into a wakeup.  Not later: a new connection's payloads are copied
 * until the reader has classified it, so the backlog bounds how long a
 * busy non-database connection pays for copies (at 1 MiB, the benchmark's
 * plain socket paid them for most of its run). */
#define JM_XR_WAKEUP_BYTES JM_WAKEUP_BYTES

/* Room for a record of `size` bytes, or the drop counted. */
static __always_inline struct jm_xr_slot jm_xr_reserve(void *ring, __u32 size, __u32 drop_stat)
{
	struct jm_xr_slot s = {};
	__u32 zero = 0;
	struct jm_xring *r = bpf_map_lookup_elem(ring, &zero);
	if (!r)
		return s;
	__u32 len = (size + sizeof(struct jm_xring_rec) + JM_XRING_ALIGN - 1) & ~(JM_XRING_ALIGN - 1);
	if (len > JM_XRING_SLACK) {           /* abi_check.c: no record is */
		jm_stat_inc(drop_stat);
		return s;
	}
	__u64 p = *(volatile __u64 *)&r->prod;
	__s64 used = 0;
	bool ok = false;
#pragma clang loop unroll(disable)
	for (int i = 0; i < JM_XR_TRIES; i++) {
		used = p - *(volatile __u64 *)&r->cons;
		/* used < 0: p is stale (the reader passed it), the swap fails */
		if (used >= 0 && used + len > JM_XRING_SIZE)
			break;
		__u64 seen = __sync_val_compare_and_swap(&r->prod, p, p + len);
		if (seen == p) {
			ok = true;
			break;
		}
		p = seen;
	}
	if (!ok) {
		jm_stat_inc(drop_stat);
		return s;
	}
	/* The header's commit word is zero (the reader zeroed the room it
	 * gave back) until jm_xr_commit. */
	s.rec = (void *)&r->data[p & (JM_XRING_SIZE - 1)];
	s.rec->len = len;
	s.rec->pad = 0;
	s.pos = p;
	s.wake = used + len > JM_XR_WAKEUP_BYTES &&
		 ((used + len) >> JM_WAKEUP_STEP_SHIFT) != (used >> JM_WAKEUP_STEP_SHIFT);
	return s;
}

/* The record's body: what follows the ring's own header. */
static __always_inline void *jm_xr_body(struct jm_xr_slot *s)
{
	return s->rec + 1;
}

/* Publish the record.  Every reserved record must be committed: the reader
 * stops at the first one that is not. */
static __always_inline void jm_xr_commit(void *bell, struct jm_xr_slot *s)
{
#if defined(__TARGET_ARCH_x86)
	/* x86-64 keeps stores in program order: a compiler barrier and a
	 * plain store publish the body written before it. */
	asm volatile("" ::: "memory");
	*(volatile __u64 *)&s->rec->commit = ~s->pos;
#else
	__atomic_exchange_n(&s->rec->commit, ~s->pos, __ATOMIC_SEQ_CST);
#endif
	if (s->wake) {
		__u64 one = 1;
		bpf_ringbuf_output(bell, &one, sizeof(one), BPF_RB_FORCE_WAKEUP);
	}
}
#endif
