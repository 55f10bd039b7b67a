/* statedir.h: where a running DaemonEye keeps its state, and the names
 * inside it.
 *
 * One directory per instance: `--state-dir DIR` (every subcommand takes
 * it, see cli.h), else $DAEMONEYE_STATE_DIR, else /var/lib/daemoneye when
 * running as root, else $XDG_STATE_HOME/daemoneye (default
 * ~/.local/state/daemoneye). Every role and every client derives its
 * paths from the same directory through de_state_path(), so a client
 * finds the daemons of the instance it was pointed at.
 *
 * Layout (owners and modes in docs/SECURITY.md):
 *   store.db            the agent's event store (SQLite, WAL)
 *   ipc/                0750, group daemoneye: the sockets
 *   ipc/procmond.sock   procmond -> agent events
 *   ipc/agent.sock      the agent's CLI socket (status, events, queries)
 *   ledger/             the audit ledger, written by procmond only
 *   keys/               the ledger's signing key (root, 0700)
 *   spill/              procmond's bounded on-disk buffer
 *   rules.state         rule enable/disable overrides (`daemoneye rules enable|disable`)
 *   procmond.pid        procmond's pid while it runs (pidfile.h)
 *   agent.pid           the agent's pid while it runs (`rules reload` signals it)
 */
#ifndef DE_STATEDIR_H
#define DE_STATEDIR_H

#include <stddef.h>

enum de_state_item {
	DE_STATE_ROOT = 0,
	DE_STATE_STORE,
	DE_STATE_IPC_DIR,
	DE_STATE_PROCMOND_SOCK,
	DE_STATE_AGENT_SOCK,
	DE_STATE_LEDGER_DIR,
	DE_STATE_KEYS_DIR,
	DE_STATE_SPILL_DIR,
	DE_STATE_RULES_STATE,
	DE_STATE_PROCMOND_PID,
	DE_STATE_AGENT_PID,
};

/* The state directory: flag when not NULL, else the environment and
 * defaults above. Writes an absolute or as-given path into out. Returns
 * 0, -ENAMETOOLONG, or -ENOENT when no default can be formed (not root
 * and neither XDG_STATE_HOME nor HOME set). */
int de_state_dir(const char *flag, char *out, size_t n);

/* dir/NAME of one item (dir itself for DE_STATE_ROOT). Returns 0 or
 * -ENAMETOOLONG / -EINVAL. */
int de_state_path(const char *dir, enum de_state_item item, char *out, size_t n);

#endif
