/* procmond.h: the privileged collector daemon (`daemoneye procmond`).
 *
 * Startup, in this order (docs/SECURITY.md): as root, prepare the state
 * directory, open the collector (collector.h: eBPF first, then netlink,
 * then /proc polling), bind the IPC socket STATE/ipc/procmond.sock (0750
 * directory, 0660 socket, group daemoneye), open the spill directory and
 * write STATE/procmond.pid; then drop to the daemoneye user keeping
 * CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (privdrop.h) and install the
 * seccomp allow-list (sandbox.h). Only then does anything untrusted get
 * parsed: the startup snapshot, events, and frames from peers.
 *
 * Threads: the collector runner runs in a thread of its own (it owns the
 * event source and its epoll loop); its sink deep-copies each event
 * (evcopy.h) into a queue bounded by bytes and wakes the IPC loop through
 * an eventfd. The IPC loop (the calling thread) numbers events (`seq`,
 * consecutive per procmond run), encodes them into EventBatch frames and
 * keeps every frame until the agent acknowledges it:
 *   memory (bounded: `mem_cap` bytes of unacknowledged frames)
 *     -> when full or no agent: the spill (spill.h, bounded on disk)
 *     -> when the spill is full too: the frame is dropped, counted per
 *        event type, and reported in a DE_ST_DROPS status event and the
 *        next batch's `spilled` count; a resync snapshot follows.
 * Frames leave in order: memory, then spill, then new ones. A frame is
 * released when the agent's Ack covers its last seq; on a reconnect every
 * unacknowledged frame is sent again (delivery is at least once: the
 * agent skips seqs it already has), then the spill, then a fresh snapshot
 * (de_collector_request_resync) so a restarted agent misses no process.
 * One agent at a time (peer uid: root or the daemon user); a second
 * connection is refused. The agent may ask for status (StatusRequest):
 * the answer describes procmond (source, events/s, drops, queue depth,
 * uptime, CPU, RSS, uid, capabilities).
 *
 * Stops on SIGINT/SIGTERM; when started by `daemoneye run` it keeps its
 * parent-death signal across the drop, so it never outlives the supervisor.
 */
#ifndef DE_PROCMOND_H
#define DE_PROCMOND_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct de_procmond_opts {
	const struct de_config *cfg;
	const char *state_dir;      /* resolved (statedir.h) */
	const char *user;           /* NULL: "daemoneye" (falls back to "nobody") */
	uint64_t spill_cap;         /* bytes; 0: DE_SPILL_CAP_DEFAULT */
	size_t mem_cap;             /* bytes of unacknowledged frames in memory; 0: 16 MiB */
	size_t queue_cap;           /* bytes of events between the threads; 0: 64 MiB */
};

/* Run procmond until SIGINT/SIGTERM or a fatal error. Logs its own errors.
 * Returns 0 on a clean stop, or a negative errno. */
int de_procmond_main(const struct de_procmond_opts *o);

/* The directories of a state directory as the daemons need them: STATE,
 * STATE/ipc and STATE/spill created when missing; when called as root,
 * STATE and STATE/spill belong to uid:gid (the daemon user) and the IPC
 * directory is left to the socket owner (ipcsock.h). Mode 0750. Shared with
 * `daemoneye run`. Returns 0 or a negative errno (with the path in why). */
int de_procmond_prepare_state(const char *state_dir, uid_t uid, gid_t gid, char *why,
			      size_t why_len);

#endif
