/* outbox.c: the alert outbox and its per-sink delivery workers (see
 * outbox.h).
 *
 * A worker loops: breaker closed (or its cooldown over)? read the next
 * batch of pending rows of its sink in sequence order; send them in order
 * (each one rate-limited) until one fails in a way worth retrying; flush
 * the sink; record every outcome in one transaction. Rows are only marked
 * delivered after the flush, so a crash at any point redelivers rather
 * than loses. Waiting uses one condition variable shared by the workers
 * (a generation counter avoids lost wake-ups).
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "alertdb.h"
#include "log.h"
#include "outbox.h"
#include "sink.h"
#include "store.h"

/* WAL pages between the outbox connections' checkpoints: 64 MiB of the
 * store's 16 KiB pages (see where it is set). */
#define OUTBOX_CKPT_PAGES "4096"

struct worker {
	struct de_outbox *ob;
	const struct de_sink_cfg *cfg;
	struct de_sink *sink;
	pthread_t thread;
	bool started;
	struct de_breaker breaker;
	struct de_bucket bucket;
	uint32_t batch;
	char last_error[DE_SINK_WHY_MAX];
};

struct de_outbox {
	struct de_outbox_opts o;
	struct de_store *store;  /* writer connection of de_outbox_add */
	struct de_alertdb adb;
	struct de_alertdb host;  /* on the host's own connection (de_outbox_attach) */
	pthread_mutex_t lock;    /* gen, stop, the writer connection */
	pthread_cond_t cond;
	uint64_t gen;
	bool stop;
	struct worker w[DE_SINK_MAX];
	size_t n;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- policy ------------------------------------------------------------ */

uint64_t de_outbox_backoff_ms(const struct de_sink_cfg *c, uint32_t attempts, uint32_t rnd)
{
	uint64_t d = c->retry_base_ms ? c->retry_base_ms : 1;
	for (uint32_t i = 1; i < attempts && d < c->retry_max_ms; i++)
		d *= 2;
	if (d > c->retry_max_ms)
		d = c->retry_max_ms;
	uint64_t half = d / 2;
	return half + (d - half) * (uint64_t)rnd / UINT32_MAX;
}

bool de_breaker_allow(struct de_breaker *b, int64_t now, int64_t *wait_ns)
{
	if (b->state != DE_BREAKER_OPEN)
		return true;
	if (now >= b->open_until_ns) {
		b->state = DE_BREAKER_HALF_OPEN;
		return true;
	}
	*wait_ns = b->open_until_ns - now;
	return false;
}

bool de_breaker_record(struct de_breaker *b, const struct de_sink_cfg *c, bool ok, int64_t now)
{
	enum de_breaker_state was = b->state;
	if (ok) {
		b->failures = 0;
		b->state = DE_BREAKER_CLOSED;
	} else {
		b->failures++;
		if (b->state == DE_BREAKER_HALF_OPEN || b->failures >= c->breaker_failures) {
			b->state = DE_BREAKER_OPEN;
			b->open_until_ns = now + (int64_t)c->breaker_cooldown_ms * 1000000;
		}
	}
	return b->state != was;
}

const char *de_breaker_name(enum de_breaker_state s)
{
	return s == DE_BREAKER_OPEN ? "open" : s == DE_BREAKER_HALF_OPEN ? "half-open" : "closed";
}

int64_t de_bucket_take(struct de_bucket *b, const struct de_sink_cfg *c, int64_t now)
{
	if (!c->rate_limit)
		return 0;
	if (b->last_ns == 0) {
		b->tokens = c->burst;
		b->last_ns = now;
	}
	b->tokens += (double)(now - b->last_ns) * c->rate_limit / 1e9;
	if (b->tokens > c->burst)
		b->tokens = c->burst;
	b->last_ns = now;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 0;
	}
	return (int64_t)((1.0 - b->tokens) * 1e9 / c->rate_limit) + 1;
}

