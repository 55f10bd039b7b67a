/* proc.h: the process model and the /proc collector.
 *
 * struct de_proc is everything DaemonEye knows about one process instance.
 * It is filled from the files of /proc/<pid>/, each read through one
 * directory fd opened once per process: if the process exits (or its pid is
 * reused) mid-read, later reads through that fd fail with ESRCH instead of
 * silently describing another process, and the record is marked `partial`.
 *
 * Fields are grouped by the file they come from (enum de_pf). When a file
 * cannot be read, its fields are unknown: err[group] holds the negative
 * errno (EACCES, ESRCH, ENOENT, ...) and output shows null plus the reason,
 * never a made-up value. Groups that do not apply (a kernel thread has no
 * exe) or were not asked for (environment, hashes) are marked so too.
 *
 * Identity: the entity id is BLAKE3(boot_id || pid || start_ticks) cut to
 * 128 bits, where start_ticks is the start time since boot in clock ticks as
 * /proc/<pid>/stat reports it (the kernel's start_boottime / 10 ms), so the
 * eBPF collector can compute the same id from task->start_boottime. Pid
 * reuse gives a different start time and so a different id.
 *
 * Strings in a struct de_proc point into the reader's buffers and stay
 * valid until the next de_proc_read() on the same reader.
 */
#ifndef DE_PROC_H
#define DE_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "exehash.h"
#include "hash.h"
#include "procparse.h"

enum de_pf {
	DE_PF_STAT,      /* ppid pgid sid tty state comm times faults vsize rss start */
	DE_PF_STATUS,    /* uids gids groups capabilities seccomp no_new_privs threads */
	DE_PF_CMDLINE,   /* argv */
	DE_PF_EXE,       /* exe path, deleted/memfd flags */
	DE_PF_EXE_FILE,  /* exe dev inode size mtime ctime */
	DE_PF_CWD,
	DE_PF_ROOT,
	DE_PF_IO,
	DE_PF_FD,        /* open fd count */
	DE_PF_NS,        /* namespace inodes */
	DE_PF_CGROUP,    /* cgroup path, container id */
	DE_PF_LOGINUID,
	DE_PF_SESSIONID,
	DE_PF_ENVIRON,
	DE_PF_HASH,
	DE_PF__COUNT
};

#define DE_PF_BIT(g) (1u << (g))

/* err[] values besides 0 (read fine) and negative errnos. */
#define DE_PF_NOT_REQUESTED 1
#define DE_PF_NOT_APPLICABLE 2

const char *de_pf_name(enum de_pf f);

enum de_ns {
	DE_NS_PID, DE_NS_MNT, DE_NS_NET, DE_NS_USER, DE_NS_UTS, DE_NS_IPC, DE_NS_CGROUP,
	DE_NS__COUNT
};
const char *de_ns_name(enum de_ns n);

#define DE_ENTITY_ID_LEN 16
#define DE_ENTITY_HEX_LEN (2 * DE_ENTITY_ID_LEN + 1)
#define DE_AUDIT_UNSET 4294967295u /* loginuid / sessionid never set */
#define DE_PROC_MAX_GROUPS 256

struct de_proc {
	int32_t pid, ppid, pgid, sid, tty_nr;
	char state;
	char comm[DE_COMM_MAX];
	bool kthread;
	bool partial; /* the process exited while being read */
	uint8_t entity_id[DE_ENTITY_ID_LEN];

	uint64_t start_ticks;   /* since boot, clock ticks */
	int64_t start_time_ns;  /* UTC, ns since the epoch */
	int64_t nice, priority, threads;
	uint64_t utime_ns, stime_ns, vsize, rss_bytes, minflt, majflt;

	uint32_t uid[4], gid[4]; /* DE_ID_REAL, _EFFECTIVE, _SAVED, _FS */
	uint32_t groups[DE_PROC_MAX_GROUPS];
	uint32_t ngroups;        /* may exceed DE_PROC_MAX_GROUPS: groups_truncated */
	bool groups_truncated;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	int32_t seccomp;         /* 0 disabled, 1 strict, 2 filter */
	bool no_new_privs;
	const char *user;        /* name of the real uid, NULL when none */

