/* alertdb.h: alerts and their deliveries in the store (schema version 2,
 * store_schema.c): the one place that writes alert_t, outbox_t,
 * delivery_t and sink_t rows, for the outbox, the rule engine and the CLI.
 *
 * An alert row is written once (its id, a UUID, is the primary key and
 * the receivers' idempotency key: writing the same alert twice is a
 * no-op). outbox_t gives each alert a sequence number in commit order;
 * each sink delivers in that order. Functions here run inside whatever
 * transaction the caller holds; none opens or commits one except where
 * said.
 */
#ifndef DE_ALERTDB_H
#define DE_ALERTDB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "alertfmt.h"

enum de_delivery_state { DE_DLV_PENDING = 0, DE_DLV_DELIVERED = 1, DE_DLV_DEAD = 2 };

struct de_alertdb {
	sqlite3 *db;
	sqlite3_stmt *ins_alert, *ins_outbox, *ins_delivery, *has_alert;
};

/* Prepare the statements on db (a store connection at schema >= 2).
 * Returns 0 or a negative errno. */
int de_alertdb_init(struct de_alertdb *d, sqlite3 *db);
void de_alertdb_fini(struct de_alertdb *d);

/* Write the alert (alert_t, and its JSON rendering in outbox_t: the
 * view alert_full joins them) and give it a sequence number. Returns 1 and *seq when written, 0 when an alert
 * with that id already exists, or a negative errno. */
int de_alertdb_insert(struct de_alertdb *d, const struct de_alert *a, int64_t *seq);

/* Queue one delivery of alert seq/id to sink, with the payload rendered
 * for it (NULL: the sink sends the alert's stored JSON).
 * Returns 0 or a negative errno. */
int de_alertdb_queue(struct de_alertdb *d, const char *sink, int64_t seq, const char *alert_id,
		     const void *payload, size_t n, int64_t now_ns);

/* Put dead-lettered deliveries back in the queue (attempts reset, due at
 * once): one by its delivery id (> 0), or every one when id is 0 (of one
 * sink when sink is not NULL). Returns how many were requeued or a
 * negative errno. */
int64_t de_alertdb_retry(sqlite3 *db, int64_t id, const char *sink);

/* Mark an alert acknowledged (acked_ns = now unless already set).
 * Returns 1 when it exists, 0 when no such alert, or a negative errno. */
int de_alertdb_ack(sqlite3 *db, const char *alert_id, int64_t now_ns);

/* A negative errno for an SQLite result code. */
int de_alertdb_errno(int rc);

#endif
