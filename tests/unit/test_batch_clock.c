/* A wall clock stepped back must not make the agent produce a batch the
 * collector refuses ("ends before it starts"): the batch window, the job
 * windows and the runs are clamped so that end >= start (agent/batch.c).
 * Each batch is rendered and put through the collector's own validation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "harness.h"
#include "render_pb.h"
#include "tools/collector/ingest.h"

static int collector_accepts(const struct jm_batch *b, char *why, size_t why_len)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct jm_coll_decoded d;

	if (jm_render_batch_pb(b, &buf, &len)) {
		snprintf(why, why_len, "render failed");
		return -1;
	}
	enum jm_coll_decode_rc rc = jm_coll_decode_batch(buf, len, &d, why, why_len);
	free(buf);
	jm_coll_decoded_free(&d);
	return rc == JM_DECODE_OK ? 0 : -1;
}

int main(void)
{
	const int64_t t0 = 1764000000000000000LL, back = 2000000000LL;
	struct jm_batch_builder bb;
	struct jm_run_record r;
	struct jm_window_record w;
	struct jm_batch b;
	char why[256] = "";

	CHECK_INT("window end: clock stepped back -> start", jm_batch_window_end(t0, t0 - back), t0);
	CHECK_INT("window end: clock forward kept", jm_batch_window_end(t0, t0 + back), t0 + back);

	memset(&r, 0, sizeof(r));
	strcpy(r.job, "nightly_etl");
	strcpy(r.run_id, "run1");
	r.start_ns = t0;
	r.end_ns = t0 - back;                  /* exit seen after the step */
	r.outcome = JM_OUTCOME_SUCCESS;
	memset(&w, 0, sizeof(w));
	strcpy(w.job, "nightly_etl");
	w.start_ns = t0;
	w.end_ns = t0 - back;

	jm_batch_builder_init(&bb);
	CHECK_INT("run added", jm_batch_builder_add_run(&bb, &r), 0);
	CHECK_INT("window added", jm_batch_builder_add_window(&bb, &w), 0);
	CHECK_INT("run end clamped to its start", bb.runs[0].end_ns, t0);
	CHECK_INT("window end clamped to its start", bb.windows[0].end_ns, t0);
	CHECK_INT("caller's run untouched", r.end_ns, t0 - back);

	memset(&b, 0, sizeof(b));
	strcpy(b.agent.agent_id, "A");
	strcpy(b.agent.boot_id, "B");
	strcpy(b.agent.host, "h");
	b.seq = 1;
	b.window_start_ns = t0;
	b.window_end_ns = jm_batch_window_end(t0, t0 - back);
	jm_batch_builder_view(&bb, &b);
	int ok = collector_accepts(&b, why, sizeof(why));
	if (ok)
		printf("collector: %s\n", why);
	CHECK_INT("collector accepts the batch after a backwards step", ok, 0);
	jm_batch_builder_free(&bb);
	TEST_EXIT();
}
