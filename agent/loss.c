/* Kernel loss counters folded into the cumulative loss.  See loss.h. */
#include "loss.h"

/* What the kernel counted since the last reading.  Its counters only grow
 * while the maps live; one that went back was reset, and its whole new
 * value is new loss. */
static uint64_t growth(uint64_t *seen, uint64_t now)
{
	uint64_t d = now >= *seen ? now - *seen : now;

	*seen = now;
	return d;
}

void jm_loss_fold_kernel(struct jm_loss *l, struct jm_loss_kernel *seen,
			 const uint64_t k[JM_STAT_MAX])
{
	/* Added, never assigned: user space increments map_full too (a
	 * jm_probes_track or a verdict refused because a map was full). */
	l->ringbuf_drops += growth(&seen->stat[JM_STAT_EVENTS_DROPPED], k[JM_STAT_EVENTS_DROPPED]);
	l->payload_drops += growth(&seen->stat[JM_STAT_PAYLOADS_DROPPED], k[JM_STAT_PAYLOADS_DROPPED]);
	l->map_full += growth(&seen->stat[JM_STAT_PROCS_FULL], k[JM_STAT_PROCS_FULL]);
	l->map_full += growth(&seen->stat[JM_STAT_CONNS_FULL], k[JM_STAT_CONNS_FULL]);
	l->payload_truncated += growth(&seen->stat[JM_STAT_PAYLOAD_TRUNC], k[JM_STAT_PAYLOAD_TRUNC]);
}
