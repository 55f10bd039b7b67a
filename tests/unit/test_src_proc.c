/* test_src_proc.c: the /proc polling source on a live child: the
 * degraded status comes first, a new process is reported once (as an
 * exec seen by polling), its exec into another image is reported, its exit
 * is reported without a status, and nothing is reported twice across
 * polls. Polls every 100 ms (the configured minimum). Then on a fake /proc
 * tree: a process caught inside execve() (new image, command line not yet
 * written) is reported once, with its arguments, not twice. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evrec.h"
#include "source.h"

struct fixture {
	struct de_config cfg;
	struct evlog log;
	struct de_source *src;
	char root[64]; /* a fake /proc tree, or "" for the real one */
};

static int open_source(void **state, const char *proc_root)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(de_config_init(&f->cfg), 0);
	f->cfg.collector.poll_interval_ms = 100;
	if (!proc_root) {
		strcpy(f->root, "/tmp/de-fakeproc-XXXXXX");
		assert_non_null(mkdtemp(f->root));
		char p[128];
		snprintf(p, sizeof(p), "%s/sys/kernel/random", f->root);
		char cmd[160];
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", p);
		assert_int_equal(system(cmd), 0);
		snprintf(p, sizeof(p), "%s/sys/kernel/random/boot_id", f->root);
		FILE *b = fopen(p, "w");
		assert_non_null(b);
		fputs("0d7d2f0e-6b0c-4c39-9a5e-3e1f2d4c5b6a\n", b);
		fclose(b);
		proc_root = f->root;
	}
	struct de_source_opts o = { .cfg = &f->cfg, .sink = evlog_sink, .sink_ud = &f->log,
				    .proc_root = proc_root };
	char why[256];
	assert_int_equal(de_source_proc.open(&o, &f->src, why, sizeof(why)), 0);
	*state = f;
	return 0;
}

static int setup(void **state) { return open_source(state, "/proc"); }
static int setup_fake(void **state) { return open_source(state, NULL); }

static int teardown(void **state)
{
	struct fixture *f = *state;
	de_source_proc.close(f->src);
	evlog_free(&f->log);
	de_config_free(&f->cfg);
	if (f->root[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
		assert_int_equal(system(cmd), 0);
	}
	free(f);
	return 0;
}

/* Run the source's loop for `polls` scans, sleeping as timeout_ms() says
 * (the way the collector's epoll loop does). */
static void run_polls(struct fixture *f, int polls)
{
	assert_int_equal(de_source_proc.fd(f->src), -1);
	for (int i = 0; i < polls;) {
		int t = de_source_proc.timeout_ms(f->src);
		assert_true(t >= 0 && t <= 100);
		poll(NULL, 0, t);
		if (de_source_proc.timeout_ms(f->src) == 0) {
			assert_int_equal(de_source_proc.dispatch(f->src), 0);
			i++;
		}
	}
}

static void test_lifecycle(void **state)
{
	struct fixture *f = *state;
	assert_true(de_source_proc.snapshot(f->src) > 0);
	assert_true(f->log.n > 1);
	/* The degraded status comes before anything else. */
	assert_int_equal(f->log.v[0].type, DE_EV_STATUS);
	assert_int_equal(f->log.v[0].status, DE_ST_DEGRADED);
	assert_non_null(strstr(f->log.v[0].detail, "polling /proc every 100 ms"));
	for (size_t i = 1; i < f->log.n; i++)
		assert_int_not_equal(f->log.v[i].type, DE_EV_STATUS);
	assert_non_null(evlog_find(&f->log, DE_EV_SNAPSHOT, getpid()));
	run_polls(f, 2);
	size_t base = f->log.n;

	int go[2];
	assert_int_equal(pipe(go), 0);
	pid_t child = fork();
	if (child == 0) {
		close(go[1]);
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	run_polls(f, 3);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, child), 1);
	const struct evrec *e = evlog_find(&f->log, DE_EV_EXEC, child);
	assert_int_equal(e->source, DE_EVSRC_PROC);
	assert_true(e->have & DE_EVF_PROC);
	assert_int_equal(e->ppid, getpid());
	assert_true(e->have & DE_EVF_PARENT);
	assert_non_null(strstr(e->detail, "new process"));
	assert_int_equal(evlog_count(&f->log, DE_EV_EXIT, child), 0);

	/* exec into another image */
	assert_int_equal(write(go[1], "x", 1), 1);
	close(go[1]);
	for (int i = 0; i < 50 && evlog_count(&f->log, DE_EV_EXEC, child) < 2; i++)
		run_polls(f, 1);
	run_polls(f, 3);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, child), 2);
	const struct evrec *e2 = NULL;
	for (size_t i = base; i < f->log.n; i++)
		if (f->log.v[i].type == DE_EV_EXEC && f->log.v[i].pid == child)
			e2 = &f->log.v[i];
	assert_string_equal(e2->comm, "sleep");
	assert_string_equal(e2->argv, "sleep 30");
	assert_non_null(strstr(e2->detail, "image changed"));

	/* exit: reported once, without a status */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	run_polls(f, 3);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXIT, child), 1);
	e = evlog_find(&f->log, DE_EV_EXIT, child);
	assert_false(e->have & DE_EVF_EXIT);
	assert_string_equal(e->comm, "sleep");
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, child), 2);
	/* Our own process was never reported again. */
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, getpid()), 0);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXIT, getpid()), 0);
	assert_int_equal(evlog_count(&f->log, DE_EV_SNAPSHOT, getpid()), 1);
}

