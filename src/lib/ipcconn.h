/* ipcconn.h: one IPC connection: its socket, frame reader, capped
 * outgoing queue and the arenas to decode and encode with.
 *
 * procmond (its agent connection), the agent (its procmond connection and
 * CLI clients) and the CLI (status, events) all hold the same four things
 * per connection; this bundles them so every role opens, sends and closes
 * a connection the same way (ipcsock.h does the socket work). Receiving
 * stays with the caller: de_ipc_read_frames() with the caller's frame
 * callback, then de_ipc_conn_decode() in it. Not thread-safe.
 */
#ifndef DE_IPCCONN_H
#define DE_IPCCONN_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "ipcsock.h"

struct de_ipc_conn {
	int fd;                     /* -1: closed */
	struct de_ipc_reader *rd;
	struct de_ipc_outq q;
	struct de_arena *arena;     /* decoded messages; reset per frame */
	struct de_arena *scratch;   /* encoder temporaries; reset per message */
	struct de_ipc_peer peer;
};

/* Take ownership of fd (connected, non-blocking). outq_cap bounds the
 * bytes queued for sending. Returns 0 or -ENOMEM (fd is then closed). */
int de_ipc_conn_open(struct de_ipc_conn *c, int fd, size_t outq_cap);
/* Close the socket and free everything; safe on a closed connection. */
void de_ipc_conn_close(struct de_ipc_conn *c);
static inline bool de_ipc_conn_is_open(const struct de_ipc_conn *c) { return c->fd >= 0; }

/* Queue m and try to send what is queued. Returns 1 when everything was
 * sent, 0 when bytes remain (wait for EPOLLOUT, then de_ipc_conn_flush),
 * -ENOBUFS when m does not fit the queue (nothing queued), or another
 * negative errno (the peer is gone, or m cannot be encoded). */
int de_ipc_conn_send(struct de_ipc_conn *c, const struct de_ipc_msg *m);
/* Queue a whole encoded frame (header included) and try to send. */
int de_ipc_conn_send_frame(struct de_ipc_conn *c, const void *frame, size_t n);
int de_ipc_conn_flush(struct de_ipc_conn *c);

/* Decode one frame's payload (from the read callback) into *m, in the
 * connection's arena (reset first). Errors as de_ipc_decode. */
int de_ipc_conn_decode(struct de_ipc_conn *c, const uint8_t *payload, size_t len,
		       struct de_ipc_msg *m);

/* Send an Error message (positive errno, one line), best effort, before
 * the caller closes. */
void de_ipc_conn_send_error(struct de_ipc_conn *c, int err, const char *message);

#endif
