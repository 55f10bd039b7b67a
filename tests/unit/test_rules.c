/* test_rules.c: rule files: both layouts, defaults, every kind of bad
 * input with its file:line:column, all-or-nothing loading, and SQL
 * validation by SQLite over the real store schema. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rules.h"
#include "store.h"

static const char good[] =
	"id: DE-T-1\n"
	"name: Reverse shell via /dev/tcp\n"
	"severity: high\n"
	"mitre: [T1059.004, T1071]\n"
	"tags: [execution]\n"
	"dedup_key: cmdline\n"
	"window: 10m\n"
	"sql: |\n"
	"  SELECT entity_id, cmdline FROM new_process_events\n"
	"  WHERE type = 'exec' AND cmdline LIKE '%/dev/tcp/%'\n"
	"---\n"
	"rules:\n"
	"  - id: DE-T-2\n"
	"    name: Discovery burst\n"
	"    description: many discovery tools in a minute\n"
	"    severity: low\n"
	"    enabled: false\n"
	"    schedule: 60s\n"
	"    references: https://attack.mitre.org/tactics/TA0007/\n"
	"    sql: >\n"
	"      SELECT entity_id, count(*) AS n FROM process_events\n"
	"      WHERE comm IN ('id', 'whoami', 'uname') GROUP BY entity_id HAVING n >= 3\n"
	"  - {id: DE-T-3, name: x, severity: critical, sql: SELECT entity_id FROM processes}\n";

static void test_good_file(void **state)
{
	(void)state;
	struct de_ruleset rs = { 0 };
	char err[512] = "";
	assert_int_equal(de_rules_load_buffer(&rs, "good.yaml", good, strlen(good), err,
					      sizeof(err)), 0);
	assert_int_equal(rs.n, 3);
	struct de_rule *r = &rs.rules[0];
	assert_string_equal(r->id, "DE-T-1");
	assert_int_equal(r->severity, DE_SEV_HIGH);
	assert_int_equal(r->mitre.n, 2);
	assert_string_equal(r->mitre.v[1], "T1071");
	assert_string_equal(r->dedup_key, "cmdline");
	assert_int_equal(r->window_s, 600);
	assert_int_equal(r->schedule_s, 0);
	assert_true(r->enabled);
	assert_int_equal(r->line, 1);
	assert_string_equal(r->file, "good.yaml");
	r = &rs.rules[1];
	assert_false(r->enabled);
	assert_int_equal(r->schedule_s, 60);
	assert_int_equal(r->window_s, 3600); /* default */
	assert_int_equal(r->references.n, 1);
	assert_non_null(strstr(r->sql, "HAVING n >= 3"));
	assert_int_equal(r->line, 13);
	assert_int_equal(rs.rules[2].severity, DE_SEV_CRITICAL);
	de_ruleset_free(&rs);
}

/* Loading `text` fails with exactly `want` as the message. */
static void bad(const char *text, const char *want)
{
	struct de_ruleset rs = { 0 };
	char err[512] = "";
	int rc = de_rules_load_buffer(&rs, "bad.yaml", text, strlen(text), err, sizeof(err));
	if (rc >= 0 || strcmp(err, want) != 0)
		fail_msg("for:\n%s\ngot %d '%s'\nwant '%s'", text, rc, err, want);
	assert_int_equal(rs.n, 0);
	de_ruleset_free(&rs);
}

static void test_bad_files(void **state)
{
	(void)state;
	bad("id: a\nname: b\nseverity: high\nsql: SELECT 1\ncolour: red\n",
	    "bad.yaml:5:1: unknown key 'colour' (keys: id, name, description, severity, mitre,"
	    " tags, enabled, author, references, sql, dedup_key, window, schedule)");
	bad("id: a\nid: b\n", "bad.yaml:2:1: duplicate key 'id'");
	bad("id: a\nname: [x]\n", "bad.yaml:2:7: name: expected a string, got a list");
	bad("id: a\nname: b\nseverity: urgent\nsql: SELECT 1\n",
	    "bad.yaml:3:11: severity: 'urgent' is not one of info, low, medium, high, critical");
	bad("id: a\nmitre: [T12]\n",
	    "bad.yaml:2:9: mitre: 'T12' is not a MITRE ATT&CK technique id (T1234 or T1234.567)");
	bad("id: a\nname: b\nseverity: low\n", "bad.yaml:1:1: rule a: missing required key 'sql'");
	bad("id: 'a b'\n", "bad.yaml:1:5: id: 'a b' is not 1-64 letters, digits, '-', '_' or '.'");
	bad("id: a\nenabled: yes\n", "bad.yaml:2:10: enabled: expected true or false, got 'yes'");
	bad("id: a\nwindow: soon\n",
	    "bad.yaml:2:9: window: 'soon' is not a duration (90s, 5m, 2h, 1d; at most a year)");
	bad("id: a\nschedule: 0s\n", "bad.yaml:2:11: schedule: '0s' is not a duration (90s, 5m,"
	    " 2h, 1d; at most a year; not 0)");
	bad("id: &x a\n", "bad.yaml:1:5: anchors are not allowed");
	bad("id: \"a\\0b\"\n", "bad.yaml:1:5: id: NUL bytes are not allowed");
	bad("- id: a\n", "bad.yaml:1:1: a rule file holds rules: expected a mapping, got a list");
	bad("rules: {id: a}\n", "bad.yaml:1:8: rules: expected a list, got a mapping");
	bad("rules: [x]\n", "bad.yaml:1:9: rules: expected a rule (a mapping), got 'x'");
	bad("id: a\nname: b\n  bad indent: [\n", "bad.yaml:3:13: mapping values are not allowed in"
	    " this context");
	bad("dedup_key: 'x; DROP'\n", "bad.yaml:1:12: dedup_key: 'x; DROP' is not a column name");
	bad("{}\n", "bad.yaml:1:2: an empty mapping is not a rule");
}

