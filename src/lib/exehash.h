/* exehash.h: hash a process's executable once per binary.
 *
 * The executable is opened through /proc/<pid>/exe, which works for deleted
 * and memfd binaries and cannot be swapped by a path race. It must be a
 * regular file no larger than the configured limit; its identity (dev,
 * inode, size, mtime, ctime) is taken with fstat before and after the read,
 * and a change between the two fails with -EAGAIN ("changed while being
 * read") instead of caching a hash of a file that no longer exists in that
 * form. Results are cached by that identity in a bounded table (least
 * recently used entries are evicted), so each binary is hashed once.
 */
#ifndef DE_EXEHASH_H
#define DE_EXEHASH_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hash.h"

struct de_file_id {
	uint64_t dev;
	uint64_t ino;
	uint64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
};

struct stat;
struct de_exehash_cache;

/* The identity of a file as the cache keys it. */
void de_file_id_from_stat(const struct stat *st, struct de_file_id *id);
bool de_file_id_equal(const struct de_file_id *a, const struct de_file_id *b);

/* A cache of at most `entries` hashes (0: no caching, every call reads),
 * refusing files over max_file_bytes (0: no limit). Memory for the entries
 * is reserved up front but only touched as entries are used. Returns NULL
 * with errno set (ENOMEM, EINVAL above DE_EXEHASH_MAX_ENTRIES). */
#define DE_EXEHASH_MAX_ENTRIES (1u << 22)
struct de_exehash_cache *de_exehash_cache_new(uint32_t entries, uint64_t max_file_bytes);
void de_exehash_cache_free(struct de_exehash_cache *c);

/* Hash the executable of `pid` with `algos` (DE_HASH_*), through the cache.
 * `proc_root` is normally "/proc" (tests may pass another tree). On success
 * returns 0, fills *id and *out, and sets *cached when no read was needed.
 * Errors: -EACCES/-EPERM (no permission), -ENOENT/-ESRCH (process gone or
 * kernel thread), -EFTYPE is not Linux so -EINVAL (not a regular file),
 * -EFBIG (over the size limit), -EAGAIN (changed during the read). */
int de_exehash_pid(struct de_exehash_cache *c, const char *proc_root, pid_t pid, unsigned algos,
		   struct de_file_id *id, struct de_hashes *out, bool *cached);

/* "<proc_root>/<pid>/exe" (proc_root NULL: "/proc") into path. Returns 0,
 * -EINVAL for pid <= 0, -ENAMETOOLONG. */
int de_exe_link_path(const char *proc_root, pid_t pid, char path[PATH_MAX]);

/* Open the executable of `pid` the way de_exehash_pid does (through
 * <proc_root>/<pid>/exe, read-only, close-on-exec). Returns the fd or a
 * negative errno (the errors above). For callers that also want the path
 * of exactly the opened file (readlink of /proc/self/fd/<fd>). */
int de_exehash_open_pid(const char *proc_root, pid_t pid);

/* Same for an already-open file descriptor (`daemoneye hash`, tests): the
 * whole file is read with pread(2) from offset 0, the fd's offset is not
 * used or moved. `id` and `cached` may be NULL. On a hit or after a merge,
 * out->algos may hold more algorithms than asked for. */
int de_exehash_fd(struct de_exehash_cache *c, int fd, unsigned algos, struct de_file_id *id,
		  struct de_hashes *out, bool *cached);

/* Fault injection for tests (the SQLite way): when set, `fn` runs after
 * the file has been read and before it is checked again, so a test can
 * change the file at exactly that point. NULL removes the hook. */
void de_exehash_set_after_read_hook(struct de_exehash_cache *c, void (*fn)(int fd, void *ud),
				    void *ud);

/* Counters for status output and tests: hits and misses count lookups,
 * errors every failed call (including processes that are gone), entries
 * the hashes cached now. */
struct de_exehash_stats {
	uint64_t hits, misses, evictions, errors;
	uint32_t entries;
};
void de_exehash_stats(const struct de_exehash_cache *c, struct de_exehash_stats *st);

#endif
