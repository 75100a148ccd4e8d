/* Unit tests for common/arena.c, the per-request memory region: every
 * allocation aligned, growth past the first chunk keeps what was handed
 * out, the last reference (in whatever order the holders let go) wipes
 * every byte handed out before freeing, and sizes that would wrap are
 * refused, and holders on several threads share one arena. Built with
 * RSVAULT_TESTING (the wipe hook). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "arena.h"

#ifndef RSVAULT_TESTING
/* The wipe hook exists only in test builds (TESTING=1, as `make test`
 * builds). */
int main(void)
{
	puts("1..0 # SKIP test_arena needs a TESTING=1 build (the wipe hook)");
	return 0;
}
#else

/* What the wipe hook saw: chunks, bytes, and whether all were zero. */
static size_t seen_chunks, seen_bytes, seen_nonzero;

static void on_wiped(const unsigned char *p, size_t n)
{
	seen_chunks++;
	seen_bytes += n;
	for (size_t i = 0; i < n; i++)
		seen_nonzero += p[i] != 0;
}

static int setup(void **state)
{
	(void)state;
	seen_chunks = seen_bytes = seen_nonzero = 0;
	arena_test_wiped = on_wiped;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_test_wiped = NULL;
	return 0;
}

static void test_alignment(void **state)
{
	struct arena *a = arena_new(0);

	(void)state;
	assert_non_null(a);
	for (size_t n = 0; n < 200; n++) {
		unsigned char *p = arena_alloc(a, n);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % ARENA_ALIGN, 0);
		memset(p, 0xa5, n);
		if (n > 0)
			assert_true(arena_owns(a, p));
	}
	/* calloc zeroes */
	unsigned char *z = arena_calloc(a, 100, 3);
	assert_non_null(z);
	for (size_t i = 0; i < 300; i++)
		assert_int_equal(z[i], 0);
	assert_false(arena_owns(a, &z)); /* a stack address */
	arena_unref(a);
	assert_int_equal(seen_nonzero, 0);
	assert_true(seen_bytes >= 200 * 199 / 2);
}

static void test_growth(void **state)
{
	struct arena *a = arena_new(256);
	unsigned char *p[40];
	char *s;

	(void)state;
	assert_non_null(a);
	assert_int_equal(arena_test_chunks(a), 1);
	/* 40 x 100 bytes cannot fit 256: more chunks, older data intact */
	for (int i = 0; i < 40; i++) {
		p[i] = arena_alloc(a, 100);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % ARENA_ALIGN, 0);
		memset(p[i], i + 1, 100);
	}
	assert_true(arena_test_chunks(a) > 1);
	for (int i = 0; i < 40; i++) {
		for (int j = 0; j < 100; j++)
			assert_int_equal(p[i][j], i + 1);
		assert_true(arena_owns(a, p[i]));
	}
	/* one allocation larger than any chunk gets a chunk of its own */
	size_t before = arena_test_chunks(a);
	unsigned char *big = arena_alloc(a, 100000);
	assert_non_null(big);
	memset(big, 0x77, 100000);
	assert_int_equal(arena_test_chunks(a), before + 1);
	assert_true(arena_owns(a, big + 99999));
	s = arena_strdup(a, "secret-ish");
	assert_non_null(s);
	assert_string_equal(s, "secret-ish");
	size_t chunks = arena_test_chunks(a);
	arena_unref(a);
	assert_int_equal(seen_chunks, chunks);
	assert_true(seen_bytes >= 40 * 100 + 100000 + 11);
	assert_int_equal(seen_nonzero, 0);
}

/* The bytes are still there (not zero) while any holder is left, and zero
 * once the last one, whichever it is, lets go. */
static void release_order(const int order[3])
{
	struct arena *a = arena_new(0);
	unsigned char *p;

	assert_non_null(a);
	arena_ref(a); /* the queued operation */
	arena_ref(a); /* the answer */
	p = arena_alloc(a, 64);
	assert_non_null(p);
	memset(p, 0x5a, 64);
	seen_chunks = 0;
	for (int i = 0; i < 3; i++) {
		(void)order[i]; /* holders are alike: only the count matters */
		arena_unref(a);
		if (i < 2) {
			assert_int_equal(seen_chunks, 0); /* not wiped, not freed */
			assert_int_equal(p[0], 0x5a);
		}
	}
	assert_int_equal(seen_chunks, 1);
	assert_true(seen_bytes >= 64);
	assert_int_equal(seen_nonzero, 0);
}

