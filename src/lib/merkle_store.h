/* merkle_store.h: where the perfect-subtree hashes of a Merkle tree live,
 * and the tree that appends to them and answers proofs from them.
 *
 * Layout: one flat array per level. Level L holds the hash of every perfect
 * subtree of 2^L leaves, in order: entry i covers leaves [i*2^L, (i+1)*2^L).
 * A tree of n leaves has n >> L entries at level L, so an append writes
 * 1 + (trailing 1 bits of n) entries (2 amortized) and never rewrites one,
 * and (level, index) is an O(1) offset. Nodes over a non-perfect right edge
 * are never stored: a proof computes them from at most log2(n) stored
 * perfect subtrees, which is also how proofs against older tree sizes work
 * (stored nodes never change). A proof costs O(log n) reads.
 *
 * Two implementations behind one interface:
 *  - memory: a growable array per level (tests, tools, verification);
 *  - file: a directory holding FORMAT (magic and hash name) and one
 *    append-only file per level, level-00 .. level-63, each a bare array of
 *    hashes. Writes are buffered per level and written bottom-up, so on disk
 *    a parent never exists without its children; reads use pread(2) (and
 *    see the unflushed tail in memory), levels >= 12 are also kept in
 *    memory (n/64 bytes) so a proof reads at most ~2 entries per lower level.
 *    SYNCED records the leaf count that the last de_merkle_store_flush(s,
 *    true) made durable; opening trusts only that many leaves (anything
 *    written after may be torn, or zeros on some filesystems), truncates
 *    the rest and recomputes missing parents from their children.
 * The store is a derived index: the ledger's records are the truth. So the
 * ledger's group commit syncs its records, and syncs the store rarely (at
 * checkpoints): after a crash the store reopens at its last sync and the
 * ledger re-appends the leaves of its records beyond that. A clean
 * de_merkle_store_free syncs.
 * A store and a tree belong to one thread.
 */
#ifndef DE_MERKLE_STORE_H
#define DE_MERKLE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "merkle.h"

struct de_merkle_store;

/* Empty in-memory store for algo (DE_HASH_*). NULL + errno on failure. */
struct de_merkle_store *de_merkle_store_mem_new(unsigned algo);
/* Open the file store in directory `dir` (created, with FORMAT, when
 * `create` is set and it holds no store yet). Fails with EINVAL when FORMAT
 * names another hash or format, ENOENT when absent and !create. Repairs
 * what a crash can leave (see above). NULL + errno on failure. */
struct de_merkle_store *de_merkle_store_file_open(const char *dir, unsigned algo, bool create);
/* Write, sync (file store: a clean close keeps everything) and release.
 * Safe on NULL. */
void de_merkle_store_free(struct de_merkle_store *s);
static inline void de_merkle_store_freep(struct de_merkle_store **s)
{
	de_merkle_store_free(*s);
}

unsigned de_merkle_store_algo(const struct de_merkle_store *s);
/* Number of leaves (entries at level 0). */
uint64_t de_merkle_store_size(const struct de_merkle_store *s);
/* Entries at `level`. */
uint64_t de_merkle_store_count(const struct de_merkle_store *s, unsigned level);
/* Read the hash at (level, index): 0, -ENOENT past the end, or an I/O
 * error (-EIO also for a file that shrank under us). */
int de_merkle_store_get(struct de_merkle_store *s, unsigned level, uint64_t index, uint8_t *out);
/* Append the hash at (level, index); index must equal the level's count
 * (-EINVAL otherwise: the store is append-only). */
int de_merkle_store_put(struct de_merkle_store *s, unsigned level, uint64_t index,
			const uint8_t *hash);
/* Write buffered entries (file store); with sync, also fdatasync every
 * level written since the last sync and record the size in SYNCED (about
 * one fdatasync per written level file plus three for SYNCED: meant for
 * checkpoints, not for every append). */
int de_merkle_store_flush(struct de_merkle_store *s, bool sync);

/* A tree over a store: the frontier for O(log n) appends and the root, the
 * store for proofs. The store is borrowed (must outlive the tree). After an
 * append fails the tree refuses further appends (-EIO or the first error):
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
