/* test_src_ebpf.c: the eBPF event source against processes this test
 * starts, with the ground truth from waitpid(), fstat() and the /proc
 * reader: 1,000 execs with their argv and exit status, fork without exec,
 * exec from a non-leader thread, a deleted and a memfd binary, a setuid
 * transition, a reused pid, drop accounting with a one-page ring buffer,
 * and a snapshot. Skips (saying why) only when the source cannot load:
 * a build without BPF, not root, or a kernel without BTF. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "proc.h"
#include "evsink.h"
#include "source.h"

#define N_EXEC 1000

static struct de_config cfg;
static char run_tag[48];

struct fixture {
	struct de_source *src;
	struct sink sink;
	int ep;
};

static int open_source(struct fixture *f, uint32_t ringbuf_bytes, char *why, size_t why_len)
{
	struct de_source_opts o = {
		.cfg = &cfg, .sink = de_test_sink_event, .sink_ud = &f->sink, .proc_root = "/proc",
		.ringbuf_bytes = ringbuf_bytes,
	};
	int e = de_source_ebpf.open(&o, &f->src, why, why_len);
	if (e < 0)
		return e;
	f->ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ee = { .events = EPOLLIN };
	if (f->ep < 0 || epoll_ctl(f->ep, EPOLL_CTL_ADD, de_source_ebpf.fd(f->src), &ee) < 0)
		return -errno;
	return 0;
}

static void close_source(struct fixture *f)
{
	de_source_ebpf.close(f->src);
	if (f->ep >= 0)
		close(f->ep);
	de_test_sink_free(&f->sink);
	free(f);
}

/* Wait on the source's fd and dispatch for ms milliseconds. */
static void pump(struct fixture *f, int ms)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= ms)
			break;
		struct epoll_event ee;
		int to = de_source_ebpf.timeout_ms(f->src);
		int wait = (int)(ms - el);
		if (to >= 0 && to < wait)
			wait = to;
		epoll_wait(f->ep, &ee, 1, wait);
		assert_int_equal(de_source_ebpf.dispatch(f->src), 0);
	}
}

/* The /proc reader's entity id and start ticks of a live process. */
static void proc_identity(int32_t pid, uint8_t id[DE_ENTITY_ID_LEN], uint64_t *start_ticks)
{
	struct de_proc_opts po;
	de_proc_opts_from_config(&po, &cfg);
	struct de_proc_reader *rd = de_proc_reader_new(&po);
	struct de_proc *p = calloc(1, sizeof(*p));
	assert_non_null(rd);
	assert_non_null(p);
	assert_int_equal(de_proc_read(rd, pid, p), 0);
	memcpy(id, p->entity_id, DE_ENTITY_ID_LEN);
	*start_ticks = p->start_ticks;
	free(p);
	de_proc_reader_free(rd);
}

static uint32_t read_u32(const char *path)
{
	FILE *fp = fopen(path, "r");
	unsigned long v = 0;
	assert_non_null(fp);
	assert_int_equal(fscanf(fp, "%lu", &v), 1);
	fclose(fp);
	return (uint32_t)v;
}

/* Our cgroup v2 id: the inode number of our directory in the cgroup2
 * mount. 0 when the host has no cgroup2 mount. */
