/* src_proc.c: the /proc polling event source, the last fallback.
 *
 * Every collector.poll_interval_ms it scans /proc on all cores
 * (procsnap.h) and compares with the previous scan, keyed by pid and
 * start time (the entity id), so a reused pid is a new process:
 *   - a process not seen before -> DE_EV_EXEC with DE_EVF_PROC detail;
 *     `detail` says "new process, seen by /proc polling": it may have
 *     exec'd earlier than that or several times, and its fork is not
 *     reported separately;
 *   - a known process whose exe, argv or comm changed -> DE_EV_EXEC
 *     (detail "image changed, ..."); a process that rewrites its own argv
 *     (setproctitle) is reported the same way;
 *   - a process gone since the last scan -> DE_EV_EXIT without an exit
 *     status (DE_EVF_EXIT is not in `have`: /proc cannot know it); a
 *     known process seen dying (zombie, or its memory already released,
 *     which empties its command line and exe) is not an image change.
 * A scan can catch a process inside execve(): the kernel has switched it
 * to the new image (exe and comm) but not yet written its arguments, so
 * its command line reads empty. Reporting that would report one exec
 * twice (empty argv now, the real one at the next scan), so a new or
 * changed image with an empty command line is held back one scan, then
 * reported as it is then: a process that really runs without arguments
 * is reported one poll interval late, never dropped.
 * time_ns of these events is when the scan saw them, not when they
 * happened. Processes that start and end between two scans are never
 * seen, which is why the source reports DE_ST_DEGRADED, with the reason,
 * before any other event. No fd to wait on: timeout_ms() says when the
 * next scan is due, so the collector sleeps in epoll between scans.
 */
#include <string.h>
#include <time.h>

#include "buf.h"
#include "hash.h"
#include "pidmap.h"
#include "procsnap.h"
#include "source.h"

struct de_source {
	struct de_source_opts o;
	struct de_proc_opts po;
	struct de_pidmap map;
	uint8_t boot_id[16];
	uint32_t gen;
	bool seeded;        /* the map holds a complete scan */
	bool degraded_sent;
	int64_t next_ns;    /* CLOCK_MONOTONIC of the next scan */
	bool emit;          /* this scan reports (false: it only seeds) */
	enum de_event_type snap_type;
	struct de_buf scratch; /* image_of() */
	struct de_event ev;
};

static int64_t now_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* 64 bits of BLAKE3 over exe, argv and comm: what "the image" means here. */
static uint64_t image_of(struct de_source *s, const struct de_proc *p)
{
	struct de_buf *b = &s->scratch;
	de_buf_reset(b);
	if (p->exe)
		de_buf_puts(b, p->exe);
	de_buf_putc(b, '\0');
	if (p->argv)
		de_buf_append(b, p->argv, p->argv_len);
	de_buf_putc(b, '\0');
	de_buf_puts(b, p->comm);
	struct de_hashes h;
	uint64_t v = 0;
	if (!b->err && de_hash_mem(b->data, b->len, DE_HASH_BLAKE3, &h) == 0)
		memcpy(&v, h.blake3, sizeof(v));
	return v;
}

static int send_degraded(struct de_source *s)
{
	if (s->degraded_sent)
		return 0;
	s->degraded_sent = true;
	char detail[160];
	snprintf(detail, sizeof(detail),
		 "polling /proc every %u ms: processes that live shorter are missed, exits carry no status",
		 s->o.cfg->collector.poll_interval_ms);
	struct de_event ev = {
		.type = DE_EV_STATUS,
		.source = DE_EVSRC_PROC,
		.status = DE_ST_DEGRADED,
		.detail = detail,
		.time_ns = now_ns(CLOCK_REALTIME),
	};
	return s->o.sink(&ev, s->o.sink_ud);
}

static void set_parent(struct de_source *s, struct de_event *ev)
{
	struct de_pidmap_ent *pe = ev->ppid > 0 ? de_pidmap_get(&s->map, ev->ppid) : NULL;
	if (pe && pe->start_ticks) {
		de_entity_id(s->boot_id, ev->ppid, pe->start_ticks, ev->parent_entity_id);
		ev->have |= DE_EVF_PARENT;
	}
}

