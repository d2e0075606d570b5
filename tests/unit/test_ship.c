/* ship: the sender thread against a real HTTP(S) server on 127.0.0.1
 * (libmicrohttpd, port 0).  The server checks the bearer token, the headers
 * and that the gzip body decodes to a valid Batch, and records the seq of
 * every accepted batch, so "exactly once, in order" is checked end to end.
 * All of this process's stderr (the shipper's log) goes to a file that is
 * checked for the expected lines and for the token, which must never appear. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "config.h"
#include "harness.h"
#include "jobmeter.pb-c.h"
#include "model.h"
#include "render_pb.h"
#include "ship.h"
#include "spool.h"
#include "tools/collector/ingest.h"

#define TOKEN "s3cr3t-T0ken-never-in-logs_0123456789"
#define MAX_ACCEPTED 256
#define BODY_LIMIT (8u << 20)

static char tmp_root[] = "/tmp/test_ship.XXXXXX";
static char log_path[600];

/* ---- the in-test collector ------------------------------------------- */

/* MODE_409_MAX: a current collector that has seqs 1..PRIOR_MAX of this agent
 * stored from an earlier spool: those seqs answer 409 with stored_max_seq,
 * any other is stored. */
/* MODE_HTML_ONCE: the first request gets a 200 that is not the collector's
 * answer (a proxy's maintenance page). */
/* MODE_425: like the collector, 425 for a batch whose window ends more than
 * an hour after the server's clock, any other stored.  MODE_425_ONCE: the
 * first request gets 425 whatever it holds (the server's clock behind). */
/* MODE_CLOCK: the collector's own clock check (jm_coll_check_clock) and
 * answers: 400 with its reason for a time before 2000, 425 ahead, else
 * stored. */
/* MODE_HOLD_200 / MODE_HOLD_503: the first request is held until the test
 * opens the gate (s->gate), then answered 200 or 503; any later one is
 * stored at once.  The test changes the spool while a batch is in flight. */
enum srv_mode { MODE_OK, MODE_503_ONCE, MODE_400, MODE_409, MODE_409_MAX, MODE_HTML_ONCE,
		MODE_425, MODE_425_ONCE, MODE_HOLD_200, MODE_HOLD_503, MODE_CLOCK };
#define PRIOR_MAX 5

struct srv {
	struct MHD_Daemon *d;
	uint16_t port;
	enum srv_mode mode;
	pthread_mutex_t lock;
	int requests;
	int invalid;
	char invalid_why[256];
	bool served_503;
	bool holding;                       /* MODE_HOLD_*: the first request waits */
	bool gate;                          /* MODE_HOLD_*: ... until this is set */
	uint64_t req_ns[4];                 /* time of the first requests */
	int n_accepted;
	uint64_t accepted[MAX_ACCEPTED];    /* seq of each 200, in arrival order */
	int64_t accepted_ws[MAX_ACCEPTED];  /* and its window start */
	uint64_t max_stored;                /* MODE_409_MAX: highest seq stored */
	int conflicts;                      /* MODE_409_MAX: 409s answered */
};

struct body {
	uint8_t *buf;
	size_t len, cap;
	bool too_big;
};

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* gunzip (gzip wrapper only, as the contract says) into a malloc'd buffer. */
static int gunzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return -1;
	size_t cap = len * 4 + 1024, got = 0;
	uint8_t *buf = malloc(cap);
	int rc = Z_OK;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	while (buf && rc == Z_OK) {
		if (got == cap) {
			if (cap > BODY_LIMIT * 8)
				break;
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		z.next_out = buf + got;
		z.avail_out = (uInt)(cap - got);
		rc = inflate(&z, Z_NO_FLUSH);
		got = cap - z.avail_out;
	}
	inflateEnd(&z);
	if (rc != Z_STREAM_END || z.avail_in != 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	*out_len = got;
	return 0;
}

static void mark_invalid(struct srv *s, const char *why)
{
	pthread_mutex_lock(&s->lock);
	s->invalid++;
	if (!s->invalid_why[0])
		snprintf(s->invalid_why, sizeof(s->invalid_why), "%s", why);
	pthread_mutex_unlock(&s->lock);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text,
			     bool retry_after)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
								 MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (retry_after)
		MHD_add_response_header(r, "Retry-After", "1");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static bool header_is(struct MHD_Connection *c, const char *name, const char *want)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
	return v && strcmp(v, want) == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct srv *s = cls;
	struct body *b = *con_cls;
	(void)version;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return MHD_NO;
		*con_cls = b;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (b->len + n > BODY_LIMIT) {
			b->too_big = true;
			return MHD_YES;
		}
		if (b->len + n > b->cap) {
			size_t cap = (b->len + n) * 2;
			uint8_t *nb = realloc(b->buf, cap);
			if (!nb)
				return MHD_NO;
			b->buf = nb;
			b->cap = cap;
		}
		memcpy(b->buf + b->len, upload, n);
		b->len += n;
		return MHD_YES;
	}

	/* Whole request received. */
	pthread_mutex_lock(&s->lock);
	int nth = s->requests++;
	if (nth < 4)
		s->req_ns[nth] = now_ns();
	pthread_mutex_unlock(&s->lock);

	if (strcmp(method, "POST") != 0 || strcmp(url, "/v1/batches") != 0) {
		mark_invalid(s, "not POST /v1/batches");
		return reply(c, 404, "no", false);
	}
	if (!header_is(c, "Authorization", "Bearer " TOKEN)) {
		mark_invalid(s, "bad Authorization header");
		return reply(c, 400, "bad auth", false);
	}
	if (!header_is(c, "Content-Type", "application/x-protobuf") ||
	    !header_is(c, "Content-Encoding", "gzip")) {
		mark_invalid(s, "bad Content-Type/Content-Encoding");
		return reply(c, 400, "bad headers", false);
	}
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	if (b->too_big || gunzip(b->buf, b->len, &raw, &raw_len) != 0) {
		mark_invalid(s, "body is not gzip");
		return reply(c, 400, "bad gzip", false);
	}
	Jobmeter__V1__Batch *m = jobmeter__v1__batch__unpack(NULL, raw_len, raw);
	free(raw);
	if (!m || m->schema_version != 1 || !m->agent || strcmp(m->agent->agent_id, "agent-under-test")) {
		mark_invalid(s, "body is not a valid v1 Batch of our agent");
		if (m)
			jobmeter__v1__batch__free_unpacked(m, NULL);
		return reply(c, 400, "bad batch", false);
	}
	uint64_t seq = m->seq;
	int64_t ws = m->window_start_unix_ns;
	bool ahead = m->window_end_unix_ns > realtime_ns() + INT64_C(3600) * 1000000000;
	char clock_why[256] = "", clock_body[400];
	int clock = s->mode == MODE_CLOCK ? jm_coll_check_clock(m, realtime_ns(), clock_why,
								sizeof(clock_why)) : 0;
	jobmeter__v1__batch__free_unpacked(m, NULL);
	if (clock) {
		snprintf(clock_body, sizeof(clock_body), "{\"status\":\"rejected\",\"reason\":\"%s\"}\n",
			 clock_why);
		return reply(c, clock < 0 ? 400 : 425, clock_body, false);
	}

	pthread_mutex_lock(&s->lock);
	enum srv_mode mode = s->mode;
	bool hold = (mode == MODE_HOLD_200 || mode == MODE_HOLD_503) && !s->served_503;
	if (hold) {
		s->served_503 = true;
		s->holding = true;
		while (!s->gate) {          /* bounded by the test, which opens it */
			pthread_mutex_unlock(&s->lock);
			usleep(1000);
			pthread_mutex_lock(&s->lock);
		}
		s->holding = false;
	}
	if (mode == MODE_HOLD_503 && hold) {
		pthread_mutex_unlock(&s->lock);
		return reply(c, 503, "busy", false);
	}
	bool first_503 = (mode == MODE_503_ONCE || mode == MODE_HTML_ONCE || mode == MODE_425_ONCE) &&
			 !s->served_503;
	if (first_503)
		s->served_503 = true;
	bool conflict = mode == MODE_409_MAX && seq <= PRIOR_MAX;
	char cbody[256];
	if (conflict) {
		s->conflicts++;
		snprintf(cbody, sizeof(cbody), "{\"status\":\"rejected\",\"stored_max_seq\":%" PRIu64
			 ",\"reason\":\"seq %" PRIu64 " of this agent and boot is stored already "
			 "for another window (1..2 ns): the agent's seq restarted\"}\n",
			 s->max_stored > PRIOR_MAX ? s->max_stored : (uint64_t)PRIOR_MAX, seq);
	}
	bool too_early = (mode == MODE_425 && ahead) || (mode == MODE_425_ONCE && first_503);
	if (mode == MODE_OK || mode == MODE_HOLD_200 || mode == MODE_HOLD_503 || ((mode == MODE_503_ONCE || mode == MODE_HTML_ONCE) && !first_503) ||
	    mode == MODE_CLOCK || (mode == MODE_409_MAX && !conflict) || ((mode == MODE_425 || mode == MODE_425_ONCE) && !too_early)) {
		if (s->n_accepted < MAX_ACCEPTED) {
			s->accepted[s->n_accepted] = seq;
			s->accepted_ws[s->n_accepted] = ws;
		}
		s->n_accepted++;
		if (seq > s->max_stored)
			s->max_stored = seq;
	}
	pthread_mutex_unlock(&s->lock);
	if (conflict)
		return reply(c, 409, cbody, false);

	if (too_early)
		return reply(c, 425, "{\"status\":\"rejected\",\"reason\":\"the batch window ends in the "
			     "future: the agent's clock is ahead or the collector's behind; retry later\"}\n",
			     false);
	if (first_503 && mode == MODE_HTML_ONCE)
		return reply(c, 200, "<html><body>Down for maintenance</body></html>", false);
	if (first_503)
		return reply(c, 503, "busy", true);
	if (mode == MODE_400)
		/* Echo the credential, as a careless collector might: the shipper
		 * must not copy it into its log. */
		return reply(c, 400, "schema mismatch; you sent Authorization: Bearer " TOKEN, false);
	if (mode == MODE_409)
		return reply(c, 409, "seq 1 of this agent and boot is stored already for another window", false);
	return reply(c, 200, "{\"status\":\"stored\"}\n", false);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct body *b = *con_cls;
	(void)cls, (void)c, (void)toe;
	if (b) {
		free(b->buf);
		free(b);
		*con_cls = NULL;
	}
}

