/* Inline SVG charts for the HTML report: horizontal bars and a line.  Every
 * label is HTML-escaped; charts have fixed pixel sizes so the page needs no
 * script or external asset. */
#ifndef JM_REP_SVG_H
#define JM_REP_SVG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct jm_rep_bar {
	const char *label;
	double value;            /* >= 0; the scale is the largest value */
	const char *value_text;  /* shown right of the bar */
	bool alert;              /* drawn in the alert colour */
	bool muted;              /* drawn grey (e.g. idle) */
	double marker;           /* a threshold tick on the bar's scale, NAN = none */
};

void jm_rep_svg_bars(FILE *f, const char *aria_label, const struct jm_rep_bar *bars, size_t n);
/* y[i] at x label xl[i]; y_text formats a y value for the axis. */
void jm_rep_svg_line(FILE *f, const char *aria_label, const char *const *xl, const double *y, size_t n,
		     void (*y_text)(double, char *, size_t));
#endif
