/* test_ipcframe.c: the frame header and the incremental frame reader. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ipcframe.h"

/* Append a frame with the given payload to b. */
static void put_frame(struct de_buf *b, const char *payload, uint32_t len)
{
	uint8_t hdr[DE_IPC_HDR_LEN];
	de_ipc_hdr_write(hdr, len);
	de_buf_append(b, hdr, sizeof(hdr));
	de_buf_append(b, payload, len);
	assert_int_equal(b->err, 0);
}

static void test_header(void **state)
{
	(void)state;
	uint8_t h[DE_IPC_HDR_LEN];
	de_ipc_hdr_write(h, 0x01020304);
	assert_memory_equal(h, "DEIP\x01\x00\x00\x00\x04\x03\x02\x01", DE_IPC_HDR_LEN);
	assert_int_equal(de_ipc_hdr_parse(h, 0x7fffffff), 0x01020304);
	assert_int_equal(de_ipc_hdr_parse(h, 0x01020303), -EMSGSIZE);
	h[0] = 'X';
	assert_int_equal(de_ipc_hdr_parse(h, 0x7fffffff), -EBADMSG);
	h[0] = 'D';
	h[4] = 2;
	assert_int_equal(de_ipc_hdr_parse(h, 0x7fffffff), -EPROTONOSUPPORT);
	h[4] = 1;
	h[5] = 9; /* a newer minor version is fine */
	assert_int_equal(de_ipc_hdr_parse(h, 0x7fffffff), 0x01020304);
	h[7] = 1;
	assert_int_equal(de_ipc_hdr_parse(h, 0x7fffffff), -EBADMSG);
	assert_string_equal(de_ipc_strerror(-EPROTONOSUPPORT), "unsupported protocol major version");
}

