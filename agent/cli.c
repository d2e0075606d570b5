#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
"Usage: jobmeter-agent --config FILE [options]\n"
"\n"
"Measures ETL and analytics jobs from the kernel (eBPF tracepoints) and\n"
"reports per-job runs, resource use, database queries and dataset freshness.\n"
"\n"
"Options:\n"
"  -c, --config FILE          agent configuration (YAML). An empty file is valid:\n"
"                             jobs then come only from the JOBMETER_JOB env var.\n"
"      --jsonl PATH|-         also write runs, windows and loss as JSON lines\n"
"                             (\"-\" = stdout). Appends to PATH.\n"
"      --interval SECONDS     window / batch interval (default: config, 10)\n"
"      --duration SECONDS     stop after this long (default: until SIGTERM)\n"
"      --ready-file PATH      create PATH once every eBPF program is attached\n"
"      --metrics-listen A:P   serve Prometheus /metrics and /healthz on A:P\n"
"      --state-dir DIR        agent id and loss counters (default /var/lib/jobmeter;\n"
"                             the spool is collector.spool_dir)\n"
"      --check-config         parse the config, print problems, exit\n"
"  -v, --verbose              more log output (repeat for debug)\n"
"  -q, --quiet                errors only\n"
"  -h, --help                 this text\n"
"  -V, --version              print the version\n"
"\n"
"Signals: SIGTERM/SIGINT flush open windows and finished runs, ship what can\n"
"be shipped within 5 s, and exit 0. Unsent batches stay in the spool.\n"
"\n"
"Environment: JOBMETER_HOSTNAME, when set and not empty, is the host name the\n"
"agent reports instead of gethostname() (in a pod: the node's name).\n"
"\n"
"Job attribution (first that applies, children inherit their parent's job):\n"
"  1. JOBMETER_JOB=<name> [JOBMETER_RUN_ID=<id>] in a process's environment\n"
"     (or a configured env set such as Airflow's dag/task ids);\n"
"  2. a 'jobs:' rule matching comm, executable, argv regex or cgroup glob;\n"
"  3. a systemd unit rule ('systemd:'), or a Kubernetes pod (Job/CronJob).\n"
"\n"
"Config file (YAML, every key optional; see deploy/config/agent.yaml):\n"
"  interval: 10                 # seconds\n"
"  max_jobs: 1000\n"
"  metrics_listen: 127.0.0.1:9464\n"
"  env_identity: [{vars: [AIRFLOW_CTX_DAG_ID, AIRFLOW_CTX_TASK_ID], separator: \".\"}]\n"
"  systemd: [{unit: \"etl-*.service\", job: sales}]\n"
"  kubernetes: {enabled: true, log_root: /var/log}\n"
"  jobs:\n"
"    - name: nightly-sales\n"
"      match: {comm: python3, exe: \"/usr/bin/python3*\", argv: \"sales\\\\.py\",\n"
"              cgroup: \"/system.slice/etl-*\"}\n"
"      outputs: [{table: public.sales}, {file: \"/data/curated/*.parquet\"}]\n"
"  db: {enabled: true, capture_bytes: 512, max_fingerprints: 200,\n"
"       postgres: {ports: [5432]}, mysql: {ports: [3306]}}\n"
"  collector: {url: https://host:8443/v1/batches, token_file: /etc/jobmeter/token,\n"
"              ca_file: /etc/jobmeter/ca.pem, spool_dir: /var/lib/jobmeter/spool}\n"
"  otlp: {url: http://otel-collector:4318/v1/metrics}\n"
"\n"
"JSON lines: {\"type\":\"run\",...} per finished run, {\"type\":\"window\",...} per\n"
"active job and interval (deltas), {\"type\":\"loss\",...} when data was dropped.\n";

const char *jm_cli_usage(void)
{
	return usage;
}

static int parse_num(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	/* strtod accepts "nan" and "inf"; NaN fails no range comparison */
	if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int jm_cli_parse(int argc, char **argv, struct jm_cli_opts *o, char *err, size_t errlen)
{
	enum { O_JSONL = 256, O_INTERVAL, O_DURATION, O_READY, O_METRICS, O_STATE, O_CHECK };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "jsonl", required_argument, NULL, O_JSONL },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "ready-file", required_argument, NULL, O_READY },
		{ "metrics-listen", required_argument, NULL, O_METRICS },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "check-config", no_argument, NULL, O_CHECK },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	double v;
	int c;

	memset(o, 0, sizeof(*o));
	o->verbosity = 0;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:vqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case O_JSONL: o->jsonl = optarg; break;
		case O_READY: o->ready_file = optarg; break;
		case O_METRICS: o->metrics_listen = optarg; break;
		case O_STATE: o->state_dir = optarg; break;
		case O_CHECK: o->check_config = true; break;
		case O_INTERVAL:
			if (parse_num(optarg, 1, 3600, &v) || v != (unsigned)v) {
				snprintf(err, errlen, "--interval: expected whole seconds 1..3600, got \"%s\"", optarg);
				return -1;
			}
			o->interval_s = (unsigned)v;
			break;
		case O_DURATION:
			if (parse_num(optarg, 0.001, 1e9, &v)) {
				snprintf(err, errlen, "--duration: expected positive seconds, got \"%s\"", optarg);
				return -1;
			}
			o->duration_s = v;
			break;
		case 'v': o->verbosity++; break;
		case 'q': o->verbosity = -1; break;
		case 'h': o->help = true; return 0;
		case 'V': o->version = true; return 0;
		/* Name the option from optopt: argv[optind - 1] is the argument
		 * before it when getopt has moved past a group such as "-xv",
		 * or the whole group ("-vx").  optopt is 0 for an unknown long
		 * option, and the val of a long option missing its value. */
		case ':':
			if (optopt > 0 && optopt < 256 && strncmp(argv[optind - 1], "--", 2) != 0)
				snprintf(err, errlen, "option -%c needs a value", optopt);
			else
				snprintf(err, errlen, "option %s needs a value", argv[optind - 1]);
			return -1;
		default:
			if (optopt > 0 && optopt < 256)
				snprintf(err, errlen, "unknown option -%c (see --help)", optopt);
			else
				snprintf(err, errlen, "unknown option %s (see --help)", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", argv[optind]);
		return -1;
	}
	if (!o->config) {
		snprintf(err, errlen, "--config FILE is required (an empty file means defaults; see --help)");
		return -1;
	}
	return 0;
}
