/* test_buf.c: the growable buffer and the /proc file readers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"

static void test_append_and_printf(void **state)
{
	(void)state;
	struct de_buf b = DE_BUF_INIT;
	assert_string_equal(de_buf_str(&b), "");
	for (int i = 0; i < 1000; i++)
		de_buf_printf(&b, "%d,", i);
	assert_int_equal(b.err, 0);
	assert_true(b.len > 3000);
	assert_memory_equal(b.data, "0,1,2,", 6);
	assert_int_equal(b.data[b.len], '\0');
	/* a long printf exercises the two-pass path */
	char big[1000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	de_buf_reset(&b);
	de_buf_printf(&b, "<%s>", big);
	assert_int_equal(b.len, 1001);
	assert_int_equal(b.data[1000], '>');
	char *s = de_buf_steal(&b);
	assert_null(b.data);
	assert_int_equal(strlen(s), 1001);
	free(s);
	de_buf_free(&b);
}

static void test_sticky_error(void **state)
{
	(void)state;
	struct de_buf b = DE_BUF_INIT;
	de_buf_puts(&b, "abc");
	assert_int_equal(de_buf_reserve(&b, SIZE_MAX - 2), -ENOMEM);
	assert_int_equal(de_buf_puts(&b, "more"), -ENOMEM);
	assert_string_equal(de_buf_str(&b), "abc");
	de_buf_reset(&b);
	assert_int_equal(b.err, 0);
	de_buf_free(&b);
}

static int tmpdir_fd(char *path)
{
	strcpy(path, "/tmp/de-test-buf-XXXXXX");
	assert_non_null(mkdtemp(path));
	int fd = open(path, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	return fd;
}

static void write_file(int dfd, const char *name, const void *p, size_t n)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void test_read_file_at(void **state)
{
	(void)state;
	char path[64];
	int dfd = tmpdir_fd(path);
	write_file(dfd, "small", "hello\n", 6);
	char buf[8];
	assert_int_equal(de_read_file_at(dfd, "small", buf, sizeof(buf)), 6);
	assert_string_equal(buf, "hello\n");
	write_file(dfd, "exact", "1234567", 7);
	assert_int_equal(de_read_file_at(dfd, "exact", buf, sizeof(buf)), 7);
	write_file(dfd, "big", "123456789", 9);
	assert_int_equal(de_read_file_at(dfd, "big", buf, sizeof(buf)), -EFBIG);
	assert_int_equal(de_read_file_at(dfd, "missing", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(symlinkat("small", dfd, "link"), 0);
	assert_int_equal(de_read_file_at(dfd, "link", buf, sizeof(buf)), -ELOOP);

	struct de_buf b = DE_BUF_INIT;
	bool trunc;
	assert_int_equal(de_read_file_at_buf(dfd, "big", &b, 4, &trunc), 4);
	assert_true(trunc);
	assert_string_equal(de_buf_str(&b), "1234");
	assert_int_equal(de_read_file_at_buf(dfd, "big", &b, 9, &trunc), 9);
	assert_false(trunc);
	write_file(dfd, "empty", "", 0);
	assert_int_equal(de_read_file_at_buf(dfd, "empty", &b, 9, &trunc), 0);
	assert_string_equal(de_buf_str(&b), "");
	de_buf_free(&b);
	for (const char *n = "small\0exact\0big\0link\0empty\0"; *n; n += strlen(n) + 1)
		unlinkat(dfd, n, 0);
	close(dfd);
	rmdir(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_printf),
		cmocka_unit_test(test_sticky_error),
		cmocka_unit_test(test_read_file_at),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
