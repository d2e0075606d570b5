/* render_pb: golden round trip (render -> protobuf-c unpack -> compare every
 * field with the model), plus the host identity/sampler that fill the
 * batch's agent and host sections. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "harness.h"
#include "host.h"
#include "jobmeter.pb-c.h"
#include "model.h"
#include "render_pb.h"

/* ---- building a model with a distinct value in every field ---------- */

struct gen {
	uint64_t n;
};

static uint64_t g_u64(struct gen *g)
{
	/* Spread over small and very large varints, so both encodings run. */
	g->n++;
	return (g->n & 1) ? g->n * 7 : (UINT64_MAX - g->n * 1000003);
}

static double g_dbl(struct gen *g)
{
	g->n++;
	return (double)g->n * 1.25e-3 + 1e-9;
}

/* Fill a char array with a string of exactly len characters (len < cap). */
static void fill_str(char *dst, size_t cap, size_t len, char seed)
{
	if (len >= cap)
		len = cap - 1;
	for (size_t i = 0; i < len; i++)
		dst[i] = (char)('a' + (seed + i) % 26);
	dst[len] = '\0';
}

static void fill_counters(struct gen *g, struct jm_counters *c)
{
	c->processes = g_u64(g);
	c->cpu_s = g_dbl(g);
	c->peak_rss_bytes = g_u64(g);
	c->mem_gib_s = g_dbl(g);
	c->file_read_bytes = g_u64(g);
	c->file_write_bytes = g_u64(g);
	c->net_rx_bytes = g_u64(g);
	c->net_tx_bytes = g_u64(g);
}

static void fill_db(struct gen *g, struct jm_db_stats *d, struct jm_stmt_stats *st, size_t n_st,
		    enum jm_db_system sys, bool max_strings)
{
	memset(d, 0, sizeof(*d));
	d->system = sys;
	fill_str(d->endpoint, sizeof(d->endpoint), max_strings ? sizeof(d->endpoint) - 1 : 14,
		 (char)g->n);
	d->queries = g_u64(g);
	d->errors = g_u64(g);
	d->rows = g_u64(g);
	d->rows_unknown = g_u64(g);
	d->conns_unreadable = g_u64(g);
	d->tx_bytes = g_u64(g);
	d->rx_bytes = g_u64(g);
	d->latency_s_sum = g_dbl(g);
	d->latency_p50_s = g_dbl(g);
	d->latency_p95_s = g_dbl(g);
	d->latency_p99_s = g_dbl(g);
	for (int i = 0; i < JM_HIST_BUCKETS; i++)
		d->latency_buckets[i] = (i % 5 == 0) ? 0 : g_u64(g);
	d->statements_overflow = g_u64(g);
	for (size_t i = 0; i < n_st; i++) {
		memset(&st[i], 0, sizeof(st[i]));
		fill_str(st[i].fingerprint, sizeof(st[i].fingerprint),
			 max_strings ? sizeof(st[i].fingerprint) - 1 : 20 + i, (char)i);
		st[i].calls = g_u64(g);
		st[i].errors = g_u64(g);
		st[i].rows = g_u64(g);
		st[i].rows_unknown = g_u64(g);
		st[i].latency_s_sum = g_dbl(g);
		fill_str(st[i].last_error, sizeof(st[i].last_error),
			 max_strings ? sizeof(st[i].last_error) - 1 : 5, (char)(i + 3));
	}
	d->n_statements = n_st;
	d->statements = n_st ? st : NULL;
}

/* ---- comparing ------------------------------------------------------- */

/* First mismatch found, as text; "" while everything matched. */
struct diff {
	char what[512];
};

static void mismatch(struct diff *df, const char *fmt, ...)
{
	if (df->what[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(df->what, sizeof(df->what), fmt, ap);
	va_end(ap);
}

#define EQ_U(df, path, got, want) do { if ((uint64_t)(got) != (uint64_t)(want)) \
	mismatch(df, "%s: got %" PRIu64 " want %" PRIu64, path, (uint64_t)(got), (uint64_t)(want)); } while (0)
#define EQ_I(df, path, got, want) do { if ((int64_t)(got) != (int64_t)(want)) \
	mismatch(df, "%s: got %" PRId64 " want %" PRId64, path, (int64_t)(got), (int64_t)(want)); } while (0)
