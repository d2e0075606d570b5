/* A deadline for every HTTP exchange of a libmicrohttpd server.
 *
 * libmicrohttpd closes a connection only when it stays idle for its
 * timeout, so a client that sends its request a byte every few seconds (or
 * never reads the answer) holds a connection for as long as it likes, and
 * a handful of them fill the connection limits: /metrics and /healthz stop
 * answering, and a Kubernetes liveness probe restarts the agent.  The guard
 * gives each exchange (request in, answer out) a deadline counted from the
 * connection's start or from the end of its previous answer, and shuts down
 * the socket of one that misses it; libmicrohttpd then closes the
 * connection as a broken one.
 *
 * Wiring: pass jm_http_guard_on_connection with MHD_OPTION_NOTIFY_CONNECTION
 * and jm_http_guard_on_completed with MHD_OPTION_NOTIFY_COMPLETED, the
 * guard as their cls, and at most max_conns connections
 * (MHD_OPTION_CONNECTION_LIMIT).  Stop the daemon before the guard. */
#ifndef JM_HTTP_GUARD_H
#define JM_HTTP_GUARD_H

#include <microhttpd.h>
#include <stdint.h>

struct jm_http_guard;

/* Starts the guard's thread, which looks at the connections once a second.
 * 0 or -errno. */
__attribute__((warn_unused_result))
int jm_http_guard_start(struct jm_http_guard **out, unsigned max_conns, unsigned deadline_s);

void jm_http_guard_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
				 enum MHD_ConnectionNotificationCode code);
void jm_http_guard_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
				enum MHD_RequestTerminationCode toe);

/* Connections cut at the deadline so far. */
uint64_t jm_http_guard_cut(const struct jm_http_guard *g);

/* Stops the thread and frees the guard (NULL is fine). */
void jm_http_guard_stop(struct jm_http_guard *g);

#endif
