/* ledger_note.c: C2SP checkpoints and signed notes (ledger_note.h). */
#include "ledger_note.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "emit.h"
#include "log.h"
#include "macros.h"

#define SIG_PREFIX "\xe2\x80\x94 " /* U+2014 EM DASH, space */
#define SIG_PREFIX_LEN 4
#define ED25519_ALG 0x01

bool de_note_name_ok(const char *s)
{
	size_t n = strnlen(s, DE_NOTE_NAME_MAX);
	if (n == 0 || n >= DE_NOTE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == '+')
			return false;
	return true;
}

static uint32_t key_id(const char *name, const uint8_t *pk)
{
	size_t nl = strlen(name);
	uint8_t buf[DE_NOTE_NAME_MAX + 2 + DE_ED25519_PK_LEN];
	memcpy(buf, name, nl);
	buf[nl] = '\n';
	buf[nl + 1] = ED25519_ALG;
	memcpy(buf + nl + 2, pk, DE_ED25519_PK_LEN);
	struct de_hashes h;
	if (de_hash_mem(buf, nl + 2 + DE_ED25519_PK_LEN, DE_HASH_SHA256, &h) < 0)
		return 0;
	return (uint32_t)h.sha256[0] << 24 | (uint32_t)h.sha256[1] << 16 |
	       (uint32_t)h.sha256[2] << 8 | h.sha256[3];
}

int de_vkey_make(const char *name, const uint8_t *pk, struct de_vkey *out)
{
	if (!de_note_name_ok(name))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	strcpy(out->name, name);
	memcpy(out->pk, pk, DE_ED25519_PK_LEN);
	out->id = key_id(name, pk);
	return 0;
}

static void b64(struct de_buf *out, const uint8_t *p, size_t n)
{
	char tmp[sodium_base64_ENCODED_LEN(128, sodium_base64_VARIANT_ORIGINAL)];
	if (n > 128)
		return;
	sodium_bin2base64(tmp, sizeof(tmp), p, n, sodium_base64_VARIANT_ORIGINAL);
	de_buf_puts(out, tmp);
}

/* Decode exactly s[0..n) as canonical padded base64 of exactly want bytes. */
static int unb64(const char *s, size_t n, uint8_t *out, size_t want)
{
	size_t got = 0;
	const char *end = NULL;
	if (n != sodium_base64_ENCODED_LEN(want, sodium_base64_VARIANT_ORIGINAL) - 1)
		return -EBADMSG;
	if (sodium_base642bin(out, want, s, n, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) !=
		    0 ||
	    got != want || end != s + n)
		return -EBADMSG;
	return 0;
}

int de_vkey_format(const struct de_vkey *vk, struct de_buf *out)
{
	uint8_t k[1 + DE_ED25519_PK_LEN] = { ED25519_ALG };
	memcpy(k + 1, vk->pk, DE_ED25519_PK_LEN);
	de_buf_printf(out, "%s+%08x+", vk->name, vk->id);
	b64(out, k, sizeof(k));
	return out->err;
}

int de_vkey_parse(const char *s, size_t n, struct de_vkey *out)
{
	if (n && s[n - 1] == '\n')
		n--;
	const char *p1 = memchr(s, '+', n);
	if (!p1 || (size_t)(p1 - s) >= DE_NOTE_NAME_MAX)
		return -EBADMSG;
	const char *p2 = memchr(p1 + 1, '+', n - (size_t)(p1 + 1 - s));
	if (!p2 || p2 - p1 != 9)
		return -EBADMSG;
	char name[DE_NOTE_NAME_MAX];
	memcpy(name, s, (size_t)(p1 - s));
	name[p1 - s] = '\0';
	if (strlen(name) != (size_t)(p1 - s))
		return -EBADMSG; /* a NUL inside the name */
	uint32_t id = 0;
	for (const char *h = p1 + 1; h < p2; h++) {
		int d = *h >= '0' && *h <= '9' ? *h - '0' : *h >= 'a' && *h <= 'f' ? *h - 'a' + 10 : -1;
		if (d < 0)
			return -EBADMSG;
		id = id << 4 | (uint32_t)d;
	}
	uint8_t k[1 + DE_ED25519_PK_LEN];
	if (unb64(p2 + 1, n - (size_t)(p2 + 1 - s), k, sizeof(k)) < 0 || k[0] != ED25519_ALG)
		return -EBADMSG;
	if (de_vkey_make(name, k + 1, out) < 0 || out->id != id)
		return -EBADMSG;
	return 0;
}

