/* test_cnproc.c: the process connector parser on hand-built datagrams:
 * each event kind, several messages in one datagram, thread vs process,
 * wait status decoding, and malformed input (short headers, lengths past
 * the buffer, foreign connector ids, events too short for their kind). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <signal.h>
#include <string.h>

#include "cnproc.h"

/* Append one netlink message carrying a proc_event of `evlen` bytes
 * (cn_msg.len = evlen) to buf at *len. */
static void put_msg(unsigned char *buf, size_t *len, uint32_t idx, const struct proc_event *ev,
		    size_t evlen, uint32_t seq)
{
	struct nlmsghdr nh = { .nlmsg_len = (uint32_t)NLMSG_LENGTH(sizeof(struct cn_msg) + evlen),
			       .nlmsg_type = NLMSG_DONE };
	struct cn_msg cn = { .id = { .idx = idx, .val = CN_VAL_PROC }, .seq = seq,
			     .len = (uint16_t)evlen };
	memcpy(buf + *len, &nh, sizeof(nh));
	memcpy(buf + *len + NLMSG_HDRLEN, &cn, sizeof(cn));
	memcpy(buf + *len + NLMSG_HDRLEN + sizeof(cn), ev, evlen);
	*len += NLMSG_ALIGN(nh.nlmsg_len);
}

static void test_fork_exec_exit(void **state)
{
	(void)state;
	unsigned char buf[1024] = { 0 };
	size_t len = 0;
	struct proc_event ev = { .what = PROC_EVENT_FORK, .cpu = 1, .timestamp_ns = 123456789 };
	ev.event_data.fork.parent_pid = 10;
	ev.event_data.fork.parent_tgid = 10;
	ev.event_data.fork.child_pid = 11;
	ev.event_data.fork.child_tgid = 11;
	put_msg(buf, &len, CN_IDX_PROC, &ev, sizeof(ev), 7);
	memset(&ev, 0, sizeof(ev));
	ev.what = PROC_EVENT_EXEC;
	ev.event_data.exec.process_pid = 12;
	ev.event_data.exec.process_tgid = 11;
	put_msg(buf, &len, CN_IDX_PROC, &ev, sizeof(ev), 8);
	memset(&ev, 0, sizeof(ev));
	ev.what = PROC_EVENT_EXIT;
	ev.event_data.exit.process_pid = 11;
	ev.event_data.exit.process_tgid = 11;
	ev.event_data.exit.exit_code = 3 << 8;
	ev.event_data.exit.exit_signal = SIGCHLD;
	ev.event_data.exit.parent_pid = 10;
	ev.event_data.exit.parent_tgid = 10;
	put_msg(buf, &len, CN_IDX_PROC, &ev, sizeof(ev), 9);

	size_t off = 0;
	unsigned skipped = 0;
	struct de_cnproc_msg m;
	assert_int_equal(de_cnproc_next(buf, len, &off, &m, &skipped), 1);
	assert_int_equal(m.what, DE_CN_FORK);
	assert_int_equal(m.pid, 11);
	assert_int_equal(m.tid, 11);
	assert_int_equal(m.ppid, 10);
	assert_int_equal(m.cpu, 1);
	assert_int_equal(m.seq, 7);
	assert_int_equal(m.timestamp_ns, 123456789);
	assert_int_equal(de_cnproc_next(buf, len, &off, &m, &skipped), 1);
	assert_int_equal(m.what, DE_CN_EXEC);
	assert_int_equal(m.pid, 11);
	assert_int_equal(m.tid, 12);
	assert_int_equal(de_cnproc_next(buf, len, &off, &m, &skipped), 1);
	assert_int_equal(m.what, DE_CN_EXIT);
	assert_int_equal(m.pid, 11);
	assert_int_equal(m.ppid, 10);
	assert_int_equal(m.exit_signal, SIGCHLD);
	int32_t code, sig;
	de_cnproc_wait_status(m.exit_status, &code, &sig);
	assert_int_equal(code, 3);
	assert_int_equal(sig, 0);
	assert_int_equal(de_cnproc_next(buf, len, &off, &m, &skipped), 0);
	assert_int_equal(skipped, 0);
}

static void test_wait_status(void **state)
{
	(void)state;
	int32_t code, sig;
	de_cnproc_wait_status(SIGKILL, &code, &sig);
	assert_int_equal(code, 0);
	assert_int_equal(sig, SIGKILL);
	de_cnproc_wait_status(SIGSEGV | 0x80, &code, &sig); /* core dumped */
	assert_int_equal(sig, SIGSEGV);
	de_cnproc_wait_status(0, &code, &sig);
	assert_int_equal(code, 0);
	assert_int_equal(sig, 0);
	de_cnproc_wait_status(255 << 8, &code, &sig);
	assert_int_equal(code, 255);
}

