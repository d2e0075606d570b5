/* The process tracker (agent/process.c) driven by synthetic lifecycle
 * events, with the kernel side replaced by stubs: which process decides a
 * run's outcome, what a lost exit becomes, what the sampler keeps counting.
 *
 * process.c is compiled into this test a second time under other names
 * (the agent's own process.o and probes.o are linked too), so its calls to
 * the BPF loader land in the stubs below and its static state is reachable. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define jm_tracker_new tp_tracker_new
#define jm_tracker_free tp_tracker_free
#define jm_tracker_unix_ns tp_tracker_unix_ns
#define jm_tracker_clock_sync tp_tracker_clock_sync
#define jm_tracker_on_event tp_tracker_on_event
#define jm_tracker_flush_exits tp_tracker_flush_exits
#define jm_tracker_flush_exits_all tp_tracker_flush_exits_all
#define jm_tracker_scan_existing tp_tracker_scan_existing
#define jm_tracker_sample tp_tracker_sample
#define jm_tracker_run_of tp_tracker_run_of
#define jm_tracker_alive tp_tracker_alive
#define jm_tracker_live tp_tracker_live
#define jm_probes_track stub_track
#define jm_probes_untrack stub_untrack
#define jm_probes_read_sock stub_read_sock
#define jm_probes_sample stub_sample
#define jm_probes_read_life stub_read_life
#include "../../agent/process.c"

#include "harness.h"
#include "config.h"
#include "jobs.h"

/* ---- the kernel, as far as process.c sees it ---- */
static struct {
	int32_t last_threads;
	uint32_t last_tgid;
	int sock_rc;                     /* jm_probes_read_sock's answer */
	int sample_rc;                   /* jm_probes_sample's answer */
	struct jm_sample recs[8];        /* what one iterator pass yields */
	int n_recs;
	int untracked;                   /* jm_probes_untrack calls */
} K = { .last_threads = -1, .sample_rc = -ENOTSUP };

int stub_track(struct jm_probes *p, uint32_t tgid, int32_t threads)
{
	(void)p;
	K.last_tgid = tgid;
	K.last_threads = threads;
	return 0;
}

void stub_untrack(struct jm_probes *p, uint32_t tgid)
{
	(void)p;
	(void)tgid;
	K.untracked++;
}

int stub_read_sock(struct jm_probes *p, uint32_t tgid, struct jm_sock_io *io)
{
	(void)p;
	(void)tgid;
	memset(io, 0, sizeof(*io));
	return K.sock_rc;
}

int stub_read_life(struct jm_probes *p, uint32_t tgid, uint64_t *rchar, uint64_t *wchar)
{
	(void)p;
	(void)tgid;
	*rchar = *wchar = 0;
	return -ENOENT;
}

int stub_sample(struct jm_probes *p, jm_sample_fn fn, void *ctx)
{
	(void)p;
	if (K.sample_rc)
		return K.sample_rc;
	for (int i = 0; i < K.n_recs; i++)
		fn(ctx, &K.recs[i]);
	return 0;
}

/* ---- what came out ---- */
struct runs {
	int n;
	struct jm_run_record r[8];
};

static void on_run(void *ctx, const struct jm_run_record *r)
{
	struct runs *l = ctx;
	if (l->n < 8) {
		l->r[l->n] = *r;
		l->r[l->n].db = NULL;
		l->r[l->n].outputs = NULL;
		l->n++;
	}
}

static struct jm_counters last_window;

static void on_window(void *ctx, const struct jm_window_record *w)
{
	(void)ctx;
	last_window = w->counters;
}

/* Pids no host has (above any pid_max), so /proc never answers for them. */
#define PID(n) (3900000000u + (n))

static void ev_exec(struct jm_tracker *t, uint32_t pid, uint64_t cg, const char *comm,
		    uint64_t ts)
{
	static struct jm_ev_exec e;
	memset(&e, 0, sizeof(e));
	e.hdr.type = JM_EV_EXEC;
	e.hdr.tgid = pid;
	e.hdr.ts_ns = ts;
	e.cgroup_id = cg;
	snprintf(e.comm, sizeof(e.comm), "%s", comm);
	tp_tracker_on_event(t, &e, sizeof(e));
}

/* An exec whose environment names the job (env: "JOBMETER_JOB=..."), of a
 * process the kernel tracked before it with cpu_ns used, with the peak of
 * the image it replaced (sched_prepare_exec; 0: not told). */
static void ev_exec_full(struct jm_tracker *t, uint32_t pid, const char *env, uint64_t ts,
			 uint64_t cpu_ns, uint64_t read_bytes, uint64_t maxrss, uint64_t image_peak)
{
	static struct jm_ev_exec e;
	memset(&e, 0, sizeof(e));
	e.hdr.type = JM_EV_EXEC;
	e.hdr.tgid = pid;
	e.hdr.ts_ns = ts;
	e.flags = JM_F_ENV_MATCH | JM_F_TRACKED;
	e.env_len = (uint16_t)(strlen(env) + 1);
	memcpy(e.env, env, e.env_len);
	e.cpu_ns = cpu_ns;
	e.maxrss_bytes = maxrss;
	e.image_peak_bytes = image_peak;
	e.io.file_read_bytes = read_bytes;
	snprintf(e.comm, sizeof(e.comm), "sh");
	tp_tracker_on_event(t, &e, sizeof(e));
}

static void ev_exec_env(struct jm_tracker *t, uint32_t pid, const char *env, uint64_t ts,
			uint64_t cpu_ns, uint64_t read_bytes, uint64_t maxrss)
{
	ev_exec_full(t, pid, env, ts, cpu_ns, read_bytes, maxrss, 0);
}

/* The exit of a tracked process (with its totals: CPU, peak), and the
 * flush that ends its run. */
static void ev_exit_full(struct jm_tracker *t, uint32_t pid, int status, uint64_t ts,
			 uint32_t flags, uint64_t cpu_ns, uint64_t maxrss, uint64_t mm_peak)
{
	struct jm_ev_exit e;
	memset(&e, 0, sizeof(e));
	e.hdr.type = JM_EV_EXIT;
	e.hdr.tgid = pid;
	e.hdr.ts_ns = ts;
	e.status = status;
	e.flags = flags;
	e.cpu_ns = cpu_ns;
	e.maxrss_bytes = maxrss;
	e.mm_peak_bytes = mm_peak;
	tp_tracker_on_event(t, &e, sizeof(e));
	tp_tracker_flush_exits(t);
}

static void ev_exit_totals(struct jm_tracker *t, uint32_t pid, int status, uint64_t ts,
			   uint64_t cpu_ns, uint64_t maxrss)
{
	ev_exit_full(t, pid, status, ts, JM_F_TRACKED, cpu_ns, maxrss, 0);
}

static void ev_exit(struct jm_tracker *t, uint32_t pid, int status, uint64_t ts)
{
	ev_exit_totals(t, pid, status, ts, 0, 0);
}

static struct jm_probes *fake_probes(void)
{
	static char dummy;
	return (struct jm_probes *)(void *)&dummy;
}

static int parse_cfg(struct jm_config *cfg, const char *yaml)
{
	char err[512];
	int rc = jm_config_parse(cfg, "t.yaml", yaml, strlen(yaml), err, sizeof(err));
	if (rc)
		printf("config: %s\n", err);
	return rc;
}

/* Top-level processes of one run (two instances of a rule-matched
 * program; a pod's sidecar and main container): the first to exit decides,
 * unless a later one fails. */
