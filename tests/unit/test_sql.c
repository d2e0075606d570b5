/* Unit tests for agent/sql.c: fingerprints (exact shapes and, above all, that
 * no literal byte survives, also when the text is cut at every length),
 * statement kinds and write targets. */
#include "harness.h"
#include "sql.h"

#include <stdbool.h>
#include <stdlib.h>

static const char *fp(const char *sql, unsigned flags)
{
	static char out[512];
	jm_sql_fingerprint_ex(sql, strlen(sql), flags, out, sizeof(out));
	return out;
}

/* True when `s` outside quoted identifiers has a digit that does not belong
 * to an identifier (t1, col_2): a number survived. */
static bool has_bare_digits(const char *s)
{
	char q = 0;
	bool in_word = false;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (q) {
			if (c == (unsigned char)q)
				q = 0;
			continue;
		}
		if (c == '"' || c == '`') {
			q = (char)c;
			in_word = false;
			continue;
		}
		if (c >= '0' && c <= '9') {
			if (!in_word)
				return true;
			continue;
		}
		in_word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  c == '$' || c >= 0x80;
	}
	return false;
}

/* Fragments of the planted secrets; none may appear in any fingerprint. */
static bool leaks(const char *out)
{
	static const char *const bad[] = { "alic", "lice", "xampl", "@", "4242", "2424", "42", "'",
					   "secret", NULL };
	for (const char *const *b = bad; *b; b++)
		if (strstr(out, *b))
			return true;
	return false;
}

static const char *const secret_queries[] = {
	"SELECT * FROM users WHERE email = 'alice@example.com' AND id = 424242",
	"select id from t1 where col_2 in ('alice@example.com', 424242, 'x')",
	"INSERT INTO public.sales (a, b) VALUES (424242, 'alice@example.com'), (1, 'secret')",
	"UPDATE accounts SET note = E'alice@example.com\\' 424242', n = 424242.5 WHERE k = 4.24242e5",
	"SELECT $$alice@example.com 424242$$, $tag$ secret 'x' $tag$ FROM dual",
	"DELETE FROM t WHERE a LIKE '%alice@example.com%' -- alice@example.com 424242\n AND b = -424242",
	"SELECT 'it''s alice@example.com', 'O\\'Brien alice@example.com', 424242",
	"SELECT 'C:\\', 'alice@example.com', 424242",
	"SELECT N'alice@example.com', x'424242', _utf8mb4'alice@example.com', B'1010', U&'alice@example.com'",
	"SELECT '{\"email\":\"alice@example.com\"}'::jsonb, '424242'::int, 0x424242, 424242abc",
	"SELECT now() - INTERVAL '424242 days' LIMIT 424242 OFFSET 424242",
	"SELECT lower('alice@example.com') /* ' */ , '/* alice@example.com */' FROM t",
	"SELECT * FROM t WHERE (a = 424242 OR (b = 'alice@example.com'))) AND ((c = 'secret'",
	"SELECT ''''' alice@example.com', '\\\\', 'secret\\\\' FROM t WHERE x = '424242",
	"SELECT 1 FROM t WHERE a = $1 AND b = ? AND c = 'alice@example.com' AND d = .424242",
	"COPY (SELECT * FROM t WHERE e = 'alice@example.com') TO STDOUT",
	"WITH x AS (SELECT 'alice@example.com' AS e) INSERT INTO tgt SELECT e, 424242 FROM x",
	"SELECT E'\\\\' 'alice@example.com', e'\\'' , 'secret'",
	"select 'a' || 'alice@example.com' || 'b', 424242e+10, 424242E-2",
	"SELECT \t\n\r 'alice@example.com'\x01\x02 424242 \x7f",
	"SELECT '\\'' + 424242, \"id\" FROM \"Users\" WHERE \"x\" = 'alice@example.com'",
	NULL,
};

