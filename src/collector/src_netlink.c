/* src_netlink.c: the netlink process connector event source (CN_PROC).
 *
 * The kernel multicasts one message per fork, exec, exit, uid/gid/sid and
 * comm change of every task to the listeners of CN_IDX_PROC (joining the
 * group needs CAP_NET_ADMIN in the initial namespaces). The messages carry
 * pids only, so an exec is completed by reading /proc/PID right away
 * (de_proc_read): a process that is already gone (a short-lived /bin/true
 * usually is) yields an exec event marked `partial` with only what the
 * message and our pid table know. That race is the trade-off of this
 * source against eBPF, which copies argv inside the kernel.
 *
 * What becomes an event: fork of a new thread group (not thread creation),
 * exec, and the exit of a thread group leader (thread exits are not
 * process exits), with the exit code or signal split from the kernel's wait
 * status as waitpid does. uid and comm changes update the pid table only.
 *
 * Losses: the socket gets a large receive buffer (SO_RCVBUFFORCE, 32 MiB by
 * default). When it overflows anyway, recvmsg fails with ENOBUFS; the
 * kernel numbers events per CPU (cn_msg.seq), so the gaps after an overrun
 * count what was lost (the type of a lost event is unknown: drops[0]). A
 * DE_ST_DROPS status event reports it at the end of the same dispatch; the
 * collector answers with a resync snapshot.
 *
 * Parsing of the datagrams is cnproc.c (pure, fuzzed); only messages from
 * the kernel (sender port 0) are accepted.
 */
#include <linux/capability.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>

#include "cnproc.h"
#include "log.h"
#include "pidmap.h"
#include "procsnap.h"
#include "source.h"

#define NL_DEFAULT_RCVBUF (32u << 20)
#define NL_BUF 65536
#define NL_ACK_TIMEOUT_MS 1000
#define NS_PER_TICK 10000000ll /* USER_HZ = 100 (event.c, de_start_ticks) */

struct de_source {
	struct de_source_opts o;
	int fd;
	uint32_t seq;
	struct de_proc_reader *full;  /* exec: the groups events carry */
	struct de_proc_reader *stat;  /* fork, exit: identity only */
	struct de_proc *p;
	struct de_pidmap map;
	uint8_t boot_id[16];
	int64_t mono_to_real, mono_to_boot; /* offsets, refreshed per dispatch */

	unsigned ncpu;
	uint32_t *cpu_seq;
	uint8_t *cpu_seen;
	uint64_t lost;            /* events lost and not reported yet */
	uint64_t lost_credit;     /* reported as "at least 1" before the gap showed */
	uint64_t overruns;        /* ENOBUFS since the last report */
	uint64_t overruns_total;
	unsigned skipped;         /* malformed or foreign messages */

	struct de_event ev;
	unsigned char buf[NL_BUF];
};

static int64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void refresh_clocks(struct de_source *s)
{
	int64_t mono = clock_ns(CLOCK_MONOTONIC);
	s->mono_to_real = clock_ns(CLOCK_REALTIME) - mono;
	s->mono_to_boot = clock_ns(CLOCK_BOOTTIME) - mono;
}

/* Whether a process read from /proc can be the one an event at kernel
 * time ts_mono is about: it must have started by then (else the pid was
 * reused). One tick of slack for the rounding of start_ticks. */
static bool started_by(const struct de_source *s, uint64_t start_ticks, uint64_t ts_mono)
{
	int64_t boot_ns = (int64_t)ts_mono + s->mono_to_boot;
	return (int64_t)start_ticks * NS_PER_TICK <= boot_ns + NS_PER_TICK;
}

static void set_identity(struct de_source *s, struct de_event *ev, int32_t pid, uint64_t ticks)
{
	ev->start_ticks = ticks;
	de_entity_id(s->boot_id, pid, ticks, ev->entity_id);
}

/* Fill ppid and, when the parent is known, its entity id (DE_EVF_PARENT). */
static void set_parent(struct de_source *s, struct de_event *ev, int32_t ppid)
{
	ev->ppid = ppid;
	struct de_pidmap_ent *pe = ppid > 0 ? de_pidmap_get(&s->map, ppid) : NULL;
	if (pe && pe->start_ticks) {
		de_entity_id(s->boot_id, ppid, pe->start_ticks, ev->parent_entity_id);
		ev->have |= DE_EVF_PARENT;
	}
}

