/* config.c: building the effective configuration from its layers:
 * defaults, YAML files, DAEMONEYE_* environment and --set flags. The key
 * table, value parsing and printing live in config_schema.c.
 *
 * YAML is read with libyaml's event API: every event carries its line and
 * column, no document tree is built, and the walk stops at the first
 * error, so deep nesting or a long document costs no more than what was
 * read up to the mistake. Anchors, aliases and tags are refused outright
 * (no billion laughs, no type games); libyaml does not detect duplicate
 * keys, so the walker does. Scalars are typed by the schema, not by YAML's
 * resolution rules: quoting does not matter, and YAML 1.1 surprises (0755
 * as octal, "no" as false in a string key) cannot happen. Dotted keys
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
#include "de_build.h"
#include "fileio.h"

/* Deep copy of an initialised configuration into dst (uninitialised). */
static int config_copy(struct de_config *dst, const struct de_config *src, char *err,
		       size_t errlen)
{
	if (!src->origins || src->n_origins != DE_CFG_N_KEYS) {
		de_cfg_seterr(err, errlen, "configuration not initialised (de_config_init)");
		return -EINVAL;
	}
	*dst = *src;
	dst->origins = malloc(DE_CFG_N_KEYS * sizeof(*dst->origins));
	if (!dst->origins) {
		de_cfg_seterr(err, errlen, "out of memory");
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
	yaml_parser_t parser;
	struct de_config *cfg;
	const char *name;     /* raw: origins; escaped in messages */
	const unsigned char *data;
	size_t len;
	char *err;
	size_t errlen;
	uint64_t seen;        /* keys set by this document (duplicates) */
	char sections[DE_CFG_N_KEYS][DE_CFG_KEY_NAME_MAX]; /* sections opened by it */
	unsigned n_sections;
};

static void event_freep(yaml_event_t *e)
{
	yaml_event_delete(e);
}
#define _cleanup_event_ _cleanup_(event_freep)

static int DE_PRINTF(4, 5) fail_at(struct walker *w, size_t line, size_t col, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r < 0)
		msg[0] = '\0';
	struct de_buf b = DE_BUF_INIT;
	de_cfg_seterr(w->err, w->errlen, "%s:%zu:%zu: %s", de_cfg_escape(&b, w->name), line + 1,
		      col + 1, msg);
	de_buf_free(&b);
	return -EINVAL;
}

#define FAIL_MARK(w, m, ...) fail_at((w), (m).line, (m).column, __VA_ARGS__)

/* libyaml's reader errors give a byte offset, not a mark: turn it into a
 * line and a column in characters. */
static int fail_offset(struct walker *w, size_t off, const char *problem, int value)
{
	size_t line = 0, col = 0;
	off = DE_MIN(off, w->len);
	for (size_t i = 0; i < off; i++) {
		if (w->data[i] == '\n') {
			line++;
			col = 0;
		} else if ((w->data[i] & 0xc0) != 0x80) {
			col++;
		}
	}
	if (value < 0)
		return fail_at(w, line, col, "%s", problem);
	return fail_at(w, line, col, "%s (0x%02X)", problem, (unsigned)value);
}

/* Next event; syntax errors, aliases, anchors and tags are errors. */
static int next_event(struct walker *w, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&w->parser, ev)) {
		memset(ev, 0, sizeof(*ev));
		yaml_parser_t *p = &w->parser;
		const char *problem = p->problem ? p->problem : "invalid YAML";
		if (p->error == YAML_MEMORY_ERROR) {
			struct de_buf b = DE_BUF_INIT;
			de_cfg_seterr(w->err, w->errlen, "%s: out of memory", de_cfg_escape(&b, w->name));
			de_buf_free(&b);
			return -ENOMEM;
		}
		if (p->error == YAML_READER_ERROR)
			return fail_offset(w, p->problem_offset, problem, p->problem_value);
		if (p->context)
			return FAIL_MARK(w, p->problem_mark, "%s (%s started at %zu:%zu)", problem,
					 p->context, p->context_mark.line + 1, p->context_mark.column + 1);
		return FAIL_MARK(w, p->problem_mark, "%s", problem);
	}
	const yaml_char_t *anchor = NULL, *tag = NULL;
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return FAIL_MARK(w, ev->start_mark, "aliases are not allowed");
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		break;
	}
	if (anchor)
		return FAIL_MARK(w, ev->start_mark, "anchors are not allowed");
	if (tag)
		return FAIL_MARK(w, ev->start_mark, "tags are not allowed");
	return 0;
}

