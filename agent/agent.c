#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "buf.h"
#include "db.h"
#include "fileutil.h"
#include "host.h"
#include "identity/identity.h"
#include "jobs.h"
#include "log.h"
#include "loss.h"
#include "metrics.h"
#include "model.h"
#include "otlp.h"
#include "probes.h"
#include "process.h"
#include "render_json.h"
#include "render_pb.h"
#include "ship.h"
#include "spool.h"

struct jm_agent {
	const struct jm_config *cfg;
	struct jm_probes *probes;
	struct jm_jobs *jobs;
	struct jm_tracker *tracker;
	struct jm_db *db;
	struct jm_metrics *metrics;
	struct jm_spool *spool;          /* NULL without a collector */
	uint64_t unspooled;              /* batches that could not be written to it */
	struct jm_shipper *shipper;
	struct jm_otlp *otlp;
	struct jm_batch_builder batch;
	struct jm_agent_identity id;
	struct jm_host_sampler host;
	int64_t batch_start_ns;
	FILE *jsonl;
	bool jsonl_owned;
	struct jm_buf line;
	struct jm_loss loss;              /* cumulative, user space + kernel */
	struct jm_loss loss_reported;     /* as of the last loss line */
	struct jm_loss_kernel loss_kernel; /* kernel counters as of the last fold */
	struct jm_loss loss_base;         /* carried over from the agent's last run (this boot) */
	struct jm_loss loss_saved;        /* as last written to <state_dir>/loss */
	int state_fd;                     /* the state directory, -1 when not shipping */
	bool loss_save_failed;            /* warned once */
	bool running_marked;              /* <state_dir>/running is ours */
	uint64_t tf_misses_reported;      /* JM_STAT_TFILTER_MISS as of the last warning */
	uint64_t env_trunc_reported;      /* JM_STAT_ENV_TRUNC when it was logged, 0 = not yet */
	bool regs_retired_reported;       /* the warning below was given */
	uint64_t ship_rejected_reported;  /* refused batches as of the last warning */
};

static int64_t now_unix_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void write_line(struct jm_agent *ag)
{
	if (!ag->jsonl || ag->line.oom || !ag->line.len)
		return;
	if (fwrite(ag->line.data, 1, ag->line.len, ag->jsonl) != ag->line.len ||
	    fflush(ag->jsonl))
		jm_warn("cannot write JSONL output: %s", strerror(errno));
}

static void on_run_done(void *ctx, const struct jm_run_record *r)
{
	struct jm_agent *ag = ctx;
	jm_buf_reset(&ag->line);
	jm_json_run(&ag->line, r);
	write_line(ag);
	if (ag->metrics)
		jm_metrics_observe_run(ag->metrics, r);
	if ((ag->spool || ag->otlp) && jm_batch_builder_add_run(&ag->batch, r))
		jm_warn("out of memory: run %s of %s not shipped", r->run_id, r->job);
}

static void on_window(void *ctx, const struct jm_window_record *w)
{
	struct jm_agent *ag = ctx;
	jm_buf_reset(&ag->line);
	jm_json_window(&ag->line, w);
	write_line(ag);
	if (ag->metrics)
		jm_metrics_observe_window(ag->metrics, w);
	if ((ag->spool || ag->otlp) && jm_batch_builder_add_window(&ag->batch, w))
		jm_warn("out of memory: window of %s not shipped", w->job);
}

static int on_event(void *ctx, const void *data, size_t len)
{
	struct jm_agent *ag = ctx;
	return jm_tracker_on_event(ag->tracker, data, len);
}

/* The io ring: connection lifecycle, payload heads, output files. */
static int on_io(void *ctx, const void *data, size_t len)
{
	struct jm_agent *ag = ctx;
	const struct jm_ev_hdr *h = data;

	if (len < sizeof(*h))
		return 0;
	if (h->type == JM_EV_PAYLOAD)
		jm_db_on_payload(ag->db, data, len);
	else
		jm_db_on_event(ag->db, data, len);
	return 0;
}


static bool has_rules(const struct jm_config *cfg)
{
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		const struct jm_cfg_job *j = &cfg->jobs[i];
		if (j->comm[0] || j->exe_glob[0] || j->cgroup_glob[0] || j->has_argv)
			return true;
	}
	return cfg->n_systemd > 0 || cfg->k8s_enabled;
}

