/* Folding the kernel's loss counters into the agent's cumulative loss.
 * Two writers feed one struct jm_loss: user space increments some fields in
 * place (a jm_probes_track or verdict that failed because a map was full,
 * parse errors, ...), and the kernel keeps its own cumulative counters
 * (bpf/process.h JM_STAT_*) that the agent reads every window.  The kernel's
 * are added as their growth since the last reading, so a field both sides
 * count (map_full) reports the sum and neither wipes the other.
 * Pure: no I/O, no allocation. */
#ifndef JM_LOSS_H
#define JM_LOSS_H
#include <stdint.h>

#include "bpf/process.h"
#include "model.h"

/* The kernel's counters as of the last fold.  Zero-initialise. */
struct jm_loss_kernel {
	uint64_t stat[JM_STAT_MAX];
};

/* Add to l what the kernel counted since seen, then remember k in seen.
 * A counter that went backwards (maps reloaded) restarts from its new value. */
void jm_loss_fold_kernel(struct jm_loss *l, struct jm_loss_kernel *seen,
			 const uint64_t k[JM_STAT_MAX]);
#endif
