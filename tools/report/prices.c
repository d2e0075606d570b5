/* Prices and cost arithmetic: see prices.h. */
#include "tools/report/prices.h"

#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "tools/report/yamlcfg.h"

void jm_rep_prices_default(struct jm_rep_prices *p)
{
	memset(p, 0, sizeof(*p));
	p->cpu_core_hour = JM_REP_PRICE_CPU_CORE_HOUR;
	p->memory_gib_hour = JM_REP_PRICE_MEMORY_GIB_HOUR;
	p->scan_tib = JM_REP_PRICE_SCAN_TIB;
	p->egress_gib = JM_REP_PRICE_EGRESS_GIB;
	snprintf(p->currency, sizeof(p->currency), "USD");
	snprintf(p->source, sizeof(p->source), "built-in defaults");
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int jm_rep_prices_load(const char *path, struct jm_rep_prices *p, char *err, size_t err_len)
{
	yaml_document_t doc;
	yaml_node_t *root;
	int rc = -1;

	if (jm_rep_yaml_load(path, &doc, err, err_len))
		return -1;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		snprintf(err, err_len, "%s: empty price file", path);
		goto out;
	}
	if (root->type != YAML_MAPPING_NODE) {
		snprintf(err, err_len, "%s: expected a mapping of price keys", path);
		goto out;
	}
	for (yaml_node_pair_t *kv = root->data.mapping.pairs.start; kv < root->data.mapping.pairs.top; kv++) {
		const char *k = jm_rep_yaml_scalar(&doc, kv->key), *v = jm_rep_yaml_scalar(&doc, kv->value);
		double *dst = NULL, x;

		if (!k || !v) {
			snprintf(err, err_len, "%s: keys and values must be scalars", path);
			goto out;
		}
		if (strcmp(k, "currency") == 0) {
			if (strlen(v) == 0 || strlen(v) >= sizeof(p->currency)) {
				snprintf(err, err_len, "%s: currency must be 1..15 characters", path);
				goto out;
			}
			/* a name or symbol (EUR, €), printed in every format as is */
			if (strpbrk(v, " \t<>&\"'`|\\*_[]") || has_control(v)) {
				snprintf(err, err_len, "%s: currency: no spaces, control characters"
					 " or markup characters (<>&\"'`|\\*_[])", path);
				goto out;
			}
			snprintf(p->currency, sizeof(p->currency), "%s", v);
			continue;
		}
		if (strcmp(k, "cpu_core_hour") == 0) dst = &p->cpu_core_hour;
		else if (strcmp(k, "memory_gib_hour") == 0) dst = &p->memory_gib_hour;
		else if (strcmp(k, "scan_tib") == 0) dst = &p->scan_tib;
		else if (strcmp(k, "egress_gib") == 0) dst = &p->egress_gib;
		if (!dst) {
			snprintf(err, err_len, "%s: unknown key '%s' (known: currency, cpu_core_hour,"
				 " memory_gib_hour, scan_tib, egress_gib)", path, k);
			goto out;
		}
		if (jm_rep_yaml_number(v, &x) || x < 0) {
			snprintf(err, err_len, "%s: %s must be a number >= 0 (got '%s')", path, k, v);
			goto out;
		}
		*dst = x;
	}
	snprintf(p->source, sizeof(p->source), "%s", path);
	rc = 0;
out:
	yaml_document_delete(&doc);
	return rc;
}

void jm_rep_cost_of(const struct jm_rep_prices *p, double cpu_s, double mem_gib_s,
		    uint64_t file_read_bytes, uint64_t net_tx_bytes, struct jm_rep_cost *out)
{
	out->cpu = cpu_s / 3600.0 * p->cpu_core_hour;
	out->memory = mem_gib_s / 3600.0 * p->memory_gib_hour;
	out->scan = (double)file_read_bytes / 1099511627776.0 * p->scan_tib;
	out->egress = (double)net_tx_bytes / 1073741824.0 * p->egress_gib;
	out->total = out->cpu + out->memory + out->scan + out->egress;
}
