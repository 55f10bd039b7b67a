/* agentd.c: the agent daemon (see agentd.h). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agentd.h"
#include "agentdet.h"
#include "ipcconn.h"
#include "ledger_rec.h"
#include "log.h"
#include "pidfile.h"
#include "privdrop.h"
#include "proctable.h"
#include "statedir.h"
#include "store.h"

#define MAX_CLIENTS 16
#define CLIENT_OUTQ (8u * 1024u * 1024u)
#define PM_OUTQ (1u * 1024u * 1024u)
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define STATUS_TIMEOUT_MS 1000
#define HELLO_TIMEOUT_MS 5000
/* Group commits: a transaction stays open this long (or until this many
 * events), so a trickle of events does not pay a commit each. */
#define COMMIT_DELAY_MS 25
#define COMMIT_EVENTS 4096
#define AGENT_CAPS                                                                           \
	(DE_IPC_CAP_EVENTS | DE_IPC_CAP_PROC_DETAIL | DE_IPC_CAP_STATUS | DE_IPC_CAP_ACK |   \
	 DE_IPC_CAP_LEDGER | DE_IPC_CAP_CHECKPOINT)

enum { K_SIGNAL = 1, K_LISTEN, K_PM, K_CLIENT = 100 };
enum { S_NONE = 0, S_HELLO, S_READY };

struct client {
	struct de_ipc_conn c;
	int state;
	int64_t hello_deadline;
	bool subscriber;
	bool want_status;
	uint64_t lagged;         /* events this subscriber missed, not yet told */
};

struct agent {
	const struct de_agent_opts *o;
	struct de_store *store;
	struct de_proctable *pt;
	int epfd, sfd, lfd;
	uid_t allow[2];

	struct de_agentdet *det;  /* rules, alert delivery, ledger hand-off */
	uint64_t pm_caps;         /* what procmond's HelloAck offered */
	uint64_t ledger_sent, ledger_skipped;

	struct de_ipc_conn pm;
	int pm_state;
	pid_t pm_pid;            /* the procmond process the seqs belong to */
	int64_t next_connect_ms, hello_deadline;
	int backoff_ms;
	bool warned_down;
	uint64_t last_seq;       /* highest seq added to the store */
	uint64_t committed_seq;  /* highest seq committed (and acknowledged) */
	bool dirty;              /* a transaction is open */
	uint64_t pending;        /* events in it */
	int64_t lo_id, hi_id;    /* store ids of what it holds: (lo, hi] */
	int64_t commit_at_ms;    /* when the open transaction is committed; -1: none open */
	bool in_resync;
	bool status_pending;     /* a StatusRequest is out to procmond */
	int64_t status_deadline;
	struct de_ipc_component pmc;  /* procmond's last status */
	char pm_source[64];
	bool have_pmc;

	struct client cli[MAX_CLIENTS];
	struct de_buf fwd;

	uint64_t events, gaps, duplicates;
	int64_t start_ns, rate_t;
	uint64_t rate_n;
	double rate;
	char sock_path[4096], pm_path[4096], pid_path[4096];
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ms(void) { return mono_ns() / 1000000; }

/* ---- detection (agentdet.h) ------------------------------------------ */

/* After every committed batch, with the store's event ids of that batch
 * (lo, hi]: the rule engine evaluates the new rows, new alerts go to the
 * outbox and to procmond's ledger. Runs in the agent's only loop. */
static void agent_on_commit(struct agent *a, int64_t lo, int64_t hi)
{
	(void)lo;
	if (a->det)
		de_agentdet_on_commit(a->det, hi);
}

/* SIGHUP (`daemoneye rules reload`): reload the rules, atomically. */
static void agent_on_reload(struct agent *a)
{
	if (a->det)
		de_agentdet_reload(a->det);
}

/* A record for the audit ledger (a committed alert, the rule set):
 * procmond is its only writer. */
static void agent_to_ledger(uint32_t type, const char *key, const char *payload, size_t len,
			    void *ud)
{
	struct agent *a = ud;
	if (a->pm_state != S_READY || !(a->pm_caps & DE_IPC_CAP_LEDGER)) {
		a->ledger_skipped++;
		return;
	}
	struct de_ipc_msg m = { .kind = DE_IPC_LEDGER_APPEND,
				.ledger = { .type = type, .key = key, .payload = payload,
					    .len = len } };
	if (de_ipc_conn_send(&a->pm, &m) < 0)
		a->ledger_skipped++;
	else
		a->ledger_sent++;
}

/* ---- procmond connection ------------------------------------------- */

static void set_events(struct agent *a, struct de_ipc_conn *c, uint32_t kind)
{
	struct epoll_event ee = { .events = EPOLLIN, .data.u32 = kind };
	if (de_ipc_outq_pending(&c->q))
		ee.events |= EPOLLOUT;
	epoll_ctl(a->epfd, EPOLL_CTL_MOD, c->fd, &ee);
}

static void pm_schedule(struct agent *a)
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)mono_ns();
	int jitter = a->backoff_ms / 4;
	int delay = a->backoff_ms - jitter + (int)(r % (uint32_t)(2 * jitter + 1));
	a->next_connect_ms = mono_ms() + delay;
	a->backoff_ms = DE_MIN(a->backoff_ms * 2, BACKOFF_MAX_MS);
}

