/* test_proc.c: the /proc collector on live processes made to be hostile:
 * odd argv bytes, a 1 MB argv, deleted and memfd executables, names with
 * spaces and " (deleted)", a process that exits mid-read, unprivileged
 * reads of pid 1, kernel threads, environment redaction. Needs root for the
 * unprivileged-reader case (it drops to nobody in a child). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "procscan.h"

static struct de_proc_reader *reader(uint32_t argv_max, bool env)
{
	static const char pats[][DE_CONFIG_PATTERN_MAX] = { "*TOKEN*", "*PASSWORD*" };
	struct de_proc_opts o = {
		.proc_root = "/proc", .argv_max_bytes = argv_max, .capture_env = env,
		.env_max_bytes = 65536, .redact_env = pats, .n_redact_env = 2,
	};
	struct de_proc_reader *r = de_proc_reader_new(&o);
	assert_non_null(r);
	return r;
}

/* In a child: own process group (so reap() kills grandchildren too) and
 * stdio on /dev/null (so no grandchild holds the test's output open). */
static void quiet_child(void)
{
	setpgid(0, 0);
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

/* Start argv[0] (a path) with argv/envp; waits until it has exec'd
 * (its /proc/<pid>/exe no longer points at this test). */
static pid_t spawn(const char *path, const char *const argv[], const char *const envp[])
{
	char self[PATH_MAX];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(sl > 0);
	self[sl] = '\0';
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		quiet_child();
		execve(path, (char *const *)argv, (char *const *)envp);
		_exit(127);
	}
	char link[64], target[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	for (int i = 0; i < 500; i++) {
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (strcmp(target, self) != 0)
				break;
		}
		usleep(2000);
	}
	usleep(20000);
	return pid;
}

static void reap(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_self(void **state)
{
	(void)state;
	struct de_proc_reader *r = reader(65536, false);
	struct de_proc p, q;
	assert_int_equal(de_proc_read(r, getpid(), &p), 0);
	assert_int_equal(p.err[DE_PF_STAT], 0);
	assert_int_equal(p.err[DE_PF_STATUS], 0);
	assert_int_equal(p.ppid, getppid());
	assert_int_equal(p.uid[DE_ID_REAL], getuid());
	assert_int_equal(p.gid[DE_ID_EFFECTIVE], getegid());
	assert_string_equal(p.comm, "test_proc");
	assert_false(p.partial);
	assert_false(p.kthread);
	assert_true(p.argc >= 1);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n] = '\0';
	assert_string_equal(p.exe, exe);
	struct stat st;
	assert_int_equal(stat(exe, &st), 0);
	assert_int_equal(p.exe_file.ino, st.st_ino);
	assert_int_equal(p.exe_file.size, (uint64_t)st.st_size);
	assert_int_equal(stat("/proc/self/ns/net", &st), 0);
	assert_int_equal(p.ns[DE_NS_NET], st.st_ino);
	assert_true(p.fd_count >= 3);
	assert_true(p.threads >= 1);
	/* started within the last hour, not in the future */
	int64_t now = (int64_t)time(NULL) * 1000000000;
	assert_true(p.start_time_ns <= now + 1000000000LL);
	assert_true(p.start_time_ns > now - 3600LL * 1000000000);
	/* entity id: stable across reads, and depends on pid and start time */
	assert_int_equal(de_proc_read(r, getpid(), &q), 0);
	assert_memory_equal(p.entity_id, q.entity_id, DE_ENTITY_ID_LEN);
	uint8_t other[DE_ENTITY_ID_LEN];
	de_entity_id(de_proc_reader_boot_id(r), p.pid, p.start_ticks + 1, other);
	assert_memory_not_equal(p.entity_id, other, DE_ENTITY_ID_LEN);
	uint8_t boot2[16] = { 1 };
	de_entity_id(boot2, p.pid, p.start_ticks, other);
	assert_memory_not_equal(p.entity_id, other, DE_ENTITY_ID_LEN);
	de_proc_reader_free(r);
}