static void test_joiner_is_not_root(void)
{
	static struct jm_config cfg;
	struct runs out = { 0 };
	struct jm_jobs_sink sink = { on_run, on_window, &out };
	if (parse_cfg(&cfg, "kubernetes: {enabled: false}\njobs:\n  - name: twice\n    match: {comm: twicejob}\n"))
		return;
	struct jm_jobs *jobs = jm_jobs_new(16, &sink);
	struct jm_loss loss = { 0 };
	struct jm_tracker *t = tp_tracker_new(&cfg, fake_probes(), jobs, &loss);

	ev_exec(t, PID(1), 0, "twicejob", 1000);
	ev_exec(t, PID(2), 0, "twicejob", 2000);     /* joins the live run */
	CHECK("joiner: same run", tp_tracker_run_of(t, PID(1)) == tp_tracker_run_of(t, PID(2)));
	ev_exit(t, PID(2), 0, 3000);                 /* the joiner succeeds first */
	ev_exit(t, PID(1), 3 << 8, 4000);            /* the first process fails */
	CHECK_INT("joiner: one run", out.n, 1);
	CHECK_INT("joiner: a later failure overrides an earlier success", out.r[0].outcome,
		  JM_OUTCOME_FAILURE);
	CHECK_INT("joiner: exit code is the failing process's", out.r[0].exit_code, 3);

	/* a sidecar starts first, the main process fails, the sidecar is
	 * stopped and exits 0: the run failed */
	ev_exec(t, PID(3), 0, "twicejob", 5000);
	ev_exec(t, PID(4), 0, "twicejob", 6000);
	ev_exit(t, PID(4), 1 << 8, 7000);
	ev_exit(t, PID(3), 0, 8000);
	CHECK_INT("sidecar first: second run", out.n, 2);
	CHECK("sidecar first: the main process's failure stands",
	      out.n == 2 && out.r[1].outcome == JM_OUTCOME_FAILURE && out.r[1].exit_code == 1);

	ev_exec(t, PID(5), 0, "twicejob", 9000);
	ev_exec(t, PID(6), 0, "twicejob", 9500);
	ev_exit(t, PID(5), 0, 10000);
	ev_exit(t, PID(6), 0, 11000);
	CHECK("both succeed: success", out.n == 3 && out.r[2].outcome == JM_OUTCOME_SUCCESS);

	/* the main container succeeds, then the pod's teardown stops the
	 * sidecars: one dies of SIGTERM, one (a JVM) exits 143: success */
	ev_exec(t, PID(7), 0, "twicejob", 12000);
	ev_exec(t, PID(8), 0, "twicejob", 12100);
	ev_exec(t, PID(9), 0, "twicejob", 12200);
	ev_exit(t, PID(8), 0, 13000);
	ev_exit(t, PID(7), 15, 14000);
	ev_exit(t, PID(9), 143 << 8, 14100);
	CHECK("teardown: stopped sidecars do not fail a finished run",
	      out.n == 4 && out.r[3].outcome == JM_OUTCOME_SUCCESS && out.r[3].signal == 0 &&
	      out.r[3].exit_code == 0);
	/* ... but a sidecar that crashes does, and so does a run whose first
	 * process to end was stopped */
	ev_exec(t, PID(10), 0, "twicejob", 15000);
	ev_exec(t, PID(11), 0, "twicejob", 15100);
	ev_exit(t, PID(11), 0, 16000);
	ev_exit(t, PID(10), 11, 17000);                          /* SIGSEGV */
	CHECK("teardown: a crashing sidecar still fails the run",
	      out.n == 5 && out.r[4].outcome == JM_OUTCOME_FAILURE && out.r[4].signal == 11);
	ev_exec(t, PID(12), 0, "twicejob", 18000);
	ev_exit(t, PID(12), 15, 19000);
	CHECK("stopped first: a run that was stopped failed",
	      out.n == 6 && out.r[5].outcome == JM_OUTCOME_FAILURE && out.r[5].signal == 15);
	tp_tracker_free(t);
	jm_jobs_free(jobs);
}

static uint64_t mkcg(const char *root, const char *rel)
{
	char p[1024], cmd[1100];
	struct stat st;
	snprintf(p, sizeof(p), "%s%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", p);
	if (system(cmd) || stat(p, &st))
		return 0;
	return st.st_ino;
}

struct fx {
	struct jm_config cfg;
	struct runs out;
	struct jm_jobs_sink sink;
	struct jm_jobs *jobs;
	struct jm_loss loss;
	struct jm_tracker *t;
};

static int fx_open(struct fx *f, const char *yaml)
{
	memset(f, 0, sizeof(*f));
	if (parse_cfg(&f->cfg, yaml))
		return -1;
	f->sink = (struct jm_jobs_sink){ on_run, on_window, &f->out };
	f->jobs = jm_jobs_new(16, &f->sink);
	f->t = tp_tracker_new(&f->cfg, fake_probes(), f->jobs, &f->loss);
	return f->jobs && f->t ? 0 : -1;
}

static void fx_close(struct fx *f)
{
	K.sample_rc = -ENOTSUP;
	K.n_recs = 0;
	tp_tracker_free(f->t);
	jm_jobs_free(f->jobs);
}

/* The fx fixture over a cgroup tree (and a kubelet log tree) of its own in
 * a temporary directory: root is the tracker's cgroup v2 root, logs the
 * log root.  cgfx_dir() makes the directory; the test builds its trees,
 * then cgfx_open() parses its config and points the tracker at root. */
struct cgfx {
	struct fx f;
	char dir[32], root[64], logs[64];
};

static int cgfx_dir(struct cgfx *c)
{
	snprintf(c->dir, sizeof(c->dir), "/tmp/jm-test-process-XXXXXX");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(c->root, sizeof(c->root), "%s/cg", c->dir);
	snprintf(c->logs, sizeof(c->logs), "%s/log", c->dir);
	return 0;
}

static int cgfx_open(struct cgfx *c, const char *yaml)
{
	if (fx_open(&c->f, yaml))
		return -1;
	snprintf(c->f.t->cg2root, sizeof(c->f.t->cg2root), "%s", c->root);
	return 0;
}

static void cgfx_close(struct cgfx *c)
{
	char cmd[128];

	fx_close(&c->f);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
	if (system(cmd))
		printf("could not remove %s\n", c->dir);
}

#define UID "1f2e3d4c-aaaa-bbbb-cccc-0123456789ab"
#define UIDU "1f2e3d4c_aaaa_bbbb_cccc_0123456789ab"
#define SBX "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define APP "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define INI "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define AP2 "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define PODDIR "etl_nightly-28912345-x7k2p_" UID

/* A Kubernetes pod: the pause container, an init container, a main
 * container that fails and its restart.  The sandbox neither holds the run
 * open nor decides its outcome, and the restart is a run of its own. */
static void test_k8s_pod(void)
{
	struct cgfx c;
	char cmd[4096], yaml[512];
	if (cgfx_dir(&c)) {
		CHECK("k8s: temp dir", 0);
		return;
	}
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/pods/" PODDIR "/main %s/pods/" PODDIR "/wait-for-db "
		 "%s/containers && touch %s/pods/" PODDIR "/main/0.log %s/pods/" PODDIR "/main/1.log && "
		 "ln -s ../pods/" PODDIR "/main/0.log %s/containers/nightly-28912345-x7k2p_etl_main-" APP ".log && "
		 "ln -s ../pods/" PODDIR "/main/1.log %s/containers/nightly-28912345-x7k2p_etl_main-" AP2 ".log",
		 c.logs, c.logs, c.logs, c.logs, c.logs, c.logs, c.logs);
	CHECK_INT("k8s: log tree", system(cmd), 0);
	const char *pod = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU ".slice";
	char rel[512];
	snprintf(rel, sizeof(rel), "%s/cri-containerd-" SBX ".scope", pod);
	uint64_t cg_sbx = mkcg(c.root, rel);
	snprintf(rel, sizeof(rel), "%s/cri-containerd-" APP ".scope", pod);
	uint64_t cg_app = mkcg(c.root, rel);
	snprintf(rel, sizeof(rel), "%s/cri-containerd-" AP2 ".scope", pod);
	uint64_t cg_ap2 = mkcg(c.root, rel);
	snprintf(rel, sizeof(rel), "%s/cri-containerd-" INI ".scope", pod);
	uint64_t cg_ini = mkcg(c.root, rel);
	CHECK("k8s: cgroup tree", cg_sbx && cg_app && cg_ap2 && cg_ini);

	snprintf(yaml, sizeof(yaml), "kubernetes: {enabled: true, log_root: %s}\n", c.logs);
	if (cgfx_open(&c, yaml)) {
		CHECK("test_k8s_pod: config", 0);
		cgfx_close(&c);
		return;
	}
	struct jm_tracker *t = c.f.t;
	struct runs *out = &c.f.out;

	ev_exec(t, PID(11), cg_sbx, "pause", 1000);
	CHECK("k8s: the sandbox is not a job process", !tp_tracker_alive(t, PID(11)));
	ev_exec(t, PID(13), cg_ini, "wait-for-db", 2000);
	ev_exit(t, PID(13), 0, 3000);
	ev_exec(t, PID(12), cg_app, "python3", 4000);
	CHECK("k8s: the main container is a job process", tp_tracker_alive(t, PID(12)));
	ev_exit(t, PID(12), 1 << 8, 5000);
	ev_exec(t, PID(14), cg_ap2, "python3", 6000);   /* kubelet restarts it */
	ev_exit(t, PID(14), 0, 7000);
	ev_exit(t, PID(11), 9, 8000);                    /* sandbox torn down */

	int failures = 0, restarts = 0;
	for (int i = 0; i < out->n; i++) {
		CHECK_STR("k8s: job named from the pod", out->r[i].job, "etl/nightly");
		failures += out->r[i].outcome == JM_OUTCOME_FAILURE;
		restarts += out->r[i].restart;
	}
	CHECK_INT("k8s: init, main, restart are three runs", out->n, 3);
	CHECK_INT("k8s: the failed main container is a failed run", failures, 1);
	CHECK("k8s: the main container's run failed with its exit code",
	      out->n >= 2 && out->r[1].outcome == JM_OUTCOME_FAILURE && out->r[1].exit_code == 1);
	CHECK("k8s: the restart is a run of its own, marked restart",
	      out->n == 3 && out->r[2].restart && out->r[2].outcome == JM_OUTCOME_SUCCESS);
	CHECK_INT("k8s: one restart", restarts, 1);
	cgfx_close(&c);
}

