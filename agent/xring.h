/* Reader of the io ring (bpf/xring.h): records in position order, each one
 * only once its producer committed it.  Pure over the ring's memory: the
 * agent passes the mmap of the BPF map, the unit test a buffer. */
#ifndef JM_XRING_H
#define JM_XRING_H
#include <stddef.h>
#include <stdint.h>

#include "bpf/xring.h"

/* fn gets a record's body (the ring's header stripped; the length may
 * include up to 15 bytes of zero padding), valid during the call only. */
typedef int (*jm_xring_fn)(void *ctx, const void *data, size_t len);

struct jm_xring_reader {
	struct jm_xring *ring;
	uint64_t corrupt;             /* impossible record lengths seen */
	uint64_t skipped;             /* bytes skipped after one (lost) */
};

/* Hand every committed record to fn, in order, zero it and give its room
 * back to the producers.  Stops at the first record not yet committed, or
 * when fn returns < 0 (that record counts as read).  Returns the number of
 * records read, or fn's negative return.  Not reentrant: fn must not drain
 * the same ring. */
int jm_xring_drain(struct jm_xring_reader *x, jm_xring_fn fn, void *ctx);

#endif
