/* cmd_run.c: `daemoneye run`, the supervisor: procmond (privileged) and the
 * agent (the daemoneye user) as two processes of this same executable,
 * with the events shown live in the terminal.
 *
 * It prepares the state directory (procmond.h: owned by the daemon user,
 * 0750), starts `daemoneye procmond` as root and `daemoneye agent` after
 * dropping to the daemon user (privdrop.h, no capabilities kept), each
 * with PR_SET_PDEATHSIG so neither outlives the supervisor even after a
 * kill -9 of it. A child that dies is reaped and restarted after a delay
 * that doubles from 1 s to 30 s (back to 1 s once a child has run for 60 s).
 * SIGINT/SIGTERM stop both (SIGTERM, then SIGKILL after 5 s) and every
 * child is reaped before it exits. Events are printed by subscribing to
 * the agent like `daemoneye events` (evprint.h), reconnecting when the
 * agent restarts. Without root it still runs both as the calling user,
 * with a warning: procmond then has no eBPF or netlink source.
 */
#include <errno.h>
#include <getopt.h>
#include <linux/limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentsub.h"
#include "cli.h"
#include "commands.h"
#include "evprint.h"
#include "log.h"
#include "privdrop.h"
#include "procmond.h"

#define RESTART_MIN_MS 1000
#define RESTART_MAX_MS 30000
#define HEALTHY_MS 60000
#define STOP_GRACE_MS 5000

enum { OPT_JSON = 0x2000, OPT_USER, OPT_QUIET, OPT_TYPE, OPT_RULES_DIR };

struct child {
	const char *role;
	pid_t pid;           /* 0: not running */
	int64_t started_ms, restart_at_ms;
	int delay_ms;
	unsigned restarts;
};

struct run {
	char exe[PATH_MAX];
	char state[4096];
	const struct de_cli_common *common;
	const char *user;
	const char *rules_dir;  /* --rules-dir for the agent, or NULL */
	bool root;
	pid_t self;
	struct child kids[2];  /* procmond, agent */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye run [OPTIONS]\n"
		"\n"
		"Monitor this host: start procmond (the privileged collector) and the agent\n"
		"(unprivileged: the daemoneye user, or nobody when it does not exist) as two\n"
		"processes, restart either when it dies, and show live events here. The state\n"
		"directory holds the store, the sockets, the spill and the pid files.\n"
		"'daemoneye status' and 'daemoneye events' (other terminals) talk to them.\n"
		"\n"
		"Options:\n"
		"  --json             events as JSON Lines (see 'daemoneye events --help')\n"
		"  --type LIST        event types shown (default: exec,fork,exit,status)\n"
		"  --quiet            show no events (supervise only)\n"
		"  --user NAME        the unprivileged user (default: daemoneye)\n"
		"  --rules-dir DIR    the agent also loads the detection rules in DIR (it must be\n"
		"                     readable by the unprivileged user)\n"
		"\n"
		"Common options:\n" DE_CLI_COMMON_HELP
		"\n"
		"Stops both daemons on SIGINT/SIGTERM. Needs root for real monitoring.\n");
}

/* fork + exec `daemoneye ROLE --state-dir S [--config F] [--set K=V]...`
 * (and --user U for procmond, --rules-dir D for the agent). */
