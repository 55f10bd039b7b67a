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

/* Most argv bytes per process; set by user space before loading. */
const volatile __u32 argv_cap = DE_SNAP_ARGV_MAX;

#define PF_KTHREAD 0x00200000
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
	r->exe_ino = ino->i_ino;
	struct super_block *sb = ino->i_sb;
	r->exe_dev = sb ? sb->s_dev : 0;
	r->exe_size = (__u64)ino->i_size;
	if (bpf_core_field_exists(((struct inode___v611 *)0)->i_mtime_sec)) {
		struct inode___v611 *i = (void *)ino;
		r->exe_mtime_sec = i->i_mtime_sec;
		r->exe_mtime_nsec = i->i_mtime_nsec;
		r->exe_ctime_sec = i->i_ctime_sec;
		r->exe_ctime_nsec = i->i_ctime_nsec;
	} else {
		struct inode___v66 *n = (void *)ino;
		struct inode___old *o = (void *)ino;
		if (bpf_core_field_exists(n->__i_mtime)) {
			r->exe_mtime_sec = n->__i_mtime.tv_sec;
			r->exe_mtime_nsec = (__u32)n->__i_mtime.tv_nsec;
		} else {
			r->exe_mtime_sec = o->i_mtime.tv_sec;
			r->exe_mtime_nsec = (__u32)o->i_mtime.tv_nsec;
		}
		if (bpf_core_field_exists(n->__i_ctime)) {
			r->exe_ctime_sec = n->__i_ctime.tv_sec;
			r->exe_ctime_nsec = (__u32)n->__i_ctime.tv_nsec;
		} else {
			r->exe_ctime_sec = o->i_ctime.tv_sec;
			r->exe_ctime_nsec = (__u32)o->i_ctime.tv_nsec;
		}
	}
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

SEC("iter.s/task")
int de_snapshot(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *t = ctx->task;
	if (!t)
		return 0;
	if (t->pid != t->tgid) {
		write_thread(seq, t);
		return 0;
	}
	struct var_info v = {};
	write_ids(seq, t, &v);
	write_res(seq, t);

	struct copy_ctx c = { .seq = seq, .task = t, .src = v.groups, .len = v.ngroups * 4 };
	bpf_loop(DE_SNAP_GROUPS_MAX / GROUPS_PER_CHUNK, copy_chunk, &c, 0);
	c.src = v.arg_start;
	c.len = v.argv_len;
	c.user = 1;
	c.status = 0; /* the status word describes argv only */
	bpf_loop(DE_SNAP_ARGV_MAX / DE_SNAP_CHUNK, copy_chunk, &c, 0);
	int status = c.status;
	/* /proc/PID/cmdline follows setproctitle() when argv's last byte is
	 * not NUL: status 1 tells user space to read that case from /proc.
	 * Untruncated, that byte is in the copy (user space checks it). */
	if (v.truncated && status == 0) {
		char last = 0;
		if (bpf_copy_from_user_task(&last, 1, (void *)(v.arg_end - 1), t, 0) == 0 && last)
			status = 1;
	}
	/* trailer: the argv status, then padding to 8 bytes */
	__u64 pad[2] = { 0, 0 };
	*(int *)pad = status;
	__u32 tail = 4 + ((8 - ((v.ngroups * 4 + v.argv_len + 4) & 7)) & 7); /* 4 to 11 */
	tail &= 15;
	if (tail < 4)
		tail = 4;
	bpf_seq_write(seq, pad, tail);
	return 0;
}
