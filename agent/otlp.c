/* OTLP/HTTP metrics export.  See otlp.h for the contract.
 *
 * Mapping of one jm_batch to one ExportMetricsServiceRequest:
 *
 *   One ResourceMetrics per (job, run labels).  A window takes the labels of
 *   the run in the same batch with the same run id (windows carry none of
 *   their own), so a job whose runs ran in two pods yields two resources.
 *   Resource attributes: host.name, service.name=jobmeter, service.version,
 *   service.instance.id (agent id), jobmeter.job, and from the run labels
 *   k8s.namespace -> k8s.namespace.name, k8s.pod -> k8s.pod.name,
 *   k8s.container -> k8s.container.name, systemd.unit -> systemd.unit (any
 *   other label key k -> jobmeter.label.k).
 *
 *   From each window [start, end), delta temporality:
 *     process.cpu.time                Sum double  s       (monotonic)
 *     jobmeter.job.file.read          Sum int     By
 *     jobmeter.job.file.write         Sum int     By
 *     jobmeter.job.network.io         Sum int     By      network.io.direction=receive|transmit
 *     jobmeter.job.memory.peak        Gauge int   By      (when known)
 *     db.client.operation.duration    Histogram   s       db.system.name=postgresql|mysql
 *     jobmeter.job.db.queries/errors/rows  Sum int       db.system.name
 *     jobmeter.job.output.last_write  Gauge double s (Unix time)
 *                                                     jobmeter.output.kind, jobmeter.output.name
 *   From the runs that finished in the batch, over [window_start, window_end):
 *     jobmeter.job.runs               Sum int {run}   outcome=success|failure|unknown
 *     jobmeter.job.restarts           Sum int {run}
 *     jobmeter.job.oom_kills          Sum int {run}
 *     jobmeter.job.run.duration       Histogram s
 *   One more ResourceMetrics for the agent itself (no jobmeter.job) with the
 *   cumulative loss counters jobmeter.agent.events.lost{reason} and
 *   jobmeter.agent.payloads.truncated.
 *
 * The DB histogram uses the 63 finite bounds of agent/histogram.h as
 * explicit_bounds and its 64 counts as bucket_counts: OTLP buckets are
 * (bounds[i-1], bounds[i]], the same upper-inclusive rule.
 *
 * protobuf-c wants a tree of message structs; it is built in an arena that
 * lives for one encode call, so there is one thing to free on every path. */
#include "otlp.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "arena.h"
#include "histogram.h"
#include "log.h"
#include "otlp_metrics.pb-c.h"
#include "sli.h"

#ifndef JOBMETER_VERSION
#define JOBMETER_VERSION "unknown"
#endif

#define OX_DEFAULT_TIMEOUT_S 10
/* The export runs on the agent's main loop, so an unreachable receiver must
 * not stall it every interval: connecting is bounded more tightly than the
 * whole request, and after OX_FAILS_BEFORE_BACKOFF failures in a row further
 * batches are dropped without a request until a backoff (5 s doubling to
 * 60 s) expires.  Delta points of dropped batches are lost either way: OTLP
 * export is best effort, the collector path is the durable one. */
#define OX_CONNECT_TIMEOUT_S    3
#define OX_FAILS_BEFORE_BACKOFF 3
#define OX_BACKOFF_MIN_NS       (5 * 1000000000LL)
#define OX_BACKOFF_MAX_NS       (60 * 1000000000LL)
#define OX_RESPONSE_MAX      4096     /* response bytes kept (partial success) */

/* ---- arena ---------------------------------------------------------- */

/* An export request allocates many small messages: bigger chunks than the
 * arena's default mean fewer mallocs per encode. */
#define OX_CHUNK_MIN (32 * 1024)

struct ox {
	struct jm_arena a;       /* its oom flag is checked once before packing */
	double *db_bounds;       /* shared by every DB histogram point */
	double *run_bounds;
};

/* A growable array of message pointers inside the arena. */
struct ox_vec {
	void **v;
	size_t n, cap;
};

static void ox_push(struct ox *x, struct ox_vec *vec, void *item)
{
	if (!item)
		return;
	if (vec->n == vec->cap) {
		size_t nc = vec->cap ? vec->cap * 2 : 8;
		void **nv = jm_arena_alloc_n(&x->a, nc, sizeof(*nv));
		if (!nv)
			return;
		if (vec->n)
			memcpy(nv, vec->v, vec->n * sizeof(*nv));
		vec->v = nv;
		vec->cap = nc;
	}
	vec->v[vec->n++] = item;
}

/* ---- strings -------------------------------------------------------- */

/* An arena copy of src[0..cap) up to its NUL, invalid bytes as '?': OTLP
 * strings must be UTF-8; strict decoders reject the whole request. */
static char *ox_str(struct ox *x, const char *src, size_t cap)
{
	return jm_arena_utf8(&x->a, src, strnlen(src, cap));
}

/* ---- attributes ----------------------------------------------------- */

