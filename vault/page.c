/* page.c - list paging and query-parameter checks (SPEC 8.6). */
#include "page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "route.h"
#include "util.h"

/* The query parameters of each route that takes any, by audit action.
 * The audit routes (audit.list, audit.checkpoints, audit.ticket) check
 * theirs where they parse them. */
static const struct {
	const char *action;
	const char *params[8];
} takes[] = {
    {"ticket.list", {"status", "ref", "owner", "agent", "limit", "after", NULL}},
    {"credential.list", {"limit", "after", NULL}},
    {"session.list", {"limit", "after", NULL}},
    {"link.list", {"limit", "after", NULL}},
    {"account.list", {"limit", "after", NULL}},
    {"license.list", {"limit", "after", NULL}},
    {"webhook.list", {"limit", "after", NULL}}, /* webhooks.c pages these */
    {"webhook.deliveries", {"state", "limit", "after", NULL}},
};

static int own_check(const char *action)
{
	return strcmp(action, "audit.list") == 0 || strcmp(action, "audit.checkpoints") == 0 ||
	       strcmp(action, "audit.ticket") == 0;
}

int page_check_query(struct req *r)
{
	const char *const *allowed = NULL;
	static const char *const none[] = {NULL};
	const char *p = r->query, *action = r->route ? r->route->action : NULL;

	if (p == NULL || *p == '\0' || (action != NULL && own_check(action)))
		return 0;
	/* a route without an action (GET /v1/metrics) takes none */
	for (size_t i = 0; action != NULL && i < sizeof takes / sizeof takes[0]; i++)
		if (strcmp(takes[i].action, action) == 0)
			allowed = takes[i].params;
	if (allowed == NULL)
		allowed = none;
	while (*p) {
		size_t seg = strcspn(p, "&"), kl = strcspn(p, "=&"), i;
		for (i = 0; allowed[i] != NULL; i++)
			if (strlen(allowed[i]) == kl && memcmp(allowed[i], p, kl) == 0)
				break;
		if (allowed[i] == NULL)
			return req_fail(r, 400, "invalid_field", "unknown query parameter \"%.*s\"",
			                (int)(kl > 40 ? 40 : kl), p);
		p += seg;
		if (*p == '&')
			p++;
	}
	return 0;
}

/* The page size when the request gives no limit. */
static size_t default_limit(void)
{
#ifdef RSVAULT_TESTING
	/* test builds: RSVAULT_TEST_PAGE_DEFAULT makes small pages, so a test
	 * sees the client follow "next" without thousands of items */
	const char *s = getenv("RSVAULT_TEST_PAGE_DEFAULT");
	int64_t n;

	if (s != NULL && util_parse_i64(s, 1, PAGE_LIMIT_MAX, &n) == 0)
		return (size_t)n;
#endif
	return PAGE_LIMIT_DEFAULT;
}

int page_init(struct req *r, struct page *p)
{
	char buf[2 * PAGE_KEY_MAX];
	int64_t n;
	int got;

	memset(p, 0, sizeof *p);
	p->limit = default_limit();
	got = req_query(r, "limit", buf, 32);
	if (got < 0 || (got == 1 && util_parse_i64(buf, 1, PAGE_LIMIT_MAX, &n) != 0))
		return req_fail(r, 400, "invalid_field", "limit must be an integer from 1 to %d",
		                PAGE_LIMIT_MAX);
	if (got == 1)
		p->limit = (size_t)n;
	got = req_query(r, "after", buf, sizeof buf);
	if (got == 1 && buf[0] != '\0' &&
	    sodium_base642bin(p->after, sizeof p->after, buf, strlen(buf), NULL, &p->afterlen, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
	    p->afterlen > 0) {
		p->has_after = 1;
		return 0;
	}
	if (got != 0)
		return req_fail(r, 400, "invalid_field",
		                "after must be the \"next\" value of an earlier page");
	return 0;
}

int page_keycmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	if (c != 0)
		return c;
	return al < bl ? -1 : al > bl ? 1 : 0;
}

int page_skip(const struct page *p, const void *key, size_t klen)
{
	return p->has_after && page_keycmp(key, klen, p->after, p->afterlen) <= 0;
}

int page_full(struct page *p)
{
	if (p->n < p->limit)
		return 0;
	p->more = 1;
	return 1;
}

void page_add(struct page *p, const void *key, size_t klen)
{
	p->n++;
	if (klen > sizeof p->last)
		klen = sizeof p->last;
	memcpy(p->last, key, klen);
	p->lastlen = klen;
}

int page_finish(const struct page *p, json_t *body)
{
	char b64[sodium_base64_ENCODED_LEN(PAGE_KEY_MAX, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

	if (!p->more)
		return 0;
	sodium_bin2base64(b64, sizeof b64, p->last, p->lastlen,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return json_object_set_new(body, "next", json_string(b64));
}
