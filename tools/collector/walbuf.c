/* WAL write coalescing VFS: see walbuf.h. */
#include "tools/collector/walbuf.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The unix VFS writes at most 128 KiB - 1 per call (it never gets more
 * from SQLite, whose pages are <= 64 KiB, and masks the length): hand it
 * 64 KiB at a time.  Still one system call per 16 frames instead of two
 * per frame. */
#define WB_WRITE_MAX ((size_t)64 << 10)

struct jm_coll_walbuf {
	sqlite3_vfs vfs;        /* first: SQLite hands us &vfs */
	sqlite3_vfs *real;      /* the default VFS it wraps */
	size_t buf_bytes;
	bool registered;
	char name[48];
};

/* One open file.  SQLite allocates vfs.szOsFile bytes for it: this header,
 * then the real VFS's file object. */
struct wb_file {
	sqlite3_file base;
	sqlite3_file *real;
	bool wal;
	uint8_t *buf;           /* WAL only: pending bytes for [off, off + len) */
	size_t len, cap;
	sqlite3_int64 off;
};

static sqlite3_file *real_of(sqlite3_file *f)
{
	return ((struct wb_file *)f)->real;
}

/* Write out what is pending, in pieces of at most WB_WRITE_MAX bytes.
 * On failure the pending bytes are dropped: SQLite sees the error and
 * treats those writes as not done (a failed transaction), so they must not
 * reach the file later either. */
static int wb_flush(struct wb_file *p)
{
	int rc = SQLITE_OK;

	for (size_t done = 0; done < p->len && rc == SQLITE_OK; done += WB_WRITE_MAX) {
		size_t n = p->len - done < WB_WRITE_MAX ? p->len - done : WB_WRITE_MAX;

		rc = p->real->pMethods->xWrite(p->real, p->buf + done, (int)n,
					       p->off + (sqlite3_int64)done);
	}
	p->len = 0;
	return rc;
}

static int wb_close(sqlite3_file *f)
{
	struct wb_file *p = (struct wb_file *)f;
	int rc = wb_flush(p), rc2;

	rc2 = p->real->pMethods->xClose(p->real);
	free(p->buf);
	p->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *f, void *data, int amt, sqlite3_int64 off)
{
	struct wb_file *p = (struct wb_file *)f;

	/* Reading pending bytes: write them first (rare: the page cache
	 * usually holds what the writer reads back). */
	if (p->len && off < p->off + (sqlite3_int64)p->len && off + amt > p->off) {
		int rc = wb_flush(p);

		if (rc != SQLITE_OK)
			return rc;
	}
	return p->real->pMethods->xRead(p->real, data, amt, off);
}

static int wb_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 off)
{
	struct wb_file *p = (struct wb_file *)f;
	size_t n = (size_t)amt;
	int rc;

	if (!p->wal || amt <= 0)
		return p->real->pMethods->xWrite(p->real, data, amt, off);
	/* Inside what is pending (a frame rewritten in the same
	 * transaction): update it in place. */
	if (p->len && off >= p->off && off + amt <= p->off + (sqlite3_int64)p->len) {
		memcpy(p->buf + (off - p->off), data, n);
		return SQLITE_OK;
	}
	/* Right after it, with room: append. */
	if (p->len && off == p->off + (sqlite3_int64)p->len && n <= p->cap - p->len) {
		memcpy(p->buf + p->len, data, n);
		p->len += n;
		return SQLITE_OK;
	}
	/* Anywhere else: what is pending goes first, in order. */
	if ((rc = wb_flush(p)) != SQLITE_OK)
		return rc;
	if (n > p->cap || n > WB_WRITE_MAX)
		return p->real->pMethods->xWrite(p->real, data, amt, off);
	memcpy(p->buf, data, n);
	p->off = off;
	p->len = n;
	return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct wb_file *p = (struct wb_file *)f;
	int rc = wb_flush(p);

	return rc != SQLITE_OK ? rc : p->real->pMethods->xTruncate(p->real, size);
}

static int wb_sync(sqlite3_file *f, int flags)
{
	struct wb_file *p = (struct wb_file *)f;
	int rc = wb_flush(p);

	return rc != SQLITE_OK ? rc : p->real->pMethods->xSync(p->real, flags);
}

static int wb_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct wb_file *p = (struct wb_file *)f;
	int rc = wb_flush(p);

	return rc != SQLITE_OK ? rc : p->real->pMethods->xFileSize(p->real, size);
}

static int wb_lock(sqlite3_file *f, int lock)
{
	return real_of(f)->pMethods->xLock(real_of(f), lock);
}

static int wb_unlock(sqlite3_file *f, int lock)
{
	return real_of(f)->pMethods->xUnlock(real_of(f), lock);
}

