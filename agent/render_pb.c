/* jm_batch -> packed jobmeter.v1.Batch.  See render_pb.h for the mapping.
 *
 * The message tree is built in an arena (arena.h) that lives only for the
 * duration of one call, so there is exactly one thing to free however deep
 * the tree is and however we bail out. */
#include "render_pb.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "jobmeter.pb-c.h"
#include "utf8.h"

/* ---- strings -------------------------------------------------------- */

/* A NUL-terminated, valid-UTF-8 view of the fixed array src[cap].  In the
 * common case (terminated and valid) the model's own bytes are referenced:
 * protobuf-c only reads strings while packing, so dropping const is safe. */
static char *pb_str(struct jm_arena *a, const char *src, size_t cap)
{
	size_t n = strnlen(src, cap);
	if (n < cap && jm_utf8_valid(src, n))
		return (char *)src;
	if (n == cap && n > 0)
		n--;    /* the longest string the array can legally hold */
	return jm_arena_utf8(a, src, n);
}

#define PB_STR(a, field) pb_str((a), (field), sizeof(field))

/* ---- messages ------------------------------------------------------- */

static Jobmeter__V1__Counters *pb_counters(struct jm_arena *a, const struct jm_counters *c)
{
	Jobmeter__V1__Counters *m = jm_arena_alloc(a, sizeof(*m));
	if (!m)
		return NULL;
	jobmeter__v1__counters__init(m);
	m->processes = c->processes;
	m->cpu_s = c->cpu_s;
	m->peak_rss_bytes = c->peak_rss_bytes;
	m->mem_gib_s = c->mem_gib_s;
	m->file_read_bytes = c->file_read_bytes;
	m->file_write_bytes = c->file_write_bytes;
	m->net_rx_bytes = c->net_rx_bytes;
	m->net_tx_bytes = c->net_tx_bytes;
	return m;
}

static int pb_statement(struct jm_arena *a, const struct jm_stmt_stats *s,
			Jobmeter__V1__StatementStats *m)
{
	jobmeter__v1__statement_stats__init(m);
	m->fingerprint = PB_STR(a, s->fingerprint);
	m->last_error = PB_STR(a, s->last_error);
	if (!m->fingerprint || !m->last_error)
		return -ENOMEM;
	m->calls = s->calls;
	m->errors = s->errors;
	m->rows = s->rows;
	m->rows_unknown = s->rows_unknown;
	m->latency_s_sum = s->latency_s_sum;
	m->latency_p50_s = s->latency_p50_s;
	m->latency_p95_s = s->latency_p95_s;
	m->latency_p99_s = s->latency_p99_s;
	return 0;
}

static int pb_db_one(struct jm_arena *a, const struct jm_db_stats *d, Jobmeter__V1__DbStats *m)
{
	jobmeter__v1__db_stats__init(m);
	if (d->n_statements && !d->statements)
		return -EINVAL;
	/* Points at a string literal; never written through. */
	m->system = (char *)jm_db_system_name(d->system);
	m->endpoint = PB_STR(a, d->endpoint);
	if (!m->endpoint)
		return -ENOMEM;
	m->queries = d->queries;
	m->errors = d->errors;
	m->rows = d->rows;
	m->rows_unknown = d->rows_unknown;
	m->connections_unreadable = d->conns_unreadable;
	m->tx_bytes = d->tx_bytes;
	m->rx_bytes = d->rx_bytes;
	m->latency_s_sum = d->latency_s_sum;
	m->latency_p50_s = d->latency_p50_s;
	m->latency_p95_s = d->latency_p95_s;
	m->latency_p99_s = d->latency_p99_s;
	m->statements_overflow = d->statements_overflow;
	/* The model's bucket array is exactly what goes on the wire. */
	m->n_latency_buckets = JM_HIST_BUCKETS;
	m->latency_buckets = (uint64_t *)d->latency_buckets;

	if (d->n_statements) {
		Jobmeter__V1__StatementStats **pp = jm_arena_alloc_n(a, d->n_statements, sizeof(*pp));
		Jobmeter__V1__StatementStats *ms = jm_arena_alloc_n(a, d->n_statements, sizeof(*ms));
		if (!pp || !ms)
			return -ENOMEM;
		for (size_t i = 0; i < d->n_statements; i++) {
			int err = pb_statement(a, &d->statements[i], &ms[i]);
			if (err)
				return err;
			pp[i] = &ms[i];
		}
		m->statements = pp;
		m->n_statements = d->n_statements;
	}
	return 0;
}

