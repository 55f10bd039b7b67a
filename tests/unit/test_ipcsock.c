/* test_ipcsock.c: the IPC sockets: directory and socket modes, the
 * SO_PEERCRED allow-list against a real peer of another uid, connect
 * timeout, frames over a socket, and the outgoing queue's cap. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipcsock.h"
#include "ipc_sample.h"

#define NOBODY 65534

struct fixture {
	char base[64];
	char dir[96];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->base, "/tmp/de-test-ipcsock-XXXXXX");
	if (!mkdtemp(f->base))
		return -1;
	/* the base must be traversable by the unprivileged child */
	chmod(f->base, 0755);
	snprintf(f->dir, sizeof(f->dir), "%s/run", f->base);
	snprintf(f->path, sizeof(f->path), "%s/agent.sock", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unlink(f->path);
	rmdir(f->dir);
	rmdir(f->base);
	free(f);
	return 0;
}

static int wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms);
}

static void test_modes(void **state)
{
	struct fixture *f = *state;
	struct de_ipc_listen_opts o = { .dir = f->dir, .name = "agent.sock" };
	int lfd = de_ipc_listen(&o);
	assert_true(lfd >= 0);
	struct stat st;
	assert_int_equal(lstat(f->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, DE_IPC_DIR_MODE);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, DE_IPC_SOCK_MODE);
	/* the `daemoneye` group when the install scripts created it, else our own */
	struct group *dg = getgrnam(DE_IPC_GROUP);
	assert_int_equal(st.st_gid, dg ? dg->gr_gid : getegid());
	assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
	close(lfd);

	/* a named group that exists is applied to both; a loose existing
	 * directory gets 0750 back; a stale socket is replaced */
	chmod(f->dir, 0777);
	o.group = "nogroup";
	lfd = de_ipc_listen(&o);
	assert_true(lfd >= 0);
	assert_int_equal(lstat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, DE_IPC_DIR_MODE);
	assert_int_equal(st.st_gid, NOBODY);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_int_equal(st.st_gid, NOBODY);
	close(lfd);

	/* a regular file where the socket should be is not removed */
	unlink(f->path);
	int fd = open(f->path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(de_ipc_listen(&o), -EEXIST);
	unlink(f->path);
	/* a symlink as the directory is refused */
	char link[160];
	snprintf(link, sizeof(link), "%s/link", f->base);
	assert_int_equal(symlink(f->dir, link), 0);
	struct de_ipc_listen_opts ol = { .dir = link, .name = "x.sock" };
	assert_int_equal(de_ipc_listen(&ol), -EPERM);
	unlink(link);
	/* a directory owned by someone else is refused */
	assert_int_equal(chown(f->dir, NOBODY, NOBODY), 0);
	assert_int_equal(de_ipc_listen(&o), -EPERM);
	assert_int_equal(chown(f->dir, 0, 0), 0);
}

/* Fork a child that becomes uid 65534 and connects; returns its pid. The
 * child exits 0 when it saw `want_connect` (0 connected, else -errno). */
static pid_t nobody_connects(const char *path, int want_connect)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(10);
		int fd = de_ipc_connect(path, 1000);
		int got = fd >= 0 ? 0 : fd;
		if (got != want_connect)
			_exit(11);
		if (fd >= 0) {
			/* the server closes a refused peer: EOF */
			struct pollfd p = { .fd = fd, .events = POLLIN };
			poll(&p, 1, 5000);
			char c;
			_exit(read(fd, &c, 1) == 0 ? 0 : 12);
		}
		_exit(0);
	}
	return pid;
}

