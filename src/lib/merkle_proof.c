/* merkle_proof.c: the tree over a node store: appends, roots, and RFC 9162
 * inclusion and consistency proofs generated from stored perfect subtrees.
 *
 * The RFC defines proofs recursively (PATH, SUBPROOF); here the recursion
 * is a loop that walks from the root down, pushing the sibling hash of each
 * step, and the result is reversed (the RFC lists the deepest element
 * first). Every range the walk meets is either a stored perfect subtree or
 * lies on the right edge of the tree of that size; the latter's hash is
 * folded from its perfect-subtree decomposition (range_hash).
 */
#include "merkle_proof.h"

#include <string.h>

#include "macros.h"

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
	return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

static int store_node(void *arg, unsigned level, uint64_t index, const uint8_t *hash)
{
	return de_merkle_store_put(arg, level, index, hash);
}

int de_merkle_tree_init(struct de_merkle_tree *t, struct de_merkle_store *store)
{
	memset(t, 0, sizeof(*t));
	int r = de_merkle_hasher_init(&t->h, de_merkle_store_algo(store));
	if (r < 0)
		return r;
	t->store = store;
	de_merkle_frontier_init(&t->f);
	/* The frontier of n leaves: one perfect subtree per set bit of n,
	 * largest first. */
	uint64_t n = de_merkle_store_size(store), start = 0;
	for (int l = 63; l >= 0; l--) {
		if (!(n & ((uint64_t)1 << l)))
			continue;
		r = de_merkle_store_get(store, (unsigned)l, start >> l, t->f.hash[t->f.count]);
		if (r < 0) {
			de_merkle_tree_done(t);
			return r;
		}
		t->f.count++;
		start += (uint64_t)1 << l;
	}
	t->f.size = n;
	return 0;
}

void de_merkle_tree_done(struct de_merkle_tree *t)
{
	de_merkle_hasher_done(&t->h);
}

int de_merkle_tree_append_hash(struct de_merkle_tree *t, const uint8_t *leaf_hash)
{
	if (t->err)
		return t->err;
	int r = de_merkle_frontier_append(&t->h, &t->f, leaf_hash, store_node, t->store);
	if (r < 0)
		t->err = r;
	return r;
}

int de_merkle_tree_append(struct de_merkle_tree *t, const void *data, size_t n,
			  uint8_t *leaf_hash_out)
{
	uint8_t lh[DE_MERKLE_MAX_HASH];
	int r = de_merkle_leaf_hash(&t->h, data, n, lh);
	if (r < 0)
		return r;
	r = de_merkle_tree_append_hash(t, lh);
	if (r == 0 && leaf_hash_out)
		memcpy(leaf_hash_out, lh, t->h.len);
	return r;
}

int de_merkle_tree_root(struct de_merkle_tree *t, uint8_t *out)
{
	return de_merkle_frontier_root(&t->h, &t->f, out);
}

/* MTH of leaves [lo, hi), for a range the RFC recursion produces: lo is a
 * multiple of the smallest power of two >= hi - lo, so the range splits
 * into aligned perfect subtrees, largest first, each one stored. */
/* The right edge of the current tree is a suffix of the frontier: fold it
 * without reading the store. Returns 1 when done, 0 when [lo, hi) is not
 * such a suffix. */
static int frontier_range(struct de_merkle_tree *t, uint64_t lo, uint64_t hi, uint8_t *out)
{
	const struct de_merkle_frontier *f = &t->f;
	if (hi != f->size)
		return 0;
	uint64_t start = 0;
	unsigned e = 0;
	for (int l = 63; l >= 0 && start <= lo; l--) {
		if (!(hi & ((uint64_t)1 << l)))
			continue;
		if (start == lo) {
			uint8_t r[DE_MERKLE_MAX_HASH];
			memcpy(r, f->hash[f->count - 1], t->h.len);
			for (unsigned i = f->count - 1; i-- > e;) {
				int x = de_merkle_node_hash(&t->h, f->hash[i], r, r);
				if (x < 0)
					return x;
			}
			memcpy(out, r, t->h.len);
			return 1;
		}
		start += (uint64_t)1 << l;
		e++;
	}
	return 0;
}