static uint64_t own_cgroup_id(void)
{
	char line[512], mnt[256] = "", path[256] = "";
	FILE *fp = fopen("/proc/self/mounts", "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "%*s %255s cgroup2", mnt) == 1 && strstr(line, " cgroup2 "))
			break;
		else
			mnt[0] = '\0';
	fclose(fp);
	fp = fopen("/proc/self/cgroup", "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (strncmp(line, "0::", 3) == 0)
			sscanf(line + 3, "%255s", path);
	fclose(fp);
	if (!mnt[0] || !path[0])
		return 0;
	char full[600];
	snprintf(full, sizeof(full), "%s%s", mnt, path);
	struct stat sb;
	assert_int_equal(stat(full, &sb), 0);
	return sb.st_ino;
}

static int setup(void **state)
{
	if (de_config_init(&cfg) < 0)
		return -1;
	snprintf(run_tag, sizeof(run_tag), "%d-%ld", (int)getpid(), (long)time(NULL));
	struct fixture *f = calloc(1, sizeof(*f));
	char why[512] = "";
	if (!f)
		return -1;
	f->ep = -1;
	int e = open_source(f, 0, why, sizeof(why));
	if (e < 0) {
		/* only a missing feature may skip; tests then report the reason */
		fprintf(stderr, "# ebpf source unavailable: %s\n", why);
		if (e == -EOPNOTSUPP || (e == -EPERM && geteuid() != 0)) {
			close_source(f);
			*state = NULL;
			return 0;
		}
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	if (*state)
		close_source(*state);
	de_config_free(&cfg);
	return 0;
}

/* Each test starts from an empty sink (pids of earlier tests may be reused). */
static void reset(struct fixture *f)
{
	(void)de_source_ebpf.dispatch(f->src);
	de_test_sink_free(&f->sink);
}

#define NEED_SOURCE(state)                                                        \
	do {                                                                      \
		if (!*(state))                                                    \
			skip(); /* why was printed by setup */                    \
		reset(*(state));                                                  \
	} while (0)

static pid_t spawn_argv(const char *path, const char *const argv[])
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execv(path, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* The executable's identity the kernel recorded is what stat() says of
 * the file: the hash cache finds a binary by it without a stat. */
static void assert_exe_file(const struct rec *x, const struct stat *sb)
{
	struct de_file_id want;
	de_file_id_from_stat(sb, &want);
	assert_true(x->have_exe_file);
	assert_int_equal(x->exe_file.dev, want.dev);
	assert_int_equal(x->exe_file.ino, want.ino);
	assert_int_equal(x->exe_file.size, want.size);
	assert_int_equal(x->exe_file.mtime_ns, want.mtime_ns);
	assert_int_equal(x->exe_file.ctime_ns, want.ctime_ns);
	assert_true(de_file_id_equal(&x->exe_file, &want));
}

static bool argv_is(const struct rec *r, const char *const want[])
{
	size_t off = 0;
	for (int i = 0; want[i]; i++) {
		size_t l = strlen(want[i]);
		if (off + l > r->argv_len || memcmp(r->argv + off, want[i], l) != 0)
			return false;
		off += l;
		if (want[i + 1] && (off >= r->argv_len || r->argv[off] != '\0'))
			return false;
		off++;
	}
	return off == r->argv_len + 1;
}

/* 1,000 execs of /bin/true, plus exit 3 and a SIGKILL through sh: every
 * one seen with its full argv and the status waitpid() gave. */
static void test_exec_flood(void **state)
{
	NEED_SOURCE(state);
	struct fixture *f = *state;
	enum { N_SPECIAL = 4 };
	static pid_t pids[N_EXEC + N_SPECIAL];
	static int status[N_EXEC + N_SPECIAL];
	char a1[N_EXEC + N_SPECIAL][80], a2[N_EXEC + N_SPECIAL][16];
	int running = 0;
	for (int i = 0; i < N_EXEC + N_SPECIAL; i++) {
		snprintf(a1[i], sizeof(a1[i]), "de-test-%s-%d", run_tag, i);
		snprintf(a2[i], sizeof(a2[i]), "%d", i);
		if (i < N_EXEC) {
			const char *const argv[] = { "/bin/true", a1[i], a2[i], NULL };
			pids[i] = spawn_argv("/bin/true", argv);
		} else if (i < N_EXEC + 3) {
			const char *const argv[] = { "/bin/sh", "-c", "exit 3", a1[i], a2[i], NULL };
			pids[i] = spawn_argv("/bin/sh", argv);
		} else {
			const char *const argv[] = { "/bin/sh", "-c", "kill -KILL $$", a1[i], a2[i], NULL };
			pids[i] = spawn_argv("/bin/sh", argv);
		}
		if (++running == 64) { /* keep the machine usable, consume as we go */
			for (int j = i - 63; j <= i; j++)
				assert_int_equal(waitpid(pids[j], &status[j], 0), pids[j]);
			running = 0;
			pump(f, 1);
		}
	}
	for (int j = N_EXEC + N_SPECIAL - running; j < N_EXEC + N_SPECIAL; j++)
		assert_int_equal(waitpid(pids[j], &status[j], 0), pids[j]);
	pump(f, 300);

	struct stat true_sb;
	assert_int_equal(stat("/bin/true", &true_sb), 0);
	uint32_t loginuid = read_u32("/proc/self/loginuid");
	uint32_t sessionid = read_u32("/proc/self/sessionid");
	uint64_t cgid = own_cgroup_id();
	int seen = 0;
	for (int i = 0; i < N_EXEC + N_SPECIAL; i++) {
		const struct rec *x = de_test_find(&f->sink, DE_EV_EXEC, pids[i]);
		const struct rec *e = de_test_find(&f->sink, DE_EV_EXIT, pids[i]);
		const struct rec *k = de_test_find(&f->sink, DE_EV_FORK, pids[i]);
		if (!x || !e || !k) {
			print_error("pid %d (%d): exec %p exit %p fork %p\n", (int)pids[i], i,
				    (const void *)x, (const void *)e, (const void *)k);
			fail();
		}
		assert_true(x->have & DE_EVF_ARGV);
		assert_false(x->argv_truncated);
		if (i < N_EXEC) {
			const char *want[] = { "/bin/true", a1[i], a2[i], NULL };
			assert_true(argv_is(x, want));
			assert_int_equal(x->argc, 3);
			assert_string_equal(x->filename, "/bin/true");
			assert_string_equal(x->comm, "true");
			assert_true(x->have & DE_EVF_EXE_ID);
			assert_int_equal(x->exe_ino, true_sb.st_ino);
			assert_int_equal(x->exe_dev, true_sb.st_dev);
			assert_exe_file(x, &true_sb);
		} else {
			const char *want[] = { "/bin/sh", "-c", i < N_EXEC + 3 ? "exit 3" : "kill -KILL $$",
					       a1[i], a2[i], NULL };
			assert_true(argv_is(x, want));
			assert_int_equal(x->argc, 5);
		}
		assert_int_equal(x->tid, pids[i]);
		assert_int_equal(x->ppid, getpid());
		assert_true(x->have & DE_EVF_CREDS);
		assert_int_equal(x->uid[0], getuid());
		assert_int_equal(x->uid[1], geteuid());
		assert_true(x->have & DE_EVF_LOGINUID);
		assert_int_equal(x->loginuid, loginuid);
		assert_int_equal(x->sessionid, sessionid);
		if (cgid) {
			assert_true(x->have & DE_EVF_CGROUP);
			assert_int_equal(x->cgroup_id, cgid);
		}
		assert_memory_equal(x->id, e->id, DE_ENTITY_ID_LEN);
		assert_memory_equal(x->id, k->id, DE_ENTITY_ID_LEN);
		assert_true(e->have & DE_EVF_EXIT);
		if (WIFSIGNALED(status[i])) {
			assert_int_equal(e->exit_signal, WTERMSIG(status[i]));
		} else {
			assert_int_equal(e->exit_signal, 0);
			assert_int_equal(e->exit_code, WEXITSTATUS(status[i]));
		}
		seen++;
	}
	assert_int_equal(seen, N_EXEC + N_SPECIAL);
	/* the special ones really did what they should */
	assert_int_equal(WEXITSTATUS(status[N_EXEC]), 3);
	assert_true(WIFSIGNALED(status[N_EXEC + 3]) && WTERMSIG(status[N_EXEC + 3]) == SIGKILL);
}

/* fork without exec: the child's pid and id, the parent's id; the id is
 * the /proc reader's for both, and the exit carries the child's id. */
static void test_fork_no_exec(void **state)
{
	NEED_SOURCE(state);
	struct fixture *f = *state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		char b;
		close(p[1]);
		(void)!read(p[0], &b, 1);
		_exit(7);
	}
	close(p[0]);
	uint8_t child_id[DE_ENTITY_ID_LEN], parent_id[DE_ENTITY_ID_LEN];
	uint64_t ticks;
	proc_identity(c, child_id, &ticks);
	proc_identity(getpid(), parent_id, &ticks);
	close(p[1]);
	int st;
	assert_int_equal(waitpid(c, &st, 0), c);
	pump(f, 200);
	const struct rec *k = de_test_find(&f->sink, DE_EV_FORK, c);
	assert_non_null(k);
	assert_int_equal(k->pid, c);
	assert_int_equal(k->tid, c);
	assert_int_equal(k->ppid, getpid());
	assert_true(k->have & DE_EVF_PARENT);
	assert_memory_equal(k->id, child_id, DE_ENTITY_ID_LEN);
	assert_memory_equal(k->pid_id, parent_id, DE_ENTITY_ID_LEN);
	assert_null(de_test_find(&f->sink, DE_EV_EXEC, c));
	const struct rec *e = de_test_find(&f->sink, DE_EV_EXIT, c);
	assert_non_null(e);
	assert_memory_equal(e->id, child_id, DE_ENTITY_ID_LEN);
	assert_int_equal(e->exit_code, 7);
}

struct thr_arg {
	int fd;
	char arg[64];
};

static void *exec_thread(void *p)
{
	struct thr_arg *a = p;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	(void)!write(a->fd, &tid, sizeof(tid));
	const char *const argv[] = { "/bin/true", a->arg, NULL };
	execv("/bin/true", (char *const *)argv);
	_exit(127);
}

/* execve from a thread that is not the leader: reported with the tgid, the
 * thread's tid, and one exit for the process (not one per thread). */
static void test_exec_from_thread(void **state)
{
	NEED_SOURCE(state);
	struct fixture *f = *state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct thr_arg a = { .fd = p[1] };
	snprintf(a.arg, sizeof(a.arg), "de-thread-%s", run_tag);
	pid_t c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		pthread_t t;
		if (pthread_create(&t, NULL, exec_thread, &a) != 0)
			_exit(126);
		for (;;)
			pause();
	}
	close(p[1]);
	pid_t tid = 0;
	assert_int_equal(read(p[0], &tid, sizeof(tid)), (ssize_t)sizeof(tid));
	close(p[0]);
	int st;
	assert_int_equal(waitpid(c, &st, 0), c);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_not_equal(tid, c);
	pump(f, 200);
	const struct rec *x = de_test_find(&f->sink, DE_EV_EXEC, c);
	assert_non_null(x);
	assert_int_equal(x->pid, c);
	assert_int_equal(x->tid, tid);
	const char *want[] = { "/bin/true", a.arg, NULL };
	assert_true(argv_is(x, want));
	assert_int_equal(de_test_count(&f->sink, DE_EV_EXIT, c), 1);
	/* no fork event for the thread: threads are not processes */
	assert_null(de_test_find(&f->sink, DE_EV_FORK, tid));
}

struct exit_arg {
	int fd;
	int code;
};

static void *exiting_thread(void *p)
{
	struct exit_arg *a = p;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	(void)!write(a->fd, &tid, sizeof(tid));
	usleep(50000); /* after the leader is gone */
	_exit(a->code); /* exit_group() too, without atexit handlers (sanitizers) */
}

/* A process whose leader leaves first (pthread_exit) and whose other
 * thread then calls _exit(9): one exit event, status 9, from that thread. */
static void test_thread_group_exit(void **state)
{
	NEED_SOURCE(state);
	struct fixture *f = *state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct exit_arg a = { .fd = p[1], .code = 9 };
	pid_t c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		pthread_t t;
		if (pthread_create(&t, NULL, exiting_thread, &a) != 0)
			_exit(126);
		pthread_exit(NULL);
	}
	close(p[1]);
	pid_t tid = 0;
	assert_int_equal(read(p[0], &tid, sizeof(tid)), (ssize_t)sizeof(tid));
	close(p[0]);
	int st;
	assert_int_equal(waitpid(c, &st, 0), c);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 9);
	pump(f, 200);
	assert_int_equal(de_test_count(&f->sink, DE_EV_EXIT, c), 1);
	const struct rec *e = de_test_find(&f->sink, DE_EV_EXIT, c);
	assert_int_equal(e->tid, tid);
	assert_int_equal(e->exit_signal, 0);
	assert_int_equal(e->exit_code, 9);
	assert_null(de_test_find(&f->sink, DE_EV_FORK, tid));
}

