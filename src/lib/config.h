/* config.h: the effective configuration and where each value came from.
 *
 * Layers, lowest to highest precedence:
 *   1. built-in defaults (compiled in; no file is needed to run)
 *   2. /etc/daemoneye/daemoneye.yaml            (skipped when absent)
 *   3. $XDG_CONFIG_HOME/daemoneye/daemoneye.yaml (or ~/.config/...; skipped when absent)
 *   4. DAEMONEYE_* environment variables (DAEMONEYE_COLLECTOR_ARGV_MAX_BYTES
 *      for collector.argv_max_bytes: the dotted key upper-cased, '.' -> '_')
 *   5. command-line flags (`--set KEY=VALUE`, and subcommand flags)
 * An explicit `--config FILE` replaces layers 2 and 3 with that one file.
 *
 * Every key is described once in a schema table (name, type, range,
 * default, help) in config.c; loading, `config show` and the docs all come
 * from that table. A file with an unknown key, a wrong type, an
 * out-of-range value or a YAML syntax error is rejected as a whole with
 * "file:line:column: reason"; nothing is half-applied.
 */
#ifndef DE_CONFIG_H
#define DE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

enum de_source_choice {
	DE_SOURCE_AUTO = 0,
	DE_SOURCE_EBPF,
	DE_SOURCE_NETLINK,
	DE_SOURCE_PROC,
};

#define DE_CONFIG_MAX_PATTERNS 32
#define DE_CONFIG_PATTERN_MAX 64

/* Where one key's value came from. `text` is what `config show` prints:
 * "default", "FILE:LINE:COL" (1-based, the position of the value),
 * "env DAEMONEYE_X" or "flag --set" (or the label given to de_config_set).
 * The file name is stored raw; printers escape it. */
enum de_config_origin_kind {
	DE_ORIGIN_DEFAULT = 0,
	DE_ORIGIN_FILE,
	DE_ORIGIN_ENV,
	DE_ORIGIN_FLAG,
};

#define DE_CONFIG_ORIGIN_MAX (PATH_MAX + 48)

struct de_config_origin {
	enum de_config_origin_kind kind;
	char text[DE_CONFIG_ORIGIN_MAX];
};

/* A configuration file larger than this is rejected unread. */
#define DE_CONFIG_MAX_FILE_BYTES (1024 * 1024)

struct de_config {
	enum de_log_level log_level;        /* log.level */
	char state_dir[PATH_MAX];           /* state_dir ("" = derived at run time) */
	struct {
		enum de_source_choice source;      /* collector.source */
		uint32_t poll_interval_ms;  /* collector.poll_interval_ms */
		uint32_t argv_max_bytes;    /* collector.argv_max_bytes */
		bool capture_env;           /* collector.capture_env */
		uint32_t env_max_bytes;     /* collector.env_max_bytes */
		/* collector.redact_env: glob patterns (fnmatch, case-insensitive) of
		 * environment variable names whose values are replaced by
		 * "[REDACTED]". */
		unsigned n_redact_env;
		char redact_env[DE_CONFIG_MAX_PATTERNS][DE_CONFIG_PATTERN_MAX];
		uint32_t resync_interval_s; /* collector.resync_interval_s (0: only after drops) */
		uint32_t ring_buffer_bytes; /* collector.ring_buffer_bytes (eBPF) */
		uint32_t max_exited;        /* collector.max_exited */
		bool pin_snapshot;  /* collector.pin_snapshot */
	} collector;
	struct {
		uint64_t max_file_bytes;    /* hashing.max_file_bytes */
		uint32_t cache_entries;     /* hashing.cache_entries */
		bool enabled;               /* hashing.enabled */
		uint64_t inline_max_bytes;  /* hashing.inline_max_bytes */
	} hashing;

	/* Provenance, one per schema key, in schema order (see config.c). */
	struct de_config_origin *origins;
	unsigned n_origins;
};

/* What the caller asks to load on top of the defaults. */
struct de_config_request {
	const char *explicit_file;       /* --config FILE, or NULL */
	const char *const *overrides;    /* "key=value" from flags, in order */
	unsigned n_overrides;
	bool skip_files;                 /* load no file at all (tests) */
	bool skip_env;                   /* ignore DAEMONEYE_* (tests) */
};

/* Fill `cfg` with the defaults only. Returns 0 or -ENOMEM. */
int de_config_init(struct de_config *cfg);
void de_config_free(struct de_config *cfg);

/* Build the effective configuration per the layers above. On failure
 * returns a negative errno and writes one human-readable line
 * ("FILE:LINE:COL: reason" for file errors, "DAEMONEYE_X: reason" for
 * environment, "--set key: reason" for flags) into err.
 * A NULL req means every layer and no flags.
 * `cfg` must have been set up by de_config_init() (or be zero-filled): on
 * success its previous content is freed and replaced, starting again from
 * the defaults; on failure it is left exactly as it was. */
int de_config_load(struct de_config *cfg, const struct de_config_request *req,
		   char *err, size_t errlen);

/* Apply one YAML document held in memory on top of `cfg` (the file layer;
 * de_config_load reads files through it). `name` is used in messages and
 * origins. All or nothing: on failure `cfg` is unchanged. Returns 0 or a
 * negative errno (-EINVAL for any content error, -EFBIG when len exceeds
 * DE_CONFIG_MAX_FILE_BYTES, -ENOMEM). */
int de_config_load_buffer(struct de_config *cfg, const char *name, const void *data, size_t len,
			  char *err, size_t errlen);

/* Read the YAML file `path` and apply it on top of `cfg` like
 * de_config_load_buffer. A missing file is an error here (-ENOENT, with a
 * message), as is one that is not a regular file or cannot be read. */
int de_config_load_file(struct de_config *cfg, const char *path, char *err, size_t errlen);

/* Set one key from its text form (as for --set / the environment: lists
 * are comma-separated) and record `origin` (e.g. "flag --source") as its
 * provenance, with kind DE_ORIGIN_FLAG. On failure writes "KEY: reason"
 * ("KEY: unknown key" for a key not in the schema) into err and leaves
 * `cfg` unchanged. */
int de_config_set(struct de_config *cfg, const char *key, const char *value, const char *origin,
		  char *err, size_t errlen);

/* Provenance of `key` ("default", "FILE:LINE:COL", ...), or NULL for a key
 * that is not in the schema. */
const char *de_config_origin_of(const struct de_config *cfg, const char *key);

/* Validate one YAML file on its own (`config check`): same rules as loading. */
int de_config_check_file(const char *path, char *err, size_t errlen);

/* Print "key = value  # origin" lines, or one JSON object with
 * {"key": {"value": ..., "origin": "..."}} when json is true. */
int de_config_print(const struct de_config *cfg, FILE *out, bool json);

/* Describe every key (type, range, default, environment variable, help),
 * as text or as one JSON array. Returns 0 or a negative errno. */
int de_config_print_keys(FILE *out, bool json);

const char *de_source_name(enum de_source_choice s);

#endif
