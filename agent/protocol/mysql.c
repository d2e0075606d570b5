/* MySQL / MariaDB protocol parser.  See mysql.h for the model.
 *
 * Layering: feed() splits a fragment into captured runs and gaps; the framing
 * layer (consume/skip) cuts packets, copies the wanted prefix of each logical
 * packet and calls tx_packet()/rx_packet(); those drive the connection phase
 * and the queue of pending commands. */
#include "mysql.h"

#include <string.h>

#include "sql.h"

/* Capability flags (low 32 bits). */
#define CAP_LONG_PASSWORD      0x00000001u   /* MariaDB clears it: "not MySQL" */
#define CAP_COMPRESS           0x00000020u
#define CAP_PROTOCOL_41        0x00000200u
#define CAP_SSL                0x00000800u
#define CAP_DEPRECATE_EOF      0x01000000u
#define CAP_ZSTD               0x04000000u
#define CAP_QUERY_ATTRIBUTES   0x08000000u

/* Server status flags. */
#define ST_MORE_RESULTS        0x0008u
#define ST_CURSOR_EXISTS       0x0040u
#define ST_NO_BACKSLASH        0x0200u

/* Commands. */
enum {
	COM_QUIT = 0x01, COM_INIT_DB = 0x02, COM_QUERY = 0x03, COM_FIELD_LIST = 0x04,
	COM_STATISTICS = 0x09, COM_PROCESS_INFO = 0x0a, COM_CHANGE_USER = 0x11,
	COM_BINLOG_DUMP = 0x12, COM_TABLE_DUMP = 0x13, COM_STMT_PREPARE = 0x16,
	COM_STMT_EXECUTE = 0x17, COM_STMT_SEND_LONG_DATA = 0x18, COM_STMT_CLOSE = 0x19,
	COM_STMT_RESET = 0x1a, COM_STMT_FETCH = 0x1c, COM_BINLOG_DUMP_GTID = 0x1e,
	COM_RESET_CONNECTION = 0x1f, COM_STMT_BULK_EXECUTE = 0xfa,
};

enum phase { PH_GREETING, PH_HSRESP, PH_AUTH, PH_COMMAND, PH_STOPPED };

/* What a pending command's response looks like. */
enum kind {
	K_QUERY,    /* OK | ERR | LOCAL INFILE | result sets; reported */
	K_RESULT,   /* same shape, not reported (COM_PROCESS_INFO) */
	K_PREPARE,  /* STMT_PREPARE_OK + definitions | ERR */
	K_SIMPLE,   /* one OK / ERR / EOF */
	K_ONE,      /* one packet of any shape (COM_STATISTICS) */
	K_ROWS,     /* rows or definitions up to EOF / ERR (FETCH, FIELD_LIST) */
	K_AUTH,     /* auth exchange up to OK / ERR (COM_CHANGE_USER) */
};

enum rstate { R_FIRST, R_COLDEFS, R_COLS_EOF, R_ROWS, R_PREP_DEFS };
enum prep_stage { PS_PARAMS, PS_PARAMS_EOF, PS_COLS, PS_COLS_EOF, PS_DONE };

#define MAX_PAYLOAD 0xFFFFFFu
#define MAX_COLUMNS 4096u       /* server limit; more means misframing */

struct run {
	struct jm_mysql_conn *c;
	jm_query_cb cb;
	void *ctx;
	struct jm_proto_stats *st;
	uint64_t ts;
};

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le24(const uint8_t *p) { return le16(p) | (uint32_t)p[2] << 16; }
static uint32_t le32(const uint8_t *p) { return le24(p) | (uint32_t)p[3] << 24; }

/* Length-encoded integer at p[*off] within n bytes. */
static bool lenenc(const uint8_t *p, size_t n, size_t *off, uint64_t *v)
{
	size_t o = *off, k;

	if (o >= n)
		return false;
	switch (p[o]) {
	case 0xfb: case 0xff:
		return false;               /* NULL / ERR marker, not an integer */
	case 0xfc: k = 2; break;
	case 0xfd: k = 3; break;
	case 0xfe: k = 8; break;
	default:
		*v = p[o];
		*off = o + 1;
		return true;
	}
	if (n - o - 1 < k)
		return false;
	*v = 0;
	for (size_t i = 0; i < k; i++)
		*v |= (uint64_t)p[o + 1 + i] << (8 * i);
	*off = o + 1 + k;
	return true;
}

/* ------------------------------------------------------------------ */
/* Prepared statements                                                  */

static int stmt_find(struct jm_mysql_conn *c, uint32_t id)
{
	if (id == 0xffffffffu)              /* MariaDB: the last prepared */
		return c->last_prepared >= 0 && c->stmts[c->last_prepared].used ?
		       c->last_prepared : -1;
	for (int i = 0; i < JM_MYSQL_STMTS; i++)
		if (c->stmts[i].used && c->stmts[i].id == id)
			return i;
	return -1;
}

static void stmt_store(struct jm_mysql_conn *c, uint32_t id, const char *sql, size_t len,
		       bool truncated)
{
	int slot = stmt_find(c, id), i;

	if (slot < 0 || id == 0xffffffffu) {
		slot = 0;
		for (i = 0; i < JM_MYSQL_STMTS; i++) {
			if (!c->stmts[i].used) {
				slot = i;
				break;
			}
			if (c->stmts[i].last_used < c->stmts[slot].last_used)
				slot = i;       /* least recently used */
		}
	}
	struct jm_mysql_stmt *s = &c->stmts[slot];
	if (len > sizeof(s->sql)) {
		len = sizeof(s->sql);
		truncated = true;
	}
	memcpy(s->sql, sql, len);
	s->sql_len = (uint16_t)len;
	s->sql_truncated = truncated;
	s->id = id;
	s->used = true;
	s->gen = ++c->gen_clock;
	s->last_used = ++c->lru_clock;
	c->last_prepared = slot;
}

static void stmts_clear(struct jm_mysql_conn *c)
{
	for (int i = 0; i < JM_MYSQL_STMTS; i++)
		c->stmts[i].used = false;
	c->last_prepared = -1;
}

/* ------------------------------------------------------------------ */
/* Pending commands                                                     */

static struct jm_mysql_pending *q_at(struct jm_mysql_conn *c, uint32_t i)
{
	return &c->q[(c->q_head + i) % JM_MYSQL_PENDING_MAX];
}

static struct jm_mysql_pending *q_push(struct run *r, uint8_t kind, uint8_t com)
{
	struct jm_mysql_conn *c = r->c;
	struct jm_mysql_pending *e;

	if (c->q_len >= JM_MYSQL_PENDING_MAX) {
		r->st->parse_errors++;      /* deeper pipelining than we follow */
		return NULL;
	}
	e = q_at(c, c->q_len++);
	memset(e, 0, offsetof(struct jm_mysql_pending, sql));
	e->kind = kind;
	e->com = com;
	e->stmt_slot = -1;
	e->start_ns = r->ts;
	return e;
}

static void q_pop(struct jm_mysql_conn *c)
{
	if (c->q_len == 0)
		return;
	c->q_head = (c->q_head + 1) % JM_MYSQL_PENDING_MAX;
	c->q_len--;
	c->rstate = R_FIRST;
	c->cols_left = 0;
	/* Only the oldest command can have asked for a LOCAL INFILE, and the
	 * server answers it after the whole file: the transfer is over, even
	 * when TX missed the empty packet that ended it. */
	c->tx_infile = false;
}

/* Reports the oldest pending command (when it is a query, or a PREPARE
 * that failed: a statement the client saw fail) and drops it. */
