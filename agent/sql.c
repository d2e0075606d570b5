/* SQL lexer, fingerprinter and statement classifier.  See sql.h.
 *
 * One small lexer serves all three entry points.  It never looks further than
 * the given length, treats every byte sequence as valid input and always makes
 * progress, so truncated or hostile text only degrades the result. */
#include "sql.h"

#include <string.h>

enum tk { TK_END, TK_SPACE, TK_WORD, TK_QIDENT, TK_LIT, TK_PARAM, TK_PUNCT };

struct token {
	enum tk kind;
	size_t start, end;         /* byte range in the input */
};

struct lexer {
	const unsigned char *s;
	size_t n, pos;
	bool mysql;                /* MySQL lexical rules */
	bool bs;                   /* backslash escapes inside '...' */
	bool exec_comment;         /* inside a MySQL executable comment: SQL */
	/* MySQL: a versioned executable comment (slash-star-bang-NNNNN) and
	 * MariaDB's slash-star-M-bang are comments, as a server older than
	 * the version (or MySQL, for the M form) skips them: the second
	 * reading, since the text does not say which server runs it. */
	bool skip_versioned;
};

static bool is_space(unsigned char c)
{
	/* Control bytes (NUL included) are separators: they cannot be part of a
	 * token and must never reach a C-string output. */
	return c <= 0x20 || c == 0x7f;
}

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static bool is_hex(unsigned char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
static unsigned char to_lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c; }

static bool is_ident_start(const struct lexer *lx, unsigned char c)
{
	return is_alpha(c) || c == '_' || c >= 0x80 || (lx->mysql && c == '$');
}

