/* Counters near the top of what ingest accepts (<= INT64_MAX each) must not
 * break the report: SQLite's sum() raises "integer overflow" once two such
 * rows are added, and a C sum of uint64_t wraps.  The report sums with
 * total() (exact while a sum stays below 2^53) and saturates its own sums
 * at UINT64_MAX; ordinary figures stay exact.  Raw, rollup and default
 * paths, every format. */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "store_fixture.h"
#include "report_fixture.h"
#include "jobmeter.pb-c.h"
#include "tools/collector/store.h"
#include "tools/report/analyze.h"
#include "tools/report/query.h"
#include "tools/report/render.h"

#define D0   INT64_C(1714521600)            /* 2024-05-01T00:00:00Z */
#define SEC  INT64_C(1000000000)
#define DAYS (86400 * SEC)
#define HUGE_BYTES UINT64_C(5000000000000000000)      /* ingest accepts it: <= INT64_MAX */
#define SMALL_BYTES UINT64_C(123456789012345)        /* 112 TiB: large, but real */

static int store_one(struct jm_coll_store *st, uint64_t seq, const char *job, int64_t end_ns,
		     uint64_t bytes, uint64_t calls)
{
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity a = JOBMETER__V1__AGENT_IDENTITY__INIT;
	Jobmeter__V1__JobRun r = JOBMETER__V1__JOB_RUN__INIT, *rp = &r;
	Jobmeter__V1__Counters c = JOBMETER__V1__COUNTERS__INIT;
	Jobmeter__V1__DbStats d = JOBMETER__V1__DB_STATS__INIT, *dp = &d;
	Jobmeter__V1__StatementStats s = JOBMETER__V1__STATEMENT_STATS__INIT, *sp = &s;
	struct jm_coll_store_result res;
	char run_id[32];

	a.host = "h1";
	a.agent_id = "agent";
	a.boot_id = "boot";
	snprintf(run_id, sizeof(run_id), "r%llu", (unsigned long long)seq);
	c.processes = 1;
	c.cpu_s = 1;
	c.file_read_bytes = bytes;
	c.file_write_bytes = bytes;
	c.net_rx_bytes = bytes;
	c.net_tx_bytes = bytes;
	s.fingerprint = "select ?";
	s.calls = calls;
	s.rows = calls;
	d.system = "postgresql";
	d.queries = calls;
	d.n_statements = 1;
	d.statements = &sp;
	r.job = (char *)job;
	r.run_id = run_id;
	r.start_unix_ns = end_ns - 10 * SEC;
	r.end_unix_ns = end_ns;
	r.outcome = JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS;
	r.counters = &c;
	r.n_db = 1;
	r.db = &dp;
	b.schema_version = 1;
	b.agent = &a;
	b.seq = seq;
	b.window_start_unix_ns = end_ns - 60 * SEC;
	b.window_end_unix_ns = end_ns;
	b.n_runs = 1;
	b.runs = &rp;
	return jm_coll_store_batch(st, &b, 1, &res) == JM_STORE_STORED ? 0 : -1;
}

/* mode: 0 raw rows only, 1 rollups for whole days, 2 default */
static int report(const char *path, int mode, struct jm_rep_report *r)
{
	fx_report_init(r, path, D0 * SEC, (D0 + 3 * 86400 + 3600) * SEC);
	r->raw_forced = mode == 0;
	if (mode == 1)
		r->raw_runs_max = -1;
	return fx_report_run(r);
}

static void check(const char *tag, struct jm_rep_report *r)
{
	int (*fns[])(FILE *, const struct jm_rep_report *) = {
		jm_rep_render_text, jm_rep_render_csv, jm_rep_render_md, jm_rep_render_json, jm_rep_render_html,
	};
	static const char *const names[] = { "text", "csv", "md", "json", "html" };
	struct jm_rep_job *two = jm_rep_job_find(r, "two-huge"), *four = jm_rep_job_find(r, "four-huge"),
			  *small = jm_rep_job_find(r, "small");
	char name[128];

#define C(what, cond) do { snprintf(name, sizeof(name), "%s: %s", tag, what); CHECK(name, cond); } while (0)
	C("three jobs", two && four && small);
	if (!two || !four || !small)
		return;
	C("two huge runs: sum exact (1e19 > INT64_MAX)", two->u.file_read_bytes == 2 * HUGE_BYTES &&
	  two->u.net_tx_bytes == 2 * HUGE_BYTES && two->u.runs == 2);
	C("four huge runs: saturated at UINT64_MAX, not wrapped", four->u.file_read_bytes == UINT64_MAX &&
	  four->u.file_write_bytes == UINT64_MAX && four->u.queries == UINT64_MAX);
	C("statement calls saturated", four->n_stmts >= 1 && four->stmts[0].calls == UINT64_MAX);
	C("small job exact", small->u.file_read_bytes == 2 * SMALL_BYTES &&
	  small->u.net_tx_bytes == 2 * SMALL_BYTES && small->u.queries == 2 * 1000003);
	C("small statement calls exact", small->n_stmts >= 1 && small->stmts[0].calls == 2 * 1000003);
	C("totals saturated", r->total.file_read_bytes == UINT64_MAX);
	C("cost finite", isfinite(four->cost.total) && four->cost.total > 0);
	for (size_t i = 0; i < 5; i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		int rc = fns[i](f, r);

		fclose(f);
		snprintf(name, sizeof(name), "%s: render %s", tag, names[i]);
		CHECK(name, rc == 0 && len > 200);
		free(buf);
	}
#undef C
}

int main(void)
{
	struct fx_db d;
	struct jm_coll_store *st;
	struct jm_rep_report r[3];
	static const char *const tags[] = { "raw", "rollup", "default" };
	uint64_t seq = 0;
	int bad = 0;

	if (!(st = fx_db_open(&d, "report-ovf")))
		return 1;
	const char *path = d.path;
	/* Day 1, a whole day inside the period (rollups), and the ragged
	 * last hour (raw rows on every path). */
	for (int k = 0; k < 2; k++) {
		int64_t t = D0 * SEC + (k ? 3 * DAYS + 1800 * SEC : DAYS + 43200 * SEC);

		bad |= store_one(st, ++seq, "two-huge", t, HUGE_BYTES, 1);
		bad |= store_one(st, ++seq, "four-huge", t, HUGE_BYTES, HUGE_BYTES);
		bad |= store_one(st, ++seq, "four-huge", t + SEC, HUGE_BYTES, HUGE_BYTES);
		bad |= store_one(st, ++seq, "small", t, SMALL_BYTES, 1000003);
	}
	jm_coll_store_close(st);
	CHECK_INT("store the batches", bad, 0);
	for (int m = 0; m < 3; m++) {
		char name[64];

		snprintf(name, sizeof(name), "report %s succeeds", tags[m]);
		CHECK_INT(name, report(path, m, &r[m]), 0);
		check(tags[m], &r[m]);
		jm_rep_report_free(&r[m]);
	}
	fx_db_remove(&d);
	TEST_EXIT();
}
