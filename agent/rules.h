/* Rule matching: which configured job (if any) a freshly exec'd process
 * belongs to.  Pure: no /proc access, no globals; callers pass what the kernel
 * reported. */
#ifndef JM_RULES_H
#define JM_RULES_H
#include "config.h"

struct jm_proc_facts {
	const char *comm;          /* task comm, <= 15 chars */
	const char *exe;           /* executable path as passed to exec */
	const char *argv;          /* argv joined by single spaces (may be truncated) */
	const char *cgroup;        /* cgroup v2 path, e.g. "/system.slice/x.service"; may be NULL */
};

/* Index of the first job in cfg->jobs whose match criteria all hold, or -1.
 * A job with no criteria never matches (it only declares outputs). */
int jm_rules_match(const struct jm_config *cfg, const struct jm_proc_facts *f);

/* Shell-style glob where '*' and '?' also cross '/' (paths are matched whole). */
bool jm_glob_match(const char *pattern, const char *s);
#endif
