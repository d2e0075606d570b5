/* PostgreSQL protocol parser: golden byte sequences built by hand with the
 * message helpers below (no captures from elsewhere), fed as whole, split,
 * and head/tail-truncated fragments. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "protocol/postgres.h"

/* ------------------------------------------------------------ builders */

struct buf {
	uint8_t *d;
	size_t n, cap;
};

static void b_put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 256;
		while (nc < b->n + n)
			nc *= 2;
		uint8_t *nd = realloc(b->d, nc);
		if (!nd) {
			printf("FAIL pg test: out of memory\n");
			exit(1);
		}
		b->d = nd;
		b->cap = nc;
	}
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void b_u8(struct buf *b, uint8_t v) { b_put(b, &v, 1); }
static void b_be16(struct buf *b, uint16_t v) { uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v }; b_put(b, x, 2); }
static void b_be32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	b_put(b, x, 4);
}
static void b_str(struct buf *b, const char *s) { b_put(b, s, strlen(s) + 1); }
static void b_free(struct buf *b) { free(b->d); memset(b, 0, sizeof(*b)); }

/* typed message: type, then a length patched by m_end() */
static size_t m_begin(struct buf *b, char type)
{
	b_u8(b, (uint8_t)type);
	size_t at = b->n;
	b_be32(b, 0);
	return at;
}

static void m_end(struct buf *b, size_t at)
{
	uint32_t len = (uint32_t)(b->n - at);
	b->d[at] = (uint8_t)(len >> 24);
	b->d[at + 1] = (uint8_t)(len >> 16);
	b->d[at + 2] = (uint8_t)(len >> 8);
	b->d[at + 3] = (uint8_t)len;
}

static void m_empty(struct buf *b, char type) { m_end(b, m_begin(b, type)); }

/* frontend */
static void fe_startup(struct buf *b, const char *user, const char *db)
{
	size_t at = b->n;
	b_be32(b, 0);
	b_be32(b, 196608);
	b_str(b, "user");
	b_str(b, user);
	b_str(b, "database");
	b_str(b, db);
	b_u8(b, 0);
	uint32_t len = (uint32_t)(b->n - at);
	b->d[at] = (uint8_t)(len >> 24);
	b->d[at + 1] = (uint8_t)(len >> 16);
	b->d[at + 2] = (uint8_t)(len >> 8);
	b->d[at + 3] = (uint8_t)len;
}
static void fe_sslrequest(struct buf *b) { b_be32(b, 8); b_be32(b, 80877103); }
static void fe_query(struct buf *b, const char *sql) { size_t m = m_begin(b, 'Q'); b_str(b, sql); m_end(b, m); }
static void fe_password(struct buf *b, const char *pw) { size_t m = m_begin(b, 'p'); b_str(b, pw); m_end(b, m); }
static void fe_parse(struct buf *b, const char *name, const char *sql)
{
	size_t m = m_begin(b, 'P');
	b_str(b, name);
	b_str(b, sql);
	b_be16(b, 0);
	m_end(b, m);
}
static void fe_bind(struct buf *b, const char *portal, const char *stmt, const char *param)
{
	size_t m = m_begin(b, 'B');
	b_str(b, portal);
	b_str(b, stmt);
	b_be16(b, 0);                 /* param formats */
	b_be16(b, param ? 1 : 0);     /* params */
	if (param) {
		b_be32(b, (uint32_t)strlen(param));
		b_put(b, param, strlen(param));
	}
	b_be16(b, 0);                 /* result formats */
	m_end(b, m);
}
static void fe_describe_portal(struct buf *b, const char *portal)
{
	size_t m = m_begin(b, 'D');
	b_u8(b, 'P');
	b_str(b, portal);
	m_end(b, m);
}
static void fe_describe_stmt(struct buf *b, const char *stmt)
{
	size_t m = m_begin(b, 'D');
	b_u8(b, 'S');
	b_str(b, stmt);
	m_end(b, m);
}
static void fe_execute(struct buf *b, const char *portal, uint32_t maxrows)
{
	size_t m = m_begin(b, 'E');
	b_str(b, portal);
	b_be32(b, maxrows);
	m_end(b, m);
}
static void fe_sync(struct buf *b) { m_empty(b, 'S'); }
static void fe_copydata(struct buf *b, const char *row) { size_t m = m_begin(b, 'd'); b_put(b, row, strlen(row)); m_end(b, m); }
static void fe_copydone(struct buf *b) { m_empty(b, 'c'); }

/* backend */
static void be_auth(struct buf *b, uint32_t code) { size_t m = m_begin(b, 'R'); b_be32(b, code); m_end(b, m); }
static void be_param(struct buf *b, const char *k, const char *v) { size_t m = m_begin(b, 'S'); b_str(b, k); b_str(b, v); m_end(b, m); }
static void be_keydata(struct buf *b) { size_t m = m_begin(b, 'K'); b_be32(b, 4242); b_be32(b, 0xdeadbeef); m_end(b, m); }
static void be_ready(struct buf *b, char st) { size_t m = m_begin(b, 'Z'); b_u8(b, (uint8_t)st); m_end(b, m); }
static void be_rowdesc(struct buf *b)
{
	size_t m = m_begin(b, 'T');
	b_be16(b, 1);
	b_str(b, "n");
	b_be32(b, 0);
	b_be16(b, 0);
	b_be32(b, 23);
	b_be16(b, 4);
	b_be32(b, 0xffffffff);
	b_be16(b, 0);
	m_end(b, m);
}
static void be_datarow(struct buf *b, const char *v)
{
	size_t m = m_begin(b, 'D');
	b_be16(b, 1);
	b_be32(b, (uint32_t)strlen(v));
	b_put(b, v, strlen(v));
	m_end(b, m);
}
static void be_complete(struct buf *b, const char *tag) { size_t m = m_begin(b, 'C'); b_str(b, tag); m_end(b, m); }
static void be_error(struct buf *b, const char *state, const char *msg)
{
	size_t m = m_begin(b, 'E');
	b_u8(b, 'S'); b_str(b, "ERROR");
	b_u8(b, 'V'); b_str(b, "ERROR");
	b_u8(b, 'C'); b_str(b, state);
	b_u8(b, 'M'); b_str(b, msg);
	b_u8(b, 'F'); b_str(b, "parse_relation.c");
	b_u8(b, 'L'); b_str(b, "1392");
	b_u8(b, 'R'); b_str(b, "parserOpenTable");
	b_u8(b, 0);
	m_end(b, m);
}
static void be_notice(struct buf *b)
{
	size_t m = m_begin(b, 'N');
	b_u8(b, 'S'); b_str(b, "NOTICE");
	b_u8(b, 'C'); b_str(b, "00000");
	b_u8(b, 'M'); b_str(b, "just saying");
	b_u8(b, 0);
	m_end(b, m);
}
static void be_copy_response(struct buf *b, char type)
{
	size_t m = m_begin(b, type);
	b_u8(b, 0);
	b_be16(b, 1);
	b_be16(b, 0);
	m_end(b, m);
}

/* ------------------------------------------------------------ harness */

#define MAXQ 1024
struct gotq {
	char sql[JM_PG_SQL_MAX + 1];
	size_t sql_len;
	bool trunc, error, has_rows, rows_unknown;
	char state[6];
	uint64_t rows, start, end;
	int cmd;
};
struct got {
	int n;
	struct gotq q[MAXQ];
};

static void collect(void *ctx, const struct jm_query *q)
{
	struct got *g = ctx;
	if (g->n < MAXQ) {
		struct gotq *x = &g->q[g->n];
		memset(x, 0, sizeof(*x));
		x->sql_len = q->sql_len;
		memcpy(x->sql, q->sql, q->sql_len <= JM_PG_SQL_MAX ? q->sql_len : JM_PG_SQL_MAX);
		x->trunc = q->sql_truncated;
		x->error = q->error;
		x->has_rows = q->has_rows;
		x->rows_unknown = q->rows_unknown;
		memcpy(x->state, q->sqlstate, 6);
		x->rows = q->rows;
		x->start = q->start_ns;
		x->end = q->end_ns;
		x->cmd = q->cmd;
	}
	g->n++;
}

struct env {
	struct jm_pg_conn *c;
	struct got *g;
	struct jm_proto_stats st;
};

static void env_init(struct env *e)
{
	if (!e->c)
		e->c = malloc(sizeof(*e->c));
	if (!e->g)
		e->g = malloc(sizeof(*e->g));
	if (!e->c || !e->g) {
		printf("FAIL pg test: out of memory\n");
		exit(1);
	}
	jm_pg_init(e->c);
	e->g->n = 0;
	memset(&e->st, 0, sizeof(e->st));
}

static void env_free(struct env *e)
{
	free(e->c);
	free(e->g);
	e->c = NULL;
	e->g = NULL;
}

static void feed_frag(struct env *e, enum jm_dir dir, uint64_t ts, const uint8_t *p, size_t n,
		      size_t head, size_t tail)
{
	struct jm_fragment f;
	memset(&f, 0, sizeof(f));
	f.dir = dir;
	f.ts_ns = ts;
	f.total_len = (uint32_t)n;
	f.head = p;
	f.head_len = (uint32_t)(head < n ? head : n);
	f.tail_len = (uint32_t)(tail < n ? tail : n);
	f.tail = p + n - f.tail_len;
	jm_pg_feed(e->c, &f, collect, e->g, &e->st);
}

static void feed(struct env *e, enum jm_dir dir, uint64_t ts, const struct buf *b)
{
	feed_frag(e, dir, ts, b->d, b->n, b->n, 0);
}

/* Stream b as fragments of `chunk` bytes, each capturing only head+tail. */
static uint64_t feed_chunks(struct env *e, enum jm_dir dir, uint64_t ts, const struct buf *b,
			    size_t chunk, size_t head, size_t tail)
{
	uint64_t gaps = 0;
	for (size_t off = 0; off < b->n; off += chunk) {
		size_t n = b->n - off < chunk ? b->n - off : chunk;
		if (head + tail < n)
			gaps += n - head - tail;
		feed_frag(e, dir, ts, b->d + off, n, head, tail);
	}
	return gaps;
}

#define TX JM_DIR_TX
#define RX JM_DIR_RX

static bool sql_is(const struct gotq *q, const char *s)
{
	return q->sql_len == strlen(s) && memcmp(q->sql, s, q->sql_len) == 0;
}

/* ------------------------------------------------------------ tests */

