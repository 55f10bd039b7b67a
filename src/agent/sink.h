/* sink.h: alert destinations (stdout, file, syslog, webhook, exec).
 *
 * A sink does two things: render an alert into the bytes it will send
 * (called when the alert is queued, from any thread: it reads only the
 * configuration), and send those bytes (called by the sink's one delivery
 * worker, never concurrently). Sends block for at most the sink's
 * timeout_ms; the outbox gives every sink its own worker so a slow sink
 * never holds up another (outbox.h).
 *
 * A send either succeeds, fails in a way worth retrying (connection
 * refused, timeout, HTTP 5xx, exec exit status != 0), or fails for good
 * (HTTP 4xx other than 408/429: the payload is dead-lettered at once with
 * the reason). Sends that buffer (file) take effect at flush(); the
 * outbox flushes before it records anything as delivered.
 *
 * Writes to a peer that went away fail with EPIPE: callers must block or
 * ignore SIGPIPE in the sending thread (the outbox's workers block it).
 *
 * Secrets: the webhook's bearer token is read once at open into libsodium
 * guarded memory (no access except while a request is being built) and
 * never logged; the Authorization header exists in ordinary memory only
 * for the duration of one request and is wiped after it.
 */
#ifndef DE_SINK_H
#define DE_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "alertfmt.h"
#include "buf.h"
#include "sinkcfg.h"

#define DE_SINK_WHY_MAX 256

struct de_sink_result {
	bool permanent;              /* do not retry: dead-letter now */
	char why[DE_SINK_WHY_MAX];   /* reason of a failure (escaped, printable) */
};

struct de_sink;

struct de_sink_ops {
	/* Prepare what sending needs (open files, read secrets, set up TLS
	 * contexts); connections may be made lazily at the first send. */
	int (*open)(struct de_sink *s, char *why, size_t why_len);
	void (*render)(const struct de_sink *s, const struct de_alert *a, struct de_buf *out);
	/* Send one payload; id: the alert id (idempotency key). Returns 0 or
	 * a negative errno with r filled. */
	int (*send)(struct de_sink *s, const char *id, const char *p, size_t n,
		    struct de_sink_result *r);
	/* Make earlier sends durable per the sink's policy. Returns 0 or a
	 * negative errno with r filled (every send since the last flush then
	 * counts as failed). May be NULL. */
	int (*flush)(struct de_sink *s, struct de_sink_result *r);
	void (*close)(struct de_sink *s);
};

struct de_sink {
	const struct de_sink_cfg *cfg;  /* not owned; outlives the sink */
	const struct de_sink_ops *ops;
	bool human;                     /* stdout: one line for a person (a tty) */
	bool color;                     /* stdout: human form with colour */
	bool plain_json;                /* render() is exactly de_alert_json(): the outbox
					 * then stores no payload of its own for this sink
					 * and sends the alert's stored JSON */
	void *priv;
};

/* Create the sink for cfg and open it. Returns NULL with errno set and
 * the reason in why. */
struct de_sink *de_sink_open(const struct de_sink_cfg *cfg, char *why, size_t why_len);
void de_sink_close(struct de_sink *s);

/* A sample alert for `sinks test` and benchmarks: rule "daemoneye-test",
 * severity `sev`, this process as the matched process. strings point into
 * storage: keep it alive while a is used. Returns 0 or a negative errno. */
struct de_alert_storage {
	char host[256], exe[4096], comm[32], user[64], eid[40];
	char argv[256];
};
int de_alert_sample(struct de_alert *a, struct de_alert_storage *st, enum de_severity sev);

/* Format a result's reason (printf-style, untrusted parts must already be
 * escaped). */
void de_sink_fail(struct de_sink_result *r, bool permanent, const char *fmt, ...) DE_PRINTF(3, 4);

/* The sink types in other files. */
extern const struct de_sink_ops de_sink_syslog_ops;
extern const struct de_sink_ops de_sink_webhook_ops;

#endif
