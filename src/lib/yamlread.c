/* yamlread.c: safe reading of untrusted YAML (see yamlread.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emit.h"
#include "fileio.h"
#include "log.h"
#include "yamlread.h"

const char *de_yaml_quote(char *out, size_t outlen, const char *s, size_t n)
{
	struct de_buf b = DE_BUF_INIT;
	de_emit_text(&b, s, DE_MIN(n, (size_t)DE_YAML_QUOTE_MAX));
	if (n > DE_YAML_QUOTE_MAX)
		de_buf_puts(&b, "...");
	de_why(out, outlen, "%s", b.err ? "?" : de_buf_str(&b));
	de_buf_free(&b);
	return out;
}

const char *de_yaml_escape(struct de_buf *b, const char *s)
{
	de_emit_text(b, s, strlen(s));
	return b->err ? "?" : de_buf_str(b);
}

int de_yaml_open(struct de_yaml *y, const char *name, const void *data, size_t len, char *err,
		 size_t errlen)
{
	memset(y, 0, sizeof(*y));
	y->name = name;
	y->data = data;
	y->len = len;
	y->err = err;
	y->errlen = errlen;
	if (!yaml_parser_initialize(&y->parser)) {
		struct de_buf b = DE_BUF_INIT;
		de_why(err, errlen, "%s: out of memory", de_yaml_escape(&b, name));
		de_buf_free(&b);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&y->parser, data, len);
	return 0;
}

void de_yaml_close(struct de_yaml *y)
{
	yaml_parser_delete(&y->parser);
}

int de_yaml_fail_at(struct de_yaml *y, size_t line, size_t col, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r < 0)
		msg[0] = '\0';
	struct de_buf b = DE_BUF_INIT;
	de_why(y->err, y->errlen, "%s:%zu:%zu: %s", de_yaml_escape(&b, y->name), line + 1,
		      col + 1, msg);
	de_buf_free(&b);
	return -EINVAL;
}

/* libyaml's reader errors give a byte offset, not a mark: turn it into a
 * line and a column in characters. */
static int fail_offset(struct de_yaml *y, size_t off, const char *problem, int value)
{
	size_t line = 0, col = 0;
	off = DE_MIN(off, y->len);
	for (size_t i = 0; i < off; i++) {
		if (y->data[i] == '\n') {
			line++;
			col = 0;
		} else if ((y->data[i] & 0xc0) != 0x80) {
			col++;
		}
	}
	if (value < 0)
		return de_yaml_fail_at(y, line, col, "%s", problem);
	return de_yaml_fail_at(y, line, col, "%s (0x%02X)", problem, (unsigned)value);
}

/* Next event; syntax errors, aliases, anchors and tags are errors. */
int de_yaml_next(struct de_yaml *y, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&y->parser, ev)) {
		memset(ev, 0, sizeof(*ev));
		yaml_parser_t *p = &y->parser;
		const char *problem = p->problem ? p->problem : "invalid YAML";
		if (p->error == YAML_MEMORY_ERROR) {
			struct de_buf b = DE_BUF_INIT;
			de_why(y->err, y->errlen, "%s: out of memory", de_yaml_escape(&b, y->name));
			de_buf_free(&b);
			return -ENOMEM;
		}
		if (p->error == YAML_READER_ERROR)
			return fail_offset(y, p->problem_offset, problem, p->problem_value);
		if (p->context)
			return DE_YAML_FAIL(y, p->problem_mark, "%s (%s started at %zu:%zu)", problem,
					 p->context, p->context_mark.line + 1, p->context_mark.column + 1);
		return DE_YAML_FAIL(y, p->problem_mark, "%s", problem);
	}
	const yaml_char_t *anchor = NULL, *tag = NULL;
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return DE_YAML_FAIL(y, ev->start_mark, "aliases are not allowed");
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		break;
	}
	if (anchor)
		return DE_YAML_FAIL(y, ev->start_mark, "anchors are not allowed");
	if (tag)
		return DE_YAML_FAIL(y, ev->start_mark, "tags are not allowed");
	return 0;
}