/* ---- worker ------------------------------------------------------------ */

/* Wait up to ns unless woken (generation moved past gen) or stopping;
 * with `sleep`, wake-ups do not end the wait, only stopping does.
 * Returns false when stopping. */
static bool wait_ns(struct de_outbox *ob, uint64_t gen, int64_t ns, bool sleep)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t t = (int64_t)ts.tv_nsec + (ns > 0 ? ns : 0);
	ts.tv_sec += t / 1000000000;
	ts.tv_nsec = t % 1000000000;
	pthread_mutex_lock(&ob->lock);
	while (!ob->stop && (sleep || ob->gen == gen) && ns > 0)
		if (pthread_cond_timedwait(&ob->cond, &ob->lock, &ts) == ETIMEDOUT)
			break;
	bool go = !ob->stop;
	pthread_mutex_unlock(&ob->lock);
	return go;
}

static bool wait_for(struct de_outbox *ob, uint64_t gen, int64_t ns)
{
	return wait_ns(ob, gen, ns, false);
}

static bool stopping(struct de_outbox *ob, uint64_t *gen)
{
	pthread_mutex_lock(&ob->lock);
	bool s = ob->stop;
	*gen = ob->gen;
	pthread_mutex_unlock(&ob->lock);
	return s;
}

struct row {
	int64_t id, next_ns;
	uint32_t attempts;
	char alert_id[DE_ALERT_ID_LEN];
	char *payload;
	size_t len;
	bool missing; /* neither a payload nor the alert row */
	/* outcome */
	int state; /* -1: not tried */
	bool retry;
	char why[DE_SINK_WHY_MAX];
};

enum { ST_SEL, ST_OK, ST_FAIL, ST_SINK, ST__N };
static const char *const wsql[ST__N] = {
	[ST_SEL] = "SELECT d.id, d.seq, d.alert_id, d.attempts, d.next_ns,"
		   " coalesce(d.payload, o.json) FROM delivery_t d"
		   " LEFT JOIN outbox_t o ON o.seq = d.seq"
		   " WHERE d.sink = ?1 AND d.state = 0 ORDER BY d.seq LIMIT ?2",
	[ST_OK] = "UPDATE delivery_t SET state = 1, attempts = attempts + 1, delivered_ns = ?2,"
		  " updated_ns = ?2, payload = NULL, last_error = NULL WHERE id = ?1 AND state = 0",
	[ST_FAIL] = "UPDATE delivery_t SET state = ?2, attempts = ?3, next_ns = ?4, last_error = ?5,"
		    " updated_ns = ?6 WHERE id = ?1 AND state = 0",
	[ST_SINK] = "INSERT INTO sink_t(name, type, breaker, failures, opened_ns, last_error,"
		    " last_error_ns, last_ok_ns) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
		    " ON CONFLICT(name) DO UPDATE SET type = ?2, breaker = ?3, failures = ?4,"
		    " opened_ns = ?5, last_error = coalesce(?6, last_error),"
		    " last_error_ns = coalesce(?7, last_error_ns), last_ok_ns = coalesce(?8, last_ok_ns)",
};

