/* Jobs and runs: the state machine that turns process lifecycles into runs
 * with outcomes, restarts and resource totals, plus per-job window deltas.
 *
 * Pure: no /proc, no BPF, no clock.  Callers (agent/process.c) pass kernel
 * timestamps already converted to Unix ns.  That makes every rule below
 * unit-testable with synthetic events (tests/unit/test_jobs.c):
 *   - a run starts when the first process of a job appears and no run of that
 *     job (with the same run id, when one is given) is active;
 *   - a run ends when its last process exits;
 *   - its outcome is its root processes' (the top-level ones, each started
 *     on its own rather than forked by another job process): the first to
 *     exit decides, unless a later one fails (being stopped after a
 *     success, by SIGTERM or exit 143, is not failing: a finished pod's
 *     sidecars end so.  A sidecar SIGKILLed after its grace period still
 *     fails the run; one that exits 143 of its own accord does not):
 *     exit 0 = success, anything
 *     else = failure with exit_code or signal; oom_killed when the kernel
 *     OOM-killed any of its processes (that is a failure too); "unknown"
 *     when the deciding exit was lost (JM_STATUS_UNKNOWN);
 *   - a run that starts after a failed run of the same job is a restart.
 * Finished runs and windows are handed out through callbacks so that the
 * JSONL writer, the batch builder and the Prometheus registry all see the
 * same records. */
#ifndef JM_JOBS_H
#define JM_JOBS_H
#include <stdbool.h>
#include <stdint.h>

#include "model.h"

struct jm_jobs;
struct jm_run;

struct jm_jobs_sink {
	void (*run_done)(void *ctx, const struct jm_run_record *r);
	void (*window)(void *ctx, const struct jm_window_record *w);
	void *ctx;
};

struct jm_jobs *jm_jobs_new(unsigned max_jobs, const struct jm_jobs_sink *sink);
void jm_jobs_free(struct jm_jobs *j);

/* A process starts a run or joins the active one.  run_id may be NULL/""
 * (generated).  Returns NULL when the job cap is reached (counted): the cap
 * (max_jobs) is on jobs held at once; a new job takes the place of the job
 * idle longest (no run live or waiting to be emitted, its last window
 * flushed), which forgets only whether that job's last run failed. */
struct jm_run *jm_jobs_proc_start(struct jm_jobs *j, const char *job, const char *run_id,
				  const char *source, int64_t now_ns);
/* The same, for processes whose identity tells concurrent runs of one job
 * apart without a run id: key (a pod's UID, a systemd unit; NULL or "" =
 * none) joins only a live run of the same key; a process without key or
 * run id joins only one without either.  *created says whether the run is
 * new (its labels are then the process's). */
#define JM_RUN_KEY_MAX 272     /* "unit:" and a 255-byte unit name fit */
struct jm_run *jm_jobs_proc_start_keyed(struct jm_jobs *j, const char *job, const char *run_id,
					const char *key, const char *source, int64_t now_ns,
					bool *created);
/* A child of a process of run r appeared (fork). */
void jm_run_proc_join(struct jm_run *r);
/* Resource deltas of one of r's processes (any field may be 0). */
void jm_run_add(struct jm_run *r, const struct jm_counters *delta);
/* Sampled or final RSS of one process, for peak_rss. */
void jm_run_rss(struct jm_run *r, uint64_t rss_bytes);
void jm_run_oom(struct jm_run *r);
void jm_run_label(struct jm_run *r, const char *key, const char *value);
/* One of r's processes exited.  is_root: it is a top-level process of r;
 * status is the wait(2) status.  When it was the last one the run is over:
 * its outcome is fixed and the job's next process starts a new run, but r
 * stays valid (late query results may still be added) until
 * jm_jobs_flush_ended() emits its record (run_done) and frees it. */
void jm_run_proc_exit(struct jm_run *r, bool is_root, int status, int64_t now_ns);
/* status of a process whose exit was never seen (the kernel's event was
 * lost and the sampler found it gone): no wait(2) status is negative.  A
 * root exiting so gives the run the outcome JM_OUTCOME_UNSPECIFIED
 * ("unknown"), exit_code -1, signal 0 — unless it was OOM-killed. */
#define JM_STATUS_UNKNOWN (-1)
void jm_jobs_flush_ended(struct jm_jobs *j);
/* Figures of r still to come after its processes' exits (the CPU the
 * kernel charges an exited process at its last schedule): while held, an
 * ended run's record waits in jm_jobs_flush_ended(), and so do those of
 * runs that ended after it (records keep the order runs ended in).  Each
 * hold is released once. */
void jm_run_hold(struct jm_run *r);
void jm_run_unhold(struct jm_run *r);
/* Emit every ended run, held or not (the agent is stopping). */
void jm_jobs_flush_ended_all(struct jm_jobs *j);

/* DB and output figures are attached to the run and the job window by the
 * DB module through these (owned copies are made). */
struct jm_db_stats *jm_run_db(struct jm_run *r, enum jm_db_system sys, const char *endpoint,
			      bool window);
/* The pointers jm_run_db() returned for r (and any other run) stay valid,
 * and the window's stays marked active, for as long as this value holds: it
 * changes whenever a slot is added, a window is flushed or a run freed. */
uint64_t jm_run_db_gen(const struct jm_run *r);
void jm_run_output(struct jm_run *r, enum jm_output_kind kind, const char *name, int64_t ts_ns);

/* A process found running at the agent's start: the run began when it
 * did (ns, Unix; kept if the run began earlier), and d is what it used
 * before, which goes to the run's totals only -- windows hold what
 * happened while they were open. */
void jm_run_found_running(struct jm_run *r, int64_t born_ns, const struct jm_counters *d);
const char *jm_run_job(const struct jm_run *r);
const char *jm_run_id(const struct jm_run *r);
unsigned jm_run_live(const struct jm_run *r);

/* Where the first window starts (the agent's start, Unix ns): without it
 * the first window would be [now, now) with the usage of the whole first
 * interval in it. */
void jm_jobs_set_window_start(struct jm_jobs *j, int64_t ns);
/* Emit one window per job that had activity since the last call. */
void jm_jobs_flush_windows(struct jm_jobs *j, int64_t now_ns);

struct jm_jobs_stats {
	uint64_t jobs;
	uint64_t active_runs;
	uint64_t jobs_overflow;
};
void jm_jobs_stats(const struct jm_jobs *j, struct jm_jobs_stats *st);

/* Per-job cap of distinct statement fingerprints (config db.max_fingerprints). */
void jm_jobs_set_max_fingerprints(struct jm_jobs *j, unsigned n);
unsigned jm_jobs_max_fingerprints(const struct jm_jobs *j);
#endif
