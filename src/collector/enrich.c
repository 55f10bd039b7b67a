/* enrich.c: the hash worker behind the event path (see enrich.h).
 *
 * The ring: `cap` slots and three monotonic counters. The owner writes a
 * request at slot `submitted % cap`; the worker takes them in order at
 * `worked` and writes the result into the same slot; the owner delivers
 * finished slots at `polled`. submitted - polled <= cap always, so a slot
 * is never reused before its result was delivered, and the worker never
 * touches a slot the owner may be reading. `submitted` and `worked` (and
 * the map) are shared under one mutex; `polled` belongs to the owner.
 *
 * The map: a pool of `map_cap` nodes with chains by index and seeded
 * bucket positions (identities are partly attacker-chosen: mtime), FIFO
 * replacement once the pool is used up.
 */
#include "enrich.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macros.h"

#define NIL UINT32_MAX

struct slot {
	struct de_enrich_req req;
	struct de_enrich_result res;
};

struct map_node {
	struct de_file_id id;
	struct de_hashes h;
	uint32_t next;
};

struct de_enrich {
	struct de_enrich_opts o;
	pthread_mutex_t lock;
	pthread_cond_t cond;    /* work arrived, or stop */
	pthread_t thread;
	bool started, stop;
	int efd;
	struct de_exehash_cache *hc; /* the worker's (no caching: the map is the cache) */
	struct de_exehash_cache *hc_owner; /* de_enrich_hash_now's, on the owner's thread */

	struct slot *ring;
	uint32_t cap;
	uint64_t submitted, worked; /* under lock */
	uint64_t polled;            /* owner only */

	struct map_node *pool;
	uint32_t *buckets;
	uint32_t map_cap, map_mask, map_used, map_clock;
	uint64_t seed;

	void (*hook)(const struct de_enrich_req *r, void *ud);
	void *hook_ud;
	struct de_enrich_stats st;  /* under lock */
};

const char *de_enrich_note(enum de_enrich_answer a)
{
	switch (a) {
	case DE_ENRICH_CACHED: return NULL;
	case DE_ENRICH_DEFERRED: return "hash deferred";
	case DE_ENRICH_QUEUE_FULL: return "hash skipped: queue full";
	}
	return "hash skipped";
}

void de_enrich_opts_from_config(struct de_enrich_opts *o, const struct de_config *cfg)
{
	memset(o, 0, sizeof(*o));
	o->max_file_bytes = cfg->hashing.max_file_bytes;
	o->map_entries = cfg->hashing.cache_entries;
	o->algos = DE_HASH_ALL;
}

int de_enrich_file_id_pid(const char *proc_root, int32_t pid, struct de_file_id *id)
{
	char path[PATH_MAX];
	int r = de_exe_link_path(proc_root, pid, path);
	if (r < 0)
		return r;
	struct stat st;
	if (stat(path, &st) < 0)
		return de_neg_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	de_file_id_from_stat(&st, id);
	return 0;
}

int de_enrich_file_id_path(const char *path, uint64_t dev, uint64_t ino, struct de_file_id *id)
{
	if (!path || path[0] != '/' || strlen(path) >= DE_ENRICH_PATH_MAX)
		return -EINVAL;
	struct stat st;
	if (stat(path, &st) < 0)
		return de_neg_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_dev != dev || (uint64_t)st.st_ino != ino)
		return -ESTALE;
	de_file_id_from_stat(&st, id);
	return 0;
}

/* The file a request names: the process's executable, or its path. */
static int open_req(const struct de_enrich *e, const struct de_enrich_req *req)
{
	if (req->pid > 0)
		return de_exehash_open_pid(e->o.proc_root, req->pid);
	if (req->path[0] != '/')
		return -EINVAL;
	/* O_NONBLOCK: a FIFO swapped in since the caller's stat must not hang
	 * the worker (the identity check below then refuses it). */
	int fd = open(req->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	return fd < 0 ? de_neg_errno() : fd;
}

/* --- the map (callers hold the lock) ---------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 31);
}

static uint32_t map_bucket(const struct de_enrich *e, const struct de_file_id *id)
{
	uint64_t h = mix(mix(mix(mix(mix(e->seed, id->dev), id->ino), id->size),
			     (uint64_t)id->mtime_ns), (uint64_t)id->ctime_ns);
	return (uint32_t)(h ^ (h >> 29)) & e->map_mask;
}

static struct map_node *map_find(const struct de_enrich *e, const struct de_file_id *id)
{
	for (uint32_t i = e->buckets[map_bucket(e, id)]; i != NIL; i = e->pool[i].next)
		if (de_file_id_equal(&e->pool[i].id, id))
			return &e->pool[i];
	return NULL;
}

static void map_put(struct de_enrich *e, const struct de_file_id *id, const struct de_hashes *h)
{
	struct map_node *n = map_find(e, id);
	if (n) {
		n->h = *h;
		return;
	}
	uint32_t i;
	if (e->map_used < e->map_cap) {
		i = e->map_used++;
	} else {
		/* Replace the oldest node: unlink it from its chain. */
		i = e->map_clock;
		e->map_clock = (e->map_clock + 1) % e->map_cap;
		uint32_t *pp = &e->buckets[map_bucket(e, &e->pool[i].id)];
		while (*pp != i)
			pp = &e->pool[*pp].next;
		*pp = e->pool[i].next;
	}
	n = &e->pool[i];
	n->id = *id;
	n->h = *h;
	uint32_t *head = &e->buckets[map_bucket(e, id)];
	n->next = *head;
	*head = i;
}

