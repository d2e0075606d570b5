#include "db.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bpf/io.h"
#include "histogram.h"
#include "idmap.h"
#include "log.h"
#include "protocol/mysql.h"
#include "protocol/postgres.h"
#include "rules.h"
#include "sql.h"

struct conn {
	uint64_t cookie;               /* the kernel's socket cookie */
	uint32_t tgid;                 /* the process that used it first */
	enum jm_db_system system;
	char endpoint[JM_ENDPOINT_MAX];
	struct jm_proto_stats pstats;
	/* Where this connection's figures go (conn_stats), valid while the
	 * jobs table's DB generation is s_gen and its process's run is s_run:
	 * the slot search compares endpoint strings, twice per payload. */
	struct jm_run *s_run;
	uint64_t s_gen;
	struct jm_db_stats *s_rs, *s_ws;
	bool unreadable;               /* counted as such (TLS, compression) */
	union {
		struct jm_pg_conn pg;
		struct jm_mysql_conn my;
	} p;
};

struct wfile {                     /* a file opened for writing that is an output */
	char output[JM_CFG_PATH_MAX];  /* the configured glob (the dataset name) */
};

/* Fingerprints of SQL texts seen twice.  Drivers that bind parameters
 * (JDBC, psycopg 3, asyncpg, libpq's extended protocol) send one text for
 * every execution, and lexing it again was the larger part of the agent's
 * work per query.  Texts with inline literals (pgbench -S, most ad-hoc SQL)
 * are new every time, so the memo is keyed by jm_sql_memo_key(), which
 * leaves out string contents and number digits: equal keys are the same
 * input to the fingerprint as far as its output goes (sql.h), and the key
 * is compared byte for byte.  A slot notes a key's hash on first sight and
 * keeps the key and its fingerprint on the second, so one-off texts cost a
 * key and a hash, and no copy. */
#define FP_MEMO_SLOTS   64
#define FP_MEMO_SQL_MAX 256
#define FP_MEMO_KEY_MAX (FP_MEMO_SQL_MAX + 1)
#define FP_MEMO_CREDIT  4

struct fp_memo {
	uint64_t hash;                 /* of flags and key; 0: empty */
	bool     full;                 /* key and fp below are valid */
	uint8_t  credit;               /* strangers it survives, refilled by hits */
	unsigned flags;
	size_t   key_len, fp_len;
	uint64_t fp_hash;              /* fp_hash() of fp */
	char     key[FP_MEMO_KEY_MAX];
	char     fp[JM_FPRINT_MAX];
};

struct jm_db {
	const struct jm_config *cfg;
	struct jm_probes *probes;
	struct jm_tracker *tracker;
	struct jm_loss *loss;
	struct jm_idmap conns;         /* socket cookie -> struct conn */
	struct jm_idmap ignored;       /* cookie -> tgid: IGNORE answers the kernel
					* may not have taken yet (the socket can
					* close first, and a Unix one says nothing) */
	struct jm_idmap wfiles;        /* tgid<<32|fd -> struct wfile */
	struct conn *cur;              /* connection of the query callback */
	/* (job, endpoint) pairs already told about in the log as unreadable:
	 * one line each, not one per connection of a pool. */
	uint64_t told[64];
	unsigned n_told;
	struct fp_memo memo[FP_MEMO_SLOTS];
};

static uint64_t key(uint32_t tgid, uint32_t fd)
{
	return ((uint64_t)tgid << 32) | fd | (1ull << 63);
}

struct jm_db *jm_db_new(const struct jm_config *cfg, struct jm_probes *probes,
			struct jm_tracker *tracker, struct jm_loss *loss)
{
	struct jm_db *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	if (jm_idmap_init(&d->conns, 64) || jm_idmap_init(&d->wfiles, 64) ||
	    jm_idmap_init(&d->ignored, 64)) {
		jm_idmap_free(&d->conns);
		jm_idmap_free(&d->wfiles);
		free(d);
		return NULL;
	}
	d->cfg = cfg;
	d->probes = probes;
	d->tracker = tracker;
	d->loss = loss;
	return d;
}

