/* cmd_status.c: `daemoneye status`, the state of a running instance.
 *
 * Asks the agent (STATE/ipc/agent.sock) for a Status: the agent answers
 * for itself and for procmond (which it asks over their connection). When
 * the agent is not reachable it says so and falls back to the pid files:
 * a component whose pid file names a live daemoneye process is shown as
 * running with what /proc tells (uid, capabilities, CPU, RSS), without the
 * figures only the daemon knows (events/s, drops, queue depth, source).
 * Exit status: 0 when the agent answered and procmond is connected to it,
 * 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentsub.h"
#include "cli.h"
#include "commands.h"
#include "emit.h"
#include "fileio.h"
#include "log.h"
#include "pidfile.h"
#include "privdrop.h"
#include "procparse.h"
#include "statedir.h"

enum { OPT_JSON = 0x2000 };

#define MAX_COMP 4

struct comp {
	char name[32], source[64];
	bool running, from_daemon;
	int32_t pid;
	uint32_t uid;
	uint64_t cap_eff;
	double events_per_sec;
	uint64_t drops, queue_depth, uptime_ns, cpu_ns, rss_bytes;
	uint32_t ledger_state; /* DE_IPC_LEDGER_*: procmond's audit ledger */
	int32_t ledger_errno;
	uint64_t ledger_records, ledger_checkpoint;
};

struct status {
	struct comp c[MAX_COMP];
	size_t n;
	bool answered;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye status [OPTIONS]\n"
		"\n"
		"Show the running daemons of an instance (see 'daemoneye run'): for procmond and\n"
		"the agent, whether it runs, its pid, user, effective capabilities, the event\n"
		"source in use, events per second (since the previous status request, or since\n"
		"start), events dropped, queue depth (procmond: events not yet acknowledged by\n"
		"the agent; agent: bytes queued to CLI clients), uptime, CPU time and RSS, and\n"
		"procmond's audit ledger (recording, not open, or stopped after an error; its\n"
		"records and the size of its last checkpoint).\n"
		"Exit status 0 when the agent answered and procmond is connected to it.\n"
		"\n"
		"Options:\n"
		"  --json             one JSON object\n"
		"\n"
		"Common options:\n" DE_CLI_COMMON_HELP);
}

static void on_status(const struct de_ipc_status *st, void *ud)
{
	struct status *s = ud;
	s->answered = true;
	for (size_t i = 0; i < st->n && s->n < MAX_COMP; i++) {
		const struct de_ipc_component *x = &st->components[i];
		struct comp *c = &s->c[s->n++];
		*c = (struct comp){ .running = true, .from_daemon = true, .pid = x->pid, .uid = x->uid,
				    .cap_eff = x->cap_eff, .events_per_sec = x->events_per_sec,
				    .drops = x->drops, .queue_depth = x->queue_depth,
				    .uptime_ns = x->uptime_ns, .cpu_ns = x->cpu_ns,
				    .rss_bytes = x->rss_bytes, .ledger_state = x->ledger_state,
				    .ledger_errno = x->ledger_errno, .ledger_records = x->ledger_records,
				    .ledger_checkpoint = x->ledger_checkpoint };
		snprintf(c->name, sizeof(c->name), "%s", x->component ? x->component : "?");
		snprintf(c->source, sizeof(c->source), "%s", x->source ? x->source : "");
	}
}

/* Ask the agent; 0 when it answered. */
static int ask_agent(const char *state, struct status *s, char *why, size_t why_len)
{
	struct de_agent_sub sub = { .on_status = on_status, .ud = s };
	int r = de_agent_sub_open(&sub, state, DE_IPC_CAP_STATUS, why, why_len);
	if (r < 0)
		return r;
	bool asked = false;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!s->answered) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		int64_t left = 3000 - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			de_why(why, why_len, "the agent did not answer within 3 s");
			r = -ETIMEDOUT;
			break;
		}
		struct pollfd p = { .fd = sub.c.fd, .events = POLLIN };
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			r = de_neg_errno();
			break;
		}
		r = de_agent_sub_read(&sub);
		if (r == 1 || r < 0) {
			de_why(why, why_len, "the agent closed the connection");
			r = r < 0 ? r : -ECONNRESET;
			break;
		}
		r = 0;
		if (sub.ready && !asked) {
			if ((r = de_agent_sub_request_status(&sub)) < 0)
				break;
			asked = true;
		}
	}
	de_agent_sub_close(&sub);
	return s->answered ? 0 : r;
}