static Jmotlp__V1__KeyValue *ox_kv(struct ox *x, const char *key, const char *val, size_t cap)
{
	Jmotlp__V1__KeyValue *kv = jm_arena_alloc(&x->a, sizeof(*kv));
	Jmotlp__V1__AnyValue *av = jm_arena_alloc(&x->a, sizeof(*av));
	char *k = ox_str(x, key, strlen(key) + 1), *v = ox_str(x, val, cap);
	if (!kv || !av || !k || !v)
		return NULL;
	jmotlp__v1__key_value__init(kv);
	jmotlp__v1__any_value__init(av);
	av->value_case = JMOTLP__V1__ANY_VALUE__VALUE_STRING_VALUE;
	av->string_value = v;
	kv->key = k;
	kv->value = av;
	return kv;
}

/* Up to two string attributes (NULL keys are skipped). */
static void ox_attrs(struct ox *x, size_t *n, Jmotlp__V1__KeyValue ***out, const char *k1,
		     const char *v1, size_t c1, const char *k2, const char *v2, size_t c2)
{
	Jmotlp__V1__KeyValue **a = jm_arena_alloc_n(&x->a, 2, sizeof(*a));
	*n = 0;
	*out = a;
	if (!a)
		return;
	if (k1 && (a[*n] = ox_kv(x, k1, v1, c1)))
		(*n)++;
	if (k2 && (a[*n] = ox_kv(x, k2, v2, c2)))
		(*n)++;
}

/* ---- metrics -------------------------------------------------------- */

enum ox_kind { OX_SUM_DOUBLE, OX_SUM_INT, OX_GAUGE_INT, OX_GAUGE_DOUBLE, OX_HIST };

enum ox_mid {
	M_CPU, M_FREAD, M_FWRITE, M_NET, M_MEM_PEAK, M_DB_DUR, M_DB_QUERIES, M_DB_ERRORS,
	M_DB_ROWS, M_OUTPUT, M_RUNS, M_RESTARTS, M_OOMS, M_RUN_DUR, M_COUNT
};

static const struct ox_mdef {
	const char *name, *desc, *unit;
	enum ox_kind kind;
} ox_defs[M_COUNT] = {
	[M_CPU] = { "process.cpu.time", "CPU time (user + system) of the job's processes.",
		    "s", OX_SUM_DOUBLE },
	[M_FREAD] = { "jobmeter.job.file.read", "Bytes the job read from files.", "By",
		      OX_SUM_INT },
	[M_FWRITE] = { "jobmeter.job.file.write", "Bytes the job wrote to files.", "By",
		       OX_SUM_INT },
	[M_NET] = { "jobmeter.job.network.io", "Bytes the job moved through sockets.", "By",
		    OX_SUM_INT },
	[M_MEM_PEAK] = { "jobmeter.job.memory.peak",
			 "Peak resident memory of the job's processes in the window.", "By",
			 OX_GAUGE_INT },
	[M_DB_DUR] = { "db.client.operation.duration",
		       "Duration of the job's database statements, request to response.", "s",
		       OX_HIST },
	[M_DB_QUERIES] = { "jobmeter.job.db.queries", "Database statements the job sent.",
			   "{statement}", OX_SUM_INT },
	[M_DB_ERRORS] = { "jobmeter.job.db.errors", "Database statements that failed.",
			  "{statement}", OX_SUM_INT },
	[M_DB_ROWS] = { "jobmeter.job.db.rows", "Rows returned or affected.", "{row}",
			OX_SUM_INT },
	[M_OUTPUT] = { "jobmeter.job.output.last_write",
		       "Unix time the job last wrote to a declared output.", "s",
		       OX_GAUGE_DOUBLE },
	[M_RUNS] = { "jobmeter.job.runs", "Runs that finished, by outcome.", "{run}",
		     OX_SUM_INT },
	[M_RESTARTS] = { "jobmeter.job.restarts",
			 "Finished runs that started after a failed run.", "{run}", OX_SUM_INT },
	[M_OOMS] = { "jobmeter.job.oom_kills",
		     "Finished runs in which the OOM killer killed a process.", "{run}",
		     OX_SUM_INT },
	[M_RUN_DUR] = { "jobmeter.job.run.duration", "Wall-clock duration of finished runs.",
			"s", OX_HIST },
};

static uint64_t ox_ns(int64_t t)
{
	return t > 0 ? (uint64_t)t : 0;
}

/* A number point appended to vec; start 0 for gauges. */
static Jmotlp__V1__NumberDataPoint *ox_num(struct ox *x, struct ox_vec *vec, int64_t start,
					   int64_t end)
{
	Jmotlp__V1__NumberDataPoint *p = jm_arena_alloc(&x->a, sizeof(*p));
	if (!p)
		return NULL;
	jmotlp__v1__number_data_point__init(p);
	p->start_time_unix_nano = ox_ns(start);
	p->time_unix_nano = ox_ns(end);
	ox_push(x, vec, p);
	return p;
}

