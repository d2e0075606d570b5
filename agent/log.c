/* The project's log module: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Written once by jm_log_init*() before any thread starts; read-only after. */
static const char *log_prog = "jobmeter";
static enum jm_log_level log_level = JM_LOG_INFO;
static unsigned log_flags;

/* Room kept at the end of a line for "..." and the newline. */
#define LOG_TAIL 4u

void jm_log_init_flags(const char *prog, enum jm_log_level level, unsigned flags)
{
	log_prog = prog;
	log_level = level;
	log_flags = flags;
}

void jm_log_init(const char *prog, enum jm_log_level level)
{
	jm_log_init_flags(prog, level, 0);
}

/* Advance n by what snprintf reported, never past the room it had. */
static size_t advance(size_t n, int k, size_t room)
{
	if (k <= 0 || room == 0)
		return n;
	return n + ((size_t)k < room ? (size_t)k : room - 1);
}

size_t jm_log_format(char *line, size_t cap, enum jm_log_level level, const char *fmt, va_list ap)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char msg[JM_LOG_LINE_MAX];
	size_t n = 0, m, end;
	bool cut;
	int k;

	if (cap <= LOG_TAIL + 1)
		return 0;
	end = cap - LOG_TAIL;   /* text goes into line[0 .. end) */
	if ((unsigned)level > JM_LOG_DEBUG)
		level = JM_LOG_DEBUG;
	if (log_flags & JM_LOG_TIMESTAMP) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, end, "%Y-%m-%dT%H:%M:%S", &tm);
		n = advance(n, snprintf(line + n, end - n, ".%03ldZ ", ts.tv_nsec / 1000000), end - n);
	}
	n = advance(n, snprintf(line + n, end - n, "%s: %s: ", log_prog, names[level]), end - n);

	k = vsnprintf(msg, sizeof(msg), fmt, ap);
	m = k < 0 ? 0 : (size_t)k < sizeof(msg) ? (size_t)k : sizeof(msg) - 1;
	cut = k >= 0 && (size_t)k >= sizeof(msg);
	/* libmicrohttpd ends its messages in a newline; the line gets one. */
	if (!cut && m > 0 && msg[m - 1] == '\n')
		m--;
	for (size_t i = 0; i < m; i++) {
		unsigned char c = (unsigned char)msg[i];
		/* Control bytes would let input (an agent id holding a newline)
		 * forge log lines or drive a terminal: escape them. */
		bool esc = c < 0x20 || c == 0x7f;

		if (n + (esc ? 4 : 1) >= end) {
			cut = true;
			break;
		}
		if (esc)
			n = advance(n, snprintf(line + n, 5, "\\x%02x", c), 5);
		else
			line[n++] = (char)c;
	}
	if (cut) {
		memcpy(line + n, "...", 3);
		n += 3;
	}
	line[n++] = '\n';
	line[n] = '\0';
	return n;
}

void jm_vlog(enum jm_log_level level, const char *fmt, va_list ap)
{
	char line[JM_LOG_LINE_MAX];
	size_t n;

	if (level > log_level)
		return;
	n = jm_log_format(line, sizeof(line), level, fmt, ap);
	/* One write per line: concurrent threads never interleave, and no
	 * stdio lock or buffer is involved. */
	if (n && write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere left to report a failing stderr. */
	}
}

void jm_log(enum jm_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	jm_vlog(level, fmt, ap);
	va_end(ap);
}

const char *jm_log_url(const char *url, char *buf, size_t n)
{
	const char *auth, *at = NULL, *rest, *tail;
	size_t k = 0;

	if (!buf || n == 0)
		return buf;
	buf[0] = '\0';
	if (!url)
		return buf;
	/* scheme://[userinfo@]host[:port][/path][?query][#fragment] */
	auth = strstr(url, "://");
	auth = auth ? auth + 3 : url;
	rest = auth + strcspn(auth, "?#");
	/* The last '@' before the query: a password may hold '@' or, not
	 * percent-encoded, '/' (a path with '@' then logs from there on). */
	for (const char *p = auth; p < rest; p++)
		if (*p == '@')
			at = p;
	tail = *rest ? "?***" : "";
#define PUT(s, len) do { size_t l_ = (len); if (l_ > n - 1 - k) l_ = n - 1 - k; \
			 memcpy(buf + k, (s), l_); k += l_; } while (0)
	PUT(url, (size_t)(auth - url));
	if (at) {
		PUT("***@", 4);
		PUT(at + 1, (size_t)(rest - at - 1));
	} else {
		PUT(auth, (size_t)(rest - auth));
	}
	PUT(tail, strlen(tail));
#undef PUT
	buf[k] = '\0';
	return buf;
}
