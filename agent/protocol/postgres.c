/* PostgreSQL v3 protocol parser, client side.  Contract and semantics in
 * postgres.h; capture model in protocol.h.
 *
 * Layout: byte framing per direction (dir_bytes/dir_gap: headers, bodies,
 * captured prefixes), message handlers (tx_msg/rx_msg), the request queue
 * that matches responses to requests (ring + overflow runs), resync, and
 * small SQL/tag helpers.  Everything is iterative and bounded. */
#include "postgres.h"

#include <string.h>

#define PG_MAX_LEN        (1u << 30)  /* larger length fields are garbage */
#define PG_STARTUP_MAX    10000u      /* server's MAX_STARTUP_PACKET_LENGTH */
#define PG_CODE_CANCEL    80877102u
#define PG_CODE_SSL       80877103u
#define PG_CODE_GSSENC    80877104u
#define PG_PROTO_MAJOR    3u

enum { MODE_UNKNOWN = 0, MODE_UNTYPED = 1, MODE_TYPED = 2 };
/* K_VOID: a Sync the server ignores (sent during copy-in mode). */
enum { K_SIMPLE = 1, K_EXEC = 2, K_SYNC = 3, K_VOID = 4 };

#define RUN_SYNC   0x80000000u
#define RUN_COUNT  0x7fffffffu

/* Target of a backend response: a ring index, the overflow queue, or none. */
#define T_NONE (-1)
#define T_OVF  (-2)

struct pg_run {               /* one jm_pg_feed() call */
	struct jm_pg_conn *c;
	jm_query_cb cb;
	void *ctx;
	struct jm_proto_stats *st;
	uint64_t ts;
	size_t lost_off;      /* fragment offset where framing was lost */
	bool tx;
};

/* Contiguous stream bytes in up to three pieces (carried tail of the
 * previous fragment, head, rest of a whole fragment's tail), addressed as
 * one array. */
struct pg_view {
	const uint8_t *a, *b, *c;
	size_t alen, blen, clen;
};

/* ------------------------------------------------------------------ utils */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static size_t view_len(const struct pg_view *v)
{
	return v->alen + v->blen + v->clen;
}

static uint8_t view_at(const struct pg_view *v, size_t i)
{
	if (i < v->alen)
		return v->a[i];
	i -= v->alen;
	return i < v->blen ? v->b[i] : v->c[i - v->blen];
}

static uint32_t view_be32(const struct pg_view *v, size_t i)
{
	return (uint32_t)view_at(v, i) << 24 | (uint32_t)view_at(v, i + 1) << 16 |
	       (uint32_t)view_at(v, i + 2) << 8 | view_at(v, i + 3);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static char up(char ch)
{
	return ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch;
}

/* Case-insensitive compare of a word with an upper-case keyword. */
static bool kw(const char *w, size_t n, const char *k)
{
	size_t i = 0;

	for (; i < n && k[i]; i++)
		if (up(w[i]) != k[i])
			return false;
	return i == n && k[i] == '\0';
}

/* Length of the NUL-terminated string at b[off..n); *term tells whether the
 * terminator was seen (else the string runs off the captured prefix). */
static size_t cstr(const uint8_t *b, size_t n, size_t off, bool *term)
{
	const uint8_t *z;

	if (off >= n) {
		*term = false;
		return 0;
	}
	z = memchr(b + off, 0, n - off);
	*term = z != NULL;
	return z ? (size_t)(z - (b + off)) : n - off;
}

/* ------------------------------------------------------------ SQL helpers */

struct sql_tok {
	const char *s;
	size_t n, pos;
	int depth;            /* parenthesis depth of the last word returned */
	bool semi;            /* a top-level ';' was passed: the first statement ended */
};

/* Next bare word ([A-Za-z_][A-Za-z0-9_$]*) outside comments, string
 * literals and quoted identifiers.  Parentheses only move the depth. */
static bool sql_word(struct sql_tok *t, const char **w, size_t *wl)
{
	while (t->pos < t->n) {
		char ch = t->s[t->pos];
		if (ch == '-' && t->pos + 1 < t->n && t->s[t->pos + 1] == '-') {
			while (t->pos < t->n && t->s[t->pos] != '\n')
				t->pos++;
		} else if (ch == '/' && t->pos + 1 < t->n && t->s[t->pos + 1] == '*') {
			int nest = 0; /* PostgreSQL block comments nest */
			while (t->pos + 1 < t->n) {
				if (t->s[t->pos] == '/' && t->s[t->pos + 1] == '*') {
					nest++;
					t->pos += 2;
				} else if (t->s[t->pos] == '*' && t->s[t->pos + 1] == '/') {
					t->pos += 2;
					if (--nest == 0)
						break;
				} else {
					t->pos++;
				}
			}
			if (nest > 0)
				t->pos = t->n;
		} else if (ch == '\'' || ch == '"') {
			t->pos++;
			while (t->pos < t->n && t->s[t->pos] != ch)
				t->pos++; /* a doubled quote just reopens: same result */
			t->pos++;
		} else if (ch == '(') {
			t->depth++;
			t->pos++;
		} else if (ch == ')') {
			if (t->depth > 0)
				t->depth--;
			t->pos++;
		} else if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_') {
			size_t st = t->pos;
			while (t->pos < t->n) {
				char c2 = t->s[t->pos];
				if ((c2 >= 'A' && c2 <= 'Z') || (c2 >= 'a' && c2 <= 'z') || c2 == '_' ||
				    c2 == '$' || (c2 >= '0' && c2 <= '9') || (unsigned char)c2 >= 0x80)
					t->pos++;
				else
					break;
			}
			*w = t->s + st;
			*wl = t->pos - st;
			return true;
		} else if ((ch >= '0' && ch <= '9') || (unsigned char)ch >= 0x80) {
			while (t->pos < t->n && ((t->s[t->pos] >= '0' && t->s[t->pos] <= '9') ||
						 (unsigned char)t->s[t->pos] >= 0x80 || t->s[t->pos] == '.'))
				t->pos++;
		} else {
			if (ch == ';' && t->depth == 0)
				t->semi = true;
			t->pos++;
		}
	}
	return false;
}

/* 0: not CREATE TABLE/MATERIALIZED VIEW, or one without AS that a
 * top-level ';' ends (a "SELECT n" tag then belongs to a later statement);
 * 1: it is, no top-level AS seen (yet: the text may be truncated);
 * 2: CREATE ... AS query. */
static int sql_create_rel(const char *s, size_t n)
{
	struct sql_tok t = { s, n, 0, 0, false };
	const char *w;
	size_t wl;

	if (!sql_word(&t, &w, &wl) || !kw(w, wl, "CREATE"))
		return 0;
	for (int i = 0; i < 6; i++) {
		if (!sql_word(&t, &w, &wl))
			return 0;
		if (kw(w, wl, "TABLE"))
			goto rel;
		if (kw(w, wl, "MATERIALIZED")) {
			if (!sql_word(&t, &w, &wl) || !kw(w, wl, "VIEW"))
				return 0;
			goto rel;
		}
		if (!kw(w, wl, "OR") && !kw(w, wl, "REPLACE") && !kw(w, wl, "GLOBAL") &&
		    !kw(w, wl, "LOCAL") && !kw(w, wl, "TEMP") && !kw(w, wl, "TEMPORARY") &&
		    !kw(w, wl, "UNLOGGED"))
			return 0;
	}
	return 0;
rel:
	while (sql_word(&t, &w, &wl)) {
		if (t.semi)
			return 0;
		if (t.depth == 0 && kw(w, wl, "AS"))
			return 2;
	}
	return t.semi ? 0 : 1;
}

/* Does the text hold one statement: no word after a top-level ';'?  A ';'
 * inside a dollar quote reads as a second statement: wrong only towards
 * "rows unknown". */
static bool sql_single(const char *s, size_t n)
{
	struct sql_tok t = { s, n, 0, 0, false };
	const char *w;
	size_t wl;

	while (sql_word(&t, &w, &wl))
		if (t.semi)
			return false;
	return true;
}

/* Statement kind from the SQL text alone (used when no tag says it). */
static enum jm_sql_cmd sql_classify(const char *s, size_t n)
{
	struct sql_tok t = { s, n, 0, 0, false };
	const char *w;
	size_t wl;

