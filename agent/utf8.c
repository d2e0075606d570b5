/* Strict UTF-8 checks.  See utf8.h. */
#include "utf8.h"

#include <string.h>

size_t jm_utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;   /* range of the second byte */
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		lo = c == 0xE0 ? 0xA0 : 0x80;       /* no overlong forms */
		hi = c == 0xED ? 0x9F : 0xBF;       /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		lo = c == 0xF0 ? 0x90 : 0x80;       /* no overlong forms */
		hi = c == 0xF4 ? 0x8F : 0xBF;       /* <= U+10FFFF */
	} else {
		return 0;                           /* continuation byte, C0, C1, F5..FF */
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

bool jm_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		size_t k = jm_utf8_seq_len(s + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

void jm_utf8_sanitize(char *dst, const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0;

	while (i < n) {
		size_t k = jm_utf8_seq_len(s + i, n - i);
		if (k) {
			memcpy(dst + i, s + i, k);
			i += k;
		} else {
			dst[i++] = '?';
		}
	}
	dst[n] = '\0';
}
