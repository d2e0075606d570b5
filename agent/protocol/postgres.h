/* PostgreSQL frontend/backend protocol v3 parser, client side.
 *
 * We trace the client process, so TX carries frontend messages and RX
 * backend messages.  The parser is pure (see protocol.h): fragments in,
 * completed queries out through jm_query_cb.  All state lives in struct
 * jm_pg_conn, which is fixed-size (~150 KiB): allocate one per connection
 * (calloc or embed), call jm_pg_init() once, then jm_pg_feed() for every
 * fragment in syscall order.  No allocation, no recursion, no length taken
 * on trust.
 *
 * What is a query:
 *   - simple protocol: one Query ('Q') message, completed by its
 *     ReadyForQuery.  A multi-statement string is one query whose rows are
 *     the sum of its CommandComplete tags (a statement that fails adds the
 *     DataRows it sent before its ErrorResponse, or makes the rows unknown
 *     when a capture gap hid them) and whose cmd is the first write
 *     tag (INSERT/UPDATE/DELETE/MERGE/COPY FROM/CREATE TABLE AS), else the
 *     first read tag (SELECT/COPY TO), else OTHER.
 *   - extended protocol: one Execute ('E').  Its SQL is the Parse text of
 *     the statement its portal was bound to (so prepared statements keep
 *     reporting their text).  It completes at its CommandComplete /
 *     PortalSuspended / EmptyQueryResponse, or fails with the first
 *     ErrorResponse of its Sync batch (the server skips to Sync, so every
 *     outstanding Execute of that batch is an error with that SQLSTATE).
 *     An ErrorResponse after every Execute of the batch completed was
 *     raised at the Sync (the implicit COMMIT: deferred constraint,
 *     serialization failure): the batch rolled back, every Execute of it
 *     is an error with that SQLSTATE and keeps its tag's rows;
 *     end_ns is the ts of the fragment carrying the batch's ReadyForQuery.
 *   - cmd comes from the tag ("SELECT n" of CREATE TABLE/MATERIALIZED
 *     VIEW ... AS is reported as JM_SQL_CREATE_TABLE_AS; "COPY n" takes its
 *     direction from CopyInResponse/CopyOutResponse; FETCH counts as
 *     SELECT), and from the SQL text when there is no tag (errors).
 *
 * Bounds (why the sizes below): up to JM_PG_PENDING_MAX requests await a
 * response with their SQL head (JM_PG_SQL_MAX bytes).  Deeper pipelines
 * (e.g. executemany in pipeline mode) spill into a run-length queue of
 * Execute/Sync counts that keeps the response matching exact but reports
 * every spilled Execute with the SQL of the first one spilled, completed at
 * its own CommandComplete (start = previous completion).  When the runs are
 * full too, requests are dropped (counted as parse errors); an ErrorResponse
 * that then has no queued request is counted in stats->unmatched_errors,
 * which the caller adds to the connection's error total.  Named prepared
 * statements: JM_PG_STMTS with LRU eviction, plus the unnamed one.
 *
 * Capture gaps (head/tail fragments): message lengths are followed through
 * an uncaptured middle; when a message header falls inside it the direction
 * is out of sync.  RX regains sync on a fragment that ends with a valid
 * ReadyForQuery, walking back to the CommandComplete/ErrorResponse that ends
 * exactly where it starts (its tag gives the rows).  Out of sync, nothing is
 * invented: responses are not matched and no request is recorded.
 *
 * TX resync (privacy: row data must never be read as SQL).  Bytes that look
 * like a request prove nothing: a COPY or Bind value can hold "Q" + length +
 * text at any send boundary.  So TX regains sync only where the protocol
 * says the client is between requests: at the start of the first send after
 * an anchoring ReadyForQuery, i.e. one that
 *   - answers a request sent at or after the point where TX was lost (no
 *     Query/Sync queued before the loss is still waiting for it), or, when
 *     TX was lost inside a copy-in, is the COPY's own one after its
 *     CommandComplete (the server has read the client's CopyDone);
 *   - does not end a copy-in through an ErrorResponse (the client may still
 *     be streaming CopyData that the server drops);
 *   - is followed by nothing from the server but ParameterStatus, Notice
 *     and Notification until that send (RX must not lose sync meanwhile).
 * That send must also parse as plausible requests from its first byte
 * (first type one a request starts with; Query text without NUL or control
 * bytes before its terminator, which ends the message when visible; Parse,
 * Bind, Execute, Describe, Close names and layout; every visible header
 * valid).  A connection seen pipelining (a Query/Sync sent while another
 * was unanswered) also needs the send framed exactly: every header in the
 * captured head/tail, the last message ending at the send's end.  One try
 * per anchor: a refused send is a parse error and TX waits for the next
 * anchor.  Nothing regains TX at a fragment's end.  A connection first seen
 * mid-session (no StartupMessage) starts in sync only when its first send
 * is framed exactly like that; otherwise TX starts lost (a parse error when
 * it is not even plausible).  Residual: a client that sends a request
 * before reading the ReadyForQuery of an earlier one we did not see (the
 * Sync in an uncaptured middle) can still put row bytes at the start of the
 * send that follows that ReadyForQuery.
 *
 * Privacy: PasswordMessage/SASL ('p') bodies and startup parameters are
 * never copied anywhere.  Of a Bind only the portal and statement names are
 * kept while it is parsed (parameter values are wiped as soon as they are
 * copied), and every captured message prefix (error texts included) is
 * wiped once its message has been handled.  After SSLRequest/GSSENCRequest is accepted
 * ('S'/'G') the stream is encrypted: the connection stops parsing for good
 * and counts nothing further. */
