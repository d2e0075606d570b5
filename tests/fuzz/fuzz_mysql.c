// fuzz-sources: agent/protocol/mysql.c agent/sql.c
/* libFuzzer target for the MySQL parser.
 *
 * The input is a script of fragments: each record is a control byte (bit 0:
 * direction, bits 1-2: capture shape), a 2-byte length and that many bytes.
 * Shapes: whole; head + tail with an uncaptured middle (total_len larger
 * than what is given, by a length from the control byte); head and tail
 * overlapping; lengths larger than the buffers.  When the first input byte
 * is 0xA5 the script is instead a built-in valid session (handshake,
 * queries, result sets, prepared statements, LOCAL INFILE, multi-results,
 * errors) with the rest of the input applied as (offset, byte) edits, so
 * deep states are reached without a seed corpus.  A fresh connection per
 * input, closed (jm_mysql_close) at the script's end.  The callback checks
 * the query it gets (bounded SQL, terminated SQLSTATE) and fingerprints it
 * the way the agent does; ASan/UBSan do the rest. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/mysql.h"
#include "sql.h"

struct ctx {
	const struct jm_mysql_conn *c;
	uint64_t queries;
};

static void on_query(void *vctx, const struct jm_query *q)
{
	struct ctx *x = vctx;
	char fp[512];
	volatile unsigned sum = 0;

	if (!q->sql || q->sql_len > JM_MYSQL_SQL_MAX)
		abort();
	for (size_t i = 0; i < q->sql_len; i++)        /* every byte must be readable */
		sum += (unsigned char)q->sql[i];
	if (q->error) {
		if (strnlen(q->sqlstate, sizeof(q->sqlstate)) != 5)
			abort();
	} else if (q->sqlstate[0] != '\0') {
		abort();
	}
	/* rows are known, or unknown, or there are none; an error may keep
	 * the rows of the results before it (unknown when they went by in an
	 * uncaptured middle) */
	if ((q->has_rows && q->rows_unknown) || (q->error && q->has_rows && q->rows == 0))
		abort();
	if ((int)q->cmd < JM_SQL_OTHER || q->cmd > JM_SQL_CREATE_TABLE_AS)
		abort();
	/* both backslash readings, and the connection's own (agent/db.c) */
	const unsigned flags[] = { JM_SQL_MYSQL, jm_mysql_sql_flags(x->c, q->sql, q->sql_len) };
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		size_t n = jm_sql_fingerprint_ex(q->sql, q->sql_len, flags[i], fp, sizeof(fp));
		if (n >= sizeof(fp) || fp[n] != '\0')
			abort();
	}
	x->queries++;
}

/* ---- built-in session, in the script format ---- */

struct script {
	uint8_t b[8192];
	size_t n;
	size_t rec;      /* offset of the open record's length field */
};