static void test_startup_and_simple(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 };
	env_init(&e);

	fe_startup(&t, "etl", "warehouse");
	feed(&e, TX, 100, &t);
	t.n = 0;
	be_auth(&r, 0);
	be_param(&r, "server_version", "16.2");
	be_keydata(&r);
	be_ready(&r, 'I');
	feed(&e, RX, 110, &r);
	r.n = 0;
	CHECK_INT("pg startup: no query", e.g->n, 0);

	fe_query(&t, "SELECT * FROM t");
	feed(&e, TX, 1000, &t);
	t.n = 0;
	be_rowdesc(&r);
	be_datarow(&r, "1");
	be_datarow(&r, "2");
	be_datarow(&r, "3");
	be_complete(&r, "SELECT 3");
	be_ready(&r, 'I');
	feed(&e, RX, 1500, &r);
	r.n = 0;
	CHECK_INT("pg simple: one query", e.g->n, 1);
	CHECK("pg simple: sql", sql_is(&e.g->q[0], "SELECT * FROM t"));
	CHECK_INT("pg simple: rows from tag", e.g->q[0].rows, 3);
	CHECK("pg simple: has_rows", e.g->q[0].has_rows);
	CHECK_INT("pg simple: cmd", e.g->q[0].cmd, JM_SQL_SELECT);
	CHECK_INT("pg simple: start ts", e.g->q[0].start, 1000);
	CHECK_INT("pg simple: end ts", e.g->q[0].end, 1500);
	CHECK("pg simple: no error", !e.g->q[0].error && e.g->q[0].state[0] == 0);

	/* error */
	fe_query(&t, "select * from nope");
	feed(&e, TX, 2000, &t);
	t.n = 0;
	be_error(&r, "42P01", "relation \"nope\" does not exist");
	be_ready(&r, 'I');
	feed(&e, RX, 2100, &r);
	r.n = 0;
	CHECK_INT("pg error: one more query", e.g->n, 2);
	CHECK("pg error: error flag", e.g->q[1].error);
	CHECK_STR("pg error: sqlstate", e.g->q[1].state, "42P01");
	CHECK_INT("pg error: cmd from sql", e.g->q[1].cmd, JM_SQL_SELECT);
	CHECK("pg error: no rows", !e.g->q[1].has_rows);

	/* multi-statement: one query, rows summed, write tag wins */
	fe_query(&t, "BEGIN; INSERT INTO a SELECT 1; UPDATE b SET x=1; DELETE FROM c; COMMIT");
	feed(&e, TX, 3000, &t);
	t.n = 0;
	be_complete(&r, "BEGIN");
	be_complete(&r, "INSERT 0 5");
	be_notice(&r);
	be_complete(&r, "UPDATE 3");
	be_param(&r, "application_name", "x");
	be_complete(&r, "DELETE 2");
	be_complete(&r, "COMMIT");
	be_ready(&r, 'I');
	feed(&e, RX, 3300, &r);
	r.n = 0;
	CHECK_INT("pg multi: one query", e.g->n, 3);
	CHECK_INT("pg multi: rows summed", e.g->q[2].rows, 10);
	CHECK_INT("pg multi: cmd first write", e.g->q[2].cmd, JM_SQL_INSERT);

	/* empty query */
	fe_query(&t, "");
	feed(&e, TX, 4000, &t);
	t.n = 0;
	m_empty(&r, 'I');
	be_ready(&r, 'I');
	feed(&e, RX, 4001, &r);
	r.n = 0;
	CHECK_INT("pg empty query: reported", e.g->n, 4);
	CHECK("pg empty query: no rows, OTHER", !e.g->q[3].has_rows && e.g->q[3].cmd == JM_SQL_OTHER);

	/* CREATE TABLE AS reports "SELECT n" */
	fe_query(&t, "/* etl */ create unlogged table if not exists daily AS select * from raw");
	feed(&e, TX, 5000, &t);
	t.n = 0;
	be_complete(&r, "SELECT 7");
	be_ready(&r, 'I');
	feed(&e, RX, 5100, &r);
	r.n = 0;
	CHECK_INT("pg ctas: cmd", e.g->q[4].cmd, JM_SQL_CREATE_TABLE_AS);
	CHECK_INT("pg ctas: rows", e.g->q[4].rows, 7);

	/* WITH ... INSERT with the tag lost is classified from the text */
	fe_query(&t, "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x");
	feed(&e, TX, 6000, &t);
	t.n = 0;
	be_error(&r, "23505", "duplicate key");
	be_ready(&r, 'E');
	feed(&e, RX, 6100, &r);
	r.n = 0;
	CHECK_INT("pg with-insert error: cmd from text", e.g->q[5].cmd, JM_SQL_INSERT);
	CHECK_INT("pg no parse errors in clean session", e.st.parse_errors, 0);

	b_free(&t);
	b_free(&r);
	env_free(&e);
}

/* A CREATE TABLE without AS followed by a SELECT in one Query: the
 * "SELECT n" tag is the SELECT's, not a CREATE TABLE AS.  A CTAS cut before
 * its AS (truncated capture) is still one. */
static void test_create_then_select(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 };
	env_init(&e);

	fe_query(&t, "CREATE TABLE x (a int); SELECT * FROM big");
	feed(&e, TX, 100, &t);
	t.n = 0;
	be_complete(&r, "CREATE TABLE");
	be_complete(&r, "SELECT 5");
	be_ready(&r, 'I');
	feed(&e, RX, 200, &r);
	r.n = 0;
	CHECK("pg create; select: cmd SELECT, rows 5",
	      e.g->n == 1 && e.g->q[0].cmd == JM_SQL_SELECT && e.g->q[0].rows == 5);

	fe_query(&t, "create table x (a int); select a as b from big");
	feed(&e, TX, 300, &t);
	t.n = 0;
	be_complete(&r, "CREATE TABLE");
	be_complete(&r, "SELECT 2");
	be_ready(&r, 'I');
	feed(&e, RX, 400, &r);
	r.n = 0;
	CHECK("pg create; select .. as: cmd SELECT",
	      e.g->n == 2 && e.g->q[1].cmd == JM_SQL_SELECT && e.g->q[1].rows == 2);

	/* the text cut before AS: the tag still says CTAS */
	fe_query(&t, "CREATE TABLE daily (a, b)");
	feed_frag(&e, TX, 500, t.d, t.n, 5 + 20, 0);
	t.n = 0;
	be_complete(&r, "SELECT 3");
	be_ready(&r, 'I');
	feed(&e, RX, 600, &r);
	r.n = 0;
	CHECK("pg ctas cut before AS: still CREATE TABLE AS",
	      e.g->n == 3 && e.g->q[2].cmd == JM_SQL_CREATE_TABLE_AS);
	b_free(&t);
	b_free(&r);
	env_free(&e);
}

static void test_extended(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 };
	env_init(&e);

	/* one-shot P/B/D/E/S, responses in two fragments */
	fe_parse(&t, "", "SELECT id FROM users WHERE org = $1");
	fe_bind(&t, "", "", "42");
	fe_describe_portal(&t, "");
	fe_execute(&t, "", 0);
	fe_sync(&t);
	feed(&e, TX, 100, &t);
	t.n = 0;
	m_empty(&r, '1');
	m_empty(&r, '2');
	be_rowdesc(&r);
	be_datarow(&r, "1");
	be_datarow(&r, "2");
	be_complete(&r, "SELECT 2");
	feed(&e, RX, 150, &r);
	r.n = 0;
	CHECK_INT("pg ext: not reported before ReadyForQuery", e.g->n, 0);
	be_ready(&r, 'I');
	feed(&e, RX, 170, &r);
	r.n = 0;
	CHECK_INT("pg ext: one query", e.g->n, 1);
	CHECK("pg ext: sql from Parse", sql_is(&e.g->q[0], "SELECT id FROM users WHERE org = $1"));
	CHECK_INT("pg ext: rows", e.g->q[0].rows, 2);
	CHECK_INT("pg ext: start = Execute ts", e.g->q[0].start, 100);
	CHECK_INT("pg ext: end = ReadyForQuery ts", e.g->q[0].end, 170);

	/* prepare a named statement, then reuse it with B/E/S only */
	fe_parse(&t, "s1", "INSERT INTO t VALUES ($1)");
	fe_describe_stmt(&t, "s1");
	fe_sync(&t);
	feed(&e, TX, 200, &t);
	t.n = 0;
	m_empty(&r, '1');
	{ size_t m = m_begin(&r, 't'); b_be16(&r, 1); b_be32(&r, 23); m_end(&r, m); }
	m_empty(&r, 'n');
	be_ready(&r, 'I');
	feed(&e, RX, 210, &r);
	r.n = 0;
	CHECK_INT("pg prepare: no query for P/D/S", e.g->n, 1);
	/* another unnamed Parse must not disturb s1 */
	fe_parse(&t, "", "SELECT 1");
	fe_sync(&t);
	feed(&e, TX, 250, &t);
	t.n = 0;
	m_empty(&r, '1');
	be_ready(&r, 'I');
	feed(&e, RX, 260, &r);
	r.n = 0;
	for (int i = 0; i < 2; i++) {
		fe_bind(&t, "", "s1", "9");
		fe_execute(&t, "", 0);
		fe_sync(&t);
		feed(&e, TX, 300 + (uint64_t)i * 100, &t);
		t.n = 0;
		m_empty(&r, '2');
		be_complete(&r, "INSERT 0 1");
		be_ready(&r, 'I');
		feed(&e, RX, 350 + (uint64_t)i * 100, &r);
		r.n = 0;
	}
	CHECK_INT("pg prepared reuse: two queries", e.g->n, 3);
	CHECK("pg prepared reuse: sql 1", sql_is(&e.g->q[1], "INSERT INTO t VALUES ($1)"));
	CHECK("pg prepared reuse: sql 2", sql_is(&e.g->q[2], "INSERT INTO t VALUES ($1)"));
	CHECK_INT("pg prepared reuse: cmd", e.g->q[2].cmd, JM_SQL_INSERT);
	CHECK_INT("pg prepared reuse: rows", e.g->q[2].rows, 1);

	/* pipeline of 3 Executes, error in the 2nd: 2nd and 3rd fail */
	fe_parse(&t, "", "INSERT INTO a VALUES (1)");
	fe_bind(&t, "", "", NULL);
	fe_execute(&t, "", 0);
	fe_parse(&t, "", "INSERT INTO b VALUES (1)");
	fe_bind(&t, "", "", NULL);
	fe_execute(&t, "", 0);
	fe_parse(&t, "", "INSERT INTO c VALUES (1)");
	fe_bind(&t, "", "", NULL);
	fe_execute(&t, "", 0);
	fe_sync(&t);
	feed(&e, TX, 1000, &t);
	t.n = 0;
	m_empty(&r, '1');
	m_empty(&r, '2');
	be_complete(&r, "INSERT 0 1");
	m_empty(&r, '1');
	m_empty(&r, '2');
	be_error(&r, "23505", "duplicate key value violates unique constraint");
	feed(&e, RX, 1100, &r);
	r.n = 0;
	be_ready(&r, 'E');
	feed(&e, RX, 1200, &r);
	r.n = 0;
	CHECK_INT("pg pipeline: three queries", e.g->n, 6);
	CHECK("pg pipeline: 1st ok", !e.g->q[3].error && e.g->q[3].rows == 1 && sql_is(&e.g->q[3], "INSERT INTO a VALUES (1)"));
	CHECK("pg pipeline: 2nd error", e.g->q[4].error && !strcmp(e.g->q[4].state, "23505") &&
	      sql_is(&e.g->q[4], "INSERT INTO b VALUES (1)"));
	CHECK("pg pipeline: 3rd error (skipped to Sync)", e.g->q[5].error && !strcmp(e.g->q[5].state, "23505") &&
	      sql_is(&e.g->q[5], "INSERT INTO c VALUES (1)"));
	CHECK("pg pipeline: all end at ReadyForQuery",
	      e.g->q[3].end == 1200 && e.g->q[4].end == 1200 && e.g->q[5].end == 1200);

	/* the next batch after the error is clean again */
	fe_bind(&t, "", "s1", "1");
	fe_execute(&t, "", 0);
	fe_sync(&t);
	feed(&e, TX, 1300, &t);
	t.n = 0;
	m_empty(&r, '2');
	be_complete(&r, "INSERT 0 1");
	be_ready(&r, 'I');
	feed(&e, RX, 1400, &r);
	r.n = 0;
	CHECK("pg after error batch: clean", e.g->n == 7 && !e.g->q[6].error);

	/* Execute with a row limit: PortalSuspended, rows = DataRows */
	fe_parse(&t, "", "SELECT * FROM big");
	fe_bind(&t, "cur", "", NULL);
	fe_execute(&t, "cur", 2);
	fe_sync(&t);
	feed(&e, TX, 1500, &t);
	t.n = 0;
	m_empty(&r, '1');
	m_empty(&r, '2');
	be_datarow(&r, "a");
	be_datarow(&r, "b");
	m_empty(&r, 's');
	be_ready(&r, 'T');
	feed(&e, RX, 1600, &r);
	r.n = 0;
	CHECK("pg portal suspended: rows = DataRows, named portal sql",
	      e.g->n == 8 && e.g->q[7].rows == 2 && e.g->q[7].has_rows && sql_is(&e.g->q[7], "SELECT * FROM big"));

	/* Execute of a statement prepared before we watched: counted, no text */
	fe_bind(&t, "", "unknown_stmt", NULL);
	fe_execute(&t, "", 0);
	fe_sync(&t);
	feed(&e, TX, 1700, &t);
	t.n = 0;
	m_empty(&r, '2');
	be_complete(&r, "UPDATE 4");
	be_ready(&r, 'I');
	feed(&e, RX, 1800, &r);
	r.n = 0;
	CHECK("pg unknown statement: counted from tag", e.g->n == 9 && e.g->q[8].sql_len == 0 &&
	      e.g->q[8].cmd == JM_SQL_UPDATE && e.g->q[8].rows == 4);
	CHECK_INT("pg extended: no parse errors", e.st.parse_errors, 0);

	b_free(&t);
	b_free(&r);
	env_free(&e);
}

