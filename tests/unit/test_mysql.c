/* Unit tests for agent/protocol/mysql.c with hand-built packets: every
 * session is written packet by packet below (helpers p_*), fed as whole
 * fragments, split at every byte boundary, one byte at a time, and with
 * uncaptured middles. */
#include "harness.h"
#include "protocol/mysql.h"
#include "sql.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* Capability bits used by the sessions. */
#define C_LONG_PASSWORD  0x00000001u
#define C_CONNECT_DB     0x00000008u
#define C_PROTOCOL_41    0x00000200u
#define C_SSL            0x00000800u
#define C_TRANSACTIONS   0x00002000u
#define C_SECURE_CONN    0x00008000u
#define C_MULTI_STMTS    0x00010000u
#define C_MULTI_RESULTS  0x00020000u
#define C_PLUGIN_AUTH    0x00080000u
#define C_DEPRECATE_EOF  0x01000000u
#define C_QUERY_ATTRS    0x08000000u
#define C_BASE (C_LONG_PASSWORD | C_PROTOCOL_41 | C_TRANSACTIONS | C_SECURE_CONN | \
		C_MULTI_STMTS | C_MULTI_RESULTS | C_PLUGIN_AUTH)
#define S_AUTOCOMMIT     0x0002u
#define S_MORE_RESULTS   0x0008u

/* ------------------------------------------------------------------ */
/* Byte streams and packets                                             */

struct stream {
	uint8_t *b;
	size_t n, cap;
};

static void s_bytes(struct stream *s, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (s->n + n > s->cap) {
		size_t nc = s->cap ? s->cap : 256;
		while (nc < s->n + n)
			nc *= 2;
		uint8_t *nb = realloc(s->b, nc);
		if (!nb)
			abort();
		s->b = nb;
		s->cap = nc;
	}
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

static void s_u8(struct stream *s, uint8_t v) { s_bytes(s, &v, 1); }
static void s_le(struct stream *s, uint64_t v, int k)
{
	for (int i = 0; i < k; i++)
		s_u8(s, (uint8_t)(v >> (8 * i)));
}
static void s_lenenc(struct stream *s, uint64_t v)
{
	if (v < 251) s_u8(s, (uint8_t)v);
	else if (v < 0x10000) { s_u8(s, 0xfc); s_le(s, v, 2); }
	else if (v < 0x1000000) { s_u8(s, 0xfd); s_le(s, v, 3); }
	else { s_u8(s, 0xfe); s_le(s, v, 8); }
}
static void s_lenstr(struct stream *s, const char *str)
{
	s_lenenc(s, strlen(str));
	s_bytes(s, str, strlen(str));
}

/* Wraps a payload into packets (splitting at 0xFFFFFF); returns next seq. */
static uint8_t pkt(struct stream *m, uint8_t seq, const struct stream *pl)
{
	size_t off = 0;
	for (;;) {
		size_t k = pl->n - off > 0xffffff ? 0xffffff : pl->n - off;
		s_le(m, k, 3);
		s_u8(m, seq++);
		s_bytes(m, pl->b + off, k);
		off += k;
		if (k < 0xffffff)
			return seq;
	}
}

#define PAYLOAD(name) struct stream name = { 0 }
static uint8_t emit(struct stream *m, uint8_t seq, struct stream *pl)
{
	uint8_t next = pkt(m, seq, pl);
	free(pl->b);
	return next;
}

static void p_greeting(struct stream *m, uint32_t caps, const char *ver)
{
	PAYLOAD(p);
	s_u8(&p, 10);
	s_bytes(&p, ver, strlen(ver) + 1);
	s_le(&p, 42, 4);                                  /* thread id */
	s_bytes(&p, "SCRAMBL1", 8);
	s_u8(&p, 0);
	s_le(&p, caps & 0xffff, 2);
	s_u8(&p, 0x21);
	s_le(&p, S_AUTOCOMMIT, 2);
	s_le(&p, caps >> 16, 2);
	s_u8(&p, 21);
	s_bytes(&p, "\0\0\0\0\0\0\0\0\0\0", 10);
	s_bytes(&p, "SCRAMBLE2345\0", 13);
	s_bytes(&p, "mysql_native_password", 22);
	emit(m, 0, &p);
}

static void p_hsresp(struct stream *m, uint32_t caps, const char *user, const char *pw)
{
	PAYLOAD(p);
	s_le(&p, caps, 4);
	s_le(&p, 16777216, 4);
	s_u8(&p, 0x21);
	for (int i = 0; i < 23; i++)
		s_u8(&p, 0);
	if (!(caps & C_SSL) || user) {
		s_bytes(&p, user, strlen(user) + 1);
		s_lenstr(&p, pw);                         /* auth response */
		s_bytes(&p, "mysql_native_password", 22);
	}
	emit(m, 1, &p);
}

static uint8_t p_ok(struct stream *m, uint8_t seq, uint64_t affected, uint16_t status)
{
	PAYLOAD(p);
	s_u8(&p, 0x00);
	s_lenenc(&p, affected);
	s_lenenc(&p, 0);
	s_le(&p, status, 2);
	s_le(&p, 0, 2);
	return emit(m, seq, &p);
}

static uint8_t p_ok_fe(struct stream *m, uint8_t seq, uint16_t status)
{
	PAYLOAD(p);
	s_u8(&p, 0xfe);
	s_lenenc(&p, 0);
	s_lenenc(&p, 0);
	s_le(&p, status, 2);
	s_le(&p, 0, 2);
	return emit(m, seq, &p);
}

static uint8_t p_eof(struct stream *m, uint8_t seq, uint16_t status)
{
	PAYLOAD(p);
	s_u8(&p, 0xfe);
	s_le(&p, 0, 2);
	s_le(&p, status, 2);
	return emit(m, seq, &p);
}

static uint8_t p_err(struct stream *m, uint8_t seq, uint16_t code, const char *state, const char *msg)
{
	PAYLOAD(p);
	s_u8(&p, 0xff);
	s_le(&p, code, 2);
	s_u8(&p, '#');
	s_bytes(&p, state, 5);
	s_bytes(&p, msg, strlen(msg));
	return emit(m, seq, &p);
}

static uint8_t p_raw(struct stream *m, uint8_t seq, const void *b, size_t n)
{
	PAYLOAD(p);
	s_bytes(&p, b, n);
	return emit(m, seq, &p);
}

static void p_command(struct stream *m, uint8_t com, const char *text)
{
	PAYLOAD(p);
	s_u8(&p, com);
	if (text)
		s_bytes(&p, text, strlen(text));
	emit(m, 0, &p);
}

static void p_stmt_cmd(struct stream *m, uint8_t com, uint32_t id, bool params)
{
	PAYLOAD(p);
	s_u8(&p, com);
	s_le(&p, id, 4);
	if (com == 0x17) {
		s_u8(&p, 0);                              /* flags */
		s_le(&p, 1, 4);                           /* iteration count */
		if (params) {                             /* one LONG parameter */
			s_u8(&p, 0);                      /* null bitmap */
			s_u8(&p, 1);                      /* new params bound */
			s_le(&p, 3, 2);
			s_le(&p, 424242, 4);
		}
	}
	emit(m, 0, &p);
}

static uint8_t p_prepare_ok(struct stream *m, uint8_t seq, uint32_t id, uint16_t cols,
			    uint16_t params)
{
	PAYLOAD(p);
	s_u8(&p, 0);
	s_le(&p, id, 4);
	s_le(&p, cols, 2);
	s_le(&p, params, 2);
	s_u8(&p, 0);
	s_le(&p, 0, 2);
	return emit(m, seq, &p);
}

static uint8_t p_coldef(struct stream *m, uint8_t seq, const char *name)
{
	PAYLOAD(p);
	s_lenstr(&p, "def");
	s_lenstr(&p, "shop");
	s_lenstr(&p, "orders");
	s_lenstr(&p, "orders");
	s_lenstr(&p, name);
	s_lenstr(&p, name);
	s_u8(&p, 0x0c);
	s_le(&p, 0x21, 2);
	s_le(&p, 255, 4);
	s_u8(&p, 0xfd);
	s_le(&p, 0, 2);
	s_u8(&p, 0);
	s_le(&p, 0, 2);
	return emit(m, seq, &p);
}

static uint8_t p_text_row(struct stream *m, uint8_t seq, int i, size_t pad)
{
	PAYLOAD(p);
	char v[32];
	snprintf(v, sizeof(v), "row-value-%d", i);
	s_lenstr(&p, v);
	if (pad) {                                        /* a long second column */
		s_lenenc(&p, pad);
		for (size_t k = 0; k < pad; k++)
			s_u8(&p, (uint8_t)('a' + k % 26));
	} else {
		s_lenstr(&p, "alice@example.com");
	}
	return emit(m, seq, &p);
}

static uint8_t p_bin_row(struct stream *m, uint8_t seq, int32_t v)
{
	PAYLOAD(p);
	s_u8(&p, 0x00);
	s_u8(&p, 0x00);                                   /* null bitmap, 1 column */
	s_le(&p, (uint32_t)v, 4);
	return emit(m, seq, &p);
}

/* Column count, definitions, [EOF], rows, terminator; returns next seq. */
static uint8_t p_resultset(struct stream *m, uint8_t seq, int ncols, int nrows, bool deprecate,
			   bool binary, uint16_t final_status, size_t pad)
{
	PAYLOAD(cc);
	s_lenenc(&cc, (uint64_t)ncols);
	seq = emit(m, seq, &cc);
	for (int i = 0; i < ncols; i++)
		seq = p_coldef(m, seq, i == 0 ? "id" : "email");
	if (!deprecate)
		seq = p_eof(m, seq, S_AUTOCOMMIT);
	for (int i = 0; i < nrows; i++)
		seq = binary ? p_bin_row(m, seq, 1000 + i) : p_text_row(m, seq, i, pad);
	return deprecate ? p_ok_fe(m, seq, final_status) : p_eof(m, seq, final_status);
}

/* ------------------------------------------------------------------ */
/* Sessions: ordered fragments of both directions                       */

struct msg {
	enum jm_dir dir;
	uint64_t ts;
	struct stream s;
};

struct session {
	struct msg m[96];
	int n;
};

static struct stream *msg(struct session *ss, enum jm_dir dir)
{
	struct msg *m = &ss->m[ss->n++];
	memset(m, 0, sizeof(*m));
	m->dir = dir;
	m->ts = 1000u * (uint64_t)ss->n;
	return &m->s;
}

static void session_free(struct session *ss)
{
	for (int i = 0; i < ss->n; i++)
		free(ss->m[i].s.b);
	ss->n = 0;
}

static void handshake(struct session *ss, uint32_t caps)
{
	p_greeting(msg(ss, JM_DIR_RX), C_BASE | C_DEPRECATE_EOF | C_SSL | C_QUERY_ATTRS,
		   "8.0.36-test");
	p_hsresp(msg(ss, JM_DIR_TX), caps, "etl", "PW-HUNTER2-SECRET");
	p_ok(msg(ss, JM_DIR_RX), 2, 0, S_AUTOCOMMIT);
}

struct got_q {
	char sql[256];
	size_t sql_len;
	bool trunc, error, has_rows, rows_unknown;
	char state[6];
	uint64_t rows, start, end;
	int cmd;
	uint16_t errcode;
};

struct got {
	int n;
	struct got_q q[64];
	struct jm_mysql_conn *c;
};

static void on_query(void *ctx, const struct jm_query *q)
{
	struct got *g = ctx;
	if (g->n >= 64)
		return;
	struct got_q *o = &g->q[g->n++];
	memset(o, 0, sizeof(*o));
	o->sql_len = q->sql_len;
	memcpy(o->sql, q->sql, q->sql_len < 255 ? q->sql_len : 255);
	o->trunc = q->sql_truncated;
	o->error = q->error;
	o->has_rows = q->has_rows;
	o->rows_unknown = q->rows_unknown;
	memcpy(o->state, q->sqlstate, 6);
	o->rows = q->rows;
	o->start = q->start_ns;
	o->end = q->end_ns;
	o->cmd = q->cmd;
	o->errcode = g->c ? g->c->last_error_code : 0;
}

static struct jm_mysql_conn *new_conn(void)
{
	struct jm_mysql_conn *c = malloc(sizeof(*c));
	if (!c)
		abort();
	memset(c, 0xa5, sizeof(*c));                      /* init must not rely on zeroed memory */
	jm_mysql_init(c);
	return c;
}

static void feed_bytes(struct jm_mysql_conn *c, enum jm_dir dir, uint64_t ts, const uint8_t *b,
		       size_t n, struct got *g, struct jm_proto_stats *st)
{
	struct jm_fragment f = { .dir = dir, .ts_ns = ts, .total_len = (uint32_t)n,
				 .head = b, .head_len = (uint32_t)n, .tail = NULL, .tail_len = 0 };
	jm_mysql_feed(c, &f, on_query, g, st);
}

/* mode 0: whole; mode 1: split every message at `k`; mode 2: one byte at a
 * time; mode 3: whole, but as head + overlapping tail. */
static void run(struct session *ss, int mode, size_t k, struct got *g, struct jm_proto_stats *st)
{
	struct jm_mysql_conn *c = new_conn();
	memset(g, 0, sizeof(*g));
	memset(st, 0, sizeof(*st));
	g->c = c;
	for (int i = 0; i < ss->n; i++) {
		struct msg *m = &ss->m[i];
		if (mode == 0 || (mode == 1 && k >= m->s.n)) {
			feed_bytes(c, m->dir, m->ts, m->s.b, m->s.n, g, st);
		} else if (mode == 1) {
			feed_bytes(c, m->dir, m->ts, m->s.b, k, g, st);
			feed_bytes(c, m->dir, m->ts, m->s.b + k, m->s.n - k, g, st);
		} else if (mode == 2) {
			for (size_t b = 0; b < m->s.n; b++)
				feed_bytes(c, m->dir, m->ts, m->s.b + b, 1, g, st);
		} else {
			size_t h = m->s.n / 2 + 1 > m->s.n ? m->s.n : m->s.n / 2 + 1;
			struct jm_fragment f = { .dir = m->dir, .ts_ns = m->ts,
						 .total_len = (uint32_t)m->s.n, .head = m->s.b,
						 .head_len = (uint32_t)h, .tail = m->s.b + m->s.n / 3,
						 .tail_len = (uint32_t)(m->s.n - m->s.n / 3) };
			jm_mysql_feed(c, &f, on_query, g, st);
		}
	}
	free(c);
}

static bool same_results(const struct got *a, const struct got *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++) {
		const struct got_q *x = &a->q[i], *y = &b->q[i];
		if (x->sql_len != y->sql_len || memcmp(x->sql, y->sql, x->sql_len < 255 ? x->sql_len : 255) ||
		    x->error != y->error || x->has_rows != y->has_rows || x->rows != y->rows ||
		    x->rows_unknown != y->rows_unknown ||
		    strcmp(x->state, y->state) || x->start != y->start || x->end != y->end ||
		    x->cmd != y->cmd || x->trunc != y->trunc)
			return false;
	}
	return true;
}