static void q_complete(struct run *r, uint64_t end_ns)
{
	struct jm_mysql_conn *c = r->c;
	struct jm_mysql_pending *e;

	if (c->q_len == 0)
		return;
	e = q_at(c, 0);
	if ((e->kind == K_QUERY || (e->kind == K_PREPARE && e->error)) && !e->quiet && r->cb) {
		struct jm_query q;
		memset(&q, 0, sizeof(q));
		q.start_ns = e->start_ns;
		q.end_ns = end_ns;
		q.sql = "";
		if (e->com == COM_QUERY || e->com == COM_STMT_PREPARE) {
			q.sql = e->sql;
			q.sql_len = e->sql_len;
			q.sql_truncated = e->sql_truncated;
		} else {
			int s = e->stmt_slot;
			if (s >= 0 && c->stmts[s].gen != e->stmt_gen)
				s = -1;                 /* slot reused since */
			else if (s < 0)
				s = stmt_find(c, e->stmt_id);
			if (s >= 0) {
				q.sql = c->stmts[s].sql;
				q.sql_len = c->stmts[s].sql_len;
				q.sql_truncated = c->stmts[s].sql_truncated;
			} else {
				/* Prepared before we looked, evicted from the
				 * JM_MYSQL_STMTS LRU, or its id not captured:
				 * counted, with empty SQL as postgres.c reports
				 * an Execute of a statement it does not know
				 * (not " ...", which reads as a cut text). */
				r->st->parse_errors++;
			}
		}
		q.error = e->error;
		if (e->error)
			memcpy(q.sqlstate, e->sqlstate, sizeof(q.sqlstate));
		q.rows = e->rows;
		/* An error after results (a multi-statement or CALL failing in
		 * its middle, a result set failing after some rows) keeps the
		 * rows the client got before it; when part of the response
		 * went by unseen, those are unknown, failed or not. */
		q.has_rows = !e->rows_unknown && (!e->error || e->rows > 0);
		q.rows_unknown = e->rows_unknown;
		q.cmd = jm_sql_command(q.sql, q.sql_len, JM_SQL_MYSQL);
		c->last_error_code = e->error ? e->error_code : 0;
		r->cb(r->ctx, &q);
	} else if (e->error && !e->quiet && e->kind != K_QUERY) {
		/* A command that is no query failed (USE of an unknown
		 * database, a refused CHANGE_USER, ...): the job saw it fail,
		 * like a connection refused at its start. */
		r->st->unmatched_errors++;
	}
	q_pop(c);
}

/* RX lost its place while commands waited: the client only sends a new
 * command once the server has answered, so they are over. */
static void q_flush_unknown(struct run *r)
{
	struct jm_mysql_conn *c = r->c;

	while (c->q_len > 0) {
		q_at(c, 0)->rows_unknown = true;
		q_complete(r, c->last_rx_ns);
	}
}

/* ------------------------------------------------------------------ */
/* Server packets                                                       */

static void set_status(struct jm_mysql_conn *c, uint32_t status)
{
	c->no_backslash_escapes = (status & ST_NO_BACKSLASH) != 0;
	c->status_known = true;
}

/* OK (0x00) or OK-with-0xFE: affected rows and status.  `n` captured. */
static bool parse_ok(const uint8_t *p, size_t n, uint64_t *affected, uint32_t *status)
{
	size_t off = 1;
	uint64_t insert_id;

	if (!lenenc(p, n, &off, affected) || !lenenc(p, n, &off, &insert_id) || n - off < 2)
		return false;
	*status = le16(p + off);
	return true;
}

/* Result-set terminator (EOF, OK-with-0xFE) at p[0] == 0xFE: its status. */
static bool parse_terminator(const struct jm_mysql_conn *c, const uint8_t *p, size_t n,
			     uint32_t len, uint32_t *status)
{
	uint64_t affected;

	if (len == 5)                      /* EOF: 0xFE, warnings, status */
		return n >= 5 ? (*status = le16(p + 3), true) : false;
	if (len < 7 || c->deprecate_eof == 0)
		return false;
	return parse_ok(p, n, &affected, status);
}

static void record_error(struct jm_mysql_pending *e, const uint8_t *p, size_t n)
{
	e->error = true;
	e->error_code = n >= 3 ? (uint16_t)le16(p + 1) : 0;
	memcpy(e->sqlstate, "HY000", 6);       /* MySQL's "general error" */
	if (n >= 9 && p[3] == '#') {
		for (int i = 0; i < 5; i++) {
			unsigned char ch = p[4 + i];
			if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z')))
				return;
		}
		memcpy(e->sqlstate, p + 4, 5);
		e->sqlstate[5] = '\0';
	}
}

/* MariaDB progress reports are ERR packets with code 0xFFFF, not errors. */
static bool is_progress(const uint8_t *p, size_t n)
{
	return n >= 3 && p[0] == 0xff && le16(p + 1) == 0xffff;
}

static void rx_lose(struct run *r)
{
	struct jm_mysql_conn *c = r->c;

	c->rx.lost = true;
	if (c->q_len > 0)
		q_at(c, 0)->rows_unknown = true;
}

/* After the column definitions: an EOF unless CLIENT_DEPRECATE_EOF. */
static uint8_t after_defs(const struct jm_mysql_conn *c)
{
	return c->deprecate_eof == 1 ? R_ROWS : R_COLS_EOF;
}

/* A terminator of a result set or of a whole response. */
static void rx_end_of_result(struct run *r, uint32_t status)
{
	set_status(r->c, status);
	/* A cursor was opened (COM_STMT_EXECUTE with a cursor type; with
	 * CLIENT_DEPRECATE_EOF its definitions end with this OK-with-0xFE):
	 * the rows come later through COM_STMT_FETCH, not 0 of them. */
	if ((status & ST_CURSOR_EXISTS) && r->c->q_len > 0)
		q_at(r->c, 0)->rows_unknown = true;
	if (status & ST_MORE_RESULTS)
		r->c->rstate = R_FIRST;
	else
		q_complete(r, r->ts);
}

static void rx_query_response(struct run *r, const uint8_t *p, size_t n, uint32_t len)
{
	struct jm_mysql_conn *c = r->c;
	struct jm_mysql_pending *e = q_at(c, 0);
	uint64_t v;
	uint32_t status;

	if (n == 0) {
		/* The first byte fell into an uncaptured middle.  A column
		 * definition is never a terminator, and neither is a row too
		 * long to be one; anything else we cannot place. */
		if (len > 0 && c->rstate == R_COLDEFS) {
			if (--c->cols_left == 0)
				c->rstate = after_defs(c);
			return;
		}
		if (len > 0 && c->rstate == R_ROWS &&
		    ((c->deprecate_eof == 0 && len >= 9) || len > 48)) {
			e->rows++;
			return;
		}
		if (len == 0)
			r->st->parse_errors++;
		rx_lose(r);
		return;
	}
	switch (c->rstate) {
	case R_FIRST:
		if (p[0] == 0x00) {
			if (len < 7 || !parse_ok(p, n, &v, &status)) {
				e->rows_unknown = true;
				r->st->parse_errors++;
				q_complete(r, r->ts);
				return;
			}
			e->rows += v;
			rx_end_of_result(r, status);
		} else if (p[0] == 0xff) {
			if (is_progress(p, n))
				return;
			record_error(e, p, n);
			q_complete(r, r->ts);
		} else if (p[0] == 0xfb) {
			c->tx_infile = true;       /* client now streams the file */
		} else if (p[0] == 0xfe) {
			/* Not a valid first packet; an old-style terminator
			 * means the response is over anyway. */
			r->st->parse_errors++;
			e->rows_unknown = true;
			if (len < 9 && parse_terminator(c, p, n, len, &status))
				rx_end_of_result(r, status);
			else
				rx_lose(r);
		} else {
			size_t off = 0;
			if (!lenenc(p, n, &off, &v) || v == 0 || v > MAX_COLUMNS) {
				r->st->parse_errors++;
				rx_lose(r);
				return;
			}
			c->cols_left = v;
			c->rstate = R_COLDEFS;
			/* Optional metadata (MySQL resultset_metadata=NONE,
			 * MariaDB cached metadata): one more byte, 0 = no
			 * column definitions follow. */
			if (len == off + 1 && n > off && p[off] == 0)
				c->rstate = after_defs(c);
		}
		return;
	case R_COLDEFS:
		if (p[0] == 0xff && len < MAX_PAYLOAD) {
			record_error(e, p, n);
			q_complete(r, r->ts);
			return;
		}
		if (p[0] != 0x03) {                /* lenenc "def" catalog */
			r->st->parse_errors++;
			rx_lose(r);
			return;
		}
		if (--c->cols_left == 0)
			c->rstate = after_defs(c);
		return;
	case R_COLS_EOF:
		if (p[0] == 0xfe && len < 9) {
			if (len == 5) {
				c->deprecate_eof = 0;
				status = n >= 5 ? le16(p + 3) : 0;
				set_status(c, status);
				if (status & ST_CURSOR_EXISTS) {
					/* rows come later through COM_STMT_FETCH */
					e->rows_unknown = true;
					rx_end_of_result(r, status);
				} else {
					c->rstate = R_ROWS;
				}
				return;
			}
			c->deprecate_eof = 1;      /* empty result, OK terminator */
			if (parse_terminator(c, p, n, len, &status))
				rx_end_of_result(r, status);
			else {
				r->st->parse_errors++;
				rx_lose(r);
			}
			return;
		}
		if (p[0] == 0xff && len < MAX_PAYLOAD) {
			record_error(e, p, n);
			q_complete(r, r->ts);
			return;
		}
		if (c->deprecate_eof == 0)
			r->st->parse_errors++;     /* EOF missing: count it, go on */
		else
			c->deprecate_eof = 1;
		e->rows++;
		c->rstate = R_ROWS;
		return;
	case R_ROWS:
		/* A row starting with 0xFE needs a >16 MiB field, so a 0xFE
		 * packet shorter than MAX_PAYLOAD is the terminator. */
		if (p[0] == 0xfe && len < MAX_PAYLOAD) {
			if (!parse_terminator(c, p, n, len, &status)) {
				r->st->parse_errors++;
				e->rows_unknown = true;
				status = 0;
			}
			rx_end_of_result(r, status);
			return;
		}
		if (p[0] == 0xff && len < MAX_PAYLOAD) {
			record_error(e, p, n);
			q_complete(r, r->ts);
			return;
		}
		e->rows++;
		return;
	default:
		r->st->parse_errors++;
		rx_lose(r);
		return;
	}
}