static int pb_db(struct jm_arena *a, size_t n, const struct jm_db_stats *db,
		 size_t *n_out, Jobmeter__V1__DbStats ***out)
{
	*n_out = 0;
	*out = NULL;
	if (!n)
		return 0;
	if (!db)
		return -EINVAL;
	Jobmeter__V1__DbStats **pp = jm_arena_alloc_n(a, n, sizeof(*pp));
	Jobmeter__V1__DbStats *ms = jm_arena_alloc_n(a, n, sizeof(*ms));
	if (!pp || !ms)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int err = pb_db_one(a, &db[i], &ms[i]);
		if (err)
			return err;
		pp[i] = &ms[i];
	}
	*out = pp;
	*n_out = n;
	return 0;
}

static int pb_outputs(struct jm_arena *a, size_t n, const struct jm_output_write *o,
		      size_t *n_out, Jobmeter__V1__OutputWrite ***out)
{
	*n_out = 0;
	*out = NULL;
	if (!n)
		return 0;
	if (!o)
		return -EINVAL;
	Jobmeter__V1__OutputWrite **pp = jm_arena_alloc_n(a, n, sizeof(*pp));
	Jobmeter__V1__OutputWrite *ms = jm_arena_alloc_n(a, n, sizeof(*ms));
	if (!pp || !ms)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		jobmeter__v1__output_write__init(&ms[i]);
		ms[i].kind = (char *)(o[i].kind == JM_OUTPUT_FILE ? "file" : "table");
		ms[i].name = PB_STR(a, o[i].name);
		if (!ms[i].name)
			return -ENOMEM;
		ms[i].last_write_unix_ns = o[i].last_write_ns;
		pp[i] = &ms[i];
	}
	*out = pp;
	*n_out = n;
	return 0;
}

static Jobmeter__V1__Outcome pb_outcome(enum jm_outcome o)
{
	switch (o) {
	case JM_OUTCOME_SUCCESS:
		return JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS;
	case JM_OUTCOME_FAILURE:
		return JOBMETER__V1__OUTCOME__OUTCOME_FAILURE;
	default:
		return JOBMETER__V1__OUTCOME__OUTCOME_UNSPECIFIED;
	}
}

static int pb_run(struct jm_arena *a, const struct jm_run_record *r, Jobmeter__V1__JobRun *m)
{
	int err;
	jobmeter__v1__job_run__init(m);
	m->job = PB_STR(a, r->job);
	m->run_id = PB_STR(a, r->run_id);
	m->source = PB_STR(a, r->source);
	m->counters = pb_counters(a, &r->counters);
	if (!m->job || !m->run_id || !m->source || !m->counters)
		return -ENOMEM;
	m->start_unix_ns = r->start_ns;
	m->end_unix_ns = r->end_ns;
	m->outcome = pb_outcome(r->outcome);
	m->exit_code = r->exit_code;
	m->signal = r->signal;
	m->oom_killed = r->oom_killed;
	m->restart = r->restart;
	if ((err = pb_db(a, r->n_db, r->db, &m->n_db, &m->db)))
		return err;
	if ((err = pb_outputs(a, r->n_outputs, r->outputs, &m->n_outputs, &m->outputs)))
		return err;

	size_t nl = r->n_labels < JM_LABELS_MAX ? r->n_labels : JM_LABELS_MAX;
	if (nl) {
		Jobmeter__V1__Label **pp = jm_arena_alloc_n(a, nl, sizeof(*pp));
		Jobmeter__V1__Label *ms = jm_arena_alloc_n(a, nl, sizeof(*ms));
		if (!pp || !ms)
			return -ENOMEM;
		for (size_t i = 0; i < nl; i++) {
			jobmeter__v1__label__init(&ms[i]);
			ms[i].key = PB_STR(a, r->labels[i].key);
			ms[i].value = PB_STR(a, r->labels[i].value);
			if (!ms[i].key || !ms[i].value)
				return -ENOMEM;
			pp[i] = &ms[i];
		}
		m->labels = pp;
		m->n_labels = nl;
	}
	return 0;
}

static int pb_window(struct jm_arena *a, const struct jm_window_record *w, Jobmeter__V1__JobWindow *m)
{
	int err;
	jobmeter__v1__job_window__init(m);
	m->job = PB_STR(a, w->job);
	m->run_id = PB_STR(a, w->run_id);
	m->counters = pb_counters(a, &w->counters);
	if (!m->job || !m->run_id || !m->counters)
		return -ENOMEM;
	m->start_unix_ns = w->start_ns;
	m->end_unix_ns = w->end_ns;
	if ((err = pb_db(a, w->n_db, w->db, &m->n_db, &m->db)))
		return err;
	return pb_outputs(a, w->n_outputs, w->outputs, &m->n_outputs, &m->outputs);
}

