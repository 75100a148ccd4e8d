/* page.h - paging of the lists that are not the audit log (SPEC 8.6), and
 * the one check of query parameters for every /v1 route.
 *
 * A list takes limit (1..1000, default 1000) and an opaque after; its
 * answer carries "next" only when more items remain, and passing that as
 * after gives the next page. The cursor is the base64url (no padding) of
 * the sort key of the last item shown; items come in sort-key order, so a
 * page starts after that key, and an item added or removed meanwhile
 * neither repeats nor hides another. */
#ifndef RSVAULT_PAGE_H
#define RSVAULT_PAGE_H

#include <stddef.h>

#include <jansson.h>

#include "apilimits.h"
#include "req.h"

#define PAGE_LIMIT_MAX API_LIST_PAGE_MAX
#define PAGE_LIMIT_DEFAULT API_LIST_PAGE_DEFAULT
#define PAGE_KEY_MAX 512

struct page {
	size_t limit;
	size_t n;      /* items taken so far */
	int more;      /* a further item exists */
	int has_after; /* the request gave an after */
	unsigned char after[PAGE_KEY_MAX];
	size_t afterlen;
	unsigned char last[PAGE_KEY_MAX];
	size_t lastlen;
};

/* Refuse a query parameter the route does not take (400 invalid_field):
 * routes are looked up by their audit action; a route not listed takes
 * none. Audit routes check their own. Returns 0 or the failure status. */
int page_check_query(struct req *r);

/* Parse limit and after of r into p. Returns 0 or the failure status
 * (400 invalid_field). */
int page_init(struct req *r, struct page *p);

/* For an item with sort key (key, klen), in order: 1 if it lies at or
 * before the cursor (skip it), else 0. */
int page_skip(const struct page *p, const void *key, size_t klen);

/* 1 if the page is full (and so more remain: p->more is set), else 0.
 * Call for each item to be shown, before page_add. */
int page_full(struct page *p);

/* Count an item shown, with its sort key. */
void page_add(struct page *p, const void *key, size_t klen);

/* Put "next" into body when more remain. Returns 0 or -1 (no memory). */
int page_finish(const struct page *p, json_t *body);

/* Compare two sort keys as LMDB orders them (bytes, then length). */
int page_keycmp(const void *a, size_t al, const void *b, size_t bl);

#endif