static Jmotlp__V1__NumberDataPoint *ox_int(struct ox *x, struct ox_vec *vec, int64_t start,
					   int64_t end, uint64_t v)
{
	Jmotlp__V1__NumberDataPoint *p = ox_num(x, vec, start, end);
	if (p) {
		p->value_case = JMOTLP__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
		p->as_int = v > INT64_MAX ? INT64_MAX : (int64_t)v;
	}
	return p;
}

static Jmotlp__V1__NumberDataPoint *ox_dbl(struct ox *x, struct ox_vec *vec, int64_t start,
					   int64_t end, double v)
{
	Jmotlp__V1__NumberDataPoint *p = ox_num(x, vec, start, end);
	if (p) {
		p->value_case = JMOTLP__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
		p->as_double = v;
	}
	return p;
}

/* counts: n_bounds + 1 per-bucket counts (not cumulative). */
static Jmotlp__V1__HistogramDataPoint *ox_hist(struct ox *x, struct ox_vec *vec, int64_t start,
					       int64_t end, double *bounds, size_t n_bounds,
					       const uint64_t *counts, double sum)
{
	Jmotlp__V1__HistogramDataPoint *p = jm_arena_alloc(&x->a, sizeof(*p));
	uint64_t *bc = jm_arena_alloc_n(&x->a, n_bounds + 1, sizeof(*bc));
	if (!p || !bc || !bounds)
		return NULL;
	jmotlp__v1__histogram_data_point__init(p);
	p->start_time_unix_nano = ox_ns(start);
	p->time_unix_nano = ox_ns(end);
	for (size_t i = 0; i <= n_bounds; i++) {
		bc[i] = counts[i];
		p->count = p->count + counts[i] < p->count ? UINT64_MAX : p->count + counts[i];
	}
	p->n_bucket_counts = n_bounds + 1;
	p->bucket_counts = bc;
	p->n_explicit_bounds = n_bounds;
	p->explicit_bounds = bounds;
	p->sum_present_case = JMOTLP__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM;
	p->sum = sum;
	ox_push(x, vec, p);
	return p;
}

/* The Metric for one collected point list (NULL when it has no points). */
static Jmotlp__V1__Metric *ox_metric(struct ox *x, enum ox_mid id, struct ox_vec *pts,
				     Jmotlp__V1__AggregationTemporality temp)
{
	const struct ox_mdef *d = &ox_defs[id];
	Jmotlp__V1__Metric *m;

	if (!pts->n || !(m = jm_arena_alloc(&x->a, sizeof(*m))))
		return NULL;
	jmotlp__v1__metric__init(m);
	/* protobuf-c only reads strings while packing: the constant table
	 * can be referenced as is. */
	m->name = (char *)d->name;
	m->description = (char *)d->desc;
	m->unit = (char *)d->unit;
	switch (d->kind) {
	case OX_SUM_DOUBLE:
	case OX_SUM_INT: {
		Jmotlp__V1__Sum *s = jm_arena_alloc(&x->a, sizeof(*s));
		if (!s)
			return NULL;
		jmotlp__v1__sum__init(s);
		s->aggregation_temporality = temp;
		s->is_monotonic = 1;
		s->n_data_points = pts->n;
		s->data_points = (Jmotlp__V1__NumberDataPoint **)pts->v;
		m->data_case = JMOTLP__V1__METRIC__DATA_SUM;
		m->sum = s;
		break;
	}
	case OX_GAUGE_INT:
	case OX_GAUGE_DOUBLE: {
		Jmotlp__V1__Gauge *g = jm_arena_alloc(&x->a, sizeof(*g));
		if (!g)
			return NULL;
		jmotlp__v1__gauge__init(g);
		g->n_data_points = pts->n;
		g->data_points = (Jmotlp__V1__NumberDataPoint **)pts->v;
		m->data_case = JMOTLP__V1__METRIC__DATA_GAUGE;
		m->gauge = g;
		break;
	}
	case OX_HIST: {
		Jmotlp__V1__Histogram *h = jm_arena_alloc(&x->a, sizeof(*h));
		if (!h)
			return NULL;
		jmotlp__v1__histogram__init(h);
		h->aggregation_temporality = temp;
		h->n_data_points = pts->n;
		h->data_points = (Jmotlp__V1__HistogramDataPoint **)pts->v;
		m->data_case = JMOTLP__V1__METRIC__DATA_HISTOGRAM;
		m->histogram = h;
		break;
	}
	}
	return m;
}

/* ---- grouping ------------------------------------------------------- */

struct ox_rec {
	const char *job;                     /* JM_JOB_NAME_MAX array, maybe unterminated */
	const struct jm_run_record *labels;  /* whose labels; NULL = none */
	const struct jm_run_record *run;     /* exactly one of run / win */
	const struct jm_window_record *win;
};