/* Two systemd units one rule maps to one job, running at once, are two
 * runs told apart by their unit: also when the unit names are long
 * (systemd allows 255 bytes; a unit buffer of 128 left both without a
 * unit, so both joined one run). */
static void test_systemd_long_units(void)
{
	struct cgfx c;
	char rel[512], yaml[256];
	char stem[151];
	if (cgfx_dir(&c)) {
		CHECK("long units: temp dir", 0);
		return;
	}
	memset(stem, 'u', 150);
	stem[150] = '\0';
	snprintf(rel, sizeof(rel), "/system.slice/lp-%s-a.service", stem);
	uint64_t cg_a = mkcg(c.root, rel);
	snprintf(rel, sizeof(rel), "/system.slice/lp-%s-b.service", stem);
	uint64_t cg_b = mkcg(c.root, rel);
	CHECK("long units: cgroup tree", cg_a && cg_b);

	snprintf(yaml, sizeof(yaml), "kubernetes: {enabled: false}\n"
		 "systemd:\n  - unit: \"lp-*.service\"\n    job: longpair\n");
	if (cgfx_open(&c, yaml)) {
		CHECK("test_systemd_long_units: config", 0);
		cgfx_close(&c);
		return;
	}
	struct jm_tracker *t = c.f.t;
	struct runs *out = &c.f.out;

	ev_exec(t, PID(21), cg_a, "worker", 1000);
	ev_exec(t, PID(22), cg_b, "worker", 2000);
	CHECK("long units: both are job processes",
	      tp_tracker_alive(t, PID(21)) && tp_tracker_alive(t, PID(22)));
	ev_exit(t, PID(22), 1 << 8, 3000);
	ev_exit(t, PID(21), 0, 4000);
	CHECK_INT("long units: two units at once are two runs", out->n, 2);
	int failed = 0, succeeded = 0;
	for (int i = 0; i < out->n; i++) {
		CHECK_STR("long units: job from the rule", out->r[i].job, "longpair");
		CHECK_INT("long units: one process each", out->r[i].counters.processes, 1);
		failed += out->r[i].outcome == JM_OUTCOME_FAILURE;
		succeeded += out->r[i].outcome == JM_OUTCOME_SUCCESS;
	}
	CHECK("long units: each run keeps its own outcome", failed == 1 && succeeded == 1);
	cgfx_close(&c);
}

/* An exec carrying env (one "NAME=value" string) inside cgroup cg. */
static void ev_exec_env_cg(struct jm_tracker *t, uint32_t pid, uint64_t cg, const char *env,
			   uint64_t ts)
{
	static struct jm_ev_exec e;
	memset(&e, 0, sizeof(e));
	e.hdr.type = JM_EV_EXEC;
	e.hdr.tgid = pid;
	e.hdr.ts_ns = ts;
	e.cgroup_id = cg;
	e.flags = JM_F_ENV_MATCH | JM_F_TRACKED;
	e.env_len = (uint16_t)(strlen(env) + 1);
	memcpy(e.env, env, e.env_len);
	snprintf(e.comm, sizeof(e.comm), "python3");
	tp_tracker_on_event(t, &e, sizeof(e));
}

/* kubectl exec and exec probes join a running container's cgroup: part of
 * its run, but a probe that fails while the app starts (or a failing
 * kubectl exec) is not how the container ended.  Another container of the
 * pod still is. */
static void test_k8s_exec_into_container(void)
{
	struct cgfx c;
	char rel[512];
	if (cgfx_dir(&c)) {
		CHECK("k8s exec: temp dir", 0);
		return;
	}
	const char *pod = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU ".slice";
	snprintf(rel, sizeof(rel), "%s/cri-containerd-" APP ".scope", pod);
	uint64_t cg_app = mkcg(c.root, rel);
	snprintf(rel, sizeof(rel), "%s/cri-containerd-" AP2 ".scope", pod);
	uint64_t cg_side = mkcg(c.root, rel);
	CHECK("k8s exec: cgroup tree", cg_app && cg_side);

	if (cgfx_open(&c, "kubernetes: {enabled: true, log_root: /nonexistent-jm}\n")) {
		CHECK("test_k8s_exec_into_container: config", 0);
		cgfx_close(&c);
		return;
	}
	struct jm_tracker *t = c.f.t;
	struct runs *out = &c.f.out;

	ev_exec(t, PID(41), cg_app, "python3", 1000);        /* the container */
	ev_exec(t, PID(42), cg_app, "cat", 2000);            /* readiness probe */
	ev_exit(t, PID(42), 1 << 8, 2500);                   /* not ready yet */
	ev_exec(t, PID(43), cg_app, "sh", 3000);             /* kubectl exec */
	ev_exit(t, PID(43), 2 << 8, 3500);
	ev_exit(t, PID(41), 0, 4000);
	CHECK_INT("k8s exec: one run", out->n, 1);
	CHECK("k8s exec: probes and kubectl exec do not fail the container's run",
	      out->n == 1 && out->r[0].outcome == JM_OUTCOME_SUCCESS);
	CHECK("k8s exec: their processes are the run's", out->n == 1 && out->r[0].counters.processes == 3);

	/* the container's env names the job: probes exec'd into it carry it too */
	ev_exec_env_cg(t, PID(46), cg_app, "JOBMETER_JOB=envprobe", 4100);
	ev_exec_env_cg(t, PID(47), cg_app, "JOBMETER_JOB=envprobe", 4200);
	ev_exit(t, PID(47), 1 << 8, 4300);
	ev_exit(t, PID(46), 0, 4400);
	CHECK("k8s exec: a probe with the container's JOBMETER_JOB does not fail its run",
	      out->n == 2 && strcmp(out->r[1].job, "envprobe") == 0 &&
	      out->r[1].outcome == JM_OUTCOME_SUCCESS);
	out->n = 1;

	/* a second container of the pod that fails still fails the run */
	ev_exec(t, PID(44), cg_app, "python3", 5000);
	ev_exec(t, PID(45), cg_side, "sidecar", 5500);
	ev_exit(t, PID(44), 0, 6000);
	ev_exit(t, PID(45), 1 << 8, 6500);
	CHECK("k8s exec: a failing second container still fails the run",
	      out->n == 2 && out->r[1].outcome == JM_OUTCOME_FAILURE);
	cgfx_close(&c);
}

static const char *label_of(const struct jm_run_record *r, const char *key)
{
	for (size_t i = 0; i < r->n_labels; i++)
		if (strcmp(r->labels[i].key, key) == 0)
			return r->labels[i].value;
	return "";
}

/* kubelet links a container's log name just after the container starts,
 * often after its first exec: the sampler looks again and labels the run. */