/* A failed load leaves an existing set untouched, even when the error is
 * in the file's second rule. */
static void test_all_or_nothing(void **state)
{
	(void)state;
	struct de_ruleset rs = { 0 };
	char err[512];
	assert_int_equal(de_rules_load_buffer(&rs, "good.yaml", good, strlen(good), err,
					      sizeof(err)), 0);
	const char *half = "rules:\n  - {id: ok, name: n, severity: low, sql: SELECT 1}\n"
			   "  - {id: broken, severity: nope}\n";
	assert_true(de_rules_load_buffer(&rs, "half.yaml", half, strlen(half), err,
					 sizeof(err)) < 0);
	assert_int_equal(rs.n, 3);
	assert_string_equal(rs.rules[2].id, "DE-T-3");
	de_ruleset_free(&rs);
}

struct db {
	char path[64];
	struct de_store *store;
	struct de_sqlguard *g;
	struct de_store_window win;
	struct de_sqlguard_policy pol;
};

static void db_open(struct db *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/de-rules-test-%d.db", (int)getpid());
	unlink(d->path);
	char why[256];
	struct de_store_opts o = { .path = d->path };
	d->store = de_store_open(&o, why, sizeof(why));
	if (!d->store)
		fail_msg("store: %s", why);
	d->pol = (struct de_sqlguard_policy){ .readable = de_store_published, .budget_ms = 500,
					      .setup_db = de_store_register_functions,
					      .setup_ud = &d->win };
	d->g = de_sqlguard_open(d->path, &d->pol, why, sizeof(why));
	if (!d->g)
		fail_msg("guard: %s", why);
}

