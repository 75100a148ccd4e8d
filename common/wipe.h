/* wipe.h - the one wiping allocator of rsvault: memory that held a secret
 * is zeroed (sodium_memzero) before it is freed. */
#ifndef RSVAULT_WIPE_H
#define RSVAULT_WIPE_H

#include <stddef.h>

/* A malloc family that remembers each block's size in a header in front
 * of it and zeroes the whole block (sodium_memzero) before freeing it.
 * Installed for jansson (json_set_alloc_funcs; server and client) and
 * libcurl (curl_global_init_mem; client) so their copies of a secret are
 * wiped too. Blocks from these functions must be freed with wipe_free and
 * never with free(). None of them block. */
void *wipe_malloc(size_t n);
void *wipe_calloc(size_t nmemb, size_t size);
void *wipe_realloc(void *p, size_t n);
char *wipe_strdup(const char *s);
void wipe_free(void *p);

/* For a block from plain malloc whose first n bytes held a secret: zero
 * them (sodium_memzero), then free(p). NULL is fine. */
void wipe_release(void *p, size_t n);

#endif