/* COM_STMT_PREPARE response: STMT_PREPARE_OK, then the parameter and the
 * column definitions, each block closed by an EOF unless
 * CLIENT_DEPRECATE_EOF.  Returns true when the packet is not part of it (the
 * prepare is over) and must be handed to the next command. */
static void prep_normalise(struct jm_mysql_conn *c)
{
	for (;;) {
		if (c->prep_stage == PS_PARAMS && c->prep_params == 0)
			c->prep_stage = PS_COLS;          /* no block, no EOF */
		else if (c->prep_stage == PS_PARAMS_EOF && c->deprecate_eof == 1)
			c->prep_stage = PS_COLS;
		else if (c->prep_stage == PS_COLS && c->prep_cols == 0)
			c->prep_stage = PS_DONE;
		else if (c->prep_stage == PS_COLS_EOF && c->deprecate_eof == 1)
			c->prep_stage = PS_DONE;
		else
			return;
	}
}

/* The server rejected the oldest pending command, a PREPARE: a failed
 * query.  The server forgets its last statement on a failed prepare, so an
 * execute(0xFFFFFFFF) sent right behind it (mariadb_stmt_execute_direct
 * pipelines the two) fails the same way: the client reports that failure
 * once, as the prepare's, and so do we. */
static void prepare_failed(struct run *r, const uint8_t *p, size_t n)
{
	struct jm_mysql_conn *c = r->c;

	record_error(q_at(c, 0), p, n);
	c->last_prepared = -1;
	if (c->q_len > 1) {
		struct jm_mysql_pending *next = q_at(c, 1);
		if ((next->com == COM_STMT_EXECUTE || next->com == COM_STMT_BULK_EXECUTE) &&
		    next->stmt_id == 0xffffffffu)
			next->quiet = true;
	}
	q_complete(r, r->ts);
}

static bool rx_prepare_response(struct run *r, const uint8_t *p, size_t n, uint32_t len,
				bool seq_ok)
{
	struct jm_mysql_conn *c = r->c;
	struct jm_mysql_pending *e = q_at(c, 0);
	bool eof_due = c->prep_stage == PS_PARAMS_EOF || c->prep_stage == PS_COLS_EOF;
	bool is_eof = n >= 1 && p[0] == 0xfe && len < 9;

	if (c->rstate == R_FIRST) {
		if (!seq_ok || n == 0) {
			if (n > 0)
				r->st->parse_errors++;
			rx_lose(r);
			return false;
		}
		if (n >= 9 && p[0] == 0x00) {
			stmt_store(c, le32(p + 1), e->sql, e->sql_len, e->sql_truncated);
			c->prep_cols = le16(p + 5);
			c->prep_params = le16(p + 7);
			c->prep_stage = PS_PARAMS;
			c->rstate = R_PREP_DEFS;
			prep_normalise(c);
			if (c->prep_stage == PS_DONE)
				q_pop(c);
		} else if (p[0] == 0xff) {
			if (!is_progress(p, n))
				prepare_failed(r, p, n);
		} else {
			r->st->parse_errors++;
			q_pop(c);
		}
		return false;
	}
	/* With CLIENT_DEPRECATE_EOF unknown, the EOF closing a block may not
	 * come: what arrives instead is a column or the next response. */
	if (eof_due && c->deprecate_eof == -1 && !(seq_ok && is_eof)) {
		c->deprecate_eof = 1;
		if (c->prep_stage == PS_COLS_EOF || !seq_ok || c->prep_cols == 0) {
			q_pop(c);
			return true;
		}
		c->prep_stage = PS_COLS;
	}
	if (!seq_ok) {
		r->st->parse_errors++;
		rx_lose(r);
		return false;
	}
	switch (c->prep_stage) {
	case PS_PARAMS:
		if (--c->prep_params == 0)
			c->prep_stage = PS_PARAMS_EOF;
		break;
	case PS_COLS:
		if (--c->prep_cols == 0)
			c->prep_stage = PS_COLS_EOF;
		break;
	default:                                    /* an EOF is due */
		if (!is_eof) {
			r->st->parse_errors++;
			rx_lose(r);
			return false;
		}
		c->deprecate_eof = 0;
		c->prep_stage = c->prep_stage == PS_PARAMS_EOF ? PS_COLS : PS_DONE;
		break;
	}
	prep_normalise(c);
	if (c->prep_stage == PS_DONE)
		q_pop(c);
	return false;
}

/* A server packet with no command waiting for it.  An ERR is the server
 * hanging up (timeout, kill).  A lone OK is the whole answer to a command
 * TX did not see (its header fell into an uncaptured middle): the command
 * is lost, counted, but the framing is right and RX stays in sync, so the
 * end of the answers still opens the TX gate.  Anything else (a result
 * set of an unseen command, garbage) means we lost our place. */
static void rx_unasked(struct run *r, const uint8_t *p, size_t n, uint32_t len)
{
	uint64_t aff;
	uint32_t status;

	if (n >= 1 && p[0] == 0xff)
		return;
	r->st->parse_errors++;
	if (n >= 1 && p[0] == 0x00 && len >= 7 && parse_ok(p, n, &aff, &status) &&
	    !(status & ST_MORE_RESULTS)) {
		set_status(r->c, status);
		return;
	}
	rx_lose(r);
}

