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
 *   jm_burn sockmt MIB THREADS      THREADS threads, started at once, each
 *                                   send MIB over a socketpair 0.5 s later
 *                                   (to a child forked at start)
 *   jm_burn uring MIB [SECONDS]     send MIB over a socketpair with io_uring
 *                                   (IOSQE_ASYNC: from an io-wq worker), then
 *                                   burn SECONDS of CPU while the worker lives
 *   jm_burn readmt MIB THREADS      THREADS threads each read() MIB of
 *                                   /dev/zero and exit before the process
 *   jm_burn sleep SECONDS
 *   jm_burn exit CODE | jm_burn kill SIGNAL */
#include <fcntl.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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

/* Write len bytes of zeros to fd. */
static int send_all(int fd, size_t len)
{
	static const char zeros[65536];
	while (len) {
		ssize_t w = write(fd, zeros, len < sizeof(zeros) ? len : sizeof(zeros));
		if (w <= 0)
			return -1;
		len -= (size_t)w;
	}
	return 0;
}

/* A child that reads socketpair end sv[1] until EOF; the parent keeps sv[0]. */
static pid_t drain_child(int sv[2])
{
	pid_t pid = fork();
	if (pid == 0) {
		static char buf[65536];
		close(sv[0]);
		while (read(sv[1], buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	close(sv[1]);
	return pid;
}

struct sockmt_arg {
	int fd;
	size_t bytes;
};

static void *sockmt_thread(void *arg)
{
	struct sockmt_arg *a = arg;
	usleep(500000);               /* the agent tracks the process meanwhile */
	if (send_all(a->fd, a->bytes))
		exit(1);
	close(a->fd);
	return NULL;
}

/* Send total bytes to fd with io_uring, each SEND forced to an io-wq worker
 * (IOSQE_ASYNC).  Raw syscalls: no liburing on the build host. */
static int uring_send(int fd, size_t total)
{
	static const char zeros[65536];
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	int ring = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (ring < 0)
		return -1;
	size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (sq_sz < cq_sz)
		sq_sz = cq_sz;                    /* one mapping for both rings */
	if (!(p.features & IORING_FEAT_SINGLE_MMAP))
		return -1;
	char *sq = mmap(NULL, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
			IORING_OFF_SQ_RING);
	struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(*sqes), PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || sqes == MAP_FAILED)
		return -1;
	unsigned *sq_tail = (unsigned *)(sq + p.sq_off.tail);
	unsigned *sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	unsigned *sq_array = (unsigned *)(sq + p.sq_off.array);
	unsigned *cq_head = (unsigned *)(sq + p.cq_off.head);
	unsigned *cq_tail = (unsigned *)(sq + p.cq_off.tail);
	unsigned *cq_mask = (unsigned *)(sq + p.cq_off.ring_mask);
	struct io_uring_cqe *cqes = (struct io_uring_cqe *)(sq + p.cq_off.cqes);
	size_t sent = 0;

	while (sent < total) {
		unsigned t = *sq_tail, i = t & *sq_mask;
		struct io_uring_sqe *e = &sqes[i];
		memset(e, 0, sizeof(*e));
		e->opcode = IORING_OP_SEND;
		e->fd = fd;
		e->addr = (uint64_t)(uintptr_t)zeros;
		e->len = total - sent < sizeof(zeros) ? (unsigned)(total - sent) : sizeof(zeros);
		e->flags = IOSQE_ASYNC;
		sq_array[i] = i;
		__atomic_store_n(sq_tail, t + 1, __ATOMIC_RELEASE);
		if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
			return -1;
		unsigned h = *cq_head;
		if (h == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE))
			return -1;                /* wait_nr 1: a completion is there */
		int res = cqes[h & *cq_mask].res;
		__atomic_store_n(cq_head, h + 1, __ATOMIC_RELEASE);
		if (res <= 0)
			return -1;
		sent += (size_t)res;
	}
	close(ring);
	return 0;
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
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			return 1;
		pid_t pid = drain_child(sv);
		if (send_all(sv[0], (size_t)(v * 1024 * 1024)))
			return 1;
		close(sv[0]);
		waitpid(pid, NULL, 0);
	} else if (!strcmp(mode, "sockmt")) {
		int n = argc > 3 ? atoi(argv[3]) : 1;
		static struct sockmt_arg a[64];
		pthread_t th[64];
		pid_t kids[64];
		if (n < 1 || n > 64)
			return 2;
		for (int i = 0; i < n; i++) {
			int sv[2];
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
				return 1;
			kids[i] = drain_child(sv);
			a[i] = (struct sockmt_arg){ sv[0], (size_t)(v * 1024 * 1024) };
		}
		for (int i = 0; i < n; i++)
			if (pthread_create(&th[i], NULL, sockmt_thread, &a[i]))
				return 1;
		for (int i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < n; i++)
			waitpid(kids[i], NULL, 0);
	} else if (!strcmp(mode, "uring")) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			return 1;
		pid_t pid = drain_child(sv);
		if (uring_send(sv[0], (size_t)(v * 1024 * 1024)))
			return 1;
		close(sv[0]);
		waitpid(pid, NULL, 0);
		double secs = argc > 3 ? atof(argv[3]) : 0;
		burn(&secs);          /* the ring (and its worker) exits with us */
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
