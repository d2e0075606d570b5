/* Workload identity: which job a freshly exec'd process belongs to, from
 * what the kernel reports (environment head, cgroup v2 path) and from the
 * kubelet's log directories on the node.
 *
 * Three independent sources, each a small pure function the agent core calls
 * when an exec event arrives:
 *   env.c      JOBMETER_JOB / configured env var sets (e.g. Airflow context)
 *   systemd.c  the innermost service/scope of the cgroup path + unit globs
 *   k8s.c      pod UID / container ID from kubelet cgroup paths, names from
 *              <log_root>/pods and <log_root>/containers, Job/CronJob names
 *
 * Everything here is allocation-free, uses only caller buffers, keeps no
 * state, and never trusts a length from input.  Only jm_k8s_resolve() touches
 * the file system (three directory scans at most). */
#ifndef JM_IDENTITY_H
#define JM_IDENTITY_H
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Longest unit name systemd allows (and jm_systemd_unit_from_cgroup gives). */
#define JM_ID_UNIT_MAX 255

/* Longest job name the sources produce (model.h JM_JOB_NAME_MAX - 1). */
#define JM_ID_JOB_MAX 127

/* Longest JOBMETER_JOB value the exec probe copies whole: it keeps at most
 * JM_ENV_STR_MAX - 1 (127) bytes of each NAME=value, and an entry of that
 * length may have been cut, so 126 - strlen("JOBMETER_JOB=") = 113. */
#define JM_ENV_JOB_MAX 113

/* ------------------------------------------------------------------ env --
 * env is the head of a process environment as the kernel copied it:
 * "NAME=value\0NAME=value\0...".  The copy may stop mid-entry; an entry not
 * terminated by '\0' inside len is ignored.  When a name appears twice the
 * first one wins (as getenv() does).
 *
 * Precedence:
 *   1. JOBMETER_JOB (non-empty) is the job; JOBMETER_RUN_ID, if present, the
 *      run id.  A JOBMETER_JOB that fails sanitising makes the whole call
 *      return 0: the process asked for a name we will not emit, and guessing
 *      another one would file it under a job it did not ask for.
 *   2. Otherwise the first env set (config order) whose vars are ALL present
 *      and non-empty gives v1<sep>v2<sep>...; its run_id_var, if configured
 *      and present, gives the run id.  If that composed name fails
 *      sanitising the call returns 0 (later sets are not tried, for the same
 *      reason as above).
 * Sanitising: printable ASCII (0x20..0x7e) only and at most JM_ID_JOB_MAX
 * bytes (and < jobsz); otherwise rejected, never truncated, because a
 * truncated name could merge two jobs.  An entry (NAME=value) of
 * JM_ENV_STR_MAX - 1 bytes or more counts as cut, on every path: the exec
 * probe keeps that many bytes of it, and a name taken whole from
 * /proc/PID/environ but cut at exec would split one job in two.  So
 * JOBMETER_JOB is at most JM_ENV_JOB_MAX (113) characters, and each
 * variable of a set at most 126 bytes with its "NAME=".  A run id is sanitised the same way
 * against runsz; a bad run id only empties run_id, the job still counts.
 * cfg may be NULL (only JOBMETER_JOB is then recognised).
 * Returns 1 with job (and run_id, possibly "") filled, 0 when no job
 * (job[0] = run_id[0] = '\0'). */
int jm_env_identity(const struct jm_config *cfg, const char *env, size_t len,
		    char *job, size_t jobsz, char *run_id, size_t runsz)
	__attribute__((warn_unused_result));

/* How many env var prefixes the kernel side copies at exec. */
#define JM_ENV_PREFIX_MAX 8
#define JM_ENV_PREFIX_LEN 32     /* "NAME=" plus NUL must fit */

