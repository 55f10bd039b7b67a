/* exehash.c: hash each executable once, keyed by its file identity.
 *
 * The collector sees the same few hundred binaries exec'd over and over, so
 * the hashes are cached by (dev, inode, size, mtime, ctime). mtime alone is
 * not trustworthy (utimensat(2) sets it to anything), but ctime is set by
 * the kernel on every change, including the utimensat itself, so a binary
 * rewritten in place gets a new key even when its size and mtime are forged.
 *
 * Reads go through an fd opened on /proc/<pid>/exe, never through the path
 * the kernel reports: that path can be deleted, replaced or raced, while the
 * fd is the very inode the process runs (memfd binaries included). The file
 * is fstat'ed before and after the read; if the identity moved, or fewer or
 * more bytes than st_size came back, the hash describes no version of the
 * file that ever existed whole, so the call fails with -EAGAIN and nothing
 * is cached (the caller retries on the next event).
 *
 * The cache is a chained hash table plus an intrusive LRU list over a pool
 * of `entries` nodes allocated once (calloc, so untouched nodes cost no
 * RSS). A full cache reuses its least recently used node. Bucket positions
 * are salted with a per-cache random seed, so file identities an attacker
 * can partly choose (mtime) cannot be aimed at one chain. Each entry
 * records which algorithms it holds; asking for one it lacks is a miss that
 * computes the requested set and merges it in.
 *
 * Not thread-safe: one cache per thread (procmond's collector owns one).
 */
#include "agelist.h"
#include "exehash.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macros.h"

struct entry {
	struct de_file_id id;
	unsigned algos;
	uint8_t sha256[DE_HASH_LEN];
	uint8_t blake3[DE_HASH_LEN];
	struct entry *hnext;   /* next in the bucket chain */
	struct entry **hpprev; /* the pointer that points at this entry */
	struct de_age_link lru;        /* on the cache's LRU list */
};

struct de_exehash_cache {
	uint32_t cap;   /* nodes in the pool */
	uint32_t used;  /* pool nodes handed out so far (never shrinks) */
	uint32_t count; /* entries in the table */
	uint32_t mask;  /* buckets - 1 (a power of two) */
	uint64_t seed;
	uint64_t max_file_bytes;
	struct entry **buckets;
	struct entry *pool;
	struct de_age_list lru;
	struct de_exehash_stats st;
	void (*after_read)(int fd, void *ud);
	void *after_read_ud;
};

void de_file_id_from_stat(const struct stat *st, struct de_file_id *id)
{
	memset(id, 0, sizeof(*id));
	id->dev = (uint64_t)st->st_dev;
	id->ino = (uint64_t)st->st_ino;
	id->size = st->st_size > 0 ? (uint64_t)st->st_size : 0;
	/* Unsigned arithmetic: a forged far-future mtime wraps instead of
	 * overflowing. ctime cannot be forged, so a wrap cannot hide a change. */
	id->mtime_ns = (int64_t)((uint64_t)st->st_mtim.tv_sec * 1000000000u +
				 (uint64_t)st->st_mtim.tv_nsec);
	id->ctime_ns = (int64_t)((uint64_t)st->st_ctim.tv_sec * 1000000000u +
				 (uint64_t)st->st_ctim.tv_nsec);
}