	if (!sql_word(&t, &w, &wl))
		return JM_SQL_OTHER;
	if (kw(w, wl, "SELECT") || kw(w, wl, "VALUES") || kw(w, wl, "TABLE"))
		return JM_SQL_SELECT;
	if (kw(w, wl, "INSERT"))
		return JM_SQL_INSERT;
	if (kw(w, wl, "UPDATE"))
		return JM_SQL_UPDATE;
	if (kw(w, wl, "DELETE"))
		return JM_SQL_DELETE;
	if (kw(w, wl, "MERGE"))
		return JM_SQL_MERGE;
	if (kw(w, wl, "WITH")) {
		/* The statement after the CTE list decides; CTE bodies are in
		 * parentheses, so look at top-level words only. */
		while (sql_word(&t, &w, &wl)) {
			if (t.depth != 0)
				continue;
			if (kw(w, wl, "SELECT"))
				return JM_SQL_SELECT;
			if (kw(w, wl, "INSERT"))
				return JM_SQL_INSERT;
			if (kw(w, wl, "UPDATE"))
				return JM_SQL_UPDATE;
			if (kw(w, wl, "DELETE"))
				return JM_SQL_DELETE;
			if (kw(w, wl, "MERGE"))
				return JM_SQL_MERGE;
		}
		return JM_SQL_SELECT;
	}
	if (kw(w, wl, "COPY")) {
		/* COPY tbl [(cols)] FROM|TO ..., COPY (query) TO ... */
		while (sql_word(&t, &w, &wl)) {
			if (t.depth != 0)
				continue;
			if (kw(w, wl, "FROM"))
				return JM_SQL_COPY_FROM;
			if (kw(w, wl, "TO"))
				return JM_SQL_COPY_TO;
		}
		return JM_SQL_OTHER;
	}
	if (kw(w, wl, "CREATE"))
		return sql_create_rel(s, n) == 2 ? JM_SQL_CREATE_TABLE_AS : JM_SQL_OTHER;
	return JM_SQL_OTHER;
}

/* How much a cmd says about data written: a multi-statement query reports
 * its most telling tag (writes matter for dataset freshness). */
static int cmd_rank(int cmd)
{
	switch (cmd) {
	case JM_SQL_INSERT: case JM_SQL_UPDATE: case JM_SQL_DELETE: case JM_SQL_MERGE:
	case JM_SQL_COPY_FROM: case JM_SQL_CREATE_TABLE_AS:
		return 2;
	case JM_SQL_SELECT: case JM_SQL_COPY_TO:
		return 1;
	default:
		return 0;
	}
}

struct pg_tag {
	enum jm_sql_cmd cmd;
	uint64_t rows;
	bool has_rows;
};

/* Decode a CommandComplete tag ("SELECT 5", "INSERT 0 5", "COPY 10", ...).
 * copy_in/copy_out say which COPY response preceded it; sql is the request
 * text (CREATE TABLE AS reports "SELECT n"). */
static struct pg_tag tag_decode(const uint8_t *tag, size_t n, bool copy_in, bool copy_out,
				const char *sql, size_t sql_len)
{
	struct pg_tag r = { JM_SQL_OTHER, 0, false };
	const char *s = (const char *)tag;
	size_t wl = 0, last = 0;
	bool counted;

	while (wl < n && s[wl] != ' ')
		wl++;
	counted = kw(s, wl, "SELECT") || kw(s, wl, "INSERT") || kw(s, wl, "UPDATE") ||
		  kw(s, wl, "DELETE") || kw(s, wl, "MERGE") || kw(s, wl, "COPY") ||
		  kw(s, wl, "FETCH") || kw(s, wl, "MOVE");
	if (counted && wl < n) {
		/* the row count is the last token (INSERT has an OID before it) */
		for (size_t i = 0; i < n; i++)
			if (s[i] == ' ')
				last = i + 1;
		uint64_t v = 0;
		size_t i = last, nd = 0;
		for (; i < n && s[i] >= '0' && s[i] <= '9' && nd < 20; i++, nd++) {
			uint64_t d = (uint64_t)(s[i] - '0');
			if (v > (UINT64_MAX - d) / 10)
				break;
			v = v * 10 + d;
		}
		if (nd > 0 && i == n) {
			r.rows = v;
			r.has_rows = true;
		}
	}
	if (kw(s, wl, "SELECT"))
		r.cmd = sql_create_rel(sql, sql_len) ? JM_SQL_CREATE_TABLE_AS : JM_SQL_SELECT;
	else if (kw(s, wl, "FETCH"))
		r.cmd = JM_SQL_SELECT;
	else if (kw(s, wl, "INSERT"))
		r.cmd = JM_SQL_INSERT;
	else if (kw(s, wl, "UPDATE"))
		r.cmd = JM_SQL_UPDATE;
	else if (kw(s, wl, "DELETE"))
		r.cmd = JM_SQL_DELETE;
	else if (kw(s, wl, "MERGE"))
		r.cmd = JM_SQL_MERGE;
	else if (kw(s, wl, "COPY")) {
		if (copy_in)
			r.cmd = JM_SQL_COPY_FROM;
		else if (copy_out)
			r.cmd = JM_SQL_COPY_TO;
		else {
			enum jm_sql_cmd k = sql_classify(sql, sql_len);
			r.cmd = k == JM_SQL_COPY_TO ? JM_SQL_COPY_TO : JM_SQL_COPY_FROM;
		}
	}
	return r;
}

/* SQLSTATE from ErrorResponse fields (type byte + cstring, ..., 0). */
static void error_sqlstate(const uint8_t *b, size_t n, char out[6])
{
	size_t pos = 0;

	memset(out, 0, 6);
	while (pos < n && b[pos] != 0) {
		uint8_t ft = b[pos++];
		bool term;
		size_t l = cstr(b, n, pos, &term);
		if (!term)
			return;
		if (ft == 'C') {
			/* a SQLSTATE is five of [0-9A-Z]; other bytes (a message
			 * taken out of sync from row data) are not reported */
			bool code = l == 5;
			for (size_t k = 0; code && k < 5; k++)
				code = (b[pos + k] >= '0' && b[pos + k] <= '9') ||
				       (b[pos + k] >= 'A' && b[pos + k] <= 'Z');
			if (code) {
				memcpy(out, b + pos, 5);
				out[5] = '\0';
			}
			return;
		}
		pos += l + 1;
	}
}

/* ------------------------------------------------------- request queue */

static struct jm_pg_pending *q_at(struct jm_pg_conn *c, uint32_t i)
{
	return &c->q[(c->q_head + i) % JM_PG_PENDING_MAX];
}

static void q_pop(struct jm_pg_conn *c)
{
	c->q_head = (c->q_head + 1) % JM_PG_PENDING_MAX;
	c->q_len--;
}

static void copy_sql(char *dst, uint16_t *dlen, bool *dtrunc, const char *sql, size_t len, bool trunc)
{
	if (len > JM_PG_SQL_MAX) {
		len = JM_PG_SQL_MAX;
		trunc = true;
	}
	if (len)
		memcpy(dst, sql, len);
	*dlen = (uint16_t)len;
	*dtrunc = trunc;
}

static void ovf_push(struct pg_run *r, int kind, const char *sql, size_t len, bool trunc)
{
	struct jm_pg_overflow *o = &r->c->ovf;
	uint32_t bit = kind == K_SYNC ? RUN_SYNC : 0;

	if (o->run_len == 0) {
		o->first_ns = r->ts;
		o->last_done_ns = 0;
		o->datarows = 0;
		o->copy_in = o->copy_out = false;
		o->sql_len = 0;
		o->sql_truncated = false;
	}
	if (kind != K_SYNC && o->sql_len == 0 && len > 0)
		copy_sql(o->sql, &o->sql_len, &o->sql_truncated, sql, len, trunc);
	if (o->run_len > 0) {
		uint32_t *tail = &o->runs[(o->run_head + o->run_len - 1) % JM_PG_RUNS];
		if ((*tail & RUN_SYNC) == bit && (*tail & RUN_COUNT) < RUN_COUNT) {
			(*tail)++;
			return;
		}
	}
	if (o->run_len == JM_PG_RUNS) {
		/* Alternating Execute/Sync deeper than everything we keep: the
		 * request cannot be queued, so matching will drift. */
		r->st->parse_errors++;
		r->c->ovf_lost = true;
		return;
	}
	o->runs[(o->run_head + o->run_len) % JM_PG_RUNS] = bit | 1;
	o->run_len++;
}

/* Requests queued that a ReadyForQuery will answer (Queries and Syncs the
 * server does not ignore), capped at 2: callers ask "none", "one", "more". */
