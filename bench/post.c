/* Collector ingest load of the bench suite (scenario "collector").
 *
 *   jm-post --url URL --template FILE [--agents A] [--batches M] [--seconds S]
 *           [--prefix P] [--retry-ms R]
 *
 * Simulates A agents posting to jobmeter-collector at once, each on its own
 * keep-alive connection and thread, in seq order as a real agent does.  The
 * batches are the template (a jobmeter.v1.Batch from `jobmeter-collector
 * gen-batch`) with agent id P-<k>, seq 1..M and window times moved one
 * minute per seq, packed and gzip'd like the agent's shipper before the
 * clock starts, so the load generator's own work while timing is only HTTP.
 * A 503 (the collector sheds load above --max-ingest) is retried after R ms
 * (default 10: a real agent waits Retry-After, 5 s, which would measure the
 * back-off rather than the collector; retrying at once would load the
 * collector with refusals) and counted; any other non-200 answer is an error.  Stops after S seconds
 * or when every batch is sent, and prints one line of JSON:
 *
 *   {"agents":A,"stored":N,"duplicate":D,"retried_503":R,"errors":E,
 *    "seconds":T,"batches_per_s":N/T,"body_bytes_avg":B,
 *    "latency_ms_p50":x,"latency_ms_p99":y}
 *
 * Exit status 1 on setup failure or when any request failed. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "jobmeter.pb-c.h"

#define MAX_AGENTS   256
#define MAX_TEMPLATE (4 << 20)

struct body {
	uint8_t *data;
	size_t len;
};

struct agent {
	pthread_t th;
	const char *url;
	struct body *bodies;       /* M pre-built request bodies */
	long n_bodies;
	double deadline;
	long retry_ms;
	long stored, duplicate, retried, errors, sent;
	double *lat_ms;            /* per stored/duplicate request */
	char resp[256];
	size_t resp_len;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int gzip_buf(const uint8_t *in, size_t len, struct body *out)
{
	z_stream z;
	int rc = -1;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	size_t cap = deflateBound(&z, len) + 32;
	out->data = malloc(cap);
	if (!out->data)
		goto out;
	z.next_in = (uint8_t *)in;
	z.avail_in = (uInt)len;
	z.next_out = out->data;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		goto out;
	out->len = cap - z.avail_out;
	rc = 0;
out:
	deflateEnd(&z);
	return rc;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(MAX_TEMPLATE);
	size_t n = 0;

	if (!f || !buf)
		goto fail;
	n = fread(buf, 1, MAX_TEMPLATE, f);
	if (ferror(f) || n == MAX_TEMPLATE)
		goto fail;
	fclose(f);
	*len = n;
	return buf;
fail:
	if (f)
		fclose(f);
	free(buf);
	return NULL;
}

/* Build every body of agent k from the decoded template. */
static int build_bodies(Jobmeter__V1__Batch *b, const char *prefix, int k, long m,
			int64_t t0, struct agent *a)
{
	char id[128], host[128];
	uint8_t *packed = NULL;
	int rc = -1;

	snprintf(id, sizeof(id), "%s-%d", prefix, k);
	snprintf(host, sizeof(host), "%s-host-%d", prefix, k);
	char *old_id = b->agent->agent_id, *old_host = b->agent->host;
	b->agent->agent_id = id;
	b->agent->host = host;
	a->bodies = calloc((size_t)m, sizeof(*a->bodies));
	a->lat_ms = calloc((size_t)m, sizeof(*a->lat_ms));
	if (!a->bodies || !a->lat_ms)
		goto out;
	for (long s = 0; s < m; s++) {
		int64_t start = t0 + s * 60000000000ll, end = start + 60000000000ll;
		b->seq = (uint64_t)s + 1;
		b->window_start_unix_ns = start;
		b->window_end_unix_ns = end;
		for (size_t w = 0; w < b->n_windows; w++) {
			b->windows[w]->start_unix_ns = start;
			b->windows[w]->end_unix_ns = end;
		}
		size_t len = jobmeter__v1__batch__get_packed_size(b);
		packed = realloc(packed, len ? len : 1);
		if (!packed || jobmeter__v1__batch__pack(b, packed) != len ||
		    gzip_buf(packed, len, &a->bodies[s]))
			goto out;
		a->n_bodies++;
	}
	rc = 0;
out:
	b->agent->agent_id = old_id;
	b->agent->host = old_host;
	free(packed);
	return rc;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct agent *a = ud;
	size_t len = sz * n, room = sizeof(a->resp) - 1 - a->resp_len;
	size_t take = len < room ? len : room;

	memcpy(a->resp + a->resp_len, p, take);
	a->resp_len += take;
	a->resp[a->resp_len] = 0;
	return len;
}

