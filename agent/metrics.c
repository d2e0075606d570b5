/* Prometheus registry and /metrics endpoint.  See metrics.h for the contract.
 *
 * Families (text format 0.0.4; every rendered family has # HELP and # TYPE):
 *   jobmeter_build_info{version}                                 gauge
 *   jobmeter_job_runs_total{job,outcome}                         counter
 *   jobmeter_job_restarts_total{job}                             counter
 *   jobmeter_job_oom_kills_total{job}                            counter
 *   jobmeter_job_run_duration_seconds{job}                       histogram
 *   jobmeter_job_last_run_timestamp_seconds{job}                 gauge
 *   jobmeter_job_last_success_timestamp_seconds{job}             gauge
 *   jobmeter_job_last_run_peak_memory_bytes{job}                 gauge
 *   jobmeter_job_cpu_seconds_total{job}                          counter
 *   jobmeter_job_memory_byte_seconds_total{job}                  counter
 *   jobmeter_job_file_read_bytes_total{job}                      counter
 *   jobmeter_job_file_write_bytes_total{job}                     counter
 *   jobmeter_job_network_receive_bytes_total{job}                counter
 *   jobmeter_job_network_transmit_bytes_total{job}               counter
 *   jobmeter_job_db_queries_total{job,system}                    counter
 *   jobmeter_job_db_errors_total{job,system}                     counter
 *   jobmeter_job_db_rows_total{job,system}                       counter
 *   jobmeter_job_db_query_duration_seconds{job,system}           histogram
 *   jobmeter_job_output_last_write_timestamp_seconds{job,kind,name} gauge
 *   jobmeter_events_lost_total{reason}                           counter
 *   jobmeter_payloads_truncated_total                            counter
 *   jobmeter_metrics_jobs                                        gauge
 *   jobmeter_metrics_jobs_dropped_total                          counter
 *   jobmeter_metrics_outputs_dropped_total                       counter
 *   jobmeter_thread_filter_misses_total                          counter
 *   jobmeter_thread_filter_fill_ratio                            gauge
 *
 * Resource counters (CPU, bytes, DB) come from windows only: a run's totals
 * are exactly the sum of its windows, so adding runs too would double count.
 * Run counts, restarts, OOM kills, durations and last-run times come from
 * finished runs.  Counters that alerts divide or take increase() of
 * (runs by outcome, loss reasons) are rendered even while zero, because a
 * series that appears with its first increment hides that increment from
 * rate()/increase(). */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bpf/process.h"
#include "buf.h"
#include "histogram.h"
#include "log.h"
#include "ship.h"
#include "sli.h"
#include "utf8.h"

#ifndef JOBMETER_VERSION
#define JOBMETER_VERSION "unknown"
#endif

/* Outputs per job: configured tables and file globs are few; the cap only
 * guards against a pathological config. */
#define MX_MAX_OUTPUTS      64
/* HTTP limits: Prometheus keeps one connection per target; a handful of
 * humans with curl on top.  Idle connections are closed after the timeout. */
#define MX_HTTP_MAX_CONNS   16
#define MX_HTTP_PER_IP      8
#define MX_HTTP_TIMEOUT_S   15

struct mx_output {
	enum jm_output_kind kind;
	char    name[sizeof(((struct jm_output_write *)0)->name)];
	int64_t last_write_ns;
};

#define MX_N_SYSTEMS 3   /* enum jm_db_system: none/unknown, postgres, mysql */

struct mx_job {
	char     name[JM_JOB_NAME_MAX];
	struct jm_sli_runs runs;
	int64_t  last_run_ns, last_success_ns;   /* 0 = none yet */
	uint64_t last_peak_rss;
	bool     has_run;
	double   cpu_s, mem_byte_s;
	uint64_t file_read, file_write, net_rx, net_tx;
	struct jm_sli_db *db[MX_N_SYSTEMS];      /* NULL until the system is seen */
	size_t   n_outputs, cap_outputs;
	struct mx_output *outputs;
};

struct jm_metrics {
	pthread_mutex_t lock;        /* guards everything below but httpd */
	unsigned max_jobs;
	size_t n_jobs, cap_jobs;
	struct mx_job **jobs;        /* insertion order = render order */
	size_t idx_cap;              /* power of two, > 2 * n_jobs */
	uint32_t *idx;               /* open addressing; 0 = empty, else job index + 1 */
	uint64_t jobs_dropped;
	uint64_t outputs_dropped;
	struct jm_loss loss;
	uint64_t tf_misses, tf_bits;
	bool has_ship;               /* a shipper reports: render its families */
	struct jm_ship_stats ship;
	bool healthy;
	struct MHD_Daemon *httpd;
};

