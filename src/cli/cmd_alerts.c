/* cmd_alerts.c: `daemoneye alerts`, the alerts in the instance's store.
 *
 *   alerts list   [filters] [--format table|json|csv] [--limit N]
 *   alerts show   ID [--format table|json]
 *   alerts ack    ID...
 *   alerts export [filters] [--format json|csv]   (JSON: the full alert)
 *
 * Filters: --since T, --until T (30m, 2h, 7d ago; epoch seconds;
 * YYYY-MM-DD[THH:MM[:SS]][Z]), --severity MIN, --rule ID, --unacked.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "alertcli.h"
#include "alertdb.h"
#include "cli.h"
#include "commands.h"
#include "emit.h"
#include "log.h"
#include "rules.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye alerts list [FILTERS] [--format table|json|csv] [--limit N]\n"
		"       daemoneye alerts show ID [--format table|json]\n"
		"       daemoneye alerts ack ID...\n"
		"       daemoneye alerts export [FILTERS] [--format json|csv]\n"
		"\n"
		"The alerts in the instance's store (STATE/store.db), newest first for list,\n"
		"oldest first for export.\n"
		"\n"
		"Filters:\n"
		"  --since T         alerts at or after T: 30m, 2h, 7d (ago), epoch seconds,\n"
		"                    or YYYY-MM-DD[THH:MM[:SS]][Z] (UTC)\n"
		"  --until T         alerts before T\n"
		"  --severity SEV    at least SEV: info, low, medium, high, critical\n"
		"  --rule ID         only this rule\n"
		"  --unacked         only alerts not acknowledged\n"
		"Options:\n"
		"  --format F        table (default for list and show), json (JSON Lines;\n"
		"                    default for export), csv\n"
		"  --limit N         at most N rows (list; default 100, 0: all)\n"
		DE_CLI_COMMON_HELP
		"\n"
		"Exit status: 0 success, 1 failure (no such alert, no store), 2 usage.\n");
}

enum { OPT_SINCE = 0x2000, OPT_UNTIL, OPT_SEV, OPT_RULE, OPT_UNACKED, OPT_FORMAT, OPT_LIMIT };

struct opts {
	struct de_cli_common common;
	int64_t since, until;
	int sev;
	const char *rule;
	bool unacked, format_set;
	enum de_out_fmt fmt;
	long limit;
};

static int usage_error(const char *msg, const char *arg)
{
	struct de_buf b = DE_BUF_INIT;
	if (arg)
		de_emit_text(&b, arg, strlen(arg));
	fprintf(stderr, "daemoneye alerts: %s%s%s\nSee 'daemoneye alerts --help'.\n", msg,
		arg ? ": " : "", arg ? de_buf_str(&b) : "");
	de_buf_free(&b);
	return DE_EXIT_USAGE;
}

/* The WHERE clause of the filters (parameters ?1..?4). */
static const char where[] =
	" WHERE (?1 IS NULL OR time_ns >= ?1) AND (?2 IS NULL OR time_ns < ?2)"
	" AND (?3 IS NULL OR rule_id = ?3) AND (?4 = 0 OR acked_ns IS NULL)"
	" AND (CASE severity WHEN 'info' THEN 0 WHEN 'low' THEN 1 WHEN 'medium' THEN 2"
	" WHEN 'high' THEN 3 WHEN 'critical' THEN 4 ELSE 0 END) >= ?5";

static void bind_filters(sqlite3_stmt *st, const struct opts *o)
{
	if (o->since != INT64_MIN)
		sqlite3_bind_int64(st, 1, o->since);
	if (o->until != INT64_MIN)
		sqlite3_bind_int64(st, 2, o->until);
	if (o->rule)
		sqlite3_bind_text(st, 3, o->rule, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, o->unacked);
	sqlite3_bind_int(st, 5, o->sev);
}

