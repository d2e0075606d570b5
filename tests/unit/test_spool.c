/* spool: put/oldest/remove, replay after reopen in seq order, .tmp cleanup,
 * overflow drops the oldest and counts, seq persistence (and skipping past
 * files when the seq file lags), reject bound, locking, and a concurrent
 * producer/consumer. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "spool.h"

static char tmp_root[] = "/tmp/test_spool.XXXXXX";

static void path_of(char *buf, size_t cap, const char *dir, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int ok = fputs(text, f) >= 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static int count_files(const char *dir, const char *suffix)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "ls -1 '%s' 2>/dev/null | grep -c -- '%s$'", dir, suffix);
	FILE *p = popen(cmd, "r");
	int n = -1;
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

/* Put a batch whose bytes are "batch-<seq>" padded to size with a pattern. */
static int put_seq(struct jm_spool *s, uint64_t seq, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return -ENOMEM;
	int n = snprintf(buf, size + 1, "batch-%" PRIu64 "|", seq);
	for (size_t i = (size_t)n; i < size; i++)
		buf[i] = (char)('A' + (seq + i) % 23);
	int err = jm_spool_put(s, seq, buf, size);
	free(buf);
	return err;
}

static bool data_is(const uint8_t *d, size_t len, uint64_t seq, size_t size)
{
	char head[64];
	int n = snprintf(head, sizeof(head), "batch-%" PRIu64 "|", seq);
	if (len != size || (size_t)n > len || memcmp(d, head, (size_t)n) != 0)
		return false;
	for (size_t i = (size_t)n; i < size; i++)
		if (d[i] != (uint8_t)('A' + (seq + i) % 23))
			return false;
	return true;
}

static uint64_t oldest_seq(struct jm_spool *s)
{
	uint64_t seq = 0;
	uint8_t *d = NULL;
	size_t len;
	int err = jm_spool_oldest(s, &seq, &d, &len);
	free(d);
	return err ? 0 : seq;
}