static void test_comm_and_ids(void **state)
{
	(void)state;
	unsigned char buf[512];
	size_t len = 0;
	struct proc_event ev = { .what = PROC_EVENT_COMM };
	ev.event_data.comm.process_pid = 5;
	ev.event_data.comm.process_tgid = 5;
	memset(ev.event_data.comm.comm, 'A', sizeof(ev.event_data.comm.comm)); /* no NUL */
	put_msg(buf, &len, CN_IDX_PROC, &ev, sizeof(ev), 1);
	memset(&ev, 0, sizeof(ev));
	ev.what = PROC_EVENT_UID;
	ev.event_data.id.process_pid = 6;
	ev.event_data.id.process_tgid = 6;
	ev.event_data.id.r.ruid = 1000;
	ev.event_data.id.e.euid = 0;
	put_msg(buf, &len, CN_IDX_PROC, &ev, sizeof(ev), 2);
	size_t off = 0;
	struct de_cnproc_msg m;
	assert_int_equal(de_cnproc_next(buf, len, &off, &m, NULL), 1);
	assert_int_equal(m.what, DE_CN_COMM);
	assert_int_equal(strlen(m.comm), 15);
	assert_int_equal(de_cnproc_next(buf, len, &off, &m, NULL), 1);
	assert_int_equal(m.what, DE_CN_UID);
	assert_int_equal(m.rid, 1000);
	assert_int_equal(m.eid, 0);
}

static void test_malformed(void **state)
{
	(void)state;
	unsigned char buf[512] = { 0 };
	size_t len = 0, off = 0;
	struct de_cnproc_msg m;
	unsigned skipped = 0;
	/* Shorter than a netlink header. */
	assert_int_equal(de_cnproc_next(buf, 10, &off, &m, &skipped), -EBADMSG);
	assert_int_equal(off, 10);
	/* nlmsg_len past the buffer. */
	struct proc_event ev = { .what = PROC_EVENT_EXEC };
	put_msg(buf, &len, CN_IDX_PROC, &ev, sizeof(ev), 1);
	off = 0;
	assert_int_equal(de_cnproc_next(buf, len - 1, &off, &m, &skipped), -EBADMSG);
	/* nlmsg_len smaller than the header. */
	struct nlmsghdr nh = { .nlmsg_len = 4 };
	memcpy(buf, &nh, sizeof(nh));
	off = 0;
	assert_int_equal(de_cnproc_next(buf, len, &off, &m, &skipped), -EBADMSG);

	/* A foreign connector id, an event too short for its kind and a
	 * cn_msg.len past the message are skipped; the good one is found. */
	len = 0;
	put_msg(buf, &len, 0x7, &ev, sizeof(ev), 1);
	struct proc_event ex = { .what = PROC_EVENT_EXIT };
	put_msg(buf, &len, CN_IDX_PROC, &ex, offsetof(struct proc_event, event_data) + 4, 2);
	size_t bad = len;
	put_msg(buf, &len, CN_IDX_PROC, &ev, sizeof(ev), 3);
	uint16_t big = 400;
	memcpy(buf + bad + NLMSG_HDRLEN + offsetof(struct cn_msg, len), &big, sizeof(big));
	ev.event_data.exec.process_pid = 42;
	ev.event_data.exec.process_tgid = 42;
	put_msg(buf, &len, CN_IDX_PROC, &ev, sizeof(ev), 4);
	off = 0;
	skipped = 0;
	assert_int_equal(de_cnproc_next(buf, len, &off, &m, &skipped), 1);
	assert_int_equal(m.pid, 42);
	assert_int_equal(skipped, 3);
	assert_int_equal(de_cnproc_next(buf, len, &off, &m, &skipped), 0);
}

static void test_build_listen(void **state)
{
	(void)state;
	unsigned char buf[64];
	assert_int_equal(de_cnproc_build_listen(buf, 8, 1, 0, 1), -ENOSPC);
	int n = de_cnproc_build_listen(buf, sizeof(buf), 99, 0, 1);
	assert_int_equal(n, NLMSG_LENGTH(sizeof(struct cn_msg) + 4));
	struct cn_msg cn;
	memcpy(&cn, buf + NLMSG_HDRLEN, sizeof(cn));
	assert_int_equal(cn.id.idx, CN_IDX_PROC);
	assert_int_equal(cn.seq, 99);
	assert_int_equal(cn.ack, 99);
	uint32_t op;
	memcpy(&op, buf + NLMSG_HDRLEN + sizeof(cn), sizeof(op));
	assert_int_equal(op, PROC_CN_MCAST_LISTEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_exec_exit),
		cmocka_unit_test(test_wait_status),
		cmocka_unit_test(test_comm_and_ids),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_build_listen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
