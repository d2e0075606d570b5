#include "process.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "identity/identity.h"
#include "log.h"
#include "procfs.h"
#include "rules.h"
#include "idmap.h"

#define GIB (1024.0 * 1024.0 * 1024.0)
#define CGCACHE 256
/* How long an exited process's run waits for its leader's last CPU
 * (jm_ev_reap): the parent's wait() and an RCU grace period, ms as a rule.
 * A parent that reaps later than this leaves that CPU out. */
#define REAP_WAIT_NS 1000000000ull

struct proc {
	uint32_t tgid;
	struct jm_run *run;
	bool is_root;
	uint64_t ctr;                  /* hash of its container's id (kubelet), 0 = none */
	/* Its run's k8s.container label is still unknown: kubelet links the
	 * container's log just after the container starts, often after its
	 * first exec.  The sampler looks again (K8S_NAME_TRIES times). */
	struct jm_k8s_ids *k8s_retry;
	unsigned k8s_tries;
	uint64_t cpu_base_ns;          /* CPU already used when tracking began */
	uint64_t cpu_reported_ns;      /* handed to the run so far */
	struct jm_proc_io io_reported;
	uint64_t last_sample_mono;
	uint64_t last_rss;             /* bytes, at the last sample (0 = never) */
	uint64_t max_rss_seen;         /* the largest of its samples */
	uint64_t prev_rss;             /* the sample before the last (0 = none) */
	/* Entered its job (or moved to it) at an exec: the kernel's maxrss
	 * then, which is not this job's (0: joined by fork, or found running). */
	uint64_t rss_floor;
	uint64_t image_peak;           /* the largest peak of images it exec'd
					* from inside this run (sched_prepare_exec) */
	bool exited;                   /* kept until the io ring is drained */
	bool await_reap;               /* its run is held for a jm_ev_reap */
	uint64_t reap_by_mono;         /* ... until then */
	bool base_pending;             /* found at start-up: cpu_base_ns to be
					* taken from the sampler's own source */
	int64_t born_ns;               /* ... and when it started (Unix ns) */
	int missing;                   /* samples that found it gone */
	/* What the current sampler pass (sample_gen) saw of it. */
	uint32_t sample_gen;
	bool s_leader, s_zombie;
	uint32_t s_live_threads;       /* records of threads other than a zombie leader */
	uint64_t s_runtime_ns, s_rss_bytes, s_rchar, s_wchar;
	struct jm_sock_io s_sock;
};

struct cg_entry {
	uint64_t id;
	char path[256];
};

struct jm_tracker {
	const struct jm_config *cfg;
	struct jm_probes *probes;
	struct jm_jobs *jobs;
	struct jm_loss *loss;
	struct jm_idmap procs;
	int64_t mono_to_unix;          /* unix_ns = mono_ns + offset */
	char cg2root[256];
	struct cg_entry cgcache[CGCACHE];
	unsigned cg_next;
	uint32_t *gone;                /* exited processes, removed at the next flush */
	size_t n_gone, cap_gone;
	uint32_t sample_gen;           /* sampler passes so far */
	uint64_t page_size;
	bool sample_iter_broken;       /* iterator failed once: /proc from now on */
	char env_buf[65536];           /* /proc/PID/environ during the start-up scan */
};

static int64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void jm_tracker_clock_sync(struct jm_tracker *t)
{
	/* Bracket the realtime read with two monotonic reads; take the middle. */
	int64_t m0 = clock_ns(CLOCK_MONOTONIC), r = clock_ns(CLOCK_REALTIME),
		m1 = clock_ns(CLOCK_MONOTONIC);
	t->mono_to_unix = r - (m0 + (m1 - m0) / 2);
}

int64_t jm_tracker_unix_ns(const struct jm_tracker *t, uint64_t mono_ns)
{
	return (int64_t)mono_ns + t->mono_to_unix;
}

struct jm_tracker *jm_tracker_new(const struct jm_config *cfg, struct jm_probes *probes,
				  struct jm_jobs *jobs, struct jm_loss *loss)
{
	struct jm_tracker *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (jm_idmap_init(&t->procs, 1024)) {
		free(t);
		return NULL;
	}
	t->cfg = cfg;
	t->probes = probes;
	t->jobs = jobs;
	t->loss = loss;
	long ps = sysconf(_SC_PAGESIZE);
	t->page_size = ps > 0 ? (uint64_t)ps : 4096;
	jm_cgroup2_root(t->cg2root, sizeof(t->cg2root));
	jm_tracker_clock_sync(t);
	return t;
}

void jm_tracker_free(struct jm_tracker *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->procs.cap; i++) {
		struct proc *p = t->procs.vals[i];
		if (t->procs.keys[i] && p)
			free(p->k8s_retry);
		free(p);
	}
	jm_idmap_free(&t->procs);
	free(t->gone);
	free(t);
}

size_t jm_tracker_live(const struct jm_tracker *t)
{
	return t->procs.len;
}

bool jm_tracker_alive(struct jm_tracker *t, uint32_t tgid)
{
	struct proc *p = jm_idmap_get(&t->procs, tgid);
	return p && !p->exited;
}

struct jm_run *jm_tracker_run_of(struct jm_tracker *t, uint32_t tgid)
{
	struct proc *p = jm_idmap_get(&t->procs, tgid);
	return p ? p->run : NULL;
}

