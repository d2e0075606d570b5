/* Run state machine and JSON rendering: synthetic lifecycles in, golden
 * records and lines out. */
#include <stdlib.h>

#include "harness.h"
#include "buf.h"
#include "jobs.h"
#include "render_json.h"

struct sink_log {
	int runs, windows;
	struct jm_run_record last;
	struct jm_window_record lastw;
	char line[4096];
};

static void on_run(void *ctx, const struct jm_run_record *r)
{
	struct sink_log *l = ctx;
	struct jm_buf b;
	l->runs++;
	l->last = *r;
	l->last.db = NULL;
	l->last.outputs = NULL;
	jm_buf_init(&b);
	jm_json_run(&b, r);
	snprintf(l->line, sizeof(l->line), "%s", b.data);
	jm_buf_free(&b);
}

static void on_window(void *ctx, const struct jm_window_record *w)
{
	struct sink_log *l = ctx;
	l->windows++;
	l->lastw = *w;
	l->lastw.db = NULL;
	l->lastw.outputs = NULL;
}

#define S(x) ((int64_t)(x) * 1000000000LL)

/* An exit, then the flush the agent does once the io ring is drained. */
static void exit_flush(struct jm_jobs *j, struct jm_run *r, bool root, int status, int64_t ns)
{
	jm_run_proc_exit(r, root, status, ns);
	jm_jobs_flush_ended(j);
}

