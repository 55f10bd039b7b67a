/* cnproc.c: see cnproc.h. The kernel's structs (linux/connector.h,
 * linux/cn_proc.h) give sizes and offsets only; fields are always copied
 * out of the buffer with memcpy after a length check. */
#include "cnproc.h"

#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <stddef.h>
#include <string.h>

#define EV_DATA offsetof(struct proc_event, event_data)

/* Bytes of event_data each kind needs; 0 for kinds passed through bare. */
static size_t need_len(uint32_t what)
{
	switch (what) {
	case DE_CN_NONE: return sizeof(((struct proc_event *)0)->event_data.ack);
	case DE_CN_FORK: return sizeof(struct fork_proc_event);
	case DE_CN_EXEC: return sizeof(struct exec_proc_event);
	case DE_CN_UID:
	case DE_CN_GID: return sizeof(struct id_proc_event);
	case DE_CN_SID: return sizeof(struct sid_proc_event);
	case DE_CN_PTRACE: return sizeof(struct ptrace_proc_event);
	case DE_CN_COMM: return sizeof(struct comm_proc_event);
	case DE_CN_COREDUMP: return sizeof(struct coredump_proc_event);
	/* Kernels before 3.x had no parent fields: accept the short form. */
	case DE_CN_EXIT: return offsetof(struct exit_proc_event, parent_pid);
	default: return 0;
	}
}

static int32_t rd_i32(const unsigned char *p)
{
	int32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t rd_u32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* Fill out from one proc_event of n bytes at e. Returns 1, or 0 when it is
 * too short for its kind. */
static int decode_event(const unsigned char *e, size_t n, struct de_cnproc_msg *out)
{
	if (n < EV_DATA)
		return 0;
	out->what = rd_u32(e + offsetof(struct proc_event, what));
	out->cpu = rd_u32(e + offsetof(struct proc_event, cpu));
	memcpy(&out->timestamp_ns, e + offsetof(struct proc_event, timestamp_ns),
	       sizeof(out->timestamp_ns));
	size_t have = n - EV_DATA;
	if (have < need_len(out->what))
		return 0;
	const unsigned char *d = e + EV_DATA;
	switch (out->what) {
	case DE_CN_NONE:
		out->ack_err = rd_u32(d);
		break;
	case DE_CN_FORK:
		out->ptid = rd_i32(d + offsetof(struct fork_proc_event, parent_pid));
		out->ppid = rd_i32(d + offsetof(struct fork_proc_event, parent_tgid));
		out->tid = rd_i32(d + offsetof(struct fork_proc_event, child_pid));
		out->pid = rd_i32(d + offsetof(struct fork_proc_event, child_tgid));
		break;
	case DE_CN_EXEC:
	case DE_CN_SID:
		out->tid = rd_i32(d);
		out->pid = rd_i32(d + 4);
		break;
	case DE_CN_UID:
	case DE_CN_GID:
		out->tid = rd_i32(d);
		out->pid = rd_i32(d + 4);
		out->rid = rd_u32(d + offsetof(struct id_proc_event, r));
		out->eid = rd_u32(d + offsetof(struct id_proc_event, e));
		break;
	case DE_CN_PTRACE:
		out->tid = rd_i32(d);
		out->pid = rd_i32(d + 4);
		out->tracer_pid = rd_i32(d + offsetof(struct ptrace_proc_event, tracer_tgid));
		break;
	case DE_CN_COMM:
		out->tid = rd_i32(d);
		out->pid = rd_i32(d + 4);
		memcpy(out->comm, d + offsetof(struct comm_proc_event, comm), sizeof(out->comm) - 1);
		out->comm[sizeof(out->comm) - 1] = '\0';
		break;
	case DE_CN_COREDUMP:
		out->tid = rd_i32(d);
		out->pid = rd_i32(d + 4);
		out->ptid = rd_i32(d + offsetof(struct coredump_proc_event, parent_pid));
		out->ppid = rd_i32(d + offsetof(struct coredump_proc_event, parent_tgid));
		break;
	case DE_CN_EXIT:
		out->tid = rd_i32(d);
		out->pid = rd_i32(d + 4);
		out->exit_status = rd_u32(d + offsetof(struct exit_proc_event, exit_code));
		out->exit_signal = rd_u32(d + offsetof(struct exit_proc_event, exit_signal));
		if (have >= sizeof(struct exit_proc_event)) {
			out->ptid = rd_i32(d + offsetof(struct exit_proc_event, parent_pid));
			out->ppid = rd_i32(d + offsetof(struct exit_proc_event, parent_tgid));
		}
		break;
	default:
		break; /* an unknown kind: header fields only */
	}
	return 1;
}

int de_cnproc_next(const void *buf, size_t len, size_t *off, struct de_cnproc_msg *out,
		   unsigned *skipped)
{
	const unsigned char *b = buf;
	while (*off < len) {
		size_t rest = len - *off;
		if (rest < NLMSG_HDRLEN) {
			*off = len;
			return -EBADMSG;
		}
		struct nlmsghdr nh;
		memcpy(&nh, b + *off, sizeof(nh));
		if (nh.nlmsg_len < NLMSG_HDRLEN || nh.nlmsg_len > rest) {
			*off = len;
			return -EBADMSG;
		}
		const unsigned char *m = b + *off + NLMSG_HDRLEN;
		size_t mlen = nh.nlmsg_len - NLMSG_HDRLEN;
		size_t step = NLMSG_ALIGN(nh.nlmsg_len);
		*off = step < rest ? *off + step : len;

		struct cn_msg cn;
		if (nh.nlmsg_type == NLMSG_NOOP || nh.nlmsg_type == NLMSG_ERROR ||
		    nh.nlmsg_type == NLMSG_OVERRUN || mlen < sizeof(cn)) {
			if (skipped)
				(*skipped)++;
			continue;
		}
		memcpy(&cn, m, sizeof(cn));
		if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC ||
		    cn.len > mlen - sizeof(cn)) {
			if (skipped)
				(*skipped)++;
			continue;
		}
		memset(out, 0, sizeof(*out));
		out->seq = cn.seq;
		out->ack = cn.ack;
		if (!decode_event(m + sizeof(cn), cn.len, out)) {
			if (skipped)
				(*skipped)++;
			continue;
		}
		return 1;
	}
	return 0;
}