static const char *cgroup_path(struct jm_tracker *t, uint64_t id, uint32_t pid)
{
	for (unsigned i = 0; i < CGCACHE; i++)
		if (t->cgcache[i].id == id && id)
			return t->cgcache[i].path;
	struct cg_entry *e = &t->cgcache[t->cg_next++ % CGCACHE];
	e->id = 0;
	/* The live process tells us cheaply; a walk of the tree otherwise. */
	int rc = jm_proc_cgroup(pid, e->path, sizeof(e->path));
	if (rc < 0 &&
	    (!t->cg2root[0] || jm_cgroup_path_by_id(t->cg2root, id, e->path, sizeof(e->path))))
		return NULL;
	/* Cached by the v2 id only when the path is that id's cgroup below the
	 * v2 root: on cgroup v1 hosts every process shares the root's id and
	 * the path is its own v1 path, and a process may have moved since the
	 * event (sh -c 'echo $$ > .../cgroup.procs; exec job'). */
	e->id = rc != JM_CGROUP_V1 && strcmp(e->path, "/") != 0 &&
		(rc < 0 || jm_cgroup_id_is(t->cg2root, e->path, id)) ? id : 0;
	return e->path;
}

/* Who does a process belong to?  Sources in priority order.  Fills job,
 * run_id, source; labels go to the run afterwards. */
struct attribution {
	char job[JM_JOB_NAME_MAX];
	char run_id[JM_RUN_ID_MAX];
	const char *source;
	bool k8s;
	struct jm_k8s_names k8s_names;
	char unit[JM_ID_UNIT_MAX + 1];   /* whole: it tells concurrent runs apart (key) */
	/* Tells concurrent runs of one job apart: a pod's UID (the pods of
	 * a Job with parallelism, overlapping CronJob runs), a systemd unit
	 * (units one rule maps to one job).  A pod's containers share it. */
	char key[JM_RUN_KEY_MAX];
	uint64_t ctr;                  /* hash of the container id, 0 = not a container */
	bool ctr_unnamed;              /* resolved to the pod only: ids to look again */
	struct jm_k8s_ids ids;
};

static uint64_t ctr_hash(const char *cid)
{
	uint64_t h = 1469598103934665603ULL;    /* FNV-1a */
	for (; *cid; cid++)
		h = (h ^ (unsigned char)*cid) * 1099511628211ULL;
	return h ? h : 1;
}

/* A process that enters a container another live top-level process of the
 * run already holds came in by an exec into the container (kubectl exec,
 * a liveness or readiness exec probe: runc exec joins the container's
 * cgroup): it is part of the run, but how it ends is not how the
 * container ends -- a readiness probe exits 1 until the app is ready. */
static bool ctr_has_root(const struct jm_tracker *t, const struct jm_run *r, uint64_t ctr)
{
	if (!ctr || jm_run_live(r) <= 1)
		return false;
	for (size_t i = 0; i < t->procs.cap; i++) {
		const struct proc *q = t->procs.vals[i];
		if (t->procs.keys[i] && q && q->run == r && q->is_root && !q->exited &&
		    q->ctr == ctr)
			return true;
	}
	return false;
}

/* Which concurrent run of its job a process named by its environment is:
 * its cgroup's pod or systemd unit, as for processes those name.  Two pods
 * of one CronJob, or two instances of a template unit, that set the same
 * JOBMETER_JOB are two runs, not one run whose outcome the first failure
 * decides.  (No kubelet log lookup: the key is the pod UID alone.) */
static void env_key(struct jm_tracker *t, const struct jm_proc_facts *f, struct attribution *a)
{
	struct jm_k8s_ids ids;
	bool user = false;

	if (!f->cgroup)
		return;
	if (jm_systemd_unit_from_cgroup(f->cgroup, a->unit, sizeof(a->unit), &user)) {
		snprintf(a->key, sizeof(a->key), "unit:%s", a->unit);
		if (user)                /* a login session: no label */
			a->unit[0] = '\0';
		return;
	}
	a->unit[0] = '\0';
	if (t->cfg->k8s_enabled && jm_k8s_parse_cgroup(f->cgroup, &ids)) {
		snprintf(a->key, sizeof(a->key), "pod:%s", ids.pod_uid);
		a->ctr = ctr_hash(ids.container_id);   /* exec probes carry its env too */
	}
}

static bool attribute(struct jm_tracker *t, const char *env, size_t env_len,
		      const struct jm_proc_facts *f, struct attribution *a)
{
	memset(a, 0, sizeof(*a));
	if (env_len && jm_env_identity(t->cfg, env, env_len, a->job, sizeof(a->job),
				       a->run_id, sizeof(a->run_id)) == 1) {
		a->source = "env";
		if (!a->run_id[0])       /* a run id already tells runs apart */
			env_key(t, f, a);
		return true;
	}
	int idx = jm_rules_match(t->cfg, f);
	if (idx >= 0) {
		snprintf(a->job, sizeof(a->job), "%s", t->cfg->jobs[idx].name);
		a->source = "rule";
		return true;
	}
	if (!f->cgroup)
		return false;
	if (t->cfg->n_systemd && jm_systemd_identity(t->cfg, f->cgroup, a->job, sizeof(a->job)) == 1) {
		bool user = false;
		(void)jm_systemd_unit_from_cgroup(f->cgroup, a->unit, sizeof(a->unit), &user);
		snprintf(a->key, sizeof(a->key), "unit:%s", a->unit);
		a->source = "systemd";
		return true;
	}
	struct jm_k8s_ids ids;
	if (t->cfg->k8s_enabled && jm_k8s_parse_cgroup(f->cgroup, &ids)) {
		char kind[16];
		int r = jm_k8s_resolve(t->cfg->k8s_log_root, &ids, &a->k8s_names);
		/* The sandbox outlives every container of the pod: it must
		 * neither hold a run open nor decide its outcome (identity.h). */
		if (jm_k8s_is_sandbox(f->comm, f->exe, r >= 0 ? &a->k8s_names : NULL))
			return false;
		if (r >= JM_K8S_RESOLVE_POD) {
			jm_k8s_job_name(a->k8s_names.ns, a->k8s_names.pod, a->job, sizeof(a->job),
					kind, sizeof(kind));
		} else {
			/* No kubelet logs visible: still a job, named by pod UID. */
			snprintf(a->job, sizeof(a->job), "pod/%s", ids.pod_uid);
			a->k8s_names.restarts = -1;
		}
		/* A container restart is a new run of the same job (a
		 * restart when the previous one failed): run ids are generated. */
		a->k8s = true;
		a->ctr = ctr_hash(ids.container_id);
		a->ids = ids;
		a->ctr_unnamed = r == JM_K8S_RESOLVE_POD;
		snprintf(a->key, sizeof(a->key), "pod:%s", ids.pod_uid);
		a->source = "kubernetes";
		return true;
	}
	return false;
}