/* The "NAME=" prefixes the BPF side should look for in a new environment, in
 * priority order: "JOBMETER_JOB=", "JOBMETER_RUN_ID=", then each env set's
 * vars (a set is taken whole or not at all, since a partial set can never
 * match), then the run_id_vars of the sets listed.  Duplicates are listed
 * once.
 * Truncation is silent and never an error: at most min(max,
 * JM_ENV_PREFIX_MAX) prefixes are written; a set whose vars do not all fit
 * (or has a name longer than JM_ENV_PREFIX_LEN - 2) is skipped and later
 * sets may still fit; a run id var that does not fit only loses run ids.
 * Returns the number of prefixes written. */
size_t jm_env_identity_prefixes(const struct jm_config *cfg,
				char out[][JM_ENV_PREFIX_LEN], size_t max);

/* The environment as the exec probe passes it, from a whole
 * /proc/PID/environ (the start-up scan): only the entries that start with a
 * jm_env_identity_prefixes() prefix, each cut to JM_ENV_STR_MAX - 1 bytes,
 * with the probe's bounds on the walk (JM_ENV_SCAN_MAX strings) and on the
 * copy (JM_ENV_LEN bytes).  Rewrites env in place and returns its new
 * length; jm_env_identity() on the result gives what it gives at exec. */
size_t jm_env_exec_view(const struct jm_config *cfg, char *env, size_t len);

/* -------------------------------------------------------------- systemd --
 * The unit a cgroup path belongs to: the innermost component ending in
 * ".service" or ".scope" below the path's first slice component (so nested
 * slices such as /system.slice/etl.slice/x.service and sub-cgroups a service
 * creates under itself, /system.slice/x.service/worker, both give
 * "x.service").  That slice is system.slice by default, but any other one
 * counts too: Slice= or systemd-run --slice puts a unit in /batch.slice/
 * x.service.  A prefix before the first slice is allowed so that cgroup v1
 * paths such as /sys/fs/cgroup/systemd/system.slice/x.service work.
 * Paths under machine.slice (machined's containers and VMs) and anything in
 * kubelet's tree (a "kubepods", "kubepods.slice" or "*-kubepods.slice"
 * component: pods are k8s.c's) give false.
 * Paths under "user.slice" give their innermost unit too but set *user_unit
 * (login sessions and user services are not jobs unless a rule names them,
 * see jm_systemd_match).  "init.scope" (PID 1), bare slices and anything
 * else give false.  Returns false as well when the unit does not fit in sz
 * or holds a non-printable byte.  user_unit may be NULL. */
bool jm_systemd_unit_from_cgroup(const char *cgroup_path, char *unit, size_t sz,
				 bool *user_unit);

/* First cfg->systemd rule whose unit_glob (jm_glob_match) matches unit.  For
 * a user unit only a rule whose glob has no wildcard and equals the unit name
 * counts: a broad "*.service" must not sweep up desktop sessions.  The job is
 * the rule's job, or the unit name minus ".service"/".scope".
 * Returns 1 with job filled, 0 when no rule matches or the name does not fit
 * in sz (job[0] = '\0'). */
int jm_systemd_match(const struct jm_config *cfg, const char *unit, bool user_unit,
		     char *job, size_t sz) __attribute__((warn_unused_result));

/* Both steps for one cgroup path: 1 with job filled, 0 otherwise. */
int jm_systemd_identity(const struct jm_config *cfg, const char *cgroup_path,
			char *job, size_t sz) __attribute__((warn_unused_result));

/* ----------------------------------------------------------- kubernetes -- */
#define JM_K8S_UID_MAX 37        /* 36 chars 8-4-4-4-12 (or 32 for static pods) + NUL */
#define JM_K8S_CID_LEN 64

enum jm_k8s_runtime {
	JM_K8S_RT_UNKNOWN = 0,      /* cgroupfs driver: a bare <CID> leaf */
	JM_K8S_RT_CONTAINERD,       /* "cri-containerd-" */
	JM_K8S_RT_CRIO,             /* "crio-" */
	JM_K8S_RT_DOCKER,           /* "docker-" (cri-dockerd) */
};

enum jm_k8s_qos {
	JM_K8S_QOS_GUARANTEED = 0,  /* no QoS level in the path */
	JM_K8S_QOS_BURSTABLE,
	JM_K8S_QOS_BESTEFFORT,
};

