/* bpfsnap.h: a process snapshot from a BPF task iterator (src/bpf).
 *
 * One read of an iterator fd returns a record per process with what the
 * kernel knows directly: identity, parent, session, state, credentials,
 * capabilities, audit ids, times, faults, I/O counters, sizes,
 * namespaces, the executable's inode identity and argv (copied from the
 * process's memory by a sleepable program). That replaces ~10 procfs
 * reads per process with a few hundred bytes of one sequential read.
 * What the kernel only has as objects to walk (exe/cwd/root paths, the
 * cgroup path, the fd count, environment) is left to proc.h:
 * de_proc_complete() reads just those groups.
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
 *  - a kernel worker's comm is the task's 16-byte comm, without the
 *    "-workqueue" suffix /proc adds.
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
 * Returns 0 and *out, or a negative errno with a one-line reason in why. */
int de_bpfsnap_open(uint32_t argv_max_bytes, struct de_bpfsnap_prog **out, char *why,
		    size_t why_len);
/* One snapshot of every process with a loaded program. */
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

/* Processes in the snapshot, in pid order. */
size_t de_bpfsnap_count(const struct de_bpfsnap *s);
int32_t de_bpfsnap_pid(const struct de_bpfsnap *s, size_t i);

/* Fill p from process i (p is reset first). Returns the mask of field groups
 * filled (DE_PF_BIT), their err[] set; the other groups are for
 * de_proc_complete(). 0 means "p->pid only: read it all from /proc" (pid 1
 * when the kernel's iterator left it out, seen on 6.18). Strings point into the snapshot. Thread-safe for
 * distinct p (the snapshot is only read). */
unsigned de_bpfsnap_fill(const struct de_bpfsnap *s, size_t i, struct de_proc *p);

/* Bytes read from the iterator; time to load and verify the program (only
 * for de_bpfsnap_take(), else 0) and time the iterator read itself took
 * (ns). */
size_t de_bpfsnap_bytes(const struct de_bpfsnap *s);
uint64_t de_bpfsnap_load_ns(const struct de_bpfsnap *s);
uint64_t de_bpfsnap_read_ns(const struct de_bpfsnap *s);

void de_bpfsnap_free(struct de_bpfsnap *s);

#endif