/* Runs the session whole, then split at every boundary, byte by byte and
 * as head+tail; every way must give the same queries and `want_errs`
 * parse errors + resyncs (a session that must count a loss). */
static void check_splits_errs(const char *name, struct session *ss, struct got *whole,
			      int want_errs)
{
	struct jm_proto_stats st, st2;
	struct got g;
	size_t maxlen = 0;
	int bad = 0, errs = 0;
	char nm[128];

	run(ss, 0, 0, whole, &st);
	for (int i = 0; i < ss->n; i++)
		if (ss->m[i].s.n > maxlen)
			maxlen = ss->m[i].s.n;
	for (size_t k = 1; k < maxlen; k++) {
		run(ss, 1, k, &g, &st2);
		if (!same_results(whole, &g))
			bad++;
		errs += (int)(st2.parse_errors + st2.resyncs) != want_errs;
	}
	run(ss, 2, 0, &g, &st2);
	if (!same_results(whole, &g))
		bad++;
	errs += (int)(st2.parse_errors + st2.resyncs) != want_errs;
	run(ss, 3, 0, &g, &st2);
	if (!same_results(whole, &g))
		bad++;
	errs += (int)(st2.parse_errors + st2.resyncs) != want_errs;
	errs += (int)(st.parse_errors + st.resyncs) != want_errs;
	snprintf(nm, sizeof(nm), "%s: same result at every split point and byte by byte", name);
	CHECK_INT(nm, bad, 0);
	if (want_errs)
		snprintf(nm, sizeof(nm), "%s: %d parse errors whole and split", name, want_errs);
	else
		snprintf(nm, sizeof(nm), "%s: no parse errors whole and split", name);
	CHECK_INT(nm, errs, 0);
}

static void check_all_splits(const char *name, struct session *ss, struct got *whole)
{
	check_splits_errs(name, ss, whole, 0);
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */

static void test_select(bool deprecate)
{
	struct session ss = { .n = 0 };
	struct got g;
	const char *name = deprecate ? "select deprecate_eof" : "select classic eof";
	char nm[128];

	handshake(&ss, C_BASE | (deprecate ? C_DEPRECATE_EOF : 0));
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT id, email FROM orders WHERE id < 4");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 2, 3, deprecate, false, S_AUTOCOMMIT, 0);
	p_command(msg(&ss, JM_DIR_TX), 0x0e, NULL);                /* COM_PING: not a query */
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	check_all_splits(name, &ss, &g);
	snprintf(nm, sizeof(nm), "%s: one query", name);
	CHECK_INT(nm, g.n, 1);
	snprintf(nm, sizeof(nm), "%s: sql", name);
	CHECK_STR(nm, g.q[0].sql, "SELECT id, email FROM orders WHERE id < 4");
	snprintf(nm, sizeof(nm), "%s: 3 rows", name);
	CHECK(nm, g.q[0].has_rows && g.q[0].rows == 3);
	snprintf(nm, sizeof(nm), "%s: cmd select, no error", name);
	CHECK(nm, g.q[0].cmd == JM_SQL_SELECT && !g.q[0].error && g.q[0].state[0] == '\0');
	snprintf(nm, sizeof(nm), "%s: start/end ts", name);
	CHECK(nm, g.q[0].start == ss.m[3].ts && g.q[0].end == ss.m[4].ts);
	session_free(&ss);
}

static void test_insert_and_error(void)
{
	struct session ss = { .n = 0 };
	struct got g;

	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "INSERT INTO shop.orders (id) VALUES (1),(2),(3),(4),(5)");
	p_ok(msg(&ss, JM_DIR_RX), 1, 5, S_AUTOCOMMIT);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT * FROM missing_table");
	p_err(msg(&ss, JM_DIR_RX), 1, 1146, "42S02", "Table 'shop.missing_table' doesn't exist");
	p_command(msg(&ss, JM_DIR_TX), 0x02, "shop");               /* COM_INIT_DB */
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "UPDATE orders SET x = 1 WHERE id = 2");
	p_ok(msg(&ss, JM_DIR_RX), 1, 1, S_AUTOCOMMIT);
	check_all_splits("insert/err", &ss, &g);
	CHECK_INT("insert/err: three queries", g.n, 3);
	CHECK("insert: affected rows 5, cmd insert", g.q[0].rows == 5 && g.q[0].has_rows &&
	      g.q[0].cmd == JM_SQL_INSERT && !g.q[0].error);
	CHECK("err: error flagged, no rows", g.q[1].error && !g.q[1].has_rows);
	CHECK_STR("err: sqlstate", g.q[1].state, "42S02");
	CHECK_INT("err: mysql error code visible in callback", g.q[1].errcode, 1146);
	CHECK("update: 1 row, cmd update", g.q[2].rows == 1 && g.q[2].cmd == JM_SQL_UPDATE);
	CHECK_INT("update: error code cleared", g.q[2].errcode, 0);
	session_free(&ss);
}

/* The statement kind is read with MySQL's comment rules. */
static void test_kind_mysql_comments(void)
{
	struct session ss = { .n = 0 };
	struct got g;

	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "#etl job 42\nINSERT INTO sales VALUES (1)");
	p_ok(msg(&ss, JM_DIR_RX), 1, 1, S_AUTOCOMMIT);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "--\tload\nDELETE FROM sales WHERE a = 1");
	p_ok(msg(&ss, JM_DIR_RX), 1, 1, S_AUTOCOMMIT);
	check_all_splits("mysql comments", &ss, &g);
	CHECK_INT("mysql comments: two queries", g.n, 2);
	CHECK_INT("mysql comments: insert after a # comment", g.q[0].cmd, JM_SQL_INSERT);
	CHECK_INT("mysql comments: delete after a --<tab> comment", g.q[1].cmd, JM_SQL_DELETE);
	session_free(&ss);
}

static void test_prepare_execute(bool deprecate)
{
	struct session ss = { .n = 0 };
	struct got g;
	const char *name = deprecate ? "prepare/execute deprecate_eof" : "prepare/execute classic";
	const char *sql = "SELECT id FROM orders WHERE customer = ?";
	char nm[128];
	uint8_t seq;
	struct stream *m;

	handshake(&ss, C_BASE | (deprecate ? C_DEPRECATE_EOF : 0));
	p_command(msg(&ss, JM_DIR_TX), 0x16, sql);
	m = msg(&ss, JM_DIR_RX);
	seq = p_prepare_ok(m, 1, 7, 1, 1);
	seq = p_coldef(m, seq, "?");                              /* parameter */
	if (!deprecate)
		seq = p_eof(m, seq, S_AUTOCOMMIT);
	seq = p_coldef(m, seq, "id");                             /* column */
	if (!deprecate)
		p_eof(m, seq, S_AUTOCOMMIT);
	for (int run_no = 0; run_no < 2; run_no++) {
		p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x17, 7, true);
		p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 2 + run_no, deprecate, true, S_AUTOCOMMIT, 0);
	}
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x19, 7, false);           /* close: no response */
	p_command(msg(&ss, JM_DIR_TX), 0x03, "DELETE FROM orders");
	p_ok(msg(&ss, JM_DIR_RX), 1, 9, S_AUTOCOMMIT);
	check_all_splits(name, &ss, &g);
	snprintf(nm, sizeof(nm), "%s: two executes + one query, prepare not counted", name);
	CHECK_INT(nm, g.n, 3);
	snprintf(nm, sizeof(nm), "%s: executes carry the prepared SQL", name);
	CHECK(nm, strcmp(g.q[0].sql, sql) == 0 && strcmp(g.q[1].sql, sql) == 0);
	snprintf(nm, sizeof(nm), "%s: binary rows counted", name);
	CHECK(nm, g.q[0].rows == 2 && g.q[1].rows == 3 && g.q[0].has_rows && g.q[1].has_rows);
	snprintf(nm, sizeof(nm), "%s: query after close still in step", name);
	CHECK(nm, g.q[2].rows == 9 && g.q[2].cmd == JM_SQL_DELETE);
	session_free(&ss);
}

