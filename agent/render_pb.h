/* Protobuf rendering of one batch (proto/jobmeter.proto, jobmeter.v1.Batch).
 *
 * The agent builds one struct jm_batch per interval (agent/model.h); the JSONL
 * renderer and this one both take it, so the two outputs cannot drift.  The
 * result is what gets spooled (agent/spool.h) and shipped (agent/ship.h).
 *
 * Mapping rules (the collector relies on them):
 *   - schema_version is always 1.
 *   - agent, host, loss and every run/window `counters` are always present
 *     (never left out as "unset"), even when all-zero.
 *   - DbStats.system is jm_db_system_name() ("postgresql" | "mysql", and
 *     "unknown" for JM_DB_NONE); OutputWrite.kind is "table" | "file".
 *   - DbStats.latency_buckets always carries all JM_HIST_BUCKETS buckets, so
 *     index i means the same bucket everywhere (gzip makes the zeros free on
 *     the wire).
 *   - n_labels is clamped to JM_LABELS_MAX (the labels array is inline).
 *   - Strings are the model's NUL-terminated fixed arrays.  A field that is
 *     not terminated within its array is cut to array size - 1 (the longest
 *     string the array can legally hold), and bytes
 *     that are not valid UTF-8 (proto3 `string` must be UTF-8; other
 *     decoders reject the whole message otherwise) are replaced by '?'.
 *     Valid strings are passed through byte for byte.
 */
#ifndef JM_RENDER_PB_H
#define JM_RENDER_PB_H
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define JM_PB_SCHEMA_VERSION 1

/* Render *b as a packed jobmeter.v1.Batch.  On success returns 0 and stores a
 * malloc'd buffer in *out (free() it) and its length in *len.  Returns
 * -EINVAL when a count is non-zero but its array pointer is NULL, -ENOMEM
 * when out of memory; *out is left NULL on error. */
int jm_render_batch_pb(const struct jm_batch *b, uint8_t **out, size_t *len)
	__attribute__((warn_unused_result));
#endif