static bool has_file_outputs(const struct jm_config *cfg)
{
	for (size_t i = 0; i < cfg->n_jobs; i++)
		for (size_t k = 0; k < cfg->jobs[i].n_outputs; k++)
			if (cfg->jobs[i].outputs[k].is_file)
				return true;
	return false;
}

#define LOSS_FILE "loss"
#define RUNNING_FILE "running"

/* The loss counters of this agent's last run in this boot carry on: the
 * batches' counters are cumulative per boot, and a reset would hide what
 * came before (see jm_loss_parse). */
static void load_loss(struct jm_agent *ag, const char *state_dir)
{
	char text[1024];
	struct jm_loss base;

	ag->state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ag->state_fd < 0) {
		jm_warn("cannot open state directory %s: %s: loss counters restart from zero "
			"with every agent restart", state_dir, strerror(errno));
		return;
	}
	/* The last run of the agent left its marker: it never reached its
	 * final flush (kill -9, a crash, power loss), and the interval it held
	 * in memory never became a batch.  Counted as one. */
	if (faccessat(ag->state_fd, RUNNING_FILE, F_OK, 0) == 0) {
		ag->unspooled++;
		jm_warn("the agent's last run ended without a clean stop (killed or crashed): its "
			"last interval (up to %u s) is lost, counted in spool_dropped_batches",
			ag->cfg->interval_s);
	}
	ssize_t n = jm_read_small(ag->state_fd, LOSS_FILE, text, sizeof(text));
	if (n == -ENOENT)
		return;
	int err = n < 0 ? (int)n : (size_t)n == sizeof(text) - 1 ? -EFBIG :
		  jm_loss_parse(text, ag->id.boot_id, &base);
	if (err == -ESTALE)
		return;                                    /* another boot: from zero */
	if (err) {
		jm_warn("%s/%s unreadable (%s): loss counters start from zero", state_dir, LOSS_FILE,
			strerror(-err));
		return;
	}
	ag->loss_base = base;
	ag->loss_saved = base;
	jm_loss_add(&ag->loss, &base);
	jm_loss_add(&ag->loss_reported, &base);
}

/* Batches lost on the way to the spool: the last run's (this boot), those
 * the spool dropped, and those it could not take. */
static void set_spool_drops(struct jm_agent *ag)
{
	if (ag->spool)
		ag->loss.spool_dropped_batches = ag->loss_base.spool_dropped_batches +
						 jm_spool_dropped(ag->spool) + ag->unspooled;
}

static void save_loss(struct jm_agent *ag)
{
	char text[1024];

	if (ag->state_fd < 0 || memcmp(&ag->loss, &ag->loss_saved, sizeof(ag->loss)) == 0)
		return;
	int n = jm_loss_format(&ag->loss, ag->id.boot_id, text, sizeof(text));
	int err = n < 0 ? n : jm_write_atomic(ag->state_fd, LOSS_FILE, LOSS_FILE ".tmp", text, (size_t)n);
	if (err) {
		if (!ag->loss_save_failed)
			jm_warn("cannot save loss counters: %s: after an agent restart the collector "
				"may count less loss than there was", strerror(-err));
		ag->loss_save_failed = true;
		return;
	}
	ag->loss_saved = ag->loss;
}

