/* bpfsnap.c: see bpfsnap.h.
 *
 * The whole iterator output is read into one buffer (a few hundred bytes
 * per process: ~5 MB for 10,000), indexed by pid, and other threads'
 * counters are summed into their process, as /proc does. Records are
 * only read after that, so workers can fill processes in parallel.
 */
#include "bpfsnap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "de_build.h"

#if DE_HAVE_BPF

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "bpfutil.h"
#include "buf.h"
#include "fileio.h"
#include "hash.h"
#include "log.h"
#include "macros.h"
#include "procparse.h"
#include "snapshot.h"
#include "snapshot.skel.h"

#define PF_KTHREAD 0x00200000u
#define READ_CHUNK (1u << 20)
/* Pages of the read buffer made present ahead of the kernel's copy. */
#define POPULATE_AHEAD (512u << 10)

/* Per process: what the other threads add (times, faults, I/O). */
struct thread_sums {
	uint64_t utime, stime, rtime, minflt, majflt;
	struct de_snap_io io;
};

/* Per process: its record and how each walked field ended. */
struct proc_ix {
	const struct de_snap_proc *r;             /* into buf */
	int32_t status[DE_SNAP_FLD__COUNT];       /* 0, DE_SNAP_FALLBACK, -errno; */
	uint32_t value[DE_SNAP_FLD__COUNT];       /* DE_SNAP_FALLBACK until seen */
	uint32_t off[DE_SNAP_FLD__COUNT];         /* path strings, into the arena */
	uint32_t cid_off;                         /* container id, UINT32_MAX: none */
	const char *runtime;
	uint32_t sum;                             /* index in sums, 0: no other threads */
	bool exe_deleted, exe_memfd;
};

struct de_bpfsnap {
	char *buf;
	size_t len;
	struct proc_ix *procs; /* sorted by tgid */
	struct de_buf arena;   /* assembled paths, NUL-terminated */
	bool cgroup_v2;        /* /proc/PID/cgroup has a "0::" line to stand for */
	struct thread_sums *sums; /* [0] is zeros; only multi-threaded processes have one */
	size_t nsums;
	size_t n;
	/* Kernel 6.18 was seen to leave pid 1 (and its threads) out of the task
	 * iterator: then index 0 is pid 1, to be read from /proc whole. */
	bool pid1_from_proc;
	uint32_t argv_max;   /* the configured cap */
	uint64_t page_size;
	int64_t ns_per_tick;
	uint64_t load_ns, read_ns;
};

bool de_bpfsnap_built(void) { return true; }

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_proc(const void *a, const void *b)
{
	const struct de_snap_proc *x = ((const struct proc_ix *)a)->r;
	const struct de_snap_proc *y = ((const struct proc_ix *)b)->r;
	return (x->ids.tgid > y->ids.tgid) - (x->ids.tgid < y->ids.tgid);
}

