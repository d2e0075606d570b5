/* The cumulative loss: kernel counters (read every window) and user-space
 * increments of the same field must add up, window after window. */
#include "harness.h"
#include "loss.h"

int main(void)
{
	struct jm_loss l;
	struct jm_loss_kernel seen;
	uint64_t k[JM_STAT_MAX];

	memset(&l, 0, sizeof(l));
	memset(&seen, 0, sizeof(seen));
	memset(k, 0, sizeof(k));

	/* window 1: two failed jm_probes_track in user space, nothing in the kernel */
	l.map_full += 2;
	jm_loss_fold_kernel(&l, &seen, k);
	CHECK_INT("loss: user-space map_full survives a zero kernel reading", l.map_full, 2);

	/* window 2: the kernel's procs and conns maps filled 3 + 4 times, user space once more */
	k[JM_STAT_PROCS_FULL] = 3;
	k[JM_STAT_CONNS_FULL] = 4;
	l.map_full += 1;
	jm_loss_fold_kernel(&l, &seen, k);
	CHECK_INT("loss: map_full is user space + kernel", l.map_full, 2 + 1 + 3 + 4);

	/* window 3: nothing new anywhere: a reading adds nothing twice */
	jm_loss_fold_kernel(&l, &seen, k);
	CHECK_INT("loss: an unchanged kernel reading adds nothing", l.map_full, 10);

	/* window 4: kernel-only counters follow the kernel */
	k[JM_STAT_EVENTS_DROPPED] = 5;
	k[JM_STAT_PAYLOADS_DROPPED] = 6;
	k[JM_STAT_PAYLOAD_TRUNC] = 7;
	k[JM_STAT_PROCS_FULL] = 4;
	jm_loss_fold_kernel(&l, &seen, k);
	CHECK_INT("loss: ringbuf_drops", l.ringbuf_drops, 5);
	CHECK_INT("loss: payload_drops", l.payload_drops, 6);
	CHECK_INT("loss: payload_truncated", l.payload_truncated, 7);
	CHECK_INT("loss: map_full grows by the kernel's growth", l.map_full, 11);

	/* a counter that goes backwards (maps reloaded) restarts, never subtracts */
	k[JM_STAT_EVENTS_DROPPED] = 1;
	jm_loss_fold_kernel(&l, &seen, k);
	CHECK_INT("loss: a kernel counter going back adds its new value", l.ringbuf_drops, 6);
	CHECK_INT("loss: other fields untouched by it", l.map_full, 11);
	TEST_EXIT();
}
