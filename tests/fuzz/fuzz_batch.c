// fuzz-sources: tools/collector/ingest.c tools/collector/body.c build/proto/jobmeter.pb-c.c
/* libFuzzer target: the collector's whole pure input path (bounded body
 * sink with gzip, protobuf decode, validation).  The first byte picks a mode:
 *   0: the rest is the body (identity)
 *   1: the rest is the body, labelled gzip
 *   2: the rest edits a valid packed batch: (position, xor) byte pairs, and
 *      an odd trailing byte truncates it; this reaches deep validation
 *      quickly without a seed corpus.
 * Bodies are fed in pieces whose size also comes from the first byte.
 * Invariants checked: a batch that decodes OK re-validates OK, and its
 * clock check answers 0, -1 or JM_CLOCK_AHEAD, with a reason unless 0; a
 * failure carries a reason and no batch. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobmeter.pb-c.h"
#include "tools/collector/body.h"
#include "tools/collector/ingest.h"

/* Pack a small batch that uses every message type; returns a malloc'd buffer. */
static uint8_t *template_batch(size_t *len)
{
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity a = JOBMETER__V1__AGENT_IDENTITY__INIT;
	Jobmeter__V1__JobRun r = JOBMETER__V1__JOB_RUN__INIT, *rp = &r;
	Jobmeter__V1__JobWindow w = JOBMETER__V1__JOB_WINDOW__INIT, *wp = &w;
	Jobmeter__V1__Counters c = JOBMETER__V1__COUNTERS__INIT;
	Jobmeter__V1__DbStats d = JOBMETER__V1__DB_STATS__INIT, *dp = &d;
	Jobmeter__V1__StatementStats s = JOBMETER__V1__STATEMENT_STATS__INIT, *sp = &s;
	Jobmeter__V1__OutputWrite o = JOBMETER__V1__OUTPUT_WRITE__INIT, *op = &o;
	Jobmeter__V1__Label l = JOBMETER__V1__LABEL__INIT, *lp = &l;
	Jobmeter__V1__HostUsage h = JOBMETER__V1__HOST_USAGE__INIT;
	Jobmeter__V1__LossCounters lc = JOBMETER__V1__LOSS_COUNTERS__INIT;
	uint64_t buckets[4] = { 1, 2, 3, 4 };
	const int64_t t = INT64_C(1714560000000000000);
	uint8_t *buf;

	a.host = "h";
	a.agent_id = "agent";
	a.boot_id = "boot";
	c.cpu_s = 1.5;
	c.mem_gib_s = 2.5;
	c.file_read_bytes = 4096;
	s.fingerprint = "SELECT ?";
	s.calls = 3;
	s.latency_s_sum = 0.5;
	d.system = "postgresql";
	d.queries = 3;
	d.latency_p95_s = 0.1;
	d.n_statements = 1;
	d.statements = &sp;
	d.n_latency_buckets = 4;
	d.latency_buckets = buckets;
	o.kind = "table";
	o.name = "t";
	o.last_write_unix_ns = t + 5;
	l.key = "k";
	l.value = "v";
	r.job = "job";
	r.run_id = "r";
	r.start_unix_ns = t;
	r.end_unix_ns = t + 10;
	r.outcome = JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS;
	r.counters = &c;
	r.n_db = 1;
	r.db = &dp;
	r.n_outputs = 1;
	r.outputs = &op;
	r.n_labels = 1;
	r.labels = &lp;
	w.job = "job";
	w.start_unix_ns = t;
	w.end_unix_ns = t + 10;
	w.counters = &c;
	h.cpu_cores = 4;
	h.window_s = 60;
	b.schema_version = 1;
	b.agent = &a;
	b.seq = 1;
	b.window_start_unix_ns = t;
	b.window_end_unix_ns = t + 60;
	b.n_runs = 1;
	b.runs = &rp;
	b.n_windows = 1;
	b.windows = &wp;
	b.host = &h;
	b.loss = &lc;
	*len = jobmeter__v1__batch__get_packed_size(&b);
	buf = malloc(*len);
	if (buf)
		jobmeter__v1__batch__pack(&b, buf);
	return buf;
}

static void decode_check(const uint8_t *buf, size_t len)
{
	struct jm_coll_decoded dec;
	char why[256];

	why[0] = '\0';
	if (jm_coll_decode_batch(buf, len, &dec, why, sizeof(why)) == JM_DECODE_OK) {
		int clk;

		if (jm_coll_validate_batch(dec.batch, why, sizeof(why)) != 0)
			__builtin_trap();
		/* What http.c does next, by a clock at the template's time. */
		why[0] = '\0';
		clk = jm_coll_check_clock(dec.batch, INT64_C(1714560030000000000), why, sizeof(why));
		if ((clk != 0 && clk != -1 && clk != JM_CLOCK_AHEAD) || (clk && why[0] == '\0'))
			__builtin_trap();
		jm_coll_decoded_free(&dec);
	} else if (dec.batch || why[0] == '\0') {
		__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jm_coll_body body;
	size_t off = 1, piece, len;
	unsigned mode;
	uint8_t *t;

	if (size < 1)
		return 0;
	mode = data[0] % 3;
	piece = 1 + (data[0] >> 2);           /* 1..64 byte pieces */
	if (mode == 2) {
		t = template_batch(&len);
		if (!t)
			return 0;
		for (; off + 1 < size; off += 2)
			t[data[off] % len] ^= data[off + 1];
		if (off < size)
			len = data[off] % (len + 1);
		decode_check(t, len);
		free(t);
		return 0;
	}
	if (jm_coll_body_init(&body, mode == 1, 1u << 20, 4u << 20) != JM_BODY_OK)
		goto out;
	while (off < size) {
		size_t n = size - off < piece ? size - off : piece;

		if (jm_coll_body_feed(&body, data + off, n) != JM_BODY_OK)
			goto out;
		off += n;
	}
	if (jm_coll_body_finish(&body) == JM_BODY_OK)
		decode_check(body.buf, body.len);
out:
	jm_coll_body_free(&body);
	return 0;
}