static int ox_label_cmp(const struct jm_run_record *a, const struct jm_run_record *b)
{
	size_t na = a ? a->n_labels : 0, nb = b ? b->n_labels : 0;
	if (na > JM_LABELS_MAX)
		na = JM_LABELS_MAX;
	if (nb > JM_LABELS_MAX)
		nb = JM_LABELS_MAX;
	if (na != nb)
		return na < nb ? -1 : 1;
	for (size_t i = 0; i < na; i++) {
		int c = strncmp(a->labels[i].key, b->labels[i].key, sizeof(a->labels[i].key));
		if (!c)
			c = strncmp(a->labels[i].value, b->labels[i].value,
				    sizeof(a->labels[i].value));
		if (c)
			return c;
	}
	return 0;
}

static int ox_group_cmp(const struct ox_rec *a, const struct ox_rec *b)
{
	int c = strncmp(a->job, b->job, JM_JOB_NAME_MAX);
	return c ? c : ox_label_cmp(a->labels, b->labels);
}

static int ox_rec_cmp(const void *pa, const void *pb)
{
	const struct ox_rec *a = pa, *b = pb;
	int c = ox_group_cmp(a, b);
	if (c)
		return c;
	/* Stable order inside a group: runs, then windows, by position. */
	if (!a->run != !b->run)
		return a->run ? -1 : 1;
	const void *x = a->run ? (const void *)a->run : (const void *)a->win;
	const void *y = b->run ? (const void *)b->run : (const void *)b->win;
	return x < y ? -1 : x > y;
}

