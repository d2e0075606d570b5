/* Agent configuration parser (see config.h for the format).
 *
 * libyaml's document API gives us a node tree with source marks, so every
 * error can name the line of the offending key or value.  Scalar keys are
 * described by small tables (key, kind, offset, capacity, range) so each
 * section is data rather than code; lists and nested maps use callbacks. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include <yaml.h>

#include "bpf/process.h"

#define CFG_FILE_MAX (1u << 20)     /* a config larger than 1 MiB is a mistake */
#define CFG_PATH_BUF 96             /* "env_identity[7].run_id_var" and the like */

struct ctx {
	yaml_document_t *doc;
	const char *name;
	char *err;
	size_t errlen;
};

enum kind { K_STR, K_UINT, K_BOOL, K_SUB };

typedef int (*sub_fn)(struct ctx *c, yaml_node_t *val, const char *path, void *base);

struct field {
	const char *key;
	enum kind kind;
	size_t off;
	size_t cap;                 /* K_STR: buffer size */
	unsigned min, max;          /* K_UINT: inclusive range */
	sub_fn sub;                 /* K_SUB: handles lists and nested maps */
};

#define F_STR(k, T, m)         { k, K_STR, offsetof(T, m), sizeof(((T *)0)->m), 0, 0, NULL }
#define F_UINT(k, T, m, lo, hi) { k, K_UINT, offsetof(T, m), 0, lo, hi, NULL }
#define F_BOOL(k, T, m)        { k, K_BOOL, offsetof(T, m), 0, 0, 0, NULL }
#define F_SUB(k, fn)           { k, K_SUB, 0, 0, 0, 0, fn }
#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static size_t line_of(const yaml_node_t *n)
{
	return n ? n->start_mark.line + 1 : 0;
}

static void set_err(struct ctx *c, size_t line, const char *fmt, va_list ap)
{
	if (!c->err || c->errlen == 0)
		return;
	/* line 0: the problem is with the file itself (open, size), not a node */
	int k = line ? snprintf(c->err, c->errlen, "%s:%zu: ", c->name, line)
		     : snprintf(c->err, c->errlen, "%s: ", c->name);
	if (k >= 0 && (size_t)k < c->errlen)
		vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
}

__attribute__((format(printf, 3, 4)))
static int fail(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_err(c, line_of(n), fmt, ap);
	va_end(ap);
	return -1;
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* Exact comparison: a scalar with an embedded NUL must not equal "name". */
static bool scalar_is(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);
	return n->type == YAML_SCALAR_NODE && n->data.scalar.length == len &&
	       memcmp(n->data.scalar.value, s, len) == 0;
}

/* "key:" with nothing after it, or "~"/"null": treated as an empty section. */
static bool is_null(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (scalar_is(n, "") || scalar_is(n, "~") || scalar_is(n, "null") ||
		scalar_is(n, "Null") || scalar_is(n, "NULL"));
}

static void join(char *out, const char *parent, const char *key)
{
	snprintf(out, CFG_PATH_BUF, "%s%s%s", parent, *parent ? "." : "", key);
}

static int get_str(struct ctx *c, yaml_node_t *n, const char *path, char *dst, size_t cap)
{
	if (n->type != YAML_SCALAR_NODE)
		return fail(c, n, "%s: expected a string", path);
	size_t len = n->data.scalar.length;
	if (is_null(n))
		len = 0;
	else if (memchr(n->data.scalar.value, '\0', len))
		return fail(c, n, "%s: contains a NUL byte", path);
	if (len >= cap)
		return fail(c, n, "%s: too long (%zu bytes, max %zu)", path, len, cap - 1);
	memcpy(dst, n->data.scalar.value, len);
	dst[len] = '\0';
	return 0;
}

