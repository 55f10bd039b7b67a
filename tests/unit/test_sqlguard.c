/* test_sqlguard.c: untrusted SQL under the guard: what passes, what is
 * refused and with which message, and the time and row budgets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sqlguard.h"

static const char *const published[] = { "processes", "process_events", NULL };

/* A database with one private table, two published views and data. */
static sqlite3 *make_db(const char *path)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	const char *schema =
		"CREATE TABLE proc_t(pid INTEGER, ppid INTEGER, comm TEXT, argv TEXT);"
		"CREATE TABLE secrets(k TEXT);"
		"INSERT INTO secrets VALUES('key');"
		"CREATE VIEW processes AS SELECT pid, ppid, comm, argv FROM proc_t;"
		"CREATE VIEW process_events AS SELECT pid, 'exec' AS type FROM proc_t;"
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
		" INSERT INTO proc_t SELECT i, i / 2, 'c' || i, 'argv ' || i FROM n;";
	char *err = NULL;
	assert_int_equal(sqlite3_exec(db, schema, NULL, NULL, &err), SQLITE_OK);
	return db;
}

struct fixture {
	char path[64];
	struct de_sqlguard *g;
	struct de_sqlguard_policy policy;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	snprintf(f.path, sizeof(f.path), "/tmp/de-sqlguard-%d.db", (int)getpid());
	unlink(f.path);
	sqlite3_close(make_db(f.path));
	f.policy.readable = published;
	f.policy.budget_ms = 200;
	char why[DE_SQLGUARD_WHY_MAX];
	f.g = de_sqlguard_open(f.path, &f.policy, why, sizeof(why));
	if (!f.g)
		fail_msg("open: %s", why);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	de_sqlguard_free(f->g);
	unlink(f->path);
	return 0;
}

/* Expect prepare to fail with `err` and a message containing `needle`. */
static void refused(struct de_sqlguard *g, const char *sql, int err, const char *needle)
{
	char why[DE_SQLGUARD_WHY_MAX] = "";
	sqlite3_stmt *st = NULL;
	int rc = de_sqlguard_prepare(g, sql, &st, why, sizeof(why));
	if (rc != err || !strstr(why, needle))
		fail_msg("%s: got %d '%s', want %d '%s'", sql, rc, why, err, needle);
	assert_null(st);
}

static int64_t run(struct de_sqlguard *g, const char *sql, char *why, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc = de_sqlguard_prepare(g, sql, &st, why, len);
	if (rc < 0)
		fail_msg("%s: %s", sql, why);
	int64_t n = de_sqlguard_run(g, st, NULL, NULL, why, len);
	sqlite3_finalize(st);
	return n;
}

static int first_int(sqlite3_stmt *st, void *ud)
{
	*(int64_t *)ud = sqlite3_column_int64(st, 0);
	return 0;
}

static void test_select_published_views(void **state)
{
	struct fixture *f = *state;
	char why[DE_SQLGUARD_WHY_MAX];
	sqlite3_stmt *st = NULL;
	assert_int_equal(de_sqlguard_prepare(f->g,
		"SELECT c.comm, p.comm, upper(c.argv) FROM processes c "
		"JOIN processes p ON p.pid = c.ppid WHERE c.argv LIKE '%19%' -- trailing comment\n;",
		&st, why, sizeof(why)), 0);
	int64_t n = de_sqlguard_run(f->g, st, NULL, NULL, why, sizeof(why));
	assert_true(n > 0);
	/* Run again: the statement is reusable. */
	assert_int_equal(de_sqlguard_run(f->g, st, NULL, NULL, why, sizeof(why)), n);
	sqlite3_finalize(st);

	int64_t count = -1;
	assert_int_equal(de_sqlguard_prepare(f->g,
		"WITH kids AS (SELECT ppid, count(*) AS n FROM processes GROUP BY ppid) "
		"SELECT count(*) FROM kids WHERE n = 2", &st, why, sizeof(why)), 0);
	assert_int_equal(de_sqlguard_run(f->g, st, first_int, &count, why, sizeof(why)), 1);
	assert_int_equal(count, 999); /* ppid 1..999 have children 2i and 2i+1 */
	sqlite3_finalize(st);
}