static ssize_t find_tgid(const struct de_bpfsnap *s, int32_t tgid)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int32_t v = s->procs[mid].r->ids.tgid;
		if (v == tgid)
			return (ssize_t)mid;
		if (v < tgid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void add_io(struct de_snap_io *a, const struct de_snap_io *b)
{
	a->rchar += b->rchar;
	a->wchar += b->wchar;
	a->syscr += b->syscr;
	a->syscw += b->syscw;
	a->read_bytes += b->read_bytes;
	a->write_bytes += b->write_bytes;
	a->cancelled_write_bytes += b->cancelled_write_bytes;
}

/* Names of the path being read, leaf first (positions in buf). */
struct names {
	size_t *pos;
	size_t n, cap;
};

/* The string /proc shows for a walked path: "/" and the names root first,
 * or "/" alone, with the suffixes the kernel adds. Appended to the arena
 * with its NUL; returns its offset or a negative errno. */
static int64_t assemble(struct de_bpfsnap *s, const struct names *nm, uint8_t flags)
{
	size_t off = s->arena.len;
	if (nm->n == 0 || (flags & DE_SNAP_P_RESET)) {
		de_buf_putc(&s->arena, '/');
	} else {
		for (size_t k = nm->n; k-- > 0;) {
			const struct de_snap_name *h = (const void *)(s->buf + nm->pos[k]);
			de_buf_putc(&s->arena, '/');
			de_buf_append(&s->arena, h + 1, h->len);
		}
	}
	if (flags & (DE_SNAP_P_DELETED | DE_SNAP_P_DNAME | DE_SNAP_P_CG_DEAD))
		de_buf_puts(&s->arena, " (deleted)");
	de_buf_putc(&s->arena, '\0');
	if (s->arena.err)
		return s->arena.err;
	return (int64_t)off;
}

/* Per walked field, the last path assembled (DE_SNAP_P_SAME refers to it),
 * and the container id of the last cgroup path. */
struct last_paths {
	uint32_t off[DE_SNAP_PATHS];
	int32_t tgid[DE_SNAP_PATHS]; /* whose path; 0: none yet */
	uint32_t cid_off;
	const char *runtime;
};

/* A field record ends the names before it: keep the path (or the count). */
static int end_field(struct de_bpfsnap *s, struct proc_ix *ix, const struct de_snap_field *f,
		     struct names *nm, struct last_paths *last)
{
	bool same = f->flags & DE_SNAP_P_SAME;
	if (same && (f->field >= DE_SNAP_PATHS || f->status != 0 || nm->n ||
		     f->size < sizeof(struct de_snap_same)))
		return -EPROTO;
	ix->status[f->field] = f->status;
	ix->value[f->field] = f->value;
	if (f->field == DE_SNAP_FLD_FD || f->status != 0)
		return 0;
	if (f->field == DE_SNAP_FLD_CGROUP && !s->cgroup_v2) {
		ix->status[f->field] = DE_SNAP_FALLBACK; /* /proc shows v1 paths */
		return 0;
	}
	uint32_t off;
	if (same) {
		const struct de_snap_same *r = (const void *)f;
		if (r->tgid <= 0 || last->tgid[f->field] != r->tgid) {
			/* the walk it repeats was discarded by the kernel */
			ix->status[f->field] = DE_SNAP_FALLBACK;
			return 0;
		}
		off = last->off[f->field];
	} else {
		int64_t o = assemble(s, nm, f->flags);
		if (o < 0)
			return (int)o;
		if (o > UINT32_MAX - 4096)
			return -E2BIG;
		off = (uint32_t)o;
	}
	ix->off[f->field] = off;
	char *path = s->arena.data + off;
	if (f->field == DE_SNAP_FLD_EXE) {
		de_exe_classify_links(path, strlen(path), true, f->value, &ix->exe_deleted,
				      &ix->exe_memfd);
	} else if (f->field == DE_SNAP_FLD_CGROUP && same) {
		ix->cid_off = last->cid_off;
		ix->runtime = last->runtime;
	} else if (f->field == DE_SNAP_FLD_CGROUP) {
		char id[65];
		if (de_container_id(path, id, &ix->runtime)) {
			ix->cid_off = (uint32_t)s->arena.len;
			de_buf_append(&s->arena, id, strlen(id) + 1);
		}
		last->cid_off = ix->cid_off;
		last->runtime = ix->runtime;
	}
	if (!same) {
		last->off[f->field] = off;
		last->tgid[f->field] = ix->r->ids.tgid;
	}
	return s->arena.err;
}

static int add_name(struct names *nm, size_t pos)
{
	if (nm->n == nm->cap) {
		size_t cap = nm->cap ? 2 * nm->cap : 64;
		size_t *np = realloc(nm->pos, cap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		nm->pos = np;
		nm->cap = cap;
	}
	nm->pos[nm->n++] = pos;
	return 0;
}

/* Walk the records twice: index the processes (assembling their paths),
 * then add up the threads. */
static int index_records(struct de_bpfsnap *s)
{
	size_t cap = 0, pos = 0;
	struct names nm = { 0 };
	struct last_paths last = { .cid_off = UINT32_MAX };
	struct proc_ix *cur = NULL;
	int ret = 0;
	while (pos + 8 <= s->len) {
		uint16_t kind;
		uint32_t size;
		memcpy(&kind, s->buf + pos, sizeof(kind));
		memcpy(&size, s->buf + pos + 4, sizeof(size));
		ret = -EPROTO;
		if (size < 8 || size % 8 || size > s->len - pos)
			goto out;
		if (kind == DE_SNAP_PROC) {
			const struct de_snap_proc *r = (const void *)(s->buf + pos);
			if (size < sizeof(*r) ||
			    size - sizeof(*r) < (size_t)r->ids.ngroups_copied * 4 + r->ids.argv_len + 4 ||
			    r->ids.ngroups_copied > DE_SNAP_GROUPS_MAX || r->ids.tgid <= 0)
				goto out; /* the task iterator never shows pid 0 */
			if (s->n == cap) {
				cap = cap ? 2 * cap : 1024;
				struct proc_ix *np = realloc(s->procs, cap * sizeof(*np));
				ret = -ENOMEM;
				if (!np)
					goto out;
				s->procs = np;
			}
			cur = &s->procs[s->n++];
			*cur = (struct proc_ix){ .r = r, .cid_off = UINT32_MAX };
			for (int f = 0; f < DE_SNAP_FLD__COUNT; f++)
				cur->status[f] = DE_SNAP_FALLBACK;
			nm.n = 0;
		} else if (kind == DE_SNAP_NAME) {
			const struct de_snap_name *h = (const void *)(s->buf + pos);
			if (!cur || h->field >= DE_SNAP_FLD__COUNT || (size_t)h->len + 8 > size)
				goto out;
			ret = add_name(&nm, pos);
			if (ret < 0)
				goto out;
		} else if (kind == DE_SNAP_FIELD) {
			const struct de_snap_field *f = (const void *)(s->buf + pos);
			if (!cur || size < sizeof(*f) || f->field >= DE_SNAP_FLD__COUNT)
				goto out;
			ret = end_field(s, cur, f, &nm, &last);
			if (ret < 0)
				goto out;
			nm.n = 0;
		} else if (kind != DE_SNAP_THREAD) {
			goto out;
		}
		pos += size;
	}
	ret = -EPROTO;
	if (pos != s->len)
		goto out;
	ret = 0;
	/* one reader walks pids in increasing order; parallel readers' parts
	 * are appended one after the other */
	for (size_t i = 1; i < s->n; i++) {
		if (s->procs[i - 1].r->ids.tgid >= s->procs[i].r->ids.tgid) {
			qsort(s->procs, s->n, sizeof(*s->procs), cmp_proc);
			break;
		}
	}
	/* a process two parallel readers both wrote (snapshot.bpf.c allows
	 * it rather than risk a miss): keep one */
	size_t kept = 0;
	for (size_t i = 0; i < s->n; i++)
		if (!kept || s->procs[kept - 1].r->ids.tgid != s->procs[i].r->ids.tgid)
			s->procs[kept++] = s->procs[i];
	s->n = kept;
out:
	free(nm.pos);
	return ret;
}

/* Add the other threads' counters to their processes. */
static int sum_threads(struct de_bpfsnap *s)
{
	size_t cap = 16;
	s->sums = calloc(cap, sizeof(*s->sums));
	if (!s->sums)
		return -ENOMEM;
	s->nsums = 1;
	for (size_t pos = 0; pos < s->len;) {
		uint16_t kind;
		uint32_t size;
		memcpy(&kind, s->buf + pos, sizeof(kind));
		memcpy(&size, s->buf + pos + 4, sizeof(size));
		if (kind == DE_SNAP_THREAD && size >= sizeof(struct de_snap_thread)) {
			struct de_snap_thread t;
			memcpy(&t, s->buf + pos, sizeof(t));
			ssize_t i = find_tgid(s, t.tgid);
			if (i >= 0) { /* else its process was gone when visited */
				struct proc_ix *ix = &s->procs[i];
				if (!ix->sum) {
					if (s->nsums == cap) {
						struct thread_sums *ns = realloc(s->sums, 2 * cap * sizeof(*ns));
						if (!ns)
							return -ENOMEM;
						memset(ns + cap, 0, cap * sizeof(*ns));
						s->sums = ns;
						cap *= 2;
					}
					ix->sum = (uint32_t)s->nsums++;
				}
				struct thread_sums *sum = &s->sums[ix->sum];
				sum->utime += t.utime;
				sum->stime += t.stime;
				sum->rtime += t.sum_exec_runtime;
				sum->minflt += t.min_flt;
				sum->majflt += t.maj_flt;
				add_io(&sum->io, &t.io);
			}
		}
		pos += size;
	}
	return 0;
}

/* Whether /proc/PID/cgroup has a unified ("0::") line, the one the
 * iterator's cgroup path stands for (procparse prefers it). Without it
 * (cgroup v1 only) the cgroup comes from /proc. */
static bool has_cgroup_v2_line(void)
{
	char buf[4096];
	ssize_t n = de_read_file_at(AT_FDCWD, "/proc/self/cgroup", buf, sizeof(buf));
	if (n == -EFBIG)
		n = (ssize_t)strlen(buf);
	if (n < 0)
		return false;
	for (const char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, "0::", 3) == 0)
			return true;
	return false;
}

/* Make the pages of buf[from, from + POPULATE_AHEAD) present in one call
 * (MADV_POPULATE_WRITE): the iterator's copy into a fresh buffer otherwise
 * takes a page fault per 4 KiB, and a fault costs far more than the copy
 * on a paravirtualized guest. Returns the offset up to which pages are
 * present (or `from` when the kernel cannot: the copy then faults them). */
static size_t populate(char *buf, size_t cap, size_t from)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)buf + from) & ~(page - 1);
	uintptr_t hi = ((uintptr_t)buf + DE_MIN(cap, from + POPULATE_AHEAD)) & ~(page - 1);
	if (hi <= lo || madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) < 0)
		return from;
	return hi - (uintptr_t)buf;
}