static int deliver_exit(struct de_source *s, const struct de_pidmap_ent *e)
{
	struct de_event *ev = &s->ev;
	memset(ev, 0, sizeof(*ev));
	ev->type = DE_EV_EXIT;
	ev->source = DE_EVSRC_PROC;
	ev->pid = ev->tid = e->pid;
	ev->ppid = e->ppid;
	ev->start_ticks = e->start_ticks;
	de_entity_id(s->boot_id, e->pid, e->start_ticks, ev->entity_id);
	memcpy(ev->comm, e->comm, sizeof(ev->comm));
	ev->detail = "gone, seen by /proc polling (exit status unknown)";
	ev->time_ns = now_ns(CLOCK_REALTIME);
	set_parent(s, ev);
	return s->o.sink(ev, s->o.sink_ud);
}

static const char WHY_NEW[] = "new process, seen by /proc polling";
static const char WHY_CHANGED[] = "image changed (exe, argv or comm), seen by /proc polling";

enum { HELD_NO, HELD_NEW, HELD_CHANGED };

/* A process on its way out: a zombie, one that exited while being read, or
 * one whose memory is already released (no command line, no exe). Its
 * image did not change; its exit is reported once it is gone. */
static bool dying(const struct de_proc *p)
{
	return p->partial || p->state == 'Z' || p->state == 'X' ||
	       (p->argv_len == 0 && p->err[DE_PF_EXE] != 0);
}

/* A live process whose command line reads empty: maybe one caught inside
 * execve() (see the header comment). */
static bool maybe_mid_exec(const struct de_proc *p)
{
	return p->argv_len == 0 && p->err[DE_PF_CMDLINE] == 0 && !dying(p);
}

/* One process of a scan: compare with what the map knows. */
static int on_proc(const struct de_proc *p, void *ud)
{
	struct de_source *s = ud;
	if (p->kthread)
		return 0; /* kernel threads do not exec */
	struct de_pidmap_ent *e = de_pidmap_get(&s->map, p->pid);
	const char *why = NULL;
	if (e && e->start_ticks != p->start_ticks) {
		if (s->emit) { /* the pid was reused: the old process ended */
			int r = deliver_exit(s, e);
			if (r < 0)
				return r;
		}
		e = NULL;
	}
	if (e && s->snap_type != DE_EV_SNAPSHOT && dying(p)) {
		e->mark = s->gen; /* still there; a snapshot still reports it */
		return 0;
	}
	uint64_t img = image_of(s, p);
	int held = e ? e->held : HELD_NO;
	if (!e || held == HELD_NEW)
		why = WHY_NEW;
	else if (e->image != img || held == HELD_CHANGED)
		why = WHY_CHANGED;
	if (!e) {
		e = de_pidmap_put(&s->map, p->pid);
		if (!e)
			return -ENOMEM;
	}
	e->ppid = p->ppid;
	e->start_ticks = p->start_ticks;
	e->image = img;
	e->mark = s->gen;
	e->uid = p->err[DE_PF_STATUS] == 0 ? p->uid[DE_ID_REAL] : UINT32_MAX;
	e->held = HELD_NO;
	memcpy(e->comm, p->comm, sizeof(e->comm));
	if (!s->emit && s->snap_type != DE_EV_SNAPSHOT)
		return 0;
	if (why && s->snap_type != DE_EV_SNAPSHOT && held == HELD_NO && maybe_mid_exec(p)) {
		e->held = why == WHY_NEW ? HELD_NEW : HELD_CHANGED; /* look again next scan */
		return 0;
	}
	if (s->snap_type == DE_EV_SNAPSHOT)
		why = NULL;
	else if (!why)
		return 0;
	struct de_event *ev = &s->ev;
	de_event_from_proc(ev, s->snap_type, DE_EVSRC_PROC, p);
	ev->detail = why;
	ev->time_ns = now_ns(CLOCK_REALTIME);
	set_parent(s, ev);
	return s->o.sink(ev, s->o.sink_ud);
}

/* Scan once. type DE_EV_EXEC: report changes; DE_EV_SNAPSHOT: report
 * every process as a snapshot; emit false: only (re)build the map. */
