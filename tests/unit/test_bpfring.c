/* test_bpfring.c: the ring buffer consumer over memory laid out as the
 * kernel lays it out: records in order, records that wrap the end of the
 * data area arrive whole, discarded records are skipped, a record still
 * being written stops the consumer, a callback error stops it after that
 * record, the consumer position follows, and a header no kernel writes
 * (longer than the ring or than what was produced) is an error, not a read
 * past the ring. (The real map is exercised
 * by test_src_ebpf, whose drop test runs a one-page ring.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/bpf.h>
#include <string.h>

#include "bpfring.h"

#define RING 256u

struct fake {
	unsigned long cons, prod;
	_Alignas(8) uint8_t data[RING];
};

/* Write a record of `len` payload bytes (byte i = seed + i) at the
 * producer position, as the kernel does; returns its position. */
static unsigned long put(struct fake *f, uint32_t len, uint8_t seed, uint32_t bits)
{
	unsigned long at = f->prod;
	uint32_t hdr[2] = { len | bits, 0 };
	memcpy(f->data + (at & (RING - 1)), hdr, sizeof(hdr));
	for (uint32_t i = 0; i < len; i++)
		f->data[(at + BPF_RINGBUF_HDR_SZ + i) & (RING - 1)] = (uint8_t)(seed + i);
	f->prod = at + ((len + BPF_RINGBUF_HDR_SZ + 7) & ~7u);
	return at;
}

struct got {
	int n, stop_at;
	uint32_t len[32];
	uint8_t seed[32];
	int bad;
};

static int cb(void *ud, void *data, size_t size)
{
	struct got *g = ud;
	const uint8_t *p = data;
	for (size_t i = 1; i < size; i++)
		if (p[i] != (uint8_t)(p[0] + i))
			g->bad++;
	g->len[g->n] = (uint32_t)size;
	g->seed[g->n] = size ? p[0] : 0;
	g->n++;
	return g->n == g->stop_at ? -42 : 0;
}

/* An empty ring at positions 0 and a consumer over it. */
static struct de_bpfring *fresh(struct fake *f, struct got *g)
{
	memset(f, 0, sizeof(*f));
	memset(g, 0, sizeof(*g));
	struct de_bpfring *r;
	assert_int_equal(de_bpfring_open_mem(&f->cons, &f->prod, f->data, RING, cb, g, &r), 0);
	return r;
}

static void test_order_wrap_discard(void **state)
{
	(void)state;
	static struct fake f;
	struct got g;
	struct de_bpfring *r = fresh(&f, &g);
	f.cons = f.prod = 3 * RING - 40; /* positions only grow: start near a wrap */
	assert_false(de_bpfring_pending(r));
	assert_int_equal(de_bpfring_consume(r), 0);

	put(&f, 20, 1, 0);                           /* fits before the end */
	put(&f, 50, 2, 0);                           /* payload wraps the end */
	put(&f, 9, 3, BPF_RINGBUF_DISCARD_BIT);      /* skipped */
	put(&f, 0, 0, 0);                            /* an empty record */
	put(&f, 100, 4, 0);
	assert_true(de_bpfring_pending(r));
	assert_int_equal(de_bpfring_consume(r), 4);
	assert_int_equal(g.bad, 0);
	assert_int_equal(g.len[0], 20);
	assert_int_equal(g.seed[0], 1);
	assert_int_equal(g.len[1], 50);
	assert_int_equal(g.seed[1], 2);
	assert_int_equal(g.len[2], 0);
	assert_int_equal(g.len[3], 100);
	assert_int_equal(g.seed[3], 4);
	assert_int_equal(f.cons, f.prod);
	assert_false(de_bpfring_pending(r));

	/* many laps of odd sizes: every byte of every record intact */
	g.n = 0;
	for (int lap = 0; lap < 200; lap++) {
		uint32_t len = (uint32_t)(lap * 37 % 120) + 1;
		put(&f, len, (uint8_t)lap, 0);
		assert_int_equal(de_bpfring_consume(r), 1);
		assert_int_equal(g.len[0], len);
		assert_int_equal(g.seed[0], (uint8_t)lap);
		g.n = 0;
	}
	assert_int_equal(g.bad, 0);
	de_bpfring_close(r);
}

static void test_busy_and_stop(void **state)
{
	(void)state;
	static struct fake f;
	struct got g;
	struct de_bpfring *r = fresh(&f, &g);
	put(&f, 10, 1, 0);
	unsigned long busy = put(&f, 10, 2, BPF_RINGBUF_BUSY_BIT); /* reserved, not committed */
	put(&f, 10, 3, 0);
	assert_int_equal(de_bpfring_consume(r), 1);
	assert_int_equal(f.cons, busy); /* stopped at the busy record */
	assert_true(de_bpfring_pending(r));
	/* the producer commits it: the rest follows in order */
	uint32_t len = 10;
	memcpy(f.data + (busy & (RING - 1)), &len, sizeof(len));
	assert_int_equal(de_bpfring_consume(r), 2);
	assert_int_equal(g.seed[1], 2);
	assert_int_equal(g.seed[2], 3);

	/* a callback error stops after that record, which counts as consumed */
	g.n = 0;
	g.stop_at = 2;
	put(&f, 5, 7, 0);
	unsigned long third = put(&f, 5, 8, 0);
	third = put(&f, 5, 9, 0);
	assert_int_equal(de_bpfring_consume(r), -42);
	assert_int_equal(f.cons, third);
	g.stop_at = 0;
	assert_int_equal(de_bpfring_consume(r), 1);
	assert_int_equal(g.seed[2], 9);
	de_bpfring_close(r);
}

static void test_corrupt_header(void **state)
{
	(void)state;
	static struct fake f;
	struct got g;
	struct de_bpfring *r = fresh(&f, &g);
	/* a header longer than the ring (no kernel writes this), with a producer
	 * position that covers it */
	uint32_t hdr[2] = { 300, 0 };
	memcpy(f.data, hdr, sizeof(hdr));
	f.prod = 2 * RING;
	assert_int_equal(de_bpfring_consume(r), -EPROTO);
	assert_int_equal(g.n, 0);
	f.cons = f.prod = 0;
	put(&f, 16, 1, 0);
	f.prod -= 8; /* the header claims more than the producer published */
	assert_int_equal(de_bpfring_consume(r), -EPROTO);
	assert_int_equal(g.n, 0);
	f.cons = 64;
	f.prod = 32; /* a producer behind the consumer: an error, not an endless loop */
	assert_int_equal(de_bpfring_consume(r), -EPROTO);
	de_bpfring_close(r);
}

static void test_bad_size(void **state)
{
	(void)state;
	struct fake f = { 0 };
	struct got g = { 0 };
	struct de_bpfring *r;
	assert_int_equal(de_bpfring_open_mem(&f.cons, &f.prod, f.data, 100, cb, &g, &r), -EINVAL);
	assert_int_equal(de_bpfring_open(-1, 100, cb, &g, &r), -EINVAL);
	assert_int_equal(de_bpfring_open(-1, 1u << 20, cb, &g, &r), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_wrap_discard),
		cmocka_unit_test(test_busy_and_stop),
		cmocka_unit_test(test_corrupt_header),
		cmocka_unit_test(test_bad_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
