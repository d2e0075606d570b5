/* HTTP shipper: a sender thread that drains the spool to the collector.
 * See ship.h for the contract (ordering, retry policy, logging).
 *
 * Threading: the sender thread alone touches the curl handle, the zlib
 * stream and the buffers.  Everything the API functions touch (flags, stats)
 * sits under sh->lock, and the lock is never held across network or disk
 * I/O, so jm_ship_kick()/jm_ship_stats() never block behind a slow collector. */
#include "ship.h"

#include "log.h"
#include "jobmeter.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#define ZLIB_CONST
#include <zlib.h>

#ifndef JOBMETER_VERSION
#define JOBMETER_VERSION "unknown"   /* the Makefile defines it */
#endif

#define DEFAULT_BASE_MS      1000u
#define DEFAULT_CAP_MS       60000u
#define DEFAULT_IDLE_MS      30000u
#define DEFAULT_TIMEOUT_S    10L
#define RETRY_AFTER_MAX_S    600
#define REMIND_NS            (300ull * 1000000000ull)
#define BODY_HEAD            200      /* bytes of a response body kept for logs */
#define TOKEN_MAX            4096
#define ERR_MAX              512

/* SEND_CONFLICT: 409 naming the collector's highest stored seq (the spool's
 * numbering restarted below it): renumber the batch instead of rejecting it. */
enum send_result { SEND_OK, SEND_RETRY, SEND_REJECT, SEND_CONFLICT, SEND_ABORTED };

/* Failure identity for "log only when it changes": the texts themselves
 * carry variable details (curl prints elapsed milliseconds).  HTTP failures
 * use their status, curl failures KIND_CURL + CURLcode. */
#define KIND_COMPRESS  (-1)
#define KIND_SPOOL     (-2)
#define KIND_REMOVE    (-3)
#define KIND_RENUMBER  (-4)
#define KIND_CURL      100000

struct jm_shipper {
	struct jm_spool *sp;
	pthread_t thread;
	bool thread_started;
	bool curl_global;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* ---- under lock ---- */
	bool kicked;            /* a batch was spooled since the sender last looked */
	bool stopping;          /* close() called: drain until drain_deadline_ns */
	bool stop_now;          /* close() with no drain time */
	bool retry_now;         /* cut the current backoff short (once) */
	uint64_t drain_deadline_ns;
	struct jm_ship_stats st;

	/* ---- sender thread only (after open) ---- */
	CURL *curl;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	z_stream z;
	bool z_ready;
	uint8_t *gz;
	size_t gz_cap;
	char body[BODY_HEAD + 1];
	size_t body_len;
	unsigned base_ms, cap_ms, idle_ms;
	unsigned failures;      /* consecutive retryable failures */
	uint64_t rng;
	int fail_kind;          /* what the last send_batch() failure was, see KIND_* */
	int logged_kind;        /* what was logged last (0 = nothing) */
	uint64_t logged_at_ns;
	char token[TOKEN_MAX + 1];
	size_t token_len;
	/* The seq-conflict recovery in progress (logged once when it ends):
	 * batches at or below stored_max that were renumbered so far. */
	struct {
		uint64_t n, stored_max, old_lo, old_hi, new_lo, new_hi;
	} rec;
};

/* Through the project's log module: "jobmeter-agent: warn: ship: ...". */
#define ship_log(...) jm_warn("ship: " __VA_ARGS__)

/* Copy src, cut to fit: error texts are allowed to lose their tail. */
static void copy_trunc(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void cond_wait_until(struct jm_shipper *sh, uint64_t deadline_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline_ns / 1000000000ull),
		.tv_nsec = (long)(deadline_ns % 1000000000ull),
	};
	pthread_cond_timedwait(&sh->cond, &sh->lock, &ts);
}

