/* test_enrich.c: the hash worker with real processes running a copy of
 * sleep: hashes equal hash.h's file hash, the second request is answered
 * from the map without queuing, a full queue drops and counts without
 * blocking (the worker held by its hook), a binary changed between the
 * request and the hash is not cached under the old identity, shutdown with
 * work queued, and results attached to the right image of the process
 * table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "enrich.h"
#include "macros.h"
#include "proctable.h"

#define SLEEP_BIN "/bin/sleep"

static char bin_path[512];

/* --- helpers ------------------------------------------------------------ */

static void copy_file(const char *from, const char *to)
{
	_cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	_cleanup_close_ int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	assert_true(out >= 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
}

/* Start `path 30`; returns once the exec has happened (a CLOEXEC pipe
 * closes at exec). */
static pid_t spawn(const char *path)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { (char *)"sleep", (char *)"30", NULL };
		char *envp[] = { NULL };
		execve(path, argv, envp);
		_exit(127);
	}
	close(p[1]);
	char c;
	while (read(p[0], &c, 1) < 0 && errno == EINTR)
		;
	close(p[0]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

static void file_hashes(const char *path, struct de_hashes *out)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(de_hash_fd(fd, DE_HASH_ALL, 0, out) > 0);
}

static struct de_enrich *enrich(uint32_t queue_len)
{
	struct de_enrich_opts o = { .queue_len = queue_len, .map_entries = 64 };
	struct de_enrich *e = de_enrich_new(&o);
	assert_non_null(e);
	return e;
}

static struct de_enrich_req req_for(pid_t pid)
{
	struct de_enrich_req r = { .pid = pid, .image = 0 };
	assert_int_equal(de_enrich_file_id_pid(NULL, pid, &r.id), 0);
	memset(r.entity_id, 0x42, sizeof(r.entity_id));
	return r;
}

#define MAX_RESULTS 16
struct results {
	int n;
	struct de_enrich_result r[MAX_RESULTS];
};

static void collect(const struct de_enrich_result *r, void *ud)
{
	struct results *rs = ud;
	assert_true(rs->n < MAX_RESULTS);
	rs->r[rs->n++] = *r;
}

/* Wait on the eventfd (as the runner's epoll would) until `want` results
 * arrived in total. */
static void wait_results(struct de_enrich *e, struct results *rs, int want)
{
	for (int tries = 0; rs->n < want && tries < 200; tries++) {
		struct pollfd pfd = { .fd = de_enrich_fd(e), .events = POLLIN };
		int r = poll(&pfd, 1, 100);
		assert_true(r >= 0);
		de_enrich_poll(e, collect, rs);
	}
	assert_int_equal(rs->n, want);
}

/* A hook that holds the worker until the test opens the gate. */
struct gate {
	sem_t entered, go;
};

static void gate_hook(const struct de_enrich_req *r, void *ud)
{
	(void)r;
	struct gate *g = ud;
	sem_post(&g->entered);
	sem_wait(&g->go);
}

