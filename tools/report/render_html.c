/* HTML renderer: see render.h.  One file, no script, no external asset: a
 * Content-Security-Policy that forbids loading anything makes that
 * checkable by the browser.  Every string from the database goes through
 * jm_rep_html. */
#include "tools/report/render.h"

#include <math.h>
#include <stdlib.h>

#include "tools/report/out.h"
#include "tools/report/svg.h"
#include "tools/report/tables.h"
#include "tools/report/timefmt.h"

/* Charts show at most this many bars (the tables below have all rows). */
#define MAX_BARS 25

static const char css[] =
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;"
	"max-width:1180px;color:#1d2330;background:#fff;padding:0 16px}"
	"h1{font-size:24px;margin:0 0 8px;color:#13315c}"
	"h2{font-size:18px;margin:28px 0 4px;color:#13315c;border-bottom:2px solid #e3e8f0;padding-bottom:3px}"
	"dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;background:#f4f6fa;"
	"padding:10px 14px;border-radius:6px}"
	"dl.facts dt{font-weight:600;color:#4a5568}dl.facts dd{margin:0;word-break:break-all}"
	"p.note{margin:2px 0 8px;color:#5a6473;font-size:13px}"
	"table{border-collapse:collapse;width:100%;font-size:13px;margin-bottom:6px}"
	"th{background:#13315c;color:#fff;text-align:left;padding:5px 8px;font-weight:600}"
	"td{padding:4px 8px;border-bottom:1px solid #e3e8f0;vertical-align:top;word-break:break-word}"
	"tr:nth-child(even) td{background:#f8f9fc}"
	"td.r,th.r{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
	"tr.alert td{background:#fde8ea;color:#8a1c2b}"
	"tr.summary td{font-weight:600;background:#eef2f8}"
	".charts{display:flex;flex-wrap:wrap;gap:18px}"
	".chart{background:#fbfcfe;border:1px solid #e3e8f0;border-radius:6px}"
	".lbl{font-size:11px;fill:#3a4250}.val{font-size:11px;fill:#1d2330}"
	".none{color:#8a93a3;font-style:italic}";

static void money_axis(double v, char *b, size_t n)
{
	jm_rep_fmt_money(v, b, n);
}

static void cost_chart(FILE *f, const struct jm_rep_report *r)
{
	struct jm_rep_bar bars[MAX_BARS];
	char texts[MAX_BARS][32], idle[32];
	size_t n = 0;

	for (size_t i = 0; i < r->n_jobs && n < MAX_BARS; i++, n++) {
		jm_rep_fmt_money(r->jobs[i].cost.total, texts[n], sizeof(texts[n]));
		bars[n] = (struct jm_rep_bar){ r->jobs[i].name, r->jobs[i].cost.total, texts[n],
					       r->jobs[i].slo.cost == JM_REP_MISSED, false, NAN };
	}
	fputs("<section id=\"chart-cost\"><h2>Cost per job (", f);
	jm_rep_html(f, r->prices.currency);
	/* Says how many bars there are: "the 25 most expensive of 13" was
	 * what a report with fewer jobs than bars used to claim. */
	if (n < r->n_jobs)
		fprintf(f, ")</h2><p class=\"note\">the %zu most expensive jobs of %zu</p>\n", n, r->n_jobs);
	else
		fprintf(f, ")</h2><p class=\"note\">all %zu jobs, most expensive first</p>\n", n);
	if (n)
		jm_rep_svg_bars(f, "cost per job", bars, n);
	else
		fputs("<p class=\"none\">(no runs in the period)</p>\n", f);
	/* Idle capacity is often far larger than any job: on the bars' scale
	 * it would flatten them, so it is stated, not drawn. */
	jm_rep_fmt_money(r->idle.cost.total, idle, sizeof(idle));
	fprintf(f, "<p class=\"note\">__idle__ (host capacity no job used): <b>%s ", idle);
	jm_rep_html(f, r->prices.currency);
	fputs("</b>; all jobs: ", f);
	jm_rep_fmt_money(r->total_cost.total, idle, sizeof(idle));
	fprintf(f, "<b>%s ", idle);
	jm_rep_html(f, r->prices.currency);
	fputs("</b></p>\n", f);
	fputs("</section>\n", f);
}

