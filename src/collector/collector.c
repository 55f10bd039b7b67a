/* collector.c: see collector.h. */
#include "collector.h"

#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>

#include "enrich.h"
#include "log.h"
#include "procsnap.h"
#include "proctable.h"

/* Resyncs after drop reports are at least this far apart: a burst of drop
 * reports costs one snapshot, not one each. */
#define RESYNC_MIN_GAP_MS 250

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
	struct de_proctable *pt;  /* opts.table */
	struct de_enrich *en;     /* opts.hash */
	const char *proc_root;
	struct de_collector_stats st;
	int64_t last_resync_ms;   /* when the last snapshot ended (monotonic) */
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

/* Hashes found for the event's image: onto the event and into the table. */
static void attach_hashes(struct de_collector *c, struct de_event *ev, uint32_t ordinal,
			  const struct de_file_id *id, const struct de_hashes *h)
{
	ev->hashes = *h;
	ev->have |= DE_EVF_HASH;
	c->st.hash_cached++;
	if (c->pt)
		de_pt_set_hashes(c->pt, ev->entity_id, ordinal, id->dev, id->ino, 0, h);
}

/* Hashes for an exec or snapshot event: from the table when its image
 * already has them, else from the worker's map at once, else queued (the
 * event says so in hash_note). Never waits for a hash. */
static void hash_event(struct de_collector *c, struct de_event *ev, uint32_t ordinal,
		       const struct de_pt_image *im)
{
	if (ev->proc && ev->proc->kthread)
		return;
	const struct de_hashes *known = im ? de_pt_image_hashes(im) : NULL;
	if (known) {
		ev->hashes = *known;
		ev->have |= DE_EVF_HASH;
		c->st.hash_cached++;
		return;
	}
	struct de_hashes h;
	struct de_file_id kid;
	/* The identity of the very file the kernel executed (the eBPF source,
	 * a snapshot): a binary hashed before is found without a stat() of
	 * /proc/PID/exe, which was most of this thread's CPU in exec storms.
	 * A miss (a new binary, or a file system whose stat() reports another
	 * device than the kernel's superblock) takes the path below. */
	if (de_event_exe_file(ev, &kid) && de_enrich_lookup(c->en, &kid, &h) == 0) {
		attach_hashes(c, ev, ordinal, &kid, &h);
		c->st.hash_by_id++;
		return;
	}
	struct de_enrich_req req = { .pid = ev->pid, .image = ordinal };
	memcpy(req.entity_id, ev->entity_id, sizeof(req.entity_id));
	int r = de_enrich_file_id_pid(c->proc_root, ev->pid, &req.id);
	if ((r == -ENOENT || r == -ESRCH) && (ev->have & DE_EVF_EXE_ID)) {
		/* Gone already (a short-lived process): the file its exec named,
		 * if it is still the same file. */
		const char *path = ev->have & DE_EVF_EXE ? ev->exe
				   : ev->have & DE_EVF_FILENAME ? ev->filename : NULL;
		r = de_enrich_file_id_path(path, ev->exe_dev, ev->exe_ino, &req.id);
		if (r == 0) {
			req.pid = 0;
			snprintf(req.path, sizeof(req.path), "%s", path);
		} else if (r != -ESTALE) {
			r = -ENOENT;
		}
	}
	if (r < 0) {
		ev->hash_note = r == -ENOENT || r == -ESRCH ? "hash skipped: process gone"
				: r == -ESTALE ? "hash skipped: executable replaced"
					       : "hash skipped: executable unreadable";
		c->st.hash_skipped++;
		return;
	}
	if ((ev->have & DE_EVF_EXE_ID) && (req.id.dev != ev->exe_dev || req.id.ino != ev->exe_ino)) {
		ev->hash_note = "hash skipped: image already replaced";
		c->st.hash_skipped++;
		return;
	}
	r = de_enrich_lookup(c->en, &req.id, &h) == 0 ? DE_ENRICH_CACHED : -1;
	/* A small executable not seen before is hashed here, at once (bounded
	 * by hashing.inline_max_bytes: ~0.1 ms for 256 KiB from the page cache
	 * the exec just filled): a short-lived process is gone before the
	 * worker's round trip, and its event would carry no hash. */
	if (r < 0 && req.id.size <= c->o.cfg->hashing.inline_max_bytes &&
	    de_enrich_hash_now(c->en, &req, &h) == 0) {
		r = DE_ENRICH_CACHED;
		c->st.hash_inline++;
	}
	if (r < 0)
		r = de_enrich_submit(c->en, &req, &h);
	if (r == DE_ENRICH_CACHED) {
		attach_hashes(c, ev, ordinal, &req.id, &h);
		return;
	}
	ev->hash_note = de_enrich_note((enum de_enrich_answer)r);
	if (r == DE_ENRICH_DEFERRED)
		c->st.hash_deferred++;
	else
		c->st.hash_skipped++;
	if (c->pt)
		de_pt_set_hash_state(c->pt, req.entity_id, ordinal,
				     r == DE_ENRICH_DEFERRED ? DE_PT_HASH_DEFERRED : DE_PT_HASH_SKIPPED);
}

