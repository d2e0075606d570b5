/* Exec storm of the bench suite (scenario "execstorm").
 *
 *   jm-execstorm --seconds S [--inflight K] [--rate R] [--exe PATH]
 *
 * Starts short processes (vfork + execve of PATH, default /bin/true) for S
 * seconds, keeping up to K children alive at once (default 4: both cores
 * busy while the parent waits), at most R per second when --rate is given
 * (default: as fast as the machine goes).  Every child is reaped and its
 * exit status checked.  Prints one line of JSON:
 *
 *   {"spawned":N,"failed":F,"seconds":T,"rate":N/T}
 *
 * run.sh starts it with JOBMETER_JOB set, so the job has exactly N + 1
 * processes (this one and its children) and compares that with what the
 * agent reports.  Exit status 1 when any spawn or child failed. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reap one child (blocking); counts a non-zero exit as a failure. */
static int reap_one(long *failed)
{
	int st;
	pid_t p;

	do
		p = waitpid(-1, &st, 0);
	while (p < 0 && errno == EINTR);
	if (p < 0)
		return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		(*failed)++;
	return 0;
}

/* vfork in a function of its own: the caller's locals are never shared
 * with the child, whose only work is execve or _exit. */
static __attribute__((noinline)) pid_t spawn(const char *exe, char *const *child_argv)
{
	pid_t p = vfork();
	if (p == 0) {
		execve(exe, child_argv, environ);
		_exit(127);
	}
	return p;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "inflight", required_argument, NULL, 'k' },
		{ "rate", required_argument, NULL, 'r' },
		{ "exe", required_argument, NULL, 'e' },
		{ 0 },
	};
	const char *exe = "/bin/true";
	double seconds = 0, rate = 0, t0, t1;
	long inflight = 4, alive = 0, spawned = 0, failed = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 's': seconds = strtod(optarg, &end); break;
		case 'r': rate = strtod(optarg, &end); break;
		case 'k': inflight = strtol(optarg, &end, 10); break;
		case 'e': exe = optarg; end = optarg + strlen(optarg); break;
		default: end = NULL;
		}
		if (!end || *end) {
			fprintf(stderr, "usage: %s --seconds S [--inflight K] [--rate R] [--exe PATH]\n", argv[0]);
			return 2;
		}
	}
	if (seconds <= 0 || seconds > 3600 || inflight < 1 || inflight > 256 || rate < 0) {
		fprintf(stderr, "%s: --seconds 0..3600, --inflight 1..256, --rate >= 0\n", argv[0]);
		return 2;
	}
	char *const child_argv[] = { (char *)exe, NULL };
	t0 = now_s();
	for (;;) {
		double t = now_s();
		if (t - t0 >= seconds)
			break;
		if (rate > 0 && spawned >= (t - t0) * rate) {
			/* ahead of the schedule: reap if possible, else nap */
			if (alive > 0) {
				if (reap_one(&failed))
					break;
				alive--;
			} else {
				struct timespec nap = { 0, 100000 };
				nanosleep(&nap, NULL);
			}
			continue;
		}
		if (alive >= inflight) {
			if (reap_one(&failed))
				break;
			alive--;
		}
		pid_t p = spawn(exe, child_argv);
		if (p < 0) {
			failed++;
			continue;
		}
		alive++;
		spawned++;
	}
	while (alive > 0 && reap_one(&failed) == 0)
		alive--;
	t1 = now_s();
	printf("{\"spawned\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"rate\":%.1f}\n",
	       spawned, failed, t1 - t0, (double)spawned / (t1 - t0));
	return failed || alive ? 1 : 0;
}
