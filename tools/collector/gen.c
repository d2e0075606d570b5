/* gen-batch: see gen.h. */
#include "tools/collector/gen.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobmeter.pb-c.h"
#include "model.h"

/* Everything a generated batch points to lives in one arena, freed at once. */
struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

struct arena {
	struct arena_block *head;
	bool oom;
};

static void *arena_alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->head;
	size_t align = sizeof(max_align_t);

	n = (n + align - 1) / align * align;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > 65536 ? n : 65536;

		b = calloc(1, sizeof(*b) + cap);
		if (!b) {
			a->oom = true;
			return NULL;
		}
		b->cap = cap;
		b->next = a->head;
		a->head = b;
	}
	b->used += n;
	return (char *)b->data + b->used - n;
}

static char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(p = arena_alloc(a, (size_t)n + 1)))
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_block *next = a->head->next;

		free(a->head);
		a->head = next;
	}
}

struct gen_opts {
	const char *agent_id, *boot_id, *host, *kernel, *version, *job, *output, *output_kind, *label;
	uint64_t seq;
	uint32_t schema_version;
	unsigned jobs, runs, windows, statements;
	int64_t start_ns;
	double interval_s, duration_s;
	Jobmeter__V1__Counters c;        /* per run */
	double win_cpu_s, win_mem_gib_s;  /* NAN: same as the run figures */
	unsigned fail_every, oom_every, restart_every;
	uint64_t queries, query_errors;
	double latency_sum_s, latency_p95_s;
	double stmt_latency_p95_s;        /* 0: statements carry no percentiles */
	uint64_t buckets[JM_HIST_BUCKETS];
	size_t n_buckets;                 /* highest bucket given + 1, 0 = none */
	uint32_t cpu_cores;
	uint64_t mem_total, mem_used;
	double cpu_busy_s;
	bool no_host;
	size_t long_string;
	long outcome_raw;                 /* -1: derived from --fail-every */
};

void jm_coll_gen_usage(FILE *out)
{
	fputs(
"Usage: jobmeter-collector gen-batch [OPTIONS] > batch.pb\n"
"Developer/test tool: writes one synthetic jobmeter.v1.Batch (protobuf, not\n"
"compressed) to stdout.  All figures are exactly what the options say.\n"
"  --agent-id ID --boot-id ID --seq N --host NAME   identity (gen-agent, gen-boot, 1, gen-host)\n"
"  --start-ns NS        batch window start, Unix ns (default: now - interval)\n"
"  --interval-s S       batch window length (60)\n"
"  --job NAME           job name (job); with --jobs N>1 names are NAME-000...\n"
"  --jobs N --runs K --windows K   jobs, finished runs per job, windows per job (1 1 1)\n"
"  --duration-s S       run duration (10); run k ends at start + (k+1)*interval/(runs+1)\n"
"  --cpu-s X --mem-gib-s X --processes N --peak-rss-bytes N\n"
"  --file-read-bytes N --file-write-bytes N --net-rx-bytes N --net-tx-bytes N\n"
"                       per-run counters (windows get the same unless\n"
"  --window-cpu-s X --window-mem-gib-s X    say otherwise)\n"
"  --fail-every N --oom-every N --restart-every N   every Nth run of a job fails/...\n"
"  --queries N --query-errors N --latency-sum-s X --latency-p95-s X --statements K\n"
"                       one PostgreSQL db_stats per run (none when --queries 0)\n"
"  --stmt-latency-p95-s X   every statement's p95 (p50 = X/2, p99 = 1.5X;\n"
"                       default: none, stored as unknown)\n"
"  --latency-buckets I:N[,I:N...]   latency histogram of that db_stats (bucket\n"
"                       index 0..63 of agent/histogram.h : count)\n"
"  --output NAME [--output-kind table|file]   each run writes this dataset at its end\n"
"  --label KEY=VALUE    one label on every run\n"
"  --cpu-cores N --mem-total-bytes N --mem-used-bytes N --cpu-busy-s X --no-host\n"
"Deliberately invalid batches (to test validation):\n"
"  --schema-version N   --long-string BYTES (job name of that many 'x')\n"
"  --outcome N          raw outcome value; counters accept nan, inf and negatives\n", out);
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	if (!s || !*s || *s == '-')
		return -1;
	*v = strtoull(s, &end, 0);
	return errno || *end ? -1 : 0;
}

