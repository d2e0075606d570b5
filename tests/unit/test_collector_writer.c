/* Collector group commit: jm_coll_store_batches (one transaction for many
 * batches, idempotency inside a group, a failing batch alone undone, a
 * failing COMMIT answered as a failure for every batch of the group) and the
 * writer thread in front of it (many concurrent submitters share commits,
 * full queue refused at once, stop drains the queue). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "jobmeter.pb-c.h"
#include "tools/collector/metrics.h"
#include "tools/collector/store.h"
#include "tools/collector/writer.h"

#define NWIN 40

/* A small valid batch: one run and NWIN windows of `job`. */
struct mini {
	Jobmeter__V1__Batch b;
	Jobmeter__V1__AgentIdentity a;
	Jobmeter__V1__JobRun run, *runs[1];
	Jobmeter__V1__JobWindow win[NWIN], *wins[NWIN];
	Jobmeter__V1__Counters c;
	char agent[64], job[64];
};

static void mini(struct mini *m, const char *agent, uint64_t seq, const char *job)
{
	const int64_t t0 = INT64_C(1714600000000000000) + (int64_t)seq * INT64_C(60000000000);
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity a = JOBMETER__V1__AGENT_IDENTITY__INIT;
	Jobmeter__V1__JobRun r = JOBMETER__V1__JOB_RUN__INIT;
	Jobmeter__V1__Counters c = JOBMETER__V1__COUNTERS__INIT;

	memset(m, 0, sizeof(*m));
	snprintf(m->agent, sizeof(m->agent), "%s", agent);
	snprintf(m->job, sizeof(m->job), "%s", job);
	m->c = c;
	m->c.cpu_s = 1.5;
	m->c.mem_gib_s = 0.25;
	m->c.processes = 2;
	m->a = a;
	m->a.agent_id = m->agent;
	m->a.boot_id = "boot";
	m->a.host = "host-w";
	m->run = r;
	m->run.job = m->job;
	m->run.run_id = "run";
	m->run.start_unix_ns = t0;
	m->run.end_unix_ns = t0 + INT64_C(30000000000);
	m->run.outcome = JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS;
	m->run.counters = &m->c;
	m->runs[0] = &m->run;
	for (int i = 0; i < NWIN; i++) {
		Jobmeter__V1__JobWindow w = JOBMETER__V1__JOB_WINDOW__INIT;

		m->win[i] = w;
		m->win[i].job = m->job;
		m->win[i].start_unix_ns = t0;
		m->win[i].end_unix_ns = t0 + INT64_C(60000000000);
		m->win[i].counters = &m->c;
		m->wins[i] = &m->win[i];
	}
	m->b = b;
	m->b.schema_version = 1;
	m->b.agent = &m->a;
	m->b.seq = seq;
	m->b.window_start_unix_ns = t0;
	m->b.window_end_unix_ns = t0 + INT64_C(60000000000);
	m->b.n_runs = 1;
	m->b.runs = m->runs;
	m->b.n_windows = NWIN;
	m->b.windows = m->wins;
}

static char tmp_root[256];

static long long q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static long long count_where(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	long long v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK)
		v = q1(db, sql);
	sqlite3_close(db);
	return v;
}

static int exec_on(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open(path, &db);

	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	sqlite3_close(db);
	return rc;
}

static struct jm_coll_store *open_store(const char *name, char *path, size_t path_len)
{
	struct jm_coll_store_open_info info;
	struct jm_coll_store *st = NULL;
	char err[256];

	snprintf(path, path_len, "%s/%s", tmp_root, name);
	if (jm_coll_store_open(path, &st, &info, err, sizeof(err))) {
		printf("FAIL open %s: %s\n", path, err);
		return NULL;
	}
	return st;
}

/* ---- the store's group transaction ---------------------------------- */