static bool is_ident_char(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Consumes a quoted run that started at lx->pos (the opening quote).  `q` is
 * the quote byte; doubled quotes are escapes; with `bs` a backslash escapes
 * the next byte.  Returns false when the input ends first. */
static bool lex_quoted(struct lexer *lx, unsigned char q, bool bs)
{
	size_t p = lx->pos + 1;

	while (p < lx->n) {
		unsigned char c = lx->s[p];
		if (bs && c == '\\') {
			p += 2;
			continue;
		}
		if (c == q) {
			if (p + 1 < lx->n && lx->s[p + 1] == q) {
				p += 2;
				continue;
			}
			lx->pos = p + 1;
			return true;
		}
		p++;
	}
	lx->pos = lx->n;
	return false;
}

/* $tag$ ... $tag$ (PostgreSQL).  On entry s[pos] == '$'.  Returns false when
 * this is not the start of a dollar quote (pos unchanged). */
static bool lex_dollar(struct lexer *lx)
{
	size_t p = lx->pos + 1, tag_end, tag_len;

	if (p < lx->n && lx->s[p] != '$') {
		if (!(is_alpha(lx->s[p]) || lx->s[p] == '_' || lx->s[p] >= 0x80))
			return false;
		while (p < lx->n && lx->s[p] != '$' &&
		       (is_ident_char(lx->s[p]) && lx->s[p] != '$'))
			p++;
		if (p >= lx->n || lx->s[p] != '$')
			return false;
	}
	if (p >= lx->n)
		return false;
	tag_end = p + 1;                       /* just past the opening $tag$ */
	tag_len = tag_end - lx->pos;
	for (p = tag_end; p + tag_len <= lx->n; p++) {
		if (lx->s[p] == '$' && memcmp(lx->s + p, lx->s + lx->pos, tag_len) == 0) {
			lx->pos = p + tag_len;
			return true;
		}
	}
	lx->pos = lx->n;                        /* unterminated: literal to the end */
	return true;
}

static void lex_number(struct lexer *lx)
{
	size_t p = lx->pos;
	const unsigned char *s = lx->s;

	if (s[p] == '0' && p + 1 < lx->n &&
	    ((s[p + 1] | 0x20) == 'x' || (s[p + 1] | 0x20) == 'b' || (s[p + 1] | 0x20) == 'o')) {
		p += 2;                          /* 0x1F, 0b101, 0o17 */
	} else {
		while (p < lx->n && (is_digit(s[p]) || s[p] == '_'))
			p++;
		if (p < lx->n && s[p] == '.') {
			p++;
			while (p < lx->n && (is_digit(s[p]) || s[p] == '_'))
				p++;
		}
		if (p < lx->n && (s[p] | 0x20) == 'e') {
			size_t q = p + 1;
			if (q < lx->n && (s[q] == '+' || s[q] == '-'))
				q++;
			if (q < lx->n && is_digit(s[q]))
				p = q;
		}
	}
	/* Whatever identifier characters are glued on (hex digits, exponent
	 * digits, MySQL's 123abc names) stay inside the literal: showing them
	 * could show part of a value. */
	while (p < lx->n && (is_ident_char(s[p]) || is_hex(s[p])))
		p++;
	lx->pos = p;
}

/* Word immediately followed by a quote that makes it a string prefix:
 * E'..' (backslash escapes), N'..', X'..', B'..', U&'..', MySQL _utf8mb4'..'. */
static bool lex_prefixed_string(struct lexer *lx, size_t wstart, size_t wend)
{
	size_t wl = wend - wstart;
	const unsigned char *w = lx->s + wstart;
	unsigned char c0 = to_lower(w[0]);

	if (wend >= lx->n)
		return false;
	if (wl == 1 && lx->s[wend] == '&' && c0 == 'u' && !lx->mysql &&
	    wend + 1 < lx->n && lx->s[wend + 1] == '\'') {
		lx->pos = wend + 1;
		(void)lex_quoted(lx, '\'', lx->bs);
		return true;
	}
	if (lx->s[wend] != '\'')
		return false;
	if (wl == 1 && c0 == 'e' && !lx->mysql) {
		lx->pos = wend;
		(void)lex_quoted(lx, '\'', true);
		return true;
	}
	if ((wl == 1 && (c0 == 'n' || c0 == 'x' || c0 == 'b')) || w[0] == '_') {
		lx->pos = wend;
		(void)lex_quoted(lx, '\'', lx->bs);
		return true;
	}
	return false;
}

/* The server's end of a line comment: PostgreSQL's scanner ends it at a
 * newline or a carriage return, MySQL's at a newline or a NUL.  Running on
 * further than the server would swallow a literal's opening quote and show
 * its text as words. */
static bool ends_line_comment(const struct lexer *lx, unsigned char c)
{
	return c == '\n' || (lx->mysql ? c == '\0' : c == '\r');
}

/* At an executable comment's opening: one some server skips, a versioned
 * one (slash-star-bang followed by digits) or MariaDB's M form, which MySQL
 * takes for a plain comment. */
static bool skipped_by_some_server(const struct lexer *lx)
{
	size_t p = lx->pos + 2;

	if (lx->s[p] == 'M')
		return true;
	return p + 1 < lx->n && is_digit(lx->s[p + 1]);
}

static void lex_next(struct lexer *lx, struct token *t)
{
	const unsigned char *s = lx->s;
	size_t n = lx->n;
	unsigned char c;

	t->start = lx->pos;
	if (lx->pos >= n) {
		t->kind = TK_END;
		t->end = n;
		return;
	}
	c = s[lx->pos];
	if (is_space(c)) {
		while (lx->pos < n && is_space(s[lx->pos]))
			lx->pos++;
		t->kind = TK_SPACE;
	} else if (lx->exec_comment && c == '*' && lx->pos + 1 < n && s[lx->pos + 1] == '/') {
		lx->pos += 2;                    /* the executable comment ends */
		lx->exec_comment = false;
		t->kind = TK_SPACE;
	} else if (lx->mysql && !lx->exec_comment && c == '/' && lx->pos + 2 < n &&
		   s[lx->pos + 1] == '*' &&
		   (s[lx->pos + 2] == '!' ||
		    (s[lx->pos + 2] == 'M' && lx->pos + 3 < n && s[lx->pos + 3] == '!')) &&
		   !(lx->skip_versioned && skipped_by_some_server(lx))) {
		/* An executable comment: MySQL's slash-star-bang (with an
		 * optional version, "!50100") and MariaDB's slash-star-M-bang.
		 * The server runs what is inside (mysqldump writes its SET
		 * statements so), so it is SQL to us too -- its literals
		 * included, which a comment would have let through as words
		 * when a string in it holds a star-slash pair.  The markers
		 * and the version number are space. */
		lx->pos += s[lx->pos + 2] == '!' ? 3 : 4;
		while (lx->pos < n && is_digit(s[lx->pos]))
			lx->pos++;
		lx->exec_comment = true;
		t->kind = TK_SPACE;
	} else if ((c == '-' && lx->pos + 1 < n && s[lx->pos + 1] == '-' &&
		    (!lx->mysql || lx->pos + 2 >= n || is_space(s[lx->pos + 2]))) ||
		   (c == '#' && lx->mysql)) {
		/* Only what the server takes as a comment: a false comment
		 * would swallow a literal's opening quote and show the rest
		 * of it as words.  PostgreSQL: -- always, # never (an
		 * operator).  MySQL: # always, -- only before whitespace or
		 * a control character (1--1 is arithmetic). */
		while (lx->pos < n && !ends_line_comment(lx, s[lx->pos]))
			lx->pos++;
		t->kind = TK_SPACE;
	} else if (c == '/' && lx->pos + 1 < n && s[lx->pos + 1] == '*') {
		/* PostgreSQL nests block comments; MySQL ends at the first
		 * close.  Unterminated: comment to the end. */
		unsigned depth = 1;
		lx->pos += 2;
		while (lx->pos < n && depth > 0) {
			if (s[lx->pos] == '*' && lx->pos + 1 < n && s[lx->pos + 1] == '/') {
				depth--;
				lx->pos += 2;
			} else if (!lx->mysql && s[lx->pos] == '/' && lx->pos + 1 < n &&
				   s[lx->pos + 1] == '*') {
				depth++;
				lx->pos += 2;
			} else {
				lx->pos++;
			}
		}
		t->kind = TK_SPACE;
	} else if (c == '\'') {
		(void)lex_quoted(lx, '\'', lx->bs);
		t->kind = TK_LIT;
	} else if (c == '"' || (c == '`' && lx->mysql)) {
		/* PostgreSQL has no backtick quoting: ` is an operator
		 * character there, and what follows it is lexed as usual. */
		bool is_string = (c == '"' && lx->mysql);
		bool closed = lex_quoted(lx, c, is_string ? lx->bs : false);
		/* An identifier cut by truncation is incomplete and could be a
		 * mis-read value: show it as a literal. */
		t->kind = (is_string || !closed) ? TK_LIT : TK_QIDENT;
	} else if (c == '?') {
		lx->pos++;
		t->kind = TK_PARAM;
	} else if (c == '$' && !lx->mysql) {
		if (lx->pos + 1 < n && is_digit(s[lx->pos + 1])) {
			lx->pos++;
			while (lx->pos < n && is_digit(s[lx->pos]))
				lx->pos++;
			t->kind = TK_PARAM;
		} else if (lex_dollar(lx)) {
			t->kind = TK_LIT;
		} else {
			lx->pos++;
			t->kind = TK_PUNCT;
		}
	} else if (is_digit(c) || (c == '.' && lx->pos + 1 < n && is_digit(s[lx->pos + 1]))) {
		lex_number(lx);
		t->kind = TK_LIT;
	} else if (is_ident_start(lx, c)) {
		size_t ws = lx->pos;
		while (lx->pos < n && is_ident_char(s[lx->pos]))
			lx->pos++;
		t->kind = lex_prefixed_string(lx, ws, lx->pos) ? TK_LIT : TK_WORD;
	} else {
		lx->pos++;
		t->kind = TK_PUNCT;
	}
	t->end = lx->pos;
}

static void lexer_init(struct lexer *lx, const char *sql, size_t len, bool mysql, bool bs)
{
	lx->s = (const unsigned char *)sql;
	lx->n = sql ? len : 0;
	lx->pos = 0;
	lx->mysql = mysql;
	lx->bs = bs;
	lx->exec_comment = false;
	lx->skip_versioned = false;
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t need, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0) lo = 0xa0;
		if (c == 0xed) hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0) lo = 0x90;
		if (c == 0xf4) hi = 0x8f;
	} else
		return 0;
	if (need >= n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i <= need; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return need + 1;
}

