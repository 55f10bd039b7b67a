/* merkle_json.h: the JSON form of an inclusion or consistency proof.
 *
 * One JSON object (documented in docs/LEDGER.md), e.g.
 *   {"version":1,"type":"inclusion","hash":"blake3","leaf_index":5,
 *    "tree_size":10,"leaf_hash":"<hex>","root":"<hex>","proof":["<hex>",...]}
 *   {"version":1,"type":"consistency","hash":"blake3","first_size":4,
 *    "first_root":"<hex>","tree_size":10,"root":"<hex>","proof":[...]}
 * Hashes are lower-case hex of exactly the algorithm's length.
 *
 * The parser is strict because its input comes from anyone (a proof handed
 * to `audit verify-proof`): at most DE_MERKLE_JSON_MAX bytes; exactly the
 * fields of the document's type, each once (unknown or duplicate fields are
 * rejected, so nothing in a document is silently ignored); strings without
 * escapes; integers as plain decimal (no sign, fraction, exponent or leading
 * zero) within uint64; at most DE_MERKLE_MAX_PROOF proof elements; only
 * whitespace after the object. It checks form, not truth: a parsed proof
 * still has to pass de_merkle_proof_doc_verify.
 */
#ifndef DE_MERKLE_JSON_H
#define DE_MERKLE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "merkle.h"

#define DE_MERKLE_JSON_MAX 16384 /* bytes; a 65-element proof is ~4.7 KiB */

enum de_merkle_proof_type {
	DE_MERKLE_INCLUSION = 1,
	DE_MERKLE_CONSISTENCY = 2,
};

struct de_merkle_proof_doc {
	enum de_merkle_proof_type type;
	unsigned algo;       /* DE_HASH_SHA256 or DE_HASH_BLAKE3 */
	uint64_t tree_size;  /* the tree the proof is about (the newer one) */
	uint8_t root[DE_MERKLE_MAX_HASH];
	uint64_t leaf_index; /* inclusion */
	uint8_t leaf_hash[DE_MERKLE_MAX_HASH];
	uint64_t first_size; /* consistency: the older tree */
	uint8_t first_root[DE_MERKLE_MAX_HASH];
	struct de_merkle_proof proof;
};

/* Append the document as one line of JSON (no newline). Returns 0 or a
 * negative errno (-EINVAL for an unknown type or algorithm). */
int de_merkle_proof_write(struct de_buf *b, const struct de_merkle_proof_doc *d);

/* Parse s[0..n) (need not be NUL-terminated). Returns 0, or -EBADMSG with a
 * one-line reason and byte offset in err (may be NULL), -EMSGSIZE when n >
 * DE_MERKLE_JSON_MAX. *out is fully written on success only. */
int de_merkle_proof_parse(const char *s, size_t n, struct de_merkle_proof_doc *out, char *err,
			  size_t errlen);

/* Verify a parsed document with its own hasher: 0 when the proof holds,
 * else the verifier's negative errno (merkle.h). */
int de_merkle_proof_doc_verify(const struct de_merkle_proof_doc *d);

#endif
