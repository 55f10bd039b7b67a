// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0-only)
/* snapshot.bpf.c: a sleepable BPF task iterator that writes one record per
 * process (and a small one per other thread) for `daemoneye ps`.
 *
 * Why sleepable (iter.s/task): argv lives in the process's memory and may
 * be paged out; bpf_copy_from_user_task() can fault it in, which only a
 * sleepable program may do. Kernel fields are read with plain loads
 * through BTF pointers (the verifier turns them into fault-safe loads), the
 * cheapest way to read ~60 fields per task. Layouts are relocated with
 * CO-RE (vmlinux_min.h), so one object runs on any kernel with BTF.
 *
 * The record is built on the BPF stack (no map), in two parts written by
 * two subprograms (each part has its own 512-byte frame): two iterations running at
 * once (two readers, or one that slept in a page fault) never share a
 * buffer. argv and supplementary groups go out in DE_SNAP_CHUNK-byte
 * pieces for the same reason. The header is written first, so a failure
 * copying argv is reported in the trailer word that follows argv.
 * GPL-compatible licence: bpf_copy_from_user_task is a GPL-only helper.
 */
#include "vmlinux_min.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "snapshot.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* enum bpf_map_type (uapi, stable): vmlinux_min.h has no uapi enums */
#define BPF_MAP_TYPE_LRU_HASH 9

/* Parallel snapshots. Every reader walks all tasks in increasing pid
 * order; the pids are cut into chunks (DE_SPLIT_SHIFT), and a task is
 * written by the reader that claimed its chunk. A reader claims the chunk
 * of the task it has reached when no reader has claimed that chunk or a
 * later one yet (one counter per snapshot: the next unclaimed chunk,
 * moved forward by compare-and-swap). So chunks go to whichever reader
 * gets there first: a reader on a busier or slower CPU simply claims
 * fewer, instead of holding up the snapshot with a fixed half. Every task
 * that lives through the read is written once: the reader that first
 * reached its chunk claimed it (a chunk passed over empty can only hold
 * processes created since, which the event stream reports anyway).
 *
 * Keys are reader thread ids (value: the counter's key and the chunk held)
 * and, from DE_SPLIT_COUNTER up, one counter per snapshot (a random key,
 * so snapshots of several processes sharing a pinned program do not mix).
 * A reader not in the map gets every task. LRU: the program stays pinned
 * across processes, and a reader killed mid-read leaves entries behind;
 * the oldest make room instead of a full map refusing later readers. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct de_split_val);
} de_split SEC(".maps");

/* Whether the registered reader r writes the task with this pid. */
static __always_inline int split_mine(struct de_split_val *r, __u64 *next, __u32 pid)
{
	__u64 k = pid >> DE_SPLIT_SHIFT;
	if (r->b == k)
		return 1;
	for (int i = 0; i < 16; i++) {
		__u64 n = *(volatile __u64 *)next;
		if (n > k)
			return 0; /* claimed, by another reader */
		if (__sync_val_compare_and_swap(next, n, k + 1) == n) {
			r->b = k;
			return 1;
		}
	}
	/* Another reader claimed a chunk between each read and swap, 16 times
	 * over: write it (user space drops a process written twice) rather
	 * than risk nobody writing it. */
	return 1;
}

/* Most argv bytes per process; set by user space before loading. */
const volatile __u32 argv_cap = DE_SNAP_ARGV_MAX;

#define PF_KTHREAD 0x00200000
#define DE_ENOENT 2 /* ENOENT: no errno.h for BPF */
#define GROUPS_PER_CHUNK (DE_SNAP_CHUNK / 4)

static __always_inline void read_io(struct de_snap_io *o, const struct task_io_accounting *a)
{
	o->rchar = a->rchar;
	o->wchar = a->wchar;
	o->syscr = a->syscr;
	o->syscw = a->syscw;
	o->read_bytes = a->read_bytes;
	o->write_bytes = a->write_bytes;
	o->cancelled_write_bytes = a->cancelled_write_bytes;
}

static __always_inline __u64 ns_inum(const struct ns_common *ns)
{
	return ns ? ns->inum : 0;
}

static __always_inline int pid_nr0(const struct pid *p)
{
	return p ? p->numbers[0].nr : 0;
}

