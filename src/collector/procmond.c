/* procmond.c: the collector daemon (see procmond.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "evqueue.h"
#include "ipcconn.h"
#include "log.h"
#include "pidfile.h"
#include "pmledger.h"
#include "privdrop.h"
#include "procmond.h"
#include "sandbox.h"
#include "spill.h"
#include "statedir.h"

#define MEM_CAP_DEFAULT (16u * 1024u * 1024u)
#define QUEUE_CAP_DEFAULT (64u * 1024u * 1024u)
#define OUTQ_CAP (8u * 1024u * 1024u)
#define HELLO_TIMEOUT_MS 5000
#define TRIM_QUIET_MS 2000 /* quiet after activity before freed memory goes back */
#define PROCMOND_CAPS (DE_CAP_BIT(CAP_SYS_PTRACE) | DE_CAP_BIT(CAP_DAC_READ_SEARCH))
#define OFFERED_CAPS (DE_IPC_CAP_EVENTS | DE_IPC_CAP_PROC_DETAIL | DE_IPC_CAP_STATUS | DE_IPC_CAP_ACK)

enum { K_LISTEN = 1, K_CONN, K_SIGNAL, K_QUEUE, K_DONE };
enum { C_NONE = 0, C_HELLO, C_READY };

/* ---- the daemon ----------------------------------------------------- */

/* One encoded EventBatch frame kept until the agent acknowledges it. */
struct frame {
	struct frame *next;
	uint64_t last_seq;
	size_t len;
	uint8_t data[];
};

struct pm {
	const struct de_procmond_opts *o;
	struct de_collector *col;
	struct de_evqueue q;
	pthread_t th;
	bool th_started;
	int th_ret;
	int epfd, lfd, sfd, done_fd;

	struct de_ipc_conn conn;
	int state;
	int64_t hello_deadline;
	uid_t allow[2];
	bool had_agent;

	/* unacknowledged frames in memory; cursor: the first not yet queued to the agent */
	struct frame *head, *tail, *cursor;
	size_t mem_bytes, mem_cap;
	struct de_spill *spill;
	uint64_t *sp_seq;          /* last seq of each spilled frame, oldest first */
	size_t sp_first, sp_n, sp_cap;
	struct de_buf fbuf, sbuf;
	struct de_arena *scratch;

	uint64_t seq, acked;
	uint64_t report[DE_EV__COUNT]; /* dropped since the last delivered drop report */
	uint64_t dropped_total, source_drops;
	bool need_resync;

