/* cmd_procmond.c: `daemoneye procmond`, the privileged collector daemon
 * (src/collector/procmond.h). Options only; the daemon is procmond.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "log.h"
#include "procmond.h"

enum { OPT_SOURCE = 0x2000, OPT_USER, OPT_SPILL_MAX, OPT_MEMORY_MAX };

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye procmond [OPTIONS]\n"
		"\n"
		"The collector daemon. Started as root: opens the event source (eBPF, else the\n"
		"netlink process connector, else /proc polling) and its socket\n"
		"STATE/ipc/procmond.sock, then switches to the daemoneye user keeping only\n"
		"CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, with a seccomp allow-list, before it\n"
		"reads anything from processes or peers. Serves one agent ('daemoneye agent');\n"
		"when the agent is slow or away, events wait in memory, then in STATE/spill/.\n"
		"'daemoneye run' starts it for you.\n"
		"\n"
		"Options:\n"
		"  --source SRC       ebpf, netlink, proc, or auto (default: collector.source)\n"
		"  --user NAME        drop to this user (default: daemoneye; nobody when it does\n"
		"                     not exist, with a warning)\n"
		"  --spill-max BYTES  bound of the on-disk spill (default: 256 MiB)\n"
		"  --memory-max BYTES bound of the events kept in memory until the agent\n"
		"                     acknowledges them (default: 16 MiB); past it, the spill\n"
		"\n"
		"Common options:\n" DE_CLI_COMMON_HELP
		"\n"
		"Stops on SIGINT/SIGTERM.\n");
}

int cmd_procmond_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		DE_CLI_COMMON_LONGOPTS,
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "user", required_argument, NULL, OPT_USER },
		{ "spill-max", required_argument, NULL, OPT_SPILL_MAX },
		{ "memory-max", required_argument, NULL, OPT_MEMORY_MAX },
		{ 0 },
	};
	struct de_cli_common common = { 0 };
	struct de_procmond_opts po = { 0 };
	char set[64];
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
		case OPT_SOURCE:
			if (strcmp(optarg, "auto") && strcmp(optarg, "ebpf") && strcmp(optarg, "netlink") &&
			    strcmp(optarg, "proc")) {
				log_error("--source: expected auto, ebpf, netlink or proc, got '%s'", optarg);
				return DE_EXIT_USAGE;
			}
			snprintf(set, sizeof(set), "collector.source=%s", optarg);
			if (common.n_overrides >= DE_CLI_MAX_OVERRIDES) {
				log_error("too many --set options");
				return DE_EXIT_USAGE;
			}
			common.overrides[common.n_overrides++] = set;
			break;
		case OPT_USER:
			po.user = optarg;
			break;
		case OPT_SPILL_MAX:
		case OPT_MEMORY_MAX: {
			const char *name = opt == OPT_SPILL_MAX ? "--spill-max" : "--memory-max";
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (!*optarg || *end || errno || v < 65536 || v > (1ull << 40)) {
				log_error("%s: expected a byte count from 65536 to 2^40, got '%s'", name,
					  optarg);
				return DE_EXIT_USAGE;
			}
			if (opt == OPT_SPILL_MAX)
				po.spill_cap = v;
			else
				po.mem_cap = (size_t)v;
			break;
		}
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
	po.cfg = &cfg;
	po.state_dir = state;
	int r = de_procmond_main(&po);
	de_config_free(&cfg);
	return r < 0 ? DE_EXIT_FAIL : DE_EXIT_OK;
}
