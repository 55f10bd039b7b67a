/* test_hash.c: hash.c against the official BLAKE3 test vectors (all three
 * modes, default and extended output), the FIPS 180-2 SHA-256 examples,
 * and de_hash_fd on files at every block boundary, size limits, pipes and
 * bad descriptors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "macros.h"
#include "testutil.h"

/* --- helpers ------------------------------------------------------------ */

static void assert_hex(const uint8_t d[DE_HASH_LEN], const char *want)
{
	char hex[DE_HASH_HEX_LEN];
	de_hash_hex(d, hex);
	assert_string_equal(hex, want);
}

/* A temporary file holding p[0..n), unlinked at once; returns its fd
 * (read-write, offset 0). */
static int temp_file(const void *p, size_t n)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/de-test-hash-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(fd, (const char *)p + off, n - off);
		assert_true(w > 0);
		off += (size_t)w;
	}
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static uint8_t *pattern(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i % 251);
	return p;
}

/* --- BLAKE3 official vectors ----------------------------------------------
 * The file is fixed and trusted: testutil's field scanner is enough. */

#define XOF_MAX 256

static void check_xof(const char *what, size_t len, const char *hex, size_t hexlen,
		      const uint8_t *got)
{
	uint8_t want[XOF_MAX];
	size_t n = tu_unhex(hex, hexlen, want, sizeof(want));
	if (memcmp(got, want, n) != 0)
		fail_msg("BLAKE3 %s mismatch for input_len %zu", what, len);
}

static void test_blake3_vectors(void **state)
{
	(void)state;
	const char *dir = getenv("DE_TESTDATA");
	assert_non_null(dir);
	char path[4096];
	snprintf(path, sizeof(path), "%s/blake3/test_vectors.json", dir);
	size_t flen;
	_cleanup_free_ char *json = tu_slurp(path, &flen);
	const char *end = json + flen;

	size_t keylen, ctxlen;
	const char *key = tu_json_str(json, end, "key", &keylen);
	const char *ctxp = tu_json_str(json, end, "context_string", &ctxlen);
	assert_int_equal(keylen, DE_HASH_LEN);
	char context[128];
	assert_true(ctxlen < sizeof(context));
	memcpy(context, ctxp, ctxlen);
	context[ctxlen] = '\0';

	const char *p = strstr(json, "\"cases\"");
	assert_non_null(p);
	unsigned ncases = 0;
	const char *v;
	while ((v = tu_json_field(p, end, "input_len")) != NULL) {
		size_t len = strtoul(v, NULL, 10);
		const char *obj_end = strchr(v, '}');
		assert_non_null(obj_end);
		size_t hl, kl, dl;
		const char *h = tu_json_str(v, obj_end, "hash", &hl);
		const char *kh = tu_json_str(v, obj_end, "keyed_hash", &kl);
		const char *dk = tu_json_str(v, obj_end, "derive_key", &dl);
		assert_true(hl / 2 > DE_HASH_LEN && hl / 2 <= XOF_MAX);

		_cleanup_free_ uint8_t *in = pattern(len);
		uint8_t out[XOF_MAX];

		/* hash: default length through the public API, in memory and
		 * from a file, then the extended output. */
		struct de_hashes d;
		assert_int_equal(de_hash_mem(in, len, DE_HASH_BLAKE3, &d), 0);
		assert_int_equal(d.algos, DE_HASH_BLAKE3);
		check_xof("hash (de_hash_mem)", len, h, 2 * DE_HASH_LEN, d.blake3);
		_cleanup_close_ int fd = temp_file(in, len);
		assert_int_equal(de_hash_fd(fd, DE_HASH_BLAKE3, 0, &d), (int64_t)len);
		check_xof("hash (de_hash_fd)", len, h, 2 * DE_HASH_LEN, d.blake3);
		de_blake3(in, len, out, hl / 2);
		check_xof("hash (extended)", len, h, hl, out);

		de_blake3_keyed((const uint8_t *)key, in, len, out, DE_HASH_LEN);
		check_xof("keyed_hash", len, kh, 2 * DE_HASH_LEN, out);
		de_blake3_keyed((const uint8_t *)key, in, len, out, kl / 2);
		check_xof("keyed_hash (extended)", len, kh, kl, out);

		de_blake3_derive_key(context, in, len, out, DE_HASH_LEN);
		check_xof("derive_key", len, dk, 2 * DE_HASH_LEN, out);
		de_blake3_derive_key(context, in, len, out, dl / 2);
		check_xof("derive_key (extended)", len, dk, dl, out);

		ncases++;
		p = obj_end;
	}
	/* The official file has 35 cases (0 .. 102400 bytes); a scanner that
	 * silently skipped some would otherwise pass. */
	assert_int_equal(ncases, 35);
}

