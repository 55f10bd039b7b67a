/* ledger_rec.c: record frames and their hashes (ledger_rec.h). */
#include "ledger_rec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "fileio.h"
#include "macros.h"

static const struct {
	uint32_t type;
	const char *name;
} type_names[] = {
	{ DE_LREC_EXEC, "exec" },       { DE_LREC_EXIT, "exit" },     { DE_LREC_FORK, "fork" },
	{ DE_LREC_ALERT, "alert" },     { DE_LREC_START, "start" },   { DE_LREC_STOP, "stop" },
	{ DE_LREC_PRIVDROP, "privdrop" }, { DE_LREC_SOURCE, "source" }, { DE_LREC_DROPS, "drops" },
	{ DE_LREC_CONFIG, "config" },   { DE_LREC_RULESET, "ruleset" }, { DE_LREC_REPAIR, "repair" },
	{ DE_LREC_OPEN, "open" },       { DE_LREC_CLOSE, "close" },
};

const char *de_lrec_type_name(uint32_t type)
{
	for (size_t i = 0; i < DE_ARRAY_SIZE(type_names); i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	return NULL;
}

int de_lrec_type_parse(const char *s)
{
	for (size_t i = 0; i < DE_ARRAY_SIZE(type_names); i++)
		if (strcmp(type_names[i].name, s) == 0)
			return (int)type_names[i].type;
	return -EINVAL;
}

bool de_lrec_is_security(uint32_t type)
{
	return type >= DE_LREC_START && type <= DE_LREC_CLOSE;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void leaf_of(const uint8_t *rec, size_t n, uint8_t *out)
{
	static const uint8_t zero = 0;
	struct iovec v[2] = {
		{ .iov_base = (void *)&zero, .iov_len = 1 },
		{ .iov_base = (void *)rec, .iov_len = n },
	};
	de_blake3_iov(v, 2, out, DE_HASH_LEN);
}

static void chain_of(const uint8_t *prev, const uint8_t *leaf, uint8_t *out)
{
	uint8_t two[2 * DE_HASH_LEN];
	memcpy(two, prev, DE_HASH_LEN);
	memcpy(two + DE_HASH_LEN, leaf, DE_HASH_LEN);
	de_blake3(two, sizeof(two), out, DE_HASH_LEN);
}

/* The check of a frame: header (28 bytes) and chain. */
static void check_of(const uint8_t *f, const uint8_t *chain, uint8_t *out)
{
	uint8_t m[DE_LREC_HDR + DE_HASH_LEN];
	memcpy(m, f, DE_LREC_HDR);
	memcpy(m + DE_LREC_HDR, chain, DE_HASH_LEN);
	de_blake3(m, sizeof(m), out, DE_LREC_CHECK_LEN);
}

int de_lrec_encode(struct de_buf *out, uint64_t seq, int64_t time_ns, uint32_t type,
		   const void *payload, size_t payload_len, const uint8_t *prev_chain,
		   uint8_t *leaf_out, uint8_t *chain_out)
{
	if (payload_len > DE_LREC_MAX_PAYLOAD)
		return -EMSGSIZE;
	size_t flen = DE_LREC_MIN + payload_len;
	int r = de_buf_reserve(out, flen + 1);
	if (r < 0)
		return r;
	uint8_t *f = (uint8_t *)out->data + out->len;
	put32(f, (uint32_t)flen);
	put64(f + 4, seq);
	put64(f + 12, (uint64_t)time_ns);
	put32(f + 20, type);
	put32(f + 24, (uint32_t)payload_len);
	if (payload_len)
		memcpy(f + DE_LREC_HDR, payload, payload_len);
	uint8_t leaf[DE_HASH_LEN];
	uint8_t *chain = f + DE_LREC_HDR + payload_len;
	leaf_of(f + 4, DE_LREC_HDR - 4 + payload_len, leaf);
	chain_of(prev_chain, leaf, chain);
	check_of(f, chain, f + flen - DE_LREC_CHECK_LEN);
	if (leaf_out)
		memcpy(leaf_out, leaf, DE_HASH_LEN);
	if (chain_out)
		memcpy(chain_out, chain, DE_HASH_LEN);
	out->len += flen;
	out->data[out->len] = '\0';
	return (int)flen;
}

int de_lrec_decode(const uint8_t *p, size_t n, struct de_lrec *r)
{
	if (n < 4)
		return -EAGAIN;
	uint32_t flen = get32(p);
	if (flen < DE_LREC_MIN || flen > DE_LREC_MAX)
		return -EBADMSG;
	if (n < DE_LREC_HDR)
		return -EAGAIN;
	if (get32(p + 24) != flen - DE_LREC_MIN)
		return -EBADMSG;
	if (n < flen)
		return -EAGAIN;
	uint8_t check[DE_LREC_CHECK_LEN];
	const uint8_t *chain = p + flen - DE_LREC_TRAILER;
	check_of(p, chain, check);
	if (memcmp(check, p + flen - DE_LREC_CHECK_LEN, sizeof(check)) != 0)
		return -EBADMSG;
	r->frame_len = flen;
	r->seq = get64(p + 4);
	r->time_ns = (int64_t)get64(p + 12);
	r->type = get32(p + 20);
	r->payload_len = flen - DE_LREC_MIN;
	r->payload = p + DE_LREC_HDR;
	memcpy(r->chain, chain, DE_HASH_LEN);
	r->rec = p + 4;
	r->rec_len = DE_LREC_HDR - 4 + r->payload_len;
	return (int)flen;
}

void de_lrec_leaf(const struct de_lrec *r, uint8_t *leaf)
{
	leaf_of(r->rec, r->rec_len, leaf);
}

bool de_lrec_chain_ok(const struct de_lrec *r, const uint8_t *prev_chain, uint8_t *leaf_out)
{
	uint8_t leaf[DE_HASH_LEN], c[DE_HASH_LEN];
	leaf_of(r->rec, r->rec_len, leaf);
	chain_of(prev_chain, leaf, c);
	if (leaf_out)
		memcpy(leaf_out, leaf, DE_HASH_LEN);
	return memcmp(c, r->chain, DE_HASH_LEN) == 0;
}

#define READ_BUF (1u << 20)

int de_lreader_init(struct de_lreader *rd, int fd, uint64_t offset)
{
	memset(rd, 0, sizeof(*rd));
	rd->fd = fd;
	rd->off = offset;
	rd->cap = READ_BUF;
	rd->buf = malloc(rd->cap);
	return rd->buf ? 0 : -ENOMEM;
}

void de_lreader_done(struct de_lreader *rd)
{
	free(rd->buf);
	rd->buf = NULL;
}

/* Move the unread bytes to the front and read more after them. */
static int refill(struct de_lreader *rd)
{
	size_t have = rd->len - rd->pos;
	memmove(rd->buf, rd->buf + rd->pos, have);
	rd->pos = 0;
	rd->len = have;
	ssize_t n = de_pread_full(rd->fd, rd->buf + have, rd->cap - have, rd->off + have);
	if (n < 0)
		return (int)n;
	rd->len += (size_t)n;
	if ((size_t)n < rd->cap - have)
		rd->eof = true;
	return 0;
}

int de_lreader_next(struct de_lreader *rd, struct de_lrec *r)
{
	for (;;) {
		size_t have = rd->len - rd->pos;
		int n = have ? de_lrec_decode(rd->buf + rd->pos, have, r) : -EAGAIN;
		if (n > 0) {
			rd->pos += (size_t)n;
			rd->off += (uint64_t)n;
			return 1;
		}
		if (n != -EAGAIN)
			return n;
		if (rd->eof)
			return have ? -EAGAIN : 0;
		int e = refill(rd);
		if (e < 0)
			return e;
	}
}
