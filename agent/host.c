/* Host identity and CPU/memory sampling.  See host.h. */
#include "host.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"

#ifndef JOBMETER_VERSION
/* The Makefile always defines it; this only covers ad-hoc compiles. */
#define JOBMETER_VERSION "unknown"
#endif

#define AGENT_ID_FILE "agent-id"
#define AGENT_ID_MAX  63   /* fits struct jm_agent_identity.agent_id[64] */

static void rtrim(char *s)
{
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

/* 1..AGENT_ID_MAX printable, non-space ASCII characters. */
static bool agent_id_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > AGENT_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

/* Returns 0 (id filled), -ENOENT (no file) or another -errno. */
static int agent_id_read(const char *path, char *id, size_t cap)
{
	char buf[128];
	ssize_t n = jm_read_small(AT_FDCWD, path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if ((size_t)n >= sizeof(buf) - 1)
		return -EBADMSG;                /* far longer than any id */
	rtrim(buf);
	if (!agent_id_valid(buf) || strlen(buf) >= cap)
		return -EBADMSG;
	memcpy(id, buf, strlen(buf) + 1);
	return 0;
}

static int random_hex(char *out, size_t nbytes)
{
	unsigned char raw[32];
	if (nbytes > sizeof(raw))
		return -EINVAL;
	size_t got = 0;
	while (got < nbytes) {
		ssize_t n = getrandom(raw + got, nbytes - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

static int agent_id_create(const char *state_dir, const char *path, char *id, size_t cap)
{
	char tmp[PATH_MAX], hex[33], line[34];
	int fd = -1, err;

	if (snprintf(tmp, sizeof(tmp), "%s/%s.tmp.%d", state_dir, AGENT_ID_FILE, (int)getpid())
	    >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if ((err = random_hex(hex, 16)))
		return err;
	int len = snprintf(line, sizeof(line), "%s\n", hex);

	unlink(tmp);   /* a leftover of a crashed earlier process with our pid */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, line, (size_t)len);
	if (w != len) {
		err = w < 0 ? -errno : -EIO;   /* a short write to a fresh file: disk full */
		goto out;
	}
	if (fsync(fd) < 0) {
		err = -errno;
		goto out;
	}
	/* link() fails with EEXIST instead of replacing: when another agent won
	 * the race, its id is the one everybody keeps. */
	if (link(tmp, path) < 0 && errno != EEXIST) {
		err = -errno;
		goto out;
	}
	if ((err = fsync_dir(state_dir)))
		goto out;
	err = agent_id_read(path, id, cap);
out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return err;
}

int jm_host_identity(struct jm_agent_identity *id, const char *state_dir)
{
	char path[PATH_MAX];
	struct utsname uts;
	int err;

	memset(id, 0, sizeof(*id));

	/* In a pod, gethostname() is the pod's name; the DaemonSet passes the
	 * node's name in JOBMETER_HOSTNAME (downward API spec.nodeName). */
	const char *env_host = getenv("JOBMETER_HOSTNAME");
	if (env_host && *env_host && strlen(env_host) < sizeof(id->host))
		snprintf(id->host, sizeof(id->host), "%s", env_host);
	else if (gethostname(id->host, sizeof(id->host) - 1) < 0)
		return -errno;
	id->host[sizeof(id->host) - 1] = '\0';

	if (uname(&uts) < 0)
		return -errno;
	snprintf(id->kernel, sizeof(id->kernel), "%s", uts.release);
	snprintf(id->version, sizeof(id->version), "%s", JOBMETER_VERSION);

	/* A UUID plus newline: 37 bytes, well inside boot_id[64]. */
	ssize_t n = jm_read_small(AT_FDCWD, "/proc/sys/kernel/random/boot_id", id->boot_id,
				  sizeof(id->boot_id));
	if (n < 0)
		return (int)n;
	rtrim(id->boot_id);

	if (!state_dir || !*state_dir)
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/%s", state_dir, AGENT_ID_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if ((err = jm_mkdir_p(state_dir, 0700)))
		return err;
	err = agent_id_read(path, id->agent_id, sizeof(id->agent_id));
	if (err == -ENOENT)
		err = agent_id_create(state_dir, path, id->agent_id, sizeof(id->agent_id));
	return err;
}

/* ---- sampler -------------------------------------------------------- */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Busy ticks from the aggregate "cpu " line, the first line of /proc/stat. */
static int read_busy_ticks(const struct jm_host_sampler *s, uint64_t *busy)
{
	char path[JM_HOST_PATH_MAX + 16], buf[4096];
	snprintf(path, sizeof(path), "%s/stat", s->proc_root);
	ssize_t n = jm_read_small(AT_FDCWD, path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (strncmp(buf, "cpu ", 4) != 0 || !memchr(buf, '\n', (size_t)n))
		return -EBADMSG;

	/* user nice system idle iowait irq softirq steal [guest guest_nice] */
	uint64_t v[8] = { 0 };
	const char *p = buf + 4;
	int fields = 0;
	for (; fields < 8; fields++) {
		while (*p == ' ')
			p++;
		if (*p == '\n' || *p == '\0')
			break;
		char *end;
		errno = 0;
		unsigned long long x = strtoull(p, &end, 10);
		if (end == p || errno || (*end != ' ' && *end != '\n'))
			return -EBADMSG;
		v[fields] = x;
		p = end;
	}
	if (fields < 4)   /* user nice system idle have been there since 2.4 */
		return -EBADMSG;
	uint64_t all = 0;
	for (int i = 0; i < 8; i++)
		all += v[i];
	*busy = all - v[3] - v[4];
	return 0;
}

/* Value in bytes of a "Key:   123 kB" line of meminfo, or -ENOENT. */
static int meminfo_get(const char *buf, const char *key, uint64_t *bytes)
{
	size_t klen = strlen(key);
	for (const char *line = buf; line && *line; ) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			char *end;
			errno = 0;
			unsigned long long kb = strtoull(line + klen + 1, &end, 10);
			if (end == line + klen + 1 || errno || kb > UINT64_MAX / 1024)
				return -EBADMSG;
			*bytes = (uint64_t)kb * 1024;
			return 0;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -ENOENT;
}

static int read_mem(const struct jm_host_sampler *s, uint64_t *total, uint64_t *avail)
{
	char path[JM_HOST_PATH_MAX + 16], buf[8192];
	snprintf(path, sizeof(path), "%s/meminfo", s->proc_root);
	ssize_t n = jm_read_small(AT_FDCWD, path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	int err = meminfo_get(buf, "MemTotal", total);
	if (err)
		return err == -ENOENT ? -EBADMSG : err;
	err = meminfo_get(buf, "MemAvailable", avail);
	if (err == -ENOENT)    /* kernels before 3.14 */
		err = meminfo_get(buf, "MemFree", avail);
	if (err)
		return err == -ENOENT ? -EBADMSG : err;
	return 0;
}

int jm_host_sampler_init(struct jm_host_sampler *s, const char *proc_root)
{
	memset(s, 0, sizeof(*s));
	if (!proc_root)
		proc_root = "/proc";
	if (strlen(proc_root) >= sizeof(s->proc_root))
		return -ENAMETOOLONG;
	strcpy(s->proc_root, proc_root);
	s->user_hz = sysconf(_SC_CLK_TCK);
	if (s->user_hz <= 0)
		s->user_hz = 100;   /* the kernel's fixed USER_HZ on every arch we run on */
	int err = read_busy_ticks(s, &s->prev_busy_ticks);
	if (err)
		return err;
	s->prev_mono_ns = mono_ns();
	s->have_prev = true;
	return 0;
}

int jm_host_sample(struct jm_host_sampler *s, struct jm_host_usage *u)
{
	uint64_t busy, total, avail;
	int err;

	memset(u, 0, sizeof(*u));
	if ((err = read_busy_ticks(s, &busy)))
		return err;
	if ((err = read_mem(s, &total, &avail)))
		return err;
	uint64_t now = mono_ns();

	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	u->cpu_cores = cores > 0 ? (uint32_t)cores : 0;
	u->mem_total_bytes = total;
	u->mem_used_bytes = total > avail ? total - avail : 0;
	if (s->have_prev) {
		uint64_t d = busy >= s->prev_busy_ticks ? busy - s->prev_busy_ticks : 0;
		u->cpu_busy_s = (double)d / (double)s->user_hz;
		u->window_s = (double)(now - s->prev_mono_ns) / 1e9;
	}
	s->prev_busy_ticks = busy;
	s->prev_mono_ns = now;
	s->have_prev = true;
	return 0;
}
