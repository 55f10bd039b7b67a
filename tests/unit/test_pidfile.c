/* test_pidfile.c: pid files are written whole, a reader believes only a
 * live daemoneye process (a stale or foreign pid is -ESRCH), garbage is
 * -EBADMSG, and removal leaves another process's file alone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidfile.h"

static char dir[64], path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/de-pidfile-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/x.pid", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(dir);
}

static void put(const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_write_and_read(void **state)
{
	(void)state;
	assert_int_equal(de_pidfile_read(path), -ENOENT);
	assert_int_equal(de_pidfile_write(path), 0);
	char buf[32] = "", want[32];
	int fd = open(path, O_RDONLY);
	assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
	close(fd);
	snprintf(want, sizeof(want), "%d\n", (int)getpid());
	assert_string_equal(buf, want);
	/* This process is alive but is not daemoneye (comm test_pidfile): not believed. */
	assert_int_equal(de_pidfile_read(path), -ESRCH);
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1); /* no temporary file left */
	de_pidfile_remove(path);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_stale_and_garbage(void **state)
{
	(void)state;
	put("1073741823\n"); /* above pid_max: no such process */
	assert_int_equal(de_pidfile_read(path), -ESRCH);
	put("12ab\n");
	assert_int_equal(de_pidfile_read(path), -EBADMSG);
	put("");
	assert_int_equal(de_pidfile_read(path), -EBADMSG);
	put("-5\n");
	assert_int_equal(de_pidfile_read(path), -EBADMSG);
	put("1\n"); /* init: alive, but not daemoneye */
	assert_int_equal(de_pidfile_read(path), -ESRCH);
	de_pidfile_remove(path); /* names another process: left alone */
	assert_int_equal(access(path, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_and_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_and_garbage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