/* An error raised at Sync, after every Execute of the batch completed: the
 * implicit transaction's COMMIT failed (deferred constraint, serialization
 * failure), so the batch rolled back and its Executes failed. */
static void test_error_at_sync(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 };
	env_init(&e);

	/* one Execute, deferred FK checked at the implicit commit */
	fe_parse(&t, "", "INSERT INTO orders VALUES ($1)");
	fe_bind(&t, "", "", "1");
	fe_execute(&t, "", 0);
	fe_sync(&t);
	feed(&e, TX, 100, &t);
	t.n = 0;
	m_empty(&r, '1');
	m_empty(&r, '2');
	be_complete(&r, "INSERT 0 1");
	be_error(&r, "23503", "insert or update on table violates foreign key constraint");
	be_ready(&r, 'I');
	feed(&e, RX, 200, &r);
	r.n = 0;
	CHECK_INT("pg error at sync: one query", e.g->n, 1);
	CHECK("pg error at sync: the Execute failed with the commit's SQLSTATE",
	      e.g->q[0].error && !strcmp(e.g->q[0].state, "23503"));
	/* as the simple protocol reports the same answer: the tag's rows */
	CHECK("pg error at sync: rows of the tag, end at ReadyForQuery",
	      e.g->q[0].rows == 1 && e.g->q[0].has_rows && e.g->q[0].cmd == JM_SQL_INSERT &&
	      e.g->q[0].start == 100 && e.g->q[0].end == 200);

	/* two Executes, serialization failure at commit: both failed */
	fe_parse(&t, "", "UPDATE a SET x = 1");
	fe_bind(&t, "", "", NULL);
	fe_execute(&t, "", 0);
	fe_parse(&t, "", "UPDATE b SET x = 1");
	fe_bind(&t, "", "", NULL);
	fe_execute(&t, "", 0);
	fe_sync(&t);
	feed(&e, TX, 300, &t);
	t.n = 0;
	m_empty(&r, '1');
	m_empty(&r, '2');
	be_complete(&r, "UPDATE 2");
	m_empty(&r, '1');
	m_empty(&r, '2');
	be_complete(&r, "UPDATE 3");
	be_error(&r, "40001", "could not serialize access");
	be_ready(&r, 'I');
	feed(&e, RX, 400, &r);
	r.n = 0;
	CHECK_INT("pg error at sync, two Executes: reported", e.g->n, 3);
	CHECK("pg error at sync, two Executes: both failed",
	      e.g->q[1].error && !strcmp(e.g->q[1].state, "40001") &&
	      e.g->q[2].error && !strcmp(e.g->q[2].state, "40001"));

	/* the next batch is clean; a Parse error in a batch without Execute
	 * is nobody's query */
	fe_parse(&t, "", "SELEC 1");
	fe_sync(&t);
	fe_parse(&t, "", "SELECT 1");
	fe_bind(&t, "", "", NULL);
	fe_execute(&t, "", 0);
	fe_sync(&t);
	feed(&e, TX, 500, &t);
	t.n = 0;
	be_error(&r, "42601", "syntax error");
	be_ready(&r, 'I');
	m_empty(&r, '1');
	m_empty(&r, '2');
	be_complete(&r, "SELECT 1");
	be_ready(&r, 'I');
	feed(&e, RX, 600, &r);
	r.n = 0;
	CHECK("pg error at sync: next batch clean, Parse error alone not a query",
	      e.g->n == 4 && !e.g->q[3].error && e.g->q[3].rows == 1);

	/* the batch fills the ring, its Sync spills into the overflow runs */
	fe_parse(&t, "ins", "INSERT INTO t VALUES ($1)");
	for (int i = 0; i < JM_PG_PENDING_MAX; i++) {
		fe_bind(&t, "", "ins", "1");
		fe_execute(&t, "", 0);
	}
	fe_sync(&t);
	feed(&e, TX, 700, &t);
	t.n = 0;
	m_empty(&r, '1');
	for (int i = 0; i < JM_PG_PENDING_MAX; i++) {
		m_empty(&r, '2');
		be_complete(&r, "INSERT 0 1");
	}
	be_error(&r, "23503", "deferred");
	be_ready(&r, 'I');
	feed(&e, RX, 800, &r);
	r.n = 0;
	int failed = 0;
	for (int i = 4; i < e.g->n && i < MAXQ; i++)
		failed += e.g->q[i].error && !strcmp(e.g->q[i].state, "23503");
	CHECK_INT("pg error at sync, Sync in the overflow: reported", e.g->n, 4 + JM_PG_PENDING_MAX);
	CHECK_INT("pg error at sync, Sync in the overflow: all failed", failed, JM_PG_PENDING_MAX);
	CHECK_INT("pg error at sync: no parse errors", e.st.parse_errors, 0);

	b_free(&t);
	b_free(&r);
	env_free(&e);
}

/* Deep pipeline (executemany in pipeline mode): more Executes than the
 * pending ring holds, all matched. */
static void test_deep_pipeline(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 };
	env_init(&e);
	enum { N = 300 };
	char tag[32];

	fe_parse(&t, "ins", "INSERT INTO t VALUES ($1)");
	for (int i = 0; i < N; i++) {
		fe_bind(&t, "", "ins", "1");
		fe_execute(&t, "", 0);
		if (i == N - 1 || i % 100 == 99)
			fe_sync(&t);
	}
	feed(&e, TX, 10, &t);
	m_empty(&r, '1');
	for (int i = 0; i < N; i++) {
		m_empty(&r, '2');
		if (i == 250) {
			be_error(&r, "22P02", "invalid input");
			be_ready(&r, 'E');
			i = 299; /* server skips to the Sync after #299 */
			break;
		}
		snprintf(tag, sizeof(tag), "INSERT 0 %d", i % 3);
		be_complete(&r, tag);
		if (i % 100 == 99)
			be_ready(&r, 'I');
	}
	feed(&e, RX, 20, &r);
	CHECK_INT("pg deep pipeline: every Execute reported", e.g->n, N);
	int errors = 0, sqlok = 1;
	uint64_t rows = 0;
	for (int i = 0; i < e.g->n && i < MAXQ; i++) {
		errors += e.g->q[i].error;
		rows += e.g->q[i].rows;
		if (!sql_is(&e.g->q[i], "INSERT INTO t VALUES ($1)"))
			sqlok = 0;
	}
	uint64_t want = 0;
	for (int i = 0; i < 250; i++)
		want += (uint64_t)(i % 3);
	CHECK_INT("pg deep pipeline: errors = rest of failed batch", errors, 50);
	CHECK_INT("pg deep pipeline: rows", rows, want);
	CHECK("pg deep pipeline: sql kept", sqlok);
	CHECK("pg deep pipeline: 100th ok, 251st error",
	      !e.g->q[99].error && e.g->q[250].error && !strcmp(e.g->q[250].state, "22P02"));

	/* and the connection is back to normal afterwards */
	t.n = r.n = 0;
	fe_query(&t, "SELECT 1");
	feed(&e, TX, 30, &t);
	be_complete(&r, "SELECT 1");
	be_ready(&r, 'I');
	feed(&e, RX, 40, &r);
	CHECK("pg deep pipeline: next query clean", e.g->n == N + 1 && sql_is(&e.g->q[N], "SELECT 1") &&
	      e.g->q[N].start == 30 && e.g->q[N].end == 40);
	CHECK_INT("pg deep pipeline: no parse errors", e.st.parse_errors, 0);
	b_free(&t);
	b_free(&r);
	env_free(&e);
}

/* Pipelined Execute/Sync pairs beyond what the ring and the overflow runs
 * hold: requests are dropped (parse errors), and an ErrorResponse to one of
 * them has no query to go to; it is still counted (unmatched_errors), once. */
static void test_overflow_exhausted_error(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 };
	enum { N = 300 };
	env_init(&e);

	fe_parse(&t, "s", "INSERT INTO t VALUES ($1)");
	fe_sync(&t);
	for (int i = 0; i < N; i++) {
		fe_bind(&t, "", "s", "1");
		fe_execute(&t, "", 0);
		fe_sync(&t);
	}
	feed(&e, TX, 1, &t);
	CHECK("pg overflow exhausted: drops counted as parse errors", e.st.parse_errors > 0);
	m_empty(&r, '1');
	be_ready(&r, 'I');
	for (int i = 0; i < N; i++) {
		m_empty(&r, '2');
		if (i == N - 1)
			be_error(&r, "23505", "dup");
		else
			be_complete(&r, "INSERT 0 1");
		be_ready(&r, 'I');
	}
	feed(&e, RX, 2, &r);
	int errors = 0;
	for (int i = 0; i < e.g->n && i < MAXQ; i++)
		errors += e.g->q[i].error;
	CHECK_INT("pg overflow exhausted: the last request's error counted once",
		  (long long)errors + (long long)e.st.unmatched_errors, 1);

	/* an error that is nobody's query (a Parse error in a batch without
	 * Execute) on a connection that dropped nothing: the job saw it fail,
	 * so it counts as an error no query carries */
	env_init(&e);
	t.n = r.n = 0;
	fe_parse(&t, "", "SELEC 1");
	fe_sync(&t);
	feed(&e, TX, 3, &t);
	be_error(&r, "42601", "syntax error");
	be_ready(&r, 'I');
	feed(&e, RX, 4, &r);
	CHECK("pg orphan error without drops: an error no query carries",
	      e.g->n == 0 && e.st.unmatched_errors == 1 && e.st.parse_errors == 0);

	/* a refused connection: the startup's FATAL is such an error too */
	env_init(&e);
	t.n = r.n = 0;
	fe_startup(&t, "etl", "nosuchdb");
	feed(&e, TX, 5, &t);
	be_error(&r, "3D000", "database does not exist");
	feed(&e, RX, 6, &r);
	CHECK("pg refused connection: an error no query carries",
	      e.g->n == 0 && e.st.unmatched_errors == 1 && e.st.parse_errors == 0);
	b_free(&t);
	b_free(&r);
	env_free(&e);
}