enum jm_k8s_driver { JM_K8S_DRIVER_SYSTEMD = 0, JM_K8S_DRIVER_CGROUPFS };

struct jm_k8s_ids {
	char pod_uid[JM_K8S_UID_MAX];            /* lower-case, dashes restored */
	char container_id[JM_K8S_CID_LEN + 1];   /* 64 lower-case hex */
	enum jm_k8s_runtime runtime;
	enum jm_k8s_qos qos;
	enum jm_k8s_driver driver;
};

/* Parse a kubelet container cgroup path (cgroup v2 "0::" path, or a v1 path
 * with its controller mount prefix).  Accepted shapes, with any prefix before
 * them (a v1 mount such as /sys/fs/cgroup/memory, a nested root such as
 * /kubelet.slice whose slices are then named kubelet-kubepods-...):
 *   systemd driver:
 *     .../[P-]kubepods.slice/[P-]kubepods-pod<U>.slice/<rt>-<CID>.scope
 *     .../[P-]kubepods.slice/[P-]kubepods-<q>.slice/[P-]kubepods-<q>-pod<U>.slice/<rt>-<CID>.scope
 *     where <U> is the pod UID with '-' written as '_', <q> is burstable or
 *     besteffort, <rt> is cri-containerd, crio or docker, and each slice's
 *     name must be its parent's name plus one "-level" (systemd's rule), so
 *     inconsistent near-misses are rejected.
 *   cgroupfs driver:
 *     .../kubepods[/burstable|/besteffort]/pod<UID>/<CID>     (UID with dashes)
 *     .../kubepods[/burstable|/besteffort]/pod<UID>/crio-<CID>
 * Components below the container cgroup (sub-cgroups a container makes for
 * itself) are allowed and ignored.  When the path nests several pods (a
 * kubelet running inside a container) the innermost one wins.
 * UIDs: 8-4-4-4-12 hex, or 32 hex with no separators (static pods, whose UID
 * is an MD5 hash).  CIDs: exactly 64 hex.  Hex may be upper-case in the path;
 * output is lower-case.  Anything else (wrong lengths, non-hex, misplaced
 * separators, crio-conmon-<CID> scopes, the pod slice itself) returns false.
 * The pause (sandbox) container parses like any other container; it simply
 * has no log symlink (see jm_k8s_resolve). */
bool jm_k8s_parse_cgroup(const char *path, struct jm_k8s_ids *ids)
	__attribute__((warn_unused_result));

const char *jm_k8s_runtime_name(enum jm_k8s_runtime rt); /* "cri-containerd", ..., "" */
const char *jm_k8s_qos_name(enum jm_k8s_qos qos);        /* "Guaranteed", "Burstable", "BestEffort" */

struct jm_k8s_names {
	char ns[64];               /* DNS label: <= 63 */
	char pod[254];             /* DNS subdomain: <= 253 */
	char container[64];        /* DNS label: <= 63; "" when not resolved */
	int restarts;              /* highest N of N.log; -1 when not resolved */
};

enum {
	JM_K8S_RESOLVE_NONE = 0,        /* no pods/<ns>_<pod>_<uid> directory */
	JM_K8S_RESOLVE_POD = 1,         /* ns and pod only */
	JM_K8S_RESOLVE_CONTAINER = 2,   /* ns, pod, container and restarts */
};

/* Names for ids from the kubelet log tree under log_root (normally /var/log,
 * or wherever the host's /var/log is mounted read-only):
 *   1. one scan of <log_root>/pods for "<ns>_<pod>_<uid>" (exactly two '_',
 *      non-empty parts; ns and pod never contain '_');
 *   2. one scan of <log_root>/containers for "<pod>_<ns>_<container>-<CID>.log"
 *      (the symlink kubelet makes per container instance);
 *   3. one scan of <log_root>/pods/<ns>_<pod>_<uid>/<container>/ for the
 *      highest "<N>.log" (rotated "N.log.<time>" files are not counted).
 * kubelet creates the containers/ symlink just after the container starts,
 * so an exec seen at container start can win the race: on
 * JM_K8S_RESOLVE_POD the caller should try again a little later.  The pause
 * container never gets one.
 * Returns JM_K8S_RESOLVE_*, or -1 with errno set when <log_root>/pods cannot
 * be read (no log root mounted) or log_root is too long. */