static bool is_null_scalar(const yaml_event_t *ev)
{
	return ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length == 0 &&
	       ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static const char *got_what(const yaml_event_t *ev, char *q, size_t qlen)
{
	if (ev->type == YAML_MAPPING_START_EVENT)
		return "a mapping";
	if (ev->type == YAML_SEQUENCE_START_EVENT)
		return "a list";
	char tmp[DE_CFG_QBUF];
	const char *v = (const char *)ev->data.scalar.value;
	de_cfg_seterr(q, qlen, "'%s'", de_cfg_quote(tmp, sizeof(tmp), v, ev->data.scalar.length));
	return q;
}

/* The value of key k (index idx): a scalar, or a list of scalars. */
static int walk_value(struct walker *w, size_t idx)
{
	const struct de_cfg_key *k = &de_cfg_keys[idx];
	char why[512], q[DE_CFG_QBUF + 2], t[128];
	_cleanup_event_ yaml_event_t v = { 0 };
	int r = next_event(w, &v);
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
			r = next_event(w, &item);
			if (r < 0)
				return r;
			if (item.type == YAML_SEQUENCE_END_EVENT)
				break;
			if (item.type != YAML_SCALAR_EVENT)
				return FAIL_MARK(w, item.start_mark, "%s: expected a list of strings, got %s in it",
						 k->name, got_what(&item, q, sizeof(q)));
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
				 de_cfg_expects(k, t, sizeof(t)), got_what(&v, q, sizeof(q)));
	}
	de_cfg_set_origin(w->cfg, idx, DE_ORIGIN_FILE, "%s:%zu:%zu", w->name, v.start_mark.line + 1,
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

	char q[DE_CFG_QBUF + 2];
	_cleanup_event_ yaml_event_t v = { 0 };
	int r = next_event(w, &v);
	if (r < 0)
		return r;
	if (v.type == YAML_MAPPING_START_EVENT)
		return walk_mapping(w, path);
	if (is_null_scalar(&v))
		return 0;
	return FAIL_MARK(w, v.start_mark, "%s: expected a mapping of %s.* keys, got %s", path, path,
			 got_what(&v, q, sizeof(q)));
}

/* Keys of a mapping whose paths start with `prefix` ("" at the root); the
 * MAPPING_START event has been consumed. Recursion is bounded by the
 * schema's depth: only sections recurse. */
