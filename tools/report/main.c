/* jobmeter-report: per-job cost, reliability, freshness and SLO report over
 * the collector's SQLite database.  main() parses the command line, then
 * query (query.c) -> analyze (analyze.c) -> render (render_*.c). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/log.h"
#include "tools/report/analyze.h"
#include "tools/report/query.h"
#include "tools/report/render.h"
#include "tools/report/timefmt.h"

#ifndef JOBMETER_VERSION
#define JOBMETER_VERSION "dev"
#endif

/* A period longer than this is surely a typo (and would size day arrays). */
#define MAX_PERIOD_NS (INT64_C(3660) * JM_REP_NS_PER_DAY)

static void usage(FILE *out)
{
	fputs(
"Usage: jobmeter-report --db PATH [--since DUR | --from T [--to T]] [OPTIONS]\n"
"\n"
"Per-job cost, reliability, freshness and SLO report from a jobmeter-collector\n"
"database.  Costs are computed now, from the stored raw figures and a price\n"
"file, so a new price file re-prices history.\n"
"\n"
"  --db PATH           collector database (opened read-only)\n"
"  --since DUR         period ending now (or at --to): 30m, 6h, 7d, 2w (default 24h)\n"
"  --from T --to T     explicit period; T is RFC 3339 (2024-05-01T00:00:00Z,\n"
"                      2024-05-01) or Unix seconds; --to defaults to now\n"
"  --prices FILE       price file (YAML; see tools/report/prices.default.yaml);\n"
"                      default: built-in typical on-demand list prices\n"
"  --slos FILE         service level objectives (YAML; see slos.example.yaml)\n"
"  --format FMT        text (default, fits 120 columns), csv, md, json, html\n"
"  --out FILE          write there (atomically) instead of stdout\n"
"  --job NAME          only this job\n"
"  --raw               ignore the rollup tables: read raw rows only (slow, exact)\n"
"  --help, --version\n", out);
}

enum { O_DB = 256, O_SINCE, O_FROM, O_TO, O_PRICES, O_SLOS, O_FORMAT, O_OUT, O_JOB, O_RAW, O_HELP, O_VERSION };

struct cli {
	const char *db, *since, *from, *to, *prices, *slos, *format, *out, *job;
	bool raw;
};

/* Returns 0 to run, 1 to exit 0, -1 on a usage error. */
static int parse_cli(int argc, char **argv, struct cli *c)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, O_DB },
		{ "since", required_argument, NULL, O_SINCE },
		{ "from", required_argument, NULL, O_FROM },
		{ "to", required_argument, NULL, O_TO },
		{ "prices", required_argument, NULL, O_PRICES },
		{ "slos", required_argument, NULL, O_SLOS },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "out", required_argument, NULL, O_OUT },
		{ "job", required_argument, NULL, O_JOB },
		{ "raw", no_argument, NULL, O_RAW },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(c, 0, sizeof(*c));
	c->format = "text";
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case O_DB: c->db = optarg; break;
		case O_SINCE: c->since = optarg; break;
		case O_FROM: c->from = optarg; break;
		case O_TO: c->to = optarg; break;
		case O_PRICES: c->prices = optarg; break;
		case O_SLOS: c->slos = optarg; break;
		case O_FORMAT: c->format = optarg; break;
		case O_OUT: c->out = optarg; break;
		case O_JOB: c->job = optarg; break;
		case O_RAW: c->raw = true; break;
		case 'h':
		case O_HELP:
			usage(stdout);
			return 1;
		case O_VERSION:
			printf("jobmeter-report %s\n", JOBMETER_VERSION);
			return 1;
		default:
			fputs("Try 'jobmeter-report --help'.\n", stderr);
			return -1;
		}
	}
	if (optind < argc) {
		jm_err("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (!c->db) {
		jm_err("--db is required (see --help)");
		return -1;
	}
	if (c->since && c->from) {
		jm_err("use --since or --from, not both");
		return -1;
	}
	return 0;
}

