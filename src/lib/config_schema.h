/* config_schema.h: internal to the config module (config.c loads layers,
 * config_schema.c holds the key table, value parsing and printing). Not
 * for other modules: they use config.h.
 *
 * Value parsers work on (pointer, length) text because YAML scalars may
 * hold NUL bytes; they report a reason without the key name ("expected an
 * integer, got 'abc'") and the caller adds where it came from.
 */
#ifndef DE_CONFIG_SCHEMA_H
#define DE_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "yamlread.h"

enum de_cfg_type {
	DE_CFG_ENUM,
	DE_CFG_PATH,
	DE_CFG_UINT,
	DE_CFG_BOOL,
	DE_CFG_LIST,
};

struct de_cfg_key {
	const char *name;          /* dotted: "collector.argv_max_bytes" */
	enum de_cfg_type type;
	size_t offset;             /* of the field in struct de_config */
	size_t size;               /* of the field */
	uint64_t min, max;         /* DE_CFG_UINT */
	bool size_suffix;          /* DE_CFG_UINT: accept a K, M or G suffix */
	const char *const *names;  /* DE_CFG_ENUM: value names, NULL-terminated */
	const char *def;           /* default, in --set syntax */
	const char *help;
};

#define DE_CFG_N_KEYS 16
#define DE_CFG_KEY_NAME_MAX 64
#define DE_CFG_ENV_PREFIX "DAEMONEYE_"
#define DE_CFG_ENV_NAME_MAX (DE_CFG_KEY_NAME_MAX + sizeof(DE_CFG_ENV_PREFIX))

extern const struct de_cfg_key de_cfg_keys[DE_CFG_N_KEYS];

/* Index of the key named s[0..n), or -1. */
int de_cfg_find(const char *s, size_t n);
/* Whether path is a section: a proper dotted prefix of some key name. */
bool de_cfg_is_section(const char *path);
/* "DAEMONEYE_COLLECTOR_ARGV_MAX_BYTES" for collector.argv_max_bytes. */
void de_cfg_env_name(const struct de_cfg_key *k, char *out, size_t outlen);
/* What a key expects, for messages: "an integer", "one of a, b", ... */
const char *de_cfg_expects(const struct de_cfg_key *k, char *out, size_t outlen);

/* Set key k of cfg from its text form (lists comma-separated; "" is the
 * empty list). On failure cfg's field may be partly written (callers work
 * on a copy) and the reason is in why. */
int de_cfg_set_text(struct de_config *cfg, const struct de_cfg_key *k, const char *s, size_t n,
		    char *why, size_t whylen);
/* Append one pattern to the list key (collector.redact_env). */
int de_cfg_list_add(struct de_config *cfg, const char *s, size_t n, char *why, size_t whylen);
void de_cfg_set_origin(struct de_config *cfg, size_t idx, enum de_config_origin_kind kind,
		       const char *fmt, ...) DE_PRINTF(4, 5);

#endif
