/* Tests for agent/rules.c: glob edge cases, rule order, AND semantics,
 * regex anchors, NULL facts. */
#include "rules.h"
#include "harness.h"

static void test_glob(void)
{
	static const struct { const char *p, *s; bool want; } cases[] = {
		{ "*", "", true },
		{ "*", "/usr/bin/python3", true },
		{ "**", "abc", true },
		{ "", "", true },
		{ "", "a", false },
		{ "a", "", false },
		{ "?", "", false },
		{ "?", "a", true },
		{ "?", "/", true },
		{ "?", "ab", false },
		{ "a?c", "abc", true },
		{ "a?c", "ac", false },
		{ "/usr/bin/python3*", "/usr/bin/python3", true },
		{ "/usr/bin/python3*", "/usr/bin/python3.11", true },
		{ "/usr/bin/python3*", "/usr/bin/python2.7", false },
		{ "/usr/*/python", "/usr/local/bin/python", true },     /* '*' crosses '/' */
		{ "/usr/bin/*", "/usr/bin", false },
		{ "*.service", "etl-sales.service", true },
		{ "*.service", "etl-sales.scope", false },
		{ "etl-*.service", "etl-.service", true },
		{ "/system.slice/etl-*", "/system.slice/etl-a.service", true },
		{ "/system.slice/etl-*", "/user.slice/etl-a.service", false },
		{ "*a", "banana", true },
		{ "*n?", "banana", true },
		{ "*x*y", "xxxxxy", true },               /* needs backtracking */
		{ "*x*y", "xxxxxz", false },
		{ "a*b*c", "aXbYbZc", true },
		{ "a*b*c", "aXbYbZ", false },
		{ "exact", "exact", true },
		{ "exact", "exactly", false },
		{ "[a]", "[a]", true },                  /* brackets are literal */
		{ "[a]", "a", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[160];
		snprintf(name, sizeof(name), "glob \"%s\" vs \"%s\" -> %s", cases[i].p, cases[i].s,
			 cases[i].want ? "match" : "no match");
		CHECK(name, jm_glob_match(cases[i].p, cases[i].s) == cases[i].want);
	}
	CHECK("glob NULL subject", !jm_glob_match("*", NULL));
	CHECK("glob NULL pattern", !jm_glob_match(NULL, "x"));
}

static const char rules_yaml[] =
	"jobs:\n"
	"  - name: declares-outputs-only\n"          /* 0: no criteria, never matches */
	"    outputs: [{table: s.t}]\n"
	"  - name: sales\n"                          /* 1: AND of comm + argv */
	"    match: {comm: python3, argv: \"(^|[ /])sales_etl\\\\.py( |$)\"}\n"
	"  - name: any-python\n"                     /* 2: comm only */
	"    match: {comm: python3}\n"
	"  - name: spark\n"                          /* 3: anchored regex */
	"    match: {argv: \"^spark-submit \"}\n"
	"  - name: etl-units\n"                      /* 4: cgroup glob + exe glob */
	"    match: {cgroup: \"/system.slice/etl-*\", exe: \"/opt/etl/*\"}\n"
	"  - name: shadowed\n"                       /* 5: same as 2, later: never wins */
	"    match: {comm: python3}\n"
	"  - name: dbt\n"                            /* 6: regex end anchor */
	"    match: {argv: \"dbt run$\"}\n";

static int m(const struct jm_config *c, const char *comm, const char *exe, const char *argv,
	     const char *cgroup)
{
	struct jm_proc_facts f = { .comm = comm, .exe = exe, .argv = argv, .cgroup = cgroup };
	return jm_rules_match(c, &f);
}

static void test_match(void)
{
	static struct jm_config c;
	char err[JM_CFG_ERR_MAX] = "";
	int rc = jm_config_parse(&c, "rules.yaml", rules_yaml, sizeof(rules_yaml) - 1, err, sizeof(err));
	CHECK_INT("rules config parses", rc, 0);
	CHECK_STR("rules config no error", err, "");
	if (rc)
		return;
	CHECK_INT("AND: comm+argv match -> sales",
		  m(&c, "python3", "/usr/bin/python3", "python3 /jobs/sales_etl.py --day 1", NULL), 1);
	CHECK_INT("AND: comm only -> falls through to any-python",
		  m(&c, "python3", "/usr/bin/python3", "python3 /jobs/other.py", NULL), 2);
	CHECK_INT("AND: argv only (wrong comm) -> no sales",
		  m(&c, "python3.11", "/usr/bin/python3.11", "python3.11 sales_etl.py", NULL), -1);
	CHECK_INT("regex: word boundary emulation rejects suffix",
		  m(&c, "python3", "/usr/bin/python3", "python3 sales_etl.pyc", NULL), 2);
	CHECK_INT("order: earlier rule wins over identical later one",
		  m(&c, "python3", "/x", "python3", NULL), 2);
	CHECK_INT("comm is exact, not prefix", m(&c, "python", "/usr/bin/python", "python x.py", NULL), -1);
	CHECK_INT("anchor ^: at start", m(&c, "java", "/usr/bin/java", "spark-submit --class X", NULL), 3);
	CHECK_INT("anchor ^: not in middle",
		  m(&c, "java", "/usr/bin/java", "/opt/spark/bin/spark-submit --class X", NULL), -1);
	CHECK_INT("anchor $: at end", m(&c, "dbt", "/usr/bin/dbt", "/usr/bin/dbt dbt run", NULL), 6);
	CHECK_INT("anchor $: not followed by more",
		  m(&c, "dbt", "/usr/bin/dbt", "dbt run --select x", NULL), -1);
	CHECK_INT("cgroup+exe: both match",
		  m(&c, "load", "/opt/etl/bin/load", "load", "/system.slice/etl-load.service"), 4);
	CHECK_INT("cgroup+exe: exe mismatch",
		  m(&c, "load", "/usr/bin/load", "load", "/system.slice/etl-load.service"), -1);
	CHECK_INT("cgroup+exe: NULL cgroup never matches a cgroup rule",
		  m(&c, "load", "/opt/etl/bin/load", "load", NULL), -1);
	CHECK_INT("NULL argv never matches an argv rule", m(&c, "java", "/usr/bin/java", NULL, NULL), -1);
	CHECK_INT("NULL comm never matches a comm rule", m(&c, NULL, "/usr/bin/python3", "x", NULL), -1);
	CHECK_INT("job without criteria never matches", m(&c, "", "", "", ""), -1);
	jm_config_free(&c);

	/* A config with only outputs-only jobs matches nothing at all. */
	const char y[] = "jobs:\n  - name: a\n  - name: b\n    match: {}\n";
	rc = jm_config_parse(&c, "rules.yaml", y, sizeof(y) - 1, err, sizeof(err));
	CHECK_INT("criteria-less config parses", rc, 0);
	CHECK_INT("criteria-less jobs never match", m(&c, "a", "/a", "a", "/a"), -1);
	jm_config_free(&c);
	jm_config_defaults(&c);
	CHECK_INT("no jobs -> -1", m(&c, "python3", "/usr/bin/python3", "python3", "/"), -1);
}

/* The shipped example rule must match the process it describes. */
static void test_example(void)
{
	static struct jm_config c;
	char err[JM_CFG_ERR_MAX] = "";
	int rc = jm_config_load(&c, "deploy/config/agent.yaml", err, sizeof(err));
	CHECK_INT("example loads", rc, 0);
	if (rc) {
		printf("  %s\n", err);
		return;
	}
	CHECK_INT("example rule matches its job",
		  m(&c, "python3", "/usr/bin/python3.11", "python3 /opt/etl/sales_etl.py --date 2024-01-01",
		    "/system.slice/etl-sales.service"), 0);
	CHECK_INT("example rule: other cgroup does not match",
		  m(&c, "python3", "/usr/bin/python3.11", "python3 /opt/etl/sales_etl.py",
		    "/user.slice/user-1000.slice"), -1);
	jm_config_free(&c);
}

int main(void)
{
	test_glob();
	test_match();
	test_example();
	TEST_EXIT();
}
