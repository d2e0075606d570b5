/* Prometheus exposition of the agent's per-job SLIs.
 *
 * The registry is fed from the same records the JSONL and protobuf outputs
 * get (finished runs, per-interval windows, loss totals), on the agent's main
 * thread; an HTTP thread (libmicrohttpd) renders GET /metrics and /healthz.
 * Label cardinality is bounded: labels are job, outcome, system, kind and
 * output name only (never PIDs or fingerprints), and at most max_jobs jobs
 * are kept (further jobs are counted in jobmeter_metrics_jobs_dropped_total). */
#ifndef JM_METRICS_H
#define JM_METRICS_H
#include <stdbool.h>

#include "model.h"

struct jm_metrics;

/* listen: "ADDR:PORT" ("127.0.0.1:9464", "[::1]:9464", ":9464"); NULL or ""
 * = registry only, no HTTP server (tests).  Errors name the address. */
int jm_metrics_open(struct jm_metrics **out, const char *listen, unsigned max_jobs)
	__attribute__((warn_unused_result));
void jm_metrics_close(struct jm_metrics *m);

void jm_metrics_observe_run(struct jm_metrics *m, const struct jm_run_record *r);
void jm_metrics_observe_window(struct jm_metrics *m, const struct jm_window_record *w);
void jm_metrics_set_loss(struct jm_metrics *m, const struct jm_loss *total);
/* The shipper's counters (ship.h): batches delivered, retried, refused by
 * the collector (moved to rejected/: their figures never reach a report),
 * the spool's depth and the last HTTP status.  Without a call (no
 * collector configured) none of these families is rendered. */
struct jm_ship_stats;
void jm_metrics_set_ship(struct jm_metrics *m, const struct jm_ship_stats *st);
/* The socket thread filter (bpf/maps.bpf.h): job threads found missing
 * from it (expected 0; their socket bytes until then went uncounted), and
 * bits set of 2^JM_TF_LOG2. */
void jm_metrics_set_thread_filter(struct jm_metrics *m, uint64_t misses, uint64_t bits);
/* Execs whose environment the exec probe did not read to the end (more
 * than JM_ENV_SCAN_MAX strings): a JOBMETER_JOB or env_identity variable
 * after those was not seen, and the process not attributed by it. */
void jm_metrics_set_env_scan_truncated(struct jm_metrics *m, uint64_t execs);
/* /healthz answers 200 while ok, 503 otherwise. */
void jm_metrics_set_health(struct jm_metrics *m, bool ok);

/* Render the exposition text into a malloc'd NUL-terminated buffer (what
 * GET /metrics serves; exposed for unit tests). */
char *jm_metrics_render(struct jm_metrics *m);
#endif