/* --- SHA-256 known answers (FIPS 180-2 appendix B, and the empty string) */

static void test_sha256_kat(void **state)
{
	(void)state;
	static const struct {
		const char *msg;
		const char *hex;
	} kat[] = {
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	struct de_hashes d;
	for (size_t i = 0; i < DE_ARRAY_SIZE(kat); i++) {
		assert_int_equal(de_hash_mem(kat[i].msg, strlen(kat[i].msg), DE_HASH_SHA256, &d), 0);
		assert_int_equal(d.algos, DE_HASH_SHA256);
		assert_hex(d.sha256, kat[i].hex);
	}

	/* One million 'a', in memory and through a file (4 blocks + a tail). */
	size_t n = 1000000;
	_cleanup_free_ char *m = malloc(n);
	assert_non_null(m);
	memset(m, 'a', n);
	const char *million = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	assert_int_equal(de_hash_mem(m, n, DE_HASH_SHA256, &d), 0);
	assert_hex(d.sha256, million);
	_cleanup_close_ int fd = temp_file(m, n);
	assert_int_equal(de_hash_fd(fd, DE_HASH_SHA256, 0, &d), (int64_t)n);
	assert_hex(d.sha256, million);
}

/* Both algorithms in one pass give the same digests as each alone. */
static void test_both_one_pass(void **state)
{
	(void)state;
	size_t n = 3 * DE_HASH_BLOCK + 12345;
	_cleanup_free_ uint8_t *p = pattern(n);
	struct de_hashes both, s, b;
	assert_int_equal(de_hash_mem(p, n, DE_HASH_ALL, &both), 0);
	assert_int_equal(both.algos, DE_HASH_ALL);
	assert_int_equal(de_hash_mem(p, n, DE_HASH_SHA256, &s), 0);
	assert_int_equal(de_hash_mem(p, n, DE_HASH_BLAKE3, &b), 0);
	assert_memory_equal(both.sha256, s.sha256, DE_HASH_LEN);
	assert_memory_equal(both.blake3, b.blake3, DE_HASH_LEN);

	_cleanup_close_ int fd = temp_file(p, n);
	struct de_hashes f;
	assert_int_equal(de_hash_fd(fd, DE_HASH_ALL, 0, &f), (int64_t)n);
	assert_int_equal(f.algos, DE_HASH_ALL);
	assert_memory_equal(f.sha256, s.sha256, DE_HASH_LEN);
	assert_memory_equal(f.blake3, b.blake3, DE_HASH_LEN);
}

/* --- files ----------------------------------------------------------------- */

static void check_file_size(size_t n)
{
	_cleanup_free_ uint8_t *p = pattern(n);
	struct de_hashes want, got;
	assert_int_equal(de_hash_mem(p, n, DE_HASH_ALL, &want), 0);
	_cleanup_close_ int fd = temp_file(p, n);
	assert_int_equal(de_hash_fd(fd, DE_HASH_ALL, 0, &got), (int64_t)n);
	assert_memory_equal(&got, &want, sizeof(got));
	/* pread variant: same digests, the file offset is not moved. */
	assert_int_equal(lseek(fd, 7, SEEK_SET), 7);
	assert_int_equal(de_hash_fd_at(fd, 0, DE_HASH_ALL, 0, &got), (int64_t)n);
	assert_memory_equal(&got, &want, sizeof(got));
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 7);
}