static void *agent_main(void *arg)
{
	struct agent *a = arg;
	struct curl_slist *hdr = NULL;
	CURL *c = curl_easy_init();

	hdr = curl_slist_append(hdr, "Content-Type: application/x-protobuf");
	hdr = hdr ? curl_slist_append(hdr, "Content-Encoding: gzip") : NULL;
	hdr = hdr ? curl_slist_append(hdr, "Expect:") : NULL;   /* no 100-continue round trip */
	if (!c || !hdr) {
		a->errors++;
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, a->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	for (long s = 0; s < a->n_bodies && now_s() < a->deadline;) {
		long code = 0;
		double t = now_s();
		a->resp_len = 0;
		a->resp[0] = 0;
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, a->bodies[s].data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)a->bodies[s].len);
		CURLcode cr = curl_easy_perform(c);
		if (cr == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (code == 503) {
			a->retried++;
			struct timespec nap = { a->retry_ms / 1000, (a->retry_ms % 1000) * 1000000 };
			nanosleep(&nap, NULL);
			continue;
		}
		if (code == 200 && strstr(a->resp, "\"stored\""))
			a->stored++;
		else if (code == 200 && strstr(a->resp, "\"duplicate\""))
			a->duplicate++;
		else {
			if (a->errors++ == 0)
				fprintf(stderr, "jm-post: seq %ld: curl %d http %ld: %s\n", s + 1, (int)cr,
					code, a->resp);
			s++;
			continue;
		}
		a->lat_ms[a->sent++] = (now_s() - t) * 1000.0;
		s++;
	}
out:
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

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "template", required_argument, NULL, 't' },
		{ "agents", required_argument, NULL, 'a' },
		{ "batches", required_argument, NULL, 'm' },
		{ "seconds", required_argument, NULL, 's' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "retry-ms", required_argument, NULL, 'R' },
		{ 0 },
	};
	const char *url = NULL, *tpl = NULL, *prefix = "bench-agent";
	long n_agents = 20, m = 1500, retry_ms = 10;
	double seconds = 10;
	struct agent *ag = NULL;
	Jobmeter__V1__Batch *b = NULL;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	int c, rc = 1, started = 0;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end = optarg;
		switch (c) {
		case 'u': url = optarg; break;
		case 't': tpl = optarg; break;
		case 'p': prefix = optarg; break;
		case 'a': n_agents = strtol(optarg, &end, 10); break;
		case 'm': m = strtol(optarg, &end, 10); break;
		case 's': seconds = strtod(optarg, &end); break;
		case 'R': retry_ms = strtol(optarg, &end, 10); break;
		default: end = NULL;
		}
		if (!end || ((c == 'a' || c == 'm' || c == 's' || c == 'R') && *end)) {
			fprintf(stderr, "usage: %s --url URL --template FILE [--agents A] [--batches M] [--seconds S] [--prefix P] [--retry-ms R]\n",
				argv[0]);
			return 2;
		}
	}
	if (!url || !tpl || n_agents < 1 || n_agents > MAX_AGENTS || m < 1 || m > 1000000 ||
	    seconds <= 0 || seconds > 3600 || strlen(prefix) > 64 || retry_ms < 0 || retry_ms > 10000) {
		fprintf(stderr, "jm-post: --url and --template required; --agents 1..%d, --batches 1..1e6\n",
			MAX_AGENTS);
		return 2;
	}
	raw = read_file(tpl, &raw_len);
	if (!raw || !(b = jobmeter__v1__batch__unpack(NULL, raw_len, raw)) || !b->agent) {
		fprintf(stderr, "jm-post: %s is not a readable batch\n", tpl);
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto out;
	ag = calloc((size_t)n_agents, sizeof(*ag));
	if (!ag)
		goto out;
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	int64_t t0 = (int64_t)rt.tv_sec * 1000000000ll - (int64_t)(m + 1) * 60000000000ll;
	size_t total_bytes = 0;
	for (long k = 0; k < n_agents; k++) {
		if (build_bodies(b, prefix, (int)k, m, t0, &ag[k])) {
			fprintf(stderr, "jm-post: cannot build batches\n");
			goto out;
		}
		for (long s = 0; s < ag[k].n_bodies; s++)
			total_bytes += ag[k].bodies[s].len;
		ag[k].url = url;
	}
	double start = now_s();
	for (long k = 0; k < n_agents; k++) {
		ag[k].deadline = start + seconds;
		ag[k].retry_ms = retry_ms;
		if (pthread_create(&ag[k].th, NULL, agent_main, &ag[k]))
			break;
		started++;
	}
	for (int k = 0; k < started; k++)
		pthread_join(ag[k].th, NULL);
	double el = now_s() - start;
	long stored = 0, dup = 0, retried = 0, errors = started == n_agents ? 0 : 1, sent = 0;
	for (long k = 0; k < n_agents; k++) {
		stored += ag[k].stored;
		dup += ag[k].duplicate;
		retried += ag[k].retried;
		errors += ag[k].errors;
		sent += ag[k].sent;
	}
	double *lat = calloc((size_t)(sent ? sent : 1), sizeof(*lat));
	if (!lat)
		goto out;
	long n = 0;
	for (long k = 0; k < n_agents; k++)
		for (long i = 0; i < ag[k].sent; i++)
			lat[n++] = ag[k].lat_ms[i];
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	printf("{\"agents\":%ld,\"stored\":%ld,\"duplicate\":%ld,\"retried_503\":%ld,\"errors\":%ld,"
	       "\"seconds\":%.3f,\"batches_per_s\":%.1f,\"body_bytes_avg\":%.0f,"
	       "\"latency_ms_p50\":%.2f,\"latency_ms_p99\":%.2f}\n",
	       n_agents, stored, dup, retried, errors, el, (double)stored / el,
	       (double)total_bytes / (double)(n_agents * m),
	       n ? lat[n / 2] : 0.0, n ? lat[(n * 99) / 100] : 0.0);
	free(lat);
	rc = errors ? 1 : 0;
out:
	if (ag)
		for (long k = 0; k < n_agents; k++) {
			for (long s = 0; s < ag[k].n_bodies; s++)
				free(ag[k].bodies[s].data);
			free(ag[k].bodies);
			free(ag[k].lat_ms);
		}
	free(ag);
	if (b)
		jobmeter__v1__batch__free_unpacked(b, NULL);
	free(raw);
	curl_global_cleanup();
	return rc;
}
