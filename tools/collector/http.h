/* HTTP front of the collector (libmicrohttpd, one thread per connection,
 * bounded connection count):
 *   POST /v1/batches  ingest one Batch (protobuf, identity or gzip)
 *   GET  /healthz     200 "ok" or 503 when the database is unusable
 *   GET  /metrics     Prometheus text format
 * Every refusal is a short JSON body {"status":"rejected","reason":...}. */
#ifndef JM_COLL_HTTP_H
#define JM_COLL_HTTP_H
#include <stddef.h>

#include "tools/collector/metrics.h"
#include "tools/collector/store.h"
#include "tools/collector/writer.h"

struct jm_coll_http_config {
	const char *listen;          /* "ADDR:PORT", "[v6]:PORT" or ":PORT"; port 0 = any */
	const char *token;           /* NULL: no authentication */
	size_t token_len;
	const char *tls_cert_pem;    /* both NULL: plain HTTP */
	const char *tls_key_pem;
	size_t max_body;             /* bytes on the wire */
	size_t max_decompressed;     /* bytes after gzip */
	unsigned max_ingest;         /* concurrent ingest requests before 503 */
	unsigned max_connections;
	unsigned max_per_ip;         /* connections from one address; 0: no limit */
};

struct jm_coll_server;

/* Batches go to the writer (group commit); the store answers /healthz.
 * Stop the server before the writer: requests in progress wait on it. */
int jm_coll_server_start(const struct jm_coll_http_config *cfg, struct jm_coll_store *store,
			 struct jm_coll_writer *writer, struct jm_coll_metrics *metrics,
			 struct jm_coll_server **out, char *err, size_t err_len)
	__attribute__((warn_unused_result));
/* The bound address as "ip:port" (useful with port 0). */
const char *jm_coll_server_address(const struct jm_coll_server *srv);
/* Stop accepting, let in-flight requests finish (up to grace_s), close. */
void jm_coll_server_stop(struct jm_coll_server *srv, double grace_s);
#endif
