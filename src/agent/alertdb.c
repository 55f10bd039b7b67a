/* alertdb.c: alert, outbox and delivery rows (see alertdb.h). */
#include <string.h>

#include "alertdb.h"
#include "buf.h"
#include "macros.h"

int de_alertdb_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return 0;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH: return -EPERM;
	case SQLITE_CONSTRAINT: return -EEXIST;
	}
	return -EIO;
}

int de_alertdb_init(struct de_alertdb *d, sqlite3 *db)
{
	memset(d, 0, sizeof(*d));
	d->db = db;
	/* the outbox row first (its rowid is the sequence), then the alert
	 * row that points to it; a duplicate alert id rolls back to the
	 * savepoint, leaving nothing */
	static const char a[] =
		"INSERT INTO alert_t(id, time_ns, rule_id, rule_name, severity, entity_id,"
		" pid, dedup_key, summary, seq) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)";
	static const char o[] = "INSERT INTO outbox_t(alert_id, time_ns, json) VALUES(?1, ?2, ?3)";
	static const char q[] =
		"INSERT OR IGNORE INTO delivery_t(sink, seq, alert_id, state, attempts, next_ns,"
		" created_ns, payload) VALUES(?1, ?2, ?3, 0, 0, 0, ?4, ?5)";
	int rc;
	if ((rc = sqlite3_prepare_v3(db, "SELECT 1 FROM alert_t WHERE id = ?1", -1,
				     SQLITE_PREPARE_PERSISTENT, &d->has_alert, NULL)) ||
	    (rc = sqlite3_prepare_v3(db, a, -1, SQLITE_PREPARE_PERSISTENT, &d->ins_alert, NULL)) ||
	    (rc = sqlite3_prepare_v3(db, o, -1, SQLITE_PREPARE_PERSISTENT, &d->ins_outbox, NULL)) ||
	    (rc = sqlite3_prepare_v3(db, q, -1, SQLITE_PREPARE_PERSISTENT, &d->ins_delivery, NULL))) {
		de_alertdb_fini(d);
		return de_alertdb_errno(rc);
	}
	return 0;
}

void de_alertdb_fini(struct de_alertdb *d)
{
	sqlite3_finalize(d->ins_alert);
	sqlite3_finalize(d->ins_outbox);
	sqlite3_finalize(d->ins_delivery);
	sqlite3_finalize(d->has_alert);
	d->ins_alert = d->ins_outbox = d->ins_delivery = d->has_alert = NULL;
}

static int step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : de_alertdb_errno(rc);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static bool alert_exists(struct de_alertdb *d, const char *id)
{
	sqlite3_bind_text(d->has_alert, 1, id, -1, SQLITE_STATIC);
	bool found = sqlite3_step(d->has_alert) == SQLITE_ROW;
	sqlite3_reset(d->has_alert);
	return found;
}

int de_alertdb_insert(struct de_alertdb *d, const struct de_alert *a, int64_t *seq)
{
	struct de_buf json = DE_BUF_INIT, sum = DE_BUF_INIT;
	de_alert_json(&json, a);
	de_buf_printf(&sum, "%s", a->rule_name ? a->rule_name : a->rule_id ? a->rule_id : "");
	if (a->proc.present)
		de_buf_printf(&sum, ": pid %d %s", (int)a->proc.pid,
			      a->proc.exe ? a->proc.exe : a->proc.comm ? a->proc.comm : "");
	else if (a->checkpoint && a->dedup_key)
		de_buf_printf(&sum, ": %s", a->dedup_key);
	int r = json.err ? json.err : sum.err;
	if (r < 0)
		goto out;
	if (alert_exists(d, a->id)) {
		r = 0;
		goto out;
	}
	sqlite3_stmt *st = d->ins_outbox;
	bind_text(st, 1, a->id);
	sqlite3_bind_int64(st, 2, a->time_ns);
	sqlite3_bind_text(st, 3, de_buf_str(&json), (int)json.len, SQLITE_STATIC);
	if ((r = step_reset(st)) < 0)
		goto out;
	*seq = sqlite3_last_insert_rowid(d->db);
	st = d->ins_alert;
	bind_text(st, 1, a->id);
	sqlite3_bind_int64(st, 2, a->time_ns);
	bind_text(st, 3, a->rule_id ? a->rule_id : "");
	bind_text(st, 4, a->rule_name);
	bind_text(st, 5, de_severity_name(a->severity));
	bind_text(st, 6, a->proc.present ? a->proc.entity_id : NULL);
	if (a->proc.present)
		sqlite3_bind_int(st, 7, a->proc.pid);
	bind_text(st, 8, a->dedup_key);
	sqlite3_bind_text(st, 9, de_buf_str(&sum), (int)sum.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, *seq);
	if ((r = step_reset(st)) < 0)
		goto out; /* the caller rolls the transaction back */
	r = 1;
out:
	de_buf_free(&json);
	de_buf_free(&sum);
	return r;
}

int de_alertdb_queue(struct de_alertdb *d, const char *sink, int64_t seq, const char *alert_id,
		     const void *payload, size_t n, int64_t now_ns)
{
	sqlite3_stmt *st = d->ins_delivery;
	sqlite3_bind_text(st, 1, sink, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_text(st, 3, alert_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now_ns);
	sqlite3_bind_blob(st, 5, payload, (int)n, SQLITE_STATIC);
	return step_reset(st);
}

int64_t de_alertdb_retry(sqlite3 *db, int64_t id, const char *sink)
{
	sqlite3_stmt *st = NULL;
	const char *sql = id > 0 ? "UPDATE delivery_t SET state = 0, attempts = 0, next_ns = 0"
				   " WHERE id = ?1 AND state = 2"
				 : "UPDATE delivery_t SET state = 0, attempts = 0, next_ns = 0"
				   " WHERE state = 2 AND (?2 IS NULL OR sink = ?2)";
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return de_alertdb_errno(rc);
	if (id > 0)
		sqlite3_bind_int64(st, 1, id);
	else
		bind_text(st, 2, sink);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return de_alertdb_errno(rc);
	return sqlite3_changes(db);
}

int de_alertdb_ack(sqlite3 *db, const char *alert_id, int64_t now_ns)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "UPDATE alert_t SET acked_ns = coalesce(acked_ns, ?2)"
				    " WHERE id = ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return de_alertdb_errno(rc);
	sqlite3_bind_text(st, 1, alert_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ns);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return de_alertdb_errno(rc);
	return sqlite3_changes(db) > 0 ? 1 : 0;
}
