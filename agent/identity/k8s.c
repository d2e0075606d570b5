/* Kubernetes identity: pod UID / container ID from kubelet cgroup paths,
 * names from the kubelet log tree, workload names from pod names.
 * Contract in identity.h. */
#include "identity.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A cgroup path has at most PATH_MAX bytes, so at most PATH_MAX/2 components;
 * kubelet paths are far shallower, deeper ones are refused outright. */
#define K8S_MAX_COMPONENTS 128

struct k8s_comp {
	const char *s;
	size_t n;
};

static int k8s_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char k8s_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool k8s_eq(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n == l && memcmp(s, lit, l) == 0;
}

static bool k8s_has_prefix(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n >= l && memcmp(s, lit, l) == 0;
}

/* Pod UID: 8-4-4-4-12 hex with sep at the four joints, or 32 bare hex
 * (static pods: kubelet uses an MD5 of the manifest).  Writes lower-case with
 * '-' joints into out[JM_K8S_UID_MAX]. */
static bool k8s_parse_uid(const char *s, size_t n, char sep, char *out)
{
	if (n == 36) {
		for (size_t i = 0; i < 36; i++) {
			bool joint = i == 8 || i == 13 || i == 18 || i == 23;
			if (joint) {
				if (s[i] != sep)
					return false;
				out[i] = '-';
			} else {
				if (k8s_hexval(s[i]) < 0)
					return false;
				out[i] = k8s_lower(s[i]);
			}
		}
		out[36] = '\0';
		return true;
	}
	if (n == 32) {
		for (size_t i = 0; i < 32; i++) {
			if (k8s_hexval(s[i]) < 0)
				return false;
			out[i] = k8s_lower(s[i]);
		}
		out[32] = '\0';
		return true;
	}
	return false;
}

static bool k8s_parse_cid(const char *s, size_t n, char *out)
{
	if (n != JM_K8S_CID_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (k8s_hexval(s[i]) < 0)
			return false;
		out[i] = k8s_lower(s[i]);
	}
	out[n] = '\0';
	return true;
}

/* "<rt>-<CID>.scope" of the systemd driver. */
static bool k8s_parse_scope(const struct k8s_comp *c, struct jm_k8s_ids *ids)
{
	static const struct { const char *pfx; enum jm_k8s_runtime rt; } rts[] = {
		{ "cri-containerd-", JM_K8S_RT_CONTAINERD },
		{ "crio-", JM_K8S_RT_CRIO },
		{ "docker-", JM_K8S_RT_DOCKER },
	};
	const size_t sl = strlen(".scope");

	if (c->n <= sl || memcmp(c->s + c->n - sl, ".scope", sl) != 0)
		return false;
	for (size_t i = 0; i < sizeof(rts) / sizeof(rts[0]); i++) {
		size_t pl = strlen(rts[i].pfx);
		if (!k8s_has_prefix(c->s, c->n, rts[i].pfx))
			continue;
		if (!k8s_parse_cid(c->s + pl, c->n - pl - sl, ids->container_id))
			return false;
		ids->runtime = rts[i].rt;
		return true;
	}
	return false;
}

/* systemd driver, pod slice at comp[i]: "<Q>-pod<U>.slice" whose parent is
 * "<Q>.slice", where Q = [P-]kubepods[-burstable|-besteffort] and, for a QoS
 * level, the grandparent is "[P-]kubepods.slice".  systemd names every slice
 * after its whole ancestry, so demanding that chain rejects paths that merely
 * look similar. */
static bool k8s_try_systemd(const struct k8s_comp *c, size_t nc, size_t i,
			    struct jm_k8s_ids *ids)
{
	static const size_t uid_lens[] = { 36, 32 };
	const size_t sl = strlen(".slice");
	const char *x = c[i].s;
	size_t xn;

	if (i < 1 || i + 1 >= nc || c[i].n <= sl ||
	    memcmp(x + c[i].n - sl, ".slice", sl) != 0)
		return false;
	xn = c[i].n - sl;