void de_cnproc_wait_status(uint32_t status, int32_t *code, int32_t *sig)
{
	if ((status & 0x7f) == 0) {
		*code = (int32_t)((status >> 8) & 0xff);
		*sig = 0;
	} else {
		*code = 0;
		*sig = (int32_t)(status & 0x7f);
	}
}

int de_cnproc_build_listen(void *buf, size_t cap, uint32_t seq, uint32_t portid, int listen)
{
	uint32_t op = listen ? PROC_CN_MCAST_LISTEN : PROC_CN_MCAST_IGNORE;
	size_t total = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(op));
	if (cap < total)
		return -ENOSPC;
	memset(buf, 0, total);
	struct nlmsghdr nh = {
		.nlmsg_len = (uint32_t)total,
		.nlmsg_type = NLMSG_DONE,
		.nlmsg_seq = seq,
		.nlmsg_pid = portid,
	};
	struct cn_msg cn = {
		.id = { .idx = CN_IDX_PROC, .val = CN_VAL_PROC },
		.seq = seq,
		.ack = seq,
		.len = sizeof(op),
	};
	unsigned char *b = buf;
	memcpy(b, &nh, sizeof(nh));
	memcpy(b + NLMSG_HDRLEN, &cn, sizeof(cn));
	memcpy(b + NLMSG_HDRLEN + sizeof(cn), &op, sizeof(op));
	return (int)total;
}
