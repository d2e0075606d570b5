#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "histogram.h"
#include "log.h"

struct job {
	char name[JM_JOB_NAME_MAX];
	bool last_failed;                 /* outcome of the last finished run */
	unsigned refs;                    /* runs pointing here, live or ended (not yet freed) */
	int64_t last_end_ns;              /* when its last run ended (eviction order) */
	char last_run_id[JM_RUN_ID_MAX];
	struct jm_run *runs;              /* active runs */
	/* window accumulators (deltas since the last flush) */
	bool win_dirty;
	struct jm_counters win;
	size_t n_win_db;
	struct jm_db_stats *win_db;
	size_t n_win_out;
	struct jm_output_write *win_out;
};

struct jm_jobs;

struct jm_run {
	struct jm_jobs *tab;
	struct job *job;
	struct jm_run *next;
	struct jm_run_record rec;         /* grows while the run is active */
	unsigned live;                    /* processes alive */
	char key[JM_RUN_KEY_MAX];         /* which concurrent run of the job, "" = none */
	bool run_id_given;                /* rec.run_id came from the process, not generated */
	unsigned holds;                   /* figures still to come (jm_run_hold) */
	bool root_exited;
	bool ended;                       /* on the ended list */
	int root_status;
};

struct jm_jobs {
	struct jm_run *ended;             /* runs over, record not yet emitted */
	unsigned max_jobs;
	unsigned max_fingerprints;
	struct jm_jobs_sink sink;
	size_t n_jobs, cap_jobs;
	struct job **jobs;
	uint64_t run_seq;
	/* Bumped whenever a DB figure slot may move or go away (a slot added,
	 * a window flushed, a run freed): jm_run_db() pointers taken at one
	 * value stay valid while it holds (jm_run_db_gen). */
	uint64_t db_gen;
	uint64_t jobs_overflow;
	int64_t last_flush_ns;
};

struct jm_jobs *jm_jobs_new(unsigned max_jobs, const struct jm_jobs_sink *sink)
{
	struct jm_jobs *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->max_jobs = max_jobs ? max_jobs : 1000;
	j->max_fingerprints = 200;
	j->sink = *sink;
	return j;
}

static void free_db(struct jm_db_stats *db, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(db[i].statements);
	free(db);
}

static void free_run(struct jm_run *r)
{
	if (r->job->refs)
		r->job->refs--;
	r->tab->db_gen++;
	free_db(r->rec.db, r->rec.n_db);
	free(r->rec.outputs);
	free(r);
}

void jm_jobs_free(struct jm_jobs *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n_jobs; i++) {
		struct job *b = j->jobs[i];
		for (struct jm_run *r = b->runs, *n; r; r = n) {
			n = r->next;
			free_run(r);
		}
		free_db(b->win_db, b->n_win_db);
		free(b->win_out);
		free(b);
	}
	for (struct jm_run *r = j->ended, *n; r; r = n) {
		n = r->next;
		free_run(r);
	}
	free(j->jobs);
	free(j);
}

void jm_jobs_set_max_fingerprints(struct jm_jobs *j, unsigned n)
{
	j->max_fingerprints = n;
}

