/* evcopy.c: see evcopy.h. */
#include <errno.h>
#include <string.h>

#include "evcopy.h"
#include "macros.h"

/* A copy of a NUL-terminated string (NULL stays NULL). */
static int dup_str(struct de_arena *a, const char **s)
{
	if (!*s)
		return 0;
	char *c = de_arena_strndup(a, *s, strlen(*s));
	if (!c)
		return -ENOMEM;
	*s = c;
	return 0;
}

/* A copy of n bytes that may hold NULs (argv, environment); one extra NUL. */
static int dup_mem(struct de_arena *a, const char **s, size_t n)
{
	if (!*s)
		return 0;
	char *c = de_arena_strndup(a, *s, n);
	if (!c)
		return -ENOMEM;
	*s = c;
	return 0;
}

static int copy_proc(const struct de_proc *p, struct de_arena *a, const struct de_proc **out)
{
	struct de_proc *c = de_arena_alloc(a, sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = *p;
	if (dup_str(a, &c->user) || dup_str(a, &c->cgroup) || dup_str(a, &c->container_id) ||
	    dup_str(a, &c->container_runtime) || dup_str(a, &c->exe) || dup_str(a, &c->cwd) ||
	    dup_str(a, &c->root) || dup_mem(a, &c->argv, c->argv_len) ||
	    dup_mem(a, &c->env, c->env_len))
		return -ENOMEM;
	*out = c;
	return 0;
}

int de_event_copy(const struct de_event *ev, struct de_arena *a, struct de_event *out)
{
	*out = *ev;
	if (dup_str(a, &out->filename) || dup_mem(a, &out->argv, out->argv_len) ||
	    dup_str(a, &out->exe) || dup_str(a, &out->cgroup) || dup_str(a, &out->container_id) ||
	    dup_str(a, &out->hash_note) || dup_str(a, &out->detail))
		return -ENOMEM;
	if (ev->proc && copy_proc(ev->proc, a, &out->proc) < 0)
		return -ENOMEM;
	return 0;
}