static void put(struct script *s, const void *p, size_t n)
{
	if (n > sizeof(s->b) - s->n)
		n = sizeof(s->b) - s->n;
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

static void put_u8(struct script *s, uint8_t v) { put(s, &v, 1); }
static void put_le(struct script *s, uint32_t v, int k)
{
	for (int i = 0; i < k; i++)
		put_u8(s, (uint8_t)(v >> (8 * i)));
}

static void frag(struct script *s, int rx)
{
	put_u8(s, (uint8_t)rx);
	s->rec = s->n;
	put_le(s, 0, 2);
}

static void frag_end(struct script *s)
{
	size_t len = s->n - s->rec - 2;
	s->b[s->rec] = (uint8_t)len;
	s->b[s->rec + 1] = (uint8_t)(len >> 8);
}

static uint8_t packet(struct script *s, uint8_t seq, const void *p, size_t n)
{
	put_le(s, (uint32_t)n, 3);
	put_u8(s, seq);
	put(s, p, n);
	return (uint8_t)(seq + 1);
}

/* A packet from a string literal (its size, not strlen: NULs inside). */
#define PK(s, seq, lit) packet((s), (seq), (lit), sizeof(lit) - 1)

static uint8_t resultset(struct script *s, uint8_t seq, int rows, bool deprecate, uint16_t status)
{
	static const uint8_t coldef[] = "\x03" "def" "\x01s" "\x01t" "\x01t" "\x01" "c" "\x01" "c"
					"\x0c\x21\x00\xff\x00\x00\x00\xfd\x00\x00\x00\x00\x00";
	uint8_t eof[5] = { 0xfe, 0, 0, 2, 0 }, okfe[7] = { 0xfe, 0, 0, 0, 0, 0, 0 };

	seq = PK(s, seq, "\x01");
	seq = packet(s, seq, coldef, sizeof(coldef) - 1);
	if (!deprecate)
		seq = packet(s, seq, eof, sizeof(eof));
	for (int i = 0; i < rows; i++)
		seq = PK(s, seq, "\x05hello");
	eof[3] = (uint8_t)status;
	okfe[3] = (uint8_t)status;
	return deprecate ? packet(s, seq, okfe, sizeof(okfe)) : packet(s, seq, eof, sizeof(eof));
}

static void build_session(struct script *s, bool deprecate)
{
	static const uint8_t ok[] = { 0, 1, 0, 2, 0, 0, 0 };
	uint8_t g[80], h[64], seq;
	size_t n = 0;
	uint32_t caps = 0x000aa201u | (deprecate ? 0x01000000u : 0);

	g[n++] = 10;
	memcpy(g + n, "8.0.36", 7);
	n += 7;
	memset(g + n, 'x', 13);
	n += 13;
	g[n++] = (uint8_t)caps;
	g[n++] = (uint8_t)(caps >> 8);
	g[n++] = 0x21;
	g[n++] = 2;
	g[n++] = 0;
	g[n++] = (uint8_t)(caps >> 16);
	g[n++] = (uint8_t)(caps >> 24);
	memset(g + n, 0, 11);
	n += 11;
	frag(s, 1); packet(s, 0, g, n); frag_end(s);
	memset(h, 0, sizeof(h));
	memcpy(h, &caps, 4);
	memcpy(h + 32, "u\0\0", 3);
	frag(s, 0); packet(s, 1, h, 35); frag_end(s);
	frag(s, 1); packet(s, 2, ok, sizeof(ok)); frag_end(s);
	/* query with rows */
	frag(s, 0); PK(s, 0, "\x03SELECT c FROM t WHERE id = 42"); frag_end(s);
	frag(s, 1); resultset(s, 1, 3, deprecate, 2); frag_end(s);
	/* prepare + execute */
	frag(s, 0); PK(s, 0, "\x16SELECT c FROM t WHERE id = ?"); frag_end(s);
	frag(s, 1);
	seq = PK(s, 1, "\x00\x05\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00");
	seq = PK(s, seq, "\x03" "def" "\x00\x00\x00\x01?\x00\x0c\x3f\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00\x00");
	if (!deprecate)
		seq = PK(s, seq, "\xfe\x00\x00\x02\x00");
	seq = PK(s, seq, "\x03" "def" "\x00\x00\x00\x01" "c" "\x00\x0c\x3f\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00\x00");
	if (!deprecate)
		PK(s, seq, "\xfe\x00\x00\x02\x00");
	frag_end(s);
	frag(s, 0); PK(s, 0, "\x17\x05\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x00\x2a\x00\x00\x00"); frag_end(s);
	frag(s, 1); resultset(s, 1, 2, deprecate, 2); frag_end(s);
	/* LOCAL INFILE */
	frag(s, 0); PK(s, 0, "\x03LOAD DATA LOCAL INFILE 'f' INTO TABLE t"); frag_end(s);
	frag(s, 1); PK(s, 1, "\xfb" "f"); frag_end(s);
	frag(s, 0); seq = PK(s, 2, "1,2\n"); PK(s, seq, ""); frag_end(s);
	frag(s, 1); packet(s, 4, ok, sizeof(ok)); frag_end(s);
	/* multi-result CALL */
	frag(s, 0); PK(s, 0, "\x03" "CALL p()"); frag_end(s);
	frag(s, 1); seq = resultset(s, 1, 1, deprecate, 0x0a); packet(s, seq, ok, sizeof(ok)); frag_end(s);
	/* error */
	frag(s, 0); PK(s, 0, "\x03" "SELECT * FROM nope"); frag_end(s);
	frag(s, 1); PK(s, 1, "\xff\x7a\x04#42S02Table 'nope' doesn't exist"); frag_end(s);
	/* close, ping, quit */
	frag(s, 0); PK(s, 0, "\x19\x05\x00\x00\x00"); PK(s, 0, "\x0e"); frag_end(s);
	frag(s, 1); packet(s, 1, ok, sizeof(ok)); frag_end(s);
	frag(s, 0); PK(s, 0, "\x01"); frag_end(s);
}

static void run_script(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 1 && data[0] == 0xa5) {
		static struct script s;
		s.n = 0;
		build_session(&s, size >= 2 && (data[1] & 1));
		/* the rest: (offset lo, offset hi, value) edits */
		for (size_t i = 2; i + 3 <= size; i += 3) {
			size_t at = ((size_t)data[i] | (size_t)data[i + 1] << 8) % s.n;
			s.b[at] = data[i + 2];
		}
		run_script(s.b, s.n);
		return 0;
	}
	run_script(data, size);
	(void)jm_mysql_detect_server_greeting(data, size);
	return 0;
}

static void run_script(const uint8_t *data, size_t size)
{
	static struct jm_mysql_conn conn;
	struct jm_proto_stats st;
	struct ctx x = { .c = &conn, .queries = 0 };
	size_t off = 0;
	uint64_t ts = 1;

	jm_mysql_init(&conn);
	memset(&st, 0, sizeof(st));
	while (off + 3 <= size) {
		uint8_t ctl = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		off += 3;
		if (len > size - off)
			len = size - off;
		const uint8_t *b = data + off;
		off += len;

		struct jm_fragment f = { .dir = (ctl & 1) ? JM_DIR_RX : JM_DIR_TX, .ts_ns = ts++,
					 .total_len = (uint32_t)len, .head = b,
					 .head_len = (uint32_t)len, .tail = NULL, .tail_len = 0 };
		switch ((ctl >> 1) & 3) {
		case 1:     /* uncaptured middle of (ctl >> 3) * 97 bytes */
			f.head_len = (uint32_t)(len / 2);
			f.tail = b + len / 2;
			f.tail_len = (uint32_t)(len - len / 2);
			f.total_len = (uint32_t)len + (uint32_t)(ctl >> 3) * 97u;
			break;
		case 2:     /* overlapping head and tail */
			f.head_len = (uint32_t)(len - len / 4);
			f.tail = b + len / 4;
			f.tail_len = (uint32_t)(len - len / 4);
			break;
		case 3:     /* lengths larger than the buffers: must be clamped */
			f.total_len = (uint32_t)len / 2;
			break;
		default:
			break;
		}
		jm_mysql_feed(&conn, &f, on_query, &x, &st);
		if (conn.q_len > JM_MYSQL_PENDING_MAX || conn.tx.cap_len > JM_MYSQL_TX_CAP ||
		    conn.rx.cap_len > JM_MYSQL_RX_CAP || conn.rx_carry_len > JM_MYSQL_CARRY)
			abort();
	}
	jm_mysql_close(&conn, ts, on_query, &x);   /* what is still waiting is reported */
	if (conn.q_len != 0)
		abort();
}
