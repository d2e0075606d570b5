/* Service-level objectives per job, from a YAML file:
 *
 *   "*":                         # defaults for every job
 *     success_rate: 0.99         # share of runs that succeed, 0 < x < 1
 *     freshness_max_age: 26h     # last successful run at most this old
 *   nightly-etl:                 # a job: its keys override the "*" ones
 *     query_p95_latency: 500ms   # p95 of its database queries
 *     cost_per_day: 5.00         # average daily cost budget (price currency)
 *
 * Durations take ms, s, m, h, d, w.  Unknown keys are errors.  A job named
 * in the file appears in the report even when it did not run (so a job that
 * stopped running shows up as stale). */
#ifndef JM_REP_SLO_H
#define JM_REP_SLO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jm_rep_slo_spec {
	bool   has_success, has_freshness, has_latency, has_cost;
	double success_rate;           /* target, 0 < x < 1 */
	double freshness_max_age_s;
	double query_p95_latency_s;
	double cost_per_day;
};

struct jm_rep_slo_entry {
	char *job;                     /* "*" = default */
	struct jm_rep_slo_spec spec;
};

struct jm_rep_slo_file {
	char *path;
	struct jm_rep_slo_entry *entries;
	size_t n;
};

int jm_rep_slo_load(const char *path, struct jm_rep_slo_file **out, char *err, size_t err_len)
	__attribute__((warn_unused_result));
void jm_rep_slo_free(struct jm_rep_slo_file *f);
/* Targets that apply to a job: its own keys, else the "*" keys. */
void jm_rep_slo_effective(const struct jm_rep_slo_file *f, const char *job, struct jm_rep_slo_spec *out);

/* Burn rate = observed error ratio / (1 - target) over a window; NAN when
 * the window holds no runs.  1.0 spends the budget exactly over the SLO
 * period; > 4 over 1 h or 6 h is a page-worthy burn. */
double jm_rep_burn_rate(uint64_t bad, uint64_t total, double target);
/* Share of the error budget left over the period: 1 - error ratio /
 * (1 - target).  Negative when overspent; NAN with no runs. */
double jm_rep_budget_remaining(uint64_t bad, uint64_t total, double target);
#endif
