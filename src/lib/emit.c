/* emit.c: see emit.h.
 *
 * All three escapers walk the input once and copy runs of safe bytes in one
 * append, so the common case (plain ASCII) costs a scan and a memcpy.
 */
#include "emit.h"

#include <string.h>

static const char hexdig[] = "0123456789abcdef";

size_t de_utf8_seq_len(const unsigned char *s, size_t n)
{
	if (n == 0)
		return 0;
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0; /* continuation byte, overlong lead (c0/c1) or > f4 */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	/* C1 controls (U+0080..U+009F) are valid UTF-8 but terminals act on
	 * them; report them as 2-byte sequences and let callers decide. */
	return len;
}

static bool is_c1(const unsigned char *s, size_t len)
{
	return len == 2 && s[0] == 0xc2 && s[1] < 0xa0;
}

void de_emit_json_string(struct de_buf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	de_buf_reserve(b, n + 2);
	de_buf_putc(b, '"');
	size_t run = 0; /* start of the pending run of safe bytes */
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++;
			continue;
		}
		size_t len = c >= 0x80 ? de_utf8_seq_len(s + i, n - i) : 1;
		if (c >= 0x80 && len > 0 && !is_c1(s + i, len)) {
			i += len;
			continue;
		}
		de_buf_append(b, s + run, i - run);
		if (c >= 0x80 && len == 2) { /* C1 control: keep it, escaped */
			unsigned cp = s[i + 1];
			char esc[7] = { '\\', 'u', '0', '0', hexdig[cp >> 4], hexdig[cp & 15], 0 };
			de_buf_append(b, esc, 6);
			i += 2;
		} else if (c >= 0x80) { /* invalid UTF-8 byte */
			de_buf_append(b, "\xef\xbf\xbd", 3);
			i++;
		} else {
			switch (c) {
			case '"': de_buf_append(b, "\\\"", 2); break;
			case '\\': de_buf_append(b, "\\\\", 2); break;
			case '\n': de_buf_append(b, "\\n", 2); break;
			case '\t': de_buf_append(b, "\\t", 2); break;
			case '\r': de_buf_append(b, "\\r", 2); break;
			case '\b': de_buf_append(b, "\\b", 2); break;
			case '\f': de_buf_append(b, "\\f", 2); break;
			default: {
				char esc[7] = { '\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 15], 0 };
				de_buf_append(b, esc, 6);
			}
			}
			i++;
		}
		run = i;
	}
	de_buf_append(b, s + run, n - run);
	de_buf_putc(b, '"');
}

/* Shared by text and CSV: append the escaped form of one unsafe unit at
 * s[i] (returns its length in input bytes). */
static size_t text_escape_one(struct de_buf *b, const unsigned char *s, size_t n, size_t i)
{
	unsigned char c = s[i];
	char esc[5] = { '\\', 'x', 0, 0, 0 };
	switch (c) {
	case '\\': de_buf_append(b, "\\\\", 2); return 1;
	case '\n': de_buf_append(b, "\\n", 2); return 1;
	case '\t': de_buf_append(b, "\\t", 2); return 1;
	case '\r': de_buf_append(b, "\\r", 2); return 1;
	case 0x1b: de_buf_append(b, "\\e", 2); return 1;
	default: break;
	}
	size_t len = c >= 0x80 ? de_utf8_seq_len(s + i, n - i) : 1;
	if (len == 2 && is_c1(s + i, 2)) {
		/* C1 control: show both bytes so nothing is lost */
		for (size_t k = 0; k < 2; k++) {
			esc[2] = hexdig[s[i + k] >> 4];
			esc[3] = hexdig[s[i + k] & 15];
			de_buf_append(b, esc, 4);
		}
		return 2;
	}
	esc[2] = hexdig[c >> 4];
	esc[3] = hexdig[c & 15];
	de_buf_append(b, esc, 4);
	return 1;
}

/* Length of the safe (printable, valid, non-C1) unit at s[i], 0 if unsafe. */
static size_t text_safe_len(const unsigned char *s, size_t n, size_t i)
{
	unsigned char c = s[i];
	if (c >= 0x20 && c < 0x7f)
		return c == '\\' ? 0 : 1;
	if (c < 0x80)
		return 0;
	size_t len = de_utf8_seq_len(s + i, n - i);
	if (len == 0 || is_c1(s + i, len))
		return 0;
	return len;
}

void de_emit_text(struct de_buf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t run = 0, i = 0;
	while (i < n) {
		size_t len = text_safe_len(s, n, i);
		if (len) {
			i += len;
			continue;
		}
		de_buf_append(b, s + run, i - run);
		i += text_escape_one(b, s, n, i);
		run = i;
	}
	de_buf_append(b, s + run, n - run);
}

