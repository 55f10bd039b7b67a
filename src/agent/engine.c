/* engine.c: the rule engine (see engine.h).
 *
 * Connections to the same database: the store's (the only writer:
 * alerts, the watermark, trusted lookups of ancestry) and, per lane, a
 * guarded read-only one for the rules. A rule's rows are read on a guarded
 * connection while alerts are inserted on the writer; WAL keeps the
 * reader on its snapshot, and the dedup lookup on the writer sees the
 * alerts of the open transaction, so two rows of one evaluation about
 * the same (entity, dedup key) make one alert.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "engine.h"
#include "hash.h"
#include "log.h"
#include "macros.h"
#include "sqlguard.h"

enum wstmt {
	W_SEEN, W_INSERT_ALERT, W_PROC_BY_ID, W_PROC_BY_PK, W_GET_META, W_SET_META, W_CLEAR_RULES,
	W_INSERT_RULE, W__COUNT
};

#define PROC_COLS \
	"p.pk, p.parent_pk, lower(hex(p.entity_id)), p.pid, i.uid, i.comm, coalesce(i.exe, i.filename)," \
	" i.user, (SELECT group_concat(value, char(0)) FROM json_each(i.argv)), i.sha256, i.blake3," \
	" i.container_id FROM process_t p LEFT JOIN image_t i ON i.pk = p.cur_image"

static const char *const wsql[W__COUNT] = {
	[W_SEEN] = "SELECT 1 FROM alert_t WHERE rule_id = ?1 AND entity_id IS ?2 AND dedup_key IS ?3"
		   " AND time_ns > ?4 LIMIT 1",
	[W_INSERT_ALERT] = "INSERT INTO alert_t(id, time_ns, rule_id, rule_name, severity, entity_id,"
			   " pid, dedup_key, event_id, summary, detail_json)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[W_PROC_BY_ID] = "SELECT " PROC_COLS " WHERE p.entity_id = ?1",
	[W_PROC_BY_PK] = "SELECT " PROC_COLS " WHERE p.pk = ?1",
	[W_GET_META] = "SELECT value FROM meta WHERE key = 'engine.watermark'",
	[W_SET_META] = "INSERT OR REPLACE INTO meta(key, value) VALUES('engine.watermark', ?1)",
	/* The loaded rules, as the store records them (rule_t). */
	[W_CLEAR_RULES] = "DELETE FROM rule_t",
	[W_INSERT_RULE] = "INSERT OR REPLACE INTO rule_t(id, name, severity, enabled, sql,"
			  " content_blake3, loaded_ns, last_event_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};

/* A rule as it runs. */
struct rule_rt {
	const struct de_rule *r;
	sqlite3_stmt *st[DE_ENGINE_LANES_MAX]; /* compiled on each lane's connection */
	int col_entity, col_dedup, col_event;
	bool enabled;
	char disabled_why[DE_SQLGUARD_WHY_MAX + 64];
	bool error_logged;
	int64_t next_due_ns;
	uint64_t runs, matches, alerts, errors, total_us, max_us;
};

/* A loaded, compiled rule set: swapped whole on reload. */
struct set {
	struct de_ruleset rs;
	struct rule_rt *rt;
	size_t n;
};

/* A guarded rule connection with its own materialized window. Lane 0
 * serves every evaluation; lane 1 shares a big window's chunks with it
 * (see eval_window). */
struct lane {
	struct de_sqlguard_policy pol;
	struct de_sqlguard *g;
	struct de_store_window win;
	sqlite3_stmt *win_clear, *win_fill; /* trusted: the engine's own statements */
};

struct de_engine {
	struct de_engine_opts o;
	sqlite3 *wdb;
	sqlite3_stmt *w[W__COUNT];
	struct lane lane[DE_ENGINE_LANES_MAX];
	unsigned nlanes;
	struct set cur;
	int64_t watermark;
	char hostname[256];
	struct de_buf json;
};

static int64_t now_realtime(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int64_t now_mono_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

static int sql_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH: return -EPERM;
	}
	return -EIO;
}

static void set_free(struct set *s)
{
	for (size_t i = 0; i < s->n; i++)
		for (int l = 0; l < DE_ENGINE_LANES_MAX; l++)
			sqlite3_finalize(s->rt[i].st[l]);
	free(s->rt);
	de_ruleset_free(&s->rs);
	memset(s, 0, sizeof(*s));
}

static int column_index(sqlite3_stmt *st, const char *name)
{
	if (!name)
		return -1;
	for (int c = 0; c < sqlite3_column_count(st); c++) {
		const char *n = sqlite3_column_name(st, c);
		if (n && strcmp(n, name) == 0)
			return c;
	}
	return -1;
}

/* Load every source, validate the set and compile each rule: the whole
 * set or nothing. */
