/* A collector database of its own for a unit test: a temporary directory
 * with a store opened in it, removed at the end. */
#ifndef JM_TEST_STORE_FIXTURE_H
#define JM_TEST_STORE_FIXTURE_H
#include <stdio.h>
#include <stdlib.h>

#include "tools/collector/store.h"

struct fx_db {
	char dir[64];
	char path[96];                 /* the database file */
};

/* The store, or NULL after printing why (a FAIL line). */
static inline struct jm_coll_store *fx_db_open(struct fx_db *d, const char *tag)
{
	struct jm_coll_store *st;
	struct jm_coll_store_open_info info;
	char err[256];

	snprintf(d->dir, sizeof(d->dir), "/tmp/jm-%s.XXXXXX", tag);
	if (!mkdtemp(d->dir)) {
		printf("FAIL mkdtemp %s\n", d->dir);
		return NULL;
	}
	snprintf(d->path, sizeof(d->path), "%s/c.db", d->dir);
	if (jm_coll_store_open(d->path, &st, &info, err, sizeof(err))) {
		printf("FAIL open %s: %s\n", d->path, err);
		return NULL;
	}
	return st;
}

static inline void fx_db_remove(const struct fx_db *d)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", d->dir);
}
#endif