static struct job *find_job(struct jm_jobs *j, const char *name, bool create)
{
	for (size_t i = 0; i < j->n_jobs; i++)
		if (strcmp(j->jobs[i]->name, name) == 0)
			return j->jobs[i];
	if (!create)
		return NULL;
	if (j->n_jobs >= j->max_jobs) {
		/* The cap is on jobs tracked at once: a job with no run left
		 * (none live, none waiting to be emitted) whose last window
		 * went out holds nothing but its restart flag, so the one
		 * idle longest makes room.  Otherwise a node that runs
		 * max_jobs distinct jobs over its life (pods named per run,
		 * JOBMETER_JOB=<task>-<date>) stops attributing for good. */
		struct job *victim = NULL;
		size_t vi = 0;
		for (size_t i = 0; i < j->n_jobs; i++) {
			struct job *b = j->jobs[i];
			if (b->refs || b->runs || b->win_dirty)
				continue;
			if (!victim || b->last_end_ns < victim->last_end_ns) {
				victim = b;
				vi = i;
			}
		}
		if (!victim) {
			if (j->jobs_overflow++ == 0)
				jm_warn("job cap (%u) reached: job \"%s\" and later new jobs are not "
					"tracked while %u jobs have runs", j->max_jobs, name, j->max_jobs);
			return NULL;
		}
		struct job *b = calloc(1, sizeof(*b));
		if (!b)
			return NULL;
		free_db(victim->win_db, victim->n_win_db);
		free(victim->win_out);
		free(victim);
		snprintf(b->name, sizeof(b->name), "%s", name);
		j->jobs[vi] = b;
		return b;
	}
	if (j->n_jobs == j->cap_jobs) {
		size_t nc = j->cap_jobs ? j->cap_jobs * 2 : 16;
		struct job **nj = realloc(j->jobs, nc * sizeof(*nj));
		if (!nj)
			return NULL;
		j->jobs = nj;
		j->cap_jobs = nc;
	}
	struct job *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	snprintf(b->name, sizeof(b->name), "%s", name);
	j->jobs[j->n_jobs++] = b;
	return b;
}

struct jm_run *jm_jobs_proc_start(struct jm_jobs *j, const char *job, const char *run_id,
				  const char *source, int64_t now_ns)
{
	bool created;

	return jm_jobs_proc_start_keyed(j, job, run_id, NULL, source, now_ns, &created);
}

struct jm_run *jm_jobs_proc_start_keyed(struct jm_jobs *j, const char *job, const char *run_id,
					const char *key, const char *source, int64_t now_ns,
					bool *created)
{
	struct job *b = find_job(j, job, true);
	struct jm_run *r;

	*created = false;
	if (!b)
		return NULL;
	if (!key)
		key = "";
	bool given = run_id && *run_id;
	for (r = b->runs; r; r = r->next) {
		/* A run tagged with a run id is that id's only: a process
		 * without one (a retry launched by hand next to a scheduled
		 * run) is a run of its own, not a process of the tagged run
		 * whose outcome it would take over. */
		bool same = given ? r->run_id_given && strcmp(r->rec.run_id, run_id) == 0
				  : !r->run_id_given && strcmp(r->key, key) == 0;
		if (same) {
			jm_run_proc_join(r);
			return r;
		}
	}
	*created = true;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->tab = j;
	r->job = b;
	snprintf(r->key, sizeof(r->key), "%s", key);
	snprintf(r->rec.job, sizeof(r->rec.job), "%s", job);
	r->run_id_given = given;
	if (given)
		snprintf(r->rec.run_id, sizeof(r->rec.run_id), "%s", run_id);
	else
		snprintf(r->rec.run_id, sizeof(r->rec.run_id), "%llx-%llu",
			 (unsigned long long)(now_ns / 1000000), (unsigned long long)++j->run_seq);
	snprintf(r->rec.source, sizeof(r->rec.source), "%s", source ? source : "");
	r->rec.start_ns = now_ns;
	r->rec.restart = b->last_failed;
	b->refs++;
	r->next = b->runs;
	b->runs = r;
	jm_run_proc_join(r);
	return r;
}

void jm_run_proc_join(struct jm_run *r)
{
	struct jm_counters d = { .processes = 1 };
	r->live++;
	jm_run_add(r, &d);
}

static void add_counters(struct jm_counters *a, const struct jm_counters *d)
{
	a->processes += d->processes;
	a->cpu_s += d->cpu_s;
	a->mem_gib_s += d->mem_gib_s;
	a->file_read_bytes += d->file_read_bytes;
	a->file_write_bytes += d->file_write_bytes;
	a->net_rx_bytes += d->net_rx_bytes;
	a->net_tx_bytes += d->net_tx_bytes;
	if (d->peak_rss_bytes > a->peak_rss_bytes)
		a->peak_rss_bytes = d->peak_rss_bytes;
}

