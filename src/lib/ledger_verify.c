/* ledger_verify.c: end-to-end verification of a ledger directory
 * (ledger_verify.h). */
#include "ledger_verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "fileio.h"
#include "ledger_files.h"
#include "log.h"
#include "macros.h"
#include "merkle.h"

struct cpent {
	uint64_t size;
	uint8_t root[DE_HASH_LEN];
	int64_t index; /* in the checkpoints file, -2 for the given one */
};

struct vstate {
	struct de_verify_result *res;
	struct cpent *cps;
	size_t n, cap;
	bool failed;
};

static void fail(struct vstate *v, const char *fmt, ...) DE_PRINTF(2, 3);
static void fail(struct vstate *v, const char *fmt, ...)
{
	if (v->failed)
		return;
	v->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->res->reason, sizeof(v->res->reason), fmt, ap);
	va_end(ap);
}

static int cp_add(struct vstate *v, const struct de_checkpoint *cp, int64_t index)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 64;
		struct cpent *p = realloc(v->cps, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		v->cps = p;
		v->cap = cap;
	}
	v->cps[v->n].size = cp->size;
	memcpy(v->cps[v->n].root, cp->root, DE_HASH_LEN);
	v->cps[v->n].index = index;
	v->n++;
	return 0;
}

static int cp_each(void *arg, unsigned index, const char *note, size_t len,
		   const struct de_checkpoint *cp, int verdict, const char *why)
{
	(void)note;
	(void)len;
	struct vstate *v = arg;
	if (verdict == -EBADMSG && v->res->live)
		return 1; /* the writer may be in the middle of appending it */
	if (verdict < 0) {
		v->res->bad_checkpoint = index;
		fail(v, "checkpoint %u: %s", index, why);
		return 1;
	}
	if (v->n && cp->size < v->cps[v->n - 1].size) {
		v->res->bad_checkpoint = index;
		fail(v, "checkpoint %u: size %llu is below the previous checkpoint's %llu", index,
		     (unsigned long long)cp->size, (unsigned long long)v->cps[v->n - 1].size);
		return 1;
	}
	return cp_add(v, cp, index);
}

static int cmp_size(const void *a, const void *b)
{
	const struct cpent *x = a, *y = b;
	return x->size < y->size ? -1 : x->size > y->size;
}

static const char *cp_name(const struct cpent *c, char *buf, size_t n)
{
	if (c->index == -2)
		snprintf(buf, n, "the given checkpoint");
	else
		snprintf(buf, n, "checkpoint %lld", (long long)c->index);
	return buf;
}

/* After a root mismatch at size `size`: the first record whose leaf
 * differs from the node store's, or DE_VERIFY_NONE. */
static uint64_t locate(int dirfd, int recfd, uint64_t size)
{
	_cleanup_close_ int lfd = openat(dirfd, DE_LEDGER_TREE "/level-00", O_RDONLY | O_CLOEXEC);
	struct de_lreader rd;
	struct de_lrec rec;
	uint64_t found = DE_VERIFY_NONE;
	if (lfd < 0)
		return found;
	if (de_lreader_init(&rd, recfd, 0) == 0) {
		for (uint64_t i = 0; i < size && de_lreader_next(&rd, &rec) > 0; i++) {
			uint8_t mine[DE_HASH_LEN], stored[DE_HASH_LEN];
			if (de_pread_full(lfd, stored, DE_HASH_LEN, i * DE_HASH_LEN) != DE_HASH_LEN)
				break;
			de_lrec_leaf(&rec, mine);
			if (memcmp(mine, stored, DE_HASH_LEN) != 0) {
				found = i;
				break;
			}
		}
		de_lreader_done(&rd);
	}
	return found;
}

