/* ledger_key.c: the Ed25519 signing key in libsodium's guarded memory
 * (ledger_key.h). */
#include "ledger_key.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macros.h"

#define SEED_LEN crypto_sign_SEEDBYTES

struct de_ledger_key {
	uint8_t pk[DE_ED25519_PK_LEN];
	unsigned char *sk; /* sodium_malloc'd, noaccess outside de_ledger_key_sign */
};

int de_sodium_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

void de_ledger_key_free(struct de_ledger_key *k)
{
	if (!k)
		return;
	if (k->sk)
		sodium_free(k->sk); /* makes it writable, zeroes, unmaps */
	free(k);
}

/* The key from a seed held in guarded memory: sk in its own guarded block,
 * then locked away. */
static struct de_ledger_key *key_from_seed(const unsigned char *seed)
{
	struct de_ledger_key *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (!k->sk || crypto_sign_seed_keypair(k->pk, k->sk, seed) != 0 ||
	    sodium_mprotect_noaccess(k->sk) != 0) {
		int e = k->sk ? EIO : ENOMEM;
		de_ledger_key_free(k);
		errno = e;
		return NULL;
	}
	return k;
}

struct de_ledger_key *de_ledger_key_generate(void)
{
	if (de_sodium_init() < 0) {
		errno = EIO;
		return NULL;
	}
	unsigned char *seed = sodium_malloc(SEED_LEN);
	if (!seed)
		return NULL;
	randombytes_buf(seed, SEED_LEN);
	struct de_ledger_key *k = key_from_seed(seed);
	int e = errno;
	sodium_free(seed);
	errno = e;
	return k;
}

/* Write a new seed to dirfd/ledger.key (0400) through a temporary file, so a
 * crash never leaves a half-written key under the real name. */
static int write_new_key(int dirfd, const unsigned char *seed)
{
	const char *tmp = DE_LEDGER_KEY_FILE ".new";
	(void)unlinkat(dirfd, tmp, 0);
	_cleanup_close_ int fd =
		openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
	if (fd < 0)
		return de_neg_errno();
	ssize_t w = write(fd, seed, SEED_LEN);
	if (w != (ssize_t)SEED_LEN || fsync(fd) < 0) {
		int r = w < 0 || w == (ssize_t)SEED_LEN ? de_neg_errno() : -EIO;
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (renameat(dirfd, tmp, dirfd, DE_LEDGER_KEY_FILE) < 0)
		return de_neg_errno();
	return fsync(dirfd) < 0 ? de_neg_errno() : 0;
}

static int open_keys_dir(const char *dir, bool create)
{
	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return de_neg_errno();
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -EPERM : de_neg_errno();
	struct stat st;
	if (fstat(fd, &st) < 0 || (st.st_mode & 0077) || st.st_uid != geteuid()) {
		int r = (st.st_mode & 0077) || st.st_uid != geteuid() ? -EPERM : de_neg_errno();
		close(fd);
		return r;
	}
	return fd;
}

struct de_ledger_key *de_ledger_key_load(const char *keys_dir, bool create, bool *created)
{
	if (created)
		*created = false;
	if (de_sodium_init() < 0) {
		errno = EIO;
		return NULL;
	}
	_cleanup_close_ int dfd = open_keys_dir(keys_dir, create);
	if (dfd < 0) {
		errno = -dfd;
		return NULL;
	}
	unsigned char *seed = sodium_malloc(SEED_LEN);
	if (!seed)
		return NULL;
	struct de_ledger_key *k = NULL;
	int r;
	_cleanup_close_ int fd = openat(dfd, DE_LEDGER_KEY_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		randombytes_buf(seed, SEED_LEN);
		r = write_new_key(dfd, seed);
		if (r == 0 && created)
			*created = true;
	} else if (fd < 0) {
		r = errno == ELOOP ? -EPERM : de_neg_errno();
	} else {
		struct stat st;
		if (fstat(fd, &st) < 0)
			r = de_neg_errno();
		else if (!S_ISREG(st.st_mode) || (st.st_mode & 0077) || st.st_uid != geteuid())
			r = -EPERM;
		else if (st.st_size != SEED_LEN)
			r = -EBADMSG;
		else {
			ssize_t n = de_read_full(fd, seed, SEED_LEN);
			r = n < 0 ? (int)n : n == SEED_LEN ? 0 : -EBADMSG;
		}
	}
	if (r == 0) {
		k = key_from_seed(seed);
		r = k ? 0 : -errno;
	}
	sodium_free(seed);
	if (!k)
		errno = -r;
	return k;
}

const uint8_t *de_ledger_key_public(const struct de_ledger_key *k)
{
	return k->pk;
}

int de_ledger_key_sign(struct de_ledger_key *k, const void *msg, size_t n, uint8_t *sig)
{
	if (sodium_mprotect_readonly(k->sk) != 0)
		return -EIO;
	int r = crypto_sign_detached(sig, NULL, msg, n, k->sk);
	sodium_mprotect_noaccess(k->sk);
	return r == 0 ? 0 : -EIO;
}
