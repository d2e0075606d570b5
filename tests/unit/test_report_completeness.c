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
#include "tools/collector/schema.h"
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

/* ---- rollup against raw and against a model ---------------------------
 * Three agents' batches with everything that moves the figures: seqs never
 * sent, new boots (counters start again), agent restarts inside a boot
 * (counters drop), batches without loss counters, a new spool reusing old
 * seqs under a new boot, true retries, and windows that are not in seq
 * order -- stored in an order where many batches arrive late (a spool
 * replayed after later batches).  The agent_hour rows the collector kept at
 * ingest must equal what migration 4's backfill computes from the stored
 * batches; and the report's figures over many periods, from the rollup and
 * with --raw, must equal a model written here from the definitions
 * (migration 4), batch by batch. */
#define PN 400                          /* batches per agent, at most */
#define PA 3

struct pb {
	char agent[16], boot[24];
	uint64_t seq;
	int64_t end_s;
	bool has_loss;
	uint64_t loss[JM_REP_LOSS_N];
	bool stored;
	int order;                          /* ingest position of the stored one */
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static int put_pb(struct jm_coll_store *st, const struct pb *x)
{
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity a = JOBMETER__V1__AGENT_IDENTITY__INIT;
	Jobmeter__V1__LossCounters l = JOBMETER__V1__LOSS_COUNTERS__INIT;
	struct jm_coll_store_result res;

	a.agent_id = (char *)x->agent;
	a.boot_id = (char *)x->boot;
	a.host = (char *)x->agent;
	l.ringbuf_drops = x->loss[0];
	l.map_full = x->loss[1];
	l.payload_drops = x->loss[2];
	l.parse_errors = x->loss[3];
	l.statements_overflow = x->loss[4];
	l.jobs_overflow = x->loss[5];
	l.spool_dropped_batches = x->loss[6];
	l.exits_synthesized = x->loss[7];
	b.schema_version = 1;
	b.agent = &a;
	b.seq = x->seq;
	b.window_start_unix_ns = (D0 + x->end_s - 10) * SEC;
	b.window_end_unix_ns = (D0 + x->end_s) * SEC;
	b.loss = x->has_loss ? &l : NULL;
	return jm_coll_store_batch(st, &b, 1, &res);
}

/* The model: what the report must say for agent ag over [f, t) (seconds). */
static void model(const struct pb *v, size_t n, const char *ag, int64_t f, int64_t t,
		  uint64_t *batches, uint64_t *gaps, uint64_t loss[JM_REP_LOSS_N])
{
	*batches = *gaps = 0;
	memset(loss, 0, sizeof(uint64_t) * JM_REP_LOSS_N);
	for (size_t i = 0; i < n; i++) {
		const struct pb *x = &v[i];
		bool first = true;
		uint64_t pred = 0;
		const struct pb *lp = NULL;

		if (!x->stored || strcmp(x->agent, ag) || x->end_s < f || x->end_s >= t)
			continue;
		(*batches)++;
		for (size_t j = 0; j < n; j++) {
			const struct pb *y = &v[j];

			if (!y->stored || strcmp(y->agent, ag))
				continue;
			if (y->seq == x->seq && y->order < x->order)
				first = false;
			if (y->seq < x->seq && y->seq > pred)
				pred = y->seq;
			if (!strcmp(y->boot, x->boot) && y->has_loss && y->seq < x->seq &&
			    (!lp || y->seq > lp->seq))
				lp = y;
		}
		if (first && pred)
			*gaps += x->seq - pred - 1;
		for (int k = 0; x->has_loss && k < JM_REP_LOSS_N; k++)
			loss[k] += x->loss[k] - (lp && lp->loss[k] <= x->loss[k] ? lp->loss[k] : 0);
	}
}

/* Move the agent_hour rows ingest kept into the temporary table `kept`,
 * run migration 4 again (its backfill refills agent_hour from the stored
 * batches) and read up to three integers of one row of cmp, which compares
 * the two.  An SQLite code. */
static int backfill_again(const char *path, const char *cmp, long long out[3])
{
	size_t nm;
	const struct jm_coll_migration *mig = jm_coll_schema_migrations(&nm);
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int rc;

	if (nm < 4 || mig[3].version != 4)
		return SQLITE_ERROR;
	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "CREATE TEMP TABLE kept AS SELECT * FROM agent_hour;"
				  " DELETE FROM agent_hour;", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, mig[3].sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, cmp, -1, &q, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(q) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
		for (int i = 0; rc == SQLITE_OK && i < 3 && i < sqlite3_column_count(q); i++)
			out[i] = sqlite3_column_int64(q, i);
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	return rc;
}

static void test_rollup(void)
{
	static struct pb v[PA * PN];
	static int ord[PA * PN];
	size_t n = 0;
	struct fx_db d;
	struct jm_coll_store *st;
	int bad = 0, stored = 0, late = 0;

	for (int a = 0; a < PA; a++) {
		int boot = 0;
		uint64_t c[JM_REP_LOSS_N] = { 0 };

		for (uint64_t seq = 1; seq <= 330; seq++) {
			struct pb *x = &v[n];

			/* never sent; often among the seqs a new spool reuses
			 * below, so that repeats stand above gaps */
			if (rnd(100) < (seq <= 30 ? 25 : 4))
				continue;
			if (rnd(100) < 3) {                     /* reboot: new boot, counters anew */
				boot++;
				memset(c, 0, sizeof(c));
			} else if (rnd(100) < 3) {              /* agent restart in the boot */
				memset(c, 0, sizeof(c));
			}
			for (int k = 0; k < JM_REP_LOSS_N; k++)
				if (rnd(100) < 20)
					c[k] += 1 + rnd(50);
			snprintf(x->agent, sizeof(x->agent), "agent-%d", a);
			snprintf(x->boot, sizeof(x->boot), "boot-%d-%d", a, boot);
			x->seq = seq;
			/* about three batches an hour; now and then out of seq order */
			x->end_s = (int64_t)seq * 1000 + rnd(900) - (rnd(100) < 5 ? 1500 : 0);
			x->has_loss = rnd(100) >= 8;
			memcpy(x->loss, c, sizeof(c));
			n++;
		}
		/* A new spool: seqs 1..30 again (some) under a new boot, later
		 * windows. */
		memset(c, 0, sizeof(c));
		for (uint64_t seq = 1; seq <= 30; seq++) {
			if (rnd(100) < 30)
				continue;                       /* lost this time too */
			struct pb *x = &v[n++];

			c[6] += rnd(3);
			snprintf(x->agent, sizeof(x->agent), "agent-%d", a);
			snprintf(x->boot, sizeof(x->boot), "boot-%d-spool", a);
			x->seq = seq;
			x->end_s = 340000 + (int64_t)seq * 1000 + rnd(900);
			x->has_loss = true;
			memcpy(x->loss, c, sizeof(c));
		}
	}
	/* Ingest order: agents interleaved; a batch is held back (arrives
	 * after up to 60 later ones) one time in five. */
	for (size_t i = 0; i < n; i++)
		ord[i] = (int)i;
	for (size_t i = 0; i < n; i++) {
		size_t j = i + rnd(3);
		if (j < n) {
			int t = ord[i];
			ord[i] = ord[j];
			ord[j] = t;
		}
	}
	for (size_t i = 0; i + 1 < n; i++) {
		if (rnd(100) >= 20)
			continue;
		size_t j = i + 1 + rnd(60);
		if (j >= n)
			j = n - 1;
		int t = ord[i];
		memmove(&ord[i], &ord[i + 1], (j - i) * sizeof(ord[0]));
		ord[j] = t;
	}
	if (!(st = fx_db_open(&d, "report-rollup")))
		return;
	for (size_t i = 0; i < n; i++) {
		struct pb *x = &v[ord[i]];
		int rc = put_pb(st, x);

		if (rc == JM_STORE_STORED) {
			x->stored = true;
			x->order = stored++;
		} else {
			bad++;
		}
		if (i % 7 == 0 && put_pb(st, x) != JM_STORE_DUPLICATE)   /* a retry */
			bad++;
	}
	for (size_t i = 1; i < n; i++)
		late += v[ord[i]].seq < v[ord[i - 1]].seq && !strcmp(v[ord[i]].agent, v[ord[i - 1]].agent);
	jm_coll_store_close(st);
	CHECK_INT("rollup: every batch stored, every retry a duplicate", bad, 0);
	CHECK("rollup: some batches arrived late", late > 50);

	/* agent_hour as kept at ingest = migration 4's backfill. */
	{
		long long r[3] = { -1, -1, -1 };
		size_t nm;
		const struct jm_coll_migration *mig = jm_coll_schema_migrations(&nm);

		CHECK("rollup: migration 4 embedded", nm >= 4 && mig[3].version == 4);
		CHECK_INT("rollup: backfill again", backfill_again(d.path,
			  "SELECT (SELECT count(*) FROM (SELECT * FROM agent_hour EXCEPT"
			  " SELECT * FROM kept)) + (SELECT count(*) FROM (SELECT * FROM kept"
			  " EXCEPT SELECT * FROM agent_hour)), (SELECT count(*) FROM kept),"
			  " (SELECT sum(seq_gaps) FROM kept)", r), SQLITE_OK);
		CHECK_INT("rollup: agent_hour kept at ingest = backfill (rows differing)", r[0], 0);
		CHECK("rollup: many hours, some gaps", r[1] > 200 && r[2] > 10);
	}

	/* The report, rollup and raw, against the model. */
	int64_t spans[][2] = { { 0, 400000 }, { 3600, 7200 }, { 12345, 200001 }, { 100, 350 },
			       { 50000, 343000 }, { 341000, 400000 } };
	int nper = 0, wrong = 0;
	for (int i = 0; i < 24 + 6; i++) {
		int64_t f, t;

		if (i < 6) {
			f = spans[i][0];
			t = spans[i][1];
		} else {
			f = rnd(380000);
			t = f + 1 + rnd(380000 - (uint32_t)f + 20000);
		}
		for (int raw = 0; raw < 2; raw++) {
			struct jm_rep_report r;

			fx_report_init(&r, d.path, (D0 + f) * SEC, (D0 + t) * SEC);
			r.raw_forced = raw;
			if (fx_report_run(&r)) {
				wrong++;
				continue;
			}
			nper++;
			for (int a = 0; a < PA; a++) {
				char ag[16];
				uint64_t eb, eg, el[JM_REP_LOSS_N];
				const struct jm_rep_agent *got = NULL;

				snprintf(ag, sizeof(ag), "agent-%d", a);
				model(v, n, ag, f, t, &eb, &eg, el);
				for (size_t k = 0; k < r.n_agents; k++)
					if (!strcmp(r.agents[k].agent_id, ag))
						got = &r.agents[k];
				if (!got) {
					wrong += eb != 0;
					continue;
				}
				bool same = got->batches == eb && got->seq_gaps == eg &&
					    !memcmp(got->loss, el, sizeof(el)) && !strcmp(got->host, ag);
				if (!same) {
					printf("# period %lld..%lld %s %s: batches %llu/%llu gaps %llu/%llu"
					       " ringbuf %llu/%llu spool %llu/%llu\n", (long long)f, (long long)t,
					       raw ? "raw" : "rollup", ag, (unsigned long long)got->batches,
					       (unsigned long long)eb, (unsigned long long)got->seq_gaps,
					       (unsigned long long)eg, (unsigned long long)got->loss[0],
					       (unsigned long long)el[0], (unsigned long long)got->loss[6],
					       (unsigned long long)el[6]);
					wrong++;
				}
			}
			for (size_t k = 1; k < r.n_agents; k++)
				wrong += strcmp(r.agents[k - 1].agent_id, r.agents[k].agent_id) >= 0;
			jm_rep_report_free(&r);
		}
	}
	CHECK_INT("rollup: reports run", nper, 60);
	CHECK_INT("rollup and raw reports = the model (agents differing)", wrong, 0);
	fx_db_remove(&d);
}

/* Loss counters are accepted up to 2^63 - 1, so their increases can sum
 * past it: in one hour (agent-y: two boots, each reporting the maximum) and
 * over two hours (agent-x: the maximum, then 5 after a restart).  Ingest,
 * the migration's backfill and the report must all go on (sums saturate in
 * the report), with the rollup and --raw agreeing. */
static void test_overflow(void)
{
	static struct pb v[4];
	const struct { const char *agent, *boot; uint64_t seq; int64_t end_s; uint64_t drops; } in[4] = {
		{ "agent-x", "b1", 1, 1800, (uint64_t)INT64_MAX }, { "agent-x", "b1", 2, 5400, 5 },
		{ "agent-y", "b1", 1, 1800, (uint64_t)INT64_MAX }, { "agent-y", "b2", 2, 1900, (uint64_t)INT64_MAX },
	};
	struct fx_db d;
	struct jm_coll_store *st;
	int bad = 0;
	uint64_t got[2][2] = { { 0 } };

	if (!(st = fx_db_open(&d, "report-ovf")))
		return;
	for (int i = 0; i < 4; i++) {
		snprintf(v[i].agent, sizeof(v[i].agent), "%s", in[i].agent);
		snprintf(v[i].boot, sizeof(v[i].boot), "%s", in[i].boot);
		v[i].seq = in[i].seq;
		v[i].end_s = in[i].end_s;
		v[i].has_loss = true;
		v[i].loss[0] = in[i].drops;
		bad |= put_pb(st, &v[i]) != JM_STORE_STORED;
	}
	jm_coll_store_close(st);
	CHECK_INT("overflow: stored", bad, 0);
	for (int raw = 0; raw < 2; raw++) {
		struct jm_rep_report r;

		fx_report_init(&r, d.path, D0 * SEC, (D0 + 7200) * SEC);
		r.raw_forced = raw;
		CHECK_INT(raw ? "overflow: --raw report runs" : "overflow: rollup report runs", fx_report_run(&r), 0);
		for (size_t k = 0; k < r.n_agents && k < 2; k++)
			got[raw][k] = r.agents[k].loss[0];
		jm_rep_report_free(&r);
	}
	/* 2^63 - 1 + 5 as a double is 2^63; two maxima saturate */
	CHECK("overflow: agent-x drops 2^63", got[0][0] == UINT64_C(9223372036854775808));
	CHECK("overflow: agent-y saturated", got[0][1] == UINT64_MAX);
	CHECK("overflow: rollup = raw", got[0][0] == got[1][0] && got[0][1] == got[1][1]);
	/* Last: it replaces the rows ingest kept with the backfill's.  Equal
	 * as numbers, to a double's precision: at 2^63 ingest may keep the
	 * INTEGER 2^63 - 1 where the backfill's total() gives the REAL 2^63. */
	{
		long long r[3] = { -1, -1, -1 };

		CHECK_INT("overflow: backfill again", backfill_again(d.path,
			  "SELECT (SELECT count(*) FROM kept) - (SELECT count(*) FROM kept k"
			  " JOIN agent_hour a USING (hour, agent_id) WHERE a.batches = k.batches"
			  " AND a.seq_gaps = k.seq_gaps AND a.host = k.host"
			  " AND abs(a.l0 - k.l0) <= 1e-15 * abs(k.l0) AND a.l6 = k.l6)"
			  " + (SELECT count(*) FROM agent_hour) - (SELECT count(*) FROM kept)", r), SQLITE_OK);
		CHECK_INT("overflow: kept at ingest = backfill (to a double's precision)", r[0], 0);
	}
	fx_db_remove(&d);
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
	test_rollup();
	test_overflow();
	TEST_EXIT();
}
