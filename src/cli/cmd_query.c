/* cmd_query.c: `daemoneye query "SELECT ..."`: SQL over the event store,
 * under the same guard as detection rules (docs/SCHEMA.md).
 *
 * The statement is compiled by SQLite on a read-only connection with the
 * rule policy (published views only, allow-listed functions, one SELECT,
 * limits, a time budget and a row cap), so a query can read exactly what
 * a rule can and nothing else. --explain prints SQLite's query plan
 * instead of running it (validated the same way first).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clistore.h"
#include "commands.h"
#include "emit.h"
#include "log.h"
#include "sqlout.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye query [OPTIONS] \"SELECT ...\"\n"
		"\n"
		"Run one read-only SQL statement over the event store (STATE/store.db) with\n"
		"the same validator as detection rules: one SELECT (WITH allowed) over the\n"
		"published views (processes, process_events, process_ancestry, executables,\n"
		"alerts, collector_status; docs/SCHEMA.md), allow-listed functions only.\n"
		"\n"
		"Options:\n"
		"  -f, --format FMT  table (default), json (JSON Lines) or csv\n"
		"      --explain     print the query plan instead of the rows\n"
		"      --budget-ms N time budget (default 5000)\n"
		"      --max-rows N  stop after N rows (default 100000; 0: no cap)\n"
		"      --db FILE     read this store file instead of STATE/store.db\n"
		DE_CLI_COMMON_HELP
		"\n"
		"Exit status: 0 success, 1 refused SQL, budget or row cap exceeded, missing\n"
		"store, 2 usage.\n");
}

enum { OPT_EXPLAIN = 0x2000, OPT_BUDGET, OPT_MAX_ROWS, OPT_DB };

static int usage_error(const char *msg, const char *arg)
{
	struct de_buf b = DE_BUF_INIT;
	if (arg)
		de_emit_text(&b, arg, strlen(arg));
	fprintf(stderr, "daemoneye query: %s%s%s\n", msg, arg ? ": " : "", arg ? de_buf_str(&b) : "");
	fprintf(stderr, "See 'daemoneye query --help'.\n");
	de_buf_free(&b);
	return DE_EXIT_USAGE;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || !*s || *end || *s == '-')
		return false;
	*out = v;
	return true;
}

struct run {
	struct de_sqlout out;
};

static int on_row(sqlite3_stmt *st, void *ud)
{
	struct run *r = ud;
	return de_sqlout_row(&r->out, st) < 0;
}

/* EXPLAIN QUERY PLAN rows (id, parent, notused, detail) as an indented tree. */
static int print_plan(struct de_clistore *s, const char *sql)
{
	size_t n = strlen(sql) + 32;
	char *q = malloc(n);
	if (!q)
		return DE_EXIT_FAIL;
	snprintf(q, n, "EXPLAIN QUERY PLAN %s", sql);
	sqlite3_stmt *st = NULL;
	char why[DE_SQLGUARD_WHY_MAX];
	int rc = de_sqlguard_prepare(s->g, q, &st, why, sizeof(why));
	free(q);
	if (rc < 0) {
		log_error("%s", why);
		return DE_EXIT_FAIL;
	}
	int stack[64]; /* ids of the open ancestors */
	int depth = 0;
	printf("QUERY PLAN\n");
	while (sqlite3_step(st) == SQLITE_ROW) {
		int id = sqlite3_column_int(st, 0), parent = sqlite3_column_int(st, 1);
		while (depth > 0 && stack[depth - 1] != parent)
			depth--;
		const char *d = (const char *)sqlite3_column_text(st, 3);
		struct de_buf b = DE_BUF_INIT;
		de_emit_text(&b, d ? d : "", d ? strlen(d) : 0);
		printf("%*s`--%s\n", 2 * depth, "", de_buf_str(&b));
		de_buf_free(&b);
		if (depth < 64)
			stack[depth++] = id;
	}
	sqlite3_finalize(st);
	return fflush(stdout) == 0 ? DE_EXIT_OK : DE_EXIT_FAIL;
}

int cmd_query_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		DE_CLI_COMMON_LONGOPTS,
		{ "format", required_argument, NULL, 'f' },
		{ "explain", no_argument, NULL, OPT_EXPLAIN },
		{ "budget-ms", required_argument, NULL, OPT_BUDGET },
		{ "max-rows", required_argument, NULL, OPT_MAX_ROWS },
		{ "db", required_argument, NULL, OPT_DB },
		{ NULL, 0, NULL, 0 },
	};
	struct de_cli_common common = { 0 };
	int fmt = DE_SQLOUT_TABLE;
	bool explain = false, help = false;
	uint64_t budget = 5000, max_rows = 100000;
	const char *db = NULL;
	int c;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":hf:", longopts, NULL)) != -1) {
		int r = de_cli_common_opt(&common, c, optarg);
		if (r < 0)
			return DE_EXIT_USAGE;
		if (r > 0)
			continue;
		switch (c) {
		case 'h':
			help = true;
			break;
		case 'f':
			if ((fmt = de_sqlout_format_parse(optarg)) < 0)
				return usage_error("--format must be table, json or csv", optarg);
			break;
		case OPT_EXPLAIN:
			explain = true;
			break;
		case OPT_BUDGET:
			if (!parse_u64(optarg, &budget) || budget == 0 || budget > 3600000)
				return usage_error("--budget-ms must be 1..3600000", optarg);
			break;
		case OPT_MAX_ROWS:
			if (!parse_u64(optarg, &max_rows))
				return usage_error("--max-rows must be a number", optarg);
			break;
		case OPT_DB:
			db = optarg;
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
	if (help) {
		usage(stdout);
		return DE_EXIT_OK;
	}
	if (optind >= argc)
		return usage_error("missing the SQL statement", NULL);
	if (optind + 1 < argc)
		return usage_error("one SQL statement, as one argument (quote it)", argv[optind + 1]);
	const char *sql = argv[optind];

	struct de_clistore s;
	if (de_clistore_open(&s, &common, db, (uint32_t)budget, max_rows) != DE_EXIT_OK)
		return DE_EXIT_FAIL;
	sqlite3_stmt *st = NULL;
	char why[DE_SQLGUARD_WHY_MAX];
	int rc = DE_EXIT_OK;
	if (de_sqlguard_prepare(s.g, sql, &st, why, sizeof(why)) < 0) {
		log_error("%s", why);
		rc = DE_EXIT_FAIL;
		goto out;
	}
	if (explain) {
		rc = print_plan(&s, sql);
		goto out;
	}
	struct run r;
	if (de_sqlout_begin(&r.out, (enum de_sqlout_format)fmt, stdout, st) < 0) {
		de_sqlout_end(&r.out);
		log_error("out of memory");
		rc = DE_EXIT_FAIL;
		goto out;
	}
	int64_t n = de_sqlguard_run(s.g, st, on_row, &r, why, sizeof(why));
	int err = de_sqlout_end(&r.out);
	if (n < 0) {
		log_error("%s%s", why, n == -E2BIG ? " (rows before the cap were printed; --max-rows)" : "");
		rc = DE_EXIT_FAIL;
	} else if (err < 0) {
		de_log_errno(DE_LOG_ERROR, err, "writing the result");
		rc = DE_EXIT_FAIL;
	}
out:
	sqlite3_finalize(st);
	de_clistore_close(&s);
	return rc;
}