	for (size_t k = 0; k < sizeof(uid_lens) / sizeof(uid_lens[0]); k++) {
		size_t ul = uid_lens[k];
		if (xn < ul + 4 + strlen("kubepods"))
			continue;
		size_t qn = xn - ul - 4;               /* Q = x[0..qn) */
		if (memcmp(x + qn, "-pod", 4) != 0)
			continue;
		if (!k8s_parse_uid(x + qn + 4, ul, '_', ids->pod_uid))
			continue;

		/* Split Q into [P-]kubepods and the QoS level. */
		enum jm_k8s_qos qos = JM_K8S_QOS_GUARANTEED;
		size_t base = qn;                     /* length of [P-]kubepods */
		static const struct { const char *sfx; enum jm_k8s_qos q; } lv[] = {
			{ "-burstable", JM_K8S_QOS_BURSTABLE },
			{ "-besteffort", JM_K8S_QOS_BESTEFFORT },
		};
		for (size_t l = 0; l < sizeof(lv) / sizeof(lv[0]); l++) {
			size_t ll = strlen(lv[l].sfx);
			if (qn > ll && memcmp(x + qn - ll, lv[l].sfx, ll) == 0) {
				qos = lv[l].q;
				base = qn - ll;
				break;
			}
		}
		const size_t kl = strlen("kubepods");
		if (base < kl || memcmp(x + base - kl, "kubepods", kl) != 0)
			return false;
		if (base > kl && x[base - kl - 1] != '-')
			return false;                 /* "xkubepods": not ours */

		/* Parent "<Q>.slice", grandparent "[P-]kubepods.slice". */
		const struct k8s_comp *par = &c[i - 1];
		if (par->n != qn + sl || memcmp(par->s, x, qn) != 0 ||
		    memcmp(par->s + qn, ".slice", sl) != 0)
			return false;
		if (qos != JM_K8S_QOS_GUARANTEED) {
			if (i < 2)
				return false;
			const struct k8s_comp *gp = &c[i - 2];
			if (gp->n != base + sl || memcmp(gp->s, x, base) != 0 ||
			    memcmp(gp->s + base, ".slice", sl) != 0)
				return false;
		}
		if (!k8s_parse_scope(&c[i + 1], ids))
			return false;
		ids->qos = qos;
		ids->driver = JM_K8S_DRIVER_SYSTEMD;
		return true;
	}
	return false;
}

/* cgroupfs driver, pod dir at comp[i]: kubepods[/burstable|/besteffort]/
 * pod<UID>/{<CID>|crio-<CID>}. */
static bool k8s_try_cgroupfs(const struct k8s_comp *c, size_t nc, size_t i,
			     struct jm_k8s_ids *ids)
{
	enum jm_k8s_qos qos;

	if (i < 1 || i + 1 >= nc || !k8s_has_prefix(c[i].s, c[i].n, "pod"))
		return false;
	if (!k8s_parse_uid(c[i].s + 3, c[i].n - 3, '-', ids->pod_uid))
		return false;
	if (k8s_eq(c[i - 1].s, c[i - 1].n, "kubepods")) {
		qos = JM_K8S_QOS_GUARANTEED;
	} else if (i >= 2 && k8s_eq(c[i - 2].s, c[i - 2].n, "kubepods")) {
		if (k8s_eq(c[i - 1].s, c[i - 1].n, "burstable"))
			qos = JM_K8S_QOS_BURSTABLE;
		else if (k8s_eq(c[i - 1].s, c[i - 1].n, "besteffort"))
			qos = JM_K8S_QOS_BESTEFFORT;
		else
			return false;
	} else {
		return false;
	}

