/* merkle_store.c: the per-level node arrays, in memory or in files.
 *
 * Each level keeps `count` entries: in the memory store all in `mem`; in the
 * file store the first `ondisk` in its file and the rest in `pend` (at most
 * PEND_ENTRIES, written as one pwrite when full or on flush). Levels fill
 * their buffers at rates halving per level, and an append puts the leaf
 * before its parents, so buffers always reach the disk bottom-up. Levels
 * >= CACHE_LEVEL of the file store are mirrored in `mem` too (loaded at
 * open). SYNCED holds the leaf count of the last complete sync.
 */
#include "merkle_store.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macros.h"

#define PEND_ENTRIES 256u
/* The file store also keeps levels >= CACHE_LEVEL in memory (n/64 bytes
 * for n leaves: 156 KiB at 10M), so a proof reads at most ~2 entries per
 * level below it from the files. */
#define CACHE_LEVEL 12u
#define FORMAT_NAME "FORMAT"
#define FORMAT_MAGIC "daemoneye merkle node store 1\n"
#define SYNCED_NAME "SYNCED"

struct level {
	uint64_t count;
	/* memory store */
	uint8_t *mem;
	uint64_t cap;
	/* file store */
	int fd;
	uint64_t ondisk;
	uint8_t *pend;
	unsigned npend;
	bool dirty; /* written since the last sync */
};

struct de_merkle_store {
	bool file;
	bool loaded;     /* file store opened completely (free may sync) */
	uint64_t synced; /* leaves recorded in SYNCED: durable on disk */
	unsigned algo;
	size_t len;
	int dirfd;
	bool dir_dirty; /* a level file was created since the last sync */
	bool ro;        /* opened read-only: no repair, no writes */
	struct level lv[DE_MERKLE_MAX_LEVELS];
};

static struct de_merkle_store *store_new(unsigned algo)
{
	if (!de_merkle_algo_name(algo)) {
		errno = EINVAL;
		return NULL;
	}
	struct de_merkle_store *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->algo = algo;
	s->len = DE_HASH_LEN;
	s->dirfd = -1;
	for (unsigned l = 0; l < DE_MERKLE_MAX_LEVELS; l++)
		s->lv[l].fd = -1;
	return s;
}

struct de_merkle_store *de_merkle_store_mem_new(unsigned algo)
{
	return store_new(algo);
}

unsigned de_merkle_store_algo(const struct de_merkle_store *s)
{
	return s->algo;
}

uint64_t de_merkle_store_size(const struct de_merkle_store *s)
{
	return s->lv[0].count;
}

uint64_t de_merkle_store_count(const struct de_merkle_store *s, unsigned level)
{
	return level < DE_MERKLE_MAX_LEVELS ? s->lv[level].count : 0;
}

int de_merkle_store_get(struct de_merkle_store *s, unsigned level, uint64_t index, uint8_t *out)
{
	if (level >= DE_MERKLE_MAX_LEVELS || index >= s->lv[level].count)
		return -ENOENT;
	struct level *lv = &s->lv[level];
	if (!s->file || level >= CACHE_LEVEL) {
		memcpy(out, lv->mem + index * s->len, s->len);
		return 0;
	}
	if (index >= lv->ondisk) {
		memcpy(out, lv->pend + (index - lv->ondisk) * s->len, s->len);
		return 0;
	}
	ssize_t n = de_pread_full(lv->fd, out, s->len, index * s->len);
	if (n < 0)
		return (int)n;
	return (size_t)n == s->len ? 0 : -EIO;
}

