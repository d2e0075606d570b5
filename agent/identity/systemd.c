/* systemd identity: the innermost service/scope of a cgroup path, matched
 * against the configured unit globs.  Contract in identity.h. */
#include "identity.h"

#include <string.h>

#include "rules.h"

#define SD_UNIT_NAME_MAX JM_ID_UNIT_MAX

static bool sd_comp_is(const char *c, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n == l && memcmp(c, lit, l) == 0;
}

/* Length of the suffix (".service" / ".scope") when c is a unit with a
 * non-empty stem, else 0. */
static size_t sd_unit_suffix(const char *c, size_t n)
{
	static const char *const sfx[] = { ".service", ".scope" };
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		size_t l = strlen(sfx[i]);
		if (n > l && memcmp(c + n - l, sfx[i], l) == 0)
			return l;
	}
	return 0;
}

/* kubelet's own tree ("kubepods", "kubepods.slice", "<root>-kubepods.slice"):
 * its scopes are containers of pods (k8s.c), never this host's units. */
static bool sd_comp_is_kubepods(const char *c, size_t n)
{
	static const char kp[] = "-kubepods.slice";
	size_t kl = sizeof(kp) - 1;
	return sd_comp_is(c, n, "kubepods") || sd_comp_is(c, n, "kubepods.slice") ||
	       (n > kl && memcmp(c + n - kl, kp, kl) == 0);
}

bool jm_systemd_unit_from_cgroup(const char *cgroup_path, char *unit, size_t sz,
				 bool *user_unit)
{
	const char *p = cgroup_path, *best = NULL;
	size_t best_len = 0;
	int root = 0;                   /* 0 none yet, 1 a system slice, 2 user.slice */
	const size_t sl = strlen(".slice");

	if (user_unit)
		*user_unit = false;
	if (!unit || sz == 0)
		return false;
	unit[0] = '\0';
	if (!p)
		return false;

	while (*p) {
		while (*p == '/')
			p++;
		const char *c = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - c);
		if (n == 0)
			break;
		if (sd_comp_is_kubepods(c, n))
			return false;
		if (!root) {
			/* Everything before the first slice is a mount or nesting
			 * prefix, not a unit of this host's manager.  The first
			 * slice is system.slice by default, but Slice= (or
			 * systemd-run --slice) puts a unit in any slice:
			 * /batch.slice/etl.service.  machine.slice holds
			 * containers and VMs registered with machined. */
			if (n > sl && memcmp(c + n - sl, ".slice", sl) == 0) {
				if (sd_comp_is(c, n, "machine.slice"))
					return false;
				root = sd_comp_is(c, n, "user.slice") ? 2 : 1;
			}
			continue;
		}
		if (sd_unit_suffix(c, n)) {
			best = c;
			best_len = n;
		}
	}
	if (!best || best_len > SD_UNIT_NAME_MAX || best_len >= sz)
		return false;
	/* PID 1's own scope: nothing a user runs lives there. */
	if (sd_comp_is(best, best_len, "init.scope"))
		return false;
	for (size_t i = 0; i < best_len; i++)
		if ((unsigned char)best[i] <= 0x20 || (unsigned char)best[i] > 0x7e)
			return false;
	memcpy(unit, best, best_len);
	unit[best_len] = '\0';
	if (user_unit)
		*user_unit = root == 2;
	return true;
}

static bool sd_has_wildcard(const char *g)
{
	return strpbrk(g, "*?") != NULL;
}

int jm_systemd_match(const struct jm_config *cfg, const char *unit, bool user_unit,
		     char *job, size_t sz)
{
	if (!job || sz == 0)
		return 0;
	job[0] = '\0';
	if (!cfg || !unit || !unit[0])
		return 0;

	size_t limit = sz - 1 < JM_ID_JOB_MAX ? sz - 1 : JM_ID_JOB_MAX;
	size_t nrules = cfg->n_systemd < JM_CFG_MAX_SYSTEMD ? cfg->n_systemd : JM_CFG_MAX_SYSTEMD;
	for (size_t i = 0; i < nrules; i++) {
		const struct jm_cfg_systemd *r = &cfg->systemd[i];
		char glob[sizeof(r->unit_glob)];
		size_t gl = strnlen(r->unit_glob, sizeof(glob) - 1);

		memcpy(glob, r->unit_glob, gl);
		glob[gl] = '\0';
		if (!gl)
			continue;
		if (user_unit ? (sd_has_wildcard(glob) || strcmp(glob, unit) != 0)
			      : !jm_glob_match(glob, unit))
			continue;

		/* First matching rule decides, even when its name does not
		 * fit: falling through would silently pick a different job. */
		const char *name = r->job;
		size_t nl = strnlen(r->job, sizeof(r->job));
		if (nl == 0) {
			name = unit;
			nl = strlen(unit);
			nl -= sd_unit_suffix(unit, nl);
		}
		if (nl == 0 || nl > limit)
			return 0;
		for (size_t k = 0; k < nl; k++)
			if ((unsigned char)name[k] < 0x20 || (unsigned char)name[k] > 0x7e)
				return 0;
		memcpy(job, name, nl);
		job[nl] = '\0';
		return 1;
	}
	return 0;
}

int jm_systemd_identity(const struct jm_config *cfg, const char *cgroup_path,
			char *job, size_t sz)
{
	char unit[SD_UNIT_NAME_MAX + 1];
	bool user = false;

	if (job && sz)
		job[0] = '\0';
	if (!jm_systemd_unit_from_cgroup(cgroup_path, unit, sizeof(unit), &user))
		return 0;
	return jm_systemd_match(cfg, unit, user, job, sz);
}