/* The variant for kernels whose exit tracepoint has no group_dead
 * (signal->live == 0), forced on this one: loads, and reports each
 * process's exit once with its status. */
static void test_exit_live_variant(void **state)
{
	NEED_SOURCE(state);
	struct fixture *g = calloc(1, sizeof(*g));
	assert_non_null(g);
	g->ep = -1;
	char why[512];
	setenv("DE_EBPF_EXIT_LIVE", "1", 1);
	int e = open_source(g, 0, why, sizeof(why));
	unsetenv("DE_EBPF_EXIT_LIVE");
	if (e < 0)
		print_error("%s\n", why);
	assert_int_equal(e, 0);
	enum { N = 20 };
	pid_t pids[N];
	int st[N];
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(i);
		assert_int_equal(waitpid(pids[i], &st[i], 0), pids[i]);
	}
	pump(g, 200);
	for (int i = 0; i < N; i++) {
		assert_int_equal(de_test_count(&g->sink, DE_EV_EXIT, pids[i]), 1);
		const struct rec *r = de_test_find(&g->sink, DE_EV_EXIT, pids[i]);
		assert_int_equal(r->exit_code, WEXITSTATUS(st[i]));
		assert_int_equal(r->exit_code, i);
	}
	close_source(g);
}

/* fexecve() of fd, with argv; returns the child's pid. */
static pid_t fexec_child(int fd, const char *arg)
{
	pid_t c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		const char *const argv[] = { "de-fexec", arg, NULL };
		char *envp[] = { NULL };
		fexecve(fd, (char *const *)argv, envp);
		_exit(127);
	}
	return c;
}