static void test_exact_shapes(void)
{
	CHECK_STR("fp basic",
		  fp("SELECT * FROM t1 WHERE col_2 = 42 AND name='bob'", 0),
		  "select * from t1 where col_2 = ? and name=?");
	CHECK_STR("fp whitespace folded and trimmed",
		  fp("  SELECT\n\t a ,  b\r\nFROM   x  ", 0), "select a , b from x");
	CHECK_STR("fp IN list collapses",
		  fp("select a from t where id IN (1, 2, 3) and x in ('a','b')", 0),
		  "select a from t where id in (?) and x in (?)");
	CHECK_STR("fp IN list of placeholders",
		  fp("select a from t where id in ($1,$2,$3) or id in (?, ?)", 0),
		  "select a from t where id in (?) or id in (?)");
	CHECK_STR("fp IN list mixed stays",
		  fp("select 1 from t where id in (1, 2, b)", 0),
		  "select ? from t where id in (?, ?, b)");
	CHECK_STR("fp IN subquery",
		  fp("select 1 from t where id in (select id from u where v = 3)", 0),
		  "select ? from t where id in (select id from u where v = ?)");
	CHECK_STR("fp VALUES rows collapse",
		  fp("INSERT INTO s (a,b) VALUES (1,'x'),(2,'y'), (3, 'z') ON CONFLICT DO NOTHING", 0),
		  "insert into s (a,b) values (?) on conflict do nothing");
	CHECK_STR("fp VALUES with expressions",
		  fp("insert into s values (1, now()), (2, now())", 0),
		  "insert into s values (?, now())");
	CHECK_STR("fp VALUES same for 1 and 3 rows",
		  fp("insert into s values (1,2)", 0),
		  fp("insert into s values (1,2),(3,4),(5,6)", 0));
	CHECK_STR("fp quoted identifiers verbatim",
		  fp("SELECT \"MixedCase\" FROM \"S\".\"T\"", 0), "select \"MixedCase\" from \"S\".\"T\"");
	CHECK_STR("fp mysql backtick identifiers verbatim",
		  fp("SELECT `Back Tick` FROM `S`.`T`", JM_SQL_MYSQL), "select `Back Tick` from `S`.`T`");
	CHECK_STR("fp postgres: double quotes only (a backtick is an operator character)",
		  fp("SELECT \"MixedCase\", `Back Tick` FROM \"S\".\"T\"", 0),
		  "select \"MixedCase\", `back tick` from \"S\".\"T\"");
	CHECK_STR("fp comments removed",
		  fp("SELECT /* hint */ a -- trailing\nFROM b /* x /* nested */ y */ WHERE c", 0),
		  "select a from b where c");
	CHECK_STR("fp comment glued", fp("SELECT a/**/FROM b", 0), "select a from b");
	CHECK_STR("fp dollar quotes",
		  fp("SELECT $$body$$, $fn$ x $fn$, $1", 0), "select ?, ?, ?");
	CHECK_STR("fp numbers",
		  fp("SELECT 1.5e10, .5, 0xFF, 7., 1e-3, 1_000", 0), "select ?, ?, ?, ?, ?, ?");
	CHECK_STR("fp digits inside identifiers", fp("select t1.c2, col_3 from t1", 0),
		  "select t1.c2, col_3 from t1");
	CHECK_STR("fp casts", fp("select '1'::int, x::text", 0), "select ?::int, x::text");
	CHECK_STR("fp string prefixes",
		  fp("select E'a\\'b', N'x', X'ff', b'01', U&'d', _utf8mb4'q'", 0),
		  "select ?, ?, ?, ?, ?, ?");
	CHECK_STR("fp unterminated string", fp("select 'abc", 0), "select ?");
	CHECK_STR("fp unterminated quoted identifier", fp("select \"abc", 0), "select ?");
	CHECK_STR("fp pg # operator kept", fp("select a #> '{b}' from t", 0),
		  "select a #> ? from t");
	/* PostgreSQL has no # comments (# is bitwise XOR); MySQL has. */
	CHECK_STR("fp # comment (mysql)", fp("select a # comment 42\nfrom t", JM_SQL_MYSQL),
		  "select a from t");
	CHECK_STR("fp # is an operator in postgres", fp("select a # comment 42\nfrom t", 0),
		  "select a # comment ? from t");
	CHECK_STR("fp # space quote is a literal in postgres",
		  fp("SELECT a # 'b\nsecret_pg'", 0), "select a # ?");
	/* MySQL: -- starts a comment only before whitespace or a control
	 * character (or at the end); PostgreSQL: always. */
	CHECK_STR("fp mysql -- needs a space", fp("SELECT a --'b\nsecret_my'", JM_SQL_MYSQL),
		  "select a --?");
	CHECK_STR("fp mysql 1--1 is arithmetic", fp("SELECT 1--1 FROM t", JM_SQL_MYSQL),
		  "select ?-? from t");
	CHECK_STR("fp mysql -- space comment", fp("SELECT a -- 'b\nFROM t", JM_SQL_MYSQL),
		  "select a from t");
	CHECK_STR("fp mysql -- tab comment", fp("SELECT a --\t'b\nFROM t", JM_SQL_MYSQL),
		  "select a from t");
	CHECK_STR("fp mysql -- at the end", fp("SELECT a --", JM_SQL_MYSQL), "select a");
	CHECK_STR("fp postgres --x comment", fp("SELECT a --x 'b\nFROM t", 0), "select a from t");
	CHECK_STR("fp mysql double quoted is literal",
		  fp("SELECT \"bob\", `c` FROM t #tail 5", JM_SQL_MYSQL | JM_SQL_BACKSLASH_STRINGS),
		  "select ?, `c` from t");
	CHECK_STR("fp mysql backslash escapes",
		  fp("select 'O\\'Brien', 5", JM_SQL_MYSQL | JM_SQL_BACKSLASH_STRINGS),
		  "select ?, ?");
	CHECK_STR("fp std strings", fp("select 'C:\\', 5", JM_SQL_STD_STRINGS), "select ?, ?");
	CHECK_STR("fp mysql $ in identifiers",
		  fp("select $a, b$1 from t", JM_SQL_MYSQL), "select $a, b$1 from t");
	/* MySQL executable comments: the server runs their text, so it is
	 * SQL (literals redacted); a string in one may hold a star-slash. */
	CHECK_STR("fp mysql executable comment",
		  fp("/*!40101 SET NAMES utf8mb4 */", JM_SQL_MYSQL), "set names utf8mb4");
	CHECK_STR("fp mariadb executable comment",
		  fp("/*M!100100 SET @x = 'zzsecret1' */", JM_SQL_MYSQL), "set @x = ?");
	CHECK_STR("fp mysql executable comment without a version",
		  fp("select /*! STRAIGHT_JOIN */ a from t where b = 5", JM_SQL_MYSQL),
		  "select straight_join a from t where b = ?");
	CHECK_STR("fp mysql executable comment: a string holding the end marker",
		  fp("select /*! 'x*/' , 'zzsecret2' */ 1", JM_SQL_MYSQL), "select ? , ? ?");
	CHECK_STR("fp mysql hint comment stays a comment",
		  fp("select /*+ BKA(t) */ a from t", JM_SQL_MYSQL), "select a from t");
	CHECK_STR("fp postgres: /*! is a comment",
		  fp("select /*! 'x*/ 1", 0), "select ?");
	/* A sign is part of its number (pg_stat_statements counts x = -5 and
	 * x = 5 as one statement); a subtraction stays. */
	CHECK_STR("fp sign folded into the number",
		  fp("UPDATE t SET abalance = abalance + -4242 WHERE aid = 7", 0),
		  "update t set abalance = abalance + ? where aid = ?");
	CHECK_STR("fp sign: same as without",
		  fp("UPDATE t SET abalance = abalance + 4242 WHERE aid = 7", 0),
		  "update t set abalance = abalance + ? where aid = ?");
	CHECK_STR("fp subtraction stays", fp("select a - 5, (b)-1, c-.5 from t", 0),
		  "select a - ?, (b)-?, c-? from t");
	CHECK_STR("fp signs after ( , = and keywords",
		  fp("select -1, f(-2), x=-3.5e2 from t where y = - 4 limit -1", 0),
		  "select ?, f(?), x=? from t where y = ? limit ?");
	CHECK_STR("fp a sign before a string is not folded", fp("select x = -'a'", 0), "select x = -?");
	CHECK_STR("fp values with signs collapse like without",
		  fp("insert into t values (-1, -2), (3, -4)", 0), "insert into t values (?)");
	/* The last ';' ends the text: "begin;" and "begin" are one statement. */
	CHECK_STR("fp trailing semicolon", fp("BEGIN;", 0), "begin");
	CHECK_STR("fp trailing semicolon and space", fp("select 1 ; ", 0), "select ?");
	CHECK_STR("fp inner semicolons kept", fp("select 1; select 2;", 0), "select ?; select ?");
	CHECK_STR("fp empty", fp("", 0), "");
	CHECK_STR("fp only comment", fp("/* x */ -- y", 0), "");
	CHECK_STR("fp keywords folded", fp("SeLeCt A FrOm B", 0), "select a from b");
	CHECK_STR("fp utf8 identifiers kept", fp("select \xc3\xa9t\xc3\xa9 from t", 0),
		  "select \xc3\xa9t\xc3\xa9 from t");
	CHECK_STR("fp invalid utf8 replaced", fp("select a\xff\xfe from t", 0),
		  "select a\xef\xbf\xbd\xef\xbf\xbd from t");
	CHECK_STR("fp NUL byte is a separator", (
		  { static char o[64]; jm_sql_fingerprint("select\0a", 8, o, sizeof(o)); o; }),
		  "select a");
}

