#include "procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_file(const char *path, char *buf, size_t len, ssize_t *got)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)total < len) {
		n = read(fd, buf + total, len - total);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			close(fd);
			return e;
		}
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	*got = total;
	return 0;
}

int jm_proc_stat_parse(const char *text, struct jm_pstat *st)
{
	/* comm may contain spaces and ')': the last ')' ends it. */
	const char *l = strchr(text, '('), *r = strrchr(text, ')');
	unsigned long long utime, stime, start;
	long long rss;
	unsigned ppid;
	char state;
	size_t n;

	if (!l || !r || r < l)
		return -EINVAL;
	n = (size_t)(r - l - 1);
	if (n >= sizeof(st->comm))
		n = sizeof(st->comm) - 1;
	memcpy(st->comm, l + 1, n);
	st->comm[n] = 0;
	/* fields after comm: 3 state 4 ppid ... 14 utime 15 stime ... 22 starttime 23 vsize 24 rss */
	if (sscanf(r + 2, "%c %u %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
			  "%*d %*d %llu %*u %lld", &state, &ppid, &utime, &stime, &start, &rss) != 6)
		return -EINVAL;
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	st->state = state;
	st->ppid = ppid;
	st->cpu_ns = (utime + stime) * (1000000000ull / (unsigned long long)(hz > 0 ? hz : 100));
	st->rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
	st->start_ticks = start;
	return 0;
}

int jm_proc_stat(uint32_t pid, struct jm_pstat *st)
{
	char path[64], buf[1024];
	ssize_t n;
	int err;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	err = read_file(path, buf, sizeof(buf) - 1, &n);
	if (err)
		return err;
	buf[n] = 0;
	return jm_proc_stat_parse(buf, st);
}

ssize_t jm_proc_read(uint32_t pid, const char *what, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int err;

	snprintf(path, sizeof(path), "/proc/%u/%s", pid, what);
	err = read_file(path, buf, len, &n);
	return err ? err : n;
}

ssize_t jm_proc_exe(uint32_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return n;
}

/* Does the comma-separated controller list [c, c + n) hold item whole? */
static bool cg_has_item(const char *c, size_t n, const char *item)
{
	size_t il = strlen(item);
	for (size_t i = 0; i < n;) {
		const char *comma = memchr(c + i, ',', n - i);
		size_t e = comma ? (size_t)(comma - c) : n;
		if (e - i == il && memcmp(c + i, item, il) == 0)
			return true;
		i = e + 1;
	}
	return false;
}

struct cg_line {
	const char *path;
	size_t len;
};

static bool cg_below_root(const struct cg_line *l)
{
	return l->path && !(l->len == 1 && l->path[0] == '/');
}

int jm_proc_cgroup_parse(const char *text, char *buf, size_t len)
{
	struct cg_line v2 = { 0 }, sysd = { 0 }, mem = { 0 };

	/* "ID:CONTROLLERS:PATH" per line; the path may itself hold ':'. */
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		const char *c1 = memchr(line, ':', n);
		const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - line)) : NULL;
		if (c2) {
			const char *ctl = c1 + 1;
			size_t ctl_len = (size_t)(c2 - ctl);
			struct cg_line l = { c2 + 1, n - (size_t)(c2 + 1 - line) };
			struct cg_line *slot = NULL;
			if (c1 - line == 1 && line[0] == '0' && ctl_len == 0)
				slot = &v2;
			else if (cg_has_item(ctl, ctl_len, "name=systemd"))
				slot = &sysd;
			else if (cg_has_item(ctl, ctl_len, "memory"))
				slot = &mem;
			if (slot && !slot->path)
				*slot = l;
		}
		line = nl ? nl + 1 : NULL;
	}

	/* The v2 path unless it is the root: on cgroup v1 hosts (kubelet and
	 * systemd on v1, hybrid hosts) "0::" stays "/" or is absent and the
	 * names live in the v1 hierarchies: systemd's own, then memory (the
	 * controller kubelet always sets up). */
	const struct cg_line *pick = cg_below_root(&v2) ? &v2 : cg_below_root(&sysd) ? &sysd :
				     cg_below_root(&mem) ? &mem : v2.path ? &v2 : sysd.path ? &sysd :
				     mem.path ? &mem : NULL;
	if (!pick)
		return -ENOENT;
	if (pick->len >= len)
		return -ENAMETOOLONG;           /* a cut path could match another's glob */
	memcpy(buf, pick->path, pick->len);
	buf[pick->len] = '\0';
	return pick == &v2 ? 0 : JM_CGROUP_V1;
}

