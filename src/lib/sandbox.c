/* sandbox.c: the seccomp allow-lists of the daemon roles (see sandbox.h).
 *
 * The procmond list is what the collector does after its drop: read
 * /proc and executables, consume the BPF ring buffer and re-run the task
 * iterator (bpf(2)), talk on its already-bound Unix and netlink sockets,
 * append and fsync its ledger files, run worker threads, and sleep in
 * epoll. Adding a syscall here is a security decision: say why in
 * docs/SECURITY.md.
 */
#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "macros.h"
#include "sandbox.h"

#ifndef CLONE_THREAD
#define CLONE_THREAD 0x00010000
#endif

static const char *const procmond_syscalls[] = {
	/* files and /proc */
	"read", "pread64", "readv", "write", "pwrite64", "writev", "lseek", "openat", "close",
	"fstat", "newfstatat", "statx", "getdents64", "readlinkat", "fcntl", "fsync",
	"fdatasync", "ftruncate", "fallocate", "renameat", "renameat2", "unlinkat", "mkdirat",
	"fchmod", "fchown", "access", "faccessat", "faccessat2", "dup", "dup3", "pipe2",
	"fadvise64", /* the hash worker reads executables once, sequentially */
	/* as mkdirat and fchown: reopening the audit ledger after an error
	 * (mkdir(2) of its directories, its files' group) */
	"mkdir", "fchownat",
	/* memory */
	"mmap", "munmap", "mremap", "mprotect", "madvise", "brk",
	/* the audit ledger: its writer lock, the signing key's locked memory */
	"flock", "mlock", "mlock2", "munlock",
	/* threads, time, signals */
	"futex", "set_robust_list", "get_robust_list", "rseq", "sched_yield",
	"sched_getaffinity", "gettid", "getpid", "getppid", "getuid", "geteuid", "getgid",
	"getegid", "getresuid", "getresgid", "getgroups", "clock_gettime", "clock_getres",
	"clock_nanosleep", "nanosleep", "gettimeofday", "rt_sigaction", "rt_sigprocmask",
	"rt_sigreturn", "sigaltstack", "tgkill", "restart_syscall", "exit", "exit_group",
	"prctl", "getrandom", "uname", "prlimit64", "getrusage", "capget", "times",
	/* event loop and IPC */
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll",
	"eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime", "signalfd4",
	"accept4", "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg", "sendmmsg",
	"shutdown", "getsockopt", "setsockopt", "getsockname", "getpeername", "socketpair",
	/* BPF: map reads (drop counters), iterator fds for resync */
	"bpf",
};

static const struct {
	enum de_sandbox_role role;
	const char *const *names;
	size_t n;
} roles[] = {
	{ DE_SANDBOX_PROCMOND, procmond_syscalls, DE_ARRAY_SIZE(procmond_syscalls) },
};

size_t de_sandbox_allowed_count(enum de_sandbox_role role)
{
	for (size_t i = 0; i < DE_ARRAY_SIZE(roles); i++)
		if (roles[i].role == role)
			return roles[i].n;
	return 0;
}

/* SIGSYS handler: an async-signal-safe line naming the denied syscall by
 * number (`ausyscall N` names it), then death by SIGSYS. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	char msg[96];
	size_t n = 0;
	for (const char *p = "daemoneye: seccomp: denied syscall "; *p; p++)
		msg[n++] = *p;
	char num[12];
	int k = 0;
	unsigned v = si->si_syscall < 0 ? 0u : (unsigned)si->si_syscall;
	do {
		num[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && k < (int)sizeof(num));
	while (k)
		msg[n++] = num[--k];
	for (const char *p = "; exiting\n"; *p; p++)
		msg[n++] = *p;
	ssize_t w = write(STDERR_FILENO, msg, n);
	(void)w;
	raise(sig); /* SA_RESETHAND | SA_NODEFER: the default action, now */
	_exit(128 + sig);
}

int de_sandbox_install(enum de_sandbox_role role, char *why, size_t why_len)
{
	const char *const *names = NULL;
	size_t n = 0;
	for (size_t i = 0; i < DE_ARRAY_SIZE(roles); i++)
		if (roles[i].role == role) {
			names = roles[i].names;
			n = roles[i].n;
		}
	if (!names) {
		de_why(why, why_len, "no seccomp profile for role %d", (int)role);
		return -EINVAL;
	}

	struct sigaction sa = { .sa_sigaction = on_sigsys,
				.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		de_why(why, why_len, "installing the SIGSYS handler: %m");
		return de_neg_errno();
	}

	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx) {
		de_why(why, why_len, "seccomp_init failed");
		return -ENOMEM;
	}
	int rc = 0;
	const char *what = "";
	/* Audit-log denials where the kernel supports it (not fatal if not). */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0) {
		what = "TSYNC";
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture (e.g. access on arm64) */
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0) {
			what = names[i];
			goto out;
		}
	}
	/* socket(): local families only. */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				   SCMP_A0(SCMP_CMP_EQ, AF_UNIX))) < 0 ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				   SCMP_A0(SCMP_CMP_EQ, AF_NETLINK))) < 0) {
		what = "socket";
		goto out;
	}
	/* connect(): refused with EACCES, not fatal. procmond connects to
	 * nothing, but glibc's user and group lookups (getpwuid_r) try the
	 * nscd socket first, again every 100 lookups after a failure; an
	 * error makes them read /etc/passwd and /etc/group as they would
	 * without nscd. */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(connect), 0)) < 0) {
		what = "connect";
		goto out;
	}
	/* clone(): threads only (pthread_create); clone3's flags live in
	 * memory a filter cannot read, so it gets ENOSYS and glibc uses clone. */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				   SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD))) < 0 ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) < 0) {
		what = "clone";
		goto out;
	}
	if ((rc = seccomp_load(ctx)) < 0)
		what = "loading the filter";
out:
	seccomp_release(ctx);
	if (rc < 0) {
		de_why(why, why_len, "seccomp: %s: %s", what, strerror(-rc));
		return rc;
	}
	return 0;
}