static void test_privacy(void)
{
	char name[96], out[512];
	int i, bad_full = 0, bad_prefix = 0, bad_digits = 0, bad_mysql = 0, bad_std = 0;

	for (i = 0; secret_queries[i]; i++) {
		const char *q = secret_queries[i];
		size_t n = strlen(q);

		jm_sql_fingerprint(q, n, out, sizeof(out));
		snprintf(name, sizeof(name), "privacy full query %d", i);
		if (leaks(out) || has_bare_digits(out)) {
			printf("  leak in [%s]\n", out);
			bad_full++;
		}
		CHECK(name, !leaks(out) && !has_bare_digits(out));
		for (size_t cut = 0; cut <= n; cut++) {
			jm_sql_fingerprint(q, cut, out, sizeof(out));
			if (leaks(out)) {
				if (bad_prefix++ < 3)
					printf("  leak at cut %zu of %d: [%s]\n", cut, i, out);
			}
			if (has_bare_digits(out))
				bad_digits++;
			/* MySQL has no $-quoting: there $$..$$ is not a literal. */
			jm_sql_fingerprint_ex(q, cut, JM_SQL_MYSQL, out, sizeof(out));
			if (!strstr(q, "$$") && (leaks(out) || has_bare_digits(out)))
				bad_mysql++;
			jm_sql_fingerprint_ex(q, cut, JM_SQL_STD_STRINGS, out, sizeof(out));
			/* STD is a promise about the text; only check numbers */
			if (has_bare_digits(out))
				bad_std++;
		}
	}
	CHECK_INT("privacy every truncation point: no secret bytes", bad_prefix, 0);
	CHECK_INT("privacy every truncation point: no bare digits", bad_digits, 0);
	CHECK_INT("privacy mysql dialect every truncation point", bad_mysql, 0);
	CHECK_INT("privacy std strings: no bare digits", bad_std, 0);
	CHECK_INT("privacy full queries", bad_full, 0);

	/* The generic dialect keeps "x" (an identifier in PostgreSQL): it is
	 * the MySQL dialect that must hide it. */
	CHECK(" generic keeps double-quoted identifier",
	      strstr(fp("select \"alice@example.com\" from t", 0), "alice") != NULL);
	CHECK("mysql hides double-quoted value",
	      !leaks(fp("select * from t where e = \"alice@example.com\" and n = \"424242\"",
			JM_SQL_MYSQL)));
}

/* Where the lexer and the server disagree on a comment's or a quote's
 * extent, a literal's opening quote is swallowed and its text shows as
 * words (review of session 15, each one reproduced against the server). */
