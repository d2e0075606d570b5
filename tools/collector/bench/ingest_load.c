/* ingest_load: closed-loop load generator for jobmeter-collector's
 * POST /v1/batches (benchmark tool, not installed; ingest_bench.sh builds
 * and runs it).
 *
 * One thread per simulated agent, each with one keep-alive connection,
 * posts its batches one after the other (the next only after the answer,
 * like the agent's shipper).  Batches are made from a template written by
 * `jobmeter-collector gen-batch` (DIR/agent-K.pb): seq 1..M, and every
 * timestamp moved on by one batch interval per seq, as an agent would
 * send them.  Each is encoded just before it is posted (some 10 us for 50
 * windows, against a fraction of a millisecond for the collector to store
 * it), so memory stays flat however many batches a run posts.
 *
 * A 503 is counted and the same batch is posted again after 20 ms (an agent
 * would honour Retry-After; a benchmark wants the collector's ceiling);
 * 500 in a row (10 s) stop that agent.  Any other answer but 200 stops
 * that agent too, and fails the run. */
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

#include "jobmeter.pb-c.h"

struct blob {
	uint8_t *p;
	size_t len;
};

struct agent {
	pthread_t thread;
	int index;
	const char *url, *dir, *auth;   /* auth: "Authorization: Bearer ..." or NULL */
	unsigned batches;
	uint64_t seq_base;
	bool until_gone;                /* a refused connection ends the agent quietly */
	char agent_id[160];
	pthread_barrier_t *start;
	Jobmeter__V1__Batch *tpl;       /* the template, moved on per seq */
	int64_t interval_ns;
	struct blob body;               /* the batch being posted */
	size_t body_cap;
	double *lat_s;                  /* per batch, until its 200 */
	unsigned long stored, duplicate, busy;
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
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET))
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

/* Read the agent's template; seqs start after seq_base. */
static int prepare(struct agent *a)
{
	char path[4096];
	struct blob tpl;

	snprintf(path, sizeof(path), "%s/agent-%d.pb", a->dir, a->index);
	if (read_file(path, &tpl)) {
		snprintf(a->why, sizeof(a->why), "cannot read %s", path);
		return -1;
	}
	a->tpl = jobmeter__v1__batch__unpack(NULL, tpl.len, tpl.p);
	free(tpl.p);
	if (!a->tpl || !a->tpl->agent) {
		snprintf(a->why, sizeof(a->why), "%s is not a Batch with an agent", path);
		return -1;
	}
	snprintf(a->agent_id, sizeof(a->agent_id), "%s", a->tpl->agent->agent_id);
	a->interval_ns = a->tpl->window_end_unix_ns - a->tpl->window_start_unix_ns;
	shift_times(a->tpl, a->interval_ns * (int64_t)a->seq_base);
	a->lat_s = calloc(a->batches, sizeof(*a->lat_s));
	if (!a->lat_s) {
		snprintf(a->why, sizeof(a->why), "out of memory");
		return -1;
	}
	return 0;
}