/* Listen on 127.0.0.1:port (0 = any free port); TLS when key/cert given. */
static int srv_start(struct srv *s, uint16_t port, const char *key_pem, const char *cert_pem)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
	if (key_pem)
		flags |= MHD_USE_TLS;
	if (key_pem)
		s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
					MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
					MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
					MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
					MHD_OPTION_HTTPS_MEM_KEY, key_pem,
					MHD_OPTION_HTTPS_MEM_CERT, cert_pem,
					MHD_OPTION_END);
	else
		s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
					MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
					MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
					MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
					MHD_OPTION_END);
	if (!s->d)
		return -1;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	return s->port ? 0 : -1;
}

static void srv_stop(struct srv *s)
{
	if (s->d)
		MHD_stop_daemon(s->d);
	s->d = NULL;
}

static void srv_init(struct srv *s, enum srv_mode mode)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->mode = mode;
}

/* Snapshot of what the server saw. */
struct seen {
	int requests, invalid, n_accepted;
	char why[256];
	uint64_t accepted[MAX_ACCEPTED];
	uint64_t req_ns[4];
};

static void srv_seen(struct srv *s, struct seen *out)
{
	pthread_mutex_lock(&s->lock);
	out->requests = s->requests;
	out->invalid = s->invalid;
	out->n_accepted = s->n_accepted;
	memcpy(out->why, s->invalid_why, sizeof(out->why));
	memcpy(out->accepted, s->accepted, sizeof(out->accepted));
	memcpy(out->req_ns, s->req_ns, sizeof(out->req_ns));
	pthread_mutex_unlock(&s->lock);
}

/* accepted == 1..n exactly, in this order. */
static bool accepted_in_order(const struct seen *w, int n)
{
	if (w->n_accepted != n)
		return false;
	for (int i = 0; i < n; i++)
		if (w->accepted[i] != (uint64_t)(i + 1))
			return false;
	return true;
}

/* ---- agent side helpers ---------------------------------------------- */

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int ok = fputs(text, f) >= 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Render and spool one real batch, numbered by the spool: the window
 * [win_start, win_end) holding one successful run from run_start to run_end. */
static int spool_one(struct jm_spool *sp, int64_t win_start, int64_t win_end,
		     int64_t run_start, int64_t run_end)
{
	struct jm_run_record run;
	struct jm_batch b;
	uint8_t *buf = NULL;
	size_t len = 0;
	memset(&run, 0, sizeof(run));
	memset(&b, 0, sizeof(b));
	snprintf(b.agent.agent_id, sizeof(b.agent.agent_id), "agent-under-test");
	snprintf(run.job, sizeof(run.job), "nightly-sales");
	b.window_start_ns = win_start;
	b.window_end_ns = win_end;
	run.start_ns = run_start;
	run.end_ns = run_end;
	run.outcome = JM_OUTCOME_SUCCESS;
	b.n_runs = 1;
	b.runs = &run;
	int err = jm_spool_next_seq(sp, &b.seq);
	if (!err)
		err = jm_render_batch_pb(&b, &buf, &len);
	if (!err)
		err = jm_spool_put(sp, b.seq, buf, len);
	free(buf);
	return err;
}

/* Its window starts at window_ns (0: the next of a series, one a second in
 * 2023); the run has no times. */
static int spool_batch_at(struct jm_spool *sp, int64_t window_ns)
{
	/* Tells the batches apart after a renumbering: window = spool order. */
	static int64_t next_window = 1700000000000000000;
	int64_t start = window_ns ? window_ns : next_window;

	if (!window_ns)
		next_window += 1000000000;
	return spool_one(sp, start, start + 1000000000, 0, 0);
}

/* A batch of the last 10 s holding one run from start_ns to end_ns. */
static int spool_run_at(struct jm_spool *sp, int64_t start_ns, int64_t end_ns)
{
	int64_t now = realtime_ns();

	return spool_one(sp, now - INT64_C(10000000000), now, start_ns, end_ns);
}

static int spool_batch(struct jm_spool *sp)
{
	return spool_batch_at(sp, 0);
}

static int spool_n(struct jm_spool *sp, int n)
{
	int errs = 0;
	for (int i = 0; i < n; i++)
		errs += spool_batch(sp) != 0;
	return errs;
}

