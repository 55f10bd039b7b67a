/* ipcframe.c: frame header and incremental frame reader (ipcframe.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "ipcframe.h"
#include "macros.h"

/* Payload buffers start here and double as bytes arrive. */
#define GROW_MIN (16u * 1024u)

struct de_ipc_reader {
	uint32_t frame_max;
	int err;                     /* sticky */
	uint8_t hdr[DE_IPC_HDR_LEN];
	size_t hdr_have;
	bool in_payload;             /* header done, reading payload */
	bool ready;                  /* a complete frame is in buf */
	uint8_t minor;
	uint32_t len;                /* payload length of the current frame */
	uint32_t have;               /* payload bytes buffered */
	uint8_t *buf;
	size_t cap;
};

void de_ipc_hdr_write(uint8_t hdr[DE_IPC_HDR_LEN], uint32_t len)
{
	hdr[0] = DE_IPC_MAGIC0;
	hdr[1] = DE_IPC_MAGIC1;
	hdr[2] = DE_IPC_MAGIC2;
	hdr[3] = DE_IPC_MAGIC3;
	hdr[4] = DE_IPC_VERSION_MAJOR;
	hdr[5] = DE_IPC_VERSION_MINOR;
	hdr[6] = 0;
	hdr[7] = 0;
	hdr[8] = (uint8_t)len;
	hdr[9] = (uint8_t)(len >> 8);
	hdr[10] = (uint8_t)(len >> 16);
	hdr[11] = (uint8_t)(len >> 24);
}

int64_t de_ipc_hdr_parse(const uint8_t hdr[DE_IPC_HDR_LEN], uint32_t frame_max)
{
	if (hdr[0] != DE_IPC_MAGIC0 || hdr[1] != DE_IPC_MAGIC1 || hdr[2] != DE_IPC_MAGIC2 ||
	    hdr[3] != DE_IPC_MAGIC3)
		return -EBADMSG;
	if (hdr[4] != DE_IPC_VERSION_MAJOR)
		return -EPROTONOSUPPORT;
	if (hdr[6] || hdr[7])
		return -EBADMSG;
	uint32_t len = (uint32_t)hdr[8] | (uint32_t)hdr[9] << 8 | (uint32_t)hdr[10] << 16 |
		       (uint32_t)hdr[11] << 24;
	if (len > frame_max)
		return -EMSGSIZE;
	return len;
}

const char *de_ipc_strerror(int err)
{
	switch (err) {
	case -EBADMSG: return "malformed frame or message";
	case -EPROTONOSUPPORT: return "unsupported protocol major version";
	case -EMSGSIZE: return "frame larger than the frame limit";
	case -ENOMEM: return "out of memory (or over the decoder's memory cap)";
	case -ENOBUFS: return "outgoing queue full";
	case -EPERM: return "peer not allowed";
	case -ETIMEDOUT: return "timed out";
	case -ECONNRESET: return "peer closed the connection mid-frame";
	default: return "IPC error";
	}
}

struct de_ipc_reader *de_ipc_reader_new(uint32_t frame_max)
{
	if (frame_max == 0)
		frame_max = DE_IPC_FRAME_MAX_DEFAULT;
	if (frame_max > DE_IPC_FRAME_MAX_LIMIT) {
		errno = EINVAL;
		return NULL;
	}
	struct de_ipc_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->frame_max = frame_max;
	return r;
}

void de_ipc_reader_free(struct de_ipc_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

/* Room for `want` payload bytes: at least double the buffer, never more
 * than the frame's announced length. */
static int reserve(struct de_ipc_reader *r, size_t want)
{
	if (want <= r->cap)
		return 0;
	size_t cap = DE_MAX(r->cap * 2, (size_t)GROW_MIN);
	cap = DE_MAX(cap, want);
	cap = DE_MIN(cap, (size_t)r->len);
	uint8_t *b = realloc(r->buf, cap);
	if (!b)
		return -ENOMEM;
	r->buf = b;
	r->cap = cap;
	return 0;
}

int de_ipc_reader_feed(struct de_ipc_reader *r, const void *p, size_t n, size_t *used)
{
	const uint8_t *in = p;
	size_t off = 0;

	*used = 0;
	if (r->err)
		return r->err;
	if (r->ready) {
		/* the previous frame was handed out: start the next one */
		r->ready = false;
		r->in_payload = false;
		r->hdr_have = 0;
		r->have = 0;
	}
	if (!r->in_payload) {
		size_t take = DE_MIN(n, DE_IPC_HDR_LEN - r->hdr_have);
		memcpy(r->hdr + r->hdr_have, in, take);
		r->hdr_have += take;
		off += take;
		if (r->hdr_have < DE_IPC_HDR_LEN) {
			*used = off;
			return 0;
		}
		int64_t len = de_ipc_hdr_parse(r->hdr, r->frame_max);
		if (len < 0) {
			*used = off;
			return r->err = (int)len;
		}
		r->len = (uint32_t)len;
		r->minor = r->hdr[5];
		r->have = 0;
		r->in_payload = true;
	}
	size_t take = DE_MIN(n - off, (size_t)(r->len - r->have));
	if (take) {
		int rc = reserve(r, (size_t)r->have + take);
		if (rc < 0) {
			*used = off;
			return r->err = rc;
		}
		memcpy(r->buf + r->have, in + off, take);
		r->have += (uint32_t)take;
		off += take;
	}
	*used = off;
	if (r->have < r->len)
		return 0;
	r->ready = true;
	return 1;
}

void de_ipc_reader_frame(const struct de_ipc_reader *r, const uint8_t **payload, size_t *len,
			 uint8_t *minor)
{
	/* an empty payload has no buffer: hand out a valid pointer anyway */
	static const uint8_t empty[1];
	*payload = r->ready && r->len ? r->buf : empty;
	*len = r->ready ? r->len : 0;
	if (minor)
		*minor = r->minor;
}

size_t de_ipc_reader_pending(const struct de_ipc_reader *r)
{
	if (r->ready)
		return 0;
	return r->in_payload ? DE_IPC_HDR_LEN + r->have : r->hdr_have;
}

size_t de_ipc_reader_mem(const struct de_ipc_reader *r) { return r->cap; }
