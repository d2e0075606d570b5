/* io ring reader (agent/xring.c) against the producer protocol of
 * bpf/xring.bpf.h, mirrored here in C: order, commit gating, a zeroed ring,
 * a stale header from an earlier lap, a forged commit word left by an
 * earlier record's body, a record running into the slack, zero padding, an
 * impossible length (the ring skipped and zeroed), a callback error, and two producer threads racing a
 * reader (every record read once, whole, in each producer's order, or
 * counted as dropped). */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "xring.h"

/* The producer, as bpf/xring.bpf.h does it. */
struct slot { struct jm_xring_rec *rec; uint64_t pos; };

static struct slot reserve(struct jm_xring *r, uint32_t size)
{
	struct slot s = { 0 };
	uint32_t len = (size + sizeof(struct jm_xring_rec) + JM_XRING_ALIGN - 1) & ~(JM_XRING_ALIGN - 1);
	uint64_t p = __atomic_load_n(&r->prod, __ATOMIC_RELAXED);
	for (int i = 0; i < 64; i++) {         /* JM_XR_TRIES */
		int64_t used = p - __atomic_load_n(&r->cons, __ATOMIC_ACQUIRE);
		if (used >= 0 && used + len > JM_XRING_SIZE)
			break;
		uint64_t seen = p;
		if (__atomic_compare_exchange_n(&r->prod, &seen, p + len, false,
						__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			s.rec = (void *)&r->data[p & (JM_XRING_SIZE - 1)];
			s.rec->len = len;
			s.pos = p;
			return s;
		}
		p = seen;
	}
	return s;
}

static void commit(struct slot *s)
{
	__atomic_store_n(&s->rec->commit, ~s->pos, __ATOMIC_RELEASE);
}

static bool put(struct jm_xring *r, const void *body, uint32_t size)
{
	struct slot s = reserve(r, size);
	if (!s.rec)
		return false;
	memcpy(s.rec + 1, body, size);
	commit(&s);
	return true;
}

struct seen {
	int n;
	char text[16][128];
	size_t len[16];
	bool pad_zero[16];            /* after the string: zeros only */
	int fail_at;                  /* return -5 on this record (1-based) */
};

static int collect(void *ctx, const void *data, size_t len)
{
	struct seen *s = ctx;
	if (s->n < 16) {
		size_t k = len < sizeof(s->text[0]) - 1 ? len : sizeof(s->text[0]) - 1;
		memcpy(s->text[s->n], data, k);
		s->text[s->n][k] = 0;
		s->pad_zero[s->n] = true;
		for (size_t i = strnlen(data, len); i < len; i++)
			if (((const char *)data)[i])
				s->pad_zero[s->n] = false;
		s->len[s->n] = len;
	}
	s->n++;
	return s->n == s->fail_at ? -5 : 0;
}

static struct jm_xring *new_ring(void)
{
	struct jm_xring *r = aligned_alloc(4096, sizeof(*r));
	if (r)
		memset(r, 0, sizeof(*r));
	return r;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_basics(void)
{
	struct jm_xring *r = new_ring();
	struct jm_xring_reader x = { .ring = r };
	struct seen s = { 0 };

	/* a zeroed ring holds nothing: position 0 is a real position */
	CHECK_INT("zeroed ring: nothing read", jm_xring_drain(&x, collect, &s), 0);
	CHECK_INT("zeroed ring: not corrupt", x.corrupt, 0);

	CHECK("put a", put(r, "alpha", 6));
	CHECK("put b", put(r, "bravo-bravo-bravo", 18));
	CHECK_INT("two records reserved", r->prod, 32 + 48);
	CHECK_INT("two records read", jm_xring_drain(&x, collect, &s), 2);
	CHECK_STR("first in order", s.text[0], "alpha");
	CHECK_STR("second in order", s.text[1], "bravo-bravo-bravo");
	CHECK_INT("length: body padded to 16", s.len[0], 16);
	CHECK_INT("length: 18 bytes in 32", s.len[1], 32);
	CHECK_INT("room given back", r->cons, r->prod);
	static const uint8_t zero[128];
	CHECK("read records zeroed", memcmp(r->data, zero, 32 + 48) == 0);

	/* a record reserved but not committed holds back those after it */
	memset(&s, 0, sizeof(s));
	CHECK("put c", put(r, "charlie", 8));
	struct slot d = reserve(r, 6);
	memcpy(d.rec + 1, "delta", 6);
	CHECK("put e", put(r, "echo", 5));
	CHECK_INT("stops at the uncommitted record", jm_xring_drain(&x, collect, &s), 1);
	CHECK_STR("the one before it", s.text[0], "charlie");
	commit(&d);
	CHECK_INT("the rest once committed", jm_xring_drain(&x, collect, &s), 2);
	CHECK_STR("then d", s.text[1], "delta");
	CHECK_STR("then e", s.text[2], "echo");
	free(r);
}

static void test_wrap(void)
{
	struct jm_xring *r = new_ring();
	struct jm_xring_reader x = { .ring = r };
	struct seen s = { 0 };
	char big[100];

	/* A lap done: the reader and producers are 32 bytes short of the end,
	 * and every header there is from lap 0. */
	uint64_t start = JM_XRING_SIZE - 32;
	r->prod = r->cons = start;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = 'a' + i % 26;
	big[sizeof(big) - 1] = 0;
	CHECK("put past the end", put(r, big, sizeof(big)));
	/* header and 16 body bytes before the end, the other 84 in the slack */
	CHECK("the rest of it is in the slack", memcmp(&r->data[JM_XRING_SIZE], big + 16, sizeof(big) - 16) == 0);
	CHECK("and not at the start", r->data[0] == 0);
	CHECK("put after the end", put(r, "next-lap", 9));
	CHECK_INT("both read", jm_xring_drain(&x, collect, &s), 2);
	CHECK_STR("whole across the end", s.text[0], big);
	CHECK_STR("then the next lap", s.text[1], "next-lap");
	CHECK_INT("position past the lap", r->cons, start + 128 + 32);

	/* The header at the next record's offset is from this lap's first
	 * records (position start + 128 is offset 96 of lap 1; lap 0 wrote
	 * nothing there, so write a stale lap-0 header by hand). */
	struct jm_xring_rec *h = (void *)&r->data[(start + 160) & (JM_XRING_SIZE - 1)];
	h->commit = ~(start + 160 - JM_XRING_SIZE);
	h->len = 32;
	CHECK_INT("a header from an earlier lap is not read", jm_xring_drain(&x, collect, &s), 0);
	h->commit = 0;
	h->len = 0;

	/* A broken record across the end: what it and the record after it
	 * left in the slack and at the start is zeroed when they are skipped. */
	x.corrupt = x.skipped = 0;
	start = 2 * JM_XRING_SIZE - 48;
	r->prod = r->cons = start;
	struct slot bad = reserve(r, 100);
	memset(bad.rec + 1, 'x', 100);
	CHECK("put after the broken one", put(r, big, sizeof(big)));
	bad.rec->len = 7;
	commit(&bad);
	CHECK_INT("nothing read", jm_xring_drain(&x, collect, &s), 0);
	CHECK_INT("corrupt across the end counted", x.corrupt, 1);
	CHECK_INT("its bytes skipped", x.skipped, 128 + 128);
	CHECK("the end zeroed", all_zero(&r->data[JM_XRING_SIZE - 48], 48));
	CHECK("the slack zeroed", all_zero(&r->data[JM_XRING_SIZE], JM_XRING_SLACK));
	CHECK("the start zeroed", all_zero(r->data, 128 + 128 - 48));
	free(r);
}

/* A job's payload is its own bytes: a body may hold, at a 16-byte step,
 * the inverted position a header will have there a lap later.  The reader
 * zeroes what it read, so that word is gone before the lap comes round. */
static void test_forged(void)
{
	struct jm_xring *r = new_ring();
	struct jm_xring_reader x = { .ring = r };
	struct seen s = { 0 };
	uint64_t body[8] = { 0 };

	/* a 64-byte body at position 0: body word 2 is at offset 32 */
	body[2] = ~(uint64_t)(JM_XRING_SIZE + 32);
	body[3] = 48;                 /* a plausible length after it */
	CHECK("put the forging record", put(r, body, sizeof(body)));
	CHECK_INT("read", jm_xring_drain(&x, collect, &s), 1);
	/* a lap later the reader waits at position SIZE + 32 */
	r->prod = r->cons = JM_XRING_SIZE + 32;
	CHECK_INT("the forged commit is not taken", jm_xring_drain(&x, collect, &s), 0);
	CHECK_INT("nor seen as corrupt", x.corrupt, 0);

	/* padding: a 5-byte body over bytes the forging record left */
	r->prod = r->cons = 16;
	CHECK("put 5 bytes", put(r, "abcd", 5));
	CHECK_INT("read", jm_xring_drain(&x, collect, &s), 1);
	CHECK_INT("a 16-byte body", s.len[1], 16);
	CHECK_STR("the body", s.text[1], "abcd");
	CHECK("its padding is zero, not the old body's bytes", s.pad_zero[1]);
	free(r);
}

static void test_errors(void)
{
	struct jm_xring *r = new_ring();
	struct jm_xring_reader x = { .ring = r };
	struct seen s = { .fail_at = 2 };

	CHECK("put 1", put(r, "one", 4));
	CHECK("put 2", put(r, "two", 4));
	CHECK("put 3", put(r, "three", 6));
	CHECK_INT("callback error returned", jm_xring_drain(&x, collect, &s), -5);
	CHECK_INT("the failing record counts as read", r->cons, 64);
	s.fail_at = 0;
	CHECK_INT("the rest on the next drain", jm_xring_drain(&x, collect, &s), 1);
	CHECK_STR("three", s.text[2], "three");

	/* an impossible length: the ring is given up to prod, counted */
	struct slot bad = reserve(r, 40);
	CHECK("put after the bad one", put(r, "lost", 5));
	bad.rec->len = 7;
	commit(&bad);
	CHECK_INT("nothing read past it", jm_xring_drain(&x, collect, &s), 0);
	CHECK_INT("corrupt counted", x.corrupt, 1);
	CHECK_INT("bytes skipped counted", x.skipped, 64 + 32);
	CHECK_INT("reader moved to prod", r->cons, r->prod);
	CHECK("skipped bytes zeroed", all_zero(&r->data[64], 64 + 32));
	CHECK("a record after that is read", put(r, "after", 6));
	CHECK_INT("read", jm_xring_drain(&x, collect, &s), 1);
	CHECK_STR("after", s.text[3], "after");

	/* full: a producer gets no room and the reader loses nothing */
	r->prod = r->cons = 0;
	x.corrupt = 0;
	memset(r->data, 0, JM_XRING_SIZE);
	static char fill[4000];
	int n = 0;
	while (put(r, fill, sizeof(fill)))
		n++;
	CHECK_INT("full after size/len records", n, JM_XRING_SIZE / 4016 + 0);
	CHECK_INT("each drained once", jm_xring_drain(&x, collect, &s), n);
	CHECK_INT("no corrupt", x.corrupt, 0);
	free(r);
}

/* Two producers racing one reader. */
#define RACE_N 300000
struct race {
	struct jm_xring *r;
	int id;
	uint64_t dropped, straddled;
	volatile int *done;
};

struct rec_body { uint32_t producer, seq; char pad[40]; };

static void *producer(void *arg)
{
	struct race *a = arg;
	for (uint32_t i = 0; i < RACE_N; i++) {
		/* sizes vary so records straddle the end now and then */
		struct rec_body b = { .producer = a->id, .seq = i };
		uint32_t size = 8 + (i % 5) * 8;
		struct slot s = reserve(a->r, size);
		if (!s.rec) {
			a->dropped++;
			continue;
		}
		if ((s.pos & (JM_XRING_SIZE - 1)) + s.rec->len > JM_XRING_SIZE)
			a->straddled++;
		memcpy(s.rec + 1, &b, size);
		commit(&s);
	}
	__atomic_add_fetch(a->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

struct order { int64_t next[2]; uint64_t read, out_of_order, bad; };

static size_t body_len(uint32_t seq)
{
	uint32_t size = 8 + (seq % 5) * 8;
	return ((size + 16 + 15) & ~15u) - 16;
}

static int check_order(void *ctx, const void *data, size_t len)
{
	struct order *o = ctx;
	const struct rec_body *b = data;
	o->read++;
	if (b->producer > 1 || len != body_len(b->seq)) {
		o->bad++;
		return 0;
	}
	if ((int64_t)b->seq < o->next[b->producer])
		o->out_of_order++;
	o->next[b->producer] = (int64_t)b->seq + 1;
	return 0;
}

static void test_race(void)
{
	struct jm_xring *r = new_ring();
	struct jm_xring_reader x = { .ring = r };
	volatile int done = 0;
	struct race a[2] = { { r, 0, 0, 0, &done }, { r, 1, 0, 0, &done } };
	struct order o = { { 0, 0 }, 0, 0, 0 };
	pthread_t t[2];

	/* 16 bytes before the end: the first record (32 bytes or more) runs
	 * into the slack, and ~24 MB go through the 8 MiB ring */
	r->prod = r->cons = JM_XRING_SIZE - 16;
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, producer, &a[i]);
	while (__atomic_load_n(&done, __ATOMIC_SEQ_CST) < 2)
		(void)jm_xring_drain(&x, check_order, &o);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	(void)jm_xring_drain(&x, check_order, &o);
	CHECK_INT("race: read + dropped = written", o.read + a[0].dropped + a[1].dropped, 2 * RACE_N);
	CHECK_INT("race: each producer's order kept", o.out_of_order, 0);
	CHECK_INT("race: every record whole (producer, length)", o.bad, 0);
	CHECK_INT("race: no corrupt length", x.corrupt, 0);
	CHECK("race: records ran into the slack", a[0].straddled + a[1].straddled > 0);
	CHECK_INT("race: nothing left", r->prod - r->cons, 0);
	free(r);
}

int main(void)
{
	test_basics();
	test_wrap();
	test_forged();
	test_errors();
	test_race();
	TEST_EXIT();
}
