/* Per-job SLI aggregation shared by the exporters.  See sli.h. */
#include "sli.h"

#include "histogram.h"

const double jm_sli_run_bounds[JM_SLI_RUN_BOUNDS] = {
	1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 43200, 86400,
};

void jm_sli_runs_add(struct jm_sli_runs *s, const struct jm_run_record *r)
{
	unsigned oc = (unsigned)r->outcome < JM_SLI_OUTCOMES ? (unsigned)r->outcome : 0;
	double dur = r->end_ns > r->start_ns ? (double)(r->end_ns - r->start_ns) / 1e9 : 0;
	size_t b = 0;

	s->total++;
	s->by_outcome[oc]++;
	if (r->restart)
		s->restarts++;
	if (r->oom_killed)
		s->oom_kills++;
	while (b < JM_SLI_RUN_BOUNDS && dur > jm_sli_run_bounds[b])
		b++;
	s->duration_buckets[b]++;
	s->duration_s_sum += dur;
}

void jm_sli_db_add(struct jm_sli_db *s, const struct jm_db_stats *d)
{
	s->queries = jm_sli_add_sat(s->queries, d->queries);
	s->errors = jm_sli_add_sat(s->errors, d->errors);
	s->rows = jm_sli_add_sat(s->rows, d->rows);
	s->rows_unknown = jm_sli_add_sat(s->rows_unknown, d->rows_unknown);
	s->conns_unreadable = jm_sli_add_sat(s->conns_unreadable, d->conns_unreadable);
	s->latency_s_sum += jm_sli_pos(d->latency_s_sum);
	jm_hist_merge(s->buckets, d->latency_buckets);
}

void jm_sli_loss_reasons(const struct jm_loss *l, struct jm_sli_reason out[JM_SLI_LOSS_REASONS])
{
	/* payload_truncated is not loss (head and tail are kept by design):
	 * the exporters publish it as a family of its own. */
	const struct jm_sli_reason r[JM_SLI_LOSS_REASONS] = {
		{ "ringbuf_full", l->ringbuf_drops },
		{ "map_full", l->map_full },
		{ "payload_dropped", l->payload_drops },
		{ "parse_error", l->parse_errors },
		{ "statements_overflow", l->statements_overflow },
		{ "jobs_overflow", l->jobs_overflow },
		{ "spool_dropped_batches", l->spool_dropped_batches },
		{ "exits_synthesized", l->exits_synthesized },
	};
	for (size_t i = 0; i < JM_SLI_LOSS_REASONS; i++)
		out[i] = r[i];
}
