/* sqlout.c: see sqlout.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "macros.h"
#include "sqlout.h"

int de_sqlout_format_parse(const char *s)
{
	if (strcmp(s, "table") == 0)
		return DE_SQLOUT_TABLE;
	if (strcmp(s, "json") == 0)
		return DE_SQLOUT_JSON;
	if (strcmp(s, "csv") == 0)
		return DE_SQLOUT_CSV;
	return -EINVAL;
}

static void put_line(struct de_sqlout *o)
{
	if (o->line.err) {
		o->err = o->err ? o->err : -ENOMEM;
	} else if (fwrite(o->line.data ? o->line.data : "", 1, o->line.len, o->out) != o->line.len) {
		o->err = o->err ? o->err : -EIO;
	}
	de_buf_reset(&o->line);
}

int de_sqlout_begin(struct de_sqlout *o, enum de_sqlout_format fmt, FILE *out, sqlite3_stmt *st)
{
	memset(o, 0, sizeof(*o));
	o->fmt = fmt;
	o->out = out;
	o->ncol = sqlite3_column_count(st);
	o->names = calloc((size_t)(o->ncol ? o->ncol : 1), sizeof(*o->names));
	if (!o->names)
		return o->err = -ENOMEM;
	for (int c = 0; c < o->ncol; c++) {
		const char *n = sqlite3_column_name(st, c);
		if (!(o->names[c] = strdup(n ? n : "?")))
			return o->err = -ENOMEM;
	}
	if (fmt == DE_SQLOUT_CSV) {
		for (int c = 0; c < o->ncol; c++) {
			if (c)
				de_buf_putc(&o->line, ',');
			de_emit_csv_field(&o->line, o->names[c], strlen(o->names[c]));
		}
		de_buf_putc(&o->line, '\n');
		put_line(o);
	}
	return o->err;
}

/* The text of a value for the table and CSV: numbers as SQLite prints
 * them, blobs as hex, NULL as empty (CSV) or "-" (table). */
static void value_text(struct de_buf *b, sqlite3_stmt *st, int c, bool table,
		       void (*esc)(struct de_buf *, const char *, size_t))
{
	switch (sqlite3_column_type(st, c)) {
	case SQLITE_NULL:
		if (table)
			de_buf_putc(b, '-');
		break;
	case SQLITE_BLOB: {
		const unsigned char *p = sqlite3_column_blob(st, c);
		int n = sqlite3_column_bytes(st, c);
		for (int i = 0; i < n; i++)
			de_buf_printf(b, "%02x", p[i]);
		break;
	}
	default: {
		const char *t = (const char *)sqlite3_column_text(st, c);
		esc(b, t ? t : "", (size_t)sqlite3_column_bytes(st, c));
	}
	}
}

static void raw(struct de_buf *b, const char *s, size_t n) { de_buf_append(b, s, n); }

/* Columns an already escaped cell takes: one per code point. */
static size_t cp_width(const char *s, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++)
		w += ((unsigned char)s[i] & 0xc0) != 0x80;
	return w;
}

static void row_json(struct de_sqlout *o, sqlite3_stmt *st)
{
	struct de_json j;
	de_json_init(&j, &o->line);
	de_json_obj_begin(&j);
	for (int c = 0; c < o->ncol; c++) {
		de_json_key(&j, o->names[c]);
		switch (sqlite3_column_type(st, c)) {
		case SQLITE_NULL:
			de_json_null(&j);
			break;
		case SQLITE_INTEGER:
			de_json_int(&j, sqlite3_column_int64(st, c));
			break;
		case SQLITE_FLOAT: {
			double d = sqlite3_column_double(st, c);
			char num[40];
			if (d != d || d > 1e308 || d < -1e308) {
				de_json_null(&j); /* NaN, infinities: not JSON numbers */
			} else {
				snprintf(num, sizeof(num), "%.17g", d);
				de_json_raw(&j, num);
			}
			break;
		}
		case SQLITE_BLOB: {
			struct de_buf hex = DE_BUF_INIT;
			value_text(&hex, st, c, false, de_emit_text);
			de_json_str(&j, hex.data ? hex.data : "", hex.len);
			de_buf_free(&hex);
			break;
		}
		default: {
			const char *t = (const char *)sqlite3_column_text(st, c);
			de_json_str(&j, t ? t : "", (size_t)sqlite3_column_bytes(st, c));
		}
		}
	}
	de_json_obj_end(&j);
	de_buf_putc(&o->line, '\n');
	put_line(o);
}