/* ------------------------------------------------------------------ */
/* Fingerprint writer                                                   */

enum vstate { V_NONE, V_AFTER_KW, V_IN_TUPLE, V_AFTER_TUPLE, V_COMMA, V_SKIP };

struct fp {
	char *out;
	size_t cap, len;           /* cap excludes the NUL */
	bool full;                 /* stop at the first token that does not fit */
	bool sp;                   /* whitespace/comment since the last token */
	int depth;                 /* parenthesis depth of the output */
	bool last_in, last_q;      /* last emitted token was IN / a `?` */
	/* literal-only list after IN / VALUES: `(?` is written, further
	 * `, ?` items are held back (counted) until the list closes */
	int grp_depth;             /* depth inside the list, -1 when none */
	bool grp_pure, grp_has_q, grp_comma, grp_comma_sp;
	unsigned grp_swallowed;
	/* VALUES row list: rows after the first are dropped */
	enum vstate vstate;
	int v_depth, skip_depth;
	bool v_comma_sp;
};

static void fp_put(struct fp *f, const char *p, size_t k)
{
	if (f->full)
		return;
	if (k > f->cap - f->len) {
		f->full = true;
		return;
	}
	memcpy(f->out + f->len, p, k);
	f->len += k;
}

static void fp_space(struct fp *f, bool sp)
{
	if (sp && f->len > 0)
		fp_put(f, " ", 1);
}

/* Writes input bytes, lower-cased or verbatim, as valid UTF-8 only. */
static void fp_text(struct fp *f, const unsigned char *p, size_t k, bool lower)
{
	size_t i = 0;

	while (i < k && !f->full) {
		/* A run of ASCII goes out in one piece (as much of it as fits,
		 * like byte by byte would). */
		size_t j = i;
		while (j < k && p[j] < 0x80)
			j++;
		if (j > i) {
			size_t m = j - i, room = f->cap - f->len;
			char *o = f->out + f->len;
			if (m > room) {
				m = room;
				f->full = true;
			}
			for (size_t x = 0; x < m; x++) {
				unsigned char c = p[i + x];
				o[x] = (char)(is_space(c) ? ' ' : (lower ? to_lower(c) : c));
			}
			f->len += m;
			i = j;
			continue;
		}
		size_t ul = utf8_len(p + i, k - i);
		if (ul == 0) {
			/* U+FFFD, not '?': a '?' would read as a literal. */
			fp_put(f, "\xef\xbf\xbd", 3);
			i++;
		} else {
			fp_put(f, (const char *)p + i, ul);
			i += ul;
		}
	}
}

/* The list turned out not to be literal-only: write what was held back. */
static void fp_grp_flush(struct fp *f)
{
	for (unsigned i = 0; i < f->grp_swallowed; i++)
		fp_put(f, ", ?", 3);
	if (f->grp_comma) {
		fp_put(f, ",", 1);
		f->sp = f->sp || f->grp_comma_sp;
	}
	f->grp_swallowed = 0;
	f->grp_comma = false;
	f->grp_pure = false;
}

