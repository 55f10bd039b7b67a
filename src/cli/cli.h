/* cli.h: what every subcommand shares.
 *
 * Each subcommand is one file src/cli/cmd_NAME.c with an entry point
 * `int cmd_NAME_main(int argc, char **argv)` (argv[0] is the subcommand
 * name) listed in the table in src/main.c. Exit codes: 0 success,
 * 1 failure, 2 usage error. Every subcommand takes the common options
 * below so that configuration precedence is the same everywhere.
 */
#ifndef DE_CLI_H
#define DE_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "config.h"

#define DE_EXIT_OK 0
#define DE_EXIT_FAIL 1
#define DE_EXIT_USAGE 2

#define DE_CLI_MAX_OVERRIDES 64

/* Option ids for the common long options (outside the char range). */
enum {
	DE_OPT_CONFIG = 0x1000,
	DE_OPT_SET,
	DE_OPT_STATE_DIR,
};

/* Put this at the start of a subcommand's struct option array. */
#define DE_CLI_COMMON_LONGOPTS                                                  \
	{ "config", required_argument, NULL, DE_OPT_CONFIG },                   \
	{ "set", required_argument, NULL, DE_OPT_SET },                         \
	{ "state-dir", required_argument, NULL, DE_OPT_STATE_DIR },             \
	{ "help", no_argument, NULL, 'h' }

/* Help text for the common options, for each subcommand's usage(). */
#define DE_CLI_COMMON_HELP                                                      \
	"  --config FILE     use FILE instead of /etc and XDG configuration files\n" \
	"  --set KEY=VALUE   override one configuration key (repeatable)\n"      \
	"  --state-dir DIR   the instance's state directory (default: /var/lib/daemoneye\n" \
	"                    as root, else $XDG_STATE_HOME/daemoneye)\n"          \
	"  -h, --help        show this help\n"

struct de_cli_common {
	const char *config_file;
	const char *overrides[DE_CLI_MAX_OVERRIDES];
	unsigned n_overrides;
	const char *state_dir;  /* --state-dir, NULL when not given */
	const char *cfg_state_dir; /* state_dir of the loaded configuration (set by de_cli_load_config) */
};

/* Handle a common option from getopt_long. Returns 1 when handled, 0 when
 * `opt` is not a common option, -1 on a usage error (already reported). */
int de_cli_common_opt(struct de_cli_common *c, int opt, const char *arg);

/* Load the effective configuration for this invocation and set the log
 * level from it. Reports errors itself; returns DE_EXIT_OK or DE_EXIT_FAIL. */
int de_cli_load_config(struct de_cli_common *c, struct de_config *cfg);

/* The state directory of this invocation: --state-dir, else the
 * configuration's state_dir (file or DAEMONEYE_STATE_DIR, when
 * de_cli_load_config ran), else statedir.h's defaults. Reports errors itself; returns DE_EXIT_OK
 * or DE_EXIT_FAIL. */
int de_cli_state_dir(const struct de_cli_common *c, char *out, size_t n);

/* What a daemon or a client of a running instance does after its options:
 * refuse leftover arguments (DE_EXIT_USAGE), load the configuration, find
 * the state directory. Reports errors itself; returns DE_EXIT_OK (cfg
 * loaded: the caller frees it) or a failure exit code (nothing to free). */
int de_cli_setup(struct de_cli_common *c, int argc, char **argv, struct de_config *cfg,
		 char *state, size_t n);

/* Whether stdout should get colour: a tty and NO_COLOR unset or empty. */
bool de_cli_use_color(void);

#endif