static void test_multi_result(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct stream *m;
	uint8_t seq;

	handshake(&ss, C_BASE);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "CALL refresh_sales(); ");
	m = msg(&ss, JM_DIR_RX);
	seq = p_resultset(m, 1, 1, 2, false, false, S_AUTOCOMMIT | S_MORE_RESULTS, 0);
	seq = p_resultset(m, seq, 2, 4, false, false, S_AUTOCOMMIT | S_MORE_RESULTS, 0);
	m = msg(&ss, JM_DIR_RX);                                   /* final OK comes later */
	p_ok(m, seq, 0, S_AUTOCOMMIT);
	/* multi-statement of two writes: OK with MORE, then OK */
	p_command(msg(&ss, JM_DIR_TX), 0x03, "INSERT INTO a VALUES (1); UPDATE b SET c = 2");
	m = msg(&ss, JM_DIR_RX);
	seq = p_ok(m, 1, 1, S_AUTOCOMMIT | S_MORE_RESULTS);
	p_ok(m, seq, 3, S_AUTOCOMMIT);
	/* multi-statement failing in its middle: the rows before the error */
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT 1; SELECT * FROM nonexist; SELECT 3");
	m = msg(&ss, JM_DIR_RX);
	seq = p_resultset(m, 1, 1, 1, false, false, S_AUTOCOMMIT | S_MORE_RESULTS, 0);
	p_err(m, seq, 1146, "42S02", "Table 'nonexist' doesn't exist");
	check_all_splits("multi-result", &ss, &g);
	CHECK_INT("multi-result: one query per command", g.n, 3);
	CHECK("multi-statement failing in its middle: failed, with the row before the error",
	      g.q[2].error && !strcmp(g.q[2].state, "42S02") && g.q[2].has_rows && g.q[2].rows == 1);
	CHECK("multi-result: rows of both result sets", g.q[0].rows == 6 && g.q[0].has_rows);
	CHECK("multi-result: ends at the final packet's fragment", g.q[0].end == ss.m[5].ts);
	CHECK("multi-statement: affected rows summed", g.q[1].rows == 4 && g.q[1].cmd == JM_SQL_INSERT);
	session_free(&ss);
}

static void test_many_in_one_fragment(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct jm_proto_stats st;
	struct stream *tx, *rx;
	uint8_t seq;

	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	/* Pipelined: three commands in one send, their responses in one recv
	 * (MariaDB connectors do this with prepare + execute(-1)). */
	tx = msg(&ss, JM_DIR_TX);
	p_command(tx, 0x03, "SET autocommit=0");
	p_command(tx, 0x16, "INSERT INTO t VALUES (?)");
	p_stmt_cmd(tx, 0x17, 0xffffffffu, true);
	rx = msg(&ss, JM_DIR_RX);
	p_ok(rx, 1, 0, 0);
	seq = p_prepare_ok(rx, 1, 3, 0, 1);
	p_coldef(rx, seq, "?");
	p_ok(rx, 1, 1, 0);
	run(&ss, 0, 0, &g, &st);
	CHECK_INT("pipelined: two queries (prepare not counted)", g.n, 2);
	CHECK_STR("pipelined: execute(-1) uses the last prepared SQL", g.q[1].sql,
		  "INSERT INTO t VALUES (?)");
	CHECK("pipelined: rows and cmd", g.q[1].rows == 1 && g.q[1].cmd == JM_SQL_INSERT &&
	      g.q[0].cmd == JM_SQL_OTHER);
	CHECK_INT("pipelined: no parse errors", st.parse_errors, 0);
	check_all_splits("pipelined", &ss, &g);
	session_free(&ss);
}

static void test_local_infile(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	uint8_t seq;
	struct stream *m;

	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "LOAD DATA LOCAL INFILE '/tmp/x.csv' INTO TABLE stage.raw");
	p_raw(msg(&ss, JM_DIR_RX), 1, "\xfb/tmp/x.csv", 11);
	m = msg(&ss, JM_DIR_TX);
	seq = p_raw(m, 2, "1,alice@example.com\n", 20);
	seq = p_raw(m, seq, "2,bob@example.com\n", 18);
	seq = p_raw(m, seq, "", 0);
	p_ok(msg(&ss, JM_DIR_RX), seq, 2, S_AUTOCOMMIT);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT 1");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 1, true, false, S_AUTOCOMMIT, 0);
	check_all_splits("local infile", &ss, &g);
	CHECK_INT("local infile: two queries", g.n, 2);
	CHECK("local infile: rows loaded, copy_from", g.q[0].rows == 2 && g.q[0].cmd == JM_SQL_COPY_FROM);
	CHECK("local infile: next query in step", g.q[1].rows == 1);
	session_free(&ss);
}

static void test_midstream_and_attrs(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct stream *m;

	/* No greeting seen: capabilities unknown; classic EOF told by size. */
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT a FROM t");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 2, false, false, S_AUTOCOMMIT, 0);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT b FROM t WHERE 1=0");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 0, false, false, S_AUTOCOMMIT, 0);
	/* MySQL 8 query attributes framing seen from an unknown client. */
	p_raw(msg(&ss, JM_DIR_TX), 0, "\x03\x00\x01SELECT c FROM t", 18);
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	check_all_splits("mid-stream", &ss, &g);
	CHECK_INT("mid-stream: three queries", g.n, 3);
	CHECK("mid-stream: rows with classic EOF", g.q[0].rows == 2 && g.q[1].rows == 0 &&
	      g.q[1].has_rows);
	CHECK_STR("mid-stream: empty attribute block stripped", g.q[2].sql, "SELECT c FROM t");
	session_free(&ss);

	/* Empty result with DEPRECATE_EOF, no handshake: OK-FE right after
	 * the definitions; and the attribute prefix stripped. */
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT a FROM t WHERE 1=0");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 0, true, false, S_AUTOCOMMIT, 0);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT a FROM t");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 2, true, false, S_AUTOCOMMIT, 0);
	check_all_splits("mid-stream deprecate", &ss, &g);
	CHECK("mid-stream deprecate: empty then 2 rows", g.n == 2 && g.q[0].rows == 0 &&
	      g.q[1].rows == 2 && g.q[0].has_rows && g.q[1].has_rows);
	session_free(&ss);

	/* Query attributes negotiated, with one attribute (a LONG). */
	handshake(&ss, C_BASE | C_DEPRECATE_EOF | C_QUERY_ATTRS);
	m = msg(&ss, JM_DIR_TX);
	{
		PAYLOAD(p);
		s_u8(&p, 0x03);
		s_lenenc(&p, 1);                          /* parameter count */
		s_lenenc(&p, 1);                          /* parameter sets */
		s_u8(&p, 0);                              /* null bitmap */
		s_u8(&p, 1);                              /* types follow */
		s_le(&p, 3, 2);                           /* LONG */
		s_lenstr(&p, "trace_id");
		s_le(&p, 424242, 4);
		s_bytes(&p, "SELECT 42 FROM dual", 19);
		emit(m, 0, &p);
	}
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	check_all_splits("query attributes", &ss, &g);
	CHECK_INT("query attributes: one query", g.n, 1);
	CHECK_STR("query attributes: SQL after the attribute block", g.q[0].sql, "SELECT 42 FROM dual");
	session_free(&ss);

	/* Attributes with values from a client we did not see connect: the
	 * block is walked the same way, and its names and values are never
	 * taken for SQL. */
	m = msg(&ss, JM_DIR_TX);
	{
		PAYLOAD(p);
		s_u8(&p, 0x03);
		s_lenenc(&p, 2);                          /* parameter count */
		s_lenenc(&p, 1);                          /* parameter sets */
		s_u8(&p, 0);                              /* null bitmap */
		s_u8(&p, 1);                              /* types follow */
		s_le(&p, 0xfd, 2);                        /* VAR_STRING */
		s_lenstr(&p, "customer");
		s_le(&p, 3, 2);                           /* LONG */
		s_lenstr(&p, "trace_id");
		s_lenstr(&p, "alice@example.com 4242");
		s_le(&p, 424242, 4);
		s_bytes(&p, "SELECT * FROM orders WHERE id = 7", 33);
		emit(m, 0, &p);
	}
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	/* An attribute block that does not parse (unknown type 0x20): the SQL
	 * is unknown rather than the block's bytes. */
	m = msg(&ss, JM_DIR_TX);
	{
		PAYLOAD(p);
		s_u8(&p, 0x03);
		s_lenenc(&p, 1);
		s_lenenc(&p, 1);
		s_u8(&p, 0);
		s_u8(&p, 1);
		s_le(&p, 0x20, 2);
		s_lenstr(&p, "customer");
		s_lenstr(&p, "alice@example.com 4242");
		s_bytes(&p, "SELECT 1", 8);
		emit(m, 0, &p);
	}
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	check_all_splits("mid-stream query attributes", &ss, &g);
	CHECK_INT("mid-stream query attributes: two queries", g.n, 2);
	CHECK_STR("mid-stream query attributes: SQL after the block", g.q[0].sql,
		  "SELECT * FROM orders WHERE id = 7");
	CHECK("mid-stream query attributes: unparsable block gives unknown SQL",
	      g.q[1].sql_len == 0 && g.q[1].trunc);
	{
		int leaked = 0;
		for (int i = 0; i < g.n; i++)
			if (memmem(g.q[i].sql, g.q[i].sql_len, "alice", 5) ||
			    memmem(g.q[i].sql, g.q[i].sql_len, "customer", 8))
				leaked++;
		CHECK_INT("mid-stream query attributes: names and values never in SQL", leaked, 0);
	}
	session_free(&ss);
}

/* Fragment with an uncaptured middle: head_len bytes from the start and
 * tail_len from the end of b[0..n). */