static void test_peer_allow_list(void **state)
{
	struct fixture *f = *state;
	struct de_ipc_listen_opts o = { .dir = f->dir, .name = "agent.sock" };
	int lfd = de_ipc_listen(&o);
	assert_true(lfd >= 0);
	uid_t allow[] = { 0, 1000 };
	struct de_ipc_peer peer;

	/* nothing pending */
	assert_int_equal(de_ipc_accept(lfd, allow, 2, &peer), -EAGAIN);

	/* an allowed peer (root, this process) passes, both ways */
	int c = de_ipc_connect(f->path, 1000);
	assert_true(c >= 0);
	assert_true(fcntl(c, F_GETFL) & O_NONBLOCK);
	assert_int_equal(wait_readable(lfd, 1000), 1);
	int s = de_ipc_accept(lfd, allow, 2, &peer);
	assert_true(s >= 0);
	assert_int_equal(peer.uid, 0);
	assert_int_equal(peer.pid, getpid());
	assert_int_equal(de_ipc_peer_check(c, allow, 1, &peer), 0); /* the server is root */
	assert_int_equal(de_ipc_peer_check(c, NULL, 0, &peer), -EPERM);
	close(c);
	close(s);

	/* with the documented modes, uid 65534 cannot even reach the socket */
	pid_t child = nobody_connects(f->path, -EACCES);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* open the modes to test the second barrier: SO_PEERCRED refuses */
	chmod(f->dir, 0755);
	chmod(f->path, 0666);
	child = nobody_connects(f->path, 0);
	assert_int_equal(wait_readable(lfd, 5000), 1);
	memset(&peer, 0, sizeof(peer));
	assert_int_equal(de_ipc_accept(lfd, allow, 2, &peer), -EPERM);
	assert_int_equal(peer.uid, NOBODY);
	assert_int_equal(peer.pid, child);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* and allowed when its uid is on the list */
	uid_t allow_nobody[] = { 0, NOBODY };
	child = nobody_connects(f->path, 0);
	assert_int_equal(wait_readable(lfd, 5000), 1);
	s = de_ipc_accept(lfd, allow_nobody, 2, &peer);
	assert_true(s >= 0);
	assert_int_equal(peer.uid, NOBODY);
	close(s); /* lets the child see EOF */
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(WEXITSTATUS(status), 0);
	close(lfd);
}

static void test_connect_errors(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(de_ipc_connect("/nonexistent/x.sock", 100), -ENOENT);
	struct de_ipc_listen_opts o = { .dir = f->dir, .name = "agent.sock", .backlog = 1 };
	int lfd = de_ipc_listen(&o);
	assert_true(lfd >= 0);
	/* nobody accepts: once the backlog is full, connect times out */
	int fds[8], n = 0, rc = 0;
	while (n < 8) {
		rc = de_ipc_connect(f->path, 100);
		if (rc < 0)
			break;
		fds[n++] = rc;
	}
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(n >= 1);
	while (n)
		close(fds[--n]);
	close(lfd);
}

struct got {
	struct de_arena *a;
	unsigned frames;
	uint64_t next_seq;
};

static int on_frame(const uint8_t *p, size_t len, void *ud)
{
	struct got *g = ud;
	struct de_ipc_msg m;
	de_arena_reset(g->a);
	int rc = de_ipc_decode(p, len, NULL, g->a, &m);
	if (rc < 0)
		return rc;
	if (m.kind != DE_IPC_EVENT_BATCH || m.batch.first_seq != g->next_seq)
		return -EPROTO;
	g->next_seq += m.batch.n;
	g->frames++;
	return 0;
}

