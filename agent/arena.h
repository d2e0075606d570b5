/* Bump allocator for the message trees protobuf-c packs (the jobmeter.v1
 * Batch and the OTLP export request).  protobuf-c wants a tree of message
 * structs; building it in an arena that lives for one encode call leaves
 * exactly one thing to free however deep the tree is and wherever the
 * encoder bails out.
 *
 *   struct jm_arena a = { .chunk_min = 16 * 1024 };   (0: JM_ARENA_CHUNK_MIN)
 *   m = jm_arena_alloc(&a, sizeof(*m));  ...  jm_arena_free(&a);
 *
 * Memory is zeroed and aligned for any type.  Failure is sticky: after one
 * allocation fails, every later one returns NULL and `oom` stays set, so a
 * builder may check once before packing instead of after every call. */
#ifndef JM_ARENA_H
#define JM_ARENA_H
#include <stdbool.h>
#include <stddef.h>

#define JM_ARENA_CHUNK_MIN (16 * 1024)

struct jm_arena_chunk;

struct jm_arena {
	struct jm_arena_chunk *head;
	size_t chunk_min;      /* smallest chunk malloc'd; 0 = JM_ARENA_CHUNK_MIN */
	bool oom;              /* sticky: an allocation failed */
};

/* size zeroed bytes, or NULL (out of memory, or size beyond SIZE_MAX / 4). */
void *jm_arena_alloc(struct jm_arena *a, size_t size);
/* n elements of size each, refusing a multiplication that would wrap. */
void *jm_arena_alloc_n(struct jm_arena *a, size_t n, size_t size);
/* An arena copy of src[0..n) plus a NUL, each byte that starts no
 * well-formed UTF-8 sequence replaced by '?' (utf8.h): protobuf `string`
 * fields must be UTF-8 or strict decoders drop the whole message. */
char *jm_arena_utf8(struct jm_arena *a, const char *src, size_t n);
/* Release every chunk; the arena is empty (and usable) again. */
void jm_arena_free(struct jm_arena *a);
#endif