/* What /proc says of a daemon named by its pid file. */
static void from_pidfile(const char *state, enum de_state_item item, const char *name,
			 struct status *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->c[i].name, name) == 0)
			return;
	if (s->n >= MAX_COMP)
		return;
	struct comp *c = &s->c[s->n++];
	*c = (struct comp){ 0 };
	snprintf(c->name, sizeof(c->name), "%s", name);
	char path[4096];
	de_state_path(state, item, path, sizeof(path));
	int pid = de_pidfile_read(path);
	if (pid <= 0)
		return;
	c->running = true;
	c->pid = pid;
	char p[64], buf[8192];
	snprintf(p, sizeof(p), "/proc/%d/status", pid);
	ssize_t len = de_read_file_at(AT_FDCWD, p, buf, sizeof(buf));
	struct de_status st = { 0 };
	if (len > 0 && de_parse_status(buf, (size_t)len, &st) == 0) {
		c->uid = st.uid[DE_ID_EFFECTIVE];
		c->cap_eff = st.cap_eff;
	}
	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	len = de_read_file_at(AT_FDCWD, p, buf, sizeof(buf));
	struct de_stat ps;
	if (len > 0 && de_parse_stat(buf, (size_t)len, &ps) == 0) {
		long tck = sysconf(_SC_CLK_TCK);
		c->cpu_ns = (ps.utime + ps.stime) * (1000000000ull / (uint64_t)tck);
		c->rss_bytes = (uint64_t)DE_MAX(ps.rss, 0) * (uint64_t)sysconf(_SC_PAGESIZE);
	}
}

static void caps_text(uint64_t caps, struct de_buf *b)
{
	de_caps_format(caps, b);
}

static const char *ledger_state_name(uint32_t st)
{
	switch (st) {
	case DE_IPC_LEDGER_RECORDING: return "recording";
	case DE_IPC_LEDGER_NOT_OPEN: return "not open";
	case DE_IPC_LEDGER_STOPPED: return "stopped after an error";
	default: return NULL;
	}
}

/* "ledger": {"state", "error", "records", "checkpoint"} for a component
 * that reports its audit ledger (procmond). */
static void ledger_json(struct de_json *j, const struct comp *c)
{
	const char *name = c->from_daemon ? ledger_state_name(c->ledger_state) : NULL;
	if (!name)
		return;
	de_json_key(j, "ledger");
	de_json_obj_begin(j);
	de_json_key(j, "state");
	de_json_cstr(j, name);
	de_json_key(j, "error");
	de_json_cstr(j, c->ledger_errno > 0 ? strerror(c->ledger_errno) : NULL);
	de_json_key(j, "records");
	de_json_uint(j, c->ledger_records);
	de_json_key(j, "checkpoint");
	de_json_uint(j, c->ledger_checkpoint);
	de_json_obj_end(j);
}

static void print_json(const char *state, const struct status *s, const char *agent_err)
{
	struct de_buf b = DE_BUF_INIT;
	struct de_json j;
	de_json_init(&j, &b);
	de_json_obj_begin(&j);
	de_json_key(&j, "state_dir");
	de_json_cstr(&j, state);
	de_json_key(&j, "agent_reachable");
	de_json_bool(&j, s->answered);
	de_json_key(&j, "agent_error");
	de_json_cstr(&j, s->answered ? NULL : agent_err);
	de_json_key(&j, "components");
	de_json_arr_begin(&j);
	for (size_t i = 0; i < s->n; i++) {
		const struct comp *c = &s->c[i];
		de_json_obj_begin(&j);
		de_json_key(&j, "component");
		de_json_cstr(&j, c->name);
		de_json_key(&j, "running");
		de_json_bool(&j, c->running);
		de_json_key(&j, "pid");
		c->running ? de_json_int(&j, c->pid) : de_json_null(&j);
		de_json_key(&j, "uid");
		c->running ? de_json_uint(&j, c->uid) : de_json_null(&j);
		struct passwd *pw = c->running ? getpwuid(c->uid) : NULL;
		de_json_key(&j, "user");
		de_json_cstr(&j, pw ? pw->pw_name : NULL);
		de_json_key(&j, "cap_eff");
		if (c->running) {
			char hex[24];
			snprintf(hex, sizeof(hex), "%016" PRIx64, c->cap_eff);
			de_json_cstr(&j, hex);
		} else {
			de_json_null(&j);
		}
		de_json_key(&j, "capabilities");
		if (c->running) {
			struct de_buf cb = DE_BUF_INIT;
			caps_text(c->cap_eff, &cb);
			de_json_cstr(&j, de_buf_str(&cb));
			de_buf_free(&cb);
		} else {
			de_json_null(&j);
		}
		bool d = c->from_daemon;
		de_json_key(&j, "source");
		de_json_cstr(&j, d ? c->source : NULL);
		de_json_key(&j, "events_per_sec");
		if (d) {
			char num[320];
			snprintf(num, sizeof(num), "%.1f", c->events_per_sec);
			de_json_raw(&j, num);
		} else {
			de_json_null(&j);
		}
		de_json_key(&j, "drops");
		d ? de_json_uint(&j, c->drops) : de_json_null(&j);
		de_json_key(&j, "queue_depth");
		d ? de_json_uint(&j, c->queue_depth) : de_json_null(&j);
		de_json_key(&j, "uptime_s");
		d ? de_json_uint(&j, c->uptime_ns / UINT64_C(1000000000)) : de_json_null(&j);
		de_json_key(&j, "cpu_ms");
		c->running ? de_json_uint(&j, c->cpu_ns / UINT64_C(1000000)) : de_json_null(&j);
		de_json_key(&j, "rss_bytes");
		c->running ? de_json_uint(&j, c->rss_bytes) : de_json_null(&j);
		ledger_json(&j, c);
		de_json_obj_end(&j);
	}
	de_json_arr_end(&j);
	de_json_obj_end(&j);
	printf("%s\n", de_buf_str(&b));
	de_buf_free(&b);
}

