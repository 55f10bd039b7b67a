/* arena.c: bump allocation from a chunk list (arena.h). Chunks double from
 * 4 KiB up to 1 MiB; a request larger than that gets a chunk of its own.
 * The largest chunk survives a reset so steady-state use allocates nothing. */
#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "macros.h"

#define CHUNK_MIN (4u * 1024u)
#define CHUNK_MAX (1024u * 1024u)
#define ALIGN alignof(max_align_t)

struct chunk {
	struct chunk *next;
	size_t size; /* bytes of data[] */
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct de_arena {
	struct chunk *head; /* current chunk; older ones follow */
	size_t held;        /* bytes of all chunks, headers included */
	size_t cap;
	size_t next_size;
};

struct de_arena *de_arena_new(size_t cap)
{
	struct de_arena *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->cap = cap;
	a->next_size = CHUNK_MIN;
	return a;
}

static void free_chunks(struct chunk *c)
{
	while (c) {
		struct chunk *next = c->next;
		free(c);
		c = next;
	}
}

void de_arena_free(struct de_arena *a)
{
	if (!a)
		return;
	free_chunks(a->head);
	free(a);
}

void de_arena_reset(struct de_arena *a)
{
	if (!a->head)
		return;
	/* keep the largest chunk: after a few resets one chunk holds a whole
	 * unit of work and steady-state use allocates nothing */
	struct chunk *keep = a->head;
	for (struct chunk *c = a->head->next; c; c = c->next)
		if (c->size > keep->size)
			keep = c;
	for (struct chunk *c = a->head, *next; c; c = next) {
		next = c->next;
		if (c != keep)
			free(c);
	}
	keep->used = 0;
	keep->next = NULL;
	a->head = keep;
	a->held = sizeof(*keep) + keep->size;
	a->next_size = DE_MIN(DE_MAX(keep->size * 2, (size_t)CHUNK_MIN), (size_t)CHUNK_MAX);
}

size_t de_arena_used(const struct de_arena *a) { return a->held; }

void *de_arena_alloc(struct de_arena *a, size_t n)
{
	size_t need = (n + ALIGN - 1) & ~(ALIGN - 1);
	if (need < n) {
		errno = ENOMEM;
		return NULL;
	}
	struct chunk *c = a->head;
	if (c && c->size - c->used >= need) {
		void *p = c->data + c->used;
		c->used += need;
		return p;
	}
	size_t size = DE_MAX(a->next_size, need);
	if (size > SIZE_MAX - sizeof(*c) || sizeof(*c) + size > a->cap - DE_MIN(a->held, a->cap)) {
		/* try an exact-size chunk before giving up */
		size = need;
		if (size > SIZE_MAX - sizeof(*c) || sizeof(*c) + size > a->cap - DE_MIN(a->held, a->cap)) {
			errno = ENOMEM;
			return NULL;
		}
	}
	c = malloc(sizeof(*c) + size);
	if (!c)
		return NULL;
	c->size = size;
	c->used = need;
	c->next = a->head;
	a->head = c;
	a->held += sizeof(*c) + size;
	if (a->next_size < CHUNK_MAX)
		a->next_size *= 2;
	return c->data;
}

void *de_arena_zalloc(struct de_arena *a, size_t n)
{
	void *p = de_arena_alloc(a, n);
	if (p && n)
		memset(p, 0, n);
	return p;
}

char *de_arena_strndup(struct de_arena *a, const void *p, size_t n)
{
	if (n == SIZE_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	char *s = de_arena_alloc(a, n + 1);
	if (!s)
		return NULL;
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}
