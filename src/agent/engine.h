/* engine.h: the rule engine: detection rules evaluated over the event
 * store, matches turned into alerts.
 *
 * Two kinds of rules (rules.h):
 *   - incremental (no `schedule`): run after each committed batch over
 *     `new_process_events`, whose window (de_window_lo, de_window_hi] the
 *     engine sets to the event ids not yet evaluated. One watermark serves
 *     every incremental rule, so each rule sees each event exactly once;
 *     it is kept in the store (meta `engine.watermark`) in the same
 *     transaction as the alerts it produced, so a restart neither repeats
 *     nor skips a window. A rule added by a reload starts at the current
 *     watermark. Big backlogs are cut into windows of at most
 *     DE_ENGINE_WINDOW_MAX events so one evaluation stays within budget.
 *   - scheduled (`schedule: 60s`): run from de_engine_tick() every period
 *     over the whole store (aggregates, time windows); the window covers
 *     every event.
 *
 * Every result row is a match about the process in its `entity_id`
 * column. A match becomes an alert once per (rule, entity, dedup key)
 * within the rule's dedup window (`window`, default 1h): the alert is
 * written to the store's alerts table with the full alert model
 * (alertfmt.h: UUID, process, parent, grandparent, hashes, container id,
 * MITRE ids; its JSON in alert_t.detail_json) and handed to the callback.
 *
 * Safety: rules run on their own read-only guarded connection
 * (sqlguard.h) under a per-evaluation time budget; a rule that exceeds it
 * is disabled until the next reload and an engine alert (rule id
 * DE_ENGINE_RULE_DISABLED) says which and why; the other rules go on. A
 * rule whose run fails otherwise is counted and logged once per reload.
 *
 * Reload is atomic: the new rule set is loaded and validated completely
 * (built-in pack, directories, enable/disable overrides) before it
 * replaces the running one; any error leaves the running set untouched.
 *
 * Threads: the owner calls everything from one thread, between store
 * commits (the engine writes alerts on the store's connection; if a store
 * batch is open, the alerts join it). A window of at least
 * DE_ENGINE_SPLIT_MIN events (a resync snapshot, a backlog) is cut into
 * chunks of consecutive event ids when the engine has two lanes; the
 * owner's thread and a helper thread take chunks as they free up, each
 * on its own rule connection, and the helper hands its matches back
 * through a bounded queue; alerts, dedup and the store are only ever
 * touched by the owner's thread. A chunk is a window like any other: a
 * rule sees each event exactly once either way (window boundaries are
 * arbitrary already). The rule connection must see
 * what the store committed, so the store must be a file, not ":memory:".
 */
#ifndef DE_ENGINE_H
#define DE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alertfmt.h"
#include "rulepack.h"
#include "rules.h"
#include "store.h"

#define DE_ENGINE_WINDOW_MAX 50000
#define DE_ENGINE_LANES_MAX 2
/* Smallest window split across lanes: below it a second thread costs
 * more than it saves. */
#define DE_ENGINE_SPLIT_MIN 2048
#define DE_ENGINE_RULE_DISABLED "DE-ENGINE-RULE-DISABLED"

/* Receives each new alert (valid during the call only). */
typedef void (*de_engine_alert_fn)(const struct de_alert *a, void *ud);

struct de_engine_opts {
	struct de_store *store;         /* the agent's store (alerts are written here) */
	const char *store_path;         /* its file, opened read-only for the rules */
	/* Where the rules come from (rulepack.h). The agent passes
	 * { DE_RULES_SYSTEM_DIR, each --rules-dir } as dirs and
	 * STATE/rules.state (statedir.h) as overrides, like `daemoneye rules`. */
	struct de_rulepack_src rules;
	uint32_t budget_ms;             /* per rule evaluation; 0: DE_SQLGUARD_DEFAULT_BUDGET_MS */
	uint64_t max_rows;              /* per evaluation; 0: 10,000 */
	const char *hostname, *host_id; /* for alerts; NULL: gethostname(), none */
	de_engine_alert_fn on_alert;    /* may be NULL */
	/* Writes an alert instead of the engine's own INSERT into alert_t (the
	 * agent: the outbox's rows, de_outbox_queue), on the store's
	 * connection inside the engine's transaction. Returns >= 0 or a
	 * negative errno (the window is evaluated again). May be NULL. */
	int (*write_alert)(const struct de_alert *a, void *ud);
	void *ud;
	/* Rule connections (lanes) a big window is split across, each
	 * evaluating every incremental rule over its share of the rows on its
	 * own thread: 0 = 2 when the process may run on more than one CPU
	 * (sched_getaffinity: taskset and cpusets count), else 1;
	 * at most DE_ENGINE_LANES_MAX. */
	unsigned lanes;
};

struct de_engine;

/* Load and validate the rules, open the rule connection. The strings in
 * o must outlive the engine. Returns 0 and *out, or a negative errno and
 * the reason ("FILE:LINE: rule ID: ...") in why. */
int de_engine_open(const struct de_engine_opts *o, struct de_engine **out, char *why,
		   size_t why_len);
void de_engine_close(struct de_engine *e);

/* The store committed events up to last_event_id: run every enabled
 * incremental rule over the events after the watermark. Returns the
 * number of new alerts, or a negative errno (store write failure; the
 * watermark does not move and the window is evaluated again next time). */
int de_engine_on_commit(struct de_engine *e, int64_t last_event_id);

/* Run the scheduled rules that are due at now_ns (CLOCK_REALTIME ns).
 * Returns the number of new alerts or a negative errno. */
int de_engine_tick(struct de_engine *e, int64_t now_ns);
/* When the next scheduled rule is due (ns), or INT64_MAX when none is. */
int64_t de_engine_next_due(const struct de_engine *e);

/* Load the rules again (same sources); on success they replace the
 * running set at once, on failure the running set stays and why says
 * what was wrong. Returns the number of rules loaded or a negative errno. */
int de_engine_reload(struct de_engine *e, char *why, size_t why_len);

/* One rule as it runs, for status output. */
struct de_engine_rule_info {
	const struct de_rule *rule;
	bool enabled;              /* enabled now (file, override, not disabled by the engine) */
	const char *disabled_why;  /* "disabled in the rule file", "time budget ...", or NULL */
	uint64_t runs, matches, alerts, errors;
	uint64_t total_us, max_us; /* evaluation time */
};
size_t de_engine_rule_count(const struct de_engine *e);
void de_engine_rule_info(const struct de_engine *e, size_t i, struct de_engine_rule_info *out);
int64_t de_engine_watermark(const struct de_engine *e);
/* How many lanes a big window is split across (opts.lanes resolved). */
unsigned de_engine_lanes(const struct de_engine *e);

#endif
