/* outbox.h: durable, at-least-once alert delivery to every configured
 * sink.
 *
 * de_outbox_add() commits each alert and one delivery row per sink that
 * wants it (min_severity) to the store in one transaction, before anything
 * is sent: an alert the call accepted survives a kill -9 and is delivered
 * after the restart. Delivery state lives only in the store (alertdb.h),
 * so a backlog costs disk, not memory.
 *
 * Threads: one worker thread per sink, started by de_outbox_open() and
 * stopped by de_outbox_close(); each has its own store connection and
 * is the only sender on its sink (and blocks SIGPIPE, so a receiver that
 * hangs up is an EPIPE, not the end of the host). A sink that hangs or is down therefore
 * never delays another (sends are bounded by the sink's timeout_ms). The
 * host needs no fd and no tick: it calls de_outbox_add() (any one thread)
 * and, after changing delivery rows from elsewhere (`sinks retry`), the
 * workers notice within idle_poll_ms or at once on de_outbox_kick().
 *
 * Per sink, deliveries go in alert commit order. A failure worth retrying
 * keeps the sink on that alert (order kept) until it is delivered or has
 * failed max_attempts times, then it is dead-lettered and the next one
 * goes. Waits between attempts: exponential backoff from retry_base_ms,
 * doubled per attempt up to retry_max_ms, with full jitter in its upper
 * half ([d/2, d]). Circuit breaker: breaker_failures consecutive failures
 * open it for breaker_cooldown_ms; then one half-open attempt closes it
 * on success or re-opens it. A permanent failure (HTTP 4xx) dead-letters
 * at once with the reason and does not count against the breaker.
 * Receivers see each alert's id (the idempotency key) and may see an
 * alert twice after a crash between send and commit, never two ids for
 * one alert.
 */
#ifndef DE_OUTBOX_H
#define DE_OUTBOX_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alertfmt.h"
#include "sinkcfg.h"

struct de_outbox_opts {
	const char *store_path;           /* the store (created and migrated as needed) */
	const struct de_sinks_cfg *sinks; /* must outlive the outbox */
	bool durable;                     /* synchronous=FULL */
	uint32_t batch;                   /* deliveries per worker transaction (default 1024;
					   * at most 32 for network and exec sinks: the most
					   * a crash can make a receiver see twice) */
	uint32_t idle_poll_ms;            /* rescan period of an idle worker (default 1000) */
};

struct de_outbox;

/* Open the store, every sink, and start one worker per sink. A sink that
 * cannot be opened (bad CA file, missing program) fails the whole open
 * with its name and reason in why. Returns NULL with errno set. */
struct de_outbox *de_outbox_open(const struct de_outbox_opts *o, char *why, size_t why_len);

/* Commit n alerts and their deliveries in one transaction, then wake the
 * workers. Alerts whose id is already in the store are skipped. Returns
 * the number of alerts added, or a negative errno (nothing was added). */
int de_outbox_add(struct de_outbox *ob, const struct de_alert *const *alerts, size_t n);

/* For a host that writes alerts in its own transactions (the agent: the
 * rule engine's alerts commit with the engine's watermark): prepare the
 * outbox's statements on the host's connection db (which must outlive
 * the outbox, or be detached by attaching another). Returns 0 or a
 * negative errno. */
int de_outbox_attach(struct de_outbox *ob, sqlite3 *db);
/* Write one alert and its delivery rows on the attached connection, in
 * the transaction the host has open (no BEGIN/COMMIT here); after the
 * host commits, de_outbox_kick() wakes the workers. Returns 1 (written),
 * 0 (an alert with that id already exists) or a negative errno. */
int de_outbox_queue(struct de_outbox *ob, const struct de_alert *a);

/* Wake every worker (rows changed by another connection). */
void de_outbox_kick(struct de_outbox *ob);

/* Deliveries not yet delivered nor dead-lettered, over every sink.
 * Returns the count or a negative errno. */
int64_t de_outbox_pending(struct de_outbox *ob);

/* Stop the workers (a send in progress finishes, bounded by its timeout),
 * close the sinks and the store. Deliveries left pending stay in the
 * store for the next open. */
void de_outbox_close(struct de_outbox *ob);

/* ---- policy, pure (exposed for tests) ---------------------------------- */

/* Backoff before attempt `attempts` + 1, after `attempts` failures (>= 1):
 * d = min(retry_max_ms, retry_base_ms * 2^(attempts-1)), result in
 * [d/2, d] picked by rnd (any 32-bit value). In ms. */
uint64_t de_outbox_backoff_ms(const struct de_sink_cfg *c, uint32_t attempts, uint32_t rnd);

enum de_breaker_state { DE_BREAKER_CLOSED = 0, DE_BREAKER_OPEN, DE_BREAKER_HALF_OPEN };

struct de_breaker {
	enum de_breaker_state state;
	uint32_t failures;      /* consecutive */
	int64_t open_until_ns;
};

/* May a send go now? Moves OPEN to HALF_OPEN once the cooldown passed.
 * When not, *wait_ns says how long until it may. */
bool de_breaker_allow(struct de_breaker *b, int64_t now_ns, int64_t *wait_ns);
/* Record a send's outcome. Returns true when the state changed. */
bool de_breaker_record(struct de_breaker *b, const struct de_sink_cfg *c, bool ok, int64_t now_ns);
const char *de_breaker_name(enum de_breaker_state s);

/* Token bucket of rate_limit per second, burst deep. */
struct de_bucket {
	double tokens;
	int64_t last_ns;
};
/* 0 when a token was taken now, else how many ns to wait before asking
 * again (nothing taken). rate_limit 0: always 0. */
int64_t de_bucket_take(struct de_bucket *b, const struct de_sink_cfg *c, int64_t now_ns);

#endif
