/* Golden tests for agent/config.c: defaults, the shipped example, every key,
 * and the exact text (file:line: problem) of each error class. */
#include "config.h"
#include "harness.h"

#include <stdlib.h>
#include <unistd.h>

static int parse(struct jm_config *cfg, const char *text, char *err)
{
	return jm_config_parse(cfg, "t.yaml", text, strlen(text), err, JM_CFG_ERR_MAX);
}

/* Parse text expecting failure with exactly want as the message. */
static void expect_err(const char *name, const char *text, const char *want)
{
	static struct jm_config cfg;      /* ~190 KiB: keep it off the stack */
	char err[JM_CFG_ERR_MAX] = "";
	int rc = parse(&cfg, text, err);
	CHECK_INT(name, rc, -1);
	CHECK_STR(name, err, want);
	jm_config_free(&cfg);
}

static void check_defaults(const char *t, const struct jm_config *c)
{
	char n[128];
#define D(what) (snprintf(n, sizeof(n), "%s: %s", t, what), n)
	CHECK_INT(D("interval"), c->interval_s, 10);
	CHECK_INT(D("max_jobs"), c->max_jobs, 1000);
	CHECK_STR(D("metrics_listen off"), c->metrics_listen, "");
	CHECK_INT(D("no env sets"), c->n_env_sets, 0);
	CHECK_INT(D("no systemd"), c->n_systemd, 0);
	CHECK_INT(D("no jobs"), c->n_jobs, 0);
	CHECK(D("k8s enabled"), c->k8s_enabled);
	CHECK_STR(D("k8s log_root"), c->k8s_log_root, "/var/log");
	CHECK(D("db enabled"), c->db_enabled);
	CHECK_INT(D("capture_bytes"), c->db_capture_bytes, 512);
	CHECK_INT(D("max_fingerprints"), c->db_max_fingerprints, 200);
	CHECK_INT(D("pg ports"), c->pg.n_ports, 1);
	CHECK_INT(D("pg port"), c->pg.ports[0], 5432);
	CHECK_INT(D("pg sockets"), c->pg.n_sockets, 3);
	CHECK_STR(D("pg sock0"), c->pg.sockets[0], "/var/run/postgresql/.s.PGSQL.5432");
	CHECK_STR(D("pg sock1"), c->pg.sockets[1], "/run/postgresql/.s.PGSQL.5432");
	CHECK_STR(D("pg sock2"), c->pg.sockets[2], "/tmp/.s.PGSQL.5432");
	CHECK_INT(D("mysql ports"), c->mysql.n_ports, 1);
	CHECK_INT(D("mysql port"), c->mysql.ports[0], 3306);
	CHECK_INT(D("mysql sockets"), c->mysql.n_sockets, 3);
	CHECK_STR(D("mysql sock0"), c->mysql.sockets[0], "/run/mysqld/mysqld.sock");
	CHECK_STR(D("mysql sock1"), c->mysql.sockets[1], "/var/run/mysqld/mysqld.sock");
	CHECK_STR(D("mysql sock2"), c->mysql.sockets[2], "/tmp/mysql.sock");
	CHECK_STR(D("collector url off"), c->collector_url, "");
	CHECK_STR(D("spool_dir"), c->spool_dir, "/var/lib/jobmeter/spool");
	CHECK_INT(D("spool_max_mb"), c->spool_max_mb, 256);
	CHECK_INT(D("timeout_s"), c->collector_timeout_s, 10);
	CHECK_STR(D("otlp off"), c->otlp_url, "");
#undef D
}

