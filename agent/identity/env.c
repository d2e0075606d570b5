/* Env identity: JOBMETER_JOB or a configured env var set, read from the head
 * of the environment the kernel copied at exec.  Contract in identity.h. */
#include "identity.h"

#include <string.h>

#include "bpf/process.h"

static const char env_job_var[] = "JOBMETER_JOB";
static const char env_run_var[] = "JOBMETER_RUN_ID";

/* Value of NAME in the blob, or NULL.  Walks whole '\0'-terminated entries
 * only: the kernel copy may stop mid-entry and that tail could be a prefix of
 * a longer value ("JOBMETER_JOB=sal" of "sales"), so it is never used. */
static const char *env_lookup(const char *env, size_t len, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);
	size_t pos = 0;

	if (nlen == 0)
		return NULL;
	while (pos < len) {
		const char *entry = env + pos;
		const char *nul = memchr(entry, '\0', len - pos);
		if (!nul)
			break;                  /* truncated last entry */
		size_t elen = (size_t)(nul - entry);
		if (elen > nlen && entry[nlen] == '=' && memcmp(entry, name, nlen) == 0) {
			*vlen = elen - nlen - 1;
			return entry + nlen + 1;
		}
		pos += elen + 1;
	}
	return NULL;
}

/* The exec probe copies at most JM_ENV_STR_MAX - 1 bytes of an entry and
 * cannot tell a cut entry from one of exactly that length, so an entry that
 * long is treated as cut on every path: its value is never used. */
static bool env_cut(const char *name, size_t vlen)
{
	return strlen(name) + 1 + vlen >= JM_ENV_STR_MAX - 1;
}

/* Printable ASCII only: job names end up in JSON, Prometheus labels and SQL,
 * and a control byte there is either an injection or garbage. */
static bool env_clean(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return false;
	return true;
}

static void env_set_run_id(const char *env, size_t len, const char *name,
			   char *run_id, size_t runsz)
{
	size_t vlen = 0;
	const char *v;

	if (!run_id || runsz == 0 || !name || !name[0])
		return;
	v = env_lookup(env, len, name, &vlen);
	/* Never truncate: two runs whose ids share a prefix must stay apart. */
	if (!v || vlen == 0 || vlen >= runsz || env_cut(name, vlen) || !env_clean(v, vlen))
		return;
	memcpy(run_id, v, vlen);
	run_id[vlen] = '\0';
}

int jm_env_identity(const struct jm_config *cfg, const char *env, size_t len,
		    char *job, size_t jobsz, char *run_id, size_t runsz)
{
	size_t limit, vlen = 0;
	const char *v;

	if (run_id && runsz > 0)
		run_id[0] = '\0';
	if (!job || jobsz == 0)
		return 0;
	job[0] = '\0';
	if (!env)
		return 0;
	limit = jobsz - 1 < JM_ID_JOB_MAX ? jobsz - 1 : JM_ID_JOB_MAX;

	v = env_lookup(env, len, env_job_var, &vlen);
	if (v && vlen > 0) {
		if (vlen > limit || env_cut(env_job_var, vlen) || !env_clean(v, vlen))
			return 0;
		memcpy(job, v, vlen);
		job[vlen] = '\0';
		env_set_run_id(env, len, env_run_var, run_id, runsz);
		return 1;
	}
	if (!cfg)
		return 0;

	for (size_t s = 0; s < cfg->n_env_sets && s < JM_CFG_MAX_ENV_SETS; s++) {
		const struct jm_cfg_env_set *set = &cfg->env_sets[s];
		const char *vals[JM_CFG_MAX_ENV_VARS];
		size_t lens[JM_CFG_MAX_ENV_VARS];
		size_t n = set->n_vars < JM_CFG_MAX_ENV_VARS ? set->n_vars : JM_CFG_MAX_ENV_VARS;
		size_t seplen = strnlen(set->separator, sizeof(set->separator));
		size_t total = 0, i;
		bool cut = false;

		if (n == 0)
			continue;
		for (i = 0; i < n; i++) {
			char name[sizeof(set->vars[0])];
			/* The config strings are fixed arrays; copy bounded so a
			 * missing terminator cannot run off the struct. */
			size_t nl = strnlen(set->vars[i], sizeof(name) - 1);
			memcpy(name, set->vars[i], nl);
			name[nl] = '\0';
			vals[i] = env_lookup(env, len, name, &lens[i]);
			if (!vals[i] || lens[i] == 0)
				break;
			if (env_cut(name, lens[i]))
				cut = true;
			total += lens[i] + (i ? seplen : 0);
		}
		if (i < n)
			continue;               /* not all present: next set */

		/* This set claims the process; a bad name rejects, see header. */
		if (cut || total > limit || !env_clean(set->separator, seplen))
			return 0;
		size_t off = 0;
		for (i = 0; i < n; i++) {
			if (!env_clean(vals[i], lens[i])) {
				job[0] = '\0';
				return 0;
			}
			if (i) {
				memcpy(job + off, set->separator, seplen);
				off += seplen;
			}
			memcpy(job + off, vals[i], lens[i]);
			off += lens[i];
		}
		job[off] = '\0';

		char rname[sizeof(set->run_id_var)];
		size_t rl = strnlen(set->run_id_var, sizeof(rname) - 1);
		memcpy(rname, set->run_id_var, rl);
		rname[rl] = '\0';
		env_set_run_id(env, len, rname, run_id, runsz);
		return 1;
	}
	return 0;
}

