/* users.c: see users.h. */
#include "users.h"

#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"

#define USERS_SLOTS 1024 /* power of two; at most 3/4 used */

struct slot {
	uint32_t id;
	bool used;
	char *name; /* NULL: looked up, has no name */
};

struct de_users {
	struct slot users[USERS_SLOTS];
	struct slot groups[USERS_SLOTS];
	unsigned n_users, n_groups;
	char *overflow; /* last uncached answer, kept alive until the next one */
};

struct de_users *de_users_new(void) { return calloc(1, sizeof(struct de_users)); }

static void free_slots(struct slot *s)
{
	for (unsigned i = 0; i < USERS_SLOTS; i++)
		free(s[i].name);
}

void de_users_free(struct de_users *u)
{
	if (!u)
		return;
	free_slots(u->users);
	free_slots(u->groups);
	free(u->overflow);
	free(u);
}

static char *lookup(uint32_t id, bool group)
{
	char buf[4096];
	if (group) {
		struct group gr, *res = NULL;
		if (getgrgid_r((gid_t)id, &gr, buf, sizeof(buf), &res) != 0 || !res)
			return NULL;
		return strdup(res->gr_name);
	}
	struct passwd pw, *res = NULL;
	if (getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return NULL;
	return strdup(res->pw_name);
}

static const char *cached(struct de_users *u, struct slot *tab, unsigned *n, uint32_t id, bool group)
{
	unsigned h = (id * 2654435761u) & (USERS_SLOTS - 1);
	for (unsigned probe = 0; probe < USERS_SLOTS; probe++) {
		struct slot *s = &tab[(h + probe) & (USERS_SLOTS - 1)];
		if (s->used && s->id == id)
			return s->name;
		if (!s->used) {
			if (*n >= USERS_SLOTS * 3 / 4)
				break;
			s->used = true;
			s->id = id;
			s->name = lookup(id, group);
			(*n)++;
			return s->name;
		}
	}
	free(u->overflow);
	u->overflow = lookup(id, group);
	return u->overflow;
}

const char *de_users_name(struct de_users *u, uint32_t uid)
{
	return cached(u, u->users, &u->n_users, uid, false);
}

const char *de_users_group(struct de_users *u, uint32_t gid)
{
	return cached(u, u->groups, &u->n_groups, gid, true);
}