/* ---- job table ------------------------------------------------------ */

static uint64_t mx_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;    /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static int mx_idx_rebuild(struct jm_metrics *m, size_t cap)
{
	uint32_t *idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_jobs; i++) {
		size_t p = mx_hash(m->jobs[i]->name) & (cap - 1);
		while (idx[p])
			p = (p + 1) & (cap - 1);
		idx[p] = (uint32_t)(i + 1);
	}
	free(m->idx);
	m->idx = idx;
	m->idx_cap = cap;
	return 0;
}

/* The job named `name`, created when absent and under the cap; NULL (and
 * the record counted as dropped) otherwise.  Called with the lock held. */
static struct mx_job *mx_job(struct jm_metrics *m, const char *name)
{
	char key[JM_JOB_NAME_MAX];
	snprintf(key, sizeof(key), "%s", name);     /* the record's array may lack a NUL */

	size_t p = 0;
	if (m->idx_cap) {
		p = mx_hash(key) & (m->idx_cap - 1);
		while (m->idx[p]) {
			struct mx_job *j = m->jobs[m->idx[p] - 1];
			if (strcmp(j->name, key) == 0)
				return j;
			p = (p + 1) & (m->idx_cap - 1);
		}
	}
	if (m->n_jobs >= m->max_jobs || m->n_jobs >= UINT32_MAX - 1)
		goto drop;
	if (m->n_jobs == m->cap_jobs) {
		size_t nc = m->cap_jobs ? m->cap_jobs * 2 : 16;
		struct mx_job **nj = realloc(m->jobs, nc * sizeof(*nj));
		if (!nj)
			goto drop;
		m->jobs = nj;
		m->cap_jobs = nc;
	}
	/* Keep the load factor under 1/2 so probes stay short. */
	if ((m->n_jobs + 1) * 2 > m->idx_cap) {
		if (mx_idx_rebuild(m, m->idx_cap ? m->idx_cap * 2 : 64))
			goto drop;
		p = mx_hash(key) & (m->idx_cap - 1);
		while (m->idx[p])
			p = (p + 1) & (m->idx_cap - 1);
	}
	struct mx_job *j = calloc(1, sizeof(*j));
	if (!j)
		goto drop;
	memcpy(j->name, key, sizeof(j->name));
	m->jobs[m->n_jobs] = j;
	m->idx[p] = (uint32_t)(++m->n_jobs);
	return j;
drop:
	m->jobs_dropped++;
	return NULL;
}

static void mx_job_free(struct mx_job *j)
{
	if (!j)
		return;
	for (int s = 0; s < MX_N_SYSTEMS; s++)
		free(j->db[s]);
	free(j->outputs);
	free(j);
}

/* ---- observation ---------------------------------------------------- */

static void mx_output(struct jm_metrics *m, struct mx_job *j, const struct jm_output_write *o)
{
	char name[sizeof(o->name)];
	if (o->last_write_ns <= 0)
		return;                             /* never written: no timestamp to show */
	snprintf(name, sizeof(name), "%s", o->name);
	for (size_t i = 0; i < j->n_outputs; i++) {
		struct mx_output *x = &j->outputs[i];
		if (x->kind == o->kind && strcmp(x->name, name) == 0) {
			if (o->last_write_ns > x->last_write_ns)
				x->last_write_ns = o->last_write_ns;
			return;
		}
	}
	if (j->n_outputs >= MX_MAX_OUTPUTS) {
		m->outputs_dropped++;
		return;
	}
	if (j->n_outputs == j->cap_outputs) {
		size_t nc = j->cap_outputs ? j->cap_outputs * 2 : 4;
		struct mx_output *no = realloc(j->outputs, nc * sizeof(*no));
		if (!no) {
			m->outputs_dropped++;
			return;
		}
		j->outputs = no;
		j->cap_outputs = nc;
	}
	struct mx_output *x = &j->outputs[j->n_outputs++];
	x->kind = o->kind;
	memcpy(x->name, name, sizeof(x->name));
	x->last_write_ns = o->last_write_ns;
}

void jm_metrics_observe_run(struct jm_metrics *m, const struct jm_run_record *r)
{
	if (!m || !r)
		return;
	pthread_mutex_lock(&m->lock);
	struct mx_job *j = mx_job(m, r->job);
	if (!j)
		goto out;
	jm_sli_runs_add(&j->runs, r);
	if (r->end_ns > j->last_run_ns)
		j->last_run_ns = r->end_ns;
	if (r->outcome == JM_OUTCOME_SUCCESS && r->end_ns > j->last_success_ns)
		j->last_success_ns = r->end_ns;
	j->last_peak_rss = r->counters.peak_rss_bytes;
	j->has_run = true;
	for (size_t i = 0; i < r->n_outputs && r->outputs; i++)
		mx_output(m, j, &r->outputs[i]);
out:
	pthread_mutex_unlock(&m->lock);
}

