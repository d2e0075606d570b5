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

/* The explicit bidirectional formatting characters: embeddings and
 * overrides LRE RLE PDF LRO RLO (U+202A..U+202E) and isolates LRI RLI FSI
 * PDI (U+2066..U+2069).  A terminal or editor that applies the bidi
 * algorithm lets an override in a job name reverse the rest of the line --
 * the figures of that job's row included ("Trojan Source") -- so text and
 * Markdown show them as '?' like the controls.  (The implicit marks LRM,
 * RLM, ALM reorder nothing around them and are kept.)  In UTF-8 all nine
 * are 0xE2 0x80 0xAA..0xAE or 0xE2 0x81 0xA6..0xA9. */
static bool is_bidi_control(uint32_t cp)
{
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static bool bidi_control_at(const unsigned char *u)
{
	if (u[0] != 0xe2 || !u[1] || !u[2])
		return false;
	return is_bidi_control((uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f)) &&
	       (u[1] & 0xc0) == 0x80 && (u[2] & 0xc0) == 0x80;
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
		else if (bidi_control_at((const unsigned char *)s)) {
			fputc('?', f);          /* bidi override or isolate, as in text */
			s += 2;
		}
		else if (strchr("\\`*_[]|~", c))
			fprintf(f, "\\%c", c);
		else
			fputc(c, f);
	}
}

/* Code point ranges a terminal draws two columns wide (East Asian Wide
 * and Fullwidth: CJK, kana, Hangul, fullwidth forms, most emoji), and the
 * ones it draws in none (combining marks, zero-width characters). */
static const uint32_t wide_cps[][2] = {
	{ 0x1100, 0x115f }, { 0x231a, 0x231b }, { 0x2329, 0x232a }, { 0x23e9, 0x23ec },
	{ 0x23f0, 0x23f0 }, { 0x23f3, 0x23f3 }, { 0x25fd, 0x25fe }, { 0x2614, 0x2615 },
	{ 0x2648, 0x2653 }, { 0x267f, 0x267f }, { 0x2693, 0x2693 }, { 0x26a1, 0x26a1 },
	{ 0x26aa, 0x26ab }, { 0x26bd, 0x26be }, { 0x26c4, 0x26c5 }, { 0x26ce, 0x26ce },
	{ 0x26d4, 0x26d4 }, { 0x26ea, 0x26ea }, { 0x26f2, 0x26f3 }, { 0x26f5, 0x26f5 },
	{ 0x26fa, 0x26fa }, { 0x26fd, 0x26fd }, { 0x2705, 0x2705 }, { 0x270a, 0x270b },
	{ 0x2728, 0x2728 }, { 0x274c, 0x274c }, { 0x274e, 0x274e }, { 0x2753, 0x2755 },
	{ 0x2757, 0x2757 }, { 0x2795, 0x2797 }, { 0x27b0, 0x27b0 }, { 0x27bf, 0x27bf },
	{ 0x2b1b, 0x2b1c }, { 0x2b50, 0x2b50 }, { 0x2b55, 0x2b55 }, { 0x2e80, 0x303e },
	{ 0x3041, 0x33ff }, { 0x3400, 0x4dbf }, { 0x4e00, 0x9fff }, { 0xa000, 0xa4cf },
	{ 0xa960, 0xa97f }, { 0xac00, 0xd7a3 }, { 0xf900, 0xfaff }, { 0xfe10, 0xfe19 },
	{ 0xfe30, 0xfe6f }, { 0xff00, 0xff60 }, { 0xffe0, 0xffe6 }, { 0x16fe0, 0x16fe4 },
	{ 0x17000, 0x18aff }, { 0x1b000, 0x1b2ff }, { 0x1f004, 0x1f004 }, { 0x1f0cf, 0x1f0cf },
	{ 0x1f18e, 0x1f18e }, { 0x1f191, 0x1f19a }, { 0x1f200, 0x1f251 }, { 0x1f300, 0x1f64f },
	{ 0x1f680, 0x1f6ff }, { 0x1f900, 0x1f9ff }, { 0x1fa70, 0x1faff }, { 0x20000, 0x2fffd },
	{ 0x30000, 0x3fffd },
};
static const uint32_t zero_cps[][2] = {
	{ 0x0300, 0x036f }, { 0x1ab0, 0x1aff }, { 0x1dc0, 0x1dff }, { 0x200b, 0x200f },
	{ 0x20d0, 0x20ff }, { 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f },
};