static int read_all(int fd, char **buf, size_t *len)
{
	size_t cap = 0, ready = 0;
	for (;;) {
		if (cap - *len < READ_CHUNK) {
			size_t ncap = cap ? 2 * cap : 8 * READ_CHUNK;
			char *nb = realloc(*buf, ncap);
			if (!nb)
				return -ENOMEM;
			*buf = nb;
			cap = ncap;
			ready = 0;
		}
		if (ready < *len + POPULATE_AHEAD / 2)
			ready = populate(*buf, cap, *len);
		ssize_t n = read(fd, *buf + *len, cap - *len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return de_neg_errno();
		}
		if (n == 0)
			return 0;
		*len += (size_t)n;
	}
}

struct de_bpfsnap_prog {
	struct de_snapshot_bpf *skel; /* NULL when reusing a pinned program */
	struct bpf_link *link;
	int link_fd;                  /* the iterator link (loaded or pinned) */
	int split_fd;                 /* the de_split map (parallel reads), or -1 */
	uint32_t argv_max;
	uint64_t load_ns;
	bool cgroup_v2;
	bool shared, reused, pin_tried;
	char pin[128];                /* where this program is or would be pinned */
	int memfd; /* a memfd the program learns simple_dname() from (probe_fd) */
};

/* ---- a program kept loaded between processes (DE_BPFSNAP_SHARED) ---- */

#define PIN_DIR "/sys/fs/bpf/daemoneye"
#define PIN_PREFIX "snapshot-"

/* PIN_DIR/snapshot-TAG-CAP: TAG is the BLAKE3 of this build's BPF object,
 * so a program from another build is never reused, CAP the argv cap
 * compiled into the program. */
static void pin_path(struct de_bpfsnap_prog *pr, uint32_t cap)
{
	size_t sz = 0;
	const void *elf = de_snapshot_bpf__elf_bytes(&sz);
	uint8_t h[8];
	char hex[17];
	de_blake3(elf, sz, h, sizeof(h));
	de_hex(h, sizeof(h), hex);
	snprintf(pr->pin, sizeof(pr->pin), "%s/%s%s-%u", PIN_DIR, PIN_PREFIX, hex, (unsigned)cap);
}

/* Use the program pinned at pr->pin when it is there and is what we pin
 * there: an iterator link to a program named de_snapshot. */