static void answer_status(struct agent *a);
static int commit_pending(struct agent *a);

static void pm_close(struct agent *a, const char *why)
{
	if (!de_ipc_conn_is_open(&a->pm))
		return;
	commit_pending(a); /* what was received is stored; the Ack may not get through */
	log_warning("agent: procmond connection closed: %s; reconnecting", why);
	epoll_ctl(a->epfd, EPOLL_CTL_DEL, a->pm.fd, NULL);
	de_ipc_conn_close(&a->pm);
	a->pm_state = S_NONE;
	a->have_pmc = false;
	if (a->in_resync) {
		de_pt_resync_abort(a->pt);
		a->in_resync = false;
	}
	if (a->status_pending) {
		a->status_pending = false;
		answer_status(a);
	}
	pm_schedule(a);
}

static void pm_connect(struct agent *a)
{
	a->next_connect_ms = -1;
	int fd = de_ipc_connect(a->pm_path, 200);
	if (fd < 0) {
		if (!a->warned_down)
			log_info("agent: procmond not reachable at %s (%s); retrying with backoff",
				 a->pm_path, strerror(-fd));
		a->warned_down = true;
		pm_schedule(a);
		return;
	}
	struct de_ipc_peer peer;
	int r = de_ipc_peer_check(fd, a->allow, DE_ARRAY_SIZE(a->allow), &peer);
	if (r < 0) {
		log_error("agent: %s is served by uid %u (pid %d), not root or uid %u: not trusted",
			  a->pm_path, (unsigned)peer.uid, (int)peer.pid, (unsigned)geteuid());
		close(fd);
		pm_schedule(a);
		return;
	}
	if (de_ipc_conn_open(&a->pm, fd, PM_OUTQ) < 0) {
		pm_schedule(a);
		return;
	}
	a->pm.peer = peer;
	struct epoll_event ee = { .events = EPOLLIN, .data.u32 = K_PM };
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ee);
	struct de_ipc_msg m = { .kind = DE_IPC_HELLO };
	de_ipc_hello_init(&m.hello, DE_IPC_ROLE_AGENT, AGENT_CAPS);
	a->pm_state = S_HELLO;
	a->hello_deadline = mono_ms() + HELLO_TIMEOUT_MS;
	r = de_ipc_conn_send(&a->pm, &m);
	if (r < 0)
		pm_close(a, strerror(-r));
}

static void client_close(struct agent *a, struct client *c, const char *why);

