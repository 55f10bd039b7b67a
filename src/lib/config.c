/* config.c: building the effective configuration from its layers:
 * defaults, YAML files, DAEMONEYE_* environment and --set flags. The key
 * table, value parsing and printing live in config_schema.c.
 *
 * YAML is read through yamlread.h (events with positions, no tree;
 * anchors, aliases and tags refused); the walker here detects duplicate
 * keys. Scalars are typed by the schema, not by YAML's resolution rules:
 * quoting does not matter, and YAML 1.1 surprises (0755 as octal, "no" as
 * false in a string key) cannot happen. Dotted keys
 * ("collector.argv_max_bytes: 1") are accepted as well as nested mappings.
 * Files are capped at DE_CONFIG_MAX_FILE_BYTES and must be regular files.
 *
 * Every layer is applied to a private copy that replaces the caller's
 * struct only on success, so an error never leaves a half-applied
 * configuration. The price is copying a ~50 KB struct per layer, which is
 * nothing next to reading a file.
 */
#include "config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config_schema.h"
#include "yamlread.h"
#include "de_build.h"
#include "fileio.h"

/* Deep copy of an initialised configuration into dst (uninitialised). */
static int config_copy(struct de_config *dst, const struct de_config *src, char *err,
		       size_t errlen)
{
	if (!src->origins || src->n_origins != DE_CFG_N_KEYS) {
		de_why(err, errlen, "configuration not initialised (de_config_init)");
		return -EINVAL;
	}
	*dst = *src;
	dst->origins = malloc(DE_CFG_N_KEYS * sizeof(*dst->origins));
	if (!dst->origins) {
		de_why(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(dst->origins, src->origins, DE_CFG_N_KEYS * sizeof(*dst->origins));
	return 0;
}

/* Replace *cfg by *tmp, which is consumed. */
static void config_commit(struct de_config *cfg, struct de_config *tmp)
{
	de_config_free(cfg);
	*cfg = *tmp;
	tmp->origins = NULL;
	tmp->n_origins = 0;
}

/* ---- YAML ---------------------------------------------------------------- */

struct walker {
	struct de_yaml y;     /* y.name: raw, for origins */
	struct de_config *cfg;
	uint64_t seen;        /* keys set by this document (duplicates) */
	char sections[DE_CFG_N_KEYS][DE_CFG_KEY_NAME_MAX]; /* sections opened by it */
	unsigned n_sections;
};

#define _cleanup_event_ _cleanup_yaml_event_

#define FAIL_MARK(w, m, ...) DE_YAML_FAIL(&(w)->y, (m), __VA_ARGS__)

/* The value of key k (index idx): a scalar, or a list of scalars. */
static int walk_value(struct walker *w, size_t idx)
{
	const struct de_cfg_key *k = &de_cfg_keys[idx];
	char why[512], q[DE_YAML_QBUF + 2], t[128];
	_cleanup_event_ yaml_event_t v = { 0 };
	int r = de_yaml_next(&w->y, &v);
	if (r < 0)
		return r;
	if (v.type == YAML_SCALAR_EVENT && k->type != DE_CFG_LIST) {
		r = de_cfg_set_text(w->cfg, k, (const char *)v.data.scalar.value, v.data.scalar.length, why,
			     sizeof(why));
		if (r < 0)
			return FAIL_MARK(w, v.start_mark, "%s: %s", k->name, why);
	} else if (v.type == YAML_SEQUENCE_START_EVENT && k->type == DE_CFG_LIST) {
		de_cfg_set_text(w->cfg, k, "", 0, why, sizeof(why)); /* the empty list */
		for (;;) {
			_cleanup_event_ yaml_event_t item = { 0 };
			r = de_yaml_next(&w->y, &item);
			if (r < 0)
				return r;
			if (item.type == YAML_SEQUENCE_END_EVENT)
				break;
			if (item.type != YAML_SCALAR_EVENT)
				return FAIL_MARK(w, item.start_mark, "%s: expected a list of strings, got %s in it",
						 k->name, de_yaml_got(&item, q, sizeof(q)));
			const char *s = (const char *)item.data.scalar.value;
			size_t n = item.data.scalar.length;
			if (memchr(s, '\0', n))
				return FAIL_MARK(w, item.start_mark, "%s: the value contains a NUL byte", k->name);
			r = de_cfg_list_add(w->cfg, s, n, why, sizeof(why));
			if (r < 0)
				return FAIL_MARK(w, item.start_mark, "%s: %s", k->name, why);
		}
	} else {
		return FAIL_MARK(w, v.start_mark, "%s: expected %s, got %s", k->name,
				 de_cfg_expects(k, t, sizeof(t)), de_yaml_got(&v, q, sizeof(q)));
	}
	de_cfg_set_origin(w->cfg, idx, DE_ORIGIN_FILE, "%s:%zu:%zu", w->y.name, v.start_mark.line + 1,
		   v.start_mark.column + 1);
	return 0;
}

static int walk_mapping(struct walker *w, const char *prefix);

/* A section key ("collector"): its value must be a mapping (or empty). */
static int walk_section(struct walker *w, const char *path, const yaml_event_t *key)
{
	for (unsigned i = 0; i < w->n_sections; i++)
		if (strcmp(w->sections[i], path) == 0)
			return FAIL_MARK(w, key->start_mark, "duplicate key '%s'", path);
	if (w->n_sections >= DE_CFG_N_KEYS)
		return FAIL_MARK(w, key->start_mark, "too many sections");
	snprintf(w->sections[w->n_sections++], DE_CFG_KEY_NAME_MAX, "%s", path);

	char q[DE_YAML_QBUF + 2];
	_cleanup_event_ yaml_event_t v = { 0 };
	int r = de_yaml_next(&w->y, &v);
	if (r < 0)
		return r;
	if (v.type == YAML_MAPPING_START_EVENT)
		return walk_mapping(w, path);
	if (de_yaml_is_null(&v))
		return 0;
	return FAIL_MARK(w, v.start_mark, "%s: expected a mapping of %s.* keys, got %s", path, path,
			 de_yaml_got(&v, q, sizeof(q)));
}

/* Keys of a mapping whose paths start with `prefix` ("" at the root); the
 * MAPPING_START event has been consumed. Recursion is bounded by the
 * schema's depth: only sections recurse. */
static int walk_mapping(struct walker *w, const char *prefix)
{
	const char *dot = *prefix ? "." : "";
	for (;;) {
		char q[DE_YAML_QBUF + 2];
		_cleanup_event_ yaml_event_t key = { 0 };
		int r = de_yaml_next(&w->y, &key);
		if (r < 0)
			return r;
		if (key.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (key.type != YAML_SCALAR_EVENT)
			return FAIL_MARK(w, key.start_mark, "mapping keys must be strings, got %s",
					 de_yaml_got(&key, q, sizeof(q)));
		const char *ks = (const char *)key.data.scalar.value;
		size_t kn = key.data.scalar.length;
		char path[DE_CFG_KEY_NAME_MAX];
		int idx = -1;
		bool section = false;
		size_t pn = strlen(prefix), dn = strlen(dot);
		if (pn + dn + kn < sizeof(path) && !memchr(ks, '\0', kn)) {
			memcpy(path, prefix, pn);
			memcpy(path + pn, dot, dn);
			memcpy(path + pn + dn, ks, kn);
			path[pn + dn + kn] = '\0';
			idx = de_cfg_find(path, pn + dn + kn);
			section = idx < 0 && de_cfg_is_section(path);
		}
		if (!*prefix && kn == 8 && memcmp(ks, "alerting", 8) == 0) {
			/* a list of sink objects: parsed by the agent's sinkcfg.c
			 * from the same file, with its own errors */
			_cleanup_event_ yaml_event_t v = { 0 };
			r = de_yaml_next(&w->y, &v);
			if (r >= 0)
				r = de_yaml_skip(&w->y, &v);
		} else if (section) {
			r = walk_section(w, path, &key);
		} else if (idx >= 0) {
			if (w->seen & (UINT64_C(1) << idx))
				return FAIL_MARK(w, key.start_mark, "duplicate key '%s'", path);
			w->seen |= UINT64_C(1) << idx;
			r = walk_value(w, (size_t)idx);
		} else {
			return FAIL_MARK(w, key.start_mark, "unknown key '%s%s%s'", prefix, dot,
					 de_yaml_quote(q, sizeof(q), ks, kn));
		}
		if (r < 0)
			return r;
	}
}

/* The whole stream: nothing, or one document whose root is a mapping. */
static int walk_stream(struct walker *w)
{
	_cleanup_event_ yaml_event_t start = { 0 }, doc = { 0 }, root = { 0 }, end = { 0 },
				       tail = { 0 };
	int r = de_yaml_next(&w->y, &start);
	if (r < 0)
		return r;
	r = de_yaml_next(&w->y, &doc);
	if (r < 0 || doc.type == YAML_STREAM_END_EVENT)
		return r;
	r = de_yaml_next(&w->y, &root);
	if (r < 0)
		return r;
	if (root.type == YAML_MAPPING_START_EVENT)
		r = walk_mapping(w, "");
	else if (!de_yaml_is_null(&root))
		r = FAIL_MARK(w, root.start_mark, "the document root must be a mapping of keys");
	if (r < 0)
		return r;
	r = de_yaml_next(&w->y, &end); /* DOCUMENT_END */
	if (r < 0)
		return r;
	r = de_yaml_next(&w->y, &tail);
	if (r < 0)
		return r;
	if (tail.type != YAML_STREAM_END_EVENT)
		return FAIL_MARK(w, tail.start_mark, "only one YAML document is allowed");
	return 0;
}

int de_config_load_buffer(struct de_config *cfg, const char *name, const void *data, size_t len,
			  char *err, size_t errlen)
{
	if (len > DE_CONFIG_MAX_FILE_BYTES) {
		struct de_buf b = DE_BUF_INIT;
		de_why(err, errlen, "%s: larger than %d bytes", de_yaml_escape(&b, name),
			      DE_CONFIG_MAX_FILE_BYTES);
		de_buf_free(&b);
		return -EFBIG;
	}
	struct de_config tmp;
	int r = config_copy(&tmp, cfg, err, errlen);
	if (r < 0)
		return r;
	struct walker *w = calloc(1, sizeof(*w));
	if (!w || (r = de_yaml_open(&w->y, name, data, len, err, errlen)) < 0) {
		if (!w) {
			struct de_buf b = DE_BUF_INIT;
			de_why(err, errlen, "%s: out of memory", de_yaml_escape(&b, name));
			de_buf_free(&b);
		}
		free(w);
		de_config_free(&tmp);
		return -ENOMEM;
	}
	w->cfg = &tmp;
	r = walk_stream(w);
	de_yaml_close(&w->y);
	free(w);
	if (r < 0) {
		de_config_free(&tmp);
		return r;
	}
	config_commit(cfg, &tmp);
	return 0;
}

static int load_file(struct de_config *cfg, const char *path, bool optional, char *err,
		     size_t errlen)
{
	struct de_buf content = DE_BUF_INIT;
	bool found;
	int r = de_yaml_read_file(path, optional, DE_CONFIG_MAX_FILE_BYTES, &content, &found, err,
				  errlen);
	if (r >= 0 && found)
		r = de_config_load_buffer(cfg, path, content.data, content.len, err, errlen);
	de_buf_free(&content);
	return r;
}

int de_config_load_file(struct de_config *cfg, const char *path, char *err, size_t errlen)
{
	return load_file(cfg, path, false, err, errlen);
}

int de_config_check_file(const char *path, char *err, size_t errlen)
{
	struct de_config cfg;
	int r = de_config_init(&cfg);
	if (r < 0) {
		de_why(err, errlen, "out of memory");
		return r;
	}
	r = load_file(&cfg, path, false, err, errlen);
	de_config_free(&cfg);
	return r;
}

/* ---- Environment and flags -------------------------------------------- */

static int apply_env(struct de_config *cfg, char *err, size_t errlen)
{
	char name[DE_CFG_KEY_NAME_MAX + sizeof(DE_CFG_ENV_PREFIX)], why[512];
	for (size_t i = 0; i < DE_CFG_N_KEYS; i++) {
		de_cfg_env_name(&de_cfg_keys[i], name, sizeof(name));
		const char *v = getenv(name);
		if (!v)
			continue;
		if (de_cfg_set_text(cfg, &de_cfg_keys[i], v, strlen(v), why, sizeof(why)) < 0) {
			de_why(err, errlen, "%s: %s", name, why);
			return -EINVAL;
		}
		de_cfg_set_origin(cfg, i, DE_ORIGIN_ENV, "env %s", name);
	}
	/* Other DAEMONEYE_* variables may belong to other tools: warn only. */
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, DE_CFG_ENV_PREFIX, strlen(DE_CFG_ENV_PREFIX)) != 0)
			continue;
		size_t n = strcspn(*e, "=");
		bool known = false;
		for (size_t i = 0; i < DE_CFG_N_KEYS && !known; i++) {
			de_cfg_env_name(&de_cfg_keys[i], name, sizeof(name));
			known = strlen(name) == n && memcmp(name, *e, n) == 0;
		}
		if (!known) {
			char q[DE_YAML_QBUF];
			log_warning("ignoring environment variable %s: not a configuration key",
				    de_yaml_quote(q, sizeof(q), *e, n));
		}
	}
	return 0;
}