static void test_hostile_argv(void **state)
{
	(void)state;
	const char *const argv[] = { "sh", "-c", "sleep 30; :", "a\nb\tc", "\x1b]0;pwn\x07", "\xff\xfe",
			       "", "sp ace", NULL };
	const char *const envp[] = { "PATH=/usr/bin:/bin", "GITHUB_TOKEN=ghp_secret", "my_password=x",
			       "PLAIN=visible", NULL };
	pid_t pid = spawn("/bin/sh", argv, envp);
	struct de_proc_reader *r = reader(65536, true);
	struct de_proc p;
	assert_int_equal(de_proc_read(r, pid, &p), 0);
	assert_int_equal(p.err[DE_PF_CMDLINE], 0);
	assert_int_equal(p.argc, 8);
	const char *s = p.argv;
	for (int i = 0; i < 8; i++) {
		assert_string_equal(s, argv[i]);
		s += strlen(s) + 1;
	}
	assert_int_equal((size_t)(s - p.argv) - 1, p.argv_len);
	assert_false(p.argv_truncated);
	/* environment: secrets redacted, the rest kept */
	assert_int_equal(p.err[DE_PF_ENVIRON], 0);
	assert_int_equal(p.envc, 4);
	assert_non_null(memmem(p.env, p.env_len, "GITHUB_TOKEN=[REDACTED]", 23));
	assert_non_null(memmem(p.env, p.env_len, "my_password=[REDACTED]", 22));
	assert_non_null(memmem(p.env, p.env_len, "PLAIN=visible", 13));
	assert_null(memmem(p.env, p.env_len, "ghp_secret", 10));
	de_proc_reader_free(r);
	reap(pid);
}

static void test_huge_argv(void **state)
{
	(void)state;
	/* 10 arguments of 100 KiB: 1 MB of argv (one string may not exceed
	 * 128 KiB, MAX_ARG_STRLEN) */
	const char *argv[14] = { "sh", "-c", "sleep 30; :" };
	char *big_args[10];
	for (int i = 0; i < 10; i++) {
		char *a = malloc(100 * 1024 + 1);
		memset(a, 'A' + i, 100 * 1024);
		a[100 * 1024] = '\0';
		big_args[i] = a;
		argv[3 + i] = a;
	}
	argv[13] = NULL;
	const char *const envp[] = { NULL };
	pid_t pid = spawn("/bin/sh", argv, envp);
	struct de_proc_reader *big = reader(16u << 20, false), *capped = reader(4096, false);
	struct de_proc p;
	assert_int_equal(de_proc_read(big, pid, &p), 0);
	assert_int_equal(p.argc, 13);
	assert_false(p.argv_truncated);
	assert_int_equal(p.argv_len, 3 + 3 + 12 + 10 * (100 * 1024 + 1) - 1);
	assert_int_equal(de_proc_read(capped, pid, &p), 0);
	assert_true(p.argv_truncated);
	assert_int_equal(p.argv_len, 4096);
	de_proc_reader_free(big);
	de_proc_reader_free(capped);
	for (int i = 0; i < 10; i++)
		free(big_args[i]);
	reap(pid);
}

static void test_empty_argv(void **state)
{
	(void)state;
	const char *const argv[] = { NULL };
	const char *const envp[] = { NULL };
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		quiet_child();
		/* sleep with no argv: newer kernels force argv = { "" } */
		execve("/bin/sleep", (char *const *)argv, (char *const *)envp);
		_exit(127);
	}
	usleep(100000);
	struct de_proc_reader *r = reader(65536, false);
	struct de_proc p;
	int e = de_proc_read(r, pid, &p);
	assert_true(e == 0 || e == -ESRCH); /* sleep may exit at once: no operand */
	if (e == 0 && p.err[DE_PF_CMDLINE] == 0) {
		assert_true(p.argc <= 1);
		assert_int_equal(p.argv_len, 0);
	}
	de_proc_reader_free(r);
	reap(pid);
}