static int walk_mapping(struct walker *w, const char *prefix)
{
	const char *dot = *prefix ? "." : "";
	for (;;) {
		char q[DE_CFG_QBUF + 2];
		_cleanup_event_ yaml_event_t key = { 0 };
		int r = next_event(w, &key);
		if (r < 0)
			return r;
		if (key.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (key.type != YAML_SCALAR_EVENT)
			return FAIL_MARK(w, key.start_mark, "mapping keys must be strings, got %s",
					 got_what(&key, q, sizeof(q)));
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
		if (section) {
			r = walk_section(w, path, &key);
		} else if (idx >= 0) {
			if (w->seen & (UINT64_C(1) << idx))
				return FAIL_MARK(w, key.start_mark, "duplicate key '%s'", path);
			w->seen |= UINT64_C(1) << idx;
			r = walk_value(w, (size_t)idx);
		} else {
			return FAIL_MARK(w, key.start_mark, "unknown key '%s%s%s'", prefix, dot,
					 de_cfg_quote(q, sizeof(q), ks, kn));
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
	int r = next_event(w, &start);
	if (r < 0)
		return r;
	r = next_event(w, &doc);
	if (r < 0 || doc.type == YAML_STREAM_END_EVENT)
		return r;
	r = next_event(w, &root);
	if (r < 0)
		return r;
	if (root.type == YAML_MAPPING_START_EVENT)
		r = walk_mapping(w, "");
	else if (!is_null_scalar(&root))
		r = FAIL_MARK(w, root.start_mark, "the document root must be a mapping of keys");
	if (r < 0)
		return r;
	r = next_event(w, &end); /* DOCUMENT_END */
	if (r < 0)
		return r;
	r = next_event(w, &tail);
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
		de_cfg_seterr(err, errlen, "%s: larger than %d bytes", de_cfg_escape(&b, name),
			      DE_CONFIG_MAX_FILE_BYTES);
		de_buf_free(&b);
		return -EFBIG;
	}
	struct de_config tmp;
	int r = config_copy(&tmp, cfg, err, errlen);
	if (r < 0)
		return r;
	struct walker *w = calloc(1, sizeof(*w));
	if (!w || !yaml_parser_initialize(&w->parser)) {
		free(w);
		de_config_free(&tmp);
		struct de_buf b = DE_BUF_INIT;
		de_cfg_seterr(err, errlen, "%s: out of memory", de_cfg_escape(&b, name));
		de_buf_free(&b);
		return -ENOMEM;
	}
	w->cfg = &tmp;
	w->name = name;
	w->data = data;
	w->len = len;
	w->err = err;
	w->errlen = errlen;
	yaml_parser_set_input_string(&w->parser, data, len);
	r = walk_stream(w);
	yaml_parser_delete(&w->parser);
	free(w);
	if (r < 0) {
		de_config_free(&tmp);
		return r;
	}
	config_commit(cfg, &tmp);
	return 0;
}

/* Read a configuration file (regular files only, capped in size). With
 * `optional`, a missing file is not an error: returns 0 and leaves `out`
 * empty with *found false. */
static int read_config(const char *path, bool optional, struct de_buf *out, bool *found,
		       char *err, size_t errlen)
{
	struct de_buf nb = DE_BUF_INIT;
	*found = false;
	/* O_NONBLOCK: a FIFO must not hang the open; it is refused below. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int r = 0;
	struct stat st;
	if (fd < 0) {
		r = de_neg_errno();
		if (optional && (r == -ENOENT || r == -ENOTDIR))
			return 0;
		/* A default location inside a directory we may not search (an
		 * unprivileged run with HOME=/root): whether the file exists
		 * cannot be known, so it is skipped, and said so. A file that
		 * visibly exists but cannot be read stays an error. */
		struct stat lst;
		if (optional && r == -EACCES && stat(path, &lst) < 0 && errno == EACCES) {
			log_warning("%s: cannot tell whether it exists (permission denied); skipped",
				    de_cfg_escape(&nb, path));
			de_buf_free(&nb);
			return 0;
		}
		de_cfg_seterr(err, errlen, "%s: %s", de_cfg_escape(&nb, path), strerror(-r));
	} else if (fstat(fd, &st) < 0) {
		r = de_neg_errno();
		de_cfg_seterr(err, errlen, "%s: %s", de_cfg_escape(&nb, path), strerror(-r));
	} else if (!S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		de_cfg_seterr(err, errlen, "%s: not a regular file", de_cfg_escape(&nb, path));
	} else if ((r = de_buf_reserve(out, DE_CONFIG_MAX_FILE_BYTES + 1)) < 0) {
		de_cfg_seterr(err, errlen, "%s: out of memory", de_cfg_escape(&nb, path));
	} else {
		ssize_t n = de_read_full(fd, out->data, DE_CONFIG_MAX_FILE_BYTES + 1);
		if (n < 0) {
			r = (int)n;
			de_cfg_seterr(err, errlen, "%s: %s", de_cfg_escape(&nb, path), strerror(-r));
		} else if (n > DE_CONFIG_MAX_FILE_BYTES) {
			r = -EFBIG;
			de_cfg_seterr(err, errlen, "%s: larger than %d bytes", de_cfg_escape(&nb, path),
				      DE_CONFIG_MAX_FILE_BYTES);
		} else {
			out->len = (size_t)n;
			out->data[n] = '\0';
			*found = true;
		}
	}
	de_buf_free(&nb);
	return r;
}

static int load_file(struct de_config *cfg, const char *path, bool optional, char *err,
		     size_t errlen)
{
	struct de_buf content = DE_BUF_INIT;
	bool found;
	int r = read_config(path, optional, &content, &found, err, errlen);
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
		de_cfg_seterr(err, errlen, "out of memory");
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
			de_cfg_seterr(err, errlen, "%s: %s", name, why);
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
			char q[DE_CFG_QBUF];
			log_warning("ignoring environment variable %s: not a configuration key",
				    de_cfg_quote(q, sizeof(q), *e, n));
		}
	}
	return 0;
}

/* One "--set key=value" (or de_config_set) on cfg; `label` prefixes
 * messages ("--set " or ""). */
static int apply_set(struct de_config *cfg, const char *key, size_t keylen, const char *value,
		     const char *origin, const char *label, char *err, size_t errlen)
{
	char q[DE_CFG_QBUF], why[512];
	int idx = de_cfg_find(key, keylen);
	if (idx < 0) {
		de_cfg_seterr(err, errlen, "%s%s: unknown key", label, de_cfg_quote(q, sizeof(q), key, keylen));
		return -EINVAL;
	}
	if (de_cfg_set_text(cfg, &de_cfg_keys[idx], value, strlen(value), why, sizeof(why)) < 0) {
		de_cfg_seterr(err, errlen, "%s%s: %s", label, de_cfg_keys[idx].name, why);
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
		de_cfg_seterr(err, errlen, "user configuration path is longer than %d bytes", PATH_MAX - 1);
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
		de_cfg_seterr(err, errlen, "out of memory");
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
			char q[DE_CFG_QBUF];
			de_cfg_seterr(err, errlen, "--set %s: expected KEY=VALUE",
				      de_cfg_quote(q, sizeof(q), ov, strlen(ov)));
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

