/* cmd_rules.c: `daemoneye rules`: the detection rules seen from outside.
 *
 *   rules list [--json]      every rule of the set the agent loads
 *   rules show ID            one rule in full
 *   rules validate FILE...   check rule files (YAML, fields, SQL under the guard)
 *   rules test FILE          run a file's rules over the current store and
 *                            print what they would alert on
 *   rules enable|disable ID  persist an override in STATE/rules.state
 *   rules reload             validate the set, then SIGHUP the agent
 *
 * The set is the one the agent loads (rulepack.h): the built-in pack,
 * /etc/daemoneye/rules.d, each --rules-dir, then the overrides file.
 * Validation compiles every rule on an in-memory database with the
 * store's schema under the rule guard, so what passes here loads there.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clistore.h"
#include "commands.h"
#include "emit.h"
#include "log.h"
#include "rulepack.h"
#include "sqlout.h"
#include "statedir.h"

#define MAX_DIRS 16

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye rules list [--json]\n"
		"       daemoneye rules show ID\n"
		"       daemoneye rules validate FILE...\n"
		"       daemoneye rules test FILE [--format table|json|csv] [--db FILE]\n"
		"       daemoneye rules enable ID | disable ID\n"
		"       daemoneye rules reload\n"
		"\n"
		"Detection rules: the built-in pack, " DE_RULES_SYSTEM_DIR ", and each\n"
		"--rules-dir, with the enable/disable overrides of STATE/rules.state.\n"
		"\n"
		"Actions:\n"
		"  list      id, severity, state, schedule, MITRE ids and name of every rule\n"
		"  show      every field of one rule, its file and line, its SQL\n"
		"  validate  check FILEs: YAML, fields, SQL compiled under the rule guard;\n"
		"            prints 'FILE: ok (N rules)' or 'FILE:LINE: rule ID: reason'\n"
		"  test      run FILE's rules over the current store (every stored event for\n"
		"            incremental rules, the whole store for scheduled ones) and print\n"
		"            what they would alert on, once per (rule, process, dedup key)\n"
		"  enable, disable  record the choice in STATE/rules.state (it survives\n"
		"            restarts); the agent applies it at its next reload\n"
		"  reload    validate the whole set, then signal the agent (SIGHUP through\n"
		"            STATE/agent.pid); a set that does not validate is not sent\n"
		"\n"
		"Options:\n"
		"      --rules-dir DIR  also load DIR (repeatable)\n"
		"      --no-builtin     leave the built-in pack out\n"
		"      --json           list: one JSON object per rule\n"
		"  -f, --format FMT     test: table (default), json or csv\n"
		"      --db FILE        test: read this store file instead of STATE/store.db\n"
		DE_CLI_COMMON_HELP
		"\n"
		"Exit status: 0 success, 1 invalid rules or failure, 2 usage.\n");
}

enum { OPT_RULES_DIR = 0x2000, OPT_NO_BUILTIN, OPT_JSON, OPT_DB };

struct opts {
	struct de_cli_common common;
	const char *dirs[MAX_DIRS + 2];
	size_t n_dirs;
	bool no_builtin, json, help;
	int fmt;
	const char *db;
	char overrides[4096];
};

static int usage_error(const char *msg, const char *arg)
{
	struct de_buf b = DE_BUF_INIT;
	if (arg)
		de_emit_text(&b, arg, strlen(arg));
	fprintf(stderr, "daemoneye rules: %s%s%s\n", msg, arg ? ": " : "", arg ? de_buf_str(&b) : "");
	fprintf(stderr, "See 'daemoneye rules --help'.\n");
	de_buf_free(&b);
	return DE_EXIT_USAGE;
}

/* Print err (may name files: escaped) on stderr. */
static void report(const char *err)
{
	struct de_buf b = DE_BUF_INIT;
	de_emit_text(&b, err, strlen(err));
	fprintf(stderr, "%s\n", de_buf_str(&b));
	de_buf_free(&b);
}

