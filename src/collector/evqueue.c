/* evqueue.c: see evqueue.h. */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "evcopy.h"
#include "evqueue.h"
#include "ipcmsg.h"
#include "macros.h"

#define CHUNK_ARENA (8u * 1024u * 1024u)

int de_evqueue_init(struct de_evqueue *q, size_t cap)
{
	*q = (struct de_evqueue){ .cap = cap };
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0)
		return de_neg_errno();
	pthread_mutex_init(&q->mu, NULL);
	return 0;
}

void de_evqueue_chunk_free(struct de_evq_chunk *c)
{
	if (c) {
		de_arena_free(c->a);
		free(c);
	}
}

void de_evqueue_free(struct de_evqueue *q)
{
	while (q->head) {
		struct de_evq_chunk *c = q->head;
		q->head = c->next;
		de_evqueue_chunk_free(c);
	}
	q->tail = NULL;
	if (q->efd >= 0)
		close(q->efd);
	q->efd = -1;
	pthread_mutex_destroy(&q->mu);
}

int de_evqueue_fd(const struct de_evqueue *q)
{
	return q->efd;
}

static struct de_evq_chunk *chunk_new(void)
{
	struct de_evq_chunk *c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	c->next = NULL;
	c->n = 0;
	c->a = de_arena_new(CHUNK_ARENA);
	if (!c->a) {
		free(c);
		return NULL;
	}
	return c;
}

/* With the lock held: copy ev to the tail chunk (a new one when full). */
static int put(struct de_evqueue *q, const struct de_event *ev)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		struct de_evq_chunk *c = q->tail;
		if (!c || c->n == DE_EVQ_CHUNK_EVENTS || attempt) {
			if (q->bytes + sizeof(*c) > q->cap)
				return -ENOBUFS;
			c = chunk_new();
			if (!c)
				return -ENOMEM;
			if (q->tail)
				q->tail->next = c;
			else
				q->head = c;
			q->tail = c;
			q->bytes += sizeof(*c);
		}
		/* room for the largest copy (an argv at the IPC cap) */
		if (q->bytes + DE_IPC_ARGV_MAX_DEFAULT > q->cap)
			return -ENOBUFS;
		size_t before = de_arena_used(c->a);
		if (de_event_copy(ev, c->a, &c->ev[c->n]) == 0) {
			q->bytes += de_arena_used(c->a) - before;
			c->n++;
			return 0;
		}
		q->bytes += de_arena_used(c->a) - before; /* what the failed copy took */
	}
	return -ENOMEM;
}

/* With the lock held: whether to wake the loop now (once until it takes). */
static bool wake_once(struct de_evqueue *q)
{
	bool wake = !q->notified;
	q->notified = true;
	return wake;
}

static void wake(struct de_evqueue *q)
{
	uint64_t one = 1;
	/* A failure leaves the counter non-zero: the loop wakes anyway. */
	(void)!write(q->efd, &one, sizeof(one));
}

int de_evqueue_sink(const struct de_event *ev, void *ud)
{
	struct de_evqueue *q = ud;
	pthread_mutex_lock(&q->mu);
	if (put(q, ev) < 0)
		q->drops[(unsigned)ev->type < DE_EV__COUNT ? ev->type : 0]++;
	bool now = q->tail && q->tail->n == DE_EVQ_CHUNK_EVENTS && wake_once(q);
	pthread_mutex_unlock(&q->mu);
	if (now)
		wake(q);
	return 0;
}

void de_evqueue_flush(void *ud)
{
	struct de_evqueue *q = ud;
	pthread_mutex_lock(&q->mu);
	bool pending = q->head != NULL;
	for (int i = 0; i < DE_EV__COUNT && !pending; i++)
		pending = q->drops[i] != 0;
	bool now = pending && wake_once(q);
	pthread_mutex_unlock(&q->mu);
	if (now)
		wake(q);
}

struct de_evq_chunk *de_evqueue_take(struct de_evqueue *q, uint64_t drops[DE_EV__COUNT])
{
	uint64_t v;
	(void)!read(q->efd, &v, sizeof(v));
	pthread_mutex_lock(&q->mu);
	struct de_evq_chunk *c = q->head;
	q->head = q->tail = NULL;
	q->bytes = 0;
	q->notified = false;
	for (int i = 0; i < DE_EV__COUNT; i++) {
		drops[i] += q->drops[i];
		q->drops[i] = 0;
	}
	pthread_mutex_unlock(&q->mu);
	return c;
}
