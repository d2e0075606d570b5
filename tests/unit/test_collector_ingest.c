/* Collector input path: body limits and gzip (body.c), decode + validate
 * goldens (ingest.c: a good batch, then one broken field per class with the
 * exact reason the client gets), bearer-token checks (auth.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "harness.h"
#include "jobmeter.pb-c.h"
#include "tools/collector/auth.h"
#include "tools/collector/body.h"
#include "tools/collector/ingest.h"

/* A complete, valid batch built from automatic storage; mutate and pack. */
struct fixture {
	Jobmeter__V1__Batch b;
	Jobmeter__V1__AgentIdentity agent;
	Jobmeter__V1__JobRun run, *runs[1];
	Jobmeter__V1__JobWindow win, *wins[1];
	Jobmeter__V1__Counters rc, wc;
	Jobmeter__V1__DbStats db, *dbs[1];
	Jobmeter__V1__StatementStats st, *sts[1];
	Jobmeter__V1__OutputWrite out, *outs[1];
	Jobmeter__V1__Label label, *labels[1];
	Jobmeter__V1__HostUsage host;
	Jobmeter__V1__LossCounters loss;
	uint64_t buckets[3];
};

static void fixture_init(struct fixture *f)
{
	const int64_t t = INT64_C(1714560000000000000);   /* 2024-05-01 */
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity a = JOBMETER__V1__AGENT_IDENTITY__INIT;
	Jobmeter__V1__JobRun r = JOBMETER__V1__JOB_RUN__INIT;
	Jobmeter__V1__JobWindow w = JOBMETER__V1__JOB_WINDOW__INIT;
	Jobmeter__V1__Counters c = JOBMETER__V1__COUNTERS__INIT;
	Jobmeter__V1__DbStats d = JOBMETER__V1__DB_STATS__INIT;
	Jobmeter__V1__StatementStats s = JOBMETER__V1__STATEMENT_STATS__INIT;
	Jobmeter__V1__OutputWrite o = JOBMETER__V1__OUTPUT_WRITE__INIT;
	Jobmeter__V1__Label l = JOBMETER__V1__LABEL__INIT;
	Jobmeter__V1__HostUsage h = JOBMETER__V1__HOST_USAGE__INIT;
	Jobmeter__V1__LossCounters lc = JOBMETER__V1__LOSS_COUNTERS__INIT;

	memset(f, 0, sizeof(*f));
	f->agent = a;
	f->agent.host = "h1";
	f->agent.agent_id = "agent-1";
	f->agent.boot_id = "boot-1";
	f->rc = c;
	f->rc.cpu_s = 1.5;
	f->rc.mem_gib_s = 2.0;
	f->rc.file_read_bytes = 1000;
	f->wc = f->rc;
	f->st = s;
	f->st.fingerprint = "SELECT ?";
	f->st.calls = 3;
	f->sts[0] = &f->st;
	f->db = d;
	f->db.system = "postgresql";
	f->db.queries = 3;
	f->db.latency_p95_s = 0.01;
	f->db.n_statements = 1;
	f->db.statements = f->sts;
	f->buckets[0] = 1;
	f->buckets[2] = 2;
	f->db.n_latency_buckets = 3;
	f->db.latency_buckets = f->buckets;
	f->dbs[0] = &f->db;
	f->out = o;
	f->out.kind = "table";
	f->out.name = "public.t";
	f->out.last_write_unix_ns = t + 5;
	f->outs[0] = &f->out;
	f->label = l;
	f->label.key = "k8s.namespace";
	f->label.value = "etl";
	f->labels[0] = &f->label;
	f->run = r;
	f->run.job = "nightly";
	f->run.run_id = "r1";
	f->run.start_unix_ns = t;
	f->run.end_unix_ns = t + 10;
	f->run.outcome = JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS;
	f->run.counters = &f->rc;
	f->run.n_db = 1;
	f->run.db = f->dbs;
	f->run.n_outputs = 1;
	f->run.outputs = f->outs;
	f->run.n_labels = 1;
	f->run.labels = f->labels;
	f->runs[0] = &f->run;
	f->win = w;
	f->win.job = "nightly";
	f->win.start_unix_ns = t;
	f->win.end_unix_ns = t + 10;
	f->win.counters = &f->wc;
	f->wins[0] = &f->win;
	f->host = h;
	f->host.cpu_cores = 4;
	f->host.window_s = 60;
	f->loss = lc;
	f->b = b;
	f->b.schema_version = 1;
	f->b.agent = &f->agent;
	f->b.seq = 7;
	f->b.window_start_unix_ns = t;
	f->b.window_end_unix_ns = t + 60;
	f->b.n_runs = 1;
	f->b.runs = f->runs;
	f->b.n_windows = 1;
	f->b.windows = f->wins;
	f->b.host = &f->host;
	f->b.loss = &f->loss;
}