static int copy_file(const char *from, int to_fd)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(to_fd, buf, (size_t)n) != n)
			break;
	close(in);
	return n == 0 ? 0 : -EIO;
}

static void check_fexec(struct fixture *f, int fd, const char *arg)
{
	struct stat sb;
	assert_int_equal(fstat(fd, &sb), 0);
	pid_t c = fexec_child(fd, arg);
	int st;
	assert_int_equal(waitpid(c, &st, 0), c);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	pump(f, 200);
	const struct rec *x = de_test_find(&f->sink, DE_EV_EXEC, c);
	assert_non_null(x);
	const char *want[] = { "de-fexec", arg, NULL };
	assert_true(argv_is(x, want));
	assert_true(x->have & DE_EVF_EXE_ID);
	assert_int_equal(x->exe_ino, sb.st_ino);
	assert_int_equal(x->exe_dev, sb.st_dev);
	assert_exe_file(x, &sb);
	char fdpath[32];
	snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fd);
	assert_string_equal(x->filename, fdpath);
	assert_non_null(de_test_find(&f->sink, DE_EV_EXIT, c));
}

/* A binary that no longer has a name: copied, unlinked, run from the fd. */
static void test_deleted_binary(void **state)
{
	NEED_SOURCE(state);
	struct fixture *f = *state;
	char path[] = "/tmp/de-ebpf-deleted-XXXXXX";
	int w = mkstemp(path);
	assert_true(w >= 0);
	assert_int_equal(copy_file("/bin/true", w), 0);
	assert_int_equal(fchmod(w, 0755), 0);
	close(w); /* no writer left, or execve fails with ETXTBSY */
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	struct stat sb;
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(sb.st_nlink, 0); /* really deleted */
	char arg[64];
	snprintf(arg, sizeof(arg), "de-deleted-%s", run_tag);
	check_fexec(f, fd, arg);
	close(fd);
}