static void feed_gapped(struct jm_mysql_conn *c, enum jm_dir dir, uint64_t ts, const uint8_t *b,
			size_t n, size_t head, size_t tail, struct got *g, struct jm_proto_stats *st)
{
	struct jm_fragment f = { .dir = dir, .ts_ns = ts, .total_len = (uint32_t)n, .head = b,
				 .head_len = (uint32_t)head, .tail = b + n - tail,
				 .tail_len = (uint32_t)tail };
	jm_mysql_feed(c, &f, on_query, g, st);
}

/* MySQL 8 query attributes from a client we did not see connect, with a
 * parameter count that is a SQL start byte (9 = TAB) and values longer
 * than what is kept of the packet: the block cannot be walked, and its
 * names and values must not become the SQL (the reviewer's repro). */
static void test_midstream_attrs_too_long(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct jm_proto_stats st;
	static const char *val = "session bearer CustomerSecretToken for tenant acme payroll "
				 "export, a value long enough that the attribute block outgrows "
				 "the captured head of the packet ";
	PAYLOAD(p);

	s_u8(&p, 0x03);
	s_lenenc(&p, 9);                                  /* parameter count: TAB */
	s_lenenc(&p, 1);                                  /* parameter sets */
	s_le(&p, 0, 2);                                   /* null bitmap */
	s_u8(&p, 1);                                      /* types follow */
	for (int i = 0; i < 9; i++) {
		s_le(&p, 0xfe, 2);                        /* STRING */
		s_lenstr(&p, "auth_token");
	}
	for (int i = 0; i < 9; i++)
		s_lenstr(&p, val);
	s_bytes(&p, "select 1", 8);
	emit(msg(&ss, JM_DIR_TX), 0, &p);
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT 2");
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	check_all_splits("attrs too long", &ss, &g);
	CHECK("attrs too long: two queries, the first with its SQL unknown",
	      g.n == 2 && g.q[0].sql_len == 0 && g.q[0].trunc && strcmp(g.q[1].sql, "SELECT 2") == 0);
	for (int shape = 0; shape < 2; shape++) {
		struct jm_mysql_conn *c = new_conn();
		int leaked = 0;
		memset(&g, 0, sizeof(g));
		memset(&st, 0, sizeof(st));
		for (int i = 0; i < ss.n; i++) {
			struct msg *x = &ss.m[i];
			if (x->s.n > 768)
				feed_gapped(c, x->dir, x->ts, x->s.b, x->s.n, shape ? 1024 : 512, 256,
					    &g, &st);
			else
				feed_bytes(c, x->dir, x->ts, x->s.b, x->s.n, &g, &st);
		}
		for (int i = 0; i < g.n; i++)
			if (memmem(g.q[i].sql, g.q[i].sql_len, "auth_token", 10) ||
			    memmem(g.q[i].sql, g.q[i].sql_len, "Secret", 6))
				leaked++;
		CHECK_INT(shape ? "attrs too long, 1K head: names and values never in SQL"
				: "attrs too long, 512 head: names and values never in SQL", leaked, 0);
		CHECK("attrs too long, head+tail: reported with SQL unknown",
		      g.n == 2 && g.q[0].sql_len == 0 && g.q[0].trunc);
		free(c);
	}
	session_free(&ss);
}

static void test_gaps(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct jm_proto_stats st;
	struct jm_mysql_conn *c;
	struct stream *m;

	/* 1. A big result set: row headers fall into the middle; the tail
	 * ends with the EOF, so the query completes, rows unknown. */
	handshake(&ss, C_BASE);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT id, email FROM orders");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 2, 2000, false, false, S_AUTOCOMMIT, 0);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT 1");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 1, false, false, S_AUTOCOMMIT, 0);
	c = new_conn();
	memset(&g, 0, sizeof(g));
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < ss.n; i++) {
		struct msg *x = &ss.m[i];
		if (i == 4) {
			feed_gapped(c, x->dir, x->ts, x->s.b, x->s.n, 512, 512, &g, &st);
			CHECK_INT("gap resync: completed on the tail itself", g.n, 1);
		} else {
			feed_bytes(c, x->dir, x->ts, x->s.b, x->s.n, &g, &st);
		}
	}
	CHECK_INT("gap resync: both queries reported", g.n, 2);
	CHECK("gap resync: big result completes at its fragment, rows unknown",
	      g.q[0].end == ss.m[4].ts && !g.q[0].has_rows && !g.q[0].error);
	CHECK("gap resync: following query exact", g.q[1].has_rows && g.q[1].rows == 1);
	CHECK_INT("gap resync: one resync", st.resyncs, 1);
	CHECK_INT("gap resync: bytes skipped", st.bytes_skipped, ss.m[4].s.n - 1024);
	CHECK_INT("gap resync: no parse errors", st.parse_errors, 0);
	free(c);

	/* 2. Same, but the response arrives in two recvs: the first one's
	 * tail ends mid-row, the second ends with the EOF. */
	c = new_conn();
	memset(&g, 0, sizeof(g));
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < ss.n; i++) {
		struct msg *x = &ss.m[i];
		if (i == 4) {
			size_t cut = x->s.n / 2 + 7;
			feed_gapped(c, x->dir, x->ts, x->s.b, cut, 300, 200, &g, &st);
			CHECK_INT("gap two recvs: first tail does not end the query", g.n, 0);
			feed_gapped(c, x->dir, x->ts + 1, x->s.b + cut, x->s.n - cut, 100, 100, &g, &st);
			CHECK_INT("gap two recvs: second tail ends it", g.n, 1);
		} else {
			feed_bytes(c, x->dir, x->ts, x->s.b, x->s.n, &g, &st);
		}
	}
	CHECK("gap two recvs: resync on the second", g.n == 2 && !g.q[0].has_rows &&
	      g.q[0].end == ss.m[4].ts + 1 && g.q[1].rows == 1 && st.resyncs == 1);
	free(c);

	/* 3. The end never shows up in a tail (the last recv is whole but we
	 * feed only its first half): the next command realigns RX. */
	c = new_conn();
	memset(&g, 0, sizeof(g));
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < ss.n; i++) {
		struct msg *x = &ss.m[i];
		if (i == 4)
			feed_gapped(c, x->dir, x->ts, x->s.b, x->s.n - 40, 256, 256, &g, &st);
		else
			feed_bytes(c, x->dir, x->ts, x->s.b, x->s.n, &g, &st);
	}
	CHECK("gap no terminator: query reported at the next command, rows unknown",
	      g.n == 2 && !g.q[0].has_rows && g.q[0].end == ss.m[4].ts);
	CHECK("gap no terminator: next query exact after realignment",
	      g.q[1].rows == 1 && g.q[1].has_rows && st.resyncs == 1);
	free(c);
	session_free(&ss);

	/* 4. A gap inside one long row: lengths carry us over, rows exact. */
	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT id, doc FROM docs");
	m = msg(&ss, JM_DIR_RX);
	{
		uint8_t seq = p_raw(m, 1, "\x02", 1);
		seq = p_coldef(m, seq, "id");
		seq = p_coldef(m, seq, "doc");
		seq = p_text_row(m, seq, 0, 0);
		seq = p_text_row(m, seq, 1, 100000);      /* the middle lies in here */
		seq = p_text_row(m, seq, 2, 0);
		p_ok_fe(m, seq, S_AUTOCOMMIT);
	}
	c = new_conn();
	memset(&g, 0, sizeof(g));
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < ss.n; i++) {
		struct msg *x = &ss.m[i];
		if (i == 4)
			feed_gapped(c, x->dir, x->ts, x->s.b, x->s.n, 2048, 100, &g, &st);
		else
			feed_bytes(c, x->dir, x->ts, x->s.b, x->s.n, &g, &st);
	}
	CHECK("gap inside a row: exact rows, no resync", g.n == 1 && g.q[0].has_rows &&
	      g.q[0].rows == 3 && st.resyncs == 0 && st.parse_errors == 0);
	free(c);
	session_free(&ss);

	/* 5. A long COM_QUERY whose middle is not captured: SQL head kept and
	 * flagged truncated, the response still matched. */
	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	m = msg(&ss, JM_DIR_TX);
	{
		PAYLOAD(p);
		s_u8(&p, 0x03);
		s_bytes(&p, "INSERT INTO big VALUES ", 23);
		for (int i = 0; i < 5000; i++)
			s_bytes(&p, i ? ",(424242)" : "(424242)", i ? 9 : 8);
		emit(m, 0, &p);
	}
	p_ok(msg(&ss, JM_DIR_RX), 1, 5000, S_AUTOCOMMIT);
	c = new_conn();
	memset(&g, 0, sizeof(g));
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < ss.n; i++) {
		struct msg *x = &ss.m[i];
		if (i == 3)
			feed_gapped(c, x->dir, x->ts, x->s.b, x->s.n, 512, 512, &g, &st);
		else
			feed_bytes(c, x->dir, x->ts, x->s.b, x->s.n, &g, &st);
	}
	CHECK("gap in request: query reported with rows", g.n == 1 && g.q[0].rows == 5000 &&
	      g.q[0].cmd == JM_SQL_INSERT);
	CHECK("gap in request: SQL is the captured head, truncated",
	      g.q[0].trunc && g.q[0].sql_len == 512 - 5 && strncmp(g.q[0].sql, "INSERT INTO big", 15) == 0);
	{
		char t[64];
		bool ok = jm_sql_write_target(g.q[0].sql, g.q[0].sql_len, JM_SQL_MYSQL, t,
						     sizeof(t));
		CHECK_STR("gap in request: write target from the head", ok ? t : "(none)", "big");
	}
	free(c);
	session_free(&ss);
}

/* Two commands in one send, the second one's header uncaptured: TX is out
 * of sync until a send starts with a command again. */
static void test_tx_gap(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct jm_proto_stats st;
	struct jm_mysql_conn *c = new_conn();
	struct stream *m;

	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	m = msg(&ss, JM_DIR_TX);
	{
		PAYLOAD(p);
		s_u8(&p, 0x03);
		s_bytes(&p, "UPDATE t SET v = ", 17);
		for (int i = 0; i < 3000; i++)
			s_u8(&p, '7');
		emit(m, 0, &p);
	}
	p_command(m, 0x03, "SELECT 2 FROM dual");
	m = msg(&ss, JM_DIR_RX);
	p_ok(m, 1, 4, S_AUTOCOMMIT);
	p_ok(m, 1, 0, S_AUTOCOMMIT);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "DELETE FROM t");
	p_ok(msg(&ss, JM_DIR_RX), 1, 6, S_AUTOCOMMIT);
	memset(&g, 0, sizeof(g));
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < ss.n; i++) {
		struct msg *x = &ss.m[i];
		if (i == 3)
			feed_gapped(c, x->dir, x->ts, x->s.b, x->s.n, 256, 10, &g, &st);
		else
			feed_bytes(c, x->dir, x->ts, x->s.b, x->s.n, &g, &st);
	}
	CHECK_INT("tx gap: the seen commands are reported", g.n, 2);
	CHECK("tx gap: first command exact", g.q[0].rows == 4 && g.q[0].cmd == JM_SQL_UPDATE &&
	      g.q[0].trunc);
	CHECK("tx gap: regained at the next send", g.q[1].rows == 6 && g.q[1].has_rows &&
	      g.q[1].cmd == JM_SQL_DELETE);
	/* SELECT 2 went by unseen: its OK arrives unasked, counted, and RX
	 * stays in sync, so the answers' end vouches for the next send. */
	CHECK_INT("tx gap: the unseen command counted", st.parse_errors, 1);
	CHECK_INT("tx gap: TX regained once", st.resyncs, 1);
	free(c);
	session_free(&ss);
}

