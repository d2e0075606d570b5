/* Collector log lines: see log.h. */
#include "tools/collector/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void jm_coll_vlog(const char *fmt, va_list ap)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int k;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n, ".%03ldZ jobmeter-collector: ", ts.tv_nsec / 1000000);
	if (k > 0)
		n += (size_t)k;
	if (n < sizeof(line)) {
		k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		n = k < 0 ? n : n + (size_t)k;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	/* MHD's messages end in a newline already. */
	if (n == 0 || line[n - 1] != '\n')
		line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere left to report a failing stderr. */
	}
}

void jm_coll_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	jm_coll_vlog(fmt, ap);
	va_end(ap);
}