static void test_memfd_binary(void **state)
{
	NEED_SOURCE(state);
	struct fixture *f = *state;
	int fd = memfd_create("de-ebpf-memfd", 0);
	assert_true(fd >= 0);
	assert_int_equal(copy_file("/bin/true", fd), 0);
	char arg[64];
	snprintf(arg, sizeof(arg), "de-memfd-%s", run_tag);
	check_fexec(f, fd, arg);
	close(fd);
}

/* A setuid-root copy of /bin/true run by uid 65534: the exec event shows
 * the transition (real 65534, effective and saved 0). */
static void test_setuid(void **state)
{
	NEED_SOURCE(state);
	struct fixture *f = *state;
	char dir[] = "/tmp/de-ebpf-suid-XXXXXX";
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	char path[64];
	snprintf(path, sizeof(path), "%s/true", dir);
	int w = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	assert_true(w >= 0);
	assert_int_equal(copy_file("/bin/true", w), 0);
	assert_int_equal(fchown(w, 0, 0), 0);
	assert_int_equal(fchmod(w, 04755), 0);
	close(w);
	char arg[64];
	snprintf(arg, sizeof(arg), "de-suid-%s", run_tag);
	pid_t c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(125);
		const char *const argv[] = { path, arg, NULL };
		execv(path, (char *const *)argv);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(c, &st, 0), c);
	unlink(path);
	rmdir(dir);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	pump(f, 200);
	const struct rec *x = de_test_find(&f->sink, DE_EV_EXEC, c);
	assert_non_null(x);
	assert_true(x->have & DE_EVF_CREDS);
	assert_int_equal(x->uid[0], 65534);
	assert_int_equal(x->uid[1], 0);
	assert_int_equal(x->uid[2], 0);
	assert_int_equal(x->uid[3], 0);
	for (int k = 0; k < 4; k++) /* no setgid bit: every gid stays 65534 */
		assert_int_equal(x->gid[k], 65534);
	const struct rec *k = de_test_find(&f->sink, DE_EV_FORK, c);
	assert_non_null(k);
	assert_int_equal(k->uid[0], 0); /* the fork, before setresuid */
}

