/* test_store.c: the agent's event store: what events become in the
 * published views, hostile bytes, snapshots, retention, schema versions,
 * durability across kill -9, and the SQL guard over the real schema. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sqlguard.h"
#include "store.h"

static char path[64];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/de-store-test-%d.db", (int)getpid());
	return 0;
}

static void rm_db(void)
{
	char p[80];
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static int teardown(void **state)
{
	(void)state;
	rm_db();
	return 0;
}

static struct de_store *open_store(uint64_t age, uint64_t bytes)
{
	struct de_store_opts o = { .path = path, .retain_age_ns = age, .retain_bytes = bytes };
	char why[256];
	struct de_store *s = de_store_open(&o, why, sizeof(why));
	if (!s)
		fail_msg("open: %s", why);
	return s;
}

static void eid(struct de_event *ev, uint8_t tag)
{
	memset(ev->entity_id, tag, DE_ENTITY_ID_LEN);
}

static void ev_exec(struct de_event *ev, int pid, uint8_t tag, uint8_t ptag, const char *argv,
		    size_t argv_len, int64_t t)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = DE_EV_EXEC;
	ev->source = DE_EVSRC_EBPF;
	ev->time_ns = t;
	ev->pid = ev->tid = pid;
	ev->ppid = 1;
	eid(ev, tag);
	memset(ev->parent_entity_id, ptag, DE_ENTITY_ID_LEN);
	snprintf(ev->comm, sizeof(ev->comm), "c%d", pid);
	ev->argv = argv;
	ev->argv_len = argv_len;
	ev->argc = 0;
	for (size_t i = 0; i < argv_len; i++)
		ev->argc += argv[i] == 0;
	ev->exe = "/usr/bin/x";
	ev->filename = "/usr/bin/x";
	ev->exe_dev = 8;
	ev->exe_ino = 1000 + (uint64_t)pid;
	for (int i = 0; i < 4; i++)
		ev->uid[i] = ev->gid[i] = 1000;
	ev->have = DE_EVF_ARGV | DE_EVF_EXE | DE_EVF_FILENAME | DE_EVF_EXE_ID | DE_EVF_CREDS |
		   DE_EVF_PARENT;
}

/* First column of the first row of a query, as text (static buffer). */
static const char *q1(struct de_store *s, const char *sql)
{
	static char out[4096];
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(de_store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, de_store_errmsg(s));
	out[0] = 0;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, sizeof(out), "%s", (const char *)sqlite3_column_text(st, 0));
	else
		snprintf(out, sizeof(out), "(null)");
	sqlite3_finalize(st);
	return out;
}

static void test_schema_and_views(void **state)
{
	(void)state;
	rm_db();
	struct de_store *s = open_store(0, 0);
	assert_int_equal(atoi(q1(s, "PRAGMA user_version")), DE_STORE_SCHEMA_VERSION);
	assert_string_equal(q1(s, "PRAGMA journal_mode"), "wal");
	assert_string_equal(q1(s, "PRAGMA page_size"), "16384"); /* a new store: see store.c */
	for (const char *const *n = de_store_published; *n; n++) {
		char sql[128];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", *n);
		assert_string_equal(q1(s, sql), "0");
	}
	de_store_close(s);
}