static void test_privacy_server_lexing(void)
{
	static const struct {
		const char *name, *sql;
		unsigned flags;
	} cases[] = {
		/* PostgreSQL ends a -- comment at a carriage return too. */
		{ "pg: -- comment ends at CR", "SELECT id FROM t -- lookup\r WHERE pw = 'x\nsecret-cr'", 0 },
		{ "pg: -- comment ends at CR, std strings",
		  "SELECT id FROM t -- it\r WHERE pw = 'x\nsecret-cr'", JM_SQL_STD_STRINGS },
		/* MySQL ends a # or -- comment at a NUL too. */
		{ "mysql: # comment ends at NUL", "SELECT 1 # x\0 , 'alice@example.com'", JM_SQL_MYSQL },
		/* A version-gated executable comment a server skips (MariaDB
		 * skips 50700..99999, MySQL skips the M form). */
		{ "mysql: skipped versioned comment with a quote",
		  "SELECT /*!80000 it's MySQL 8 only */ id FROM t WHERE pw = 'hunter2 secret'", JM_SQL_MYSQL },
		{ "mysql: skipped M comment with a quote",
		  "select /*M!999999 it's */ 'secret-mvers-1' as pw", JM_SQL_MYSQL },
		{ "mysql: M comment, MySQL reads it as a comment",
		  "select /*M! it's */ 'secret-m' as pw", JM_SQL_MYSQL },
		{ "mysql: skipped versioned comment, backslash too",
		  "select /*!99999 it's */ 'a\\' , 'alice@example.com'", JM_SQL_MYSQL },
		/* PostgreSQL has no backtick quoting. */
		{ "pg: backticks are no quotes", "select 1 where ` = 'secret-backtick' ` ", 0 },
	};
	char out[512], name[768];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].sql), bad_cut = 0;
		jm_sql_fingerprint_ex(cases[i].sql, n, cases[i].flags, out, sizeof(out));
		snprintf(name, sizeof(name), "%s: no literal text [%s]", cases[i].name, out);
		CHECK(name, !leaks(out) && !strstr(out, "hunter") && !has_bare_digits(out));
		for (size_t cut = 0; cut <= n; cut++) {
			jm_sql_fingerprint_ex(cases[i].sql, cut, cases[i].flags, out, sizeof(out));
			bad_cut += leaks(out) || strstr(out, "hunter");
		}
		snprintf(name, sizeof(name), "%s: at every truncation point", cases[i].name);
		CHECK_INT(name, bad_cut, 0);
	}
	/* What the server runs stays SQL: an executed comment's words, and
	 * a backtick identifier in MySQL. */
	CHECK_STR("mysql: executed versioned comment keeps its SQL",
		  fp("SELECT /*!40101 SQL_NO_CACHE */ a FROM t WHERE b = 'x'", JM_SQL_MYSQL),
		  "select sql_no_cache a from t where b = ?");
	CHECK_STR("mysql: backtick identifier kept", fp("select `Col` from t where a = 'x'", JM_SQL_MYSQL),
		  "select `Col` from t where a = ?");
	CHECK_STR("pg: -- comment then CR ends it", fp("select 1 -- c\rfrom t", 0), "select ? from t");
}

/* Random statements built from self-contained pieces.  Each family is
 * valid under one reading of backslashes only (S: standard strings, B:
 * backslash escapes); the planted secrets are literals under that reading,
 * so with the escape mode unknown (flags 0) they must stay hidden, at every
 * truncation point too. */
static const char *const common_pieces[] = {
	"select", "t1", "col_2", "IN", "VALUES", "from", "where", "and", "E", "N", "=", "(",
	")", ",", ".", "::int", "*", "?", "$1", "'alice@example.com'", "424242", "4.24242e5",
	".424242", "0x424242", "'it''s alice@example.com'", "/* c */", "-- c\n", "\"id\"",
	"`c`", "'%alice@example.com%'", "''", "E'alice@example.com\\''", "'\\\\'",
	"N'alice@example.com'", "x'424242'", "-424242", "#>", "||", "'424242'",
};
static const char *const s_pieces[] = { "'C:\\'", "'a\\'", "$$alice@example.com$$",
					"$q$ 'alice@example.com' $q$" };
static const char *const b_pieces[] = { "'O\\'Brien alice@example.com'", "'\\''",
					"'x\\'424242'" };

static int random_family(const char *const *extra, size_t nextra, unsigned flags_a,
			 unsigned flags_b, unsigned *seed)
{
	const size_t nc = sizeof(common_pieces) / sizeof(common_pieces[0]);
	static const char *const seps[] = { " ", "\n", "\t ", "  " };
	char q[600], out[300];
	int bad = 0;

	for (int iter = 0; iter < 4000; iter++) {
		size_t n = 0;
		*seed = *seed * 1103515245u + 12345u;
		int parts = 1 + (int)((*seed >> 16) % 24);
		for (int k = 0; k < parts; k++) {
			*seed = *seed * 1103515245u + 12345u;
			unsigned r = *seed >> 16;
			const char *p = (r % 5 == 0) ? extra[(r / 5) % nextra] : common_pieces[(r / 5) % nc];
			const char *sep = seps[(r >> 8) % 4];
			size_t pl = strlen(p), sl = strlen(sep);
			if (n + pl + sl >= sizeof(q))
				break;
			memcpy(q + n, p, pl);
			n += pl;
			memcpy(q + n, sep, sl);
			n += sl;
		}
		for (int c = 0; c < 6; c++) {
			*seed = *seed * 1103515245u + 12345u;
			size_t cut = c == 0 ? n : (*seed >> 16) % (n + 1);
			for (int m = 0; m < 2; m++) {
				unsigned fl = m ? flags_b : flags_a;
				size_t ol = jm_sql_fingerprint_ex(q, cut, fl, out, sizeof(out));
				bool unbounded = ol >= sizeof(out) || strlen(out) != ol;
				if (leaks(out) || has_bare_digits(out) || unbounded) {
					if (bad++ < 3)
						printf("  leak (flags %u): [%.*s] -> [%s]\n", fl,
						       (int)cut, q, out);
				}
			}
		}
	}
	return bad;
}

static void test_privacy_random(void)
{
	unsigned seed = 12345;

	CHECK_INT("privacy random statements, standard strings, mode unknown/known",
		  random_family(s_pieces, sizeof(s_pieces) / sizeof(s_pieces[0]), 0,
				JM_SQL_STD_STRINGS, &seed), 0);
	CHECK_INT("privacy random statements, backslash strings, mode unknown/known",
		  random_family(b_pieces, sizeof(b_pieces) / sizeof(b_pieces[0]), 0,
				JM_SQL_BACKSLASH_STRINGS, &seed), 0);
}