void jm_run_add(struct jm_run *r, const struct jm_counters *d)
{
	add_counters(&r->rec.counters, d);
	add_counters(&r->job->win, d);
	r->job->win_dirty = true;
}

void jm_run_found_running(struct jm_run *r, int64_t born_ns, const struct jm_counters *d)
{
	if (born_ns > 0 && born_ns < r->rec.start_ns)
		r->rec.start_ns = born_ns;
	add_counters(&r->rec.counters, d);
}

void jm_run_rss(struct jm_run *r, uint64_t rss)
{
	struct jm_counters d = { .peak_rss_bytes = rss };
	jm_run_add(r, &d);
}

void jm_run_oom(struct jm_run *r)
{
	r->rec.oom_killed = true;
}

void jm_run_label(struct jm_run *r, const char *key, const char *value)
{
	struct jm_run_record *rec = &r->rec;
	size_t i;
	for (i = 0; i < rec->n_labels; i++)
		if (strcmp(rec->labels[i].key, key) == 0)
			break;
	if (i == JM_LABELS_MAX)
		return;
	snprintf(rec->labels[i].key, sizeof(rec->labels[i].key), "%s", key);
	snprintf(rec->labels[i].value, sizeof(rec->labels[i].value), "%s", value);
	if (i == rec->n_labels)
		rec->n_labels++;
}

static struct jm_db_stats *db_slot(struct jm_jobs *tab, struct jm_db_stats **arr, size_t *n,
				   enum jm_db_system sys, const char *endpoint)
{
	for (size_t i = 0; i < *n; i++)
		if ((*arr)[i].system == sys && strcmp((*arr)[i].endpoint, endpoint) == 0)
			return &(*arr)[i];
	struct jm_db_stats *na = realloc(*arr, (*n + 1) * sizeof(*na));
	if (!na)
		return NULL;
	*arr = na;
	tab->db_gen++;
	struct jm_db_stats *s = &na[(*n)++];
	memset(s, 0, sizeof(*s));
	s->system = sys;
	snprintf(s->endpoint, sizeof(s->endpoint), "%s", endpoint);
	return s;
}

struct jm_db_stats *jm_run_db(struct jm_run *r, enum jm_db_system sys, const char *endpoint,
			      bool window)
{
	if (window) {
		r->job->win_dirty = true;
		return db_slot(r->tab, &r->job->win_db, &r->job->n_win_db, sys, endpoint);
	}
	return db_slot(r->tab, &r->rec.db, &r->rec.n_db, sys, endpoint);
}

uint64_t jm_run_db_gen(const struct jm_run *r)
{
	return r->tab->db_gen;
}

static void output_set(struct jm_output_write **arr, size_t *n, enum jm_output_kind kind,
		       const char *name, int64_t ts)
{
	for (size_t i = 0; i < *n; i++) {
		if ((*arr)[i].kind == kind && strcmp((*arr)[i].name, name) == 0) {
			if (ts > (*arr)[i].last_write_ns)
				(*arr)[i].last_write_ns = ts;
			return;
		}
	}
	struct jm_output_write *na = realloc(*arr, (*n + 1) * sizeof(*na));
	if (!na)
		return;
	*arr = na;
	struct jm_output_write *o = &na[(*n)++];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->last_write_ns = ts;
}

void jm_run_output(struct jm_run *r, enum jm_output_kind kind, const char *name, int64_t ts)
{
	output_set(&r->rec.outputs, &r->rec.n_outputs, kind, name, ts);
	output_set(&r->job->win_out, &r->job->n_win_out, kind, name, ts);
	r->job->win_dirty = true;
}

const char *jm_run_job(const struct jm_run *r) { return r->rec.job; }
const char *jm_run_id(const struct jm_run *r) { return r->rec.run_id; }
unsigned jm_run_live(const struct jm_run *r) { return r->live; }

/* Percentiles are derived from the histogram when a record is emitted,
 * inside the exact extremes: a statement an ETL run sends once gets its
 * own latency, not a point inside its bucket. */