static void rx_response(struct run *r, const uint8_t *p, size_t n, uint32_t len,
			uint8_t first_seq, uint8_t last_seq)
{
	struct jm_mysql_conn *c = r->c;

	/* At most one hand-over per pending command: bounded. */
	for (int guard = 0; guard <= JM_MYSQL_PENDING_MAX; guard++) {
		struct jm_mysql_pending *e;
		uint8_t want;
		bool seq_ok;

		if (c->q_len == 0) {
			rx_unasked(r, p, n, len);
			return;
		}
		e = q_at(c, 0);
		want = e->started ? c->rx_next_seq : e->resp_seq;
		seq_ok = first_seq == want || e->seq_any;
		e->seq_any = false;    /* one packet's pass: the next ones follow it */
		if (!e->started && seq_ok) {
			e->started = true;
			c->rstate = R_FIRST;
			if (e->stmt_slot < 0 && e->com != COM_QUERY &&
			    (e->com == COM_STMT_EXECUTE || e->com == COM_STMT_BULK_EXECUTE)) {
				e->stmt_slot = stmt_find(c, e->stmt_id);
				if (e->stmt_slot >= 0)
					e->stmt_gen = c->stmts[e->stmt_slot].gen;
			}
		}
		if (e->kind == K_PREPARE) {
			uint8_t saved = c->rx_next_seq;
			c->rx_next_seq = (uint8_t)(last_seq + 1);
			if (rx_prepare_response(r, p, n, len, seq_ok)) {
				c->rx_next_seq = saved;
				continue;          /* belongs to the next command */
			}
			return;
		}
		if (!seq_ok) {
			r->st->parse_errors++;
			rx_lose(r);
			return;
		}
		c->rx_next_seq = (uint8_t)(last_seq + 1);
		if (n == 0 && e->kind != K_QUERY && e->kind != K_RESULT && e->kind != K_ONE) {
			if (len == 0)
				r->st->parse_errors++;
			rx_lose(r);            /* cannot tell what it was */
			return;
		}
		switch (e->kind) {
		case K_QUERY:
		case K_RESULT:
			rx_query_response(r, p, n, len);
			return;
		case K_SIMPLE:
			if (n >= 1 && p[0] == 0xff) {
				if (is_progress(p, n))
					return;
				record_error(e, p, n);
			} else if (n >= 1 && p[0] == 0x00) {
				uint64_t aff;
				uint32_t status;
				if (parse_ok(p, n, &aff, &status))
					set_status(c, status);
			}
			q_complete(r, r->ts);
			return;
		case K_ONE:
			q_complete(r, r->ts);
			return;
		case K_ROWS:
			if (n >= 1 && (p[0] == 0xfe || p[0] == 0xff) && len < MAX_PAYLOAD) {
				if (p[0] == 0xff)
					record_error(e, p, n);
				q_complete(r, r->ts);
			}
			return;
		case K_AUTH:
			if (n >= 1 && p[0] == 0xff)
				record_error(e, p, n);
			if (n >= 1 && (p[0] == 0x00 || p[0] == 0xff))
				q_complete(r, r->ts);
			return;
		default:
			q_complete(r, r->ts);
			return;
		}
	}
}

/* HandshakeV10: protocol 10, version NUL, thread id(4), scramble(8),
 * filler(1), caps low(2), charset(1), status(2), caps high(2), auth len(1),
 * reserved(6) + MariaDB extended caps(4) (or 10 reserved), ... */
static bool parse_greeting(struct jm_mysql_conn *c, const uint8_t *p, size_t n)
{
	const uint8_t *nul;
	size_t off;

	if (n < 2 || p[0] != 10)
		return false;
	nul = memchr(p + 1, 0, n - 1);
	if (!nul)
		return false;
	for (const uint8_t *v = p + 1; v + 7 <= nul; v++)     /* "10.11.6-MariaDB-..." */
		if (memcmp(v, "MariaDB", 7) == 0)
			c->mariadb = true;
	off = (size_t)(nul - p) + 1 + 4 + 8 + 1;
	if (n >= off + 2) {
		c->server_caps = le16(p + off);
		c->server_caps_known = true;
		if (n >= off + 7)
			c->server_caps |= le16(p + off + 5) << 16;
		if (!(c->server_caps & CAP_LONG_PASSWORD))
			c->mariadb = true;
		if (c->mariadb && n >= off + 8 + 6 + 4)
			c->server_ext_caps = le32(p + off + 8 + 6);
	}
	return true;
}

static void rx_packet(struct run *r)
{
	struct jm_mysql_conn *c = r->c;
	struct jm_mysql_dir *d = &c->rx;
	const uint8_t *p = c->rx_cap;
	size_t n = d->cap_len;
	uint32_t len = d->log_len;

	switch (c->phase) {
	case PH_GREETING:
		if (d->first_seq == 0 && parse_greeting(c, p, n)) {
			c->phase = PH_HSRESP;
		} else if (n >= 1 && p[0] == 0xff) {
			c->phase = PH_STOPPED;      /* refused: the server hangs up */
			c->stopped = true;
			r->st->unmatched_errors++;  /* the job saw it fail */
		} else {
			/* Picked up mid-stream: responses from here on. */
			c->phase = PH_COMMAND;
			rx_response(r, p, n, len, d->first_seq, d->seq);
		}
		break;
	case PH_HSRESP:
		r->st->parse_errors++;              /* server spoke out of turn */
		break;
	case PH_AUTH:
		if (n >= 1 && p[0] == 0x00) {
			c->phase = PH_COMMAND;
			if (c->compressed) {
				c->phase = PH_STOPPED;
				c->stopped = true;
			}
		} else if (n >= 1 && p[0] == 0xff) {
			c->phase = PH_STOPPED;      /* access denied */
			c->stopped = true;
			r->st->unmatched_errors++;  /* the job saw it fail */
		} else if (!(n >= 1 && (p[0] == 0xfe || p[0] == 0x01))) {
			r->st->parse_errors++;
		}
		break;
	case PH_COMMAND:
		rx_response(r, p, n, len, d->first_seq, d->seq);
		break;
	default:
		break;
	}
	/* The greeting's scramble and everything else: not kept. */
	memset(c->rx_cap, 0, d->cap_len);
}

/* ------------------------------------------------------------------ */
/* Client packets                                                       */

static bool known_command(uint8_t com)
{
	return (com >= COM_QUIT && com <= COM_RESET_CONNECTION) || com == COM_STMT_BULK_EXECUTE;
}

/* Binary value of a query attribute (MySQL 8 COM_QUERY).  false when the
 * type is unknown or the value is not fully captured. */
static bool skip_binary_value(const uint8_t *p, size_t n, size_t *off, uint8_t type)
{
	uint64_t v;
	size_t k;

	switch (type) {
	case 0x06: k = 0; break;                               /* NULL */
	case 0x01: k = 1; break;                               /* TINY */
	case 0x02: case 0x0d: k = 2; break;                    /* SHORT, YEAR */
	case 0x03: case 0x09: case 0x04: k = 4; break;         /* LONG, INT24, FLOAT */
	case 0x05: case 0x08: k = 8; break;                    /* DOUBLE, LONGLONG */
	case 0x07: case 0x0a: case 0x0b: case 0x0c:            /* temporal: length byte */
		if (*off >= n)
			return false;
		k = 1 + (size_t)p[*off];
		break;
	case 0x0f: case 0x10: case 0xf5: case 0xf6: case 0xf7: case 0xf8: case 0xf9:
	case 0xfa: case 0xfb: case 0xfc: case 0xfd: case 0xfe: case 0xff:
		if (!lenenc(p, n, off, &v) || v > n)
			return false;
		k = (size_t)v;
		break;
	default:
		return false;
	}
	if (n - *off < k)
		return false;
	*off += k;
	return true;
}

/* End of a COM_QUERY query attribute block that starts at p[1] (parameter
 * count, parameter-set count, null bitmap, types and names, values), or 0
 * when it does not parse within the captured prefix.  `strict`: the
 * parameter-set count must be 1 (the only value clients send), used when
 * capabilities are unknown and the block is a guess. */
