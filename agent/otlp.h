/* OpenTelemetry export: the same per-job SLIs as OTLP/HTTP protobuf metrics
 * (POST <url>, Content-Type application/x-protobuf, gzip), so a fleet can ship
 * into an OpenTelemetry Collector.  One ExportMetricsServiceRequest per agent
 * batch: one ResourceMetrics per job (resource attributes host.name,
 * service.name=jobmeter, jobmeter.job, and k8s.namespace.name / k8s.pod.name
 * / systemd unit when the run carries them), delta temporality over the
 * batch window.  Semantic conventions where they exist: process.cpu.time,
 * db.client.operation.duration (histogram, attribute db.system.name). */
#ifndef JM_OTLP_H
#define JM_OTLP_H
#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct jm_otlp;

int jm_otlp_open(struct jm_otlp **out, const char *url, unsigned timeout_s)
	__attribute__((warn_unused_result));
void jm_otlp_close(struct jm_otlp *o);

/* Encode b as an ExportMetricsServiceRequest (pure; exposed for tests). */
int jm_otlp_encode(const struct jm_batch *b, uint8_t **out, size_t *len)
	__attribute__((warn_unused_result));
/* Encode and POST (synchronous, bounded by timeout_s).  0 on 2xx. */
int jm_otlp_export(struct jm_otlp *o, const struct jm_batch *b);
#endif
