/* Reading the collector's database for a report period [from, to).
 *
 * Strategy: a span is split into whole UTC days (or hours) read from the
 * rollup tables of schema v2 and ragged edges read from the raw rows
 * (indexed by end time).  When the whole days hold few runs
 * (<= JM_REP_RAW_RUNS_MAX), the period's run figures are read from the raw
 * rows only, so that sums are exactly the sums of the stored runs in their
 * stored order and duration percentiles are exact; past that, percentiles
 * come from the rollup's duration histogram (within 4.5 %).  A version-1
 * database (no rollups) or --raw reads raw rows only.  Statement p95/p99
 * (schema v3) are the highest per-run values, unknown (NAN) before v3. */
#ifndef JM_REP_QUERY_H
#define JM_REP_QUERY_H
#include <sqlite3.h>
#include <stdbool.h>

#include "tools/report/report.h"

#define JM_REP_RAW_RUNS_MAX 200000
/* The newest collector schema version (schema_version table) this report
 * reads; test_report_query holds it equal to jm_coll_schema_latest().  A
 * newer database is read all the same (versions so far only add), with a
 * warning: what a newer version added is not in the report. */
#define JM_REP_SCHEMA_KNOWN 6

/* Open read-only and read the schema version. */
int jm_rep_db_open(const char *path, sqlite3 **db, int *schema_version, char *err, size_t err_len)
	__attribute__((warn_unused_result));
/* Fill r (from_ns, to_ns, job_filter, slos, raw_forced, raw_runs_max,
 * schema_version, prices set by the caller) with raw figures: jobs and their usage, durations, query
 * figures, statements, days, last success, burn windows, datasets, idle. */
int jm_rep_query(sqlite3 *db, struct jm_rep_report *r, char *err, size_t err_len)
	__attribute__((warn_unused_result));
#endif