/* Frames through a socket pair, a capped queue, non-blocking both ways. */
static void test_queue_and_frames(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct sample s[8];
	struct de_event ev[8];
	struct de_arena *scratch = de_arena_new(1 << 22);
	struct de_ipc_outq q;
	de_ipc_outq_init(&q, 64 * 1024);
	struct de_ipc_reader *r = de_ipc_reader_new(0);
	struct got g = { .a = de_arena_new(1 << 22) };
	uint64_t seq = 0;
	unsigned pushed = 0;
	int rc;

	/* fill the queue until it refuses: never above the cap */
	for (;;) {
		for (int i = 0; i < 8; i++) {
			sample_event(&s[i], DE_EV_EXEC, seq + (uint64_t)i);
			ev[i] = s[i].ev;
		}
		struct de_ipc_msg m = { .kind = DE_IPC_EVENT_BATCH,
					.batch = { .first_seq = seq, .n = 8, .events = ev } };
		de_arena_reset(scratch);
		int64_t n = de_ipc_outq_push_msg(&q, &m, NULL, scratch);
		if (n == -ENOBUFS)
			break;
		assert_true(n > 0);
		seq += 8;
		pushed++;
		assert_true(de_ipc_outq_pending(&q) <= q.cap);
	}
	assert_true(pushed > 3);
	assert_int_equal(q.refused, 1);
	assert_true(de_ipc_outq_pending(&q) <= q.cap);
	assert_true(q.buf.cap <= 2 * q.cap + 1);
	/* a raw push over the cap is refused too, nothing queued */
	size_t before = de_ipc_outq_pending(&q);
	static char blob[64 * 1024];
	assert_int_equal(de_ipc_outq_push(&q, blob, sizeof(blob)), -ENOBUFS);
	assert_int_equal(de_ipc_outq_pending(&q), before);

	/* drain through the socket (the pair's buffer may be smaller than
	 * the queue: flush, read, repeat) */
	while ((rc = de_ipc_outq_flush(&q, sv[0])) == 0)
		assert_int_equal(de_ipc_read_frames(sv[1], r, on_frame, &g), 0);
	assert_int_equal(rc, 1);
	assert_int_equal(de_ipc_read_frames(sv[1], r, on_frame, &g), 0);
	assert_int_equal(g.frames, pushed);
	assert_int_equal(g.next_seq, seq);

	/* a message bigger than any frame is -EMSGSIZE, not -ENOBUFS */
	sample_event(&s[0], DE_EV_EXEC, seq);
	char *huge = calloc(1, 200000);
	s[0].ev.argv = huge;
	s[0].ev.argv_len = 200000;
	struct de_ipc_msg m = { .kind = DE_IPC_EVENT_BATCH,
				.batch = { .first_seq = seq, .n = 1, .events = &s[0].ev } };
	struct de_ipc_limits lim = { .frame_max = 100000 };
	de_arena_reset(scratch);
	assert_int_equal(de_ipc_outq_push_msg(&q, &m, &lim, scratch), -EMSGSIZE);
	assert_int_equal(de_ipc_outq_pending(&q), 0);
	free(huge);

	/* a peer that closes mid-frame: -ECONNRESET at EOF */
	uint8_t hdr[DE_IPC_HDR_LEN + 3];
	de_ipc_hdr_write(hdr, 10);
	assert_int_equal(de_ipc_outq_push(&q, hdr, sizeof(hdr)), 0);
	assert_int_equal(de_ipc_outq_flush(&q, sv[0]), 1);
	close(sv[0]);
	assert_int_equal(de_ipc_read_frames(sv[1], r, on_frame, &g), -ECONNRESET);
	close(sv[1]);

	/* a bad frame is the reader's error */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	struct de_ipc_reader *r2 = de_ipc_reader_new(0);
	assert_int_equal(write(sv[0], "GET / HTTP/1.1\r\n", 16), 16);
	assert_int_equal(de_ipc_read_frames(sv[1], r2, on_frame, &g), -EBADMSG);
	/* flushing to a closed peer: -EPIPE, no SIGPIPE */
	close(sv[1]);
	assert_int_equal(de_ipc_outq_push(&q, hdr, sizeof(hdr)), 0);
	assert_int_equal(de_ipc_outq_flush(&q, sv[0]), -EPIPE);
	close(sv[0]);

	de_ipc_reader_free(r2);
	de_ipc_reader_free(r);
	de_ipc_outq_free(&q);
	de_arena_free(g.a);
	de_arena_free(scratch);
}