static uint32_t zowners(const struct jm_pg_conn *c)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < c->q_len && n < 2; i++) {
		uint8_t k = c->q[(c->q_head + i) % JM_PG_PENDING_MAX].kind;
		n += k == K_SIMPLE || k == K_SYNC;
	}
	for (uint32_t i = 0; i < c->ovf.run_len && n < 2; i++) {
		uint32_t run = c->ovf.runs[(c->ovf.run_head + i) % JM_PG_RUNS];
		if (run & RUN_SYNC)
			n += (run & RUN_COUNT) > 1 ? 2 : 1;
	}
	return n < 2 ? n : 2;
}

/* Queue a request.  Returns the ring entry, or NULL when it went to the
 * overflow runs (which must stay behind everything already there). */
static struct jm_pg_pending *q_push(struct pg_run *r, int kind, const char *sql, size_t len,
				    bool trunc, uint64_t start)
{
	struct jm_pg_conn *c = r->c;

	if (c->q_len == 0 && c->ovf.run_len == 0)
		c->ovf_lost = false;  /* responses match requests again */
	if ((kind == K_SIMPLE || kind == K_SYNC) && zowners(c) > 0)
		c->tx_pipelined = true; /* sent before the last one was answered */
	if (c->ovf.run_len > 0 || c->q_len == JM_PG_PENDING_MAX) {
		if (kind == K_SIMPLE) {
			/* a Query answers like Execute + Sync */
			ovf_push(r, K_EXEC, sql, len, trunc);
			ovf_push(r, K_SYNC, NULL, 0, false);
		} else {
			ovf_push(r, kind, sql, len, trunc);
		}
		return NULL;
	}
	struct jm_pg_pending *e = q_at(c, c->q_len);
	c->q_len++;
	e->start_ns = start;
	e->rows = e->datarows = 0;
	e->kind = (uint8_t)kind;
	e->cmd = JM_SQL_OTHER;
	e->has_rows = e->tagged = e->error = e->done = e->copy_in = e->copy_out = false;
	e->rows_lost = false;
	e->sqlstate[0] = '\0';
	copy_sql(e->sql, &e->sql_len, &e->sql_truncated, sql, len, trunc);
	return e;
}

static void emit_entry(struct pg_run *r, const struct jm_pg_pending *e, uint64_t end)
{
	struct jm_query q;

	if (!r->cb)
		return;
	memset(&q, 0, sizeof(q));
	q.start_ns = e->start_ns;
	q.end_ns = end;
	q.sql = e->sql;
	q.sql_len = e->sql_len;
	q.sql_truncated = e->sql_truncated;
	q.error = e->error;
	memcpy(q.sqlstate, e->sqlstate, sizeof(q.sqlstate));
	q.sqlstate[5] = '\0';
	q.rows = e->rows;
	q.has_rows = e->has_rows && !e->rows_lost;
	/* A failed query keeps the rows it returned before the error; when
	 * some went by unseen, its count is unknown (as for a success). */
	q.rows_unknown = e->rows_lost;
	q.cmd = e->tagged ? (enum jm_sql_cmd)e->cmd : sql_classify(e->sql, e->sql_len);
	r->cb(r->ctx, &q);
}

/* Report the first Execute of the overflow queue (whose responses are not
 * held until ReadyForQuery: there is no room to hold them). */
static void ovf_emit(struct pg_run *r, const struct pg_tag *tag, const char *sqlstate, bool error)
{
	struct jm_pg_overflow *o = &r->c->ovf;
	uint32_t *head = &o->runs[o->run_head];

	if (r->cb) {
		struct jm_query q;
		memset(&q, 0, sizeof(q));
		q.start_ns = o->last_done_ns > o->first_ns ? o->last_done_ns : o->first_ns;
		q.end_ns = r->ts;
		q.sql = o->sql;
		q.sql_len = o->sql_len;
		q.sql_truncated = o->sql_truncated;
		q.error = error;
		if (error && sqlstate) {
			memcpy(q.sqlstate, sqlstate, sizeof(q.sqlstate));
			q.sqlstate[5] = '\0';
		}
		if (tag) {
			q.rows = tag->rows;
			q.has_rows = tag->has_rows;
			q.cmd = tag->cmd;
		} else {
			q.cmd = sql_classify(o->sql, o->sql_len);
		}
		r->cb(r->ctx, &q);
	}
	o->last_done_ns = r->ts;
	o->datarows = 0;
	o->copy_in = o->copy_out = false;
	if ((--*head & RUN_COUNT) == 0) {
		o->run_head = (o->run_head + 1) % JM_PG_RUNS;
		o->run_len--;
	}
}

static bool ovf_head_is_exec(const struct jm_pg_conn *c)
{
	return c->ovf.run_len > 0 && !(c->ovf.runs[c->ovf.run_head] & RUN_SYNC);
}

/* Fail every Execute of the overflow head run (the rest of a Sync batch). */
static void ovf_fail_run(struct pg_run *r, const char *sqlstate)
{
	while (ovf_head_is_exec(r->c)) {
		uint32_t before = r->c->ovf.run_len;
		ovf_emit(r, NULL, sqlstate, true);
		if (r->c->ovf.run_len != before)
			break; /* the run is gone */
	}
}

static int rx_target(struct jm_pg_conn *c)
{
	for (uint32_t i = 0; i < c->q_len; i++) {
		const struct jm_pg_pending *e = q_at(c, i);
		if (e->kind == K_SYNC)
			return T_NONE;
		if (e->kind == K_SIMPLE || (e->kind == K_EXEC && !e->done))
			return (int)i;
	}
	return ovf_head_is_exec(c) ? T_OVF : T_NONE;
}

/* ------------------------------------------------------ backend messages */

static void on_complete(struct pg_run *r, const uint8_t *b, size_t n, bool whole)
{
	struct jm_pg_conn *c = r->c;
	int t = rx_target(c);
	bool term;
	size_t tl = cstr(b, n, 0, &term);

	/* In copy-in mode the server sends CommandComplete only once it has
	 * read the client's CopyDone: the copy stream is over. */
	c->tx_copy_in = false;

	/* A tag cut by the capture gap could read "SELECT 12" for 12345:
	 * without its terminator we only learn that the statement finished. */
	bool usable = whole && term;
	if (t == T_OVF) {
		struct jm_pg_overflow *o = &c->ovf;
		struct pg_tag tag = { sql_classify(o->sql, o->sql_len), 0, false };
		if (usable)
			tag = tag_decode(b, tl, o->copy_in, o->copy_out, o->sql, o->sql_len);
		ovf_emit(r, &tag, NULL, false);
		return;
	}
	if (t == T_NONE)
		return;
	struct jm_pg_pending *e = q_at(c, (uint32_t)t);
	if (usable) {
		struct pg_tag tag = tag_decode(b, tl, e->copy_in, e->copy_out, e->sql, e->sql_len);
		if (tag.has_rows) {
			e->rows = sat_add(e->rows, tag.rows);
			e->has_rows = true;
		}
		if (!e->tagged || cmd_rank(tag.cmd) > cmd_rank(e->cmd))
			e->cmd = (uint8_t)tag.cmd;
		e->tagged = true;
	}
	e->copy_in = e->copy_out = false;
	e->datarows = 0;         /* in the tag: the next statement's start afresh */
	if (e->kind == K_EXEC)
		e->done = true;
}

/* The rows a statement returned before its error: the client received
 * them, so a failed query has them (its DataRows since the last
 * CommandComplete), like the ones that completed before it. */
static void keep_rows_before_error(struct jm_pg_pending *e)
{
	if (e->datarows) {
		e->rows = sat_add(e->rows, e->datarows);
		e->has_rows = true;
		e->datarows = 0;
	}
}

/* An ErrorResponse with no Execute left to answer.  When the batch's
 * Executes have all completed and its Sync is next, the error was raised at
 * the Sync: the implicit transaction's COMMIT failed (a deferred constraint,
 * 23503; a serialization failure, 40001) and the whole batch rolled back, so
 * its Executes failed with it (they keep their tags' rows, as a simple Query
 * answered CommandComplete + ErrorResponse does).  Otherwise (authentication
 * failure, a Parse error in a batch without Execute) it is nobody's query.
 * Executes of the batch already reported from the overflow runs cannot be
 * taken back. */