static int get_uint(struct ctx *c, yaml_node_t *n, const char *path, unsigned lo, unsigned hi,
		    unsigned *out)
{
	if (n->type != YAML_SCALAR_NODE)
		return fail(c, n, "%s: expected a positive integer", path);
	const char *s = sval(n);
	size_t len = n->data.scalar.length;
	/* Digits only: strtoul alone would accept " -1", "0x10" and "12abc". */
	if (len == 0 || len > 10 || strspn(s, "0123456789") != len)
		return fail(c, n, "%s: expected a positive integer, got \"%.40s\"", path, s);
	unsigned long v = strtoul(s, NULL, 10);
	if (v < lo || v > hi)
		return fail(c, n, "%s: %lu is out of range %u..%u", path, v, lo, hi);
	*out = (unsigned)v;
	return 0;
}

static int get_bool(struct ctx *c, yaml_node_t *n, const char *path, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
	if (n->type == YAML_SCALAR_NODE && !memchr(n->data.scalar.value, '\0', n->data.scalar.length)) {
		for (size_t i = 0; i < 3; i++) {
			if (strcasecmp(sval(n), yes[i]) == 0) { *out = true; return 0; }
			if (strcasecmp(sval(n), no[i]) == 0) { *out = false; return 0; }
		}
		return fail(c, n, "%s: expected true or false, got \"%.40s\"", path, sval(n));
	}
	return fail(c, n, "%s: expected true or false", path);
}

/* Walk a mapping: reject non-scalar, duplicate and unknown keys, dispatch the
 * rest through the field table onto base. */