static void test_copy(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 }, data = { 0 };
	char row[64];
	env_init(&e);

	for (int i = 0; i < 10000; i++) {
		snprintf(row, sizeof(row), "%d\tname-%d\t2024-01-%02d\n", i, i, i % 28 + 1);
		fe_copydata(&data, row);
	}
	fe_copydone(&data);

	for (int mode = 0; mode < 2; mode++) {
		env_init(&e);
		fe_query(&t, "COPY events (id, name, day) FROM STDIN");
		feed(&e, TX, 100, &t);
		t.n = 0;
		be_copy_response(&r, 'G');
		feed(&e, RX, 110, &r);
		r.n = 0;
		/* whole 1000-byte writes, or 4 KiB writes captured head 256 + tail 128 */
		if (mode == 0)
			feed_chunks(&e, TX, 120, &data, 1000, 1000, 0);
		else
			feed_chunks(&e, TX, 120, &data, 4096, 256, 128);
		be_complete(&r, "COPY 10000");
		be_ready(&r, 'I');
		feed(&e, RX, 900, &r);
		r.n = 0;
		const char *m = mode ? "pg copy from (gaps)" : "pg copy from (whole)";
		char name[96];
		snprintf(name, sizeof(name), "%s: one query", m);
		CHECK_INT(name, e.g->n, 1);
		snprintf(name, sizeof(name), "%s: rows 10000", m);
		CHECK_INT(name, e.g->q[0].rows, 10000);
		snprintf(name, sizeof(name), "%s: cmd COPY_FROM", m);
		CHECK_INT(name, e.g->q[0].cmd, JM_SQL_COPY_FROM);
		snprintf(name, sizeof(name), "%s: latency covers the upload", m);
		CHECK(name, e.g->q[0].start == 100 && e.g->q[0].end == 900);
		if (mode == 1)
			CHECK("pg copy from (gaps): TX still lost after the COPY's ReadyForQuery",
			      e.c->tx.lost && e.st.resyncs == 0);
		/* a later query on the same connection still parses: with gaps,
		 * TX regains sync at its send, the first after the COPY's
		 * ReadyForQuery */
		fe_query(&t, "SELECT 2");
		feed(&e, TX, 1000, &t);
		t.n = 0;
		be_complete(&r, "SELECT 1");
		be_ready(&r, 'I');
		feed(&e, RX, 1100, &r);
		r.n = 0;
		snprintf(name, sizeof(name), "%s: next query ok", m);
		CHECK(name, e.g->n == 2 && sql_is(&e.g->q[1], "SELECT 2"));
		snprintf(name, sizeof(name), "%s: no parse errors", m);
		CHECK_INT(name, e.st.parse_errors, 0);
		if (mode == 1)
			CHECK_INT("pg copy from (gaps): TX regained sync at the next request", e.st.resyncs, 1);
	}

	/* COPY TO STDOUT */
	env_init(&e);
	fe_query(&t, "COPY (SELECT * FROM events) TO STDOUT");
	feed(&e, TX, 100, &t);
	t.n = 0;
	be_copy_response(&r, 'H');
	for (int i = 0; i < 50; i++) {
		size_t m = m_begin(&r, 'd');
		b_put(&r, "x\ty\n", 4);
		m_end(&r, m);
	}
	m_empty(&r, 'c');
	be_complete(&r, "COPY 50");
	be_ready(&r, 'I');
	feed(&e, RX, 200, &r);
	r.n = 0;
	CHECK("pg copy to: rows and cmd", e.g->n == 1 && e.g->q[0].rows == 50 && e.g->q[0].cmd == JM_SQL_COPY_TO);

	/* direction comes from the CopyIn/CopyOut response, not the text (here
	 * the statement was prepared before we watched: no text at all) */
	for (int dir = 0; dir < 2; dir++) {
		env_init(&e);
		t.n = r.n = 0;
		fe_bind(&t, "", "old_stmt", NULL);
		fe_execute(&t, "", 0);
		fe_sync(&t);
		feed(&e, TX, 1, &t);
		m_empty(&r, '2');
		be_copy_response(&r, dir ? 'H' : 'G');
		feed(&e, RX, 2, &r);
		t.n = r.n = 0;
		if (!dir) {
			fe_copydata(&t, "1\n");
			fe_copydone(&t);
			fe_sync(&t);
			feed(&e, TX, 3, &t);
		} else {
			be_copy_response(&r, 'd');
			m_empty(&r, 'c');
		}
		be_complete(&r, "COPY 1");
		be_ready(&r, 'I');
		feed(&e, RX, 4, &r);
		CHECK(dir ? "pg copy direction from CopyOutResponse" : "pg copy direction from CopyInResponse",
		      e.g->n == 1 && e.g->q[0].cmd == (dir ? JM_SQL_COPY_TO : JM_SQL_COPY_FROM));
		/* the batch's own Sync went into copy-in mode and was ignored by
		 * the server: the next batch must still match its responses */
		t.n = r.n = 0;
		fe_parse(&t, "", "SELECT 5");
		fe_bind(&t, "", "", NULL);
		fe_execute(&t, "", 0);
		fe_sync(&t);
		feed(&e, TX, 5, &t);
		m_empty(&r, '1');
		m_empty(&r, '2');
		be_complete(&r, "SELECT 5");
		be_ready(&r, 'I');
		feed(&e, RX, 6, &r);
		CHECK(dir ? "pg after extended COPY TO: next batch matched" : "pg after extended COPY FROM: next batch matched",
		      e.g->n == 2 && e.g->q[1].rows == 5 && e.g->q[1].end == 6 && sql_is(&e.g->q[1], "SELECT 5"));
	}

	b_free(&t);
	b_free(&r);
	b_free(&data);
	env_free(&e);
}

/* Row data must never become SQL (privacy review): a binary COPY FROM
 * STDIN, sent as libpq does in 8192-byte writes, one bytea value holding
 * "Q" + a length + text exactly where the second write starts.  The first
 * write has CopyData headers in its uncaptured middle, so TX loses sync;
 * the second write starts inside a row.  Built like the reviewer's
 * rawcopy.py. */
#define PLANT_TEXT "customer Jane Doe card 4111111111111111 passphrase CorrectHorseBatteryStaple address 12 Privet Drive "
#define CAP_HEAD 512
#define CAP_TAIL 256

/* The COPY stream (two CopyData rows, CopyDone).  plant_at: stream offset
 * of the planted Query header; qlen: its length field (4000: the
 * reviewer's, whose terminator would fall in the captured tail, so the
 * Query checks alone refuse it; 2000: its end lies in the uncaptured middle
 * and it passes every plausibility check: only the anchor stops it);
 * sync_end: also plant a Sync that ends just before it (so a write boundary
 * there also "ends with Sync"). */
