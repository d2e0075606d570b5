/* Test workload with exactly known resource use, so integration tests can
 * compare the agent with independent oracles (GNU time, file sizes).
 *   jm_burn cpu SECONDS [THREADS]   burn CPU (split over THREADS threads)
 *   jm_burn touch MIB               allocate and touch MIB, hold 0.5 s
 *   jm_burn hold MIB SECONDS        touch MIB, then burn SECONDS of CPU in two
 *                                   threads, one of which exits halfway (the
 *                                   sampler must keep a dead thread's CPU)
 *   jm_burn zombie MIB SECONDS      a thread touches MIB and burns SECONDS of
 *                                   CPU after the main thread (the thread-group
 *                                   leader) has exited: a zombie leader
 *   jm_burn sock MIB                send MIB over a socketpair to a child
 *   jm_burn readmt MIB THREADS      THREADS threads each read() MIB of
 *                                   /dev/zero and exit before the process
 *   jm_burn sleep SECONDS
 *   jm_burn exit CODE | jm_burn kill SIGNAL */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *burn(void *arg)
{
	double secs = *(double *)arg;
	volatile unsigned long x = 0;
	while (thread_cpu() < secs)
		for (int i = 0; i < 100000; i++)
			x += i;
	return NULL;
}

struct zombie_arg {
	size_t bytes;
	double secs;
};

static void *touch_burn(void *arg)
{
	struct zombie_arg *z = arg;
	char *p = malloc(z->bytes);
	if (!p)
		exit(1);
	for (size_t i = 0; i < z->bytes; i += 4096)
		p[i] = 1;
	burn(&z->secs);
	free(p);
	exit(0);
}

/* Read *(size_t *)arg bytes of /dev/zero, 1 MiB at a time. */
static void *read_zero(void *arg)
{
	static __thread char buf[1 << 20];
	size_t left = *(size_t *)arg;
	int fd = open("/dev/zero", O_RDONLY);

	while (fd >= 0 && left) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
		if (n <= 0)
			break;
		left -= (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: jm_burn cpu|touch|hold|sock|readmt|sleep|exit|kill ARG [THREADS|SECONDS]\n");
		return 2;
	}
	const char *mode = argv[1];
	double v = atof(argv[2]);
	if (!strcmp(mode, "cpu")) {
		int n = argc > 3 ? atoi(argv[3]) : 1;
		double each = v / n;
		pthread_t th[64];
		for (int i = 1; i < n && i < 64; i++)
			pthread_create(&th[i], NULL, burn, &each);
		burn(&each);
		for (int i = 1; i < n && i < 64; i++)
			pthread_join(th[i], NULL);
	} else if (!strcmp(mode, "touch")) {
		size_t sz = (size_t)(v * 1024 * 1024);
		char *p = malloc(sz);
		if (!p)
			return 1;
		for (size_t i = 0; i < sz; i += 4096)
			p[i] = 1;
		usleep(500000);
		free(p);
	} else if (!strcmp(mode, "hold")) {
		size_t sz = (size_t)(v * 1024 * 1024);
		double whole = argc > 3 ? atof(argv[3]) : 1.0, half = whole / 2;
		pthread_t th;
		char *p = malloc(sz);
		if (!p)
			return 1;
		for (size_t i = 0; i < sz; i += 4096)
			p[i] = 1;
		if (pthread_create(&th, NULL, burn, &half))
			return 1;
		pthread_join(th, NULL);          /* the thread is gone after ~half */
		burn(&half);                     /* the main thread burns the rest */
		free(p);
	} else if (!strcmp(mode, "zombie")) {
		static struct zombie_arg z;
		pthread_t th;
		z.bytes = (size_t)(v * 1024 * 1024);
		z.secs = argc > 3 ? atof(argv[3]) : 1.0;
		if (pthread_create(&th, NULL, touch_burn, &z))
			return 1;
		pthread_exit(NULL);              /* the process lives on in the thread */
	} else if (!strcmp(mode, "sock")) {
		int sv[2];
		static char buf[65536];
		size_t total = (size_t)(v * 1024 * 1024), sent = 0;
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			return 1;
		pid_t pid = fork();
		if (pid == 0) {
			close(sv[0]);
			while (read(sv[1], buf, sizeof(buf)) > 0)
				;
			_exit(0);
		}
		close(sv[1]);
		while (sent < total) {
			ssize_t w = write(sv[0], buf, total - sent < sizeof(buf) ? total - sent : sizeof(buf));
			if (w <= 0)
				return 1;
			sent += (size_t)w;
		}
		close(sv[0]);
		waitpid(pid, NULL, 0);
	} else if (!strcmp(mode, "readmt")) {
		int n = argc > 3 ? atoi(argv[3]) : 1;
		size_t each = (size_t)(v * 1024 * 1024);
		pthread_t th[64];
		if (n < 1 || n > 64)
			return 2;
		for (int i = 0; i < n; i++)
			if (pthread_create(&th[i], NULL, read_zero, &each))
				return 1;
		for (int i = 0; i < n; i++)
			pthread_join(th[i], NULL);
	} else if (!strcmp(mode, "sleep")) {
		usleep((useconds_t)(v * 1e6));
	} else if (!strcmp(mode, "exit")) {
		return (int)v;
	} else if (!strcmp(mode, "kill")) {
		raise((int)v);
		pause();
	} else {
		return 2;
	}
	return 0;
}
