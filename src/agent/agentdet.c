/* agentdet.c: see agentdet.h. */
#include "agentdet.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "engine.h"
#include "fileio.h"
#include "hash.h"
#include "ledger_note.h"
#include "ledger_rec.h"
#include "log.h"
#include "outbox.h"
#include "rulepack.h"
#include "sinkcfg.h"
#include "statedir.h"

/* The sink when the configuration names none. */
static const char default_sinks[] = "alerting:\n"
				    "  sinks:\n"
				    "    - name: terminal\n"
				    "      type: stdout\n";

struct pending {
	char id[64];
	char *json;
	size_t len;
};

struct de_agentdet {
	struct de_agentdet_opts o;
	struct de_sinks_cfg sinks;
	struct de_outbox *ob;
	struct de_engine *eng;       /* NULL: detection off */
	char overrides[4096];
	char hostname[256];
	char host_id[40];            /* /etc/machine-id, "" when unknown */
	bool kick_after_commit;      /* a checkpoint joined the agent's open transaction */
	const char *dirs[3];
	uint64_t alerts;
	/* alerts of the evaluation in progress, for the ledger after commit */
	struct pending *pend;
	size_t n_pend, cap_pend;
};

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int write_alert(const struct de_alert *a, void *ud)
{
	struct de_agentdet *d = ud;
	return de_outbox_queue(d->ob, a);
}

/* Keep the alert's JSON until its transaction commits. */
static void on_alert(const struct de_alert *a, void *ud)
{
	struct de_agentdet *d = ud;
	d->alerts++;
	if (!d->o.ledger_fn)
		return;
	if (d->n_pend == d->cap_pend) {
		size_t nc = d->cap_pend ? 2 * d->cap_pend : 16;
		struct pending *np = realloc(d->pend, nc * sizeof(*np));
		if (!np) {
			log_warning("agent: out of memory: alert %s not handed to the ledger", a->id);
			return;
		}
		d->pend = np;
		d->cap_pend = nc;
	}
	struct de_buf b = DE_BUF_INIT;
	de_alert_json(&b, a);
	if (b.err) {
		de_buf_free(&b);
		log_warning("agent: out of memory: alert %s not handed to the ledger", a->id);
		return;
	}
	struct pending *p = &d->pend[d->n_pend++];
	snprintf(p->id, sizeof(p->id), "%s", a->id);
	p->len = b.len;
	p->json = de_buf_steal(&b);
}

/* After an evaluation: hand the committed alerts on (or drop them when
 * the evaluation failed: they were rolled back and come again). */
static void flush_pending(struct de_agentdet *d, bool committed)
{
	for (size_t i = 0; i < d->n_pend; i++) {
		if (committed)
			d->o.ledger_fn(DE_LREC_ALERT, d->pend[i].id, d->pend[i].json, d->pend[i].len,
				       d->o.ud);
		free(d->pend[i].json);
	}
	d->n_pend = 0;
}

static int open_engine(struct de_agentdet *d, char *why, size_t why_len)
{
	struct de_engine_opts eo = {
		.store = d->o.store,
		.store_path = d->o.store_path,
		.rules = { .dirs = d->dirs, .overrides = d->overrides },
		.on_alert = on_alert,
		.write_alert = write_alert,
		.hostname = d->hostname[0] ? d->hostname : NULL,
		.host_id = d->host_id[0] ? d->host_id : NULL,
		.ud = d,
	};
	return de_engine_open(&eo, &d->eng, why, why_len);
}

/* The host's identity for alerts: its name, and /etc/machine-id (the
 * systemd machine id: 32 lowercase hex, stable across reboots). */
static void host_identity(struct de_agentdet *d)
{
	if (gethostname(d->hostname, sizeof(d->hostname) - 1) < 0)
		d->hostname[0] = 0;
	char buf[64];
	ssize_t n = de_read_file_at(AT_FDCWD, "/etc/machine-id", buf, sizeof(buf));
	size_t k = n >= 32 ? strspn(buf, "0123456789abcdef") : 0;
	if (k == 32 && (buf[32] == '\n' || buf[32] == 0)) {
		memcpy(d->host_id, buf, 32);
		d->host_id[32] = 0;
	} else {
		log_warning("agent: /etc/machine-id is missing or malformed: alerts carry no host id");
	}
}

