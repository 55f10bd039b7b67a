/* src_ebpf.c: the eBPF process event source (source.h, de_source_ebpf).
 *
 * src/bpf/events.bpf.c captures exec, fork and exit at three tp_btf
 * tracepoints, entirely in the kernel, and writes records (src/bpf/events.h)
 * to a BPF ring buffer. This side waits on the ring buffer's epoll fd and
 * turns each record into a struct de_event: start_boottime becomes clock
 * ticks and the entity id (the same id /proc gives, proc.h), boot-clock
 * times become UTC, the exit status becomes code or signal. Nothing reads
 * /proc per event, so a process that is gone by then is still complete.
 *
 * Never silent: records the ring had no room for are counted per type in
 * the kernel; runs of a program the kernel skipped (recursion misses) are
 * read from the programs' info once a second. Both reach the sink as one
 * DE_ST_DROPS status event with the counts since the last report. argv
 * that could not be read (a page not resident: tp_btf cannot fault pages
 * in) leaves DE_EVF_ARGV out of that event and is counted in a
 * DE_ST_DEGRADED status event.
 *
 * Wakeups are batched: while events flow the consumer comes back every
 * BATCH_MS (timeout_ms) instead of being woken per record, which costs
 * more than the record itself; the first record after a quiet period
 * still wakes it at once.
 *
 * What is not captured: the executable's path (only its device and inode,
 * and the path given to execve), hashes, the cgroup path (only its id).
 * argv is capped at min(collector.argv_max_bytes, 32 KiB).
 *
 * snapshot(): the BPF task iterator (bpfsnap.h) completed from /proc, or a
 * plain /proc scan when the iterator cannot load.
 */
#include "source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "de_build.h"

#if DE_HAVE_BPF

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <time.h>
#include <unistd.h>

#include "bpfring.h"
#include "bpfsnap.h"
#include "bpfutil.h"
#include "events.h"
#include "events.skel.h"
#include "macros.h"
#include "procscan.h"

#define MISS_CHECK_NS 1000000000ull
/* While events flow, come back every BATCH_MS instead of being woken per
 * record (a wakeup costs more than handling a record). */
#define BATCH_MS 50

struct de_source;
static void ebpf_close(struct de_source *s);

struct de_source {
	struct de_source_opts o;
	struct de_events_bpf *skel;
	struct de_bpfring *rb;
	struct de_proc_reader *reader; /* owns the boot id (read once at open) */
	const uint8_t *boot_id;
	int64_t boot_to_real_ns;       /* CLOCK_REALTIME - CLOCK_BOOTTIME, per dispatch */
	int ncpus;
	uint64_t *percpu;              /* ncpus values: the drops lookup buffer */
	uint64_t snap_count;           /* processes delivered by the running snapshot */
	struct de_bpfsnap_prog *snapprog; /* the task iterator, loaded at open (while privileged) */
	char snap_why[256];            /* why it could not be loaded */
	uint64_t drop_gen_seen;
	uint64_t drops_seen[DE_EV__COUNT];   /* kernel drop counts already reported */
	uint64_t misses_seen[DE_EV__COUNT];  /* recursion misses already reported */
	uint64_t argv_faults_seen;
	uint64_t next_miss_check_ns;
	int cb_err;                    /* the sink's error, ends a consume */
	int last_batch;                /* records the last dispatch consumed */
	char filename[DE_BPF_FILENAME_MAX + 1];
	char detail[384];
	struct de_event ev;
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Whether sched_process_exit passes group_dead (recent kernels): read from
 * the kernel's BTF, the same description tp_btf attaches by. */
static bool exit_has_group_dead(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	if (!btf)
		return false;
	bool yes = false;
	int id = btf__find_by_name_kind(btf, "btf_trace_sched_process_exit", BTF_KIND_TYPEDEF);
	const struct btf_type *t = id > 0 ? btf__type_by_id(btf, (uint32_t)id) : NULL;
	if (t)
		t = btf__type_by_id(btf, t->type); /* pointer */
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type); /* prototype: (void *data, task, [group_dead]) */
	if (t && btf_is_func_proto(t))
		yes = btf_vlen(t) >= 3;
	btf__free(btf);
	return yes;
}