static size_t attrs_end(const uint8_t *p, size_t n, bool strict)
{
	uint64_t count, sets;
	size_t off = 1;

	if (!lenenc(p, n, &off, &count) || !lenenc(p, n, &off, &sets))
		return 0;
	if (strict && sets != 1)
		return 0;
	if (count == 0)
		return off;
	if (count > 1024)
		return 0;
	size_t bitmap = (size_t)(count + 7) / 8, types;
	if (n - off < bitmap + 1 || p[off + bitmap] != 1)
		return 0;                           /* types must be sent */
	const uint8_t *nulls = p + off;
	off += bitmap + 1;
	types = off;
	for (uint64_t i = 0; i < count; i++) {     /* type(2) + name */
		uint64_t nl;
		if (n - off < 2)
			return 0;
		off += 2;
		if (!lenenc(p, n, &off, &nl) || nl > n - off)
			return 0;
		off += (size_t)nl;
	}
	/* Values follow in order; walk the type list again. */
	size_t toff = types;
	for (uint64_t i = 0; i < count; i++) {
		uint8_t type = p[toff];
		uint64_t nl;
		toff += 2;
		if (!lenenc(p, n, &toff, &nl))
			return 0;
		toff += (size_t)nl;
		if (nulls[i / 8] & (1u << (i % 8)))
			continue;
		if (!skip_binary_value(p, n, &off, type))
			return 0;
	}
	return off;
}

/* A byte that can start the text of a COM_QUERY: a letter, whitespace, an
 * opening parenthesis or brace, or the start of a comment.  An attribute
 * block starts with its parameter count, a byte outside this set unless
 * the count is 9, 10, 13, 32, 35, 40, 45, 47, 123 or 65 and more. */
static bool sql_start_byte(uint8_t b)
{
	return ((b | 0x20) >= 'a' && (b | 0x20) <= 'z') || b == ' ' || b == '\t' ||
	       b == '\n' || b == '\r' || b == '(' || b == '{' || b == '/' || b == '-' ||
	       b == '#';
}

/* Offset of the SQL text in a COM_QUERY payload of `len` bytes, or 0 when
 * it cannot be located in the captured prefix p[0..n). */
static size_t query_sql_offset(const struct jm_mysql_conn *c, const uint8_t *p, size_t n,
			       uint32_t len)
{
	if (c->server_caps_known && c->client_caps_known) {
		if (!(c->server_caps & c->client_caps & CAP_QUERY_ATTRIBUTES))
			return 1;
		return attrs_end(p, n, false);
	}
	/* A client we did not see connect may send an attribute block (MySQL
	 * 8 CLIENT_QUERY_ATTRIBUTES), whose names and values must never be
	 * taken for SQL.  Text that does not start like SQL is such a block
	 * or nothing we can read: SQL unknown.  Text that starts like SQL is
	 * still a block when its second byte is the parameter-set count 1
	 * (no SQL has a control byte there): its SQL is after the block, or
	 * unknown when the block does not parse in the captured prefix (its
	 * values longer than the head) -- never the block itself. */
	if (n < 2)
		return 1;                           /* empty query: nothing to read */
	if (!sql_start_byte(p[1]))
		return attrs_end(p, n, true);
	if (n < 3)
		return len > n ? 0 : 1;             /* the deciding byte unseen */
	if (p[2] == 0x01)
		return attrs_end(p, n, true);
	return 1;
}

static void tx_command(struct run *r)
{
	struct jm_mysql_conn *c = r->c;
	struct jm_mysql_dir *d = &c->tx;
	const uint8_t *p = c->tx_cap;
	size_t n = d->cap_len, off;
	uint32_t len = d->log_len;
	struct jm_mysql_pending *e = NULL;

	if (len == 0 || n == 0) {
		/* Empty is garbage.  A command byte lost in an uncaptured
		 * middle is not: its response will arrive unasked and RX
		 * realigns at the next command. */
		if (!d->cap_gap)
			r->st->parse_errors++;
		return;
	}
	if (c->rx.lost && p[0] != COM_STMT_CLOSE && p[0] != COM_STMT_SEND_LONG_DATA) {
		q_flush_unknown(r);
		c->rx_realign = true;
	}
	switch (p[0]) {
	case COM_QUIT:
		c->phase = PH_STOPPED;
		c->stopped = true;
		return;
	case COM_STMT_CLOSE:
		if (n >= 5) {
			int s = stmt_find(c, le32(p + 1));
			if (s >= 0)
				c->stmts[s].used = false;
		}
		return;
	case COM_STMT_SEND_LONG_DATA:
		return;
	case COM_QUERY:
	case COM_STMT_PREPARE:
		e = q_push(r, p[0] == COM_QUERY ? K_QUERY : K_PREPARE, p[0]);
		if (!e)
			return;
		off = p[0] == COM_QUERY ? query_sql_offset(c, p, n, len) : 1;
		if (off == 0 || off > n) {
			e->sql_len = 0;
			e->sql_truncated = true;
		} else {
			size_t k = n - off;
			if (k > sizeof(e->sql))
				k = sizeof(e->sql);
			memcpy(e->sql, p + off, k);
			e->sql_len = (uint16_t)k;
			e->sql_truncated = d->cap_gap || k < (size_t)len - off;
		}
		break;
	case COM_STMT_EXECUTE:
	case COM_STMT_BULK_EXECUTE:
		e = q_push(r, K_QUERY, p[0]);
		if (!e)
			return;
		if (n >= 5) {
			e->stmt_id = le32(p + 1);
			if (e->stmt_id != 0xffffffffu) {
				e->stmt_slot = stmt_find(c, e->stmt_id);
				if (e->stmt_slot >= 0) {
					e->stmt_gen = c->stmts[e->stmt_slot].gen;
					c->stmts[e->stmt_slot].last_used = ++c->lru_clock;
				}
			}
		} else {
			e->stmt_id = 0xfffffffeu;   /* unknowable */
		}
		break;
	case COM_STMT_FETCH:
	case COM_FIELD_LIST:
		e = q_push(r, K_ROWS, p[0]);
		break;
	case COM_PROCESS_INFO:
		e = q_push(r, K_RESULT, p[0]);
		break;
	case COM_STATISTICS:
		e = q_push(r, K_ONE, p[0]);
		break;
	case COM_CHANGE_USER:
		stmts_clear(c);
		e = q_push(r, K_AUTH, p[0]);
		break;
	case COM_RESET_CONNECTION:
		stmts_clear(c);
		e = q_push(r, K_SIMPLE, p[0]);
		break;
	case COM_BINLOG_DUMP:
	case COM_BINLOG_DUMP_GTID:
	case COM_TABLE_DUMP:
		c->phase = PH_STOPPED;              /* replication stream follows */
		c->stopped = true;
		return;
	default:
		if (!known_command(p[0]))
			r->st->parse_errors++;      /* the server will answer ERR */
		e = q_push(r, K_SIMPLE, p[0]);
		break;
	}
	if (e)
		e->resp_seq = (uint8_t)(d->seq + 1);
}

static void tx_handshake_response(struct run *r)
{
	struct jm_mysql_conn *c = r->c;
	const uint8_t *p = c->tx_cap;
	size_t n = c->tx.cap_len;
	uint32_t caps, both;

	if (n < 2) {
		r->st->parse_errors++;
		c->phase = PH_AUTH;
		return;
	}
	caps = le16(p);
	if ((caps & CAP_PROTOCOL_41) && n >= 4)
		caps = le32(p);
	c->client_caps = caps;
	c->client_caps_known = true;
	if (c->mariadb && n >= 32)
		c->client_ext_caps = le32(p + 28);
	if (caps & CAP_SSL) {
		/* SSLRequest: TLS from the next byte on. */
		c->tls = true;
		c->phase = PH_STOPPED;
		c->stopped = true;
		return;
	}
	both = c->server_caps_known ? (caps & c->server_caps) : caps;
	c->deprecate_eof = (both & CAP_DEPRECATE_EOF) ? 1 : 0;
	c->compressed = (both & (CAP_COMPRESS | CAP_ZSTD)) != 0;
	c->phase = PH_AUTH;
}