int de_agentdet_open(const struct de_agentdet_opts *o, struct de_agentdet **out, char *why,
		     size_t why_len)
{
	struct de_agentdet *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->o = *o;
	host_identity(d);
	char err[1024];
	int r = de_sinks_cfg_load_default(&d->sinks, o->config_file, err, sizeof(err));
	if (r == 0 && d->sinks.n == 0)
		r = de_sinks_cfg_parse(&d->sinks, "built-in default", default_sinks,
				       sizeof(default_sinks) - 1, err, sizeof(err));
	if (r < 0) {
		snprintf(why, why_len, "alert sinks: %s", err);
		free(d);
		return r;
	}
	struct de_outbox_opts oo = { .store_path = o->store_path, .sinks = &d->sinks };
	d->ob = de_outbox_open(&oo, err, sizeof(err));
	if (!d->ob) {
		r = -errno;
		snprintf(why, why_len, "alert delivery: %s", err);
		de_sinks_cfg_free(&d->sinks);
		free(d);
		return r ? r : -EIO;
	}
	if ((r = de_outbox_attach(d->ob, de_store_db(o->store))) < 0) {
		snprintf(why, why_len, "alert delivery: preparing the store: %s", strerror(-r));
		de_agentdet_close(d);
		return r;
	}
	de_state_path(o->state_dir, DE_STATE_RULES_STATE, d->overrides, sizeof(d->overrides));
	size_t nd = 0;
	d->dirs[nd++] = DE_RULES_SYSTEM_DIR;
	if (o->rules_dir)
		d->dirs[nd++] = o->rules_dir;
	d->dirs[nd] = NULL;
	r = open_engine(d, err, sizeof(err));
	if (r < 0) {
		d->eng = NULL;
		log_error("agent: DETECTION IS OFF: the rules did not load: %s (fix the file, then "
			  "'daemoneye rules reload')",
			  err);
	} else {
		log_info("agent: %zu detection rules loaded; alerts go to %zu sink%s",
			 de_engine_rule_count(d->eng), d->sinks.n, d->sinks.n == 1 ? "" : "s");
	}
	*out = d;
	return 0;
}

void de_agentdet_close(struct de_agentdet *d)
{
	if (!d)
		return;
	de_engine_close(d->eng);
	flush_pending(d, false);
	free(d->pend);
	de_outbox_close(d->ob);
	de_sinks_cfg_free(&d->sinks);
	free(d);
}

int de_agentdet_on_commit(struct de_agentdet *d, int64_t last_event_id)
{
	if (d->kick_after_commit) {
		d->kick_after_commit = false;
		de_outbox_kick(d->ob);
	}
	if (!d->eng)
		return 0;
	int r = de_engine_on_commit(d->eng, last_event_id);
	flush_pending(d, r >= 0);
	if (r < 0)
		de_log_errno(DE_LOG_WARNING, r, "agent: rule evaluation (the window is evaluated again)");
	else if (r > 0)
		de_outbox_kick(d->ob);
	return r;
}

