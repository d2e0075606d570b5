/* Report renderers.  Each writes one complete document to f and returns 0,
 * or -1 when writing failed (ferror).  All take the analysed report. */
#ifndef JM_REP_RENDER_H
#define JM_REP_RENDER_H
#include <stdio.h>

#include "tools/report/report.h"

/* Plain text; every line fits in JM_REP_TEXT_WIDTH columns. */
#define JM_REP_TEXT_WIDTH 120
int jm_rep_render_text(FILE *f, const struct jm_rep_report *r) __attribute__((warn_unused_result));
/* RFC 4180 CSV: one row per job plus an __idle__ row, CRLF line ends; the
 * last column, record, is "job" or "idle". */
int jm_rep_render_csv(FILE *f, const struct jm_rep_report *r) __attribute__((warn_unused_result));
/* GitHub-flavoured Markdown tables. */
int jm_rep_render_md(FILE *f, const struct jm_rep_report *r) __attribute__((warn_unused_result));
/* JSON with a fixed key order; doubles at full (round-trip) precision. */
int jm_rep_render_json(FILE *f, const struct jm_rep_report *r) __attribute__((warn_unused_result));
/* One self-contained HTML file: inline CSS and SVG, no external assets. */
int jm_rep_render_html(FILE *f, const struct jm_rep_report *r) __attribute__((warn_unused_result));
#endif