static void print_table(const char *state, const struct status *s, const char *agent_err)
{
	printf("state directory: %s\n", state);
	if (!s->answered)
		printf("agent not reachable: %s\n", agent_err);
	printf("%-9s %-8s %7s %-10s %-9s %10s %8s %7s %9s %9s %9s  %s\n", "COMPONENT", "STATE", "PID",
	       "USER", "SOURCE", "EVENTS/S", "DROPS", "QUEUE", "UPTIME", "CPU", "RSS", "CAPABILITIES");
	for (size_t i = 0; i < s->n; i++) {
		const struct comp *c = &s->c[i];
		if (!c->running) {
			printf("%-9s %-8s\n", c->name, "down");
			continue;
		}
		struct passwd *pw = getpwuid(c->uid);
		char user[32], ups[24] = "-", eps[320] = "-", drops[24] = "-", q[24] = "-";
		snprintf(user, sizeof(user), "%s", pw ? pw->pw_name : "?");
		if (c->from_daemon) {
			snprintf(ups, sizeof(ups), "%" PRIu64 "s", c->uptime_ns / UINT64_C(1000000000));
			snprintf(eps, sizeof(eps), "%.1f", c->events_per_sec);
			snprintf(drops, sizeof(drops), "%" PRIu64, c->drops);
			snprintf(q, sizeof(q), "%" PRIu64, c->queue_depth);
		}
		struct de_buf cb = DE_BUF_INIT;
		caps_text(c->cap_eff, &cb);
		char cpu[320], rss[320];
		snprintf(cpu, sizeof(cpu), "%.2fs", (double)c->cpu_ns / 1e9);
		snprintf(rss, sizeof(rss), "%.1fM", (double)c->rss_bytes / 1048576.0);
		struct de_buf src = DE_BUF_INIT;
		de_emit_text(&src, c->source, strlen(c->source));
		printf("%-9s %-8s %7d %-10s %-9s %10s %8s %7s %9s %9s %9s  %s\n", c->name, "running",
		       c->pid, user, c->from_daemon ? de_buf_str(&src) : "-", eps, drops, q, ups, cpu,
		       rss, de_buf_str(&cb));
		de_buf_free(&cb);
		de_buf_free(&src);
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct comp *c = &s->c[i];
		const char *name = c->from_daemon ? ledger_state_name(c->ledger_state) : NULL;
		if (!name)
			continue;
		printf("%s audit ledger: %s", c->name, name);
		if (c->ledger_errno > 0)
			printf(" (%s)", strerror(c->ledger_errno));
		if (c->ledger_state != DE_IPC_LEDGER_NOT_OPEN)
			printf(", %" PRIu64 " records, last checkpoint at %" PRIu64, c->ledger_records,
			       c->ledger_checkpoint);
		printf("\n");
	}
}

int cmd_status_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		DE_CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ 0 },
	};
	struct de_cli_common common = { 0 };
	bool json = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int c = de_cli_common_opt(&common, opt, optarg);
		if (c < 0)
			return DE_EXIT_USAGE;
		if (c > 0)
			continue;
		switch (opt) {
		case 'h':
			usage(stdout);
			return DE_EXIT_OK;
		case OPT_JSON:
			json = true;
			break;
		default:
			usage(stderr);
			return DE_EXIT_USAGE;
		}
	}
	struct de_config cfg = { 0 };
	char state[4096];
	int rc = de_cli_setup(&common, argc, argv, &cfg, state, sizeof(state));
	if (rc != DE_EXIT_OK)
		return rc;
	de_config_free(&cfg);
	struct status s = { 0 };
	char why[1024] = "";
	ask_agent(state, &s, why, sizeof(why));
	from_pidfile(state, DE_STATE_PROCMOND_PID, "procmond", &s);
	from_pidfile(state, DE_STATE_AGENT_PID, "agent", &s);
	if (json)
		print_json(state, &s, why);
	else
		print_table(state, &s, why);
	bool pm_connected = false;
	for (size_t i = 0; i < s.n; i++)
		pm_connected |= s.c[i].from_daemon && !strcmp(s.c[i].name, "procmond");
	return s.answered && pm_connected ? DE_EXIT_OK : DE_EXIT_FAIL;
}
