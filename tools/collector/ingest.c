/* Decode + validate a Batch: see ingest.h. */
#include "tools/collector/ingest.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* ---- budgeted allocator ---------------------------------------------- */

struct budget {
	size_t used, limit;
	bool exceeded;
};

static void *budget_alloc(void *data, size_t size)
{
	struct budget *bg = data;

	if (size > bg->limit - bg->used) {
		bg->exceeded = true;
		return NULL;
	}
	bg->used += size;
	return malloc(size);
}

/* Memory comes from malloc, so the default allocator (free) releases it. */
static void budget_free(void *data, void *ptr)
{
	(void)data;
	free(ptr);
}

/* ---- validation helpers ------------------------------------------------ */

struct vctx {
	char *why;
	size_t why_len;
};

/* Format "pre.field: message" into the reason buffer; always returns -1. */
static int __attribute__((format(printf, 4, 5)))
vfail(struct vctx *v, const char *pre, const char *field, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!v->why || v->why_len == 0)
		return -1;
	n = snprintf(v->why, v->why_len, "%s%s%s: ", pre, *pre && *field ? "." : "", field);
	if (n < 0 || (size_t)n >= v->why_len)
		return -1;
	va_start(ap, fmt);
	vsnprintf(v->why + n, v->why_len - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

int jm_coll_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p, need;
		uint32_t cp;

		if (c < 0x80) { p++; continue; }
		if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; }
		else return 0;
		if ((size_t)(end - p) <= need)
			return 0;
		for (unsigned i = 1; i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		/* Overlong forms, surrogates and > U+10FFFF are invalid. */
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		p += need + 1;
	}
	return 1;
}

/* A path names the failing field in the reason ("runs[3].db[0].queries").
 * Element prefixes are formatted once per element; field names are only
 * joined on failure, so a valid batch costs few snprintf calls. */
#define PATH_MAX_LEN 160

static void path_elem(char *dst, const char *pre, const char *name, size_t idx)
{
	/* Paths are bounded by the schema's nesting depth; a truncated path
	 * would still be a usable reason. */
	if (snprintf(dst, PATH_MAX_LEN, "%s%s%s[%zu]", pre, *pre ? "." : "", name, idx) < 0)
		dst[0] = '\0';
}

static int check_str(struct vctx *v, const char *pre, const char *f, const char *s,
		     size_t max, bool need)
{
	size_t n = s ? strlen(s) : 0;

	if (need && n == 0)
		return vfail(v, pre, f, "must not be empty");
	if (n > max)
		return vfail(v, pre, f, "too long (%zu bytes, max %zu)", n, max);
	if (!jm_coll_utf8_valid(s ? s : "", n))
		return vfail(v, pre, f, "not valid UTF-8");
	return 0;
}

/* SQLite integers are signed 64-bit: anything above INT64_MAX would wrap. */
static int check_u64(struct vctx *v, const char *pre, const char *f, uint64_t x)
{
	if (x > (uint64_t)INT64_MAX)
		return vfail(v, pre, f, "out of range (%llu)", (unsigned long long)x);
	return 0;
}

static int check_dbl(struct vctx *v, const char *pre, const char *f, double d)
{
	if (!isfinite(d) || d < 0)
		return vfail(v, pre, f, "must be a finite number >= 0 (got %g)", d);
	/* Finite is not enough: two runs of 1e308 CPU seconds sum to inf in
	 * the day's rollup, and that job's figure and every total over it
	 * stay unknown for good. */
	if (d > JM_COLL_DOUBLE_MAX)
		return vfail(v, pre, f, "out of range (%g, max %g)", d, JM_COLL_DOUBLE_MAX);
	return 0;
}

/* Times: 0 < ns < 2200-01-01 (zero allowed only where it means "never"). */
static int check_ns(struct vctx *v, const char *pre, const char *f, int64_t ns, bool zero_ok)
{
	if ((ns == 0 && zero_ok) || (ns > 0 && ns < JM_COLL_NS_MAX))
		return 0;
	return vfail(v, pre, f, "time out of range (%lld ns)", (long long)ns);
}

