/* store.c: the agent's SQLite event store (see store.h).
 *
 * Hot path: de_store_add() runs a handful of reused prepared statements
 * inside one open transaction; nothing is prepared, formatted with printf
 * or allocated per event except the argv JSON, built in a reused buffer.
 * An event is normalised first (struct image) from either its own fields
 * or its full /proc detail (DE_EVF_PROC), so every source is stored the
 * same way.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "emit.h"
#include "hash.h"
#include "log.h"
#include "macros.h"
#include "sqlinit.h"
#include "store.h"
#include "store_schema.h"

const char *const de_store_published[] = {
	"processes", "process_events", "new_process_events", "process_ancestry", "executables", "alerts",
	"collector_status", NULL,
};

enum stmt {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
	ST_FIND_PROC, ST_INSERT_PROC, ST_UPDATE_PROC, ST_UPDATE_PROC_SAME_PARENT, ST_IMAGE_TEXT,
	ST_INSERT_IMAGE, ST_INSERT_EVENT, ST_UPSERT_EXE, ST_INSERT_STATUS,
	ST__COUNT
};

#define IMAGE_COLS \
	"proc_pk, image, time_ns, comm, exe, exe_deleted, exe_memfd, filename, cmdline, argv," \
	" argc, argv_truncated, uid, euid, suid, gid, egid, loginuid, sessionid, user, cwd, tty," \
	" cgroup, container_id, exe_dev, exe_ino, sha256, blake3, cap_eff, source, partial"

static const char *const stmt_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_FIND_PROC] = "SELECT pk, images, cur_image, parent_pk FROM process_t WHERE entity_id = ?1",
	/* A forked child starts with its parent's image (?8; images ?9). */
	[ST_INSERT_PROC] =
		("INSERT INTO process_t(entity_id, pid, ppid, parent_pk, parent_entity_id,"
		" start_time_ns, first_seen_ns, last_seen_ns, cur_image, images)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)"),
	/* Every change to a known process in one statement: last seen, parent
	 * links, start time; a new image (?7 = 1, ?8 its pk); an exit (?9
	 * time, ?10 code, ?11 signal). */
	[ST_UPDATE_PROC] =
		("UPDATE process_t SET last_seen_ns = ?2, ppid = coalesce(?3, ppid),"
		" parent_pk = coalesce(?4, parent_pk),"
		" parent_entity_id = coalesce(?5, parent_entity_id),"
		" start_time_ns = coalesce(start_time_ns, ?6), images = images + ?7,"
		" cur_image = coalesce(?8, cur_image), exit_time_ns = coalesce(?9, exit_time_ns),"
		" exit_code = iif(?9 IS NULL, exit_code, ?10),"
		" exit_signal = iif(?9 IS NULL, exit_signal, ?11) WHERE pk = ?1"),
	/* The same when the parent links are already known: parent_pk is not
	 * assigned, so its index entry is not rewritten. */
	[ST_UPDATE_PROC_SAME_PARENT] =
		("UPDATE process_t SET last_seen_ns = ?2,"
		" start_time_ns = coalesce(start_time_ns, ?6), images = images + ?7,"
		" cur_image = coalesce(?8, cur_image), exit_time_ns = coalesce(?9, exit_time_ns),"
		" exit_code = iif(?9 IS NULL, exit_code, ?10),"
		" exit_signal = iif(?9 IS NULL, exit_signal, ?11) WHERE pk = ?1"),
	[ST_IMAGE_TEXT] = "SELECT exe, cmdline FROM image_t WHERE pk = ?1",
	[ST_INSERT_IMAGE] =
		("INSERT INTO image_t(" IMAGE_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
		" ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26,"
		" ?27, ?28, ?29, ?30, ?31)"),
	[ST_INSERT_EVENT] =
		("INSERT INTO event_t(time_ns, type, source, collector_seq, proc_pk, pid, tid, ppid,"
		" image_pk, partial, exit_code, exit_signal)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
	[ST_UPSERT_EXE] =
		("INSERT INTO exe_t(dev, ino, path, sha256, blake3, first_seen_ns, last_seen_ns,"
		" exec_count) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)"
		" ON CONFLICT(dev, ino) DO UPDATE SET last_seen_ns = excluded.last_seen_ns,"
		" exec_count = exec_count + excluded.exec_count, path = coalesce(excluded.path, path),"
		" sha256 = coalesce(excluded.sha256, sha256), blake3 = coalesce(excluded.blake3, blake3)"),
	[ST_INSERT_STATUS] =
		("INSERT INTO status_t(time_ns, source, kind, detail, drops_exec, drops_fork,"
		" drops_exit, drops_other) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
};

/* What the store knows of a process row, cached by entity id: most events
 * are about processes seen moments ago, so most lookups cost no query. */
struct proc_row {
	uint8_t entity_id[DE_ENTITY_ID_LEN];
	int64_t pk;         /* 0: slot empty */
	int64_t images;
	int64_t cur_image;  /* image_t.pk, 0 when none */
	int64_t parent_pk;  /* 0 when not linked */
};

#define PROC_CACHE_SLOTS 4096 /* direct-mapped; entity ids are uniform hashes */

struct de_store {
	struct de_store_window no_window; /* the writer reads no rule window */
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	struct proc_row cache[PROC_CACHE_SLOTS];
	bool in_tx;
	struct de_store_opts opts;
	struct de_buf argv_json, cmdline;
};

static int sqlite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH: return -EPERM;
	case SQLITE_CONSTRAINT: case SQLITE_MISMATCH: return -EINVAL;
	case SQLITE_CORRUPT: case SQLITE_NOTADB: return -EBADMSG;
	}
	return -EIO;
}

