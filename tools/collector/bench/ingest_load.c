/* ingest_load: closed-loop load generator for jobmeter-collector's
 * POST /v1/batches (benchmark tool, not installed).  Used by
 * tools/collector/bench/ingest_bench.sh, by the "collector" scenario of
 * bench/run.sh (with --template --gzip --seconds --json) and by
 * tests/integration/41_collector_durability.sh (with --acked --until-gone).
 *
 * One thread per simulated agent, each with one keep-alive connection,
 * posts its batches one after the other (the next only after the answer,
 * like the agent's shipper).  Batches are made from a template written by
 * `jobmeter-collector gen-batch`: one per agent (--dir DIR: DIR/agent-K.pb)
 * or one for all (--template FILE, with agent ids PREFIX-K).  Agent K sends
 * seq 1..M (after --seq-base), every timestamp moved on by one batch
 * interval per seq, as an agent would send them.
 *
 * Plain bodies are encoded just before they are posted (some 10 us for 50
 * windows, against a fraction of a millisecond for the collector to store
 * one), so memory stays flat however many batches a run posts.  With
 * --gzip (what the agent's shipper sends) every body is built and
 * compressed before the clock starts: deflate costs several times the
 * encoding, and this process shares the CPUs with the collector it
 * measures.
 *
 * A 503 (the collector sheds load above --max-ingest) is counted and the
 * same batch is posted again after --retry-ms (default 20: an agent would
 * honour Retry-After, 5 s, which would measure the back-off rather than the
 * collector; retrying at once would load the collector with refusals).  A
 * batch refused for 10 s stops its agent.  Any other answer but 200 stops
 * that agent too, and fails the run.  --seconds ends every agent at a
 * deadline (not an error), whatever is left of its M batches. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "jobmeter.pb-c.h"

#define MAX_AGENTS        1000
#define MAX_BATCHES       1000000
#define MAX_TEMPLATE      (16u << 20)
#define MAX_PREFIX        64
#define BUSY_GIVE_UP_S    10.0

struct blob {
	uint8_t *p;
	size_t len;
};

/* What every agent reads and nobody writes once the threads run. */
struct config {
	const char *url, *dir, *prefix;
	const struct blob *shared_tpl;  /* --template's bytes, or NULL for --dir */
	const char *auth;               /* "Authorization: Bearer ..." or NULL */
	unsigned batches;
	uint64_t seq_base;
	bool until_gone;                /* a refused connection ends the agent quietly */
	bool gzip;
	long retry_ms;
	double seconds;                 /* 0: no deadline */
	int64_t now_unix_ns;            /* --template: the last batch ends an interval before */
};

struct agent {
	pthread_t thread;
	int index;                      /* 1-based, as in DIR/agent-K.pb */
	const struct config *cfg;
	pthread_barrier_t *start;
	char agent_id[160], host[160];
	char *tpl_agent_id, *tpl_host;  /* the template's own strings, put back before free */
	Jobmeter__V1__Batch *tpl;       /* the template, moved on per seq */
	int64_t interval_ns;
	struct blob body;               /* plain: the batch being posted */
	size_t body_cap;
	struct blob *bodies;            /* --gzip: every batch, built ahead */
	double *lat_s;                  /* per batch, until its 200 */
	unsigned long stored, duplicate, busy, posted;
	unsigned long long body_bytes;  /* of the batches posted, once each */
	int failed, gone;
	char why[4608];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_file(const char *path, struct blob *out)
{
	FILE *f = fopen(path, "rb");
	long n;
	int rc = -1;

	out->p = NULL;
	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 || (unsigned long)n > MAX_TEMPLATE ||
	    fseek(f, 0, SEEK_SET))
		goto out;
	out->p = malloc((size_t)n);
	if (!out->p || fread(out->p, 1, (size_t)n, f) != (size_t)n)
		goto out;
	out->len = (size_t)n;
	rc = 0;
out:
	if (rc) {
		free(out->p);
		out->p = NULL;
	}
	fclose(f);
	return rc;
}