int jm_agent_open(struct jm_agent **out, const struct jm_config *cfg,
		  const struct jm_cli_opts *opts)
{
	struct jm_agent *ag = calloc(1, sizeof(*ag));
	struct jm_probe_opts po;
	const char *state_dir = opts->state_dir ? opts->state_dir : "/var/lib/jobmeter";
	const char *listen = opts->metrics_listen ? opts->metrics_listen : cfg->metrics_listen;
	int err = -ENOMEM;

	if (!ag)
		return -ENOMEM;
	ag->cfg = cfg;
	ag->state_fd = -1;
	jm_buf_init(&ag->line);
	jm_batch_builder_init(&ag->batch);
	ag->batch_start_ns = now_unix_ns();
	if (opts->jsonl) {
		if (strcmp(opts->jsonl, "-") == 0) {
			ag->jsonl = stdout;
		} else {
			ag->jsonl = fopen(opts->jsonl, "ae");
			if (!ag->jsonl) {
				err = -errno;
				jm_err("cannot open --jsonl %s: %s", opts->jsonl, strerror(errno));
				goto fail;
			}
			ag->jsonl_owned = true;
		}
	}

	struct jm_jobs_sink sink = { .run_done = on_run_done, .window = on_window, .ctx = ag };
	ag->jobs = jm_jobs_new(cfg->max_jobs, &sink);
	if (!ag->jobs)
		goto fail;
	jm_jobs_set_max_fingerprints(ag->jobs, cfg->db_max_fingerprints);
	jm_jobs_set_window_start(ag->jobs, ag->batch_start_ns);   /* windows tile the batches */

	memset(&po, 0, sizeof(po));
	char prefixes[JM_ENV_PREFIX_MAX][JM_ENV_PREFIX_LEN];
	po.n_env_keys = jm_env_identity_prefixes(cfg, prefixes, JM_ENV_PREFIX_MAX);
	for (size_t i = 0; i < po.n_env_keys; i++)
		snprintf(po.env_keys[i], sizeof(po.env_keys[i]), "%s", prefixes[i]);
	po.emit_all_exits = has_rules(cfg);
	po.track_outputs = has_file_outputs(cfg);
	po.cap_head = cfg->db_capture_bytes;
	po.cap_tail = 256;
	po.db_trace = cfg->db_enabled;
	if (!cfg->db_enabled)
		jm_info("database tracing is off (db.enabled: false): no payload is copied");
	err = jm_probes_open(&ag->probes, &po, on_event, on_io, ag);
	if (err)
		goto fail;
	ag->tracker = jm_tracker_new(cfg, ag->probes, ag->jobs, &ag->loss);
	ag->db = ag->tracker ? jm_db_new(cfg, ag->probes, ag->tracker, &ag->loss) : NULL;
	if (!ag->tracker || !ag->db) {
		err = -ENOMEM;
		goto fail;
	}
	if (listen && *listen) {
		err = jm_metrics_open(&ag->metrics, listen, cfg->max_jobs);
		if (err)
			goto fail;
	}
	if (cfg->collector_url[0] || cfg->otlp_url[0]) {
		if (jm_host_identity(&ag->id, state_dir)) {
			jm_err("cannot read or create the agent id in %s", state_dir);
			err = -EIO;
			goto fail;
		}
		load_loss(ag, state_dir);
		if (jm_host_sampler_init(&ag->host, "/proc"))
			jm_warn("host CPU/memory sampling unavailable: idle cost will be missing");
	}
	if (cfg->collector_url[0]) {
		err = jm_spool_open(&ag->spool, cfg->spool_dir, (uint64_t)cfg->spool_max_mb << 20);
		if (err) {
			jm_err("cannot open spool %s: %s", cfg->spool_dir, strerror(-err));
			goto fail;
		}
		err = jm_ship_open(&ag->shipper, cfg, ag->spool);
		if (err)
			goto fail;
		char safe[512];
		jm_info("shipping batches to %s (spool %s)", jm_log_url(cfg->collector_url, safe, sizeof(safe)),
			cfg->spool_dir);
	}
	if (cfg->otlp_url[0]) {
		err = jm_otlp_open(&ag->otlp, cfg->otlp_url, cfg->collector_timeout_s);
		if (err)
			goto fail;
		/* the URL may carry credentials: otlp.c logs scheme and host */
	}
	jm_tracker_scan_existing(ag->tracker);
	if (ag->state_fd >= 0) {
		char pid[24];
		int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		if (jm_write_atomic(ag->state_fd, RUNNING_FILE, RUNNING_FILE ".tmp", pid, (size_t)len))
			jm_warn("cannot mark the agent running in its state directory: a crash "
				"would go uncounted");
		else
			ag->running_marked = true;
	}
	*out = ag;
	return 0;
fail:
	jm_agent_close(ag);
	return err;
}

void jm_agent_stopped_cleanly(struct jm_agent *ag)
{
	/* The last batch may have failed to spool: kept for the next start. */
	set_spool_drops(ag);
	save_loss(ag);
	if (ag->running_marked && unlinkat(ag->state_fd, RUNNING_FILE, 0) == 0)
		ag->running_marked = false;
}

void jm_agent_close(struct jm_agent *ag)
{
	if (!ag)
		return;
	jm_ship_close(ag->shipper, 5000);
	jm_spool_close(ag->spool);
	if (ag->otlp)
		jm_otlp_close(ag->otlp);
	if (ag->metrics)
		jm_metrics_close(ag->metrics);
	jm_batch_builder_free(&ag->batch);
	jm_db_free(ag->db);
	jm_tracker_free(ag->tracker);
	jm_probes_close(ag->probes);
	jm_jobs_free(ag->jobs);
	if (ag->jsonl_owned)
		fclose(ag->jsonl);
	jm_buf_free(&ag->line);
	if (ag->state_fd >= 0)
		close(ag->state_fd);
	free(ag);
}

