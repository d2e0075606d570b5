/* Markdown renderer (GitHub tables): see render.h. */
#include "tools/report/render.h"

#include "tools/report/tables.h"

int jm_rep_render_md(FILE *f, const struct jm_rep_report *r)
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
	fputs("# jobmeter report\n\n", f);
	for (int i = 0; i < JM_REP_N_FACTS; i++) {
		fprintf(f, "- **%s**: ", facts[i].label);
		jm_rep_md_cell(f, facts[i].value);
		fputc('\n', f);
	}
	jm_rep_facts_free(facts);
	for (size_t i = 0; i < n; i++) {
		const struct jm_rep_table *x = &t[i];

		fprintf(f, "\n## ");
		jm_rep_md_cell(f, x->title);
		fputs("\n\n", f);
		if (x->note[0]) {
			fputc('_', f);
			jm_rep_md_cell(f, x->note);
			fputs("_\n\n", f);
		}
		if (x->nrows == 0) {
			fputs("(none)\n", f);
			continue;
		}
		fputc('|', f);
		for (size_t c = 0; c < x->ncols; c++) {
			if (c == x->text_only_col)
				continue;
			fputc(' ', f);
			jm_rep_md_cell(f, x->cols[c].title);
			fputs(" |", f);
		}
		fputs("\n|", f);
		for (size_t c = 0; c < x->ncols; c++)
			if (c != x->text_only_col)
				fputs(x->cols[c].right ? " ---: |" : " --- |", f);
		fputc('\n', f);
		for (size_t row = 0; row < x->nrows; row++) {
			fputc('|', f);
			for (size_t c = 0; c < x->ncols; c++) {
				const char *cell = x->cells[row * x->ncols + c];

				if (c == x->text_only_col)
					continue;
				fputc(' ', f);
				if (x->kind[row] == JM_ROW_SUMMARY && c == 0 && cell[0])
					fputs("**", f);
				jm_rep_md_cell(f, cell);
				if (x->kind[row] == JM_ROW_SUMMARY && c == 0 && cell[0])
					fputs("**", f);
				fputs(" |", f);
			}
			fputc('\n', f);
		}
	}
	jm_rep_tables_free(t, n);
	return ferror(f) ? -1 : 0;
}