int main(void)
{
	struct sink_log log = { 0 };
	struct jm_jobs_sink sink = { on_run, on_window, &log };
	struct jm_jobs *j = jm_jobs_new(2, &sink);

	/* success: root + child, child exits last */
	struct jm_run *r = jm_jobs_proc_start(j, "etl", "run-1", "env", S(100));
	CHECK("start returns a run", r != NULL);
	jm_run_proc_join(r);
	struct jm_counters d = { .cpu_s = 1.5, .file_read_bytes = 1000 };
	jm_run_add(r, &d);
	jm_run_rss(r, 5000);
	jm_run_rss(r, 3000);
	exit_flush(j, r, true, 0, S(101));
	CHECK_INT("root exit does not end a run with live children", log.runs, 0);
	exit_flush(j, r, false, 1 << 8, S(102));
	CHECK_INT("last exit ends the run", log.runs, 1);
	CHECK_INT("outcome from the root, not the child", log.last.outcome, JM_OUTCOME_SUCCESS);
	CHECK_INT("processes", log.last.counters.processes, 2);
	CHECK_INT("peak rss is the max", log.last.counters.peak_rss_bytes, 5000);
	CHECK_INT("duration", log.last.end_ns - log.last.start_ns, S(2));
	CHECK_STR("run id kept", log.last.run_id, "run-1");
	CHECK("not a restart", !log.last.restart);
	CHECK_STR("json golden",
		  log.line,
		  "{\"type\":\"run\",\"job\":\"etl\",\"run_id\":\"run-1\","
		  "\"start_time\":\"1970-01-01T00:01:40.000000000Z\","
		  "\"end_time\":\"1970-01-01T00:01:42.000000000Z\",\"duration_s\":2,"
		  "\"outcome\":\"success\",\"exit_code\":0,\"signal\":0,\"oom_killed\":false,"
		  "\"restart\":false,\"source\":\"env\",\"processes\":2,\"cpu_s\":1.5,"
		  "\"peak_rss_bytes\":5000,\"mem_gib_s\":0,\"file_read_bytes\":1000,"
		  "\"file_write_bytes\":0,\"net_rx_bytes\":0,\"net_tx_bytes\":0,\"db\":[],"
		  "\"outputs\":[]}\n");

	/* failure by exit code, then by signal: both restarts afterwards */
	r = jm_jobs_proc_start(j, "etl", NULL, "env", S(110));
	exit_flush(j, r, true, 3 << 8, S(111));
	CHECK_INT("exit 3 is a failure", log.last.outcome, JM_OUTCOME_FAILURE);
	CHECK_INT("exit code 3", log.last.exit_code, 3);
	CHECK_INT("no signal", log.last.signal, 0);
	CHECK("generated run id", log.last.run_id[0] != 0);
	r = jm_jobs_proc_start(j, "etl", NULL, "env", S(120));
	exit_flush(j, r, true, 9, S(121));
	CHECK_INT("signal 9", log.last.signal, 9);
	CHECK_INT("signal exit code -1", log.last.exit_code, -1);
	CHECK("run after a failure is a restart", log.last.restart);
	r = jm_jobs_proc_start(j, "etl", NULL, "env", S(130));
	exit_flush(j, r, true, 0, S(131));
	CHECK("run after a failure is a restart (3rd)", log.last.restart);
	r = jm_jobs_proc_start(j, "etl", NULL, "env", S(140));
	exit_flush(j, r, true, 0, S(141));
	CHECK("run after a success is not a restart", !log.last.restart);

	/* OOM: success exit code, still a failure (a child was OOM-killed and
	 * the root exited 0: only oom_killed can make it a failure) */
	r = jm_jobs_proc_start(j, "etl", NULL, "env", S(150));
	CHECK("oom: the child joins the root's run", jm_jobs_proc_start(j, "etl", NULL, "env", S(150)) == r);
	jm_run_oom(r);
	jm_run_proc_exit(r, false, 9, S(151));              /* the child: SIGKILL by the OOM killer */
	exit_flush(j, r, true, 0, S(151));                  /* the root: exit 0 */
	CHECK("oom flagged", log.last.oom_killed);
	CHECK_INT("oom: root exit code 0", log.last.exit_code, 0);
	CHECK_INT("oom: no signal on the root", log.last.signal, 0);
	CHECK_INT("oom is a failure", log.last.outcome, JM_OUTCOME_FAILURE);

	/* lost exit: the root's status was never seen, so the outcome is
	 * unknown, not success (and the next run is no restart) */
	r = jm_jobs_proc_start(j, "etl", NULL, "env", S(160));
	exit_flush(j, r, true, JM_STATUS_UNKNOWN, S(161));
	CHECK_INT("lost exit: outcome unknown", log.last.outcome, JM_OUTCOME_UNSPECIFIED);
	CHECK_INT("lost exit: no exit code", log.last.exit_code, -1);
	CHECK_INT("lost exit: no signal", log.last.signal, 0);
	CHECK("lost exit: JSON says unknown", strstr(log.line, "\"outcome\":\"unknown\",\"exit_code\":-1,\"signal\":0") != NULL);
	r = jm_jobs_proc_start(j, "etl", NULL, "env", S(170));
	jm_run_oom(r);
	exit_flush(j, r, true, JM_STATUS_UNKNOWN, S(171));
	CHECK_INT("lost exit after an OOM kill: failure", log.last.outcome, JM_OUTCOME_FAILURE);
	r = jm_jobs_proc_start(j, "etl", NULL, "env", S(180));
	jm_run_proc_join(r);
	jm_run_proc_exit(r, false, JM_STATUS_UNKNOWN, S(181));    /* a child's exit lost */
	exit_flush(j, r, true, 0, S(182));
	CHECK_INT("lost exit of a child: the root decides", log.last.outcome, JM_OUTCOME_SUCCESS);

	/* concurrent runs: distinct run ids stay apart, none merge */
	struct jm_run *a = jm_jobs_proc_start(j, "etl", "A", "env", S(200));
	struct jm_run *b = jm_jobs_proc_start(j, "etl", "B", "env", S(200));
	CHECK("distinct run ids give distinct runs", a != b);
	struct jm_run *a2 = jm_jobs_proc_start(j, "etl", "A", "env", S(201));
	CHECK("same run id joins", a == a2);
	CHECK_INT("joined run has 2 live", jm_run_live(a), 2);
	/* keys (a pod, a unit) tell concurrent runs apart without run ids */
	bool created;
	struct jm_run *k1 = jm_jobs_proc_start_keyed(j, "etl", NULL, "pod:1", "kubernetes", S(200), &created);
	CHECK("key: a new run", k1 && created && k1 != a && k1 != b);
	struct jm_run *k2 = jm_jobs_proc_start_keyed(j, "etl", NULL, "pod:2", "kubernetes", S(200), &created);
	CHECK("key: another pod, another run", k2 && created && k2 != k1);
	struct jm_run *k1b = jm_jobs_proc_start_keyed(j, "etl", NULL, "pod:1", "kubernetes", S(201), &created);
	CHECK("key: the same pod joins its run", k1b == k1 && !created && jm_run_live(k1) == 2);
	struct jm_run *nk = jm_jobs_proc_start(j, "etl", NULL, "env", S(201));
	CHECK("key: a process without key or run id joins a run without a key", nk != k1 && nk != k2);
	/* ... and not a run tagged with a run id: untagged, it is not that
	 * run's (it would decide the tagged run's outcome). */
	CHECK("run id: an untagged process does not join a tagged run", nk != a && nk != b);
	CHECK_INT("run id: the tagged runs keep their processes", jm_run_live(b), 1);
	struct jm_run *nk2 = jm_jobs_proc_start(j, "etl", NULL, "env", S(202));
	CHECK("run id: a second untagged process joins the untagged run", nk2 == nk);



	/* windows: deltas, then reset; the first starts where it was told */
	log.windows = 0;
	jm_jobs_set_window_start(j, S(199));
	struct jm_counters d2 = { .cpu_s = 0.25, .net_tx_bytes = 7 };
	jm_run_add(b, &d2);
	jm_jobs_flush_windows(j, S(202));
	CHECK_INT("one window per active job", log.windows, 1);
	CHECK("window carries deltas", log.lastw.counters.net_tx_bytes == 7);
	CHECK_INT("the first window starts at the set start", log.lastw.start_ns, S(199));
	jm_jobs_flush_windows(j, S(203));
	CHECK("window after flush starts from zero", log.lastw.counters.net_tx_bytes == 0);
	CHECK_INT("window start is the previous flush", log.lastw.start_ns, S(202));

	/* job cap */
	CHECK("second job fits", jm_jobs_proc_start(j, "other", NULL, "env", S(300)) != NULL);
	CHECK("third job is over the cap", jm_jobs_proc_start(j, "third", NULL, "env", S(300)) == NULL);
	struct jm_jobs_stats st;
	jm_jobs_stats(j, &st);
	CHECK_INT("cap overflow counted", st.jobs_overflow, 1);
	jm_jobs_free(j);

	/* The cap is on jobs at once: idle jobs make room for new ones. */
	{
		struct sink_log lc = { 0 };
		struct jm_jobs_sink sc = { on_run, on_window, &lc };
		struct jm_jobs *jc = jm_jobs_new(2, &sc);
		struct jm_run *ra = jm_jobs_proc_start(jc, "cap-a", NULL, "env", S(10));
		struct jm_run *rb = jm_jobs_proc_start(jc, "cap-b", NULL, "env", S(11));
		CHECK("cap: two jobs fit", ra && rb);
		CHECK("cap: both live, a third does not fit",
		      jm_jobs_proc_start(jc, "cap-c", NULL, "env", S(12)) == NULL);
		/* a's run ended but its record is held (CPU still to come) */
		jm_run_hold(ra);
		jm_run_proc_exit(ra, true, 1 << 8, S(13));
		jm_jobs_flush_ended(jc);
		jm_jobs_flush_windows(jc, S(14));
		CHECK("cap: a job whose run record is still held keeps its place",
		      jm_jobs_proc_start(jc, "cap-c", NULL, "env", S(15)) == NULL);
		jm_run_add(ra, &(struct jm_counters){ .cpu_s = 0.5 });   /* the late CPU */
		jm_run_unhold(ra);
		jm_jobs_flush_ended(jc);
		CHECK_INT("cap: held run emitted", lc.runs, 1);
		CHECK("cap: held run got its late CPU", lc.last.counters.cpu_s == 0.5);
		CHECK("cap: a job whose last window is not out yet keeps its place",
		      jm_jobs_proc_start(jc, "cap-c", NULL, "env", S(16)) == NULL);
		jm_jobs_flush_windows(jc, S(17));
		struct jm_run *rc = jm_jobs_proc_start(jc, "cap-c", NULL, "env", S(18));
		CHECK("cap: an idle job makes room for a new one", rc != NULL);
		if (rc)
			jm_run_proc_exit(rc, true, 0, S(19));
		jm_jobs_flush_ended(jc);
		CHECK_STR("cap: the new job's run is emitted", lc.last.job, "cap-c");
		jm_jobs_flush_windows(jc, S(20));
		/* a was evicted: it comes back as a new job, not a restart */
		struct jm_run *ra2 = jm_jobs_proc_start(jc, "cap-a", NULL, "env", S(21));
		CHECK("cap: an evicted job can come back", ra2 != NULL);
		CHECK("cap: b, still live, was not evicted",
		      jm_jobs_proc_start(jc, "cap-b", NULL, "env", S(22)) == rb);
		struct jm_jobs_stats sc2;
		jm_jobs_stats(jc, &sc2);
		CHECK_INT("cap: jobs held never exceed the cap", sc2.jobs, 2);
		CHECK_INT("cap: overflows counted only when no job was idle", sc2.jobs_overflow, 3);
		jm_jobs_free(jc);
	}

	struct jm_jobs *j2 = jm_jobs_new(10, &sink);
	/* An ended run is not joined by the job's next process, and its record
	 * waits for the flush (late query results still land in it). */
	int before = log.runs;
	struct jm_run *e1 = jm_jobs_proc_start(j2, "late", NULL, "env", S(210));
	jm_run_proc_exit(e1, true, 1 << 8, S(211));
	struct jm_run *e2 = jm_jobs_proc_start(j2, "late", NULL, "env", S(211));
	CHECK("a run that ended is not joined", e1 != e2);
	CHECK_INT("record waits for the flush", log.runs, before);
	struct jm_db_stats *late = jm_run_db(e1, JM_DB_POSTGRES, "x:5432", false);
	if (late)
		late->queries = 7;
	jm_jobs_flush_ended(j2);
	CHECK_INT("flush emits the ended run", log.runs, before + 1);
	CHECK_INT("late results are in the record", log.last.n_db, 1);
	CHECK("next run of a failed one is a restart", e2 && jm_run_live(e2) == 1);
	exit_flush(j2, e2, true, 0, S(212));
	CHECK("restart flag on the run after the failure", log.last.restart);
	jm_jobs_free(j2);

	/* A run held for figures still to come (jm_run_hold) waits for them,
	 * and runs that ended after it wait too: records keep the order the
	 * runs ended in. */
	struct jm_jobs *j5 = jm_jobs_new(10, &sink);
	struct jm_run *h1 = jm_jobs_proc_start(j5, "held", NULL, "env", S(600));
	jm_run_hold(h1);
	jm_run_proc_exit(h1, true, 1 << 8, S(601));
	struct jm_run *h2 = jm_jobs_proc_start(j5, "held", NULL, "env", S(601));
	CHECK("hold: the held run ended (the next process starts a new run)", h2 != h1);
	jm_run_proc_exit(h2, true, 0, S(602));
	before = log.runs;
	jm_jobs_flush_ended(j5);
	CHECK_INT("hold: no record while the first run is held", log.runs, before);
	jm_run_add(h1, &d);
	jm_run_unhold(h1);
	jm_jobs_flush_ended(j5);
	CHECK_INT("hold: released, both records go", log.runs, before + 2);
	CHECK("hold: in the order the runs ended (the restart last)",
	      log.last.end_ns == S(602) && log.last.restart);
	struct jm_run *h3 = jm_jobs_proc_start(j5, "held", NULL, "env", S(603));
	jm_run_hold(h3);
	jm_run_proc_exit(h3, true, 0, S(604));
	jm_jobs_flush_ended_all(j5);
	CHECK_INT("hold: flush_ended_all does not wait", log.runs, before + 3);
	jm_jobs_free(j5);

	/* jm_run_db_gen: DB slot pointers are cached by the DB module while it
	 * holds, so it must move whenever one may go stale, and only then. */
	struct jm_jobs *j3 = jm_jobs_new(10, &sink);
	struct jm_run *g1 = jm_jobs_proc_start(j3, "gen", NULL, "env", S(400));
	struct jm_run *g2 = jm_jobs_proc_start(j3, "gen2", NULL, "env", S(400));
	struct jm_db_stats *rs = jm_run_db(g1, JM_DB_POSTGRES, "a:5432", false);
	struct jm_db_stats *ws = jm_run_db(g1, JM_DB_POSTGRES, "a:5432", true);
	uint64_t g = jm_run_db_gen(g1);
	CHECK("same slots again: run", jm_run_db(g1, JM_DB_POSTGRES, "a:5432", false) == rs);
	CHECK("same slots again: window", jm_run_db(g1, JM_DB_POSTGRES, "a:5432", true) == ws);
	CHECK("finding existing slots keeps the generation", jm_run_db_gen(g1) == g);
	CHECK("one generation for every run", jm_run_db_gen(g2) == g);
	jm_run_db(g1, JM_DB_MYSQL, "a:5432", false);
	CHECK("a new slot (another system) moves it", jm_run_db_gen(g1) != g);
	g = jm_run_db_gen(g1);
	jm_run_db(g2, JM_DB_POSTGRES, "b:5432", true);
	CHECK("a new window slot of another job moves it", jm_run_db_gen(g1) != g);
	g = jm_run_db_gen(g1);
	jm_jobs_flush_windows(j3, S(401));
	CHECK("a window flush moves it", jm_run_db_gen(g1) != g);
	g = jm_run_db_gen(g1);
	jm_jobs_flush_windows(j3, S(402));
	CHECK("a flush with no window slots keeps it", jm_run_db_gen(g1) == g);
	exit_flush(j3, g2, true, 0, S(403));
	CHECK("freeing a run moves it", jm_run_db_gen(g1) != g);
	jm_jobs_free(j3);

	/* A window carries its run's labels while the job has one run live;
	 * with two live (two pods), none: the window is the job's. */
	struct jm_jobs *j4 = jm_jobs_new(10, &sink);
	bool made;
	struct jm_run *p1 = jm_jobs_proc_start_keyed(j4, "pods", NULL, "pod:1", "kubernetes", S(500), &made);
	jm_run_label(p1, "k8s.pod", "pod-1");
	struct jm_counters d4 = { .cpu_s = 1 };
	jm_run_add(p1, &d4);
	jm_jobs_flush_windows(j4, S(501));
	CHECK("window labels: its one live run's", log.lastw.n_labels == 1 && log.lastw.labels &&
	      strcmp(log.lastw.labels[0].value, "pod-1") == 0);
	struct jm_run *p2 = jm_jobs_proc_start_keyed(j4, "pods", NULL, "pod:2", "kubernetes", S(501), &made);
	jm_run_label(p2, "k8s.pod", "pod-2");
	jm_run_add(p2, &d4);
	jm_jobs_flush_windows(j4, S(502));
	CHECK_INT("window labels: none with two runs live", log.lastw.n_labels, 0);
	jm_jobs_free(j4);

	/* JSON escaping */
	struct jm_buf buf;
	jm_buf_init(&buf);
	jm_buf_json_str(&buf, "a\"b\\c\n\x01\xff", 8);
	CHECK_STR("json escapes quotes, controls and invalid utf-8", buf.data,
		  "\"a\\\"b\\\\c\\u000a\\u0001\xef\xbf\xbd\"");
	jm_buf_reset(&buf);
	jm_buf_json_time(&buf, 1795694400123456789LL);
	CHECK_STR("rfc3339 nanoseconds", buf.data, "\"2026-11-26T12:00:00.123456789Z\"");
	jm_buf_free(&buf);
	TEST_EXIT();
}
