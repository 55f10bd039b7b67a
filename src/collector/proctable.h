/* proctable.h: procmond's live process table, fed with struct de_event.
 *
 * One record (struct de_pt_proc) per process instance, keyed by entity id
 * in a hash table (O(1) lookup), plus an index pid -> live record. A pid
 * names at most one live record: an event for the same pid with another
 * entity id (a newer start time) closes the older record as "exited, exit
 * missed" (a pid-reuse closure), so two processes are never merged.
 *
 * Images: an exec is a new image of the same process, not a new process.
 * Each record keeps the first DE_PT_IMG_FIRST and the last DE_PT_IMG_LAST
 * images (exe, filename, argv, time, exe dev/inode, hashes) plus the total
 * count; images in between are dropped and counted. A forked child that has
 * not exec'd yet runs its parent's image: it holds a reference to it
 * (in its first image slot, flagged DE_PT_F_FORK_IMG) instead of a copy. An image is one allocation (header and
 * all its strings), reference counted, never copied.
 *
 * Exits mark the record (time, exit code or signal, or "unknown" when the
 * source gave none) and keep it for ancestry queries. Exited records are
 * bounded by `max_exited`: the oldest exited record is evicted first. A
 * record that still has retained children (an ancestor of something we
 * track) is pinned and evicted only when no unpinned exited record is left
 * and the bound would otherwise be exceeded: the bound always holds, and
 * ancestry is kept whenever the bound allows it. Live records are never
 * evicted. When the last retained child of a pinned record goes, the
 * record becomes evictable at the oldest end (it exited before its
 * children). Pinning follows retained children, not only live ones: an
 * exited chain down to a live process stays whole, at the price that an
 * exited child keeps its exited parent until the child itself is evicted.
 * Children that arrive before their parent's record (out of order) are not
 * counted, so that parent is evictable earlier than it could be.
 *
 * Robustness to real sources: an exec or exit for a process never seen
 * creates a record on the fly (DE_PT_F_SYNTH); a fork that arrives after
 * its child's exec completes that record; duplicate fork/exec/exit events
 * are recognised and counted, not applied twice; a late exit for a record
 * closed as "exit missed" fills in the real exit. Resync: between
 * de_pt_resync_begin() and de_pt_resync_end(), DE_EV_SNAPSHOT events mark
 * what is alive; live records neither seen by the snapshot nor touched by
 * an event during it are closed as "exit missed", unknown ones are added.
 *
 * Not thread-safe: owned by the collector's event thread. Memory is counted
 * exactly (de_pt_stats.bytes: records, images, index arrays).
 */
#ifndef DE_PROCTABLE_H
#define DE_PROCTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agelist.h"
#include "event.h"
#include "hash.h"
#include "ptimage.h"

#define DE_PT_IMG_FIRST 2
#define DE_PT_IMG_LAST 2
#define DE_PT_IMG_SLOTS (DE_PT_IMG_FIRST + DE_PT_IMG_LAST)
#define DE_PT_MAX_DEPTH 64 /* ancestry: longest chain returned */
#define DE_PT_COMM_MAX 16  /* the kernel's comm (TASK_COMM_LEN): longer kernel thread names are cut */

/* de_pt_proc.flags */
#define DE_PT_F_LIVE        0x0001
#define DE_PT_F_FORK_SEEN   0x0002 /* its fork event was applied */
#define DE_PT_F_SNAPSHOT    0x0004 /* first seen by a snapshot (started before we watched) */
#define DE_PT_F_SYNTH       0x0008 /* created on the fly by an exec/exit for an unknown process */
#define DE_PT_F_EXIT_KNOWN  0x0010 /* exit_code / exit_signal are valid */
#define DE_PT_F_EXIT_MISSED 0x0020 /* closed without an exit event (reuse, resync) */
#define DE_PT_F_EXIT_EVENT  0x0040 /* an exit event was applied */
#define DE_PT_F_PARENT      0x0080 /* ppid / parent_id are valid */
#define DE_PT_F_KID_COUNTED 0x0100 /* counted in its parent's kids (internal) */
#define DE_PT_F_PINNED      0x0200 /* exited, on the pinned list (internal) */
#define DE_PT_F_FORK_IMG    0x0400 /* img[0] is the parent's image at fork, until an exec (internal) */

/* One process instance. Read-only for callers (pointers stay valid until
 * the record is evicted or the table freed). */
struct de_pt_proc {
	uint8_t entity_id[DE_ENTITY_ID_LEN];
	uint8_t parent_id[DE_ENTITY_ID_LEN];
	struct de_pt_proc *id_next;            /* entity id chain */
	union {
		struct de_pt_proc *pid_next;   /* live: pid chain */
		struct de_age_link age;        /* exited: on the evictable or pinned list */
	};
	struct de_pt_image *img[DE_PT_IMG_SLOTS]; /* with no image yet: img[0] may hold the
						 * parent's image at fork (DE_PT_F_FORK_IMG) */
	int64_t start_time_ns;   /* fork time, or when first seen */
	union {
		uint64_t start_ticks;  /* live: the kernel's start time (which instance owns the pid) */
		int64_t exit_time_ns;  /* exited: exit time; for a missed exit, when it was noticed */
	};
	int32_t pid, ppid;
	int32_t exit_code;
	uint32_t n_images;       /* images ever recorded (retained or not) */
	uint32_t kids;           /* retained records whose parent this is */
	uint32_t seen_gen;       /* resync generation that last saw it */
	uint32_t uid;            /* real uid, DE_AUDIT_UNSET when unknown */
	uint16_t flags;          /* DE_PT_F_* */
	uint8_t exit_signal;
	char comm[DE_PT_COMM_MAX]; /* cut to DE_PT_COMM_MAX - 1 bytes */
};

