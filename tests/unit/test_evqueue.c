/* test_evqueue.c: the collector thread -> IPC loop hand-over: copies in
 * order across chunks, the eventfd signals a batch (at a flush or a full
 * chunk, not per event), the byte cap refuses events and counts them by
 * type, a take hands the counts over. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "evqueue.h"

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

static void test_order_and_signal(void **state)
{
	(void)state;
	struct de_evqueue q;
	assert_int_equal(de_evqueue_init(&q, 64u << 20), 0);
	assert_false(readable(de_evqueue_fd(&q)));
	char argv[32];
	for (int i = 0; i < 600; i++) { /* three chunks */
		snprintf(argv, sizeof(argv), "/bin/x%d", i);
		struct de_event ev = { .type = DE_EV_EXEC, .pid = i + 1, .argv = argv,
				       .argv_len = strlen(argv) + 1, .argc = 1 };
		assert_int_equal(de_evqueue_sink(&ev, &q), 0);
		memset(argv, 'z', sizeof(argv)); /* the queue must hold its own copy */
		/* no wake per event: the first comes when a chunk fills */
		assert_int_equal(readable(de_evqueue_fd(&q)), i + 1 >= DE_EVQ_CHUNK_EVENTS);
	}
	de_evqueue_flush(&q);
	assert_true(readable(de_evqueue_fd(&q)));
	uint64_t drops[DE_EV__COUNT] = { 0 };
	struct de_evq_chunk *c = de_evqueue_take(&q, drops);
	assert_false(readable(de_evqueue_fd(&q)));
	int seen = 0, chunks = 0;
	while (c) {
		chunks++;
		for (size_t i = 0; i < c->n; i++) {
			snprintf(argv, sizeof(argv), "/bin/x%d", seen);
			assert_int_equal(c->ev[i].pid, seen + 1);
			assert_string_equal(c->ev[i].argv, argv);
			seen++;
		}
		struct de_evq_chunk *n = c->next;
		de_evqueue_chunk_free(c);
		c = n;
	}
	assert_int_equal(seen, 600);
	assert_int_equal(chunks, 3);
	for (int i = 0; i < DE_EV__COUNT; i++)
		assert_int_equal(drops[i], 0);
	assert_null(de_evqueue_take(&q, drops));
	/* a flush with nothing queued wakes nobody */
	de_evqueue_flush(&q);
	assert_false(readable(de_evqueue_fd(&q)));
	/* a short batch: silent until the flush, then one wake */
	struct de_event ev = { .type = DE_EV_EXIT, .pid = 7 };
	for (int i = 0; i < 3; i++)
		assert_int_equal(de_evqueue_sink(&ev, &q), 0);
	assert_false(readable(de_evqueue_fd(&q)));
	de_evqueue_flush(&q);
	assert_true(readable(de_evqueue_fd(&q)));
	c = de_evqueue_take(&q, drops);
	assert_non_null(c);
	assert_int_equal(c->n, 3);
	de_evqueue_chunk_free(c);
	de_evqueue_free(&q);
}

static void test_cap_counts_drops(void **state)
{
	(void)state;
	struct de_evqueue q;
	/* Room for one chunk and little else: most events are refused. */
	assert_int_equal(de_evqueue_init(&q, sizeof(struct de_evq_chunk) + 300u * 1024u), 0);
	static char big[60000];
	memset(big, 'a', sizeof(big) - 1);
	int refused_exec = 0;
	for (int i = 0; i < 20; i++) {
		struct de_event ev = { .type = i % 2 ? DE_EV_EXIT : DE_EV_EXEC, .pid = i + 1,
				       .filename = big };
		assert_int_equal(de_evqueue_sink(&ev, &q), 0);
	}
	de_evqueue_flush(&q);
	assert_true(readable(de_evqueue_fd(&q)));
	uint64_t drops[DE_EV__COUNT] = { 0 };
	struct de_evq_chunk *c = de_evqueue_take(&q, drops);
	size_t kept = 0;
	for (struct de_evq_chunk *x = c; x; x = x->next)
		kept += x->n;
	refused_exec = (int)drops[DE_EV_EXEC];
	assert_true(kept < 20);
	assert_int_equal(kept + drops[DE_EV_EXEC] + drops[DE_EV_EXIT], 20);
	assert_true(refused_exec > 0 && drops[DE_EV_EXIT] > 0);
	while (c) {
		struct de_evq_chunk *n = c->next;
		de_evqueue_chunk_free(c);
		c = n;
	}
	/* The counts were handed over once. */
	uint64_t again[DE_EV__COUNT] = { 0 };
	assert_null(de_evqueue_take(&q, again));
	assert_int_equal(again[DE_EV_EXEC] + again[DE_EV_EXIT], 0);
	de_evqueue_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_signal),
		cmocka_unit_test(test_cap_counts_drops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