int jm_k8s_resolve(const char *log_root, const struct jm_k8s_ids *ids,
		   struct jm_k8s_names *out) __attribute__((warn_unused_result));

/* Is this process the pod's sandbox (the "pause" container)?  The sandbox
 * lives as long as the pod, so if it counted as a job process it would hold
 * one run open across init containers, sidecars and container restarts, and
 * its exit (always a kill) would decide or mask the outcome.  No API access
 * means no CRI metadata saying "sandbox", so two facts a node shows must
 * agree:
 *   - the process is named "pause" (comm, or the executable's basename):
 *     every CRI runtime's default sandbox image (registry.k8s.io/pause,
 *     CRI-O's pause_image) runs /pause and nothing else;
 *   - its container has no kubelet log name (names->container is ""):
 *     kubelet writes logs for every container of the pod spec, never for the
 *     sandbox.  This keeps a real container whose program is called "pause"
 *     a job process once kubelet has linked its log.
 * Neither alone is enough: the log link appears just after a container
 * starts (so its absence alone would drop real containers), and "pause" is
 * an ordinary word.  names may be NULL (no log root): the name decides. */
bool jm_k8s_is_sandbox(const char *comm, const char *exe, const struct jm_k8s_names *names);

/* Job name and workload kind from the pod name alone (no API access).
 * job = "<ns>/<name>", kind = "CronJob", "Job", "Deployment" or "Pod".
 * A job that does not fit in sz (a bare pod's name may have 253
 * characters, the model's job names 127) is cut and ends in "~" and 8 hex
 * digits of a hash of the whole "<ns>/<name>", so that two pods sharing
 * the kept prefix stay two jobs (with sz < 11 it is only cut).
 * Let the pod name be <A>-<S>:
 *   - S not 5 lower-case alphanumerics (or no '-'):       Pod, name = pod.
 *   - A = <B>-<D>, D all digits with value in [25,000,000, 44,444,444):
 *                                                         CronJob, name = B.
 *     D is the Job's scheduled time in minutes since the epoch.  The floor
 *     (2017-07-14) sits above every YYYYMMDD date up to year 2499, so a Job
 *     named "etl-20240101" stays a Job; the ceiling (2054-07) sits below the
 *     smallest 8-digit all-digit pod-template-hash (its digits are 4..9, see
 *     below), so such a Deployment is never read as a CronJob.
 *   - A = <B>-<D>, D a plausible pod-template-hash:       Deployment, name = B.
 *     Current Kubernetes encodes the hash's decimal digits 0..9 as
 *     "4","5","6","7","8","9","b","c","d","f", so D qualifies when it is 6..10
 *     characters and either uses only that alphabet (this covers all-digit
 *     hashes) or mixes lower-case letters and digits.
 *   - otherwise:                                          Job, name = A.
 * Known ambiguities (the pod name alone cannot tell):
 *   - a DaemonSet or bare ReplicaSet pod (<name>-<5>) reads as a Job;
 *   - a bare pod whose last segment is 5 lower-alnum ("etl-batch") reads as
 *     the Job "etl";
 *   - a Job whose last name segment looks like a hash ("etl-sales2024")
 *     reads as a Deployment; an all-digit one holding any of 0..3
 *     ("load-20240101") does not;
 *   - StatefulSet pods (<name>-<ordinal>) stay per-pod "Pod"s;
 *   - pre-2017 decimal pod-template-hashes in the CronJob range read as
 *     CronJobs. */
void jm_k8s_job_name(const char *ns, const char *pod, char *job, size_t sz,
		     char *kind, size_t kindsz);
#endif