static int check_counters(struct vctx *v, const char *pre, const Jobmeter__V1__Counters *c)
{
	char p[PATH_MAX_LEN];

	if (!c)
		return 0;   /* absent = all zero */
	if (snprintf(p, sizeof(p), "%s.counters", pre) < 0)
		p[0] = '\0';
	if (check_u64(v, p, "processes", c->processes) ||
	    check_dbl(v, p, "cpu_s", c->cpu_s) ||
	    check_u64(v, p, "peak_rss_bytes", c->peak_rss_bytes) ||
	    check_dbl(v, p, "mem_gib_s", c->mem_gib_s) ||
	    check_u64(v, p, "file_read_bytes", c->file_read_bytes) ||
	    check_u64(v, p, "file_write_bytes", c->file_write_bytes) ||
	    check_u64(v, p, "net_rx_bytes", c->net_rx_bytes) ||
	    check_u64(v, p, "net_tx_bytes", c->net_tx_bytes))
		return -1;
	return 0;
}

static int check_statement(struct vctx *v, const char *p, const Jobmeter__V1__StatementStats *s)
{
	if (!s)
		return vfail(v, p, "", "missing");
	/* empty: the fingerprint of an empty query ("", ";", a comment) */
	if (check_str(v, p, "fingerprint", s->fingerprint, JM_COLL_STRING_MAX, false) ||
	    check_str(v, p, "last_error", s->last_error, JM_COLL_STRING_MAX, false) ||
	    check_u64(v, p, "calls", s->calls) ||
	    check_u64(v, p, "errors", s->errors) ||
	    check_u64(v, p, "rows", s->rows) ||
	    check_u64(v, p, "rows_unknown", s->rows_unknown) ||
	    check_dbl(v, p, "latency_s_sum", s->latency_s_sum) ||
	    check_dbl(v, p, "latency_p50_s", s->latency_p50_s) ||
	    check_dbl(v, p, "latency_p95_s", s->latency_p95_s) ||
	    check_dbl(v, p, "latency_p99_s", s->latency_p99_s))
		return -1;
	return 0;
}

static int check_db(struct vctx *v, const char *pre, size_t n, Jobmeter__V1__DbStats *const *db)
{
	char p[PATH_MAX_LEN], q[PATH_MAX_LEN];

	for (size_t i = 0; i < n; i++) {
		const Jobmeter__V1__DbStats *d = db[i];

		path_elem(p, pre, "db", i);
		if (!d)
			return vfail(v, p, "", "missing");
		if (check_str(v, p, "system", d->system, JM_COLL_STRING_MAX, false) ||
		    check_str(v, p, "endpoint", d->endpoint, JM_COLL_STRING_MAX, false) ||
		    check_u64(v, p, "queries", d->queries) ||
		    check_u64(v, p, "errors", d->errors) ||
		    check_u64(v, p, "rows", d->rows) ||
		    check_u64(v, p, "rows_unknown", d->rows_unknown) ||
		    check_u64(v, p, "connections_unreadable", d->connections_unreadable) ||
		    check_u64(v, p, "tx_bytes", d->tx_bytes) ||
		    check_u64(v, p, "rx_bytes", d->rx_bytes) ||
		    check_u64(v, p, "statements_overflow", d->statements_overflow) ||
		    check_dbl(v, p, "latency_s_sum", d->latency_s_sum) ||
		    check_dbl(v, p, "latency_p50_s", d->latency_p50_s) ||
		    check_dbl(v, p, "latency_p95_s", d->latency_p95_s) ||
		    check_dbl(v, p, "latency_p99_s", d->latency_p99_s))
			return -1;
		if (d->n_latency_buckets > JM_HIST_BUCKETS)
			return vfail(v, p, "latency_buckets", "%zu buckets (max %d)",
				     d->n_latency_buckets, JM_HIST_BUCKETS);
		for (size_t k = 0; k < d->n_latency_buckets; k++)
			if (check_u64(v, p, "latency_buckets[]", d->latency_buckets[k]))
				return -1;
		for (size_t k = 0; k < d->n_statements; k++) {
			path_elem(q, p, "statements", k);
			if (check_statement(v, q, d->statements[k]))
				return -1;
		}
	}
	return 0;
}

