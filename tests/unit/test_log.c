/* The project's log module (agent/log.h): line format with and without the
 * timestamp, level filter, escaping of control characters, truncation,
 * the trailing newline of libmicrohttpd's messages, and that lines written
 * by concurrent threads never interleave. */
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"

static size_t fmt(char *line, size_t cap, enum jm_log_level level, const char *f, ...)
	__attribute__((format(printf, 4, 5)));
static size_t fmt(char *line, size_t cap, enum jm_log_level level, const char *f, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, f);
	n = jm_log_format(line, cap, level, f, ap);
	va_end(ap);
	return n;
}

static int matches(const char *re, const char *s)
{
	regex_t r;
	int ok;

	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB))
		return 0;
	ok = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

static void test_format(void)
{
	char line[JM_LOG_LINE_MAX], big[3 * JM_LOG_LINE_MAX];
	char guard[64 + 8];
	size_t n;

	jm_log_init("t-prog", JM_LOG_DEBUG);
	n = fmt(line, sizeof(line), JM_LOG_INFO, "x=%d %s", 5, "ok");
	CHECK_STR("plain line", line, "t-prog: info: x=5 ok\n");
	CHECK_INT("length returned", n, strlen(line));
	fmt(line, sizeof(line), JM_LOG_ERROR, "e");
	CHECK_STR("error level name", line, "t-prog: error: e\n");
	fmt(line, sizeof(line), JM_LOG_WARN, "w");
	CHECK_STR("warn level name", line, "t-prog: warn: w\n");
	fmt(line, sizeof(line), JM_LOG_DEBUG, "d");
	CHECK_STR("debug level name", line, "t-prog: debug: d\n");
	fmt(line, sizeof(line), JM_LOG_WARN, "mhd says: closing\n");
	CHECK_STR("trailing newline dropped (libmicrohttpd)", line, "t-prog: warn: mhd says: closing\n");
	fmt(line, sizeof(line), JM_LOG_INFO, "agent %s: gap", "evil\nt-prog: error: forged\r\x1b[2J");
	CHECK_STR("control characters escaped: one call, one line", line,
		  "t-prog: info: agent evil\\x0at-prog: error: forged\\x0d\\x1b[2J: gap\n");
	fmt(line, sizeof(line), JM_LOG_INFO, "utf-8 stays: %s", "d\xc3\xa9j\xc3\xa0");
	CHECK_STR("utf-8 untouched", line, "t-prog: info: utf-8 stays: d\xc3\xa9j\xc3\xa0\n");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	n = fmt(line, sizeof(line), JM_LOG_INFO, "%s", big);
	CHECK("long message fits the line", n < sizeof(line) && n == strlen(line));
	CHECK("long message marked as cut", n > 4 && strcmp(line + n - 4, "...\n") == 0);
	/* A long message of control characters: escapes are never split. */
	memset(big, '\n', JM_LOG_LINE_MAX);
	big[JM_LOG_LINE_MAX] = '\0';
	n = fmt(line, sizeof(line), JM_LOG_INFO, "%s", big);
	CHECK("escaped long message cut on an escape boundary",
	      n < sizeof(line) && matches("^t-prog: info: (\\\\x0a)+\\.\\.\\.\n$", line));

	/* A small buffer is never overrun. */
	memset(guard, 'G', sizeof(guard));
	n = fmt(guard, 24, JM_LOG_INFO, "%s", "a message much longer than 24 bytes");
	CHECK("small buffer: bounded", n < 24 && guard[24] == 'G' && guard[63] == 'G');
	CHECK("small buffer: still one line", n > 0 && guard[n - 1] == '\n');
	CHECK_INT("too small buffer: nothing", fmt(guard, 4, JM_LOG_INFO, "x"), 0);

	jm_log_init_flags("t-prog", JM_LOG_INFO, JM_LOG_TIMESTAMP);
	fmt(line, sizeof(line), JM_LOG_INFO, "listening on %s", "127.0.0.1:1");
	CHECK("timestamp prefix (RFC 3339, UTC, ms)",
	      matches("^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z "
		      "t-prog: info: listening on 127\\.0\\.0\\.1:1\n$", line));
}

