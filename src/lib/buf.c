/* buf.c: see buf.h. */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int de_buf_reserve(struct de_buf *b, size_t extra)
{
	if (b->err)
		return b->err;
	if (extra > SIZE_MAX / 2 - b->len - 1)
		return b->err = -ENOMEM;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return b->err = -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int de_buf_append(struct de_buf *b, const void *p, size_t n)
{
	int r = de_buf_reserve(b, n);
	if (r < 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int de_buf_puts(struct de_buf *b, const char *s) { return de_buf_append(b, s, strlen(s)); }

int de_buf_putc(struct de_buf *b, char c) { return de_buf_append(b, &c, 1); }

int de_buf_vprintf(struct de_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	char small[256];
	int n = vsnprintf(small, sizeof(small), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return b->err ? b->err : (b->err = -EINVAL);
	if ((size_t)n < sizeof(small))
		return de_buf_append(b, small, (size_t)n);
	int r = de_buf_reserve(b, (size_t)n);
	if (r < 0)
		return r;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int de_buf_printf(struct de_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = de_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void de_buf_reset(struct de_buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->data)
		b->data[0] = '\0';
}

const char *de_buf_str(const struct de_buf *b) { return b->data ? b->data : ""; }

void de_buf_free(struct de_buf *b)
{
	free(b->data);
	*b = (struct de_buf)DE_BUF_INIT;
}

char *de_buf_steal(struct de_buf *b)
{
	if (!b->data && de_buf_reserve(b, 0) < 0)
		return NULL;
	char *p = b->data;
	*b = (struct de_buf)DE_BUF_INIT;
	return p;
}
