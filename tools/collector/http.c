/* HTTP front of the collector: see http.h. */
#include "tools/collector/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"
#include "tools/collector/auth.h"
#include "tools/collector/body.h"
#include "tools/collector/ingest.h"

/* A refused upload is read and thrown away (so the client sees the answer
 * instead of a reset connection) for at most this much beyond max_body. */
#define DISCARD_SLACK (1u << 20)
/* All decodes in progress together may use this much memory (each one is
 * bounded by jm_coll_decode_budget); beyond it a batch waits (503).  With
 * the body buffers of the ingest slots this keeps the collector far below
 * the 1 GiB its systemd unit allows. */
#define DECODE_MEM_MAX ((size_t)384 << 20)
/* All request bodies being received together may use this much (each one
 * is bounded by --max-decompressed): with DECODE_MEM_MAX the collector
 * stays below the 1 GiB its systemd unit allows, however many ingest
 * slots --max-ingest opens. */
#define BODY_MEM_MAX ((size_t)256 << 20)
/* libmicrohttpd logs every request it refuses or loses on its own
 * (malformed or oversized headers, the connection limit, a client gone
 * mid-request, a failed TLS handshake): a line per connection, which any
 * client that can connect could turn into gigabytes of log.  Each one is
 * counted (jobmeter_collector_http_errors_total); at most MHD_LOG_BURST
 * lines are written per MHD_LOG_WINDOW_S, then one line says how many were
 * left out. */
#define MHD_LOG_BURST    10u
#define MHD_LOG_WINDOW_S 60.0

struct jm_coll_server {
	struct MHD_Daemon *daemon;
	int listen_fd;
	struct jm_coll_http_config cfg;
	struct jm_coll_store *store;
	struct jm_coll_writer *writer;
	struct jm_coll_metrics *metrics;
	struct jm_coll_body_budget body_mem;   /* shared by all request bodies */
	int active_requests;          /* atomic: requests not yet completed */
	int ingest_in_flight;         /* atomic: ingest slots taken */
	size_t decode_mem;            /* atomic: decode budgets reserved */
	char address[80];
	pthread_mutex_t log_lock;     /* guards the three below */
	double log_window_t0;         /* CLOCK_MONOTONIC s when the window began */
	unsigned log_lines;           /* libmicrohttpd lines written in it */
	uint64_t log_left_out;        /* and left out */
};

struct req {
	enum jm_coll_handler handler;
	struct timespec t0;
	bool slot;                    /* holds an ingest slot */
	bool announced;               /* announced to the writer (writer.h) */
	bool body_ready;              /* body initialised (jm_coll_body_free owed) */
	bool discarding;              /* refusal decided: drain the upload */
	bool responded;               /* a response is queued: ignore later calls */
	size_t discarded;
	size_t received_before_refusal;   /* body bytes taken before it was freed */
	unsigned status;              /* refusal status, 0 = none */
	enum jm_coll_reject reject;
	char reason[256];
	struct jm_coll_body body;
};

static double elapsed_s(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* ---- responses ------------------------------------------------------- */

static void json_escape(char *dst, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s && n + 7 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			dst[n++] = '\\';
			dst[n++] = (char)ch;
		} else if (ch < 0x20) {
			n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", ch);
		} else {
			dst[n++] = (char)ch;
		}
	}
	dst[n] = '\0';
}

/* close: "Connection: close", for an answer after which nothing more on the
 * connection may be read (the request's framing is in doubt). */
static enum MHD_Result send_text_ex(struct MHD_Connection *c, unsigned status, const char *ctype,
				    const char *body, size_t len, bool retry_after, bool www_auth,
				    const char *allow, bool close)
{
	struct MHD_Response *r;
	enum MHD_Result ok;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (retry_after)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
	if (www_auth)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"jobmeter\"");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	if (close)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *ctype,
				 const char *body, size_t len, bool retry_after, bool www_auth,
				 const char *allow)
{
	return send_text_ex(c, status, ctype, body, len, retry_after, www_auth, allow, false);
}

