/* fuzz_sqlguard.c: libFuzzer target for untrusted SQL under the guard.
 *
 * Arbitrary bytes as a rule's SQL against an in-memory database with a
 * private table, a secret table and published views. Beyond "no crash"
 * it checks the guard's promises: whatever compiles is one read-only
 * statement, running it never changes the database (the row counts of
 * every table stay the same), and a failure always says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sqlguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const published[] = { "processes", NULL };
static const struct de_sqlguard_policy policy = {
	.readable = published, .budget_ms = 20, .max_rows = 1000,
};
static sqlite3 *db;
static struct de_sqlguard *guard;

static int64_t count(const char *sql)
{
	sqlite3_stmt *st = NULL;
	sqlite3_set_authorizer(db, NULL, NULL);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
		abort();
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void init(void)
{
	if (sqlite3_open(":memory:", &db) != SQLITE_OK)
		abort();
	if (sqlite3_exec(db,
			 "CREATE TABLE proc_t(pid INTEGER, comm TEXT, argv TEXT);"
			 "CREATE TABLE secrets(k TEXT);"
			 "INSERT INTO secrets VALUES('key');"
			 "INSERT INTO proc_t VALUES(1, 'init', '/sbin/init'), (2, 'sh', 'sh -c x');"
			 "CREATE VIEW processes AS SELECT pid, comm, argv FROM proc_t;",
			 NULL, NULL, NULL) != SQLITE_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!db)
		init();
	char *sql = malloc(size + 1);
	if (!sql)
		return 0;
	memcpy(sql, data, size);
	sql[size] = 0;
	char why[DE_SQLGUARD_WHY_MAX] = "";
	guard = de_sqlguard_wrap(db, &policy, why, sizeof(why));
	if (!guard)
		abort();
	sqlite3_stmt *st = NULL;
	int rc = de_sqlguard_prepare(guard, sql, &st, why, sizeof(why));
	if (rc < 0) {
		if (st || !why[0])
			abort();
	} else {
		if (!st || !sqlite3_stmt_readonly(st))
			abort();
		why[0] = 0;
		int64_t n = de_sqlguard_run(guard, st, NULL, NULL, why, sizeof(why));
		if (n < 0 && !why[0])
			abort();
		sqlite3_finalize(st);
	}
	de_sqlguard_free(guard);
	if (count("SELECT count(*) FROM proc_t") != 2 || count("SELECT count(*) FROM secrets") != 1 ||
	    count("SELECT count(*) FROM sqlite_schema") != 3)
		abort();
	free(sql);
	return 0;
}
