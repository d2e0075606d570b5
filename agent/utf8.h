/* Strict UTF-8 (RFC 3629) for every text the agent hands to a strict
 * decoder: Prometheus label values, protobuf `string` fields and OTLP
 * attributes.  Those decoders reject a whole exposition or message over one
 * bad byte, so the model's fixed arrays (which may hold anything a traced
 * process sent) are checked or repaired with these before they go out.
 * Pure functions, no allocation. */
#ifndef JM_UTF8_H
#define JM_UTF8_H
#include <stdbool.h>
#include <stddef.h>

/* Length (1..4) of the well-formed sequence starting at s, of which n >= 1
 * bytes are readable, or 0 when s does not start one: overlong forms,
 * surrogates, code points above U+10FFFF and truncated sequences are all 0. */
size_t jm_utf8_seq_len(const unsigned char *s, size_t n);

/* Whether s[0..n) is entirely well-formed. */
bool jm_utf8_valid(const char *s, size_t n);

/* Copy src[0..n) to dst[0..n] with each byte that starts no well-formed
 * sequence replaced by '?', then NUL-terminate: dst must hold n + 1 bytes.
 * The length never changes, so callers size dst before they copy. */
void jm_utf8_sanitize(char *dst, const char *src, size_t n);
#endif