	const struct k8s_comp *leaf = &c[i + 1];
	if (k8s_has_prefix(leaf->s, leaf->n, "crio-")) {
		if (!k8s_parse_cid(leaf->s + 5, leaf->n - 5, ids->container_id))
			return false;
		ids->runtime = JM_K8S_RT_CRIO;
	} else {
		if (!k8s_parse_cid(leaf->s, leaf->n, ids->container_id))
			return false;
		ids->runtime = JM_K8S_RT_UNKNOWN;
		/* Some CRI-O setups nest crio-<CID> under the bare CID. */
		if (i + 2 < nc && c[i + 2].n == 5 + JM_K8S_CID_LEN &&
		    k8s_has_prefix(c[i + 2].s, c[i + 2].n, "crio-")) {
			char cid[JM_K8S_CID_LEN + 1];
			if (k8s_parse_cid(c[i + 2].s + 5, JM_K8S_CID_LEN, cid) &&
			    strcmp(cid, ids->container_id) == 0)
				ids->runtime = JM_K8S_RT_CRIO;
		}
	}
	ids->qos = qos;
	ids->driver = JM_K8S_DRIVER_CGROUPFS;
	return true;
}

bool jm_k8s_parse_cgroup(const char *path, struct jm_k8s_ids *ids)
{
	struct k8s_comp c[K8S_MAX_COMPONENTS];
	struct jm_k8s_ids tmp;
	size_t nc = 0;
	const char *p = path;

	if (!path || !ids)
		return false;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		if (nc == K8S_MAX_COMPONENTS)
			return false;
		c[nc].s = p;
		while (*p && *p != '/')
			p++;
		c[nc].n = (size_t)(p - c[nc].s);
		nc++;
	}
	/* Innermost pod first: with a kubelet nested in a container, the
	 * inner pod is the workload; components after the container cgroup
	 * are the container's own sub-cgroups. */
	for (size_t i = nc; i-- > 0;) {
		memset(&tmp, 0, sizeof(tmp));
		if (k8s_try_systemd(c, nc, i, &tmp) || k8s_try_cgroupfs(c, nc, i, &tmp)) {
			*ids = tmp;
			return true;
		}
	}
	return false;
}

const char *jm_k8s_runtime_name(enum jm_k8s_runtime rt)
{
	switch (rt) {
	case JM_K8S_RT_CONTAINERD: return "cri-containerd";
	case JM_K8S_RT_CRIO:       return "crio";
	case JM_K8S_RT_DOCKER:     return "docker";
	case JM_K8S_RT_UNKNOWN:    break;
	}
	return "";
}

const char *jm_k8s_qos_name(enum jm_k8s_qos qos)
{
	switch (qos) {
	case JM_K8S_QOS_BURSTABLE:  return "Burstable";
	case JM_K8S_QOS_BESTEFFORT: return "BestEffort";
	case JM_K8S_QOS_GUARANTEED: break;
	}
	return "Guaranteed";
}

/* "<digits>.log" -> N (bounded, so a hostile name cannot overflow). */
static int k8s_log_index(const char *name)
{
	long v = 0;
	size_t i = 0;

	for (; name[i] >= '0' && name[i] <= '9'; i++) {
		if (i >= 9)
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	if (i == 0 || strcmp(name + i, ".log") != 0)
		return -1;
	return (int)v;
}

/* Highest N.log in dir, or -1. */
static int k8s_max_restart(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int best = -1;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		int v = k8s_log_index(e->d_name);
		if (v > best)
			best = v;
	}
	closedir(d);
	return best;
}

/* Names must be a DNS label/subdomain-ish token: no '/', no control bytes,
 * fits its buffer.  Logs directories are host data; still bound everything. */
static bool k8s_copy_name(char *dst, size_t dsz, const char *s, size_t n)
{
	if (n == 0 || n >= dsz)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] > 0x7e ||
		    s[i] == '/' || s[i] == '_')
			return false;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

/* pods/ entry "<ns>_<pod>_<uid>" for uid -> out->ns, out->pod. */
static bool k8s_match_pod_dir(const char *name, const char *uid, struct jm_k8s_names *out)
{
	size_t n = strlen(name), ul = strlen(uid);
	const char *us1, *us2;

	if (n < ul + 4 || name[n - ul - 1] != '_' || strcmp(name + n - ul, uid) != 0)
		return false;
	us2 = name + n - ul - 1;
	us1 = memchr(name, '_', (size_t)(us2 - name));
	if (!us1)
		return false;
	/* k8s_copy_name refuses a third '_' inside ns or pod. */
	return k8s_copy_name(out->ns, sizeof(out->ns), name, (size_t)(us1 - name)) &&
	       k8s_copy_name(out->pod, sizeof(out->pod), us1 + 1, (size_t)(us2 - us1 - 1));
}