static void test_groups_mask(void **state)
{
	(void)state;
	struct de_proc_opts o = { .proc_root = "/proc", .argv_max_bytes = 4096,
				  .groups = DE_PF_BIT(DE_PF_CMDLINE) | DE_PF_BIT(DE_PF_NS) };
	struct de_proc_reader *r = de_proc_reader_new(&o);
	assert_non_null(r);
	struct de_proc p;
	assert_int_equal(de_proc_read(r, getpid(), &p), 0);
	assert_int_equal(p.err[DE_PF_STAT], 0); /* always: the identity */
	assert_int_equal(p.err[DE_PF_CMDLINE], 0);
	assert_int_equal(p.err[DE_PF_NS], 0);
	assert_true(p.argc >= 1);
	static const enum de_pf skipped[] = { DE_PF_STATUS, DE_PF_EXE, DE_PF_EXE_FILE, DE_PF_CWD,
					      DE_PF_ROOT, DE_PF_IO, DE_PF_FD, DE_PF_CGROUP,
					      DE_PF_LOGINUID, DE_PF_SESSIONID, DE_PF_ENVIRON,
					      DE_PF_HASH };
	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
		assert_int_equal(p.err[skipped[i]], DE_PF_NOT_REQUESTED);
	assert_null(p.exe);
	de_proc_reader_free(r);
}

static void test_kernel_thread(void **state)
{
	(void)state;
	struct de_proc_reader *r = reader(65536, false);
	struct de_proc p;
	assert_int_equal(de_proc_read(r, 2, &p), 0);
	assert_true(p.kthread);
	assert_string_equal(p.comm, "kthreadd");
	assert_int_equal(p.err[DE_PF_EXE], DE_PF_NOT_APPLICABLE);
	assert_int_equal(p.argc, 0);
	de_proc_reader_free(r);
}

static void test_gone(void **state)
{
	(void)state;
	struct de_proc_reader *r = reader(65536, false);
	struct de_proc p;
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	assert_int_equal(de_proc_read(r, pid, &p), -ESRCH);
	de_proc_reader_free(r);
}

static void kill_child(int32_t pid, enum de_pf done, void *ud)
{
	if (done != DE_PF_STAT)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	*(int *)ud += 1;
}

static void count_reads(int32_t pid, enum de_pf done, void *ud)
{
	(void)pid;
	(void)done;
	(*(int *)ud)++;
}

/* A /proc reader whose hook runs at each read of the process's files. */
static struct de_proc_reader *hooked_reader(void (*hook)(int32_t, enum de_pf, void *), void *ud)
{
	struct de_proc_opts o = { .proc_root = "/proc", .argv_max_bytes = 4096,
				  .fault_hook = hook, .fault_hook_ud = ud };
	struct de_proc_reader *r = de_proc_reader_new(&o);
	assert_non_null(r);
	return r;
}

/* A record that a source (the BPF snapshot) filled with every group the
 * reader wants is complete: de_proc_complete() reads nothing from /proc
 * (it once opened /proc/PID for every process of a snapshot). */
static void test_complete_reads_nothing(void **state)
{
	(void)state;
	int calls = 0;
	struct de_proc_reader *r = hooked_reader(count_reads, &calls);
	struct de_proc p;
	assert_int_equal(de_proc_read(r, getpid(), &p), 0);
	assert_true(calls > 0); /* the hook sees reads */
	calls = 0;
	unsigned all = (DE_PF_BIT(DE_PF__COUNT) - 1) &
		       ~(DE_PF_BIT(DE_PF_ENVIRON) | DE_PF_BIT(DE_PF_HASH));
	assert_int_equal(de_proc_complete(r, &p, all), 0);
	assert_int_equal(calls, 0);
	assert_int_equal(p.err[DE_PF_ENVIRON], DE_PF_NOT_REQUESTED);
	/* one group missing: read */
	assert_int_equal(de_proc_complete(r, &p, all & ~DE_PF_BIT(DE_PF_IO)), 0);
	assert_true(calls > 0);
	de_proc_reader_free(r);
}

