/* Process tracker: consumes the lifecycle events of bpf/process.bpf.c,
 * attributes processes to jobs (env identity, config rules, systemd units,
 * Kubernetes pods), and feeds per-process deltas into runs (agent/jobs.h).
 * Also owns the once-a-second sampler (RSS for mem_gib_s, CPU and byte
 * deltas for windows) and the start-up scan of /proc. */
#ifndef JM_PROCESS_H
#define JM_PROCESS_H
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "jobs.h"
#include "model.h"
#include "probes.h"

struct jm_tracker;

struct jm_tracker *jm_tracker_new(const struct jm_config *cfg, struct jm_probes *probes,
				  struct jm_jobs *jobs, struct jm_loss *loss);
void jm_tracker_free(struct jm_tracker *t);

/* Convert a kernel CLOCK_MONOTONIC timestamp to Unix ns. */
int64_t jm_tracker_unix_ns(const struct jm_tracker *t, uint64_t mono_ns);
/* Re-read the monotonic->realtime offset (call every sample). */
void jm_tracker_clock_sync(struct jm_tracker *t);

/* Process lifecycle events (exec, fork, exit, oom).  Returns 0.  An exit
 * ends the process (and maybe its run) at once, but the process stays
 * reachable through jm_tracker_run_of(): the io ring may still hold payloads
 * it sent before exiting.  The caller drains the io ring, then calls
 * jm_tracker_flush_exits(), which forgets exited processes and emits the
 * records of runs that ended. */
int jm_tracker_on_event(struct jm_tracker *t, const void *data, size_t len);
void jm_tracker_flush_exits(struct jm_tracker *t);
/* The same, without waiting for figures still to come (the agent stops). */
void jm_tracker_flush_exits_all(struct jm_tracker *t);
/* Attribute processes already running (call once after attach). */
void jm_tracker_scan_existing(struct jm_tracker *t);
/* Sample live job processes; now_mono_ns = CLOCK_MONOTONIC. */
void jm_tracker_sample(struct jm_tracker *t, uint64_t now_mono_ns);

/* The run a live tracked process belongs to, or NULL. */
struct jm_run *jm_tracker_run_of(struct jm_tracker *t, uint32_t tgid);
/* Is tgid a tracked process that has not exited? */
bool jm_tracker_alive(struct jm_tracker *t, uint32_t tgid);
size_t jm_tracker_live(const struct jm_tracker *t);
#endif