static int parse_i64(const char *s, int64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 0);
	return errno || !*s || *end ? -1 : 0;
}

static int parse_dbl(const char *s, double *v)
{
	char *end;

	*v = strtod(s, &end);
	return !*s || *end ? -1 : 0;
}

/* "I:N,I:N": bucket I (0..63) holds N observations. */
static int parse_buckets(const char *s, struct gen_opts *o)
{
	while (*s) {
		char *end;
		unsigned long i = strtoul(s, &end, 10);
		unsigned long long n;

		if (end == s || *end != ':' || i >= JM_HIST_BUCKETS)
			return -1;
		s = end + 1;
		n = strtoull(s, &end, 10);
		if (end == s || (*end && *end != ','))
			return -1;
		o->buckets[i] = n;
		if (i + 1 > o->n_buckets)
			o->n_buckets = i + 1;
		s = *end ? end + 1 : end;
	}
	return 0;
}

enum {
	O_AGENT = 256, O_BOOT, O_SEQ, O_HOST, O_START, O_INTERVAL, O_JOB, O_JOBS, O_RUNS, O_WINDOWS,
	O_DURATION, O_CPU, O_MEM, O_PROCS, O_RSS, O_FREAD, O_FWRITE, O_NRX, O_NTX, O_WCPU, O_WMEM,
	O_FAIL, O_OOM, O_RESTART, O_QUERIES, O_QERR, O_LATSUM, O_LATP95, O_STMTP95, O_STMTS, O_OUTPUT,
	O_OUTKIND, O_LABEL, O_CORES, O_MEMTOTAL, O_MEMUSED, O_BUSY, O_NOHOST, O_SCHEMA, O_LONG,
	O_OUTCOME, O_BUCKETS, O_HELP,
};

