/* ipcframe.h: the frame layer of DaemonEye's IPC (docs/IPC.md).
 *
 * A frame is a 12-byte header followed by one protobuf-encoded Envelope:
 *
 *   offset 0  4 bytes  magic "DEIP"
 *   offset 4  1 byte   protocol major version (DE_IPC_VERSION_MAJOR)
 *   offset 5  1 byte   protocol minor version (additive changes only)
 *   offset 6  2 bytes  flags, must be 0 in version 1
 *   offset 8  4 bytes  payload length, unsigned little-endian
 *
 * The header is checked before any payload byte is buffered: a bad magic,
 * an unknown major version, non-zero flags or a length above the frame
 * limit end the stream with an error, whatever the length field claims.
 * The reader buffers a payload as its bytes arrive (growing geometrically
 * up to the announced length), so a peer that announces 4 MiB and sends 10
 * bytes costs a few KiB, not 4 MiB. Trade-off: a large frame is copied a
 * few times while it grows; frames are small in practice (event batches
 * of tens of KiB).
 *
 * The reader is incremental: feed it whatever read(2) returned (partial
 * frames, several frames at once); it hands back complete payloads one by
 * one. After an error the reader stays failed: the stream cannot be
 * resynchronised, the connection must be closed.
 */
#ifndef DE_IPCFRAME_H
#define DE_IPCFRAME_H

#include <stddef.h>
#include <stdint.h>

#define DE_IPC_MAGIC0 'D'
#define DE_IPC_MAGIC1 'E'
#define DE_IPC_MAGIC2 'I'
#define DE_IPC_MAGIC3 'P'
#define DE_IPC_VERSION_MAJOR 1
#define DE_IPC_VERSION_MINOR 0
#define DE_IPC_HDR_LEN 12

/* Default hard limit of a frame's payload, and the largest limit a caller
 * may configure. */
#define DE_IPC_FRAME_MAX_DEFAULT (4u * 1024u * 1024u)
#define DE_IPC_FRAME_MAX_LIMIT (64u * 1024u * 1024u)

/* Write a header for a payload of `len` bytes (len <= DE_IPC_FRAME_MAX_LIMIT). */
void de_ipc_hdr_write(uint8_t hdr[DE_IPC_HDR_LEN], uint32_t len);

/* Check a header against a frame limit. Returns the payload length, or:
 * -EBADMSG bad magic or non-zero flags, -EPROTONOSUPPORT another major
 * version, -EMSGSIZE a length above frame_max. */
int64_t de_ipc_hdr_parse(const uint8_t hdr[DE_IPC_HDR_LEN], uint32_t frame_max);

/* A short English reason for the errors of this layer and of ipcmsg. */
const char *de_ipc_strerror(int err);

struct de_ipc_reader;

/* frame_max: 0 for DE_IPC_FRAME_MAX_DEFAULT, at most
 * DE_IPC_FRAME_MAX_LIMIT. Returns NULL with errno (ENOMEM, EINVAL). */
struct de_ipc_reader *de_ipc_reader_new(uint32_t frame_max);
void de_ipc_reader_free(struct de_ipc_reader *r);

/* Consume bytes from p[0..n) until one frame is complete. Sets *used to
 * the bytes consumed. Returns 1 when a frame is ready (de_ipc_reader_frame
 * gives it; it stays valid until the next feed), 0 when every byte was
 * consumed and more are needed, or a negative error (sticky; see
 * de_ipc_hdr_parse, plus -ENOMEM). Call again with the rest of the input
 * after a 1. */
int de_ipc_reader_feed(struct de_ipc_reader *r, const void *p, size_t n, size_t *used);

/* The payload of the frame made ready by the last feed that returned 1. */
void de_ipc_reader_frame(const struct de_ipc_reader *r, const uint8_t **payload, size_t *len,
			 uint8_t *minor);

/* Bytes of an incomplete frame held (0 at a frame boundary): at EOF, a
 * non-zero value means the peer sent a truncated frame. */
size_t de_ipc_reader_pending(const struct de_ipc_reader *r);

/* Bytes of payload buffer currently allocated (tests, status). */
size_t de_ipc_reader_mem(const struct de_ipc_reader *r);

#endif