void jm_db_free(struct jm_db *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->conns.cap; i++)
		free(d->conns.vals[i]);
	for (size_t i = 0; i < d->wfiles.cap; i++)
		free(d->wfiles.vals[i]);
	jm_idmap_free(&d->conns);
	jm_idmap_free(&d->wfiles);
	jm_idmap_free(&d->ignored);
	free(d);
}

static bool port_in(const struct jm_cfg_db_endpoints *e, uint16_t port)
{
	for (size_t i = 0; i < e->n_ports; i++)
		if (e->ports[i] == port)
			return true;
	return false;
}

static bool sock_in(const struct jm_cfg_db_endpoints *e, const char *path)
{
	for (size_t i = 0; i < e->n_sockets; i++)
		if (strcmp(e->sockets[i], path) == 0)
			return true;
	return false;
}

enum jm_db_system jm_db_classify(const struct jm_config *cfg, const uint8_t *addr, size_t len,
				 char *ep, size_t eplen)
{
	sa_family_t fam;
	char ip[INET6_ADDRSTRLEN];
	uint16_t port = 0;

	ep[0] = 0;
	if (len < sizeof(fam))
		return JM_DB_NONE;
	memcpy(&fam, addr, sizeof(fam));
	if (fam == AF_INET && len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;
		memcpy(&sin, addr, sizeof(sin));
		port = ntohs(sin.sin_port);
		inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof(ip));
		snprintf(ep, eplen, "%s:%u", ip, port);
	} else if (fam == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, addr, sizeof(sin6));
		port = ntohs(sin6.sin6_port);
		inet_ntop(AF_INET6, &sin6.sin6_addr, ip, sizeof(ip));
		snprintf(ep, eplen, "[%s]:%u", ip, port);
	} else if (fam == AF_UNIX && len > sizeof(fam)) {
		size_t n = len - sizeof(fam);
		const char *path = (const char *)addr + sizeof(fam);
		if (n > sizeof(((struct sockaddr_un *)0)->sun_path))
			n = sizeof(((struct sockaddr_un *)0)->sun_path);
		snprintf(ep, eplen, "%.*s", (int)strnlen(path, n), path);
		if (!ep[0])
			return JM_DB_NONE;     /* abstract socket */
		if (sock_in(&cfg->pg, ep))
			return JM_DB_POSTGRES;
		if (sock_in(&cfg->mysql, ep))
			return JM_DB_MYSQL;
		return JM_DB_NONE;
	} else {
		return JM_DB_NONE;
	}
	if (port_in(&cfg->pg, port))
		return JM_DB_POSTGRES;
	if (port_in(&cfg->mysql, port))
		return JM_DB_MYSQL;
	return JM_DB_NONE;
}

bool jm_db_table_matches(const char *configured, const char *target)
{
	if (strcasecmp(configured, target) == 0)
		return true;
	const char *dot = strchr(configured, '.');
	/* an unqualified target resolves through search_path: compare names */
	if (dot && !strchr(target, '.') && strcasecmp(dot + 1, target) == 0)
		return true;
	dot = strchr(target, '.');
	return dot && !strchr(configured, '.') && strcasecmp(dot + 1, configured) == 0;
}

static void conn_start(struct conn *c, enum jm_db_system sys)
{
	c->system = sys;
	c->s_run = NULL;                  /* figures are per system: look again */
	if (sys == JM_DB_POSTGRES)
		jm_pg_init(&c->p.pg);
	else if (sys == JM_DB_MYSQL)
		jm_mysql_init(&c->p.my);
}

static void on_query(void *ctx, const struct jm_query *q);

/* The run c's process belongs to (NULL: none now), with its figures for c's
 * endpoint: the run's (*rs) and the job window's (*ws), either NULL when
 * out of memory. */
static struct jm_run *conn_stats(struct jm_db *d, struct conn *c, struct jm_db_stats **rs,
				 struct jm_db_stats **ws)
{
	struct jm_run *run = jm_tracker_run_of(d->tracker, c->tgid);

