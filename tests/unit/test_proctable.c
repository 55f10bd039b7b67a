/* test_proctable.c: the live process table, fed with synthetic events:
 * fork/exec/exit, exec without fork (images), pid reuse, ancestry across
 * exited parents, the eviction bound under 100,000 short-lived processes,
 * resync, out-of-order and duplicate events, exact counters, iteration
 * and the memory of 10,000 live processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proctable.h"

static const uint8_t boot[16] = { 0xb0, 0x07, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 };

/* A process instance in the tests: pid + start ticks. */
struct pi {
	int32_t pid;
	uint64_t start;
};

static void eid(struct pi p, uint8_t out[DE_ENTITY_ID_LEN])
{
	de_entity_id(boot, p.pid, p.start, out);
}

static struct de_event ev_base(enum de_event_type t, struct pi p, int64_t time)
{
	struct de_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = t;
	ev.source = DE_EVSRC_EBPF;
	ev.time_ns = time;
	ev.pid = ev.tid = p.pid;
	ev.start_ticks = p.start;
	eid(p, ev.entity_id);
	snprintf(ev.comm, sizeof(ev.comm), "p%d", (int)p.pid);
	return ev;
}

static void set_parent(struct de_event *ev, struct pi parent)
{
	ev->have |= DE_EVF_PARENT;
	ev->ppid = parent.pid;
	if (parent.pid > 0)
		eid(parent, ev->parent_entity_id);
}

static void set_image(struct de_event *ev, const char *exe, const char *argv, size_t argv_len,
		      uint64_t ino)
{
	ev->have |= DE_EVF_EXE | DE_EVF_ARGV | DE_EVF_FILENAME | DE_EVF_EXE_ID;
	ev->exe = exe;
	ev->filename = exe;
	ev->argv = argv;
	ev->argv_len = argv_len;
	ev->argc = 0;
	for (size_t i = 0; i < argv_len; i++)
		ev->argc += argv[i] == '\0';
	ev->exe_dev = 0x801;
	ev->exe_ino = ino;
}

static void fork_(struct de_proctable *pt, struct pi child, struct pi parent, int64_t t)
{
	struct de_event ev = ev_base(DE_EV_FORK, child, t);
	set_parent(&ev, parent);
	assert_int_equal(de_pt_apply(pt, &ev), 0);
}

static void exec_(struct de_proctable *pt, struct pi p, const char *exe, uint64_t ino, int64_t t)
{
	struct de_event ev = ev_base(DE_EV_EXEC, p, t);
	char argv[256];
	int n = snprintf(argv, sizeof(argv), "%s%c--flag%c", exe, 0, 0);
	set_image(&ev, exe, argv, (size_t)n, ino);
	assert_int_equal(de_pt_apply(pt, &ev), 0);
}

static void exit_(struct de_proctable *pt, struct pi p, int code, int64_t t)
{
	struct de_event ev = ev_base(DE_EV_EXIT, p, t);
	ev.have |= DE_EVF_EXIT;
	ev.exit_code = code;
	assert_int_equal(de_pt_apply(pt, &ev), 0);
}

static void snap_(struct de_proctable *pt, struct pi p, struct pi parent, const char *exe,
		  uint64_t ino, int64_t t)
{
	struct de_event ev = ev_base(DE_EV_SNAPSHOT, p, t);
	set_parent(&ev, parent);
	char argv[64];
	int n = snprintf(argv, sizeof(argv), "%s", exe);
	set_image(&ev, exe, argv, (size_t)n + 1, ino);
	ev.have &= ~(uint32_t)DE_EVF_FILENAME;
	assert_int_equal(de_pt_apply(pt, &ev), 0);
}

static const struct de_pt_proc *get(struct de_proctable *pt, struct pi p)
{
	uint8_t id[DE_ENTITY_ID_LEN];
	eid(p, id);
	return de_pt_find(pt, id);
}

static struct de_proctable *table(uint32_t max_exited)
{
	struct de_pt_opts o = { .max_exited = max_exited };
	struct de_proctable *pt = de_pt_new(&o);
	assert_non_null(pt);
	return pt;
}