static bool fail_at_sync(struct jm_pg_conn *c, const char sqlstate[6])
{
	uint32_t n = 0;
	bool sync = false, failed = false;

	for (; n < c->q_len; n++) {
		uint8_t kind = q_at(c, n)->kind;
		if (kind == K_SYNC) {
			sync = true;
			break;
		}
		if (kind != K_EXEC && kind != K_VOID)
			return false;
	}
	if (!sync && !(n == c->q_len && c->ovf.run_len > 0 &&
		       (c->ovf.runs[c->ovf.run_head] & RUN_SYNC)))
		return false;
	for (uint32_t i = 0; i < n; i++) {
		struct jm_pg_pending *e = q_at(c, i);
		if (e->kind == K_EXEC) {
			failed = true;
			if (!e->error) {
				e->error = true;
				memcpy(e->sqlstate, sqlstate, 6);
			}
		}
	}
	return failed;
}

static void on_error(struct pg_run *r, const char sqlstate[6])
{
	struct jm_pg_conn *c = r->c;
	int t = rx_target(c);

	if (t == T_OVF) {
		ovf_fail_run(r, sqlstate);
		return;
	}
	if (t == T_NONE) {
		/* An error no query carries: a refused connection
		 * (authentication, an unknown database), a Parse error in a
		 * batch without Execute, requests dropped when the overflow
		 * runs were full.  The job saw it fail all the same: it is
		 * counted for the caller to add to the connection's error
		 * total (db.c: the db entry's `errors`). */
		if (!fail_at_sync(c, sqlstate))
			r->st->unmatched_errors++;
		return;
	}
	struct jm_pg_pending *e = q_at(c, (uint32_t)t);
	keep_rows_before_error(e);
	if (e->kind == K_SIMPLE) {
		if (!e->error) {
			e->error = true;
			memcpy(e->sqlstate, sqlstate, 6);
		}
		return;
	}
	/* The server now skips to Sync: every Execute still outstanding in this
	 * batch fails with this error. */
	uint32_t i = (uint32_t)t;
	for (; i < c->q_len; i++) {
		e = q_at(c, i);
		if (e->kind == K_SYNC)
			return;
		if (e->kind == K_EXEC && !e->done) {
			e->done = true;
			e->error = true;
			memcpy(e->sqlstate, sqlstate, 6);
		}
	}
	ovf_fail_run(r, sqlstate); /* the batch continues in the overflow runs */
}

/* EmptyQueryResponse (rows = none) or PortalSuspended (rows = DataRows). */
static void on_exec_end(struct pg_run *r, bool suspended)
{
	struct jm_pg_conn *c = r->c;
	int t = rx_target(c);

	if (t == T_OVF) {
		struct pg_tag tag = { sql_classify(c->ovf.sql, c->ovf.sql_len), c->ovf.datarows, suspended };
		ovf_emit(r, &tag, NULL, false);
		return;
	}
	if (t == T_NONE)
		return;
	struct jm_pg_pending *e = q_at(c, (uint32_t)t);
	if (e->kind != K_EXEC)
		return;
	if (suspended) {
		e->rows = e->datarows;
		e->has_rows = true;
	}
	e->done = true;
}

/* A ReadyForQuery while TX is lost: does it show the client between
 * requests (postgres.h, "TX resync")?  Called before it is matched. */
static void tx_anchor_at_ready(struct jm_pg_conn *c)
{
	if (!c->tx.lost)
		return;
	uint32_t owed = zowners(c);
	if (c->tx_lost_copy && owed > 0)
		owed--;  /* the COPY's Query: answered after the client's CopyDone */
	/* tx_copy_in still set: the copy-in ended with an ErrorResponse, and
	 * the client may go on sending CopyData the server drops. */
	c->tx_anchor = owed == 0 && !c->tx_copy_in;
	c->tx_lost_copy = false;
}

static void on_ready(struct pg_run *r)
{
	struct jm_pg_conn *c = r->c;

	tx_anchor_at_ready(c);
	c->tx_copy_in = false; /* a server in copy-in mode sends no ReadyForQuery */

	while (c->q_len > 0) {
		struct jm_pg_pending *e = q_at(c, 0);
		int kind = e->kind;
		if (kind == K_SIMPLE || kind == K_EXEC)
			emit_entry(r, e, r->ts);
		q_pop(c);
		if (kind == K_SIMPLE || kind == K_SYNC)
			return; /* a Sync or a Query owns this ReadyForQuery */
	}
	/* The batch continues into the overflow runs.  Executes still open
	 * there lost their completion (we were out of sync): report them
	 * without rows, then consume the Sync. */
	while (ovf_head_is_exec(c)) {
		uint32_t before = c->ovf.run_len;
		ovf_emit(r, NULL, NULL, false);
		if (c->ovf.run_len != before)
			break;
	}
	if (c->ovf.run_len > 0 && (c->ovf.runs[c->ovf.run_head] & RUN_SYNC)) {
		uint32_t *head = &c->ovf.runs[c->ovf.run_head];
		if (--*head == RUN_SYNC) {
			c->ovf.run_head = (c->ovf.run_head + 1) % JM_PG_RUNS;
			c->ovf.run_len--;
		}
	}
}

static void rx_msg(struct pg_run *r, struct jm_pg_dir *d)
{
	struct jm_pg_conn *c = r->c;
	bool whole = d->cap_len == d->body_len;
	int t;

	/* After the anchoring ReadyForQuery an idle server sends only
	 * asynchronous messages; anything else answers a request we did not
	 * see (the client pipelines, or that ReadyForQuery was not real). */
	if (d->type != 'Z' && d->type != 'N' && d->type != 'S' && d->type != 'A')
		c->tx_anchor = false;

	switch (d->type) {
	case 'C':
		on_complete(r, d->cap, d->cap_len, whole);
		break;
	case 'E': {
		char state[6];
		error_sqlstate(d->cap, d->cap_len, state);
		on_error(r, state);
		break;
	}
	case 'I':
		on_exec_end(r, false);
		break;
	case 's':
		on_exec_end(r, true);
		break;
	case 'D':
	case 'G':
	case 'H':
		t = rx_target(c);
		if (d->type == 'G') {
			/* Copy-in mode: the server ignores Sync (and Flush) until
			 * CopyDone/CopyFail.  Syncs already queued behind this
			 * request were sent into that mode; later ones are not
			 * queued (tx_copy_in). */
			c->tx_copy_in = true;
			for (uint32_t i = t >= 0 ? (uint32_t)t + 1 : c->q_len; i < c->q_len; i++)
				if (q_at(c, i)->kind == K_SYNC)
					q_at(c, i)->kind = K_VOID;
		}
		if (t == T_NONE)
			break;
		if (t == T_OVF) {
			if (d->type == 'D')
				c->ovf.datarows++;
			c->ovf.copy_in |= d->type == 'G';
			c->ovf.copy_out |= d->type == 'H';
		} else {
			struct jm_pg_pending *e = q_at(c, (uint32_t)t);
			if (d->type == 'D')
				e->datarows++;
			e->copy_in |= d->type == 'G';
			e->copy_out |= d->type == 'H';
		}
		break;
	case 'Z':
		on_ready(r);
		break;
	default:
		break; /* R S K N A T t n 1 2 3 c d W V v: nothing to account */
	}
}

/* ----------------------------------------------------- frontend messages */

static struct jm_pg_slot *slot_find(struct jm_pg_slot *s, int n, const uint8_t *name, size_t len)
{
	if (len > JM_PG_NAME_MAX)
		len = JM_PG_NAME_MAX;
	if (len == 0)
		return &s[0];
	for (int i = 1; i < n; i++)
		if (s[i].used && s[i].name_len == len && memcmp(s[i].name, name, len) == 0)
			return &s[i];
	return NULL;
}

/* Existing slot of that name, else a free one, else the least recently
 * used named one. */
static struct jm_pg_slot *slot_claim(struct jm_pg_conn *c, struct jm_pg_slot *s, int n,
				     const uint8_t *name, size_t len)
{
	struct jm_pg_slot *x = slot_find(s, n, name, len);

	if (len > JM_PG_NAME_MAX)
		len = JM_PG_NAME_MAX;
	if (!x) {
		x = &s[1];
		for (int i = 1; i < n; i++) {
			if (!s[i].used) {
				x = &s[i];
				break;
			}
			if (s[i].last_used < x->last_used)
				x = &s[i];
		}
	}
	x->used = true;
	x->name_len = (uint16_t)len;
	if (len)
		memcpy(x->name, name, len);
	x->last_used = ++c->lru_clock;
	return x;
}