static int do_list(sqlite3 *db, const struct opts *o, bool export)
{
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "SELECT id, time_ns, severity, rule_id, rule_name, pid, acked_ns, summary, json"
		 " FROM alert_full%s ORDER BY time_ns %s, id LIMIT ?6",
		 where, export ? "ASC" : "DESC");
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_error("store: %s", sqlite3_errmsg(db));
		return DE_EXIT_FAIL;
	}
	bind_filters(st, o);
	sqlite3_bind_int64(st, 6, o->limit > 0 && !export ? o->limit : -1);
	static const char *const cols[] = { "id", "time", "severity", "rule", "rule_name", "pid",
					    "acked", "summary" };
	static const char *const ecols[] = { "id", "time", "time_ns", "severity", "rule", "rule_name",
					     "pid", "acked_ns", "alert" };
	struct de_out out;
	bool full = export && o->fmt == DE_OUT_JSON;
	if (full)
		de_out_begin(&out, o->fmt, ecols, DE_ARRAY_SIZE(ecols));
	else
		de_out_begin(&out, o->fmt, cols, DE_ARRAY_SIZE(cols));
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char t[40];
		de_out_sql(&out, st, 0);
		de_out_str(&out, de_cli_fmt_time(sqlite3_column_int64(st, 1), t, sizeof(t)));
		if (full)
			de_out_int(&out, sqlite3_column_int64(st, 1));
		de_out_sql(&out, st, 2);
		de_out_sql(&out, st, 3);
		de_out_sql(&out, st, 4);
		de_out_sql(&out, st, 5);
		if (full) {
			de_out_sql(&out, st, 6);
			de_out_json(&out, (const char *)sqlite3_column_text(st, 8));
		} else {
			if (sqlite3_column_type(st, 6) == SQLITE_NULL)
				de_out_str(&out, o->fmt == DE_OUT_TABLE ? "no" : NULL);
			else
				de_out_str(&out, de_cli_fmt_time(sqlite3_column_int64(st, 6), t, sizeof(t)));
			de_out_sql(&out, st, 7);
		}
		de_out_end_row(&out);
	}
	sqlite3_finalize(st);
	int r = de_out_finish(&out);
	if (rc != SQLITE_DONE) {
		log_error("store: %s", sqlite3_errmsg(db));
		return DE_EXIT_FAIL;
	}
	return r < 0 ? DE_EXIT_FAIL : DE_EXIT_OK;
}

static int do_show(sqlite3 *db, const struct opts *o, const char *id)
{
	sqlite3_stmt *st = NULL;
	sqlite3_prepare_v2(db, "SELECT json, acked_ns, time_ns, severity, rule_id, rule_name,"
			   " summary FROM alert_full WHERE id = ?1", -1, &st, NULL);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (!st || sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		struct de_buf e = DE_BUF_INIT;
		de_emit_text(&e, id, strlen(id));
		log_error("no such alert: %s", de_buf_str(&e));
		de_buf_free(&e);
		return DE_EXIT_FAIL;
	}
	struct de_buf b = DE_BUF_INIT;
	char t[40];
	if (o->fmt == DE_OUT_JSON) {
		de_buf_puts(&b, "{\"alert\":");
		de_buf_puts(&b, (const char *)sqlite3_column_text(st, 0));
		de_buf_puts(&b, ",\"acked_ns\":");
		if (sqlite3_column_type(st, 1) == SQLITE_NULL)
			de_buf_puts(&b, "null");
		else
			de_buf_printf(&b, "%lld", (long long)sqlite3_column_int64(st, 1));
		de_buf_puts(&b, ",\"deliveries\":[");
	} else {
		static const char *const lbl[] = { NULL, "acked", "time", "severity", "rule", "rule name",
						   "summary" };
		de_buf_printf(&b, "%-12s %s\n", "id", id);
		for (int i = 2; i <= 6; i++) {
			de_buf_printf(&b, "%-12s ", lbl[i]);
			const char *v = (const char *)sqlite3_column_text(st, i);
			if (i == 2)
				v = de_cli_fmt_time(sqlite3_column_int64(st, 2), t, sizeof(t));
			de_emit_text(&b, v ? v : "-", v ? strlen(v) : 1);
			de_buf_putc(&b, '\n');
		}
		de_buf_printf(&b, "%-12s %s\n", "acked",
			      sqlite3_column_type(st, 1) == SQLITE_NULL
				      ? "no"
				      : de_cli_fmt_time(sqlite3_column_int64(st, 1), t, sizeof(t)));
		de_buf_puts(&b, "alert        ");
		de_emit_text(&b, (const char *)sqlite3_column_text(st, 0),
			     (size_t)sqlite3_column_bytes(st, 0));
		de_buf_puts(&b, "\ndeliveries:\n");
	}
	sqlite3_finalize(st);
	sqlite3_prepare_v2(db, "SELECT id, sink, state, attempts, delivered_ns, last_error FROM"
			   " delivery_t WHERE alert_id = ?1 ORDER BY sink", -1, &st, NULL);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	static const char *const states[] = { "pending", "delivered", "dead-letter" };
	bool first = true;
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		int s = sqlite3_column_int(st, 2);
		const char *sn = (unsigned)s < 3 ? states[s] : "?";
		const char *sink = (const char *)sqlite3_column_text(st, 1);
		const char *err = (const char *)sqlite3_column_text(st, 5);
		if (o->fmt == DE_OUT_JSON) {
			struct de_json j;
			de_json_init(&j, &b);
			if (!first)
				de_buf_putc(&b, ',');
			de_json_obj_begin(&j);
			de_json_key(&j, "delivery_id");
			de_json_int(&j, sqlite3_column_int64(st, 0));
			de_json_key(&j, "sink");
			de_json_cstr(&j, sink);
			de_json_key(&j, "state");
			de_json_cstr(&j, sn);
			de_json_key(&j, "attempts");
			de_json_int(&j, sqlite3_column_int(st, 3));
			de_json_key(&j, "last_error");
			de_json_cstr(&j, err);
			de_json_obj_end(&j);
		} else {
			de_buf_printf(&b, "  %-16s %-11s attempts=%d", sink ? sink : "-", sn,
				      sqlite3_column_int(st, 3));
			if (err) {
				de_buf_puts(&b, " error=");
				de_emit_text(&b, err, strlen(err));
			}
			de_buf_printf(&b, " (delivery %lld)\n", (long long)sqlite3_column_int64(st, 0));
		}
		first = false;
	}
	sqlite3_finalize(st);
	if (o->fmt == DE_OUT_JSON)
		de_buf_puts(&b, "]}\n");
	fwrite(de_buf_str(&b), 1, b.len, stdout);
	de_buf_free(&b);
	return fflush(stdout) == 0 ? DE_EXIT_OK : DE_EXIT_FAIL;
}