	*rs = *ws = NULL;
	if (!run)
		return NULL;
	if (run != c->s_run || jm_run_db_gen(run) != c->s_gen) {
		c->s_rs = jm_run_db(run, c->system, c->endpoint, false);
		c->s_ws = jm_run_db(run, c->system, c->endpoint, true);
		/* Kept only when both exist: a failed one is asked for again. */
		c->s_run = c->s_rs && c->s_ws ? run : NULL;
		c->s_gen = jm_run_db_gen(run);   /* after the slots were added */
	}
	*rs = c->s_rs;
	*ws = c->s_ws;
	return run;
}

/* Answer the kernel's PROBE of a socket.  An IGNORE is remembered until its
 * process exits, so that an answer never taken leaves the verdicts map. */
static void answer(struct jm_db *d, uint64_t cookie, uint32_t tgid, uint32_t state)
{
	if (jm_probes_conn_set(d->probes, cookie, state)) {
		d->loss->map_full++;
		return;
	}
	jm_debug("connection %llx of pid %u: %s", (unsigned long long)cookie, tgid,
		 state == JM_CONN_DB ? "database" : "ignored");
	if (state == JM_CONN_IGNORE && jm_idmap_put(&d->ignored, cookie, (void *)(uintptr_t)tgid))
		d->loss->map_full++;
}

/* Forget a connection.  ignore: the socket lives on, so tell the kernel to
 * stop copying it; otherwise it is gone and so is any answer still waiting
 * for it. */
static void drop_conn(struct jm_db *d, struct conn *c, bool ignore)
{
	if (ignore)
		answer(d, c->cookie, c->tgid, JM_CONN_IGNORE);
	else
		jm_probes_conn_forget(d->probes, c->cookie);
	d->loss->parse_errors += c->pstats.parse_errors;
	jm_idmap_del(&d->conns, c->cookie);
	free(c);
}

static uint64_t fp_hash(const char *s, size_t n);

/* Why the parser of c stopped for good with the connection still in use,
 * NULL if it did not (or for a reason that hides nothing: a cancel
 * request, COM_QUIT, a refused login). */
static const char *unreadable_why(const struct conn *c)
{
	if (c->system == JM_DB_POSTGRES)
		/* enc_reply stays set when the server accepted the request */
		return c->p.pg.stopped && c->p.pg.enc_reply ?
		       (c->p.pg.enc_reply == 'S' ? "TLS-encrypted" : "GSS-encrypted") : NULL;
	if (c->p.my.tls)
		return "TLS-encrypted";
	if (c->p.my.compressed && c->p.my.stopped)
		return "compressed";
	return NULL;
}

/* A connection whose statements went out of sight: counted in its run
 * and window (the job shows why its queries are missing), and said once
 * per job and endpoint in the log. */
static void note_unreadable(struct jm_db *d, struct conn *c)
{
	const char *why = unreadable_why(c);
	struct jm_db_stats *rs, *ws;
	struct jm_run *run;

	if (!why)
		return;
	c->unreadable = true;
	if (!(run = conn_stats(d, c, &rs, &ws)))
		return;
	if (rs)
		rs->conns_unreadable++;
	if (ws)
		ws->conns_unreadable++;
	uint64_t h = fp_hash(jm_run_job(run), strlen(jm_run_job(run))) ^
		     fp_hash(c->endpoint, strlen(c->endpoint)) * 31;
	for (unsigned i = 0; i < d->n_told && i < 64; i++)
		if (d->told[i] == h)
			return;
	d->told[d->n_told++ % 64] = h;
	jm_info("job %s: its connection to %s is %s: bytes are counted, its statements "
		"cannot be read (jobmeter_job_db_connections_unreadable_total)",
		jm_run_job(run), c->endpoint, why);
}