static enum MHD_Result send_status_ex(struct MHD_Connection *c, unsigned status, const char *word,
				      const char *reason, bool retry_after, bool www_auth,
				      const char *allow, bool close)
{
	char esc[600], body[700];
	int n;

	if (reason && *reason) {
		json_escape(esc, sizeof(esc), reason);
		n = snprintf(body, sizeof(body), "{\"status\":\"%s\",\"reason\":\"%s\"}\n", word, esc);
	} else {
		n = snprintf(body, sizeof(body), "{\"status\":\"%s\"}\n", word);
	}
	if (n < 0)
		return MHD_NO;
	return send_text_ex(c, status, "application/json", body,
			    (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1,
			    retry_after, www_auth, allow, close);
}

static enum MHD_Result send_status(struct MHD_Connection *c, unsigned status, const char *word,
				   const char *reason, bool retry_after, bool www_auth, const char *allow)
{
	return send_status_ex(c, status, word, reason, retry_after, www_auth, allow, false);
}

static enum MHD_Result send_reject(struct jm_coll_server *srv, struct MHD_Connection *c,
				   struct req *rq)
{
	jm_coll_metrics_reject(srv->metrics, rq->reject);
	return send_status_ex(c, rq->status, "rejected", rq->reason,
			      rq->status == MHD_HTTP_SERVICE_UNAVAILABLE,
			      rq->status == MHD_HTTP_UNAUTHORIZED,
			      rq->reject == JM_REJ_METHOD ? "POST" : NULL,
			      rq->reject == JM_REJ_INVALID_FRAMING);
}

/* 409 for a reused seq: the refusal plus the highest seq stored for the
 * agent_id, so that the agent can renumber past it instead of losing every
 * batch up to it (ship.h).  The field comes right after "status": agents keep
 * only the head of a body and the reason may be long.  Old agents ignore it. */
static enum MHD_Result send_conflict(struct jm_coll_server *srv, struct MHD_Connection *c,
				     struct req *rq, uint64_t stored_max_seq)
{
	char esc[600], body[700];
	int n;

	jm_coll_metrics_reject(srv->metrics, rq->reject);
	json_escape(esc, sizeof(esc), rq->reason);
	n = snprintf(body, sizeof(body),
		     "{\"status\":\"rejected\",\"stored_max_seq\":%llu,\"reason\":\"%s\"}\n",
		     (unsigned long long)stored_max_seq, esc);
	if (n < 0)
		return MHD_NO;
	return send_text(c, rq->status, "application/json", body,
			 (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1, false, false, NULL);
}

static void set_reject(struct req *rq, unsigned status, enum jm_coll_reject why, const char *reason)
{
	if (rq->status)
		return;   /* the first refusal is the one reported */
	rq->status = status;
	rq->reject = why;
	snprintf(rq->reason, sizeof(rq->reason), "%s", reason);
}

/* ---- ingest ---------------------------------------------------------- */

static bool media_type_ok(const char *ct)
{
	static const char want[] = "application/x-protobuf";
	size_t n = sizeof(want) - 1;

	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';   /* parameters are allowed */
}

/* Returns 1 for gzip, 0 for identity, -1 for anything else. */
static int encoding_kind(const char *ce)
{
	if (!ce || !*ce || strcasecmp(ce, "identity") == 0)
		return 0;
	if (strcasecmp(ce, "gzip") == 0 || strcasecmp(ce, "x-gzip") == 0)
		return 1;
	return -1;
}

/* ---- request framing ------------------------------------------------- */

struct cl_scan {
	const char *first;            /* value of the first Content-Length */
	size_t first_len;
	unsigned n;                   /* Content-Length headers seen */
	bool differ;                  /* one differs from the first */
};

static enum MHD_Result scan_content_length(void *cls, enum MHD_ValueKind kind, const char *key,
					   size_t key_size, const char *value, size_t value_size)
{
	static const char name[] = MHD_HTTP_HEADER_CONTENT_LENGTH;
	struct cl_scan *sc = cls;

	(void)kind;
	if (key_size != sizeof(name) - 1 || strncasecmp(key, name, key_size) != 0)
		return MHD_YES;
	if (sc->n++ == 0) {
		sc->first = value;
		sc->first_len = value_size;
	} else if (value_size != sc->first_len || (value_size && memcmp(value, sc->first, value_size))) {
		sc->differ = true;
	}
	return MHD_YES;
}

/* Why the request's body length is in doubt, or NULL.
 *
 * Two Content-Length headers with different values make the message
 * invalid (RFC 9112 6.3, RFC 9110 8.6): libmicrohttpd (0.9.75) reads the
 * body by the first and parses the rest as the next request on the
 * connection, where a proxy in front that went by the last one sees a
 * single request -- the request-smuggling shape.  Transfer-Encoding with a
 * Content-Length is the other shape (RFC 9112 6.1): libmicrohttpd goes by
 * the chunked encoding, a proxy may go by the length, and the RFC says the
 * server MUST close the connection after answering -- libmicrohttpd kept
 * it open and answered the request that followed the last chunk.
 *
 * Such a request is refused before any of its body is read: 400 with
 * "Connection: close", queued on the first call, so libmicrohttpd discards
 * the unread bytes and closes the connection after the answer instead of
 * parsing them as a request.  Repeated identical Content-Length values are
 * accepted (RFC 9110 8.6 allows treating them as one: the body's length is
 * not in doubt).  A comma-separated list in one header ("5, 5") is refused
 * by libmicrohttpd itself (400, counted in _http_errors_total). */
static const char *framing_problem(struct MHD_Connection *c)
{
	struct cl_scan sc = { 0 };

	MHD_get_connection_values_n(c, MHD_HEADER_KIND, scan_content_length, &sc);
	if (sc.differ)
		return "Content-Length headers with different values (RFC 9112 6.3); connection closed";
	if (sc.n && header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		return "Transfer-Encoding together with Content-Length (RFC 9112 6.1); connection closed";
	return NULL;
}

/* A refusal known before the body: answer at once when the client waits
 * for "100 Continue" (it will not send the body) or when the body is too big
 * to drain; otherwise drain the body first, so that the client is not
 * reset while still sending and actually reads the status. */
static enum MHD_Result refuse_early(struct jm_coll_server *srv, struct MHD_Connection *c,
				    struct req *rq, unsigned status, enum jm_coll_reject why,
				    const char *reason)
{
	const char *expect = header(c, MHD_HTTP_HEADER_EXPECT);
	const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;

	set_reject(rq, status, why, reason);
	if ((expect && strcasestr(expect, "100-continue")) || (!te && len == 0) ||
	    len > srv->cfg.max_body + DISCARD_SLACK) {
		rq->responded = true;
		return send_reject(srv, c, rq);
	}
	rq->discarding = true;
	return MHD_YES;
}

static enum MHD_Result ingest_begin(struct jm_coll_server *srv, struct MHD_Connection *c,
				    struct req *rq)
{
	const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
	int gz;

	if (srv->cfg.token &&
	    !jm_coll_bearer_ok(header(c, MHD_HTTP_HEADER_AUTHORIZATION), srv->cfg.token, srv->cfg.token_len))
		return refuse_early(srv, c, rq, MHD_HTTP_UNAUTHORIZED, JM_REJ_UNAUTHORIZED,
				    header(c, MHD_HTTP_HEADER_AUTHORIZATION) ? "invalid bearer token"
									      : "missing bearer token");
	if (!media_type_ok(header(c, MHD_HTTP_HEADER_CONTENT_TYPE)))
		return refuse_early(srv, c, rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, JM_REJ_MEDIA_TYPE,
				    "content type must be application/x-protobuf");
	gz = encoding_kind(header(c, MHD_HTTP_HEADER_CONTENT_ENCODING));
	if (gz < 0)
		return refuse_early(srv, c, rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, JM_REJ_ENCODING,
				    "content encoding must be gzip or identity");
	if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body)
		return refuse_early(srv, c, rq, MHD_HTTP_CONTENT_TOO_LARGE, JM_REJ_BODY_TOO_LARGE,
				    "body too large");
	if ((unsigned)__atomic_add_fetch(&srv->ingest_in_flight, 1, __ATOMIC_ACQ_REL) > srv->cfg.max_ingest) {
		__atomic_sub_fetch(&srv->ingest_in_flight, 1, __ATOMIC_ACQ_REL);
		return refuse_early(srv, c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, JM_REJ_OVERLOADED,
				    "too many concurrent batches");
	}
	rq->slot = true;
	jm_coll_metrics_in_flight(srv->metrics, 1);
	if (jm_coll_body_init(&rq->body, gz == 1, srv->cfg.max_body, srv->cfg.max_decompressed) != JM_BODY_OK) {
		jm_coll_body_free(&rq->body);
		return refuse_early(srv, c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, JM_REJ_OVERLOADED,
				    "out of memory");
	}
	jm_coll_body_set_budget(&rq->body, &srv->body_mem);
	rq->body_ready = true;
	/* A batch is on its way: the writer may wait a moment for it
	 * rather than commit a group without it. */
	jm_coll_writer_announce(srv->writer);
	rq->announced = true;
	return MHD_YES;
}

static void body_refusal(struct req *rq, enum jm_coll_body_rc rc)
{
	switch (rc) {
	case JM_BODY_OK:
		return;
	case JM_BODY_TOO_LARGE:
		set_reject(rq, MHD_HTTP_CONTENT_TOO_LARGE, JM_REJ_BODY_TOO_LARGE, "body too large");
		break;
	case JM_BODY_INFLATED_TOO_LARGE:
		set_reject(rq, MHD_HTTP_CONTENT_TOO_LARGE, JM_REJ_DECOMPRESSED_TOO_LARGE,
			   "decompressed body too large");
		break;
	case JM_BODY_BAD_GZIP:
		set_reject(rq, MHD_HTTP_BAD_REQUEST, JM_REJ_INVALID_GZIP, "invalid gzip");
		break;
	case JM_BODY_NOMEM:
		set_reject(rq, MHD_HTTP_SERVICE_UNAVAILABLE, JM_REJ_OVERLOADED, "out of memory");
		break;
	case JM_BODY_BUSY:
		set_reject(rq, MHD_HTTP_SERVICE_UNAVAILABLE, JM_REJ_OVERLOADED, "busy receiving other batches");
		break;
	}
	rq->discarding = true;
	/* A refused body is not kept: give its memory back now. */
	rq->received_before_refusal = rq->body.received;
	jm_coll_body_free(&rq->body);
	rq->body_ready = false;
}

/* The batch will not reach the writer (refused, or sent to it). */
static void unannounce(struct jm_coll_server *srv, struct req *rq)
{
	if (!rq->announced)
		return;
	rq->announced = false;
	jm_coll_writer_cancel(srv->writer);
}

static enum MHD_Result ingest_data(struct jm_coll_server *srv, struct req *rq,
				   const char *data, size_t *size)
{
	size_t n = *size;

	*size = 0;
	if (rq->discarding) {
		rq->discarded += n;
		/* Draining has a bound too: past it, drop the connection. */
		return rq->discarded > srv->cfg.max_body + DISCARD_SLACK ? MHD_NO : MHD_YES;
	}
	body_refusal(rq, jm_coll_body_feed(&rq->body, data, n));
	return MHD_YES;
}

static int64_t now_unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool reserve_decode_mem(struct jm_coll_server *srv, size_t need)
{
	size_t cur = __atomic_load_n(&srv->decode_mem, __ATOMIC_ACQUIRE);

	do {
		if (need > DECODE_MEM_MAX || cur > DECODE_MEM_MAX - need)
			return false;
	} while (!__atomic_compare_exchange_n(&srv->decode_mem, &cur, cur + need, false,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	return true;
}

/* Answer a decoded batch: hand it to the writer and wait for the commit
 * that holds it (writer.h). */
static enum MHD_Result ingest_store(struct jm_coll_server *srv, struct MHD_Connection *c,
				    struct req *rq, const Jobmeter__V1__Batch *b, size_t body_len)
{
	struct jm_coll_store_result res;
	char why[256];
	int64_t now = now_unix_ns();

	rq->announced = false;   /* submit takes the announcement over */
	switch (jm_coll_writer_submit(srv->writer, b, now, 1, &res)) {
	case JM_STORE_STORED:
		jm_coll_metrics_stored(srv->metrics, b->agent->agent_id, res.seq_gap,
				       b->n_runs, b->n_windows, body_len, (double)now / 1e9);
		if (res.seq_gap)
			jm_info("agent %s: %llu batch(es) missing before seq %llu", b->agent->agent_id,
				(unsigned long long)res.seq_gap, (unsigned long long)b->seq);
		return send_status(c, MHD_HTTP_OK, "stored", NULL, false, false, NULL);
	case JM_STORE_DUPLICATE:
		jm_coll_metrics_duplicate(srv->metrics, b->agent->agent_id, (double)now / 1e9);
		return send_status(c, MHD_HTTP_OK, "duplicate", NULL, false, false, NULL);
	case JM_STORE_CONFLICT:
		/* Not a retry: answering 200 "duplicate" would make the agent
		 * delete a batch that was never stored.  409 makes it keep the
		 * batch (rejected/) and count it. */
		jm_warn("agent %s boot %s: %s: answering 409 (highest seq stored: %llu)",
			b->agent->agent_id, b->agent->boot_id, res.err,
			(unsigned long long)res.stored_max_seq);
		set_reject(rq, MHD_HTTP_CONFLICT, JM_REJ_SEQ_CONFLICT, res.err);
		return send_conflict(srv, c, rq, res.stored_max_seq);
	case JM_STORE_BUSY:
		/* Back-pressure, not a fault: counted, not logged. */
		set_reject(rq, MHD_HTTP_SERVICE_UNAVAILABLE, JM_REJ_OVERLOADED, res.err);
		return send_reject(srv, c, rq);
	case JM_STORE_RETRY:
		jm_warn("storage unavailable (sqlite %d: %s): answering 503", res.sqlite_code, res.err);
		snprintf(why, sizeof(why), "storage unavailable: %s", res.err);
		set_reject(rq, MHD_HTTP_SERVICE_UNAVAILABLE, JM_REJ_STORAGE, why);
		return send_reject(srv, c, rq);
	case JM_STORE_ERROR:
	default:
		jm_err("storage error (sqlite %d: %s)", res.sqlite_code, res.err);
		set_reject(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, JM_REJ_INTERNAL, "storage error");
		return send_reject(srv, c, rq);
	}
}

static enum MHD_Result ingest_finish(struct jm_coll_server *srv, struct MHD_Connection *c,
				     struct req *rq)
{
	struct jm_coll_decoded dec = { 0 };
	enum jm_coll_decode_rc drc;
	enum MHD_Result ok;
	char why[256];
	size_t need, body_len;

	jm_coll_metrics_received(srv->metrics, rq->body.received + rq->received_before_refusal +
				 rq->discarded);
	if (!rq->status)
		body_refusal(rq, jm_coll_body_finish(&rq->body));
	if (rq->status) {
		unannounce(srv, rq);
		return send_reject(srv, c, rq);
	}

	need = jm_coll_decode_budget(rq->body.len);
	if (!reserve_decode_mem(srv, need)) {
		unannounce(srv, rq);
		set_reject(rq, MHD_HTTP_SERVICE_UNAVAILABLE, JM_REJ_OVERLOADED, "busy decoding other batches");
		return send_reject(srv, c, rq);
	}
	drc = jm_coll_decode_batch(rq->body.buf, rq->body.len, &dec, why, sizeof(why));
	/* The decoded batch owns copies of everything: the wire bytes need
	 * not wait in the writer's queue. */
	body_len = rq->body.len;
	jm_coll_body_free(&rq->body);
	rq->body_ready = false;
	int clk = drc == JM_DECODE_OK ? jm_coll_check_clock(dec.batch, now_unix_ns(), why, sizeof(why)) : 0;
	if (clk == JM_CLOCK_AHEAD) {
		/* 425: the agent keeps the batch and tries again (its clock or
		 * ours may be the wrong one). */
		unannounce(srv, rq);
		set_reject(rq, 425, JM_REJ_CLOCK_AHEAD, why);
		jm_info("batch refused for now: %s", why);
		ok = send_reject(srv, c, rq);
		jm_coll_decoded_free(&dec);
		__atomic_sub_fetch(&srv->decode_mem, need, __ATOMIC_ACQ_REL);
		return ok;
	}
	if (clk)
		drc = JM_DECODE_INVALID_BATCH;
	switch (drc) {
	case JM_DECODE_OK:
		ok = ingest_store(srv, c, rq, dec.batch, body_len);
		break;
	case JM_DECODE_TOO_LARGE:
		unannounce(srv, rq);
		set_reject(rq, MHD_HTTP_CONTENT_TOO_LARGE, JM_REJ_DECOMPRESSED_TOO_LARGE, why);
		ok = send_reject(srv, c, rq);
		break;
	case JM_DECODE_INVALID_PROTOBUF:
		unannounce(srv, rq);
		set_reject(rq, MHD_HTTP_BAD_REQUEST, JM_REJ_INVALID_PROTOBUF, "invalid protobuf");
		ok = send_reject(srv, c, rq);
		break;
	case JM_DECODE_INVALID_BATCH:
	default:
		unannounce(srv, rq);
		set_reject(rq, MHD_HTTP_BAD_REQUEST, JM_REJ_INVALID_BATCH, why);
		jm_info("rejected batch: %s", why);
		ok = send_reject(srv, c, rq);
		break;
	}
	jm_coll_decoded_free(&dec);
	__atomic_sub_fetch(&srv->decode_mem, need, __ATOMIC_ACQ_REL);
	return ok;
}

/* ---- other endpoints ------------------------------------------------- */

static enum MHD_Result serve_healthz(struct jm_coll_server *srv, struct MHD_Connection *c)
{
	if (jm_coll_store_healthy(srv->store) == 0)
		return send_text(c, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n", 3, false, false, NULL);
	jm_coll_metrics_reject(srv->metrics, JM_REJ_STORAGE);
	return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
			 "database unavailable\n", 21, true, false, NULL);
}

static enum MHD_Result serve_metrics(struct jm_coll_server *srv, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	enum MHD_Result ok;
	char *text;
	size_t len;

	if (jm_coll_metrics_render(srv->metrics, &text, &len))
		return send_status(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "error", "out of memory", false, false, NULL);
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
	ok = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ok;
}

/* ---- MHD callbacks --------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct jm_coll_server *srv = cls;
	struct req *rq = *con_cls;
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &rq->t0);
		__atomic_add_fetch(&srv->active_requests, 1, __ATOMIC_ACQ_REL);
		*con_cls = rq;
		rq->handler = strcmp(url, "/v1/batches") == 0 ? JM_H_INGEST
			      : strcmp(url, "/healthz") == 0 ? JM_H_HEALTHZ
			      : strcmp(url, "/metrics") == 0 ? JM_H_METRICS : JM_H_OTHER;
		const char *framing = framing_problem(c);
		if (framing) {
			/* Answered now and never drained (see above). */
			set_reject(rq, MHD_HTTP_BAD_REQUEST, JM_REJ_INVALID_FRAMING, framing);
			rq->responded = true;
			return send_reject(srv, c, rq);
		}
		if (rq->handler == JM_H_INGEST) {
			if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
				return refuse_early(srv, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, JM_REJ_METHOD,
						    "use POST");
			return ingest_begin(srv, c, rq);
		}
		if (rq->handler == JM_H_OTHER)
			return refuse_early(srv, c, rq, MHD_HTTP_NOT_FOUND, JM_REJ_NOT_FOUND, "not found");
		if (!get)
			return refuse_early(srv, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, JM_REJ_METHOD, "use GET");
		rq->responded = true;
		return rq->handler == JM_H_HEALTHZ ? serve_healthz(srv, c) : serve_metrics(srv, c);
	}
	if (*upload_data_size) {
		if (rq->handler == JM_H_INGEST && !rq->discarding && !rq->status)
			return ingest_data(srv, rq, upload_data, upload_data_size);
		rq->discarded += *upload_data_size;
		*upload_data_size = 0;
		return rq->discarded > srv->cfg.max_body + DISCARD_SLACK ? MHD_NO : MHD_YES;
	}
	if (rq->responded)
		return MHD_YES;
	rq->responded = true;
	if (rq->status)
		return send_reject(srv, c, rq);
	if (rq->handler != JM_H_INGEST)
		return MHD_NO;
	return ingest_finish(srv, c, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct jm_coll_server *srv = cls;
	struct req *rq = *con_cls;

	(void)c;
	(void)toe;
	if (!rq)
		return;
	jm_coll_metrics_observe(srv->metrics, rq->handler, elapsed_s(&rq->t0));
	unannounce(srv, rq);
	if (rq->body_ready)
		jm_coll_body_free(&rq->body);
	if (rq->slot) {
		__atomic_sub_fetch(&srv->ingest_in_flight, 1, __ATOMIC_ACQ_REL);
		jm_coll_metrics_in_flight(srv->metrics, -1);
	}
	free(rq);
	*con_cls = NULL;
	__atomic_sub_fetch(&srv->active_requests, 1, __ATOMIC_ACQ_REL);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct jm_coll_server *srv = cls;
	uint64_t left_out = 0;
	double now = mono_s(), window;
	bool write;

	/* MHD reports trouble with a request, a connection or a TLS
	 * handshake that it handled itself: count it, log a few. */
	jm_coll_metrics_http_error(srv->metrics);
	pthread_mutex_lock(&srv->log_lock);
	window = now - srv->log_window_t0;
	if (srv->log_window_t0 == 0 || window >= MHD_LOG_WINDOW_S) {
		left_out = srv->log_left_out;
		srv->log_window_t0 = now;
		srv->log_lines = 0;
		srv->log_left_out = 0;
	}
	write = srv->log_lines < MHD_LOG_BURST;
	if (write)
		srv->log_lines++;
	else
		srv->log_left_out++;
	pthread_mutex_unlock(&srv->log_lock);
	if (left_out)
		jm_warn("%llu more message(s) of the HTTP layer left out of the log in the last %.0f s"
			" (counted in jobmeter_collector_http_errors_total)",
			(unsigned long long)left_out, window);
	if (write)
		jm_vlog(JM_LOG_WARN, fmt, ap);
}

/* ---- listening socket ------------------------------------------------ */

/* "host:port", "[v6]:port" or ":port" (all interfaces). */
static int split_listen(const char *spec, char *host, size_t host_len, char *port, size_t port_len)
{
	const char *colon;
	size_t hl;

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (!close || close[1] != ':')
			return -1;
		hl = (size_t)(close - spec - 1);
		if (hl >= host_len)
			return -1;
		memcpy(host, spec + 1, hl);
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - spec);
		if (hl >= host_len)
			return -1;
		memcpy(host, spec, hl);
	}
	host[hl] = '\0';
	if (strlen(colon + 1) == 0 || strlen(colon + 1) >= port_len ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	strcpy(port, colon + 1);
	return 0;
}

static int open_listener(const char *spec, int *fd_out, bool *v6, char *addr, size_t addr_len,
			 char *err, size_t err_len)
{
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	char host[256], port[16];
	int fd = -1, one = 1, rc, last_errno = 0;

	if (split_listen(spec, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, err_len, "invalid --listen %s (want ADDR:PORT)", spec);
		return -1;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* Numeric addresses first: no resolver, no NSS socket (the systemd
	 * unit allows AF_INET/AF_INET6 only); names such as localhost after. */
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST;
	rc = getaddrinfo(host[0] && strcmp(host, "*") ? host : NULL, port, &hints, &res);
	if (rc == EAI_NONAME) {
		hints.ai_flags &= ~AI_NUMERICHOST;
		rc = getaddrinfo(host, port, &hints, &res);
	}
	if (rc) {
		snprintf(err, err_len, "cannot resolve %s: %s", spec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0) {
			*v6 = ai->ai_family == AF_INET6;
			break;
		}
		last_errno = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, err_len, "cannot bind %s: %s", spec, strerror(last_errno));
		return -1;
	}
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char ip[INET6_ADDRSTRLEN] = "?";
		unsigned p = 0;

		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

				inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
				p = ntohs(s6->sin6_port);
			} else {
				struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

				inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
				p = ntohs(s4->sin_port);
			}
		}
		snprintf(addr, addr_len, *v6 ? "[%s]:%u" : "%s:%u", ip, p);
	}
	*fd_out = fd;
	return 0;
}

