/* MySQL / MariaDB client/server protocol parser, client side.
 *
 * We trace the client process, so TX carries client packets and RX server
 * packets.  The parser is pure (see protocol.h): fragments in, completed
 * queries out through jm_query_cb.  All state lives in struct jm_mysql_conn,
 * which is fixed-size (~69 KiB): allocate one per connection, call
 * jm_mysql_init() once, then jm_mysql_feed() for every fragment in syscall
 * order.  No allocation, no recursion, no length taken on trust.
 *
 * Framing: 3-byte little-endian payload length + 1-byte sequence id; a
 * 0xFFFFFF payload continues in the next packet (one logical packet).  Only a
 * bounded prefix of each payload is copied, and only what the state needs:
 * the command byte, statement ids, the SQL head of COM_QUERY /
 * COM_STMT_PREPARE, the fixed fields of OK/ERR/EOF.  Row data, column
 * definitions, LOCAL INFILE contents, COM_STMT_EXECUTE parameters and every
 * authentication packet are skipped without being copied.
 *
 * Connection phase: server greeting (HandshakeV10: capabilities, MariaDB
 * extended capabilities), client HandshakeResponse (capabilities, in
 * particular CLIENT_DEPRECATE_EOF), auth switch / more data, OK or ERR.  An
 * SSLRequest (CLIENT_SSL) turns the stream into TLS, and negotiated
 * compression or a binlog dump makes it unreadable: the connection stops
 * parsing for good (`stopped`, `tls`, `compressed` tell why).  A connection
 * picked up mid-stream (no greeting seen) starts in the command phase at the
 * first client packet that looks like a command; unknown capabilities are
 * then inferred from the packets (EOF packets are exactly 5 bytes, an
 * OK-with-0xFE terminator at least 7).  Such a client may send MySQL 8
 * query attributes before its SQL: a COM_QUERY whose text does not start
 * like SQL (or whose second byte is a parameter-set count of 1) is read as
 * an attribute block; when none parses within the captured prefix (a
 * block longer than it included), the SQL is unknown (never the block's
 * names and values).
 *
 * What is a query: COM_QUERY (one query, even with several statements),
 * COM_STMT_EXECUTE and MariaDB COM_STMT_BULK_EXECUTE (one query each, SQL
 * taken from the COM_STMT_PREPARE with that id; MariaDB's id 0xFFFFFFFF
 * means the last prepared statement).  The last JM_MYSQL_STMTS statements
 * used are kept; an execute of one we do not know (prepared before we
 * looked, evicted from that LRU by more live statements, id not captured)
 * is reported with empty SQL, not truncated (as postgres.c does for an
 * unknown statement), and counted as a parse error.  Completed by OK (affected rows), ERR
 * (SQLSTATE; the MySQL error code is in `last_error_code` during the
 * callback) or the last result set (rows counted; SERVER_MORE_RESULTS_EXISTS
 * chains result sets of multi-statements and CALL, rows and affected rows
 * are summed).  An execute that opens a cursor (SERVER_STATUS_CURSOR_EXISTS
 * on its terminator, EOF or OK-with-0xFE) has its rows unknown: they come
 * by COM_STMT_FETCH.  end_ns is the ts of the fragment carrying the final
 * packet.
 * COM_STMT_PREPARE, PING, INIT_DB, STMT_RESET, SET_OPTION, CHANGE_USER,
 * STMT_FETCH ... have their responses consumed and are not reported; when
 * the server answers one of them with ERR (USE of an unknown database, a
 * refused CHANGE_USER) that is an error the job saw, counted in
 * stats->unmatched_errors like a connection refused at its start; and
 * for a PREPARE the server rejects: that is reported as a failed query (the
 * statement the client saw fail, with its SQL).  The server then has no
 * "last prepared" statement, and an execute(0xFFFFFFFF) sent with that
 * PREPARE before its answer (MariaDB's mariadb_stmt_execute_direct) fails
 * with it: its answer is consumed, not reported (the client reports one
 * failed statement, the PREPARE's error);
 * STMT_CLOSE, STMT_SEND_LONG_DATA and QUIT have none.  Up to
 * JM_MYSQL_PENDING_MAX commands may await their responses (MariaDB
 * pipelines prepare + execute); more is counted as a parse error.
 *
 * Capture gaps (head/tail fragments, see protocol.h): packet lengths are
 * followed through an uncaptured middle.  When a packet header falls inside
 * it the direction is out of sync.
 *  - RX regains sync on a fragment (its tail when it has a gap, else its last
 *    JM_MYSQL_RESYNC_WIN bytes plus a short carry of the previous fragment)
 *    that ends with a response terminator: scanning candidate header
 *    positions right to left, a position qualifies when its packet chain,
 *    with consecutive sequence ids, ends exactly at the fragment end on an
 *    EOF (0xFE, 5 bytes, sane status), an OK-with-0xFE, an ERR with '#' and
 *    a SQLSTATE, or an OK (0x00) directly preceded by an EOF/OK carrying
 *    SERVER_MORE_RESULTS_EXISTS (end of CALL).  The earliest qualifying
 *    position wins and its last packet is processed: the query completes
 *    (or waits for its next result set) with has_rows = false and
 *    rows_unknown, because rows that went by out of sync were not counted
 *    -- also when that packet is an ERR (a result set failing after rows
 *    the client got: its rows are unknown, not 0).  In sync, a query
 *    failing after rows keeps the rows counted before the ERR.
 *  - When the client sends a new command while RX is out of sync, the
 *    server has finished answering: every query still waiting is reported
 *    with has_rows = false and end_ns = the last RX fragment's ts, and RX
 *    restarts at the next RX fragment.
 *  - TX regains sync only where the stream is at a command boundary: the
 *    first client send after RX, in sync, saw every known command answered
 *    (the last pending one completed, RX at a packet boundary; for a LOCAL
 *    INFILE that is the server's final OK/ERR, sent after the whole file),
 *    and only when that send starts with a plausible command packet
 *    (sequence 0, a command clients send, a payload length that command
 *    can have, a fixed-size command whole in the send, COM_QUERY /
 *    PREPARE text starting like SQL unless query attributes may precede
 *    it).  Such a send that does not start with a command counts as a
 *    parse error; sends while the gate is shut are skipped (LOCAL INFILE
 *    data the normal case).  Commands TX did not see are counted when
 *    their answers arrive unasked (below).  Limits: a client pipelining
 *    commands that TX lost may send the next one before their answers
 *    arrive; such a send is only checked for plausibility.  Commands that
 *    get no answer (STMT_SEND_LONG_DATA, STMT_CLOSE) lost in a gap open
 *    no gate: the command after them is lost too (counted when its answer
 *    arrives unasked) and TX regains sync at the send after that answer.
 * A response sequence id that does not follow, a column definition that
 * does not start with the "def" catalog, or a server packet nobody asked for
 * also count as a parse error and drop RX sync the same way; except a
 * lone OK nobody asked for (the whole answer to a command TX did not see),
 * which is counted and keeps RX in sync, and an unasked ERR (the server
 * hanging up), which is neither.
 *
 * SQL text given to the callback is raw (literals included) and valid only
 * during the callback; fingerprint it with jm_sql_fingerprint_ex(...,
 * jm_mysql_sql_flags(c, sql, len), ...) so MySQL "double-quoted" strings and the
 * server's backslash mode (SERVER_STATUS_NO_BACKSLASH_ESCAPES) are honoured. */