static void test_bounds(void)
{
	char buf[32];
	const char *q = "SELECT averyveryverylongidentifier_name, other FROM t WHERE x = 1";
	size_t n;

	memset(buf, 'Z', sizeof(buf));
	n = jm_sql_fingerprint(q, strlen(q), buf, 10);
	CHECK("bounds: NUL inside outsz", n < 10 && buf[n] == '\0');
	CHECK("bounds: canary after outsz intact", buf[10] == 'Z' && buf[31] == 'Z');
	CHECK_INT("bounds: return is strlen", n, strlen(buf));
	memset(buf, 'Z', sizeof(buf));
	n = jm_sql_fingerprint(q, strlen(q), buf, 1);
	CHECK("bounds: outsz 1 gives empty string", n == 0 && buf[0] == '\0' && buf[1] == 'Z');
	n = jm_sql_fingerprint(q, strlen(q), buf, 0);
	CHECK("bounds: outsz 0 writes nothing", n == 0 && buf[0] == '\0' && buf[1] == 'Z');
	n = jm_sql_fingerprint(NULL, 5, buf, sizeof(buf));
	CHECK("bounds: NULL sql", n == 0 && buf[0] == '\0');
	/* A multibyte character never gets cut in half. */
	memset(buf, 'Z', sizeof(buf));
	n = jm_sql_fingerprint("select \xe2\x82\xac\xe2\x82\xac", 13, buf, 10);
	CHECK_STR("bounds: whole UTF-8 characters only, no trailing space", buf, "select");
	CHECK_INT("bounds: utf8 cut length", n, 6);
	/* Huge VALUES lists collapse instead of filling the output. */
	static char big[40000];
	size_t bl = (size_t)snprintf(big, sizeof(big), "INSERT INTO t (a,b) VALUES ");
	for (int i = 0; i < 1500 && bl + 40 < sizeof(big); i++)
		bl += (size_t)snprintf(big + bl, sizeof(big) - bl, "%s(%d,'v%d')", i ? "," : "", i, i);
	bl += (size_t)snprintf(big + bl, sizeof(big) - bl, " RETURNING id");
	char out[128];
	jm_sql_fingerprint(big, bl, out, sizeof(out));
	CHECK_STR("bounds: 1500-row VALUES collapses", out,
		  "insert into t (a,b) values (?) returning id");
}

static void test_command(void)
{
#define CMDF(name, sql, flags, want) \
	CHECK_INT("cmd " name, jm_sql_command(sql, strlen(sql), flags), want)
#define CMD(name, sql, want) CMDF(name, sql, 0, want)
	CMD("select", "SELECT 1", JM_SQL_SELECT);
	CMD("select after comments and parens", "/* c */ -- d\n ((select 1) union (select 2))",
	    JM_SQL_SELECT);
	CMD("insert", "insert into t values (1)", JM_SQL_INSERT);
	CMD("replace is insert", "REPLACE INTO t VALUES (1)", JM_SQL_INSERT);
	CMD("update", "UPDATE t SET a = 1", JM_SQL_UPDATE);
	CMD("delete", "DELETE FROM t", JM_SQL_DELETE);
	CMDF("mysql executable comment", "/*!50001 INSERT INTO t VALUES (1) */",
	     JM_SQL_MYSQL, JM_SQL_INSERT);
	CMD("postgres: /*! is a comment", "/*! INSERT INTO t VALUES (1) */ SELECT 1", JM_SQL_SELECT);
	CMD("merge", "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", JM_SQL_MERGE);
	CMD("copy from", "COPY t (a, b) FROM STDIN WITH (FORMAT csv)", JM_SQL_COPY_FROM);
	CMD("copy to", "copy t to stdout", JM_SQL_COPY_TO);
	CMD("copy query to", "COPY (SELECT * FROM t WHERE a IN (SELECT b FROM u)) TO STDOUT",
	    JM_SQL_COPY_TO);
	CMD("ctas", "CREATE TABLE x AS SELECT * FROM y", JM_SQL_CREATE_TABLE_AS);
	CMD("ctas temp cols", "create temporary table x (a, b) as select 1, 2",
	    JM_SQL_CREATE_TABLE_AS);
	CMD("mysql create table select", "CREATE TABLE x SELECT * FROM y", JM_SQL_CREATE_TABLE_AS);
	CMD("create table plain", "CREATE TABLE x (a int GENERATED ALWAYS AS (1) STORED)",
	    JM_SQL_OTHER);
	CMD("create view", "CREATE VIEW v AS SELECT 1", JM_SQL_OTHER);
	CMD("create table; select", "CREATE TABLE x (a int); SELECT * FROM big", JM_SQL_OTHER);
	CMD("create table; select as", "create table x (a int); select a as b from big",
	    JM_SQL_OTHER);
	CMD("with insert", "WITH a AS (SELECT 1), b (x) AS (SELECT 2) INSERT INTO t SELECT * FROM a",
	    JM_SQL_INSERT);
	CMD("with recursive select", "WITH RECURSIVE r AS (SELECT 1 UNION SELECT 2) SELECT * FROM r",
	    JM_SQL_SELECT);
	CMD("with update", "with x as (delete from q returning *) update t set a = 1",
	    JM_SQL_UPDATE);
	CMD("load data", "LOAD DATA LOCAL INFILE '/x.csv' INTO TABLE t", JM_SQL_COPY_FROM);
	CMD("set", "SET NAMES utf8mb4", JM_SQL_OTHER);
	CMD("empty", "", JM_SQL_OTHER);
	CMD("garbage", "\x01\x02((((", JM_SQL_OTHER);
	CMD("string first", "'select'", JM_SQL_OTHER);
	/* The dialect decides what is a comment. */
	CMDF("mysql # comment first", "#etl job 42\nINSERT INTO sales VALUES (1)", JM_SQL_MYSQL,
	     JM_SQL_INSERT);
	CMDF("mysql # comment, backslash mode", "# x\nUPDATE t SET a = 1",
	     JM_SQL_MYSQL | JM_SQL_BACKSLASH_STRINGS, JM_SQL_UPDATE);
	CMD("postgres # is no comment", "#etl job 42\nINSERT INTO sales VALUES (1)", JM_SQL_OTHER);
	CMDF("mysql --x is no comment", "--x\nINSERT INTO sales VALUES (1)", JM_SQL_MYSQL,
	     JM_SQL_OTHER);
	CMDF("mysql -- space comment", "-- x\nDELETE FROM t", JM_SQL_MYSQL, JM_SQL_DELETE);
	CMDF("mysql double-quoted string is no name", "\"insert\" INTO t", JM_SQL_MYSQL,
	     JM_SQL_OTHER);
#undef CMDF
#undef CMD
}

