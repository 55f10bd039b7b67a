/* statedir.c: see statedir.h. */
#include "statedir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "macros.h"

static int put(char *out, size_t n, const char *a, const char *b)
{
	int w = snprintf(out, n, "%s%s", a, b);
	if (w < 0 || (size_t)w >= n)
		return -ENAMETOOLONG;
	return 0;
}

int de_state_dir(const char *flag, char *out, size_t n)
{
	if (flag && *flag)
		return put(out, n, flag, "");
	const char *env = getenv("DAEMONEYE_STATE_DIR");
	if (env && *env)
		return put(out, n, env, "");
	if (geteuid() == 0)
		return put(out, n, "/var/lib/daemoneye", "");
	const char *xdg = getenv("XDG_STATE_HOME");
	if (xdg && *xdg == '/')
		return put(out, n, xdg, "/daemoneye");
	const char *home = getenv("HOME");
	if (home && *home == '/')
		return put(out, n, home, "/.local/state/daemoneye");
	return -ENOENT;
}

int de_state_path(const char *dir, enum de_state_item item, char *out, size_t n)
{
	static const char *const names[] = {
		[DE_STATE_ROOT] = "",
		[DE_STATE_STORE] = "/store.db",
		[DE_STATE_IPC_DIR] = "/ipc",
		[DE_STATE_PROCMOND_SOCK] = "/ipc/procmond.sock",
		[DE_STATE_AGENT_SOCK] = "/ipc/agent.sock",
		[DE_STATE_LEDGER_DIR] = "/ledger",
		[DE_STATE_KEYS_DIR] = "/keys",
		[DE_STATE_SPILL_DIR] = "/spill",
		[DE_STATE_RULES_STATE] = "/rules.state",
		[DE_STATE_PROCMOND_PID] = "/procmond.pid",
		[DE_STATE_AGENT_PID] = "/agent.pid",
	};
	if (!dir || (unsigned)item >= DE_ARRAY_SIZE(names))
		return -EINVAL;
	return put(out, n, dir, names[item]);
}
