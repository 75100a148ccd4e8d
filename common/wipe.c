/* wipe.c - the wiping allocator (see wipe.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wipe.h"

/* The header in front of each block holds its size; it is as large as the
 * strictest alignment so the block itself stays aligned. */
#define WIPE_HDR _Alignof(max_align_t)
_Static_assert(_Alignof(max_align_t) >= sizeof(size_t), "header too small");

void *wipe_malloc(size_t n)
{
	unsigned char *p;

	if (n > SIZE_MAX - WIPE_HDR)
		return NULL;
	p = malloc(n + WIPE_HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof n);
	return p + WIPE_HDR;
}

void wipe_free(void *q)
{
	unsigned char *p;
	size_t n;

	if (q == NULL)
		return;
	p = (unsigned char *)q - WIPE_HDR;
	memcpy(&n, p, sizeof n);
	sodium_memzero(p, n + WIPE_HDR);
	free(p);
}

void *wipe_calloc(size_t nmemb, size_t size)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		return NULL;
	p = wipe_malloc(nmemb * size);
	if (p != NULL)
		memset(p, 0, nmemb * size);
	return p;
}

void *wipe_realloc(void *q, size_t n)
{
	void *p;
	size_t old;

	if (q == NULL)
		return wipe_malloc(n);
	memcpy(&old, (unsigned char *)q - WIPE_HDR, sizeof old);
	p = wipe_malloc(n);
	if (p == NULL)
		return NULL;
	memcpy(p, q, old < n ? old : n);
	wipe_free(q);
	return p;
}

char *wipe_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = wipe_malloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

void wipe_release(void *p, size_t n)
{
	if (p == NULL)
		return;
	sodium_memzero(p, n);
	free(p);
}
