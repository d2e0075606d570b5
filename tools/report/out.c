/* Output helpers: see out.h. */
#include "tools/report/out.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agent/utf8.h"

bool jm_rep_fmt_double(double v, char *buf, size_t n)
{
	if (!isfinite(v)) {
		if (n)
			buf[0] = '\0';
		return false;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return true;
}

void jm_rep_fmt_bytes(double b, char *buf, size_t n)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	int u = 0;

	if (!isfinite(b)) {
		snprintf(buf, n, "-");
		return;
	}
	while (b >= 1024 && u < 6) {
		b /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%.0f B", b);
	else
		snprintf(buf, n, "%.*f %s", b < 10 ? 2 : b < 100 ? 1 : 0, b, unit[u]);
}

void jm_rep_fmt_money(double v, char *buf, size_t n)
{
	double a = fabs(v);

	if (!isfinite(v))
		snprintf(buf, n, "-");
	else if (a == 0)
		snprintf(buf, n, "0");
	else if (a >= 100)
		snprintf(buf, n, "%.2f", v);
	else if (a >= 1)
		snprintf(buf, n, "%.3f", v);
	else if (a < 0.000001)
		/* Below a millionth: immaterial to a cost review, and its
		 * digits (0.000000082) would not fit a 10-wide column, which
		 * cut them to "0.0000000~".  JSON and CSV keep the figure. */
		snprintf(buf, n, "%s<0.000001", v < 0 ? "-" : "");
	else {
		/* Three significant digits, never an exponent: 0.00316, at
		 * most 0.00000xyz (10 characters). */
		int dec = 2 - (int)floor(log10(a));

		snprintf(buf, n, "%.*f", dec > 8 ? 8 : dec, v);
	}
}

void jm_rep_fmt_pct(double r, char *buf, size_t n)
{
	/* Below 100% the figure is cut, not rounded: a success rate of
	 * 99.995% next to a 99.999% target must not read "100.00%".  (The
	 * epsilon keeps 0.995, which is 0.99499... in binary, at 99.5%.) */
	if (!isfinite(r))
		snprintf(buf, n, "-");
	else if (r >= 0.9995 && r < 1)
		snprintf(buf, n, "%.2f%%", floor(r * 10000 + 1e-6) / 100);
	else if (r >= 0 && r < 1)
		snprintf(buf, n, "%.1f%%", floor(r * 1000 + 1e-6) / 10);
	else
		snprintf(buf, n, "%.1f%%", r * 100);
}

void jm_rep_fmt_ending(bool oom_killed, bool unknown, int signal, int exit_code, char *buf, size_t n)
{
	const char *abbrev = signal > 0 ? sigabbrev_np(signal) : NULL;

	if (oom_killed)
		snprintf(buf, n, "OOM kill");
	else if (unknown)
		snprintf(buf, n, "exit unseen");
	else if (abbrev)
		snprintf(buf, n, "SIG%s", abbrev);
	else if (signal > 0)
		snprintf(buf, n, "signal %d", signal);
	else
		snprintf(buf, n, "exit %d", exit_code);
}

void jm_rep_fmt_pct_bad(double r, char *buf, size_t n)
{
	/* An error rate is rounded up, as a success rate is cut: 2 errors in
	 * 3 read 66.7%, and one in 10,000 does not read 0.0%. */
	if (!isfinite(r))
		snprintf(buf, n, "-");
	else if (r <= 0)
		snprintf(buf, n, "0.0%%");
	else if (r < 0.0001)
		snprintf(buf, n, "<0.01%%");
	else if (r < 0.001)
		snprintf(buf, n, "%.2f%%", ceil(r * 10000 - 1e-6) / 100);
	else if (r < 0.999)
		snprintf(buf, n, "%.1f%%", ceil(r * 1000 - 1e-6) / 10);
	else if (r < 1)                     /* never "100.0%" unless all failed */
		snprintf(buf, n, "%.2f%%", fmin(ceil(r * 10000 - 1e-6), 9999) / 100);
	else
		snprintf(buf, n, "%.1f%%", r * 100);
}

void jm_rep_csv_field(FILE *f, const char *s)
{
	size_t len = strlen(s);
	bool quote = len && (s[0] == ' ' || s[len - 1] == ' ');
	/* A job name is anyone's text, and a spreadsheet runs a cell that
	 * starts like a formula: such a field gets a leading apostrophe
	 * (the usual neutralisation; the report's own numbers never pass
	 * through here). */
	bool formula = len && strchr("=+-@\t\r", s[0]);

	for (const char *p = s; *p && !quote; p++)
		quote = *p == ',' || *p == '"' || *p == '\r' || *p == '\n';
	if (!quote) {
		if (formula)
			fputc('\'', f);
		fputs(s, f);
		return;
	}
	fputc('"', f);
	if (formula)
		fputc('\'', f);
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			fputc('"', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

void jm_rep_html(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			/* Control characters have no business in HTML text. */
			if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
				fputc('?', f);
			else
				fputc(*s, f);
		}
	}
}

void jm_rep_json_str(FILE *f, const char *s)
{
	size_t len = strlen(s);

	fputc('"', f);
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		size_t k = jm_utf8_seq_len((const unsigned char *)s + i, len - i);

		/* JSON text is UTF-8 (RFC 8259): a byte that starts no
		 * well-formed sequence -- a --db path or --job name in Latin-1,
		 * say -- would make the whole document unreadable to a strict
		 * parser, so it becomes U+FFFD. */
		if (k == 0)
			fputs("\\ufffd", f);
		else if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fwrite(s + i, 1, k, f);
		i += k ? k : 1;
	}
	fputc('"', f);
}

