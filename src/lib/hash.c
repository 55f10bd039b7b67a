/* hash.c: one-pass BLAKE3 and SHA-256 over files and memory.
 *
 * A file is read once, block by block, and each block is fed to every
 * requested algorithm (BLAKE3 from the official C implementation, SHA-256
 * from OpenSSL's libcrypto), so hashing an executable for both costs one
 * read.
 *
 * SHA-256 goes through libcrypto's direct SHA256_* functions, not EVP: the
 * same code (SHA-NI / AVX2 by CPU), but EVP's first use loads the provider
 * machinery, ~1.9 MiB more of libcrypto resident in every process that
 * hashes (measured: 1.45 MiB of libcrypto pages after loading, 1.58 MiB
 * after hashing 200 MiB directly, 3.41 MiB after one EVP digest), and
 * procmond's budget is 10 MB. OpenSSL 3 marks these functions deprecated
 * (not removed); the warning is silenced for this file only.
 *
 * read(2) into a buffer, not mmap(2). Measured on a 1 GiB page-cached file
 * (2-core AMD EPYC VM, AVX-512 and SHA-NI, see docs/BENCHMARKS.md): read()
 * with 128 KiB to 1 MiB blocks hashes BLAKE3 at ~5.5 GB/s and SHA-256 at
 * ~1.55 GB/s; mmap (even with MAP_POPULATE and MADV_SEQUENTIAL) reaches only
 * 2.0-2.5 GB/s and 1.0 GB/s, because faulting 262,144 pages costs more than
 * copying them (b3sum itself is 2.5x faster here with --no-mmap). 16 KiB
 * blocks drop to ~3 GB/s (syscall cost), 4 MiB blocks lose a little (the
 * block no longer fits the 1 MiB L2 while it is hashed). 256 KiB sits in
 * the flat middle. mmap has a second, decisive problem for a monitor: a
 * file truncated while mapped raises SIGBUS, so any user who can write a
 * binary could crash the collector. read() just sees a short file.
 *
 * The buffer is sized to the file when the file is small (most executables
 * are), so hashing a 30 KiB binary allocates 32 KiB and takes two reads
 * (the data, then EOF).
 * Regular files larger than the limit fail with -EFBIG before anything is
 * read; other files (pipes, procfs) fail as soon as they cross it.
 */
#include "hash.h"

#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_*: see the header comment */
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blake3.h"
#include "fileio.h"
#include "macros.h"

#define PAGE_ROUND(n) (((n) + 4095u) & ~(size_t)4095u)

/* Running state of every requested algorithm. */
struct hstate {
	unsigned algos;
	SHA256_CTX sha;
	blake3_hasher b3;
};

static int hstate_init(struct hstate *h, unsigned algos)
{
	h->algos = algos;
	if (algos == 0 || (algos & ~(unsigned)DE_HASH_ALL))
		return -EINVAL;
	if (algos & DE_HASH_BLAKE3)
		blake3_hasher_init(&h->b3);
	if ((algos & DE_HASH_SHA256) && SHA256_Init(&h->sha) != 1)
		return -EIO;
	return 0;
}

static int hstate_update(struct hstate *h, const void *p, size_t n)
{
	if (h->algos & DE_HASH_BLAKE3)
		blake3_hasher_update(&h->b3, p, n);
	if ((h->algos & DE_HASH_SHA256) && SHA256_Update(&h->sha, p, n) != 1)
		return -EIO;
	return 0;
}

static int hstate_final(struct hstate *h, struct de_hashes *out)
{
	if (h->algos & DE_HASH_BLAKE3)
		blake3_hasher_finalize(&h->b3, out->blake3, DE_HASH_LEN);
	if ((h->algos & DE_HASH_SHA256) && SHA256_Final(out->sha256, &h->sha) != 1)
		return -EIO;
	out->algos = h->algos;
	return 0;
}

/* The common body of de_hash_fd (positional = false: read(2) from the
 * current offset) and de_hash_fd_at (pread(2) from `offset`). */