static void db_close(struct db *d)
{
	de_sqlguard_free(d->g);
	de_store_close(d->store);
	char p[80];
	unlink(d->path);
	snprintf(p, sizeof(p), "%s-wal", d->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", d->path);
	unlink(p);
}

static void invalid_sql(struct db *d, const char *sql, const char *want)
{
	char text[1024];
	snprintf(text, sizeof(text), "id: R1\nname: n\nseverity: low\n%ssql: \"%s\"\n",
		 strstr(sql, "cmdline") && strstr(want, "dedup") ? "dedup_key: user\n" : "", sql);
	struct de_ruleset rs = { 0 };
	char err[512] = "";
	assert_int_equal(de_rules_load_buffer(&rs, "r.yaml", text, strlen(text), err, sizeof(err)),
			 0);
	int rc = de_rules_validate(&rs, d->g, err, sizeof(err));
	if (rc != -EINVAL || strcmp(err, want) != 0)
		fail_msg("%s: got %d '%s', want '%s'", sql, rc, err, want);
	de_ruleset_free(&rs);
}

static void test_validate_sql(void **state)
{
	(void)state;
	struct db d;
	db_open(&d);
	struct de_ruleset rs = { 0 };
	char err[512] = "";
	assert_int_equal(de_rules_load_buffer(&rs, "good.yaml", good, strlen(good), err,
					      sizeof(err)), 0);
	if (de_rules_validate(&rs, d.g, err, sizeof(err)) != 0)
		fail_msg("good rules refused: %s", err);
	de_ruleset_free(&rs);

	invalid_sql(&d, "ATTACH '/tmp/x' AS x",
		    "r.yaml:1: rule R1: ATTACH is not allowed (only SELECT)");
	invalid_sql(&d, "PRAGMA table_info(processes)",
		    "r.yaml:1: rule R1: PRAGMA is not allowed (only SELECT)");
	invalid_sql(&d, "SELECT load_extension('x') AS entity_id",
		    "r.yaml:1: rule R1: function load_extension is not allowed");
	invalid_sql(&d, "DELETE FROM processes", "r.yaml:1: rule R1: cannot modify processes"
		    " because it is a view");
	invalid_sql(&d, "SELECT entity_id FROM processes; SELECT 1",
		    "r.yaml:1: rule R1: only one statement is allowed");
	invalid_sql(&d, "SELECT foo FROM processes", "r.yaml:1: rule R1: no such column: foo");
	invalid_sql(&d, "SELECT pid FROM processes",
		    "r.yaml:1: rule R1: the query must return an entity_id column (the process"
		    " the alert is about)");
	invalid_sql(&d, "SELECT entity_id, cmdline FROM processes",
		    "r.yaml:1: rule R1: dedup_key 'user' is not a column the query returns");
	invalid_sql(&d, "SELECT proc_pk AS entity_id FROM event_t",
		    "r.yaml:1: rule R1: table event_t is not readable (only the published views"
		    " are)");
	db_close(&d);
}

static void test_duplicate_ids(void **state)
{
	(void)state;
	struct db d;
	db_open(&d);
	struct de_ruleset rs = { 0 };
	char err[512];
	const char *a = "id: X\nname: a\nseverity: low\nsql: SELECT entity_id FROM processes\n";
	const char *b = "\n\nid: X\nname: b\nseverity: low\nsql: SELECT entity_id FROM processes\n";
	assert_int_equal(de_rules_load_buffer(&rs, "a.yaml", a, strlen(a), err, sizeof(err)), 0);
	assert_int_equal(de_rules_load_buffer(&rs, "b.yaml", b, strlen(b), err, sizeof(err)), 0);
	assert_int_equal(de_rules_validate(&rs, d.g, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "b.yaml:3: rule X: duplicate rule id (first defined at a.yaml:1)");
	de_ruleset_free(&rs);
	db_close(&d);
}

static void put(const char *dir, const char *name, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_load_dir(void **state)
{
	(void)state;
	char dir[] = "/tmp/de-rules-dir-XXXXXX";
	assert_non_null(mkdtemp(dir));
	put(dir, "20-b.yml", "id: B\nname: b\nseverity: low\nsql: SELECT 1\n");
	put(dir, "10-a.yaml", "id: A\nname: a\nseverity: low\nsql: SELECT 1\n");
	put(dir, "README.md", "not a rule\n");
	put(dir, ".hidden.yaml", "garbage: [\n");
	struct de_ruleset rs = { 0 };
	char err[512] = "";
	if (de_rules_load_dir(&rs, dir, false, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(rs.n, 2);
	assert_string_equal(rs.rules[0].id, "A");
	assert_string_equal(rs.rules[1].id, "B");
	/* One bad file: nothing from the directory is added. */
	put(dir, "30-c.yaml", "id: C\nseverity: bogus\n");
	assert_true(de_rules_load_dir(&rs, dir, false, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "30-c.yaml:2:11: severity: 'bogus'"));
	assert_int_equal(rs.n, 2);
	de_ruleset_free(&rs);
	/* Missing directory: an error unless optional. */
	assert_int_equal(de_rules_load_dir(&rs, "/nonexistent/rules.d", true, err, sizeof(err)), 0);
	assert_int_equal(de_rules_load_dir(&rs, "/nonexistent/rules.d", false, err, sizeof(err)),
			 -ENOENT);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_durations(void **state)
{
	(void)state;
	uint64_t s = 0;
	assert_int_equal(de_duration_parse("90", &s), 0);
	assert_int_equal(s, 90);
	assert_int_equal(de_duration_parse("5m", &s), 0);
	assert_int_equal(s, 300);
	assert_int_equal(de_duration_parse("2h", &s), 0);
	assert_int_equal(s, 7200);
	assert_int_equal(de_duration_parse("1d", &s), 0);
	assert_int_equal(s, 86400);
	const char *badv[] = { "", "m", "-1", "5x", "5mm", "367d", "99999999999999999999", " 5" };
	for (size_t i = 0; i < sizeof(badv) / sizeof(badv[0]); i++)
		if (de_duration_parse(badv[i], &s) != -EINVAL)
			fail_msg("'%s' accepted", badv[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_all_or_nothing),
		cmocka_unit_test(test_validate_sql),
		cmocka_unit_test(test_duplicate_ids),
		cmocka_unit_test(test_load_dir),
		cmocka_unit_test(test_durations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
