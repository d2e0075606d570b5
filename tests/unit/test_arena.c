/* Arena: zeroed and aligned memory, chunks larger than the minimum for big
 * requests, refused sizes and overflowing counts, sticky failure, reuse
 * after free, and the UTF-8-repairing string copy. */
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "harness.h"

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int main(void)
{
	struct jm_arena a = { .chunk_min = 256 };

	unsigned char *p1 = jm_arena_alloc(&a, 3);
	unsigned char *p2 = jm_arena_alloc(&a, 40);
	CHECK("alloc small", p1 && p2);
	CHECK("aligned 1", p1 && (uintptr_t)p1 % alignof(max_align_t) == 0);
	CHECK("aligned 2", p2 && (uintptr_t)p2 % alignof(max_align_t) == 0);
	CHECK("distinct", p1 && p2 && (p2 >= p1 + 3 || p1 >= p2 + 40));
	CHECK("zeroed", p2 && all_zero(p2, 40));
	if (p1 && p2) {
		memset(p1, 0xAA, 3);
		memset(p2, 0xBB, 40);
		CHECK("no overlap", p1[2] == 0xAA && p2[0] == 0xBB);
	}

	/* bigger than the chunk minimum: a chunk of its own, still usable */
	unsigned char *big = jm_arena_alloc(&a, 10000);
	CHECK("big alloc", big != NULL);
	CHECK("big zeroed", big && all_zero(big, 10000));
	if (big)
		memset(big, 1, 10000);
	/* many small ones cross chunk boundaries */
	int ok = 1;
	for (int i = 0; i < 1000 && ok; i++) {
		unsigned char *q = jm_arena_alloc(&a, 17);
		ok = q && all_zero(q, 17);
		if (q)
			memset(q, 0xCC, 17);
	}
	CHECK("many small allocations zeroed", ok);
	CHECK("no failure so far", !a.oom);

	uint64_t *v = jm_arena_alloc_n(&a, 100, sizeof(*v));
	CHECK("alloc_n", v && all_zero((unsigned char *)v, 100 * sizeof(*v)));

	char *s = jm_arena_utf8(&a, "ok\xFF\xC3\xA9!", 6);
	CHECK_STR("utf8 copy repaired", s, "ok?\xC3\xA9!");
	s = jm_arena_utf8(&a, "abcdef", 3);
	CHECK_STR("utf8 copy stops at n", s, "abc");
	s = jm_arena_utf8(&a, "", 0);
	CHECK_STR("utf8 copy empty", s, "");

	jm_arena_free(&a);
	CHECK("free empties", a.head == NULL && !a.oom);

	/* refused sizes set the sticky flag: later small requests fail too */
	CHECK("huge size refused", jm_arena_alloc(&a, SIZE_MAX - 8) == NULL);
	CHECK("oom set", a.oom);
	CHECK("sticky", jm_arena_alloc(&a, 8) == NULL);
	jm_arena_free(&a);
	CHECK("usable after free", jm_arena_alloc(&a, 8) != NULL);
	CHECK("wrapping count refused", jm_arena_alloc_n(&a, SIZE_MAX / 2, 4) == NULL);
	CHECK("oom after wrapping count", a.oom);
	jm_arena_free(&a);

	/* chunk_min 0 means the default */
	struct jm_arena d = { 0 };
	CHECK("default chunk", jm_arena_alloc(&d, 1) != NULL && jm_arena_alloc(&d, JM_ARENA_CHUNK_MIN) != NULL);
	jm_arena_free(&d);
	TEST_EXIT();
}
