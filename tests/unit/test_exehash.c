/* test_exehash.c: the executable-hash cache. Real processes (this test,
 * a child running a deleted copy of sleep, a child running from a memfd),
 * a fake /proc tree, cache hits, algorithm merging, LRU eviction, the size
 * limit, and change detection driven by the after-read hook. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <grp.h>
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

#include "exehash.h"
#include "macros.h"

#define SLEEP_BIN "/bin/sleep"

/* --- helpers ------------------------------------------------------------ */

static void tmp_path(char *out, size_t n, const char *name)
{
	const char *dir = getenv("TMPDIR");
	snprintf(out, n, "%s/de-test-exehash-%d-%s", dir && *dir ? dir : "/tmp", (int)getpid(),
		 name);
}

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
}

/* Hash a path the plain way (no cache), for comparison. */
static void hash_path(const char *path, struct de_hashes *out)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(de_hash_fd(fd, DE_HASH_ALL, 0, out) >= 0);
}

static void assert_same_hashes(const struct de_hashes *a, const struct de_hashes *b)
{
	assert_memory_equal(a->sha256, b->sha256, DE_HASH_LEN);
	assert_memory_equal(a->blake3, b->blake3, DE_HASH_LEN);
}

static void *read_all(const char *path, size_t *n)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	uint8_t *p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
	*n = got;
	return p;
}

