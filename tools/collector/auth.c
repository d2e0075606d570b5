/* Bearer-token authentication: see auth.h. */
#include "tools/collector/auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_FILE_MAX 4096

bool jm_coll_token_equal(const char *got, size_t got_len, const char *want, size_t want_len)
{
	/* volatile: keep the compiler from turning the loop into an early
	 * exit.  Every byte of the secret is visited whatever was sent. */
	volatile unsigned char diff = got_len != want_len;

	for (size_t i = 0; i < want_len; i++) {
		unsigned char g = i < got_len ? (unsigned char)got[i] : 0;

		diff |= g ^ (unsigned char)want[i];
	}
	return diff == 0;
}

bool jm_coll_bearer_ok(const char *header, const char *token, size_t token_len)
{
	const char *p, *end;

	if (!header || strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
		return false;
	p = header + 6;
	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return jm_coll_token_equal(p, (size_t)(end - p), token, token_len);
}

void jm_coll_token_free(char *token, size_t len)
{
	if (!token)
		return;
	explicit_bzero(token, len);
	free(token);
}

int jm_coll_token_load(const char *path, char **token, size_t *len, bool *insecure,
		       char *err, size_t err_len)
{
	char buf[TOKEN_FILE_MAX + 1];
	struct stat sb;
	ssize_t n;
	size_t got = 0, a, b;
	int fd, rc = -1;

	*token = NULL;
	*len = 0;
	*insecure = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, err_len, "cannot open token file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == 0 && (sb.st_mode & (S_IRWXG | S_IRWXO)))
		*insecure = true;
	while (got < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, err_len, "cannot read token file %s: %s", path, strerror(errno));
			goto out;
		}
		got += (size_t)n;
	}
	if (got > TOKEN_FILE_MAX) {
		snprintf(err, err_len, "token file %s is larger than %d bytes", path, TOKEN_FILE_MAX);
		goto out;
	}
	for (a = 0; a < got && isspace((unsigned char)buf[a]); a++)
		;
	for (b = got; b > a && isspace((unsigned char)buf[b - 1]); b--)
		;
	if (a == b) {
		snprintf(err, err_len, "token file %s is empty", path);
		goto out;
	}
	for (size_t i = a; i < b; i++) {
		if (buf[i] <= ' ' || buf[i] == 0x7f) {
			snprintf(err, err_len, "token in %s contains whitespace or control characters", path);
			goto out;
		}
	}
	*token = malloc(b - a + 1);
	if (!*token) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	memcpy(*token, buf + a, b - a);
	(*token)[b - a] = '\0';
	*len = b - a;
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}