/* Flush what a connection had in flight (a query without its answer). */
static void conn_end(struct jm_db *d, struct conn *c, uint64_t ts_ns, const char *why)
{
	jm_debug("connection %llx of pid %u to %s ended (%s)", (unsigned long long)c->cookie,
		 c->tgid, c->endpoint[0] ? c->endpoint : "?", why);
	d->cur = c;
	if (c->system == JM_DB_POSTGRES)
		jm_pg_close(&c->p.pg, ts_ns, on_query, d);
	else if (c->system == JM_DB_MYSQL)
		jm_mysql_close(&c->p.my, ts_ns, on_query, d);
	d->cur = NULL;
	drop_conn(d, c, false);
}

static void on_connect(struct jm_db *d, const struct jm_ev_connect *e)
{
	struct conn *c;
	uint64_t k = e->cookie;

	/* The kernel reports the first operation of a job process on a stream
	 * socket; the run is looked up when a query completes (the exec may
	 * still be queued). */
	if (!k || jm_idmap_get(&d->conns, k))
		return;                        /* cookies are never reused */
	c = calloc(1, sizeof(*c));
	if (!c) {
		answer(d, k, e->hdr.tgid, JM_CONN_IGNORE);
		return;
	}
	c->tgid = e->hdr.tgid;
	c->cookie = k;
	enum jm_db_system sys = jm_db_classify(d->cfg, e->addr,
					       e->addr_len < sizeof(e->addr) ? e->addr_len : sizeof(e->addr),
					       c->endpoint, sizeof(c->endpoint));
	if (jm_idmap_put(&d->conns, k, c)) {
		free(c);
		answer(d, k, e->hdr.tgid, JM_CONN_IGNORE);
		return;
	}
	if (sys != JM_DB_NONE) {
		conn_start(c, sys);
		answer(d, k, e->hdr.tgid, JM_CONN_DB);
	}
}

/* ---- per-query aggregation ---- */

/* Lookup hash of a fingerprint of n bytes (compared in memory only, never
 * rendered or stored), eight bytes per step: FNV-1a's byte-serial chain of
 * multiplies was 90% of on_query's own time in a pgbench -S profile. */
static uint64_t fp_hash(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	return (h ^ (h >> 29)) | 1;
}

/* jm_sql_fingerprint_ex() of sql[0..len) into fp (JM_FPRINT_MAX bytes),
 * through the memo; returns the fingerprint's length, its fp_hash() in
 * *fph. */
static size_t fingerprint(struct jm_db *d, const char *sql, size_t len, unsigned flags, char *fp,
			  uint64_t *fph)
{
	char key[FP_MEMO_KEY_MAX];
	size_t kl = len <= FP_MEMO_SQL_MAX ? jm_sql_memo_key(sql, len, flags, key, sizeof(key)) : 0;
	size_t n;

	if (kl == 0) {
		n = jm_sql_fingerprint_ex(sql, len, flags, fp, JM_FPRINT_MAX);
		*fph = fp_hash(fp, n);
		return n;
	}
	uint64_t h = fp_hash(key, kl) ^ ((uint64_t)flags << 56);
	struct fp_memo *m = &d->memo[h % FP_MEMO_SLOTS];
	if (m->hash == h && m->full && m->flags == flags && m->key_len == kl &&
	    memcmp(m->key, key, kl) == 0) {
		if (m->credit < FP_MEMO_CREDIT)
			m->credit++;
		memcpy(fp, m->fp, m->fp_len + 1);
		*fph = m->fp_hash;
		return m->fp_len;
	}
	n = jm_sql_fingerprint_ex(sql, len, flags, fp, JM_FPRINT_MAX);
	*fph = fp_hash(fp, n);
	if (m->hash == h && !m->full) {        /* second sight: keep it */
		m->full = true;
		m->credit = FP_MEMO_CREDIT;
		m->flags = flags;
		m->key_len = kl;
		memcpy(m->key, key, kl);
		m->fp_len = n;
		m->fp_hash = *fph;
		memcpy(m->fp, fp, n + 1);
	} else if (m->full && m->credit > 0) {
		m->credit--;                   /* a used text outlives a few strangers */
	} else {
		m->hash = h;
		m->full = false;
	}
	return n;
}

