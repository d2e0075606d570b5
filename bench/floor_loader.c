/* Loader of bench/floor.bpf.c: opens the object file, loads and attaches
 * every program in it, creates the ready file, then waits for SIGTERM or
 * SIGINT and detaches (by closing everything) on the way out.
 *
 *   jm-floor OBJECT.bpf.o READY_FILE
 *
 * Exit status: 0 after a clean stop, 1 when the object cannot be opened,
 * loaded or attached (libbpf says why on stderr). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#define MAX_LINKS 16

static int wait_for_stop(void)
{
	sigset_t set;
	int sig = 0;

	/* Signals were blocked before anything was attached, so a stop
	 * request that arrives early is not lost. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	return sigwait(&set, &sig);
}

int main(int argc, char **argv)
{
	struct bpf_object *obj = NULL;
	struct bpf_program *prog;
	struct bpf_link *links[MAX_LINKS];
	size_t n_links = 0;
	sigset_t set;
	int rc = 1, fd;

	if (argc != 3) {
		fprintf(stderr, "usage: %s OBJECT.bpf.o READY_FILE\n", argv[0]);
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL)) {
		perror("sigprocmask");
		return 1;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "load %s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	bpf_object__for_each_program(prog, obj) {
		if (n_links == MAX_LINKS) {
			fprintf(stderr, "more than %d programs\n", MAX_LINKS);
			goto out;
		}
		links[n_links] = bpf_program__attach(prog);
		if (!links[n_links]) {
			fprintf(stderr, "attach %s: %s\n", bpf_program__name(prog), strerror(errno));
			goto out;
		}
		n_links++;
	}
	fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || close(fd)) {
		fprintf(stderr, "ready file %s: %s\n", argv[2], strerror(errno));
		goto out;
	}
	if (wait_for_stop()) {
		fprintf(stderr, "sigwait failed\n");
		goto out;
	}
	rc = 0;
out:
	while (n_links)
		bpf_link__destroy(links[--n_links]);
	bpf_object__close(obj);
	return rc;
}
