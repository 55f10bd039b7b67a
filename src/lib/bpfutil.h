/* bpfutil.h: what every libbpf user in DaemonEye shares (the task-iterator
 * snapshot, the exec/fork/exit event source): libbpf's messages kept quiet
 * unless DE_BPF_DEBUG is set, and one way to say why a BPF step failed.
 * Only built with BPF support (DE_HAVE_BPF). */
#ifndef DE_BPFUTIL_H
#define DE_BPFUTIL_H

#include <stddef.h>

struct de_bpf_exe_id;
struct de_file_id;

/* Route libbpf's messages to stderr only when DE_BPF_DEBUG is set (the
 * verifier's log, for example); otherwise they are noise for a user, and
 * the failure is reported from the error code. */
void de_bpf_quiet_libbpf(void);

/* "WHAT: strerror(err) (hint)" into why, the hint naming the likely cause:
 * not root, the verifier (and how to see its log), BPF not permitted, or
 * a kernel lacking BTF or `feature` (e.g. "task iterators"). */
void de_bpf_why(char *why, size_t len, const char *what, int err, const char *feature);

/* Give back the pages of a BPF object embedded in the binary (a
 * skeleton's ELF bytes, NAME__elf_bytes()) once it is loaded: libbpf has
 * parsed them and nothing reads them again. They are clean pages of the
 * executable file (which cannot change while it runs), so a later read
 * would fault the same bytes back in. Only whole pages inside [p, p + n)
 * are released: ~170 KB of procmond's RSS for its two objects. */
void de_bpf_release_elf(const void *p, size_t n);

/* An executable's identity as a BPF program recorded it (src/bpf/exe_id.h)
 * in the form stat() gives and the hash cache keys on (exehash.h): the
 * device number re-encoded, the times in nanoseconds (computed unsigned,
 * as de_file_id_from_stat() does, so a forged far-future time wraps). */
void de_bpf_file_id(const struct de_bpf_exe_id *x, struct de_file_id *id);

#endif