/* LOCAL INFILE data whose packets cross an uncaptured middle: the empty
 * packet that ends the file, and so the sequence id of the server's OK, go
 * by unseen.  The OK still completes the load with its rows, and the next
 * commands are commands again (not file data). */
static void test_local_infile_gap(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct jm_proto_stats st;
	struct jm_mysql_conn *c = new_conn();
	struct stream *m;
	uint8_t seq;

	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "LOAD DATA LOCAL INFILE '/tmp/x.csv' INTO TABLE stage.raw");
	p_raw(msg(&ss, JM_DIR_RX), 1, "\xfb/tmp/x.csv", 11);
	m = msg(&ss, JM_DIR_TX);                    /* 5,000 lines in one send */
	seq = 2;
	for (int i = 0; i < 5000; i++)
		seq = p_raw(m, seq, "12345,someone@example.com\n", 26);
	seq = p_raw(m, seq, "", 0);
	p_ok(msg(&ss, JM_DIR_RX), seq, 5000, S_AUTOCOMMIT);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT count(*) FROM stage.raw");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 1, true, false, S_AUTOCOMMIT, 0);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT 2");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 1, true, false, S_AUTOCOMMIT, 0);
	memset(&g, 0, sizeof(g));
	memset(&st, 0, sizeof(st));
	g.c = c;
	for (int i = 0; i < ss.n; i++) {
		struct msg *x = &ss.m[i];
		if (x->s.n > 1024)
			feed_gapped(c, x->dir, x->ts, x->s.b, x->s.n, 512, 256, &g, &st);
		else
			feed_bytes(c, x->dir, x->ts, x->s.b, x->s.n, &g, &st);
	}
	CHECK_INT("infile gap: the load and both selects", g.n, 3);
	CHECK("infile gap: the load's rows from its OK", g.q[0].rows == 5000 && g.q[0].has_rows &&
	      !g.q[0].error && g.q[0].cmd == JM_SQL_COPY_FROM);
	CHECK("infile gap: the commands after it in step",
	      g.n == 3 && g.q[1].rows == 1 && g.q[1].has_rows && g.q[2].rows == 1 &&
	      strcmp(g.q[2].sql, "SELECT 2") == 0);
	CHECK_INT("infile gap: no parse errors", st.parse_errors, 0);
	free(c);
	session_free(&ss);
}

/* LOCAL INFILE data sent in 16 KiB sends cut at arbitrary places, whose
 * bytes look like command packets: a file line holding
 * "09 00 00 00 03 select 1" (a COM_QUERY), and UTF-16 text "33 00 39 00 0a"
 * (a COM_PROCESS_INFO).  Once TX lost a header in an uncaptured middle,
 * sends starting with such bytes must stay file data: TX regains sync only
 * after the server's answer to the load. */
static void infile_cmd_lookalikes(struct stream *file)
{
	static const uint8_t fake_query[] = "\x09\x00\x00\x00\x03select 1";
	static const uint8_t fake_utf16[] = { '3', 0, '9', 0, '\n', 0, '4', 0, ',', 0 };
	char line[32];

	for (int i = 1; i <= 6000; i++) {
		int k = snprintf(line, sizeof(line), "%d,", i);
		s_bytes(file, line, (size_t)k);
		for (int j = 0; j < 3; j++)
			s_bytes(file, fake_query, sizeof(fake_query) - 1);
		s_u8(file, '\n');
		if (i % 7 == 0)
			s_bytes(file, fake_utf16, sizeof(fake_utf16));
	}
}

static void test_local_infile_lookalikes(void)
{
	struct session ss = { .n = 0 };
	struct stream file = { 0 }, data = { 0 };
	struct got g;
	struct jm_proto_stats st;
	uint8_t seq = 2;
	size_t off, cut, sends = 0;

	infile_cmd_lookalikes(&file);
	/* 4 KiB file packets, then the empty one that ends the file */
	for (off = 0; off < file.n; off += 4096) {
		PAYLOAD(p);
		s_bytes(&p, file.b + off, file.n - off < 4096 ? file.n - off : 4096);
		seq = emit(&data, seq, &p);
	}
	seq = p_raw(&data, seq, "", 0);
	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT 1");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 1, true, false, S_AUTOCOMMIT, 0);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "LOAD DATA LOCAL INFILE '/tmp/x.csv' INTO TABLE t");
	p_raw(msg(&ss, JM_DIR_RX), 1, "\xfb/tmp/x.csv", 11);
	/* Sends of about 16 KiB, each cut where a look-alike starts. */
	for (off = 0; off < data.n; off = cut) {
		cut = off + 16384 < data.n ? off + 16384 : data.n;
		while (cut < data.n && !(memcmp(data.b + cut, "\x09\x00\x00\x00\x03", 5) == 0 ||
					 memcmp(data.b + cut, "3\x00" "9\x00\n", 5) == 0))
			cut++;
		s_bytes(msg(&ss, JM_DIR_TX), data.b + off, cut - off);
		sends++;
	}
	p_ok(msg(&ss, JM_DIR_RX), seq, 6000, S_AUTOCOMMIT);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT count(*) FROM t");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 1, true, false, S_AUTOCOMMIT, 0);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT 2");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 1, true, false, S_AUTOCOMMIT, 0);
	CHECK("infile look-alikes: several sends, each after the first starting like a command",
	      sends > 5 && ss.n < 96);

	check_all_splits("infile look-alikes", &ss, &g);
	CHECK_INT("infile look-alikes whole: four queries", g.n, 4);

	/* Captured as head + tail: every send has an uncaptured middle. */
	for (int shape = 0; shape < 2; shape++) {
		struct jm_mysql_conn *c = new_conn();
		memset(&g, 0, sizeof(g));
		memset(&st, 0, sizeof(st));
		g.c = c;
		for (int i = 0; i < ss.n; i++) {
			struct msg *x = &ss.m[i];
			size_t h = shape ? 4096 : 512, t = shape ? 4096 : 256;
			if (x->s.n > h + t)
				feed_gapped(c, x->dir, x->ts, x->s.b, x->s.n, h, t, &g, &st);
			else
				feed_bytes(c, x->dir, x->ts, x->s.b, x->s.n, &g, &st);
		}
		CHECK_INT(shape ? "infile look-alikes 4K capture: four queries, no phantom"
				: "infile look-alikes: four queries, no phantom", g.n, 4);
		CHECK("infile look-alikes: the load with its rows, the selects after it",
		      g.n == 4 && g.q[1].rows == 6000 && g.q[1].cmd == JM_SQL_COPY_FROM &&
		      !g.q[1].error && strcmp(g.q[2].sql, "SELECT count(*) FROM t") == 0 &&
		      g.q[2].rows == 1 && strcmp(g.q[3].sql, "SELECT 2") == 0 && g.q[3].rows == 1);
		CHECK_INT("infile look-alikes: file data is no error", st.parse_errors, 0);
		CHECK_INT("infile look-alikes: TX regained once, after the load", st.resyncs, 1);
		free(c);
	}
	free(file.b);
	free(data.b);
	session_free(&ss);
}

/* A result set that fails after rows the client got (mariadb --quick:
 * 4,999 rows, then ERROR 1242).  In sync its rows are counted; when they
 * went by in uncaptured middles they are unknown, not 0 -- rows is exact
 * whenever rows_unknown is 0. */
static void error_after_rows_session(struct session *ss, int rows)
{
	struct stream *m;
	uint8_t seq;

	handshake(ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(ss, JM_DIR_TX), 0x03, "SELECT seq, if(seq=5000, (SELECT 1 UNION SELECT 2), 1)");
	m = msg(ss, JM_DIR_RX);
	seq = p_raw(m, 1, "\x02", 1);
	seq = p_coldef(m, seq, "seq");
	seq = p_coldef(m, seq, "x");
	for (int i = 0; i < rows; i++)
		seq = p_text_row(m, seq, i, 0);
	p_err(m, seq, 1242, "21000", "Subquery returns more than 1 row");
	p_command(msg(ss, JM_DIR_TX), 0x03, "SELECT 2");
	p_resultset(msg(ss, JM_DIR_RX), 1, 1, 1, true, false, S_AUTOCOMMIT, 0);
}

static void test_error_after_rows(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct jm_proto_stats st;

	/* in sync: 300 rows (small enough to split at every byte) */
	error_after_rows_session(&ss, 300);
	check_all_splits("error after rows", &ss, &g);
	CHECK("error after rows, in sync: failed, with the rows counted",
	      g.n == 2 && g.q[0].error && strcmp(g.q[0].state, "21000") == 0 &&
	      g.q[0].has_rows && g.q[0].rows == 300 && !g.q[0].rows_unknown);
	session_free(&ss);

	error_after_rows_session(&ss, 4999);
	for (int shape = 0; shape < 2; shape++) {
		struct jm_mysql_conn *c = new_conn();
		memset(&g, 0, sizeof(g));
		memset(&st, 0, sizeof(st));
		for (int i = 0; i < ss.n; i++) {
			struct msg *x = &ss.m[i];
			size_t cut = shape ? x->s.n / 2 : x->s.n;
			if (x->s.n <= 1024) {
				feed_bytes(c, x->dir, x->ts, x->s.b, x->s.n, &g, &st);
				continue;
			}
			/* one recv, or two, each with an uncaptured middle */
			feed_gapped(c, x->dir, x->ts, x->s.b, cut, 512, 256, &g, &st);
			if (shape)
				feed_gapped(c, x->dir, x->ts + 1, x->s.b + cut, x->s.n - cut, 512, 256,
					    &g, &st);
		}
		CHECK(shape ? "error after rows, two gapped recvs: failed, rows unknown (not 0)"
			    : "error after rows, gapped: failed, rows unknown (not 0)",
		      g.n == 2 && g.q[0].error && strcmp(g.q[0].state, "21000") == 0 &&
		      !g.q[0].has_rows && g.q[0].rows_unknown);
		CHECK("error after rows, gapped: the next query exact",
		      g.n == 2 && g.q[1].has_rows && g.q[1].rows == 1 && !g.q[1].rows_unknown);
		free(c);
	}
	session_free(&ss);
}

/* The connection ends while a query waits: it failed as the client saw it
 * (lost connection), unless RX was out of sync (its answer may have gone by
 * unseen).  Commands that are not queries are not reported. */
