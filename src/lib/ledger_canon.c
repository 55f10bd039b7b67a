/* ledger_canon.c: canonical TLV bytes of events and security records, and
 * their rendering (ledger_canon.h). One table per schema drives the
 * decoder and both renderers, so a field is described once. */
#include "ledger_canon.h"

#include <errno.h>
#include <string.h>

#include "ledger_rec.h"
#include "macros.h"

enum kind { K_BOOL, K_U32, K_I32, K_U64, K_I64, K_STR, K_HEX, K_U32X4, K_ARGV };

struct field {
	uint8_t tag;
	enum kind kind;
	const char *name;
};

/* Process events. Tags are never renumbered. */
enum {
	EV_TYPE = 1, EV_SOURCE, EV_HAVE, EV_PARTIAL, EV_SEQ, EV_TIME, EV_PID, EV_TID, EV_PPID,
	EV_START_TICKS, EV_ENTITY, EV_PARENT_ENTITY, EV_COMM, EV_UID, EV_GID, EV_LOGINUID,
	EV_SESSIONID, EV_FILENAME, EV_ARGV, EV_ARGC, EV_ARGV_TRUNC, EV_EXE, EV_EXE_DELETED,
	EV_EXE_MEMFD, EV_EXE_DEV, EV_EXE_INO, EV_CGROUP_ID, EV_CGROUP, EV_CONTAINER, EV_EXIT_CODE,
	EV_EXIT_SIGNAL, EV_SHA256, EV_BLAKE3, EV_HASH_NOTE,
};

static const struct field event_fields[] = {
	{ EV_TYPE, K_U32, "event_type" },      { EV_SOURCE, K_U32, "source" },
	{ EV_HAVE, K_U32, "have" },            { EV_PARTIAL, K_BOOL, "partial" },
	{ EV_SEQ, K_U64, "event_seq" },        { EV_TIME, K_I64, "event_time_ns" },
	{ EV_PID, K_I32, "pid" },              { EV_TID, K_I32, "tid" },
	{ EV_PPID, K_I32, "ppid" },            { EV_START_TICKS, K_U64, "start_ticks" },
	{ EV_ENTITY, K_HEX, "entity_id" },     { EV_PARENT_ENTITY, K_HEX, "parent_entity_id" },
	{ EV_COMM, K_STR, "comm" },            { EV_UID, K_U32X4, "uid" },
	{ EV_GID, K_U32X4, "gid" },            { EV_LOGINUID, K_U32, "loginuid" },
	{ EV_SESSIONID, K_U32, "sessionid" },  { EV_FILENAME, K_STR, "filename" },
	{ EV_ARGV, K_ARGV, "argv" },           { EV_ARGC, K_U32, "argc" },
	{ EV_ARGV_TRUNC, K_BOOL, "argv_truncated" }, { EV_EXE, K_STR, "exe" },
	{ EV_EXE_DELETED, K_BOOL, "exe_deleted" }, { EV_EXE_MEMFD, K_BOOL, "exe_memfd" },
	{ EV_EXE_DEV, K_U64, "exe_dev" },      { EV_EXE_INO, K_U64, "exe_ino" },
	{ EV_CGROUP_ID, K_U64, "cgroup_id" },  { EV_CGROUP, K_STR, "cgroup" },
	{ EV_CONTAINER, K_STR, "container_id" }, { EV_EXIT_CODE, K_I32, "exit_code" },
	{ EV_EXIT_SIGNAL, K_I32, "exit_signal" }, { EV_SHA256, K_HEX, "sha256" },
	{ EV_BLAKE3, K_HEX, "blake3" },        { EV_HASH_NOTE, K_STR, "hash_note" },
};

/* Security records. */
enum {
	SEC_COMPONENT = 1, SEC_DETAIL, SEC_RESULT, SEC_SOURCE, SEC_COUNT, SEC_NAME, SEC_BLAKE3,
	SEC_UID, SEC_GID, SEC_OFFSET, SEC_BYTES, SEC_RECORDS,
};

static const struct field sec_fields[] = {
	{ SEC_COMPONENT, K_STR, "component" }, { SEC_DETAIL, K_STR, "detail" },
	{ SEC_RESULT, K_I32, "result" },       { SEC_SOURCE, K_STR, "source" },
	{ SEC_COUNT, K_U64, "count" },         { SEC_NAME, K_STR, "name" },
	{ SEC_BLAKE3, K_HEX, "blake3" },       { SEC_UID, K_U32, "uid" },
	{ SEC_GID, K_U32, "gid" },             { SEC_OFFSET, K_U64, "offset" },
	{ SEC_BYTES, K_U64, "bytes" },         { SEC_RECORDS, K_U64, "records" },
};

