/* jobmeter-agent: loads the eBPF programs, attributes processes to jobs and
 * runs, and writes per-job runs and windows (JSONL, protobuf batches,
 * Prometheus).
 *
 * Threads: one.  The loop waits on the ring buffers' epoll fd with a timeout
 * that expires at the next sample tick (1 s) or window tick (--interval);
 * signals arrive through a signalfd in the same epoll set, so SIGTERM is
 * handled between events, never inside one. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "caps.h"
#include "cli.h"
#include "config.h"
#include "identity/identity.h"
#include "log.h"

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct jm_cli_opts opts;
	struct jm_agent *ag = NULL;
	char err[JM_CFG_ERR_MAX];
	int rc = 1, sfd = -1, efd = -1;
	sigset_t mask;

	if (jm_cli_parse(argc, argv, &opts, err, sizeof(err))) {
		fprintf(stderr, "jobmeter-agent: %s\n", err);
		return 2;
	}
	if (opts.help) {
		fputs(jm_cli_usage(), stdout);
		return 0;
	}
	if (opts.version) {
		printf("jobmeter-agent %s\n", JOBMETER_VERSION);
		return 0;
	}
	jm_log_init("jobmeter-agent", opts.verbosity < 0 ? JM_LOG_ERROR :
		    opts.verbosity == 0 ? JM_LOG_INFO : JM_LOG_DEBUG);

	struct jm_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return 1;
	if (jm_config_load(cfg, opts.config, err, sizeof(err))) {
		fprintf(stderr, "jobmeter-agent: config error: %s\n", err);
		free(cfg);
		return 2;
	}
	if (opts.check_config) {
		printf("%s: ok (%zu job rules, %zu systemd rules)\n", opts.config, cfg->n_jobs,
		       cfg->n_systemd);
		jm_config_free(cfg);
		free(cfg);
		return 0;
	}
	if (opts.interval_s)
		cfg->interval_s = opts.interval_s;

	/* Signals through signalfd: no async handlers, no global flags. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	if (jm_caps_check() || jm_agent_open(&ag, cfg, &opts))
		goto out;
	efd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 1 };
	if (sfd < 0 || efd < 0 || epoll_ctl(efd, EPOLL_CTL_ADD, sfd, &ev)) {
		jm_err("cannot set up the event loop: %s", strerror(errno));
		goto out;
	}
	int rfds[2];
	jm_agent_epoll_fds(ag, rfds);
	ev.data.u32 = 2;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, rfds[0], &ev) || epoll_ctl(efd, EPOLL_CTL_ADD, rfds[1], &ev)) {
		jm_err("cannot poll the ring buffers: %s", strerror(errno));
		goto out;
	}
	if (opts.ready_file) {
		int fd = open(opts.ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			jm_err("cannot create ready file %s: %s", opts.ready_file, strerror(errno));
			goto out;
		}
		close(fd);
	}
	jm_info("ready: tracing job processes (interval %us)", cfg->interval_s);

	int64_t start = mono_ns();
	int64_t deadline = opts.duration_s > 0 ? start + (int64_t)(opts.duration_s * 1e9) : 0;
	int64_t next_sample = start + 1000000000LL;
	int64_t next_window = start + (int64_t)cfg->interval_s * 1000000000LL;
	int64_t next_drain = start;
	bool stop = false;

	while (!stop) {
		int64_t now = mono_ns();
		int64_t wake = next_sample < next_window ? next_sample : next_window;
		if (next_drain < wake)
			wake = next_drain;
		if (deadline && deadline < wake)
			wake = deadline;
		int timeout = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
		struct epoll_event evs[4];
		int n = epoll_wait(efd, evs, 4, timeout);
		if (n < 0 && errno != EINTR) {
			jm_err("epoll_wait: %s", strerror(errno));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 1) {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP)
						continue;
					jm_info("signal %u: flushing and exiting", si.ssi_signo);
					stop = true;
				}
			}
		}
		/* Payload heads are polled on a short timer (batched wakeups
		 * in the kernel), lifecycle events as they come. */
		now = mono_ns();
		jm_agent_poll(ag);
		if (now >= next_drain)
			next_drain = now + 50000000LL;
		if (now >= next_sample) {
			jm_agent_sample(ag);
			next_sample += 1000000000LL;
			if (next_sample <= now)
				next_sample = now + 1000000000LL;
		}
		if (now >= next_window) {
			jm_agent_window(ag);
			next_window += (int64_t)cfg->interval_s * 1000000000LL;
			if (next_window <= now)
				next_window = now + (int64_t)cfg->interval_s * 1000000000LL;
		}
		if (deadline && now >= deadline)
			stop = true;
	}
	jm_agent_poll(ag);
	jm_agent_sample(ag);
	jm_agent_window(ag);
	rc = 0;
out:
	jm_agent_close(ag);
	if (efd >= 0)
		close(efd);
	if (sfd >= 0)
		close(sfd);
	jm_config_free(cfg);
	free(cfg);
	return rc;
}