/* The image with ordinal i (0 = first exec'd or snapshot image), or NULL
 * when it was not retained or does not exist. */
const struct de_pt_image *de_pt_image_at(const struct de_pt_proc *p, uint32_t i);
/* What it runs now: the last image, else the image inherited at fork, else NULL. */
const struct de_pt_image *de_pt_current_image(const struct de_pt_proc *p);

struct de_pt_opts {
	uint32_t max_exited;   /* exited records kept for ancestry (0: keep none) */
	uint32_t initial_size; /* expected live processes (sizes the indexes; 0: default) */
};

struct de_pt_stats {
	uint64_t live, exited;          /* records now */
	uint64_t pinned;                /* exited records kept for their children */
	uint64_t events;                /* events applied (status events excluded) */
	uint64_t evicted;               /* exited records evicted */
	uint64_t evicted_pinned;        /* ... of which still had retained children */
	uint64_t pid_reuse_closures;    /* live records closed by a new process on their pid */
	uint64_t exits_missed;          /* records closed without an exit event */
	uint64_t late_exits;            /* exit events for records already closed as missed */
	uint64_t synthesized;           /* records created by an exec/exit for an unknown process */
	uint64_t duplicates;            /* fork/exec/exit events already applied */
	uint64_t stale;                 /* snapshot events for already exited records (ignored) */
	uint64_t images, images_dropped;/* images recorded; middle ones not retained */
	uint64_t resyncs, resync_added, resync_closed; /* resyncs: ended or aborted */
	uint64_t bytes;                 /* heap bytes held by the table */
};

struct de_proctable;

/* Returns NULL with errno set (ENOMEM). */
struct de_proctable *de_pt_new(const struct de_pt_opts *o);
void de_pt_free(struct de_proctable *pt);

/* Apply one event (fork, exec, exit, snapshot; status events are ignored).
 * Copies what it keeps. Returns 0, -EINVAL (pid <= 0 or an all-zero
 * entity id), or -ENOMEM (the table is unchanged). */
int de_pt_apply(struct de_proctable *pt, const struct de_event *ev);

/* Resync: begin, apply the DE_EV_SNAPSHOT events of one full snapshot (and
 * any other events that arrive meanwhile), end. end() closes, as exit
 * missed at time now_ns, every live record neither seen nor touched since
 * begin, and returns how many it closed. */
void de_pt_resync_begin(struct de_proctable *pt);
uint32_t de_pt_resync_end(struct de_proctable *pt, int64_t now_ns);
/* A snapshot that failed part way: what it added stays, nothing is closed. */
void de_pt_resync_abort(struct de_proctable *pt);

const struct de_pt_proc *de_pt_find(const struct de_proctable *pt,
				    const uint8_t id[DE_ENTITY_ID_LEN]);
const struct de_pt_proc *de_pt_find_pid(const struct de_proctable *pt, int32_t pid); /* live only */

/* How an ancestry walk ended. */
enum de_pt_anc_end {
	DE_PT_ANC_ROOT = 0,   /* reached a process without a parent (pid 1, kthreadd) */
	DE_PT_ANC_MISSING,    /* the next parent is not in the table (never seen or evicted) */
	DE_PT_ANC_DEPTH,      /* stopped at max entries */
	DE_PT_ANC_CYCLE,      /* a parent link led back into the chain (corrupt input) */
};

/* Ancestors of `id`: out[0] its parent, out[1] the grandparent, ... up to
 * `max` entries, exited ones included while retained. Returns the count
 * (>= 0) and how the walk ended, or -ENOENT when `id` is unknown. */
int de_pt_ancestry(const struct de_proctable *pt, const uint8_t id[DE_ENTITY_ID_LEN],
		   const struct de_pt_proc **out, size_t max, enum de_pt_anc_end *end);

/* Hashes for image `ordinal` of `id`, checked against its exe dev/inode
 * (a stale result never lands on another image). With err == 0 the hashes
 * are recorded; otherwise the image's hash state becomes FAILED with err.
 * Returns 0, -ENOENT (record or image gone), -ESTALE (identity differs),
 * or -ENOMEM (a new hash value could not be pooled; the image unchanged). */
int de_pt_set_hashes(struct de_proctable *pt, const uint8_t id[DE_ENTITY_ID_LEN],
		     uint32_t ordinal, uint64_t exe_dev, uint64_t exe_ino, int err,
		     const struct de_hashes *h);
/* Record that image `ordinal` of `id` is DEFERRED or SKIPPED. */
int de_pt_set_hash_state(struct de_proctable *pt, const uint8_t id[DE_ENTITY_ID_LEN],
			 uint32_t ordinal, enum de_pt_hash_state state);

/* Call fn for every live record, in no particular order; stops at and
 * returns the first nonzero return of fn. fn must not change the table. */
int de_pt_foreach_live(const struct de_proctable *pt,
		       int (*fn)(const struct de_pt_proc *p, void *ud), void *ud);
/* The live records sorted by pid, in a malloc'd array (*n entries; free()
 * it). Returns 0 or -ENOMEM. */
int de_pt_live_sorted(const struct de_proctable *pt, const struct de_pt_proc ***out, size_t *n);

void de_pt_stats(const struct de_proctable *pt, struct de_pt_stats *st);

#endif