static struct de_pt_stats stats(struct de_proctable *pt)
{
	struct de_pt_stats st;
	de_pt_stats(pt, &st);
	return st;
}

static const struct pi init = { 1, 1 };

/* --- tests ---------------------------------------------------------------- */

static void test_fork_exec_exit(void **state)
{
	(void)state;
	struct de_proctable *pt = table(100);
	struct pi sh = { 100, 500 }, ls = { 101, 600 };
	snap_(pt, init, (struct pi){ 0, 0 }, "/sbin/init", 11, 1000);
	fork_(pt, sh, init, 2000);
	exec_(pt, sh, "/bin/sh", 22, 3000);
	fork_(pt, ls, sh, 4000);

	/* The forked child runs its parent's image until it execs. */
	const struct de_pt_proc *c = get(pt, ls);
	assert_non_null(c);
	assert_int_equal(c->n_images, 0);
	assert_string_equal(de_pt_image_exe(de_pt_current_image(c)), "/bin/sh");
	assert_null(de_pt_image_at(c, 0)); /* the parent's image is not one of its own */
	assert_true(c->flags & DE_PT_F_LIVE);
	assert_true(c->flags & DE_PT_F_FORK_SEEN);
	assert_int_equal(c->ppid, 100);
	assert_ptr_equal(de_pt_find_pid(pt, 101), c);

	exec_(pt, ls, "/bin/ls", 33, 5000);
	assert_int_equal(c->n_images, 1);
	assert_ptr_equal(de_pt_image_at(c, 0), de_pt_current_image(c));
	assert_int_equal(stats(pt).images_dropped, 0);
	assert_string_equal(de_pt_image_exe(de_pt_current_image(get(pt, sh))), "/bin/sh");
	const struct de_pt_image *im = de_pt_current_image(c);
	assert_string_equal(de_pt_image_exe(im), "/bin/ls");
	assert_string_equal(de_pt_image_filename(im), "/bin/ls");
	assert_memory_equal(de_pt_image_argv(im), "/bin/ls\0--flag\0", 15);
	assert_int_equal(im->argc, 2);
	assert_int_equal(im->exe_ino, 33);
	assert_int_equal(im->time_ns, 5000);

	exit_(pt, ls, 3, 6000);
	assert_false(c->flags & DE_PT_F_LIVE);
	assert_true(c->flags & DE_PT_F_EXIT_KNOWN);
	assert_int_equal(c->exit_code, 3);
	assert_int_equal(c->exit_time_ns, 6000);
	assert_null(de_pt_find_pid(pt, 101));

	/* An exit without status: "unknown", not 0. */
	struct de_event ev = ev_base(DE_EV_EXIT, sh, 7000);
	assert_int_equal(de_pt_apply(pt, &ev), 0);
	const struct de_pt_proc *s = get(pt, sh);
	assert_true(s->flags & DE_PT_F_EXIT_EVENT);
	assert_false(s->flags & DE_PT_F_EXIT_KNOWN);

	struct de_pt_stats st = stats(pt);
	assert_int_equal(st.live, 1);
	assert_int_equal(st.exited, 2);
	assert_int_equal(st.events, 7);
	assert_int_equal(st.exits_missed, 0);
	de_pt_free(pt);
}