static void test_writes_and_ddl_refused(void **state)
{
	struct fixture *f = *state;
	refused(f->g, "INSERT INTO proc_t VALUES(1,1,'x','y')", -EPERM, "INSERT is not allowed");
	refused(f->g, "DELETE FROM proc_t", -EPERM, "DELETE is not allowed");
	refused(f->g, "UPDATE proc_t SET comm = 'x'", -EPERM, "UPDATE is not allowed");
	refused(f->g, "DROP VIEW processes", -EPERM, "changing the schema");
	refused(f->g, "CREATE TEMP TABLE x(a)", -EPERM, "changing the schema");
	refused(f->g, "CREATE TEMP VIEW v AS SELECT * FROM secrets", -EPERM, "not allowed");
	refused(f->g, "BEGIN", -EPERM, "BEGIN/COMMIT/ROLLBACK is not allowed");
	refused(f->g, "SAVEPOINT a", -EPERM, "SAVEPOINT is not allowed");
	refused(f->g, "ANALYZE", -EPERM, "not allowed");
}

static void test_attach_pragma_refused(void **state)
{
	struct fixture *f = *state;
	refused(f->g, "ATTACH DATABASE '/tmp/x.db' AS x", -EPERM, "ATTACH is not allowed");
	refused(f->g, "PRAGMA table_info(processes)", -EPERM, "PRAGMA is not allowed");
	refused(f->g, "PRAGMA writable_schema = 1", -EPERM, "PRAGMA is not allowed");
	refused(f->g, "SELECT * FROM pragma_table_info('processes')", -EINVAL, "");
}

static void test_functions_allow_listed(void **state)
{
	struct fixture *f = *state;
	refused(f->g, "SELECT load_extension('/tmp/evil.so')", -EPERM,
		"function load_extension is not allowed");
	refused(f->g, "SELECT randomblob(1000000000)", -EPERM, "function randomblob is not allowed");
	refused(f->g, "SELECT fts3_tokenizer('x')", -EPERM, "function fts3_tokenizer is not allowed");
	refused(f->g, "SELECT sqlite_compileoption_used('X')", -EPERM, "not allowed");
	char why[DE_SQLGUARD_WHY_MAX];
	assert_int_equal(run(f->g, "SELECT lower(comm), length(argv), instr(argv, '1'), "
			     "json_object('a', pid), strftime('%s', 'now') FROM processes",
			     why, sizeof(why)), 2000);
}

static void test_private_tables_refused(void **state)
{
	struct fixture *f = *state;
	refused(f->g, "SELECT * FROM secrets", -EPERM, "table secrets is not readable");
	refused(f->g, "SELECT * FROM proc_t", -EPERM, "table proc_t is not readable");
	refused(f->g, "SELECT sql FROM sqlite_master", -EPERM, "table sqlite_master is not readable");
	refused(f->g, "SELECT * FROM processes WHERE pid IN (SELECT length(k) FROM secrets)", -EPERM,
		"table secrets is not readable");
	/* A CTE named like a published view does not make a private table readable. */
	refused(f->g, "WITH processes AS (SELECT * FROM secrets) SELECT * FROM processes", -EPERM,
		"table secrets is not readable");
	refused(f->g, "WITH process_events AS (SELECT argv FROM proc_t) SELECT * FROM process_events",
		-EPERM, "table proc_t is not readable");
}

static void test_one_statement(void **state)
{
	struct fixture *f = *state;
	refused(f->g, "SELECT 1; SELECT 2", -EPERM, "only one statement");
	refused(f->g, "SELECT 1; DROP VIEW processes", -EPERM, "only one statement");
	refused(f->g, "", -EINVAL, "empty SQL");
	refused(f->g, "-- nothing", -EINVAL, "empty SQL");
	char why[DE_SQLGUARD_WHY_MAX];
	assert_int_equal(run(f->g, "SELECT 1; /* comment */ ;; -- more\n", why, sizeof(why)), 1);
}

static void test_sql_errors_named(void **state)
{
	struct fixture *f = *state;
	refused(f->g, "SELECT foo FROM processes", -EINVAL, "no such column: foo");
	refused(f->g, "SELECT FROM WHERE", -EINVAL, "syntax error");
	refused(f->g, "SELECT nosuchfn(1)", -EINVAL, "no such function: nosuchfn");
}