static __always_inline void read_exe(struct de_snap_res *r, struct mm_struct *mm)
{
	struct file *f = mm->exe_file;
	struct inode *ino = f ? f->f_inode : 0;
	if (!ino)
		return;
	de_bpf_read_exe_id(ino, &r->exe);
	r->flags |= DE_SNAP_F_EXE;
}

static __always_inline void read_ns(struct de_snap_res *r, struct task_struct *t)
{
	struct nsproxy *nsp = t->nsproxy;
	if (!nsp)
		return; /* exiting: /proc/PID/ns is gone too */
	/* pid namespace: task_active_pid_ns() = thread_pid->numbers[level].ns */
	struct pid *tp = t->thread_pid;
	if (tp) {
		unsigned int level = tp->level;
		struct upid up = {};
		unsigned long addr = (unsigned long)tp + bpf_core_field_offset(struct pid, numbers) +
				     (unsigned long)(level & 63) * bpf_core_type_size(struct upid);
		if (bpf_probe_read_kernel(&up, sizeof(up), (void *)addr) == 0 && up.ns)
			r->ns[0] = BPF_CORE_READ(up.ns, ns.inum);
	}
	r->ns[1] = ns_inum(&nsp->mnt_ns->ns);
	r->ns[2] = ns_inum(&nsp->net_ns->ns);
	const struct cred *cred = t->real_cred;
	r->ns[3] = cred ? ns_inum(&cred->user_ns->ns) : 0;
	r->ns[4] = ns_inum(&nsp->uts_ns->ns);
	r->ns[5] = ns_inum(&nsp->ipc_ns->ns);
	r->ns[6] = ns_inum(&nsp->cgroup_ns->ns);
	r->flags |= DE_SNAP_F_NS;
}

static __noinline void write_thread(struct seq_file *seq, struct task_struct *t)
{
	struct de_snap_thread th = {
		.kind = DE_SNAP_THREAD,
		.size = sizeof(th),
		.tgid = t->tgid,
		.tid = t->pid,
		.utime = t->utime,
		.stime = t->stime,
		.sum_exec_runtime = t->se.sum_exec_runtime,
		.min_flt = t->min_flt,
		.maj_flt = t->maj_flt,
	};
	read_io(&th.io, &t->ioac);
	bpf_seq_write(seq, &th, sizeof(th));
}

/* What write_ids() tells the caller about the variable part. */
struct var_info {
	__u64 groups;      /* address of group_info->gid[0] */
	__u64 arg_start, arg_end;
	__u32 ngroups, argv_len, size, truncated;
};

/* bpf_loop() state for copying groups / argv out in chunks: the loop
 * body is verified once, not once per iteration. */
struct copy_ctx {
	struct seq_file *seq;
	struct task_struct *task;
	__u64 src;
	__u32 len;
	int status;
	int user; /* 1: src is user memory of task (argv), 0: kernel memory */
};

/* One bpf_loop step: copy chunk i of [src, src + len) through the stack
 * into the record, from user memory (argv) or kernel memory (groups).
 * After a fault the rest is zeros and status says why. */
static long copy_chunk(__u32 i, void *arg)
{
	struct copy_ctx *c = arg;
	char chunk[DE_SNAP_CHUNK];
	__u32 done = i * DE_SNAP_CHUNK;
	if (done >= c->len)
		return 1;
	__u32 n = c->len - done;
	if (n > DE_SNAP_CHUNK)
		n = DE_SNAP_CHUNK;
	asm volatile("" : "+r"(n)); /* keep the mask: it is for the verifier */
	n = ((n - 1) & (DE_SNAP_CHUNK - 1)) + 1;
	if (c->status == 0) {
		long e = c->user ? bpf_copy_from_user_task(chunk, n, (void *)(c->src + done), c->task, 0)
				 : bpf_probe_read_kernel(chunk, n, (void *)(c->src + done));
		if (e < 0)
			c->status = (int)e;
	}
	if (c->status != 0)
		__builtin_memset(chunk, 0, sizeof(chunk));
	bpf_seq_write(c->seq, chunk, n);
	return 0;
}