static void make_cfg(struct jm_config *cfg, const char *scheme, uint16_t port,
		     const char *token_file, const char *ca_file)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->collector_url, sizeof(cfg->collector_url), "%s://127.0.0.1:%u/v1/batches",
		 scheme, (unsigned)port);
	snprintf(cfg->collector_token_file, sizeof(cfg->collector_token_file), "%s", token_file);
	if (ca_file)
		snprintf(cfg->collector_ca_file, sizeof(cfg->collector_ca_file), "%s", ca_file);
	cfg->collector_timeout_s = 5;
}

static struct jm_spool *spool_in(const char *name)
{
	char dir[600];
	struct jm_spool *sp = NULL;
	snprintf(dir, sizeof(dir), "%s/%s", tmp_root, name);
	if (jm_spool_open(&sp, dir, 64u << 20) != 0)
		return NULL;
	return sp;
}

enum stat_field { ST_SENT, ST_RETRIES, ST_REJECTED, ST_RENUMBERED };

/* Poll the shipper until field >= want or timeout; returns the last value. */
static uint64_t wait_stat(struct jm_shipper *sh, enum stat_field f, uint64_t want, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull, v = 0;
	for (;;) {
		struct jm_ship_stats st;
		jm_ship_stats(sh, &st);
		v = f == ST_SENT ? st.sent : f == ST_RETRIES ? st.retries :
		    f == ST_RENUMBERED ? st.renumbered : st.rejected_4xx;
		if (v >= want || now_ns() >= deadline)
			return v;
		usleep(5000);
	}
}

