/* clistore.h: the CLI's read-only, guarded view of an instance's store
 * (`daemoneye query`, `daemoneye rules test`).
 *
 * The store is the agent's STATE/store.db (statedir.h); the CLI opens it
 * read-only under the same policy as rules (sqlguard.h, the published
 * views, DaemonEye's SQL functions with a window covering every event),
 * so a query can do exactly what a rule can. It never creates or
 * migrates a store: a missing one is an error that says where it looked.
 */
#ifndef DE_CLISTORE_H
#define DE_CLISTORE_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "sqlguard.h"
#include "store.h"

struct de_clistore {
	char path[4096];
	struct de_store_window win;    /* (0, INT64_MAX]: every event */
	struct de_sqlguard_policy pol;
	struct de_sqlguard *g;
};

/* Open the store of the invocation's state directory (or `db` when not
 * NULL) under the guard. Reports errors itself; returns DE_EXIT_OK or
 * DE_EXIT_FAIL. */
int de_clistore_open(struct de_clistore *s, const struct de_cli_common *c, const char *db,
		     uint32_t budget_ms, uint64_t max_rows);
void de_clistore_close(struct de_clistore *s);

#endif
