/* sqlguard.c: untrusted SQL under a read-only policy (see sqlguard.h).
 *
 * The authorizer records the first thing it refused in the guard, so the
 * message names it ("PRAGMA is not allowed") instead of SQLite's generic
 * "not authorized". The deadline for the progress handler lives in the
 * guard too: one guard serves one thread at a time, like the connection.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "macros.h"
#include "sqlguard.h"
#include "sqlinit.h"

/* Scalar, aggregate and window functions that read nothing but their
 * arguments and cannot allocate past SQLITE_LIMIT_LENGTH. Left out on
 * purpose: load_extension, fts3_tokenizer, readfile/writefile/edit (shell
 * only), sqlite_compileoption_*, randomblob/zeroblob (allocation by
 * request), and anything not listed. */
const char *const de_sqlguard_functions[] = {
	/* core scalar */
	"abs", "char", "coalesce", "format", "glob", "hex", "ifnull", "iif", "instr",
	"length", "like", "likelihood", "likely", "lower", "ltrim", "max", "min", "nullif",
	"printf", "quote", "random", "replace", "round", "rtrim", "sign", "substr",
	"substring", "trim", "typeof", "unhex", "unicode", "unlikely", "upper",
	/* date and time */
	"date", "time", "datetime", "julianday", "strftime", "unixepoch",
	/* aggregate */
	"avg", "count", "group_concat", "string_agg", "sum", "total",
	/* window */
	"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag",
	"lead", "first_value", "last_value", "nth_value",
	/* JSON (scalar only; table-valued json_each/json_tree are virtual tables) */
	"json", "json_array", "json_array_length", "json_extract", "json_object",
	"json_quote", "json_type", "json_valid", "json_group_array", "json_group_object",
	/* DaemonEye's own, registered on rule connections (rules.c) */
	"de_window_lo", "de_window_hi", "de_now_ns",
	NULL,
};

/* A column that a view's definition reads, found while compiling a
 * published view: (view, table, column). */
struct view_source {
	char *view, *table, *column;
};

struct de_sqlguard {
	sqlite3 *db;
	struct view_source *src;  /* what published views may read on their behalf */
	size_t n_src, cap_src;
	bool recording;           /* collecting src (wrap time), not enforcing */
	bool record_failed;
	bool owns_db;
	const struct de_sqlguard_policy *policy;
	char denied[DE_SQLGUARD_WHY_MAX]; /* first refusal of the current prepare */
	struct timespec deadline;
	bool deadline_set;
	bool timed_out;
};

static bool in_list(const char *const *list, const char *name)
{
	if (!name)
		return false;
	for (; *list; list++)
		if (strcasecmp(*list, name) == 0)
			return true;
	return false;
}

/* The statement kind an authorizer action code stands for, for messages. */
static const char *action_name(int code)
{
	switch (code) {
	case SQLITE_INSERT: return "INSERT";
	case SQLITE_UPDATE: return "UPDATE";
	case SQLITE_DELETE: return "DELETE";
	case SQLITE_ATTACH: return "ATTACH";
	case SQLITE_DETACH: return "DETACH";
	case SQLITE_PRAGMA: return "PRAGMA";
	case SQLITE_TRANSACTION: return "BEGIN/COMMIT/ROLLBACK";
	case SQLITE_SAVEPOINT: return "SAVEPOINT";
	case SQLITE_ALTER_TABLE: return "ALTER TABLE";
	case SQLITE_REINDEX: return "REINDEX";
	case SQLITE_ANALYZE: return "ANALYZE";
	case SQLITE_CREATE_VTABLE: return "CREATE VIRTUAL TABLE";
	case SQLITE_DROP_VTABLE: return "DROP VIRTUAL TABLE";
	case SQLITE_CREATE_INDEX: case SQLITE_CREATE_TEMP_INDEX: return "CREATE INDEX";
	case SQLITE_CREATE_TABLE: case SQLITE_CREATE_TEMP_TABLE: return "CREATE TABLE";
	case SQLITE_CREATE_TRIGGER: case SQLITE_CREATE_TEMP_TRIGGER: return "CREATE TRIGGER";
	case SQLITE_CREATE_VIEW: case SQLITE_CREATE_TEMP_VIEW: return "CREATE VIEW";
	case SQLITE_DROP_INDEX: case SQLITE_DROP_TEMP_INDEX: return "DROP INDEX";
	case SQLITE_DROP_TABLE: case SQLITE_DROP_TEMP_TABLE: return "DROP TABLE";
	case SQLITE_DROP_TRIGGER: case SQLITE_DROP_TEMP_TRIGGER: return "DROP TRIGGER";
	case SQLITE_DROP_VIEW: case SQLITE_DROP_TEMP_VIEW: return "DROP VIEW";
	}
	return "this statement";
}

