/* Prometheus metrics: see metrics.h. */
#include "tools/collector/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double bucket_le[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define N_LE (sizeof(bucket_le) / sizeof(bucket_le[0]))

static const char *const reject_names[JM_REJ_COUNT] = {
	[JM_REJ_UNAUTHORIZED] = "unauthorized",
	[JM_REJ_MEDIA_TYPE] = "unsupported_media_type",
	[JM_REJ_ENCODING] = "unsupported_encoding",
	[JM_REJ_BODY_TOO_LARGE] = "body_too_large",
	[JM_REJ_DECOMPRESSED_TOO_LARGE] = "decompressed_too_large",
	[JM_REJ_INVALID_GZIP] = "invalid_gzip",
	[JM_REJ_INVALID_PROTOBUF] = "invalid_protobuf",
	[JM_REJ_INVALID_BATCH] = "invalid_batch",
	[JM_REJ_OVERLOADED] = "overloaded",
	[JM_REJ_STORAGE] = "storage_unavailable",
	[JM_REJ_INTERNAL] = "internal_error",
	[JM_REJ_NOT_FOUND] = "not_found",
	[JM_REJ_METHOD] = "method_not_allowed",
	[JM_REJ_SEQ_CONFLICT] = "seq_conflict",
	[JM_REJ_CLOCK_AHEAD] = "clock_ahead",
	[JM_REJ_INVALID_FRAMING] = "invalid_framing",
};

static const char *const handler_names[JM_H_COUNT] = {
	[JM_H_INGEST] = "ingest", [JM_H_HEALTHZ] = "healthz",
	[JM_H_METRICS] = "metrics", [JM_H_OTHER] = "other",
};

struct agent_series {
	char *id;               /* NULL = free slot */
	double last_batch_s;
	uint64_t seq_gaps;
};

struct hist {
	uint64_t le[N_LE];      /* non-cumulative; cumulated when rendered */
	uint64_t count;
	double sum;
};

struct jm_coll_metrics {
	pthread_mutex_t lock;
	uint64_t stored, duplicates, runs, windows, wire_bytes, decoded_bytes;
	uint64_t untracked;
	uint64_t commits, commit_failures, commit_batches;
	uint64_t http_errors;
	struct hist commit_lat;
	int64_t in_flight;
	uint64_t rejected[JM_REJ_COUNT];
	struct hist lat[JM_H_COUNT];
	size_t n_agents;
	struct agent_series agents[JM_COLL_METRICS_AGENTS_MAX * 2];   /* open addressing, <= 50 % full */
};

#define N_SLOTS (JM_COLL_METRICS_AGENTS_MAX * 2)

const char *jm_coll_reject_name(enum jm_coll_reject r)
{
	return (unsigned)r < JM_REJ_COUNT ? reject_names[r] : "unknown";
}

struct jm_coll_metrics *jm_coll_metrics_new(void)
{
	struct jm_coll_metrics *m = calloc(1, sizeof(*m));

	if (m && pthread_mutex_init(&m->lock, NULL)) {
		free(m);
		return NULL;
	}
	return m;
}

void jm_coll_metrics_free(struct jm_coll_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < N_SLOTS; i++)
		free(m->agents[i].id);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Find or insert; NULL when the table is at its cap (caller counts it). */
static struct agent_series *agent_slot(struct jm_coll_metrics *m, const char *id)
{
	size_t i = (size_t)(hash_str(id) % N_SLOTS);

	for (size_t probe = 0; probe < N_SLOTS; probe++, i = (i + 1) % N_SLOTS) {
		struct agent_series *a = &m->agents[i];

		if (a->id && strcmp(a->id, id) == 0)
			return a;
		if (!a->id) {
			if (m->n_agents >= JM_COLL_METRICS_AGENTS_MAX)
				return NULL;
			a->id = strdup(id);
			if (!a->id)
				return NULL;
			m->n_agents++;
			return a;
		}
	}
	return NULL;
}

void jm_coll_metrics_stored(struct jm_coll_metrics *m, const char *agent_id, uint64_t seq_gap,
			    size_t runs, size_t windows, size_t decoded_bytes, double now_unix_s)
{
	struct agent_series *a;

	pthread_mutex_lock(&m->lock);
	m->stored++;
	m->runs += runs;
	m->windows += windows;
	m->decoded_bytes += decoded_bytes;
	a = agent_slot(m, agent_id);
	if (a) {
		a->last_batch_s = now_unix_s;
		a->seq_gaps += seq_gap;
	} else {
		m->untracked++;
	}
	pthread_mutex_unlock(&m->lock);
}