static int scan(struct de_source *s, enum de_event_type type, bool emit)
{
	s->gen++;
	s->emit = emit;
	s->snap_type = type;
	int r = de_procsnap_scan(&s->po, 0, on_proc, s);
	if (r < 0)
		return r;
	/* Vanished: entries this scan did not mark. Collect first (deleting
	 * shifts entries), then report and delete. */
	size_t n = 0;
	for (size_t i = 0; i < s->map.cap; i++)
		if (s->map.slots[i].pid && s->map.slots[i].mark != s->gen)
			n++;
	if (n) {
		struct de_pidmap_ent *gone = malloc(n * sizeof(*gone));
		if (!gone)
			return -ENOMEM;
		size_t k = 0;
		for (size_t i = 0; i < s->map.cap && k < n; i++)
			if (s->map.slots[i].pid && s->map.slots[i].mark != s->gen)
				gone[k++] = s->map.slots[i];
		for (size_t i = 0; i < k; i++)
			de_pidmap_del(&s->map, gone[i].pid);
		for (size_t i = 0; i < k && r >= 0 && emit && type != DE_EV_SNAPSHOT; i++) {
			int e = deliver_exit(s, &gone[i]);
			if (e < 0)
				r = e;
		}
		free(gone);
	}
	s->seeded = true;
	return r;
}

static void schedule(struct de_source *s)
{
	s->next_ns = now_ns(CLOCK_MONOTONIC) + (int64_t)s->o.cfg->collector.poll_interval_ms * 1000000;
}

static int pr_dispatch(struct de_source *s)
{
	int r = send_degraded(s);
	if (r < 0)
		return r;
	if (now_ns(CLOCK_MONOTONIC) < s->next_ns)
		return 0;
	r = scan(s, DE_EV_EXEC, s->seeded);
	schedule(s);
	return r < 0 ? r : 0;
}

static int pr_snapshot(struct de_source *s)
{
	int r = send_degraded(s);
	if (r < 0)
		return r;
	r = scan(s, DE_EV_SNAPSHOT, true);
	schedule(s);
	return r;
}

static int pr_fd(struct de_source *s)
{
	(void)s;
	return -1; /* nothing to wait on: timeout_ms() drives the scans */
}

static int pr_timeout(struct de_source *s)
{
	if (!s->degraded_sent)
		return 0;
	int64_t left = s->next_ns - now_ns(CLOCK_MONOTONIC);
	if (left <= 0)
		return 0;
	return (int)((left + 999999) / 1000000);
}

static void pr_close(struct de_source *s)
{
	if (!s)
		return;
	de_pidmap_free(&s->map);
	de_buf_free(&s->scratch);
	free(s);
}

static int pr_open(const struct de_source_opts *o, struct de_source **out, char *why, size_t why_len)
{
	struct de_source *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	s->o = *o;
	de_pidmap_init(&s->map);
	de_proc_opts_from_config(&s->po, o->cfg);
	if (o->proc_root)
		s->po.proc_root = o->proc_root;
	s->po.skip_users = true;
	s->po.groups = DE_PF_BIT(DE_PF_STAT) | DE_PF_BIT(DE_PF_STATUS) | DE_PF_BIT(DE_PF_CMDLINE) |
		       DE_PF_BIT(DE_PF_EXE) | DE_PF_BIT(DE_PF_EXE_FILE) | DE_PF_BIT(DE_PF_CWD) |
		       DE_PF_BIT(DE_PF_CGROUP) | DE_PF_BIT(DE_PF_LOGINUID) |
		       DE_PF_BIT(DE_PF_SESSIONID);
	/* A reader only to check that /proc is readable and learn the boot id. */
	struct de_proc_reader *r = de_proc_reader_new(&s->po);
	if (!r) {
		int e = errno ? -errno : -ENOMEM;
		snprintf(why, why_len, "reading %s: %s", s->po.proc_root, strerror(-e));
		pr_close(s);
		return e;
	}
	memcpy(s->boot_id, de_proc_reader_boot_id(r), sizeof(s->boot_id));
	de_proc_reader_free(r);
	s->next_ns = now_ns(CLOCK_MONOTONIC); /* first scan (seeding) right away */
	*out = s;
	return 0;
}

const struct de_source_ops de_source_proc = {
	.kind = DE_EVSRC_PROC,
	.open = pr_open,
	.fd = pr_fd,
	.timeout_ms = pr_timeout,
	.dispatch = pr_dispatch,
	.snapshot = pr_snapshot,
	.close = pr_close,
};