static void remember(struct de_source *s, int32_t pid, int32_t ppid, uint64_t ticks,
		     const char *comm, uint32_t uid)
{
	struct de_pidmap_ent *e = de_pidmap_put(&s->map, pid);
	if (!e)
		return; /* out of memory: later events about pid lack its identity */
	e->ppid = ppid;
	e->start_ticks = ticks;
	if (comm)
		snprintf(e->comm, sizeof(e->comm), "%s", comm);
	if (uid != UINT32_MAX)
		e->uid = uid;
}

static int on_exec_msg(struct de_source *s, const struct de_cnproc_msg *m)
{
	struct de_event *ev = &s->ev;
	int r = de_proc_read(s->full, m->pid, s->p);
	if (r == 0 && !started_by(s, s->p->start_ticks, m->timestamp_ns))
		r = -ESRCH; /* the pid already belongs to a newer process */
	if (r == 0) {
		struct de_proc *p = s->p;
		de_event_from_proc(ev, DE_EV_EXEC, DE_EVSRC_NETLINK, p);
		if (p->state == 'Z' || p->state == 'X') {
			/* Exited before we read it: its memory (argv) and exe
			 * are gone, only the identity and creds remain. */
			ev->partial = true;
			if (p->argv_len == 0)
				ev->have &= ~DE_EVF_ARGV;
		}
		set_parent(s, ev, p->ppid);
		remember(s, p->pid, p->ppid, p->start_ticks, p->comm,
			 p->err[DE_PF_STATUS] == 0 ? p->uid[DE_ID_REAL] : UINT32_MAX);
	} else {
		memset(ev, 0, sizeof(*ev));
		ev->type = DE_EV_EXEC;
		ev->source = DE_EVSRC_NETLINK;
		ev->partial = true;
		ev->pid = m->pid;
		struct de_pidmap_ent *e = de_pidmap_get(&s->map, m->pid);
		if (e && e->start_ticks) {
			set_identity(s, ev, m->pid, e->start_ticks);
			set_parent(s, ev, e->ppid);
		}
		if (e)
			e->comm[0] = '\0'; /* the new image's name is unknown */
	}
	ev->tid = m->tid;
	return 1;
}

static int on_fork_msg(struct de_source *s, const struct de_cnproc_msg *m)
{
	if (m->pid != m->tid)
		return 0; /* a new thread, not a new process */
	struct de_event *ev = &s->ev;
	memset(ev, 0, sizeof(*ev));
	ev->type = DE_EV_FORK;
	ev->source = DE_EVSRC_NETLINK;
	ev->pid = ev->tid = m->pid;
	struct de_pidmap_ent *pe = de_pidmap_get(&s->map, m->ppid);
	int r = de_proc_read(s->stat, m->pid, s->p);
	if (r == 0 && started_by(s, s->p->start_ticks, m->timestamp_ns)) {
		set_identity(s, ev, m->pid, s->p->start_ticks);
		memcpy(ev->comm, s->p->comm, sizeof(ev->comm));
		remember(s, m->pid, m->ppid, s->p->start_ticks, s->p->comm, pe ? pe->uid : UINT32_MAX);
	} else {
		ev->partial = true; /* gone already: no start time, no entity id */
		if (pe)
			memcpy(ev->comm, pe->comm, sizeof(ev->comm));
	}
	set_parent(s, ev, m->ppid);
	return 1;
}

static int on_exit_msg(struct de_source *s, const struct de_cnproc_msg *m)
{
	if (m->pid != m->tid)
		return 0; /* a thread ended; the process goes on */
	struct de_event *ev = &s->ev;
	memset(ev, 0, sizeof(*ev));
	ev->type = DE_EV_EXIT;
	ev->source = DE_EVSRC_NETLINK;
	ev->pid = ev->tid = m->pid;
	ev->have = DE_EVF_EXIT;
	de_cnproc_wait_status(m->exit_status, &ev->exit_code, &ev->exit_signal);
	struct de_pidmap_ent *e = de_pidmap_get(&s->map, m->pid);
	int32_t ppid = m->ppid;
	if (e && e->start_ticks) {
		set_identity(s, ev, m->pid, e->start_ticks);
		memcpy(ev->comm, e->comm, sizeof(ev->comm));
		if (!ppid)
			ppid = e->ppid;
	} else if (de_proc_read(s->stat, m->pid, s->p) == 0 &&
		   started_by(s, s->p->start_ticks, m->timestamp_ns)) {
		/* Unknown to us (started before the snapshot finished):
		 * still readable as a zombie. */
		set_identity(s, ev, m->pid, s->p->start_ticks);
		memcpy(ev->comm, s->p->comm, sizeof(ev->comm));
		if (!ppid)
			ppid = s->p->ppid;
	} else {
		ev->partial = true;
	}
	set_parent(s, ev, ppid);
	de_pidmap_del(&s->map, m->pid);
	return 1;
}