static void on_startup(struct pg_run *r, struct jm_pg_dir *d)
{
	struct jm_pg_conn *c = r->c;
	uint32_t code;

	if (d->cap_len < 4) {
		r->st->parse_errors++;
		return;
	}
	code = be32(d->cap);
	if (code == PG_CODE_SSL || code == PG_CODE_GSSENC)
		c->enc_reply = code == PG_CODE_SSL ? 'S' : 'G'; /* still untyped next */
	else if (code == PG_CODE_CANCEL)
		c->stopped = true; /* a cancel connection carries nothing else */
	else if (code >> 16 == PG_PROTO_MAJOR)
		d->mode = MODE_TYPED;
	else
		r->st->parse_errors++;
}

static void tx_msg(struct pg_run *r, struct jm_pg_dir *d)
{
	struct jm_pg_conn *c = r->c;
	const uint8_t *b = d->cap;
	size_t n = d->cap_len;
	bool term, term2;
	size_t l1, l2;
	struct jm_pg_slot *s;

	switch (d->type) {
	case 0:
		on_startup(r, d);
		break;
	case 'Q':
		l1 = cstr(b, n, 0, &term);
		q_push(r, K_SIMPLE, (const char *)b, l1, !term, d->msg_ts);
		break;
	case 'P': /* Parse: statement name, query, parameter types */
		l1 = cstr(b, n, 0, &term);
		if (!term)
			break;
		l2 = cstr(b, n, l1 + 1, &term2);
		s = slot_claim(c, c->stmts, 1 + JM_PG_STMTS, b, l1);
		s->sql_known = true;
		copy_sql(s->sql, &s->sql_len, &s->sql_truncated, (const char *)b + l1 + 1, l2, !term2);
		break;
	case 'B': { /* Bind: portal name, statement name, ... */
		l1 = cstr(b, n, 0, &term);
		if (!term)
			break;
		l2 = cstr(b, n, l1 + 1, &term2);
		if (!term2)
			break;
		struct jm_pg_slot *st = slot_find(c->stmts, 1 + JM_PG_STMTS, b + l1 + 1, l2);
		s = slot_claim(c, c->portals, JM_PG_PORTALS, b, l1);
		if (st && st->used && st->sql_known) {
			st->last_used = ++c->lru_clock;
			s->sql_known = true;
			copy_sql(s->sql, &s->sql_len, &s->sql_truncated, st->sql, st->sql_len, st->sql_truncated);
		} else {
			/* prepared before we started watching: count it, text unknown */
			s->sql_known = false;
			s->sql_len = 0;
			s->sql_truncated = false;
		}
		break;
	}
	case 'E': /* Execute: portal name, max rows */
		l1 = cstr(b, n, 0, &term);
		s = term ? slot_find(c->portals, JM_PG_PORTALS, b, l1) : NULL;
		if (s && s->used && s->sql_known)
			q_push(r, K_EXEC, s->sql, s->sql_len, s->sql_truncated, d->msg_ts);
		else
			q_push(r, K_EXEC, NULL, 0, false, d->msg_ts);
		break;
	case 'S':
		if (!c->tx_copy_in)
			q_push(r, K_SYNC, NULL, 0, false, d->msg_ts);
		break;
	case 'c':
	case 'f':
		c->tx_copy_in = false; /* CopyDone / CopyFail end copy-in mode */
		break;
	case 'C': /* Close: 'S'tatement or 'P'ortal, name */
		if (n < 2)
			break;
		l1 = cstr(b, n, 1, &term);
		if (!term)
			break;
		s = b[0] == 'S' ? slot_find(c->stmts, 1 + JM_PG_STMTS, b + 1, l1)
				: b[0] == 'P' ? slot_find(c->portals, JM_PG_PORTALS, b + 1, l1) : NULL;
		if (s) {
			s->used = false;
			s->sql_known = false;
		}
		break;
	default:
		break; /* D H d F X, and 'p' whose body is never captured */
	}
}

/* ------------------------------------------------------------- framing */

static bool fe_len_ok(uint8_t t, uint32_t len)
{
	switch (t) {
	case 'S': case 'H': case 'c': case 'X':
		return len == 4;
	case 'Q': case 'f': case 'p':
		return len >= 5;
	case 'P':
		return len >= 8;
	case 'B':
		return len >= 12;
	case 'D': case 'C':
		return len >= 6;
	case 'E':
		return len >= 9;
	case 'F':
		return len >= 14;
	case 'd':
		return len >= 4;
	default:
		return false;
	}
}

static bool be_len_ok(uint8_t t, uint32_t len)
{
	switch (t) {
	case 'Z':
		return len == 5;
	case '1': case '2': case '3': case 'n': case 'I': case 's': case 'c':
		return len == 4;
	case 'C': case 'E': case 'N':
		return len >= 5;
	case 'R': case 'V':
		return len >= 8;
	case 'K': case 'v':
		return len >= 12;
	case 'S': case 'D': case 'T': case 't':
		return len >= 6;
	case 'G': case 'H': case 'W':
		return len >= 7;
	case 'A':
		return len >= 10;
	case 'd':
		return len >= 4;
	default:
		return false;
	}
}

/* Which bodies are worth copying.  Never 'p' (passwords, SASL). */
static uint32_t cap_limit(bool tx, uint8_t type, uint32_t body_len)
{
	uint32_t lim;

	if (tx)
		lim = type == 0 ? 4 /* protocol code only, never the user/db params */
		    : (type == 'Q' || type == 'P' || type == 'B' || type == 'E' || type == 'C') ? JM_PG_CAP : 0;
	else
		lim = type == 'C' ? 128 : type == 'E' ? 512 : 0;
	return lim < body_len ? lim : body_len;
}

/* The captured prefix has served its message: wipe it, so nothing of a
 * message (a Bind's names, an error's message text) outlives it. */
static void cap_wipe(struct jm_pg_dir *d)
{
	if (d->cap_len)                 /* most messages capture nothing */
		memset(d->cap, 0, d->cap_len);
	d->cap_len = 0;
}

/* Bind: only the portal and statement names are needed.  Parameter values
 * follow them; whatever of them was just copied is wiped at once and no
 * more is captured. */
static void bind_trim(struct jm_pg_dir *d)
{
	const uint8_t *z = memchr(d->cap, 0, d->cap_len);

	if (!z)
		return;
	z = memchr(z + 1, 0, d->cap_len - (size_t)(z + 1 - d->cap));
	if (!z)
		return;
	uint32_t keep = (uint32_t)(z - d->cap) + 1;
	memset(d->cap + keep, 0, d->cap_len - keep);
	d->cap_len = d->cap_max = keep;
}

static void frame_reset(struct jm_pg_dir *d)
{
	d->hdr_have = 0;
	d->in_body = 0;
	cap_wipe(d);
}

static void lose(struct pg_run *r, struct jm_pg_dir *d, size_t off)
{
	d->lost = 1;
	r->lost_off = off;
	frame_reset(d);
	/* TX waits for a new anchor; RX losing sync voids the one it gave. */
	r->c->tx_anchor = false;
	if (r->tx)
		r->c->tx_lost_copy = r->c->tx_copy_in;
}

static void regain(struct pg_run *r, struct jm_pg_dir *d)
{
	d->lost = 0;
	frame_reset(d);
	r->st->resyncs++;
}

static void msg_end(struct pg_run *r, struct jm_pg_dir *d)
{
	if (r->tx)
		tx_msg(r, d);
	else
		rx_msg(r, d);
	d->in_body = 0;
	cap_wipe(d);
}

/* A message starts with header hdr (d->hdr, or the fragment itself when the
 * whole header is there). */
static bool msg_begin(struct pg_run *r, struct jm_pg_dir *d, const uint8_t *hdr)
{
	uint32_t len;
	uint8_t type;

	if (d->mode == MODE_UNTYPED) {
		type = 0;
		len = be32(hdr);
		if (len < 8 || len > PG_STARTUP_MAX)
			return false;
	} else {
		type = hdr[0];
		len = be32(hdr + 1);
		if (len > PG_MAX_LEN || !(r->tx ? fe_len_ok(type, len) : be_len_ok(type, len)))
			return false;
	}
	d->type = type;
	d->body_len = len - 4;
	d->body_got = 0;
	d->cap_len = 0;
	d->cap_max = cap_limit(r->tx, type, d->body_len);
	d->msg_ts = r->ts;
	d->hdr_have = 0;
	d->in_body = 1;
	return true;
}

