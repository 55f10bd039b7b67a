/* agentdet.h: the agent's detection and alert delivery, in one place for
 * its loop: the rule engine (engine.h) over the store, the durable outbox
 * (outbox.h) delivering every alert to the configured sinks, and the
 * hand-off of each alert to procmond for the audit ledger.
 *
 * Rules: the built-in pack, /etc/daemoneye/rules.d, --rules-dir, and the
 * enable/disable overrides in STATE/rules.state (rulepack.h). Sinks: the
 * `alerting.sinks` of the configuration (--config FILE, else the XDG or
 * /etc file); with none configured, one built-in sink, `terminal`
 * (stdout: human with colour on a tty, JSON Lines otherwise), so that
 * `daemoneye run` shows alerts where it shows events.
 *
 * Exactly-once into the store: the engine's alerts are written through
 * the outbox on the agent's own store connection, inside the engine's
 * transaction with its watermark (de_outbox_queue), so an alert and its
 * delivery rows commit together or not at all; the outbox's sink workers
 * (one thread per sink, outbox.h) are woken after the commit. Then each
 * new alert's JSON goes to `ledger_fn` (the agent sends it to procmond as
 * a LedgerAppend when procmond offers the ledger).
 *
 * A rule set that does not load at start (a bad file in a rules
 * directory) leaves detection off, said loudly at start and in every
 * reload attempt; ingestion goes on.
 *
 * Audit checkpoints: procmond hands each new signed checkpoint of the
 * ledger to the agent, which publishes it through the sinks like an
 * alert (de_agentdet_checkpoint). Reload (SIGHUP) is atomic: a bad
 * file keeps the running rules.
 */
#ifndef DE_AGENTDET_H
#define DE_AGENTDET_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

/* A record for the ledger (type DE_LREC_ALERT: key = the alert id,
 * payload its JSON; DE_LREC_RULESET: key "rules", payload a JSON summary
 * of the rule set with the BLAKE3 of its content). Valid during the call. */
typedef void (*de_agentdet_ledger_fn)(uint32_t type, const char *key, const char *payload,
				      size_t len, void *ud);

struct de_agentdet_opts {
	const struct de_config *cfg;
	struct de_store *store;      /* the agent's store (alerts are written here) */
	const char *store_path;      /* its file (rule connection, outbox workers) */
	const char *state_dir;
	const char *config_file;     /* --config FILE or NULL (the sinks) */
	const char *rules_dir;       /* --rules-dir or NULL */
	de_agentdet_ledger_fn ledger_fn; /* may be NULL */
	void *ud;
};

struct de_agentdet;

/* Open the outbox (sinks) and the engine. Sink configuration errors are
 * fatal (-EINVAL, why says FILE:LINE:COL); rules that do not load are not
 * (detection off, logged). Returns 0 and *out or a negative errno. */
int de_agentdet_open(const struct de_agentdet_opts *o, struct de_agentdet **out, char *why,
		     size_t why_len);
void de_agentdet_close(struct de_agentdet *d);

/* The store committed events up to last_event_id: evaluate, deliver.
 * Returns the number of new alerts or a negative errno (logged). */
int de_agentdet_on_commit(struct de_agentdet *d, int64_t last_event_id);
/* Milliseconds until a scheduled rule is due (-1: none), for the loop. */
int de_agentdet_timeout_ms(const struct de_agentdet *d);
/* Run what is due now. Returns new alerts or a negative errno. */
int de_agentdet_tick(struct de_agentdet *d);
/* Reload the rules (SIGHUP). Logs the outcome; returns the number of
 * rules or a negative errno (the running rules stay). */
int de_agentdet_reload(struct de_agentdet *d);

/* Hand the running rule set to ledger_fn (a RULESET record): the agent
 * calls it when procmond's ledger becomes reachable and after every
 * reload, so the ledger says which rules were running when. */
void de_agentdet_announce(struct de_agentdet *d);

/* procmond's latest signed audit checkpoint (its note text): queued as
 * an alert of rule DE-AUDIT-CHECKPOINT for every sink that publishes
 * checkpoints (sinkcfg.h `checkpoints`), so a copy leaves the host. The
 * alert id derives from the note, so the same checkpoint sent again (on
 * every reconnect) is queued once. Committed at once when the agent has
 * no transaction open, else with the agent's next commit (a failed
 * commit loses it; the next checkpoint, at most checkpoint_ms later,
 * covers everything it did). Returns 1 queued, 0 already queued, or a
 * negative errno (logged). */
int de_agentdet_checkpoint(struct de_agentdet *d, const char *note);

/* For status output: rules running (0 when detection is off), alerts
 * raised since start, deliveries pending over every sink. */
struct de_agentdet_stats {
	size_t rules;
	uint64_t alerts;
	int64_t pending;
};
void de_agentdet_stats(struct de_agentdet *d, struct de_agentdet_stats *st);

#endif
