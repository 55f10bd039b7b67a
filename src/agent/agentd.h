/* agentd.h: the unprivileged agent daemon (`daemoneye agent`).
 *
 * Never privileged: refuses to start as root unless allow_root is set.
 * It connects to procmond (STATE/ipc/procmond.sock; the server's uid must
 * be root or its own), says Hello, and ingests every EventBatch:
 *   - events whose seq it already has are skipped (procmond resends what
 *     was not acknowledged after a reconnect: at-least-once delivery); a
 *     new procmond process (another peer pid) starts a new seq space;
 *   - each event goes into its own live process table (proctable.h, the
 *     same module procmond's side uses; snapshot batches run as a resync:
 *     begin at the first snapshot event, end at the DE_ST_RESYNC report)
 *     and into the store (STATE/store.db); a transaction stays open up to
 *     25 ms or 4,096 events (group commit), and is committed before a
 *     disconnect and at stop;
 *   - after the commit: the rule engine evaluates the new events
 *     (agentdet.h: alerts committed with their deliveries, the outbox's
 *     sink workers woken, each alert handed to procmond for the audit
 *     ledger when procmond offers DE_IPC_CAP_LEDGER), then an Ack with the
 *     batch's last seq, so procmond releases it only once stored.
 * When procmond is away it reconnects with exponential backoff (100 ms to
 * 5 s) and +-25% jitter.
 *
 * It also serves the CLI socket STATE/ipc/agent.sock (same framing and
 * SO_PEERCRED check: root or its own uid): a StatusRequest gets a Status
 * with procmond's component (asked of procmond, 1 s timeout) and its own;
 * a client whose Hello asks for DE_IPC_CAP_EVENTS receives every batch the
 * agent stores (`daemoneye events`, `daemoneye run`); a client too slow to
 * keep up gets a DE_ST_DROPS status event saying how many it missed.
 *
 * One epoll loop (signalfd: SIGINT/SIGTERM stop, SIGHUP reloads the
 * rules; scheduled rules run from its timeout); the outbox's sink workers
 * are the only other threads. Writes STATE/agent.pid while it runs.
 */
#ifndef DE_AGENTD_H
#define DE_AGENTD_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct de_agent_opts {
	const struct de_config *cfg;
	const char *state_dir;  /* resolved (statedir.h) */
	bool allow_root;        /* run even as root (refused otherwise) */
	uint32_t max_exited;    /* exited records kept for ancestry; 0: 8192 */
	const char *config_file; /* --config FILE (alert sinks), or NULL */
	const char *rules_dir;  /* --rules-dir, or NULL */
};

/* Run the agent until SIGINT/SIGTERM. Logs its own errors. Returns 0 on a
 * clean stop or a negative errno. */
int de_agent_main(const struct de_agent_opts *o);

#endif