/* Consume captured bytes p[0..n) at fragment offset off. */
static void dir_bytes(struct pg_run *r, struct jm_pg_dir *d, const uint8_t *p, size_t n, size_t off)
{
	struct jm_pg_conn *c = r->c;
	size_t i = 0;

	while (i < n && !d->lost && !c->stopped) {
		if (!d->in_body) {
			if (!r->tx && c->enc_reply && d->hdr_have == 0) {
				/* one-byte answer to SSLRequest / GSSENCRequest */
				uint8_t ans = p[i];
				if (ans == c->enc_reply) {
					c->stopped = true; /* encrypted from here on */
					return;
				}
				c->enc_reply = 0;
				if (ans == 'N') {
					i++;
					continue;
				}
				/* e.g. ErrorResponse of an old server: parse as typed */
			}
			if (d->mode == MODE_UNKNOWN) /* typed messages never start with 0 */
				d->mode = p[i] == 0 ? MODE_UNTYPED : MODE_TYPED;
			size_t hl = d->mode == MODE_UNTYPED ? 4 : 5;
			const uint8_t *hdr;
			if (d->hdr_have == 0 && n - i >= hl) {
				/* The usual case, the whole header in this
				 * fragment: read in place (copying it first
				 * made the load of the length wait for the
				 * copy's two stores). */
				hdr = p + i;
				i += hl;
			} else {
				size_t take = hl - d->hdr_have;
				if (take > n - i)
					take = n - i;
				memcpy(d->hdr + d->hdr_have, p + i, take);
				d->hdr_have = (uint8_t)(d->hdr_have + take);
				i += take;
				if (d->hdr_have < hl)
					break;
				hdr = d->hdr;
			}
			if (!msg_begin(r, d, hdr)) {
				r->st->parse_errors++;
				lose(r, d, off + i);
				break;
			}
			if (d->body_len == 0)
				msg_end(r, d);
			continue;
		}
		size_t take = d->body_len - d->body_got;
		if (take > n - i)
			take = n - i;
		if (d->cap_len == d->body_got && d->cap_len < d->cap_max) {
			size_t cp = d->cap_max - d->cap_len;
			if (cp > take)
				cp = take;
			memcpy(d->cap + d->cap_len, p + i, cp);
			d->cap_len += (uint32_t)cp;
			if (r->tx && d->type == 'B')
				bind_trim(d);
		}
		d->body_got += (uint32_t)take;
		i += take;
		if (d->body_got == d->body_len)
			msg_end(r, d);
	}
}

/* Skip n uncaptured bytes at fragment offset off.  The body prefix stays as
 * captured; cap_len < body_len then tells handlers the body is partial. */
static void dir_gap(struct pg_run *r, struct jm_pg_dir *d, uint64_t n, size_t off)
{
	if (d->lost || r->c->stopped || n == 0)
		return;
	if (!d->in_body) {
		lose(r, d, off + (size_t)n); /* a header lies in the gap */
		return;
	}
	uint64_t rem = d->body_len - d->body_got;
	if (n < rem) {
		d->body_got += (uint32_t)n;
		return;
	}
	d->body_got = d->body_len;
	msg_end(r, d);
	if (n > rem)
		lose(r, d, off + (size_t)n);
}

/* A client send as captured: head = bytes [0, hl), tail = [total - tl,
 * total) (contiguous with the head when the send is whole). */
struct tx_send {
	const uint8_t *head, *tail;
	size_t hl, tl, total;
};

static bool ts_vis(const struct tx_send *s, size_t x)
{
	return x < s->hl || (x < s->total && x >= s->total - s->tl);
}

static uint8_t ts_at(const struct tx_send *s, size_t x)
{
	return x < s->hl ? s->head[x] : s->tail[x - (s->total - s->tl)];
}

/* Not in SQL text: control bytes other than blanks, and DEL. */
static bool sql_ctl(uint8_t b)
{
	return (b < 0x20 && b != '\t' && b != '\n' && b != '\v' && b != '\f' && b != '\r') || b == 0x7f;
}

/* The string at [from, end) of a message, up to its NUL: 1 with *nul set
 * when the NUL is seen, 0 when the capture ends before it, -1 when it
 * cannot be (no NUL inside the message, longer than max when max > 0, a
 * control byte in text). */
static int ts_str(const struct tx_send *s, size_t from, size_t end, size_t max, bool text, size_t *nul)
{
	for (size_t x = from; x < end; x++) {
		if (x >= s->total || !ts_vis(s, x))
			return 0;
		uint8_t b = ts_at(s, x);
		if (b == 0) {
			*nul = x;
			return 1;
		}
		if ((max && x - from >= max) || (text && sql_ctl(b)))
			return -1;
	}
	return -1;
}

/* The visible body of the frontend message of type t at [pos, end). */
static bool tx_msg_ok(const struct tx_send *s, uint8_t t, size_t pos, size_t end)
{
	size_t body = pos + 5, nul = 0, nul2 = 0;
	bool seen_end = end <= s->total && ts_vis(s, end - 1);
	int k;

	switch (t) {
	case 'Q': {
		/* SQL text: no NUL or control byte before the terminator, which
		 * is the message's last byte.  Head and tail are checked (the
		 * middle of a long one is not seen). */
		size_t lim = end < s->total ? end : s->total;
		size_t r2 = s->total - s->tl;
		for (int part = 0; part < 2; part++) {
			size_t x = part ? (r2 > body ? r2 : body) : body;
			size_t e = part ? lim : (lim < s->hl ? lim : s->hl);
			if (part && x < s->hl)
				x = s->hl;
			for (; x < e; x++) {
				uint8_t b = ts_at(s, x);
				if (x == end - 1 ? b != 0 : (b == 0 || sql_ctl(b)))
					return false;
			}
		}
		return true;
	}
	case 'P': /* statement name, SQL text, int16 n, n int32 type oids */
		k = ts_str(s, body, end, JM_PG_NAME_MAX, false, &nul);
		if (k <= 0)
			return k == 0;
		k = ts_str(s, nul + 1, end, 0, true, &nul2);
		if (k <= 0)
			return k == 0;
		if (!seen_end || nul2 + 2 >= end || !ts_vis(s, nul2 + 1) || !ts_vis(s, nul2 + 2))
			return seen_end ? end - nul2 - 1 >= 2 : true;
		return end - nul2 - 1 == 2 + 4 * (size_t)(ts_at(s, nul2 + 1) << 8 | ts_at(s, nul2 + 2));
	case 'B': /* portal name, statement name, ... */
		k = ts_str(s, body, end, JM_PG_NAME_MAX, false, &nul);
		if (k <= 0)
			return k == 0;
		return ts_str(s, nul + 1, end, JM_PG_NAME_MAX, false, &nul2) >= 0;
	case 'E': /* portal name, int32 max rows */
		k = ts_str(s, body, end, JM_PG_NAME_MAX, false, &nul);
		if (k <= 0)
			return k == 0;
		return end == nul + 5;
	case 'D': case 'C': /* 'S'tatement or 'P'ortal, name */
		if (!ts_vis(s, body))
			return true;
		if (ts_at(s, body) != 'S' && ts_at(s, body) != 'P')
			return false;
		k = ts_str(s, body + 1, end, JM_PG_NAME_MAX, false, &nul);
		return k == 0 || (k == 1 && nul == end - 1);
	default:
		return true; /* S H X c: length 4 checked; F d f: no structure we rely on */
	}
}

/* A frontend message type (never 'p': no password mid-session). */
static bool fe_type(uint8_t t)
{
	return t != 'p' && (fe_len_ok(t, 4) || fe_len_ok(t, 64));
}

/* Does a client send start with requests (postgres.h, "TX resync")?
 * 0: no; 1: plausible requests, framing unseen past some point (a header in
 * the uncaptured middle, or the last message runs past the send's end);
 * 2: plausible and framed exactly: every header captured, the last message
 * ends at the send's end.  Each visible header must be valid, the first one
 * a type a request starts with; typed messages only (mid-session there is
 * no StartupMessage to resync on). */
static int tx_candidate(const struct tx_send *s)
{
	size_t pos = 0;
	bool first = true;

	while (pos < s->total) {
		bool hdr = pos + 5 <= s->total;
		for (size_t k = 0; hdr && k < 5; k++)
			hdr = ts_vis(s, pos + k);
		if (!hdr) {
			/* a header not (wholly) captured: framing unseen from
			 * here; a visible type byte must still be one */
			if (first || (ts_vis(s, pos) && !fe_type(ts_at(s, pos))))
				return 0;
			return 1;
		}
		uint8_t t = ts_at(s, pos);
		uint32_t len = (uint32_t)ts_at(s, pos + 1) << 24 | (uint32_t)ts_at(s, pos + 2) << 16 |
			       (uint32_t)ts_at(s, pos + 3) << 8 | ts_at(s, pos + 4);
		/* Text that happens to start with a type letter has a "length"
		 * of >= 0x09000000; real messages that large are rare, and
		 * passing on one only delays the resync. */
		if (t == 'p' || len >= (1u << 24) || !fe_len_ok(t, len))
			return 0;
		if (first && (t == 'd' || t == 'c' || t == 'f'))
			return 0; /* copy-in traffic never starts a request */
		if (!tx_msg_ok(s, t, pos, pos + 1 + (size_t)len))
			return 0;
		first = false;
		pos += 1 + (size_t)len;
	}
	return pos == s->total ? 2 : 1;
}