static size_t load_batch(struct worker *w, sqlite3_stmt *sel, struct row *rows, size_t max)
{
	size_t n = 0;
	sqlite3_bind_text(sel, 1, w->cfg->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(sel, 2, (int)max);
	while (n < max && sqlite3_step(sel) == SQLITE_ROW) {
		struct row *r = &rows[n];
		memset(r, 0, sizeof(*r));
		r->id = sqlite3_column_int64(sel, 0);
		const unsigned char *aid = sqlite3_column_text(sel, 2);
		snprintf(r->alert_id, sizeof(r->alert_id), "%s", aid ? (const char *)aid : "");
		r->attempts = (uint32_t)sqlite3_column_int(sel, 3);
		r->next_ns = sqlite3_column_int64(sel, 4);
		const void *p = sqlite3_column_blob(sel, 5);
		r->len = (size_t)sqlite3_column_bytes(sel, 5);
		r->missing = sqlite3_column_type(sel, 5) == SQLITE_NULL;
		r->payload = malloc(r->len + 1);
		if (!r->payload)
			break;
		if (r->len)
			memcpy(r->payload, p, r->len);
		r->payload[r->len] = 0;
		r->state = -1;
		n++;
	}
	sqlite3_reset(sel);
	return n;
}

static int record_locked(struct worker *w, sqlite3 *db, sqlite3_stmt **st, struct row *rows,
			 size_t n, bool sink_changed, int64_t last_ok)
{
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return de_alertdb_errno(rc);
	int64_t t = now_ns();
	for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
		struct row *r = &rows[i];
		sqlite3_stmt *s;
		if (r->state < 0)
			continue;
		if (r->state == DE_DLV_DELIVERED) {
			s = st[ST_OK];
			sqlite3_bind_int64(s, 1, r->id);
			sqlite3_bind_int64(s, 2, t);
		} else {
			s = st[ST_FAIL];
			sqlite3_bind_int64(s, 1, r->id);
			sqlite3_bind_int(s, 2, r->state);
			sqlite3_bind_int(s, 3, (int)r->attempts);
			sqlite3_bind_int64(s, 4, r->next_ns);
			sqlite3_bind_text(s, 5, r->why, -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 6, t);
		}
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
		sqlite3_reset(s);
	}
	if (rc == SQLITE_OK && sink_changed) {
		sqlite3_stmt *s = st[ST_SINK];
		sqlite3_bind_text(s, 1, w->cfg->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, de_sink_type_name(w->cfg->type), -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, de_breaker_name(w->breaker.state), -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 4, (int)w->breaker.failures);
		if (w->breaker.state == DE_BREAKER_OPEN)
			sqlite3_bind_int64(s, 5, w->breaker.open_until_ns);
		else
			sqlite3_bind_null(s, 5);
		if (w->last_error[0]) {
			sqlite3_bind_text(s, 6, w->last_error, -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 7, t);
		} else {
			sqlite3_bind_null(s, 6);
			sqlite3_bind_null(s, 7);
		}
		if (last_ok)
			sqlite3_bind_int64(s, 8, last_ok);
		else
			sqlite3_bind_null(s, 8);
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
		sqlite3_reset(s);
		w->last_error[0] = 0;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return de_alertdb_errno(rc);
	}
	return 0;
}

/* Writers of this process take turns on the outbox lock, so they never
 * meet in SQLite's busy handler (which sleeps in steps of up to 100 ms);
 * only other processes (the CLI's retry) can make a write wait there. */
static int record(struct worker *w, sqlite3 *db, sqlite3_stmt **st, struct row *rows, size_t n,
		  bool sink_changed, int64_t last_ok)
{
	pthread_mutex_lock(&w->ob->lock);
	int r = record_locked(w, db, st, rows, n, sink_changed, last_ok);
	pthread_mutex_unlock(&w->ob->lock);
	return r;
}

static uint32_t rnd32(void)
{
	uint32_t v = 0;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint32_t)now_ns();
	return v;
}

/* Send rows in order; stops at the first retryable failure. Returns
 * whether the breaker state changed and sets *last_ok. */
