#include "idmap.h"

#include <errno.h>
#include <stdlib.h>

static size_t slot(const struct jm_idmap *m, uint64_t key)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ull;
	return (size_t)((h ^ (h >> 29)) & (m->cap - 1));
}

int jm_idmap_init(struct jm_idmap *m, size_t cap)
{
	size_t c = 16;
	while (c < cap * 2)
		c *= 2;
	m->keys = calloc(c, sizeof(*m->keys));
	m->vals = calloc(c, sizeof(*m->vals));
	m->cap = c;
	m->len = 0;
	if (!m->keys || !m->vals) {
		jm_idmap_free(m);
		return -ENOMEM;
	}
	return 0;
}

void jm_idmap_free(struct jm_idmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->len = 0;
}

void *jm_idmap_get(const struct jm_idmap *m, uint64_t key)
{
	if (!key || !m->cap)
		return NULL;
	for (size_t i = slot(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key)
			return m->vals[i];
		if (!m->keys[i])
			return NULL;
	}
}

static int grow(struct jm_idmap *m)
{
	struct jm_idmap n;
	int err = jm_idmap_init(&n, m->cap);
	if (err)
		return err;
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i] && (err = jm_idmap_put(&n, m->keys[i], m->vals[i])))
			return err;
	jm_idmap_free(m);
	*m = n;
	return 0;
}

int jm_idmap_put(struct jm_idmap *m, uint64_t key, void *val)
{
	if (!key)
		return -EINVAL;
	if ((m->len + 1) * 2 > m->cap) {
		int err = grow(m);
		if (err)
			return err;
	}
	for (size_t i = slot(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key || !m->keys[i]) {
			if (!m->keys[i])
				m->len++;
			m->keys[i] = key;
			m->vals[i] = val;
			return 0;
		}
	}
}

void *jm_idmap_del(struct jm_idmap *m, uint64_t key)
{
	size_t i, j, k;
	void *val;

	if (!key || !m->cap)
		return NULL;
	for (i = slot(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (!m->keys[i])
			return NULL;
		if (m->keys[i] == key)
			break;
	}
	val = m->vals[i];
	/* Backward shift: pull later entries of the cluster into the hole. */
	for (j = i;;) {
		m->keys[i] = 0;
		m->vals[i] = NULL;
		for (;;) {
			j = (j + 1) & (m->cap - 1);
			if (!m->keys[j])
				goto done;
			k = slot(m, m->keys[j]);
			/* can entry j move to hole i? (k cyclically not in (i, j]) */
			if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			break;
		}
		m->keys[i] = m->keys[j];
		m->vals[i] = m->vals[j];
		i = j;
	}
done:
	m->len--;
	return val;
}