/* Usable as a prefix: non-empty, no '=', and "NAME=" plus NUL fits a slot. */
static bool env_prefix_ok(const char *name, size_t cap)
{
	size_t n = strnlen(name, cap);
	return n > 0 && n + 2 <= JM_ENV_PREFIX_LEN && !memchr(name, '=', n);
}

static bool env_prefix_have(char out[][JM_ENV_PREFIX_LEN], size_t n, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < n; i++)
		if (strncmp(out[i], name, nl) == 0 && out[i][nl] == '=' && out[i][nl + 1] == '\0')
			return true;
	return false;
}

/* Caller checked env_prefix_ok and room. */
static void env_prefix_put(char out[][JM_ENV_PREFIX_LEN], size_t *n, const char *name)
{
	size_t nl = strlen(name);
	memcpy(out[*n], name, nl);
	out[*n][nl] = '=';
	out[*n][nl + 1] = '\0';
	(*n)++;
}

size_t jm_env_identity_prefixes(const struct jm_config *cfg,
				char out[][JM_ENV_PREFIX_LEN], size_t max)
{
	size_t cap = max < JM_ENV_PREFIX_MAX ? max : JM_ENV_PREFIX_MAX;
	size_t n = 0;

	if (!out)
		return 0;
	if (n < cap)
		env_prefix_put(out, &n, env_job_var);
	if (n < cap)
		env_prefix_put(out, &n, env_run_var);
	if (!cfg)
		return n;

	size_t nsets = cfg->n_env_sets < JM_CFG_MAX_ENV_SETS ? cfg->n_env_sets : JM_CFG_MAX_ENV_SETS;
	bool taken[JM_CFG_MAX_ENV_SETS] = { false };
	for (size_t s = 0; s < nsets; s++) {
		const struct jm_cfg_env_set *set = &cfg->env_sets[s];
		size_t nv = set->n_vars < JM_CFG_MAX_ENV_VARS ? set->n_vars : JM_CFG_MAX_ENV_VARS;
		size_t need = 0, i;

		if (nv == 0)
			continue;
		/* Count the slots this set needs (names already listed, by an
		 * earlier set or twice in this one, cost nothing). */
		for (i = 0; i < nv; i++) {
			const char *name = set->vars[i];
			if (!env_prefix_ok(name, sizeof(set->vars[i])))
				break;
			if (env_prefix_have(out, n, name))
				continue;
			bool dup = false;
			for (size_t j = 0; j < i; j++)
				if (strcmp(set->vars[j], name) == 0)
					dup = true;
			if (!dup)
				need++;
		}
		if (i < nv || n + need > cap)
			continue;               /* whole set or nothing */
		for (i = 0; i < nv; i++)
			if (!env_prefix_have(out, n, set->vars[i]))
				env_prefix_put(out, &n, set->vars[i]);
		taken[s] = true;
	}
	/* Run ids only for sets that can match at all. */
	for (size_t s = 0; s < nsets && n < cap; s++) {
		const char *name = cfg->env_sets[s].run_id_var;
		if (taken[s] && env_prefix_ok(name, sizeof(cfg->env_sets[s].run_id_var)) &&
		    !env_prefix_have(out, n, name))
			env_prefix_put(out, &n, name);
	}
	return n;
}

/* Does the entry start with one of the listed "NAME=" prefixes?  The probe
 * compares the prefix's bytes only (env_key_match). */
static bool env_prefix_listed(char keys[][JM_ENV_PREFIX_LEN], size_t nk, const char *e, size_t elen)
{
	for (size_t k = 0; k < nk; k++) {
		size_t kl = strnlen(keys[k], JM_ENV_PREFIX_LEN);
		if (kl && elen >= kl && memcmp(e, keys[k], kl) == 0)
			return true;
	}
	return false;
}

size_t jm_env_exec_view(const struct jm_config *cfg, char *env, size_t len)
{
	char keys[JM_ENV_PREFIX_MAX][JM_ENV_PREFIX_LEN];
	size_t nk = jm_env_identity_prefixes(cfg, keys, JM_ENV_PREFIX_MAX);
	size_t pos = 0, out = 0, steps = 0;

	if (!env)
		return 0;
	/* Mirrors env_scan_one() in bpf/process.bpf.c step for step: one
	 * step reads a JM_PATH_LEN chunk; a string that fills it is skipped
	 * JM_PATH_LEN - 1 bytes a step; the walk stops after
	 * JM_ENV_SCAN_MAX steps or once the copied entries reach JM_ENV_LEN. */
	while (pos < len && steps < JM_ENV_SCAN_MAX) {
		const char *e = env + pos;
		const char *nul = memchr(e, '\0', len - pos);
		size_t elen = nul ? (size_t)(nul - e) : len - pos;
		size_t total = elen + 1;

		/* a read that fills the chunk (NUL in its last byte included)
		 * counts as "more follows": ceil((total - 255) / 255) more steps */
		steps += 1;
		if (total >= JM_PATH_LEN)
			steps += (total - (JM_PATH_LEN - 1) + (JM_PATH_LEN - 2)) / (JM_PATH_LEN - 1);
		if (env_prefix_listed(keys, nk, e, elen)) {
			if (out > JM_ENV_LEN - 1)
				break;
			size_t m = elen < JM_ENV_STR_MAX - 1 ? elen : JM_ENV_STR_MAX - 1;
			memmove(env + out, e, m);       /* out <= pos: compacts in place */
			env[out + m] = '\0';
			out += m + 1;
		}
		pos += total;
	}
	return out < JM_ENV_LEN ? out : JM_ENV_LEN;
}
