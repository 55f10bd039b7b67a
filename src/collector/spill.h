/* spill.h: procmond's bounded on-disk buffer of IPC frames (STATE/spill/).
 *
 * When the agent is slow or away, procmond keeps reading the kernel ring
 * buffer and appends the encoded EventBatch frames here instead of
 * dropping them; when the agent is back they are read back, oldest first,
 * and sent before anything newer. A FIFO of whole frames (12-byte header +
 * payload, as on the wire) in segment files `seg-NNNNNNNNNNNNNNNN` of at
 * most `segment_bytes` each; a segment is deleted as soon as its last
 * frame was consumed. The total size on disk never exceeds `cap_bytes`:
 * a push that would pass it is refused (-ENOSPC) and the caller drops the
 * frame and reports the drop (never silently). Frames read back are
 * checked (ipcframe header, length) like frames from a peer: a damaged
 * file ends the spill with -EBADMSG rather than sending garbage.
 *
 * Trade-offs: no fsync (the spill protects against a slow or restarting
 * agent, not against a power loss of procmond's host); a spill left by an
 * earlier procmond run is discarded at open (its sequence numbers belong
 * to that run) and its size is reported so the caller can say so. Not
 * thread-safe: owned by procmond's IPC loop.
 */
#ifndef DE_SPILL_H
#define DE_SPILL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define DE_SPILL_CAP_DEFAULT (256ull * 1024 * 1024)
#define DE_SPILL_SEGMENT_DEFAULT (8ull * 1024 * 1024)

struct de_spill_opts {
	const char *dir;         /* must exist, writable */
	uint64_t cap_bytes;      /* 0: DE_SPILL_CAP_DEFAULT */
	uint64_t segment_bytes;  /* 0: DE_SPILL_SEGMENT_DEFAULT */
};

struct de_spill;

/* Open the spill directory, deleting segments left by an earlier run
 * (their total size in *discarded). Returns 0 and *out, or a negative
 * errno. */
int de_spill_open(const struct de_spill_opts *o, struct de_spill **out, uint64_t *discarded);
void de_spill_close(struct de_spill *s);

/* Append one whole frame. Returns 0, -ENOSPC when it would pass the cap
 * (nothing written), or a write error. */
int de_spill_push(struct de_spill *s, const void *frame, size_t n);

/* The oldest frame, copied into *out (reset first), without consuming it.
 * Returns its length (> 0), 0 when the spill is empty, or -EBADMSG / a
 * read error. */
int64_t de_spill_peek(struct de_spill *s, struct de_buf *out);
/* Consume the frame the last peek returned. */
void de_spill_pop(struct de_spill *s);

uint64_t de_spill_frames(const struct de_spill *s); /* frames held */
uint64_t de_spill_bytes(const struct de_spill *s);  /* bytes on disk */

#endif