static const char full_yaml[] =
	"interval: 30\n"
	"max_jobs: 50\n"
	"metrics_listen: 0.0.0.0:9464\n"
	"env_identity:\n"
	"  - vars: [DAG, TASK]\n"
	"    separator: \"/\"\n"
	"    run_id_var: RUN\n"
	"  - vars: [SPARK_APP]\n"
	"systemd:\n"
	"  - unit: \"etl-*.service\"\n"
	"    job: sales\n"
	"  - unit: backup.service\n"
	"kubernetes: {enabled: false, log_root: /srv/log}\n"
	"jobs:\n"
	"  - name: nightly\n"
	"    match:\n"
	"      comm: python3\n"
	"      exe: \"/usr/bin/python3*\"\n"
	"      argv: \"sales_etl\\\\.py\"\n"
	"      cgroup: \"/system.slice/etl-*\"\n"
	"    outputs:\n"
	"      - table: public.sales\n"
	"      - file: \"/data/sales/*.parquet\"\n"
	"  - name: outputs-only\n"
	"    outputs: [{table: mart.daily}]\n"
	"db:\n"
	"  enabled: false\n"
	"  capture_bytes: 4096\n"
	"  max_fingerprints: 7\n"
	"  postgres: {ports: [6432, 5433], sockets: []}\n"
	"collector:\n"
	"  url: https://c:8443/v1/batches\n"
	"  token_file: /etc/jm/token\n"
	"  ca_file: /etc/jm/ca.pem\n"
	"  spool_dir: /tmp/spool\n"
	"  spool_max_mb: 1\n"
	"  timeout_s: 3600\n"
	"otlp:\n"
	"  url: http://otel:4318/v1/metrics\n";

static void test_full(void)
{
	static struct jm_config c;
	char err[JM_CFG_ERR_MAX] = "";
	int rc = parse(&c, full_yaml, err);
	CHECK_INT("full: parses", rc, 0);
	CHECK_STR("full: no error text", err, "");
	CHECK_STR("full: path", c.path, "t.yaml");
	CHECK_INT("full: interval", c.interval_s, 30);
	CHECK_INT("full: max_jobs", c.max_jobs, 50);
	CHECK_STR("full: metrics_listen", c.metrics_listen, "0.0.0.0:9464");
	CHECK_INT("full: env sets", c.n_env_sets, 2);
	CHECK_INT("full: env0 vars", c.env_sets[0].n_vars, 2);
	CHECK_STR("full: env0 var1", c.env_sets[0].vars[1], "TASK");
	CHECK_STR("full: env0 separator", c.env_sets[0].separator, "/");
	CHECK_STR("full: env0 run_id_var", c.env_sets[0].run_id_var, "RUN");
	CHECK_STR("full: env1 default separator", c.env_sets[1].separator, ".");
	CHECK_STR("full: env1 no run_id_var", c.env_sets[1].run_id_var, "");
	CHECK_INT("full: systemd", c.n_systemd, 2);
	CHECK_STR("full: systemd0 unit", c.systemd[0].unit_glob, "etl-*.service");
	CHECK_STR("full: systemd0 job", c.systemd[0].job, "sales");
	CHECK_STR("full: systemd1 job default empty", c.systemd[1].job, "");
	CHECK("full: k8s disabled", !c.k8s_enabled);
	CHECK_STR("full: k8s log_root", c.k8s_log_root, "/srv/log");
	CHECK_INT("full: jobs", c.n_jobs, 2);
	CHECK_STR("full: job0 comm", c.jobs[0].comm, "python3");
	CHECK_STR("full: job0 exe", c.jobs[0].exe_glob, "/usr/bin/python3*");
	CHECK_STR("full: job0 argv src", c.jobs[0].argv_src, "sales_etl\\.py");
	CHECK("full: job0 argv compiled", c.jobs[0].has_argv);
	CHECK_STR("full: job0 cgroup", c.jobs[0].cgroup_glob, "/system.slice/etl-*");
	CHECK_INT("full: job0 outputs", c.jobs[0].n_outputs, 2);
	CHECK("full: job0 out0 is table", !c.jobs[0].outputs[0].is_file);
	CHECK_STR("full: job0 out0", c.jobs[0].outputs[0].name, "public.sales");
	CHECK("full: job0 out1 is file", c.jobs[0].outputs[1].is_file);
	CHECK_STR("full: job0 out1", c.jobs[0].outputs[1].name, "/data/sales/*.parquet");
	CHECK("full: job1 no argv", !c.jobs[1].has_argv);
	CHECK_STR("full: job1 out0", c.jobs[1].outputs[0].name, "mart.daily");
	CHECK("full: db disabled", !c.db_enabled);
	CHECK_INT("full: capture_bytes max", c.db_capture_bytes, 4096);
	CHECK_INT("full: max_fingerprints", c.db_max_fingerprints, 7);
	CHECK_INT("full: pg ports replaced", c.pg.n_ports, 2);
	CHECK_INT("full: pg port0", c.pg.ports[0], 6432);
	CHECK_INT("full: pg port1", c.pg.ports[1], 5433);
	CHECK_INT("full: pg sockets emptied", c.pg.n_sockets, 0);
	CHECK_INT("full: mysql untouched ports", c.mysql.n_ports, 1);
	CHECK_INT("full: mysql untouched sockets", c.mysql.n_sockets, 3);
	CHECK_STR("full: collector url", c.collector_url, "https://c:8443/v1/batches");
	CHECK_STR("full: token_file", c.collector_token_file, "/etc/jm/token");
	CHECK_STR("full: ca_file", c.collector_ca_file, "/etc/jm/ca.pem");
	CHECK_STR("full: spool_dir", c.spool_dir, "/tmp/spool");
	CHECK_INT("full: spool_max_mb", c.spool_max_mb, 1);
	CHECK_INT("full: timeout_s", c.collector_timeout_s, 3600);
	CHECK_STR("full: otlp", c.otlp_url, "http://otel:4318/v1/metrics");
	CHECK("full: find_job nightly", jm_config_find_job(&c, "nightly") == &c.jobs[0]);
	CHECK("full: find_job outputs-only", jm_config_find_job(&c, "outputs-only") == &c.jobs[1]);
	CHECK("full: find_job missing", jm_config_find_job(&c, "nightl") == NULL);
	jm_config_free(&c);
	CHECK("full: free clears regex flag", !c.jobs[0].has_argv);
	jm_config_free(&c);           /* idempotent */
}

