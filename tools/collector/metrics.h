/* Prometheus metrics of the collector: counters, a request-latency
 * histogram and per-agent series, rendered in the text exposition format.
 * All functions are thread-safe (one mutex; updates are a few additions). */
#ifndef JM_COLL_METRICS_H
#define JM_COLL_METRICS_H
#include <stddef.h>
#include <stdint.h>

/* Why a request was refused: the `reason` label (bounded set). */
enum jm_coll_reject {
	JM_REJ_UNAUTHORIZED = 0,
	JM_REJ_MEDIA_TYPE,
	JM_REJ_ENCODING,
	JM_REJ_BODY_TOO_LARGE,
	JM_REJ_DECOMPRESSED_TOO_LARGE,
	JM_REJ_INVALID_GZIP,
	JM_REJ_INVALID_PROTOBUF,
	JM_REJ_INVALID_BATCH,
	JM_REJ_OVERLOADED,
	JM_REJ_STORAGE,
	JM_REJ_INTERNAL,
	JM_REJ_NOT_FOUND,
	JM_REJ_METHOD,
	JM_REJ_SEQ_CONFLICT,        /* 409: seq stored already for another batch */
	JM_REJ_CLOCK_AHEAD,         /* 425: times ahead of the collector's clock */
	JM_REJ_INVALID_FRAMING,     /* 400: body length in doubt (two Content-Length
				     * values, or one with Transfer-Encoding) */
	JM_REJ_COUNT
};

enum jm_coll_handler { JM_H_INGEST = 0, JM_H_HEALTHZ, JM_H_METRICS, JM_H_OTHER, JM_H_COUNT };

/* Per-agent series are kept for at most this many agent ids; beyond it a
 * counter records the overflow instead of growing memory without bound. */
#define JM_COLL_METRICS_AGENTS_MAX 4096

struct jm_coll_metrics;

struct jm_coll_metrics *jm_coll_metrics_new(void);
void jm_coll_metrics_free(struct jm_coll_metrics *m);

const char *jm_coll_reject_name(enum jm_coll_reject r);

void jm_coll_metrics_stored(struct jm_coll_metrics *m, const char *agent_id, uint64_t seq_gap,
			    size_t runs, size_t windows, size_t decoded_bytes, double now_unix_s);
void jm_coll_metrics_duplicate(struct jm_coll_metrics *m, const char *agent_id, double now_unix_s);
void jm_coll_metrics_received(struct jm_coll_metrics *m, size_t wire_bytes);
void jm_coll_metrics_reject(struct jm_coll_metrics *m, enum jm_coll_reject r);
void jm_coll_metrics_observe(struct jm_coll_metrics *m, enum jm_coll_handler h, double seconds);
void jm_coll_metrics_in_flight(struct jm_coll_metrics *m, int delta);
/* One group transaction of the writer (writer.h): committed or not, how
 * many batches it held, how long writing and committing took. */
void jm_coll_metrics_commit(struct jm_coll_metrics *m, int committed, size_t batches, double seconds);

/* A request or connection the HTTP layer (libmicrohttpd) refused or lost on
 * its own, before the collector saw a request (http.c). */
void jm_coll_metrics_http_error(struct jm_coll_metrics *m);

/* Render the exposition text into a malloc'd buffer (*out, *len). */
int jm_coll_metrics_render(struct jm_coll_metrics *m, char **out, size_t *len)
	__attribute__((warn_unused_result));
#endif
