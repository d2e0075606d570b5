/* A batch larger than the collector takes (more than JM_COLL_ITEMS_MAX runs
 * + windows, or a body over --max-body) is split by the agent into parts
 * the collector accepts (agent/batch.c jm_batch_render_parts): every part
 * passes the collector's own decode + validation, records stay whole and in
 * order, sequence numbers are consecutive, host usage is sent once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "harness.h"
#include "render_pb.h"
#include "tools/collector/ingest.h"

#define T0 INT64_C(1764000000000000000)

struct sink {
	uint64_t next_seq, first_seq;
	size_t parts, runs, windows, bad, over_bytes, over_items, host_parts, order_bad;
	size_t max_bytes, fail_put_at;
	char why[256];
};

static int seq_fn(void *ctx, uint64_t *seq)
{
	struct sink *k = ctx;

	*seq = k->next_seq++;
	return 0;
}

static int put_fn(void *ctx, const struct jm_batch *part, const uint8_t *buf, size_t len)
{
	struct sink *k = ctx;
	struct jm_coll_decoded d;

	if (k->fail_put_at && k->parts + 1 == k->fail_put_at)
		return -ENOSPC;
	if (part->seq != k->first_seq + k->parts)
		k->order_bad++;
	if (len > k->max_bytes && part->n_runs + part->n_windows > 1)
		k->over_bytes++;
	if (part->n_runs + part->n_windows > JM_COLL_ITEMS_MAX)
		k->over_items++;
	if (jm_coll_decode_batch(buf, len, &d, k->why, sizeof(k->why)) != JM_DECODE_OK) {
		k->bad++;
		return 0;
	}
	const Jobmeter__V1__Batch *b = d.batch;
	/* records arrive in order: run i is named r<i>, window i w<i> */
	for (size_t i = 0; i < b->n_runs; i++) {
		char want[32];
		snprintf(want, sizeof(want), "r%zu", k->runs + i);
		if (strcmp(b->runs[i]->run_id, want))
			k->order_bad++;
	}
	for (size_t i = 0; i < b->n_windows; i++) {
		char want[32];
		snprintf(want, sizeof(want), "w%zu", k->windows + i);
		if (strcmp(b->windows[i]->run_id, want))
			k->order_bad++;
	}
	if (b->host && b->host->cpu_cores)
		k->host_parts++;
	k->runs += b->n_runs;
	k->windows += b->n_windows;
	k->parts++;
	jm_coll_decoded_free(&d);
	return 0;
}

static struct jm_stmt_stats stmts[64];
static struct jm_db_stats db = { .system = JM_DB_POSTGRES, .queries = 64, .n_statements = 64, .statements = stmts };

static void make(struct jm_batch *b, size_t n_runs, size_t n_windows, bool heavy)
{
	memset(b, 0, sizeof(*b));
	strcpy(b->agent.agent_id, "A");
	strcpy(b->agent.boot_id, "B");
	strcpy(b->agent.host, "h");
	b->window_start_ns = T0;
	b->window_end_ns = T0 + 10000000000LL;
	b->host.cpu_cores = 4;
	b->host.window_s = 10;
	b->loss.ringbuf_drops = 3;
	struct jm_run_record *runs = calloc(n_runs ? n_runs : 1, sizeof(*runs));
	struct jm_window_record *wins = calloc(n_windows ? n_windows : 1, sizeof(*wins));
	b->n_runs = n_runs;
	b->runs = runs;
	b->n_windows = n_windows;
	b->windows = wins;
	for (size_t i = 0; i < n_runs; i++) {
		struct jm_run_record *r = &runs[i];
		snprintf(r->job, sizeof(r->job), "job%zu", i % 97);
		snprintf(r->run_id, sizeof(r->run_id), "r%zu", i);
		r->start_ns = T0;
		r->end_ns = T0 + 1000;
		r->outcome = JM_OUTCOME_SUCCESS;
		if (heavy) {
			r->n_db = 1;
			r->db = &db;
		}
	}
	for (size_t i = 0; i < n_windows; i++) {
		struct jm_window_record *w = &wins[i];
		snprintf(w->job, sizeof(w->job), "job%zu", i % 97);
		snprintf(w->run_id, sizeof(w->run_id), "w%zu", i);
		w->start_ns = T0;
		w->end_ns = T0 + 10000000000LL;
	}
}