static void test_empty_and_defaults(void)
{
	static struct jm_config c;
	char err[JM_CFG_ERR_MAX];
	jm_config_defaults(&c);
	check_defaults("defaults", &c);
	jm_config_free(&c);           /* safe on a defaults-only config */
	CHECK_INT("empty: parses", parse(&c, "", err), 0);
	check_defaults("empty", &c);
	jm_config_free(&c);
	CHECK_INT("comments only: parses", parse(&c, "# nothing\n\n   # here\n", err), 0);
	check_defaults("comments only", &c);
	jm_config_free(&c);
	CHECK_INT("null sections: parse", parse(&c, "jobs:\nsystemd: ~\ndb:\n", err), 0);
	check_defaults("null sections", &c);
	jm_config_free(&c);
	CHECK_INT("boundaries: parse",
		  parse(&c, "interval: 3600\ndb: {capture_bytes: 64}\nkubernetes: {enabled: no}\n", err), 0);
	CHECK_INT("boundaries: interval 3600", c.interval_s, 3600);
	CHECK_INT("boundaries: capture 64", c.db_capture_bytes, 64);
	CHECK("boundaries: enabled no", !c.k8s_enabled);
	jm_config_free(&c);
	CHECK_INT("mysql sockets replace: parse",
		  parse(&c, "db:\n  mysql:\n    sockets: [/srv/my.sock]\n", err), 0);
	CHECK_INT("mysql sockets replace: one socket", c.mysql.n_sockets, 1);
	CHECK_STR("mysql sockets replace: value", c.mysql.sockets[0], "/srv/my.sock");
	CHECK_INT("mysql sockets replace: ports kept", c.mysql.n_ports, 1);
	CHECK_INT("mysql sockets replace: pg kept", c.pg.n_sockets, 3);
	jm_config_free(&c);
}

