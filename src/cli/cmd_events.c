/* cmd_events.c: `daemoneye events`, the live process event stream.
 *
 * There is no agent daemon yet, so this runs the collector in-process
 * (collector.h): it picks the event source, takes the startup snapshot
 * (shown only with --snapshot) and prints each event that passes the
 * filters as it arrives, one line each, flushed, as an aligned table or
 * JSON Lines. Every byte that came from a process (comm, argv, paths)
 * goes through emit.h, so hostile command lines stay valid JSON and reach
 * a terminal without control bytes. Status events (source choice,
 * fallbacks, drops) are output like any other type; when --type leaves
 * them out, drops and fallbacks are still logged on stderr, never lost.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "collector.h"
#include "commands.h"
#include "emit.h"
#include "hash.h"
#include "log.h"
#include "procfmt.h"

#define EV_TABLE_ARGV_MAX 4096 /* table: escaped argv bytes shown (JSON: all) */

enum { OPT_JSON = 0x2000, OPT_TYPE, OPT_COMM, OPT_UID, OPT_SOURCE, OPT_COUNT, OPT_DURATION,
       OPT_SNAPSHOT };

struct events {
	bool json, color;
	unsigned types;        /* bit per enum de_event_type */
	const char *comm;
	int64_t uid;           /* -1: any */
	uint64_t count;        /* 0: no limit */
	uint64_t matched;
	struct de_buf line;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye events [OPTIONS]\n"
		"\n"
		"Stream process events live: exec, fork, exit, and status events (which source\n"
		"is in use, fallbacks and why, lost events). There is no agent daemon yet: this\n"
		"runs the collector itself, in this process, so it needs root for the eBPF and\n"
		"netlink sources; unprivileged it falls back to /proc polling (degraded: short-\n"
		"lived processes are missed, exits carry no status).\n"
		"\n"
		"Output:\n"
		"  (default)          aligned table: time, type, pid, ppid, uid, comm, then argv\n"
		"                     (exec, snapshot), exit code or signal (exit), or the detail\n"
		"                     (status); control bytes escaped\n"
		"  --json             JSON Lines: one object per event with every field\n"
		"\n"
		"Selection (all must match):\n"
		"  --type LIST        comma-separated event types: exec, fork, exit, snapshot,\n"
		"                     status (default: exec,fork,exit,status)\n"
		"  --snapshot         also show the startup snapshot (one 'snapshot' event per\n"
		"                     running process)\n"
		"  --comm NAME        only processes whose comm is exactly NAME\n"
		"  --uid N            only processes whose real uid is N (events that do not\n"
		"                     carry creds, e.g. exits, never match)\n"
		"                     (--comm and --uid do not apply to status events)\n"
		"\n"
		"Source and duration:\n"
		"  --source SRC       ebpf, netlink, proc, or auto (default: collector.source);\n"
		"                     a forced source that cannot start is an error that says why\n"
		"  --count N          stop after N matching process events (status events are\n"
		"                     shown but not counted)\n"
		"  --duration SECS    stop after SECS seconds (decimals allowed)\n"
		"\n"
		"Common options:\n" DE_CLI_COMMON_HELP
		"\n"
		"Stops on SIGINT/SIGTERM. Colour is used on a terminal unless NO_COLOR is set.\n");
}

static int parse_types(struct events *e, const char *list)
{
	char *copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	int r = 0;
	e->types = 0;
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int ty = de_event_type_parse(t);
		if (ty < 0) {
			log_error("--type: unknown event type '%s' (exec, fork, exit, snapshot, status)", t);
			r = -EINVAL;
			break;
		}
		e->types |= 1u << ty;
	}
	free(copy);
	if (!r && !e->types) {
		log_error("--type: empty list");
		r = -EINVAL;
	}
	return r;
}

