// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0-only)
/* events.bpf.c: process exec, fork and exit as they happen, captured in
 * the kernel (tp_btf tracepoints) and written to a BPF ring buffer for
 * src_ebpf.c.
 *
 * Everything is read at the tracepoint, so a record never depends on the
 * process still existing when user space reads it: ids, the thread group
 * leader's start_boottime (the entity id), credentials, audit ids, comm,
 * cgroup id, and for exec the path given to execve, the executable's
 * identity (exe_id.h: what the hash cache keys on) and argv from the new image's memory.
 *
 * tp_btf programs are not sleepable: argv is read with bpf_probe_read_user,
 * which fails on a page that is not resident. Right after execve the argv
 * pages were just written by the kernel so this is rare; when it happens
 * the record says so (DE_BPF_F_ARGV_FAULT) and `argv_faults` counts it.
 *
 * Exec records are variable-length (argv, filename) and built in a scratch
 * buffer indexed by CPU, then copied with bpf_ringbuf_output (tracepoints
 * run with preemption disabled, so a CPU's scratch is never shared). Fork and
 * exit records are fixed-size and reserved in the ring directly. A record
 * the ring has no room for is counted per type (`drops`), never lost
 * silently.
 *
 * Threads are not processes: fork reports new thread groups only, exit
 * reports the last thread of a group (group_dead).
 */
#include "vmlinux_min.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SIGNAL_GROUP_EXIT 0x00000004
/* enum bpf_map_type (uapi, stable): vmlinux_min.h has no uapi enums */
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_RINGBUF 27
/* bpf_ringbuf_output/submit flags and bpf_ringbuf_query (uapi) */
#define BPF_RB_NO_WAKEUP 1
#define BPF_RB_FORCE_WAKEUP 2
#define BPF_RB_AVAIL_DATA 0

/* Most argv bytes per exec; set by user space before loading. */
const volatile __u32 argv_cap = DE_BPF_ARGV_MAX;

/* Wakeups (each costs the consumer a context switch): while user space is
 * busy (consumer_idle == 0) it comes back every few milliseconds on its
 * own, and records only wake it once wakeup_bytes are pending; while it
 * sleeps, a record wakes it as soon as the ring was empty (libbpf's
 * default, adaptive wakeup). */
const volatile __u64 wakeup_bytes = 65536;
__u32 consumer_idle = 1;

/* drop_gen: bumped on every drop (user space then reads `drops`);
 * argv_faults: exec records whose argv could not be read. */
__u64 drop_gen = 0;
__u64 argv_faults = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, DE_BPF_RINGBUF_DEFAULT); /* user space resizes it */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DE_BPF_EV__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* The exec record under construction: header, filename, argv. The
 * filename part is twice its cap so the verifier can bound argv's offset
 * with a mask. */
struct exec_buf {
	struct de_bpf_ev h;
	char data[2 * DE_BPF_FILENAME_MAX + DE_BPF_ARGV_MAX];
};

/* One exec_buf per CPU, indexed by CPU number (a per-CPU array's values
 * are limited to 32 KiB); user space sets max_entries to the CPU count. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_buf);
} scratch SEC(".maps");

static __always_inline void count_drop(__u32 type)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &type);
	if (n)
		*n += 1;
	__sync_fetch_and_add(&drop_gen, 1);
}

static __always_inline __u64 wakeup_flags(void)
{
	if (consumer_idle)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									       : BPF_RB_NO_WAKEUP;
}

static __always_inline struct task_struct *leader_of(struct task_struct *t)
{
	return ((struct task_struct___de_ev *)t)->group_leader;
}

/* What every record carries about task t (and its parent). */
static __always_inline void fill_task(struct de_bpf_ev *e, struct task_struct *t)
{
	e->pid = t->tgid;
	e->tid = t->pid;
	e->time_ns = bpf_ktime_get_boot_ns();
	struct task_struct *lead = leader_of(t);
	e->start_boottime = lead ? lead->start_boottime : t->start_boottime;
	struct task_struct *parent = t->real_parent;
	if (parent) {
		e->ppid = parent->tgid;
		struct task_struct *plead = leader_of(parent);
		e->parent_start_boottime = plead ? plead->start_boottime : parent->start_boottime;
		e->flags |= DE_BPF_F_PARENT;
	}
	const struct cred *c = t->real_cred;
	if (c) {
		e->uid[0] = c->uid.val;
		e->uid[1] = c->euid.val;
		e->uid[2] = c->suid.val;
		e->uid[3] = c->fsuid.val;
		e->gid[0] = c->gid.val;
		e->gid[1] = c->egid.val;
		e->gid[2] = c->sgid.val;
		e->gid[3] = c->fsgid.val;
	}
	if (bpf_core_field_exists(t->loginuid) && bpf_core_field_exists(t->sessionid)) {
		e->loginuid = t->loginuid.val;
		e->sessionid = t->sessionid;
		e->flags |= DE_BPF_F_AUDIT;
	}
	struct css_set___de_ev *cs = ((struct task_struct___de_ev *)t)->cgroups;
	if (cs) {
		struct cgroup___de_ev *cg = cs->dfl_cgrp;
		if (cg && cg->kn)
			e->cgroup_id = cg->kn->id;
	}
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), t->comm);
}

/* sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm):
 * p is current, already running the new image (new mm, new creds, new
 * comm); old_pid is the pid of the thread that called execve. */
SEC("tp_btf/sched_process_exec")
int de_exec(__u64 *ctx)
{
	struct task_struct *p = (void *)ctx[0];
	int old_pid = (int)ctx[1];
	struct linux_binprm___de_ev *bprm = (void *)ctx[2];
	__u32 cpu = bpf_get_smp_processor_id();
	struct exec_buf *b = bpf_map_lookup_elem(&scratch, &cpu);
	if (!b)
		return 0;
	struct de_bpf_ev *e = &b->h;
	__builtin_memset(e, 0, sizeof(*e));
	e->type = DE_BPF_EV_EXEC;
	fill_task(e, p);
	e->tid = old_pid;

	struct file *f = bprm->file;
	struct inode *ino = f ? f->f_inode : 0;
	if (ino) {
		de_bpf_read_exe_id(ino, &e->exe);
		e->flags |= DE_BPF_F_EXE;
	}

	long n = bpf_probe_read_kernel_str(b->data, DE_BPF_FILENAME_MAX, bprm->filename);
	__u32 fn = n > 0 ? (__u32)n - 1 : 0; /* without the NUL */
	if (fn >= DE_BPF_FILENAME_MAX - 1)
		e->flags |= DE_BPF_F_FN_TRUNC;
	fn &= 2 * DE_BPF_FILENAME_MAX - 1;
	e->filename_len = fn;

	struct mm_struct *mm = p->mm;
	__u32 len = 0;
	if (mm) {
		unsigned long as = mm->arg_start, ae = mm->arg_end;
		if (ae > as) {
			unsigned long full = ae - as;
			__u32 cap = argv_cap < DE_BPF_ARGV_MAX ? argv_cap : DE_BPF_ARGV_MAX;
			e->argv_full_len = full > 0xffffffffu ? 0xffffffffu : (__u32)full;
			len = full > cap ? cap : (__u32)full;
			if (full > cap)
				e->flags |= DE_BPF_F_ARGV_TRUNC;
			if (len) {
				asm volatile("" : "+r"(len)); /* keep the mask: it is for the verifier */
				len = ((len - 1) & (DE_BPF_ARGV_MAX - 1)) + 1;
				if (bpf_probe_read_user(b->data + fn, len, (void *)as) < 0) {
					len = 0;
					e->flags |= DE_BPF_F_ARGV_FAULT;
					__sync_fetch_and_add(&argv_faults, 1);
				}
			}
		}
	}
	e->argv_len = len;
	__u64 size = sizeof(*e) + (__u64)fn + len;
	if (size > sizeof(*b))
		return 0; /* cannot happen: fn and len are bounded above */
	if (bpf_ringbuf_output(&events, b, size, wakeup_flags()) < 0)
		count_drop(DE_BPF_EV_EXEC);
	return 0;
}

/* sched_process_fork(struct task_struct *parent, struct task_struct *child):
 * only new thread groups are processes; a new thread is not reported. */
SEC("tp_btf/sched_process_fork")
int de_fork(__u64 *ctx)
{
	struct task_struct *child = (void *)ctx[1];
	if (child->pid != child->tgid)
		return 0;
	struct de_bpf_ev *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(DE_BPF_EV_FORK);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = DE_BPF_EV_FORK;
	fill_task(e, child);
	bpf_ringbuf_submit(e, wakeup_flags());
	return 0;
}

/* The exit of thread group t, reported by its last thread: the status as
 * waitpid() on the process sees it (wait_task_zombie: the group exit code
 * after exit_group() or a fatal signal, else the leader's exit code). */
static __always_inline int report_exit(struct task_struct *t)
{
	struct de_bpf_ev *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(DE_BPF_EV_EXIT);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = DE_BPF_EV_EXIT;
	fill_task(e, t);
	struct signal_struct___de_ev *sig = (void *)t->signal;
	struct task_struct *lead = leader_of(t);
	int status = 0;
	if (sig && (sig->flags & SIGNAL_GROUP_EXIT))
		status = sig->group_exit_code;
	else if (lead)
		status = ((struct task_struct___de_ev *)lead)->exit_code;
	e->exit_status = status;
	bpf_ringbuf_submit(e, wakeup_flags());
	return 0;
}

/* sched_process_exit(struct task_struct *p, bool group_dead), kernels that
 * pass group_dead (recent ones, 6.18 here): exactly one call per thread group. */
SEC("tp_btf/sched_process_exit")
int de_exit(__u64 *ctx)
{
	struct task_struct *p = (void *)ctx[0];
	if (!(__u8)ctx[1])
		return 0;
	return report_exit(p);
}

/* Older kernels: sched_process_exit(struct task_struct *p) comes after
 * do_exit() decremented signal->live, so live == 0 marks the group's end.
 * Two threads exiting at the same instant can both see 0: then the exit is
 * reported twice (the same entity id), never missed. */
SEC("tp_btf/sched_process_exit")
int de_exit_nogd(__u64 *ctx)
{
	struct task_struct *p = (void *)ctx[0];
	struct signal_struct___de_ev *sig = (void *)p->signal;
	if (!sig || sig->live.counter != 0)
		return 0;
	return report_exit(p);
}