static void shift_times(Jobmeter__V1__Batch *b, int64_t d)
{
	b->window_start_unix_ns += d;
	b->window_end_unix_ns += d;
	for (size_t i = 0; i < b->n_runs; i++) {
		b->runs[i]->start_unix_ns += d;
		b->runs[i]->end_unix_ns += d;
		for (size_t k = 0; k < b->runs[i]->n_outputs; k++)
			if (b->runs[i]->outputs[k]->last_write_unix_ns)
				b->runs[i]->outputs[k]->last_write_unix_ns += d;
	}
	for (size_t i = 0; i < b->n_windows; i++) {
		b->windows[i]->start_unix_ns += d;
		b->windows[i]->end_unix_ns += d;
		for (size_t k = 0; k < b->windows[i]->n_outputs; k++)
			if (b->windows[i]->outputs[k]->last_write_unix_ns)
				b->windows[i]->outputs[k]->last_write_unix_ns += d;
	}
}

/* Encode the batch with this seq (0-based index s) into a->body. */
static int encode(struct agent *a, unsigned s)
{
	size_t n;

	a->tpl->seq = a->cfg->seq_base + s + 1;
	n = jobmeter__v1__batch__get_packed_size(a->tpl);
	if (n > a->body_cap || !a->body.p) {
		uint8_t *p = realloc(a->body.p, n ? n : 1);

		if (!p)
			return -1;
		a->body.p = p;
		a->body_cap = n;
	}
	a->body.len = jobmeter__v1__batch__pack(a->tpl, a->body.p);
	/* The next batch covers the next interval. */
	shift_times(a->tpl, a->interval_ns);
	return 0;
}

/* Encode and gzip every batch of the agent into a->bodies.  Each body is
 * compressed into a scratch buffer of deflateBound() and then copied to an
 * exact-size allocation: a few hundred bytes each instead of the bound's
 * several KiB, over tens of thousands of bodies. */
static int prebuild(struct agent *a)
{
	z_stream z;
	uint8_t *scratch = NULL;
	size_t cap = 0;
	int rc = -1;

	memset(&z, 0, sizeof(z));
	/* 15 + 16: a gzip wrapper, as Content-Encoding: gzip means; the
	 * agent's shipper uses the same level. */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		snprintf(a->why, sizeof(a->why), "deflateInit2 failed");
		return -1;
	}
	a->bodies = calloc(a->cfg->batches, sizeof(*a->bodies));
	if (!a->bodies)
		goto oom;
	for (unsigned s = 0; s < a->cfg->batches; s++) {
		size_t need;

		if (encode(a, s))
			goto oom;
		need = deflateBound(&z, a->body.len);
		if (need > cap) {
			uint8_t *p = realloc(scratch, need);

			if (!p)
				goto oom;
			scratch = p;
			cap = need;
		}
		if (deflateReset(&z) != Z_OK)
			goto zfail;
		z.next_in = a->body.p;
		z.avail_in = (uInt)a->body.len;
		z.next_out = scratch;
		z.avail_out = (uInt)cap;
		if (deflate(&z, Z_FINISH) != Z_STREAM_END)
			goto zfail;
		a->bodies[s].len = cap - z.avail_out;
		a->bodies[s].p = malloc(a->bodies[s].len);
		if (!a->bodies[s].p)
			goto oom;
		memcpy(a->bodies[s].p, scratch, a->bodies[s].len);
	}
	rc = 0;
	goto out;
oom:
	snprintf(a->why, sizeof(a->why), "out of memory building %u gzip'd batches", a->cfg->batches);
	goto out;
zfail:
	snprintf(a->why, sizeof(a->why), "deflate failed: %s", z.msg ? z.msg : "?");
out:
	deflateEnd(&z);
	free(scratch);
	return rc;
}

/* Read the agent's template, name the agent, move the times to where its
 * first batch goes; with --gzip, build every body. */
