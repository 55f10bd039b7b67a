/* test_privdrop.c: the privilege drop and the seccomp sandbox, checked the
 * way an auditor would: from /proc/PID/status of a child that did them,
 * and by making that child try what it must no longer be able to do.
 * Each case runs in a forked child (a drop cannot be undone). Needs root;
 * without it the cases that switch users are skipped with the reason. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "privdrop.h"
#include "sandbox.h"

#define KEEP (DE_CAP_BIT(CAP_SYS_PTRACE) | DE_CAP_BIT(CAP_DAC_READ_SEARCH))

/* Run fn in a child with stderr captured; return its wait status. */
static int in_child(void (*fn)(int report_fd), char *err, size_t errlen, char *report,
		    size_t replen)
{
	int ep[2], rp[2];
	assert_int_equal(pipe(ep), 0);
	assert_int_equal(pipe(rp), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ep[0]);
		close(rp[0]);
		dup2(ep[1], STDERR_FILENO);
		fn(rp[1]);
		_exit(0);
	}
	close(ep[1]);
	close(rp[1]);
	ssize_t n = read(ep[0], err, errlen - 1);
	err[n > 0 ? n : 0] = 0;
	n = read(rp[0], report, replen - 1);
	report[n > 0 ? n : 0] = 0;
	close(ep[0]);
	close(rp[0]);
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

/* A "Name:\tvalue" line of /proc/self/status. */
static void status_field(const char *name, char *out, size_t cap)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t nl = strlen(name);
	out[0] = 0;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (*v == '\t' || *v == ' ')
				v++;
			snprintf(out, cap, "%s", v);
			out[strcspn(out, "\n")] = 0;
		}
	if (f)
		fclose(f);
}

static void report_status(int fd)
{
	static const char *const fields[] = { "Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff",
					      "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp" };
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char v[128], line[200];
		status_field(fields[i], v, sizeof(v));
		int n = snprintf(line, sizeof(line), "%s=%s\n", fields[i], v);
		if (write(fd, line, (size_t)n) != n)
			_exit(9);
	}
}

static void drop_or_die(void)
{
	struct de_privdrop_opts o = { .user = "de-no-such-user", .fallback_user = "nobody",
				      .keep_caps = KEEP };
	struct de_privdrop_result r;
	char why[256];
	if (de_privdrop(&o, &r, why, sizeof(why)) < 0) {
		fprintf(stderr, "drop failed: %s\n", why);
		_exit(3);
	}
	if (!r.fell_back || strcmp(r.user, "nobody") != 0 || r.uid != 65534 || r.caps != KEEP) {
		fprintf(stderr, "unexpected result: user %s uid %u caps %llx\n", r.user,
			(unsigned)r.uid, (unsigned long long)r.caps);
		_exit(4);
	}
}

static pid_t root_sleeper; /* a root process other than pid 1 (which may be unreadable) */

static void child_drop(int fd)
{
	drop_or_die();
	report_status(fd);
	/* What the drop must have taken away. */
	if (setuid(0) == 0 || open("/etc/shadow", O_RDWR) >= 0)
		_exit(5);
	/* What it must have kept: reading another user's /proc (ptrace caps). */
	char buf[64], path[64];
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)root_sleeper);
	if (readlink(path, buf, sizeof(buf)) < 0) {
		fprintf(stderr, "readlink %s: %m\n", path);
		_exit(6);
	}
}

static bool need_root(void)
{
	if (geteuid() != 0) {
		print_message("skipped: switching users needs root\n");
		return false;
	}
	return true;
}

#define ASSERT_FIELD(rep, want)                                                 \
	do {                                                                        \
		if (!strstr(rep, want))                                             \
			fail_msg("status lacks '%s':\n%s", want, rep);             \
	} while (0)

