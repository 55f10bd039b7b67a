/* sinkcfg.h: the `alerting:` section of the configuration file (alert
 * sinks and their delivery policy).
 *
 * The flat key table of config.h cannot hold a list of objects, so this
 * section is parsed here, from the same YAML file, with yamlread.h (events
 * with positions, anchors/aliases/tags refused); config.c skips the
 * section. Every error is one line, "FILE:LINE:COL: reason". Unknown keys,
 * a key that does not belong to the sink's type, duplicate keys or sink
 * names, and missing required keys are errors: a sink that would silently
 * not deliver is worse than a refused file. Layout (docs/CONFIGURATION.md):
 *
 *   alerting:
 *     sinks:
 *       - name: siem             # [A-Za-z0-9_.-]{1,63}, unique
 *         type: syslog           # stdout | file | syslog | webhook | exec
 *         min_severity: medium   # alerts below are not queued for this sink
 *         rate_limit: 100        # alerts/s (0: unlimited); excess waits, never dropped
 *         checkpoints: true      # also publish the audit ledger's signed
 *                                # checkpoints (default: every type but stdout)
 *         ...                    # the type's own keys, retry policy keys
 */
#ifndef DE_SINKCFG_H
#define DE_SINKCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alertfmt.h"
#include "rules.h"

#define DE_SINK_NAME_MAX 64
#define DE_SINK_MAX 32
#define DE_SINK_MAX_LIST 32

enum de_sink_type { DE_SINK_STDOUT = 1, DE_SINK_FILE, DE_SINK_SYSLOG, DE_SINK_WEBHOOK, DE_SINK_EXEC };
enum de_stdout_fmt { DE_STDOUT_AUTO = 0, DE_STDOUT_HUMAN, DE_STDOUT_JSON };
enum de_fsync_policy { DE_FSYNC_BATCH = 0, DE_FSYNC_NONE, DE_FSYNC_ALWAYS };
enum de_syslog_proto { DE_SYSLOG_UDP = 1, DE_SYSLOG_TCP, DE_SYSLOG_TLS, DE_SYSLOG_UNIX };

struct de_sink_cfg {
	char name[DE_SINK_NAME_MAX];
	enum de_sink_type type;
	unsigned line;               /* 1-based line of the sink in the file */
	enum de_severity min_severity;
	int checkpoints;             /* publish audit checkpoints: 1, 0, -1 default
				      * (every type but stdout) */
	uint32_t rate_limit;         /* alerts per second, 0: unlimited */
	uint32_t burst;              /* token bucket size (default: rate_limit) */
	/* delivery policy */
	uint32_t max_attempts;       /* dead-letter after this many failures (default 10) */
	uint32_t retry_base_ms;      /* first backoff (default 500) */
	uint32_t retry_max_ms;       /* backoff cap (default 300000) */
	uint32_t breaker_failures;   /* consecutive failures that open the breaker (default 5) */
	uint32_t breaker_cooldown_ms;/* open time before a half-open probe (default 30000) */
	uint32_t timeout_ms;         /* network/exec timeout (default 5000) */
	/* stdout */
	enum de_stdout_fmt stdout_format;
	/* file */
	char *path;
	uint64_t max_bytes;          /* rotate beyond this size (default 100 MiB, 0: never) */
	uint32_t keep;               /* rotated files kept (default 5) */
	enum de_fsync_policy fsync;
	/* syslog */
	char *address;               /* host:port, [v6]:port, or a socket path for unix */
	enum de_syslog_proto protocol;
	enum de_alert_format format; /* message body: json (default), cef, leef */
	int facility;                /* 0-23, default 13 (log audit) */
	char *ca_file;               /* tls/webhook: CA bundle (default: system store) */
	char *server_name;           /* tls: name to verify (default: the address host) */
	/* webhook */
	char *url;
	char *headers[DE_SINK_MAX_LIST]; /* "Name: value" */
	unsigned n_headers;
	char *token_file, *token_env;
	bool tls_verify;             /* default true */
	/* exec */
	char *argv[DE_SINK_MAX_LIST + 1]; /* NULL-terminated */
	unsigned n_argv;
};

struct de_sinks_cfg {
	struct de_sink_cfg v[DE_SINK_MAX];
	size_t n;
};

/* Parse the alerting section of one YAML document (other top-level keys
 * are ignored: config.c owns them). A document without `alerting` gives
 * zero sinks. Returns 0, or -EINVAL with "NAME:LINE:COL: reason" in err,
 * or -ENOMEM. On failure out holds nothing to free. */
int de_sinks_cfg_parse(struct de_sinks_cfg *out, const char *name, const void *data, size_t len,
		       char *err, size_t errlen);
/* Read the file (capped like the configuration) and parse it. */
int de_sinks_cfg_load(struct de_sinks_cfg *out, const char *path, char *err, size_t errlen);
/* The sinks of this invocation: from `explicit` (--config FILE) when
 * given, else from the user's file ($XDG_CONFIG_HOME/daemoneye/
 * daemoneye.yaml) when it exists and has an alerting section, else from
 * /etc/daemoneye/daemoneye.yaml when it exists; none otherwise. */
int de_sinks_cfg_load_default(struct de_sinks_cfg *out, const char *explicit, char *err,
			      size_t errlen);
void de_sinks_cfg_free(struct de_sinks_cfg *c);
/* The sink named `name`, or NULL. */
const struct de_sink_cfg *de_sinks_cfg_find(const struct de_sinks_cfg *c, const char *name);

const char *de_sink_type_name(enum de_sink_type t);

/* Does sink c take alert a? Alerts: severity >= min_severity; audit
 * checkpoints (a->checkpoint): the sink's `checkpoints` setting, whatever
 * min_severity says. */
bool de_sink_wants(const struct de_sink_cfg *c, const struct de_alert *a);

#endif