static void tx_packet(struct run *r)
{
	struct jm_mysql_conn *c = r->c;
	struct jm_mysql_dir *d = &c->tx;
	uint8_t seq = d->first_seq;

	switch (c->phase) {
	case PH_GREETING:
		if (seq == 0 && d->cap_len >= 1 && known_command(c->tx_cap[0])) {
			c->phase = PH_COMMAND;      /* picked up mid-stream */
			tx_command(r);
		} else if (seq == 1) {
			tx_handshake_response(r);
		} else {
			r->st->parse_errors++;
		}
		break;
	case PH_HSRESP:
		tx_handshake_response(r);
		break;
	case PH_AUTH:
		if (seq == 0) {                     /* auth done (OK missed) */
			c->phase = PH_COMMAND;
			tx_command(r);
		}
		break;
	case PH_COMMAND:
		if (seq == 0 && !c->tx_infile) {
			tx_command(r);
		} else {
			/* LOCAL INFILE data (an empty packet ends it) or auth
			 * data of COM_CHANGE_USER: the server answers next. */
			if (c->tx_infile && d->log_len == 0)
				c->tx_infile = false;
			c->rx_next_seq = (uint8_t)(d->seq + 1);
		}
		break;
	default:
		break;
	}
	/* SQL was copied where needed; attribute values and the rest go. */
	memset(c->tx_cap, 0, d->cap_len);
}

/* ------------------------------------------------------------------ */
/* Framing                                                              */

/* Prefix wanted of a logical packet before its first byte is known. */
static uint32_t want_initial(const struct jm_mysql_conn *c, int rx, uint8_t seq)
{
	if (rx)
		return c->phase == PH_GREETING ? JM_MYSQL_RX_CAP : 1;
	switch (c->phase) {
	case PH_GREETING:
	case PH_HSRESP:
		/* seq 1: HandshakeResponse; its first 32 bytes are fixed
		 * fields (capabilities, charset, filler), never secrets. */
		return seq == 1 ? 32 : (seq == 0 ? 1 : 0);
	case PH_AUTH:
		return seq == 0 ? 1 : 0;            /* auth data: nothing */
	case PH_COMMAND:
		return (seq == 0 && !c->tx_infile) ? 1 : 0;
	default:
		return 0;
	}
}

/* ... and once the first byte is known. */
static uint32_t want_refined(const struct jm_mysql_conn *c, int rx, uint32_t cur, uint8_t b0)
{
	if (!rx) {
		if (cur != 1)
			return cur;                     /* handshake response */
		switch (b0) {
		case COM_QUERY:
		case COM_STMT_PREPARE:
			return JM_MYSQL_TX_CAP;
		case COM_STMT_EXECUTE:
		case COM_STMT_BULK_EXECUTE:
		case COM_STMT_CLOSE:
		case COM_STMT_RESET:
		case COM_STMT_FETCH:
		case COM_STMT_SEND_LONG_DATA:
			return 5;                   /* command + statement id */
		default:
			return 1;
		}
	}
	if (c->phase == PH_GREETING && b0 == 10)
		return JM_MYSQL_RX_CAP;
	switch (b0) {
	case 0x00: return 23;   /* OK: header, 2 lenenc, status, warnings */
	case 0xfe: return 23;   /* EOF / OK terminator */
	case 0xff: return 9;    /* ERR: header, code, '#', SQLSTATE; no message */
	default: break;
	}
	if (c->rstate == R_FIRST &&
	    (c->q_len == 0 || c->q[c->q_head % JM_MYSQL_PENDING_MAX].kind != K_ONE))
		return 10;      /* column count (lenenc) + optional metadata flag */
	return 1;               /* rows, definitions, auth data: first byte only */
}

static void packet_end(struct run *r, int rx)
{
	struct jm_mysql_dir *d = rx ? &r->c->rx : &r->c->tx;

	d->in_body = false;
	if (d->phys_len == MAX_PAYLOAD) {
		d->more = true;                     /* continues in the next packet */
		return;
	}
	d->more = false;
	if (rx)
		rx_packet(r);
	else
		tx_packet(r);
}

static void packet_begin(struct run *r, int rx)
{
	struct jm_mysql_conn *c = r->c;
	struct jm_mysql_dir *d = rx ? &c->rx : &c->tx;
	uint8_t seq = d->hdr[3];

	if (d->more) {
		if (seq != (uint8_t)(d->seq + 1)) {
			r->st->parse_errors++;      /* not the continuation we expect */
			d->lost = true;
			if (rx)
				rx_lose(r);
			d->in_body = false;
			return;
		}
	} else {
		d->first_seq = seq;
		d->log_len = 0;
		d->cap_len = 0;
		d->cap_gap = false;
		d->cap_want = want_initial(c, rx, seq);
	}
	d->seq = seq;
	d->phys_len = le24(d->hdr);
	d->phys_got = 0;
	d->in_body = true;
	if (d->phys_len == 0)
		packet_end(r, rx);
}

static void capture(struct run *r, int rx, const uint8_t *p, size_t k)
{
	struct jm_mysql_conn *c = r->c;
	struct jm_mysql_dir *d = rx ? &c->rx : &c->tx;
	uint8_t *buf = rx ? c->rx_cap : c->tx_cap;
	size_t bufsz = rx ? sizeof(c->rx_cap) : sizeof(c->tx_cap);

	d->log_len = (d->log_len > UINT32_MAX - k) ? UINT32_MAX : d->log_len + (uint32_t)k;
	while (k > 0 && d->cap_len < d->cap_want && d->cap_len < bufsz) {
		size_t m = d->cap_want - d->cap_len;
		if (m > bufsz - d->cap_len)
			m = bufsz - d->cap_len;
		if (d->cap_len == 0)
			m = 1;                      /* decide the rest on the first byte */
		if (m > k)
			m = k;
		memcpy(buf + d->cap_len, p, m);
		d->cap_len += (uint32_t)m;
		p += m;
		k -= m;
		if (d->cap_len == 1)
			d->cap_want = want_refined(c, rx, d->cap_want, buf[0]);
	}
}

static void consume(struct run *r, int rx, const uint8_t *p, size_t n)
{
	struct jm_mysql_dir *d = rx ? &r->c->rx : &r->c->tx;

	while (n > 0 && !d->lost && !r->c->stopped) {
		if (!d->in_body) {
			size_t k = 4u - d->hdr_have;
			if (k > n)
				k = n;
			memcpy(d->hdr + d->hdr_have, p, k);
			d->hdr_have = (uint8_t)(d->hdr_have + k);
			p += k;
			n -= k;
			if (d->hdr_have < 4)
				return;
			d->hdr_have = 0;
			packet_begin(r, rx);
			continue;
		}
		size_t k = d->phys_len - d->phys_got;
		if (k > n)
			k = n;
		capture(r, rx, p, k);
		d->phys_got += (uint32_t)k;
		p += k;
		n -= k;
		if (d->phys_got == d->phys_len)
			packet_end(r, rx);
	}
}

/* An uncaptured middle of `gap` bytes. */
static void skip(struct run *r, int rx, uint64_t gap)
{
	struct jm_mysql_conn *c = r->c;
	struct jm_mysql_dir *d = rx ? &c->rx : &c->tx;

	r->st->bytes_skipped += gap;
	while (gap > 0 && !d->lost && !c->stopped) {
		if (!d->in_body) {
			/* A header we cannot read.  A client command whose
			 * continuation got lost still went out: report it. */
			if (!rx && d->more && c->phase == PH_COMMAND && d->first_seq == 0 &&
			    d->cap_len > 0 && !c->tx_infile) {
				d->cap_gap = true;
				tx_packet(r);
				if (c->q_len > 0)
					q_at(c, c->q_len - 1)->seq_any = true;
			}
			/* LOCAL INFILE data went by unseen: where it ended,
			 * and so the sequence id the server's answer takes,
			 * is unknown.  That answer is the next server packet. */
			if (!rx && c->tx_infile && c->q_len > 0)
				q_at(c, 0)->seq_any = true;
			d->lost = true;
			if (rx)
				rx_lose(r);
			return;
		}
		uint64_t k = d->phys_len - d->phys_got;
		if (k > gap)
			k = gap;
		if (d->cap_len < d->cap_want) {
			d->cap_gap = true;              /* the prefix stops here */
			d->cap_want = d->cap_len;
		}
		d->log_len = (d->log_len > UINT32_MAX - k) ? UINT32_MAX : d->log_len + (uint32_t)k;
		d->phys_got += (uint32_t)k;
		gap -= k;
		if (d->phys_got == d->phys_len)
			packet_end(r, rx);
	}
}

