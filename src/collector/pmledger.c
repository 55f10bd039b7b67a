/* pmledger.c: procmond's audit ledger (see pmledger.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "de_build.h"
#include "log.h"
#include "macros.h"
#include "pmledger.h"
#include "statedir.h"

bool de_pmledger_active(const struct de_pmledger *pl)
{
	return pl->l && !pl->err;
}

/* Keep the first error of an append or tick, logged once. */
static int note(struct de_pmledger *pl, int r, const char *what)
{
	if (r >= 0) {
		pl->appended++;
		return r;
	}
	if (!pl->err) {
		pl->err = r;
		de_log_errno(DE_LOG_ERROR, r,
			     "procmond: audit ledger: %s failed; nothing is recorded until the "
			     "ledger is reopened (tried every 10 s; reopening repairs)", what);
	}
	return r;
}

/* de_ledger_opts.on_checkpoint: keep the latest note. */
static void on_checkpoint(void *arg, const char *note, size_t len)
{
	struct de_pmledger *pl = arg;
	if (len > DE_IPC_NOTE_MAX) {
		log_warning("procmond: audit ledger: a %zu-byte checkpoint note is too long to publish",
			    len);
		return;
	}
	memcpy(pl->note, note, len);
	pl->note[len] = '\0';
	pl->note_gen++;
}

const char *de_pmledger_note(const struct de_pmledger *pl, uint64_t *gen)
{
	*gen = pl->note_gen;
	return pl->note;
}

static int sec(struct de_pmledger *pl, uint32_t type, const struct de_ledger_sec *s,
	       const char *what)
{
	if (!de_pmledger_active(pl))
		return -ENODEV;
	return note(pl, de_ledger_append_security(pl->l, type, s, NULL), what);
}

/* CONFIG: the BLAKE3 of the effective configuration as `config show`
 * prints it (every key, its value and where the value came from). */
static void record_config(struct de_pmledger *pl, const struct de_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f) {
		de_log_errno(DE_LOG_WARNING, de_neg_errno(), "procmond: audit ledger: configuration");
		return;
	}
	int r = de_config_print(cfg, f, false);
	if (fclose(f) != 0 && r >= 0)
		r = -ENOMEM;
	if (r < 0)
		de_log_errno(DE_LOG_WARNING, r, "procmond: audit ledger: rendering the configuration");
	else
		note(pl, de_ledger_append_content(pl->l, DE_LREC_CONFIG, "effective configuration",
						  text, len, NULL), "recording the configuration");
	free(text);
}

int de_pmledger_open(struct de_pmledger *pl, const char *state_dir, uid_t owner,
		     const struct de_config *cfg)
{
	memset(pl, 0, sizeof(*pl));
	snprintf(pl->state_dir, sizeof(pl->state_dir), "%s", state_dir);
	char keys[4096];
	int r = de_state_path(state_dir, DE_STATE_KEYS_DIR, keys, sizeof(keys));
	if (r < 0) {
		de_why(pl->why, sizeof(pl->why), "%s: path too long", state_dir);
		goto fail;
	}
	bool created = false;
	pl->key = de_ledger_key_load(keys, true, &created);
	if (!pl->key) {
		r = de_neg_errno();
		de_why(pl->why, sizeof(pl->why), "signing key in %s: %s", keys, strerror(-r));
		goto fail;
	}
	if (created)
		log_info("procmond: audit ledger: generated a new signing key in %s", keys);
	struct de_ledger_opts lo = { .component = "procmond", .set_owner = true, .owner = owner,
				     .on_checkpoint = on_checkpoint, .arg = pl };
	char why[512];
	pl->l = de_ledger_open(state_dir, pl->key, &lo, why, sizeof(why));
	if (!pl->l) {
		r = de_neg_errno();
		de_why(pl->why, sizeof(pl->why), "%s", why);
		goto fail;
	}
	/* START and CONFIG wait for de_pmledger_privdrop: anything appended
	 * as root now would create node store files that are root's. */
	pl->cfg = cfg;
	return 0;
fail:
	pl->open_err = r < 0 ? r : -EIO;
	de_ledger_key_free(pl->key);
	pl->key = NULL;
	log_error("procmond: AUDIT LEDGER NOT OPEN, running without one (nothing is recorded): %s",
		  pl->why);
	return r;
}