static void test_target(void)
{
	char out[64];
#define TGTF(name, sql, flags, want) do {                                            \
		bool ok_ = jm_sql_write_target(sql, strlen(sql), flags, out, sizeof(out)); \
		CHECK_STR("target " name, ok_ ? out : "(none)", want);                  \
	} while (0)
#define TGT(name, sql, want) TGTF(name, sql, 0, want)
	TGT("insert", "INSERT INTO Sales (a) VALUES (1)", "sales");
	TGT("insert schema", "insert into public.sales select * from s", "public.sales");
	TGT("insert quoted keeps case", "INSERT INTO \"Sales\" VALUES (1)", "Sales");
	TGT("insert quoted schema", "INSERT INTO \"Mart\".\"Sales\"(a) VALUES (1)", "Mart.Sales");
	TGT("insert mysql no into", "INSERT IGNORE t VALUES (1)", "t");
	TGTF("replace", "REPLACE INTO `db`.`T` VALUES (1)", JM_SQL_MYSQL, "db.T");
	TGT("update", "UPDATE ONLY Acc SET a = 1", "acc");
	TGT("update mysql modifiers", "update low_priority ignore t2 set a = 1", "t2");
	TGT("delete", "DELETE FROM x.y WHERE a = 1", "x.y");
	TGT("delete only", "delete from only x", "x");
	TGT("delete multi-table", "DELETE t1 FROM t1 JOIN t2 ON t1.a = t2.a", "t1");
	TGT("merge", "MERGE INTO tgt t USING src s ON t.id = s.id", "tgt");
	TGT("copy from", "COPY sales (a, b) FROM STDIN", "sales");
	TGT("copy to none", "COPY sales TO STDOUT", "(none)");
	TGT("ctas", "CREATE TABLE IF NOT EXISTS s.t AS SELECT 1", "s.t");
	TGT("ctas unlogged", "create unlogged table \"T\" as select 1", "T");
	TGT("create table; select", "CREATE TABLE x (a int); SELECT * FROM big", "(none)");
	TGT("with insert", "WITH x AS (SELECT 1) INSERT INTO tgt SELECT * FROM x", "tgt");
	TGT("load data", "LOAD DATA INFILE 'f' REPLACE INTO TABLE Stage.Raw", "stage.raw");
	TGT("select none", "SELECT * FROM t", "(none)");
	TGT("insert into literal", "INSERT INTO 'x' VALUES (1)", "(none)");
	TGT("truncated", "INSERT INTO", "(none)");
	TGT("comments", "/* etl */ INSERT /* x */ INTO -- y\n t_1 VALUES (1)", "t_1");
	TGTF("mysql # comment first", "#etl job 42\nINSERT INTO sales VALUES (1)", JM_SQL_MYSQL,
	     "sales");
	TGT("postgres # is no comment", "#etl job 42\nINSERT INTO sales VALUES (1)", "(none)");
	TGTF("mysql # comment inside", "INSERT # into x\n INTO `Db`.sales VALUES (1)",
	     JM_SQL_MYSQL, "Db.sales");
	TGTF("mysql backticks", "REPLACE INTO `db`.`T` VALUES (1)",
	     JM_SQL_MYSQL | JM_SQL_STD_STRINGS, "db.T");
	{
		char small[4];
		bool ok = jm_sql_write_target("insert into longname values (1)", 31, 0, small,
					      sizeof(small));
		CHECK("target too long for buffer is refused", !ok && small[0] == '\0');
	}
#undef TGTF
#undef TGT
}

/* Statements of a multi-statement query string, as "[first]|[second]|..."
 * (each as jm_sql_statement_end() cuts it). */
static const char *stmts(const char *sql, unsigned flags)
{
	static char out[512];
	size_t len = strlen(sql), o = 0;

	out[0] = '\0';
	for (size_t off = 0, n; off < len; off += n) {
		n = jm_sql_statement_end(sql + off, len - off, flags);
		if (!n || o + n + 4 >= sizeof(out))
			return "(stuck)";
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s[%.*s]", o ? "|" : "", (int)n,
				      sql + off);
	}
	return out;
}