static int log_count(const char *needle)
{
	FILE *f = fopen(log_path, "r");
	char line[2048];
	int n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static char token_file[600];

/* The collector answering in mode m, and spool dir holding n batches (seq
 * 1..n), checked under tag.  The spool; the case goes on only when it and
 * s->d are both there. */
static struct jm_spool *case_start(struct srv *s, enum srv_mode m, const char *tag,
				   const char *dir, int n)
{
	char name[160];
	struct jm_spool *sp;

	srv_init(s, m);
	snprintf(name, sizeof(name), "%s: server up", tag);
	CHECK_INT(name, srv_start(s, 0, NULL, NULL), 0);
	sp = spool_in(dir);
	if (sp && s->d) {
		snprintf(name, sizeof(name), "%s: %d batch(es) spooled (seq 1..%d)", tag, n, n);
		CHECK_INT(name, spool_n(sp, n), 0);
	}
	return sp;
}

/* A shipper on sp sending to s over plain HTTP with short backoffs; NULL
 * (and a failed check under tag) when it cannot open. */
static struct jm_shipper *case_open(struct srv *s, struct jm_spool *sp, struct jm_config *cfg,
				    const char *tag)
{
	static const struct jm_ship_opts o = { .base_ms = 10, .cap_ms = 50 };
	struct jm_shipper *sh = NULL;
	char name[160];

	make_cfg(cfg, "http", s->port, token_file, NULL);
	snprintf(name, sizeof(name), "%s: open", tag);
	CHECK_INT(name, jm_ship_open_opts(&sh, cfg, sp, &o), 0);
	return sh;
}

/* ---- the cases ------------------------------------------------------- */

static void test_stream(void)
{
	struct srv s;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct seen w;
	srv_init(&s, MODE_OK);
	CHECK_INT("stream: server up", srv_start(&s, 0, NULL, NULL), 0);
	struct jm_spool *sp = spool_in("stream");
	CHECK("stream: spool", sp != NULL);
	if (!sp || !s.d)
		goto out;
	CHECK_INT("stream: 10 batches spooled before start", spool_n(sp, 10), 0);
	make_cfg(&cfg, "http", s.port, token_file, NULL);
	/* Default idle poll (30 s): the later batches can only go out via kicks. */
	CHECK_INT("stream: open", jm_ship_open(&sh, &cfg, sp), 0);
	if (!sh)
		goto out;
	int errs = 0;
	for (int i = 0; i < 10; i++) {
		errs += spool_batch(sp) != 0;
		jm_ship_kick(sh);
		usleep(2000);
	}
	CHECK_INT("stream: 10 more spooled while running", errs, 0);
	CHECK_INT("stream: all 20 sent", wait_stat(sh, ST_SENT, 20, 5000), 20);
	srv_seen(&s, &w);
	CHECK_STR("stream: every request valid (token, headers, gzip, Batch)",
		  w.invalid ? w.why : "valid", "valid");
	CHECK("stream: 20 batches arrived exactly once, in seq order", accepted_in_order(&w, 20));
	CHECK_INT("stream: 20 requests in total", w.requests, 20);
	struct jm_ship_stats st;
	jm_ship_stats(sh, &st);
	CHECK("stream: no retries, no rejects", st.retries == 0 && st.rejected_4xx == 0);
	CHECK_INT("stream: last status 200", st.last_http_status, 200);
	CHECK_INT("stream: spool empty", st.spool_depth, 0);
	uint64_t t0 = now_ns();
	jm_ship_close(sh, 5000);
	CHECK("stream: close with an empty spool returns at once",
	      now_ns() - t0 < 500000000ull);
out:
	jm_spool_close(sp);
	srv_stop(&s);
}

static void test_503_then_200(void)
{
	struct srv s;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct seen w;
	struct jm_spool *sp = case_start(&s, MODE_503_ONCE, "503", "s503", 3);
	if (!sp || !s.d)
		goto out;
	sh = case_open(&s, sp, &cfg, "503");
	if (!sh)
		goto out;
	CHECK_INT("503: all 3 sent", wait_stat(sh, ST_SENT, 3, 5000), 3);
	srv_seen(&s, &w);
	CHECK_STR("503: requests valid", w.invalid ? w.why : "valid", "valid");
	CHECK("503: delivered once each, in order", accepted_in_order(&w, 3));
	CHECK_INT("503: one retried request", w.requests, 4);
	uint64_t gap = w.req_ns[1] - w.req_ns[0];
	/* The backoff alone would be <= 10 ms: only Retry-After explains 1 s. */
	CHECK("503: Retry-After: 1 honoured (second try >= 0.9 s later)", gap >= 900000000ull);
	CHECK("503: ... and not much later", gap < 2500000000ull);
	struct jm_ship_stats st;
	jm_ship_stats(sh, &st);
	CHECK_INT("503: retries counted", st.retries, 1);
	CHECK_INT("503: last status 200", st.last_http_status, 200);
	CHECK("503: last error kept", strstr(st.last_error, "HTTP 503") != NULL);
	jm_ship_close(sh, 1000);
	CHECK_INT("503: failure logged once", log_count("collector answered HTTP 503"), 1);
	CHECK_INT("503: recovery logged", log_count("collector reachable again: delivered seq 1"), 1);
out:
	jm_spool_close(sp);
	srv_stop(&s);
}

/* A 200 that is not the collector's answer keeps the batch: retried, and
 * delivered once the collector answers. */
static void test_200_not_collector(void)
{
	struct srv s;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct seen w;
	struct jm_spool *sp = case_start(&s, MODE_HTML_ONCE, "html", "shtml", 3);
	if (!sp || !s.d)
		goto out;
	sh = case_open(&s, sp, &cfg, "html");
	if (!sh)
		goto out;
	CHECK_INT("html 200: all 3 sent", wait_stat(sh, ST_SENT, 3, 5000), 3);
	srv_seen(&s, &w);
	CHECK("html 200: delivered once each, in order", accepted_in_order(&w, 3));
	CHECK_INT("html 200: the first one sent again", w.requests, 4);
	struct jm_ship_stats st;
	jm_ship_stats(sh, &st);
	CHECK_INT("html 200: a retry counted", st.retries, 1);
	jm_ship_close(sh, 1000);
	CHECK_INT("html 200: logged as not the collector", log_count("but not as a jobmeter collector"), 1);
out:
	jm_spool_close(sp);
	srv_stop(&s);
}

/* A collector that finds the seq stored for another batch (the agent's seq
 * restarted) answers 409: the batch must be kept (rejected/) and counted,
 * never deleted as if delivered. */
static void test_409(void)
{
	struct srv s;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct jm_ship_stats st;
	struct stat sb;
	char p[800];

	struct jm_spool *sp = case_start(&s, MODE_409, "409", "s409", 1);
	if (!sp || !s.d)
		goto out;
	sh = case_open(&s, sp, &cfg, "409");
	if (!sh)
		goto out;
	CHECK_INT("409: counted as rejected", wait_stat(sh, ST_REJECTED, 1, 5000), 1);
	jm_ship_stats(sh, &st);
	CHECK_INT("409: not counted as sent", st.sent, 0);
	CHECK_INT("409: last status", st.last_http_status, 409);
	snprintf(p, sizeof(p), "%s/s409/rejected/00000000000000000001.batch", tmp_root);
	CHECK("409: batch kept in rejected/, not deleted", stat(p, &sb) == 0 && sb.st_size > 0);
	jm_ship_close(sh, 1000);
	CHECK_INT("409: logged with the collector's reason",
		  log_count("HTTP 409: seq 1 of this agent and boot is stored already"), 1);
out:
	jm_spool_close(sp);
	srv_stop(&s);
}

/* The spool's numbering restarted (new spool_dir, same agent and boot) below
 * what the collector holds: each refused batch must be renumbered past the
 * collector's maximum and delivered, in its order, not lost to rejected/
 * (which, before, went on until the numbering passed the old maximum). */
static void test_409_renumber(void)
{
	struct srv s;
	struct seen w;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct jm_ship_stats st;
	char p[800], txt[64] = "";
	int64_t ws0 = 0;

	struct jm_spool *sp = case_start(&s, MODE_409_MAX, "409 renumber", "s409r", 3);
	if (!sp || !s.d)
		goto out;
	sh = case_open(&s, sp, &cfg, "409 renumber");
	if (!sh)
		goto out;
	CHECK_INT("409 renumber: all 3 delivered", wait_stat(sh, ST_SENT, 3, 5000), 3);
	jm_ship_stats(sh, &st);
	CHECK_INT("409 renumber: counted as renumbered", st.renumbered, 3);
	CHECK_INT("409 renumber: none rejected", st.rejected_4xx, 0);
	CHECK_INT("409 renumber: no retries", st.retries, 0);
	jm_ship_close(sh, 1000);
	srv_seen(&s, &w);
	pthread_mutex_lock(&s.lock);
	CHECK_INT("409 renumber: one conflict per old seq", s.conflicts, 3);
	if (w.n_accepted == 3)
		ws0 = s.accepted_ws[0];
	CHECK("409 renumber: stored as 6, 7, 8 in the original order",
	      w.n_accepted == 3 && w.accepted[0] == 6 && w.accepted[1] == 7 && w.accepted[2] == 8 &&
	      s.accepted_ws[1] == ws0 + 1000000000 && s.accepted_ws[2] == ws0 + 2000000000);
	pthread_mutex_unlock(&s.lock);
	jm_spool_depth(sp, &st.spool_depth, NULL);
	CHECK_INT("409 renumber: spool empty", st.spool_depth, 0);
	snprintf(p, sizeof(p), "%s/s409r/rejected/00000000000000000001.batch", tmp_root);
	CHECK("409 renumber: nothing in rejected/", access(p, F_OK) != 0);
	snprintf(p, sizeof(p), "%s/s409r/seq", tmp_root);
	FILE *f = fopen(p, "r");
	if (f) {
		if (!fgets(txt, sizeof(txt), f))
			txt[0] = '\0';
		fclose(f);
	}
	CHECK("409 renumber: seq file advanced past the collector's maximum", strcmp(txt, "8\n") == 0);
	uint64_t next = 0;
	CHECK_INT("409 renumber: next seq", jm_spool_next_seq(sp, &next), 0);
	CHECK_INT("409 renumber: numbering continues after 8", next, 9);
	CHECK_INT("409 renumber: one warning for the recovery, with both ranges",
		  log_count("renumbered: seq 1..3 -> 6..8"), 1);
out:
	jm_spool_close(sp);
	srv_stop(&s);
}

/* The agent was killed in the middle of a renumbering: the new copy (seq 6)
 * was stored, the refused one (seq 1) not yet removed.  The old copy's next
 * conflict must find the new one and be dropped, not renumbered a second
 * time: the collector stores that batch once. */
static void test_409_renumber_interrupted(void)
{
	struct srv s;
	struct seen w;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct jm_ship_stats st;
	uint8_t *old = NULL, *buf = NULL;
	size_t len = 0;
	uint64_t seq = 0, copy = 0;
	int64_t ws1 = 0;
	Jobmeter__V1__Batch *b = NULL;

	struct jm_spool *sp = case_start(&s, MODE_409_MAX, "409 interrupted", "s409i", 2);
	if (!sp || !s.d)
		goto out;
	/* What renumber() leaves when killed after its put. */
	CHECK_INT("409 interrupted: read seq 1", jm_spool_oldest(sp, &seq, &old, &len), 0);
	b = old ? jobmeter__v1__batch__unpack(NULL, len, old) : NULL;
	CHECK("409 interrupted: seq 1 is a Batch", b != NULL);
	if (!b)
		goto out;
	ws1 = b->window_start_unix_ns;
	CHECK_INT("409 interrupted: advance past the collector",
		  jm_spool_advance_seq(sp, PRIOR_MAX), 0);
	CHECK_INT("409 interrupted: new seq", jm_spool_next_seq(sp, &copy), 0);
	b->seq = copy;
	size_t n = jobmeter__v1__batch__get_packed_size(b);
	buf = malloc(n);
	CHECK("409 interrupted: repacked", buf && jobmeter__v1__batch__pack(b, buf) == n);
	CHECK_INT("409 interrupted: copy stored as 6", buf ? jm_spool_put(sp, copy, buf, n) : -1, 0);
	CHECK_INT("409 interrupted: copy is seq 6", copy, PRIOR_MAX + 1);

	sh = case_open(&s, sp, &cfg, "409 interrupted");
	if (!sh)
		goto out;
	CHECK_INT("409 interrupted: 2 delivered", wait_stat(sh, ST_SENT, 2, 5000), 2);
	usleep(100000);                                     /* nothing more comes */
	jm_ship_stats(sh, &st);
	CHECK_INT("409 interrupted: only seq 2 renumbered", st.renumbered, 1);
	CHECK_INT("409 interrupted: none rejected", st.rejected_4xx, 0);
	CHECK_INT("409 interrupted: 2 sent, not 3", st.sent, 2);
	jm_ship_close(sh, 1000);
	srv_seen(&s, &w);
	pthread_mutex_lock(&s.lock);
	CHECK("409 interrupted: stored as 6 (the first batch) and 7 (the second)",
	      w.n_accepted == 2 && w.accepted[0] == 6 && w.accepted[1] == 7 &&
	      s.accepted_ws[0] == ws1 && s.accepted_ws[1] == ws1 + 1000000000);
	pthread_mutex_unlock(&s.lock);
	CHECK_INT("409 interrupted: said so", log_count("batch seq 1 was renumbered to 6 before"), 1);
	jm_spool_depth(sp, &st.spool_depth, NULL);
	CHECK_INT("409 interrupted: spool empty", st.spool_depth, 0);
out:
	if (b)
		jobmeter__v1__batch__free_unpacked(b, NULL);
	free(old);
	free(buf);
	jm_spool_close(sp);
	srv_stop(&s);
}

/* chattr +i / -i: the one way to make unlink fail for root. */
static int set_immutable(const char *path, bool on)
{
	int fd = open(path, O_RDONLY), flags = 0, r = -1;
	if (fd < 0)
		return -1;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
		r = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	close(fd);
	return r;
}

/* The refused copy cannot be removed after its renumbering (seq 1 is
 * immutable for a while): both copies stay spooled, and the old one's
 * next conflicts must find the new one, not renumber it again. */
static void test_409_renumber_unremovable(void)
{
	struct srv s;
	struct seen w;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct jm_ship_stats st;
	char p[800];
	bool locked = false;
	int dropped_before = log_count("batch seq 1 was renumbered to 6 before: its old copy is dropped");

	struct jm_spool *sp = case_start(&s, MODE_409_MAX, "409 unremovable", "s409u", 3);
	if (!sp || !s.d)
		goto out;
	snprintf(p, sizeof(p), "%s/s409u/00000000000000000001.batch", tmp_root);
	locked = set_immutable(p, true) == 0;
	CHECK("409 unremovable: seq 1 made immutable", locked);
	sh = case_open(&s, sp, &cfg, "409 unremovable");
	if (!sh)
		goto out;
	CHECK_INT("409 unremovable: seq 1 renumbered", wait_stat(sh, ST_RENUMBERED, 1, 5000), 1);
	usleep(300000);                 /* its old copy conflicts again, a few times */
	jm_ship_stats(sh, &st);
	CHECK_INT("409 unremovable: not renumbered again while stuck", st.renumbered, 1);
	CHECK_INT("409 unremovable: nothing sent meanwhile", st.sent, 0);
	CHECK("409 unremovable: the stuck removal said so",
	      log_count("batch seq 1 renumbered to 6 but the old copy cannot be removed yet") == 1);
	CHECK_INT("409 unremovable: removable again", set_immutable(p, false), 0);
	locked = false;
	CHECK_INT("409 unremovable: all 3 delivered", wait_stat(sh, ST_SENT, 3, 5000), 3);
	usleep(100000);                                     /* nothing more comes */
	jm_ship_stats(sh, &st);
	CHECK_INT("409 unremovable: 3 renumbered, not 4", st.renumbered, 3);
	CHECK_INT("409 unremovable: 3 sent, not 4", st.sent, 3);
	jm_ship_close(sh, 1000);
	srv_seen(&s, &w);
	pthread_mutex_lock(&s.lock);
	CHECK("409 unremovable: stored as 6, 7, 8, each once",
	      w.n_accepted == 3 && w.accepted[0] == 6 && w.accepted[1] == 7 && w.accepted[2] == 8 &&
	      s.accepted_ws[1] == s.accepted_ws[0] + 1000000000 &&
	      s.accepted_ws[2] == s.accepted_ws[0] + 2000000000);
	pthread_mutex_unlock(&s.lock);
	CHECK_INT("409 unremovable: the old copy dropped once removable",
		  log_count("batch seq 1 was renumbered to 6 before: its old copy is dropped") -
		  dropped_before, 1);
out:
	if (locked)
		(void)set_immutable(p, false);
	jm_spool_close(sp);
	srv_stop(&s);
}

static void test_400(void)
{
	struct srv s;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct seen w;
	char p[800];
	struct jm_spool *sp = case_start(&s, MODE_400, "400", "s400", 2);
	if (!sp || !s.d)
		goto out;
	sh = case_open(&s, sp, &cfg, "400");
	if (!sh)
		goto out;
	CHECK_INT("400: both rejected", wait_stat(sh, ST_REJECTED, 2, 5000), 2);
	usleep(150000);   /* room for a (wrong) retry to show up */
	srv_seen(&s, &w);
	CHECK_INT("400: not retried (one request per batch)", w.requests, 2);
	struct jm_ship_stats st;
	jm_ship_stats(sh, &st);
	CHECK_INT("400: no retries counted", st.retries, 0);
	CHECK_INT("400: nothing counted as sent", st.sent, 0);
	CHECK_INT("400: spool empty", st.spool_depth, 0);
	CHECK_INT("400: last status", st.last_http_status, 400);
	CHECK("400: last error has status and body head",
	      strstr(st.last_error, "HTTP 400: schema mismatch") != NULL);
	CHECK("400: echoed token redacted from last error", strstr(st.last_error, TOKEN) == NULL);
	snprintf(p, sizeof(p), "%s/s400/rejected/00000000000000000001.batch", tmp_root);
	struct stat sb;
	CHECK("400: batch 1 kept in rejected/", stat(p, &sb) == 0 && sb.st_size > 0);
	snprintf(p, sizeof(p), "%s/s400/rejected/00000000000000000002.batch", tmp_root);
	CHECK("400: batch 2 kept in rejected/", stat(p, &sb) == 0);
	jm_ship_close(sh, 1000);
	CHECK_INT("400: each rejection logged once with status",
		  log_count("rejected, not retried: collector answered HTTP 400: schema mismatch"), 2);
out:
	jm_spool_close(sp);
	srv_stop(&s);
}

/* A batch made while the agent's clock was far ahead (2150) and corrected
 * since: the collector answers 425 for it, and it ends far beyond the
 * agent's clock too.  Retried like any 425, it held every later batch
 * behind it (seq order) until the spool overflowed; it is refused instead
 * and the later ones go.  A 425 for a batch the agent's clock agrees with
 * (the collector's clock behind) stays a retry. */
static void test_425(void)
{
	struct srv s;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct jm_ship_stats st;
	struct seen w;
	char p[800];
	struct stat sb;
	struct jm_spool *sp = case_start(&s, MODE_425, "425", "s425", 0);

	if (!sp || !s.d)
		goto out;
	CHECK_INT("425: batch 1 from a clock in 2150 spooled",
		  spool_batch_at(sp, INT64_C(5680000000000000000)), 0);
	CHECK_INT("425: batches 2..3 spooled", spool_n(sp, 2), 0);
	sh = case_open(&s, sp, &cfg, "425");
	if (!sh)
		goto out;
	CHECK_INT("425: the later batches delivered", wait_stat(sh, ST_SENT, 2, 5000), 2);
	jm_ship_stats(sh, &st);
	CHECK_INT("425: the batch from 2150 refused", st.rejected_4xx, 1);
	CHECK_INT("425: spool empty", st.spool_depth, 0);
	srv_seen(&s, &w);
	CHECK("425: 2 and 3 stored, in order",
	      w.n_accepted == 2 && w.accepted[0] == 2 && w.accepted[1] == 3);
	CHECK_INT("425: the batch from 2150 asked for once", w.requests, 3);
	snprintf(p, sizeof(p), "%s/s425/rejected/00000000000000000001.batch", tmp_root);
	CHECK("425: the batch from 2150 kept in rejected/", stat(p, &sb) == 0);
	jm_ship_close(sh, 1000);
	sh = NULL;
	CHECK_INT("425: refusal logged with the reason",
		  log_count("batch seq 1 rejected, not retried: batch ends "), 1);
out:
	jm_ship_close(sh, 0);
	jm_spool_close(sp);
	srv_stop(&s);

	sp = case_start(&s, MODE_425_ONCE, "425 once", "s425once", 2);
	sh = NULL;
	if (!sp || !s.d)
		goto out2;
	sh = case_open(&s, sp, &cfg, "425 once");
	if (!sh)
		goto out2;
	CHECK_INT("425 once: both delivered after a retry", wait_stat(sh, ST_SENT, 2, 5000), 2);
	jm_ship_stats(sh, &st);
	CHECK_INT("425 once: nothing refused", st.rejected_4xx, 0);
	CHECK("425 once: retried", st.retries >= 1);
	srv_seen(&s, &w);
	CHECK("425 once: in order", accepted_in_order(&w, 2));
out2:
	jm_ship_close(sh, 1000);
	jm_spool_close(sp);
	srv_stop(&s);
}

/* A batch the collector refuses for a time before 2000 (a clock reset,
 * before NTP) never passes: a run that starts then is refused like one
 * that ends then -- 400, kept in rejected/, counted, asked for once --
 * and the batches behind it go. */
static void test_before_2000(void)
{
	struct srv s;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct jm_ship_stats st;
	struct seen w;
	char p[800];
	struct stat sb;
	const int64_t y1971 = INT64_C(365) * 86400 * 1000000000, now = realtime_ns();
	struct jm_spool *sp = case_start(&s, MODE_CLOCK, "before 2000", "s2000", 0);

	if (!sp || !s.d)
		goto out;
	CHECK_INT("before 2000: batch 1, a run from 1971 to now, spooled",
		  spool_run_at(sp, y1971, now - 1000000000), 0);
	CHECK_INT("before 2000: batch 2, a run in 1971, spooled",
		  spool_run_at(sp, y1971, y1971 + 1000000000), 0);
	CHECK_INT("before 2000: batch 3, a run of now, spooled",
		  spool_run_at(sp, now - 5000000000, now - 1000000000), 0);
	sh = case_open(&s, sp, &cfg, "before 2000");
	if (!sh)
		goto out;
	CHECK_INT("before 2000: batch 3 delivered", wait_stat(sh, ST_SENT, 1, 5000), 1);
	jm_ship_stats(sh, &st);
	CHECK_INT("before 2000: batches 1 and 2 refused", st.rejected_4xx, 2);
	CHECK_INT("before 2000: not retried", st.retries, 0);
	CHECK_INT("before 2000: spool empty", st.spool_depth, 0);
	srv_seen(&s, &w);
	CHECK("before 2000: only 3 stored", w.n_accepted == 1 && w.accepted[0] == 3);
	CHECK_INT("before 2000: each asked for once", w.requests, 3);
	snprintf(p, sizeof(p), "%s/s2000/rejected/00000000000000000001.batch", tmp_root);
	CHECK("before 2000: the run starting in 1971 kept in rejected/", stat(p, &sb) == 0);
	snprintf(p, sizeof(p), "%s/s2000/rejected/00000000000000000002.batch", tmp_root);
	CHECK("before 2000: the run ending in 1971 kept in rejected/", stat(p, &sb) == 0);
	jm_ship_close(sh, 1000);
	sh = NULL;
	CHECK_INT("before 2000: the start refusal logged with its reason",
		  log_count("batch seq 1 rejected, not retried: collector answered HTTP 400: "
			    "{\"status\":\"rejected\",\"reason\":\"a run starts before 2000"), 1);
	CHECK_INT("before 2000: the end refusal logged with its reason",
		  log_count("batch seq 2 rejected, not retried: collector answered HTTP 400: "
			    "{\"status\":\"rejected\",\"reason\":\"a run ends before 2000"), 1);
out:
	jm_ship_close(sh, 0);
	jm_spool_close(sp);
	srv_stop(&s);
}

/* The 425 guard alone (jm_ship_ahead_of_own_clock_s): what test_425 does
 * through a server, at the edges, and the agent clock before 2000 that
 * must not judge (057ca55). */
static void test_ahead_of_own_clock(void)
{
	const int64_t s = 1000000000, day = 86400 * s;
	const int64_t now = INT64_C(1795795533) * s;             /* 2026-11-27 */
	const int64_t y2000 = INT64_C(946684800) * s;            /* 2000-01-01 */

	CHECK_INT("own clock: a batch 2 days ahead of a sane clock refused",
		  jm_ship_ahead_of_own_clock_s(now + 2 * day, now), 2 * 86400);
	CHECK_INT("own clock: ... 1 day + 1 s ahead refused",
		  jm_ship_ahead_of_own_clock_s(now + day + s, now), 86401);
	CHECK_INT("own clock: ... from 2150 refused",
		  jm_ship_ahead_of_own_clock_s(INT64_C(5680000000) * s, now) > 0, 1);
	CHECK_INT("own clock: exactly 1 day ahead kept for retry",
		  jm_ship_ahead_of_own_clock_s(now + day, now), 0);
	CHECK_INT("own clock: 2 h ahead (the collector's clock behind) kept",
		  jm_ship_ahead_of_own_clock_s(now + 2 * 3600 * s, now), 0);
	CHECK_INT("own clock: a batch of the past kept",
		  jm_ship_ahead_of_own_clock_s(now - day, now), 0);
	CHECK_INT("own clock: not a Batch (no end) kept",
		  jm_ship_ahead_of_own_clock_s(0, now), 0);
	CHECK_INT("own clock: in 1970 (RTC reset) judges nothing",
		  jm_ship_ahead_of_own_clock_s(now, 3600 * s), 0);
	CHECK_INT("own clock: 1 ns before 2000 judges nothing",
		  jm_ship_ahead_of_own_clock_s(now, y2000 - 1), 0);
	CHECK_INT("own clock: negative (before 1970) judges nothing",
		  jm_ship_ahead_of_own_clock_s(now, -day), 0);
	CHECK_INT("own clock: at 2000-01-01 it judges again",
		  jm_ship_ahead_of_own_clock_s(y2000 + 2 * day, y2000), 2 * 86400);
}

static void test_down_then_up(void)
{
	struct srv s;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct seen w;
	struct jm_ship_opts o = { .base_ms = 20, .cap_ms = 80 };
	srv_init(&s, MODE_OK);
	/* Learn a free port, then close it: connections are refused. */
	CHECK_INT("down/up: probe server", srv_start(&s, 0, NULL, NULL), 0);
	uint16_t port = s.port;
	srv_stop(&s);
	struct jm_spool *sp = spool_in("downup");
	if (!sp || !port)
		goto out;
	CHECK_INT("down/up: 3 batches spooled", spool_n(sp, 3), 0);
	make_cfg(&cfg, "http", port, token_file, NULL);
	CHECK_INT("down/up: open", jm_ship_open_opts(&sh, &cfg, sp, &o), 0);
	if (!sh)
		goto out;
	CHECK("down/up: refused connections are retried", wait_stat(sh, ST_RETRIES, 3, 3000) >= 3);
	struct jm_ship_stats st;
	jm_ship_stats(sh, &st);
	CHECK_INT("down/up: nothing lost while down", st.spool_depth, 3);
	CHECK("down/up: last error names the transport failure",
	      strstr(st.last_error, "collector request failed") != NULL);
	CHECK_INT("down/up: server back on the same port", srv_start(&s, port, NULL, NULL), 0);
	CHECK_INT("down/up: all 3 delivered", wait_stat(sh, ST_SENT, 3, 3000), 3);
	srv_seen(&s, &w);
	CHECK("down/up: delivered once each, in order", accepted_in_order(&w, 3));
	CHECK_STR("down/up: requests valid", w.invalid ? w.why : "valid", "valid");
	jm_ship_close(sh, 1000);
	CHECK("down/up: failure logged once, not per retry",
	      log_count("collector request failed") == 1);
out:
	jm_spool_close(sp);
	srv_stop(&s);
}

/* Wait until the held first request is in the server; false on timeout. */
static bool srv_wait_holding(struct srv *s, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		bool h = s->holding;
		pthread_mutex_unlock(&s->lock);
		if (h || now_ns() >= deadline)
			return h;
		usleep(1000);
	}
}

