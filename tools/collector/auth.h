/* Bearer-token authentication of the collector's ingest endpoint. */
#ifndef JM_COLL_AUTH_H
#define JM_COLL_AUTH_H
#include <stdbool.h>
#include <stddef.h>

/* Read the token from a file: surrounding whitespace (a trailing newline)
 * is dropped; an empty token or a token with inner whitespace or control
 * characters is refused.  *insecure is set when the file is readable by
 * group or others (worth a warning, not fatal).  The token is malloc'd;
 * free it with jm_coll_token_free, which wipes it first. */
int jm_coll_token_load(const char *path, char **token, size_t *len, bool *insecure,
		       char *err, size_t err_len) __attribute__((warn_unused_result));
void jm_coll_token_free(char *token, size_t len);

/* Does an Authorization header value carry exactly this bearer token?  The
 * comparison takes time that depends only on the expected token's length,
 * never on where the first mismatching byte is.  header may be NULL. */
bool jm_coll_bearer_ok(const char *header, const char *token, size_t token_len);

/* Constant-time equality of a presented value against the secret. */
bool jm_coll_token_equal(const char *got, size_t got_len, const char *want, size_t want_len);
#endif
