/* test_collector.c: the runner: a forced source that cannot start fails
 * with the reason; auto falls back and says why (unprivileged child: no
 * netlink, /proc polling); status events, seq numbers and times; the
 * startup snapshot; stopping by sink, by duration; a resync after drops. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>

#include "collector.h"
#include "evrec.h"
#include "hash.h"
#include "proctable.h"

struct fixture {
	struct de_config cfg;
	struct evlog log;
	struct de_collector *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(de_config_init(&f->cfg), 0);
	f->cfg.collector.poll_interval_ms = 100;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	de_collector_close(f->c);
	evlog_free(&f->log);
	de_config_free(&f->cfg);
	free(f);
	return 0;
}

static int open_c(struct fixture *f, enum de_source_choice src, uint32_t rcvbuf, char *why,
		  size_t why_len)
{
	struct de_collector_opts o = { .cfg = &f->cfg, .source = src, .sink = evlog_sink,
				       .sink_ud = &f->log, .netlink_rcvbuf_bytes = rcvbuf };
	return de_collector_open(&o, &f->c, why, why_len);
}

/* With the live table and the hash worker; a small eBPF ring or netlink
 * buffer when asked (0: defaults). */
static int open_table(struct fixture *f, enum de_source_choice src, uint32_t small, char *why,
		      size_t why_len)
{
	struct de_collector_opts o = { .cfg = &f->cfg, .source = src, .sink = evlog_sink,
				       .sink_ud = &f->log, .table = true, .hash = true };
	if (src == DE_SOURCE_NETLINK)
		o.netlink_rcvbuf_bytes = small;
	else
		o.ringbuf_bytes = small;
	return de_collector_open(&o, &f->c, why, why_len);
}

static void test_forced_ebpf(void **state)
{
	struct fixture *f = *state;
	char why[512];
	int r = open_c(f, DE_SOURCE_EBPF, 0, why, sizeof(why));
	if (de_collector_has(DE_EVSRC_EBPF) && geteuid() == 0) {
		/* built in and root: forcing it starts it */
		if (r < 0)
			fail_msg("forced ebpf: %s", why);
		assert_int_equal(de_collector_kind(f->c), DE_EVSRC_EBPF);
		de_collector_close(f->c);
		f->c = NULL;
		return;
	}
	assert_true(r < 0);
	assert_null(f->c);
	if (!de_collector_has(DE_EVSRC_EBPF))
		assert_string_equal(why, "ebpf: the eBPF event source is not built in this build");
}