#define EQ_D(df, path, got, want) do { if ((got) != (want)) \
	mismatch(df, "%s: got %.17g want %.17g", path, (double)(got), (double)(want)); } while (0)
#define EQ_S(df, path, got, want) do { const char *g__ = (got); \
	if (!g__ || strcmp(g__, (want)) != 0) mismatch(df, "%s: got [%s] want [%s]", path, \
	g__ ? g__ : "(null)", (want)); } while (0)

static void cmp_counters(struct diff *df, const char *p, const Jobmeter__V1__Counters *m,
			 const struct jm_counters *c)
{
	if (!m) {
		mismatch(df, "%s.counters missing", p);
		return;
	}
	EQ_U(df, "processes", m->processes, c->processes);
	EQ_D(df, "cpu_s", m->cpu_s, c->cpu_s);
	EQ_U(df, "peak_rss_bytes", m->peak_rss_bytes, c->peak_rss_bytes);
	EQ_D(df, "mem_gib_s", m->mem_gib_s, c->mem_gib_s);
	EQ_U(df, "file_read_bytes", m->file_read_bytes, c->file_read_bytes);
	EQ_U(df, "file_write_bytes", m->file_write_bytes, c->file_write_bytes);
	EQ_U(df, "net_rx_bytes", m->net_rx_bytes, c->net_rx_bytes);
	EQ_U(df, "net_tx_bytes", m->net_tx_bytes, c->net_tx_bytes);
}

static void cmp_db(struct diff *df, size_t n_m, Jobmeter__V1__DbStats **m, size_t n,
		   const struct jm_db_stats *d)
{
	EQ_U(df, "n_db", n_m, n);
	if (n_m != n)
		return;
	for (size_t i = 0; i < n; i++) {
		EQ_S(df, "db.system", m[i]->system, jm_db_system_name(d[i].system));
		EQ_S(df, "db.endpoint", m[i]->endpoint, d[i].endpoint);
		EQ_U(df, "db.queries", m[i]->queries, d[i].queries);
		EQ_U(df, "db.errors", m[i]->errors, d[i].errors);
		EQ_U(df, "db.rows", m[i]->rows, d[i].rows);
		EQ_U(df, "db.rows_unknown", m[i]->rows_unknown, d[i].rows_unknown);
		EQ_U(df, "db.connections_unreadable", m[i]->connections_unreadable, d[i].conns_unreadable);
		EQ_U(df, "db.tx_bytes", m[i]->tx_bytes, d[i].tx_bytes);
		EQ_U(df, "db.rx_bytes", m[i]->rx_bytes, d[i].rx_bytes);
		EQ_D(df, "db.latency_s_sum", m[i]->latency_s_sum, d[i].latency_s_sum);
		EQ_D(df, "db.latency_p50_s", m[i]->latency_p50_s, d[i].latency_p50_s);
		EQ_D(df, "db.latency_p95_s", m[i]->latency_p95_s, d[i].latency_p95_s);
		EQ_D(df, "db.latency_p99_s", m[i]->latency_p99_s, d[i].latency_p99_s);
		EQ_U(df, "db.statements_overflow", m[i]->statements_overflow, d[i].statements_overflow);
		EQ_U(df, "db.n_latency_buckets", m[i]->n_latency_buckets, JM_HIST_BUCKETS);
		if (m[i]->n_latency_buckets == JM_HIST_BUCKETS)
			for (int k = 0; k < JM_HIST_BUCKETS; k++)
				EQ_U(df, "db.latency_buckets[k]", m[i]->latency_buckets[k],
				     d[i].latency_buckets[k]);
		EQ_U(df, "db.n_statements", m[i]->n_statements, d[i].n_statements);
		if (m[i]->n_statements != d[i].n_statements)
			continue;
		for (size_t k = 0; k < d[i].n_statements; k++) {
			const Jobmeter__V1__StatementStats *ms = m[i]->statements[k];
			const struct jm_stmt_stats *s = &d[i].statements[k];
			EQ_S(df, "stmt.fingerprint", ms->fingerprint, s->fingerprint);
			EQ_U(df, "stmt.calls", ms->calls, s->calls);
			EQ_U(df, "stmt.errors", ms->errors, s->errors);
			EQ_U(df, "stmt.rows", ms->rows, s->rows);
			EQ_U(df, "stmt.rows_unknown", ms->rows_unknown, s->rows_unknown);
			EQ_D(df, "stmt.latency_s_sum", ms->latency_s_sum, s->latency_s_sum);
			EQ_S(df, "stmt.last_error", ms->last_error, s->last_error);
		}
	}
}

