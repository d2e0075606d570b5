// fuzz-sources: agent/protocol/postgres.c
/* libFuzzer target for the PostgreSQL parser (agent/protocol/postgres.c).
 *
 * Input = a sequence of records: [ctl][len lo][len hi][cut] then len bytes.
 *   ctl bit 0     direction (TX/RX)
 *   ctl bits 1-2  capture shape: 0 whole; 1 head+tail with the middle of
 *                 the record uncaptured; 2 head+tail overlapping (whole);
 *                 3 head+tail plus an extra uncaptured middle of a size
 *                 picked by bits 3-5 (up to a 4 GiB total_len)
 *   ctl bit 6     call jm_pg_close() after this record
 *   cut           where the head ends inside the record
 * Head and tail are copied into exact-size heap buffers so ASan flags any
 * read beyond head_len/tail_len.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Iagent -I. \
 *        tests/fuzz/fuzz_postgres.c agent/protocol/postgres.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/postgres.h"

struct fz_ctx {
	uint64_t queries;
	uint64_t last_ts;
};

static void fz_cb(void *ctx, const struct jm_query *q)
{
	struct fz_ctx *f = ctx;
	volatile uint8_t acc = 0;

	/* Every reported byte must be readable and within the documented bound. */
	if (q->sql_len > JM_PG_SQL_MAX || (q->sql_len && !q->sql))
		abort();
	for (size_t i = 0; i < q->sql_len; i++)
		acc ^= (uint8_t)q->sql[i];
	if (memchr(q->sqlstate, 0, sizeof(q->sqlstate)) == NULL)
		abort();
	if ((int)q->cmd < JM_SQL_OTHER || q->cmd > JM_SQL_CREATE_TABLE_AS)
		abort();
	if (!q->error && q->sqlstate[0])
		abort();
	/* rows are known, or unknown (a failed query too: rows before its
	 * error went by unseen), or none */
	if (q->has_rows && q->rows_unknown)
		abort();
	(void)acc;
	f->queries++;
}

static const uint32_t fz_gaps[8] = { 1, 5, 100, 4096, 65536, 1u << 24, 1u << 30, 0xffffffffu };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jm_pg_conn *c = malloc(sizeof(*c));
	struct jm_proto_stats st = { 0 };
	struct fz_ctx fc = { 0, 0 };
	size_t pos = 0;
	uint64_t ts = 1;

	if (!c)
		return 0;
	jm_pg_init(c);
	(void)jm_pg_detect(data, size);

	while (pos + 4 <= size) {
		uint8_t ctl = data[pos];
		size_t len = (size_t)data[pos + 1] | (size_t)data[pos + 2] << 8;
		uint8_t cut = data[pos + 3];
		pos += 4;
		if (len > size - pos)
			len = size - pos;
		const uint8_t *rec = data + pos;
		pos += len;

		struct jm_fragment f;
		memset(&f, 0, sizeof(f));
		f.dir = (ctl & 1) ? JM_DIR_RX : JM_DIR_TX;
		f.ts_ns = ts++;
		size_t hl = len ? (size_t)cut % (len + 1) : 0, tl = 0;
		uint64_t total = len;
		switch ((ctl >> 1) & 3) {
		case 0:
			hl = len;
			break;
		case 1: /* the record's middle is the uncaptured part */
			tl = (len - hl) / 2;
			break;
		case 2: /* overlapping head and tail */
			tl = len - hl + (hl ? (size_t)(cut % (hl + 1)) : 0);
			if (tl > len)
				tl = len;
			break;
		case 3:
			tl = len - hl;
			total = (uint64_t)len + fz_gaps[(ctl >> 3) & 7];
			if (total > UINT32_MAX)
				total = UINT32_MAX;
			break;
		}
		uint8_t *h = malloc(hl ? hl : 1), *t = malloc(tl ? tl : 1);
		if (!h || !t) {
			free(h);
			free(t);
			break;
		}
		memcpy(h, rec, hl);
		memcpy(t, rec + len - tl, tl);
		f.total_len = (uint32_t)total;
		f.head = h;
		f.head_len = (uint32_t)hl;
		f.tail = t;
		f.tail_len = (uint32_t)tl;
		jm_pg_feed(c, &f, fz_cb, &fc, &st);
		free(h);
		free(t);
		if (ctl & 0x40)
			jm_pg_close(c, ts, fz_cb, &fc);
	}
	free(c);
	return 0;
}