	uint32_t loginuid, sessionid;
	struct de_io io;
	uint32_t fd_count;
	uint64_t ns[DE_NS__COUNT];

	const char *cgroup;
	const char *container_id;      /* NULL when not in a container */
	const char *container_runtime;

	const char *exe;
	bool exe_deleted, exe_memfd;
	struct de_file_id exe_file;
	const char *cwd, *root;

	const char *argv;   /* NUL-separated, argv_len bytes */
	size_t argv_len;
	uint32_t argc;
	bool argv_truncated;

	const char *env;    /* NUL-separated NAME=VALUE, secrets redacted */
	size_t env_len;
	uint32_t envc;
	bool env_truncated;

	struct de_hashes hashes;
	bool hash_cached;

	int err[DE_PF__COUNT];
};

struct de_proc_opts {
	const char *proc_root;     /* "/proc" unless testing */
	uint32_t argv_max_bytes;
	bool capture_env;
	uint32_t env_max_bytes;
	const char (*redact_env)[DE_CONFIG_PATTERN_MAX];
	unsigned n_redact_env;
	unsigned hash_algos;        /* 0: do not hash */
	struct de_exehash_cache *hash_cache; /* required when hash_algos != 0 */
	bool skip_users;            /* leave user NULL (no NSS lookups) */
	/* Which field groups to read: a mask of DE_PF_BIT(group); 0 means all.
	 * Unread groups are marked DE_PF_NOT_REQUESTED. stat is always read
	 * (it carries the identity); environ needs capture_env and hash needs
	 * hash_algos in any case. */
	unsigned groups;
	/* Fault injection for tests: called after the named group was read
	 * (DE_PF_STAT, DE_PF_STATUS), e.g. to make the process exit mid-read.
	 * NULL in production. */
	void (*fault_hook)(int32_t pid, enum de_pf done, void *ud);
	void *fault_hook_ud;
};

/* Options from the configuration (hashing off). */
void de_proc_opts_from_config(struct de_proc_opts *o, const struct de_config *cfg);

struct de_proc_reader;

/* Returns NULL and sets errno (ENOMEM, or the error reading proc_root). */
struct de_proc_reader *de_proc_reader_new(const struct de_proc_opts *o);
void de_proc_reader_free(struct de_proc_reader *r);

/* Read one process (procscan.h reads them all). Returns 0 (possibly partial), -ESRCH when the process
 * does not exist (or exited before anything was read), or another negative
 * errno when /proc/<pid> itself cannot be opened. */
int de_proc_read(struct de_proc_reader *r, int32_t pid, struct de_proc *out);

/* Complete a process that another source (the BPF iterator, bpfsnap.h)
 * has partly filled: p holds pid, start_ticks, kthread and every group in
 * `have` (their err[] set). Computes the entity id, start time and user
 * name, and reads the groups the reader's options ask for that are not in
 * `have` from /proc (stat is never re-read). If /proc/<pid> is gone by
 * then, those groups get -ESRCH and p is marked partial. Note: a pid
 * reused between the snapshot and this call would mix two processes; the
 * window is the few milliseconds of one `ps`. Returns 0. */
int de_proc_complete(struct de_proc_reader *r, struct de_proc *p, unsigned have);

/* The entity id, as computed for a (boot id, pid, start ticks) triple. */
void de_entity_id(const uint8_t boot_id[16], int32_t pid, uint64_t start_ticks,
		  uint8_t out[DE_ENTITY_ID_LEN]);
void de_entity_hex(const uint8_t id[DE_ENTITY_ID_LEN], char hex[DE_ENTITY_HEX_LEN]);
/* The boot id the reader uses (from proc_root/sys/kernel/random/boot_id). */
const uint8_t *de_proc_reader_boot_id(const struct de_proc_reader *r);

/* "pts/3", "tty1", "ttyS0", or "?" / "" for none, from a tty_nr. */
void de_tty_name(int32_t tty_nr, char *out, size_t cap);

#endif