static void deliver_status(struct de_source *s, enum de_status_kind kind)
{
	struct de_event *ev = &s->ev;
	int64_t now = (int64_t)clock_ns(CLOCK_REALTIME);
	uint64_t drops[DE_EV__COUNT];
	memcpy(drops, ev->drops, sizeof(drops));
	memset(ev, 0, sizeof(*ev));
	memcpy(ev->drops, drops, sizeof(drops));
	ev->type = DE_EV_STATUS;
	ev->source = DE_EVSRC_EBPF;
	ev->time_ns = now;
	ev->status = kind;
	ev->detail = s->detail;
	if (!s->cb_err) {
		int e = s->o.sink(ev, s->o.sink_ud);
		if (e < 0)
			s->cb_err = e;
	}
}

static enum de_event_type ev_type(uint16_t t)
{
	switch (t) {
	case DE_BPF_EV_EXEC: return DE_EV_EXEC;
	case DE_BPF_EV_FORK: return DE_EV_FORK;
	case DE_BPF_EV_EXIT: return DE_EV_EXIT;
	}
	return 0;
}

/* One ring buffer record -> one event for the sink. */
static int on_record(void *ctx, void *data, size_t size)
{
	struct de_source *s = ctx;
	struct de_bpf_ev r;
	if (size < sizeof(r))
		return 0; /* cannot happen: the kernel side writes whole headers */
	memcpy(&r, data, sizeof(r));
	const char *var = (const char *)data + sizeof(r);
	if ((size_t)r.filename_len + r.argv_len > size - sizeof(r) ||
	    r.filename_len > DE_BPF_FILENAME_MAX || !ev_type(r.type))
		return 0; /* cannot happen: the kernel side bounds both */

	struct de_event *ev = &s->ev;
	memset(ev, 0, sizeof(*ev));
	ev->type = ev_type(r.type);
	ev->source = DE_EVSRC_EBPF;
	ev->time_ns = (int64_t)r.time_ns + s->boot_to_real_ns;
	ev->pid = r.pid;
	ev->tid = r.tid;
	ev->start_ticks = de_start_ticks(r.start_boottime);
	de_entity_id(s->boot_id, r.pid, ev->start_ticks, ev->entity_id);
	memcpy(ev->comm, r.comm, sizeof(r.comm));
	ev->comm[sizeof(r.comm)] = '\0';
	memcpy(ev->uid, r.uid, sizeof(ev->uid));
	memcpy(ev->gid, r.gid, sizeof(ev->gid));
	ev->have = DE_EVF_CREDS;
	if (r.flags & DE_BPF_F_PARENT) {
		ev->ppid = r.ppid;
		de_entity_id(s->boot_id, r.ppid, de_start_ticks(r.parent_start_boottime),
			     ev->parent_entity_id);
		ev->have |= DE_EVF_PARENT;
	}
	if (r.flags & DE_BPF_F_AUDIT) {
		ev->loginuid = r.loginuid;
		ev->sessionid = r.sessionid;
		ev->have |= DE_EVF_LOGINUID;
	}
	if (r.cgroup_id) {
		ev->cgroup_id = r.cgroup_id;
		ev->have |= DE_EVF_CGROUP;
	}
	if (r.type == DE_BPF_EV_EXEC) {
		memcpy(s->filename, var, r.filename_len);
		s->filename[r.filename_len] = '\0';
		ev->filename = s->filename;
		ev->have |= DE_EVF_FILENAME;
		if (r.flags & DE_BPF_F_EXE) {
			struct de_file_id id;
			de_bpf_file_id(&r.exe, &id);
			de_event_set_exe_file(ev, &id);
		}
		if (!(r.flags & DE_BPF_F_ARGV_FAULT)) {
			const char *argv = var + r.filename_len;
			size_t n = r.argv_len;
			ev->argc = de_cmdline_argc(argv, n);
			if (n && argv[n - 1] == '\0')
				n--;
			ev->argv = argv;
			ev->argv_len = n;
			ev->argv_truncated = (r.flags & DE_BPF_F_ARGV_TRUNC) != 0;
			ev->have |= DE_EVF_ARGV;
		}
	} else if (r.type == DE_BPF_EV_EXIT) {
		int st = r.exit_status;
		ev->exit_signal = st & 0x7f;
		ev->exit_code = ev->exit_signal ? 0 : (st >> 8) & 0xff;
		ev->have |= DE_EVF_EXIT;
	}
	int e = s->o.sink(ev, s->o.sink_ud);
	if (e < 0)
		s->cb_err = e;
	return e < 0 ? e : 0;
}

