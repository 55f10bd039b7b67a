/* collector.c: see collector.h. */
#include "collector.h"

#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>

#include "log.h"
#include "procsnap.h"

/* Every event source built into this binary, best first. */
static const struct de_source_ops *const source_table[] = {
	&de_source_ebpf,
	&de_source_netlink,
	&de_source_proc,
};

/* The order auto tries, whether built or not (a missing one is reported). */
static const enum de_event_source auto_order[] = { DE_EVSRC_EBPF, DE_EVSRC_NETLINK, DE_EVSRC_PROC };

struct de_collector {
	struct de_collector_opts o;
	const struct de_source_ops *ops;
	struct de_source *src;
	uint64_t seq;
	bool resync;        /* a DROPS report asked for a resync snapshot */
	struct de_event ev; /* the copy passed on (seq, time) */
	int wake_fd;        /* eventfd: de_collector_request_resync() from another thread */
};

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct de_source_ops *find_ops(enum de_event_source kind)
{
	for (size_t i = 0; i < DE_ARRAY_SIZE(source_table); i++)
		if (source_table[i]->kind == kind)
			return source_table[i];
	return NULL;
}

bool de_collector_has(enum de_event_source kind)
{
	return find_ops(kind) != NULL;
}

/* The sink every source and status report goes through. */
static int relay(const struct de_event *ev, void *ud)
{
	struct de_collector *c = ud;
	c->ev = *ev;
	c->ev.seq = ++c->seq;
	if (!c->ev.time_ns)
		c->ev.time_ns = realtime_ns();
	if (ev->type == DE_EV_STATUS && ev->status == DE_ST_DROPS)
		c->resync = true;
	return c->o.sink(&c->ev, c->o.sink_ud);
}

static int status(struct de_collector *c, enum de_event_source src, enum de_status_kind k,
		  const char *fmt, ...) DE_PRINTF(4, 5);
static int status(struct de_collector *c, enum de_event_source src, enum de_status_kind k,
		  const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	struct de_event ev = { .type = DE_EV_STATUS, .source = src, .status = k, .detail = detail };
	return relay(&ev, c);
}

static enum de_event_source kind_of(enum de_source_choice s)
{
	switch (s) {
	case DE_SOURCE_EBPF: return DE_EVSRC_EBPF;
	case DE_SOURCE_NETLINK: return DE_EVSRC_NETLINK;
	default: return DE_EVSRC_PROC;
	}
}

/* Try one kind. Returns 0 when it started, else a negative errno and why. */
static int try_open(struct de_collector *c, enum de_event_source kind, char *why, size_t why_len)
{
	const struct de_source_ops *ops = find_ops(kind);
	if (!ops) {
		snprintf(why, why_len, "the %s event source is not built in this build",
			 kind == DE_EVSRC_EBPF ? "eBPF" : de_event_source_name(kind));
		return -EOPNOTSUPP;
	}
	struct de_source_opts so = {
		.cfg = c->o.cfg,
		.sink = relay,
		.sink_ud = c,
		.proc_root = c->o.proc_root ? c->o.proc_root : "/proc",
		.netlink_rcvbuf_bytes = c->o.netlink_rcvbuf_bytes,
	};
	why[0] = '\0';
	int r = ops->open(&so, &c->src, why, why_len);
	if (r < 0) {
		if (!why[0])
			snprintf(why, why_len, "%s", strerror(-r));
		return r;
	}
	c->ops = ops;
	return 0;
}

int de_collector_open(const struct de_collector_opts *o, struct de_collector **out, char *why,
		      size_t why_len)
{
	struct de_collector *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	c->o = *o;
	int r;
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0) {
		r = de_neg_errno();
		snprintf(why, why_len, "eventfd: %s", strerror(-r));
		free(c);
		return r;
	}
	char reason[512], failed[64] = "";
	if (o->source != DE_SOURCE_AUTO) {
		enum de_event_source k = kind_of(o->source);
		r = try_open(c, k, reason, sizeof(reason));
		if (r < 0) {
			snprintf(why, why_len, "%s: %s", de_event_source_name(k), reason);
			close(c->wake_fd);
			free(c);
			return r;
		}
		r = status(c, k, DE_ST_STARTED, "%s (forced)", de_event_source_name(k));
	} else {
		r = -ENODEV;
		for (size_t i = 0; i < DE_ARRAY_SIZE(auto_order) && r < 0; i++) {
			enum de_event_source k = auto_order[i];
			r = try_open(c, k, reason, sizeof(reason));
			if (r == 0)
				break;
			if (failed[0])
				strcat(failed, ", ");
			strcat(failed, de_event_source_name(k)); /* three short names at most */
			int e = status(c, k, DE_ST_DEGRADED, "%s unavailable: %s", de_event_source_name(k),
				       reason);
			if (e < 0 && e != -ECANCELED) {
				snprintf(why, why_len, "delivering a status event: %s", strerror(-e));
				close(c->wake_fd);
				free(c);
				return e;
			}
		}
		if (r < 0) {
			snprintf(why, why_len, "no event source could start (last: %s)", reason);
			close(c->wake_fd);
			free(c);
			return r;
		}
		if (failed[0])
			r = status(c, c->ops->kind, DE_ST_STARTED, "%s (auto; unavailable: %s)",
				   de_event_source_name(c->ops->kind), failed);
		else
			r = status(c, c->ops->kind, DE_ST_STARTED, "%s (auto)",
				   de_event_source_name(c->ops->kind));
	}
	(void)r; /* a sink refusing the status event is seen again by run() */
	*out = c;
	return 0;
}