/* Pack, decode, and return the rc; the reason lands in why. */
static enum jm_coll_decode_rc roundtrip(const Jobmeter__V1__Batch *b, char *why, size_t why_len)
{
	size_t len = jobmeter__v1__batch__get_packed_size(b);
	uint8_t *buf = malloc(len + 1);
	struct jm_coll_decoded d;
	enum jm_coll_decode_rc rc;

	jobmeter__v1__batch__pack(b, buf);
	why[0] = '\0';
	rc = jm_coll_decode_batch(buf, len, &d, why, why_len);
	jm_coll_decoded_free(&d);
	free(buf);
	return rc;
}

static void expect_invalid(const char *name, struct fixture *f, const char *want)
{
	char why[256];
	enum jm_coll_decode_rc rc = roundtrip(&f->b, why, sizeof(why));
	char n1[128], n2[128];

	snprintf(n1, sizeof(n1), "invalid %s: rc", name);
	snprintf(n2, sizeof(n2), "invalid %s: reason", name);
	CHECK_INT(n1, rc, JM_DECODE_INVALID_BATCH);
	CHECK_STR(n2, why, want);
	fixture_init(f);
}

static void test_goldens(void)
{
	struct fixture f;
	char why[256], big[5000];
	enum jm_coll_decode_rc rc;
	Jobmeter__V1__JobRun *many[JM_COLL_ITEMS_MAX + 1];

	fixture_init(&f);
	rc = roundtrip(&f.b, why, sizeof(why));
	CHECK_INT("good batch decodes", rc, JM_DECODE_OK);

	/* The decoded content is what was packed. */
	{
		size_t len = jobmeter__v1__batch__get_packed_size(&f.b);
		uint8_t *buf = malloc(len);
		struct jm_coll_decoded d;

		jobmeter__v1__batch__pack(&f.b, buf);
		CHECK_INT("good batch: rc again", jm_coll_decode_batch(buf, len, &d, why, sizeof(why)), JM_DECODE_OK);
		CHECK_INT("good batch: items", d.n_items, 2);
		CHECK_STR("good batch: job", d.batch->runs[0]->job, "nightly");
		CHECK("good batch: cpu_s", d.batch->runs[0]->counters->cpu_s == 1.5);
		CHECK_INT("good batch: statement calls", d.batch->runs[0]->db[0]->statements[0]->calls, 3);
		jm_coll_decoded_free(&d);
		CHECK("decoded_free clears", d.batch == NULL);
		free(buf);
	}

	/* Outcome UNSPECIFIED is accepted (stored as 'unknown'). */
	f.run.outcome = JOBMETER__V1__OUTCOME__OUTCOME_UNSPECIFIED;
	CHECK_INT("outcome unspecified accepted", roundtrip(&f.b, why, sizeof(why)), JM_DECODE_OK);
	fixture_init(&f);
	/* An output never written (0) is fine. */
	f.out.last_write_unix_ns = 0;
	CHECK_INT("last_write 0 accepted", roundtrip(&f.b, why, sizeof(why)), JM_DECODE_OK);
	fixture_init(&f);

	f.b.schema_version = 2;
	expect_invalid("schema_version", &f, "schema_version: unsupported (2, want 1)");
	f.b.agent = NULL;
	expect_invalid("agent missing", &f, "agent: missing");
	f.agent.agent_id = "";
	expect_invalid("agent_id empty", &f, "agent.agent_id: must not be empty");
	memset(big, 'a', 129);
	big[129] = '\0';
	f.agent.boot_id = big;
	expect_invalid("boot_id too long", &f, "agent.boot_id: too long (129 bytes, max 128)");
	f.b.seq = 0;
	expect_invalid("seq", &f, "seq: must be > 0");
	f.b.seq = UINT64_MAX;
	expect_invalid("seq range", &f, "seq: out of range (18446744073709551615)");
	f.b.window_start_unix_ns = 0;
	expect_invalid("window start 0", &f, "window_start_unix_ns: time out of range (0 ns)");
	f.b.window_end_unix_ns = JM_COLL_NS_MAX;
	expect_invalid("window end 2200", &f, "window_end_unix_ns: time out of range (7258118400000000000 ns)");
	f.b.window_end_unix_ns = f.b.window_start_unix_ns - 1;
	expect_invalid("window reversed", &f, "window_end_unix_ns: ends before it starts");
	f.run.start_unix_ns = -5;
	expect_invalid("run start negative", &f, "runs[0].start_unix_ns: time out of range (-5 ns)");
	f.run.end_unix_ns = f.run.start_unix_ns - 1;
	expect_invalid("run reversed", &f, "runs[0].end_unix_ns: ends before it starts");
	f.rc.cpu_s = NAN;
	expect_invalid("cpu NaN", &f, "runs[0].counters.cpu_s: must be a finite number >= 0 (got nan)");
	/* Finite but beyond any machine: summed into a day's rollup it made
	 * the job's figure, and every total over it, infinite for good. */
	f.rc.cpu_s = 1e308;
	expect_invalid("cpu 1e308", &f, "runs[0].counters.cpu_s: out of range (1e+308, max 1e+15)");
	f.db.latency_s_sum = 2e15;
	expect_invalid("latency sum 2e15", &f, "runs[0].db[0].latency_s_sum: out of range (2e+15, max 1e+15)");
	f.rc.cpu_s = 1e15;
	CHECK_INT("cpu 1e15 accepted", roundtrip(&f.b, why, sizeof(why)), JM_DECODE_OK);
	fixture_init(&f);
	f.wc.mem_gib_s = -1;
	expect_invalid("window mem negative", &f, "windows[0].counters.mem_gib_s: must be a finite number >= 0 (got -1)");
	f.rc.net_tx_bytes = UINT64_MAX;
	expect_invalid("u64 above int64", &f, "runs[0].counters.net_tx_bytes: out of range (18446744073709551615)");
	f.db.latency_p95_s = INFINITY;
	expect_invalid("p95 inf", &f, "runs[0].db[0].latency_p95_s: must be a finite number >= 0 (got inf)");
	/* The agent's fingerprint of an empty query ("", ";", a comment) is
	 * empty: a statement like any other, not a reason to refuse a batch. */
	f.st.fingerprint = "";
	{
		char why[256];
		CHECK_INT("empty fingerprint accepted", roundtrip(&f.b, why, sizeof(why)), JM_DECODE_OK);
		fixture_init(&f);
	}
	f.db.n_latency_buckets = 65;
	{
		uint64_t b65[65] = { 0 };

		f.db.latency_buckets = b65;
		expect_invalid("65 buckets", &f, "runs[0].db[0].latency_buckets: 65 buckets (max 64)");
	}
	memset(big, 'j', 257);
	big[257] = '\0';
	f.run.job = big;
	expect_invalid("job 257 bytes", &f, "runs[0].job: too long (257 bytes, max 256)");
	f.win.job = "";
	expect_invalid("window job empty", &f, "windows[0].job: must not be empty");
	memset(big, 's', 4097);
	big[4097] = '\0';
	f.out.name = big;
	expect_invalid("string 4097 bytes", &f, "runs[0].outputs[0].name: too long (4097 bytes, max 4096)");
	f.label.value = "\xc3\x28";
	expect_invalid("bad utf-8", &f, "runs[0].labels[0].value: not valid UTF-8");
	f.run.outcome = 3;
	expect_invalid("outcome 3", &f, "runs[0].outcome: unknown value 3");
	f.run.signal = 200;
	expect_invalid("signal 200", &f, "runs[0].signal: out of range (200)");
	f.host.cpu_cores = 1000000;
	expect_invalid("cores", &f, "host.cpu_cores: out of range (1000000)");
	f.host.window_s = NAN;
	expect_invalid("host window NaN", &f, "host.window_s: must be a finite number >= 0 (got nan)");
	f.loss.map_full = UINT64_MAX;
	expect_invalid("loss range", &f, "loss.map_full: out of range (18446744073709551615)");

	/* Distinct runs (one run each, started 1 ns apart): the limit is
	 * about the count, and the same run twice is refused on its own. */
	{
		Jobmeter__V1__JobRun *copies = calloc(JM_COLL_ITEMS_MAX + 1, sizeof(*copies));

		for (size_t i = 0; copies && i <= JM_COLL_ITEMS_MAX; i++) {
			copies[i] = f.run;
			copies[i].start_unix_ns = f.run.start_unix_ns - (int64_t)i;
			many[i] = &copies[i];
		}
		CHECK("copies allocated", copies != NULL);
		f.b.runs = many;
		f.b.n_runs = JM_COLL_ITEMS_MAX;   /* + 1 window = 10001 */
		expect_invalid("too many items", &f, "runs: 10000 runs + 1 windows (max 10000)");
		f.b.runs = many;
		f.b.n_runs = JM_COLL_ITEMS_MAX - 1;
		CHECK_INT("exactly 10000 items accepted", roundtrip(&f.b, why, sizeof(why)), JM_DECODE_OK);
		fixture_init(&f);
		free(copies);
	}

	/* The same run or job window twice in one batch (a doubled or
	 * concatenated body: protobuf merges two Batches into one with every
	 * record twice) would be stored twice and count the job's usage
	 * double: refused, naming both records. */
	{
		Jobmeter__V1__JobWindow *wins[3] = { &f.win, &f.win, &f.win };
		Jobmeter__V1__JobWindow other;
		Jobmeter__V1__JobRun *runs[2] = { &f.run, &f.run };
		Jobmeter__V1__JobRun run2;

		other = f.win;
		other.start_unix_ns = f.win.end_unix_ns;
		other.end_unix_ns = f.win.end_unix_ns + 10;
		wins[1] = &other;
		f.b.windows = wins;
		f.b.n_windows = 3;
		expect_invalid("duplicate window", &f,
			       "windows[2]: duplicates windows[0] (same job, run_id, start and end)");
		f.b.runs = runs;
		f.b.n_runs = 2;
		expect_invalid("duplicate run", &f,
			       "runs[1]: duplicates runs[0] (same job, run_id, start and end)");
		/* Not a duplicate: another job, another run_id, another end. */
		other = f.win;
		other.job = "hourly";
		wins[1] = &other;
		f.b.windows = wins;
		f.b.n_windows = 2;
		CHECK_INT("same interval, another job: accepted", roundtrip(&f.b, why, sizeof(why)),
			  JM_DECODE_OK);
		fixture_init(&f);
		run2 = f.run;
		run2.run_id = "r2";
		runs[1] = &run2;
		f.b.runs = runs;
		f.b.n_runs = 2;
		CHECK_INT("same times, another run_id: accepted", roundtrip(&f.b, why, sizeof(why)),
			  JM_DECODE_OK);
		run2 = f.run;
		run2.end_unix_ns = f.run.end_unix_ns + 1;
		CHECK_INT("same run_id, another end: accepted", roundtrip(&f.b, why, sizeof(why)),
			  JM_DECODE_OK);
		fixture_init(&f);
	}

	/* Wire-level failures. */
	{
		struct jm_coll_decoded d;
		static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02 };
		size_t len = jobmeter__v1__batch__get_packed_size(&f.b);
		uint8_t *buf = malloc(len);
		int truncated_ok = 1;

		CHECK_INT("garbage: invalid protobuf",
			  jm_coll_decode_batch(garbage, sizeof(garbage), &d, why, sizeof(why)),
			  JM_DECODE_INVALID_PROTOBUF);
		CHECK_STR("garbage: reason", why, "invalid protobuf");
		CHECK("garbage: no batch", d.batch == NULL);
		jobmeter__v1__batch__pack(&f.b, buf);
		/* Cut inside the runs field (after the agent): never valid. */
		for (size_t cut = len / 3; cut < len * 2 / 3; cut++) {
			enum jm_coll_decode_rc r = jm_coll_decode_batch(buf, cut, &d, why, sizeof(why));

			if (r == JM_DECODE_OK)
				truncated_ok = 0;
			jm_coll_decoded_free(&d);
		}
		CHECK("truncations never decode as a valid batch", truncated_ok);
		free(buf);
	}

	/* A flood of empty sub-messages: small on the wire, huge decoded. */
	{
		size_t n = 4u << 20, i;   /* 2 M empty windows, 2 bytes each */
		uint8_t *buf = malloc(n);
		struct jm_coll_decoded d;

		for (i = 0; i + 1 < n; i += 2) {
			buf[i] = (7 << 3) | 2;   /* field 7 (windows), length-delimited */
			buf[i + 1] = 0;
		}
		CHECK_INT("empty-message flood: too large",
			  jm_coll_decode_batch(buf, n, &d, why, sizeof(why)), JM_DECODE_TOO_LARGE);
		CHECK("empty-message flood: reason", strstr(why, "decoded batch too large") != NULL);
		free(buf);
	}
}

