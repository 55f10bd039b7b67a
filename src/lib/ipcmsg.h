/* ipcmsg.h: the messages of DaemonEye's IPC and their protobuf encoding.
 *
 * The wire schema is proto/daemoneye/v1/ipc.proto (compiled by protoc-c at
 * build time); this header is its C face, so that no other module sees
 * protobuf-c types. Every frame carries one Envelope holding exactly one
 * message; de_ipc_decode() refuses a frame that does not decode to one
 * message this version knows.
 *
 * Events travel as struct de_event (event.h). Encoding points the protobuf
 * structures at the event's own memory (no copy) and caps argv at
 * limits.argv_max (the cut sets argv_truncated, as the collector does).
 * Decoding is strict: every string from the peer is bounded (DE_IPC_*_MAX
 * below), must not contain a NUL byte, and becomes a NUL-terminated copy;
 * ids and hashes must have their exact sizes; enum values must be known.
 * A decoded message, its events, their strings and their struct de_proc
 * live in one arena (arena.h) given by the caller, valid until it is reset:
 * one arena per batch, freed in one go. The arena's cap bounds what a
 * hostile frame can make the decoder allocate.
 */
#ifndef DE_IPCMSG_H
#define DE_IPCMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "event.h"

/* Bounds on strings received from a peer (bytes, NUL excluded). */
#define DE_IPC_PATH_MAX 4096u    /* filename, exe, cwd, root, cgroup */
#define DE_IPC_NAME_MAX 256u     /* user, container id and runtime, component, source */
#define DE_IPC_TEXT_MAX 1024u    /* detail, hash_note, reasons, error messages */
#define DE_IPC_ARGV_MAX_DEFAULT (256u * 1024u) /* argv and env, each */
#define DE_IPC_BATCH_MAX 65536u  /* events per batch */
#define DE_IPC_STATUS_MAX 16u    /* components per status */

struct de_ipc_limits {
	uint32_t frame_max; /* payload bytes; 0: DE_IPC_FRAME_MAX_DEFAULT */
	uint32_t argv_max;  /* argv / env bytes per event; 0: DE_IPC_ARGV_MAX_DEFAULT */
};

enum de_ipc_role {
	DE_IPC_ROLE_PROCMOND = 1,
	DE_IPC_ROLE_AGENT = 2,
	DE_IPC_ROLE_CLI = 3,
};

/* Capability bits (Hello / HelloAck), as in ipc.proto. */
#define DE_IPC_CAP_EVENTS 0x1u
#define DE_IPC_CAP_PROC_DETAIL 0x2u
#define DE_IPC_CAP_STATUS 0x4u
#define DE_IPC_CAP_ACK 0x8u
#define DE_IPC_CAP_LEDGER 0x10u
#define DE_IPC_CAP_CHECKPOINT 0x20u

#define DE_IPC_LEDGER_PAYLOAD_MAX (64u * 1024u)
#define DE_IPC_NOTE_MAX 4096u /* a LedgerCheckpoint's note */

enum de_ipc_kind {
	DE_IPC_HELLO = 1,
	DE_IPC_HELLO_ACK,
	DE_IPC_EVENT_BATCH,
	DE_IPC_STATUS_REQUEST,
	DE_IPC_STATUS,
	DE_IPC_ACK,
	DE_IPC_ERROR,
	DE_IPC_LEDGER_APPEND,
	DE_IPC_LEDGER_CHECKPOINT,
};

struct de_ipc_hello {
	enum de_ipc_role role;
	uint32_t major, minor;
	int32_t pid;
	const char *build_version;
	uint64_t caps;
};

struct de_ipc_hello_ack {
	bool accepted;
	const char *reason; /* NULL or "" when accepted */
	uint32_t minor;
	uint64_t caps;
};

struct de_ipc_batch {
	uint64_t first_seq;
	bool resync;
	uint64_t spilled;
	size_t n;
	struct de_event *events; /* encode: const in practice; decode: in the arena */
};

