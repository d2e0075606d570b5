/* CSV renderer (RFC 4180): see render.h.  One header record, one record per
 * job, then an "__idle__" record carrying only the idle cost columns; the
 * prices and the period repeat on every record so that each row is priced
 * on its own.  The last column, "record", says which a record is ("job" or
 * "idle"): a job may be named "__idle__" itself. */
#include "tools/report/render.h"

#include <math.h>

#include "tools/report/out.h"
#include "tools/report/timefmt.h"

static const char *const header[] = {
	"job", "runs", "successes", "failures", "success_rate", "restarts", "oom_kills",
	"duration_p50_s", "duration_p95_s", "processes", "cpu_s", "cpu_hours", "mem_gib_s", "gib_hours",
	"peak_rss_bytes", "file_read_bytes", "gib_scanned", "file_write_bytes", "net_rx_bytes",
	"net_tx_bytes", "queries", "query_errors", "query_error_rate", "query_p95_s", "last_success",
	"freshness_age_s", "cost_cpu", "cost_memory", "cost_scan", "cost_egress", "cost_total",
	"cost_per_run", "cost_per_gib_scanned", "currency", "price_cpu_core_hour",
	"price_memory_gib_hour", "price_scan_tib", "price_egress_gib", "period_from", "period_to",
	"record",
};
#define NCOLS (sizeof(header) / sizeof(header[0]))

static void num(FILE *f, double v)
{
	char b[40];

	fputc(',', f);
	if (jm_rep_fmt_double(v, b, sizeof(b)))
		fputs(b, f);   /* NaN / no value: an empty field */
}

static void u64(FILE *f, uint64_t v)
{
	fprintf(f, ",%llu", (unsigned long long)v);
}

static void str(FILE *f, const char *s)
{
	fputc(',', f);
	jm_rep_csv_field(f, s);
}

/* The columns every record ends with; kind is the "record" column. */
static void tail(FILE *f, const struct jm_rep_report *r, const char *from, const char *to,
		 const char *kind)
{
	str(f, r->prices.currency);
	num(f, r->prices.cpu_core_hour);
	num(f, r->prices.memory_gib_hour);
	num(f, r->prices.scan_tib);
	num(f, r->prices.egress_gib);
	str(f, from);
	str(f, to);
	str(f, kind);
	fputs("\r\n", f);
}

int jm_rep_render_csv(FILE *f, const struct jm_rep_report *r)
{
	char from[40], to[40];

	jm_rep_format_time(r->from_ns, from, sizeof(from));
	jm_rep_format_time(r->to_ns, to, sizeof(to));
	for (size_t i = 0; i < NCOLS; i++) {
		if (i)
			fputc(',', f);
		fputs(header[i], f);
	}
	fputs("\r\n", f);
	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct jm_rep_job *j = &r->jobs[i];
		const struct jm_rep_usage *u = &j->u;
		char last[40] = "";

		if (j->last_success_ns > 0)
			jm_rep_format_time(j->last_success_ns, last, sizeof(last));
		jm_rep_csv_field(f, j->name);
		u64(f, u->runs);
		u64(f, u->successes);
		u64(f, u->failures);
		num(f, u->runs ? (double)u->successes / (double)u->runs : NAN);
		u64(f, u->restarts);
		u64(f, u->oom_kills);
		num(f, j->dur_p50_s);
		num(f, j->dur_p95_s);
		u64(f, u->processes);
		num(f, u->cpu_s);
		num(f, u->cpu_s / 3600);
		num(f, u->mem_gib_s);
		num(f, u->mem_gib_s / 3600);
		u64(f, u->peak_rss_bytes);
		u64(f, u->file_read_bytes);
		num(f, (double)u->file_read_bytes / 1073741824.0);
		u64(f, u->file_write_bytes);
		u64(f, u->net_rx_bytes);
		u64(f, u->net_tx_bytes);
		u64(f, u->queries);
		u64(f, u->query_errors);
		num(f, u->queries ? (double)u->query_errors / (double)u->queries : NAN);
		num(f, j->query_p95_s);
		str(f, last);
		num(f, j->last_success_ns > 0 ? (double)(r->to_ns - j->last_success_ns) / 1e9 : NAN);
		num(f, j->cost.cpu);
		num(f, j->cost.memory);
		num(f, j->cost.scan);
		num(f, j->cost.egress);
		num(f, j->cost.total);
		num(f, j->cost_per_run);
		num(f, j->cost_per_gib_scanned);
		tail(f, r, from, to, "job");
	}
	/* __idle__: 26 empty figure fields, then the idle cost components. */
	fputs("__idle__", f);
	for (int i = 0; i < 25; i++)
		fputc(',', f);
	num(f, r->idle.cost.cpu);
	num(f, r->idle.cost.memory);
	num(f, 0);
	num(f, 0);
	num(f, r->idle.cost.total);
	fputs(",,", f);
	tail(f, r, from, to, "idle");
	return ferror(f) ? -1 : 0;
}