/* Forward a stored batch (its frame payload) to every subscriber. */
static void forward(struct agent *a, const uint8_t *payload, size_t len, size_t n)
{
	bool any = false;
	for (int i = 0; i < MAX_CLIENTS; i++)
		any |= a->cli[i].state == S_READY && a->cli[i].subscriber;
	if (!any)
		return;
	uint8_t hdr[DE_IPC_HDR_LEN];
	de_ipc_hdr_write(hdr, (uint32_t)len);
	de_buf_reset(&a->fwd);
	de_buf_append(&a->fwd, hdr, sizeof(hdr));
	de_buf_append(&a->fwd, payload, len);
	if (a->fwd.err)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &a->cli[i];
		if (c->state != S_READY || !c->subscriber)
			continue;
		if (c->lagged) {
			char detail[128];
			snprintf(detail, sizeof(detail),
				 "agent: %" PRIu64 " events not shown: this client did not keep up",
				 c->lagged);
			struct de_event ev = { .type = DE_EV_STATUS, .source = DE_EVSRC_EBPF,
					       .status = DE_ST_DROPS, .detail = detail };
			ev.drops[0] = c->lagged;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ev.time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
			struct de_ipc_msg m = { .kind = DE_IPC_EVENT_BATCH,
						.batch = { .n = 1, .events = &ev } };
			de_arena_reset(c->c.scratch);
			if (de_ipc_outq_push_msg(&c->c.q, &m, NULL, c->c.scratch) >= 0)
				c->lagged = 0;
		}
		int r = c->lagged ? -ENOBUFS : de_ipc_outq_push(&c->c.q, a->fwd.data, a->fwd.len);
		if (r == -ENOBUFS)
			c->lagged += n;
		r = de_ipc_conn_flush(&c->c);
		if (r < 0)
			client_close(a, c, strerror(-r));
		else
			set_events(a, &c->c, K_CLIENT + (uint32_t)i);
	}
}

/* Add one batch to the open transaction: skip what we have, apply to the
 * process table, store. Committed (with the hook and the Ack) by
 * commit_pending(): COMMIT_DELAY_MS after the first event of the
 * transaction, at COMMIT_EVENTS events, before a disconnect, at stop. */
static int ingest(struct agent *a, const struct de_ipc_batch *b, const uint8_t *payload, size_t len)
{
	size_t fresh = 0;
	if (!a->dirty)
		a->lo_id = de_store_last_event_id(a->store);
	for (size_t i = 0; i < b->n; i++) {
		const struct de_event *ev = &b->events[i];
		if (ev->seq <= a->last_seq) {
			a->duplicates++;
			continue;
		}
		if (a->last_seq && ev->seq > a->last_seq + 1)
			a->gaps += ev->seq - a->last_seq - 1;
		if (ev->type == DE_EV_SNAPSHOT && !a->in_resync) {
			de_pt_resync_begin(a->pt);
			a->in_resync = true;
		}
		int r = de_pt_apply(a->pt, ev);
		if (r < 0 && r != -EINVAL)
			de_log_errno(DE_LOG_WARNING, r, "agent: process table");
		if (ev->type == DE_EV_STATUS && ev->status == DE_ST_RESYNC && a->in_resync) {
			de_pt_resync_end(a->pt, ev->time_ns);
			a->in_resync = false;
		}
		int64_t id = de_store_add(a->store, ev);
		if (id < 0) {
			log_error("agent: storing event %" PRIu64 ": %s (%s)", ev->seq, strerror((int)-id),
				  de_store_errmsg(a->store));
			return (int)id;
		}
		a->hi_id = id;
		a->last_seq = ev->seq;
		a->dirty = true;
		fresh++;
	}
	a->pending += fresh;
	if (fresh)
		forward(a, payload, len, fresh);
	return 0;
}

/* Commit what ingest() added, then the detection hook, then the Ack: an
 * event is acknowledged (and procmond forgets it) only once stored. On a
 * failed commit nothing is acknowledged and the connection is reset, so
 * procmond sends it all again. */
static int commit_pending(struct agent *a)
{
	if (!a->dirty)
		return 0;
	a->dirty = false;
	a->commit_at_ms = -1;
	int r = de_store_commit(a->store);
	if (r < 0) {
		log_error("agent: commit: %s (%s)", strerror(-r), de_store_errmsg(a->store));
		a->last_seq = a->committed_seq;
		a->pending = 0;
		return r;
	}
	a->commit_at_ms = -1;
	a->committed_seq = a->last_seq;
	a->events += a->pending;
	a->pending = 0;
	agent_on_commit(a, a->lo_id, a->hi_id);
	struct de_ipc_msg ack = { .kind = DE_IPC_ACK, .ack_seq = a->committed_seq };
	r = de_ipc_conn_send(&a->pm, &ack);
	return r == -ENOBUFS ? 0 : r < 0 ? r : 0;
}

