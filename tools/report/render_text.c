/* Plain-text renderer: see render.h. */
#include "tools/report/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/report/tables.h"

/* A free-form line, cut (never wrapped) at the width limit. */
static void line(FILE *f, const char *s)
{
	if (jm_rep_text_width(s) > JM_REP_TEXT_WIDTH)
		jm_rep_text_cell(f, s, JM_REP_TEXT_WIDTH, false);
	else
		jm_rep_text_cell(f, s, (int)jm_rep_text_width(s), false);
	fputc('\n', f);
}

int jm_rep_render_text(FILE *f, const struct jm_rep_report *r)
{
	struct jm_rep_fact facts[JM_REP_N_FACTS];
	struct jm_rep_table *t;
	size_t n;

	if (jm_rep_tables_build(r, &t, &n))
		return -1;
	if (jm_rep_facts(r, facts)) {
		jm_rep_tables_free(t, n);
		return -1;
	}
	line(f, "jobmeter report");
	for (int i = 0; i < JM_REP_N_FACTS; i++) {
		char *buf;

		/* Whole, then cut to the line width by line() (with '~'). */
		if (asprintf(&buf, "  %-9s %s", facts[i].label, facts[i].value) < 0) {
			jm_rep_facts_free(facts);
			jm_rep_tables_free(t, n);
			return -1;
		}
		line(f, buf);
		free(buf);
	}
	jm_rep_facts_free(facts);
	for (size_t i = 0; i < n; i++) {
		const struct jm_rep_table *x = &t[i];
		const char *cells[16];

		fputc('\n', f);
		{
			char title[200];
			size_t k;

			snprintf(title, sizeof(title), "%s", x->title);
			for (k = 0; title[k]; k++)
				if (title[k] >= 'a' && title[k] <= 'z')
					title[k] = (char)(title[k] - 'a' + 'A');
			line(f, title);
		}
		if (x->note[0]) {
			char note[300];

			snprintf(note, sizeof(note), "(%s)", x->note);
			line(f, note);
		}
		if (x->nrows == 0) {
			line(f, "  (none)");
			continue;
		}
		jm_rep_text_header(f, x->cols, x->ncols);
		for (size_t row = 0; row < x->nrows; row++) {
			/* Summary rows (__idle__, TOTAL) go under a rule: their
			 * labels are text a job could be named too, a rule
			 * line no job row can be. */
			if (x->kind[row] == JM_ROW_SUMMARY && (row == 0 || x->kind[row - 1] != JM_ROW_SUMMARY))
				jm_rep_text_rule(f, x->cols, x->ncols);
			for (size_t c = 0; c < x->ncols && c < 16; c++)
				cells[c] = x->cells[row * x->ncols + c];
			jm_rep_text_row(f, x->cols, x->ncols, cells);
		}
	}
	jm_rep_tables_free(t, n);
	return ferror(f) ? -1 : 0;
}