static bool word_is(const unsigned char *p, size_t k, const char *w)
{
	size_t i;

	for (i = 0; i < k; i++)
		if (w[i] == '\0' || to_lower(p[i]) != (unsigned char)w[i])
			return false;
	return w[i] == '\0';
}

/* `kind` is TK_WORD, TK_QIDENT, TK_LIT (also params and masked tokens) or
 * TK_PUNCT; p/k the token bytes. */
static void fp_token(struct fp *f, enum tk kind, const unsigned char *p, size_t k)
{
	bool lit = (kind == TK_LIT);
	unsigned char pc = (kind == TK_PUNCT) ? p[0] : 0;

	if (f->vstate == V_SKIP) {
		if (pc == '(')
			f->skip_depth++;
		else if (pc == ')' && --f->skip_depth == 0)
			f->vstate = V_AFTER_TUPLE;
		f->sp = false;
		return;
	}
	if (f->vstate == V_COMMA) {
		if (pc == '(') {
			f->vstate = V_SKIP;
			f->skip_depth = 1;
			f->sp = false;
			return;
		}
		fp_space(f, f->v_comma_sp);
		fp_put(f, ",", 1);
		f->vstate = V_NONE;
	} else if (f->vstate == V_AFTER_TUPLE) {
		if (pc == ',') {
			f->vstate = V_COMMA;
			f->v_comma_sp = f->sp;
			f->sp = false;
			return;
		}
		f->vstate = V_NONE;
	}

	if (f->grp_depth >= 0 && f->grp_depth == f->depth && f->grp_pure) {
		if (lit) {
			if (f->grp_comma) {
				f->grp_comma = false;
				f->grp_swallowed++;
				f->sp = false;
				return;
			}
			if (f->grp_has_q)
				fp_grp_flush(f);
			f->grp_has_q = true;
		} else if (pc == ',' && f->grp_has_q && !f->grp_comma) {
			f->grp_comma = true;
			f->grp_comma_sp = f->sp;
			f->sp = false;
			return;
		} else if (pc == ')') {
			if (f->grp_comma) {            /* "(1,)": keep the comma */
				fp_put(f, ",", 1);
				f->grp_comma = false;
			}
			f->grp_swallowed = 0;          /* the collapse itself */
		} else {
			fp_grp_flush(f);
		}
	}

	fp_space(f, f->sp);
	f->sp = false;
	switch (kind) {
	case TK_WORD:
		fp_text(f, p, k, true);
		break;
	case TK_QIDENT:
		fp_text(f, p, k, false);
		break;
	case TK_LIT:
		fp_put(f, "?", 1);
		break;
	default:
		fp_text(f, p, 1, false);
		break;
	}

	if (pc == '(') {
		bool opens_list = f->last_in || f->vstate == V_AFTER_KW;
		if (f->vstate == V_AFTER_KW) {
			f->vstate = V_IN_TUPLE;
			f->v_depth = f->depth;
		}
		f->depth++;
		if (opens_list) {
			f->grp_depth = f->depth;
			f->grp_pure = true;
			f->grp_has_q = false;
			f->grp_comma = false;
			f->grp_swallowed = 0;
		}
	} else if (pc == ')') {
		if (f->depth == f->grp_depth)
			f->grp_depth = -1;
		if (f->depth > 0)
			f->depth--;
		if (f->vstate == V_IN_TUPLE && f->depth == f->v_depth)
			f->vstate = V_AFTER_TUPLE;
	} else if (f->vstate == V_AFTER_KW) {
		f->vstate = V_NONE;
	}
	f->last_in = (kind == TK_WORD && word_is(p, k, "in"));
	f->last_q = lit;
	if (kind == TK_WORD && word_is(p, k, "values"))
		f->vstate = V_AFTER_KW;
}

/* Another reading of the text (the other backslash mode; MySQL's
 * versioned comments skipped).  A token of the primary reading that
 * overlaps a literal of any other reading is masked. */
struct shadow {
	struct lexer lx;
	struct token t;
};

static bool shadow_masks(struct shadow *sh, size_t s, size_t e)
{
	bool masked = false;

	while (sh->t.kind != TK_END && sh->t.end <= s)
		lex_next(&sh->lx, &sh->t);
	while (sh->t.kind != TK_END && sh->t.start < e) {
		if (sh->t.kind == TK_LIT)
			masked = true;
		if (sh->t.end > e)
			break;            /* may overlap the next primary token too */
		lex_next(&sh->lx, &sh->t);
	}
	return masked;
}

/* Does the text hold an executable comment some server skips? */
static bool has_exec_comment(const char *sql, size_t len)
{
	for (const char *p = sql; (p = memchr(p, '/', len - (size_t)(p - sql))) != NULL; p++) {
		size_t left = len - (size_t)(p - sql);
		if (left >= 3 && p[1] == '*' && (p[2] == '!' || p[2] == 'M'))
			return true;
	}
	return false;
}