static void planted_copy(struct buf *b, size_t plant_at, uint32_t qlen, bool sync_end)
{
	static const uint8_t sig[11] = { 'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0 };
	struct buf row = { 0 };
	size_t m;

	b->n = 0;
	m = m_begin(b, 'd');                         /* header + row 1: 3990 bytes of 'z' */
	b_put(b, sig, sizeof(sig));
	b_be32(b, 0);
	b_be32(b, 0);
	b_be16(b, 2);
	b_be32(b, 4);
	b_be32(b, 1);
	b_be32(b, 3990);
	for (int i = 0; i < 3990; i++)
		b_u8(b, 'z');
	m_end(b, m);
	m = m_begin(b, 'd');                         /* row 2: the planted bytea */
	b_be16(b, 2);
	b_be32(b, 4);
	b_be32(b, 2);
	size_t lenat = b->n;
	b_be32(b, 0);
	while (b->n < plant_at - (sync_end ? 5 : 0))
		b_u8(b, 'w');
	if (sync_end)
		b_put(b, "S\0\0\0\4", 5);
	b_u8(b, 'Q');                                /* the "Query" */
	b_be32(b, qlen);
	for (int i = 0; i < 40; i++)
		b_put(&row, PLANT_TEXT, strlen(PLANT_TEXT));
	b_put(b, row.d, row.n);
	uint32_t vlen = (uint32_t)(b->n - lenat - 4);
	b->d[lenat] = (uint8_t)(vlen >> 24);
	b->d[lenat + 1] = (uint8_t)(vlen >> 16);
	b->d[lenat + 2] = (uint8_t)(vlen >> 8);
	b->d[lenat + 3] = (uint8_t)vlen;
	b_be16(b, 0xffff);                           /* file trailer */
	m_end(b, m);
	fe_copydone(b);
	b_free(&row);
}

/* Nothing of the planted row anywhere: not in a reported query, not left
 * in the parser's state. */
static bool planted_absent(const struct env *e)
{
	for (int i = 0; i < e->g->n && i < MAXQ; i++)
		if (memmem(e->g->q[i].sql, e->g->q[i].sql_len, "Jane Doe", 8) ||
		    memmem(e->g->q[i].sql, e->g->q[i].sql_len, "CorrectHorse", 12) ||
		    memmem(e->g->q[i].sql, e->g->q[i].sql_len, "customer", 8))
			return false;
	return memmem(e->c, sizeof(*e->c), "CorrectHorse", 12) == NULL &&
	       memmem(e->c, sizeof(*e->c), "Jane Doe", 8) == NULL;
}

/* Write [off, off + n) of the stream as one send (split at k into two
 * syscalls when 0 < k < n), each captured head + tail. */
static void send_part(struct env *e, uint64_t ts, const struct buf *b, size_t off, size_t n, size_t k)
{
	if (k > 0 && k < n) {
		feed_frag(e, TX, ts, b->d + off, k, CAP_HEAD, CAP_TAIL);
		feed_frag(e, TX, ts, b->d + off + k, n - k, CAP_HEAD, CAP_TAIL);
	} else {
		feed_frag(e, TX, ts, b->d + off, n, CAP_HEAD, CAP_TAIL);
	}
}

static void copy_start(struct env *e, struct buf *t, struct buf *r)
{
	t->n = r->n = 0;
	fe_query(t, "COPY privb FROM STDIN WITH (FORMAT binary)");
	feed(e, TX, 100, t);
	be_copy_response(r, 'G');
	feed(e, RX, 110, r);
}

/* a query and its answer; returns whether it was reported right */
static bool query_reported(struct env *e, uint64_t ts, const char *sql, const char *tag, uint64_t rows)
{
	struct buf t = { 0 }, r = { 0 };
	int before = e->g->n;

	fe_query(&t, sql);
	feed(e, TX, ts, &t);
	be_rowdesc(&r);
	be_datarow(&r, "2");
	be_complete(&r, tag);
	be_ready(&r, 'I');
	feed(e, RX, ts + 5, &r);
	bool ok = e->g->n == before + 1 && sql_is(&e->g->q[before], sql) && e->g->q[before].rows == rows &&
		  !e->g->q[before].error && e->g->q[before].start == ts;
	b_free(&t);
	b_free(&r);
	return ok;
}

static void test_copy_row_never_sql(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 }, data = { 0 };
	int leaks = 0, wrong = 0, runs = 0;

	/* 1. The reviewer's case and the plausible plant, each with every
	 *    split of each write into two syscalls (k = 0: one write each). */
	for (int v = 0; v < 2; v++)
	for (size_t k = 0; k < 8192; k += (k < 600 ? 1 : 61)) {
		planted_copy(&data, 8192, v ? 2000 : 4000, false);
		env_init(&e);
		copy_start(&e, &t, &r);
		send_part(&e, 120, &data, 0, 8192, k);
		send_part(&e, 130, &data, 8192, data.n - 8192, k);
		r.n = 0;
		be_complete(&r, "COPY 2");
		be_ready(&r, 'I');
		feed(&e, RX, 140, &r);
		bool ok = e.g->n == 1 && e.g->q[0].rows == 2 && e.g->q[0].cmd == JM_SQL_COPY_FROM &&
			  e.g->q[0].start == 100 && e.g->q[0].end == 140 && !e.g->q[0].error;
		ok = ok && query_reported(&e, 200, "SELECT count(*) FROM privb", "SELECT 1", 1);
		jm_pg_close(e.c, 300, collect, e.g);
		leaks += !planted_absent(&e);
		wrong += !ok || e.g->n != 2;
		runs++;
	}
	CHECK_INT("pg planted Query header in COPY data: never reported as SQL", leaks, 0);
	CHECK_INT("pg planted Query header in COPY data: the COPY and the next query exact", wrong, 0);
	CHECK("pg planted Query header in COPY data: splits tried", runs > 1400);

	/* the same stream captured whole: in sync throughout, the bytes are
	 * CopyData, no parse error */
	env_init(&e);
	copy_start(&e, &t, &r);
	feed(&e, TX, 120, &data);
	r.n = 0;
	be_complete(&r, "COPY 2");
	be_ready(&r, 'I');
	feed(&e, RX, 140, &r);
	CHECK("pg planted header, whole capture: COPY exact, nothing planted, no loss",
	      e.g->n == 1 && e.g->q[0].rows == 2 && planted_absent(&e) && e.st.parse_errors == 0 &&
	      !e.c->tx.lost);

	/* 2. A Sync planted at the end of the first write as well: a write
	 *    that ends with "S\0\0\0\4" no longer resyncs TX. */
	planted_copy(&data, 8192, 2000, true);
	env_init(&e);
	copy_start(&e, &t, &r);
	send_part(&e, 120, &data, 0, 8192, 0);
	send_part(&e, 130, &data, 8192, data.n - 8192, 0);
	CHECK("pg planted Sync + Query: TX stays lost during the COPY", e.c->tx.lost && e.st.resyncs == 0);
	r.n = 0;
	be_complete(&r, "COPY 2");
	be_ready(&r, 'I');
	feed(&e, RX, 140, &r);
	CHECK("pg planted Sync + Query: next query exact",
	      query_reported(&e, 200, "SELECT 1", "SELECT 1", 1) && e.g->n == 2);
	jm_pg_close(e.c, 300, collect, e.g);
	CHECK("pg planted Sync + Query: never reported as SQL", planted_absent(&e));

	/* 3. The COPY fails while the client is still sending (a bad row):
	 *    ErrorResponse + ReadyForQuery arrive between its writes.  That
	 *    ReadyForQuery is no anchor: the writes after it are still row
	 *    data, and the next request too goes by before an anchor. */
	planted_copy(&data, 8192, 2000, false);
	env_init(&e);
	copy_start(&e, &t, &r);
	send_part(&e, 120, &data, 0, 8192, 0);
	r.n = 0;
	be_error(&r, "22P04", "row field count is 2, expected 3");
	be_ready(&r, 'I');
	feed(&e, RX, 125, &r);
	send_part(&e, 130, &data, 8192, data.n - 8192, 0);
	CHECK("pg COPY error mid-stream: the COPY failed, planted bytes not taken",
	      e.g->n == 1 && e.g->q[0].error && !strcmp(e.g->q[0].state, "22P04") && e.c->tx.lost &&
	      planted_absent(&e));
	CHECK_INT("pg COPY error mid-stream: no resync on row data", e.st.resyncs, 0);
	t.n = r.n = 0;
	fe_query(&t, "SELECT 1");                /* unanchored: skipped */
	feed(&e, TX, 150, &t);
	be_complete(&r, "SELECT 1");
	be_ready(&r, 'I');
	feed(&e, RX, 155, &r);
	CHECK("pg COPY error mid-stream: then a query reported",
	      query_reported(&e, 200, "SELECT 2", "SELECT 1", 1) && e.g->n == 2);
	jm_pg_close(e.c, 300, collect, e.g);
	CHECK("pg COPY error mid-stream: never reported as SQL", planted_absent(&e));

	/* 4. Watching starts mid-COPY (an agent restart): the first write
	 *    seen is the planted one.  It is not framed exactly, so TX
	 *    starts lost. */
	env_init(&e);
	send_part(&e, 130, &data, 8192, data.n - 8192, 0);
	r.n = 0;
	be_complete(&r, "COPY 2");
	be_ready(&r, 'I');
	feed(&e, RX, 140, &r);
	CHECK("pg first seen mid-COPY: TX starts lost, nothing reported",
	      e.g->n == 0 && e.st.resyncs == 0 && planted_absent(&e));
	CHECK("pg first seen mid-COPY: next query exact",
	      query_reported(&e, 200, "SELECT 1", "SELECT 1", 1) && e.g->n == 1);
	env_init(&e);                              /* captured as tail only */
	feed_frag(&e, TX, 130, data.d + 8192, data.n - 8192, 0, data.n - 8192);
	CHECK("pg first seen mid-COPY, tail-only capture: TX starts lost", e.c->tx.lost && planted_absent(&e));

	/* 5. A ReadyForQuery planted in result rows where a read ends.  TX
	 *    is lost (an extended request with a 2000-byte parameter: the
	 *    Execute header is in the uncaptured middle); RX resyncs on the
	 *    fake ReadyForQuery, but what follows voids the anchor before the
	 *    planted write: rows parsed in sync (mid = 0), or, the read having
	 *    ended inside the value, bytes that lose RX sync again (mid = 1). */
	for (int mid = 0; mid < 2; mid++) {
		char param[2001];
		struct buf rr = { 0 };
		memset(param, 'k', 2000);
		param[2000] = 0;
		env_init(&e);
		CHECK("pg planted ReadyForQuery in rows: in sync before",
		      query_reported(&e, 50, "SELECT 0", "SELECT 1", 1));
		t.n = 0;
		fe_parse(&t, "", "SELECT v FROM privb WHERE k = $1");
		fe_bind(&t, "", "", param);
		fe_execute(&t, "", 0);
		fe_bind(&t, "", "", param);
		fe_execute(&t, "", 0);
		fe_sync(&t);
		feed_frag(&e, TX, 100, t.d, t.n, CAP_HEAD, CAP_TAIL);
		m_empty(&rr, '1');
		m_empty(&rr, '2');
		for (int i = 0; i < 1000; i++)
			be_datarow(&rr, "0123456789abcdef");
		size_t m = m_begin(&rr, 'D');
		b_be16(&rr, 1);
		b_be32(&rr, mid ? 24 : 12);
		b_put(&rr, "aaaaaaZ\0\0\0\5I", 12);
		size_t cut = rr.n;
		if (mid)
			b_put(&rr, "bbbbbbbbbbbb", 12);
		m_end(&rr, m);
		for (int i = 0; i < 5; i++)
			be_datarow(&rr, "0123456789abcdef");
		size_t cut2 = rr.n;          /* a small read */
		for (int i = 0; i < 1000; i++)
			be_datarow(&rr, "0123456789abcdef");
		be_complete(&rr, "SELECT 2001");
		be_ready(&rr, 'I');
		CHECK("pg planted ReadyForQuery in rows: TX lost by the request", e.c->tx.lost);
		feed_frag(&e, RX, 110, rr.d, cut, CAP_HEAD, CAP_TAIL);        /* ends at the fake Z */
		CHECK("pg planted ReadyForQuery in rows: RX took it (anchor)", !e.c->rx.lost && e.c->tx_anchor);
		feed_frag(&e, RX, 111, rr.d + cut, cut2 - cut, CAP_HEAD, CAP_TAIL); /* more rows */
		CHECK(mid ? "pg planted ReadyForQuery inside a value: RX lost again, anchor void" :
			    "pg planted ReadyForQuery in rows: the rows after it parsed in sync, anchor void",
		      e.c->rx.lost == mid && !e.c->tx_anchor);
		send_part(&e, 112, &data, 8192, data.n - 8192, 0);           /* planted Query */
		feed_frag(&e, RX, 113, rr.d + cut2, rr.n - cut2, CAP_HEAD, CAP_TAIL);
		CHECK("pg planted ReadyForQuery in rows: rows after it void the anchor, no SQL from row data",
		      planted_absent(&e) && e.g->n == 1 && e.c->tx.lost && e.st.parse_errors == (uint64_t)mid);
		CHECK("pg planted ReadyForQuery in rows: next query exact",
		      query_reported(&e, 200, "SELECT 1", "SELECT 1", 1) && e.g->n == 2);
		jm_pg_close(e.c, 300, collect, e.g);
		CHECK("pg planted ReadyForQuery in rows: never reported as SQL", planted_absent(&e));
		b_free(&rr);
	}

	/* 7. A Query sent, then (without waiting) a batch whose last Bind
	 *    value runs into the next write, planted at its start.  The
	 *    Query's ReadyForQuery arrives between the writes: it answers a
	 *    request queued before TX was lost, so it is no anchor.  The
	 *    ReadyForQuery of the batch is. */
	{
		struct buf w = { 0 };
		char pad[1001];
		memset(pad, 'p', 1000);
		pad[1000] = 0;
		env_init(&e);
		CHECK("pg pipelined batch: in sync before", query_reported(&e, 50, "SELECT 0", "SELECT 1", 1));
		fe_query(&w, "SELECT 1");
		fe_parse(&w, "", "INSERT INTO privb VALUES ($1)");
		fe_bind(&w, "", "", pad);             /* its Execute header falls in the gap */
		fe_execute(&w, "", 0);
		fe_sync(&w);
		size_t m = m_begin(&w, 'B');
		b_str(&w, "");
		b_str(&w, "");
		b_be16(&w, 0);
		b_be16(&w, 1);
		size_t vl = w.n;
		b_be32(&w, 0);
		while (w.n < 8192)
			b_u8(&w, 'w');
		b_u8(&w, 'Q');
		b_be32(&w, 2000);
		for (int i = 0; i < 30; i++)
			b_put(&w, PLANT_TEXT, strlen(PLANT_TEXT));
		uint32_t pl = (uint32_t)(w.n - vl - 4);
		w.d[vl] = (uint8_t)(pl >> 24);
		w.d[vl + 1] = (uint8_t)(pl >> 16);
		w.d[vl + 2] = (uint8_t)(pl >> 8);
		w.d[vl + 3] = (uint8_t)pl;
		b_be16(&w, 0);
		m_end(&w, m);
		fe_execute(&w, "", 0);
		fe_sync(&w);
		send_part(&e, 100, &w, 0, 8192, 0);
		CHECK("pg pipelined batch: TX lost, the Query queued before", e.c->tx.lost && e.c->q_len == 1);
		r.n = 0;
		be_complete(&r, "SELECT 1");
		be_ready(&r, 'I');
		feed(&e, RX, 110, &r);
		send_part(&e, 120, &w, 8192, w.n - 8192, 0);
		CHECK("pg pipelined batch: the Query's ReadyForQuery is no anchor",
		      e.g->n == 2 && e.c->tx.lost && planted_absent(&e) && e.st.resyncs == 0);
		r.n = 0;
		m_empty(&r, '1');
		m_empty(&r, '2');
		be_complete(&r, "INSERT 0 1");
		m_empty(&r, '2');
		be_complete(&r, "INSERT 0 1");
		be_ready(&r, 'I');
		feed(&e, RX, 130, &r);
		CHECK("pg pipelined batch: the batch's ReadyForQuery is; next query exact",
		      query_reported(&e, 200, "SELECT 2", "SELECT 1", 1) && e.g->n == 3 && planted_absent(&e));

		/* The residual (postgres.h): the same, without the Query, so the
		 * first batch's Sync was never queued and its ReadyForQuery
		 * anchors.  The reviewer's plant is still refused by the Query
		 * checks (its terminator falls in the captured tail), counted. */
		env_init(&e);
		CHECK("pg residual: in sync before", query_reported(&e, 50, "SELECT 0", "SELECT 1", 1));
		size_t q0 = 14;                      /* drop the Query, keep offsets */
		struct buf w2 = { 0 };
		b_put(&w2, w.d + q0, w.n - q0);
		w2.d[8192 - q0 + 1] = 0;             /* re-plant the reviewer's Query at the new boundary */
		w2.d[8192 - q0 + 0] = 'Q';
		w2.d[8192 - q0 + 2] = 0;
		w2.d[8192 - q0 + 3] = 0x0f;
		w2.d[8192 - q0 + 4] = 0xa0;
		send_part(&e, 100, &w2, 0, 8192 - q0, 0);
		r.n = 0;
		m_empty(&r, '1');
		m_empty(&r, '2');
		be_complete(&r, "INSERT 0 1");
		be_ready(&r, 'I');
		feed(&e, RX, 110, &r);
		CHECK("pg residual: anchored", e.c->tx.lost && e.c->tx_anchor);
		send_part(&e, 120, &w2, 8192 - q0, w2.n - 8192 + q0, 0);
		CHECK("pg residual: the reviewer's plant refused by the Query checks, counted",
		      e.c->tx.lost && planted_absent(&e) && e.st.parse_errors == 1);
		/* one try per anchor: a later write (a plausible plant) is not one */
		planted_copy(&data, 8192, 2000, false);
		send_part(&e, 130, &data, 8192, data.n - 8192, 0);
		CHECK("pg residual: one try per anchor", e.c->tx.lost && planted_absent(&e) && e.st.resyncs == 0);
		b_free(&w);
		b_free(&w2);
	}

	/* 6. A pipelining client (a second Query sent before the first one's
	 *    ReadyForQuery): the ReadyForQuery that answers a request queued
	 *    before TX was lost is no anchor. */
	env_init(&e);
	t.n = 0;
	fe_query(&t, "SELECT 1");
	fe_query(&t, "COPY privb FROM STDIN WITH (FORMAT binary)");
	feed(&e, TX, 100, &t);
	r.n = 0;
	be_complete(&r, "SELECT 1");
	be_ready(&r, 'I');
	feed(&e, RX, 105, &r);
	r.n = 0;
	be_copy_response(&r, 'G');
	feed(&e, RX, 110, &r);
	send_part(&e, 120, &data, 0, 8192, 0);
	r.n = 0;
	be_complete(&r, "COPY 2");
	be_ready(&r, 'I');
	feed(&e, RX, 125, &r);
	send_part(&e, 130, &data, 8192, data.n - 8192, 0);
	CHECK("pg pipelined then COPY: planted write is a refused resync, counted",
	      e.c->tx.lost && e.st.parse_errors == 1 && planted_absent(&e));

	b_free(&t);
	b_free(&r);
	b_free(&data);
	env_free(&e);
}