/* The live table and hashes, before the sink sees the event. */
static void track(struct de_collector *c, struct de_event *ev)
{
	uint32_t ordinal = 0;
	const struct de_pt_image *im = NULL;
	bool image = ev->type == DE_EV_EXEC || ev->type == DE_EV_SNAPSHOT;
	if (c->pt) {
		int r = de_pt_apply(c->pt, ev);
		if (r == -EINVAL) {
			c->st.untracked++; /* no identity (a process gone before it was read) */
		} else if (r < 0) {
			c->st.table_errors++;
		} else if (image) {
			const struct de_pt_proc *p = de_pt_find(c->pt, ev->entity_id);
			if (p && p->n_images) {
				ordinal = p->n_images - 1;
				im = de_pt_image_at(p, ordinal);
			}
		}
	}
	if (c->en && image && !(ev->have & DE_EVF_HASH))
		hash_event(c, ev, ordinal, im);
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
	if (ev->type != DE_EV_STATUS)
		track(c, &c->ev);
	c->st.events++;
	return c->o.sink(&c->ev, c->o.sink_ud);
}

/* A hash the worker finished: attach it to its image in the table. */
static void on_hash(const struct de_enrich_result *r, void *ud)
{
	struct de_collector *c = ud;
	c->st.hash_results++;
	if (c->pt)
		de_pt_set_hashes(c->pt, r->req.entity_id, r->req.image, r->req.id.dev, r->req.id.ino,
				 r->err, &r->hashes);
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
		.ringbuf_bytes = c->o.ringbuf_bytes,
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
	c->proc_root = o->proc_root ? o->proc_root : "/proc";
	char reason[512], failed[64] = "";
	int r;
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0) {
		r = de_neg_errno();
		snprintf(why, why_len, "eventfd: %s", strerror(-r));
		free(c);
		return r;
	}
	if (o->table) {
		struct de_pt_opts po = { .max_exited = o->cfg->collector.max_exited };
		c->pt = de_pt_new(&po);
		if (!c->pt) {
			snprintf(why, why_len, "process table: out of memory");
			de_collector_close(c);
			return -ENOMEM;
		}
	}
	if (o->source != DE_SOURCE_AUTO) {
		enum de_event_source k = kind_of(o->source);
		r = try_open(c, k, reason, sizeof(reason));
		if (r < 0) {
			snprintf(why, why_len, "%s: %s", de_event_source_name(k), reason);
			de_collector_close(c);
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
				de_collector_close(c);
				return e;
			}
		}
		if (r < 0) {
			snprintf(why, why_len, "no event source could start (last: %s)", reason);
			de_collector_close(c);
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

const struct de_proctable *de_collector_table(const struct de_collector *c)
{
	return c->pt;
}

void de_collector_stats(const struct de_collector *c, struct de_collector_stats *st)
{
	*st = c->st;
}

/* The startup or resync snapshot: the source's own, or the shared one. A
 * snapshot is a resync of the live table: what it no longer finds alive is
 * closed as "exit missed" (*closed counts them). */
static int snapshot(struct de_collector *c, uint32_t *closed)
{
	int n;
	*closed = 0;
	c->st.resyncs++;
	if (c->pt)
		de_pt_resync_begin(c->pt);
	if (c->ops->snapshot) {
		n = c->ops->snapshot(c->src);
	} else {
		struct de_proc_opts po;
		de_proc_opts_from_config(&po, c->o.cfg);
		if (c->o.proc_root)
			po.proc_root = c->o.proc_root;
		n = de_procsnap_events(&po, c->ops->kind, relay, c);
	}
	if (c->pt) {
		if (n < 0)
			de_pt_resync_abort(c->pt);
		else
			*closed = de_pt_resync_end(c->pt, realtime_ns());
	}
	/* The snapshot's buffers (megabytes for 10,000 processes) are free
	 * now, but malloc keeps most of their pages: give them back (1.5 MB
	 * of procmond's RSS with 10,000 processes, docs/BENCHMARKS.md). */
	malloc_trim(0);
	return n;
}

static int resync(struct de_collector *c, const char *what)
{
	c->resync = false;
	uint32_t closed;
	int n = snapshot(c, &closed);
	c->last_resync_ms = mono_ms();
	if (n < 0)
		return n;
	if (c->pt)
		return status(c, c->ops->kind, DE_ST_RESYNC,
			      "%s: %d processes (live table: %u closed as exit missed)", what, n, closed);
	return status(c, c->ops->kind, DE_ST_RESYNC, "%s: %d processes", what, n);
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
	/* The hash worker starts here, not at open: procmond opens the
	 * collector as root and runs it after dropping privileges, and a
	 * thread keeps the credentials it was created with. */
	if (c->o.hash && c->o.cfg->hashing.enabled && !c->en) {
		struct de_enrich_opts eo;
		de_enrich_opts_from_config(&eo, c->o.cfg);
		eo.proc_root = c->proc_root;
		c->en = de_enrich_new(&eo);
		if (!c->en && (ret = status(c, c->ops->kind, DE_ST_DEGRADED,
					    "hashing off: starting the hash worker: %s",
					    strerror(errno))) < 0)
			goto out;
	}
	if (c->en) {
		ee.data.u32 = 3;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, de_enrich_fd(c->en), &ee) < 0) {
			ret = de_neg_errno();
			goto out;
		}
	}
	if (c->o.stop_on_signals) {
		ret = setup_signals(&sfd, &old_mask);
		ee.data.u32 = 2;
		if (!ret && epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ee) < 0)
			ret = de_neg_errno();
		if (ret)
			goto out;
	}
	ee.data.u32 = 4;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->wake_fd, &ee) < 0) {
		ret = de_neg_errno();
		goto out;
	}
	if (!c->o.no_snapshot) {
		ret = resync(c, "startup snapshot");
		if (ret < 0)
			goto out;
		ret = 0;
	}
	int64_t end = duration_ms >= 0 ? mono_ms() + duration_ms : -1;
	int64_t every = (int64_t)c->o.cfg->collector.resync_interval_s * 1000;
	int64_t next_resync = every > 0 ? mono_ms() + every : -1;
	const char *why_stop = "stopped";
	for (;;) {
		int64_t t = c->ops->timeout_ms(c->src);
		if (next_resync >= 0) {
			int64_t left = next_resync - mono_ms();
			if (left <= 0) {
				ret = resync(c, "periodic resync");
				if (ret < 0)
					break;
				next_resync = mono_ms() + every;
				continue;
			}
			t = t < 0 ? left : DE_MIN(t, left);
		}
		if (c->resync) {
			int64_t left = c->last_resync_ms + RESYNC_MIN_GAP_MS - mono_ms();
			if (left <= 0) {
				ret = resync(c, "resync snapshot");
				if (ret < 0)
					break;
				continue;
			}
			t = t < 0 ? left : DE_MIN(t, left);
		}
		if (end >= 0) {
			int64_t left = end - mono_ms();
			if (left <= 0) {
				why_stop = "duration elapsed";
				break;
			}
			t = t < 0 ? left : DE_MIN(t, left);
		}
		if (c->o.flush)
			c->o.flush(c->o.sink_ud);
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
			else if (evs[i].data.u32 == 3)
				de_enrich_poll(c->en, on_hash, c);
			uint64_t v;
			if (evs[i].data.u32 == 4 && read(c->wake_fd, &v, sizeof(v)) == sizeof(v))
				c->resync = true; /* asked for by de_collector_request_resync() */
		}
		if (sig) {
			why_stop = "signal";
			break;
		}
		ret = c->ops->dispatch(c->src);
		if (ret < 0)
			break;
	}
	if (ret == 0)
		ret = status(c, c->ops->kind, DE_ST_STOPPED, "%s", why_stop);
out:
	if (c->o.flush)
		c->o.flush(c->o.sink_ud);
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
	de_enrich_free(c->en);
	de_pt_free(c->pt);
	free(c);
}