static int open_pinned(struct de_bpfsnap_prog *pr)
{
	int fd = bpf_obj_get(pr->pin);
	if (fd < 0)
		return -errno;
	struct bpf_link_info li;
	memset(&li, 0, sizeof(li));
	uint32_t len = sizeof(li);
	int ret = bpf_obj_get_info_by_fd(fd, &li, &len) < 0 ? -errno : 0;
	if (ret == 0 && li.type != BPF_LINK_TYPE_ITER)
		ret = -EINVAL;
	int pfd = ret == 0 ? bpf_prog_get_fd_by_id(li.prog_id) : -1;
	if (ret == 0 && pfd < 0)
		ret = -errno;
	uint32_t ids[8];
	uint32_t nids = 0;
	if (ret == 0) {
		struct bpf_prog_info pi;
		memset(&pi, 0, sizeof(pi));
		pi.nr_map_ids = DE_ARRAY_SIZE(ids);
		pi.map_ids = (uint64_t)(uintptr_t)ids;
		len = sizeof(pi);
		if (bpf_obj_get_info_by_fd(pfd, &pi, &len) < 0)
			ret = -errno;
		else if (strcmp(pi.name, "de_snapshot") != 0)
			ret = -EINVAL;
		else
			nids = DE_MIN(pi.nr_map_ids, (uint32_t)DE_ARRAY_SIZE(ids));
	}
	for (uint32_t i = 0; ret == 0 && i < nids && pr->split_fd < 0; i++) {
		int mfd = bpf_map_get_fd_by_id(ids[i]);
		struct bpf_map_info mi;
		memset(&mi, 0, sizeof(mi));
		len = sizeof(mi);
		if (mfd >= 0 && bpf_obj_get_info_by_fd(mfd, &mi, &len) == 0 &&
		    strcmp(mi.name, "de_split") == 0)
			pr->split_fd = mfd;
		else if (mfd >= 0)
			close(mfd);
	}
	if (pfd >= 0)
		close(pfd);
	if (ret < 0) {
		log_debug("bpf: not reusing %s: %s", pr->pin, strerror(-ret));
		close(fd);
		return ret;
	}
	pr->link_fd = fd;
	pr->reused = true;
	return 0;
}

/* After the first read of a program this process loaded: stop probing
 * the reader's fd (later readers are other processes: the learnt
 * simple_dname() address stays in the program's data), pin the link, and
 * remove programs pinned by other builds. Best effort: without bpffs, or
 * without the right to write there, nothing is pinned. */
static void pin_now(struct de_bpfsnap_prog *pr)
{
	pr->pin_tried = true;
	pr->skel->data->probe_fd = -1;
	struct statfs st;
	if (statfs("/sys/fs/bpf", &st) < 0 || st.f_type != BPF_FS_MAGIC) {
		log_debug("bpf: no bpffs at /sys/fs/bpf: the snapshot program is not kept loaded");
		return;
	}
	if (mkdir(PIN_DIR, 0700) < 0 && errno != EEXIST) {
		log_debug("bpf: %s: %m", PIN_DIR);
		return;
	}
	/* "snapshot-TAG-": this build's pins (any argv cap) stay */
	const char *mine = strrchr(pr->pin, '/') + 1;
	size_t tag_len = (size_t)(strrchr(mine, '-') - mine) + 1;
	DIR *d = opendir(PIN_DIR);
	for (struct dirent *e; d && (e = readdir(d));)
		if (strncmp(e->d_name, PIN_PREFIX, strlen(PIN_PREFIX)) == 0 &&
		    strncmp(e->d_name, mine, tag_len) != 0)
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	int r = bpf_link__pin(pr->link, pr->pin);
	if (r < 0 && r != -EEXIST)
		log_debug("bpf: pinning %s: %s", pr->pin, strerror(-r));
}

int de_bpfsnap_open(uint32_t argv_max_bytes, unsigned flags, struct de_bpfsnap_prog **out,
		    char *why, size_t why_len)
{
	struct de_bpfsnap_prog *pr = calloc(1, sizeof(*pr));
	int ret = 0;
	if (!pr)
		return -ENOMEM;
	pr->argv_max = argv_max_bytes;
	pr->memfd = -1;
	pr->link_fd = -1;
	pr->split_fd = -1;
	uint32_t cap = argv_max_bytes < DE_SNAP_ARGV_MAX ? argv_max_bytes : DE_SNAP_ARGV_MAX;
	uint64_t t0 = now_ns();
	if (flags & DE_BPFSNAP_SHARED) {
		pr->shared = true;
		pin_path(pr, cap);
		if (open_pinned(pr) == 0) {
			pr->load_ns = now_ns() - t0;
			pr->cgroup_v2 = has_cgroup_v2_line();
			*out = pr;
			return 0;
		}
	}
	de_bpf_quiet_libbpf();
	/* DE_BPF_DEBUG=2: the verifier's statistics (time, instructions) */
	static char vlog[1 << 16];
	const char *dbg = getenv("DE_BPF_DEBUG");
	bool vstats = dbg && strcmp(dbg, "2") == 0;
	LIBBPF_OPTS(bpf_object_open_opts, oo, .kernel_log_buf = vstats ? vlog : NULL,
		    .kernel_log_size = vstats ? sizeof(vlog) : 0, .kernel_log_level = vstats ? 4 : 0);
	pr->skel = de_snapshot_bpf__open_opts(&oo);
	if (!pr->skel) {
		ret = de_neg_errno();
		de_bpf_why(why, why_len, "opening the BPF object", ret, "task iterators");
		goto out;
	}
	pr->skel->rodata->argv_cap = cap;
	ret = de_snapshot_bpf__load(pr->skel);
	if (ret < 0) {
		de_bpf_why(why, why_len, "loading the BPF task iterator", ret, "task iterators");
		goto out;
	}
	size_t elf_sz;
	const void *elf = de_snapshot_bpf__elf_bytes(&elf_sz);
	de_bpf_release_elf(elf, elf_sz);
	if (vstats)
		fprintf(stderr, "%s", vlog);
	pr->link = bpf_program__attach_iter(pr->skel->progs.de_snapshot, NULL);
	if (!pr->link) {
		ret = de_neg_errno();
		de_bpf_why(why, why_len, "attaching the BPF task iterator", ret, "task iterators");
		goto out;
	}
	pr->link_fd = bpf_link__fd(pr->link);
	pr->split_fd = bpf_map__fd(pr->skel->maps.de_split);
	pr->load_ns = now_ns() - t0;
	/* a low fd: the program looks only at the reader's first 64 */
	pr->memfd = memfd_create("daemoneye-probe", MFD_CLOEXEC);
	pr->skel->data->probe_fd = pr->memfd >= 0 && pr->memfd < 64 ? pr->memfd : -1;
	pr->cgroup_v2 = has_cgroup_v2_line();
out:
	if (ret < 0) {
		de_bpfsnap_close(pr);
		return ret;
	}
	*out = pr;
	return 0;
}

