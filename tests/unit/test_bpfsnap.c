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
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpfsnap.h"
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

/* Every process in both snapshots agrees on identity, parent, uids, comm,
 * argv and entity id. */
static void test_agrees_with_proc(void **state)
{
	(void)state;
	struct de_bpfsnap *s = take(32768);
	struct de_proc_reader *pr = reader(32768, 0);
	struct de_proc_reader *br = reader(32768, DE_PF_BIT(DE_PF_STAT) | DE_PF_BIT(DE_PF_CMDLINE));
	struct de_proc *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	size_t compared = 0, argv_compared = 0;
	for (size_t i = 0; i < de_bpfsnap_count(s); i++) {
		unsigned have = de_bpfsnap_fill(s, i, a);
		if (!have) { /* pid 1, left out by the kernel's iterator: from /proc */
			assert_int_equal(a->pid, 1);
			continue;
		}
		assert_int_equal(de_proc_complete(br, a, have), 0);
		if (de_proc_read(pr, a->pid, b) < 0 || b->partial || a->partial)
			continue; /* exited in between */
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
	print_message("# compared %zu processes (%zu argv)\n", compared, argv_compared);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agrees_with_proc),
		cmocka_unit_test(test_kernel_threads_flagged),
		cmocka_unit_test(test_big_argv_truncated),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
