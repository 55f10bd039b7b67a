/* ipcsock.c: Unix sockets, peer checks and the outgoing queue (ipcsock.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "ipcsock.h"
#include "macros.h"

#define READ_CHUNK (32u * 1024u)

/* gid of a group name, or -ENOENT when there is no such group. */
static int64_t group_gid(const char *name)
{
	struct group gr, *res = NULL;
	char buf[4096];
	int rc = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
	if (rc)
		return -rc;
	if (!res)
		return -ENOENT;
	return res->gr_gid;
}

/* The socket directory: created or checked, then 0750 and the group. */
static int prepare_dir(const char *dir, int64_t gid)
{
	if (mkdir(dir, DE_IPC_DIR_MODE) < 0 && errno != EEXIST)
		return de_neg_errno();
	struct stat lst;
	if (lstat(dir, &lst) < 0)
		return de_neg_errno();
	if (S_ISLNK(lst.st_mode))
		return -EPERM; /* never follow a symlink planted in our place */
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -EPERM : de_neg_errno();
	struct stat st;
	if (fstat(fd, &st) < 0)
		return de_neg_errno();
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return -EPERM;
	if (gid >= 0 && st.st_gid != (gid_t)gid && fchown(fd, (uid_t)-1, (gid_t)gid) < 0)
		return de_neg_errno();
	if (fchmod(fd, DE_IPC_DIR_MODE) < 0)
		return de_neg_errno();
	return 0;
}

static int sock_path(const char *dir, const char *name, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

int de_ipc_listen(const struct de_ipc_listen_opts *o)
{
	struct sockaddr_un sa;
	if (!o->name[0] || strchr(o->name, '/'))
		return -EINVAL;
	int rc = sock_path(o->dir, o->name, &sa);
	if (rc < 0)
		return rc;
	int64_t gid = group_gid(o->group ? o->group : DE_IPC_GROUP);
	rc = prepare_dir(o->dir, gid);
	if (rc < 0)
		return rc;

	struct stat st;
	if (lstat(sa.sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		if (unlink(sa.sun_path) < 0)
			return de_neg_errno();
	} else if (errno != ENOENT) {
		return de_neg_errno();
	}

	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return de_neg_errno();
	/* On Linux the socket file takes the socket inode's mode (minus the
	 * umask) at bind: set it first so the file is never more open. */
	if (fchmod(fd, DE_IPC_SOCK_MODE) < 0)
		return de_neg_errno();
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return de_neg_errno();
	if (chmod(sa.sun_path, DE_IPC_SOCK_MODE) < 0 ||
	    (gid >= 0 && lchown(sa.sun_path, (uid_t)-1, (gid_t)gid) < 0)) {
		rc = de_neg_errno();
		unlink(sa.sun_path);
		return rc;
	}
	if (listen(fd, o->backlog > 0 ? o->backlog : 64) < 0) {
		rc = de_neg_errno();
		unlink(sa.sun_path);
		return rc;
	}
	return TAKE_FD(fd);
}

const char *de_ipc_group_name(gid_t gid, char *buf, size_t n)
{
	if (group_gid(DE_IPC_GROUP) >= 0) {
		snprintf(buf, n, "%s", DE_IPC_GROUP);
		return buf;
	}
	struct group gr, *res = NULL;
	char tmp[4096];
	if (getgrgid_r(gid, &gr, tmp, sizeof(tmp), &res) != 0 || !res)
		return NULL;
	snprintf(buf, n, "%s", res->gr_name);
	return buf;
}

int de_ipc_peer_check(int fd, const uid_t *allow, size_t n_allow, struct de_ipc_peer *peer)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return de_neg_errno();
	if (peer)
		*peer = (struct de_ipc_peer){ .pid = uc.pid, .uid = uc.uid, .gid = uc.gid };
	for (size_t i = 0; i < n_allow; i++)
		if (allow[i] == uc.uid)
			return 0;
	return -EPERM;
}

int de_ipc_accept(int lfd, const uid_t *allow, size_t n_allow, struct de_ipc_peer *peer)
{
	_cleanup_close_ int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : de_neg_errno();
	int rc = de_ipc_peer_check(fd, allow, n_allow, peer);
	if (rc < 0)
		return rc;
	return TAKE_FD(fd);
}

int de_ipc_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return de_neg_errno();
	/* A blocking AF_UNIX connect waits for room in the backlog up to the
	 * send timeout; then the socket turns non-blocking for the loop. */
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	if (timeout_ms > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return de_neg_errno();
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : de_neg_errno();
	struct timeval zero = { 0 };
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero)) < 0)
		return de_neg_errno();
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return de_neg_errno();
	return TAKE_FD(fd);
}

