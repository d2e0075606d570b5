/* The report's data-completeness section: per agent, the batches the
 * collector stored in the period, the seqs it never got (lost or refused
 * batches) and the loss the agent reported (increases of its cumulative
 * counters), so a cost reviewer sees when the figures are incomplete.
 * Stored through the collector's own store; checked in the model, JSON and
 * every table format. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "store_fixture.h"
#include "report_fixture.h"
#include "jobmeter.pb-c.h"
#include "tools/collector/store.h"
#include "tools/report/analyze.h"
#include "tools/report/query.h"
#include "tools/report/render.h"

#define D0  INT64_C(1714521600)            /* 2024-05-01T00:00:00Z */
#define SEC INT64_C(1000000000)

static int put(struct jm_coll_store *st, const char *agent, const char *boot, uint64_t seq,
	       int64_t end_s, uint64_t ringbuf, uint64_t spool_dropped)
{
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity a = JOBMETER__V1__AGENT_IDENTITY__INIT;
	Jobmeter__V1__LossCounters l = JOBMETER__V1__LOSS_COUNTERS__INIT;
	struct jm_coll_store_result res;

	a.agent_id = (char *)agent;
	a.boot_id = (char *)boot;
	a.host = strcmp(agent, "agent-a") == 0 ? "etl-1" : "etl-2";
	l.ringbuf_drops = ringbuf;
	l.spool_dropped_batches = spool_dropped;
	b.schema_version = 1;
	b.agent = &a;
	b.seq = seq;
	b.window_start_unix_ns = (D0 + end_s - 10) * SEC;
	b.window_end_unix_ns = (D0 + end_s) * SEC;
	b.loss = &l;
	return jm_coll_store_batch(st, &b, 1, &res) == JM_STORE_STORED ? 0 : -1;
}

static char *render(int (*fn)(FILE *, const struct jm_rep_report *), struct jm_rep_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (fn(f, r))
		buf[0] = '\0';
	fclose(f);
	return buf;
}

int main(void)
{
	struct fx_db d;
	struct jm_coll_store *st;
	struct jm_rep_report r;
	int bad = 0;

	if (!(st = fx_db_open(&d, "report-compl")))
		return 1;
	const char *path = d.path;
	/* agent-a: seq 1 before the period (2 drops so far), 2 and 4 in it
	 * (seq 3 never arrived), 5 after a reboot (new boot id, seqs go on,
	 * counters start again: its 1 spool drop counts whole) */
	bad |= put(st, "agent-a", "boot-1", 1, 100, 2, 0);
	bad |= put(st, "agent-a", "boot-1", 2, 4000, 5, 0);
	bad |= put(st, "agent-a", "boot-1", 4, 5000, 7, 0);
	bad |= put(st, "agent-a", "boot-2", 5, 6000, 0, 1);
	/* agent-b: complete */
	bad |= put(st, "agent-b", "boot-9", 1, 4000, 0, 0);
	bad |= put(st, "agent-b", "boot-9", 2, 5000, 0, 0);
	jm_coll_store_close(st);
	CHECK_INT("batches stored", bad, 0);

	fx_report_init(&r, path, (D0 + 3600) * SEC, (D0 + 7200) * SEC);
	CHECK_INT("open, query, analyze", fx_report_run(&r), 0);

	CHECK_INT("two agents", r.n_agents, 2);
	if (r.n_agents == 2) {
		struct jm_rep_agent *a = &r.agents[0], *b = &r.agents[1];

		CHECK_STR("agent a", a->agent_id, "agent-a");
		CHECK_STR("agent a host", a->host, "etl-1");
		CHECK_INT("agent a: batches in the period", a->batches, 3);
		CHECK_INT("agent a: seq gap (seq 3)", a->seq_gaps, 1);
		CHECK_INT("agent a: ring buffer drops in the period (7 - 2)", a->loss[0], 5);
		CHECK_INT("agent a: spool drop after the restart", a->loss[6], 1);
		CHECK_INT("agent a: lost", a->lost, 6);
		CHECK_STR("agent b", b->agent_id, "agent-b");
		CHECK("agent b: complete", b->batches == 2 && b->seq_gaps == 0 && b->lost == 0);
	}
	char *t = render(jm_rep_render_json, &r);
	if (t) {        /* compare without the indentation */
		size_t w = 0;
		for (size_t i = 0; t[i]; i++)
			if (t[i] != ' ' && t[i] != '\n')
				t[w++] = t[i];
		t[w] = '\0';
	}
	CHECK("json: completeness, not complete", t && strstr(t, "\"completeness\":{\"complete\":false"));
	CHECK("json: agent a figures", t && strstr(t, "\"agent_id\":\"agent-a\",\"host\":\"etl-1\",\"batches\":3,"
					 "\"seq_gaps\":1,\"lost\":6,\"loss\":{\"ringbuf_drops\":5,"));
	free(t);
	t = render(jm_rep_render_text, &r);
	CHECK("text: section", t && strstr(t, "DATA COMPLETENESS"));
	CHECK("text: agent a incomplete", t && strstr(t, "INCOMPLETE") && strstr(t, "ringbuf_drops=5 spool_dropped_batches=1"));
	free(t);
	t = render(jm_rep_render_md, &r);
	CHECK("md: section", t && strstr(t, "Data completeness") && strstr(t, "INCOMPLETE"));
	free(t);
	t = render(jm_rep_render_html, &r);
	CHECK("html: section", t && strstr(t, "Data completeness") && strstr(t, "INCOMPLETE"));
	free(t);
	jm_rep_report_free(&r);
	fx_db_remove(&d);
	TEST_EXIT();
}
