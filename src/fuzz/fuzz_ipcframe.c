/* fuzz_ipcframe.c: the IPC stream decoder on arbitrary bytes.
 *
 * The input is a byte stream as a peer would send it (the seeds are real
 * frames). It is fed to the frame reader twice, in one piece and in small
 * pieces, and both must give the same frames and the same verdict. Each
 * frame's payload is decoded with a capped arena; a message that decodes
 * is encoded again and must decode again (the encoder accepts whatever the
 * decoder lets through). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ipcframe.h"
#include "ipcmsg.h"

#define FRAME_MAX (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(const uint8_t *p, size_t len, struct de_arena *a, struct de_arena *a2)
{
	struct de_ipc_limits lim = { .frame_max = FRAME_MAX };
	struct de_ipc_msg m;
	de_arena_reset(a);
	if (de_ipc_decode(p, len, &lim, a, &m) < 0)
		return;
	struct de_buf b = DE_BUF_INIT;
	de_arena_reset(a2);
	int64_t n = de_ipc_encode(&m, &lim, a2, &b);
	if (n == -EMSGSIZE) { /* absent ids become 16 bytes: may grow */
		de_buf_free(&b);
		return;
	}
	if (n < 0)
		abort();
	struct de_ipc_msg again;
	if (de_ipc_decode(b.data + DE_IPC_HDR_LEN, b.len - DE_IPC_HDR_LEN, &lim, a2, &again) < 0 ||
	    again.kind != m.kind)
		abort();
	de_buf_free(&b);
}

/* Feed data in pieces of `step` bytes (0: all at once); returns the
 * number of frames, and the final verdict in *verdict. */
static unsigned run(const uint8_t *data, size_t size, size_t step, int *verdict,
		    struct de_arena *a, struct de_arena *a2)
{
	struct de_ipc_reader *r = de_ipc_reader_new(FRAME_MAX);
	if (!r)
		abort();
	unsigned frames = 0;
	size_t off = 0;
	*verdict = 0;
	while (off < size) {
		size_t n = step ? DE_MIN(step, size - off) : size - off;
		size_t used;
		int rc = de_ipc_reader_feed(r, data + off, n, &used);
		off += used;
		if (rc < 0) {
			*verdict = rc;
			break;
		}
		if (rc == 1) {
			const uint8_t *p;
			size_t len;
			de_ipc_reader_frame(r, &p, &len, NULL);
			if (a)
				check_message(p, len, a, a2);
			frames++;
		}
	}
	if (!*verdict && de_ipc_reader_pending(r))
		*verdict = 1; /* truncated */
	de_ipc_reader_free(r);
	return frames;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct de_arena *a = de_arena_new(de_ipc_arena_cap(FRAME_MAX));
	struct de_arena *a2 = de_arena_new(de_ipc_arena_cap(FRAME_MAX));
	if (!a || !a2)
		abort();
	int v1, v2;
	unsigned f1 = run(data, size, 0, &v1, a, a2);
	unsigned f2 = run(data, size, 1 + size % 13, &v2, NULL, NULL);
	if (f1 != f2 || v1 != v2)
		abort();
	de_arena_free(a);
	de_arena_free(a2);
	return 0;
}