int jm_proc_cgroup(uint32_t pid, char *buf, size_t len)
{
	char text[4096];
	ssize_t n = jm_proc_read(pid, "cgroup", text, sizeof(text) - 1);

	if (n < 0)
		return (int)n;
	text[n] = 0;
	return jm_proc_cgroup_parse(text, buf, len);
}

int jm_proc_each_thread(uint32_t pid, int (*fn)(void *ctx, uint32_t tid), void *ctx)
{
	char path[48];
	struct dirent *de;
	int rc = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%u/task", pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while (rc == 0 && (de = readdir(d))) {
		char *end;
		unsigned long tid = strtoul(de->d_name, &end, 10);
		if (!isdigit((unsigned char)de->d_name[0]) || *end || tid > UINT32_MAX)
			continue;
		rc = fn(ctx, (uint32_t)tid);
	}
	closedir(d);
	return rc;
}

struct thread_file {
	uint32_t pid;
	const char *file;
	char *buf;
	size_t bufsz;
	int (*fn)(void *ctx, uint32_t tid, char *text);
	void *ctx;
};

static int read_thread_file(void *ctx, uint32_t tid)
{
	struct thread_file *tf = ctx;
	char path[96];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/task/%u/%s", tf->pid, tid, tf->file);
	if (read_file(path, tf->buf, tf->bufsz - 1, &n))
		return 0;                            /* thread exited meanwhile */
	tf->buf[n] = 0;
	return tf->fn(tf->ctx, tid, tf->buf);
}

/* fn(ctx, tid, text) for /proc/PID/task/TID/<file> of each thread still
 * there (NUL-terminated, at most bufsz - 1 bytes), until fn returns
 * non-zero: that value, 0 after the last thread, or -errno when the
 * process is gone. */
static int each_thread_file(uint32_t pid, const char *file, char *buf, size_t bufsz,
			    int (*fn)(void *ctx, uint32_t tid, char *text), void *ctx)
{
	struct thread_file tf = { pid, file, buf, bufsz, fn, ctx };
	return jm_proc_each_thread(pid, read_thread_file, &tf);
}

struct thread_sum {
	int32_t threads;
	uint64_t runtime_ns;
};

static int add_schedstat(void *ctx, uint32_t tid, char *text)
{
	struct thread_sum *s = ctx;
	(void)tid;
	s->threads++;
	s->runtime_ns += strtoull(text, NULL, 10);
	return 0;
}

int jm_proc_threads(uint32_t pid, int32_t *threads, uint64_t *runtime_ns)
{
	char buf[128];
	struct thread_sum s = { 0 };
	int rc = each_thread_file(pid, "schedstat", buf, sizeof(buf), add_schedstat, &s);

	*threads = s.threads;
	*runtime_ns = s.runtime_ns;
	if (rc < 0)
		return rc;
	return s.threads ? 0 : -ENOENT;
}

struct live_thread {
	uint32_t leader, tid;
	struct jm_pstat *st;
};

static int take_live_stat(void *ctx, uint32_t tid, char *text)
{
	struct live_thread *l = ctx;
	if (tid == l->leader || jm_proc_stat_parse(text, l->st) || l->st->state == 'Z')
		return 0;
	l->tid = tid;
	return 1;
}

int jm_proc_live_thread_stat(uint32_t pid, struct jm_pstat *st, uint32_t *tid)
{
	char buf[1024];
	struct live_thread l = { pid, 0, st };
	int rc = each_thread_file(pid, "stat", buf, sizeof(buf), take_live_stat, &l);

	if (tid)
		*tid = l.tid;
	return rc < 0 ? rc : rc == 1 ? 0 : -ENOENT;
}

