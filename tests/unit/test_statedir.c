/* test_statedir.c: the state directory and the names inside it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "statedir.h"

static void test_flag_wins(void **state)
{
	(void)state;
	char d[256];
	setenv("DAEMONEYE_STATE_DIR", "/env/dir", 1);
	assert_int_equal(de_state_dir("/flag/dir", d, sizeof(d)), 0);
	assert_string_equal(d, "/flag/dir");
	assert_int_equal(de_state_dir(NULL, d, sizeof(d)), 0);
	assert_string_equal(d, "/env/dir");
	unsetenv("DAEMONEYE_STATE_DIR");
}

static void test_defaults(void **state)
{
	(void)state;
	char d[256];
	unsetenv("DAEMONEYE_STATE_DIR");
	setenv("XDG_STATE_HOME", "/xdg", 1);
	setenv("HOME", "/home/u", 1);
	assert_int_equal(de_state_dir(NULL, d, sizeof(d)), 0);
	if (geteuid() == 0) {
		assert_string_equal(d, "/var/lib/daemoneye");
	} else {
		assert_string_equal(d, "/xdg/daemoneye");
		unsetenv("XDG_STATE_HOME");
		assert_int_equal(de_state_dir(NULL, d, sizeof(d)), 0);
		assert_string_equal(d, "/home/u/.local/state/daemoneye");
		unsetenv("HOME");
		assert_int_equal(de_state_dir(NULL, d, sizeof(d)), -ENOENT);
	}
}

static void test_paths(void **state)
{
	(void)state;
	char p[64];
	assert_int_equal(de_state_path("/s", DE_STATE_STORE, p, sizeof(p)), 0);
	assert_string_equal(p, "/s/store.db");
	assert_int_equal(de_state_path("/s", DE_STATE_PROCMOND_SOCK, p, sizeof(p)), 0);
	assert_string_equal(p, "/s/ipc/procmond.sock");
	assert_int_equal(de_state_path("/s", DE_STATE_ROOT, p, sizeof(p)), 0);
	assert_string_equal(p, "/s");
	char small[8];
	assert_int_equal(de_state_path("/s", DE_STATE_AGENT_SOCK, small, sizeof(small)), -ENAMETOOLONG);
	assert_int_equal(de_state_path("/s", (enum de_state_item)99, p, sizeof(p)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flag_wins),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
