/* Inline SVG charts: see svg.h. */
#include "tools/report/svg.h"

#include <math.h>
#include <string.h>

#include "tools/report/out.h"

#define BAR_W       760
#define BAR_LABEL_W 250
#define BAR_AREA_W  380
#define BAR_ROW_H   22

/* Labels longer than this are cut in the chart (the full text is in the
 * element's <title> tooltip). */
#define LABEL_CHARS 38

static void label_text(FILE *f, const char *s)
{
	char buf[LABEL_CHARS * 4 + 8];
	size_t cps = 0, i = 0;
	const char *p = s;

	while (*p && cps < LABEL_CHARS && i + 5 < sizeof(buf)) {
		buf[i++] = *p++;
		while (((unsigned char)*p & 0xc0) == 0x80 && i + 1 < sizeof(buf))
			buf[i++] = *p++;
		cps++;
	}
	if (*p && i + 4 < sizeof(buf)) {
		memcpy(buf + i, "\xe2\x80\xa6", 3);   /* ellipsis */
		i += 3;
	}
	buf[i] = '\0';
	jm_rep_html(f, buf);
}

void jm_rep_svg_bars(FILE *f, const char *aria, const struct jm_rep_bar *b, size_t n)
{
	double max = 0;
	int h = (int)n * BAR_ROW_H + 10;

	for (size_t i = 0; i < n; i++) {
		if (b[i].value > max)
			max = b[i].value;
		if (!isnan(b[i].marker) && b[i].marker > max)
			max = b[i].marker;
	}
	fprintf(f, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
		   " viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", BAR_W, h, BAR_W, h);
	jm_rep_html(f, aria);
	fputs("\">\n", f);
	for (size_t i = 0; i < n; i++) {
		int y = 5 + (int)i * BAR_ROW_H;
		double w = max > 0 && b[i].value > 0 ? b[i].value / max * BAR_AREA_W : 0;
		const char *fill = b[i].alert ? "#d1495b" : b[i].muted ? "#b8b8b8" : "#3d6fb6";

		fputs("<g><title>", f);
		jm_rep_html(f, b[i].label);
		fputs(": ", f);
		jm_rep_html(f, b[i].value_text ? b[i].value_text : "");
		fputs("</title>", f);
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"lbl\">", BAR_LABEL_W - 8, y + 15);
		label_text(f, b[i].label);
		fprintf(f, "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" rx=\"2\"/>",
			BAR_LABEL_W, y + 3, w < 1 && b[i].value > 0 ? 1.0 : w, BAR_ROW_H - 6, fill);
		if (!isnan(b[i].marker) && max > 0) {
			double mx = BAR_LABEL_W + b[i].marker / max * BAR_AREA_W;

			fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#222\""
				   " stroke-dasharray=\"3,2\"/>", mx, mx, y + 1, y + BAR_ROW_H - 1);
		}
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"val\">", BAR_LABEL_W + BAR_AREA_W + 8, y + 15);
		jm_rep_html(f, b[i].value_text ? b[i].value_text : "");
		fputs("</text></g>\n", f);
	}
	fputs("</svg>\n", f);
}

#define LINE_W 760
#define LINE_H 260
#define PAD_L  80
#define PAD_R  40   /* room for half of the last date label */
#define PAD_T  15
#define PAD_B  45

void jm_rep_svg_line(FILE *f, const char *aria, const char *const *xl, const double *y, size_t n,
		     void (*y_text)(double, char *, size_t))
{
	double max = 0, pw = LINE_W - PAD_L - PAD_R, ph = LINE_H - PAD_T - PAD_B;
	size_t step = n > 12 ? (n + 11) / 12 : 1;

	for (size_t i = 0; i < n; i++)
		if (y[i] > max)
			max = y[i];
	if (max <= 0)
		max = 1;
	fprintf(f, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
		   " viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", LINE_W, LINE_H, LINE_W, LINE_H);
	jm_rep_html(f, aria);
	fputs("\">\n", f);
	/* grid and y axis labels */
	for (int k = 0; k <= 4; k++) {
		double v = max * k / 4, yy = PAD_T + ph - ph * k / 4;
		char b[32];

		y_text(v, b, sizeof(b));
		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
			   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" class=\"lbl\">", PAD_L, LINE_W - PAD_R,
			yy, yy, PAD_L - 6, yy + 4);
		jm_rep_html(f, b);
		fputs("</text>\n", f);
	}
	if (n == 0) {
		fputs("</svg>\n", f);
		return;
	}
	fputs("<polyline fill=\"none\" stroke=\"#3d6fb6\" stroke-width=\"2\" points=\"", f);
	for (size_t i = 0; i < n; i++) {
		double x = PAD_L + (n > 1 ? pw * (double)i / (double)(n - 1) : pw / 2);

		fprintf(f, "%s%.1f,%.1f", i ? " " : "", x, PAD_T + ph - ph * (y[i] > 0 ? y[i] : 0) / max);
	}
	fputs("\"/>\n", f);
	for (size_t i = 0; i < n; i++) {
		double x = PAD_L + (n > 1 ? pw * (double)i / (double)(n - 1) : pw / 2);
		double yy = PAD_T + ph - ph * (y[i] > 0 ? y[i] : 0) / max;
		char b[32];

		y_text(y[i], b, sizeof(b));
		fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#e07b39\"><title>", x, yy);
		jm_rep_html(f, xl[i]);
		fputs(": ", f);
		jm_rep_html(f, b);
		fputs("</title></circle>\n", f);
		/* Every step-th label plus the last one; a regular label too
		 * close to the last is dropped so the two never overlap. */
		if ((i % step == 0 && (i == n - 1 || n - 1 - i >= step)) || i == n - 1) {
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" class=\"lbl\">", x,
				LINE_H - PAD_B + 18);
			jm_rep_html(f, xl[i]);
			fputs("</text>\n", f);
		}
	}
	fputs("</svg>\n", f);
}
