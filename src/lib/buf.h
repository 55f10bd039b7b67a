/* buf.h: a growable byte buffer with a sticky error.
 *
 * Appends never fail loudly: the first allocation failure sets `err` and
 * every later append is a no-op, so a writer (JSON, CSV, a table row) can
 * append freely and check once at the end. The content is always
 * NUL-terminated when `data` is non-NULL, so it can be used as a C string
 * when it holds text.
 */
#ifndef DE_BUF_H
#define DE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "macros.h"

struct de_buf {
	char *data;
	size_t len;
	size_t cap;
	int err; /* 0 or a negative errno from the first failure */
};

#define DE_BUF_INIT { NULL, 0, 0, 0 }

int de_buf_reserve(struct de_buf *b, size_t extra);
int de_buf_append(struct de_buf *b, const void *p, size_t n);
int de_buf_puts(struct de_buf *b, const char *s);
int de_buf_putc(struct de_buf *b, char c);
int de_buf_printf(struct de_buf *b, const char *fmt, ...) DE_PRINTF(2, 3);
int de_buf_vprintf(struct de_buf *b, const char *fmt, va_list ap) DE_PRINTF(2, 0);
/* Empty the buffer (keeps its memory and clears the error). */
void de_buf_reset(struct de_buf *b);
/* The text so far; never NULL ("" for an empty buffer). */
const char *de_buf_str(const struct de_buf *b);
void de_buf_free(struct de_buf *b);
/* Hand the allocation to the caller (NUL-terminated) and reset b. */
char *de_buf_steal(struct de_buf *b);

#endif
