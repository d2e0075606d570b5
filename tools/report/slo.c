/* SLO file and error-budget arithmetic: see slo.h. */
#include "tools/report/slo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/report/timefmt.h"
#include "tools/report/yamlcfg.h"

double jm_rep_burn_rate(uint64_t bad, uint64_t total, double target)
{
	if (total == 0 || !(target < 1))
		return NAN;
	return ((double)bad / (double)total) / (1.0 - target);
}

double jm_rep_budget_remaining(uint64_t bad, uint64_t total, double target)
{
	if (total == 0 || !(target < 1))
		return NAN;
	return 1.0 - ((double)bad / (double)total) / (1.0 - target);
}

void jm_rep_slo_free(struct jm_rep_slo_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		free(f->entries[i].job);
	free(f->entries);
	free(f->path);
	free(f);
}

static int parse_spec(yaml_document_t *doc, yaml_node_t *m, const char *path, const char *job,
		      struct jm_rep_slo_spec *s, char *err, size_t err_len)
{
	memset(s, 0, sizeof(*s));
	if (m->type != YAML_MAPPING_NODE) {
		snprintf(err, err_len, "%s: '%s' must map objective names to targets", path, job);
		return -1;
	}
	for (yaml_node_pair_t *kv = m->data.mapping.pairs.start; kv < m->data.mapping.pairs.top; kv++) {
		const char *k = jm_rep_yaml_scalar(doc, kv->key), *v = jm_rep_yaml_scalar(doc, kv->value);
		int64_t ns;
		double x;

		if (!k || !v) {
			snprintf(err, err_len, "%s: '%s': keys and values must be scalars", path, job);
			return -1;
		}
		if (strcmp(k, "success_rate") == 0) {
			if (jm_rep_yaml_number(v, &x) || !(x > 0 && x < 1)) {
				snprintf(err, err_len, "%s: '%s': success_rate must be in (0, 1), got '%s'", path, job, v);
				return -1;
			}
			s->has_success = true;
			s->success_rate = x;
		} else if (strcmp(k, "freshness_max_age") == 0 || strcmp(k, "query_p95_latency") == 0) {
			if (jm_rep_parse_duration(v, &ns) || ns <= 0) {
				snprintf(err, err_len, "%s: '%s': %s must be a duration like 26h or 500ms, got '%s'",
					 path, job, k, v);
				return -1;
			}
			if (k[0] == 'f') {
				s->has_freshness = true;
				s->freshness_max_age_s = (double)ns / 1e9;
			} else {
				s->has_latency = true;
				s->query_p95_latency_s = (double)ns / 1e9;
			}
		} else if (strcmp(k, "cost_per_day") == 0) {
			if (jm_rep_yaml_number(v, &x) || x < 0) {
				snprintf(err, err_len, "%s: '%s': cost_per_day must be a number >= 0, got '%s'", path, job, v);
				return -1;
			}
			s->has_cost = true;
			s->cost_per_day = x;
		} else {
			snprintf(err, err_len, "%s: '%s': unknown objective '%s' (known: success_rate,"
				 " freshness_max_age, query_p95_latency, cost_per_day)", path, job, k);
			return -1;
		}
	}
	return 0;
}

int jm_rep_slo_load(const char *path, struct jm_rep_slo_file **out, char *err, size_t err_len)
{
	struct jm_rep_slo_file *f = NULL;
	yaml_document_t doc;
	yaml_node_t *root;
	size_t n;
	int rc = -1;

	*out = NULL;
	if (jm_rep_yaml_load(path, &doc, err, err_len))
		return -1;
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path))) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {   /* an empty file: no objectives */
		rc = 0;
		goto out;
	}
	if (root->type != YAML_MAPPING_NODE) {
		snprintf(err, err_len, "%s: expected a mapping of job names (or \"*\") to objectives", path);
		goto out;
	}
	n = (size_t)(root->data.mapping.pairs.top - root->data.mapping.pairs.start);
	f->entries = calloc(n ? n : 1, sizeof(*f->entries));
	if (!f->entries) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	for (yaml_node_pair_t *kv = root->data.mapping.pairs.start; kv < root->data.mapping.pairs.top; kv++) {
		const char *job = jm_rep_yaml_scalar(&doc, kv->key);
		struct jm_rep_slo_entry *e = &f->entries[f->n];

		if (!job || !*job) {
			snprintf(err, err_len, "%s: job names must be non-empty scalars", path);
			goto out;
		}
		for (size_t i = 0; i < f->n; i++) {
			if (strcmp(f->entries[i].job, job) == 0) {
				snprintf(err, err_len, "%s: job '%s' appears twice", path, job);
				goto out;
			}
		}
		if (parse_spec(&doc, yaml_document_get_node(&doc, kv->value), path, job, &e->spec, err, err_len))
			goto out;
		if (!(e->job = strdup(job))) {
			snprintf(err, err_len, "out of memory");
			goto out;
		}
		f->n++;
	}
	rc = 0;
out:
	yaml_document_delete(&doc);
	if (rc)
		jm_rep_slo_free(f);
	else
		*out = f;
	return rc;
}

void jm_rep_slo_effective(const struct jm_rep_slo_file *f, const char *job, struct jm_rep_slo_spec *out)
{
	const struct jm_rep_slo_spec *def = NULL, *own = NULL;

	memset(out, 0, sizeof(*out));
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->entries[i].job, "*") == 0)
			def = &f->entries[i].spec;
		else if (strcmp(f->entries[i].job, job) == 0)
			own = &f->entries[i].spec;
	}
	if (def)
		*out = *def;
	if (own) {
		if (own->has_success) { out->has_success = true; out->success_rate = own->success_rate; }
		if (own->has_freshness) { out->has_freshness = true; out->freshness_max_age_s = own->freshness_max_age_s; }
		if (own->has_latency) { out->has_latency = true; out->query_p95_latency_s = own->query_p95_latency_s; }
		if (own->has_cost) { out->has_cost = true; out->cost_per_day = own->cost_per_day; }
	}
}