static void srv_open_gate(struct srv *s)
{
	pthread_mutex_lock(&s->lock);
	s->gate = true;
	pthread_mutex_unlock(&s->lock);
}

/* The spool is full while the shipper is sending its oldest batch: the
 * spool deletes that batch for space while it is on the wire.  What counts
 * as lost (jm_spool_dropped, the agent's loss.spool_dropped_batches) must
 * be what the collector never got, exactly: a batch delivered by that very
 * send is not lost (answer 200), one whose send fails is (answer 503: the
 * spool has no copy left to retry), and it counts once. */
static void drop_in_flight(enum srv_mode m, const char *tag, const char *dir)
{
	struct srv s;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct jm_spool *sp = NULL;
	struct seen w;
	char path[600], name[200];
	uint64_t one = 0;
	bool delivered = m == MODE_HOLD_200;

	srv_init(&s, m);
	snprintf(name, sizeof(name), "%s: server up", tag);
	CHECK_INT(name, srv_start(&s, 0, NULL, NULL), 0);
	/* The size of one batch, from a spool that is thrown away. */
	snprintf(path, sizeof(path), "%s/%s-probe", tmp_root, dir);
	if (jm_spool_open(&sp, path, 1u << 20) || spool_batch(sp))
		goto out;
	jm_spool_depth(sp, NULL, &one);
	jm_spool_close(sp);
	sp = NULL;
	/* Room for two batches (they are all of one size, give or take). */
	snprintf(path, sizeof(path), "%s/%s", tmp_root, dir);
	snprintf(name, sizeof(name), "%s: spool of 2.5 batches (%" PRIu64 " bytes each)", tag, one);
	CHECK_INT(name, one > 0 ? jm_spool_open(&sp, path, one * 5 / 2) : -1, 0);
	if (!sp || !s.d)
		goto out;
	snprintf(name, sizeof(name), "%s: seq 1 spooled", tag);
	CHECK_INT(name, spool_batch(sp), 0);
	sh = case_open(&s, sp, &cfg, tag);
	if (!sh)
		goto out;
	snprintf(name, sizeof(name), "%s: seq 1 is on the wire (held by the collector)", tag);
	CHECK(name, srv_wait_holding(&s, 3000));
	/* Seq 2 fits; seq 3 does not: the oldest, seq 1, is deleted for space. */
	snprintf(name, sizeof(name), "%s: seq 2 and 3 spooled meanwhile", tag);
	CHECK_INT(name, spool_n(sp, 2), 0);
	uint64_t depth = 0;
	jm_spool_depth(sp, &depth, NULL);
	snprintf(name, sizeof(name), "%s: the spool holds 2 batches (seq 1 deleted for space)", tag);
	CHECK_INT(name, depth, 2);
	srv_open_gate(&s);
	snprintf(name, sizeof(name), "%s: every batch it still has sent", tag);
	CHECK_INT(name, wait_stat(sh, ST_SENT, delivered ? 3 : 2, 5000), delivered ? 3 : 2);
	jm_ship_close(sh, 1000);
	sh = NULL;
	srv_seen(&s, &w);
	if (delivered) {
		snprintf(name, sizeof(name), "%s: the collector got seq 1, 2, 3 once each", tag);
		CHECK(name, accepted_in_order(&w, 3));
	} else {
		snprintf(name, sizeof(name), "%s: the collector got seq 2 and 3 only", tag);
		CHECK(name, w.n_accepted == 2 && w.accepted[0] == 2 && w.accepted[1] == 2 + 1);
	}
	snprintf(name, sizeof(name), "%s: batches counted as dropped = batches the collector never got",
		 tag);
	CHECK_INT(name, jm_spool_dropped(sp), delivered ? 0 : 1);
out:
	if (sh)
		jm_ship_close(sh, 0);
	jm_spool_close(sp);
	srv_stop(&s);
}