#ifndef JM_PROTOCOL_POSTGRES_H
#define JM_PROTOCOL_POSTGRES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

#define JM_PG_SQL_MAX      1024   /* SQL head kept per request / statement */
#define JM_PG_NAME_MAX     64     /* NAMEDATALEN: longer names are compared on 64 bytes */
#define JM_PG_PENDING_MAX  64     /* requests awaiting a response, with SQL */
#define JM_PG_STMTS        64     /* named prepared statements (LRU) */
#define JM_PG_PORTALS      8      /* unnamed + 7 named portals (LRU) */
#define JM_PG_RUNS         256    /* overflow queue: runs of Executes/Syncs */
/* Message prefix copied for parsing: a statement name, a SQL head and its
 * terminator fit; error fields up to the SQLSTATE fit many times over. */
#define JM_PG_CAP          (JM_PG_NAME_MAX + JM_PG_SQL_MAX + 16)

/* Framing state of one direction. */
struct jm_pg_dir {
	uint8_t  lost;        /* framing lost; waiting to resynchronise */
	uint8_t  mode;        /* 0 unknown yet, 1 untyped startup messages, 2 typed */
	uint8_t  in_body;     /* header done, body_len - body_got bytes to go */
	uint8_t  hdr_have;    /* header bytes collected so far */
	uint8_t  hdr[5];
	uint8_t  type;        /* 0 for untyped startup-phase messages */
	uint32_t body_len, body_got;
	uint32_t cap_len, cap_max;  /* captured contiguous prefix of the body */
	uint64_t msg_ts;      /* ts of the fragment where the message began */
	uint8_t  cap[JM_PG_CAP];
};

/* A prepared statement or a portal: name -> SQL head. */
struct jm_pg_slot {
	uint64_t last_used;
	uint16_t name_len, sql_len;
	bool     used, sql_known, sql_truncated;
	char     name[JM_PG_NAME_MAX];
	char     sql[JM_PG_SQL_MAX];
};