static enum de_event_type prog_type(struct de_source *s, const struct bpf_program *p)
{
	if (p == s->skel->progs.de_exec)
		return DE_EV_EXEC;
	if (p == s->skel->progs.de_fork)
		return DE_EV_FORK;
	return DE_EV_EXIT;
}

/* Collect what was lost since the last report into s->ev.drops: kernel
 * drop counters (when drop_gen moved) and, with check_misses, the
 * programs' recursion misses. Returns whether anything was lost. */
static bool collect_drops(struct de_source *s, bool check_misses)
{
	uint64_t *out = s->ev.drops;
	bool any = false;
	memset(out, 0, sizeof(s->ev.drops));
	uint64_t gen = __atomic_load_n(&s->skel->bss->drop_gen, __ATOMIC_RELAXED);
	if (gen != s->drop_gen_seen) {
		s->drop_gen_seen = gen;
		for (uint32_t k = DE_BPF_EV_EXEC; k < DE_BPF_EV__COUNT; k++) {
			if (bpf_map__lookup_elem(s->skel->maps.drops, &k, sizeof(k), s->percpu,
						 sizeof(uint64_t) * (size_t)s->ncpus, 0) < 0)
				continue;
			uint64_t sum = 0;
			for (int c = 0; c < s->ncpus; c++)
				sum += s->percpu[c];
			enum de_event_type t = ev_type((uint16_t)k);
			if (sum > s->drops_seen[t]) {
				out[t] += sum - s->drops_seen[t];
				s->drops_seen[t] = sum;
				any = true;
			}
		}
	}
	if (check_misses) {
		struct bpf_program *p;
		bpf_object__for_each_program(p, s->skel->obj) {
			int fd = bpf_program__fd(p);
			if (fd < 0)
				continue; /* not loaded (the other exit variant) */
			struct bpf_prog_info info = {};
			uint32_t len = sizeof(info);
			if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
				continue;
			enum de_event_type t = prog_type(s, p);
			if (info.recursion_misses > s->misses_seen[t]) {
				out[t] += info.recursion_misses - s->misses_seen[t];
				s->misses_seen[t] = info.recursion_misses;
				any = true;
			}
		}
	}
	return any;
}

static void report_losses(struct de_source *s, bool check_misses)
{
	if (collect_drops(s, check_misses)) {
		snprintf(s->detail, sizeof(s->detail),
			 "ebpf: events lost (ring buffer full or program skipped): exec %llu, fork %llu, exit %llu",
			 (unsigned long long)s->ev.drops[DE_EV_EXEC],
			 (unsigned long long)s->ev.drops[DE_EV_FORK],
			 (unsigned long long)s->ev.drops[DE_EV_EXIT]);
		deliver_status(s, DE_ST_DROPS);
	}
	uint64_t faults = __atomic_load_n(&s->skel->bss->argv_faults, __ATOMIC_RELAXED);
	if (faults != s->argv_faults_seen) {
		snprintf(s->detail, sizeof(s->detail),
			 "ebpf: argv unreadable in the kernel (page not resident) for %llu exec events",
			 (unsigned long long)(faults - s->argv_faults_seen));
		s->argv_faults_seen = faults;
		memset(s->ev.drops, 0, sizeof(s->ev.drops));
		deliver_status(s, DE_ST_DEGRADED);
	}
}

