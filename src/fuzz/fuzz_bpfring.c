/* fuzz_bpfring.c: the BPF ring buffer consumer (collector/bpfring.c) over
 * arbitrary ring contents and positions: it must never read outside the
 * ring (ASan), must deliver payloads that lie inside the producer's
 * span, and must stop (no endless loop) on any header. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpfring.h"

#define RING 512u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cb(void *ud, void *p, size_t n)
{
	size_t *total = ud;
	const volatile uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		(void)b[i]; /* touch every byte: ASan catches a payload outside the ring */
	*total += n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	/* positions: a start anywhere (8-byte aligned, as the kernel keeps
	 * them) and up to one ring of pending data */
	uint16_t start, span;
	memcpy(&start, data, 2);
	memcpy(&span, data + 2, 2);
	uint8_t *ring = malloc(RING); /* exactly the ring: ASan sees one byte past it */
	if (!ring)
		return 0;
	memset(ring, 0, RING);
	memcpy(ring, data + 4, size - 4 < RING ? size - 4 : RING);
	/* span's top bit puts the producer behind the consumer (corrupt) */
	unsigned long cons = (unsigned long)start * 8 + RING;
	unsigned long prod = span & 0x8000u ? cons - RING : cons + (span % (RING / 8 + 1)) * 8;
	size_t total = 0;
	struct de_bpfring *r;
	if (de_bpfring_open_mem(&cons, &prod, ring, RING, cb, &total, &r) == 0) {
		unsigned long before = cons;
		int n = de_bpfring_consume(r);
		if (prod >= before && (cons > prod || cons < before))
			abort(); /* the consumer position stays within what was produced */
		if (prod < before && (n != -EPROTO || cons != before))
			abort(); /* a producer behind the consumer is refused, nothing read */
		if (n > 0 && total > (size_t)(prod - before))
			abort(); /* payloads come from the produced span */
		de_bpfring_close(r);
	}
	free(ring);
	return 0;
}