static void test_example(void)
{
	static struct jm_config c;
	char err[JM_CFG_ERR_MAX] = "";
	const char *path = "deploy/config/agent.yaml";
	int rc = jm_config_load(&c, path, err, sizeof(err));
	CHECK_INT("example: loads", rc, 0);
	CHECK_STR("example: no error", err, "");
	CHECK_STR("example: path", c.path, path);
	CHECK_INT("example: interval", c.interval_s, 10);
	CHECK_INT("example: one job", c.n_jobs, 1);
	CHECK_STR("example: job name", c.jobs[0].name, "example-sales-etl");
	CHECK("example: argv compiled", c.jobs[0].has_argv);
	CHECK_INT("example: outputs", c.jobs[0].n_outputs, 1);
	CHECK_INT("example: env set", c.n_env_sets, 1);
	CHECK_STR("example: env run id", c.env_sets[0].run_id_var, "AIRFLOW_CTX_DAG_RUN_ID");
	CHECK_INT("example: systemd", c.n_systemd, 1);
	/* The example spells out the defaults; they must agree with the code. */
	struct jm_config *d = malloc(sizeof(*d));
	jm_config_defaults(d);
	CHECK("example: pg endpoints equal defaults", memcmp(&d->pg, &c.pg, sizeof(d->pg)) == 0);
	CHECK("example: mysql endpoints equal defaults", memcmp(&d->mysql, &c.mysql, sizeof(d->mysql)) == 0);
	CHECK("example: scalars equal defaults",
	      d->max_jobs == c.max_jobs && d->db_capture_bytes == c.db_capture_bytes &&
	      d->db_enabled == c.db_enabled &&
	      d->db_max_fingerprints == c.db_max_fingerprints && d->spool_max_mb == c.spool_max_mb &&
	      d->collector_timeout_s == c.collector_timeout_s && d->k8s_enabled == c.k8s_enabled &&
	      strcmp(d->spool_dir, c.spool_dir) == 0 && strcmp(d->k8s_log_root, c.k8s_log_root) == 0);
	free(d);
	jm_config_free(&c);
}

