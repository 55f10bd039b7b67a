/* cmd_agent.c: `daemoneye agent`, the unprivileged agent daemon
 * (src/agent/agentd.h). Options only; the daemon is agentd.c. */
#include <stdio.h>

#include "agentd.h"
#include "cli.h"
#include "commands.h"
#include "log.h"

enum { OPT_ALLOW_ROOT = 0x2000, OPT_RULES_DIR };

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye agent [OPTIONS]\n"
		"\n"
		"The agent daemon: receives events from procmond (STATE/ipc/procmond.sock),\n"
		"stores them in STATE/store.db, keeps the live process table, and serves\n"
		"'daemoneye status' and 'daemoneye events' on STATE/ipc/agent.sock. Runs without\n"
		"privilege: as root it refuses to start unless --allow-root is given.\n"
		"'daemoneye run' starts it as the daemoneye user for you.\n"
		"\n"
		"Options:\n"
		"  --allow-root       run even as root (not recommended)\n"
		"  --rules-dir DIR    also load the detection rules in DIR (besides the built-in\n"
		"                     pack and /etc/daemoneye/rules.d)\n"
		"\n"
		"Common options:\n" DE_CLI_COMMON_HELP
		"\n"
		"Stops on SIGINT/SIGTERM; SIGHUP reloads detection rules.\n");
}

int cmd_agent_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		DE_CLI_COMMON_LONGOPTS,
		{ "allow-root", no_argument, NULL, OPT_ALLOW_ROOT },
		{ "rules-dir", required_argument, NULL, OPT_RULES_DIR },
		{ 0 },
	};
	struct de_cli_common common = { 0 };
	struct de_agent_opts ao = { 0 };
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
		case OPT_ALLOW_ROOT:
			ao.allow_root = true;
			break;
		case OPT_RULES_DIR:
			ao.rules_dir = optarg;
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
	ao.cfg = &cfg;
	ao.state_dir = state;
	ao.config_file = common.config_file;
	int r = de_agent_main(&ao);
	de_config_free(&cfg);
	return r < 0 ? DE_EXIT_FAIL : DE_EXIT_OK;
}
