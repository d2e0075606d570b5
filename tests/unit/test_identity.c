/* Unit tests for agent/identity: env blobs, systemd units, kubelet cgroup
 * paths (both drivers x three runtimes x three QoS classes), near-misses,
 * workload names from pod names, and jm_k8s_resolve on a fake log root. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "bpf/process.h"
#include "identity/identity.h"

#define UID_DASH "3f2a9c1e-7b4d-4e8a-9c2b-1d5e6f7a8b9c"
#define UID_UNDR "3f2a9c1e_7b4d_4e8a_9c2b_1d5e6f7a8b9c"
#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define CID_UP "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
#define CID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* ------------------------------------------------------------------ env */

static void test_env(void)
{
	struct jm_config cfg;
	char job[128], run[96];

	memset(&cfg, 0, sizeof(cfg));
	cfg.n_env_sets = 2;
	cfg.env_sets[0].n_vars = 2;
	strcpy(cfg.env_sets[0].vars[0], "AIRFLOW_CTX_DAG_ID");
	strcpy(cfg.env_sets[0].vars[1], "AIRFLOW_CTX_TASK_ID");
	strcpy(cfg.env_sets[0].separator, ".");
	strcpy(cfg.env_sets[0].run_id_var, "AIRFLOW_CTX_DAG_RUN_ID");
	cfg.env_sets[1].n_vars = 1;
	strcpy(cfg.env_sets[1].vars[0], "DAGSTER_JOB");
	strcpy(cfg.env_sets[1].separator, "/");

	static const char airflow[] = "PATH=/usr/bin\0AIRFLOW_CTX_DAG_ID=sales\0HOME=/root\0"
		"AIRFLOW_CTX_TASK_ID=load\0AIRFLOW_CTX_DAG_RUN_ID=scheduled__2024-01-01T00:00:00+00:00\0";
	CHECK_INT("env airflow found", jm_env_identity(&cfg, airflow, sizeof(airflow) - 1, job,
						       sizeof(job), run, sizeof(run)), 1);
	CHECK_STR("env airflow job", job, "sales.load");
	CHECK_STR("env airflow run id", run, "scheduled__2024-01-01T00:00:00+00:00");

	/* JOBMETER_JOB wins even when it comes after a complete set. */
	static const char both[] = "AIRFLOW_CTX_DAG_ID=sales\0AIRFLOW_CTX_TASK_ID=load\0"
		"JOBMETER_JOB=nightly-sales\0JOBMETER_RUN_ID=r42\0";
	CHECK_INT("env JOBMETER_JOB precedence", jm_env_identity(&cfg, both, sizeof(both) - 1, job,
								 sizeof(job), run, sizeof(run)), 1);
	CHECK_STR("env JOBMETER_JOB job", job, "nightly-sales");
	CHECK_STR("env JOBMETER_RUN_ID", run, "r42");

	static const char norun[] = "JOBMETER_JOB=x\0";
	CHECK_INT("env job without run id", jm_env_identity(&cfg, norun, sizeof(norun) - 1, job,
							    sizeof(job), run, sizeof(run)), 1);
	CHECK_STR("env job without run id: run empty", run, "");

	/* Truncated last entry: the kernel copy stopped mid-value. */
	static const char trunc[] = "PATH=/bin\0JOBMETER_JOB=nightly-sa";
	CHECK_INT("env truncated JOBMETER_JOB ignored",
		  jm_env_identity(&cfg, trunc, sizeof(trunc) - 1, job, sizeof(job), run, sizeof(run)), 0);
	CHECK_STR("env truncated: job empty", job, "");
	static const char trunc2[] = "AIRFLOW_CTX_DAG_ID=sales\0AIRFLOW_CTX_TASK_ID=lo";
	CHECK_INT("env truncated set var ignored",
		  jm_env_identity(&cfg, trunc2, sizeof(trunc2) - 1, job, sizeof(job), run, sizeof(run)), 0);
	/* The same bytes with the terminator inside len do count. */
	CHECK_INT("env terminated last entry counts",
		  jm_env_identity(&cfg, trunc2, sizeof(trunc2), job, sizeof(job), run, sizeof(run)), 1);
	CHECK_STR("env terminated last entry job", job, "sales.lo");

	/* Missing set var: set 0 incomplete, set 1 used. */
	static const char missing[] = "AIRFLOW_CTX_DAG_ID=sales\0DAGSTER_JOB=ingest\0";
	CHECK_INT("env missing var falls to next set",
		  jm_env_identity(&cfg, missing, sizeof(missing) - 1, job, sizeof(job), run, sizeof(run)), 1);
	CHECK_STR("env second set job", job, "ingest");
	CHECK_STR("env second set no run id", run, "");
	static const char none[] = "AIRFLOW_CTX_DAG_ID=sales\0HOME=/\0";
	CHECK_INT("env no set complete", jm_env_identity(&cfg, none, sizeof(none) - 1, job,
							 sizeof(job), run, sizeof(run)), 0);
	static const char empty_val[] = "AIRFLOW_CTX_DAG_ID=\0AIRFLOW_CTX_TASK_ID=load\0";
	CHECK_INT("env empty value is absent", jm_env_identity(&cfg, empty_val, sizeof(empty_val) - 1,
							       job, sizeof(job), run, sizeof(run)), 0);
	/* A name that is a prefix of another var must not match it. */
	static const char prefix[] = "JOBMETER_JOBX=nope\0JOBMETER_JOB_=nope\0";
	CHECK_INT("env prefix-named var not matched", jm_env_identity(&cfg, prefix, sizeof(prefix) - 1,
								      job, sizeof(job), run, sizeof(run)), 0);
	static const char dup[] = "JOBMETER_JOB=first\0JOBMETER_JOB=second\0";
	CHECK_INT("env duplicate", jm_env_identity(&cfg, dup, sizeof(dup) - 1, job, sizeof(job),
						   run, sizeof(run)), 1);
	CHECK_STR("env duplicate: first wins", job, "first");

	/* Control characters and non-ASCII are rejected, not stripped. */
	static const char ctl[] = "JOBMETER_JOB=sales\nevil\0AIRFLOW_CTX_DAG_ID=a\0AIRFLOW_CTX_TASK_ID=b\0";
	CHECK_INT("env control char rejected", jm_env_identity(&cfg, ctl, sizeof(ctl) - 1, job,
							       sizeof(job), run, sizeof(run)), 0);
	CHECK_STR("env control char: job empty", job, "");
	static const char esc[] = "JOBMETER_JOB=a\033[31mb\0";
	CHECK_INT("env escape rejected", jm_env_identity(&cfg, esc, sizeof(esc) - 1, job, sizeof(job),
							 run, sizeof(run)), 0);
	static const char utf[] = "JOBMETER_JOB=caf\xc3\xa9\0";
	CHECK_INT("env non-ASCII rejected", jm_env_identity(&cfg, utf, sizeof(utf) - 1, job, sizeof(job),
							    run, sizeof(run)), 0);
	static const char ctlset[] = "AIRFLOW_CTX_DAG_ID=sa\tles\0AIRFLOW_CTX_TASK_ID=load\0";
	CHECK_INT("env control char in set rejected",
		  jm_env_identity(&cfg, ctlset, sizeof(ctlset) - 1, job, sizeof(job), run, sizeof(run)), 0);
	static const char badrun[] = "JOBMETER_JOB=ok\0JOBMETER_RUN_ID=r\x01x\0";
	CHECK_INT("env bad run id keeps job", jm_env_identity(&cfg, badrun, sizeof(badrun) - 1, job,
							      sizeof(job), run, sizeof(run)), 1);
	CHECK_STR("env bad run id emptied", run, "");

	/* Length: JM_ENV_JOB_MAX (113) fits whole; 127 does not, because the
	 * exec probe would cut it (below); 128 never did (never truncated). */
	char blob[400];
	size_t off = (size_t)sprintf(blob, "JOBMETER_JOB=");
	memset(blob + off, 'j', 127);
	off += 127;
	blob[off++] = '\0';
	CHECK_INT("env 127-byte job rejected (the exec probe cuts it)",
		  jm_env_identity(&cfg, blob, off, job, sizeof(job), run, sizeof(run)), 0);
	CHECK_STR("env 127-byte job: job empty", job, "");
	off = (size_t)sprintf(blob, "JOBMETER_JOB=");
	memset(blob + off, 'j', JM_ENV_JOB_MAX);
	off += JM_ENV_JOB_MAX;
	blob[off++] = '\0';
	CHECK_INT("env 113-byte job", jm_env_identity(&cfg, blob, off, job, sizeof(job), run,
						      sizeof(run)), 1);
	CHECK_INT("env 113-byte job length", strlen(job), JM_ENV_JOB_MAX);
	off = (size_t)sprintf(blob, "JOBMETER_JOB=");
	memset(blob + off, 'j', 128);
	off += 128;
	blob[off++] = '\0';
	CHECK_INT("env 128-byte job rejected", jm_env_identity(&cfg, blob, off, job, sizeof(job), run,
							       sizeof(run)), 0);
	/* The exec probe copies at most JM_ENV_STR_MAX - 1 bytes of each
	 * NAME=value (bpf/process.bpf.c); the start-up scan reads
	 * /proc/PID/environ whole.  A process must get the same answer from
	 * both, or one job splits in two. */
	for (size_t vl = 110; vl <= 130; vl++) {
		char raw[256], kern[JM_ENV_STR_MAX], jr[128], jk[128], rr[96], rk[96], nm[96];
		size_t rl = (size_t)snprintf(raw, sizeof(raw), "JOBMETER_JOB=");
		memset(raw + rl, 'a', vl);
		raw[rl + vl - 1] = 'z';                 /* the end differs from a cut prefix */
		rl += vl;
		raw[rl++] = '\0';
		/* what the probe keeps: bpf_probe_read_kernel_str(, JM_ENV_STR_MAX, ) */
		size_t kl = rl - 1 < sizeof(kern) - 1 ? rl - 1 : sizeof(kern) - 1;
		memcpy(kern, raw, kl);
		kern[kl] = '\0';
		int a = jm_env_identity(&cfg, raw, rl, jr, sizeof(jr), rr, sizeof(rr));
		int b = jm_env_identity(&cfg, kern, strlen(kern) + 1, jk, sizeof(jk), rk, sizeof(rk));
		snprintf(nm, sizeof(nm), "env %zu-char JOBMETER_JOB: exec and scan agree", vl);
		CHECK(nm, a == b && strcmp(jr, jk) == 0);
		snprintf(nm, sizeof(nm), "env %zu-char JOBMETER_JOB: %s", vl,
			 vl <= JM_ENV_JOB_MAX ? "kept whole" : "rejected, never cut");
		CHECK(nm, vl <= JM_ENV_JOB_MAX ? (a == 1 && strlen(jr) == vl) : (a == 0 && !jr[0]));
	}
	/* A set variable the probe would cut makes the set's name unusable on
	 * both paths (the set claims the process, as for any bad name). */
	{
		char e[400], jb[128], rb[96];
		size_t el = (size_t)sprintf(e, "AIRFLOW_CTX_DAG_ID=");
		memset(e + el, 'd', 126 - el);                 /* entry of 126 bytes: whole */
		el = 126;
		e[el++] = '\0';
		el += (size_t)sprintf(e + el, "AIRFLOW_CTX_TASK_ID=t") + 1;
		CHECK_INT("env set var of 126 bytes kept",
			  jm_env_identity(&cfg, e, el, jb, sizeof(jb), rb, sizeof(rb)), 1);
		CHECK_INT("env set var of 126 bytes: name", strlen(jb), 126 - 19 + 2);
		el = (size_t)sprintf(e, "AIRFLOW_CTX_DAG_ID=");
		memset(e + el, 'd', 127 - el);                 /* 127 bytes: maybe cut */
		el = 127;
		e[el++] = '\0';
		el += (size_t)sprintf(e + el, "AIRFLOW_CTX_TASK_ID=t") + 1;
		CHECK_INT("env set var of 127 bytes rejected",
			  jm_env_identity(&cfg, e, el, jb, sizeof(jb), rb, sizeof(rb)), 0);
	}

	/* jm_env_exec_view: /proc/PID/environ as the probe passes it. */
	{
		static char e[70000];
		char jb[128], rb[96];
		size_t el = 0;
		el += (size_t)sprintf(e + el, "PATH=/usr/bin") + 1;
		el += (size_t)sprintf(e + el, "JOBMETER_RUN_ID=r1") + 1;
		el += (size_t)sprintf(e + el, "HOME=/root") + 1;
		memcpy(e + el, "JOBMETER_JOB=", 13);
		memset(e + el + 13, 'x', 120);
		el += 133;
		e[el++] = '\0';
		size_t vl = jm_env_exec_view(&cfg, e, el);
		CHECK_INT("exec view: two entries, the long one cut to 127 bytes", vl, 19 + 128);
		CHECK_STR("exec view: run id first (environment order)", e, "JOBMETER_RUN_ID=r1");
		CHECK_INT("exec view: JOBMETER_JOB cut", strlen(e + 19), JM_ENV_STR_MAX - 1);
		CHECK_INT("exec view: the cut name is not a job",
			  jm_env_identity(&cfg, e, vl, jb, sizeof(jb), rb, sizeof(rb)), 0);

		/* the copy stops at JM_ENV_LEN: four 127-byte entries fill it */
		el = 0;
		static const char *const big[] = { "AIRFLOW_CTX_DAG_RUN_ID=", "PATH_X=", "JOBMETER_RUN_ID=",
						   "DAGSTER_JOB=", "AIRFLOW_CTX_TASK_ID=", "AIRFLOW_CTX_DAG_ID=" };
		for (size_t i = 0; i < 6; i++) {
			size_t kl = strlen(big[i]);
			memcpy(e + el, big[i], kl);
			memset(e + el + kl, 'v', 200 - kl);
			el += 200;
			e[el++] = '\0';
		}
		vl = jm_env_exec_view(&cfg, e, el);
		CHECK_INT("exec view: bounded by JM_ENV_LEN", vl, JM_ENV_LEN);
		CHECK("exec view: the 4th match is the last copied",
		      memcmp(e + 3 * 128, "AIRFLOW_CTX_TASK_ID=", 20) == 0);
		CHECK("exec view: the 5th match is past the copy",
		      memmem(e, vl, "AIRFLOW_CTX_DAG_ID=", 19) == NULL);

		/* the walk stops after JM_ENV_SCAN_MAX strings */
		el = 0;
		for (int i = 0; i < JM_ENV_SCAN_MAX; i++)
			el += (size_t)sprintf(e + el, "V%d=x", i) + 1;
		el += (size_t)sprintf(e + el, "JOBMETER_JOB=late") + 1;
		CHECK_INT("exec view: beyond the scan bound nothing", jm_env_exec_view(&cfg, e, el), 0);
		el = 0;
		for (int i = 0; i < JM_ENV_SCAN_MAX - 1; i++)
			el += (size_t)sprintf(e + el, "V%d=x", i) + 1;
		el += (size_t)sprintf(e + el, "JOBMETER_JOB=last") + 1;
		vl = jm_env_exec_view(&cfg, e, el);
		CHECK_STR("exec view: the last string the probe reads", e, "JOBMETER_JOB=last");
		/* a string that fills the probe's 256-byte chunk (255 chars and
		 * its NUL) costs two steps, one of 254 chars one */
		for (size_t longlen = 254; longlen <= 255; longlen++) {
			memset(e, 'L', longlen);
			e[1] = '=';
			el = longlen;
			e[el++] = '\0';
			for (int i = 0; i < JM_ENV_SCAN_MAX - 2; i++)
				el += (size_t)sprintf(e + el, "V%d=x", i) + 1;
			el += (size_t)sprintf(e + el, "JOBMETER_JOB=edge") + 1;
			CHECK_INT(longlen == 254 ? "exec view: a 254-char string takes one step"
						 : "exec view: a 255-char string takes two steps",
				  jm_env_exec_view(&cfg, e, el), longlen == 254 ? 18 : 0);
		}
		CHECK_INT("exec view: NULL", jm_env_exec_view(&cfg, NULL, 5), 0);
	}

	char small[8];
	CHECK_INT("env job longer than buffer rejected",
		  jm_env_identity(&cfg, both, sizeof(both) - 1, small, sizeof(small), run, sizeof(run)), 0);
	CHECK_INT("env NULL cfg still reads JOBMETER_JOB",
		  jm_env_identity(NULL, both, sizeof(both) - 1, job, sizeof(job), NULL, 0), 1);
	CHECK_INT("env NULL cfg ignores sets",
		  jm_env_identity(NULL, airflow, sizeof(airflow) - 1, job, sizeof(job), run, sizeof(run)), 0);
	CHECK_INT("env zero length", jm_env_identity(&cfg, airflow, 0, job, sizeof(job), run, sizeof(run)), 0);

	/* Prefixes for the kernel side. */
	char pre[JM_ENV_PREFIX_MAX][JM_ENV_PREFIX_LEN];
	size_t n = jm_env_identity_prefixes(&cfg, pre, JM_ENV_PREFIX_MAX);
	CHECK_INT("prefixes count", n, 6);
	CHECK_STR("prefixes 0", pre[0], "JOBMETER_JOB=");
	CHECK_STR("prefixes 1", pre[1], "JOBMETER_RUN_ID=");
	CHECK_STR("prefixes 2", pre[2], "AIRFLOW_CTX_DAG_ID=");
	CHECK_STR("prefixes 3", pre[3], "AIRFLOW_CTX_TASK_ID=");
	CHECK_STR("prefixes 4", pre[4], "DAGSTER_JOB=");
	CHECK_STR("prefixes 5 run id var last", pre[5], "AIRFLOW_CTX_DAG_RUN_ID=");
	CHECK_INT("prefixes cap 3", jm_env_identity_prefixes(&cfg, pre, 3), 3);
	CHECK_STR("prefixes cap 3: whole set skipped, next fits", pre[2], "DAGSTER_JOB=");

	struct jm_config big;
	memset(&big, 0, sizeof(big));
	big.n_env_sets = 4;
	for (int s = 0; s < 4; s++) {
		big.env_sets[s].n_vars = 2;
		sprintf(big.env_sets[s].vars[0], "SHARED_VAR");       /* dedupe */
		sprintf(big.env_sets[s].vars[1], "SET%d_VAR", s);
		sprintf(big.env_sets[s].run_id_var, "SET%d_RUN", s);
	}
	strcpy(big.env_sets[2].vars[1], "A_VERY_LONG_VARIABLE_NAME_OVER_30_CHARS");
	n = jm_env_identity_prefixes(&big, pre, 64);
	CHECK_INT("prefixes capped at 8", n, 8);
	CHECK_STR("prefixes dedupe shared", pre[2], "SHARED_VAR=");
	CHECK_STR("prefixes set0", pre[3], "SET0_VAR=");
	CHECK_STR("prefixes set1", pre[4], "SET1_VAR=");
	CHECK_STR("prefixes long-name set skipped", pre[5], "SET3_VAR=");
	CHECK_STR("prefixes run ids after sets", pre[6], "SET0_RUN=");
	CHECK_STR("prefixes run ids in order", pre[7], "SET1_RUN=");
	int dups = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			dups += strcmp(pre[i], pre[j]) == 0;
	CHECK_INT("prefixes no duplicates", dups, 0);
	CHECK_INT("prefixes NULL cfg", jm_env_identity_prefixes(NULL, pre, 8), 2);
	CHECK_INT("prefixes max 0", jm_env_identity_prefixes(&cfg, pre, 0), 0);
}

