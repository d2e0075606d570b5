/* Collector log lines on stderr: "2024-05-01T12:00:00.123Z jobmeter-collector: ...".
 * Stateless (one write per line so concurrent threads do not interleave).
 * Never pass secrets: the bearer token is not logged anywhere. */
#ifndef JM_COLL_LOG_H
#define JM_COLL_LOG_H
#include <stdarg.h>

void jm_coll_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void jm_coll_vlog(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
#endif
