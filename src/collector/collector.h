/* collector.h: the collector runner: picks an event source, runs it.
 *
 * Source choice: forced (`--source`, collector.source) or auto: ebpf, then
 * netlink, then /proc polling. Each failed attempt and the final choice
 * are delivered as DE_EV_STATUS events (DE_ST_DEGRADED with the reason,
 * then DE_ST_STARTED), so consumers always know what they are looking at.
 * A forced source that cannot start is an error with the reason; there is
 * no silent fallback.
 *
 * Running: one epoll loop over the source's fd (and a signalfd when asked
 * to stop on SIGINT/SIGTERM), sleeping for the source's timeout_ms() and
 * never busy-polling. Every event passes through the runner on its way to
 * the caller's sink: it gets its `seq` (monotonic per run) and time_ns when
 * the source left it 0. At start the runner takes a snapshot (the
 * source's snapshot(), or the shared /proc one: de_procsnap_events) and
 * reports DE_ST_RESYNC ("startup snapshot: N processes") when it is
 * complete; after a DE_ST_DROPS it takes a resync snapshot and reports
 * DE_ST_RESYNC again (drop reports within 250 ms of the last snapshot
 * share the next one).
 *
 * Live table and hashes (opt-in: `table`, `hash`): before an event reaches
 * the sink the runner applies it to the live process table (proctable.h;
 * a snapshot is a resync of the table: processes it no longer finds are
 * closed as "exit missed") and, for exec and snapshot events, asks the
 * hash worker (enrich.h) for the executable's hashes: a binary hashed
 * before is answered at once (the event carries DE_EVF_HASH), a new one
 * no larger than hashing.inline_max_bytes is hashed right there (bounded
 * work: a short-lived process is gone before a worker could read it),
 * otherwise
 * the event says "hash deferred" (or "hash skipped: queue full") in
 * hash_note and the result lands in the table when the worker is done.
 * The worker's eventfd is part of the epoll loop; the event path never
 * waits for a hash. The worker thread starts with de_collector_run (so it
 * has the credentials of the thread that runs the collector, e.g. after a
 * privilege drop). A resync snapshot is also taken every
 * collector.resync_interval_s seconds (0: only after drops).
 *
 * The sink may return -ECANCELED to stop the run cleanly (e.g. after N
 * events); any other negative return stops it with that error.
 */
#ifndef DE_COLLECTOR_H
#define DE_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "source.h"

struct de_collector_opts {
	const struct de_config *cfg;
	enum de_source_choice source;          /* DE_SOURCE_AUTO or the forced one */
	const char *proc_root;          /* NULL: /proc */
	de_event_sink_fn sink;
	void *sink_ud;
	/* Optional: called with sink_ud whenever the runner is about to wait,
	 * i.e. once per batch of events it delivered; a sink that hands events
	 * to another thread wakes it here, not per event (evqueue.h). */
	void (*flush)(void *sink_ud);
	bool no_snapshot;               /* skip the startup snapshot (tests) */
	bool stop_on_signals;           /* block SIGINT/SIGTERM, stop when one arrives */
	uint32_t netlink_rcvbuf_bytes;  /* 0: the source's default */
	uint32_t ringbuf_bytes;         /* eBPF ring; 0: collector.ring_buffer_bytes */
	bool table;                     /* keep the live process table */
	bool hash;                      /* hash executables (needs hashing.enabled) */
};

struct de_proctable;

struct de_collector;

/* Open the source and deliver the choice (status events) to the sink.
 * Returns 0 and *out, or a negative errno and the reason in why. */
int de_collector_open(const struct de_collector_opts *o, struct de_collector **out, char *why,
		      size_t why_len);
/* Startup snapshot (unless no_snapshot), then the event loop until a signal
 * (stop_on_signals), duration_ms elapsed (< 0: no limit) or the sink
 * returns -ECANCELED. Returns 0 on a clean stop or a negative errno. */
int de_collector_run(struct de_collector *c, int64_t duration_ms);
enum de_event_source de_collector_kind(const struct de_collector *c);
void de_collector_close(struct de_collector *c);

/* The live process table (NULL unless opts.table). Valid until close;
 * read it only from the thread that runs the collector (e.g. in the sink). */
const struct de_proctable *de_collector_table(const struct de_collector *c);

struct de_collector_stats {
	uint64_t events;          /* events delivered to the sink */
	uint64_t resyncs;         /* snapshots taken (startup included) */
	uint64_t table_errors;    /* events the table could not apply (ENOMEM) */
	uint64_t untracked;       /* events without an identity the table can key (pid or entity id unknown) */
	uint64_t hash_cached, hash_deferred, hash_skipped; /* hash answers on the event path */
	uint64_t hash_results;    /* worker results attached to the table */
	uint64_t hash_inline;     /* ... of hash_cached: small new binaries hashed on the event path */
	uint64_t hash_by_id;      /* ... of hash_cached: found by the identity the event carried
				   * (DE_EVF_EXE_STAT), without a stat() */
};
void de_collector_stats(const struct de_collector *c, struct de_collector_stats *st);
/* Ask a running de_collector_run() for a resync snapshot (DE_EV_SNAPSHOT
 * events, then DE_ST_RESYNC), as after a drop report. Safe to call from
 * any thread (procmond's IPC loop calls it while the runner runs in its
 * own thread); wakes the loop through an eventfd. Returns 0 or a negative
 * errno. */
int de_collector_request_resync(struct de_collector *c);

/* Whether a source of this kind is built in (in the source table). */
bool de_collector_has(enum de_event_source kind);

#endif
