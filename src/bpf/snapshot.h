/* snapshot.h: the records the BPF task iterator (snapshot.bpf.c) writes and
 * bpfsnap.c reads, shared by both sides.
 *
 * One iteration writes, per task:
 *   - a thread-group leader: struct de_snap_proc (de_snap_ids then
 *     de_snap_res), then ngroups_copied gids
 *     (u32), then argv_len bytes of argv, then a u32 "argv status" (0, or a
 *     negative errno from bpf_copy_from_user_task); `size` covers it all;
 *   - any other thread: struct de_snap_thread (its own times, faults and I/O
 *     counters, which /proc adds to its process's totals).
 *   - after a leader's record, what the kernel has only as objects to walk:
 *     for each of the exe, cwd and root paths and the cgroup path, the
 *     path's names leaf first (struct de_snap_name each), then a
 *     struct de_snap_field saying how the walk ended; then a
 *     de_snap_field for the fd count (DE_SNAP_FLD_FD). A field whose walk
 *     could not finish (too deep, too long, record space) says
 *     DE_SNAP_FALLBACK and user space reads just that one from /proc.
 * Records are variable-length and 8-byte aligned (size is a multiple of 8).
 * A task's whole output must fit the iterator's seq buffer (32 KiB: the
 * kernel drops a task that overflows it); DE_SNAP_TASK_MAX bounds it.
 * Integers are native-endian; ids are the kernel's global (init namespace)
 * values. Raw kernel values are carried (task state bits, page counts,
 * tty driver numbers) and turned into /proc's units in user space.
 */
#ifndef DE_BPF_SNAPSHOT_H
#define DE_BPF_SNAPSHOT_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#include "exe_id.h"

#define DE_SNAP_ARGV_MAX 16384   /* hard cap: a record must fit the 32 KiB seq buffer */
#define DE_SNAP_CHUNK 128        /* argv and groups are copied through the stack in chunks */
#define DE_SNAP_GROUPS_MAX 256

enum de_snap_kind { DE_SNAP_PROC = 1, DE_SNAP_THREAD = 2, DE_SNAP_NAME = 3, DE_SNAP_FIELD = 4 };

#define DE_SNAP_TASK_MAX 32256   /* the 32 KiB seq buffer less a margin */

/* Parallel reads (de_split in snapshot.bpf.c): the tasks are cut into
 * chunks of 2^DE_SPLIT_SHIFT consecutive pids, which the readers claim as
 * they reach them. */
#define DE_SPLIT_SHIFT 6
#define DE_SPLIT_NONE 0xffffffffu
#define DE_SPLIT_COUNTER 0x80000000u /* de_split keys from here on are counters, not tids */
#define DE_SNAP_PATH_MAX 4000    /* path bytes walked; longer: from /proc */
#define DE_SNAP_PATH_STEPS 512   /* dentries + mount crossings per path */
#define DE_SNAP_FD_WORDS 2048    /* open_fds words popcounted (131072 fds) */

/* de_snap_field.field */
enum de_snap_fld { DE_SNAP_FLD_EXE, DE_SNAP_FLD_CWD, DE_SNAP_FLD_ROOT, DE_SNAP_FLD_CGROUP,
		   DE_SNAP_FLD_FD, DE_SNAP_FLD__COUNT };
#define DE_SNAP_PATHS DE_SNAP_FLD_FD /* the walked fields: exe, cwd, root, cgroup */

/* A reader's entry in de_split (and a snapshot's counter, which uses a).
 * last_*: per walked field, the object the reader's last completed walk
 * of that field started from (dentry and mount; for the cgroup its
 * kernfs node and the reader's root node), zero before the first. A task
 * whose field starts from the same objects gets DE_SNAP_P_SAME instead of
 * the walk: most processes share their root, many their cwd, exe and
 * cgroup. User space registers every reader with the last_* zeroed. */
struct de_split_val {
	__u64 a; /* a reader: its snapshot's counter key; a counter: the next unclaimed chunk */
	__u64 b; /* a reader: the chunk it holds (DE_SPLIT_NONE: none yet) */
	__u64 last_d[DE_SNAP_PATHS];
	__u64 last_m[DE_SNAP_PATHS];
	__u32 last_tgid[DE_SNAP_PATHS]; /* whose walk it was */
};

/* de_snap_field.status besides 0 (done) and negative errnos (-ENOENT: the
 * task has no such object, as /proc says for a zombie) */
#define DE_SNAP_FALLBACK 1

/* de_snap_field.flags */
#define DE_SNAP_P_DELETED 0x1   /* d_unlinked(): /proc appends " (deleted)" */
#define DE_SNAP_P_DNAME 0x2     /* simple_dname(): "/NAME (deleted)" (memfd) */
#define DE_SNAP_P_RESET 0x4     /* the walk escaped its root: the path is "/" */
#define DE_SNAP_P_CG_DEAD 0x8   /* cgroup removed: /proc appends " (deleted)" */
/* No names: the same path (and flags) as this field's last completed walk
 * (status 0) in this reader's output, by the process struct de_snap_same
 * names (a reader's part is contiguous: that walk is the last of the field
 * before it in the buffer, unless the kernel discarded it). A reader's
 * first walk of a field is never DE_SNAP_P_SAME. */