/* Drop the first overflow run, reporting its Executes without an outcome. */
static void ovf_drop_run(struct pg_run *r)
{
	struct jm_pg_overflow *o = &r->c->ovf;

	if (ovf_head_is_exec(r->c)) {
		uint32_t before = o->run_len;
		while (o->run_len == before)
			ovf_emit(r, NULL, NULL, false);
	} else {
		o->run_head = (o->run_head + 1) % JM_PG_RUNS;
		o->run_len--;
	}
}

/* A request answered (at least in part) inside a capture gap: its rows
 * went by unseen, unless it is an Execute whose completion was seen before
 * the gap. */
static void gap_answered(struct jm_pg_pending *e)
{
	if (!(e->kind == K_EXEC && e->done))
		e->rows_lost = true;
}

/* An error found after a gap: no CommandComplete will count the rows the
 * failing statement returned in it, so they are unknown. */
static void gap_before_error(struct jm_pg_conn *c)
{
	int t = rx_target(c);

	if (t >= 0)
		gap_answered(q_at(c, (uint32_t)t));
}

/* RX regained sync on a ReadyForQuery after a gap that may have swallowed
 * other ReadyForQuery messages.  Only the last unit that owns one (a Query,
 * or Executes + Sync) can be answered by this one; everything queued before
 * it was answered inside the gap.  Reporting those now (outcome as far as
 * seen) keeps the queue from drifting one unit behind for good; a
 * pipelining client may lose some precision once. */
static void resync_flush(struct pg_run *r)
{
	struct jm_pg_conn *c = r->c;
	struct jm_pg_overflow *o = &c->ovf;

	if (o->run_len == 0) {
		int last = -1, prev = -1;
		for (uint32_t i = 0; i < c->q_len; i++)
			if (q_at(c, i)->kind == K_SIMPLE || q_at(c, i)->kind == K_SYNC) {
				prev = last;
				last = (int)i;
			}
		for (int k = 0; k <= prev; k++) {
			struct jm_pg_pending *e = q_at(c, 0);
			gap_answered(e);
			if (e->kind == K_SIMPLE || e->kind == K_EXEC)
				emit_entry(r, e, r->ts);
			q_pop(c);
		}
		return;
	}
	/* The overflow runs are newer than the whole ring. */
	uint32_t j = UINT32_MAX, keep;
	for (uint32_t i = 0; i < o->run_len; i++)
		if (o->runs[(o->run_head + i) % JM_PG_RUNS] & RUN_SYNC)
			j = i;
	if (j == UINT32_MAX)
		return; /* no Sync queued at all: one unit, nothing older to flush */
	while (c->q_len > 0) {
		struct jm_pg_pending *e = q_at(c, 0);
		gap_answered(e);
		if (e->kind == K_SIMPLE || e->kind == K_EXEC)
			emit_entry(r, e, r->ts);
		q_pop(c);
	}
	uint32_t *sr = &o->runs[(o->run_head + j) % JM_PG_RUNS];
	if ((*sr & RUN_COUNT) > 1) {
		*sr = RUN_SYNC | 1; /* the last unit is a lone Sync */
		keep = j;
	} else {
		keep = j > 0 ? j - 1 : 0; /* Executes + this Sync */
	}
	for (uint32_t k = 0; k < keep; k++)
		ovf_drop_run(r);
}

/* RX regained sync on the last response of an Execute batch: the batch's
 * earlier Executes were answered inside the gap.  They finished (rows
 * unknown); the last one still waiting takes what the tail shows.  On an
 * error that is a guess of which Execute failed (the server skips the rest
 * of the batch after one), but failing all of them would report statements
 * that succeeded as failed, and most of a batch does succeed. */
static void gap_batch_done(struct jm_pg_conn *c)
{
	int t = rx_target(c);

	if (t < 0 || q_at(c, (uint32_t)t)->kind != K_EXEC)
		return;
	for (uint32_t i = (uint32_t)t; i + 1 < c->q_len; i++) {
		struct jm_pg_pending *e = q_at(c, i), *nx = q_at(c, i + 1);
		if (e->kind == K_SYNC || nx->kind != K_EXEC)
			break;
		e->done = true;
		e->rows_lost = true;
	}
}

/* Severity and SQLSTATE fields of an ErrorResponse ("ERROR\0C<sqlstate>\0",
 * also FATAL and PANIC) somewhere in v[lo, hi), its header maybe not seen:
 * the first found, its SQLSTATE in st. */
static bool error_fields(const struct pg_view *v, size_t lo, size_t hi, char st[6])
{
	for (size_t i = lo + 6; i + 6 < hi; i++) {
		if (view_at(v, i) != 'C' || view_at(v, i - 1) != 0 || view_at(v, i + 6) != 0)
			continue;
		char sev[6];
		for (int k = 0; k < 5; k++) {
			sev[k] = (char)view_at(v, i - 6 + (size_t)k);
			st[k] = (char)view_at(v, i + 1 + (size_t)k);
		}
		sev[5] = st[5] = '\0';
		bool code = true;
		for (int k = 0; k < 5; k++)
			code = code && ((st[k] >= '0' && st[k] <= '9') || (st[k] >= 'A' && st[k] <= 'Z'));
		if (code && (!strcmp(sev, "ERROR") || !strcmp(sev, "FATAL") || !strcmp(sev, "PANIC")))
			return true;
	}
	return false;
}

/* RX out of sync: do the stream bytes v (ending at the fragment's end)
 * end with ReadyForQuery?  Then resync there, taking rows/error from the
 * CommandComplete or ErrorResponse that ends exactly where the
 * ReadyForQuery starts.  Bytes before v[lo] were already parsed. */
static bool rx_resync(struct pg_run *r, struct jm_pg_dir *d, const struct pg_view *v, size_t lo)
{
	struct jm_pg_conn *c = r->c;
	size_t n = view_len(v), z, p = 0;
	uint8_t zs, type = 0;

	if (n < 6)
		return false;
	z = n - 6;
	if (z < lo)
		return false;
	zs = view_at(v, z + 5);
	if (view_at(v, z) != 'Z' || view_be32(v, z + 1) != 5 || (zs != 'I' && zs != 'T' && zs != 'E'))
		return false;
	for (size_t i = z; i-- > lo;) {
		uint8_t t = view_at(v, i);
		if (z - i < 6 || (t != 'C' && t != 'E') || view_be32(v, i + 1) != z - i - 1 ||
		    view_at(v, z - 1) != 0)
			continue;
		bool ok = true;
		if (t == 'C') {
			for (size_t k = i + 5; k + 1 < z && ok; k++)
				ok = view_at(v, k) >= 0x20 && view_at(v, k) < 0x7f;
		} else {
			uint8_t f0 = view_at(v, i + 5);
			ok = (f0 >= 'A' && f0 <= 'Z') || (f0 >= 'a' && f0 <= 'z');
			ok = ok && z - i >= 8 && view_at(v, z - 2) == 0;
		}
		if (ok) {
			p = i;
			type = t;
			break;
		}
	}

	regain(r, d);
	resync_flush(r);
	/* A simple Query of several statements may have had CommandCompletes
	 * in the gap: only its last one is seen.  Its rows are exact only
	 * when its text is known to hold one statement. */
	int tg = rx_target(c);
	if (tg >= 0) {
		struct jm_pg_pending *e = q_at(c, (uint32_t)tg);
		if (e->kind == K_SIMPLE &&
		    (e->sql_truncated || !sql_single(e->sql, e->sql_len)))
			e->rows_lost = true;
	}
	if (type) {
		/* Hand the message to the normal handler through the capture
		 * buffer (bounded like any capture). */
		size_t bl = z - p - 5;
		if (bl > sizeof(d->cap))
			bl = sizeof(d->cap);
		for (size_t k = 0; k < bl; k++)
			d->cap[k] = view_at(v, p + 5 + k);
		gap_batch_done(c);
		if (type == 'C') {
			on_complete(r, d->cap, bl, bl == z - p - 5);
		} else {
			char state[6];
			error_sqlstate(d->cap, bl, state);
			gap_before_error(c);
			on_error(r, state);
		}
		memset(d->cap, 0, bl);
	} else {
		/* The ErrorResponse may start before the captured tail: its
		 * "ERROR\0C<sqlstate>\0" fields are still recognisable. */
		char st[6];
		if (error_fields(v, lo, z, st)) {
			gap_batch_done(c);
			gap_before_error(c);
			on_error(r, st);
		}
	}
	on_ready(r);
	return true;
}