static void test_close_pending(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct jm_proto_stats st;
	struct jm_mysql_conn *c = new_conn();

	/* a query with no answer at all */
	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT 1");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 1, true, false, S_AUTOCOMMIT, 0);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT benchmark(100000000, md5('a'))");
	memset(&g, 0, sizeof(g));
	memset(&st, 0, sizeof(st));
	g.c = c;
	for (int i = 0; i < ss.n; i++)
		feed_bytes(c, ss.m[i].dir, ss.m[i].ts, ss.m[i].s.b, ss.m[i].s.n, &g, &st);
	CHECK_INT("close: nothing before close", g.n, 1);
	jm_mysql_close(c, 99000, on_query, &g);
	CHECK("close: the waiting query failed with a lost connection",
	      g.n == 2 && g.q[1].error && strcmp(g.q[1].state, "08S01") == 0 &&
	      g.q[1].errcode == 2013 && g.q[1].end == 99000 && !g.q[1].has_rows);
	jm_mysql_close(c, 99001, on_query, &g);
	CHECK_INT("close: a second close reports nothing", g.n, 2);
	session_free(&ss);

	/* a result cut in its middle, RX in sync */
	jm_mysql_init(c);
	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT seq FROM seq_1_to_100");
	{
		struct stream *m = msg(&ss, JM_DIR_RX);
		p_resultset(m, 1, 1, 100, true, false, S_AUTOCOMMIT, 0);
		m->n /= 2;                          /* the rest never came */
	}
	memset(&g, 0, sizeof(g));
	g.c = c;
	for (int i = 0; i < ss.n; i++)
		feed_bytes(c, ss.m[i].dir, ss.m[i].ts, ss.m[i].s.b, ss.m[i].s.n, &g, &st);
	jm_mysql_close(c, 99000, on_query, &g);
	CHECK("close: a result cut short failed", g.n == 1 && g.q[0].error &&
	      strcmp(g.q[0].state, "08S01") == 0);
	session_free(&ss);

	/* RX out of sync when the connection ends: done, rows unknown */
	jm_mysql_init(c);
	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT seq FROM seq_1_to_5000");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 5000, true, false, S_AUTOCOMMIT, 0);
	memset(&g, 0, sizeof(g));
	g.c = c;
	for (int i = 0; i < ss.n; i++) {
		struct msg *x = &ss.m[i];
		if (x->s.n > 1024)   /* the terminator is cut off too: no resync */
			feed_gapped(c, x->dir, x->ts, x->s.b, x->s.n - 3, 512, 256, &g, &st);
		else
			feed_bytes(c, x->dir, x->ts, x->s.b, x->s.n, &g, &st);
	}
	CHECK_INT("close: out of sync, nothing yet", g.n, 0);
	jm_mysql_close(c, 99000, on_query, &g);
	CHECK("close: out of sync, done with rows unknown at the last RX",
	      g.n == 1 && !g.q[0].error && !g.q[0].has_rows && g.q[0].end == ss.m[4].ts);
	session_free(&ss);

	/* a PREPARE waiting: not a query */
	jm_mysql_init(c);
	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x16, "SELECT ? FROM dual");
	memset(&g, 0, sizeof(g));
	g.c = c;
	for (int i = 0; i < ss.n; i++)
		feed_bytes(c, ss.m[i].dir, ss.m[i].ts, ss.m[i].s.b, ss.m[i].s.n, &g, &st);
	jm_mysql_close(c, 99000, on_query, &g);
	CHECK_INT("close: a waiting PREPARE is not reported", g.n, 0);
	free(c);
	session_free(&ss);
}

/* A connection the server refuses (access denied) is an error the job saw,
 * though no query carries it. */
static void test_access_denied(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct jm_proto_stats st;
	struct jm_mysql_conn *c = new_conn();

	p_greeting(msg(&ss, JM_DIR_RX), C_BASE | C_DEPRECATE_EOF, "10.11.6-MariaDB");
	p_hsresp(msg(&ss, JM_DIR_TX), C_BASE | C_DEPRECATE_EOF, "etl", "wrong");
	p_err(msg(&ss, JM_DIR_RX), 2, 1045, "28000", "Access denied for user");
	memset(&g, 0, sizeof(g));
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < ss.n; i++)
		feed_bytes(c, ss.m[i].dir, ss.m[i].ts, ss.m[i].s.b, ss.m[i].s.n, &g, &st);
	CHECK("access denied: no query, one error no query carries",
	      g.n == 0 && st.unmatched_errors == 1 && st.parse_errors == 0);
	free(c);
	session_free(&ss);
}

/* A command that is no query refused by the server (USE of an unknown
 * database = COM_INIT_DB, COM_CHANGE_USER with a wrong password, a FETCH
 * of a closed cursor) is an error the job saw, counted like a connection
 * refused at its start; the same commands succeeding are not. */
static void test_command_errors(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct jm_proto_stats st;

	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x02, "nosuchdb");                 /* USE */
	p_err(msg(&ss, JM_DIR_RX), 1, 1049, "42000", "Unknown database 'nosuchdb'");
	p_command(msg(&ss, JM_DIR_TX), 0x02, "shop");
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	p_command(msg(&ss, JM_DIR_TX), 0x11, "other\0xxxxxxxxxxxxxxxxxxxx");   /* CHANGE_USER */
	p_raw(msg(&ss, JM_DIR_RX), 1, "\xfe" "mysql_native_password\0abcdefghijklmnopqrst", 43);
	p_raw(msg(&ss, JM_DIR_TX), 2, "01234567890123456789", 20);
	p_err(msg(&ss, JM_DIR_RX), 3, 1045, "28000", "Access denied for user 'other'");
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x1c, 4, false);                  /* FETCH */
	p_err(msg(&ss, JM_DIR_RX), 1, 1243, "HY000", "Unknown prepared statement handler");
	p_command(msg(&ss, JM_DIR_TX), 0x0e, NULL);                        /* PING */
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT 1");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 1, true, false, S_AUTOCOMMIT, 0);
	check_all_splits("command errors", &ss, &g);
	CHECK("command errors: only the query reported", g.n == 1 && g.q[0].rows == 1);
	run(&ss, 0, 0, &g, &st);
	CHECK_INT("command errors: USE, CHANGE_USER and FETCH failures counted", st.unmatched_errors, 3);
	for (size_t k = 1; k < 20; k++) {
		run(&ss, 1, k, &g, &st);
		if (st.unmatched_errors != 3)
			break;
	}
	CHECK_INT("command errors: the same when split", st.unmatched_errors, 3);
	session_free(&ss);
}

/* A PREPARE the server rejects is a statement the client saw fail: a failed
 * query with its SQL; one that succeeds is not a query. */
static void test_prepare_error(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	uint8_t seq;
	struct stream *m;

	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x16, "SELEC bogus FROM t");
	p_err(msg(&ss, JM_DIR_RX), 1, 1064, "42000", "You have an error in your SQL syntax");
	p_command(msg(&ss, JM_DIR_TX), 0x16, "SELECT id FROM t");
	m = msg(&ss, JM_DIR_RX);
	seq = p_prepare_ok(m, 1, 3, 1, 0);
	p_coldef(m, seq, "id");
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x17, 3, false);
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 4, true, true, S_AUTOCOMMIT, 0);
	check_all_splits("prepare error", &ss, &g);
	CHECK_INT("prepare error: the failed prepare and the execute", g.n, 2);
	CHECK("prepare error: reported failed, with its SQL and SQLSTATE",
	      g.q[0].error && strcmp(g.q[0].state, "42000") == 0 &&
	      strcmp(g.q[0].sql, "SELEC bogus FROM t") == 0 && g.q[0].errcode == 1064);
	CHECK("prepare error: the execute after it exact", g.q[1].rows == 4 && !g.q[1].error &&
	      strcmp(g.q[1].sql, "SELECT id FROM t") == 0);
	session_free(&ss);
}

/* mariadb_stmt_execute_direct pipelines PREPARE + EXECUTE(0xFFFFFFFF).
 * When the PREPARE fails the server fails the EXECUTE too (no last
 * statement); the client reports one failed statement.  So do we: the
 * prepare's failure with its SQL, once, and never on the statement that
 * was prepared before (the reviewer's ps2 direct / direct2). */
static void test_execute_direct(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct stream *tx, *rx;
	uint8_t seq;
	int errors = 0;

	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x16, "SELECT 42 AS kept");
	rx = msg(&ss, JM_DIR_RX);
	p_coldef(rx, p_prepare_ok(rx, 1, 3, 1, 0), "kept");
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x17, 3, false);
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 1, true, true, S_AUTOCOMMIT, 0);
	for (int i = 0; i < 2; i++) {                     /* failing direct executes */
		tx = msg(&ss, JM_DIR_TX);
		p_command(tx, 0x16, "SELECT * FROM nosuch_direct");
		p_stmt_cmd(tx, 0x17, 0xffffffffu, false);
		rx = msg(&ss, JM_DIR_RX);
		p_err(rx, 1, 1146, "42S02", "Table 'nosuch_direct' doesn't exist");
		p_err(rx, 1, 1243, "HY000", "Unknown prepared statement handler");
	}
	tx = msg(&ss, JM_DIR_TX);                         /* a direct execute that works */
	p_command(tx, 0x16, "SELECT seq FROM seq_1_to_3");
	p_stmt_cmd(tx, 0x17, 0xffffffffu, false);
	rx = msg(&ss, JM_DIR_RX);
	seq = p_prepare_ok(rx, 1, 4, 1, 0);
	p_coldef(rx, seq, "seq");
	p_resultset(rx, 1, 1, 3, true, true, S_AUTOCOMMIT, 0);
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x17, 3, false);  /* the kept one again */
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 1, true, true, S_AUTOCOMMIT, 0);
	check_all_splits("execute direct", &ss, &g);
	CHECK_INT("execute direct: one query per statement the client ran", g.n, 5);
	{
		struct jm_proto_stats st;
		struct got g2;
		run(&ss, 0, 0, &g2, &st);
		CHECK_INT("execute direct: the swallowed execute is no extra error",
			  st.unmatched_errors, 0);
	}
	for (int i = 0; i < g.n; i++)
		errors += g.q[i].error;
	CHECK_INT("execute direct: each failure once", errors, 2);
	CHECK("execute direct: the failures carry the failed SQL and its SQLSTATE",
	      g.n == 5 && g.q[1].error && g.q[2].error &&
	      strcmp(g.q[1].sql, "SELECT * FROM nosuch_direct") == 0 &&
	      strcmp(g.q[2].sql, "SELECT * FROM nosuch_direct") == 0 &&
	      strcmp(g.q[1].state, "42S02") == 0 && g.q[1].errcode == 1146);
	CHECK("execute direct: the working one with its SQL and rows",
	      g.n == 5 && !g.q[3].error && g.q[3].rows == 3 &&
	      strcmp(g.q[3].sql, "SELECT seq FROM seq_1_to_3") == 0);
	CHECK("execute direct: the statement prepared before is not charged",
	      g.n == 5 && !g.q[0].error && !g.q[4].error &&
	      strcmp(g.q[0].sql, "SELECT 42 AS kept") == 0 &&
	      strcmp(g.q[4].sql, "SELECT 42 AS kept") == 0);
	session_free(&ss);
}