/* One process of the fake tree: stat (state, comm), an empty status,
 * cmdline (NUL-separated args, length n) and exe, a symlink. */
static void fake_proc(struct fixture *f, int pid, char state, const char *comm, const char *exe,
		      const char *cmdline, size_t n)
{
	char p[160];
	snprintf(p, sizeof(p), "%s/%d", f->root, pid);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/%d/stat", f->root, pid);
	FILE *st = fopen(p, "w");
	assert_non_null(st);
	fprintf(st, "%d (%s) %c 1 %d %d 0 -1 4194304 90 0 0 0 1 1 0 0 20 0 1 0 12345 2400000 200 "
		    "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
		pid, comm, state, pid, pid);
	fclose(st);
	snprintf(p, sizeof(p), "%s/%d/status", f->root, pid);
	FILE *su = fopen(p, "w");
	assert_non_null(su);
	fprintf(su, "Name:\t%s\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", comm);
	fclose(su);
	snprintf(p, sizeof(p), "%s/%d/cmdline", f->root, pid);
	FILE *c = fopen(p, "w");
	assert_non_null(c);
	assert_int_equal(fwrite(cmdline, 1, n, c), n);
	fclose(c);
	snprintf(p, sizeof(p), "%s/%d/exe", f->root, pid);
	unlink(p);
	assert_int_equal(symlink(exe, p), 0);
}

static const struct evrec *last_of(const struct fixture *f, enum de_event_type type, int pid)
{
	const struct evrec *r = NULL;
	for (size_t i = 0; i < f->log.n; i++)
		if (f->log.v[i].type == type && f->log.v[i].pid == pid)
			r = &f->log.v[i];
	return r;
}

/* A scan that catches a process inside execve() sees its new exe and comm
 * but an empty command line (the kernel writes the arguments last). That
 * exec is held back one scan and reported once, with its arguments; a
 * process that really has no arguments is reported a scan later, a zombie
 * (no command line for good) at once. A known process that is dying is
 * not reported as an exec. */
static void test_mid_exec(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(de_source_proc.snapshot(f->src), 0);
	run_polls(f, 1);
	size_t base = f->log.n;
	fake_proc(f, 4242, 'R', "sleep", "/bin/sleep", "", 0);     /* mid-exec */
	fake_proc(f, 4243, 'S', "noargs", "/bin/sleep", "", 0);    /* argc 0 */
	fake_proc(f, 4244, 'Z', "dead", "/bin/true", "", 0);       /* zombie */
	run_polls(f, 1);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, 4242), 0);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, 4243), 0);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, 4244), 1);

	fake_proc(f, 4242, 'S', "sleep", "/bin/sleep", "sleep\0" "30", 9);
	run_polls(f, 1);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, 4242), 1);
	const struct evrec *e = last_of(f, DE_EV_EXEC, 4242);
	assert_string_equal(e->argv, "sleep 30");
	assert_non_null(strstr(e->detail, "new process"));
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, 4243), 1);
	e = last_of(f, DE_EV_EXEC, 4243);
	assert_string_equal(e->argv, "");
	assert_string_equal(e->comm, "noargs");
	run_polls(f, 2);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, 4242), 1);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, 4243), 1);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, 4244), 1);

	/* 4242 execs again and is caught in the middle: one "image changed". */
	fake_proc(f, 4242, 'R', "true", "/bin/true", "", 0);
	run_polls(f, 1);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, 4242), 1);
	fake_proc(f, 4242, 'S', "true", "/bin/true", "true\0" "x", 7);
	run_polls(f, 2);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, 4242), 2);
	e = last_of(f, DE_EV_EXEC, 4242);
	assert_string_equal(e->argv, "true x");
	assert_string_equal(e->comm, "true");
	assert_non_null(strstr(e->detail, "image changed"));
	for (size_t i = base; i < f->log.n; i++)
		assert_int_not_equal(f->log.v[i].type, DE_EV_EXIT);

	/* Dying is not an exec: 4243 releases its memory (no command line,
	 * no exe), 4242 becomes a zombie; then both are gone: one exit each. */
	fake_proc(f, 4243, 'R', "noargs", "/bin/sleep", "", 0);
	char p[96];
	snprintf(p, sizeof(p), "%s/4243/exe", f->root);
	assert_int_equal(unlink(p), 0);
	fake_proc(f, 4242, 'Z', "true", "/bin/true", "", 0);
	run_polls(f, 2);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, 4242), 2);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, 4243), 1);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXIT, 4242), 0);
	/* A snapshot (a resync) still reports the dying (and zombie 4244). */
	assert_int_equal(de_source_proc.snapshot(f->src), 3);
	assert_int_equal(evlog_count(&f->log, DE_EV_SNAPSHOT, 4242), 1);
	assert_int_equal(evlog_count(&f->log, DE_EV_SNAPSHOT, 4243), 1);
	char cmd[192];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/4242' '%s/4243'", f->root, f->root);
	assert_int_equal(system(cmd), 0);
	run_polls(f, 2);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXIT, 4242), 1);
	assert_int_equal(evlog_count(&f->log, DE_EV_EXIT, 4243), 1);
	assert_string_equal(last_of(f, DE_EV_EXIT, 4242)->comm, "true");
	assert_int_equal(evlog_count(&f->log, DE_EV_EXEC, 4242), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mid_exec, setup_fake, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
