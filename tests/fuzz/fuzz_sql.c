// fuzz-sources: agent/sql.c
/* libFuzzer target for agent/sql.c.
 *
 * Properties checked on every input (abort() on violation):
 *  - output bounded by outsz, NUL-terminated, return value == strlen, the
 *    byte after outsz untouched, for several buffer sizes and all dialects;
 *  - no digit of a numeric literal survives: outside quoted identifiers,
 *    every digit in a fingerprint sits inside an identifier (t1, col_2);
 *  - in the MySQL dialect no ' or " survives outside `identifiers` (both
 *    quote literals there); in any dialect no ' outside quoted identifiers
 *    ("x" in PostgreSQL, which has no backtick quoting);
 *  - the input turned into one properly escaped string literal, or into a
 *    number, and cut anywhere, fingerprints to a prefix of "select ?";
 *  - a statement built from the input out of self-contained pieces (words,
 *    operators, comments, and literals of every kind whose content is input
 *    bytes with a marker word planted in it), in each dialect, whole and cut,
 *    never shows the marker: it sits in literals and comments only, so any
 *    text the lexer takes as a comment where the server does not (or a
 *    literal read as words) shows up;
 *  - jm_sql_command() is in range; jm_sql_write_target() is bounded (every
 *    dialect); jm_sql_statement_end() steps through the text;
 *  - jm_sql_memo_key(): at most len + 1 bytes, and wherever the input and a
 *    copy with other digits (runs of other lengths) or other letters have
 *    equal keys, their fingerprints are equal (every dialect). */
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
		/* quoted identifiers: `x` in MySQL, "x" in PostgreSQL (where a
		 * backtick is an operator character) */
		if ((c == '`' && mysql) || (c == '"' && !mysql)) {
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

/* ------------------------------------------------------------------ */
/* Planted marker: statements whose literals and comments hold MARKER.    */

#define MARKER "ZqXmArK"

struct gen {
	char q[8192];
	size_t n;
	const uint8_t *d;
	size_t size, i;
};

static uint8_t gen_byte(struct gen *g)
{
	return g->i < g->size ? g->d[g->i++] : 0;
}

static void gen_put(struct gen *g, const char *p, size_t k)
{
	if (k > sizeof(g->q) - g->n)
		k = sizeof(g->q) - g->n;
	memcpy(g->q + g->n, p, k);
	g->n += k;
}

static void gen_str(struct gen *g, const char *p) { gen_put(g, p, strlen(p)); }

/* Literal content: input bytes with MARKER planted among them.  `q` (the
 * quote) and backslash are doubled, so the literal ends at the same place
 * whether or not backslashes escape; for $-quotes `$` is dropped. */
static void gen_content(struct gen *g, char q)
{
	uint8_t len = gen_byte(g) % 24, at = gen_byte(g);

	at = len ? at % (uint8_t)(len + 1) : 0;
	for (uint8_t k = 0; k <= len; k++) {
		if (k == at)
			gen_str(g, MARKER);
		if (k == len)
			break;
		char c = (char)gen_byte(g);
		if (q == '$' && c == '$')
			continue;
		if (c == q || c == '\\')
			gen_put(g, &c, 1);
		gen_put(g, &c, 1);
	}
}

static void gen_statement(struct gen *g, bool mysql)
{
	/* Code pieces: whole tokens, none starting a comment or a quote in
	 * the dialect (PostgreSQL's # is an operator). */
	static const char *const code_pg[] = {
		"select", "from", "where", "a", "t1", "in", "values", "and", "E", "N", "U", "x",
		"=", "(", ")", ",", ".", "*", "?", "$1", "-", "+", "/", "#", "#>", "##", "|", "||",
		"::text", "@", "~", "!", "1", "\"id\"", "@-", "#-", "-#", "%",
	};
	static const char *const code_my[] = {
		"select", "from", "where", "a", "t1", "in", "values", "and", "N", "x", "b",
		"=", "(", ")", ",", ".", "*", "?", "-", "+", "/", "|", "||", "@", "~", "!", "1",
		"`c`", "1--1", "a--b", "--(", "-+", "$a", "%",
	};
	static const char *const comments_pg[] = {
		"-- " MARKER "\n", "--" MARKER "\n", "/* " MARKER " ' */", "/* /* " MARKER " */ */",
		"--'" MARKER "\n",
	};
	static const char *const comments_my[] = {
		"-- " MARKER "\n", "--\t'" MARKER "\n", "# " MARKER "\n", "#'" MARKER "\n",
		"/* " MARKER " ' */",
	};
	/* Glued before a literal: operators that do not make a comment. */
	static const char *const glue_pg[] = { "", "", "-", "+", "#", "@", "~", "(", "=" };
	static const char *const glue_my[] = { "", "", "-", "--", "+", "@", "~", "(", "=" };
	static const char *const seps[] = { " ", "\n", "\t", "\r\n", " /**/ " };
	const char *const *code = mysql ? code_my : code_pg;
	size_t ncode = mysql ? sizeof(code_my) / sizeof(code_my[0])
			     : sizeof(code_pg) / sizeof(code_pg[0]);
	const char *const *com = mysql ? comments_my : comments_pg;
	size_t ncom = mysql ? sizeof(comments_my) / sizeof(comments_my[0])
			    : sizeof(comments_pg) / sizeof(comments_pg[0]);
	const char *const *glue = mysql ? glue_my : glue_pg;

	g->n = 0;
	gen_str(g, "SELECT ");
	while (g->i < g->size && g->n + 200 < sizeof(g->q)) {
		uint8_t b = gen_byte(g);
		switch (b % 8) {
		case 0: case 1: case 2:
			gen_str(g, code[(b >> 3) % ncode]);
			break;
		case 3: case 4: case 5: {
			gen_str(g, glue[(b >> 3) % 9]);
			switch ((b >> 3) % 5 + (mysql ? 5 : 0)) {
			case 0: gen_str(g, "'"); gen_content(g, '\''); gen_str(g, "'"); break;
			case 1: gen_str(g, "E'"); gen_content(g, '\''); gen_str(g, "'"); break;
			case 2: gen_str(g, "N'"); gen_content(g, '\''); gen_str(g, "'"); break;
			case 3: gen_str(g, "U&'"); gen_content(g, '\''); gen_str(g, "'"); break;
			case 4: gen_str(g, "$m$"); gen_content(g, '$'); gen_str(g, "$m$"); break;
			case 5: gen_str(g, "'"); gen_content(g, '\''); gen_str(g, "'"); break;
			case 6: gen_str(g, "\""); gen_content(g, '"'); gen_str(g, "\""); break;
			case 7: gen_str(g, "_utf8mb4'"); gen_content(g, '\''); gen_str(g, "'"); break;
			case 8: gen_str(g, "N'"); gen_content(g, '\''); gen_str(g, "'"); break;
			default: gen_str(g, "X'"); gen_content(g, '\''); gen_str(g, "'"); break;
			}
			break;
		}
		case 6:
			gen_str(g, com[(b >> 3) % ncom]);
			break;
		default:
			break;
		}
		gen_str(g, seps[(b >> 5) % 5]);
	}
}

static void marker_checks(const uint8_t *data, size_t size)
{
	static struct gen g;
	static const unsigned pg_flags[] = { 0, JM_SQL_STD_STRINGS, JM_SQL_BACKSLASH_STRINGS };
	static const unsigned my_flags[] = { JM_SQL_MYSQL, JM_SQL_MYSQL | JM_SQL_BACKSLASH_STRINGS,
					     JM_SQL_MYSQL | JM_SQL_STD_STRINGS };
	char out[600];

	for (int m = 0; m < 2; m++) {
		g.d = data;
		g.size = size;
		g.i = 0;
		gen_statement(&g, m == 1);
		size_t cut = size ? (data[size - 1] * 131u + size) % (g.n + 1) : g.n;
		for (int f = 0; f < 3; f++) {
			unsigned fl = m ? my_flags[f] : pg_flags[f];
			size_t cuts[2] = { g.n, cut };
			for (int k = 0; k < 2; k++) {
				jm_sql_fingerprint_ex(g.q, cuts[k], fl, out, sizeof(out));
				if (strcasestr(out, MARKER))
					abort();        /* a literal or comment shown */
			}
		}
	}
}

/* Memo keys: equal keys must mean equal fingerprints.  Copies of the input
 * with each digit changed and every second digit doubled, and with letters
 * shifted, have equal keys exactly where the changes fall inside what the
 * key leaves out (number digits, string contents). */
static void memo_key_checks(const uint8_t *data, size_t size)
{
	enum { MAXK = 1024 };
	char a[MAXK], b[2 * MAXK], c[MAXK], ka[2 * MAXK + 1], kb[2 * MAXK + 1], fa[512], fb[512];
	size_t bl = 0, n = size < MAXK ? size : MAXK;

	memcpy(a, data, n);
	for (size_t i = 0; i < n; i++) {
		char ch = a[i];
		if (ch >= '0' && ch <= '9') {
			b[bl++] = (char)('0' + (ch - '0' + 7) % 10);
			if (i % 2)
				b[bl++] = ch;
		} else {
			b[bl++] = ch;
		}
		c[i] = (ch >= 'a' && ch <= 'y') || (ch >= 'A' && ch <= 'Y') ? (char)(ch + 1) : ch;
	}
	for (size_t d = 0; d < sizeof(dialects) / sizeof(dialects[0]); d++) {
		size_t na = jm_sql_memo_key(a, n, dialects[d], ka, sizeof(ka));
		if (na == 0 || na > n + 1)
			abort();
		const char *other[2] = { b, c };
		size_t olen[2] = { bl, n };
		for (int o = 0; o < 2; o++) {
			size_t nb = jm_sql_memo_key(other[o], olen[o], dialects[d], kb, sizeof(kb));
			if (nb != na || memcmp(ka, kb, na) != 0)
				continue;
			jm_sql_fingerprint_ex(a, n, dialects[d], fa, sizeof(fa));
			jm_sql_fingerprint_ex(other[o], olen[o], dialects[d], fb, sizeof(fb));
			if (strcmp(fa, fb) != 0)
				abort();
		}
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
	marker_checks(data, size);
	memo_key_checks(data, size);

	for (size_t d = 0; d < sizeof(dialects) / sizeof(dialects[0]); d++) {
		enum jm_sql_cmd cmd = jm_sql_command(sql, size, dialects[d]);
		if ((int)cmd < JM_SQL_OTHER || cmd > JM_SQL_CREATE_TABLE_AS)
			abort();
		memset(target, 0x5a, sizeof(target));
		size_t tsz = (outsz + d) % 64;
		bool ok = jm_sql_write_target(sql, size, dialects[d], target, tsz);
		if (tsz > 0 && (strnlen(target, tsz) >= tsz || (!ok && target[0] != '\0')))
			abort();
		if (tsz < sizeof(target) && target[tsz] != 0x5a)
			abort();
		/* Statements: each step ends past the last, inside the text. */
		for (size_t off = 0, n; off < size; off += n) {
			n = jm_sql_statement_end(sql + off, size - off, dialects[d]);
			if (n == 0 || n > size - off)
				abort();
		}
	}
	return 0;
}
