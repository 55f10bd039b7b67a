/* test_evcopy.c: de_event_copy() makes an event that owns its bytes: every
 * string and the struct de_proc are copies in the arena (the source can be
 * overwritten), NUL-separated argv and environment keep their length, and
 * the arena's cap is reported as -ENOMEM. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "evcopy.h"

static void test_deep_copy(void **state)
{
	(void)state;
	char filename[] = "/usr/bin/evil\nname", argv[] = "a\0b c\0\xff\x1b[2J", exe[] = "/x",
	     cg[] = "/sys.slice", cid[] = "abc", note[] = "deferred", detail[] = "d";
	char puser[] = "alice", pcg[] = "/p", pexe[] = "/bin/p", cwd[] = "/home", root[] = "/",
	     pargv[] = "p\0q", env[] = "A=1\0SECRET=[REDACTED]", rt[] = "docker", pcid[] = "c1";
	struct de_proc p = { .pid = 42, .user = puser, .cgroup = pcg, .exe = pexe, .cwd = cwd,
			     .root = root, .argv = pargv, .argv_len = 4, .argc = 2, .env = env,
			     .env_len = sizeof(env), .envc = 2, .container_runtime = rt,
			     .container_id = pcid };
	struct de_event ev = { .type = DE_EV_EXEC, .pid = 42, .filename = filename, .argv = argv,
			       .argv_len = sizeof(argv) - 1, .argc = 3, .exe = exe, .cgroup = cg,
			       .container_id = cid, .hash_note = note, .detail = detail, .proc = &p,
			       .have = DE_EVF_PROC | DE_EVF_ARGV };
	struct de_arena *a = de_arena_new(1 << 20);
	struct de_event c;
	assert_int_equal(de_event_copy(&ev, a, &c), 0);
	/* Overwrite every source byte: the copy must not change. */
	memset(filename, 'z', sizeof(filename) - 1);
	memset(argv, 'z', sizeof(argv) - 1);
	memset(pargv, 'z', sizeof(pargv) - 1);
	memset(env, 'z', sizeof(env) - 1);
	memset(puser, 'z', sizeof(puser) - 1);
	memset(cwd, 'z', sizeof(cwd) - 1);
	memset(&p, 0, sizeof(p));
	assert_string_equal(c.filename, "/usr/bin/evil\nname");
	assert_int_equal(c.argv_len, 11);
	assert_memory_equal(c.argv, "a\0b c\0\xff\x1b[2J", 11);
	assert_string_equal(c.exe, "/x");
	assert_string_equal(c.cgroup, "/sys.slice");
	assert_string_equal(c.container_id, "abc");
	assert_string_equal(c.hash_note, "deferred");
	assert_string_equal(c.detail, "d");
	assert_ptr_not_equal(c.proc, &p);
	assert_int_equal(c.proc->pid, 42);
	assert_string_equal(c.proc->user, "alice");
	assert_string_equal(c.proc->cwd, "/home");
	assert_string_equal(c.proc->root, "/");
	assert_string_equal(c.proc->container_runtime, "docker");
	assert_memory_equal(c.proc->argv, "p\0q", 4);
	assert_memory_equal(c.proc->env, "A=1\0SECRET=[REDACTED]", sizeof(env));
	de_arena_free(a);
}

static void test_nulls_and_cap(void **state)
{
	(void)state;
	struct de_event ev = { .type = DE_EV_EXIT, .pid = 1 };
	struct de_arena *a = de_arena_new(1 << 16);
	struct de_event c;
	assert_int_equal(de_event_copy(&ev, a, &c), 0);
	assert_null(c.filename);
	assert_null(c.argv);
	assert_null(c.proc);
	static char big[1 << 17];
	memset(big, 'x', sizeof(big) - 1);
	ev.filename = big;
	assert_int_equal(de_event_copy(&ev, a, &c), -ENOMEM);
	de_arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deep_copy),
		cmocka_unit_test(test_nulls_and_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
