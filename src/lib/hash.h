/* hash.h: BLAKE3 and SHA-256 over files and memory.
 *
 * BLAKE3 comes from the official C implementation (built from the sources
 * Debian's librust-blake3-dev ships), SHA-256 from OpenSSL's libcrypto (SHA256_*, see hash.c).
 * Files are read once in large blocks and fed to every requested algorithm,
 * so hashing an executable for both costs one read.
 */
#ifndef DE_HASH_H
#define DE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define DE_HASH_LEN 32
#define DE_HASH_HEX_LEN (2 * DE_HASH_LEN + 1)

enum {
	DE_HASH_SHA256 = 1u << 0,
	DE_HASH_BLAKE3 = 1u << 1,
};
#define DE_HASH_ALL (DE_HASH_SHA256 | DE_HASH_BLAKE3)

/* Size of the read buffer de_hash_fd uses for large files (see hash.c for
 * the measurements behind it). */
#define DE_HASH_BLOCK (256u * 1024u)

struct de_hashes {
	unsigned algos; /* which of the fields below are set */
	uint8_t sha256[DE_HASH_LEN];
	uint8_t blake3[DE_HASH_LEN];
};

/* Hash everything readable from fd (from its current offset to EOF), at
 * most max_bytes (returns -EFBIG past that; 0 = no limit). Returns the
 * number of bytes hashed or a negative errno. */
int64_t de_hash_fd(int fd, unsigned algos, uint64_t max_bytes, struct de_hashes *out);

/* Same, reading with pread(2) from `offset` to EOF: the file offset of fd is
 * neither used nor moved (fd must be seekable). */
int64_t de_hash_fd_at(int fd, uint64_t offset, unsigned algos, uint64_t max_bytes,
		      struct de_hashes *out);

/* Hash a memory block. Returns 0 or a negative errno. */
int de_hash_mem(const void *p, size_t n, unsigned algos, struct de_hashes *out);

/* Lower-case hex of n bytes into hex[2n+1] (NUL-terminated). */
void de_hex(const uint8_t *p, size_t n, char *hex);

/* Lower-case hex of a 32-byte digest into hex[DE_HASH_HEX_LEN]. */
void de_hash_hex(const uint8_t digest[DE_HASH_LEN], char hex[DE_HASH_HEX_LEN]);

/* A reusable one-algorithm digest context for many small messages (Merkle
 * tree leaves and nodes): set up once, no allocation per message. A context
 * belongs to one thread. de_hash_ctx_new returns NULL and sets errno
 * (EINVAL for anything but exactly one of DE_HASH_SHA256 / DE_HASH_BLAKE3). */
struct de_hash_ctx;
struct de_hash_ctx *de_hash_ctx_new(unsigned algo);
void de_hash_ctx_free(struct de_hash_ctx *c);
/* Digest of the concatenation of parts[0..n) into out. Returns 0 or a
 * negative errno (OpenSSL failure: -EIO). */
int de_hash_ctx_digest(struct de_hash_ctx *c, const struct iovec *parts, size_t n,
		       uint8_t out[DE_HASH_LEN]);

/* The three BLAKE3 modes with output of any length (out_len > 32 is the
 * extendable output; its first 32 bytes are the normal digest). The keyed
 * mode is BLAKE3's MAC; derive_key takes a hard-coded, globally unique
 * context string and key material (see the BLAKE3 paper, section 6). */
void de_blake3(const void *p, size_t n, uint8_t *out, size_t out_len);
/* BLAKE3 of the concatenation of parts[0..n) (no context to set up). */
void de_blake3_iov(const struct iovec *parts, size_t n, uint8_t *out, size_t out_len);
void de_blake3_keyed(const uint8_t key[DE_HASH_LEN], const void *p, size_t n, uint8_t *out,
		     size_t out_len);
void de_blake3_derive_key(const char *context, const void *material, size_t n, uint8_t *out,
			  size_t out_len);

#endif