void de_pmledger_privdrop(struct de_pmledger *pl, int r, const struct de_privdrop_result *who,
			  const char *why)
{
	if (!de_pmledger_active(pl))
		return;
	char detail[128];
	snprintf(detail, sizeof(detail), "pid %d, version %s", (int)getpid(), DE_VERSION);
	sec(pl, DE_LREC_START, &(struct de_ledger_sec){ .component = "procmond", .detail = detail },
	    "recording the start");
	if (pl->cfg)
		record_config(pl, pl->cfg);
	pl->cfg = NULL;
	struct de_buf d = DE_BUF_INIT;
	if (r < 0) {
		de_buf_printf(&d, "failed: %s", why ? why : strerror(-r));
	} else {
		de_buf_printf(&d, "user %s%s, capabilities ", who->user,
			      who->fell_back ? " (fallback)" : "");
		de_caps_format(who->caps, &d);
		de_buf_printf(&d, ", seccomp on%s", who->changed_ids ? "" : ", ids unchanged (not root)");
	}
	struct de_ledger_sec s = { .component = "procmond", .detail = d.err ? NULL : de_buf_str(&d),
				   .has_result = true, .result = r, .has_ids = r >= 0,
				   .uid = (uint32_t)who->uid, .gid = (uint32_t)who->gid };
	sec(pl, DE_LREC_PRIVDROP, &s, "recording the privilege drop");
	de_buf_free(&d);
}

void de_pmledger_drops(struct de_pmledger *pl, const char *source, uint64_t count,
		       const char *detail)
{
	struct de_ledger_sec s = { .component = "procmond", .source = source, .detail = detail,
				   .has_count = true, .count = count };
	sec(pl, DE_LREC_DROPS, &s, "recording drops");
}

void de_pmledger_event(struct de_pmledger *pl, const struct de_event *ev)
{
	if (!de_pmledger_active(pl))
		return;
	switch (ev->type) {
	case DE_EV_EXEC:
	case DE_EV_FORK:
	case DE_EV_EXIT:
		note(pl, de_ledger_append_event(pl->l, ev, NULL), "recording an event");
		return;
	case DE_EV_STATUS:
		break;
	default:
		return;
	}
	const char *src = de_event_source_name(ev->source);
	if (ev->status == DE_ST_STARTED || ev->status == DE_ST_DEGRADED) {
		struct de_ledger_sec s = { .component = "collector", .source = src,
					   .detail = ev->detail };
		sec(pl, DE_LREC_SOURCE, &s, "recording the event source");
	} else if (ev->status == DE_ST_DROPS) {
		uint64_t total = 0;
		for (int k = 0; k < DE_EV__COUNT; k++)
			total += ev->drops[k];
		struct de_ledger_sec s = { .component = "collector", .source = src,
					   .detail = ev->detail, .has_count = true, .count = total };
		sec(pl, DE_LREC_DROPS, &s, "recording drops");
	}
}

int de_pmledger_agent_append(struct de_pmledger *pl, const struct de_ipc_ledger_append *a)
{
	if (a->type != DE_LREC_ALERT && a->type != DE_LREC_RULESET)
		return -EPERM;
	if (!de_pmledger_active(pl))
		return -ENODEV;
	int r;
	if (a->type == DE_LREC_ALERT)
		r = de_ledger_append(pl->l, DE_LREC_ALERT, a->payload, a->len, NULL);
	else
		r = de_ledger_append_content(pl->l, DE_LREC_RULESET, a->key ? a->key : "",
					     a->payload, a->len, NULL);
	return note(pl, r, a->type == DE_LREC_ALERT ? "recording an alert" : "recording a rule set");
}

#define RETRY_NS (10LL * 1000000000LL)