static struct proc *proc_add(struct jm_tracker *t, uint32_t tgid, struct jm_run *run,
			     bool is_root, uint64_t now_mono)
{
	struct proc *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->tgid = tgid;
	p->run = run;
	p->is_root = is_root;
	p->last_sample_mono = now_mono;
	if (jm_idmap_put(&t->procs, tgid, p)) {
		free(p);
		return NULL;
	}
	return p;
}

/* A process ended: its run learns now (so the job's next process starts a
 * new run), but the tgid -> run mapping stays until jm_tracker_flush_exits():
 * payloads it sent before exiting may still be in the io ring. */
static void proc_gone(struct jm_tracker *t, struct proc *p, int status, int64_t now)
{
	if (p->exited)
		return;
	p->exited = true;
	if (t->n_gone == t->cap_gone) {
		size_t nc = t->cap_gone ? t->cap_gone * 2 : 64;
		uint32_t *ng = realloc(t->gone, nc * sizeof(*ng));
		if (ng) {
			t->gone = ng;
			t->cap_gone = nc;
		}
	}
	if (t->n_gone < t->cap_gone)
		t->gone[t->n_gone++] = p->tgid;
	jm_run_proc_exit(p->run, p->is_root, status, now);
}

static void proc_forget(struct jm_tracker *t, uint32_t tgid)
{
	struct proc *p = jm_idmap_del(&t->procs, tgid);

	if (p && p->await_reap)          /* pid reused first: that CPU is lost */
		jm_run_unhold(p->run);
	if (p)
		free(p->k8s_retry);
	free(p);
}

static struct jm_run *start_run(struct jm_tracker *t, const struct attribution *a, int64_t now)
{
	bool created;
	struct jm_run *r = jm_jobs_proc_start_keyed(t->jobs, a->job, a->run_id, a->key, a->source, now,
						     &created);
	/* A process joining a live run (another container of the pod) does
	 * not relabel it. */
	if (!r || !created)
		return r;
	if (a->k8s) {
		jm_run_label(r, "k8s.namespace", a->k8s_names.ns);
		jm_run_label(r, "k8s.pod", a->k8s_names.pod);
		if (a->k8s_names.container[0])
			jm_run_label(r, "k8s.container", a->k8s_names.container);
	}
	if (a->unit[0])
		jm_run_label(r, "systemd.unit", a->unit);
	return r;
}

/* Join NUL-separated argv into one space-separated string. */
static void join_args(const char *args, size_t n, char *out, size_t outsz)
{
	size_t i, o = 0;
	for (i = 0; i < n && o + 1 < outsz; i++)
		out[o++] = args[i] ? args[i] : ' ';
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = 0;
}

/* Processes forked by a rule-matched process before user space matched it
 * were not inherited by the kernel: find them in /proc. */
/* jm_probes_track, then make sure the process still lived when its entry
 * went in: one that exited just before never has its exit reported for
 * that entry (the kernel's exit program found none), and the stale entry
 * would hold its run open and count a process that reuses the pid as a
 * job process.  start_ticks: its start time read before (0: not known).
 * 0, -ESRCH when it was gone (untracked again), or the track error. */
static int track_live(struct jm_tracker *t, uint32_t pid, int32_t threads, uint64_t start_ticks)
{
	struct jm_pstat st, th;
	int err = jm_probes_track(t->probes, pid, threads);

	if (err)
		return err;
	if (jm_proc_stat(pid, &st) == 0 && (!start_ticks || st.start_ticks == start_ticks) &&
	    (st.state != 'Z' || jm_proc_live_thread_stat(pid, &th, NULL) == 0))
		return 0;
	jm_probes_untrack(t->probes, pid);
	return -ESRCH;
}

struct sweep { struct jm_tracker *t; uint32_t parent; struct jm_run *run; uint64_t now; };

static int sweep_child(void *ctx, uint32_t pid)
{
	struct sweep *s = ctx;
	struct jm_pstat st;
	if (jm_idmap_get(&s->t->procs, pid) || jm_proc_stat(pid, &st) || st.ppid != s->parent)
		return 0;
	int32_t threads = 1;
	uint64_t rt = 0;
	if (jm_proc_threads(pid, &threads, &rt) || track_live(s->t, pid, threads, st.start_ticks))
		return 0;
	jm_run_proc_join(s->run);
	struct proc *p = proc_add(s->t, pid, s->run, false, s->now);
	if (p)
		p->cpu_base_ns = 0;         /* forked after the parent started: all of it */
	struct sweep sub = { s->t, pid, s->run, s->now };
	(void)jm_proc_each(sweep_child, &sub);
	return 0;
}

static void charge(struct proc *p, const struct jm_pstat *st, const struct jm_proc_io *io,
		   uint64_t rss, uint64_t until_mono);

/* A process exec'd into another job or run: what it used up to the exec
 * goes to the run it leaves, not to the one it joins at the next sampler
 * pass (up to a second later, or at its exit).  The kernel counted it at
 * the exec itself; memory held by the old image is charged up to the exec
 * at the RSS its last sample saw (its peak, if it was never sampled). */