static int period(const struct cli *c, int64_t *from, int64_t *to)
{
	struct timespec now;
	int64_t span = 24 * JM_REP_NS_PER_HOUR;

	clock_gettime(CLOCK_REALTIME, &now);
	*to = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	if (c->to && jm_rep_parse_time(c->to, to)) {
		jm_err("invalid --to '%s' (RFC 3339 or Unix seconds)", c->to);
		return -1;
	}
	if (c->since && (jm_rep_parse_duration(c->since, &span) || span <= 0)) {
		jm_err("invalid --since '%s' (like 30m, 6h, 7d)", c->since);
		return -1;
	}
	*from = *to - span;
	if (c->from && jm_rep_parse_time(c->from, from)) {
		jm_err("invalid --from '%s' (RFC 3339 or Unix seconds)", c->from);
		return -1;
	}
	if (*from >= *to) {
		jm_err("the period is empty (--from must be before --to)");
		return -1;
	}
	if (*to - *from > MAX_PERIOD_NS) {
		jm_err("the period is longer than 10 years");
		return -1;
	}
	return 0;
}

typedef int (*render_fn)(FILE *, const struct jm_rep_report *);

static render_fn renderer(const char *format)
{
	if (strcmp(format, "text") == 0) return jm_rep_render_text;
	if (strcmp(format, "csv") == 0) return jm_rep_render_csv;
	if (strcmp(format, "md") == 0 || strcmp(format, "markdown") == 0) return jm_rep_render_md;
	if (strcmp(format, "json") == 0) return jm_rep_render_json;
	if (strcmp(format, "html") == 0) return jm_rep_render_html;
	return NULL;
}

/* Render into --out through a temporary file in the same directory, so a
 * reader never sees half a report. */
static int write_out(const char *path, render_fn fn, const struct jm_rep_report *r)
{
	char *tmp = NULL;
	FILE *f = NULL;
	int fd = -1, rc = -1;

	if (!path) {
		if (fn(stdout, r) || fflush(stdout)) {
			jm_err("write failed: %s", strerror(errno));
			return -1;
		}
		return 0;
	}
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		jm_err("cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	/* mkstemp makes 0600; give the file the mode a plain create would. */
	{
		mode_t mask = umask(0);

		umask(mask);
		if (fchmod(fd, 0666 & ~mask))
			jm_warn("chmod %s: %s", tmp, strerror(errno));
	}
	f = fdopen(fd, "w");
	if (!f)
		goto out;
	fd = -1;
	if (fn(f, r) || fflush(f) || fsync(fileno(f))) {
		jm_err("cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	if (fclose(f)) {
		f = NULL;
		jm_err("cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	f = NULL;
	if (rename(tmp, path)) {
		jm_err("cannot rename to %s: %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	rc = 0;
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct jm_rep_report r;
	struct cli c;
	sqlite3 *db = NULL;
	render_fn fn;
	char err[1024];
	int rc = 1, p;

	memset(&r, 0, sizeof(r));
	jm_log_init("jobmeter-report", JM_LOG_INFO);
	p = parse_cli(argc, argv, &c);
	if (p)
		return p > 0 ? 0 : 2;
	fn = renderer(c.format);
	if (!fn) {
		jm_err("unknown --format '%s' (text, csv, md, json, html)", c.format);
		return 2;
	}
	if (period(&c, &r.from_ns, &r.to_ns))
		return 2;
	r.db_path = c.db;
	r.version = JOBMETER_VERSION;
	r.job_filter = c.job;
	r.raw_forced = c.raw;
	r.raw_runs_max = JM_REP_RAW_RUNS_MAX;
	jm_rep_prices_default(&r.prices);
	if (c.prices && jm_rep_prices_load(c.prices, &r.prices, err, sizeof(err))) {
		jm_err("%s", err);
		goto out;
	}
	if (c.slos && jm_rep_slo_load(c.slos, &r.slos, err, sizeof(err))) {
		jm_err("%s", err);
		goto out;
	}
	if (jm_rep_db_open(c.db, &db, &r.schema_version, err, sizeof(err)) ||
	    jm_rep_query(db, &r, err, sizeof(err)) || jm_rep_analyze(&r, err, sizeof(err))) {
		jm_err("%s", err);
		goto out;
	}
	if (write_out(c.out, fn, &r))
		goto out;
	rc = 0;
out:
	sqlite3_close(db);
	jm_rep_report_free(&r);
	return rc;
}