static void test_exec_without_fork(void **state)
{
	(void)state;
	struct de_proctable *pt = table(100);
	struct pi p = { 300, 900 };
	snap_(pt, p, init, "/bin/bash", 5, 100);
	exec_(pt, p, "/usr/bin/python3", 6, 200);
	const struct de_pt_proc *r = get(pt, p);
	assert_int_equal(r->n_images, 2);
	assert_string_equal(de_pt_image_exe(de_pt_image_at(r, 0)), "/bin/bash");
	assert_true(de_pt_image_at(r, 0)->flags & DE_PT_IMG_SNAPSHOT);
	assert_string_equal(de_pt_image_exe(de_pt_image_at(r, 1)), "/usr/bin/python3");
	assert_int_equal(stats(pt).live, 1);

	/* Six images in all: the first two and the last two are kept. */
	exec_(pt, p, "/bin/a", 7, 300);
	exec_(pt, p, "/bin/b", 8, 400);
	exec_(pt, p, "/bin/c", 9, 500);
	exec_(pt, p, "/bin/d", 10, 600);
	assert_int_equal(r->n_images, 6);
	assert_string_equal(de_pt_image_exe(de_pt_image_at(r, 0)), "/bin/bash");
	assert_string_equal(de_pt_image_exe(de_pt_image_at(r, 1)), "/usr/bin/python3");
	assert_null(de_pt_image_at(r, 2));
	assert_null(de_pt_image_at(r, 3));
	assert_string_equal(de_pt_image_exe(de_pt_image_at(r, 4)), "/bin/c");
	assert_string_equal(de_pt_image_exe(de_pt_image_at(r, 5)), "/bin/d");
	assert_null(de_pt_image_at(r, 6));
	assert_string_equal(de_pt_image_exe(de_pt_current_image(r)), "/bin/d");
	struct de_pt_stats st = stats(pt);
	assert_int_equal(st.images, 6);
	assert_int_equal(st.images_dropped, 2);

	/* Hashes land on the right image, checked against its identity. */
	struct de_hashes h = { .algos = DE_HASH_SHA256, .sha256 = { 0xab } };
	assert_int_equal(de_pt_set_hashes(pt, r->entity_id, 5, 0x801, 9, 0, &h), -ESTALE);
	assert_int_equal(de_pt_set_hashes(pt, r->entity_id, 3, 0x801, 8, 0, &h), -ENOENT);
	assert_int_equal(de_pt_set_hashes(pt, r->entity_id, 5, 0x801, 10, 0, &h), 0);
	assert_int_equal(de_pt_image_at(r, 5)->hash_state, DE_PT_HASH_KNOWN);
	assert_int_equal(de_pt_image_hashes(de_pt_image_at(r, 5))->sha256[0], 0xab);
	assert_null(de_pt_image_hashes(de_pt_image_at(r, 4)));
	assert_int_equal(de_pt_image_at(r, 4)->hash_state, DE_PT_HASH_NONE);
	assert_int_equal(de_pt_set_hash_state(pt, r->entity_id, 4, DE_PT_HASH_SKIPPED), 0);
	assert_int_equal(de_pt_image_at(r, 4)->hash_state, DE_PT_HASH_SKIPPED);
	de_pt_free(pt);
}

/* Hash values are pooled: images with equal hashes share one copy (the
 * digest of an algorithm not in algos does not count), other values get
 * their own, and the table's bytes come back when the images go. */
static void exec_hashed(struct de_proctable *pt, struct pi p, const struct de_hashes *h, int64_t t)
{
	struct de_event ev = ev_base(DE_EV_EXEC, p, t);
	static char argv[] = "/bin/x\0";
	set_image(&ev, "/bin/x", argv, sizeof(argv) - 1, 5);
	ev.hashes = *h;
	ev.have |= DE_EVF_HASH;
	assert_int_equal(de_pt_apply(pt, &ev), 0);
}

