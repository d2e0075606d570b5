/* Decode and validate one jobmeter.v1.Batch (pure: protobuf-c only, no HTTP,
 * no SQLite, so the fuzz target links just this and the generated code).
 *
 * Decoding uses a budgeted allocator: protobuf-c materialises every repeated
 * element, and a few bytes of wire format can describe thousands of empty
 * sub-messages, so the decoded size is capped, not only the wire size. */
#ifndef JM_COLL_INGEST_H
#define JM_COLL_INGEST_H
#include <stddef.h>
#include <stdint.h>

#include "jobmeter.pb-c.h"

/* Validation limits (the wire contract, see tools/collector/README.md). */
#define JM_COLL_ID_MAX          128       /* agent_id, boot_id */
#define JM_COLL_JOB_MAX         256       /* job names, bytes */
#define JM_COLL_STRING_MAX      4096      /* any other string, bytes */
#define JM_COLL_ITEMS_MAX       10000     /* runs + windows per batch */
#define JM_COLL_LABELS_MAX      64        /* labels per run */
#define JM_COLL_NS_MAX          INT64_C(7258118400000000000)   /* 2200-01-01 */
/* Every double (seconds, GiB-seconds) is at most this: 31.7 million years,
 * far beyond any run, window or host, yet small enough that no sum of
 * them in a rollup or a report overflows to infinity. */
#define JM_COLL_DOUBLE_MAX      1e15
/* Decoded memory may be this many times the wire size (plus a floor):
 * honest batches stay well below 6x, empty-message floods go far beyond. */
#define JM_COLL_DECODE_FACTOR   8u
#define JM_COLL_DECODE_FLOOR    (1u << 20)

enum jm_coll_decode_rc {
	JM_DECODE_OK = 0,
	JM_DECODE_INVALID_PROTOBUF,   /* not a Batch on the wire */
	JM_DECODE_TOO_LARGE,          /* decoded size over budget */
	JM_DECODE_INVALID_BATCH,      /* decodes, but breaks the contract */
};

struct jm_coll_decoded {
	Jobmeter__V1__Batch *batch;   /* NULL unless JM_DECODE_OK */
	size_t n_items;               /* runs + windows */
};

/* The decoded-memory budget for a wire size of len bytes (what
 * jm_coll_decode_batch lets protobuf-c allocate at most). */
size_t jm_coll_decode_budget(size_t len);

/* Decode buf and validate it.  On anything but JM_DECODE_OK, `why` holds a
 * short human-readable reason (e.g. "runs[3].counters.cpu_s: negative") and
 * out->batch is NULL.  Free a decoded batch with jm_coll_decoded_free. */
enum jm_coll_decode_rc jm_coll_decode_batch(const uint8_t *buf, size_t len,
					    struct jm_coll_decoded *out,
					    char *why, size_t why_len)
	__attribute__((warn_unused_result));
void jm_coll_decoded_free(struct jm_coll_decoded *d);

/* Validate an already decoded batch (exposed for unit tests and gen-batch
 * self-checks).  Returns 0 when valid, -1 with `why` filled otherwise. */
int jm_coll_validate_batch(const Jobmeter__V1__Batch *b, char *why, size_t why_len)
	__attribute__((warn_unused_result));

/* Times the collector's clock can vouch for: a batch whose window (or a
 * run or window in it) starts or ends more than JM_COLL_FUTURE_MAX_NS after
 * now_ns, or starts or ends before 2000-01-01, comes from a broken clock.
 * Stored, it would sit in an hour no report looks at, and the gaps charged
 * to it with it (a start before 2000 would stretch a run or window over
 * decades).  Returns 0; -1 (with `why`) for a time before 2000, which never
 * passes -- judged first, so such a batch is not retried; else
 * JM_CLOCK_AHEAD (with `why`) when ahead, which may be the collector's clock
 * being behind and passes once the clocks agree, so it is worth a retry.
 * `why` says which time (its field path, start or end) and why. */
#define JM_CLOCK_AHEAD 1
#define JM_COLL_FUTURE_MAX_NS   (INT64_C(3600) * 1000000000)
#define JM_COLL_NS_MIN          INT64_C(946684800000000000)    /* 2000-01-01 */
int jm_coll_check_clock(const Jobmeter__V1__Batch *b, int64_t now_ns, char *why, size_t why_len)
	__attribute__((warn_unused_result));

/* Strict UTF-8 check (no overlongs, no surrogates, <= U+10FFFF). */
int jm_coll_utf8_valid(const char *s, size_t len);
#endif
