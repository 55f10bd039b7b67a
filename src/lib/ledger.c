/* ledger.c: the ledger writer: open and repair, appends with group commit,
 * checkpoints (ledger.h). */
#include "ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "ledger_files.h"
#include "log.h"
#include "macros.h"
#include "merkle_proof.h"
#include "merkle_store.h"
#include "statedir.h"

#define NS_PER_MS 1000000LL

/* The commit thread: fdatasync of the records off the caller's thread. */
struct syncer {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stop, want;
	uint64_t req_seq;  /* records written when the pending request was made */
	uint64_t durable;  /* records known durable */
	int err;           /* first fdatasync error */
	uint64_t commits, sync_ns;
};

struct de_ledger {
	struct de_ledger_opts o;
	struct syncer sy;
	char component[32];
	struct de_ledger_key *key;
	struct de_vkey vk;
	int dirfd;
	int fmtfd;   /* FORMAT, flock'd for the writer's lifetime */
	int fd;      /* records, O_APPEND */
	int cpfd;    /* checkpoints, O_APPEND */
	int64_t uid; /* owner to give the files (opts.set_owner), or -1 */
	int64_t gid; /* group daemoneye, or -1 */
	struct de_merkle_store *store;
	struct de_merkle_tree tree;
	bool tree_ok;

	uint64_t next_seq;
	uint8_t chain[DE_HASH_LEN];
	uint64_t end;        /* file offset after the last appended record */
	uint64_t last_start; /* file offset of the last appended record */
	struct de_buf wbuf;  /* frames not yet written */
	bool unsynced;
	int64_t first_unsynced_ns;

	struct de_checkpoint cp; /* latest */
	int64_t cp_time_ns;
	int err;                 /* sticky write/sync error */
	struct de_ledger_stats stats;
	struct de_buf scratch;
};

int64_t de_ledger_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void de_ledger_stats(const struct de_ledger *l, struct de_ledger_stats *out)
{
	*out = l->stats;
	struct syncer *sy = (struct syncer *)&l->sy;
	pthread_mutex_lock(&sy->mu);
	out->commits = sy->commits;
	out->sync_ns = sy->sync_ns;
	pthread_mutex_unlock(&sy->mu);
}

uint64_t de_ledger_size(const struct de_ledger *l)
{
	return l->next_seq;
}

const struct de_checkpoint *de_ledger_last_checkpoint(const struct de_ledger *l)
{
	return &l->cp;
}