static void test_hash_pool(void **state)
{
	(void)state;
	struct de_proctable *pt = table(0);
	uint64_t empty = stats(pt).bytes;
	struct de_hashes h1 = { .algos = DE_HASH_SHA256, .sha256 = { 1, 2, 3 }, .blake3 = { 9 } };
	struct de_hashes h1b = h1, h2 = h1;
	h1b.blake3[0] = 7; /* not in algos: the same value */
	h2.sha256[31] = 1;
	struct pi a = { 10, 10 }, b = { 11, 11 }, c = { 12, 12 };
	fork_(pt, a, init, 1);
	fork_(pt, b, init, 1);
	fork_(pt, c, init, 1);
	exec_hashed(pt, a, &h1, 2);
	uint64_t one = stats(pt).bytes;
	exec_hashed(pt, b, &h1b, 2);
	uint64_t two = stats(pt).bytes;
	exec_hashed(pt, c, &h2, 2);
	uint64_t three = stats(pt).bytes;
	const struct de_hashes *ha = de_pt_image_hashes(de_pt_current_image(get(pt, a)));
	const struct de_hashes *hb = de_pt_image_hashes(de_pt_current_image(get(pt, b)));
	const struct de_hashes *hc = de_pt_image_hashes(de_pt_current_image(get(pt, c)));
	assert_non_null(ha);
	assert_ptr_equal(ha, hb);
	assert_ptr_not_equal(ha, hc);
	assert_memory_equal(ha->sha256, h1.sha256, DE_HASH_LEN);
	assert_memory_equal(hc->sha256, h2.sha256, DE_HASH_LEN);
	/* the second image cost less than the first and the third (no new value) */
	assert_true(two - one < one - empty);
	assert_true(two - one < three - two);
	/* a late result for b replaces its value; a keeps the old one */
	uint8_t id[DE_ENTITY_ID_LEN];
	eid(b, id);
	assert_int_equal(de_pt_set_hashes(pt, id, 0, 0x801, 5, 0, &h2), 0);
	hb = de_pt_image_hashes(de_pt_current_image(get(pt, b)));
	assert_ptr_equal(hb, hc);
	assert_memory_equal(de_pt_image_hashes(de_pt_current_image(get(pt, a)))->sha256, h1.sha256,
			    DE_HASH_LEN);
	/* a failed result leaves no hashes and releases the value it held */
	uint64_t before = stats(pt).bytes;
	eid(a, id);
	assert_int_equal(de_pt_set_hashes(pt, id, 0, 0x801, 5, -EACCES, &h1), 0);
	assert_null(de_pt_image_hashes(de_pt_current_image(get(pt, a))));
	assert_int_equal(de_pt_current_image(get(pt, a))->hash_state, DE_PT_HASH_FAILED);
	assert_true(stats(pt).bytes < before); /* h1 had no other holder */
	/* everything goes: the byte count comes back to the empty table's */
	exit_(pt, a, 0, 3);
	exit_(pt, b, 0, 3);
	exit_(pt, c, 0, 3); /* max_exited 0: exited records are evicted at once */
	assert_int_equal(stats(pt).live + stats(pt).exited, 0);
	assert_int_equal(stats(pt).bytes, empty);
	de_pt_free(pt);
}

static void test_pid_reuse(void **state)
{
	(void)state;
	struct de_proctable *pt = table(100);
	struct pi old = { 4242, 100 }, neu = { 4242, 900 };
	fork_(pt, old, init, 1000);
	exec_(pt, old, "/bin/old", 1, 1100);
	/* The old one's exit was lost; the pid comes back. */
	fork_(pt, neu, init, 5000);
	const struct de_pt_proc *o = get(pt, old), *n = get(pt, neu);
	assert_non_null(o);
	assert_non_null(n);
	assert_ptr_not_equal(o, n);
	assert_false(o->flags & DE_PT_F_LIVE);
	assert_true(o->flags & DE_PT_F_EXIT_MISSED);
	assert_int_equal(o->exit_time_ns, 5000);
	assert_ptr_equal(de_pt_find_pid(pt, 4242), n);
	struct de_pt_stats st = stats(pt);
	assert_int_equal(st.pid_reuse_closures, 1);
	assert_int_equal(st.exits_missed, 1);
	assert_int_equal(st.live, 1);
	assert_int_equal(st.exited, 1);

	/* Its real exit arrives late: recorded, the new instance untouched. */
	exit_(pt, old, 9, 4000);
	assert_true(o->flags & DE_PT_F_EXIT_KNOWN);
	assert_false(o->flags & DE_PT_F_EXIT_MISSED);
	assert_int_equal(o->exit_code, 9);
	assert_int_equal(o->exit_time_ns, 4000);
	assert_ptr_equal(de_pt_find_pid(pt, 4242), n);
	assert_true(n->flags & DE_PT_F_LIVE);
	assert_int_equal(stats(pt).late_exits, 1);

	/* An event for an instance older than the live one: recorded as dead. */
	struct pi older = { 4242, 50 };
	exec_(pt, older, "/bin/older", 2, 6000);
	const struct de_pt_proc *x = get(pt, older);
	assert_false(x->flags & DE_PT_F_LIVE);
	assert_ptr_equal(de_pt_find_pid(pt, 4242), n);
	st = stats(pt);
	assert_int_equal(st.pid_reuse_closures, 1);
	assert_int_equal(st.exits_missed, 2);
	de_pt_free(pt);
}