/* The n-th latency (n counted already) into the exact extremes that bound
 * the percentiles (jm_hist_quantile_within). */
static void note_extremes(uint64_t *min_ns, uint64_t *max_ns, uint64_t n, uint64_t lat)
{
	if (n == 1 || lat < *min_ns)
		*min_ns = lat;
	if (n == 1 || lat > *max_ns)
		*max_ns = lat;
}

/* One query into s; bk: its latency's histogram bucket, found once for the
 * four histograms a query lands in. */
static void add_query(struct jm_db_stats *s, const struct jm_query *q, const char *fp,
		      uint64_t fph, unsigned max_fp, int bk)
{
	uint64_t lat = q->end_ns > q->start_ns ? q->end_ns - q->start_ns : 0;
	double lat_s = (double)lat / 1e9;

	s->queries++;
	s->errors += q->error;
	s->rows += q->has_rows ? q->rows : 0;
	s->rows_unknown += q->rows_unknown;
	s->latency_s_sum += lat_s;
	jm_hist_inc(s->latency_buckets, bk);
	note_extremes(&s->latency_min_ns, &s->latency_max_ns, s->queries, lat);

	size_t i;
	for (i = 0; i < s->n_statements; i++)
		if (s->statements[i].fp_hash == fph && strcmp(s->statements[i].fingerprint, fp) == 0)
			break;
	if (i == s->n_statements) {
		if (s->n_statements >= max_fp) {
			s->statements_overflow++;
			return;
		}
		struct jm_stmt_stats *ns = realloc(s->statements, (s->n_statements + 1) * sizeof(*ns));
		if (!ns)
			return;
		s->statements = ns;
		memset(&ns[i], 0, sizeof(ns[i]));
		snprintf(ns[i].fingerprint, sizeof(ns[i].fingerprint), "%s", fp);
		ns[i].fp_hash = fph;
		s->n_statements++;
	}
	struct jm_stmt_stats *st = &s->statements[i];
	st->calls++;
	st->errors += q->error;
	st->rows += q->has_rows ? q->rows : 0;
	st->rows_unknown += q->rows_unknown;
	st->latency_s_sum += lat_s;
	jm_hist_inc(st->latency_buckets, bk);
	note_extremes(&st->latency_min_ns, &st->latency_max_ns, st->calls, lat);
	if (q->error)
		snprintf(st->last_error, sizeof(st->last_error), "%s", q->sqlstate);
}

static bool is_write(enum jm_sql_cmd c)
{
	return c == JM_SQL_INSERT || c == JM_SQL_UPDATE || c == JM_SQL_DELETE ||
	       c == JM_SQL_MERGE || c == JM_SQL_COPY_FROM || c == JM_SQL_CREATE_TABLE_AS;
}

/* Anything but whitespace and semicolons: another statement follows. */
static bool more_statements(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ';' && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' &&
		    s[i] != '\f' && s[i] != '\v')
			return true;
	return false;
}

/* The declared output table the statement sql[0..len) writes, if any, gets
 * a write at end_ns (the query's end, monotonic). */
static void output_write(struct jm_db *d, const struct jm_cfg_job *job, struct jm_run *run,
			 const char *sql, size_t len, unsigned flags, uint64_t end_ns)
{
	char target[256];

	if (!jm_sql_write_target(sql, len, flags, target, sizeof(target)))
		return;
	for (size_t i = 0; i < job->n_outputs; i++)
		if (!job->outputs[i].is_file && jm_db_table_matches(job->outputs[i].name, target))
			jm_run_output(run, JM_OUTPUT_TABLE, job->outputs[i].name,
				      jm_tracker_unix_ns(d->tracker, end_ns));
}