static void test_group(void)
{
	struct mini m[5];
	struct jm_coll_store_item it[5];
	struct jm_coll_store *st;
	char path[512];

	st = open_store("group.db", path, sizeof(path));
	CHECK("group: open", st != NULL);
	if (!st)
		return;
	mini(&m[0], "ag-1", 1, "job-g");
	mini(&m[1], "ag-1", 2, "job-g");
	mini(&m[2], "ag-1", 1, "job-g");   /* same key as m[0], same group */
	mini(&m[3], "ag-2", 1, "job-g");
	mini(&m[4], "ag-1", 5, "job-g");   /* seqs 3, 4 missing */
	for (int i = 0; i < 5; i++)
		it[i] = (struct jm_coll_store_item){ .batch = &m[i].b, .received_ns = 100 + i };
	CHECK_INT("group: committed", jm_coll_store_batches(st, it, 5), 0);
	CHECK_INT("group: 1st stored", it[0].res.rc, JM_STORE_STORED);
	CHECK_INT("group: 2nd stored", it[1].res.rc, JM_STORE_STORED);
	CHECK_INT("group: duplicate inside the group", it[2].res.rc, JM_STORE_DUPLICATE);
	CHECK_INT("group: other agent stored", it[3].res.rc, JM_STORE_STORED);
	CHECK_INT("group: 5th stored", it[4].res.rc, JM_STORE_STORED);
	CHECK_INT("group: seq gap seen within the group", it[4].res.seq_gap, 2);
	CHECK_INT("group: no gap for the first seq of an agent", it[3].res.seq_gap, 0);
	CHECK_INT("group: 4 batches", count_where(path, "SELECT count(*) FROM batches"), 4);
	CHECK_INT("group: duplicate wrote no run", count_where(path, "SELECT count(*) FROM runs"), 4);
	CHECK_INT("group: windows", count_where(path, "SELECT count(*) FROM windows"), 4 * NWIN);
	CHECK_INT("group: rollup runs", count_where(path, "SELECT sum(runs) FROM job_day WHERE job = 'job-g'"), 4);
	/* host_hour is summed per hour within a batch: same total. */
	CHECK_INT("group: host_hour attributed cpu",
		  count_where(path, "SELECT round(sum(attr_cpu_s) * 1000) FROM host_hour"), 4 * NWIN * 1500);
	CHECK_INT("group: received_ns per batch",
		  count_where(path, "SELECT received_ns FROM batches WHERE agent_id = 'ag-2'"), 103);
	/* A later group: replays of committed batches are duplicates. */
	CHECK_INT("replay group: committed", jm_coll_store_batches(st, it, 2), 0);
	CHECK("replay group: both duplicate",
	      it[0].res.rc == JM_STORE_DUPLICATE && it[1].res.rc == JM_STORE_DUPLICATE);
	CHECK_INT("empty group", jm_coll_store_batches(st, it, 0), 0);
	jm_coll_store_close(st);
}

/* A group whose WAL frames are far more than one write of the WAL buffer
 * (walbuf.h) and than the unix VFS takes in one call. */