/* Does a backslash escape in string literals?  As the flags say, else as
 * in the dialect's default mode (MySQL yes, PostgreSQL no). */
static bool backslash_escapes(unsigned flags)
{
	if (flags & JM_SQL_BACKSLASH_STRINGS)
		return true;
	if (flags & JM_SQL_STD_STRINGS)
		return false;
	return (flags & JM_SQL_MYSQL) != 0;
}

/* Is a '-' after this token a sign rather than a subtraction?  After an
 * operator, an opening parenthesis or comma, or a keyword that ends a
 * clause, it is (x = -5, (-1, -2), then -1); after a name, a literal or a
 * closing parenthesis it subtracts (a - 5).  kind: the previous significant
 * token's, TK_END at the start. */
static bool minus_is_sign(enum tk kind, const unsigned char *p, size_t k)
{
	static const char *const kw[] = { "select", "where", "and", "or", "not", "then", "else",
					   "when", "by", "limit", "offset", "between", "in", "like",
					   "return", "values", "having", "is", "set" };

	if (kind == TK_END)
		return true;
	if (kind == TK_PUNCT)
		return p[0] != ')' && p[0] != ']';
	if (kind != TK_WORD)
		return false;
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (strlen(kw[i]) == k && word_is(p, k, kw[i]))
			return true;
	return false;
}

/* The token after the current one, not counting space (a copy of the
 * lexer looks ahead). */
static void lex_peek(const struct lexer *lx, struct token *t)
{
	struct lexer copy = *lx;

	do
		lex_next(&copy, t);
	while (t->kind == TK_SPACE);
}

size_t jm_sql_fingerprint_ex(const char *sql, size_t len, unsigned flags,
			     char *out, size_t outsz)
{
	struct lexer lx;
	struct shadow sh[3];
	size_t n_sh = 0;
	struct token t, prev = { TK_END, 0, 0 };
	struct fp f;
	bool mysql = (flags & JM_SQL_MYSQL) != 0;
	bool bs = backslash_escapes(flags), use_shadow, bs_open, ver_open;

	if (!out || outsz == 0)
		return 0;
	if (!sql)
		len = 0;
	/* What the text leaves open: the backslash mode (unless stated), and
	 * for MySQL whether an executable comment with a version (or the M
	 * form) is run or skipped.  Each other reading is lexed alongside. */
	bs_open = !(flags & (JM_SQL_BACKSLASH_STRINGS | JM_SQL_STD_STRINGS)) &&
		  len > 0 && memchr(sql, '\\', len) != NULL;
	ver_open = mysql && len > 0 && has_exec_comment(sql, len);
	for (int alt = 1; alt < 4; alt++) {
		bool alt_bs = alt & 1, alt_ver = alt & 2;
		if ((alt_bs && !bs_open) || (alt_ver && !ver_open))
			continue;
		lexer_init(&sh[n_sh].lx, sql, len, mysql, alt_bs ? !bs : bs);
		sh[n_sh].lx.skip_versioned = alt_ver;
		lex_next(&sh[n_sh].lx, &sh[n_sh].t);
		n_sh++;
	}
	use_shadow = n_sh > 0;

	memset(&f, 0, sizeof(f));
	f.out = out;
	f.cap = outsz - 1;
	f.grp_depth = -1;
	lexer_init(&lx, sql, len, mysql, bs);
	for (;;) {
		lex_next(&lx, &t);
		if (t.kind == TK_END || f.full)
			break;
		if (t.kind == TK_SPACE) {
			f.sp = true;
			continue;
		}
		enum tk kind = (t.kind == TK_PARAM) ? TK_LIT : t.kind;
		/* A sign is part of its number: "x = -5" and "x = 5" are one
		 * statement, as the server's own statistics count them. */
		if (kind == TK_PUNCT && lx.s[t.start] == '-' &&
		    minus_is_sign(prev.kind, lx.s + prev.start, prev.end - prev.start)) {
			struct token nx;
			lex_peek(&lx, &nx);
			if (nx.kind == TK_LIT &&
			    (is_digit(lx.s[nx.start]) || lx.s[nx.start] == '.')) {
				prev = t;
				continue;          /* the space before the sign stays */
			}
		}
		prev = t;
		prev.kind = kind;
		if (use_shadow) {
			bool masked = false;
			for (size_t i = 0; i < n_sh && kind != TK_LIT; i++)
				masked |= shadow_masks(&sh[i], t.start, t.end);
			/* The two readings disagree around here: a run of masked
			 * tokens and literals glued to them reads as one literal. */
			if (f.last_q && (masked || (kind == TK_LIT && !f.sp))) {
				f.sp = false;
				continue;
			}
			if (masked)
				kind = TK_LIT;
		}
		fp_token(&f, kind, lx.s + t.start, t.end - t.start);
	}
	/* Nothing more will come: lists and rows still held back collapse. */
	if (f.vstate == V_COMMA && !f.full) {
		fp_space(&f, f.v_comma_sp);
		fp_put(&f, ",", 1);
	}
	/* A token that did not fit may leave the space written before it. */
	if (f.full && f.len > 0 && out[f.len - 1] == ' ')
		f.len--;
	/* "begin;" and "begin" are one statement: the last ';' ends the text,
	 * it is not part of it. */
	if (!f.full && f.len > 0 && out[f.len - 1] == ';') {
		f.len--;
		if (f.len > 0 && out[f.len - 1] == ' ')
			f.len--;
	}
	out[f.len] = '\0';
	return f.len;
}

