/* store.h: the agent's event store (SQLite, WAL).
 *
 * Everything the agent learns about processes is kept here, and it is
 * what detection rules and `daemoneye query` read (through the published
 * views documented in docs/SCHEMA.md, never the tables). Only the agent
 * writes; rules run on separate read-only connections (sqlguard.h).
 *
 * Tables (private): process_t (one row per process instance = entity id:
 * identity, parent, start, exit), image_t (one row per image of an
 * instance: the first one seen and one per exec; comm, exe, argv, creds,
 * cwd, cgroup, hashes), event_t (every exec/fork/exit/snapshot/status
 * event, numbered by `id`: rules see new rows as id > watermark),
 * exe_t (executables by identity with their hashes, first/last seen),
 * status_t (collector status and drop reports), alert_t, rule_t, meta.
 *
 * Writes are batched: de_store_add() appends to the open transaction with
 * reused prepared statements, de_store_commit() ends it (call it per
 * batch of events; the agent commits at least every few ms). WAL with
 * synchronous=NORMAL: a committed batch survives a kill -9 of the agent
 * (the WAL is in the OS); a power loss may lose the last batches (set
 * `durable` for synchronous=FULL).
 *
 * Schema versions: `PRAGMA user_version` holds the version; migrations
 * run in order in one transaction at open; a database newer than this
 * build is refused, never modified.
 */
#ifndef DE_STORE_H
#define DE_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

#define DE_STORE_SCHEMA_VERSION 3

struct de_store_opts {
	const char *path;         /* database file; ":memory:" for tests */
	bool durable;             /* synchronous=FULL instead of NORMAL */
	uint64_t retain_age_ns;   /* 0: keep forever */
	uint64_t retain_bytes;    /* 0: no size bound */
};

struct de_store;

/* Open (creating and migrating as needed). Returns NULL with errno set and
 * a reason in why. */
struct de_store *de_store_open(const struct de_store_opts *o, char *why, size_t why_len);
void de_store_close(struct de_store *s);
sqlite3 *de_store_db(struct de_store *s);

/* Add one event to the current batch (a transaction is opened on the
 * first). Returns the event's row id (> 0), or a negative errno. */
int64_t de_store_add(struct de_store *s, const struct de_event *ev);
/* Commit the batch. Returns 0 or a negative errno (the batch is rolled
 * back and lost: the caller keeps its copy to retry). */
int de_store_commit(struct de_store *s);

/* Apply the retention bounds: delete events older than retain_age_ns and,
 * while the database is over retain_bytes, the oldest events, then
 * processes no event refers to that have exited. Returns the number of
 * events deleted or a negative errno. now_ns: the current time. */
int64_t de_store_retain(struct de_store *s, int64_t now_ns);

/* Highest event id committed (the watermark rules advance over). */
int64_t de_store_last_event_id(struct de_store *s);

/* The published names rules and queries may read (NULL-terminated), for
 * the guard's policy. */
extern const char *const de_store_published[];

/* The event-id window a rule evaluation sees through new_process_events:
 * ids in (lo, hi]. */
struct de_store_window {
	int64_t lo, hi;
};

/* Register DaemonEye's SQL functions on a connection to the store (the
 * views call them; every connection that reads those views needs them):
 * de_window_lo(), de_window_hi() read *w at call time (w must outlive the
 * connection; NULL: an empty window), de_now_ns() is the wall clock.
 * Usable as a de_sqlguard_policy.setup_db hook. Returns 0 or -ENOMEM. */
int de_store_register_functions(sqlite3 *db, void *w);

/* The last error SQLite reported on the store's connection. */
const char *de_store_errmsg(struct de_store *s);

#endif
