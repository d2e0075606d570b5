/* Syscall microbenchmark of the bench suite (scenario "syscalls").
 *
 *   jm-sysbench --file PATH --port PORT [--iters N] [--sock-iters N] [--reps R]
 *               [--only OP]
 *
 * Times the syscalls whose bytes jobmeter counts (files: by the kernel's own
 * accounting, no program; sockets: the sock_send/recv_length programs), each
 * in a tight loop, and prints one line per operation:
 *
 *   <op>\t<ns per call>
 *
 * where the figure is the fastest of R repetitions of N calls (the minimum is
 * the figure least disturbed by the other tenants of a noisy VM; run.sh takes
 * medians of it across interleaved rounds).  Operations:
 *
 *   getppid      a syscall no jobmeter program looks at (switch only)
 *   read_zero    read(2) of 64 B from /dev/zero        (fd classified: other)
 *   write_null   write(2) of 64 B to /dev/null         (fd classified: other)
 *   pread_file   pread64(2) of 64 B of a regular file  (file bytes counted)
 *   pwrite_file  pwrite64(2) of 64 B to a regular file (file bytes counted)
 *   cli_send     sendto(2) of 64 B on a TCP loopback connection this process
 *                connect()ed to 127.0.0.1:PORT; run.sh declares PORT a
 *                PostgreSQL port, so in a job the payload head is captured
 *   srv_recv     recvfrom(2) of those 64 B on the accepted end (socket bytes)
 *   srv_send     sendto(2) of a 64 B reply on the accepted end
 *   cli_recv     recvfrom(2) of the reply on the client end (captured)
 *
 * The client stream is valid PostgreSQL v3 protocol (startup message, then
 * Query messages of exactly 64 bytes) and so is the reply stream
 * (AuthenticationOk + ReadyForQuery, then ParameterStatus + CommandComplete +
 * ReadyForQuery = 64 bytes): jobmeter's parser sees real queries, not
 * garbage, so its user-space side does its normal work too.
 *
 * --only runs one operation (a name below, or "sock" for the four socket
 * operations, which only exist together) and prints only its lines: run.sh
 * uses it to read per-program eBPF statistics and profiles per syscall.
 * "--only plain" runs the four socket operations on a connection that
 * carries no protocol at all (64 bytes of 'x' each way, no startup): on a
 * port no config declares, jobmeter counts its bytes and nothing more.
 *
 * Socket operations run in blocks of BLOCK calls per direction so no call
 * ever blocks (loopback delivers inside sendto) and four clock reads are
 * spread over 4 x BLOCK syscalls.  Exit status 1 on any short or failed
 * call: a benchmark that silently measured errors would be worse than none. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MSG    64        /* bytes per read/write/send/recv */
#define BLOCK  32        /* socket calls per direction before switching */

enum op { OP_GETPPID, OP_READ_ZERO, OP_WRITE_NULL, OP_PREAD_FILE, OP_PWRITE_FILE,
	  OP_CLI_SEND, OP_SRV_RECV, OP_SRV_SEND, OP_CLI_RECV, OP_N };

static const char *const op_names[OP_N] = {
	"getppid", "read_zero", "write_null", "pread_file", "pwrite_file",
	"cli_send", "srv_recv", "srv_send", "cli_recv",
};