/* xorshift64*: jitter only needs to decorrelate agents, not be secret. */
static uint64_t rng_next(struct jm_shipper *sh)
{
	uint64_t x = sh->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	sh->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* ---- token ------------------------------------------------------------ */

static int read_token(struct jm_shipper *sh, const char *path)
{
	int err = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		ship_log("cannot read collector token file %s: %s", path, strerror(errno));
		return err;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & S_IROTH))
		ship_log("collector token file %s is world-readable; chmod 600 it", path);
	size_t got = 0;
	while (got < sizeof(sh->token)) {
		ssize_t n = read(fd, sh->token + got, sizeof(sh->token) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			ship_log("cannot read collector token file %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got == sizeof(sh->token)) {
		ship_log("collector token file %s: longer than %d bytes", path, TOKEN_MAX);
		err = -EFBIG;
		goto out;
	}
	while (got && (sh->token[got - 1] == '\n' || sh->token[got - 1] == '\r' ||
		       sh->token[got - 1] == ' ' || sh->token[got - 1] == '\t'))
		got--;
	sh->token[got] = '\0';
	if (!got) {
		ship_log("collector token file %s is empty", path);
		err = -EINVAL;
		goto out;
	}
	/* Anything else could split the header (CR/LF) or not be a token. */
	for (size_t i = 0; i < got; i++) {
		unsigned char c = (unsigned char)sh->token[i];
		if (c <= 0x20 || c >= 0x7f) {
			ship_log("collector token file %s: the token contains spaces or control "
				 "characters", path);
			err = -EINVAL;
			goto out;
		}
	}
	sh->token_len = got;
out:
	if (err)
		explicit_bzero(sh->token, sizeof(sh->token));
	close(fd);
	return err;
}

/* Overwrite every echo of the token in buf, also a partial one cut off at the
 * end, so a collector that reflects request headers cannot leak it to logs. */
static void redact_token(const struct jm_shipper *sh, char *buf, size_t len)
{
	if (!sh->token_len)
		return;
	size_t min = sh->token_len < 8 ? sh->token_len : 8;
	for (size_t i = 0; i < len; i++) {
		size_t k = 0;
		while (i + k < len && k < sh->token_len && buf[i + k] == sh->token[k])
			k++;
		if (k == sh->token_len || (i + k == len && k >= min)) {
			memset(buf + i, '*', k);
			i += k - 1;
		}
	}
}

/* ---- curl plumbing ------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct jm_shipper *sh = arg;
	size_t n = size * nmemb;
	size_t room = BODY_HEAD - sh->body_len;
	size_t take = n < room ? n : room;
	memcpy(sh->body + sh->body_len, data, take);
	sh->body_len += take;
	return n;   /* the rest is read and discarded */
}

static bool must_stop(struct jm_shipper *sh)
{
	pthread_mutex_lock(&sh->lock);
	bool stop = sh->stop_now || (sh->stopping && mono_ns() >= sh->drain_deadline_ns);
	pthread_mutex_unlock(&sh->lock);
	return stop;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return must_stop(arg) ? 1 : 0;   /* non-zero aborts the transfer */
}

static bool is_tls_verify_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
		return true;
	default:
		return false;
	}
}

/* 401/403/407 (credentials), 404 (URL), 408/425/429 (transient) are about the
 * setup or the moment, not the batch: rejecting them would discard every
 * batch until an operator fixed the configuration. */
static bool status_is_retryable(long status)
{
	if (status < 400 || status >= 500)
		return true;    /* 5xx, and 1xx/3xx which we never expect */
	switch (status) {
	case 401: case 403: case 404: case 407: case 408: case 425: case 429:
		return true;
	default:
		return false;
	}
}

/* Printable, token-free head of the last response body. */
static void body_head(struct jm_shipper *sh, char *out, size_t cap)
{
	redact_token(sh, sh->body, sh->body_len);
	size_t n = sh->body_len < cap - 1 ? sh->body_len : cap - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)sh->body[i];
		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	out[n] = '\0';
}

static int gzip_body(struct jm_shipper *sh, const uint8_t *data, size_t len, size_t *out_len)
{
	if (len > UINT_MAX / 2)
		return -EFBIG;
	if (deflateReset(&sh->z) != Z_OK)
		return -EIO;
	uLong bound = deflateBound(&sh->z, (uLong)len);
	if (bound > sh->gz_cap) {
		uint8_t *p = realloc(sh->gz, bound);
		if (!p)
			return -ENOMEM;
		sh->gz = p;
		sh->gz_cap = bound;
	}
	sh->z.next_in = data;
	sh->z.avail_in = (uInt)len;
	sh->z.next_out = sh->gz;
	sh->z.avail_out = (uInt)sh->gz_cap;
	/* avail_out >= deflateBound, so one Z_FINISH call completes. */
	if (deflate(&sh->z, Z_FINISH) != Z_STREAM_END)
		return -EIO;
	*out_len = (size_t)sh->z.total_out;
	return 0;
}