/* collector.ring_buffer_bytes 0 (the default): 512 KiB per online CPU, a
 * power of two from 1 MiB to 16 MiB. The kernel maps every page of the
 * ring into the consumer, so its size is RSS; the rate a ring must absorb
 * between two wakeups grows with the CPUs that exec. */
static uint32_t ring_auto(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t want = (uint64_t)(n > 0 ? n : 1) * (512u << 10);
	uint32_t rb = 1u << 20;
	while (rb < want && rb < (16u << 20))
		rb <<= 1;
	return rb;
}

static int ebpf_open(const struct de_source_opts *o, struct de_source **out, char *why,
		     size_t why_len)
{
	int ret;
	*out = NULL;
	if (!o->sink || !o->cfg) {
		snprintf(why, why_len, "ebpf: no sink or configuration given");
		return -EINVAL;
	}
	uint32_t rb = o->ringbuf_bytes ? o->ringbuf_bytes
		      : o->cfg->collector.ring_buffer_bytes ? o->cfg->collector.ring_buffer_bytes
							    : ring_auto();
	long page = sysconf(_SC_PAGESIZE);
	if ((rb & (rb - 1)) || (page > 0 && rb < (uint32_t)page)) {
		snprintf(why, why_len,
			 "ebpf: ring buffer size %u (collector.ring_buffer_bytes) is not a power of two >= the page size",
			 rb);
		return -EINVAL;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0) {
		ret = de_neg_errno();
		snprintf(why, why_len, "ebpf: kernel has no BTF (/sys/kernel/btf/vmlinux: %s)",
			 strerror(-ret));
		return ret == -ENOENT ? -EOPNOTSUPP : ret;
	}
	struct de_source *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *o;
	struct de_proc_opts po;
	de_proc_opts_from_config(&po, o->cfg);
	if (o->proc_root)
		po.proc_root = o->proc_root;
	s->reader = de_proc_reader_new(&po);
	if (!s->reader) {
		ret = de_neg_errno();
		snprintf(why, why_len, "ebpf: opening %s: %s", po.proc_root, strerror(-ret));
		goto fail;
	}
	s->boot_id = de_proc_reader_boot_id(s->reader);
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0) {
		ret = s->ncpus < 0 ? s->ncpus : -EIO;
		de_bpf_why(why, why_len, "ebpf: counting possible CPUs", ret, "these tracepoints");
		goto fail;
	}
	s->percpu = calloc((size_t)s->ncpus, sizeof(uint64_t));
	if (!s->percpu) {
		ret = -ENOMEM;
		snprintf(why, why_len, "ebpf: out of memory");
		goto fail;
	}

	de_bpf_quiet_libbpf();
	s->skel = de_events_bpf__open();
	if (!s->skel) {
		ret = de_neg_errno();
		de_bpf_why(why, why_len, "ebpf: opening the BPF object", ret, "these tracepoints");
		goto fail;
	}
	uint32_t cap = o->cfg->collector.argv_max_bytes;
	s->skel->rodata->argv_cap = cap < DE_BPF_ARGV_MAX ? cap : DE_BPF_ARGV_MAX;
	s->skel->rodata->wakeup_bytes = DE_MIN(65536u, rb / 4);
	/* DE_EBPF_EXIT_LIVE=1 forces the older kernels' variant (tests) */
	const char *force = getenv("DE_EBPF_EXIT_LIVE");
	bool gd = !(force && *force == '1') && exit_has_group_dead();
	bpf_program__set_autoload(gd ? s->skel->progs.de_exit_nogd : s->skel->progs.de_exit, false);
	ret = bpf_map__set_max_entries(s->skel->maps.events, rb);
	if (ret == 0)
		ret = bpf_map__set_max_entries(s->skel->maps.scratch, (uint32_t)s->ncpus);
	if (ret < 0) {
		de_bpf_why(why, why_len, "ebpf: sizing the ring buffer", ret, "these tracepoints");
		goto fail;
	}
	ret = de_events_bpf__load(s->skel);
	if (ret < 0) {
		de_bpf_why(why, why_len, "ebpf: loading the tracepoint programs", ret, "these tracepoints");
		goto fail;
	}
	size_t elf_sz;
	const void *elf = de_events_bpf__elf_bytes(&elf_sz);
	de_bpf_release_elf(elf, elf_sz);
	ret = de_events_bpf__attach(s->skel);
	if (ret < 0) {
		de_bpf_why(why, why_len, "ebpf: attaching to sched_process_exec/fork/exit", ret, "these tracepoints");
		goto fail;
	}
	ret = de_bpfring_open(bpf_map__fd(s->skel->maps.events), rb, on_record, s, &s->rb);
	if (ret < 0) {
		de_bpf_why(why, why_len, "ebpf: mapping the ring buffer", ret, "these tracepoints");
		goto fail;
	}
	s->next_miss_check_ns = clock_ns(CLOCK_MONOTONIC) + MISS_CHECK_NS;
	/* The snapshot iterator too, now: the caller may drop privileges
	 * before the first snapshot. Without it snapshots read /proc (and say
	 * why). */
	if (de_bpfsnap_open(o->cfg->collector.argv_max_bytes, 0, &s->snapprog, s->snap_why,
			    sizeof(s->snap_why)) < 0)
		s->snapprog = NULL;
	*out = s;
	return 0;
