/* ledger.h: the audit ledger's writer (procmond is its only user).
 *
 * Files, in STATE/ledger (statedir.h; directory 0750, files 0640, group
 * daemoneye when that group exists):
 *   FORMAT       "daemoneye ledger 1", the hash, the origin (fixed at creation)
 *   records      the append-only record frames (ledger_rec.h)
 *   tree/        the Merkle node store over the records (merkle_store.h)
 *   checkpoints  the signed checkpoints (ledger_note.h), one after another,
 *                each followed by an empty line; append-only
 *   PUBKEY       the verifier key of the signing key (`audit pubkey`)
 *   TAIL         a hint written at each checkpoint: where the last
 *                checkpointed record ends, so opening scans only what came
 *                after (a wrong or missing hint means a full scan)
 *   torn-OFFSET.bin   bytes cut from a torn tail, kept for inspection
 * The writer holds an exclusive flock on FORMAT while open: one writer, and
 * readers can tell a live ledger from an abandoned one.
 *
 * Group commit, driven by the caller's loop: appends go to a memory
 * buffer (written out when it reaches buffer_bytes); when the oldest
 * record not yet handed to a sync is half of sync_ms old the buffer is
 * written and an fdatasync is requested, so with the fsync itself a record
 * is durable within sync_ms (default 100 ms). The loop polls with
 * de_ledger_timeout_ms() and calls de_ledger_tick(); appends also check the
 * clock, so under load commits happen without ticks and carry many records
 * each. One thread: the ledger runs a commit thread that does nothing but
 * fdatasync(2) of the records file when asked (the caller's loop never
 * blocks on the disk for a group commit; a sync takes 5-20 ms here). Every
 * other step, the node store and the signing happen on the caller's
 * thread; de_ledger_sync, checkpoints and close sync synchronously. A
 * failed background sync is returned by the next append, tick or sync. A checkpoint (records
 * synced, node store synced, note signed and appended to `checkpoints`,
 * fdatasync) is made every checkpoint_records records or checkpoint_ms
 * (when something was appended), on open and on close.
 *
 * Crash safety: opening scans the records after the last checkpoint (and
 * decodes the last record it covers; any doubt means a scan from the
 * start), truncates a torn or corrupt tail (saving the cut bytes to torn-*.bin),
 * re-appends tree leaves the node store lost, and records the repair as a
 * DE_LREC_REPAIR record. Damage inside what a checkpoint covers is never
 * repaired or rewritten: opening fails with -EUCLEAN when it sees it. Older
 * records are not re-read on open (that is O(n)): `audit verify` checks
 * them.
 * After a write or sync error the writer refuses further appends with that
 * error; close and reopen (which repairs).
 */
#ifndef DE_LEDGER_H
#define DE_LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "event.h"
#include "ledger_canon.h"
#include "ledger_key.h"
#include "ledger_note.h"
#include "ledger_rec.h"

struct de_ledger_opts {
	const char *origin;          /* NULL: "daemoneye/HOSTNAME"; used only at creation */
	const char *component;       /* who opens it, for the open/close records (NULL: "procmond") */
	unsigned sync_ms;            /* durability bound; 0: 100 */
	uint64_t checkpoint_records; /* 0: 100000 */
	unsigned checkpoint_ms;      /* 0: 60000 */
	size_t buffer_bytes;         /* 0: 256 KiB */
	/* Give the ledger's directories and files to this user (opened as
	 * root before a privilege drop: the user procmond runs as afterwards
	 * must be able to create the node store's new files and replace
	 * SYNCED and TAIL). Without it they belong to the opener. */
	bool set_owner;
	uid_t owner;
	/* Called with every new checkpoint note (e.g. to send it to the alert
	 * sinks so a copy leaves the host). May be NULL. */
	void (*on_checkpoint)(void *arg, const char *note, size_t len);
	void *arg;
};

struct de_ledger;

/* Open (creating on first use) the ledger of state directory `state_dir`,
 * signing checkpoints with `key` (borrowed: must outlive the ledger). The
 * key must be the one that signed the existing checkpoints (-EKEYREJECTED
 * otherwise). Repairs a torn tail, then appends an open record (and a
 * repair record) and checkpoints. NULL + errno on failure, reason in why:
 * EUCLEAN damage covered by a checkpoint, EWOULDBLOCK another writer. */
struct de_ledger *de_ledger_open(const char *state_dir, struct de_ledger_key *key,
				 const struct de_ledger_opts *opts, char *why, size_t whylen);

/* Append one record; its sequence number to *seq when not NULL. Returns 0
 * or a negative errno (-EMSGSIZE payload too large, the sticky error). */
int de_ledger_append(struct de_ledger *l, uint32_t type, const void *payload, size_t n,
		     uint64_t *seq);
/* An exec, exit or fork event (its canonical bytes, ledger_canon.h);
 * -EINVAL for other event types. */
int de_ledger_append_event(struct de_ledger *l, const struct de_event *ev, uint64_t *seq);
/* A security record (DE_LREC_START .. DE_LREC_CLOSE types). */
int de_ledger_append_security(struct de_ledger *l, uint32_t type, const struct de_ledger_sec *s,
			      uint64_t *seq);
/* A configuration or rule-set change: records `name` and BLAKE3(content). */
int de_ledger_append_content(struct de_ledger *l, uint32_t type, const char *name,
			     const void *content, size_t n, uint64_t *seq);

/* Milliseconds until de_ledger_tick has work (a commit or a checkpoint is
 * due), 0 when overdue, -1 when nothing is pending: a poll(2) timeout.
 * now_ns is CLOCK_MONOTONIC. */
int de_ledger_timeout_ms(const struct de_ledger *l, int64_t now_ns);
/* Do what is due at now_ns (CLOCK_MONOTONIC): request a commit, checkpoint. */
int de_ledger_tick(struct de_ledger *l, int64_t now_ns);
/* Write and fdatasync everything appended so far; returns when durable. */
int de_ledger_sync(struct de_ledger *l);
/* Sync and sign a checkpoint of the current size now. */
int de_ledger_checkpoint_now(struct de_ledger *l);
/* Append a close record, checkpoint, release. Returns the first error of
 * those steps (the ledger is released regardless). Safe on NULL. */
int de_ledger_close(struct de_ledger *l);

/* Records appended so far (the next sequence number). */
uint64_t de_ledger_size(const struct de_ledger *l);
/* The latest checkpoint (size 0 before the first). */
const struct de_checkpoint *de_ledger_last_checkpoint(const struct de_ledger *l);
/* Counters since open (for status output and benchmarks). */
struct de_ledger_stats {
	uint64_t commits;     /* fdatasyncs of the records */
	uint64_t checkpoints; /* notes signed */
	uint64_t bytes;       /* record bytes written */
	uint64_t sync_ns;     /* time spent in fdatasync of the records */
};
void de_ledger_stats(const struct de_ledger *l, struct de_ledger_stats *out);
/* The current time on CLOCK_MONOTONIC, ns (for tick/timeout callers). */
int64_t de_ledger_now(void);

#endif