static int parse_map(struct ctx *c, yaml_node_t *n, const char *path, void *base,
		     const struct field *f, size_t nf)
{
	if (is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return fail(c, n, "%s: expected a mapping", *path ? path : "top level");
	yaml_node_pair_t *start = n->data.mapping.pairs.start;
	for (yaml_node_pair_t *p = start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		if (!k || !v || k->type != YAML_SCALAR_NODE)
			return fail(c, k ? k : n, "%s: keys must be plain strings", *path ? path : "top level");
		for (yaml_node_pair_t *q = start; q < p; q++) {
			yaml_node_t *k2 = yaml_document_get_node(c->doc, q->key);
			if (k2->data.scalar.length == k->data.scalar.length &&
			    memcmp(k2->data.scalar.value, k->data.scalar.value, k->data.scalar.length) == 0)
				return fail(c, k, "duplicate key \"%.64s\" %s%s", sval(k),
					    *path ? "in " : "at top level", path);
		}
		const struct field *fd = NULL;
		for (size_t i = 0; i < nf && !fd; i++)
			if (scalar_is(k, f[i].key))
				fd = &f[i];
		if (!fd)
			return fail(c, k, "unknown key \"%.64s\" %s%s", sval(k), *path ? "in " : "at top level",
				    path);
		char sub[CFG_PATH_BUF];
		join(sub, path, fd->key);
		char *dst = (char *)base + fd->off;
		int rc;
		switch (fd->kind) {
		case K_STR:  rc = get_str(c, v, sub, dst, fd->cap); break;
		case K_UINT: rc = get_uint(c, v, sub, fd->min, fd->max, (unsigned *)(void *)dst); break;
		case K_BOOL: rc = get_bool(c, v, sub, (bool *)(void *)dst); break;
		default:     rc = fd->sub(c, v, sub, base); break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

typedef int (*item_fn)(struct ctx *c, yaml_node_t *item, const char *path, void *base, size_t i);

/* Walk a sequence of at most max items.  *count is bumped before each item is
 * parsed so that a half-parsed job (e.g. a compiled regex followed by a bad
 * key) is still visible to jm_config_free. */
static int parse_seq(struct ctx *c, yaml_node_t *n, const char *path, size_t max, size_t *count,
		     void *base, item_fn fn)
{
	*count = 0;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, "%s: expected a list", path);
	size_t i = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		if (i == max)
			return fail(c, item, "%s: too many entries (max %zu)", path, max);
		char sub[CFG_PATH_BUF];
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		*count = i + 1;
		if (fn(c, item, sub, base, i))
			return -1;
	}
	return 0;
}

/* ---- db ---- */

static int port_item(struct ctx *c, yaml_node_t *item, const char *path, void *base, size_t i)
{
	unsigned v;
	if (get_uint(c, item, path, 1, 65535, &v))
		return -1;
	((struct jm_cfg_db_endpoints *)base)->ports[i] = (uint16_t)v;
	return 0;
}

static int socket_item(struct ctx *c, yaml_node_t *item, const char *path, void *base, size_t i)
{
	struct jm_cfg_db_endpoints *e = base;
	if (get_str(c, item, path, e->sockets[i], sizeof(e->sockets[i])))
		return -1;
	return e->sockets[i][0] ? 0 : fail(c, item, "%s: must not be empty", path);
}

/* Giving a list replaces the built-in defaults rather than appending to them. */
static int ep_ports(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	struct jm_cfg_db_endpoints *e = base;
	return parse_seq(c, v, path, JM_CFG_MAX_ENDPOINTS, &e->n_ports, e, port_item);
}

static int ep_sockets(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	struct jm_cfg_db_endpoints *e = base;
	return parse_seq(c, v, path, JM_CFG_MAX_ENDPOINTS, &e->n_sockets, e, socket_item);
}

static const struct field endpoint_fields[] = { F_SUB("ports", ep_ports), F_SUB("sockets", ep_sockets) };

static int db_pg(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	return parse_map(c, v, path, &((struct jm_config *)base)->pg, endpoint_fields, NFIELDS(endpoint_fields));
}

static int db_mysql(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	return parse_map(c, v, path, &((struct jm_config *)base)->mysql, endpoint_fields,
			 NFIELDS(endpoint_fields));
}

static const struct field db_fields[] = {
	F_BOOL("enabled", struct jm_config, db_enabled),
	F_UINT("capture_bytes", struct jm_config, db_capture_bytes, 64, 4096),
	F_UINT("max_fingerprints", struct jm_config, db_max_fingerprints, 1, 100000),
	F_SUB("postgres", db_pg),
	F_SUB("mysql", db_mysql),
};

/* ---- jobs ---- */

static int match_argv(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	struct jm_cfg_job *j = base;
	if (get_str(c, v, path, j->argv_src, sizeof(j->argv_src)))
		return -1;
	int rc = regcomp(&j->argv_re, j->argv_src, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		char msg[128];
		regerror(rc, &j->argv_re, msg, sizeof(msg));
		return fail(c, v, "%s: invalid regex: %s", path, msg);
	}
	j->has_argv = true;
	return 0;
}

static const struct field match_fields[] = {
	F_STR("comm", struct jm_cfg_job, comm),
	F_STR("exe", struct jm_cfg_job, exe_glob),
	F_STR("cgroup", struct jm_cfg_job, cgroup_glob),
	F_SUB("argv", match_argv),
};

static int job_match(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	return parse_map(c, v, path, base, match_fields, NFIELDS(match_fields));
}

static int output_item(struct ctx *c, yaml_node_t *item, const char *path, void *base, size_t i)
{
	struct jm_cfg_output *o = &((struct jm_cfg_job *)base)->outputs[i];
	if (item->type != YAML_MAPPING_NODE ||
	    item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1)
		return fail(c, item, "%s: expected a mapping with exactly one of \"table\" or \"file\"", path);
	yaml_node_t *k = yaml_document_get_node(c->doc, item->data.mapping.pairs.start->key);
	yaml_node_t *v = yaml_document_get_node(c->doc, item->data.mapping.pairs.start->value);
	if (scalar_is(k, "file"))
		o->is_file = true;
	else if (!scalar_is(k, "table"))
		return fail(c, k, "unknown key \"%.64s\" in %s", k->type == YAML_SCALAR_NODE ? sval(k) : "?",
			    path);
	char sub[CFG_PATH_BUF];
	join(sub, path, o->is_file ? "file" : "table");
	if (get_str(c, v, sub, o->name, sizeof(o->name)))
		return -1;
	return o->name[0] ? 0 : fail(c, v, "%s: must not be empty", sub);
}

static int job_outputs(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	struct jm_cfg_job *j = base;
	return parse_seq(c, v, path, JM_CFG_MAX_OUTPUTS, &j->n_outputs, j, output_item);
}

static const struct field job_fields[] = {
	F_STR("name", struct jm_cfg_job, name),
	F_SUB("match", job_match),
	F_SUB("outputs", job_outputs),
};

static int job_item(struct ctx *c, yaml_node_t *item, const char *path, void *base, size_t i)
{
	struct jm_config *cfg = base;
	struct jm_cfg_job *j = &cfg->jobs[i];
	if (item->type != YAML_MAPPING_NODE)
		return fail(c, item, "%s: expected a mapping", path);
	if (parse_map(c, item, path, j, job_fields, NFIELDS(job_fields)))
		return -1;
	if (!j->name[0])
		return fail(c, item, "%s: missing or empty \"name\"", path);
	for (size_t k = 0; k < i; k++)
		if (strcmp(cfg->jobs[k].name, j->name) == 0)
			return fail(c, item, "%s: duplicate job name \"%s\" (also jobs[%zu])", path, j->name, k);
	return 0;
}

static int cfg_jobs(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	struct jm_config *cfg = base;
	return parse_seq(c, v, path, JM_CFG_MAX_JOBS, &cfg->n_jobs, cfg, job_item);
}

/* ---- env_identity, systemd ---- */

/* The exec probe looks for "NAME=" in slots of JM_ENV_KEY_LEN bytes (NUL
 * included): a longer name would never match at exec, yet would in the
 * start-up scan of /proc, so it is refused rather than skipped. */
static int env_name_check(struct ctx *c, yaml_node_t *n, const char *path, const char *name)
{
	size_t len = strlen(name);
	if (strchr(name, '='))
		return fail(c, n, "%s: \"%s\" contains '='", path, name);
	if (len > JM_ENV_KEY_LEN - 2)
		return fail(c, n, "%s: \"%s\" is %zu characters; the exec probe matches variable "
			    "names of at most %d", path, name, len, JM_ENV_KEY_LEN - 2);
	return 0;
}

static int env_var_item(struct ctx *c, yaml_node_t *item, const char *path, void *base, size_t i)
{
	struct jm_cfg_env_set *e = base;
	if (get_str(c, item, path, e->vars[i], sizeof(e->vars[i])))
		return -1;
	if (!e->vars[i][0])
		return fail(c, item, "%s: must not be empty", path);
	return env_name_check(c, item, path, e->vars[i]);
}

static int env_run_id_var(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	struct jm_cfg_env_set *e = base;
	if (get_str(c, v, path, e->run_id_var, sizeof(e->run_id_var)))
		return -1;
	return e->run_id_var[0] ? env_name_check(c, v, path, e->run_id_var) : 0;
}

static int env_vars(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	struct jm_cfg_env_set *e = base;
	if (parse_seq(c, v, path, JM_CFG_MAX_ENV_VARS, &e->n_vars, e, env_var_item))
		return -1;
	return e->n_vars ? 0 : fail(c, v, "%s: expected 1..%d variable names", path, JM_CFG_MAX_ENV_VARS);
}

static const struct field env_fields[] = {
	F_SUB("vars", env_vars),
	F_STR("separator", struct jm_cfg_env_set, separator),
	F_SUB("run_id_var", env_run_id_var),
};

static int env_item(struct ctx *c, yaml_node_t *item, const char *path, void *base, size_t i)
{
	struct jm_cfg_env_set *e = &((struct jm_config *)base)->env_sets[i];
	strcpy(e->separator, ".");
	if (item->type != YAML_MAPPING_NODE)
		return fail(c, item, "%s: expected a mapping", path);
	if (parse_map(c, item, path, e, env_fields, NFIELDS(env_fields)))
		return -1;
	return e->n_vars ? 0 : fail(c, item, "%s: missing \"vars\"", path);
}

static bool name_listed(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* Every distinct variable the sets name takes one of the exec probe's
 * JM_ENV_KEYS_MAX slots, after JOBMETER_JOB and JOBMETER_RUN_ID.  A set
 * left without slots would never match at exec but would in the start-up
 * scan (jm_env_identity_prefixes would drop it silently), so it is an error,
 * reported at the first set that does not fit. */
static int env_slots(struct ctx *c, yaml_node_t *seq, const char *path, const struct jm_config *cfg)
{
	const char *names[2 + JM_CFG_MAX_ENV_SETS * (JM_CFG_MAX_ENV_VARS + 1)] = {
		"JOBMETER_JOB", "JOBMETER_RUN_ID"
	};
	size_t n = 2;

	for (size_t s = 0; s < cfg->n_env_sets; s++) {
		const struct jm_cfg_env_set *e = &cfg->env_sets[s];
		for (size_t i = 0; i <= e->n_vars; i++) {
			const char *name = i < e->n_vars ? e->vars[i] : e->run_id_var;
			if (name[0] && !name_listed(names, n, name))
				names[n++] = name;
		}
		if (n > JM_ENV_KEYS_MAX) {
			yaml_node_t *item = yaml_document_get_node(c->doc, seq->data.sequence.items.start[s]);
			return fail(c, item, "%s[%zu]: the exec probe looks for at most %d environment "
				    "variables (JOBMETER_JOB and JOBMETER_RUN_ID included); this set makes %zu",
				    path, s, JM_ENV_KEYS_MAX, n);
		}
	}
	return 0;
}

static int cfg_env(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	struct jm_config *cfg = base;
	if (parse_seq(c, v, path, JM_CFG_MAX_ENV_SETS, &cfg->n_env_sets, cfg, env_item))
		return -1;
	return cfg->n_env_sets ? env_slots(c, v, path, cfg) : 0;
}

static const struct field systemd_fields[] = {
	F_STR("unit", struct jm_cfg_systemd, unit_glob),
	F_STR("job", struct jm_cfg_systemd, job),
};

static int systemd_item(struct ctx *c, yaml_node_t *item, const char *path, void *base, size_t i)
{
	struct jm_cfg_systemd *s = &((struct jm_config *)base)->systemd[i];
	if (item->type != YAML_MAPPING_NODE)
		return fail(c, item, "%s: expected a mapping", path);
	if (parse_map(c, item, path, s, systemd_fields, NFIELDS(systemd_fields)))
		return -1;
	return s->unit_glob[0] ? 0 : fail(c, item, "%s: missing or empty \"unit\"", path);
}

static int cfg_systemd(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	struct jm_config *cfg = base;
	return parse_seq(c, v, path, JM_CFG_MAX_SYSTEMD, &cfg->n_systemd, cfg, systemd_item);
}

/* ---- top level ---- */

/* ---- addresses and URLs: what the agent would refuse at start ---- */

/* "ADDR:PORT", "[V6]:PORT" or ":PORT", port 0..65535: the shape the metrics
 * listener parses (mx_parse_listen in metrics.c; the address itself is
 * resolved at start). */
static bool listen_shape_ok(const char *s)
{
	const char *port;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon)
			return false;
		port = colon + 1;
	}
	size_t n = strlen(port);
	return n > 0 && n <= 5 && strspn(port, "0123456789") == n && strtoul(port, NULL, 10) <= 65535;
}

/* An http:// or https:// URL with a host, as libcurl parses it (the shipper
 * and the OTLP exporter take nothing else).  guess: a URL without a scheme is
 * http://, as libcurl takes the collector URL ("collector:8443/v1/batches");
 * the OTLP exporter asks for a scheme. */
static bool http_url_ok(const char *url, bool guess)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	bool ok = u && curl_url_set(u, CURLUPART_URL, url, guess ? CURLU_GUESS_SCHEME : 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		  curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0] &&
		  (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);

	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

static int cfg_metrics_listen(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	struct jm_config *cfg = base;

	if (get_str(c, v, path, cfg->metrics_listen, sizeof(cfg->metrics_listen)))
		return -1;
	if (cfg->metrics_listen[0] && !listen_shape_ok(cfg->metrics_listen))
		return fail(c, v, "%s: expected ADDR:PORT, [V6]:PORT or :PORT (port 0..65535), got \"%s\"",
			    path, cfg->metrics_listen);
	return 0;
}

/* The URL is not repeated in the message: it may hold a password. */
static int url_value(struct ctx *c, yaml_node_t *v, const char *path, char *dst, size_t cap,
		     bool guess)
{
	if (get_str(c, v, path, dst, cap))
		return -1;
	if (dst[0] && !http_url_ok(dst, guess))
		return fail(c, v, "%s: expected an http:// or https:// URL with a host", path);
	return 0;
}

static int cfg_collector_url(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	struct jm_config *cfg = base;
	return url_value(c, v, path, cfg->collector_url, sizeof(cfg->collector_url), true);
}

static int cfg_otlp_url(struct ctx *c, yaml_node_t *v, const char *path, void *base)
{
	struct jm_config *cfg = base;
	return url_value(c, v, path, cfg->otlp_url, sizeof(cfg->otlp_url), false);
}

static const struct field k8s_fields[] = {
	F_BOOL("enabled", struct jm_config, k8s_enabled),
	F_STR("log_root", struct jm_config, k8s_log_root),
};

static const struct field collector_fields[] = {
	F_SUB("url", cfg_collector_url),
	F_STR("token_file", struct jm_config, collector_token_file),
	F_STR("ca_file", struct jm_config, collector_ca_file),
	F_STR("spool_dir", struct jm_config, spool_dir),
	F_UINT("spool_max_mb", struct jm_config, spool_max_mb, 1, 1048576),
	F_UINT("timeout_s", struct jm_config, collector_timeout_s, 1, 3600),
};

static const struct field otlp_fields[] = { F_SUB("url", cfg_otlp_url) };

/* Nested maps whose keys land directly on struct jm_config. */
#define SECTION(fn, tbl) \
	static int fn(struct ctx *c, yaml_node_t *v, const char *path, void *base) \
	{ return parse_map(c, v, path, base, tbl, NFIELDS(tbl)); }
SECTION(cfg_k8s, k8s_fields)
SECTION(cfg_db, db_fields)
SECTION(cfg_collector, collector_fields)
SECTION(cfg_otlp, otlp_fields)

static const struct field top_fields[] = {
	F_UINT("interval", struct jm_config, interval_s, 1, 3600),
	F_UINT("max_jobs", struct jm_config, max_jobs, 1, 1000000),
	F_SUB("metrics_listen", cfg_metrics_listen),
	F_SUB("env_identity", cfg_env),
	F_SUB("systemd", cfg_systemd),
	F_SUB("kubernetes", cfg_k8s),
	F_SUB("jobs", cfg_jobs),
	F_SUB("db", cfg_db),
	F_SUB("collector", cfg_collector),
	F_SUB("otlp", cfg_otlp),
};

/* ---- public API ---- */

static void set_endpoints(struct jm_cfg_db_endpoints *e, uint16_t port, const char *const *socks, size_t n)
{
	e->n_ports = 1;
	e->ports[0] = port;
	e->n_sockets = n;
	for (size_t i = 0; i < n; i++)
		snprintf(e->sockets[i], sizeof(e->sockets[i]), "%s", socks[i]);
}

void jm_config_defaults(struct jm_config *cfg)
{
	static const char *const pg[] = { "/var/run/postgresql/.s.PGSQL.5432",
					  "/run/postgresql/.s.PGSQL.5432", "/tmp/.s.PGSQL.5432" };
	static const char *const my[] = { "/run/mysqld/mysqld.sock", "/var/run/mysqld/mysqld.sock",
					  "/tmp/mysql.sock" };
	memset(cfg, 0, sizeof(*cfg));
	cfg->interval_s = 10;
	cfg->max_jobs = 1000;
	cfg->k8s_enabled = true;
	strcpy(cfg->k8s_log_root, "/var/log");
	cfg->db_enabled = true;
	cfg->db_capture_bytes = 512;
	cfg->db_max_fingerprints = 200;
	set_endpoints(&cfg->pg, 5432, pg, 3);
	set_endpoints(&cfg->mysql, 3306, my, 3);
	strcpy(cfg->spool_dir, "/var/lib/jobmeter/spool");
	cfg->spool_max_mb = 256;
	cfg->collector_timeout_s = 10;
}

/* libyaml reports reader errors (bad UTF-8, NUL) as a byte offset only. */
static size_t line_at_offset(const char *buf, size_t len, size_t off)
{
	size_t line = 1;
	for (size_t i = 0; i < off && i < len; i++)
		line += buf[i] == '\n';
	return line;
}

static int syntax_error(struct ctx *c, yaml_parser_t *p, const char *buf, size_t len)
{
	size_t line = p->error == YAML_READER_ERROR ? line_at_offset(buf, len, p->problem_offset)
						    : p->problem_mark.line + 1;
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s:%zu: YAML syntax error: %s%s%s%s", c->name, line,
			 p->problem ? p->problem : "unknown error", p->context ? " (" : "",
			 p->context ? p->context : "", p->context ? ")" : "");
	return -1;
}

