/* Open-addressing hash map from a non-zero uint64 id (a tgid, tgid<<32|fd,
 * or a socket cookie) to a pointer.
 * Linear probing with backward-shift deletion: no tombstones, so a busy exec
 * storm does not degrade it. */
#ifndef JM_IDMAP_H
#define JM_IDMAP_H
#include <stddef.h>
#include <stdint.h>

struct jm_idmap {
	uint64_t *keys;               /* 0 = empty */
	void **vals;
	size_t cap, len;              /* cap is a power of two */
};

int jm_idmap_init(struct jm_idmap *m, size_t cap) __attribute__((warn_unused_result));
void jm_idmap_free(struct jm_idmap *m);
void *jm_idmap_get(const struct jm_idmap *m, uint64_t key);
int jm_idmap_put(struct jm_idmap *m, uint64_t key, void *val) __attribute__((warn_unused_result));
void *jm_idmap_del(struct jm_idmap *m, uint64_t key);
/* Iterate: for (size_t i = 0; i < m->cap; i++) if (m->keys[i]) ... m->vals[i] */
#endif