static void on_query(void *ctx, const struct jm_query *q)
{
	struct jm_db *d = ctx;
	struct conn *c = d->cur;
	struct jm_db_stats *rs, *ws;
	struct jm_run *run = conn_stats(d, c, &rs, &ws);
	char fp[JM_FPRINT_MAX];

	if (!run)
		return;
	/* MySQL: the server's backslash mode, when it is known (a statement
	 * with a backslash in a string is otherwise read both ways, and its
	 * fingerprint differs from the same statement without one). */
	unsigned flags = c->system != JM_DB_MYSQL ? 0 :
			 jm_mysql_sql_flags(&c->p.my, q->sql, q->sql ? q->sql_len : 0);
	uint64_t fph;
	size_t fpl = fingerprint(d, q->sql ? q->sql : "", q->sql ? q->sql_len : 0, flags, fp, &fph);
	if (q->sql_truncated && fpl + 4 < sizeof(fp)) {
		memcpy(fp + fpl, " ...", 5);
		fpl += 4;
		fph = fp_hash(fp, fpl);
	}
	unsigned max_fp = d->cfg->db_max_fingerprints;
	uint64_t before = rs ? rs->statements_overflow : 0;
	int bk = jm_hist_bucket(q->end_ns > q->start_ns ? q->end_ns - q->start_ns : 0);
	if (rs)
		add_query(rs, q, fp, fph, max_fp, bk);
	if (ws)
		add_query(ws, q, fp, fph, max_fp, bk);
	if (rs && rs->statements_overflow > before)
		d->loss->statements_overflow++;

	/* Dataset freshness: a successful write to a declared output table. */
	const struct jm_cfg_job *job;
	if (q->error || !q->sql)
		return;
	/* Only a ';' with more after it can start a second statement; the
	 * lexer walks the text only then. */
	size_t first = q->sql_len;
	const char *semi = memchr(q->sql, ';', q->sql_len);
	if (semi && more_statements(semi + 1, q->sql_len - (size_t)(semi + 1 - q->sql)))
		first = jm_sql_statement_end(q->sql, q->sql_len, flags);
	if (!more_statements(q->sql + first, q->sql_len - first)) {
		/* One statement: the protocol's own word on what it did (a
		 * PostgreSQL CommandComplete tag) goes first. */
		enum jm_sql_cmd cmd = q->cmd != JM_SQL_OTHER ? q->cmd :
				      jm_sql_command(q->sql, q->sql_len, flags);
		if (is_write(cmd) && (job = jm_config_find_job(d->cfg, jm_run_job(run))))
			output_write(d, job, run, q->sql, q->sql_len, flags, q->end_ns);
		return;
	}
	/* Several statements in one query ("begin; insert into t ...; commit"):
	 * the server ran them one after the other and the query ended without
	 * an error, so each statement that writes a table wrote it. */
	if (!(job = jm_config_find_job(d->cfg, jm_run_job(run))) || !job->n_outputs)
		return;
	for (size_t off = 0, n; off < q->sql_len; off += n) {
		n = jm_sql_statement_end(q->sql + off, q->sql_len - off, flags);
		if (!n)
			break;
		if (is_write(jm_sql_command(q->sql + off, n, flags)))
			output_write(d, job, run, q->sql + off, n, flags, q->end_ns);
	}
}

