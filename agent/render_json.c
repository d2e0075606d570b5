#include "render_json.h"

#include <string.h>

static void key(struct jm_buf *b, const char *k)
{
	jm_buf_printf(b, ",\"%s\":", k);
}

static void str_field(struct jm_buf *b, const char *k, const char *v)
{
	key(b, k);
	jm_buf_json_str(b, v, strlen(v));
}

static void u64_field(struct jm_buf *b, const char *k, uint64_t v)
{
	jm_buf_printf(b, ",\"%s\":%llu", k, (unsigned long long)v);
}

static void dbl_field(struct jm_buf *b, const char *k, double v)
{
	key(b, k);
	jm_buf_json_double(b, v);
}

static void counters(struct jm_buf *b, const struct jm_counters *c)
{
	u64_field(b, "processes", c->processes);
	dbl_field(b, "cpu_s", c->cpu_s);
	u64_field(b, "peak_rss_bytes", c->peak_rss_bytes);
	dbl_field(b, "mem_gib_s", c->mem_gib_s);
	u64_field(b, "file_read_bytes", c->file_read_bytes);
	u64_field(b, "file_write_bytes", c->file_write_bytes);
	u64_field(b, "net_rx_bytes", c->net_rx_bytes);
	u64_field(b, "net_tx_bytes", c->net_tx_bytes);
}

static void db_list(struct jm_buf *b, const struct jm_db_stats *db, size_t n)
{
	key(b, "db");
	jm_buf_puts(b, "[");
	for (size_t i = 0; i < n; i++) {
		const struct jm_db_stats *d = &db[i];
		jm_buf_puts(b, i ? ",{" : "{");
		jm_buf_puts(b, "\"system\":");
		jm_buf_json_str(b, jm_db_system_name(d->system), strlen(jm_db_system_name(d->system)));
		str_field(b, "endpoint", d->endpoint);
		u64_field(b, "queries", d->queries);
		u64_field(b, "errors", d->errors);
		u64_field(b, "rows", d->rows);
		u64_field(b, "rows_unknown", d->rows_unknown);
		u64_field(b, "tx_bytes", d->tx_bytes);
		u64_field(b, "rx_bytes", d->rx_bytes);
		dbl_field(b, "latency_s_sum", d->latency_s_sum);
		dbl_field(b, "latency_p50_s", d->latency_p50_s);
		dbl_field(b, "latency_p95_s", d->latency_p95_s);
		dbl_field(b, "latency_p99_s", d->latency_p99_s);
		u64_field(b, "statements_overflow", d->statements_overflow);
		if (d->conns_unreadable)
			u64_field(b, "connections_unreadable", d->conns_unreadable);
		key(b, "statements");
		jm_buf_puts(b, "[");
		for (size_t k = 0; k < d->n_statements; k++) {
			const struct jm_stmt_stats *s = &d->statements[k];
			jm_buf_puts(b, k ? ",{\"fingerprint\":" : "{\"fingerprint\":");
			jm_buf_json_str(b, s->fingerprint, strlen(s->fingerprint));
			u64_field(b, "calls", s->calls);
			u64_field(b, "errors", s->errors);
			u64_field(b, "rows", s->rows);
			u64_field(b, "rows_unknown", s->rows_unknown);
			dbl_field(b, "latency_s_sum", s->latency_s_sum);
			dbl_field(b, "latency_p50_s", s->latency_p50_s);
			dbl_field(b, "latency_p95_s", s->latency_p95_s);
			dbl_field(b, "latency_p99_s", s->latency_p99_s);
			if (s->last_error[0])
				str_field(b, "last_error", s->last_error);
			jm_buf_puts(b, "}");
		}
		jm_buf_puts(b, "]}");
	}
	jm_buf_puts(b, "]");
}