/* containers/ entry "<pod>_<ns>_<container>-<cid>.log" -> out->container. */
static bool k8s_match_container_link(const char *name, const struct jm_k8s_names *pn,
				     const char *cid, char *container, size_t csz)
{
	size_t n = strlen(name), pl = strlen(pn->pod), nl = strlen(pn->ns);
	size_t cl = strlen(cid), head = pl + 1 + nl + 1, tail = 1 + cl + 4;

	if (n <= head + tail)
		return false;
	if (memcmp(name, pn->pod, pl) != 0 || name[pl] != '_' ||
	    memcmp(name + pl + 1, pn->ns, nl) != 0 || name[head - 1] != '_')
		return false;
	if (name[n - tail] != '-' || memcmp(name + n - tail + 1, cid, cl) != 0 ||
	    strcmp(name + n - 4, ".log") != 0)
		return false;
	return k8s_copy_name(container, csz, name + head, n - head - tail);
}

int jm_k8s_resolve(const char *log_root, const struct jm_k8s_ids *ids,
		   struct jm_k8s_names *out)
{
	char path[PATH_MAX];
	DIR *d = NULL;
	struct dirent *e;
	int ret = -1, w;

	if (!out)
		return -1;
	memset(out, 0, sizeof(*out));
	out->restarts = -1;
	if (!log_root || !ids || !ids->pod_uid[0]) {
		errno = EINVAL;
		return -1;
	}