/* -------------------------------------------------------------- systemd */

static void unit_case(const char *name, const char *path, bool ok, const char *want, bool want_user)
{
	char unit[256], n[160];
	bool user = !want_user;
	bool got = jm_systemd_unit_from_cgroup(path, unit, sizeof(unit), &user);
	snprintf(n, sizeof(n), "systemd unit %s", name);
	CHECK_INT(n, got, ok);
	if (ok) {
		snprintf(n, sizeof(n), "systemd unit %s name", name);
		CHECK_STR(n, unit, want);
		snprintf(n, sizeof(n), "systemd unit %s user flag", name);
		CHECK_INT(n, user, want_user);
	}
}

static void test_systemd(void)
{
	unit_case("service", "/system.slice/etl-sales.service", true, "etl-sales.service", false);
	unit_case("scope", "/system.slice/run-r1234.scope", true, "run-r1234.scope", false);
	unit_case("nested slice", "/system.slice/etl.slice/x.service", true, "x.service", false);
	unit_case("deep nested slices", "/system.slice/a.slice/a-b.slice/y.scope", true, "y.scope", false);
	unit_case("sub-cgroup of service", "/system.slice/x.service/worker/inner", true, "x.service", false);
	unit_case("template instance", "/system.slice/system-getty.slice/getty@tty1.service", true,
		  "getty@tty1.service", false);
	unit_case("v1 mount prefix", "/sys/fs/cgroup/systemd/system.slice/cron.service", true,
		  "cron.service", false);
	unit_case("user session scope", "/user.slice/user-1000.slice/session-3.scope", true,
		  "session-3.scope", true);
	unit_case("user service", "/user.slice/user-1000.slice/user@1000.service/app.slice/sync.service",
		  true, "sync.service", true);
	unit_case("init.scope", "/init.scope", false, "", false);
	unit_case("init.scope under system.slice", "/system.slice/init.scope", false, "", false);
	unit_case("root", "/", false, "", false);
	unit_case("bare slice", "/system.slice", false, "", false);
	unit_case("slice only", "/system.slice/etl.slice", false, "", false);
	unit_case("kubepods not systemd", "/kubepods.slice/kubepods-pod" UID_UNDR
		  ".slice/cri-containerd-" CID ".scope", false, "", false);
	unit_case("machine.slice ignored", "/machine.slice/libpod-abc.scope", false, "", false);
	/* Slice= / systemd-run --slice: units outside system.slice. */
	unit_case("service in a custom slice", "/batch.slice/etl.service", true, "etl.service", false);
	unit_case("service in a nested custom slice", "/batch.slice/batch-nightly.slice/etl@2.service",
		  true, "etl@2.service", false);
	unit_case("scope in a custom slice", "/batch.slice/run-u7.scope", true, "run-u7.scope", false);
	unit_case("custom slice, v1 mount prefix", "/sys/fs/cgroup/systemd/batch.slice/etl.service",
		  true, "etl.service", false);
	unit_case("custom slice only", "/batch.slice/batch-x.slice", false, "", false);
	unit_case("kubepods burstable not systemd", "/kubepods.slice/kubepods-burstable.slice/"
		  "kubepods-burstable-pod" UID_UNDR ".slice/crio-conmon-" CID ".scope", false, "", false);
	unit_case("nested kubelet not systemd", "/system.slice/docker-abc.scope/kubelet.slice/"
		  "kubelet-kubepods.slice/kubelet-kubepods-pod" UID_UNDR ".slice/cri-containerd-" CID
		  ".scope", false, "", false);
	unit_case("cgroupfs kubepods not systemd", "/kubepods/burstable/pod" UID_DASH "/" CID,
		  false, "", false);
	unit_case("empty stem", "/system.slice/.service", false, "", false);
	unit_case("control byte", "/system.slice/a\tb.service", false, "", false);
	char tiny[8];
	CHECK("systemd unit too long for buffer",
	      !jm_systemd_unit_from_cgroup("/system.slice/etl-sales.service", tiny, sizeof(tiny), NULL));

	struct jm_config cfg;
	char job[128];
	memset(&cfg, 0, sizeof(cfg));
	cfg.n_systemd = 4;
	strcpy(cfg.systemd[0].unit_glob, "etl-*.service");
	strcpy(cfg.systemd[0].job, "");
	strcpy(cfg.systemd[1].unit_glob, "report-*");
	strcpy(cfg.systemd[1].job, "reports");
	strcpy(cfg.systemd[2].unit_glob, "sync.service");
	strcpy(cfg.systemd[3].unit_glob, "*.scope");

	CHECK_INT("systemd match glob", jm_systemd_match(&cfg, "etl-sales.service", false, job, sizeof(job)), 1);
	CHECK_STR("systemd match default job = unit minus .service", job, "etl-sales");
	CHECK_INT("systemd match named job", jm_systemd_match(&cfg, "report-daily.scope", false, job, sizeof(job)), 1);
	CHECK_STR("systemd match rule job", job, "reports");
	CHECK_INT("systemd match scope", jm_systemd_match(&cfg, "run-r1.scope", false, job, sizeof(job)), 1);
	CHECK_STR("systemd match unit minus .scope", job, "run-r1");
	CHECK_INT("systemd no rule", jm_systemd_match(&cfg, "cron.service", false, job, sizeof(job)), 0);
	CHECK_STR("systemd no rule: job empty", job, "");
	CHECK_INT("systemd user unit not swept by glob",
		  jm_systemd_match(&cfg, "session-3.scope", true, job, sizeof(job)), 0);
	CHECK_INT("systemd user unit named exactly",
		  jm_systemd_match(&cfg, "sync.service", true, job, sizeof(job)), 1);
	CHECK_STR("systemd user unit job", job, "sync");
	CHECK_INT("systemd user unit etl glob ignored",
		  jm_systemd_match(&cfg, "etl-x.service", true, job, sizeof(job)), 0);
	CHECK_INT("systemd job too long for buffer",
		  jm_systemd_match(&cfg, "etl-sales.service", false, tiny, 4), 0);
	CHECK_INT("systemd identity end to end",
		  jm_systemd_identity(&cfg, "/system.slice/etl.slice/etl-sales.service", job, sizeof(job)), 1);
	CHECK_STR("systemd identity job", job, "etl-sales");
	CHECK_INT("systemd identity user session",
		  jm_systemd_identity(&cfg, "/user.slice/user-0.slice/session-1.scope", job, sizeof(job)), 0);
	CHECK_INT("systemd identity init.scope",
		  jm_systemd_identity(&cfg, "/init.scope", job, sizeof(job)), 0);
}