static void test_big_group(void)
{
	enum { N = 64 };
	struct mini *m = calloc(N, sizeof(*m));
	struct jm_coll_store_item it[N];
	struct jm_coll_store *st;
	struct stat sb;
	char path[512], wal[600], job[32];
	int stored = 0;

	st = open_store("big.db", path, sizeof(path));
	CHECK("big group: open", st != NULL && m != NULL);
	if (!st || !m) {
		jm_coll_store_close(st);
		free(m);
		return;
	}
	for (int i = 0; i < N; i++) {
		snprintf(job, sizeof(job), "big-job-%03d", i);
		mini(&m[i], "ag-big", (uint64_t)i + 1, job);
		it[i] = (struct jm_coll_store_item){ .batch = &m[i].b, .received_ns = 1 };
	}
	CHECK_INT("big group: committed", jm_coll_store_batches(st, it, N), 0);
	for (int i = 0; i < N; i++)
		stored += it[i].res.rc == JM_STORE_STORED;
	CHECK_INT("big group: all stored", stored, N);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	CHECK("big group: WAL holds more than 256 KiB (several writes of 64 KiB)",
	      stat(wal, &sb) == 0 && sb.st_size > (256 << 10));
	/* Another connection reads the committed frames from the WAL. */
	CHECK_INT("big group: windows seen by a reader",
		  count_where(path, "SELECT count(*) FROM windows"), N * NWIN);
	CHECK_INT("big group: integrity",
		  count_where(path, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
	jm_coll_store_close(st);
	st = open_store("big.db", path, sizeof(path));
	CHECK_INT("big group: after reopen", count_where(path, "SELECT count(*) FROM runs"), N);
	jm_coll_store_close(st);
	free(m);
}

static void test_poison(void)
{
	struct mini m[4];
	struct jm_coll_store_item it[4];
	struct jm_coll_store *st;
	char path[512];

	st = open_store("poison.db", path, sizeof(path));
	CHECK("poison: open", st != NULL);
	if (!st)
		return;
	/* A batch the database refuses half-way: its run is inserted, then
	 * a window insert aborts.  (Another connection adds the trigger: the
	 * collector's prepared statements are re-prepared by SQLite.) */
	CHECK_INT("poison: trigger", exec_on(path,
		"CREATE TRIGGER poison BEFORE INSERT ON windows WHEN NEW.job = 'poison'"
		" BEGIN SELECT RAISE(ABORT, 'poisoned batch'); END"), SQLITE_OK);
	mini(&m[0], "ag-p", 1, "job-ok");
	mini(&m[1], "ag-p", 2, "poison");
	mini(&m[2], "ag-p", 3, "job-ok");
	mini(&m[3], "ag-q", 1, "poison");
	for (int i = 0; i < 4; i++)
		it[i] = (struct jm_coll_store_item){ .batch = &m[i].b, .received_ns = 1 };
	CHECK_INT("poison: group committed", jm_coll_store_batches(st, it, 4), 0);
	CHECK_INT("poison: first stored", it[0].res.rc, JM_STORE_STORED);
	CHECK_INT("poison: bad batch fails alone", it[1].res.rc, JM_STORE_ERROR);
	CHECK("poison: reason", strstr(it[1].res.err, "poisoned batch") != NULL);
	CHECK_INT("poison: batch after it stored", it[2].res.rc, JM_STORE_STORED);
	CHECK_INT("poison: bad batch last fails alone", it[3].res.rc, JM_STORE_ERROR);
	CHECK_INT("poison: good batches present",
		  count_where(path, "SELECT count(*) FROM batches WHERE agent_id = 'ag-p' AND seq IN (1, 3)"), 2);
	CHECK_INT("poison: no row of the bad batches",
		  count_where(path, "SELECT count(*) FROM batches WHERE seq = 2 OR agent_id = 'ag-q'"), 0);
	CHECK_INT("poison: its run undone too", count_where(path, "SELECT count(*) FROM runs WHERE job = 'poison'"), 0);
	CHECK_INT("poison: its rollup undone too",
		  count_where(path, "SELECT count(*) FROM job_day WHERE job = 'poison'"), 0);
	CHECK_INT("poison: rollups of the good ones",
		  count_where(path, "SELECT sum(runs) FROM job_day WHERE job = 'job-ok'"), 2);
	CHECK_INT("poison: seq gap after the undone batch", it[2].res.seq_gap, 1);
	jm_coll_store_close(st);
}

/* The COMMIT itself fails: the WAL cannot grow (RLIMIT_FSIZE).  Not one
 * batch of the group may be reported stored, nor a duplicate (the batch it
 * duplicates may be in the lost group); afterwards the store recovers. */
static void test_commit_failure(void)
{
	struct mini first, m[4];
	struct jm_coll_store_item it[4], one;
	struct jm_coll_store *st;
	struct rlimit old, lim;
	struct stat sb;
	char path[512], wal[600];
	int rc, all_failed = 1;

	st = open_store("commitfail.db", path, sizeof(path));
	CHECK("commit failure: open", st != NULL);
	if (!st)
		return;
	mini(&first, "ag-c", 1, "job-c");
	one = (struct jm_coll_store_item){ .batch = &first.b, .received_ns = 1 };
	CHECK_INT("commit failure: first batch", jm_coll_store_batches(st, &one, 1), 0);
	mini(&m[0], "ag-c", 2, "job-c");
	mini(&m[1], "ag-c", 1, "job-c");   /* duplicate of a committed batch */
	mini(&m[2], "ag-c", 3, "job-c");
	mini(&m[3], "ag-c", 2, "job-c");   /* duplicate inside the group */
	for (int i = 0; i < 4; i++)
		it[i] = (struct jm_coll_store_item){ .batch = &m[i].b, .received_ns = 2 };
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (stat(wal, &sb) || getrlimit(RLIMIT_FSIZE, &old)) {
		CHECK("commit failure: wal present", 0);
		jm_coll_store_close(st);
		return;
	}
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)sb.st_size;
	setrlimit(RLIMIT_FSIZE, &lim);
	rc = jm_coll_store_batches(st, it, 4);
	setrlimit(RLIMIT_FSIZE, &old);
	CHECK_INT("commit failure: reported", rc, -1);
	for (int i = 0; i < 4; i++)
		if (it[i].res.rc != JM_STORE_RETRY || it[i].res.sqlite_code == 0)
			all_failed = 0;
	CHECK("commit failure: every batch RETRY (503), duplicates too", all_failed);
	CHECK_INT("commit failure: nothing of the group stored",
		  count_where(path, "SELECT count(*) FROM batches"), 1);
	CHECK_INT("commit failure: rollups untouched",
		  count_where(path, "SELECT sum(runs) FROM job_day"), 1);
	/* The same group once the disk has room again. */
	CHECK_INT("after commit failure: group committed", jm_coll_store_batches(st, it, 4), 0);
	CHECK("after commit failure: stored, duplicate, stored, duplicate",
	      it[0].res.rc == JM_STORE_STORED && it[1].res.rc == JM_STORE_DUPLICATE &&
	      it[2].res.rc == JM_STORE_STORED && it[3].res.rc == JM_STORE_DUPLICATE);
	CHECK_INT("after commit failure: 3 batches", count_where(path, "SELECT count(*) FROM batches"), 3);
	CHECK_INT("after commit failure: healthy", jm_coll_store_healthy(st), 0);
	CHECK_INT("after commit failure: integrity",
		  count_where(path, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
	jm_coll_store_close(st);
}

/* ---- the writer thread ---------------------------------------------- */

#define NTHREADS 8
#define PER_THREAD 40

struct poster {
	pthread_t t;
	struct jm_coll_writer *w;
	int index;
	int stored, dup, other;
};

static void *poster_main(void *arg)
{
	struct poster *p = arg;
	char agent[32];
	struct mini *m = malloc(sizeof(*m));

	if (!m) {
		p->other = PER_THREAD + 1;
		return NULL;
	}
	snprintf(agent, sizeof(agent), "ag-t%d", p->index);
	/* Seqs 1..PER_THREAD, then seq 1 again (a replay). */
	for (int s = 1; s <= PER_THREAD + 1; s++) {
		struct jm_coll_store_result res;

		mini(m, agent, s <= PER_THREAD ? (uint64_t)s : 1, "job-t");
		switch (jm_coll_writer_submit(p->w, &m->b, 7, 0, &res)) {
		case JM_STORE_STORED: p->stored++; break;
		case JM_STORE_DUPLICATE: p->dup++; break;
		default: p->other++; break;
		}
	}
	free(m);
	return NULL;
}

static long long metric(struct jm_coll_metrics *mt, const char *name)
{
	char *text = NULL, *p;
	size_t len;
	long long v = -1;

	if (jm_coll_metrics_render(mt, &text, &len))
		return -1;
	for (p = text; (p = strstr(p, name)) != NULL; p++) {
		if ((p == text || p[-1] == '\n') && p[strlen(name)] == ' ') {
			v = atoll(p + strlen(name) + 1);
			break;
		}
	}
	free(text);
	return v;
}

static void test_writer_concurrent(void)
{
	struct jm_coll_writer_config cfg = { .queue_max = 64, .group_max = 256, .group_wait_us = 1000 };
	struct jm_coll_metrics *mt = jm_coll_metrics_new();
	struct poster p[NTHREADS];
	struct jm_coll_writer *w = NULL;
	struct jm_coll_store *st;
	char path[512], err[256];
	int stored = 0, dup = 0, other = 0;
	long long commits;

	st = open_store("writer.db", path, sizeof(path));
	CHECK("writer: open", st != NULL && mt != NULL);
	if (!st || !mt)
		goto out;
	CHECK_INT("writer: start", jm_coll_writer_start(st, mt, &cfg, &w, err, sizeof(err)), 0);
	if (!w)
		goto out;
	for (int i = 0; i < NTHREADS; i++) {
		p[i] = (struct poster){ .w = w, .index = i };
		pthread_create(&p[i].t, NULL, poster_main, &p[i]);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(p[i].t, NULL);
		stored += p[i].stored;
		dup += p[i].dup;
		other += p[i].other;
	}
	jm_coll_writer_stop(w);
	CHECK_INT("writer: every batch stored", stored, NTHREADS * PER_THREAD);
	CHECK_INT("writer: every replay a duplicate", dup, NTHREADS);
	CHECK_INT("writer: no failure", other, 0);
	CHECK_INT("writer: rows", count_where(path, "SELECT count(*) FROM batches"), NTHREADS * PER_THREAD);
	commits = metric(mt, "jobmeter_collector_commits_total");
	printf("# %d batches from %d threads in %lld commits\n", stored + dup, NTHREADS, commits);
	CHECK("writer: concurrent batches share commits", commits > 0 && commits < stored + dup);
	CHECK_INT("writer: committed batches counted",
		  metric(mt, "jobmeter_collector_committed_batches_total"), stored + dup);
out:
	jm_coll_store_close(st);
	jm_coll_metrics_free(mt);
}

struct one_submit {
	pthread_t t;
	struct jm_coll_writer *w;
	struct mini m;
	enum jm_coll_store_rc rc;
};

static void *one_submit_main(void *arg)
{
	struct one_submit *o = arg;
	struct jm_coll_store_result res;

	o->rc = jm_coll_writer_submit(o->w, &o->m.b, 1, 0, &res);
	return NULL;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
	struct timespec d = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&d, NULL);
}

struct unlock_later {
	sqlite3 *db;
	int ms;
};

static void *unlock_later_main(void *arg)
{
	struct unlock_later *u = arg;

	sleep_ms(u->ms);
	sqlite3_exec(u->db, "COMMIT", NULL, NULL, NULL);
	return NULL;
}

/* Another connection holds the write lock, so the writer is stuck in BEGIN
 * with batch A; B waits in the queue (1 slot); C finds the queue full and
 * is refused at once.  Then the lock goes away and A and B are stored. */
static void test_writer_queue_full(void)
{
	struct jm_coll_writer_config cfg = { .queue_max = 1, .group_max = 1, .group_wait_us = 0 };
	static struct one_submit a, b, d1, d2;
	struct unlock_later ul;
	pthread_t unlocker;
	struct jm_coll_store_result res;
	struct jm_coll_writer *w = NULL;
	struct jm_coll_store *st;
	struct mini c;
	sqlite3 *lockdb = NULL;
	char path[512], err[256];
	enum jm_coll_store_rc crc;
	double t0;

	st = open_store("queue.db", path, sizeof(path));
	CHECK("queue: open", st != NULL);
	if (!st)
		return;
	if (jm_coll_writer_start(st, NULL, &cfg, &w, err, sizeof(err)) ||
	    sqlite3_open(path, &lockdb) != SQLITE_OK ||
	    sqlite3_exec(lockdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		CHECK("queue: setup", 0);
		jm_coll_writer_stop(w);
		sqlite3_close(lockdb);
		jm_coll_store_close(st);
		return;
	}
	a.w = b.w = d1.w = d2.w = w;
	mini(&a.m, "ag-q", 1, "job-q");
	mini(&b.m, "ag-q", 2, "job-q");
	mini(&c, "ag-q", 3, "job-q");
	mini(&d1.m, "ag-q", 4, "job-q");
	mini(&d2.m, "ag-q", 5, "job-q");
	pthread_create(&a.t, NULL, one_submit_main, &a);
	sleep_ms(150);   /* the writer takes A and blocks in BEGIN */
	pthread_create(&b.t, NULL, one_submit_main, &b);
	sleep_ms(150);   /* B is queued */
	t0 = mono_s();
	crc = jm_coll_writer_submit(w, &c.b, 1, 0, &res);
	CHECK_INT("queue full: refused", crc, JM_STORE_BUSY);
	CHECK("queue full: at once", mono_s() - t0 < 0.5);
	CHECK_STR("queue full: reason", res.err, "ingest queue full");
	sqlite3_exec(lockdb, "COMMIT", NULL, NULL, NULL);
	pthread_join(a.t, NULL);
	pthread_join(b.t, NULL);
	CHECK_INT("queue: A stored after the lock went", a.rc, JM_STORE_STORED);
	CHECK_INT("queue: B stored after the lock went", b.rc, JM_STORE_STORED);

	/* Stop while D1 is being written (stuck behind the lock) and D2 is
	 * queued: stop stores both, then frees. */
	sqlite3_exec(lockdb, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	pthread_create(&d1.t, NULL, one_submit_main, &d1);
	sleep_ms(150);
	pthread_create(&d2.t, NULL, one_submit_main, &d2);
	sleep_ms(150);
	ul.db = lockdb;
	ul.ms = 200;
	pthread_create(&unlocker, NULL, unlock_later_main, &ul);
	jm_coll_writer_stop(w);
	pthread_join(d1.t, NULL);
	pthread_join(d2.t, NULL);
	pthread_join(unlocker, NULL);
	CHECK_INT("stop: batch being written stored", d1.rc, JM_STORE_STORED);
	CHECK_INT("stop: queued batch stored before the writer ended", d2.rc, JM_STORE_STORED);
	CHECK_INT("queue: rows", count_where(path, "SELECT count(*) FROM batches"), 4);
	sqlite3_close(lockdb);
	jm_coll_store_close(st);
}

int main(void)
{
	char cmd[300];

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/jm-test-writer.XXXXXX");
	if (!mkdtemp(tmp_root)) {
		printf("FAIL mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_group();
	test_big_group();
	test_poison();
	test_commit_failure();
	test_writer_concurrent();
	test_writer_queue_full();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmp_root);
	TEST_EXIT();
}