static void test_drop_in_flight(void)
{
	drop_in_flight(MODE_HOLD_200, "dropped in flight, delivered", "inflight200");
	drop_in_flight(MODE_HOLD_503, "dropped in flight, send failed", "inflight503");
}

static void test_drain(void)
{
	struct srv s;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct seen w;
	/* Long backoff: after the first refusal the sender sleeps ~seconds. */
	struct jm_ship_opts o = { .base_ms = 8000, .cap_ms = 8000 };
	srv_init(&s, MODE_OK);
	CHECK_INT("drain: probe server", srv_start(&s, 0, NULL, NULL), 0);
	uint16_t port = s.port;
	srv_stop(&s);
	struct jm_spool *sp = spool_in("drain");
	if (!sp || !port)
		goto out;
	CHECK_INT("drain: 4 batches spooled", spool_n(sp, 4), 0);
	make_cfg(&cfg, "http", port, token_file, NULL);
	CHECK_INT("drain: open", jm_ship_open_opts(&sh, &cfg, sp, &o), 0);
	if (!sh)
		goto out;
	CHECK("drain: first attempt failed", wait_stat(sh, ST_RETRIES, 1, 3000) >= 1);
	/* Make sure the first-attempt jitter is not what sends it. */
	usleep(50000);
	CHECK_INT("drain: collector back", srv_start(&s, port, NULL, NULL), 0);
	uint64_t t0 = now_ns();
	jm_ship_close(sh, 3000);
	uint64_t took = now_ns() - t0;
	srv_seen(&s, &w);
	CHECK("drain: close cut the backoff short and delivered everything",
	      accepted_in_order(&w, 4));
	CHECK("drain: close returned once drained (< 2 s)", took < 2000000000ull);
	uint64_t depth = 9;
	jm_spool_depth(sp, &depth, NULL);
	CHECK_INT("drain: spool empty after drain", depth, 0);
	srv_stop(&s);

	/* Collector down for good: close gives up at the deadline and keeps
	 * the batches for the next start. */
	CHECK_INT("drain: 2 more spooled", spool_n(sp, 2), 0);
	sh = NULL;
	struct jm_ship_opts fast = { .base_ms = 20, .cap_ms = 40 };
	CHECK_INT("drain: reopen against a dead collector", jm_ship_open_opts(&sh, &cfg, sp, &fast), 0);
	if (!sh)
		goto out;
	usleep(50000);
	t0 = now_ns();
	jm_ship_close(sh, 300);
	took = now_ns() - t0;
	CHECK("drain: close honours drain_ms (0.25..1.5 s)",
	      took >= 250000000ull && took < 1500000000ull);
	jm_spool_depth(sp, &depth, NULL);
	CHECK_INT("drain: unsent batches stay spooled", depth, 2);
	CHECK_INT("drain: leftover logged", log_count("stopped with 2 batch(es) left"), 1);
out:
	jm_spool_close(sp);
	srv_stop(&s);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = calloc(1, 16384);
	if (buf && fread(buf, 1, 16383, f) == 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static int make_cert(const char *name)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
		 "-subj /CN=jobmeter-test-%s -addext subjectAltName=IP:127.0.0.1 "
		 "-keyout '%s/%s.key' -out '%s/%s.pem' >/dev/null 2>&1",
		 name, tmp_root, name, tmp_root, name);
	return system(cmd);
}