static int migrate(struct de_store *s, char *why, size_t why_len)
{
	sqlite3_stmt *st = NULL;
	int version = -1;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version < 0) {
		de_why(why, why_len, "reading the schema version: %s", sqlite3_errmsg(s->db));
		return -EIO;
	}
	if ((size_t)version > de_store_n_migrations) {
		de_why(why, why_len, "the database has schema version %d; this build knows up to %zu"
		       " (refusing to touch a newer database)", version, de_store_n_migrations);
		return -EPROTO;
	}
	for (size_t v = (size_t)version; v < de_store_n_migrations; v++) {
		char bump[48];
		snprintf(bump, sizeof(bump), "PRAGMA user_version = %zu", v + 1);
		char *err = NULL;
		int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &err);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, de_store_migrations[v], NULL, NULL, &err);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, bump, NULL, NULL, &err);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, &err);
		if (rc != SQLITE_OK) {
			de_why(why, why_len, "migrating the schema to version %zu: %s", v + 1,
			       err ? err : sqlite3_errmsg(s->db));
			sqlite3_free(err);
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return sqlite_errno(rc);
		}
	}
	return 0;
}

struct de_store *de_store_open(const struct de_store_opts *o, char *why, size_t why_len)
{
	struct de_store *s = calloc(1, sizeof(*s));
	if (!s) {
		de_why(why, why_len, "out of memory");
		return NULL;
	}
	s->opts = *o;
	de_sqlite_init();
	int rc = sqlite3_open_v2(o->path, &s->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		de_why(why, why_len, "opening %s: %s", o->path,
		       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* A bigger lookaside: every statement allocates its cursors and record
	 * buffers on each run, and the default pool (100 slots of 1200 bytes)
	 * runs out inside a batch, sending them to malloc. */
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 2048, 512);
	sqlite3_busy_timeout(s->db, 5000);
	/* 16 KiB pages (a new store only: an existing file keeps its own).
	 * Each commit writes every page it dirtied to the WAL, two writes a
	 * page, and the random entity-id index dirties many; bigger pages are
	 * fewer pages and fewer system calls, which are dear on a VM:
	 * `bench_detect ingest 100000 4096` went from 10.3-10.6 to 9.3 us of
	 * CPU per event, `... 512` from 13.6 to 11.5, the size per million
	 * events from 664 to 652 MB (32 KiB gained 3% more; not worth the
	 * bigger writes of the small commits of a quiet host). */
	char pragmas[200];
	snprintf(pragmas, sizeof(pragmas),
		 "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = %s;"
		 " PRAGMA foreign_keys = OFF;"
		 " PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8192",
		 o->durable ? "FULL" : "NORMAL");
	char *err = NULL;
	if ((rc = sqlite3_exec(s->db, pragmas, NULL, NULL, &err)) != SQLITE_OK) {
		de_why(why, why_len, "configuring %s: %s", o->path, err ? err : "?");
		sqlite3_free(err);
		goto fail;
	}
	if ((rc = de_store_register_functions(s->db, &s->no_window)) < 0) {
		de_why(why, why_len, "registering functions: %s", strerror(-rc));
		goto fail_errno;
	}
	if ((rc = migrate(s, why, why_len)) < 0)
		goto fail_errno;
	for (int i = 0; i < ST__COUNT; i++)
		if ((rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					     &s->st[i], NULL)) != SQLITE_OK) {
			de_why(why, why_len, "preparing statement %d: %s", i, sqlite3_errmsg(s->db));
			goto fail;
		}
	return s;
fail:
	rc = sqlite_errno(rc);
fail_errno:
	de_store_close(s);
	errno = -rc;
	return NULL;
}

