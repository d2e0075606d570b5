/* The report model: everything jobmeter-report computes, in one struct that
 * every renderer (text, csv, md, json, html) takes read-only, so the formats
 * cannot disagree.  Filled by query.c (raw figures from SQLite) and then
 * analyze.c (percentiles, costs, SLOs, anomalies). */
#ifndef JM_REP_REPORT_H
#define JM_REP_REPORT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "tools/collector/rollup_hist.h"
#include "tools/report/prices.h"
#include "tools/report/slo.h"

#define JM_REP_NS_PER_DAY  INT64_C(86400000000000)
#define JM_REP_NS_PER_HOUR INT64_C(3600000000000)
#define JM_REP_BASELINE_DAYS 7     /* trailing days an anomaly is judged against */
#define JM_REP_ANOMALY_FACTOR 2.0  /* day cost > factor x trailing median */
#define JM_REP_BURN_FLAG 4.0       /* burn rate above this is flagged */
#define JM_REP_TOP_STATEMENTS 5

/* Sums of counters saturate at UINT64_MAX instead of wrapping: ingest accepts
 * any counter up to INT64_MAX, so two accepted rows can already exceed what
 * an int64 holds (SQLite's sum() then fails the whole query with "integer
 * overflow", which is why the report's SQL sums with total()).  A saturated
 * figure is visibly absurd; a wrapped one would look plausible. */
static inline void jm_rep_sat_add(uint64_t *acc, uint64_t v)
{
	*acc = v > UINT64_MAX - *acc ? UINT64_MAX : *acc + v;
}

/* Raw figures of the runs of one job (sums over runs ended in the period,
 * in the order the runs were stored when read from raw rows). */
struct jm_rep_usage {
	uint64_t runs, successes, failures, restarts, oom_kills, processes;
	double   cpu_s, mem_gib_s;
	uint64_t peak_rss_bytes;          /* max */
	uint64_t file_read_bytes, file_write_bytes, net_rx_bytes, net_tx_bytes;
	double   duration_s_sum;
	uint64_t queries, query_errors;
	double   query_latency_s_sum;
	double   query_p95_x_queries;     /* sum of latency_p95_s * queries */
	bool     has_qbuckets;
	uint64_t qbuckets[JM_HIST_BUCKETS];
	/* The runs' own p95s, lowest and highest (raw rows with queries): the
	 * p95 of all their queries together lies between them, so the merged
	 * histogram's estimate is held inside.  p95_range_runs = 0, or
	 * p95_range_unknown (a rollup day or a run without its p95 had
	 * queries), leaves the estimate as it is. */
	uint64_t p95_range_runs;
	bool     p95_range_unknown;
	double   p95_lo_s, p95_hi_s;
	/* DB connections whose statements could not be read (TLS, GSS,
	 * MySQL compression): their queries are in no figure (schema >= 6). */
	uint64_t db_conns_unreadable;
};

/* Runs whose outcome is neither success nor failure (the agent never saw
 * the exit): they count against the success rate. */
static inline uint64_t jm_rep_unknown_outcomes(const struct jm_rep_usage *u)
{
	return u->runs > u->successes + u->failures ? u->runs - u->successes - u->failures : 0;
}

/* Cost-relevant figures of one job on one UTC day. */
struct jm_rep_dayuse {
	double   cpu_s, mem_gib_s;
	uint64_t file_read_bytes, net_tx_bytes;
};

struct jm_rep_stmt {
	char    *fingerprint;
	uint64_t calls, errors, rows;
	uint64_t rows_unknown;    /* calls whose row count went by unseen (schema >= 5) */
	double   latency_s_sum;
	/* Highest per-run latency p95/p99 of the statement in the period: an
	 * upper bound of its p95/p99 over all calls (percentiles cannot be
	 * summed).  NAN when no run sent them (or schema < 3). */
	double   latency_p95_s, latency_p99_s;
};

enum jm_rep_verdict { JM_REP_NO_SLO = 0, JM_REP_NO_DATA, JM_REP_MET, JM_REP_MISSED };

struct jm_rep_job_slo {
	struct jm_rep_slo_spec spec;      /* effective targets (job, else "*") */
	enum jm_rep_verdict success, freshness, latency, cost;
	double budget_remaining;          /* fraction of the error budget left; NAN = n/a */
	double burn_1h, burn_6h;          /* NAN = no runs in that window */
	uint64_t runs_1h, bad_1h, runs_6h, bad_6h;
	bool   burn_flag;
	double cost_per_day;              /* average over the period */
	double worst_day_cost;
};

/* Runs of a job that did not succeed, by how they ended. */
struct jm_rep_failure {
	char     how[32];                 /* "exit 3", "SIGKILL", "OOM kill", "exit unseen" */
	uint64_t runs;
	int64_t  last_end_ns;
};