static void test_exit_mid_read(void **state)
{
	(void)state;
	const char *const argv[] = { "sleep", "30", NULL };
	const char *const envp[] = { NULL };
	pid_t pid = spawn("/bin/sleep", argv, envp);
	int calls = 0;
	struct de_proc_reader *r = hooked_reader(kill_child, &calls);
	struct de_proc p;
	assert_int_equal(de_proc_read(r, pid, &p), 0);
	assert_int_equal(calls, 1);
	assert_true(p.partial);
	assert_int_equal(p.err[DE_PF_STAT], 0);
	assert_string_equal(p.comm, "sleep");
	assert_true(p.err[DE_PF_CMDLINE] < 0);
	assert_true(p.err[DE_PF_STATUS] < 0);
	de_proc_reader_free(r);
}

static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	assert_true(in >= 0 && out >= 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
	return 0;
}

static void test_deleted_and_odd_names(void **state)
{
	(void)state;
	char dir[] = "/tmp/de-test-proc-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/my sleep (deleted)", dir);
	copy_file("/bin/sleep", path);
	const char *const argv[] = { "sleep", "30", NULL };
	const char *const envp[] = { NULL };
	pid_t pid = spawn(path, argv, envp);
	struct de_proc_reader *r = reader(4096, false);
	struct de_proc p;
	assert_int_equal(de_proc_read(r, pid, &p), 0);
	assert_string_equal(p.exe, path); /* a real name ending in " (deleted)" */
	assert_false(p.exe_deleted);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(de_proc_read(r, pid, &p), 0);
	assert_string_equal(p.exe, path);
	assert_true(p.exe_deleted);
	assert_int_equal(p.err[DE_PF_EXE_FILE], 0);
	de_proc_reader_free(r);
	reap(pid);
	rmdir(dir);
}

static void test_memfd_exe(void **state)
{
	(void)state;
	int mfd = memfd_create("payload", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	int in = open("/bin/sleep", O_RDONLY);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(mfd, buf, (size_t)n), n);
	close(in);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		quiet_child();
		const char *const argv[] = { "sleep", "30", NULL };
		const char *const envp[] = { NULL };
		fexecve(mfd, (char *const *)argv, (char *const *)envp);
		_exit(127);
	}
	close(mfd);
	struct de_proc_reader *r = reader(4096, false);
	struct de_proc p;
	for (int i = 0; i < 200; i++) {
		assert_int_equal(de_proc_read(r, pid, &p), 0);
		if (p.exe && strncmp(p.exe, "/memfd:", 7) == 0)
			break;
		usleep(5000);
	}
	assert_string_equal(p.exe, "/memfd:payload");
	assert_true(p.exe_memfd);
	assert_true(p.exe_deleted);
	de_proc_reader_free(r);
	reap(pid);
}

/* Read pid 1 as nobody in a child; report which groups failed how. */
static void test_unprivileged_pid1(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		skip(); /* needs root to become another user */
		return;
	}
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		if (setgid(65534) || setuid(65534))
			_exit(3);
		struct de_proc_opts o = { .proc_root = "/proc", .argv_max_bytes = 4096,
					  .capture_env = true, .env_max_bytes = 4096 };
		struct de_proc_reader *r = de_proc_reader_new(&o);
		struct de_proc p;
		if (!r || de_proc_read(r, 1, &p) < 0)
			_exit(4);
		if (write(fds[1], p.err, sizeof(p.err)) != sizeof(p.err))
			_exit(5);
		_exit(p.comm[0] ? 0 : 6);
	}
	close(fds[1]);
	int err[DE_PF__COUNT];
	assert_int_equal(read(fds[0], err, sizeof(err)), (ssize_t)sizeof(err));
	close(fds[0]);
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(err[DE_PF_STAT], 0);
	assert_int_equal(err[DE_PF_STATUS], 0);
	assert_int_equal(err[DE_PF_CMDLINE], 0);
	assert_int_equal(err[DE_PF_EXE], -EACCES);
	assert_int_equal(err[DE_PF_CWD], -EACCES);
	assert_int_equal(err[DE_PF_ENVIRON], -EACCES);
	assert_int_equal(err[DE_PF_IO], -EACCES);
}

