/* ledger_verify.h: checking a ledger directory end to end, read-only
 * (`daemoneye audit verify`), and finding records in it.
 *
 * What verification checks, in one pass over the records:
 *  - every frame decodes (length, checksum), record i has seq i, and its
 *    chain hash is BLAKE3(chain of i-1 || R): an edited, deleted, swapped
 *    or inserted record fails here, at its index;
 *  - the Merkle root recomputed from the records equals the root of every
 *    checkpoint (the ledger's own and one given with --checkpoint), each of
 *    which must carry a valid signature by the trusted key (the given
 *    public key, else the ledger's PUBKEY): a whole chain recomputed after
 *    an edit fails here; the index is then found by comparing the
 *    recomputed leaves with the node store's (the edit's index), or, when
 *    the node store was rewritten too, it is the size of the last checkpoint
 *    that still matched (everything before it is proven intact);
 *  - no checkpoint covers more records than there are (truncation: the
 *    index is the first missing record), and the node store has no more
 *    leaves than there are records;
 *  - when no writer holds the ledger, every record is covered by a
 *    checkpoint (the writer checkpoints on open and close, so records past
 *    the last checkpoint were appended by someone else, or a writer
 *    crashed): the first uncovered record is the index. With a live writer
 *    an uncovered tail is normal and only reported.
 * Since checkpoint roots are checked against the records' own tree, every
 * pair of checkpoints is also consistent (both are prefixes of one tree).
 */
#ifndef DE_LEDGER_VERIFY_H
#define DE_LEDGER_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger_note.h"
#include "ledger_rec.h"

#define DE_VERIFY_NONE UINT64_MAX

struct de_verify_opts {
	const struct de_vkey *vk;      /* trusted key; NULL: the ledger's PUBKEY */
	const char *checkpoint;        /* an exported checkpoint note, or NULL */
	size_t checkpoint_len;
};

struct de_verify_result {
	bool ok;
	uint64_t records;          /* records that passed the record checks */
	uint64_t first_bad;        /* index of the first bad record, DE_VERIFY_NONE */
	int64_t bad_checkpoint;    /* index in the checkpoints file, -1 none, -2 the given one */
	unsigned checkpoints;      /* checkpoints whose signature and root verified */
	uint64_t covered;          /* largest verified checkpoint size */
	bool live;                 /* a writer holds the ledger */
	uint8_t root[DE_HASH_LEN]; /* root of the records that passed */
	char reason[320];          /* first failure, one line */
};

/* Verify the ledger in ledger_dir. Returns 0 when the check ran (see
 * res->ok), or a negative errno when it could not (no such ledger, I/O),
 * with the reason in res->reason. */
int de_ledger_verify(const char *ledger_dir, const struct de_verify_opts *o,
		     struct de_verify_result *res);

/* Call fn for each record from seq `from` (in order) until it returns
 * non-zero (returned) or the records end; the record is valid during the
 * call. Frames are decoded (checksums checked); chain and order are not
 * (that is verify's job). Returns 0, fn's value, or a negative errno
 * (-EBADMSG at a frame that does not decode). */
typedef int (*de_lrec_fn)(void *arg, const struct de_lrec *r);
int de_ledger_each(const char *ledger_dir, uint64_t from, de_lrec_fn fn, void *arg);

#endif