void jm_rep_json_num(FILE *f, double v)
{
	char b[40];

	fputs(jm_rep_fmt_double(v, b, sizeof(b)) ? b : "null", f);
}

void jm_rep_md_cell(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '&')
			fputs("&amp;", f);
		else if (c == '<')
			fputs("&lt;", f);
		else if (c == '>')
			fputs("&gt;", f);
		else if (c == '\n' || c == '\r' || c == '\t')
			fputc(' ', f);
		else if (c < 0x20 || c == 0x7f)
			fputc('?', f);
		else if (c == 0xc2 && (unsigned char)s[1] >= 0x80 && (unsigned char)s[1] <= 0x9f) {
			fputc('?', f);          /* C1 control (U+009B is CSI), as in text */
			s++;
		}
		else if (strchr("\\`*_[]|~", c))
			fprintf(f, "\\%c", c);
		else
			fputc(c, f);
	}
}

size_t jm_rep_text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Write the code point at p, a control character as '?', and return the
 * bytes it took.  Controls are C0, DEL and C1 (U+0080..U+009F, in UTF-8
 * 0xC2 0x80..0x9F): terminals that decode UTF-8 obey C1 too -- U+009B is
 * CSI, so a job name holding it could recolour or rewrite the screen. */
static size_t text_cp(FILE *f, const char *p)
{
	unsigned char c = (unsigned char)p[0];
	size_t n = 1;

	if (c == 0xc2 && (unsigned char)p[1] >= 0x80 && (unsigned char)p[1] <= 0x9f) {
		fputc('?', f);
		return 2;
	}
	fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
	while (((unsigned char)p[n] & 0xc0) == 0x80)
		fputc(p[n++], f);
	return n;
}

void jm_rep_text_cell(FILE *f, const char *s, int width, bool right)
{
	size_t w = jm_rep_text_width(s), cut = (size_t)width;
	int pad;

	if (width <= 0)
		return;
	if (w > cut) {
		/* Keep width-1 code points, then '~'. */
		size_t cps = 0;
		const char *p = s;

		while (*p && cps < cut - 1) {
			p += text_cp(f, p);
			cps++;
		}
		fputc('~', f);
		return;
	}
	pad = width - (int)w;
	if (right)
		for (int i = 0; i < pad; i++)
			fputc(' ', f);
	for (const char *p = s; *p;)
		p += text_cp(f, p);
	if (!right)
		for (int i = 0; i < pad; i++)
			fputc(' ', f);
}

void jm_rep_text_header(FILE *f, const struct jm_rep_col *c, size_t n)
{
	const char *titles[32] = { 0 };
	int total = 0;

	for (size_t i = 0; i < n && i < 32; i++) {
		titles[i] = c[i].title;
		total += c[i].width + (i ? 1 : 0);
	}
	/* Same trimming of the last column as the rows. */
	jm_rep_text_row(f, c, n < 32 ? n : 32, titles);
	for (int i = 0; i < total; i++)
		fputc('-', f);
	fputc('\n', f);
}

void jm_rep_text_row(FILE *f, const struct jm_rep_col *c, size_t n, const char *const *cells)
{
	size_t last = 0;

	/* Stop after the last non-empty cell so no line ends in blanks. */
	for (size_t i = 0; i < n; i++)
		if (cells[i] && cells[i][0])
			last = i;
	for (size_t i = 0; i <= last && i < n; i++) {
		const char *s = cells[i] ? cells[i] : "";

		if (i)
			fputc(' ', f);
		if (i == last && !c[i].right && jm_rep_text_width(s) <= (size_t)c[i].width)
			jm_rep_text_cell(f, s, (int)jm_rep_text_width(s), false);
		else
			jm_rep_text_cell(f, s, c[i].width, c[i].right);
	}
	fputc('\n', f);
}
