/* test_bpfsnap.c: the BPF task-iterator snapshot against the /proc reader
 * on the live host, with children whose argv holds a newline, invalid
 * UTF-8 and 100 KB. Skips (saying why) only when the iterator cannot load:
 * a build without BPF, or not root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpfsnap.h"
#include "snapshot.h"
#include "macros.h"
#include "proc.h"

#define BIG_ARG (100 * 1024)

static pid_t kids[2];
static char *big;

/* sh -c 'sleep 3600; :' NAME ARGS...: sh stays, with our argv. */
static pid_t spawn(const char *const argv[])
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0); /* its own group: teardown kills sh and its sleep */
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0) {
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
		}
		execv("/bin/sh", (char *const *)argv);
		_exit(127);
	}
	char path[64], buf[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	for (int i = 0; i < 500; i++) { /* until exec'd */
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
		if (f)
			fclose(f);
		if (n >= 3 && memcmp(buf, "sh", 2) == 0)
			break;
		usleep(10000);
	}
	return pid;
}

static int setup(void **state)
{
	(void)state;
	big = malloc(BIG_ARG + 1);
	if (!big)
		return -1;
	memset(big, 'x', BIG_ARG);
	big[BIG_ARG] = '\0';
	const char *const a1[] = { "sh", "-c", "sleep 3600; :", "de-bpfsnap-test", "line1\nline2",
				   "\xff\xfe-invalid-utf8", NULL };
	const char *const a2[] = { "sh", "-c", "sleep 3600; :", "de-bpfsnap-big", big, NULL };
	kids[0] = spawn(a1);
	kids[1] = spawn(a2);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		if (kids[i] > 0) {
			kill(-kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
	}
	free(big);
	return 0;
}

/* Take a snapshot or skip the test saying why. */
static struct de_bpfsnap *take(uint32_t argv_max)
{
	char why[256];
	struct de_bpfsnap *s = NULL;
	int e = de_bpfsnap_take(argv_max, &s, why, sizeof(why));
	if (e < 0 && (!de_bpfsnap_built() || geteuid() != 0)) {
		print_message("# SKIP BPF snapshot unavailable: %s\n", why);
		skip();
	}
	if (e < 0)
		fail_msg("BPF snapshot failed as root: %s", why);
	return s;
}

static ssize_t find(const struct de_bpfsnap *s, int32_t pid)
{
	for (size_t i = 0; i < de_bpfsnap_count(s); i++)
		if (de_bpfsnap_pid(s, i) == pid)
			return (ssize_t)i;
	return -1;
}

static struct de_proc_reader *reader(uint32_t argv_max, unsigned groups)
{
	struct de_proc_opts o = { .proc_root = "/proc", .argv_max_bytes = argv_max,
				  .skip_users = true, .groups = groups };
	struct de_proc_reader *r = de_proc_reader_new(&o);
	assert_non_null(r);
	return r;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 1099511628211u;
	return h;
}

/* A digest of everything test_agrees_with_proc compares, from /proc. */
static uint64_t fingerprint(const struct de_proc *p)
{
	uint64_t h = 14695981039346656037u;
	int32_t ids[] = { p->ppid, p->pgid, p->sid, p->tty_nr, p->kthread, p->seccomp,
			  p->no_new_privs, (int32_t)p->ngroups, p->err[DE_PF_NS],
			  p->err[DE_PF_CMDLINE], p->err[DE_PF_EXE_FILE] };
	h = fnv(h, ids, sizeof(ids));
	h = fnv(h, p->uid, sizeof(p->uid));
	h = fnv(h, p->gid, sizeof(p->gid));
	h = fnv(h, &p->cap_eff, sizeof(p->cap_eff));
	h = fnv(h, &p->cap_bnd, sizeof(p->cap_bnd));
	h = fnv(h, p->ns, sizeof(p->ns));
	h = fnv(h, p->comm, strlen(p->comm));
	if (p->err[DE_PF_CMDLINE] == 0 && p->argv)
		h = fnv(h, p->argv, p->argv_len);
	if (p->err[DE_PF_EXE_FILE] == 0)
		h = fnv(h, &p->exe_file, sizeof(p->exe_file));
	return h;
}

struct seen {
	int32_t pid;
	uint64_t start, fp;
};

/* Every process in both snapshots agrees on identity, parent, uids, comm,
 * argv and entity id. Other work runs on the host: a process that changed
 * while the test looked (its /proc fingerprint before the snapshot and
 * after differ: it exec'd, was reparented, renamed itself) is left out. */
static void test_agrees_with_proc(void **state)
{
	(void)state;
	struct de_proc_reader *pr = reader(32768, 0);
	struct de_proc *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	size_t nseen = 0, changed = 0;
	struct de_bpfsnap *s = take(32768); /* the pid list */
	struct seen *seen = calloc(de_bpfsnap_count(s) + 1, sizeof(*seen));
	assert_non_null(seen);
	for (size_t i = 0; i < de_bpfsnap_count(s); i++)
		if (de_proc_read(pr, de_bpfsnap_pid(s, i), b) == 0 && !b->partial)
			seen[nseen++] = (struct seen){ b->pid, b->start_ticks, fingerprint(b) };
	de_bpfsnap_free(s);
	s = take(32768);
	struct de_proc_reader *br = reader(32768, DE_PF_BIT(DE_PF_STAT) | DE_PF_BIT(DE_PF_CMDLINE));
	size_t compared = 0, argv_compared = 0;
	for (size_t i = 0; i < de_bpfsnap_count(s); i++) {
		unsigned have = de_bpfsnap_fill(s, i, a);
		if (!have) { /* pid 1 (left out by the kernel's iterator) and
			      * kernel threads (their full names) come from /proc */
			assert_true(a->pid == 1 || a->kthread);
			continue;
		}
		assert_int_equal(de_proc_complete(br, a, have), 0);
		if (de_proc_read(pr, a->pid, b) < 0 || b->partial || a->partial)
			continue; /* exited in between */
		bool stable = false;
		for (size_t j = 0; j < nseen; j++)
			if (seen[j].pid == b->pid)
				stable = seen[j].start == b->start_ticks && seen[j].fp == fingerprint(b);
		if (!stable && b->pid != kids[0] && b->pid != kids[1]) {
			changed++;
			continue;
		}
		compared++;
		assert_int_equal(a->pid, b->pid);
		assert_int_equal(a->ppid, b->ppid);
		assert_int_equal(a->pgid, b->pgid);
		assert_int_equal(a->sid, b->sid);
		assert_int_equal(a->tty_nr, b->tty_nr);
		assert_int_equal(a->kthread, b->kthread);
		assert_int_equal(a->start_ticks, b->start_ticks);
		assert_memory_equal(a->entity_id, b->entity_id, DE_ENTITY_ID_LEN);
		assert_memory_equal(a->uid, b->uid, sizeof(a->uid));
		assert_memory_equal(a->gid, b->gid, sizeof(a->gid));
		assert_int_equal(a->ngroups, b->ngroups);
		assert_int_equal(a->cap_eff, b->cap_eff);
		assert_int_equal(a->cap_bnd, b->cap_bnd);
		assert_int_equal(a->seccomp, b->seccomp);
		assert_int_equal(a->no_new_privs, b->no_new_privs);
		/* a zombie has no namespaces left but its pid one: both sides
		 * say ENOENT for the group, and only then do they differ */
		assert_int_equal(a->err[DE_PF_NS], b->err[DE_PF_NS]);
		if (a->err[DE_PF_NS] == 0)
			assert_memory_equal(a->ns, b->ns, sizeof(a->ns));
		else
			assert_int_equal(b->state, 'Z');
		if (!a->kthread) /* /proc adds a workqueue suffix to kworkers */
			assert_string_equal(a->comm, b->comm);
		else
			assert_int_equal(strncmp(a->comm, b->comm, strlen(a->comm)), 0);
		if (!a->kthread && !(have & DE_PF_BIT(DE_PF_CMDLINE)))
			assert_int_equal(a->err[DE_PF_CMDLINE], 0); /* read from /proc instead */
		if (!a->kthread && a->err[DE_PF_CMDLINE] == 0 && b->err[DE_PF_CMDLINE] == 0) {
			assert_int_equal(a->argv_len, b->argv_len);
			assert_memory_equal(a->argv, b->argv, a->argv_len);
			assert_int_equal(a->argc, b->argc);
			assert_int_equal(a->argv_truncated, b->argv_truncated);
			argv_compared++;
		}
		if (!a->kthread && a->err[DE_PF_EXE_FILE] == 0 && b->err[DE_PF_EXE_FILE] == 0) {
			assert_int_equal(a->exe_file.ino, b->exe_file.ino);
			assert_int_equal(a->exe_file.dev, b->exe_file.dev);
			assert_int_equal(a->exe_file.size, b->exe_file.size);
			assert_int_equal(a->exe_file.mtime_ns, b->exe_file.mtime_ns);
		}
	}
	print_message("# compared %zu processes (%zu argv; %zu left out: changed meanwhile)\n",
		      compared, argv_compared, changed);
	free(seen);
	assert_true(compared >= 10);
	/* our children are there, with their hostile argv byte for byte */
	ssize_t k = find(s, kids[0]);
	assert_true(k >= 0);
	unsigned have = de_bpfsnap_fill(s, (size_t)k, a);
	assert_true(have & DE_PF_BIT(DE_PF_CMDLINE));
	static const char want[] = "sh\0-c\0sleep 3600; :\0de-bpfsnap-test\0line1\nline2\0"
				   "\xff\xfe-invalid-utf8";
	assert_int_equal(a->argv_len, sizeof(want) - 1);
	assert_memory_equal(a->argv, want, sizeof(want) - 1);
	assert_int_equal(a->argc, 6);
	assert_int_equal(a->ppid, getpid());
	free(a);
	free(b);
	de_proc_reader_free(pr);
	de_proc_reader_free(br);
	de_bpfsnap_free(s);
}

static void test_kernel_threads_flagged(void **state)
{
	(void)state;
	struct de_bpfsnap *s = take(4096);
	struct de_proc *p = malloc(sizeof(*p));
	assert_non_null(p);
	ssize_t k = find(s, 2); /* kthreadd */
	assert_true(k >= 0);
	unsigned have = de_bpfsnap_fill(s, (size_t)k, p);
	assert_true(p->kthread);
	assert_string_equal(p->comm, "kthreadd");
	assert_false(have & DE_PF_BIT(DE_PF_CMDLINE));
	size_t kthreads = 0;
	for (size_t i = 0; i < de_bpfsnap_count(s); i++) {
		de_bpfsnap_fill(s, i, p);
		kthreads += p->kthread && p->ppid == 2;
	}
	assert_true(kthreads > 0);
	k = find(s, getpid());
	assert_true(k >= 0);
	de_bpfsnap_fill(s, (size_t)k, p);
	assert_false(p->kthread);
	free(p);
	de_bpfsnap_free(s);
}

/* 100 KB of argv: cut at the cap, flagged; and with a configured cap above
 * the BPF maximum, left to /proc (not claimed) rather than cut short. */
static void test_big_argv_truncated(void **state)
{
	(void)state;
	struct de_proc *p = malloc(sizeof(*p));
	assert_non_null(p);
	struct de_bpfsnap *s = take(4096);
	ssize_t k = find(s, kids[1]);
	assert_true(k >= 0);
	unsigned have = de_bpfsnap_fill(s, (size_t)k, p);
	assert_true(have & DE_PF_BIT(DE_PF_CMDLINE));
	assert_true(p->argv_truncated);
	assert_int_equal(p->argv_len, 4096);
	assert_memory_equal(p->argv, "sh\0-c\0", 6);
	assert_int_equal(p->argv[4095], 'x');
	de_bpfsnap_free(s);

	s = take(1u << 20);
	k = find(s, kids[1]);
	assert_true(k >= 0);
	have = de_bpfsnap_fill(s, (size_t)k, p);
	assert_false(have & DE_PF_BIT(DE_PF_CMDLINE));
	de_bpfsnap_free(s);
	free(p);
}

/* ---- paths, fd count, cgroup: the BPF walks against /proc ---- */

#define DEEP 600 /* directory levels: beyond the iterator's walk limit */
#define MANY_FDS 300

static const enum de_pf walked[] = { DE_PF_EXE, DE_PF_CWD, DE_PF_ROOT, DE_PF_FD, DE_PF_CGROUP };

/* The walked fields of one process, copied (reader strings do not last). */
struct walked {
	int32_t pid;
	uint64_t start, runtime;
	int err[DE_ARRAY_SIZE(walked)];
	char *str[DE_ARRAY_SIZE(walked)]; /* exe, cwd, root, -, cgroup */
	uint32_t fd_count;
	bool exe_deleted, exe_memfd;
};

static void copy_walked(const struct de_proc *p, struct walked *w)
{
	const char *strs[] = { p->exe, p->cwd, p->root, NULL, p->cgroup };
	w->pid = p->pid;
	w->start = p->start_ticks;
	for (size_t k = 0; k < DE_ARRAY_SIZE(walked); k++) {
		w->err[k] = p->err[walked[k]];
		w->str[k] = w->err[k] == 0 && strs[k] ? strdup(strs[k]) : NULL;
	}
	w->fd_count = p->err[DE_PF_FD] == 0 ? p->fd_count : 0;
	w->exe_deleted = p->exe_deleted;
	w->exe_memfd = p->exe_memfd;
}

static void free_walked(struct walked *w)
{
	for (size_t k = 0; k < DE_ARRAY_SIZE(walked); k++)
		free(w->str[k]);
}

static bool same_field(const struct walked *x, const struct walked *y, size_t k)
{
	if (x->err[k] != y->err[k])
		return false;
	if (x->err[k] != 0)
		return true;
	if (walked[k] == DE_PF_FD)
		return x->fd_count == y->fd_count;
	if (walked[k] == DE_PF_EXE && (x->exe_deleted != y->exe_deleted ||
				       x->exe_memfd != y->exe_memfd))
		return false;
	return x->str[k] && y->str[k] && strcmp(x->str[k], y->str[k]) == 0;
}

/* Time the process's threads have run (ns, /proc/PID/task/TID/schedstat),
 * or UINT64_MAX when unreadable: a process whose runtime did not move
 * between two reads did not run, so nothing it owns changed meanwhile. */
static uint64_t runtime_ns(int32_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return UINT64_MAX;
	uint64_t sum = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p2[384];
		unsigned long long v;
		snprintf(p2, sizeof(p2), "%s/%s/schedstat", path, e->d_name);
		FILE *f = fopen(p2, "r");
		if (!f || fscanf(f, "%llu", &v) != 1)
			sum = UINT64_MAX;
		else if (sum != UINT64_MAX)
			sum += v;
		if (f)
			fclose(f);
	}
	closedir(d);
	return sum;
}

