/* A thin SQLite VFS over the default one that coalesces writes to the WAL.
 *
 * SQLite appends each WAL frame with two pwrite(2) calls (24-byte header,
 * then the page), so a group commit of a few hundred changed pages costs
 * hundreds of system calls -- the biggest cost of the collector's writer
 * thread, more so on hosts where the jobmeter agent (or any other eBPF
 * tool) traces system calls.  This VFS keeps consecutive WAL writes in a
 * buffer and hands them to the kernel in 64 KiB writes when SQLite syncs
 * the WAL (commit), reads it, asks its size, truncates or closes it, or
 * the buffer is full.  Every other file, and every other operation, goes
 * straight to the default VFS.
 *
 * Why this keeps the guarantees: with synchronous=FULL (which the store
 * always sets) SQLite syncs the WAL at every commit BEFORE it publishes the
 * commit in the wal-index, so no frame a reader or a checkpoint can see is
 * ever still in the buffer, and what was acknowledged after COMMIT is in
 * the kernel (survives kill -9) and on disk (survives power loss) exactly
 * as without the buffer.  Writes lost in a crash are writes SQLite had not
 * synced, i.e. of a transaction that had not committed.  Do NOT use it with
 * synchronous=NORMAL or OFF.
 *
 * One instance per store (its own VFS name), so there is no process-wide
 * mutable state; register before sqlite3_open_v2, unregister after
 * sqlite3_close. */
#ifndef JM_COLL_WALBUF_H
#define JM_COLL_WALBUF_H
#include <stddef.h>

struct jm_coll_walbuf;

/* Register a VFS wrapping the default one, with a WAL write buffer of
 * buf_bytes per WAL file.  NULL on failure. */
struct jm_coll_walbuf *jm_coll_walbuf_new(size_t buf_bytes) __attribute__((warn_unused_result));
/* The name to pass to sqlite3_open_v2. */
const char *jm_coll_walbuf_name(const struct jm_coll_walbuf *wb);
/* Unregister and free (no connection may still use it). */
void jm_coll_walbuf_free(struct jm_coll_walbuf *wb);
#endif