size_t jm_sql_fingerprint(const char *sql, size_t len, char *out, size_t outsz)
{
	return jm_sql_fingerprint_ex(sql, len, 0, out, outsz);
}

/* ------------------------------------------------------------------ */
/* Memo key                                                             */

/* The key drops exactly what the fingerprint replaces by `?` wherever the
 * lexer's reading of a text is certain from a simple scan: the content of
 * '...' strings (and MySQL "..." ones) and the digits of a number.  Why
 * equal keys give equal fingerprints: outside quotes every byte is kept
 * except a digit run not preceded by an identifier character, and such a
 * run always starts a number token (lex_next), whose extent lex_number()
 * takes from the bytes after the first digit run -- the '0x'/'0b'/'0o'
 * prefix path and the glued-characters path end at the same byte -- so the
 * digits' values and count change neither the token's kind nor where the
 * next one starts; a string's content never leaves its token, and the
 * quote bytes (doubled ones included) end it where the lexer does.  What a
 * scan cannot settle gives the verbatim text instead: a backslash (strings
 * read two ways), comments (line, block and #), PostgreSQL $ other than a
 * $1 parameter (dollar quotes). */
/* Bytes the key scan stops at: digits (KEY_DIGIT) and what may open a
 * quote or a comment, or is a backslash (KEY_SPECIAL); the rest is copied. */
enum { KEY_PLAIN, KEY_DIGIT, KEY_SPECIAL };

static const unsigned char key_class[256] = {
	['0'] = KEY_DIGIT, ['1'] = KEY_DIGIT, ['2'] = KEY_DIGIT, ['3'] = KEY_DIGIT,
	['4'] = KEY_DIGIT, ['5'] = KEY_DIGIT, ['6'] = KEY_DIGIT, ['7'] = KEY_DIGIT,
	['8'] = KEY_DIGIT, ['9'] = KEY_DIGIT,
	['\\'] = KEY_SPECIAL, ['#'] = KEY_SPECIAL, ['-'] = KEY_SPECIAL, ['/'] = KEY_SPECIAL,
	['$'] = KEY_SPECIAL, ['\''] = KEY_SPECIAL, ['"'] = KEY_SPECIAL, ['`'] = KEY_SPECIAL,
};

static size_t key_verbatim(const char *sql, size_t len, char *out)
{
	out[0] = 'v';
	memcpy(out + 1, sql, len);
	return len + 1;
}

/* The quoted run opening at s[i] (quote q): copied whole when keep, else
 * only its quotes.  Returns the index past it, or 0 on a backslash. */
static size_t key_quoted(const unsigned char *s, size_t len, size_t i, bool keep, char *out,
			 size_t *k)
{
	unsigned char q = s[i];

	out[(*k)++] = (char)q;
	for (i++; i < len; i++) {
		unsigned char c = s[i];
		if (c == '\\')
			return 0;
		if (keep)
			out[(*k)++] = (char)c;
		if (c != q)
			continue;
		if (i + 1 < len && s[i + 1] == q) {        /* doubled: still inside */
			if (keep)
				out[(*k)++] = (char)q;
			i++;
			continue;
		}
		if (!keep)
			out[(*k)++] = (char)q;
		return i + 1;
	}
	return len;
}

size_t jm_sql_memo_key(const char *sql, size_t len, unsigned flags, char *out, size_t outsz)
{
	const unsigned char *s = (const unsigned char *)sql;
	bool mysql = (flags & JM_SQL_MYSQL) != 0;
	size_t i = 0, k = 1;

	/* No key is longer than the text and its marker. */
	if (!sql || !out || len + 1 > outsz)
		return 0;
	/* An executable comment anywhere (inside a string too) makes the
	 * fingerprint read the text a second way: the key cannot tell what
	 * that changes, so it is the text itself. */
	if (mysql && has_exec_comment(sql, len))
		return key_verbatim(sql, len, out);
	out[0] = 'n';
	while (i < len) {
		unsigned char c = s[i];

		switch (key_class[c]) {
		case KEY_PLAIN:
			out[k++] = (char)c;
			i++;
			continue;
		case KEY_DIGIT:
			if (i > 0 && is_ident_char(s[i - 1])) {
				out[k++] = (char)c;        /* t1, 1_5, 1e5: kept */
				i++;
				continue;
			}
			out[k++] = '0';
			while (++i < len && is_digit(s[i]))
				;
			continue;
		}
		bool next_is = i + 1 < len;
		if (c == '\\' || c == '#' || (c == '-' && next_is && s[i + 1] == '-') ||
		    (c == '/' && next_is && s[i + 1] == '*') ||
		    (c == '$' && !mysql && !(next_is && is_digit(s[i + 1]))))
			return key_verbatim(sql, len, out);
		if (c == '`' && !mysql) {               /* an operator character */
			out[k++] = (char)c;
			i++;
			continue;
		}
		if (c == '\'' || c == '"' || c == '`') {
			/* Strings keep their quotes only; quoted identifiers stay. */
			bool keep = c == '`' || (c == '"' && !mysql);
			i = key_quoted(s, len, i, keep, out, &k);
			if (i == 0)
				return key_verbatim(sql, len, out);
			continue;
		}
		out[k++] = (char)c;
		i++;
	}
	return k;
}