/* Record "<pre><name><post>" as the reason, unless one is recorded. */
static int deny(struct de_sqlguard *g, const char *pre, const char *arg, const char *post)
{
	if (!g->denied[0]) {
		/* arg is a name from untrusted SQL: keep it printable and short */
		char clean[64];
		size_t n = 0;
		for (const char *p = arg ? arg : ""; *p && n < sizeof(clean) - 1; p++)
			clean[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
		clean[n] = 0;
		de_why(g->denied, sizeof(g->denied), "%s%s%s", pre, clean, post);
	}
	return SQLITE_DENY;
}

static bool is_view_source(const struct de_sqlguard *g, const char *view, const char *table,
			   const char *col)
{
	for (size_t i = 0; i < g->n_src; i++)
		if (strcasecmp(g->src[i].view, view) == 0 && strcasecmp(g->src[i].table, table) == 0 &&
		    strcasecmp(g->src[i].column, col ? col : "") == 0)
			return true;
	return false;
}

static void record_source(struct de_sqlguard *g, const char *view, const char *table,
			  const char *col)
{
	if (!table || is_view_source(g, view, table, col))
		return;
	if (g->n_src == g->cap_src) {
		size_t cap = g->cap_src ? 2 * g->cap_src : 32;
		struct view_source *n = realloc(g->src, cap * sizeof(*n));
		if (!n) {
			g->record_failed = true;
			return;
		}
		g->src = n;
		g->cap_src = cap;
	}
	char *v = strdup(view), *t = strdup(table), *c = strdup(col ? col : "");
	if (!v || !t || !c) {
		free(v);
		free(t);
		free(c);
		g->record_failed = true;
		return;
	}
	g->src[g->n_src++] = (struct view_source){ v, t, c };
}

static int authorize(void *ud, int code, const char *a1, const char *a2, const char *db,
		     const char *view)
{
	struct de_sqlguard *g = ud;
	if (g->recording) {
		if (code == SQLITE_READ && view)
			record_source(g, view, a1, a2);
		return SQLITE_OK;
	}
	switch (code) {
	case SQLITE_SELECT:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_READ:
		/* Allowed: a CTE's own rows (no schema: db is NULL), a published
		 * name read directly, or a column read on behalf of a view
		 * exactly as compiling the published views read it. The last
		 * check is per (view, table, column) because SQLite reports a
		 * CTE like a view: in `WITH processes AS (SELECT * FROM
		 * secrets) ...` the reads of secrets name "processes" as the
		 * view, and secrets is no source of the real view. */
		if (!db || in_list(g->policy->readable, a1) ||
		    (view && is_view_source(g, view, a1, a2)))
			return SQLITE_OK;
		return deny(g, "table ", a1, " is not readable (only the published views are)");
	case SQLITE_FUNCTION:
		if (in_list(de_sqlguard_functions, a2))
			return SQLITE_OK;
		return deny(g, "function ", a2, " is not allowed");
	case SQLITE_INSERT:
	case SQLITE_UPDATE:
	case SQLITE_DELETE:
		if (code != SQLITE_UPDATE && db && strcmp(db, "temp") == 0 && g->policy->scratch &&
		    in_list(g->policy->scratch, a1))
			return SQLITE_OK; /* the owner's scratch table; never a rule (read-only check) */
		/* DDL writes the schema table before SQLite asks about the
		 * DDL itself (and the first refusal ends the prepare). */
		if (a1 && strncasecmp(a1, "sqlite_", 7) == 0)
			return deny(g, "", "changing the schema",
				       " (CREATE, DROP, ALTER) is not allowed (only SELECT)");
		return deny(g, "", action_name(code), " is not allowed (only SELECT)");
	default:
		return deny(g, "", action_name(code), " is not allowed (only SELECT)");
	}
}

static int progress(void *ud)
{
	struct de_sqlguard *g = ud;
	if (!g->deadline_set)
		return 0;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > g->deadline.tv_sec ||
	    (now.tv_sec == g->deadline.tv_sec && now.tv_nsec >= g->deadline.tv_nsec)) {
		g->timed_out = true;
		return 1; /* SQLITE_INTERRUPT */
	}
	return 0;
}