static pid_t quick_child(void)
{
	pid_t c = fork();
	assert_true(c >= 0);
	if (c == 0)
		_exit(0);
	int st;
	assert_int_equal(waitpid(c, &st, 0), c);
	return c;
}

/* The same global pid twice (ns_last_pid steers the next pid): two
 * processes, two entity ids. */
static void test_pid_reuse(void **state)
{
	NEED_SOURCE(state);
	struct fixture *f = *state;
	pid_t a = quick_child(), b = -1;
	/* start ticks are 10 ms: the second one must start in a later tick */
	usleep(30000);
	for (int tries = 0; tries < 50 && b != a; tries++) {
		FILE *fp = fopen("/proc/sys/kernel/ns_last_pid", "w");
		assert_non_null(fp);
		fprintf(fp, "%d", (int)a - 1);
		fclose(fp);
		b = quick_child();
	}
	assert_int_equal(b, a);
	pump(f, 200);
	const struct rec *first = NULL, *second = NULL;
	for (size_t i = 0; i < f->sink.n; i++) {
		const struct rec *r = &f->sink.r[i];
		if (r->type != DE_EV_FORK || r->pid != a)
			continue;
		if (!first)
			first = r;
		else
			second = r;
	}
	assert_non_null(first);
	assert_non_null(second);
	assert_true(second->start_ticks > first->start_ticks);
	assert_memory_not_equal(first->id, second->id, DE_ENTITY_ID_LEN);
}

