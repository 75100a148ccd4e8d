/* arena.h - a per-request memory region: bump allocation in chunks, one
 * reference per holder, wiped whole (sodium_memzero) before it is freed.
 *
 * One request's own allocations (its context, the URI copy, the queued
 * copy and store operation, the sealed record copied out, the plaintext,
 * the answer text) come from one arena, so that a secret read makes one
 * malloc instead of seven. Nothing is freed alone: a region given back
 * with arena_wipe is zeroed at once and its room reused by nobody; all of
 * it goes when the last reference is dropped.
 *
 * Holders: whoever may still touch the arena's memory holds a reference
 * (the connection, the store operation queued in it, libmicrohttpd's
 * answer that points into it); the last arena_unref, from whatever thread,
 * wipes every byte the arena handed out and frees its chunks.
 *
 * Thread safety: arena_alloc (and arena_owns) take the arena's lock (the
 * writer thread may copy a record into a request's arena while the
 * connection's thread, after a time-out, builds the answer); references
 * are atomic.
 *
 * Under AddressSanitizer (a SAN=1 build) the arena does not hide bugs:
 * every byte not handed out is poisoned, each allocation is followed by a
 * poisoned gap of ARENA_REDZONE bytes (an overflow hits it), a region
 * given back with arena_wipe is poisoned again (a later use is reported),
 * and the chunks themselves are freed with free() (a use after the last
 * reference is reported by ASan's own quarantine). */
#ifndef RSVAULT_ARENA_H
#define RSVAULT_ARENA_H

#include <stddef.h>

struct arena;

/* Every allocation is aligned to this (the strictest fundamental
 * alignment). */
#define ARENA_ALIGN _Alignof(max_align_t)

/* The first chunk, allocated with the arena's header in one malloc: room
 * for a secret read of a usual size (the connection context, the queued
 * copy of the request, the record, its plaintext and the answer). */
#define ARENA_FIRST 8192

/* A new arena holding one reference (the caller's), its first chunk at
 * least `first` bytes (0: ARENA_FIRST). NULL when out of memory. */
struct arena *arena_new(size_t first);

/* n bytes (n may be 0: a block of its own all the same, which arena_owns
 * counts in), aligned to ARENA_ALIGN, from the current chunk or
 * a new one (at least n, at least the first chunk's size). Not zeroed.
 * NULL when out of memory or n is too large to be held with the chunk's
 * own header (no size wraps around). */
void *arena_alloc(struct arena *a, size_t n);

/* nmemb * size zeroed bytes; NULL on overflow of the product. */
void *arena_calloc(struct arena *a, size_t nmemb, size_t size);

/* A copy of s (with its NUL) in the arena, or NULL. */
char *arena_strdup(struct arena *a, const char *s);

/* Whether p points into memory a has handed out (a chunk of a). */
int arena_owns(struct arena *a, const void *p);

/* Zero p's first n bytes at once (sodium_memzero): the region held a
 * secret and is not used again. The room is not reused; under ASan it is
 * poisoned. NULL is fine. */
void arena_wipe(struct arena *a, void *p, size_t n);

/* One more holder. */
void arena_ref(struct arena *a);

/* A holder is done. The last one wipes every chunk's used bytes, then
 * frees them and the arena. NULL is fine. */
void arena_unref(struct arena *a);

/* For libmicrohttpd's free callback of an answer pointing into an arena
 * (cls is the arena): arena_unref(cls). */
void arena_unref_cb(void *cls);

#ifdef RSVAULT_TESTING
/* Test builds: called for each chunk after it was wiped and before it is
 * freed, with the bytes the chunk handed out (so a test can see they are
 * zero). */
extern void (*arena_test_wiped)(const unsigned char *p, size_t n);
/* Test builds: how many chunks a holds. */
size_t arena_test_chunks(struct arena *a);
#endif

#endif