void de_store_close(struct de_store *s)
{
	if (!s)
		return;
	if (s->in_tx)
		de_store_commit(s);
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	de_buf_free(&s->argv_json);
	de_buf_free(&s->cmdline);
	free(s);
}

sqlite3 *de_store_db(struct de_store *s) { return s->db; }

static void fn_window_lo(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	(void)argv;
	const struct de_store_window *w = sqlite3_user_data(ctx);
	sqlite3_result_int64(ctx, w ? w->lo : 0);
}

static void fn_window_hi(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	(void)argv;
	const struct de_store_window *w = sqlite3_user_data(ctx);
	sqlite3_result_int64(ctx, w ? w->hi : 0);
}

static void fn_now_ns(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	(void)argv;
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	sqlite3_result_int64(ctx, (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec);
}

int de_store_register_functions(sqlite3 *db, void *w)
{
	/* SQLITE_INNOCUOUS: allowed inside views with trusted_schema off. */
	const int flags = SQLITE_UTF8 | SQLITE_INNOCUOUS;
	if (sqlite3_create_function(db, "de_window_lo", 0, flags, w, fn_window_lo, NULL, NULL) ||
	    sqlite3_create_function(db, "de_window_hi", 0, flags, w, fn_window_hi, NULL, NULL) ||
	    sqlite3_create_function(db, "de_now_ns", 0, flags, NULL, fn_now_ns, NULL, NULL))
		return -ENOMEM;
	return 0;
}
const char *de_store_errmsg(struct de_store *s) { return sqlite3_errmsg(s->db); }

/* Run a statement that returns no rows (or whose rows are not needed). */
static int exec_stmt(struct de_store *s, enum stmt i)
{
	sqlite3_stmt *st = s->st[i];
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqlite_errno(rc);
}

/* What one image row holds, from an event's own fields or its /proc detail. */
struct image {
	const char *comm, *exe, *filename, *user, *cwd, *cgroup, *container_id;
	bool exe_deleted, exe_memfd, have_exe;
	const char *argv;
	size_t argv_len;
	uint32_t argc;
	bool argv_truncated, have_argv;
	bool have_creds, have_audit, have_exe_id, have_cap;
	uint32_t uid[4], gid[4], loginuid, sessionid;
	uint64_t exe_dev, exe_ino, cap_eff;
	char tty[32];
	bool have_tty;
	const struct de_hashes *hashes;
};

static void image_from_event(const struct de_event *ev, struct image *im)
{
	memset(im, 0, sizeof(*im));
	const struct de_proc *p = (ev->have & DE_EVF_PROC) ? ev->proc : NULL;
	im->comm = ev->comm[0] ? ev->comm : p ? p->comm : NULL;
	if (ev->have & DE_EVF_FILENAME)
		im->filename = ev->filename;
	if (p) {
		if (p->err[DE_PF_CMDLINE] == 0) {
			im->argv = p->argv;
			im->argv_len = p->argv_len;
			im->argc = p->argc;
			im->argv_truncated = p->argv_truncated;
			im->have_argv = true;
		}
		if (p->err[DE_PF_EXE] == 0) {
			im->exe = p->exe;
			im->exe_deleted = p->exe_deleted;
			im->exe_memfd = p->exe_memfd;
			im->have_exe = true;
		}
		if (p->err[DE_PF_STATUS] == 0) {
			memcpy(im->uid, p->uid, sizeof(im->uid));
			memcpy(im->gid, p->gid, sizeof(im->gid));
			im->have_creds = true;
			im->cap_eff = p->cap_eff;
			im->have_cap = true;
		}
		if (p->err[DE_PF_LOGINUID] == 0 && p->err[DE_PF_SESSIONID] == 0) {
			im->loginuid = p->loginuid;
			im->sessionid = p->sessionid;
			im->have_audit = true;
		}
		if (p->err[DE_PF_EXE_FILE] == 0) {
			im->exe_dev = p->exe_file.dev;
			im->exe_ino = p->exe_file.ino;
			im->have_exe_id = true;
		}
		im->user = p->user;
		im->cwd = p->err[DE_PF_CWD] == 0 ? p->cwd : NULL;
		if (p->err[DE_PF_CGROUP] == 0) {
			im->cgroup = p->cgroup;
			im->container_id = p->container_id;
		}
		if (p->err[DE_PF_STAT] == 0) {
			de_tty_name(p->tty_nr, im->tty, sizeof(im->tty));
			im->have_tty = true;
		}
		if (p->err[DE_PF_HASH] == 0)
			im->hashes = &p->hashes;
	}
	/* The event's own capture wins where it has one (taken in the kernel
	 * at the moment of the event; /proc may be later). */
	if (ev->have & DE_EVF_ARGV) {
		im->argv = ev->argv;
		im->argv_len = ev->argv_len;
		im->argc = ev->argc;
		im->argv_truncated = ev->argv_truncated;
		im->have_argv = true;
	}
	if (ev->have & DE_EVF_EXE) {
		im->exe = ev->exe;
		im->exe_deleted = ev->exe_deleted;
		im->exe_memfd = ev->exe_memfd;
		im->have_exe = true;
	}
	if (ev->have & DE_EVF_CREDS) {
		memcpy(im->uid, ev->uid, sizeof(im->uid));
		memcpy(im->gid, ev->gid, sizeof(im->gid));
		im->have_creds = true;
	}
	if (ev->have & DE_EVF_LOGINUID) {
		im->loginuid = ev->loginuid;
		im->sessionid = ev->sessionid;
		im->have_audit = true;
	}
	if (ev->have & DE_EVF_EXE_ID) {
		im->exe_dev = ev->exe_dev;
		im->exe_ino = ev->exe_ino;
		im->have_exe_id = true;
	}
	if ((ev->have & DE_EVF_CGROUP) && ev->cgroup) {
		im->cgroup = ev->cgroup;
		im->container_id = ev->container_id;
	}
	if (ev->have & DE_EVF_HASH)
		im->hashes = &ev->hashes;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_hash(sqlite3_stmt *st, int i, const struct de_hashes *h, unsigned algo)
{
	if (!h || !(h->algos & algo)) {
		sqlite3_bind_null(st, i);
		return;
	}
	char hex[DE_HASH_HEX_LEN];
	de_hash_hex(algo == DE_HASH_SHA256 ? h->sha256 : h->blake3, hex);
	sqlite3_bind_text(st, i, hex, DE_HASH_HEX_LEN - 1, SQLITE_TRANSIENT);
}

/* argv as a JSON array (valid UTF-8 whatever the bytes) and as one
 * space-joined command line (raw bytes, for LIKE). */
static void format_argv(struct de_store *s, const struct image *im)
{
	de_buf_reset(&s->argv_json);
	de_buf_reset(&s->cmdline);
	struct de_json j;
	de_json_init(&j, &s->argv_json);
	de_json_arr_begin(&j);
	size_t off = 0;
	while (off < im->argv_len) {
		const char *a = im->argv + off;
		size_t n = strnlen(a, im->argv_len - off);
		de_json_str(&j, a, n);
		if (s->cmdline.len)
			de_buf_putc(&s->cmdline, ' ');
		de_buf_append(&s->cmdline, a, n);
		off += n + 1;
	}
	de_json_arr_end(&j);
}

/* Insert an image row for process pk; returns its image_t.pk. */
static int64_t insert_image(struct de_store *s, const struct de_event *ev, int64_t pk,
			    int64_t image, const struct image *im)
{
	sqlite3_stmt *st = s->st[ST_INSERT_IMAGE];
	sqlite3_bind_int64(st, 1, pk);
	sqlite3_bind_int64(st, 2, image);
	sqlite3_bind_int64(st, 3, ev->time_ns);
	bind_text(st, 4, im->comm);
	bind_text(st, 5, im->have_exe ? im->exe : NULL);
	if (im->have_exe) {
		sqlite3_bind_int(st, 6, im->exe_deleted);
		sqlite3_bind_int(st, 7, im->exe_memfd);
	}
	bind_text(st, 8, im->filename);
	if (im->have_argv) {
		format_argv(s, im);
		if (s->argv_json.err || s->cmdline.err)
			return -ENOMEM;
		sqlite3_bind_text(st, 9, s->cmdline.data ? s->cmdline.data : "",
				  (int)s->cmdline.len, SQLITE_STATIC);
		sqlite3_bind_text(st, 10, s->argv_json.data, (int)s->argv_json.len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 11, im->argc);
		sqlite3_bind_int(st, 12, im->argv_truncated);
	}
	if (im->have_creds) {
		sqlite3_bind_int64(st, 13, im->uid[DE_ID_REAL]);
		sqlite3_bind_int64(st, 14, im->uid[DE_ID_EFFECTIVE]);
		sqlite3_bind_int64(st, 15, im->uid[DE_ID_SAVED]);
		sqlite3_bind_int64(st, 16, im->gid[DE_ID_REAL]);
		sqlite3_bind_int64(st, 17, im->gid[DE_ID_EFFECTIVE]);
	}
	if (im->have_audit) {
		sqlite3_bind_int64(st, 18, im->loginuid);
		sqlite3_bind_int64(st, 19, im->sessionid);
	}
	bind_text(st, 20, im->user);
	bind_text(st, 21, im->cwd);
	bind_text(st, 22, im->have_tty ? im->tty : NULL);
	bind_text(st, 23, im->cgroup);
	bind_text(st, 24, im->container_id);
	if (im->have_exe_id) {
		sqlite3_bind_int64(st, 25, (int64_t)im->exe_dev);
		sqlite3_bind_int64(st, 26, (int64_t)im->exe_ino);
	}
	bind_hash(st, 27, im->hashes, DE_HASH_SHA256);
	bind_hash(st, 28, im->hashes, DE_HASH_BLAKE3);
	if (im->have_cap)
		sqlite3_bind_int64(st, 29, (int64_t)im->cap_eff);
	sqlite3_bind_text(st, 30, de_event_source_name(ev->source), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 31, ev->partial);
	int rc = exec_stmt(s, ST_INSERT_IMAGE);
	return rc < 0 ? rc : sqlite3_last_insert_rowid(s->db);
}

static struct proc_row *cache_slot(struct de_store *s, const uint8_t id[DE_ENTITY_ID_LEN])
{
	uint32_t h;
	memcpy(&h, id, sizeof(h));
	return &s->cache[h % PROC_CACHE_SLOTS];
}

/* Find the process row of an entity id: from the cache, else the table.
 * Returns 1 (found, *row filled), 0 (unknown) or a negative errno. */
static int find_proc(struct de_store *s, const uint8_t id[DE_ENTITY_ID_LEN],
		     struct proc_row **row)
{
	struct proc_row *c = cache_slot(s, id);
	*row = c;
	if (c->pk && memcmp(c->entity_id, id, DE_ENTITY_ID_LEN) == 0)
		return 1;
	sqlite3_stmt *st = s->st[ST_FIND_PROC];
	sqlite3_bind_blob(st, 1, id, DE_ENTITY_ID_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int ret = 0;
	if (rc == SQLITE_ROW) {
		memcpy(c->entity_id, id, DE_ENTITY_ID_LEN);
		c->pk = sqlite3_column_int64(st, 0);
		c->images = sqlite3_column_int64(st, 1);
		c->cur_image = sqlite3_column_int64(st, 2);
		c->parent_pk = sqlite3_column_int64(st, 3);
		ret = 1;
	} else if (rc != SQLITE_DONE) {
		ret = sqlite_errno(rc);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

/* Bind the parent links and start time an event carries (parameters 3-6
 * of both process statements). */
static void bind_links(sqlite3_stmt *st, const struct de_event *ev, const struct proc_row *parent)
{
	if (ev->have & DE_EVF_PARENT) {
		sqlite3_bind_int64(st, 3, ev->ppid);
		if (parent->pk)
			sqlite3_bind_int64(st, 4, parent->pk);
		sqlite3_bind_blob(st, 5, ev->parent_entity_id, DE_ENTITY_ID_LEN, SQLITE_STATIC);
	}
	int64_t start = (ev->have & DE_EVF_PROC) ? ev->proc->start_time_ns : 0;
	if (start)
		sqlite3_bind_int64(st, 6, start);
}

/* Insert the process row of a new entity (a forked child starts with its
 * parent's image: image_pk, 0 for none) and cache it. */
static int insert_proc(struct de_store *s, const struct de_event *ev, const struct proc_row *parent,
		       int64_t image_pk, struct proc_row *row)
{
	sqlite3_stmt *st = s->st[ST_INSERT_PROC];
	sqlite3_bind_blob(st, 1, ev->entity_id, DE_ENTITY_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, ev->pid);
	bind_links(st, ev, parent);
	sqlite3_bind_int64(st, 7, ev->time_ns);
	if (image_pk)
		sqlite3_bind_int64(st, 8, image_pk);
	sqlite3_bind_int64(st, 9, image_pk ? 1 : 0);
	int rc = exec_stmt(s, ST_INSERT_PROC);
	if (rc < 0)
		return rc;
	/* The parent's slot may be the one reused: callers hold a copy. */
	memcpy(row->entity_id, ev->entity_id, DE_ENTITY_ID_LEN);
	row->pk = sqlite3_last_insert_rowid(s->db);
	row->images = image_pk ? 1 : 0;
	row->cur_image = image_pk;
	row->parent_pk = (ev->have & DE_EVF_PARENT) ? parent->pk : 0;
	return 0;
}

/* Update a known process: last seen and links, plus a new image
 * (image_pk > 0) or an exit (exit set). */
static int update_proc(struct de_store *s, const struct de_event *ev, const struct proc_row *parent,
		       struct proc_row *row, int64_t image_pk, bool exit)
{
	/* Parent links change only when the event brings a different parent
	 * (a reparenting the cache has not seen, or one not known before). */
	bool same_parent = !(ev->have & DE_EVF_PARENT) || (parent->pk && parent->pk == row->parent_pk);
	enum stmt which = same_parent ? ST_UPDATE_PROC_SAME_PARENT : ST_UPDATE_PROC;
	sqlite3_stmt *st = s->st[which];
	sqlite3_bind_int64(st, 1, row->pk);
	sqlite3_bind_int64(st, 2, ev->time_ns);
	if (same_parent) {
		int64_t start = (ev->have & DE_EVF_PROC) ? ev->proc->start_time_ns : 0;
		if (start)
			sqlite3_bind_int64(st, 6, start);
	} else {
		bind_links(st, ev, parent);
	}
	sqlite3_bind_int64(st, 7, image_pk ? 1 : 0);
	if (image_pk)
		sqlite3_bind_int64(st, 8, image_pk);
	if (exit) {
		sqlite3_bind_int64(st, 9, ev->time_ns);
		if (ev->have & DE_EVF_EXIT) {
			sqlite3_bind_int64(st, 10, ev->exit_code);
			sqlite3_bind_int64(st, 11, ev->exit_signal);
		}
	}
	int rc = exec_stmt(s, which);
	if (rc < 0)
		return rc;
	if (!same_parent && parent->pk)
		row->parent_pk = parent->pk;
	if (image_pk) {
		row->images++;
		row->cur_image = image_pk;
	}
	return 0;
}

static bool same_text(const unsigned char *a, int alen, const char *b, size_t blen)
{
	if (!a || !b)
		return !a && !b;
	return (size_t)alen == blen && memcmp(a, b, blen) == 0;
}

/* Whether a snapshot shows the image the store has as current (so a
 * periodic resync does not add an image per process every time). */
static bool snapshot_is_current(struct de_store *s, const struct proc_row *row,
				const struct image *im)
{
	if (!row->cur_image)
		return false;
	sqlite3_stmt *st = s->st[ST_IMAGE_TEXT];
	sqlite3_bind_int64(st, 1, row->cur_image);
	bool same = false;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *exe = sqlite3_column_text(st, 0);
		int exe_len = sqlite3_column_bytes(st, 0);
		const unsigned char *cmd = sqlite3_column_text(st, 1);
		int cmd_len = sqlite3_column_bytes(st, 1);
		format_argv(s, im);
		same = same_text(exe, exe_len, im->have_exe ? im->exe : NULL,
				 im->have_exe && im->exe ? strlen(im->exe) : 0) &&
		       (!im->have_argv || same_text(cmd, cmd_len, s->cmdline.data ? s->cmdline.data : "",
						    s->cmdline.len));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return same;
}

static int64_t insert_event(struct de_store *s, const struct de_event *ev, int64_t proc_pk,
			    int64_t image_pk)
{
	sqlite3_stmt *st = s->st[ST_INSERT_EVENT];
	sqlite3_bind_int64(st, 1, ev->time_ns);
	sqlite3_bind_text(st, 2, de_event_type_name(ev->type), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, de_event_source_name(ev->source), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)ev->seq);
	if (proc_pk) {
		sqlite3_bind_int64(st, 5, proc_pk);
		sqlite3_bind_int64(st, 6, ev->pid);
		sqlite3_bind_int64(st, 7, ev->tid ? ev->tid : ev->pid);
	}
	if (ev->have & DE_EVF_PARENT)
		sqlite3_bind_int64(st, 8, ev->ppid);
	if (image_pk)
		sqlite3_bind_int64(st, 9, image_pk);
	sqlite3_bind_int(st, 10, ev->partial);
	if (ev->type == DE_EV_EXIT && (ev->have & DE_EVF_EXIT)) {
		sqlite3_bind_int64(st, 11, ev->exit_code);
		sqlite3_bind_int64(st, 12, ev->exit_signal);
	}
	int rc = exec_stmt(s, ST_INSERT_EVENT);
	return rc < 0 ? rc : sqlite3_last_insert_rowid(s->db);
}

static int add_status(struct de_store *s, const struct de_event *ev)
{
	sqlite3_stmt *st = s->st[ST_INSERT_STATUS];
	sqlite3_bind_int64(st, 1, ev->time_ns);
	sqlite3_bind_text(st, 2, de_event_source_name(ev->source), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, de_status_kind_name(ev->status), -1, SQLITE_STATIC);
	bind_text(st, 4, ev->detail);
	if (ev->status == DE_ST_DROPS) {
		uint64_t other = ev->drops[DE_EV_SNAPSHOT] + ev->drops[DE_EV_STATUS];
		sqlite3_bind_int64(st, 5, (int64_t)ev->drops[DE_EV_EXEC]);
		sqlite3_bind_int64(st, 6, (int64_t)ev->drops[DE_EV_FORK]);
		sqlite3_bind_int64(st, 7, (int64_t)ev->drops[DE_EV_EXIT]);
		sqlite3_bind_int64(st, 8, (int64_t)other);
	}
	return exec_stmt(s, ST_INSERT_STATUS);
}

static int upsert_exe(struct de_store *s, const struct de_event *ev, const struct image *im)
{
	if (!im->have_exe_id)
		return 0;
	sqlite3_stmt *st = s->st[ST_UPSERT_EXE];
	sqlite3_bind_int64(st, 1, (int64_t)im->exe_dev);
	sqlite3_bind_int64(st, 2, (int64_t)im->exe_ino);
	bind_text(st, 3, im->have_exe ? im->exe : NULL);
	bind_hash(st, 4, im->hashes, DE_HASH_SHA256);
	bind_hash(st, 5, im->hashes, DE_HASH_BLAKE3);
	sqlite3_bind_int64(st, 6, ev->time_ns);
	sqlite3_bind_int64(st, 7, ev->type == DE_EV_EXEC ? 1 : 0);
	return exec_stmt(s, ST_UPSERT_EXE);
}

/* BEGIN IMMEDIATE: the write lock is taken (waiting in the busy handler
 * for the outbox's workers and the CLI) before the first read; a
 * deferred transaction that read first would get SQLITE_BUSY at its first
 * write, without waiting, whenever another connection committed meanwhile
 * (WAL snapshots). */
static int begin(struct de_store *s)
{
	if (s->in_tx)
		return 0;
	int rc = exec_stmt(s, ST_BEGIN);
	if (rc == 0)
		s->in_tx = true;
	return rc;
}

int64_t de_store_add(struct de_store *s, const struct de_event *ev)
{
	int64_t rc = begin(s);
	if (rc < 0)
		return rc;
	if (ev->type == DE_EV_STATUS) {
		if ((rc = add_status(s, ev)) < 0)
			return rc;
		return insert_event(s, ev, 0, 0);
	}
	struct proc_row parent = { 0 }, *row;
	if (ev->have & DE_EVF_PARENT) {
		struct proc_row *pr;
		if ((rc = find_proc(s, ev->parent_entity_id, &pr)) < 0)
			return rc;
		if (rc)
			parent = *pr; /* a copy: the child may take its cache slot */
	}
	if ((rc = find_proc(s, ev->entity_id, &row)) < 0)
		return rc;
	bool known = rc == 1;
	int64_t image_pk = known ? row->cur_image : 0;
	struct image im;
	switch (ev->type) {
	case DE_EV_EXEC:
	case DE_EV_SNAPSHOT:
		image_from_event(ev, &im);
		if (!known && (rc = insert_proc(s, ev, &parent, 0, row)) < 0)
			return rc;
		if (ev->type == DE_EV_SNAPSHOT && known && snapshot_is_current(s, row, &im)) {
			rc = update_proc(s, ev, &parent, row, 0, false);
		} else {
			if ((image_pk = insert_image(s, ev, row->pk, row->images, &im)) < 0)
				return image_pk;
			if ((rc = update_proc(s, ev, &parent, row, image_pk, false)) == 0)
				rc = upsert_exe(s, ev, &im);
		}
		break;
	case DE_EV_FORK:
		/* A new child runs its parent's image until it execs: it points
		 * at that image row (no copy). A duplicate fork only touches. */
		if (!known) {
			image_pk = parent.cur_image;
			rc = insert_proc(s, ev, &parent, image_pk, row);
		} else {
			int64_t adopt = row->cur_image ? 0 : parent.cur_image;
			rc = update_proc(s, ev, &parent, row, adopt, false);
			image_pk = row->cur_image;
		}
		break;
	case DE_EV_EXIT:
		if (!known && (rc = insert_proc(s, ev, &parent, 0, row)) < 0)
			return rc;
		rc = update_proc(s, ev, &parent, row, 0, true);
		break;
	default:
		rc = known ? update_proc(s, ev, &parent, row, 0, false)
			   : insert_proc(s, ev, &parent, 0, row);
		break;
	}
	if (rc < 0)
		return rc;
	return insert_event(s, ev, row->pk, image_pk);
}

int de_store_commit(struct de_store *s)
{
	if (!s->in_tx)
		return 0;
	int rc = exec_stmt(s, ST_COMMIT);
	if (rc < 0) {
		exec_stmt(s, ST_ROLLBACK);
		/* What the cache learned in the lost batch is gone too. */
		memset(s->cache, 0, sizeof(s->cache));
	}
	s->in_tx = false;
	return rc;
}

int64_t de_store_last_event_id(struct de_store *s)
{
	sqlite3_stmt *st = NULL;
	int64_t id = -EIO;
	if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(id), 0) FROM event_t", -1, &st, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

static int64_t db_bytes(struct de_store *s)
{
	sqlite3_stmt *st = NULL;
	int64_t n = -1;
	if (sqlite3_prepare_v2(s->db, "SELECT page_count * page_size - freelist_count * page_size"
				      " FROM pragma_page_count, pragma_page_size,"
				      " pragma_freelist_count", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Delete events matching `where` (bound: ?1), then what no longer has an
 * event and has exited. Returns events deleted. */
static int64_t delete_events(struct de_store *s, const char *where, int64_t arg)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "DELETE FROM event_t WHERE %s", where);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_errno(rc);
	sqlite3_bind_int64(st, 1, arg);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sqlite_errno(rc);
	int64_t n = sqlite3_changes(s->db);
	memset(s->cache, 0, sizeof(s->cache));
	rc = sqlite3_exec(s->db,
			  "DELETE FROM process_t WHERE (exit_time_ns IS NOT NULL OR exit_missed)"
			  " AND pk NOT IN (SELECT proc_pk FROM event_t WHERE proc_pk IS NOT NULL);"
			  /* A forked child may run its parent's image row. */
			  "DELETE FROM image_t WHERE proc_pk NOT IN (SELECT pk FROM process_t)"
			  " AND pk NOT IN (SELECT cur_image FROM process_t WHERE cur_image IS NOT NULL)"
			  " AND pk NOT IN (SELECT image_pk FROM event_t WHERE image_pk IS NOT NULL);"
			  "DELETE FROM status_t WHERE time_ns < (SELECT coalesce(min(time_ns), 0)"
			  " FROM event_t);",
			  NULL, NULL, NULL);
	return rc == SQLITE_OK ? n : sqlite_errno(rc);
}

int64_t de_store_retain(struct de_store *s, int64_t now_ns)
{
	int rc = de_store_commit(s);
	if (rc < 0)
		return rc;
	int64_t total = 0, n;
	if ((rc = begin(s)) < 0)
		return rc;
	if (s->opts.retain_age_ns) {
		n = delete_events(s, "time_ns < ?1", now_ns - (int64_t)s->opts.retain_age_ns);
		if (n < 0)
			goto fail;
		total += n;
	}
	if ((rc = de_store_commit(s)) < 0)
		return rc;
	/* Size: drop the oldest 10% of events at a time until under the bound. */
	for (int round = 0; s->opts.retain_bytes && round < 64; round++) {
		int64_t bytes = db_bytes(s);
		if (bytes < 0 || (uint64_t)bytes <= s->opts.retain_bytes)
			break;
		if ((rc = begin(s)) < 0)
			return rc;
		n = delete_events(s, "id <= (SELECT min(id) + (max(id) - min(id)) / 10 + ?1"
				     " FROM event_t)", 1);
		if (n < 0)
			goto fail;
		total += n;
		if ((rc = de_store_commit(s)) < 0)
			return rc;
		if (n == 0)
			break;
	}
	return total;
fail:
	exec_stmt(s, ST_ROLLBACK);
	s->in_tx = false;
	return n;
}
