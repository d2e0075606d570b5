/* The shipper's counters on the agent's /metrics: a batch the collector
 * refused (4xx, moved to rejected/) is data missing from every report, so
 * it must be exported, not only logged by the sender thread.  Before any
 * shipper reports (no collector configured) the families are absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "metrics.h"
#include "ship.h"

static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p && *p; ) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == n && memcmp(p, line, n) == 0)
			return 1;
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

int main(void)
{
	struct jm_metrics *m = NULL;
	struct jm_ship_stats st;
	char *t;

	CHECK_INT("registry", jm_metrics_open(&m, NULL, 10), 0);
	if (!m)
		TEST_EXIT();
	t = jm_metrics_render(m);
	CHECK("no collector: no ship families", t && !strstr(t, "jobmeter_ship_"));
	free(t);

	memset(&st, 0, sizeof(st));
	st.sent = 12;
	st.retries = 3;
	st.rejected_4xx = 2;
	st.renumbered = 5;
	st.spool_depth = 4;
	st.spool_bytes = 4096;
	st.last_http_status = 409;
	jm_metrics_set_ship(m, &st);
	t = jm_metrics_render(m);
	CHECK("sent", t && has_line(t, "jobmeter_ship_batches_sent_total 12"));
	CHECK("retries", t && has_line(t, "jobmeter_ship_retries_total 3"));
	CHECK("rejected batches", t && has_line(t, "jobmeter_ship_batches_rejected_total 2"));
	CHECK("rejected: declared a counter",
	      t && has_line(t, "# TYPE jobmeter_ship_batches_rejected_total counter"));
	CHECK("renumbered batches", t && has_line(t, "jobmeter_ship_batches_renumbered_total 5"));
	CHECK("renumbered: declared a counter",
	      t && has_line(t, "# TYPE jobmeter_ship_batches_renumbered_total counter"));
	CHECK("spool depth", t && has_line(t, "jobmeter_ship_spool_batches 4"));
	CHECK("spool bytes", t && has_line(t, "jobmeter_ship_spool_bytes 4096"));
	CHECK("last status", t && has_line(t, "jobmeter_ship_last_http_status 409"));
	free(t);
	jm_metrics_close(m);
	TEST_EXIT();
}
