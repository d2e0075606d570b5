/* Small-file helpers for the agent's on-disk state (agent id, spool):
 * creating a directory path, reading a file that fits a buffer, and writing
 * a file so that a crash leaves either the old or the new content, never a
 * mix.  Every function returns 0 (or a length) or a negative errno. */
#ifndef JM_FILEUTIL_H
#define JM_FILEUTIL_H
#include <stddef.h>
#include <sys/types.h>

/* mkdir -p: create dir and its missing parents with mode (existing ones are
 * left as they are).  0 once dir is a directory; -ENOTDIR when it exists as
 * something else, -ENAMETOOLONG when longer than PATH_MAX - 1, else the
 * errno of the failing mkdir/stat. */
int jm_mkdir_p(const char *dir, mode_t mode)
	__attribute__((warn_unused_result));

/* Read at most cap - 1 bytes of path (relative to dirfd, or AT_FDCWD) into
 * buf and NUL-terminate it.  Loops, because /proc files may come in several
 * reads; a file longer than that is cut, which callers detect by a return of
 * cap - 1.  Returns the length or -errno (-EINVAL for cap == 0). */
ssize_t jm_read_small(int dirfd, const char *path, char *buf, size_t cap)
	__attribute__((warn_unused_result));

/* write(2) until all len bytes are written (short writes and EINTR
 * resumed).  0 or -errno. */
int jm_write_all(int fd, const void *data, size_t len)
	__attribute__((warn_unused_result));

/* Replace dirfd/name with data atomically and durably: write tmpname (mode
 * 0600, truncated), fsync it, rename it over name, fsync the directory.
 * On error tmpname is removed and name is untouched.  0 or -errno. */
int jm_write_atomic(int dirfd, const char *name, const char *tmpname,
		    const void *data, size_t len)
	__attribute__((warn_unused_result));
#endif
