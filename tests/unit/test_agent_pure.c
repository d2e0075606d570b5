/* CLI parsing, the id map, /proc/PID/stat parsing and DB endpoint
 * classification: the pure parts of the agent around the kernel. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "cli.h"
#include "config.h"
#include "db.h"
#include "idmap.h"
#include "procfs.h"
#include "identity/identity.h"

/* /proc/PID/cgroup on the host shapes of /work/shared/reference: pure v2,
 * hybrid (v1 controllers plus a "0::" line that stays "/"), pure v1; kubelet
 * with the systemd and the cgroupfs driver. */
#define K_UID "3f2a9c1e-7b4d-4e8a-9c2b-1d5e6f7a8b9c"
#define K_UIDU "3f2a9c1e_7b4d_4e8a_9c2b_1d5e6f7a8b9c"
#define K_CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define K_SYSTEMD "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" K_UIDU \
		  ".slice/cri-containerd-" K_CID ".scope"
#define K_CGROUPFS "/kubepods/burstable/pod" K_UID "/" K_CID

static void cg_case(const char *name, const char *text, int want_rc, const char *want)
{
	char buf[256], n[160];
	int rc = jm_proc_cgroup_parse(text, buf, sizeof(buf));
	snprintf(n, sizeof(n), "cgroup: %s: rc", name);
	CHECK_INT(n, rc, want_rc);
	if (rc >= 0 && want) {
		snprintf(n, sizeof(n), "cgroup: %s: path", name);
		CHECK_STR(n, buf, want);
	}
}

static void test_cgroup_parse(void)
{
	cg_case("pure v2", "0::/system.slice/etl.service\n", 0, "/system.slice/etl.service");
	cg_case("v2 kubelet", "0::" K_SYSTEMD "\n", 0, K_SYSTEMD);
	cg_case("hybrid, v2 below the root wins",
		"12:memory:/system.slice/other.service\n1:name=systemd:/system.slice/etl.service\n"
		"0::/system.slice/etl.service\n", 0, "/system.slice/etl.service");
	cg_case("v1 kubelet systemd driver, v2 line \"/\"",
		"12:pids:" K_SYSTEMD "\n11:memory:" K_SYSTEMD "\n4:cpu,cpuacct:" K_SYSTEMD "\n"
		"1:name=systemd:" K_SYSTEMD "\n0::/\n", JM_CGROUP_V1, K_SYSTEMD);
	cg_case("v1 kubelet cgroupfs driver, no v2 line",
		"11:memory:" K_CGROUPFS "\n5:devices:" K_CGROUPFS "\n1:name=systemd:" K_CGROUPFS "\n",
		JM_CGROUP_V1, K_CGROUPFS);
	cg_case("v1 systemd service",
		"9:name=systemd:/system.slice/etl-sales.service\n4:memory:/system.slice\n0::/\n",
		JM_CGROUP_V1, "/system.slice/etl-sales.service");
	cg_case("name=systemd at the root: memory",
		"9:name=systemd:/\n8:pids:/\n4:memory:/process_api/a3ceab94cf5e63c810ae21b081c2c1b2\n"
		"3:cpuset:/\n0::/\n", JM_CGROUP_V1, "/process_api/a3ceab94cf5e63c810ae21b081c2c1b2");
	cg_case("memory in a joint mount", "6:memory,hugetlb:" K_CGROUPFS "\n0::/\n", JM_CGROUP_V1, K_CGROUPFS);
	cg_case("name=systemd2 is another hierarchy",
		"10:name=systemd2:/elsewhere\n9:name=systemd:/system.slice/a.service\n0::/\n",
		JM_CGROUP_V1, "/system.slice/a.service");
	cg_case("memory.x is not memory", "7:memoryx:/no\n0::/\n", 0, "/");
	cg_case("everything at the root: the v2 root", "9:name=systemd:/\n4:memory:/\n0::/\n", 0, "/");
	cg_case("v1 only, all at the root", "9:name=systemd:/\n4:memory:/\n", JM_CGROUP_V1, "/");
	cg_case("empty", "", -ENOENT, NULL);
	cg_case("no usable line", "garbage\n3:cpuset:/x\n", -ENOENT, NULL);
	cg_case("a ':' inside the path is kept", "0::/a:b/c\n", 0, "/a:b/c");
	cg_case("no final newline", "1:name=systemd:/system.slice/n.service\n0::/", JM_CGROUP_V1,
		"/system.slice/n.service");
	char big[600], want_small[8];
	snprintf(big, sizeof(big), "0::/%0300d\n", 0);
	CHECK_INT("cgroup: a path longer than the buffer is refused, not cut",
		  jm_proc_cgroup_parse(big, want_small, sizeof(want_small)), -ENAMETOOLONG);

	/* the path a v1 kubelet node gives must reach the pod */
	char buf[256];
	struct jm_k8s_ids ids;
	CHECK("cgroup: v1 kubelet path parses as a pod",
	      jm_proc_cgroup_parse("11:memory:" K_SYSTEMD "\n1:name=systemd:" K_SYSTEMD "\n0::/\n",
				   buf, sizeof(buf)) >= 0 &&
	      jm_k8s_parse_cgroup(buf, &ids) && strcmp(ids.pod_uid, K_UID) == 0);
}