void jm_agent_epoll_fds(struct jm_agent *ag, int fds[2])
{
	jm_probes_epoll_fds(ag->probes, fds);
}


void jm_agent_poll(struct jm_agent *ag)
{
	int n = jm_probes_poll(ag->probes, 0);
	if (n < 0 && n != -EINTR)
		jm_warn("ring buffer poll: %s", strerror(-n));
	/* Only now, with the io ring drained, may exited processes leave and
	 * ended runs be written; their connections end first. */
	if (ag->db) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		jm_db_sweep(ag->db, (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec);
	}
	jm_tracker_flush_exits(ag->tracker);
}

void jm_agent_poll_final(struct jm_agent *ag)
{
	jm_agent_poll(ag);
	jm_tracker_flush_exits_all(ag->tracker);
}

void jm_agent_sample(struct jm_agent *ag)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	jm_tracker_sample(ag->tracker, (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec);
}

/* Fold the kernel's counters into the cumulative loss and print a loss line
 * when anything was dropped since the last one. */
static void report_loss(struct jm_agent *ag, int64_t now)
{
	uint64_t k[JM_STAT_MAX];
	struct jm_jobs_stats js;
	struct jm_loss *l = &ag->loss, d;

	if (jm_probes_stats(ag->probes, k) == 0) {
		jm_loss_fold_kernel(l, &ag->loss_kernel, k);
		if (k[JM_STAT_TFILTER_MISS] > ag->tf_misses_reported) {
			jm_warn("%llu job thread(s) were missing from the socket thread filter "
				"(now added): their socket bytes until then were not counted",
				(unsigned long long)(k[JM_STAT_TFILTER_MISS] - ag->tf_misses_reported));
			ag->tf_misses_reported = k[JM_STAT_TFILTER_MISS];
		}
		/* Any exec on the host counts (most are no job's): said once,
		 * counted in /metrics from then on. */
		if (k[JM_STAT_ENV_TRUNC] && !ag->env_trunc_reported) {
			jm_warn("%llu exec(s) had more than %d environment strings: a JOBMETER_JOB "
				"or env_identity variable after those is not seen (further ones: "
				"jobmeter_env_scan_truncated_total)",
				(unsigned long long)k[JM_STAT_ENV_TRUNC], JM_ENV_SCAN_MAX);
			ag->env_trunc_reported = k[JM_STAT_ENV_TRUNC];
		}
		if (ag->metrics) {
			jm_metrics_set_thread_filter(ag->metrics, k[JM_STAT_TFILTER_MISS],
						     jm_probes_tfilter_bits(ag->probes));
			jm_metrics_set_env_scan_truncated(ag->metrics, k[JM_STAT_ENV_TRUNC]);
		}
	}
	if (!ag->regs_retired_reported && jm_probes_regs_offset_retired(ag->probes)) {
		jm_warn("kernel stacks disagree on where a task's saved registers sit: the socket "
			"programs ask the kernel for them on every job socket operation (slower, "
			"same figures)");
		ag->regs_retired_reported = true;
	}
	jm_jobs_stats(ag->jobs, &js);
	l->jobs_overflow = ag->loss_base.jobs_overflow + js.jobs_overflow;
	set_spool_drops(ag);
	if (ag->metrics)
		jm_metrics_set_loss(ag->metrics, l);
	save_loss(ag);                        /* before a batch carries them */

#define D(f) d.f = l->f - ag->loss_reported.f
	D(ringbuf_drops); D(map_full); D(payload_drops); D(payload_truncated); D(parse_errors);
	D(statements_overflow); D(jobs_overflow); D(spool_dropped_batches); D(exits_synthesized);
#undef D
	/* Truncated payload heads are by design (head+tail capture), not loss. */
	if (d.ringbuf_drops || d.map_full || d.payload_drops || d.parse_errors ||
	    d.statements_overflow || d.jobs_overflow || d.spool_dropped_batches ||
	    d.exits_synthesized) {
		jm_buf_reset(&ag->line);
		jm_json_loss(&ag->line, now, &d, l);
		write_line(ag);
		jm_warn("data lost this interval: ringbuf=%llu map_full=%llu payload=%llu "
			"parse=%llu exits_synthesized=%llu",
			(unsigned long long)d.ringbuf_drops, (unsigned long long)d.map_full,
			(unsigned long long)d.payload_drops, (unsigned long long)d.parse_errors,
			(unsigned long long)d.exits_synthesized);
		ag->loss_reported = *l;
	}
}