static int state_file(const struct opts *o, enum de_state_item item, char *out, size_t n)
{
	char dir[4096];
	if (de_cli_state_dir(&o->common, dir, sizeof(dir)) != DE_EXIT_OK)
		return -1;
	if (de_state_path(dir, item, out, n) < 0) {
		log_error("state directory path too long");
		return -1;
	}
	return 0;
}

/* A guard over an empty in-memory store: the schema rules compile against. */
struct schema {
	struct de_store *store;
	struct de_sqlguard_policy pol;
	struct de_sqlguard *g;
};

static int schema_open(struct schema *s)
{
	char why[512];
	struct de_store_opts so = { .path = ":memory:" };
	memset(s, 0, sizeof(*s));
	if (!(s->store = de_store_open(&so, why, sizeof(why)))) {
		log_error("store schema: %s", why);
		return -1;
	}
	s->pol = (struct de_sqlguard_policy){ .readable = de_store_published };
	if (!(s->g = de_sqlguard_wrap(de_store_db(s->store), &s->pol, why, sizeof(why)))) {
		log_error("rule guard: %s", why);
		de_store_close(s->store);
		return -1;
	}
	return 0;
}

static void schema_close(struct schema *s)
{
	de_sqlguard_free(s->g);
	de_store_close(s->store);
}

/* The set the agent would load, validated. */
static int load_set(struct opts *o, struct de_ruleset *rs, bool validate)
{
	if (state_file(o, DE_STATE_RULES_STATE, o->overrides, sizeof(o->overrides)) < 0)
		return -1;
	struct de_rulepack_src src = { .no_builtin = o->no_builtin, .dirs = o->dirs,
				       .overrides = o->overrides };
	char err[2048];
	if (de_rulepack_load(rs, &src, err, sizeof(err)) < 0) {
		report(err);
		return -1;
	}
	if (!validate)
		return 0;
	struct schema sc;
	if (schema_open(&sc) < 0)
		return -1;
	int rc = de_rules_validate(rs, sc.g, err, sizeof(err));
	schema_close(&sc);
	if (rc < 0) {
		report(err);
		de_ruleset_free(rs);
		return -1;
	}
	return 0;
}

static const struct de_rule *find_rule(const struct de_ruleset *rs, const char *id)
{
	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->rules[i].id, id) == 0)
			return &rs->rules[i];
	return NULL;
}

static void put_list(struct de_buf *b, const struct de_rule_list *l, const char *sep)
{
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			de_buf_puts(b, sep);
		de_emit_text(b, l->v[i], strlen(l->v[i]));
	}
}

static void json_list(struct de_json *j, const char *key, const struct de_rule_list *l)
{
	de_json_key(j, key);
	de_json_arr_begin(j);
	for (size_t i = 0; i < l->n; i++)
		de_json_cstr(j, l->v[i]);
	de_json_arr_end(j);
}

static void rule_json(struct de_buf *b, const struct de_rule *r)
{
	struct de_json j;
	de_json_init(&j, b);
	de_json_obj_begin(&j);
	de_json_key(&j, "id");
	de_json_cstr(&j, r->id);
	de_json_key(&j, "name");
	de_json_cstr(&j, r->name);
	de_json_key(&j, "severity");
	de_json_cstr(&j, de_severity_name(r->severity));
	de_json_key(&j, "enabled");
	de_json_bool(&j, r->enabled);
	json_list(&j, "mitre", &r->mitre);
	json_list(&j, "tags", &r->tags);
	de_json_key(&j, "schedule_s");
	de_json_uint(&j, r->schedule_s);
	de_json_key(&j, "window_s");
	de_json_uint(&j, r->window_s);
	de_json_key(&j, "dedup_key");
	de_json_cstr(&j, r->dedup_key);
	de_json_key(&j, "file");
	de_json_cstr(&j, r->file);
	de_json_key(&j, "line");
	de_json_uint(&j, r->line);
	de_json_key(&j, "description");
	de_json_cstr(&j, r->description);
	de_json_key(&j, "sql");
	de_json_cstr(&j, r->sql);
	de_json_obj_end(&j);
	de_buf_putc(b, '\n');
}

