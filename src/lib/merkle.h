/* merkle.h: the Merkle tree of the audit ledger (RFC 9162 section 2.1),
 * generic over the hash.
 *
 * leaf = H(0x00 || data), node = H(0x01 || left || right); the root of the
 * empty tree is H(""). The same code runs with SHA-256 (where it reproduces
 * the RFC 6962 / RFC 9162 test vectors) and BLAKE3 (the ledger's hash); the
 * hash primitives are hash.c's (de_hash_ctx), nothing is hashed here by
 * hand.
 *
 * This module holds what needs no storage:
 *  - the hasher (one reusable digest context, so one per thread),
 *  - the frontier ("compact range"): the hashes of the perfect subtrees a
 *    tree of n leaves decomposes into, one per set bit of n, at most 64.
 *    Appending is O(log n) hashes (amortized 1 node hash) and reports every
 *    perfect node it completes, which is what a node store keeps,
 *  - proof verification exactly per RFC 9162 2.1.3.2 and 2.1.4.2.
 * Proof generation from stored nodes is in merkle_proof.h, the JSON form of
 * a proof in merkle_json.h.
 *
 * Trade-off: hashes are at most DE_MERKLE_MAX_HASH (32) bytes and a proof is
 * a fixed array of DE_MERKLE_MAX_PROOF hashes (2 KiB): no allocation, and a
 * proof for any 64-bit tree size fits.
 */
#ifndef DE_MERKLE_H
#define DE_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define DE_MERKLE_MAX_HASH DE_HASH_LEN
/* An inclusion proof has at most 64 elements (one per level below the root
 * of a 2^64 tree), a consistency proof at most 65 (RFC 9162 2.1.4.1). */
#define DE_MERKLE_MAX_PROOF 65
#define DE_MERKLE_MAX_LEVELS 64

struct de_merkle_hasher {
	unsigned algo;      /* DE_HASH_SHA256 or DE_HASH_BLAKE3 */
	const char *name;   /* "sha256" or "blake3" */
	size_t len;         /* digest length in bytes */
	struct de_hash_ctx *ctx;
};

/* Set up a hasher for algo (DE_HASH_SHA256 or DE_HASH_BLAKE3). Returns 0 or
 * a negative errno; de_merkle_hasher_done releases it (safe on a zeroed or
 * already released hasher). */
int de_merkle_hasher_init(struct de_merkle_hasher *h, unsigned algo);
void de_merkle_hasher_done(struct de_merkle_hasher *h);
/* "sha256" / "blake3" -> DE_HASH_*; 0 when unknown. */
unsigned de_merkle_algo_from_name(const char *name, size_t len);
const char *de_merkle_algo_name(unsigned algo);

/* H(0x00 || data), H(0x01 || left || right), H(""). Return 0 or a negative
 * errno. out may alias left or right. */
int de_merkle_leaf_hash(struct de_merkle_hasher *h, const void *data, size_t n, uint8_t *out);
int de_merkle_node_hash(struct de_merkle_hasher *h, const uint8_t *left, const uint8_t *right,
			uint8_t *out);
int de_merkle_empty_root(struct de_merkle_hasher *h, uint8_t *out);

/* Perfect subtree at (level, index): leaves [index << level, (index+1) << level). */
typedef int (*de_merkle_node_fn)(void *arg, unsigned level, uint64_t index, const uint8_t *hash);

struct de_merkle_frontier {
	uint64_t size;  /* leaves appended */
	unsigned count; /* == popcount(size) */
	/* Perfect subtree hashes, largest (leftmost) first: entry i covers the
	 * subtree of the i-th set bit of size counted from the top. */
	uint8_t hash[DE_MERKLE_MAX_LEVELS][DE_MERKLE_MAX_HASH];
};

void de_merkle_frontier_init(struct de_merkle_frontier *f);
/* Append one leaf hash. Calls node_fn (when not NULL) for every perfect
 * subtree this append completes, bottom-up: the leaf itself at level 0,
 * then each merged parent. Returns 0 or a negative errno (-EOVERFLOW at
 * 2^64 - 1 leaves, an error of node_fn or of the hash); on error the
 * frontier is unchanged. */
int de_merkle_frontier_append(struct de_merkle_hasher *h, struct de_merkle_frontier *f,
			      const uint8_t *leaf_hash, de_merkle_node_fn node_fn, void *arg);
/* The root of the tree the frontier describes (H("") when empty). */
int de_merkle_frontier_root(struct de_merkle_hasher *h, const struct de_merkle_frontier *f,
			    uint8_t *out);

/* MTH of n leaf hashes stored contiguously (n * h->len bytes). */
int de_merkle_root_of(struct de_merkle_hasher *h, const uint8_t *leaf_hashes, uint64_t n,
		      uint8_t *out);

struct de_merkle_proof {
	unsigned count;
	uint8_t hash[DE_MERKLE_MAX_PROOF][DE_MERKLE_MAX_HASH];
};

/* A byte string of any length: the verifiers take what they are given and
 * decide, so a root or proof element of the wrong length is a rejection,
 * not something a caller must pre-filter. */
struct de_merkle_span {
	const uint8_t *p;
	size_t len;
};

/* RFC 9162 2.1.3.2: does `proof` prove that leaf_hash is leaf `index` of
 * the tree of `size` leaves whose root is `root`? Returns 0 when it does,
 * -EINVAL for index >= size (size 0 included), -EBADMSG when the proof has
 * the wrong number of elements, an element or hash of the wrong length, or
 * the computed root does not match; other negative errnos from the hash. */
int de_merkle_verify_inclusion_v(struct de_merkle_hasher *h, uint64_t index, uint64_t size,
				 struct de_merkle_span leaf_hash, const struct de_merkle_span *proof,
				 size_t nproof, struct de_merkle_span root);

/* RFC 9162 2.1.4.2: is the tree (size1, root1) a prefix of (size2, root2)?
 * size1 == size2 (> 0): accepted iff the proof is empty and the roots are
 * equal. Rejected: size1 == 0 (consistency with the empty tree proves
 * nothing, RFC 9162 requires 0 < first), size1 > size2 (-EINVAL); an empty
 * proof for size1 < size2, wrong lengths or counts, mismatching roots
 * (-EBADMSG). */
int de_merkle_verify_consistency_v(struct de_merkle_hasher *h, uint64_t size1, uint64_t size2,
				   struct de_merkle_span root1, struct de_merkle_span root2,
				   const struct de_merkle_span *proof, size_t nproof);

/* The same over fixed-size hashes of h->len bytes. */
int de_merkle_verify_inclusion(struct de_merkle_hasher *h, uint64_t index, uint64_t size,
			       const uint8_t *leaf_hash, const struct de_merkle_proof *proof,
			       const uint8_t *root);
int de_merkle_verify_consistency(struct de_merkle_hasher *h, uint64_t size1, uint64_t size2,
				 const uint8_t *root1, const uint8_t *root2,
				 const struct de_merkle_proof *proof);

/* Number of elements of a correct proof (for sizing checks and tests). */
unsigned de_merkle_inclusion_len(uint64_t index, uint64_t size);
unsigned de_merkle_consistency_len(uint64_t size1, uint64_t size2);

#endif