fail:
	ebpf_close(s);
	return ret;
}

/* The ring buffer map's fd polls readable while records are pending. */
static int ebpf_fd(struct de_source *s) { return bpf_map__fd(s->skel->maps.events); }

/* Busy (the last dispatch had records): come back in BATCH_MS, records do
 * not wake us until min(64 KiB, ring/4) are pending. Idle: the next record wakes us;
 * once a second anyway, as recursion misses are only seen by asking. A
 * record written without a wakeup between the last dispatch and the switch
 * to idle is seen in the ring's positions: then the timeout is 0. */
static int ebpf_timeout_ms(struct de_source *s)
{
	bool busy = s->last_batch > 0;
	__atomic_store_n(&s->skel->data->consumer_idle, busy ? 0u : 1u, __ATOMIC_SEQ_CST);
	if (busy)
		return BATCH_MS;
	/* a record that came in (without a wakeup) since the last dispatch */
	if (de_bpfring_pending(s->rb))
		return 0;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	if (now >= s->next_miss_check_ns)
		return 0;
	return (int)((s->next_miss_check_ns - now) / 1000000u) + 1;
}

/* Deliver every record in the ring (without blocking), then any losses. */
static int ebpf_dispatch(struct de_source *s)
{
	s->boot_to_real_ns = (int64_t)clock_ns(CLOCK_REALTIME) - (int64_t)clock_ns(CLOCK_BOOTTIME);
	s->cb_err = 0;
	int n = de_bpfring_consume(s->rb);
	s->last_batch = n > 0 ? n : 0;
	if (s->cb_err)
		return s->cb_err;
	if (n < 0 && n != -EINTR)
		return n;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	bool misses = now >= s->next_miss_check_ns;
	if (misses)
		s->next_miss_check_ns = now + MISS_CHECK_NS;
	report_losses(s, misses);
	return s->cb_err;
}

/* procscan (single-threaded: emit runs in this thread) hands each process
 * here; it goes to the sink as a snapshot event. */