static const struct {
	int id, value;
} limits[] = {
	{ SQLITE_LIMIT_LENGTH, 16 * 1024 * 1024 },
	{ SQLITE_LIMIT_SQL_LENGTH, 64 * 1024 },
	{ SQLITE_LIMIT_COLUMN, 256 },
	{ SQLITE_LIMIT_EXPR_DEPTH, 100 },
	{ SQLITE_LIMIT_COMPOUND_SELECT, 32 },
	{ SQLITE_LIMIT_VDBE_OP, 100000 },
	{ SQLITE_LIMIT_FUNCTION_ARG, 32 },
	{ SQLITE_LIMIT_ATTACHED, 0 },
	{ SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000 },
	{ SQLITE_LIMIT_VARIABLE_NUMBER, 64 },
	{ SQLITE_LIMIT_TRIGGER_DEPTH, 1 },
};

static void free_sources(struct de_sqlguard *g)
{
	for (size_t i = 0; i < g->n_src; i++) {
		free(g->src[i].view);
		free(g->src[i].table);
		free(g->src[i].column);
	}
	free(g->src);
	g->src = NULL;
	g->n_src = g->cap_src = 0;
}

/* Compile `SELECT * FROM name` for each published name with the
 * authorizer in recording mode: the reads SQLite reports on behalf of a
 * view are exactly what its definition needs. Tables report no such reads. */
static int learn_view_sources(struct de_sqlguard *g, char *why, size_t why_len)
{
	g->recording = true;
	int ret = 0;
	for (const char *const *n = g->policy->readable; *n; n++) {
		char *sql = sqlite3_mprintf("SELECT * FROM \"%w\"", *n);
		sqlite3_stmt *st = NULL;
		int rc = sql ? sqlite3_prepare_v2(g->db, sql, -1, &st, NULL) : SQLITE_NOMEM;
		sqlite3_free(sql);
		sqlite3_finalize(st);
		if (rc != SQLITE_OK) {
			de_why(why, why_len, "published view %s: %s", *n, sqlite3_errmsg(g->db));
			ret = -EINVAL;
			break;
		}
	}
	g->recording = false;
	if (ret == 0 && g->record_failed) {
		de_why(why, why_len, "out of memory");
		ret = -ENOMEM;
	}
	return ret;
}

struct de_sqlguard *de_sqlguard_wrap(sqlite3 *db, const struct de_sqlguard_policy *p, char *why,
				     size_t why_len)
{
	struct de_sqlguard *g = calloc(1, sizeof(*g));
	if (!g) {
		de_why(why, why_len, "out of memory");
		return NULL;
	}
	g->db = db;
	g->policy = p;
	static const int off[] = { SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, SQLITE_DBCONFIG_ENABLE_TRIGGER,
				   SQLITE_DBCONFIG_TRUSTED_SCHEMA, SQLITE_DBCONFIG_DQS_DML,
				   SQLITE_DBCONFIG_DQS_DDL };
	for (size_t i = 0; i < DE_ARRAY_SIZE(off); i++)
		if (sqlite3_db_config(db, off[i], 0, NULL) != SQLITE_OK)
			goto fail;
	if (sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < DE_ARRAY_SIZE(limits); i++)
		sqlite3_limit(db, limits[i].id, limits[i].value);
	if (sqlite3_set_authorizer(db, authorize, g) != SQLITE_OK)
		goto fail;
	if (learn_view_sources(g, why, why_len) < 0) {
		sqlite3_set_authorizer(db, NULL, NULL);
		free_sources(g);
		free(g);
		errno = EINVAL;
		return NULL;
	}
	sqlite3_progress_handler(db, DE_SQLGUARD_PROGRESS_OPS, progress, g);
	return g;
fail:
	de_why(why, why_len, "configuring the guarded connection: %s", sqlite3_errmsg(db));
	free(g);
	errno = EIO;
	return NULL;
}

struct de_sqlguard *de_sqlguard_open(const char *path, const struct de_sqlguard_policy *p,
				     char *why, size_t why_len)
{
	sqlite3 *db = NULL;
	de_sqlite_init();
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		de_why(why, why_len, "opening %s read-only: %s", path,
		       db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		errno = rc == SQLITE_NOMEM ? ENOMEM : EIO;
		return NULL;
	}
	if (p->setup_db && (rc = p->setup_db(db, p->setup_ud)) < 0) {
		de_why(why, why_len, "setting up %s: %s", path, strerror(-rc));
		sqlite3_close(db);
		errno = -rc;
		return NULL;
	}
	struct de_sqlguard *g = de_sqlguard_wrap(db, p, why, why_len);
	if (!g) {
		sqlite3_close(db);
		return NULL;
	}
	g->owns_db = true;
	return g;
}

