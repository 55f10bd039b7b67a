/* rules.c: loading and validating detection rules (see rules.h).
 *
 * Parsing walks libyaml events through yamlread.h (positions, no tree, no
 * aliases); each rule is built in a scratch struct and appended only when
 * complete, and a whole buffer is appended only when every rule in it
 * parsed, so an error never leaves half a file loaded.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "log.h"
#include "yamlread.h"

static const char *const severity_names[] = { "info", "low", "medium", "high", "critical" };

const char *de_severity_name(enum de_severity s)
{
	return (unsigned)s < DE_ARRAY_SIZE(severity_names) ? severity_names[s] : "unknown";
}

int de_severity_parse(const char *s)
{
	for (size_t i = 0; i < DE_ARRAY_SIZE(severity_names); i++)
		if (strcmp(s, severity_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

int de_duration_parse(const char *s, uint64_t *seconds)
{
	char *end = NULL;
	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	uint64_t mul = 1;
	if (*end == 's')
		end++;
	else if (*end == 'm' && ++end)
		mul = 60;
	else if (*end == 'h' && ++end)
		mul = 3600;
	else if (*end == 'd' && ++end)
		mul = 86400;
	if (*end || v > UINT64_MAX / mul || v * mul > 366ull * 86400)
		return -EINVAL;
	*seconds = v * mul;
	return 0;
}

static void list_free(struct de_rule_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void rule_free(struct de_rule *r)
{
	free(r->id);
	free(r->name);
	free(r->description);
	free(r->author);
	free(r->sql);
	free(r->dedup_key);
	free(r->file);
	list_free(&r->mitre);
	list_free(&r->tags);
	list_free(&r->references);
	memset(r, 0, sizeof(*r));
}

void de_ruleset_free(struct de_ruleset *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		rule_free(&rs->rules[i]);
	free(rs->rules);
	memset(rs, 0, sizeof(*rs));
}

/* ---- validation of single values ----------------------------------------- */

static bool valid_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > DE_RULE_ID_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