static int on_pm_frame(const uint8_t *payload, size_t len, void *ud)
{
	struct agent *a = ud;
	struct de_ipc_msg m;
	int r = de_ipc_conn_decode(&a->pm, payload, len, &m);
	if (r < 0) {
		log_warning("agent: procmond sent a malformed message: %s", de_ipc_strerror(r));
		return r;
	}
	if (a->pm_state == S_HELLO) {
		if (m.kind != DE_IPC_HELLO_ACK)
			return -EPROTO;
		if (!m.hello_ack.accepted) {
			log_error("agent: procmond refused us: %s",
				  m.hello_ack.reason ? m.hello_ack.reason : "no reason given");
			return -EPERM;
		}
		if (a->pm.peer.pid != a->pm_pid) {
			a->last_seq = a->committed_seq = 0; /* another procmond run: a new seq space */
			a->pm_pid = a->pm.peer.pid;
		}
		a->pm_state = S_READY;
		a->pm_caps = m.hello_ack.caps;
		if (a->det)
			de_agentdet_announce(a->det);
		a->backoff_ms = BACKOFF_MIN_MS;
		a->warned_down = false;
		log_info("agent: connected to procmond (pid %d, uid %u)", (int)a->pm.peer.pid,
			 (unsigned)a->pm.peer.uid);
		return 0;
	}
	switch (m.kind) {
	case DE_IPC_EVENT_BATCH:
		return ingest(a, &m.batch, payload, len);
	case DE_IPC_STATUS:
		if (m.status.n > 0) {
			a->pmc = m.status.components[0];
			snprintf(a->pm_source, sizeof(a->pm_source), "%s",
				 a->pmc.source ? a->pmc.source : "");
			a->pmc.source = a->pm_source;
			a->pmc.component = "procmond";
			a->have_pmc = true;
		}
		if (a->status_pending) {
			a->status_pending = false;
			answer_status(a);
		}
		return 0;
	case DE_IPC_LEDGER_CHECKPOINT:
		if (a->det)
			de_agentdet_checkpoint(a->det, m.note);
		return 0;
	case DE_IPC_ERROR:
		log_warning("agent: procmond: error %d: %s", m.error.code,
			    m.error.message ? m.error.message : "");
		return -ECONNABORTED;
	default:
		return -EPROTO;
	}
}