/* The carried server bytes are no longer needed: wiped, not just
 * forgotten, since they may hold row values (the Bind wipe's reason). */
static void rx_carry_drop(struct jm_pg_conn *c)
{
	memset(c->rx_carry, 0, sizeof(c->rx_carry));
	c->rx_carry_len = 0;
}

/* Still lost after this fragment: keep its last bytes (those not parsed
 * yet: from v[lo]), which are contiguous with the next fragment's first
 * ones, for the next rx_resync(). */
static void rx_keep_tail(struct jm_pg_conn *c, const struct pg_view *v, size_t lo)
{
	uint8_t tmp[sizeof(c->rx_carry)];
	size_t n = view_len(v), k = n < sizeof(tmp) ? n : sizeof(tmp);

	if (lo > n)
		lo = n;
	if (k > n - lo)
		k = n - lo;

	for (size_t i = 0; i < k; i++)
		tmp[i] = view_at(v, n - k + i);
	rx_carry_drop(c);
	memcpy(c->rx_carry, tmp, k);
	c->rx_carry_len = (uint16_t)k;
	explicit_bzero(tmp, k);          /* not a dead store to the compiler */
}

/* -------------------------------------------------------------- public */

void jm_pg_init(struct jm_pg_conn *c)
{
	if (!c)
		return;
	memset(c, 0, sizeof(*c));
	c->tx.mode = MODE_UNKNOWN;  /* startup (untyped) or mid-session (typed) */
	c->rx.mode = MODE_TYPED;
}

void jm_pg_feed(struct jm_pg_conn *c, const struct jm_fragment *f,
		jm_query_cb cb, void *ctx, struct jm_proto_stats *st)
{
	struct jm_proto_stats scratch;
	struct pg_run r;
	struct pg_view end;
	struct jm_pg_dir *d;
	const uint8_t *tail;
	size_t total, hl, tl, gap = 0, lo;
	bool was_lost;

	if (!c || !f || c->stopped || (f->dir != JM_DIR_TX && f->dir != JM_DIR_RX))
		return;
	if (!st) {
		memset(&scratch, 0, sizeof(scratch));
		st = &scratch;
	}
	r.c = c;
	r.cb = cb;
	r.ctx = ctx;
	r.st = st;
	r.ts = f->ts_ns;
	r.lost_off = 0;
	r.tx = f->dir == JM_DIR_TX;
	d = r.tx ? &c->tx : &c->rx;

	total = f->total_len;
	hl = f->head ? f->head_len : 0;
	tl = f->tail ? f->tail_len : 0;
	if (hl > total)
		hl = total;
	if (tl > total)
		tl = total;
	if (hl + tl >= total) {
		/* whole: the tail supplies whatever the head did not */
		size_t rest = total - hl;
		tail = rest ? f->tail + (tl - rest) : NULL;
		tl = rest;
	} else {
		gap = total - hl - tl;
		tail = f->tail;
	}

	struct tx_send snd = { f->head, tail, hl, tl, total };
	/* (mode unknown: a first byte 0 is a StartupMessage; none seen yet is
	 * decided by the bytes that follow, as before) */
	if (r.tx && (d->lost ? c->tx_anchor
			     : d->mode == MODE_UNKNOWN && ts_vis(&snd, 0) && ts_at(&snd, 0) != 0)) {
		int k = tx_candidate(&snd);
		if (d->lost) {
			/* the first send after an anchoring ReadyForQuery: one try */
			c->tx_anchor = false;
			if (k == 2 || (k == 1 && !c->tx_pipelined)) {
				regain(&r, d);
				d->mode = MODE_TYPED;
			} else {
				st->parse_errors++;
			}
		} else {
			/* first seen mid-session: its first bytes may be the
			 * middle of a message (a COPY in progress) */
			d->mode = MODE_TYPED;
			if (k != 2) {
				if (k == 0)
					st->parse_errors++;
				lose(&r, d, 0);
			}
		}
	}
	was_lost = d->lost;
	dir_bytes(&r, d, f->head, hl, 0);
	if (gap) {
		st->bytes_skipped += gap;
		dir_gap(&r, d, gap, hl);
	}
	dir_bytes(&r, d, tail, tl, hl + gap);
	if (!d->lost || c->stopped) {
		if (!r.tx && c->rx_carry_len)
			rx_carry_drop(c);
		return;
	}
	/* The stream bytes that end at this fragment's end, and the first of
	 * them not parsed yet. */
	memset(&end, 0, sizeof(end));
	if (gap) {
		end.a = tail;
		end.alen = tl;
		lo = r.lost_off > hl + gap ? r.lost_off - hl - gap : 0;
	} else if (was_lost && !r.tx) {
		end.a = c->rx_carry;
		end.alen = c->rx_carry_len;
		end.b = f->head;
		end.blen = hl;
		end.c = tail;
		end.clen = tl;
		lo = 0;
	} else {
		end.a = f->head;
		end.alen = hl;
		end.b = tail;
		end.blen = tl;
		lo = r.lost_off;
	}
	if (r.tx)
		return; /* TX regains sync only at an anchor (postgres.h) */
	if (rx_resync(&r, d, &end, lo))
		rx_carry_drop(c);
	else
		rx_keep_tail(c, &end, lo);
}

void jm_pg_close(struct jm_pg_conn *c, uint64_t ts_ns, jm_query_cb cb, void *ctx)
{
	struct jm_proto_stats scratch;
	struct pg_run r = { c, cb, ctx, &scratch, ts_ns, 0, false };

	if (!c)
		return;
	memset(&scratch, 0, sizeof(scratch));
	/* Out of sync, the stream may have ended with an ErrorResponse and no
	 * ReadyForQuery (a client that gives up on the error and hangs up):
	 * its fields in the bytes kept from the last fragment count. */
	if (c->rx.lost && !c->stopped && c->rx_carry_len > 0) {
		struct pg_view v = { c->rx_carry, NULL, NULL, c->rx_carry_len, 0, 0 };
		char st[6];
		if (error_fields(&v, 0, c->rx_carry_len, st)) {
			gap_batch_done(c);
			on_error(&r, st);
		}
	}
	for (uint32_t i = 0; i < c->q_len && !c->stopped; i++) {
		struct jm_pg_pending *e = q_at(c, i);
		if ((e->kind == K_EXEC && e->done) || (e->kind == K_SIMPLE && e->error)) {
			emit_entry(&r, e, ts_ns);
		} else if (e->kind == K_EXEC || e->kind == K_SIMPLE) {
			if (c->rx.lost) {
				/* its answer may have gone by unseen */
				e->rows_lost = true;
			} else {
				/* no answer, or the connection ended in it */
				e->error = true;
				memcpy(e->sqlstate, "08006", sizeof(e->sqlstate));
			}
			emit_entry(&r, e, ts_ns);
		}
	}
	jm_pg_init(c);
}

bool jm_pg_is_terminate(const uint8_t *buf, size_t len)
{
	return buf && len == 5 && buf[0] == 'X' && be32(buf + 1) == 4;
}

bool jm_pg_detect(const uint8_t *buf, size_t len)
{
	uint32_t l, code;

	if (!buf || len < 8)
		return false;
	l = be32(buf);
	code = be32(buf + 4);
	if (code == PG_CODE_SSL || code == PG_CODE_GSSENC)
		return l == 8;
	if (code >> 16 != PG_PROTO_MAJOR || (code & 0xffff) > 2)
		return false;
	/* StartupMessage: "name\0value\0...\0" parameters, at least "user". */
	if (l < 8 + 1 || l > PG_STARTUP_MAX)
		return false;
	size_t vis = len < l ? len : l;
	for (size_t i = 8; i < vis; i++)
		if (buf[i] != 0 && (buf[i] < 0x20 || buf[i] == 0x7f) && buf[i] < 0x80)
			return false;
	if (len >= l && buf[l - 1] != 0)
		return false;
	return true;
}
