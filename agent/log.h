/* The one log module of the project (agent, collector, report): leveled
 * lines on stderr, "jobmeter-agent: warn: ..." so journald and kubectl logs
 * show them as-is; optionally prefixed with an RFC 3339 UTC timestamp
 * ("2024-05-01T12:00:00.123Z jobmeter-collector: info: ...") for programs
 * whose stderr goes to a plain file.
 *
 * Each line is built in a bounded buffer and written with one write(2), so
 * lines of concurrent threads never interleave.  Control characters in the
 * message (a newline inside an agent id, say) are escaped as \xNN: one call
 * is always exactly one line, and input cannot forge log lines.
 *
 * Callers never pass secrets (bearer tokens, passwords, URLs with
 * credentials): nothing here could tell them apart from other text.  A
 * configured URL goes through jm_log_url() first.
 *
 * Settings are written once by jm_log_init*() before any thread starts and
 * only read afterwards; nothing else is global. */
#ifndef JM_LOG_H
#define JM_LOG_H
#include <stdarg.h>
#include <stddef.h>

enum jm_log_level { JM_LOG_ERROR = 0, JM_LOG_WARN = 1, JM_LOG_INFO = 2, JM_LOG_DEBUG = 3 };

/* Flags of jm_log_init_flags. */
#define JM_LOG_TIMESTAMP 0x1u   /* prefix every line with the UTC time (ms) */

/* Longest line written, newline included; longer messages end in "...". */
#define JM_LOG_LINE_MAX 2048

void jm_log_init(const char *prog, enum jm_log_level level);
void jm_log_init_flags(const char *prog, enum jm_log_level level, unsigned flags);
void jm_log(enum jm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For callbacks that hand over a va_list (libmicrohttpd's external logger).
 * A trailing newline in the message is dropped (the line gets exactly one). */
void jm_vlog(enum jm_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Format one line as jm_log would write it (without writing it); returns
 * its length, newline included.  Exposed for the unit test of the format. */
size_t jm_log_format(char *line, size_t cap, enum jm_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

/* A URL as it may be logged: scheme, host, port and path, without the
 * user:password@ part and without the query and fragment (which may carry
 * tokens), each marked where it was dropped: after the scheme,
 * user:pw@host/p?t=1 becomes ***@host/p?***.
 * Returns buf (always NUL-terminated when n > 0). */
const char *jm_log_url(const char *url, char *buf, size_t n);

#define jm_err(...)   jm_log(JM_LOG_ERROR, __VA_ARGS__)
#define jm_warn(...)  jm_log(JM_LOG_WARN, __VA_ARGS__)
#define jm_info(...)  jm_log(JM_LOG_INFO, __VA_ARGS__)
#define jm_debug(...) jm_log(JM_LOG_DEBUG, __VA_ARGS__)
#endif