struct jm_rep_job {
	char *name;
	struct jm_rep_usage u;
	/* durations: exact from raw rows, or estimated from the rollup histogram */
	double  *durations;
	size_t   n_durations, cap_durations;
	bool     durations_estimated;
	uint64_t dhist[JM_DHIST_BUCKETS];
	double   dur_p50_s, dur_p95_s;    /* NAN when no runs */
	double   query_p95_s;             /* NAN when no queries */
	bool     query_p95_from_hist;
	int64_t  last_success_ns;         /* as of the period end; 0 = never */
	struct jm_rep_stmt *stmts;        /* sorted by total time, descending */
	size_t   n_stmts, cap_stmts;
	struct jm_rep_cost cost;
	double   cost_per_run, cost_per_gib_scanned;   /* NAN when undefined */
	struct jm_rep_dayuse *days;       /* n_days entries, see jm_rep_report */
	struct jm_rep_job_slo slo;
	struct jm_rep_failure *failures;  /* how its runs in the period failed, most first */
	size_t   n_failures, cap_failures;
};

struct jm_rep_dataset {
	char   *kind, *name, *job;
	int64_t last_write_ns;
	double  max_age_s;                /* writer job's freshness SLO, NAN = none */
};

struct jm_rep_idle {
	unsigned hosts;
	double capacity_core_s, capacity_mem_gib_s;
	double attributed_cpu_s, attributed_mem_gib_s;
	double idle_core_s, idle_mem_gib_s;
	struct jm_rep_cost cost;
};

struct jm_rep_anomaly {
	size_t  job;                      /* index into jobs */
	int64_t day;                      /* UTC day number */
	double  cost, median, ratio;
	const char *component;            /* "cpu" | "memory" | "scan" | "egress" */
	double  component_growth;         /* that component's cost minus its median */
};

/* Data completeness of one agent over the period, from the collector's
 * batches and loss tables (every job of the agent shares it, so --job does
 * not filter it).  Loss counters are cumulative per agent process; the
 * period's share is the sum of their increases between consecutive batches
 * of a boot (a decrease is a restart: the new value counts whole). */
#define JM_REP_LOSS_N 8
extern const char *const jm_rep_loss_names[JM_REP_LOSS_N];   /* JSON keys, loss table columns */
struct jm_rep_agent {
	char    *agent_id, *host;
	uint64_t batches;                 /* stored, window ending in the period */
	uint64_t seq_gaps;                /* seqs never stored between them (lost or refused) */
	uint64_t loss[JM_REP_LOSS_N];     /* reported lost in the period, by reason */
	uint64_t lost;                    /* sum of loss[] (saturated) */
};

struct jm_rep_report {
	const char *db_path;
	const char *version;
	int64_t from_ns, to_ns;
	int     schema_version;
	bool    rollup_used;              /* some figures came from rollup tables */
	bool    raw_forced;               /* --raw */
	/* Whole days holding more runs than this are read from the rollup
	 * (JM_REP_RAW_RUNS_MAX in query.h; -1 = always, for tests). */
	int64_t raw_runs_max;
	struct jm_rep_prices prices;
	struct jm_rep_slo_file *slos;     /* NULL without --slos */
	const char *job_filter;           /* --job */

	struct jm_rep_job *jobs;          /* sorted by total cost, descending */
	size_t n_jobs, cap_jobs;
	size_t *jidx, jidx_cap;           /* name hash -> job index + 1 (0 = empty) */
	struct jm_rep_dataset *datasets;  /* sorted by kind, name */
	size_t n_datasets, cap_datasets;
	struct jm_rep_idle idle;

	/* Days: first_day = UTC day of from - JM_REP_BASELINE_DAYS, through the
	 * day of the last instant before `to`.  Days before `from`'s day are the
	 * anomaly baseline; the others are "period days". */
	int64_t first_day;
	size_t  n_days, first_period_day; /* indexes into jm_rep_job.days */
	double *day_total_cost;           /* n_days, all jobs */

	struct jm_rep_anomaly *anomalies;
	size_t n_anomalies, cap_anomalies;

	struct jm_rep_agent *agents;      /* by agent_id; the data-completeness section */
	size_t n_agents;

	struct jm_rep_usage total;        /* all jobs */
	struct jm_rep_cost total_cost;
};

/* Find a job by name (linear probe over an index built by query.c). */
struct jm_rep_job *jm_rep_job_find(struct jm_rep_report *r, const char *name);
/* Find or add (returns NULL only when out of memory). */
struct jm_rep_job *jm_rep_job_get(struct jm_rep_report *r, const char *name);
/* Rebuild the name index after the jobs array was reordered. */
int jm_rep_jobs_reindex(struct jm_rep_report *r) __attribute__((warn_unused_result));
void jm_rep_report_free(struct jm_rep_report *r);
#endif
