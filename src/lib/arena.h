/* arena.h: a bump allocator with a hard memory cap.
 *
 * Memory for one unit of work (a decoded IPC batch, an encoder's scratch
 * structures) comes from a list of chunks and is released all at once by
 * de_arena_reset() or de_arena_free(): no per-object free, no leaks on
 * error paths, and one cap on what a hostile input can make us allocate
 * (a few bytes of protobuf can describe a large decoded structure). The
 * trade-off: memory is held until the reset, so an arena suits short-lived
 * work, not long-lived objects. An arena belongs to one thread.
 */
#ifndef DE_ARENA_H
#define DE_ARENA_H

#include <stddef.h>

struct de_arena;

/* An arena that never holds more than `cap` bytes of chunks (chunk headers
 * included). Returns NULL and sets errno (ENOMEM). */
struct de_arena *de_arena_new(size_t cap);
void de_arena_free(struct de_arena *a);

/* n bytes aligned for any type, or NULL with errno = ENOMEM when the cap
 * (or malloc) refuses. Zero-sized requests return a valid pointer. */
void *de_arena_alloc(struct de_arena *a, size_t n);
void *de_arena_zalloc(struct de_arena *a, size_t n);
/* A NUL-terminated copy of n bytes. */
char *de_arena_strndup(struct de_arena *a, const void *p, size_t n);

/* Release everything allocated so far; keeps the largest chunk for reuse. */
void de_arena_reset(struct de_arena *a);

/* Bytes of chunks held now (what counts against the cap). */
size_t de_arena_used(const struct de_arena *a);

#endif
