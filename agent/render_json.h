/* JSONL rendering of the model (agent/model.h): one line per finished run,
 * per job window, and per loss report.  Pure: records in, bytes out. The
 * protobuf renderer (render_pb.c) renders the same structs. */
#ifndef JM_RENDER_JSON_H
#define JM_RENDER_JSON_H
#include "buf.h"
#include "model.h"

void jm_json_run(struct jm_buf *b, const struct jm_run_record *r);
void jm_json_window(struct jm_buf *b, const struct jm_window_record *w);
/* "delta" holds what was lost since the previous loss line; total the sums. */
void jm_json_loss(struct jm_buf *b, int64_t now_ns, const struct jm_loss *delta,
		  const struct jm_loss *total);
#endif