static int check_outputs(struct vctx *v, const char *pre, size_t n, Jobmeter__V1__OutputWrite *const *o)
{
	char p[PATH_MAX_LEN];

	for (size_t i = 0; i < n; i++) {
		path_elem(p, pre, "outputs", i);
		if (!o[i])
			return vfail(v, p, "", "missing");
		if (check_str(v, p, "kind", o[i]->kind, JM_COLL_STRING_MAX, true) ||
		    check_str(v, p, "name", o[i]->name, JM_COLL_STRING_MAX, true) ||
		    check_ns(v, p, "last_write_unix_ns", o[i]->last_write_unix_ns, true))
			return -1;
	}
	return 0;
}

static int check_span(struct vctx *v, const char *pre, int64_t start, int64_t end)
{
	if (check_ns(v, pre, "start_unix_ns", start, false) ||
	    check_ns(v, pre, "end_unix_ns", end, false))
		return -1;
	if (end < start)
		return vfail(v, pre, "end_unix_ns", "ends before it starts");
	return 0;
}

static int check_run(struct vctx *v, size_t i, const Jobmeter__V1__JobRun *r)
{
	char pre[PATH_MAX_LEN], p[PATH_MAX_LEN];

	path_elem(pre, "", "runs", i);
	if (!r)
		return vfail(v, pre, "", "missing");
	if (check_str(v, pre, "job", r->job, JM_COLL_JOB_MAX, true) ||
	    check_str(v, pre, "run_id", r->run_id, JM_COLL_STRING_MAX, false) ||
	    check_str(v, pre, "source", r->source, JM_COLL_STRING_MAX, false) ||
	    check_span(v, pre, r->start_unix_ns, r->end_unix_ns))
		return -1;
	/* UNSPECIFIED is stored as 'unknown' rather than refused: an agent
	 * that could not tell must not get its whole batch bounced forever. */
	if (r->outcome != JOBMETER__V1__OUTCOME__OUTCOME_UNSPECIFIED &&
	    r->outcome != JOBMETER__V1__OUTCOME__OUTCOME_SUCCESS &&
	    r->outcome != JOBMETER__V1__OUTCOME__OUTCOME_FAILURE)
		return vfail(v, pre, "outcome", "unknown value %d", (int)r->outcome);
	if (r->signal < 0 || r->signal > 128)
		return vfail(v, pre, "signal", "out of range (%d)", (int)r->signal);
	if (r->n_labels > JM_COLL_LABELS_MAX)
		return vfail(v, pre, "labels", "%zu labels (max %d)", r->n_labels, JM_COLL_LABELS_MAX);
	for (size_t k = 0; k < r->n_labels; k++) {
		path_elem(p, pre, "labels", k);
		if (!r->labels[k])
			return vfail(v, p, "", "missing");
		if (check_str(v, p, "key", r->labels[k]->key, JM_COLL_STRING_MAX, true) ||
		    check_str(v, p, "value", r->labels[k]->value, JM_COLL_STRING_MAX, false))
			return -1;
	}
	if (check_counters(v, pre, r->counters) || check_db(v, pre, r->n_db, r->db))
		return -1;
	return check_outputs(v, pre, r->n_outputs, r->outputs);
}

static int check_window(struct vctx *v, size_t i, const Jobmeter__V1__JobWindow *w)
{
	char pre[PATH_MAX_LEN];

	path_elem(pre, "", "windows", i);
	if (!w)
		return vfail(v, pre, "", "missing");
	if (check_str(v, pre, "job", w->job, JM_COLL_JOB_MAX, true) ||
	    check_str(v, pre, "run_id", w->run_id, JM_COLL_STRING_MAX, false) ||
	    check_span(v, pre, w->start_unix_ns, w->end_unix_ns) ||
	    check_counters(v, pre, w->counters) ||
	    check_db(v, pre, w->n_db, w->db))
		return -1;
	return check_outputs(v, pre, w->n_outputs, w->outputs);
}

