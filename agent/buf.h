/* Growable byte buffer with printf and JSON-string helpers.  An allocation
 * failure is sticky (b->oom) so callers check once at the end. */
#ifndef JM_BUF_H
#define JM_BUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jm_buf {
	char *data;
	size_t len, cap;
	bool oom;
};

void jm_buf_init(struct jm_buf *b);
void jm_buf_free(struct jm_buf *b);
void jm_buf_reset(struct jm_buf *b);
void jm_buf_append(struct jm_buf *b, const void *p, size_t n);
void jm_buf_puts(struct jm_buf *b, const char *s);
void jm_buf_printf(struct jm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal, quotes included; invalid UTF-8 bytes become U+FFFD. */
void jm_buf_json_str(struct jm_buf *b, const char *s, size_t n);
/* A double that round-trips exactly (%.17g), with non-finite values as 0. */
void jm_buf_json_double(struct jm_buf *b, double v);
/* RFC 3339 UTC with nanoseconds, quoted: "2026-11-26T12:00:00.123456789Z". */
void jm_buf_json_time(struct jm_buf *b, int64_t unix_ns);
#endif
