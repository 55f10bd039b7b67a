/* collector.h: the collector runner: picks an event source, runs it.
 *
 * Source choice: forced (`--source`, collector.source) or auto: ebpf, then
 * netlink, then /proc polling. Each failed attempt and the final choice
 * are delivered as DE_EV_STATUS events (DE_ST_DEGRADED with the reason,
 * then DE_ST_STARTED), so consumers always know what they are looking at.
 * A forced source that cannot start is an error with the reason; there is
 * no silent fallback.
 *
 * Running: one epoll loop over the source's fd (and a signalfd when asked
 * to stop on SIGINT/SIGTERM), sleeping for the source's timeout_ms() and
 * never busy-polling. Every event passes through the runner on its way to
 * the caller's sink: it gets its `seq` (monotonic per run) and time_ns when
 * the source left it 0. At start the runner takes a snapshot (the
 * source's snapshot(), or the shared /proc one: de_procsnap_events) and
 * reports DE_ST_RESYNC ("startup snapshot: N processes") when it is
 * complete; after any DE_ST_DROPS it takes a resync snapshot and reports
 * DE_ST_RESYNC again.
 *
 * The sink may return -ECANCELED to stop the run cleanly (e.g. after N
 * events); any other negative return stops it with that error.
 */
#ifndef DE_COLLECTOR_H
#define DE_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "source.h"

struct de_collector_opts {
	const struct de_config *cfg;
	enum de_source_choice source;          /* DE_SOURCE_AUTO or the forced one */
	const char *proc_root;          /* NULL: /proc */
	de_event_sink_fn sink;
	void *sink_ud;
	bool no_snapshot;               /* skip the startup snapshot (tests) */
	bool stop_on_signals;           /* block SIGINT/SIGTERM, stop when one arrives */
	uint32_t netlink_rcvbuf_bytes;  /* 0: the source's default */
};

struct de_collector;

/* Open the source and deliver the choice (status events) to the sink.
 * Returns 0 and *out, or a negative errno and the reason in why. */
int de_collector_open(const struct de_collector_opts *o, struct de_collector **out, char *why,
		      size_t why_len);
/* Startup snapshot (unless no_snapshot), then the event loop until a signal
 * (stop_on_signals), duration_ms elapsed (< 0: no limit) or the sink
 * returns -ECANCELED. Returns 0 on a clean stop or a negative errno. */
int de_collector_run(struct de_collector *c, int64_t duration_ms);
enum de_event_source de_collector_kind(const struct de_collector *c);
void de_collector_close(struct de_collector *c);

/* Ask a running de_collector_run() for a resync snapshot (DE_EV_SNAPSHOT
 * events, then DE_ST_RESYNC), as after a drop report. Safe to call from
 * any thread (procmond's IPC loop calls it while the runner runs in its
 * own thread); wakes the loop through an eventfd. Returns 0 or a negative
 * errno. */
int de_collector_request_resync(struct de_collector *c);

/* Whether a source of this kind is built in (in the source table). */
bool de_collector_has(enum de_event_source kind);

#endif