int jm_proc_each(int (*fn)(void *ctx, uint32_t pid), void *ctx)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	int rc = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		rc = fn(ctx, (uint32_t)strtoul(de->d_name, NULL, 10));
		if (rc)
			break;
	}
	closedir(d);
	return rc;
}

const char *jm_cgroup2_root(char *buf, size_t len)
{
	char line[1024];
	FILE *f = fopen("/proc/self/mounts", "re");

	buf[0] = 0;
	if (!f)
		return buf;
	while (fgets(line, sizeof(line), f)) {
		char dev[256], dir[512], type[64];
		if (sscanf(line, "%255s %511s %63s", dev, dir, type) == 3 &&
		    strcmp(type, "cgroup2") == 0) {
			snprintf(buf, len, "%s", dir);
			break;
		}
	}
	fclose(f);
	return buf;
}

/* Iterative depth-first walk with an explicit stack of paths: cgroup trees
 * are shallow but wide, and recursion depth must not depend on input. */
int jm_cgroup_path_by_id(const char *root, uint64_t id, char *buf, size_t len)
{
	enum { STACK = 4096 };
	char (*stack)[512] = malloc(STACK * sizeof(*stack));
	size_t sp = 0, rootlen = strlen(root);
	int rc = -ENOENT;
	struct stat st;

	if (!stack)
		return -ENOMEM;
	if (stat(root, &st) == 0 && (uint64_t)st.st_ino == id) {
		snprintf(buf, len, "/");
		free(stack);
		return 0;
	}
	snprintf(stack[sp++], sizeof(stack[0]), "%s", root);
	while (sp) {
		char dir[512];
		snprintf(dir, sizeof(dir), "%s", stack[--sp]);
		DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			char child[512];
			if ((size_t)snprintf(child, sizeof(child), "%s/%s", dir, de->d_name) >= sizeof(child))
				continue;
			if (stat(child, &st) == 0 && (uint64_t)st.st_ino == id) {
				snprintf(buf, len, "%s", child + rootlen);
				closedir(d);
				rc = 0;
				goto out;
			}
			if (sp < STACK)
				snprintf(stack[sp++], sizeof(stack[0]), "%s", child);
		}
		closedir(d);
	}
out:
	free(stack);
	return rc;
}

bool jm_cgroup_id_is(const char *root, const char *path, uint64_t id)
{
	char full[1024];
	struct stat st;

	if (!root || !root[0] || (size_t)snprintf(full, sizeof(full), "%s%s", root, path) >= sizeof(full))
		return false;
	return stat(full, &st) == 0 && (uint64_t)st.st_ino == id;
}

int jm_proc_io_parse(const char *text, uint64_t *rchar, uint64_t *wchar)
{
	const char *r = strstr(text, "rchar: "), *w = strstr(text, "wchar: ");
	char *end;

	if (!r || !w)
		return -1;
	errno = 0;
	*rchar = strtoull(r + 7, &end, 10);
	if (errno || end == r + 7)
		return -1;
	*wchar = strtoull(w + 7, &end, 10);
	if (errno || end == w + 7)
		return -1;
	return 0;
}

struct io_sum {
	uint32_t skip;                       /* a tid to leave out, or 0 */
	int threads;
	uint64_t rchar, wchar;
};

static int add_io(void *ctx, uint32_t tid, char *text)
{
	struct io_sum *s = ctx;
	uint64_t r, w;

	if (tid == s->skip)
		return 0;
	if (jm_proc_io_parse(text, &r, &w))
		return -EINVAL;
	s->threads++;
	s->rchar += r;
	s->wchar += w;
	return 0;
}

int jm_proc_threads_io(uint32_t pid, bool skip_leader, uint64_t *rchar, uint64_t *wchar)
{
	char buf[512];
	struct io_sum s = { skip_leader ? pid : 0, 0, 0, 0 };
	int rc = each_thread_file(pid, "io", buf, sizeof(buf), add_io, &s);

	*rchar = s.rchar;
	*wchar = s.wchar;
	if (rc < 0)
		return rc;
	return s.threads || skip_leader ? 0 : -ENOENT;
}