static void settle_before_move(struct proc *p, const struct jm_ev_exec *e)
{
	struct jm_pstat st = { .state = 'R', .cpu_ns = e->cpu_ns, .rss_bytes = 0 };

	if (!(e->flags & JM_F_TRACKED))  /* not counted by the kernel before */
		return;
	/* Never sampled: its peak.  That is maxrss, unless the process
	 * entered the run it leaves at an exec (maxrss then holds what it
	 * brought in) and the kernel told the old image's own peak. */
	uint64_t peak = e->maxrss_bytes;
	if (p->rss_floor && peak <= p->rss_floor) {
		uint64_t own = e->image_peak_bytes > p->image_peak ? e->image_peak_bytes : p->image_peak;
		if (own)
			peak = own;
	}
	/* rss_bytes 0: the new image's first sample (or its exit's peak)
	 * starts afresh. */
	charge(p, &st, &e->io, p->last_rss ? p->last_rss : peak, e->hdr.ts_ns);
	/* The kernel's maxrss keeps the old image's peak across the exec:
	 * up to here it is the old run's, and the new image's samples start
	 * from nothing. */
	p->rss_floor = e->maxrss_bytes;
	p->image_peak = 0;
	p->prev_rss = 0;
	p->max_rss_seen = 0;
}

/* Does any jobs: rule match on the executable's path? */
static bool has_exe_rule(const struct jm_config *cfg)
{
	for (size_t i = 0; i < cfg->n_jobs; i++)
		if (cfg->jobs[i].exe_glob[0])
			return true;
	return false;
}

static void on_exec(struct jm_tracker *t, const struct jm_ev_exec *e)
{
	struct proc *p = jm_idmap_get(&t->procs, e->hdr.tgid);
	if (p && p->exited) {                  /* pid reused before the flush */
		proc_forget(t, e->hdr.tgid);
		p = NULL;
	}
	int64_t now = jm_tracker_unix_ns(t, e->hdr.ts_ns);
	size_t env_len = e->env_len < sizeof(e->env) ? e->env_len : sizeof(e->env);
	struct attribution a;
	char argv[JM_ARGS_LEN + 1], comm[JM_COMM_LEN + 1], exe[JM_PATH_LEN + 1];

	join_args(e->args, e->args_len < JM_ARGS_LEN ? e->args_len : JM_ARGS_LEN, argv, sizeof(argv));
	snprintf(comm, sizeof(comm), "%.*s", JM_COMM_LEN, e->comm);
	snprintf(exe, sizeof(exe), "%.*s", JM_PATH_LEN, e->filename);

	if (p) {
		/* A job process exec'd something else.  A new identity variable
		 * moves it (and what it forks from now on) to that job, or to
		 * that run of its job: a scheduler that tags each run with
		 * JOBMETER_RUN_ID under one JOBMETER_JOB. */
		if (!(e->flags & JM_F_ENV_MATCH) ||
		    jm_env_identity(t->cfg, e->env, env_len, a.job, sizeof(a.job), a.run_id,
				    sizeof(a.run_id)) != 1 ||
		    (strcmp(a.job, jm_run_job(p->run)) == 0 &&
		     (!a.run_id[0] || strcmp(a.run_id, jm_run_id(p->run)) == 0))) {
			/* An exec inside its run: the image it replaced was
			 * the run's, and its peak is in maxrss only, mixed
			 * with what the process brought in (on_exit_ev). */
			if (e->image_peak_bytes > p->image_peak)
				p->image_peak = e->image_peak_bytes;
			return;
		}
		a.source = "env";
		a.k8s = false;
		a.unit[0] = 0;
		a.key[0] = 0;
		if (!a.run_id[0]) {
			/* An entrypoint script of a pod or unit that exports
			 * JOBMETER_JOB and execs the job: still its pod's or
			 * unit's run, not one shared with other pods. */
			struct jm_proc_facts f = { .comm = comm, .exe = exe, .argv = argv,
						   .cgroup = cgroup_path(t, e->cgroup_id, e->hdr.tgid) };
			env_key(t, &f, &a);
		}
		struct jm_run *nr = start_run(t, &a, now);
		if (!nr)
			return;
		settle_before_move(p, e);
		jm_run_proc_exit(p->run, false, 0, now);   /* leaves the parent job's run */
		p->run = nr;
		p->is_root = true;
		free(p->k8s_retry);          /* a name for the run it left */
		p->k8s_retry = NULL;
		return;
	}

	/* The kernel gives the path execve() was given: "./etl.sh", "bin/etl"
	 * from a shell in another directory.  exe: rules name the executable's
	 * path, which /proc/PID/exe holds (what the start-up scan reads), for
	 * as long as the process lives. */
	if (exe[0] != '/' && has_exe_rule(t->cfg)) {
		char abs[JM_PATH_LEN + 1];
		if (jm_proc_exe(e->hdr.tgid, abs, sizeof(abs)) > 0 && abs[0] == '/')
			snprintf(exe, sizeof(exe), "%s", abs);
	}
	struct jm_proc_facts f = { .comm = comm, .exe = exe, .argv = argv, .cgroup = NULL };
	f.cgroup = cgroup_path(t, e->cgroup_id, e->hdr.tgid);
	if (!attribute(t, (e->flags & JM_F_ENV_MATCH) ? e->env : "", (e->flags & JM_F_ENV_MATCH) ? env_len : 0,
		       &f, &a)) {
		if (e->flags & JM_F_TRACKED)              /* env prefix matched, no job */
			jm_probes_untrack(t->probes, e->hdr.tgid);
		return;
	}
	struct jm_run *r = start_run(t, &a, now);
	if (!r) {                        /* the job cap: jobs.c counts it */
		if (e->flags & JM_F_TRACKED)
			jm_probes_untrack(t->probes, e->hdr.tgid);
		return;
	}
	/* A top-level process of its run, also when it joins one already live
	 * (a second instance of a rule-matched program, a container of the
	 * same pod): the first of them to exit decides, unless a later one
	 * fails (jobs.h).  Not "the first to start": a pod's sidecar often
	 * starts before the main container and exits 0 after it failed. */
	p = proc_add(t, e->hdr.tgid, r, !ctr_has_root(t, r, a.ctr), e->hdr.ts_ns);
	if (!p)
		return;
	p->ctr = a.ctr;
	/* The run this process started has no container name yet. */
	if (a.ctr_unnamed && jm_run_live(r) == 1 && (p->k8s_retry = malloc(sizeof(a.ids))))
		*p->k8s_retry = a.ids;
	/* The kernel's maxrss survives the exec: it holds the images before
	 * this one and the parent's peak the fork copied (an Airflow worker
	 * holding 300 MiB that started the job).  None of that was the job's;
	 * only what grows past it is (on_exit_ev). */
	p->rss_floor = e->maxrss_bytes;
	if (!(e->flags & JM_F_TRACKED)) {
		/* Matched in user space: from exec on, the kernel counts it. Its
		 * CPU since fork is its own, so the base stays 0 (as rusage). */
		/* -ESRCH, exited before: its exit event (every exit is
		 * reported when rules match in user space) ends it, or the
		 * sampler does when that was lost. */
		int err = track_live(t, e->hdr.tgid, 1, 0);
		if (err && err != -ESRCH) {
			t->loss->map_full++;
			jm_warn("cannot track pid %u of job %s: %s", e->hdr.tgid, a.job, strerror(-err));
		}
		struct sweep s = { t, e->hdr.tgid, r, e->hdr.ts_ns };
		(void)jm_proc_each(sweep_child, &s);
	}
}