static bool send_batch(struct worker *w, struct row *rows, size_t n, uint64_t gen, int64_t *last_ok)
{
	const struct de_sink_cfg *c = w->cfg;
	bool changed = false;
	for (size_t i = 0; i < n; i++) {
		struct row *r = &rows[i];
		int64_t t = now_ns(), wait = 0;
		if (r->next_ns > t || !de_breaker_allow(&w->breaker, t, &wait))
			break;
		while ((wait = de_bucket_take(&w->bucket, c, t)) > 0) {
			if (!wait_ns(w->ob, gen, wait, true))
				goto flush;
			t = now_ns();
		}
		if (r->missing) {
			r->state = DE_DLV_DEAD;
			snprintf(r->why, sizeof(r->why), "the alert is no longer in the store");
			continue;
		}
		struct de_sink_result res = { 0 };
		int e = w->sink->ops->send(w->sink, r->alert_id, r->payload, r->len, &res);
		t = now_ns();
		if (e == 0) {
			r->state = DE_DLV_DELIVERED;
			*last_ok = t;
			changed |= de_breaker_record(&w->breaker, c, true, t);
			continue;
		}
		snprintf(r->why, sizeof(r->why), "%s", res.why[0] ? res.why : strerror(-e));
		snprintf(w->last_error, sizeof(w->last_error), "%s", r->why);
		r->attempts++;
		if (res.permanent) {
			r->state = DE_DLV_DEAD;
			continue;
		}
		changed |= de_breaker_record(&w->breaker, c, false, t);
		if (r->attempts >= c->max_attempts) {
			char why[DE_SINK_WHY_MAX];
			snprintf(why, sizeof(why), "gave up after %u attempts: %.200s", r->attempts, r->why);
			memcpy(r->why, why, sizeof(why));
			r->state = DE_DLV_DEAD;
			continue;
		}
		r->state = DE_DLV_PENDING;
		r->next_ns = t + (int64_t)de_outbox_backoff_ms(c, r->attempts, rnd32()) * 1000000;
		break;
	}
flush:
	if (w->sink->ops->flush) {
		struct de_sink_result res = { 0 };
		if (w->sink->ops->flush(w->sink, &res) < 0) {
			snprintf(w->last_error, sizeof(w->last_error), "%s", res.why);
			for (size_t i = 0; i < n; i++)
				if (rows[i].state == DE_DLV_DELIVERED) {
					rows[i].state = DE_DLV_PENDING;
					rows[i].attempts++;
					snprintf(rows[i].why, sizeof(rows[i].why), "%s", res.why);
				}
			de_breaker_record(&w->breaker, c, false, now_ns());
			*last_ok = 0;
			return true;
		}
	}
	return changed;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_setname_np(pthread_self(), "de-outbox"); /* top -H, ps -L */
	/* a receiver that closed its end (a pipe, stdout, a TLS socket) makes
	 * the write fail with EPIPE in this thread instead of killing the host */
	sigset_t pipe_set;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	struct de_outbox *ob = w->ob;
	char why[256];
	struct de_store_opts so = { .path = ob->o.store_path, .durable = ob->o.durable };
	struct de_store *store = NULL;
	sqlite3_stmt *st[ST__N] = { 0 };
	/* Rows are recorded once per batch: what a crash can make a receiver
	 * see twice. Local sinks (fast, flushed once per batch) take big
	 * batches; network and exec sinks, one request per alert, small ones. */
	w->batch = w->cfg->type == DE_SINK_FILE || w->cfg->type == DE_SINK_STDOUT
			   ? ob->o.batch
			   : DE_MIN(ob->o.batch, 32u);
	struct row *rows = calloc(w->batch, sizeof(*rows));
	uint64_t gen;
	while (!stopping(ob, &gen)) {
		store = de_store_open(&so, why, sizeof(why));
		if (store)
			break;
		log_error("sink %s: opening the store: %s (retrying)", w->cfg->name, why);
		wait_for(ob, gen, 1000000000);
	}
	if (!store || !rows)
		goto out;
	sqlite3 *db = de_store_db(store);
	sqlite3_exec(db, "PRAGMA wal_autocheckpoint = " OUTBOX_CKPT_PAGES, NULL, NULL, NULL);
	for (int i = 0; i < ST__N; i++)
		if (sqlite3_prepare_v3(db, wsql[i], -1, SQLITE_PREPARE_PERSISTENT, &st[i], NULL)) {
			log_error("sink %s: %s", w->cfg->name, sqlite3_errmsg(db));
			goto out;
		}
	bool first = true;
	while (!stopping(ob, &gen)) {
		int64_t t = now_ns(), wait = 0;
		if (!de_breaker_allow(&w->breaker, t, &wait)) {
			wait_for(ob, gen, wait);
			continue;
		}
		size_t n = load_batch(w, st[ST_SEL], rows, w->batch);
		if (n == 0) {
			if (first) /* make the sink visible to `sinks status` */
				record(w, db, st, rows, 0, true, 0);
			first = false;
			wait_for(ob, gen, (int64_t)ob->o.idle_poll_ms * 1000000);
			continue;
		}
		first = false;
		if (rows[0].next_ns > t) {
			for (size_t i = 0; i < n; i++)
				free(rows[i].payload);
			wait_for(ob, gen, DE_MIN(rows[0].next_ns - t,
						 (int64_t)ob->o.idle_poll_ms * 1000000));
			continue;
		}
		int64_t last_ok = 0;
		bool changed = send_batch(w, rows, n, gen, &last_ok);
		int r;
		while ((r = record(w, db, st, rows, n, changed || last_ok, last_ok)) == -EBUSY &&
		       !stopping(ob, &gen))
			;
		if (r < 0)
			log_error("sink %s: recording delivery state: %s", w->cfg->name, strerror(-r));
		for (size_t i = 0; i < n; i++)
			free(rows[i].payload);
	}
out:
	for (int i = 0; i < ST__N; i++)
		sqlite3_finalize(st[i]);
	de_store_close(store);
	free(rows);
	return NULL;
}