int jm_coll_server_start(const struct jm_coll_http_config *cfg, struct jm_coll_store *store,
			 struct jm_coll_writer *writer, struct jm_coll_metrics *metrics,
			 struct jm_coll_server **out, char *err, size_t err_len)
{
	struct jm_coll_server *srv;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	bool v6 = false;

	*out = NULL;
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	srv->cfg = *cfg;
	srv->store = store;
	srv->writer = writer;
	srv->metrics = metrics;
	srv->body_mem.max = BODY_MEM_MAX;
	srv->listen_fd = -1;
	if (pthread_mutex_init(&srv->log_lock, NULL)) {
		snprintf(err, err_len, "out of memory");
		free(srv);
		return -1;
	}
	if (open_listener(cfg->listen, &srv->listen_fd, &v6, srv->address, sizeof(srv->address), err, err_len))
		goto fail;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (cfg->tls_cert_pem)
		flags |= MHD_USE_TLS;
	if (cfg->tls_cert_pem)
		srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
			MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
			MHD_OPTION_LISTEN_SOCKET, srv->listen_fd,
			MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
			MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_per_ip,
			MHD_OPTION_CONNECTION_TIMEOUT, 60u,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
			MHD_OPTION_HTTPS_MEM_CERT, cfg->tls_cert_pem,
			MHD_OPTION_HTTPS_MEM_KEY, cfg->tls_key_pem,
			MHD_OPTION_END);
	else
		srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
			MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
			MHD_OPTION_LISTEN_SOCKET, srv->listen_fd,
			MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
			MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_per_ip,
			MHD_OPTION_CONNECTION_TIMEOUT, 60u,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
			MHD_OPTION_END);
	if (!srv->daemon) {
		snprintf(err, err_len, "cannot start HTTP server on %s%s", cfg->listen,
			 cfg->tls_cert_pem ? " (check the TLS certificate and key)" : "");
		goto fail;
	}
	*out = srv;
	return 0;
fail:
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	pthread_mutex_destroy(&srv->log_lock);
	free(srv);
	return -1;
}

const char *jm_coll_server_address(const struct jm_coll_server *srv)
{
	return srv->address;
}

void jm_coll_server_stop(struct jm_coll_server *srv, double grace_s)
{
	struct timespec t0;
	MHD_socket fd;

	if (!srv)
		return;
	/* Stop accepting first, then let requests in progress (a batch being
	 * committed) run to their answer; idle keep-alive connections are
	 * closed by MHD_stop_daemon. */
	fd = MHD_quiesce_daemon(srv->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (__atomic_load_n(&srv->active_requests, __ATOMIC_ACQUIRE) > 0 && elapsed_s(&t0) < grace_s) {
		struct timespec d = { 0, 10 * 1000 * 1000 };

		nanosleep(&d, NULL);
	}
	if (__atomic_load_n(&srv->active_requests, __ATOMIC_ACQUIRE) > 0)
		jm_warn("%d request(s) still running after %.0f s: closing anyway",
			    __atomic_load_n(&srv->active_requests, __ATOMIC_ACQUIRE), grace_s);
	MHD_stop_daemon(srv->daemon);
	pthread_mutex_destroy(&srv->log_lock);
	free(srv);
}