static int do_list(struct opts *o)
{
	struct de_ruleset rs = { 0 };
	if (load_set(o, &rs, false) < 0)
		return DE_EXIT_FAIL;
	struct de_buf b = DE_BUF_INIT;
	if (!o->json)
		de_buf_printf(&b, "%-16s %-8s %-8s %-8s %-28s %s\n", "ID", "SEVERITY", "STATE",
			      "SCHEDULE", "MITRE", "NAME");
	for (size_t i = 0; i < rs.n; i++) {
		const struct de_rule *r = &rs.rules[i];
		if (o->json) {
			rule_json(&b, r);
			continue;
		}
		char sched[24] = "batch";
		if (r->schedule_s)
			snprintf(sched, sizeof(sched), "%llus", (unsigned long long)r->schedule_s);
		struct de_buf m = DE_BUF_INIT;
		put_list(&m, &r->mitre, ",");
		de_buf_printf(&b, "%-16s %-8s %-8s %-8s %-28s ", r->id, de_severity_name(r->severity),
			      r->enabled ? "enabled" : "disabled", sched, de_buf_str(&m));
		de_emit_text(&b, r->name, strlen(r->name));
		de_buf_putc(&b, '\n');
		de_buf_free(&m);
	}
	if (!o->json)
		de_buf_printf(&b, "%zu rules\n", rs.n);
	int rc = b.err || fwrite(b.data, 1, b.len, stdout) != b.len || fflush(stdout) ? DE_EXIT_FAIL
										     : DE_EXIT_OK;
	de_buf_free(&b);
	de_ruleset_free(&rs);
	return rc;
}

static void field(struct de_buf *b, const char *k, const char *v)
{
	de_buf_printf(b, "%-12s ", k);
	if (v)
		de_emit_text(b, v, strlen(v));
	else
		de_buf_putc(b, '-');
	de_buf_putc(b, '\n');
}

static int do_show(struct opts *o, const char *id)
{
	struct de_ruleset rs = { 0 };
	if (load_set(o, &rs, false) < 0)
		return DE_EXIT_FAIL;
	const struct de_rule *r = find_rule(&rs, id);
	if (!r) {
		struct de_buf e = DE_BUF_INIT;
		de_emit_text(&e, id, strlen(id));
		log_error("no rule %s (see 'daemoneye rules list')", de_buf_str(&e));
		de_buf_free(&e);
		de_ruleset_free(&rs);
		return DE_EXIT_FAIL;
	}
	struct de_buf b = DE_BUF_INIT, l = DE_BUF_INIT;
	char num[64];
	field(&b, "id", r->id);
	field(&b, "name", r->name);
	field(&b, "description", r->description);
	field(&b, "severity", de_severity_name(r->severity));
	field(&b, "enabled", r->enabled ? "true" : "false");
	put_list(&l, &r->mitre, ", ");
	field(&b, "mitre", de_buf_str(&l));
	de_buf_reset(&l);
	put_list(&l, &r->tags, ", ");
	field(&b, "tags", de_buf_str(&l));
	de_buf_reset(&l);
	put_list(&l, &r->references, " ");
	field(&b, "references", de_buf_str(&l));
	field(&b, "author", r->author);
	field(&b, "dedup_key", r->dedup_key);
	snprintf(num, sizeof(num), "%llus", (unsigned long long)r->window_s);
	field(&b, "window", num);
	snprintf(num, sizeof(num), "%llus", (unsigned long long)r->schedule_s);
	field(&b, "schedule", r->schedule_s ? num : "every batch (incremental)");
	snprintf(num, sizeof(num), ":%zu", r->line);
	de_buf_printf(&b, "%-12s ", "file");
	de_emit_text(&b, r->file, strlen(r->file));
	de_buf_printf(&b, "%s\nsql:\n", num);
	/* The SQL line by line, each line escaped. */
	for (const char *s = r->sql; *s;) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		de_buf_puts(&b, "  ");
		de_emit_text(&b, s, n);
		de_buf_putc(&b, '\n');
		s += n + (nl ? 1 : 0);
	}
	int rc = b.err || fwrite(b.data, 1, b.len, stdout) != b.len || fflush(stdout) ? DE_EXIT_FAIL
										     : DE_EXIT_OK;
	de_buf_free(&b);
	de_buf_free(&l);
	de_ruleset_free(&rs);
	return rc;
}

