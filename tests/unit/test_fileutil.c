/* Small-file helpers: mkdir -p (new, existing, through a file, too long),
 * bounded reads (cut, empty, missing, relative to a directory fd), and the
 * atomic replace (content, mode, no temporary left, failure keeps the old
 * file). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"
#include "harness.h"

static void put(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(s, f);
		fclose(f);
	}
}

int main(void)
{
	char root[] = "/tmp/test_fileutil.XXXXXX", p[PATH_MAX], buf[16];
	if (!mkdtemp(root)) {
		printf("FAIL mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	struct stat st;

	snprintf(p, sizeof(p), "%s/a/b/c", root);
	CHECK_INT("mkdir_p creates parents", jm_mkdir_p(p, 0700), 0);
	CHECK("mkdir_p made a directory", stat(p, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK_INT("mkdir_p mode", st.st_mode & 0777, 0700);
	CHECK_INT("mkdir_p existing", jm_mkdir_p(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/a/b/c/", root);
	CHECK_INT("mkdir_p trailing slash", jm_mkdir_p(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/file", root);
	put(p, "x");
	CHECK_INT("mkdir_p on a file", jm_mkdir_p(p, 0700), -ENOTDIR);
	snprintf(p, sizeof(p), "%s/file/sub", root);
	CHECK_INT("mkdir_p through a file", jm_mkdir_p(p, 0700), -ENOTDIR);
	CHECK_INT("mkdir_p empty", jm_mkdir_p("", 0700), -ENAMETOOLONG);
	char *longp = malloc(PATH_MAX + 10);
	if (longp) {
		memset(longp, 'a', PATH_MAX + 9);
		longp[PATH_MAX + 9] = '\0';
		CHECK_INT("mkdir_p too long", jm_mkdir_p(longp, 0700), -ENAMETOOLONG);
		free(longp);
	}

	snprintf(p, sizeof(p), "%s/small", root);
	put(p, "hello\n");
	CHECK_INT("read_small length", jm_read_small(AT_FDCWD, p, buf, sizeof(buf)), 6);
	CHECK_STR("read_small content", buf, "hello\n");
	put(p, "0123456789abcdefghij");
	CHECK_INT("read_small cut at cap - 1", jm_read_small(AT_FDCWD, p, buf, sizeof(buf)), 15);
	CHECK_STR("read_small cut content", buf, "0123456789abcde");
	put(p, "");
	memset(buf, 'Z', sizeof(buf));
	CHECK_INT("read_small empty", jm_read_small(AT_FDCWD, p, buf, sizeof(buf)), 0);
	CHECK_STR("read_small empty terminated", buf, "");
	snprintf(p, sizeof(p), "%s/missing", root);
	CHECK_INT("read_small missing", jm_read_small(AT_FDCWD, p, buf, sizeof(buf)), -ENOENT);
	CHECK_INT("read_small cap 0", jm_read_small(AT_FDCWD, p, buf, 0), -EINVAL);
	CHECK("read_small /proc", jm_read_small(AT_FDCWD, "/proc/self/stat", buf, sizeof(buf)) == 15);

	int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK("open root", dfd >= 0);
	CHECK_INT("write_atomic new", jm_write_atomic(dfd, "state", "state.tmp", "one\n", 4), 0);
	CHECK_INT("read_small at dirfd", jm_read_small(dfd, "state", buf, sizeof(buf)), 4);
	CHECK_STR("write_atomic content", buf, "one\n");
	CHECK("write_atomic no tmp left", fstatat(dfd, "state.tmp", &st, 0) < 0 && errno == ENOENT);
	CHECK("write_atomic mode 0600", fstatat(dfd, "state", &st, 0) == 0 &&
	      (st.st_mode & 0777) == 0600);
	CHECK_INT("write_atomic replace", jm_write_atomic(dfd, "state", "state.tmp", "two", 3), 0);
	CHECK_INT("replaced length", jm_read_small(dfd, "state", buf, sizeof(buf)), 3);
	CHECK_STR("replaced content", buf, "two");
	/* The rename cannot land on a directory: the old file must survive
	 * and the temporary must go. */
	CHECK_INT("mkdir target", mkdirat(dfd, "adir", 0700), 0);
	CHECK("write_atomic onto a directory fails",
	      jm_write_atomic(dfd, "adir", "adir.tmp", "x", 1) < 0);
	CHECK("failed write_atomic removes tmp", fstatat(dfd, "adir.tmp", &st, 0) < 0);
	CHECK_INT("write_atomic into a missing dir", jm_write_atomic(dfd, "no/such", "no/such.tmp", "x", 1),
		  -ENOENT);

	int fd = openat(dfd, "all", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	static char big[1 << 20];
	memset(big, 'q', sizeof(big));
	CHECK_INT("write_all large", jm_write_all(fd, big, sizeof(big)), 0);
	close(fd);
	CHECK("write_all size", fstatat(dfd, "all", &st, 0) == 0 && st.st_size == (off_t)sizeof(big));
	CHECK_INT("write_all bad fd", jm_write_all(-1, "x", 1), -EBADF);
	close(dfd);

	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		printf("FAIL cleanup %s\n", root);
	TEST_EXIT();
}
