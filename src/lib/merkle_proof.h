/* merkle_proof.h: a Merkle tree over a node store (merkle_store.h): O(log n)
 * appends through the frontier, roots of the current and of any older size,
 * and RFC 9162 inclusion (2.1.3.1) and consistency (2.1.4.1) proofs built
 * from the stored perfect subtrees.
 *
 * Trade-off: nodes over a non-perfect right edge are folded at proof time
 * from at most log2(n) stored subtrees instead of being stored (they would
 * change with every append); the right edge of the current size comes from
 * the in-memory frontier, so those proofs read only perfect siblings.
 */
#ifndef DE_MERKLE_PROOF_H
#define DE_MERKLE_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "merkle_store.h"

/* A tree over a store: the frontier for O(log n) appends and the root, the
 * store for proofs. The store is borrowed (must outlive the tree). After an
 * append fails the tree refuses further appends (with that first error):
 * reopen the store, which repairs, and build a new tree. */
struct de_merkle_tree {
	struct de_merkle_hasher h;
	struct de_merkle_frontier f;
	struct de_merkle_store *store;
	int err;
};

/* Set up a tree over `store` (its hash, its current size: the frontier is
 * read back from the stored perfect subtrees). Returns 0 or a negative
 * errno; de_merkle_tree_done releases the hasher, not the store. */
int de_merkle_tree_init(struct de_merkle_tree *t, struct de_merkle_store *store);
void de_merkle_tree_done(struct de_merkle_tree *t);

static inline uint64_t de_merkle_tree_size(const struct de_merkle_tree *t)
{
	return t->f.size;
}
/* Append a leaf (its data, hashed here; leaf_hash_out may be NULL) or an
 * already computed leaf hash. O(log n), amortized 2 stored nodes. */
int de_merkle_tree_append(struct de_merkle_tree *t, const void *data, size_t n,
			  uint8_t *leaf_hash_out);
int de_merkle_tree_append_hash(struct de_merkle_tree *t, const uint8_t *leaf_hash);
/* Root of the current tree, O(log n) hashes, no reads. */
int de_merkle_tree_root(struct de_merkle_tree *t, uint8_t *out);
/* Root of the tree of the first `size` leaves (size <= current size), from
 * the store: O(log n) reads. */
int de_merkle_tree_root_at(struct de_merkle_tree *t, uint64_t size, uint8_t *out);

/* RFC 9162 2.1.3.1: inclusion proof of leaf `index` in the tree of the
 * first `size` leaves (index < size <= current size; -EINVAL otherwise). */
int de_merkle_tree_inclusion(struct de_merkle_tree *t, uint64_t index, uint64_t size,
			     struct de_merkle_proof *out);
/* RFC 9162 2.1.4.1: consistency proof between sizes m and n
 * (0 < m <= n <= current size; m == n gives the empty proof). */
int de_merkle_tree_consistency(struct de_merkle_tree *t, uint64_t m, uint64_t n,
			       struct de_merkle_proof *out);

#endif
