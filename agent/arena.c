/* Bump allocator.  See arena.h. */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

struct jm_arena_chunk {
	struct jm_arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

void *jm_arena_alloc(struct jm_arena *a, size_t size)
{
	const size_t align = alignof(max_align_t);
	/* A quarter of the address space is no tree we build; refusing it
	 * also keeps the rounding and the chunk header from wrapping. */
	if (a->oom || size > SIZE_MAX / 4) {
		a->oom = true;
		return NULL;
	}
	size = (size + align - 1) & ~(align - 1);
	struct jm_arena_chunk *c = a->head;
	if (!c || c->cap - c->used < size) {
		size_t min = a->chunk_min ? a->chunk_min : JM_ARENA_CHUNK_MIN;
		size_t cap = size > min ? size : min;
		c = malloc(sizeof(*c) + cap);
		if (!c) {
			a->oom = true;
			return NULL;
		}
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
	}
	void *p = (char *)c->data + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

void *jm_arena_alloc_n(struct jm_arena *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / 4 / size) {
		a->oom = true;
		return NULL;
	}
	return jm_arena_alloc(a, n * size);
}

char *jm_arena_utf8(struct jm_arena *a, const char *src, size_t n)
{
	char *dst = n < SIZE_MAX / 4 ? jm_arena_alloc(a, n + 1) : NULL;
	if (!dst) {
		a->oom = true;
		return NULL;
	}
	jm_utf8_sanitize(dst, src, n);
	return dst;
}

void jm_arena_free(struct jm_arena *a)
{
	struct jm_arena_chunk *c = a->head;
	while (c) {
		struct jm_arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
	a->oom = false;
}
