/* cmd_config.c: `daemoneye config`, the configuration seen from outside.
 *
 *   config show [--json]     the effective configuration and where each value
 *                            came from (honours --config and --set)
 *   config show --keys       same as `config keys`
 *   config keys [--json]     every key: type, range, default, variable, help
 *   config check FILE...     validate files on their own
 *
 * Options may appear anywhere after `config` (getopt permutes); the first
 * operand is the action. Options that make no sense for an action are usage
 * errors rather than silently ignored, so a typo'd invocation never looks
 * like a successful check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "emit.h"
#include "sinkcfg.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: daemoneye config show [--json] [--config FILE] [--set KEY=VALUE]...\n"
		"       daemoneye config keys [--json]\n"
		"       daemoneye config check FILE...\n"
		"\n"
		"Show the effective configuration, list the configuration keys, or check\n"
		"configuration files.\n"
		"\n"
		"Actions:\n"
		"  show      print every key as 'key = value  # origin', where origin is\n"
		"            'default', 'FILE:LINE:COL', 'env DAEMONEYE_X' or 'flag --set'\n"
		"  keys      describe every key: type, range, default, environment variable\n"
		"            (also 'show --keys')\n"
		"  check     validate each FILE on its own; prints 'FILE: ok' or\n"
		"            'FILE:LINE:COL: reason'; exit 0 only when all are valid\n"
		"\n"
		"Options:\n"
		"  --json            one JSON object (show) or array (keys) on stdout\n"
		"  --keys            with show: list the keys instead of their values\n"
		DE_CLI_COMMON_HELP
		"\n"
		"Layers, lowest to highest precedence: built-in defaults,\n"
		"/etc/daemoneye/daemoneye.yaml, $XDG_CONFIG_HOME/daemoneye/daemoneye.yaml\n"
		"(default ~/.config/...), DAEMONEYE_* environment variables (key upper-cased,\n"
		"'.' -> '_', e.g. DAEMONEYE_COLLECTOR_ARGV_MAX_BYTES), then --set. --config FILE\n"
		"replaces both files. Files are YAML mappings nested by key section:\n"
		"\n"
		"  collector:\n"
		"    argv_max_bytes: 4096\n"
		"    redact_env: [\"*TOKEN*\", \"*KEY*\"]\n"
		"\n"
		"Lists are comma-separated in the environment and in --set.\n"
		"\n"
		"Exit status: 0 success, 1 invalid configuration or output error, 2 usage.\n");
}

enum {
	OPT_JSON = 0x2000,
	OPT_KEYS,
};

struct opts {
	struct de_cli_common common;
	bool json;
	bool keys;
	bool help;
};

static int usage_error(const char *msg, const char *arg)
{
	struct de_buf b = DE_BUF_INIT;
	if (arg)
		de_emit_text(&b, arg, strlen(arg));
	fprintf(stderr, "daemoneye config: %s%s%s\n", msg, arg ? ": " : "",
		arg ? de_buf_str(&b) : "");
	fprintf(stderr, "See 'daemoneye config --help'.\n");
	de_buf_free(&b);
	return DE_EXIT_USAGE;
}

/* `config check FILE...`: every file is checked even after a failure. */
static int do_check(int nfiles, char **files)
{
	int rc = DE_EXIT_OK;
	for (int i = 0; i < nfiles; i++) {
		char err[1024];
		if (de_config_check_file(files[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			rc = DE_EXIT_FAIL;
			continue;
		}
		/* the alerting.sinks section has its own parser (sinkcfg.h) */
		struct de_sinks_cfg *sc = calloc(1, sizeof(*sc));
		int sr = sc ? de_sinks_cfg_load(sc, files[i], err, sizeof(err)) : -ENOMEM;
		if (sc)
			de_sinks_cfg_free(sc);
		free(sc);
		if (sr < 0) {
			fprintf(stderr, "%s\n", sr == -ENOMEM ? "out of memory" : err);
			rc = DE_EXIT_FAIL;
			continue;
		}
		struct de_buf b = DE_BUF_INIT;
		de_emit_text(&b, files[i], strlen(files[i]));
		printf("%s: ok\n", de_buf_str(&b));
		de_buf_free(&b);
	}
	if (fflush(stdout) != 0)
		rc = DE_EXIT_FAIL;
	return rc;
}

static int do_show(struct opts *o)
{
	struct de_config cfg;
	if (de_config_init(&cfg) < 0) {
		log_error("out of memory");
		return DE_EXIT_FAIL;
	}
	int rc = de_cli_load_config(&o->common, &cfg);
	if (rc == DE_EXIT_OK) {
		int r = de_config_print(&cfg, stdout, o->json);
		if (r < 0) {
			de_log_errno(DE_LOG_ERROR, r, "writing the configuration");
			rc = DE_EXIT_FAIL;
		}
	}
	de_config_free(&cfg);
	return rc;
}

static int do_keys(const struct opts *o)
{
	int r = de_config_print_keys(stdout, o->json);
	if (r < 0) {
		de_log_errno(DE_LOG_ERROR, r, "writing the key list");
		return DE_EXIT_FAIL;
	}
	return DE_EXIT_OK;
}

int cmd_config_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		DE_CLI_COMMON_LONGOPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "keys", no_argument, NULL, OPT_KEYS },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 0 };
	int c;
	opterr = 0;
	optind = 0; /* full reset of getopt's state (glibc) */
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		int r = de_cli_common_opt(&o.common, c, optarg);
		if (r < 0)
			return DE_EXIT_USAGE;
		if (r > 0)
			continue;
		switch (c) {
		case 'h':
			o.help = true;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_KEYS:
			o.keys = true;
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
	if (o.help) {
		usage(stdout);
		return DE_EXIT_OK;
	}
	if (optind >= argc)
		return usage_error("missing action (show, keys or check)", NULL);
	const char *action = argv[optind++];
	bool has_common = o.common.config_file || o.common.n_overrides;

	if (strcmp(action, "show") == 0) {
		if (optind < argc)
			return usage_error("unexpected argument", argv[optind]);
		if (o.keys) {
			if (has_common)
				return usage_error("--keys does not take --config or --set", NULL);
			return do_keys(&o);
		}
		return do_show(&o);
	}
	if (strcmp(action, "keys") == 0) {
		if (optind < argc)
			return usage_error("unexpected argument", argv[optind]);
		if (has_common)
			return usage_error("keys does not take --config or --set", NULL);
		return do_keys(&o);
	}
	if (strcmp(action, "check") == 0) {
		if (o.json || o.keys || has_common)
			return usage_error("check takes only FILE arguments", NULL);
		if (optind >= argc)
			return usage_error("check needs at least one FILE", NULL);
		return do_check(argc - optind, argv + optind);
	}
	return usage_error("unknown action", action);
}