static void test_exec_fork_exit(void **state)
{
	(void)state;
	rm_db();
	struct de_store *s = open_store(0, 0);
	struct de_event ev;
	/* grandparent (bash), parent (nginx) via exec, child forked from parent then execs sh */
	static const char gp_argv[] = "bash\0-l";
	ev_exec(&ev, 10, 0x10, 0x01, gp_argv, sizeof(gp_argv), 1000);
	assert_true(de_store_add(s, &ev) > 0);
	static const char p_argv[] = "nginx\0-g\0daemon off;";
	ev_exec(&ev, 20, 0x20, 0x10, p_argv, sizeof(p_argv), 2000);
	assert_true(de_store_add(s, &ev) > 0);

	memset(&ev, 0, sizeof(ev));
	ev.type = DE_EV_FORK;
	ev.source = DE_EVSRC_EBPF;
	ev.time_ns = 3000;
	ev.pid = 30;
	ev.ppid = 20;
	eid(&ev, 0x30);
	memset(ev.parent_entity_id, 0x20, DE_ENTITY_ID_LEN);
	ev.have = DE_EVF_PARENT;
	assert_true(de_store_add(s, &ev) > 0);

	/* hostile argv: newline, tab, ESC, invalid UTF-8, quote, backslash */
	static const char h_argv[] = "sh\0-c\0echo \"a\\b\"\n\t\x1b[31m\xff\xfe end";
	ev_exec(&ev, 30, 0x30, 0x20, h_argv, sizeof(h_argv), 4000);
	assert_true(de_store_add(s, &ev) > 0);

	memset(&ev, 0, sizeof(ev));
	ev.type = DE_EV_EXIT;
	ev.source = DE_EVSRC_EBPF;
	ev.time_ns = 5000;
	ev.pid = 30;
	eid(&ev, 0x30);
	ev.exit_code = 3;
	ev.have = DE_EVF_EXIT;
	int64_t last = de_store_add(s, &ev);
	assert_true(last > 0);
	assert_int_equal(de_store_commit(s), 0);
	assert_int_equal(de_store_last_event_id(s), last);

	char e30[] = "30303030303030303030303030303030";
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT images || ' ' || comm || ' ' || exit_code || ' ' || alive"
		 " || ' ' || argc FROM processes WHERE entity_id = '%s'", e30);
	assert_string_equal(q1(s, sql), "2 c30 3 0 3");
	/* The fork's image is the parent's (nginx), the exec's is sh. */
	snprintf(sql, sizeof(sql), "SELECT group_concat(cmdline, '|') FROM (SELECT cmdline FROM"
		 " process_events WHERE entity_id = '%s' AND type IN ('fork', 'exec') ORDER BY id)",
		 e30);
	assert_string_equal(q1(s, sql),
			    "nginx -g daemon off;|sh -c echo \"a\\b\"\n\t\x1b[31m\xff\xfe end");
	/* argv JSON is valid and round-trips the valid parts. */
	snprintf(sql, sizeof(sql), "SELECT json_valid(argv) || json_extract(argv, '$[1]')"
		 " || json_array_length(argv) FROM processes WHERE entity_id = '%s'", e30);
	assert_string_equal(q1(s, sql), "1-c3");
	/* Ancestry: parent nginx, grandparent bash. */
	snprintf(sql, sizeof(sql), "SELECT parent_comm || ' ' || parent_cmdline || ' / ' ||"
		 " grandparent_comm FROM process_ancestry WHERE entity_id = '%s'", e30);
	assert_string_equal(q1(s, sql), "c20 nginx -g daemon off; / c10");
	/* Exit recorded on the event too; executables counted. */
	assert_string_equal(q1(s, "SELECT exit_code FROM process_events WHERE type = 'exit'"), "3");
	assert_string_equal(q1(s, "SELECT count(*) || ' ' || sum(exec_count) FROM executables"),
			    "3 3");
	de_store_close(s);
}

static void test_snapshot_idempotent(void **state)
{
	(void)state;
	rm_db();
	struct de_store *s = open_store(0, 0);
	struct de_event ev;
	static const char argv[] = "sleep\0" "100";
	for (int round = 0; round < 3; round++) {
		ev_exec(&ev, 40, 0x40, 0x01, argv, sizeof(argv), 1000 + round);
		ev.type = DE_EV_SNAPSHOT;
		assert_true(de_store_add(s, &ev) > 0);
	}
	/* A changed image seen by a resync (a missed exec) is a new image. */
	static const char argv2[] = "sleep\0" "200";
	ev_exec(&ev, 40, 0x40, 0x01, argv2, sizeof(argv2), 2000);
	ev.type = DE_EV_SNAPSHOT;
	assert_true(de_store_add(s, &ev) > 0);
	assert_int_equal(de_store_commit(s), 0);
	assert_string_equal(q1(s, "SELECT images || ' ' || cmdline FROM processes"), "2 sleep 200");
	assert_string_equal(q1(s, "SELECT count(*) FROM process_events WHERE type = 'snapshot'"),
			    "4");
	de_store_close(s);
}

static void test_status_and_drops(void **state)
{
	(void)state;
	rm_db();
	struct de_store *s = open_store(0, 0);
	struct de_event ev = { .type = DE_EV_STATUS, .source = DE_EVSRC_EBPF, .time_ns = 7,
			       .status = DE_ST_DROPS, .detail = "ring buffer full" };
	ev.drops[DE_EV_EXEC] = 5;
	ev.drops[DE_EV_EXIT] = 2;
	assert_true(de_store_add(s, &ev) > 0);
	assert_int_equal(de_store_commit(s), 0);
	assert_string_equal(q1(s, "SELECT kind || ' ' || detail || ' ' || drops_exec || ' ' ||"
				  " drops_exit || ' ' || drops_fork FROM collector_status"),
			    "drops ring buffer full 5 2 0");
	de_store_close(s);
}

static void test_newer_schema_refused(void **state)
{
	(void)state;
	rm_db();
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct de_store_opts o = { .path = path };
	char why[256] = "";
	assert_null(de_store_open(&o, why, sizeof(why)));
	assert_non_null(strstr(why, "schema version 99"));
	assert_non_null(strstr(why, "refusing to touch a newer database"));
}

