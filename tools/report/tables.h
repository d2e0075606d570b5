/* The human-readable report as a list of formatted tables (cells already
 * turned into strings with units), shared by the text, Markdown and HTML
 * renderers so that they show the same figures the same way.  CSV and JSON
 * carry raw numbers instead and do not use this. */
#ifndef JM_REP_TABLES_H
#define JM_REP_TABLES_H
#include <stdbool.h>
#include <stddef.h>

#include "tools/report/out.h"
#include "tools/report/report.h"

enum jm_rep_row_kind { JM_ROW_NORMAL = 0, JM_ROW_SUMMARY, JM_ROW_ALERT };

struct jm_rep_table {
	const char *id;                 /* stable anchor: "jobs", "cost", ... */
	char title[128];
	char note[256];                 /* one line under the title, may be "" */
	size_t ncols;
	const struct jm_rep_col *cols;  /* text widths and alignment */
	size_t text_only_col;           /* a column only the text renderer shows (ncols = none) */
	size_t nrows, cap;
	char **cells;                   /* nrows * ncols */
	unsigned char *kind;            /* enum jm_rep_row_kind per row */
};

/* Header facts: "label: value" lines (period, database, prices, totals).
 * Each value is allocated to its length: a --job name or a file path can
 * be longer than any fixed buffer, and a fact is never cut here (the text
 * renderer cuts its lines visibly, with '~'). */
struct jm_rep_fact {
	const char *label;
	char *value;
};
#define JM_REP_N_FACTS 5

int jm_rep_tables_build(const struct jm_rep_report *r, struct jm_rep_table **out, size_t *n)
	__attribute__((warn_unused_result));
void jm_rep_tables_free(struct jm_rep_table *t, size_t n);
/* Fill facts; 0, or -1 out of memory (nothing left to free then).  Free
 * with jm_rep_facts_free. */
int jm_rep_facts(const struct jm_rep_report *r, struct jm_rep_fact facts[JM_REP_N_FACTS])
	__attribute__((warn_unused_result));
void jm_rep_facts_free(struct jm_rep_fact facts[JM_REP_N_FACTS]);
const char *jm_rep_verdict_name(enum jm_rep_verdict v);
#endif
