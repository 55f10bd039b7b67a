/* sandbox.h: a seccomp allow-list for a daemon role, installed after the
 * privilege drop (privdrop.h) and before any untrusted data is parsed.
 *
 * Built with libseccomp. Everything not on the role's list is denied with
 * SECCOMP_RET_TRAP: the kernel refuses the call and raises SIGSYS, whose
 * handler writes one line naming the syscall to stderr ("daemoneye:
 * seccomp: denied syscall 41; exiting") and the process dies of SIGSYS, so the
 * supervisor and the journal both see why. The kernel's seccomp audit
 * logging is requested too (SCMP_FLTATR_CTL_LOG) where the kernel has it.
 *
 * Beyond the plain list, arguments are checked where a call is only half
 * safe: socket() only for AF_UNIX and AF_NETLINK (no network), clone()
 * only with CLONE_THREAD (threads, no new processes), clone3() answered
 * with ENOSYS so glibc falls back to clone(); execve, ptrace, mount,
 * init_module and the like are not on any list. Requires no_new_privs
 * (privdrop sets it) or CAP_SYS_ADMIN.
 */
#ifndef DE_SANDBOX_H
#define DE_SANDBOX_H

#include <stddef.h>

enum de_sandbox_role {
	DE_SANDBOX_PROCMOND = 1, /* collector: /proc, BPF ring buffer and iterator, IPC, ledger files */
};

/* Install the filter for `role` on the calling thread and every thread it
 * creates afterwards (SECCOMP_FILTER_FLAG_TSYNC syncs existing threads).
 * Returns 0 or a negative errno with the reason in why. */
int de_sandbox_install(enum de_sandbox_role role, char *why, size_t why_len);

/* Number of syscalls on the role's allow-list (docs, tests). */
size_t de_sandbox_allowed_count(enum de_sandbox_role role);

#endif