static int set_load(struct de_engine *e, struct set *out, char *why, size_t why_len)
{
	struct set s = { 0 };
	int rc = de_rulepack_load(&s.rs, &e->o.rules, why, why_len);
	if (rc < 0)
		return rc;
	if ((rc = de_rules_validate(&s.rs, e->lane[0].g, why, why_len)) < 0)
		goto fail;
	s.rt = calloc(s.rs.n ? s.rs.n : 1, sizeof(*s.rt));
	if (!s.rt) {
		de_why(why, why_len, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < s.rs.n; i++) {
		struct rule_rt *rt = &s.rt[i];
		char reason[DE_SQLGUARD_WHY_MAX];
		rt->r = &s.rs.rules[i];
		s.n = i + 1;
		for (unsigned l = 0; l < e->nlanes; l++)
			if ((rc = de_sqlguard_prepare(e->lane[l].g, rt->r->sql, &rt->st[l], reason,
						      sizeof(reason))) < 0) {
				de_why(why, why_len, "%s:%zu: rule %s: %s", rt->r->file, rt->r->line,
				       rt->r->id, reason);
				goto fail;
			}
		rt->col_entity = column_index(rt->st[0], "entity_id");
		rt->col_dedup = column_index(rt->st[0], rt->r->dedup_key);
		rt->col_event = column_index(rt->st[0], "id");
		rt->enabled = rt->r->enabled;
		if (!rt->enabled)
			snprintf(rt->disabled_why, sizeof(rt->disabled_why), "disabled");
	}
	*out = s;
	return (int)s.rs.n;
fail:
	set_free(&s);
	return rc;
}

/* The window, materialized once per evaluation: a TEMP table named like
 * the published view shadows it for every rule compiled on this
 * connection (unqualified names resolve to temp first), so each rule scans
 * an in-memory copy of the new rows (clustered by type) instead of joining
 * the store's tables again. Created, and its two statements compiled,
 * before the guard is installed: they are the engine's, not a rule's. */
static int setup_rule_db(sqlite3 *db, void *ud)
{
	struct lane *l = ud;
	int rc = de_store_register_functions(db, &l->win);
	if (rc < 0)
		return rc;
	/* Same columns as the view; clustered by (type, id), so a rule's
	 * `type = 'exec'` is one contiguous range of the in-memory B-tree. */
	sqlite3_stmt *cols = NULL;
	if (sqlite3_prepare_v2(db, "SELECT * FROM main.new_process_events WHERE 0", -1, &cols,
			       NULL) != SQLITE_OK)
		return -EIO;
	struct de_buf ddl = DE_BUF_INIT;
	/* No rollback journal for temp: every evaluation empties and refills
	 * the window anyway, and journaling each page it changes cost ~4% of
	 * a 10,000-process cycle (bench_detect snapshot). */
	de_buf_puts(&ddl, "PRAGMA temp_store = MEMORY; PRAGMA temp.journal_mode = OFF;"
		    " CREATE TEMP TABLE new_process_events(");
	for (int c = 0; c < sqlite3_column_count(cols); c++)
		de_buf_printf(&ddl, "%s\"%s\"", c ? ", " : "", sqlite3_column_name(cols, c));
	de_buf_puts(&ddl, ", PRIMARY KEY(type, id)) WITHOUT ROWID;");
	sqlite3_finalize(cols);
	rc = ddl.err ? SQLITE_NOMEM : sqlite3_exec(db, ddl.data, NULL, NULL, NULL);
	de_buf_free(&ddl);
	if (rc != SQLITE_OK ||
	    sqlite3_prepare_v3(db, "DELETE FROM temp.new_process_events", -1,
			       SQLITE_PREPARE_PERSISTENT, &l->win_clear, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(db, "INSERT INTO temp.new_process_events"
			       " SELECT * FROM main.new_process_events", -1,
			       SQLITE_PREPARE_PERSISTENT, &l->win_fill, NULL) != SQLITE_OK)
		return -EIO;
	return 0;
}

static const char *const window_tables[] = { "new_process_events", NULL };

/* Run one of the window statements. */
static int win_step(struct lane *l, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_warning("rule window: %s", sqlite3_errmsg(de_sqlguard_db(l->g)));
		return sql_err(rc);
	}
	return 0;
}

/* Materialize the window (lo, hi] on a lane's connection. */
static int win_load(struct lane *l, int64_t lo, int64_t hi)
{
	l->win.lo = lo;
	l->win.hi = hi;
	int rc = win_step(l, l->win_clear);
	return rc < 0 ? rc : win_step(l, l->win_fill);
}

static int tx_begin(struct de_engine *e, bool *own);
static int tx_end(struct de_engine *e, bool own, int status);

static int step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sql_err(rc);
}

/* Record the running set in the store's rule table (what was loaded, its
 * SQL's BLAKE3, from which event on). A failure is logged, not fatal. */