static int64_t group_gid(void)
{
	struct group gr, *res = NULL;
	char buf[4096];
	if (getgrnam_r(DE_LEDGER_GROUP, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return -1;
	return res->gr_gid;
}

static uid_t uid_arg(const struct de_ledger *l)
{
	return l->uid >= 0 ? (uid_t)l->uid : (uid_t)-1;
}

static gid_t gid_arg(const struct de_ledger *l)
{
	return l->gid >= 0 ? (gid_t)l->gid : (gid_t)-1;
}

/* Give a ledger file or directory its owner (opts.set_owner) and group
 * daemoneye. A directory with the group also gets setgid (02750), so every
 * file created in it later (TAIL, torn-*.bin, the node store's level
 * files) carries the group. Nothing to do without either. */
static int own(const struct de_ledger *l, int fd, bool dir)
{
	if (l->uid < 0 && l->gid < 0)
		return 0;
	if (fchown(fd, uid_arg(l), gid_arg(l)) < 0)
		return errno == EPERM && l->uid < 0 ? 0 : de_neg_errno();
	if (dir && l->gid >= 0 && fchmod(fd, 02750) < 0)
		return de_neg_errno();
	return 0;
}

/* Open (creating) a ledger file with mode 0640, its owner and group. */
static int open_file(struct de_ledger *l, const char *name, int flags)
{
	int fd = openat(l->dirfd, name, flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return de_neg_errno();
	int r = own(l, fd, false);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* The same for a file that exists by name (FORMAT, PUBKEY). */
static int own_at(const struct de_ledger *l, int dirfd, const char *name)
{
	if (l->uid < 0 && l->gid < 0)
		return 0;
	if (fchownat(dirfd, name, uid_arg(l), gid_arg(l), AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno != ENOENT && !(errno == EPERM && l->uid < 0))
		return de_neg_errno();
	return 0;
}

/* --- writing ------------------------------------------------------------ */

static int write_out(struct de_ledger *l)
{
	size_t done = 0;
	while (done < l->wbuf.len) {
		ssize_t w = write(l->fd, l->wbuf.data + done, l->wbuf.len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return l->err = w < 0 ? de_neg_errno() : -EIO;
		done += (size_t)w;
	}
	l->stats.bytes += l->wbuf.len;
	de_buf_reset(&l->wbuf);
	return 0;
}

static int sync_err(struct de_ledger *l)
{
	pthread_mutex_lock(&l->sy.mu);
	int e = l->sy.err;
	pthread_mutex_unlock(&l->sy.mu);
	return e;
}

static void *sync_main(void *arg)
{
	struct de_ledger *l = arg;
	struct syncer *sy = &l->sy;
	pthread_setname_np(pthread_self(), "de-ledger-sync"); /* top -H, ps -L */
	pthread_mutex_lock(&sy->mu);
	for (;;) {
		while (!sy->want && !sy->stop)
			pthread_cond_wait(&sy->cv, &sy->mu);
		if (!sy->want)
			break;
		uint64_t upto = sy->req_seq;
		sy->want = false;
		pthread_mutex_unlock(&sy->mu);
		int64_t t0 = de_ledger_now();
		int r = fdatasync(l->fd) < 0 ? de_neg_errno() : 0;
		int64_t t1 = de_ledger_now();
		pthread_mutex_lock(&sy->mu);
		if (r < 0 && !sy->err)
			sy->err = r;
		if (r == 0 && upto > sy->durable)
			sy->durable = upto;
		sy->commits++;
		sy->sync_ns += (uint64_t)(t1 - t0);
	}
	pthread_mutex_unlock(&sy->mu);
	return NULL;
}

/* Write what is buffered and ask the commit thread for an fdatasync;
 * returns at once. */
static int request_sync(struct de_ledger *l)
{
	int r = l->err ? l->err : sync_err(l);
	if (r < 0)
		return l->err = r;
	if ((r = write_out(l)) < 0)
		return r;
	pthread_mutex_lock(&l->sy.mu);
	l->sy.req_seq = l->next_seq;
	l->sy.want = true;
	pthread_cond_signal(&l->sy.cv);
	pthread_mutex_unlock(&l->sy.mu);
	l->unsynced = false;
	return 0;
}

int de_ledger_sync(struct de_ledger *l)
{
	int r = l->err ? l->err : sync_err(l);
	if (r < 0)
		return l->err = r;
	if ((r = write_out(l)) < 0)
		return r;
	pthread_mutex_lock(&l->sy.mu);
	bool need = l->sy.durable < l->next_seq;
	pthread_mutex_unlock(&l->sy.mu);
	l->unsynced = false;
	if (!need)
		return 0;
	int64_t t0 = de_ledger_now();
	if (fdatasync(l->fd) < 0)
		return l->err = de_neg_errno();
	int64_t t1 = de_ledger_now();
	pthread_mutex_lock(&l->sy.mu);
	l->sy.durable = DE_MAX(l->sy.durable, l->next_seq);
	l->sy.commits++;
	l->sy.sync_ns += (uint64_t)(t1 - t0);
	pthread_mutex_unlock(&l->sy.mu);
	return 0;
}

int de_ledger_checkpoint_now(struct de_ledger *l)
{
	int r = de_ledger_sync(l);
	if (r < 0)
		return r;
	if (l->cp.size == l->next_seq && l->cp.size)
		return 0;
	/* Records first, then the node store, then the signed note: a note
	 * never names a size whose records or nodes could be lost. */
	if ((r = de_merkle_store_flush(l->store, true)) < 0)
		return l->err = r;
	struct de_checkpoint cp = l->cp;
	cp.size = l->next_seq;
	if ((r = de_merkle_tree_root(&l->tree, cp.root)) < 0)
		return l->err = r;
	de_buf_reset(&l->scratch);
	if ((r = de_checkpoint_sign(&cp, l->key, &l->scratch)) < 0)
		return l->err = r;
	size_t note_len = l->scratch.len;
	de_buf_putc(&l->scratch, '\n');
	if (l->scratch.err)
		return l->err = l->scratch.err;
	ssize_t w = write(l->cpfd, l->scratch.data, l->scratch.len);
	if (w != (ssize_t)l->scratch.len || fdatasync(l->cpfd) < 0)
		return l->err = w < 0 || w == (ssize_t)l->scratch.len ? de_neg_errno() : -EIO;
	l->cp = cp;
	l->cp_time_ns = de_ledger_now();
	l->stats.checkpoints++;
	struct de_ledger_tail t = { .size = cp.size, .end = l->end, .last = l->last_start };
	memcpy(t.chain, l->chain, DE_HASH_LEN);
	(void)de_ledger_tail_write(l->dirfd, &t); /* a hint: a stale one costs a longer scan */
	if (l->o.on_checkpoint)
		l->o.on_checkpoint(l->o.arg, l->scratch.data, note_len);
	return 0;
}

int de_ledger_append(struct de_ledger *l, uint32_t type, const void *payload, size_t n,
		     uint64_t *seq)
{
	if (l->err)
		return l->err;
	size_t at = l->wbuf.len;
	uint8_t chain[DE_HASH_LEN], leaf[DE_HASH_LEN];
	int flen = de_lrec_encode(&l->wbuf, l->next_seq, wall_ns(), type, payload, n, l->chain,
				  leaf, chain);
	if (flen < 0)
		return flen;
	int r = de_merkle_tree_append_hash(&l->tree, leaf);
	if (r < 0) {
		l->wbuf.len = at;
		return l->err = r;
	}
	if (seq)
		*seq = l->next_seq;
	l->next_seq++;
	memcpy(l->chain, chain, DE_HASH_LEN);
	l->last_start = l->end;
	l->end += (uint64_t)flen;
	int64_t now = de_ledger_now();
	if (!l->unsynced) {
		l->unsynced = true;
		l->first_unsynced_ns = now;
	}
	if (l->wbuf.len >= l->o.buffer_bytes && (r = write_out(l)) < 0)
		return r;
	if (l->next_seq - l->cp.size >= l->o.checkpoint_records)
		return de_ledger_checkpoint_now(l);
	if (now - l->first_unsynced_ns >= (int64_t)l->o.sync_ms * NS_PER_MS / 2)
		return request_sync(l);
	return 0;
}

int de_ledger_append_event(struct de_ledger *l, const struct de_event *ev, uint64_t *seq)
{
	uint32_t type = ev->type == DE_EV_EXEC ? DE_LREC_EXEC
		      : ev->type == DE_EV_EXIT ? DE_LREC_EXIT
		      : ev->type == DE_EV_FORK ? DE_LREC_FORK : 0;
	if (!type)
		return -EINVAL;
	de_buf_reset(&l->scratch);
	int r = de_canon_event(&l->scratch, ev);
	if (r < 0)
		return r;
	return de_ledger_append(l, type, l->scratch.data, l->scratch.len, seq);
}

int de_ledger_append_security(struct de_ledger *l, uint32_t type, const struct de_ledger_sec *s,
			      uint64_t *seq)
{
	if (!de_lrec_is_security(type))
		return -EINVAL;
	de_buf_reset(&l->scratch);
	int r = de_canon_security(&l->scratch, s);
	if (r < 0)
		return r;
	return de_ledger_append(l, type, l->scratch.data, l->scratch.len, seq);
}

int de_ledger_append_content(struct de_ledger *l, uint32_t type, const char *name,
			     const void *content, size_t n, uint64_t *seq)
{
	struct de_ledger_sec s = { .component = l->component, .name = name, .has_blake3 = true };
	de_blake3(content, n, s.blake3, DE_HASH_LEN);
	return de_ledger_append_security(l, type, &s, seq);
}

int de_ledger_timeout_ms(const struct de_ledger *l, int64_t now_ns)
{
	int64_t due = INT64_MAX;
	if (l->unsynced)
		due = l->first_unsynced_ns + (int64_t)l->o.sync_ms * NS_PER_MS / 2;
	if (l->next_seq > l->cp.size)
		due = DE_MIN(due, l->cp_time_ns + (int64_t)l->o.checkpoint_ms * NS_PER_MS);
	if (due == INT64_MAX)
		return -1;
	if (due <= now_ns)
		return 0;
	return (int)DE_MIN((due - now_ns + NS_PER_MS - 1) / NS_PER_MS, (int64_t)INT32_MAX);
}

int de_ledger_tick(struct de_ledger *l, int64_t now_ns)
{
	if (l->err)
		return l->err;
	if (l->next_seq > l->cp.size &&
	    now_ns - l->cp_time_ns >= (int64_t)l->o.checkpoint_ms * NS_PER_MS)
		return de_ledger_checkpoint_now(l);
	if (l->unsynced && now_ns - l->first_unsynced_ns >= (int64_t)l->o.sync_ms * NS_PER_MS / 2)
		return request_sync(l);
	return 0;
}

/* --- opening ------------------------------------------------------------ */

struct last_cp {
	struct de_checkpoint cp;
	int bad;
	char why[160];
	unsigned index;
};

static int cp_last(void *arg, unsigned index, const char *note, size_t len,
		   const struct de_checkpoint *cp, int verdict, const char *why)
{
	(void)note;
	(void)len;
	struct last_cp *lc = arg;
	if (verdict == -EBADMSG)
		return 0; /* a torn last note: the caller truncates it */
	if (verdict < 0) {
		lc->bad = verdict;
		lc->index = index;
		snprintf(lc->why, sizeof(lc->why), "%s", why);
		return 1;
	}
	lc->cp = *cp;
	return 0;
}

/* FORMAT: create with the origin on first use, else read the origin. */
static int format_init(struct de_ledger *l, char *origin, char *why, size_t whylen)
{
	int r = de_ledger_format_read(l->dirfd, origin);
	if (r != -ENOENT) {
		if (r < 0)
			de_why(why, whylen, "FORMAT: %s", r == -EBADMSG ? "not a ledger" : strerror(-r));
		return r;
	}
	if (l->o.origin) {
		snprintf(origin, DE_NOTE_NAME_MAX, "%s", l->o.origin);
	} else {
		char host[128] = "localhost";
		(void)gethostname(host, sizeof(host) - 1);
		for (char *c = host; *c; c++)
			if (*c <= ' ' || *c > '~' || *c == '+')
				*c = '_';
		snprintf(origin, DE_NOTE_NAME_MAX, "daemoneye/%s", host);
	}
	if (!de_note_name_ok(origin)) {
		de_why(why, whylen, "origin '%s' is not a valid key name", origin);
		return -EINVAL;
	}
	char text[DE_NOTE_NAME_MAX + 64];
	int n = snprintf(text, sizeof(text), DE_LEDGER_MAGIC "origin %s\n", origin);
	r = de_ledger_write_file(l->dirfd, DE_LEDGER_FORMAT, text, (size_t)n);
	if (r < 0)
		de_why(why, whylen, "FORMAT: %s", strerror(-r));
	return r;
}

/* PUBKEY must be the key's (written on first use). */
static int pubkey_init(struct de_ledger *l, char *why, size_t whylen)
{
	struct de_vkey have;
	int r = de_ledger_vkey_load(l->dirfd, DE_LEDGER_PUBKEY, &have);
	if (r == 0) {
		if (strcmp(have.name, l->vk.name) != 0 || memcmp(have.pk, l->vk.pk, 32) != 0) {
			de_why(why, whylen, "PUBKEY is not the signing key's: refusing to sign this "
					    "ledger with another key");
			return -EKEYREJECTED;
		}
		return 0;
	}
	if (r != -ENOENT) {
		de_why(why, whylen, "PUBKEY: %s", strerror(-r));
		return r;
	}
	struct de_buf b = DE_BUF_INIT;
	de_vkey_format(&l->vk, &b);
	de_buf_putc(&b, '\n');
	r = b.err ? b.err : de_ledger_write_file(l->dirfd, DE_LEDGER_PUBKEY, b.data, b.len);
	de_buf_free(&b);
	return r;
}

struct scan {
	uint64_t n;          /* records accepted */
	uint64_t end, last;  /* offset after the last accepted one, and its start */
	uint8_t chain[DE_HASH_LEN];
	int bad;             /* why the scan stopped early: 0 at a clean end */
};

/* Walk records from (off, seq, chain): accept frames in sequence whose
 * chain holds, appending leaves for those at or past the tree's size. */
static int scan(struct de_ledger *l, struct scan *s)
{
	struct de_lreader rd;
	int r = de_lreader_init(&rd, l->fd, s->end);
	if (r < 0)
		return r;
	struct de_lrec rec;
	uint64_t tsize = de_merkle_tree_size(&l->tree);
	while ((r = de_lreader_next(&rd, &rec)) > 0) {
		uint8_t leaf[DE_HASH_LEN];
		if (rec.seq != s->n || !de_lrec_chain_ok(&rec, s->chain, leaf)) {
			r = -EBADMSG;
			break;
		}
		if (s->n >= tsize && (r = de_merkle_tree_append_hash(&l->tree, leaf)) < 0)
			break;
		memcpy(s->chain, rec.chain, DE_HASH_LEN);
		s->last = s->end;
		s->end = rd.off;
		s->n++;
	}
	de_lreader_done(&rd);
	if (r == -EBADMSG || r == -EAGAIN) {
		s->bad = r;
		return 0;
	}
	return r;
}

/* Cut records at s->end: the cut bytes go to torn-OFFSET.bin first. */
static int cut_tail(struct de_ledger *l, const struct scan *s, uint64_t size,
		    struct de_ledger_sec *rep)
{
	uint64_t bytes = size - s->end;
	char name[64];
	snprintf(name, sizeof(name), "torn-%llu.bin", (unsigned long long)s->end);
	_cleanup_close_ int out = open_file(l, name, O_WRONLY | O_TRUNC);
	if (out < 0)
		return out;
	uint8_t buf[65536];
	for (uint64_t off = s->end; off < size;) {
		ssize_t n = de_pread_full(l->fd, buf, (size_t)DE_MIN((uint64_t)sizeof(buf), size - off),
					  off);
		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		if (write(out, buf, (size_t)n) != n)
			return de_neg_errno();
		off += (uint64_t)n;
	}
	if (fsync(out) < 0 || ftruncate(l->fd, (off_t)s->end) < 0 || fsync(l->fd) < 0)
		return de_neg_errno();
	rep->has_repair = true;
	rep->offset = s->end;
	rep->bytes = bytes;
	rep->records = s->n;
	return 0;
}

/* The node store's directory and the files it made so far. */
static int own_tree(const struct de_ledger *l)
{
	if (l->uid < 0 && l->gid < 0)
		return 0;
	_cleanup_close_ int tfd =
		openat(l->dirfd, DE_LEDGER_TREE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = tfd < 0 ? de_neg_errno() : own(l, tfd, true);
	for (unsigned i = 0; r == 0 && i < DE_MERKLE_MAX_LEVELS + 2; i++) {
		char name[16];
		if (i < DE_MERKLE_MAX_LEVELS)
			snprintf(name, sizeof(name), "level-%02u", i);
		else
			snprintf(name, sizeof(name), "%s", i == DE_MERKLE_MAX_LEVELS ? "FORMAT" : "SYNCED");
		r = own_at(l, tfd, name);
	}
	return r;
}

static int open_tree(struct de_ledger *l, bool fresh)
{
	char path[64];
	if (fresh) {
		char old[64];
		snprintf(old, sizeof(old), DE_LEDGER_TREE ".stale-%lld", (long long)wall_ns());
		if (renameat(l->dirfd, DE_LEDGER_TREE, l->dirfd, old) < 0 && errno != ENOENT)
			return de_neg_errno();
	}
	if (l->tree_ok)
		de_merkle_tree_done(&l->tree);
	l->tree_ok = false;
	de_merkle_store_free(l->store);
	/* The store takes a path: reach it through our directory fd. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d/" DE_LEDGER_TREE, l->dirfd);
	l->store = de_merkle_store_file_open(path, DE_HASH_BLAKE3, true);
	if (!l->store)
		return de_neg_errno();
	int r = own_tree(l);
	if (r < 0)
		return r;
	r = de_merkle_tree_init(&l->tree, l->store);
	l->tree_ok = r == 0;
	return r;
}

static int recover(struct de_ledger *l, struct de_ledger_sec *rep, char *why, size_t whylen)
{
	struct stat st;
	if (fstat(l->fd, &st) < 0)
		return de_neg_errno();
	uint64_t size = (uint64_t)st.st_size;
	struct scan s = { 0 };
	struct de_ledger_tail t;
	int r = open_tree(l, false);
	if (r < 0) {
		de_why(why, whylen, "node store: %s", strerror(-r));
		return r;
	}
	/* Start after the last checkpointed record when the hint checks out
	 * (that record decodes, has the chain the hint names and the leaf the
	 * node store holds) and the node store holds at least that much. */
	if (de_ledger_tail_read(l->dirfd, &t) == 0 && t.size && t.size <= l->cp.size &&
	    t.end <= size && t.last < t.end && de_merkle_tree_size(&l->tree) >= t.size) {
		struct de_lrec rec;
		size_t len = (size_t)(t.end - t.last);
		_cleanup_free_ uint8_t *buf = len <= DE_LREC_MAX ? malloc(len) : NULL;
		uint8_t leaf[DE_HASH_LEN], stored[DE_HASH_LEN];
		if (buf && de_pread_full(l->fd, buf, len, t.last) == (ssize_t)len &&
		    de_lrec_decode(buf, len, &rec) == (int)len && rec.seq == t.size - 1 &&
		    memcmp(rec.chain, t.chain, DE_HASH_LEN) == 0 &&
		    (de_lrec_leaf(&rec, leaf), 1) &&
		    de_merkle_store_get(l->store, 0, t.size - 1, stored) == 0 &&
		    memcmp(leaf, stored, DE_HASH_LEN) == 0) {
			s.n = t.size;
			s.end = t.end;
			s.last = t.last;
			memcpy(s.chain, t.chain, DE_HASH_LEN);
		}
	}
	if ((r = scan(l, &s)) < 0)
		return r;
	if (s.n < l->cp.size) {
		de_why(why, whylen, "record %llu (offset %llu) is damaged and covered by the "
				    "checkpoint of size %llu: not repairing; run 'daemoneye audit verify'",
		       (unsigned long long)s.n, (unsigned long long)s.end,
		       (unsigned long long)l->cp.size);
		return -EUCLEAN;
	}
	if (s.end < size && (r = cut_tail(l, &s, size, rep)) < 0) {
		de_why(why, whylen, "cutting the torn tail: %s", strerror(-r));
		return r;
	}
	if (de_merkle_tree_size(&l->tree) > s.n) {
		/* The node store knows leaves the records lost: it was synced
		 * at a checkpoint the records no longer reach. Rebuild it from
		 * the records (the old one is kept as tree.stale-*). */
		struct scan s2 = { 0 };
		if ((r = open_tree(l, true)) < 0 || (r = scan(l, &s2)) < 0)
			return r;
		if (s2.n != s.n)
			return -EIO;
		rep->detail = "node store rebuilt from the records";
	}
	l->next_seq = s.n;
	l->end = s.end;
	l->last_start = s.last;
	memcpy(l->chain, s.chain, DE_HASH_LEN);
	return 0;
}

static void opts_defaults(struct de_ledger_opts *o, const struct de_ledger_opts *in)
{
	if (in)
		*o = *in;
	if (!o->sync_ms)
		o->sync_ms = 100;
	if (!o->checkpoint_records)
		o->checkpoint_records = 100000;
	if (!o->checkpoint_ms)
		o->checkpoint_ms = 60000;
	if (!o->buffer_bytes)
		o->buffer_bytes = 256 * 1024;
}

static void ledger_free(struct de_ledger *l)
{
	if (l->sy.running) {
		pthread_mutex_lock(&l->sy.mu);
		l->sy.stop = true;
		pthread_cond_signal(&l->sy.cv);
		pthread_mutex_unlock(&l->sy.mu);
		pthread_join(l->sy.th, NULL);
	}
	pthread_mutex_destroy(&l->sy.mu);
	pthread_cond_destroy(&l->sy.cv);
	if (l->tree_ok)
		de_merkle_tree_done(&l->tree);
	de_merkle_store_free(l->store);
	de_buf_free(&l->wbuf);
	de_buf_free(&l->scratch);
	if (l->fd >= 0)
		close(l->fd);
	if (l->cpfd >= 0)
		close(l->cpfd);
	if (l->fmtfd >= 0)
		close(l->fmtfd); /* releases the lock */
	if (l->dirfd >= 0)
		close(l->dirfd);
	free(l);
}

static int do_open(struct de_ledger *l, const char *state_dir, char *why, size_t whylen)
{
	char dir[4096], origin[DE_NOTE_NAME_MAX];
	int r = de_state_path(state_dir, DE_STATE_LEDGER_DIR, dir, sizeof(dir));
	if (r < 0)
		return r;
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		r = de_neg_errno();
		de_why(why, whylen, "%s: %s", dir, strerror(-r));
		return r;
	}
	l->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (l->dirfd < 0) {
		r = errno == ELOOP ? -EPERM : de_neg_errno();
		de_why(why, whylen, "%s: %s", dir, strerror(-r));
		return r;
	}
	if ((r = own(l, l->dirfd, true)) < 0) {
		de_why(why, whylen, "%s: %s", dir, strerror(-r));
		return r;
	}
	if ((r = format_init(l, origin, why, whylen)) < 0)
		return r;
	l->fmtfd = openat(l->dirfd, DE_LEDGER_FORMAT, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (l->fmtfd < 0 || flock(l->fmtfd, LOCK_EX | LOCK_NB) < 0) {
		r = de_neg_errno();
		de_why(why, whylen, r == -EWOULDBLOCK ? "another process is writing this ledger"
						       : "FORMAT: %s", strerror(-r));
		return r;
	}
	if ((r = de_vkey_make(origin, de_ledger_key_public(l->key), &l->vk)) < 0 ||
	    (r = pubkey_init(l, why, whylen)) < 0)
		return r;
	if ((r = own_at(l, l->dirfd, DE_LEDGER_FORMAT)) < 0 ||
	    (r = own_at(l, l->dirfd, DE_LEDGER_PUBKEY)) < 0) {
		de_why(why, whylen, "giving the ledger its owner: %s", strerror(-r));
		return r;
	}
	/* The latest checkpoint, every one signed by this key. */
	struct last_cp lc = { 0 };
	uint64_t cp_end = 0;
	r = de_ledger_checkpoints_each(l->dirfd, &l->vk, cp_last, &lc, &cp_end);
	if (r < 0 || lc.bad) {
		de_why(why, whylen, "checkpoint %u: %s", lc.index, lc.bad ? lc.why : strerror(-r));
		return lc.bad ? -EKEYREJECTED : r;
	}
	l->cp = lc.cp;
	snprintf(l->cp.origin, sizeof(l->cp.origin), "%s", origin);
	if ((l->cpfd = open_file(l, DE_LEDGER_CHECKPOINTS, O_RDWR | O_APPEND)) < 0)
		return l->cpfd;
	struct stat st;
	if (fstat(l->cpfd, &st) < 0)
		return de_neg_errno();
	/* A torn note at the end was never published (notes are handed out
	 * after their fdatasync): drop it. */
	if ((uint64_t)st.st_size > cp_end && ftruncate(l->cpfd, (off_t)cp_end) < 0)
		return de_neg_errno();
	if ((l->fd = open_file(l, DE_LEDGER_RECORDS, O_RDWR | O_APPEND)) < 0)
		return l->fd;
	struct de_ledger_sec rep = { .component = "ledger" };
	if ((r = recover(l, &rep, why, whylen)) < 0)
		return r;
	l->sy.durable = l->next_seq;
	if ((r = -pthread_create(&l->sy.th, NULL, sync_main, l)) < 0) {
		de_why(why, whylen, "commit thread: %s", strerror(-r));
		return r;
	}
	l->sy.running = true;
	l->cp_time_ns = de_ledger_now();
	struct de_ledger_sec op = { .component = l->component, .detail = "ledger opened" };
	if ((r = de_ledger_append_security(l, DE_LREC_OPEN, &op, NULL)) < 0)
		return r;
	if (rep.has_repair || rep.detail) {
		if (!rep.detail)
			rep.detail = "torn tail cut";
		if ((r = de_ledger_append_security(l, DE_LREC_REPAIR, &rep, NULL)) < 0)
			return r;
	}
	r = de_ledger_checkpoint_now(l);
	if (r < 0) {
		de_why(why, whylen, "first checkpoint: %s", strerror(-r));
		return r;
	}
	/* What opening created as the opener (level files, TAIL) goes to the
	 * owner too; then the directory entries of files created on first use. */
	if ((r = own_tree(l)) < 0 || (r = own_at(l, l->dirfd, DE_LEDGER_TAIL)) < 0) {
		de_why(why, whylen, "giving the ledger its owner: %s", strerror(-r));
		return r;
	}
	return fsync(l->dirfd) < 0 ? de_neg_errno() : 0;
}

struct de_ledger *de_ledger_open(const char *state_dir, struct de_ledger_key *key,
				 const struct de_ledger_opts *opts, char *why, size_t whylen)
{
	de_why(why, whylen, "%s", "");
	struct de_ledger *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	opts_defaults(&l->o, opts);
	snprintf(l->component, sizeof(l->component), "%s",
		 l->o.component ? l->o.component : "procmond");
	l->o.component = l->component;
	l->key = key;
	l->dirfd = l->fmtfd = l->fd = l->cpfd = -1;
	pthread_mutex_init(&l->sy.mu, NULL);
	pthread_cond_init(&l->sy.cv, NULL);
	l->gid = group_gid();
	l->uid = l->o.set_owner ? (int64_t)l->o.owner : -1;
	int r = do_open(l, state_dir, why, whylen);
	if (r < 0) {
		if (why && !why[0])
			de_why(why, whylen, "%s", strerror(-r));
		ledger_free(l);
		errno = -r;
		return NULL;
	}
	return l;
}

int de_ledger_close(struct de_ledger *l)
{
	if (!l)
		return 0;
	struct de_ledger_sec s = { .component = l->component, .detail = "ledger closed" };
	int r = de_ledger_append_security(l, DE_LREC_CLOSE, &s, NULL);
	int r2 = de_ledger_checkpoint_now(l);
	ledger_free(l);
	return r < 0 ? r : r2;
}