struct bench {
	int zero, null, file;        /* /dev/zero, /dev/null, regular file */
	int lsn, cli, srv;           /* listener, client end, accepted end */
	uint8_t query[MSG];          /* one PostgreSQL Query message */
	uint8_t reply[MSG];          /* S + C + Z backend messages */
	uint8_t buf[MSG];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* Query ('Q'): 1 type byte + int32 length + SQL + NUL = 64 bytes. */
static void make_query(uint8_t *q)
{
	static const char sql[] = "SELECT 1 /* jobmeter bench */";
	memset(q, 0, MSG);
	q[0] = 'Q';
	put32(q + 1, MSG - 1);
	memcpy(q + 5, sql, sizeof(sql) - 1);
	memset(q + 5 + sizeof(sql) - 1, ' ', MSG - 5 - (sizeof(sql) - 1) - 1);
	q[MSG - 1] = 0;
}

/* ParameterStatus (44 B) + CommandComplete "SELECT 1" (14 B) + ReadyForQuery (6 B). */
static void make_reply(uint8_t *r)
{
	uint8_t *p = r;
	memset(r, 0, MSG);
	*p++ = 'S';
	put32(p, 43);
	p += 4;
	memcpy(p, "a", 2);                       /* name "a" + NUL */
	memset(p + 2, 'x', 36);                  /* value, NUL follows */
	p += 39;
	*p++ = 'C';
	put32(p, 13);
	p += 4;
	memcpy(p, "SELECT 1", 9);
	p += 9;
	*p++ = 'Z';
	put32(p, 5);
	p += 4;
	*p = 'I';
}

static int full_send(int fd, const void *b, size_t n)
{
	return send(fd, b, n, 0) == (ssize_t)n ? 0 : -1;
}

static int full_recv(int fd, void *b, size_t n)
{
	return recv(fd, b, n, MSG_WAITALL) == (ssize_t)n ? 0 : -1;
}

/* Connect client and server ends and play the startup exchange (not on a
 * plain connection). */
static int setup_sockets(struct bench *b, int port, int plain)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1;
	uint8_t startup[8 + 11], auth[9 + 6];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b->lsn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (b->lsn < 0 || setsockopt(b->lsn, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(b->lsn, (struct sockaddr *)&a, sizeof(a)) || listen(b->lsn, 1)) {
		fprintf(stderr, "jm-sysbench: listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
		return -1;
	}
	b->cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (b->cli < 0 || connect(b->cli, (struct sockaddr *)&a, sizeof(a)) ||
	    (b->srv = accept4(b->lsn, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		fprintf(stderr, "jm-sysbench: connect: %s\n", strerror(errno));
		return -1;
	}
	if (setsockopt(b->cli, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    setsockopt(b->srv, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		return -1;
	if (plain)
		return 0;
	/* StartupMessage: length, protocol 3.0, "user" "bench", terminator. */
	put32(startup, sizeof(startup));
	put32(startup + 4, 196608);
	memcpy(startup + 8, "user\0bench\0", 11);
	startup[sizeof(startup) - 1] = 0;
	/* AuthenticationOk + ReadyForQuery */
	auth[0] = 'R';
	put32(auth + 1, 8);
	put32(auth + 5, 0);
	auth[9] = 'Z';
	put32(auth + 10, 5);
	auth[14] = 'I';
	if (full_send(b->cli, startup, sizeof(startup)) ||
	    full_recv(b->srv, b->buf, sizeof(startup)) ||
	    full_send(b->srv, auth, sizeof(auth)) ||
	    full_recv(b->cli, b->buf, sizeof(auth))) {
		fprintf(stderr, "jm-sysbench: startup exchange failed: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* One repetition of a simple (non-socket) op: ns per call, 0 on failure. */
static double run_simple(struct bench *b, enum op op, long iters)
{
	uint64_t t0 = now_ns();
	long i;

	for (i = 0; i < iters; i++) {
		ssize_t r;
		switch (op) {
		case OP_GETPPID: r = syscall(SYS_getppid) > 0 ? MSG : -1; break;
		case OP_READ_ZERO: r = read(b->zero, b->buf, MSG); break;
		case OP_WRITE_NULL: r = write(b->null, b->buf, MSG); break;
		case OP_PREAD_FILE: r = pread(b->file, b->buf, MSG, 0); break;
		case OP_PWRITE_FILE: r = pwrite(b->file, b->query, MSG, 0); break;
		default: r = -1;
		}
		if (r != MSG) {
			fprintf(stderr, "jm-sysbench: %s returned %zd: %s\n", op_names[op], r,
				strerror(errno));
			return 0;
		}
	}
	return (double)(now_ns() - t0) / (double)iters;
}

/* One repetition of the socket ops: fills ns[OP_CLI_SEND..OP_CLI_RECV]. */
static int run_sockets(struct bench *b, long iters, double *ns)
{
	uint64_t t[4] = { 0 };
	long blocks = (iters + BLOCK - 1) / BLOCK, k;
	int i;

	for (k = 0; k < blocks; k++) {
		uint64_t a = now_ns(), c, d, e, f;
		for (i = 0; i < BLOCK; i++)
			if (sendto(b->cli, b->query, MSG, 0, NULL, 0) != MSG)
				goto fail;
		c = now_ns();
		for (i = 0; i < BLOCK; i++)
			if (recvfrom(b->srv, b->buf, MSG, MSG_WAITALL, NULL, NULL) != MSG)
				goto fail;
		d = now_ns();
		for (i = 0; i < BLOCK; i++)
			if (sendto(b->srv, b->reply, MSG, 0, NULL, 0) != MSG)
				goto fail;
		e = now_ns();
		for (i = 0; i < BLOCK; i++)
			if (recvfrom(b->cli, b->buf, MSG, MSG_WAITALL, NULL, NULL) != MSG)
				goto fail;
		f = now_ns();
		t[0] += c - a;
		t[1] += d - c;
		t[2] += e - d;
		t[3] += f - e;
	}
	for (i = 0; i < 4; i++)
		ns[OP_CLI_SEND + i] = (double)t[i] / (double)(blocks * BLOCK);
	return 0;
fail:
	fprintf(stderr, "jm-sysbench: socket op failed: %s\n", strerror(errno));
	return -1;
}

static void usage(const char *me)
{
	fprintf(stderr, "usage: %s --file PATH --port PORT [--iters N] [--sock-iters N] [--reps R] [--only OP]\n", me);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "port", required_argument, NULL, 'p' },
		{ "iters", required_argument, NULL, 'n' },
		{ "sock-iters", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "only", required_argument, NULL, 'o' },
		{ 0 },
	};
	struct bench b = { .zero = -1, .null = -1, .file = -1, .lsn = -1, .cli = -1, .srv = -1 };
	double best[OP_N], ns[OP_N] = { 0 };
	const char *path = NULL, *only = NULL;
	long iters = 200000, sock_iters = 20000, reps = 3, port = 0;
	int c, rc = 1, plain = 0;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end = NULL;
		long v = optarg ? strtol(optarg, &end, 10) : 0;
		if (c != 'f' && c != 'o' && (c == '?' || !end || *end || v <= 0)) {
			usage(argv[0]);
			return 2;
		}
		switch (c) {
		case 'f': path = optarg; break;
		case 'o': only = optarg; break;
		case 'p': port = v; break;
		case 'n': iters = v; break;
		case 's': sock_iters = v; break;
		case 'r': reps = v; break;
		}
	}
	if (!path || port <= 0 || port > 65535 || optind != argc) {
		usage(argv[0]);
		return 2;
	}
	int first = OP_GETPPID, last = OP_CLI_RECV;
	if (only && (strcmp(only, "sock") == 0 || strcmp(only, "plain") == 0)) {
		first = OP_CLI_SEND;
		plain = strcmp(only, "plain") == 0;
	} else if (only) {
		for (first = OP_GETPPID; first <= OP_PWRITE_FILE; first++)
			if (strcmp(only, op_names[first]) == 0)
				break;
		if (first > OP_PWRITE_FILE) {
			fprintf(stderr, "jm-sysbench: unknown --only %s\n", only);
			return 2;
		}
		last = first;
	}
	make_query(b.query);
	make_reply(b.reply);
	if (plain) {
		memset(b.query, 'x', MSG);
		memset(b.reply, 'x', MSG);
	}
	b.zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	b.null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	b.file = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (b.zero < 0 || b.null < 0 || b.file < 0) {
		fprintf(stderr, "jm-sysbench: open: %s\n", strerror(errno));
		goto out;
	}
	if (pwrite(b.file, b.query, MSG, 0) != MSG ||
	    (last == OP_CLI_RECV && setup_sockets(&b, (int)port, plain)))
		goto out;
	for (int i = 0; i < OP_N; i++)
		best[i] = 1e18;
	for (long r = 0; r < reps; r++) {
		for (int op = first; op <= last && op <= OP_PWRITE_FILE; op++)
			if ((ns[op] = run_simple(&b, op, iters)) == 0)
				goto out;
		if (last == OP_CLI_RECV && run_sockets(&b, sock_iters, ns))
			goto out;
		for (int i = first; i <= last; i++)
			if (ns[i] < best[i])
				best[i] = ns[i];
	}
	for (int i = first; i <= last; i++)
		printf("%s\t%.1f\n", op_names[i], best[i]);
	rc = 0;
out:
	if (b.srv >= 0)
		close(b.srv);
	if (b.cli >= 0)
		close(b.cli);
	if (b.lsn >= 0)
		close(b.lsn);
	if (b.file >= 0)
		close(b.file);
	if (b.null >= 0)
		close(b.null);
	if (b.zero >= 0)
		close(b.zero);
	return rc;
}
