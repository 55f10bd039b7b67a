/* bpfring.h: a consumer of a BPF ring buffer map (BPF_MAP_TYPE_RINGBUF)
 * that maps the data area once.
 *
 * libbpf's ring_buffer maps the data pages twice, back to back, so a
 * record that wraps around the end reads as one piece; the kernel maps
 * every page of the ring at mmap time, so that view costs twice the ring
 * in resident memory (4 MiB of procmond's RSS for a 2 MiB ring). Here the
 * data is mapped once and the rare record that wraps is copied into a
 * buffer of this consumer's (sized to the largest wrapped record seen).
 *
 * The wire format is the kernel's (include/uapi/linux/bpf.h): an 8-byte
 * header per record (length with BUSY and DISCARD bits, then the page
 * offset), records 8-byte aligned, positions in the first two pages
 * (consumer: the one page user space may write; producer: read-only).
 * Single consumer: one thread calls de_bpfring_consume at a time.
 */
#ifndef DE_BPFRING_H
#define DE_BPFRING_H

#include <stdbool.h>
#include <stddef.h>

/* A committed record: return < 0 to stop consuming (the record counts as
 * consumed; consume returns that value). */
typedef int (*de_bpfring_cb)(void *ud, void *data, size_t size);

struct de_bpfring;

/* Map the ring buffer map `map_fd` of `size` bytes (its max_entries: a
 * power of two, a multiple of the page size). The fd stays the caller's.
 * Returns 0 and *out, or a negative errno (mmap's). */
int de_bpfring_open(int map_fd, size_t size, de_bpfring_cb cb, void *ud, struct de_bpfring **out);
/* The same over memory the caller lays out as the kernel does (tests):
 * size a power of two >= 8; nothing is unmapped or freed on close. */
int de_bpfring_open_mem(unsigned long *consumer, const unsigned long *producer, const void *data,
			size_t size, de_bpfring_cb cb, void *ud, struct de_bpfring **out);
void de_bpfring_close(struct de_bpfring *r);

/* Deliver every committed record, in order, without blocking; stops at a
 * record still being written. Returns the number delivered, or the
 * callback's negative value, -ENOMEM (a wrapped record could not be
 * copied; it stays in the ring), or -EPROTO (a header claims more than
 * the ring or the producer holds, or the producer position is behind the
 * consumer's: never written by a kernel; nothing is read past the ring). */
int de_bpfring_consume(struct de_bpfring *r);

/* Whether records (committed or not) are pending: the producer is ahead
 * of the consumer. */
bool de_bpfring_pending(const struct de_bpfring *r);

#endif