static int do_validate(int n, char **files)
{
	struct schema sc;
	if (schema_open(&sc) < 0)
		return DE_EXIT_FAIL;
	int rc = DE_EXIT_OK;
	for (int i = 0; i < n; i++) {
		struct de_ruleset rs = { 0 };
		char err[2048];
		if (de_rules_load_file(&rs, files[i], err, sizeof(err)) < 0 ||
		    de_rules_validate(&rs, sc.g, err, sizeof(err)) < 0) {
			report(err);
			rc = DE_EXIT_FAIL;
		} else {
			struct de_buf b = DE_BUF_INIT;
			de_emit_text(&b, files[i], strlen(files[i]));
			printf("%s: ok (%zu rules)\n", de_buf_str(&b), rs.n);
			de_buf_free(&b);
		}
		de_ruleset_free(&rs);
	}
	schema_close(&sc);
	return fflush(stdout) == 0 ? rc : DE_EXIT_FAIL;
}

/* rules test: each row a rule returns, deduplicated per (rule, entity,
 * key) as the engine would, with the process it is about. */
struct test_ctx {
	const struct de_rule *r;
	int col_entity, col_key;
	struct de_sqlout out;
	sqlite3_stmt *proc;  /* pid, comm, cmdline of an entity */
	char **seen;
	size_t n_seen;
	size_t alerts;
	struct de_sqlguard *g;
};

