/* Output helpers shared by the renderers: number formatting (shortest
 * round-trip doubles, human units), escaping for CSV (RFC 4180), HTML,
 * JSON and Markdown, and fixed-width text cells that never exceed their
 * width (so a line-width test can hold every text report to its limit). */
#ifndef JM_REP_OUT_H
#define JM_REP_OUT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Shortest "%.Ng" (N = 15..17) that reads back to exactly v.  Returns
 * false (buf = "") for NaN and infinities. */
bool jm_rep_fmt_double(double v, char *buf, size_t n);
/* 1.5 KiB, 3.2 GiB ... */
void jm_rep_fmt_bytes(double bytes, char *buf, size_t n);
/* Money without currency: 1234.57, 12.346, 0.01234; "-" for NaN. */
void jm_rep_fmt_money(double v, char *buf, size_t n);
/* 99.5% ("-" for NaN). */
void jm_rep_fmt_pct(double ratio, char *buf, size_t n);
/* How a run that did not succeed ended: "OOM kill", "exit unseen" (its
 * outcome is unknown), "SIGKILL" (or "signal N"), "exit N". */
void jm_rep_fmt_ending(bool oom_killed, bool unknown, int signal, int exit_code, char *buf, size_t n);
/* The same for a ratio that is bad news (an error rate): rounded up. */
void jm_rep_fmt_pct_bad(double ratio, char *buf, size_t n);

/* One CSV field (quoted when it holds , " CR LF or edge spaces). */
void jm_rep_csv_field(FILE *f, const char *s);
/* HTML text/attribute escape: & < > " '. */
void jm_rep_html(FILE *f, const char *s);
/* A JSON string literal, quotes included. */
void jm_rep_json_str(FILE *f, const char *s);
/* A JSON number or null. */
void jm_rep_json_num(FILE *f, double v);
/* A Markdown table cell: markdown punctuation backslash-escaped, & < >
 * as entities, line breaks as spaces. */
void jm_rep_md_cell(FILE *f, const char *s);

/* Text cells: s sanitised (control characters -> '?'), cut to width
 * columns (UTF-8 aware, '~' marks a cut), padded left or right. */
void jm_rep_text_cell(FILE *f, const char *s, int width, bool right);
/* Display width in terminal columns of a UTF-8 string: code points, East
 * Asian wide ones 2, combining marks 0. */
size_t jm_rep_text_width(const char *s);

struct jm_rep_col {
	const char *title;
	int width;
	bool right;
};
/* Print a rule (dashes) as wide as a table of columns. */
void jm_rep_text_rule(FILE *f, const struct jm_rep_col *c, size_t n);
/* Print a header line and a rule for a table of columns. */
void jm_rep_text_header(FILE *f, const struct jm_rep_col *c, size_t n);
/* Print one row of n cells. */
void jm_rep_text_row(FILE *f, const struct jm_rep_col *c, size_t n, const char *const *cells);
#endif