bool de_yaml_is_null(const yaml_event_t *ev)
{
	return ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length == 0 &&
	       ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

const char *de_yaml_got(const yaml_event_t *ev, char *q, size_t qlen)
{
	if (ev->type == YAML_MAPPING_START_EVENT)
		return "a mapping";
	if (ev->type == YAML_SEQUENCE_START_EVENT)
		return "a list";
	char tmp[DE_YAML_QBUF];
	const char *v = (const char *)ev->data.scalar.value;
	de_why(q, qlen, "'%s'", de_yaml_quote(tmp, sizeof(tmp), v, ev->data.scalar.length));
	return q;
}

int de_yaml_read_file(const char *path, bool optional, size_t max, struct de_buf *out,
		      bool *found, char *err, size_t errlen)
{
	struct de_buf nb = DE_BUF_INIT;
	*found = false;
	/* O_NONBLOCK: a FIFO must not hang the open; it is refused below. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int r = 0;
	struct stat st;
	if (fd < 0) {
		r = de_neg_errno();
		if (optional && (r == -ENOENT || r == -ENOTDIR))
			return 0;
		/* A default location inside a directory we may not search (an
		 * unprivileged run with HOME=/root): whether the file exists
		 * cannot be known, so it is skipped, and said so. A file that
		 * visibly exists but cannot be read stays an error. */
		struct stat lst;
		if (optional && r == -EACCES && stat(path, &lst) < 0 && errno == EACCES) {
			log_warning("%s: cannot tell whether it exists (permission denied); skipped",
				    de_yaml_escape(&nb, path));
			de_buf_free(&nb);
			return 0;
		}
		de_why(err, errlen, "%s: %s", de_yaml_escape(&nb, path), strerror(-r));
	} else if (fstat(fd, &st) < 0) {
		r = de_neg_errno();
		de_why(err, errlen, "%s: %s", de_yaml_escape(&nb, path), strerror(-r));
	} else if (!S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		de_why(err, errlen, "%s: not a regular file", de_yaml_escape(&nb, path));
	} else if ((r = de_buf_reserve(out, max + 1)) < 0) {
		de_why(err, errlen, "%s: out of memory", de_yaml_escape(&nb, path));
	} else {
		ssize_t n = de_read_full(fd, out->data, max + 1);
		if (n < 0) {
			r = (int)n;
			de_why(err, errlen, "%s: %s", de_yaml_escape(&nb, path), strerror(-r));
		} else if ((size_t)n > max) {
			r = -EFBIG;
			de_why(err, errlen, "%s: larger than %zu bytes", de_yaml_escape(&nb, path), max);
		} else {
			out->len = (size_t)n;
			out->data[n] = '\0';
			*found = true;
		}
	}
	de_buf_free(&nb);
	return r;
}


int de_yaml_skip(struct de_yaml *y, const yaml_event_t *first)
{
	if (first->type != YAML_MAPPING_START_EVENT && first->type != YAML_SEQUENCE_START_EVENT)
		return 0;
	int depth = 1;
	while (depth > 0) {
		_cleanup_yaml_event_ yaml_event_t e = { 0 };
		int r = de_yaml_next(y, &e);
		if (r < 0)
			return r;
		if (e.type == YAML_MAPPING_START_EVENT || e.type == YAML_SEQUENCE_START_EVENT)
			depth++;
		else if (e.type == YAML_MAPPING_END_EVENT || e.type == YAML_SEQUENCE_END_EVENT)
			depth--;
		else if (e.type == YAML_NO_EVENT || e.type == YAML_STREAM_END_EVENT ||
			 e.type == YAML_DOCUMENT_END_EVENT)
			return DE_YAML_FAIL(y, e.start_mark, "unexpected end of the document");
	}
	return 0;
}