static void cmp_outputs(struct diff *df, size_t n_m, Jobmeter__V1__OutputWrite **m, size_t n,
			const struct jm_output_write *o)
{
	EQ_U(df, "n_outputs", n_m, n);
	if (n_m != n)
		return;
	for (size_t i = 0; i < n; i++) {
		EQ_S(df, "output.kind", m[i]->kind, o[i].kind == JM_OUTPUT_FILE ? "file" : "table");
		EQ_S(df, "output.name", m[i]->name, o[i].name);
		EQ_I(df, "output.last_write_unix_ns", m[i]->last_write_unix_ns, o[i].last_write_ns);
	}
}

static void cmp_batch(struct diff *df, const Jobmeter__V1__Batch *m, const struct jm_batch *b)
{
	EQ_U(df, "schema_version", m->schema_version, 1);
	EQ_U(df, "seq", m->seq, b->seq);
	EQ_I(df, "window_start_unix_ns", m->window_start_unix_ns, b->window_start_ns);
	EQ_I(df, "window_end_unix_ns", m->window_end_unix_ns, b->window_end_ns);
	if (!m->agent || !m->host || !m->loss) {
		mismatch(df, "agent/host/loss missing");
		return;
	}
	EQ_S(df, "agent.host", m->agent->host, b->agent.host);
	EQ_S(df, "agent.agent_id", m->agent->agent_id, b->agent.agent_id);
	EQ_S(df, "agent.boot_id", m->agent->boot_id, b->agent.boot_id);
	EQ_S(df, "agent.kernel", m->agent->kernel, b->agent.kernel);
	EQ_S(df, "agent.version", m->agent->version, b->agent.version);
	EQ_U(df, "host.cpu_cores", m->host->cpu_cores, b->host.cpu_cores);
	EQ_D(df, "host.cpu_busy_s", m->host->cpu_busy_s, b->host.cpu_busy_s);
	EQ_U(df, "host.mem_total_bytes", m->host->mem_total_bytes, b->host.mem_total_bytes);
	EQ_U(df, "host.mem_used_bytes", m->host->mem_used_bytes, b->host.mem_used_bytes);
	EQ_D(df, "host.window_s", m->host->window_s, b->host.window_s);
	EQ_U(df, "loss.ringbuf_drops", m->loss->ringbuf_drops, b->loss.ringbuf_drops);
	EQ_U(df, "loss.map_full", m->loss->map_full, b->loss.map_full);
	EQ_U(df, "loss.payload_drops", m->loss->payload_drops, b->loss.payload_drops);
	EQ_U(df, "loss.payload_truncated", m->loss->payload_truncated, b->loss.payload_truncated);
	EQ_U(df, "loss.parse_errors", m->loss->parse_errors, b->loss.parse_errors);
	EQ_U(df, "loss.statements_overflow", m->loss->statements_overflow, b->loss.statements_overflow);
	EQ_U(df, "loss.jobs_overflow", m->loss->jobs_overflow, b->loss.jobs_overflow);
	EQ_U(df, "loss.spool_dropped_batches", m->loss->spool_dropped_batches,
	     b->loss.spool_dropped_batches);
	EQ_U(df, "loss.exits_synthesized", m->loss->exits_synthesized, b->loss.exits_synthesized);

	EQ_U(df, "n_runs", m->n_runs, b->n_runs);
	for (size_t i = 0; i < b->n_runs && m->n_runs == b->n_runs; i++) {
		const Jobmeter__V1__JobRun *mr = m->runs[i];
		const struct jm_run_record *r = &b->runs[i];
		EQ_S(df, "run.job", mr->job, r->job);
		EQ_S(df, "run.run_id", mr->run_id, r->run_id);
		EQ_I(df, "run.start", mr->start_unix_ns, r->start_ns);
		EQ_I(df, "run.end", mr->end_unix_ns, r->end_ns);
		EQ_I(df, "run.outcome", mr->outcome, r->outcome);
		EQ_I(df, "run.exit_code", mr->exit_code, r->exit_code);
		EQ_I(df, "run.signal", mr->signal, r->signal);
		EQ_I(df, "run.oom_killed", !!mr->oom_killed, r->oom_killed);
		EQ_I(df, "run.restart", !!mr->restart, r->restart);
		EQ_S(df, "run.source", mr->source, r->source);
		cmp_counters(df, "run", mr->counters, &r->counters);
		cmp_db(df, mr->n_db, mr->db, r->n_db, r->db);
		cmp_outputs(df, mr->n_outputs, mr->outputs, r->n_outputs, r->outputs);
		EQ_U(df, "run.n_labels", mr->n_labels, r->n_labels);
		for (size_t k = 0; k < r->n_labels && mr->n_labels == r->n_labels; k++) {
			EQ_S(df, "label.key", mr->labels[k]->key, r->labels[k].key);
			EQ_S(df, "label.value", mr->labels[k]->value, r->labels[k].value);
		}
	}
	EQ_U(df, "n_windows", m->n_windows, b->n_windows);
	for (size_t i = 0; i < b->n_windows && m->n_windows == b->n_windows; i++) {
		const Jobmeter__V1__JobWindow *mw = m->windows[i];
		const struct jm_window_record *w = &b->windows[i];
		EQ_S(df, "window.job", mw->job, w->job);
		EQ_S(df, "window.run_id", mw->run_id, w->run_id);
		EQ_I(df, "window.start", mw->start_unix_ns, w->start_ns);
		EQ_I(df, "window.end", mw->end_unix_ns, w->end_ns);
		cmp_counters(df, "window", mw->counters, &w->counters);
		cmp_db(df, mw->n_db, mw->db, w->n_db, w->db);
		cmp_outputs(df, mw->n_outputs, mw->outputs, w->n_outputs, w->outputs);
	}
}

