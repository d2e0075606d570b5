/* Idle host capacity is computed per host.  The report used to subtract
 * every job window of the fleet from the capacity of the hosts that
 * reported one: the usage of a host that sends no capacity (an agent
 * without host usage) was taken off another host's idle time, and one
 * host's over-attribution (windows above its capacity) hid another host's
 * idle capacity.  Three hosts, every hour of a day:
 *   h1: 4 cores x 3600 s, its windows use 1000 cpu-s -> idle 13400 core-s
 *   h2: no capacity, its windows use 5000 cpu-s      -> not a host here
 *   h3: 1 core x 3600 s, its windows use 7200 cpu-s  -> idle 0 (not -3600)
 * so idle is 13400 core-s an hour (the fleet-wide sum said 4800), on the
 * raw path and through the host_hour rollup alike. */
#include <math.h>
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

#define D0   INT64_C(1714521600)           /* 2024-05-01T00:00:00Z */
#define SEC  INT64_C(1000000000)
#define HOUR (3600 * SEC)

/* One batch of host `host` for the hour ending at end: a window of its job
 * using cpu_s, and the host's capacity when cores > 0. */
static int put(struct jm_coll_store *st, const char *host, uint64_t seq, int64_t end, unsigned cores,
	       double cpu_s)
{
	Jobmeter__V1__Batch b = JOBMETER__V1__BATCH__INIT;
	Jobmeter__V1__AgentIdentity a = JOBMETER__V1__AGENT_IDENTITY__INIT;
	Jobmeter__V1__JobWindow w = JOBMETER__V1__JOB_WINDOW__INIT, *wp = &w;
	Jobmeter__V1__Counters c = JOBMETER__V1__COUNTERS__INIT;
	Jobmeter__V1__HostUsage h = JOBMETER__V1__HOST_USAGE__INIT;
	struct jm_coll_store_result res;

	a.host = (char *)host;
	a.agent_id = (char *)host;
	a.boot_id = "boot";
	c.cpu_s = cpu_s;
	w.job = "etl";
	w.run_id = "r";
	w.start_unix_ns = end - HOUR;
	w.end_unix_ns = end;
	w.counters = &c;
	h.cpu_cores = cores;
	h.window_s = 3600;
	b.schema_version = 1;
	b.agent = &a;
	b.seq = seq;
	b.window_start_unix_ns = end - HOUR;
	b.window_end_unix_ns = end;
	b.n_windows = 1;
	b.windows = &wp;
	if (cores)
		b.host = &h;
	return jm_coll_store_batch(st, &b, 1, &res) == JM_STORE_STORED ? 0 : -1;
}

int main(void)
{
	struct fx_db d;
	struct jm_coll_store *st;
	static const char *const tags[] = { "raw", "default (host_hour rollup)" };
	char name[128];
	int bad = 0;

	if (!(st = fx_db_open(&d, "report-idle")))
		return 1;
	/* hours ending 01:00 .. 24:00 of day 1 */
	for (int k = 1; k <= 24; k++) {
		int64_t end = D0 * SEC + 86400 * SEC + k * HOUR;

		bad |= put(st, "h1", (uint64_t)k, end, 4, 1000);
		bad |= put(st, "h2", (uint64_t)k, end, 0, 5000);
		bad |= put(st, "h3", (uint64_t)k, end, 1, 7200);
	}
	jm_coll_store_close(st);
	CHECK_INT("batches stored", bad, 0);

	for (int m = 0; m < 2; m++) {
		struct jm_rep_report r;
		/* 02:30 .. 20:30: window ends 03:00 .. 20:00, 18 hours, with
		 * partial hours at both edges (raw) around whole ones */
		int64_t from = D0 * SEC + 86400 * SEC + 2 * HOUR + HOUR / 2;
		double hours = 18;

		fx_report_init(&r, d.path, from, from + 18 * HOUR);
		r.raw_forced = m == 0;
		snprintf(name, sizeof(name), "%s: report", tags[m]);
		CHECK_INT(name, fx_report_run(&r), 0);
		snprintf(name, sizeof(name), "%s: hosts = the two that sent capacity", tags[m]);
		CHECK_INT(name, r.idle.hosts, 2);
		snprintf(name, sizeof(name), "%s: capacity = (4 + 1) cores x 18 h", tags[m]);
		CHECK(name, r.idle.capacity_core_s == hours * 5 * 3600);
		snprintf(name, sizeof(name), "%s: used = their own windows (1000 + 7200 an hour)", tags[m]);
		CHECK(name, r.idle.attributed_cpu_s == hours * (1000 + 7200));
		snprintf(name, sizeof(name), "%s: idle = h1's 13400 an hour, h3 none", tags[m]);
		CHECK(name, r.idle.idle_core_s == hours * 13400);
		if (r.idle.idle_core_s != hours * 13400)
			printf("# idle_core_s %.17g, want %.17g\n", r.idle.idle_core_s, hours * 13400);
		snprintf(name, sizeof(name), "%s: idle cost priced per core-hour", tags[m]);
		CHECK(name, fabs(r.idle.cost.cpu - hours * 13400 / 3600 * r.prices.cpu_core_hour) < 1e-12);
		jm_rep_report_free(&r);
	}
	fx_db_remove(&d);
	TEST_EXIT();
}