/* ------------------------------------------------------------------ */
/* Statement classification                                             */

/* Iterator over significant tokens with parenthesis depth. */
struct walk {
	struct lexer lx;
	struct token t;
	int depth;                 /* depth before this token */
	int next_depth;
};

/* The dialect decides what is a comment and a string (backslash_escapes()). */
static void walk_init(struct walk *w, const char *sql, size_t len, unsigned flags)
{
	lexer_init(&w->lx, sql, len, (flags & JM_SQL_MYSQL) != 0, backslash_escapes(flags));
	w->depth = w->next_depth = 0;
}

static bool walk_next(struct walk *w)
{
	do
		lex_next(&w->lx, &w->t);
	while (w->t.kind == TK_SPACE);
	w->depth = w->next_depth;
	if (w->t.kind == TK_PUNCT) {
		unsigned char c = w->lx.s[w->t.start];
		if (c == '(')
			w->next_depth++;
		else if (c == ')' && w->next_depth > 0)
			w->next_depth--;
	}
	return w->t.kind != TK_END;
}

static bool walk_word(const struct walk *w, const char *word)
{
	return w->t.kind == TK_WORD &&
	       word_is(w->lx.s + w->t.start, w->t.end - w->t.start, word);
}

static bool walk_punct(const struct walk *w, char c)
{
	return w->t.kind == TK_PUNCT && w->lx.s[w->t.start] == (unsigned char)c;
}

/* Leaves the walk on the keyword that decides the kind (after WITH ..., the
 * main statement's keyword). */
static enum jm_sql_cmd classify(struct walk *w)
{
	while (walk_next(w) && walk_punct(w, '('))
		;
	if (walk_word(w, "with")) {
		/* The CTE bodies are parenthesised; the first statement keyword
		 * back at the outer level is the main statement. */
		int base = w->depth;
		while (walk_next(w)) {
			if (w->depth != base || w->t.kind != TK_WORD)
				continue;
			if (walk_word(w, "select") || walk_word(w, "insert") ||
			    walk_word(w, "update") || walk_word(w, "delete") ||
			    walk_word(w, "merge") || walk_word(w, "replace"))
				break;
		}
	}
	if (w->t.kind != TK_WORD)
		return JM_SQL_OTHER;
	if (walk_word(w, "select") || walk_word(w, "values") || walk_word(w, "table"))
		return JM_SQL_SELECT;
	if (walk_word(w, "insert") || walk_word(w, "replace"))
		return JM_SQL_INSERT;
	if (walk_word(w, "update"))
		return JM_SQL_UPDATE;
	if (walk_word(w, "delete"))
		return JM_SQL_DELETE;
	if (walk_word(w, "merge"))
		return JM_SQL_MERGE;
	if (walk_word(w, "load")) {
		struct walk probe = *w;
		if (walk_next(&probe) && (walk_word(&probe, "data") || walk_word(&probe, "xml")))
			return JM_SQL_COPY_FROM;
		return JM_SQL_OTHER;
	}
	if (walk_word(w, "copy")) {
		struct walk probe = *w;
		int base = w->depth;
		while (walk_next(&probe)) {
			if (probe.depth != base)
				continue;
			if (walk_word(&probe, "from"))
				return JM_SQL_COPY_FROM;
			if (walk_word(&probe, "to"))
				return JM_SQL_COPY_TO;
		}
		return JM_SQL_OTHER;
	}
	if (walk_word(w, "create")) {
		struct walk probe = *w;
		int base = w->depth;
		bool table = false;
		while (walk_next(&probe)) {
			/* CREATE TABLE x (..); SELECT ..: the statement ended
			 * without AS; what follows is another statement. */
			if (probe.depth == base && walk_punct(&probe, ';'))
				return JM_SQL_OTHER;
			if (!table) {
				if (walk_word(&probe, "table")) {
					table = true;
					continue;
				}
				if (walk_word(&probe, "temp") || walk_word(&probe, "temporary") ||
				    walk_word(&probe, "global") || walk_word(&probe, "local") ||
				    walk_word(&probe, "unlogged") || walk_word(&probe, "or") ||
				    walk_word(&probe, "replace"))
					continue;
				return JM_SQL_OTHER;
			}
			if (probe.depth == base &&
			    (walk_word(&probe, "as") || walk_word(&probe, "select")))
				return JM_SQL_CREATE_TABLE_AS;
		}
		return JM_SQL_OTHER;
	}
	return JM_SQL_OTHER;
}

enum jm_sql_cmd jm_sql_command(const char *sql, size_t len, unsigned flags)
{
	struct walk w;