int de_sqlout_row(struct de_sqlout *o, sqlite3_stmt *st)
{
	if (o->err)
		return o->err;
	if (o->fmt == DE_SQLOUT_JSON) {
		row_json(o, st);
	} else if (o->fmt == DE_SQLOUT_CSV) {
		for (int c = 0; c < o->ncol; c++) {
			if (c)
				de_buf_putc(&o->line, ',');
			struct de_buf v = DE_BUF_INIT;
			value_text(&v, st, c, false, raw);
			de_emit_csv_field(&o->line, v.data ? v.data : "", v.len);
			de_buf_free(&v);
		}
		de_buf_putc(&o->line, '\n');
		put_line(o);
	} else {
		size_t need = (o->rows + 1) * (size_t)o->ncol;
		if (need > o->cap) {
			size_t cap = DE_MAX(need, 2 * o->cap);
			struct de_buf *v = realloc(o->cells, cap * sizeof(*v));
			if (!v)
				return o->err = -ENOMEM;
			memset(v + o->cap, 0, (cap - o->cap) * sizeof(*v));
			o->cells = v;
			o->cap = cap;
		}
		for (int c = 0; c < o->ncol; c++)
			value_text(&o->cells[o->rows * (size_t)o->ncol + (size_t)c], st, c, true,
				   de_emit_text);
		o->rows++;
	}
	return o->err;
}

static void pad(struct de_buf *b, size_t n)
{
	while (n--)
		de_buf_putc(b, ' ');
}

int de_sqlout_end(struct de_sqlout *o)
{
	if (o->fmt == DE_SQLOUT_TABLE && !o->err && o->names) {
		size_t *w = calloc((size_t)(o->ncol ? o->ncol : 1), sizeof(*w));
		if (!w) {
			o->err = -ENOMEM;
		} else {
			for (int c = 0; c < o->ncol; c++) {
				w[c] = de_emit_text_width(o->names[c], strlen(o->names[c]));
				for (size_t r = 0; r < o->rows; r++) {
					const struct de_buf *cell = &o->cells[r * (size_t)o->ncol + (size_t)c];
					w[c] = DE_MAX(w[c], cp_width(cell->data ? cell->data : "", cell->len));
				}
			}
			for (int c = 0; c < o->ncol; c++) {
				size_t before = o->line.len;
				de_emit_text(&o->line, o->names[c], strlen(o->names[c]));
				if (c + 1 < o->ncol)
					pad(&o->line, w[c] - cp_width(o->line.data + before,
								      o->line.len - before) + 2);
			}
			de_buf_putc(&o->line, '\n');
			put_line(o);
			for (size_t r = 0; r < o->rows; r++) {
				for (int c = 0; c < o->ncol; c++) {
					const struct de_buf *cell = &o->cells[r * (size_t)o->ncol + (size_t)c];
					de_buf_append(&o->line, cell->data ? cell->data : "", cell->len);
					if (c + 1 < o->ncol)
						pad(&o->line, w[c] - cp_width(cell->data ? cell->data : "",
									      cell->len) + 2);
				}
				de_buf_putc(&o->line, '\n');
				put_line(o);
			}
			free(w);
		}
	}
	for (size_t i = 0; o->cells && i < o->cap; i++)
		de_buf_free(&o->cells[i]);
	free(o->cells);
	for (int c = 0; o->names && c < o->ncol; c++)
		free(o->names[c]);
	free(o->names);
	de_buf_free(&o->line);
	if (fflush(o->out) != 0 && !o->err)
		o->err = -EIO;
	int err = o->err;
	o->cells = NULL;
	o->names = NULL;
	return err;
}