/* --- writer */

static void put_field(struct de_buf *b, uint8_t tag, const void *p, size_t n)
{
	uint8_t h[6] = { tag };
	unsigned k = 1;
	size_t v = n;
	do { /* LEB128, minimal; n <= DE_LREC_MAX_PAYLOAD fits in 3 bytes */
		h[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v && k < sizeof(h));
	de_buf_append(b, h, k);
	if (n)
		de_buf_append(b, p, n);
}

static void put_u32(struct de_buf *b, uint8_t tag, uint32_t v)
{
	uint8_t p[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	put_field(b, tag, p, 4);
}

static void put_u64(struct de_buf *b, uint8_t tag, uint64_t v)
{
	uint8_t p[8];
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	put_field(b, tag, p, 8);
}

static void put_bool(struct de_buf *b, uint8_t tag, bool v)
{
	uint8_t c = v ? 1 : 0;
	put_field(b, tag, &c, 1);
}

static void put_str(struct de_buf *b, uint8_t tag, const char *s)
{
	if (s)
		put_field(b, tag, s, strlen(s));
}

static void put_u32x4(struct de_buf *b, uint8_t tag, const uint32_t v[4])
{
	uint8_t p[16];
	for (unsigned i = 0; i < 4; i++)
		for (unsigned k = 0; k < 4; k++)
			p[4 * i + k] = (uint8_t)(v[i] >> (8 * k));
	put_field(b, tag, p, sizeof(p));
}

int de_canon_event(struct de_buf *b, const struct de_event *ev)
{
	uint32_t have = ev->have;
	put_u32(b, EV_TYPE, (uint32_t)ev->type);
	put_u32(b, EV_SOURCE, (uint32_t)ev->source);
	put_u32(b, EV_HAVE, have);
	put_bool(b, EV_PARTIAL, ev->partial);
	put_u64(b, EV_SEQ, ev->seq);
	put_u64(b, EV_TIME, (uint64_t)ev->time_ns);
	put_u32(b, EV_PID, (uint32_t)ev->pid);
	put_u32(b, EV_TID, (uint32_t)ev->tid);
	if (have & DE_EVF_PARENT)
		put_u32(b, EV_PPID, (uint32_t)ev->ppid);
	put_u64(b, EV_START_TICKS, ev->start_ticks);
	put_field(b, EV_ENTITY, ev->entity_id, DE_ENTITY_ID_LEN);
	if (have & DE_EVF_PARENT)
		put_field(b, EV_PARENT_ENTITY, ev->parent_entity_id, DE_ENTITY_ID_LEN);
	put_field(b, EV_COMM, ev->comm, strnlen(ev->comm, sizeof(ev->comm)));
	if (have & DE_EVF_CREDS) {
		put_u32x4(b, EV_UID, ev->uid);
		put_u32x4(b, EV_GID, ev->gid);
	}
	if (have & DE_EVF_LOGINUID) {
		put_u32(b, EV_LOGINUID, ev->loginuid);
		put_u32(b, EV_SESSIONID, ev->sessionid);
	}
	if (have & DE_EVF_FILENAME)
		put_str(b, EV_FILENAME, ev->filename);
	if (have & DE_EVF_ARGV) {
		if (ev->argv)
			put_field(b, EV_ARGV, ev->argv, ev->argv_len);
		put_u32(b, EV_ARGC, ev->argc);
		put_bool(b, EV_ARGV_TRUNC, ev->argv_truncated);
	}
	if (have & DE_EVF_EXE) {
		put_str(b, EV_EXE, ev->exe);
		put_bool(b, EV_EXE_DELETED, ev->exe_deleted);
		put_bool(b, EV_EXE_MEMFD, ev->exe_memfd);
	}
	if (have & DE_EVF_EXE_ID) {
		put_u64(b, EV_EXE_DEV, ev->exe_dev);
		put_u64(b, EV_EXE_INO, ev->exe_ino);
	}
	if (have & DE_EVF_CGROUP) {
		put_u64(b, EV_CGROUP_ID, ev->cgroup_id);
		put_str(b, EV_CGROUP, ev->cgroup);
		put_str(b, EV_CONTAINER, ev->container_id);
	}
	if (have & DE_EVF_EXIT) {
		put_u32(b, EV_EXIT_CODE, (uint32_t)ev->exit_code);
		put_u32(b, EV_EXIT_SIGNAL, (uint32_t)ev->exit_signal);
	}
	if (have & DE_EVF_HASH) {
		if (ev->hashes.algos & DE_HASH_SHA256)
			put_field(b, EV_SHA256, ev->hashes.sha256, DE_HASH_LEN);
		if (ev->hashes.algos & DE_HASH_BLAKE3)
			put_field(b, EV_BLAKE3, ev->hashes.blake3, DE_HASH_LEN);
	}
	put_str(b, EV_HASH_NOTE, ev->hash_note);
	return b->err;
}

int de_canon_security(struct de_buf *b, const struct de_ledger_sec *s)
{
	put_str(b, SEC_COMPONENT, s->component);
	put_str(b, SEC_DETAIL, s->detail);
	if (s->has_result)
		put_u32(b, SEC_RESULT, (uint32_t)s->result);
	put_str(b, SEC_SOURCE, s->source);
	if (s->has_count)
		put_u64(b, SEC_COUNT, s->count);
	put_str(b, SEC_NAME, s->name);
	if (s->has_blake3)
		put_field(b, SEC_BLAKE3, s->blake3, DE_HASH_LEN);
	if (s->has_ids) {
		put_u32(b, SEC_UID, s->uid);
		put_u32(b, SEC_GID, s->gid);
	}
	if (s->has_repair) {
		put_u64(b, SEC_OFFSET, s->offset);
		put_u64(b, SEC_BYTES, s->bytes);
		put_u64(b, SEC_RECORDS, s->records);
	}
	return b->err;
}

/* --- reader */

struct tlv {
	uint8_t tag;
	uint32_t len;
	const uint8_t *v;
};

/* Next field at *off; 1 when read, 0 at the end, -EBADMSG when malformed
 * (no length, a length not in minimal LEB128 or past the end, a tag not
 * above the previous one). */
static int tlv_next(const uint8_t *p, size_t n, size_t *off, unsigned *last, struct tlv *t)
{
	if (*off == n)
		return 0;
	size_t i = *off;
	t->tag = p[i++];
	uint64_t len = 0;
	for (unsigned shift = 0;; shift += 7) {
		if (i == n || shift > 28)
			return -EBADMSG;
		uint8_t c = p[i++];
		len |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			if (c == 0 && shift)
				return -EBADMSG; /* not minimal */
			break;
		}
	}
	if (t->tag <= *last || len > n - i)
		return -EBADMSG;
	t->len = (uint32_t)len;
	t->v = p + i;
	*last = t->tag;
	*off = i + (size_t)len;
	return 1;
}

int de_canon_check(const uint8_t *p, size_t n)
{
	size_t off = 0;
	unsigned last = 0;
	struct tlv t;
	int count = 0, r;
	while ((r = tlv_next(p, n, &off, &last, &t)) > 0)
		count++;
	return r < 0 ? r : count;
}

static uint64_t le(const uint8_t *v, unsigned n)
{
	uint64_t x = 0;
	for (unsigned i = 0; i < n; i++)
		x |= (uint64_t)v[i] << (8 * i);
	return x;
}

static bool kind_len_ok(enum kind k, uint32_t len)
{
	switch (k) {
	case K_BOOL:
		return len == 1;
	case K_U32:
	case K_I32:
		return len == 4;
	case K_U64:
	case K_I64:
		return len == 8;
	case K_U32X4:
		return len == 16;
	case K_HEX:
		return len <= 64;
	case K_STR:
	case K_ARGV:
		return true;
	}
	return false;
}

static const struct field *schema(uint32_t type, size_t *n)
{
	if (type == DE_LREC_EXEC || type == DE_LREC_EXIT || type == DE_LREC_FORK) {
		*n = DE_ARRAY_SIZE(event_fields);
		return event_fields;
	}
	if (de_lrec_is_security(type)) {
		*n = DE_ARRAY_SIZE(sec_fields);
		return sec_fields;
	}
	*n = 0;
	return NULL;
}

static const struct field *find_field(const struct field *fs, size_t n, uint8_t tag)
{
	for (size_t i = 0; i < n; i++)
		if (fs[i].tag == tag)
			return &fs[i];
	return NULL;
}

/* One output target for both renderers. */
struct out {
	struct de_json *j; /* JSON members, or */
	struct de_buf *b;  /* key=value text */
	bool first;
};

static void out_key(struct out *o, const char *name)
{
	if (o->j) {
		de_json_key(o->j, name);
		return;
	}
	if (!o->first)
		de_buf_putc(o->b, ' ');
	o->first = false;
	de_buf_printf(o->b, "%s=", name);
}

static void out_str(struct out *o, const uint8_t *v, size_t n)
{
	if (o->j)
		de_json_str(o->j, (const char *)v, n);
	else
		de_emit_text(o->b, (const char *)v, n);
}

static void out_num(struct out *o, bool is_signed, uint64_t v)
{
	if (o->j) {
		if (is_signed)
			de_json_int(o->j, (int64_t)v);
		else
			de_json_uint(o->j, v);
	} else if (is_signed) {
		de_buf_printf(o->b, "%lld", (long long)(int64_t)v);
	} else {
		de_buf_printf(o->b, "%llu", (unsigned long long)v);
	}
}

/* Hex of any length (ids, hashes, unknown fields, a malformed payload). */
static void out_hex(struct out *o, const uint8_t *v, size_t n)
{
	struct de_buf hex = DE_BUF_INIT;
	if (de_buf_reserve(&hex, 2 * n + 1) == 0) {
		de_hex(v, n, hex.data);
		if (o->j)
			de_json_cstr(o->j, hex.data);
		else
			de_buf_puts(o->b, hex.data);
	} else if (o->j) {
		de_json_null(o->j);
	}
	de_buf_free(&hex);
}

static void out_value(struct out *o, const struct field *f, const struct tlv *t)
{
	switch (f->kind) {
	case K_BOOL:
		if (o->j)
			de_json_bool(o->j, t->v[0] != 0);
		else
			de_buf_puts(o->b, t->v[0] ? "true" : "false");
		break;
	case K_U32:
		out_num(o, false, le(t->v, 4));
		break;
	case K_I32:
		out_num(o, true, (uint64_t)(int64_t)(int32_t)(uint32_t)le(t->v, 4));
		break;
	case K_U64:
		out_num(o, false, le(t->v, 8));
		break;
	case K_I64:
		out_num(o, true, le(t->v, 8));
		break;
	case K_STR:
		out_str(o, t->v, t->len);
		break;
	case K_HEX:
		out_hex(o, t->v, t->len);
		break;
	case K_U32X4:
		if (o->j)
			de_json_arr_begin(o->j);
		for (unsigned i = 0; i < 4; i++) {
			if (!o->j && i)
				de_buf_putc(o->b, ',');
			out_num(o, false, le(t->v + 4 * i, 4));
		}
		if (o->j)
			de_json_arr_end(o->j);
		break;
	case K_ARGV: {
		/* NUL-separated: a JSON array of strings, or one text value
		 * with the separators shown as spaces (escaped content keeps
		 * real spaces distinguishable only in JSON). */
		size_t i = 0;
		if (o->j)
			de_json_arr_begin(o->j);
		while (i < t->len) {
			const uint8_t *e = memchr(t->v + i, 0, t->len - i);
			size_t m = e ? (size_t)(e - (t->v + i)) : t->len - i;
			if (!o->j && i)
				de_buf_putc(o->b, ' ');
			out_str(o, t->v + i, m);
			i += m + 1;
		}
		if (o->j)
			de_json_arr_end(o->j);
		break;
	}
	}
}

static int render(struct out *o, uint32_t type, const uint8_t *p, size_t n)
{
	if (type == DE_LREC_ALERT) {
		out_key(o, "alert");
		out_str(o, p, n);
		return 0;
	}
	size_t nf;
	const struct field *fs = schema(type, &nf);
	if (!fs) { /* a type this version does not know: its bytes */
		out_key(o, "payload_hex");
		out_hex(o, p, n);
		return 0;
	}
	int r = de_canon_check(p, n);
	size_t off = 0;
	unsigned last = 0;
	struct tlv t;
	/* Validate every field before writing any, so a bad payload is shown
	 * as a whole and never half-rendered. */
	while (r >= 0 && (r = tlv_next(p, n, &off, &last, &t)) > 0) {
		const struct field *f = find_field(fs, nf, t.tag);
		if (f && !kind_len_ok(f->kind, t.len))
			r = -EBADMSG;
	}
	if (r < 0) {
		out_key(o, "payload_error");
		out_str(o, (const uint8_t *)"malformed payload", 17);
		out_key(o, "payload_hex");
		out_hex(o, p, n);
		return -EBADMSG;
	}
	off = 0;
	last = 0;
	while (tlv_next(p, n, &off, &last, &t) > 0) {
		const struct field *f = find_field(fs, nf, t.tag);
		if (f) {
			out_key(o, f->name);
			out_value(o, f, &t);
		} else {
			char name[16];
			snprintf(name, sizeof(name), "tag_%u", t.tag);
			out_key(o, name);
			out_hex(o, t.v, t.len);
		}
	}
	return 0;
}

int de_canon_json(struct de_json *j, uint32_t type, const uint8_t *p, size_t n)
{
	struct out o = { .j = j, .first = true };
	return render(&o, type, p, n);
}

int de_canon_text(struct de_buf *b, uint32_t type, const uint8_t *p, size_t n)
{
	struct out o = { .b = b, .first = true };
	return render(&o, type, p, n);
}