/* Everything jm_log writes to stderr goes to a file while fn runs. */
static int with_stderr_in(const char *path, void (*fn)(void))
{
	int saved = dup(STDERR_FILENO);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (saved < 0 || fd < 0 || dup2(fd, STDERR_FILENO) < 0)
		return -1;
	close(fd);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	return 0;
}

static void log_levels(void)
{
	jm_log_init("t-lvl", JM_LOG_WARN);
	jm_debug("hidden %d", 1);
	jm_info("hidden %d", 2);
	jm_warn("shown %d", 3);
	jm_err("shown %d", 4);
}

#define NT 8
#define PER 300

static void *spam(void *arg)
{
	long id = (long)arg;

	for (int i = 0; i < PER; i++)
		jm_info("thread %ld line %d %s", id, i,
			"padding padding padding padding padding padding padding padding padding");
	return NULL;
}

static void log_threads(void)
{
	pthread_t t[NT];

	jm_log_init("t-mt", JM_LOG_INFO);
	for (long i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, spam, (void *)i);
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
}

static void test_output(void)
{
	char path[] = "/tmp/jm-test-log.XXXXXX", line[512];
	int fd = mkstemp(path), good = 0, bad = 0;
	FILE *f;

	if (fd < 0) {
		CHECK("temp file", 0);
		return;
	}
	close(fd);
	CHECK_INT("levels: capture", with_stderr_in(path, log_levels), 0);
	f = fopen(path, "r");
	if (f) {
		char all[256] = "";
		size_t n = fread(all, 1, sizeof(all) - 1, f);

		all[n] = '\0';
		fclose(f);
		CHECK_STR("levels: below the level nothing, above one line each", all,
			  "t-lvl: warn: shown 3\nt-lvl: error: shown 4\n");
	}
	CHECK_INT("threads: capture", with_stderr_in(path, log_threads), 0);
	f = fopen(path, "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (matches("^t-mt: info: thread [0-9] line [0-9]+ (padding ?){9}\n$", line))
				good++;
			else
				bad++;
		}
		fclose(f);
	}
	CHECK_INT("threads: every line whole", good, NT * PER);
	CHECK_INT("threads: no interleaved line", bad, 0);
	unlink(path);
}

/* Configured URLs are logged without credentials or query strings. */
static void test_url(void)
{
	char b[128];

	CHECK_STR("url: password dropped",
		  jm_log_url("http://etluser:COLLECTOR-PASS-5521@127.0.0.1:47999/v1/batches", b, sizeof(b)),
		  "http://***@127.0.0.1:47999/v1/batches");
	CHECK_STR("url: a password holding @ and /",
		  jm_log_url("https://u:p@ss/w@rd@collector.example:443/v1?x=1", b, sizeof(b)),
		  "https://***@collector.example:443/v1?***");
	CHECK_STR("url: query token dropped",
		  jm_log_url("https://collector.example/v1/batches?token=SECRET#frag", b, sizeof(b)),
		  "https://collector.example/v1/batches?***");
	CHECK_STR("url: plain URL unchanged", jm_log_url("http://10.0.0.5:9470/v1/batches", b, sizeof(b)),
		  "http://10.0.0.5:9470/v1/batches");
	CHECK_STR("url: no scheme", jm_log_url("u:pw@host:1/x", b, sizeof(b)), "***@host:1/x");
	CHECK_STR("url: fragment only", jm_log_url("http://h/p#tok", b, sizeof(b)), "http://h/p?***");
	CHECK_STR("url: cut to the buffer", jm_log_url("http://host.example/long/path", b, 12), "http://host");
	CHECK_STR("url: NULL", jm_log_url(NULL, b, sizeof(b)), "");
}

int main(void)
{
	test_url();
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_format();
	test_output();
	TEST_EXIT();
}
