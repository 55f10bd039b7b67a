/* ipcsock.h: the Unix sockets of DaemonEye's IPC (docs/IPC.md, "Peers").
 *
 * The listening socket lives in a directory of its own, created 0750
 * (owner: the daemon; group `daemoneye` when that group exists), and is
 * itself 0660: the file modes keep other users from connecting at all, and
 * every accepted connection is checked again with SO_PEERCRED against an
 * allow-list of uids (root and the agent's uid). A client checks the
 * server's credentials the same way, so a socket planted by someone else
 * is never trusted.
 *
 * Everything is non-blocking and made for an epoll loop: de_ipc_accept()
 * and de_ipc_read_frames() return when the socket would block; the
 * outgoing queue (struct de_ipc_outq) holds whole frames up to a byte cap
 * and refuses more with -ENOBUFS (back-pressure the caller must handle:
 * spill, drop and count, or stop reading its source), never growing
 * without bound. Trade-off: the queue is one contiguous buffer (compacted
 * before each push), simple and cache-friendly, but its allocation can
 * reach twice the cap.
 */
#ifndef DE_IPCSOCK_H
#define DE_IPCSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arena.h"
#include "buf.h"
#include "ipcframe.h"
#include "ipcmsg.h"

#define DE_IPC_DIR_MODE 0750
#define DE_IPC_SOCK_MODE 0660
#define DE_IPC_GROUP "daemoneye"

struct de_ipc_listen_opts {
	const char *dir;    /* created (0750) when missing; must not be a symlink */
	const char *name;   /* socket file name inside dir */
	const char *group;  /* group of dir and socket; NULL: DE_IPC_GROUP; ignored if unknown */
	int backlog;        /* 0: 64 */
};

/* Create the directory and a listening socket in it (non-blocking,
 * close-on-exec). A stale socket file of the same name is replaced; any
 * other file there is an error (-EEXIST). An existing directory must be a
 * real directory owned by the caller's effective uid or root (-EPERM
 * otherwise); its mode is reset to 0750. Returns the fd or a negative
 * errno. */
int de_ipc_listen(const struct de_ipc_listen_opts *o);

struct de_ipc_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

/* The group a daemon gives its socket: DE_IPC_GROUP when that group
 * exists, else the name of `gid` (the daemon user's own group, so the
 * peer daemon running as that user can connect). Writes into buf;
 * returns buf, or NULL when neither exists (de_ipc_listen then keeps the
 * caller's group). */
const char *de_ipc_group_name(gid_t gid, char *buf, size_t n);

/* SO_PEERCRED of a connected Unix socket, checked against allow[]
 * (n_allow == 0 allows nobody). Returns 0, -EPERM (peer is still filled)
 * or the getsockopt error. */
int de_ipc_peer_check(int fd, const uid_t *allow, size_t n_allow, struct de_ipc_peer *peer);

/* Accept one connection (non-blocking, close-on-exec) and check its peer.
 * Returns the fd, -EAGAIN when none is pending, -EPERM when the peer's uid
 * is not allowed (the connection is closed; *peer says who it was), or
 * another negative errno. */
int de_ipc_accept(int lfd, const uid_t *allow, size_t n_allow, struct de_ipc_peer *peer);

/* Connect to a socket path, waiting at most timeout_ms for a full accept
 * backlog (-ETIMEDOUT). The returned fd is non-blocking, close-on-exec. */
int de_ipc_connect(const char *path, int timeout_ms);

/* Called for each complete frame; returns 0 to continue or a negative
 * errno to stop reading (returned by de_ipc_read_frames). */
typedef int (*de_ipc_frame_fn)(const uint8_t *payload, size_t len, void *ud);

/* Read from a non-blocking socket until it would block, handing every
 * complete frame to fn. Returns 0 (would block: wait for EPOLLIN), 2 when
 * DE_IPC_READ_BUDGET bytes were read and more may be waiting (so one busy
 * peer cannot starve the others: with level-triggered epoll just go back
 * to the loop), 1 at an orderly EOF on a frame boundary, -ECONNRESET at an
 * EOF mid-frame, the reader's error (-EBADMSG, -EPROTONOSUPPORT,
 * -EMSGSIZE: close the connection), fn's error, or a read error. */
#define DE_IPC_READ_BUDGET (1024u * 1024u)
int de_ipc_read_frames(int fd, struct de_ipc_reader *r, de_ipc_frame_fn fn, void *ud);

/* Outgoing frames of one connection, at most `cap` bytes pending. */
struct de_ipc_outq {
	struct de_buf buf;
	size_t off;         /* bytes of buf already sent */
	size_t cap;
	uint64_t refused;   /* pushes refused for the cap */
};

void de_ipc_outq_init(struct de_ipc_outq *q, size_t cap);
void de_ipc_outq_free(struct de_ipc_outq *q);
size_t de_ipc_outq_pending(const struct de_ipc_outq *q);

/* Queue a whole frame. -ENOBUFS (nothing queued, q->refused counted) when
 * it does not fit under the cap. */
int de_ipc_outq_push(struct de_ipc_outq *q, const void *frame, size_t n);

/* Encode m straight into the queue (no copy). -ENOBUFS as above when the
 * frame does not fit under the cap but would fit the frame limit;
 * otherwise the errors of de_ipc_encode. Returns the frame's length. */
int64_t de_ipc_outq_push_msg(struct de_ipc_outq *q, const struct de_ipc_msg *m,
			     const struct de_ipc_limits *lim, struct de_arena *scratch);

/* Send what is pending without blocking. Returns 1 when the queue is
 * empty, 0 when bytes remain (wait for EPOLLOUT), or a negative errno
 * (-EPIPE, -ECONNRESET: the peer is gone). Never raises SIGPIPE. */
int de_ipc_outq_flush(struct de_ipc_outq *q, int fd);

#endif
