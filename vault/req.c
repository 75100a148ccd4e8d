/* req.c - results, query parameters, role names. */
#include "req.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "util.h"
#include "wipe.h"

int req_fail(struct req *r, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	json_decref(r->resp);
	r->resp = NULL;
	req_text_clear(r);
	r->status = status;
	r->err_code = code;
	va_start(ap, fmt);
	vsnprintf(r->err_msg, sizeof r->err_msg, fmt, ap);
	va_end(ap);
	return status;
}

int req_ok(struct req *r, int status, json_t *body)
{
	json_decref(r->resp);
	r->resp = body;
	req_text_clear(r);
	r->status = status;
	r->err_code = NULL;
	r->err_msg[0] = '\0';
	return status;
}

int req_ok_text(struct req *r, int status, char *text)
{
	req_ok(r, status, NULL);
	r->resp_text = text;
	return status;
}

void req_uri_clear(struct req *r)
{
	/* the whole buffer: once the query is split off (http.c puts a NUL
	 * where its '?' was), strlen(uri) reaches only the path */
	if (r->uri != NULL)
		arena_wipe(r->arena, r->uri,
		           r->query != NULL ? (size_t)(r->query - r->uri) + strlen(r->query)
		                            : strlen(r->uri));
	r->uri = NULL;
	r->query = NULL;
}

void req_text_clear(struct req *r)
{
	if (r->resp_text != NULL)
		arena_wipe(r->arena, r->resp_text, strlen(r->resp_text));
	r->resp_text = NULL;
}

/* Percent-decode [s, s+n) into out; rejects %00, bad escapes, overlong. */
static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= n || (hi = util_hexval(s[i + 1])) < 0 ||
			    (lo = util_hexval(s[i + 2])) < 0)
				return -1;
			c = hi * 16 + lo;
			if (c == 0)
				return -1;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

int req_query(const struct req *r, const char *name, char *out, size_t outlen)
{
	const char *p = r->query;
	size_t nl = strlen(name);
	int found = 0;

	while (p != NULL && *p) {
		size_t seg = strcspn(p, "&");
		const char *eq = memchr(p, '=', seg);
		size_t kl = eq ? (size_t)(eq - p) : seg;
		if (kl == nl && memcmp(p, name, nl) == 0) {
			if (found)
				return -1; /* repeated parameter */
			found = 1;
			if (eq == NULL)
				out[0] = '\0';
			else if (pct_decode(eq + 1, seg - kl - 1, out, outlen) != 0)
				return -1;
		}
		p += seg;
		if (*p == '&')
			p++;
	}
	return found;
}

static const struct {
	enum role r;
	const char *name;
} roles[] = {
    {ROLE_CUSTOMER, "customer"}, {ROLE_RESELLER, "reseller"}, {ROLE_AGENT, "agent"},
    {ROLE_AUDITOR, "auditor"},   {ROLE_ADMIN, "admin"},       {ROLE_GUEST, "guest"},
};

const char *role_name(enum role r)
{
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (roles[i].r == r)
			return roles[i].name;
	return NULL;
}

enum role role_parse(const char *s)
{
	for (size_t i = 0; s && i < sizeof roles / sizeof roles[0]; i++)
		if (strcmp(roles[i].name, s) == 0)
			return roles[i].r;
	return ROLE_NONE;
}

void req_post_clear(struct req *r)
{
	if (r->post_rec != NULL && arena_owns(r->arena, r->post_rec))
		arena_wipe(r->arena, r->post_rec, r->post_reclen);
	else if (r->post_rec != NULL)
		wipe_release(r->post_rec, r->post_reclen);
	r->post_rec = NULL;
	r->post_reclen = 0;
	sodium_memzero(r->post_key, sizeof r->post_key);
	r->post_keylen = 0;
	r->post = NULL;
}