static __noinline void write_ids(struct seq_file *seq, struct task_struct *t, struct var_info *v)
{
	struct de_snap_ids r = {};
	r.kind = DE_SNAP_PROC;
	r.tgid = t->tgid;
	struct task_struct *parent = t->real_parent;
	r.ppid = parent ? parent->tgid : 0;
	struct signal_struct *sig = t->signal;
	r.pgid = pid_nr0(sig->pids[PIDTYPE_PGID]);
	r.sid = pid_nr0(sig->pids[PIDTYPE_SID]);
	r.task_flags = t->flags;
	r.state = t->__state;
	r.exit_state = (__u32)t->exit_state;
	r.prio = t->prio;
	r.static_prio = t->static_prio;
	r.nr_threads = sig->nr_threads;
	r.seccomp = t->seccomp.mode;
	if (t->atomic_flags & 1) /* PFA_NO_NEW_PRIVS */
		r.flags |= DE_SNAP_F_NNP;
	bpf_probe_read_kernel_str(r.comm, sizeof(r.comm), t->comm);
	r.start_boottime = t->start_boottime;

	const struct cred *cred = t->real_cred;
	struct group_info *gi = 0;
	if (cred) {
		r.uid[0] = cred->uid.val;
		r.uid[1] = cred->euid.val;
		r.uid[2] = cred->suid.val;
		r.uid[3] = cred->fsuid.val;
		r.gid[0] = cred->gid.val;
		r.gid[1] = cred->egid.val;
		r.gid[2] = cred->sgid.val;
		r.gid[3] = cred->fsgid.val;
		r.cap_inh = cred->cap_inheritable.val;
		r.cap_prm = cred->cap_permitted.val;
		r.cap_eff = cred->cap_effective.val;
		r.cap_bnd = cred->cap_bset.val;
		r.cap_amb = cred->cap_ambient.val;
		gi = cred->group_info;
	}
	if (gi) {
		int n = gi->ngroups;
		r.ngroups = n > 0 ? (__u32)n : 0;
		r.ngroups_copied = r.ngroups < DE_SNAP_GROUPS_MAX ? r.ngroups : DE_SNAP_GROUPS_MAX;
		v->groups = (unsigned long)gi + bpf_core_field_offset(struct group_info, gid);
	}
	if (bpf_core_field_exists(t->loginuid) && bpf_core_field_exists(t->sessionid)) {
		r.loginuid = t->loginuid.val;
		r.sessionid = t->sessionid;
		r.flags |= DE_SNAP_F_AUDIT;
	}
	struct tty_struct *tty = sig->tty;
	if (tty) {
		struct tty_driver *drv = tty->driver;
		if (drv) {
			r.tty_index = tty->index;
			r.tty_major = drv->major;
			r.tty_minor_start = drv->minor_start;
			r.flags |= DE_SNAP_F_TTY;
		}
	}
	struct mm_struct *mm = t->mm;
	if (mm && !(t->flags & PF_KTHREAD)) {
		r.flags |= DE_SNAP_F_MM;
		unsigned long as = mm->arg_start, ae = mm->arg_end;
		if (ae > as) {
			unsigned long len = ae - as;
			__u32 cap = argv_cap < DE_SNAP_ARGV_MAX ? argv_cap : DE_SNAP_ARGV_MAX;
			if (len > cap) {
				len = cap;
				r.flags |= DE_SNAP_F_ARGV_TRUNC;
				v->truncated = 1;
			}
			r.argv_len = (__u32)len;
			v->arg_start = as;
			v->arg_end = ae;
		}
	}
	__u32 body = r.ngroups_copied * 4 + r.argv_len + 4;
	r.size = (__u32)sizeof(struct de_snap_proc) + ((body + 7) & ~7u);
	v->ngroups = r.ngroups_copied;
	v->argv_len = r.argv_len;
	v->size = r.size;
	bpf_seq_write(seq, &r, sizeof(r));
}