int main(void)
{
	struct jm_cli_opts o;
	char err[256];

	char *a1[] = { "jm", "--config", "c.yaml", "--jsonl", "-", "--interval", "5",
		       "--duration", "2.5", "--ready-file", "r", NULL };
	CHECK_INT("cli: full", jm_cli_parse(11, a1, &o, err, sizeof(err)), 0);
	CHECK_STR("cli: config", o.config, "c.yaml");
	CHECK_INT("cli: interval", o.interval_s, 5);
	CHECK("cli: duration", o.duration_s == 2.5);
	char *a2[] = { "jm", "--jsonl", "x", NULL };
	CHECK_INT("cli: config required", jm_cli_parse(3, a2, &o, err, sizeof(err)), -1);
	CHECK("cli: config required message", strstr(err, "--config") != NULL);
	char *a3[] = { "jm", "--config", "c", "--interval", "abc", NULL };
	CHECK_INT("cli: bad interval", jm_cli_parse(5, a3, &o, err, sizeof(err)), -1);
	CHECK_STR("cli: bad interval message", err, "--interval: expected whole seconds 1..3600, got \"abc\"");
	char *a4[] = { "jm", "--config", "c", "--bogus", NULL };
	CHECK_INT("cli: unknown option", jm_cli_parse(4, a4, &o, err, sizeof(err)), -1);
	CHECK_STR("cli: unknown long option named", err, "unknown option --bogus (see --help)");
	/* NaN passes every range comparison: it must not pass the parser */
	char *a6[] = { "jm", "--config", "c", "--duration", "nan", NULL };
	CHECK_INT("cli: --duration nan refused", jm_cli_parse(5, a6, &o, err, sizeof(err)), -1);
	CHECK_STR("cli: --duration nan message", err, "--duration: expected positive seconds, got \"nan\"");
	char *a7[] = { "jm", "--config", "c", "--duration", "inf", NULL };
	CHECK_INT("cli: --duration inf refused", jm_cli_parse(5, a7, &o, err, sizeof(err)), -1);
	char *a8[] = { "jm", "--config", "c", "--interval", "nan", NULL };
	CHECK_INT("cli: --interval nan refused", jm_cli_parse(5, a8, &o, err, sizeof(err)), -1);
	char *a9[] = { "jm", "--config", "c", "--duration", "-nan", NULL };
	CHECK_INT("cli: --duration -nan refused", jm_cli_parse(5, a9, &o, err, sizeof(err)), -1);
	/* the bad option is named, not the argument before it */
	char *a10[] = { "jm", "--config", "c.yaml", "-xv", NULL };
	CHECK_INT("cli: unknown short option in a group", jm_cli_parse(4, a10, &o, err, sizeof(err)), -1);
	CHECK_STR("cli: unknown short option named", err, "unknown option -x (see --help)");
	char *a11[] = { "jm", "--config", "c.yaml", "-vx", NULL };
	CHECK_INT("cli: unknown short option after a good one", jm_cli_parse(4, a11, &o, err, sizeof(err)), -1);
	CHECK_STR("cli: unknown short option after a good one named", err, "unknown option -x (see --help)");
	char *a12[] = { "jm", "--jsonl", "-", "-c", NULL };
	CHECK_INT("cli: -c without a value", jm_cli_parse(4, a12, &o, err, sizeof(err)), -1);
	CHECK_STR("cli: -c without a value message", err, "option -c needs a value");
	char *a13[] = { "jm", "-c", "c.yaml", "-vc", NULL };
	CHECK_INT("cli: grouped -c without a value", jm_cli_parse(4, a13, &o, err, sizeof(err)), -1);
	CHECK_STR("cli: grouped -c without a value message", err, "option -c needs a value");
	char *a14[] = { "jm", "-c", "c.yaml", "--jsonl", NULL };
	CHECK_INT("cli: --jsonl without a value", jm_cli_parse(4, a14, &o, err, sizeof(err)), -1);
	CHECK_STR("cli: --jsonl without a value message", err, "option --jsonl needs a value");
	char *a5[] = { "jm", "--help", NULL };
	CHECK_INT("cli: help", jm_cli_parse(2, a5, &o, err, sizeof(err)), 0);
	CHECK("cli: help flag", o.help);
	CHECK("cli: usage documents config format", strstr(jm_cli_usage(), "outputs:") != NULL);
	CHECK("cli: usage documents JOBMETER_HOSTNAME", strstr(jm_cli_usage(), "JOBMETER_HOSTNAME") != NULL);

	/* id map: insert, overwrite, delete with backward shift, growth */
	struct jm_idmap m;
	CHECK_INT("idmap: init", jm_idmap_init(&m, 4), 0);
	int vals[5000];
	int bad = 0;
	for (int i = 0; i < 5000; i++)
		if (jm_idmap_put(&m, (uint64_t)i * 7919 + 1, &vals[i]))
			bad++;
	CHECK_INT("idmap: 5000 puts", bad, 0);
	for (int i = 0; i < 5000; i += 2)
		if (jm_idmap_del(&m, (uint64_t)i * 7919 + 1) != &vals[i])
			bad++;
	for (int i = 0; i < 5000; i++) {
		void *v = jm_idmap_get(&m, (uint64_t)i * 7919 + 1);
		if ((i % 2 == 0 && v) || (i % 2 == 1 && v != &vals[i]))
			bad++;
	}
	CHECK_INT("idmap: deletes keep the rest findable", bad, 0);
	CHECK_INT("idmap: len", m.len, 2500);
	CHECK("idmap: key 0 is refused", jm_idmap_put(&m, 0, vals) != 0);
	jm_idmap_free(&m);

	/* /proc/PID/stat with a hostile comm */
	struct jm_pstat st;
	const char *stat = "1234 (a) b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 40 2 20 0 3 0 "
			   "777 123456789 2560 18446744073709551615";
	CHECK_INT("stat: parses", jm_proc_stat_parse(stat, &st), 0);
	CHECK_STR("stat: comm up to the last paren", st.comm, "a) b) c");
	CHECK_INT("stat: ppid", st.ppid, 1);
	CHECK_INT("stat: cpu", st.cpu_ns, 300 * (1000000000ull / sysconf(_SC_CLK_TCK)));
	CHECK_INT("stat: rss", st.rss_bytes, 2560ull * sysconf(_SC_PAGESIZE));
	CHECK_INT("stat: start", st.start_ticks, 777);
	CHECK("stat: garbage rejected", jm_proc_stat_parse("1234 no parens", &st) != 0);
	{
		uint64_t r = 0, w = 0;
		CHECK_INT("io: parses", jm_proc_io_parse("rchar: 6976\nwchar: 12\nsyscr: 10\nsyscw: 1\n"
							 "read_bytes: 4096\nwrite_bytes: 0\n", &r, &w), 0);
		CHECK("io: rchar", r == 6976);
		CHECK("io: wchar", w == 12);
		CHECK("io: missing wchar rejected", jm_proc_io_parse("rchar: 1\n", &r, &w) != 0);
		CHECK("io: no number rejected", jm_proc_io_parse("rchar: x\nwchar: 1\n", &r, &w) != 0);
	}
	CHECK("stat: truncated rejected", jm_proc_stat_parse("1 (x) S 1", &st) != 0);

	/* DB endpoint classification */
	struct jm_config cfg;
	char ep[128];
	jm_config_defaults(&cfg);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(5432) };
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	CHECK_INT("db: tcp 5432 is postgres", jm_db_classify(&cfg, (void *)&sin, sizeof(sin), ep, sizeof(ep)), JM_DB_POSTGRES);
	CHECK_STR("db: tcp endpoint", ep, "127.0.0.1:5432");
	sin.sin_port = htons(3306);
	CHECK_INT("db: tcp 3306 is mysql", jm_db_classify(&cfg, (void *)&sin, sizeof(sin), ep, sizeof(ep)), JM_DB_MYSQL);
	sin.sin_port = htons(80);
	CHECK_INT("db: tcp 80 is unknown", jm_db_classify(&cfg, (void *)&sin, sizeof(sin), ep, sizeof(ep)), JM_DB_NONE);
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(5432) };
	inet_pton(AF_INET6, "::1", &s6.sin6_addr);
	CHECK_INT("db: ipv6 postgres", jm_db_classify(&cfg, (void *)&s6, sizeof(s6), ep, sizeof(ep)), JM_DB_POSTGRES);
	CHECK_STR("db: ipv6 endpoint", ep, "[::1]:5432");
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	strcpy(un.sun_path, "/var/run/postgresql/.s.PGSQL.5432");
	CHECK_INT("db: pg unix socket", jm_db_classify(&cfg, (void *)&un, sizeof(un), ep, sizeof(ep)), JM_DB_POSTGRES);
	CHECK_STR("db: unix endpoint", ep, "/var/run/postgresql/.s.PGSQL.5432");
	strcpy(un.sun_path, "/run/mysqld/mysqld.sock");
	CHECK_INT("db: mysql unix socket", jm_db_classify(&cfg, (void *)&un, sizeof(un), ep, sizeof(ep)), JM_DB_MYSQL);
	CHECK_INT("db: short address", jm_db_classify(&cfg, (void *)&un, 1, ep, sizeof(ep)), JM_DB_NONE);
	CHECK("db: table schema.name vs name", jm_db_table_matches("public.sales", "sales"));
	CHECK("db: table case-insensitive", jm_db_table_matches("public.sales", "PUBLIC.Sales"));
	CHECK("db: other schema differs", !jm_db_table_matches("public.sales", "stage.sales"));
	CHECK("db: other table differs", !jm_db_table_matches("public.sales", "sales_old"));
	jm_config_free(&cfg);
	test_cgroup_parse();
	TEST_EXIT();
}