/* A statement that fails after returning rows: the client received them,
 * so the failed query keeps them (MySQL's parser does the same). */
static void test_error_after_rows(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 };
	env_init(&e);

	/* An error after rows, all of them seen: the failed query keeps the
	 * rows the client received; with a statement completed before it in
	 * the same Query, both statements' rows. */
	fe_query(&t, "select x, 1/(3-x) from generate_series(1,5) x");
	feed(&e, TX, 100, &t);
	r.n = 0;
	be_rowdesc(&r);
	be_datarow(&r, "1");
	be_datarow(&r, "2");
	be_error(&r, "22012", "division by zero");
	be_ready(&r, 'I');
	feed(&e, RX, 200, &r);
	CHECK("pg error after 2 rows: failed, 2 rows, known",
	      e.g->n == 1 && e.g->q[0].error && e.g->q[0].has_rows && e.g->q[0].rows == 2 &&
	      !e.g->q[0].rows_unknown);
	t.n = 0;
	fe_query(&t, "select 1 from a; select x, 1/(3-x) from generate_series(1,5) x");
	feed(&e, TX, 300, &t);
	r.n = 0;
	be_rowdesc(&r);
	for (int i = 0; i < 4; i++)
		be_datarow(&r, "1");
	be_complete(&r, "SELECT 4");
	be_rowdesc(&r);
	be_datarow(&r, "1");
	be_datarow(&r, "2");
	be_error(&r, "22012", "division by zero");
	be_ready(&r, 'I');
	feed(&e, RX, 400, &r);
	CHECK("pg multi-statement error after rows: 4 + 2 rows, not 4 + 4 + 2",
	      e.g->n == 2 && e.g->q[1].error && e.g->q[1].rows == 6 && !e.g->q[1].rows_unknown);
	b_free(&t);
	b_free(&r);
	env_free(&e);
}

static void test_big_result_with_gaps(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 };
	char v[48];
	env_init(&e);

	fe_query(&t, "SELECT * FROM facts");
	feed(&e, TX, 100, &t);
	be_rowdesc(&r);
	for (int i = 0; i < 12345; i++) {
		snprintf(v, sizeof(v), "row-%d-%s", i, i % 7 ? "payload" : "longer-payload-text");
		be_datarow(&r, v);
	}
	be_complete(&r, "SELECT 12345");
	be_ready(&r, 'I');
	uint64_t gaps = feed_chunks(&e, RX, 500, &r, 16384, 256, 128);
	CHECK_INT("pg gaps: one query", e.g->n, 1);
	CHECK_INT("pg gaps: rows 12345 via tag", e.g->q[0].rows, 12345);
	CHECK_INT("pg gaps: cmd", e.g->q[0].cmd, JM_SQL_SELECT);
	CHECK("pg gaps: no error", !e.g->q[0].error);
	CHECK("pg gaps: resynced", e.st.resyncs >= 1);
	CHECK("pg gaps: there were gaps", gaps > 0);
	CHECK_INT("pg gaps: bytes_skipped = uncaptured middles", e.st.bytes_skipped, gaps);
	CHECK_INT("pg gaps: no parse errors", e.st.parse_errors, 0);

	/* Same stream, but the last fragment holds only part of the tag: the
	 * previous fragment's tail is carried so the CommandComplete is found. */
	size_t cut = r.n - 10;
	env_init(&e);
	t.n = 0;
	fe_query(&t, "SELECT * FROM facts");
	feed(&e, TX, 100, &t);
	struct buf first = { r.d, cut, cut };
	feed_chunks(&e, RX, 500, &first, 16384, 256, 128);
	feed_frag(&e, RX, 600, r.d + cut, 10, 10, 0);
	CHECK("pg gaps: tag split across fragments still gives rows",
	      e.g->n == 1 && e.g->q[0].rows == 12345 && e.g->q[0].end == 600);

	/* error at the end of a big result */
	env_init(&e);
	feed(&e, TX, 100, &t);
	r.n = 0;
	be_rowdesc(&r);
	for (int i = 0; i < 3000; i++)
		be_datarow(&r, "some row payload of moderate size");
	be_error(&r, "57014", "canceling statement due to user request");
	be_ready(&r, 'I');
	feed_chunks(&e, RX, 500, &r, 16384, 256, 128);
	CHECK("pg gaps: error found by walking back from ReadyForQuery",
	      e.g->n == 1 && e.g->q[0].error && !strcmp(e.g->q[0].state, "57014"));
	CHECK("pg gaps: the failed query's rows went by unseen: rows unknown, not 0",
	      e.g->n == 1 && e.g->q[0].rows_unknown && !e.g->q[0].has_rows);

	/* tail too short for the whole ErrorResponse: fields still found */
	env_init(&e);
	feed(&e, TX, 100, &t);
	feed_chunks(&e, RX, 500, &r, 16384, 256, 104); /* E starts 115 bytes before the end */
	CHECK("pg gaps: error fields found in a short tail",
	      e.g->n == 1 && e.g->q[0].error && !strcmp(e.g->q[0].state, "57014"));

	/* A ReadyForQuery lost for good (a notification followed it in the
	 * same recv, so the fragment does not end with it): resync on the next
	 * one must not leave the queue one query behind forever. */
	env_init(&e);
	t.n = 0;
	fe_query(&t, "SELECT * FROM facts");
	feed(&e, TX, 100, &t);
	r.n = 0;
	be_rowdesc(&r);
	for (int i = 0; i < 2000; i++)
		be_datarow(&r, "0123456789abcdef");
	be_complete(&r, "SELECT 2000");
	be_ready(&r, 'I');
	{ size_t m = m_begin(&r, 'A'); b_be32(&r, 77); b_str(&r, "chan"); b_str(&r, "payload"); m_end(&r, m); }
	feed_frag(&e, RX, 200, r.d, r.n, 256, 128);
	CHECK("pg lost Z: nothing invented while out of sync", e.g->n == 0);
	for (int i = 1; i <= 3; i++) {
		char sql[32], tag[32];
		snprintf(sql, sizeof(sql), "SELECT %d", i);
		snprintf(tag, sizeof(tag), "SELECT %d", i * 10);
		t.n = r.n = 0;
		fe_query(&t, sql);
		feed(&e, TX, 300 + (uint64_t)i * 100, &t);
		be_complete(&r, tag);
		be_ready(&r, 'I');
		feed(&e, RX, 350 + (uint64_t)i * 100, &r);
	}
	CHECK_INT("pg lost Z: every query reported", e.g->n, 4);
	CHECK("pg lost Z: row bytes kept while lost are gone once in sync",
	      memmem(e.c, sizeof(*e.c), "0123456789abcdef", 16) == NULL &&
	      memmem(e.c, sizeof(*e.c), "payload", 7) == NULL);
	CHECK("pg lost Z: the stale one flushed without rows", !e.g->q[0].has_rows &&
	      sql_is(&e.g->q[0], "SELECT * FROM facts"));
	CHECK("pg lost Z: no drift afterwards",
	      sql_is(&e.g->q[1], "SELECT 1") && e.g->q[1].rows == 10 && e.g->q[1].end == 450 &&
	      sql_is(&e.g->q[3], "SELECT 3") && e.g->q[3].rows == 30 && e.g->q[3].start == 600 &&
	      e.g->q[3].end == 650);

	/* extended protocol: completions fall into gaps */
	env_init(&e);
	t.n = 0;
	fe_parse(&t, "", "SELECT * FROM facts");
	fe_bind(&t, "", "", NULL);
	fe_execute(&t, "", 0);
	fe_sync(&t);
	feed(&e, TX, 100, &t);
	r.n = 0;
	m_empty(&r, '1');
	m_empty(&r, '2');
	for (int i = 0; i < 5000; i++)
		be_datarow(&r, "0123456789abcdef");
	be_complete(&r, "SELECT 5000");
	be_ready(&r, 'I');
	feed_chunks(&e, RX, 700, &r, 16384, 256, 128);
	CHECK("pg gaps ext: rows via tag", e.g->n == 1 && e.g->q[0].rows == 5000 &&
	      sql_is(&e.g->q[0], "SELECT * FROM facts") && e.g->q[0].end == 700);

	b_free(&t);
	b_free(&r);
	env_free(&e);
}

/* 30 Executes and a Sync, each message its own send, on a fresh
 * connection; and the server's answer, one read: it ran 19, failed the 20th
 * and skipped the rest.  Returns where the ErrorResponse starts in r. */
static size_t gap_batch(struct env *e, struct buf *t, struct buf *r, bool ready)
{
	size_t errpos;

	env_init(e);
	for (int i = 0; i < 30; i++) {
		t->n = 0;
		fe_bind(t, "", "s1", "7");
		fe_execute(t, "", 0);
		feed(e, TX, 100 + (uint64_t)i, t);
	}
	t->n = 0;
	fe_sync(t);
	feed(e, TX, 200, t);
	r->n = 0;
	for (int i = 0; i < 19; i++) {
		m_empty(r, '2');
		for (int k = 0; k < 40; k++)
			be_datarow(r, "0123456789abcdef");
		be_complete(r, "SELECT 40");
	}
	m_empty(r, '2');
	errpos = r->n;
	be_error(r, "22012", "division by zero");
	if (ready)
		be_ready(r, 'I');
	return errpos;
}

/* The outcome an error at the end of a gap batch must give: every Execute,
 * the error once, on the batch's last. */
static bool gap_batch_one_error(const struct env *e)
{
	int errors = 0;

	for (int i = 0; i < e->g->n; i++)
		errors += e->g->q[i].error;
	return e->g->n == 30 && errors == 1 && e->g->q[29].error && !strcmp(e->g->q[29].state, "22012");
}

/* Completions that go by in a capture gap: their rows are unknown, and an
 * error at the end of a batch fails one statement, not those that ran. */
static void test_gap_batches(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 };
	char tag[32];
	int unknown = 0, exact = 0;

	/* head + tail of the one read */
	gap_batch(&e, &t, &r, true);
	feed_frag(&e, RX, 500, r.d, r.n, 256, 128);
	for (int i = 0; i < e.g->n; i++) {
		const struct gotq *q = &e.g->q[i];
		unknown += !q->error && q->rows_unknown && !q->has_rows;
		exact += !q->error && q->has_rows && q->rows == 40 && !q->rows_unknown;
	}
	CHECK("pg gap batch: every Execute, one error (the batch's), not the statements that ran",
	      gap_batch_one_error(&e));
	CHECK_INT("pg gap batch: the others done, rows exact (seen) or unknown", exact + unknown, 29);
	CHECK("pg gap batch: completions in the gap have their rows unknown", unknown > 0);

	/* the tail too short for the ErrorResponse's header: its fields are
	 * found, with the same outcome */
	size_t errpos = gap_batch(&e, &t, &r, true);
	feed_frag(&e, RX, 500, r.d, r.n, 256, r.n - errpos - 3);
	CHECK("pg gap batch, short tail: every Execute, one error", gap_batch_one_error(&e));

	/* The client gives up at the error and hangs up: the stream ends with
	 * the ErrorResponse, no ReadyForQuery.  At close, the error still
	 * counts, once. */
	gap_batch(&e, &t, &r, false);
	feed_frag(&e, RX, 500, r.d, r.n, 256, 128);
	CHECK_INT("pg hang-up after error: nothing while out of sync", e.g->n, 0);
	jm_pg_close(e.c, 600, collect, e.g);
	CHECK("pg hang-up after error: every Execute, the error counted once", gap_batch_one_error(&e));

	/* A simple Query of two statements whose first CommandComplete falls
	 * in the gap: only the last tag is seen, so rows are unknown. */
	env_init(&e);
	t.n = r.n = 0;
	fe_query(&t, "SELECT * FROM a; SELECT * FROM b");
	feed(&e, TX, 100, &t);
	for (int st = 0; st < 2; st++) {
		be_rowdesc(&r);
		for (int k = 0; k < 3000; k++)
			be_datarow(&r, "0123456789abcdef");
		snprintf(tag, sizeof(tag), "SELECT %d", 3000);
		be_complete(&r, tag);
	}
	be_ready(&r, 'I');
	feed_chunks(&e, RX, 500, &r, 16384, 256, 128);
	CHECK("pg gap multi-statement: one query, rows unknown",
	      e.g->n == 1 && !e.g->q[0].has_rows && e.g->q[0].rows_unknown && !e.g->q[0].error);

	/* The same with one statement: its tag is its rows. */
	env_init(&e);
	t.n = r.n = 0;
	fe_query(&t, "SELECT * FROM a -- one; statement");
	feed(&e, TX, 100, &t);
	be_rowdesc(&r);
	for (int k = 0; k < 3000; k++)
		be_datarow(&r, "0123456789abcdef");
	be_complete(&r, "SELECT 3000");
	be_ready(&r, 'I');
	feed_chunks(&e, RX, 500, &r, 16384, 256, 128);
	CHECK("pg gap one statement: rows exact",
	      e.g->n == 1 && e.g->q[0].has_rows && e.g->q[0].rows == 3000 && !e.g->q[0].rows_unknown);

	b_free(&t);
	b_free(&r);
	env_free(&e);
}