/* The record pass. */
static int scan(struct vstate *v, int dirfd, int recfd)
{
	struct de_verify_result *res = v->res;
	struct de_merkle_hasher h;
	struct de_merkle_frontier f;
	struct de_lreader rd;
	struct de_lrec rec;
	uint8_t prev[DE_HASH_LEN] = { 0 }, root[DE_HASH_LEN];
	size_t k = 0;
	/* Largest size whose checkpoint matched, among the ledger's own and
	 * among the given one: a given checkpoint is the outside anchor, so
	 * its mismatch is not bounded by the ledger's own checkpoints (signed
	 * by the same key, which a forger may hold). */
	uint64_t good = 0, good_given = 0;
	char name[64];
	int r = de_merkle_hasher_init(&h, DE_HASH_BLAKE3);
	if (r < 0)
		return r;
	de_merkle_frontier_init(&f);
	if ((r = de_lreader_init(&rd, recfd, 0)) < 0) {
		de_merkle_hasher_done(&h);
		return r;
	}
	uint64_t i = 0;
	for (;; i++) {
		/* Checkpoints of the current size. */
		for (; k < v->n && v->cps[k].size == i && !v->failed; k++) {
			if ((r = de_merkle_frontier_root(&h, &f, root)) < 0)
				goto out;
			if (memcmp(root, v->cps[k].root, DE_HASH_LEN) == 0) {
				res->checkpoints++;
				res->covered = i;
				if (v->cps[k].index == -2)
					good_given = i;
				else
					good = i;
				continue;
			}
			uint64_t at = locate(dirfd, recfd, i);
			res->first_bad = at != DE_VERIFY_NONE ? at
				       : v->cps[k].index == -2 ? good_given : good;
			res->bad_checkpoint = v->cps[k].index;
			fail(v, "%s (size %llu): its signed root does not match the records (history "
				"rewritten); %s %llu",
			     cp_name(&v->cps[k], name, sizeof(name)), (unsigned long long)i,
			     at != DE_VERIFY_NONE ? "first record that differs from the node store:"
						  : "records are proven intact only below",
			     (unsigned long long)res->first_bad);
		}
		if (v->failed)
			break;
		uint64_t off = rd.off;
		r = de_lreader_next(&rd, &rec);
		if (r == 0)
			break;
		if (r == -EAGAIN && res->live) {
			r = 0; /* the writer is appending this one */
			break;
		}
		if (r == -EAGAIN || r == -EBADMSG) {
			res->first_bad = i;
			fail(v, "record %llu at offset %llu: %s", (unsigned long long)i,
			     (unsigned long long)off,
			     r == -EAGAIN ? "the file ends inside the frame (truncated or torn)"
					  : "corrupt frame (length or checksum)");
			r = 0;
			break;
		}
		if (r < 0)
			goto out;
		if (rec.seq != i) {
			res->first_bad = i;
			fail(v, "record %llu: holds sequence number %llu (a record was deleted, "
				"inserted or moved)",
			     (unsigned long long)i, (unsigned long long)rec.seq);
			break;
		}
		uint8_t leaf[DE_HASH_LEN];
		if (!de_lrec_chain_ok(&rec, prev, leaf)) {
			res->first_bad = i;
			fail(v, "record %llu: its chain hash does not match the records before it "
				"(record edited)",
			     (unsigned long long)i);
			break;
		}
		memcpy(prev, rec.chain, DE_HASH_LEN);
		if ((r = de_merkle_frontier_append(&h, &f, leaf, NULL, NULL)) < 0)
			goto out;
	}
	res->records = i;
	r = de_merkle_frontier_root(&h, &f, res->root);
	if (!v->failed && k < v->n) {
		res->first_bad = i;
		res->bad_checkpoint = v->cps[k].index;
		fail(v, "%s covers %llu records but the ledger has %llu (truncated)",
		     cp_name(&v->cps[k], name, sizeof(name)), (unsigned long long)v->cps[k].size,
		     (unsigned long long)i);
	}
out:
	de_lreader_done(&rd);
	de_merkle_hasher_done(&h);
	return r;
}

