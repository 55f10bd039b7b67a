/* cmd_events.c: `daemoneye events`, the live process event stream.
 *
 * When an agent runs for the state directory (`daemoneye run`), this
 * subscribes to it (agentsub.h) and prints what it stores. Otherwise, or
 * with --local or --source, it runs the collector in-process
 * (collector.h): it picks the event source, takes the startup snapshot
 * (shown only with --snapshot) and prints each event that passes the
 * filters as it arrives. Printing (table or JSON Lines, escaping through
 * emit.h, status events) is evprint.h, shared with `daemoneye run`.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <time.h>

#include "cli.h"
#include "collector.h"
#include "commands.h"
#include "agentsub.h"
#include "emit.h"
#include "evprint.h"
#include "log.h"
#include "statedir.h"

enum { OPT_JSON = 0x2000, OPT_TYPE, OPT_COMM, OPT_UID, OPT_SOURCE, OPT_COUNT, OPT_DURATION,
       OPT_SNAPSHOT, OPT_LOCAL };

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye events [OPTIONS]\n"
		"\n"
		"Stream process events live: exec, fork, exit, and status events (which source\n"
		"is in use, fallbacks and why, lost events). When an agent runs for the state\n"
		"directory ('daemoneye run'), this follows it: the events it stores, as they\n"
		"arrive (snapshot events only when procmond resyncs). Otherwise, or with --local\n"
		"or --source, it runs the collector itself, in this process, so it needs root\n"
		"for the eBPF and netlink sources; unprivileged it falls back to /proc polling\n"
		"(degraded: short-lived processes are missed, exits carry no status).\n"
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
		"                     (implies --local)\n"
		"  --local            run the collector here even when an agent is running\n"
		"  --count N          stop after N matching process events (status events are\n"
		"                     shown but not counted)\n"
		"  --duration SECS    stop after SECS seconds (decimals allowed)\n"
		"\n"
		"Common options:\n" DE_CLI_COMMON_HELP
		"\n"
		"Stops on SIGINT/SIGTERM. Colour is used on a terminal unless NO_COLOR is set.\n");
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

/* Print what a running agent sends until a signal, the duration, the
 * count (-ECANCELED) or the agent's end. Returns 0 or a negative errno. */
static int follow(struct de_agent_sub *s, int64_t duration_ms)
{
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = 0;
	for (;;) {
		int timeout = -1;
		if (duration_ms >= 0) {
			struct timespec t;
			clock_gettime(CLOCK_MONOTONIC, &t);
			int64_t el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
			if (el >= duration_ms)
				break;
			timeout = (int)(duration_ms - el);
		}
		struct pollfd p[2] = { { .fd = s->c.fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		int n = poll(p, 2, timeout);
		if (n < 0 && errno != EINTR) {
			r = de_neg_errno();
			break;
		}
		if (n > 0 && p[1].revents)
			break;
		if (n > 0 && p[0].revents) {
			r = de_agent_sub_read(s);
			if (r == 1) {
				log_error("events: the agent closed the connection");
				r = -ECONNRESET;
				break;
			}
			if (r < 0)
				break;
			r = 0;
		}
	}
	if (r == -ECANCELED)
		r = 0;
	if (r < 0 && r != -ECONNRESET)
		de_log_errno(DE_LOG_ERROR, r, "events: following the agent");
	if (sfd >= 0)
		close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
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
		{ "local", no_argument, NULL, OPT_LOCAL },
		{ 0 },
	};
	struct de_cli_common common = { 0 };
	struct de_evprint e;
	de_evprint_init(&e);
	bool snapshot = false, local = false;
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
			if (de_evprint_parse_types(&e, optarg) < 0)
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
		case OPT_LOCAL:
			local = true;
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
		.sink = de_evprint_event,
		.sink_ud = &e,
		.stop_on_signals = true,
		.table = true,
		.hash = true,
	};
	struct de_collector *c = NULL;
	char why[1024];
	de_evprint_header(&e);
	/* A running agent: follow it (unless a source is forced or --local). */
	char state[4096];
	if (!source && !local && de_state_dir(common.state_dir, state, sizeof(state)) == 0) {
		struct de_agent_sub sub = { .on_event = de_evprint_event, .ud = &e };
		if (de_agent_sub_open(&sub, state, DE_IPC_CAP_EVENTS, why, sizeof(why)) == 0) {
			ret = follow(&sub, duration_ms) < 0 ? DE_EXIT_FAIL : DE_EXIT_OK;
			de_agent_sub_close(&sub);
			goto out;
		}
		log_debug("events: no agent to follow (%s): running the collector here", why);
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
	de_evprint_free(&e);
	de_config_free(&cfg);
	return ret;
}