/* ---- outbox ------------------------------------------------------------ */

struct de_outbox *de_outbox_open(const struct de_outbox_opts *o, char *why, size_t why_len)
{
	struct de_outbox *ob = calloc(1, sizeof(*ob));
	if (!ob) {
		de_why(why, why_len, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	ob->o = *o;
	if (!ob->o.batch)
		ob->o.batch = 1024;
	if (!ob->o.idle_poll_ms)
		ob->o.idle_poll_ms = 1000;
	pthread_mutex_init(&ob->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ob->cond, &ca);
	pthread_condattr_destroy(&ca);
	struct de_store_opts so = { .path = o->store_path, .durable = o->durable };
	int e = 0;
	ob->store = de_store_open(&so, why, why_len);
	if (!ob->store) {
		e = errno;
		goto fail;
	}
	/* The writer inserts alerts keyed by random UUIDs: a 16 MiB page
	 * cache saves most reads; checkpoints every 64 MiB of WAL (4,096 of
	 * the store's 16 KiB pages; a store made before those: 16 MiB)
	 * write each page the random inserts dirty once per checkpoint
	 * rather than once per transaction. Both bound memory and disk. */
	sqlite3_exec(de_store_db(ob->store), "PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = " OUTBOX_CKPT_PAGES, NULL, NULL, NULL);
	if ((e = -de_alertdb_init(&ob->adb, de_store_db(ob->store))) > 0) {
		de_why(why, why_len, "preparing statements: %s", de_store_errmsg(ob->store));
		goto fail;
	}
	for (size_t i = 0; i < o->sinks->n; i++) {
		struct worker *w = &ob->w[i];
		char r[200];
		w->ob = ob;
		w->cfg = &o->sinks->v[i];
		w->sink = de_sink_open(w->cfg, r, sizeof(r));
		if (!w->sink) {
			e = errno;
			de_why(why, why_len, "sink %s: %s", w->cfg->name, r);
			goto fail;
		}
		ob->n++;
	}
	for (size_t i = 0; i < ob->n; i++) {
		if ((e = pthread_create(&ob->w[i].thread, NULL, worker_main, &ob->w[i])) != 0) {
			de_why(why, why_len, "starting a delivery thread: %s", strerror(e));
			goto fail;
		}
		ob->w[i].started = true;
	}
	return ob;
fail:
	de_outbox_close(ob);
	errno = e ? e : EIO;
	return NULL;
}

/* Write one alert and a delivery row per sink that wants it, with adb's
 * connection, inside the caller's transaction. Returns 1 (written), 0 (an
 * alert with that id exists) or a negative errno. */
static int queue_one(struct de_outbox *ob, struct de_alertdb *adb, const struct de_alert *a,
		     int64_t t, struct de_buf *b)
{
	int64_t seq = 0;
	int r = de_alertdb_insert(adb, a, &seq);
	if (r <= 0)
		return r;
	for (size_t k = 0; k < ob->n; k++) {
		const struct worker *w = &ob->w[k];
		if (!de_sink_wants(w->cfg, a))
			continue;
		de_buf_reset(b);
		if (!w->sink->plain_json)
			w->sink->ops->render(w->sink, a, b);
		if (b->err)
			return b->err;
		/* no payload: the worker sends alert_t.detail_json */
		if ((r = de_alertdb_queue(adb, w->cfg->name, seq, a->id, b->len ? b->data : NULL, b->len,
					  t)) < 0)
			return r;
	}
	return 1;
}

int de_outbox_attach(struct de_outbox *ob, sqlite3 *db)
{
	if (ob->host.db)
		de_alertdb_fini(&ob->host);
	return de_alertdb_init(&ob->host, db);
}

int de_outbox_queue(struct de_outbox *ob, const struct de_alert *a)
{
	if (!ob->host.db)
		return -EINVAL;
	struct de_buf b = DE_BUF_INIT;
	int r = queue_one(ob, &ob->host, a, now_ns(), &b);
	de_buf_free(&b);
	return r;
}

int de_outbox_add(struct de_outbox *ob, const struct de_alert *const *alerts, size_t n)
{
	struct de_buf b = DE_BUF_INIT;
	sqlite3 *db = de_store_db(ob->store);
	int added = 0, r = 0;
	pthread_mutex_lock(&ob->lock);
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		r = de_alertdb_errno(rc);
		goto out;
	}
	int64_t t = now_ns();
	for (size_t i = 0; i < n; i++) {
		if ((r = queue_one(ob, &ob->adb, alerts[i], t, &b)) < 0)
			goto rollback;
		added += r;
	}
	if ((rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
		r = de_alertdb_errno(rc);
		goto rollback;
	}
	ob->gen++;
	pthread_cond_broadcast(&ob->cond);
	r = added;
	goto out;
rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	pthread_mutex_unlock(&ob->lock);
	de_buf_free(&b);
	return r;
}

void de_outbox_kick(struct de_outbox *ob)
{
	pthread_mutex_lock(&ob->lock);
	ob->gen++;
	pthread_cond_broadcast(&ob->cond);
	pthread_mutex_unlock(&ob->lock);
}

int64_t de_outbox_pending(struct de_outbox *ob)
{
	pthread_mutex_lock(&ob->lock);
	sqlite3_stmt *st = NULL;
	int64_t v = -EIO;
	if (sqlite3_prepare_v2(de_store_db(ob->store),
			       "SELECT count(*) FROM delivery_t WHERE state = 0", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&ob->lock);
	return v;
}

void de_outbox_close(struct de_outbox *ob)
{
	if (!ob)
		return;
	pthread_mutex_lock(&ob->lock);
	ob->stop = true;
	pthread_cond_broadcast(&ob->cond);
	pthread_mutex_unlock(&ob->lock);
	for (size_t i = 0; i < ob->n; i++) {
		if (ob->w[i].started)
			pthread_join(ob->w[i].thread, NULL);
		de_sink_close(ob->w[i].sink);
	}
	de_alertdb_fini(&ob->adb);
	if (ob->host.db)
		de_alertdb_fini(&ob->host);
	de_store_close(ob->store);
	pthread_cond_destroy(&ob->cond);
	pthread_mutex_destroy(&ob->lock);
	free(ob);
}
