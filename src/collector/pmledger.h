/* pmledger.h: procmond's audit ledger (ledger.h, docs/LEDGER.md "Wiring
 * into procmond"): what procmond records and when.
 *
 * Opened as root before the privilege drop: the signing key is loaded (or
 * generated) from STATE/keys and kept in guarded memory, the ledger in
 * STATE/ledger is opened with its files given to the daemon user so the
 * loop can keep appending after the drop. Recorded: START (pid, version),
 * CONFIG (BLAKE3 of the effective configuration as `config show` prints
 * it), PRIVDROP (user, capabilities kept, seccomp), SOURCE (each
 * DE_ST_STARTED / DE_ST_DEGRADED status of the collector, with its
 * fallback reasons), every exec, fork and exit event, DROPS (the
 * collector's and procmond's own), the agent's alerts and rule sets, STOP.
 *
 * Every checkpoint note (at open, every 60 s or 100000 records, at close)
 * is kept (de_pmledger_note) for procmond to hand to the agent, which
 * publishes it through the alert sinks so a copy leaves the host.
 *
 * Trade-offs: a ledger that cannot be opened (damage inside a checkpoint:
 * EUCLEAN, another writer, no key) does not stop monitoring: procmond logs
 * it as an error and runs without a ledger (de_pmledger_state says so).
 * An append or tick error is sticky in the ledger: logged once, the ledger
 * is released and reopened every 10 s (as the daemon user; reopening
 * repairs the torn tail and records it); meanwhile nothing is recorded and
 * status says "stopped after an error". The agent's ledger capability is
 * decided at its Hello: an agent that connected during such a gap sends
 * no alerts to the ledger until it reconnects.
 * Appends only copy into memory; the ledger's commit thread does the group
 * fdatasync. Checkpoints (every 60 s or 100000 records) sync the node store
 * and sign on the loop's thread, a few ms of delay for queued events (the
 * collector thread keeps queueing meanwhile). No threads of its own beyond
 * the ledger's commit thread (created before the drop: the uid change and
 * the seccomp filter (TSYNC) reach it too, and its capabilities are
 * cleared by the uid change since it does not keep them).
 */
#ifndef DE_PMLEDGER_H
#define DE_PMLEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "event.h"
#include "ipcmsg.h"
#include "ledger.h"
#include "privdrop.h"

struct de_pmledger {
	struct de_ledger_key *key;
	struct de_ledger *l;  /* NULL: running without a ledger */
	int err;              /* first append/tick error (sticky, logged once), or 0 */
	int open_err;         /* why there is no ledger (negative errno), or 0 */
	char why[256];        /* why there is no ledger (open failure) */
	uint64_t appended;    /* records appended by procmond since open */
	char state_dir[4096]; /* for reopening */
	int64_t retry_ns;     /* after a sticky error: when to reopen (CLOCK_MONOTONIC) */
	uint64_t last_records, last_checkpoint; /* as of the error */
	const struct de_config *cfg; /* until recorded by de_pmledger_privdrop */
	/* The latest signed checkpoint note (for the agent to publish through
	 * the alert sinks), and a count of notes seen: a new value means a new
	 * note to send. */
	char note[DE_IPC_NOTE_MAX + 1];
	uint64_t note_gen;
};

/* As root, before the drop: load or create the key in STATE/keys, open the
 * ledger (owned by `owner` afterwards). `cfg` (borrowed until
 * de_pmledger_privdrop) is recorded with the start. Never fails: without a
 * ledger it logs the reason as an error and returns -errno (the daemon
 * goes on); 0 when open. Nothing else is appended before the drop: the
 * node store would create its files as root, and a reopen after an error
 * (as the daemon user) could not open them. */
int de_pmledger_open(struct de_pmledger *pl, const char *state_dir, uid_t owner,
		     const struct de_config *cfg);

/* Is there a ledger to write to (open and no sticky error)? */
bool de_pmledger_active(const struct de_pmledger *pl);

/* After the drop and the sandbox (or their failure): START (pid, version),
 * CONFIG, then PRIVDROP: r is the result of the drop and sandbox (0 or a
 * negative errno); who describes the ids and capabilities now in effect. */
void de_pmledger_privdrop(struct de_pmledger *pl, int r, const struct de_privdrop_result *who,
			  const char *why);

/* One event procmond delivers: exec/fork/exit are recorded as events,
 * status STARTED/DEGRADED as SOURCE, DROPS as DROPS; others are ignored. */
void de_pmledger_event(struct de_pmledger *pl, const struct de_event *ev);

/* procmond's own losses (agent away and spill full): a DROPS record. */
void de_pmledger_drops(struct de_pmledger *pl, const char *source, uint64_t count,
		       const char *detail);

/* A LedgerAppend from the agent: only DE_LREC_ALERT (payload: the
 * alert's JSON, key: its id) and DE_LREC_RULESET (key: the rule set's
 * name, payload: its content; BLAKE3 recorded). Returns 0, -EPERM for any
 * other type, -ENODEV without a ledger, or the ledger's error. */
int de_pmledger_agent_append(struct de_pmledger *pl, const struct de_ipc_ledger_append *a);

/* A poll timeout in ms for the loop (-1: nothing due) and the work due. */
int de_pmledger_timeout_ms(const struct de_pmledger *pl);
void de_pmledger_tick(struct de_pmledger *pl);

/* STOP (with detail), close (final checkpoint), free the key. Safe when
 * nothing was opened. */
void de_pmledger_close(struct de_pmledger *pl, const char *detail);

/* The latest checkpoint note ("" before the first) and its generation
 * (changes with every new checkpoint). */
const char *de_pmledger_note(const struct de_pmledger *pl, uint64_t *gen);

/* Fill the ledger fields of procmond's status component (ipcmsg.h). */
void de_pmledger_status(const struct de_pmledger *pl, struct de_ipc_component *c);

#endif
