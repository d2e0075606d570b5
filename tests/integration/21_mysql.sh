#!/usr/bin/env bash
# Issue 3 acceptance, MariaDB: the agent's query counts equal the server's own
# SHOW GLOBAL STATUS deltas (Questions, Com_select), errors are counted, rows
# returned/affected, redaction, and prepared statements.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../services.sh"
my_start || { fail my-start "MariaDB did not start"; exit 1; }
U=$UNIQ
TBL=jm_t_${U//-/_}
cat > "$T/agent.yaml" <<YAML
jobs:
  - name: myfresh-$U
    outputs:
      - table: $JM_MY_DB.$TBL
  - name: mymulti-$U
    outputs:
      - table: $JM_MY_DB.$TBL
YAML
mariadb -uroot $JM_MY_DB -e "create table $TBL (id int primary key, email varchar(64))"
start_agent "$T/agent.yaml" --interval 1 || { fail agent-start "agent not ready"; exit 1; }

# 5. mysqlslap over TCP: N queries.  The oracle: the server's Com_select
#    delta (SHOW STATUS itself counts under Com_show_status).  Questions also
#    counts commands that are not statements (COM_QUIT, COM_INIT_DB), so the
#    agent's statement count is compared with the Com_* counters.
s0=$(my_status Com_select)
JOBMETER_JOB=slap-$U mysqlslap -h 127.0.0.1 -P 3306 -u $JM_MY_USER -p$JM_MY_PASS \
  --create-schema=$JM_MY_DB --query="select id from $TBL where id = 1" \
  --number-of-queries=500 --concurrency=1 --iterations=1 > "$T/slap.out" 2>&1
s1=$(my_status Com_select)
wait_run "slap-$U" || fail run-slap "no run line"
grep -q "Average number of seconds" "$T/slap.out" || fail slap "mysqlslap did not run: $(head -3 "$T/slap.out")"
check_eq "mysqlslap: queries equal the Com_select delta" \
  "$(db_field slap-$U mysql queries)" "$((s1 - s0))"
check_eq "mysqlslap: 500 SELECT calls" "$(stmt_field slap-$U '^select' calls)" 500
check_eq "mysqlslap: no errors" "$(db_field slap-$U mysql errors)" 0

# mysql client over the Unix socket: writes, errors and returned rows.
com() { echo $(( $(my_status Com_select) + $(my_status Com_insert) + $(my_status Com_update) )); }
q0=$(com)
JOBMETER_JOB=cli-$U mariadb -u$JM_MY_USER -p$JM_MY_PASS -S /run/mysqld/mysqld.sock $JM_MY_DB --force \
  > /dev/null 2>&1 <<SQL
insert into $TBL values (1, 'alice@example.com'), (2, 'b'), (3, 'c');
update $TBL set email = 'z' where id >= 2;
select * from $TBL;
select * from no_such_table_1;
insert into $TBL values (1, 'dup');
select 424242;
SQL
q1=$(com)
wait_run "cli-$U" || fail run-cli "no run line"
check_eq "mysql client: queries equal the Com_select+insert+update delta" \
  "$(db_field cli-$U mysql queries)" "$((q1 - q0))"
check_eq "mysql client: 2 errors" "$(db_field cli-$U mysql errors)" 2
check_eq "mysql client: INSERT affected 3 rows" "$(stmt_field cli-$U '^insert' rows)" 3
check_eq "mysql client: UPDATE affected 2 rows" "$(stmt_field cli-$U '^update' rows)" 2
check_eq "mysql client: SELECT * returned 3 rows" "$(stmt_field cli-$U "^select [*] from $TBL" rows)" 3
check_eq "mysql client: endpoint is the socket" \
  "$(jq -rs --arg j "cli-$U" '[.[] | select(.type=="run" and .job==$j)][0].db[0].endpoint' "$T/out.jsonl")" \
  /run/mysqld/mysqld.sock

# freshness: an INSERT that starts with a MySQL # comment is a write to the
# declared table.  --comments: the client sends comments as typed (a line
# that is only a # comment it sends alone, hence the /* */ before it).
JOBMETER_JOB=myfresh-$U mariadb --comments -u$JM_MY_USER -p$JM_MY_PASS -S /run/mysqld/mysqld.sock \
  $JM_MY_DB > /dev/null 2>&1 <<SQL
/* etl */ #etl job 42
insert into $TBL values (10, 'x');
SQL
wait_run "myfresh-$U" || fail run-myfresh "no run line"
check_eq "freshness (mysql): INSERT after a # comment counted as a write" \
  "$(jq -rs --arg j "myfresh-$U" '[.[] | select(.type=="run" and .job==$j)][0].outputs | length' "$T/out.jsonl")" 1
# freshness: several statements in one COM_QUERY (a --delimiter the text
# does not hold makes the client send it whole; it allows multi-statements):
# the INSERT between BEGIN and COMMIT is a write.
JOBMETER_JOB=mymulti-$U mariadb -u$JM_MY_USER -p$JM_MY_PASS -S /run/mysqld/mysqld.sock \
  --delimiter='//' $JM_MY_DB -e "begin; insert into $TBL values (11, 'y'); commit" > /dev/null 2>&1
wait_run "mymulti-$U" || fail run-mymulti "no run line"
check_eq "freshness (mysql): one query 'begin; insert; commit' is one statement" \
  "$(jq -rs --arg j "mymulti-$U" '[.[] | select(.type=="run" and .job==$j)][0].db[0].queries' "$T/out.jsonl")" 1
check_eq "freshness (mysql): the INSERT inside 'begin; ...; commit' counted as a write" \
  "$(jq -rs --arg j "mymulti-$U" '[.[] | select(.type=="run" and .job==$j)][0].outputs | length' "$T/out.jsonl")" 1

# prepared statements through mysqlslap's --use-prepared? not in 10.11: use
# the server-side PREPARE via the client library instead (COM_QUERY); the
# binary protocol is exercised by the unit tests with golden packets.
# -w: the number as a token; a figure of the output (a latency's digits)
# may hold 424242 inside a longer digit run.
if grep -q -e 'alice@example.com' "$T/out.jsonl" "$T/agent.log" ||
   grep -qw -e '424242' "$T/out.jsonl" "$T/agent.log"; then
  fail "redaction (mysql): literals never leave the agent" "literal found"
else
  pass "redaction (mysql): literals never leave the agent"
fi
# LOCAL INFILE whose data crosses uncaptured middles (5,000 lines in one
# send): the load's rows come from its OK packet, and what the client sends
# after it on the connection is read as commands again, not as file data.
LTBL=${TBL}_load
mariadb -uroot $JM_MY_DB -e "create table $LTBL (id int primary key, email varchar(64))"
seq 1 5000 | sed 's/$/,someone@example.com/' > "$T/load.csv"
JOBMETER_JOB=load-$U mariadb --local-infile=1 -h 127.0.0.1 -u$JM_MY_USER -p$JM_MY_PASS $JM_MY_DB \
  -e "select 1; load data local infile '$T/load.csv' into table $LTBL fields terminated by ',';
      select count(*) from $LTBL; select 2" > "$T/load.out" 2>&1
wait_run "load-$U" || fail run-load "no run line"
check_eq "local infile: the server loaded 5,000 rows" "$(sed -n 4p "$T/load.out")" 5000
check_eq "local infile: the load and the three selects" "$(db_field load-$U mysql queries)" 4
check_eq "local infile: the load's rows" "$(stmt_field load-$U '^load data' rows)" 5000
check_eq "local infile: the select after it" "$(stmt_field load-$U '^select count' calls)" 1

# LOCAL INFILE data that looks like commands: each line holds the bytes of a
# COM_QUERY packet ("09 00 00 00 03 select 1"), and a UTF-16LE file's
# digits read "33 00 39 00 0a" (a 3.7 MB COM_PROCESS_INFO).  The client
# cuts its 16 KiB sends anywhere, so some start with such bytes after TX
# lost a header in an uncaptured middle.  The oracle is the client: four
# statements, no error, its last two results printed (the UTF-16 file
# loads as the server reads it; the bytes on the wire are the point).
FTBL=${TBL}_fake
mariadb -uroot $JM_MY_DB -e "create table $FTBL (id int primary key, v varchar(200))"
python3 -c '
import sys
pkt = b"\x09\x00\x00\x00\x03select 1"
with open(sys.argv[1], "wb") as f:
    for i in range(1, 100001): f.write(b"%d," % i + pkt * 3 + b"\n")
with open(sys.argv[2], "wb") as f:
    for i in range(1, 100001): f.write(("%d\tname %d\n" % (i, i)).encode("utf-16-le"))
' "$T/fake.csv" "$T/fake16.tsv"
for f in fake:"fields terminated by ','" fake16:"character set utf16le fields terminated by '\t'"; do
  name=${f%%:*}; opts=${f#*:}
  mariadb -uroot $JM_MY_DB -e "truncate table $FTBL"
  JOBMETER_JOB=$name-$U mariadb -N --local-infile=1 -h 127.0.0.1 -u$JM_MY_USER -p$JM_MY_PASS $JM_MY_DB \
    -e "select 1; load data local infile '$T/${name}.$([ $name = fake ] && echo csv || echo tsv)' into table $FTBL $opts;
        select count(*) from $FTBL; select 2" > "$T/$name.out" 2>&1
  wait_run "$name-$U" || fail run-$name "no run line"
  loaded=$(sed -n 2p "$T/$name.out")   # the client's count(*): the rows loaded
  check "infile look-alikes ($name): the client ran four statements without error" \
    test "$(tr '\n' ' ' < "$T/$name.out")" = "1 $loaded 2 "
  check_eq "infile look-alikes ($name): four queries, no error, as the client saw" \
    "$(db_field $name-$U mysql queries) $(db_field $name-$U mysql errors)" "4 0"
  check_eq "infile look-alikes ($name): the load's rows" "$(stmt_field $name-$U '^load data' rows)" "$loaded"
  check_eq "infile look-alikes ($name): the count after it, and both selects" \
    "$(stmt_field $name-$U '^select count' calls) $(stmt_field $name-$U '^select [?]$' calls)" "1 2"
done

# A C client for what the mariadb CLI cannot do (libmariadb's binary
# protocol).  It prints its own view, the oracle: "statements errors".
MYDRV=$T/mydrv
cat > "$T/mydrv.c" <<'C'
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static MYSQL *m;
static int stmts, errs;
static void run_stmt(MYSQL_STMT *s, int direct, const char *sql)
{
	int rc = direct ? mariadb_stmt_execute_direct(s, sql, strlen(sql)) : mysql_stmt_execute(s);
	stmts++;
	if (rc) errs++; else mysql_stmt_store_result(s);
	mysql_stmt_free_result(s);
}
int main(int argc, char **argv)
{
	const char *mode = argv[1];
	int n = atoi(argv[2]);
	m = mysql_init(NULL);
	if (!mysql_real_connect(m, "127.0.0.1", getenv("MYU"), getenv("MYP"), getenv("MYDB"), 3306, NULL, 0))
		return fprintf(stderr, "connect: %s\n", mysql_error(m)), 1;
	if (!strcmp(mode, "direct")) {
		/* a kept statement, n execute_direct that fail, the kept one again */
		MYSQL_STMT *keep = mysql_stmt_init(m);
		if (mysql_stmt_prepare(keep, "select 42 as kept", 17)) return 1;
		run_stmt(keep, 0, NULL);
		for (int i = 0; i < n; i++) {
			MYSQL_STMT *s = mysql_stmt_init(m);
			run_stmt(s, 1, i % 2 ? "select * from nosuch_direct where id > 1"
					     : "select seq as direct_ok from seq_1_to_3");
			mysql_stmt_close(s);
		}
		run_stmt(keep, 0, NULL);
		mysql_stmt_close(keep);
	}
	if (!strcmp(mode, "many")) {
		/* n live statements, each executed twice, in order */
		MYSQL_STMT *s[256];
		char q[96];
		for (int i = 0; i < n && i < 256; i++) {
			snprintf(q, sizeof(q), "select seq, %d as tag%d from seq_1_to_%d", i, i, i % 5 + 1);
			s[i] = mysql_stmt_init(m);
			if (mysql_stmt_prepare(s[i], q, strlen(q))) return 1;
		}
		for (int r = 0; r < 2; r++)
			for (int i = 0; i < n && i < 256; i++)
				run_stmt(s[i], 0, NULL);
		for (int i = 0; i < n && i < 256; i++)
			mysql_stmt_close(s[i]);
	}
	if (!strcmp(mode, "chuser")) {
		/* a refused CHANGE_USER, then one query on a new connection */
		stmts++;
		if (mysql_change_user(m, getenv("MYU"), "wrong-password", getenv("MYDB"))) errs++;
		mysql_close(m);
		m = mysql_init(NULL);
		if (!mysql_real_connect(m, "127.0.0.1", getenv("MYU"), getenv("MYP"), getenv("MYDB"), 3306, NULL, 0))
			return 1;
		stmts++;
		if (mysql_query(m, "select 1")) errs++; else mysql_free_result(mysql_store_result(m));
	}
	printf("%d %d\n", stmts, errs);
	mysql_close(m);
	return 0;
}
C
if ! cc -O1 -o "$MYDRV" "$T/mydrv.c" $(mariadb_config --cflags --libs) 2>"$T/mydrv.err"; then
  fail "mysql C client" "cannot build: $(head -3 "$T/mydrv.err")"
fi
export MYU=$JM_MY_USER MYP=$JM_MY_PASS MYDB=$JM_MY_DB

# mariadb_stmt_execute_direct pipelines PREPARE + EXECUTE(-1); when the
# PREPARE fails the server fails both, and the client sees one failure.
JOBMETER_JOB=direct-$U "$MYDRV" direct 6 > "$T/direct.out" 2>&1
wait_run "direct-$U" || fail run-direct "no run line"
check_eq "execute_direct: queries and errors as the client saw them" \
  "$(db_field direct-$U mysql queries) $(db_field direct-$U mysql errors)" "$(cat "$T/direct.out")"
check_eq "execute_direct: each failure on the failed SQL" \
  "$(stmt_field direct-$U '^select [*] from nosuch_direct' errors)" 3
check_eq "execute_direct: the statement prepared before is not charged" \
  "$(stmt_field direct-$U 'kept' calls) $(stmt_field direct-$U 'kept' errors)" "2 0"

# More live prepared statements (60) than the parser keeps (48): executes of
# the evicted ones have no SQL to show.  They are counted, under an empty
# fingerprint (not " ...", a cut text), and each one is a parse error.
pe0=$(jq -rs '[.[] | select(.type=="loss") | .total.parse_errors] | max // 0' "$T/out.jsonl")
JOBMETER_JOB=many-$U "$MYDRV" many 60 > "$T/many.out" 2>&1
wait_run "many-$U" || fail run-many "no run line"
check_eq "60 prepared statements: queries and errors as the client saw them" \
  "$(db_field many-$U mysql queries) $(db_field many-$U mysql errors)" "$(cat "$T/many.out")"
unk=$(jq -rs --arg j "many-$U" '[.[] | select(.type=="run" and .job==$j) | .db[].statements[] |
       select(.fingerprint=="") | .calls] | add // 0' "$T/out.jsonl")
check "60 prepared statements: executes of evicted ones under an empty fingerprint ($unk)" \
  test "$unk" -gt 0
check_eq "60 prepared statements: no cut-text fingerprint" \
  "$(stmt_field many-$U '^ [.][.][.]$' calls)" 0
for _ in $(seq 1 30); do
  pe1=$(jq -rs '[.[] | select(.type=="loss") | .total.parse_errors] | max // 0' "$T/out.jsonl")
  [ $((pe1 - pe0)) -ge "$unk" ] && break; sleep 0.2
done
check "60 prepared statements: each unknown execute a parse error ($((pe1 - pe0)) >= $unk)" \
  test $((pe1 - pe0)) -ge "$unk"

# A refused USE (COM_INIT_DB) and a refused COM_CHANGE_USER: no query, but
# errors the client saw, counted as the same refusal at connect time is.
JOBMETER_JOB=use-$U mariadb --force -N -h 127.0.0.1 -u$JM_MY_USER -p$JM_MY_PASS $JM_MY_DB \
  -e "use nosuchdb_${U//-/_}; select 1" > "$T/use.out" 2>&1
wait_run "use-$U" || fail run-use "no run line"
check "refused USE: the client saw it ($(grep -m1 ^ERROR "$T/use.out"))" grep -q "^ERROR 1049" "$T/use.out"
check_eq "refused USE: one query, one error" \
  "$(db_field use-$U mysql queries) $(db_field use-$U mysql errors)" "1 1"
JOBMETER_JOB=chuser-$U "$MYDRV" chuser 0 > "$T/chuser.out" 2>&1
wait_run "chuser-$U" || fail run-chuser "no run line"
check_eq "refused CHANGE_USER: the client saw one failure in two commands" "$(cat "$T/chuser.out")" "2 1"
check_eq "refused CHANGE_USER: one query, one error" \
  "$(db_field chuser-$U mysql queries) $(db_field chuser-$U mysql errors)" "1 1"

# A result too large for one head and tail: MySQL says no row count at its
# end, so its rows are unknown -- and counted as such, not as 0 rows.
JOBMETER_JOB=bigres-$U mariadb -h 127.0.0.1 -u$JM_MY_USER -p$JM_MY_PASS $JM_MY_DB \
  -e "select seq from seq_1_to_5000" > "$T/bigres.out" 2>&1
wait_run "bigres-$U" || fail run-bigres "no run line"
check_eq "big result: the client got 5,000 rows" "$(grep -c . "$T/bigres.out")" 5001
check_eq "big result: rows unknown, said so" \
  "$(db_field bigres-$U mysql rows_unknown) $(db_field bigres-$U mysql rows)" "1 0"

# A result that fails after rows the client got (--quick prints them as
# they come, then the error): rows is exact when rows_unknown is 0, so the
# failed query's rows are the client's count or said to be unknown.
JOBMETER_JOB=errrows-$U mariadb --quick -N -h 127.0.0.1 -u$JM_MY_USER -p$JM_MY_PASS $JM_MY_DB \
  -e "select seq, if(seq=5000,(select 1 union select 2),1) as x from seq_1_to_100000" \
  > "$T/errrows.out" 2>&1
wait_run "errrows-$U" || fail run-errrows "no run line"
got=$(grep -c '^[0-9]' "$T/errrows.out")
check "error after rows: the client got rows, then ERROR 1242 ($got rows)" \
  grep -q "^ERROR 1242" "$T/errrows.out"
check_eq "error after rows: one query, failed" \
  "$(db_field errrows-$U mysql queries) $(db_field errrows-$U mysql errors)" "1 1"
eru=$(db_field errrows-$U mysql rows_unknown); err=$(db_field errrows-$U mysql rows)
check "error after rows: rows unknown, or exactly the client's ($eru unknown, $err rows)" \
  test "$eru $err" = "1 0" -o "$eru $err" = "0 $got"

# A query whose connection the server kills mid-way: the client saw it fail
# (lost connection), and so does the agent.
JOBMETER_JOB=killed-$U mariadb -h 127.0.0.1 -u$JM_MY_USER -p$JM_MY_PASS $JM_MY_DB \
  -e "select sleep(20) as jm_killed_${U//-/_}" > "$T/killed.out" 2>&1 &
kp=$!
for _ in $(seq 1 100); do
  kid=$(mariadb -uroot -N -e "select id from information_schema.processlist where info like 'select sleep(20) as jm_killed_${U//-/_}%'")
  [ -n "$kid" ] && break; sleep 0.1
done
mariadb -uroot -e "kill connection $kid"
wait $kp
check "killed query: the client saw an error ($(grep -m1 "^ERROR" "$T/killed.out"))" grep -q "^ERROR 2013" "$T/killed.out"
wait_run "killed-$U" || fail run-killed "no run line"
check_eq "killed query: one query, failed" \
  "$(db_field killed-$U mysql queries) $(db_field killed-$U mysql errors)" "1 1"
check_eq "killed query: lost connection" "$(stmt_field killed-$U '^select sleep' last_error)" "08S01"

# One statement shape, one fingerprint: the server said its backslash mode
# (default: escapes), so 'O\'Brien' is one literal like 'Smith' -- read both
# ways it was cut in pieces and made a second fingerprint.  Under
# NO_BACKSLASH_ESCAPES the same text is read as that server reads it.
JOBMETER_JOB=bsmode-$U mariadb -h 127.0.0.1 -u$JM_MY_USER -p$JM_MY_PASS $JM_MY_DB -e \
  "create temporary table r1 (id int, v text); insert into r1 values (80,'Smith');
   insert into r1 values (81,'O\\'Brien'); select v from r1 where v='O\\'Brien' and id=81;
   select v from r1 where v='Smith' and id=80" > "$T/bsmode.out" 2>&1
wait_run "bsmode-$U" || fail run-bsmode "no run line"
check "backslash mode: the client ran them ($(tr '\n' ' ' < "$T/bsmode.out" | cut -c1-60))" grep -q "O'Brien" "$T/bsmode.out"
check_eq "backslash mode: two inserts, one fingerprint" \
  "$(jq -rs --arg j "bsmode-$U" '[.[] | select(.type=="run" and .job==$j) | .db[].statements[] | select(.fingerprint|startswith("insert")) | "\(.fingerprint)=\(.calls)"] | join(",")' "$T/out.jsonl")" \
  "insert into r1 values (?)=2"
check_eq "backslash mode: two selects, one fingerprint" \
  "$(jq -rs --arg j "bsmode-$U" '[.[] | select(.type=="run" and .job==$j) | .db[].statements[] | select(.fingerprint|startswith("select")) | "\(.fingerprint)=\(.calls)"] | join(",")' "$T/out.jsonl")" \
  "select v from r1 where v=? and id=?=2"

# A refused connection (wrong password): no query, one error the job saw.
JOBMETER_JOB=denied-$U mariadb -h 127.0.0.1 -u$JM_MY_USER -pwrong-$U $JM_MY_DB -e "select 1" \
  > "$T/denied.out" 2>&1
wait_run "denied-$U" || fail run-denied "no run line"
check "refused connection: the client saw it ($(head -c 80 "$T/denied.out"))" grep -q "ERROR 1045" "$T/denied.out"
check_eq "refused connection: no query, one error" \
  "$(db_field denied-$U mysql queries) $(db_field denied-$U mysql errors)" "0 1"

stop_agent
mariadb -uroot $JM_MY_DB -e "drop table if exists $TBL; drop table if exists $LTBL; drop table if exists $FTBL"