static const struct option gen_options[] = {
	{ "agent-id", required_argument, NULL, O_AGENT },
	{ "boot-id", required_argument, NULL, O_BOOT },
	{ "seq", required_argument, NULL, O_SEQ },
	{ "host", required_argument, NULL, O_HOST },
	{ "start-ns", required_argument, NULL, O_START },
	{ "interval-s", required_argument, NULL, O_INTERVAL },
	{ "job", required_argument, NULL, O_JOB },
	{ "jobs", required_argument, NULL, O_JOBS },
	{ "runs", required_argument, NULL, O_RUNS },
	{ "windows", required_argument, NULL, O_WINDOWS },
	{ "duration-s", required_argument, NULL, O_DURATION },
	{ "cpu-s", required_argument, NULL, O_CPU },
	{ "mem-gib-s", required_argument, NULL, O_MEM },
	{ "processes", required_argument, NULL, O_PROCS },
	{ "peak-rss-bytes", required_argument, NULL, O_RSS },
	{ "file-read-bytes", required_argument, NULL, O_FREAD },
	{ "file-write-bytes", required_argument, NULL, O_FWRITE },
	{ "net-rx-bytes", required_argument, NULL, O_NRX },
	{ "net-tx-bytes", required_argument, NULL, O_NTX },
	{ "window-cpu-s", required_argument, NULL, O_WCPU },
	{ "window-mem-gib-s", required_argument, NULL, O_WMEM },
	{ "fail-every", required_argument, NULL, O_FAIL },
	{ "oom-every", required_argument, NULL, O_OOM },
	{ "restart-every", required_argument, NULL, O_RESTART },
	{ "queries", required_argument, NULL, O_QUERIES },
	{ "query-errors", required_argument, NULL, O_QERR },
	{ "latency-sum-s", required_argument, NULL, O_LATSUM },
	{ "latency-p95-s", required_argument, NULL, O_LATP95 },
	{ "stmt-latency-p95-s", required_argument, NULL, O_STMTP95 },
	{ "statements", required_argument, NULL, O_STMTS },
	{ "output", required_argument, NULL, O_OUTPUT },
	{ "output-kind", required_argument, NULL, O_OUTKIND },
	{ "label", required_argument, NULL, O_LABEL },
	{ "cpu-cores", required_argument, NULL, O_CORES },
	{ "mem-total-bytes", required_argument, NULL, O_MEMTOTAL },
	{ "mem-used-bytes", required_argument, NULL, O_MEMUSED },
	{ "cpu-busy-s", required_argument, NULL, O_BUSY },
	{ "no-host", no_argument, NULL, O_NOHOST },
	{ "schema-version", required_argument, NULL, O_SCHEMA },
	{ "long-string", required_argument, NULL, O_LONG },
	{ "outcome", required_argument, NULL, O_OUTCOME },
	{ "latency-buckets", required_argument, NULL, O_BUCKETS },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

static int parse_opts(int argc, char **argv, struct gen_opts *o)
{
	Jobmeter__V1__Counters zero = JOBMETER__V1__COUNTERS__INIT;
	struct timespec now;
	uint64_t u;
	int64_t i64;
	int opt, bad = 0;

	memset(o, 0, sizeof(*o));
	o->agent_id = "gen-agent";
	o->boot_id = "gen-boot";
	o->host = "gen-host";
	o->kernel = "6.1.0-gen";
	o->version = "gen-batch";
	o->job = "job";
	o->output_kind = "table";
	o->seq = 1;
	o->schema_version = 1;
	o->jobs = o->runs = o->windows = 1;
	o->interval_s = 60;
	o->duration_s = 10;
	o->c = zero;
	o->c.processes = 1;
	o->win_cpu_s = o->win_mem_gib_s = NAN;
	o->cpu_cores = 4;
	o->mem_total = UINT64_C(16) << 30;
	o->mem_used = UINT64_C(4) << 30;
	o->outcome_raw = -1;
	o->start_ns = -1;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", gen_options, NULL)) != -1) {
		switch (opt) {
		case O_AGENT: o->agent_id = optarg; break;
		case O_BOOT: o->boot_id = optarg; break;
		case O_HOST: o->host = optarg; break;
		case O_JOB: o->job = optarg; break;
		case O_OUTPUT: o->output = optarg; break;
		case O_OUTKIND: o->output_kind = optarg; break;
		case O_LABEL: o->label = optarg; break;
		case O_NOHOST: o->no_host = true; break;
		case O_SEQ: bad |= parse_u64(optarg, &o->seq); break;
		case O_START: bad |= parse_i64(optarg, &o->start_ns); break;
		case O_INTERVAL: bad |= parse_dbl(optarg, &o->interval_s); break;
		case O_DURATION: bad |= parse_dbl(optarg, &o->duration_s); break;
		case O_CPU: bad |= parse_dbl(optarg, &o->c.cpu_s); break;
		case O_MEM: bad |= parse_dbl(optarg, &o->c.mem_gib_s); break;
		case O_WCPU: bad |= parse_dbl(optarg, &o->win_cpu_s); break;
		case O_WMEM: bad |= parse_dbl(optarg, &o->win_mem_gib_s); break;
		case O_LATSUM: bad |= parse_dbl(optarg, &o->latency_sum_s); break;
		case O_LATP95: bad |= parse_dbl(optarg, &o->latency_p95_s); break;
		case O_STMTP95: bad |= parse_dbl(optarg, &o->stmt_latency_p95_s); break;
		case O_BUSY: bad |= parse_dbl(optarg, &o->cpu_busy_s); break;
		case O_PROCS: bad |= parse_u64(optarg, &o->c.processes); break;
		case O_RSS: bad |= parse_u64(optarg, &o->c.peak_rss_bytes); break;
		case O_FREAD: bad |= parse_u64(optarg, &o->c.file_read_bytes); break;
		case O_FWRITE: bad |= parse_u64(optarg, &o->c.file_write_bytes); break;
		case O_NRX: bad |= parse_u64(optarg, &o->c.net_rx_bytes); break;
		case O_NTX: bad |= parse_u64(optarg, &o->c.net_tx_bytes); break;
		case O_QUERIES: bad |= parse_u64(optarg, &o->queries); break;
		case O_QERR: bad |= parse_u64(optarg, &o->query_errors); break;
		case O_MEMTOTAL: bad |= parse_u64(optarg, &o->mem_total); break;
		case O_MEMUSED: bad |= parse_u64(optarg, &o->mem_used); break;
		case O_JOBS: case O_RUNS: case O_WINDOWS: case O_STMTS: case O_FAIL: case O_OOM:
		case O_RESTART: case O_CORES: case O_SCHEMA: case O_LONG:
			if (parse_u64(optarg, &u) || u > 100000000) {
				bad = 1;
				break;
			}
			if (opt == O_JOBS) o->jobs = (unsigned)u;
			else if (opt == O_RUNS) o->runs = (unsigned)u;
			else if (opt == O_WINDOWS) o->windows = (unsigned)u;
			else if (opt == O_STMTS) o->statements = (unsigned)u;
			else if (opt == O_FAIL) o->fail_every = (unsigned)u;
			else if (opt == O_OOM) o->oom_every = (unsigned)u;
			else if (opt == O_RESTART) o->restart_every = (unsigned)u;
			else if (opt == O_CORES) o->cpu_cores = (uint32_t)u;
			else if (opt == O_SCHEMA) o->schema_version = (uint32_t)u;
			else o->long_string = (size_t)u;
			break;
		case O_OUTCOME:
			bad |= parse_i64(optarg, &i64);
			o->outcome_raw = (long)i64;
			break;
		case O_BUCKETS:
			bad |= parse_buckets(optarg, o);
			break;
		case O_HELP:
			jm_coll_gen_usage(stdout);
			return 1;
		default:
			jm_coll_gen_usage(stderr);
			return -1;
		}
		if (bad) {
			const char *name = "?";

			for (const struct option *x = gen_options; x->name; x++)
				if (x->val == opt)
					name = x->name;
			fprintf(stderr, "jobmeter-collector gen-batch: bad value for --%s: %s\n", name, optarg);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "jobmeter-collector gen-batch: unexpected argument %s\n", argv[optind]);
		return -1;
	}
	if (o->jobs == 0 || (uint64_t)o->jobs * (o->runs + o->windows) > 10000000) {
		fprintf(stderr, "jobmeter-collector gen-batch: --jobs must be >= 1 and jobs*(runs+windows) <= 1e7\n");
		return -1;
	}
	if (!(o->interval_s > 0) || !(o->duration_s >= 0)) {
		fprintf(stderr, "jobmeter-collector gen-batch: --interval-s must be > 0, --duration-s >= 0\n");
		return -1;
	}
	if (o->start_ns < 0) {
		clock_gettime(CLOCK_REALTIME, &now);
		o->start_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - (int64_t)(o->interval_s * 1e9);
	}
	return 0;
}

