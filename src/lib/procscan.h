/* procscan.h: read every process on all cores, output in pid order.
 *
 * Reading /proc is syscall-bound (each file is an open, a read and a
 * close, each a few microseconds inside the kernel), so a snapshot scales
 * with cores. The pid list is read once, cut into batches of pids, and
 * worker threads (each with its own de_proc_reader: no shared mutable
 * state, no locks on the read path) turn each batch into bytes with the
 * caller's `emit`. The calling thread hands finished batches to `flush`
 * strictly in batch order, so output is identical to a single-threaded
 * scan, and frees each batch after its flush (memory stays bounded by the
 * batches in flight, not by the number of processes).
 */
#ifndef DE_PROCSCAN_H
#define DE_PROCSCAN_H

#include "buf.h"
#include "proc.h"

struct de_scan {
	const struct de_proc_opts *opts;
	unsigned threads; /* 0: one per online CPU (at most 16); 1: no threads */
	/* In a worker: append p's output to out. `scratch` is the worker's own
	 * buffer for temporary use. A negative return stops the scan. */
	int (*emit)(const struct de_proc *p, struct de_buf *out, struct de_buf *scratch, void *ud);
	/* In the calling thread, in pid order: consume a batch's output. */
	int (*flush)(const char *data, size_t len, void *ud);
	void *ud;
	/* Optional: processes already read from another source (the BPF
	 * iterator, bpfsnap.h), in pid order, instead of listing proc_root.
	 * A worker calls known(i, p, known_ud) to fill p: it returns the mask
	 * of groups it filled (DE_PF_BIT), and de_proc_complete() adds the rest
	 * from /proc; 0 means read p->pid from /proc whole. n_known may be 0. */
	unsigned (*known)(size_t i, struct de_proc *p, void *known_ud);
	size_t n_known;
	void *known_ud;
};

/* Returns the number of processes read, or a negative errno (the first
 * error from opening /proc, a reader, emit or flush). */
int de_proc_scan_all(const struct de_scan *s);

#endif
