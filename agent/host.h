/* Host facts that every batch carries: who sent it (AgentIdentity) and what
 * the host offered and used during the window (HostUsage), so reports can
 * price capacity no job used.
 *
 * Flow in the agent:
 *   jm_host_identity(&batch.agent, state_dir)     once at start
 *   jm_host_sampler_init(&sampler, NULL)          once at start (baseline)
 *   jm_host_sample(&sampler, &batch.host)         at every window end
 */
#ifndef JM_HOST_H
#define JM_HOST_H
#include <stdbool.h>
#include <stdint.h>

#include "model.h"

#define JM_HOST_PATH_MAX 256

/* Fill *id: host name, boot id (/proc/sys/kernel/random/boot_id), kernel
 * release (uname -r), agent version (JOBMETER_VERSION) and the agent id.
 *
 * The agent id is read from <state_dir>/agent-id.  When that file does not
 * exist it is created exactly once: 128 random bits from getrandom() as 32
 * lowercase hex digits, written to a temporary file, fsync'd, then linked in
 * place (link() so two agents racing on the same state_dir agree on one id)
 * and the directory fsync'd.  state_dir is created (mode 0700, parents too)
 * when missing.  An operator may pre-seed the file with any id of 1..63
 * printable, non-space ASCII characters (trailing newline allowed).
 *
 * Returns 0, or a negative errno: -EBADMSG when agent-id exists but holds no
 * valid id (never silently replaced: a new id would restart the collector's
 * view of this host), -ENAMETOOLONG for a too long state_dir, or the errno of
 * the failing system call. */
int jm_host_identity(struct jm_agent_identity *id, const char *state_dir)
	__attribute__((warn_unused_result));

/* CPU and memory sampler.  Plain data: no resources to release. */
struct jm_host_sampler {
	char proc_root[JM_HOST_PATH_MAX];  /* "/proc" unless a test points elsewhere */
	long user_hz;                      /* sysconf(_SC_CLK_TCK) */
	bool have_prev;
	uint64_t prev_busy_ticks;          /* from the aggregate "cpu" line */
	uint64_t prev_mono_ns;             /* CLOCK_MONOTONIC of the previous sample */
};

/* Take the baseline sample so the first jm_host_sample() covers the time
 * since this call.  proc_root NULL means "/proc".  Returns 0 or -errno. */
int jm_host_sampler_init(struct jm_host_sampler *s, const char *proc_root)
	__attribute__((warn_unused_result));

/* Fill *u for the span since the previous sample (or init):
 *   cpu_cores       online CPUs (sysconf)
 *   cpu_busy_s      busy CPU seconds over all CPUs from <proc>/stat: the sum
 *                   of user nice system idle iowait irq softirq steal minus
 *                   idle and iowait, in USER_HZ ticks (guest time is already
 *                   inside user/nice, so it is not added again); a counter
 *                   that went backwards (CPU hot-unplug) gives 0, not a wrap
 *   mem_total_bytes MemTotal from <proc>/meminfo
 *   mem_used_bytes  MemTotal - MemAvailable (MemFree when the kernel has no
 *                   MemAvailable) at the time of this call
 *   window_s        CLOCK_MONOTONIC seconds since the previous sample
 * On error *u is zeroed, the baseline is kept and -errno is returned
 * (-EBADMSG when a /proc file does not look as expected). */
int jm_host_sample(struct jm_host_sampler *s, struct jm_host_usage *u)
	__attribute__((warn_unused_result));
#endif