/* One "--set key=value" (or de_config_set) on cfg; `label` prefixes
 * messages ("--set " or ""). */
static int apply_set(struct de_config *cfg, const char *key, size_t keylen, const char *value,
		     const char *origin, const char *label, char *err, size_t errlen)
{
	char q[DE_YAML_QBUF], why[512];
	int idx = de_cfg_find(key, keylen);
	if (idx < 0) {
		de_why(err, errlen, "%s%s: unknown key", label, de_yaml_quote(q, sizeof(q), key, keylen));
		return -EINVAL;
	}
	if (de_cfg_set_text(cfg, &de_cfg_keys[idx], value, strlen(value), why, sizeof(why)) < 0) {
		de_why(err, errlen, "%s%s: %s", label, de_cfg_keys[idx].name, why);
		return -EINVAL;
	}
	de_cfg_set_origin(cfg, (size_t)idx, DE_ORIGIN_FLAG, "%s", origin);
	return 0;
}

int de_config_set(struct de_config *cfg, const char *key, const char *value, const char *origin,
		  char *err, size_t errlen)
{
	struct de_config tmp;
	int r = config_copy(&tmp, cfg, err, errlen);
	if (r < 0)
		return r;
	r = apply_set(&tmp, key, strlen(key), value, origin, "", err, errlen);
	if (r < 0) {
		de_config_free(&tmp);
		return r;
	}
	config_commit(cfg, &tmp);
	return 0;
}