static int count_frame(const uint8_t *p, size_t len, void *ud)
{
	(void)p;
	if (len != 1000)
		return -EPROTO;
	(*(unsigned *)ud)++;
	return 0;
}

/* One call reads at most DE_IPC_READ_BUDGET bytes, then says "more". */
static void test_read_budget(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	int big = 8 << 20;
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0 ||
	    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0) {
		close(sv[0]);
		close(sv[1]);
		skip(); /* needs CAP_NET_ADMIN */
	}
	static uint8_t frame[DE_IPC_HDR_LEN + 1000];
	de_ipc_hdr_write(frame, 1000);
	unsigned sent = 0;
	for (size_t total = 0; total < 3 * DE_IPC_READ_BUDGET / 2; total += sizeof(frame)) {
		assert_int_equal(write(sv[0], frame, sizeof(frame)), (ssize_t)sizeof(frame));
		sent++;
	}
	struct de_ipc_reader *r = de_ipc_reader_new(0);
	unsigned got = 0;
	assert_int_equal(de_ipc_read_frames(sv[1], r, count_frame, &got), 2);
	assert_true(got < sent);
	assert_true(got * sizeof(frame) >= DE_IPC_READ_BUDGET - 2 * sizeof(frame));
	assert_int_equal(de_ipc_read_frames(sv[1], r, count_frame, &got), 0);
	assert_int_equal(got, sent);
	de_ipc_reader_free(r);
	close(sv[0]);
	close(sv[1]);
}

/* Wait for and decode the next frame on a non-blocking fd. */
static int next_msg(int fd, struct de_ipc_reader *r, struct de_arena *a, struct de_ipc_msg *m)
{
	for (;;) {
		/* one byte per read, so no byte of the next frame is consumed
		 * here (slow, and a test of 1-byte reads on a real socket) */
		uint8_t c;
		ssize_t n = read(fd, &c, 1);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno != EAGAIN)
				return -errno;
			if (wait_readable(fd, 5000) != 1)
				return -ETIMEDOUT;
			continue;
		}
		size_t used;
		int rc = de_ipc_reader_feed(r, &c, 1, &used);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			const uint8_t *p;
			size_t len;
			de_ipc_reader_frame(r, &p, &len, NULL);
			de_arena_reset(a);
			return de_ipc_decode(p, len, NULL, a, m);
		}
	}
}

static int send_msg(int fd, const struct de_ipc_msg *m, struct de_arena *scratch)
{
	struct de_ipc_outq q;
	de_ipc_outq_init(&q, 1 << 20);
	int64_t rc = de_ipc_outq_push_msg(&q, m, NULL, scratch);
	while (rc >= 0 && (rc = de_ipc_outq_flush(&q, fd)) == 0) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		poll(&p, 1, 5000);
	}
	de_ipc_outq_free(&q);
	return rc < 0 ? (int)rc : 0;
}