static bool cp_in(uint32_t cp, const uint32_t (*r)[2], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cp >= r[i][0] && cp <= r[i][1])
			return true;
	return false;
}

/* The code point at p and the bytes it takes; a byte that starts no
 * well-formed sequence is one U+FFFD-like column of its own. */
static uint32_t cp_at(const char *p, size_t *len)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t k = jm_utf8_seq_len(u, strnlen(p, 4));

	*len = k ? k : 1;
	switch (k) {
	case 1: return u[0];
	case 2: return (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f);
	case 3: return (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
	case 4: return (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3f) << 12 |
		       (uint32_t)(u[2] & 0x3f) << 6 | (u[3] & 0x3f);
	default: return 0xfffd;
	}
}

/* Terminal columns of the code point at p (a control one prints as '?'). */
static size_t cp_cols(const char *p, size_t *len)
{
	uint32_t cp = cp_at(p, len);

	if (cp < 0x300)
		return 1;
	if (cp_in(cp, zero_cps, sizeof(zero_cps) / sizeof(zero_cps[0])))
		return 0;
	return cp_in(cp, wide_cps, sizeof(wide_cps) / sizeof(wide_cps[0])) ? 2 : 1;
}

size_t jm_rep_text_width(const char *s)
{
	size_t w = 0, len;

	while (*s) {
		w += cp_cols(s, &len);
		s += len;
	}
	return w;
}

/* Write the code point at p, a control character or a bidi override or
 * isolate (is_bidi_control) as '?', and return the bytes it took.  Controls are C0, DEL and C1 (U+0080..U+009F, in UTF-8
 * 0xC2 0x80..0x9F): terminals that decode UTF-8 obey C1 too -- U+009B is
 * CSI, so a job name holding it could recolour or rewrite the screen.  A
 * byte that starts no well-formed sequence is a '?' too. */
static size_t text_cp(FILE *f, const char *p)
{
	size_t len;
	uint32_t cp = cp_at(p, &len);

	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || is_bidi_control(cp) ||
	    (cp == 0xfffd && len == 1))
		fputc('?', f);
	else
		fwrite(p, 1, len, f);
	return len;
}

void jm_rep_text_cell(FILE *f, const char *s, int width, bool right)
{
	size_t w = jm_rep_text_width(s), cut = (size_t)width, used = 0, len;
	int pad;

	if (width <= 0)
		return;
	if (w > cut) {
		/* Keep what fits in width-1 columns, then '~' (a wide
		 * character that would not fit leaves a blank). */
		const char *p = s;

		while (*p && used + cp_cols(p, &len) <= cut - 1) {
			used += cp_cols(p, &len);
			p += text_cp(f, p);
		}
		for (; used < cut - 1; used++)
			fputc(' ', f);
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

void jm_rep_text_rule(FILE *f, const struct jm_rep_col *c, size_t n)
{
	int total = 0;

	for (size_t i = 0; i < n && i < 32; i++)
		total += c[i].width + (i ? 1 : 0);
	for (int i = 0; i < total; i++)
		fputc('-', f);
	fputc('\n', f);
}

void jm_rep_text_header(FILE *f, const struct jm_rep_col *c, size_t n)
{
	const char *titles[32] = { 0 };

	for (size_t i = 0; i < n && i < 32; i++)
		titles[i] = c[i].title;
	/* Same trimming of the last column as the rows. */
	jm_rep_text_row(f, c, n < 32 ? n : 32, titles);
	jm_rep_text_rule(f, c, n);
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
