/* The HTTP exchange deadline (contract: http_guard.h).
 *
 * Shutting down a socket libmicrohttpd may close at the same moment is safe
 * because of one ordering: it notifies MHD_CONNECTION_NOTIFY_CLOSED before
 * it closes the descriptor, and that notification frees the slot under the
 * same lock the sweep holds while it calls shutdown().  So a descriptor in
 * a slot is always still the connection's own, never a number the process
 * has reused for something else. */
#include "http_guard.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

struct guard_slot {
	int fd;                       /* -1: free */
	int64_t since_ns;             /* CLOCK_MONOTONIC: start of the current exchange */
};

struct jm_http_guard {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	unsigned n_slots;
	int64_t deadline_ns;
	uint64_t cut;                 /* atomic: read by the metrics renderer */
	pthread_t thread;
	struct guard_slot *slots;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Under the lock. */
static void sweep(struct jm_http_guard *g, int64_t now)
{
	for (unsigned i = 0; i < g->n_slots; i++) {
		struct guard_slot *s = &g->slots[i];

		if (s->fd < 0 || now - s->since_ns < g->deadline_ns)
			continue;
		/* libmicrohttpd sees end of file and an error on its next
		 * read or write, and closes the connection. */
		shutdown(s->fd, SHUT_RDWR);
		s->since_ns = now;            /* once, not every second */
		__atomic_add_fetch(&g->cut, 1, __ATOMIC_RELAXED);
	}
}

static void *guard_main(void *arg)
{
	struct jm_http_guard *g = arg;

	pthread_mutex_lock(&g->lock);
	while (!g->stopping) {
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&g->wake, &g->lock, &until);
		if (!g->stopping)
			sweep(g, mono_ns());
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int jm_http_guard_start(struct jm_http_guard **out, unsigned max_conns, unsigned deadline_s)
{
	struct jm_http_guard *g;
	pthread_condattr_t ca;
	int err = -ENOMEM;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->slots = calloc(max_conns ? max_conns : 1, sizeof(*g->slots));
	if (!g->slots)
		goto out_free;
	g->n_slots = max_conns;
	for (unsigned i = 0; i < max_conns; i++)
		g->slots[i].fd = -1;
	g->deadline_ns = (int64_t)deadline_s * 1000000000;
	if (pthread_mutex_init(&g->lock, NULL))
		goto out_free;
	if (pthread_condattr_init(&ca))
		goto out_mutex;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(&g->wake, &ca)) {
		pthread_condattr_destroy(&ca);
		goto out_mutex;
	}
	pthread_condattr_destroy(&ca);
	err = -pthread_create(&g->thread, NULL, guard_main, g);
	if (err)
		goto out_cond;
	*out = g;
	return 0;
out_cond:
	pthread_cond_destroy(&g->wake);
out_mutex:
	pthread_mutex_destroy(&g->lock);
out_free:
	free(g->slots);
	free(g);
	return err;
}

void jm_http_guard_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
				 enum MHD_ConnectionNotificationCode code)
{
	struct jm_http_guard *g = cls;
	struct guard_slot *s = *socket_context;

	pthread_mutex_lock(&g->lock);
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		/* No free slot cannot happen under the connection limit; such
		 * a connection would only go without a deadline. */
		for (unsigned i = 0; ci && i < g->n_slots; i++) {
			if (g->slots[i].fd >= 0)
				continue;
			g->slots[i].fd = ci->connect_fd;
			g->slots[i].since_ns = mono_ns();
			*socket_context = &g->slots[i];
			break;
		}
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && s) {
		s->fd = -1;
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&g->lock);
}

void jm_http_guard_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
				enum MHD_RequestTerminationCode toe)
{
	struct jm_http_guard *g = cls;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	(void)con_cls;
	(void)toe;

	if (!ci || !ci->socket_context)
		return;
	/* The answer is out: the next request on this connection (keep-alive)
	 * has the whole deadline again. */
	pthread_mutex_lock(&g->lock);
	((struct guard_slot *)ci->socket_context)->since_ns = mono_ns();
	pthread_mutex_unlock(&g->lock);
}

uint64_t jm_http_guard_cut(const struct jm_http_guard *g)
{
	return g ? __atomic_load_n(&g->cut, __ATOMIC_RELAXED) : 0;
}

void jm_http_guard_stop(struct jm_http_guard *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stopping = true;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g->slots);
	free(g);
}