static int prepare(struct agent *a)
{
	const struct config *cfg = a->cfg;
	char path[4096] = "";
	struct blob own = { NULL, 0 };
	const struct blob *tpl = cfg->shared_tpl;

	if (!tpl) {
		snprintf(path, sizeof(path), "%s/agent-%d.pb", cfg->dir, a->index);
		if (read_file(path, &own)) {
			snprintf(a->why, sizeof(a->why), "cannot read %s", path);
			return -1;
		}
		tpl = &own;
	}
	/* Each agent its own copy: the threads move seq and times. */
	a->tpl = jobmeter__v1__batch__unpack(NULL, tpl->len, tpl->p);
	free(own.p);
	if (!a->tpl || !a->tpl->agent) {
		snprintf(a->why, sizeof(a->why), "%s is not a Batch with an agent",
			 path[0] ? path : "the template");
		return -1;
	}
	a->interval_ns = a->tpl->window_end_unix_ns - a->tpl->window_start_unix_ns;
	if (a->interval_ns <= 0) {
		snprintf(a->why, sizeof(a->why), "template window has no length");
		return -1;
	}
	if (cfg->prefix) {
		snprintf(a->agent_id, sizeof(a->agent_id), "%s-%d", cfg->prefix, a->index);
		snprintf(a->host, sizeof(a->host), "%s-host-%d", cfg->prefix, a->index);
		a->tpl_agent_id = a->tpl->agent->agent_id;
		a->tpl_host = a->tpl->agent->host;
		a->tpl->agent->agent_id = a->agent_id;
		a->tpl->agent->host = a->host;
	} else {
		snprintf(a->agent_id, sizeof(a->agent_id), "%s", a->tpl->agent->agent_id);
	}
	if (cfg->shared_tpl)
		/* gen-batch's default window ends now: M batches after it would
		 * reach into the future.  Put the last one an interval ago. */
		shift_times(a->tpl, cfg->now_unix_ns - (int64_t)(cfg->batches + 1) * a->interval_ns -
					    a->tpl->window_start_unix_ns);
	else
		shift_times(a->tpl, a->interval_ns * (int64_t)cfg->seq_base);
	a->lat_s = calloc(cfg->batches, sizeof(*a->lat_s));
	if (!a->lat_s) {
		snprintf(a->why, sizeof(a->why), "out of memory");
		return -1;
	}
	return cfg->gzip ? prebuild(a) : 0;
}

static void release(struct agent *a)
{
	if (a->tpl) {
		/* The pointers the prefix swapped in are ours, not protobuf-c's. */
		if (a->tpl_agent_id) {
			a->tpl->agent->agent_id = a->tpl_agent_id;
			a->tpl->agent->host = a->tpl_host;
		}
		jobmeter__v1__batch__free_unpacked(a->tpl, NULL);
	}
	if (a->bodies)
		for (unsigned s = 0; s < a->cfg->batches; s++)
			free(a->bodies[s].p);
	free(a->bodies);
	free(a->body.p);
	free(a->lat_s);
}

struct resp {
	char buf[512];
	size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t k = size * n, room = sizeof(r->buf) - 1 - r->len;

	memcpy(r->buf + r->len, p, k < room ? k : room);
	r->len += k < room ? k : room;
	r->buf[r->len] = '\0';
	return k;
}