/* Layers 2 and 3, or the explicit file. */
static int load_files(struct de_config *cfg, const struct de_config_request *req, char *err,
		      size_t errlen)
{
	if (req->explicit_file)
		return load_file(cfg, req->explicit_file, false, err, errlen);
	int r = load_file(cfg, DE_SYSCONFDIR "/daemoneye.yaml", true, err, errlen);
	if (r < 0)
		return r;
	char path[PATH_MAX];
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n;
	if (xdg && xdg[0] == '/') /* relative values are invalid per the XDG spec */
		n = snprintf(path, sizeof(path), "%s/daemoneye/daemoneye.yaml", xdg);
	else if (home && home[0])
		n = snprintf(path, sizeof(path), "%s/.config/daemoneye/daemoneye.yaml", home);
	else
		return 0;
	if (n < 0 || (size_t)n >= sizeof(path)) {
		de_why(err, errlen, "user configuration path is longer than %d bytes", PATH_MAX - 1);
		return -ENAMETOOLONG;
	}
	return load_file(cfg, path, true, err, errlen);
}

int de_config_load(struct de_config *cfg, const struct de_config_request *req, char *err,
		   size_t errlen)
{
	static const struct de_config_request no_flags = { 0 };
	if (!req)
		req = &no_flags;
	struct de_config tmp;
	int r = de_config_init(&tmp);
	if (r < 0) {
		de_why(err, errlen, "out of memory");
		return r;
	}
	if (!req->skip_files)
		r = load_files(&tmp, req, err, errlen);
	if (r >= 0 && !req->skip_env)
		r = apply_env(&tmp, err, errlen);
	for (unsigned i = 0; r >= 0 && i < req->n_overrides; i++) {
		const char *ov = req->overrides[i];
		const char *eq = strchr(ov, '=');
		if (!eq) {
			char q[DE_YAML_QBUF];
			de_why(err, errlen, "--set %s: expected KEY=VALUE",
				      de_yaml_quote(q, sizeof(q), ov, strlen(ov)));
			r = -EINVAL;
			break;
		}
		r = apply_set(&tmp, ov, (size_t)(eq - ov), eq + 1, "flag --set", "--set ", err, errlen);
	}
	if (r < 0) {
		de_config_free(&tmp);
		return r;
	}
	config_commit(cfg, &tmp);
	return 0;
}

