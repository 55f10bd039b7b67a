/* evcopy.h: de_event_copy(), a deep copy of an event into an arena.
 *
 * An event handed to a sink is valid only during the callback (event.h).
 * Whoever must keep it longer (procmond's queue between the collector
 * thread and the IPC loop) copies it here: the struct, every string it
 * points to, and its struct de_proc with that record's strings, all from
 * one arena, released together when the arena is reset. Trade-off: a
 * copy costs the event's size again (a snapshot event with full detail,
 * about 1-2 KiB), but the arena makes it one bump allocation per string
 * and no per-event free.
 */
#ifndef DE_EVCOPY_H
#define DE_EVCOPY_H

#include "arena.h"
#include "event.h"

/* Copy *ev into *out with every pointer pointing into arena `a`. Returns 0
 * or -ENOMEM (the arena's cap; *out is then unusable). */
int de_event_copy(const struct de_event *ev, struct de_arena *a, struct de_event *out);

#endif