static void test_one_byte_reads(void **state)
{
	(void)state;
	struct de_buf b = DE_BUF_INIT;
	put_frame(&b, "hello", 5);
	put_frame(&b, "", 0);
	char big[40000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	put_frame(&b, big, sizeof(big));

	struct de_ipc_reader *r = de_ipc_reader_new(0);
	assert_non_null(r);
	unsigned frames = 0;
	for (size_t i = 0; i < b.len; i++) {
		size_t used;
		int rc = de_ipc_reader_feed(r, b.data + i, 1, &used);
		assert_int_equal(used, 1);
		assert_true(rc == 0 || rc == 1);
		if (rc == 0)
			continue;
		const uint8_t *p;
		size_t len;
		uint8_t minor;
		de_ipc_reader_frame(r, &p, &len, &minor);
		assert_int_equal(minor, DE_IPC_VERSION_MINOR);
		if (frames == 0) {
			assert_int_equal(len, 5);
			assert_memory_equal(p, "hello", 5);
		} else if (frames == 1) {
			assert_int_equal(len, 0);
			assert_non_null(p);
		} else {
			assert_int_equal(len, sizeof(big));
			assert_memory_equal(p, big, sizeof(big));
		}
		frames++;
	}
	assert_int_equal(frames, 3);
	de_ipc_reader_free(r);
	de_buf_free(&b);
}

static void test_several_frames_one_read(void **state)
{
	(void)state;
	struct de_buf b = DE_BUF_INIT;
	for (int i = 0; i < 10; i++) {
		char s[24];
		int n = snprintf(s, sizeof(s), "frame-%d", i);
		put_frame(&b, s, (uint32_t)n);
	}
	/* and half of one more */
	put_frame(&b, "tail-frame", 10);
	size_t total = b.len - 5;

	struct de_ipc_reader *r = de_ipc_reader_new(0);
	size_t off = 0;
	int frames = 0;
	while (off < total) {
		size_t used;
		int rc = de_ipc_reader_feed(r, b.data + off, total - off, &used);
		off += used;
		if (rc == 1) {
			const uint8_t *p;
			size_t len;
			de_ipc_reader_frame(r, &p, &len, NULL);
			char want[24];
			int n = snprintf(want, sizeof(want), "frame-%d", frames);
			assert_int_equal(len, (size_t)n);
			assert_memory_equal(p, want, len);
			frames++;
		} else {
			assert_int_equal(rc, 0);
		}
	}
	assert_int_equal(frames, 10);
	/* the incomplete frame is pending: a truncated stream at EOF */
	assert_int_equal(de_ipc_reader_pending(r), DE_IPC_HDR_LEN + 5);
	de_ipc_reader_free(r);
	de_buf_free(&b);
}

/* Feed just a header and expect err; nothing may be allocated. */
static void expect_header_error(const uint8_t *h, uint32_t frame_max, int err)
{
	struct de_ipc_reader *r = de_ipc_reader_new(frame_max);
	assert_non_null(r);
	size_t used;
	assert_int_equal(de_ipc_reader_feed(r, h, DE_IPC_HDR_LEN, &used), err);
	assert_int_equal(de_ipc_reader_mem(r), 0);
	/* sticky: the stream cannot be resynchronised */
	uint8_t good[DE_IPC_HDR_LEN];
	de_ipc_hdr_write(good, 0);
	assert_int_equal(de_ipc_reader_feed(r, good, sizeof(good), &used), err);
	assert_int_equal(used, 0);
	de_ipc_reader_free(r);
}

static void test_bad_headers(void **state)
{
	(void)state;
	uint8_t h[DE_IPC_HDR_LEN];
	/* length far above the limit: refused before any allocation */
	de_ipc_hdr_write(h, 0xffffffffu);
	expect_header_error(h, 0, -EMSGSIZE);
	de_ipc_hdr_write(h, DE_IPC_FRAME_MAX_DEFAULT + 1);
	expect_header_error(h, 0, -EMSGSIZE);
	/* the limit is a parameter */
	de_ipc_hdr_write(h, 1025);
	expect_header_error(h, 1024, -EMSGSIZE);
	de_ipc_hdr_write(h, 10);
	memcpy(h, "HTTP", 4);
	expect_header_error(h, 0, -EBADMSG);
	de_ipc_hdr_write(h, 10);
	h[4] = 0;
	expect_header_error(h, 0, -EPROTONOSUPPORT);
	h[4] = 2;
	expect_header_error(h, 0, -EPROTONOSUPPORT);
	de_ipc_hdr_write(h, 10);
	h[6] = 0x80;
	expect_header_error(h, 0, -EBADMSG);
	/* a limit above the hard maximum is refused */
	assert_null(de_ipc_reader_new(DE_IPC_FRAME_MAX_LIMIT + 1));
	assert_int_equal(errno, EINVAL);
}

/* A peer that announces the maximum and sends a few bytes costs a few
 * KiB, not the announced size. */
static void test_claimed_size_not_allocated(void **state)
{
	(void)state;
	uint8_t h[DE_IPC_HDR_LEN + 10] = { 0 };
	de_ipc_hdr_write(h, DE_IPC_FRAME_MAX_DEFAULT);
	struct de_ipc_reader *r = de_ipc_reader_new(0);
	size_t used;
	assert_int_equal(de_ipc_reader_feed(r, h, sizeof(h), &used), 0);
	assert_int_equal(used, sizeof(h));
	assert_true(de_ipc_reader_mem(r) <= 16 * 1024);
	assert_int_equal(de_ipc_reader_pending(r), sizeof(h));
	/* and it grows with what arrives, never past the frame */
	static uint8_t chunk[256 * 1024];
	assert_int_equal(de_ipc_reader_feed(r, chunk, sizeof(chunk), &used), 0);
	assert_true(de_ipc_reader_mem(r) >= 10 + sizeof(chunk));
	assert_true(de_ipc_reader_mem(r) <= 2 * (10 + sizeof(chunk)));
	de_ipc_reader_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_one_byte_reads),
		cmocka_unit_test(test_several_frames_one_read),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_claimed_size_not_allocated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