static void on_pm(struct agent *a, uint32_t events)
{
	if (events & EPOLLOUT) {
		int r = de_ipc_conn_flush(&a->pm);
		if (r < 0) {
			pm_close(a, strerror(-r));
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		int r = de_ipc_read_frames(a->pm.fd, a->pm.rd, on_pm_frame, a);
		int c = 0;
		if (r < 0 || r == 1 || a->pending >= COMMIT_EVENTS)
			c = commit_pending(a);
		else if (a->dirty && a->commit_at_ms < 0)
			a->commit_at_ms = mono_ms() + COMMIT_DELAY_MS;
		if (c < 0 && r >= 0)
			r = c;
		if (r == 1) {
			pm_close(a, "end of stream");
			return;
		}
		if (r < 0) {
			pm_close(a, de_ipc_strerror(r));
			return;
		}
	}
	set_events(a, &a->pm, K_PM);
}

/* ---- CLI clients ------------------------------------------------------ */

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	unsigned long long size = 0, res = 0;
	if (f) {
		if (fscanf(f, "%llu %llu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void own_component(struct agent *a, struct de_ipc_component *c)
{
	int64_t now = mono_ns();
	if (now - a->rate_t >= 1000000000) {
		a->rate = (double)(a->events - a->rate_n) * 1e9 / (double)(now - a->rate_t);
		a->rate_t = now;
		a->rate_n = a->events;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	uint64_t eff = 0;
	de_caps_get(&eff, NULL, NULL);
	uint64_t pending = 0;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (a->cli[i].state != S_NONE)
			pending += de_ipc_outq_pending(&a->cli[i].c.q);
	*c = (struct de_ipc_component){
		.component = "agent",
		.source = a->pm_state == S_READY ? "procmond" : "procmond (disconnected)",
		.pid = getpid(),
		.uid = geteuid(),
		.cap_eff = eff,
		.events_per_sec = a->rate,
		.drops = a->gaps,
		.queue_depth = pending,
		.uptime_ns = (uint64_t)(now - a->start_ns),
		.cpu_ns = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
			  (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull,
		.rss_bytes = rss_bytes(),
	};
}

/* Answer every client waiting for a status: procmond's part when it
 * answered, the agent's own always. */
static void answer_status(struct agent *a)
{
	struct de_ipc_component comps[2];
	size_t n = 0;
	if (a->have_pmc && a->pm_state == S_READY)
		comps[n++] = a->pmc;
	own_component(a, &comps[n++]);
	struct de_ipc_msg m = { .kind = DE_IPC_STATUS, .status = { .n = n, .components = comps } };
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &a->cli[i];
		if (c->state != S_READY || !c->want_status)
			continue;
		c->want_status = false;
		int r = de_ipc_conn_send(&c->c, &m);
		if (r < 0 && r != -ENOBUFS)
			client_close(a, c, strerror(-r));
		else
			set_events(a, &c->c, K_CLIENT + (uint32_t)i);
	}
}

static void client_close(struct agent *a, struct client *c, const char *why)
{
	if (c->state == S_NONE)
		return;
	log_debug("agent: CLI client (pid %d) closed: %s", (int)c->c.peer.pid, why);
	epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->c.fd, NULL);
	de_ipc_conn_close(&c->c);
	c->state = S_NONE;
}

struct client_ctx {
	struct agent *a;
	struct client *c;
};

static int on_client_frame(const uint8_t *payload, size_t len, void *ud)
{
	struct client_ctx *x = ud;
	struct client *c = x->c;
	struct agent *a = x->a;
	struct de_ipc_msg m;
	int r = de_ipc_conn_decode(&c->c, payload, len, &m);
	if (r < 0) {
		log_warning("agent: CLI client (pid %d, uid %u): malformed message: %s; closing",
			    (int)c->c.peer.pid, (unsigned)c->c.peer.uid, de_ipc_strerror(r));
		de_ipc_conn_send_error(&c->c, r, "malformed message");
		return r;
	}
	if (c->state == S_HELLO) {
		if (m.kind != DE_IPC_HELLO) {
			de_ipc_conn_send_error(&c->c, EPROTO, "Hello expected");
			return -EPROTO;
		}
		struct de_ipc_msg ack = { .kind = DE_IPC_HELLO_ACK };
		r = de_ipc_hello_answer(&m.hello, 1u << DE_IPC_ROLE_CLI,
					DE_IPC_CAP_EVENTS | DE_IPC_CAP_STATUS, &ack.hello_ack);
		de_ipc_conn_send(&c->c, &ack);
		if (r < 0) {
			log_warning("agent: CLI client (pid %d) refused: %s", (int)c->c.peer.pid,
				    ack.hello_ack.reason);
			return r;
		}
		c->state = S_READY;
		c->subscriber = ack.hello_ack.caps & DE_IPC_CAP_EVENTS;
		return 0;
	}
	if (m.kind != DE_IPC_STATUS_REQUEST) {
		de_ipc_conn_send_error(&c->c, EPROTO, "unexpected message");
		return -EPROTO;
	}
	c->want_status = true;
	if (a->pm_state == S_READY) {
		if (!a->status_pending) {
			struct de_ipc_msg q = { .kind = DE_IPC_STATUS_REQUEST };
			if (de_ipc_conn_send(&a->pm, &q) >= 0) {
				a->status_pending = true;
				a->status_deadline = mono_ms() + STATUS_TIMEOUT_MS;
			}
		}
		if (a->status_pending)
			return 0;
	}
	answer_status(a);
	return 0;
}

static void on_client(struct agent *a, int i, uint32_t events)
{
	struct client *c = &a->cli[i];
	if (events & EPOLLOUT) {
		int r = de_ipc_conn_flush(&c->c);
		if (r < 0) {
			client_close(a, c, strerror(-r));
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		struct client_ctx x = { a, c };
		int r = de_ipc_read_frames(c->c.fd, c->c.rd, on_client_frame, &x);
		if (r == 1 || r < 0) {
			client_close(a, c, r == 1 ? "end of stream" : de_ipc_strerror(r));
			return;
		}
	}
	if (c->state != S_NONE)
		set_events(a, &c->c, K_CLIENT + (uint32_t)i);
}

static void on_listen(struct agent *a)
{
	for (;;) {
		struct de_ipc_peer peer = { 0 };
		int fd = de_ipc_accept(a->lfd, a->allow, DE_ARRAY_SIZE(a->allow), &peer);
		if (fd == -EAGAIN)
			return;
		if (fd == -EPERM) {
			log_warning("agent: refused a CLI connection from uid %u (pid %d): not allowed",
				    (unsigned)peer.uid, (int)peer.pid);
			continue;
		}
		if (fd < 0)
			return;
		int slot = -1;
		for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
			if (a->cli[i].state == S_NONE)
				slot = i;
		if (slot < 0) {
			log_warning("agent: refused a CLI connection (pid %d): %d clients already",
				    (int)peer.pid, MAX_CLIENTS);
			close(fd);
			continue;
		}
		struct client *c = &a->cli[slot];
		*c = (struct client){ 0 };
		if (de_ipc_conn_open(&c->c, fd, CLIENT_OUTQ) < 0)
			continue;
		c->c.peer = peer;
		c->state = S_HELLO;
		c->hello_deadline = mono_ms() + HELLO_TIMEOUT_MS;
		struct epoll_event ee = { .events = EPOLLIN, .data.u32 = K_CLIENT + (uint32_t)slot };
		epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ee);
	}
}

/* ---- the loop ---------------------------------------------------------- */

/* Deadlines: reconnect, Hello timeouts, a status procmond did not answer. */
static int next_timeout(struct agent *a)
{
	int64_t now = mono_ms(), t = -1;
	if (a->pm_state == S_NONE && a->next_connect_ms >= 0)
		t = a->next_connect_ms;
	if (a->pm_state == S_HELLO)
		t = t < 0 ? a->hello_deadline : DE_MIN(t, a->hello_deadline);
	if (a->status_pending)
		t = t < 0 ? a->status_deadline : DE_MIN(t, a->status_deadline);
	if (a->commit_at_ms >= 0)
		t = t < 0 ? a->commit_at_ms : DE_MIN(t, a->commit_at_ms);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (a->cli[i].state == S_HELLO)
			t = t < 0 ? a->cli[i].hello_deadline : DE_MIN(t, a->cli[i].hello_deadline);
	int det = a->det ? de_agentdet_timeout_ms(a->det) : -1;
	if (det >= 0)
		t = t < 0 ? now + det : DE_MIN(t, now + det);
	if (t < 0)
		return -1;
	return t <= now ? 0 : (int)DE_MIN(t - now, (int64_t)INT32_MAX);
}

static void on_deadlines(struct agent *a)
{
	int64_t now = mono_ms();
	if (a->commit_at_ms >= 0 && now >= a->commit_at_ms) {
		int r = commit_pending(a);
		if (r < 0)
			pm_close(a, strerror(-r));
	}
	if (a->pm_state == S_NONE && a->next_connect_ms >= 0 && now >= a->next_connect_ms)
		pm_connect(a);
	if (a->pm_state == S_HELLO && now >= a->hello_deadline)
		pm_close(a, "no HelloAck within 5 s");
	if (a->status_pending && now >= a->status_deadline) {
		a->status_pending = false;
		a->have_pmc = false;
		answer_status(a);
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (a->cli[i].state == S_HELLO && now >= a->cli[i].hello_deadline)
			client_close(a, &a->cli[i], "no Hello within 5 s");
	if (a->det && de_agentdet_timeout_ms(a->det) == 0)
		de_agentdet_tick(a->det);
}

static int loop(struct agent *a)
{
	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(a->epfd, evs, 16, next_timeout(a));
		if (n < 0 && errno != EINTR)
			return de_neg_errno();
		for (int i = 0; i < n; i++) {
			uint32_t k = evs[i].data.u32;
			if (k == K_SIGNAL) {
				struct signalfd_siginfo si;
				if (read(a->sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					agent_on_reload(a);
					continue;
				}
				log_info("agent: stopping on signal %u", si.ssi_signo);
				return 0;
			} else if (k == K_LISTEN) {
				on_listen(a);
			} else if (k == K_PM) {
				if (de_ipc_conn_is_open(&a->pm))
					on_pm(a, evs[i].events);
			} else if (k >= K_CLIENT && k < K_CLIENT + MAX_CLIENTS) {
				if (a->cli[k - K_CLIENT].state != S_NONE)
					on_client(a, (int)(k - K_CLIENT), evs[i].events);
			}
		}
		on_deadlines(a);
	}
}

int de_agent_main(const struct de_agent_opts *o)
{
	if (geteuid() == 0 && !o->allow_root) {
		log_error("agent: refusing to run as root: the agent needs no privilege (start it as "
			  "the daemoneye user, through 'daemoneye run', or pass --allow-root)");
		return -EPERM;
	}
	struct agent a_s = { .o = o, .epfd = -1, .sfd = -1, .lfd = -1, .pm = { .fd = -1 },
			     .fwd = DE_BUF_INIT, .backoff_ms = BACKOFF_MIN_MS, .commit_at_ms = -1 };
	struct agent *a = &a_s;
	for (int i = 0; i < MAX_CLIENTS; i++)
		a->cli[i].c.fd = -1;
	a->start_ns = a->rate_t = mono_ns();
	a->allow[0] = 0;
	a->allow[1] = geteuid();
	int r = 0;
	char why[512], path[4096], ipc_dir[4096];

	de_state_path(o->state_dir, DE_STATE_PROCMOND_SOCK, a->pm_path, sizeof(a->pm_path));
	de_state_path(o->state_dir, DE_STATE_AGENT_SOCK, a->sock_path, sizeof(a->sock_path));
	de_state_path(o->state_dir, DE_STATE_IPC_DIR, ipc_dir, sizeof(ipc_dir));
	de_state_path(o->state_dir, DE_STATE_AGENT_PID, a->pid_path, sizeof(a->pid_path));
	if (mkdir(o->state_dir, 0750) < 0 && errno != EEXIST) {
		r = de_log_errno(DE_LOG_ERROR, de_neg_errno(), "agent: creating %s", o->state_dir);
		goto out;
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	a->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (a->sfd < 0 || a->epfd < 0) {
		r = de_log_errno(DE_LOG_ERROR, de_neg_errno(), "agent: setting up the loop");
		goto out;
	}

	de_state_path(o->state_dir, DE_STATE_STORE, path, sizeof(path));
	struct de_store_opts so = { .path = path };
	a->store = de_store_open(&so, why, sizeof(why));
	if (!a->store) {
		r = de_neg_errno();
		log_error("agent: store %s: %s", path, why);
		goto out;
	}
	struct de_agentdet_opts dop = { .cfg = o->cfg, .store = a->store, .store_path = path,
					.state_dir = o->state_dir, .config_file = o->config_file,
					.rules_dir = o->rules_dir, .ledger_fn = agent_to_ledger, .ud = a };
	if ((r = de_agentdet_open(&dop, &a->det, why, sizeof(why))) < 0) {
		log_error("agent: %s", why);
		goto out;
	}
	struct de_pt_opts pto = { .max_exited = o->max_exited ? o->max_exited : 8192 };
	a->pt = de_pt_new(&pto);
	if (!a->pt) {
		r = -ENOMEM;
		goto out;
	}
	char group[256];
	struct de_ipc_listen_opts lo = { .dir = ipc_dir, .name = strrchr(a->sock_path, '/') + 1,
					 .group = de_ipc_group_name(getegid(), group, sizeof(group)) };
	if ((a->lfd = de_ipc_listen(&lo)) < 0) {
		r = de_log_errno(DE_LOG_ERROR, a->lfd, "agent: listening on %s", a->sock_path);
		goto out;
	}
	if ((r = de_pidfile_write(a->pid_path)) < 0) {
		de_log_errno(DE_LOG_ERROR, r, "agent: writing %s", a->pid_path);
		a->pid_path[0] = '\0';
		goto out;
	}
	struct epoll_event ee = { .events = EPOLLIN, .data.u32 = K_SIGNAL };
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->sfd, &ee);
	ee.data.u32 = K_LISTEN;
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->lfd, &ee);
	log_info("agent: running as uid %u; store %s; CLI socket %s", (unsigned)geteuid(), path,
		 a->sock_path);
	pm_connect(a);
	r = loop(a);
	commit_pending(a);
out:
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (a->cli[i].state != S_NONE)
			de_ipc_conn_close(&a->cli[i].c);
	de_ipc_conn_close(&a->pm);
	if (a->lfd >= 0) {
		close(a->lfd);
		unlink(a->sock_path);
	}
	if (a->pid_path[0])
		de_pidfile_remove(a->pid_path);
	if (a->sfd >= 0)
		close(a->sfd);
	if (a->epfd >= 0)
		close(a->epfd);
	de_pt_free(a->pt);
	de_agentdet_close(a->det);
	de_store_close(a->store);
	de_buf_free(&a->fwd);
	return r;
}