static void test_retention(void **state)
{
	(void)state;
	rm_db();
	struct de_store *s = open_store(1000, 0);
	struct de_event ev;
	static const char argv[] = "x";
	for (int i = 0; i < 100; i++) {
		ev_exec(&ev, 100 + i, (uint8_t)(0x80 + i), 0x01, argv, sizeof(argv), i * 100);
		assert_true(de_store_add(s, &ev) > 0);
		if (i < 50) { /* the first 50 exit */
			memset(&ev, 0, sizeof(ev));
			ev.type = DE_EV_EXIT;
			ev.time_ns = i * 100 + 1;
			ev.pid = 100 + i;
			eid(&ev, (uint8_t)(0x80 + i));
			assert_true(de_store_add(s, &ev) > 0);
		}
	}
	assert_int_equal(de_store_commit(s), 0);
	/* now = 10,000; age 1,000: events before 9,000 go. */
	int64_t n = de_store_retain(s, 10000);
	assert_int_equal(n, 90 + 50);
	assert_string_equal(q1(s, "SELECT min(time_ns) FROM process_events"), "9000");
	/* Exited processes without events are gone; live ones stay. */
	assert_string_equal(q1(s, "SELECT count(*) FROM processes"), "50");
	assert_string_equal(q1(s, "SELECT count(*) FROM processes WHERE NOT alive"), "0");
	de_store_close(s);
}

static int first_int(sqlite3_stmt *st, void *ud)
{
	*(int64_t *)ud = sqlite3_column_int64(st, 0);
	return 0;
}

static void test_guard_over_store(void **state)
{
	(void)state;
	rm_db();
	struct de_store *s = open_store(0, 0);
	struct de_event ev;
	static const char argv[] = "curl\0http://x/a.sh";
	ev_exec(&ev, 50, 0x50, 0x01, argv, sizeof(argv), 1);
	assert_true(de_store_add(s, &ev) > 0);
	assert_int_equal(de_store_commit(s), 0);
	struct de_store_window win = { 0, 1000 };
	struct de_sqlguard_policy pol = { .readable = de_store_published, .budget_ms = 500,
					  .setup_db = de_store_register_functions, .setup_ud = &win };
	char why[256];
	struct de_sqlguard *g = de_sqlguard_open(path, &pol, why, sizeof(why));
	if (!g)
		fail_msg("guard: %s", why);
	sqlite3_stmt *st = NULL;
	assert_int_equal(de_sqlguard_prepare(g, "SELECT pid FROM process_events WHERE type = 'exec'"
					     " AND cmdline LIKE 'curl %'", &st, why, sizeof(why)), 0);
	assert_int_equal(de_sqlguard_run(g, st, NULL, NULL, why, sizeof(why)), 1);
	sqlite3_finalize(st);
	/* The rule window: events in (lo, hi] only. */
	assert_int_equal(de_sqlguard_prepare(g, "SELECT count(*) FROM new_process_events", &st, why,
					     sizeof(why)), 0);
	int64_t n = -1;
	assert_int_equal(de_sqlguard_run(g, st, first_int, &n, why, sizeof(why)), 1);
	assert_int_equal(n, 1);
	win.lo = 1;
	assert_int_equal(de_sqlguard_run(g, st, first_int, &n, why, sizeof(why)), 1);
	assert_int_equal(n, 0);
	sqlite3_finalize(st);
	assert_int_equal(de_sqlguard_prepare(g, "SELECT * FROM event_t", &st, why, sizeof(why)),
			 -EPERM);
	assert_non_null(strstr(why, "table event_t is not readable"));
	assert_int_equal(de_sqlguard_prepare(g, "SELECT * FROM alert_t", &st, why, sizeof(why)),
			 -EPERM);
	de_sqlguard_free(g);
	de_store_close(s);
}

/* A child commits batches and reports each; it is killed -9 mid-run. Every
 * batch it reported committed must be there after reopening. */
static void test_kill9_keeps_commits(void **state)
{
	(void)state;
	rm_db();
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		struct de_store_opts o = { .path = path };
		struct de_store *s = de_store_open(&o, NULL, 0);
		if (!s)
			_exit(1);
		static const char argv[] = "x\0y";
		for (int32_t i = 0;; i++) {
			struct de_event ev;
			ev_exec(&ev, 1 + (i % 30000), (uint8_t)i, 0x01, argv, sizeof(argv), i);
			memcpy(ev.entity_id, &i, sizeof(i));
			if (de_store_add(s, &ev) < 0)
				_exit(2);
			if (i % 100 == 99) {
				if (de_store_commit(s) < 0)
					_exit(3);
				int32_t done = i + 1;
				if (write(p[1], &done, sizeof(done)) != sizeof(done))
					_exit(4);
			}
		}
	}
	close(p[1]);
	int32_t reported = 0, v;
	while (reported < 3000 && read(p[0], &v, sizeof(v)) == sizeof(v))
		reported = v;
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
	while (read(p[0], &v, sizeof(v)) == sizeof(v))
		reported = v;
	close(p[0]);
	assert_true(WIFSIGNALED(st));
	struct de_store *s = open_store(0, 0);
	int64_t have = de_store_last_event_id(s);
	print_message("# reported %d committed, found %lld after kill -9\n", reported,
		      (long long)have);
	assert_true(have >= reported);
	assert_string_equal(q1(s, "PRAGMA integrity_check"), "ok");
	de_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_and_views),
		cmocka_unit_test(test_exec_fork_exit),
		cmocka_unit_test(test_snapshot_idempotent),
		cmocka_unit_test(test_status_and_drops),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_guard_over_store),
		cmocka_unit_test(test_kill9_keeps_commits),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