static const char *ox_label_key(const char *k, char *buf, size_t len)
{
	static const struct { const char *from, *to; } map[] = {
		{ "k8s.namespace", "k8s.namespace.name" },
		{ "k8s.pod", "k8s.pod.name" },
		{ "k8s.container", "k8s.container.name" },
		{ "systemd.unit", "systemd.unit" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(k, map[i].from) == 0)
			return map[i].to;
	snprintf(buf, len, "jobmeter.label.%s", k);
	return buf;
}

static Jmotlp__V1__Resource *ox_resource(struct ox *x, const struct jm_batch *b, const char *job,
					 const struct jm_run_record *lab)
{
	Jmotlp__V1__Resource *r = jm_arena_alloc(&x->a, sizeof(*r));
	size_t nl = lab ? (lab->n_labels > JM_LABELS_MAX ? JM_LABELS_MAX : lab->n_labels) : 0;
	Jmotlp__V1__KeyValue **a = jm_arena_alloc_n(&x->a, 5 + nl, sizeof(*a));
	size_t n = 0;
	char key[64];

	if (!r || !a)
		return NULL;
	jmotlp__v1__resource__init(r);
	a[n++] = ox_kv(x, "host.name", b->agent.host, sizeof(b->agent.host));
	a[n++] = ox_kv(x, "service.name", "jobmeter", sizeof("jobmeter"));
	if (b->agent.version[0])
		a[n++] = ox_kv(x, "service.version", b->agent.version, sizeof(b->agent.version));
	if (b->agent.agent_id[0])
		a[n++] = ox_kv(x, "service.instance.id", b->agent.agent_id,
			       sizeof(b->agent.agent_id));
	if (job)
		a[n++] = ox_kv(x, "jobmeter.job", job, JM_JOB_NAME_MAX);
	for (size_t i = 0; i < nl; i++) {
		char k[sizeof(lab->labels[i].key)];
		snprintf(k, sizeof(k), "%s", lab->labels[i].key);
		if (!k[0])
			continue;
		a[n++] = ox_kv(x, ox_label_key(k, key, sizeof(key)), lab->labels[i].value,
			       sizeof(lab->labels[i].value));
	}
	r->n_attributes = n;
	r->attributes = a;
	return r;
}

static Jmotlp__V1__ResourceMetrics *ox_resource_metrics(struct ox *x, Jmotlp__V1__Resource *res,
							const struct jm_batch *b, struct ox_vec *metrics)
{
	Jmotlp__V1__ResourceMetrics *rm = jm_arena_alloc(&x->a, sizeof(*rm));
	Jmotlp__V1__ScopeMetrics *sm = jm_arena_alloc(&x->a, sizeof(*sm));
	Jmotlp__V1__ScopeMetrics **sms = jm_arena_alloc_n(&x->a, 1, sizeof(*sms));
	Jmotlp__V1__InstrumentationScope *scope = jm_arena_alloc(&x->a, sizeof(*scope));
	if (!rm || !sm || !sms || !scope || !res)
		return NULL;
	jmotlp__v1__instrumentation_scope__init(scope);
	scope->name = (char *)"jobmeter";
	scope->version = b->agent.version[0] ?
		ox_str(x, b->agent.version, sizeof(b->agent.version)) : (char *)JOBMETER_VERSION;
	if (!scope->version)
		return NULL;
	jmotlp__v1__scope_metrics__init(sm);
	sm->scope = scope;
	sm->n_metrics = metrics->n;
	sm->metrics = (Jmotlp__V1__Metric **)metrics->v;
	sms[0] = sm;
	jmotlp__v1__resource_metrics__init(rm);
	rm->resource = res;
	rm->n_scope_metrics = 1;
	rm->scope_metrics = sms;
	return rm;
}

/* Points of one window. */
static void ox_window(struct ox *x, struct ox_vec *pts, const struct jm_window_record *w)
{
	const struct jm_counters *c = &w->counters;
	int64_t s = w->start_ns, e = w->end_ns;
	Jmotlp__V1__NumberDataPoint *p;

	ox_dbl(x, &pts[M_CPU], s, e, jm_sli_pos(c->cpu_s));
	ox_int(x, &pts[M_FREAD], s, e, c->file_read_bytes);
	ox_int(x, &pts[M_FWRITE], s, e, c->file_write_bytes);
	if ((p = ox_int(x, &pts[M_NET], s, e, c->net_rx_bytes)))
		ox_attrs(x, &p->n_attributes, &p->attributes, "network.io.direction", "receive",
			 8, NULL, NULL, 0);
	if ((p = ox_int(x, &pts[M_NET], s, e, c->net_tx_bytes)))
		ox_attrs(x, &p->n_attributes, &p->attributes, "network.io.direction", "transmit",
			 9, NULL, NULL, 0);
	if (c->peak_rss_bytes)
		ox_int(x, &pts[M_MEM_PEAK], 0, e, c->peak_rss_bytes);

	/* One point per database system: endpoints of one system merge. */
	for (int sys = JM_DB_POSTGRES; sys <= JM_DB_MYSQL; sys++) {
		struct jm_sli_db db = { 0 };
		bool seen = false;
		for (size_t i = 0; i < w->n_db && w->db; i++) {
			if ((int)w->db[i].system != sys)
				continue;
			seen = true;
			jm_sli_db_add(&db, &w->db[i]);
		}
		if (!seen)
			continue;
		const char *name = jm_db_system_name((enum jm_db_system)sys);
		size_t nl = strlen(name) + 1;
		Jmotlp__V1__HistogramDataPoint *h = ox_hist(x, &pts[M_DB_DUR], s, e, x->db_bounds,
							    JM_HIST_BUCKETS - 1, db.buckets,
							    db.latency_s_sum);
		if (h)
			ox_attrs(x, &h->n_attributes, &h->attributes, "db.system.name", name, nl,
				 NULL, NULL, 0);
		if ((p = ox_int(x, &pts[M_DB_QUERIES], s, e, db.queries)))
			ox_attrs(x, &p->n_attributes, &p->attributes, "db.system.name", name, nl,
				 NULL, NULL, 0);
		if ((p = ox_int(x, &pts[M_DB_ERRORS], s, e, db.errors)))
			ox_attrs(x, &p->n_attributes, &p->attributes, "db.system.name", name, nl,
				 NULL, NULL, 0);
		if ((p = ox_int(x, &pts[M_DB_ROWS], s, e, db.rows)))
			ox_attrs(x, &p->n_attributes, &p->attributes, "db.system.name", name, nl,
				 NULL, NULL, 0);
	}
	for (size_t i = 0; i < w->n_outputs && w->outputs; i++) {
		const struct jm_output_write *o = &w->outputs[i];
		if (o->last_write_ns <= 0)
			continue;
		if ((p = ox_dbl(x, &pts[M_OUTPUT], 0, e, (double)o->last_write_ns / 1e9)))
			ox_attrs(x, &p->n_attributes, &p->attributes, "jobmeter.output.kind",
				 o->kind == JM_OUTPUT_FILE ? "file" : "table", 6,
				 "jobmeter.output.name", o->name, sizeof(o->name));
	}
}

/* Points for the runs of one group that finished in the batch. */
static void ox_runs(struct ox *x, struct ox_vec *pts, const struct jm_batch *b,
		    const struct ox_rec *g, size_t n)
{
	struct jm_sli_runs runs = { 0 };
	int64_t s = b->window_start_ns, e = b->window_end_ns;

	for (size_t i = 0; i < n; i++)
		if (g[i].run)
			jm_sli_runs_add(&runs, g[i].run);
	if (!runs.total)
		return;
	static const enum jm_outcome order[] = { JM_OUTCOME_SUCCESS, JM_OUTCOME_FAILURE,
						  JM_OUTCOME_UNSPECIFIED };
	for (size_t i = 0; i < 3; i++) {
		Jmotlp__V1__NumberDataPoint *p;
		const char *name = jm_outcome_name(order[i]);
		if (!runs.by_outcome[order[i]])
			continue;
		if ((p = ox_int(x, &pts[M_RUNS], s, e, runs.by_outcome[order[i]])))
			ox_attrs(x, &p->n_attributes, &p->attributes, "outcome", name,
				 strlen(name) + 1, NULL, NULL, 0);
	}
	ox_int(x, &pts[M_RESTARTS], s, e, runs.restarts);
	ox_int(x, &pts[M_OOMS], s, e, runs.oom_kills);
	ox_hist(x, &pts[M_RUN_DUR], s, e, x->run_bounds, JM_SLI_RUN_BOUNDS, runs.duration_buckets,
		runs.duration_s_sum);
}

static Jmotlp__V1__ResourceMetrics *ox_group(struct ox *x, const struct jm_batch *b,
					     const struct ox_rec *g, size_t n)
{
	struct ox_vec pts[M_COUNT], metrics = { 0 };
	memset(pts, 0, sizeof(pts));
	for (size_t i = 0; i < n; i++)
		if (g[i].win)
			ox_window(x, pts, g[i].win);
	ox_runs(x, pts, b, g, n);
	for (int id = 0; id < M_COUNT; id++)
		ox_push(x, &metrics,
			ox_metric(x, id, &pts[id], JMOTLP__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA));
	return ox_resource_metrics(x, ox_resource(x, b, g[0].job, g[0].labels), b, &metrics);
}

/* The agent's own resource: cumulative loss counters since start_ns. */
static Jmotlp__V1__ResourceMetrics *ox_agent(struct ox *x, const struct jm_batch *b,
					     int64_t start_ns)
{
	const struct jm_loss *l = &b->loss;
	struct jm_sli_reason lost[JM_SLI_LOSS_REASONS];
	struct ox_vec lost_pts = { 0 }, trunc_pts = { 0 }, metrics = { 0 };
	int64_t e = b->window_end_ns;

	jm_sli_loss_reasons(l, lost);
	for (size_t i = 0; i < JM_SLI_LOSS_REASONS; i++) {
		Jmotlp__V1__NumberDataPoint *p = ox_int(x, &lost_pts, start_ns, e, lost[i].count);
		if (p)
			ox_attrs(x, &p->n_attributes, &p->attributes, "reason", lost[i].reason,
				 strlen(lost[i].reason) + 1, NULL, NULL, 0);
	}
	ox_int(x, &trunc_pts, start_ns, e, l->payload_truncated);

	Jmotlp__V1__Metric *m1 = jm_arena_alloc(&x->a, sizeof(*m1)), *m2 = jm_arena_alloc(&x->a, sizeof(*m2));
	Jmotlp__V1__Sum *s1 = jm_arena_alloc(&x->a, sizeof(*s1)), *s2 = jm_arena_alloc(&x->a, sizeof(*s2));
	if (!m1 || !m2 || !s1 || !s2)
		return NULL;
	jmotlp__v1__metric__init(m1);
	jmotlp__v1__metric__init(m2);
	jmotlp__v1__sum__init(s1);
	jmotlp__v1__sum__init(s2);
	m1->name = (char *)"jobmeter.agent.events.lost";
	m1->description = (char *)"Events, payloads, statements, jobs or batches the agent "
				  "could not account for, by reason.";
	m1->unit = (char *)"{event}";
	m2->name = (char *)"jobmeter.agent.payloads.truncated";
	m2->description = (char *)"Database payloads captured head and tail only "
				  "(by design, not loss).";
	m2->unit = (char *)"{payload}";
	s1->aggregation_temporality = s2->aggregation_temporality =
		JMOTLP__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
	s1->is_monotonic = s2->is_monotonic = 1;
	s1->n_data_points = lost_pts.n;
	s1->data_points = (Jmotlp__V1__NumberDataPoint **)lost_pts.v;
	s2->n_data_points = trunc_pts.n;
	s2->data_points = (Jmotlp__V1__NumberDataPoint **)trunc_pts.v;
	m1->data_case = m2->data_case = JMOTLP__V1__METRIC__DATA_SUM;
	m1->sum = s1;
	m2->sum = s2;
	ox_push(x, &metrics, m1);
	ox_push(x, &metrics, m2);
	return ox_resource_metrics(x, ox_resource(x, b, NULL, NULL), b, &metrics);
}

/* start_ns: start time of the cumulative (agent) points; 0 = unknown. */
static int ox_encode(const struct jm_batch *b, int64_t start_ns, uint8_t **out, size_t *len)
{
	struct ox x = { .a = { .chunk_min = OX_CHUNK_MIN } };
	struct ox_rec *recs = NULL;
	struct ox_vec rms = { 0 };
	uint8_t *buf = NULL;
	size_t n = 0;
	int err = -ENOMEM;

	*out = NULL;
	*len = 0;
	if ((b->n_runs && !b->runs) || (b->n_windows && !b->windows))
		return -EINVAL;
	if (b->n_runs > SIZE_MAX / 4 / sizeof(*recs) - b->n_windows)
		return -EOVERFLOW;
	recs = calloc(b->n_runs + b->n_windows + 1, sizeof(*recs));
	x.db_bounds = jm_arena_alloc_n(&x.a, JM_HIST_BUCKETS - 1, sizeof(double));
	x.run_bounds = jm_arena_alloc_n(&x.a, JM_SLI_RUN_BOUNDS, sizeof(double));
	if (!recs || x.a.oom)
		goto out;
	for (int i = 0; i < JM_HIST_BUCKETS - 1; i++)
		x.db_bounds[i] = jm_hist_bucket_upper_s(i);
	memcpy(x.run_bounds, jm_sli_run_bounds, sizeof(jm_sli_run_bounds));

	for (size_t i = 0; i < b->n_runs; i++)
		recs[n++] = (struct ox_rec){ .job = b->runs[i].job, .labels = &b->runs[i],
					     .run = &b->runs[i] };
	for (size_t i = 0; i < b->n_windows; i++) {
		const struct jm_window_record *w = &b->windows[i];
		const struct jm_run_record *lab = NULL;
		/* Windows carry no labels: borrow them from the same run, when
		 * it finished in this batch. */
		for (size_t k = 0; k < b->n_runs && w->run_id[0]; k++) {
			const struct jm_run_record *r = &b->runs[k];
			if (strncmp(r->job, w->job, sizeof(w->job)) == 0 &&
			    strncmp(r->run_id, w->run_id, sizeof(w->run_id)) == 0) {
				lab = r;
				break;
			}
		}
		recs[n++] = (struct ox_rec){ .job = w->job, .labels = lab, .win = w };
	}
	qsort(recs, n, sizeof(*recs), ox_rec_cmp);
	for (size_t i = 0; i < n; ) {
		size_t k = i + 1;
		while (k < n && ox_group_cmp(&recs[i], &recs[k]) == 0)
			k++;
		ox_push(&x, &rms, ox_group(&x, b, &recs[i], k - i));
		i = k;
	}
	ox_push(&x, &rms, ox_agent(&x, b, start_ns));
	if (x.a.oom)
		goto out;

	Jmotlp__V1__ExportMetricsServiceRequest req = JMOTLP__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
	req.n_resource_metrics = rms.n;
	req.resource_metrics = (Jmotlp__V1__ResourceMetrics **)rms.v;
	size_t sz = jmotlp__v1__export_metrics_service_request__get_packed_size(&req);
	buf = malloc(sz ? sz : 1);
	if (!buf)
		goto out;
	if (jmotlp__v1__export_metrics_service_request__pack(&req, buf) != sz) {
		err = -EIO;
		goto out;
	}
	*out = buf;
	*len = sz;
	buf = NULL;
	err = 0;
out:
	free(buf);
	free(recs);
	jm_arena_free(&x.a);
	return err;
}

int jm_otlp_encode(const struct jm_batch *b, uint8_t **out, size_t *len)
{
	if (!b || !out || !len)
		return -EINVAL;
	return ox_encode(b, 0, out, len);
}

/* ---- transport ------------------------------------------------------ */

struct jm_otlp {
	CURL *curl;
	struct curl_slist *headers;
	char host[256];            /* for log lines: never the full URL (credentials) */
	int64_t start_ns;          /* start of the cumulative loss counters */
	unsigned failures;         /* consecutive failed attempts (log the first) */
	int64_t retry_at;          /* CLOCK_MONOTONIC ns; no attempt before */
	uint64_t skipped;          /* batches dropped while backing off */
	char errbuf[CURL_ERROR_SIZE];
	char resp[OX_RESPONSE_MAX];
	size_t resp_len;
};

static size_t ox_on_body(char *p, size_t sz, size_t nm, void *ud)
{
	struct jm_otlp *o = ud;
	size_t n = sz * nm, room = sizeof(o->resp) - o->resp_len;
	memcpy(o->resp + o->resp_len, p, n < room ? n : room);
	o->resp_len += n < room ? n : room;
	return n;                  /* the rest is read and dropped */
}

static int64_t ox_clock_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int jm_otlp_open(struct jm_otlp **out, const char *url, unsigned timeout_s)
{
	struct jm_otlp *o = NULL;
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL;
	int err = -EINVAL;

	*out = NULL;
	if (!url || !*url) {
		jm_err("otlp: no URL configured");
		return -EINVAL;
	}
	u = curl_url();
	if (!u) {
		err = -ENOMEM;
		goto out;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		jm_err("otlp: url is not a valid http:// or https:// URL");
		goto out;
	}
	o = calloc(1, sizeof(*o));
	if (!o || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(o);
		o = NULL;
		err = -ENOMEM;
		goto out;
	}
	snprintf(o->host, sizeof(o->host), "%s", host);
	o->start_ns = ox_clock_ns(CLOCK_REALTIME);
	o->curl = curl_easy_init();
	o->headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	if (o->headers)
		o->headers = curl_slist_append(o->headers, "Content-Encoding: gzip");
	/* No "Expect: 100-continue" round trip before every body. */
	if (o->headers)
		o->headers = curl_slist_append(o->headers, "Expect:");
	if (!o->curl || !o->headers) {
		err = -ENOMEM;
		goto out;
	}
	long t = timeout_s ? (long)timeout_s : OX_DEFAULT_TIMEOUT_S;
	long ct = t < OX_CONNECT_TIMEOUT_S ? t : OX_CONNECT_TIMEOUT_S;
	CURL *c = o->curl;
	if (curl_easy_setopt(c, CURLOPT_URL, url) ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT, t) ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, ct) ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, o->headers) ||
	    curl_easy_setopt(c, CURLOPT_POST, 1L) ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "jobmeter/" JOBMETER_VERSION) ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ox_on_body) ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, o) ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, o->errbuf)) {
		jm_err("otlp: libcurl refused an option");
		err = -EINVAL;
		goto out;
	}
	jm_info("otlp: exporting metrics to %s://%s every batch", scheme, o->host);
	*out = o;
	o = NULL;
	err = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	jm_otlp_close(o);
	return err;
}