int de_enrich_lookup(struct de_enrich *e, const struct de_file_id *id, struct de_hashes *out)
{
	pthread_mutex_lock(&e->lock);
	struct map_node *n = map_find(e, id);
	if (n)
		*out = n->h;
	pthread_mutex_unlock(&e->lock);
	return n ? 0 : -ENOENT;
}

/* --- the worker ------------------------------------------------------- */

/* Hash one request's executable into r (no lock held), with cache hc. */
static void handle_with(struct de_enrich *e, struct de_exehash_cache *hc,
			const struct de_enrich_req *req, struct de_enrich_result *r);

static void handle(struct de_enrich *e, const struct de_enrich_req *req,
		   struct de_enrich_result *r)
{
	handle_with(e, e->hc, req, r);
}

int de_enrich_hash_now(struct de_enrich *e, const struct de_enrich_req *req, struct de_hashes *out)
{
	struct de_enrich_result res;
	handle_with(e, e->hc_owner, req, &res);
	pthread_mutex_lock(&e->lock);
	if (res.err == 0 && !res.from_map) {
		map_put(e, &req->id, &res.hashes);
		e->st.hashed_inline++;
	}
	pthread_mutex_unlock(&e->lock);
	if (res.err == 0)
		*out = res.hashes;
	return res.err;
}

static void handle_with(struct de_enrich *e, struct de_exehash_cache *hc,
			const struct de_enrich_req *req, struct de_enrich_result *r)
{
	memset(r, 0, sizeof(*r));
	r->req = *req;
	_cleanup_close_ int fd = open_req(e, req);
	if (fd < 0) {
		r->err = fd;
		return;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		r->err = de_neg_errno();
		return;
	}
	de_file_id_from_stat(&st, &r->id);
	if (!de_file_id_equal(&r->id, &req->id)) {
		r->err = -ESTALE;
		return;
	}
	pthread_mutex_lock(&e->lock);
	struct map_node *n = map_find(e, &req->id);
	if (n) {
		r->hashes = n->h;
		r->from_map = true;
	}
	pthread_mutex_unlock(&e->lock);
	if (r->from_map)
		return;
	struct de_file_id seen;
	r->err = de_exehash_fd(hc, fd, e->o.algos, &seen, &r->hashes, NULL);
	/* exehash re-checks the identity around the read; a change since
	 * our fstat also means the hash is not of req->id. */
	if (r->err == 0 && !de_file_id_equal(&seen, &req->id))
		r->err = -EAGAIN;
}

