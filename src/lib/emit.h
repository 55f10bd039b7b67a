/* emit.h: safe output of untrusted text as JSON, CSV and terminal tables.
 *
 * Command lines, file names and comm are attacker-controlled bytes. Every
 * writer here guarantees its format survives them:
 *  - JSON: control characters as \uXXXX (or \n, \t, ...), '"' and '\\'
 *    escaped, invalid UTF-8 bytes replaced by U+FFFD so the output is always
 *    valid UTF-8 JSON that strict parsers accept.
 *  - text (tables, logs): printable UTF-8 kept; backslash doubled; control
 *    bytes, DEL, C1 controls and invalid UTF-8 bytes as \n, \t, \e or \xNN, so
 *    no escape sequence reaches the terminal and nothing is lost.
 *  - CSV: the text escaping above, then RFC 4180 quoting when needed; a
 *    field starting with = + - @ gets a leading ' so spreadsheets do not run
 *    it as a formula.
 * A small JSON writer keeps commas and nesting right.
 */
#ifndef DE_EMIT_H
#define DE_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

void de_emit_json_string(struct de_buf *b, const char *s, size_t n);
void de_emit_text(struct de_buf *b, const char *s, size_t n);
void de_emit_csv_field(struct de_buf *b, const char *s, size_t n);
/* Terminal columns the text-escaped form of s[0..n) takes (one per code
 * point; wide characters are not special-cased). */
size_t de_emit_text_width(const char *s, size_t n);

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when s[0] does not
 * start one (overlongs, surrogates and > U+10FFFF are invalid). */
size_t de_utf8_seq_len(const unsigned char *s, size_t n);

#define DE_JSON_MAX_DEPTH 32

struct de_json {
	struct de_buf *b;
	unsigned depth;
	bool first[DE_JSON_MAX_DEPTH]; /* no element written yet at this level */
	bool after_key;
};

void de_json_init(struct de_json *j, struct de_buf *b);
void de_json_obj_begin(struct de_json *j);
void de_json_obj_end(struct de_json *j);
void de_json_arr_begin(struct de_json *j);
void de_json_arr_end(struct de_json *j);
void de_json_key(struct de_json *j, const char *key);
void de_json_str(struct de_json *j, const char *s, size_t n);
void de_json_cstr(struct de_json *j, const char *s); /* NULL -> null */
void de_json_int(struct de_json *j, int64_t v);
void de_json_uint(struct de_json *j, uint64_t v);
void de_json_bool(struct de_json *j, bool v);
void de_json_null(struct de_json *j);
/* Append pre-formatted JSON (a number in text, a nested document). */
void de_json_raw(struct de_json *j, const char *s);

#endif
