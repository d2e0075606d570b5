#include "buf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void jm_buf_init(struct jm_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void jm_buf_free(struct jm_buf *b)
{
	free(b->data);
	jm_buf_init(b);
}

void jm_buf_reset(struct jm_buf *b)
{
	b->len = 0;
	b->oom = false;
	if (b->data)
		b->data[0] = 0;
}

static bool reserve(struct jm_buf *b, size_t extra)
{
	if (b->oom)
		return false;
	if (b->len + extra + 1 <= b->cap)
		return true;
	size_t nc = b->cap ? b->cap : 256;
	while (nc < b->len + extra + 1)
		nc *= 2;
	char *nd = realloc(b->data, nc);
	if (!nd) {
		b->oom = true;
		return false;
	}
	b->data = nd;
	b->cap = nc;
	return true;
}

void jm_buf_append(struct jm_buf *b, const void *p, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
}

void jm_buf_puts(struct jm_buf *b, const char *s)
{
	jm_buf_append(b, s, strlen(s));
}

void jm_buf_printf(struct jm_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Length of a valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t need;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0 && s[0] >= 0xc2)
		need = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		need = 3;
	else if ((s[0] & 0xf8) == 0xf0 && s[0] <= 0xf4)
		need = 4;
	else
		return 0;
	if (need > n)
		return 0;
	for (size_t i = 1; i < need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return need;
}

void jm_buf_json_str(struct jm_buf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	jm_buf_append(b, "\"", 1);
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			jm_buf_append(b, e, 2);
			i++;
		} else if (c < 0x20) {
			jm_buf_printf(b, "\\u%04x", c);
			i++;
		} else {
			size_t l = utf8_len(s + i, n - i);
			if (!l) {
				jm_buf_puts(b, "\xef\xbf\xbd");
				i++;
			} else {
				jm_buf_append(b, s + i, l);
				i += l;
			}
		}
	}
	jm_buf_append(b, "\"", 1);
}

void jm_buf_json_double(struct jm_buf *b, double v)
{
	if (!isfinite(v))
		v = 0;
	jm_buf_printf(b, "%.17g", v);
}

void jm_buf_json_time(struct jm_buf *b, int64_t ns)
{
	time_t sec = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	struct tm tm;
	char day[32];

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	gmtime_r(&sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	jm_buf_printf(b, "\"%s.%09ldZ\"", day, frac);
}
