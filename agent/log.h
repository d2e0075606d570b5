/* One log module for the agent and tools: leveled lines on stderr,
 * "jobmeter-agent: warn: ..." so journald and kubectl logs show them as-is.
 * The level is set once at start-up; nothing else is global. */
#ifndef JM_LOG_H
#define JM_LOG_H

enum jm_log_level { JM_LOG_ERROR = 0, JM_LOG_WARN = 1, JM_LOG_INFO = 2, JM_LOG_DEBUG = 3 };

void jm_log_init(const char *prog, enum jm_log_level level);
void jm_log(enum jm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define jm_err(...)   jm_log(JM_LOG_ERROR, __VA_ARGS__)
#define jm_warn(...)  jm_log(JM_LOG_WARN, __VA_ARGS__)
#define jm_info(...)  jm_log(JM_LOG_INFO, __VA_ARGS__)
#define jm_debug(...) jm_log(JM_LOG_DEBUG, __VA_ARGS__)
#endif