static __noinline void write_res(struct seq_file *seq, struct task_struct *t)
{
	struct de_snap_res r = {};
	struct signal_struct *sig = t->signal;
	r.utime = t->utime + sig->utime;
	r.stime = t->stime + sig->stime;
	r.sum_exec_runtime = t->se.sum_exec_runtime + sig->sum_sched_runtime;
	r.prev_utime = sig->prev_cputime.utime;
	r.prev_stime = sig->prev_cputime.stime;
	r.min_flt = t->min_flt + sig->min_flt;
	r.maj_flt = t->maj_flt + sig->maj_flt;
	/* /proc/PID/io: the leader's counters + signal's + the other threads' */
	const struct task_io_accounting *a = &t->ioac, *b = &sig->ioac;
	r.io.rchar = a->rchar + b->rchar;
	r.io.wchar = a->wchar + b->wchar;
	r.io.syscr = a->syscr + b->syscr;
	r.io.syscw = a->syscw + b->syscw;
	r.io.read_bytes = a->read_bytes + b->read_bytes;
	r.io.write_bytes = a->write_bytes + b->write_bytes;
	r.io.cancelled_write_bytes = a->cancelled_write_bytes + b->cancelled_write_bytes;
	read_ns(&r, t);
	struct mm_struct *mm = t->mm;
	if (mm && !(t->flags & PF_KTHREAD)) {
		r.total_vm = mm->total_vm;
		if (!bpf_core_type_exists(struct mm_rss_stat)) {
			/* get_mm_rss(): file + anon + shmem pages, each read like
			 * percpu_counter_read_positive() */
			__s64 f = mm->rss_stat[0].count, an = mm->rss_stat[1].count;
			__s64 sh = mm->rss_stat[3].count;
			r.rss_pages = (__u64)(f > 0 ? f : 0) + (__u64)(an > 0 ? an : 0) +
				      (__u64)(sh > 0 ? sh : 0);
			r.flags |= DE_SNAP_F_RSS;
		}
		read_exe(&r, mm);
	}
	bpf_seq_write(seq, &r, sizeof(r));
}

/* ---- paths, cgroup and fd count: what /proc has only as objects to walk ---- */

/* d_path() of the kernel, for the one d_dname() an executable can have:
 * simple_dname() of pseudo files (memfd_create), "/NAME (deleted)". Its
 * address is learnt from a memfd the reader holds open at fd probe_fd
 * (-1: none; such paths then come from /proc), not from kallsyms, whose
 * reading costs hundreds of milliseconds. */
int probe_fd = -1;
/* simple_dname() once learnt: kept for readers without a probe (a program
 * kept loaded in bpffs and read by later processes, bpfsnap.h). */
__u64 simple_dname_seen = 0;

#define CSS_ONLINE 0x2

/* State of one path walk. Pointers are kept as integers and read with
 * BPF_CORE_READ (fault-safe probe reads). The steps run in global
 * functions (de_snap_*_step), which the verifier checks once each, not
 * once per state of every walk: that keeps the program's load time low. */
struct walk_core {
	__u64 d, m, m_root;     /* dentry, struct mount and its mnt_root (or kernfs_node) */
	__u64 stop_d, stop_m;   /* the reader's root: where /proc's walk stops */
	__s32 budget;           /* record bytes left for this task */
	__u32 plen;             /* path bytes so far */
	__s32 status;           /* -1 walking, 0 done, DE_SNAP_FALLBACK */
	__u8 field, flags;
};

struct walk {
	struct seq_file *seq;
	struct walk_core c;
	__u32 tgid; /* the task's */
};

struct name_rec {
	struct de_snap_name h;
	char name[256];
};

/* Fill r with one name record for w's field from a kernel string and
 * account for it in w. Returns the record's size, or 0 when the budget or
 * the path length limit says stop (status set). */
static __always_inline int fill_name(struct name_rec *r, struct walk_core *w, __u64 name)
{
	__builtin_memset(r, 0, sizeof(*r));
	long n = bpf_probe_read_kernel_str(r->name, sizeof(r->name), (const void *)name);
	if (n <= 1) { /* unreadable or empty: let /proc say */
		w->status = DE_SNAP_FALLBACK;
		return 0;
	}
	__u32 len = (__u32)(n - 1) & 0xff;
	__u32 size = 8 + ((len + 7) & ~7u);
	if ((__s32)size > w->budget || w->plen + len + 1 > DE_SNAP_PATH_MAX) {
		w->status = DE_SNAP_FALLBACK;
		return 0;
	}
	w->budget -= (__s32)size;
	w->plen += len + 1;
	r->h.kind = DE_SNAP_NAME;
	r->h.field = w->field;
	r->h.len = (__u8)len;
	r->h.size = size;
	return (int)size;
}

/* fill_name() for a synthetic (d_dname) name: the one name of its path. */
__noinline int de_snap_fill_name(struct name_rec *r, struct walk_core *w, __u64 name)
{
	if (!r || !w)
		return 0;
	return fill_name(r, w, name);
}

/* One step of the kernel's __prepend_path(): cross a mount, stop at the
 * reader's root or the namespace's root, or fill r with one dentry's
 * name. Returns r's size to write, 0 to go on, -1 when done (status). */
