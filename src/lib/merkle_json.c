/* merkle_json.c: writer (through emit's JSON writer) and strict parser of
 * the proof document.
 *
 * The parser is a hand-written cursor over a fixed grammar: one object of
 * known keys whose values are strings, integers or one array of strings.
 * It never allocates, never trusts a length it has not counted, and stops
 * at the first error with its byte offset.
 */
#include "merkle_json.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "emit.h"
#include "macros.h"

/* --- writer ---------------------------------------------------------------- */

static void put_hex(struct de_json *j, const char *key, const uint8_t *p, size_t len)
{
	char hex[2 * DE_MERKLE_MAX_HASH + 1];
	de_hex(p, len, hex);
	if (key)
		de_json_key(j, key);
	de_json_str(j, hex, 2 * len);
}

int de_merkle_proof_write(struct de_buf *b, const struct de_merkle_proof_doc *d)
{
	const char *algo = de_merkle_algo_name(d->algo);
	if (!algo || (d->type != DE_MERKLE_INCLUSION && d->type != DE_MERKLE_CONSISTENCY) ||
	    d->proof.count > DE_MERKLE_MAX_PROOF)
		return -EINVAL;
	size_t len = DE_HASH_LEN;
	struct de_json j;
	de_json_init(&j, b);
	de_json_obj_begin(&j);
	de_json_key(&j, "version");
	de_json_uint(&j, 1);
	de_json_key(&j, "type");
	de_json_cstr(&j, d->type == DE_MERKLE_INCLUSION ? "inclusion" : "consistency");
	de_json_key(&j, "hash");
	de_json_cstr(&j, algo);
	if (d->type == DE_MERKLE_INCLUSION) {
		de_json_key(&j, "leaf_index");
		de_json_uint(&j, d->leaf_index);
	} else {
		de_json_key(&j, "first_size");
		de_json_uint(&j, d->first_size);
		put_hex(&j, "first_root", d->first_root, len);
	}
	de_json_key(&j, "tree_size");
	de_json_uint(&j, d->tree_size);
	if (d->type == DE_MERKLE_INCLUSION)
		put_hex(&j, "leaf_hash", d->leaf_hash, len);
	put_hex(&j, "root", d->root, len);
	de_json_key(&j, "proof");
	de_json_arr_begin(&j);
	for (unsigned i = 0; i < d->proof.count; i++)
		put_hex(&j, NULL, d->proof.hash[i], len);
	de_json_arr_end(&j);
	de_json_obj_end(&j);
	return b->err;
}

/* --- parser ---------------------------------------------------------------- */

enum field {
	F_VERSION,
	F_TYPE,
	F_HASH,
	F_LEAF_INDEX,
	F_TREE_SIZE,
	F_FIRST_SIZE,
	F_LEAF_HASH,
	F_ROOT,
	F_FIRST_ROOT,
	F_PROOF,
	F_COUNT
};

static const char *const field_names[F_COUNT] = {
	[F_VERSION] = "version",	 [F_TYPE] = "type",	    [F_HASH] = "hash",
	[F_LEAF_INDEX] = "leaf_index", [F_TREE_SIZE] = "tree_size", [F_FIRST_SIZE] = "first_size",
	[F_LEAF_HASH] = "leaf_hash",	 [F_ROOT] = "root",	    [F_FIRST_ROOT] = "first_root",
	[F_PROOF] = "proof",
};

/* Hash-valued fields are kept as hex until the algorithm (hence the length)
 * is known: "hash" may come last. */
#define HEX_MAX (2 * DE_MERKLE_MAX_HASH)

struct parser {
	const char *s;
	size_t n, pos;
	char *err;
	size_t errlen;
};

struct raw {
	unsigned seen; /* bit per field */
	uint64_t version, leaf_index, tree_size, first_size;
	char type[16], hash[16];
	size_t type_len, hash_len;
	char hex[3][HEX_MAX]; /* leaf_hash, root, first_root */
	size_t hex_len[3];
	unsigned nproof;
	char proof[DE_MERKLE_MAX_PROOF][HEX_MAX];
	size_t proof_len[DE_MERKLE_MAX_PROOF];
};

static int fail(struct parser *p, const char *fmt, ...) DE_PRINTF(2, 3);
static void set_err(char *err, size_t errlen, const char *msg)
{
	if (!err || !errlen)
		return;
	size_t k = DE_MIN(strlen(msg), errlen - 1);
	memcpy(err, msg, k);
	err[k] = '\0';
}

static int fail(struct parser *p, const char *fmt, ...)
{
	char msg[160];
	int k = snprintf(msg, sizeof(msg), "offset %zu: ", p->pos);
	if (k > 0 && (size_t)k < sizeof(msg)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg + k, sizeof(msg) - (size_t)k, fmt, ap);
		va_end(ap);
	}
	set_err(p->err, p->errlen, msg);
	return -EBADMSG;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				 p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