/* A session exercising most paths, fed (a) whole, (b) with every step split
 * at byte k, for every k; results must be identical. */
struct step {
	enum jm_dir dir;
	struct buf b;
};

static int build_session(struct step *s)
{
	int n = 0;
	memset(s, 0, sizeof(*s) * 16);
	s[n].dir = TX; fe_startup(&s[n].b, "u", "d"); n++;
	s[n].dir = RX; be_auth(&s[n].b, 0); be_param(&s[n].b, "a", "b"); be_keydata(&s[n].b); be_ready(&s[n].b, 'I'); n++;
	s[n].dir = TX; fe_query(&s[n].b, "SELECT 1"); n++;
	s[n].dir = RX; be_rowdesc(&s[n].b); be_datarow(&s[n].b, "1"); be_complete(&s[n].b, "SELECT 1"); be_ready(&s[n].b, 'I'); n++;
	s[n].dir = TX; fe_parse(&s[n].b, "p1", "UPDATE t SET a = $1"); fe_bind(&s[n].b, "", "p1", "5");
	fe_execute(&s[n].b, "", 0); fe_sync(&s[n].b); n++;
	s[n].dir = RX; m_empty(&s[n].b, '1'); m_empty(&s[n].b, '2'); be_complete(&s[n].b, "UPDATE 17"); be_ready(&s[n].b, 'I'); n++;
	s[n].dir = TX; fe_query(&s[n].b, "DELETE FROM x"); n++;
	s[n].dir = RX; be_error(&s[n].b, "42501", "permission denied"); be_ready(&s[n].b, 'I'); n++;
	s[n].dir = TX; fe_query(&s[n].b, "COPY x FROM STDIN"); n++;
	s[n].dir = RX; be_copy_response(&s[n].b, 'G'); n++;
	s[n].dir = TX; fe_copydata(&s[n].b, "1\n"); fe_copydata(&s[n].b, "2\n"); fe_copydone(&s[n].b); n++;
	s[n].dir = RX; be_complete(&s[n].b, "COPY 2"); be_ready(&s[n].b, 'I'); n++;
	return n;
}

static bool same_results(const struct got *a, const struct got *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++) {
		const struct gotq *x = &a->q[i], *y = &b->q[i];
		if (x->sql_len != y->sql_len || memcmp(x->sql, y->sql, x->sql_len) || x->error != y->error ||
		    strcmp(x->state, y->state) || x->rows != y->rows || x->cmd != y->cmd ||
		    x->has_rows != y->has_rows)
			return false;
	}
	return true;
}

static void test_every_split(void)
{
	struct step s[16];
	struct env ref = { 0 }, e = { 0 };
	int n = build_session(s);
	size_t maxlen = 0;

	env_init(&ref);
	for (int i = 0; i < n; i++) {
		feed(&ref, s[i].dir, 10 * (uint64_t)i, &s[i].b);
		if (s[i].b.n > maxlen)
			maxlen = s[i].b.n;
	}
	CHECK_INT("pg split ref: four queries", ref.g->n, 4);
	CHECK("pg split ref: update rows 17", ref.g->q[1].rows == 17 && ref.g->q[1].cmd == JM_SQL_UPDATE);
	CHECK("pg split ref: delete error", ref.g->q[2].error && !strcmp(ref.g->q[2].state, "42501"));
	CHECK("pg split ref: copy", ref.g->q[3].rows == 2 && ref.g->q[3].cmd == JM_SQL_COPY_FROM);

	int bad = 0;
	uint64_t perr = 0;
	for (size_t k = 1; k < maxlen; k++) {
		env_init(&e);
		for (int i = 0; i < n; i++) {
			const struct buf *b = &s[i].b;
			uint64_t ts = 10 * (uint64_t)i;
			if (k < b->n) {
				feed_frag(&e, s[i].dir, ts, b->d, k, k, 0);
				feed_frag(&e, s[i].dir, ts, b->d + k, b->n - k, b->n - k, 0);
			} else {
				feed(&e, s[i].dir, ts, b);
			}
		}
		if (!same_results(ref.g, e.g))
			bad++;
		perr += e.st.parse_errors;
	}
	CHECK_INT("pg split at every byte: identical results", bad, 0);
	CHECK_INT("pg split at every byte: no parse errors", perr, 0);

	/* one byte per fragment, with head/tail overlapping on whole fragments */
	env_init(&e);
	for (int i = 0; i < n; i++)
		for (size_t k = 0; k < s[i].b.n; k++)
			feed_frag(&e, s[i].dir, 10 * (uint64_t)i, s[i].b.d + k, 1, 1, 1);
	CHECK("pg byte-by-byte: identical results", same_results(ref.g, e.g));

	/* whole fragments supplied as head + overlapping tail */
	env_init(&e);
	for (int i = 0; i < n; i++)
		feed_frag(&e, s[i].dir, 10 * (uint64_t)i, s[i].b.d, s[i].b.n, s[i].b.n / 2 + 1, s[i].b.n);
	CHECK("pg head+overlapping tail: identical results", same_results(ref.g, e.g));

	/* the whole RX side in one fragment per direction is not possible
	 * (requests first), but several messages per fragment is covered above */
	for (int i = 0; i < n; i++)
		b_free(&s[i].b);
	env_free(&ref);
	env_free(&e);
}

static void test_garbage_and_lengths(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 };
	uint8_t junk[4096];
	uint64_t x = 88172645463325252ULL;
	env_init(&e);

	for (size_t i = 0; i < sizeof(junk); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		junk[i] = (uint8_t)x;
	}
	junk[0] = 'Q'; /* make sure the first header is checked, not skipped */
	for (int i = 0; i < 8; i++) {
		feed_frag(&e, TX, 10, junk + i * 512, 512, 512, 0);
		feed_frag(&e, RX, 20, junk + i * 512, 512, 512, 0);
	}
	CHECK("pg garbage: parse errors counted", e.st.parse_errors > 0);
	CHECK_INT("pg garbage: no invented queries", e.g->n, 0);

	/* the connection keeps working: RX resyncs on the fragment that ends
	 * with ReadyForQuery; TX at the first send after it (the request
	 * before it went by unanchored: not reported) */
	fe_query(&t, "SELECT 42");
	be_rowdesc(&r);
	be_datarow(&r, "42");
	be_complete(&r, "SELECT 1");
	be_ready(&r, 'I');
	feed(&e, TX, 100, &t);
	feed(&e, RX, 200, &r);
	CHECK_INT("pg garbage: the request sent while TX was lost is not invented", e.g->n, 0);
	feed(&e, TX, 300, &t);
	feed(&e, RX, 400, &r);
	CHECK("pg garbage: then a good query", e.g->n == 1 && sql_is(&e.g->q[0], "SELECT 42") &&
	      e.g->q[0].rows == 1 && e.g->q[0].start == 300);
	CHECK("pg garbage: resyncs counted", e.st.resyncs >= 2);

	/* impossible lengths */
	static const uint32_t lens[] = { 0, 3, 0x80000000u, 0xffffffffu, (1u << 30) + 1 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		env_init(&e);
		uint8_t m[5] = { 'Q', (uint8_t)(lens[i] >> 24), (uint8_t)(lens[i] >> 16), (uint8_t)(lens[i] >> 8), (uint8_t)lens[i] };
		feed_frag(&e, TX, 1, m, 5, 5, 0);
		char name[64];
		snprintf(name, sizeof(name), "pg length 0x%x is a parse error", lens[i]);
		CHECK_INT(name, e.st.parse_errors, 1);
		feed(&e, TX, 2, &t);   /* TX lost: waits for a ReadyForQuery */
		feed(&e, RX, 3, &r);
		feed(&e, TX, 4, &t);
		feed(&e, RX, 5, &r);
		snprintf(name, sizeof(name), "pg length 0x%x: connection still usable", lens[i]);
		CHECK(name, e.g->n == 1 && e.g->q[0].start == 4);
	}
	/* a backend message with a length wrong for its type */
	env_init(&e);
	feed(&e, TX, 1, &t);
	uint8_t badz[6] = { 'Z', 0, 0, 0, 9, 'I' };
	feed_frag(&e, RX, 2, badz, 6, 6, 0);
	CHECK("pg ReadyForQuery with length 9: error, nothing reported", e.st.parse_errors == 1 && e.g->n == 0);
	feed(&e, RX, 4, &r);
	CHECK_INT("pg after bad backend bytes: query completes", e.g->n, 1);
	/* an unknown type byte, on a fresh connection whose RX is in sync
	 * (after a Query and its ReadyForQuery) */
	env_init(&e);
	feed(&e, TX, 1, &t);
	feed(&e, RX, 2, &r);
	CHECK("pg unknown backend type: in sync before", e.st.parse_errors == 0 && e.g->n == 1);
	uint8_t unk[5] = { '#', 0, 0, 0, 4 };
	feed_frag(&e, RX, 3, unk, 5, 5, 0);
	CHECK_INT("pg unknown backend type: parse error", e.st.parse_errors, 1);
	feed(&e, TX, 4, &t);
	feed(&e, RX, 5, &r);
	CHECK_INT("pg unknown backend type: next query completes", e.g->n, 2);

	/* an ErrorResponse whose 'C' field is no SQLSTATE (five of [0-9A-Z]):
	 * the query failed, but those bytes are not reported */
	env_init(&e);
	feed(&e, TX, 1, &t);
	{
		struct buf be = { 0 };
		size_t m = m_begin(&be, 'E');
		b_u8(&be, 'S'); b_str(&be, "ERROR");
		b_u8(&be, 'C'); b_str(&be, "ja ne");
		b_u8(&be, 0);
		m_end(&be, m);
		be_ready(&be, 'I');
		feed(&e, RX, 2, &be);
		b_free(&be);
	}
	CHECK("pg error with a bad SQLSTATE: failed, code not reported",
	      e.g->n == 1 && e.g->q[0].error && e.g->q[0].state[0] == 0);

	/* fragment header lies beyond head/tail: never read past them */
	env_init(&e);
	struct jm_fragment f;
	memset(&f, 0, sizeof(f));
	f.dir = RX;
	f.total_len = 1000;
	f.head = r.d;
	f.head_len = 3;
	f.tail = NULL;
	f.tail_len = 50; /* no pointer: must be ignored */
	jm_pg_feed(e.c, &f, collect, e.g, &e.st);
	f.head = NULL;
	f.head_len = 100;
	jm_pg_feed(e.c, &f, collect, e.g, &e.st);
	jm_pg_feed(e.c, &f, NULL, NULL, NULL);
	CHECK("pg null pointers and lengths: harmless", e.g->n == 0);

	b_free(&t);
	b_free(&r);
	env_free(&e);
}

