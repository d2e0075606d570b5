/* OTLP export: encode a batch, unpack it with the protoc-c code generated
 * from proto/otlp_metrics.proto and check every value; check the wire tags
 * of the fields against the official OTLP numbers by hand; POST to an
 * in-process HTTP receiver (gzip, headers, error statuses, timeout). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"
#include "histogram.h"
#include "otlp.h"
#include "otlp_metrics.pb-c.h"

#define SEC 1000000000LL
#define T0 (1767225600LL * SEC)

typedef Jmotlp__V1__ExportMetricsServiceRequest Req;
typedef Jmotlp__V1__ResourceMetrics RM;
typedef Jmotlp__V1__Metric Metric;
typedef Jmotlp__V1__KeyValue KV;

/* ---- lookup helpers over the unpacked tree ---- */

static const char *attr(KV **a, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i]->key, key) == 0 && a[i]->value &&
		    a[i]->value->value_case == JMOTLP__V1__ANY_VALUE__VALUE_STRING_VALUE)
			return a[i]->value->string_value;
	return NULL;
}

static const char *rattr(const RM *rm, const char *key)
{
	return rm->resource ? attr(rm->resource->attributes, rm->resource->n_attributes, key) : NULL;
}

/* The resource with jobmeter.job == job (NULL: the agent's own) and, when
 * pod is given, k8s.pod.name == pod. */
static const RM *find_rm(const Req *r, const char *job, const char *pod)
{
	for (size_t i = 0; i < r->n_resource_metrics; i++) {
		const RM *rm = r->resource_metrics[i];
		const char *j = rattr(rm, "jobmeter.job"), *p = rattr(rm, "k8s.pod.name");
		if (!job ? j != NULL : (!j || strcmp(j, job) != 0))
			continue;
		if (pod && (!p || strcmp(p, pod) != 0))
			continue;
		return rm;
	}
	return NULL;
}

static const Metric *find_metric(const RM *rm, const char *name)
{
	if (!rm || rm->n_scope_metrics != 1)
		return NULL;
	const Jmotlp__V1__ScopeMetrics *sm = rm->scope_metrics[0];
	for (size_t i = 0; i < sm->n_metrics; i++)
		if (strcmp(sm->metrics[i]->name, name) == 0)
			return sm->metrics[i];
	return NULL;
}

/* The number point of a Sum/Gauge whose attribute key == val (key NULL: first). */
static const Jmotlp__V1__NumberDataPoint *num_point(const Metric *m, const char *key,
						    const char *val)
{
	Jmotlp__V1__NumberDataPoint **pts = NULL;
	size_t n = 0;
	if (!m)
		return NULL;
	if (m->data_case == JMOTLP__V1__METRIC__DATA_SUM) {
		pts = m->sum->data_points;
		n = m->sum->n_data_points;
	} else if (m->data_case == JMOTLP__V1__METRIC__DATA_GAUGE) {
		pts = m->gauge->data_points;
		n = m->gauge->n_data_points;
	}
	for (size_t i = 0; i < n; i++) {
		const char *v = key ? attr(pts[i]->attributes, pts[i]->n_attributes, key) : NULL;
		if (!key || (v && strcmp(v, val) == 0))
			return pts[i];
	}
	return NULL;
}

static const Jmotlp__V1__HistogramDataPoint *hist_point(const Metric *m, const char *key,
							const char *val)
{
	if (!m || m->data_case != JMOTLP__V1__METRIC__DATA_HISTOGRAM)
		return NULL;
	for (size_t i = 0; i < m->histogram->n_data_points; i++) {
		Jmotlp__V1__HistogramDataPoint *p = m->histogram->data_points[i];
		const char *v = key ? attr(p->attributes, p->n_attributes, key) : NULL;
		if (!key || (v && strcmp(v, val) == 0))
			return p;
	}
	return NULL;
}

static int64_t ival(const Jmotlp__V1__NumberDataPoint *p)
{
	return p && p->value_case == JMOTLP__V1__NUMBER_DATA_POINT__VALUE_AS_INT ? p->as_int : -1;
}

static double dval(const Jmotlp__V1__NumberDataPoint *p)
{
	return p && p->value_case == JMOTLP__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE ? p->as_double
										    : NAN;
}

/* ---- the batch ---- */

struct fixture {
	struct jm_run_record runs[2];
	struct jm_window_record wins[2];
	struct jm_db_stats db[3];
	struct jm_output_write out;
	struct jm_batch b;
};

static void label(struct jm_run_record *r, const char *k, const char *v)
{
	snprintf(r->labels[r->n_labels].key, sizeof(r->labels[0].key), "%s", k);
	snprintf(r->labels[r->n_labels].value, sizeof(r->labels[0].value), "%s", v);
	r->n_labels++;
}

