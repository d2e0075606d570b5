/* Live job processes for the footprint scenario (scenario "footprint").
 *
 *   jm-spawn --jobs J --per-job P --prefix NAME --ready FILE
 *
 * Creates J jobs of P sleeping processes each: for every job one leader is
 * exec'd with JOBMETER_JOB=NAME-<i> in its environment (so the agent sees it
 * join at exec) and forks P-1 children (members by inheritance).  When all
 * J*P processes exist, writes "J*P" to FILE and waits for SIGTERM/SIGINT,
 * then kills the leaders; their children die with them (PR_SET_PDEATHSIG)
 * and, reparented here (child subreaper), are reaped before exiting, so no
 * zombie outlives the scenario.
 *
 * Exit status 1 when a fork/exec failed (e.g. the pid limit): everything
 * already started is killed and reaped first. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* In a fresh child: die with the parent, even if it died before prctl. */
static void die_with_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(1);
}

/* Leader: fork n-1 sleepers, report on fd, sleep until killed. */
static int leader(long n, int fd)
{
	pid_t self = getpid();
	char ok = 1;

	for (long k = 1; k < n; k++) {
		pid_t p = fork();
		if (p == 0) {
			die_with_parent(self);
			for (;;)
				pause();
		}
		if (p < 0) {
			ok = 0;
			break;
		}
	}
	if (write(fd, &ok, 1) != 1)
		return 1;
	close(fd);
	for (;;)
		pause();
}

static void stop_all(pid_t *leaders, long n)
{
	for (long i = 0; i < n; i++)
		if (leaders[i] > 0)
			kill(leaders[i], SIGKILL);
	/* Leaders, then their orphaned children (reparented to us). */
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "jobs", required_argument, NULL, 'j' },
		{ "per-job", required_argument, NULL, 'p' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "ready", required_argument, NULL, 'r' },
		{ "leader", required_argument, NULL, 'L' },
		{ "fd", required_argument, NULL, 'F' },
		{ 0 },
	};
	long jobs = 0, per = 0, lead = 0, fd = -1, started = 0, good = 0;
	const char *prefix = NULL, *ready = NULL;
	pid_t *leaders = NULL;
	int c, pfd[2] = { -1, -1 }, rc = 1;
	sigset_t set;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end = NULL;
		long v = 0;
		if (c == 'j' || c == 'p' || c == 'L' || c == 'F') {
			v = strtol(optarg, &end, 10);
			if (*end || v < 0) {
				fprintf(stderr, "jm-spawn: bad number %s\n", optarg);
				return 2;
			}
		}
		switch (c) {
		case 'j': jobs = v; break;
		case 'p': per = v; break;
		case 'L': lead = v; break;
		case 'F': fd = v; break;
		case 'x': prefix = optarg; break;
		case 'r': ready = optarg; break;
		default:
			fprintf(stderr, "usage: %s --jobs J --per-job P --prefix NAME --ready FILE\n", argv[0]);
			return 2;
		}
	}
	if (lead > 0 && fd >= 0)
		return leader(lead, (int)fd);
	if (jobs < 1 || jobs > 100000 || per < 1 || per > 1000 || !prefix || !ready ||
	    strlen(prefix) > 100) {
		fprintf(stderr, "jm-spawn: --jobs 1..100000 --per-job 1..1000 --prefix --ready required\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	leaders = calloc((size_t)jobs, sizeof(*leaders));
	if (!leaders || sigprocmask(SIG_BLOCK, &set, NULL) ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1) || pipe2(pfd, O_CLOEXEC)) {
		perror("jm-spawn: setup");
		goto out;
	}
	pid_t self = getpid();
	for (long i = 0; i < jobs; i++) {
		char env[160], nper[24], nfd[24];
		snprintf(env, sizeof(env), "JOBMETER_JOB=%s-%ld", prefix, i);
		snprintf(nper, sizeof(nper), "%ld", per);
		snprintf(nfd, sizeof(nfd), "%d", pfd[1]);
		char *const av[] = { argv[0], "--leader", nper, "--fd", nfd, NULL };
		char *const ev[] = { env, NULL };
		pid_t p = fork();
		if (p == 0) {
			sigset_t none;
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			die_with_parent(self);
			/* the write end must survive this exec */
			if (fcntl(pfd[1], F_SETFD, 0))
				_exit(1);
			close(pfd[0]);
			execve("/proc/self/exe", av, ev);
			_exit(127);
		}
		if (p < 0) {
			perror("jm-spawn: fork");
			goto out;
		}
		leaders[i] = p;
		started++;
	}
	close(pfd[1]);
	pfd[1] = -1;
	for (long i = 0; i < started; i++) {
		char ok = 0;
		ssize_t n = read(pfd[0], &ok, 1);
		if (n == 1 && ok)
			good++;
		else if (n <= 0)
			break;
	}
	if (good != jobs) {
		fprintf(stderr, "jm-spawn: only %ld of %ld jobs started all their processes\n", good, jobs);
		goto out;
	}
	FILE *f = fopen(ready, "w");
	if (!f || fprintf(f, "%ld\n", jobs * per) < 0 || fclose(f)) {
		perror("jm-spawn: ready file");
		goto out;
	}
	int sig;
	if (sigwait(&set, &sig) == 0)
		rc = 0;
out:
	if (leaders)
		stop_all(leaders, started);
	free(leaders);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	return rc;
}