bool de_file_id_equal(const struct de_file_id *a, const struct de_file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static uint64_t random_seed(const void *salt)
{
	uint64_t seed;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
		return seed;
	/* Early boot without entropy: still unpredictable enough to spread
	 * keys, and the chains are bounded by the pool size anyway. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)(uintptr_t)salt ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
	       ((uint64_t)getpid() << 40);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 31);
}

static uint32_t bucket_of(const struct de_exehash_cache *c, const struct de_file_id *id)
{
	uint64_t h = c->seed;
	h = mix(h, id->dev);
	h = mix(h, id->ino);
	h = mix(h, id->size);
	h = mix(h, (uint64_t)id->mtime_ns);
	h = mix(h, (uint64_t)id->ctime_ns);
	h ^= h >> 29;
	return (uint32_t)h & c->mask;
}

struct de_exehash_cache *de_exehash_cache_new(uint32_t entries, uint64_t max_file_bytes)
{
	if (entries > DE_EXEHASH_MAX_ENTRIES) {
		errno = EINVAL;
		return NULL;
	}
	_cleanup_free_ struct de_exehash_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cap = entries;
	c->max_file_bytes = max_file_bytes;
	c->seed = random_seed(c);
	if (entries > 0) {
		uint32_t nb = 16;
		while (nb < entries)
			nb <<= 1;
		c->mask = nb - 1;
		c->buckets = calloc(nb, sizeof(*c->buckets));
		c->pool = calloc(entries, sizeof(*c->pool));
		if (!c->buckets || !c->pool) {
			free(c->buckets);
			free(c->pool);
			errno = ENOMEM;
			return NULL;
		}
	}
	return TAKE_PTR(c);
}

void de_exehash_cache_free(struct de_exehash_cache *c)
{
	if (!c)
		return;
	free(c->buckets);
	free(c->pool);
	free(c);
}

void de_exehash_set_after_read_hook(struct de_exehash_cache *c, void (*fn)(int fd, void *ud),
				    void *ud)
{
	c->after_read = fn;
	c->after_read_ud = ud;
}

void de_exehash_stats(const struct de_exehash_cache *c, struct de_exehash_stats *st)
{
	*st = c->st;
	st->entries = c->count;
}

static struct entry *lookup(const struct de_exehash_cache *c, const struct de_file_id *id)
{
	if (c->cap == 0)
		return NULL;
	for (struct entry *e = c->buckets[bucket_of(c, id)]; e; e = e->hnext)
		if (de_file_id_equal(&e->id, id))
			return e;
	return NULL;
}

static void lru_unlink(struct de_exehash_cache *c, struct entry *e)
{
	de_age_unlink(&c->lru, &e->lru);
}

static void lru_push_newest(struct de_exehash_cache *c, struct entry *e)
{
	de_age_push_newest(&c->lru, &e->lru);
}

static void table_unlink(struct entry *e)
{
	*e->hpprev = e->hnext;
	if (e->hnext)
		e->hnext->hpprev = e->hpprev;
	e->hnext = NULL;
	e->hpprev = NULL;
}

static void table_link(struct de_exehash_cache *c, struct entry *e)
{
	struct entry **head = &c->buckets[bucket_of(c, &e->id)];
	e->hnext = *head;
	if (*head)
		(*head)->hpprev = &e->hnext;
	e->hpprev = head;
	*head = e;
}

/* A node for a new entry: a never-used one from the pool while there are
 * any, else the least recently used entry, evicted. */
static struct entry *take_node(struct de_exehash_cache *c)
{
	struct entry *e;
	if (c->used < c->cap) {
		e = &c->pool[c->used++];
		c->count++;
		return e;
	}
	e = de_age_entry(c->lru.oldest, struct entry, lru);
	lru_unlink(c, e);
	table_unlink(e);
	c->st.evictions++;
	return e;
}

static void copy_out(const struct entry *e, struct de_hashes *out)
{
	out->algos = e->algos;
	memcpy(out->sha256, e->sha256, DE_HASH_LEN);
	memcpy(out->blake3, e->blake3, DE_HASH_LEN);
}

/* Remember `h` (just computed for `id`) and return what the cache now
 * holds for it (the union with algorithms cached earlier). */
static void store(struct de_exehash_cache *c, const struct de_file_id *id,
		  const struct de_hashes *h, struct de_hashes *out)
{
	*out = *h;
	if (c->cap == 0)
		return;
	struct entry *e = lookup(c, id);
	if (e) {
		lru_unlink(c, e);
	} else {
		e = take_node(c);
		memset(e, 0, sizeof(*e));
		e->id = *id;
		table_link(c, e);
	}
	if (h->algos & DE_HASH_SHA256)
		memcpy(e->sha256, h->sha256, DE_HASH_LEN);
	if (h->algos & DE_HASH_BLAKE3)
		memcpy(e->blake3, h->blake3, DE_HASH_LEN);
	e->algos |= h->algos;
	lru_push_newest(c, e);
	copy_out(e, out);
}

/* de_exehash_fd without the error counting. */
static int exehash_fd(struct de_exehash_cache *c, int fd, unsigned algos, struct de_file_id *id,
		      struct de_hashes *out, bool *cached)
{
	if (algos == 0 || (algos & ~(unsigned)DE_HASH_ALL))
		return -EINVAL;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return de_neg_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	de_file_id_from_stat(&st, id);
	if (c->max_file_bytes && id->size > c->max_file_bytes)
		return -EFBIG;

	struct entry *e = lookup(c, id);
	if (e && (e->algos & algos) == algos) {
		c->st.hits++;
		lru_unlink(c, e);
		lru_push_newest(c, e);
		copy_out(e, out);
		*cached = true;
		return 0;
	}
	c->st.misses++;

	struct de_hashes h;
	int64_t n = de_hash_fd_at(fd, 0, algos, c->max_file_bytes, &h);
	if (n < 0)
		return (int)n;
	if (c->after_read)
		c->after_read(fd, c->after_read_ud);
	struct stat st2;
	if (fstat(fd, &st2) < 0)
		return de_neg_errno();
	struct de_file_id id2;
	de_file_id_from_stat(&st2, &id2);
	if (!de_file_id_equal(id, &id2) || (uint64_t)n != id->size)
		return -EAGAIN;
	store(c, id, &h, out);
	return 0;
}

int de_exehash_fd(struct de_exehash_cache *c, int fd, unsigned algos, struct de_file_id *id,
		  struct de_hashes *out, bool *cached)
{
	struct de_file_id id_local;
	bool cached_local;
	if (!id)
		id = &id_local;
	if (!cached)
		cached = &cached_local;
	*cached = false;
	memset(out, 0, sizeof(*out));
	int r = exehash_fd(c, fd, algos, id, out, cached);
	if (r < 0) {
		memset(out, 0, sizeof(*out));
		c->st.errors++;
	}
	return r;
}

int de_exe_link_path(const char *proc_root, pid_t pid, char path[PATH_MAX])
{
	if (pid <= 0)
		return -EINVAL;
	int len = snprintf(path, PATH_MAX, "%s/%d/exe", proc_root ? proc_root : "/proc", (int)pid);
	if (len < 0 || len >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int de_exehash_open_pid(const char *proc_root, pid_t pid)
{
	char path[PATH_MAX];
	int r = de_exe_link_path(proc_root, pid, path);
	if (r < 0)
		return r;
	/* O_NONBLOCK: should the link lead to a FIFO (a crafted proc_root),
	 * open must not hang; the S_ISREG check then rejects it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	return fd < 0 ? de_neg_errno() : fd;
}

int de_exehash_pid(struct de_exehash_cache *c, const char *proc_root, pid_t pid, unsigned algos,
		   struct de_file_id *id, struct de_hashes *out, bool *cached)
{
	if (cached)
		*cached = false;
	memset(out, 0, sizeof(*out));
	_cleanup_close_ int fd = de_exehash_open_pid(proc_root, pid);
	if (fd < 0) {
		c->st.errors++;
		return fd;
	}
	return de_exehash_fd(c, fd, algos, id, out, cached);
}
