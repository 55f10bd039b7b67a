/* store_schema.c: the store's schema, as numbered migrations (store.h).
 *
 * Migration N turns a version N-1 database into version N; each runs in
 * the same transaction as the user_version bump. Never edit a released
 * migration: add the next one. The published views are the contract with
 * rules (docs/SCHEMA.md); tables are private and may change freely.
 */
#include <stddef.h>

#include "store_schema.h"

static const char v1[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"

	/* One row per process instance. Internal integer keys (pk) keep
	 * inserts sequential; the 16-byte entity id is looked up once per
	 * event through its unique index. cur_image: the image it runs now. */
	"CREATE TABLE process_t("
	" pk INTEGER PRIMARY KEY, entity_id BLOB NOT NULL UNIQUE, pid INTEGER NOT NULL,"
	" ppid INTEGER, parent_pk INTEGER, parent_entity_id BLOB, start_time_ns INTEGER,"
	" first_seen_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL,"
	" exit_time_ns INTEGER, exit_code INTEGER, exit_signal INTEGER,"
	" exit_missed INTEGER NOT NULL DEFAULT 0, images INTEGER NOT NULL DEFAULT 0,"
	" cur_image INTEGER"
	");"
	"CREATE INDEX process_pid ON process_t(pid);"
	"CREATE INDEX process_parent ON process_t(parent_pk);"

	/* One row per image of an instance: 0 = first seen, +1 per exec. */
	"CREATE TABLE image_t("
	" pk INTEGER PRIMARY KEY, proc_pk INTEGER NOT NULL, image INTEGER NOT NULL,"
	" time_ns INTEGER NOT NULL, comm TEXT, exe TEXT, exe_deleted INTEGER,"
	" exe_memfd INTEGER, filename TEXT, cmdline TEXT, argv TEXT, argc INTEGER,"
	" argv_truncated INTEGER, uid INTEGER, euid INTEGER, suid INTEGER, gid INTEGER,"
	" egid INTEGER, loginuid INTEGER, sessionid INTEGER, user TEXT, cwd TEXT, tty TEXT,"
	" cgroup TEXT, container_id TEXT, exe_dev INTEGER, exe_ino INTEGER, sha256 TEXT,"
	" blake3 TEXT, cap_eff INTEGER, source TEXT, partial INTEGER"
	");"
	"CREATE INDEX image_proc ON image_t(proc_pk, image);"

	/* Every event, numbered: rules see id > watermark. */
	"CREATE TABLE event_t("
	" id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, type TEXT NOT NULL,"
	" source TEXT, collector_seq INTEGER, proc_pk INTEGER, pid INTEGER, tid INTEGER,"
	" ppid INTEGER, image_pk INTEGER, partial INTEGER, exit_code INTEGER,"
	" exit_signal INTEGER"
	");"
	"CREATE INDEX event_proc ON event_t(proc_pk);"
	"CREATE INDEX event_time ON event_t(time_ns);"

	"CREATE TABLE exe_t("
	" dev INTEGER NOT NULL, ino INTEGER NOT NULL, path TEXT, sha256 TEXT, blake3 TEXT,"
	" first_seen_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL,"
	" exec_count INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY(dev, ino)"
	") WITHOUT ROWID;"
	"CREATE INDEX exe_sha256 ON exe_t(sha256);"

	"CREATE TABLE status_t("
	" id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, source TEXT, kind TEXT,"
	" detail TEXT, drops_exec INTEGER, drops_fork INTEGER, drops_exit INTEGER,"
	" drops_other INTEGER"
	");"

	"CREATE TABLE rule_t("
	" id TEXT PRIMARY KEY, name TEXT, severity TEXT, enabled INTEGER, sql TEXT,"
	" content_blake3 TEXT, loaded_ns INTEGER, last_event_id INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;"

	"CREATE TABLE alert_t("
	" id TEXT PRIMARY KEY, time_ns INTEGER NOT NULL, rule_id TEXT NOT NULL,"
	" rule_name TEXT, severity TEXT, entity_id TEXT, pid INTEGER, dedup_key TEXT,"
	" event_id INTEGER, summary TEXT, detail_json TEXT"
	") WITHOUT ROWID;"
	"CREATE INDEX alert_time ON alert_t(time_ns);"
	"CREATE INDEX alert_dedup ON alert_t(rule_id, entity_id, dedup_key);"

	/* --- published views (docs/SCHEMA.md); ids as 32 lower-case hex --- */
	"CREATE VIEW processes AS SELECT"
	" lower(hex(p.entity_id)) AS entity_id, p.pid, p.ppid,"
	" lower(hex(p.parent_entity_id)) AS parent_entity_id, p.start_time_ns,"
	" p.first_seen_ns, p.last_seen_ns, p.exit_time_ns, p.exit_code, p.exit_signal,"
	" p.exit_missed, (p.exit_time_ns IS NULL AND p.exit_missed = 0) AS alive, p.images,"
	" i.time_ns AS image_time_ns, i.comm, i.exe, i.exe_deleted, i.exe_memfd, i.filename,"
	" i.cmdline, i.argv, i.argc, i.argv_truncated, i.uid, i.euid, i.suid, i.gid, i.egid,"
	" i.loginuid, i.sessionid, i.user, i.cwd, i.tty, i.cgroup, i.container_id, i.exe_dev,"
	" i.exe_ino, i.sha256, i.blake3, i.cap_eff, i.source, i.partial,"
	" p.pk AS process_key, p.parent_pk AS parent_key"
	" FROM process_t p LEFT JOIN image_t i ON i.pk = p.cur_image;"

	"CREATE VIEW process_events AS SELECT"
	" e.id, e.time_ns, e.type, e.source, lower(hex(p.entity_id)) AS entity_id, e.pid,"
	" e.tid, e.ppid, lower(hex(p.parent_entity_id)) AS parent_entity_id, i.image,"
	" e.partial, e.exit_code, e.exit_signal,"
	" i.comm, i.exe, i.exe_deleted, i.exe_memfd, i.filename, i.cmdline, i.argv, i.argc,"
	" i.argv_truncated, i.uid, i.euid, i.gid, i.egid, i.loginuid, i.sessionid, i.user,"
	" i.cwd, i.tty, i.cgroup, i.container_id, i.sha256, i.blake3, i.cap_eff,"
	" e.proc_pk AS process_key, p.parent_pk AS parent_key"
	" FROM event_t e LEFT JOIN process_t p ON p.pk = e.proc_pk"
	" LEFT JOIN image_t i ON i.pk = e.image_pk"
	" WHERE e.type IN ('exec', 'fork', 'exit', 'snapshot');"

	/* The events a rule has not seen yet: the rule engine binds the
	 * window (de_window_lo, de_window_hi] per evaluation; both functions
	 * exist only on rule connections (rules.c). */
	"CREATE VIEW new_process_events AS SELECT * FROM process_events"
	" WHERE id > de_window_lo() AND id <= de_window_hi();"

	"CREATE VIEW process_ancestry AS SELECT"
	" lower(hex(c.entity_id)) AS entity_id, c.pid, ci.comm, ci.exe, ci.cmdline, ci.user,"
	" lower(hex(p.entity_id)) AS parent_entity_id, p.pid AS parent_pid,"
	" pi.comm AS parent_comm, pi.exe AS parent_exe, pi.cmdline AS parent_cmdline,"
	" pi.user AS parent_user,"
	" lower(hex(g.entity_id)) AS grandparent_entity_id, g.pid AS grandparent_pid,"
	" gi.comm AS grandparent_comm, gi.exe AS grandparent_exe,"
	" gi.cmdline AS grandparent_cmdline, c.pk AS process_key"
	" FROM process_t c LEFT JOIN image_t ci ON ci.pk = c.cur_image"
	" LEFT JOIN process_t p ON p.pk = c.parent_pk LEFT JOIN image_t pi ON pi.pk = p.cur_image"
	" LEFT JOIN process_t g ON g.pk = p.parent_pk LEFT JOIN image_t gi ON gi.pk = g.cur_image;"

	"CREATE VIEW executables AS SELECT"
	" path, dev, ino, sha256, blake3, first_seen_ns, last_seen_ns, exec_count FROM exe_t;"

	"CREATE VIEW alerts AS SELECT"
	" id, time_ns, rule_id, rule_name, severity, entity_id, pid, dedup_key, event_id,"
	" summary FROM alert_t;"

	"CREATE VIEW collector_status AS SELECT"
	" id, time_ns, source, kind, detail, drops_exec, drops_fork, drops_exit, drops_other"
	" FROM status_t;";

/* v2: no index on event_t(proc_pk). Every event paid for it, and nothing
 * documented used it: the views reach processes from events (by the
 * process's own key), rules select events by id and time, and retention
 * scans event_t once per run anyway. */
static const char v2[] = "DROP INDEX IF EXISTS event_proc;";

/* Version 3: alert delivery (outbox.h). outbox_t numbers alerts in the
 * order they were committed (the per-sink delivery order; alert_t.seq
 * points to it; the alert_t primary key makes queuing an alert twice a
 * no-op, so no second index of random UUIDs is kept here) and holds the
 * alert's JSON (alert_t is WITHOUT ROWID, keyed by a random UUID: large
 * rows there cost page splits, so the document lives in this append-only
 * rowid table and alert_t.detail_json stays NULL); delivery_t holds
 * one row per (sink, alert) with its state (0 pending, 1 delivered,
 * 2 dead-lettered), attempts, next attempt, last error and the payload
 * rendered for that sink (dropped once delivered); sink_t the last known
 * circuit-breaker state and error of each sink; alert_t gains acked_ns. */
static const char v3[] =
	"CREATE TABLE outbox_t("
	" seq INTEGER PRIMARY KEY, alert_id TEXT NOT NULL, time_ns INTEGER NOT NULL,"
	" json TEXT"
	");"
	"CREATE TABLE delivery_t("
	" id INTEGER PRIMARY KEY, sink TEXT NOT NULL, seq INTEGER NOT NULL,"
	" alert_id TEXT NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
	" attempts INTEGER NOT NULL DEFAULT 0, next_ns INTEGER NOT NULL DEFAULT 0,"
	" created_ns INTEGER NOT NULL, updated_ns INTEGER, delivered_ns INTEGER,"
	" last_error TEXT, payload BLOB,"
	" UNIQUE(sink, seq)"
	");"
	"CREATE INDEX delivery_pending ON delivery_t(sink, seq) WHERE state = 0;"
	"CREATE INDEX delivery_dead ON delivery_t(sink, seq) WHERE state = 2;"
	"CREATE TABLE sink_t("
	" name TEXT PRIMARY KEY, type TEXT, breaker TEXT, failures INTEGER NOT NULL DEFAULT 0,"
	" opened_ns INTEGER, last_error TEXT, last_error_ns INTEGER, last_ok_ns INTEGER"
	") WITHOUT ROWID;"
	/* alert_t becomes a rowid table: as WITHOUT ROWID keyed by random
	 * UUIDs every alert row went to a random page (measured: 75% of the
	 * cost of queuing an alert); now rows append and only the small
	 * unique index of ids is random. Same columns and index names, plus
	 * acked_ns and seq; the published `alerts` view is recreated as it was. */
	"CREATE TABLE alert_v2("
	" id TEXT NOT NULL UNIQUE, time_ns INTEGER NOT NULL, rule_id TEXT NOT NULL,"
	" rule_name TEXT, severity TEXT, entity_id TEXT, pid INTEGER, dedup_key TEXT,"
	" event_id INTEGER, summary TEXT, detail_json TEXT, acked_ns INTEGER, seq INTEGER"
	");"
	"INSERT INTO alert_v2(id, time_ns, rule_id, rule_name, severity, entity_id, pid, dedup_key,"
	" event_id, summary, detail_json) SELECT id, time_ns, rule_id, rule_name, severity, entity_id,"
	" pid, dedup_key, event_id, summary, detail_json FROM alert_t ORDER BY time_ns;"
	"DROP VIEW alerts;"
	"DROP TABLE alert_t;"
	"ALTER TABLE alert_v2 RENAME TO alert_t;"
	"CREATE INDEX alert_time ON alert_t(time_ns);"
	"CREATE INDEX alert_dedup ON alert_t(rule_id, entity_id, dedup_key);"
	"CREATE VIEW alerts AS SELECT"
	" id, time_ns, rule_id, rule_name, severity, entity_id, pid, dedup_key, event_id,"
	" summary FROM alert_t;"
	/* the whole alert: its row and its JSON document */
	"CREATE VIEW alert_full AS SELECT a.*, coalesce(a.detail_json, o.json) AS json"
	" FROM alert_t a LEFT JOIN outbox_t o ON o.seq = a.seq;";

const char *const de_store_migrations[] = { v1, v2, v3 };
const size_t de_store_n_migrations = sizeof(de_store_migrations) / sizeof(de_store_migrations[0]);