static void test_tls(void)
{
	struct srv s;
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	struct seen w;
	struct jm_ship_opts o = { .base_ms = 20, .cap_ms = 40 };
	char key_p[700], cert_p[700], other_p[700];
	char *key = NULL, *cert = NULL;
	struct jm_spool *sp = NULL;
	srv_init(&s, MODE_OK);

	CHECK_INT("tls: server certificate generated (openssl)", make_cert("good"), 0);
	CHECK_INT("tls: unrelated CA generated (openssl)", make_cert("other"), 0);
	snprintf(key_p, sizeof(key_p), "%s/good.key", tmp_root);
	snprintf(cert_p, sizeof(cert_p), "%s/good.pem", tmp_root);
	snprintf(other_p, sizeof(other_p), "%s/other.pem", tmp_root);
	key = slurp(key_p);
	cert = slurp(cert_p);
	if (!key || !cert)
		goto out;
	CHECK_INT("tls: https server up", srv_start(&s, 0, key, cert), 0);
	sp = spool_in("tls");
	if (!sp || !s.d)
		goto out;
	CHECK_INT("tls: 1 batch spooled", spool_n(sp, 1), 0);

	make_cfg(&cfg, "https", s.port, token_file, other_p);
	CHECK_INT("tls: open with the wrong CA", jm_ship_open_opts(&sh, &cfg, sp, &o), 0);
	if (!sh)
		goto out;
	CHECK("tls: verification failure retried", wait_stat(sh, ST_RETRIES, 2, 3000) >= 2);
	struct jm_ship_stats st;
	jm_ship_stats(sh, &st);
	jm_ship_close(sh, 0);
	sh = NULL;
	static const char tls_prefix[] = "collector TLS verification failed: ";
	CHECK("tls: clear error text",
	      strncmp(st.last_error, tls_prefix, sizeof(tls_prefix) - 1) == 0 &&
	      strlen(st.last_error) > sizeof(tls_prefix) + 5);
	CHECK_INT("tls: batch stays spooled", st.spool_depth, 1);
	CHECK_INT("tls: logged once", log_count("collector TLS verification failed: "), 1);
	srv_seen(&s, &w);
	CHECK_INT("tls: nothing got through", w.n_accepted, 0);

	make_cfg(&cfg, "https", s.port, token_file, cert_p);
	CHECK_INT("tls: open with the right CA", jm_ship_open_opts(&sh, &cfg, sp, &o), 0);
	if (!sh)
		goto out;
	CHECK_INT("tls: delivered over TLS", wait_stat(sh, ST_SENT, 1, 3000), 1);
	srv_seen(&s, &w);
	CHECK("tls: exactly once", accepted_in_order(&w, 1));
	CHECK_STR("tls: request valid", w.invalid ? w.why : "valid", "valid");
	jm_ship_close(sh, 1000);
out:
	free(key);
	free(cert);
	jm_spool_close(sp);
	srv_stop(&s);
}