void jm_metrics_observe_window(struct jm_metrics *m, const struct jm_window_record *w)
{
	if (!m || !w)
		return;
	pthread_mutex_lock(&m->lock);
	struct mx_job *j = mx_job(m, w->job);
	if (!j)
		goto out;
	const struct jm_counters *c = &w->counters;
	j->cpu_s += jm_sli_pos(c->cpu_s);
	j->mem_byte_s += jm_sli_pos(c->mem_gib_s) * 1073741824.0;
	j->file_read = jm_sli_add_sat(j->file_read, c->file_read_bytes);
	j->file_write = jm_sli_add_sat(j->file_write, c->file_write_bytes);
	j->net_rx = jm_sli_add_sat(j->net_rx, c->net_rx_bytes);
	j->net_tx = jm_sli_add_sat(j->net_tx, c->net_tx_bytes);
	for (size_t i = 0; i < w->n_db && w->db; i++) {
		const struct jm_db_stats *d = &w->db[i];
		unsigned s = (unsigned)d->system < MX_N_SYSTEMS ? (unsigned)d->system : 0;
		if (!j->db[s] && !(j->db[s] = calloc(1, sizeof(*j->db[s]))))
			continue;
		jm_sli_db_add(j->db[s], d);
	}
	for (size_t i = 0; i < w->n_outputs && w->outputs; i++)
		mx_output(m, j, &w->outputs[i]);
out:
	pthread_mutex_unlock(&m->lock);
}

void jm_metrics_set_loss(struct jm_metrics *m, const struct jm_loss *t)
{
	if (!m || !t)
		return;
	pthread_mutex_lock(&m->lock);
	/* The totals are cumulative; a smaller value (a reset of one source)
	 * must not make the exported counter go backwards. */
#define MAXF(f) if (t->f > m->loss.f) m->loss.f = t->f
	MAXF(ringbuf_drops); MAXF(map_full); MAXF(payload_drops); MAXF(payload_truncated);
	MAXF(parse_errors); MAXF(statements_overflow); MAXF(jobs_overflow);
	MAXF(spool_dropped_batches); MAXF(exits_synthesized);
#undef MAXF
	pthread_mutex_unlock(&m->lock);
}

void jm_metrics_set_ship(struct jm_metrics *m, const struct jm_ship_stats *st)
{
	if (!m || !st)
		return;
	pthread_mutex_lock(&m->lock);
	m->ship = *st;
	m->has_ship = true;
	pthread_mutex_unlock(&m->lock);
}

void jm_metrics_set_thread_filter(struct jm_metrics *m, uint64_t misses, uint64_t bits)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	if (misses > m->tf_misses)      /* a counter: never backwards */
		m->tf_misses = misses;
	m->tf_bits = bits;
	pthread_mutex_unlock(&m->lock);
}

void jm_metrics_set_health(struct jm_metrics *m, bool ok)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->healthy = ok;
	pthread_mutex_unlock(&m->lock);
}

static bool mx_healthy(struct jm_metrics *m)
{
	pthread_mutex_lock(&m->lock);
	bool ok = m->healthy;
	pthread_mutex_unlock(&m->lock);
	return ok;
}

/* ---- rendering ------------------------------------------------------ */

/* A label value with \, " and newline escaped as the text format demands
 * (other control bytes are legal UTF-8 and pass through); the text format
 * requires UTF-8 label values, so a byte that starts no well-formed sequence
 * becomes '?'. */
static void mx_label_value(struct jm_buf *b, const char *v)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t n = strlen(v), i = 0;
	while (i < n) {
		size_t k = jm_utf8_seq_len(s + i, n - i);
		if (k == 0) {
			jm_buf_append(b, "?", 1);
			i++;
		} else if (s[i] == '\\') {
			jm_buf_append(b, "\\\\", 2);
			i++;
		} else if (s[i] == '"') {
			jm_buf_append(b, "\\\"", 2);
			i++;
		} else if (s[i] == '\n') {
			jm_buf_append(b, "\\n", 2);
			i++;
		} else {
			jm_buf_append(b, s + i, k);
			i += k;
		}
	}
}

