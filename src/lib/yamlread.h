/* yamlread.h: reading untrusted YAML safely, for every YAML file DaemonEye
 * takes (configuration, rule files).
 *
 * libyaml's event API: every event carries its line and column, no
 * document tree is built, and a walk stops at the first error. Anchors,
 * aliases and tags are refused outright (no billion laughs, no type
 * games); scalars stay text and are typed by the caller's schema, so YAML
 * 1.1 surprises (0755 as octal, "no" as false) cannot happen. libyaml
 * does not detect duplicate keys: callers that walk mappings must. Files
 * are read whole (regular files only, capped in size). Errors are one
 * line, "FILE:LINE:COL: reason", with the file name and any quoted value
 * escaped for a terminal.
 */
#ifndef DE_YAMLREAD_H
#define DE_YAMLREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "buf.h"
#include "macros.h"

struct de_yaml {
	yaml_parser_t parser;
	const char *name;          /* raw; escaped in messages */
	const unsigned char *data;
	size_t len;
	char *err;
	size_t errlen;
};

/* Start reading data[0..len) (not copied: it must outlive the reader).
 * Returns 0 or -ENOMEM (reported in err). */
int de_yaml_open(struct de_yaml *y, const char *name, const void *data, size_t len, char *err,
		 size_t errlen);
void de_yaml_close(struct de_yaml *y);

/* Next event; syntax errors, aliases, anchors and tags are errors
 * (reported, -EINVAL). */
int de_yaml_next(struct de_yaml *y, yaml_event_t *ev);

/* Report "NAME:LINE:COL: message" (line and col 0-based, as in marks).
 * Returns -EINVAL. */
int de_yaml_fail_at(struct de_yaml *y, size_t line, size_t col, const char *fmt, ...)
	DE_PRINTF(4, 5);
#define DE_YAML_FAIL(y, mark, ...) de_yaml_fail_at((y), (mark).line, (mark).column, __VA_ARGS__)

static inline void de_yaml_event_freep(yaml_event_t *e) { yaml_event_delete(e); }
#define _cleanup_yaml_event_ _cleanup_(de_yaml_event_freep)

/* Consume the rest of a node whose first event `first` was just read (a
 * scalar: nothing; a mapping or a list: up to its end). Returns 0 or a
 * negative errno (reported). */
int de_yaml_skip(struct de_yaml *y, const yaml_event_t *first);

/* An empty plain scalar (`key:` with nothing after it). */
bool de_yaml_is_null(const yaml_event_t *ev);
/* "a mapping", "a list" or the quoted scalar, for "expected X, got Y". */
const char *de_yaml_got(const yaml_event_t *ev, char *q, size_t qlen);

/* Untrusted bytes for a one-line message: the first DE_YAML_QUOTE_MAX
 * bytes escaped (emit.h text), then "..." when cut. Returns out. */
#define DE_YAML_QUOTE_MAX 48
#define DE_YAML_QBUF (DE_YAML_QUOTE_MAX * 4 + 8)
const char *de_yaml_quote(char *out, size_t outlen, const char *s, size_t n);
/* A whole name (file, variable) escaped into b; returns its text. */
const char *de_yaml_escape(struct de_buf *b, const char *s);

/* Read a YAML file whole into out (NUL-terminated): regular files only, at
 * most max bytes. With `optional`, a missing file is not an error: returns
 * 0 with *found false. Errors are reported in err. */
int de_yaml_read_file(const char *path, bool optional, size_t max, struct de_buf *out,
		      bool *found, char *err, size_t errlen);

#endif
