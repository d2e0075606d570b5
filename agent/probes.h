/* The eBPF side of the agent: open -> set rodata -> load -> attach, the two
 * ring buffers, map access for the process table, and the kernel's loss
 * counters.  Everything libbpf-specific stays behind this header. */
#ifndef JM_PROBES_H
#define JM_PROBES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/process.h"
#include "bpf/io.h"

struct jm_probes;

struct jm_probe_opts {
	size_t n_env_keys;
	char env_keys[JM_ENV_KEYS_MAX][JM_ENV_KEY_LEN];   /* "JOBMETER_JOB=" ... */
	bool emit_all_exits;          /* rules exist: user space classifies execs */
	bool track_outputs;           /* file outputs declared: opens/renames */
	unsigned cap_head, cap_tail;  /* payload capture sizes */
	bool db_trace;                /* capture payloads of job connections */
};

/* Ring buffer consumers: data points into the ring, valid during the call. */
typedef int (*jm_event_fn)(void *ctx, const void *data, size_t len);

int jm_probes_open(struct jm_probes **out, const struct jm_probe_opts *o,
		   jm_event_fn on_event, jm_event_fn on_payload, void *ctx)
	__attribute__((warn_unused_result));
void jm_probes_close(struct jm_probes *p);

/* Consume what is pending: the lifecycle ring first, then the io ring
 * (connects, payloads, closes, opens, renames — one ring, so they stay in
 * order).  Never blocks; wait on jm_probes_epoll_fds().  Returns the number
 * of records, or -errno. */
int jm_probes_poll(struct jm_probes *p, int timeout_ms);
/* The two halves of jm_probes_poll(): a lifecycle event that must not be
 * handled before earlier io records (an exec after an exit of the same job)
 * drains the io ring from inside the event callback. */
int jm_probes_consume_events(struct jm_probes *p);
int jm_probes_drain_io(struct jm_probes *p);
/* Both rings' epoll fds, to wait on. */
void jm_probes_epoll_fds(struct jm_probes *p, int fds[2]);

/* Process table (user-space side of membership).  Tracking a process also
 * puts its threads into the socket thread filter (bpf/maps.bpf.h). */
int jm_probes_track(struct jm_probes *p, uint32_t tgid, int32_t threads)
	__attribute__((warn_unused_result));
void jm_probes_untrack(struct jm_probes *p, uint32_t tgid);
/* Per-CPU byte counters of a live tracked process, summed. -ENOENT if gone. */
/* A process's socket counters, summed over CPUs. */
int jm_probes_read_sock(struct jm_probes *p, uint32_t tgid, struct jm_sock_io *io);
/* What the exit program summed for a tracked process's threads that ended
 * (struct jm_proc_life: their rchar and wchar).  -ENOENT if not tracked. */
int jm_probes_read_life(struct jm_probes *p, uint32_t tgid, uint64_t *rchar, uint64_t *wchar)
	__attribute__((warn_unused_result));
/* One pass of the jm_sample task iterator: fn is called for every thread of
 * every tracked process (struct jm_sample, bpf/process.h); a non-zero return
 * stops the pass.  0, or -errno when the iterator cannot be read. */
typedef int (*jm_sample_fn)(void *ctx, const struct jm_sample *s);
int jm_probes_sample(struct jm_probes *p, jm_sample_fn fn, void *ctx)
	__attribute__((warn_unused_result));

/* Stream sockets (by cookie): answer the kernel's PROBE with JM_CONN_DB
 * (keep copying) or JM_CONN_IGNORE; forget an answer never taken (the
 * socket is gone). */
int jm_probes_conn_set(struct jm_probes *p, uint64_t cookie, uint32_t state);
void jm_probes_conn_forget(struct jm_probes *p, uint64_t cookie);

/* Kernel loss counters (enum jm_stat), summed over CPUs. */
int jm_probes_stats(struct jm_probes *p, uint64_t out[JM_STAT_MAX]);

/* Bits set in the thread filter (bpf/maps.bpf.h), of 2^JM_TF_LOG2. */
uint64_t jm_probes_tfilter_bits(const struct jm_probes *p);

/* Did the programs retire the stack offset of saved registers they learn
 * (jm_tf_learn: two tasks disagreed), and fall back to the helper? */
bool jm_probes_regs_offset_retired(const struct jm_probes *p);

/* Number of possible CPUs the per-CPU maps were sized for. */
int jm_probes_ncpus(struct jm_probes *p);
#endif