int jm_config_parse(struct jm_config *cfg, const char *name, const char *buf, size_t len,
		    char *err, size_t errlen)
{
	struct ctx c = { .name = name, .err = err, .errlen = errlen };
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	bool have_doc = false, have_extra = false;
	int rc = -1;

	jm_config_defaults(cfg);
	if (err && errlen)
		err[0] = '\0';
	if (strlen(name) >= sizeof(cfg->path)) {
		c.name = "config";
		return fail(&c, NULL, "file name too long (max %zu bytes)", sizeof(cfg->path) - 1);
	}
	strcpy(cfg->path, name);
	if (!yaml_parser_initialize(&parser))
		return fail(&c, NULL, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&c, &parser, buf, len);
		goto out;
	}
	have_doc = true;
	c.doc = &doc;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {            /* empty or comments only: all defaults */
		rc = 0;
		goto out;
	}
	/* A second "---" document would otherwise be ignored silently. */
	if (!yaml_parser_load(&parser, &extra)) {
		syntax_error(&c, &parser, buf, len);
		goto out;
	}
	have_extra = true;
	yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
	if (extra_root) {
		fail(&c, extra_root, "only one YAML document is allowed");
		goto out;
	}
	if (root->type != YAML_MAPPING_NODE && !is_null(root)) {
		fail(&c, root, "top level: expected a mapping");
		goto out;
	}
	rc = parse_map(&c, root, "", cfg, top_fields, NFIELDS(top_fields));
