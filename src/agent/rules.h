/* rules.h: detection rules, loaded from YAML files and validated by SQLite.
 *
 * A rule file holds one or more YAML documents; each is either one rule
 * (a mapping with `id`) or a mapping with a `rules:` list of rules:
 *
 *   rules:
 *     - id: DE-EXEC-0001
 *       name: Reverse shell through /dev/tcp
 *       description: bash redirecting a socket to its standard streams
 *       severity: high                 # info | low | medium | high | critical
 *       mitre: [T1059.004]
 *       tags: [execution, reverse-shell]
 *       enabled: true                  # default true
 *       author: DaemonEye
 *       references: [https://attack.mitre.org/techniques/T1059/004/]
 *       dedup_key: cmdline             # a result column; default: none
 *       window: 1h                     # dedup window; default 1h
 *       schedule: 60s                  # scheduled over the whole store; default: per batch
 *       sql: |
 *         SELECT entity_id, pid, cmdline FROM new_process_events
 *         WHERE type = 'exec' AND cmdline LIKE '%/dev/tcp/%'
 *
 * Loading is all-or-nothing per rule set: an unknown key, a wrong type, a
 * bad severity, a duplicate key or id, or SQL the guard refuses is an
 * error "FILE:LINE:COL: rule ID: reason", and the caller keeps its previous
 * set. The SQL is validated by compiling it on a guarded connection over
 * the store's schema (sqlguard.h): exactly one read-only SELECT of the
 * published views, returning an `entity_id` column (and the dedup_key
 * column when one is named).
 */
#ifndef DE_RULES_H
#define DE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sqlguard.h"

enum de_severity {
	DE_SEV_INFO = 0,
	DE_SEV_LOW,
	DE_SEV_MEDIUM,
	DE_SEV_HIGH,
	DE_SEV_CRITICAL,
};

const char *de_severity_name(enum de_severity s);
int de_severity_parse(const char *s); /* the severity or -EINVAL */

#define DE_RULE_ID_MAX 64
#define DE_RULE_LIST_MAX 32          /* mitre ids, tags, references */
#define DE_RULE_MAX_PER_SET 4096
#define DE_RULES_MAX_FILE_BYTES (1024 * 1024)

struct de_rule_list {
	char **v;
	size_t n;
};

struct de_rule {
	char *id, *name, *description, *author, *sql, *dedup_key;
	enum de_severity severity;
	struct de_rule_list mitre, tags, references;
	bool enabled;
	uint64_t window_s;    /* dedup window */
	uint64_t schedule_s;  /* 0: incremental, on every batch */
	char *file;           /* where it was defined */
	size_t line;          /* 1-based */
};

struct de_ruleset {
	struct de_rule *rules;
	size_t n, cap;
};

void de_ruleset_free(struct de_ruleset *rs);

/* Parse rules from data[0..len) (name: the file name for messages) and
 * append them to rs. On error rs is left as it was. */
int de_rules_load_buffer(struct de_ruleset *rs, const char *name, const void *data, size_t len,
			 char *err, size_t errlen);
/* The same from a file (regular, at most DE_RULES_MAX_FILE_BYTES). */
int de_rules_load_file(struct de_ruleset *rs, const char *path, char *err, size_t errlen);
/* Every *.yaml and *.yml file of a directory, in name order. A missing
 * directory is not an error when `optional`. */
int de_rules_load_dir(struct de_ruleset *rs, const char *dir, bool optional, char *err,
		      size_t errlen);

/* Check ids are unique across the set and every rule's SQL compiles under
 * the guard (returning entity_id and the dedup_key column). Returns 0 or
 * -EINVAL with "FILE:LINE: rule ID: reason". */
int de_rules_validate(const struct de_ruleset *rs, struct de_sqlguard *g, char *err,
		      size_t errlen);

/* Parse a duration: "90", "90s", "5m", "2h", "1d". Returns 0 or -EINVAL. */
int de_duration_parse(const char *s, uint64_t *seconds);

#endif