static int range_hash(struct de_merkle_tree *t, uint64_t lo, uint64_t hi, uint8_t *out)
{
	uint8_t parts[DE_MERKLE_MAX_LEVELS][DE_MERKLE_MAX_HASH];
	unsigned n = 0;
	if (hi <= lo)
		return -EINVAL;
	int r = frontier_range(t, lo, hi, out);
	if (r != 0)
		return r < 0 ? r : 0;
	while (lo < hi) {
		/* Largest level whose block is aligned at lo and fits. */
		unsigned l = 63 - (unsigned)__builtin_clzll(hi - lo);
		if (lo)
			l = DE_MIN(l, (unsigned)__builtin_ctzll(lo));
		r = de_merkle_store_get(t->store, l, lo >> l, parts[n]);
		if (r < 0)
			return r;
		n++;
		lo += (uint64_t)1 << l;
	}
	for (unsigned i = n - 1; i-- > 0;) {
		r = de_merkle_node_hash(&t->h, parts[i], parts[n - 1], parts[n - 1]);
		if (r < 0)
			return r;
	}
	memcpy(out, parts[n - 1], t->h.len);
	return 0;
}

int de_merkle_tree_root_at(struct de_merkle_tree *t, uint64_t size, uint8_t *out)
{
	if (size > de_merkle_tree_size(t))
		return -EINVAL;
	if (size == 0)
		return de_merkle_empty_root(&t->h, out);
	return range_hash(t, 0, size, out);
}

static void reverse(struct de_merkle_proof *p, size_t len)
{
	uint8_t tmp[DE_MERKLE_MAX_HASH];
	for (unsigned i = 0, j = p->count - 1; p->count && i < j; i++, j--) {
		memcpy(tmp, p->hash[i], len);
		memcpy(p->hash[i], p->hash[j], len);
		memcpy(p->hash[j], tmp, len);
	}
}

int de_merkle_tree_inclusion(struct de_merkle_tree *t, uint64_t index, uint64_t size,
			     struct de_merkle_proof *out)
{
	out->count = 0;
	if (index >= size || size > de_merkle_tree_size(t))
		return -EINVAL;
	uint64_t lo = 0, hi = size;
	while (hi - lo > 1) {
		uint64_t k = split_point(hi - lo);
		int r;
		if (index - lo < k) {
			r = range_hash(t, lo + k, hi, out->hash[out->count]);
			hi = lo + k;
		} else {
			r = range_hash(t, lo, lo + k, out->hash[out->count]);
			lo += k;
		}
		if (r < 0) {
			out->count = 0;
			return r;
		}
		out->count++;
	}
	reverse(out, t->h.len);
	return 0;
}

int de_merkle_tree_consistency(struct de_merkle_tree *t, uint64_t m, uint64_t n,
			       struct de_merkle_proof *out)
{
	out->count = 0;
	if (m == 0 || m > n || n > de_merkle_tree_size(t))
		return -EINVAL;
	/* SUBPROOF(m, D[lo:hi], whole) with m counted from lo. */
	uint64_t lo = 0, hi = n;
	bool whole = true;
	int r = 0;
	while (m != hi - lo && r >= 0) {
		uint64_t k = split_point(hi - lo);
		if (m <= k) {
			r = range_hash(t, lo + k, hi, out->hash[out->count]);
			hi = lo + k;
		} else {
			r = range_hash(t, lo, lo + k, out->hash[out->count]);
			lo += k;
			m -= k;
			whole = false;
		}
		out->count++;
	}
	if (r >= 0 && !whole && lo < hi) {
		r = range_hash(t, lo, hi, out->hash[out->count]);
		out->count++;
	}
	if (r < 0) {
		out->count = 0;
		return r;
	}
	reverse(out, t->h.len);
	return 0;
}
