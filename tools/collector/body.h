/* Bounded request-body sink for the collector: takes the HTTP body piece by
 * piece as it arrives, inflates it when it is gzip, and refuses to grow past
 * two limits (bytes received, bytes after decompression).  Limits are checked
 * as data arrives so that neither a huge upload nor a gzip bomb is ever held
 * in memory.  Pure (zlib only): no HTTP, no SQLite, fuzzable. */
#ifndef JM_COLL_BODY_H
#define JM_COLL_BODY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

enum jm_coll_body_rc {
	JM_BODY_OK = 0,
	JM_BODY_TOO_LARGE,          /* more received bytes than max_in */
	JM_BODY_INFLATED_TOO_LARGE, /* decompressed output beyond max_out */
	JM_BODY_BAD_GZIP,           /* not gzip, corrupt, truncated, trailing data */
	JM_BODY_NOMEM,
	JM_BODY_BUSY,               /* the budget shared by all bodies is in use */
};

/* Memory shared by the bodies of all requests in progress: bounded by one
 * figure however many requests run at once.  `used` is updated atomically. */
struct jm_coll_body_budget {
	size_t used;
	size_t max;
};

struct jm_coll_body {
	bool     gzip;
	bool     z_ready;     /* inflateInit2 succeeded: inflateEnd owed */
	bool     z_done;      /* Z_STREAM_END seen */
	z_stream zs;
	uint8_t *buf;         /* decompressed (or identity) bytes */
	size_t   len, cap;
	size_t   received;    /* bytes fed so far (on the wire) */
	size_t   max_in, max_out;
	enum jm_coll_body_rc err;   /* sticky first error */
	struct jm_coll_body_budget *budget;   /* NULL: no shared budget */
};

/* gzip: true when Content-Encoding is gzip.  Never fails except for memory. */
enum jm_coll_body_rc jm_coll_body_init(struct jm_coll_body *b, bool gzip,
				       size_t max_in, size_t max_out)
	__attribute__((warn_unused_result));
/* Charge this body's buffer to a shared budget (call right after init):
 * growing beyond it fails with JM_BODY_BUSY; jm_coll_body_free gives the
 * memory back. */
void jm_coll_body_set_budget(struct jm_coll_body *b, struct jm_coll_body_budget *budget);
/* Feed the next piece of the body.  Once it returned an error, the body is
 * poisoned: later calls return the same error without looking at data. */
enum jm_coll_body_rc jm_coll_body_feed(struct jm_coll_body *b, const void *data, size_t n)
	__attribute__((warn_unused_result));
/* End of body: a gzip stream must be complete. */
enum jm_coll_body_rc jm_coll_body_finish(struct jm_coll_body *b)
	__attribute__((warn_unused_result));
void jm_coll_body_free(struct jm_coll_body *b);
const char *jm_coll_body_strerror(enum jm_coll_body_rc rc);
#endif