static void on_fork(struct jm_tracker *t, const struct jm_ev_fork *e)
{
	struct proc *parent = jm_idmap_get(&t->procs, e->ppid);
	struct proc *old = jm_idmap_get(&t->procs, e->hdr.tgid);
	if (old && old->exited)
		proc_forget(t, e->hdr.tgid);
	if (!parent || parent->exited) {
		/* The kernel inherited membership from a process we dropped. */
		jm_probes_untrack(t->probes, e->hdr.tgid);
		return;
	}
	if (jm_idmap_get(&t->procs, e->hdr.tgid))
		return;
	jm_run_proc_join(parent->run);
	if (!proc_add(t, e->hdr.tgid, parent->run, false, e->hdr.ts_ns))
		jm_warn("out of memory tracking pid %u", e->hdr.tgid);
}

/* Hand the difference between what a process has used and what its run has
 * been told so far. */
static void report(struct proc *p, uint64_t cpu_total_ns, const struct jm_proc_io *io,
		   uint64_t rss, double mem_gib_s)
{
	struct jm_counters d = { 0 };
	uint64_t cpu = cpu_total_ns > p->cpu_base_ns ? cpu_total_ns - p->cpu_base_ns : 0;

	if (cpu > p->cpu_reported_ns) {
		d.cpu_s = (double)(cpu - p->cpu_reported_ns) / 1e9;
		p->cpu_reported_ns = cpu;
	}
#define DELTA(f) if (io->f > p->io_reported.f) { d.f = io->f - p->io_reported.f; p->io_reported.f = io->f; }
	DELTA(file_read_bytes);
	DELTA(file_write_bytes);
	DELTA(net_rx_bytes);
	DELTA(net_tx_bytes);
#undef DELTA
	d.peak_rss_bytes = rss;
	d.mem_gib_s = mem_gib_s;
	jm_run_add(p->run, &d);
}

static void on_exit_ev(struct jm_tracker *t, const struct jm_ev_exit *e)
{
	struct proc *p = jm_idmap_get(&t->procs, e->hdr.tgid);
	struct jm_proc_io io;

	if (!p || p->exited)
		return;
	if (e->flags & JM_F_TRACKED) {
		io = e->io;
	} else {
		/* Exited before user space asked the kernel to track it. */
		io = p->io_reported;
		jm_probes_untrack(t->probes, e->hdr.tgid);
	}
	/* Memory over the last stretch of life, since the last sample (or
	 * since birth, for a process shorter than the sampling period: then
	 * its peak is the best figure there is).  A process still growing at
	 * its last sample (above the one before, and the largest so far)
	 * whose peak no sample saw reached that peak after it: the tail held
	 * the peak, not the sample (a 300 MiB loader sampled halfway through
	 * touching its memory was charged 120 MiB for the rest of its life).
	 * Flat samples keep theirs: a brief spike no sample saw is not
	 * charged for the whole tail. */
	uint64_t peak = e->maxrss_bytes;
	/* Entered or moved to this run at an exec: a maxrss no higher than
	 * at that exec is what the process brought in (a big parent's peak,
	 * or the old job's image), so the run's peak is that of the images
	 * that ran in it: the current one's address-space high-water mark,
	 * the peaks of images it exec'd from inside the job (taken at their
	 * exec), and the samples of all of them.  A maxrss above the exec's
	 * is the job's own (an image of the job grew past it).  With none (a
	 * kernel that drops the mm before the exit tracepoint, a process no
	 * sample saw), maxrss: an upper bound rather than nothing. */
	if (p->rss_floor && peak <= p->rss_floor) {
		uint64_t own = e->mm_peak_bytes > p->max_rss_seen ? e->mm_peak_bytes : p->max_rss_seen;
		if (p->image_peak > own)
			own = p->image_peak;
		if (own)
			peak = own;
	}
	uint64_t rss = p->last_rss ? p->last_rss : peak;
	if (p->last_rss && p->last_rss > p->prev_rss && p->last_rss >= p->max_rss_seen &&
	    peak > p->max_rss_seen)
		rss = peak;
	double tail_s = e->hdr.ts_ns > p->last_sample_mono ?
			(double)(e->hdr.ts_ns - p->last_sample_mono) / 1e9 : 0;
	report(p, e->cpu_ns, &io, peak, (double)rss / GIB * tail_s);
	if (e->flags & JM_F_REAP) {
		p->await_reap = true;
		p->reap_by_mono = e->hdr.ts_ns + REAP_WAIT_NS;
		jm_run_hold(p->run);
	}
	proc_gone(t, p, e->status, jm_tracker_unix_ns(t, e->hdr.ts_ns));
}

