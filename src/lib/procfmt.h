/* procfmt.h: how a struct de_proc is shown: named columns and JSON.
 *
 * The column table is the single list of displayable process fields: `ps`
 * uses it for --columns, table and CSV output and --filter; later event and
 * alert views use the same names. A column formats the raw value (bytes as
 * the kernel gave them) into a buffer; the caller escapes it for its
 * format (emit.h). A value that could not be read formats as nothing and
 * de_col_value() reports it as unknown, so no output ever shows a made-up
 * value. de_proc_json() writes every field, with null for unknown values
 * and an "errors" object naming the reason for each.
 */
#ifndef DE_PROCFMT_H
#define DE_PROCFMT_H

#include <stdbool.h>

#include "buf.h"
#include "emit.h"
#include "proc.h"

struct de_col {
	const char *name;   /* as used in --columns and --filter */
	const char *header; /* table header */
	bool right;         /* right-align in tables (numbers) */
	int src;            /* enum de_pf the value comes from, -1: always known */
	void (*fmt)(struct de_buf *b, const struct de_proc *p);
	const char *help;
};

extern const struct de_col de_cols[];
extern const unsigned de_n_cols;

/* Column by name, or NULL. */
const struct de_col *de_col_find(const char *name);

/* Append the raw value of col for p to b. Returns false (appending nothing)
 * when the value is unknown for this process. */
bool de_col_value(const struct de_col *col, const struct de_proc *p, struct de_buf *b);

/* RFC 3339 UTC with nanoseconds: 2026-11-22T03:58:00.120000000Z. */
void de_fmt_time_ns(struct de_buf *b, int64_t ns);

/* Write a NUL-separated list (argv, environ) of `count` items as a JSON
 * array of strings. */
void de_json_nul_list(struct de_json *j, const char *s, size_t len, uint32_t count);

/* Write p as one JSON object (every field). */
void de_proc_json(struct de_json *j, const struct de_proc *p);

#endif