/* The child: procmond's side of a session. Exit codes name the step. */
static int procmond_side(const char *path)
{
	int fd = de_ipc_connect(path, 2000);
	if (fd < 0)
		return 20;
	uid_t root = 0;
	if (de_ipc_peer_check(fd, &root, 1, NULL) < 0)
		return 21;
	struct de_arena *a = de_arena_new(1 << 24);
	struct de_ipc_reader *r = de_ipc_reader_new(0);
	struct de_ipc_msg m;
	de_ipc_hello_init(&m.hello, DE_IPC_ROLE_PROCMOND, DE_IPC_CAP_EVENTS | DE_IPC_CAP_ACK);
	m.kind = DE_IPC_HELLO;
	if (send_msg(fd, &m, a) < 0)
		return 22;
	if (next_msg(fd, r, a, &m) < 0 || m.kind != DE_IPC_HELLO_ACK || !m.hello_ack.accepted ||
	    m.hello_ack.caps != (DE_IPC_CAP_EVENTS | DE_IPC_CAP_ACK))
		return 23;
	static struct sample s[DE_EV__COUNT - 1];
	struct de_event ev[DE_EV__COUNT - 1];
	for (int t = 1; t < DE_EV__COUNT; t++) {
		sample_event(&s[t - 1], (enum de_event_type)t, 500 + (uint64_t)t - 1);
		ev[t - 1] = s[t - 1].ev;
		if (t == DE_EV_SNAPSHOT)
			ev[t - 1].proc = &s[t - 1].proc;
	}
	m = (struct de_ipc_msg){ .kind = DE_IPC_EVENT_BATCH,
				 .batch = { .first_seq = 500, .n = DE_EV__COUNT - 1, .events = ev } };
	if (send_msg(fd, &m, a) < 0)
		return 24;
	if (next_msg(fd, r, a, &m) < 0 || m.kind != DE_IPC_ACK || m.ack_seq != 500 + DE_EV__COUNT - 2)
		return 25;
	close(fd);
	de_ipc_reader_free(r);
	de_arena_free(a);
	return 0;
}

/* A whole session between two processes over the real socket: Hello,
 * HelloAck, a batch of every event type compared field by field, Ack. */
static void test_session_two_processes(void **state)
{
	struct fixture *f = *state;
	struct de_ipc_listen_opts o = { .dir = f->dir, .name = "agent.sock" };
	int lfd = de_ipc_listen(&o);
	assert_true(lfd >= 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(procmond_side(f->path));
	uid_t allow[] = { 0 };
	struct de_ipc_peer peer;
	assert_int_equal(wait_readable(lfd, 5000), 1);
	int fd = de_ipc_accept(lfd, allow, 1, &peer);
	assert_true(fd >= 0);
	assert_int_equal(peer.pid, child);
	struct de_arena *a = de_arena_new(1 << 24);
	struct de_ipc_reader *r = de_ipc_reader_new(0);
	struct de_ipc_msg m;
	assert_int_equal(next_msg(fd, r, a, &m), 0);
	assert_int_equal(m.kind, DE_IPC_HELLO);
	assert_int_equal(m.hello.role, DE_IPC_ROLE_PROCMOND);
	assert_int_equal(m.hello.pid, child);
	struct de_ipc_msg ack = { .kind = DE_IPC_HELLO_ACK };
	assert_int_equal(de_ipc_hello_answer(&m.hello, 1u << DE_IPC_ROLE_PROCMOND,
					     DE_IPC_CAP_EVENTS | DE_IPC_CAP_ACK | DE_IPC_CAP_STATUS,
					     &ack.hello_ack), 0);
	struct de_arena *scratch = de_arena_new(1 << 20);
	assert_int_equal(send_msg(fd, &ack, scratch), 0);
	assert_int_equal(next_msg(fd, r, a, &m), 0);
	assert_int_equal(m.kind, DE_IPC_EVENT_BATCH);
	assert_int_equal(m.batch.n, DE_EV__COUNT - 1);
	static struct sample s;
	for (size_t i = 0; i < m.batch.n; i++) {
		sample_event(&s, (enum de_event_type)(i + 1), 500 + i);
		if (s.ev.type == DE_EV_SNAPSHOT)
			s.ev.proc = &s.proc;
		assert_event_same(&s.ev, &m.batch.events[i]);
	}
	struct de_ipc_msg done = { .kind = DE_IPC_ACK,
				   .ack_seq = m.batch.first_seq + m.batch.n - 1 };
	assert_int_equal(send_msg(fd, &done, scratch), 0);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(fd);
	close(lfd);
	de_ipc_reader_free(r);
	de_arena_free(a);
	de_arena_free(scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_allow_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_errors, setup, teardown),
		cmocka_unit_test(test_queue_and_frames),
		cmocka_unit_test(test_read_budget),
		cmocka_unit_test_setup_teardown(test_session_two_processes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
