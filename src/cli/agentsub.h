/* agentsub.h: the CLI's connection to a running agent (STATE/ipc/agent.sock).
 *
 * `daemoneye events` and `daemoneye run` subscribe to the agent's event
 * stream (Hello with DE_IPC_CAP_EVENTS: every batch the agent stores is
 * sent on); `daemoneye status` asks for a Status. The agent is trusted
 * only when SO_PEERCRED shows root, the caller's own uid, or the owner of
 * the state directory (the daemon user `run` gives it to). Non-blocking,
 * for a poll/epoll loop: open, then de_agent_sub_read() whenever the fd
 * is readable.
 */
#ifndef DE_AGENTSUB_H
#define DE_AGENTSUB_H

#include <stdbool.h>
#include <stddef.h>

#include "ipcconn.h"
#include "source.h"

struct de_agent_sub {
	struct de_ipc_conn c;
	bool ready;           /* HelloAck received and accepted */
	uint64_t caps;        /* agreed capabilities */
	de_event_sink_fn on_event;
	void *ud;
	void (*on_status)(const struct de_ipc_status *st, void *ud);
};

/* Connect to the agent of state_dir and send a Hello asking for caps
 * (DE_IPC_CAP_EVENTS, DE_IPC_CAP_STATUS). Returns 0, or a negative errno
 * with the reason in why (-ENOENT / -ECONNREFUSED: no agent running). */
int de_agent_sub_open(struct de_agent_sub *s, const char *state_dir, uint64_t caps, char *why,
		      size_t why_len);
/* Read what is there: events go to on_event (one call per event of each
 * batch), a Status to on_status. Returns 0 (wait for more), 2 (more may be
 * waiting), 1 at the end of the stream, or a negative errno: -EPERM when
 * the agent refused the Hello, -ECONNABORTED after an Error message,
 * on_event's error (-ECANCELED: the caller is done), frame errors. */
int de_agent_sub_read(struct de_agent_sub *s);
/* Send a StatusRequest (after ready). */
int de_agent_sub_request_status(struct de_agent_sub *s);
void de_agent_sub_close(struct de_agent_sub *s);

#endif