static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || errno || *s == '-' || v < min || v > max) {
		log_error("%s: expected an integer from %" PRIu64 " to %" PRIu64 ", got '%s'", opt,
			  min, max, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static bool matches(const struct events *e, const struct de_event *ev)
{
	if (!(e->types & (1u << ev->type)))
		return false;
	if (ev->type == DE_EV_STATUS)
		return true; /* about the source, not a process: --comm/--uid do not apply */
	if (e->comm && strcmp(ev->comm, e->comm) != 0)
		return false;
	if (e->uid >= 0 && (!(ev->have & DE_EVF_CREDS) || ev->uid[DE_ID_REAL] != (uint32_t)e->uid))
		return false;
	return true;
}

static void put_entity(struct de_json *j, const char *key, const uint8_t id[DE_ENTITY_ID_LEN],
		       bool known)
{
	de_json_key(j, key);
	if (!known) {
		de_json_null(j);
		return;
	}
	char hex[DE_ENTITY_HEX_LEN];
	de_entity_hex(id, hex);
	de_json_cstr(j, hex);
}

static void put_ids(struct de_json *j, const char *key, const uint32_t ids[4], bool known)
{
	de_json_key(j, key);
	if (!known) {
		de_json_null(j);
		return;
	}
	de_json_arr_begin(j);
	for (int i = 0; i < 4; i++)
		de_json_uint(j, ids[i]);
	de_json_arr_end(j);
}

/* One event as a JSON object: every field, null where unknown. */
static void event_json(struct de_buf *b, const struct de_event *ev)
{
	struct de_json j;
	de_json_init(&j, b);
	de_json_obj_begin(&j);
	de_json_key(&j, "seq");
	de_json_uint(&j, ev->seq);
	de_json_key(&j, "time");
	struct de_buf t = DE_BUF_INIT;
	de_fmt_time_ns(&t, ev->time_ns);
	de_json_str(&j, de_buf_str(&t), t.len);
	de_buf_free(&t);
	de_json_key(&j, "time_ns");
	de_json_int(&j, ev->time_ns);
	de_json_key(&j, "type");
	de_json_cstr(&j, de_event_type_name(ev->type));
	de_json_key(&j, "source");
	de_json_cstr(&j, de_event_source_name(ev->source));
	if (ev->type == DE_EV_STATUS) {
		de_json_key(&j, "status");
		de_json_cstr(&j, de_status_kind_name(ev->status));
		de_json_key(&j, "detail");
		de_json_cstr(&j, ev->detail);
		if (ev->status == DE_ST_DROPS) {
			de_json_key(&j, "drops");
			de_json_obj_begin(&j);
			de_json_key(&j, "unknown_type");
			de_json_uint(&j, ev->drops[0]);
			for (int k = 1; k < DE_EV__COUNT; k++) {
				de_json_key(&j, de_event_type_name((enum de_event_type)k));
				de_json_uint(&j, ev->drops[k]);
			}
			de_json_obj_end(&j);
		}
		de_json_obj_end(&j);
		return;
	}
	bool known_id = ev->start_ticks != 0;
	de_json_key(&j, "partial");
	de_json_bool(&j, ev->partial);
	de_json_key(&j, "detail");
	de_json_cstr(&j, ev->detail);
	de_json_key(&j, "pid");
	de_json_int(&j, ev->pid);
	de_json_key(&j, "tid");
	de_json_int(&j, ev->tid);
	de_json_key(&j, "ppid");
	if (ev->ppid > 0)
		de_json_int(&j, ev->ppid);
	else
		de_json_null(&j);
	de_json_key(&j, "start_ticks");
	if (known_id)
		de_json_uint(&j, ev->start_ticks);
	else
		de_json_null(&j);
	put_entity(&j, "entity_id", ev->entity_id, known_id);
	put_entity(&j, "parent_entity_id", ev->parent_entity_id, ev->have & DE_EVF_PARENT);
	de_json_key(&j, "comm");
	if (ev->comm[0])
		de_json_str(&j, ev->comm, strnlen(ev->comm, sizeof(ev->comm)));
	else
		de_json_null(&j);
	put_ids(&j, "uid", ev->uid, ev->have & DE_EVF_CREDS);
	put_ids(&j, "gid", ev->gid, ev->have & DE_EVF_CREDS);
	bool lu = ev->have & DE_EVF_LOGINUID;
	de_json_key(&j, "loginuid");
	lu ? de_json_uint(&j, ev->loginuid) : de_json_null(&j);
	de_json_key(&j, "sessionid");
	lu ? de_json_uint(&j, ev->sessionid) : de_json_null(&j);
	de_json_key(&j, "filename");
	de_json_cstr(&j, ev->have & DE_EVF_FILENAME ? ev->filename : NULL);
	bool av = ev->have & DE_EVF_ARGV;
	de_json_key(&j, "argv");
	if (av)
		de_json_nul_list(&j, ev->argv, ev->argv_len, ev->argc);
	else
		de_json_null(&j);
	de_json_key(&j, "argv_truncated");
	av ? de_json_bool(&j, ev->argv_truncated) : de_json_null(&j);
	bool exe = ev->have & DE_EVF_EXE;
	de_json_key(&j, "exe");
	de_json_cstr(&j, exe ? ev->exe : NULL);
	de_json_key(&j, "exe_deleted");
	exe ? de_json_bool(&j, ev->exe_deleted) : de_json_null(&j);
	bool eid = ev->have & DE_EVF_EXE_ID;
	de_json_key(&j, "exe_dev");
	eid ? de_json_uint(&j, ev->exe_dev) : de_json_null(&j);
	de_json_key(&j, "exe_ino");
	eid ? de_json_uint(&j, ev->exe_ino) : de_json_null(&j);
	bool cg = ev->have & DE_EVF_CGROUP;
	de_json_key(&j, "cgroup");
	de_json_cstr(&j, cg ? ev->cgroup : NULL);
	de_json_key(&j, "container_id");
	de_json_cstr(&j, cg ? ev->container_id : NULL);
	bool ex = ev->have & DE_EVF_EXIT;
	de_json_key(&j, "exit_code");
	ex ? de_json_int(&j, ev->exit_code) : de_json_null(&j);
	de_json_key(&j, "exit_signal");
	ex ? de_json_int(&j, ev->exit_signal) : de_json_null(&j);
	bool hs = ev->have & DE_EVF_HASH;
	char hex[DE_HASH_HEX_LEN];
	de_json_key(&j, "sha256");
	if (hs && (ev->hashes.algos & DE_HASH_SHA256)) {
		de_hash_hex(ev->hashes.sha256, hex);
		de_json_cstr(&j, hex);
	} else {
		de_json_null(&j);
	}
	de_json_key(&j, "blake3");
	if (hs && (ev->hashes.algos & DE_HASH_BLAKE3)) {
		de_hash_hex(ev->hashes.blake3, hex);
		de_json_cstr(&j, hex);
	} else {
		de_json_null(&j);
	}
	de_json_key(&j, "hash_note");
	de_json_cstr(&j, hs ? NULL : ev->hash_note);
	de_json_key(&j, "proc");
	if (ev->have & DE_EVF_PROC && ev->proc)
		de_proc_json(&j, ev->proc);
	else
		de_json_null(&j);
	de_json_obj_end(&j);
}

static const char *type_color(enum de_event_type t)
{
	switch (t) {
	case DE_EV_EXEC: return "\033[32m";
	case DE_EV_FORK: return "\033[36m";
	case DE_EV_EXIT: return "\033[31m";
	case DE_EV_STATUS: return "\033[33m";
	default: return "";
	}
}

/* The table's last column: argv, exit status, or the status detail. */
static void table_detail(struct de_buf *b, const struct de_event *ev)
{
	if (ev->type == DE_EV_STATUS) {
		de_buf_printf(b, "%s: ", de_status_kind_name(ev->status));
		if (ev->detail)
			de_emit_text(b, ev->detail, strlen(ev->detail));
		return;
	}
	if (ev->type == DE_EV_EXIT) {
		if (!(ev->have & DE_EVF_EXIT))
			de_buf_puts(b, "exit status unknown");
		else if (ev->exit_signal) {
			const char *name = sigabbrev_np(ev->exit_signal);
			de_buf_printf(b, "signal %d (SIG%s)", ev->exit_signal, name ? name : "?");
		} else
			de_buf_printf(b, "exit %d", ev->exit_code);
	} else if (ev->have & DE_EVF_ARGV) {
		size_t start = b->len;
		const char *s = ev->argv, *end = ev->argv + ev->argv_len;
		for (uint32_t i = 0; i < ev->argc && s <= end && b->len - start < EV_TABLE_ARGV_MAX; i++) {
			const char *z = memchr(s, '\0', (size_t)(end - s));
			const char *e = z ? z : end;
			if (i)
				de_buf_putc(b, ' ');
			de_emit_text(b, s, DE_MIN((size_t)(e - s), (size_t)EV_TABLE_ARGV_MAX));
			s = z ? z + 1 : end;
		}
		if (b->len - start >= EV_TABLE_ARGV_MAX || ev->argv_truncated)
			de_buf_puts(b, " ...");
	} else if (ev->type == DE_EV_EXEC || ev->type == DE_EV_SNAPSHOT) {
		de_buf_puts(b, "(argv unknown: process gone before it was read)");
	}
	if (ev->partial)
		de_buf_puts(b, " [partial]");
}

static void table_row(struct events *e, struct de_buf *b, const struct de_event *ev)
{
	time_t secs = (time_t)(ev->time_ns / 1000000000);
	struct tm tm;
	char ts[16] = "?";
	if (localtime_r(&secs, &tm))
		strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	de_buf_printf(b, "%s.%03d ", ts, (int)(ev->time_ns / 1000000 % 1000));
	if (e->color)
		de_buf_puts(b, type_color(ev->type));
	de_buf_printf(b, "%-8s", de_event_type_name(ev->type));
	if (e->color)
		de_buf_puts(b, "\033[0m");
	if (ev->type == DE_EV_STATUS) {
		de_buf_printf(b, " %7s %7s %6s %-16s ", "-", "-", "-", de_event_source_name(ev->source));
	} else {
		de_buf_printf(b, " %7d ", ev->pid);
		if (ev->ppid > 0)
			de_buf_printf(b, "%7d ", ev->ppid);
		else
			de_buf_printf(b, "%7s ", "-");
		if (ev->have & DE_EVF_CREDS)
			de_buf_printf(b, "%6u ", ev->uid[DE_ID_REAL]);
		else
			de_buf_printf(b, "%6s ", "-");
		size_t n = strnlen(ev->comm, sizeof(ev->comm));
		size_t w = n ? de_emit_text_width(ev->comm, n) : 1;
		if (n)
			de_emit_text(b, ev->comm, n);
		else
			de_buf_putc(b, '-');
		for (; w < 16; w++)
			de_buf_putc(b, ' ');
		de_buf_putc(b, ' ');
	}
	table_detail(b, ev);
}

static int on_event(const struct de_event *ev, void *ud)
{
	struct events *e = ud;
	if (e->count && e->matched >= e->count)
		return -ECANCELED;
	if (!matches(e, ev)) {
		if (ev->type == DE_EV_STATUS && ev->status != DE_ST_STARTED &&
		    ev->status != DE_ST_STOPPED && ev->status != DE_ST_RESYNC) {
			struct de_buf b = DE_BUF_INIT;
			if (ev->detail)
				de_emit_text(&b, ev->detail, strlen(ev->detail));
			log_warning("%s: %s", de_status_kind_name(ev->status), de_buf_str(&b));
			de_buf_free(&b);
		}
		return 0;
	}
	de_buf_reset(&e->line);
	if (e->json)
		event_json(&e->line, ev);
	else
		table_row(e, &e->line, ev);
	de_buf_putc(&e->line, '\n');
	if (e->line.err)
		return e->line.err;
	if (fwrite(e->line.data, 1, e->line.len, stdout) != e->line.len || fflush(stdout) != 0)
		return -EIO;
	if (ev->type != DE_EV_STATUS)
		e->matched++;
	return e->count && e->matched >= e->count ? -ECANCELED : 0;
}

int cmd_events_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		DE_CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "comm", required_argument, NULL, OPT_COMM },
		{ "uid", required_argument, NULL, OPT_UID },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "snapshot", no_argument, NULL, OPT_SNAPSHOT },
		{ 0 },
	};
	struct de_cli_common common = { 0 };
	struct events e = { .uid = -1, .line = DE_BUF_INIT };
	e.types = 1u << DE_EV_EXEC | 1u << DE_EV_FORK | 1u << DE_EV_EXIT | 1u << DE_EV_STATUS;
	bool snapshot = false;
	const char *source = NULL;
	int64_t duration_ms = -1;
	int opt, ret = DE_EXIT_OK;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int c = de_cli_common_opt(&common, opt, optarg);
		if (c < 0)
			return DE_EXIT_USAGE;
		if (c > 0)
			continue;
		uint64_t v;
		switch (opt) {
		case 'h':
			usage(stdout);
			return DE_EXIT_OK;
		case OPT_JSON:
			e.json = true;
			break;
		case OPT_TYPE:
			if (parse_types(&e, optarg) < 0)
				return DE_EXIT_USAGE;
			break;
		case OPT_COMM:
			e.comm = optarg;
			break;
		case OPT_UID:
			if (parse_u64("--uid", optarg, 0, UINT32_MAX - 1, &v) < 0)
				return DE_EXIT_USAGE;
			e.uid = (int64_t)v;
			break;
		case OPT_SOURCE:
			if (strcmp(optarg, "auto") && strcmp(optarg, "ebpf") && strcmp(optarg, "netlink") &&
			    strcmp(optarg, "proc")) {
				log_error("--source: expected auto, ebpf, netlink or proc, got '%s'", optarg);
				return DE_EXIT_USAGE;
			}
			source = optarg;
			break;
		case OPT_COUNT:
			if (parse_u64("--count", optarg, 1, UINT64_MAX, &e.count) < 0)
				return DE_EXIT_USAGE;
			break;
		case OPT_DURATION: {
			char *end;
			double d = strtod(optarg, &end);
			if (!*optarg || *end || !(d > 0) || d > 31536000.0) {
				log_error("--duration: expected seconds > 0, got '%s'", optarg);
				return DE_EXIT_USAGE;
			}
			duration_ms = (int64_t)(d * 1000.0 + 0.5);
			break;
		}
		case OPT_SNAPSHOT:
			snapshot = true;
			break;
		default:
			usage(stderr);
			return DE_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return DE_EXIT_USAGE;
	}
	if (snapshot)
		e.types |= 1u << DE_EV_SNAPSHOT;

	struct de_config cfg = { 0 };
	char set[64];
	if (source) {
		snprintf(set, sizeof(set), "collector.source=%s", source);
		if (common.n_overrides >= DE_CLI_MAX_OVERRIDES) {
			log_error("too many --set options");
			return DE_EXIT_USAGE;
		}
		common.overrides[common.n_overrides++] = set;
	}
	if (de_cli_load_config(&common, &cfg) != DE_EXIT_OK)
		return DE_EXIT_FAIL;
	e.color = !e.json && de_cli_use_color();

	struct de_collector_opts co = {
		.cfg = &cfg,
		.source = cfg.collector.source,
		.sink = on_event,
		.sink_ud = &e,
		.stop_on_signals = true,
		.table = true,
		.hash = true,
	};
	struct de_collector *c = NULL;
	char why[1024];
	if (!e.json) {
		printf("%-12s %-8s %7s %7s %6s %-16s %s\n", "TIME", "TYPE", "PID", "PPID", "UID", "COMM",
		       "ARGS / EXIT / DETAIL");
		fflush(stdout);
	}
	int r = de_collector_open(&co, &c, why, sizeof(why));
	if (r < 0) {
		struct de_buf b = DE_BUF_INIT;
		de_emit_text(&b, why, strlen(why));
		log_error("events: %s", de_buf_str(&b));
		de_buf_free(&b);
		ret = DE_EXIT_FAIL;
		goto out;
	}
	if (!(e.count && e.matched >= e.count)) {
		r = de_collector_run(c, duration_ms);
		if (r < 0) {
			de_log_errno(DE_LOG_ERROR, r, "events");
			ret = DE_EXIT_FAIL;
		}
	}
out:
	de_collector_close(c);
	de_buf_free(&e.line);
	de_config_free(&cfg);
	return ret;
}