static void wait_exe(pid_t pid, const char *want_prefix, const char *want_suffix)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	for (int i = 0; i < 500; i++) {
		ssize_t n = readlink(path, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			size_t sl = strlen(want_suffix);
			if (strncmp(buf, want_prefix, strlen(want_prefix)) == 0 && (size_t)n >= sl &&
			    strcmp(buf + n - (ssize_t)sl, want_suffix) == 0)
				return;
		}
		usleep(10000);
	}
	fail_msg("child %d never showed exe %s...%s", (int)pid, want_prefix, want_suffix);
}

static int copy_file(const char *from, int to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	char buf[65536];
	ssize_t n;
	if (in < 0)
		return -1;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(to, buf, (size_t)n) != n)
			n = -1;
	close(in);
	return n < 0 ? -1 : 0;
}

static pid_t fork_quiet(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
		}
	}
	return pid;
}

enum { K_DELETED, K_MEMFD, K_ODDCWD, K_DEEP, K_CHROOT, K_FDS, K_ZOMBIE, K_CGROUP, K__N };

struct kids {
	pid_t pid[K__N];
	char tmp[64], odd[128], jail[128], cg[128], cgdir[160];
	bool cg_mounted;
};

static void start_kids(struct kids *k)
{
	snprintf(k->tmp, sizeof(k->tmp), "/tmp/de-bpfsnap-XXXXXX");
	assert_non_null(mkdtemp(k->tmp));
	int tmpfd = open(k->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(tmpfd >= 0);

	/* a binary deleted while it runs */
	char del[128];
	snprintf(del, sizeof(del), "%s/sleep-del", k->tmp);
	int fd = open(del, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
	assert_true(fd >= 0);
	assert_int_equal(copy_file("/bin/sleep", fd), 0);
	close(fd);
	if ((k->pid[K_DELETED] = fork_quiet()) == 0) {
		execl(del, "sleep-del", "3600", (char *)NULL);
		_exit(127);
	}
	wait_exe(k->pid[K_DELETED], k->tmp, "/sleep-del");
	assert_int_equal(unlink(del), 0);

	/* a binary run from a memfd (fexecve) */
	if ((k->pid[K_MEMFD] = fork_quiet()) == 0) {
		int mfd = memfd_create("de-memfd", 0);
		if (mfd < 0 || copy_file("/bin/sleep", mfd) < 0)
			_exit(126);
		char *const av[] = { (char *)"sleep", (char *)"3600", NULL };
		char *const ev[] = { NULL };
		fexecve(mfd, av, ev);
		_exit(127);
	}
	wait_exe(k->pid[K_MEMFD], "/memfd:de-memfd", " (deleted)");

	/* a working directory named with a space, a newline and invalid UTF-8 */
	snprintf(k->odd, sizeof(k->odd), "%s/a b\nc\xff", k->tmp);
	assert_int_equal(mkdir(k->odd, 0755), 0);
	if ((k->pid[K_ODDCWD] = fork_quiet()) == 0) {
		if (chdir(k->odd) == 0)
			execl("/bin/sleep", "sleep", "3600", (char *)NULL);
		_exit(127);
	}

	/* a working directory deeper than the iterator walks */
	int dfd = dup(tmpfd);
	for (int i = 0; i < DEEP && dfd >= 0; i++) {
		assert_int_equal(mkdirat(dfd, "d", 0755), 0);
		int nfd = openat(dfd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(dfd);
		dfd = nfd;
	}
	assert_true(dfd >= 0);
	if ((k->pid[K_DEEP] = fork_quiet()) == 0) {
		if (fchdir(dfd) == 0)
			execl("/bin/sleep", "sleep", "3600", (char *)NULL);
		_exit(127);
	}
	close(dfd);

	/* a chrooted process (it does not exec: the jail is empty) */
	snprintf(k->jail, sizeof(k->jail), "%s/jail", k->tmp);
	assert_int_equal(mkdir(k->jail, 0755), 0);
	if ((k->pid[K_CHROOT] = fork_quiet()) == 0) {
		if (chroot(k->jail) == 0 && chdir("/") == 0)
			pause();
		_exit(127);
	}

	/* many open files */
	if ((k->pid[K_FDS] = fork_quiet()) == 0) {
		for (int i = 0; i < MANY_FDS; i++)
			if (open("/dev/null", O_RDONLY) < 0)
				_exit(126);
		pause();
		_exit(0);
	}

	/* a zombie: exits, not reaped until the end */
	if ((k->pid[K_ZOMBIE] = fork()) == 0)
		_exit(0);

	/* a process in its own cgroup v2 group (a cgroup2 mount of our own) */
	snprintf(k->cg, sizeof(k->cg), "%s/cg", k->tmp);
	snprintf(k->cgdir, sizeof(k->cgdir), "%s/de-bpfsnap-%d", k->cg, (int)getpid());
	assert_int_equal(mkdir(k->cg, 0755), 0);
	if (mount("none", k->cg, "cgroup2", 0, NULL) == 0) {
		k->cg_mounted = true;
		assert_int_equal(mkdir(k->cgdir, 0755), 0);
		if ((k->pid[K_CGROUP] = fork_quiet()) == 0) {
			execl("/bin/sleep", "sleep", "3600", (char *)NULL);
			_exit(127);
		}
		char procs[200], pid[16];
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", k->cgdir);
		int pfd = open(procs, O_WRONLY | O_CLOEXEC);
		assert_true(pfd >= 0);
		int n = snprintf(pid, sizeof(pid), "%d", (int)k->pid[K_CGROUP]);
		assert_int_equal(write(pfd, pid, (size_t)n), n);
		close(pfd);
	} else {
		print_message("# SKIP cgroup v2 child: cannot mount cgroup2 (%s)\n", strerror(errno));
	}
	close(tmpfd);
	usleep(200000); /* the children settle (exec, chdir, chroot, opens) */
}

/* Teardown: runs even when the test failed half-way. */
static int stop_kids(void **state)
{
	struct kids *k = *state;
	for (int i = 0; i < K__N; i++) {
		if (k->pid[i] > 0) {
			if (i != K_ZOMBIE)
				kill(-k->pid[i], SIGKILL);
			waitpid(k->pid[i], NULL, 0);
		}
	}
	if (k->cg_mounted) {
		rmdir(k->cgdir);
		umount(k->cg);
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->tmp);
	int e = k->tmp[0] ? system(cmd) : 0;
	free(k);
	return e == 0 ? 0 : -1;
}

static int setup_kids(void **state)
{
	struct kids *k = calloc(1, sizeof(*k));
	if (!k)
		return -1;
	*state = k;
	start_kids(k);
	return 0;
}

/* The exe, cwd and root paths, fd count and cgroup of every process agree
 * between the BPF snapshot (completed from /proc only where the iterator
 * flagged a field) and /proc; our children exercise the hard cases. Other
 * work runs on the host: a process that ran at all between the /proc read
 * before the snapshot and the one after (its threads' runtime moved) may
 * have changed, and is left out. */
static void test_walks_agree_with_proc(void **state)
{
	struct kids *kp = *state, k = *kp;
	struct de_proc_reader *pr = reader(4096, 0);
	struct de_proc *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);

	/* /proc before the snapshot */
	size_t nbefore = 0, cap = 1024;
	struct walked *before = calloc(cap, sizeof(*before));
	assert_non_null(before);
	struct de_bpfsnap *s0 = take(4096); /* the pid list */
	for (size_t i = 0; i < de_bpfsnap_count(s0) && nbefore < cap; i++) {
		if (de_proc_read(pr, de_bpfsnap_pid(s0, i), b) == 0 && !b->partial) {
			copy_walked(b, &before[nbefore]);
			before[nbefore++].runtime = runtime_ns(b->pid);
		}
	}
	de_bpfsnap_free(s0);

	struct de_bpfsnap *s = take(4096);
	size_t compared = 0, skipped = 0;
	for (size_t i = 0; i < de_bpfsnap_count(s); i++) {
		unsigned have = de_bpfsnap_fill(s, i, a);
		if (!have)
			continue; /* pid 1 when read from /proc whole */
		assert_int_equal(de_proc_complete(pr, a, have), 0);
		struct walked wa = { 0 }, wb = { 0 };
		copy_walked(a, &wa);
		if (a->partial || de_proc_read(pr, a->pid, b) < 0 || b->partial) {
			free_walked(&wa);
			continue;
		}
		copy_walked(b, &wb);
		wb.runtime = runtime_ns(b->pid);
		const struct walked *w0 = NULL;
		for (size_t j = 0; j < nbefore; j++)
			if (before[j].pid == a->pid && before[j].start == a->start_ticks)
				w0 = &before[j];
		bool ours = false;
		for (int c = 0; c < K__N; c++)
			ours |= k.pid[c] == a->pid;
		for (size_t f = 0; f < DE_ARRAY_SIZE(walked); f++) {
			/* the test itself holds the BPF program's fds open while
			 * the iterator reads it, and not before or after */
			if (a->pid == getpid() && walked[f] == DE_PF_FD)
				continue;
			if (!ours && (!w0 || w0->runtime != wb.runtime || wb.runtime == UINT64_MAX ||
				      !same_field(w0, &wb, f))) {
				skipped++; /* changed while we looked */
				continue;
			}
			if (!same_field(&wa, &wb, f))
				fail_msg("pid %d (%s) %s: bpf err %d '%s' fd %u, proc err %d '%s' fd %u",
					 (int)a->pid, b->comm, de_pf_name(walked[f]), wa.err[f],
					 wa.str[f] ? wa.str[f] : "", wa.fd_count, wb.err[f],
					 wb.str[f] ? wb.str[f] : "", wb.fd_count);
			compared++;
		}
		free_walked(&wa);
		free_walked(&wb);
	}
	print_message("# compared %zu fields (%zu left out: changed meanwhile)\n", compared,
		      skipped);
	assert_true(compared >= 50);

	/* the hard cases, one by one */
	char want[4096];
	unsigned all = DE_PF_BIT(DE_PF_EXE) | DE_PF_BIT(DE_PF_CWD) | DE_PF_BIT(DE_PF_ROOT) |
		       DE_PF_BIT(DE_PF_FD) | DE_PF_BIT(DE_PF_CGROUP);
	ssize_t x = find(s, k.pid[K_DELETED]);
	assert_true(x >= 0);
	assert_int_equal(de_bpfsnap_fill(s, (size_t)x, a) & all, all);
	snprintf(want, sizeof(want), "%s/sleep-del", k.tmp);
	assert_string_equal(a->exe, want);
	assert_true(a->exe_deleted);
	assert_false(a->exe_memfd);

	x = find(s, k.pid[K_MEMFD]);
	assert_true(x >= 0);
	assert_int_equal(de_bpfsnap_fill(s, (size_t)x, a) & all, all);
	assert_string_equal(a->exe, "/memfd:de-memfd");
	assert_true(a->exe_deleted);
	assert_true(a->exe_memfd);

	x = find(s, k.pid[K_ODDCWD]);
	assert_true(x >= 0);
	assert_int_equal(de_bpfsnap_fill(s, (size_t)x, a) & all, all);
	assert_string_equal(a->cwd, k.odd);
	assert_string_equal(a->root, "/");

	x = find(s, k.pid[K_DEEP]); /* flagged: cwd comes from /proc */
	assert_true(x >= 0);
	unsigned have = de_bpfsnap_fill(s, (size_t)x, a);
	assert_int_equal(have & all, all & ~DE_PF_BIT(DE_PF_CWD));
	assert_int_equal(de_proc_complete(pr, a, have), 0);
	assert_int_equal(a->err[DE_PF_CWD], 0);
	assert_int_equal(strlen(a->cwd), strlen(k.tmp) + 2 * DEEP);

	x = find(s, k.pid[K_CHROOT]);
	assert_true(x >= 0);
	assert_int_equal(de_bpfsnap_fill(s, (size_t)x, a) & all, all);
	assert_string_equal(a->root, k.jail);
	assert_string_equal(a->cwd, k.jail);

	x = find(s, k.pid[K_FDS]);
	assert_true(x >= 0);
	assert_int_equal(de_bpfsnap_fill(s, (size_t)x, a) & all, all);
	assert_true(a->fd_count >= 3 + MANY_FDS); /* and what it inherited; equal to /proc above */

	x = find(s, k.pid[K_ZOMBIE]);
	assert_true(x >= 0);
	have = de_bpfsnap_fill(s, (size_t)x, a);
	assert_int_equal(have & all, all);
	assert_int_equal(a->state, 'Z');
	assert_int_equal(a->err[DE_PF_EXE], -ENOENT);
	assert_int_equal(a->err[DE_PF_EXE_FILE], -ENOENT);
	assert_int_equal(a->err[DE_PF_CWD], -ENOENT);
	assert_int_equal(a->err[DE_PF_NS], -ENOENT);
	assert_int_equal(a->fd_count, 0);

	if (k.cg_mounted) {
		x = find(s, k.pid[K_CGROUP]);
		assert_true(x >= 0);
		assert_int_equal(de_bpfsnap_fill(s, (size_t)x, a) & all, all);
		snprintf(want, sizeof(want), "/de-bpfsnap-%d", (int)getpid());
		assert_string_equal(a->cgroup, want);
		assert_null(a->container_id);
	}

	for (size_t j = 0; j < nbefore; j++)
		free_walked(&before[j]);
	free(before);
	free(a);
	free(b);
	de_proc_reader_free(pr);
	de_bpfsnap_free(s);
}

/* Load the program (argv cap, DE_BPFSNAP_* flags), or skip the test where
 * BPF cannot be had (no BPF in the build, not root); as root, failing to
 * load is a failure. */
static struct de_bpfsnap_prog *open_or_skip(uint32_t cap, unsigned flags)
{
	char why[256];
	struct de_bpfsnap_prog *pr = NULL;
	if (de_bpfsnap_open(cap, flags, &pr, why, sizeof(why)) < 0) {
		if (!de_bpfsnap_built() || geteuid() != 0) {
			print_message("# SKIP BPF snapshot unavailable: %s\n", why);
			skip();
		}
		fail_msg("loading as root: %s", why);
	}
	return pr;
}

/* Every process once, in pid order (the parallel readers' parts merged). */
static void assert_pid_order(const struct de_bpfsnap *s)
{
	for (size_t j = 1; j < de_bpfsnap_count(s); j++)
		assert_true(de_bpfsnap_pid(s, j - 1) < de_bpfsnap_pid(s, j));
}

/* A loaded program takes many snapshots (the collector's use). */
static void test_prog_reused(void **state)
{
	(void)state;
	char why[256];
	struct de_bpfsnap_prog *pr = open_or_skip(4096, 0);
	for (int i = 0; i < 3; i++) {
		struct de_bpfsnap *s = NULL;
		assert_int_equal(de_bpfsnap_read(pr, &s, why, sizeof(why)), 0);
		assert_true(find(s, getpid()) >= 0);
		assert_true(de_bpfsnap_count(s) >= 10);
		/* one reader per CPU, each a part of the processes: merged, every
		 * process once and in pid order, and none missing (pid 2,
		 * kthreadd, is in every snapshot whatever the part split) */
		assert_pid_order(s);
		assert_true(find(s, 2) >= 0);
		assert_true(find(s, getppid()) >= 0);
		de_bpfsnap_free(s);
	}
	de_bpfsnap_close(pr);
}

/* Parallel readers claim chunks of 64 pids as they reach them: 600 idle
 * children (many chunks, some shared with other processes) are each in
 * every snapshot exactly once, whichever reader got their chunk. */
enum { PAR_KIDS = 600 };
static pid_t par_kid[PAR_KIDS];

static int start_par_kids(void **state)
{
	(void)state;
	for (int i = 0; i < PAR_KIDS; i++) {
		par_kid[i] = fork();
		if (par_kid[i] < 0)
			return -1;
		if (par_kid[i] == 0) {
			pause();
			_exit(0);
		}
	}
	return 0;
}

/* Teardown, run even when the test failed: no child outlives it. */
static int stop_par_kids(void **state)
{
	(void)state;
	for (int i = 0; i < PAR_KIDS; i++)
		if (par_kid[i] > 0)
			kill(par_kid[i], SIGKILL);
	for (int i = 0; i < PAR_KIDS; i++)
		if (par_kid[i] > 0)
			waitpid(par_kid[i], NULL, 0);
	memset(par_kid, 0, sizeof(par_kid));
	return 0;
}

static void test_parallel_complete(void **state)
{
	(void)state;
	char why[256];
	struct de_bpfsnap_prog *pr = open_or_skip(4096, 0);
	for (int round = 0; round < 5; round++) {
		struct de_bpfsnap *s = NULL;
		assert_int_equal(de_bpfsnap_read(pr, &s, why, sizeof(why)), 0);
		assert_pid_order(s);
		int found = 0;
		for (int i = 0; i < PAR_KIDS; i++)
			found += find(s, par_kid[i]) >= 0;
		if (found != PAR_KIDS)
			de_bpfsnap_free(s);
		assert_int_equal(found, PAR_KIDS);
		assert_true(find(s, getpid()) >= 0);
		de_bpfsnap_free(s);
	}
	de_bpfsnap_close(pr);
}

/* Remove this build's pins of argv cap `cap` (the test's own). */
static void unpin(uint32_t cap)
{
	char suffix[32];
	snprintf(suffix, sizeof(suffix), "-%u", (unsigned)cap);
	DIR *d = opendir("/sys/fs/bpf/daemoneye");
	for (struct dirent *e; d && (e = readdir(d));) {
		size_t n = strlen(e->d_name), k = strlen(suffix);
		if (strncmp(e->d_name, "snapshot-", 9) == 0 && n > k &&
		    strcmp(e->d_name + n - k, suffix) == 0)
			assert_int_equal(unlinkat(dirfd(d), e->d_name, 0), 0);
	}
	if (d)
		closedir(d);
}

/* Fill (or empty again) every loaded de_split map with registrations of
 * thread ids no thread has (above any pid_max). Returns the entries
 * written. */
static int fill_split_maps(bool fill)
{
	int written = 0;
	for (uint32_t id = 0; bpf_map_get_next_id(id, &id) == 0;) {
		int fd = bpf_map_get_fd_by_id(id);
		if (fd < 0)
			continue;
		struct bpf_map_info mi;
		memset(&mi, 0, sizeof(mi));
		uint32_t len = sizeof(mi);
		if (bpf_obj_get_info_by_fd(fd, &mi, &len) == 0 && strcmp(mi.name, "de_split") == 0)
			for (uint32_t k = 0; k < mi.max_entries; k++) {
				uint32_t tid = 0xf0000000u + k;
				struct de_split_val v = { .a = 0xf0000000u, .b = 1 };
				if (!fill)
					bpf_map_delete_elem(fd, &tid);
				else if (bpf_map_update_elem(fd, &tid, &v, BPF_ANY) == 0)
					written++;
			}
		close(fd);
	}
	return written;
}

/* bpffs at /sys/fs/bpf, where pins go. A host that has not mounted it
 * (nothing in its boot did) still has it in the kernel: mount it for
 * this test process only, in a mount namespace of its own. */
static bool have_bpffs(char *why, size_t len)
{
	struct statfs st;
	if (statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return true;
	const char *step = "unshare(CLONE_NEWNS)";
	if (unshare(CLONE_NEWNS) == 0) {
		step = "making / private";
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0) {
			step = "mounting bpffs at /sys/fs/bpf";
			if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") == 0)
				return statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC;
		}
	}
	snprintf(why, len, "%s: %s", step, strerror(errno));
	return false;
}

/* DE_BPFSNAP_SHARED: the first open loads and, after its first read,
 * pins; the next open (another process, in real use) reuses the pinned
 * program, whose snapshots are as complete: a memfd executable's path
 * included, which the program learnt from its first reader. */
static void test_shared_prog(void **state)
{
	struct kids *k = *state;
	const uint32_t cap = 4000; /* a cap nothing else pins */
	char why[256];
	struct de_bpfsnap_prog *p1 = NULL, *p2 = NULL;
	if (!have_bpffs(why, sizeof(why))) {
		print_message("# SKIP no bpffs at /sys/fs/bpf (%s): nothing to reuse\n", why);
		skip();
	}
	unpin(cap);
	p1 = open_or_skip(cap, DE_BPFSNAP_SHARED);
	assert_false(de_bpfsnap_prog_reused(p1));
	struct de_bpfsnap *s = NULL;
	assert_int_equal(de_bpfsnap_read(p1, &s, why, sizeof(why)), 0);
	de_bpfsnap_free(s);
	assert_int_equal(de_bpfsnap_open(cap, DE_BPFSNAP_SHARED, &p2, why, sizeof(why)), 0);
	de_bpfsnap_close(p1); /* the pinned program outlives its loader */
	assert_true(de_bpfsnap_prog_reused(p2));
	assert_true(de_bpfsnap_prog_load_ns(p2) < 50 * 1000000ull);
	/* Readers killed mid-read left their registrations behind, as
	 * many as the map holds: parallel readers still get in. */
	int stale = fill_split_maps(true);
	assert_true(stale > 0);
	assert_int_equal(de_bpfsnap_read(p2, &s, why, sizeof(why)), 0);
	fill_split_maps(false);
	assert_true(find(s, getpid()) >= 0);
	struct de_proc *a = malloc(sizeof(*a));
	assert_non_null(a);
	unsigned all = DE_PF_BIT(DE_PF_EXE) | DE_PF_BIT(DE_PF_CWD) | DE_PF_BIT(DE_PF_ROOT);
	ssize_t x = find(s, k->pid[K_MEMFD]);
	assert_true(x >= 0);
	assert_int_equal(de_bpfsnap_fill(s, (size_t)x, a) & all, all);
	assert_string_equal(a->exe, "/memfd:de-memfd");
	assert_true(a->exe_memfd);
	x = find(s, k->pid[K_DELETED]);
	assert_true(x >= 0);
	assert_int_equal(de_bpfsnap_fill(s, (size_t)x, a) & all, all);
	assert_true(a->exe_deleted);
	assert_false(a->exe_memfd);
	free(a);
	de_bpfsnap_free(s);
	de_bpfsnap_close(p2);
	unpin(cap);
}

/* ---- the record parser on records built here (no kernel needed) ---- */

struct recs {
	uint8_t b[8192];
	size_t n;
};

static void put(struct recs *r, const void *p, size_t k)
{
	assert_true(r->n + k <= sizeof(r->b));
	memcpy(r->b + r->n, p, k);
	r->n += k;
}

static void put_proc(struct recs *r, int32_t tgid, const char *argv, uint32_t alen)
{
	struct de_snap_proc p;
	memset(&p, 0, sizeof(p));
	p.ids.kind = DE_SNAP_PROC;
	p.ids.tgid = tgid;
	p.ids.ppid = 1;
	p.ids.flags = DE_SNAP_F_MM;
	p.ids.nr_threads = 1;
	p.ids.argv_len = alen;
	memcpy(p.ids.comm, "sleep", 6);
	uint32_t body = alen + 4, padded = (body + 7) & ~7u;
	p.ids.size = (uint32_t)sizeof(p) + padded;
	put(r, &p, sizeof(p));
	put(r, argv, alen);
	uint8_t zero[16] = { 0 };
	put(r, zero, padded - alen); /* the argv status word (0) and padding */
}

static void put_name(struct recs *r, uint8_t field, const char *name)
{
	struct de_snap_name h = { .kind = DE_SNAP_NAME, .field = field, .len = (uint8_t)strlen(name) };
	h.size = 8 + ((h.len + 7u) & ~7u);
	uint8_t rec[264] = { 0 };
	memcpy(rec, &h, sizeof(h));
	memcpy(rec + sizeof(h), name, h.len);
	put(r, rec, h.size);
}

static void put_field(struct recs *r, uint8_t field, uint8_t flags, int32_t status)
{
	struct de_snap_field f = { .kind = DE_SNAP_FIELD, .field = field, .flags = flags,
				   .size = sizeof(f), .status = status, .value = 1 };
	put(r, &f, sizeof(f));
}

static void put_same(struct recs *r, uint8_t field, int32_t tgid)
{
	struct de_snap_same x = {
		.f = { .kind = DE_SNAP_FIELD, .field = field, .flags = DE_SNAP_P_SAME,
		       .size = sizeof(x), .value = 1 },
		.tgid = tgid,
	};
	put(r, &x, sizeof(x));
}

/* Every path the same as process tgid's, then the fd count. */
static void put_all_same(struct recs *r, int32_t tgid)
{
	for (uint8_t f = 0; f < DE_SNAP_PATHS; f++)
		put_same(r, f, tgid);
	put_field(r, DE_SNAP_FLD_FD, 0, 0);
}

/* The paths of pid 10 walked in full: /usr/bin/sleep, /tmp, /, a docker
 * cgroup. */
static void put_walked(struct recs *r)
{
	put_name(r, DE_SNAP_FLD_EXE, "sleep");
	put_name(r, DE_SNAP_FLD_EXE, "bin");
	put_name(r, DE_SNAP_FLD_EXE, "usr");
	put_field(r, DE_SNAP_FLD_EXE, 0, 0);
	put_name(r, DE_SNAP_FLD_CWD, "tmp");
	put_field(r, DE_SNAP_FLD_CWD, 0, 0);
	put_field(r, DE_SNAP_FLD_ROOT, 0, 0);
	put_name(r, DE_SNAP_FLD_CGROUP,
		 "docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope");
	put_name(r, DE_SNAP_FLD_CGROUP, "system.slice");
	put_field(r, DE_SNAP_FLD_CGROUP, 0, 0);
	put_field(r, DE_SNAP_FLD_FD, 0, 0);
}

/* DE_SNAP_P_SAME: a path the program did not walk again is the one of the
 * process it names when that is the last walk of the field the parser got;
 * when it is not (the kernel discarded that walk), the field is left to
 * /proc, never taken from another process. */
static void test_same_paths(void **state)
{
	(void)state;
	if (!de_bpfsnap_built()) {
		print_message("# SKIP built without BPF support\n");
		skip();
	}
	static struct recs r;
	r.n = 0;
	put_proc(&r, 10, "sleep\0" "1\0", 8);
	put_walked(&r);
	put_proc(&r, 11, "sleep\0" "2\0", 8);
	put_all_same(&r, 10);
	/* 12 names 9, whose walk never reached the parser */
	put_proc(&r, 12, "sleep\0" "3\0", 8);
	put_all_same(&r, 9);

	struct de_bpfsnap *s = NULL;
	assert_int_equal(de_bpfsnap_parse(r.b, r.n, 4096, true, &s), 0);
	assert_int_equal(de_bpfsnap_count(s), 3);
	struct de_proc *p = malloc(sizeof(*p));
	assert_non_null(p);
	unsigned paths = DE_PF_BIT(DE_PF_EXE) | DE_PF_BIT(DE_PF_CWD) | DE_PF_BIT(DE_PF_ROOT) |
			 DE_PF_BIT(DE_PF_CGROUP);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(de_bpfsnap_fill(s, i, p) & paths, paths);
		assert_int_equal(p->pid, 10 + (int)i);
		assert_string_equal(p->exe, "/usr/bin/sleep");
		assert_string_equal(p->cwd, "/tmp");
		assert_string_equal(p->root, "/");
		assert_string_equal(p->cgroup, "/system.slice/docker-0123456789abcdef0123456789abcdef"
						"0123456789abcdef0123456789abcdef.scope");
		assert_non_null(p->container_id);
		assert_string_equal(p->container_id,
				    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	}
	assert_int_equal(de_bpfsnap_fill(s, 2, p) & paths, 0);
	assert_int_equal(p->pid, 12);
	free(p);
	de_bpfsnap_free(s);

	/* malformed: a SAME record with names before it, or with a status */
	r.n = 0;
	put_proc(&r, 10, "a\0", 2);
	put_walked(&r);
	put_proc(&r, 11, "a\0", 2);
	put_name(&r, DE_SNAP_FLD_EXE, "x");
	put_same(&r, DE_SNAP_FLD_EXE, 10);
	assert_int_equal(de_bpfsnap_parse(r.b, r.n, 4096, true, &s), -EPROTO);
	r.n = 0;
	put_proc(&r, 10, "a\0", 2);
	put_same(&r, DE_SNAP_FLD_FD, 10); /* the fd count is no path */
	assert_int_equal(de_bpfsnap_parse(r.b, r.n, 4096, true, &s), -EPROTO);
	/* no process has a pid of 0 or less */
	for (int32_t bad = 0; bad >= -1; bad--) {
		r.n = 0;
		put_proc(&r, bad, "a\0", 2);
		assert_int_equal(de_bpfsnap_parse(r.b, r.n, 4096, true, &s), -EPROTO);
	}
	r.n = 0;
	put_proc(&r, INT32_MIN, "a\0", 2);
	assert_int_equal(de_bpfsnap_parse(r.b, r.n, 4096, true, &s), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agrees_with_proc),
		cmocka_unit_test(test_kernel_threads_flagged),
		cmocka_unit_test(test_big_argv_truncated),
		cmocka_unit_test_setup_teardown(test_walks_agree_with_proc, setup_kids, stop_kids),
		cmocka_unit_test(test_prog_reused),
		cmocka_unit_test_setup_teardown(test_parallel_complete, start_par_kids, stop_par_kids),
		cmocka_unit_test_setup_teardown(test_shared_prog, setup_kids, stop_kids),
		cmocka_unit_test(test_same_paths),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