/* MITRE ATT&CK technique ids: T1234 or T1234.567. */
static bool valid_mitre(const char *s)
{
	if (s[0] != 'T')
		return false;
	for (int i = 1; i <= 4; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	if (s[5] == 0)
		return true;
	if (s[5] != '.')
		return false;
	for (int i = 6; i <= 8; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return s[9] == 0;
}

/* A result column name for dedup_key: an SQL identifier. */
static bool valid_column(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return false;
	return strlen(s) <= 64;
}

/* ---- the walk --------------------------------------------------------------- */

struct walk {
	struct de_yaml y;
	struct de_ruleset out; /* rules of this buffer */
};

/* A scalar's text, which must be free of NUL bytes (YAML allows "\0"). */
static int scalar(struct walk *w, const yaml_event_t *ev, const char *key, char **out)
{
	char q[DE_YAML_QBUF];
	if (ev->type != YAML_SCALAR_EVENT)
		return DE_YAML_FAIL(&w->y, ev->start_mark, "%s: expected a string, got %s", key,
				    de_yaml_got(ev, q, sizeof(q)));
	const char *v = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	if (memchr(v, 0, n))
		return DE_YAML_FAIL(&w->y, ev->start_mark, "%s: NUL bytes are not allowed", key);
	char *s = strndup(v, n);
	if (!s)
		return -ENOMEM;
	free(*out);
	*out = s;
	return 0;
}

/* A list of strings (or one string) into l, each checked by ok(). */
static int string_list(struct walk *w, const yaml_event_t *first, const char *key,
		       struct de_rule_list *l, bool (*ok)(const char *), const char *what)
{
	list_free(l);
	bool seq = first->type == YAML_SEQUENCE_START_EVENT;
	for (;;) {
		_cleanup_yaml_event_ yaml_event_t ev = { 0 };
		const yaml_event_t *cur = first;
		if (seq) {
			int r = de_yaml_next(&w->y, &ev);
			if (r < 0)
				return r;
			if (ev.type == YAML_SEQUENCE_END_EVENT)
				return 0;
			cur = &ev;
		}
		if (l->n >= DE_RULE_LIST_MAX)
			return DE_YAML_FAIL(&w->y, cur->start_mark, "%s: more than %d entries", key,
					    DE_RULE_LIST_MAX);
		char *s = NULL;
		int r = scalar(w, cur, key, &s);
		if (r < 0)
			return r;
		if (ok && !ok(s)) {
			char q[DE_YAML_QBUF];
			r = DE_YAML_FAIL(&w->y, cur->start_mark, "%s: '%s' is not %s", key,
					 de_yaml_quote(q, sizeof(q), s, strlen(s)), what);
			free(s);
			return r;
		}
		char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
		if (!v) {
			free(s);
			return -ENOMEM;
		}
		l->v = v;
		l->v[l->n++] = s;
		if (!seq)
			return 0;
	}
}

enum key_id {
	K_ID, K_NAME, K_DESCRIPTION, K_SEVERITY, K_MITRE, K_TAGS, K_ENABLED, K_AUTHOR,
	K_REFERENCES, K_SQL, K_DEDUP_KEY, K_WINDOW, K_SCHEDULE, K__COUNT
};
static const char *const key_names[K__COUNT] = {
	"id", "name", "description", "severity", "mitre", "tags", "enabled", "author",
	"references", "sql", "dedup_key", "window", "schedule",
};

static int rule_value(struct walk *w, struct de_rule *r, enum key_id k, const yaml_event_t *ev)
{
	char *s = NULL, q[DE_YAML_QBUF];
	int rc = 0;
	switch (k) {
	case K_ID:
		if ((rc = scalar(w, ev, "id", &r->id)) < 0)
			return rc;
		if (!valid_id(r->id))
			return DE_YAML_FAIL(&w->y, ev->start_mark,
					    "id: '%s' is not 1-%d letters, digits, '-', '_' or '.'",
					    de_yaml_quote(q, sizeof(q), r->id, strlen(r->id)),
					    DE_RULE_ID_MAX);
		return 0;
	case K_NAME: return scalar(w, ev, "name", &r->name);
	case K_DESCRIPTION: return scalar(w, ev, "description", &r->description);
	case K_AUTHOR: return scalar(w, ev, "author", &r->author);
	case K_SQL: return scalar(w, ev, "sql", &r->sql);
	case K_DEDUP_KEY:
		if ((rc = scalar(w, ev, "dedup_key", &r->dedup_key)) < 0)
			return rc;
		if (!valid_column(r->dedup_key))
			return DE_YAML_FAIL(&w->y, ev->start_mark,
					    "dedup_key: '%s' is not a column name",
					    de_yaml_quote(q, sizeof(q), r->dedup_key,
							  strlen(r->dedup_key)));
		return 0;
	case K_MITRE:
		return string_list(w, ev, "mitre", &r->mitre, valid_mitre,
				   "a MITRE ATT&CK technique id (T1234 or T1234.567)");
	case K_TAGS: return string_list(w, ev, "tags", &r->tags, NULL, NULL);
	case K_REFERENCES: return string_list(w, ev, "references", &r->references, NULL, NULL);
	case K_SEVERITY:
	case K_ENABLED:
	case K_WINDOW:
	case K_SCHEDULE:
		if ((rc = scalar(w, ev, key_names[k], &s)) < 0)
			return rc;
		if (k == K_SEVERITY) {
			rc = de_severity_parse(s);
			if (rc >= 0)
				r->severity = (enum de_severity)rc;
			else
				rc = DE_YAML_FAIL(&w->y, ev->start_mark,
						  "severity: '%s' is not one of info, low, medium,"
						  " high, critical",
						  de_yaml_quote(q, sizeof(q), s, strlen(s)));
		} else if (k == K_ENABLED) {
			if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
				r->enabled = s[0] == 't';
			else
				rc = DE_YAML_FAIL(&w->y, ev->start_mark,
						  "enabled: expected true or false, got '%s'",
						  de_yaml_quote(q, sizeof(q), s, strlen(s)));
		} else {
			uint64_t *dst = k == K_WINDOW ? &r->window_s : &r->schedule_s;
			if (de_duration_parse(s, dst) < 0 || (k == K_SCHEDULE && *dst == 0))
				rc = DE_YAML_FAIL(&w->y, ev->start_mark,
						  "%s: '%s' is not a duration (90s, 5m, 2h, 1d;"
						  " at most a year%s)", key_names[k],
						  de_yaml_quote(q, sizeof(q), s, strlen(s)),
						  k == K_SCHEDULE ? "; not 0" : "");
		}
		free(s);
		return rc < 0 ? rc : 0;
	case K__COUNT:
		break;
	}
	return -EINVAL;
}

/* One key of a rule and its value (the key event has been read). */
static int rule_key(struct walk *w, struct de_rule *r, bool seen[K__COUNT], const yaml_event_t *key)
{
	char q[DE_YAML_QBUF];
	if (key->type != YAML_SCALAR_EVENT)
		return DE_YAML_FAIL(&w->y, key->start_mark, "expected a key, got %s",
				    de_yaml_got(key, q, sizeof(q)));
	const char *ks = (const char *)key->data.scalar.value;
	int k = -1;
	for (int i = 0; i < K__COUNT; i++)
		if (strlen(key_names[i]) == key->data.scalar.length &&
		    memcmp(ks, key_names[i], key->data.scalar.length) == 0)
			k = i;
	if (k < 0)
		return DE_YAML_FAIL(&w->y, key->start_mark, "unknown key '%s' (keys: id, name,"
				    " description, severity, mitre, tags, enabled, author,"
				    " references, sql, dedup_key, window, schedule)",
				    de_yaml_quote(q, sizeof(q), ks, key->data.scalar.length));
	if (seen[k])
		return DE_YAML_FAIL(&w->y, key->start_mark, "duplicate key '%s'", key_names[k]);
	seen[k] = true;
	_cleanup_yaml_event_ yaml_event_t val = { 0 };
	int rc = de_yaml_next(&w->y, &val);
	if (rc < 0)
		return rc;
	if (val.type == YAML_MAPPING_START_EVENT ||
	    (val.type == YAML_SEQUENCE_START_EVENT && k != K_MITRE && k != K_TAGS &&
	     k != K_REFERENCES))
		return DE_YAML_FAIL(&w->y, val.start_mark, "%s: expected a string, got %s",
				    key_names[k], de_yaml_got(&val, q, sizeof(q)));
	return rule_value(w, r, (enum key_id)k, &val);
}

/* One rule: a mapping whose start event is `start`; `first` is its first
 * key when the caller already read it (NULL otherwise). */
static int walk_rule(struct walk *w, const yaml_event_t *start, const yaml_event_t *first)
{
	struct de_rule r = { .enabled = true, .window_s = 3600, .severity = DE_SEV_MEDIUM };
	r.line = start->start_mark.line + 1;
	bool seen[K__COUNT] = { false };
	int rc = 0;
	if (first && (rc = rule_key(w, &r, seen, first)) < 0)
		goto fail;
	for (;;) {
		_cleanup_yaml_event_ yaml_event_t key = { 0 };
		if ((rc = de_yaml_next(&w->y, &key)) < 0)
			goto fail;
		if (key.type == YAML_MAPPING_END_EVENT)
			break;
		if ((rc = rule_key(w, &r, seen, &key)) < 0)
			goto fail;
	}
	static const enum key_id required[] = { K_ID, K_NAME, K_SEVERITY, K_SQL };
	for (size_t i = 0; i < DE_ARRAY_SIZE(required); i++)
		if (!seen[required[i]]) {
			rc = de_yaml_fail_at(&w->y, r.line - 1, start->start_mark.column,
					     "rule %s: missing required key '%s'", r.id ? r.id : "(no id)",
					     key_names[required[i]]);
			goto fail;
		}
	if (w->out.n >= DE_RULE_MAX_PER_SET) {
		rc = de_yaml_fail_at(&w->y, r.line - 1, 0, "more than %d rules",
				     DE_RULE_MAX_PER_SET);
		goto fail;
	}
	if (!(r.file = strdup(w->y.name))) {
		rc = -ENOMEM;
		goto fail;
	}
	if (w->out.n == w->out.cap) {
		size_t cap = w->out.cap ? 2 * w->out.cap : 8;
		struct de_rule *v = realloc(w->out.rules, cap * sizeof(*v));
		if (!v) {
			rc = -ENOMEM;
			goto fail;
		}
		w->out.rules = v;
		w->out.cap = cap;
	}
	w->out.rules[w->out.n++] = r;
	return 0;
fail:
	rule_free(&r);
	return rc;
}

/* A document: one rule, or a mapping { rules: [rule, ...] }. The root's
 * start event has been read. To tell them apart the first key is read: a
 * lone `rules` key means a list follows. */
static int walk_document(struct walk *w, const yaml_event_t *root)
{
	char q[DE_YAML_QBUF];
	if (root->type != YAML_MAPPING_START_EVENT)
		return DE_YAML_FAIL(&w->y, root->start_mark,
				    "a rule file holds rules: expected a mapping, got %s",
				    de_yaml_got(root, q, sizeof(q)));
	/* libyaml cannot rewind: the first key decides, and is handed on. */
	_cleanup_yaml_event_ yaml_event_t key = { 0 };
	int rc = de_yaml_next(&w->y, &key);
	if (rc < 0)
		return rc;
	if (key.type == YAML_SCALAR_EVENT && key.data.scalar.length == 5 &&
	    memcmp(key.data.scalar.value, "rules", 5) == 0) {
		_cleanup_yaml_event_ yaml_event_t list = { 0 }, end = { 0 };
		if ((rc = de_yaml_next(&w->y, &list)) < 0)
			return rc;
		if (list.type != YAML_SEQUENCE_START_EVENT)
			return DE_YAML_FAIL(&w->y, list.start_mark, "rules: expected a list, got %s",
					    de_yaml_got(&list, q, sizeof(q)));
		for (;;) {
			_cleanup_yaml_event_ yaml_event_t item = { 0 };
			if ((rc = de_yaml_next(&w->y, &item)) < 0)
				return rc;
			if (item.type == YAML_SEQUENCE_END_EVENT)
				break;
			if (item.type != YAML_MAPPING_START_EVENT)
				return DE_YAML_FAIL(&w->y, item.start_mark,
						    "rules: expected a rule (a mapping), got %s",
						    de_yaml_got(&item, q, sizeof(q)));
			if ((rc = walk_rule(w, &item, NULL)) < 0)
				return rc;
		}
		if ((rc = de_yaml_next(&w->y, &end)) < 0)
			return rc;
		if (end.type != YAML_MAPPING_END_EVENT)
			return DE_YAML_FAIL(&w->y, end.start_mark,
					    "a document with `rules:` has no other keys");
		return 0;
	}
	if (key.type == YAML_MAPPING_END_EVENT)
		return DE_YAML_FAIL(&w->y, key.start_mark, "an empty mapping is not a rule");
	return walk_rule(w, root, &key);
}

static int walk_stream(struct walk *w)
{
	int rc;
	_cleanup_yaml_event_ yaml_event_t start = { 0 };
	if ((rc = de_yaml_next(&w->y, &start)) < 0)
		return rc;
	for (;;) {
		_cleanup_yaml_event_ yaml_event_t doc = { 0 }, root = { 0 }, end = { 0 };
		if ((rc = de_yaml_next(&w->y, &doc)) < 0)
			return rc;
		if (doc.type == YAML_STREAM_END_EVENT)
			return 0;
		if ((rc = de_yaml_next(&w->y, &root)) < 0)
			return rc;
		if (!de_yaml_is_null(&root) && (rc = walk_document(w, &root)) < 0)
			return rc;
		if ((rc = de_yaml_next(&w->y, &end)) < 0)
			return rc;
	}
}

int de_rules_load_buffer(struct de_ruleset *rs, const char *name, const void *data, size_t len,
			 char *err, size_t errlen)
{
	struct walk *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	int rc = de_yaml_open(&w->y, name, data, len, err, errlen);
	if (rc == 0)
		rc = walk_stream(w);
	de_yaml_close(&w->y);
	if (rc == -ENOMEM)
		de_why(err, errlen, "%s: out of memory", name);
	if (rc == 0 && rs->n + w->out.n > DE_RULE_MAX_PER_SET) {
		de_why(err, errlen, "%s: more than %d rules in the set", name, DE_RULE_MAX_PER_SET);
		rc = -E2BIG;
	}
	if (rc == 0 && w->out.n) {
		size_t need = rs->n + w->out.n;
		if (need > rs->cap) {
			struct de_rule *v = realloc(rs->rules, need * sizeof(*v));
			if (!v) {
				rc = -ENOMEM;
				goto out;
			}
			rs->rules = v;
			rs->cap = need;
		}
		memcpy(rs->rules + rs->n, w->out.rules, w->out.n * sizeof(*w->out.rules));
		rs->n = need;
		free(w->out.rules);
		free(w);
		return 0;
	}
out:
	de_ruleset_free(&w->out);
	free(w);
	return rc;
}

int de_rules_load_file(struct de_ruleset *rs, const char *path, char *err, size_t errlen)
{
	struct de_buf content = DE_BUF_INIT;
	bool found = false;
	int rc = de_yaml_read_file(path, false, DE_RULES_MAX_FILE_BYTES, &content, &found, err,
				   errlen);
	if (rc >= 0)
		rc = de_rules_load_buffer(rs, path, content.data, content.len, err, errlen);
	de_buf_free(&content);
	return rc;
}

static bool is_rule_file(const char *name)
{
	size_t n = strlen(name);
	if (name[0] == '.')
		return false;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

int de_rules_load_dir(struct de_ruleset *rs, const char *dir, bool optional, char *err,
		      size_t errlen)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		int rc = de_neg_errno();
		if (optional && rc == -ENOENT)
			return 0;
		struct de_buf b = DE_BUF_INIT;
		de_why(err, errlen, "%s: %s", de_yaml_escape(&b, dir), strerror(-rc));
		de_buf_free(&b);
		return rc;
	}
	/* Load into a scratch set: all files or none. */
	struct de_ruleset tmp = { 0 };
	int rc = 0;
	for (int i = 0; i < n; i++) {
		if (rc == 0 && is_rule_file(names[i]->d_name)) {
			char path[4096];
			if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) >=
			    (int)sizeof(path)) {
				de_why(err, errlen, "%s: path too long", dir);
				rc = -ENAMETOOLONG;
			} else {
				rc = de_rules_load_file(&tmp, path, err, errlen);
			}
		}
		free(names[i]);
	}
	free(names);
	if (rc == 0 && tmp.n) {
		size_t need = rs->n + tmp.n;
		struct de_rule *v = need > rs->cap ? realloc(rs->rules, need * sizeof(*v)) : rs->rules;
		if (!v) {
			rc = -ENOMEM;
		} else {
			rs->rules = v;
			rs->cap = DE_MAX(rs->cap, need);
			memcpy(rs->rules + rs->n, tmp.rules, tmp.n * sizeof(*tmp.rules));
			rs->n = need;
			free(tmp.rules);
			return 0;
		}
	}
	de_ruleset_free(&tmp);
	return rc;
}

