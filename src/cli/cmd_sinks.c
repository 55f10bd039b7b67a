/* cmd_sinks.c: `daemoneye sinks`, alert delivery seen from outside.
 *
 *   sinks status [--format table|json|csv]   per sink: delivered, pending,
 *                                            dead-letter counts, breaker, last error
 *   sinks dead   [--sink NAME] [--format F]  the dead letters
 *   sinks retry  ID... | --all [--sink NAME] requeue dead letters
 *   sinks test   NAME [--severity SEV]       send a test alert now (not queued)
 *
 * status, dead and retry work on the store (STATE/store.db); the running
 * agent's delivery workers pick requeued rows up within a second. test
 * works on the configuration (--config FILE or the default files) and
 * sends directly, so it also checks a sink before the agent uses it.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "alertcli.h"
#include "alertdb.h"
#include "cli.h"
#include "commands.h"
#include "emit.h"
#include "log.h"
#include "sink.h"
#include "sinkcfg.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye sinks status [--format table|json|csv]\n"
		"       daemoneye sinks dead [--sink NAME] [--format table|json|csv]\n"
		"       daemoneye sinks retry ID... | --all [--sink NAME]\n"
		"       daemoneye sinks test NAME [--severity SEV]\n"
		"\n"
		"Alert delivery: the state of each sink (alerting.sinks in the configuration),\n"
		"its dead letters (deliveries that failed for good), requeueing them, and\n"
		"sending a test alert through one sink.\n"
		"\n"
		"Actions:\n"
		"  status    per sink: delivered, pending and dead-letter counts, circuit breaker\n"
		"            (as last recorded by the agent), last error\n"
		"  dead      the dead letters: delivery id, sink, alert id, attempts, reason\n"
		"  retry     put dead letters back in their sink's queue (by delivery id, or\n"
		"            --all of them, of one sink with --sink)\n"
		"  test      render a test alert for sink NAME and send it now; prints the\n"
		"            outcome (exit 1 on failure)\n"
		"\n"
		"Options:\n"
		"  --format F        table (default), json (JSON Lines), csv\n"
		"  --sink NAME       only this sink (dead, retry --all)\n"
		"  --all             retry every dead letter\n"
		"  --severity SEV    severity of the test alert (default high)\n"
		DE_CLI_COMMON_HELP
		"\n"
		"Exit status: 0 success, 1 failure, 2 usage.\n");
}

enum { OPT_FORMAT = 0x2000, OPT_SINK, OPT_ALL, OPT_SEV };

struct opts {
	struct de_cli_common common;
	enum de_out_fmt fmt;
	const char *sink;
	bool all;
	int sev;
};

static int usage_error(const char *msg, const char *arg)
{
	struct de_buf b = DE_BUF_INIT;
	if (arg)
		de_emit_text(&b, arg, strlen(arg));
	fprintf(stderr, "daemoneye sinks: %s%s%s\nSee 'daemoneye sinks --help'.\n", msg,
		arg ? ": " : "", arg ? de_buf_str(&b) : "");
	de_buf_free(&b);
	return DE_EXIT_USAGE;
}

static int do_status(sqlite3 *db, const struct opts *o, const struct de_sinks_cfg *sc)
{
	static const char sql[] =
		"WITH names(name) AS (SELECT name FROM sink_t UNION SELECT DISTINCT sink FROM delivery_t"
		" UNION SELECT value FROM json_each(?1))"
		" SELECT n.name, s.type, s.breaker,"
		" (SELECT count(*) FROM delivery_t d WHERE d.sink = n.name AND d.state = 1),"
		" (SELECT count(*) FROM delivery_t d WHERE d.sink = n.name AND d.state = 0),"
		" (SELECT count(*) FROM delivery_t d WHERE d.sink = n.name AND d.state = 2),"
		" s.last_error, s.last_error_ns, s.last_ok_ns"
		" FROM names n LEFT JOIN sink_t s ON s.name = n.name ORDER BY n.name";
	struct de_buf names = DE_BUF_INIT;
	struct de_json j;
	de_json_init(&j, &names);
	de_json_arr_begin(&j);
	for (size_t i = 0; i < sc->n; i++)
		de_json_cstr(&j, sc->v[i].name);
	de_json_arr_end(&j);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_error("store: %s", sqlite3_errmsg(db));
		de_buf_free(&names);
		return DE_EXIT_FAIL;
	}
	sqlite3_bind_text(st, 1, de_buf_str(&names), -1, SQLITE_STATIC);
	static const char *const cols[] = { "sink", "type", "configured", "delivered", "pending",
					    "dead", "breaker", "last_error", "last_error_time",
					    "last_ok_time" };
	struct de_out out;
	de_out_begin(&out, o->fmt, cols, DE_ARRAY_SIZE(cols));
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const struct de_sink_cfg *c = name ? de_sinks_cfg_find(sc, name) : NULL;
		char t[40];
		de_out_str(&out, name);
		if (c)
			de_out_str(&out, de_sink_type_name(c->type));
		else
			de_out_sql(&out, st, 1);
		de_out_str(&out, c ? "yes" : "no");
		de_out_sql(&out, st, 3);
		de_out_sql(&out, st, 4);
		de_out_sql(&out, st, 5);
		if (sqlite3_column_type(st, 2) == SQLITE_NULL)
			de_out_str(&out, "unknown");
		else
			de_out_sql(&out, st, 2);
		de_out_sql(&out, st, 6);
		for (int i = 7; i <= 8; i++)
			de_out_str(&out, sqlite3_column_type(st, i) == SQLITE_NULL
						 ? NULL
						 : de_cli_fmt_time(sqlite3_column_int64(st, i), t, sizeof(t)));
		de_out_end_row(&out);
	}
	sqlite3_finalize(st);
	de_buf_free(&names);
	int r = de_out_finish(&out);
	if (rc != SQLITE_DONE) {
		log_error("store: %s", sqlite3_errmsg(db));
		return DE_EXIT_FAIL;
	}
	return r < 0 ? DE_EXIT_FAIL : DE_EXIT_OK;
}

static int do_dead(sqlite3 *db, const struct opts *o)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT id, sink, alert_id, attempts, updated_ns, last_error"
			       " FROM delivery_t WHERE state = 2 AND (?1 IS NULL OR sink = ?1)"
			       " ORDER BY sink, seq", -1, &st, NULL) != SQLITE_OK) {
		log_error("store: %s", sqlite3_errmsg(db));
		return DE_EXIT_FAIL;
	}
	if (o->sink)
		sqlite3_bind_text(st, 1, o->sink, -1, SQLITE_STATIC);
	static const char *const cols[] = { "id", "sink", "alert_id", "attempts", "time", "reason" };
	struct de_out out;
	de_out_begin(&out, o->fmt, cols, DE_ARRAY_SIZE(cols));
	while (sqlite3_step(st) == SQLITE_ROW) {
		char t[40];
		for (int i = 0; i < 4; i++)
			de_out_sql(&out, st, i);
		de_out_str(&out, de_cli_fmt_time(sqlite3_column_int64(st, 4), t, sizeof(t)));
		de_out_sql(&out, st, 5);
		de_out_end_row(&out);
	}
	sqlite3_finalize(st);
	return de_out_finish(&out) < 0 ? DE_EXIT_FAIL : DE_EXIT_OK;
}

static int do_retry(sqlite3 *db, const struct opts *o, char **ids, int n)
{
	if (o->all) {
		int64_t r = de_alertdb_retry(db, 0, o->sink);
		if (r < 0) {
			log_error("retry: %s", strerror((int)-r));
			return DE_EXIT_FAIL;
		}
		printf("requeued %lld dead letter%s\n", (long long)r, r == 1 ? "" : "s");
		return DE_EXIT_OK;
	}
	int ret = DE_EXIT_OK;
	for (int i = 0; i < n; i++) {
		char *end;
		long long id = strtoll(ids[i], &end, 10);
		int64_t r = *end || id <= 0 ? -EINVAL : de_alertdb_retry(db, id, NULL);
		struct de_buf b = DE_BUF_INIT;
		de_emit_text(&b, ids[i], strlen(ids[i]));
		if (r <= 0) {
			log_error("retry %s: %s", de_buf_str(&b),
				  r == 0 ? "no dead letter with this id" : strerror((int)-r));
			ret = DE_EXIT_FAIL;
		} else {
			printf("requeued %s\n", de_buf_str(&b));
		}
		de_buf_free(&b);
	}
	return ret;
}

static int do_test(const struct opts *o, const struct de_sinks_cfg *sc, const char *name)
{
	struct de_buf en = DE_BUF_INIT;
	de_emit_text(&en, name, strlen(name));
	const struct de_sink_cfg *c = de_sinks_cfg_find(sc, name);
	int ret = DE_EXIT_FAIL;
	if (!c) {
		log_error("no sink named %s in the configuration (alerting.sinks)", de_buf_str(&en));
		goto out;
	}
	char why[256];
	struct de_sink *s = de_sink_open(c, why, sizeof(why));
	if (!s) {
		log_error("sink %s: %s", de_buf_str(&en), why);
		goto out;
	}
	struct de_alert a;
	struct de_alert_storage stg;
	de_alert_sample(&a, &stg, (enum de_severity)o->sev);
	struct de_buf p = DE_BUF_INIT;
	s->ops->render(s, &a, &p);
	struct de_sink_result r = { 0 };
	int e = s->ops->send(s, a.id, de_buf_str(&p), p.len, &r);
	if (e == 0 && s->ops->flush)
		e = s->ops->flush(s, &r);
	if (e < 0) {
		log_error("sink %s: test alert %s not delivered: %s%s", de_buf_str(&en), a.id,
			  r.why[0] ? r.why : strerror(-e), r.permanent ? " (would be dead-lettered)" : "");
	} else {
		fprintf(stderr, "sink %s: test alert %s delivered\n", de_buf_str(&en), a.id);
		ret = DE_EXIT_OK;
	}
	de_buf_free(&p);
	de_sink_close(s);
out:
	de_buf_free(&en);
	return ret;
}

int cmd_sinks_main(int argc, char **argv)
{
	static const struct option lo[] = {
		DE_CLI_COMMON_LONGOPTS,
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "sink", required_argument, NULL, OPT_SINK },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "severity", required_argument, NULL, OPT_SEV },
		{ 0 },
	};
	struct opts o = { .sev = DE_SEV_HIGH };
	bool help = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		int c = de_cli_common_opt(&o.common, opt, optarg);
		if (c < 0)
			return DE_EXIT_USAGE;
		if (c > 0)
			continue;
		switch (opt) {
		case 'h': help = true; break;
		case OPT_FORMAT:
			if (de_out_fmt_parse(optarg, &o.fmt) < 0)
				return usage_error("not a format (table, json, csv)", optarg);
			break;
		case OPT_SINK: o.sink = optarg; break;
		case OPT_ALL: o.all = true; break;
		case OPT_SEV:
			if ((o.sev = de_severity_parse(optarg)) < 0)
				return usage_error("not a severity (info, low, medium, high, critical)", optarg);
			break;
		default: return usage_error("unknown option", NULL);
		}
	}
	if (help) {
		usage(stdout);
		return DE_EXIT_OK;
	}
	if (optind >= argc)
		return usage_error("an action is required (status, dead, retry, test)", NULL);
	const char *action = argv[optind++];
	int nargs = argc - optind;
	bool status = !strcmp(action, "status"), dead = !strcmp(action, "dead");
	bool retry = !strcmp(action, "retry"), test = !strcmp(action, "test");
	if (!status && !dead && !retry && !test)
		return usage_error("unknown action", action);
	if ((status || dead) && nargs)
		return usage_error("unexpected argument", argv[optind]);
	if (retry && (o.all ? nargs != 0 : nargs < 1))
		return usage_error("retry takes delivery ids or --all (not both)", NULL);
	if (test && nargs != 1)
		return usage_error("test takes one sink name", NULL);
	struct de_config cfg = { 0 };
	if (de_config_init(&cfg) < 0 || de_cli_load_config(&o.common, &cfg) != DE_EXIT_OK) {
		de_config_free(&cfg);
		return DE_EXIT_FAIL;
	}
	de_config_free(&cfg);
	int ret = DE_EXIT_FAIL;
	struct de_sinks_cfg *sc = calloc(1, sizeof(*sc));
	char err[512];
	if (!sc)
		return DE_EXIT_FAIL;
	if ((status || test) && de_sinks_cfg_load_default(sc, o.common.config_file, err, sizeof(err)) < 0) {
		log_error("configuration: %s", err);
		goto out;
	}
	if (test) {
		signal(SIGPIPE, SIG_IGN); /* a sink that hangs up fails the test, not the CLI */
		ret = do_test(&o, sc, argv[optind]);
		goto out;
	}
	struct de_store *s = de_cli_open_store(&o.common);
	if (!s)
		goto out;
	sqlite3 *db = de_store_db(s);
	ret = status ? do_status(db, &o, sc) : dead ? do_dead(db, &o) : do_retry(db, &o, argv + optind, nargs);
	de_store_close(s);
out:
	de_sinks_cfg_free(sc);
	free(sc);
	return ret;
}
