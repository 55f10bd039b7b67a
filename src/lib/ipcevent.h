/* ipcevent.h: struct de_event <-> the protobuf Event message (ipc.proto).
 *
 * Internal to the IPC modules (ipcmsg.c is the only user): the one place
 * that knows both the C event model (event.h, proc.h) and the protoc-c
 * generated structures. Scalar fields that have the same name on both
 * sides are listed once (X-macros in ipcevent.c) and copied in both
 * directions from that one list; the rest (strings, ids, arrays, nested
 * messages) have one encoder and one checking decoder each.
 */
#ifndef DE_IPCEVENT_H
#define DE_IPCEVENT_H

#include <stdint.h>

#include "arena.h"
#include "event.h"
#include "ipc.pb-c.h"

/* Fill *m (initialised here) from ev, pointing at ev's memory; temporary
 * structures come from scratch. argv (and a proc's argv and env) longer
 * than argv_max is cut and marked truncated. Returns 0, -ENOMEM, -EINVAL
 * (an event type or source outside the enums). */
int de_ipc_event_to_pb(const struct de_event *ev, uint32_t argv_max, struct de_arena *scratch,
		       Daemoneye__V1__Event *m);

/* Fill *ev from a decoded message, checking every bound (see ipcmsg.h);
 * strings and the struct de_proc are allocated from arena. Returns 0,
 * -EBADMSG or -ENOMEM. */
int de_ipc_event_from_pb(const Daemoneye__V1__Event *m, uint32_t argv_max, struct de_arena *arena,
			 struct de_event *ev);

#endif
