/* A reused sequence number is not a retry.  The collector's idempotency key
 * is (agent_id, boot_id, seq); an agent whose spool_dir changed or whose seq
 * file was deleted starts again at seq 1 on the same boot.  Answering
 * "duplicate" (200) made the agent delete a batch that was never stored.
 * The store now compares the stored batch's window with the new one: the
 * same window is a true retry (DUPLICATE), another is JM_STORE_CONFLICT
 * (409), nothing written either way, alone or inside a group. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "store_fixture.h"
#include "jobmeter.pb-c.h"
#include "tools/collector/store.h"

#define SEC INT64_C(1000000000)
#define T0  INT64_C(1764000000000000000)

struct one {
	Jobmeter__V1__Batch b;
	Jobmeter__V1__AgentIdentity a;
	Jobmeter__V1__JobRun r, *rp;
	char run_id[32];
};

static void make(struct one *o, uint64_t seq, int64_t start, const char *run_id)
{
	jobmeter__v1__batch__init(&o->b);
	jobmeter__v1__agent_identity__init(&o->a);
	jobmeter__v1__job_run__init(&o->r);
	snprintf(o->run_id, sizeof(o->run_id), "%s", run_id);
	o->a.agent_id = "agent";
	o->a.boot_id = "boot";
	o->a.host = "h";
	o->r.job = "etl";
	o->r.run_id = o->run_id;
	o->r.start_unix_ns = start;
	o->r.end_unix_ns = start + SEC;
	o->r.outcome = JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS;
	o->rp = &o->r;
	o->b.schema_version = 1;
	o->b.agent = &o->a;
	o->b.seq = seq;
	o->b.window_start_unix_ns = start;
	o->b.window_end_unix_ns = start + 10 * SEC;
	o->b.n_runs = 1;
	o->b.runs = &o->rp;
}

static long long count(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	long long n = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	return n;
}

int main(void)
{
	struct fx_db d;
	struct jm_coll_store *st;
	struct jm_coll_store_result res;
	struct one first, retry, reused, g1, g2, g3;

	if (!(st = fx_db_open(&d, "conflict")))
		return 1;
	const char *path = d.path;
	make(&first, 1, T0, "a");
	make(&retry, 1, T0, "a");
	make(&reused, 1, T0 + 3600 * SEC, "b");   /* a new spool, an hour later, seq 1 again */

	CHECK_INT("first batch stored", jm_coll_store_batch(st, &first.b, 1, &res), JM_STORE_STORED);
	CHECK_INT("the same batch again: duplicate", jm_coll_store_batch(st, &retry.b, 2, &res), JM_STORE_DUPLICATE);
	CHECK_INT("seq reused by another batch: conflict", jm_coll_store_batch(st, &reused.b, 3, &res),
		  JM_STORE_CONFLICT);
	CHECK("conflict: the reason names the seq", strstr(res.err, "seq 1") != NULL);
	CHECK_INT("conflict: no seq gap reported", res.seq_gap, 0);
	CHECK_INT("conflict: the highest stored seq reported", res.stored_max_seq, 1);

	/* inside one group: a conflict and a duplicate beside a new batch */
	{
		struct jm_coll_store_item it[3];

		make(&g1, 2, T0 + 10 * SEC, "c");
		make(&g2, 2, T0 + 7200 * SEC, "d");     /* reuses seq 2 of the same group */
		make(&g3, 1, T0, "a");                  /* a true retry of seq 1 */
		memset(it, 0, sizeof(it));
		it[0].batch = &g1.b;
		it[1].batch = &g2.b;
		it[2].batch = &g3.b;
		it[0].received_ns = it[1].received_ns = it[2].received_ns = 4;
		CHECK_INT("group committed", jm_coll_store_batches(st, it, 3), 0);
		CHECK_INT("group: new batch stored", it[0].res.rc, JM_STORE_STORED);
		CHECK_INT("group: reused seq is a conflict", it[1].res.rc, JM_STORE_CONFLICT);
		CHECK_INT("group: conflict reports the max stored so far, this group included",
			  it[1].res.stored_max_seq, 2);
		CHECK_INT("group: retry is a duplicate", it[2].res.rc, JM_STORE_DUPLICATE);
	}
	jm_coll_store_close(st);
	CHECK_INT("two batches stored", count(path, "SELECT count(*) FROM batches"), 2);
	CHECK_INT("conflicting runs not stored", count(path, "SELECT count(*) FROM runs WHERE run_id IN ('b','d')"), 0);
	CHECK_INT("stored runs once each", count(path, "SELECT count(*) FROM runs"), 2);
	fx_db_remove(&d);
	TEST_EXIT();
}
