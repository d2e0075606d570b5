# Start the real database servers tests need (Debian packages; no systemd
# here, so each is started directly).  Idempotent: a running server is reused.
# Source after lib.sh.  Credentials are test-only and local to 127.0.0.1.
JM_PG_USER=jmtest
JM_PG_PASS=jmtest-pw
JM_PG_DB=jmtest
JM_MY_USER=jmtest
JM_MY_PASS=jmtest-pw
JM_MY_DB=jmtest

pg_start() {
  if ! pg_lsclusters -h 2>/dev/null | grep -q '^15 *main'; then
    pg_createcluster 15 main >/dev/null || return 1
  fi
  pg_lsclusters -h | grep -q '^15 *main .*online' || pg_ctlcluster 15 main start || return 1
  for _ in $(seq 1 50); do
    su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break; sleep 0.2
  done
  su postgres -c "psql -qAt" >/dev/null 2>&1 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$JM_PG_USER') THEN
    CREATE ROLE $JM_PG_USER LOGIN SUPERUSER PASSWORD '$JM_PG_PASS';
  END IF;
END \$\$;
SQL
  su postgres -c "psql -qAtc \"select 1 from pg_database where datname='$JM_PG_DB'\"" | grep -q 1 ||
    su postgres -c "createdb -O $JM_PG_USER $JM_PG_DB" || return 1
  export PGPASSWORD=$JM_PG_PASS
  psql -h 127.0.0.1 -U $JM_PG_USER -d $JM_PG_DB -qAtc 'select 1' >/dev/null
}

# psql over TCP as the test user (not a job unless the caller sets JOBMETER_JOB)
pg_sql() { psql -h 127.0.0.1 -U $JM_PG_USER -d $JM_PG_DB -qAtX -v ON_ERROR_STOP=1 "$@"; }

my_start() {
  if ! mariadb -uroot -e 'select 1' >/dev/null 2>&1; then
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null 2>&1
    (mysqld_safe --user=mysql --skip-syslog >/dev/null 2>&1 &)
    for _ in $(seq 1 100); do
      mariadb -uroot -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2
    done
  fi
  mariadb -uroot <<SQL || return 1
CREATE DATABASE IF NOT EXISTS $JM_MY_DB;
CREATE USER IF NOT EXISTS '$JM_MY_USER'@'127.0.0.1' IDENTIFIED BY '$JM_MY_PASS';
CREATE USER IF NOT EXISTS '$JM_MY_USER'@'localhost' IDENTIFIED BY '$JM_MY_PASS';
GRANT ALL ON *.* TO '$JM_MY_USER'@'127.0.0.1';
GRANT ALL ON *.* TO '$JM_MY_USER'@'localhost';
SQL
}

# MariaDB's own count of statements (root over the socket; not a job)
my_status() { mariadb -uroot -Nse "SHOW GLOBAL STATUS LIKE '$1'" | awk '{print $2}'; }

# db_field JOB SYSTEM FIELD [RUN_INDEX]: a field of the job run's db entry
db_field() {
  jq -rs --arg j "$1" --arg s "$2" --arg f "$3" --argjson i "${4:-0}" \
    '[.[] | select(.type=="run" and .job==$j)][$i].db | map(select(.system==$s)) |
     if length == 0 then "none" else (map(.[$f]) | add) end' "$T/out.jsonl"
}
# stmt_field JOB REGEX FIELD: summed over statements whose fingerprint matches
stmt_field() {
  jq -rs --arg j "$1" --arg re "$2" --arg f "$3" \
    '[.[] | select(.type=="run" and .job==$j) | .db[].statements[] | select(.fingerprint|test($re)) | .[$f]] | add // 0' "$T/out.jsonl"
}