static void test_ancestry(void **state)
{
	(void)state;
	struct de_proctable *pt = table(100);
	struct pi bash = { 10, 10 }, make = { 20, 20 }, cc = { 30, 30 };
	snap_(pt, init, (struct pi){ 0, 0 }, "/sbin/init", 1, 1);
	fork_(pt, bash, init, 2);
	fork_(pt, make, bash, 3);
	fork_(pt, cc, make, 4);
	exit_(pt, make, 0, 5);

	const struct de_pt_proc *out[DE_PT_MAX_DEPTH];
	enum de_pt_anc_end end;
	uint8_t id[DE_ENTITY_ID_LEN];
	eid(cc, id);
	int n = de_pt_ancestry(pt, id, out, DE_PT_MAX_DEPTH, &end);
	assert_int_equal(n, 3);
	assert_int_equal(end, DE_PT_ANC_ROOT);
	assert_int_equal(out[0]->pid, 20);
	assert_false(out[0]->flags & DE_PT_F_LIVE);
	assert_int_equal(out[1]->pid, 10);
	assert_int_equal(out[2]->pid, 1);
	assert_int_equal(stats(pt).pinned, 1);

	n = de_pt_ancestry(pt, id, out, 1, &end);
	assert_int_equal(n, 1);
	assert_int_equal(end, DE_PT_ANC_DEPTH);

	/* A parent never seen. */
	struct pi orphan = { 40, 40 }, ghost = { 39, 39 };
	fork_(pt, orphan, ghost, 6);
	eid(orphan, id);
	assert_int_equal(de_pt_ancestry(pt, id, out, DE_PT_MAX_DEPTH, &end), 0);
	assert_int_equal(end, DE_PT_ANC_MISSING);

	/* A cycle from corrupt input: a <-> b. */
	struct pi a = { 50, 50 }, b = { 51, 51 };
	fork_(pt, a, b, 7);
	fork_(pt, b, a, 8);
	eid(a, id);
	n = de_pt_ancestry(pt, id, out, DE_PT_MAX_DEPTH, &end);
	assert_int_equal(n, 1);
	assert_int_equal(end, DE_PT_ANC_CYCLE);
	eid((struct pi){ 77, 77 }, id);
	assert_int_equal(de_pt_ancestry(pt, id, out, DE_PT_MAX_DEPTH, &end), -ENOENT);
	de_pt_free(pt);
}