static void dir_restart(struct jm_mysql_dir *d)
{
	memset(d, 0, sizeof(*d));
}

/* ------------------------------------------------------------------ */
/* RX resynchronisation on a fragment end                               */

/* 1: a packet that can end a response on its own; 2: an OK (0x00) that can
 * only end one after a result set announcing more results; 0: neither. */
static int terminator_kind(const struct jm_mysql_conn *c, const uint8_t *p, uint32_t len)
{
	uint64_t v;
	uint32_t status;

	if (p[0] == 0xfe) {
		if (!parse_terminator(c, p, len, len, &status))
			return 0;
		if (len > 5 && !parse_ok(p, len, &v, &status))
			return 0;
		return (status & 0x8000u) ? 0 : 1;
	}
	if (p[0] == 0xff) {
		if (len < 9 || p[3] != '#' || le16(p + 1) == 0xffff)
			return 0;
		for (int i = 4; i < 9; i++)
			if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'Z')))
				return 0;
		return 1;
	}
	if (p[0] == 0x00 && len >= 7 && parse_ok(p, len, &v, &status) && !(status & 0x8000u))
		return 2;
	return 0;
}

static bool more_results_packet(const struct jm_mysql_conn *c, const uint8_t *p, uint32_t len)
{
	uint32_t status;

	return p[0] == 0xfe && parse_terminator(c, p, len, len, &status) &&
	       (status & ST_MORE_RESULTS);
}

/* Finds the last packet of a sequence-consistent chain ending exactly at
 * b + n; returns its offset or -1. */
static long find_terminator(const struct jm_mysql_conn *c, const uint8_t *b, size_t n)
{
	uint8_t ok[JM_MYSQL_CARRY + JM_MYSQL_RESYNC_WIN + 1];
	size_t p, best = n;

	if (n < 5 || n > sizeof(ok) - 1)
		return -1;
	memset(ok, 0, n + 1);
	for (p = n - 5;; p--) {
		uint32_t len = le24(b + p);
		size_t q = p + 4 + len;
		if (len > 0 && len < MAX_PAYLOAD && q <= n) {
			if (q == n) {
				ok[p] = (uint8_t)terminator_kind(c, b + p + 4, len);
			} else if (ok[q] && q + 4 <= n && b[q + 3] == (uint8_t)(b[p + 3] + 1)) {
				if (ok[q] == 1)
					ok[p] = 1;
				else if (more_results_packet(c, b + p + 4, len))
					ok[p] = 1;
			}
			if (ok[p] == 1)
				best = p;
		}
		if (p == 0)
			break;
	}
	if (best == n)
		return -1;
	/* Walk the chain to its last packet. */
	for (p = best;;) {
		size_t q = p + 4 + le24(b + p);
		if (q >= n)
			return (long)p;
		p = q;
	}
}

/* b[0..n) are the last captured bytes of an RX fragment (contiguous with
 * its end).  Regain framing when they end with a response terminator. */
static bool rx_resync(struct run *r, const uint8_t *b, size_t n)
{
	struct jm_mysql_conn *c = r->c;
	long t = find_terminator(c, b, n);
	uint32_t len, status;
	uint64_t v;

	if (t < 0)
		return false;
	len = le24(b + t);
	dir_restart(&c->rx);
	c->rx_realign = false;
	c->rx_next_seq = (uint8_t)(b[t + 3] + 1);
	r->st->resyncs++;
	if (c->q_len == 0 || c->phase != PH_COMMAND)
		return true;
	const uint8_t *p = b + t + 4;
	struct jm_mysql_pending *e = q_at(c, 0);
	e->rows_unknown = true;
	e->started = true;
	if (p[0] == 0xff && e->kind == K_PREPARE) {
		prepare_failed(r, p, len);
	} else if (p[0] == 0xff) {
		record_error(e, p, len);
		q_complete(r, r->ts);
	} else if (p[0] == 0xfe && parse_terminator(c, p, len, len, &status)) {
		rx_end_of_result(r, status);
	} else if (p[0] == 0x00 && parse_ok(p, len, &v, &status)) {
		e->rows += v;
		rx_end_of_result(r, status);
	}
	return true;
}

/* Out of sync on RX: look at the end of this fragment.  `a`/`b` are the
 * fragment's contiguous captured end in up to two pieces (head part and
 * tail part of a whole fragment); `contig` says whether the previous
 * fragment's carry joins up with them. */
static void rx_try_end(struct run *r, const uint8_t *a, size_t an, const uint8_t *b,
		       size_t bn, bool contig)
{
	struct jm_mysql_conn *c = r->c;
	uint8_t win[JM_MYSQL_CARRY + JM_MYSQL_RESYNC_WIN];
	size_t w = 0, total = an + bn;

	if (contig && c->rx_carry_len > 0 && total < JM_MYSQL_RESYNC_WIN) {
		memcpy(win, c->rx_carry, c->rx_carry_len);
		w = c->rx_carry_len;
	}
	if (total > JM_MYSQL_RESYNC_WIN) {             /* keep only the end */
		size_t drop = total - JM_MYSQL_RESYNC_WIN;
		if (drop >= an) {
			b += drop - an;
			bn -= drop - an;
			an = 0;
		} else {
			a += drop;
			an -= drop;
		}
	}
	if (an)
		memcpy(win + w, a, an);
	w += an;
	if (bn)
		memcpy(win + w, b, bn);
	w += bn;
	if (rx_resync(r, win, w)) {
		c->rx_carry_len = 0;
		return;
	}
	size_t keep = w < JM_MYSQL_CARRY ? w : JM_MYSQL_CARRY;
	memcpy(c->rx_carry, win + w - keep, keep);
	c->rx_carry_len = (uint16_t)keep;
}

/* Payload length bounds of a command a client may send at any time (the
 * ones a resync may start with); false for the rest (replication,
 * server-internal, unknown). */
static bool command_len_bounds(uint8_t com, uint32_t *min, uint32_t *max)
{
	*min = 2;
	*max = MAX_PAYLOAD;
	switch (com) {
	case COM_QUIT: case COM_STATISTICS: case COM_PROCESS_INFO: case 0x0d /* DEBUG */:
	case 0x0e /* PING */: case COM_RESET_CONNECTION:
		*min = *max = 1;
		return true;
	case 0x07 /* REFRESH */: *min = *max = 2; return true;
	case 0x1b /* SET_OPTION */: *min = *max = 3; return true;
	case 0x0c /* PROCESS_KILL */: case COM_STMT_CLOSE: case COM_STMT_RESET:
		*min = *max = 5;
		return true;
	case COM_STMT_FETCH: *min = *max = 9; return true;
	case COM_STMT_EXECUTE: *min = 10; return true;   /* id, flags, iterations */
	case COM_STMT_SEND_LONG_DATA: *min = 7; return true;
	case COM_STMT_BULK_EXECUTE: *min = 7; return true;
	case COM_INIT_DB: case COM_QUERY: case COM_FIELD_LIST: case COM_CHANGE_USER:
	case COM_STMT_PREPARE:
		return true;
	default:
		return false;
	}
}

/* A TX fragment of `total` bytes whose captured head p[0..n) starts with a
 * command packet: sequence 0, a command a client sends, a payload length
 * that command can have, and, for a fixed-size command, the whole packet
 * within the send (clients write a small command in one go).  Text
 * commands must start like SQL unless query attributes may precede it.
 * File data or a row of a batch can still pass: this is only checked
 * where the stream is known to be at a command boundary (tx_gate). */