/* The spool, and whether a failure came before a sequence number was
 * taken (then nothing at the collector would show the batch missing). */
struct spool_ctx {
	struct jm_spool *spool;
	bool seq_failed;
};

static int spool_seq(void *ctx, uint64_t *seq)
{
	struct spool_ctx *c = ctx;
	int err = jm_spool_next_seq(c->spool, seq);

	c->seq_failed = err != 0;
	return err;
}

static int spool_put(void *ctx, const struct jm_batch *part, const uint8_t *buf, size_t len)
{
	struct spool_ctx *c = ctx;

	return jm_spool_put(c->spool, part->seq, buf, len);
}

/* One batch per interval (more when it exceeds the collector's limits):
 * spooled (fsync'd) before anything is sent. */
static void ship_batch(struct jm_agent *ag, int64_t now)
{
	struct jm_batch b;
	int err;

	memset(&b, 0, sizeof(b));
	b.agent = ag->id;
	b.window_start_ns = ag->batch_start_ns;
	b.window_end_ns = now;
	jm_batch_builder_view(&ag->batch, &b);
	if (jm_host_sample(&ag->host, &b.host))
		memset(&b.host, 0, sizeof(b.host));
	b.loss = ag->loss;
	if (ag->spool) {
		/* Split at the collector's limits: one refused batch would lose
		 * every job's figures of the interval. */
		size_t parts = 0, items = 0;
		struct spool_ctx sc = { ag->spool, false };
		err = jm_batch_render_parts(&b, JM_BATCH_MAX_ITEMS, JM_BATCH_MAX_BYTES, spool_seq,
					    spool_put, &sc, &parts, &items);
		if (err) {
			/* A failure after its sequence number was taken shows as
			 * a gap at the collector (and one the spool refused as
			 * too big is counted by the spool).  One before -- a full
			 * disk refusing the seq file -- would go unseen, so it is
			 * counted here (spool_dropped_batches, shipped with the
			 * next batch that can be written). */
			if (sc.seq_failed)
				ag->unspooled++;
			jm_err("batch not spooled after %zu part(s): %zu of %zu runs+windows lost: %s "
			       "(their figures are in the JSONL; %s)",
			       parts, b.n_runs + b.n_windows - items, b.n_runs + b.n_windows,
			       strerror(err < 0 ? -err : err),
			       sc.seq_failed ? "counted in spool_dropped_batches" :
			       "a gap in the sequence at the collector");
		}
		if (parts)
			jm_ship_kick(ag->shipper);
	}
	if (ag->otlp)
		(void)jm_otlp_export(ag->otlp, &b);     /* logs its own failures, once */
	jm_batch_builder_reset(&ag->batch);
	ag->batch_start_ns = now;
}

/* The shipper's counters to /metrics, and a warning for every batch the
 * collector refused since the last tick: refused batches are lost to the
 * reports (kept in <spool>/rejected/), so they are surfaced, not only
 * logged by the sender thread. */
static void report_ship(struct jm_agent *ag)
{
	struct jm_ship_stats st;

	if (!ag->shipper)
		return;
	jm_ship_stats(ag->shipper, &st);
	if (ag->metrics)
		jm_metrics_set_ship(ag->metrics, &st);
	if (st.rejected_4xx > ag->ship_rejected_reported) {
		jm_warn("data lost: %llu batch(es) refused by the collector since the last interval "
			"(%llu in all, kept in %s/rejected/; last: %s)",
			(unsigned long long)(st.rejected_4xx - ag->ship_rejected_reported),
			(unsigned long long)st.rejected_4xx, jm_spool_dir(ag->spool), st.last_error);
		ag->ship_rejected_reported = st.rejected_4xx;
	}
}

void jm_agent_window(struct jm_agent *ag)
{
	/* The tick that ends this interval starts the next one: clamped so a
	 * wall clock stepped back cannot end it (or the job windows, which
	 * start at the previous tick) before it began. */
	int64_t wall = now_unix_ns();
	int64_t now = jm_batch_window_end(ag->batch_start_ns, wall);
	if (now != wall)
		jm_warn("wall clock stepped back %.3f s: this interval's windows are clamped "
			"to zero length", (double)(now - wall) / 1e9);
	jm_jobs_flush_windows(ag->jobs, now);
	report_loss(ag, now);
	report_ship(ag);
	if (ag->spool || ag->otlp)
		ship_batch(ag, now);
}