void jm_otlp_close(struct jm_otlp *o)
{
	if (!o)
		return;
	if (o->curl)
		curl_easy_cleanup(o->curl);
	curl_slist_free_all(o->headers);
	curl_global_cleanup();
	free(o);
}

static int ox_gzip(const uint8_t *in, size_t n, uint8_t **out, size_t *outlen)
{
	z_stream zs;
	uint8_t *buf = NULL;
	int err = -ENOMEM;

	if (n > UINT_MAX / 2)
		return -EFBIG;
	memset(&zs, 0, sizeof(zs));
	/* 15 + 16: a gzip wrapper, which is what Content-Encoding: gzip means. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	uLong cap = deflateBound(&zs, (uLong)n);
	buf = malloc(cap);
	if (!buf)
		goto out;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = buf;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		err = -EIO;
		goto out;
	}
	*out = buf;
	*outlen = zs.total_out;
	buf = NULL;
	err = 0;
out:
	deflateEnd(&zs);
	free(buf);
	return err;
}

/* A 2xx may still carry partial_success: points the receiver dropped. */
static void ox_check_partial(struct jm_otlp *o)
{
	Jmotlp__V1__ExportMetricsServiceResponse *rsp;
	if (!o->resp_len || o->resp_len >= sizeof(o->resp))
		return;
	rsp = jmotlp__v1__export_metrics_service_response__unpack(NULL, o->resp_len,
								  (const uint8_t *)o->resp);
	if (!rsp)
		return;
	if (rsp->partial_success && rsp->partial_success->rejected_data_points > 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "%s", rsp->partial_success->error_message ?
			 rsp->partial_success->error_message : "");
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' ';
		jm_warn("otlp: %s rejected %lld data points: %s", o->host,
			(long long)rsp->partial_success->rejected_data_points, msg);
	}
	jmotlp__v1__export_metrics_service_response__free_unpacked(rsp, NULL);
}