static pid_t spawn(struct run *r, struct child *k)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		return pid;
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (r->root && strcmp(k->role, "agent") == 0) {
		struct de_privdrop_opts po = { .user = r->user, .keep_caps = 0 };
		struct de_privdrop_result res;
		char why[512];
		if (de_privdrop(&po, &res, why, sizeof(why)) < 0) {
			log_error("run: agent: privilege drop: %s", why);
			_exit(126);
		}
		/* root's ~/.config is not the daemon user's to read: the agent
		 * reads /etc/daemoneye and what --config/--set pass on. */
		unsetenv("XDG_CONFIG_HOME");
		setenv("HOME", "/nonexistent", 1);
	}
	/* After the drop: a uid change clears the parent-death signal. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != r->self)
		_exit(0);
	const char *argv[10 + 2 * DE_CLI_MAX_OVERRIDES];
	int n = 0;
	argv[n++] = r->exe;
	argv[n++] = k->role;
	argv[n++] = "--state-dir";
	argv[n++] = r->state;
	if (r->common->config_file) {
		argv[n++] = "--config";
		argv[n++] = r->common->config_file;
	}
	for (unsigned i = 0; i < r->common->n_overrides; i++) {
		argv[n++] = "--set";
		argv[n++] = r->common->overrides[i];
	}
	if (strcmp(k->role, "procmond") == 0 && r->user) {
		argv[n++] = "--user";
		argv[n++] = r->user;
	}
	if (strcmp(k->role, "agent") == 0 && r->rules_dir) {
		argv[n++] = "--rules-dir";
		argv[n++] = r->rules_dir;
	}
	argv[n] = NULL;
	execv(r->exe, (char *const *)argv);
	log_error("run: exec %s %s: %m", r->exe, k->role);
	_exit(127);
}

static void start(struct run *r, struct child *k)
{
	pid_t pid = spawn(r, k);
	if (pid < 0) {
		de_log_errno(DE_LOG_ERROR, pid, "run: starting %s", k->role);
		k->restart_at_ms = mono_ms() + k->delay_ms;
		return;
	}
	k->pid = pid;
	k->started_ms = mono_ms();
	k->restart_at_ms = -1;
	log_info("run: %s started (pid %d)", k->role, (int)pid);
}

static void reap(struct run *r, bool stopping)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < 2; i++) {
			struct child *k = &r->kids[i];
			if (k->pid != pid)
				continue;
			k->pid = 0;
			if (stopping)
				break;
			int64_t now = mono_ms();
			if (now - k->started_ms >= HEALTHY_MS)
				k->delay_ms = RESTART_MIN_MS;
			if (WIFSIGNALED(st))
				log_warning("run: %s (pid %d) killed by signal %d; restarting in %d ms",
					    k->role, (int)pid, WTERMSIG(st), k->delay_ms);
			else
				log_warning("run: %s (pid %d) exited with status %d; restarting in %d ms",
					    k->role, (int)pid, WEXITSTATUS(st), k->delay_ms);
			k->restart_at_ms = now + k->delay_ms;
			k->delay_ms = DE_MIN(k->delay_ms * 2, RESTART_MAX_MS);
			k->restarts++;
		}
	}
}

/* SIGTERM both, SIGKILL what is left after the grace period, reap all. */
static void stop_all(struct run *r)
{
	for (int i = 0; i < 2; i++)
		if (r->kids[i].pid > 0)
			kill(r->kids[i].pid, SIGTERM);
	int64_t end = mono_ms() + STOP_GRACE_MS;
	while ((r->kids[0].pid > 0 || r->kids[1].pid > 0) && mono_ms() < end) {
		reap(r, true);
		if (r->kids[0].pid > 0 || r->kids[1].pid > 0)
			usleep(20000);
	}
	for (int i = 0; i < 2; i++)
		if (r->kids[i].pid > 0) {
			log_warning("run: %s did not stop in %d s: killing it", r->kids[i].role,
				    STOP_GRACE_MS / 1000);
			kill(r->kids[i].pid, SIGKILL);
			waitpid(r->kids[i].pid, NULL, 0);
			r->kids[i].pid = 0;
		}
}