static int body(const struct de_checkpoint *cp, struct de_buf *out)
{
	if (!de_note_name_ok(cp->origin))
		return -EINVAL;
	de_buf_printf(out, "%s\n%llu\n", cp->origin, (unsigned long long)cp->size);
	b64(out, cp->root, DE_HASH_LEN);
	de_buf_putc(out, '\n');
	return out->err;
}

int de_checkpoint_sign(const struct de_checkpoint *cp, struct de_ledger_key *k,
		       struct de_buf *out)
{
	size_t start = out->len;
	int r = body(cp, out);
	if (r < 0)
		return r;
	uint8_t sig[4 + DE_ED25519_SIG_LEN];
	uint32_t id = key_id(cp->origin, de_ledger_key_public(k));
	sig[0] = (uint8_t)(id >> 24);
	sig[1] = (uint8_t)(id >> 16);
	sig[2] = (uint8_t)(id >> 8);
	sig[3] = (uint8_t)id;
	r = de_ledger_key_sign(k, out->data + start, out->len - start, sig + 4);
	if (r < 0)
		return r;
	de_buf_printf(out, "\n" SIG_PREFIX "%s ", cp->origin);
	b64(out, sig, sizeof(sig));
	de_buf_putc(out, '\n');
	return out->err;
}

/* Parsing state: lines of the note. */
struct line {
	const char *p;
	size_t n; /* without the newline */
};

static int next_line(const char *s, size_t n, size_t *off, struct line *l)
{
	if (*off >= n)
		return 0;
	const char *nl = memchr(s + *off, '\n', n - *off);
	if (!nl)
		return -EAGAIN; /* a note always ends with a newline */
	l->p = s + *off;
	l->n = (size_t)(nl - l->p);
	*off += l->n + 1;
	return 1;
}

