/* evprint.h: how `daemoneye events` (and `daemoneye run`) show live events.
 *
 * One event per line, flushed, as an aligned table or JSON Lines (every
 * field, null where unknown), after the selection filters (--type,
 * --comm, --uid, --count). Every byte that came from a process (comm,
 * argv, paths) goes through emit.h, so hostile command lines stay valid
 * JSON and reach a terminal without control bytes. Status events left
 * out by --type are still logged on stderr when they report a problem
 * (fallbacks, drops): never lost. The same printer serves the in-process
 * collector and a subscription to a running agent.
 */
#ifndef DE_EVPRINT_H
#define DE_EVPRINT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"

struct de_evprint {
	bool json, color;
	unsigned types;        /* bit per enum de_event_type */
	const char *comm;
	int64_t uid;           /* -1: any */
	uint64_t count;        /* 0: no limit */
	uint64_t matched;
	struct de_buf line;
};

/* Defaults: exec, fork, exit and status events, no filter, table. */
void de_evprint_init(struct de_evprint *e);
void de_evprint_free(struct de_evprint *e);
/* "exec,fork" -> types. Returns 0 or -EINVAL (reported). */
int de_evprint_parse_types(struct de_evprint *e, const char *list);
/* The table's header line (nothing for JSON). */
void de_evprint_header(const struct de_evprint *e);
/* A de_event_sink_fn (ud: the printer): prints ev when it matches.
 * Returns 0, -ECANCELED once `count` process events were printed, or
 * -EIO when stdout fails. */
int de_evprint_event(const struct de_event *ev, void *ud);

#endif