static int check_host(struct vctx *v, const Jobmeter__V1__HostUsage *h)
{
	if (!h)
		return 0;
	/* Bounds that no machine reaches: beyond them the figures would
	 * dominate every idle-cost sum, so they are refused, not stored. */
	if (h->cpu_cores > 65536)
		return vfail(v, "host", "cpu_cores", "out of range (%u)", (unsigned)h->cpu_cores);
	if (check_dbl(v, "host", "cpu_busy_s", h->cpu_busy_s) ||
	    check_u64(v, "host", "mem_total_bytes", h->mem_total_bytes) ||
	    check_u64(v, "host", "mem_used_bytes", h->mem_used_bytes) ||
	    check_dbl(v, "host", "window_s", h->window_s))
		return -1;
	if (h->window_s > 31.0 * 86400)
		return vfail(v, "host", "window_s", "out of range (%g s)", h->window_s);
	return 0;
}

static int check_loss(struct vctx *v, const Jobmeter__V1__LossCounters *l)
{
	if (!l)
		return 0;
	if (check_u64(v, "loss", "ringbuf_drops", l->ringbuf_drops) ||
	    check_u64(v, "loss", "map_full", l->map_full) ||
	    check_u64(v, "loss", "payload_drops", l->payload_drops) ||
	    check_u64(v, "loss", "payload_truncated", l->payload_truncated) ||
	    check_u64(v, "loss", "parse_errors", l->parse_errors) ||
	    check_u64(v, "loss", "statements_overflow", l->statements_overflow) ||
	    check_u64(v, "loss", "jobs_overflow", l->jobs_overflow) ||
	    check_u64(v, "loss", "spool_dropped_batches", l->spool_dropped_batches) ||
	    check_u64(v, "loss", "exits_synthesized", l->exits_synthesized))
		return -1;
	return 0;
}

/* ---- duplicate records ------------------------------------------------- */

/* The same run, or a job's window over the same interval, twice in one batch
 * (a doubled record, or two Batches concatenated: protobuf merges them into
 * one with every record twice) would be stored twice and count the job's
 * usage double.  The agent never sends one: a run is finished once, and a
 * job gets one window per flush.  Identity is (job, run_id, start, end). */
struct item_key {
	const char *job, *run_id;
	int64_t start, end;
};

typedef void (*item_key_fn)(const Jobmeter__V1__Batch *b, size_t i, struct item_key *k);

static void run_key(const Jobmeter__V1__Batch *b, size_t i, struct item_key *k)
{
	const Jobmeter__V1__JobRun *r = b->runs[i];

	*k = (struct item_key){ r->job, r->run_id, r->start_unix_ns, r->end_unix_ns };
}

static void window_key(const Jobmeter__V1__Batch *b, size_t i, struct item_key *k)
{
	const Jobmeter__V1__JobWindow *w = b->windows[i];

	*k = (struct item_key){ w->job, w->run_id, w->start_unix_ns, w->end_unix_ns };
}

static bool key_equal(const struct item_key *x, const struct item_key *y)
{
	return x->start == y->start && x->end == y->end &&
	       strcmp(x->job ? x->job : "", y->job ? y->job : "") == 0 &&
	       strcmp(x->run_id ? x->run_id : "", y->run_id ? y->run_id : "") == 0;
}

/* FNV-1a over the key; the NUL after each string keeps ("ab","c") apart
 * from ("a","bc"). */
static uint32_t key_hash(const struct item_key *k)
{
	const char *strs[2] = { k->job ? k->job : "", k->run_id ? k->run_id : "" };
	uint64_t t[2] = { (uint64_t)k->start, (uint64_t)k->end };
	uint32_t h = 2166136261u;

	for (int s = 0; s < 2; s++) {
		for (const unsigned char *p = (const unsigned char *)strs[s]; *p; p++)
			h = (h ^ *p) * 16777619u;
		h = (h ^ 0) * 16777619u;
	}
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 8; i++)
			h = (h ^ (uint8_t)(t[s] >> (8 * i))) * 16777619u;
	return h;
}

/* Open addressing over a fixed table (no allocation, so no failure mode
 * that would refuse a valid batch): more slots than JM_COLL_ITEMS_MAX,
 * each holding an item index + 1 (0 = empty). */
#define DUP_SLOTS 16384u
_Static_assert(DUP_SLOTS > JM_COLL_ITEMS_MAX && JM_COLL_ITEMS_MAX < UINT16_MAX,
	       "the duplicate table must hold every item of a batch");