/* In a child as uid 65534: run fn, write its report to the pipe. */
static void as_nobody(void (*fn)(int out), char *report, size_t cap)
{
	if (geteuid() != 0)
		skip();
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t p = fork();
	if (p == 0) {
		close(fds[0]);
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		fn(fds[1]);
		_exit(0);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t k;
	while (n + 1 < cap && (k = read(fds[0], report + n, cap - 1 - n)) > 0)
		n += (size_t)k;
	report[n] = '\0';
	close(fds[0]);
	int st;
	assert_int_equal(waitpid(p, &st, 0), p);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void forced_netlink_child(int out)
{
	struct fixture f = { 0 };
	de_config_init(&f.cfg);
	char why[512] = "";
	int r = open_c(&f, DE_SOURCE_NETLINK, 0, why, sizeof(why));
	dprintf(out, "r=%d why=%s\n", r, why);
}

/* A child's multi-line report as TAP comments. */
static void print_report(const char *report)
{
	for (const char *p = report; *p;) {
		size_t n = strcspn(p, "\n");
		printf("# %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
}

static void test_forced_netlink_unprivileged(void **state)
{
	(void)state;
	char report[2048];
	as_nobody(forced_netlink_child, report, sizeof(report));
	print_report(report);
	assert_non_null(strstr(report, "r=-1 "));
	assert_non_null(strstr(report, "why=netlink: needs root (CAP_NET_ADMIN)"));
}

static void auto_child(int out)
{
	struct fixture f = { 0 };
	de_config_init(&f.cfg);
	char why[512] = "";
	int r = open_c(&f, DE_SOURCE_AUTO, 0, why, sizeof(why));
	dprintf(out, "r=%d kind=%s\n", r, r == 0 ? de_event_source_name(de_collector_kind(f.c)) : "-");
	for (size_t i = 0; i < f.log.n; i++)
		dprintf(out, "%llu %s %s %s: %s\n", (unsigned long long)f.log.v[i].seq,
			de_event_type_name(f.log.v[i].type), de_status_kind_name(f.log.v[i].status),
			de_event_source_name(f.log.v[i].source), f.log.v[i].detail);
	de_collector_close(f.c);
}

static void test_auto_fallback_unprivileged(void **state)
{
	(void)state;
	char report[4096];
	as_nobody(auto_child, report, sizeof(report));
	print_report(report);
	assert_non_null(strstr(report, "r=0 kind=proc\n"));
	if (!de_collector_has(DE_EVSRC_EBPF))
		assert_non_null(strstr(report, "1 status degraded ebpf: ebpf unavailable: the eBPF "
					       "event source is not built in this build\n"));
	else
		assert_non_null(strstr(report, "1 status degraded ebpf: ebpf unavailable: ebpf: "));
	assert_non_null(strstr(report, "status degraded netlink: netlink unavailable: needs root "
				       "(CAP_NET_ADMIN)"));
	assert_non_null(strstr(report, "status started proc: proc (auto; unavailable: "));
}

static int stop_at_marker(const struct evrec *r, void *ud)
{
	return r->type == DE_EV_EXEC && strstr(r->argv, (const char *)ud) ? -ECANCELED : 0;
}

static void test_run_root(void **state)
{
	struct fixture *f = *state;
	if (geteuid() != 0)
		skip();
	char marker[64], why[512];
	snprintf(marker, sizeof(marker), "de-run-%d", (int)getpid());
	f->log.stop = stop_at_marker;
	f->log.stop_ud = marker;
	assert_int_equal(open_c(f, DE_SOURCE_AUTO, 0, why, sizeof(why)), 0);
	assert_int_not_equal(de_collector_kind(f->c), DE_EVSRC_PROC);
	pid_t p = fork();
	if (p == 0) {
		usleep(500000); /* after the startup snapshot has begun */
		execl("/bin/sh", "sh", "-c", "sleep 3", marker, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(de_collector_run(f->c, 20000), 0);
	waitpid(p, NULL, 0);
	/* seq 1..n without gaps, every event timed */
	for (size_t i = 0; i < f->log.n; i++) {
		assert_int_equal(f->log.v[i].seq, i + 1);
		assert_true(f->log.v[i].time_ns > 1600000000000000000ll);
	}
	const struct evrec *last = &f->log.v[f->log.n - 1];
	assert_int_equal(last->type, DE_EV_EXEC);
	assert_int_equal(last->pid, p);
	assert_non_null(evlog_find(&f->log, DE_EV_SNAPSHOT, getpid()));
	assert_non_null(evlog_find(&f->log, DE_EV_SNAPSHOT, 1));
	const struct evrec *started = NULL;
	for (size_t i = 0; i < f->log.n && !started; i++)
		if (f->log.v[i].type == DE_EV_STATUS && f->log.v[i].status == DE_ST_STARTED)
			started = &f->log.v[i];
	assert_non_null(started);
	assert_true(started->seq < evlog_find(&f->log, DE_EV_SNAPSHOT, 1)->seq);
}

static void test_duration_and_proc(void **state)
{
	struct fixture *f = *state;
	char why[512];
	assert_int_equal(open_c(f, DE_SOURCE_PROC, 0, why, sizeof(why)), 0);
	assert_int_equal(de_collector_kind(f->c), DE_EVSRC_PROC);
	assert_int_equal(de_collector_run(f->c, 300), 0);
	assert_true(f->log.n > 3);
	assert_int_equal(f->log.v[0].status, DE_ST_STARTED);
	assert_string_equal(f->log.v[0].detail, "proc (forced)");
	assert_int_equal(f->log.v[1].status, DE_ST_DEGRADED);
	const struct evrec *last = &f->log.v[f->log.n - 1];
	assert_int_equal(last->type, DE_EV_STATUS);
	assert_int_equal(last->status, DE_ST_STOPPED);
	assert_string_equal(last->detail, "duration elapsed");
}

static void test_resync_after_drops(void **state)
{
	struct fixture *f = *state;
	if (geteuid() != 0)
		skip();
	char why[512];
	if (open_c(f, DE_SOURCE_NETLINK, 4096, why, sizeof(why)) < 0) {
		printf("# SKIP %s\n", why);
		skip();
	}
	/* The burst happens while nobody reads the subscribed socket, so its
	 * 4 KiB buffer overflows however fast the machine is. */
	pid_t burst = fork();
	if (burst == 0) {
		for (int i = 0; i < 2000; i++) {
			pid_t q = fork();
			if (q == 0)
				_exit(0);
			if (q > 0)
				waitpid(q, NULL, 0);
		}
		_exit(0);
	}
	waitpid(burst, NULL, 0);
	assert_int_equal(de_collector_run(f->c, 3000), 0);
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	/* every drop report is followed by a resync (reports close together
	 * share one), and a resync comes right after its snapshot events */
	size_t drops = 0, resyncs = 0, unhealed = 0;
	int64_t last_drop_ns = 0;
	for (size_t i = 0; i < f->log.n; i++) {
		if (f->log.v[i].type != DE_EV_STATUS)
			continue;
		if (f->log.v[i].status == DE_ST_DROPS) {
			drops++;
			unhealed = 1;
			last_drop_ns = f->log.v[i].time_ns;
		} else if (f->log.v[i].status == DE_ST_RESYNC) {
			resyncs += unhealed; /* not the startup snapshot */
			unhealed = 0;
			assert_int_equal(f->log.v[i - 1].type, DE_EV_SNAPSHOT);
		}
	}
	printf("# burst of 2000 forks with a 4 KiB buffer: %zu drop reports, %zu resyncs\n", drops,
	       resyncs);
	assert_true(drops >= 1);
	assert_true(resyncs >= 1 && resyncs <= drops);
	/* Other work on the host keeps the 4 KiB buffer overflowing: a report
	 * in the run's last second may not have its resync yet (resyncs are
	 * at least 250 ms apart and a snapshot takes time); an older one must. */
	int64_t end_ns = (int64_t)end.tv_sec * 1000000000 + end.tv_nsec;
	if (unhealed)
		printf("# the last drop report came %.0f ms before the end, its resync after it\n",
		       (double)(end_ns - last_drop_ns) / 1e6);
	assert_true(!unhealed || end_ns - last_drop_ns < 1000000000);
}

/* A child that execs twice without forking (sh, then sleep) is one record
 * with two images, its exit code is recorded, its parent is this process,
 * and the hash worker's result lands on the right image. */
static void table_images(struct fixture *f, enum de_source_choice src)
{
	if (geteuid() != 0)
		skip();
	char why[512];
	if (open_table(f, src, 0, why, sizeof(why)) < 0) {
		printf("# SKIP %s\n", why);
		skip();
	}
	pid_t p = fork();
	if (p == 0) {
		usleep(700000); /* after the startup snapshot */
		/* The shell counts (builtins only, no fork) before its exec:
		 * the netlink source reads argv from /proc after the event, and
		 * a shell that exec'd at once was already /bin/sleep when a
		 * loaded machine got there. */
		/* /bin/sleep runs twice: its second exec finds the hash the
		 * first one put in the cache by the kernel's identity of the
		 * file (hash_by_id) */
		execl("/bin/sh", "sh", "-c",
		      "i=0; while [ $i -lt 60000 ]; do i=$((i + 1)); done; /bin/sleep 0.01;"
		      " exec /bin/sleep 0.4",
		      (char *)NULL);
		_exit(127);
	}
	assert_int_equal(de_collector_run(f->c, 2500), 0);
	int st;
	assert_int_equal(waitpid(p, &st, 0), p);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	const struct de_proctable *pt = de_collector_table(f->c);
	assert_non_null(pt);
	const struct de_pt_proc *me = de_pt_find_pid(pt, getpid());
	assert_non_null(me);
	const struct evrec *exit_ev = evlog_find(&f->log, DE_EV_EXIT, p);
	assert_non_null(exit_ev);
	/* the child's record (exited: not in the pid index) by its entity id */
	const struct de_pt_proc *kid = de_pt_find(pt, exit_ev->entity_id);
	assert_non_null(kid);
	assert_false(kid->flags & DE_PT_F_LIVE);
	assert_true(kid->flags & DE_PT_F_EXIT_KNOWN);
	assert_int_equal(kid->exit_code, 0);
	assert_memory_equal(kid->parent_id, me->entity_id, DE_ENTITY_ID_LEN);
	/* the startup snapshot saw the child first (image 0, this program),
	 * then the two execs */
	assert_int_equal(kid->n_images, 3);
	const struct de_pt_image *snap = de_pt_image_at(kid, 0);
	const struct de_pt_image *sh = de_pt_image_at(kid, 1), *sl = de_pt_image_at(kid, 2);
	assert_non_null(snap);
	assert_true(snap->flags & DE_PT_IMG_SNAPSHOT);
	assert_non_null(sh);
	assert_non_null(sl);
	assert_string_equal(de_pt_image_argv(sh), "sh");
	assert_non_null(strstr(de_pt_image_argv(sl), "sleep"));
	/* argv is argv_len bytes, NUL-separated (the last one need not end in NUL) */
	const char *av = de_pt_image_argv(sl);
	size_t a0 = strlen(av) + 1;
	assert_true(sl->argv_len >= a0 + 3);
	assert_memory_equal(av + a0, "0.4", 3);
	assert_true(sl->argv_len == a0 + 3 || (sl->argv_len == a0 + 4 && av[a0 + 3] == '\0'));
	/* the hash of /bin/sleep, computed here, equals the worker's */
	assert_int_equal(sl->hash_state, DE_PT_HASH_KNOWN);
	int fd = open("/bin/sleep", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct de_hashes h;
	assert_true(de_hash_fd(fd, DE_HASH_ALL, 0, &h) > 0);
	close(fd);
	assert_memory_equal(de_pt_image_hashes(sl)->sha256, h.sha256, DE_HASH_LEN);
	assert_memory_equal(de_pt_image_hashes(sl)->blake3, h.blake3, DE_HASH_LEN);
	struct de_collector_stats cs;
	de_collector_stats(f->c, &cs);
	printf("# %s: %llu events (%llu without identity), hashes: %llu cached (%llu by the event's file identity), %llu deferred, %llu skipped, %llu results\n",
	       src == DE_SOURCE_EBPF ? "ebpf" : "netlink", (unsigned long long)cs.events,
	       (unsigned long long)cs.untracked, (unsigned long long)cs.hash_cached,
	       (unsigned long long)cs.hash_by_id, (unsigned long long)cs.hash_deferred,
	       (unsigned long long)cs.hash_skipped, (unsigned long long)cs.hash_results);
	assert_true(cs.hash_results >= 1);
	if (src == DE_SOURCE_EBPF)
		assert_true(cs.hash_by_id >= 1);
	assert_int_equal(cs.table_errors, 0);
}

static void test_table_images_ebpf(void **state)
{
	struct fixture *f = *state;
	table_images(f, DE_SOURCE_EBPF);
}

static void test_table_images_netlink(void **state)
{
	struct fixture *f = *state;
	table_images(f, DE_SOURCE_NETLINK);
}

/* Drops heal: a burst of 600 forks while nobody reads overflows a tiny ring
 * (or socket buffer); the drops are reported, the resync that follows
 * closes what the table missed, so no child of the burst stays "live". */
static void table_heals(struct fixture *f, enum de_source_choice src)
{
	if (geteuid() != 0)
		skip();
	char why[512];
	if (open_table(f, src, 4096, why, sizeof(why)) < 0) {
		printf("# SKIP %s\n", why);
		skip();
	}
	/* children that are alive now (seen by the startup snapshot), then die
	 * during the burst: only a resync can tell the table they are gone */
	enum { KIDS = 50 };
	pid_t kids[KIDS];
	int go[2];
	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < KIDS; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			close(go[1]);
			char c;
			(void)!read(go[0], &c, 1); /* until the pipe closes */
			_exit(0);
		}
	}
	close(go[0]);
	/* startup snapshot only: run briefly so the kids are in the table */
	assert_int_equal(de_collector_run(f->c, 300), 0);
	const struct de_proctable *pt = de_collector_table(f->c);
	for (int i = 0; i < KIDS; i++)
		assert_non_null(de_pt_find_pid(pt, kids[i]));
	close(go[1]);
	for (int i = 0; i < KIDS; i++)
		waitpid(kids[i], NULL, 0);
	pid_t burst = fork();
	if (burst == 0) {
		for (int i = 0; i < 600; i++) {
			pid_t q = fork();
			if (q == 0)
				_exit(0);
			if (q > 0)
				waitpid(q, NULL, 0);
		}
		_exit(0);
	}
	waitpid(burst, NULL, 0);
	f->log.n = 0;
	assert_int_equal(de_collector_run(f->c, 2000), 0);
	size_t drops = 0, resyncs = 0;
	for (size_t i = 0; i < f->log.n; i++) {
		if (f->log.v[i].type != DE_EV_STATUS)
			continue;
		drops += f->log.v[i].status == DE_ST_DROPS;
		resyncs += f->log.v[i].status == DE_ST_RESYNC;
	}
	size_t still = 0;
	for (int i = 0; i < KIDS; i++) {
		const struct de_pt_proc *k = de_pt_find_pid(pt, kids[i]);
		if (k && k->ppid == getpid())
			still++;
	}
	struct de_pt_stats ps;
	de_pt_stats(pt, &ps);
	printf("# %s, 4 KiB: %zu drop reports, %zu resyncs; table: %llu closed as exit missed, "
	       "%zu of %d dead children still live\n",
	       src == DE_SOURCE_EBPF ? "ebpf" : "netlink", drops, resyncs,
	       (unsigned long long)ps.exits_missed, still, KIDS);
	assert_true(drops >= 1);
	assert_true(resyncs >= 1);
	assert_int_equal(still, 0);
}

static void test_table_heals_ebpf(void **state)
{
	struct fixture *f = *state;
	table_heals(f, DE_SOURCE_EBPF);
}

static void test_table_heals_netlink(void **state)
{
	struct fixture *f = *state;
	table_heals(f, DE_SOURCE_NETLINK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forced_ebpf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forced_netlink_unprivileged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_fallback_unprivileged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duration_and_proc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resync_after_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_images_ebpf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_images_netlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_heals_ebpf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_heals_netlink, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