/* Encode the batch with this seq (0-based index s) into a->body. */
static int encode(struct agent *a, unsigned s)
{
	size_t n;

	a->tpl->seq = a->seq_base + s + 1;
	n = jobmeter__v1__batch__get_packed_size(a->tpl);
	if (n > a->body_cap) {
		uint8_t *p = realloc(a->body.p, n);

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
	struct curl_slist *hdr = NULL;
	char url[2048];
	CURL *c = curl_easy_init();

	snprintf(url, sizeof(url), "%s/v1/batches", a->url);
	hdr = curl_slist_append(hdr, "Content-Type: application/x-protobuf");
	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	hdr = curl_slist_append(hdr, "Expect:");
	if (a->auth)
		hdr = curl_slist_append(hdr, a->auth);
	if (!c || !hdr) {
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
	for (unsigned s = 0; s < a->batches && !a->failed && !a->gone; s++) {
		double t0 = now_s();
		unsigned busy_in_row = 0;

		if (encode(a, s)) {
			snprintf(a->why, sizeof(a->why), "out of memory");
			a->failed = 1;
			break;
		}

		for (;;) {
			struct resp r = { .len = 0 };
			long code = 0;
			CURLcode cc;

			curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, a->body.p);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)a->body.len);
			cc = curl_easy_perform(c);
			if (cc == CURLE_OK)
				curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
			if (code == 200) {
				if (strstr(r.buf, "\"duplicate\""))
					a->duplicate++;
				else
					a->stored++;
				break;
			}
			if (code == 503 && ++busy_in_row < 500) {
				struct timespec d = { 0, 20 * 1000 * 1000 };

				a->busy++;
				nanosleep(&d, NULL);
				continue;
			}
			if (a->until_gone && cc != CURLE_OK) {
				a->gone = 1;
				break;
			}
			snprintf(a->why, sizeof(a->why), "agent %d seq %u: %s %ld %s", a->index, s + 1,
				 cc == CURLE_OK ? "HTTP" : curl_easy_strerror(cc), code, r.buf);
			a->failed = 1;
			break;
		}
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
	fputs("Usage: ingest_load --url http://HOST:PORT --dir TEMPLATE_DIR --agents N --batches M\n"
	      "                   [--token-file F] [--seq-base N] [--acked FILE] [--until-gone]\n"
	      "Posts M batches per agent from N threads (DIR/agent-1.pb .. agent-N.pb are\n"
	      "gen-batch templates; seqs N+1 .. N+M) and prints the throughput and latency.\n"
	      "--acked FILE appends 'AGENT_ID SEQ' for every batch answered 200; with\n"
	      "--until-gone a collector that goes away ends the run without an error\n"
	      "(crash tests).\n", stderr);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "dir", required_argument, NULL, 'd' },
		{ "agents", required_argument, NULL, 'a' },
		{ "batches", required_argument, NULL, 'b' },
		{ "token-file", required_argument, NULL, 't' },
		{ "seq-base", required_argument, NULL, 's' },
		{ "acked", required_argument, NULL, 'k' },
		{ "until-gone", no_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *dir = NULL, *token_file = NULL, *acked = NULL;
	uint64_t seq_base = 0;
	bool until_gone = false;
	unsigned agents = 0, batches = 0;
	char auth[1024] = "";
	struct agent *ag = NULL;
	pthread_barrier_t start;
	unsigned long stored = 0, dup = 0, busy = 0;
	double t0, wall, *all = NULL;
	size_t nall = 0;
	int opt, rc = 1, failed = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'u': url = optarg; break;
		case 'd': dir = optarg; break;
		case 'a': agents = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'b': batches = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': token_file = optarg; break;
		case 's': seq_base = strtoull(optarg, NULL, 10); break;
		case 'k': acked = optarg; break;
		case 'g': until_gone = true; break;
		default: usage(); return 2;
		}
	}
	if (!url || !dir || agents == 0 || agents > 1000 || batches == 0 || batches > 1000000) {
		usage();
		return 2;
	}
	if (token_file) {
		struct blob t;
		size_t n;

		if (read_file(token_file, &t)) {
			fprintf(stderr, "ingest_load: cannot read %s\n", token_file);
			return 1;
		}
		n = t.len;
		while (n && (t.p[n - 1] == '\n' || t.p[n - 1] == ' ' || t.p[n - 1] == '\r'))
			n--;
		if (n > 900) {
			free(t.p);
			fprintf(stderr, "ingest_load: token too long\n");
			return 1;
		}
		snprintf(auth, sizeof(auth), "Authorization: Bearer %.*s", (int)n, (const char *)t.p);
		free(t.p);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return 1;
	ag = calloc(agents, sizeof(*ag));
	all = calloc((size_t)agents * batches, sizeof(*all));
	if (!ag || !all || pthread_barrier_init(&start, NULL, agents + 1))
		goto out;
	for (unsigned i = 0; i < agents; i++) {
		ag[i].index = (int)i + 1;
		ag[i].url = url;
		ag[i].dir = dir;
		ag[i].auth = auth[0] ? auth : NULL;
		ag[i].batches = batches;
		ag[i].seq_base = seq_base;
		ag[i].until_gone = until_gone;
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
		if (ag[i].failed) {
			failed = 1;
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
			failed = 1;
		}
		for (unsigned i = 0; f && i < agents; i++)
			for (unsigned long s = 0; s < ag[i].stored + ag[i].duplicate; s++)
				fprintf(f, "%s %llu\n", ag[i].agent_id, (unsigned long long)(seq_base + s + 1));
		if (f && fclose(f)) {
			fprintf(stderr, "ingest_load: cannot write %s\n", acked);
			failed = 1;
		}
	}
	qsort(all, nall, sizeof(*all), cmp_double);
	printf("agents %u, batches %lu stored + %lu duplicate, 503s %lu, %.2f s: %.0f batches/s;"
	       " latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
	       agents, stored, dup, busy, wall, (double)(stored + dup) / wall,
	       nall ? all[nall / 2] * 1e3 : 0, nall ? all[(size_t)((double)nall * 0.99)] * 1e3 : 0,
	       nall ? all[nall - 1] * 1e3 : 0);
	rc = failed ? 1 : 0;
out:
	if (ag) {
		for (unsigned i = 0; i < agents; i++) {
			if (ag[i].tpl)
				jobmeter__v1__batch__free_unpacked(ag[i].tpl, NULL);
			free(ag[i].body.p);
			free(ag[i].lat_s);
		}
	}
	free(ag);
	free(all);
	curl_global_cleanup();
	return rc;
}
