/* SQL text helpers: privacy-preserving fingerprints, statement kind and write
 * target.  Pure functions over a (possibly truncated, possibly malformed)
 * byte range; no allocation, no global state, every output bounded.
 *
 * Fingerprint rules (jm_sql_fingerprint):
 *  - every literal becomes `?`: '...' strings (doubled quotes and backslash
 *    escapes), E'...', N'/X'/B'/U&'... and MySQL _charset'...' strings,
 *    $$...$$ / $tag$...$tag$ bodies, numbers (ints, decimals, exponents,
 *    0x.., 0b..; a digit run glued to letters such as 123abc is taken whole),
 *    and unterminated strings at a truncated end (everything to the end);
 *  - placeholders ($1, ?) become `?`;
 *  - a parenthesised list that holds only literals after IN or VALUES becomes
 *    `(?)`, and every further row of a VALUES list is dropped, so
 *    `VALUES (1,2),(3,4)` -> `values (?)` and `IN (1, 2, 3)` -> `in (?)`;
 *  - everything outside quoted identifiers is lower-cased (ASCII), so
 *    keywords and unquoted identifiers fold the way PostgreSQL folds them;
 *  - "quoted" identifiers (and MySQL `quoted` ones) are kept verbatim (an
 *    unterminated one at a truncated end becomes `?`);
 *  - comments (-- line, block, and `#` comments, see dialects) are
 *    dropped; each run of whitespace/comments becomes one space, none at the
 *    ends; control bytes count as whitespace and invalid UTF-8 becomes U+FFFD.
 * Privacy: no byte of a literal reaches the output.  Whether a backslash
 * escapes a quote depends on server settings the text does not carry, so
 * unless the caller states the mode (JM_SQL_STD_STRINGS /
 * JM_SQL_BACKSLASH_STRINGS) the text is lexed both ways and any token that
 * lies inside a literal under either reading is replaced by `?`.
 *
 * Dialects: the default (flags 0) is PostgreSQL/ANSI: "x" is an identifier,
 * a backtick is an operator character (no quote), `--` always starts a
 * comment, which ends at a newline or a carriage return, and `#` never does
 * (it is an operator), block comments nest and $-quoting exists.
 * JM_SQL_MYSQL: "x" is a string literal (MySQL without ANSI_QUOTES), `x` an
 * identifier, `#` always starts a comment, `--` only when followed by
 * whitespace, a control character or the end of the text (both end at a
 * newline or a NUL), `$` is an identifier character, and the text of an
 * executable comment (slash-star-bang, optionally with a version; MariaDB's
 * slash-star-M-bang) is SQL, since the server runs it -- unless the server
 * skips it (a version above its own; the M form on MySQL), which the text
 * does not say: such a comment is read both ways, like the backslash mode.
 * Only what the server itself takes as a comment is one: a false comment
 * could swallow a literal's opening quote.  Use JM_SQL_MYSQL for MySQL/MariaDB text: with the default a
 * MySQL "double-quoted value" would be kept verbatim. */
#ifndef JM_SQL_H
#define JM_SQL_H
#include <stdbool.h>
#include <stddef.h>
#include "protocol/protocol.h"

#define JM_SQL_MYSQL             0x1u  /* MySQL/MariaDB lexical rules */
#define JM_SQL_STD_STRINGS       0x2u  /* '\' is an ordinary char in '...' */
#define JM_SQL_BACKSLASH_STRINGS 0x4u  /* '\' escapes the next char in '...' */

/* Writes the fingerprint of sql[0..len) into out (always NUL-terminated when
 * outsz > 0, truncated at a whole character) and returns its length. */
size_t jm_sql_fingerprint(const char *sql, size_t len, char *out, size_t outsz);
size_t jm_sql_fingerprint_ex(const char *sql, size_t len, unsigned flags,
			     char *out, size_t outsz);

/* A key for memoising fingerprints: texts whose keys are equal (with the
 * same flags) have equal jm_sql_fingerprint_ex() output.  It drops string
 * contents and number digits where a plain scan reads the text as the lexer
 * does, so a statement run with new inline literals each time keeps its
 * key; otherwise it is the text itself.  A key is at most len + 1 bytes
 * (not a C string); returns its length, or 0 when outsz is smaller. */
size_t jm_sql_memo_key(const char *sql, size_t len, unsigned flags, char *out, size_t outsz);

/* Kind of statement from its first keyword (after comments, whitespace and
 * opening parentheses): SELECT (also VALUES, TABLE), INSERT (also REPLACE,
 * WITH ... INSERT), UPDATE, DELETE, MERGE, COPY .. FROM / TO, MySQL
 * LOAD DATA (COPY_FROM), CREATE [TEMP] TABLE .. AS / .. SELECT.  `flags` as
 * for jm_sql_fingerprint_ex(): the dialect decides what is a comment
 * (`#etl\nINSERT ..` is an INSERT in MySQL only). */
enum jm_sql_cmd jm_sql_command(const char *sql, size_t len, unsigned flags);

/* Table written by INSERT INTO x / REPLACE x / UPDATE x / DELETE FROM x /
 * MERGE INTO x / COPY x FROM / CREATE TABLE x AS / LOAD DATA .. INTO TABLE x
 * (also after WITH ...).  Unquoted parts are lower-cased, quoted parts keep
 * their case without the quotes, schema qualification is kept
 * ("public.sales", "Sales" -> Sales).  False when there is no target or it
 * does not fit in out.  `flags` as for jm_sql_command(). */
bool jm_sql_write_target(const char *sql, size_t len, unsigned flags, char *out, size_t outsz)
	__attribute__((warn_unused_result));

/* Length of the first statement of sql, its terminating ';' included: the
 * offset just past the first ';' outside literals, comments and parentheses,
 * or len when there is none.  A query string may hold several statements
 * ("begin; insert into t ...; commit"), which the server runs one after the
 * other; the caller steps through them.  A CREATE whose body is a block
 * holds ';' of its own (PostgreSQL's BEGIN ATOMIC, MySQL's BEGIN ... END of
 * a procedure, function, trigger or event): from a CREATE with a BEGIN the
 * statement runs to len, so no statement is read out of such a body.
 * `flags` as for jm_sql_command(). */
size_t jm_sql_statement_end(const char *sql, size_t len, unsigned flags);
#endif