static int check_duplicates(struct vctx *v, const Jobmeter__V1__Batch *b, const char *what,
			    size_t n, item_key_fn key_of)
{
	uint16_t slot[DUP_SLOTS];
	char pre[PATH_MAX_LEN];

	memset(slot, 0, sizeof(slot));
	for (size_t i = 0; i < n; i++) {
		struct item_key k, o;
		uint32_t h;

		key_of(b, i, &k);
		for (h = key_hash(&k) % DUP_SLOTS; slot[h]; h = (h + 1) % DUP_SLOTS) {
			key_of(b, slot[h] - 1u, &o);
			if (key_equal(&k, &o)) {
				path_elem(pre, "", what, i);
				return vfail(v, pre, "", "duplicates %s[%u] (same job, run_id, start and end)",
					     what, slot[h] - 1u);
			}
		}
		slot[h] = (uint16_t)(i + 1);
	}
	return 0;
}

int jm_coll_validate_batch(const Jobmeter__V1__Batch *b, char *why, size_t why_len)
{
	struct vctx v = { why, why_len };
	const Jobmeter__V1__AgentIdentity *a = b->agent;

	if (b->schema_version != 1)
		return vfail(&v, "", "schema_version", "unsupported (%u, want 1)", (unsigned)b->schema_version);
	if (!a)
		return vfail(&v, "", "agent", "missing");
	if (check_str(&v, "agent", "agent_id", a->agent_id, JM_COLL_ID_MAX, true)) return -1;
	if (check_str(&v, "agent", "boot_id", a->boot_id, JM_COLL_ID_MAX, true)) return -1;
	if (check_str(&v, "agent", "host", a->host, JM_COLL_STRING_MAX, false)) return -1;
	if (check_str(&v, "agent", "kernel", a->kernel, JM_COLL_STRING_MAX, false)) return -1;
	if (check_str(&v, "agent", "version", a->version, JM_COLL_STRING_MAX, false)) return -1;
	if (b->seq == 0)
		return vfail(&v, "", "seq", "must be > 0");
	if (check_u64(&v, "", "seq", b->seq) ||
	    check_ns(&v, "", "window_start_unix_ns", b->window_start_unix_ns, false) ||
	    check_ns(&v, "", "window_end_unix_ns", b->window_end_unix_ns, false))
		return -1;
	if (b->window_end_unix_ns < b->window_start_unix_ns)
		return vfail(&v, "", "window_end_unix_ns", "ends before it starts");
	if (b->n_runs > JM_COLL_ITEMS_MAX || b->n_windows > JM_COLL_ITEMS_MAX - b->n_runs)
		return vfail(&v, "", "runs", "%zu runs + %zu windows (max %d)", b->n_runs, b->n_windows,
			     JM_COLL_ITEMS_MAX);
	for (size_t i = 0; i < b->n_runs; i++)
		if (check_run(&v, i, b->runs[i]))
			return -1;
	for (size_t i = 0; i < b->n_windows; i++)
		if (check_window(&v, i, b->windows[i]))
			return -1;
	/* After the checks above: every record is there and bounded. */
	if (check_duplicates(&v, b, "runs", b->n_runs, run_key) ||
	    check_duplicates(&v, b, "windows", b->n_windows, window_key))
		return -1;
	if (check_host(&v, b->host)) return -1;
	return check_loss(&v, b->loss);
}

size_t jm_coll_decode_budget(size_t len)
{
	if (len > (SIZE_MAX - JM_COLL_DECODE_FLOOR) / JM_COLL_DECODE_FACTOR)
		return SIZE_MAX;
	return len * JM_COLL_DECODE_FACTOR + JM_COLL_DECODE_FLOOR;
}