static void test_fd_sizes(void **state)
{
	(void)state;
	/* Empty file: the well-known empty digests. */
	_cleanup_close_ int fd = temp_file("", 0);
	struct de_hashes d;
	assert_int_equal(de_hash_fd(fd, DE_HASH_ALL, 0, &d), 0);
	assert_hex(d.blake3, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
	assert_hex(d.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

	static const size_t sizes[] = {
		1, 4095, 4096, 4097, DE_HASH_BLOCK - 1, DE_HASH_BLOCK, DE_HASH_BLOCK + 1,
		2 * DE_HASH_BLOCK, 2 * DE_HASH_BLOCK + 1, 5 * DE_HASH_BLOCK + 777,
	};
	for (size_t i = 0; i < DE_ARRAY_SIZE(sizes); i++)
		check_file_size(sizes[i]);
}

/* de_hash_fd starts at the current offset; de_hash_fd_at at its argument. */
static void test_fd_offsets(void **state)
{
	(void)state;
	size_t n = DE_HASH_BLOCK + 100;
	_cleanup_free_ uint8_t *p = pattern(n);
	_cleanup_close_ int fd = temp_file(p, n);
	struct de_hashes want, got;

	assert_int_equal(de_hash_mem(p + 1000, n - 1000, DE_HASH_ALL, &want), 0);
	assert_int_equal(lseek(fd, 1000, SEEK_SET), 1000);
	assert_int_equal(de_hash_fd(fd, DE_HASH_ALL, 0, &got), (int64_t)(n - 1000));
	assert_memory_equal(&got, &want, sizeof(got));
	assert_int_equal(de_hash_fd_at(fd, 1000, DE_HASH_ALL, 0, &got), (int64_t)(n - 1000));
	assert_memory_equal(&got, &want, sizeof(got));
	/* Past EOF: nothing to hash, the empty digest. */
	assert_int_equal(de_hash_fd_at(fd, n + 5, DE_HASH_SHA256, 0, &got), 0);
	assert_hex(got.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_fd_max_bytes(void **state)
{
	(void)state;
	size_t n = DE_HASH_BLOCK + 1;
	_cleanup_free_ uint8_t *p = pattern(n);
	_cleanup_close_ int fd = temp_file(p, n);
	struct de_hashes d;
	/* Exactly at the limit is fine, one byte over is not. */
	assert_int_equal(de_hash_fd_at(fd, 0, DE_HASH_ALL, n, &d), (int64_t)n);
	assert_int_equal(de_hash_fd_at(fd, 0, DE_HASH_ALL, n - 1, &d), -EFBIG);
	assert_int_equal(d.algos, 0);
	/* The limit counts from the starting offset. */
	assert_int_equal(de_hash_fd_at(fd, 1, DE_HASH_ALL, n - 1, &d), (int64_t)(n - 1));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(de_hash_fd(fd, DE_HASH_BLAKE3, 1, &d), -EFBIG);

	/* A pipe has no size: the limit trips while streaming. */
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(write(pfd[1], p, 1000), 1000);
	close(pfd[1]);
	assert_int_equal(de_hash_fd(pfd[0], DE_HASH_ALL, 999, &d), -EFBIG);
	close(pfd[0]);

	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(write(pfd[1], p, 1000), 1000);
	close(pfd[1]);
	struct de_hashes want;
	assert_int_equal(de_hash_mem(p, 1000, DE_HASH_ALL, &want), 0);
	assert_int_equal(de_hash_fd(pfd[0], DE_HASH_ALL, 1000, &d), 1000);
	assert_memory_equal(&d, &want, sizeof(d));
	close(pfd[0]);
}

static void test_fd_errors(void **state)
{
	(void)state;
	struct de_hashes d;
	assert_int_equal(de_hash_fd(-1, DE_HASH_ALL, 0, &d), -EBADF);

	/* Open for writing only: fstat works, read fails. */
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/de-test-hash-XXXXXX", dir && *dir ? dir : "/tmp");
	int tmp = mkstemp(path);
	assert_true(tmp >= 0);
	assert_int_equal(write(tmp, "data", 4), 4);
	close(tmp);
	_cleanup_close_ int wfd = open(path, O_WRONLY | O_CLOEXEC);
	unlink(path);
	assert_true(wfd >= 0);
	assert_int_equal(de_hash_fd(wfd, DE_HASH_ALL, 0, &d), -EBADF);
	assert_int_equal(d.algos, 0);

	_cleanup_close_ int dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(de_hash_fd(dfd, DE_HASH_ALL, 0, &d), -EISDIR);

	/* pread on a pipe: not seekable. */
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	close(pfd[1]);
	assert_int_equal(de_hash_fd_at(pfd[0], 0, DE_HASH_ALL, 0, &d), -ESPIPE);
	close(pfd[0]);

	/* No algorithm, or an unknown one. */
	assert_int_equal(de_hash_mem("x", 1, 0, &d), -EINVAL);
	assert_int_equal(de_hash_mem("x", 1, 1u << 7, &d), -EINVAL);
	_cleanup_close_ int fd = temp_file("x", 1);
	assert_int_equal(de_hash_fd(fd, 0, 0, &d), -EINVAL);
}

static void test_hex(void **state)
{
	(void)state;
	uint8_t d[DE_HASH_LEN];
	for (size_t i = 0; i < DE_HASH_LEN; i++)
		d[i] = (uint8_t)(i * 17 + 9);
	char hex[DE_HASH_HEX_LEN];
	memset(hex, 'Z', sizeof(hex));
	de_hash_hex(d, hex);
	assert_string_equal(hex, "091a2b3c4d5e6f8091a2b3c4d5e6f708192a3b4c5d6e7f90a1b2c3d4e5f60718");
	assert_int_equal(strlen(hex), DE_HASH_HEX_LEN - 1);
}

/* de_hash_ctx: the digest of the concatenated parts, equal to de_hash_mem,
 * for any split and on reuse; one algorithm only. */
static void test_hash_ctx(void **state)
{
	(void)state;
	size_t n = 3000;
	_cleanup_free_ uint8_t *p = pattern(n);
	static const unsigned algos[] = { DE_HASH_SHA256, DE_HASH_BLAKE3 };
	for (size_t a = 0; a < DE_ARRAY_SIZE(algos); a++) {
		struct de_hash_ctx *c = de_hash_ctx_new(algos[a]);
		assert_non_null(c);
		for (size_t cut = 0; cut <= n; cut += 97) {
			struct de_hashes want;
			assert_int_equal(de_hash_mem(p, n, algos[a], &want), 0);
			struct iovec v[3] = { { p, cut / 2 }, { p + cut / 2, cut - cut / 2 },
					      { p + cut, n - cut } };
			uint8_t got[DE_HASH_LEN];
			assert_int_equal(de_hash_ctx_digest(c, v, 3, got), 0);
			assert_memory_equal(got, algos[a] == DE_HASH_SHA256 ? want.sha256 : want.blake3,
					    DE_HASH_LEN);
		}
		uint8_t e[DE_HASH_LEN];
		assert_int_equal(de_hash_ctx_digest(c, NULL, 0, e), 0);
		assert_hex(e, algos[a] == DE_HASH_SHA256 ?
			   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" :
			   "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
		de_hash_ctx_free(c);
	}
	errno = 0;
	assert_null(de_hash_ctx_new(DE_HASH_ALL));
	assert_int_equal(errno, EINVAL);
	assert_null(de_hash_ctx_new(0));
	de_hash_ctx_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blake3_vectors),
		cmocka_unit_test(test_sha256_kat),
		cmocka_unit_test(test_both_one_pass),
		cmocka_unit_test(test_fd_sizes),
		cmocka_unit_test(test_fd_offsets),
		cmocka_unit_test(test_fd_max_bytes),
		cmocka_unit_test(test_fd_errors),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_hash_ctx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
