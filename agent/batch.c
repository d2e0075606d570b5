#include "batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "render_pb.h"

void jm_batch_builder_init(struct jm_batch_builder *bb)
{
	memset(bb, 0, sizeof(*bb));
}

static int copy_db(struct jm_db_stats **dst, const struct jm_db_stats *src, size_t n)
{
	*dst = NULL;
	if (!n)
		return 0;
	*dst = calloc(n, sizeof(**dst));
	if (!*dst)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		(*dst)[i] = src[i];
		(*dst)[i].statements = NULL;
		if (src[i].n_statements) {
			size_t sz = src[i].n_statements * sizeof(*src[i].statements);
			(*dst)[i].statements = malloc(sz);
			if (!(*dst)[i].statements) {
				(*dst)[i].n_statements = 0;
				return -ENOMEM;
			}
			memcpy((*dst)[i].statements, src[i].statements, sz);
		}
	}
	return 0;
}

static void free_db(struct jm_db_stats *db, size_t n)
{
	for (size_t i = 0; db && i < n; i++)
		free(db[i].statements);
	free(db);
}

static int copy_outputs(struct jm_output_write **dst, const struct jm_output_write *src, size_t n)
{
	*dst = NULL;
	if (!n)
		return 0;
	*dst = malloc(n * sizeof(**dst));
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, src, n * sizeof(**dst));
	return 0;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 16;
	void *na = realloc(*arr, nc * elem);
	if (!na)
		return -ENOMEM;
	*arr = na;
	*cap = nc;
	return 0;
}

/* Deep copies of a record's database stats and outputs, or neither: on
 * failure nothing is left allocated, and nothing of the caller's is freed. */
static int copy_parts(struct jm_db_stats **db, const struct jm_db_stats *src_db, size_t n_db,
		      struct jm_output_write **out, const struct jm_output_write *src_out, size_t n_out)
{
	*out = NULL;
	if (copy_db(db, src_db, n_db) == 0 && copy_outputs(out, src_out, n_out) == 0)
		return 0;
	free_db(*db, n_db);
	free(*out);
	*db = NULL;
	*out = NULL;
	return -ENOMEM;
}

int64_t jm_batch_window_end(int64_t start_ns, int64_t now_ns)
{
	return now_ns < start_ns ? start_ns : now_ns;
}

int jm_batch_builder_add_run(struct jm_batch_builder *bb, const struct jm_run_record *r)
{
	if (grow((void **)&bb->runs, &bb->cap_runs, bb->n_runs, sizeof(*bb->runs)))
		return -ENOMEM;
	struct jm_run_record *c = &bb->runs[bb->n_runs];
	*c = *r;
	c->end_ns = jm_batch_window_end(c->start_ns, c->end_ns);
	if (copy_parts(&c->db, r->db, r->n_db, &c->outputs, r->outputs, r->n_outputs))
		return -ENOMEM;
	bb->n_runs++;
	return 0;
}

int jm_batch_builder_add_window(struct jm_batch_builder *bb, const struct jm_window_record *w)
{
	if (grow((void **)&bb->windows, &bb->cap_windows, bb->n_windows, sizeof(*bb->windows)))
		return -ENOMEM;
	struct jm_window_record *c = &bb->windows[bb->n_windows];
	*c = *w;
	c->end_ns = jm_batch_window_end(c->start_ns, c->end_ns);
	c->labels = NULL;
	if (copy_parts(&c->db, w->db, w->n_db, &c->outputs, w->outputs, w->n_outputs))
		return -ENOMEM;
	if (w->n_labels && w->labels) {
		c->labels = malloc(w->n_labels * sizeof(*c->labels));
		if (!c->labels) {
			free_db(c->db, c->n_db);
			free(c->outputs);
			return -ENOMEM;
		}
		memcpy(c->labels, w->labels, w->n_labels * sizeof(*c->labels));
	} else {
		c->n_labels = 0;
	}
	bb->n_windows++;
	return 0;
}

void jm_batch_builder_view(const struct jm_batch_builder *bb, struct jm_batch *b)
{
	b->n_runs = bb->n_runs;
	b->runs = bb->runs;
	b->n_windows = bb->n_windows;
	b->windows = bb->windows;
}

/* Point part at n records of b from offset (ro, wo): runs first, then windows. */
static void slice(const struct jm_batch *b, size_t ro, size_t wo, size_t n, struct jm_batch *part)
{
	size_t nr = b->n_runs - ro < n ? b->n_runs - ro : n;

	part->runs = b->runs + ro;
	part->n_runs = nr;
	part->windows = b->windows + wo;
	part->n_windows = n - nr;
}

int jm_batch_render_parts(const struct jm_batch *b, size_t max_items, size_t max_bytes,
			  jm_batch_seq_fn seq, jm_batch_put_fn put, void *ctx,
			  size_t *n_parts, size_t *n_items)
{
	size_t ro = 0, wo = 0;
	int err;

	*n_parts = *n_items = 0;
	if (max_items == 0)
		max_items = 1;
	do {
		size_t left = (b->n_runs - ro) + (b->n_windows - wo);
		size_t n = left < max_items ? left : max_items;
		struct jm_batch part = *b;
		uint8_t *buf = NULL;
		size_t len = 0;

		if (*n_parts)
			memset(&part.host, 0, sizeof(part.host));
		/* Shrinking keeps the number: a seq is never skipped for size. */
		if ((err = seq(ctx, &part.seq)))
			return err;
		for (;;) {
			slice(b, ro, wo, n, &part);
			if ((err = jm_render_batch_pb(&part, &buf, &len)))
				return err < 0 ? err : -err;
			if (len <= max_bytes || n <= 1)
				break;
			free(buf);
			buf = NULL;
			n /= 2;
		}
		err = put(ctx, &part, buf, len);
		free(buf);
		if (err)
			return err;
		ro += part.n_runs;
		wo += part.n_windows;
		(*n_parts)++;
		*n_items += part.n_runs + part.n_windows;
	} while (ro < b->n_runs || wo < b->n_windows);
	return 0;
}

void jm_batch_builder_reset(struct jm_batch_builder *bb)
{
	for (size_t i = 0; i < bb->n_runs; i++) {
		free_db(bb->runs[i].db, bb->runs[i].n_db);
		free(bb->runs[i].outputs);
	}
	for (size_t i = 0; i < bb->n_windows; i++) {
		free_db(bb->windows[i].db, bb->windows[i].n_db);
		free(bb->windows[i].outputs);
		free(bb->windows[i].labels);
	}
	bb->n_runs = bb->n_windows = 0;
}

void jm_batch_builder_free(struct jm_batch_builder *bb)
{
	jm_batch_builder_reset(bb);
	free(bb->runs);
	free(bb->windows);
	jm_batch_builder_init(bb);
}
