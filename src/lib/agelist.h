/* agelist.h: an intrusive doubly linked list kept in age order, newest at
 * one end and oldest at the other. It is the exehash cache's LRU and the
 * process table's FIFOs of exited records. A struct embeds a
 * `struct de_age_link` and is found back from it with de_age_entry().
 * Header-only: each operation is a few pointer moves, no allocation. */
#ifndef DE_AGELIST_H
#define DE_AGELIST_H

#include <stddef.h>
#include <stdint.h>

struct de_age_link {
	struct de_age_link *newer, *older;
};

struct de_age_list {
	struct de_age_link *newest, *oldest;
	uint64_t n;
};

/* The struct of type `type` whose member `member` is link (NULL for NULL). */
#define de_age_entry(link, type, member)                                        \
	({                                                                      \
		struct de_age_link *_l = (link);                                \
		_l ? (type *)(void *)((char *)_l - offsetof(type, member)) : (type *)NULL; \
	})

static inline void de_age_unlink(struct de_age_list *l, struct de_age_link *x)
{
	if (x->newer)
		x->newer->older = x->older;
	else
		l->newest = x->older;
	if (x->older)
		x->older->newer = x->newer;
	else
		l->oldest = x->newer;
	x->newer = x->older = NULL;
	l->n--;
}

static inline void de_age_push_newest(struct de_age_list *l, struct de_age_link *x)
{
	x->newer = NULL;
	x->older = l->newest;
	if (l->newest)
		l->newest->newer = x;
	else
		l->oldest = x;
	l->newest = x;
	l->n++;
}

static inline void de_age_push_oldest(struct de_age_list *l, struct de_age_link *x)
{
	x->older = NULL;
	x->newer = l->oldest;
	if (l->oldest)
		l->oldest->older = x;
	else
		l->newest = x;
	l->oldest = x;
	l->n++;
}

#endif
