/* test_arena.c: the capped bump allocator. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdalign.h>
#include <string.h>

#include "arena.h"

static void test_alloc_align_strndup(void **state)
{
	(void)state;
	struct de_arena *a = de_arena_new(1 << 20);
	assert_non_null(a);
	for (size_t n = 0; n < 200; n++) {
		uint8_t *p = de_arena_alloc(a, n);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
		memset(p, 0xab, n); /* ASan checks the size */
	}
	char *s = de_arena_strndup(a, "abc\0def", 7);
	assert_memory_equal(s, "abc\0def", 8);
	uint32_t *z = de_arena_zalloc(a, 64 * sizeof(uint32_t));
	for (int i = 0; i < 64; i++)
		assert_int_equal(z[i], 0);
	de_arena_free(a);
}

static void test_cap(void **state)
{
	(void)state;
	struct de_arena *a = de_arena_new(64 * 1024);
	size_t total = 0;
	void *p;
	while ((p = de_arena_alloc(a, 1000)) != NULL)
		total += 1000;
	assert_int_equal(errno, ENOMEM);
	assert_true(total >= 32 * 1024); /* most of the cap is usable */
	assert_true(de_arena_used(a) <= 64 * 1024);
	/* one request above the cap fails without touching the rest */
	de_arena_reset(a);
	assert_null(de_arena_alloc(a, 1 << 20));
	assert_null(de_arena_alloc(a, SIZE_MAX - 8));
	assert_non_null(de_arena_alloc(a, 100));
	de_arena_free(a);
}

static void test_reset_reuses(void **state)
{
	(void)state;
	struct de_arena *a = de_arena_new(1 << 24);
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 1000; i++)
			assert_non_null(de_arena_alloc(a, 200));
		de_arena_reset(a);
	}
	size_t held = de_arena_used(a);
	/* steady state: the kept chunk holds a whole round */
	for (int i = 0; i < 1000; i++)
		assert_non_null(de_arena_alloc(a, 200));
	assert_int_equal(de_arena_used(a), held);
	assert_true(held < 1 << 20);
	de_arena_free(a);
	de_arena_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_align_strndup),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_reset_reuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