#ifndef JM_PROTOCOL_MYSQL_H
#define JM_PROTOCOL_MYSQL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

#define JM_MYSQL_SQL_MAX      1024  /* SQL head kept per command / statement */
#define JM_MYSQL_PENDING_MAX  16    /* commands awaiting a response */
#define JM_MYSQL_STMTS        48    /* prepared statements (LRU) */
/* TX prefix copied: SQL head plus room for MySQL 8 query attributes. */
#define JM_MYSQL_TX_CAP       (JM_MYSQL_SQL_MAX + 256)
/* RX prefix copied: a greeting's version and capability fields. */
#define JM_MYSQL_RX_CAP       128
#define JM_MYSQL_RESYNC_WIN   4096  /* bytes searched for a terminator */
#define JM_MYSQL_CARRY        64    /* RX bytes kept across fragments when out of sync */

/* Framing state of one direction. */
struct jm_mysql_dir {
	bool     lost;           /* framing lost; waiting to resynchronise */
	bool     in_body;        /* header done, payload bytes to go */
	bool     more;           /* logical packet continues in the next packet */
	bool     cap_gap;        /* part of the wanted prefix was not captured */
	uint8_t  hdr_have;
	uint8_t  hdr[4];
	uint8_t  seq;            /* sequence id of the current physical packet */
	uint8_t  first_seq;      /* ... of the logical packet's first one */
	uint32_t phys_len, phys_got;
	uint32_t log_len;        /* logical payload length (saturating) */
	uint32_t cap_len, cap_want;
};

/* A prepared statement: server id -> SQL head. */
struct jm_mysql_stmt {
	uint64_t last_used;
	uint32_t id, gen;
	uint16_t sql_len;
	bool     used, sql_truncated;
	char     sql[JM_MYSQL_SQL_MAX];
};