static void test_clock(void)
{
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__JobRun r = JOBMETER__V1__JOB_RUN__INIT, *rp = &r;
	Jobmeter__V1__JobWindow w = JOBMETER__V1__JOB_WINDOW__INIT, *wp = &w;
	const int64_t now = INT64_C(1795795533) * 1000000000, s = 1000000000;
	char why[256] = "";

	b.window_start_unix_ns = now - 10 * s;
	b.window_end_unix_ns = now;
	b.n_runs = 1;
	b.runs = &rp;
	b.n_windows = 1;
	b.windows = &wp;
	r.end_unix_ns = now - s;
	w.end_unix_ns = now;
	CHECK_INT("clock: now is fine", jm_coll_check_clock(&b, now, why, sizeof(why)), 0);
	b.window_end_unix_ns = now + 3500 * s;
	CHECK_INT("clock: 58 min ahead is skew, fine", jm_coll_check_clock(&b, now, why, sizeof(why)), 0);
	b.window_end_unix_ns = now + 3700 * s;
	CHECK_INT("clock: over an hour ahead refused for now", jm_coll_check_clock(&b, now, why, sizeof(why)),
		  JM_CLOCK_AHEAD);
	CHECK("clock: ... saying so", strstr(why, "batch window ends in the future") != NULL);
	b.window_end_unix_ns = now;
	r.end_unix_ns = INT64_C(365) * 86400 * s;                 /* 1971 */
	CHECK_INT("clock: a run in 1971 refused", jm_coll_check_clock(&b, now, why, sizeof(why)), -1);
	CHECK("clock: ... saying so", strstr(why, "a run ends before 2000") != NULL);
	r.end_unix_ns = 0;
	CHECK_INT("clock: a run without an end is not judged", jm_coll_check_clock(&b, now, why, sizeof(why)), 0);
	w.end_unix_ns = INT64_C(5623372800) * s;                  /* 2148 */
	CHECK_INT("clock: a window in 2148 refused for now", jm_coll_check_clock(&b, now, why, sizeof(why)),
		  JM_CLOCK_AHEAD);
	CHECK("clock: ... saying so", strstr(why, "a job window ends in the future") != NULL);

	/* Starts are judged like ends: a run, job window or batch window that
	 * starts before 2000 (and ends now) comes from a clock just as wrong,
	 * and stored it would stretch over decades. */
	w.end_unix_ns = now;
	r.end_unix_ns = now - s;
	r.start_unix_ns = now - 20 * s;
	w.start_unix_ns = now - 10 * s;
	CHECK_INT("clock: starts now are fine", jm_coll_check_clock(&b, now, why, sizeof(why)), 0);
	r.start_unix_ns = JM_COLL_NS_MIN;
	CHECK_INT("clock: a run starting at 2000-01-01 00:00 is fine",
		  jm_coll_check_clock(&b, now, why, sizeof(why)), 0);
	r.start_unix_ns = JM_COLL_NS_MIN - 1;
	CHECK_INT("clock: a run starting 1 ns before 2000 refused",
		  jm_coll_check_clock(&b, now, why, sizeof(why)), -1);
	CHECK("clock: ... saying which and why",
	      strstr(why, "a run starts before 2000 (runs[0].start_unix_ns, ") != NULL &&
	      strstr(why, "the agent's clock is wrong") != NULL);
	r.start_unix_ns = now - 20 * s;
	w.start_unix_ns = INT64_C(365) * 86400 * s;              /* 1971 */
	CHECK_INT("clock: a job window starting in 1971 refused",
		  jm_coll_check_clock(&b, now, why, sizeof(why)), -1);
	CHECK("clock: ... saying which",
	      strstr(why, "a job window starts before 2000 (windows[0].start_unix_ns, ") != NULL);
	w.start_unix_ns = now - 10 * s;
	b.window_start_unix_ns = s;                                /* 1970 */
	CHECK_INT("clock: a batch window starting in 1970 refused",
		  jm_coll_check_clock(&b, now, why, sizeof(why)), -1);
	CHECK("clock: ... saying which",
	      strstr(why, "the batch window starts before 2000 (window_start_unix_ns, ") != NULL);
	/* Before 2000 never passes: it wins over a time ahead (425 would have
	 * the agent retry a batch that can never be stored). */
	b.window_start_unix_ns = now - 10 * s;
	b.window_end_unix_ns = now + 3700 * s;
	r.start_unix_ns = INT64_C(365) * 86400 * s;
	CHECK_INT("clock: a run from 1971 in a window ahead: refused for good",
		  jm_coll_check_clock(&b, now, why, sizeof(why)), -1);
	CHECK("clock: ... naming the run", strstr(why, "a run starts before 2000") != NULL);
	r.start_unix_ns = now - 20 * s;
	CHECK_INT("clock: the window ahead alone: refused for now",
		  jm_coll_check_clock(&b, now, why, sizeof(why)), JM_CLOCK_AHEAD);
	CHECK("clock: ... naming the field", strstr(why, "(window_end_unix_ns, 3700 s from") != NULL);
}