static bool text_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k = de_utf8_seq_len((const unsigned char *)p + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

static int parse_u64(const char *p, size_t n, uint64_t *out)
{
	if (n == 0 || n > 20 || (n > 1 && p[0] == '0'))
		return -EBADMSG;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EBADMSG;
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* One parsed signature line. */
struct sigline {
	struct line name;
	const char *b64;
	size_t b64_len;
};

struct note {
	size_t body_len;
	unsigned nsig;
	struct sigline sig[DE_NOTE_MAX_SIGS];
};

static int fail(char *why, size_t whylen, size_t off, const char *reason)
{
	de_why(why, whylen, "offset %zu: %s", off, reason);
	return -EBADMSG;
}

static int parse(const char *s, size_t n, struct de_checkpoint *cp, struct note *nt,
		 size_t *note_len, char *why, size_t whylen)
{
	size_t off = 0;
	struct line l;
	int r;
	unsigned nbody = 0;
	memset(cp, 0, sizeof(*cp));
	nt->nsig = 0;
	/* Body: non-empty lines up to the empty line. */
	for (;;) {
		size_t at = off;
		r = next_line(s, n, &off, &l);
		if (r <= 0 || off > DE_NOTE_MAX)
			return off > DE_NOTE_MAX ? -EMSGSIZE : fail(why, whylen, at, "unterminated note");
		if (l.n == 0)
			break;
		if (!text_ok(l.p, l.n))
			return fail(why, whylen, at, "control character or invalid UTF-8");
		if (nbody == 0) {
			if (l.n >= DE_NOTE_NAME_MAX)
				return fail(why, whylen, at, "origin too long");
			memcpy(cp->origin, l.p, l.n);
			cp->origin[l.n] = '\0';
			if (!de_note_name_ok(cp->origin))
				return fail(why, whylen, at, "origin is not a valid name");
		} else if (nbody == 1) {
			if (parse_u64(l.p, l.n, &cp->size) < 0)
				return fail(why, whylen, at, "tree size is not a plain decimal");
		} else if (nbody == 2) {
			if (unb64(l.p, l.n, cp->root, DE_HASH_LEN) < 0)
				return fail(why, whylen, at, "root is not base64 of 32 bytes");
		} else if (nbody > 2 + DE_NOTE_MAX_SIGS) {
			return fail(why, whylen, at, "too many extension lines");
		}
		nbody++;
	}
	if (nbody < 3)
		return fail(why, whylen, off, "checkpoint body needs origin, size and root");
	nt->body_len = off - 1;
	/* Signatures: lines starting with the em dash, up to an empty line or
	 * the end. */
	for (;;) {
		size_t at = off, save = off;
		r = next_line(s, n, &off, &l);
		if (r == -EAGAIN)
			return fail(why, whylen, at, "unterminated signature line");
		if (r == 0 || l.n == 0) {
			off = save;
			break;
		}
		if (off > DE_NOTE_MAX)
			return -EMSGSIZE;
		if (l.n < SIG_PREFIX_LEN || memcmp(l.p, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
			return fail(why, whylen, at, "signature line must start with an em dash");
		if (!text_ok(l.p, l.n))
			return fail(why, whylen, at, "control character or invalid UTF-8");
		const char *name = l.p + SIG_PREFIX_LEN;
		size_t rest = l.n - SIG_PREFIX_LEN;
		const char *sp = memchr(name, ' ', rest);
		if (!sp || sp == name || memchr(sp + 1, ' ', rest - (size_t)(sp + 1 - name)))
			return fail(why, whylen, at, "signature line is not '<name> <signature>'");
		if (nt->nsig == DE_NOTE_MAX_SIGS)
			return fail(why, whylen, at, "too many signatures");
		struct sigline *sl = &nt->sig[nt->nsig++];
		sl->name.p = name;
		sl->name.n = (size_t)(sp - name);
		sl->b64 = sp + 1;
		sl->b64_len = rest - sl->name.n - 1;
		if (sl->b64_len < 8)
			return fail(why, whylen, at, "signature too short");
	}
	if (nt->nsig == 0)
		return fail(why, whylen, off, "note has no signature");
	*note_len = off;
	return 0;
}

int de_checkpoint_parse(const char *s, size_t n, struct de_checkpoint *cp, size_t *note_len,
			char *why, size_t whylen)
{
	struct note nt;
	return parse(s, n, cp, &nt, note_len, why, whylen);
}

int de_checkpoint_verify(const char *s, size_t n, const struct de_vkey *vk,
			 struct de_checkpoint *cp, size_t *note_len, char *why, size_t whylen)
{
	struct note nt;
	int r = parse(s, n, cp, &nt, note_len, why, whylen);
	if (r < 0)
		return r;
	size_t vn = strlen(vk->name);
	bool named = false;
	for (unsigned i = 0; i < nt.nsig; i++) {
		const struct sigline *sl = &nt.sig[i];
		if (sl->name.n != vn || memcmp(sl->name.p, vk->name, vn) != 0)
			continue;
		named = true;
		uint8_t sig[4 + DE_ED25519_SIG_LEN];
		if (unb64(sl->b64, sl->b64_len, sig, sizeof(sig)) < 0)
			continue; /* another algorithm's signature under this name */
		uint32_t id = (uint32_t)sig[0] << 24 | (uint32_t)sig[1] << 16 |
			      (uint32_t)sig[2] << 8 | sig[3];
		if (id != vk->id)
			continue;
		if (crypto_sign_verify_detached(sig + 4, (const unsigned char *)s, nt.body_len,
						vk->pk) != 0) {
			de_why(why, whylen, "signature by %s does not verify", vk->name);
			return -EKEYREJECTED;
		}
		if (strcmp(cp->origin, vk->name) != 0) {
			de_why(why, whylen, "origin is not %s", vk->name);
			return -EKEYREJECTED;
		}
		return 0;
	}
	de_why(why, whylen, named ? "signed by another key named %s" : "no signature by %s",
	       vk->name);
	return -ENOKEY;
}