int cmd_run_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		DE_CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "user", required_argument, NULL, OPT_USER },
		{ "rules-dir", required_argument, NULL, OPT_RULES_DIR },
		{ 0 },
	};
	struct de_cli_common common = { 0 };
	struct run r = { .common = &common, .self = getpid() };
	struct de_evprint e;
	de_evprint_init(&e);
	bool quiet = false;
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
			e.json = true;
			break;
		case OPT_TYPE:
			if (de_evprint_parse_types(&e, optarg) < 0)
				return DE_EXIT_USAGE;
			break;
		case OPT_QUIET:
			quiet = true;
			break;
		case OPT_USER:
			r.user = optarg;
			break;
		case OPT_RULES_DIR:
			r.rules_dir = optarg;
			break;
		default:
			usage(stderr);
			return DE_EXIT_USAGE;
		}
	}
	struct de_config cfg = { 0 };
	int ret = de_cli_setup(&common, argc, argv, &cfg, r.state, sizeof(r.state));
	if (ret != DE_EXIT_OK)
		return ret;
	ret = DE_EXIT_FAIL;
	e.color = !e.json && de_cli_use_color();
	ssize_t n = readlink("/proc/self/exe", r.exe, sizeof(r.exe) - 1);
	if (n <= 0) {
		log_error("run: cannot find this executable: %m");
		goto out;
	}
	r.exe[n] = '\0';
	r.root = geteuid() == 0;
	struct de_privdrop_opts po = { .user = r.user };
	struct de_privdrop_result who;
	char why[1024];
	if (de_privdrop_target(&po, &who, why, sizeof(why)) < 0) {
		log_error("run: %s", why);
		goto out;
	}
	if (!r.root)
		log_warning("run: not root: procmond cannot load eBPF or use the netlink connector "
			    "and will poll /proc (short-lived processes are missed)");
	else if (who.fell_back)
		log_warning("run: user %s does not exist: the daemons run as %s (scripts/deps.sh "
			    "creates it)", r.user ? r.user : "daemoneye", who.user);
	if (de_procmond_prepare_state(r.state, who.uid, who.gid, why, sizeof(why)) < 0) {
		log_error("run: state directory: %s", why);
		goto out;
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_error("run: signalfd: %m");
		goto out;
	}
	r.kids[0] = (struct child){ .role = "procmond", .delay_ms = RESTART_MIN_MS };
	r.kids[1] = (struct child){ .role = "agent", .delay_ms = RESTART_MIN_MS };
	log_info("run: state directory %s", r.state);
	start(&r, &r.kids[0]);
	start(&r, &r.kids[1]);
	if (!quiet)
		de_evprint_header(&e);

	struct de_agent_sub sub = { .c = { .fd = -1 }, .on_event = de_evprint_event, .ud = &e };
	int64_t next_sub = mono_ms() + 200;
	bool stop = false;
	while (!stop) {
		int64_t now = mono_ms(), t = -1;
		for (int i = 0; i < 2; i++) {
			struct child *k = &r.kids[i];
			if (!k->pid && k->restart_at_ms >= 0)
				t = t < 0 ? k->restart_at_ms : DE_MIN(t, k->restart_at_ms);
		}
		if (!quiet && !de_ipc_conn_is_open(&sub.c))
			t = t < 0 ? next_sub : DE_MIN(t, next_sub);
		int timeout = t < 0 ? -1 : t <= now ? 0 : (int)(t - now);
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
				       { .fd = sub.c.fd, .events = POLLIN } };
		int np = poll(p, de_ipc_conn_is_open(&sub.c) ? 2 : 1, timeout);
		if (np < 0 && errno != EINTR)
			break;
		if (np > 0 && p[0].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					reap(&r, false);
				else
					stop = true;
			}
		}
		if (np > 0 && de_ipc_conn_is_open(&sub.c) && p[1].revents) {
			int rr = de_agent_sub_read(&sub);
			if (rr == 1 || rr < 0) {
				de_agent_sub_close(&sub);
				next_sub = mono_ms() + 500;
			}
		}
		now = mono_ms();
		for (int i = 0; i < 2 && !stop; i++) {
			struct child *k = &r.kids[i];
			if (!k->pid && k->restart_at_ms >= 0 && now >= k->restart_at_ms)
				start(&r, k);
		}
		if (!stop && !quiet && !de_ipc_conn_is_open(&sub.c) && now >= next_sub) {
			if (de_agent_sub_open(&sub, r.state, DE_IPC_CAP_EVENTS, why, sizeof(why)) < 0)
				next_sub = now + 500;
		}
	}
	log_info("run: stopping");
	de_agent_sub_close(&sub);
	stop_all(&r);
	close(sfd);
	ret = DE_EXIT_OK;
out:
	de_evprint_free(&e);
	de_config_free(&cfg);
	return ret;
}
