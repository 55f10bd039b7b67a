/* bpfsnap.h: a process snapshot from a BPF task iterator (src/bpf).
 *
 * One read of an iterator fd returns a record per process with what the
 * kernel knows: identity, parent, session, state, credentials,
 * capabilities, audit ids, times, faults, I/O counters, sizes,
 * namespaces, the executable's inode identity, argv (copied from the
 * process's memory by a sleepable program), and what the kernel has only
 * as objects to walk: the exe, cwd and root paths (dentries and mounts
 * walked as d_path() does, for this reader's root), the cgroup v2 path
 * (kernfs nodes) and the open fd count. That replaces ~15 procfs objects
 * per process with a few hundred bytes of one sequential read; /proc is
 * then read (de_proc_complete()) only for environment and hashes when
 * asked, and for a field the iterator flagged (path too deep or too long
 * for the walk, a synthetic name it does not know, cgroup v1 only).
 *
 * Differences from /proc, by design (docs/ARCHITECTURE.md):
 *  - ids are global (init pid namespace), as /proc shows them to a reader
 *    in the init namespace;
 *  - utime/stime are nanoseconds adjusted like the kernel's
 *    cputime_adjust() from the same counters (not cut to clock ticks);
 *  - argv is capped at min(argv_max_bytes, DE_SNAP_ARGV_MAX); processes
 *    whose argv is longer than that (when the configured cap is larger),
 *    was rewritten by setproctitle(), or could not be copied, get argv from
 *    /proc instead (the returned mask leaves DE_PF_CMDLINE out);
 *  - kernel threads, and pid 1 when the kernel's iterator leaves it out
 *    (seen on 6.18), are read from /proc whole: /proc names kernel threads
 *    by their full name, which the iterator does not build.
 *
 * Needs root (CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN... in practice root),
 * BTF, and a build with BPF support (meson option `bpf`); every failure
 * says why in the caller's buffer.
 */
#ifndef DE_BPFSNAP_H
#define DE_BPFSNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proc.h"

struct de_bpfsnap;

/* Whether this build has BPF support at all. */
bool de_bpfsnap_built(void);

/* The loaded and attached iterator program: load it once (the verifier's
 * work, ~tens of ms), then take as many snapshots as needed (a collector's
 * startup snapshot and periodic resyncs). Not shared between threads while
 * a snapshot is being read. */
struct de_bpfsnap_prog;

/* Load and attach the program. argv_max_bytes is the configured argv cap.
 * Returns 0 and *out, or a negative errno with a one-line reason in why.
 *
 * DE_BPFSNAP_SHARED keeps the program loaded between processes: use the
 * one pinned at /sys/fs/bpf/daemoneye/snapshot-TAG-CAP when it is there
 * (TAG: BLAKE3 of this build's BPF object, CAP the argv cap; it must be an
 * iterator link to a program named de_snapshot), else load it and pin it
 * after the first read (removing pins of other builds). Loading and
 * verifying costs ~130 ms and the peak of libbpf parsing the kernel's BTF
 * (~10 MB); reusing costs a few syscalls. The pin lives until reboot or
 * `rm -r /sys/fs/bpf/daemoneye`; bpffs is root-only (0700), so are the
 * pins. Without bpffs or the right to write there nothing is pinned. A
 * pinned program does not probe its reader's fds: it uses the
 * simple_dname() address its first reader taught it (or, without one,
 * memfd and deleted-file exe paths come from /proc). */
#define DE_BPFSNAP_SHARED 0x1u
int de_bpfsnap_open(uint32_t argv_max_bytes, unsigned flags, struct de_bpfsnap_prog **out,
		    char *why, size_t why_len);
/* Whether de_bpfsnap_open() reused a pinned program. */
bool de_bpfsnap_prog_reused(const struct de_bpfsnap_prog *pr);
/* One snapshot of every process with a loaded program, read by one
 * thread per CPU (at most 4) at once: each registers its thread id in the
 * program's de_split map, and the readers claim chunks of 64 pids as they
 * reach them (a reader on a busier CPU takes fewer); the parts are merged
 * in pid order. */
int de_bpfsnap_read(struct de_bpfsnap_prog *pr, struct de_bpfsnap **out, char *why,
		    size_t why_len);
void de_bpfsnap_close(struct de_bpfsnap_prog *pr);
/* Time de_bpfsnap_open() took to load, verify and attach (ns). */
uint64_t de_bpfsnap_prog_load_ns(const struct de_bpfsnap_prog *pr);

/* Load the iterator and take one snapshot of every process. argv_max_bytes
 * is the configured argv cap. Returns 0 and *out, or a negative errno with a
 * one-line reason in why (e.g. "built without BPF support", "loading the
 * BPF program: Operation not permitted (needs root)"). */
int de_bpfsnap_take(uint32_t argv_max_bytes, struct de_bpfsnap **out, char *why, size_t why_len);

/* A snapshot from iterator output already read (len bytes of records as
 * snapshot.h describes them; copied): what de_bpfsnap_read() does after
 * its read. For the fuzz target and tests. Returns 0 and *out, or
 * -EPROTO for malformed records (or another negative errno). */
int de_bpfsnap_parse(const void *data, size_t len, uint32_t argv_max_bytes, bool cgroup_v2,
		     struct de_bpfsnap **out);

/* Processes in the snapshot, in pid order. */
size_t de_bpfsnap_count(const struct de_bpfsnap *s);
int32_t de_bpfsnap_pid(const struct de_bpfsnap *s, size_t i);

/* Fill p from process i (p is reset first). Returns the mask of field groups
 * filled (DE_PF_BIT), their err[] set; the other groups are for
 * de_proc_complete(). 0 means "read it all from /proc" (pid 1 when the
 * kernel's iterator left it out, seen on 6.18; kernel threads). Strings
 * point into the snapshot. Thread-safe for distinct p (the snapshot is
 * only read). */
unsigned de_bpfsnap_fill(const struct de_bpfsnap *s, size_t i, struct de_proc *p);

/* Bytes read from the iterator; time to load and verify the program (only
 * for de_bpfsnap_take(), else 0) and time the iterator read itself took
 * (ns). */
size_t de_bpfsnap_bytes(const struct de_bpfsnap *s);
uint64_t de_bpfsnap_load_ns(const struct de_bpfsnap *s);
uint64_t de_bpfsnap_read_ns(const struct de_bpfsnap *s);

void de_bpfsnap_free(struct de_bpfsnap *s);

#endif
