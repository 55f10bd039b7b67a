/* sqlguard.h: untrusted SQL (detection rules, `daemoneye query`) validated
 * and run by SQLite itself, under a policy.
 *
 * A rule's SQL is never inspected with our own parser: SQLite's parser and
 * code generator decide what a statement does, and the guard watches them
 * do it. A guarded connection is opened read-only, with extension loading,
 * triggers/views from the schema and double-quoted string literals off
 * (SQLITE_DBCONFIG_DEFENSIVE, TRUSTED_SCHEMA=0), with an authorizer that
 * allows:
 *   - SELECT (and recursive CTEs, which the time budget bounds);
 *   - reads of the published tables/views named in the policy (a read of a
 *     table inside a published view's definition is allowed because the
 *     view is; anything else, sqlite_schema included, is not);
 *   - calls of allow-listed functions only (de_sqlguard_functions);
 * and denies everything else (writes, DDL, ATTACH, PRAGMA, transactions,
 * load_extension, ...) with a message naming what was refused, e.g.
 * "ATTACH is not allowed", "function load_extension is not allowed",
 * "table secrets is not readable". A statement must be exactly one
 * statement (trailing whitespace and comments only) and
 * sqlite3_stmt_readonly() must hold.
 *
 * sqlite3_limit() caps the SQL length, expression depth, compound SELECT
 * terms, LIKE pattern length, columns, function arguments, VDBE program
 * size and value length; ATTACH is capped at 0 databases. Evaluation runs
 * under a per-statement wall-clock budget enforced by a progress handler
 * (checked every DE_SQLGUARD_PROGRESS_OPS VM instructions), so a runaway
 * query (infinite recursion, a cartesian join) stops with
 * -ETIMEDOUT and "time budget of N ms exceeded" instead of stalling the
 * agent, and at most max_rows rows are returned.
 *
 * Error convention: negative errno (-EPERM: refused by the policy,
 * -EINVAL: SQL error from SQLite, -E2BIG: a limit, -ETIMEDOUT: budget,
 * -ENOMEM), with a one-line reason in the caller's buffer.
 */
#ifndef DE_SQLGUARD_H
#define DE_SQLGUARD_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DE_SQLGUARD_PROGRESS_OPS 1000
#define DE_SQLGUARD_WHY_MAX 256

struct de_sqlguard_policy {
	const char *const *readable;   /* published table/view names, NULL-terminated */
	uint32_t budget_ms;            /* per evaluation; 0: DE_SQLGUARD_DEFAULT_BUDGET_MS */
	uint64_t max_rows;             /* per evaluation; 0: no cap */
	/* Called on a connection de_sqlguard_open() opened, before the guard
	 * is set up: e.g. to register the application functions the schema's
	 * views call. NULL: nothing. Returns 0 or a negative errno. */
	int (*setup_db)(sqlite3 *db, void *ud);
	void *setup_ud;
	/* TEMP tables the connection's owner fills itself (e.g. the rule
	 * engine's materialized window), NULL-terminated or NULL: the
	 * authorizer lets INSERT/DELETE into temp.NAME compile, for the
	 * owner's own statements; de_sqlguard_prepare() still refuses every
	 * statement that is not read-only, so untrusted SQL cannot write
	 * them either. */
	const char *const *scratch;
};

#define DE_SQLGUARD_DEFAULT_BUDGET_MS 1000

/* The functions untrusted SQL may call, NULL-terminated (docs/SCHEMA.md). */
extern const char *const de_sqlguard_functions[];

struct de_sqlguard;

/* Open `path` read-only under the policy (the policy's strings must outlive
 * the guard). Returns NULL with errno set and a reason in why. */
struct de_sqlguard *de_sqlguard_open(const char *path, const struct de_sqlguard_policy *p,
				     char *why, size_t why_len);
/* Put an already-open connection under the policy (tests, in-memory
 * databases). The guard does not own db. */
struct de_sqlguard *de_sqlguard_wrap(sqlite3 *db, const struct de_sqlguard_policy *p,
				     char *why, size_t why_len);
void de_sqlguard_free(struct de_sqlguard *g);
sqlite3 *de_sqlguard_db(struct de_sqlguard *g);

/* Validate and compile one statement. Returns 0 and *out (finalize it
 * with sqlite3_finalize), or a negative errno and the reason. */
int de_sqlguard_prepare(struct de_sqlguard *g, const char *sql, sqlite3_stmt **out,
			char *why, size_t why_len);

/* Receives each result row; return 0 to go on, non-zero to stop early. */
typedef int (*de_sqlguard_row_fn)(sqlite3_stmt *st, void *ud);

/* Run a prepared statement to completion under the budget, calling row()
 * for each row (row may be NULL). Resets the statement first, so a
 * statement can be run again with new bindings. Returns the number of rows
 * (>= 0) or a negative errno and the reason (-ETIMEDOUT when the budget ran
 * out, -E2BIG when max_rows was exceeded: the rows before it were
 * delivered). */
int64_t de_sqlguard_run(struct de_sqlguard *g, sqlite3_stmt *st, de_sqlguard_row_fn row,
			void *ud, char *why, size_t why_len);

#endif