void de_bpfsnap_close(struct de_bpfsnap_prog *pr)
{
	if (!pr)
		return;
	if (pr->reused && pr->link_fd >= 0)
		close(pr->link_fd);
	if (pr->reused && pr->split_fd >= 0)
		close(pr->split_fd);
	bpf_link__destroy(pr->link); /* a pinned link stays attached */
	de_snapshot_bpf__destroy(pr->skel);
	if (pr->memfd >= 0)
		close(pr->memfd);
	free(pr);
}

uint64_t de_bpfsnap_prog_load_ns(const struct de_bpfsnap_prog *pr) { return pr->load_ns; }
bool de_bpfsnap_prog_reused(const struct de_bpfsnap_prog *pr) { return pr->reused; }

/* One part of a parallel read (de_split in the program): this thread
 * registers itself as a reader of the snapshot whose chunk counter is
 * `counter` (0: the only reader), reads, unregisters. */
struct part {
	const struct de_bpfsnap_prog *pr;
	uint32_t counter;
	char *buf;
	size_t len;
	int ret;
	const char *what; /* the step that failed */
};

static void *read_part(void *arg)
{
	struct part *p = arg;
	uint32_t tid = (uint32_t)gettid();
	struct de_split_val v = { .a = p->counter, .b = DE_SPLIT_NONE };
	/* registered even as the only reader (no counter: every task): an
	 * entry a killed reader left behind is then overwritten, never applied
	 * to a later thread that got its id */
	bool reg = p->pr->split_fd >= 0 &&
		   bpf_map_update_elem(p->pr->split_fd, &tid, &v, BPF_ANY) == 0;
	if (p->counter && !reg) {
		p->ret = de_neg_errno();
		p->what = "registering a parallel reader";
		return NULL;
	}
	int fd = bpf_iter_create(p->pr->link_fd);
	if (fd < 0) {
		p->ret = fd < -1 ? fd : de_neg_errno();
		p->what = "creating the BPF iterator";
	} else {
		p->ret = read_all(fd, &p->buf, &p->len);
		p->what = "reading the BPF iterator";
		close(fd);
	}
	if (reg)
		bpf_map_delete_elem(p->pr->split_fd, &tid);
	return NULL;
}

/* Append src to s->buf (room reserved), giving src's pages back as they
 * are copied: the peak stays the snapshot's size, not that plus a part. */
static void append_release(struct de_bpfsnap *s, char *src, size_t n)
{
	const size_t step = 1 << 20;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	for (size_t off = 0; off < n; off += step) {
		size_t k = DE_MIN(step, n - off);
		memcpy(s->buf + s->len, src + off, k);
		s->len += k;
		uintptr_t lo = ((uintptr_t)src + off + page - 1) & ~(page - 1);
		uintptr_t hi = ((uintptr_t)src + off + k) & ~(page - 1);
		if (hi > lo)
			madvise((void *)lo, hi - lo, MADV_DONTNEED);
	}
}

#define PARTS_MAX 4

static struct de_bpfsnap *snap_new(uint32_t argv_max, bool cgroup_v2)
{
	struct de_bpfsnap *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->argv_max = argv_max;
	s->cgroup_v2 = cgroup_v2;
	long ps = sysconf(_SC_PAGESIZE), tck = sysconf(_SC_CLK_TCK);
	s->page_size = ps > 0 ? (uint64_t)ps : 4096;
	s->ns_per_tick = tck > 0 ? 1000000000 / tck : 10000000;
	return s;
}

/* Index the records in s->buf and add up the threads. */
static int parse(struct de_bpfsnap *s)
{
	int ret = index_records(s);
	return ret < 0 ? ret : sum_threads(s);
}