/* The collector's "stored_max_seq":N in a 409 body (tools/collector/http.c
 * puts it right after "status", within the head we keep).  false when absent
 * (a collector from before it was added) or malformed. */
static bool parse_stored_max(struct jm_shipper *sh, uint64_t *out)
{
	static const char key[] = "\"stored_max_seq\":";
	sh->body[sh->body_len] = '\0';
	const char *p = memmem(sh->body, sh->body_len, key, sizeof(key) - 1);
	if (!p)
		return false;
	p += sizeof(key) - 1;
	uint64_t v = 0;
	const char *d = p;
	for (; *d >= '0' && *d <= '9'; d++) {
		unsigned dig = (unsigned)(*d - '0');
		if (v > (UINT64_MAX - dig) / 10)
			return false;
		v = v * 10 + dig;
	}
	if (d == p || (*d != ',' && *d != '}'))
		return false;
	*out = v;
	return true;
}

/* One POST.  err receives the failure text; *retry_after_ms the collector's
 * Retry-After (0 when absent). */
static enum send_result send_batch(struct jm_shipper *sh, uint64_t seq, const uint8_t *data,
				   size_t len, uint64_t *retry_after_ms, uint64_t *stored_max,
				   char *err, size_t errlen)
{
	size_t gzlen = 0;
	*retry_after_ms = 0;
	int zerr = gzip_body(sh, data, len, &gzlen);
	if (zerr) {
		snprintf(err, errlen, "cannot compress batch seq %" PRIu64 ": %s", seq,
			 strerror(-zerr));
		sh->fail_kind = KIND_COMPRESS;
		return SEND_RETRY;
	}
	curl_easy_setopt(sh->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)gzlen);
	curl_easy_setopt(sh->curl, CURLOPT_POSTFIELDS, (const char *)sh->gz);
	sh->body_len = 0;
	sh->errbuf[0] = '\0';

	CURLcode rc = curl_easy_perform(sh->curl);
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return SEND_ABORTED;
	if (rc != CURLE_OK) {
		const char *detail = sh->errbuf[0] ? sh->errbuf : curl_easy_strerror(rc);
		if (is_tls_verify_error(rc))
			snprintf(err, errlen, "collector TLS verification failed: %s", detail);
		else
			snprintf(err, errlen, "collector request failed: %s", detail);
		sh->fail_kind = KIND_CURL + (int)rc;
		return SEND_RETRY;
	}

	long status = 0;
	curl_easy_getinfo(sh->curl, CURLINFO_RESPONSE_CODE, &status);
	pthread_mutex_lock(&sh->lock);
	sh->st.last_http_status = status;
	pthread_mutex_unlock(&sh->lock);
	if (status >= 200 && status < 300)
		return SEND_OK;

	bool conflict = status == 409 && parse_stored_max(sh, stored_max);
	char head[BODY_HEAD + 1];
	body_head(sh, head, sizeof(head));
	snprintf(err, errlen, "collector answered HTTP %ld%s%s", status, head[0] ? ": " : "", head);
	sh->fail_kind = (int)status;
	if (conflict)
		return SEND_CONFLICT;
	if (!status_is_retryable(status))
		return SEND_REJECT;
	curl_off_t ra = 0;
	if (curl_easy_getinfo(sh->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
		*retry_after_ms = (uint64_t)(ra < RETRY_AFTER_MAX_S ? ra : RETRY_AFTER_MAX_S) * 1000;
	return SEND_RETRY;
}

/* ---- sender thread -------------------------------------------------------- */

static uint64_t backoff_ms(struct jm_shipper *sh)
{
	unsigned shift = sh->failures < 31 ? sh->failures : 31;
	uint64_t ceiling = (uint64_t)sh->base_ms << shift;
	if (ceiling > sh->cap_ms)
		ceiling = sh->cap_ms;
	return rng_next(sh) % (ceiling + 1);   /* full jitter */
}

static void note_failure(struct jm_shipper *sh, int kind, const char *err, uint64_t delay_ms)
{
	uint64_t depth = 0, now = mono_ns();
	sh->failures++;
	pthread_mutex_lock(&sh->lock);
	sh->st.retries++;
	copy_trunc(sh->st.last_error, sizeof(sh->st.last_error), err);
	pthread_mutex_unlock(&sh->lock);
	/* Log a change of error, or a reminder, never the same line in a loop. */
	if (kind == sh->logged_kind && now - sh->logged_at_ns < REMIND_NS)
		return;
	jm_spool_depth(sh->sp, &depth, NULL);
	ship_log("%s (failed attempt %u, %" PRIu64 " batch(es) spooled, next try in %" PRIu64
		 " ms)", err, sh->failures, depth, delay_ms);
	sh->logged_kind = kind;
	sh->logged_at_ns = now;
}

static void note_success(struct jm_shipper *sh, uint64_t seq)
{
	pthread_mutex_lock(&sh->lock);
	sh->st.sent++;
	pthread_mutex_unlock(&sh->lock);
	if (sh->failures)
		ship_log("collector reachable again: delivered seq %" PRIu64 " after %u failed "
			 "attempt(s)", seq, sh->failures);
	sh->failures = 0;
	sh->logged_kind = 0;
}

/* Sleep delay_ms unless stopped, or cut short by close() or the drain
 * deadline.  A kick does not end it: the collector asked for the pause. */
static void backoff_wait(struct jm_shipper *sh, uint64_t delay_ms)
{
	uint64_t target = mono_ns() + delay_ms * 1000000ull;
	pthread_mutex_lock(&sh->lock);
	for (;;) {
		uint64_t now = mono_ns(), until = target;
		if (sh->stop_now || sh->retry_now || now >= target)
			break;
		if (sh->stopping) {
			if (now >= sh->drain_deadline_ns)
				break;
			if (sh->drain_deadline_ns < until)
				until = sh->drain_deadline_ns;
		}
		cond_wait_until(sh, until);
	}
	sh->retry_now = false;
	pthread_mutex_unlock(&sh->lock);
}

/* Nothing to send: wait for a kick (or the periodic rescan).  Returns false
 * when the sender should exit: closing and the spool is drained. */
static bool wait_idle(struct jm_shipper *sh)
{
	pthread_mutex_lock(&sh->lock);
	uint64_t until = mono_ns() + (uint64_t)sh->idle_ms * 1000000ull;
	while (!sh->kicked && !sh->stopping && !sh->stop_now && mono_ns() < until)
		cond_wait_until(sh, until);
	/* A kick that came with the close (the final batch, spooled just
	 * before) still has to be sent: look at the spool once more. */
	bool kicked = sh->kicked;
	sh->kicked = false;
	bool go_on = !sh->stop_now && (kicked || !sh->stopping);
	pthread_mutex_unlock(&sh->lock);
	return go_on;
}

static void handle_reject(struct jm_shipper *sh, uint64_t seq, const char *err)
{
	pthread_mutex_lock(&sh->lock);
	sh->st.rejected_4xx++;
	copy_trunc(sh->st.last_error, sizeof(sh->st.last_error), err);
	pthread_mutex_unlock(&sh->lock);
	int r = jm_spool_reject(sh->sp, seq);
	if (r == 0) {
		ship_log("batch seq %" PRIu64 " rejected, not retried: %s; kept in %s/rejected/",
			 seq, err, jm_spool_dir(sh->sp));
		return;
	}
	/* Cannot keep it for inspection; it must not block the queue either. */
	int r2 = jm_spool_remove(sh->sp, seq);
	ship_log("batch seq %" PRIu64 " rejected, not retried: %s; moving it to rejected/ failed "
		 "(%s), %s", seq, err, strerror(-r),
		 r2 ? "and deleting it failed too" : "deleted instead");
}

/* Log the seq-conflict recovery that just ended, once, with its ranges. */
static void flush_recovery(struct jm_shipper *sh)
{
	if (!sh->rec.n)
		return;
	ship_log("seq conflict: the collector has seqs up to %" PRIu64 " stored for this agent "
		 "(the spool's numbering restarted: a new spool_dir or a deleted seq file); "
		 "numbering advanced past it and %" PRIu64 " refused batch(es) renumbered: seq %"
		 PRIu64 "..%" PRIu64 " -> %" PRIu64 "..%" PRIu64, sh->rec.stored_max, sh->rec.n,
		 sh->rec.old_lo, sh->rec.old_hi, sh->rec.new_lo, sh->rec.new_hi);
	memset(&sh->rec, 0, sizeof(sh->rec));
}

/* Store the batch again under a fresh seq (above the collector's maximum, as
 * the spool was advanced first) and drop the refused copy.  Put comes before
 * remove: a crash between them sends the batch twice rather than never.
 * -EBADMSG: the spooled bytes are not a Batch. */
static int renumber(struct jm_shipper *sh, uint64_t seq, const uint8_t *data, size_t len,
		    uint64_t *new_seq)
{
	Jobmeter__V1__Batch *b = jobmeter__v1__batch__unpack(NULL, len, data);
	uint8_t *buf = NULL;
	int err;

	if (!b)
		return -EBADMSG;
	if ((err = jm_spool_next_seq(sh->sp, new_seq)))
		goto out;
	b->seq = *new_seq;
	size_t n = jobmeter__v1__batch__get_packed_size(b);
	buf = malloc(n ? n : 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	if (jobmeter__v1__batch__pack(b, buf) != n) {
		err = -EIO;
		goto out;
	}
	if ((err = jm_spool_put(sh->sp, *new_seq, buf, n)))
		goto out;
	if ((err = jm_spool_remove(sh->sp, seq)))
		/* Both copies are spooled now; the old one would conflict again
		 * and be renumbered a second time.  Say so: it is a duplicate. */
		ship_log("batch seq %" PRIu64 " renumbered to %" PRIu64 " but the old copy cannot "
			 "be removed (%s): it may be stored twice", seq, *new_seq, strerror(-err));
	err = 0;
out:
	free(buf);
	jobmeter__v1__batch__free_unpacked(b, NULL);
	return err;
}

/* 409 with the collector's highest stored seq: the key is taken by another
 * batch because this spool's numbering restarted.  Rejecting it, as before,
 * lost every batch until the new numbers passed the old maximum; instead
 * advance the spool past it and send this batch again under a new seq.
 * Returns the delay before the next attempt (0 = at once). */
static uint64_t handle_conflict(struct jm_shipper *sh, uint64_t seq, const uint8_t *data,
				size_t len, uint64_t stored_max, char *err, size_t errlen)
{
	uint64_t new_seq = 0, delay;
	int r;

	if (stored_max < seq) {
		/* Cannot be a restarted numbering: nothing to skip past. */
		handle_reject(sh, seq, err);
		return 0;
	}
	r = jm_spool_advance_seq(sh->sp, stored_max);
	if (!r)
		r = renumber(sh, seq, data, len, &new_seq);
	if (r == -EBADMSG || r == -EFBIG) {
		/* Not a Batch, or too big for the spool once renumbered: no
		 * retry can help, and it must not block the queue. */
		handle_reject(sh, seq, err);
		return 0;
	}
	if (r) {
		/* The batch stays under its seq; the next attempt tries again. */
		snprintf(err, errlen, "seq conflict on batch seq %" PRIu64 " (collector has up to %"
			 PRIu64 "), renumbering failed: %s", seq, stored_max, strerror(-r));
		delay = backoff_ms(sh);
		note_failure(sh, KIND_RENUMBER, err, delay);
		return delay;
	}
	pthread_mutex_lock(&sh->lock);
	sh->st.renumbered++;
	copy_trunc(sh->st.last_error, sizeof(sh->st.last_error), err);
	pthread_mutex_unlock(&sh->lock);
	if (!sh->rec.n) {
		sh->rec.old_lo = seq;
		sh->rec.new_lo = new_seq;
	}
	sh->rec.n++;
	sh->rec.old_hi = seq;
	sh->rec.new_hi = new_seq;
	if (stored_max > sh->rec.stored_max)
		sh->rec.stored_max = stored_max;
	return 0;
}

static void *sender_main(void *arg)
{
	struct jm_shipper *sh = arg;
	char err[ERR_MAX];

	while (!must_stop(sh)) {
		uint64_t seq = 0, delay, stored_max = 0;
		uint8_t *data = NULL;
		size_t len = 0;
		int r = jm_spool_oldest(sh->sp, &seq, &data, &len);
		/* Past the batches a recovery renumbers: it is over. */
		if (r || seq > sh->rec.stored_max)
			flush_recovery(sh);
		if (r == -ENOENT) {
			if (!wait_idle(sh))
				break;          /* closing with an empty spool: drained */
			continue;
		}
		if (r) {
			snprintf(err, sizeof(err), "cannot read the spool %s: %s",
				 jm_spool_dir(sh->sp), strerror(-r));
			delay = backoff_ms(sh);
			note_failure(sh, KIND_SPOOL, err, delay);
			backoff_wait(sh, delay);
			continue;
		}
		enum send_result res = send_batch(sh, seq, data, len, &delay, &stored_max, err,
						  sizeof(err));
		if (res != SEND_CONFLICT) {
			free(data);
			data = NULL;
		}
		switch (res) {
		case SEND_OK:
			r = jm_spool_remove(sh->sp, seq);
			note_success(sh, seq);
			if (r) {
				/* It would be sent again; the collector dedups by seq,
				 * but do not spin on a broken disk. */
				snprintf(err, sizeof(err), "delivered seq %" PRIu64 " but cannot "
					 "remove it from the spool: %s", seq, strerror(-r));
				delay = backoff_ms(sh);
				note_failure(sh, KIND_REMOVE, err, delay);
				backoff_wait(sh, delay);
			}
			break;
		case SEND_REJECT:
			handle_reject(sh, seq, err);
			break;
		case SEND_CONFLICT:
			delay = handle_conflict(sh, seq, data, len, stored_max, err, sizeof(err));
			free(data);
			if (delay)
				backoff_wait(sh, delay);
			break;
		case SEND_RETRY:
			if (!delay)
				delay = backoff_ms(sh);
			note_failure(sh, sh->fail_kind, err, delay);
			backoff_wait(sh, delay);
			break;
		case SEND_ABORTED:
			goto out;           /* stop deadline hit mid-request */
		}
	}
out:
	flush_recovery(sh);
	return NULL;
}

/* ---- public API ----------------------------------------------------------- */

static void free_headers(struct jm_shipper *sh)
{
	/* The Authorization header holds the token: wipe curl's copy too. */
	for (struct curl_slist *h = sh->headers; h; h = h->next)
		if (h->data)
			explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(sh->headers);
	sh->headers = NULL;
}

static void ship_free(struct jm_shipper *sh)
{
	if (sh->curl)
		curl_easy_cleanup(sh->curl);
	free_headers(sh);
	if (sh->z_ready)
		deflateEnd(&sh->z);
	free(sh->gz);
	explicit_bzero(sh->token, sizeof(sh->token));
	pthread_cond_destroy(&sh->cond);
	pthread_mutex_destroy(&sh->lock);
	if (sh->curl_global)
		curl_global_cleanup();
	free(sh);
}

static int add_header(struct jm_shipper *sh, const char *h)
{
	struct curl_slist *n = curl_slist_append(sh->headers, h);
	if (!n)
		return -ENOMEM;
	sh->headers = n;
	return 0;
}

static int setup_curl(struct jm_shipper *sh, const struct jm_config *cfg)
{
	int err;
	char auth[TOKEN_MAX + 32];

	if ((err = add_header(sh, "Content-Type: application/x-protobuf")) ||
	    (err = add_header(sh, "Content-Encoding: gzip")) ||
	    /* No "Expect: 100-continue" round trip before every body. */
	    (err = add_header(sh, "Expect:")))
		return err;
	if (sh->token_len) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", sh->token);
		err = add_header(sh, auth);
		explicit_bzero(auth, sizeof(auth));
		if (err)
			return err;
	}

	sh->curl = curl_easy_init();
	if (!sh->curl)
		return -ENOMEM;
	long timeout = cfg->collector_timeout_s ? (long)cfg->collector_timeout_s : DEFAULT_TIMEOUT_S;
	CURL *c = sh->curl;
	CURLcode rc = CURLE_OK;
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val); } while (0)
	SET(CURLOPT_URL, cfg->collector_url);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_HTTPHEADER, sh->headers);
	SET(CURLOPT_USERAGENT, "jobmeter-agent/" JOBMETER_VERSION);
	SET(CURLOPT_NOSIGNAL, 1L);            /* we are not the main thread */
	SET(CURLOPT_CONNECTTIMEOUT, timeout);
	SET(CURLOPT_TIMEOUT, timeout);
	SET(CURLOPT_FOLLOWLOCATION, 0L);      /* never hand the token to another URL */
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_ERRORBUFFER, sh->errbuf);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, sh);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, sh);
#if CURL_AT_LEAST_VERSION(7, 85, 0)
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (cfg->collector_ca_file[0])
		SET(CURLOPT_CAINFO, cfg->collector_ca_file);
