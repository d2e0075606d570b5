/* Failed runs by how they ended: one entry per ending the report names.
 * The query groups runs by (oom_killed, outcome, signal, exit_code), but
 * the name of an ending ignores some of them -- "OOM kill" whatever signal
 * or exit code the run recorded, "exit unseen" whatever exit code -- so
 * three OOM-killed runs used to be listed as three "OOM kill" rows of 1 run
 * each instead of one row of 3. */
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

struct ending {
	Jobmeter__V1__Outcome outcome;
	int exit_code, signal;
	bool oom;
	int64_t end_s;                         /* seconds after D0 */
};

static int put(struct jm_coll_store *st, uint64_t seq, const char *job, const struct ending *e)
{
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity a = JOBMETER__V1__AGENT_IDENTITY__INIT;
	Jobmeter__V1__JobRun r = JOBMETER__V1__JOB_RUN__INIT, *rp = &r;
	struct jm_coll_store_result res;
	char run_id[16];

	snprintf(run_id, sizeof(run_id), "r%llu", (unsigned long long)seq);
	a.agent_id = "agent";
	a.boot_id = "boot";
	a.host = "h";
	r.job = (char *)job;
	r.run_id = run_id;
	r.start_unix_ns = (D0 + e->end_s - 60) * SEC;
	r.end_unix_ns = (D0 + e->end_s) * SEC;
	r.outcome = e->outcome;
	r.exit_code = e->exit_code;
	r.signal = e->signal;
	r.oom_killed = e->oom;
	b.schema_version = 1;
	b.agent = &a;
	b.seq = seq;
	b.window_start_unix_ns = r.start_unix_ns;
	b.window_end_unix_ns = r.end_unix_ns;
	b.n_runs = 1;
	b.runs = &rp;
	return jm_coll_store_batch(st, &b, 1, &res) == JM_STORE_STORED ? 0 : -1;
}

static const struct jm_rep_failure *find(const struct jm_rep_job *j, const char *how)
{
	for (size_t k = 0; k < j->n_failures; k++)
		if (strcmp(j->failures[k].how, how) == 0)
			return &j->failures[k];
	return NULL;
}

int main(void)
{
	static const struct ending ends[] = {
		/* three OOM kills, recorded three ways */
		{ JOBMETER__V1__OUTCOME__OUTCOME_FAILURE, -1, 9, true, 1000 },
		{ JOBMETER__V1__OUTCOME__OUTCOME_FAILURE, 137, 0, true, 3000 },
		{ JOBMETER__V1__OUTCOME__OUTCOME_UNSPECIFIED, -1, 0, true, 2000 },
		/* two unseen exits with different exit codes */
		{ JOBMETER__V1__OUTCOME__OUTCOME_UNSPECIFIED, -1, 0, false, 4000 },
		{ JOBMETER__V1__OUTCOME__OUTCOME_UNSPECIFIED, 0, 0, false, 5000 },
		/* one plain failure, one success */
		{ JOBMETER__V1__OUTCOME__OUTCOME_FAILURE, 3, 0, false, 6000 },
		{ JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS, 0, 0, false, 7000 },
	};
	struct fx_db d;
	struct jm_coll_store *st;
	struct jm_rep_report r;
	const struct jm_rep_job *j = NULL;
	const struct jm_rep_failure *f;
	uint64_t listed = 0;
	int bad = 0;

	if (!(st = fx_db_open(&d, "report-fail")))
		return 1;
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		bad |= put(st, i + 1, "etl", &ends[i]);
	jm_coll_store_close(st);
	CHECK_INT("batches stored", bad, 0);

	fx_report_init(&r, d.path, D0 * SEC, (D0 + 86400) * SEC);
	CHECK_INT("report runs", fx_report_run(&r), 0);
	if (r.n_jobs == 1)
		j = &r.jobs[0];
	CHECK("one job", j != NULL);
	if (j) {
		CHECK_INT("three endings: OOM kill, exit unseen, exit 3", j->n_failures, 3);
		f = find(j, "OOM kill");
		CHECK_INT("OOM kill: 3 runs in one entry", f ? f->runs : 0, 3);
		CHECK("OOM kill: last is the latest of the three",
		      f && f->last_end_ns == (D0 + 3000) * SEC);
		f = find(j, "exit unseen");
		CHECK_INT("exit unseen: 2 runs in one entry", f ? f->runs : 0, 2);
		CHECK("exit unseen: last is the latest of the two",
		      f && f->last_end_ns == (D0 + 5000) * SEC);
		f = find(j, "exit 3");
		CHECK_INT("exit 3: 1 run", f ? f->runs : 0, 1);
		CHECK_STR("most runs first", j->n_failures ? j->failures[0].how : NULL, "OOM kill");
		CHECK_STR("then the next most", j->n_failures > 1 ? j->failures[1].how : NULL, "exit unseen");
		for (size_t k = 0; k < j->n_failures; k++)
			listed += j->failures[k].runs;
		CHECK_INT("every run that did not succeed is listed once", listed, j->u.runs - j->u.successes);
	}
	jm_rep_report_free(&r);
	fx_db_remove(&d);
	TEST_EXIT();
}