#define DE_SNAP_P_SAME 0x10

/* One path component (a dentry or kernfs name), NUL-padded to 8 bytes. */
struct de_snap_name {
	__u16 kind;      /* DE_SNAP_NAME */
	__u8 field;      /* enum de_snap_fld */
	__u8 len;        /* name bytes that follow (names are <= 255 bytes) */
	__u32 size;
};

/* How a field ended, after its names (paths) or alone (fd count). */
struct de_snap_field {
	__u16 kind;      /* DE_SNAP_FIELD */
	__u8 field;
	__u8 flags;      /* DE_SNAP_P_* */
	__u32 size;      /* 16; 24 with DE_SNAP_P_SAME */
	__s32 status;    /* 0, DE_SNAP_FALLBACK or a negative errno */
	__u32 value;     /* exe: the inode's link count; fd: the open fd count */
};

/* A field record with DE_SNAP_P_SAME: the tgid of the process whose walk
 * it repeats. The kernel discards the output of a task that did not fit
 * the rest of a read's buffer and shows that task again in the next read,
 * so the program's memory of its last walk can be ahead of what user space
 * got: user space takes the path only when the last walk it has of the
 * field is that process's, else reads the field from /proc. */
struct de_snap_same {
	struct de_snap_field f;
	__s32 tgid;
	__u32 pad;
};

/* flags */
#define DE_SNAP_F_MM 0x1            /* has an mm: argv, vsize, rss, exe are valid */
#define DE_SNAP_F_ARGV_TRUNC 0x2    /* argv longer than the cap */
#define DE_SNAP_F_PROCTITLE 0x4     /* argv's last byte is not NUL (setproctitle) */
#define DE_SNAP_F_EXE 0x8           /* exe_* valid */
#define DE_SNAP_F_NS 0x10           /* ns[] valid (nsproxy present) */
#define DE_SNAP_F_AUDIT 0x20        /* loginuid / sessionid valid */
#define DE_SNAP_F_RSS 0x40          /* rss_pages valid (percpu_counter rss_stat) */
#define DE_SNAP_F_NNP 0x80          /* no_new_privs */
#define DE_SNAP_F_TTY 0x100         /* tty_* valid */

struct de_snap_io {
	__u64 rchar, wchar, syscr, syscw, read_bytes, write_bytes, cancelled_write_bytes;
};

struct de_snap_thread {
	__u16 kind;      /* DE_SNAP_THREAD */
	__u16 pad;
	__u32 size;
	__s32 tgid, tid;
	__u64 utime, stime, sum_exec_runtime;
	__u64 min_flt, maj_flt;
	struct de_snap_io io;
};

/* ns[] order: DE_NS_PID, MNT, NET, USER, UTS, IPC, CGROUP (proc.h) */
#define DE_SNAP_NS 7

/* A process record is two structs back to back (each is built in its own
 * BPF stack frame: together they exceed the 512-byte stack). */
struct de_snap_ids {
	__u16 kind;      /* DE_SNAP_PROC */
	__u16 pad;
	__u32 size;      /* whole record: both parts, groups, argv, trailer */
	__s32 tgid, ppid, pgid, sid;
	__u32 flags;     /* DE_SNAP_F_MM, _ARGV_TRUNC, _AUDIT, _NNP, _TTY */
	__u32 task_flags;
	__u32 state, exit_state;
	__s32 prio, static_prio;
	__s32 nr_threads;
	__s32 seccomp;
	__u32 uid[4], gid[4];     /* real, effective, saved, fs */
	__u64 cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	__u32 loginuid, sessionid;
	__u64 start_boottime;     /* ns */
	__s32 tty_major, tty_minor_start, tty_index;
	__u32 ngroups;            /* the real count (may exceed ngroups_copied) */
	__u32 ngroups_copied;
	__u32 argv_len;           /* bytes of argv that follow the groups */
	char comm[16];
};

struct de_snap_res {
	__u32 flags;     /* DE_SNAP_F_EXE, _NS, _RSS */
	__u32 pad;
	/* the leader's own counters plus those of threads that exited
	 * (signal_struct); live threads come as de_snap_thread records */
	__u64 utime, stime, sum_exec_runtime;
	__u64 prev_utime, prev_stime; /* signal->prev_cputime, for cputime_adjust */
	__u64 min_flt, maj_flt;
	struct de_snap_io io;
	__u64 total_vm, rss_pages;
	__u64 ns[DE_SNAP_NS];
	struct de_bpf_exe_id exe; /* DE_SNAP_F_EXE */
};

struct de_snap_proc {
	struct de_snap_ids ids;
	struct de_snap_res res;
};

#endif
