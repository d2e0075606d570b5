/* Shared by the report unit tests that build a collector database and run
 * the report over it: one way to run the report's query and analysis, so
 * each test sets only the fields its case is about. */
#ifndef JM_TEST_REPORT_FIXTURE_H
#define JM_TEST_REPORT_FIXTURE_H
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "tools/report/analyze.h"
#include "tools/report/prices.h"
#include "tools/report/query.h"

/* A report over [from_ns, to_ns) of the database at path, defaults for the
 * rest (built-in prices, the rollup threshold, version "test"). */
static inline void fx_report_init(struct jm_rep_report *r, const char *path, int64_t from_ns,
				  int64_t to_ns)
{
	memset(r, 0, sizeof(*r));
	r->from_ns = from_ns;
	r->to_ns = to_ns;
	r->db_path = path;
	r->version = "test";
	r->raw_runs_max = JM_REP_RAW_RUNS_MAX;
	jm_rep_prices_default(&r->prices);
}

/* Open, query, analyse, close, as jobmeter-report does; the error is
 * printed as a TAP-style comment. */
static inline int fx_report_run(struct jm_rep_report *r)
{
	sqlite3 *db;
	char err[512];
	int rc = jm_rep_db_open(r->db_path, &db, &r->schema_version, err, sizeof(err));

	if (rc == 0) {
		rc = jm_rep_query(db, r, err, sizeof(err));
		if (rc == 0)
			rc = jm_rep_analyze(r, err, sizeof(err));
		sqlite3_close(db);
	}
	if (rc)
		printf("# %s\n", err);
	return rc;
}
#endif