/* More live prepared statements than JM_MYSQL_STMTS: an execute of one
 * evicted from the LRU (or prepared before we looked) has no SQL to show.
 * It is reported with empty SQL, not truncated (postgres.c's convention
 * for an unknown statement; " ..." would read as a cut text), and each
 * one is counted as a parse error, whole, split and byte by byte. */
static void test_unknown_statement(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct jm_proto_stats st;
	char sql[64];

	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	for (uint32_t id = 1; id <= JM_MYSQL_STMTS + 2; id++) {
		snprintf(sql, sizeof(sql), "SELECT %u AS tag%u", id, id);
		p_command(msg(&ss, JM_DIR_TX), 0x16, sql);
		p_prepare_ok(msg(&ss, JM_DIR_RX), 1, id, 0, 0);
	}
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x17, 1, false);         /* evicted */
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x17, JM_MYSQL_STMTS + 2, false);
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x17, 999, false);       /* never seen */
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	check_splits_errs("unknown statement", &ss, &g, 2);
	run(&ss, 0, 0, &g, &st);
	CHECK_INT("unknown statement: three executes", g.n, 3);
	CHECK("unknown statement: evicted one with empty SQL, not truncated",
	      g.n == 3 && g.q[0].sql_len == 0 && !g.q[0].trunc && !g.q[0].error);
	CHECK("unknown statement: the kept one with its SQL",
	      g.n == 3 && strcmp(g.q[1].sql, "SELECT 50 AS tag50") == 0);
	CHECK("unknown statement: never seen, empty SQL, not truncated",
	      g.n == 3 && g.q[2].sql_len == 0 && !g.q[2].trunc);
	CHECK_INT("unknown statement: each counted as a parse error", st.parse_errors, 2);
	session_free(&ss);
}

/* Cursor execute + fetch, COM_CHANGE_USER with an auth switch, a result
 * set without metadata, an unasked ERR (server hang-up notice). */
static void test_other_shapes(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct stream *m;
	uint8_t seq;

	handshake(&ss, C_BASE);
	p_command(msg(&ss, JM_DIR_TX), 0x16, "SELECT id FROM orders");
	m = msg(&ss, JM_DIR_RX);
	seq = p_prepare_ok(m, 1, 4, 1, 0);
	p_eof(m, p_coldef(m, seq, "id"), S_AUTOCOMMIT);
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x17, 4, false);          /* opens a cursor */
	m = msg(&ss, JM_DIR_RX);
	seq = p_raw(m, 1, "\x01", 1);
	p_eof(m, p_coldef(m, seq, "id"), S_AUTOCOMMIT | 0x0040);
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x1c, 4, false);          /* COM_STMT_FETCH */
	m = msg(&ss, JM_DIR_RX);
	p_eof(m, p_bin_row(m, p_bin_row(m, 1, 1), 2), S_AUTOCOMMIT | 0x0080);
	p_command(msg(&ss, JM_DIR_TX), 0x11, "other\0xxxxxxxxxxxxxxxxxxxx");   /* CHANGE_USER */
	p_raw(msg(&ss, JM_DIR_RX), 1, "\xfe" "mysql_native_password\0abcdefghijklmnopqrst", 43);
	p_raw(msg(&ss, JM_DIR_TX), 2, "01234567890123456789", 20);
	p_ok(msg(&ss, JM_DIR_RX), 3, 0, S_AUTOCOMMIT);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT a FROM t");  /* metadata skipped */
	m = msg(&ss, JM_DIR_RX);
	seq = p_raw(m, 1, "\x01\x00", 2);
	p_eof(m, p_text_row(m, p_eof(m, seq, S_AUTOCOMMIT), 0, 0), S_AUTOCOMMIT);
	p_err(msg(&ss, JM_DIR_RX), 0, 4031, "HY000", "The client was disconnected by the server");
	check_all_splits("other shapes", &ss, &g);
	CHECK_INT("other shapes: execute + query reported", g.n, 2);
	CHECK("cursor execute: done at its EOF, rows unknown (they come by FETCH)",
	      g.q[0].end == ss.m[6].ts && !g.q[0].has_rows && !g.q[0].error &&
	      strcmp(g.q[0].sql, "SELECT id FROM orders") == 0);
	CHECK("after fetch and change user: metadata-less result counted",
	      g.q[1].rows == 1 && g.q[1].has_rows && g.q[1].start == ss.m[13].ts);
	session_free(&ss);
}

/* Cursor execute with CLIENT_DEPRECATE_EOF: the definitions end with an
 * OK-with-0xFE carrying SERVER_STATUS_CURSOR_EXISTS; the rows come later by
 * COM_STMT_FETCH, so the execute's row count is unknown, not 0. */
static void test_cursor_deprecate_eof(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct stream *m;
	uint8_t seq;

	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x16, "SELECT id FROM orders");
	m = msg(&ss, JM_DIR_RX);
	p_coldef(m, p_prepare_ok(m, 1, 4, 1, 0), "id");
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x17, 4, false);          /* opens a cursor */
	m = msg(&ss, JM_DIR_RX);
	seq = p_raw(m, 1, "\x01", 1);
	p_ok_fe(m, p_coldef(m, seq, "id"), S_AUTOCOMMIT | 0x0040);
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x1c, 4, false);          /* COM_STMT_FETCH */
	m = msg(&ss, JM_DIR_RX);
	p_ok_fe(m, p_bin_row(m, p_bin_row(m, 1, 1), 2), S_AUTOCOMMIT | 0x0080);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT a FROM t");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 2, true, false, S_AUTOCOMMIT, 0);
	check_all_splits("cursor deprecate_eof", &ss, &g);
	CHECK_INT("cursor deprecate_eof: execute + query reported", g.n, 2);
	CHECK("cursor deprecate_eof: execute done at its OK, rows unknown (they come by FETCH)",
	      g.q[0].end == ss.m[6].ts && !g.q[0].has_rows && !g.q[0].error &&
	      strcmp(g.q[0].sql, "SELECT id FROM orders") == 0);
	CHECK("cursor deprecate_eof: next query exact", g.q[1].rows == 2 && g.q[1].has_rows);
	session_free(&ss);

	/* Picked up mid-stream (DEPRECATE_EOF not known yet): the same. */
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x17, 9, false);
	m = msg(&ss, JM_DIR_RX);
	seq = p_raw(m, 1, "\x01", 1);
	p_ok_fe(m, p_coldef(m, seq, "id"), S_AUTOCOMMIT | 0x0040);
	p_stmt_cmd(msg(&ss, JM_DIR_TX), 0x1c, 9, false);
	m = msg(&ss, JM_DIR_RX);
	p_ok_fe(m, p_bin_row(m, 1, 1), S_AUTOCOMMIT | 0x0080);
	/* statement 9 was prepared before we looked: counted once */
	check_splits_errs("cursor mid-stream", &ss, &g, 1);
	CHECK("cursor mid-stream: execute reported, rows unknown",
	      g.n == 1 && !g.q[0].has_rows && !g.q[0].error);
	session_free(&ss);
}

static void test_big_packet(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct jm_proto_stats st;

	/* A row of more than 16 MiB: continuation packets, one logical row. */
	handshake(&ss, C_BASE);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT blob FROM b");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 2, 2, false, false, S_AUTOCOMMIT, 0xffffff + 100);
	run(&ss, 0, 0, &g, &st);
	CHECK("16 MiB rows: continuation packets make one row each",
	      g.n == 1 && g.q[0].rows == 2 && g.q[0].has_rows && st.parse_errors == 0);
	run(&ss, 1, 0xffffff + 2, &g, &st);
	CHECK("16 MiB rows: split inside the continuation header",
	      g.n == 1 && g.q[0].rows == 2 && st.parse_errors == 0);
	session_free(&ss);
}

static void test_garbage(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct jm_proto_stats st;
	unsigned seed = 99;

	/* An unsolicited, nonsensical server packet then a normal query. */
	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_raw(msg(&ss, JM_DIR_RX), 9, "\x42\x42\x42", 3);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT 1");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 1, 1, true, false, S_AUTOCOMMIT, 0);
	run(&ss, 0, 0, &g, &st);
	CHECK("garbage: counted as parse error", st.parse_errors >= 1);
	CHECK("garbage: next query still parsed", g.n == 1 && g.q[0].rows == 1 && g.q[0].has_rows);
	session_free(&ss);

	/* Wrong sequence id in a response: misframing detected. */
	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT 1");
	p_ok(msg(&ss, JM_DIR_RX), 5, 0, 0);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT 2");
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, 0);
	run(&ss, 0, 0, &g, &st);
	CHECK("bad sequence: parse error, first query unknown, second exact",
	      st.parse_errors >= 1 && g.n == 2 && !g.q[0].has_rows && g.q[1].has_rows);
	session_free(&ss);

	/* Random bytes in both directions: no crash, bounded work. */
	struct jm_mysql_conn *c = new_conn();
	uint8_t buf[2048];
	memset(&g, 0, sizeof(g));
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < 3000; i++) {
		size_t n = 1 + (seed = seed * 1103515245u + 12345u) % sizeof(buf);
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
		if (i % 7 == 0)
			buf[3] = 0;                       /* sometimes plausible headers */
		struct jm_fragment f = { .dir = (i & 1) ? JM_DIR_RX : JM_DIR_TX, .ts_ns = (uint64_t)i,
					 .total_len = (uint32_t)n * ((i % 5) ? 1 : 3), .head = buf,
					 .head_len = (uint32_t)(n / 2), .tail = buf + n / 2,
					 .tail_len = (uint32_t)(n - n / 2) };
		jm_mysql_feed(c, &f, on_query, &g, &st);
		if (c->stopped)
			jm_mysql_init(c);
	}
	CHECK("random bytes: survived, parse errors counted", st.parse_errors > 0);
	free(c);
}

static void test_tls_and_stop(void)
{
	struct session ss = { .n = 0 };
	struct got g;
	struct jm_proto_stats st;
	struct jm_mysql_conn *c;

	p_greeting(msg(&ss, JM_DIR_RX), C_BASE | C_SSL, "10.11.6-MariaDB-0+deb12u1");
	p_hsresp(msg(&ss, JM_DIR_TX), C_BASE | C_SSL, NULL, NULL);   /* SSLRequest */
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT 1");               /* would be TLS */
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, 0);
	c = new_conn();
	memset(&g, 0, sizeof(g));
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < ss.n; i++)
		feed_bytes(c, ss.m[i].dir, ss.m[i].ts, ss.m[i].s.b, ss.m[i].s.n, &g, &st);
	CHECK("tls: SSLRequest stops parsing", c->tls && c->stopped && g.n == 0);
	CHECK("tls: mariadb recognised from the greeting", c->mariadb);
	CHECK_INT("tls: nothing counted as error", st.parse_errors, 0);
	free(c);
	session_free(&ss);

	/* COM_QUIT ends the conversation. */
	handshake(&ss, C_BASE);
	p_command(msg(&ss, JM_DIR_TX), 0x01, NULL);
	run(&ss, 0, 0, &g, &st);
	CHECK("quit: no query, no error", g.n == 0 && st.parse_errors == 0);
	session_free(&ss);
}

