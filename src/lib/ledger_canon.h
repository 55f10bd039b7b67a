/* ledger_canon.h: the canonical bytes of what the audit ledger records
 * (process events and the system's own security events), and their
 * rendering for `daemoneye audit show`.
 *
 * Encoding ("canonical TLV"): a sequence of fields, each
 *   u8 tag, len as minimal LEB128 (1-5 bytes), len bytes of value
 * with tags strictly ascending and every field at most once, so one value
 * has exactly one encoding (the chain and the tree hash these bytes; two
 * encodings of one event would be two different records). Integers are
 * fixed-width little-endian (u32/i32: 4 bytes, u64/i64: 8, booleans 1 byte
 * 0 or 1), strings are their bytes without a NUL, hashes and ids raw bytes.
 * A field that is unknown for the event (outside de_event.have, a NULL
 * string) is absent, never zero-filled. The tag tables are in
 * ledger_canon.c and docs/LEDGER.md; tags are never renumbered, only added.
 *
 * What an event's bytes leave out: `proc` (the full /proc detail of
 * snapshots: the ledger records what happened, not the enrichment) and the
 * status fields (drops and source changes are security records instead).
 *
 * The decoder takes untrusted bytes (a ledger file can be edited): lengths
 * are checked against the buffer and against the tag's kind, ordering is
 * enforced; rendering goes through emit.h only.
 */
#ifndef DE_LEDGER_CANON_H
#define DE_LEDGER_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "emit.h"
#include "event.h"
#include "hash.h"

/* The fields of a security record (DE_LREC_START .. DE_LREC_CLOSE); a NULL
 * string or a has_* left false leaves the field out. */
struct de_ledger_sec {
	const char *component;  /* "procmond", "agent", "ledger" */
	const char *detail;     /* one line of plain text */
	const char *source;     /* event source: "ebpf", "netlink", "proc" */
	const char *name;       /* config file / rule set path or name */
	bool has_result;
	int32_t result;         /* 0 or a negative errno (privilege drop, ...) */
	bool has_count;
	uint64_t count;         /* drops: events lost */
	bool has_blake3;
	uint8_t blake3[DE_HASH_LEN]; /* config / rule set: BLAKE3 of the content */
	bool has_ids;
	uint32_t uid, gid;      /* privilege drop: the ids now in effect */
	bool has_repair;
	uint64_t offset;        /* repair: byte offset where the torn tail began */
	uint64_t bytes;         /* repair: bytes cut */
	uint64_t records;       /* repair: records kept */
};

/* Append the canonical bytes of ev (out->err on allocation failure).
 * Returns 0 or a negative errno. */
int de_canon_event(struct de_buf *out, const struct de_event *ev);
/* Append the canonical bytes of s. Returns 0 or a negative errno. */
int de_canon_security(struct de_buf *out, const struct de_ledger_sec *s);

/* Is p[0..n) well-formed canonical TLV (ascending tags, lengths in
 * bounds)? Returns the number of fields or -EBADMSG. The kinds of known
 * tags are checked by the renderers. */
int de_canon_check(const uint8_t *p, size_t n);

/* Render the payload of a record of `type` as members of the JSON object
 * j is in (one member per field; an alert as "alert": its text; a type
 * this version does not know as "payload_hex"). A payload
 * that does not decode is rendered as "payload_hex" plus "payload_error"
 * and -EBADMSG is returned; the JSON stays valid either way. */
int de_canon_json(struct de_json *j, uint32_t type, const uint8_t *p, size_t n);
/* The same as one line of `key=value` pairs, text-escaped (emit.h). */
int de_canon_text(struct de_buf *b, uint32_t type, const uint8_t *p, size_t n);

#endif