static void test_k8s_container_named_late(void)
{
	struct cgfx c;
	char cmd[1024], rel[512], yaml[256];
	if (cgfx_dir(&c)) {
		CHECK("k8s late name: temp dir", 0);
		return;
	}
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/pods/" PODDIR "/main %s/containers && "
		 "touch %s/pods/" PODDIR "/main/0.log", c.logs, c.logs, c.logs);
	CHECK_INT("k8s late name: log tree", system(cmd), 0);
	snprintf(rel, sizeof(rel), "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
		 UIDU ".slice/cri-containerd-" APP ".scope");
	uint64_t cg_app = mkcg(c.root, rel);
	CHECK("k8s late name: cgroup", cg_app != 0);

	snprintf(yaml, sizeof(yaml), "kubernetes: {enabled: true, log_root: %s}\n", c.logs);
	if (cgfx_open(&c, yaml)) {
		CHECK("test_k8s_container_named_late: config", 0);
		cgfx_close(&c);
		return;
	}
	struct jm_tracker *t = c.f.t;
	struct runs *out = &c.f.out;

	ev_exec(t, PID(51), cg_app, "python3", 1000);     /* before kubelet's link */
	snprintf(cmd, sizeof(cmd), "ln -s ../pods/" PODDIR "/main/0.log "
		 "%s/containers/nightly-28912345-x7k2p_etl_main-" APP ".log", c.logs);
	CHECK_INT("k8s late name: kubelet links the log", system(cmd), 0);
	tp_tracker_sample(t, 2000);
	ev_exit(t, PID(51), 0, 3000);
	CHECK_INT("k8s late name: one run", out->n, 1);
	if (out->n == 1) {
		CHECK_STR("k8s late name: pod label from the exec", label_of(&out->r[0], "k8s.pod"),
			  "nightly-28912345-x7k2p");
		CHECK_STR("k8s late name: container label once kubelet linked it",
			  label_of(&out->r[0], "k8s.container"), "main");
	}
	cgfx_close(&c);
}

/* Two pods of one CronJob (or two instances of a template unit) whose
 * containers set the same JOBMETER_JOB, running at once: two runs, each with
 * its own outcome, as they are without the variable.  Also when the
 * entrypoint (a pod process already) exports it and execs the job. */
static void test_env_in_pods_and_units(void)
{
	struct cgfx c;
	if (cgfx_dir(&c)) {
		CHECK("env keys: temp dir", 0);
		return;
	}
	const char *q = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod";
	char rel[512];
	snprintf(rel, sizeof(rel), "%s" UIDU ".slice/cri-containerd-" APP ".scope", q);
	uint64_t cg_p1 = mkcg(c.root, rel);
	snprintf(rel, sizeof(rel), "%s1f2e3d4c_aaaa_bbbb_cccc_0123456789ac.slice/cri-containerd-" AP2
		 ".scope", q);
	uint64_t cg_p2 = mkcg(c.root, rel);
	uint64_t cg_u1 = mkcg(c.root, "/system.slice/system-etl.slice/etl@a.service");
	uint64_t cg_u2 = mkcg(c.root, "/system.slice/system-etl.slice/etl@b.service");
	CHECK("env keys: cgroup tree", cg_p1 && cg_p2 && cg_u1 && cg_u2);

	if (cgfx_open(&c, "kubernetes: {enabled: true, log_root: /nonexistent-jm}\n")) {
		CHECK("test_env_in_pods_and_units: config", 0);
		cgfx_close(&c);
		return;
	}
	struct jm_tracker *t = c.f.t;
	struct runs *out = &c.f.out;

	/* the job's own exec carries the variable */
	ev_exec_env_cg(t, PID(31), cg_p1, "JOBMETER_JOB=envpods", 1000);
	ev_exec_env_cg(t, PID(32), cg_p2, "JOBMETER_JOB=envpods", 2000);
	ev_exit(t, PID(32), 1 << 8, 3000);
	ev_exit(t, PID(31), 0, 4000);
	/* an entrypoint (a pod process by its cgroup) exports it and execs */
	ev_exec(t, PID(33), cg_p1, "sh", 5000);
	ev_exec(t, PID(34), cg_p2, "sh", 5500);
	ev_exec_env_cg(t, PID(33), cg_p1, "JOBMETER_JOB=envpods2", 6000);
	ev_exec_env_cg(t, PID(34), cg_p2, "JOBMETER_JOB=envpods2", 7000);
	ev_exit(t, PID(34), 1 << 8, 8000);
	ev_exit(t, PID(33), 0, 9000);
	/* template units */
	ev_exec_env_cg(t, PID(35), cg_u1, "JOBMETER_JOB=envunits", 10000);
	ev_exec_env_cg(t, PID(36), cg_u2, "JOBMETER_JOB=envunits", 11000);
	ev_exit(t, PID(36), 1 << 8, 12000);
	ev_exit(t, PID(35), 0, 13000);

	const char *jobs_[] = { "envpods", "envpods2", "envunits" };
	for (size_t k = 0; k < 3; k++) {
		int n = 0, ok = 0, bad = 0;
		char name[96];
		for (int i = 0; i < out->n; i++) {
			if (strcmp(out->r[i].job, jobs_[k]) != 0)
				continue;
			n++;
			ok += out->r[i].outcome == JM_OUTCOME_SUCCESS;
			bad += out->r[i].outcome == JM_OUTCOME_FAILURE;
		}
		snprintf(name, sizeof(name), "env keys: %s at once in two cgroups are two runs",
			 jobs_[k]);
		CHECK_INT(name, n, 2);
		snprintf(name, sizeof(name), "env keys: %s runs keep their own outcome", jobs_[k]);
		CHECK(name, ok == 1 && bad == 1);
	}
	cgfx_close(&c);
}

/* A job process that vanished without an exit event (ring buffer full):
 * the sampler ends it, and nobody knows how it ended. */
static void test_lost_exit(void)
{
	static struct jm_config cfg;
	struct runs out = { 0 };
	struct jm_jobs_sink sink = { on_run, on_window, &out };
	if (parse_cfg(&cfg, "kubernetes: {enabled: false}\njobs:\n  - name: lost\n    match: {comm: lostjob}\n"))
		return;
	struct jm_jobs *jobs = jm_jobs_new(16, &sink);
	struct jm_loss loss = { 0 };
	struct jm_tracker *t = tp_tracker_new(&cfg, fake_probes(), jobs, &loss);

	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	CHECK("lost exit: child forked", pid > 0);
	if (pid <= 0)
		return;
	ev_exec(t, (uint32_t)pid, 0, "lostjob", 1000);
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
	K.sample_rc = 0;                 /* the iterator works and has no record */
	K.n_recs = 0;
	K.sock_rc = -ENOENT;             /* its maps are empty */
	for (int i = 0; i < 3; i++)
		tp_tracker_sample(t, 2000 + (uint64_t)i * 1000000000);
	tp_tracker_flush_exits(t);
	CHECK_INT("lost exit: counted", loss.exits_synthesized, 1);
	CHECK_INT("lost exit: the run ended", out.n, 1);
	CHECK_INT("lost exit: outcome unknown, not success", out.r[0].outcome, JM_OUTCOME_UNSPECIFIED);
	K.sample_rc = -ENOTSUP;
	K.sock_rc = 0;
	tp_tracker_free(t);
	jm_jobs_free(jobs);
}

static void *zombie_thread(void *arg)
{
	int *pipe_w = arg;
	size_t n = 64u << 20;
	volatile char *m = malloc(n);
	for (size_t i = 0; m && i < n; i += 4096)
		m[i] = 1;
	if (write(*pipe_w, "x", 1) != 1)
		_exit(1);
	for (volatile unsigned long i = 0;; i++)
		;
	return NULL;
}

static uint64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A child whose thread-group leader exited while a thread (64 MiB, spinning)
 * runs on, named comm; its pid once /proc shows the leader a zombie, else
 * -1 (the child is reaped). */
