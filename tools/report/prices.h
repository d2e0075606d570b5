/* Prices applied at report time to the raw figures the collector stored
 * (OpenCost-style inputs).  The collector stores no money: a new price file
 * re-prices history.
 *
 * Price file (YAML, every key optional, missing keys keep the default):
 *   currency: USD
 *   cpu_core_hour: 0.031611     # per core-hour of CPU time (cpu_s / 3600)
 *   memory_gib_hour: 0.004237   # per GiB-hour of resident memory (mem_gib_s / 3600)
 *   scan_tib: 5.0               # per TiB read from files (file_read_bytes / 2^40)
 *   egress_gib: 0.09            # per GiB sent on sockets (net_tx_bytes / 2^30)
 * The defaults are typical on-demand list prices (see
 * tools/report/prices.default.yaml); override them. */
#ifndef JM_REP_PRICES_H
#define JM_REP_PRICES_H
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define JM_REP_PRICE_CPU_CORE_HOUR   0.031611
#define JM_REP_PRICE_MEMORY_GIB_HOUR 0.004237
#define JM_REP_PRICE_SCAN_TIB        5.0
#define JM_REP_PRICE_EGRESS_GIB      0.09

struct jm_rep_prices {
	double cpu_core_hour, memory_gib_hour, scan_tib, egress_gib;
	char currency[16];
	/* "built-in defaults" or the file: PATH_MAX holds any path the file
	 * could be opened by (a longer one fails with ENAMETOOLONG first). */
	char source[PATH_MAX];
};

struct jm_rep_cost {
	double cpu, memory, scan, egress, total;
};

void jm_rep_prices_default(struct jm_rep_prices *p);
/* Load a price file over the defaults.  Unknown keys, negative or
 * non-numeric prices are errors (a typo must not silently price at 0). */
int jm_rep_prices_load(const char *path, struct jm_rep_prices *p, char *err, size_t err_len)
	__attribute__((warn_unused_result));
/* Cost of raw figures:
 *   cpu_s/3600 x cpu_core_hour + mem_gib_s/3600 x memory_gib_hour
 *   + file_read_bytes/2^40 x scan_tib + net_tx_bytes/2^30 x egress_gib */
void jm_rep_cost_of(const struct jm_rep_prices *p, double cpu_s, double mem_gib_s,
		    uint64_t file_read_bytes, uint64_t net_tx_bytes, struct jm_rep_cost *out);
#endif
