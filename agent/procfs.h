/* Reading /proc and the cgroup tree.  Every function is bounded and
 * returns -errno (ENOENT when the process is gone). PROC_ROOT lets tests
 * point it at a fake tree. */
#ifndef JM_PROCFS_H
#define JM_PROCFS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct jm_pstat {
	char state;
	uint32_t ppid;
	uint64_t cpu_ns;         /* utime + stime (clock ticks -> ns) */
	uint64_t rss_bytes;
	uint64_t start_ticks;    /* since boot */
	char comm[16];
};

int jm_proc_stat(uint32_t pid, struct jm_pstat *st) __attribute__((warn_unused_result));
/* Parse the text of /proc/PID/stat (pure; exposed for tests). */
int jm_proc_stat_parse(const char *text, struct jm_pstat *st) __attribute__((warn_unused_result));
/* NUL-separated environ/cmdline, truncated to len; returns bytes read. */
ssize_t jm_proc_read(uint32_t pid, const char *what, char *buf, size_t len);
ssize_t jm_proc_exe(uint32_t pid, char *buf, size_t len);
/* rchar and wchar (bytes moved by read()/write()-family calls) of pid's
 * threads still there, summed from /proc/PID/task/TID/io; the leader's left
 * out when skip_leader (a zombie leader, whose bytes the exit program
 * already took).  Not /proc/PID/io: that adds the group's signal->ioac,
 * which takes in the bytes of every child the process reaped. */
int jm_proc_threads_io(uint32_t pid, bool skip_leader, uint64_t *rchar, uint64_t *wchar)
	__attribute__((warn_unused_result));
/* The same from the text of such a file (pure, for tests). */
int jm_proc_io_parse(const char *text, uint64_t *rchar, uint64_t *wchar)
	__attribute__((warn_unused_result));
/* The cgroup path of a process, e.g. "/system.slice/x.service": the v2
 * path ("0::" line) when it is below the root; otherwise (cgroup v1 and
 * hybrid hosts, where "0::" stays "/" or is absent and kubelet and systemd
 * name their cgroups in the v1 hierarchies) the name=systemd hierarchy's
 * path, else the memory controller's, when below the root; else whichever
 * root path there is.  Returns 0 for a v2 path, JM_CGROUP_V1 for a path from
 * a v1 hierarchy (not the cgroup the kernel's v2 cgroup id names, so not to
 * be cached by it), -ENOENT when no line is usable, -ENAMETOOLONG when the
 * path does not fit in len (never cut). */
#define JM_CGROUP_V1 1
int jm_proc_cgroup(uint32_t pid, char *buf, size_t len) __attribute__((warn_unused_result));
/* The same from the text of /proc/PID/cgroup (pure, for tests). */
int jm_proc_cgroup_parse(const char *text, char *buf, size_t len) __attribute__((warn_unused_result));
/* Live threads and their summed sum_exec_runtime (schedstat field 1). */
int jm_proc_threads(uint32_t pid, int32_t *threads, uint64_t *runtime_ns)
	__attribute__((warn_unused_result));
/* The stat of one thread of pid other than the leader that has not exited
 * (state != 'Z'), and its id in *tid (if not NULL): the memory a zombie
 * leader no longer shows (its mm is gone) is still the live threads', and
 * so are its environ, cmdline and exe (/proc/TID/...).  -ENOENT when there
 * is none. */
int jm_proc_live_thread_stat(uint32_t pid, struct jm_pstat *st, uint32_t *tid)
	__attribute__((warn_unused_result));
/* Calls fn for every numeric entry of /proc; stops when fn returns non-zero. */
int jm_proc_each(int (*fn)(void *ctx, uint32_t pid), void *ctx);
/* Calls fn for every thread in /proc/PID/task until fn returns non-zero:
 * that value, 0 after the last thread, or -errno when the process is gone. */
int jm_proc_each_thread(uint32_t pid, int (*fn)(void *ctx, uint32_t tid), void *ctx);

/* Where the cgroup v2 hierarchy is mounted ("/sys/fs/cgroup" or
 * "/sys/fs/cgroup/unified" on hybrid hosts); "" when there is none. */
const char *jm_cgroup2_root(char *buf, size_t len);
/* Find the path (relative to the v2 root, leading '/') of the cgroup whose
 * id (inode) is id.  Walks the tree: callers cache the answer. */
int jm_cgroup_path_by_id(const char *root, uint64_t id, char *buf, size_t len)
	__attribute__((warn_unused_result));
/* Is root + path (a v2 path) the cgroup whose id (inode) is id? */
bool jm_cgroup_id_is(const char *root, const char *path, uint64_t id);
#endif