static void test_basic(const char *dir)
{
	struct jm_spool *s = NULL;
	uint64_t seq = 0, count = 9, bytes = 9;
	char p[700];
	uint8_t *d = NULL;
	size_t len = 0;

	CHECK_INT("open creates missing nested dir", jm_spool_open(&s, dir, 1 << 20), 0);
	if (!s)
		return;
	struct stat st;
	CHECK("spool dir is 0700", stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	jm_spool_depth(s, &count, &bytes);
	CHECK("new spool is empty", count == 0 && bytes == 0);
	CHECK_INT("oldest on empty spool: -ENOENT", jm_spool_oldest(s, &seq, &d, &len), -ENOENT);

	struct jm_spool *other = NULL;
	CHECK_INT("second open of the same dir: -EBUSY", jm_spool_open(&other, dir, 1 << 20),
		  -EBUSY);
	jm_spool_close(other);

	CHECK_INT("next_seq 1", jm_spool_next_seq(s, &seq), 0);
	CHECK_INT("first seq is 1", seq, 1);
	CHECK_INT("next_seq 2", jm_spool_next_seq(s, &seq), 0);
	CHECK_INT("second seq is 2", seq, 2);
	char line[64] = "";
	path_of(p, sizeof(p), dir, "seq");
	FILE *f = fopen(p, "r");
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	CHECK_STR("seq file persisted", line, "2\n");

	CHECK_INT("put 1", put_seq(s, 1, 100), 0);
	CHECK_INT("put 2", put_seq(s, 2, 4000), 0);
	path_of(p, sizeof(p), dir, "00000000000000000001.batch");
	CHECK("file named by 20-digit seq", exists(p));
	CHECK("file is 0600", stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_INT("no .tmp left after put", count_files(dir, ".tmp"), 0);
	jm_spool_depth(s, &count, &bytes);
	CHECK("depth counts files and bytes", count == 2 && bytes == 4100);

	CHECK_INT("oldest", jm_spool_oldest(s, &seq, &d, &len), 0);
	CHECK_INT("oldest is seq 1", seq, 1);
	CHECK("oldest data intact", d && data_is(d, len, 1, 100));
	free(d);
	d = NULL;
	CHECK_INT("oldest again (not consumed by reading)", oldest_seq(s), 1);
	CHECK_INT("remove 1", jm_spool_remove(s, 1), 0);
	CHECK("removed file is gone", !exists(p));
	CHECK_INT("remove of an absent batch is fine", jm_spool_remove(s, 1), 0);
	CHECK_INT("oldest now 2", jm_spool_oldest(s, &seq, &d, &len), 0);
	CHECK("seq 2 data intact", seq == 2 && d && data_is(d, len, 2, 4000));
	free(d);
	d = NULL;

	/* Out-of-order puts still come out in seq order. */
	CHECK_INT("put 5", put_seq(s, 5, 50), 0);
	CHECK_INT("put 3", put_seq(s, 3, 30), 0);
	CHECK_INT("put 4", put_seq(s, 4, 40), 0);
	CHECK_INT("order: 2 first", oldest_seq(s), 2);
	CHECK_INT("remove 2", jm_spool_remove(s, 2), 0);
	CHECK_INT("order: then 3", oldest_seq(s), 3);

	/* A batch deleted behind the spool's back is skipped, not an error. */
	path_of(p, sizeof(p), dir, "00000000000000000003.batch");
	unlink(p);
	CHECK_INT("vanished file skipped: oldest is 4", oldest_seq(s), 4);
	jm_spool_depth(s, &count, NULL);
	CHECK_INT("vanished file forgotten", count, 2);

	/* next_after: the first pending batch above a seq, in seq order;
	 * the vanished 3 is not there. */
	CHECK_INT("next_after 0 is the oldest", jm_spool_next_after(s, 0, &seq, &d, &len), 0);
	CHECK_INT("next_after 0: seq 4", seq, 4);
	free(d);
	d = NULL;
	CHECK_INT("next_after 4", jm_spool_next_after(s, 4, &seq, &d, &len), 0);
	CHECK("next_after 4: seq 5, its data", seq == 5 && d && data_is(d, len, 5, 50));
	free(d);
	d = NULL;
	CHECK_INT("next_after 2 (not pending itself): seq 4",
		  jm_spool_next_after(s, 2, &seq, &d, &len) == 0 ? (int)seq : -1, 4);
	free(d);
	d = NULL;
	CHECK_INT("next_after the newest: -ENOENT", jm_spool_next_after(s, 5, &seq, &d, &len),
		  -ENOENT);
	CHECK("next_after -ENOENT: no buffer", d == NULL && len == 0);

	/* Replacing a batch with the same seq keeps one entry. */
	CHECK_INT("put 4 again", put_seq(s, 4, 44), 0);
	jm_spool_depth(s, &count, &bytes);
	CHECK("replace keeps one entry with the new size", count == 2 && bytes == 44 + 50);
	CHECK_INT("dropped stays 0 below the bound", jm_spool_dropped(s), 0);
	jm_spool_close(s);
}

static void test_reopen(const char *dir)
{
	struct jm_spool *s = NULL;
	char p[700];
	uint64_t seq = 0, count = 0;

	/* The state left by test_basic: batches 4 and 5, seq file at 2.  Add a
	 * crash leftover of each kind and a file that is not ours. */
	path_of(p, sizeof(p), dir, "00000000000000000009.batch.tmp");
	CHECK("plant stale batch .tmp", write_file(p, "half") == 0);
	path_of(p, sizeof(p), dir, "seq.tmp");
	CHECK("plant stale seq.tmp", write_file(p, "77") == 0);
	path_of(p, sizeof(p), dir, "README");
	CHECK("plant foreign file", write_file(p, "keep me") == 0);

	CHECK_INT("reopen", jm_spool_open(&s, dir, 1 << 20), 0);
	if (!s)
		return;
	CHECK_INT("stale .tmp files removed on open", count_files(dir, ".tmp"), 0);
	CHECK("foreign file left alone", exists(p));
	jm_spool_depth(s, &count, NULL);
	CHECK_INT("replayed both batches", count, 2);
	uint8_t *d = NULL;
	size_t len = 0;
	CHECK_INT("replay oldest", jm_spool_oldest(s, &seq, &d, &len), 0);
	CHECK("replay starts at 4 with its data", seq == 4 && d && data_is(d, len, 4, 44));
	free(d);
	CHECK_INT("remove 4 after reopen", jm_spool_remove(s, 4), 0);
	CHECK_INT("replay continues with 5", oldest_seq(s), 5);
	/* The seq file says 2 but batch 5 exists: numbering must skip past it. */
	CHECK_INT("next_seq after reopen", jm_spool_next_seq(s, &seq), 0);
	CHECK_INT("seq file lagging: continues after highest file", seq, 6);
	jm_spool_close(s);

	CHECK_INT("reopen again", jm_spool_open(&s, dir, 1 << 20), 0);
	if (!s)
		return;
	CHECK_INT("next_seq after second reopen", jm_spool_next_seq(s, &seq), 0);
	CHECK_INT("seq persisted across close (no batch 6 on disk)", seq, 7);
	jm_spool_close(s);

	/* A rejected batch with a higher number also counts as used. */
	path_of(p, sizeof(p), dir, "rejected/00000000000000000030.batch");
	CHECK("plant rejected 30", write_file(p, "x") == 0);
	CHECK_INT("reopen with rejected", jm_spool_open(&s, dir, 1 << 20), 0);
	if (!s)
		return;
	CHECK_INT("next_seq", jm_spool_next_seq(s, &seq), 0);
	CHECK_INT("numbering skips past rejected batches", seq, 31);
	jm_spool_close(s);

	path_of(p, sizeof(p), dir, "seq");
	CHECK("corrupt seq file", write_file(p, "12abc\n") == 0);
	s = NULL;
	CHECK_INT("corrupt seq file refused", jm_spool_open(&s, dir, 1 << 20), -EBADMSG);
	jm_spool_close(s);
	CHECK("restore seq file", write_file(p, "31\n") == 0);
	CHECK_INT("max_bytes 0 refused", jm_spool_open(&s, dir, 0), -EINVAL);
}

/* Everything this process writes to stderr goes to a file while fn runs. */
static int capture_stderr(const char *path)
{
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (saved < 0 || fd < 0)
		return -1;
	dup2(fd, STDERR_FILENO);
	close(fd);
	return saved;
}

static void restore_stderr(int saved)
{
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

static int count_lines_with(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static void test_overflow(const char *dir, const char *logpath)
{
	struct jm_spool *s = NULL;
	uint64_t count = 0, bytes = 0;

	CHECK_INT("open with 1000-byte bound", jm_spool_open(&s, dir, 1000), 0);
	if (!s)
		return;
	int saved = capture_stderr(logpath);
	int errs = 0;
	for (uint64_t q = 1; q <= 10; q++) {
		uint64_t seq;
		errs += jm_spool_next_seq(s, &seq) != 0 || seq != q;
		errs += put_seq(s, seq, 300) != 0;
	}
	restore_stderr(saved);
	CHECK_INT("10 puts of 300 bytes succeed", errs, 0);
	jm_spool_depth(s, &count, &bytes);
	CHECK("bound holds: 3 newest kept", count == 3 && bytes == 900);
	CHECK_INT("7 oldest dropped and counted", jm_spool_dropped(s), 7);
	CHECK_INT("oldest kept is 8", oldest_seq(s), 8);
	CHECK_INT("one log line per drop event", count_lines_with(logpath, "dropped 1 oldest"), 7);
	CHECK_INT("log lines carry the prefix",
		  count_lines_with(logpath, "jobmeter-agent: spool: "), 7);
	CHECK_INT("dropped files are gone from disk", count_files(dir, ".batch"), 3);

	saved = capture_stderr(logpath);
	int err = put_seq(s, 11, 1001);
	restore_stderr(saved);
	CHECK_INT("batch larger than the spool: -EFBIG", err, -EFBIG);
	CHECK_INT("... counted as dropped", jm_spool_dropped(s), 8);
	CHECK_INT("... and logged", count_lines_with(logpath, "more than the whole spool"), 1);
	jm_spool_depth(s, &count, NULL);
	CHECK_INT("... and the others stay", count, 3);
	jm_spool_close(s);

	/* Lowering the bound: the excess is dropped on open, oldest first. */
	saved = capture_stderr(logpath);
	err = jm_spool_open(&s, dir, 650);
	restore_stderr(saved);
	CHECK_INT("reopen with a smaller bound", err, 0);
	if (!s)
		return;
	CHECK_INT("excess dropped on open", jm_spool_dropped(s), 1);
	CHECK_INT("newest survive", oldest_seq(s), 9);
	CHECK_INT("drop on open logged once", count_lines_with(logpath, "found on open"), 1);
	jm_spool_close(s);
}

/* Claim the oldest batch for sending; its seq, 0 on error. */
static uint64_t claim(struct jm_spool *s)
{
	uint64_t seq = 0;
	uint8_t *d = NULL;
	size_t len;
	int err = jm_spool_claim_oldest(s, &seq, &d, &len);
	free(d);
	return err ? 0 : seq;
}

/* Put batch seq (300 bytes, bound 1000: the 4th put drops the oldest). */
static int put_next(struct jm_spool *s)
{
	uint64_t seq;
	int err = jm_spool_next_seq(s, &seq);
	return err ? err : put_seq(s, seq, 300);
}

/* A batch deleted for space while the shipper sends it counts as dropped
 * only if that send does not deliver it: remove (2xx) = not lost, release
 * without remove = lost, counted once; batches not being sent count at
 * once, as before. */
static void test_claim(const char *dir, const char *logpath)
{
	struct jm_spool *s = NULL;
	int saved, errs = 0;

	CHECK_INT("claim: open with 1000-byte bound", jm_spool_open(&s, dir, 1000), 0);
	if (!s)
		return;
	saved = capture_stderr(logpath);
	for (int i = 0; i < 3; i++)
		errs += put_next(s) != 0;
	CHECK_INT("claim: seq 1 claimed for sending", claim(s), 1);
	errs += put_next(s) != 0;               /* seq 4: seq 1 deleted for space */
	CHECK_INT("claim: seq 1 deleted for space while sent: not counted yet", jm_spool_dropped(s), 0);
	CHECK_INT("claim: ... its file is gone (the bound holds)", count_files(dir, ".batch"), 3);
	CHECK_INT("claim: delivered, removed", jm_spool_remove(s, 1), 0);
	jm_spool_release(s, 1);
	CHECK_INT("claim: delivered: never counted", jm_spool_dropped(s), 0);

	CHECK_INT("claim: seq 2 claimed", claim(s), 2);
	errs += put_next(s) != 0;               /* seq 5: seq 2 deleted */
	jm_spool_release(s, 2);                 /* the send failed */
	CHECK_INT("claim: send failed: counted once released", jm_spool_dropped(s), 1);
	jm_spool_release(s, 2);
	CHECK_INT("claim: a second release counts nothing", jm_spool_dropped(s), 1);
	CHECK_INT("claim: remove after release counts nothing", jm_spool_remove(s, 2), 0);
	CHECK_INT("claim: ... still 1", jm_spool_dropped(s), 1);

	CHECK_INT("claim: seq 3 claimed", claim(s), 3);
	errs += put_seq(s, 6, 700) != 0;        /* deletes 3 (claimed) and 4 */
	CHECK_INT("claim: the unclaimed batch dropped with it counts at once", jm_spool_dropped(s), 2);
	CHECK_INT("claim: a claim never released settles at the next claim", claim(s), 5);
	CHECK_INT("claim: ... seq 3 counted then", jm_spool_dropped(s), 3);
	jm_spool_release(s, 4);                 /* not the claimed seq: no-op */
	CHECK_INT("claim: releasing another seq changes nothing", jm_spool_dropped(s), 3);
	jm_spool_release(s, 5);                 /* not deleted: nothing to count */
	CHECK_INT("claim: a release of a batch still spooled counts nothing", jm_spool_dropped(s), 3);

	CHECK_INT("claim: plain oldest does not claim", oldest_seq(s), 5);
	errs += put_seq(s, 7, 300) != 0;        /* deletes 5: nobody sends it */
	CHECK_INT("claim: a batch read but not claimed counts at once", jm_spool_dropped(s), 4);
	restore_stderr(saved);
	CHECK_INT("claim: puts succeed", errs, 0);
	CHECK_INT("claim: the deferred drop is said in the log",
		  count_lines_with(logpath, "the one being sent counts only if its send fails"), 3);
	jm_spool_close(s);
}

static void test_reject(const char *dir)
{
	struct jm_spool *s = NULL;
	char rej[700], p[800];
	uint64_t count = 0;

	CHECK_INT("open for reject", jm_spool_open(&s, dir, 1 << 20), 0);
	if (!s)
		return;
	path_of(rej, sizeof(rej), dir, "rejected");
	int errs = 0;
	for (uint64_t q = 1; q <= JM_SPOOL_REJECTED_MAX + 6; q++) {
		uint64_t seq;
		errs += jm_spool_next_seq(s, &seq) != 0;
		errs += put_seq(s, seq, 10) != 0;
		errs += jm_spool_reject(s, seq) != 0;
	}
	CHECK_INT("70 put+reject", errs, 0);
	jm_spool_depth(s, &count, NULL);
	CHECK_INT("rejected batches are no longer pending", count, 0);
	CHECK_INT("rejected/ bounded to JM_SPOOL_REJECTED_MAX", count_files(rej, ".batch"),
		  JM_SPOOL_REJECTED_MAX);
	path_of(p, sizeof(p), rej, "00000000000000000001.batch");
	CHECK("oldest rejected deleted first", !exists(p));
	path_of(p, sizeof(p), rej, "00000000000000000070.batch");
	CHECK("newest rejected kept for inspection", exists(p));
	CHECK_INT("reject of an absent batch: -ENOENT", jm_spool_reject(s, 999), -ENOENT);
	CHECK_INT("rejects are not drops", jm_spool_dropped(s), 0);
	jm_spool_close(s);
}

struct pc {
	struct jm_spool *s;
	int n;
	int put_errors;
	pthread_mutex_t lock;   /* guards done (a mutex so helgrind can follow it) */
	int done;
};

static void *producer(void *arg)
{
	struct pc *pc = arg;
	for (int i = 0; i < pc->n; i++) {
		uint64_t seq;
		if (jm_spool_next_seq(pc->s, &seq) || put_seq(pc->s, seq, 64 + (size_t)i))
			pc->put_errors++;
	}
	pthread_mutex_lock(&pc->lock);
	pc->done = 1;
	pthread_mutex_unlock(&pc->lock);
	return NULL;
}

static void test_concurrent(const char *dir)
{
	struct pc pc = { .n = 100, .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t t;
	CHECK_INT("open for concurrency", jm_spool_open(&pc.s, dir, 1 << 20), 0);
	if (!pc.s)
		return;
	if (pthread_create(&t, NULL, producer, &pc) != 0) {
		CHECK("pthread_create", 0);
		jm_spool_close(pc.s);
		return;
	}
	uint64_t expect = 1;
	int bad = 0, got = 0;
	for (;;) {
		uint64_t seq;
		uint8_t *d = NULL;
		size_t len;
		pthread_mutex_lock(&pc.lock);
		int done = pc.done;
		pthread_mutex_unlock(&pc.lock);
		int err = jm_spool_oldest(pc.s, &seq, &d, &len);
		if (err == -ENOENT) {
			if (done)
				break;
			usleep(200);
			continue;
		}
		if (err || seq != expect || !data_is(d, len, seq, 64 + (size_t)(seq - 1)))
			bad++;
		free(d);
		if (jm_spool_remove(pc.s, seq))
			bad++;
		expect = seq + 1;
		got++;
	}
	pthread_join(t, NULL);
	CHECK_INT("concurrent: producer errors", pc.put_errors, 0);
	CHECK_INT("concurrent: every batch read once, in order, intact", bad, 0);
	CHECK_INT("concurrent: all 100 consumed", got, 100);
	jm_spool_close(pc.s);
}

/* The collector reports it has seqs up to N stored (409 seq conflict): the
 * spool must skip past N, durably, and never move back. */
static void test_advance(const char *dir)
{
	struct jm_spool *s = NULL;
	char p[700], txt[64] = "";
	uint64_t seq = 0;

	CHECK_INT("advance: open fresh", jm_spool_open(&s, dir, 1 << 20), 0);
	if (!s)
		return;
	CHECK_INT("advance: first seq", jm_spool_next_seq(s, &seq), 0);
	CHECK_INT("advance: fresh spool starts at 1", seq, 1);
	CHECK_INT("advance to 40", jm_spool_advance_seq(s, 40), 0);
	path_of(p, sizeof(p), dir, "seq");
	FILE *f = fopen(p, "r");
	if (f) {
		if (!fgets(txt, sizeof(txt), f))
			txt[0] = '\0';
		fclose(f);
	}
	CHECK("advance: persisted in the seq file", strcmp(txt, "40\n") == 0);
	CHECK_INT("advance: next after 40", jm_spool_next_seq(s, &seq), 0);
	CHECK_INT("advance: numbering continues at 41", seq, 41);
	CHECK_INT("advance backwards: not an error", jm_spool_advance_seq(s, 10), 0);
	CHECK_INT("advance to the current value", jm_spool_advance_seq(s, 41), 0);
	CHECK_INT("advance: next after backwards advance", jm_spool_next_seq(s, &seq), 0);
	CHECK_INT("advance never moves backwards", seq, 42);
	CHECK_INT("advance to 100 before close", jm_spool_advance_seq(s, 100), 0);
	jm_spool_close(s);
	s = NULL;
	CHECK_INT("advance: reopen", jm_spool_open(&s, dir, 1 << 20), 0);
	if (!s)
		return;
	CHECK_INT("advance: next after reopen", jm_spool_next_seq(s, &seq), 0);
	CHECK_INT("advance survives reopen", seq, 101);
	jm_spool_close(s);
}

int main(void)
{
	if (!mkdtemp(tmp_root)) {
		printf("FAIL mkdtemp\n");
		return 1;
	}
	char dir[512], log[512];
	snprintf(dir, sizeof(dir), "%s/a/spool", tmp_root);
	test_basic(dir);
	test_reopen(dir);
	snprintf(dir, sizeof(dir), "%s/overflow", tmp_root);
	snprintf(log, sizeof(log), "%s/stderr.log", tmp_root);
	test_overflow(dir, log);
	snprintf(dir, sizeof(dir), "%s/claim", tmp_root);
	test_claim(dir, log);
	snprintf(dir, sizeof(dir), "%s/reject", tmp_root);
	test_reject(dir);
	snprintf(dir, sizeof(dir), "%s/concurrent", tmp_root);
	test_concurrent(dir);
	snprintf(dir, sizeof(dir), "%s/advance", tmp_root);
	test_advance(dir);

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	if (system(cmd) != 0)
		printf("note: could not remove %s\n", tmp_root);
	TEST_EXIT();
}
