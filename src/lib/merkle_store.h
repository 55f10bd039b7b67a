/* merkle_store.h: where the perfect-subtree hashes of a Merkle tree live
 * (the tree that appends to them and answers proofs is merkle_proof.h).
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
/* Open the file store in `dir` read-only, as of its last sync: for readers
 * (proofs from the CLI) while the writer may be appending. Entries written
 * after SYNCED are ignored, nothing is repaired or written (puts fail with
 * EROFS). NULL + errno (EIO when a level is shorter than SYNCED says). */
struct de_merkle_store *de_merkle_store_file_open_ro(const char *dir, unsigned algo);
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

#endif