static void test_limits(void **state)
{
	struct fixture *f = *state;
	/* Expression depth: 1+1+...+1 is a tree 150 deep. */
	char sql[4096] = "SELECT 1";
	for (int i = 0; i < 150; i++)
		strcat(sql, "+1");
	refused(f->g, sql, -EINVAL, "Expression tree is too large (maximum depth 100)");
	/* Compound SELECT: 40 terms. */
	strcpy(sql, "SELECT 1");
	for (int i = 0; i < 40; i++)
		strcat(sql, " UNION SELECT 1");
	refused(f->g, sql, -EINVAL, "too many terms in compound SELECT");
	/* SQL text over the length limit. */
	static char big[80 * 1024];
	memset(big, ' ', sizeof(big) - 1);
	memcpy(big, "SELECT 1", 8);
	big[sizeof(big) - 1] = 0;
	refused(f->g, big, -E2BIG, "too big");
	/* LIKE pattern longer than the limit fails at run time. */
	char why[DE_SQLGUARD_WHY_MAX];
	sqlite3_stmt *st = NULL;
	assert_int_equal(de_sqlguard_prepare(f->g,
		"SELECT count(*) FROM processes WHERE argv LIKE printf('%.2000c', 'x')", &st, why,
		sizeof(why)), 0);
	assert_true(de_sqlguard_run(f->g, st, NULL, NULL, why, sizeof(why)) < 0);
	assert_non_null(strstr(why, "LIKE or GLOB pattern too complex"));
	sqlite3_finalize(st);
}

static int64_t ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void test_budget_stops_runaway(void **state)
{
	struct fixture *f = *state;
	const char *runaway[] = {
		/* recursion forever */
		"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
		/* a cartesian join of 2000^4 rows */
		"SELECT count(*) FROM processes a, processes b, processes c, processes d",
	};
	for (size_t i = 0; i < sizeof(runaway) / sizeof(runaway[0]); i++) {
		char why[DE_SQLGUARD_WHY_MAX] = "";
		sqlite3_stmt *st = NULL;
		if (de_sqlguard_prepare(f->g, runaway[i], &st, why, sizeof(why)) != 0)
			fail_msg("%s: %s", runaway[i], why);
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int64_t n = de_sqlguard_run(f->g, st, NULL, NULL, why, sizeof(why));
		int64_t ms = ms_since(&t0);
		assert_int_equal(n, -ETIMEDOUT);
		assert_string_equal(why, "time budget of 200 ms exceeded");
		assert_true(ms >= 190 && ms < 2000);
		sqlite3_finalize(st);
	}
	/* The connection still works after an interrupted statement. */
	char why[DE_SQLGUARD_WHY_MAX];
	assert_int_equal(run(f->g, "SELECT count(*) FROM processes", why, sizeof(why)), 1);
}

static void test_row_cap(void **state)
{
	struct fixture *f = *state;
	f->policy.max_rows = 100;
	char why[DE_SQLGUARD_WHY_MAX] = "";
	sqlite3_stmt *st = NULL;
	assert_int_equal(de_sqlguard_prepare(f->g, "SELECT pid FROM processes", &st, why,
					     sizeof(why)), 0);
	int64_t last = 0;
	assert_int_equal(de_sqlguard_run(f->g, st, first_int, &last, why, sizeof(why)), -E2BIG);
	assert_string_equal(why, "more than 100 rows");
	assert_int_equal(last, 100); /* the first 100 rows were delivered */
	sqlite3_finalize(st);
	f->policy.max_rows = 0;
}

static void test_read_only_connection(void **state)
{
	struct fixture *f = *state;
	/* Even with the authorizer out of the way the connection cannot write. */
	char *err = NULL;
	sqlite3_set_authorizer(de_sqlguard_db(f->g), NULL, NULL);
	assert_int_not_equal(sqlite3_exec(de_sqlguard_db(f->g), "DELETE FROM proc_t", NULL, NULL,
					  &err), SQLITE_OK);
	assert_non_null(strstr(err, "readonly"));
	sqlite3_free(err);
	de_sqlguard_free(f->g);
	char why[DE_SQLGUARD_WHY_MAX];
	f->g = de_sqlguard_open(f->path, &f->policy, why, sizeof(why));
	assert_non_null(f->g);
	refused(f->g, "DELETE FROM proc_t", -EPERM, "DELETE is not allowed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select_published_views),
		cmocka_unit_test(test_writes_and_ddl_refused),
		cmocka_unit_test(test_attach_pragma_refused),
		cmocka_unit_test(test_functions_allow_listed),
		cmocka_unit_test(test_private_tables_refused),
		cmocka_unit_test(test_one_statement),
		cmocka_unit_test(test_sql_errors_named),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_budget_stops_runaway),
		cmocka_unit_test(test_row_cap),
		cmocka_unit_test(test_read_only_connection),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