int de_pmledger_timeout_ms(const struct de_pmledger *pl)
{
	int64_t now = de_ledger_now();
	if (!pl->l && pl->err && pl->key)
		return now >= pl->retry_ns ? 0 : (int)((pl->retry_ns - now + 999999) / 1000000);
	if (!de_pmledger_active(pl))
		return -1;
	return de_ledger_timeout_ms(pl->l, now);
}

/* After a sticky error: release the ledger (what was appended and not
 * written is lost, the log and status say so) and try again later. */
static void suspend(struct de_pmledger *pl)
{
	const struct de_checkpoint *cp = de_ledger_last_checkpoint(pl->l);
	pl->last_records = de_ledger_size(pl->l);
	pl->last_checkpoint = cp ? cp->size : 0;
	de_ledger_close(pl->l); /* fails like the append did; releases regardless */
	pl->l = NULL;
	pl->retry_ns = de_ledger_now() + RETRY_NS;
}

/* Reopen (as the daemon user, after the drop): the ledger repairs its torn
 * tail and records the repair. */
static void reopen(struct de_pmledger *pl)
{
	struct de_ledger_opts lo = { .component = "procmond", .on_checkpoint = on_checkpoint,
				     .arg = pl };
	char why[512];
	pl->l = de_ledger_open(pl->state_dir, pl->key, &lo, why, sizeof(why));
	if (!pl->l) {
		log_warning("procmond: audit ledger: reopening failed, next try in 10 s: %s", why);
		pl->retry_ns = de_ledger_now() + RETRY_NS;
		return;
	}
	log_info("procmond: audit ledger reopened after %s; recording again", strerror(-pl->err));
	pl->err = 0;
}

void de_pmledger_tick(struct de_pmledger *pl)
{
	if (!pl->l) {
		if (pl->err && pl->key && de_ledger_now() >= pl->retry_ns)
			reopen(pl);
		return;
	}
	if (!pl->err) {
		int r = de_ledger_tick(pl->l, de_ledger_now());
		if (r < 0)
			note(pl, r, "group commit or checkpoint");
	}
	if (pl->err)
		suspend(pl);
}

void de_pmledger_close(struct de_pmledger *pl, const char *detail)
{
	if (pl->l) {
		sec(pl, DE_LREC_STOP, &(struct de_ledger_sec){ .component = "procmond", .detail = detail },
		    "recording the stop");
		struct de_ledger_stats st;
		de_ledger_stats(pl->l, &st);
		log_info("procmond: audit ledger: %" PRIu64 " records, %" PRIu64 " appended by this run, "
			 "%" PRIu64 " bytes, %" PRIu64 " group commits (%.1f ms in fdatasync, on the "
			 "commit thread), %" PRIu64 " checkpoints",
			 de_ledger_size(pl->l), pl->appended, st.bytes, st.commits,
			 (double)st.sync_ns / 1e6, st.checkpoints);
		int r = de_ledger_close(pl->l);
		pl->l = NULL;
		if (r < 0)
			de_log_errno(DE_LOG_ERROR, r, "procmond: audit ledger: closing");
	}
	de_ledger_key_free(pl->key);
	pl->key = NULL;
}

void de_pmledger_status(const struct de_pmledger *pl, struct de_ipc_component *c)
{
	if (!pl->l && pl->err) {
		c->ledger_state = DE_IPC_LEDGER_STOPPED;
		c->ledger_errno = -pl->err;
		c->ledger_records = pl->last_records;
		c->ledger_checkpoint = pl->last_checkpoint;
		return;
	}
	if (!pl->l) {
		c->ledger_state = DE_IPC_LEDGER_NOT_OPEN;
		c->ledger_errno = pl->open_err < 0 ? -pl->open_err : EIO;
		return;
	}
	const struct de_checkpoint *cp = de_ledger_last_checkpoint(pl->l);
	c->ledger_state = pl->err ? DE_IPC_LEDGER_STOPPED : DE_IPC_LEDGER_RECORDING;
	c->ledger_errno = pl->err ? -pl->err : 0;
	c->ledger_records = de_ledger_size(pl->l);
	c->ledger_checkpoint = cp ? cp->size : 0;
}