static void test_eviction_bound(void **state)
{
	(void)state;
	struct de_proctable *pt = table(1000);
	struct pi sh = { 2, 2 }, sub = { 3, 3 }, leaf = { 4, 4 };
	snap_(pt, sh, init, "/bin/sh", 1, 1);
	fork_(pt, sub, sh, 2);
	fork_(pt, leaf, sub, 3);
	exit_(pt, sub, 0, 4);   /* pinned: its child lives */

	uint64_t bytes_steady = 0;
	for (int i = 0; i < 100000; i++) {
		struct pi c = { 1000 + i % 30000, 1000 + (uint64_t)i };
		int64_t t = 10 + 3 * (int64_t)i;
		fork_(pt, c, sh, t);
		exec_(pt, c, "/usr/bin/true", 77, t + 1);
		exit_(pt, c, 0, t + 2);
		struct de_pt_stats st = stats(pt);
		assert_true(st.exited <= 1000);
		if (i == 2000)
			bytes_steady = st.bytes;
	}
	struct de_pt_stats st = stats(pt);
	assert_int_equal(st.live, 2);           /* sh and leaf */
	assert_int_equal(st.exited, 1000);
	assert_int_equal(st.pinned, 1);
	assert_int_equal(st.evicted, 100000 + 1 - 1000);
	assert_int_equal(st.evicted_pinned, 0);
	assert_int_equal(st.bytes, bytes_steady);
	assert_int_equal(st.exits_missed, 0);

	/* The pinned parent survived the flood: leaf's ancestry is whole. */
	const struct de_pt_proc *out[DE_PT_MAX_DEPTH];
	enum de_pt_anc_end end;
	uint8_t id[DE_ENTITY_ID_LEN];
	eid(leaf, id);
	assert_int_equal(de_pt_ancestry(pt, id, out, DE_PT_MAX_DEPTH, &end), 2);
	assert_int_equal(out[0]->pid, 3);
	assert_int_equal(out[1]->pid, 2);
	assert_int_equal(end, DE_PT_ANC_MISSING); /* init was never seen here */

	/* Once leaf exits and is itself evicted, sub is evictable again. */
	exit_(pt, leaf, 0, 400000);
	assert_int_equal(stats(pt).pinned, 1);
	for (int i = 0; i < 1000; i++) {
		struct pi c = { 50000 + i, 500000 + (uint64_t)i };
		fork_(pt, c, sh, 500000 + i);
		exit_(pt, c, 0, 500000 + i);
	}
	assert_null(get(pt, leaf));
	assert_null(get(pt, sub));
	st = stats(pt);
	assert_int_equal(st.pinned, 0);
	assert_int_equal(st.exited, 1000);
	assert_int_equal(st.evicted_pinned, 0);
	de_pt_free(pt);

	/* A bound too small for every ancestor: pinned ones go, the bound holds. */
	pt = table(2);
	for (int i = 0; i < 3; i++) {
		struct pi par = { 100 + i, 100 }, kid = { 200 + i, 200 };
		fork_(pt, par, init, 1);
		fork_(pt, kid, par, 2);
		exit_(pt, par, 0, 3 + i);
	}
	st = stats(pt);
	assert_int_equal(st.exited, 2);
	assert_int_equal(st.pinned, 2);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(st.evicted_pinned, 1);
	assert_null(get(pt, (struct pi){ 100, 100 }));
	de_pt_free(pt);
}

static void test_resync(void **state)
{
	(void)state;
	struct de_proctable *pt = table(100);
	struct pi p[8];
	for (int i = 0; i < 8; i++)
		p[i] = (struct pi){ 500 + i, 50 + (uint64_t)i };
	for (int i = 1; i <= 5; i++)
		fork_(pt, p[i], init, i);
	exit_(pt, p[5], 0, 10);

	de_pt_resync_begin(pt);
	snap_(pt, p[1], init, "/bin/one", 1, 100);
	snap_(pt, p[2], init, "/bin/two", 2, 100);
	snap_(pt, p[3], init, "/bin/three", 3, 100);
	snap_(pt, p[5], init, "/bin/five", 5, 100); /* stale: exited before */
	snap_(pt, p[6], init, "/bin/six", 6, 100);  /* missed fork */
	fork_(pt, p[7], init, 150);                 /* forked during the snapshot */
	assert_int_equal(de_pt_resync_end(pt, 200), 1);  /* p[4] */

	const struct de_pt_proc *r4 = get(pt, p[4]);
	assert_false(r4->flags & DE_PT_F_LIVE);
	assert_true(r4->flags & DE_PT_F_EXIT_MISSED);
	assert_int_equal(r4->exit_time_ns, 200);
	assert_true(get(pt, p[6])->flags & DE_PT_F_SNAPSHOT);
	assert_true(get(pt, p[7])->flags & DE_PT_F_LIVE);
	assert_false(get(pt, p[5])->flags & DE_PT_F_LIVE);
	struct de_pt_stats st = stats(pt);
	assert_int_equal(st.live, 5); /* 1 2 3 6 7 */
	assert_int_equal(st.exited, 2);
	assert_int_equal(st.resyncs, 1);
	assert_int_equal(st.resync_added, 1);
	assert_int_equal(st.resync_closed, 1);
	assert_int_equal(st.exits_missed, 1);
	assert_int_equal(st.stale, 1);

	/* A second resync that sees a new binary in p[1]: a missed exec. */
	de_pt_resync_begin(pt);
	snap_(pt, p[1], init, "/bin/one-new", 11, 300);
	snap_(pt, p[2], init, "/bin/two", 2, 300);
	assert_int_equal(de_pt_resync_end(pt, 400), 3); /* 3 6 7 */
	const struct de_pt_proc *r1 = get(pt, p[1]);
	assert_int_equal(r1->n_images, 2);
	assert_string_equal(de_pt_image_exe(de_pt_current_image(r1)), "/bin/one-new");
	assert_int_equal(get(pt, p[2])->n_images, 1);
	st = stats(pt);
	assert_int_equal(st.live, 2);
	assert_int_equal(st.resync_closed, 4);

	/* A snapshot that failed part way closes nothing. */
	de_pt_resync_begin(pt);
	snap_(pt, p[1], init, "/bin/one-new", 11, 500);
	de_pt_resync_abort(pt);
	assert_true(get(pt, p[2])->flags & DE_PT_F_LIVE);
	st = stats(pt);
	assert_int_equal(st.live, 2);
	assert_int_equal(st.resyncs, 3);
	assert_int_equal(st.resync_closed, 4);
	de_pt_free(pt);
}