static void kill_child(pid_t pid)
{
	kill(pid, SIGKILL);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* Start `sleep 30` from `path` (fd < 0) or from `fd` (fexecve). Returns
 * the pid once the exec has succeeded (a CLOEXEC pipe closes at exec and
 * carries errno if it fails), or -errno of the failed exec. */
static pid_t spawn_sleep(const char *path, int fd)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { (char *)"sleep", (char *)"30", NULL };
		char *envp[] = { NULL };
		if (fd >= 0)
			fexecve(fd, argv, envp);
		else
			execve(path, argv, envp);
		int e = errno;
		(void)!write(p[1], &e, sizeof(e));
		_exit(127);
	}
	close(p[1]);
	int e = 0;
	ssize_t r;
	while ((r = read(p[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (r > 0) {
		kill_child(pid);
		return -e;
	}
	return pid;
}

/* --- tests ---------------------------------------------------------------- */

/* Our own executable via /proc/self's pid, against the file it came from. */
static void test_self(void **state)
{
	(void)state;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	struct de_hashes want;
	hash_path(exe, &want);

	struct de_exehash_cache *c = de_exehash_cache_new(16, 0);
	assert_non_null(c);
	struct de_file_id id;
	struct de_hashes got;
	bool cached = true;
	assert_int_equal(de_exehash_pid(c, "/proc", getpid(), DE_HASH_ALL, &id, &got, &cached), 0);
	assert_false(cached);
	assert_int_equal(got.algos, DE_HASH_ALL);
	assert_same_hashes(&got, &want);
	struct stat st;
	assert_int_equal(stat(exe, &st), 0);
	assert_int_equal(id.ino, (uint64_t)st.st_ino);
	assert_int_equal(id.size, (uint64_t)st.st_size);

	/* Second time: from the cache, same answer. NULL proc_root = /proc. */
	memset(&got, 0, sizeof(got));
	assert_int_equal(de_exehash_pid(c, NULL, getpid(), DE_HASH_ALL, &id, &got, &cached), 0);
	assert_true(cached);
	assert_same_hashes(&got, &want);

	struct de_exehash_stats s;
	de_exehash_stats(c, &s);
	assert_int_equal(s.hits, 1);
	assert_int_equal(s.misses, 1);
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.evictions, 0);
	assert_int_equal(s.entries, 1);
	de_exehash_cache_free(c);
}

/* An entry remembers its algorithms: asking for another one misses, the
 * result is merged, and then both hit. */
static void test_algo_merge(void **state)
{
	(void)state;
	struct de_exehash_cache *c = de_exehash_cache_new(4, 0);
	assert_non_null(c);
	_cleanup_close_ int fd = open(SLEEP_BIN, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct de_hashes want, got;
	hash_path(SLEEP_BIN, &want);
	bool cached;

	assert_int_equal(de_exehash_fd(c, fd, DE_HASH_BLAKE3, NULL, &got, &cached), 0);
	assert_false(cached);
	assert_int_equal(got.algos, DE_HASH_BLAKE3);
	assert_memory_equal(got.blake3, want.blake3, DE_HASH_LEN);

	assert_int_equal(de_exehash_fd(c, fd, DE_HASH_BLAKE3, NULL, &got, &cached), 0);
	assert_true(cached);

	assert_int_equal(de_exehash_fd(c, fd, DE_HASH_SHA256, NULL, &got, &cached), 0);
	assert_false(cached);
	assert_int_equal(got.algos, DE_HASH_ALL);
	assert_same_hashes(&got, &want);

	assert_int_equal(de_exehash_fd(c, fd, DE_HASH_ALL, NULL, &got, &cached), 0);
	assert_true(cached);
	assert_same_hashes(&got, &want);

	struct de_exehash_stats s;
	de_exehash_stats(c, &s);
	assert_int_equal(s.hits, 2);
	assert_int_equal(s.misses, 2);
	assert_int_equal(s.entries, 1);
	de_exehash_cache_free(c);
}

/* A two-entry cache: the least recently used entry is the one evicted. */
static void test_lru_eviction(void **state)
{
	(void)state;
	char path[3][PATH_MAX];
	int fd[3];
	for (int i = 0; i < 3; i++) {
		char name[8] = { 'l', 'r', 'u', (char)('a' + i), 0 };
		tmp_path(path[i], sizeof(path[i]), name);
		write_file(path[i], name, strlen(name), 0600);
		fd[i] = open(path[i], O_RDONLY | O_CLOEXEC);
		assert_true(fd[i] >= 0);
		unlink(path[i]);
	}
	struct de_exehash_cache *c = de_exehash_cache_new(2, 0);
	assert_non_null(c);
	struct de_hashes h;
	bool cached;
	assert_int_equal(de_exehash_fd(c, fd[0], DE_HASH_BLAKE3, NULL, &h, &cached), 0); /* A */
	assert_int_equal(de_exehash_fd(c, fd[1], DE_HASH_BLAKE3, NULL, &h, &cached), 0); /* B */
	assert_int_equal(de_exehash_fd(c, fd[0], DE_HASH_BLAKE3, NULL, &h, &cached), 0); /* A hit */
	assert_true(cached);
	/* C evicts B, the least recently used. */
	assert_int_equal(de_exehash_fd(c, fd[2], DE_HASH_BLAKE3, NULL, &h, &cached), 0);
	assert_false(cached);
	struct de_exehash_stats s;
	de_exehash_stats(c, &s);
	assert_int_equal(s.evictions, 1);
	assert_int_equal(s.entries, 2);

	assert_int_equal(de_exehash_fd(c, fd[0], DE_HASH_BLAKE3, NULL, &h, &cached), 0);
	assert_true(cached); /* A survived */
	assert_int_equal(de_exehash_fd(c, fd[2], DE_HASH_BLAKE3, NULL, &h, &cached), 0);
	assert_true(cached); /* C is there */
	assert_int_equal(de_exehash_fd(c, fd[1], DE_HASH_BLAKE3, NULL, &h, &cached), 0);
	assert_false(cached); /* B was evicted; it now evicts A */
	assert_int_equal(de_exehash_fd(c, fd[0], DE_HASH_BLAKE3, NULL, &h, &cached), 0);
	assert_false(cached);

	/* Every digest still belongs to its own file after the reuse. */
	for (int i = 0; i < 3; i++) {
		struct de_hashes want;
		char name[8] = { 'l', 'r', 'u', (char)('a' + i), 0 };
		assert_int_equal(de_hash_mem(name, strlen(name), DE_HASH_BLAKE3, &want), 0);
		assert_int_equal(de_exehash_fd(c, fd[i], DE_HASH_BLAKE3, NULL, &h, &cached), 0);
		assert_memory_equal(h.blake3, want.blake3, DE_HASH_LEN);
	}
	de_exehash_stats(c, &s);
	assert_int_equal(s.entries, 2);
	de_exehash_cache_free(c);
	for (int i = 0; i < 3; i++)
		close(fd[i]);
}

/* A cache of 0 entries hashes every time and stores nothing. */
static void test_no_cache(void **state)
{
	(void)state;
	struct de_exehash_cache *c = de_exehash_cache_new(0, 0);
	assert_non_null(c);
	_cleanup_close_ int fd = open(SLEEP_BIN, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct de_hashes h;
	bool cached;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(de_exehash_fd(c, fd, DE_HASH_SHA256, NULL, &h, &cached), 0);
		assert_false(cached);
	}
	struct de_exehash_stats s;
	de_exehash_stats(c, &s);
	assert_int_equal(s.misses, 3);
	assert_int_equal(s.entries, 0);
	de_exehash_cache_free(c);

	errno = 0;
	assert_null(de_exehash_cache_new(DE_EXEHASH_MAX_ENTRIES + 1, 0));
	assert_int_equal(errno, EINVAL);
	de_exehash_cache_free(NULL);
}

static void test_not_regular(void **state)
{
	(void)state;
	struct de_exehash_cache *c = de_exehash_cache_new(4, 0);
	assert_non_null(c);
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct de_hashes h;
	bool cached;
	assert_int_equal(de_exehash_fd(c, p[0], DE_HASH_ALL, NULL, &h, &cached), -EINVAL);
	close(p[0]);
	close(p[1]);
	_cleanup_close_ int dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(de_exehash_fd(c, dfd, DE_HASH_ALL, NULL, &h, &cached), -EINVAL);
	assert_int_equal(de_exehash_fd(c, -1, DE_HASH_ALL, NULL, &h, &cached), -EBADF);
	_cleanup_close_ int fd = open(SLEEP_BIN, O_RDONLY | O_CLOEXEC);
	assert_int_equal(de_exehash_fd(c, fd, 0, NULL, &h, &cached), -EINVAL);
	assert_int_equal(de_exehash_pid(c, "/proc", 0, DE_HASH_ALL, NULL, &h, &cached), -EINVAL);
	struct de_exehash_stats s;
	de_exehash_stats(c, &s);
	assert_int_equal(s.errors, 5);
	assert_int_equal(s.entries, 0);
	de_exehash_cache_free(c);
}

static void test_size_limit(void **state)
{
	(void)state;
	char path[PATH_MAX];
	tmp_path(path, sizeof(path), "limit");
	write_file(path, "0123456789", 10, 0600);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	unlink(path);
	assert_true(fd >= 0);
	struct de_hashes h;
	bool cached;

	struct de_exehash_cache *c = de_exehash_cache_new(4, 9);
	assert_non_null(c);
	assert_int_equal(de_exehash_fd(c, fd, DE_HASH_ALL, NULL, &h, &cached), -EFBIG);
	assert_int_equal(h.algos, 0);
	de_exehash_cache_free(c);

	c = de_exehash_cache_new(4, 10);
	assert_non_null(c);
	assert_int_equal(de_exehash_fd(c, fd, DE_HASH_ALL, NULL, &h, &cached), 0);
	de_exehash_cache_free(c);
}

static void test_file_id_equal(void **state)
{
	(void)state;
	const struct de_file_id base = { 1, 2, 3, 4, 5 };
	assert_true(de_file_id_equal(&base, &base));
	for (int field = 0; field < 5; field++) {
		struct de_file_id o = base;
		switch (field) {
		case 0: o.dev++; break;
		case 1: o.ino++; break;
		case 2: o.size++; break;
		case 3: o.mtime_ns++; break;
		default: o.ctime_ns++; break;
		}
		assert_false(de_file_id_equal(&base, &o));
	}
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_dev = 7;
	st.st_ino = 8;
	st.st_size = 9;
	st.st_mtim.tv_sec = 10;
	st.st_mtim.tv_nsec = 11;
	st.st_ctim.tv_sec = 12;
	st.st_ctim.tv_nsec = 13;
	struct de_file_id id;
	de_file_id_from_stat(&st, &id);
	assert_int_equal(id.dev, 7);
	assert_int_equal(id.ino, 8);
	assert_int_equal(id.size, 9);
	assert_int_equal(id.mtime_ns, 10000000011);
	assert_int_equal(id.ctime_ns, 12000000013);
}

/* --- change detection through the after-read hook --------------------- */

struct change {
	int how; /* 0: append a byte, 1: rewrite in place + restore mtime, 2: nothing */
	const char *path;
	int calls;
};

static void change_file(int fd, void *ud)
{
	(void)fd;
	struct change *ch = ud;
	ch->calls++;
	_cleanup_close_ int w = open(ch->path, O_WRONLY | O_CLOEXEC);
	assert_true(w >= 0);
	if (ch->how == 0) {
		assert_int_equal(pwrite(w, "!", 1, 10), 1);
	} else if (ch->how == 1) {
		/* Same size, same mtime (forged back): only ctime moves. */
		struct stat st;
		assert_int_equal(fstat(w, &st), 0);
		assert_int_equal(pwrite(w, "X", 1, 0), 1);
		struct timespec ts[2] = { st.st_atim, st.st_mtim };
		/* ctime has the clock's granularity: make sure it can tick. */
		struct timespec pause = { 0, 20 * 1000 * 1000 };
		nanosleep(&pause, NULL);
		assert_int_equal(futimens(w, ts), 0);
	}
}

static void test_change_detection(void **state)
{
	(void)state;
	char path[PATH_MAX];
	tmp_path(path, sizeof(path), "change");
	write_file(path, "0123456789", 10, 0600);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct de_exehash_cache *c = de_exehash_cache_new(4, 0);
	assert_non_null(c);
	struct de_hashes h;
	bool cached;
	struct de_exehash_stats s;

	for (int how = 0; how < 2; how++) {
		struct change ch = { how, path, 0 };
		de_exehash_set_after_read_hook(c, change_file, &ch);
		assert_int_equal(de_exehash_fd(c, fd, DE_HASH_ALL, NULL, &h, &cached), -EAGAIN);
		assert_int_equal(ch.calls, 1);
		assert_int_equal(h.algos, 0);
		de_exehash_stats(c, &s);
		assert_int_equal(s.entries, 0); /* nothing cached */
	}

	/* Unchanged file with the hook in place: success, then a hit that
	 * does not read (the hook is not called again). */
	struct change quiet = { 2, path, 0 };
	de_exehash_set_after_read_hook(c, change_file, &quiet);
	assert_int_equal(de_exehash_fd(c, fd, DE_HASH_ALL, NULL, &h, &cached), 0);
	assert_false(cached);
	assert_int_equal(de_exehash_fd(c, fd, DE_HASH_ALL, NULL, &h, &cached), 0);
	assert_true(cached);
	assert_int_equal(quiet.calls, 1);
	de_exehash_set_after_read_hook(c, NULL, NULL);

	/* The content is what the file holds now ("X123456789!"). */
	struct de_hashes want;
	assert_int_equal(de_hash_mem("X123456789!", 11, DE_HASH_ALL, &want), 0);
	assert_same_hashes(&h, &want);
	de_exehash_stats(c, &s);
	assert_int_equal(s.errors, 2);
	assert_int_equal(s.entries, 1);
	de_exehash_cache_free(c);
	unlink(path);
}

/* --- real processes ------------------------------------------------------- */

/* A child running a copy of sleep that is then deleted: /proc/<pid>/exe
 * still reads the original bytes. */
static void test_deleted_executable(void **state)
{
	(void)state;
	size_t n;
	_cleanup_free_ void *bytes = read_all(SLEEP_BIN, &n);
	struct de_hashes want;
	assert_int_equal(de_hash_mem(bytes, n, DE_HASH_ALL, &want), 0);

	char path[PATH_MAX];
	tmp_path(path, sizeof(path), "deleted-sleep");
	write_file(path, bytes, n, 0700);
	pid_t pid = spawn_sleep(path, -1);
	if (pid == -EACCES || pid == -EPERM) {
		unlink(path);
		skip(); /* temp directory mounted noexec */
	}
	assert_true(pid > 0);
	assert_int_equal(unlink(path), 0);

	char link[64], target[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	ssize_t l = readlink(link, target, sizeof(target) - 1);
	assert_true(l > 0);
	target[l] = '\0';
	assert_non_null(strstr(target, "(deleted)"));

	struct de_exehash_cache *c = de_exehash_cache_new(4, 0);
	assert_non_null(c);
	struct de_hashes got;
	bool cached;
	struct de_file_id id;
	int r = de_exehash_pid(c, "/proc", pid, DE_HASH_ALL, &id, &got, &cached);
	kill_child(pid);
	assert_int_equal(r, 0);
	assert_same_hashes(&got, &want);
	assert_int_equal(id.size, (uint64_t)n);
	de_exehash_cache_free(c);
}

/* A child running from a memfd (fileless execution). */
static void test_memfd_executable(void **state)
{
	(void)state;
	size_t n;
	_cleanup_free_ void *bytes = read_all(SLEEP_BIN, &n);
	struct de_hashes want;
	assert_int_equal(de_hash_mem(bytes, n, DE_HASH_ALL, &want), 0);

#ifdef MFD_EXEC
	_cleanup_close_ int mfd = memfd_create("de-test-sleep", MFD_CLOEXEC | MFD_EXEC);
	if (mfd < 0 && errno == EINVAL) /* kernel older than 6.3 */
		mfd = memfd_create("de-test-sleep", MFD_CLOEXEC);
#else
	_cleanup_close_ int mfd = memfd_create("de-test-sleep", MFD_CLOEXEC);
#endif
	assert_true(mfd >= 0);
	assert_int_equal(write(mfd, bytes, n), (ssize_t)n);
	pid_t pid = spawn_sleep(NULL, mfd);
	if (pid == -EACCES || pid == -EPERM)
		skip(); /* vm.memfd_noexec forbids executing memfds here */
	assert_true(pid > 0);

	char link[64], target[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	ssize_t l = readlink(link, target, sizeof(target) - 1);
	assert_true(l > 0);
	target[l] = '\0';
	assert_true(strncmp(target, "/memfd:de-test-sleep", 20) == 0);

	struct de_exehash_cache *c = de_exehash_cache_new(4, 0);
	assert_non_null(c);
	struct de_hashes got;
	bool cached;
	int r = de_exehash_pid(c, "/proc", pid, DE_HASH_ALL, NULL, &got, &cached);
	kill_child(pid);
	assert_int_equal(r, 0);
	assert_same_hashes(&got, &want);
	de_exehash_cache_free(c);
}

/* A process that has exited and been reaped: ENOENT (or ESRCH). */
static void test_gone_process(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	struct de_exehash_cache *c = de_exehash_cache_new(4, 0);
	assert_non_null(c);
	struct de_hashes h;
	bool cached;
	int r = de_exehash_pid(c, "/proc", pid, DE_HASH_ALL, NULL, &h, &cached);
	assert_true(r == -ENOENT || r == -ESRCH);
	de_exehash_cache_free(c);
}

/* Kernel threads have no executable: ENOENT (for root). Found by the PF_KTHREAD flag
 * in /proc/<pid>/stat (a pid namespace may show none: then skipped). */
static pid_t find_kthread(void)
{
	for (pid_t pid = 2; pid < 200; pid++) {
		char path[64], buf[1024];
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		const char *p = strrchr(buf, ')');
		if (!p)
			continue;
		/* After ") ": state ppid pgrp session tty_nr tpgid flags */
		unsigned long flags = 0;
		if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %lu", &flags) == 1 &&
		    (flags & 0x00200000ul))
			return pid;
	}
	return 0;
}

static void test_kernel_thread(void **state)
{
	(void)state;
	pid_t pid = find_kthread();
	if (pid == 0)
		skip();
	struct de_exehash_cache *c = de_exehash_cache_new(4, 0);
	assert_non_null(c);
	struct de_hashes h;
	bool cached;
	int r = de_exehash_pid(c, "/proc", pid, DE_HASH_ALL, NULL, &h, &cached);
	/* Without privilege the ptrace access check (EACCES) comes first. */
	if (geteuid() == 0)
		assert_int_equal(r, -ENOENT);
	else
		assert_true(r == -ENOENT || r == -EACCES || r == -EPERM);
	de_exehash_cache_free(c);
}

/* Another user's process is not readable: EACCES (or EPERM). As root, the
 * check runs in a child that drops to nobody. */
static void test_permission_denied(void **state)
{
	(void)state;
	struct stat st;
	if (stat("/proc/1", &st) < 0)
		skip();
	if (geteuid() != 0) {
		if (st.st_uid == geteuid())
			skip(); /* we own pid 1 (a container): nothing to deny */
		struct de_exehash_cache *c = de_exehash_cache_new(4, 0);
		assert_non_null(c);
		struct de_hashes h;
		bool cached;
		int r = de_exehash_pid(c, "/proc", 1, DE_HASH_ALL, NULL, &h, &cached);
		de_exehash_cache_free(c);
		assert_true(r == -EACCES || r == -EPERM);
		return;
	}
	if (st.st_uid != 0)
		skip();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		struct de_exehash_cache *c = de_exehash_cache_new(4, 0);
		struct de_hashes h;
		bool cached;
		int r = c ? de_exehash_pid(c, "/proc", 1, DE_HASH_ALL, NULL, &h, &cached) : -ENOMEM;
		_exit(r == -EACCES || r == -EPERM ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A fake proc tree: proc_root is honoured, a link to a FIFO is rejected
 * without blocking, a missing pid is ENOENT. */
static void test_proc_root(void **state)
{
	(void)state;
	char root[256], dir[512], link[1024], file[256], fifo[256];
	tmp_path(root, sizeof(root), "proc");
	tmp_path(file, sizeof(file), "fake-exe");
	tmp_path(fifo, sizeof(fifo), "fake-fifo");
	assert_int_equal(mkdir(root, 0700), 0);
	write_file(file, "fake executable", 15, 0700);
	assert_int_equal(mkfifo(fifo, 0600), 0);

	snprintf(dir, sizeof(dir), "%s/100", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(link, sizeof(link), "%s/exe", dir);
	assert_int_equal(symlink(file, link), 0);
	snprintf(dir, sizeof(dir), "%s/200", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	char link2[1024];
	snprintf(link2, sizeof(link2), "%s/exe", dir);
	assert_int_equal(symlink(fifo, link2), 0);

	struct de_exehash_cache *c = de_exehash_cache_new(4, 0);
	assert_non_null(c);
	struct de_hashes h, want;
	bool cached;
	assert_int_equal(de_exehash_pid(c, root, 100, DE_HASH_ALL, NULL, &h, &cached), 0);
	assert_int_equal(de_hash_mem("fake executable", 15, DE_HASH_ALL, &want), 0);
	assert_same_hashes(&h, &want);
	assert_int_equal(de_exehash_pid(c, root, 200, DE_HASH_ALL, NULL, &h, &cached), -EINVAL);
	assert_int_equal(de_exehash_pid(c, root, 300, DE_HASH_ALL, NULL, &h, &cached), -ENOENT);
	de_exehash_cache_free(c);

	unlink(link);
	unlink(link2);
	snprintf(dir, sizeof(dir), "%s/100", root);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "%s/200", root);
	rmdir(dir);
	rmdir(root);
	unlink(file);
	unlink(fifo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_algo_merge),
		cmocka_unit_test(test_lru_eviction),
		cmocka_unit_test(test_no_cache),
		cmocka_unit_test(test_not_regular),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_file_id_equal),
		cmocka_unit_test(test_change_detection),
		cmocka_unit_test(test_deleted_executable),
		cmocka_unit_test(test_memfd_executable),
		cmocka_unit_test(test_gone_process),
		cmocka_unit_test(test_kernel_thread),
		cmocka_unit_test(test_permission_denied),
		cmocka_unit_test(test_proc_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
