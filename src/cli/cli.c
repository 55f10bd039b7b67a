/* cli.c: see cli.h. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "statedir.h"

int de_cli_common_opt(struct de_cli_common *c, int opt, const char *arg)
{
	switch (opt) {
	case DE_OPT_CONFIG:
		c->config_file = arg;
		return 1;
	case DE_OPT_SET:
		if (c->n_overrides >= DE_CLI_MAX_OVERRIDES) {
			log_error("too many --set options (at most %d)", DE_CLI_MAX_OVERRIDES);
			return -1;
		}
		c->overrides[c->n_overrides++] = arg;
		return 1;
	case DE_OPT_STATE_DIR:
		if (!*arg) {
			log_error("--state-dir needs a directory");
			return -1;
		}
		c->state_dir = arg;
		return 1;
	default:
		return 0;
	}
}

int de_cli_load_config(struct de_cli_common *c, struct de_config *cfg)
{
	char err[512];
	struct de_config_request req = {
		.explicit_file = c->config_file,
		.overrides = c->overrides,
		.n_overrides = c->n_overrides,
	};
	int r = de_config_load(cfg, &req, err, sizeof(err));
	if (r < 0) {
		log_error("configuration: %s", err);
		return DE_EXIT_FAIL;
	}
	de_log_set_level(cfg->log_level);
	c->cfg_state_dir = cfg->state_dir[0] ? cfg->state_dir : NULL;
	return DE_EXIT_OK;
}

bool de_cli_use_color(void)
{
	const char *nc = getenv("NO_COLOR");
	if (nc && *nc)
		return false;
	return isatty(STDOUT_FILENO) == 1;
}

int de_cli_state_dir(const struct de_cli_common *c, char *out, size_t n)
{
	int r = de_state_dir(c->state_dir ? c->state_dir : c->cfg_state_dir, out, n);
	if (r < 0) {
		log_error("state directory: %s (give one with --state-dir DIR)",
			  r == -ENOENT ? "no default: not root and neither XDG_STATE_HOME nor HOME is set"
				       : strerror(-r));
		return DE_EXIT_FAIL;
	}
	return DE_EXIT_OK;
}

int de_cli_setup(struct de_cli_common *c, int argc, char **argv, struct de_config *cfg,
		 char *state, size_t n)
{
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return DE_EXIT_USAGE;
	}
	if (de_cli_load_config(c, cfg) != DE_EXIT_OK)
		return DE_EXIT_FAIL;
	if (de_cli_state_dir(c, state, n) != DE_EXIT_OK) {
		de_config_free(cfg);
		return DE_EXIT_FAIL;
	}
	return DE_EXIT_OK;
}
