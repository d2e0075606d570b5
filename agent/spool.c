/* Durable bounded spool.  See spool.h for the on-disk contract.
 *
 * The directory is the truth; the in-memory index (seq -> size, sorted) only
 * saves a readdir per operation and is rebuilt from the directory on open. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"

#define SEQ_DIGITS   20                 /* UINT64_MAX has 20 decimal digits */
#define BATCH_SUFFIX ".batch"
#define NAME_MAX_LEN (SEQ_DIGITS + sizeof(BATCH_SUFFIX ".tmp"))
#define REJECTED     "rejected"

struct spool_entry {
	uint64_t seq;
	uint64_t size;
};

struct jm_spool {
	pthread_mutex_t lock;
	char dir[PATH_MAX];
	int dirfd;
	int rejfd;                      /* rejected/ */
	int lockfd;
	uint64_t max_bytes;
	uint64_t last_seq;              /* last handed out (or seen on disk) */
	uint64_t dropped;
	uint64_t sending;               /* batch claimed by the shipper, 0 = none */
	bool sending_dropped;           /* ... deleted for space while claimed:
					 * counted only once its send has failed */
	uint64_t total;                 /* bytes of all pending batches */
	size_t n, cap;
	struct spool_entry *e;          /* sorted by seq */
};

static void spool_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void spool_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write() so concurrent threads do not interleave within a line. */
	dprintf(STDERR_FILENO, "jobmeter-agent: spool: %s\n", line);
}

static void batch_name(char *buf, size_t cap, uint64_t seq, bool tmp)
{
	snprintf(buf, cap, "%0*" PRIu64 "%s%s", SEQ_DIGITS, seq, BATCH_SUFFIX, tmp ? ".tmp" : "");
}