	walk_init(&w, sql, len, flags);
	return classify(&w);
}

/* Appends one name part; false when it does not fit. */
static bool name_part(const struct walk *w, char *out, size_t outsz, size_t *ol)
{
	const unsigned char *p = w->lx.s + w->t.start;
	size_t k = w->t.end - w->t.start, i;
	bool quoted = (w->t.kind == TK_QIDENT);

	if (quoted) {          /* strip the quotes, undouble inner ones */
		unsigned char q = p[0];
		for (i = 1; i + 1 < k; i++) {
			if (p[i] == q && i + 2 < k && p[i + 1] == q)
				i++;
			if (*ol + 1 >= outsz)
				return false;
			out[(*ol)++] = is_space(p[i]) ? ' ' : (char)p[i];
		}
		return true;
	}
	for (i = 0; i < k; i++) {
		if (*ol + 1 >= outsz)
			return false;
		out[(*ol)++] = (char)to_lower(p[i]);
	}
	return true;
}

/* Reads a possibly qualified name at the current token. */
static bool read_name(struct walk *w, char *out, size_t outsz)
{
	size_t ol = 0;
	int parts = 0;

	for (;;) {
		if (w->t.kind != TK_WORD && w->t.kind != TK_QIDENT)
			return false;
		if (!name_part(w, out, outsz, &ol))
			return false;
		parts++;
		struct walk probe = *w;
		if (parts >= 4 || !walk_next(&probe) || !walk_punct(&probe, '.'))
			break;
		if (!walk_next(&probe) || ol + 1 >= outsz)
			return false;
		out[ol++] = '.';
		*w = probe;
	}
	out[ol] = '\0';
	return ol > 0;
}

/* Skips any of the listed words; returns false at the end of input. */
static bool skip_words(struct walk *w, const char *const *words)
{
	for (;;) {
		if (!walk_next(w))
			return false;
		bool hit = false;
		for (const char *const *p = words; *p; p++)
			if (walk_word(w, *p)) {
				hit = true;
				break;
			}
		if (!hit)
			return true;
	}
}

size_t jm_sql_statement_end(const char *sql, size_t len, unsigned flags)
{
	struct walk w;
	bool first = true, create = false;

	walk_init(&w, sql, len, flags);
	while (walk_next(&w)) {
		if (first)
			create = walk_word(&w, "create");
		first = false;
		if (create && walk_word(&w, "begin"))
			return len;
		if (w.depth == 0 && walk_punct(&w, ';'))
			return w.t.end;
	}
	return len;
}

bool jm_sql_write_target(const char *sql, size_t len, unsigned flags, char *out, size_t outsz)
{
	static const char *const ins_mods[] = { "low_priority", "delayed", "high_priority",
						"ignore", "into", NULL };
	static const char *const upd_mods[] = { "only", "low_priority", "ignore", NULL };
	static const char *const del_mods[] = { "low_priority", "quick", "ignore", NULL };
	static const char *const only[] = { "only", NULL };
	static const char *const copy_mods[] = { "binary", NULL };
	struct walk w;
	enum jm_sql_cmd cmd;
	bool ok = false;

	if (!out || outsz == 0)
		return false;
	out[0] = '\0';
	walk_init(&w, sql, len, flags);
	cmd = classify(&w);
	switch (cmd) {
	case JM_SQL_INSERT:
		ok = skip_words(&w, ins_mods) && read_name(&w, out, outsz);
		break;
	case JM_SQL_UPDATE:
		ok = skip_words(&w, upd_mods) && read_name(&w, out, outsz);
		break;
	case JM_SQL_DELETE:
		if (!skip_words(&w, del_mods))
			break;
		if (walk_word(&w, "from") && !skip_words(&w, only))
			break;
		ok = read_name(&w, out, outsz);   /* also DELETE t1 FROM t1 JOIN .. */
		break;
	case JM_SQL_MERGE:
		ok = walk_next(&w) && walk_word(&w, "into") && walk_next(&w) &&
		     read_name(&w, out, outsz);
		break;
	case JM_SQL_COPY_FROM:
		if (walk_word(&w, "load")) {      /* LOAD DATA .. INTO TABLE x */
			int base = w.depth;
			while (walk_next(&w))
				if (w.depth == base && walk_word(&w, "into"))
					break;
			ok = walk_next(&w) && walk_word(&w, "table") && walk_next(&w) &&
			     read_name(&w, out, outsz);
		} else {
			ok = skip_words(&w, copy_mods) && read_name(&w, out, outsz);
		}
		break;
	case JM_SQL_CREATE_TABLE_AS:
		while (walk_next(&w) && !walk_word(&w, "table"))
			;
		if (!walk_next(&w))
			break;
		if (walk_word(&w, "if")) {        /* IF NOT EXISTS */
			if (!walk_next(&w) || !walk_word(&w, "not") || !walk_next(&w) ||
			    !walk_word(&w, "exists") || !walk_next(&w))
				break;
		}
		ok = read_name(&w, out, outsz);
		break;
	default:
		break;
	}
	if (!ok)
		out[0] = '\0';
	return ok;
}
