/* source.h: the interface every process event source implements.
 *
 * A source turns what the kernel reports into struct de_event (event.h)
 * and hands each to the sink callback. Sources, best first:
 *   ebpf     (src_ebpf.c)    tp_btf exec/fork/exit + BPF ring buffer
 *   netlink  (src_netlink.c) the process connector (CN_PROC) + /proc reads
 *   proc     (src_proc.c)    /proc polling at collector.poll_interval_ms
 * collector.c picks the first one that starts (or the forced one) and
 * reports the choice and every fallback as DE_EV_STATUS events.
 *
 * Event loop: a source exposes one pollable fd (de_source_ops.fd); the
 * owner waits on it with epoll (no busy polling) and calls dispatch() when
 * it is readable, or after timeout_ms() milliseconds when that is >= 0
 * (the proc source's poll interval, periodic drop reports). dispatch()
 * delivers every event that is ready without blocking, then returns.
 *
 * Snapshot: snapshot() delivers one DE_EV_SNAPSHOT event per live process
 * (with DE_EVF_PROC detail), used at start and for periodic resync; a
 * source that has no snapshot of its own uses the /proc scan (procscan.h).
 *
 * Drops are never silent: a source that loses events (ring buffer full,
 * netlink ENOBUFS) counts them per event type and delivers a DE_EV_STATUS
 * event with status DE_ST_DROPS at its next dispatch().
 *
 * Error convention: negative errno; on failure to start, a one-line
 * reason is written to `why` ("kernel has no BTF", "needs root: ...").
 */
#ifndef DE_SOURCE_H
#define DE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"

/* Receives each event; the event is valid only during the call. Returns 0,
 * or a negative errno to make dispatch()/snapshot() stop and return it. */
typedef int (*de_event_sink_fn)(const struct de_event *ev, void *ud);

struct de_source_opts {
	const struct de_config *cfg;   /* argv cap, poll interval, ... */
	de_event_sink_fn sink;
	void *sink_ud;
	const char *proc_root;         /* "/proc" unless testing */
	/* eBPF: ring buffer size in bytes (power of two, 0 = default); tests
	 * shrink it to provoke drops. */
	uint32_t ringbuf_bytes;
	/* netlink: socket receive buffer in bytes (0 = default, 32 MiB); tests
	 * shrink it to provoke ENOBUFS. */
	uint32_t netlink_rcvbuf_bytes;
};

struct de_source;

struct de_source_ops {
	enum de_event_source kind;
	/* Start: allocate, load, subscribe. Returns 0 and *out, or a negative
	 * errno and a reason in why. */
	int (*open)(const struct de_source_opts *o, struct de_source **out, char *why, size_t why_len);
	int (*fd)(struct de_source *s);               /* to wait on (epoll) */
	int (*timeout_ms)(struct de_source *s);       /* -1: only when fd is readable */
	int (*dispatch)(struct de_source *s);         /* deliver what is ready; never blocks */
	/* DE_EV_SNAPSHOT for every live process; returns how many, or a
	 * negative errno */
	int (*snapshot)(struct de_source *s);
	void (*close)(struct de_source *s);
};

extern const struct de_source_ops de_source_ebpf;
extern const struct de_source_ops de_source_netlink;
extern const struct de_source_ops de_source_proc;

#endif