/* "<20 digits>.batch" -> seq.  Anything else is not ours to touch. */
static bool parse_batch_name(const char *name, uint64_t *seq)
{
	if (strlen(name) != SEQ_DIGITS + strlen(BATCH_SUFFIX) ||
	    strcmp(name + SEQ_DIGITS, BATCH_SUFFIX) != 0)
		return false;
	uint64_t v = 0;
	for (int i = 0; i < SEQ_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		unsigned d = (unsigned)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*seq = v;
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ---- index (callers hold s->lock) ----------------------------------- */

/* First position whose seq >= seq. */
static size_t idx_lower(const struct jm_spool *s, uint64_t seq)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->e[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int idx_put(struct jm_spool *s, uint64_t seq, uint64_t size)
{
	size_t i = idx_lower(s, seq);
	if (i < s->n && s->e[i].seq == seq) {      /* replaced in place */
		s->total = s->total - s->e[i].size + size;
		s->e[i].size = size;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct spool_entry *e = realloc(s->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		s->e = e;
		s->cap = cap;
	}
	memmove(&s->e[i + 1], &s->e[i], (s->n - i) * sizeof(*s->e));
	s->e[i].seq = seq;
	s->e[i].size = size;
	s->n++;
	s->total += size;
	return 0;
}

/* Forget seq; returns whether it was indexed. */
static bool idx_del(struct jm_spool *s, uint64_t seq)
{
	size_t i = idx_lower(s, seq);
	if (i >= s->n || s->e[i].seq != seq)
		return false;
	s->total -= s->e[i].size;
	memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(*s->e));
	s->n--;
	return true;
}

/* The shipper's send of the claimed batch is over (or a new one begins):
 * a claimed batch deleted for space and not removed since -- the removal
 * is what a delivery or a renumbering does -- is lost now, and counted. */
static void claim_settle(struct jm_spool *s)
{
	if (s->sending_dropped)
		s->dropped++;
	s->sending = 0;
	s->sending_dropped = false;
}

/* Delete the oldest batches until the total fits; `why` goes in the log.
 * The batch the shipper is sending is deleted too (the bound holds on
 * disk), but not counted yet: that very send may deliver it. */
static void enforce_bound(struct jm_spool *s, const char *why)
{
	uint64_t n = 0, first = 0, last = 0;
	bool in_flight = false;
	while (s->total > s->max_bytes && s->n > 0) {
		char name[NAME_MAX_LEN];
		uint64_t seq = s->e[0].seq;
		batch_name(name, sizeof(name), seq, false);
		if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
			spool_log("%s/%s: cannot delete: %s", s->dir, name, strerror(errno));
		idx_del(s, seq);
		if (!n)
			first = seq;
		last = seq;
		n++;
		if (seq == s->sending) {
			s->sending_dropped = true;
			in_flight = true;
		}
	}
	if (n) {
		s->dropped += n - in_flight;
		spool_log("%s: spool over %" PRIu64 " bytes (%s): dropped %" PRIu64
			  " oldest batch(es), seq %" PRIu64 "..%" PRIu64 "%s; %" PRIu64
			  " dropped since start", s->dir, s->max_bytes, why, n, first, last,
			  in_flight ? " (the one being sent counts only if its send fails)" : "",
			  s->dropped);
	}
}

/* A fresh directory stream on dirfd's directory (not a dup: that would share
 * the read offset with dirfd). */
static DIR *opendir_at(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

/* ---- open ----------------------------------------------------------- */

static int read_seq_file(struct jm_spool *s, uint64_t *last)
{
	char buf[64];
	*last = 0;
	ssize_t n = jm_read_small(s->dirfd, "seq", buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? 0 : (int)n;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (end == buf || errno || buf[0] == '-' || (*end != '\0' && strcmp(end, "\n") != 0)) {
		spool_log("%s/seq: corrupt (expected one decimal number); refusing to guess "
			  "sequence numbers.  Put the last seq the collector saw into it, or "
			  "remove it to continue after the highest spooled batch", s->dir);
		return -EBADMSG;
	}
	*last = v;
	return 0;
}

/* Index dir's batches, delete stale .tmp files, and return the highest seq. */
static int scan_dir(struct jm_spool *s, int dirfd, bool index, uint64_t *highest)
{
	DIR *d = opendir_at(dirfd);
	if (!d)
		return -errno;
	int err = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t seq;
		if (ends_with(de->d_name, ".tmp")) {
			if (unlinkat(dirfd, de->d_name, 0) < 0 && errno != ENOENT)
				spool_log("%s: cannot remove stale %s: %s", s->dir, de->d_name,
					  strerror(errno));
			continue;
		}
		if (!parse_batch_name(de->d_name, &seq))
			continue;
		if (seq > *highest)
			*highest = seq;
		if (!index)
			continue;
		struct stat st;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if ((err = idx_put(s, seq, (uint64_t)st.st_size)))
			break;
	}
	closedir(d);
	return err;
}

int jm_spool_open(struct jm_spool **out, const char *dir, uint64_t max_bytes)
{
	struct jm_spool *s = NULL;
	int err;

	*out = NULL;
	if (!dir || !*dir || max_bytes == 0)
		return -EINVAL;
	if (strlen(dir) >= sizeof(s->dir))
		return -ENAMETOOLONG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dirfd = s->rejfd = s->lockfd = -1;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->max_bytes = max_bytes;
	if ((err = pthread_mutex_init(&s->lock, NULL))) {
		free(s);
		return -err;
	}

	if ((err = jm_mkdir_p(dir, 0700)))
		goto out;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		err = -errno;
		goto out;
	}
	s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lockfd < 0) {
		err = -errno;
		goto out;
	}
	/* Two agents on one spool would hand out the same seq numbers. */
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (err == -EBUSY)
			spool_log("%s: in use by another process", dir);
		goto out;
	}
	if (mkdirat(s->dirfd, REJECTED, 0700) < 0 && errno != EEXIST) {
		err = -errno;
		goto out;
	}
	s->rejfd = openat(s->dirfd, REJECTED, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rejfd < 0) {
		err = -errno;
		goto out;
	}

	uint64_t from_file = 0, highest = 0;
	if ((err = read_seq_file(s, &from_file)))
		goto out;
	if ((err = scan_dir(s, s->dirfd, true, &highest)))
		goto out;
	if ((err = scan_dir(s, s->rejfd, false, &highest)))
		goto out;
	s->last_seq = from_file > highest ? from_file : highest;
	if (highest > from_file)
		spool_log("%s/seq (%" PRIu64 ") is behind the spooled batches; continuing after %"
			  PRIu64, dir, from_file, highest);
	enforce_bound(s, "found on open");
	err = 0;
out:
	if (err) {
		jm_spool_close(s);
		return err;
	}
	*out = s;
	return 0;
}

void jm_spool_close(struct jm_spool *s)
{
	if (!s)
		return;
	if (s->rejfd >= 0)
		close(s->rejfd);
	if (s->lockfd >= 0)
		close(s->lockfd);          /* releases the flock */
	if (s->dirfd >= 0)
		close(s->dirfd);
	pthread_mutex_destroy(&s->lock);
	free(s->e);
	free(s);
}

/* ---- operations ----------------------------------------------------- */

int jm_spool_next_seq(struct jm_spool *s, uint64_t *seq)
{
	char buf[32];
	int err;

	pthread_mutex_lock(&s->lock);
	if (s->last_seq == UINT64_MAX) {
		err = -EOVERFLOW;
		goto out;
	}
	uint64_t next = s->last_seq + 1;
	int len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", next);
	/* Held under the lock so two callers cannot persist out of order. */
	if ((err = jm_write_atomic(s->dirfd, "seq", "seq.tmp", buf, (size_t)len)))
		goto out;
	s->last_seq = next;
	*seq = next;
out:
	pthread_mutex_unlock(&s->lock);
	return err;
}

int jm_spool_advance_seq(struct jm_spool *s, uint64_t floor)
{
	char buf[32];
	int err = 0;

	pthread_mutex_lock(&s->lock);
	if (floor > s->last_seq) {
		int len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", floor);
		/* Persisted before it counts: a crash must not restart below. */
		err = jm_write_atomic(s->dirfd, "seq", "seq.tmp", buf, (size_t)len);
		if (!err)
			s->last_seq = floor;
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

int jm_spool_put(struct jm_spool *s, uint64_t seq, const void *data, size_t len)
{
	char name[NAME_MAX_LEN], tmp[NAME_MAX_LEN];
	int err;

	if ((uint64_t)len > s->max_bytes) {
		pthread_mutex_lock(&s->lock);
		s->dropped++;
		uint64_t dropped = s->dropped;
		pthread_mutex_unlock(&s->lock);
		spool_log("%s: batch seq %" PRIu64 " is %zu bytes, more than the whole spool "
			  "(%" PRIu64 "): dropped; %" PRIu64 " dropped since start",
			  s->dir, seq, len, s->max_bytes, dropped);
		return -EFBIG;
	}
	batch_name(name, sizeof(name), seq, false);
	batch_name(tmp, sizeof(tmp), seq, true);
	/* The file name is unique per seq, so the slow part needs no lock. */
	if ((err = jm_write_atomic(s->dirfd, name, tmp, data, len)))
		return err;

	pthread_mutex_lock(&s->lock);
	err = idx_put(s, seq, len);
	if (!err) {
		if (seq > s->last_seq)
			s->last_seq = seq;
		enforce_bound(s, "collector behind");
	}
	pthread_mutex_unlock(&s->lock);
	if (err)
		/* On disk but not indexed: it would be sent after a restart. */
		spool_log("%s/%s: stored but not indexed: %s", s->dir, name, strerror(-err));
	return err;
}

/* Read a whole regular file of at most max bytes. */
static int read_file(int dirfd, const char *name, uint64_t max, uint8_t **data, size_t *len)
{
	uint8_t *buf = NULL;
	int err = 0, fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max || (uint64_t)st.st_size > SIZE_MAX - 1) {
		err = -EFBIG;
		goto out;
	}
	size_t size = (size_t)st.st_size, got = 0;
	buf = malloc(size ? size : 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (n == 0) {           /* shrank under us: not a file we wrote */
			err = -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	*data = buf;
	*len = size;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

/* The first pending batch after `after`; with claim, it becomes the batch
 * being sent from the moment it is chosen (under the lock, so a drop for
 * space between choosing and reading is deferred like one during the send)
 * and a batch that cannot be read settles its claim at once. */
static int next_batch(struct jm_spool *s, uint64_t after, bool claim, uint64_t *seq, uint8_t **data,
		      size_t *len)
{
	*data = NULL;
	*len = 0;
	for (;;) {
		char name[NAME_MAX_LEN];
		pthread_mutex_lock(&s->lock);
		if (claim)
			claim_settle(s);        /* a claim never released */
		size_t i = after == UINT64_MAX ? s->n : idx_lower(s, after + 1);
		if (i == s->n) {
			pthread_mutex_unlock(&s->lock);
			return -ENOENT;
		}
		uint64_t q = s->e[i].seq;
		if (claim)
			s->sending = q;
		pthread_mutex_unlock(&s->lock);

		batch_name(name, sizeof(name), q, false);
		int err = read_file(s->dirfd, name, s->max_bytes, data, len);
		if (!err) {
			*seq = q;
			return 0;
		}
		pthread_mutex_lock(&s->lock);
		if (err == -ENOENT) {
			/* Dropped for space meanwhile (counted now, when claimed),
			 * or deleted by hand: skip it. */
			idx_del(s, q);
		} else if (err == -EFBIG || err == -EINVAL) {
			/* Cannot come from put (it refuses such sizes); something else
			 * put it there.  Sending it is hopeless and it would block the
			 * queue forever, so it is dropped and counted -- once: a claim
			 * it was deleted under for space counts it below. */
			if (unlinkat(s->dirfd, name, 0) == 0 || errno == ENOENT) {
				idx_del(s, q);
				if (!(claim && s->sending_dropped))
					s->dropped++;
			}
		}
		if (claim)
			claim_settle(s);
		pthread_mutex_unlock(&s->lock);
		if (err == -EFBIG || err == -EINVAL)
			spool_log("%s/%s: not a regular file within the spool limit: dropped",
				  s->dir, name);
		else if (err != -ENOENT)
			return err;
	}
}

int jm_spool_oldest(struct jm_spool *s, uint64_t *seq, uint8_t **data, size_t *len)
{
	return next_batch(s, 0, false, seq, data, len);
}

int jm_spool_next_after(struct jm_spool *s, uint64_t after, uint64_t *seq, uint8_t **data,
			size_t *len)
{
	return next_batch(s, after, false, seq, data, len);
}

int jm_spool_claim_oldest(struct jm_spool *s, uint64_t *seq, uint8_t **data, size_t *len)
{
	return next_batch(s, 0, true, seq, data, len);
}

void jm_spool_release(struct jm_spool *s, uint64_t seq)
{
	pthread_mutex_lock(&s->lock);
	if (s->sending == seq)
		claim_settle(s);
	pthread_mutex_unlock(&s->lock);
}

int jm_spool_remove(struct jm_spool *s, uint64_t seq)
{
	char name[NAME_MAX_LEN];
	int err = 0;
	batch_name(name, sizeof(name), seq, false);
	pthread_mutex_lock(&s->lock);
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT) {
		err = -errno;
	} else {
		idx_del(s, seq);
		/* Removed after a delivery (or renumbered): whatever deleted it
		 * for space while it was being sent lost nothing. */
		if (seq == s->sending)
			s->sending_dropped = false;
	}
	pthread_mutex_unlock(&s->lock);
	/* Without this a crash could resurrect an acknowledged batch; the
	 * collector dedups by (agent_id, seq) but a resend is still waste. */
	if (!err && fsync(s->dirfd) < 0)
		err = -errno;
	return err;
}

struct rej_entry {
	uint64_t seq;
	uint64_t size;
};

static int rej_cmp(const void *a, const void *b)
{
	const struct rej_entry *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Keep rejected/ within JM_SPOOL_REJECTED_MAX files and max_bytes. */
static void trim_rejected(struct jm_spool *s)
{
	struct rej_entry *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	DIR *d = opendir_at(s->rejfd);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t seq;
		struct stat st;
		if (!parse_batch_name(de->d_name, &seq) ||
		    fstatat(s->rejfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct rej_entry *nv = realloc(v, nc * sizeof(*nv));
			if (!nv)
				goto out;
			v = nv;
			cap = nc;
		}
		v[n].seq = seq;
		v[n].size = (uint64_t)st.st_size;
		total += v[n].size;
		n++;
	}
	qsort(v, n, sizeof(*v), rej_cmp);
	for (size_t i = 0; i < n && (n - i > JM_SPOOL_REJECTED_MAX || total > s->max_bytes); i++) {
		char name[NAME_MAX_LEN];
		batch_name(name, sizeof(name), v[i].seq, false);
		if (unlinkat(s->rejfd, name, 0) == 0)
			total -= v[i].size;
	}
out:
	free(v);
	closedir(d);
}

int jm_spool_reject(struct jm_spool *s, uint64_t seq)
{
	char name[NAME_MAX_LEN];
	int err = 0;
	batch_name(name, sizeof(name), seq, false);
	pthread_mutex_lock(&s->lock);
	if (renameat(s->dirfd, name, s->rejfd, name) < 0) {
		err = -errno;
		if (err == -ENOENT)
			idx_del(s, seq);
	} else {
		idx_del(s, seq);
		if (fsync(s->rejfd) < 0 || fsync(s->dirfd) < 0)
			err = -errno;
		trim_rejected(s);
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

uint64_t jm_spool_dropped(struct jm_spool *s)
{
	pthread_mutex_lock(&s->lock);
	uint64_t d = s->dropped;
	pthread_mutex_unlock(&s->lock);
	return d;
}

void jm_spool_depth(struct jm_spool *s, uint64_t *count, uint64_t *bytes)
{
	pthread_mutex_lock(&s->lock);
	if (count)
		*count = s->n;
	if (bytes)
		*bytes = s->total;
	pthread_mutex_unlock(&s->lock);
}

const char *jm_spool_dir(const struct jm_spool *s)
{
	return s->dir;
}