static void build(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	struct jm_batch *b = &f->b;
	snprintf(b->agent.host, sizeof(b->agent.host), "node-1");
	snprintf(b->agent.agent_id, sizeof(b->agent.agent_id), "agent-abc");
	snprintf(b->agent.version, sizeof(b->agent.version), "1.2.3");
	b->seq = 7;
	b->window_start_ns = T0;
	b->window_end_ns = T0 + 10 * SEC;

	struct jm_run_record *r = &f->runs[0];
	snprintf(r->job, sizeof(r->job), "etl.sales");
	snprintf(r->run_id, sizeof(r->run_id), "r1");
	r->outcome = JM_OUTCOME_SUCCESS;
	r->start_ns = T0 - 5 * SEC;
	r->end_ns = T0 + 8 * SEC;
	label(r, "k8s.namespace", "data");
	label(r, "k8s.pod", "sales-abc");
	label(r, "k8s.container", "main");
	r = &f->runs[1];
	snprintf(r->job, sizeof(r->job), "etl.sales");
	snprintf(r->run_id, sizeof(r->run_id), "r2");
	r->outcome = JM_OUTCOME_FAILURE;
	r->oom_killed = true;
	r->restart = true;
	r->start_ns = T0 - 200 * SEC;
	r->end_ns = T0 + 9 * SEC;
	label(r, "k8s.namespace", "data");
	label(r, "k8s.pod", "sales-def");
	label(r, "systemd.unit", "etl.service");

	struct jm_window_record *w = &f->wins[0];
	snprintf(w->job, sizeof(w->job), "etl.sales");
	snprintf(w->run_id, sizeof(w->run_id), "r1");
	w->start_ns = T0;
	w->end_ns = T0 + 10 * SEC;
	w->counters.cpu_s = 1.5;
	w->counters.file_read_bytes = 1000;
	w->counters.file_write_bytes = 10;
	w->counters.net_rx_bytes = 5;
	w->counters.net_tx_bytes = 6;
	w->counters.peak_rss_bytes = 4096;
	/* Two postgres endpoints (merge into one point) and one mysql. */
	f->db[0].system = JM_DB_POSTGRES;
	snprintf(f->db[0].endpoint, sizeof(f->db[0].endpoint), "127.0.0.1:5432");
	f->db[0].queries = 3;
	f->db[0].rows = 30;
	f->db[0].rows_unknown = 4;
	f->db[0].conns_unreadable = 1;
	f->db[0].latency_s_sum = 0.005;
	jm_hist_add(f->db[0].latency_buckets, 1000000);
	jm_hist_add(f->db[0].latency_buckets, 1000000);
	jm_hist_add(f->db[0].latency_buckets, 3000000);
	f->db[1].system = JM_DB_POSTGRES;
	snprintf(f->db[1].endpoint, sizeof(f->db[1].endpoint), "/run/postgresql/.s.PGSQL.5432");
	f->db[1].queries = 1;
	f->db[1].latency_s_sum = 0.002;
	jm_hist_add(f->db[1].latency_buckets, 2000000);
	f->db[2].system = JM_DB_MYSQL;
	f->db[2].queries = 2;
	f->db[2].errors = 1;
	f->db[2].latency_s_sum = 150.5;
	jm_hist_add(f->db[2].latency_buckets, 150 * 1000000000ULL);    /* overflow */
	jm_hist_add(f->db[2].latency_buckets, 500000000);
	w->n_db = 3;
	w->db = f->db;
	f->out.kind = JM_OUTPUT_TABLE;
	snprintf(f->out.name, sizeof(f->out.name), "public.sales");
	f->out.last_write_ns = T0 + 7 * SEC + 250000000;
	w->n_outputs = 1;
	w->outputs = &f->out;

	w = &f->wins[1];
	snprintf(w->job, sizeof(w->job), "plain\xff");   /* invalid UTF-8 byte */
	snprintf(w->run_id, sizeof(w->run_id), "still-running");
	w->start_ns = T0;
	w->end_ns = T0 + 10 * SEC;
	w->counters.cpu_s = 0.25;

	b->n_runs = 2;
	b->runs = f->runs;
	b->n_windows = 2;
	b->windows = f->wins;
	b->loss.ringbuf_drops = 4;
	b->loss.payload_truncated = 2;
	b->loss.exits_synthesized = 1;
}

/* All checks on a decoded request; agent_start: expected start time of the
 * cumulative points (0 for the pure encoder, else a lower bound). */