static bool tx_plausible_start(const struct jm_mysql_conn *c, const uint8_t *p, size_t n,
			       uint32_t total)
{
	uint32_t len, min, max;

	if (c->phase != PH_COMMAND || n < 5 || p[3] != 0)
		return false;
	len = le24(p);
	if (!command_len_bounds(p[4], &min, &max) || len < min || len > max)
		return false;
	if (max < MAX_PAYLOAD && (uint64_t)len + 4 > total)
		return false;
	if ((p[4] == COM_QUERY || p[4] == COM_STMT_PREPARE) && n >= 6 && !sql_start_byte(p[5])) {
		bool attrs = p[4] == COM_QUERY &&
			     !(c->server_caps_known && c->client_caps_known &&
			       !(c->server_caps & c->client_caps & CAP_QUERY_ATTRIBUTES));
		if (!attrs)
			return false;
	}
	return true;
}

/* RX is in sync at a packet boundary with every command we know of
 * answered and no LOCAL INFILE running: the client's next send, if TX is
 * lost, starts a command (the protocol is request/response).  A client
 * that pipelines commands TX did not see is the exception: their answers
 * come unasked (counted as parse errors), and a result set among them
 * drops RX sync, closing the gate until a terminator ends a recv. */
static bool rx_at_rest(const struct jm_mysql_conn *c)
{
	const struct jm_mysql_dir *d = &c->rx;

	return c->phase == PH_COMMAND && !c->stopped && !d->lost && !c->rx_realign &&
	       !d->in_body && d->hdr_have == 0 && !d->more && c->q_len == 0 && !c->tx_infile;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                         */

void jm_mysql_init(struct jm_mysql_conn *c)
{
	if (!c)
		return;
	memset(c, 0, sizeof(*c));      /* also wipes SQL text on close */
	c->phase = PH_GREETING;
	c->deprecate_eof = -1;
	c->last_prepared = -1;
}

void jm_mysql_close(struct jm_mysql_conn *c, uint64_t ts_ns, jm_query_cb cb, void *ctx)
{
	struct jm_proto_stats scratch;
	struct run r = { c, cb, ctx, &scratch, ts_ns };

	if (!c)
		return;
	memset(&scratch, 0, sizeof(scratch));
	if (c->phase == PH_COMMAND && !c->stopped && c->rx.lost) {
		q_flush_unknown(&r);   /* their answers may have gone by unseen */
	} else if (c->phase == PH_COMMAND && !c->stopped) {
		while (c->q_len > 0) {
			struct jm_mysql_pending *e = q_at(c, 0);
			/* No answer, or the connection ended inside it: what
			 * the client saw is a lost connection (CR_SERVER_LOST).
			 * Other commands go unreported, as always. */
			if (e->kind == K_QUERY) {
				e->error = true;
				e->error_code = 2013;
				memcpy(e->sqlstate, "08S01", sizeof(e->sqlstate));
			}
			q_complete(&r, ts_ns);
		}
	}
	jm_mysql_init(c);
}

/* Does sql[0..len) name sql_mode (any case)? */
static bool names_sql_mode(const char *sql, size_t len)
{
	static const char w[] = "sql_mode";

	for (size_t i = 0; sql && i + sizeof(w) - 1 <= len; i++) {
		size_t k = 0;
		while (k < sizeof(w) - 1 &&
		       (sql[i + k] >= 'A' && sql[i + k] <= 'Z' ? sql[i + k] | 0x20 : sql[i + k]) == w[k])
			k++;
		if (k == sizeof(w) - 1)
			return true;
	}
	return false;
}

unsigned jm_mysql_sql_flags(const struct jm_mysql_conn *c, const char *sql, size_t len)
{
	if (!c || !c->status_known || names_sql_mode(sql, len))
		return JM_SQL_MYSQL;
	return JM_SQL_MYSQL | (c->no_backslash_escapes ? JM_SQL_STD_STRINGS : JM_SQL_BACKSLASH_STRINGS);
}

/* TX is lost: may this send restart it?  Only at a command boundary the
 * RX side vouches for (tx_gate), never inside LOCAL INFILE data, and only
 * when the send starts like a command.  A send that should start a
 * command but does not is counted. */
static bool tx_regain(struct run *r, const uint8_t *head, uint32_t hl, uint32_t total)
{
	if (!r->c->tx_gate)
		return false;
	if (tx_plausible_start(r->c, head, hl, total))
		return true;
	r->st->parse_errors++;
	return false;
}

static void feed_fragment(struct run *r, const struct jm_fragment *f)
{
	struct jm_mysql_conn *c = r->c;
	struct jm_mysql_dir *d;
	const uint8_t *head, *tail;
	uint32_t total, hl, tl, tail_part;
	uint64_t gap = 0;
	int rx;

	rx = f->dir == JM_DIR_RX;
	d = rx ? &c->rx : &c->tx;

	total = f->total_len;
	head = f->head;
	tail = f->tail;
	hl = head ? f->head_len : 0;
	tl = tail ? f->tail_len : 0;
	if (hl > total)
		hl = total;
	if (tl > total)
		tl = total;
	if ((uint64_t)hl + tl >= total) {
		tail_part = total - hl;            /* the tail's last bytes follow the head */
		tail = tail ? tail + (tl - tail_part) : NULL;
	} else {
		tail_part = tl;
		gap = (uint64_t)total - hl - tl;
	}
	if (rx)
		c->last_rx_ns = f->ts_ns;
	if (d->lost) {
		bool regain = rx ? c->rx_realign : tx_regain(r, head, hl, total);
		if (!regain) {
			r->st->bytes_skipped += gap;
			if (rx) {
				if (gap)
					rx_try_end(r, NULL, 0, tail, tail_part, false);
				else
					rx_try_end(r, head, hl, tail, tail_part, true);
			}
			return;
		}
		dir_restart(d);
		r->st->resyncs++;
		if (rx) {
			c->rx_realign = false;
			c->rx_carry_len = 0;
		}
	}
	consume(r, rx, head, hl);
	if (gap && !d->lost && !c->stopped)
		skip(r, rx, gap);
	else if (gap)
		r->st->bytes_skipped += gap;
	if (!d->lost && !c->stopped) {
		consume(r, rx, tail, tail_part);
		return;
	}
	if (rx && d->lost && !c->stopped && !c->rx_realign) {
		c->rx_carry_len = 0;
		if (gap)
			rx_try_end(r, NULL, 0, tail, tail_part, false);
		else
			rx_try_end(r, head, hl, tail, tail_part, false);
	}
}

void jm_mysql_feed(struct jm_mysql_conn *c, const struct jm_fragment *f,
		   jm_query_cb cb, void *ctx, struct jm_proto_stats *st)
{
	struct jm_proto_stats dummy;
	struct run r;

	if (!c || !f || c->stopped)
		return;
	memset(&dummy, 0, sizeof(dummy));
	r.c = c;
	r.cb = cb;
	r.ctx = ctx;
	r.st = st ? st : &dummy;
	r.ts = f->ts_ns;
	feed_fragment(&r, f);
	/* The gate is good for the one send that follows the answers. */
	c->tx_gate = f->dir == JM_DIR_RX && rx_at_rest(c);
}

bool jm_mysql_is_quit(const uint8_t *buf, size_t len)
{
	return buf && len == 5 && buf[0] == 1 && buf[1] == 0 && buf[2] == 0 && buf[4] == 0x01;
}

bool jm_mysql_detect_server_greeting(const uint8_t *buf, size_t len)
{
	uint32_t plen;
	size_t end, i;

	if (!buf || len < 6)
		return false;
	plen = le24(buf);
	if (buf[3] != 0 || buf[4] != 10 || plen < 18 || plen > 1024)
		return false;
	end = 4 + (size_t)plen < len ? 4 + (size_t)plen : len;
	if (!(buf[5] >= '0' && buf[5] <= '9'))
		return false;
	for (i = 5; i < end; i++) {
		if (buf[i] == 0)
			break;
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return false;
	}
	/* NUL seen, and thread id + scramble + filler + capabilities fit. */
	return i < end && (size_t)plen >= (i - 4) + 1 + 4 + 8 + 1 + 2;
}
