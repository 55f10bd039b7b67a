/* events.h: the records events.bpf.c writes to its BPF ring buffer and
 * src_ebpf.c reads, shared by both sides.
 *
 * One record per event: struct de_bpf_ev, then filename_len bytes of the
 * path given to execve (exec only, NUL not included), then argv_len bytes
 * of argv (exec only, NUL-separated as in the process's memory). Integers
 * are native-endian; pids are the kernel's global (init namespace) values;
 * times are CLOCK_BOOTTIME nanoseconds (start_boottime, bpf_ktime_get_boot_ns);
 * exe is the executed file's identity (exe_id.h).
 *
 * Drops: a record the ring buffer had no room for is counted in the
 * per-CPU array `drops` at index DE_BPF_EV_* and the global `drop_gen`
 * (.bss) is bumped, so user space only reads the per-CPU counters when
 * something was lost.
 */
#ifndef DE_BPF_EVENTS_H
#define DE_BPF_EVENTS_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#include "exe_id.h"

#define DE_BPF_ARGV_MAX 32768   /* hard cap of argv bytes per exec (power of two) */
#define DE_BPF_FILENAME_MAX 4096 /* PATH_MAX (power of two) */
#define DE_BPF_RINGBUF_DEFAULT (8u << 20)

enum de_bpf_ev_type { DE_BPF_EV_EXEC = 1, DE_BPF_EV_FORK, DE_BPF_EV_EXIT, DE_BPF_EV__COUNT };

/* flags */
#define DE_BPF_F_ARGV_TRUNC 0x1   /* argv longer than the cap: argv holds the first bytes */
#define DE_BPF_F_ARGV_FAULT 0x2   /* argv could not be read (page not resident): argv_len 0 */
#define DE_BPF_F_FN_TRUNC 0x4     /* filename longer than DE_BPF_FILENAME_MAX - 1 */
#define DE_BPF_F_EXE 0x8          /* exe valid */
#define DE_BPF_F_AUDIT 0x10       /* loginuid, sessionid valid */
#define DE_BPF_F_PARENT 0x20      /* ppid, parent_start_boottime valid */

struct de_bpf_ev {
	__u16 type;        /* DE_BPF_EV_* */
	__u16 flags;       /* DE_BPF_F_* */
	__s32 pid;         /* tgid (fork: the child's) */
	__s32 tid;         /* exec: the thread that called execve (old_pid); exit: the last thread */
	__s32 ppid;
	__u64 time_ns;     /* CLOCK_BOOTTIME */
	__u64 start_boottime;        /* of the process (thread group leader) */
	__u64 parent_start_boottime; /* of the parent's thread group leader */
	__u64 cgroup_id;
	struct de_bpf_exe_id exe;    /* exec: the file execve opened */
	__u32 uid[4], gid[4];        /* real, effective, saved, fs */
	__u32 loginuid, sessionid;
	__s32 exit_status;           /* exit: as waitpid() would report it */
	__u32 filename_len;
	__u32 argv_len;
	__u32 argv_full_len;         /* arg_end - arg_start, before the cap */
	char comm[16];
};

#endif