static int level_write(struct de_merkle_store *s, struct level *lv)
{
	if (lv->npend == 0)
		return 0;
	size_t bytes = (size_t)lv->npend * s->len;
	size_t done = 0;
	while (done < bytes) {
		ssize_t w = pwrite(lv->fd, lv->pend + done, bytes - done,
				   (off_t)(lv->ondisk * s->len + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return de_neg_errno();
		if (w == 0)
			return -EIO;
		done += (size_t)w;
	}
	lv->ondisk += lv->npend;
	lv->npend = 0;
	lv->dirty = true;
	return 0;
}

static int level_open(struct de_merkle_store *s, unsigned level, bool create)
{
	char name[32];
	snprintf(name, sizeof(name), "level-%02u", level);
	int fd = openat(s->dirfd, name,
			(s->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0),
			0640);
	if (fd < 0)
		return de_neg_errno();
	s->lv[level].fd = fd;
	if (create)
		s->dir_dirty = true;
	return 0;
}

/* Room in lv->mem for `want` entries. */
static int mem_reserve(struct de_merkle_store *s, struct level *lv, uint64_t want)
{
	if (want <= lv->cap)
		return 0;
	uint64_t cap = lv->cap ? lv->cap : 64;
	while (cap < want)
		cap *= 2;
	if (cap > SIZE_MAX / s->len)
		return -ENOMEM;
	uint8_t *m = realloc(lv->mem, cap * s->len);
	if (!m)
		return -ENOMEM;
	lv->mem = m;
	lv->cap = cap;
	return 0;
}

int de_merkle_store_put(struct de_merkle_store *s, unsigned level, uint64_t index,
			const uint8_t *hash)
{
	if (s->ro)
		return -EROFS;
	if (level >= DE_MERKLE_MAX_LEVELS || index != s->lv[level].count)
		return -EINVAL;
	struct level *lv = &s->lv[level];
	int r;
	if (!s->file || level >= CACHE_LEVEL) {
		if ((r = mem_reserve(s, lv, lv->count + 1)) < 0)
			return r;
		memcpy(lv->mem + lv->count * s->len, hash, s->len);
		if (!s->file) {
			lv->count++;
			return 0;
		}
	}
	if (lv->fd < 0 && (r = level_open(s, level, true)) < 0)
		return r;
	if (!lv->pend && !(lv->pend = malloc(PEND_ENTRIES * s->len)))
		return -ENOMEM;
	if (lv->npend == PEND_ENTRIES && (r = level_write(s, lv)) < 0)
		return r;
	memcpy(lv->pend + (size_t)lv->npend * s->len, hash, s->len);
	lv->npend++;
	lv->count++;
	/* Write a full buffer at once, so a level's buffer is on disk before
	 * its parent's (see the top of this file). */
	if (lv->npend == PEND_ENTRIES && (r = level_write(s, lv)) < 0)
		return r;
	return 0;
}

/* Replace dir/name with content: temporary file, fsync, rename, so the
 * file is either the old or the new content, never a torn one. */
static int write_small_file(int dirfd, const char *name, const char *content)
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	_cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return de_neg_errno();
	size_t len = strlen(content);
	errno = 0;
	if (write(fd, content, len) != (ssize_t)len || fsync(fd) < 0)
		return de_neg_errno();
	if (renameat(dirfd, tmp, dirfd, name) < 0)
		return de_neg_errno();
	return 0;
}

int de_merkle_store_flush(struct de_merkle_store *s, bool sync)
{
	if (!s->file || s->ro)
		return 0;
	for (unsigned l = 0; l < DE_MERKLE_MAX_LEVELS; l++) {
		struct level *lv = &s->lv[l];
		int r = level_write(s, lv);
		if (r < 0)
			return r;
		if (sync && lv->dirty) {
			if (fdatasync(lv->fd) < 0)
				return de_neg_errno();
			lv->dirty = false;
		}
	}
	if (sync && s->synced != s->lv[0].count) {
		/* Every level is durable up to the current size: say so. */
		char text[64];
		snprintf(text, sizeof(text), "%llu\n", (unsigned long long)s->lv[0].count);
		int r = write_small_file(s->dirfd, SYNCED_NAME, text);
		if (r < 0)
			return r;
		s->synced = s->lv[0].count;
		s->dir_dirty = true;
	}
	if (sync && s->dir_dirty) {
		if (fsync(s->dirfd) < 0)
			return de_neg_errno();
		s->dir_dirty = false;
	}
	return 0;
}

void de_merkle_store_free(struct de_merkle_store *s)
{
	if (!s)
		return;
	if (s->file && s->loaded)
		(void)de_merkle_store_flush(s, true);
	for (unsigned l = 0; l < DE_MERKLE_MAX_LEVELS; l++) {
		free(s->lv[l].mem);
		free(s->lv[l].pend);
		if (s->lv[l].fd >= 0)
			close(s->lv[l].fd);
	}
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s);
}

/* --- opening the file store ---------------------------------------------- */

static int check_format(struct de_merkle_store *s, bool create)
{
	char want[128], got[128];
	snprintf(want, sizeof(want), FORMAT_MAGIC "hash %s %zu\n", de_merkle_algo_name(s->algo),
		 s->len);
	ssize_t n = de_read_file_at(s->dirfd, FORMAT_NAME, got, sizeof(got));
	if (n == -ENOENT && create) {
		int r = write_small_file(s->dirfd, FORMAT_NAME, want);
		if (r < 0)
			return r;
		s->dir_dirty = true;
		return 0;
	}
	if (n < 0)
		return (int)n;
	return strcmp(got, want) == 0 ? 0 : -EINVAL;
}

/* Make level `l` hold exactly `want` entries: drop extra ones, recompute
 * missing ones from level l-1 (already consistent). */
static int level_repair(struct de_merkle_store *s, struct de_merkle_hasher *h, unsigned l,
			uint64_t want)
{
	struct level *lv = &s->lv[l];
	if (lv->count > want) {
		if (ftruncate(lv->fd, (off_t)(want * s->len)) < 0)
			return de_neg_errno();
		lv->count = lv->ondisk = want;
		lv->dirty = true;
	}
	while (lv->count < want) {
		uint8_t a[DE_MERKLE_MAX_HASH], b[DE_MERKLE_MAX_HASH];
		uint64_t i = lv->count;
		int r = de_merkle_store_get(s, l - 1, 2 * i, a);
		if (r == 0)
			r = de_merkle_store_get(s, l - 1, 2 * i + 1, b);
		if (r == 0)
			r = de_merkle_node_hash(h, a, b, a);
		if (r == 0)
			r = de_merkle_store_put(s, l, i, a);
		if (r < 0)
			return r;
	}
	return 0;
}

