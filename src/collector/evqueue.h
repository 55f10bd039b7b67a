/* evqueue.h: the hand-over of events from procmond's collector thread to
 * its IPC loop.
 *
 * The collector runner's sink (de_evqueue_sink, in the collector thread)
 * deep-copies each event (evcopy.h) into the tail chunk (up to 256 events
 * and one arena each) under a mutex; the IPC loop takes every chunk at once
 * (de_evqueue_take) and owns them from then on. The loop is woken (an
 * eventfd made readable) once per batch, not per event: by
 * de_evqueue_flush(), which the collector calls when it has delivered what
 * its source had and is about to wait (collector.h, `flush`), and early
 * when a chunk fills, so a long batch (a snapshot) is handed over while it
 * is still being read. Waking at the first event of an empty queue instead
 * woke the loop ~7 times per batch in exec storms: it took the first few
 * events, slept, and was woken again by the next. The queue is
 * bounded by bytes (chunks plus the copies in their arenas): an event that
 * does not fit is not queued but counted by type, and the counts are handed
 * over with the next take, so the loop reports the loss (never silent).
 * Trade-off: one lock per event, uncontended in practice (the loop holds
 * it only to detach the list); a copy per event.
 */
#ifndef DE_EVQUEUE_H
#define DE_EVQUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "event.h"

#define DE_EVQ_CHUNK_EVENTS 256

struct de_evq_chunk {
	struct de_evq_chunk *next;
	struct de_arena *a;       /* the copies' strings and process records */
	size_t n;
	struct de_event ev[DE_EVQ_CHUNK_EVENTS];
};

struct de_evqueue {
	pthread_mutex_t mu;
	struct de_evq_chunk *head, *tail;
	size_t bytes, cap;
	uint64_t drops[DE_EV__COUNT]; /* events refused for the cap, by type */
	bool notified; /* the eventfd was made readable and the loop has not taken since */
	int efd;
};

/* cap: bytes held at most. Returns 0 or a negative errno. */
int de_evqueue_init(struct de_evqueue *q, size_t cap);
void de_evqueue_free(struct de_evqueue *q);
/* The eventfd to wait on (readable: events were queued). */
int de_evqueue_fd(const struct de_evqueue *q);
/* A de_event_sink_fn (ud: the queue). Never fails the run: returns 0.
 * Wakes the loop only when the event filled a chunk. */
int de_evqueue_sink(const struct de_event *ev, void *ud);
/* Wake the loop if events were queued since it last took (a
 * de_collector_opts `flush`; ud: the queue). */
void de_evqueue_flush(void *ud);
/* Detach every queued chunk (oldest first; NULL when none), add the drop
 * counts since the last take to drops[] and reset the eventfd. */
struct de_evq_chunk *de_evqueue_take(struct de_evqueue *q, uint64_t drops[DE_EV__COUNT]);
void de_evqueue_chunk_free(struct de_evq_chunk *c);

#endif