static int64_t hash_fd(int fd, bool positional, uint64_t offset, unsigned algos,
		       uint64_t max_bytes, struct de_hashes *out)
{
	memset(out, 0, sizeof(*out));
	if (positional && offset > INT64_MAX)
		return -EINVAL;

	struct stat st;
	if (fstat(fd, &st) < 0)
		return de_neg_errno();
	size_t bufsz = DE_HASH_BLOCK;
	if (S_ISREG(st.st_mode)) {
		uint64_t start = offset;
		if (!positional) {
			off_t cur = lseek(fd, 0, SEEK_CUR);
			start = cur > 0 ? (uint64_t)cur : 0;
		}
		uint64_t size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
		uint64_t left = size > start ? size - start : 0;
		if (max_bytes && left > max_bytes)
			return -EFBIG;
		/* st_size is a hint (procfs says 0, the file may grow): the
		 * loop below reads to EOF whatever the buffer size. */
		/* +1: the buffer always has room to see EOF, so a small
		 * file takes one pass of the loop below (two reads). */
		if (left < DE_HASH_BLOCK)
			bufsz = PAGE_ROUND((size_t)left + 1);
		else
			(void)posix_fadvise(fd, (off_t)start, 0, POSIX_FADV_SEQUENTIAL);
	}

	_cleanup_free_ uint8_t *buf = aligned_alloc(4096, bufsz);
	if (!buf)
		return -ENOMEM;
	struct hstate h = { 0 };
	int r = hstate_init(&h, algos);
	if (r < 0)
		return r;

	uint64_t total = 0;
	for (;;) {
		ssize_t n = positional ? de_pread_full(fd, buf, bufsz, offset + total)
				       : de_read_full(fd, buf, bufsz);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		if (max_bytes && total + (uint64_t)n > max_bytes)
			return -EFBIG;
		total += (uint64_t)n;
		r = hstate_update(&h, buf, (size_t)n);
		if (r < 0)
			return r;
		/* The *_full readers only stop short at EOF. */
		if ((size_t)n < bufsz)
			break;
	}
	if (total > INT64_MAX)
		return -EFBIG;
	r = hstate_final(&h, out);
	if (r < 0)
		return r;
	return (int64_t)total;
}

int64_t de_hash_fd(int fd, unsigned algos, uint64_t max_bytes, struct de_hashes *out)
{
	return hash_fd(fd, false, 0, algos, max_bytes, out);
}

int64_t de_hash_fd_at(int fd, uint64_t offset, unsigned algos, uint64_t max_bytes,
		      struct de_hashes *out)
{
	return hash_fd(fd, true, offset, algos, max_bytes, out);
}

int de_hash_mem(const void *p, size_t n, unsigned algos, struct de_hashes *out)
{
	memset(out, 0, sizeof(*out));
	struct hstate h = { 0 };
	int r = hstate_init(&h, algos);
	if (r < 0)
		return r;
	r = hstate_update(&h, p, n);
	if (r < 0)
		return r;
	return hstate_final(&h, out);
}

struct de_hash_ctx {
	unsigned algo;
	struct hstate h;
};

struct de_hash_ctx *de_hash_ctx_new(unsigned algo)
{
	if (algo != DE_HASH_SHA256 && algo != DE_HASH_BLAKE3) {
		errno = EINVAL;
		return NULL;
	}
	struct de_hash_ctx *c = calloc(1, sizeof(*c));
	if (c)
		c->algo = algo;
	return c;
}

void de_hash_ctx_free(struct de_hash_ctx *c)
{
	free(c);
}

int de_hash_ctx_digest(struct de_hash_ctx *c, const struct iovec *parts, size_t n,
		       uint8_t out[DE_HASH_LEN])
{
	int r = hstate_init(&c->h, c->algo);
	for (size_t i = 0; i < n && r == 0; i++)
		r = hstate_update(&c->h, parts[i].iov_base, parts[i].iov_len);
	struct de_hashes d;
	if (r == 0)
		r = hstate_final(&c->h, &d);
	if (r < 0)
		return r;
	memcpy(out, c->algo == DE_HASH_SHA256 ? d.sha256 : d.blake3, DE_HASH_LEN);
	return 0;
}

void de_hex(const uint8_t *p, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[p[i] >> 4];
		hex[2 * i + 1] = digits[p[i] & 0xf];
	}
	hex[2 * n] = '\0';
}

void de_hash_hex(const uint8_t digest[DE_HASH_LEN], char hex[DE_HASH_HEX_LEN])
{
	de_hex(digest, DE_HASH_LEN, hex);
}

void de_blake3(const void *p, size_t n, uint8_t *out, size_t out_len)
{
	blake3_hasher h;
	blake3_hasher_init(&h);
	blake3_hasher_update(&h, p, n);
	blake3_hasher_finalize(&h, out, out_len);
}

void de_blake3_iov(const struct iovec *parts, size_t n, uint8_t *out, size_t out_len)
{
	blake3_hasher h;
	blake3_hasher_init(&h);
	for (size_t i = 0; i < n; i++)
		blake3_hasher_update(&h, parts[i].iov_base, parts[i].iov_len);
	blake3_hasher_finalize(&h, out, out_len);
}

void de_blake3_keyed(const uint8_t key[DE_HASH_LEN], const void *p, size_t n, uint8_t *out,
		     size_t out_len)
{
	blake3_hasher h;
	blake3_hasher_init_keyed(&h, key);
	blake3_hasher_update(&h, p, n);
	blake3_hasher_finalize(&h, out, out_len);
	/* The hasher holds key-derived state: do not leave it on the stack. */
	OPENSSL_cleanse(&h, sizeof(h));
}

void de_blake3_derive_key(const char *context, const void *material, size_t n, uint8_t *out,
			  size_t out_len)
{
	blake3_hasher h;
	blake3_hasher_init_derive_key(&h, context);
	blake3_hasher_update(&h, material, n);
	blake3_hasher_finalize(&h, out, out_len);
	OPENSSL_cleanse(&h, sizeof(h));
}
