/* procparse.h: parsers for the text files of /proc/<pid>/.
 *
 * Pure functions over a byte buffer: no I/O, no allocation, no global
 * state, so they can be unit-tested on fixture files and fuzzed. Every
 * input is treated as hostile: comm may contain ')' , spaces, newlines and
 * invalid UTF-8; files may be truncated (the process exited mid-read) or
 * contain fields we do not know. A parser returns 0 when every field it
 * promises was found and valid, -EINVAL (with the fields found so far
 * filled in and the rest zero) otherwise.
 */
#ifndef DE_PROCPARSE_H
#define DE_PROCPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DE_COMM_MAX 64 /* kernel TASK_COMM_LEN is 16; room for growth */

/* /proc/<pid>/stat (see proc(5)). */
struct de_stat {
	int32_t pid;
	char comm[DE_COMM_MAX]; /* raw bytes, NUL-terminated (NUL inside is impossible) */
	char state;
	int32_t ppid, pgid, sid;
	int32_t tty_nr;
	uint32_t flags;
	uint64_t minflt, majflt;
	uint64_t utime, stime; /* clock ticks */
	int64_t priority, nice;
	int64_t num_threads;
	uint64_t starttime; /* clock ticks since boot */
	uint64_t vsize;     /* bytes */
	int64_t rss;        /* pages */
};
int de_parse_stat(const char *buf, size_t n, struct de_stat *out);

#define DE_ID_REAL 0
#define DE_ID_EFFECTIVE 1
#define DE_ID_SAVED 2
#define DE_ID_FS 3

/* /proc/<pid>/status: the fields not in stat. */
struct de_status {
	uint32_t uid[4], gid[4];
	uint32_t *groups;   /* caller-provided array ... */
	uint32_t groups_cap; /* ... of this many entries */
	uint32_t ngroups;   /* groups found (may exceed groups_cap: then truncated) */
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	int32_t seccomp;    /* 0 disabled, 1 strict, 2 filter; -1 when absent */
	int32_t no_new_privs; /* 0/1; -1 when absent */
	int64_t threads;
	bool kthread;       /* "Kthread: 1" (6.x kernels) */
	unsigned found;     /* bitmask of DE_STATUS_HAVE_* */
};
enum {
	DE_STATUS_HAVE_UID = 1u << 0,
	DE_STATUS_HAVE_GID = 1u << 1,
	DE_STATUS_HAVE_GROUPS = 1u << 2,
	DE_STATUS_HAVE_CAPS = 1u << 3,
	DE_STATUS_HAVE_SECCOMP = 1u << 4,
	DE_STATUS_HAVE_NNP = 1u << 5,
	DE_STATUS_HAVE_THREADS = 1u << 6,
};
int de_parse_status(const char *buf, size_t n, struct de_status *out);

/* /proc/<pid>/io. */
struct de_io {
	uint64_t rchar, wchar, syscr, syscw, read_bytes, write_bytes, cancelled_write_bytes;
};
int de_parse_io(const char *buf, size_t n, struct de_io *out);

/* A decimal unsigned number file (loginuid, sessionid), optionally ending
 * in a newline. */
int de_parse_u64_file(const char *buf, size_t n, uint64_t *out);

/* /proc/<pid>/cgroup: the unified (v2) path ("0::/x"), else the first v1
 * line's path. Writes a NUL-terminated path into out (truncated to cap-1).
 * Returns the path length, or -EINVAL when no line has a path. */
ssize_t de_parse_cgroup(const char *buf, size_t n, char *out, size_t cap);

/* Container id from a cgroup path: docker, containerd (incl. Kubernetes
 * cri-containerd), cri-o and podman/libpod naming. Writes the 64-hex id (or
 * the shorter id some runtimes use, 12..64 hex) into id[65] and the runtime
 * name into *runtime. Returns 1 when found, 0 when the path names no
 * container. */
int de_container_id(const char *path, char id[65], const char **runtime);

/* Classify a /proc/<pid>/exe link target: strips a trailing " (deleted)"
 * (setting *deleted) and recognises "/memfd:NAME" (setting *memfd).
 * Modifies path in place; returns its new length. */
size_t de_exe_classify(char *path, size_t len, bool *deleted, bool *memfd);

/* de_exe_classify(), believing the " (deleted)" suffix only when the file
 * has no links left (nlink, when known: have_nlink): the kernel appends it
 * to unlinked files, but a file can also be named so (memfds always look
 * deleted). Returns the length kept. */
size_t de_exe_classify_links(char *path, size_t len, bool have_nlink, uint64_t nlink,
			     bool *deleted, bool *memfd);

/* Count the arguments of a NUL-separated /proc/<pid>/cmdline buffer (a
 * missing final NUL still counts the last argument). */
uint32_t de_cmdline_argc(const char *buf, size_t n);

/* Match an environment variable name against case-insensitive glob
 * patterns. */
bool de_env_name_matches(const char *name, size_t name_len, const char (*patterns)[64],
			 unsigned n_patterns);

#endif