static const char *job_name(struct arena *a, const struct gen_opts *o, unsigned j)
{
	if (o->long_string) {
		char *s = arena_alloc(a, o->long_string + 1);

		if (s) {
			memset(s, 'x', o->long_string);
			s[o->long_string] = '\0';
		}
		return s;
	}
	return o->jobs > 1 ? arena_printf(a, "%s-%03u", o->job, j) : o->job;
}

static Jobmeter__V1__DbStats *make_db(struct arena *a, struct gen_opts *o)
{
	Jobmeter__V1__DbStats *d = arena_alloc(a, sizeof(*d));
	Jobmeter__V1__DbStats init = JOBMETER__V1__DB_STATS__INIT;

	if (!d)
		return NULL;
	*d = init;
	d->system = "postgresql";
	d->endpoint = "127.0.0.1:5432";
	d->queries = o->queries;
	d->errors = o->query_errors;
	d->rows = o->queries;
	d->latency_s_sum = o->latency_sum_s;
	d->latency_p50_s = o->latency_p95_s / 2;
	d->latency_p95_s = o->latency_p95_s;
	d->latency_p99_s = o->latency_p95_s * 1.5;
	if (o->n_buckets) {
		d->n_latency_buckets = o->n_buckets;
		d->latency_buckets = (uint64_t *)o->buckets;
	}
	if (o->statements) {
		d->n_statements = o->statements;
		d->statements = arena_alloc(a, sizeof(*d->statements) * o->statements);
		if (!d->statements)
			return NULL;
		for (unsigned k = 0; k < o->statements; k++) {
			Jobmeter__V1__StatementStats si = JOBMETER__V1__STATEMENT_STATS__INIT;
			Jobmeter__V1__StatementStats *s = arena_alloc(a, sizeof(*s));
			uint64_t share = o->queries / o->statements;

			if (!s)
				return NULL;
			*s = si;
			s->fingerprint = arena_printf(a, "SELECT * FROM t%u WHERE id = ?", k);
			/* The first statement takes the remainder so calls add up. */
			s->calls = share + (k == 0 ? o->queries % o->statements : 0);
			s->errors = k == 0 ? o->query_errors : 0;
			s->rows = s->calls;
			/* Statement k gets a weight k+1 share of the time, so that
			 * "top statements by total time" has a defined order. */
			s->latency_s_sum = o->latency_sum_s * (double)(k + 1) /
					   ((double)o->statements * (o->statements + 1) / 2);
			s->last_error = s->errors ? "42P01" : "";
			s->latency_p50_s = o->stmt_latency_p95_s / 2;
			s->latency_p95_s = o->stmt_latency_p95_s;
			s->latency_p99_s = o->stmt_latency_p95_s * 1.5;
			d->statements[k] = s;
		}
	}
	return d;
}

