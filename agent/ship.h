/* HTTP shipper: one sender thread that delivers spooled batches to the
 * collector, oldest first, and deletes each only after a 2xx.
 *
 * How the agent uses it (agent/main.c):
 *
 *   jm_spool_open(&sp, cfg->spool_dir, (uint64_t)cfg->spool_max_mb << 20);
 *   if (cfg->collector_url[0])
 *       jm_ship_open(&sh, cfg, sp);        // starts the thread; it begins
 *                                          // with whatever a previous run left
 *   every interval:
 *       jm_spool_next_seq(sp, &batch.seq);
 *       batch.loss.spool_dropped_batches = jm_spool_dropped(sp);
 *       jm_render_batch_pb(&batch, &buf, &len);
 *       jm_spool_put(sp, batch.seq, buf, len);  free(buf);   // durable first
 *       jm_ship_kick(sh);                  // NULL-safe: no collector, no-op
 *   on SIGTERM:
 *       jm_ship_close(sh, 5000);           // drain for up to 5 s, then stop
 *       jm_spool_close(sp);                // whatever is left ships next start
 *
 * The spool outlives the shipper and must be closed after it.
 *
 * Request: POST <collector_url>, body = the spooled protobuf gzip-compressed,
 * headers Content-Type: application/x-protobuf, Content-Encoding: gzip,
 * Authorization: Bearer <token> (when a token file is configured).  One curl
 * easy handle is reused, so the TLS session and connection are kept alive.
 * Redirects are not followed (the token must not travel elsewhere).
 *
 * Outcomes:
 *   2xx            delivered: the batch is removed from the spool.
 *   429, 5xx, 401, 403, 404, 407, 408, 425, other non-2xx/4xx, transport and
 *                  TLS errors: retried.  The wait is Retry-After (seconds,
 *                  at most 600) when the collector sends one, otherwise
 *                  exponential backoff with full jitter: uniform in
 *                  [0, min(cap, base * 2^failures)] (base 1 s, cap 60 s).
 *                  Auth/URL errors (401/403/404/407) are retried rather than
 *                  rejected: they are about the configuration, not the batch,
 *                  and rejecting would throw away the whole spool until an
 *                  operator fixes a token.
 *   425 for a batch that ends more than a day after the agent's own clock
 *                  too (made while its clock was far ahead, corrected since):
 *                  no clock is going to reach it, and it would hold every
 *                  later batch behind it; refused as below.  An agent clock
 *                  before 2000 (unset) judges nothing: retried
 *                  (jm_ship_ahead_of_own_clock_s).
 *   other 4xx      the batch itself is refused: logged once with the status
 *                  and the head of the response body, counted in
 *                  rejected_4xx, moved to <spool>/rejected/; not retried.
 *   409 with "stored_max_seq":N in its JSON body (the collector has another
 *                  batch under this seq: the spool's numbering restarted, a
 *                  new spool_dir or a deleted seq file, on the same agent_id
 *                  and boot): the spool's seq is advanced past N
 *                  (jm_spool_advance_seq), the batch is decoded, given a new
 *                  seq, spooled under it and the refused copy removed; it is
 *                  then sent in its new place, with no backoff.  Each such
 *                  batch counts in renumbered; one warning per recovery gives
 *                  the old and new seq ranges.  Rejecting instead lost every
 *                  batch until the numbering passed N.  A 409 without the
 *                  field (an older collector) is a refused batch as above.
 * Sending stays strictly in seq order: a batch that is being retried blocks
 * the newer ones (the collector can rely on seq order per agent).
 *
 * Logging (stderr, "jobmeter-agent: ship: ..."): the first failure of a
 * streak and every change of error, a reminder every 5 minutes while it
 * persists, the recovery, and each rejected batch.  TLS verification errors
 * read "collector TLS verification failed: <curl error>".  The bearer token
 * is never logged: curl verbose mode is never enabled, and any echo of the
 * token in a response body is redacted before logging.
 */
#ifndef JM_SHIP_H
#define JM_SHIP_H
#include <stdint.h>

#include "config.h"
#include "spool.h"

struct jm_shipper;

/* Tunables; jm_ship_open() uses the defaults (0 = default everywhere). */
struct jm_ship_opts {
	unsigned base_ms;        /* backoff base, default 1000 */
	unsigned cap_ms;         /* backoff cap, default 60000 */
	unsigned idle_poll_ms;   /* rescan the spool when idle, default 30000 */
};

struct jm_ship_stats {
	uint64_t sent;           /* batches acknowledged with a 2xx */
	uint64_t retries;        /* failed attempts that will be retried */
	uint64_t rejected_4xx;   /* batches moved to rejected/ */
	uint64_t renumbered;     /* batches sent again under a new seq after a 409
				  * seq conflict (stored_max_seq) */
	long     last_http_status;   /* of the last response; 0 = none yet */
	char     last_error[256];    /* last failure ("" = none since open); kept
				      * after recovery so it can be inspected */
	uint64_t spool_depth;    /* batches pending in the spool */
	uint64_t spool_bytes;
	uint64_t spool_dropped;  /* jm_spool_dropped() */
};

/* Start the sender thread for cfg->collector_url (must be non-empty).  Reads
 * the token from cfg->collector_token_file now (trailing whitespace trimmed;
 * "" = send no Authorization header); uses cfg->collector_ca_file as the CA
 * bundle when set, cfg->collector_timeout_s (0 = 10) as both connect and
 * total timeout per request.  Returns 0 or -errno (-EINVAL: no URL, empty
 * token or control characters in it; the errno of reading the token file);
 * each error is also logged with the file name (never the token).
 * Call from the main thread before other threads use libcurl: it runs
 * curl_global_init(). */
int jm_ship_open(struct jm_shipper **sh, const struct jm_config *cfg, struct jm_spool *sp)
	__attribute__((warn_unused_result));

/* Same with explicit tunables (tests shorten the backoff). */
int jm_ship_open_opts(struct jm_shipper **sh, const struct jm_config *cfg, struct jm_spool *sp,
		      const struct jm_ship_opts *opts) __attribute__((warn_unused_result));

/* A batch was spooled: wake the sender if it is idle.  It does not cut a
 * backoff short (the collector asked for the pause).  NULL-safe. */
void jm_ship_kick(struct jm_shipper *sh);

/* Stop: keep sending for at most drain_ms (one immediate attempt first, even
 * in the middle of a backoff; then normal backoff), abort an in-flight
 * request at the deadline, join the thread and free everything.  Unsent
 * batches stay in the spool.  drain_ms <= 0 stops at once.  NULL-safe. */
void jm_ship_close(struct jm_shipper *sh, int drain_ms);

/* A consistent snapshot of the counters. */
void jm_ship_stats(struct jm_shipper *sh, struct jm_ship_stats *st);

/* The decision behind "425 for a batch that ends more than a day after the
 * agent's own clock too" above (pure, for tests): seconds the batch's latest
 * end time (window, runs, job windows; <= 0 = not a Batch) lies after
 * now_ns, the agent's clock, when that is more than a day -- > 0: refuse
 * the batch (rejected/) --, else 0: keep it for retry.  An agent clock
 * before 2000-01-01 is unset (an RTC reset, before NTP) and judges nothing:
 * 0. */
int64_t jm_ship_ahead_of_own_clock_s(int64_t latest_end_ns, int64_t now_ns);
#endif
