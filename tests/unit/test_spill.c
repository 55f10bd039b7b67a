/* test_spill.c: procmond's on-disk spill: FIFO order across segments, the
 * byte cap, segments deleted as they are consumed, a previous run's
 * segments discarded at open, a damaged segment refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipcframe.h"
#include "spill.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/de-spill-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	return rmdir(dir);
}

static size_t files_in_dir(void)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* A frame whose payload is `len` bytes of the value i. */
static size_t make_frame(uint8_t *buf, uint32_t i, uint32_t len)
{
	de_ipc_hdr_write(buf, len);
	memset(buf + DE_IPC_HDR_LEN, (int)(i & 0xff), len);
	return DE_IPC_HDR_LEN + len;
}

static void test_fifo_segments_cap(void **state)
{
	(void)state;
	struct de_spill *s;
	uint64_t stale = 1;
	struct de_spill_opts o = { .dir = dir, .cap_bytes = 64 * 1024, .segment_bytes = 4096 };
	assert_int_equal(de_spill_open(&o, &s, &stale), 0);
	assert_int_equal(stale, 0);
	uint8_t f[2048];
	struct de_buf out = DE_BUF_INIT;
	assert_int_equal(de_spill_peek(s, &out), 0); /* empty */
	/* 1000-byte payloads: 1012-byte frames, 4 per 4 KiB segment; 64 under the cap. */
	uint32_t pushed = 0;
	int r;
	while ((r = de_spill_push(s, f, make_frame(f, pushed, 1000))) == 0)
		pushed++;
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(pushed, 64);
	assert_true(de_spill_bytes(s) <= 64 * 1024);
	assert_int_equal(de_spill_frames(s), 64);
	assert_true(files_in_dir() >= 16);
	/* Read half back in order; consumed segments disappear. */
	for (uint32_t i = 0; i < 32; i++) {
		assert_int_equal(de_spill_peek(s, &out), 1012);
		assert_int_equal((uint8_t)out.data[DE_IPC_HDR_LEN], i & 0xff);
		assert_int_equal((uint8_t)out.data[1011], i & 0xff);
		de_spill_pop(s);
	}
	assert_int_equal(de_spill_frames(s), 32);
	assert_true(files_in_dir() <= 9);
	/* Room again: push more, still in order after the older ones. */
	assert_int_equal(de_spill_push(s, f, make_frame(f, 200, 1000)), 0);
	for (uint32_t i = 32; i < 64; i++) {
		assert_int_equal(de_spill_peek(s, &out), 1012);
		assert_int_equal((uint8_t)out.data[DE_IPC_HDR_LEN], i & 0xff);
		de_spill_pop(s);
	}
	assert_int_equal(de_spill_peek(s, &out), 1012);
	assert_int_equal((uint8_t)out.data[DE_IPC_HDR_LEN], 200);
	de_spill_pop(s);
	assert_int_equal(de_spill_frames(s), 0);
	assert_int_equal(de_spill_bytes(s), 0);
	assert_int_equal(files_in_dir(), 0); /* empty: nothing left on disk */
	assert_int_equal(de_spill_peek(s, &out), 0);
	de_spill_close(s);
	de_buf_free(&out);
}

static void test_peek_without_pop_repeats(void **state)
{
	(void)state;
	struct de_spill *s;
	uint64_t stale;
	struct de_spill_opts o = { .dir = dir };
	assert_int_equal(de_spill_open(&o, &s, &stale), 0);
	uint8_t f[64];
	assert_int_equal(de_spill_push(s, f, make_frame(f, 7, 10)), 0);
	assert_int_equal(de_spill_push(s, f, make_frame(f, 8, 20)), 0);
	struct de_buf out = DE_BUF_INIT;
	assert_int_equal(de_spill_peek(s, &out), 22);
	assert_int_equal(de_spill_peek(s, &out), 22); /* not consumed */
	de_spill_pop(s);
	assert_int_equal(de_spill_peek(s, &out), 32);
	assert_int_equal((uint8_t)out.data[DE_IPC_HDR_LEN], 8);
	de_spill_close(s);
	de_buf_free(&out);
}

static void test_stale_discarded_and_damage_refused(void **state)
{
	(void)state;
	struct de_spill *s;
	uint64_t stale = 0;
	struct de_spill_opts o = { .dir = dir, .segment_bytes = 4096 };
	assert_int_equal(de_spill_open(&o, &s, &stale), 0);
	uint8_t f[2048];
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(de_spill_push(s, f, make_frame(f, i, 1000)), 0);
	de_spill_close(s); /* removes this run's segments */
	assert_int_equal(files_in_dir(), 0);
	/* A crash leaves a segment behind: the next open discards it. */
	char keep[128];
	snprintf(keep, sizeof(keep), "%s/seg-ffffffffffffff00", dir);
	int k = open(keep, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(k >= 0);
	assert_int_equal(write(k, f, 500), 500);
	close(k);
	assert_int_equal(de_spill_open(&o, &s, &stale), 0);
	assert_int_equal(stale, 500);
	assert_int_equal(files_in_dir(), 0);
	/* Damage: a frame whose header is overwritten on disk. */
	assert_int_equal(de_spill_push(s, f, make_frame(f, 1, 100)), 0);
	char seg[512];
	DIR *d = opendir(dir);
	struct dirent *e;
	seg[0] = '\0';
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			snprintf(seg, sizeof(seg), "%s/%s", dir, e->d_name);
	closedir(d);
	k = open(seg, O_WRONLY);
	assert_int_equal(pwrite(k, "XXXX", 4, 0), 4);
	close(k);
	struct de_buf out = DE_BUF_INIT;
	assert_int_equal(de_spill_peek(s, &out), -EBADMSG);
	de_spill_close(s);
	de_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fifo_segments_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peek_without_pop_repeats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_discarded_and_damage_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