/* Render, unpack with protobuf-c and compare; returns the unpacked message
 * (caller frees) or NULL after a FAIL line. */
static Jobmeter__V1__Batch *round_trip(const char *name, const struct jm_batch *b)
{
	char n[128];
	uint8_t *buf = NULL;
	size_t len = 0;
	int err = jm_render_batch_pb(b, &buf, &len);
	snprintf(n, sizeof(n), "%s: render ok", name);
	CHECK_INT(n, err, 0);
	if (err)
		return NULL;
	Jobmeter__V1__Batch *m = jobmeter__v1__batch__unpack(NULL, len, buf);
	free(buf);
	snprintf(n, sizeof(n), "%s: protobuf-c unpacks it", name);
	CHECK(n, m != NULL);
	if (!m)
		return NULL;
	struct diff df = { { 0 } };
	cmp_batch(&df, m, b);
	snprintf(n, sizeof(n), "%s: every field round-trips", name);
	CHECK_STR(n, df.what[0] ? df.what : "equal", "equal");
	return m;
}

static void test_full_batch(void)
{
	struct gen g = { 0 };
	static struct jm_stmt_stats st_a[3], st_b[1], st_w[2];
	static struct jm_db_stats db_run[2], db_win[1];
	static struct jm_output_write outs[2];
	static struct jm_run_record runs[3];
	static struct jm_window_record wins[2];
	struct jm_batch b;
	memset(&b, 0, sizeof(b));

	/* Identity strings at their maximum length (array size - 1). */
	fill_str(b.agent.host, sizeof(b.agent.host), sizeof(b.agent.host) - 1, 1);
	fill_str(b.agent.agent_id, sizeof(b.agent.agent_id), sizeof(b.agent.agent_id) - 1, 2);
	fill_str(b.agent.boot_id, sizeof(b.agent.boot_id), sizeof(b.agent.boot_id) - 1, 3);
	fill_str(b.agent.kernel, sizeof(b.agent.kernel), sizeof(b.agent.kernel) - 1, 4);
	fill_str(b.agent.version, sizeof(b.agent.version), sizeof(b.agent.version) - 1, 5);
	b.seq = UINT64_MAX - 1;
	b.window_start_ns = 1700000000123456789;
	b.window_end_ns = 1700000010123456789;
	b.host.cpu_cores = 96;
	b.host.cpu_busy_s = 123.456;
	b.host.mem_total_bytes = 64ull << 30;
	b.host.mem_used_bytes = 17ull << 30;
	b.host.window_s = 10.002;
	b.loss.ringbuf_drops = g_u64(&g);
	b.loss.map_full = g_u64(&g);
	b.loss.payload_drops = g_u64(&g);
	b.loss.payload_truncated = g_u64(&g);
	b.loss.parse_errors = g_u64(&g);
	b.loss.statements_overflow = g_u64(&g);
	b.loss.jobs_overflow = g_u64(&g);
	b.loss.spool_dropped_batches = g_u64(&g);
	b.loss.exits_synthesized = g_u64(&g);

	fill_db(&g, &db_run[0], st_a, 3, JM_DB_POSTGRES, true);   /* max-size strings */
	fill_db(&g, &db_run[1], st_b, 1, JM_DB_MYSQL, false);
	fill_db(&g, &db_win[0], st_w, 2, JM_DB_POSTGRES, false);
	outs[0].kind = JM_OUTPUT_TABLE;
	fill_str(outs[0].name, sizeof(outs[0].name), sizeof(outs[0].name) - 1, 9);
	outs[0].last_write_ns = 1700000005000000000;
	outs[1].kind = JM_OUTPUT_FILE;
	snprintf(outs[1].name, sizeof(outs[1].name), "/data/curated/sales/part-0001.parquet");
	outs[1].last_write_ns = 0;

	/* Run 0: everything set, maximum strings and labels. */
	struct jm_run_record *r = &runs[0];
	fill_str(r->job, sizeof(r->job), sizeof(r->job) - 1, 11);
	fill_str(r->run_id, sizeof(r->run_id), sizeof(r->run_id) - 1, 12);
	r->start_ns = 1700000000000000001;
	r->end_ns = 1700000009999999999;
	r->outcome = JM_OUTCOME_FAILURE;
	r->exit_code = -1;
	r->signal = 9;
	r->oom_killed = true;
	r->restart = true;
	fill_str(r->source, sizeof(r->source), sizeof(r->source) - 1, 13);
	fill_counters(&g, &r->counters);
	r->n_db = 2;
	r->db = db_run;
	r->n_outputs = 2;
	r->outputs = outs;
	r->n_labels = JM_LABELS_MAX;
	for (int i = 0; i < JM_LABELS_MAX; i++) {
		fill_str(r->labels[i].key, sizeof(r->labels[i].key), sizeof(r->labels[i].key) - 1,
			 (char)i);
		fill_str(r->labels[i].value, sizeof(r->labels[i].value),
			 sizeof(r->labels[i].value) - 1, (char)(i + 1));
	}
	/* Run 1: success, every array empty, empty strings. */
	r = &runs[1];
	snprintf(r->job, sizeof(r->job), "nightly-sales");
	r->outcome = JM_OUTCOME_SUCCESS;
	r->start_ns = -5;     /* negative int64 must survive (zigzag-free int64) */
	fill_counters(&g, &r->counters);
	/* Run 2: unspecified outcome, a UTF-8 job name, one label. */
	r = &runs[2];
	snprintf(r->job, sizeof(r->job), "ventes-\xc3\xa9t\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x93\x88");
	snprintf(r->run_id, sizeof(r->run_id), "manual__2024-01-01T00:00:00+00:00");
	r->outcome = JM_OUTCOME_UNSPECIFIED;
	r->exit_code = 3;
	snprintf(r->source, sizeof(r->source), "kubernetes");
	r->n_labels = 1;
	snprintf(r->labels[0].key, sizeof(r->labels[0].key), "namespace");
	snprintf(r->labels[0].value, sizeof(r->labels[0].value), "etl");

	snprintf(wins[0].job, sizeof(wins[0].job), "nightly-sales");
	snprintf(wins[0].run_id, sizeof(wins[0].run_id), "r-42");
	wins[0].start_ns = b.window_start_ns;
	wins[0].end_ns = b.window_end_ns;
	fill_counters(&g, &wins[0].counters);
	wins[0].n_db = 1;
	wins[0].db = db_win;
	wins[0].n_outputs = 1;
	wins[0].outputs = &outs[1];
	fill_str(wins[1].job, sizeof(wins[1].job), sizeof(wins[1].job) - 1, 20);

	b.n_runs = 3;
	b.runs = runs;
	b.n_windows = 2;
	b.windows = wins;

	Jobmeter__V1__Batch *m = round_trip("full batch", &b);
	if (m) {
		CHECK_INT("full batch: outcome enum FAILURE", m->runs[0]->outcome,
			  JOBMETER__V1__OUTCOME__OUTCOME_FAILURE);
		CHECK_INT("full batch: outcome enum SUCCESS", m->runs[1]->outcome,
			  JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS);
		CHECK_STR("full batch: db system name", m->runs[0]->db[1]->system, "mysql");
		CHECK_INT("full batch: max-length fingerprint kept whole",
			  strlen(m->runs[0]->db[0]->statements[2]->fingerprint), JM_FPRINT_MAX - 1);
		CHECK("full batch: empty run has counters", m->runs[1]->counters != NULL);
		CHECK_INT("full batch: empty run has no db", m->runs[1]->n_db, 0);
		CHECK_INT("full batch: empty run has no labels", m->runs[1]->n_labels, 0);
		jobmeter__v1__batch__free_unpacked(m, NULL);
	}
}