static void test_statements(void)
{
#define STF(name, sql, flags, want) CHECK_STR("statements " name, stmts(sql, flags), want)
#define ST(name, sql, want) STF(name, sql, 0, want)
	ST("one", "insert into t values (1)", "[insert into t values (1)]");
	ST("trailing ;", "select 1;", "[select 1;]");
	ST("three", "begin; insert into t values (1); commit",
	   "[begin;]|[ insert into t values (1);]|[ commit]");
	ST("; in a string", "insert into t values ('a;b'); select 1",
	   "[insert into t values ('a;b');]|[ select 1]");
	ST("; in a comment", "select 1 /* ; */ -- ;\n; select 2",
	   "[select 1 /* ; */ -- ;\n;]|[ select 2]");
	ST("; in a quoted name", "insert into \"a;b\" values (1); select 1",
	   "[insert into \"a;b\" values (1);]|[ select 1]");
	ST("; in dollar quotes", "do $$ begin perform 1; end $$; insert into t values (1)",
	   "[do $$ begin perform 1; end $$;]|[ insert into t values (1)]");
	ST("begin atomic body is one statement",
	   "create function f() returns int language sql begin atomic select 1; insert into t "
	   "values (1); end; insert into u values (1)",
	   "[create function f() returns int language sql begin atomic select 1; insert into t "
	   "values (1); end; insert into u values (1)]");
	STF("mysql procedure body is one statement",
	    "CREATE PROCEDURE p() BEGIN SELECT 1; INSERT INTO t VALUES (1); END", JM_SQL_MYSQL,
	    "[CREATE PROCEDURE p() BEGIN SELECT 1; INSERT INTO t VALUES (1); END]");
	ST("begin transaction is no body", "begin; create table x as select 1; commit",
	   "[begin;]|[ create table x as select 1;]|[ commit]");
	STF("mysql backslash string", "INSERT INTO t VALUES ('a\\';b'); SELECT 1",
	    JM_SQL_MYSQL | JM_SQL_BACKSLASH_STRINGS,
	    "[INSERT INTO t VALUES ('a\\';b');]|[ SELECT 1]");
	STF("mysql # comment", "SELECT 1 # ;\n; INSERT INTO t VALUES (1)", JM_SQL_MYSQL,
	    "[SELECT 1 # ;\n;]|[ INSERT INTO t VALUES (1)]");
	ST("empty", "", "");
	/* What on_query() makes of "begin; insert ...; commit": the target of
	 * the statement in the middle. */
	{
		const char *q = "BEGIN; INSERT INTO public.sales SELECT * FROM s; COMMIT;";
		size_t a = jm_sql_statement_end(q, strlen(q), 0);
		size_t b = jm_sql_statement_end(q + a, strlen(q) - a, 0);
		char out[64];
		CHECK_INT("statements: the second is an INSERT", jm_sql_command(q + a, b, 0),
			  JM_SQL_INSERT);
		CHECK("statements: the second writes public.sales",
		      jm_sql_write_target(q + a, b, 0, out, sizeof(out)) &&
		      strcmp(out, "public.sales") == 0);
	}
#undef STF
#undef ST
}

/* ---- memo keys ---- */

static const char *key(const char *sql, unsigned flags)
{
	static char out[600];
	size_t n = jm_sql_memo_key(sql, strlen(sql), flags, out, sizeof(out) - 1);
	out[n] = '\0';
	return n ? out : "(none)";
}

static const unsigned key_flags[] = { 0, JM_SQL_MYSQL, JM_SQL_STD_STRINGS,
				      JM_SQL_MYSQL | JM_SQL_BACKSLASH_STRINGS };

/* Texts a and b: equal keys must mean equal fingerprints.  Returns whether
 * the keys were equal (so callers can count the pairs actually checked). */
static bool key_pair(const char *a, size_t al, const char *b, size_t bl, unsigned flags)
{
	char ka[600], kb[600], fa[512], fb[512];
	size_t na = jm_sql_memo_key(a, al, flags, ka, sizeof(ka));
	size_t nb = jm_sql_memo_key(b, bl, flags, kb, sizeof(kb));

	if (!na || na != nb || memcmp(ka, kb, na) != 0)
		return false;
	jm_sql_fingerprint_ex(a, al, flags, fa, sizeof(fa));
	jm_sql_fingerprint_ex(b, bl, flags, fb, sizeof(fb));
	if (strcmp(fa, fb) != 0) {
		fprintf(stderr, "  memo key collision (flags %u): [%.*s] -> %s / [%.*s] -> %s\n",
			flags, (int)al, a, fa, (int)bl, b, fb);
		CHECK("memo key: equal keys, equal fingerprints", false);
	}
	return true;
}