static void test_utf8(void)
{
	CHECK("utf8 ascii", jm_coll_utf8_valid("abc", 3));
	CHECK("utf8 2-byte", jm_coll_utf8_valid("\xc3\xa9", 2));
	CHECK("utf8 4-byte", jm_coll_utf8_valid("\xf0\x9f\x98\x80", 4));
	CHECK("utf8 overlong refused", !jm_coll_utf8_valid("\xc0\xaf", 2));
	CHECK("utf8 3-byte overlong refused", !jm_coll_utf8_valid("\xe0\x80\xaf", 3));
	CHECK("utf8 surrogate refused", !jm_coll_utf8_valid("\xed\xa0\x80", 3));
	CHECK("utf8 > U+10FFFF refused", !jm_coll_utf8_valid("\xf4\x90\x80\x80", 4));
	CHECK("utf8 truncated refused", !jm_coll_utf8_valid("\xe2\x82", 2));
}

static size_t gz(const void *in, size_t n, uint8_t **out)
{
	z_stream zs = { 0 };
	size_t cap = compressBound((uLong)n) + 64;

	*out = malloc(cap);
	deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = *out;
	zs.avail_out = (uInt)cap;
	deflate(&zs, Z_FINISH);
	deflateEnd(&zs);
	return cap - zs.avail_out;
}