static void record_rules(struct de_engine *e)
{
	bool own;
	int rc = tx_begin(e, &own);
	if (rc == 0)
		rc = step_reset(e->w[W_CLEAR_RULES]);
	int64_t now = now_realtime();
	for (size_t i = 0; rc == 0 && i < e->cur.n; i++) {
		const struct rule_rt *rt = &e->cur.rt[i];
		const struct de_rule *r = rt->r;
		uint8_t h[32];
		char hex[65];
		de_blake3(r->sql, strlen(r->sql), h, sizeof(h));
		de_hex(h, sizeof(h), hex);
		sqlite3_stmt *st = e->w[W_INSERT_RULE];
		sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, de_severity_name(r->severity), -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, rt->enabled);
		sqlite3_bind_text(st, 5, r->sql, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, hex, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 7, now);
		sqlite3_bind_int64(st, 8, e->watermark);
		rc = step_reset(st);
	}
	if ((rc = tx_end(e, own, rc)) < 0)
		log_warning("recording the loaded rules in the store: %s", strerror(-rc));
}

/* CPUs this process may run on (taskset, cpusets), not merely online. */
static int usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	return CPU_COUNT(&set);
}

int de_engine_open(const struct de_engine_opts *o, struct de_engine **out, char *why,
		   size_t why_len)
{
	*out = NULL;
	if (!o->store || !o->store_path) {
		de_why(why, why_len, "the engine needs the store and its file");
		return -EINVAL;
	}
	struct de_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		de_why(why, why_len, "out of memory");
		return -ENOMEM;
	}
	e->o = *o;
	e->wdb = de_store_db(o->store);
	if (o->hostname)
		snprintf(e->hostname, sizeof(e->hostname), "%s", o->hostname);
	else if (gethostname(e->hostname, sizeof(e->hostname) - 1) < 0)
		e->hostname[0] = 0;
	int rc;
	for (int i = 0; i < W__COUNT; i++)
		if ((rc = sqlite3_prepare_v3(e->wdb, wsql[i], -1, SQLITE_PREPARE_PERSISTENT, &e->w[i],
					     NULL)) != SQLITE_OK) {
			de_why(why, why_len, "preparing engine statement %d: %s", i,
			       sqlite3_errmsg(e->wdb));
			rc = sql_err(rc);
			goto fail;
		}
	e->nlanes = o->lanes ? o->lanes : usable_cpus() > 1 ? 2 : 1;
	e->nlanes = DE_MIN(e->nlanes, (unsigned)DE_ENGINE_LANES_MAX);
	for (unsigned i = 0; i < e->nlanes; i++) {
		struct lane *l = &e->lane[i];
		l->pol = (struct de_sqlguard_policy){
			.readable = de_store_published,
			.budget_ms = o->budget_ms,
			.max_rows = o->max_rows ? o->max_rows : 10000,
			.setup_db = setup_rule_db,
			.setup_ud = l,
			.scratch = window_tables,
		};
		if (!(l->g = de_sqlguard_open(o->store_path, &l->pol, why, why_len))) {
			rc = de_neg_errno();
			goto fail;
		}
	}
	if ((rc = set_load(e, &e->cur, why, why_len)) < 0)
		goto fail;
	/* Resume after the last window evaluated (0 on a new store). */
	sqlite3_stmt *st = e->w[W_GET_META];
	if (sqlite3_step(st) == SQLITE_ROW)
		e->watermark = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	record_rules(e);
	*out = e;
	return 0;
fail:
	de_engine_close(e);
	return rc;
}

void de_engine_close(struct de_engine *e)
{
	if (!e)
		return;
	set_free(&e->cur);
	for (int i = 0; i < DE_ENGINE_LANES_MAX; i++) {
		sqlite3_finalize(e->lane[i].win_clear);
		sqlite3_finalize(e->lane[i].win_fill);
		de_sqlguard_free(e->lane[i].g);
	}
	for (int i = 0; i < W__COUNT; i++)
		sqlite3_finalize(e->w[i]);
	de_buf_free(&e->json);
	free(e);
}

/* ---- alerts ---------------------------------------------------------------- */

/* A process as the store knows it, copied out of the lookup row. */
struct pinfo {
	bool present;
	int64_t pk, parent_pk;
	int32_t pid;
	uint32_t uid;
	char entity[33];
	char *comm, *exe, *user, *argv, *sha256, *blake3, *container;
	size_t argv_len;
};

static void pinfo_free(struct pinfo *p)
{
	free(p->comm);
	free(p->exe);
	free(p->user);
	free(p->argv);
	free(p->sha256);
	free(p->blake3);
	free(p->container);
	memset(p, 0, sizeof(*p));
}

static char *col_dup(sqlite3_stmt *st, int c, size_t *len)
{
	const unsigned char *t = sqlite3_column_text(st, c);
	if (!t)
		return NULL;
	size_t n = (size_t)sqlite3_column_bytes(st, c);
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, t, n);
		s[n] = 0;
		if (len)
			*len = n;
	}
	return s;
}

static bool hex_to_id(const char *hex, uint8_t id[DE_ENTITY_ID_LEN])
{
	if (!hex || strlen(hex) != 2 * DE_ENTITY_ID_LEN)
		return false;
	for (int i = 0; i < DE_ENTITY_ID_LEN; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		id[i] = (uint8_t)v;
	}
	return true;
}

