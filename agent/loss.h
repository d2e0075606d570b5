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
#include <stddef.h>
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

/* The cumulative loss kept across agent restarts (<state_dir>/loss), so the
 * counters a batch carries stay cumulative for the boot, as the collector
 * reads them: reset by a restart, they would hide the loss before it (the
 * collector sees a restart only when a counter goes down).  The text is
 * "boot_id ID" and one "field value" line per counter.  A new boot starts
 * from zero, as the collector does.
 * jm_loss_format: the text into buf; its length, or -ENOSPC.
 * jm_loss_parse: 0 and *out; -ESTALE for another boot; -EINVAL if
 * malformed (a field missing or twice, a bad number or one above
 * INT64_MAX, no final newline). */
/* a += b, field by field. */
void jm_loss_add(struct jm_loss *a, const struct jm_loss *b);
int jm_loss_format(const struct jm_loss *l, const char *boot_id, char *buf, size_t cap)
	__attribute__((warn_unused_result));
int jm_loss_parse(const char *text, const char *boot_id, struct jm_loss *out)
	__attribute__((warn_unused_result));
#endif