static void outputs(struct jm_buf *b, const struct jm_output_write *o, size_t n)
{
	key(b, "outputs");
	jm_buf_puts(b, "[");
	for (size_t i = 0; i < n; i++) {
		jm_buf_puts(b, i ? ",{\"kind\":" : "{\"kind\":");
		jm_buf_puts(b, o[i].kind == JM_OUTPUT_FILE ? "\"file\"" : "\"table\"");
		str_field(b, "name", o[i].name);
		key(b, "last_write");
		jm_buf_json_time(b, o[i].last_write_ns);
		jm_buf_puts(b, "}");
	}
	jm_buf_puts(b, "]");
}

void jm_json_run(struct jm_buf *b, const struct jm_run_record *r)
{
	jm_buf_puts(b, "{\"type\":\"run\"");
	str_field(b, "job", r->job);
	str_field(b, "run_id", r->run_id);
	key(b, "start_time");
	jm_buf_json_time(b, r->start_ns);
	key(b, "end_time");
	jm_buf_json_time(b, r->end_ns);
	dbl_field(b, "duration_s", (double)(r->end_ns - r->start_ns) / 1e9);
	str_field(b, "outcome", jm_outcome_name(r->outcome));
	jm_buf_printf(b, ",\"exit_code\":%d,\"signal\":%d", r->exit_code, r->signal);
	jm_buf_printf(b, ",\"oom_killed\":%s,\"restart\":%s", r->oom_killed ? "true" : "false",
		      r->restart ? "true" : "false");
	str_field(b, "source", r->source);
	counters(b, &r->counters);
	if (r->n_labels) {
		key(b, "labels");
		jm_buf_puts(b, "{");
		for (size_t i = 0; i < r->n_labels; i++) {
			if (i)
				jm_buf_puts(b, ",");
			jm_buf_json_str(b, r->labels[i].key, strlen(r->labels[i].key));
			jm_buf_puts(b, ":");
			jm_buf_json_str(b, r->labels[i].value, strlen(r->labels[i].value));
		}
		jm_buf_puts(b, "}");
	}
	db_list(b, r->db, r->n_db);
	outputs(b, r->outputs, r->n_outputs);
	jm_buf_puts(b, "}\n");
}

void jm_json_window(struct jm_buf *b, const struct jm_window_record *w)
{
	jm_buf_puts(b, "{\"type\":\"window\"");
	str_field(b, "job", w->job);
	str_field(b, "run_id", w->run_id);
	key(b, "start_time");
	jm_buf_json_time(b, w->start_ns);
	key(b, "end_time");
	jm_buf_json_time(b, w->end_ns);
	counters(b, &w->counters);
	db_list(b, w->db, w->n_db);
	outputs(b, w->outputs, w->n_outputs);
	jm_buf_puts(b, "}\n");
}

static void loss_fields(struct jm_buf *b, const struct jm_loss *l)
{
	jm_buf_printf(b, "\"ringbuf_drops\":%llu,\"map_full\":%llu,\"payload_drops\":%llu,"
		      "\"payload_truncated\":%llu,\"parse_errors\":%llu,\"statements_overflow\":%llu,"
		      "\"jobs_overflow\":%llu,\"spool_dropped_batches\":%llu,\"exits_synthesized\":%llu",
		      (unsigned long long)l->ringbuf_drops, (unsigned long long)l->map_full,
		      (unsigned long long)l->payload_drops, (unsigned long long)l->payload_truncated,
		      (unsigned long long)l->parse_errors, (unsigned long long)l->statements_overflow,
		      (unsigned long long)l->jobs_overflow, (unsigned long long)l->spool_dropped_batches,
		      (unsigned long long)l->exits_synthesized);
}

void jm_json_loss(struct jm_buf *b, int64_t now_ns, const struct jm_loss *delta,
		  const struct jm_loss *total)
{
	jm_buf_puts(b, "{\"type\":\"loss\"");
	key(b, "time");
	jm_buf_json_time(b, now_ns);
	jm_buf_puts(b, ",");
	loss_fields(b, delta);
	jm_buf_puts(b, ",\"total\":{");
	loss_fields(b, total);
	jm_buf_puts(b, "}}\n");
}