static int build(struct arena *a, struct gen_opts *o, Jobmeter__V1__Batch *b)
{
	Jobmeter__V1__Batch bi = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity ai = JOBMETER__V1__AGENT_IDENTITY__INIT, *agent;
	int64_t interval_ns = (int64_t)(o->interval_s * 1e9), dur_ns = (int64_t)(o->duration_s * 1e9);
	size_t nr = (size_t)o->jobs * o->runs, nw = (size_t)o->jobs * o->windows, ir = 0, iw = 0;

	*b = bi;
	agent = arena_alloc(a, sizeof(*agent));
	b->runs = nr ? arena_alloc(a, sizeof(*b->runs) * nr) : NULL;
	b->windows = nw ? arena_alloc(a, sizeof(*b->windows) * nw) : NULL;
	if (!agent || (nr && !b->runs) || (nw && !b->windows))
		return -1;
	*agent = ai;
	agent->host = (char *)o->host;
	agent->agent_id = (char *)o->agent_id;
	agent->boot_id = (char *)o->boot_id;
	agent->kernel = (char *)o->kernel;
	agent->version = (char *)o->version;
	b->schema_version = o->schema_version;
	b->agent = agent;
	b->seq = o->seq;
	b->window_start_unix_ns = o->start_ns;
	b->window_end_unix_ns = o->start_ns + interval_ns;

	for (unsigned j = 0; j < o->jobs; j++) {
		const char *job = job_name(a, o, j);

		if (!job)
			return -1;
		for (unsigned k = 0; k < o->runs; k++) {
			Jobmeter__V1__JobRun ri = JOBMETER__V1__JOB_RUN__INIT, *r = arena_alloc(a, sizeof(*r));
			Jobmeter__V1__Counters *c = arena_alloc(a, sizeof(*c));
			unsigned n = k + 1;

			if (!r || !c)
				return -1;
			*r = ri;
			*c = o->c;
			r->job = (char *)job;
			r->run_id = arena_printf(a, "%s-%" PRIu64 "-%u", job, o->seq, k);
			r->end_unix_ns = o->start_ns + (int64_t)((double)interval_ns * n / (o->runs + 1));
			r->start_unix_ns = r->end_unix_ns - dur_ns > 0 ? r->end_unix_ns - dur_ns : 1;
			r->outcome = (o->fail_every && n % o->fail_every == 0)
				     ? JOBMETER__V1__OUTCOME__OUTCOME_FAILURE
				     : JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS;
			if (o->outcome_raw >= 0)
				r->outcome = (Jobmeter__V1__Outcome)o->outcome_raw;
			r->exit_code = r->outcome == JOBMETER__V1__OUTCOME__OUTCOME_FAILURE ? 1 : 0;
			r->oom_killed = o->oom_every && n % o->oom_every == 0;
			if (r->oom_killed) {
				r->exit_code = -1;
				r->signal = 9;
			}
			r->restart = o->restart_every && n % o->restart_every == 0;
			r->source = "env";
			r->counters = c;
			if (o->queries) {
				r->n_db = 1;
				r->db = arena_alloc(a, sizeof(*r->db));
				if (!r->db || !(r->db[0] = make_db(a, o)))
					return -1;
			}
			if (o->output) {
				Jobmeter__V1__OutputWrite oi = JOBMETER__V1__OUTPUT_WRITE__INIT;
				Jobmeter__V1__OutputWrite *w = arena_alloc(a, sizeof(*w));

				r->n_outputs = 1;
				r->outputs = arena_alloc(a, sizeof(*r->outputs));
				if (!w || !r->outputs)
					return -1;
				*w = oi;
				w->kind = (char *)o->output_kind;
				w->name = o->jobs > 1 ? arena_printf(a, "%s-%03u", o->output, j) : (char *)o->output;
				w->last_write_unix_ns = r->end_unix_ns;
				r->outputs[0] = w;
			}
			if (o->label) {
				Jobmeter__V1__Label li = JOBMETER__V1__LABEL__INIT;
				Jobmeter__V1__Label *l = arena_alloc(a, sizeof(*l));
				const char *eq = strchr(o->label, '=');

				r->labels = arena_alloc(a, sizeof(*r->labels));
				if (!l || !r->labels)
					return -1;
				*l = li;
				l->key = eq ? arena_printf(a, "%.*s", (int)(eq - o->label), o->label) : (char *)o->label;
				l->value = eq ? (char *)eq + 1 : "";
				r->labels[0] = l;
				r->n_labels = 1;
			}
			b->runs[ir++] = r;
		}
		for (unsigned w = 0; w < o->windows; w++) {
			Jobmeter__V1__JobWindow wi = JOBMETER__V1__JOB_WINDOW__INIT, *x = arena_alloc(a, sizeof(*x));
			Jobmeter__V1__Counters *c = arena_alloc(a, sizeof(*c));

			if (!x || !c)
				return -1;
			*x = wi;
			*c = o->c;
			if (!isnan(o->win_cpu_s))
				c->cpu_s = o->win_cpu_s;
			if (!isnan(o->win_mem_gib_s))
				c->mem_gib_s = o->win_mem_gib_s;
			x->job = (char *)job;
			x->run_id = arena_printf(a, "%s-%" PRIu64 "-w", job, o->seq);
			x->start_unix_ns = o->start_ns + (int64_t)((double)interval_ns * w / o->windows);
			x->end_unix_ns = o->start_ns + (int64_t)((double)interval_ns * (w + 1) / o->windows);
			x->counters = c;
			b->windows[iw++] = x;
		}
	}
	b->n_runs = ir;
	b->n_windows = iw;
	if (!o->no_host) {
		Jobmeter__V1__HostUsage hi = JOBMETER__V1__HOST_USAGE__INIT, *h = arena_alloc(a, sizeof(*h));

		if (!h)
			return -1;
		*h = hi;
		h->cpu_cores = o->cpu_cores;
		h->cpu_busy_s = o->cpu_busy_s;
		h->mem_total_bytes = o->mem_total;
		h->mem_used_bytes = o->mem_used;
		h->window_s = o->interval_s;
		b->host = h;
	}
	{
		Jobmeter__V1__LossCounters li = JOBMETER__V1__LOSS_COUNTERS__INIT, *l = arena_alloc(a, sizeof(*l));

		if (!l)
			return -1;
		*l = li;
		b->loss = l;
	}
	return a->oom ? -1 : 0;
}

int jm_coll_gen_main(int argc, char **argv)
{
	struct arena a = { 0 };
	struct gen_opts o;
	Jobmeter__V1__Batch b;
	uint8_t *buf = NULL;
	size_t len, off = 0;
	int rc = 2, p;

	p = parse_opts(argc, argv, &o);
	if (p)
		return p > 0 ? 0 : 2;
	if (build(&a, &o, &b)) {
		fprintf(stderr, "jobmeter-collector gen-batch: out of memory\n");
		goto out;
	}
	len = jobmeter__v1__batch__get_packed_size(&b);
	buf = malloc(len ? len : 1);
	if (!buf) {
		fprintf(stderr, "jobmeter-collector gen-batch: out of memory\n");
		goto out;
	}
	jobmeter__v1__batch__pack(&b, buf);
	while (off < len) {
		ssize_t n = write(STDOUT_FILENO, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "jobmeter-collector gen-batch: write: %s\n", strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	rc = 0;
out:
	free(buf);
	arena_free(&a);
	return rc;
}