/* The leader's CPU after its exit event: to the run it ended in. */
static void on_reap(struct jm_tracker *t, const struct jm_ev_reap *e)
{
	struct proc *p = jm_idmap_get(&t->procs, e->hdr.tgid);
	struct jm_counters d = { 0 };

	if (!p || !p->exited || !p->await_reap)
		return;
	d.cpu_s = (double)e->cpu_ns / 1e9;
	jm_run_add(p->run, &d);
	p->await_reap = false;
	jm_run_unhold(p->run);
}

int jm_tracker_on_event(struct jm_tracker *t, const void *data, size_t len)
{
	const struct jm_ev_hdr *h = data;

	if (len < sizeof(*h))
		return 0;
	switch (h->type) {
	case JM_EV_EXEC:
		if (len >= sizeof(struct jm_ev_exec))
			on_exec(t, data);
		break;
	case JM_EV_FORK:
		if (len >= sizeof(struct jm_ev_fork))
			on_fork(t, data);
		break;
	case JM_EV_EXIT:
		if (len >= sizeof(struct jm_ev_exit))
			on_exit_ev(t, data);
		break;
	case JM_EV_REAP:
		if (len >= sizeof(struct jm_ev_reap))
			on_reap(t, data);
		break;
	case JM_EV_OOM: {
		struct proc *p = jm_idmap_get(&t->procs, h->tgid);
		if (p)
			jm_run_oom(p->run);
		break;
	}
	}
	return 0;
}

static void flush_exits(struct jm_tracker *t, bool all)
{
	uint64_t now = (uint64_t)clock_ns(CLOCK_MONOTONIC);
	size_t keep = 0;

	for (size_t i = 0; i < t->n_gone; i++) {
		struct proc *p = jm_idmap_get(&t->procs, t->gone[i]);
		if (!p || !p->exited)
			continue;
		if (p->await_reap && !all && now < p->reap_by_mono) {
			t->gone[keep++] = t->gone[i];   /* its run waits too */
			continue;
		}
		proc_forget(t, t->gone[i]);
	}
	t->n_gone = keep;
	if (all)
		jm_jobs_flush_ended_all(t->jobs);
	else
		jm_jobs_flush_ended(t->jobs);
}

void jm_tracker_flush_exits(struct jm_tracker *t)
{
	flush_exits(t, false);
}

void jm_tracker_flush_exits_all(struct jm_tracker *t)
{
	flush_exits(t, true);
}

/* ---- start-up scan ---- */

/* When a process started (/proc/PID/stat starttime: clock ticks since
 * boot), as Unix ns; 0 if unknown. */
static int64_t born_unix_ns(uint64_t start_ticks)
{
	long hz = sysconf(_SC_CLK_TCK);
	int64_t since_boot = (int64_t)start_ticks * (1000000000 / (hz > 0 ? hz : 100));
	int64_t boot = clock_ns(CLOCK_BOOTTIME), now = clock_ns(CLOCK_REALTIME);

	return since_boot > 0 && since_boot <= boot ? now - (boot - since_boot) : 0;
}

static int scan_one(void *ctx, uint32_t pid)
{
	struct jm_tracker *t = ctx;
	char *env = t->env_buf;
	char cmd[JM_ARGS_LEN + 1], argv[JM_ARGS_LEN + 1], exe[JM_PATH_LEN], cg[256];
	struct jm_pstat st, th;
	struct attribution a;
	uint32_t src = pid;                    /* whose /proc entries tell */
	ssize_t n;

	if (jm_idmap_get(&t->procs, pid) || jm_proc_stat(pid, &st))
		return 0;
	/* A leader that exited before its threads shows no environ, cmdline
	 * or exe (its mm is gone): a live thread's show the process's. */
	if (st.state == 'Z' && jm_proc_live_thread_stat(pid, &th, &src))
		return 0;
	n = jm_proc_read(src, "environ", env, sizeof(t->env_buf));
	/* only what the exec probe would have passed: same answer as at exec */
	size_t env_len = n > 0 ? jm_env_exec_view(t->cfg, env, (size_t)n) : 0;
	n = jm_proc_read(src, "cmdline", cmd, JM_ARGS_LEN);
	if (n <= 0)
		return 0;                          /* kernel thread */
	join_args(cmd, (size_t)n, argv, sizeof(argv));
	if (jm_proc_exe(src, exe, sizeof(exe)) < 0)
		exe[0] = 0;
	struct jm_proc_facts f = { .comm = st.comm, .exe = exe, .argv = argv,
				   .cgroup = jm_proc_cgroup(src, cg, sizeof(cg)) < 0 ? NULL : cg };
	if (!attribute(t, env, env_len, &f, &a))
		return 0;
	int32_t threads = 1;
	uint64_t runtime = 0;
	if (jm_proc_threads(pid, &threads, &runtime))
		return 0;
	int err = track_live(t, pid, threads, st.start_ticks);
	if (err == -ESRCH)
		return 0;                          /* exited meanwhile */
	if (err) {
		t->loss->map_full++;
		return 0;
	}
	int64_t now = clock_ns(CLOCK_REALTIME);
	struct jm_run *r = start_run(t, &a, now);
	if (!r) {
		jm_probes_untrack(t->probes, pid);
		return 0;
	}
	struct proc *p = proc_add(t, pid, r, jm_run_live(r) == 1, (uint64_t)clock_ns(CLOCK_MONOTONIC));
	uint64_t rchar, wchar;
	if (p) {
		p->ctr = a.ctr;
		p->cpu_base_ns = runtime;          /* count from now on */
		p->base_pending = true;            /* refined in jm_tracker_scan_existing */
		p->born_ns = born_unix_ns(st.start_ticks);
		/* What the sampler and the exit event will count: the threads
		 * there now (a zombie leader's bytes never reach the process's
		 * lives entry), plus threads that end from now on. */
		if (jm_proc_threads_io(pid, st.state == 'Z', &rchar, &wchar) == 0) {
			p->io_reported.file_read_bytes = rchar;
			p->io_reported.file_write_bytes = wchar;
		}
	}
	jm_info("attributed running pid %u (%s) to job %s (%s)", pid, st.comm, a.job, a.source);
	return 0;
}

