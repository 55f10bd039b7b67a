/* ledger_rec.h: one audit ledger record: its types, its frame on disk, and
 * the two hashes that bind it (the BLAKE3 chain and the Merkle leaf).
 *
 * Frame (all integers little-endian):
 *   u32 frame_len      bytes of the whole frame, this field included
 *   u64 seq            0, 1, 2, ... (the record's index in the ledger)
 *   i64 time_ns        when it was appended, UTC ns since the epoch
 *   u32 type           DE_LREC_*
 *   u32 payload_len
 *   payload            payload_len bytes (ledger_canon.h for most types)
 *   u8  chain[32]      BLAKE3(chain of the previous record || leaf)
 *   u8  check[8]       the first 8 bytes of BLAKE3(frame_len .. payload_len || chain)
 * R ("the record") is seq .. payload. Its Merkle leaf is RFC 9162's
 * leaf = BLAKE3(0x00 || R), and the chain links the leaves:
 * chain(i) = BLAKE3(chain(i-1) || leaf(i)), chain(-1) = 32 zero bytes. So
 * the tree commits to every record's bytes and the chain to their order,
 * and the record is hashed once for both (a 400-byte record is ~7 BLAKE3
 * blocks; the chain and the check one block each).
 *
 * Trade-offs: the checksum covers the fixed header and the chain, not the
 * payload: it tells a torn or rotted frame (the chain and check come last)
 * from a whole one without knowing the previous record; a changed payload
 * changes the leaf and so fails the chain check, which every scan that
 * matters (the writer's recovery, `audit verify`) makes. Tamper evidence
 * comes from the chain, the tree and the signed checkpoints, which a
 * recomputed checksum does not fool. The decoder is the parser of
 * untrusted bytes (a ledger file may have been edited by anyone): it
 * checks every length against the bytes it has and never reads past them
 * (fuzzed: src/fuzz/fuzz_ledgerrec.c).
 */
#ifndef DE_LEDGER_REC_H
#define DE_LEDGER_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hash.h"

#define DE_LREC_HDR 28u      /* frame_len .. payload_len */
#define DE_LREC_TRAILER 40u  /* chain + check */
#define DE_LREC_CHECK_LEN 8u
#define DE_LREC_MIN (DE_LREC_HDR + DE_LREC_TRAILER)
#define DE_LREC_MAX_PAYLOAD (256u * 1024u)
#define DE_LREC_MAX (DE_LREC_MIN + DE_LREC_MAX_PAYLOAD)

enum de_lrec_type {
	/* process events: payload = canonical bytes of a struct de_event */
	DE_LREC_EXEC = 1,
	DE_LREC_EXIT = 2,
	DE_LREC_FORK = 3,
	/* an alert, as the agent handed it over (opaque bytes, usually JSON) */
	DE_LREC_ALERT = 16,
	/* the system's own security events: payload = canonical security fields */
	DE_LREC_START = 32,     /* a component started */
	DE_LREC_STOP,           /* a component stopped */
	DE_LREC_PRIVDROP,       /* result of a privilege drop */
	DE_LREC_SOURCE,         /* the event source in use (or a change of it) */
	DE_LREC_DROPS,          /* events were lost */
	DE_LREC_CONFIG,         /* configuration loaded/changed (BLAKE3 of the content) */
	DE_LREC_RULESET,        /* rule set loaded/changed (BLAKE3 of the content) */
	DE_LREC_REPAIR,         /* the ledger repaired a torn tail on open */
	DE_LREC_OPEN,           /* the ledger was opened for writing */
	DE_LREC_CLOSE,          /* the ledger was closed cleanly */
};

/* "exec", "alert", "privdrop", ... or NULL for an unknown type. */
const char *de_lrec_type_name(uint32_t type);
/* Parse a name back; returns the type or -EINVAL. */
int de_lrec_type_parse(const char *s);
/* True for the types whose payload is canonical security fields. */
bool de_lrec_is_security(uint32_t type);

/* A decoded record. payload points into the bytes it was decoded from. */
struct de_lrec {
	uint64_t seq;
	int64_t time_ns;
	uint32_t type;
	uint32_t payload_len;
	const uint8_t *payload;
	uint8_t chain[DE_HASH_LEN];
	const uint8_t *rec;    /* R: the Merkle leaf data */
	size_t rec_len;        /* DE_LREC_HDR - 4 + payload_len */
	uint32_t frame_len;
};

/* Append the frame of (seq, time, type, payload) to out, chaining from
 * prev_chain (32 bytes); the record's leaf hash to leaf_out and its chain
 * hash to chain_out (either may be NULL). Returns the frame length or a
 * negative errno (-EMSGSIZE for a payload over DE_LREC_MAX_PAYLOAD,
 * out->err). */
int de_lrec_encode(struct de_buf *out, uint64_t seq, int64_t time_ns, uint32_t type,
		   const void *payload, size_t payload_len, const uint8_t *prev_chain,
		   uint8_t *leaf_out, uint8_t *chain_out);

/* Decode the frame at p[0..n). Returns the frame length (> 0) and fills
 * *r; -EAGAIN when p holds only a prefix of a plausible frame (a torn
 * tail, or more to read); -EBADMSG when the length field is impossible or
 * the checksum does not match. Checks the form only: the seq order and
 * chain are the caller's (de_lrec_chain_ok). */
int de_lrec_decode(const uint8_t *p, size_t n, struct de_lrec *r);

/* The record's Merkle leaf hash, BLAKE3(0x00 || R). */
void de_lrec_leaf(const struct de_lrec *r, uint8_t *leaf);
/* Does r's stored chain equal BLAKE3(prev_chain || leaf)? The leaf hash is
 * written to leaf_out (may be NULL) either way. */
bool de_lrec_chain_ok(const struct de_lrec *r, const uint8_t *prev_chain, uint8_t *leaf_out);

/* A sequential reader of frames from a file, through a buffer (pread: the
 * fd's offset is not used), for scans at disk speed. A decoded record
 * points into the buffer and is valid until the next call. */
struct de_lreader {
	int fd;
	uint64_t off;      /* file offset of the next frame */
	uint8_t *buf;
	size_t cap, pos, len; /* buffered bytes [pos, len) start at file offset off */
	bool eof;
};

/* Set up a reader of fd from byte `offset`. 0 or -ENOMEM. */
int de_lreader_init(struct de_lreader *rd, int fd, uint64_t offset);
void de_lreader_done(struct de_lreader *rd);
/* The next frame: 1 and *r filled (rd->off then points past it), 0 at a
 * clean end of file, -EAGAIN when the file ends inside a frame (torn tail),
 * -EBADMSG for a frame that does not decode; rd->off stays at the bad
 * frame. Other negative errnos from reading. */
int de_lreader_next(struct de_lreader *rd, struct de_lrec *r);

#endif