static void *worker(void *arg)
{
	struct de_enrich *e = arg;
	pthread_setname_np(pthread_self(), "de-hash"); /* top -H, ps -L */
	pthread_mutex_lock(&e->lock);
	while (!e->stop) {
		if (e->worked == e->submitted) {
			pthread_cond_wait(&e->cond, &e->lock);
			continue;
		}
		struct slot *s = &e->ring[e->worked % e->cap];
		struct de_enrich_req req = s->req;
		void (*hook)(const struct de_enrich_req *, void *) = e->hook;
		void *hook_ud = e->hook_ud;
		pthread_mutex_unlock(&e->lock);

		if (hook)
			hook(&req, hook_ud);
		struct de_enrich_result res;
		handle(e, &req, &res);

		pthread_mutex_lock(&e->lock);
		if (res.err == 0 && !res.from_map) {
			map_put(e, &req.id, &res.hashes);
			e->st.hashed++;
		} else if (res.from_map) {
			e->st.from_map++;
		} else if (res.err == -ESTALE) {
			e->st.stale++;
		} else {
			e->st.failed++;
		}
		s->res = res;
		e->worked++;
		uint64_t one = 1;
		(void)!write(e->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* --- owner side ------------------------------------------------------- */

int de_enrich_submit(struct de_enrich *e, const struct de_enrich_req *req, struct de_hashes *out)
{
	int ans;
	pthread_mutex_lock(&e->lock);
	e->st.submitted++;
	struct map_node *n = map_find(e, &req->id);
	if (n) {
		*out = n->h;
		e->st.cached++;
		ans = DE_ENRICH_CACHED;
	} else if (e->submitted - e->polled >= e->cap) {
		e->st.dropped++;
		ans = DE_ENRICH_QUEUE_FULL;
	} else {
		e->ring[e->submitted % e->cap].req = *req;
		e->submitted++;
		e->st.queued++;
		pthread_cond_signal(&e->cond);
		ans = DE_ENRICH_DEFERRED;
	}
	pthread_mutex_unlock(&e->lock);
	return ans;
}

int de_enrich_fd(const struct de_enrich *e)
{
	return e->efd;
}

int de_enrich_poll(struct de_enrich *e, void (*cb)(const struct de_enrich_result *r, void *ud),
		   void *ud)
{
	uint64_t v;
	(void)!read(e->efd, &v, sizeof(v)); /* drain; EAGAIN when nothing was signalled */
	pthread_mutex_lock(&e->lock);
	uint64_t done = e->worked;
	pthread_mutex_unlock(&e->lock);
	int n = 0;
	/* Slots in [polled, done) are finished and the worker no longer
	 * touches them; submit never overwrites one before polled passes it. */
	while (e->polled < done) {
		cb(&e->ring[e->polled % e->cap].res, ud);
		e->polled++;
		n++;
	}
	pthread_mutex_lock(&e->lock);
	e->st.delivered += (uint64_t)n;
	pthread_mutex_unlock(&e->lock);
	return n;
}

void de_enrich_stats(struct de_enrich *e, struct de_enrich_stats *st)
{
	pthread_mutex_lock(&e->lock);
	*st = e->st;
	st->map_entries = e->map_used;
	pthread_mutex_unlock(&e->lock);
}

void de_enrich_set_worker_hook(struct de_enrich *e,
			       void (*fn)(const struct de_enrich_req *r, void *ud), void *ud)
{
	pthread_mutex_lock(&e->lock);
	e->hook = fn;
	e->hook_ud = ud;
	pthread_mutex_unlock(&e->lock);
}

/* --- lifetime --------------------------------------------------------- */

void de_enrich_free(struct de_enrich *e)
{
	if (!e)
		return;
	if (e->started) {
		pthread_mutex_lock(&e->lock);
		e->stop = true;
		pthread_cond_signal(&e->cond);
		pthread_mutex_unlock(&e->lock);
		pthread_join(e->thread, NULL);
	}
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	if (e->efd >= 0)
		close(e->efd);
	de_exehash_cache_free(e->hc);
	de_exehash_cache_free(e->hc_owner);
	free(e->ring);
	free(e->pool);
	free(e->buckets);
	free(e);
}

struct de_enrich *de_enrich_new(const struct de_enrich_opts *o)
{
	struct de_enrich *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->o = *o;
	e->efd = -1;
	if (!e->o.algos)
		e->o.algos = DE_HASH_ALL;
	e->cap = o->queue_len ? o->queue_len : 256;
	e->map_cap = o->map_entries ? o->map_entries : 1024;
	uint32_t nb = 16;
	while (nb < e->map_cap && nb < (1u << 30))
		nb <<= 1;
	e->map_mask = nb - 1;
	if (getrandom(&e->seed, sizeof(e->seed), GRND_NONBLOCK) != (ssize_t)sizeof(e->seed))
		e->seed = (uint64_t)(uintptr_t)e ^ (uint64_t)getpid();
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);

	int err = ENOMEM;
	e->ring = calloc(e->cap, sizeof(*e->ring));
	e->pool = calloc(e->map_cap, sizeof(*e->pool));
	e->buckets = malloc(nb * sizeof(*e->buckets));
	e->hc = de_exehash_cache_new(0, o->max_file_bytes);
	e->hc_owner = de_exehash_cache_new(0, o->max_file_bytes);
	if (!e->ring || !e->pool || !e->buckets || !e->hc || !e->hc_owner)
		goto fail;
	memset(e->buckets, 0xff, nb * sizeof(*e->buckets)); /* NIL */
	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->efd < 0) {
		err = errno;
		goto fail;
	}
	err = pthread_create(&e->thread, NULL, worker, e);
	if (err)
		goto fail;
	e->started = true;
	return e;
fail:
	de_enrich_free(e);
	errno = err;
	return NULL;
}
