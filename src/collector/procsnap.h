/* procsnap.h: the /proc side of the event sources.
 *
 * de_procsnap_scan() reads every process on all cores (procscan.h) and
 * hands each full struct de_proc to a callback in the calling thread, in
 * pid order. procscan's workers produce bytes, so each de_proc is copied
 * flat (the struct, then its strings) into the batch buffer by the worker
 * and rebuilt, pointers fixed up, in the calling thread: one copy per
 * process, no allocation per process, memory bounded by the batches in
 * flight. The proc source polls with it; the collector's startup and
 * resync snapshot for sources without a snapshot of their own is
 * de_procsnap_events(), the one shared implementation.
 *
 * de_event_from_proc() fills the process part of an event from a de_proc,
 * setting in `have` only the groups that were actually read.
 */
#ifndef DE_PROCSNAP_H
#define DE_PROCSNAP_H

#include "event.h"
#include "proc.h"
#include "source.h"

/* Called in the caller's thread, in pid order; p is valid during the call.
 * A negative return stops the scan and is returned. */
typedef int (*de_procsnap_fn)(const struct de_proc *p, void *ud);

/* Scan proc with the options o (threads 0: one per CPU). Returns the
 * number of processes or a negative errno. */
int de_procsnap_scan(const struct de_proc_opts *o, unsigned threads, de_procsnap_fn fn, void *ud);

/* Fill ev (zeroed first) with type, source and the process fields of p:
 * pid, tid (= pid), ppid, start_ticks, entity id, comm always; creds,
 * loginuid, argv, exe, exe identity and cgroup when read; DE_EVF_PROC with
 * ev->proc = p. parent_entity_id is left to the caller (DE_EVF_PARENT is
 * not set here). */
void de_event_from_proc(struct de_event *ev, enum de_event_type type, enum de_event_source src,
			const struct de_proc *p);

/* The shared snapshot: one DE_EV_SNAPSHOT event per live process (full
 * detail, DE_EVF_PROC) to sink, `src` as their source. Returns the number
 * of processes or a negative errno (from the scan or the sink). */
int de_procsnap_events(const struct de_proc_opts *o, enum de_event_source src,
		       de_event_sink_fn sink, void *ud);

#endif