struct de_ipc_component {
	const char *component, *source;
	int32_t pid;
	uint32_t uid;
	uint64_t cap_eff;
	double events_per_sec;
	uint64_t drops, queue_depth, uptime_ns, cpu_ns, rss_bytes;
	/* procmond's audit ledger; all 0 when not reported (the agent) */
	uint32_t ledger_state;    /* DE_IPC_LEDGER_* */
	int32_t ledger_errno;     /* positive errno for NOT_OPEN and STOPPED */
	uint64_t ledger_records, ledger_checkpoint;
};

enum { DE_IPC_LEDGER_UNKNOWN = 0, DE_IPC_LEDGER_RECORDING, DE_IPC_LEDGER_NOT_OPEN,
       DE_IPC_LEDGER_STOPPED };

struct de_ipc_status {
	size_t n;
	struct de_ipc_component *components;
};

struct de_ipc_error {
	int32_t code;        /* positive errno */
	const char *message;
};

struct de_ipc_ledger_append {
	uint32_t type;
	const char *key;      /* NUL-terminated, at most DE_IPC_NAME_MAX bytes */
	const void *payload;  /* binary, at most DE_IPC_LEDGER_PAYLOAD_MAX bytes */
	size_t len;
};

struct de_ipc_msg {
	enum de_ipc_kind kind;
	union {
		struct de_ipc_hello hello;
		struct de_ipc_hello_ack hello_ack;
		struct de_ipc_batch batch;
		struct de_ipc_status status;
		uint64_t ack_seq;
		struct de_ipc_error error;
		struct de_ipc_ledger_append ledger;
		const char *note; /* DE_IPC_LEDGER_CHECKPOINT: the signed note text */
	};
};

const char *de_ipc_kind_name(enum de_ipc_kind k);

/* Append one frame (header + Envelope) holding m to out. `scratch` holds
 * the temporary protobuf structures (reset by the caller between calls, or
 * not: it is only appended to). Returns the frame's length, -EMSGSIZE when
 * the payload would exceed the frame limit (out unchanged), -EINVAL for a
 * message that cannot be encoded (unknown kind, a batch over
 * DE_IPC_BATCH_MAX), -ENOMEM. */
int64_t de_ipc_encode(const struct de_ipc_msg *m, const struct de_ipc_limits *lim,
		      struct de_arena *scratch, struct de_buf *out);

/* The length de_ipc_encode would give m's frame (header included),
 * without writing it; same errors except -EMSGSIZE. */
int64_t de_ipc_encoded_len(const struct de_ipc_msg *m, const struct de_ipc_limits *lim,
			   struct de_arena *scratch);

/* Decode one frame's payload into *m, allocating from `arena`. Returns 0,
 * -EBADMSG for anything malformed (protobuf errors, unknown or missing
 * message, bounds, sizes, enum values, NUL bytes in strings), -ENOMEM when
 * the arena's cap is reached. */
int de_ipc_decode(const void *payload, size_t len, const struct de_ipc_limits *lim,
		  struct de_arena *arena, struct de_ipc_msg *m);

/* The server's side of the handshake, the versioning rules in one place:
 * a Hello is accepted when its major version is ours and its role is in
 * allowed_roles (bits 1u << DE_IPC_ROLE_*); both sides then speak the
 * lower minor version and the capabilities both have (asked & offered).
 * Fills *ack (its reason is a constant string) and returns 0, or
 * -EPROTONOSUPPORT / -EPERM when refused. */
int de_ipc_hello_answer(const struct de_ipc_hello *h, unsigned allowed_roles,
			uint64_t offered_caps, struct de_ipc_hello_ack *ack);

/* The Hello this build sends for a role. */
void de_ipc_hello_init(struct de_ipc_hello *h, enum de_ipc_role role, uint64_t caps);

/* Arena cap that fits any message decoded from a frame of frame_max bytes
 * (decoded structures are larger than their encoding). */
size_t de_ipc_arena_cap(uint32_t frame_max);

#endif