/* Per-CPU sequence numbers: a gap is events the kernel sent and we lost. */
static void track_seq(struct de_source *s, const struct de_cnproc_msg *m)
{
	if (m->cpu >= s->ncpu)
		return;
	if (s->cpu_seen[m->cpu]) {
		uint32_t gap = m->seq - s->cpu_seq[m->cpu] - 1;
		if (gap && gap < (1u << 30)) {
			uint64_t g = gap;
			uint64_t c = DE_MIN(g, s->lost_credit);
			s->lost_credit -= c;
			s->lost += g - c;
		}
	}
	s->cpu_seen[m->cpu] = 1;
	s->cpu_seq[m->cpu] = m->seq;
}

static int handle(struct de_source *s, const struct de_cnproc_msg *m)
{
	if (m->what == DE_CN_NONE) {
		/* A reply to someone's LISTEN: recent kernels number it like
		 * events, older ones echo the request's seq. Count it only when
		 * it continues the CPU's sequence, never as a gap. */
		if (m->cpu < s->ncpu && s->cpu_seen[m->cpu] && m->seq == s->cpu_seq[m->cpu] + 1)
			s->cpu_seq[m->cpu] = m->seq;
		return 0;
	}
	track_seq(s, m);
	int r = 0;
	switch (m->what) {
	case DE_CN_EXEC: r = on_exec_msg(s, m); break;
	case DE_CN_FORK: r = on_fork_msg(s, m); break;
	case DE_CN_EXIT: r = on_exit_msg(s, m); break;
	case DE_CN_UID:
		if (m->pid == m->tid) {
			struct de_pidmap_ent *e = de_pidmap_get(&s->map, m->pid);
			if (e)
				e->uid = m->rid;
		}
		return 0;
	case DE_CN_COMM: {
		struct de_pidmap_ent *e = m->pid == m->tid ? de_pidmap_get(&s->map, m->pid) : NULL;
		if (e)
			snprintf(e->comm, sizeof(e->comm), "%s", m->comm);
		return 0;
	}
	default:
		return 0;
	}
	if (r <= 0)
		return r;
	s->ev.time_ns = (int64_t)m->timestamp_ns + s->mono_to_real;
	return s->o.sink(&s->ev, s->o.sink_ud);
}

/* Receive one datagram. Returns its length, 0 when none is ready (or one
 * not from the kernel was dropped), -ENOBUFS on overrun, or an error. */
static ssize_t receive(struct de_source *s)
{
	struct sockaddr_nl from;
	struct iovec iov = { s->buf, sizeof(s->buf) };
	struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
			     .msg_iovlen = 1 };
	ssize_t n = recvmsg(s->fd, &mh, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : de_neg_errno();
	if (mh.msg_namelen < sizeof(from) || from.nl_pid != 0 || (mh.msg_flags & MSG_TRUNC)) {
		s->skipped++;
		return -EAGAIN; /* not from the kernel, or cut: ignore it */
	}
	return n;
}

static int report_drops(struct de_source *s)
{
	if (!s->lost && !s->overruns)
		return 0;
	uint64_t n = s->lost;
	if (!n) { /* ENOBUFS but no gap seen yet: at least one was lost */
		n = 1;
		s->lost_credit++;
	}
	char detail[256];
	snprintf(detail, sizeof(detail),
		 "netlink: %llu events lost (receive buffer overrun %llu times since start; "
		 "counted from per-CPU sequence gaps, type unknown); resync follows",
		 (unsigned long long)n, (unsigned long long)s->overruns_total);
	struct de_event ev = {
		.type = DE_EV_STATUS,
		.source = DE_EVSRC_NETLINK,
		.status = DE_ST_DROPS,
		.detail = detail,
		.time_ns = clock_ns(CLOCK_REALTIME),
	};
	ev.drops[0] = n;
	s->lost = 0;
	s->overruns = 0;
	return s->o.sink(&ev, s->o.sink_ud);
}