static int test_row(sqlite3_stmt *st, void *ud)
{
	struct test_ctx *t = ud;
	const char *ent = (const char *)sqlite3_column_text(st, t->col_entity);
	const char *key = t->col_key >= 0 ? (const char *)sqlite3_column_text(st, t->col_key) : NULL;
	struct de_buf k = DE_BUF_INIT;
	de_buf_printf(&k, "%s|%s", ent ? ent : "", key ? key : "");
	for (size_t i = 0; i < t->n_seen; i++)
		if (strcmp(t->seen[i], de_buf_str(&k)) == 0) {
			de_buf_free(&k);
			return 0;
		}
	char **v = realloc(t->seen, (t->n_seen + 1) * sizeof(*v));
	if (!v) {
		de_buf_free(&k);
		return 1;
	}
	t->seen = v;
	t->seen[t->n_seen++] = de_buf_steal(&k);
	t->alerts++;
	/* One output row: rule, entity, key, then the process. */
	sqlite3_bind_text(t->proc, 1, t->r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(t->proc, 2, ent, -1, SQLITE_TRANSIENT);
	if (key)
		sqlite3_bind_text(t->proc, 3, key, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(t->proc, 3);
	int rc = 0;
	if (sqlite3_step(t->proc) == SQLITE_ROW)
		rc = de_sqlout_row(&t->out, t->proc) < 0;
	sqlite3_reset(t->proc);
	return rc;
}

static int do_test(struct opts *o, const char *file)
{
	struct de_ruleset rs = { 0 };
	char err[2048];
	struct schema sc;
	if (schema_open(&sc) < 0)
		return DE_EXIT_FAIL;
	int r = de_rules_load_file(&rs, file, err, sizeof(err));
	if (r == 0)
		r = de_rules_validate(&rs, sc.g, err, sizeof(err));
	schema_close(&sc);
	if (r < 0) {
		report(err);
		de_ruleset_free(&rs);
		return DE_EXIT_FAIL;
	}
	struct de_clistore s;
	if (de_clistore_open(&s, &o->common, o->db, 0, 100000) != DE_EXIT_OK) {
		de_ruleset_free(&rs);
		return DE_EXIT_FAIL;
	}
	int rc = DE_EXIT_OK;
	sqlite3_stmt *proc = NULL;
	char why[DE_SQLGUARD_WHY_MAX];
	/* Through the guard too: only published views. */
	if (de_sqlguard_prepare(s.g, "SELECT ?1 AS rule, ?2 AS entity_id, ?3 AS dedup_key, p.pid, p.comm,"
				     " p.cmdline FROM (SELECT 1) LEFT JOIN processes p ON p.entity_id = ?2",
				&proc, why, sizeof(why)) < 0) {
		log_error("%s", why);
		rc = DE_EXIT_FAIL;
		goto out;
	}
	struct test_ctx t = { .proc = proc, .g = s.g };
	if (de_sqlout_begin(&t.out, (enum de_sqlout_format)o->fmt, stdout, proc) < 0) {
		rc = DE_EXIT_FAIL;
		goto out;
	}
	for (size_t i = 0; i < rs.n; i++) {
		const struct de_rule *rule = &rs.rules[i];
		sqlite3_stmt *st = NULL;
		if (de_sqlguard_prepare(s.g, rule->sql, &st, why, sizeof(why)) < 0) {
			log_error("rule %s: %s", rule->id, why);
			rc = DE_EXIT_FAIL;
			continue;
		}
		t.r = rule;
		t.col_entity = t.col_key = -1;
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const char *n = sqlite3_column_name(st, c);
			if (n && strcmp(n, "entity_id") == 0)
				t.col_entity = c;
			if (n && rule->dedup_key && strcmp(n, rule->dedup_key) == 0)
				t.col_key = c;
		}
		size_t before = t.alerts;
		int64_t n = de_sqlguard_run(s.g, st, test_row, &t, why, sizeof(why));
		if (n < 0) {
			log_error("rule %s: %s", rule->id, why);
			rc = DE_EXIT_FAIL;
		}
		fprintf(stderr, "rule %s: %lld rows, would alert %zu times\n", rule->id,
			(long long)(n < 0 ? 0 : n), t.alerts - before);
		sqlite3_finalize(st);
	}
	if (de_sqlout_end(&t.out) < 0)
		rc = DE_EXIT_FAIL;
	for (size_t i = 0; i < t.n_seen; i++)
		free(t.seen[i]);
	free(t.seen);
out:
	sqlite3_finalize(proc);
	de_clistore_close(&s);
	de_ruleset_free(&rs);
	return rc;
}

static int do_enable(struct opts *o, const char *id, bool enable)
{
	struct de_ruleset rs = { 0 };
	if (load_set(o, &rs, false) < 0)
		return DE_EXIT_FAIL;
	bool known = find_rule(&rs, id) != NULL;
	de_ruleset_free(&rs);
	struct de_buf e = DE_BUF_INIT;
	de_emit_text(&e, id, strlen(id));
	if (!known) {
		log_error("no rule %s in the set (see 'daemoneye rules list')", de_buf_str(&e));
		de_buf_free(&e);
		return DE_EXIT_FAIL;
	}
	char err[4300];
	if (de_rule_override_set(o->overrides, id, enable, err, sizeof(err)) < 0) {
		report(err);
		de_buf_free(&e);
		return DE_EXIT_FAIL;
	}
	printf("rule %s %s (the agent applies it at its next reload: daemoneye rules reload)\n",
	       de_buf_str(&e), enable ? "enabled" : "disabled");
	de_buf_free(&e);
	return fflush(stdout) == 0 ? DE_EXIT_OK : DE_EXIT_FAIL;
}

static int do_reload(struct opts *o)
{
	struct de_ruleset rs = { 0 };
	if (load_set(o, &rs, true) < 0) {
		fprintf(stderr, "daemoneye rules: the rule set does not validate; the agent was not"
				" signalled and keeps its current rules\n");
		return DE_EXIT_FAIL;
	}
	size_t n = rs.n;
	de_ruleset_free(&rs);
	char dir[4096], pidfile[4200];
	if (de_cli_state_dir(&o->common, dir, sizeof(dir)) != DE_EXIT_OK)
		return DE_EXIT_FAIL;
	snprintf(pidfile, sizeof(pidfile), "%s/agent.pid", dir);
	struct de_buf p = DE_BUF_INIT;
	de_emit_text(&p, pidfile, strlen(pidfile));
	FILE *f = fopen(pidfile, "re");
	long pid = 0;
	int rc = DE_EXIT_FAIL;
	if (!f) {
		log_error("no agent is running (%s: %s); %zu rules validated, nothing signalled",
			  de_buf_str(&p), strerror(errno), n);
	} else if (fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
		log_error("%s does not hold a pid; nothing signalled", de_buf_str(&p));
	} else if (kill((pid_t)pid, SIGHUP) < 0) {
		log_error("no agent is running: %s names pid %ld (%s); nothing signalled",
			  de_buf_str(&p), pid, strerror(errno));
	} else {
		printf("%zu rules validated; agent (pid %ld) signalled to reload\n", n, pid);
		rc = fflush(stdout) == 0 ? DE_EXIT_OK : DE_EXIT_FAIL;
	}
	if (f)
		fclose(f);
	de_buf_free(&p);
	return rc;
}

int cmd_rules_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		DE_CLI_COMMON_LONGOPTS,
		{ "rules-dir", required_argument, NULL, OPT_RULES_DIR },
		{ "no-builtin", no_argument, NULL, OPT_NO_BUILTIN },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "format", required_argument, NULL, 'f' },
		{ "db", required_argument, NULL, OPT_DB },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .dirs = { DE_RULES_SYSTEM_DIR }, .n_dirs = 1 };
	int c;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":hf:", longopts, NULL)) != -1) {
		int r = de_cli_common_opt(&o.common, c, optarg);
		if (r < 0)
			return DE_EXIT_USAGE;
		if (r > 0)
			continue;
		switch (c) {
		case 'h':
			o.help = true;
			break;
		case OPT_RULES_DIR:
			if (o.n_dirs >= MAX_DIRS)
				return usage_error("too many --rules-dir", optarg);
			o.dirs[o.n_dirs++] = optarg;
			break;
		case OPT_NO_BUILTIN:
			o.no_builtin = true;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case 'f':
			if ((o.fmt = de_sqlout_format_parse(optarg)) < 0)
				return usage_error("--format must be table, json or csv", optarg);
			break;
		case OPT_DB:
			o.db = optarg;
			break;
		case ':':
			return usage_error("option needs an argument", argv[optind - 1]);
		default: {
			char shortopt[3] = { '-', (char)optopt, '\0' };
			return usage_error("unknown option",
					   optopt > 0 && optopt < 128 ? shortopt : argv[optind - 1]);
		}
		}
	}
	if (o.help) {
		usage(stdout);
		return DE_EXIT_OK;
	}
	if (optind >= argc)
		return usage_error("missing action (list, show, validate, test, enable, disable, reload)",
				   NULL);
	const char *action = argv[optind++];
	int nargs = argc - optind;
	char **args = argv + optind;
	if (strcmp(action, "list") == 0)
		return nargs ? usage_error("unexpected argument", args[0]) : do_list(&o);
	if (strcmp(action, "show") == 0)
		return nargs != 1 ? usage_error("show takes one rule ID", NULL) : do_show(&o, args[0]);
	if (strcmp(action, "validate") == 0)
		return nargs < 1 ? usage_error("validate needs at least one FILE", NULL)
				 : do_validate(nargs, args);
	if (strcmp(action, "test") == 0)
		return nargs != 1 ? usage_error("test takes one FILE", NULL) : do_test(&o, args[0]);
	if (strcmp(action, "enable") == 0 || strcmp(action, "disable") == 0)
		return nargs != 1 ? usage_error("enable/disable take one rule ID", NULL)
				  : do_enable(&o, args[0], action[0] == 'e');
	if (strcmp(action, "reload") == 0)
		return nargs ? usage_error("unexpected argument", args[0]) : do_reload(&o);
	return usage_error("unknown action", action);
}