static void test_load_errors(void)
{
	static struct jm_config c;
	char err[JM_CFG_ERR_MAX], tmpl[] = "/tmp/jm-cfg-XXXXXX", want[JM_CFG_ERR_MAX + 64];
	CHECK_INT("load missing: fails", jm_config_load(&c, "/nonexistent/agent.yaml", err, sizeof(err)), -1);
	CHECK_STR("load missing: message", err, "/nonexistent/agent.yaml: cannot open: No such file or directory");
	int fd = mkstemp(tmpl);
	const char body[] = "# header\ninterval: 10\nmax_jobs: -5\n";
	CHECK("load tmp: written", fd >= 0 && write(fd, body, strlen(body)) == (ssize_t)strlen(body));
	if (fd >= 0)
		close(fd);
	CHECK_INT("load bad file: fails", jm_config_load(&c, tmpl, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: max_jobs: expected a positive integer, got \"-5\"", tmpl);
	CHECK_STR("load bad file: names path and line", err, want);
	unlink(tmpl);
	jm_config_free(&c);
}

/* A job whose regex compiled is followed by an error: the parse must release
 * the regex itself, and a later jm_config_free must be harmless. */
static void test_free_after_failure(void)
{
	static struct jm_config c;
	char err[JM_CFG_ERR_MAX];
	const char *y = "jobs:\n  - name: a\n    match: {argv: \"x+\"}\n  - name: b\n    match: {argv: \"(\"}\n";
	CHECK_INT("free after failure: fails", parse(&c, y, err), -1);
	CHECK("free after failure: regex released", !c.jobs[0].has_argv);
	jm_config_free(&c);
	CHECK_INT("free after failure (same job): fails",
		  parse(&c, "jobs:\n  - name: a\n    match: {argv: \"y\"}\n    bogus: 1\n", err), -1);
	jm_config_free(&c);
}

static void test_errors(void)
{
	char regex_msg[128], want[JM_CFG_ERR_MAX];
	regex_t re;
	int rc = regcomp(&re, "(", REG_EXTENDED | REG_NOSUB);
	regerror(rc, &re, regex_msg, sizeof(regex_msg));
	snprintf(want, sizeof(want), "t.yaml:7: jobs[0].match.argv: invalid regex: %s", regex_msg);
	expect_err("err: invalid regex", "interval: 5\n\njobs:\n  - name: a\n    match:\n      comm: x\n"
		   "      argv: \"(\"\n", want);

	expect_err("err: unknown top-level key", "# c\ninterval: 5\ninterval2: 1\n",
		   "t.yaml:3: unknown key \"interval2\" at top level");
	expect_err("err: interval abc", "\n\ninterval: abc\n",
		   "t.yaml:3: interval: expected a positive integer, got \"abc\"");
	expect_err("err: interval 0", "interval: 0\n", "t.yaml:1: interval: 0 is out of range 1..3600");
	expect_err("err: interval 3601", "interval: 3601\n", "t.yaml:1: interval: 3601 is out of range 1..3600");
	expect_err("err: interval list", "interval: [1]\n", "t.yaml:1: interval: expected a positive integer");
	expect_err("err: huge integer", "interval: 99999999999999\n",
		   "t.yaml:1: interval: expected a positive integer, got \"99999999999999\"");
	expect_err("err: db.enabled not a bool", "db: {enabled: sometimes}\n",
		   "t.yaml:1: db.enabled: expected true or false, got \"sometimes\"");
	expect_err("err: capture_bytes 63", "db:\n  capture_bytes: 63\n",
		   "t.yaml:2: db.capture_bytes: 63 is out of range 64..4096");
	expect_err("err: capture_bytes 4097", "db: {capture_bytes: 4097}\n",
		   "t.yaml:1: db.capture_bytes: 4097 is out of range 64..4096");
	expect_err("err: port 0", "db:\n  mysql:\n    ports: [3306, 0]\n",
		   "t.yaml:3: db.mysql.ports[1]: 0 is out of range 1..65535");
	expect_err("err: unknown key in job",
		   "interval: 5\n"
		   "jobs:\n"
		   "  - name: a\n"
		   "    match: {comm: a}\n"
		   "  - name: b\n"
		   "    match:\n"
		   "      comm: b\n"
		   "      exe: /bin/b\n"
		   "    outputs:\n"
		   "      - table: x.y\n"
		   "\n"
		   "    outptus: []\n",
		   "t.yaml:12: unknown key \"outptus\" in jobs[1]");
	expect_err("err: unknown key in match", "jobs:\n  - name: a\n    match: {com: x}\n",
		   "t.yaml:3: unknown key \"com\" in jobs[0].match");
	expect_err("err: duplicate key", "interval: 5\nmax_jobs: 2\ninterval: 6\n",
		   "t.yaml:3: duplicate key \"interval\" at top level");
	expect_err("err: duplicate job name",
		   "jobs:\n  - name: a\n    match: {comm: a}\n  - name: b\n  - name: a\n    match: {comm: c}\n",
		   "t.yaml:5: jobs[2]: duplicate job name \"a\" (also jobs[0])");
	expect_err("err: job without name", "jobs:\n  - match: {comm: a}\n",
		   "t.yaml:2: jobs[0]: missing or empty \"name\"");
	expect_err("err: jobs not a list", "jobs: nightly\n", "t.yaml:1: jobs: expected a list");
	expect_err("err: top level scalar", "hello\n", "t.yaml:1: top level: expected a mapping");
	expect_err("err: section not a map", "db: [1]\n", "t.yaml:1: db: expected a mapping");
	expect_err("err: bool", "kubernetes:\n  enabled: maybe\n",
		   "t.yaml:2: kubernetes.enabled: expected true or false, got \"maybe\"");
	expect_err("err: output both kinds", "jobs:\n  - name: a\n    outputs:\n      - {table: t.x, file: /x}\n",
		   "t.yaml:4: jobs[0].outputs[0]: expected a mapping with exactly one of \"table\" or \"file\"");
	expect_err("err: output scalar", "jobs:\n  - name: a\n    outputs: [t.x]\n",
		   "t.yaml:3: jobs[0].outputs[0]: expected a mapping with exactly one of \"table\" or \"file\"");
	expect_err("err: output unknown kind", "jobs:\n  - name: a\n    outputs:\n      - tabel: t.x\n",
		   "t.yaml:4: unknown key \"tabel\" in jobs[0].outputs[0]");
	expect_err("err: output empty", "jobs:\n  - name: a\n    outputs:\n      - file: \"\"\n",
		   "t.yaml:4: jobs[0].outputs[0].file: must not be empty");
	expect_err("err: env vars empty", "env_identity:\n  - vars: []\n",
		   "t.yaml:2: env_identity[0].vars: expected 1..4 variable names");
	expect_err("err: env vars missing", "env_identity:\n  - separator: \"-\"\n",
		   "t.yaml:2: env_identity[0]: missing \"vars\"");
	expect_err("err: env vars 5", "env_identity:\n  - vars: [A, B, C, D, E]\n",
		   "t.yaml:2: env_identity[0].vars: too many entries (max 4)");
	/* What the exec probe cannot look for must not be accepted: it has
	 * JM_ENV_KEYS_MAX (8) slots of "NAME=" in 32 bytes. */
	expect_err("err: env var name 31 chars",
		   "env_identity:\n  - vars: [AIRFLOW_CTX_DAG_ID,\n           PREFECT__FLOW_RUN_DEPLOYMENT_NAME]\n",
		   "t.yaml:3: env_identity[0].vars[1]: \"PREFECT__FLOW_RUN_DEPLOYMENT_NAME\" is 33 "
		   "characters; the exec probe matches variable names of at most 30");
	expect_err("err: run_id_var 31 chars",
		   "env_identity:\n  - vars: [A]\n    run_id_var: ABCDEFGHIJKLMNOPQRSTUVWXYZ_1234\n",
		   "t.yaml:3: env_identity[0].run_id_var: \"ABCDEFGHIJKLMNOPQRSTUVWXYZ_1234\" is 31 "
		   "characters; the exec probe matches variable names of at most 30");
	expect_err("err: env var with =", "env_identity:\n  - vars: [\"A=B\"]\n",
		   "t.yaml:2: env_identity[0].vars[0]: \"A=B\" contains '='");
	expect_err("err: env vars beyond the probe's 8 slots",
		   "env_identity:\n"
		   "  - vars: [AIRFLOW_CTX_DAG_ID, AIRFLOW_CTX_TASK_ID]\n"
		   "    run_id_var: AIRFLOW_CTX_DAG_RUN_ID\n"
		   "  - vars: [DAGSTER_PIPELINE_NAME, DAGSTER_STEP_KEY]\n"
		   "    run_id_var: DAGSTER_RUN_ID\n"
		   "  - vars: [PREFECT_FLOW]\n",
		   "t.yaml:6: env_identity[2]: the exec probe looks for at most 8 environment variables "
		   "(JOBMETER_JOB and JOBMETER_RUN_ID included); this set makes 9");
	{
		static struct jm_config c8;
		char e8[JM_CFG_ERR_MAX] = "";
		/* exactly 8, a name shared between sets counted once, 30-char names */
		static const char y8[] =
			"env_identity:\n"
			"  - vars: [AIRFLOW_CTX_DAG_ID, AIRFLOW_CTX_TASK_ID]\n"
			"    run_id_var: AIRFLOW_CTX_DAG_RUN_ID\n"
			"  - vars: [AIRFLOW_CTX_DAG_ID, ABCDEFGHIJKLMNOPQRSTUVWXYZ_123]\n"
			"    run_id_var: JOBMETER_RUN_ID\n"
			"  - vars: [JOBMETER_JOB, SPARK_APP]\n";
		CHECK_INT("env 8 probe slots: ok", parse(&c8, y8, e8), 0);
		CHECK_STR("env 8 probe slots: no error", e8, "");
		jm_config_free(&c8);
	}
	expect_err("err: separator too long", "env_identity:\n  - vars: [A]\n    separator: \"--------\"\n",
		   "t.yaml:3: env_identity[0].separator: too long (8 bytes, max 7)");
	expect_err("err: comm 16 chars", "jobs:\n  - name: a\n    match: {comm: abcdefghijklmnop}\n",
		   "t.yaml:3: jobs[0].match.comm: too long (16 bytes, max 15)");
	expect_err("err: systemd without unit", "systemd:\n  - job: x\n",
		   "t.yaml:2: systemd[0]: missing or empty \"unit\"");
	expect_err("err: ports 9", "db:\n  postgres:\n    ports: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n",
		   "t.yaml:3: db.postgres.ports: too many entries (max 8)");
	expect_err("err: two documents", "interval: 5\n---\ninterval: 6\n",
		   "t.yaml:3: only one YAML document is allowed");
	expect_err("err: NUL in string", "otlp: {url: \"http://a\\0b\"}\n",
		   "t.yaml:1: otlp.url: contains a NUL byte");
	expect_err("err: yaml syntax (unclosed flow)", "interval: 5\njobs: [\n  {name: a}\n",
		   "t.yaml:4: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence)");
	expect_err("err: yaml syntax (bad indent)", "db:\n  capture_bytes: 64\n max_fingerprints: 2\n",
		   "t.yaml:3: YAML syntax error: did not find expected key (while parsing a block mapping)");
	expect_err("err: yaml syntax (tab)", "interval: 5\n\tmax_jobs: 1\n",
		   "t.yaml:2: YAML syntax error: found a tab character that violates indentation (while scanning a plain scalar)");
	expect_err("err: bad utf-8", "interval: 5\nmetrics_listen: \"\xff\"\n",
		   "t.yaml:2: YAML syntax error: invalid leading UTF-8 octet");

	/* Over-long strings: one byte past each buffer is an error, never truncated. */
	char name[200], y[512];
	memset(name, 'n', 128);
	name[128] = '\0';
	snprintf(y, sizeof(y), "jobs:\n  - name: %s\n", name);
	expect_err("err: job name 128 bytes", y, "t.yaml:2: jobs[0].name: too long (128 bytes, max 127)");
	name[127] = '\0';
	static struct jm_config c;
	char err[JM_CFG_ERR_MAX];
	snprintf(y, sizeof(y), "jobs:\n  - name: %s\n", name);
	CHECK_INT("job name 127 bytes: ok", parse(&c, y, err), 0);
	CHECK_INT("job name 127 bytes: kept whole", strlen(c.jobs[0].name), 127);
	jm_config_free(&c);

	/* Caps on list lengths, built programmatically. */
	size_t cap = 16 * 1024;
	char *big = malloc(cap);
	size_t n = (size_t)snprintf(big, cap, "jobs:\n");
	for (int i = 0; i <= JM_CFG_MAX_JOBS; i++)
		n += (size_t)snprintf(big + n, cap - n, "  - {name: j%d}\n", i);
	snprintf(want, sizeof(want), "t.yaml:%d: jobs: too many entries (max %d)", JM_CFG_MAX_JOBS + 2,
		 JM_CFG_MAX_JOBS);
	expect_err("err: 257 jobs", big, want);
	n = (size_t)snprintf(big, cap, "jobs:\n  - name: a\n    outputs:\n");
	for (int i = 0; i <= JM_CFG_MAX_OUTPUTS; i++)
		n += (size_t)snprintf(big + n, cap - n, "      - table: s.t%d\n", i);
	snprintf(want, sizeof(want), "t.yaml:%d: jobs[0].outputs: too many entries (max %d)",
		 JM_CFG_MAX_OUTPUTS + 4, JM_CFG_MAX_OUTPUTS);
	expect_err("err: 17 outputs", big, want);
	n = (size_t)snprintf(big, cap, "env_identity:\n");
	for (int i = 0; i <= JM_CFG_MAX_ENV_SETS; i++)
		n += (size_t)snprintf(big + n, cap - n, "  - vars: [V%d]\n", i);
	snprintf(want, sizeof(want), "t.yaml:%d: env_identity: too many entries (max %d)",
		 JM_CFG_MAX_ENV_SETS + 2, JM_CFG_MAX_ENV_SETS);
	expect_err("err: 9 env sets", big, want);
	free(big);
}

/* What the agent would refuse at start, --check-config refuses too: a
 * metrics address it cannot parse, a URL the shipper or the OTLP exporter
 * will not use.  (Both passed the check and then stopped the agent, or
 * left it spooling for ever.) */
static void test_addresses(void)
{
	static struct jm_config c;
	char err[JM_CFG_ERR_MAX];

	expect_err("err: metrics_listen without a port", "metrics_listen: bogus\n",
		   "t.yaml:1: metrics_listen: expected ADDR:PORT, [V6]:PORT or :PORT (port 0..65535), got \"bogus\"");
	expect_err("err: metrics_listen port out of range", "\nmetrics_listen: \"127.0.0.1:65536\"\n",
		   "t.yaml:2: metrics_listen: expected ADDR:PORT, [V6]:PORT or :PORT (port 0..65535), got \"127.0.0.1:65536\"");
	expect_err("err: metrics_listen v6 without brackets' colon", "metrics_listen: \"[::1]9464\"\n",
		   "t.yaml:1: metrics_listen: expected ADDR:PORT, [V6]:PORT or :PORT (port 0..65535), got \"[::1]9464\"");
	expect_err("err: collector.url ftp", "collector:\n  url: ftp://c/v1/batches\n",
		   "t.yaml:2: collector.url: expected an http:// or https:// URL with a host");
	expect_err("err: collector.url not a URL (and not echoed)", "collector: {url: \"u:pw@ not a url\"}\n",
		   "t.yaml:1: collector.url: expected an http:// or https:// URL with a host");
	expect_err("err: otlp.url without a scheme", "otlp: {url: \"otel:4318/v1/metrics\"}\n",
		   "t.yaml:1: otlp.url: expected an http:// or https:// URL with a host");
	static const char *const ok[] = {
		"metrics_listen: \"127.0.0.1:9464\"\n", "metrics_listen: \":0\"\n",
		"metrics_listen: \"[::1]:9464\"\n", "metrics_listen: \"localhost:9464\"\n",
		"metrics_listen: \"\"\n",
		"collector: {url: \"https://u:pw@collector:8443/v1/batches?x=1\"}\n",
		"collector: {url: \"HTTP://collector/v1/batches\"}\n",
		"collector: {url: \"collector:8443/v1/batches\"}\n",   /* libcurl: http:// */
		"collector: {url: \"\"}\n",
		"otlp: {url: \"http://otel-collector:4318/v1/metrics\"}\n",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char n[128];
		snprintf(n, sizeof(n), "accepted: %.*s", (int)strcspn(ok[i], "\n"), ok[i]);
		CHECK_INT(n, parse(&c, ok[i], err), 0);
		jm_config_free(&c);
	}
}

int main(void)
{
	test_empty_and_defaults();
	test_full();
	test_example();
	test_load_errors();
	test_free_after_failure();
	test_errors();
	test_addresses();
	TEST_EXIT();
}