static void test_empty_batch(void)
{
	struct jm_batch b;
	memset(&b, 0, sizeof(b));
	b.seq = 1;
	Jobmeter__V1__Batch *m = round_trip("empty batch", &b);
	if (m) {
		CHECK("empty batch: agent/host/loss present",
		      m->agent && m->host && m->loss);
		CHECK_INT("empty batch: no runs", m->n_runs, 0);
		CHECK_INT("empty batch: no windows", m->n_windows, 0);
		jobmeter__v1__batch__free_unpacked(m, NULL);
	}
}

static void test_hostile_strings(void)
{
	struct jm_run_record run;
	struct jm_batch b;
	memset(&run, 0, sizeof(run));
	memset(&b, 0, sizeof(b));
	/* Not terminated inside the array at all. */
	memset(run.job, 'x', sizeof(run.job));
	/* Invalid UTF-8: a lone continuation byte, a truncated 3-byte sequence,
	 * an overlong '/', and a surrogate - all must become '?'. */
	snprintf(run.run_id, sizeof(run.run_id), "a\x80" "b\xe2\x82" "c\xc0\xaf" "d\xed\xa0\x80" "e");
	/* More labels than the inline array holds. */
	run.n_labels = JM_LABELS_MAX + 5;
	b.n_runs = 1;
	b.runs = &run;
	uint8_t *buf = NULL;
	size_t len = 0;
	int err = jm_render_batch_pb(&b, &buf, &len);
	CHECK_INT("hostile strings: render ok", err, 0);
	Jobmeter__V1__Batch *m = err ? NULL : jobmeter__v1__batch__unpack(NULL, len, buf);
	CHECK("hostile strings: unpacks", m != NULL);
	if (m && m->n_runs == 1) {
		char want[JM_JOB_NAME_MAX];
		memset(want, 'x', sizeof(want) - 1);
		want[sizeof(want) - 1] = '\0';
		CHECK_STR("unterminated job cut at array size - 1", m->runs[0]->job, want);
		CHECK_STR("invalid UTF-8 bytes become '?'", m->runs[0]->run_id, "a?b??c??d???e");
		CHECK_INT("labels clamped to JM_LABELS_MAX", m->runs[0]->n_labels, JM_LABELS_MAX);
	}
	if (m)
		jobmeter__v1__batch__free_unpacked(m, NULL);
	free(buf);
}

