#include "log.h"

#include <stdarg.h>
#include <stdio.h>

/* Written once by jm_log_init() before any thread starts; read-only after. */
static const char *log_prog = "jobmeter";
static enum jm_log_level log_level = JM_LOG_INFO;

void jm_log_init(const char *prog, enum jm_log_level level)
{
	log_prog = prog;
	log_level = level;
}

void jm_log(enum jm_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[1024];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line so concurrent threads do not interleave. */
	fprintf(stderr, "%s: %s: %s\n", log_prog, names[level], line);
}