static void gate_init(struct gate *g)
{
	assert_int_equal(sem_init(&g->entered, 0, 0), 0);
	assert_int_equal(sem_init(&g->go, 0, 0), 0);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct de_enrich_stats stats(struct de_enrich *e)
{
	struct de_enrich_stats st;
	de_enrich_stats(e, &st);
	return st;
}

/* --- tests ---------------------------------------------------------------- */

static void test_hash_then_cached(void **state)
{
	(void)state;
	struct de_hashes want;
	file_hashes(bin_path, &want);
	struct de_enrich *e = enrich(8);
	pid_t pid = spawn(bin_path);
	struct de_enrich_req rq = req_for(pid);
	struct de_hashes h;

	assert_int_equal(de_enrich_submit(e, &rq, &h), DE_ENRICH_DEFERRED);
	assert_string_equal(de_enrich_note(DE_ENRICH_DEFERRED), "hash deferred");
	struct results rs = { 0 };
	wait_results(e, &rs, 1);
	assert_int_equal(rs.r[0].err, 0);
	assert_false(rs.r[0].from_map);
	assert_int_equal(rs.r[0].req.pid, pid);
	assert_memory_equal(rs.r[0].req.entity_id, rq.entity_id, DE_ENTITY_ID_LEN);
	assert_int_equal(rs.r[0].hashes.algos, DE_HASH_ALL);
	assert_memory_equal(rs.r[0].hashes.sha256, want.sha256, DE_HASH_LEN);
	assert_memory_equal(rs.r[0].hashes.blake3, want.blake3, DE_HASH_LEN);

	/* The second request (another process of the same binary): from the
	 * map, at once, nothing queued. */
	pid_t pid2 = spawn(bin_path);
	struct de_enrich_req rq2 = req_for(pid2);
	memset(&h, 0, sizeof(h));
	assert_int_equal(de_enrich_submit(e, &rq2, &h), DE_ENRICH_CACHED);
	assert_null(de_enrich_note(DE_ENRICH_CACHED));
	assert_memory_equal(h.sha256, want.sha256, DE_HASH_LEN);
	assert_memory_equal(h.blake3, want.blake3, DE_HASH_LEN);
	assert_int_equal(de_enrich_lookup(e, &rq.id, &h), 0);
	assert_int_equal(de_enrich_poll(e, collect, &rs), 0);

	struct de_enrich_stats st = stats(e);
	assert_int_equal(st.submitted, 2);
	assert_int_equal(st.queued, 1);
	assert_int_equal(st.cached, 1);
	assert_int_equal(st.hashed, 1);
	assert_int_equal(st.delivered, 1);
	assert_int_equal(st.map_entries, 1);
	reap(pid);
	reap(pid2);
	de_enrich_free(e);
}

/* Two requests queued for one binary before either is done: hashed once. */
static void test_hashed_once_per_identity(void **state)
{
	(void)state;
	struct de_enrich *e = enrich(8);
	struct gate g;
	gate_init(&g);
	de_enrich_set_worker_hook(e, gate_hook, &g);
	pid_t a = spawn(bin_path), b = spawn(bin_path);
	struct de_enrich_req ra = req_for(a), rb = req_for(b);
	struct de_hashes h;
	assert_int_equal(de_enrich_submit(e, &ra, &h), DE_ENRICH_DEFERRED);
	assert_int_equal(de_enrich_submit(e, &rb, &h), DE_ENRICH_DEFERRED);
	sem_post(&g.go);
	sem_post(&g.go);
	struct results rs = { 0 };
	wait_results(e, &rs, 2);
	assert_int_equal(rs.r[0].err, 0);
	assert_int_equal(rs.r[1].err, 0);
	assert_false(rs.r[0].from_map);
	assert_true(rs.r[1].from_map);
	assert_memory_equal(rs.r[0].hashes.sha256, rs.r[1].hashes.sha256, DE_HASH_LEN);
	struct de_enrich_stats st = stats(e);
	assert_int_equal(st.hashed, 1);
	assert_int_equal(st.from_map, 1);
	reap(a);
	reap(b);
	de_enrich_free(e);
	sem_destroy(&g.entered);
	sem_destroy(&g.go);
}

static void test_queue_full_drops(void **state)
{
	(void)state;
	struct de_enrich *e = enrich(4);
	struct gate g;
	gate_init(&g);
	de_enrich_set_worker_hook(e, gate_hook, &g);
	pid_t pid = spawn(bin_path);
	struct de_enrich_req rq = req_for(pid);
	struct de_hashes h;
	for (int i = 0; i < 4; i++)
		assert_int_equal(de_enrich_submit(e, &rq, &h), DE_ENRICH_DEFERRED);
	sem_wait(&g.entered); /* the worker holds the first one */
	double t0 = now_s();
	assert_int_equal(de_enrich_submit(e, &rq, &h), DE_ENRICH_QUEUE_FULL);
	assert_int_equal(de_enrich_submit(e, &rq, &h), DE_ENRICH_QUEUE_FULL);
	assert_true(now_s() - t0 < 1.0); /* never waited for the (held) worker */
	assert_string_equal(de_enrich_note(DE_ENRICH_QUEUE_FULL), "hash skipped: queue full");
	struct de_enrich_stats st = stats(e);
	assert_int_equal(st.queued, 4);
	assert_int_equal(st.dropped, 2);

	for (int i = 0; i < 4; i++)
		sem_post(&g.go);
	struct results rs = { 0 };
	wait_results(e, &rs, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(rs.r[i].err, 0);
	st = stats(e);
	assert_int_equal(st.hashed, 1);
	assert_int_equal(st.from_map, 3);
	/* Room again, and the binary is known now. */
	assert_int_equal(de_enrich_submit(e, &rq, &h), DE_ENRICH_CACHED);
	reap(pid);
	de_enrich_free(e);
	sem_destroy(&g.entered);
	sem_destroy(&g.go);
}

static void test_changed_not_cached(void **state)
{
	(void)state;
	struct de_enrich *e = enrich(4);
	struct gate g;
	gate_init(&g);
	de_enrich_set_worker_hook(e, gate_hook, &g);
	char path[600];
	snprintf(path, sizeof(path), "%s-changed", bin_path);
	copy_file(SLEEP_BIN, path);
	pid_t pid = spawn(path);
	struct de_enrich_req rq = req_for(pid);
	struct de_hashes h;
	assert_int_equal(de_enrich_submit(e, &rq, &h), DE_ENRICH_DEFERRED);
	sem_wait(&g.entered);

	/* Change the binary's identity (ctime) while the worker holds it. */
	struct de_file_id now = rq.id;
	for (int i = 0; i < 400 && de_file_id_equal(&now, &rq.id); i++) {
		assert_int_equal(chmod(path, i % 2 ? 0755 : 0750), 0);
		assert_int_equal(de_enrich_file_id_pid(NULL, pid, &now), 0);
		if (de_file_id_equal(&now, &rq.id))
			usleep(5000);
	}
	assert_false(de_file_id_equal(&now, &rq.id));
	sem_post(&g.go);
	struct results rs = { 0 };
	wait_results(e, &rs, 1);
	assert_int_equal(rs.r[0].err, -ESTALE);
	assert_true(de_file_id_equal(&rs.r[0].id, &now));
	assert_int_equal(de_enrich_lookup(e, &rq.id, &h), -ENOENT);
	assert_int_equal(de_enrich_lookup(e, &now, &h), -ENOENT);
	struct de_enrich_stats st = stats(e);
	assert_int_equal(st.stale, 1);
	assert_int_equal(st.hashed, 0);
	assert_int_equal(st.map_entries, 0);

	/* Asked again under the new identity, it is hashed and cached. */
	de_enrich_set_worker_hook(e, NULL, NULL);
	rq.id = now;
	assert_int_equal(de_enrich_submit(e, &rq, &h), DE_ENRICH_DEFERRED);
	wait_results(e, &rs, 2);
	assert_int_equal(rs.r[1].err, 0);
	assert_int_equal(de_enrich_lookup(e, &now, &h), 0);
	reap(pid);
	unlink(path);
	de_enrich_free(e);
	sem_destroy(&g.entered);
	sem_destroy(&g.go);
}

static void test_gone_process(void **state)
{
	(void)state;
	struct de_enrich *e = enrich(4);
	pid_t pid = spawn(bin_path);
	struct de_enrich_req rq = req_for(pid);
	reap(pid);
	struct de_hashes h;
	assert_int_equal(de_enrich_submit(e, &rq, &h), DE_ENRICH_DEFERRED);
	struct results rs = { 0 };
	wait_results(e, &rs, 1);
	assert_true(rs.r[0].err == -ENOENT || rs.r[0].err == -ESRCH);
	assert_int_equal(stats(e).failed, 1);
	de_enrich_free(e);
}

/* A process that is already gone is hashed through the path its exec
 * named, only when that path still holds the same file (dev, inode). */
static void test_gone_process_by_path(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(stat(bin_path, &st), 0);
	struct de_enrich_req rq = { .pid = 0 };
	memset(rq.entity_id, 0x43, sizeof(rq.entity_id));
	assert_int_equal(de_enrich_file_id_path(bin_path, st.st_dev, st.st_ino, &rq.id), 0);
	assert_true(strlen(bin_path) < sizeof(rq.path));
	memcpy(rq.path, bin_path, strlen(bin_path) + 1);
	/* another file at that path, a relative path, a directory: refused */
	struct de_file_id id;
	assert_int_equal(de_enrich_file_id_path(bin_path, st.st_dev, st.st_ino + 1, &id), -ESTALE);
	assert_int_equal(de_enrich_file_id_path("bin/true", st.st_dev, st.st_ino, &id), -EINVAL);
	assert_int_equal(de_enrich_file_id_path("/", st.st_dev, st.st_ino, &id), -EINVAL);
	assert_int_equal(de_enrich_file_id_path(NULL, st.st_dev, st.st_ino, &id), -EINVAL);

	struct de_hashes want, h;
	file_hashes(bin_path, &want);
	struct de_enrich *e = enrich(4);
	assert_int_equal(de_enrich_submit(e, &rq, &h), DE_ENRICH_DEFERRED);
	struct results rs = { 0 };
	wait_results(e, &rs, 1);
	assert_int_equal(rs.r[0].err, 0);
	assert_memory_equal(rs.r[0].hashes.sha256, want.sha256, DE_HASH_LEN);
	assert_memory_equal(rs.r[0].hashes.blake3, want.blake3, DE_HASH_LEN);
	de_enrich_free(e);
}

static void slow_hook(const struct de_enrich_req *r, void *ud)
{
	(void)r;
	(void)ud;
	usleep(200 * 1000);
}

static void test_shutdown_with_work_queued(void **state)
{
	(void)state;
	struct de_enrich *e = enrich(16);
	de_enrich_set_worker_hook(e, slow_hook, NULL);
	pid_t pid = spawn(bin_path);
	struct de_enrich_req rq = req_for(pid);
	struct de_hashes h;
	for (int i = 0; i < 12; i++)
		assert_int_equal(de_enrich_submit(e, &rq, &h), DE_ENRICH_DEFERRED);
	double t0 = now_s();
	de_enrich_free(e); /* leaks or a hang show under ASan / the timeout */
	/* It finished the request in hand and stopped: working through the
	 * queue would take 12 x 200 ms. */
	assert_true(now_s() - t0 < 1.5);
	reap(pid);
}

/* The owner's loop: event -> table -> submit; result -> the right image. */
struct attach_ctx {
	struct de_proctable *pt;
	int n;
};

static void attach(const struct de_enrich_result *r, void *ud)
{
	struct attach_ctx *c = ud;
	assert_int_equal(de_pt_set_hashes(c->pt, r->req.entity_id, r->req.image, r->id.dev,
					  r->id.ino, r->err, &r->hashes), 0);
	c->n++;
}

static void test_attach_to_table(void **state)
{
	(void)state;
	struct de_pt_opts po = { .max_exited = 16 };
	struct de_proctable *pt = de_pt_new(&po);
	assert_non_null(pt);
	struct de_enrich *e = enrich(4);
	pid_t pid = spawn(bin_path);

	struct de_file_id fid;
	assert_int_equal(de_enrich_file_id_pid(NULL, pid, &fid), 0);
	const uint8_t boot[16] = { 1 };
	struct de_event ev = { .type = DE_EV_EXEC, .pid = pid, .start_ticks = 1, .time_ns = 5,
			       .have = DE_EVF_EXE | DE_EVF_EXE_ID, .exe = bin_path,
			       .exe_dev = fid.dev, .exe_ino = fid.ino };
	de_entity_id(boot, pid, 1, ev.entity_id);
	assert_int_equal(de_pt_apply(pt, &ev), 0);
	const struct de_pt_proc *p = de_pt_find(pt, ev.entity_id);
	assert_non_null(p);

	struct de_enrich_req rq = { .pid = pid, .id = fid, .image = p->n_images - 1 };
	memcpy(rq.entity_id, ev.entity_id, DE_ENTITY_ID_LEN);
	struct de_hashes h;
	assert_int_equal(de_enrich_submit(e, &rq, &h), DE_ENRICH_DEFERRED);
	assert_int_equal(de_pt_set_hash_state(pt, rq.entity_id, rq.image, DE_PT_HASH_DEFERRED), 0);
	assert_int_equal(de_pt_current_image(p)->hash_state, DE_PT_HASH_DEFERRED);

	struct attach_ctx c = { .pt = pt };
	for (int tries = 0; c.n == 0 && tries < 100; tries++) {
		struct pollfd pfd = { .fd = de_enrich_fd(e), .events = POLLIN };
		assert_true(poll(&pfd, 1, 100) >= 0);
		de_enrich_poll(e, attach, &c);
	}
	assert_int_equal(c.n, 1);
	struct de_hashes want;
	file_hashes(bin_path, &want);
	const struct de_pt_image *im = de_pt_current_image(p);
	assert_int_equal(im->hash_state, DE_PT_HASH_KNOWN);
	assert_memory_equal(de_pt_image_hashes(im)->sha256, want.sha256, DE_HASH_LEN);
	reap(pid);
	de_enrich_free(e);
	de_pt_free(pt);
}

/* Options from the configuration: the hashing.* keys, both algorithms. */
static void test_opts_from_config(void **state)
{
	(void)state;
	struct de_config cfg;
	assert_int_equal(de_config_init(&cfg), 0);
	char err[256];
	assert_int_equal(de_config_set(&cfg, "hashing.cache_entries", "77", "test", err,
				       sizeof(err)), 0);
	assert_int_equal(de_config_set(&cfg, "hashing.max_file_bytes", "4096", "test", err,
				       sizeof(err)), 0);
	struct de_enrich_opts o;
	de_enrich_opts_from_config(&o, &cfg);
	assert_int_equal(o.map_entries, 77);
	assert_int_equal(o.max_file_bytes, 4096);
	assert_int_equal(o.algos, DE_HASH_ALL);
	de_config_free(&cfg);

	/* The size limit is applied: sleep is larger than 4 KiB. */
	struct de_enrich *e = de_enrich_new(&o);
	assert_non_null(e);
	pid_t pid = spawn(bin_path);
	struct de_enrich_req rq = req_for(pid);
	struct de_hashes h;
	assert_int_equal(de_enrich_submit(e, &rq, &h), DE_ENRICH_DEFERRED);
	struct results rs = { 0 };
	wait_results(e, &rs, 1);
	assert_int_equal(rs.r[0].err, -EFBIG);
	assert_int_equal(de_enrich_lookup(e, &rq.id, &h), -ENOENT);
	reap(pid);
	de_enrich_free(e);
}

static int setup(void **state)
{
	(void)state;
	const char *dir = getenv("TMPDIR");
	snprintf(bin_path, sizeof(bin_path), "%s/de-test-enrich-%d-sleep",
		 dir && *dir ? dir : "/tmp", (int)getpid());
	copy_file(SLEEP_BIN, bin_path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(bin_path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_then_cached),
		cmocka_unit_test(test_hashed_once_per_identity),
		cmocka_unit_test(test_queue_full_drops),
		cmocka_unit_test(test_changed_not_cached),
		cmocka_unit_test(test_gone_process),
		cmocka_unit_test(test_gone_process_by_path),
		cmocka_unit_test(test_shutdown_with_work_queued),
		cmocka_unit_test(test_attach_to_table),
		cmocka_unit_test(test_opts_from_config),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
