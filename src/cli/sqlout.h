/* sqlout.h: result rows of untrusted SQL printed as a table, JSON Lines
 * or CSV (`daemoneye query`, `daemoneye rules test`).
 *
 * Every value goes through emit.h, so hostile process data (newlines,
 * control bytes, invalid UTF-8, spreadsheet formulas) cannot break the
 * format: JSON Lines is one valid UTF-8 JSON object per row (integers and
 * reals as numbers, NULL as null, blobs as hex strings), CSV is RFC 4180
 * with a header row, and the table escapes what a terminal would act on.
 * The table is aligned, so its rows are kept until the end; the other
 * formats are streamed row by row.
 */
#ifndef DE_SQLOUT_H
#define DE_SQLOUT_H

#include <sqlite3.h>
#include <stdio.h>

#include "buf.h"

enum de_sqlout_format { DE_SQLOUT_TABLE = 0, DE_SQLOUT_JSON, DE_SQLOUT_CSV };

/* Parse "table", "json" or "csv"; returns the format or -EINVAL. */
int de_sqlout_format_parse(const char *s);

struct de_sqlout {
	enum de_sqlout_format fmt;
	FILE *out;
	int ncol;
	char **names;
	struct de_buf *cells;  /* table: escaped cells, row-major */
	size_t rows, cap;
	struct de_buf line;
	int err;               /* first error (-ENOMEM, -EIO) */
};

/* Start output for the columns of st (names taken from it). */
int de_sqlout_begin(struct de_sqlout *o, enum de_sqlout_format fmt, FILE *out, sqlite3_stmt *st);
/* One row: the statement's current row. Returns 0 or a negative errno. */
int de_sqlout_row(struct de_sqlout *o, sqlite3_stmt *st);
/* Flush (the table is written here) and free. Returns 0 or the first error. */
int de_sqlout_end(struct de_sqlout *o);

#endif