	w = snprintf(path, sizeof(path), "%s/pods", log_root);
	if (w < 0 || (size_t)w >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	d = opendir(path);
	if (!d)
		return -1;
	ret = JM_K8S_RESOLVE_NONE;
	while ((e = readdir(d)) != NULL) {
		if (k8s_match_pod_dir(e->d_name, ids->pod_uid, out)) {
			ret = JM_K8S_RESOLVE_POD;
			break;
		}
	}
	closedir(d);
	d = NULL;
	if (ret != JM_K8S_RESOLVE_POD) {
		out->ns[0] = out->pod[0] = '\0';
		goto out;
	}
	if (!ids->container_id[0])
		goto out;

	w = snprintf(path, sizeof(path), "%s/containers", log_root);
	if (w < 0 || (size_t)w >= sizeof(path))
		goto out;
	d = opendir(path);
	if (!d)
		goto out;               /* pod known, container not (yet) */
	while ((e = readdir(d)) != NULL) {
		if (k8s_match_container_link(e->d_name, out, ids->container_id,
					     out->container, sizeof(out->container)))
			break;
	}
	if (!out->container[0])
		goto out;

	w = snprintf(path, sizeof(path), "%s/pods/%s_%s_%s/%s", log_root, out->ns,
		     out->pod, ids->pod_uid, out->container);
	if (w < 0 || (size_t)w >= sizeof(path)) {
		out->container[0] = '\0';
		goto out;
	}
	out->restarts = k8s_max_restart(path);
	if (out->restarts < 0) {
		/* Logs rotated away or unreadable: the symlink still says
		 * which N.log this instance writes. */
		char link[PATH_MAX];
		char lname[NAME_MAX + 1];
		int ln = snprintf(lname, sizeof(lname), "%s_%s_%s-%s.log", out->pod, out->ns,
				  out->container, ids->container_id);
		ssize_t r = -1;
		if (ln > 0 && (size_t)ln < sizeof(lname))
			r = readlinkat(dirfd(d), lname, link, sizeof(link) - 1);
		if (r > 0) {
			link[r] = '\0';
			const char *base = strrchr(link, '/');
			out->restarts = k8s_log_index(base ? base + 1 : link);
		}
	}
	ret = JM_K8S_RESOLVE_CONTAINER;
out:
	if (d)
		closedir(d);
	return ret;
}

bool jm_k8s_is_sandbox(const char *comm, const char *exe, const struct jm_k8s_names *names)
{
	const char *base = exe ? strrchr(exe, '/') : NULL;

	base = base ? base + 1 : exe;
	if (!(comm && strcmp(comm, "pause") == 0) && !(base && strcmp(base, "pause") == 0))
		return false;
	return !names || !names->container[0];
}

/* ---- workload names from pod names ---- */

#define K8S_NAME_HASH_LEN 9     /* "~" and 8 hex digits */

static bool k8s_lower_alnum(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* CronJob Job names end in the scheduled time in minutes since the epoch;
 * the window is explained in identity.h. */
#define K8S_CRON_MIN_FLOOR 25000000ULL
#define K8S_CRON_MIN_CEIL  44444444ULL

static bool k8s_cron_minutes(const char *s, size_t n)
{
	uint64_t v = 0;

	if (n == 0 || n > 10 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v >= K8S_CRON_MIN_FLOOR && v < K8S_CRON_MIN_CEIL;
}

static bool k8s_template_hash(const char *s, size_t n)
{
	bool digit = false, letter = false, safe = true;

	if (n < 6 || n > 10 || !k8s_lower_alnum(s, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digit = true;
		else
			letter = true;
		if (!strchr("456789bcdf", s[i]))
			safe = false;
	}
	return safe || (digit && letter);
}

static const char *k8s_last_dash(const char *s, size_t n)
{
	while (n-- > 0)
		if (s[n] == '-')
			return s + n;
	return NULL;
}

void jm_k8s_job_name(const char *ns, const char *pod, char *job, size_t sz,
		     char *kind, size_t kindsz)
{
	const char *k = "Pod";
	size_t pn, keep;

	if (!ns)
		ns = "";
	if (!pod)
		pod = "";
	pn = strlen(pod);
	keep = pn;

	const char *d1 = k8s_last_dash(pod, pn);
	if (d1 && d1 > pod && k8s_lower_alnum(d1 + 1, pn - (size_t)(d1 + 1 - pod)) &&
	    pn - (size_t)(d1 + 1 - pod) == 5) {
		size_t an = (size_t)(d1 - pod);        /* A = pod[0..an) */
		const char *d2 = k8s_last_dash(pod, an);
		k = "Job";
		keep = an;
		if (d2 && d2 > pod) {
			const char *dseg = d2 + 1;
			size_t dn = an - (size_t)(dseg - pod);
			if (k8s_cron_minutes(dseg, dn)) {
				k = "CronJob";
				keep = (size_t)(d2 - pod);
			} else if (k8s_template_hash(dseg, dn)) {
				k = "Deployment";
				keep = (size_t)(d2 - pod);
			}
		}
	}
	if (job && sz) {
		int w = snprintf(job, sz, "%s/%.*s", ns, (int)keep, pod);
		/* Too long for the model (a bare pod's name may have 253
		 * characters): two pods whose names share the kept prefix
		 * must not become one job, so the cut name ends in a hash
		 * of the whole one -- the same pod name, the same job. */
		if (w > 0 && (size_t)w >= sz && sz > K8S_NAME_HASH_LEN + 1) {
			uint32_t h = 2166136261u;             /* FNV-1a */
			for (const char *q = ns; *q; q++)
				h = (h ^ (unsigned char)*q) * 16777619u;
			h = (h ^ '/') * 16777619u;
			for (size_t i = 0; i < keep; i++)
				h = (h ^ (unsigned char)pod[i]) * 16777619u;
			(void)snprintf(job + sz - 1 - K8S_NAME_HASH_LEN, K8S_NAME_HASH_LEN + 1,
				       "~%08x", h);
		}
	}
	if (kind && kindsz)
		(void)snprintf(kind, kindsz, "%s", k);
}