static void test_out_of_order_and_duplicates(void **state)
{
	(void)state;
	struct de_proctable *pt = table(100);
	struct pi par = { 700, 7 }, kid = { 701, 8 }, unseen = { 702, 9 }, late = { 703, 10 };
	fork_(pt, par, init, 1);

	/* The child's exec before its fork. */
	exec_(pt, kid, "/bin/kid", 3, 20);
	const struct de_pt_proc *k = get(pt, kid);
	assert_true(k->flags & DE_PT_F_SYNTH);
	assert_false(k->flags & DE_PT_F_PARENT);
	fork_(pt, kid, par, 10);
	assert_true(k->flags & DE_PT_F_PARENT);
	assert_true(k->flags & DE_PT_F_FORK_SEEN);
	assert_int_equal(k->ppid, 700);
	assert_int_equal(k->n_images, 1);
	assert_int_equal(get(pt, par)->kids, 1);

	/* Duplicates of each kind. */
	fork_(pt, kid, par, 10);
	exec_(pt, kid, "/bin/kid", 3, 20);
	exit_(pt, kid, 0, 30);
	exit_(pt, kid, 0, 30);
	assert_int_equal(k->n_images, 1);

	/* An exit for a process never seen. */
	exit_(pt, unseen, 1, 40);
	const struct de_pt_proc *u = get(pt, unseen);
	assert_true(u->flags & DE_PT_F_SYNTH);
	assert_true(u->flags & DE_PT_F_EXIT_KNOWN);
	assert_false(u->flags & DE_PT_F_EXIT_MISSED);
	assert_int_equal(u->exit_code, 1);

	/* Exit, then its exec (reordered): image kept, not revived. */
	fork_(pt, late, par, 50);
	exit_(pt, late, 0, 70);
	exec_(pt, late, "/bin/late", 4, 60);
	const struct de_pt_proc *l = get(pt, late);
	assert_false(l->flags & DE_PT_F_LIVE);
	assert_int_equal(l->n_images, 1);
	assert_null(de_pt_find_pid(pt, 703));

	struct de_pt_stats st = stats(pt);
	assert_int_equal(st.duplicates, 3);
	assert_int_equal(st.synthesized, 2);
	assert_int_equal(st.live, 1);
	assert_int_equal(st.exited, 3);
	assert_int_equal(st.exits_missed, 0);
	assert_int_equal(st.events, 11);
	de_pt_free(pt);
}