static void test_body(void)
{
	struct jm_coll_body b;
	uint8_t *z, *zeros = calloc(1, 8u << 20);
	size_t zn;
	char msg[] = "hello, collector";

	/* identity within limits, in pieces */
	CHECK_INT("identity init", jm_coll_body_init(&b, false, 100, 100), JM_BODY_OK);
	CHECK_INT("identity feed 1", jm_coll_body_feed(&b, "abc", 3), JM_BODY_OK);
	CHECK_INT("identity feed 2", jm_coll_body_feed(&b, "def", 3), JM_BODY_OK);
	CHECK_INT("identity finish", jm_coll_body_finish(&b), JM_BODY_OK);
	CHECK("identity content", b.len == 6 && memcmp(b.buf, "abcdef", 6) == 0);
	jm_coll_body_free(&b);

	/* received limit, and errors are sticky */
	CHECK_INT("limit init", jm_coll_body_init(&b, false, 10, 100), JM_BODY_OK);
	CHECK_INT("limit exact", jm_coll_body_feed(&b, "0123456789", 10), JM_BODY_OK);
	CHECK_INT("limit +1", jm_coll_body_feed(&b, "x", 1), JM_BODY_TOO_LARGE);
	CHECK_INT("limit sticky", jm_coll_body_feed(&b, "", 0), JM_BODY_TOO_LARGE);
	CHECK_INT("limit finish", jm_coll_body_finish(&b), JM_BODY_TOO_LARGE);
	jm_coll_body_free(&b);

	/* gzip round trip, fed one byte at a time */
	zn = gz(msg, sizeof(msg), &z);
	CHECK_INT("gzip init", jm_coll_body_init(&b, true, 1000, 1000), JM_BODY_OK);
	for (size_t i = 0; i < zn; i++)
		if (jm_coll_body_feed(&b, z + i, 1) != JM_BODY_OK)
			break;
	CHECK_INT("gzip finish", jm_coll_body_finish(&b), JM_BODY_OK);
	CHECK("gzip content", b.len == sizeof(msg) && memcmp(b.buf, msg, sizeof(msg)) == 0);
	jm_coll_body_free(&b);

	/* output exactly at the limit is fine; one byte over is not */
	CHECK_INT("gzip exact init", jm_coll_body_init(&b, true, 1000, sizeof(msg)), JM_BODY_OK);
	CHECK_INT("gzip exact feed", jm_coll_body_feed(&b, z, zn), JM_BODY_OK);
	CHECK_INT("gzip exact finish", jm_coll_body_finish(&b), JM_BODY_OK);
	jm_coll_body_free(&b);
	CHECK_INT("gzip over init", jm_coll_body_init(&b, true, 1000, sizeof(msg) - 1), JM_BODY_OK);
	CHECK_INT("gzip over feed", jm_coll_body_feed(&b, z, zn), JM_BODY_INFLATED_TOO_LARGE);
	jm_coll_body_free(&b);

	/* truncated gzip and trailing junk */
	CHECK_INT("gzip trunc init", jm_coll_body_init(&b, true, 1000, 1000), JM_BODY_OK);
	CHECK_INT("gzip trunc feed", jm_coll_body_feed(&b, z, zn - 4), JM_BODY_OK);
	CHECK_INT("gzip trunc finish", jm_coll_body_finish(&b), JM_BODY_BAD_GZIP);
	jm_coll_body_free(&b);
	CHECK_INT("gzip junk init", jm_coll_body_init(&b, true, 1000, 1000), JM_BODY_OK);
	CHECK_INT("gzip junk feed", jm_coll_body_feed(&b, z, zn), JM_BODY_OK);
	CHECK_INT("gzip junk after end", jm_coll_body_feed(&b, "x", 1), JM_BODY_BAD_GZIP);
	jm_coll_body_free(&b);
	CHECK_INT("not gzip init", jm_coll_body_init(&b, true, 1000, 1000), JM_BODY_OK);
	CHECK_INT("not gzip", jm_coll_body_feed(&b, "plain text here", 15), JM_BODY_BAD_GZIP);
	jm_coll_body_free(&b);
	free(z);

	/* bomb: 8 MiB of zeros compress to ~8 KiB; limit 1 MiB stops it and
	 * the buffer never grows past the limit (+1 byte). */
	zn = gz(zeros, 8u << 20, &z);
	CHECK("bomb is small", zn < 20000);
	CHECK_INT("bomb init", jm_coll_body_init(&b, true, 1u << 20, 1u << 20), JM_BODY_OK);
	CHECK_INT("bomb feed", jm_coll_body_feed(&b, z, zn), JM_BODY_INFLATED_TOO_LARGE);
	CHECK("bomb buffer bounded", b.cap <= (1u << 20) + 1);
	jm_coll_body_free(&b);
	free(z);
	free(zeros);
}