/* A command awaiting its response. */
struct jm_mysql_pending {
	uint64_t start_ns;
	uint64_t rows;           /* rows returned + affected, over all results */
	uint32_t stmt_id, stmt_gen;
	int32_t  stmt_slot;      /* resolved prepared statement, -1 unknown */
	uint16_t sql_len, error_code;
	uint8_t  kind;           /* response shape, see mysql.c */
	uint8_t  com;            /* command byte */
	uint8_t  resp_seq;       /* sequence id the response starts with */
	bool     seq_any;        /* the next response packet's sequence id is unknown
				    (request or LOCAL INFILE end not seen): any goes */
	bool     started, sql_truncated, rows_unknown, error;
	bool     quiet;          /* answer consumed, not reported: an execute(-1)
				    whose pipelined PREPARE failed */
	char     sqlstate[6];
	char     sql[JM_MYSQL_SQL_MAX];
};

struct jm_mysql_conn {
	struct jm_mysql_dir tx, rx;
	uint8_t  phase;          /* greeting, handshake, auth, command, stopped */
	bool     stopped, tls, compressed;
	bool     mariadb;
	bool     server_caps_known, client_caps_known;
	int8_t   deprecate_eof;  /* -1 unknown, 0, 1 */
	bool     no_backslash_escapes;  /* last server status seen */
	bool     status_known;          /* ... and one has been seen */
	bool     tx_infile;      /* client is sending LOCAL INFILE data */
	bool     tx_gate;        /* RX (in sync) saw every known command answered
				    since the last client send: the next send
				    starts at a command boundary */
	bool     rx_realign;     /* RX restarts at the next fragment */
	uint8_t  rstate;         /* response state of the oldest pending command */
	uint8_t  prep_stage;
	uint8_t  rx_next_seq;
	uint16_t last_error_code;  /* MySQL error number of the last ERR reported */
	uint16_t rx_carry_len;
	uint32_t server_caps, client_caps;
	uint32_t server_ext_caps, client_ext_caps;   /* MariaDB bits 32..63 */
	uint32_t prep_params, prep_cols;
	uint64_t cols_left;
	uint64_t last_rx_ns;
	uint64_t lru_clock;
	uint32_t gen_clock;
	int32_t  last_prepared;  /* slot of the latest PREPARE_OK, -1 none */
	uint8_t  rx_carry[JM_MYSQL_CARRY];
	uint8_t  tx_cap[JM_MYSQL_TX_CAP];
	uint8_t  rx_cap[JM_MYSQL_RX_CAP];
	uint32_t q_head, q_len;
	struct jm_mysql_pending q[JM_MYSQL_PENDING_MAX];
	struct jm_mysql_stmt stmts[JM_MYSQL_STMTS];
};

void jm_mysql_init(struct jm_mysql_conn *c);

/* Feed one captured fragment.  cb may be NULL (state is still tracked); st
 * may be NULL. */
void jm_mysql_feed(struct jm_mysql_conn *c, const struct jm_fragment *f,
		   jm_query_cb cb, void *ctx, struct jm_proto_stats *st);

/* The connection ended at ts_ns (the server or the client hung up, or the
 * client's process is gone).  A query still waiting for its answer is
 * reported: as failed with SQLSTATE 08S01 and error code 2013 (the client
 * saw the connection lost), at ts_ns; or, when RX was out of sync (its
 * answer may have gone by unseen), as done with rows unknown, at the last
 * RX fragment's ts.  Then the connection is re-initialised.  cb may be
 * NULL. */
void jm_mysql_close(struct jm_mysql_conn *c, uint64_t ts_ns, jm_query_cb cb, void *ctx);

/* jm_sql_fingerprint_ex() flags for the SQL text sql[0..len) of a query of
 * this connection: the server's backslash mode when a server status has
 * told it, else both readings (a connection picked up mid-stream); both
 * readings too when the text itself may change the mode (it names
 * sql_mode: a multi-statement's later part runs under the new one). */
unsigned jm_mysql_sql_flags(const struct jm_mysql_conn *c, const char *sql, size_t len);

/* True when buf starts with a HandshakeV10 server greeting: 3-byte length,
 * sequence 0, protocol 10, a printable NUL-terminated version string that
 * starts with a digit, and room for the fixed fields after it.  Used on a
 * connection's first server bytes. */
bool jm_mysql_detect_server_greeting(const uint8_t *buf, size_t len);

/* True when a client send is exactly a COM_QUIT packet (length 1, any
 * sequence number, command 0x01): the client is leaving. */
bool jm_mysql_is_quit(const uint8_t *buf, size_t len);
#endif