	char source[16];
	uint64_t events;
	int64_t start_ns, rate_t;
	uint64_t rate_n;
	double rate;
	struct de_privdrop_result who;
	char sock_path[4096], pid_path[4096];
	struct de_pmledger led;    /* the audit ledger (pmledger.h) */
	bool agent_ledger;         /* the agent negotiated DE_IPC_CAP_LEDGER */
	bool agent_cp;             /* ... and DE_IPC_CAP_CHECKPOINT */
	uint64_t note_sent;        /* generation of the last checkpoint note sent to it */
	char stop_why[128];        /* for the STOP record */
	int64_t trim_at_ms;        /* when to give freed memory back (0: nothing to give) */
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void conn_events(struct pm *pm)
{
	if (!de_ipc_conn_is_open(&pm->conn))
		return;
	struct epoll_event ee = { .events = EPOLLIN, .data.u32 = K_CONN };
	if (de_ipc_outq_pending(&pm->conn.q))
		ee.events |= EPOLLOUT;
	epoll_ctl(pm->epfd, EPOLL_CTL_MOD, pm->conn.fd, &ee);
}

static void conn_close(struct pm *pm, const char *why)
{
	if (!de_ipc_conn_is_open(&pm->conn))
		return;
	log_info("procmond: agent connection (pid %d, uid %u) closed: %s", (int)pm->conn.peer.pid,
		 (unsigned)pm->conn.peer.uid, why);
	epoll_ctl(pm->epfd, EPOLL_CTL_DEL, pm->conn.fd, NULL);
	de_ipc_conn_close(&pm->conn);
	pm->state = C_NONE;
	pm->cursor = pm->head;
}

static int sp_push_seq(struct pm *pm, uint64_t last)
{
	if (pm->sp_first + pm->sp_n == pm->sp_cap) {
		if (pm->sp_first) {
			memmove(pm->sp_seq, pm->sp_seq + pm->sp_first, pm->sp_n * sizeof(uint64_t));
			pm->sp_first = 0;
		} else {
			size_t cap = pm->sp_cap ? pm->sp_cap * 2 : 1024;
			uint64_t *p = realloc(pm->sp_seq, cap * sizeof(uint64_t));
			if (!p)
				return -ENOMEM;
			pm->sp_seq = p;
			pm->sp_cap = cap;
		}
	}
	pm->sp_seq[pm->sp_first + pm->sp_n++] = last;
	return 0;
}

static int mem_append(struct pm *pm, const void *data, size_t len, uint64_t last_seq)
{
	struct frame *f = malloc(sizeof(*f) + len);
	if (!f)
		return -ENOMEM;
	f->next = NULL;
	f->last_seq = last_seq;
	f->len = len;
	memcpy(f->data, data, len);
	if (pm->tail)
		pm->tail->next = f;
	else
		pm->head = f;
	pm->tail = f;
	if (!pm->cursor)
		pm->cursor = f;
	pm->mem_bytes += len;
	return 0;
}

static void report_drops(struct pm *pm);

/* Events dropped and not yet reported. */
static uint64_t unreported_drops(const struct pm *pm)
{
	uint64_t total = 0;
	for (int i = 0; i < DE_EV__COUNT; i++)
		total += pm->report[i];
	return total;
}

/* Queue what can go to the agent: memory frames, then frames read back
 * from the spill as memory frees up. */
static void pump(struct pm *pm)
{
	if (pm->state != C_READY)
		return;
	for (;;) {
		while (pm->cursor &&
		       de_ipc_outq_pending(&pm->conn.q) + pm->cursor->len <= pm->conn.q.cap) {
			if (de_ipc_outq_push(&pm->conn.q, pm->cursor->data, pm->cursor->len) < 0)
				break;
			pm->cursor = pm->cursor->next;
		}
		if (pm->cursor || !pm->sp_n)
			break;
		int64_t len = de_spill_peek(pm->spill, &pm->sbuf);
		if (len <= 0) {
			if (len < 0)
				de_log_errno(DE_LOG_ERROR, (int)len, "procmond: reading the spill");
			break;
		}
		if (pm->mem_bytes + (size_t)len > pm->mem_cap && pm->head)
			break;
		if (mem_append(pm, pm->sbuf.data, (size_t)len, pm->sp_seq[pm->sp_first]) < 0)
			break;
		de_spill_pop(pm->spill);
		pm->sp_first++;
		pm->sp_n--;
	}
	int r = de_ipc_conn_flush(&pm->conn);
	if (r < 0) {
		conn_close(pm, strerror(-r));
		return;
	}
	if (pm->need_resync && !pm->sp_n) {
		/* The drop report goes out first: the resync's snapshot must not
		 * reach the agent ahead of the report that announces it. */
		report_drops(pm);
		if (!unreported_drops(pm)) {
			pm->need_resync = false;
			de_collector_request_resync(pm->col);
		}
	}
	conn_events(pm);
}

/* Keep a frame: memory when it has room and nothing older waits on disk,
 * else the spill, else drop it (counted in report[] by the caller). */
static int deliver(struct pm *pm, const void *data, size_t len, uint64_t last_seq)
{
	if (!pm->sp_n && (pm->mem_bytes + len <= pm->mem_cap || !pm->head)) {
		int r = mem_append(pm, data, len, last_seq);
		if (r == 0)
			return 0;
	}
	int r = de_spill_push(pm->spill, data, len);
	if (r == 0)
		r = sp_push_seq(pm, last_seq);
	return r;
}

static void count_types(const struct de_event *ev, size_t n, uint64_t *counts)
{
	for (size_t i = 0; i < n; i++)
		counts[(unsigned)ev[i].type < DE_EV__COUNT ? ev[i].type : 0]++;
}

/* Encode ev[0..n) (seqs already set, consecutive) as one frame, halving on
 * -EMSGSIZE, and deliver it. Returns false when (some of) it was dropped:
 * counted in report[] and dropped_total, and a resync is due. */
static bool send_events(struct pm *pm, struct de_event *ev, size_t n, uint64_t spilled)
{
	if (!n)
		return true;
	bool resync = false;
	for (size_t i = 0; i < n; i++)
		resync |= ev[i].type == DE_EV_SNAPSHOT;
	struct de_ipc_msg m = { .kind = DE_IPC_EVENT_BATCH,
				.batch = { .first_seq = ev[0].seq, .resync = resync, .spilled = spilled,
					   .n = n, .events = ev } };
	de_buf_reset(&pm->fbuf);
	de_arena_reset(pm->scratch);
	int64_t r = de_ipc_encode(&m, NULL, pm->scratch, &pm->fbuf);
	if (r == -EMSGSIZE && n > 1) {
		bool a = send_events(pm, ev, n / 2, spilled);
		bool b = send_events(pm, ev + n / 2, n - n / 2, 0);
		return a && b;
	}
	if (r >= 0 && deliver(pm, pm->fbuf.data, pm->fbuf.len, ev[n - 1].seq) == 0)
		return true;
	if (r < 0)
		de_log_errno(DE_LOG_ERROR, (int)r, "procmond: encoding %zu events", n);
	count_types(ev, n, pm->report);
	pm->dropped_total += n;
	pm->need_resync = true;
	return false;
}

/* A DE_ST_DROPS report for what was dropped since the last one. */
static void report_drops(struct pm *pm)
{
	uint64_t total = unreported_drops(pm);
	if (!total)
		return;
	char detail[256];
	snprintf(detail, sizeof(detail),
		 "procmond: %" PRIu64 " events dropped: agent away or slow and the spill "
		 "(%" PRIu64 " bytes) full, or the event queue full; a resync snapshot follows", total,
		 de_spill_bytes(pm->spill));
	struct de_event ev = { .type = DE_EV_STATUS, .status = DE_ST_DROPS, .detail = detail,
			       .seq = ++pm->seq };
	enum de_event_source src = DE_EVSRC_EBPF;
	if (!strcmp(pm->source, "netlink"))
		src = DE_EVSRC_NETLINK;
	else if (!strcmp(pm->source, "proc"))
		src = DE_EVSRC_PROC;
	ev.source = src;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ev.time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	memcpy(ev.drops, pm->report, sizeof(ev.drops));
	uint64_t saved[DE_EV__COUNT];
	memcpy(saved, pm->report, sizeof(saved));
	memset(pm->report, 0, sizeof(pm->report));
	if (send_events(pm, &ev, 1, total)) {
		log_warning("%s", detail);
		de_pmledger_drops(&pm->led, pm->source, total, detail);
		return;
	}
	/* The report was dropped too (and counted): try again next time. */
	for (int i = 0; i < DE_EV__COUNT; i++)
		pm->report[i] += saved[i];
}

/* Take what the collector thread queued, number it, encode and deliver. */
static void drain_queue(struct pm *pm)
{
	struct de_evq_chunk *c = de_evqueue_take(&pm->q, pm->report);
	while (c) {
		for (size_t i = 0; i < c->n; i++) {
			struct de_event *ev = &c->ev[i];
			ev->seq = ++pm->seq;
			pm->events++;
			if (ev->type == DE_EV_STATUS && ev->status == DE_ST_STARTED)
				snprintf(pm->source, sizeof(pm->source), "%s",
					 de_event_source_name(ev->source));
			if (ev->type == DE_EV_STATUS && ev->status == DE_ST_DROPS)
				for (int k = 0; k < DE_EV__COUNT; k++)
					pm->source_drops += ev->drops[k];
		}
		send_events(pm, c->ev, c->n, 0);
		for (size_t i = 0; i < c->n; i++)
			de_pmledger_event(&pm->led, &c->ev[i]);
		struct de_evq_chunk *next = c->next;
		de_evqueue_chunk_free(c);
		c = next;
	}
	report_drops(pm);
	pump(pm);
}

static void on_ack(struct pm *pm, uint64_t seq)
{
	if (seq > pm->acked)
		pm->acked = seq;
	while (pm->head && pm->head->last_seq <= seq) {
		struct frame *f = pm->head;
		if (pm->cursor == f)
			pm->cursor = f->next;
		pm->head = f->next;
		if (!pm->head)
			pm->tail = NULL;
		pm->mem_bytes -= f->len;
		free(f);
	}
	pump(pm);
}

static uint64_t rss_bytes(void)
{
	char buf[128];
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	unsigned long long size = 0, res = 0;
	if (sscanf(buf, "%llu %llu", &size, &res) != 2)
		return 0;
	return res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void send_status(struct pm *pm)
{
	int64_t now = mono_ns();
	if (now - pm->rate_t >= 1000000000) {
		pm->rate = (double)(pm->events - pm->rate_n) * 1e9 / (double)(now - pm->rate_t);
		pm->rate_t = now;
		pm->rate_n = pm->events;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	uint64_t eff = 0;
	de_caps_get(&eff, NULL, NULL);
	struct de_ipc_component comp = {
		.component = "procmond",
		.source = pm->source,
		.pid = getpid(),
		.uid = geteuid(),
		.cap_eff = eff,
		.events_per_sec = pm->rate,
		.drops = pm->dropped_total + pm->source_drops,
		.queue_depth = pm->seq - DE_MIN(pm->seq, pm->acked),
		.uptime_ns = (uint64_t)(now - pm->start_ns),
		.cpu_ns = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
			  (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull,
		.rss_bytes = rss_bytes(),
	};
	de_pmledger_status(&pm->led, &comp);
	struct de_ipc_msg m = { .kind = DE_IPC_STATUS, .status = { .n = 1, .components = &comp } };
	int r = de_ipc_conn_send(&pm->conn, &m);
	if (r < 0 && r != -ENOBUFS)
		conn_close(pm, strerror(-r));
}

/* A LedgerAppend from the agent (the only role this socket accepts): an
 * alert or a rule set, when the ledger capability was negotiated. A
 * refusal is logged and answered with an Error; the connection stays. */
static void on_ledger_append(struct pm *pm, const struct de_ipc_ledger_append *a)
{
	int r = pm->agent_ledger ? de_pmledger_agent_append(&pm->led, a) : -EPROTO;
	if (r == 0)
		return;
	const char *what = r == -EPERM ? "record type not allowed"
			   : r == -EPROTO ? "ledger capability not negotiated"
					  : "not recorded";
	log_warning("procmond: agent (pid %d): LedgerAppend type %u refused: %s (%s)",
		    (int)pm->conn.peer.pid, (unsigned)a->type, what, strerror(-r));
	de_ipc_conn_send_error(&pm->conn, -r, what);
}

/* Hand the ledger's latest checkpoint note to the agent (to publish it
 * through the alert sinks) when it is new to this connection. A full
 * output buffer is retried after the next tick. */
static void send_note(struct pm *pm)
{
	uint64_t gen;
	const char *note = de_pmledger_note(&pm->led, &gen);
	if (pm->state != C_READY || !pm->agent_cp || gen == pm->note_sent || !*note)
		return;
	struct de_ipc_msg m = { .kind = DE_IPC_LEDGER_CHECKPOINT, .note = note };
	int r = de_ipc_conn_send(&pm->conn, &m);
	if (r >= 0)
		pm->note_sent = gen;
	else if (r != -ENOBUFS)
		conn_close(pm, strerror(-r));
}

static int on_frame(const uint8_t *payload, size_t len, void *ud)
{
	struct pm *pm = ud;
	struct de_ipc_msg m;
	int r = de_ipc_conn_decode(&pm->conn, payload, len, &m);
	if (r < 0) {
		log_warning("procmond: agent (pid %d): malformed message: %s", (int)pm->conn.peer.pid,
			    de_ipc_strerror(r));
		de_ipc_conn_send_error(&pm->conn, r, "malformed message");
		return r;
	}
	if (pm->state == C_HELLO) {
		if (m.kind != DE_IPC_HELLO) {
			log_warning("procmond: agent (pid %d): %s before Hello", (int)pm->conn.peer.pid,
				    de_ipc_kind_name(m.kind));
			de_ipc_conn_send_error(&pm->conn, EPROTO, "Hello expected");
			return -EPROTO;
		}
		struct de_ipc_msg ack = { .kind = DE_IPC_HELLO_ACK };
		uint64_t offer = OFFERED_CAPS;
		if (de_pmledger_active(&pm->led))
			offer |= DE_IPC_CAP_LEDGER | DE_IPC_CAP_CHECKPOINT;
		r = de_ipc_hello_answer(&m.hello, 1u << DE_IPC_ROLE_AGENT, offer, &ack.hello_ack);
		pm->agent_ledger = r >= 0 && (ack.hello_ack.caps & DE_IPC_CAP_LEDGER);
		pm->agent_cp = r >= 0 && (ack.hello_ack.caps & DE_IPC_CAP_CHECKPOINT);
		pm->note_sent = 0;
		de_ipc_conn_send(&pm->conn, &ack);
		if (r < 0) {
			log_warning("procmond: peer pid %d refused: %s", (int)pm->conn.peer.pid,
				    ack.hello_ack.reason);
			return r;
		}
		pm->state = C_READY;
		pm->cursor = pm->head;
		log_info("procmond: agent connected (pid %d, uid %u)", (int)pm->conn.peer.pid,
			 (unsigned)pm->conn.peer.uid);
		/* A new agent (or one that restarted) needs the live processes:
		 * the first one gets the startup snapshot, which is still queued. */
		if (pm->had_agent)
			pm->need_resync = true;
		pm->had_agent = true;
		send_note(pm);
		return 0;
	}
	switch (m.kind) {
	case DE_IPC_ACK:
		on_ack(pm, m.ack_seq);
		return 0;
	case DE_IPC_STATUS_REQUEST:
		send_status(pm);
		return 0;
	case DE_IPC_LEDGER_APPEND:
		on_ledger_append(pm, &m.ledger);
		return 0;
	default:
		log_warning("procmond: agent (pid %d): unexpected %s", (int)pm->conn.peer.pid,
			    de_ipc_kind_name(m.kind));
		de_ipc_conn_send_error(&pm->conn, EPROTO, "unexpected message");
		return -EPROTO;
	}
}

static void on_conn(struct pm *pm, uint32_t events)
{
	if (events & EPOLLOUT) {
		int r = de_ipc_conn_flush(&pm->conn);
		if (r < 0) {
			conn_close(pm, strerror(-r));
			return;
		}
		pump(pm);
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || !de_ipc_conn_is_open(&pm->conn))
		return;
	int r = de_ipc_read_frames(pm->conn.fd, pm->conn.rd, on_frame, pm);
	if (r == 1)
		conn_close(pm, "end of stream");
	else if (r < 0)
		conn_close(pm, de_ipc_strerror(r));
	else
		pump(pm);
}

static void on_listen(struct pm *pm)
{
	for (;;) {
		struct de_ipc_peer peer = { 0 };
		int fd = de_ipc_accept(pm->lfd, pm->allow, DE_ARRAY_SIZE(pm->allow), &peer);
		if (fd == -EAGAIN)
			return;
		if (fd == -EPERM) {
			log_warning("procmond: refused a connection from uid %u (pid %d): not allowed",
				    (unsigned)peer.uid, (int)peer.pid);
			continue;
		}
		if (fd < 0) {
			de_log_errno(DE_LOG_WARNING, fd, "procmond: accept");
			return;
		}
		if (de_ipc_conn_is_open(&pm->conn)) {
			log_warning("procmond: refused a second agent connection (pid %d)", (int)peer.pid);
			close(fd);
			continue;
		}
		if (de_ipc_conn_open(&pm->conn, fd, OUTQ_CAP) < 0)
			continue;
		pm->conn.peer = peer;
		pm->state = C_HELLO;
		pm->hello_deadline = mono_ns() / 1000000 + HELLO_TIMEOUT_MS;
		struct epoll_event ee = { .events = EPOLLIN, .data.u32 = K_CONN };
		if (epoll_ctl(pm->epfd, EPOLL_CTL_ADD, fd, &ee) < 0)
			conn_close(pm, "epoll");
	}
}

static void *collector_thread(void *ud)
{
	struct pm *pm = ud;
	pthread_setname_np(pthread_self(), "de-collector"); /* top -H, ps -L */
	pm->th_ret = de_collector_run(pm->col, -1);
	uint64_t one = 1;
	if (write(pm->done_fd, &one, sizeof(one)) < 0)
		log_error("procmond: collector stopped and the loop cannot be told");
	return NULL;
}

static int add_fd(struct pm *pm, int fd, uint32_t kind)
{
	struct epoll_event ee = { .events = EPOLLIN, .data.u32 = kind };
	return epoll_ctl(pm->epfd, EPOLL_CTL_ADD, fd, &ee) < 0 ? de_neg_errno() : 0;
}

/* Bind the socket. The IPC directory belongs to the daemon user (the
 * agent puts its socket there too), but the socket layer trusts only a
 * directory owned by its caller or root: as root, take it back first,
 * bind, then hand it to the daemon user again. */
static int listen_socket(struct pm *pm, const char *state)
{
	char dir[4096];
	int r = de_state_path(state, DE_STATE_IPC_DIR, dir, sizeof(dir));
	if (r < 0 || (r = de_state_path(state, DE_STATE_PROCMOND_SOCK, pm->sock_path,
					sizeof(pm->sock_path))) < 0)
		return r;
	bool root = geteuid() == 0;
	struct stat st;
	if (root && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == pm->who.uid &&
	    lchown(dir, 0, (gid_t)-1) < 0)
		return de_neg_errno();
	char group[256];
	struct de_ipc_listen_opts lo = { .dir = dir, .name = strrchr(pm->sock_path, '/') + 1,
					 .group = de_ipc_group_name(pm->who.gid, group, sizeof(group)) };
	int fd = de_ipc_listen(&lo);
	if (fd < 0)
		return fd;
	if (root && lchown(dir, pm->who.uid, (gid_t)-1) < 0) {
		r = de_neg_errno();
		close(fd);
		return r;
	}
	return fd;
}

int de_procmond_prepare_state(const char *state_dir, uid_t uid, gid_t gid, char *why,
			      size_t why_len)
{
	char spill[4096];
	int r = de_state_path(state_dir, DE_STATE_SPILL_DIR, spill, sizeof(spill));
	if (r < 0) {
		de_why(why, why_len, "%s: path too long", state_dir);
		return r;
	}
	const char *dirs[] = { state_dir, spill };
	for (size_t i = 0; i < DE_ARRAY_SIZE(dirs); i++) {
		if (mkdir(dirs[i], 0750) < 0 && errno != EEXIST) {
			de_why(why, why_len, "creating %s: %m", dirs[i]);
			return de_neg_errno();
		}
		struct stat st;
		if (lstat(dirs[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			de_why(why, why_len, "%s is not a directory", dirs[i]);
			return -ENOTDIR;
		}
		if (geteuid() == 0 && (lchown(dirs[i], uid, gid) < 0 || chmod(dirs[i], 0750) < 0)) {
			de_why(why, why_len, "giving %s to uid %u: %m", dirs[i], (unsigned)uid);
			return de_neg_errno();
		}
	}
	return 0;
}

static void pm_free(struct pm *pm)
{
	if (pm->th_started) {
		pthread_kill(pm->th, SIGTERM);
		pthread_join(pm->th, NULL);
	}
	de_pmledger_close(&pm->led, pm->stop_why[0] ? pm->stop_why : "stopped");
	de_collector_close(pm->col);
	de_evqueue_free(&pm->q);
	while (pm->head) {
		struct frame *f = pm->head;
		pm->head = f->next;
		free(f);
	}
	de_ipc_conn_close(&pm->conn);
	de_spill_close(pm->spill);
	free(pm->sp_seq);
	de_buf_free(&pm->fbuf);
	de_buf_free(&pm->sbuf);
	de_arena_free(pm->scratch);
	if (pm->lfd >= 0) {
		close(pm->lfd);
		unlinkat(AT_FDCWD, pm->sock_path, 0);
	}
	if (pm->pid_path[0])
		de_pidfile_remove(pm->pid_path);
	int fds[] = { pm->epfd, pm->sfd, pm->done_fd };
	for (size_t i = 0; i < DE_ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Events and acknowledgements free what bursts allocated (frames, the
 * collector's records and images of exited processes), but malloc keeps
 * most freed pages: once the daemon has been quiet for TRIM_QUIET_MS after
 * some activity, hand them back to the kernel. One wakeup per burst, none
 * at rest. */
static void trim_when_quiet(struct pm *pm, bool active)
{
	int64_t now = mono_ns() / 1000000;
	if (active)
		pm->trim_at_ms = now + TRIM_QUIET_MS;
	else if (pm->trim_at_ms && now >= pm->trim_at_ms) {
		malloc_trim(0);
		pm->trim_at_ms = 0;
	}
}

static int loop(struct pm *pm)
{
	for (;;) {
		int timeout = -1;
		if (pm->state == C_HELLO) {
			int64_t left = pm->hello_deadline - mono_ns() / 1000000;
			if (left <= 0) {
				conn_close(pm, "no Hello within 5 s");
				continue;
			}
			timeout = (int)left;
		}
		int lt = de_pmledger_timeout_ms(&pm->led);
		if (lt >= 0 && (timeout < 0 || lt < timeout))
			timeout = lt;
		if (pm->trim_at_ms) {
			int64_t left = pm->trim_at_ms - mono_ns() / 1000000;
			lt = left < 0 ? 0 : (int)left;
			if (timeout < 0 || lt < timeout)
				timeout = lt;
		}
		struct epoll_event evs[8];
		int n = epoll_wait(pm->epfd, evs, 8, timeout);
		if (n < 0 && errno != EINTR)
			return de_neg_errno();
		trim_when_quiet(pm, n > 0);
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case K_SIGNAL: {
				struct signalfd_siginfo si;
				if (read(pm->sfd, &si, sizeof(si)) == sizeof(si)) {
					log_info("procmond: stopping on signal %u", si.ssi_signo);
					snprintf(pm->stop_why, sizeof(pm->stop_why), "signal %u",
						 si.ssi_signo);
				}
				return 0;
			}
			case K_DONE:
				drain_queue(pm);
				if (pm->th_ret < 0)
					de_log_errno(DE_LOG_ERROR, pm->th_ret, "procmond: collector stopped");
				snprintf(pm->stop_why, sizeof(pm->stop_why), "collector stopped: %s",
					 pm->th_ret < 0 ? strerror(-pm->th_ret) : "end");
				return pm->th_ret;
			case K_QUEUE:
				drain_queue(pm);
				break;
			case K_LISTEN:
				on_listen(pm);
				break;
			case K_CONN:
				if (de_ipc_conn_is_open(&pm->conn))
					on_conn(pm, evs[i].events);
				break;
			}
		}
		de_pmledger_tick(&pm->led);
		send_note(pm);
	}
}

/* glibc raises its mmap threshold to the largest block freed so far (up
 * to 32 MiB) and its trim threshold to twice that. The first snapshot's
 * megabyte buffers would set both high for good: from then on, every
 * large block (hash worker tables, index arrays) would come from the heap
 * and be written whole by calloc, and no freed heap memory would go back
 * to the kernel. Fixed thresholds keep large blocks in their own mappings,
 * resident only where touched and returned on free (0.4-0.5 MiB of RSS
 * with 10,000 processes, docs/BENCHMARKS.md). */
static void tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
}

int de_procmond_main(const struct de_procmond_opts *o)
{
	tune_malloc();
	struct pm pm_s = { .o = o, .epfd = -1, .lfd = -1, .sfd = -1, .done_fd = -1,
			   .conn = { .fd = -1 }, .fbuf = DE_BUF_INIT, .sbuf = DE_BUF_INIT };
	struct pm *pm = &pm_s;
	if (de_evqueue_init(&pm->q, o->queue_cap ? o->queue_cap : QUEUE_CAP_DEFAULT) < 0) {
		log_error("procmond: event queue: %m");
		return -ENOMEM;
	}
	pm->mem_cap = o->mem_cap ? o->mem_cap : MEM_CAP_DEFAULT;
	pm->start_ns = pm->rate_t = mono_ns();
	snprintf(pm->source, sizeof(pm->source), "none");
	char why[1024];
	int r;

	struct de_privdrop_opts po = { .user = o->user, .keep_caps = PROCMOND_CAPS };
	if ((r = de_privdrop_target(&po, &pm->who, why, sizeof(why))) < 0) {
		log_error("procmond: %s", why);
		goto out;
	}
	pm->allow[0] = 0;
	pm->allow[1] = pm->who.uid;
	if ((r = de_procmond_prepare_state(o->state_dir, pm->who.uid, pm->who.gid, why,
					   sizeof(why))) < 0) {
		log_error("procmond: state directory: %s", why);
		goto out;
	}

	/* Signals: blocked in every thread (the collector thread inherits the
	 * mask), read here through a signalfd. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	pm->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	pm->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pm->epfd = epoll_create1(EPOLL_CLOEXEC);
	pm->scratch = de_arena_new(64u * 1024u * 1024u);
	if (pm->sfd < 0 || pm->done_fd < 0 || pm->epfd < 0 || !pm->scratch) {
		r = de_log_errno(DE_LOG_ERROR, de_neg_errno(), "procmond: setting up the loop");
		goto out;
	}

	/* 1. As root: the event source (BPF programs, netlink subscription). */
	struct de_collector_opts co = { .cfg = o->cfg, .source = o->cfg->collector.source,
					.sink = de_evqueue_sink, .sink_ud = &pm->q,
					.flush = de_evqueue_flush,
					.stop_on_signals = true, .table = true, .hash = true };
	if ((r = de_collector_open(&co, &pm->col, why, sizeof(why))) < 0) {
		log_error("procmond: %s", why);
		goto out;
	}
	/* 2. The socket, the spill, the pid file. */
	if ((pm->lfd = listen_socket(pm, o->state_dir)) < 0) {
		r = de_log_errno(DE_LOG_ERROR, pm->lfd, "procmond: listening on %s", pm->sock_path);
		goto out;
	}
	char spill_dir[4096];
	de_state_path(o->state_dir, DE_STATE_SPILL_DIR, spill_dir, sizeof(spill_dir));
	uint64_t stale = 0;
	struct de_spill_opts so = { .dir = spill_dir, .cap_bytes = o->spill_cap };
	if ((r = de_spill_open(&so, &pm->spill, &stale)) < 0) {
		de_log_errno(DE_LOG_ERROR, r, "procmond: spill directory %s", spill_dir);
		goto out;
	}
	if (stale)
		log_warning("procmond: discarded %" PRIu64 " bytes of spilled events of an earlier run",
			    stale);
	de_state_path(o->state_dir, DE_STATE_PROCMOND_PID, pm->pid_path, sizeof(pm->pid_path));
	if ((r = de_pidfile_write(pm->pid_path)) < 0) {
		de_log_errno(DE_LOG_ERROR, r, "procmond: writing %s", pm->pid_path);
		pm->pid_path[0] = '\0';
		goto out;
	}
	/* The audit ledger: key and files as root, files given to the daemon
	 * user; a ledger that cannot be opened is logged and done without. */
	de_pmledger_open(&pm->led, o->state_dir, pm->who.uid, o->cfg);

	/* 3. Drop, keeping the parent-death signal `run` asked for (a uid
	 * change clears it), then the seccomp allow-list. */
	int pdeath = 0;
	prctl(PR_GET_PDEATHSIG, &pdeath);
	pid_t parent = getppid();
	if ((r = de_privdrop(&po, &pm->who, why, sizeof(why))) < 0) {
		log_error("procmond: privilege drop: %s", why);
		de_pmledger_privdrop(&pm->led, r, &pm->who, why);
		goto out;
	}
	if (pm->who.fell_back)
		log_warning("procmond: user %s does not exist: running as %s (create it: scripts/deps.sh)",
			    o->user ? o->user : "daemoneye", pm->who.user);
	if (pdeath) {
		prctl(PR_SET_PDEATHSIG, pdeath);
		if (getppid() != parent) {
			log_error("procmond: the supervisor is gone");
			r = -ESRCH;
			goto out;
		}
	}
	if ((r = de_sandbox_install(DE_SANDBOX_PROCMOND, why, sizeof(why))) < 0) {
		log_error("procmond: %s", why);
		de_pmledger_privdrop(&pm->led, r, &pm->who, why);
		goto out;
	}
	de_pmledger_privdrop(&pm->led, 0, &pm->who, NULL);
	struct de_buf caps = DE_BUF_INIT;
	de_caps_format(pm->who.caps, &caps);
	log_info("procmond: running as %s (uid %u), capabilities %s, seccomp on; socket %s",
		 pm->who.user, (unsigned)pm->who.uid, de_buf_str(&caps), pm->sock_path);
	de_buf_free(&caps);

	/* 4. Only now is anything untrusted read: the collector's snapshot
	 * and events (its thread), and peers' frames (this loop). */
	if ((r = add_fd(pm, pm->lfd, K_LISTEN)) < 0 || (r = add_fd(pm, pm->sfd, K_SIGNAL)) < 0 ||
	    (r = add_fd(pm, de_evqueue_fd(&pm->q), K_QUEUE)) < 0 || (r = add_fd(pm, pm->done_fd, K_DONE)) < 0)
		goto out;
	if ((r = -pthread_create(&pm->th, NULL, collector_thread, pm)) < 0) {
		de_log_errno(DE_LOG_ERROR, r, "procmond: starting the collector thread");
		goto out;
	}
	pm->th_started = true;
	r = loop(pm);
	if (pm->seq > pm->acked)
		log_info("procmond: stopping with %" PRIu64 " events not acknowledged by an agent",
			 pm->seq - pm->acked);
out:
	pm_free(pm);
	return r;
}