int jm_otlp_export(struct jm_otlp *o, const struct jm_batch *b)
{
	uint8_t *pb = NULL, *gz = NULL;
	size_t pb_len = 0, gz_len = 0;
	long status = 0;
	char why[CURL_ERROR_SIZE + 32] = "";
	int err;

	if (!o || !b)
		return -EINVAL;
	if (o->failures >= OX_FAILS_BEFORE_BACKOFF && ox_clock_ns(CLOCK_MONOTONIC) < o->retry_at) {
		o->skipped++;
		return -EAGAIN;
	}
	err = ox_encode(b, o->start_ns, &pb, &pb_len);
	if (err) {
		snprintf(why, sizeof(why), "cannot encode the batch: %s", strerror(-err));
		goto out;
	}
	err = ox_gzip(pb, pb_len, &gz, &gz_len);
	if (err) {
		snprintf(why, sizeof(why), "cannot compress the batch: %s", strerror(-err));
		goto out;
	}
	o->resp_len = 0;
	o->errbuf[0] = '\0';
	if (curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, gz) ||
	    curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)gz_len)) {
		err = -EINVAL;
		snprintf(why, sizeof(why), "libcurl refused the body");
		goto out;
	}
	CURLcode rc = curl_easy_perform(o->curl);
	if (rc != CURLE_OK) {
		err = -EIO;
		snprintf(why, sizeof(why), "%s", o->errbuf[0] ? o->errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		err = -EPROTO;
		snprintf(why, sizeof(why), "HTTP %ld", status);
		goto out;
	}
	ox_check_partial(o);
	err = 0;
out:
	/* The body must not outlive this call inside the handle. */
	curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, NULL);
	if (err && !o->failures)
		jm_warn("otlp: export to %s failed: %s (further failures are not logged "
			"until it recovers)", o->host, why);
	else if (!err && o->failures)
		jm_info("otlp: export to %s recovered after %u failed attempts; %llu batches "
			"dropped meanwhile", o->host, o->failures, (unsigned long long)o->skipped);
	if (err) {
		o->failures++;
		if (o->failures >= OX_FAILS_BEFORE_BACKOFF) {
			unsigned k = o->failures - OX_FAILS_BEFORE_BACKOFF;
			int64_t wait = k < 4 ? OX_BACKOFF_MIN_NS << k : OX_BACKOFF_MAX_NS;
			if (wait > OX_BACKOFF_MAX_NS)
				wait = OX_BACKOFF_MAX_NS;
			o->retry_at = ox_clock_ns(CLOCK_MONOTONIC) + wait;
		}
	} else {
		o->failures = 0;
		o->skipped = 0;
	}
	free(gz);
	free(pb);
	return err;
}