static void test_open_errors(void)
{
	struct jm_config cfg;
	struct jm_shipper *sh = NULL;
	char p[700];
	struct jm_spool *sp = spool_in("openerr");
	if (!sp) {
		CHECK("open errors: spool", 0);
		return;
	}
	snprintf(p, sizeof(p), "%s/no-such-token", tmp_root);
	make_cfg(&cfg, "http", 9, p, NULL);
	CHECK_INT("open: unreadable token file refused", jm_ship_open(&sh, &cfg, sp), -ENOENT);
	CHECK("open: ... and nothing returned", sh == NULL);
	CHECK("open: ... logged with the file name",
	      log_count("cannot read collector token file") == 1 && log_count("no-such-token") == 1);

	snprintf(p, sizeof(p), "%s/empty-token", tmp_root);
	write_text(p, "\n");
	make_cfg(&cfg, "http", 9, p, NULL);
	CHECK_INT("open: empty token refused", jm_ship_open(&sh, &cfg, sp), -EINVAL);
	snprintf(p, sizeof(p), "%s/bad-token", tmp_root);
	write_text(p, "abc\r\nX-Injected: 1\n");
	make_cfg(&cfg, "http", 9, p, NULL);
	CHECK_INT("open: token with CR/LF refused", jm_ship_open(&sh, &cfg, sp), -EINVAL);
	make_cfg(&cfg, "http", 9, token_file, NULL);
	cfg.collector_url[0] = '\0';
	CHECK_INT("open: no URL refused", jm_ship_open(&sh, &cfg, sp), -EINVAL);
	jm_ship_kick(NULL);
	jm_ship_close(NULL, 100);
	CHECK("open: kick/close accept NULL (no collector configured)", 1);
	jm_spool_close(sp);
}

int main(void)
{
	if (!mkdtemp(tmp_root)) {
		printf("FAIL mkdtemp\n");
		return 1;
	}
	snprintf(token_file, sizeof(token_file), "%s/token", tmp_root);
	snprintf(log_path, sizeof(log_path), "%s/stderr.log", tmp_root);
	if (write_text(token_file, TOKEN "\n") != 0 || chmod(token_file, 0600) != 0) {
		printf("FAIL token file\n");
		return 1;
	}
	/* Everything the shipper logs lands in log_path. */
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (saved < 0 || fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
		printf("FAIL redirect stderr\n");
		return 1;
	}
	close(fd);

	uint64_t t0 = now_ns();
	test_stream();
	test_503_then_200();
	test_200_not_collector();
	test_400();
	test_409();
	test_409_renumber();
	test_409_renumber_interrupted();
	test_409_renumber_unremovable();
	test_425();
	test_ahead_of_own_clock();
	test_before_2000();
	test_down_then_up();
	test_drain();
	test_drop_in_flight();
	test_tls();
	test_open_errors();

	CHECK_INT("the bearer token never appears in the log", log_count(TOKEN), 0);
	CHECK_INT("a token prefix never appears in the log", log_count("s3cr3t-T0ken"), 0);
	CHECK("log lines carry the ship prefix", log_count(": ship: ") > 5);
	CHECK("all ship tests take < 10 s", now_ns() - t0 < 10000000000ull);

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	if (system(cmd) != 0)
		printf("note: could not remove %s\n", tmp_root);
	TEST_EXIT();
}
