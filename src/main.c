/* main.c: the daemoneye executable and its subcommand table.
 *
 * One binary, several roles (the `wg` model): `daemoneye SUBCOMMAND ...`
 * dispatches to cmd_SUBCOMMAND_main() in src/cli/. Only subcommands that
 * are built are listed; adding one is a new file plus one row here.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "de_build.h"

struct subcommand {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{ "ps", cmd_ps_main, "Snapshot of every process on this host, with full detail" },
	{ "hash", cmd_hash_main, "BLAKE3 / SHA-256 of files, the way DaemonEye hashes executables" },
	{ "config", cmd_config_main, "Show the effective configuration or check a configuration file" },
	{ "events", cmd_events_main, "Stream live process events (exec, fork, exit) from the collector" },
	{ "audit", cmd_audit_main, "Verify the tamper-evident audit ledger; proofs, checkpoints, records" },
	{ "query", cmd_query_main, "Run a read-only SQL query over the event store (the rule validator)" },
	{ "rules", cmd_rules_main, "List, show, validate, test, enable/disable and reload detection rules" },
	{ "alerts", cmd_alerts_main, "List, show, acknowledge and export the alerts in the store" },
	{ "sinks", cmd_sinks_main, "Alert delivery: sink status, dead letters, retry, test alerts" },
	{ "procmond", cmd_procmond_main, "The privileged collector daemon (started by 'run')" },
	{ "run", cmd_run_main, "Monitor this host: procmond + agent, supervised, live events" },
	{ "status", cmd_status_main, "State of the running daemons: pids, users, capabilities, rates" },
	{ "agent", cmd_agent_main, "The unprivileged agent daemon: store, status, events (started by 'run')" },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye SUBCOMMAND [OPTIONS]\n"
		"       daemoneye help SUBCOMMAND | --help | --version\n"
		"\n"
		"DaemonEye %s: Linux host process monitoring and detection.\n"
		"\n"
		"Subcommands:\n",
		DE_VERSION);
	for (size_t i = 0; i < DE_ARRAY_SIZE(subcommands); i++)
		fprintf(out, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out, "\n'daemoneye SUBCOMMAND --help' describes each one.\n");
}

static const struct subcommand *find(const char *name)
{
	for (size_t i = 0; i < DE_ARRAY_SIZE(subcommands); i++)
		if (strcmp(subcommands[i].name, name) == 0)
			return &subcommands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return DE_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		usage(stdout);
		return DE_EXIT_OK;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
		printf("daemoneye %s\n", DE_VERSION);
		return DE_EXIT_OK;
	}
	if (strcmp(name, "help") == 0) {
		if (argc < 3) {
			usage(stdout);
			return DE_EXIT_OK;
		}
		const struct subcommand *sc = find(argv[2]);
		if (!sc) {
			fprintf(stderr, "daemoneye: unknown subcommand '%s'\n", argv[2]);
			return DE_EXIT_USAGE;
		}
		char *help_argv[] = { argv[2], (char *)"--help", NULL };
		return sc->main(2, help_argv);
	}
	const struct subcommand *sc = find(name);
	if (!sc) {
		fprintf(stderr, "daemoneye: unknown subcommand '%s' (see 'daemoneye --help')\n", name);
		return DE_EXIT_USAGE;
	}
	return sc->main(argc - 1, argv + 1);
}