static int sample_rec(void *ctx, const struct jm_sample *s);
static struct jm_proc_io io_of(uint64_t rchar, uint64_t wchar, const struct jm_sock_io *so);

/* The CPU a process found at start-up used before goes to its run's totals
 * at once, and its windows count from a baseline: what the sampler and the
 * exit event will count: the whole thread group, threads that already
 * exited included (the iterator's leader record adds the group's
 * sum_sched_runtime; the exit program does too for processes user space
 * inserted).  The schedstat sum scan_one took covers live threads only, so
 * one iterator pass after the scan replaces it.  CPU used between a
 * process's scan and this pass (the length of the /proc walk) goes
 * uncounted.  Without the iterator, the sampler reads /proc/PID/stat, whose
 * utime + stime also include exited threads: the baseline is raised to
 * that. */
static void take_baselines(struct jm_tracker *t)
{
	struct jm_counters before = { 0 };
	bool iter = false;

	if (!t->sample_iter_broken) {
		t->sample_gen++;
		iter = jm_probes_sample(t->probes, sample_rec, t) == 0;
	}
	for (size_t i = 0; i < t->procs.cap; i++) {
		struct proc *p = t->procs.vals[i];
		struct jm_pstat st;

		if (!t->procs.keys[i] || !p || !p->base_pending)
			continue;
		p->base_pending = false;
		if (iter) {
			if (p->sample_gen == t->sample_gen && p->s_leader &&
			    p->s_runtime_ns > p->cpu_base_ns)
				p->cpu_base_ns = p->s_runtime_ns;
			/* File bytes the same way, from the source the sampler
			 * reads: a thread that ended between the scan's read
			 * and now is in the lives entry, and would otherwise
			 * be charged as new. */
			if (p->sample_gen == t->sample_gen && p->s_leader) {
				struct jm_proc_io io = io_of(p->s_rchar, p->s_wchar, &p->s_sock);
				p->io_reported.file_read_bytes = io.file_read_bytes;
				p->io_reported.file_write_bytes = io.file_write_bytes;
			}
		} else if (jm_proc_stat(p->tgid, &st) == 0 && st.cpu_ns > p->cpu_base_ns) {
			p->cpu_base_ns = st.cpu_ns;
		}
		/* The run's totals take the CPU the process used before (its
		 * threads, ended ones too), so a run that outlives an agent
		 * restart costs what it did, not what the new agent saw of it.
		 * Not its reaped children's (cutime): some may have been runs
		 * of other jobs, already counted.  Windows start from the
		 * baseline: they hold what happened while they were open. */
		before.cpu_s = (double)p->cpu_base_ns / 1e9;
		jm_run_found_running(p->run, p->born_ns, &before);
	}
}

void jm_tracker_scan_existing(struct jm_tracker *t)
{
	(void)jm_proc_each(scan_one, t);
	take_baselines(t);
}

/* ---- sampler ---- */

/* What a process has moved: file bytes are its task I/O accounting minus
 * the socket bytes that went through read()/write(). */
static struct jm_proc_io io_of(uint64_t rchar, uint64_t wchar, const struct jm_sock_io *so)
{
	return (struct jm_proc_io){
		.file_read_bytes = jm_sub0(rchar, so->vfs_rx_bytes),
		.file_write_bytes = jm_sub0(wchar, so->vfs_tx_bytes),
		.net_rx_bytes = so->rx_bytes,
		.net_tx_bytes = so->tx_bytes,
	};
}

/* Iterator records -> the procs they belong to (threads add up). */
static int sample_rec(void *ctx, const struct jm_sample *s)
{
	struct jm_tracker *t = ctx;
	struct proc *p = jm_idmap_get(&t->procs, s->tgid);

	if (!p || p->exited)
		return 0;
	if (p->sample_gen != t->sample_gen) {
		p->sample_gen = t->sample_gen;
		p->s_leader = p->s_zombie = false;
		p->s_live_threads = 0;
		p->s_runtime_ns = p->s_rss_bytes = p->s_rchar = p->s_wchar = 0;
		memset(&p->s_sock, 0, sizeof(p->s_sock));
	}
	p->s_runtime_ns += s->runtime_ns;
	p->s_rchar += s->rchar;
	p->s_wchar += s->wchar;
	if (s->flags & JM_SAMPLE_LEADER) {
		p->s_leader = true;
		p->s_zombie = s->flags & JM_SAMPLE_ZOMBIE;
		if (!p->s_zombie)
			p->s_rss_bytes = s->rss_pages * t->page_size;
		p->s_sock = s->sock;
	} else if (!(s->flags & JM_SAMPLE_ZOMBIE)) {
		/* Only threads of a zombie leader carry RSS (its mm is gone).
		 * One past its own exit_mm() is not live for this: it sees
		 * no memory, though the group held it until now. */
		p->s_live_threads++;
		if (s->rss_pages)
			p->s_rss_bytes = s->rss_pages * t->page_size;
	}
	return 0;
}

/* The same facts, from /proc and a map lookup per process: the path taken
 * when the iterator cannot be read. */