static void trend_chart(FILE *f, const struct jm_rep_report *r)
{
	size_t n = r->n_days - r->first_period_day;
	char (*labels)[16] = calloc(n ? n : 1, sizeof(*labels));
	const char **xl = calloc(n ? n : 1, sizeof(*xl));

	fputs("<section id=\"chart-daily\"><h2>Daily cost trend (", f);
	jm_rep_html(f, r->prices.currency);
	fputs(")</h2><p class=\"note\">all jobs, per UTC day</p>\n", f);
	if (!labels || !xl) {
		fputs("<p class=\"none\">(out of memory)</p>", f);
	} else {
		for (size_t i = 0; i < n; i++) {
			jm_rep_format_day(r->first_day + (int64_t)(r->first_period_day + i), labels[i], sizeof(labels[i]));
			xl[i] = labels[i];
		}
		jm_rep_svg_line(f, "daily cost trend", xl, r->day_total_cost + r->first_period_day, n, money_axis);
	}
	fputs("</section>\n", f);
	free(labels);
	free(xl);
}

static void freshness_chart(FILE *f, const struct jm_rep_report *r)
{
	struct jm_rep_bar bars[MAX_BARS];
	char texts[MAX_BARS][32], *names[MAX_BARS] = { 0 };
	size_t n = 0;

	fputs("<section id=\"chart-freshness\"><h2>Dataset freshness</h2><p class=\"note\">hours since the"
	      " last write (dashed: the writer's freshness objective)</p>\n", f);
	for (size_t i = 0; i < r->n_datasets && n < MAX_BARS; i++, n++) {
		const struct jm_rep_dataset *d = &r->datasets[i];
		double age = (double)(r->to_ns - d->last_write_ns) / 1e9;

		/* The whole name for the tooltip (the label is cut on code
		 * points); without memory, the name alone. */
		if (asprintf(&names[n], "%s:%s", d->kind, d->name) < 0)
			names[n] = NULL;
		jm_rep_format_duration(age, texts[n], sizeof(texts[n]));
		bars[n] = (struct jm_rep_bar){ names[n] ? names[n] : d->name, age / 3600, texts[n],
					       !isnan(d->max_age_s) && age > d->max_age_s,
					       false, isnan(d->max_age_s) ? NAN : d->max_age_s / 3600 };
	}
	if (n)
		jm_rep_svg_bars(f, "dataset freshness", bars, n);
	else
		fputs("<p class=\"none\">(no output datasets recorded)</p>\n", f);
	fputs("</section>\n", f);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

static void table(FILE *f, const struct jm_rep_table *t)
{
	fprintf(f, "<section id=\"%s\"><h2>", t->id);
	jm_rep_html(f, t->title);
	fputs("</h2>", f);
	if (t->note[0]) {
		fputs("<p class=\"note\">", f);
		jm_rep_html(f, t->note);
		fputs("</p>", f);
	}
	fputc('\n', f);
	if (t->nrows == 0) {
		fputs("<p class=\"none\">(none)</p></section>\n", f);
		return;
	}
	fputs("<table><thead><tr>", f);
	for (size_t c = 0; c < t->ncols; c++) {
		if (c == t->text_only_col)
			continue;
		fprintf(f, "<th%s>", t->cols[c].right ? " class=\"r\"" : "");
		jm_rep_html(f, t->cols[c].title);
		fputs("</th>", f);
	}
	fputs("</tr></thead><tbody>\n", f);
	for (size_t row = 0; row < t->nrows; row++) {
		fprintf(f, "<tr%s>", t->kind[row] == JM_ROW_ALERT ? " class=\"alert\""
				     : t->kind[row] == JM_ROW_SUMMARY ? " class=\"summary\"" : "");
		for (size_t c = 0; c < t->ncols; c++) {
			if (c == t->text_only_col)
				continue;
			fprintf(f, "<td%s>", t->cols[c].right ? " class=\"r\"" : "");
			jm_rep_html(f, t->cells[row * t->ncols + c]);
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table></section>\n", f);
}

int jm_rep_render_html(FILE *f, const struct jm_rep_report *r)
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
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>jobmeter report ", f);
	jm_rep_html(f, facts[0].value);
	fprintf(f, "</title>\n<style>%s</style></head>\n<body>\n<h1>jobmeter report</h1>\n<dl class=\"facts\">\n", css);
	for (int i = 0; i < JM_REP_N_FACTS; i++) {
		fputs("<dt>", f);
		jm_rep_html(f, facts[i].label);
		fputs("</dt><dd>", f);
		jm_rep_html(f, facts[i].value);
		fputs("</dd>\n", f);
	}
	fputs("</dl>\n", f);
	jm_rep_facts_free(facts);
	cost_chart(f, r);
	trend_chart(f, r);
	freshness_chart(f, r);
	for (size_t i = 0; i < n; i++)
		table(f, &t[i]);
	fputs("</body></html>\n", f);
	jm_rep_tables_free(t, n);
	return ferror(f) ? -1 : 0;
}
