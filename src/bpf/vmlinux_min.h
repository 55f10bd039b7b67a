/* vmlinux_min.h: the few kernel types snapshot.bpf.c reads, declared by hand
 * for CO-RE instead of a generated multi-megabyte vmlinux.h.
 *
 * Every struct carries preserve_access_index, so field offsets are
 * relocated by libbpf against the running kernel's BTF at load time: only
 * the names and types of the fields listed here must match, not their
 * order or the rest of the struct. Fields that differ across kernel
 * versions have "___flavor" variants, tested with bpf_core_field_exists().
 */
#ifndef DE_VMLINUX_MIN_H
#define DE_VMLINUX_MIN_H

typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __s64 s64;
typedef __u64 u64;
typedef __s32 s32;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
typedef int pid_t;
typedef long long time64_t;
typedef long long loff_t;
typedef unsigned int dev_t;

#define PAI __attribute__((preserve_access_index))

enum pid_type { PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_PGID, PIDTYPE_SID, PIDTYPE_MAX };

typedef struct { unsigned int val; } PAI kuid_t;
typedef struct { unsigned int val; } PAI kgid_t;
typedef struct { u64 val; } PAI kernel_cap_t;

struct seq_file;

struct ns_common { unsigned int inum; } PAI;
struct uts_namespace { struct ns_common ns; } PAI;
struct ipc_namespace { struct ns_common ns; } PAI;
struct mnt_namespace { struct ns_common ns; } PAI;
struct net { struct ns_common ns; } PAI;
struct cgroup_namespace { struct ns_common ns; } PAI;
struct pid_namespace { struct ns_common ns; } PAI;
struct user_namespace { struct ns_common ns; } PAI;

struct nsproxy {
	struct uts_namespace *uts_ns;
	struct ipc_namespace *ipc_ns;
	struct mnt_namespace *mnt_ns;
	struct net *net_ns;
	struct cgroup_namespace *cgroup_ns;
} PAI;

struct upid { int nr; struct pid_namespace *ns; } PAI;
struct pid { unsigned int level; struct upid numbers[1]; } PAI;

struct group_info { int ngroups; kgid_t gid[1]; } PAI;

struct cred {
	kuid_t uid, suid, euid, fsuid;
	kgid_t gid, sgid, egid, fsgid;
	kernel_cap_t cap_inheritable, cap_permitted, cap_effective, cap_bset, cap_ambient;
	struct user_namespace *user_ns;
	struct group_info *group_info;
} PAI;

struct tty_driver { int major; int minor_start; } PAI;
struct tty_struct { int index; struct tty_driver *driver; } PAI;

struct task_io_accounting {
	u64 rchar, wchar, syscr, syscw, read_bytes, write_bytes, cancelled_write_bytes;
} PAI;

struct prev_cputime { u64 utime; u64 stime; } PAI;

struct signal_struct {
	int nr_threads;
	struct pid *pids[PIDTYPE_MAX];
	struct tty_struct *tty;
	u64 utime, stime;
	struct prev_cputime prev_cputime;
	unsigned long min_flt, maj_flt;
	unsigned long long sum_sched_runtime;
	struct task_io_accounting ioac;
} PAI;

struct super_block { dev_t s_dev; } PAI;

struct timespec64 { time64_t tv_sec; long tv_nsec; } PAI;

struct inode {
	struct super_block *i_sb;
	unsigned long i_ino;
	loff_t i_size;
} PAI;
/* 6.11+ */
struct inode___v611 {
	time64_t i_mtime_sec, i_ctime_sec;
	u32 i_mtime_nsec, i_ctime_nsec;
} PAI;
/* 6.6 (ctime) and 6.7 (mtime) to 6.10 */
struct inode___v66 { struct timespec64 __i_mtime, __i_ctime; } PAI;
/* before 6.6 */
struct inode___old { struct timespec64 i_mtime, i_ctime; } PAI;

struct file { struct inode *f_inode; } PAI;

struct percpu_counter { s64 count; } PAI;
struct mm_rss_stat; /* before 6.2 (atomic counters): rss then comes from /proc */

