/* bpfring.c: BPF ring buffer consumer with the data mapped once (bpfring.h). */
#include "bpfring.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "macros.h"

struct de_bpfring {
	de_bpfring_cb cb;
	void *ud;
	size_t page, size;
	unsigned long *consumer;       /* read-write page */
	const unsigned long *producer; /* read-only: the producer page, then the data */
	const uint8_t *data;
	uint8_t *wrap;                 /* copy of a record that wraps the end */
	size_t wrap_cap;
	bool mapped;                   /* de_bpfring_open: unmap on close */
};

static int ring_new(size_t page, unsigned long *consumer, const unsigned long *producer,
		    const void *data, size_t size, de_bpfring_cb cb, void *ud,
		    struct de_bpfring **out)
{
	if (size < 8 || (size & (size - 1)) || !cb)
		return -EINVAL;
	struct de_bpfring *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cb = cb;
	r->ud = ud;
	r->page = page;
	r->size = size;
	r->consumer = consumer;
	r->producer = producer;
	r->data = data;
	*out = r;
	return 0;
}

int de_bpfring_open_mem(unsigned long *consumer, const unsigned long *producer, const void *data,
			size_t size, de_bpfring_cb cb, void *ud, struct de_bpfring **out)
{
	return ring_new(0, consumer, producer, data, size, cb, ud, out);
}

int de_bpfring_open(int map_fd, size_t size, de_bpfring_cb cb, void *ud, struct de_bpfring **out)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t page = pg > 0 ? (size_t)pg : 4096;
	if (size < page || (size & (size - 1)) || !cb)
		return -EINVAL;
	void *c = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (c == MAP_FAILED)
		return de_neg_errno();
	void *p = mmap(NULL, page + size, PROT_READ, MAP_SHARED, map_fd, (off_t)page);
	int e = p == MAP_FAILED ? de_neg_errno()
				: ring_new(page, c, p, (const uint8_t *)p + page, size, cb, ud, out);
	if (e < 0) {
		munmap(c, page);
		if (p != MAP_FAILED)
			munmap(p, page + size);
		return e;
	}
	(*out)->mapped = true;
	return 0;
}

void de_bpfring_close(struct de_bpfring *r)
{
	if (!r)
		return;
	if (r->mapped) {
		munmap(r->consumer, r->page);
		munmap((void *)r->producer, r->page + r->size);
	}
	free(r->wrap);
	free(r);
}

bool de_bpfring_pending(const struct de_bpfring *r)
{
	return __atomic_load_n(r->producer, __ATOMIC_ACQUIRE) !=
	       __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
}

/* The record's payload at ring offset `off`, `len` bytes: in place, or
 * copied when it runs past the end of the data area. */
static void *payload(struct de_bpfring *r, size_t off, size_t len)
{
	if (off + len <= r->size)
		return (void *)(r->data + off);
	if (len > r->wrap_cap) {
		uint8_t *w = realloc(r->wrap, len);
		if (!w)
			return NULL;
		r->wrap = w;
		r->wrap_cap = len;
	}
	size_t first = r->size - off;
	memcpy(r->wrap, r->data + off, first);
	memcpy(r->wrap + first, r->data, len - first);
	return r->wrap;
}

int de_bpfring_consume(struct de_bpfring *r)
{
	const size_t mask = r->size - 1;
	unsigned long cons = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
	int n = 0;
	for (;;) {
		unsigned long prod = __atomic_load_n(r->producer, __ATOMIC_ACQUIRE);
		if (cons == prod)
			return n;
		if (prod < cons)
			return -EPROTO; /* positions only grow: never written by a kernel */
		while (cons < prod) {
			/* headers are 8-byte aligned in a ring of >= one page: never split */
			const uint32_t *hdr = (const uint32_t *)(const void *)(r->data + (cons & mask));
			uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
			if (len & BPF_RINGBUF_BUSY_BIT)
				return n;
			size_t sz = len & ~(uint32_t)(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
			unsigned long next = cons + ((sz + BPF_RINGBUF_HDR_SZ + 7) & ~(size_t)7);
			/* the kernel never writes these; a consumer must not read past the ring */
			if (sz > r->size - BPF_RINGBUF_HDR_SZ || next > prod)
				return -EPROTO;
			if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
				void *p = payload(r, (cons + BPF_RINGBUF_HDR_SZ) & mask, sz);
				if (!p)
					return -ENOMEM;
				int e = r->cb(r->ud, p, sz);
				__atomic_store_n(r->consumer, next, __ATOMIC_RELEASE);
				if (e < 0)
					return e;
				n++;
			} else {
				__atomic_store_n(r->consumer, next, __ATOMIC_RELEASE);
			}
			cons = next;
		}
	}
}