static void test_bad_pointers(void)
{
	struct jm_batch b;
	uint8_t *buf = (uint8_t *)&b;   /* must be reset to NULL on error */
	size_t len = 7;
	memset(&b, 0, sizeof(b));
	b.n_runs = 2;                   /* but runs == NULL */
	CHECK_INT("n_runs without runs: -EINVAL", jm_render_batch_pb(&b, &buf, &len), -EINVAL);
	CHECK("error leaves *out NULL", buf == NULL && len == 0);

	struct jm_window_record w;
	memset(&w, 0, sizeof(w));
	w.n_db = 1;                     /* but db == NULL */
	memset(&b, 0, sizeof(b));
	b.n_windows = 1;
	b.windows = &w;
	CHECK_INT("window n_db without db: -EINVAL", jm_render_batch_pb(&b, &buf, &len), -EINVAL);
	CHECK("no buffer after error", buf == NULL);
}

/* ---- host identity and sampler -------------------------------------- */

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int ok = fputs(text, f) >= 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

static void read_line(const char *path, char *buf, size_t cap)
{
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (!fgets(buf, (int)cap, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static void test_host_identity(const char *tmp)
{
	char state[512], path[600], line[256];
	struct jm_agent_identity a, b;
	snprintf(state, sizeof(state), "%s/state/nested", tmp);
	snprintf(path, sizeof(path), "%s/agent-id", state);

	CHECK_INT("identity: first call creates state dir and id", jm_host_identity(&a, state), 0);
	CHECK_INT("identity: agent id is 32 characters", strlen(a.agent_id), 32);
	CHECK("identity: agent id is lowercase hex",
	      strspn(a.agent_id, "0123456789abcdef") == 32);
	read_line(path, line, sizeof(line));
	CHECK_STR("identity: agent-id file holds the id", line, a.agent_id);
	struct stat st;
	CHECK("identity: state dir is 0700", stat(state, &st) == 0 && (st.st_mode & 0777) == 0700);

	CHECK_INT("identity: second call", jm_host_identity(&b, state), 0);
	CHECK_STR("identity: id is stable across calls", b.agent_id, a.agent_id);

	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	CHECK_STR("identity: host name", a.host, host);
	struct utsname u;
	uname(&u);
	CHECK_STR("identity: kernel release", a.kernel, u.release);
	read_line("/proc/sys/kernel/random/boot_id", line, sizeof(line));
	CHECK_STR("identity: boot id", a.boot_id, line);
	CHECK("identity: version set", a.version[0] != '\0');

	char state2[512];
	snprintf(state2, sizeof(state2), "%s/state2", tmp);
	CHECK_INT("identity: other dir", jm_host_identity(&b, state2), 0);
	CHECK("identity: another state dir gets another id", strcmp(a.agent_id, b.agent_id) != 0);

	snprintf(path, sizeof(path), "%s/agent-id", state2);
	CHECK("identity: pre-seed file", write_file(path, "host-7.example\n") == 0);
	CHECK_INT("identity: pre-seeded", jm_host_identity(&b, state2), 0);
	CHECK_STR("identity: operator-chosen id is kept", b.agent_id, "host-7.example");
	CHECK("identity: corrupt file", write_file(path, "two words\n") == 0);
	CHECK_INT("identity: invalid id refused, not replaced", jm_host_identity(&b, state2),
		  -EBADMSG);
	read_line(path, line, sizeof(line));
	CHECK_STR("identity: corrupt file left for the operator", line, "two words");
	CHECK("identity: empty file", write_file(path, "") == 0);
	CHECK_INT("identity: empty id refused", jm_host_identity(&b, state2), -EBADMSG);
}

static void test_host_sampler(const char *tmp)
{
	char proc[512], stat_p[600], mem_p[600];
	snprintf(proc, sizeof(proc), "%s/fakeproc", tmp);
	mkdir(proc, 0755);
	snprintf(stat_p, sizeof(stat_p), "%s/stat", proc);
	snprintf(mem_p, sizeof(mem_p), "%s/meminfo", proc);
	long hz = sysconf(_SC_CLK_TCK);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	struct jm_host_sampler s;
	struct jm_host_usage u;
	/* user nice system idle iowait irq softirq steal guest guest_nice */
	write_file(stat_p, "cpu  100 5 50 1000 20 3 2 1 70 9\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 1 2 3\n");
	write_file(mem_p, "MemTotal:        1000 kB\nMemFree:          100 kB\n"
			  "MemAvailable:     400 kB\nBuffers:           1 kB\n");
	CHECK_INT("sampler: init on fake /proc", jm_host_sampler_init(&s, proc), 0);
	/* +100 user, +10 system, +100 idle, +10 iowait, +40 guest (not busy twice) */
	write_file(stat_p, "cpu  200 5 60 1100 30 3 2 1 110 9\n");
	CHECK_INT("sampler: sample", jm_host_sample(&s, &u), 0);
	CHECK("sampler: busy = all - idle - iowait, guest not double counted",
	      fabs(u.cpu_busy_s - 110.0 / (double)hz) < 1e-9);
	CHECK_INT("sampler: mem total", u.mem_total_bytes, 1000 * 1024);
	CHECK_INT("sampler: mem used = total - available", u.mem_used_bytes, 600 * 1024);
	CHECK_INT("sampler: cores", u.cpu_cores, cores);
	CHECK("sampler: window measured", u.window_s > 0 && u.window_s < 5);

	write_file(stat_p, "cpu  150 5 60 1100 30 3 2 1 110 9\n");   /* went backwards */
	CHECK_INT("sampler: sample after decrease", jm_host_sample(&s, &u), 0);
	CHECK("sampler: counter decrease gives 0, not a wrap", u.cpu_busy_s == 0.0);
	write_file(stat_p, "cpu  160 5 60 1100 30 3 2 1 110 9\n");
	CHECK_INT("sampler: sample after rebase", jm_host_sample(&s, &u), 0);
	CHECK("sampler: rebased on the lower value", fabs(u.cpu_busy_s - 10.0 / (double)hz) < 1e-9);

	write_file(mem_p, "MemTotal: 2048 kB\nMemFree: 1024 kB\n");
	CHECK_INT("sampler: old kernel meminfo", jm_host_sample(&s, &u), 0);
	CHECK_INT("sampler: MemFree fallback", u.mem_used_bytes, 1024 * 1024);

	write_file(stat_p, "intr 1 2 3\n");
	CHECK_INT("sampler: garbage stat refused", jm_host_sample(&s, &u), -EBADMSG);
	CHECK("sampler: output zeroed on error", u.mem_total_bytes == 0 && u.cpu_busy_s == 0.0);
	write_file(stat_p, "cpu  1x 2 3 4\n");
	CHECK_INT("sampler: bad number refused", jm_host_sample(&s, &u), -EBADMSG);

	CHECK_INT("sampler: real /proc init", jm_host_sampler_init(&s, NULL), 0);
	usleep(20000);
	CHECK_INT("sampler: real /proc sample", jm_host_sample(&s, &u), 0);
	CHECK("sampler: real memory plausible",
	      u.mem_total_bytes > (64ull << 20) && u.mem_used_bytes <= u.mem_total_bytes);
	CHECK("sampler: real busy within window x cores",
	      u.cpu_busy_s >= 0 && u.cpu_busy_s <= u.window_s * (double)cores + 2.0 / (double)hz);
}

int main(void)
{
	char tmp[] = "/tmp/test_render_pb.XXXXXX";
	if (!mkdtemp(tmp)) {
		printf("FAIL mkdtemp\n");
		return 1;
	}
	test_full_batch();
	test_empty_batch();
	test_hostile_strings();
	test_bad_pointers();
	test_host_identity(tmp);
	test_host_sampler(tmp);

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		printf("note: could not remove %s\n", tmp);
	TEST_EXIT();
}