/* Shortest decimal that reads back as the same double; Prometheus spells
 * the specials +Inf, -Inf and NaN. */
static void mx_double(struct jm_buf *b, double v)
{
	char tmp[40];
	if (isnan(v)) {
		jm_buf_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		jm_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	jm_buf_puts(b, tmp);
}

static void mx_family(struct jm_buf *b, const char *name, const char *type, const char *help)
{
	jm_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{job="...",<extra>} -- extra is already-rendered label pairs or NULL. */
static void mx_series(struct jm_buf *b, const char *name, const char *suffix,
		      const struct mx_job *j, const char *extra)
{
	jm_buf_printf(b, "%s%s{job=\"", name, suffix ? suffix : "");
	mx_label_value(b, j->name);
	jm_buf_puts(b, "\"");
	if (extra && *extra) {
		jm_buf_puts(b, ",");
		jm_buf_puts(b, extra);
	}
	jm_buf_puts(b, "} ");
}

static void mx_u64_line(struct jm_buf *b, const char *name, const struct mx_job *j,
			const char *extra, uint64_t v)
{
	mx_series(b, name, NULL, j, extra);
	jm_buf_printf(b, "%" PRIu64 "\n", v);
}

static void mx_dbl_line(struct jm_buf *b, const char *name, const struct mx_job *j,
			const char *extra, double v)
{
	mx_series(b, name, NULL, j, extra);
	mx_double(b, v);
	jm_buf_puts(b, "\n");
}

/* One per-job counter family read through an accessor. */
typedef uint64_t (*mx_u64_get)(const struct mx_job *j);
static uint64_t mx_get_restarts(const struct mx_job *j) { return j->runs.restarts; }
static uint64_t mx_get_ooms(const struct mx_job *j) { return j->runs.oom_kills; }
static uint64_t mx_get_fread(const struct mx_job *j) { return j->file_read; }
static uint64_t mx_get_fwrite(const struct mx_job *j) { return j->file_write; }
static uint64_t mx_get_rx(const struct mx_job *j) { return j->net_rx; }
static uint64_t mx_get_tx(const struct mx_job *j) { return j->net_tx; }

static void mx_job_counter(struct jm_buf *b, const struct jm_metrics *m, const char *name,
			   const char *help, mx_u64_get get)
{
	if (!m->n_jobs)
		return;
	mx_family(b, name, "counter", help);
	for (size_t i = 0; i < m->n_jobs; i++)
		mx_u64_line(b, name, m->jobs[i], NULL, get(m->jobs[i]));
}

/* Cumulative buckets + _sum + _count for one histogram series.  bounds has
 * n - 1 finite entries; counts has n per-bucket entries, the last = +Inf. */
static void mx_histogram(struct jm_buf *b, const char *name, const struct mx_job *j,
			 const char *extra, const double *bounds, const uint64_t *counts,
			 size_t n, double sum)
{
	struct jm_buf lab;
	uint64_t cum = 0;
	jm_buf_init(&lab);
	for (size_t i = 0; i < n; i++) {
		cum = jm_sli_add_sat(cum, counts[i]);
		jm_buf_reset(&lab);
		if (extra && *extra)
			jm_buf_printf(&lab, "%s,", extra);
		jm_buf_puts(&lab, "le=\"");
		if (i + 1 < n)
			mx_double(&lab, bounds[i]);
		else
			jm_buf_puts(&lab, "+Inf");
		jm_buf_puts(&lab, "\"");
		mx_series(b, name, "_bucket", j, lab.oom ? "" : lab.data);
		jm_buf_printf(b, "%" PRIu64 "\n", cum);
	}
	mx_series(b, name, "_sum", j, extra);
	mx_double(b, sum);
	jm_buf_puts(b, "\n");
	mx_series(b, name, "_count", j, extra);
	jm_buf_printf(b, "%" PRIu64 "\n", cum);
	if (lab.oom)
		b->oom = true;
	jm_buf_free(&lab);
}

static bool mx_any_db(const struct jm_metrics *m)
{
	for (size_t i = 0; i < m->n_jobs; i++)
		for (int s = 0; s < MX_N_SYSTEMS; s++)
			if (m->jobs[i]->db[s])
				return true;
	return false;
}

static void mx_render_db(struct jm_buf *b, const struct jm_metrics *m)
{
	static const char *const names[] = {
		"jobmeter_job_db_queries_total", "jobmeter_job_db_errors_total",
		"jobmeter_job_db_rows_total",
	};
	static const char *const helps[] = {
		"Database statements the job sent, by database system.",
		"Database statements that returned an error, by database system.",
		"Rows returned or affected by the job's database statements.",
	};
	char extra[64];
	double bounds[JM_HIST_BUCKETS - 1];

	if (!mx_any_db(m))
		return;
	for (size_t f = 0; f < 3; f++) {
		mx_family(b, names[f], "counter", helps[f]);
		for (size_t i = 0; i < m->n_jobs; i++) {
			for (int s = 0; s < MX_N_SYSTEMS; s++) {
				const struct jm_sli_db *d = m->jobs[i]->db[s];
				if (!d)
					continue;
				snprintf(extra, sizeof(extra), "system=\"%s\"",
					 jm_db_system_name((enum jm_db_system)s));
				mx_u64_line(b, names[f], m->jobs[i], extra,
					    f == 0 ? d->queries : f == 1 ? d->errors : d->rows);
			}
		}
	}
	for (int i = 0; i < JM_HIST_BUCKETS - 1; i++)
		bounds[i] = jm_hist_bucket_upper_s(i);
	mx_family(b, "jobmeter_job_db_query_duration_seconds", "histogram",
		  "Latency of the job's database statements, request sent to response "
		  "received, by database system.");
	for (size_t i = 0; i < m->n_jobs; i++) {
		for (int s = 0; s < MX_N_SYSTEMS; s++) {
			const struct jm_sli_db *d = m->jobs[i]->db[s];
			if (!d)
				continue;
			snprintf(extra, sizeof(extra), "system=\"%s\"",
				 jm_db_system_name((enum jm_db_system)s));
			mx_histogram(b, "jobmeter_job_db_query_duration_seconds", m->jobs[i],
				     extra, bounds, d->buckets, JM_HIST_BUCKETS, d->latency_s_sum);
		}
	}
}

static void mx_render_jobs(struct jm_buf *b, const struct jm_metrics *m)
{
	if (!m->n_jobs)
		return;
	mx_family(b, "jobmeter_job_runs_total", "counter", "Finished runs of the job, by outcome.");
	for (size_t i = 0; i < m->n_jobs; i++) {
		const struct mx_job *j = m->jobs[i];
		mx_u64_line(b, "jobmeter_job_runs_total", j, "outcome=\"success\"",
			    j->runs.by_outcome[JM_OUTCOME_SUCCESS]);
		mx_u64_line(b, "jobmeter_job_runs_total", j, "outcome=\"failure\"",
			    j->runs.by_outcome[JM_OUTCOME_FAILURE]);
		if (j->runs.by_outcome[JM_OUTCOME_UNSPECIFIED])
			mx_u64_line(b, "jobmeter_job_runs_total", j, "outcome=\"unknown\"",
				    j->runs.by_outcome[JM_OUTCOME_UNSPECIFIED]);
	}
	mx_job_counter(b, m, "jobmeter_job_restarts_total",
		       "Runs that started after a failed run of the same job.", mx_get_restarts);
	mx_job_counter(b, m, "jobmeter_job_oom_kills_total",
		       "Runs in which the kernel OOM killer killed a process.", mx_get_ooms);

	mx_family(b, "jobmeter_job_run_duration_seconds", "histogram",
		  "Wall-clock duration of finished runs.");
	for (size_t i = 0; i < m->n_jobs; i++)
		mx_histogram(b, "jobmeter_job_run_duration_seconds", m->jobs[i], NULL,
			     jm_sli_run_bounds, m->jobs[i]->runs.duration_buckets,
			     JM_SLI_RUN_BOUNDS + 1, m->jobs[i]->runs.duration_s_sum);

	bool any_run = false, any_success = false;
	for (size_t i = 0; i < m->n_jobs; i++) {
		any_run |= m->jobs[i]->has_run;
		any_success |= m->jobs[i]->last_success_ns > 0;
	}
	if (any_run) {
		mx_family(b, "jobmeter_job_last_run_timestamp_seconds", "gauge",
			  "Unix time the last finished run of the job ended.");
		for (size_t i = 0; i < m->n_jobs; i++)
			if (m->jobs[i]->has_run)
				mx_dbl_line(b, "jobmeter_job_last_run_timestamp_seconds", m->jobs[i],
					    NULL, (double)m->jobs[i]->last_run_ns / 1e9);
	}
	if (any_success) {
		mx_family(b, "jobmeter_job_last_success_timestamp_seconds", "gauge",
			  "Unix time the last successful run of the job ended.");
		for (size_t i = 0; i < m->n_jobs; i++)
			if (m->jobs[i]->last_success_ns > 0)
				mx_dbl_line(b, "jobmeter_job_last_success_timestamp_seconds",
					    m->jobs[i], NULL,
					    (double)m->jobs[i]->last_success_ns / 1e9);
	}
	if (any_run) {
		mx_family(b, "jobmeter_job_last_run_peak_memory_bytes", "gauge",
			  "Peak resident memory of the last finished run (the largest peak among its processes).");
		for (size_t i = 0; i < m->n_jobs; i++)
			if (m->jobs[i]->has_run)
				mx_u64_line(b, "jobmeter_job_last_run_peak_memory_bytes", m->jobs[i],
					    NULL, m->jobs[i]->last_peak_rss);
	}

	mx_family(b, "jobmeter_job_cpu_seconds_total", "counter",
		  "CPU time (user + system) used by the job's processes.");
	for (size_t i = 0; i < m->n_jobs; i++)
		mx_dbl_line(b, "jobmeter_job_cpu_seconds_total", m->jobs[i], NULL, m->jobs[i]->cpu_s);
	mx_family(b, "jobmeter_job_memory_byte_seconds_total", "counter",
		  "Resident memory of the job integrated over time.");
	for (size_t i = 0; i < m->n_jobs; i++)
		mx_dbl_line(b, "jobmeter_job_memory_byte_seconds_total", m->jobs[i], NULL,
			    m->jobs[i]->mem_byte_s);
	mx_job_counter(b, m, "jobmeter_job_file_read_bytes_total",
		       "Bytes the job read from files.", mx_get_fread);
	mx_job_counter(b, m, "jobmeter_job_file_write_bytes_total",
		       "Bytes the job wrote to files.", mx_get_fwrite);
	mx_job_counter(b, m, "jobmeter_job_network_receive_bytes_total",
		       "Bytes the job received from sockets.", mx_get_rx);
	mx_job_counter(b, m, "jobmeter_job_network_transmit_bytes_total",
		       "Bytes the job sent to sockets.", mx_get_tx);

	mx_render_db(b, m);

	bool any_out = false;
	for (size_t i = 0; i < m->n_jobs; i++)
		any_out |= m->jobs[i]->n_outputs > 0;
	if (any_out) {
		struct jm_buf extra;
		jm_buf_init(&extra);
		mx_family(b, "jobmeter_job_output_last_write_timestamp_seconds", "gauge",
			  "Unix time the job last wrote to a declared output (table or file).");
		for (size_t i = 0; i < m->n_jobs; i++) {
			const struct mx_job *j = m->jobs[i];
			for (size_t k = 0; k < j->n_outputs; k++) {
				jm_buf_reset(&extra);
				jm_buf_printf(&extra, "kind=\"%s\",name=\"",
					      j->outputs[k].kind == JM_OUTPUT_FILE ? "file" : "table");
				mx_label_value(&extra, j->outputs[k].name);
				jm_buf_puts(&extra, "\"");
				if (extra.oom)
					break;
				mx_dbl_line(b, "jobmeter_job_output_last_write_timestamp_seconds", j,
					    extra.data, (double)j->outputs[k].last_write_ns / 1e9);
			}
		}
		if (extra.oom)
			b->oom = true;
		jm_buf_free(&extra);
	}
}

/* Shipping: a refused batch is data lost to every report (its figures stay
 * only in <spool>/rejected/ and the JSONL), so it is exported next to the
 * loss counters, not only logged. */
static void mx_render_ship(struct jm_buf *b, const struct jm_ship_stats *s)
{
	mx_family(b, "jobmeter_ship_batches_sent_total", "counter",
		  "Batches the collector acknowledged (2xx).");
	jm_buf_printf(b, "jobmeter_ship_batches_sent_total %" PRIu64 "\n", s->sent);
	mx_family(b, "jobmeter_ship_retries_total", "counter",
		  "Failed delivery attempts that will be retried (transport errors, 5xx, 429, auth).");
	jm_buf_printf(b, "jobmeter_ship_retries_total %" PRIu64 "\n", s->retries);
	mx_family(b, "jobmeter_ship_batches_rejected_total", "counter",
		  "Batches the collector refused (4xx, e.g. 400 invalid, 409 seq conflict): moved to "
		  "<spool>/rejected/, their figures missing from reports.");
	jm_buf_printf(b, "jobmeter_ship_batches_rejected_total %" PRIu64 "\n", s->rejected_4xx);
	mx_family(b, "jobmeter_ship_batches_renumbered_total", "counter",
		  "Batches sent again under a new seq after the collector reported a seq conflict.");
	jm_buf_printf(b, "jobmeter_ship_batches_renumbered_total %" PRIu64 "\n", s->renumbered);
	mx_family(b, "jobmeter_ship_spool_batches", "gauge", "Batches waiting in the spool.");
	jm_buf_printf(b, "jobmeter_ship_spool_batches %" PRIu64 "\n", s->spool_depth);
	mx_family(b, "jobmeter_ship_spool_bytes", "gauge", "Bytes of the batches waiting in the spool.");
	jm_buf_printf(b, "jobmeter_ship_spool_bytes %" PRIu64 "\n", s->spool_bytes);
	mx_family(b, "jobmeter_ship_last_http_status", "gauge",
		  "HTTP status of the collector's last answer (0 = none yet).");
	jm_buf_printf(b, "jobmeter_ship_last_http_status %ld\n", s->last_http_status);
}

static void mx_render_agent(struct jm_buf *b, const struct jm_metrics *m)
{
	const struct jm_loss *l = &m->loss;
	struct jm_sli_reason lost[JM_SLI_LOSS_REASONS];

	jm_sli_loss_reasons(l, lost);

	mx_family(b, "jobmeter_events_lost_total", "counter",
		  "Kernel events, payloads, statements, jobs or batches the agent could not "
		  "account for, by reason.");
	for (size_t i = 0; i < JM_SLI_LOSS_REASONS; i++)
		jm_buf_printf(b, "jobmeter_events_lost_total{reason=\"%s\"} %" PRIu64 "\n",
			      lost[i].reason, lost[i].count);
	mx_family(b, "jobmeter_payloads_truncated_total", "counter",
		  "Database payloads captured head and tail only (by design, not loss).");
	jm_buf_printf(b, "jobmeter_payloads_truncated_total %" PRIu64 "\n", l->payload_truncated);
	mx_family(b, "jobmeter_metrics_jobs", "gauge", "Jobs held by the metrics registry.");
	jm_buf_printf(b, "jobmeter_metrics_jobs %zu\n", m->n_jobs);
	mx_family(b, "jobmeter_metrics_jobs_dropped_total", "counter",
		  "Run and window records not exported because their job was over max_jobs.");
	jm_buf_printf(b, "jobmeter_metrics_jobs_dropped_total %" PRIu64 "\n", m->jobs_dropped);
	mx_family(b, "jobmeter_metrics_outputs_dropped_total", "counter",
		  "Output timestamps not exported because the job had too many outputs.");
	jm_buf_printf(b, "jobmeter_metrics_outputs_dropped_total %" PRIu64 "\n",
		      m->outputs_dropped);
	mx_family(b, "jobmeter_thread_filter_misses_total", "counter",
		  "Job threads the socket thread filter lacked when the sampler saw them; "
		  "their socket bytes until then were not counted (expected 0).");
	jm_buf_printf(b, "jobmeter_thread_filter_misses_total %" PRIu64 "\n", m->tf_misses);
	mx_family(b, "jobmeter_thread_filter_fill_ratio", "gauge",
		  "Share of the socket thread filter's bits that are set (bits of ended job "
		  "threads stay); that share of threads outside jobs takes the exact test.");
	jm_buf_printf(b, "jobmeter_thread_filter_fill_ratio %.6f\n",
		      (double)m->tf_bits / (double)(1u << JM_TF_LOG2));
	if (m->has_ship)
		mx_render_ship(b, &m->ship);
}

char *jm_metrics_render(struct jm_metrics *m)
{
	struct jm_buf b;
	if (!m)
		return NULL;
	jm_buf_init(&b);
	mx_family(&b, "jobmeter_build_info", "gauge", "Version of the running jobmeter agent.");
	jm_buf_puts(&b, "jobmeter_build_info{version=\"");
	mx_label_value(&b, JOBMETER_VERSION);
	jm_buf_puts(&b, "\"} 1\n");
	pthread_mutex_lock(&m->lock);
	mx_render_jobs(&b, m);
	mx_render_agent(&b, m);
	pthread_mutex_unlock(&m->lock);
	if (b.oom || !b.data) {
		jm_buf_free(&b);
		return NULL;
	}
	return b.data;   /* malloc'd and NUL-terminated by jm_buf */
}

/* ---- HTTP ----------------------------------------------------------- */

static enum MHD_Result mx_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
				char *body, size_t len, bool owned)
{
	struct MHD_Response *rsp = MHD_create_response_from_buffer(
		len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!rsp) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	enum MHD_Result ret = MHD_NO;
	if (MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) == MHD_YES &&
	    (status != MHD_HTTP_METHOD_NOT_ALLOWED ||
	     MHD_add_response_header(rsp, MHD_HTTP_HEADER_ALLOW, "GET") == MHD_YES))
		ret = MHD_queue_response(c, status, rsp);
	MHD_destroy_response(rsp);
	return ret;
}