/* ----------------------------------------------------------- k8s parse */

static const char *const qos_slice[] = { "", "burstable", "besteffort" };
static const enum jm_k8s_qos qos_enum[] = { JM_K8S_QOS_GUARANTEED, JM_K8S_QOS_BURSTABLE,
					    JM_K8S_QOS_BESTEFFORT };

static void parse_ok(const char *name, const char *path, const char *uid, const char *cid,
		     enum jm_k8s_runtime rt, enum jm_k8s_qos qos, enum jm_k8s_driver drv)
{
	struct jm_k8s_ids ids;
	char n[200];
	memset(&ids, 0x5a, sizeof(ids));
	bool ok = jm_k8s_parse_cgroup(path, &ids);
	snprintf(n, sizeof(n), "k8s parse %s", name);
	CHECK(n, ok);
	if (!ok) {
		printf("  path was %s\n", path);
		return;
	}
	snprintf(n, sizeof(n), "k8s parse %s uid", name);
	CHECK_STR(n, ids.pod_uid, uid);
	snprintf(n, sizeof(n), "k8s parse %s cid", name);
	CHECK_STR(n, ids.container_id, cid);
	snprintf(n, sizeof(n), "k8s parse %s runtime", name);
	CHECK_STR(n, jm_k8s_runtime_name(ids.runtime), jm_k8s_runtime_name(rt));
	snprintf(n, sizeof(n), "k8s parse %s qos", name);
	CHECK_STR(n, jm_k8s_qos_name(ids.qos), jm_k8s_qos_name(qos));
	snprintf(n, sizeof(n), "k8s parse %s driver", name);
	CHECK_INT(n, ids.driver, drv);
}