static void test_detect(void)
{
	struct stream m = { 0 };
	p_greeting(&m, C_BASE, "8.0.36");
	CHECK("detect: HandshakeV10", jm_mysql_detect_server_greeting(m.b, m.n));
	{
		static const uint8_t quit[] = { 1, 0, 0, 0, 1 }, ping[] = { 1, 0, 0, 0, 0x0e };
		static const uint8_t quit_long[] = { 2, 0, 0, 0, 1, 0 };
		CHECK("quit: COM_QUIT", jm_mysql_is_quit(quit, sizeof(quit)));
		CHECK("quit: COM_PING is not", !jm_mysql_is_quit(ping, sizeof(ping)));
		CHECK("quit: longer packet is not", !jm_mysql_is_quit(quit_long, sizeof(quit_long)));
	}
	CHECK("detect: first 20 bytes are enough", jm_mysql_detect_server_greeting(m.b, 20));
	CHECK("detect: cut inside the version", !jm_mysql_detect_server_greeting(m.b, 8));
	m.b[3] = 1;
	CHECK("detect: sequence must be 0", !jm_mysql_detect_server_greeting(m.b, m.n));
	m.b[3] = 0;
	m.b[4] = 9;
	CHECK("detect: protocol 9 refused", !jm_mysql_detect_server_greeting(m.b, m.n));
	m.b[4] = 10;
	m.b[5] = 'x';
	CHECK("detect: version must start with a digit", !jm_mysql_detect_server_greeting(m.b, m.n));
	free(m.b);
	CHECK("detect: postgres startup refused",
	      !jm_mysql_detect_server_greeting((const uint8_t *)"\0\0\0\x08\x04\xd2\x16\x2f", 8));
	CHECK("detect: HTTP refused",
	      !jm_mysql_detect_server_greeting((const uint8_t *)"HTTP/1.1 200 OK\r\n", 17));
	CHECK("detect: NULL / short", !jm_mysql_detect_server_greeting(NULL, 10) &&
	      !jm_mysql_detect_server_greeting((const uint8_t *)"\x0a", 1));
}

static bool mem_contains(const void *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static void test_privacy(void)
{
	struct session ss = { .n = 0 };
	struct jm_mysql_conn *c = new_conn();
	struct got g;
	struct jm_proto_stats st;
	struct stream *m;

	/* Password in the handshake response and in an auth switch
	 * response; LOCAL INFILE data; row values; execute parameters. */
	p_greeting(msg(&ss, JM_DIR_RX), C_BASE | C_DEPRECATE_EOF, "8.0.36");
	p_hsresp(msg(&ss, JM_DIR_TX), C_BASE | C_DEPRECATE_EOF, "etl", "PW-HUNTER2-SECRET");
	p_raw(msg(&ss, JM_DIR_RX), 2, "\xfe" "caching_sha2_password\0NONCE", 27);
	p_raw(msg(&ss, JM_DIR_TX), 3, "SWITCH-SECRET-PW", 16);
	p_ok(msg(&ss, JM_DIR_RX), 4, 0, S_AUTOCOMMIT);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "LOAD DATA LOCAL INFILE 'f' INTO TABLE t");
	p_raw(msg(&ss, JM_DIR_RX), 1, "\xfb" "f", 2);
	m = msg(&ss, JM_DIR_TX);
	p_raw(m, p_raw(m, 2, "FILE-CONTENT-SECRET", 19), "", 0);
	p_ok(msg(&ss, JM_DIR_RX), 4, 1, S_AUTOCOMMIT);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SELECT email FROM users");
	p_resultset(msg(&ss, JM_DIR_RX), 1, 2, 3, true, false, S_AUTOCOMMIT, 0);
	p_command(msg(&ss, JM_DIR_TX), 0x11, "root\0CHANGE-USER-SECRET");   /* COM_CHANGE_USER */
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	/* a prepared UPDATE executed with a string parameter */
	p_command(msg(&ss, JM_DIR_TX), 0x16, "UPDATE users SET pw = ? WHERE id = 1");
	m = msg(&ss, JM_DIR_RX);
	p_coldef(m, p_prepare_ok(m, 1, 5, 0, 1), "?");
	{
		PAYLOAD(x);
		s_u8(&x, 0x17);                            /* COM_STMT_EXECUTE */
		s_le(&x, 5, 4);
		s_u8(&x, 0);                               /* flags */
		s_le(&x, 1, 4);                            /* iteration count */
		s_u8(&x, 0);                               /* null bitmap */
		s_u8(&x, 1);                               /* new params bound */
		s_le(&x, 0xfe, 2);                         /* MYSQL_TYPE_STRING */
		s_lenstr(&x, "EXEC-PARAM-SECRET");
		emit(msg(&ss, JM_DIR_TX), 0, &x);
	}
	p_ok(msg(&ss, JM_DIR_RX), 1, 1, S_AUTOCOMMIT);
	memset(&g, 0, sizeof(g));
	memset(&st, 0, sizeof(st));
	g.c = c;
	for (int i = 0; i < ss.n; i++)
		feed_bytes(c, ss.m[i].dir, ss.m[i].ts, ss.m[i].s.b, ss.m[i].s.n, &g, &st);
	CHECK("privacy: session parsed", g.n == 3 && g.q[0].rows == 1 && g.q[1].rows == 3 &&
	      g.q[2].rows == 1 && st.parse_errors == 0);
	CHECK("privacy: the execute carries the prepared SQL, not its parameter",
	      g.n == 3 && strcmp(g.q[2].sql, "UPDATE users SET pw = ? WHERE id = 1") == 0);
	CHECK("privacy: execute parameter never retained", !mem_contains(c, sizeof(*c), "EXEC-PARAM"));
	CHECK("privacy: password never retained", !mem_contains(c, sizeof(*c), "HUNTER2"));
	CHECK("privacy: auth switch data never retained", !mem_contains(c, sizeof(*c), "SWITCH-SECRET"));
	CHECK("privacy: change-user password never retained",
	      !mem_contains(c, sizeof(*c), "CHANGE-USER-SECRET"));
	CHECK("privacy: LOCAL INFILE data never retained", !mem_contains(c, sizeof(*c), "FILE-CONTENT"));
	CHECK("privacy: row values never retained", !mem_contains(c, sizeof(*c), "alice@example") &&
	      !mem_contains(c, sizeof(*c), "row-value"));
	CHECK("privacy: server scramble wiped", !mem_contains(c, sizeof(*c), "SCRAMBL1"));
	free(c);
	session_free(&ss);
}

static void test_sql_flags(void)
{
	struct session ss = { .n = 0 };
	struct jm_mysql_conn *c = new_conn();
	struct got g;
	struct jm_proto_stats st;
	char out[128];

	CHECK_INT("sql flags: no server status seen: both readings", jm_mysql_sql_flags(c, "select 1", 8),
		  JM_SQL_MYSQL);
	handshake(&ss, C_BASE | C_DEPRECATE_EOF);
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SET sql_mode='NO_BACKSLASH_ESCAPES'");
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT | 0x0200);
	memset(&g, 0, sizeof(g));
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < ss.n; i++)
		feed_bytes(c, ss.m[i].dir, ss.m[i].ts, ss.m[i].s.b, ss.m[i].s.n, &g, &st);
	CHECK_INT("sql flags: server status NO_BACKSLASH_ESCAPES honoured", jm_mysql_sql_flags(c, "select 1", 8),
		  JM_SQL_MYSQL | JM_SQL_STD_STRINGS);
	jm_sql_fingerprint_ex("SELECT \"alice@example.com\"", 26, jm_mysql_sql_flags(c, "x", 1), out,
			      sizeof(out));
	CHECK_STR("sql flags: double-quoted value hidden", out, "select ?");
	/* One statement shape, one fingerprint, in the mode the server uses:
	 * read both ways, 'O\'Brien' was cut into pieces. */
	static const char ob[] = "select v from r1 where v='O\\'Brien' and id=81";
	jm_sql_fingerprint_ex(ob, sizeof(ob) - 1, jm_mysql_sql_flags(c, ob, sizeof(ob) - 1), out,
			      sizeof(out));
	CHECK_STR("sql flags: NO_BACKSLASH_ESCAPES: a backslash ends nothing",
		  out, "select v from r1 where v=?brien?");
	/* A text that sets sql_mode may change it half-way (a multi-statement):
	 * both readings, whatever the status said. */
	static const char ms[] = "SET sql_mode=''; SELECT 'a\\', 'alice@example.com'";
	CHECK_INT("sql flags: a text naming sql_mode is read both ways",
		  jm_mysql_sql_flags(c, ms, sizeof(ms) - 1), JM_SQL_MYSQL);
	jm_sql_fingerprint_ex(ms, sizeof(ms) - 1, jm_mysql_sql_flags(c, ms, sizeof(ms) - 1), out,
			      sizeof(out));
	CHECK("sql flags: sql_mode changed mid-text: no literal", !strstr(out, "alice"));
	/* The default mode, told by the server: backslashes escape. */
	p_command(msg(&ss, JM_DIR_TX), 0x03, "SET sql_mode=''");
	p_ok(msg(&ss, JM_DIR_RX), 1, 0, S_AUTOCOMMIT);
	for (int i = ss.n - 2; i < ss.n; i++)
		feed_bytes(c, ss.m[i].dir, ss.m[i].ts, ss.m[i].s.b, ss.m[i].s.n, &g, &st);
	CHECK_INT("sql flags: default mode told: backslash escapes", jm_mysql_sql_flags(c, ob, sizeof(ob) - 1),
		  JM_SQL_MYSQL | JM_SQL_BACKSLASH_STRINGS);
	jm_sql_fingerprint_ex(ob, sizeof(ob) - 1, jm_mysql_sql_flags(c, ob, sizeof(ob) - 1), out,
			      sizeof(out));
	CHECK_STR("sql flags: default mode: 'O\\'Brien' is one literal", out,
		  "select v from r1 where v=? and id=?");
	free(c);
	session_free(&ss);
}

int main(void)
{
	test_select(false);
	test_select(true);
	test_insert_and_error();
	test_kind_mysql_comments();
	test_prepare_execute(false);
	test_prepare_execute(true);
	test_multi_result();
	test_many_in_one_fragment();
	test_local_infile();
	test_midstream_and_attrs();
	test_midstream_attrs_too_long();
	test_gaps();
	test_tx_gap();
	test_local_infile_gap();
	test_local_infile_lookalikes();
	test_error_after_rows();
	test_close_pending();
	test_prepare_error();
	test_execute_direct();
	test_unknown_statement();
	test_access_denied();
	test_command_errors();
	test_other_shapes();
	test_cursor_deprecate_eof();
	test_big_packet();
	test_garbage();
	test_tls_and_stop();
	test_detect();
	test_privacy();
	test_sql_flags();
	printf("# sizeof(struct jm_mysql_conn) = %zu\n", sizeof(struct jm_mysql_conn));
	TEST_EXIT();
}