static void set_quantiles(const uint64_t b[JM_HIST_BUCKETS], uint64_t n, uint64_t min_ns,
			  uint64_t max_ns, double *p50, double *p95, double *p99)
{
	if (n == 0)             /* extremes unknown (never set): the bucket alone */
		min_ns = 1, max_ns = 0;
	*p50 = jm_hist_quantile_within(b, 0.50, min_ns, max_ns);
	*p95 = jm_hist_quantile_within(b, 0.95, min_ns, max_ns);
	*p99 = jm_hist_quantile_within(b, 0.99, min_ns, max_ns);
}

static void db_quantiles(struct jm_db_stats *db, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		set_quantiles(db[i].latency_buckets, db[i].queries, db[i].latency_min_ns,
			      db[i].latency_max_ns, &db[i].latency_p50_s, &db[i].latency_p95_s,
			      &db[i].latency_p99_s);
		for (size_t k = 0; k < db[i].n_statements; k++) {
			struct jm_stmt_stats *st = &db[i].statements[k];
			set_quantiles(st->latency_buckets, st->calls, st->latency_min_ns,
				      st->latency_max_ns, &st->latency_p50_s, &st->latency_p95_s,
				      &st->latency_p99_s);
		}
	}
}

/* The run is over: outcome decided, the job's next process starts a new
 * run.  Its record is emitted by jm_jobs_flush_ended(), after the caller has
 * drained what the kernel still had in flight for it (late query results). */
