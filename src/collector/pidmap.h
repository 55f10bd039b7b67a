/* pidmap.h: what an event source remembers about each live process.
 *
 * A hash table keyed by pid (open addressing, linear probing, deletion by
 * backward shift: no tombstones, so lookups stay short however long the
 * collector runs). One entry per live thread group: its start time (the
 * second half of the identity, so pid reuse is detected), parent, real
 * uid, comm and a fingerprint of its image. The netlink source uses it to
 * name processes whose /proc entry is already gone (exit events); the
 * proc source to tell new, changed and vanished processes apart between
 * two scans (`mark`). Memory is proportional to the live processes; one
 * table belongs to one thread.
 */
#ifndef DE_PIDMAP_H
#define DE_PIDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "procparse.h"

struct de_pidmap_ent {
	int32_t pid;           /* 0: free slot */
	int32_t ppid;
	uint64_t start_ticks;
	uint64_t image;        /* fingerprint of exe, argv and comm (proc source) */
	uint32_t uid;          /* real uid, UINT32_MAX when unknown */
	uint32_t mark;         /* the scan that last saw it (proc source) */
	uint8_t held;          /* proc source: its exec is held back one scan */
	char comm[DE_COMM_MAX];
};

struct de_pidmap {
	struct de_pidmap_ent *slots;
	size_t cap;   /* power of two */
	size_t count;
};

void de_pidmap_init(struct de_pidmap *m);
void de_pidmap_free(struct de_pidmap *m);
struct de_pidmap_ent *de_pidmap_get(struct de_pidmap *m, int32_t pid);
/* The entry for pid, created (zeroed, pid set) when absent. NULL and errno
 * ENOMEM when it cannot grow; EINVAL for pid <= 0. */
struct de_pidmap_ent *de_pidmap_put(struct de_pidmap *m, int32_t pid);
void de_pidmap_del(struct de_pidmap *m, int32_t pid);

#endif