/* One request awaiting its response: a Query, an Execute or a Sync. */
struct jm_pg_pending {
	uint64_t start_ns;
	uint64_t rows;        /* sum of tag row counts */
	uint64_t datarows;    /* DataRows seen (for PortalSuspended) */
	uint16_t sql_len;
	uint8_t  kind;
	uint8_t  cmd;         /* enum jm_sql_cmd, valid when tagged */
	bool     sql_truncated, has_rows, tagged, error, done, copy_in, copy_out;
	bool     rows_lost;   /* completions went by in a capture gap: rows unknown */
	char     sqlstate[6];
	char     sql[JM_PG_SQL_MAX];
};

/* Requests beyond JM_PG_PENDING_MAX, in order, as run lengths. */
struct jm_pg_overflow {
	uint64_t first_ns, last_done_ns, datarows;
	uint32_t run_head, run_len;
	uint32_t runs[JM_PG_RUNS];  /* bit 31 set: Syncs, else Executes; low bits: count */
	uint16_t sql_len;
	bool     sql_truncated, copy_in, copy_out;
	char     sql[JM_PG_SQL_MAX];
};

struct jm_pg_conn {
	struct jm_pg_dir tx, rx;
	bool     stopped;     /* encrypted or cancel connection: parse nothing more */
	uint16_t rx_carry_len;
	uint8_t  rx_carry[256];  /* RX out of sync: last bytes of the previous fragment */
	uint8_t  enc_reply;   /* 'S'/'G': one-byte reply to SSL/GSSENC request due on RX;
			       * it stays set once the server accepted it, so
			       * stopped && enc_reply means encrypted (db.c counts
			       * the connection as unreadable), stopped alone a
			       * cancel request */
	bool     tx_copy_in;  /* server in copy-in mode: it ignores our Syncs;
				 cleared by CopyDone/CopyFail, the COPY's
				 CommandComplete, or ReadyForQuery */
	bool     tx_anchor;   /* TX lost: a ReadyForQuery showed the client is
				 between requests; its next send may resync TX */
	bool     tx_lost_copy;/* TX was lost while the server was in copy-in */
	bool     tx_pipelined;/* a Query/Sync was sent while another waited */
	bool     ovf_lost;    /* requests were dropped (overflow runs full) since
				 the queue was last empty */
	uint64_t lru_clock;
	struct jm_pg_slot stmts[1 + JM_PG_STMTS];  /* [0] = unnamed statement */
	struct jm_pg_slot portals[JM_PG_PORTALS];  /* [0] = unnamed portal */
	uint32_t q_head, q_len;
	struct jm_pg_pending q[JM_PG_PENDING_MAX];
	struct jm_pg_overflow ovf;
};

void jm_pg_init(struct jm_pg_conn *c);

/* Feed one captured fragment.  cb may be NULL (state is still tracked);
 * st may be NULL. */
void jm_pg_feed(struct jm_pg_conn *c, const struct jm_fragment *f,
		jm_query_cb cb, void *ctx, struct jm_proto_stats *st);

/* The connection closed at ts_ns: report requests whose outcome is already
 * known (e.g. an ErrorResponse after which the server hung up, so no
 * ReadyForQuery will follow) with end_ns = ts_ns.  A query still without an
 * outcome is reported too: as failed with SQLSTATE 08006 (the connection
 * ended before its answer, or in it), or, when RX was out of sync (its
 * answer may have gone by unseen), as done with rows unknown.  Then the
 * connection is re-initialised. */
void jm_pg_close(struct jm_pg_conn *c, uint64_t ts_ns, jm_query_cb cb, void *ctx);

/* True when buf starts a PostgreSQL connection: StartupMessage of protocol
 * 3.0 (196608; minors up to 3.2 accepted), SSLRequest (80877103) or
 * GSSENCRequest (80877104).  Used on a connection's first client bytes. */
bool jm_pg_detect(const uint8_t *buf, size_t len);

/* True when a client send is exactly a Terminate message ('X', length 4):
 * the client is leaving, and a Unix-socket connection has no other end
 * the agent can see. */
bool jm_pg_is_terminate(const uint8_t *buf, size_t len);
#endif