int de_ipc_read_frames(int fd, struct de_ipc_reader *r, de_ipc_frame_fn fn, void *ud)
{
	uint8_t chunk[READ_CHUNK];
	for (size_t total = 0;; ) {
		if (total >= DE_IPC_READ_BUDGET)
			return 2;
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return de_neg_errno();
		}
		if (n == 0)
			return de_ipc_reader_pending(r) ? -ECONNRESET : 1;
		total += (size_t)n;
		size_t off = 0;
		while (off < (size_t)n) {
			size_t used;
			int rc = de_ipc_reader_feed(r, chunk + off, (size_t)n - off, &used);
			off += used;
			if (rc < 0)
				return rc;
			if (rc == 1) {
				const uint8_t *p;
				size_t len;
				de_ipc_reader_frame(r, &p, &len, NULL);
				rc = fn(p, len, ud);
				if (rc < 0)
					return rc;
			}
		}
	}
}

void de_ipc_outq_init(struct de_ipc_outq *q, size_t cap)
{
	*q = (struct de_ipc_outq){ .buf = DE_BUF_INIT, .cap = cap };
}

void de_ipc_outq_free(struct de_ipc_outq *q)
{
	de_buf_free(&q->buf);
	q->off = 0;
}

size_t de_ipc_outq_pending(const struct de_ipc_outq *q) { return q->buf.len - q->off; }

/* Move the unsent bytes to the front so the buffer never outgrows the cap. */
static void compact(struct de_ipc_outq *q)
{
	if (!q->off)
		return;
	size_t left = de_ipc_outq_pending(q);
	if (left)
		memmove(q->buf.data, q->buf.data + q->off, left);
	q->buf.len = left;
	q->buf.data[left] = '\0';
	q->off = 0;
}

int de_ipc_outq_push(struct de_ipc_outq *q, const void *frame, size_t n)
{
	if (n > q->cap - DE_MIN(de_ipc_outq_pending(q), q->cap)) {
		q->refused++;
		return -ENOBUFS;
	}
	compact(q);
	return de_buf_append(&q->buf, frame, n);
}

int64_t de_ipc_outq_push_msg(struct de_ipc_outq *q, const struct de_ipc_msg *m,
			     const struct de_ipc_limits *lim, struct de_arena *scratch)
{
	uint32_t frame_max = lim && lim->frame_max ? lim->frame_max : DE_IPC_FRAME_MAX_DEFAULT;
	size_t room = q->cap - DE_MIN(de_ipc_outq_pending(q), q->cap);
	if (room <= DE_IPC_HDR_LEN) {
		q->refused++;
		return -ENOBUFS;
	}
	/* encode with the room left as the limit: nothing is written when it
	 * does not fit, then tell "queue full" from "too big for any frame" */
	struct de_ipc_limits l = { .frame_max = (uint32_t)DE_MIN((size_t)frame_max,
								  room - DE_IPC_HDR_LEN),
				   .argv_max = lim ? lim->argv_max : 0 };
	compact(q);
	int64_t rc = de_ipc_encode(m, &l, scratch, &q->buf);
	if (rc == -EMSGSIZE && l.frame_max < frame_max) {
		int64_t len = de_ipc_encoded_len(m, lim, scratch);
		if (len >= 0 && len <= (int64_t)frame_max + DE_IPC_HDR_LEN) {
			q->refused++;
			return -ENOBUFS;
		}
	}
	return rc;
}

int de_ipc_outq_flush(struct de_ipc_outq *q, int fd)
{
	while (de_ipc_outq_pending(q)) {
		ssize_t n = send(fd, q->buf.data + q->off, de_ipc_outq_pending(q),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return de_neg_errno();
		}
		q->off += (size_t)n;
	}
	q->off = 0;
	q->buf.len = 0;
	return 1;
}