__noinline int de_snap_path_step(struct walk_core *w, struct name_rec *r)
{
	if (!w || !r)
		return -1;
	if (w->d == w->stop_d && w->m == w->stop_m) {
		w->status = 0;
		return -1;
	}
	if (w->d == w->m_root) {
		struct mount *m = (void *)w->m;
		__u64 parent = (__u64)BPF_CORE_READ(m, mnt_parent);
		if (parent == w->m || !parent) { /* the root of its namespace: done */
			w->status = 0;
			return -1;
		}
		w->d = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
		w->m = parent;
		w->m_root = (__u64)BPF_CORE_READ((struct mount *)parent, mnt.mnt_root);
		return 0;
	}
	struct dentry *d = (void *)w->d;
	__u64 parent = (__u64)BPF_CORE_READ(d, d_parent);
	if (parent == w->d || !parent) { /* escaped the reader's root: "/" */
		w->flags |= DE_SNAP_P_RESET;
		w->status = 0;
		return -1;
	}
	int size = fill_name(r, w, (__u64)BPF_CORE_READ(d, d_name.name));
	if (size == 0)
		return -1;
	w->d = parent;
	return size;
}

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(((struct kernfs_node___v615 *)0)->__parent))
		return BPF_CORE_READ((struct kernfs_node___v615 *)kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

/* One step up a cgroup's kernfs nodes (kernfs_path_from_node()), the
 * return as for de_snap_path_step(). */
__noinline int de_snap_cgroup_step(struct walk_core *w, struct name_rec *r)
{
	if (!w || !r)
		return -1;
	if (w->d == w->stop_d) {
		w->status = 0;
		return -1;
	}
	struct kernfs_node *kn = (void *)w->d;
	__u64 parent = (__u64)kn_parent(kn);
	if (!parent) { /* not below the reader's cgroup namespace root */
		w->status = DE_SNAP_FALLBACK;
		return -1;
	}
	int size = fill_name(r, w, (__u64)BPF_CORE_READ(kn, name));
	if (size == 0)
		return -1;
	w->d = parent;
	return size;
}

/* Write r (size from a global function: bounded here, in one register the
 * verifier can follow). */
static __always_inline void write_name(struct seq_file *seq, struct name_rec *r, int n)
{
	__u64 size = (__u64)n;
	asm volatile("%[s] &= 0x1f8\n"
		     "if %[s] <= 264 goto +1\n"
		     "%[s] = 264\n"
		     : [s] "+r"(size));
	bpf_seq_write(seq, r, size);
}

static long path_cb(__u32 i, void *arg)
{
	struct walk *w = arg;
	struct name_rec r;
	(void)i;
	int n = de_snap_path_step(&w->c, &r);
	if (n < 0)
		return 1;
	if (n > 0)
		write_name(w->seq, &r, n);
	return 0;
}

static long cgroup_cb(__u32 i, void *arg)
{
	struct walk *w = arg;
	struct name_rec r;
	(void)i;
	int n = de_snap_cgroup_step(&w->c, &r);
	if (n < 0)
		return 1;
	if (n > 0)
		write_name(w->seq, &r, n);
	return 0;
}

static __always_inline void put_field(struct seq_file *seq, __u8 field, __u8 flags, __s32 status,
				      __u32 value)
{
	struct de_snap_field f = {
		.kind = DE_SNAP_FIELD, .field = field, .flags = flags, .size = sizeof(f),
		.status = status, .value = value,
	};
	bpf_seq_write(seq, &f, sizeof(f));
}

static __always_inline __u64 mount_of(const struct vfsmount *v)
{
	return (__u64)v - bpf_core_field_offset(struct mount, mnt);
}

/* A synthetic name (d_dname()): its own frame for the name record. */
static __noinline void write_dname(struct walk *w, __u64 name)
{
	struct name_rec r;
	int n = de_snap_fill_name(&r, &w->c, name);
	if (n > 0) {
		write_name(w->seq, &r, n);
		w->c.flags = DE_SNAP_P_DNAME;
		w->c.status = 0;
	}
}

/* When this reader's last completed walk of field started from the same
 * objects, in another task (the same task again is the kernel showing it
 * anew after discarding its output), write a DE_SNAP_P_SAME field record
 * instead of the walk (snapshot.h). Returns whether it did. */
static __always_inline int write_same(struct walk *w, const struct de_split_val *sp, __u8 field,
				       __u64 d, __u64 m, __u32 value)
{
	if (!sp || field >= DE_SNAP_PATHS || sp->last_d[field] != d || sp->last_m[field] != m ||
	    sp->last_tgid[field] == w->tgid)
		return 0;
	struct de_snap_same r = {
		.f = { .kind = DE_SNAP_FIELD, .field = field, .flags = DE_SNAP_P_SAME,
		       .size = sizeof(r), .value = value },
		.tgid = (__s32)sp->last_tgid[field],
	};
	bpf_seq_write(w->seq, &r, sizeof(r));
	return 1;
}

/* The field record that ends a walk; a completed walk is remembered for
 * DE_SNAP_P_SAME. */
static __always_inline void end_walk(struct walk *w, struct de_split_val *sp, __u8 field, __u64 d,
				     __u64 m, __u32 value)
{
	__s32 status = w->c.status < 0 ? DE_SNAP_FALLBACK : w->c.status;
	put_field(w->seq, field, w->c.flags, status, value);
	if (sp && status == 0 && field < DE_SNAP_PATHS) {
		sp->last_d[field] = d;
		sp->last_m[field] = m;
		sp->last_tgid[field] = w->tgid;
	}
}

/* The string d_path() makes of a path, for a reader whose root is stop_*:
 * names leaf first, then the field record. */
static __always_inline void write_path(struct walk *w, struct de_split_val *sp, __u8 field,
				       struct vfsmount *mnt, struct dentry *d, __u32 value,
				       __u64 simple_dname)
{
	w->c.field = field;
	w->c.flags = 0;
	w->c.plen = 0;
	w->c.status = -1;
	if (!d || !mnt) { /* exited (or exiting): /proc says ENOENT */
		put_field(w->seq, field, 0, -DE_ENOENT, value);
		return;
	}
	if (write_same(w, sp, field, (__u64)d, (__u64)mnt, value))
		return;
	__u64 mnt_root = (__u64)BPF_CORE_READ(mnt, mnt_root);
	__u64 parent = (__u64)BPF_CORE_READ(d, d_parent);
	bool is_root = parent == (__u64)d;
	const struct dentry_operations *op = BPF_CORE_READ(d, d_op);
	__u64 dname = op ? (__u64)BPF_CORE_READ(op, d_dname) : 0;
	if (dname && (!is_root || (__u64)d != mnt_root)) {
		/* a synthetic name; only simple_dname() is known here */
		if (dname == simple_dname)
			write_dname(w, (__u64)BPF_CORE_READ(d, d_name.name));
		end_walk(w, sp, field, (__u64)d, (__u64)mnt, value);
		return;
	}
	if (!is_root && !BPF_CORE_READ(d, d_hash.pprev)) /* d_unlinked() */
		w->c.flags |= DE_SNAP_P_DELETED;
	w->c.d = (__u64)d;
	w->c.m = mount_of(mnt);
	w->c.m_root = mnt_root;
	bpf_loop(DE_SNAP_PATH_STEPS, path_cb, w, 0);
	end_walk(w, sp, field, (__u64)d, (__u64)mnt, value);
}

static __always_inline void write_cgroup(struct walk *w, struct de_split_val *sp,
					 struct task_struct *t, struct task_struct *reader)
{
	w->c.field = DE_SNAP_FLD_CGROUP;
	w->c.flags = 0;
	w->c.plen = 0;
	w->c.status = -1;
	struct css_set *cs = BPF_CORE_READ((struct task_struct___snap *)t, cgroups);
	struct cgroup *cg = cs ? BPF_CORE_READ(cs, dfl_cgrp) : 0;
	struct nsproxy *nsp = BPF_CORE_READ(reader, nsproxy);
	struct cgroup_namespace___snap *cns = nsp ? (void *)BPF_CORE_READ(nsp, cgroup_ns) : 0;
	struct css_set *rcs = cns ? BPF_CORE_READ(cns, root_cset) : 0;
	struct cgroup *rcg = rcs ? BPF_CORE_READ(rcs, dfl_cgrp) : 0;
	if (!cg || !rcg) {
		put_field(w->seq, DE_SNAP_FLD_CGROUP, 0, DE_SNAP_FALLBACK, 0);
		return;
	}
	__u64 kn = (__u64)BPF_CORE_READ(cg, kn), root_kn = (__u64)BPF_CORE_READ(rcg, kn);
	bool dead = !(BPF_CORE_READ(cg, self.flags) & CSS_ONLINE);
	/* a cgroup removed since is walked again: its flag differs */
	if (!dead && write_same(w, sp, DE_SNAP_FLD_CGROUP, kn, root_kn, 0))
		return;
	if (dead)
		w->c.flags |= DE_SNAP_P_CG_DEAD;
	w->c.d = kn;
	w->c.stop_d = root_kn;
	bpf_loop(DE_SNAP_PATH_STEPS, cgroup_cb, w, 0);
	end_walk(w, dead ? NULL : sp, DE_SNAP_FLD_CGROUP, kn, root_kn, 0);
}

struct fd_count {
	__u64 bits;
	__u32 words, count;
};

/* bitmap_weight(open_fds, max_fds), 8 words a step */
static long fd_step(__u32 i, void *arg)
{
	struct fd_count *c = arg;
	__u64 w[8] = {};
	__u32 done = i * 8;
	if (done >= c->words)
		return 1;
	__u32 n = c->words - done;
	if (n > 8)
		n = 8;
	asm volatile("" : "+r"(n));
	n = ((n - 1) & 7) + 1;
	if (bpf_probe_read_kernel(w, n * 8, (void *)(c->bits + done * 8)) < 0) {
		c->count = ~0u;
		return 1;
	}
	for (int k = 0; k < 8; k++)
		c->count += (__u32)__builtin_popcountll(w[k]);
	return 0;
}

static __always_inline void write_fd_count(struct seq_file *seq, struct task_struct *t)
{
	struct files_struct *files = BPF_CORE_READ((struct task_struct___snap *)t, files);
	if (!files) { /* exited: /proc counts none */
		put_field(seq, DE_SNAP_FLD_FD, 0, 0, 0);
		return;
	}
	struct fdtable *fdt = BPF_CORE_READ(files, fdt);
	__u32 max = fdt ? BPF_CORE_READ(fdt, max_fds) : 0;
	struct fd_count c = { .bits = fdt ? (__u64)BPF_CORE_READ(fdt, open_fds) : 0 };
	c.words = (max + 63) / 64;
	if (!c.bits || max % 64 || c.words > DE_SNAP_FD_WORDS) {
		put_field(seq, DE_SNAP_FLD_FD, 0, DE_SNAP_FALLBACK, 0);
		return;
	}
	bpf_loop(DE_SNAP_FD_WORDS / 8, fd_step, &c, 0);
	if (c.count == ~0u)
		put_field(seq, DE_SNAP_FLD_FD, 0, DE_SNAP_FALLBACK, 0);
	else
		put_field(seq, DE_SNAP_FLD_FD, 0, 0, c.count);
}

/* Everything after the process record: exe, cwd, root, cgroup, fd count,
 * in at most `budget` bytes (DE_SNAP_TASK_MAX less the record). */
static __noinline void write_more(struct seq_file *seq, struct task_struct *t, __s32 budget,
				  struct de_split_val *sp)
{
	struct task_struct *reader = bpf_get_current_task_btf();
	struct walk w = { .seq = seq, .c.budget = budget, .tgid = (__u32)t->tgid };
	/* room for the five field records */
	w.c.budget -= DE_SNAP_FLD__COUNT * (__s32)sizeof(struct de_snap_field);
	struct fs_struct *rfs = BPF_CORE_READ((struct task_struct___snap *)reader, fs);
	struct vfsmount *rmnt = rfs ? BPF_CORE_READ(rfs, root.mnt) : 0;
	w.c.stop_d = rfs ? (__u64)BPF_CORE_READ(rfs, root.dentry) : 0;
	w.c.stop_m = rmnt ? mount_of(rmnt) : 0;
	/* simple_dname() is one kernel address: probed until learnt */
	__u64 simple_dname = simple_dname_seen;
	int pfd = probe_fd;
	if (!simple_dname && pfd >= 0 && pfd < 64) {
		struct files_struct *rf = BPF_CORE_READ((struct task_struct___snap *)reader, files);
		struct fdtable *rt = rf ? BPF_CORE_READ(rf, fdt) : 0;
		struct file **fda = rt ? BPF_CORE_READ(rt, fd) : 0;
		struct file *pf = 0;
		if (fda)
			bpf_probe_read_kernel(&pf, sizeof(pf), fda + pfd);
		struct dentry *pd = pf ? BPF_CORE_READ((struct file___snap *)pf, f_path.dentry) : 0;
		const struct dentry_operations *pop = pd ? BPF_CORE_READ(pd, d_op) : 0;
		simple_dname = pop ? (__u64)BPF_CORE_READ(pop, d_dname) : 0;
	}
	if (simple_dname)
		simple_dname_seen = simple_dname;
	if (!(t->flags & PF_KTHREAD)) {
		struct mm_struct *mm = t->mm;
		struct file *f = mm ? mm->exe_file : 0;
		struct file___snap *fs = (void *)f;
		__u32 nlink = 0;
		struct inode *ino = f ? f->f_inode : 0;
		if (ino)
			nlink = BPF_CORE_READ((struct inode___snap *)ino, i_nlink);
		write_path(&w, sp, DE_SNAP_FLD_EXE, fs ? BPF_CORE_READ(fs, f_path.mnt) : 0,
			   fs ? BPF_CORE_READ(fs, f_path.dentry) : 0, nlink, simple_dname);
		struct fs_struct *tfs = BPF_CORE_READ((struct task_struct___snap *)t, fs);
		write_path(&w, sp, DE_SNAP_FLD_CWD, tfs ? BPF_CORE_READ(tfs, pwd.mnt) : 0,
			   tfs ? BPF_CORE_READ(tfs, pwd.dentry) : 0, 0, simple_dname);
		write_path(&w, sp, DE_SNAP_FLD_ROOT, tfs ? BPF_CORE_READ(tfs, root.mnt) : 0,
			   tfs ? BPF_CORE_READ(tfs, root.dentry) : 0, 0, simple_dname);
	}
	write_cgroup(&w, sp, t, reader);
	write_fd_count(seq, t);
}

/* The variable part of a process record: groups, argv, the argv status
 * word and padding (its own frame: the path walk below needs the stack). */
static __noinline void write_var(struct seq_file *seq, struct task_struct *t,
				 const struct var_info *v)
{
	struct copy_ctx c = { .seq = seq, .task = t, .src = v->groups, .len = v->ngroups * 4 };
	bpf_loop(DE_SNAP_GROUPS_MAX / GROUPS_PER_CHUNK, copy_chunk, &c, 0);
	c.src = v->arg_start;
	c.len = v->argv_len;
	c.user = 1;
	c.status = 0; /* the status word describes argv only */
	bpf_loop(DE_SNAP_ARGV_MAX / DE_SNAP_CHUNK, copy_chunk, &c, 0);
	int status = c.status;
	/* /proc/PID/cmdline follows setproctitle() when argv's last byte is
	 * not NUL: status 1 tells user space to read that case from /proc.
	 * Untruncated, that byte is in the copy (user space checks it). */
	if (v->truncated && status == 0) {
		char last = 0;
		if (bpf_copy_from_user_task(&last, 1, (void *)(v->arg_end - 1), t, 0) == 0 && last)
			status = 1;
	}
	/* trailer: the argv status, then padding to 8 bytes */
	__u64 pad[2] = { 0, 0 };
	*(int *)pad = status;
	__u32 tail = 4 + ((8 - ((v->ngroups * 4 + v->argv_len + 4) & 7)) & 7); /* 4 to 11 */
	tail &= 15;
	if (tail < 4)
		tail = 4;
	bpf_seq_write(seq, pad, tail);
}

SEC("iter.s/task")
int de_snapshot(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *t = ctx->task;
	if (!t)
		return 0;
	__u32 reader = (__u32)bpf_get_current_pid_tgid();
	struct de_split_val *split = bpf_map_lookup_elem(&de_split, &reader);
	if (split) {
		__u32 ck = (__u32)split->a;
		struct de_split_val *cnt = ck >= DE_SPLIT_COUNTER ? bpf_map_lookup_elem(&de_split, &ck) : 0;
		if (cnt && !split_mine(split, &cnt->a, (__u32)t->pid))
			return 0;
	}
	if (t->pid != t->tgid) {
		write_thread(seq, t);
		return 0;
	}
	struct var_info v = {};
	write_ids(seq, t, &v);
	write_res(seq, t);
	write_var(seq, t, &v);
	write_more(seq, t, DE_SNAP_TASK_MAX - (__s32)v.size, split);
	return 0;
}
