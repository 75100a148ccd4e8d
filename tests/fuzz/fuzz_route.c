/* fuzz_route.c - the route table and matcher, route_match (vault/route.c).
 *
 * Input: "METHOD\nPATH" (without a newline the method is GET and the whole
 * input is the path), cut at the first NUL, as http.c passes them after
 * splitting off the query. The request context is zeroed each time.
 * Checked, besides memory safety (the Allow buffer is an exact-size heap
 * block):
 *  - FOUND: the route's method is METHOD, the pattern with its "{}"
 *    replaced by the captured params is exactly PATH, and each param is
 *    valid for its kind (server id, account id, license key);
 *  - BAD_METHOD: Allow lists only other methods, each of which is FOUND;
 *  - NOT_FOUND: no method finds the path, and Allow is empty;
 *  - a too-small Allow buffer is still NUL-terminated, never overrun. */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "route.h"
#include "util.h"

#define ALLOW_LEN 64 /* as in http.c */

static const char *const methods[] = {"GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "get"};
#define NMETHODS (sizeof methods / sizeof methods[0])

static int valid_license(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 128 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* A token id: exactly 16 lowercase hex characters. */
static int valid_token_id(const char *s)
{
	return strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

static int valid_kind(enum param_kind k, const char *s)
{
	switch (k) {
	case P_TOKEN_ID:
		return valid_token_id(s);
	case P_SERVER_ID:
		return util_valid_server_id(s);
	case P_ACCOUNT:
		return util_valid_account_id(s);
	case P_LICENSE:
		return valid_license(s);
	default:
		return 0;
	}
}

static enum route_result match(struct req *r, const char *method, const char *path, char *allow,
                               size_t allowlen)
{
	enum route_result res;

	memset(r, 0, sizeof *r);
	res = route_match(r, method, path, allow, allowlen);
	fuzz_check(memchr(allow, '\0', allowlen) != NULL);
	return res;
}

static void check_found(const struct req *r, const char *method, const char *path)
{
	const struct route *rt = r->route;
	char rebuilt[2 * REQ_URI_MAX];
	const char *p;
	size_t o = 0;
	int n = 0;

	fuzz_check(rt != NULL && rt->handler != NULL);
	fuzz_check(strcmp(rt->method, method) == 0);
	fuzz_check(r->nparams >= 0 && r->nparams <= 2);
	for (p = rt->pattern; *p; p++) {
		if (p[0] == '{' && p[1] == '}') {
			const char *v = r->params[n];
			size_t len = strnlen(v, REQ_PARAM_MAX);
			fuzz_check(n < r->nparams && len > 0 && len < REQ_PARAM_MAX);
			fuzz_check(strchr(v, '/') == NULL);
			fuzz_check(valid_kind(n == 0 ? rt->p0 : rt->p1, v));
			memcpy(rebuilt + o, v, len);
			o += len;
			n++;
			p++;
		} else {
			rebuilt[o++] = *p;
		}
	}
	rebuilt[o] = '\0';
	fuzz_check(n == r->nparams);
	fuzz_check(strcmp(rebuilt, path) == 0);
	/* only public routes skip authentication and audit */
	fuzz_check(((rt->flags & R_PUBLIC) != 0) == (rt->action == NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *method, *path, *allow, *tiny;
	struct req *r;
	enum route_result res;

	if (size > 2 * REQ_URI_MAX)
		return 0; /* http.c refuses longer URIs before routing */
	in = malloc(size + 1);
	allow = malloc(ALLOW_LEN);
	tiny = malloc(7);
	r = malloc(sizeof *r);
	if (in == NULL || allow == NULL || tiny == NULL || r == NULL)
		goto out;
	memcpy(in, data, size);
	in[size] = '\0';
	if ((path = strchr(in, '\n')) != NULL) {
		*path++ = '\0';
		method = in;
	} else {
		method = "GET";
		path = in;
	}

	res = match(r, method, path, allow, ALLOW_LEN);
	switch (res) {
	case ROUTE_FOUND:
		check_found(r, method, path);
		break;
	case ROUTE_BAD_METHOD: {
		char list[ALLOW_LEN], *save = NULL;
		fuzz_check(allow[0] != '\0');
		memcpy(list, allow, ALLOW_LEN);
		for (char *m = strtok_r(list, ", ", &save); m; m = strtok_r(NULL, ", ", &save)) {
			fuzz_check(strcmp(m, method) != 0);
			fuzz_check(match(r, m, path, allow, ALLOW_LEN) == ROUTE_FOUND);
			check_found(r, m, path);
		}
		break;
	}
	case ROUTE_NOT_FOUND:
		fuzz_check(allow[0] == '\0');
		for (size_t i = 0; i < NMETHODS; i++)
			fuzz_check(match(r, methods[i], path, allow, ALLOW_LEN) == ROUTE_NOT_FOUND);
		break;
	default:
		fuzz_fail("unknown route_result");
	}
	/* same answer with an Allow buffer too small for the list */
	fuzz_check(match(r, method, path, tiny, 7) == res);
	fuzz_check(match(r, method, path, tiny, 1) == res && tiny[0] == '\0');
out:
	free(in);
	free(allow);
	free(tiny);
	free(r);
	return 0;
}
