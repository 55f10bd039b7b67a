/* agentsub.c: see agentsub.h. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentsub.h"
#include "log.h"
#include "statedir.h"

int de_agent_sub_open(struct de_agent_sub *s, const char *state_dir, uint64_t caps, char *why,
		      size_t why_len)
{
	char path[4096];
	int r = de_state_path(state_dir, DE_STATE_AGENT_SOCK, path, sizeof(path));
	if (r < 0) {
		de_why(why, why_len, "state directory path too long");
		return r;
	}
	s->c.fd = -1;
	s->ready = false;
	int fd = de_ipc_connect(path, 1000);
	if (fd < 0) {
		de_why(why, why_len, "%s: %s", path, strerror(-fd));
		return fd;
	}
	struct stat st;
	uid_t allow[3] = { 0, getuid(), 0 };
	if (stat(state_dir, &st) == 0)
		allow[2] = st.st_uid;
	struct de_ipc_peer peer;
	if ((r = de_ipc_peer_check(fd, allow, DE_ARRAY_SIZE(allow), &peer)) < 0) {
		de_why(why, why_len, "%s is served by uid %u, not trusted", path, (unsigned)peer.uid);
		close(fd);
		return r;
	}
	if ((r = de_ipc_conn_open(&s->c, fd, 1u << 20)) < 0) {
		de_why(why, why_len, "out of memory");
		return r;
	}
	s->c.peer = peer;
	struct de_ipc_msg m = { .kind = DE_IPC_HELLO };
	de_ipc_hello_init(&m.hello, DE_IPC_ROLE_CLI, caps);
	r = de_ipc_conn_send(&s->c, &m);
	if (r < 0) {
		de_why(why, why_len, "sending Hello: %s", strerror(-r));
		de_ipc_conn_close(&s->c);
		return r;
	}
	return 0;
}

static int on_frame(const uint8_t *payload, size_t len, void *ud)
{
	struct de_agent_sub *s = ud;
	struct de_ipc_msg m;
	int r = de_ipc_conn_decode(&s->c, payload, len, &m);
	if (r < 0)
		return r;
	switch (m.kind) {
	case DE_IPC_HELLO_ACK:
		if (!m.hello_ack.accepted) {
			log_error("the agent refused this client: %s",
				  m.hello_ack.reason ? m.hello_ack.reason : "no reason given");
			return -EPERM;
		}
		s->ready = true;
		s->caps = m.hello_ack.caps;
		return 0;
	case DE_IPC_EVENT_BATCH:
		for (size_t i = 0; i < m.batch.n && s->on_event; i++)
			if ((r = s->on_event(&m.batch.events[i], s->ud)) < 0)
				return r;
		return 0;
	case DE_IPC_STATUS:
		if (s->on_status)
			s->on_status(&m.status, s->ud);
		return 0;
	case DE_IPC_ERROR:
		log_error("the agent closed the connection: %s (%d)",
			  m.error.message ? m.error.message : "", m.error.code);
		return -ECONNABORTED;
	default:
		return -EPROTO;
	}
}

int de_agent_sub_read(struct de_agent_sub *s)
{
	return de_ipc_read_frames(s->c.fd, s->c.rd, on_frame, s);
}

int de_agent_sub_request_status(struct de_agent_sub *s)
{
	struct de_ipc_msg m = { .kind = DE_IPC_STATUS_REQUEST };
	int r = de_ipc_conn_send(&s->c, &m);
	return r < 0 ? r : 0;
}

void de_agent_sub_close(struct de_agent_sub *s)
{
	de_ipc_conn_close(&s->c);
	s->ready = false;
}
