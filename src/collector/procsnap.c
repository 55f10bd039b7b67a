/* procsnap.c: see procsnap.h.
 *
 * Flat record, as a worker appends it to its batch buffer:
 *   u32 total length | struct de_proc (pointers meaningless) |
 *   for each string field: u32 length + 1 (0 = NULL) and the bytes + NUL.
 */
#include "procsnap.h"

#include <string.h>
#include <time.h>

#include "procscan.h"

struct strfield {
	size_t ptr_off; /* offsetof the const char * in struct de_proc */
	size_t len_off; /* offsetof its size_t length, or SIZE_MAX: strlen */
};

#define SF(f) { offsetof(struct de_proc, f), SIZE_MAX }
#define SFL(f, l) { offsetof(struct de_proc, f), offsetof(struct de_proc, l) }
static const struct strfield strfields[] = {
	SF(user), SF(cgroup), SF(container_id), SF(container_runtime), SF(exe), SF(cwd), SF(root),
	SFL(argv, argv_len), SFL(env, env_len),
};

static int flat_emit(const struct de_proc *p, struct de_buf *out, struct de_buf *scratch, void *ud)
{
	(void)scratch;
	(void)ud;
	size_t start = out->len;
	uint32_t total = 0;
	de_buf_append(out, &total, sizeof(total));
	de_buf_append(out, p, sizeof(*p));
	for (size_t i = 0; i < DE_ARRAY_SIZE(strfields); i++) {
		const char *s;
		memcpy(&s, (const char *)p + strfields[i].ptr_off, sizeof(s));
		size_t n = 0;
		if (s && strfields[i].len_off == SIZE_MAX)
			n = strlen(s);
		else if (s)
			memcpy(&n, (const char *)p + strfields[i].len_off, sizeof(n));
		uint32_t l = s ? (uint32_t)n + 1 : 0;
		de_buf_append(out, &l, sizeof(l));
		if (s) {
			de_buf_append(out, s, n);
			de_buf_putc(out, '\0');
		}
	}
	if (out->err)
		return out->err;
	total = (uint32_t)(out->len - start);
	memcpy(out->data + start, &total, sizeof(total));
	return 0;
}

struct flat_run {
	de_procsnap_fn fn;
	void *ud;
	struct de_proc p;
};

static int flat_flush(const char *data, size_t len, void *ud)
{
	struct flat_run *run = ud;
	size_t off = 0;
	while (off + sizeof(uint32_t) + sizeof(run->p) <= len) {
		uint32_t total;
		memcpy(&total, data + off, sizeof(total));
		const char *q = data + off + sizeof(total);
		memcpy(&run->p, q, sizeof(run->p));
		q += sizeof(run->p);
		for (size_t i = 0; i < DE_ARRAY_SIZE(strfields); i++) {
			uint32_t l;
			memcpy(&l, q, sizeof(l));
			q += sizeof(l);
			const char *s = l ? q : NULL;
			memcpy((char *)&run->p + strfields[i].ptr_off, &s, sizeof(s));
			q += l;
		}
		int r = run->fn(&run->p, run->ud);
		if (r < 0)
			return r;
		off += total;
	}
	return 0;
}

int de_procsnap_scan(const struct de_proc_opts *o, unsigned threads, de_procsnap_fn fn, void *ud)
{
	struct flat_run *run = calloc(1, sizeof(*run));
	if (!run)
		return -ENOMEM;
	run->fn = fn;
	run->ud = ud;
	struct de_scan s = {
		.opts = o,
		.threads = threads,
		.emit = flat_emit,
		.flush = flat_flush,
		.ud = run,
	};
	int r = de_proc_scan_all(&s);
	free(run);
	return r;
}

static bool got(const struct de_proc *p, enum de_pf g)
{
	return p->err[g] == 0;
}

void de_event_from_proc(struct de_event *ev, enum de_event_type type, enum de_event_source src,
			const struct de_proc *p)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->source = src;
	ev->pid = ev->tid = p->pid;
	ev->ppid = p->ppid;
	ev->start_ticks = p->start_ticks;
	memcpy(ev->entity_id, p->entity_id, sizeof(ev->entity_id));
	memcpy(ev->comm, p->comm, sizeof(ev->comm));
	ev->partial = p->partial;
	ev->have = DE_EVF_PROC;
	ev->proc = p;
	if (got(p, DE_PF_STATUS)) {
		memcpy(ev->uid, p->uid, sizeof(ev->uid));
		memcpy(ev->gid, p->gid, sizeof(ev->gid));
		ev->have |= DE_EVF_CREDS;
	}
	if (got(p, DE_PF_LOGINUID) && got(p, DE_PF_SESSIONID)) {
		ev->loginuid = p->loginuid;
		ev->sessionid = p->sessionid;
		ev->have |= DE_EVF_LOGINUID;
	}
	if (got(p, DE_PF_CMDLINE)) {
		ev->argv = p->argv;
		ev->argv_len = p->argv_len;
		ev->argc = p->argc;
		ev->argv_truncated = p->argv_truncated;
		ev->have |= DE_EVF_ARGV;
	}
	if (got(p, DE_PF_EXE) && p->exe) {
		ev->exe = p->exe;
		ev->exe_deleted = p->exe_deleted;
		ev->exe_memfd = p->exe_memfd;
		ev->have |= DE_EVF_EXE;
	}
	if (got(p, DE_PF_EXE_FILE))
		de_event_set_exe_file(ev, &p->exe_file);
	if (got(p, DE_PF_CGROUP) && p->cgroup) {
		ev->cgroup = p->cgroup;
		ev->container_id = p->container_id;
		ev->have |= DE_EVF_CGROUP;
	}
	if (got(p, DE_PF_HASH)) {
		ev->hashes = p->hashes;
		ev->have |= DE_EVF_HASH;
	}
}

struct snap_run {
	enum de_event_source src;
	de_event_sink_fn sink;
	void *ud;
	struct de_event ev;
};

static int snap_one(const struct de_proc *p, void *ud)
{
	struct snap_run *s = ud;
	de_event_from_proc(&s->ev, DE_EV_SNAPSHOT, s->src, p);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->ev.time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	return s->sink(&s->ev, s->ud);
}

int de_procsnap_events(const struct de_proc_opts *o, enum de_event_source src,
		       de_event_sink_fn sink, void *ud)
{
	struct snap_run *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->src = src;
	s->sink = sink;
	s->ud = ud;
	int r = de_procsnap_scan(o, 0, snap_one, s);
	free(s);
	return r;
}
