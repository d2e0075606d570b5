/* Group commit: see writer.h. */
#include "tools/collector/writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A request thread waiting for its batch: lives on that thread's stack
 * from jm_coll_writer_submit until the writer marked it done. */
struct waiter {
	struct waiter *next;
	const Jobmeter__V1__Batch *batch;
	int64_t received_ns;
	struct jm_coll_store_result res;
	bool done;
	pthread_cond_t cond;          /* signalled once, with done set */
};

struct jm_coll_writer {
	pthread_mutex_t lock;         /* guards everything up to `thread` */
	pthread_cond_t work;          /* CLOCK_MONOTONIC; the writer waits on it */
	struct waiter *head, *tail;   /* FIFO of queued batches */
	unsigned queued;
	unsigned announced;           /* batches being decoded, not yet queued */
	unsigned inside;              /* threads inside jm_coll_writer_submit */
	pthread_cond_t left;          /* signalled when `inside` drops to 0 */
	bool writer_waiting;          /* the writer sleeps on `work`: signal it */
	bool stopping;
	pthread_t thread;
	struct jm_coll_store *store;
	struct jm_coll_metrics *metrics;
	struct jm_coll_writer_config cfg;
	/* Owned by the writer thread alone. */
	struct waiter **group;
	struct jm_coll_store_item *items;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void wake_writer(struct jm_coll_writer *w)
{
	if (w->writer_waiting)
		pthread_cond_signal(&w->work);
}

static void wait_work(struct jm_coll_writer *w, const struct timespec *deadline, bool *timed_out)
{
	w->writer_waiting = true;
	if (deadline)
		*timed_out = pthread_cond_timedwait(&w->work, &w->lock, deadline) == ETIMEDOUT;
	else
		pthread_cond_wait(&w->work, &w->lock);
	w->writer_waiting = false;
}

/* Called with the lock held and the queue not empty.  Batches still being
 * decoded will be queued within a millisecond or so: waiting that long for
 * them costs less than the fsync a separate group would. */
static void linger(struct jm_coll_writer *w)
{
	struct timespec deadline;
	bool timed_out = false;

	if (!w->cfg.group_wait_us)
		return;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_nsec += (long)(w->cfg.group_wait_us % 1000000u) * 1000;
	deadline.tv_sec += (time_t)(w->cfg.group_wait_us / 1000000u) + deadline.tv_nsec / 1000000000;
	deadline.tv_nsec %= 1000000000;
	while (!timed_out && w->announced > 0 && w->queued < w->cfg.group_max && !w->stopping)
		wait_work(w, &deadline, &timed_out);
}

static void *writer_main(void *arg)
{
	struct jm_coll_writer *w = arg;

	/* Shows in top -H and /proc/PID/task/TID/comm (ingest_bench.sh). */
	pthread_setname_np(pthread_self(), "jm-writer");
	pthread_mutex_lock(&w->lock);
	for (;;) {
		size_t n = 0;
		double t0;
		int rc;

		while (!w->head && !w->stopping)
			wait_work(w, NULL, NULL);
		if (!w->head)
			break;   /* stopping, and everything queued is answered */
		linger(w);
		while (w->head && n < w->cfg.group_max) {
			struct waiter *x = w->head;

			w->head = x->next;
			w->group[n] = x;
			w->items[n].batch = x->batch;
			w->items[n].received_ns = x->received_ns;
			n++;
		}
		if (!w->head)
			w->tail = NULL;
		w->queued -= (unsigned)n;
		/* Requests keep queueing while this group is written. */
		pthread_mutex_unlock(&w->lock);
		t0 = now_s();
		rc = jm_coll_store_batches(w->store, w->items, n);
		if (w->metrics)
			jm_coll_metrics_commit(w->metrics, rc == 0, n, now_s() - t0);
		pthread_mutex_lock(&w->lock);
		for (size_t i = 0; i < n; i++) {
			w->group[i]->res = w->items[i].res;
			w->group[i]->done = true;
			/* Under the lock: the waiter cannot see done and
			 * destroy its condition before this returns. */
			pthread_cond_signal(&w->group[i]->cond);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void writer_free(struct jm_coll_writer *w)
{
	pthread_cond_destroy(&w->left);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->lock);
	free(w->group);
	free(w->items);
	free(w);
}

int jm_coll_writer_start(struct jm_coll_store *st, struct jm_coll_metrics *metrics,
			 const struct jm_coll_writer_config *cfg, struct jm_coll_writer **out,
			 char *err, size_t err_len)
{
	struct jm_coll_writer *w = NULL;
	pthread_condattr_t ca;
	bool ca_ready = false, lock_ready = false, work_ready = false, left_ready = false;

	*out = NULL;
	if (cfg->queue_max == 0 || cfg->group_max == 0) {
		snprintf(err, err_len, "writer: queue and group sizes must be at least 1");
		return -1;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		goto nomem;
	w->store = st;
	w->metrics = metrics;
	w->cfg = *cfg;
	w->group = calloc(cfg->group_max, sizeof(*w->group));
	w->items = calloc(cfg->group_max, sizeof(*w->items));
	if (!w->group || !w->items)
		goto nomem;
	if (pthread_mutex_init(&w->lock, NULL))
		goto nomem;
	lock_ready = true;
	/* Monotonic: a wall-clock step must not stretch the group wait. */
	if (pthread_condattr_init(&ca))
		goto nomem;
	ca_ready = true;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(&w->work, &ca))
		goto nomem;
	work_ready = true;
	if (pthread_cond_init(&w->left, NULL))
		goto nomem;
	left_ready = true;
	pthread_condattr_destroy(&ca);
	ca_ready = false;
	if (pthread_create(&w->thread, NULL, writer_main, w)) {
		snprintf(err, err_len, "writer: cannot start thread");
		goto fail;
	}
	*out = w;
	return 0;
nomem:
	snprintf(err, err_len, "writer: out of memory");
fail:
	if (ca_ready)
		pthread_condattr_destroy(&ca);
	if (w) {
		if (left_ready)
			pthread_cond_destroy(&w->left);
		if (work_ready)
			pthread_cond_destroy(&w->work);
		if (lock_ready)
			pthread_mutex_destroy(&w->lock);
		free(w->group);
		free(w->items);
		free(w);
	}
	return -1;
}

void jm_coll_writer_announce(struct jm_coll_writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->announced++;
	pthread_mutex_unlock(&w->lock);
}

void jm_coll_writer_cancel(struct jm_coll_writer *w)
{
	pthread_mutex_lock(&w->lock);
	if (w->announced > 0)
		w->announced--;
	/* A lingering writer need not wait for this one any more. */
	wake_writer(w);
	pthread_mutex_unlock(&w->lock);
}

static void refuse(struct jm_coll_store_result *res, const char *why)
{
	memset(res, 0, sizeof(*res));
	res->rc = JM_STORE_BUSY;
	snprintf(res->err, sizeof(res->err), "%s", why);
}

enum jm_coll_store_rc jm_coll_writer_submit(struct jm_coll_writer *w, const Jobmeter__V1__Batch *b,
					    int64_t received_ns, int announced,
					    struct jm_coll_store_result *res)
{
	struct waiter me = { .batch = b, .received_ns = received_ns };

	if (pthread_cond_init(&me.cond, NULL)) {
		if (announced)
			jm_coll_writer_cancel(w);
		refuse(res, "out of memory");
		return res->rc;
	}
	pthread_mutex_lock(&w->lock);
	w->inside++;
	if (announced && w->announced > 0)
		w->announced--;
	if (w->stopping || w->queued >= w->cfg.queue_max) {
		/* Back-pressure: the agent keeps the batch and retries. */
		refuse(res, w->stopping ? "shutting down" : "ingest queue full");
		/* The writer may be lingering for this very batch. */
		wake_writer(w);
	} else {
		if (w->tail)
			w->tail->next = &me;
		else
			w->head = &me;
		w->tail = &me;
		w->queued++;
		wake_writer(w);
		while (!me.done)
			pthread_cond_wait(&me.cond, &w->lock);
		*res = me.res;
	}
	if (--w->inside == 0 && w->stopping)
		pthread_cond_signal(&w->left);
	pthread_mutex_unlock(&w->lock);
	pthread_cond_destroy(&me.cond);
	return res->rc;
}

void jm_coll_writer_stop(struct jm_coll_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	/* Woken submitters may still be on their way out through the lock:
	 * free nothing under their feet. */
	pthread_mutex_lock(&w->lock);
	while (w->inside > 0)
		pthread_cond_wait(&w->left, &w->lock);
	pthread_mutex_unlock(&w->lock);
	writer_free(w);
}
