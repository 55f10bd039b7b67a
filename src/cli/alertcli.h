/* alertcli.h: what `daemoneye alerts` and `daemoneye sinks` share: the
 * store of the instance (STATE/store.db), row output as a table, JSON
 * Lines or CSV (every value through emit.h), and time arguments.
 *
 * Tables are buffered to size their columns (the CLI lists are bounded by
 * --limit); JSON and CSV stream row by row.
 */
#ifndef DE_ALERTCLI_H
#define DE_ALERTCLI_H

#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>

#include "buf.h"
#include "cli.h"
#include "store.h"

enum de_out_fmt { DE_OUT_TABLE = 0, DE_OUT_JSON, DE_OUT_CSV };

/* Parse "table", "json" or "csv". Returns 0 or -EINVAL. */
int de_out_fmt_parse(const char *s, enum de_out_fmt *f);

#define DE_OUT_MAX_COLS 16

struct de_out {
	enum de_out_fmt fmt;
	const char *const *cols;
	unsigned n_cols;
	/* table: escaped cells, row-major */
	char **cells;
	size_t n_cells, cap_cells;
	/* current row */
	struct de_buf row;
	unsigned col;
};

void de_out_begin(struct de_out *o, enum de_out_fmt fmt, const char *const *cols, unsigned n);
/* One cell of the current row: text (NULL: null), an integer, or raw
 * JSON (json format only; other formats print it as text). */
void de_out_str(struct de_out *o, const char *s);
void de_out_int(struct de_out *o, int64_t v);
void de_out_json(struct de_out *o, const char *json);
/* The value of column i of a result row, typed by SQLite. */
void de_out_sql(struct de_out *o, sqlite3_stmt *st, int i);
void de_out_end_row(struct de_out *o);
/* Print the table (table format) and free. Returns 0 or a negative errno
 * (stdout failed). */
int de_out_finish(struct de_out *o);

/* Open the instance's store (must exist; not created by a query). Reports
 * errors itself; returns NULL on failure. */
struct de_store *de_cli_open_store(const struct de_cli_common *c);

/* A time argument: "30m", "2h", "7d" (ago), seconds since the epoch, or
 * "YYYY-MM-DD[THH:MM[:SS]][Z]" (UTC). Returns 0 and ns, or -EINVAL. */
int de_cli_parse_time(const char *s, int64_t *ns);

/* "YYYY-MM-DDTHH:MM:SSZ" of ns (UTC) into out. */
const char *de_cli_fmt_time(int64_t ns, char *out, size_t n);

int64_t de_cli_now_ns(void);

#endif