out:
	if (have_extra)
		yaml_document_delete(&extra);
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc)
		jm_config_free(cfg);    /* a failed parse leaves nothing to release */
	return rc;
}

int jm_config_load(struct jm_config *cfg, const char *path, char *err, size_t errlen)
{
	struct ctx c = { .name = path, .err = err, .errlen = errlen };
	char *buf = NULL;
	int rc = -1;

	jm_config_defaults(cfg);
	FILE *f = fopen(path, "re");
	if (!f)
		return fail(&c, NULL, "cannot open: %s", strerror(errno));
	buf = malloc(CFG_FILE_MAX + 1);
	if (!buf) {
		fail(&c, NULL, "out of memory");
		goto out;
	}
	size_t len = fread(buf, 1, CFG_FILE_MAX + 1, f);
	if (ferror(f)) {
		fail(&c, NULL, "read error: %s", strerror(errno));
		goto out;
	}
	if (len > CFG_FILE_MAX) {
		fail(&c, NULL, "file too large (max %u bytes)", CFG_FILE_MAX);
		goto out;
	}
	rc = jm_config_parse(cfg, path, buf, len, err, errlen);
out:
	free(buf);
	fclose(f);
	return rc;
}

void jm_config_free(struct jm_config *cfg)
{
	for (size_t i = 0; i < cfg->n_jobs && i < JM_CFG_MAX_JOBS; i++) {
		if (cfg->jobs[i].has_argv)
			regfree(&cfg->jobs[i].argv_re);
		cfg->jobs[i].has_argv = false;
	}
}

const struct jm_cfg_job *jm_config_find_job(const struct jm_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_jobs; i++)
		if (strcmp(cfg->jobs[i].name, name) == 0)
			return &cfg->jobs[i];
	return NULL;
}