static enum MHD_Result mx_handle(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **state)
{
	struct jm_metrics *m = cls;
	static char not_allowed[] = "only GET is supported\n";
	static char not_found[] = "not found; try /metrics or /healthz\n";
	static char ok[] = "ok\n", bad[] = "unhealthy\n", oom[] = "out of memory\n";
	(void)version;
	(void)upload;
	(void)upload_size;
	(void)state;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return mx_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
				not_allowed, strlen(not_allowed), false);
	if (strcmp(url, "/metrics") == 0) {
		char *body = jm_metrics_render(m);
		if (!body)
			return mx_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
					"text/plain; charset=utf-8", oom, strlen(oom), false);
		return mx_reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body,
				strlen(body), true);
	}
	if (strcmp(url, "/healthz") == 0) {
		bool h = mx_healthy(m);
		return mx_reply(c, h ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
				"text/plain; charset=utf-8", h ? ok : bad, strlen(h ? ok : bad),
				false);
	}
	return mx_reply(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", not_found,
			strlen(not_found), false);
}

static void mx_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	jm_warn("metrics http: %s", line);
}

/* "ADDR:PORT", "[V6]:PORT" or ":PORT" (all IPv4 interfaces) -> sockaddr. */
static int mx_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[256];
	const char *port;
	struct addrinfo hints, *res = NULL;

	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen + 1, (size_t)(close - listen - 1));
		host[close - listen - 1] = '\0';
		port = close + 2;
	} else {
		const char *colon = strrchr(listen, ':');
		if (!colon || (size_t)(colon - listen) >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = '\0';
		port = colon + 1;
	}
	char *end;
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (!*port || *end || errno || p > 65535)
		return -EINVAL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (!host[0])
		hints.ai_family = AF_INET;
	if (getaddrinfo(host[0] ? host : NULL, port, &hints, &res) || !res)
		return -EINVAL;
	int err = -EINVAL;
	if (res->ai_addrlen <= sizeof(*ss)) {
		memcpy(ss, res->ai_addr, res->ai_addrlen);
		*sslen = res->ai_addrlen;
		err = 0;
	}
	freeaddrinfo(res);
	return err;
}