static int do_ack(sqlite3 *db, char **ids, int n)
{
	int ret = DE_EXIT_OK;
	for (int i = 0; i < n; i++) {
		int r = de_alertdb_ack(db, ids[i], de_cli_now_ns());
		struct de_buf b = DE_BUF_INIT;
		de_emit_text(&b, ids[i], strlen(ids[i]));
		if (r < 0) {
			log_error("ack %s: %s", de_buf_str(&b), strerror(-r));
			ret = DE_EXIT_FAIL;
		} else if (r == 0) {
			log_error("ack %s: no such alert", de_buf_str(&b));
			ret = DE_EXIT_FAIL;
		} else {
			printf("%s: acknowledged\n", de_buf_str(&b));
		}
		de_buf_free(&b);
	}
	return ret;
}

int cmd_alerts_main(int argc, char **argv)
{
	static const struct option lo[] = {
		DE_CLI_COMMON_LONGOPTS,
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "severity", required_argument, NULL, OPT_SEV },
		{ "rule", required_argument, NULL, OPT_RULE },
		{ "unacked", no_argument, NULL, OPT_UNACKED },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ 0 },
	};
	struct opts o = { .since = INT64_MIN, .until = INT64_MIN, .limit = 100 };
	int opt;
	bool help = false;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		int c = de_cli_common_opt(&o.common, opt, optarg);
		if (c < 0)
			return DE_EXIT_USAGE;
		if (c > 0)
			continue;
		char *end;
		switch (opt) {
		case 'h': help = true; break;
		case OPT_SINCE:
		case OPT_UNTIL:
			if (de_cli_parse_time(optarg, opt == OPT_SINCE ? &o.since : &o.until) < 0)
				return usage_error("not a time (30m, 2h, 7d, epoch seconds, YYYY-MM-DD...)",
						   optarg);
			break;
		case OPT_SEV:
			if ((o.sev = de_severity_parse(optarg)) < 0)
				return usage_error("not a severity (info, low, medium, high, critical)", optarg);
			break;
		case OPT_RULE: o.rule = optarg; break;
		case OPT_UNACKED: o.unacked = true; break;
		case OPT_FORMAT:
			if (de_out_fmt_parse(optarg, &o.fmt) < 0)
				return usage_error("not a format (table, json, csv)", optarg);
			o.format_set = true;
			break;
		case OPT_LIMIT:
			o.limit = strtol(optarg, &end, 10);
			if (*end || o.limit < 0 || end == optarg)
				return usage_error("not a count", optarg);
			break;
		default: return usage_error("unknown option", NULL);
		}
	}
	if (help) {
		usage(stdout);
		return DE_EXIT_OK;
	}
	if (optind >= argc)
		return usage_error("an action is required (list, show, ack, export)", NULL);
	const char *action = argv[optind++];
	int nargs = argc - optind;
	bool list = strcmp(action, "list") == 0, export = strcmp(action, "export") == 0;
	bool show = strcmp(action, "show") == 0, ack = strcmp(action, "ack") == 0;
	if (!list && !export && !show && !ack)
		return usage_error("unknown action", action);
	if ((list || export) && nargs)
		return usage_error("unexpected argument", argv[optind]);
	if (show && nargs != 1)
		return usage_error("show takes one alert id", NULL);
	if (ack && nargs < 1)
		return usage_error("ack takes one or more alert ids", NULL);
	if (export && !o.format_set)
		o.fmt = DE_OUT_JSON;
	if ((export && o.fmt == DE_OUT_TABLE) || (show && o.fmt == DE_OUT_CSV))
		return usage_error("format not available for this action", NULL);
	struct de_config cfg = { 0 };
	if (de_config_init(&cfg) < 0 || de_cli_load_config(&o.common, &cfg) != DE_EXIT_OK) {
		de_config_free(&cfg);
		return DE_EXIT_FAIL;
	}
	de_config_free(&cfg);
	struct de_store *s = de_cli_open_store(&o.common);
	if (!s)
		return DE_EXIT_FAIL;
	sqlite3 *db = de_store_db(s);
	int r = show ? do_show(db, &o, argv[optind])
	      : ack  ? do_ack(db, argv + optind, nargs)
		     : do_list(db, &o, export);
	de_store_close(s);
	return r;
}