int de_bpfsnap_parse(const void *data, size_t len, uint32_t argv_max_bytes, bool cgroup_v2,
		     struct de_bpfsnap **out)
{
	struct de_bpfsnap *s = snap_new(argv_max_bytes, cgroup_v2);
	if (!s || !(s->buf = malloc(len ? len : 1))) {
		free(s);
		return -ENOMEM;
	}
	memcpy(s->buf, data, len);
	s->len = len;
	int ret = parse(s);
	if (ret < 0) {
		de_bpfsnap_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

int de_bpfsnap_read(struct de_bpfsnap_prog *pr, struct de_bpfsnap **out, char *why, size_t why_len)
{
	struct de_bpfsnap *s = snap_new(pr->argv_max, pr->cgroup_v2);
	int ret = 0;
	if (!s)
		return -ENOMEM;
	/* One reader per CPU (at most PARTS_MAX): the program's work per
	 * task, not the copy, is the cost of a snapshot. They share a chunk
	 * counter under a random key (snapshot.bpf.c, de_split). */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint32_t parts = pr->split_fd >= 0 && ncpu > 1 ? (uint32_t)DE_MIN(ncpu, PARTS_MAX) : 1;
	uint32_t counter = 0;
	if (parts > 1) {
		uint32_t rnd;
		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
			rnd = (uint32_t)now_ns() ^ (uint32_t)gettid() << 12;
		counter = DE_SPLIT_COUNTER | rnd;
		struct de_split_val c = { .a = 0 };
		if (bpf_map_update_elem(pr->split_fd, &counter, &c, BPF_ANY) < 0)
			parts = 1, counter = 0; /* one reader, every task */
	}
	struct part p[PARTS_MAX];
	pthread_t th[PARTS_MAX];
	bool started[PARTS_MAX] = { false };
	uint64_t t1 = now_ns();
	for (uint32_t i = 0; i < parts; i++) {
		/* a reader that cannot start runs after the others, in turn, and
		 * finds every chunk claimed */
		p[i] = (struct part){ .pr = pr, .counter = counter };
		if (i > 0)
			started[i] = pthread_create(&th[i], NULL, read_part, &p[i]) == 0;
	}
	read_part(&p[0]);
	for (uint32_t i = 1; i < parts; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			read_part(&p[i]); /* no thread: in turn */
	}
	s->read_ns = now_ns() - t1;
	if (counter)
		bpf_map_delete_elem(pr->split_fd, &counter);
	size_t total = 0;
	for (uint32_t i = 0; i < parts; i++) {
		if (p[i].ret < 0 && ret == 0) {
			ret = p[i].ret;
			de_bpf_why(why, why_len, p[i].what, ret, "task iterators");
		}
		total += p[i].len;
	}
	/* one buffer: the first part's, grown in place (mremap) and the
	 * others appended and freed one by one, so the peak is the snapshot
	 * plus one part, not two copies of it */
	if (ret == 0 && total > p[0].len) {
		char *nb = realloc(p[0].buf, total);
		if (nb)
			p[0].buf = nb;
		else
			ret = -ENOMEM;
	}
	if (ret == 0) {
		s->buf = p[0].buf;
		s->len = p[0].len;
		p[0].buf = NULL;
	}
	for (uint32_t i = 1; i < parts; i++) {
		if (ret == 0 && p[i].len)
			append_release(s, p[i].buf, p[i].len);
		free(p[i].buf);
		p[i].buf = NULL;
	}
	free(p[0].buf);
	if (ret < 0)
		goto out;
	if (pr->shared && !pr->reused && !pr->pin_tried)
		pin_now(pr);
	ret = parse(s);
	if (ret < 0)
		de_bpf_why(why, why_len, "parsing the BPF iterator's records", ret, "task iterators");
	else
		s->pid1_from_proc = (s->n == 0 || s->procs[0].r->ids.tgid != 1) &&
				    access("/proc/1", F_OK) == 0;
out:
	if (ret < 0) {
		de_bpfsnap_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

int de_bpfsnap_take(uint32_t argv_max_bytes, struct de_bpfsnap **out, char *why, size_t why_len)
{
	struct de_bpfsnap_prog *pr = NULL;
	int ret = de_bpfsnap_open(argv_max_bytes, 0, &pr, why, why_len);
	if (ret < 0)
		return ret;
	ret = de_bpfsnap_read(pr, out, why, why_len);
	if (ret == 0)
		(*out)->load_ns = pr->load_ns;
	de_bpfsnap_close(pr);
	return ret;
}

size_t de_bpfsnap_count(const struct de_bpfsnap *s) { return s->n + s->pid1_from_proc; }

int32_t de_bpfsnap_pid(const struct de_bpfsnap *s, size_t i)
{
	if (s->pid1_from_proc && i-- == 0)
		return 1;
	return s->procs[i].r->ids.tgid;
}
size_t de_bpfsnap_bytes(const struct de_bpfsnap *s) { return s->len; }
uint64_t de_bpfsnap_load_ns(const struct de_bpfsnap *s) { return s->load_ns; }
uint64_t de_bpfsnap_read_ns(const struct de_bpfsnap *s) { return s->read_ns; }

void de_bpfsnap_free(struct de_bpfsnap *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s->procs);
	de_buf_free(&s->arena);
	free(s->sums);
	free(s);
}

/* The letter /proc shows: task_state_index() of the kernel. */
static char state_char(uint32_t state, uint32_t exit_state)
{
	static const char letters[] = "RSDTtXZPI";
	uint32_t st = (state | exit_state) & 0x7f; /* TASK_REPORT */
	if ((state & 0x402) == 0x402) /* TASK_IDLE */
		return 'I';
	if (state == 0x1000) /* TASK_RTLOCK_WAIT */
		st = 2;
	unsigned idx = st ? 32u - (unsigned)__builtin_clz(st) : 0; /* fls() */
	return idx < sizeof(letters) - 1 ? letters[idx] : '?';
}

/* cputime_adjust(): split the precise runtime in the ratio of the sampled
 * utime/stime, never going below what was reported before (prev). */
static void cputime_adjust(uint64_t rtime, uint64_t utime, uint64_t stime, uint64_t prev_u,
			   uint64_t prev_s, uint64_t *ou, uint64_t *os)
{
	if ((unsigned __int128)prev_s + prev_u >= rtime) {
		*ou = prev_u;
		*os = prev_s;
		return;
	}
	if (stime == 0)
		utime = rtime;
	else if (utime == 0)
		stime = rtime;
	else
		stime = (uint64_t)((unsigned __int128)stime * rtime /
				   ((unsigned __int128)stime + utime)); /* no wrap to 0 */
	if (stime < prev_s)
		stime = prev_s;
	utime = rtime - stime;
	if (utime < prev_u) {
		utime = prev_u;
		stime = rtime - utime;
	}
	*ou = utime;
	*os = stime;
}

unsigned de_bpfsnap_fill(const struct de_bpfsnap *s, size_t i, struct de_proc *p)
{
	if (s->pid1_from_proc && i-- == 0) {
		memset(p, 0, sizeof(*p));
		p->pid = 1;
		return 0; /* all of it from /proc */
	}
	const struct proc_ix *ix = &s->procs[i];
	const struct de_snap_proc *r = ix->r;
	const struct de_snap_ids *d = &r->ids;
	const struct de_snap_res *x = &r->res;
	const struct thread_sums *sum = &s->sums[ix->sum];
	unsigned have = DE_PF_BIT(DE_PF_STAT) | DE_PF_BIT(DE_PF_STATUS) | DE_PF_BIT(DE_PF_IO);

	memset(p, 0, offsetof(struct de_proc, groups));
	memset(&p->ngroups, 0, sizeof(*p) - offsetof(struct de_proc, ngroups));
	p->pid = d->tgid;
	p->ppid = d->ppid;
	p->pgid = d->pgid;
	p->sid = d->sid;
	if (d->flags & DE_SNAP_F_TTY) {
		uint32_t major = (uint32_t)d->tty_major;
		uint32_t minor = (uint32_t)(d->tty_minor_start + d->tty_index);
		p->tty_nr = (int32_t)((minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12));
	}
	p->state = state_char(d->state, d->exit_state);
	size_t cl = strnlen(d->comm, sizeof(d->comm));
	if (cl >= sizeof(p->comm))
		cl = sizeof(p->comm) - 1;
	memcpy(p->comm, d->comm, cl);
	p->comm[cl] = '\0';
	p->kthread = (d->task_flags & PF_KTHREAD) != 0;
	p->start_ticks = d->start_boottime / (uint64_t)s->ns_per_tick;
	p->nice = d->static_prio - 120;
	p->priority = d->prio - 100;
	p->threads = d->nr_threads;
	cputime_adjust(x->sum_exec_runtime + sum->rtime, x->utime + sum->utime, x->stime + sum->stime,
		       x->prev_utime, x->prev_stime, &p->utime_ns, &p->stime_ns);
	p->vsize = x->total_vm * s->page_size;
	p->rss_bytes = x->rss_pages * s->page_size; /* 0 when not DE_SNAP_F_RSS (kernel < 6.2) */
	p->minflt = x->min_flt + sum->minflt;
	p->majflt = x->maj_flt + sum->majflt;

	memcpy(p->uid, d->uid, sizeof(p->uid));
	memcpy(p->gid, d->gid, sizeof(p->gid));
	const char *var = (const char *)(r + 1);
	memcpy(p->groups, var, (size_t)d->ngroups_copied * 4);
	p->ngroups = d->ngroups;
	p->groups_truncated = d->ngroups > DE_PROC_MAX_GROUPS;
	p->cap_inh = d->cap_inh;
	p->cap_prm = d->cap_prm;
	p->cap_eff = d->cap_eff;
	p->cap_bnd = d->cap_bnd;
	p->cap_amb = d->cap_amb;
	p->seccomp = d->seccomp;
	p->no_new_privs = (d->flags & DE_SNAP_F_NNP) != 0;

	p->io = (struct de_io){
		.rchar = x->io.rchar + sum->io.rchar,
		.wchar = x->io.wchar + sum->io.wchar,
		.syscr = x->io.syscr + sum->io.syscr,
		.syscw = x->io.syscw + sum->io.syscw,
		.read_bytes = x->io.read_bytes + sum->io.read_bytes,
		.write_bytes = x->io.write_bytes + sum->io.write_bytes,
		.cancelled_write_bytes = x->io.cancelled_write_bytes + sum->io.cancelled_write_bytes,
	};
	if (d->flags & DE_SNAP_F_AUDIT) {
		p->loginuid = d->loginuid;
		p->sessionid = d->sessionid;
		have |= DE_PF_BIT(DE_PF_LOGINUID) | DE_PF_BIT(DE_PF_SESSIONID);
	}
	if (x->flags & DE_SNAP_F_NS) {
		for (int k = 0; k < DE_NS__COUNT && k < DE_SNAP_NS; k++)
			p->ns[k] = x->ns[k];
	} else {
		/* no nsproxy: the task has exited (a zombie) or is exiting, and
		 * /proc/PID/ns/{mnt,net,...} are gone too (ENOENT) */
		p->err[DE_PF_NS] = -ENOENT;
	}
	have |= DE_PF_BIT(DE_PF_NS);
	/* what the walks found: fd count, cgroup, and (not for kernel
	 * threads) the exe, cwd and root paths */
	if (ix->status[DE_SNAP_FLD_FD] == 0) {
		p->fd_count = ix->value[DE_SNAP_FLD_FD];
		have |= DE_PF_BIT(DE_PF_FD);
	}
	if (ix->status[DE_SNAP_FLD_CGROUP] == 0) {
		p->cgroup = s->arena.data + ix->off[DE_SNAP_FLD_CGROUP];
		if (ix->cid_off != UINT32_MAX) {
			p->container_id = s->arena.data + ix->cid_off;
			p->container_runtime = ix->runtime;
		}
		have |= DE_PF_BIT(DE_PF_CGROUP);
	}
	/* A kernel thread's name in /proc is its full name (kthread
	 * full_name; a workqueue worker's "+desc"/"-desc"), which the iterator
	 * does not build: kernel threads are read from /proc whole (a few
	 * dozen; p stays filled for callers that want the iterator's view). */
	if (p->kthread)
		return 0;
	static const struct {
		enum de_snap_fld f;
		enum de_pf g;
	} paths[] = { { DE_SNAP_FLD_EXE, DE_PF_EXE }, { DE_SNAP_FLD_CWD, DE_PF_CWD },
		      { DE_SNAP_FLD_ROOT, DE_PF_ROOT } };
	for (size_t k = 0; k < DE_ARRAY_SIZE(paths); k++) {
		int32_t st = ix->status[paths[k].f];
		if (st == DE_SNAP_FALLBACK)
			continue;
		if (st == 0) {
			const char *path = s->arena.data + ix->off[paths[k].f];
			if (paths[k].f == DE_SNAP_FLD_EXE)
				p->exe = path;
			else if (paths[k].f == DE_SNAP_FLD_CWD)
				p->cwd = path;
			else
				p->root = path;
		}
		p->err[paths[k].g] = st;
		have |= DE_PF_BIT(paths[k].g);
	}
	p->exe_deleted = ix->exe_deleted;
	p->exe_memfd = ix->exe_memfd;
	/* no executable (exited): /proc cannot stat it either */
	if (ix->status[DE_SNAP_FLD_EXE] == -ENOENT && !(x->flags & DE_SNAP_F_EXE)) {
		p->err[DE_PF_EXE_FILE] = -ENOENT;
		have |= DE_PF_BIT(DE_PF_EXE_FILE);
	}
	if (x->flags & DE_SNAP_F_EXE) {
		de_bpf_file_id(&x->exe, &p->exe_file);
		have |= DE_PF_BIT(DE_PF_EXE_FILE);
	}
	int32_t status;
	const char *argv = var + (size_t)d->ngroups_copied * 4;
	memcpy(&status, argv + d->argv_len, sizeof(status));
	bool trunc = (d->flags & DE_SNAP_F_ARGV_TRUNC) != 0;
	/* untruncated argv whose last byte is not NUL: setproctitle(), which
	 * /proc/PID/cmdline follows past argv; leave that to /proc */
	bool proctitle = !trunc && d->argv_len && argv[d->argv_len - 1] != '\0';
	if (status == 0 && !proctitle && !(trunc && s->argv_max > DE_SNAP_ARGV_MAX)) {
		/* argv + d->argv_len is the status word: 0, so argv ends in NUL */
		p->argv = argv;
		p->argv_len = d->argv_len;
		p->argc = de_cmdline_argc(argv, d->argv_len);
		p->argv_truncated = trunc;
		if (p->argv_len && argv[p->argv_len - 1] == '\0')
			p->argv_len--;
		have |= DE_PF_BIT(DE_PF_CMDLINE);
	}
	return have;
}

#else /* !DE_HAVE_BPF */

struct de_bpfsnap {
	int unused;
};

bool de_bpfsnap_built(void) { return false; }

int de_bpfsnap_take(uint32_t argv_max_bytes, struct de_bpfsnap **out, char *why, size_t why_len)
{
	(void)argv_max_bytes;
	*out = NULL;
	snprintf(why, why_len, "built without BPF support");
	return -EOPNOTSUPP;
}

struct de_bpfsnap_prog {
	int unused;
};

int de_bpfsnap_open(uint32_t argv_max_bytes, unsigned flags, struct de_bpfsnap_prog **out,
		    char *why, size_t why_len)
{
	(void)argv_max_bytes;
	(void)flags;
	*out = NULL;
	snprintf(why, why_len, "built without BPF support");
	return -EOPNOTSUPP;
}

int de_bpfsnap_read(struct de_bpfsnap_prog *pr, struct de_bpfsnap **out, char *why, size_t why_len)
{
	(void)pr;
	*out = NULL;
	snprintf(why, why_len, "built without BPF support");
	return -EOPNOTSUPP;
}

void de_bpfsnap_close(struct de_bpfsnap_prog *pr) { (void)pr; }
uint64_t de_bpfsnap_prog_load_ns(const struct de_bpfsnap_prog *pr) { (void)pr; return 0; }
bool de_bpfsnap_prog_reused(const struct de_bpfsnap_prog *pr) { (void)pr; return false; }
size_t de_bpfsnap_count(const struct de_bpfsnap *s) { (void)s; return 0; }
int32_t de_bpfsnap_pid(const struct de_bpfsnap *s, size_t i) { (void)s; (void)i; return 0; }
size_t de_bpfsnap_bytes(const struct de_bpfsnap *s) { (void)s; return 0; }
uint64_t de_bpfsnap_load_ns(const struct de_bpfsnap *s) { (void)s; return 0; }
uint64_t de_bpfsnap_read_ns(const struct de_bpfsnap *s) { (void)s; return 0; }
void de_bpfsnap_free(struct de_bpfsnap *s) { (void)s; }

int de_bpfsnap_parse(const void *data, size_t len, uint32_t argv_max_bytes, bool cgroup_v2,
		     struct de_bpfsnap **out)
{
	(void)data;
	(void)len;
	(void)argv_max_bytes;
	(void)cgroup_v2;
	*out = NULL;
	return -EOPNOTSUPP;
}

unsigned de_bpfsnap_fill(const struct de_bpfsnap *s, size_t i, struct de_proc *p)
{
	(void)s;
	(void)i;
	(void)p;
	return 0;
}

#endif