/* Look a process up by entity id (hex) or, when hex is NULL, by row key. */
static void proc_lookup(struct de_engine *e, const char *hex, int64_t pk, struct pinfo *p)
{
	memset(p, 0, sizeof(*p));
	uint8_t id[DE_ENTITY_ID_LEN];
	sqlite3_stmt *st = e->w[hex ? W_PROC_BY_ID : W_PROC_BY_PK];
	if (hex) {
		if (!hex_to_id(hex, id))
			return;
		sqlite3_bind_blob(st, 1, id, DE_ENTITY_ID_LEN, SQLITE_STATIC);
	} else {
		if (!pk)
			return;
		sqlite3_bind_int64(st, 1, pk);
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		p->present = true;
		p->pk = sqlite3_column_int64(st, 0);
		p->parent_pk = sqlite3_column_int64(st, 1);
		const unsigned char *ent = sqlite3_column_text(st, 2);
		snprintf(p->entity, sizeof(p->entity), "%s", ent ? (const char *)ent : "");
		p->pid = sqlite3_column_int(st, 3);
		p->uid = (uint32_t)sqlite3_column_int64(st, 4);
		p->comm = col_dup(st, 5, NULL);
		p->exe = col_dup(st, 6, NULL);
		p->user = col_dup(st, 7, NULL);
		p->argv = col_dup(st, 8, &p->argv_len);
		if (p->argv)
			p->argv_len++; /* the last argument's NUL */
		p->sha256 = col_dup(st, 9, NULL);
		p->blake3 = col_dup(st, 10, NULL);
		p->container = col_dup(st, 11, NULL);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static void to_alert_proc(const struct pinfo *p, struct de_alert_proc *a)
{
	memset(a, 0, sizeof(*a));
	if (!p->present)
		return;
	a->present = true;
	a->pid = p->pid;
	a->uid = p->uid;
	a->entity_id = p->entity;
	a->comm = p->comm;
	a->exe = p->exe;
	a->user = p->user;
	a->argv = p->argv;
	a->argv_len = p->argv ? p->argv_len : 0;
}

/* Whether (rule, entity, key) already alerted within the window. */
static int seen(struct de_engine *e, const struct de_rule *r, const char *entity,
		const char *key, int64_t now)
{
	sqlite3_stmt *st = e->w[W_SEEN];
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	if (entity)
		sqlite3_bind_text(st, 2, entity, -1, SQLITE_STATIC);
	if (key)
		sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now - (int64_t)(r->window_s * 1000000000ULL));
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sql_err(rc);
}

/* Write one alert (a filled model) and hand it to the callback. */
static int emit_alert(struct de_engine *e, struct de_alert *a, int64_t event_id, const char *summary)
{
	if (e->o.write_alert) {
		int w = e->o.write_alert(a, e->o.ud);
		if (w < 0)
			return w;
		if (e->o.on_alert)
			e->o.on_alert(a, e->o.ud);
		return 0;
	}
	de_buf_reset(&e->json);
	de_alert_json(&e->json, a);
	if (e->json.err)
		return -ENOMEM;
	sqlite3_stmt *st = e->w[W_INSERT_ALERT];
	sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, a->time_ns);
	sqlite3_bind_text(st, 3, a->rule_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->rule_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, de_severity_name(a->severity), -1, SQLITE_STATIC);
	if (a->proc.present) {
		sqlite3_bind_text(st, 6, a->proc.entity_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, a->proc.pid);
	}
	if (a->dedup_key)
		sqlite3_bind_text(st, 8, a->dedup_key, -1, SQLITE_STATIC);
	if (event_id > 0)
		sqlite3_bind_int64(st, 9, event_id);
	sqlite3_bind_text(st, 10, summary, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, e->json.data, (int)e->json.len, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return sql_err(rc);
	if (e->o.on_alert)
		e->o.on_alert(a, e->o.ud);
	return 0;
}

static void alert_base(struct de_engine *e, struct de_alert *a, const struct de_rule *r,
		       int64_t now)
{
	memset(a, 0, sizeof(*a));
	a->time_ns = now;
	a->rule_id = r->id;
	a->rule_name = r->name;
	a->severity = r->severity;
	a->mitre = (const char *const *)r->mitre.v;
	a->n_mitre = r->mitre.n;
	a->hostname = e->hostname[0] ? e->hostname : NULL;
	a->host_id = e->o.host_id;
}

/* One match: dedup, then the alert with the process and two ancestors.
 * Returns 1 (alerted), 0 (deduplicated) or a negative errno. */
static int alert_match(struct de_engine *e, struct rule_rt *rt, const char *entity,
		       const char *key, int64_t event_id, int64_t now)
{
	int rc = seen(e, rt->r, entity, key, now);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	struct de_alert a;
	alert_base(e, &a, rt->r, now);
	if ((rc = de_alert_new_id(a.id)) < 0)
		return rc;
	struct pinfo p, pp, gp;
	proc_lookup(e, entity, 0, &p);
	proc_lookup(e, NULL, p.parent_pk, &pp);
	proc_lookup(e, NULL, pp.parent_pk, &gp);
	to_alert_proc(&p, &a.proc);
	to_alert_proc(&pp, &a.parent);
	to_alert_proc(&gp, &a.grandparent);
	if (!p.present && entity) {
		/* Not in the store (retention): still say which process. */
		a.proc.present = true;
		a.proc.entity_id = entity;
	}
	a.sha256 = p.sha256;
	a.blake3 = p.blake3;
	a.container_id = p.container;
	a.dedup_key = key;
	char summary[160];
	snprintf(summary, sizeof(summary), "%s (pid %d)", rt->r->name, p.present ? p.pid : -1);
	rc = emit_alert(e, &a, event_id, summary);
	pinfo_free(&p);
	pinfo_free(&pp);
	pinfo_free(&gp);
	return rc < 0 ? rc : 1;
}

/* The engine's own alert: a rule was disabled. */
static int alert_disabled(struct de_engine *e, struct rule_rt *rt, int64_t now)
{
	struct de_rule self = {
		.id = (char *)DE_ENGINE_RULE_DISABLED,
		.name = (char *)"Detection rule disabled by the engine",
		.severity = DE_SEV_MEDIUM,
		.window_s = 0,
	};
	struct de_alert a;
	alert_base(e, &a, &self, now);
	int rc = de_alert_new_id(a.id);
	if (rc < 0)
		return rc;
	a.dedup_key = rt->r->id;
	char summary[DE_SQLGUARD_WHY_MAX + 256];
	snprintf(summary, sizeof(summary), "rule %s disabled: %s", rt->r->id, rt->disabled_why);
	return emit_alert(e, &a, 0, summary);
}

/* ---- evaluation ------------------------------------------------------------ */

struct run_ctx {
	struct de_engine *e;
	struct rule_rt *rt;
	int64_t now;
	int alerts;
	int err;
};

/* One matched row, copied out of the rule's statement. */
struct hmatch {
	size_t rule; /* index in e->cur.rt (the helper's queue) */
	int64_t event_id;
	char *entity, *key;
};

/* Copy the row's entity id, dedup key and event id. Returns 0 or -ENOMEM. */
static int match_read(const struct rule_rt *rt, sqlite3_stmt *st, struct hmatch *m)
{
	const char *ent = (const char *)sqlite3_column_text(st, rt->col_entity);
	bool has_key = rt->col_dedup >= 0 && sqlite3_column_type(st, rt->col_dedup) != SQLITE_NULL;
	m->event_id = rt->col_event >= 0 ? sqlite3_column_int64(st, rt->col_event) : 0;
	m->entity = ent ? strdup(ent) : NULL;
	m->key = has_key ? col_dup(st, rt->col_dedup, NULL) : NULL;
	if ((ent && !m->entity) || (has_key && !m->key)) {
		free(m->entity);
		free(m->key);
		return -ENOMEM;
	}
	return 0;
}

static int on_row(sqlite3_stmt *st, void *ud)
{
	struct run_ctx *c = ud;
	struct rule_rt *rt = c->rt;
	rt->matches++;
	struct hmatch m;
	int rc = match_read(rt, st, &m);
	if (rc == 0) {
		rc = alert_match(c->e, rt, m.entity, m.key, m.event_id, c->now);
		free(m.entity);
		free(m.key);
	}
	if (rc < 0) {
		c->err = rc;
		return 1;
	}
	c->alerts += rc;
	rt->alerts += (uint64_t)rc;
	return 0;
}

/* Account runs of a rule (on any lane; err: the first failure or 0) and
 * act on a failure: a rule over its time budget is disabled until the
 * next reload, with an engine alert; another failure is logged once per
 * reload. Owner's thread only. Returns the alerts it wrote (0 or 1) or a
 * negative errno. */
static int settle(struct de_engine *e, struct rule_rt *rt, uint64_t runs, int64_t err,
		  uint64_t us, const char *why, int64_t now)
{
	rt->runs += runs;
	rt->total_us += us;
	if (us > rt->max_us)
		rt->max_us = us;
	if (err == -ETIMEDOUT) {
		rt->errors++;
		if (!rt->enabled)
			return 0; /* the other lane already disabled it */
		rt->enabled = false;
		snprintf(rt->disabled_why, sizeof(rt->disabled_why), "%s; disabled until the next reload",
			 why);
		log_warning("rule %s (%s:%zu): %s", rt->r->id, rt->r->file, rt->r->line,
		       rt->disabled_why);
		int rc = alert_disabled(e, rt, now);
		return rc < 0 ? rc : 1;
	}
	if (err < 0) {
		rt->errors++;
		if (!rt->error_logged)
			log_warning("rule %s (%s:%zu): %s", rt->r->id, rt->r->file, rt->r->line,
			       why);
		rt->error_logged = true;
	}
	return 0;
}

/* Run one rule over lane 0's window, alerting as rows come. Returns alerts
 * or a negative errno (a store write failure; rule failures are handled
 * here). */
static int run_rule(struct de_engine *e, struct rule_rt *rt, int64_t now)
{
	struct run_ctx c = { .e = e, .rt = rt, .now = now };
	char why[DE_SQLGUARD_WHY_MAX];
	int64_t t0 = now_mono_us();
	int64_t n = de_sqlguard_run(e->lane[0].g, rt->st[0], on_row, &c, why, sizeof(why));
	uint64_t us = (uint64_t)(now_mono_us() - t0);
	if (c.err < 0)
		return c.err;
	int rc = settle(e, rt, 1, n < 0 ? n : 0, us, why, now);
	return rc < 0 ? rc : c.alerts + rc;
}

/* ---- a window split across two lanes ----------------------------------------
 *
 * The window is cut into chunks of consecutive event ids that the two
 * lanes take in turn, each as soon as it is free (so a lane on a slower or
 * busier CPU simply takes fewer). A lane loads its chunk into its own
 * window table and runs every rule over it. The helper thread (lane 1)
 * never touches the store's connection, the alerts or a rule's counters:
 * each row it matches goes into a bounded queue (it waits while the queue
 * is full), which the owner's thread turns into alerts between its own
 * rules and at the end; then it accounts the helper's runs (settle()). A
 * rule that ran out of time on one lane is skipped by both from then on. */

#define HQ_LEN 1024
#define CHUNK_MIN 1024 /* events */
#define CHUNKS_MAX 8

/* The helper's runs of one rule, summed over its chunks. */
struct hres {
	uint64_t runs, us, matches;
	int64_t err; /* first failure */
	char why[DE_SQLGUARD_WHY_MAX];
};

struct helper {
	struct de_engine *e;
	int64_t lo, hi;
	const size_t *idx; /* the rules to run, shared with the owner */
	size_t n, cur;     /* cur: the helper's rule (its thread only) */
	struct hres *res;  /* per entry of idx */
	bool *skip;        /* per entry of idx, under mu: timed out on a lane */
	int win_rc;        /* a chunk's load failed */
	bool oom;
	int chunks, next;  /* under mu */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t not_full, ready; /* ready: a match queued, or done */
	struct hmatch q[HQ_LEN];
	size_t head, count;
	bool done, stop;
};

/* The next chunk for a lane: false when none is left or after a stop. */
static bool take_chunk(struct helper *h, int64_t *lo, int64_t *hi)
{
	pthread_mutex_lock(&h->mu);
	int k = !h->stop && h->next < h->chunks ? h->next++ : -1;
	pthread_mutex_unlock(&h->mu);
	if (k < 0)
		return false;
	*lo = h->lo + (h->hi - h->lo) * k / h->chunks;
	*hi = h->lo + (h->hi - h->lo) * (k + 1) / h->chunks;
	return true;
}

static bool skipped(struct helper *h, size_t i)
{
	pthread_mutex_lock(&h->mu);
	bool s = h->skip[i] || h->stop;
	pthread_mutex_unlock(&h->mu);
	return s;
}

static void skip(struct helper *h, size_t i)
{
	pthread_mutex_lock(&h->mu);
	h->skip[i] = true;
	pthread_mutex_unlock(&h->mu);
}

static int helper_row(sqlite3_stmt *st, void *ud)
{
	struct helper *h = ud;
	const struct rule_rt *rt = &h->e->cur.rt[h->idx[h->cur]];
	h->res[h->cur].matches++;
	struct hmatch m = { .rule = h->idx[h->cur] };
	bool lost = match_read(rt, st, &m) < 0;
	pthread_mutex_lock(&h->mu);
	while (h->count == HQ_LEN && !h->stop && !lost)
		pthread_cond_wait(&h->not_full, &h->mu);
	bool stop = h->stop || lost;
	if (lost)
		h->oom = true;
	if (!stop) {
		h->q[(h->head + h->count++) % HQ_LEN] = m;
		pthread_cond_signal(&h->ready);
	}
	pthread_mutex_unlock(&h->mu);
	if (stop && !lost) {
		free(m.entity);
		free(m.key);
	}
	return stop;
}

static void *helper_main(void *arg)
{
	struct helper *h = arg;
	struct lane *l = &h->e->lane[1];
	char why[DE_SQLGUARD_WHY_MAX];
	int64_t lo, hi;
	int rc = 0;
	while (rc == 0 && take_chunk(h, &lo, &hi)) {
		rc = win_load(l, lo, hi);
		for (h->cur = 0; rc == 0 && h->cur < h->n; h->cur++) {
			if (skipped(h, h->cur))
				continue;
			struct hres *r = &h->res[h->cur];
			int64_t t0 = now_mono_us();
			int64_t n = de_sqlguard_run(l->g, h->e->cur.rt[h->idx[h->cur]].st[1], helper_row,
						    h, why, sizeof(why));
			r->us += (uint64_t)(now_mono_us() - t0);
			r->runs++;
			if (n < 0 && !r->err) {
				r->err = n;
				snprintf(r->why, sizeof(r->why), "%s", why);
			}
			if (n == -ETIMEDOUT)
				skip(h, h->cur);
		}
	}
	pthread_mutex_lock(&h->mu);
	h->win_rc = rc;
	h->done = true;
	pthread_cond_signal(&h->ready);
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

static void helper_free(struct helper *h)
{
	pthread_cond_destroy(&h->ready);
	pthread_cond_destroy(&h->not_full);
	pthread_mutex_destroy(&h->mu);
	free(h->res);
	free(h->skip);
	free(h);
}

/* Start the helper on (lo, hi] with the rules in idx. Returns it, or NULL
 * (the owner then evaluates the whole window itself). */
static struct helper *helper_start(struct de_engine *e, int64_t lo, int64_t hi,
				   const size_t *idx, size_t n)
{
	struct helper *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	*h = (struct helper){ .e = e, .lo = lo, .hi = hi, .idx = idx, .n = n };
	h->chunks = (int)DE_MIN((hi - lo) / CHUNK_MIN, (int64_t)CHUNKS_MAX);
	h->res = calloc(n, sizeof(*h->res));
	h->skip = calloc(n, sizeof(*h->skip));
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->not_full, NULL);
	pthread_cond_init(&h->ready, NULL);
	if (!h->res || !h->skip || pthread_create(&h->thread, NULL, helper_main, h) != 0) {
		helper_free(h);
		return NULL;
	}
	return h;
}

/* Turn the helper's queued matches into alerts: those queued now, or
 * (until_done) every one until the helper has finished. After a failure
 * (rc < 0) the helper is told to stop and what it queued is dropped: the
 * window will be evaluated again. Returns rc or the first new failure. */
static int helper_drain(struct de_engine *e, struct helper *h, bool until_done, int rc,
			int64_t now, int *alerts)
{
	for (;;) {
		pthread_mutex_lock(&h->mu);
		if (rc < 0 && !h->stop) {
			h->stop = true;
			pthread_cond_broadcast(&h->not_full);
		}
		while (until_done && h->count == 0 && !h->done)
			pthread_cond_wait(&h->ready, &h->mu);
		if (h->count == 0) {
			pthread_mutex_unlock(&h->mu);
			return rc;
		}
		struct hmatch m = h->q[h->head];
		h->head = (h->head + 1) % HQ_LEN;
		h->count--;
		pthread_cond_signal(&h->not_full);
		pthread_mutex_unlock(&h->mu);
		if (rc >= 0) {
			struct rule_rt *rt = &e->cur.rt[m.rule];
			int a = alert_match(e, rt, m.entity, m.key, m.event_id, now);
			if (a < 0) {
				rc = a;
			} else {
				*alerts += a;
				rt->alerts += (uint64_t)a;
			}
		}
		free(m.entity);
		free(m.key);
	}
}

/* Wait for the helper, alert on the rest of its matches, account its runs
 * and free it. Returns rc or the first new failure. */
static int helper_finish(struct de_engine *e, struct helper *h, int rc, int64_t now, int *alerts)
{
	rc = helper_drain(e, h, true, rc, now, alerts);
	pthread_join(h->thread, NULL);
	if (rc >= 0 && h->win_rc < 0)
		rc = h->win_rc;
	if (rc >= 0 && h->oom)
		rc = -ENOMEM;
	for (size_t i = 0; i < h->n && rc >= 0; i++) {
		const struct hres *r = &h->res[i];
		struct rule_rt *rt = &e->cur.rt[h->idx[i]];
		if (!r->runs)
			continue;
		rt->matches += r->matches;
		int a = settle(e, rt, r->runs, r->err, r->us, r->why, now);
		if (a < 0)
			rc = a;
		else
			*alerts += a;
	}
	helper_free(h);
	return rc;
}

/* Lane 0: load (lo, hi] and run the rules over it. Returns alerts or a
 * negative errno. */
static int lane0_chunk(struct de_engine *e, struct helper *h, int64_t lo, int64_t hi,
		       const size_t *idx, size_t n, int64_t now)
{
	int alerts = 0;
	int rc = win_load(&e->lane[0], lo, hi);
	for (size_t i = 0; i < n && rc >= 0; i++) {
		struct rule_rt *rt = &e->cur.rt[idx[i]];
		if (!rt->enabled || (h && skipped(h, i)))
			continue;
		rc = run_rule(e, rt, now);
		if (rc > 0)
			alerts += rc;
		if (h && !rt->enabled)
			skip(h, i);
		if (h && rc >= 0)
			rc = helper_drain(e, h, false, rc, now, &alerts);
	}
	return rc < 0 ? rc : alerts;
}

/* Evaluate the incremental rules over (lo, hi] inside the owner's
 * transaction: on lane 0 alone, or in chunks shared with the helper.
 * Returns alerts or a negative errno. */
static int eval_window(struct de_engine *e, int64_t lo, int64_t hi, int64_t now)
{
	_cleanup_free_ size_t *idx = calloc(e->cur.n ? e->cur.n : 1, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < e->cur.n; i++)
		if (e->cur.rt[i].enabled && !e->cur.rt[i].r->schedule_s)
			idx[n++] = i;
	struct helper *h = NULL;
	if (e->nlanes > 1 && n && hi - lo >= DE_ENGINE_SPLIT_MIN)
		h = helper_start(e, lo, hi, idx, n);
	if (!h)
		return lane0_chunk(e, NULL, lo, hi, idx, n, now);
	int alerts = 0, rc = 0;
	int64_t clo, chi;
	while (rc >= 0 && take_chunk(h, &clo, &chi))
		if ((rc = lane0_chunk(e, h, clo, chi, idx, n, now)) > 0)
			alerts += rc;
	rc = helper_finish(e, h, rc < 0 ? rc : 0, now, &alerts);
	return rc < 0 ? rc : alerts;
}

static int tx_begin(struct de_engine *e, bool *own)
{
	*own = sqlite3_get_autocommit(e->wdb) != 0;
	if (!*own)
		return 0;
	/* IMMEDIATE: a deferred transaction that reads, then writes, fails at
	 * once with SQLITE_BUSY (no busy wait) when the outbox's workers
	 * committed in between (WAL); taking the write lock first waits. */
	int rc = sqlite3_exec(e->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sql_err(rc);
}

static int tx_end(struct de_engine *e, bool own, int status)
{
	if (!own)
		return status;
	if (status < 0) {
		sqlite3_exec(e->wdb, "ROLLBACK", NULL, NULL, NULL);
		return status;
	}
	int rc = sqlite3_exec(e->wdb, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_exec(e->wdb, "ROLLBACK", NULL, NULL, NULL);
		return sql_err(rc);
	}
	return status;
}

int de_engine_on_commit(struct de_engine *e, int64_t last_event_id)
{
	int total = 0;
	while (e->watermark < last_event_id) {
		int64_t hi = DE_MIN(last_event_id, e->watermark + DE_ENGINE_WINDOW_MAX);
		bool own;
		int rc = tx_begin(e, &own);
		if (rc < 0)
			return rc;
		int alerts = rc = eval_window(e, e->watermark, hi, now_realtime());
		if (rc >= 0) {
			sqlite3_stmt *st = e->w[W_SET_META];
			sqlite3_bind_int64(st, 1, hi);
			int s = sqlite3_step(st);
			sqlite3_reset(st);
			if (s != SQLITE_DONE)
				rc = sql_err(s);
		}
		if ((rc = tx_end(e, own, rc)) < 0)
			return rc;
		e->watermark = hi;
		total += alerts;
	}
	return total;
}

int de_engine_tick(struct de_engine *e, int64_t now_ns)
{
	int total = 0, rc = 0;
	bool own = false, begun = false;
	for (size_t i = 0; i < e->cur.n; i++) {
		struct rule_rt *rt = &e->cur.rt[i];
		if (!rt->enabled || !rt->r->schedule_s || rt->next_due_ns > now_ns)
			continue;
		if (!begun) {
			/* Scheduled rules read the whole store: the window is empty. */
			if ((rc = win_load(&e->lane[0], 0, 0)) < 0 || (rc = tx_begin(e, &own)) < 0)
				return rc;
			begun = true;
		}
		rt->next_due_ns = now_ns + (int64_t)(rt->r->schedule_s * 1000000000ULL);
		e->lane[0].win.lo = 0;
		e->lane[0].win.hi = INT64_MAX;
		if ((rc = run_rule(e, rt, now_realtime())) < 0)
			break;
		total += rc;
	}
	if (!begun)
		return 0;
	rc = tx_end(e, own, rc < 0 ? rc : 0);
	return rc < 0 ? rc : total;
}

int64_t de_engine_next_due(const struct de_engine *e)
{
	int64_t due = INT64_MAX;
	for (size_t i = 0; i < e->cur.n; i++) {
		const struct rule_rt *rt = &e->cur.rt[i];
		if (rt->enabled && rt->r->schedule_s && rt->next_due_ns < due)
			due = rt->next_due_ns;
	}
	return due;
}

int de_engine_reload(struct de_engine *e, char *why, size_t why_len)
{
	struct set s;
	int rc = set_load(e, &s, why, why_len);
	if (rc < 0)
		return rc;
	/* Scheduled rules that kept their id keep their timing. */
	for (size_t i = 0; i < s.n; i++)
		for (size_t j = 0; j < e->cur.n; j++)
			if (strcmp(s.rt[i].r->id, e->cur.rt[j].r->id) == 0)
				s.rt[i].next_due_ns = e->cur.rt[j].next_due_ns;
	set_free(&e->cur);
	e->cur = s;
	record_rules(e);
	return rc;
}

size_t de_engine_rule_count(const struct de_engine *e) { return e->cur.n; }

void de_engine_rule_info(const struct de_engine *e, size_t i, struct de_engine_rule_info *out)
{
	const struct rule_rt *rt = &e->cur.rt[i];
	*out = (struct de_engine_rule_info){
		.rule = rt->r,
		.enabled = rt->enabled,
		.disabled_why = rt->enabled ? NULL : rt->disabled_why,
		.runs = rt->runs,
		.matches = rt->matches,
		.alerts = rt->alerts,
		.errors = rt->errors,
		.total_us = rt->total_us,
		.max_us = rt->max_us,
	};
}

int64_t de_engine_watermark(const struct de_engine *e) { return e->watermark; }

unsigned de_engine_lanes(const struct de_engine *e) { return e->nlanes; }