static int fail_rule(const struct de_rule *r, char *err, size_t errlen, const char *fmt, ...)
	DE_PRINTF(4, 5);
static int fail_rule(const struct de_rule *r, char *err, size_t errlen, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct de_buf b = DE_BUF_INIT;
	de_why(err, errlen, "%s:%zu: rule %s: %s", de_yaml_escape(&b, r->file), r->line, r->id,
		 msg);
	de_buf_free(&b);
	return -EINVAL;
}

int de_rules_validate(const struct de_ruleset *rs, struct de_sqlguard *g, char *err,
		      size_t errlen)
{
	for (size_t i = 0; i < rs->n; i++) {
		const struct de_rule *r = &rs->rules[i];
		for (size_t j = 0; j < i; j++)
			if (strcmp(rs->rules[j].id, r->id) == 0) {
				struct de_buf b = DE_BUF_INIT;
				int rc = fail_rule(r, err, errlen, "duplicate rule id (first defined at"
						   " %s:%zu)", de_yaml_escape(&b, rs->rules[j].file),
						   rs->rules[j].line);
				de_buf_free(&b);
				return rc;
			}
		char why[DE_SQLGUARD_WHY_MAX];
		sqlite3_stmt *st = NULL;
		if (de_sqlguard_prepare(g, r->sql, &st, why, sizeof(why)) < 0)
			return fail_rule(r, err, errlen, "%s", why);
		bool has_entity = false, has_dedup = !r->dedup_key;
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const char *name = sqlite3_column_name(st, c);
			if (name && strcmp(name, "entity_id") == 0)
				has_entity = true;
			if (name && r->dedup_key && strcmp(name, r->dedup_key) == 0)
				has_dedup = true;
		}
		sqlite3_finalize(st);
		if (!has_entity)
			return fail_rule(r, err, errlen, "the query must return an entity_id column"
					 " (the process the alert is about)");
		if (!has_dedup)
			return fail_rule(r, err, errlen, "dedup_key '%s' is not a column the query"
					 " returns", r->dedup_key);
	}
	return 0;
}