void jm_db_on_payload(struct jm_db *d, const void *data, size_t len)
{
	const struct jm_payload_hdr *h = data;
	struct conn *c;

	if (len < sizeof(*h) || sizeof(*h) + (size_t)h->head_len + h->tail_len > len) {
		d->loss->parse_errors++;
		return;
	}
	c = jm_idmap_get(&d->conns, h->cookie);
	if (!c)
		return;
	const uint8_t *head = (const uint8_t *)data + sizeof(*h);
	struct jm_fragment f = {
		.dir = h->dir == JM_PAYLOAD_RX ? JM_DIR_RX : JM_DIR_TX,
		.ts_ns = h->hdr.ts_ns,
		.total_len = h->total_len,
		.head = head, .head_len = h->head_len,
		.tail = head + h->head_len, .tail_len = h->tail_len,
	};
	if (c->system == JM_DB_NONE) {
		/* Unknown endpoint: PostgreSQL clients speak first, MySQL
		 * servers do. */
		if (f.dir == JM_DIR_TX && jm_pg_detect(f.head, f.head_len))
			conn_start(c, JM_DB_POSTGRES);
		else if (f.dir == JM_DIR_RX && jm_mysql_detect_server_greeting(f.head, f.head_len))
			conn_start(c, JM_DB_MYSQL);
		else {
			/* the side that speaks first said something else */
			drop_conn(d, c, true);
			return;
		}
		if (c->system == JM_DB_NONE)
			return;
		answer(d, c->cookie, c->tgid, JM_CONN_DB);
	}
	struct jm_db_stats *rs, *ws;
	struct jm_run *run = conn_stats(d, c, &rs, &ws);
	if (run) {
		uint64_t *r = f.dir == JM_DIR_TX ? (rs ? &rs->tx_bytes : NULL) : (rs ? &rs->rx_bytes : NULL);
		uint64_t *w = f.dir == JM_DIR_TX ? (ws ? &ws->tx_bytes : NULL) : (ws ? &ws->rx_bytes : NULL);
		if (r)
			*r += f.total_len;
		if (w)
			*w += f.total_len;
	}
	/* The client says goodbye: a Unix socket gives no other sign. */
	if (f.dir == JM_DIR_TX && f.total_len == f.head_len &&
	    (c->system == JM_DB_POSTGRES ? jm_pg_is_terminate(f.head, f.head_len)
					 : jm_mysql_is_quit(f.head, f.head_len))) {
		conn_end(d, c, f.ts_ns, "client goodbye");
		return;
	}
	uint64_t perr = c->pstats.parse_errors, uerr = c->pstats.unmatched_errors;
	d->cur = c;
	if (c->system == JM_DB_POSTGRES)
		jm_pg_feed(&c->p.pg, &f, on_query, d, &c->pstats);
	else
		jm_mysql_feed(&c->p.my, &f, on_query, d, &c->pstats);
	d->cur = NULL;
	d->loss->parse_errors += c->pstats.parse_errors - perr;
	c->pstats.parse_errors = perr;   /* counted once, here */
	if (!c->unreadable)
		note_unreadable(d, c);
	/* Error responses to requests the parser could not queue: no query
	 * carries them, but they are errors of this connection's run. */
	if (c->pstats.unmatched_errors != uerr && conn_stats(d, c, &rs, &ws)) {
		if (rs)
			rs->errors += c->pstats.unmatched_errors - uerr;
		if (ws)
			ws->errors += c->pstats.unmatched_errors - uerr;
	}
}

/* ---- output files ---- */

/* Absolute path of what a process named with (dirfd, path). */
static bool abs_path(uint32_t tgid, int dirfd, const char *path, char *out, size_t outsz)
{
	char link[64], base[JM_CFG_PATH_MAX];
	ssize_t n;

	if (path[0] == '/') {
		snprintf(out, outsz, "%s", path);
		return true;
	}
	if (dirfd == -100)
		snprintf(link, sizeof(link), "/proc/%u/cwd", tgid);
	else
		snprintf(link, sizeof(link), "/proc/%u/fd/%d", tgid, dirfd);
	n = readlink(link, base, sizeof(base) - 1);
	if (n <= 0)
		return false;
	base[n] = 0;
	return (size_t)snprintf(out, outsz, "%s/%s", base, path) < outsz;
}

static const char *output_for(struct jm_db *d, struct jm_run *run, const char *path)
{
	const struct jm_cfg_job *job = jm_config_find_job(d->cfg, jm_run_job(run));
	for (size_t i = 0; job && i < job->n_outputs; i++)
		if (job->outputs[i].is_file && jm_glob_match(job->outputs[i].name, path))
			return job->outputs[i].name;
	return NULL;
}