static void test_refcount_order(void **state)
{
	static const int orders[][3] = {{0, 1, 2}, {2, 1, 0}, {1, 0, 2}};

	(void)state;
	for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++) {
		seen_bytes = seen_nonzero = 0;
		release_order(orders[i]);
	}
}

/* arena_wipe zeroes at once (the region is not handed out again). */
static void test_wipe_now(void **state)
{
	struct arena *a = arena_new(0);
	unsigned char *p, *q;

	(void)state;
	assert_non_null(a);
	p = arena_alloc(a, 32);
	assert_non_null(p);
	memset(p, 0xff, 32);
	arena_wipe(a, p, 16); /* the first half: the rest is still in use */
	for (int i = 16; i < 32; i++)
		assert_int_equal(p[i], 0xff);
	q = arena_alloc(a, 32);
	assert_non_null(q);
	assert_true(q >= p + 32); /* never the wiped room again */
	arena_wipe(a, NULL, 10);  /* fine */
	arena_unref(a);
	assert_int_equal(seen_nonzero, 0);
}

/* Holders on several threads allocate at once and let go in whatever
 * order they finish: every allocation is its own (no two overlap), and
 * the arena is wiped and freed once. */
#define NTHREADS 4
#define NALLOC 200

struct worker {
	struct arena *a;
	unsigned char *p[NALLOC];
	int id;
	int bad;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < NALLOC; i++) {
		w->p[i] = arena_alloc(w->a, 40 + (size_t)i % 50);
		if (w->p[i] == NULL) {
			w->bad = 1;
			break;
		}
		memset(w->p[i], w->id, 40);
	}
	for (int i = 0; i < NALLOC && !w->bad; i++)
		for (int j = 0; j < 40; j++)
			if (w->p[i][j] != w->id)
				w->bad = 1;
	arena_unref(w->a);
	return NULL;
}

static void test_threads(void **state)
{
	struct arena *a = arena_new(1024);
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];

	(void)state;
	assert_non_null(a);
	for (int i = 0; i < NTHREADS; i++) {
		w[i].a = a;
		w[i].id = i + 1;
		w[i].bad = 0;
		arena_ref(a);
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	arena_unref(a); /* ours first: the workers' references keep it */
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < NTHREADS; i++)
		assert_false(w[i].bad);
	assert_true(seen_chunks > 1);
	assert_true(seen_bytes >= (size_t)NTHREADS * NALLOC * 40);
	assert_int_equal(seen_nonzero, 0);
}

static void test_overflow(void **state)
{
	struct arena *a = arena_new(0);

	(void)state;
	assert_non_null(a);
	assert_null(arena_alloc(a, SIZE_MAX));
	assert_null(arena_alloc(a, SIZE_MAX - 8));
	assert_null(arena_alloc(a, SIZE_MAX / 2 + 1));
	assert_null(arena_calloc(a, SIZE_MAX / 2, 3));
	assert_null(arena_calloc(a, 3, SIZE_MAX / 2));
	assert_null(arena_new(SIZE_MAX));
	/* refused sizes leave the arena as it was */
	assert_int_equal(arena_test_chunks(a), 1);
	assert_non_null(arena_alloc(a, 10));
	assert_null(arena_alloc(NULL, 10));
	arena_unref(a);
	arena_unref(NULL);
}

/* A block of 0 bytes is still one the arena handed out: req_post_clear
 * (vault/req.c) asks arena_owns whether a block is the arena's (wiped in
 * place) or malloc's (wiped and freed), so a 0-byte block at the end of a
 * chunk that arena_owns disowned would be passed to free(). */
static void test_zero_size(void **state)
{
	struct arena *a = arena_new(0);
	unsigned char *p, *q;

	(void)state;
	assert_non_null(a);
	p = arena_alloc(a, 0);
	assert_non_null(p);
	assert_true(arena_owns(a, p));
	q = arena_alloc(a, 0);
	assert_non_null(q);
	assert_true(q != p); /* distinct blocks */
	assert_true(arena_owns(a, q));
	/* at the end of a later chunk too */
	assert_non_null(arena_alloc(a, 3 * ARENA_FIRST));
	p = arena_alloc(a, 0);
	assert_non_null(p);
	assert_true(arena_owns(a, p));
	arena_unref(a);
	assert_int_equal(seen_nonzero, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_alignment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_growth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refcount_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wipe_now, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zero_size, setup, teardown),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