static int pb_batch(struct jm_arena *a, const struct jm_batch *b, Jobmeter__V1__Batch *m)
{
	jobmeter__v1__batch__init(m);
	m->schema_version = JM_PB_SCHEMA_VERSION;
	m->seq = b->seq;
	m->window_start_unix_ns = b->window_start_ns;
	m->window_end_unix_ns = b->window_end_ns;

	Jobmeter__V1__AgentIdentity *id = jm_arena_alloc(a, sizeof(*id));
	Jobmeter__V1__HostUsage *host = jm_arena_alloc(a, sizeof(*host));
	Jobmeter__V1__LossCounters *loss = jm_arena_alloc(a, sizeof(*loss));
	if (!id || !host || !loss)
		return -ENOMEM;

	jobmeter__v1__agent_identity__init(id);
	id->host = PB_STR(a, b->agent.host);
	id->agent_id = PB_STR(a, b->agent.agent_id);
	id->boot_id = PB_STR(a, b->agent.boot_id);
	id->kernel = PB_STR(a, b->agent.kernel);
	id->version = PB_STR(a, b->agent.version);
	if (!id->host || !id->agent_id || !id->boot_id || !id->kernel || !id->version)
		return -ENOMEM;
	m->agent = id;

	jobmeter__v1__host_usage__init(host);
	host->cpu_cores = b->host.cpu_cores;
	host->cpu_busy_s = b->host.cpu_busy_s;
	host->mem_total_bytes = b->host.mem_total_bytes;
	host->mem_used_bytes = b->host.mem_used_bytes;
	host->window_s = b->host.window_s;
	m->host = host;

	jobmeter__v1__loss_counters__init(loss);
	loss->ringbuf_drops = b->loss.ringbuf_drops;
	loss->map_full = b->loss.map_full;
	loss->payload_drops = b->loss.payload_drops;
	loss->payload_truncated = b->loss.payload_truncated;
	loss->parse_errors = b->loss.parse_errors;
	loss->statements_overflow = b->loss.statements_overflow;
	loss->jobs_overflow = b->loss.jobs_overflow;
	loss->spool_dropped_batches = b->loss.spool_dropped_batches;
	loss->exits_synthesized = b->loss.exits_synthesized;
	m->loss = loss;

	if (b->n_runs) {
		if (!b->runs)
			return -EINVAL;
		Jobmeter__V1__JobRun **pp = jm_arena_alloc_n(a, b->n_runs, sizeof(*pp));
		Jobmeter__V1__JobRun *ms = jm_arena_alloc_n(a, b->n_runs, sizeof(*ms));
		if (!pp || !ms)
			return -ENOMEM;
		for (size_t i = 0; i < b->n_runs; i++) {
			int err = pb_run(a, &b->runs[i], &ms[i]);
			if (err)
				return err;
			pp[i] = &ms[i];
		}
		m->runs = pp;
		m->n_runs = b->n_runs;
	}
	if (b->n_windows) {
		if (!b->windows)
			return -EINVAL;
		Jobmeter__V1__JobWindow **pp = jm_arena_alloc_n(a, b->n_windows, sizeof(*pp));
		Jobmeter__V1__JobWindow *ms = jm_arena_alloc_n(a, b->n_windows, sizeof(*ms));
		if (!pp || !ms)
			return -ENOMEM;
		for (size_t i = 0; i < b->n_windows; i++) {
			int err = pb_window(a, &b->windows[i], &ms[i]);
			if (err)
				return err;
			pp[i] = &ms[i];
		}
		m->windows = pp;
		m->n_windows = b->n_windows;
	}
	return 0;
}

int jm_render_batch_pb(const struct jm_batch *b, uint8_t **out, size_t *len)
{
	struct jm_arena arena = { 0 };
	Jobmeter__V1__Batch msg;
	uint8_t *buf = NULL;
	int err;

	*out = NULL;
	*len = 0;
	if ((err = pb_batch(&arena, b, &msg)))
		goto out;
	size_t size = jobmeter__v1__batch__get_packed_size(&msg);
	buf = malloc(size ? size : 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	if (jobmeter__v1__batch__pack(&msg, buf) != size) {
		/* protobuf-c sized it and packed it from the same tree; a mismatch
		 * means memory corruption, never something to ship. */
		err = -EIO;
		goto out;
	}
	*out = buf;
	*len = size;
	buf = NULL;
out:
	free(buf);
	jm_arena_free(&arena);
	return err;
}
