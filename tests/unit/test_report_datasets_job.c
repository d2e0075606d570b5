/* Dataset freshness under --job must not depend on the path: the daily
 * rollup (dataset_day) keeps only each day's last writer of a dataset, so
 * a job filter over the rollup lost the datasets another job overwrote
 * later that day, while --raw (outputs rows) still showed them.  With a
 * job filter the report reads raw outputs; both paths agree. */
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

#define D0  INT64_C(1714521600)            /* 2024-05-01T00:00:00Z */
#define SEC INT64_C(1000000000)

static int put(struct jm_coll_store *st, uint64_t seq, const char *job, const char *out, int64_t t_s)
{
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity a = JOBMETER__V1__AGENT_IDENTITY__INIT;
	Jobmeter__V1__JobRun r = JOBMETER__V1__JOB_RUN__INIT, *rp = &r;
	Jobmeter__V1__OutputWrite o = JOBMETER__V1__OUTPUT_WRITE__INIT, *op = &o;
	struct jm_coll_store_result res;
	char run_id[16];

	snprintf(run_id, sizeof(run_id), "r%llu", (unsigned long long)seq);
	a.agent_id = "agent";
	a.boot_id = "boot";
	a.host = "h";
	o.kind = "table";
	o.name = (char *)out;
	o.last_write_unix_ns = (D0 + t_s) * SEC;
	r.job = (char *)job;
	r.run_id = run_id;
	r.start_unix_ns = (D0 + t_s - 60) * SEC;
	r.end_unix_ns = (D0 + t_s) * SEC;
	r.outcome = JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS;
	r.n_outputs = 1;
	r.outputs = &op;
	b.schema_version = 1;
	b.agent = &a;
	b.seq = seq;
	b.window_start_unix_ns = r.start_unix_ns;
	b.window_end_unix_ns = r.end_unix_ns;
	b.n_runs = 1;
	b.runs = &rp;
	return jm_coll_store_batch(st, &b, 1, &res) == JM_STORE_STORED ? 0 : -1;
}

static int report(const char *path, bool raw, const char *job, struct jm_rep_report *r)
{
	fx_report_init(r, path, D0 * SEC, (D0 + 3 * 86400) * SEC);
	r->raw_forced = raw;
	r->job_filter = job;
	return fx_report_run(r);
}

static const struct jm_rep_dataset *find(const struct jm_rep_report *r, const char *name)
{
	for (size_t i = 0; i < r->n_datasets; i++)
		if (strcmp(r->datasets[i].name, name) == 0)
			return &r->datasets[i];
	return NULL;
}

int main(void)
{
	struct fx_db d;
	char name[96];
	struct jm_coll_store *st;
	static const char *const tags[] = { "default (rollup)", "raw" };
	int bad = 0;

	if (!(st = fx_db_open(&d, "report-ds")))
		return 1;
	const char *path = d.path;
	/* day 1 (whole, inside the period): loader writes sales at 10:00,
	 * fixer overwrites it at 12:00; loader alone writes stock */
	bad |= put(st, 1, "loader", "sales", 86400 + 36000);
	bad |= put(st, 2, "fixer", "sales", 86400 + 43200);
	bad |= put(st, 3, "loader", "stock", 86400 + 40000);
	jm_coll_store_close(st);
	CHECK_INT("batches stored", bad, 0);

	for (int m = 0; m < 2; m++) {
		struct jm_rep_report r;
		const struct jm_rep_dataset *d;

		snprintf(name, sizeof(name), "%s --job loader: report", tags[m]);
		CHECK_INT(name, report(path, m == 1, "loader", &r), 0);
		d = find(&r, "sales");
		snprintf(name, sizeof(name), "%s --job loader: sales shown, loader's own last write", tags[m]);
		CHECK(name, d && strcmp(d->job, "loader") == 0 && d->last_write_ns == (D0 + 86400 + 36000) * SEC);
		snprintf(name, sizeof(name), "%s --job loader: stock shown", tags[m]);
		CHECK(name, find(&r, "stock") != NULL);
		snprintf(name, sizeof(name), "%s --job loader: two datasets", tags[m]);
		CHECK_INT(name, r.n_datasets, 2);
		jm_rep_report_free(&r);

		snprintf(name, sizeof(name), "%s, no filter: report", tags[m]);
		CHECK_INT(name, report(path, m == 1, NULL, &r), 0);
		d = find(&r, "sales");
		snprintf(name, sizeof(name), "%s, no filter: sales last written by fixer", tags[m]);
		CHECK(name, d && strcmp(d->job, "fixer") == 0 && d->last_write_ns == (D0 + 86400 + 43200) * SEC);
		snprintf(name, sizeof(name), "%s, no filter: rollup used", tags[m]);
		CHECK(name, m == 1 ? !r.rollup_used : r.rollup_used);
		jm_rep_report_free(&r);
	}
	fx_db_remove(&d);
	TEST_EXIT();
}
