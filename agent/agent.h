/* The daemon's context: everything the agent owns, wired together.  main.c
 * runs the loop; this module decides what happens on each tick. */
#ifndef JM_AGENT_H
#define JM_AGENT_H
#include "cli.h"
#include "config.h"

struct jm_agent;

int jm_agent_open(struct jm_agent **out, const struct jm_config *cfg,
		  const struct jm_cli_opts *opts) __attribute__((warn_unused_result));
void jm_agent_close(struct jm_agent *ag);
void jm_agent_epoll_fds(struct jm_agent *ag, int fds[2]);
/* Drain both ring buffers. */
void jm_agent_poll(struct jm_agent *ag);
/* The last poll before stopping: ended runs still waiting for figures
 * (jm_tracker_flush_exits_all) are written as they are. */
void jm_agent_poll_final(struct jm_agent *ag);
/* Once a second: sample live job processes. */
void jm_agent_sample(struct jm_agent *ag);
/* Once an interval: windows, loss line, batch. */
void jm_agent_window(struct jm_agent *ag);
/* After the last window of a clean stop: the next start will not count the
 * last interval as lost (see load_loss in agent.c). */
void jm_agent_stopped_cleanly(struct jm_agent *ag);
#endif
