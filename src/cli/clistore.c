/* clistore.c: see clistore.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clistore.h"
#include "emit.h"
#include "log.h"
#include "statedir.h"

int de_clistore_open(struct de_clistore *s, const struct de_cli_common *c, const char *db,
		     uint32_t budget_ms, uint64_t max_rows)
{
	memset(s, 0, sizeof(*s));
	if (db) {
		snprintf(s->path, sizeof(s->path), "%s", db);
	} else {
		char dir[4096];
		if (de_cli_state_dir(c, dir, sizeof(dir)) != DE_EXIT_OK)
			return DE_EXIT_FAIL;
		if (de_state_path(dir, DE_STATE_STORE, s->path, sizeof(s->path)) < 0) {
			log_error("state directory path too long");
			return DE_EXIT_FAIL;
		}
	}
	struct de_buf b = DE_BUF_INIT;
	de_emit_text(&b, s->path, strlen(s->path));
	if (access(s->path, R_OK) < 0) {
		int e = errno;
		log_error("no store at %s: %s (the agent creates it; see --state-dir)", de_buf_str(&b),
			  strerror(e));
		de_buf_free(&b);
		return DE_EXIT_FAIL;
	}
	s->win = (struct de_store_window){ 0, INT64_MAX };
	s->pol = (struct de_sqlguard_policy){
		.readable = de_store_published,
		.budget_ms = budget_ms,
		.max_rows = max_rows,
		.setup_db = de_store_register_functions,
		.setup_ud = &s->win,
	};
	char why[DE_SQLGUARD_WHY_MAX + 4200];
	if (!(s->g = de_sqlguard_open(s->path, &s->pol, why, sizeof(why)))) {
		log_error("%s", why);
		de_buf_free(&b);
		return DE_EXIT_FAIL;
	}
	de_buf_free(&b);
	return DE_EXIT_OK;
}

void de_clistore_close(struct de_clistore *s)
{
	de_sqlguard_free(s->g);
	s->g = NULL;
}