void jm_coll_metrics_duplicate(struct jm_coll_metrics *m, const char *agent_id, double now_unix_s)
{
	struct agent_series *a;

	pthread_mutex_lock(&m->lock);
	m->duplicates++;
	/* A replay still proves the agent is alive. */
	a = agent_slot(m, agent_id);
	if (a)
		a->last_batch_s = now_unix_s;
	else
		m->untracked++;
	pthread_mutex_unlock(&m->lock);
}

void jm_coll_metrics_received(struct jm_coll_metrics *m, size_t wire_bytes)
{
	pthread_mutex_lock(&m->lock);
	m->wire_bytes += wire_bytes;
	pthread_mutex_unlock(&m->lock);
}

void jm_coll_metrics_reject(struct jm_coll_metrics *m, enum jm_coll_reject r)
{
	if ((unsigned)r >= JM_REJ_COUNT)
		return;
	pthread_mutex_lock(&m->lock);
	m->rejected[r]++;
	pthread_mutex_unlock(&m->lock);
}

static void hist_add(struct hist *x, double seconds)
{
	for (size_t i = 0; i < N_LE; i++) {
		if (seconds <= bucket_le[i]) {
			x->le[i]++;
			break;
		}
	}
	x->count++;
	x->sum += seconds;
}

void jm_coll_metrics_observe(struct jm_coll_metrics *m, enum jm_coll_handler h, double seconds)
{
	if ((unsigned)h >= JM_H_COUNT)
		return;
	pthread_mutex_lock(&m->lock);
	hist_add(&m->lat[h], seconds);
	pthread_mutex_unlock(&m->lock);
}

void jm_coll_metrics_commit(struct jm_coll_metrics *m, int committed, size_t batches, double seconds)
{
	pthread_mutex_lock(&m->lock);
	if (committed) {
		m->commits++;
		m->commit_batches += batches;
	} else {
		m->commit_failures++;
	}
	hist_add(&m->commit_lat, seconds);
	pthread_mutex_unlock(&m->lock);
}

void jm_coll_metrics_http_error(struct jm_coll_metrics *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->http_errors++;
	pthread_mutex_unlock(&m->lock);
}

void jm_coll_metrics_in_flight(struct jm_coll_metrics *m, int delta)
{
	pthread_mutex_lock(&m->lock);
	m->in_flight += delta;
	pthread_mutex_unlock(&m->lock);
}

/* ---- rendering ------------------------------------------------------- */

struct out {
	char *p;
	size_t len, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3))) outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? o->cap - o->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = true;
			return;
		}
		if (o->p && (size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap ? o->cap * 2 : 8192;
		while (cap < o->len + (size_t)n + 1)
			cap *= 2;
		char *np = realloc(o->p, cap);
		if (!np) {
			o->oom = true;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
}

/* Label values: backslash, double quote and newline are escaped.  Agent ids
 * are validated UTF-8 of bounded length; nothing else needs care. */
static void out_label(struct out *o, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			outf(o, "\\%c", *v);
		else if (*v == '\n')
			outf(o, "\\n");
		else
			outf(o, "%c", *v);
	}
}

static void counter(struct out *o, const char *name, const char *help, uint64_t v)
{
	outf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
	     (unsigned long long)v);
}

