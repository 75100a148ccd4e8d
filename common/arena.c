/* arena.c - the per-request memory region (see arena.h). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_REDZONE ((size_t)16)
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_REDZONE ((size_t)0)
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ROUND(n) (((n) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)

struct chunk {
	struct chunk *next;
	size_t cap;  /* bytes of data */
	size_t used; /* bytes of data handed out (with alignment and redzones) */
};
/* a chunk's data follows its header, aligned */
#define CHUNK_HDR ROUND(sizeof(struct chunk))
#define DATA(c) ((unsigned char *)(c) + CHUNK_HDR)

struct arena {
	pthread_mutex_t mu;
	int refs;            /* __atomic */
	struct chunk *cur;   /* the chunk allocations come from; its next the older ones */
	struct chunk *first; /* inline, right after the header: freed with the arena */
	size_t grow;         /* the least size of a further chunk */
};
#define ARENA_HDR ROUND(sizeof(struct arena))

#ifdef RSVAULT_TESTING
void (*arena_test_wiped)(const unsigned char *p, size_t n);
#endif

/* The largest n arena_alloc takes: a chunk of n plus its header, its
 * redzone and a malloc's alignment slack stays far from SIZE_MAX. */
#define ARENA_MAX (SIZE_MAX / 2)

struct arena *arena_new(size_t first)
{
	struct arena *a;

	if (first == 0)
		first = ARENA_FIRST;
	if (first > ARENA_MAX)
		return NULL;
	first = ROUND(first);
	if ((a = malloc(ARENA_HDR + CHUNK_HDR + first)) == NULL)
		return NULL;
	if (pthread_mutex_init(&a->mu, NULL) != 0) {
		free(a);
		return NULL;
	}
	a->refs = 1;
	a->first = (struct chunk *)(void *)((unsigned char *)a + ARENA_HDR);
	a->first->next = NULL;
	a->first->cap = first;
	a->first->used = 0;
	a->cur = a->first;
	a->grow = first;
	POISON(DATA(a->first), first);
	return a;
}

/* n bytes from c, or NULL when they do not fit (a->mu held). A block of
 * 0 bytes takes one all the same: it is distinct from the next block, and
 * arena_owns (which req_post_clear asks before it frees) counts it in. */
static void *take(struct chunk *c, size_t n)
{
	size_t off = ROUND(c->used), room = n ? n : 1;
	unsigned char *p;

	if (off > c->cap || c->cap - off < room + ARENA_REDZONE)
		return NULL;
	p = DATA(c) + off;
	c->used = off + room + ARENA_REDZONE;
	UNPOISON(p, n);
	return p;
}

void *arena_alloc(struct arena *a, size_t n)
{
	struct chunk *c;
	size_t cap;
	void *p;

	if (a == NULL || n > ARENA_MAX)
		return NULL;
	pthread_mutex_lock(&a->mu);
	if ((p = take(a->cur, n)) == NULL) {
		cap = ROUND((n ? n : 1) + ARENA_REDZONE);
		if (cap < a->grow)
			cap = a->grow;
		if ((c = malloc(CHUNK_HDR + cap)) != NULL) {
			c->cap = cap;
			c->used = 0;
			c->next = a->cur;
			a->cur = c;
			POISON(DATA(c), cap);
			p = take(c, n);
		}
	}
	pthread_mutex_unlock(&a->mu);
	return p;
}

void *arena_calloc(struct arena *a, size_t nmemb, size_t size)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		return NULL;
	if ((p = arena_alloc(a, nmemb * size)) != NULL)
		memset(p, 0, nmemb * size);
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(a, n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

int arena_owns(struct arena *a, const void *p)
{
	const unsigned char *q = p;
	int in = 0;

	if (a == NULL || p == NULL)
		return 0;
	pthread_mutex_lock(&a->mu);
	for (struct chunk *c = a->cur; c != NULL && !in; c = c->next) {
		/* (compared as integers: pointers into different objects) */
		uintptr_t lo = (uintptr_t)DATA(c), x = (uintptr_t)q;
		in = x >= lo && x - lo < c->used;
	}
	pthread_mutex_unlock(&a->mu);
	return in;
}

void arena_wipe(struct arena *a, void *p, size_t n)
{
	(void)a;
	if (p == NULL)
		return;
	sodium_memzero(p, n);
	POISON(p, n);
}

void arena_ref(struct arena *a)
{
	__atomic_fetch_add(&a->refs, 1, __ATOMIC_RELAXED);
}

void arena_unref(struct arena *a)
{
	struct chunk *c, *next;

	if (a == NULL || __atomic_fetch_sub(&a->refs, 1, __ATOMIC_ACQ_REL) != 1)
		return;
	for (c = a->cur; c != NULL; c = next) {
		next = c->next;
		UNPOISON(DATA(c), c->cap);
		sodium_memzero(DATA(c), c->used);
#ifdef RSVAULT_TESTING
		if (arena_test_wiped != NULL)
			arena_test_wiped(DATA(c), c->used);
#endif
		if (c != a->first)
			free(c);
	}
	pthread_mutex_destroy(&a->mu);
	free(a);
}

void arena_unref_cb(void *cls)
{
	arena_unref(cls);
}

#ifdef RSVAULT_TESTING
size_t arena_test_chunks(struct arena *a)
{
	size_t n = 0;

	pthread_mutex_lock(&a->mu);
	for (struct chunk *c = a->cur; c != NULL; c = c->next)
		n++;
	pthread_mutex_unlock(&a->mu);
	return n;
}
#endif