static void check_request(const char *pfx, const Req *r, int64_t agent_start)
{
	char n[160];
#define N(s) (snprintf(n, sizeof(n), "%s: %s", pfx, (s)), n)
	CHECK_INT(N("resources: 2 label sets of etl.sales, plain, agent"), r->n_resource_metrics, 4);

	const RM *a = find_rm(r, "etl.sales", "sales-abc");
	CHECK(N("resource of run r1 found"), a != NULL);
	if (!a)
		return;
	CHECK_STR(N("host.name"), rattr(a, "host.name"), "node-1");
	CHECK_STR(N("service.name"), rattr(a, "service.name"), "jobmeter");
	CHECK_STR(N("service.version"), rattr(a, "service.version"), "1.2.3");
	CHECK_STR(N("service.instance.id"), rattr(a, "service.instance.id"), "agent-abc");
	CHECK_STR(N("k8s.namespace.name"), rattr(a, "k8s.namespace.name"), "data");
	CHECK_STR(N("k8s.container.name"), rattr(a, "k8s.container.name"), "main");
	CHECK(N("no systemd.unit on r1"), rattr(a, "systemd.unit") == NULL);
	CHECK_STR(N("scope name"), a->scope_metrics[0]->scope->name, "jobmeter");

	const Metric *m = find_metric(a, "process.cpu.time");
	CHECK(N("cpu: is a Sum"), m && m->data_case == JMOTLP__V1__METRIC__DATA_SUM);
	if (m && m->data_case == JMOTLP__V1__METRIC__DATA_SUM) {
		CHECK_STR(N("cpu: unit s"), m->unit, "s");
		CHECK_INT(N("cpu: delta"), m->sum->aggregation_temporality,
			  JMOTLP__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA);
		CHECK(N("cpu: monotonic"), m->sum->is_monotonic);
		CHECK_INT(N("cpu: one point"), m->sum->n_data_points, 1);
		const Jmotlp__V1__NumberDataPoint *p = num_point(m, NULL, NULL);
		CHECK(N("cpu: 1.5 s"), dval(p) == 1.5);
		CHECK_INT(N("cpu: start = window start"), p ? p->start_time_unix_nano : 0, T0);
		CHECK_INT(N("cpu: time = window end"), p ? p->time_unix_nano : 0, T0 + 10 * SEC);
	}
	CHECK_INT(N("file.read"), ival(num_point(find_metric(a, "jobmeter.job.file.read"), NULL, NULL)), 1000);
	CHECK_STR(N("file.read unit"), find_metric(a, "jobmeter.job.file.read") ?
		  find_metric(a, "jobmeter.job.file.read")->unit : NULL, "By");
	CHECK_INT(N("file.write"), ival(num_point(find_metric(a, "jobmeter.job.file.write"), NULL, NULL)), 10);
	m = find_metric(a, "jobmeter.job.network.io");
	CHECK_INT(N("net receive"), ival(num_point(m, "network.io.direction", "receive")), 5);
	CHECK_INT(N("net transmit"), ival(num_point(m, "network.io.direction", "transmit")), 6);
	m = find_metric(a, "jobmeter.job.memory.peak");
	CHECK(N("memory.peak is a Gauge"), m && m->data_case == JMOTLP__V1__METRIC__DATA_GAUGE);
	CHECK_INT(N("memory.peak"), ival(num_point(m, NULL, NULL)), 4096);

	m = find_metric(a, "db.client.operation.duration");
	CHECK(N("db: Histogram"), m && m->data_case == JMOTLP__V1__METRIC__DATA_HISTOGRAM);
	if (m && m->data_case == JMOTLP__V1__METRIC__DATA_HISTOGRAM) {
		CHECK_STR(N("db: unit s"), m->unit, "s");
		CHECK_INT(N("db: delta"), m->histogram->aggregation_temporality,
			  JMOTLP__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA);
		CHECK_INT(N("db: one point per system"), m->histogram->n_data_points, 2);
		const Jmotlp__V1__HistogramDataPoint *h = hist_point(m, "db.system.name", "postgresql");
		CHECK(N("db: postgresql point"), h != NULL);
		if (h) {
			CHECK_INT(N("db pg: count merges endpoints"), h->count, 4);
			CHECK(N("db pg: sum"), h->sum_present_case ==
			      JMOTLP__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM && fabs(h->sum - 0.007) < 1e-12);
			CHECK_INT(N("db pg: 63 explicit bounds"), h->n_explicit_bounds, JM_HIST_BUCKETS - 1);
			CHECK_INT(N("db pg: 64 bucket counts"), h->n_bucket_counts, JM_HIST_BUCKETS);
			int ok = h->n_explicit_bounds == JM_HIST_BUCKETS - 1;
			for (size_t i = 0; ok && i < h->n_explicit_bounds; i++)
				ok = h->explicit_bounds[i] == jm_hist_bucket_upper_s((int)i);
			CHECK(N("db pg: bounds are the histogram.h bounds"), ok);
			CHECK(N("db pg: bound 0 = 1 us"), h->n_explicit_bounds && h->explicit_bounds[0] == 1e-6);
			CHECK(N("db pg: bound 31 = 10 ms"), h->n_explicit_bounds > 31 && h->explicit_bounds[31] == 0.01);
			CHECK(N("db pg: bound 62 = 100 s"), h->n_explicit_bounds > 62 && h->explicit_bounds[62] == 100);
			if (h->n_bucket_counts == JM_HIST_BUCKETS) {
				CHECK_INT(N("db pg: 1 ms bucket"), h->bucket_counts[jm_hist_bucket(1000000)], 2);
				CHECK_INT(N("db pg: 2 ms bucket"), h->bucket_counts[jm_hist_bucket(2000000)], 1);
				CHECK_INT(N("db pg: 3 ms bucket"), h->bucket_counts[jm_hist_bucket(3000000)], 1);
			}
			CHECK_INT(N("db pg: start"), h->start_time_unix_nano, T0);
		}
		h = hist_point(m, "db.system.name", "mysql");
		CHECK(N("db: mysql point"), h != NULL);
		if (h && h->n_bucket_counts == JM_HIST_BUCKETS) {
			CHECK_INT(N("db mysql: overflow bucket"), h->bucket_counts[JM_HIST_OVERFLOW], 1);
			CHECK_INT(N("db mysql: count"), h->count, 2);
		}
	}
	m = find_metric(a, "jobmeter.job.db.queries");
	CHECK_INT(N("db queries pg"), ival(num_point(m, "db.system.name", "postgresql")), 4);
	CHECK_INT(N("db queries mysql"), ival(num_point(m, "db.system.name", "mysql")), 2);
	m = find_metric(a, "jobmeter.job.db.errors");
	CHECK_INT(N("db errors mysql"), ival(num_point(m, "db.system.name", "mysql")), 1);
	m = find_metric(a, "jobmeter.job.db.rows");
	CHECK_INT(N("db rows pg"), ival(num_point(m, "db.system.name", "postgresql")), 30);
	m = find_metric(a, "jobmeter.job.db.rows_unknown");
	CHECK_INT(N("db rows unknown pg"), ival(num_point(m, "db.system.name", "postgresql")), 4);
	m = find_metric(a, "jobmeter.job.db.connections_unreadable");
	CHECK_INT(N("db connections unreadable pg"), ival(num_point(m, "db.system.name", "postgresql")), 1);
	CHECK_INT(N("db connections unreadable mysql"), ival(num_point(m, "db.system.name", "mysql")), 0);
	m = find_metric(a, "jobmeter.job.output.last_write");
	const Jmotlp__V1__NumberDataPoint *p = num_point(m, "jobmeter.output.name", "public.sales");
	CHECK(N("output last write (Unix s)"), fabs(dval(p) - 1767225607.25) < 1e-6);
	CHECK_STR(N("output kind"), p ? attr(p->attributes, p->n_attributes, "jobmeter.output.kind") : NULL,
		  "table");

	m = find_metric(a, "jobmeter.job.runs");
	p = num_point(m, "outcome", "success");
	CHECK_INT(N("runs: success 1"), ival(p), 1);
	CHECK(N("runs: no failure in r1's resource"), num_point(m, "outcome", "failure") == NULL);
	CHECK_INT(N("runs: batch window start"), p ? p->start_time_unix_nano : 0, T0);
	CHECK_INT(N("runs: batch window end"), p ? p->time_unix_nano : 0, T0 + 10 * SEC);
	CHECK_INT(N("restarts 0"), ival(num_point(find_metric(a, "jobmeter.job.restarts"), NULL, NULL)), 0);
	const Jmotlp__V1__HistogramDataPoint *h =
		hist_point(find_metric(a, "jobmeter.job.run.duration"), NULL, NULL);
	CHECK(N("run duration: 13 s in (10, 30]"), h && h->count == 1 && h->n_bucket_counts == 17 &&
	      h->bucket_counts[3] == 1 && h->explicit_bounds[2] == 10 && h->explicit_bounds[3] == 30);
	CHECK(N("run duration: sum 13"), h && h->sum == 13);

	const RM *b2 = find_rm(r, "etl.sales", "sales-def");
	CHECK(N("resource of run r2 found"), b2 != NULL);
	CHECK_STR(N("r2: systemd.unit"), b2 ? rattr(b2, "systemd.unit") : NULL, "etl.service");
	CHECK_INT(N("r2: runs failure 1"),
		  ival(num_point(find_metric(b2, "jobmeter.job.runs"), "outcome", "failure")), 1);
	CHECK_INT(N("r2: restarts 1"), ival(num_point(find_metric(b2, "jobmeter.job.restarts"), NULL, NULL)), 1);
	CHECK_INT(N("r2: oom kills 1"), ival(num_point(find_metric(b2, "jobmeter.job.oom_kills"), NULL, NULL)), 1);
	CHECK(N("r2: no window metrics"), b2 && !find_metric(b2, "process.cpu.time"));

	const RM *c = find_rm(r, "plain?", NULL);
	CHECK(N("invalid UTF-8 in job name replaced"), c != NULL);
	CHECK(N("plain: no k8s attributes"), c && !rattr(c, "k8s.pod.name") && !rattr(c, "k8s.namespace.name"));
	CHECK(N("plain: cpu 0.25"), dval(num_point(find_metric(c, "process.cpu.time"), NULL, NULL)) == 0.25);
	CHECK(N("plain: no runs metric"), c && !find_metric(c, "jobmeter.job.runs"));
	CHECK(N("plain: no memory.peak when unknown"), c && !find_metric(c, "jobmeter.job.memory.peak"));

	const RM *ag = find_rm(r, NULL, NULL);
	CHECK(N("agent resource"), ag != NULL);
	CHECK_STR(N("agent host.name"), ag ? rattr(ag, "host.name") : NULL, "node-1");
	m = find_metric(ag, "jobmeter.agent.events.lost");
	CHECK(N("loss: cumulative"), m && m->data_case == JMOTLP__V1__METRIC__DATA_SUM &&
	      m->sum->aggregation_temporality ==
	      JMOTLP__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
	p = num_point(m, "reason", "ringbuf_full");
	CHECK_INT(N("loss: ringbuf 4"), ival(p), 4);
	CHECK_INT(N("loss: exits_synthesized 1"), ival(num_point(m, "reason", "exits_synthesized")), 1);
	CHECK_INT(N("loss: map_full 0 present"), ival(num_point(m, "reason", "map_full")), 0);
	if (agent_start == 0)
		CHECK_INT(N("loss: start unknown in pure encode"), p ? p->start_time_unix_nano : 1, 0);
	else
		CHECK(N("loss: start = exporter start"),
		      p && p->start_time_unix_nano >= (uint64_t)agent_start &&
		      p->start_time_unix_nano < (uint64_t)agent_start + 60 * SEC);
	CHECK_INT(N("truncated 2"),
		  ival(num_point(find_metric(ag, "jobmeter.agent.payloads.truncated"), NULL, NULL)), 2);
#undef N
}

static void test_encode(void)
{
	struct fixture f;
	uint8_t *buf = NULL;
	size_t len = 0;

	build(&f);
	CHECK_INT("encode: ok", jm_otlp_encode(&f.b, &buf, &len), 0);
	Req *r = buf ? jmotlp__v1__export_metrics_service_request__unpack(NULL, len, buf) : NULL;
	CHECK("encode: unpacks", r != NULL);
	if (r)
		check_request("encode", r, 0);
	jmotlp__v1__export_metrics_service_request__free_unpacked(r, NULL);
	free(buf);

	/* Nothing happened: only the agent's own resource. */
	struct jm_batch empty;
	memset(&empty, 0, sizeof(empty));
	snprintf(empty.agent.host, sizeof(empty.agent.host), "h");
	buf = NULL;
	CHECK_INT("encode empty: ok", jm_otlp_encode(&empty, &buf, &len), 0);
	r = buf ? jmotlp__v1__export_metrics_service_request__unpack(NULL, len, buf) : NULL;
	CHECK("encode empty: one resource (agent)", r && r->n_resource_metrics == 1 &&
	      !rattr(r->resource_metrics[0], "jobmeter.job"));
	jmotlp__v1__export_metrics_service_request__free_unpacked(r, NULL);
	free(buf);

	/* Unterminated job name array: bounded, no overread. */
	build(&f);
	memset(f.wins[1].job, 'j', sizeof(f.wins[1].job));
	buf = NULL;
	CHECK_INT("encode: unterminated job name ok", jm_otlp_encode(&f.b, &buf, &len), 0);
	r = buf ? jmotlp__v1__export_metrics_service_request__unpack(NULL, len, buf) : NULL;
	int found = 0;
	for (size_t i = 0; r && i < r->n_resource_metrics; i++) {
		const char *j = rattr(r->resource_metrics[i], "jobmeter.job");
		if (j && strspn(j, "j") == JM_JOB_NAME_MAX && strlen(j) == JM_JOB_NAME_MAX)
			found = 1;
	}
	CHECK("encode: unterminated job name kept whole (128 chars)", found);
	jmotlp__v1__export_metrics_service_request__free_unpacked(r, NULL);
	free(buf);

	/* A window of a run still live carries that run's labels: its usage
	 * goes to the pod's resource, not one with only jobmeter.job. */
	{
		struct jm_batch lb;
		struct jm_window_record lw;
		struct jm_label ll[2];

		memset(&lb, 0, sizeof(lb));
		memset(&lw, 0, sizeof(lw));
		memset(ll, 0, sizeof(ll));
		snprintf(lb.agent.host, sizeof(lb.agent.host), "h");
		lb.window_start_ns = T0;
		lb.window_end_ns = T0 + 10 * SEC;
		snprintf(lw.job, sizeof(lw.job), "live.job");
		snprintf(lw.run_id, sizeof(lw.run_id), "r9");
		lw.start_ns = T0;
		lw.end_ns = T0 + 10 * SEC;
		lw.counters.cpu_s = 2.5;
		snprintf(ll[0].key, sizeof(ll[0].key), "k8s.namespace");
		snprintf(ll[0].value, sizeof(ll[0].value), "data");
		snprintf(ll[1].key, sizeof(ll[1].key), "k8s.pod");
		snprintf(ll[1].value, sizeof(ll[1].value), "live-pod");
		lw.n_labels = 2;
		lw.labels = ll;
		lb.n_windows = 1;
		lb.windows = &lw;
		buf = NULL;
		CHECK_INT("encode live run window: ok", jm_otlp_encode(&lb, &buf, &len), 0);
		r = buf ? jmotlp__v1__export_metrics_service_request__unpack(NULL, len, buf) : NULL;
		const RM *rm = r ? find_rm(r, "live.job", "live-pod") : NULL;
		const Metric *m = find_metric(rm, "process.cpu.time");
		const Jmotlp__V1__NumberDataPoint *p = m ? num_point(m, NULL, NULL) : NULL;
		CHECK("encode live run window: its CPU on the pod's resource", p && dval(p) == 2.5);
		CHECK_INT("encode live run window: no unlabelled resource for the job",
			  r && find_rm(r, "live.job", NULL) == rm, 1);
		jmotlp__v1__export_metrics_service_request__free_unpacked(r, NULL);
		free(buf);
	}

	struct jm_batch bad;
	memset(&bad, 0, sizeof(bad));
	bad.n_runs = 1;           /* runs == NULL */
	buf = NULL;
	CHECK("encode: n_runs without runs is an error", jm_otlp_encode(&bad, &buf, &len) != 0 && !buf);
}

/* The field numbers and wire types of proto/otlp_metrics.proto, checked by
 * hand against the official definitions (tag = field << 3 | wire type). */
static void test_wire(void)
{
	uint8_t buf[256];
	size_t n;

	Jmotlp__V1__AnyValue av = JMOTLP__V1__ANY_VALUE__INIT;
	Jmotlp__V1__KeyValue kv = JMOTLP__V1__KEY_VALUE__INIT;
	av.value_case = JMOTLP__V1__ANY_VALUE__VALUE_STRING_VALUE;
	av.string_value = (char *)"b";
	kv.key = (char *)"a";
	kv.value = &av;
	n = jmotlp__v1__key_value__pack(&kv, buf);
	static const uint8_t kv_want[] = { 0x0a, 1, 'a', 0x12, 3, 0x0a, 1, 'b' };
	CHECK("wire: KeyValue{key=1, value=2{string_value=1}}", n == sizeof(kv_want) &&
	      memcmp(buf, kv_want, n) == 0);

	Jmotlp__V1__HistogramDataPoint h = JMOTLP__V1__HISTOGRAM_DATA_POINT__INIT;
	KV *attrs[1] = { &kv };
	uint64_t counts[2] = { 1, 2 };
	double bounds[1] = { 0.5 };
	h.n_attributes = 1;
	h.attributes = attrs;
	h.start_time_unix_nano = 1;
	h.time_unix_nano = 2;
	h.count = 3;
	h.sum_present_case = JMOTLP__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM;
	h.sum = 0;       /* optional: a zero sum is still sent */
	h.n_bucket_counts = 2;
	h.bucket_counts = counts;
	h.n_explicit_bounds = 1;
	h.explicit_bounds = bounds;
	n = jmotlp__v1__histogram_data_point__pack(&h, buf);
	/* protobuf-c writes fields in number order. */
	uint8_t want[128];
	size_t k = 0;
	want[k++] = 0x11; memset(want + k, 0, 8); want[k] = 1; k += 8;       /* 2 fixed64 */
	want[k++] = 0x19; memset(want + k, 0, 8); want[k] = 2; k += 8;       /* 3 fixed64 */
	want[k++] = 0x21; memset(want + k, 0, 8); want[k] = 3; k += 8;       /* 4 fixed64 */
	want[k++] = 0x29; memset(want + k, 0, 8); k += 8;                    /* 5 double 0 */
	want[k++] = 0x32; want[k++] = 16;                                    /* 6 packed fixed64 */
	memset(want + k, 0, 16); want[k] = 1; want[k + 8] = 2; k += 16;
	want[k++] = 0x3a; want[k++] = 8;                                     /* 7 packed double */
	memcpy(want + k, bounds, 8); k += 8;                                 /* little endian host */
	want[k++] = 0x4a; want[k++] = 8; memcpy(want + k, kv_want, 8); k += 8;  /* 9 attributes */
	CHECK("wire: HistogramDataPoint tags 2,3,4 fixed64; 5 double; 6,7 packed; 9 attributes",
	      n == k && memcmp(buf, want, k) == 0);

	Jmotlp__V1__NumberDataPoint p = JMOTLP__V1__NUMBER_DATA_POINT__INIT;
	p.value_case = JMOTLP__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
	p.as_int = 5;
	n = jmotlp__v1__number_data_point__pack(&p, buf);
	CHECK("wire: NumberDataPoint as_int = 6 sfixed64", n == 9 && buf[0] == 0x31 && buf[1] == 5);
	p.value_case = JMOTLP__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
	p.as_double = 0;
	n = jmotlp__v1__number_data_point__pack(&p, buf);
	CHECK("wire: NumberDataPoint as_double = 4 double", n == 9 && buf[0] == 0x21);

	Jmotlp__V1__Sum s = JMOTLP__V1__SUM__INIT;
	Jmotlp__V1__Metric m = JMOTLP__V1__METRIC__INIT;
	s.aggregation_temporality = JMOTLP__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA;
	s.is_monotonic = 1;
	m.name = (char *)"x";
	m.data_case = JMOTLP__V1__METRIC__DATA_SUM;
	m.sum = &s;
	n = jmotlp__v1__metric__pack(&m, buf);
	static const uint8_t m_want[] = { 0x0a, 1, 'x', 0x3a, 4, 0x10, 1, 0x18, 1 };
	CHECK("wire: Metric name=1, sum=7{temporality=2, monotonic=3}",
	      n == sizeof(m_want) && memcmp(buf, m_want, n) == 0);
	Jmotlp__V1__Gauge g = JMOTLP__V1__GAUGE__INIT;
	m.data_case = JMOTLP__V1__METRIC__DATA_GAUGE;
	m.gauge = &g;
	n = jmotlp__v1__metric__pack(&m, buf);
	CHECK("wire: Metric gauge = 5", n == 5 && buf[3] == 0x2a);
	Jmotlp__V1__Histogram hh = JMOTLP__V1__HISTOGRAM__INIT;
	m.data_case = JMOTLP__V1__METRIC__DATA_HISTOGRAM;
	m.histogram = &hh;
	n = jmotlp__v1__metric__pack(&m, buf);
	CHECK("wire: Metric histogram = 9", n == 5 && buf[3] == 0x4a);

	Jmotlp__V1__ScopeMetrics sm = JMOTLP__V1__SCOPE_METRICS__INIT;
	Jmotlp__V1__Metric *ms[1] = { &m };
	Jmotlp__V1__ResourceMetrics rm = JMOTLP__V1__RESOURCE_METRICS__INIT;
	Jmotlp__V1__ScopeMetrics *sms[1] = { &sm };
	Jmotlp__V1__Resource res = JMOTLP__V1__RESOURCE__INIT;
	Req req = JMOTLP__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
	RM *rms[1] = { &rm };
	m.data_case = JMOTLP__V1__METRIC__DATA__NOT_SET;
	sm.n_metrics = 1;
	sm.metrics = ms;
	rm.resource = &res;
	rm.n_scope_metrics = 1;
	rm.scope_metrics = sms;
	req.n_resource_metrics = 1;
	req.resource_metrics = rms;
	n = jmotlp__v1__export_metrics_service_request__pack(&req, buf);
	/* req{1: rm{1: resource{}, 2: sm{2: metric{1: "x"}}}} */
	static const uint8_t r_want[] = { 0x0a, 9, 0x0a, 0, 0x12, 5, 0x12, 3, 0x0a, 1, 'x' };
	CHECK("wire: Request 1 -> ResourceMetrics{resource 1, scope_metrics 2{metrics 2}}",
	      n == sizeof(r_want) && memcmp(buf, r_want, n) == 0);
}

/* ---- in-process receiver ---- */

struct rx {
	unsigned status;          /* what to answer */
	unsigned delay_s;         /* sleep before answering */
	const uint8_t *reply;     /* optional body */
	size_t reply_len;
	int requests;
	char method[16], path[64], ctype[64], cenc[32];
	uint8_t body[1 << 20];
	size_t len;
	int truncated;
};

static enum MHD_Result rx_handle(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version, const char *data,
				 size_t *size, void **state)
{
	struct rx *rx = cls;
	(void)version;
	if (!*state) {                    /* headers only so far */
		*state = rx;
		rx->len = 0;
		rx->truncated = 0;
		return MHD_YES;
	}
	if (*size) {
		size_t room = sizeof(rx->body) - rx->len, k = *size < room ? *size : room;
		memcpy(rx->body + rx->len, data, k);
		rx->len += k;
		rx->truncated |= k < *size;
		*size = 0;
		return MHD_YES;
	}
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	const char *ce = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
	snprintf(rx->method, sizeof(rx->method), "%s", method);
	snprintf(rx->path, sizeof(rx->path), "%s", url);
	snprintf(rx->ctype, sizeof(rx->ctype), "%s", ct ? ct : "");
	snprintf(rx->cenc, sizeof(rx->cenc), "%s", ce ? ce : "");
	rx->requests++;
	if (rx->delay_s)
		sleep(rx->delay_s);
	struct MHD_Response *rsp = MHD_create_response_from_buffer(
		rx->reply_len, (void *)rx->reply, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret = MHD_queue_response(c, rx->status, rsp);
	MHD_destroy_response(rsp);
	return ret;
}

static int gunzip(const uint8_t *in, size_t n, uint8_t **out, size_t *outlen)
{
	z_stream zs;
	size_t cap = 1 << 22;
	uint8_t *buf = malloc(cap);
	int rc;
	memset(&zs, 0, sizeof(zs));
	if (!buf || inflateInit2(&zs, 15 + 16) != Z_OK) {
		free(buf);
		return -1;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = buf;
	zs.avail_out = (uInt)cap;
	rc = inflate(&zs, Z_FINISH);
	*outlen = zs.total_out;
	inflateEnd(&zs);
	if (rc != Z_STREAM_END) {
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_export(void)
{
	static struct rx rx;
	struct MHD_Daemon *d;
	struct jm_otlp *o = NULL;
	struct fixture f;
	char url[128];

	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, rx_handle, &rx,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&(struct sockaddr_in){
				     .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) },
			     MHD_OPTION_END);
	if (!d) {
		CHECK("export: receiver starts", 0);
		return;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	unsigned port = info ? info->port : 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/metrics", port);

	CHECK("open: ftp URL refused", jm_otlp_open(&o, "ftp://127.0.0.1/x", 2) != 0 && !o);
	CHECK("open: garbage refused", jm_otlp_open(&o, "not a url", 2) != 0 && !o);
	CHECK("open: empty refused", jm_otlp_open(&o, "", 2) != 0 && !o);
	int64_t opened = now_ns();
	if (jm_otlp_open(&o, url, 2)) {
		CHECK("open: http URL", 0);
		MHD_stop_daemon(d);
		return;
	}
	build(&f);
	rx.status = 200;
	CHECK_INT("export: 200 -> 0", jm_otlp_export(o, &f.b), 0);
	CHECK_INT("export: one request", rx.requests, 1);
	CHECK_STR("export: POST", rx.method, "POST");
	CHECK_STR("export: path", rx.path, "/v1/metrics");
	CHECK_STR("export: content type", rx.ctype, "application/x-protobuf");
	CHECK_STR("export: content encoding", rx.cenc, "gzip");
	uint8_t *pb = NULL;
	size_t pb_len = 0;
	CHECK("export: body is gzip", !rx.truncated && gunzip(rx.body, rx.len, &pb, &pb_len) == 0);
	Req *r = pb ? jmotlp__v1__export_metrics_service_request__unpack(NULL, pb_len, pb) : NULL;
	CHECK("export: body unpacks", r != NULL);
	if (r)
		check_request("export", r, opened);
	jmotlp__v1__export_metrics_service_request__free_unpacked(r, NULL);
	free(pb);

	/* A second export reuses the handle. */
	CHECK_INT("export: again", jm_otlp_export(o, &f.b), 0);
	CHECK_INT("export: two requests", rx.requests, 2);

	/* 2xx with partial success is still delivered (a warning is logged). */
	Jmotlp__V1__ExportMetricsPartialSuccess ps = JMOTLP__V1__EXPORT_METRICS_PARTIAL_SUCCESS__INIT;
	Jmotlp__V1__ExportMetricsServiceResponse resp = JMOTLP__V1__EXPORT_METRICS_SERVICE_RESPONSE__INIT;
	uint8_t rbuf[128];
	ps.rejected_data_points = 3;
	ps.error_message = (char *)"bad\npoints";
	resp.partial_success = &ps;
	rx.reply_len = jmotlp__v1__export_metrics_service_response__pack(&resp, rbuf);
	rx.reply = rbuf;
	CHECK_INT("export: partial success is 0", jm_otlp_export(o, &f.b), 0);
	rx.reply = NULL;
	rx.reply_len = 0;

	rx.status = 500;
	CHECK("export: 500 is an error", jm_otlp_export(o, &f.b) != 0);
	rx.status = 400;
	CHECK("export: 400 is an error", jm_otlp_export(o, &f.b) != 0);
	rx.status = 200;
	CHECK_INT("export: recovers", jm_otlp_export(o, &f.b), 0);

	/* Timeout: the receiver answers after 4 s, the exporter gives up at 2 s. */
	rx.delay_s = 4;
	double t0 = mono_s();
	CHECK("export: slow receiver is an error", jm_otlp_export(o, &f.b) != 0);
	double took = mono_s() - t0;
	CHECK("export: bounded by the timeout", took < 3.5);
	jm_otlp_close(o);
	MHD_stop_daemon(d);

	/* Nobody listening: three attempts, then batches are dropped without
	 * an attempt while backing off, so the agent's loop is not stalled. */
	o = NULL;
	if (jm_otlp_open(&o, url, 2) == 0) {
		int e1 = jm_otlp_export(o, &f.b), e2 = jm_otlp_export(o, &f.b);
		int e3 = jm_otlp_export(o, &f.b), e4 = jm_otlp_export(o, &f.b);
		CHECK("export: connection refused is an error", e1 != 0 && e1 != -EAGAIN);
		CHECK("export: attempts until the third failure", e2 != -EAGAIN && e3 != -EAGAIN && e2 && e3);
		CHECK_INT("export: then backs off without a request", e4, -EAGAIN);
		jm_otlp_close(o);
	}
}

int main(void)
{
	/* Line-buffered: the modules log to stderr into the same file, and a
	 * block-buffered PASS line could be split by a log line. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_wire();
	test_encode();
	test_export();
	TEST_EXIT();
}