static pid_t spawn_zombie_leader(const char *comm)
{
	int pp[2];
	char c;
	if (pipe(pp))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t th;
		close(pp[0]);
		prctl(PR_SET_NAME, comm);
		if (pthread_create(&th, NULL, zombie_thread, &pp[1]))
			_exit(1);
		pthread_exit(NULL);
	}
	close(pp[1]);
	bool ready = pid > 0 && read(pp[0], &c, 1) == 1;
	close(pp[0]);
	if (pid <= 0)
		return -1;
	struct jm_pstat st = { 0 };
	for (int i = 0; ready && i < 100 && !(jm_proc_stat((uint32_t)pid, &st) == 0 && st.state == 'Z'); i++)
		usleep(10000);
	if (!ready || st.state != 'Z') {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* The thread-group leader exited first; a thread holds 64 MiB and spins.
 * The /proc sampler (the iterator's fallback) keeps charging both. */
static void test_zombie_leader_procfs(void)
{
	static struct jm_config cfg;
	struct runs out = { 0 };
	struct jm_jobs_sink sink = { on_run, on_window, &out };
	if (parse_cfg(&cfg, "kubernetes: {enabled: false}\njobs:\n  - name: zl\n    match: {comm: zljob}\n"))
		return;
	pid_t pid = spawn_zombie_leader("zljob");
	CHECK("zombie leader: /proc shows the leader a zombie", pid > 0);
	if (pid <= 0)
		return;
	struct jm_pstat th = { 0 };
	CHECK_INT("zombie leader: a live thread found", jm_proc_live_thread_stat((uint32_t)pid, &th, NULL), 0);
	CHECK("zombie leader: the live thread shows the memory", th.rss_bytes >= (60u << 20));

	struct jm_jobs *jobs = jm_jobs_new(16, &sink);
	struct jm_loss loss = { 0 };
	struct jm_tracker *t = tp_tracker_new(&cfg, fake_probes(), jobs, &loss);
	K.sample_rc = -ENOTSUP;
	ev_exec(t, (uint32_t)pid, 0, "zljob", mono_now());
	tp_tracker_sample(t, mono_now());
	jm_jobs_flush_windows(jobs, 1);
	usleep(500000);
	tp_tracker_sample(t, mono_now());
	memset(&last_window, 0, sizeof(last_window));
	jm_jobs_flush_windows(jobs, 2);
	CHECK("zombie leader: memory-time sampled (64 MiB x 0.5 s)",
	      last_window.mem_gib_s > 64.0 / 1024 * 0.4 && last_window.mem_gib_s < 64.0 / 1024 * 0.8);
	CHECK("zombie leader: RSS sampled", last_window.peak_rss_bytes >= (60u << 20));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	tp_tracker_free(t);
	jm_jobs_free(jobs);
}

/* Every thread exited, the exit event still in the ring buffer, and the
 * sampler runs first: the process is a zombie awaiting its parent.  The
 * memory it held until its exit is charged from the exit event (the last
 * sample's RSS up to the exit), not dropped because the zombie was "seen"
 * after it. */
static void test_zombie_before_exit_event(void)
{
	static struct jm_config cfg;
	struct runs out = { 0 };
	struct jm_jobs_sink sink = { on_run, on_window, &out };
	if (parse_cfg(&cfg, "kubernetes: {enabled: false}\njobs:\n  - name: zb\n    match: {comm: zbjob}\n"))
		return;
	struct jm_jobs *jobs = jm_jobs_new(16, &sink);
	struct jm_loss loss = { 0 };
	struct jm_tracker *t = tp_tracker_new(&cfg, fake_probes(), jobs, &loss);
	const uint64_t s = 1000000000, t0 = 5 * s;
	const uint64_t pages = (100u << 20) / (uint64_t)sysconf(_SC_PAGESIZE);

	ev_exec(t, PID(60), 0, "zbjob", t0);
	K.sample_rc = 0;
	K.n_recs = 1;
	memset(&K.recs[0], 0, sizeof(K.recs[0]));
	K.recs[0].tgid = K.recs[0].tid = PID(60);
	K.recs[0].flags = JM_SAMPLE_LEADER;
	K.recs[0].rss_pages = pages;
	tp_tracker_sample(t, t0 + s);                  /* 100 MiB for 1 s */
	K.recs[0].flags = JM_SAMPLE_LEADER | JM_SAMPLE_ZOMBIE;
	K.recs[0].rss_pages = 0;
	tp_tracker_sample(t, t0 + 2 * s);              /* a zombie: it exited before */
	ev_exit(t, PID(60), 0, t0 + s + s / 2);        /* ... at 1.5 s */
	CHECK_INT("zombie before its exit event: the run ended", out.n, 1);
	CHECK("zombie before its exit event: 100 MiB x 1.5 s of memory-time",
	      out.n == 1 && fabs(out.r[0].counters.mem_gib_s - 100.0 / 1024 * 1.5) < 1e-6);
	K.sample_rc = -ENOTSUP;
	K.n_recs = 0;
	tp_tracker_free(t);
	jm_jobs_free(jobs);
}

/* A tracker over a jobs table whose ended runs land in out. */
/* The next iterator passes see pid's leader alone, holding rss_mib. */
static void k_leader(uint32_t pid, uint64_t rss_mib)
{
	K.sample_rc = 0;
	K.n_recs = 1;
	memset(&K.recs[0], 0, sizeof(K.recs[0]));
	K.recs[0].tgid = K.recs[0].tid = pid;
	K.recs[0].flags = JM_SAMPLE_LEADER;
	K.recs[0].rss_pages = (rss_mib << 20) / (uint64_t)sysconf(_SC_PAGESIZE);
}

static const struct jm_run_record *run_of(const struct runs *out, const char *job)
{
	for (int i = 0; i < out->n && i < 8; i++)
		if (strcmp(out->r[i].job, job) == 0)
			return &out->r[i];
	return NULL;
}

/* The leader exited first; its last thread is on its way out, past
 * exit_mm(), when the sampler passes: that thread holds no memory any
 * more, which is not the process's RSS dropping to 0.  The pass sees a
 * process with no thread left to sample (as a zombie), and the exit
 * charges the last RSS seen up to it.  (10_process's zombie leader lost
 * 0.15 GiB-s of its 0.60 once: a 0 sample charged for the pass before.) */
static void test_zombie_leader_last_thread_exiting(void)
{
	struct fx f;
	const uint64_t s = 1000000000, t0 = 5 * s;

	if (fx_open(&f, "kubernetes: {enabled: false}\njobs:\n  - name: zt\n    match: {comm: ztjob}\n"))
		return;
	ev_exec(f.t, PID(61), 0, "ztjob", t0);
	k_leader(PID(61), 0);
	K.recs[0].flags |= JM_SAMPLE_ZOMBIE;
	K.n_recs = 2;
	memset(&K.recs[1], 0, sizeof(K.recs[1]));
	K.recs[1].tgid = PID(61);
	K.recs[1].tid = PID(61) + 1;
	K.recs[1].rss_pages = (100u << 20) / (uint64_t)sysconf(_SC_PAGESIZE);
	tp_tracker_sample(f.t, t0 + s);                /* the thread shows 100 MiB for 1 s */
	K.recs[1].flags = JM_SAMPLE_ZOMBIE;            /* past exit_mm() */
	K.recs[1].rss_pages = 0;
	tp_tracker_sample(f.t, t0 + 2 * s);
	ev_exit(f.t, PID(61), 0, t0 + 2 * s + s / 2);  /* gone at 2.5 s */
	CHECK_INT("zombie leader, last thread exiting: the run ended", f.out.n, 1);
	CHECK("zombie leader, last thread exiting: 100 MiB x 2.5 s of memory-time",
	      f.out.n == 1 && fabs(f.out.r[0].counters.mem_gib_s - 100.0 / 1024 * 2.5) < 1e-6);
	fx_close(&f);
}

/* An exec with a new identity variable moves a job process to another
 * job: what it used before the exec is the old run's, though no sampler
 * pass came between. */
static void test_exec_move_settles(void)
{
	static struct fx f;
	const uint64_t s = 1000000000, t0 = 5 * s;
	const char *env_a = "JOBMETER_JOB=wrap-a", *env_b = "JOBMETER_JOB=moved-b";
	const struct jm_run_record *a, *b;

	if (fx_open(&f, "kubernetes: {enabled: false}\n"))
		return;
	ev_exec_env(f.t, PID(70), env_a, t0, 0, 0, 0);
	k_leader(PID(70), 100);
	K.recs[0].runtime_ns = 100000000;          /* 0.1 s */
	tp_tracker_sample(f.t, t0 + s);
	/* +0.6 s and 5 MiB read, then the exec (the kernel's count of it). */
	ev_exec_env(f.t, PID(70), env_b, t0 + 2 * s, 700000000, 5u << 20, 0);
	k_leader(PID(70), 50);
	K.recs[0].rchar = 5u << 20;
	K.recs[0].runtime_ns = 900000000;          /* +0.2 s in the new job */
	tp_tracker_sample(f.t, t0 + 3 * s);
	ev_exit(f.t, PID(70), 0, t0 + 3 * s);
	a = run_of(&f.out, "wrap-a");
	b = run_of(&f.out, "moved-b");
	CHECK("exec move: both runs ended", a && b);
	if (a && b) {
		CHECK("exec move: the old job keeps the 0.7 s it used before the exec",
		      fabs(a->counters.cpu_s - 0.7) < 1e-9);
		CHECK("exec move: the new job has the 0.2 s after it",
		      fabs(b->counters.cpu_s - 0.2) < 1e-9);
		CHECK("exec move: bytes read before the exec stay with the old job",
		      a->counters.file_read_bytes == 5u << 20 && b->counters.file_read_bytes == 0);
		CHECK("exec move: memory-time split at the exec (100 MiB x 2 s, then 50 MiB x 1 s)",
		      fabs(a->counters.mem_gib_s - 100.0 / 1024 * 2) < 1e-6 &&
		      fabs(b->counters.mem_gib_s - 50.0 / 1024 * 1) < 1e-6);
	}

	/* Never sampled, and the new program ends before any pass: the old
	 * job keeps what the exec event counted and the old image's peak up
	 * to the exec; the exit's total minus that is the new job's. */
	f.out.n = 0;
	K.n_recs = 0;
	ev_exec_env(f.t, PID(71), env_a, t0 + 10 * s, 0, 0, 0);
	ev_exec_env(f.t, PID(71), env_b, t0 + 10 * s + s / 2, 400000000, 0, 64u << 20);
	ev_exit_totals(f.t, PID(71), 0, t0 + 10 * s + s / 2 + s / 10, 450000000, 64u << 20);
	a = run_of(&f.out, "wrap-a");
	b = run_of(&f.out, "moved-b");
	CHECK("exec move, never sampled: both runs ended", a && b);
	if (a && b) {
		CHECK("exec move, never sampled: 0.4 s to the old job, 0.05 s to the new",
		      fabs(a->counters.cpu_s - 0.4) < 1e-9 && fabs(b->counters.cpu_s - 0.05) < 1e-9);
		CHECK("exec move, never sampled: the old image's peak for its 0.5 s",
		      fabs(a->counters.mem_gib_s - 64.0 / 1024 * 0.5) < 1e-6 &&
		      a->counters.peak_rss_bytes == 64u << 20);
	}
	fx_close(&f);
}

/* The kernel's maxrss keeps the peak of every image a process exec'd from:
 * moved to another job at an exec, the process's new run has its new
 * image's own peak (its mm's high-water mark at the exit), not the old. */
static void test_exec_move_peak(void)
{
	static struct fx f;
	const uint64_t s = 1000000000, t0 = 50 * s;
	const struct jm_run_record *b;
	struct jm_ev_exit e;

	if (fx_open(&f, "kubernetes: {enabled: false}\n"))
		return;
	K.n_recs = 0;
	ev_exec_env(f.t, PID(95), "JOBMETER_JOB=loader", t0, 0, 0, 0);
	ev_exec_env(f.t, PID(95), "JOBMETER_JOB=small", t0 + s, 100000000, 0, 300u << 20);
	memset(&e, 0, sizeof(e));
	e.hdr.type = JM_EV_EXIT;
	e.hdr.tgid = PID(95);
	e.hdr.ts_ns = t0 + 2 * s;
	e.flags = JM_F_TRACKED;
	e.maxrss_bytes = 300u << 20;           /* the loader's, kept */
	e.mm_peak_bytes = 2u << 20;            /* the new image's own */
	tp_tracker_on_event(f.t, &e, sizeof(e));
	tp_tracker_flush_exits(f.t);
	b = run_of(&f.out, "small");
	CHECK("exec move peak: the new job's peak is its image's",
	      b && b->counters.peak_rss_bytes == 2u << 20);
	CHECK("exec move peak: and its memory-time (2 MiB x 1 s)",
	      b && fabs(b->counters.mem_gib_s - 2.0 / 1024) < 1e-9);

	/* The new image grew past the old peak: maxrss is its own. */
	f.out.n = 0;
	ev_exec_env(f.t, PID(96), "JOBMETER_JOB=loader", t0, 0, 0, 0);
	ev_exec_env(f.t, PID(96), "JOBMETER_JOB=small", t0 + s, 100000000, 0, 300u << 20);
	e.hdr.tgid = PID(96);
	e.maxrss_bytes = 400u << 20;
	e.mm_peak_bytes = 400u << 20;
	tp_tracker_on_event(f.t, &e, sizeof(e));
	tp_tracker_flush_exits(f.t);
	b = run_of(&f.out, "small");
	CHECK("exec move peak: above the old peak, maxrss is the new image's",
	      b && b->counters.peak_rss_bytes == 400u << 20);
	fx_close(&f);
}

/* An exec by env of a process tracked before it, with the peak of the
 * image it replaced (sched_prepare_exec). */
static void ev_exec_img(struct jm_tracker *t, uint32_t pid, const char *env, uint64_t ts,
			uint64_t maxrss, uint64_t image_peak)
{
	ev_exec_full(t, pid, env, ts, 0, 0, maxrss, image_peak);
}

/* An exit event of pid with the kernel's maxrss and its image's own peak. */
static void ev_exit_peaks(struct jm_tracker *t, uint32_t pid, uint64_t ts, uint32_t flags,
			  uint64_t maxrss, uint64_t mm_peak)
{
	ev_exit_full(t, pid, 0, ts, flags, 0, maxrss, mm_peak);
}

/* A job started by fork+exec from a big process outside any job (an
 * Airflow worker holding 300 MiB): the kernel's maxrss of the child holds
 * the parent's peak (the fork copies the mm's high-water mark, the exec
 * folds it in), which the job never used.  Its run has the peak of the
 * images that ran inside the job. */
static void test_entry_exec_peak(void)
{
	static struct fx f;
	static struct jm_ev_exec x;
	const uint64_t s = 1000000000, t0 = 70 * s, big = 300u << 20;
	const struct jm_run_record *r;

	if (fx_open(&f, "kubernetes: {enabled: false}\njobs:\n  - name: ruled\n"
			"    match: {comm: ruledjob}\n"))
		return;
	K.n_recs = 0;

	/* Entered by its env at exec, never sampled: 2 MiB, not 300. */
	ev_exec_env(f.t, PID(110), "JOBMETER_JOB=kid", t0, 0, 0, big);
	ev_exit_peaks(f.t, PID(110), t0 + s, JM_F_TRACKED, big, 2u << 20);
	r = run_of(&f.out, "kid");
	CHECK("entry exec peak: a big parent's peak is not the job's",
	      r && r->counters.peak_rss_bytes == 2u << 20);
	CHECK("entry exec peak: nor its memory-time (2 MiB x 1 s)",
	      r && fabs(r->counters.mem_gib_s - 2.0 / 1024) < 1e-9);

	/* Entered by a config rule (user space matched it; the kernel had
	 * not tracked it before its exec). */
	f.out.n = 0;
	memset(&x, 0, sizeof(x));
	x.hdr.type = JM_EV_EXEC;
	x.hdr.tgid = PID(111);
	x.hdr.ts_ns = t0;
	x.maxrss_bytes = big;
	snprintf(x.comm, sizeof(x.comm), "ruledjob");
	tp_tracker_on_event(f.t, &x, sizeof(x));
	ev_exit_peaks(f.t, PID(111), t0 + s, JM_F_TRACKED, big, 3u << 20);
	r = run_of(&f.out, "ruled");
	CHECK("entry exec peak: a rule-matched process too",
	      r && r->counters.peak_rss_bytes == 3u << 20);

	/* Its first image held 100 MiB (a sample saw it), then it exec'd a
	 * small program inside the job: that image was the job's. */
	f.out.n = 0;
	ev_exec_env(f.t, PID(112), "JOBMETER_JOB=kid", t0, 0, 0, big);
	k_leader(PID(112), 100);
	tp_tracker_sample(f.t, t0 + s);
	ev_exec_env(f.t, PID(112), "JOBMETER_JOB=kid", t0 + s + s / 2, 0, 0, big);
	K.n_recs = 0;
	ev_exit_peaks(f.t, PID(112), t0 + 2 * s, JM_F_TRACKED, big, 2u << 20);
	r = run_of(&f.out, "kid");
	CHECK("entry exec peak: an earlier image of the job counts",
	      r && r->counters.peak_rss_bytes == 100u << 20);

	/* The same, no sample: the kernel took the first image's peak just
	 * before the exec (sched_prepare_exec). */
	f.out.n = 0;
	ev_exec_env(f.t, PID(117), "JOBMETER_JOB=kid", t0, 0, 0, big);
	ev_exec_img(f.t, PID(117), "JOBMETER_JOB=kid", t0 + s / 2, big, 150u << 20);
	ev_exit_peaks(f.t, PID(117), t0 + s, JM_F_TRACKED, big, 2u << 20);
	r = run_of(&f.out, "kid");
	CHECK("entry exec peak: an earlier image no sample saw counts, from its exec",
	      r && r->counters.peak_rss_bytes == 150u << 20);

	/* Entered at an exec, then exec'd into another job before any
	 * sample: the run it left has that image's peak, not the parent's. */
	f.out.n = 0;
	ev_exec_env(f.t, PID(118), "JOBMETER_JOB=kid", t0, 0, 0, big);
	ev_exec_img(f.t, PID(118), "JOBMETER_JOB=other", t0 + s / 2, big, 80u << 20);
	ev_exit_peaks(f.t, PID(118), t0 + s, JM_F_TRACKED, big, 1u << 20);
	r = run_of(&f.out, "kid");
	CHECK("entry exec peak: a run left at an exec has the image's peak",
	      r && r->counters.peak_rss_bytes == 80u << 20);
	r = run_of(&f.out, "other");
	CHECK("entry exec peak: and the run it moved to, its new image's",
	      r && r->counters.peak_rss_bytes == 1u << 20);

	/* A job image above what the parent left: maxrss is the job's own. */
	f.out.n = 0;
	ev_exec_env(f.t, PID(113), "JOBMETER_JOB=kid", t0, 0, 0, big);
	ev_exit_peaks(f.t, PID(113), t0 + s, JM_F_TRACKED, 500u << 20, 2u << 20);
	r = run_of(&f.out, "kid");
	CHECK("entry exec peak: above the parent's, maxrss is the job's",
	      r && r->counters.peak_rss_bytes == 500u << 20);

	/* A child forked by a job process keeps its maxrss: what it shares
	 * of its parent's memory was the job's. */
	f.out.n = 0;
	ev_exec_env(f.t, PID(114), "JOBMETER_JOB=forker", t0, 0, 0, 0);
	struct jm_ev_fork fk = { .hdr = { .ts_ns = t0 + 1, .type = JM_EV_FORK, .tgid = PID(115) },
				 .ppid = PID(114) };
	tp_tracker_on_event(f.t, &fk, sizeof(fk));
	ev_exit_peaks(f.t, PID(115), t0 + s, JM_F_TRACKED, 200u << 20, 1u << 20);
	ev_exit_peaks(f.t, PID(114), t0 + s, JM_F_TRACKED, 200u << 20, 200u << 20);
	r = run_of(&f.out, "forker");
	CHECK("entry exec peak: a forked child keeps its maxrss",
	      r && r->counters.peak_rss_bytes == 200u << 20);

	/* A kernel that drops the mm before the exit tracepoint, a process
	 * never sampled: nothing tells the job's own peak, maxrss bounds it. */
	f.out.n = 0;
	ev_exec_env(f.t, PID(116), "JOBMETER_JOB=kid", t0, 0, 0, big);
	ev_exit_peaks(f.t, PID(116), t0 + s, JM_F_TRACKED, big, 0);
	r = run_of(&f.out, "kid");
	CHECK("entry exec peak: nothing else known, maxrss (an upper bound)",
	      r && r->counters.peak_rss_bytes == big);
	fx_close(&f);
}

/* The exit's tail: RSS of the last sample, unless the process was still
 * growing then and its peak came after (no sample saw it). */
static void test_exit_tail_peak(void)
{
	static struct fx f;
	const uint64_t s = 1000000000, t0 = 5 * s;
	static const uint64_t rss[3][2] = { { 100, 0 }, { 300, 100 }, { 100, 100 } };  /* MiB per sample */
	static const char *const env[3] = { "JOBMETER_JOB=grows", "JOBMETER_JOB=shrinks",
					    "JOBMETER_JOB=flat" };
	static const double want[3] = { 100 * 1 + 300 * 0.5, 300 * 1 + 100 * 1 + 100 * 0.5,
					100 * 1 + 100 * 1 + 100 * 0.5 };
	static const char *const what[3] = {
		"exit tail: still growing at its only sample, 300 MiB peak after it: the tail holds the peak",
		"exit tail: shrunk by its last sample: the tail holds the last sample, not the earlier peak",
		"exit tail: flat samples: a spike no sample saw is not charged for the tail",
	};

	if (fx_open(&f, "kubernetes: {enabled: false}\n"))
		return;
	for (int k = 0; k < 3; k++) {
		uint32_t pid = PID(80 + k);
		int n = rss[k][1] ? 2 : 1;
		f.out.n = 0;
		ev_exec_env(f.t, pid, env[k], t0, 0, 0, 0);
		for (int i = 0; i < n; i++) {
			k_leader(pid, rss[k][i]);
			tp_tracker_sample(f.t, t0 + (uint64_t)(i + 1) * s);
		}
		ev_exit_totals(f.t, pid, 0, t0 + (uint64_t)n * s + s / 2, 0, 300u << 20);
		CHECK(what[k], f.out.n == 1 && fabs(f.out.r[0].counters.mem_gib_s - want[k] / 1024) < 1e-6);
	}
	fx_close(&f);
}

static void read_zero(size_t n)
{
	static char buf[65536];
	int fd = open("/dev/zero", O_RDONLY);
	while (fd >= 0 && n) {
		ssize_t r = read(fd, buf, n < sizeof(buf) ? n : sizeof(buf));
		if (r <= 0)
			break;
		n -= (size_t)r;
	}
	if (fd >= 0)
		close(fd);
}

/* A process that reaped a child: /proc/PID/io takes in the child's bytes
 * (the kernel adds them to the parent's signal->ioac), the threads' own
 * accounting does not. */
static void test_threads_io_leaves_out_reaped_children(void)
{
	int pp[2];
	char c;
	if (pipe(pp))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(pp[0]);
		pid_t kid = fork();
		if (kid == 0) {
			read_zero(8u << 20);         /* the child's 8 MiB */
			_exit(0);
		}
		waitpid(kid, NULL, 0);
		read_zero(1u << 20);                 /* its own 1 MiB */
		if (write(pp[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pp[1]);
	bool ready = pid > 0 && read(pp[0], &c, 1) == 1;
	close(pp[0]);
	CHECK("threads io: the parent reaped its child", ready);
	if (!ready)
		goto out;
	char buf[512];
	uint64_t whole = 0, w, r = 0;
	ssize_t n = jm_proc_read((uint32_t)pid, "io", buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		if (jm_proc_io_parse(buf, &whole, &w))
			whole = 0;
	}
	CHECK("threads io: /proc/PID/io includes the reaped child's 8 MiB", whole >= (9u << 20));
	CHECK_INT("threads io: read", jm_proc_threads_io((uint32_t)pid, false, &r, &w), 0);
	CHECK("threads io: the process's own 1 MiB, not its child's",
	      r >= (1u << 20) && r < (1u << 20) + (64u << 10));
	CHECK_INT("threads io: a process that is gone", jm_proc_threads_io(PID(70), false, &r, &w) < 0, 1);
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* Found by the start-up scan although its leader already exited. */
static void test_scan_zombie_leader(void)
{
	static struct jm_config cfg;
	struct runs out = { 0 };
	struct jm_jobs_sink sink = { on_run, on_window, &out };
	if (parse_cfg(&cfg, "kubernetes: {enabled: false}\njobs:\n  - name: zs\n    match: {comm: zsjob}\n"))
		return;
	pid_t pid = spawn_zombie_leader("zsjob");
	CHECK("scan zombie leader: the leader is a zombie", pid > 0);
	if (pid <= 0)
		return;
	struct jm_jobs *jobs = jm_jobs_new(16, &sink);
	struct jm_loss loss = { 0 };
	struct jm_tracker *t = tp_tracker_new(&cfg, fake_probes(), jobs, &loss);
	K.sample_rc = -ENOTSUP;
	tp_tracker_scan_existing(t);
	CHECK("scan zombie leader: the running process is tracked", tp_tracker_alive(t, (uint32_t)pid));
	CHECK_STR("scan zombie leader: in its job", tp_tracker_alive(t, (uint32_t)pid) ?
		  jm_run_job(tp_tracker_run_of(t, (uint32_t)pid)) : "", "zs");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	tp_tracker_free(t);
	jm_jobs_free(jobs);
}

/* A rule-matched process user space starts tracking after it exited: its
 * kernel entry is taken out again, and its exit event still ends the run. */
/* An exit the kernel will complete at the leader's free (JM_F_REAP): the
 * run's record waits for the CPU charged at its last schedule, up to a
 * deadline; a pid reused first, or the agent stopping, does not keep it. */
static void ev_exit_reap(struct jm_tracker *t, uint32_t pid, uint64_t ts, uint64_t cpu_ns)
{
	struct jm_ev_exit e;
	memset(&e, 0, sizeof(e));
	e.hdr.type = JM_EV_EXIT;
	e.hdr.tgid = pid;
	e.hdr.ts_ns = ts;
	e.flags = JM_F_TRACKED | JM_F_REAP;
	e.cpu_ns = cpu_ns;
	tp_tracker_on_event(t, &e, sizeof(e));
	tp_tracker_flush_exits(t);
}

static void ev_reap(struct jm_tracker *t, uint32_t pid, uint64_t cpu_ns)
{
	struct jm_ev_reap e;
	memset(&e, 0, sizeof(e));
	e.hdr.type = JM_EV_REAP;
	e.hdr.tgid = pid;
	e.cpu_ns = cpu_ns;
	tp_tracker_on_event(t, &e, sizeof(e));
	tp_tracker_flush_exits(t);
}

static void test_reap_cpu(void)
{
	static struct fx f;
	uint64_t now = mono_now();
	const uint64_t s = 1000000000;

	if (fx_open(&f, "kubernetes: {enabled: false}\n"))
		return;
	K.n_recs = 0;
	ev_exec_env(f.t, PID(90), "JOBMETER_JOB=short", now, 0, 0, 0);
	ev_exit_reap(f.t, PID(90), now, 200000);
	CHECK_INT("reap: the run waits for the leader's last CPU", f.out.n, 0);
	ev_reap(f.t, PID(90), 800000);
	CHECK("reap: then it ends with it (0.2 ms at the exit + 0.8 ms after)",
	      f.out.n == 1 && fabs(f.out.r[0].counters.cpu_s - 0.001) < 1e-9 &&
	      f.out.r[0].outcome == JM_OUTCOME_SUCCESS);
	CHECK("reap: the run ended at the exit, not at the free",
	      f.out.n == 1 && f.out.r[0].end_ns == tp_tracker_unix_ns(f.t, now));
	ev_reap(f.t, PID(90), 800000);
	CHECK_INT("reap: a second reap of the pid adds nothing", f.out.n, 1);

	/* A parent that does not reap in time: written without it. */
	f.out.n = 0;
	ev_exec_env(f.t, PID(91), "JOBMETER_JOB=late", now - 3 * s, 0, 0, 0);
	ev_exit_reap(f.t, PID(91), now - 2 * s, 300000);
	CHECK("reap: past the deadline the record goes as it is",
	      f.out.n == 1 && fabs(f.out.r[0].counters.cpu_s - 0.0003) < 1e-9);

	/* The pid reused before the free: the old run goes, the new one lives. */
	f.out.n = 0;
	ev_exec_env(f.t, PID(92), "JOBMETER_JOB=reused", now, 0, 0, 0);
	ev_exit_reap(f.t, PID(92), now, 100000);
	ev_exec_env(f.t, PID(92), "JOBMETER_JOB=other", now + 1000, 0, 0, 0);
	tp_tracker_flush_exits(f.t);
	CHECK("reap: a reused pid releases the old run",
	      f.out.n == 1 && strcmp(f.out.r[0].job, "reused") == 0);
	ev_reap(f.t, PID(92), 500000);
	CHECK("reap: ... and the old leader's reap is not the new process's",
	      f.out.n == 1 && tp_tracker_alive(f.t, PID(92)));

	/* Stopping: held runs are written. */
	f.out.n = 0;
	ev_exec_env(f.t, PID(93), "JOBMETER_JOB=stopping", now, 0, 0, 0);
	ev_exit_reap(f.t, PID(93), now, 100000);
	CHECK_INT("reap: held while running", f.out.n, 0);
	tp_tracker_flush_exits_all(f.t);
	CHECK_INT("reap: written when the agent stops", f.out.n, 1);
	fx_close(&f);
}

static void test_track_after_exit(void)
{
	static struct jm_config cfg;
	struct runs out = { 0 };
	struct jm_jobs_sink sink = { on_run, on_window, &out };
	if (parse_cfg(&cfg, "kubernetes: {enabled: false}\njobs:\n  - name: late\n    match: {comm: latejob}\n"))
		return;
	struct jm_jobs *jobs = jm_jobs_new(16, &sink);
	struct jm_loss loss = { 0 };
	struct jm_tracker *t = tp_tracker_new(&cfg, fake_probes(), jobs, &loss);

	K.untracked = 0;
	ev_exec(t, PID(40), 0, "latejob", 1000);     /* no such pid: already gone */
	CHECK_INT("track after exit: entry taken out again", K.untracked, 1);
	CHECK("track after exit: still known until its exit event", tp_tracker_alive(t, PID(40)));
	ev_exit(t, PID(40), 0, 2000);
	CHECK_INT("track after exit: the exit ends the run", out.n, 1);
	CHECK_INT("track after exit: no map-full loss", loss.map_full, 0);

	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	K.untracked = 0;
	ev_exec(t, (uint32_t)pid, 0, "latejob", 3000);
	CHECK_INT("track of a live process: kept", K.untracked, 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	tp_tracker_free(t);
	jm_jobs_free(jobs);
}

/* An exec by a relative path ("./etl.sh", "bin/etl"): the kernel reports
 * the path as given, an exe: rule names the executable's path.  The rule
 * matches through /proc/PID/exe while the process lives. */
static void test_exec_relative_path(void)
{
	static struct jm_config cfg;
	char self[4096], yaml[4300];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		CHECK("relative exec: own path", 0);
		return;
	}
	self[n] = '\0';
	snprintf(yaml, sizeof(yaml),
		 "kubernetes: {enabled: false}\njobs:\n  - name: byexe\n    match: {exe: \"%s\"}\n", self);
	if (parse_cfg(&cfg, yaml))
		return;
	struct runs out = { 0 };
	struct jm_jobs_sink sink = { on_run, on_window, &out };
	struct jm_jobs *jobs = jm_jobs_new(16, &sink);
	struct jm_loss loss = { 0 };
	struct jm_tracker *t = tp_tracker_new(&cfg, fake_probes(), jobs, &loss);

	pid_t pid = fork();       /* /proc/PID/exe: this test binary */
	if (pid == 0) {
		for (;;)
			pause();
	}
	static struct jm_ev_exec e;
	memset(&e, 0, sizeof(e));
	e.hdr.type = JM_EV_EXEC;
	e.hdr.tgid = (uint32_t)pid;
	e.hdr.ts_ns = 1000;
	snprintf(e.comm, sizeof(e.comm), "test_process");
	snprintf(e.filename, sizeof(e.filename), "./test_process");
	e.filename_len = (uint16_t)strlen(e.filename);
	tp_tracker_on_event(t, &e, sizeof(e));
	CHECK("relative exec: the exe rule matches the executable's path",
	      tp_tracker_alive(t, (uint32_t)pid));
	ev_exit(t, (uint32_t)pid, 0, 2000);
	CHECK_INT("relative exec: its run ends", out.n, 1);
	/* Gone before the agent reads /proc: the path as given, no match. */
	e.hdr.tgid = PID(50);
	tp_tracker_on_event(t, &e, sizeof(e));
	CHECK("relative exec of a process already gone: no match", !tp_tracker_alive(t, PID(50)));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	tp_tracker_free(t);
	jm_jobs_free(jobs);
	jm_config_free(&cfg);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	test_joiner_is_not_root();
	test_k8s_pod();
	test_systemd_long_units();
	test_env_in_pods_and_units();
	test_k8s_exec_into_container();
	test_k8s_container_named_late();
	test_lost_exit();
	test_zombie_leader_procfs();
	test_zombie_before_exit_event();
	test_zombie_leader_last_thread_exiting();
	test_exec_move_settles();
	test_exec_move_peak();
	test_entry_exec_peak();
	test_exit_tail_peak();
	test_threads_io_leaves_out_reaped_children();
	test_scan_zombie_leader();
	test_track_after_exit();
	test_reap_cpu();
	test_exec_relative_path();
	TEST_EXIT();
}