static void unmake(struct jm_batch *b)
{
	free((void *)b->runs);
	free((void *)b->windows);
}

static void run(const char *tag, struct jm_batch *b, size_t max_bytes, size_t want_parts)
{
	struct sink k = { .next_seq = 41, .first_seq = 41, .max_bytes = max_bytes };
	size_t parts = 0, items = 0;
	char name[160];
	int rc = jm_batch_render_parts(b, JM_BATCH_MAX_ITEMS, max_bytes, seq_fn, put_fn, &k, &parts, &items);

#define C(what, cond) do { snprintf(name, sizeof(name), "%s: %s", tag, what); CHECK(name, cond); } while (0)
	C("returns 0", rc == 0);
	if (k.bad)
		printf("# collector: %s\n", k.why);
	C("every part accepted by the collector's validation", k.bad == 0);
	C("no part over the item limit", k.over_items == 0);
	C("no part of several records over the byte limit", k.over_bytes == 0);
	C("every run and window sent once, in order", k.runs == b->n_runs && k.windows == b->n_windows &&
	  k.order_bad == 0);
	C("consecutive seqs, one per part", k.next_seq == 41 + k.parts && parts == k.parts);
	C("counts returned", items == b->n_runs + b->n_windows);
	C("host usage in one part only", k.host_parts == 1);
	if (want_parts) {
		snprintf(name, sizeof(name), "%s: parts", tag);
		CHECK_INT(name, k.parts, want_parts);
	}
#undef C
}

int main(void)
{
	struct jm_batch b;
	char why[256];

	for (size_t i = 0; i < 64; i++) {
		memset(stmts[i].fingerprint, 'x', sizeof(stmts[i].fingerprint) - 1);
		stmts[i].fingerprint[0] = (char)('a' + i % 26);
		stmts[i].calls = 1;
	}
	CHECK_INT("agent's item limit is the collector's", JM_BATCH_MAX_ITEMS, JM_COLL_ITEMS_MAX);

	/* the reviewer's case: one interval with more records than 10,000 */
	make(&b, 7, 25003, false);
	{
		uint8_t *buf;
		size_t len;
		struct jm_coll_decoded d;
		b.seq = 1;
		CHECK_INT("whole batch renders", jm_render_batch_pb(&b, &buf, &len), 0);
		CHECK_INT("whole batch: refused by the collector (why it is split)",
			  jm_coll_decode_batch(buf, len, &d, why, sizeof(why)), JM_DECODE_INVALID_BATCH);
		free(buf);
	}
	run("25010 records", &b, JM_BATCH_MAX_BYTES, 3);
	unmake(&b);

	/* heavy runs (64 long fingerprints each): split by bytes */
	make(&b, 300, 5, true);
	run("heavy runs, 256 KiB parts", &b, 256 << 10, 0);
	unmake(&b);

	/* empty interval: one part, host usage and loss still sent */
	make(&b, 0, 0, false);
	run("empty batch", &b, JM_BATCH_MAX_BYTES, 1);
	unmake(&b);

	/* a record bigger than the limit on its own goes alone */
	make(&b, 3, 0, true);
	run("oversized single records", &b, 1000, 3);
	unmake(&b);

	/* a put that fails stops and says how far it got */
	{
		struct sink k = { .next_seq = 1, .first_seq = 1, .max_bytes = JM_BATCH_MAX_BYTES, .fail_put_at = 2 };
		size_t parts = 9, items = 9;
		make(&b, 0, 25000, false);
		CHECK_INT("failing put: error returned",
			  jm_batch_render_parts(&b, JM_BATCH_MAX_ITEMS, JM_BATCH_MAX_BYTES, seq_fn, put_fn, &k,
						&parts, &items), -ENOSPC);
		CHECK("failing put: one part and its records counted", parts == 1 && items == 10000);
		unmake(&b);
	}
	TEST_EXIT();
}
