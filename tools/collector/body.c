/* Bounded body sink: see body.h. */
#include "tools/collector/body.h"

#include <stdlib.h>
#include <string.h>

/* Output grows by doubling from this size: most batches are a few KiB, a
 * bigger start would waste memory per connection. */
#define BODY_INITIAL_CAP 16384u

static enum jm_coll_body_rc body_fail(struct jm_coll_body *b, enum jm_coll_body_rc rc)
{
	if (b->err == JM_BODY_OK)
		b->err = rc;
	return b->err;
}

static bool budget_take(struct jm_coll_body_budget *bb, size_t n)
{
	size_t cur = __atomic_load_n(&bb->used, __ATOMIC_ACQUIRE);

	do {
		if (n > bb->max || cur > bb->max - n)
			return false;
	} while (!__atomic_compare_exchange_n(&bb->used, &cur, cur + n, false,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	return true;
}

static void budget_give(struct jm_coll_body_budget *bb, size_t n)
{
	if (bb && n)
		__atomic_sub_fetch(&bb->used, n, __ATOMIC_ACQ_REL);
}

void jm_coll_body_set_budget(struct jm_coll_body *b, struct jm_coll_body_budget *budget)
{
	b->budget = budget;
}

/* Grow the output buffer so that at least one more byte fits.  The buffer
 * may hold max_out + 1 bytes: the extra byte is how a stream that would
 * exceed the limit is told apart from one that ends exactly at it. */
static enum jm_coll_body_rc body_grow(struct jm_coll_body *b, size_t need)
{
	size_t ceiling = b->max_out + 1, cap;
	uint8_t *nb;

	if (need <= b->cap)
		return JM_BODY_OK;
	if (need > ceiling)
		return JM_BODY_INFLATED_TOO_LARGE;
	cap = b->cap ? b->cap : BODY_INITIAL_CAP;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > ceiling)
		cap = ceiling;
	/* Reserve before allocating, so the shared figure is never
	 * exceeded, not even for a moment. */
	if (b->budget && !budget_take(b->budget, cap - b->cap))
		return JM_BODY_BUSY;
	nb = realloc(b->buf, cap);
	if (!nb) {
		budget_give(b->budget, cap - b->cap);
		return JM_BODY_NOMEM;
	}
	b->buf = nb;
	b->cap = cap;
	return JM_BODY_OK;
}

enum jm_coll_body_rc jm_coll_body_init(struct jm_coll_body *b, bool gzip,
				       size_t max_in, size_t max_out)
{
	memset(b, 0, sizeof(*b));
	b->gzip = gzip;
	b->max_in = max_in;
	b->max_out = max_out;
	if (gzip) {
		/* 16 + MAX_WBITS: gzip wrapper only; a zlib or raw deflate
		 * stream labelled gzip is a client bug worth a 400. */
		if (inflateInit2(&b->zs, 16 + MAX_WBITS) != Z_OK)
			return body_fail(b, JM_BODY_NOMEM);
		b->z_ready = true;
	}
	return JM_BODY_OK;
}

/* Run inflate over whatever input is pending until it is all consumed and
 * inflate is not held back by output space.  Output is checked against the
 * limit after every step, so a bomb stops within one buffer doubling. */
static enum jm_coll_body_rc body_pump(struct jm_coll_body *b)
{
	enum jm_coll_body_rc rc;
	size_t room;
	int zrc;

	for (;;) {
		if (b->len == b->cap) {
			rc = body_grow(b, b->len + 1);
			if (rc != JM_BODY_OK)
				return body_fail(b, rc);
		}
		room = b->cap - b->len;
		if (room > (1u << 30))
			room = 1u << 30;
		b->zs.next_out = b->buf + b->len;
		b->zs.avail_out = (uInt)room;
		zrc = inflate(&b->zs, Z_NO_FLUSH);
		b->len += room - b->zs.avail_out;
		if (b->len > b->max_out)
			return body_fail(b, JM_BODY_INFLATED_TOO_LARGE);
		if (zrc == Z_STREAM_END) {
			b->z_done = true;
			/* Bytes after the gzip trailer: a second member or
			 * junk.  Agents send one member; refuse ambiguity. */
			return b->zs.avail_in ? body_fail(b, JM_BODY_BAD_GZIP) : JM_BODY_OK;
		}
		if (zrc == Z_MEM_ERROR)
			return body_fail(b, JM_BODY_NOMEM);
		if (zrc != Z_OK && zrc != Z_BUF_ERROR)
			return body_fail(b, JM_BODY_BAD_GZIP);
		/* Output space left over means inflate wanted input, not room. */
		if (b->zs.avail_in == 0 && b->zs.avail_out != 0)
			return JM_BODY_OK;
		if (zrc == Z_BUF_ERROR && b->zs.avail_out != 0)
			return JM_BODY_OK;
	}
}

static enum jm_coll_body_rc body_inflate(struct jm_coll_body *b, const uint8_t *data, size_t n)
{
	enum jm_coll_body_rc rc;

	if (b->z_done)
		return n ? body_fail(b, JM_BODY_BAD_GZIP) : JM_BODY_OK;
	while (n > 0) {
		/* avail_in is a 32-bit uInt: feed large pieces in slices. */
		size_t slice = n > (1u << 30) ? (1u << 30) : n;

		b->zs.next_in = (Bytef *)data;
		b->zs.avail_in = (uInt)slice;
		rc = body_pump(b);
		if (rc != JM_BODY_OK)
			return rc;
		data += slice;
		n -= slice;
		if (b->z_done && n > 0)
			return body_fail(b, JM_BODY_BAD_GZIP);
	}
	return JM_BODY_OK;
}

enum jm_coll_body_rc jm_coll_body_feed(struct jm_coll_body *b, const void *data, size_t n)
{
	enum jm_coll_body_rc rc;

	if (b->err != JM_BODY_OK)
		return b->err;
	if (n > b->max_in - b->received)
		return body_fail(b, JM_BODY_TOO_LARGE);
	b->received += n;
	if (b->gzip)
		return body_inflate(b, data, n);
	if (n > b->max_out - b->len)
		return body_fail(b, JM_BODY_INFLATED_TOO_LARGE);
	rc = body_grow(b, b->len + n);
	if (rc != JM_BODY_OK)
		return body_fail(b, rc);
	if (n)
		memcpy(b->buf + b->len, data, n);
	b->len += n;
	return JM_BODY_OK;
}

enum jm_coll_body_rc jm_coll_body_finish(struct jm_coll_body *b)
{
	if (b->err != JM_BODY_OK)
		return b->err;
	if (b->gzip && !b->z_done) {
		/* inflate may still hold output it had no room for. */
		b->zs.next_in = NULL;
		b->zs.avail_in = 0;
		if (body_pump(b) != JM_BODY_OK)
			return b->err;
		if (!b->z_done)
			return body_fail(b, JM_BODY_BAD_GZIP);   /* truncated */
	}
	return JM_BODY_OK;
}

void jm_coll_body_free(struct jm_coll_body *b)
{
	if (b->z_ready)
		inflateEnd(&b->zs);
	budget_give(b->budget, b->cap);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

const char *jm_coll_body_strerror(enum jm_coll_body_rc rc)
{
	switch (rc) {
	case JM_BODY_OK: return "ok";
	case JM_BODY_TOO_LARGE: return "body too large";
	case JM_BODY_INFLATED_TOO_LARGE: return "decompressed body too large";
	case JM_BODY_BAD_GZIP: return "invalid gzip";
	case JM_BODY_NOMEM: return "out of memory";
	case JM_BODY_BUSY: return "busy receiving other batches";
	}
	return "unknown";
}