int de_agentdet_timeout_ms(const struct de_agentdet *d)
{
	if (!d->eng)
		return -1;
	int64_t due = de_engine_next_due(d->eng);
	if (due == INT64_MAX)
		return -1;
	int64_t left = (due - realtime_ns()) / 1000000;
	return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

int de_agentdet_tick(struct de_agentdet *d)
{
	if (!d->eng)
		return 0;
	int r = de_engine_tick(d->eng, realtime_ns());
	flush_pending(d, r >= 0);
	if (r < 0)
		de_log_errno(DE_LOG_WARNING, r, "agent: scheduled rules");
	else if (r > 0)
		de_outbox_kick(d->ob);
	return r;
}

int de_agentdet_reload(struct de_agentdet *d)
{
	char why[1024];
	int r;
	if (!d->eng) {
		r = open_engine(d, why, sizeof(why));
		if (r < 0) {
			d->eng = NULL;
			log_error("agent: reload: DETECTION IS STILL OFF: %s", why);
			return r;
		}
		r = (int)de_engine_rule_count(d->eng);
	} else {
		r = de_engine_reload(d->eng, why, sizeof(why));
		if (r < 0) {
			log_error("agent: reload refused, the running rules stay: %s", why);
			return r;
		}
	}
	log_info("agent: reload: %d detection rules running", r);
	de_agentdet_announce(d);
	return r;
}

void de_agentdet_announce(struct de_agentdet *d)
{
	if (!d->o.ledger_fn)
		return;
	/* BLAKE3 over every enabled rule's id and SQL, in load order */
	size_t n = d->eng ? de_engine_rule_count(d->eng) : 0, enabled = 0;
	struct de_buf all = DE_BUF_INIT, out = DE_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		struct de_engine_rule_info ri;
		de_engine_rule_info(d->eng, i, &ri);
		if (!ri.enabled)
			continue;
		enabled++;
		de_buf_printf(&all, "%s%c%s%c", ri.rule->id, 0, ri.rule->sql ? ri.rule->sql : "", 0);
	}
	uint8_t h[32];
	char hex[65];
	de_blake3(all.data ? all.data : "", all.len, h, sizeof(h));
	de_hex(h, sizeof(h), hex);
	de_buf_printf(&out, "{\"detection\":%s,\"rules\":%zu,\"enabled\":%zu,\"blake3\":\"%s\"}",
		      d->eng ? "true" : "false", n, enabled, hex);
	if (!out.err && !all.err)
		d->o.ledger_fn(DE_LREC_RULESET, "rules", out.data, out.len, d->o.ud);
	de_buf_free(&all);
	de_buf_free(&out);
}

void de_agentdet_stats(struct de_agentdet *d, struct de_agentdet_stats *st)
{
	st->rules = d->eng ? de_engine_rule_count(d->eng) : 0;
	st->alerts = d->alerts;
	st->pending = de_outbox_pending(d->ob);
}

int de_agentdet_checkpoint(struct de_agentdet *d, const char *note)
{
	struct de_checkpoint cp;
	size_t len = 0;
	char why[256];
	int r = de_checkpoint_parse(note, strlen(note), &cp, &len, why, sizeof(why));
	if (r < 0) {
		log_warning("agent: procmond sent a checkpoint that does not parse: %s", why);
		return r;
	}
	char text[DE_NOTE_MAX + 1], key[64];
	memcpy(text, note, len);
	text[len] = 0;
	snprintf(key, sizeof(key), "tree_size=%" PRIu64, cp.size);
	struct de_alert a = {
		.time_ns = realtime_ns(),
		.rule_id = DE_ALERT_CHECKPOINT_RULE,
		.rule_name = "Audit ledger checkpoint",
		.severity = DE_SEV_INFO,
		.hostname = d->hostname[0] ? d->hostname : NULL,
		.host_id = d->host_id[0] ? d->host_id : NULL,
		.dedup_key = key,
		.checkpoint = text,
	};
	de_alert_content_id(text, len, a.id);
	sqlite3 *db = de_store_db(d->o.store);
	bool own = sqlite3_get_autocommit(db) != 0;
	if (own && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		log_warning("agent: checkpoint of tree size %" PRIu64 " not queued: %s", cp.size,
			    sqlite3_errmsg(db));
		return -EIO;
	}
	r = de_outbox_queue(d->ob, &a);
	if (own) {
		if (r >= 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			r = -EIO;
		if (r < 0)
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		else if (r > 0)
			de_outbox_kick(d->ob);
	} else if (r > 0) {
		d->kick_after_commit = true;
	}
	if (r < 0)
		de_log_errno(DE_LOG_WARNING, r, "agent: checkpoint of tree size %" PRIu64 " not queued",
			     cp.size);
	return r;
}