struct mm_struct {
	unsigned long total_vm;
	unsigned long arg_start, arg_end;
	struct percpu_counter rss_stat[4];
	struct file *exe_file;
} PAI;

struct seccomp { int mode; } PAI;
struct sched_entity { u64 sum_exec_runtime; } PAI;

struct task_struct {
	unsigned int __state;
	int exit_state;
	unsigned int flags;
	int prio, static_prio;
	struct sched_entity se;
	struct mm_struct *mm;
	unsigned long atomic_flags;
	pid_t pid, tgid;
	struct task_struct *real_parent;
	struct pid *thread_pid;
	u64 utime, stime, start_boottime;
	unsigned long min_flt, maj_flt;
	const struct cred *real_cred;
	char comm[16];
	struct nsproxy *nsproxy;
	struct signal_struct *signal;
	kuid_t loginuid;
	unsigned int sessionid;
	struct seccomp seccomp;
	struct task_io_accounting ioac;
} PAI;

struct bpf_iter_meta { struct seq_file *seq; u64 session_id; u64 seq_num; } PAI;
struct bpf_iter__task { struct bpf_iter_meta *meta; struct task_struct *task; } PAI;

/* ---- events.bpf.c (exec/fork/exit tracepoints) ----
 * Fields the definitions above do not have, declared as "___de_ev"
 * flavours: libbpf ignores the suffix when relocating, so these name the
 * same kernel structs without touching their definitions above. */
struct kernfs_node___de_ev { u64 id; } PAI;
struct cgroup___de_ev { struct kernfs_node___de_ev *kn; } PAI;
struct css_set___de_ev { struct cgroup___de_ev *dfl_cgrp; } PAI;
struct task_struct___de_ev {
	struct task_struct *group_leader;
	int exit_code;
	struct css_set___de_ev *cgroups;
} PAI;
struct signal_struct___de_ev {
	struct { int counter; } live;
	unsigned int flags;
	int group_exit_code;
} PAI;
struct linux_binprm___de_ev {
	struct file *file;
	const char *filename;
} PAI;
/* ---- end of events.bpf.c ---- */

/* ---- process snapshot: paths, fd count, cgroup (snapshot.bpf.c) ----
 * Fields of structs declared above that only the snapshot reads come as
 * "___snap" flavours (CO-RE matches them to the same kernel struct). */
struct qstr { u32 len; const unsigned char *name; } PAI;
struct hlist_bl_node { struct hlist_bl_node *next, **pprev; } PAI;
struct dentry;
struct dentry_operations { char *(*d_dname)(struct dentry *, char *, int); } PAI;
struct dentry {
	struct hlist_bl_node d_hash;
	struct dentry *d_parent;
	struct qstr d_name;
	const struct dentry_operations *d_op;
} PAI;
struct vfsmount { struct dentry *mnt_root; } PAI;
struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
} PAI;
struct path { struct vfsmount *mnt; struct dentry *dentry; } PAI;
struct fs_struct { struct path root, pwd; } PAI;
struct fdtable { unsigned int max_fds; struct file **fd; unsigned long *open_fds; } PAI;
struct files_struct { struct fdtable *fdt; } PAI;
struct kernfs_node { const char *name; } PAI;
/* the parent link: __parent since 6.15, parent before */
struct kernfs_node___v615 { struct kernfs_node *__parent; } PAI;
struct kernfs_node___old { struct kernfs_node *parent; } PAI;
struct cgroup_subsys_state { unsigned int flags; } PAI;
struct cgroup { struct cgroup_subsys_state self; struct kernfs_node *kn; } PAI;
struct css_set { struct cgroup *dfl_cgrp; } PAI;
struct cgroup_namespace___snap { struct css_set *root_cset; } PAI;
struct file___snap { struct path f_path; } PAI;
struct inode___snap { unsigned int i_nlink; } PAI;
struct task_struct___snap {
	struct fs_struct *fs;
	struct files_struct *files;
	struct css_set *cgroups;
} PAI;
/* ---- end of the process snapshot block ---- */

#undef PAI
#endif