/* SYNCED: the leaf count of the last complete sync (0 when absent). */
static int read_synced(struct de_merkle_store *s, uint64_t *out)
{
	char text[64];
	ssize_t n = de_read_file_at(s->dirfd, SYNCED_NAME, text, sizeof(text));
	*out = 0;
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return (int)n;
	char *end;
	errno = 0;
	*out = strtoull(text, &end, 10);
	if (errno || end == text || *end != '\n')
		return -EINVAL;
	return 0;
}

/* Read-only view: every level holds exactly what SYNCED covers (entries
 * written after it are ignored, not repaired); a level with fewer is an
 * inconsistent store (-EIO). */
static int file_load_ro(struct de_merkle_store *s)
{
	int r = check_format(s, false);
	uint64_t synced = 0;
	if (r == 0)
		r = read_synced(s, &synced);
	for (unsigned l = 0; l < DE_MERKLE_MAX_LEVELS && r >= 0; l++) {
		struct level *lv = &s->lv[l];
		uint64_t want = synced >> l;
		if (want == 0)
			break;
		struct stat st;
		if ((r = level_open(s, l, false)) < 0 || fstat(lv->fd, &st) < 0)
			return r < 0 ? r : de_neg_errno();
		if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size / s->len < want)
			return -EIO;
		lv->count = lv->ondisk = want;
		if (l >= CACHE_LEVEL) {
			if ((r = mem_reserve(s, lv, want)) < 0)
				return r;
			ssize_t n = de_pread_full(lv->fd, lv->mem, want * s->len, 0);
			if (n < 0 || (uint64_t)n != want * s->len)
				return n < 0 ? (int)n : -EIO;
		}
	}
	s->synced = synced;
	return r;
}

static int file_load(struct de_merkle_store *s, bool create)
{
	if (s->ro)
		return file_load_ro(s);
	int r = check_format(s, create);
	if (r < 0)
		return r;
	for (unsigned l = 0; l < DE_MERKLE_MAX_LEVELS; l++) {
		r = level_open(s, l, false);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		struct level *lv = &s->lv[l];
		struct stat st;
		if (fstat(lv->fd, &st) < 0)
			return de_neg_errno();
		if (!S_ISREG(st.st_mode))
			return -EINVAL;
		uint64_t size = (uint64_t)st.st_size;
		lv->count = lv->ondisk = size / s->len;
		/* A torn last entry (crash in the middle of a write). */
		if (size % s->len && ftruncate(lv->fd, (off_t)(lv->count * s->len)) < 0)
			return de_neg_errno();
		if (l >= CACHE_LEVEL && lv->count) {
			if ((r = mem_reserve(s, lv, lv->count)) < 0)
				return r;
			ssize_t n = de_pread_full(lv->fd, lv->mem, lv->count * s->len, 0);
			if (n < 0)
				return (int)n;
			if ((uint64_t)n != lv->count * s->len)
				return -EIO;
		}
	}
	/* Only what a sync recorded is trusted: anything written after it may
	 * be torn or, on some filesystems, zeros. */
	uint64_t synced;
	r = read_synced(s, &synced);
	if (r < 0)
		return r;
	s->synced = synced;
	struct de_merkle_hasher h;
	r = de_merkle_hasher_init(&h, s->algo);
	if (r < 0)
		return r;
	uint64_t leaves = DE_MIN(s->lv[0].count, synced);
	if (s->lv[0].count > leaves)
		r = level_repair(s, &h, 0, leaves);
	for (unsigned l = 1; l < DE_MERKLE_MAX_LEVELS && r >= 0; l++) {
		uint64_t want = leaves >> l;
		if (s->lv[l].fd < 0 && want == 0)
			continue;
		if (s->lv[l].fd < 0)
			r = level_open(s, l, true);
		if (r >= 0)
			r = level_repair(s, &h, l, want);
	}
	de_merkle_hasher_done(&h);
	if (r < 0)
		return r;
	s->loaded = true;
	return de_merkle_store_flush(s, true);
}

static struct de_merkle_store *file_open(const char *dir, unsigned algo, bool create, bool ro)
{
	struct de_merkle_store *s = store_new(algo);
	if (!s)
		return NULL;
	s->file = true;
	s->ro = ro;
	if (create && mkdir(dir, 0750) < 0 && errno != EEXIST)
		goto fail;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0)
		goto fail;
	int r = file_load(s, create);
	if (r < 0) {
		errno = -r;
		goto fail;
	}
	return s;
fail:;
	int e = errno;
	de_merkle_store_free(s);
	errno = e;
	return NULL;
}

struct de_merkle_store *de_merkle_store_file_open(const char *dir, unsigned algo, bool create)
{
	return file_open(dir, algo, create, false);
}

struct de_merkle_store *de_merkle_store_file_open_ro(const char *dir, unsigned algo)
{
	return file_open(dir, algo, false, true);
}