/* Every counter, after a scripted mix of events. */
static void test_counters_exact(void **state)
{
	(void)state;
	struct de_proctable *pt = table(3);
	struct de_event status = ev_base(DE_EV_STATUS, init, 0);
	assert_int_equal(de_pt_apply(pt, &status), 0);          /* ignored */
	struct de_event bad = ev_base(DE_EV_FORK, (struct pi){ 0, 1 }, 0);
	assert_int_equal(de_pt_apply(pt, &bad), -EINVAL);       /* pid 0 */
	bad = ev_base(DE_EV_EXEC, (struct pi){ 5, 1 }, 0);
	memset(bad.entity_id, 0, sizeof(bad.entity_id));
	assert_int_equal(de_pt_apply(pt, &bad), -EINVAL);       /* no entity id */
	snap_(pt, init, (struct pi){ 0, 0 }, "/sbin/init", 1, 1); /* event 1 */
	for (int i = 0; i < 5; i++) {                             /* events 2..16 */
		struct pi c = { 10 + i, 10 };
		fork_(pt, c, init, 10 + i);
		exec_(pt, c, "/bin/x", 2, 20 + i);
		exit_(pt, c, i, 30 + i);
	}
	fork_(pt, (struct pi){ 99, 1 }, init, 40);                /* 17 */
	fork_(pt, (struct pi){ 99, 2 }, init, 41);                /* 18: reuse */
	exit_(pt, (struct pi){ 98, 1 }, 0, 42);                   /* 19: synthesized */
	fork_(pt, (struct pi){ 99, 2 }, init, 41);                /* 20: duplicate */
	struct de_pt_stats st = stats(pt);
	struct de_pt_stats want = {
		.live = 2, .exited = 3, .pinned = 0, .events = 20, .evicted = 4,
		.evicted_pinned = 0, .pid_reuse_closures = 1, .exits_missed = 1,
		.late_exits = 0, .synthesized = 1, .duplicates = 1, .stale = 0,
		.images = 6, .images_dropped = 0, .resyncs = 0, .resync_added = 0,
		.resync_closed = 0, .bytes = st.bytes,
	};
	assert_memory_equal(&st, &want, sizeof(st));
	de_pt_free(pt);
}

static int count_live(const struct de_pt_proc *p, void *ud)
{
	(void)p;
	(*(int *)ud)++;
	return 0;
}

/* 10,000 live processes with ~100-byte argv: the table's own bytes. */
static void test_memory_and_iteration(void **state)
{
	(void)state;
	struct de_proctable *pt = table(4096);
	char argv[128];
	memset(argv, 0, sizeof(argv));
	int alen = snprintf(argv, sizeof(argv), "/usr/lib/jvm/bin/java%c-Xmx512m%c-jar%c"
			    "/opt/service/app-server-1.2.3.jar%c--port%c8080%c--verbose",
			    0, 0, 0, 0, 0, 0) + 1;
	for (int i = 0; i < 10000; i++) {
		struct pi c = { 40000 - i, 5 };
		struct de_event ev = ev_base(DE_EV_EXEC, c, i);
		set_image(&ev, "/usr/lib/jvm/bin/java", argv, (size_t)alen, 1234);
		set_parent(&ev, init);
		assert_int_equal(de_pt_apply(pt, &ev), 0);
	}
	struct de_pt_stats st = stats(pt);
	assert_int_equal(st.live, 10000);
	print_message("# 10,000 live processes, argv %d bytes: table %llu bytes (%.0f per process)\n",
		      alen, (unsigned long long)st.bytes, (double)st.bytes / 10000.0);
	assert_true(st.bytes < 5u * 1024 * 1024);
	assert_true(st.bytes > 10000u * ((unsigned)alen + sizeof(struct de_pt_proc)));

	int n = 0;
	assert_int_equal(de_pt_foreach_live(pt, count_live, &n), 0);
	assert_int_equal(n, 10000);
	const struct de_pt_proc **v;
	size_t nv;
	assert_int_equal(de_pt_live_sorted(pt, &v, &nv), 0);
	assert_int_equal(nv, 10000);
	for (size_t i = 0; i < nv; i++)
		assert_int_equal(v[i]->pid, 30001 + (int)i);
	free(v);
	de_pt_free(pt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_exec_exit),
		cmocka_unit_test(test_exec_without_fork),
		cmocka_unit_test(test_hash_pool),
		cmocka_unit_test(test_pid_reuse),
		cmocka_unit_test(test_ancestry),
		cmocka_unit_test(test_eviction_bound),
		cmocka_unit_test(test_resync),
		cmocka_unit_test(test_out_of_order_and_duplicates),
		cmocka_unit_test(test_counters_exact),
		cmocka_unit_test(test_memory_and_iteration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