size_t de_emit_text_width(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t w = 0, i = 0;
	while (i < n) {
		size_t len = text_safe_len(s, n, i);
		if (len) {
			w++;
			i += len;
			continue;
		}
		unsigned char c = s[i];
		if (c == '\\' || c == '\n' || c == '\t' || c == '\r' || c == 0x1b) {
			w += 2;
			i++;
		} else {
			size_t l = c >= 0x80 ? de_utf8_seq_len(s + i, n - i) : 1;
			if (l == 2 && is_c1(s + i, 2)) {
				w += 8;
				i += 2;
			} else {
				w += 4;
				i++;
			}
		}
	}
	return w;
}

void de_emit_csv_field(struct de_buf *b, const char *s, size_t n)
{
	struct de_buf tmp = DE_BUF_INIT;
	if (n && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@'))
		de_buf_putc(&tmp, '\'');
	de_emit_text(&tmp, s, n);
	const char *t = de_buf_str(&tmp);
	if (tmp.err) {
		b->err = b->err ? b->err : tmp.err;
	} else if (strpbrk(t, ",\"' ") || tmp.len == 0) {
		/* Quote anything with a separator, a quote or spaces; double the
		 * quotes (RFC 4180). Empty fields are quoted so they are not read
		 * as missing. */
		de_buf_putc(b, '"');
		for (const char *p = t; *p; p++) {
			if (*p == '"')
				de_buf_putc(b, '"');
			de_buf_putc(b, *p);
		}
		de_buf_putc(b, '"');
	} else {
		de_buf_append(b, t, tmp.len);
	}
	de_buf_free(&tmp);
}

/* --- JSON writer ------------------------------------------------------- */

void de_json_init(struct de_json *j, struct de_buf *b)
{
	memset(j, 0, sizeof(*j));
	j->b = b;
	j->first[0] = true;
}

/* Called before every value and key: writes the separating comma. */
static void json_sep(struct de_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!j->first[j->depth])
		de_buf_putc(j->b, ',');
	j->first[j->depth] = false;
}

static void json_open(struct de_json *j, char c)
{
	json_sep(j);
	de_buf_putc(j->b, c);
	if (j->depth + 1 >= DE_JSON_MAX_DEPTH) {
		j->b->err = j->b->err ? j->b->err : -E2BIG;
		return;
	}
	j->depth++;
	j->first[j->depth] = true;
}

static void json_close(struct de_json *j, char c)
{
	de_buf_putc(j->b, c);
	if (j->depth > 0)
		j->depth--;
}

void de_json_obj_begin(struct de_json *j) { json_open(j, '{'); }
void de_json_obj_end(struct de_json *j) { json_close(j, '}'); }
void de_json_arr_begin(struct de_json *j) { json_open(j, '['); }
void de_json_arr_end(struct de_json *j) { json_close(j, ']'); }

void de_json_key(struct de_json *j, const char *key)
{
	json_sep(j);
	de_emit_json_string(j->b, key, strlen(key));
	de_buf_putc(j->b, ':');
	j->after_key = true;
}

void de_json_str(struct de_json *j, const char *s, size_t n)
{
	json_sep(j);
	de_emit_json_string(j->b, s, n);
}

void de_json_cstr(struct de_json *j, const char *s)
{
	if (!s)
		de_json_null(j);
	else
		de_json_str(j, s, strlen(s));
}

/* Decimal digits of v into the end of tmp[24]; returns the start. printf
 * is the hot spot of a JSON snapshot (~60 numbers per process). */
static char *u64_digits(uint64_t v, char tmp[24])
{
	char *p = tmp + 24;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

void de_json_int(struct de_json *j, int64_t v)
{
	json_sep(j);
	char tmp[24];
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	char *p = u64_digits(mag, tmp);
	if (v < 0)
		*--p = '-';
	de_buf_append(j->b, p, (size_t)(tmp + 24 - p));
}

void de_json_uint(struct de_json *j, uint64_t v)
{
	json_sep(j);
	char tmp[24];
	char *p = u64_digits(v, tmp);
	de_buf_append(j->b, p, (size_t)(tmp + 24 - p));
}

void de_json_bool(struct de_json *j, bool v)
{
	json_sep(j);
	de_buf_puts(j->b, v ? "true" : "false");
}

void de_json_null(struct de_json *j)
{
	json_sep(j);
	de_buf_puts(j->b, "null");
}

void de_json_raw(struct de_json *j, const char *s)
{
	json_sep(j);
	de_buf_puts(j->b, s);
}