static void *agent_main(void *arg)
{
	struct agent *a = arg;
	const struct config *cfg = a->cfg;
	struct curl_slist *hdr = NULL, *h;
	char url[2048];
	double deadline = 0;
	CURL *c = curl_easy_init();

	snprintf(url, sizeof(url), "%s/v1/batches", cfg->url);
	hdr = curl_slist_append(hdr, "Content-Type: application/x-protobuf");
	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	if (hdr && (h = curl_slist_append(hdr, "Expect:")))
		hdr = h;
	else
		a->failed = 1;
	if (cfg->gzip && hdr && (h = curl_slist_append(hdr, "Content-Encoding: gzip")))
		hdr = h;
	else if (cfg->gzip)
		a->failed = 1;
	if (cfg->auth && hdr && (h = curl_slist_append(hdr, cfg->auth)))
		hdr = h;
	else if (cfg->auth)
		a->failed = 1;
	if (!c || !hdr || a->failed) {
		snprintf(a->why, sizeof(a->why), "curl init failed");
		a->failed = 1;
	} else {
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	}
	pthread_barrier_wait(a->start);
	if (cfg->seconds > 0)
		deadline = now_s() + cfg->seconds;
	for (unsigned s = 0; s < cfg->batches && !a->failed && !a->gone; s++) {
		double t0 = now_s();
		const struct blob *body;
		bool done = false;

		if (deadline > 0 && t0 >= deadline)
			break;
		if (a->bodies) {
			body = &a->bodies[s];
		} else if (encode(a, s)) {
			snprintf(a->why, sizeof(a->why), "out of memory");
			a->failed = 1;
			break;
		} else {
			body = &a->body;
		}
		a->posted++;
		a->body_bytes += body->len;

		for (;;) {
			struct resp r = { .len = 0 };
			long code = 0;
			CURLcode cc;
			double t;

			curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->p);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
			cc = curl_easy_perform(c);
			if (cc == CURLE_OK)
				curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
			if (code == 200) {
				if (strstr(r.buf, "\"duplicate\""))
					a->duplicate++;
				else
					a->stored++;
				done = true;
				break;
			}
			t = now_s();
			if (code == 503 && deadline > 0 && t >= deadline)
				break;   /* out of time, not a failure */
			if (code == 503 && t - t0 < BUSY_GIVE_UP_S) {
				struct timespec d = { cfg->retry_ms / 1000, (cfg->retry_ms % 1000) * 1000000 };

				a->busy++;
				nanosleep(&d, NULL);
				continue;
			}
			if (cfg->until_gone && cc != CURLE_OK) {
				a->gone = 1;
				break;
			}
			snprintf(a->why, sizeof(a->why), "agent %d seq %llu: %s %ld %s", a->index,
				 (unsigned long long)(cfg->seq_base + s + 1),
				 cc == CURLE_OK ? "HTTP" : curl_easy_strerror(cc), code, r.buf);
			a->failed = 1;
			break;
		}
		if (!done)
			break;
		a->lat_s[s] = now_s() - t0;
	}
	curl_slist_free_all(hdr);
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

static void usage(void)
{
	fputs("Usage: ingest_load --url http://HOST:PORT (--dir TEMPLATE_DIR | --template FILE)\n"
	      "                   --agents N --batches M [--prefix P] [--gzip] [--seconds S]\n"
	      "                   [--retry-ms R] [--json] [--token-file F] [--seq-base N]\n"
	      "                   [--acked FILE] [--until-gone]\n"
	      "Posts M batches per agent from N threads to URL/v1/batches and prints the\n"
	      "throughput and latency.  Templates are gen-batch output: --dir DIR holds\n"
	      "agent-1.pb .. agent-N.pb; --template FILE is one for all agents, named\n"
	      "P-1 .. P-N (--prefix, default bench-agent), the last batch ending one window\n"
	      "length ago.  Seqs are B+1 .. B+M (--seq-base B, default 0).\n"
	      "--gzip        gzip'd bodies like the agent's shipper, all built before the clock\n"
	      "--seconds S   stop every agent after S seconds (not an error)\n"
	      "--retry-ms R  pause before posting a batch again after a 503 (20)\n"
	      "--json        one line {\"agents\",\"stored\",\"duplicate\",\"retried_503\",\"errors\",\n"
	      "              \"seconds\",\"batches_per_s\",\"body_bytes_avg\",\"latency_ms_p50\",\n"
	      "              \"latency_ms_p99\"} instead of the text line\n"
	      "--acked FILE  appends 'AGENT_ID SEQ' for every batch answered 200\n"
	      "--until-gone  a collector that goes away ends the run without an error (crash tests)\n",
	      stderr);
}