int jm_coll_metrics_render(struct jm_coll_metrics *m, char **out_p, size_t *out_len)
{
	struct out o = { 0 };

	pthread_mutex_lock(&m->lock);
	counter(&o, "jobmeter_collector_batches_stored_total", "Batches committed to the database.", m->stored);
	counter(&o, "jobmeter_collector_batches_duplicate_total",
		"Batches already stored (agent_id, boot_id, seq), answered without writing.", m->duplicates);
	counter(&o, "jobmeter_collector_runs_stored_total", "Job runs stored.", m->runs);
	counter(&o, "jobmeter_collector_windows_stored_total", "Job windows stored.", m->windows);
	counter(&o, "jobmeter_collector_received_bytes_total",
		"Request body bytes received on the ingest endpoint (as sent, possibly gzip).", m->wire_bytes);
	counter(&o, "jobmeter_collector_decoded_bytes_total",
		"Protobuf bytes of stored batches after decompression.", m->decoded_bytes);
	counter(&o, "jobmeter_collector_agents_untracked_total",
		"Batches from agents beyond the per-agent series cap.", m->untracked);
	counter(&o, "jobmeter_collector_commits_total",
		"Group transactions committed (each holds one or more batches).", m->commits);
	counter(&o, "jobmeter_collector_commit_failures_total",
		"Group transactions that failed (their batches were answered 503 or 500).", m->commit_failures);
	counter(&o, "jobmeter_collector_committed_batches_total",
		"Batches handled by committed group transactions (stored, duplicate or failed alone).",
		m->commit_batches);
	counter(&o, "jobmeter_collector_http_errors_total",
		"Requests and connections the HTTP layer refused or lost before the collector saw a"
		" request: malformed or oversized headers, the connection limit, clients gone"
		" mid-request, failed TLS handshakes.", m->http_errors);

	outf(&o, "# HELP jobmeter_collector_rejected_requests_total Requests refused, by reason.\n"
		 "# TYPE jobmeter_collector_rejected_requests_total counter\n");
	for (int r = 0; r < JM_REJ_COUNT; r++)
		outf(&o, "jobmeter_collector_rejected_requests_total{reason=\"%s\"} %llu\n",
		     reject_names[r], (unsigned long long)m->rejected[r]);

	outf(&o, "# HELP jobmeter_collector_ingest_in_flight Ingest requests being processed.\n"
		 "# TYPE jobmeter_collector_ingest_in_flight gauge\n"
		 "jobmeter_collector_ingest_in_flight %lld\n", (long long)m->in_flight);

	outf(&o, "# HELP jobmeter_collector_request_duration_seconds Time from request headers to response.\n"
		 "# TYPE jobmeter_collector_request_duration_seconds histogram\n");
	for (int h = 0; h < JM_H_COUNT; h++) {
		uint64_t cum = 0;

		for (size_t i = 0; i < N_LE; i++) {
			cum += m->lat[h].le[i];
			outf(&o, "jobmeter_collector_request_duration_seconds_bucket{handler=\"%s\",le=\"%g\"} %llu\n",
			     handler_names[h], bucket_le[i], (unsigned long long)cum);
		}
		outf(&o, "jobmeter_collector_request_duration_seconds_bucket{handler=\"%s\",le=\"+Inf\"} %llu\n"
			 "jobmeter_collector_request_duration_seconds_sum{handler=\"%s\"} %.9g\n"
			 "jobmeter_collector_request_duration_seconds_count{handler=\"%s\"} %llu\n",
		     handler_names[h], (unsigned long long)m->lat[h].count, handler_names[h],
		     m->lat[h].sum, handler_names[h], (unsigned long long)m->lat[h].count);
	}

	{
		uint64_t cum = 0;

		outf(&o, "# HELP jobmeter_collector_commit_duration_seconds Time to write one group of batches and commit it (fsync included).\n"
			 "# TYPE jobmeter_collector_commit_duration_seconds histogram\n");
		for (size_t i = 0; i < N_LE; i++) {
			cum += m->commit_lat.le[i];
			outf(&o, "jobmeter_collector_commit_duration_seconds_bucket{le=\"%g\"} %llu\n",
			     bucket_le[i], (unsigned long long)cum);
		}
		outf(&o, "jobmeter_collector_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
			 "jobmeter_collector_commit_duration_seconds_sum %.9g\n"
			 "jobmeter_collector_commit_duration_seconds_count %llu\n",
		     (unsigned long long)m->commit_lat.count, m->commit_lat.sum,
		     (unsigned long long)m->commit_lat.count);
	}

	outf(&o, "# HELP jobmeter_collector_agent_last_batch_timestamp_seconds Unix time of the last batch received from the agent.\n"
		 "# TYPE jobmeter_collector_agent_last_batch_timestamp_seconds gauge\n");
	for (size_t i = 0; i < N_SLOTS; i++) {
		if (!m->agents[i].id)
			continue;
		outf(&o, "jobmeter_collector_agent_last_batch_timestamp_seconds{agent_id=\"");
		out_label(&o, m->agents[i].id);
		outf(&o, "\"} %.3f\n", m->agents[i].last_batch_s);
	}
	outf(&o, "# HELP jobmeter_collector_agent_seq_gaps_total Batch sequence numbers skipped by the agent (batches never received).\n"
		 "# TYPE jobmeter_collector_agent_seq_gaps_total counter\n");
	for (size_t i = 0; i < N_SLOTS; i++) {
		if (!m->agents[i].id)
			continue;
		outf(&o, "jobmeter_collector_agent_seq_gaps_total{agent_id=\"");
		out_label(&o, m->agents[i].id);
		outf(&o, "\"} %llu\n", (unsigned long long)m->agents[i].seq_gaps);
	}
	pthread_mutex_unlock(&m->lock);
	if (o.oom) {
		free(o.p);
		return -1;
	}
	*out_p = o.p;
	*out_len = o.len;
	return 0;
}
