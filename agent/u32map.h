/* Open-addressing hash map from a non-zero uint32 key (a tgid) to a pointer.
 * Linear probing with backward-shift deletion: no tombstones, so a busy exec
 * storm does not degrade it. */
#ifndef JM_U32MAP_H
#define JM_U32MAP_H
#include <stddef.h>
#include <stdint.h>

struct jm_u32map {
	uint32_t *keys;               /* 0 = empty */
	void **vals;
	size_t cap, len;              /* cap is a power of two */
};

int jm_u32map_init(struct jm_u32map *m, size_t cap) __attribute__((warn_unused_result));
void jm_u32map_free(struct jm_u32map *m);
void *jm_u32map_get(const struct jm_u32map *m, uint32_t key);
int jm_u32map_put(struct jm_u32map *m, uint32_t key, void *val) __attribute__((warn_unused_result));
void *jm_u32map_del(struct jm_u32map *m, uint32_t key);
/* Iterate: for (size_t i = 0; i < m->cap; i++) if (m->keys[i]) ... m->vals[i] */
#endif