/* Whole-string unsigned number in [lo, hi]. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s[0] || s[0] == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "dir", required_argument, NULL, 'd' },
		{ "template", required_argument, NULL, 'T' },
		{ "agents", required_argument, NULL, 'a' },
		{ "batches", required_argument, NULL, 'b' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "gzip", no_argument, NULL, 'z' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "retry-ms", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ "token-file", required_argument, NULL, 't' },
		{ "seq-base", required_argument, NULL, 's' },
		{ "acked", required_argument, NULL, 'k' },
		{ "until-gone", no_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg = { .retry_ms = 20 };
	const char *token_file = NULL, *acked = NULL, *tpl_path = NULL;
	struct blob tpl = { NULL, 0 };
	uint64_t v, agents = 0;
	bool json = false, barrier_ok = false;
	char auth[1024] = "";
	struct agent *ag = NULL;
	pthread_barrier_t start;
	unsigned long stored = 0, dup = 0, busy = 0, posted = 0, failures = 0;
	unsigned long long body_bytes = 0;
	double t0, wall, *all = NULL, p50, p99, max;
	size_t nall = 0;
	int opt, rc = 1, bad = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'u': cfg.url = optarg; break;
		case 'd': cfg.dir = optarg; break;
		case 'T': tpl_path = optarg; break;
		case 'a': bad |= parse_u64(optarg, 1, MAX_AGENTS, &agents); break;
		case 'b':
			bad |= parse_u64(optarg, 1, MAX_BATCHES, &v);
			cfg.batches = (unsigned)v;
			break;
		case 'p': cfg.prefix = optarg; break;
		case 'z': cfg.gzip = true; break;
		case 'S': {
			char *end;

			cfg.seconds = strtod(optarg, &end);
			bad |= *end || !(cfg.seconds > 0 && cfg.seconds <= 86400);
			break;
		}
		case 'R':
			bad |= parse_u64(optarg, 0, 10000, &v);
			cfg.retry_ms = (long)v;
			break;
		case 'j': json = true; break;
		case 't': token_file = optarg; break;
		case 's': bad |= parse_u64(optarg, 0, UINT64_MAX - MAX_BATCHES, &cfg.seq_base); break;
		case 'k': acked = optarg; break;
		case 'g': cfg.until_gone = true; break;
		default: bad = 1;
		}
	}
	if (bad || optind != argc || !cfg.url || (cfg.dir != NULL) == (tpl_path != NULL) || agents == 0 ||
	    cfg.batches == 0 || (cfg.prefix && strlen(cfg.prefix) > MAX_PREFIX)) {
		usage();
		return 2;
	}
	if (tpl_path) {
		struct timespec rt;

		if (read_file(tpl_path, &tpl)) {
			fprintf(stderr, "ingest_load: cannot read %s\n", tpl_path);
			return 1;
		}
		cfg.shared_tpl = &tpl;
		/* One template for every agent: without distinct ids they would
		 * be one agent posting each seq N times. */
		if (!cfg.prefix)
			cfg.prefix = "bench-agent";
		clock_gettime(CLOCK_REALTIME, &rt);
		cfg.now_unix_ns = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
	}
	if (token_file) {
		struct blob t;
		size_t n;

		if (read_file(token_file, &t)) {
			fprintf(stderr, "ingest_load: cannot read %s\n", token_file);
			goto out_tpl;
		}
		n = t.len;
		while (n && (t.p[n - 1] == '\n' || t.p[n - 1] == ' ' || t.p[n - 1] == '\r'))
			n--;
		if (n > 900) {
			free(t.p);
			fprintf(stderr, "ingest_load: token too long\n");
			goto out_tpl;
		}
		snprintf(auth, sizeof(auth), "Authorization: Bearer %.*s", (int)n, (const char *)t.p);
		free(t.p);
		cfg.auth = auth;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		goto out_tpl;
	ag = calloc(agents, sizeof(*ag));
	all = calloc(agents * cfg.batches, sizeof(*all));
	if (!ag || !all) {
		fprintf(stderr, "ingest_load: out of memory for %llu x %u batches\n",
			(unsigned long long)agents, cfg.batches);
		goto out;
	}
	if (pthread_barrier_init(&start, NULL, (unsigned)agents + 1))
		goto out;
	barrier_ok = true;
	for (unsigned i = 0; i < agents; i++) {
		ag[i].index = (int)i + 1;
		ag[i].cfg = &cfg;
		ag[i].start = &start;
		if (prepare(&ag[i])) {
			fprintf(stderr, "ingest_load: %s\n", ag[i].why);
			goto out;
		}
	}
	for (unsigned i = 0; i < agents; i++) {
		if (pthread_create(&ag[i].thread, NULL, agent_main, &ag[i])) {
			fprintf(stderr, "ingest_load: cannot start thread %u: %s\n", i, strerror(errno));
			exit(1);   /* the barrier would wait forever */
		}
	}
	pthread_barrier_wait(&start);
	t0 = now_s();
	for (unsigned i = 0; i < agents; i++)
		pthread_join(ag[i].thread, NULL);
	wall = now_s() - t0;
	for (unsigned i = 0; i < agents; i++) {
		stored += ag[i].stored;
		dup += ag[i].duplicate;
		busy += ag[i].busy;
		posted += ag[i].posted;
		body_bytes += ag[i].body_bytes;
		if (ag[i].failed) {
			failures++;
			fprintf(stderr, "ingest_load: %s\n", ag[i].why);
		}
		for (unsigned s = 0; s < ag[i].stored + ag[i].duplicate; s++)
			all[nall++] = ag[i].lat_s[s];
	}
	if (acked) {
		/* An agent's batches are answered in order: the first
		 * stored + duplicate seqs are the acknowledged ones. */
		FILE *f = fopen(acked, "a");

		if (!f) {
			fprintf(stderr, "ingest_load: cannot write %s\n", acked);
			failures++;
		}
		for (unsigned i = 0; f && i < agents; i++)
			for (unsigned long s = 0; s < ag[i].stored + ag[i].duplicate; s++)
				fprintf(f, "%s %llu\n", ag[i].agent_id, (unsigned long long)(cfg.seq_base + s + 1));
		if (f && fclose(f)) {
			fprintf(stderr, "ingest_load: cannot write %s\n", acked);
			failures++;
		}
	}
	qsort(all, nall, sizeof(*all), cmp_double);
	p50 = nall ? all[nall / 2] * 1e3 : 0;
	p99 = nall ? all[(size_t)((double)nall * 0.99)] * 1e3 : 0;
	max = nall ? all[nall - 1] * 1e3 : 0;
	if (json)
		/* The keys bench/run.sh and bench/report.py read.  batches_per_s
		 * counts stored batches only; errors = agents stopped by a
		 * failure (each stops at its first). */
		printf("{\"agents\":%llu,\"stored\":%lu,\"duplicate\":%lu,\"retried_503\":%lu,\"errors\":%lu,"
		       "\"seconds\":%.3f,\"batches_per_s\":%.1f,\"body_bytes_avg\":%.0f,"
		       "\"latency_ms_p50\":%.2f,\"latency_ms_p99\":%.2f}\n",
		       (unsigned long long)agents, stored, dup, busy, failures, wall, (double)stored / wall,
		       posted ? (double)body_bytes / (double)posted : 0.0, p50, p99);
	else
		printf("agents %llu, batches %lu stored + %lu duplicate, 503s %lu, %.2f s: %.0f batches/s;"
		       " latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		       (unsigned long long)agents, stored, dup, busy, wall, (double)(stored + dup) / wall,
		       p50, p99, max);
	rc = failures ? 1 : 0;
out:
	if (ag)
		for (unsigned i = 0; i < agents; i++)
			if (ag[i].cfg)
				release(&ag[i]);
	if (barrier_ok)
		pthread_barrier_destroy(&start);
	free(ag);
	free(all);
	curl_global_cleanup();
out_tpl:
	free(tpl.p);
	return rc;
}