static int nl_dispatch(struct de_source *s)
{
	refresh_clocks(s);
	int ret = 0;
	for (;;) {
		ssize_t n = receive(s);
		if (n == -EAGAIN)
			continue;
		if (n == -ENOBUFS) {
			s->overruns++;
			s->overruns_total++;
			continue;
		}
		if (n < 0) {
			ret = (int)n;
			break;
		}
		if (n == 0)
			break;
		size_t off = 0;
		struct de_cnproc_msg m;
		int r;
		while ((r = de_cnproc_next(s->buf, (size_t)n, &off, &m, &s->skipped)) > 0) {
			ret = handle(s, &m);
			if (ret < 0)
				return ret;
		}
		if (r < 0)
			s->skipped++;
	}
	int r = report_drops(s);
	return ret < 0 ? ret : r;
}

static int nl_fd(struct de_source *s) { return s->fd; }
static int nl_timeout(struct de_source *s) { (void)s; return -1; }

static int seed_sink(const struct de_event *ev, void *ud)
{
	struct de_source *s = ud;
	if (ev->type == DE_EV_SNAPSHOT)
		remember(s, ev->pid, ev->ppid, ev->start_ticks, ev->comm,
			 ev->have & DE_EVF_CREDS ? ev->uid[DE_ID_REAL] : UINT32_MAX);
	return s->o.sink(ev, s->o.sink_ud);
}

/* The shared /proc snapshot; it also fills the pid table, so that exits
 * of processes older than the collector carry their identity. */
static int nl_snapshot(struct de_source *s)
{
	struct de_proc_opts po;
	de_proc_opts_from_config(&po, s->o.cfg);
	if (s->o.proc_root)
		po.proc_root = s->o.proc_root;
	return de_procsnap_events(&po, DE_EVSRC_NETLINK, seed_sink, s);
}

static void nl_close(struct de_source *s)
{
	if (!s)
		return;
	if (s->fd >= 0) {
		unsigned char req[64];
		int n = de_cnproc_build_listen(req, sizeof(req), ++s->seq, 0, 0);
		if (n > 0)
			(void)send(s->fd, req, (size_t)n, MSG_DONTWAIT);
		close(s->fd);
	}
	de_proc_reader_free(s->full);
	de_proc_reader_free(s->stat);
	de_pidmap_free(&s->map);
	free(s->cpu_seq);
	free(s->cpu_seen);
	free(s->p);
	free(s);
}

/* Subscribe and wait for the kernel's reply, which says whether the
 * request was accepted (and that this kernel has process events at all). */
static int listen_and_wait(struct de_source *s, char *why, size_t why_len)
{
	unsigned char req[64];
	s->seq = (uint32_t)getpid() ^ (uint32_t)clock_ns(CLOCK_MONOTONIC);
	int n = de_cnproc_build_listen(req, sizeof(req), s->seq, 0, 1);
	if (n < 0 || send(s->fd, req, (size_t)n, 0) < 0) {
		int e = n < 0 ? n : de_neg_errno();
		snprintf(why, why_len, "%s: subscribing to the process connector: %s",
			 e == -EPERM ? "needs root (CAP_NET_ADMIN)" : "netlink", strerror(-e));
		return e;
	}
	int64_t deadline = clock_ns(CLOCK_MONOTONIC) + NL_ACK_TIMEOUT_MS * 1000000ll;
	for (;;) {
		int64_t left = (deadline - clock_ns(CLOCK_MONOTONIC)) / 1000000;
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		int pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		if (pr <= 0) {
			snprintf(why, why_len, "no reply from the process connector within %d ms "
				 "(kernel without CONFIG_PROC_EVENTS, or not in the initial namespaces)",
				 NL_ACK_TIMEOUT_MS);
			return -ETIMEDOUT;
		}
		ssize_t len = receive(s);
		if (len == -EAGAIN || len == -ENOBUFS || len == 0)
			continue;
		if (len < 0) {
			snprintf(why, why_len, "netlink: receiving: %s", strerror((int)-len));
			return (int)len;
		}
		size_t off = 0;
		struct de_cnproc_msg m;
		while (de_cnproc_next(s->buf, (size_t)len, &off, &m, NULL) > 0) {
			if (m.what != DE_CN_NONE || m.ack != s->seq + 1)
				continue; /* events before the reply: the snapshot covers them */
			if (m.ack_err) {
				snprintf(why, why_len, "%s: the kernel refused the subscription: %s",
					 m.ack_err == EPERM ? "needs root (CAP_NET_ADMIN)" : "netlink",
					 strerror((int)m.ack_err));
				return -(int)m.ack_err;
			}
			return 0;
		}
	}
}