static void on_open(struct jm_db *d, const struct jm_ev_open *e)
{
	struct jm_run *run = jm_tracker_run_of(d->tracker, e->hdr.tgid);
	char path[JM_CFG_PATH_MAX], p[JM_PATH_LEN + 1];
	const char *out;

	snprintf(p, sizeof(p), "%.*s", JM_PATH_LEN, e->path);
	if (!run || !abs_path(e->hdr.tgid, e->dirfd, p, path, sizeof(path)) ||
	    !(out = output_for(d, run, path)))
		return;
	struct wfile *w = calloc(1, sizeof(*w));
	if (!w)
		return;
	snprintf(w->output, sizeof(w->output), "%s", out);
	free(jm_idmap_del(&d->wfiles, key(e->hdr.tgid, e->fd)));
	if (jm_idmap_put(&d->wfiles, key(e->hdr.tgid, e->fd), w))
		free(w);
}

static void on_close(struct jm_db *d, const struct jm_ev_close *e)
{
	if (e->flags & JM_CLOSE_CONN) {
		struct conn *c = jm_idmap_get(&d->conns, e->cookie);
		if (c)
			conn_end(d, c, e->hdr.ts_ns, "TCP close");
		else if (jm_idmap_del(&d->ignored, e->cookie))
			/* answered IGNORE: the answer may still wait in the
			 * kernel (a connection closed before its next
			 * operation) */
			jm_probes_conn_forget(d->probes, e->cookie);
	}
	if (e->flags & JM_CLOSE_WRITTEN) {
		struct wfile *w = jm_idmap_del(&d->wfiles, key(e->hdr.tgid, e->fd));
		struct jm_run *run = jm_tracker_run_of(d->tracker, e->hdr.tgid);
		if (w && run)
			jm_run_output(run, JM_OUTPUT_FILE, w->output,
				      jm_tracker_unix_ns(d->tracker, e->hdr.ts_ns));
		free(w);
	}
}

static void on_rename(struct jm_db *d, const struct jm_ev_rename *e)
{
	struct jm_run *run = jm_tracker_run_of(d->tracker, e->hdr.tgid);
	char path[JM_CFG_PATH_MAX], p[JM_PATH_LEN + 1];
	const char *out;

	snprintf(p, sizeof(p), "%.*s", JM_PATH_LEN, e->newpath);
	if (run && abs_path(e->hdr.tgid, e->newdirfd, p, path, sizeof(path)) &&
	    (out = output_for(d, run, path)))
		jm_run_output(run, JM_OUTPUT_FILE, out, jm_tracker_unix_ns(d->tracker, e->hdr.ts_ns));
}

void jm_db_sweep(struct jm_db *d, uint64_t now_mono)
{
	/* Unix sockets have no close event: a connection ends with the last
	 * process we saw using it (the kernel frees its state with the
	 * socket). */
	for (size_t i = 0; d->conns.len && i < d->conns.cap;) {
		struct conn *c = d->conns.vals[i];
		if (d->conns.keys[i] && c && !jm_tracker_alive(d->tracker, c->tgid))
			conn_end(d, c, now_mono, "its process exited"); /* slot i may now hold a shifted entry */
		else
			i++;
	}
	for (size_t i = 0; d->ignored.len && i < d->ignored.cap;) {
		uint64_t k = d->ignored.keys[i];
		if (k && !jm_tracker_alive(d->tracker, (uint32_t)(uintptr_t)d->ignored.vals[i])) {
			jm_probes_conn_forget(d->probes, k);
			jm_idmap_del(&d->ignored, k);
		} else {
			i++;
		}
	}
}

void jm_db_on_event(struct jm_db *d, const void *data, size_t len)
{
	const struct jm_ev_hdr *h = data;

	if (len < sizeof(*h))
		return;
	switch (h->type) {
	case JM_EV_CONNECT:
		if (len >= sizeof(struct jm_ev_connect))
			on_connect(d, data);
		break;
	case JM_EV_CLOSE:
		if (len >= sizeof(struct jm_ev_close))
			on_close(d, data);
		break;
	case JM_EV_OPEN:
		if (len >= sizeof(struct jm_ev_open))
			on_open(d, data);
		break;
	case JM_EV_RENAME:
		if (len >= sizeof(struct jm_ev_rename))
			on_rename(d, data);
		break;
	}
}
