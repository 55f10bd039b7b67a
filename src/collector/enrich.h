/* enrich.h: executable hashes for procmond without blocking the event path.
 *
 * The event thread asks de_enrich_submit() for the hashes of a process's
 * executable, named by its file identity (dev, inode, size, mtime, ctime:
 * exehash.h). A binary hashed before is answered at once from a small
 * thread-safe result map ("cached"). Otherwise the request goes into a
 * bounded ring to one worker thread, and the event says "hash deferred";
 * when the ring is full the request is dropped and counted, and the event
 * says "hash skipped: queue full". Submitting never waits for hashing: the
 * only lock it takes is held by the worker for a few word copies, never
 * across I/O.
 *
 * The worker opens /proc/PID/exe (or, for a process that is already
 * gone, the path its exec named, when the caller has checked that it is
 * the same file: see de_enrich_file_id_path), checks that the file still has the
 * identity the event saw (otherwise the result is -ESTALE and nothing is
 * cached under the old identity), answers from the map when another
 * request hashed it meanwhile, else hashes it (exehash.c: identity checked
 * again after the read) and stores the result in the map. So each binary
 * is hashed once per identity while the map holds it (FIFO replacement
 * when full).
 *
 * Results come back on the owner's thread: the eventfd from de_enrich_fd()
 * becomes readable, and de_enrich_poll() hands each finished result to a
 * callback, carrying the entity id and image ordinal of the request so the
 * process table can attach it to the right image (de_pt_set_hashes).
 *
 * Memory is fixed at creation: the ring (queue_len slots, a slot is busy
 * from submit until its result is polled) and the map (map_entries).
 * Shutdown stops the worker after the request in hand; queued requests are
 * abandoned and nothing leaks.
 */
#ifndef DE_ENRICH_H
#define DE_ENRICH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "exehash.h"
#include "hash.h"
#include "proc.h"

struct de_enrich_opts {
	uint32_t queue_len;      /* requests in flight; 0: 256 */
	uint32_t map_entries;    /* hashes kept; 0: 1024 */
	uint64_t max_file_bytes; /* larger executables fail with -EFBIG; 0: no limit */
	unsigned algos;          /* DE_HASH_*; 0: both */
	const char *proc_root;   /* "/proc" unless testing */
};

/* Options from the configuration (hashing.max_file_bytes, hashing.cache_entries). */
void de_enrich_opts_from_config(struct de_enrich_opts *o, const struct de_config *cfg);

#define DE_ENRICH_PATH_MAX 256

struct de_enrich_req {
	int32_t pid;                          /* > 0: read /proc/PID/exe */
	char path[DE_ENRICH_PATH_MAX];        /* pid <= 0: read this file (absolute) */
	struct de_file_id id;                 /* the identity the event saw */
	uint8_t entity_id[DE_ENTITY_ID_LEN];  /* where the result belongs ... */
	uint32_t image;                       /* ... and which image (ordinal) */
};

struct de_enrich_result {
	struct de_enrich_req req;
	int err;                 /* 0, or -ESTALE (file changed since the event), -ENOENT/-ESRCH
				  * (process gone), -EACCES, -EFBIG, -EAGAIN (changed while read) */
	struct de_file_id id;    /* identity found by the worker (when it could open the file) */
	struct de_hashes hashes; /* when err == 0 */
	bool from_map;           /* another request had hashed it meanwhile */
};

enum de_enrich_answer {
	DE_ENRICH_CACHED = 0,  /* hashes filled in now */
	DE_ENRICH_DEFERRED,    /* queued: the result comes through de_enrich_poll() */
	DE_ENRICH_QUEUE_FULL,  /* dropped: no hash for this event */
};

/* The event's hash note for an answer: NULL, "hash deferred",
 * "hash skipped: queue full". */
const char *de_enrich_note(enum de_enrich_answer a);

struct de_enrich;

/* Start the worker. Returns NULL with errno set. */
struct de_enrich *de_enrich_new(const struct de_enrich_opts *o);
/* Stop and join the worker, free everything (queued requests are dropped). */
void de_enrich_free(struct de_enrich *e);

/* The identity of pid's executable (a stat through /proc/PID/exe: no file
 * data is read). For callers whose event carries only dev and inode.
 * Returns 0 or a negative errno. */
int de_enrich_file_id_pid(const char *proc_root, int32_t pid, struct de_file_id *id);

/* The identity of the file at an absolute path, accepted only when it is a
 * regular file with the given dev and inode (the executable an exec event
 * saw, for a process that is already gone). Returns 0, -ESTALE (another
 * file is there now), -EINVAL (not absolute or not regular) or an errno. */
int de_enrich_file_id_path(const char *path, uint64_t dev, uint64_t ino, struct de_file_id *id);

/* The map only: 0 and *out when `id` was hashed, else -ENOENT. */
int de_enrich_lookup(struct de_enrich *e, const struct de_file_id *id, struct de_hashes *out);

/* Cached answer or queue the request; never blocks on hashing. Returns a
 * de_enrich_answer (>= 0); *out is filled only for DE_ENRICH_CACHED. */
int de_enrich_submit(struct de_enrich *e, const struct de_enrich_req *req, struct de_hashes *out);

/* Hash req's executable now, on the caller's thread (the owner's; for
 * small files, where the worker's round trip would outlast the process:
 * collector.c bounds it by size), and keep the result in the map. Returns
 * 0 and *out, or the error a worker result would carry. */
int de_enrich_hash_now(struct de_enrich *e, const struct de_enrich_req *req, struct de_hashes *out);

/* Readable (eventfd) when results are waiting. */
int de_enrich_fd(const struct de_enrich *e);

/* Hand every finished result to cb (on the caller's thread, in request
 * order). cb may submit new requests. Returns how many it delivered. */
int de_enrich_poll(struct de_enrich *e, void (*cb)(const struct de_enrich_result *r, void *ud),
		   void *ud);

struct de_enrich_stats {
	uint64_t submitted;      /* de_enrich_submit calls */
	uint64_t cached;         /* ... answered from the map at once */
	uint64_t queued;         /* ... queued to the worker */
	uint64_t dropped;        /* ... dropped, queue full */
	uint64_t hashed;         /* files the worker read and hashed */
	uint64_t hashed_inline;  /* files de_enrich_hash_now read and hashed */
	uint64_t from_map;       /* worker answers found in the map (a duplicate request) */
	uint64_t stale;          /* identity changed between event and worker */
	uint64_t failed;         /* other worker errors */
	uint64_t delivered;      /* results handed to de_enrich_poll callbacks */
	uint32_t map_entries;
};
void de_enrich_stats(struct de_enrich *e, struct de_enrich_stats *st);

/* Fault injection for tests: fn runs on the worker before each request is
 * handled (to hold the worker, or change the file). NULL removes it. */
void de_enrich_set_worker_hook(struct de_enrich *e,
			       void (*fn)(const struct de_enrich_req *r, void *ud), void *ud);

#endif