/* Whether this process has CAP_NET_ADMIN in its effective set. Checked
 * first: the kernel silently drops an unprivileged LISTEN (no reply at
 * all on recent kernels), which would otherwise look like a kernel
 * without process events. */
static bool have_net_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };
	if (syscall(SYS_capget, &hdr, data) < 0)
		return true; /* cannot tell: let the kernel decide */
	return data[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32));
}

static int nl_open(const struct de_source_opts *o, struct de_source **out, char *why, size_t why_len)
{
	struct de_source *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	s->o = *o;
	s->fd = -1;
	de_pidmap_init(&s->map);
	int r;
	if (!have_net_admin()) {
		r = -EPERM;
		snprintf(why, why_len, "needs root (CAP_NET_ADMIN) to subscribe to the kernel's "
			 "process connector");
		goto fail;
	}
	s->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
	if (s->fd < 0) {
		r = de_neg_errno();
		snprintf(why, why_len, "netlink connector socket: %s%s", strerror(-r),
			 r == -EPROTONOSUPPORT ? " (kernel without CONFIG_CONNECTOR)" : "");
		goto fail;
	}
	int rcv = (int)(o->netlink_rcvbuf_bytes ? o->netlink_rcvbuf_bytes : NL_DEFAULT_RCVBUF);
	if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
		(void)setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)); /* capped by rmem_max */
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC };
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = de_neg_errno();
		snprintf(why, why_len, "%s: joining the process connector group: %s",
			 r == -EPERM ? "needs root (CAP_NET_ADMIN)" : "netlink", strerror(-r));
		goto fail;
	}
	r = listen_and_wait(s, why, why_len);
	if (r < 0)
		goto fail;

	struct de_proc_opts po;
	de_proc_opts_from_config(&po, o->cfg);
	if (o->proc_root)
		po.proc_root = o->proc_root;
	po.skip_users = true;
	po.groups = DE_PF_BIT(DE_PF_STAT) | DE_PF_BIT(DE_PF_STATUS) | DE_PF_BIT(DE_PF_CMDLINE) |
		    DE_PF_BIT(DE_PF_EXE) | DE_PF_BIT(DE_PF_EXE_FILE) | DE_PF_BIT(DE_PF_CWD) |
		    DE_PF_BIT(DE_PF_CGROUP) | DE_PF_BIT(DE_PF_LOGINUID) | DE_PF_BIT(DE_PF_SESSIONID);
	s->full = de_proc_reader_new(&po);
	po.groups = DE_PF_BIT(DE_PF_STAT);
	s->stat = s->full ? de_proc_reader_new(&po) : NULL;
	s->p = malloc(sizeof(*s->p));
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	s->ncpu = ncpu > 0 ? (unsigned)ncpu : 1;
	s->cpu_seq = calloc(s->ncpu, sizeof(*s->cpu_seq));
	s->cpu_seen = calloc(s->ncpu, 1);
	if (!s->full || !s->stat || !s->p || !s->cpu_seq || !s->cpu_seen) {
		r = errno ? -errno : -ENOMEM;
		snprintf(why, why_len, "reading %s: %s", po.proc_root, strerror(-r));
		goto fail;
	}
	memcpy(s->boot_id, de_proc_reader_boot_id(s->full), sizeof(s->boot_id));
	refresh_clocks(s);
	*out = s;
	return 0;
fail:
	nl_close(s);
	return r;
}

const struct de_source_ops de_source_netlink = {
	.kind = DE_EVSRC_NETLINK,
	.open = nl_open,
	.fd = nl_fd,
	.timeout_ms = nl_timeout,
	.dispatch = nl_dispatch,
	.snapshot = nl_snapshot,
	.close = nl_close,
};