int de_ledger_verify(const char *ledger_dir, const struct de_verify_opts *o,
		     struct de_verify_result *res)
{
	memset(res, 0, sizeof(*res));
	res->first_bad = DE_VERIFY_NONE;
	res->bad_checkpoint = -1;
	struct vstate v = { .res = res };
	_cleanup_close_ int dirfd = open(ledger_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char origin[DE_NOTE_NAME_MAX];
	int r = dirfd < 0 ? de_neg_errno() : de_ledger_format_read(dirfd, origin);
	if (r < 0) {
		de_why(res->reason, sizeof(res->reason), "%s: %s", ledger_dir,
		       r == -EBADMSG ? "FORMAT is not a ledger's" : strerror(-r));
		return r;
	}
	struct de_vkey own;
	const struct de_vkey *vk = o ? o->vk : NULL;
	if (!vk) {
		if ((r = de_ledger_vkey_load(dirfd, DE_LEDGER_PUBKEY, &own)) < 0) {
			de_why(res->reason, sizeof(res->reason), "PUBKEY: %s (give the key with --pubkey)",
			       strerror(-r));
			return r;
		}
		vk = &own;
	}
	_cleanup_close_ int fmtfd = openat(dirfd, DE_LEDGER_FORMAT, O_RDONLY | O_CLOEXEC);
	if (fmtfd >= 0 && flock(fmtfd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		res->live = true;
	_cleanup_close_ int recfd = openat(dirfd, DE_LEDGER_RECORDS, O_RDONLY | O_CLOEXEC);
	if (recfd < 0) {
		r = de_neg_errno();
		de_why(res->reason, sizeof(res->reason), "records: %s", strerror(-r));
		return r;
	}
	r = de_ledger_checkpoints_each(dirfd, vk, cp_each, &v, NULL);
	if (r < 0)
		goto out;
	if (o && o->checkpoint && !v.failed) {
		struct de_checkpoint cp;
		size_t len;
		char why[160];
		int x = de_checkpoint_verify(o->checkpoint, o->checkpoint_len, vk, &cp, &len, why,
					     sizeof(why));
		if (x < 0) {
			res->bad_checkpoint = -2;
			fail(&v, "the given checkpoint: %s", why);
		} else if ((r = cp_add(&v, &cp, -2)) < 0) {
			goto out;
		}
	}
	if (!v.failed)
		qsort(v.cps, v.n, sizeof(*v.cps), cmp_size);
	if (!v.failed && (r = scan(&v, dirfd, recfd)) < 0)
		goto out;
	struct stat st;
	if (!v.failed && !res->live &&
	    fstatat(dirfd, DE_LEDGER_TREE "/level-00", &st, 0) == 0 &&
	    (uint64_t)st.st_size / DE_HASH_LEN > res->records) {
		res->first_bad = res->records;
		fail(&v, "the node store holds %llu leaves but the ledger has %llu records (truncated)",
		     (unsigned long long)((uint64_t)st.st_size / DE_HASH_LEN),
		     (unsigned long long)res->records);
	}
	if (!v.failed && !res->live && res->records > res->covered) {
		res->first_bad = res->covered;
		fail(&v, "records %llu to %llu are not covered by any signed checkpoint (appended "
			 "after the last checkpoint, or the writer crashed)",
		     (unsigned long long)res->covered, (unsigned long long)res->records - 1);
	}
	res->ok = !v.failed;
out:
	free(v.cps);
	if (r < 0)
		de_why(res->reason, sizeof(res->reason), "%s", strerror(-r));
	return r;
}

int de_ledger_each(const char *ledger_dir, uint64_t from, de_lrec_fn fn, void *arg)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/" DE_LEDGER_RECORDS, ledger_dir);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return de_neg_errno();
	struct de_lreader rd;
	struct de_lrec rec;
	int r = de_lreader_init(&rd, fd, 0);
	if (r < 0)
		return r;
	for (uint64_t i = 0; (r = de_lreader_next(&rd, &rec)) > 0; i++) {
		if (i < from)
			continue;
		if ((r = fn(arg, &rec)) != 0)
			break;
	}
	de_lreader_done(&rd);
	return r == -EAGAIN ? 0 : r;
}