int jm_metrics_open(struct jm_metrics **out, const char *listen, unsigned max_jobs)
{
	struct jm_metrics *m;
	int err = 0;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (pthread_mutex_init(&m->lock, NULL)) {
		free(m);
		return -ENOMEM;
	}
	m->max_jobs = max_jobs ? max_jobs : 1000;
	m->healthy = true;

	if (listen && *listen) {
		struct sockaddr_storage ss;
		socklen_t sslen = 0;
		err = mx_parse_listen(listen, &ss, &sslen);
		if (err) {
			jm_err("metrics: cannot parse listen address '%s' (want ADDR:PORT, "
			       "[V6]:PORT or :PORT)", listen);
			goto out;
		}
		unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
		if (ss.ss_family == AF_INET6)
			flags |= MHD_USE_IPv6;
		uint16_t port = ss.ss_family == AF_INET6 ?
			ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) :
			ntohs(((struct sockaddr_in *)&ss)->sin_port);
		errno = 0;
		m->httpd = MHD_start_daemon(flags, port, NULL, NULL, mx_handle, m,
					    /* first, or MHD prints some errors itself */
					    MHD_OPTION_EXTERNAL_LOGGER, mx_mhd_log, (void *)m,
					    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
					    MHD_OPTION_CONNECTION_LIMIT, (unsigned)MX_HTTP_MAX_CONNS,
					    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)MX_HTTP_PER_IP,
					    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)MX_HTTP_TIMEOUT_S,
					    MHD_OPTION_END);
		if (!m->httpd) {
			err = errno ? -errno : -EADDRNOTAVAIL;
			jm_err("metrics: cannot listen on %s: %s", listen, strerror(-err));
			goto out;
		}
		jm_info("metrics: serving /metrics and /healthz on %s", listen);
	}
out:
	if (err) {
		jm_metrics_close(m);
		return err;
	}
	*out = m;
	return 0;
}

void jm_metrics_close(struct jm_metrics *m)
{
	if (!m)
		return;
	/* Stop the HTTP thread first: it reads the registry. */
	if (m->httpd)
		MHD_stop_daemon(m->httpd);
	for (size_t i = 0; i < m->n_jobs; i++)
		mx_job_free(m->jobs[i]);
	free(m->jobs);
	free(m->idx);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