struct scan_count {
	int procs, self;
	int32_t last_pid;
	bool ordered;
};

static int count_emit(const struct de_proc *p, struct de_buf *out, struct de_buf *scratch, void *ud)
{
	(void)scratch;
	(void)ud;
	return de_buf_append(out, &p->pid, sizeof(p->pid));
}

static int count_flush(const char *data, size_t len, void *ud)
{
	struct scan_count *c = ud;
	for (size_t i = 0; i + sizeof(int32_t) <= len; i += sizeof(int32_t)) {
		int32_t pid;
		memcpy(&pid, data + i, sizeof(pid));
		if (pid == getpid())
			c->self = 1;
		/* /proc lists pids in increasing order; output keeps that order */
		if (pid <= c->last_pid)
			c->ordered = false;
		c->last_pid = pid;
		c->procs++;
	}
	return 0;
}

static void test_scan(void **state)
{
	(void)state;
	struct de_proc_opts o = { .proc_root = "/proc", .argv_max_bytes = 4096 };
	int single = 0;
	for (unsigned threads = 1; threads <= 4; threads += 3) {
		struct scan_count c = { .ordered = true };
		struct de_scan s = { .opts = &o, .threads = threads, .emit = count_emit,
				     .flush = count_flush, .ud = &c };
		int n = de_proc_scan_all(&s);
		assert_true(n > 3);
		assert_int_equal(n, c.procs);
		assert_int_equal(c.self, 1);
		assert_true(c.ordered);
		if (threads == 1)
			single = n;
		else /* same host, a moment later: about the same count */
			assert_true(abs(n - single) < 1 + single / 10);
	}
}

static int failing_emit(const struct de_proc *p, struct de_buf *out, struct de_buf *scratch,
			void *ud)
{
	(void)out;
	(void)scratch;
	(void)ud;
	return p->pid == 1 ? -EPIPE : 0;
}

static void test_scan_error_stops(void **state)
{
	(void)state;
	struct de_proc_opts o = { .proc_root = "/proc", .argv_max_bytes = 4096 };
	struct scan_count c = { .ordered = true };
	struct de_scan s = { .opts = &o, .threads = 2, .emit = failing_emit, .flush = count_flush,
			     .ud = &c };
	assert_int_equal(de_proc_scan_all(&s), -EPIPE);
	struct de_proc_opts bad = { .proc_root = "/nonexistent-proc" };
	s.opts = &bad;
	s.emit = count_emit;
	assert_int_equal(de_proc_scan_all(&s), -ENOENT);
}

static void test_tty_name(void **state)
{
	(void)state;
	char s[32];
	de_tty_name(0, s, sizeof(s));
	assert_string_equal(s, "?");
	de_tty_name((136 << 8) | 3, s, sizeof(s));
	assert_string_equal(s, "pts/3");
	de_tty_name((4 << 8) | 1, s, sizeof(s));
	assert_string_equal(s, "tty1");
	de_tty_name((4 << 8) | 65, s, sizeof(s));
	assert_string_equal(s, "ttyS1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_hostile_argv),
		cmocka_unit_test(test_huge_argv),
		cmocka_unit_test(test_empty_argv),
		cmocka_unit_test(test_groups_mask),
		cmocka_unit_test(test_kernel_thread),
		cmocka_unit_test(test_gone),
		cmocka_unit_test(test_exit_mid_read),
		cmocka_unit_test(test_complete_reads_nothing),
		cmocka_unit_test(test_deleted_and_odd_names),
		cmocka_unit_test(test_memfd_exe),
		cmocka_unit_test(test_unprivileged_pid1),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_scan_error_stops),
		cmocka_unit_test(test_tty_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
