/* SLI aggregation shared by /metrics and OTLP: outcomes (including values
 * outside the enum), restarts, OOM kills, duration buckets at their bounds,
 * saturating database sums, the loss reason table. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "histogram.h"
#include "sli.h"

#define SEC 1000000000LL

static struct jm_run_record run(enum jm_outcome o, int64_t dur_ns, bool restart, bool oom)
{
	struct jm_run_record r;
	memset(&r, 0, sizeof(r));
	r.outcome = o;
	r.start_ns = 1000 * SEC;
	r.end_ns = r.start_ns + dur_ns;
	r.restart = restart;
	r.oom_killed = oom;
	return r;
}

int main(void)
{
	CHECK("bounds ascending", jm_sli_run_bounds[0] == 1 &&
	      jm_sli_run_bounds[JM_SLI_RUN_BOUNDS - 1] == 86400);
	int asc = 1;
	for (int i = 1; i < JM_SLI_RUN_BOUNDS; i++)
		asc &= jm_sli_run_bounds[i] > jm_sli_run_bounds[i - 1];
	CHECK("bounds strictly ascending", asc);

	struct jm_sli_runs s = { 0 };
	struct jm_run_record r;
	r = run(JM_OUTCOME_SUCCESS, 1 * SEC, false, false);      /* exactly on le=1 */
	jm_sli_runs_add(&s, &r);
	r = run(JM_OUTCOME_SUCCESS, 1 * SEC + 1, false, false);  /* just above: le=5 */
	jm_sli_runs_add(&s, &r);
	r = run(JM_OUTCOME_FAILURE, 90000 * SEC, true, true);    /* over a day: +Inf */
	jm_sli_runs_add(&s, &r);
	r = run((enum jm_outcome)7, 30 * SEC, true, false);      /* outside the enum */
	jm_sli_runs_add(&s, &r);
	r = run(JM_OUTCOME_SUCCESS, -5 * SEC, false, true);      /* ended before start */
	jm_sli_runs_add(&s, &r);

	CHECK_INT("total", s.total, 5);
	CHECK_INT("success", s.by_outcome[JM_OUTCOME_SUCCESS], 3);
	CHECK_INT("failure", s.by_outcome[JM_OUTCOME_FAILURE], 1);
	CHECK_INT("unknown outcome counts as unspecified", s.by_outcome[JM_OUTCOME_UNSPECIFIED], 1);
	CHECK_INT("restarts", s.restarts, 2);
	CHECK_INT("oom kills", s.oom_kills, 2);
	CHECK_INT("le=1 holds 1 s and the negative run", s.duration_buckets[0], 2);
	CHECK_INT("le=5 holds 1 s + 1 ns", s.duration_buckets[1], 1);
	CHECK_INT("le=30 holds 30 s", s.duration_buckets[3], 1);
	CHECK_INT("+Inf holds 90000 s", s.duration_buckets[JM_SLI_RUN_BOUNDS], 1);
	uint64_t sum = 0;
	for (int i = 0; i <= JM_SLI_RUN_BOUNDS; i++)
		sum += s.duration_buckets[i];
	CHECK_INT("buckets sum to total", sum, s.total);
	CHECK("duration sum", fabs(s.duration_s_sum - (1 + 1 + 90000 + 30 + 1e-9)) < 1e-6);

	struct jm_db_stats d;
	memset(&d, 0, sizeof(d));
	struct jm_sli_db db = { 0 };
	d.queries = 10;
	d.errors = 1;
	d.rows = UINT64_MAX - 5;
	d.latency_s_sum = 2.5;
	jm_hist_add(d.latency_buckets, 2000000);        /* 2 ms */
	jm_sli_db_add(&db, &d);
	d.latency_s_sum = -1;                           /* never subtracts */
	jm_sli_db_add(&db, &d);
	d.latency_s_sum = NAN;
	jm_sli_db_add(&db, &d);
	CHECK_INT("db queries", db.queries, 30);
	CHECK_INT("db errors", db.errors, 3);
	CHECK("db rows saturate", db.rows == UINT64_MAX);
	CHECK("db latency ignores negative and NaN", db.latency_s_sum == 2.5);
	CHECK_INT("db buckets merged", db.buckets[jm_hist_bucket(2000000)], 3);

	struct jm_loss l = { .ringbuf_drops = 1, .map_full = 2, .payload_drops = 3,
			     .payload_truncated = 99, .parse_errors = 4,
			     .statements_overflow = 5, .jobs_overflow = 6,
			     .spool_dropped_batches = 7, .exits_synthesized = 8 };
	struct jm_sli_reason lr[JM_SLI_LOSS_REASONS];
	jm_sli_loss_reasons(&l, lr);
	static const char *const names[] = { "ringbuf_full", "map_full", "payload_dropped",
					     "parse_error", "statements_overflow", "jobs_overflow",
					     "spool_dropped_batches", "exits_synthesized" };
	for (int i = 0; i < JM_SLI_LOSS_REASONS; i++) {
		char n[64];
		snprintf(n, sizeof(n), "loss reason %d name", i);
		CHECK_STR(n, lr[i].reason, names[i]);
		snprintf(n, sizeof(n), "loss reason %d count", i);
		CHECK_INT(n, lr[i].count, i + 1);      /* truncation (99) is not a reason */
	}

	CHECK("pos keeps positive", jm_sli_pos(1.5) == 1.5);
	CHECK("pos drops negative", jm_sli_pos(-1) == 0);
	CHECK("pos drops NaN", jm_sli_pos(NAN) == 0);
	CHECK("pos drops Inf", jm_sli_pos(INFINITY) == 0);
	CHECK("add_sat", jm_sli_add_sat(2, 3) == 5);
	CHECK("add_sat saturates", jm_sli_add_sat(UINT64_MAX - 1, 3) == UINT64_MAX);
	TEST_EXIT();
}