enum jm_coll_decode_rc jm_coll_decode_batch(const uint8_t *buf, size_t len,
					    struct jm_coll_decoded *out,
					    char *why, size_t why_len)
{
	struct budget bg = { 0, 0, false };
	ProtobufCAllocator alloc = { budget_alloc, budget_free, &bg };
	Jobmeter__V1__Batch *b;

	memset(out, 0, sizeof(*out));
	bg.limit = jm_coll_decode_budget(len);
	b = jobmeter__v1__batch__unpack(&alloc, len, buf);
	if (!b) {
		if (bg.exceeded) {
			snprintf(why, why_len, "decoded batch too large (over %zu bytes)", bg.limit);
			return JM_DECODE_TOO_LARGE;
		}
		snprintf(why, why_len, "invalid protobuf");
		return JM_DECODE_INVALID_PROTOBUF;
	}
	if (jm_coll_validate_batch(b, why, why_len)) {
		jobmeter__v1__batch__free_unpacked(b, NULL);
		return JM_DECODE_INVALID_BATCH;
	}
	out->batch = b;
	out->n_items = b->n_runs + b->n_windows;
	return JM_DECODE_OK;
}

/* One time of a batch against the collector's clock: 0 when it can vouch
 * for it (0 = not given is not judged), -1 before 2000, JM_CLOCK_AHEAD more
 * than JM_COLL_FUTURE_MAX_NS after now. */
static int clock_judge(int64_t ns, int64_t now_ns)
{
	if (ns == 0)
		return 0;
	if (ns < JM_COLL_NS_MIN)
		return -1;
	return ns - now_ns > JM_COLL_FUTURE_MAX_NS ? JM_CLOCK_AHEAD : 0;
}

/* The first start or end time of the batch (its window, then each run,
 * then each job window; end before start) judged `want`, with `why`
 * naming it; 0 when there is none. */
static int clock_find(const Jobmeter__V1__Batch *b, int want, int64_t now_ns, char *why, size_t why_len)
{
	static const char *const edge[2] = { "starts", "ends" };
	static const char *const field[2] = { "start_unix_ns", "end_unix_ns" };
	const char *what = "the batch window", *list = NULL;
	size_t i = 0, n_runs = b->n_runs, n = 1 + b->n_runs + b->n_windows;

	for (size_t k = 0; k < n; k++) {
		int64_t t[2];

		if (k == 0) {
			t[0] = b->window_start_unix_ns;
			t[1] = b->window_end_unix_ns;
		} else if (k <= n_runs) {
			const Jobmeter__V1__JobRun *r = b->runs[k - 1];

			if (!r)
				continue;
			what = "a run", list = "runs", i = k - 1;
			t[0] = r->start_unix_ns;
			t[1] = r->end_unix_ns;
		} else {
			const Jobmeter__V1__JobWindow *w = b->windows[k - 1 - n_runs];

			if (!w)
				continue;
			what = "a job window", list = "windows", i = k - 1 - n_runs;
			t[0] = w->start_unix_ns;
			t[1] = w->end_unix_ns;
		}
		/* The end first: when both are out (a run wholly in 1971), the
		 * reason is the one it always was ("ends before 2000"). */
		for (int e = 1; e >= 0; e--) {
			char path[48];

			if (clock_judge(t[e], now_ns) != want)
				continue;
			if (list)
				snprintf(path, sizeof(path), "%s[%zu].%s", list, i, field[e]);
			else
				snprintf(path, sizeof(path), "window_%s", field[e]);
			snprintf(why, why_len, "%s %s %s (%s, %.0f s from the collector's clock): %s", what,
				 edge[e], want == JM_CLOCK_AHEAD ? "in the future" : "before 2000", path,
				 ((double)t[e] - (double)now_ns) / 1e9,
				 want == JM_CLOCK_AHEAD ? "the agent's clock is ahead or the collector's behind; "
				 "retry later" : "the agent's clock is wrong");
			return want;
		}
	}
	return 0;
}

int jm_coll_check_clock(const Jobmeter__V1__Batch *b, int64_t now_ns, char *why, size_t why_len)
{
	/* Before 2000 first: that never passes, so a batch with such a time
	 * is not worth a retry even when another of its times is ahead. */
	int rc = clock_find(b, -1, now_ns, why, why_len);

	return rc ? rc : clock_find(b, JM_CLOCK_AHEAD, now_ns, why, why_len);
}

void jm_coll_decoded_free(struct jm_coll_decoded *d)
{
	if (d->batch)
		jobmeter__v1__batch__free_unpacked(d->batch, NULL);
	d->batch = NULL;
}