static void end_run(struct jm_jobs *j, struct jm_run *r, int64_t now_ns)
{
	struct job *b = r->job;
	struct jm_run_record *rec = &r->rec;
	int st = r->root_status;

	rec->end_ns = now_ns;
	if (r->root_exited && st == JM_STATUS_UNKNOWN) {   /* its exit was lost */
		rec->signal = 0;
		rec->exit_code = -1;
	} else if (r->root_exited && (st & 0x7f)) {        /* killed by a signal */
		rec->signal = st & 0x7f;
		rec->exit_code = -1;
	} else {
		rec->signal = 0;
		rec->exit_code = (st >> 8) & 0xff;
	}
	/* A lost exit says nothing about how the job ended: calling it a
	 * success would hide failures exactly when the agent is overloaded. */
	if (rec->oom_killed)
		rec->outcome = JM_OUTCOME_FAILURE;
	else if (r->root_exited && st == JM_STATUS_UNKNOWN)
		rec->outcome = JM_OUTCOME_UNSPECIFIED;
	else
		rec->outcome = (rec->signal == 0 && rec->exit_code == 0) ?
			       JM_OUTCOME_SUCCESS : JM_OUTCOME_FAILURE;
	b->last_failed = rec->outcome == JM_OUTCOME_FAILURE;
	b->last_end_ns = now_ns;
	snprintf(b->last_run_id, sizeof(b->last_run_id), "%s", rec->run_id);
	b->win_dirty = true;

	for (struct jm_run **pp = &b->runs; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	r->ended = true;
	r->next = j->ended;
	j->ended = r;
}

void jm_run_hold(struct jm_run *r)
{
	r->holds++;
}

void jm_run_unhold(struct jm_run *r)
{
	if (r->holds)
		r->holds--;
}

static void flush_ended(struct jm_jobs *j, bool all)
{
	/* oldest first: the list is built newest first */
	struct jm_run *rev = NULL, *held = NULL;
	bool waiting = false;
	for (struct jm_run *r = j->ended, *n; r; r = n) {
		n = r->next;
		r->next = rev;
		rev = r;
	}
	j->ended = NULL;
	for (struct jm_run *r = rev, *n; r; r = n) {
		n = r->next;
		/* Records go out in the order the runs ended: from the first
		 * held one on, every run waits (back on the list, newest
		 * first).  Leaders are freed in no set order. */
		waiting = waiting || (r->holds && !all);
		if (waiting) {
			r->next = held;
			held = r;
			continue;
		}
		db_quantiles(r->rec.db, r->rec.n_db);
		if (j->sink.run_done)
			j->sink.run_done(j->sink.ctx, &r->rec);
		free_run(r);
	}
	j->ended = held;
}

void jm_jobs_flush_ended(struct jm_jobs *j)
{
	flush_ended(j, false);
}

void jm_jobs_flush_ended_all(struct jm_jobs *j)
{
	flush_ended(j, true);
}

/* Did a process end because it was asked to stop: killed by SIGTERM, or
 * exiting 143 (128 + SIGTERM: a shell, the JVM) as programs that catch it
 * do?  What kubelet and systemd send a pod's or unit's processes at
 * teardown. */
static bool stopped(int status)
{
	return status != JM_STATUS_UNKNOWN &&
	       ((status & 0x7f) == 15 || ((status & 0x7f) == 0 && ((status >> 8) & 0xff) == 143));
}

void jm_run_proc_exit(struct jm_run *r, bool is_root, int status, int64_t now_ns)
{
	/* The first top-level process to exit decides, unless a later one
	 * fails: a pod's main container exits before its sidecars are stopped,
	 * and a run two instances of a program share fails if either does.
	 * Being stopped after a success is not failing: that is how the
	 * sidecars of a finished pod end. */
	if (is_root && (!r->root_exited ||
			(status != 0 && status != JM_STATUS_UNKNOWN &&
			 (r->root_status == JM_STATUS_UNKNOWN ||
			  (r->root_status == 0 && !stopped(status)))))) {
		r->root_exited = true;
		r->root_status = status;
	}
	if (r->live)
		r->live--;
	if (r->live == 0 && !r->ended)
		end_run(r->tab, r, now_ns);
}

void jm_jobs_set_window_start(struct jm_jobs *j, int64_t ns)
{
	j->last_flush_ns = ns;
}

static void emit_window(struct jm_jobs *j, struct job *b, int64_t now_ns)
{
	struct jm_window_record w;

	memset(&w, 0, sizeof(w));
	snprintf(w.job, sizeof(w.job), "%s", b->name);
	snprintf(w.run_id, sizeof(w.run_id), "%s", b->runs ? b->runs->rec.run_id : b->last_run_id);
	w.start_ns = j->last_flush_ns ? j->last_flush_ns : now_ns;
	w.end_ns = now_ns;
	w.counters = b->win;
	db_quantiles(b->win_db, b->n_win_db);
	w.n_db = b->n_win_db;
	w.db = b->win_db;
	w.n_outputs = b->n_win_out;
	w.outputs = b->win_out;
	if (b->runs && !b->runs->next) {        /* one run live: its labels */
		w.n_labels = b->runs->rec.n_labels;
		w.labels = b->runs->rec.labels;
	}
	if (j->sink.window)
		j->sink.window(j->sink.ctx, &w);
	if (b->n_win_db)                  /* its slots go, and win_dirty */
		j->db_gen++;
	free_db(b->win_db, b->n_win_db);
	free(b->win_out);
	b->win_db = NULL;
	b->n_win_db = 0;
	b->win_out = NULL;
	b->n_win_out = 0;
	memset(&b->win, 0, sizeof(b->win));
	b->win_dirty = false;
}

void jm_jobs_flush_windows(struct jm_jobs *j, int64_t now_ns)
{
	for (size_t i = 0; i < j->n_jobs; i++) {
		struct job *b = j->jobs[i];
		if (b->win_dirty || b->runs)
			emit_window(j, b, now_ns);
	}
	j->last_flush_ns = now_ns;
}

void jm_jobs_stats(const struct jm_jobs *j, struct jm_jobs_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->jobs = j->n_jobs;
	st->jobs_overflow = j->jobs_overflow;
	for (size_t i = 0; i < j->n_jobs; i++)
		for (struct jm_run *r = j->jobs[i]->runs; r; r = r->next)
			st->active_runs++;
}

unsigned jm_jobs_max_fingerprints(const struct jm_jobs *j)
{
	return j->max_fingerprints;
}
