// fuzz-sources: agent/sql.c
/* libFuzzer target for agent/sql.c.
 *
 * Properties checked on every input (abort() on violation):
 *  - output bounded by outsz, NUL-terminated, return value == strlen, the
 *    byte after outsz untouched, for several buffer sizes and all dialects;
 *  - no digit of a numeric literal survives: outside quoted identifiers,
 *    every digit in a fingerprint sits inside an identifier (t1, col_2);
 *  - in the MySQL dialect no ' or " survives outside `identifiers` (both
 *    quote literals there); in any dialect no ' outside quoted identifiers;
 *  - the input turned into one properly escaped string literal, or into a
 *    number, and cut anywhere, fingerprints to a prefix of "select ?";
 *  - jm_sql_command() is in range; jm_sql_write_target() is bounded. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sql.h"

static bool word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || c >= 0x80;
}

/* Walks a fingerprint; aborts on a bare digit or a stray quote. */
static void check_fingerprint(const char *s, size_t len, bool mysql)
{
	char q = 0;
	bool in_word = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0')
			abort();                        /* embedded NUL */
		if (q) {
			if (c == (unsigned char)q)
				q = 0;
			continue;
		}
		if (c == '`' || (c == '"' && !mysql)) {
			q = (char)c;
			in_word = false;
			continue;
		}
		if (c == '\'' || c == '"')
			abort();                        /* a quote outside identifiers */
		if (c >= '0' && c <= '9' && !in_word)
			abort();                        /* a number survived */
		in_word = word_char(c) && (in_word || !(c >= '0' && c <= '9'));
	}
}

static void fingerprint_checked(const char *sql, size_t n, unsigned flags, size_t outsz)
{
	char out[600];
	size_t len;

	if (outsz > sizeof(out) - 1)
		outsz = sizeof(out) - 1;
	memset(out, 0x5a, sizeof(out));
	len = jm_sql_fingerprint_ex(sql, n, flags, out, outsz);
	if (outsz == 0) {
		if (len != 0 || out[0] != 0x5a)
			abort();
		return;
	}
	if (len >= outsz || out[len] != '\0' || strlen(out) != len || out[outsz] != 0x5a)
		abort();
	check_fingerprint(out, len, (flags & JM_SQL_MYSQL) != 0);
}

static const unsigned dialects[] = {
	0, JM_SQL_STD_STRINGS, JM_SQL_BACKSLASH_STRINGS, JM_SQL_MYSQL,
	JM_SQL_MYSQL | JM_SQL_BACKSLASH_STRINGS, JM_SQL_MYSQL | JM_SQL_STD_STRINGS,
};

static void literal_checks(const uint8_t *data, size_t size)
{
	static char q[2 * 4096 + 32], out[64];
	size_t n = 0, cut;

	if (size > 4096)
		size = 4096;
	/* One string literal valid under every reading: quote and backslash
	 * doubled, so its content can never escape. */
	memcpy(q, "SELECT '", 8);
	n = 8;
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\'' || data[i] == '\\')
			q[n++] = (char)data[i];
		q[n++] = (char)data[i];
	}
	q[n++] = '\'';
	cut = size ? (data[0] * 257u + data[size - 1]) % (n + 1) : n;
	for (size_t d = 0; d < sizeof(dialects) / sizeof(dialects[0]); d++) {
		size_t cuts[2] = { n, cut };
		for (int k = 0; k < 2; k++) {
			jm_sql_fingerprint_ex(q, cuts[k], dialects[d], out, sizeof(out));
			if (strncmp("select ?", out, strlen(out)) != 0)
				abort();
		}
	}
	/* Digits of the input as one number. */
	memcpy(q, "SELECT ", 7);
	n = 7;
	for (size_t i = 0; i < size; i++)
		if (data[i] >= '0' && data[i] <= '9')
			q[n++] = (char)data[i];
	for (size_t d = 0; d < sizeof(dialects) / sizeof(dialects[0]); d++) {
		jm_sql_fingerprint_ex(q, n, dialects[d], out, sizeof(out));
		if (strncmp("select ?", out, strlen(out)) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *sql = (const char *)data;
	char target[80];
	size_t outsz = size ? data[0] % 80 : 0;

	for (size_t d = 0; d < sizeof(dialects) / sizeof(dialects[0]); d++) {
		fingerprint_checked(sql, size, dialects[d], 512);
		fingerprint_checked(sql, size, dialects[d], outsz);
	}
	literal_checks(data, size);

	enum jm_sql_cmd cmd = jm_sql_command(sql, size);
	if ((int)cmd < JM_SQL_OTHER || cmd > JM_SQL_CREATE_TABLE_AS)
		abort();
	memset(target, 0x5a, sizeof(target));
	size_t tsz = outsz % 64;
	bool ok = jm_sql_write_target(sql, size, target, tsz);
	if (tsz > 0 && (strnlen(target, tsz) >= tsz || (!ok && target[0] != '\0')))
		abort();
	if (tsz < sizeof(target) && target[tsz] != 0x5a)
		abort();
	return 0;
}
