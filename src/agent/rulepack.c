/* rulepack.c: the rule sources and the overrides file (see rulepack.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "macros.h"
#include "rulepack.h"
#include "yamlread.h"

#define OVERRIDES_MAX_BYTES (256 * 1024)

int de_rulepack_builtin(struct de_ruleset *rs, char *err, size_t errlen)
{
	struct de_ruleset tmp = { 0 };
	for (size_t i = 0; i < de_rulepack_n_files; i++) {
		const struct de_rulepack_file *f = &de_rulepack_files[i];
		int rc = de_rules_load_buffer(&tmp, f->name, f->data, f->len, err, errlen);
		if (rc < 0) {
			de_ruleset_free(&tmp);
			return rc;
		}
	}
	/* Move tmp's rules onto rs (all or nothing). */
	if (tmp.n) {
		size_t need = rs->n + tmp.n;
		struct de_rule *v = need > rs->cap ? realloc(rs->rules, need * sizeof(*v)) : rs->rules;
		if (!v) {
			de_ruleset_free(&tmp);
			de_why(err, errlen, "out of memory");
			return -ENOMEM;
		}
		rs->rules = v;
		rs->cap = DE_MAX(rs->cap, need);
		memcpy(rs->rules + rs->n, tmp.rules, tmp.n * sizeof(*tmp.rules));
		rs->n = need;
		free(tmp.rules);
	}
	return 0;
}

int de_rulepack_load(struct de_ruleset *rs, const struct de_rulepack_src *src, char *err,
		     size_t errlen)
{
	struct de_ruleset tmp = { 0 };
	int rc = 0;
	if (!src->no_builtin)
		rc = de_rulepack_builtin(&tmp, err, errlen);
	for (const char *const *d = src->dirs; rc >= 0 && d && *d; d++)
		rc = de_rules_load_dir(&tmp, *d, true, err, errlen);
	if (rc >= 0 && src->overrides)
		rc = de_rule_overrides_apply(&tmp, src->overrides, err, errlen);
	if (rc < 0) {
		de_ruleset_free(&tmp);
		return rc;
	}
	de_ruleset_free(rs);
	*rs = tmp;
	return (int)rs->n;
}

/* One parsed overrides line. */
struct ov {
	char id[DE_RULE_ID_MAX + 1];
	bool enabled;
};

/* Read the overrides file into a list. A missing file is an empty list. */
static int read_overrides(const char *path, struct ov **out, size_t *n_out, char *err,
			  size_t errlen)
{
	*out = NULL;
	*n_out = 0;
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		int rc = de_neg_errno();
		de_why(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	char line[512];
	size_t lineno = 0, n = 0, total = 0;
	struct ov *v = NULL;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		size_t len = strlen(line);
		total += len;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			de_why(err, errlen, "%s:%zu: line too long", path, lineno);
			free(v);
			return -EINVAL;
		}
		if (total > OVERRIDES_MAX_BYTES) {
			de_why(err, errlen, "%s: larger than %d bytes", path, OVERRIDES_MAX_BYTES);
			free(v);
			return -E2BIG;
		}
		char *s = line + strspn(line, " \t");
		if (*s == '#' || *s == '\n' || *s == 0)
			continue;
		char id[DE_RULE_ID_MAX + 2], state[16];
		char extra[2];
		if (sscanf(s, "%65s %15s %1s", id, state, extra) != 2 || strlen(id) > DE_RULE_ID_MAX ||
		    (strcmp(state, "enabled") != 0 && strcmp(state, "disabled") != 0)) {
			de_why(err, errlen, "%s:%zu: expected \"RULE-ID enabled\" or \"RULE-ID disabled\"",
			       path, lineno);
			free(v);
			return -EINVAL;
		}
		struct ov *nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			free(v);
			de_why(err, errlen, "out of memory");
			return -ENOMEM;
		}
		v = nv;
		memcpy(v[n].id, id, strlen(id) + 1); /* length checked above */
		v[n].enabled = strcmp(state, "enabled") == 0;
		n++;
	}
	*out = v;
	*n_out = n;
	return 0;
}

int de_rule_overrides_apply(struct de_ruleset *rs, const char *path, char *err, size_t errlen)
{
	_cleanup_free_ struct ov *v = NULL;
	size_t n;
	int rc = read_overrides(path, &v, &n, err, errlen);
	if (rc < 0)
		return rc;
	/* The last line about an id is the one that counts. */
	int changed = 0;
	for (size_t j = 0; j < rs->n; j++)
		for (size_t i = n; i-- > 0;)
			if (strcmp(rs->rules[j].id, v[i].id) == 0) {
				if (rs->rules[j].enabled != v[i].enabled) {
					rs->rules[j].enabled = v[i].enabled;
					changed++;
				}
				break;
			}
	return changed;
}

int de_rule_override_set(const char *path, const char *id, bool enabled, char *err,
			 size_t errlen)
{
	if (!id[0] || strlen(id) > DE_RULE_ID_MAX || strpbrk(id, " \t\n#")) {
		de_why(err, errlen, "not a rule id");
		return -EINVAL;
	}
	_cleanup_free_ struct ov *v = NULL;
	size_t n;
	int rc = read_overrides(path, &v, &n, err, errlen);
	if (rc < 0)
		return rc;
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		de_why(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	struct de_buf b = DE_BUF_INIT;
	de_buf_puts(&b, "# daemoneye rules enable/disable: RULE-ID enabled|disabled\n");
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].id, id) != 0)
			de_buf_printf(&b, "%s %s\n", v[i].id, v[i].enabled ? "enabled" : "disabled");
	de_buf_printf(&b, "%s %s\n", id, enabled ? "enabled" : "disabled");
	if (b.err) {
		de_buf_free(&b);
		de_why(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	rc = 0;
	if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len || fsync(fd) < 0)
		rc = de_neg_errno();
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = de_neg_errno();
	if (rc == 0 && rename(tmp, path) < 0)
		rc = de_neg_errno();
	de_buf_free(&b);
	if (rc < 0) {
		de_why(err, errlen, "writing %s: %s", path, strerror(-rc));
		unlink(tmp);
	}
	return rc;
}
