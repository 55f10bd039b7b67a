/* test_src_proc.c: the /proc polling source on a live child: the
 * degraded status comes first, a new process is reported once (as an
 * exec seen by polling), its exec into another image is reported, its exit
 * is reported without a status, and nothing is reported twice across
 * polls. Polls every 100 ms (the configured minimum). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evrec.h"
#include "source.h"

struct fixture {
	struct de_config cfg;
	struct evlog log;
	struct de_source *src;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(de_config_init(&f->cfg), 0);
	f->cfg.collector.poll_interval_ms = 100;
	struct de_source_opts o = { .cfg = &f->cfg, .sink = evlog_sink, .sink_ud = &f->log,
				    .proc_root = "/proc" };
	char why[256];
	assert_int_equal(de_source_proc.open(&o, &f->src, why, sizeof(why)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	de_source_proc.close(f->src);
	evlog_free(&f->log);
	de_config_free(&f->cfg);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
