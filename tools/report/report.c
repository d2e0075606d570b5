/* Report model helpers: job index, teardown.  See report.h. */
#include "tools/report/report.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Rebuild the open-addressing index with room for at least twice the jobs
 * plus one (load <= 50 %). */
static int index_build(struct jm_rep_report *r)
{
	size_t cap = 256, *idx;

	while (cap < (r->n_jobs + 1) * 2)
		cap *= 2;
	idx = calloc(cap, sizeof(*idx));

	if (!idx)
		return -1;
	for (size_t j = 0; j < r->n_jobs; j++) {
		size_t i = (size_t)(hash_name(r->jobs[j].name) & (cap - 1));

		while (idx[i])
			i = (i + 1) & (cap - 1);
		idx[i] = j + 1;
	}
	free(r->jidx);
	r->jidx = idx;
	r->jidx_cap = cap;
	return 0;
}

struct jm_rep_job *jm_rep_job_find(struct jm_rep_report *r, const char *name)
{
	size_t i;

	if (!r->jidx_cap)
		return NULL;
	for (i = (size_t)(hash_name(name) & (r->jidx_cap - 1)); r->jidx[i]; i = (i + 1) & (r->jidx_cap - 1))
		if (strcmp(r->jobs[r->jidx[i] - 1].name, name) == 0)
			return &r->jobs[r->jidx[i] - 1];
	return NULL;
}

struct jm_rep_job *jm_rep_job_get(struct jm_rep_report *r, const char *name)
{
	struct jm_rep_job *j = jm_rep_job_find(r, name);
	size_t i;

	if (j)
		return j;
	if ((r->n_jobs + 1) * 2 > r->jidx_cap && index_build(r))
		return NULL;
	if (r->n_jobs == r->cap_jobs) {
		size_t cap = r->cap_jobs ? r->cap_jobs * 2 : 64;
		struct jm_rep_job *nj = realloc(r->jobs, cap * sizeof(*nj));

		if (!nj)
			return NULL;
		r->jobs = nj;
		r->cap_jobs = cap;
	}
	j = &r->jobs[r->n_jobs];
	memset(j, 0, sizeof(*j));
	j->name = strdup(name);
	if (!j->name)
		return NULL;
	j->last_success_ns = 0;
	r->n_jobs++;
	for (i = (size_t)(hash_name(name) & (r->jidx_cap - 1)); r->jidx[i]; i = (i + 1) & (r->jidx_cap - 1))
		;
	r->jidx[i] = r->n_jobs;
	return j;
}

int jm_rep_jobs_reindex(struct jm_rep_report *r)
{
	return index_build(r);
}

const char *const jm_rep_loss_names[JM_REP_LOSS_N] = {
	"ringbuf_drops", "map_full", "payload_drops", "parse_errors", "statements_overflow",
	"jobs_overflow", "spool_dropped_batches", "exits_synthesized",
};

void jm_rep_report_free(struct jm_rep_report *r)
{
	for (size_t j = 0; j < r->n_jobs; j++) {
		struct jm_rep_job *x = &r->jobs[j];

		free(x->name);
		free(x->durations);
		for (size_t k = 0; k < x->n_stmts; k++)
			free(x->stmts[k].fingerprint);
		free(x->stmts);
		free(x->days);
		free(x->failures);
	}
	free(r->jobs);
	free(r->jidx);
	for (size_t d = 0; d < r->n_datasets; d++) {
		free(r->datasets[d].kind);
		free(r->datasets[d].name);
		free(r->datasets[d].job);
	}
	free(r->datasets);
	free(r->anomalies);
	for (size_t a = 0; a < r->n_agents; a++) {
		free(r->agents[a].agent_id);
		free(r->agents[a].host);
	}
	free(r->agents);
	free(r->day_total_cost);
	jm_rep_slo_free(r->slos);
	memset(r, 0, sizeof(*r));
}