enum de_event_source de_collector_kind(const struct de_collector *c)
{
	return c->ops->kind;
}

/* The startup or resync snapshot: the source's own, or the shared one. */
static int snapshot(struct de_collector *c)
{
	if (c->ops->snapshot)
		return c->ops->snapshot(c->src);
	struct de_proc_opts po;
	de_proc_opts_from_config(&po, c->o.cfg);
	if (c->o.proc_root)
		po.proc_root = c->o.proc_root;
	return de_procsnap_events(&po, c->ops->kind, relay, c);
}

static int resync(struct de_collector *c)
{
	c->resync = false;
	int n = snapshot(c);
	if (n < 0)
		return n;
	return status(c, c->ops->kind, DE_ST_RESYNC, "resync snapshot: %d processes", n);
}

static int setup_signals(int *sfd, sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, old) < 0)
		return de_neg_errno();
	*sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return *sfd < 0 ? de_neg_errno() : 0;
}

int de_collector_run(struct de_collector *c, int64_t duration_ms)
{
	int ret = 0, sfd = -1;
	sigset_t old_mask;
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return de_neg_errno();
	int fd = c->ops->fd(c->src);
	struct epoll_event ee = { .events = EPOLLIN, .data.u32 = 1 };
	if (fd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
		ret = de_neg_errno();
		goto out;
	}
	if (c->o.stop_on_signals) {
		ret = setup_signals(&sfd, &old_mask);
		ee.data.u32 = 2;
		if (!ret && epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ee) < 0)
			ret = de_neg_errno();
		if (ret)
			goto out;
	}
	ee.data.u32 = 3;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->wake_fd, &ee) < 0) {
		ret = de_neg_errno();
		goto out;
	}
	if (!c->o.no_snapshot) {
		ret = snapshot(c);
		if (ret >= 0)
			ret = status(c, c->ops->kind, DE_ST_RESYNC, "startup snapshot: %d processes", ret);
		if (ret < 0)
			goto out;
		ret = 0;
	}
	int64_t end = duration_ms >= 0 ? mono_ms() + duration_ms : -1;
	const char *why_stop = "stopped";
	for (;;) {
		int64_t t = c->ops->timeout_ms(c->src);
		if (end >= 0) {
			int64_t left = end - mono_ms();
			if (left <= 0) {
				why_stop = "duration elapsed";
				break;
			}
			t = t < 0 ? left : DE_MIN(t, left);
		}
		struct epoll_event evs[4];
		int n = epoll_wait(epfd, evs, 4, t > INT32_MAX ? INT32_MAX : (int)t);
		if (n < 0 && errno != EINTR) {
			ret = de_neg_errno();
			break;
		}
		bool sig = false;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 2)
				sig = true;
			uint64_t v;
			if (evs[i].data.u32 == 3 && read(c->wake_fd, &v, sizeof(v)) == sizeof(v))
				c->resync = true; /* asked for by de_collector_request_resync() */
		}
		if (sig) {
			why_stop = "signal";
			break;
		}
		ret = c->ops->dispatch(c->src);
		if (!ret && c->resync)
			ret = resync(c);
		if (ret < 0)
			break;
	}
	if (ret == 0)
		ret = status(c, c->ops->kind, DE_ST_STOPPED, "%s", why_stop);
out:
	if (ret == -ECANCELED)
		ret = 0;
	if (sfd >= 0) {
		close(sfd);
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
	}
	close(epfd);
	return ret;
}

int de_collector_request_resync(struct de_collector *c)
{
	uint64_t one = 1;
	return write(c->wake_fd, &one, sizeof(one)) == sizeof(one) ? 0 : de_neg_errno();
}

void de_collector_close(struct de_collector *c)
{
	if (!c)
		return;
	close(c->wake_fd);
	if (c->ops)
		c->ops->close(c->src);
	free(c);
}