void de_sqlguard_free(struct de_sqlguard *g)
{
	if (!g)
		return;
	sqlite3_set_authorizer(g->db, NULL, NULL);
	sqlite3_progress_handler(g->db, 0, NULL, NULL);
	if (g->owns_db)
		sqlite3_close(g->db);
	free_sources(g);
	free(g);
}

sqlite3 *de_sqlguard_db(struct de_sqlguard *g) { return g->db; }

/* Whether the rest of a SQL text is only whitespace and comments. */
static bool only_trivia(const char *s)
{
	while (*s) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v' ||
		    *s == ';') {
			s++;
		} else if (s[0] == '-' && s[1] == '-') {
			while (*s && *s != '\n')
				s++;
		} else if (s[0] == '/' && s[1] == '*') {
			const char *e = strstr(s + 2, "*/");
			if (!e)
				return true; /* SQLite treats an unclosed comment as the end */
			s = e + 2;
		} else {
			return false;
		}
	}
	return true;
}

int de_sqlguard_prepare(struct de_sqlguard *g, const char *sql, sqlite3_stmt **out, char *why,
			size_t why_len)
{
	*out = NULL;
	g->denied[0] = 0;
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	int rc = sqlite3_prepare_v3(g->db, sql, -1, SQLITE_PREPARE_PERSISTENT | SQLITE_PREPARE_NO_VTAB,
				    &st, &tail);
	if (rc != SQLITE_OK) {
		if (g->denied[0]) {
			de_why(why, why_len, "%s", g->denied);
			return -EPERM;
		}
		de_why(why, why_len, "%s", sqlite3_errmsg(g->db));
		return rc == SQLITE_TOOBIG ? -E2BIG : rc == SQLITE_NOMEM ? -ENOMEM : -EINVAL;
	}
	if (!st) {
		de_why(why, why_len, "empty SQL: no statement");
		return -EINVAL;
	}
	int ret = 0;
	if (tail && !only_trivia(tail)) {
		de_why(why, why_len, "only one statement is allowed");
		ret = -EPERM;
	} else if (!sqlite3_stmt_readonly(st)) {
		de_why(why, why_len, "the statement is not read-only");
		ret = -EPERM;
	}
	if (ret < 0) {
		sqlite3_finalize(st);
		return ret;
	}
	*out = st;
	return 0;
}

int64_t de_sqlguard_run(struct de_sqlguard *g, sqlite3_stmt *st, de_sqlguard_row_fn row, void *ud,
			char *why, size_t why_len)
{
	uint32_t budget = g->policy->budget_ms ? g->policy->budget_ms : DE_SQLGUARD_DEFAULT_BUDGET_MS;
	clock_gettime(CLOCK_MONOTONIC, &g->deadline);
	g->deadline.tv_sec += budget / 1000;
	g->deadline.tv_nsec += (long)(budget % 1000) * 1000000L;
	if (g->deadline.tv_nsec >= 1000000000L) {
		g->deadline.tv_sec++;
		g->deadline.tv_nsec -= 1000000000L;
	}
	g->deadline_set = true;
	g->timed_out = false;
	sqlite3_reset(st);

	int64_t rows = 0;
	int64_t ret;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (g->policy->max_rows && (uint64_t)rows >= g->policy->max_rows) {
			de_why(why, why_len, "more than %llu rows", (unsigned long long)g->policy->max_rows);
			ret = -E2BIG;
			goto out;
		}
		rows++;
		if (row && row(st, ud) != 0)
			break;
	}
	if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		ret = rows;
	} else if (g->timed_out) {
		de_why(why, why_len, "time budget of %u ms exceeded", budget);
		ret = -ETIMEDOUT;
	} else {
		de_why(why, why_len, "%s", sqlite3_errmsg(g->db));
		ret = rc == SQLITE_NOMEM ? -ENOMEM : rc == SQLITE_TOOBIG ? -E2BIG : -EIO;
	}
out:
	g->deadline_set = false;
	sqlite3_reset(st);
	return ret;
}
