/* Contract between the payload capture path (agent/db.c) and the wire
 * protocol parsers (postgres.c, mysql.c).  Parsers are pure: bytes and kernel
 * timestamps in, completed queries out through a callback.  They never
 * allocate per message and never trust a length field.
 *
 * Capture model.  For every send/recv syscall on a DB connection the kernel
 * hands user space one fragment: `total_len` bytes moved by the syscall, of
 * which the first `head_len` bytes (head) and the last `tail_len` bytes (tail)
 * were copied.  When head_len + tail_len >= total_len the fragment is whole
 * (tail may then be empty or overlap; feed() handles both).  Otherwise the
 * middle (total_len - head_len - tail_len bytes) is unknown: a parser skips
 * over it while it can follow message lengths, and resynchronises on the tail
 * when it cannot (for PostgreSQL: the tail ends with ReadyForQuery, preceded by
 * CommandComplete/ErrorResponse).  Bytes a parser could not make sense of are
 * counted in stats->parse_errors; the connection keeps working. */
#ifndef JM_PROTOCOL_H
#define JM_PROTOCOL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jm_dir { JM_DIR_TX = 0 /* client -> server */, JM_DIR_RX = 1 /* server -> client */ };

/* Statement kinds that matter for dataset freshness and reports. */
enum jm_sql_cmd {
	JM_SQL_OTHER = 0, JM_SQL_SELECT, JM_SQL_INSERT, JM_SQL_UPDATE, JM_SQL_DELETE,
	JM_SQL_MERGE, JM_SQL_COPY_FROM, JM_SQL_COPY_TO, JM_SQL_CREATE_TABLE_AS,
};

struct jm_fragment {
	enum jm_dir dir;
	uint64_t ts_ns;            /* kernel CLOCK_MONOTONIC at syscall exit */
	uint32_t total_len;        /* bytes moved by the syscall */
	const uint8_t *head; uint32_t head_len;
	const uint8_t *tail; uint32_t tail_len;
};

/* One completed query (or one failed one). */
struct jm_query {
	uint64_t start_ns;         /* ts of the fragment that sent the request */
	uint64_t end_ns;           /* ts of the fragment that completed the response */
	const char *sql;           /* raw SQL text as sent (not NUL-terminated; may be
				      truncated by capture; valid only during the callback) */
	size_t sql_len;
	bool sql_truncated;
	bool error;
	char sqlstate[6];          /* "" unless error; NUL-terminated 5 chars */
	uint64_t rows;             /* returned or affected */
	bool has_rows;
	bool rows_unknown;         /* it has a row count, but that went by in an
				      uncaptured middle: has_rows is false */
	enum jm_sql_cmd cmd;       /* from the command tag / OK packet, else from the SQL */
};

typedef void (*jm_query_cb)(void *ctx, const struct jm_query *q);

struct jm_proto_stats {
	uint64_t parse_errors;     /* garbage, impossible lengths, unknown types */
	uint64_t resyncs;          /* times framing was lost and regained */
	uint64_t bytes_skipped;    /* uncaptured middles skipped */
	uint64_t unmatched_errors; /* error responses no query carries: a refused
				      connection (authentication), a request that
				      could not be queued or was no query (a failed
				      Parse without Execute); the caller adds them
				      to the connection's error total */
};
#endif