static void test_drop(void **state)
{
	(void)state;
	if (!need_root())
		skip();
	root_sleeper = fork();
	assert_true(root_sleeper >= 0);
	if (root_sleeper == 0) {
		pause();
		_exit(0);
	}
	char err[512], rep[1024];
	int st = in_child(child_drop, err, sizeof(err), rep, sizeof(rep));
	kill(root_sleeper, SIGKILL);
	waitpid(root_sleeper, NULL, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("child status %d: %s", st, err);
	ASSERT_FIELD(rep, "Uid=65534\t65534\t65534\t65534");
	ASSERT_FIELD(rep, "Gid=65534\t65534\t65534\t65534");
	ASSERT_FIELD(rep, "Groups=65534");
	ASSERT_FIELD(rep, "CapInh=0000000000000000");
	ASSERT_FIELD(rep, "CapPrm=0000000000080004");
	ASSERT_FIELD(rep, "CapEff=0000000000080004");
	ASSERT_FIELD(rep, "CapBnd=0000000000080004");
	ASSERT_FIELD(rep, "CapAmb=0000000000000000");
	ASSERT_FIELD(rep, "NoNewPrivs=1");
	ASSERT_FIELD(rep, "Seccomp=0");
}

static void *thread_reads_proc(void *arg)
{
	(void)arg;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	char b[512];
	ssize_t n = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
	if (fd >= 0)
		close(fd);
	return (void *)(intptr_t)(n > 0);
}

static void sandboxed(void)
{
	drop_or_die();
	char why[256];
	if (de_sandbox_install(DE_SANDBOX_PROCMOND, why, sizeof(why)) < 0) {
		fprintf(stderr, "sandbox: %s\n", why);
		_exit(7);
	}
}

static void child_sandbox_allows_work(int fd)
{
	sandboxed();
	report_status(fd);
	/* Threads, /proc reads, a Unix socket pair: procmond's daily work. */
	pthread_t t;
	void *ok = NULL;
	if (pthread_create(&t, NULL, thread_reads_proc, NULL) != 0 || pthread_join(t, &ok) != 0 ||
	    !ok)
		_exit(10);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		_exit(11);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		_exit(12);
	/* connect() fails (EACCES) without killing: glibc's nscd probe in
	 * user-name lookups, many of them (it retries every 100) */
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/run/nscd/socket" };
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno != EACCES)
		_exit(14);
	close(s);
	for (unsigned uid = 0; uid < 300; uid++)
		(void)getpwuid(uid + 100000);
	if (!getpwuid(0))
		_exit(15);
	void *p = malloc(64 << 20); /* mmap-backed */
	if (!p)
		_exit(13);
	memset(p, 1, 64 << 20);
	free(p);
}

static void test_sandbox_allows_work(void **state)
{
	(void)state;
	if (!need_root())
		skip();
	char err[512], rep[1024];
	int st = in_child(child_sandbox_allows_work, err, sizeof(err), rep, sizeof(rep));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("child status 0x%x: %s", st, err);
	ASSERT_FIELD(rep, "Seccomp=2");
	ASSERT_FIELD(rep, "NoNewPrivs=1");
}

static void child_inet_socket(int fd)
{
	(void)fd;
	sandboxed();
	socket(AF_INET, SOCK_STREAM, 0);
	_exit(20); /* must not get here */
}

static void child_fork(int fd)
{
	(void)fd;
	sandboxed();
	fork();
	_exit(21);
}

static void child_exec(int fd)
{
	(void)fd;
	sandboxed();
	char *argv[] = { (char *)"/bin/true", NULL };
	execv("/bin/true", argv);
	_exit(22);
}

static void child_ptrace(int fd)
{
	(void)fd;
	sandboxed();
	syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0);
	_exit(23);
}

/* Each forbidden call kills the child with SIGSYS and names the syscall. */
static void test_sandbox_denies(void **state)
{
	(void)state;
	if (!need_root())
		skip();
	static const struct {
		void (*fn)(int);
		long nr;
	} cases[] = {
		{ child_inet_socket, SYS_socket },
		{ child_fork, SYS_clone },
		{ child_exec, SYS_execve },
		{ child_ptrace, SYS_ptrace },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[512], rep[64], want[80];
		int st = in_child(cases[i].fn, err, sizeof(err), rep, sizeof(rep));
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
			fail_msg("case %zu: child status 0x%x, not SIGSYS: %s", i, st, err);
		snprintf(want, sizeof(want), "daemoneye: seccomp: denied syscall %ld; exiting",
			 cases[i].nr);
		if (!strstr(err, want))
			fail_msg("case %zu: stderr '%s' lacks '%s'", i, err, want);
	}
}

static void test_caps_format(void **state)
{
	(void)state;
	struct de_buf b = { 0 };
	assert_int_equal(de_caps_format(KEEP, &b), 0);
	assert_string_equal(de_buf_str(&b), "cap_dac_read_search,cap_sys_ptrace");
	de_buf_reset(&b);
	assert_int_equal(de_caps_format(0, &b), 0);
	assert_string_equal(de_buf_str(&b), "none");
	de_buf_reset(&b);
	assert_int_equal(de_caps_format(DE_CAP_BIT(CAP_BPF) | DE_CAP_BIT(50), &b), 0);
	assert_string_equal(de_buf_str(&b), "cap_bpf,cap_50");
	de_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps_format),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_sandbox_allows_work),
		cmocka_unit_test(test_sandbox_denies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