static int sample_procfs(struct jm_tracker *t, struct proc *p, struct jm_pstat *st,
			 struct jm_proc_io *io)
{
	struct jm_sock_io so;
	uint64_t rchar, wchar, dead_r, dead_w;
	int ioerr = jm_probes_read_sock(t->probes, p->tgid, &so);
	/* Counted as the iterator counts (jm_sample): live threads, plus the
	 * threads that ended, from the lives entry.  (A thread on its way out
	 * is in both for a moment here: the iterator can tell, /proc cannot.) */
	if (jm_proc_stat(p->tgid, st) || ioerr ||
	    jm_proc_threads_io(p->tgid, st->state == 'Z', &rchar, &wchar))
		return -1;
	if (jm_probes_read_life(t->probes, p->tgid, &dead_r, &dead_w) == 0) {
		rchar += dead_r;
		wchar += dead_w;
	}
	*io = io_of(rchar, wchar, &so);
	/* A zombie leader's stat still sums the group's CPU but shows no
	 * memory: a live thread's stat has it (same mm). */
	struct jm_pstat th;
	if (st->state == 'Z' && jm_proc_live_thread_stat(p->tgid, &th, NULL) == 0) {
		st->state = th.state;
		st->rss_bytes = th.rss_bytes;
	}
	return 0;
}

/* What this sampler pass found of p, as st and io; non-zero when it found
 * no leader (gone, or its exit event is still in the ring). */
static int sampled(struct jm_tracker *t, const struct proc *p, struct jm_pstat *st,
		   struct jm_proc_io *io)
{
	if (p->sample_gen != t->sample_gen || !p->s_leader)
		return -1;
	st->cpu_ns = p->s_runtime_ns;
	st->rss_bytes = p->s_rss_bytes;
	/* A zombie leader with threads still running is sampled like any
	 * live process (sample_rec). */
	if (p->s_zombie && !p->s_live_threads)
		st->state = 'Z';
	*io = io_of(p->s_rchar, p->s_wchar, &p->s_sock);
	return 0;
}

/* A sample into p's run: growth since the last one, and rss held from the
 * last sample to until_mono. */
static void charge(struct proc *p, const struct jm_pstat *st, const struct jm_proc_io *io,
		   uint64_t rss, uint64_t until_mono)
{
	double dt = until_mono > p->last_sample_mono ?
		    (double)(until_mono - p->last_sample_mono) / 1e9 : 0;

	if (until_mono > p->last_sample_mono)
		p->last_sample_mono = until_mono;
	report(p, st->cpu_ns > p->cpu_base_ns ? st->cpu_ns : p->cpu_base_ns, io,
	       rss, (double)rss / GIB * dt);
	p->prev_rss = p->last_rss;
	p->last_rss = st->rss_bytes;
	if (st->rss_bytes > p->max_rss_seen)
		p->max_rss_seen = st->rss_bytes;
}

/* A pod's container that kubelet had not linked a log name for at its first
 * exec: look again, a few sampler passes at most (a container without logs
 * never gets one), and label its run once the name is there. */
#define K8S_NAME_TRIES 10
static void k8s_name_again(struct jm_tracker *t, struct proc *p)
{
	struct jm_k8s_names nm;

	if (jm_k8s_resolve(t->cfg->k8s_log_root, p->k8s_retry, &nm) == JM_K8S_RESOLVE_CONTAINER) {
		jm_run_label(p->run, "k8s.container", nm.container);
	} else if (++p->k8s_tries < K8S_NAME_TRIES) {
		return;
	}
	free(p->k8s_retry);
	p->k8s_retry = NULL;
}

void jm_tracker_sample(struct jm_tracker *t, uint64_t now_mono)
{
	int64_t now_unix;
	bool iter = false;

	jm_tracker_clock_sync(t);
	now_unix = jm_tracker_unix_ns(t, now_mono);
	if (!t->sample_iter_broken) {
		t->sample_gen++;
		int err = jm_probes_sample(t->probes, sample_rec, t);
		if (err) {
			jm_warn("process sampler iterator failed (%s): reading /proc instead; "
				"job threads missing from the socket thread filter are no longer "
				"found and counted", strerror(-err));
			t->sample_iter_broken = true;
		} else {
			iter = true;
		}
	}
	for (size_t i = 0; i < t->procs.cap; i++) {
		struct proc *p = t->procs.vals[i];
		struct jm_pstat st = { .state = 'R' };
		struct jm_proc_io io;

		if (!t->procs.keys[i] || !p || p->exited)
			continue;
		if (p->k8s_retry)
			k8s_name_again(t, p);
		int gone = iter ? sampled(t, p, &st, &io) : sample_procfs(t, p, &st, &io);
		if (gone) {
			/* Gone, or its exit event is still in the ring buffer.
			 * Two misses in a row (>= 1 s) means the exit was lost. */
			struct jm_sock_io so;
			if (++p->missing >= 3 && jm_probes_read_sock(t->probes, p->tgid, &so) &&
			    jm_proc_stat(p->tgid, &st)) {
				t->loss->exits_synthesized++;
				jm_warn("pid %u of job %s vanished without an exit event",
					p->tgid, jm_run_job(p->run));
				proc_gone(t, p, JM_STATUS_UNKNOWN, now_unix);
			}
			continue;
		}
		p->missing = 0;
		/* A process whose every thread has exited has released its
		 * memory and reports 0 CPU/RSS deltas; its exit event carries
		 * the final figures, and charges the last RSS seen up to the
		 * exit: the sample stamp stays where it was (moved to now, the
		 * stretch between it and the exit would be lost). */
		if (st.state == 'Z')
			continue;
		/* The RSS seen now stands for the interval since the last sample. */
		charge(p, &st, &io, st.rss_bytes, now_mono);
	}
}