/* Bind parameter values and error texts are not kept: whole, and fed one
 * byte at a time (nothing of a value may linger between fragments). */
static void test_values_not_retained(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 };
	int seen = 0;
	env_init(&e);

	fe_parse(&t, "", "UPDATE users SET pw_hash = $1 WHERE id = 7");
	fe_bind(&t, "", "", "BIND-SECRET-hunter2");
	fe_execute(&t, "", 0);
	fe_sync(&t);
	feed(&e, TX, 1, &t);
	m_empty(&r, '1');
	m_empty(&r, '2');
	be_complete(&r, "UPDATE 1");
	be_ready(&r, 'I');
	feed(&e, RX, 2, &r);
	CHECK("pg values: query parsed", e.g->n == 1 && e.g->q[0].rows == 1 &&
	      sql_is(&e.g->q[0], "UPDATE users SET pw_hash = $1 WHERE id = 7"));
	CHECK("pg values: Bind parameter value never retained",
	      memmem(e.c, sizeof(*e.c), "BIND-SECRET", 11) == NULL);

	/* named portal and statement, one byte per fragment */
	t.n = r.n = 0;
	fe_parse(&t, "st1", "INSERT INTO t VALUES ($1)");
	fe_bind(&t, "p1", "st1", "BIND-SECRET-alice@example.com");
	fe_execute(&t, "p1", 0);
	fe_sync(&t);
	for (size_t i = 0; i < t.n; i++) {
		feed_frag(&e, TX, 3, t.d + i, 1, 1, 0);
		if (memmem(e.c, sizeof(*e.c), "BIND-SECR", 9) || memmem(e.c, sizeof(*e.c), "alice@", 6))
			seen++;
	}
	m_empty(&r, '1');
	m_empty(&r, '2');
	be_complete(&r, "INSERT 0 1");
	be_ready(&r, 'I');
	feed(&e, RX, 4, &r);
	CHECK("pg values: byte by byte, named portal still resolves",
	      e.g->n == 2 && sql_is(&e.g->q[1], "INSERT INTO t VALUES ($1)") && e.g->q[1].rows == 1);
	CHECK_INT("pg values: byte by byte, no value bytes between fragments", seen, 0);

	/* an error's message and detail (row values) are not kept either */
	t.n = r.n = 0;
	fe_query(&t, "INSERT INTO c VALUES (1)");
	feed(&e, TX, 5, &t);
	be_error(&r, "23503", "Key (email)=(alice@example.com) is not present");
	be_ready(&r, 'I');
	feed(&e, RX, 6, &r);
	CHECK("pg values: error reported", e.g->n == 3 && e.g->q[2].error &&
	      !strcmp(e.g->q[2].state, "23503"));
	CHECK("pg values: error message not retained",
	      memmem(e.c, sizeof(*e.c), "alice@", 6) == NULL);
	CHECK_INT("pg values: no parse errors", e.st.parse_errors, 0);
	b_free(&t);
	b_free(&r);
	env_free(&e);
}

static void test_ssl_and_detect(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 };
	env_init(&e);

	/* SSLRequest refused ('N'), then a plain startup */
	fe_sslrequest(&t);
	feed(&e, TX, 1, &t);
	t.n = 0;
	b_u8(&r, 'N');
	feed(&e, RX, 2, &r);
	r.n = 0;
	fe_startup(&t, "etl", "dw");
	feed(&e, TX, 3, &t);
	t.n = 0;
	{ size_t m = m_begin(&r, 'R'); b_be32(&r, 5); b_put(&r, "salt", 4); m_end(&r, m); } /* MD5 */
	feed(&e, RX, 4, &r);
	r.n = 0;
	fe_password(&t, "md5s3cretS3CRET-hunter2");
	feed(&e, TX, 5, &t);
	t.n = 0;
	be_auth(&r, 0);
	be_keydata(&r);
	be_ready(&r, 'I');
	feed(&e, RX, 6, &r);
	r.n = 0;
	CHECK_INT("pg ssl N: startup parsed without errors", e.st.parse_errors, 0);
	CHECK("pg password never retained", memmem(e.c, sizeof(*e.c), "hunter2", 7) == NULL);
	CHECK("pg startup params not retained", memmem(e.c, sizeof(*e.c), "etl", 3) == NULL);
	fe_query(&t, "SELECT now()");
	feed(&e, TX, 10, &t);
	t.n = 0;
	be_complete(&r, "SELECT 1");
	be_ready(&r, 'I');
	feed(&e, RX, 11, &r);
	r.n = 0;
	CHECK("pg ssl N: query after startup", e.g->n == 1 && sql_is(&e.g->q[0], "SELECT now()"));

	/* SSLRequest accepted: TLS from here on, nothing parsed or counted */
	env_init(&e);
	fe_sslrequest(&t);
	feed(&e, TX, 1, &t);
	t.n = 0;
	b_u8(&r, 'S');
	feed(&e, RX, 2, &r);
	r.n = 0;
	fe_query(&t, "SELECT 1"); /* would look like a query in clear text */
	feed(&e, TX, 3, &t);
	feed_frag(&e, TX, 4, t.d, t.n, 2, 2);
	be_complete(&r, "SELECT 1");
	be_ready(&r, 'I');
	feed(&e, RX, 5, &r);
	CHECK("pg ssl S: stream treated as TLS", e.g->n == 0 && e.st.parse_errors == 0 &&
	      e.st.bytes_skipped == 0 && e.st.resyncs == 0);
	t.n = r.n = 0;

	/* detect() */
	fe_startup(&t, "postgres", "postgres");
	CHECK("pg detect startup", jm_pg_detect(t.d, t.n));
	CHECK("pg detect startup head only", jm_pg_detect(t.d, 16));
	CHECK("pg detect short", !jm_pg_detect(t.d, 7));
	{
		static const uint8_t term[] = { 'X', 0, 0, 0, 4 }, q[] = { 'Q', 0, 0, 0, 4 };
		static const uint8_t term_more[] = { 'X', 0, 0, 0, 4, 'S', 0, 0, 0, 4 };
		CHECK("pg terminate", jm_pg_is_terminate(term, sizeof(term)));
		CHECK("pg terminate: other message", !jm_pg_is_terminate(q, sizeof(q)));
		CHECK("pg terminate: not alone", !jm_pg_is_terminate(term_more, sizeof(term_more)));
		CHECK("pg terminate: short", !jm_pg_is_terminate(term, 4));
	}
	CHECK("pg detect NULL", !jm_pg_detect(NULL, 100));
	t.n = 0;
	fe_sslrequest(&t);
	CHECK("pg detect SSLRequest", jm_pg_detect(t.d, t.n));
	uint8_t gss[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30 };
	CHECK("pg detect GSSENCRequest", jm_pg_detect(gss, 8));
	uint8_t cancel[16] = { 0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 0, 0, 0, 2 };
	CHECK("pg detect rejects CancelRequest", !jm_pg_detect(cancel, 16));
	uint8_t v2[12] = { 0, 0, 0, 12, 0, 2, 0, 0, 'u', 0, 0, 0 };
	CHECK("pg detect rejects protocol 2", !jm_pg_detect(v2, 12));
	t.n = 0;
	fe_query(&t, "SELECT 1");
	CHECK("pg detect rejects typed message", !jm_pg_detect(t.d, t.n));
	uint8_t mysql[12] = { 0x55, 0, 0, 1, 0x85, 0xa6, 0xff, 0x01, 0, 0, 0, 1 };
	CHECK("pg detect rejects MySQL handshake", !jm_pg_detect(mysql, 12));
	uint8_t http[] = "GET / HTTP/1.1\r\n";
	CHECK("pg detect rejects HTTP", !jm_pg_detect(http, sizeof(http) - 1));
	uint8_t ssl8[8] = { 0, 0, 0, 9, 0x04, 0xd2, 0x16, 0x2f };
	CHECK("pg detect rejects SSLRequest with wrong length", !jm_pg_detect(ssl8, 8));

	b_free(&t);
	b_free(&r);
	env_free(&e);
}

/* Tracing starts mid-session: first TX bytes are typed messages. */
static void test_mid_session_and_close(void)
{
	struct env e = { 0 };
	struct buf t = { 0 }, r = { 0 };
	env_init(&e);

	fe_query(&t, "UPDATE jobs SET done = true");
	feed(&e, TX, 1, &t);
	be_complete(&r, "UPDATE 12");
	be_ready(&r, 'I');
	feed(&e, RX, 2, &r);
	CHECK("pg mid-session: typed start recognised", e.g->n == 1 && e.g->q[0].rows == 12 && e.st.parse_errors == 0);

	/* FATAL error then the server hangs up: close reports it */
	t.n = r.n = 0;
	fe_query(&t, "SELECT pg_sleep(100)");
	feed(&e, TX, 10, &t);
	be_error(&r, "57P01", "terminating connection due to administrator command");
	feed(&e, RX, 20, &r);
	CHECK_INT("pg close: nothing before close", e.g->n, 1);
	jm_pg_close(e.c, 30, collect, e.g);
	CHECK("pg close: errored query reported at close", e.g->n == 2 && e.g->q[1].error &&
	      !strcmp(e.g->q[1].state, "57P01") && e.g->q[1].end == 30);

	/* a query with no answer when the connection ends: failed (08006);
	 * with RX out of sync: done, rows unknown */
	env_init(&e);
	t.n = r.n = 0;
	fe_query(&t, "SELECT pg_sleep(10)");
	feed(&e, TX, 40, &t);
	jm_pg_close(e.c, 50, collect, e.g);
	CHECK("pg close: a waiting query failed, connection lost",
	      e.g->n == 1 && e.g->q[0].error && !strcmp(e.g->q[0].state, "08006") &&
	      e.g->q[0].end == 50);
	env_init(&e);
	t.n = r.n = 0;
	fe_query(&t, "SELECT * FROM facts");
	feed(&e, TX, 40, &t);
	be_rowdesc(&r);
	for (int i = 0; i < 3000; i++)
		be_datarow(&r, "0123456789abcdef");
	feed_frag(&e, RX, 45, r.d, r.n, 256, 128);        /* ends inside a row: lost */
	jm_pg_close(e.c, 50, collect, e.g);
	CHECK("pg close: RX out of sync, done with rows unknown",
	      e.g->n == 1 && !e.g->q[0].error && e.g->q[0].rows_unknown && !e.g->q[0].has_rows);

	/* long SQL is cut at JM_PG_SQL_MAX and flagged */
	env_init(&e);
	t.n = r.n = 0;
	char *big = malloc(5000);
	if (!big)
		exit(1);
	memcpy(big, "INSERT INTO t VALUES ", 21);
	memset(big + 21, '1', 5000 - 22);
	big[4999] = 0;
	fe_query(&t, big);
	feed_frag(&e, TX, 1, t.d, t.n, 2048, 64); /* middle of the query not captured */
	be_complete(&r, "INSERT 0 1");
	be_ready(&r, 'I');
	feed(&e, RX, 2, &r);
	CHECK("pg long sql: truncated to the bound", e.g->n == 1 && e.g->q[0].sql_len == JM_PG_SQL_MAX &&
	      e.g->q[0].trunc && memcmp(e.g->q[0].sql, big, JM_PG_SQL_MAX) == 0);
	CHECK("pg long sql: length followed through the gap", e.st.resyncs == 0 && e.st.parse_errors == 0);
	free(big);

	b_free(&t);
	b_free(&r);
	env_free(&e);
}

int main(void)
{
	test_startup_and_simple();
	test_create_then_select();
	test_extended();
	test_error_at_sync();
	test_deep_pipeline();
	test_overflow_exhausted_error();
	test_copy();
	test_copy_row_never_sql();
	test_big_result_with_gaps();
	test_error_after_rows();
	test_gap_batches();
	test_every_split();
	test_garbage_and_lengths();
	test_ssl_and_detect();
	test_values_not_retained();
	test_mid_session_and_close();
	TEST_EXIT();
}
