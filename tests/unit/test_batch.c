/* Batch builder (agent/batch.c): records are deep-copied, and a copy that
 * runs out of memory leaves nothing allocated and frees nothing of the
 * caller's.  calloc and malloc are interposed to fail on demand, free to
 * count what is freed. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "harness.h"

extern void *__libc_calloc(size_t, size_t);
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);

static int fail_next;                 /* fail the n-th allocation from now (1 = next) */
static const void *watched[4];        /* the caller's arrays */
static int watched_freed;

static bool fail_now(void)
{
	return fail_next && --fail_next == 0;
}

void *calloc(size_t n, size_t s)
{
	return fail_now() ? NULL : __libc_calloc(n, s);
}

void *malloc(size_t s)
{
	return fail_now() ? NULL : __libc_malloc(s);
}

void free(void *p)
{
	for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++)
		if (p && p == watched[i])
			watched_freed++;
	__libc_free(p);
}

int main(void)
{
	static struct jm_db_stats db[2];
	static struct jm_stmt_stats st[3];
	struct jm_output_write *outs = __libc_calloc(2, sizeof(*outs));
	struct jm_run_record r = { .n_db = 2, .db = db, .n_outputs = 2, .outputs = outs };
	struct jm_window_record w = { .n_db = 2, .db = db, .n_outputs = 2, .outputs = outs };
	struct jm_batch_builder bb;

	strcpy(r.job, "j");
	strcpy(w.job, "j");
	strcpy(outs[1].name, "warehouse.fact");
	db[0].n_statements = 3;
	db[0].statements = st;
	db[1].queries = 7;
	watched[0] = outs;
	watched[1] = db;
	watched[2] = st;
	jm_batch_builder_init(&bb);

	CHECK_INT("run copied", jm_batch_builder_add_run(&bb, &r), 0);
	CHECK("a copy, not the caller's arrays", bb.runs[0].outputs != outs && bb.runs[0].db != db &&
	      bb.runs[0].db[0].statements != st);
	CHECK_STR("outputs copied", bb.runs[0].outputs[1].name, "warehouse.fact");
	CHECK_INT("db copied", bb.runs[0].db[1].queries, 7);

	/* each allocation of the deep copy in turn: db array, statements, outputs */
	for (int n = 1; n <= 3; n++) {
		char name[64];
		fail_next = n;
		snprintf(name, sizeof(name), "run: allocation %d fails", n);
		CHECK_INT(name, jm_batch_builder_add_run(&bb, &r), -ENOMEM);
		snprintf(name, sizeof(name), "window: allocation %d fails", n);
		fail_next = n;
		CHECK_INT(name, jm_batch_builder_add_window(&bb, &w), -ENOMEM);
	}
	fail_next = 0;
	CHECK_INT("nothing of the caller's freed", watched_freed, 0);
	CHECK_INT("failed records not added", bb.n_runs + bb.n_windows, 1);
	CHECK_STR("caller's outputs intact", outs[1].name, "warehouse.fact");
	CHECK_INT("a window after that", jm_batch_builder_add_window(&bb, &w), 0);
	jm_batch_builder_free(&bb);
	CHECK_INT("builder frees its copies only", watched_freed, 0);
	__libc_free(outs);
	TEST_EXIT();
}