static int snap_emit(const struct de_proc *p, struct de_buf *out, struct de_buf *scratch, void *ud)
{
	(void)out;
	(void)scratch;
	struct de_source *s = ud;
	struct de_event *ev = &s->ev;
	memset(ev, 0, sizeof(*ev));
	ev->type = DE_EV_SNAPSHOT;
	ev->source = DE_EVSRC_EBPF;
	s->snap_count++;
	ev->time_ns = (int64_t)clock_ns(CLOCK_REALTIME);
	ev->pid = p->pid;
	ev->tid = p->pid;
	ev->ppid = p->ppid;
	ev->start_ticks = p->start_ticks;
	memcpy(ev->entity_id, p->entity_id, sizeof(ev->entity_id));
	memcpy(ev->comm, p->comm, sizeof(ev->comm));
	ev->partial = p->partial;
	ev->proc = p;
	ev->have = DE_EVF_PROC;
	return s->o.sink(ev, s->o.sink_ud);
}

static int snap_flush(const char *data, size_t len, void *ud)
{
	(void)data;
	(void)len;
	(void)ud;
	return 0;
}

static unsigned snap_known(size_t i, struct de_proc *p, void *ud)
{
	return de_bpfsnap_fill(ud, i, p);
}

static int ebpf_snapshot(struct de_source *s)
{
	struct de_proc_opts po;
	de_proc_opts_from_config(&po, s->o.cfg);
	if (s->o.proc_root)
		po.proc_root = s->o.proc_root;
	struct de_scan sc = {
		.opts = &po, .threads = 1, .emit = snap_emit, .flush = snap_flush, .ud = s,
	};
	struct de_bpfsnap *snap = NULL;
	char why[256];
	/* The iterator loaded at open: a snapshot after a privilege drop still
	 * works (reading an attached iterator needs no capability). */
	int ret = s->snapprog ? de_bpfsnap_read(s->snapprog, &snap, why, sizeof(why))
			      : (snprintf(why, sizeof(why), "%s", s->snap_why), -EOPNOTSUPP);
	if (ret == 0) {
		sc.known = snap_known;
		sc.known_ud = snap;
		sc.n_known = de_bpfsnap_count(snap);
	} else {
		snprintf(s->detail, sizeof(s->detail), "ebpf snapshot: task iterator unavailable (%s); reading /proc",
			 why);
		memset(s->ev.drops, 0, sizeof(s->ev.drops));
		s->cb_err = 0;
		deliver_status(s, DE_ST_DEGRADED);
		if (s->cb_err)
			return s->cb_err;
	}
	s->snap_count = 0;
	ret = de_proc_scan_all(&sc);
	de_bpfsnap_free(snap);
	return ret < 0 ? ret : (int)s->snap_count;
}

static void ebpf_close(struct de_source *s)
{
	if (!s)
		return;
	de_bpfsnap_close(s->snapprog);
	de_bpfring_close(s->rb);
	de_events_bpf__destroy(s->skel);
	de_proc_reader_free(s->reader);
	free(s->percpu);
	free(s);
}

#else /* !DE_HAVE_BPF */

struct de_source {
	int unused;
};

static int ebpf_open(const struct de_source_opts *o, struct de_source **out, char *why,
		     size_t why_len)
{
	(void)o;
	*out = NULL;
	snprintf(why, why_len, "ebpf: built without BPF support");
	return -EOPNOTSUPP;
}

static int ebpf_fd(struct de_source *s) { (void)s; return -EOPNOTSUPP; }
static int ebpf_timeout_ms(struct de_source *s) { (void)s; return -1; }
static int ebpf_dispatch(struct de_source *s) { (void)s; return -EOPNOTSUPP; }
static int ebpf_snapshot(struct de_source *s) { (void)s; return -EOPNOTSUPP; }
static void ebpf_close(struct de_source *s) { (void)s; }

#endif

const struct de_source_ops de_source_ebpf = {
	.kind = DE_EVSRC_EBPF,
	.open = ebpf_open,
	.fd = ebpf_fd,
	.timeout_ms = ebpf_timeout_ms,
	.dispatch = ebpf_dispatch,
	.snapshot = ebpf_snapshot,
	.close = ebpf_close,
};