/* The exec event's entity id is the one the /proc reader computes. */
static void test_entity_id_matches_proc(void **state)
{
	NEED_SOURCE(state);
	struct fixture *f = *state;
	const char *const argv[] = { "/bin/sleep", "30", NULL };
	pid_t c = spawn_argv("/bin/sleep", argv);
	const struct rec *x = NULL;
	for (int i = 0; i < 50 && !x; i++) {
		pump(f, 20);
		x = de_test_find(&f->sink, DE_EV_EXEC, c);
	}
	assert_non_null(x);
	uint8_t id[DE_ENTITY_ID_LEN];
	uint64_t ticks;
	proc_identity(c, id, &ticks);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	assert_int_equal(x->start_ticks, ticks);
	assert_memory_equal(x->id, id, DE_ENTITY_ID_LEN);
}

/* A one-page ring buffer and a flood nobody consumes: the losses come back
 * as a DE_ST_DROPS status event, per type, and nothing is lost silently:
 * seen + dropped covers every process started. */
static void test_drops(void **state)
{
	NEED_SOURCE(state);
	struct fixture *g = calloc(1, sizeof(*g));
	assert_non_null(g);
	g->ep = -1;
	char why[512];
	long page = sysconf(_SC_PAGESIZE);
	int e = open_source(g, (uint32_t)page, why, sizeof(why));
	if (e < 0)
		print_error("%s\n", why);
	assert_int_equal(e, 0);
	enum { N = 300 };
	pid_t pids[N];
	char a1[N][80];
	for (int i = 0; i < N; i++) {
		snprintf(a1[i], sizeof(a1[i]), "de-drop-%s-%d", run_tag, i);
		const char *const argv[] = { "/bin/true", a1[i], NULL };
		pids[i] = spawn_argv("/bin/true", argv);
		assert_int_equal(waitpid(pids[i], NULL, 0), pids[i]);
	}
	assert_int_equal(de_source_ebpf.dispatch(g->src), 0);
	uint64_t drops[DE_EV__COUNT] = { 0 };
	size_t n_status = 0;
	for (size_t i = 0; i < g->sink.n; i++) {
		const struct rec *r = &g->sink.r[i];
		if (r->type == DE_EV_STATUS && r->status == DE_ST_DROPS) {
			n_status++;
			for (int t = 0; t < DE_EV__COUNT; t++)
				drops[t] += r->drops[t];
		}
	}
	size_t seen_exec = 0;
	for (int i = 0; i < N; i++)
		seen_exec += de_test_find(&g->sink, DE_EV_EXEC, pids[i]) != NULL;
	print_message("# ring %ld bytes: %zu of %d execs seen, drops exec %llu fork %llu exit %llu\n",
		      page, seen_exec, N, (unsigned long long)drops[DE_EV_EXEC],
		      (unsigned long long)drops[DE_EV_FORK], (unsigned long long)drops[DE_EV_EXIT]);
	assert_true(n_status >= 1);
	assert_true(drops[DE_EV_EXEC] > 0);
	assert_true(drops[DE_EV_FORK] > 0);
	assert_true(drops[DE_EV_EXIT] > 0);
	assert_true(seen_exec < N);
	assert_true(seen_exec + drops[DE_EV_EXEC] >= N);
	/* the next dispatch reports only new losses */
	size_t before = g->sink.n;
	assert_int_equal(de_source_ebpf.dispatch(g->src), 0);
	for (size_t i = before; i < g->sink.n; i++)
		if (g->sink.r[i].type == DE_EV_STATUS && g->sink.r[i].status == DE_ST_DROPS)
			assert_true(g->sink.r[i].drops[DE_EV_EXEC] < drops[DE_EV_EXEC]);
	close_source(g);
}