static void test_memo_key(void)
{
	CHECK_STR("key: digits and string contents go", key("SELECT a FROM t WHERE id = 42 AND s = 'x''y'", 0),
		  "nSELECT a FROM t WHERE id = 0 AND s = ''");
	CHECK_STR("key: digits of identifiers and parameters stay",
		  key("select t1.c2 from t1 where a = $12 and b = 1.5e-3", 0),
		  "nselect t1.c2 from t1 where a = $12 and b = 0.0e-0");
	CHECK_STR("key: quoted identifiers stay whole", key("select \"a 1\", \"b 2\" from t", 0),
		  "nselect \"a 1\", \"b 2\" from t");
	CHECK_STR("key: mysql backtick identifiers stay whole", key("select `b 2` from t", JM_SQL_MYSQL),
		  "nselect `b 2` from t");
	CHECK_STR("key: postgres backticks quote nothing", key("select \"a 1\", `b 2` from t", 0),
		  "nselect \"a 1\", `b 0` from t");
	/* An executable comment anywhere, a string's inside too, reads the
	 * text a second way (sql.h): the key is the text (make fuzz found
	 * two texts whose keys were equal while only one was read twice). */
	CHECK_STR("key: mysql text holding an executable comment is verbatim",
		  key("select ''\"/*M 1 Zr", JM_SQL_MYSQL), "vselect ''\"/*M 1 Zr");
	CHECK("key: ... so a text without one keys differently",
	      strcmp(key("select ''\"/*N 1 Zr", JM_SQL_MYSQL), "vselect ''\"/*N 1 Zr") != 0);
	CHECK_STR("key: mysql double quotes are strings", key("select \"a 1\" from t", JM_SQL_MYSQL),
		  "nselect \"\" from t");
	CHECK_STR("key: unterminated string", key("select 'abc", 0), "nselect '");
	CHECK_STR("key: backslash: verbatim", key("select 'a\\' 1", 0), "vselect 'a\\' 1");
	CHECK_STR("key: comment: verbatim", key("select 1 -- 2", 0), "vselect 1 -- 2");
	CHECK_STR("key: block comment: verbatim", key("select /* 2 */ 1", 0), "vselect /* 2 */ 1");
	CHECK_STR("key: # : verbatim", key("select a # 2", 0), "vselect a # 2");
	CHECK_STR("key: dollar quote: verbatim", key("select $$1$$", 0), "vselect $$1$$");
	CHECK_STR("key: mysql $ is a letter", key("select a$1 from t", JM_SQL_MYSQL),
		  "nselect a$1 from t");
	CHECK_STR("key: pgbench -S", key("SELECT abalance FROM pgbench_accounts WHERE aid = 77123;", 0),
		  "nSELECT abalance FROM pgbench_accounts WHERE aid = 0;");
	{
		char small[8];
		CHECK_INT("key: does not fit", jm_sql_memo_key("select 1 from t", 15, 0, small, sizeof(small)), 0);
		CHECK_INT("key: verbatim does not fit",
			  jm_sql_memo_key("select 1 -- x", 13, 0, small, sizeof(small)), 0);
	}
	/* What the fingerprint keeps, the key keeps. */
	{
		char k1[64];
		snprintf(k1, sizeof(k1), "%s", key("select \"c 1\" from t", 0));
		CHECK("key: quoted identifiers differ", strcmp(k1, key("select \"c 2\" from t", 0)) != 0);
		snprintf(k1, sizeof(k1), "%s", key("select $1", 0));
		CHECK("key: $n parameters differ", strcmp(k1, key("select $2", 0)) != 0);
	}

	/* Templates, each filled twice with different numbers and string
	 * contents: the keys must agree, and so must the fingerprints.  (A
	 * digit glued to a letter or '_' is kept by the key: t1, 1_5, 1e5.) */
	static const char *const tpl[] = {
		"SELECT abalance FROM pgbench_accounts WHERE aid = #;",
		"select * from t where a in (#, #, #) and b = '@'",
		"INSERT INTO t (a, b) VALUES (#, '@'), (#.#, '@')",
		"update t set x = #e-#, y = .#, z = #_5 where id = #",
		"select #x1F, #b101, #o7, #.e5, #..#, t1.c from t",
		"select \"q 1\" || '@' || `b` from t limit #",
		"select N'@', E'@', X'@', U&'@', _utf8mb4'@' from t where a = -#",
		"select a::numeric(#, #) from t where b > #abc and c < 'it''s @'",
		"select '@",
	};
	unsigned seed = 7;
	int pairs = 0;
	for (size_t t = 0; t < sizeof(tpl) / sizeof(tpl[0]); t++) {
		for (int rep = 0; rep < 40; rep++) {
			char a[300], b[300];
			size_t al = 0, bl = 0;
			for (const char *p = tpl[t]; *p && al < 250 && bl < 250; p++) {
				if (*p == '#' || *p == '@') {
					int na = 1 + (int)(rand_r(&seed) % 6), nb = 1 + (int)(rand_r(&seed) % 6);
					for (int i = 0; i < na; i++)
						a[al++] = *p == '#' ? (char)('0' + rand_r(&seed) % 10) : (char)('a' + rand_r(&seed) % 26);
					for (int i = 0; i < nb; i++)
						b[bl++] = *p == '#' ? (char)('0' + rand_r(&seed) % 10) : (char)(' ' + rand_r(&seed) % 7);
				} else {
					a[al++] = *p;
					b[bl++] = *p;
				}
			}
			for (size_t f = 0; f < sizeof(key_flags) / sizeof(key_flags[0]); f++) {
				char ka[600], kb[600];
				size_t na = jm_sql_memo_key(a, al, key_flags[f], ka, sizeof(ka));
				size_t nb = jm_sql_memo_key(b, bl, key_flags[f], kb, sizeof(kb));
				if (!(na && na == nb && memcmp(ka, kb, na) == 0)) {
					fprintf(stderr, "  keys differ (flags %u): [%.*s] / [%.*s]\n", key_flags[f],
						(int)al, a, (int)bl, b);
					CHECK("memo key: a template's fillings share a key", false);
				}
				pairs += key_pair(a, al, b, bl, key_flags[f]);
			}
		}
	}
	CHECK("memo key: template pairs checked", pairs == 9 * 40 * 4);

	/* Random texts over an alphabet of everything the lexer reacts to,
	 * against copies with other digits (and digit runs of other lengths)
	 * and other letters: wherever the keys agree the fingerprints must. */
	static const char alpha[] = "aeExbBoOnNuU_$ 09150.,;()=+-*/#?'\"`\\&:\n";
	int checked = 0;
	for (int it = 0; it < 20000; it++) {
		char a[64], b[128], c[64];
		size_t al = 1 + rand_r(&seed) % 40, bl = 0;
		for (size_t i = 0; i < al; i++)
			a[i] = alpha[rand_r(&seed) % (sizeof(alpha) - 1)];
		for (size_t i = 0; i < al; i++) {
			char ch = a[i];
			if (ch >= '0' && ch <= '9') {
				b[bl++] = (char)('0' + (ch - '0' + 3) % 10);
				if (rand_r(&seed) % 2)
					b[bl++] = (char)('0' + rand_r(&seed) % 10);
			} else {
				b[bl++] = ch;
			}
			c[i] = (ch >= 'a' && ch <= 'y') ? (char)(ch + 1) : ch;
		}
		for (size_t f = 0; f < sizeof(key_flags) / sizeof(key_flags[0]); f++) {
			checked += key_pair(a, al, b, bl, key_flags[f]);
			checked += key_pair(a, al, c, al, key_flags[f]);
		}
	}
	CHECK("memo key: random pairs with equal keys checked (> 10000)", checked > 10000);
}

int main(void)
{
	test_exact_shapes();
	test_privacy();
	test_privacy_server_lexing();
	test_privacy_random();
	test_bounds();
	test_command();
	test_target();
	test_statements();
	test_memo_key();
	TEST_EXIT();
}