static void test_auth(void)
{
	const char *tok = "s3cret";

	CHECK("bearer ok", jm_coll_bearer_ok("Bearer s3cret", tok, 6));
	CHECK("bearer case-insensitive scheme", jm_coll_bearer_ok("bearer  s3cret ", tok, 6));
	CHECK("bearer wrong", !jm_coll_bearer_ok("Bearer s3creT", tok, 6));
	CHECK("bearer prefix", !jm_coll_bearer_ok("Bearer s3cre", tok, 6));
	CHECK("bearer longer", !jm_coll_bearer_ok("Bearer s3cret2", tok, 6));
	CHECK("bearer empty", !jm_coll_bearer_ok("Bearer ", tok, 6));
	CHECK("bearer missing", !jm_coll_bearer_ok(NULL, tok, 6));
	CHECK("basic scheme refused", !jm_coll_bearer_ok("Basic s3cret", tok, 6));
	CHECK("no space refused", !jm_coll_bearer_ok("Bearers3cret", tok, 6));
	CHECK("token_equal", jm_coll_token_equal("abc", 3, "abc", 3));
	CHECK("token_equal length", !jm_coll_token_equal("abc", 3, "abcd", 4));
}

int main(void)
{
	test_goldens();
	test_utf8();
	test_clock();
	test_body();
	test_auth();
	TEST_EXIT();
}