#undef SET
	if (rc != CURLE_OK) {
		ship_log("cannot configure libcurl: %s", curl_easy_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

int jm_ship_open_opts(struct jm_shipper **out, const struct jm_config *cfg, struct jm_spool *sp,
		      const struct jm_ship_opts *opts)
{
	struct jm_shipper *sh = NULL;
	pthread_condattr_t ca;
	int err;

	*out = NULL;
	if (!cfg || !sp || !cfg->collector_url[0]) {
		ship_log("no collector URL configured");
		return -EINVAL;
	}
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	sh->sp = sp;
	sh->base_ms = opts && opts->base_ms ? opts->base_ms : DEFAULT_BASE_MS;
	sh->cap_ms = opts && opts->cap_ms ? opts->cap_ms : DEFAULT_CAP_MS;
	sh->idle_ms = opts && opts->idle_poll_ms ? opts->idle_poll_ms : DEFAULT_IDLE_MS;
	if (getrandom(&sh->rng, sizeof(sh->rng), GRND_NONBLOCK) != sizeof(sh->rng) || !sh->rng)
		sh->rng = mono_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;

	if ((err = pthread_mutex_init(&sh->lock, NULL))) {
		free(sh);
		return -err;
	}
	/* Monotonic waits: a wall-clock step must not stretch a backoff. */
	if ((err = pthread_condattr_init(&ca))) {
		pthread_mutex_destroy(&sh->lock);
		free(sh);
		return -err;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	err = pthread_cond_init(&sh->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (err) {
		pthread_mutex_destroy(&sh->lock);
		free(sh);
		return -err;
	}
	/* From here on ship_free() releases whatever was set up. */

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		err = -ENOMEM;
		goto out;
	}
	sh->curl_global = true;
	if (deflateInit2(&sh->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16 /* gzip */, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		err = -ENOMEM;
		goto out;
	}
	sh->z_ready = true;

	if (cfg->collector_token_file[0] && (err = read_token(sh, cfg->collector_token_file)))
		goto out;
	if (sh->token_len && strncasecmp(cfg->collector_url, "http://", 7) == 0)
		ship_log("collector URL %s is plain http: the bearer token travels unencrypted",
			 cfg->collector_url);
	if ((err = setup_curl(sh, cfg)))
		goto out;
	if ((err = pthread_create(&sh->thread, NULL, sender_main, sh))) {
		err = -err;
		goto out;
	}
	sh->thread_started = true;
	*out = sh;
	return 0;
out:
	ship_free(sh);
	return err;
}

int jm_ship_open(struct jm_shipper **sh, const struct jm_config *cfg, struct jm_spool *sp)
{
	return jm_ship_open_opts(sh, cfg, sp, NULL);
}

void jm_ship_kick(struct jm_shipper *sh)
{
	if (!sh)
		return;
	pthread_mutex_lock(&sh->lock);
	sh->kicked = true;
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
}

void jm_ship_close(struct jm_shipper *sh, int drain_ms)
{
	if (!sh)
		return;
	pthread_mutex_lock(&sh->lock);
	sh->stopping = true;
	if (drain_ms <= 0)
		sh->stop_now = true;
	else
		sh->drain_deadline_ns = mono_ns() + (uint64_t)drain_ms * 1000000ull;
	sh->retry_now = true;   /* one immediate attempt: the collector may be back */
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
	if (sh->thread_started)
		pthread_join(sh->thread, NULL);

	uint64_t depth = 0;
	jm_spool_depth(sh->sp, &depth, NULL);
	if (depth)
		ship_log("stopped with %" PRIu64 " batch(es) left in %s; they are sent on the "
			 "next start", depth, jm_spool_dir(sh->sp));
	ship_free(sh);
}

void jm_ship_stats(struct jm_shipper *sh, struct jm_ship_stats *st)
{
	pthread_mutex_lock(&sh->lock);
	*st = sh->st;
	pthread_mutex_unlock(&sh->lock);
	jm_spool_depth(sh->sp, &st->spool_depth, &st->spool_bytes);
	st->spool_dropped = jm_spool_dropped(sh->sp);
}