static int wb_check_reserved(sqlite3_file *f, int *out)
{
	return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int wb_file_control(sqlite3_file *f, int op, void *arg)
{
	struct wb_file *p = (struct wb_file *)f;
	int rc = wb_flush(p);

	/* Some controls look at the file (size hints, persistence, the
	 * file pointer itself): let them see everything written. */
	if (rc != SQLITE_OK)
		return rc;
	return p->real->pMethods->xFileControl(p->real, op, arg);
}

static int wb_sector_size(sqlite3_file *f)
{
	return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int wb_device_characteristics(sqlite3_file *f)
{
	return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int wb_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	sqlite3_file *r = real_of(f);

	return r->pMethods->iVersion >= 2 ? r->pMethods->xShmMap(r, pg, pgsz, extend, pp) : SQLITE_IOERR;
}

static int wb_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	sqlite3_file *r = real_of(f);

	return r->pMethods->iVersion >= 2 ? r->pMethods->xShmLock(r, offset, n, flags) : SQLITE_IOERR;
}

static void wb_shm_barrier(sqlite3_file *f)
{
	sqlite3_file *r = real_of(f);

	if (r->pMethods->iVersion >= 2)
		r->pMethods->xShmBarrier(r);
}

static int wb_shm_unmap(sqlite3_file *f, int delete_flag)
{
	sqlite3_file *r = real_of(f);

	return r->pMethods->iVersion >= 2 ? r->pMethods->xShmUnmap(r, delete_flag) : SQLITE_OK;
}

static int wb_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
	struct wb_file *p = (struct wb_file *)f;
	int rc = wb_flush(p);

	*pp = NULL;
	if (rc != SQLITE_OK)
		return rc;
	/* No memory mapping: SQLite then reads with xRead. */
	return p->real->pMethods->iVersion >= 3 ? p->real->pMethods->xFetch(p->real, off, amt, pp)
						 : SQLITE_OK;
}

static int wb_unfetch(sqlite3_file *f, sqlite3_int64 off, void *ptr)
{
	sqlite3_file *r = real_of(f);

	return r->pMethods->iVersion >= 3 ? r->pMethods->xUnfetch(r, off, ptr) : SQLITE_OK;
}

static const sqlite3_io_methods wb_methods = {
	.iVersion = 3,
	.xClose = wb_close,
	.xRead = wb_read,
	.xWrite = wb_write,
	.xTruncate = wb_truncate,
	.xSync = wb_sync,
	.xFileSize = wb_file_size,
	.xLock = wb_lock,
	.xUnlock = wb_unlock,
	.xCheckReservedLock = wb_check_reserved,
	.xFileControl = wb_file_control,
	.xSectorSize = wb_sector_size,
	.xDeviceCharacteristics = wb_device_characteristics,
	.xShmMap = wb_shm_map,
	.xShmLock = wb_shm_lock,
	.xShmBarrier = wb_shm_barrier,
	.xShmUnmap = wb_shm_unmap,
	.xFetch = wb_fetch,
	.xUnfetch = wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct jm_coll_walbuf *wb = (struct jm_coll_walbuf *)vfs;
	struct wb_file *p = (struct wb_file *)f;
	int rc;

	memset(p, 0, sizeof(*p));
	p->real = (sqlite3_file *)(p + 1);
	p->wal = (flags & SQLITE_OPEN_WAL) != 0;
	if (p->wal) {
		p->buf = malloc(wb->buf_bytes);
		if (!p->buf)
			return SQLITE_NOMEM;
		p->cap = wb->buf_bytes;
	}
	rc = wb->real->xOpen(wb->real, name, p->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		/* pMethods stays NULL: SQLite will not call xClose. */
		free(p->buf);
		p->buf = NULL;
		return rc;
	}
	p->base.pMethods = &wb_methods;
	return SQLITE_OK;
}

struct jm_coll_walbuf *jm_coll_walbuf_new(size_t buf_bytes)
{
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);
	struct jm_coll_walbuf *wb;

	if (!real || buf_bytes == 0 || buf_bytes > (1u << 30) ||
	    (size_t)real->szOsFile > (size_t)INT32_MAX - sizeof(struct wb_file))
		return NULL;
	wb = calloc(1, sizeof(*wb));
	if (!wb)
		return NULL;
	wb->real = real;
	wb->buf_bytes = buf_bytes;
	snprintf(wb->name, sizeof(wb->name), "jm-walbuf-%p", (void *)wb);
	/* Every method but xOpen is the real VFS's own: they do not look at
	 * the file objects, only at the arguments. */
	wb->vfs = *real;
	wb->vfs.pNext = NULL;
	wb->vfs.zName = wb->name;
	wb->vfs.szOsFile = (int)sizeof(struct wb_file) + real->szOsFile;
	wb->vfs.xOpen = wb_open;
	if (sqlite3_vfs_register(&wb->vfs, 0) != SQLITE_OK) {
		free(wb);
		return NULL;
	}
	wb->registered = true;
	return wb;
}

const char *jm_coll_walbuf_name(const struct jm_coll_walbuf *wb)
{
	return wb->name;
}

void jm_coll_walbuf_free(struct jm_coll_walbuf *wb)
{
	if (!wb)
		return;
	if (wb->registered)
		sqlite3_vfs_unregister(&wb->vfs);
	free(wb);
}