/* Consume c (after whitespace). */
static int expect(struct parser *p, char c)
{
	skip_ws(p);
	if (p->pos >= p->n || p->s[p->pos] != c)
		return fail(p, "expected '%c'", c);
	p->pos++;
	return 0;
}

/* A string of at most cap bytes without escapes or control characters,
 * copied to out. */
static int parse_string(struct parser *p, char *out, size_t cap, size_t *len)
{
	int r = expect(p, '"');
	if (r < 0)
		return r;
	size_t k = 0;
	for (;;) {
		if (p->pos >= p->n)
			return fail(p, "unterminated string");
		unsigned char c = (unsigned char)p->s[p->pos];
		if (c == '"')
			break;
		if (c == '\\')
			return fail(p, "escapes are not allowed in this document");
		if (c < 0x20 || c >= 0x7f)
			return fail(p, "unexpected byte 0x%02x in string", c);
		if (k == cap)
			return fail(p, "string too long (max %zu)", cap);
		out[k++] = (char)c;
		p->pos++;
	}
	p->pos++;
	*len = k;
	return 0;
}

static int parse_uint(struct parser *p, uint64_t *out)
{
	skip_ws(p);
	size_t start = p->pos;
	uint64_t v = 0;
	while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
		unsigned d = (unsigned)(p->s[p->pos] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return fail(p, "integer out of range");
		v = v * 10 + d;
		p->pos++;
	}
	if (p->pos == start)
		return fail(p, "expected an unsigned integer");
	if (p->s[start] == '0' && p->pos - start > 1)
		return fail(p, "leading zero");
	if (p->pos < p->n && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
		return fail(p, "expected an unsigned integer");
	*out = v;
	return 0;
}

static int parse_proof(struct parser *p, struct raw *raw)
{
	int r = expect(p, '[');
	if (r < 0)
		return r;
	skip_ws(p);
	if (p->pos < p->n && p->s[p->pos] == ']') {
		p->pos++;
		return 0;
	}
	for (;;) {
		if (raw->nproof == DE_MERKLE_MAX_PROOF)
			return fail(p, "more than %u proof elements", DE_MERKLE_MAX_PROOF);
		r = parse_string(p, raw->proof[raw->nproof], HEX_MAX, &raw->proof_len[raw->nproof]);
		if (r < 0)
			return r;
		raw->nproof++;
		skip_ws(p);
		if (p->pos < p->n && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		return expect(p, ']');
	}
}

static int parse_value(struct parser *p, enum field f, struct raw *raw)
{
	switch (f) {
	case F_VERSION:
		return parse_uint(p, &raw->version);
	case F_LEAF_INDEX:
		return parse_uint(p, &raw->leaf_index);
	case F_TREE_SIZE:
		return parse_uint(p, &raw->tree_size);
	case F_FIRST_SIZE:
		return parse_uint(p, &raw->first_size);
	case F_TYPE:
		return parse_string(p, raw->type, sizeof(raw->type), &raw->type_len);
	case F_HASH:
		return parse_string(p, raw->hash, sizeof(raw->hash), &raw->hash_len);
	case F_LEAF_HASH:
	case F_ROOT:
	case F_FIRST_ROOT: {
		unsigned i = f - F_LEAF_HASH;
		return parse_string(p, raw->hex[i], HEX_MAX, &raw->hex_len[i]);
	}
	case F_PROOF:
		return parse_proof(p, raw);
	default:
		return fail(p, "internal: bad field");
	}
}

static int parse_object(struct parser *p, struct raw *raw)
{
	int r = expect(p, '{');
	if (r < 0)
		return r;
	skip_ws(p);
	if (p->pos < p->n && p->s[p->pos] == '}')
		return fail(p, "empty document");
	for (;;) {
		char key[16];
		size_t klen;
		skip_ws(p);
		size_t kpos = p->pos;
		r = parse_string(p, key, sizeof(key), &klen);
		if (r < 0) {
			p->pos = kpos;
			return r == -EBADMSG ? fail(p, "expected a known field name") : r;
		}
		enum field f = F_COUNT;
		for (unsigned i = 0; i < F_COUNT; i++)
			if (strlen(field_names[i]) == klen && memcmp(field_names[i], key, klen) == 0)
				f = (enum field)i;
		if (f == F_COUNT) {
			p->pos = kpos;
			return fail(p, "unknown field");
		}
		if (raw->seen & (1u << f)) {
			p->pos = kpos;
			return fail(p, "duplicate field \"%s\"", field_names[f]);
		}
		raw->seen |= 1u << f;
		if ((r = expect(p, ':')) < 0 || (r = parse_value(p, f, raw)) < 0)
			return r;
		skip_ws(p);
		if (p->pos < p->n && p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		return expect(p, '}');
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly 2*len lower-case hex digits. */
static bool unhex(const char *hex, size_t hexlen, uint8_t *out, size_t len)
{
	if (hexlen != 2 * len)
		return false;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

int de_merkle_proof_parse(const char *s, size_t n, struct de_merkle_proof_doc *out, char *err,
			  size_t errlen)
{
	struct parser p = { s, n, 0, err, errlen };
	if (err && errlen)
		err[0] = '\0';
	if (n > DE_MERKLE_JSON_MAX) {
		set_err(err, errlen, "document larger than 16384 bytes");
		_Static_assert(DE_MERKLE_JSON_MAX == 16384, "message above");
		return -EMSGSIZE;
	}
	/* ~4.6 KiB: the raw text of every field before the checks below. */
	struct raw raw;
	memset(&raw, 0, sizeof(raw));
	int r = parse_object(&p, &raw);
	if (r < 0)
		return r;
	skip_ws(&p);
	if (p.pos != p.n)
		return fail(&p, "trailing data after the document");

	/* Semantic checks are reported at the end of the document. */
	const unsigned common = 1u << F_VERSION | 1u << F_TYPE | 1u << F_HASH | 1u << F_TREE_SIZE |
				1u << F_ROOT | 1u << F_PROOF;
	struct de_merkle_proof_doc d;
	memset(&d, 0, sizeof(d));
	unsigned want;
	if (!(raw.seen & (1u << F_TYPE)))
		return fail(&p, "missing field \"type\"");
	if (raw.type_len == 9 && memcmp(raw.type, "inclusion", 9) == 0) {
		d.type = DE_MERKLE_INCLUSION;
		want = common | 1u << F_LEAF_INDEX | 1u << F_LEAF_HASH;
	} else if (raw.type_len == 11 && memcmp(raw.type, "consistency", 11) == 0) {
		d.type = DE_MERKLE_CONSISTENCY;
		want = common | 1u << F_FIRST_SIZE | 1u << F_FIRST_ROOT;
	} else {
		return fail(&p, "unknown proof type");
	}
	for (unsigned i = 0; i < F_COUNT; i++) {
		if ((want & (1u << i)) && !(raw.seen & (1u << i)))
			return fail(&p, "missing field \"%s\"", field_names[i]);
		if (!(want & (1u << i)) && (raw.seen & (1u << i)))
			return fail(&p, "field \"%s\" does not belong in a %s proof", field_names[i],
				    d.type == DE_MERKLE_INCLUSION ? "inclusion" : "consistency");
	}
	if (raw.version != 1)
		return fail(&p, "unsupported version %llu", (unsigned long long)raw.version);
	d.algo = de_merkle_algo_from_name(raw.hash, raw.hash_len);
	if (!d.algo)
		return fail(&p, "unknown hash algorithm");
	size_t len = DE_HASH_LEN;
	d.tree_size = raw.tree_size;
	d.leaf_index = raw.leaf_index;
	d.first_size = raw.first_size;
	if (!unhex(raw.hex[1], raw.hex_len[1], d.root, len))
		return fail(&p, "\"root\" is not %zu bytes of lower-case hex", len);
	if (d.type == DE_MERKLE_INCLUSION && !unhex(raw.hex[0], raw.hex_len[0], d.leaf_hash, len))
		return fail(&p, "\"leaf_hash\" is not %zu bytes of lower-case hex", len);
	if (d.type == DE_MERKLE_CONSISTENCY &&
	    !unhex(raw.hex[2], raw.hex_len[2], d.first_root, len))
		return fail(&p, "\"first_root\" is not %zu bytes of lower-case hex", len);
	for (unsigned i = 0; i < raw.nproof; i++)
		if (!unhex(raw.proof[i], raw.proof_len[i], d.proof.hash[i], len))
			return fail(&p, "proof element %u is not %zu bytes of lower-case hex", i,
				    len);
	d.proof.count = raw.nproof;
	*out = d;
	return 0;
}

int de_merkle_proof_doc_verify(const struct de_merkle_proof_doc *d)
{
	struct de_merkle_hasher h;
	int r = de_merkle_hasher_init(&h, d->algo);
	if (r < 0)
		return r;
	if (d->type == DE_MERKLE_INCLUSION)
		r = de_merkle_verify_inclusion(&h, d->leaf_index, d->tree_size, d->leaf_hash,
					       &d->proof, d->root);
	else if (d->type == DE_MERKLE_CONSISTENCY)
		r = de_merkle_verify_consistency(&h, d->first_size, d->tree_size, d->first_root,
						 d->root, &d->proof);
	else
		r = -EINVAL;
	de_merkle_hasher_done(&h);
	return r;
}
