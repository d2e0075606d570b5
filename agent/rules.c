/* Rule matching: first configured job whose given criteria all hold. */
#include "rules.h"

#include <string.h>

/* Iterative glob with single-star backtracking: on a mismatch we resume just
 * after the most recent '*', letting it swallow one more character.  At worst
 * O(len(pattern) * len(s)) and no recursion, so hostile patterns cannot blow
 * the stack.
 * Only '*' and '?' are special: fnmatch() would also treat '[' and '\' as
 * syntax, and both occur literally in systemd unit names and cgroup paths. */
bool jm_glob_match(const char *pattern, const char *s)
{
	if (!pattern || !s)
		return false;
	const char *p = pattern, *star = NULL, *resume = NULL;
	while (*s) {
		if (*p == '*') {
			star = p++;
			resume = s;
		} else if (*p == '?' || *p == *s) {
			p++;
			s++;
		} else if (star) {
			p = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

static bool job_matches(const struct jm_cfg_job *j, const struct jm_proc_facts *f)
{
	if (!j->comm[0] && !j->exe_glob[0] && !j->cgroup_glob[0] && !j->has_argv)
		return false;           /* declares outputs only */
	if (j->comm[0] && (!f->comm || strcmp(j->comm, f->comm) != 0))
		return false;
	if (j->exe_glob[0] && !jm_glob_match(j->exe_glob, f->exe))
		return false;
	if (j->cgroup_glob[0] && !jm_glob_match(j->cgroup_glob, f->cgroup))
		return false;
	if (j->has_argv && (!f->argv || regexec(&j->argv_re, f->argv, 0, NULL, 0) != 0))
		return false;
	return true;
}

int jm_rules_match(const struct jm_config *cfg, const struct jm_proc_facts *f)
{
	for (size_t i = 0; i < cfg->n_jobs; i++)
		if (job_matches(&cfg->jobs[i], f))
			return (int)i;
	return -1;
}
