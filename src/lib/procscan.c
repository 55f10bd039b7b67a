/* procscan.c: see procscan.h. */
#include "procscan.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macros.h"

#define BATCH_PIDS 64
#define MAX_THREADS 16

struct batch {
	struct de_buf out;
	int count;
	int err;
	bool done;
};

struct scan_run {
	const struct de_scan *s;
	int32_t *pids;
	size_t npids;
	struct batch *batches;
	size_t nbatches;
	atomic_size_t next;  /* next batch to take */
	atomic_int stop;     /* set on the first error */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a batch became done */
};

/* Read the pids in proc_root (numeric entries) into a growing array. */
static int list_pids(const char *root, int32_t **out, size_t *n)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return de_neg_errno();
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = de_neg_errno();
		close(fd);
		return e;
	}
	size_t cap = 1024, len = 0;
	int32_t *pids = malloc(cap * sizeof(*pids));
	int ret = pids ? 0 : -ENOMEM;
	struct dirent *de;
	while (!ret && (de = readdir(d))) {
		const char *s = de->d_name;
		if (*s < '1' || *s > '9')
			continue;
		char *end;
		long pid = strtol(s, &end, 10);
		if (*end || pid <= 0 || pid > INT32_MAX)
			continue;
		if (len == cap) {
			int32_t *np = realloc(pids, 2 * cap * sizeof(*pids));
			if (!np) {
				ret = -ENOMEM;
				break;
			}
			pids = np;
			cap *= 2;
		}
		pids[len++] = (int32_t)pid;
	}
	closedir(d);
	if (ret) {
		free(pids);
		return ret;
	}
	*out = pids;
	*n = len;
	return 0;
}

static void run_batch(struct scan_run *run, struct de_proc_reader *r, struct de_proc *p,
		      struct de_buf *scratch, size_t bi)
{
	struct batch *b = &run->batches[bi];
	size_t from = bi * BATCH_PIDS, to = DE_MIN(from + BATCH_PIDS, run->npids);
	for (size_t i = from; i < to && !b->err && !atomic_load(&run->stop); i++) {
		int e;
		unsigned have = run->s->known ? run->s->known(i, p, run->s->known_ud) : 0;
		if (have)
			e = de_proc_complete(r, p, have);
		else if (run->s->known)
			e = de_proc_read(r, p->pid, p);
		else
			e = de_proc_read(r, run->pids[i], p);
		if (e == -ESRCH)
			continue; /* gone before we got to it */
		if (e < 0) {
			/* /proc/<pid> exists but cannot be opened: report the
			 * process with every field unknown rather than hide it. */
			for (int k = 0; k < DE_PF__COUNT; k++)
				p->err[k] = e;
		}
		b->count++;
		e = run->s->emit(p, &b->out, scratch, run->s->ud);
		if (e < 0 || b->out.err)
			b->err = e < 0 ? e : b->out.err;
	}
	if (b->err)
		atomic_store(&run->stop, 1);
	pthread_mutex_lock(&run->lock);
	b->done = true;
	pthread_cond_broadcast(&run->cond);
	pthread_mutex_unlock(&run->lock);
}

/* A worker: its own reader and buffers; takes batches until none is left. */
static void *worker(void *arg)
{
	struct scan_run *run = arg;
	struct de_proc_reader *r = de_proc_reader_new(run->s->opts);
	struct de_proc *p = malloc(sizeof(*p));
	struct de_buf scratch = DE_BUF_INIT;
	int err = r && p ? 0 : (errno ? -errno : -ENOMEM);
	for (;;) {
		size_t bi = atomic_fetch_add(&run->next, 1);
		if (bi >= run->nbatches)
			break;
		if (err) { /* cannot read: fail each batch we take */
			run->batches[bi].err = err;
			atomic_store(&run->stop, 1);
			pthread_mutex_lock(&run->lock);
			run->batches[bi].done = true;
			pthread_cond_broadcast(&run->cond);
			pthread_mutex_unlock(&run->lock);
			continue;
		}
		run_batch(run, r, p, &scratch, bi);
	}
	de_buf_free(&scratch);
	free(p);
	de_proc_reader_free(r);
	return NULL;
}

static unsigned thread_count(const struct de_scan *s)
{
	if (s->threads)
		return DE_MIN(s->threads, (unsigned)MAX_THREADS);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (unsigned)DE_MIN(n, (long)MAX_THREADS);
}

int de_proc_scan_all(const struct de_scan *s)
{
	struct scan_run run = { .s = s };
	int ret = 0;
	if (s->known)
		run.npids = s->n_known; /* pids come from the source */
	else
		ret = list_pids(s->opts->proc_root ? s->opts->proc_root : "/proc", &run.pids,
				&run.npids);
	if (ret < 0)
		return ret;
	run.nbatches = (run.npids + BATCH_PIDS - 1) / BATCH_PIDS;
	run.batches = calloc(run.nbatches ? run.nbatches : 1, sizeof(*run.batches));
	if (!run.batches) {
		free(run.pids);
		return -ENOMEM;
	}
	pthread_mutex_init(&run.lock, NULL);
	pthread_cond_init(&run.cond, NULL);

	unsigned nt = thread_count(s);
	if (nt > run.nbatches)
		nt = run.nbatches ? (unsigned)run.nbatches : 1;
	pthread_t tids[MAX_THREADS];
	unsigned started = 0;
	if (nt > 1) {
		for (; started < nt; started++)
			if (pthread_create(&tids[started], NULL, worker, &run) != 0)
				break;
	}
	if (started == 0)
		worker(&run); /* single-threaded (or threads unavailable) */

	int count = 0;
	for (size_t bi = 0; bi < run.nbatches; bi++) {
		struct batch *b = &run.batches[bi];
		pthread_mutex_lock(&run.lock);
		while (!b->done)
			pthread_cond_wait(&run.cond, &run.lock);
		pthread_mutex_unlock(&run.lock);
		if (!ret && b->err)
			ret = b->err;
		if (!ret && b->out.len) {
			int e = s->flush(b->out.data, b->out.len, s->ud);
			if (e < 0) {
				ret = e;
				atomic_store(&run.stop, 1);
			}
		}
		count += b->count;
		de_buf_free(&b->out);
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_cond_destroy(&run.cond);
	pthread_mutex_destroy(&run.lock);
	free(run.batches);
	free(run.pids);
	return ret < 0 ? ret : count;
}
