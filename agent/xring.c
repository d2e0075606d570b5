#include "xring.h"

#include <string.h>

/* Room goes back to the producers at least this often during a long drain,
 * not after every record: each store of `cons` costs the producers a cache
 * miss on their next reserve. */
#define PUBLISH_EVERY (64u << 10)

/* Zero positions [from, to) of the ring, and the slack when the range
 * wraps (its last record of the lap may have run into it): the bytes of
 * records that were never read must not be left where later headers go
 * (xring.h).  A record still being written in the range may land after
 * this; its commit names a position the reader has passed, and never
 * matches again. */
static void zero_range(struct jm_xring *r, uint64_t from, uint64_t to)
{
	if (to - from >= JM_XRING_SIZE) {
		memset(r->data, 0, sizeof(r->data));
		return;
	}
	size_t off = from & (JM_XRING_SIZE - 1), n = to - from;
	if (off + n <= JM_XRING_SIZE) {        /* nothing reached the slack */
		memset(&r->data[off], 0, n);
		return;
	}
	memset(&r->data[off], 0, JM_XRING_SIZE + JM_XRING_SLACK - off);
	memset(r->data, 0, off + n - JM_XRING_SIZE);
}

int jm_xring_drain(struct jm_xring_reader *x, jm_xring_fn fn, void *ctx)
{
	struct jm_xring *r = x->ring;
	uint64_t cons = r->cons, published = cons;   /* only the reader writes it */
	int n = 0, ret = 0;

	for (;;) {
		struct jm_xring_rec *h = (void *)&r->data[cons & (JM_XRING_SIZE - 1)];
		/* acquire: the body is whole once the position is there */
		if (__atomic_load_n(&h->commit, __ATOMIC_ACQUIRE) != ~cons)
			break;
		uint32_t len = h->len;
		if (len < sizeof(*h) || len > JM_XRING_SLACK || len % JM_XRING_ALIGN) {
			/* Only a broken producer writes this, and nothing after it
			 * can be found: give up what is in the ring, counted, and
			 * zeroed like a read record would be. */
			uint64_t prod = __atomic_load_n(&r->prod, __ATOMIC_ACQUIRE);
			x->corrupt++;
			x->skipped += prod - cons;
			zero_range(r, cons, prod);
			cons = prod;
			break;
		}
		ret = fn(ctx, h + 1, len - sizeof(*h));
		/* Zeroed before the room goes back: a header is written where
		 * this body was, and its commit word must read "not yet" (xring.h). */
		memset(h, 0, len);
		cons += len;
		n++;
		if (ret < 0)
			break;
		if (cons - published >= PUBLISH_EVERY) {
			__atomic_store_n(&r->cons, cons, __ATOMIC_RELEASE);
			published = cons;
		}
	}
	/* release: the producers may write over what was read */
	if (cons != published)
		__atomic_store_n(&r->cons, cons, __ATOMIC_RELEASE);
	return ret < 0 ? ret : n;
}