/* collector.ring_buffer_bytes 0 (the default): 512 KiB per online CPU,
 * a power of two from 1 MiB to 16 MiB (the fixture's source opened so). */
static void test_ring_default(void **state)
{
	NEED_SOURCE(state);
	struct fixture *f = *state;
	assert_int_equal(cfg.collector.ring_buffer_bytes, 0);
	struct bpf_map_info info;
	memset(&info, 0, sizeof(info));
	uint32_t len = sizeof(info);
	assert_int_equal(bpf_obj_get_info_by_fd(de_source_ebpf.fd(f->src), &info, &len), 0);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t want = (uint64_t)cpus * 512 * 1024;
	want = want < (1u << 20) ? (1u << 20) : want > (16u << 20) ? (16u << 20) : want;
	assert_true(info.max_entries >= want && info.max_entries < 2 * want);
	assert_int_equal(info.max_entries & (info.max_entries - 1), 0);
	print_message("# ring buffer: %u KiB for %ld online CPUs\n", info.max_entries >> 10, cpus);
}

/* argv longer than collector.argv_max_bytes: the first bytes, flagged
 * truncated (and the default cap, 32 KiB, against a 100 KB argument). */
static void test_argv_cap(void **state)
{
	NEED_SOURCE(state);
	struct fixture *f = *state;
	struct fixture *g = calloc(1, sizeof(*g));
	assert_non_null(g);
	g->ep = -1;
	char why[512];
	uint32_t saved = cfg.collector.argv_max_bytes;
	cfg.collector.argv_max_bytes = 256;
	int e = open_source(g, 0, why, sizeof(why));
	cfg.collector.argv_max_bytes = saved;
	if (e < 0)
		print_error("%s\n", why);
	assert_int_equal(e, 0);
	size_t big_len = 100 * 1024;
	char *big = malloc(big_len + 1);
	assert_non_null(big);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + i % 26);
	big[big_len] = '\0';
	const char *const argv[] = { "/bin/true", big, NULL };
	pid_t c = spawn_argv("/bin/true", argv);
	assert_int_equal(waitpid(c, NULL, 0), c);
	pump(g, 200);
	pump(f, 50);
	const struct rec *x = de_test_find(&g->sink, DE_EV_EXEC, c), *y = de_test_find(&f->sink, DE_EV_EXEC, c);
	assert_non_null(x);
	assert_non_null(y);
	assert_true(x->argv_truncated);
	assert_int_equal(x->argv_len, 256);
	assert_memory_equal(x->argv, "/bin/true\0", 10);
	assert_memory_equal(x->argv + 10, big, 256 - 10);
	assert_true(y->argv_truncated);
	assert_int_equal(y->argv_len, 32768);
	assert_memory_equal(y->argv + 10, big, 32768 - 10);
	free(big);
	close_source(g);
}

static void test_snapshot(void **state)
{
	NEED_SOURCE(state);
	struct fixture *f = *state;
	f->sink.snapshots = 0;
	f->sink.snap_self = false;
	int n = de_source_ebpf.snapshot(f->src);
	assert_true(f->sink.snapshots > 5);
	assert_int_equal(n, f->sink.snapshots); /* it says how many it delivered */
	assert_true(f->sink.snap_self);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_flood),
		cmocka_unit_test(test_fork_no_exec),
		cmocka_unit_test(test_exec_from_thread),
		cmocka_unit_test(test_thread_group_exit),
		cmocka_unit_test(test_exit_live_variant),
		cmocka_unit_test(test_deleted_binary),
		cmocka_unit_test(test_memfd_binary),
		cmocka_unit_test(test_setuid),
		cmocka_unit_test(test_pid_reuse),
		cmocka_unit_test(test_entity_id_matches_proc),
		cmocka_unit_test(test_drops),
		cmocka_unit_test(test_ring_default),
		cmocka_unit_test(test_argv_cap),
		cmocka_unit_test(test_snapshot),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