static void parse_bad(const char *name, const char *path)
{
	struct jm_k8s_ids ids;
	char n[200];
	snprintf(n, sizeof(n), "k8s reject %s", name);
	CHECK(n, !jm_k8s_parse_cgroup(path, &ids));
}

static void test_k8s_parse(void)
{
	static const struct { const char *pfx; enum jm_k8s_runtime rt; } rts[] = {
		{ "cri-containerd", JM_K8S_RT_CONTAINERD },
		{ "crio", JM_K8S_RT_CRIO },
		{ "docker", JM_K8S_RT_DOCKER },
	};
	char path[1024], name[128];

	/* systemd driver: 3 runtimes x 3 QoS classes. */
	for (size_t r = 0; r < 3; r++) {
		for (size_t q = 0; q < 3; q++) {
			if (q == 0)
				snprintf(path, sizeof(path),
					 "/kubepods.slice/kubepods-pod%s.slice/%s-%s.scope",
					 UID_UNDR, rts[r].pfx, CID);
			else
				snprintf(path, sizeof(path),
					 "/kubepods.slice/kubepods-%s.slice/kubepods-%s-pod%s.slice/%s-%s.scope",
					 qos_slice[q], qos_slice[q], UID_UNDR, rts[r].pfx, CID);
			snprintf(name, sizeof(name), "systemd %s %s", rts[r].pfx,
				 jm_k8s_qos_name(qos_enum[q]));
			parse_ok(name, path, UID_DASH, CID, rts[r].rt, qos_enum[q], JM_K8S_DRIVER_SYSTEMD);
		}
	}
	/* cgroupfs driver: containerd and docker leave a bare CID, CRI-O a
	 * crio-<CID> leaf. */
	for (size_t r = 0; r < 3; r++) {
		for (size_t q = 0; q < 3; q++) {
			bool crio = rts[r].rt == JM_K8S_RT_CRIO;
			snprintf(path, sizeof(path), "/kubepods%s%s/pod%s/%s%s", q ? "/" : "",
				 qos_slice[q], UID_DASH, crio ? "crio-" : "", CID);
			snprintf(name, sizeof(name), "cgroupfs %s %s", rts[r].pfx,
				 jm_k8s_qos_name(qos_enum[q]));
			parse_ok(name, path, UID_DASH, CID, crio ? JM_K8S_RT_CRIO : JM_K8S_RT_UNKNOWN,
				 qos_enum[q], JM_K8S_DRIVER_CGROUPFS);
		}
	}

	/* Prefixes, nesting, sub-cgroups, case, static pods. */
	parse_ok("kubelet.slice nested root",
		 "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/"
		 "kubelet-kubepods-burstable-pod" UID_UNDR ".slice/cri-containerd-" CID ".scope",
		 UID_DASH, CID, JM_K8S_RT_CONTAINERD, JM_K8S_QOS_BURSTABLE, JM_K8S_DRIVER_SYSTEMD);
	parse_ok("kubelet.slice nested root guaranteed",
		 "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" UID_UNDR
		 ".slice/crio-" CID ".scope",
		 UID_DASH, CID, JM_K8S_RT_CRIO, JM_K8S_QOS_GUARANTEED, JM_K8S_DRIVER_SYSTEMD);
	parse_ok("v1 memory mount prefix cgroupfs",
		 "/sys/fs/cgroup/memory/kubepods/burstable/pod" UID_DASH "/" CID,
		 UID_DASH, CID, JM_K8S_RT_UNKNOWN, JM_K8S_QOS_BURSTABLE, JM_K8S_DRIVER_CGROUPFS);
	parse_ok("v1 cpu mount prefix systemd",
		 "/sys/fs/cgroup/cpu,cpuacct/kubepods.slice/kubepods-besteffort.slice/"
		 "kubepods-besteffort-pod" UID_UNDR ".slice/docker-" CID ".scope",
		 UID_DASH, CID, JM_K8S_RT_DOCKER, JM_K8S_QOS_BESTEFFORT, JM_K8S_DRIVER_SYSTEMD);
	parse_ok("container sub-cgroup",
		 "/kubepods.slice/kubepods-pod" UID_UNDR ".slice/cri-containerd-" CID ".scope/init/x",
		 UID_DASH, CID, JM_K8S_RT_CONTAINERD, JM_K8S_QOS_GUARANTEED, JM_K8S_DRIVER_SYSTEMD);
	parse_ok("trailing slash",
		 "/kubepods/pod" UID_DASH "/" CID "/",
		 UID_DASH, CID, JM_K8S_RT_UNKNOWN, JM_K8S_QOS_GUARANTEED, JM_K8S_DRIVER_CGROUPFS);
	parse_ok("upper-case hex lowered",
		 "/kubepods.slice/kubepods-pod3F2A9C1E_7B4D_4E8A_9C2B_1D5E6F7A8B9C.slice/cri-containerd-"
		 CID_UP ".scope",
		 UID_DASH, CID, JM_K8S_RT_CONTAINERD, JM_K8S_QOS_GUARANTEED, JM_K8S_DRIVER_SYSTEMD);
	parse_ok("static pod md5 uid",
		 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
		 "6a5b8e3f7c2d4e1a9b8c7d6e5f4a3b2c.slice/cri-containerd-" CID ".scope",
		 "6a5b8e3f7c2d4e1a9b8c7d6e5f4a3b2c", CID, JM_K8S_RT_CONTAINERD, JM_K8S_QOS_BURSTABLE,
		 JM_K8S_DRIVER_SYSTEMD);
	parse_ok("nested kubelet: innermost pod wins",
		 "/kubepods.slice/kubepods-pod" UID_UNDR ".slice/cri-containerd-" CID ".scope/"
		 "kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
		 "kubelet-kubepods-besteffort-pod11111111_2222_3333_4444_555555555555.slice/"
		 "cri-containerd-" CID2 ".scope",
		 "11111111-2222-3333-4444-555555555555", CID2, JM_K8S_RT_CONTAINERD,
		 JM_K8S_QOS_BESTEFFORT, JM_K8S_DRIVER_SYSTEMD);
	parse_ok("cgroupfs crio leaf under bare cid",
		 "/kubepods/besteffort/pod" UID_DASH "/" CID "/crio-" CID,
		 UID_DASH, CID, JM_K8S_RT_CRIO, JM_K8S_QOS_BESTEFFORT, JM_K8S_DRIVER_CGROUPFS);

	/* Near-misses. */
	parse_bad("uid 35 chars", "/kubepods.slice/kubepods-pod3f2a9c1e_7b4d_4e8a_9c2b_1d5e6f7a8b9"
		  ".slice/cri-containerd-" CID ".scope");
	parse_bad("uid 37 chars", "/kubepods.slice/kubepods-pod3f2a9c1e_7b4d_4e8a_9c2b_1d5e6f7a8b9cd"
		  ".slice/cri-containerd-" CID ".scope");
	parse_bad("uid non-hex", "/kubepods.slice/kubepods-pod3f2a9c1e_7b4d_4e8a_9c2b_1d5e6f7a8b9g"
		  ".slice/cri-containerd-" CID ".scope");
	parse_bad("uid misplaced separator", "/kubepods.slice/kubepods-pod3f2a9c1e7_b4d_4e8a_9c2b_1d5e6f7a8b9c"
		  ".slice/cri-containerd-" CID ".scope");
	parse_bad("systemd uid with dashes", "/kubepods.slice/kubepods-pod" UID_DASH
		  ".slice/cri-containerd-" CID ".scope");
	parse_bad("cgroupfs uid with underscores", "/kubepods/burstable/pod" UID_UNDR "/" CID);
	parse_bad("cid 63 hex", "/kubepods.slice/kubepods-pod" UID_UNDR ".slice/cri-containerd-"
		  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde.scope");
	parse_bad("cid 65 hex", "/kubepods.slice/kubepods-pod" UID_UNDR ".slice/cri-containerd-" CID "0.scope");
	parse_bad("cid non-hex", "/kubepods.slice/kubepods-pod" UID_UNDR ".slice/cri-containerd-"
		  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdez.scope");
	parse_bad("cgroupfs cid non-hex", "/kubepods/pod" UID_DASH "/"
		  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdex");
	parse_bad("crio-conmon scope", "/kubepods.slice/kubepods-pod" UID_UNDR ".slice/crio-conmon-" CID ".scope");
	parse_bad("unknown runtime", "/kubepods.slice/kubepods-pod" UID_UNDR ".slice/containerd-" CID ".scope");
	parse_bad("scope without suffix", "/kubepods.slice/kubepods-pod" UID_UNDR ".slice/cri-containerd-" CID);
	parse_bad("pod slice only", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
		  UID_UNDR ".slice");
	parse_bad("qos slice mismatch", "/kubepods.slice/kubepods-besteffort.slice/kubepods-burstable-pod"
		  UID_UNDR ".slice/cri-containerd-" CID ".scope");
	parse_bad("missing qos slice", "/kubepods.slice/kubepods-burstable-pod" UID_UNDR
		  ".slice/cri-containerd-" CID ".scope");
	parse_bad("missing kubepods.slice", "/kubepods-burstable.slice/kubepods-burstable-pod" UID_UNDR
		  ".slice/cri-containerd-" CID ".scope");
	parse_bad("unknown qos", "/kubepods.slice/kubepods-gold.slice/kubepods-gold-pod" UID_UNDR
		  ".slice/cri-containerd-" CID ".scope");
	parse_bad("xkubepods", "/xkubepods.slice/xkubepods-pod" UID_UNDR ".slice/cri-containerd-" CID ".scope");
	parse_bad("cgroupfs unknown qos", "/kubepods/gold/pod" UID_DASH "/" CID);
	parse_bad("cgroupfs no kubepods", "/pods/burstable/pod" UID_DASH "/" CID);
	parse_bad("cgroupfs pod dir only", "/kubepods/burstable/pod" UID_DASH);
	parse_bad("plain docker", "/docker/" CID);
	parse_bad("system service", "/system.slice/cron.service");
	parse_bad("root", "/");
	parse_bad("empty", "");

	/* Over-deep paths are refused rather than overrunning anything. */
	static char deep[8192];
	size_t off = 0;
	for (int i = 0; i < 300; i++)
		off += (size_t)snprintf(deep + off, sizeof(deep) - off, "/a");
	snprintf(deep + off, sizeof(deep) - off, "/kubepods/pod" UID_DASH "/" CID);
	parse_bad("300 components", deep);
}

/* ------------------------------------------------------------ job names */

static void name_case(const char *ns, const char *pod, const char *want_job, const char *want_kind)
{
	char job[128], kind[16], n[200];
	jm_k8s_job_name(ns, pod, job, sizeof(job), kind, sizeof(kind));
	snprintf(n, sizeof(n), "k8s job name %s", pod);
	CHECK_STR(n, job, want_job);
	snprintf(n, sizeof(n), "k8s job kind %s", pod);
	CHECK_STR(n, kind, want_kind);
}

static void test_k8s_names(void)
{
	name_case("etl", "nightly-sales-28512345-x7k2p", "etl/nightly-sales", "CronJob");
	name_case("etl", "report-29000000-abcde", "etl/report", "CronJob");
	name_case("etl", "my-very-long-daily-etl-report-29433120-q8z4m",
		  "etl/my-very-long-daily-etl-report", "CronJob");
	name_case("etl", "load-sales-x7k2p", "etl/load-sales", "Job");
	name_case("etl", "backfill-x7k2p", "etl/backfill", "Job");
	name_case("etl", "a-b-c-d-e-loader-x7k2p", "etl/a-b-c-d-e-loader", "Job");
	/* Dates in a Job's name are not CronJob schedule minutes. */
	name_case("etl", "backfill-20240101-x7k2p", "etl/backfill-20240101", "Job");
	/* Too small / too large / leading zero: not minutes since the epoch. */
	name_case("etl", "step-1234567-x7k2p", "etl/step-1234567", "Job");
	name_case("etl", "step-123456789-x7k2p", "etl/step-123456789", "Job");
	name_case("etl", "step-02851234-x7k2p", "etl/step-02851234", "Job");
	name_case("web", "frontend-66b6c48dd5-4jw2p", "web/frontend", "Deployment");
	name_case("web", "api-gateway-7f9c6b8d5e-k2x9q", "web/api-gateway", "Deployment");
	name_case("kube-system", "coredns-5d78c9869d-8xkqp", "kube-system/coredns", "Deployment");
	/* All-digit hashes (digits 4..9 only), including 8-digit ones that a
	 * naive "looks like minutes" test would take for a CronJob. */
	name_case("web", "web-5894675948-x2k9q", "web/web", "Deployment");
	name_case("web", "web-56789456-x2k9q", "web/web", "Deployment");
	name_case("web", "web-4444444-x2k9q", "web/web", "Deployment");
	name_case("web", "cache-bcdfbd-x2k9q", "web/cache", "Deployment");
	name_case("default", "debug", "default/debug", "Pod");
	name_case("default", "redis-0", "default/redis-0", "Pod");
	name_case("default", "my-app-server-v2", "default/my-app-server-v2", "Pod");
	name_case("default", "toolbox-ABCDE", "default/toolbox-ABCDE", "Pod");
	name_case("default", "x7k2p", "default/x7k2p", "Pod");
	name_case("default", "-x7k2p", "default/-x7k2p", "Pod");

	/* Bare pods may have 253-character names: cut, never merged. */
	{
		char p1[254], p2[254], j1[128], j2[128], j1b[128], k1[16];
		memset(p1, 'p', 200);
		memcpy(p1 + 200, "-one", 5);
		memset(p2, 'p', 200);
		memcpy(p2 + 200, "-two", 5);
		jm_k8s_job_name("etl", p1, j1, sizeof(j1), k1, sizeof(k1));
		jm_k8s_job_name("etl", p2, j2, sizeof(j2), NULL, 0);
		jm_k8s_job_name("etl", p1, j1b, sizeof(j1b), NULL, 0);
		CHECK_INT("k8s long pod name: job fills the buffer", strlen(j1), 127);
		CHECK("k8s long pod name: keeps ns/ and the prefix", strncmp(j1, "etl/pppp", 8) == 0);
		CHECK("k8s long pod name: ends in ~hash", j1[118] == '~' &&
		      strspn(j1 + 119, "0123456789abcdef") == 8);
		CHECK("k8s long pod names sharing a prefix stay apart", strcmp(j1, j2) != 0);
		CHECK_STR("k8s long pod name: stable", j1, j1b);
		CHECK_STR("k8s long pod name: kind", k1, "Pod");
		/* 127 exactly still fits whole */
		char p3[254], j3[128];
		memset(p3, 'q', 123);
		p3[123] = '\0';
		jm_k8s_job_name("etl", p3, j3, sizeof(j3), NULL, 0);
		CHECK("k8s pod name that fits is not hashed", strlen(j3) == 127 && !strchr(j3, '~'));
	}

	char job[8], kind[4];
	jm_k8s_job_name("etl", "nightly-sales-28512345-x7k2p", job, sizeof(job), kind, sizeof(kind));
	CHECK_STR("k8s job name truncated", job, "etl/nig");
	CHECK_STR("k8s job kind truncated", kind, "Cro");
	jm_k8s_job_name(NULL, NULL, job, sizeof(job), kind, sizeof(kind));
	CHECK_STR("k8s job name NULL inputs", job, "/");
}

/* ------------------------------------------------------------- resolver */

static int put_file(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs("log\n", f);
	return fclose(f);
}

static void test_k8s_resolve(void)
{
	char root[] = "/tmp/jm-idtest.XXXXXX";
	char p[512], q[512];
	struct jm_k8s_ids ids;
	struct jm_k8s_names nm;
	int ok = 0;

	if (!mkdtemp(root)) {
		CHECK("resolve mkdtemp", 0);
		return;
	}
	/* Pod A (UID_DASH) in ns etl: container "loader" restarted 3 times,
	 * container "sidecar" never.  Pod B: other namespace, same pod name. */
	snprintf(p, sizeof(p), "%s/pods", root);
	ok |= mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/containers", root);
	ok |= mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/pods/other_nightly-sales-28512345-x7k2p_11111111-2222-3333-4444-555555555555", root);
	ok |= mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/pods/etl_nightly-sales-28512345-x7k2p_" UID_DASH, root);
	ok |= mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/pods/etl_nightly-sales-28512345-x7k2p_" UID_DASH "/loader", root);
	ok |= mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/pods/etl_nightly-sales-28512345-x7k2p_" UID_DASH "/sidecar", root);
	ok |= mkdir(p, 0755);
	for (int i = 0; i <= 3; i++) {
		snprintf(p, sizeof(p), "%s/pods/etl_nightly-sales-28512345-x7k2p_" UID_DASH "/loader/%d.log",
			 root, i);
		ok |= put_file(p);
	}
	/* A rotated file of an older instance must not count. */
	snprintf(p, sizeof(p), "%s/pods/etl_nightly-sales-28512345-x7k2p_" UID_DASH
		 "/loader/7.log.20240101-000000", root);
	ok |= put_file(p);
	snprintf(p, sizeof(p), "%s/pods/etl_nightly-sales-28512345-x7k2p_" UID_DASH "/sidecar/0.log", root);
	ok |= put_file(p);

	snprintf(q, sizeof(q), "%s/pods/etl_nightly-sales-28512345-x7k2p_" UID_DASH "/loader/3.log", root);
	snprintf(p, sizeof(p), "%s/containers/nightly-sales-28512345-x7k2p_etl_loader-" CID ".log", root);
	ok |= symlink(q, p);
	snprintf(q, sizeof(q), "%s/pods/etl_nightly-sales-28512345-x7k2p_" UID_DASH "/sidecar/0.log", root);
	snprintf(p, sizeof(p), "%s/containers/nightly-sales-28512345-x7k2p_etl_sidecar-" CID2 ".log", root);
	ok |= symlink(q, p);
	/* Same pod name and container in another namespace, same CID tail:
	 * must not be picked for ns etl. */
	snprintf(p, sizeof(p), "%s/containers/nightly-sales-28512345-x7k2p_other_loader-" CID2 ".log", root);
	ok |= symlink("/nonexistent/0.log", p);
	CHECK_INT("resolve fake log root built", ok, 0);

	memset(&ids, 0, sizeof(ids));
	strcpy(ids.pod_uid, UID_DASH);
	strcpy(ids.container_id, CID);
	CHECK_INT("resolve loader", jm_k8s_resolve(root, &ids, &nm), JM_K8S_RESOLVE_CONTAINER);
	CHECK_STR("resolve loader ns", nm.ns, "etl");
	CHECK_STR("resolve loader pod", nm.pod, "nightly-sales-28512345-x7k2p");
	CHECK_STR("resolve loader container", nm.container, "loader");
	CHECK_INT("resolve loader restarts 3", nm.restarts, 3);

	strcpy(ids.container_id, CID2);
	CHECK_INT("resolve sidecar", jm_k8s_resolve(root, &ids, &nm), JM_K8S_RESOLVE_CONTAINER);
	CHECK_STR("resolve sidecar container", nm.container, "sidecar");
	CHECK_INT("resolve sidecar restarts 0", nm.restarts, 0);

	/* Pause container / symlink not there yet: pod only. */
	strcpy(ids.container_id, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	CHECK_INT("resolve unknown container", jm_k8s_resolve(root, &ids, &nm), JM_K8S_RESOLVE_POD);
	CHECK_STR("resolve unknown container ns", nm.ns, "etl");
	CHECK_STR("resolve unknown container empty name", nm.container, "");
	CHECK_INT("resolve unknown container restarts -1", nm.restarts, -1);

	strcpy(ids.pod_uid, "99999999-2222-3333-4444-555555555555");
	CHECK_INT("resolve unknown pod", jm_k8s_resolve(root, &ids, &nm), JM_K8S_RESOLVE_NONE);
	CHECK_STR("resolve unknown pod ns empty", nm.ns, "");

	/* Other pod: found, but its only container link is a dangling one
	 * whose log dir does not exist -> restarts from the link target. */
	strcpy(ids.pod_uid, "11111111-2222-3333-4444-555555555555");
	strcpy(ids.container_id, CID2);
	CHECK_INT("resolve other ns", jm_k8s_resolve(root, &ids, &nm), JM_K8S_RESOLVE_CONTAINER);
	CHECK_STR("resolve other ns ns", nm.ns, "other");
	CHECK_STR("resolve other ns container", nm.container, "loader");
	CHECK_INT("resolve other ns restarts from link", nm.restarts, 0);

	errno = 0;
	CHECK_INT("resolve missing root", jm_k8s_resolve("/nonexistent-jm-root", &ids, &nm), -1);
	CHECK_INT("resolve missing root errno", errno, ENOENT);

	/* End to end: a cgroup path straight into names. */
	CHECK("resolve e2e parse", jm_k8s_parse_cgroup(
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_UNDR
		".slice/cri-containerd-" CID ".scope", &ids));
	CHECK_INT("resolve e2e", jm_k8s_resolve(root, &ids, &nm), JM_K8S_RESOLVE_CONTAINER);
	char job[128], kind[16];
	jm_k8s_job_name(nm.ns, nm.pod, job, sizeof(job), kind, sizeof(kind));
	CHECK_STR("resolve e2e job", job, "etl/nightly-sales");
	CHECK_STR("resolve e2e kind", kind, "CronJob");

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK_INT("resolve cleanup", system(cmd), 0);
}

/* The pod sandbox: named "pause" and never given a kubelet log name. */
static void test_k8s_sandbox(void)
{
	struct jm_k8s_names unnamed = { .restarts = -1 }, named = { .container = "main" };
	CHECK("sandbox: pause, no container name", jm_k8s_is_sandbox("pause", "/pause", &unnamed));
	CHECK("sandbox: exe alone names it", jm_k8s_is_sandbox("runc:[2:INIT]", "/pause", &unnamed));
	CHECK("sandbox: no log root, the name decides", jm_k8s_is_sandbox("pause", "", NULL));
	CHECK("sandbox: a named container called pause is a job", !jm_k8s_is_sandbox("pause", "/pause", &named));
	CHECK("sandbox: an unnamed container not called pause is a job",
	      !jm_k8s_is_sandbox("python3", "/usr/bin/python3", &unnamed));
	CHECK("sandbox: pause-like names are not pause", !jm_k8s_is_sandbox("pauser", "/bin/pause.sh", &unnamed));
	CHECK("sandbox: NULL comm and exe", !jm_k8s_is_sandbox(NULL, NULL, &unnamed));
}

int main(void)
{
	test_env();
	test_systemd();
	test_k8s_parse();
	test_k8s_names();
	test_k8s_resolve();
	test_k8s_sandbox();
	TEST_EXIT();
}
