/* cnproc.h: parser of the kernel's process connector messages (CN_PROC).
 *
 * A netlink datagram from NETLINK_CONNECTOR holds one or more netlink
 * messages, each a struct cn_msg carrying one struct proc_event. This
 * module turns those bytes into struct de_cnproc_msg and nothing else: it
 * is a pure function over a buffer (no socket, no allocation, no state),
 * so it can be fuzzed and unit-tested with hand-made datagrams.
 *
 * The bytes are treated as untrusted: every length (nlmsg_len, cn_msg.len,
 * the size each event kind needs) is checked against the buffer before a
 * field is read, fields are copied with memcpy (the buffer may be
 * unaligned), and comm is always NUL-terminated. A malformed netlink
 * header ends the datagram (its framing can no longer be trusted); a
 * well-framed message that is not a process event (another connector id,
 * NLMSG_NOOP, a truncated event) is skipped and counted.
 */
#ifndef DE_CNPROC_H
#define DE_CNPROC_H

#include <stddef.h>
#include <stdint.h>

/* Event kinds: the kernel's PROC_EVENT_* values (linux/cn_proc.h). */
#define DE_CN_NONE     0x00000000u /* the reply (ack) to a LISTEN/IGNORE request */
#define DE_CN_FORK     0x00000001u
#define DE_CN_EXEC     0x00000002u
#define DE_CN_UID      0x00000004u
#define DE_CN_GID      0x00000040u
#define DE_CN_SID      0x00000080u
#define DE_CN_PTRACE   0x00000100u
#define DE_CN_COMM     0x00000200u
#define DE_CN_COREDUMP 0x40000000u
#define DE_CN_EXIT     0x80000000u

struct de_cnproc_msg {
	uint32_t what;          /* DE_CN_* (other values are passed through) */
	uint32_t cpu;           /* CPU that sent it: seq counts per CPU */
	uint32_t seq;           /* cn_msg.seq: per-CPU event counter (replies too, on
				 * recent kernels; older ones echo the request's seq) */
	uint32_t ack;           /* cn_msg.ack: a reply carries the request's ack + 1 */
	uint64_t timestamp_ns;  /* kernel monotonic clock (ktime_get_ns) */
	int32_t pid, tid;       /* the process (tgid) and thread; fork: the child */
	int32_t ppid, ptid;     /* fork, exit, coredump: the parent (tgid, thread) */
	uint32_t exit_status;   /* exit: the wait status (code << 8 | signal, 0x80 core) */
	uint32_t exit_signal;   /* exit: the signal the parent is sent (SIGCHLD usually) */
	uint32_t rid, eid;      /* uid/gid events: real and effective id */
	int32_t tracer_pid;     /* ptrace: the tracer's tgid (0: detached) */
	uint32_t ack_err;       /* none (ack): errno of the request, 0 when it worked */
	char comm[16];          /* comm: the new name, NUL-terminated */
};

/* Parse the next process event of the datagram buf[0..len) at *off.
 * Returns 1 with *out filled and *off advanced past it, 0 when the
 * datagram holds no further event, or -EBADMSG when a netlink header is
 * malformed (*off is then set to len: the rest is not parsed). `skipped`
 * (may be NULL) is incremented for each well-framed message that is not a
 * usable process event. */
int de_cnproc_next(const void *buf, size_t len, size_t *off, struct de_cnproc_msg *out,
		   unsigned *skipped);

/* Split a wait status the way waitpid's macros do: *code is WEXITSTATUS
 * and *sig 0 for a normal exit, *code 0 and *sig WTERMSIG for a death by
 * signal. */
void de_cnproc_wait_status(uint32_t status, int32_t *code, int32_t *sig);

/* Build the datagram that subscribes (listen true) or unsubscribes a
 * socket: netlink header + cn_msg (seq and ack both `seq`, so the
 * kernel's reply is recognised by ack == seq + 1) + the operation.
 * Returns its length (at most cap), or -ENOSPC. */
int de_cnproc_build_listen(void *buf, size_t cap, uint32_t seq, uint32_t portid, int listen);

#endif
