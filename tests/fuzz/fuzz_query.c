/* fuzz_query.c - query-string parameters, req_query (vault/req.c), as the
 * audit routes use them (api_audit.c), then util_parse_i64 on the numeric
 * ones.
 *
 * Input: the query string (what follows '?'), cut at the first NUL. Each
 * parameter name the server reads is looked up with the buffer size its
 * caller uses, in an exact-size heap block; so is the input's first key
 * with a 1- and an 8-byte buffer. Results are compared with a naive
 * restatement: split on '&', key up to '=', a repeated key is an error,
 * the value percent-decoded ('+' is a space, %XX either case, no %00,
 * no stray '%') and refused if it does not fit with its NUL. */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "req.h"
#include "util.h"

/* The reference decoder below is written apart from vault/req.c on
 * purpose (down to this helper), so that a shared mistake cannot hide. */
static int hexv(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode [s, s+n) into out (n + 1 bytes); returns length or -1. */
static long ref_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (n - i < 3 || hexv((unsigned char)s[i + 1]) < 0 ||
			    hexv((unsigned char)s[i + 2]) < 0)
				return -1;
			int c = hexv((unsigned char)s[i + 1]) * 16 + hexv((unsigned char)s[i + 2]);
			if (c == 0)
				return -1;
			out[o++] = (char)c;
			i += 2;
		} else {
			out[o++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	out[o] = '\0';
	return (long)o;
}

/* Reference req_query. *val (malloc'd, caller frees) holds the value. */
static int ref_query(const char *q, const char *name, size_t outlen, char **val)
{
	size_t nl = strlen(name);
	int found = 0;

	*val = NULL;
	while (*q) {
		size_t seg = strcspn(q, "&");
		size_t kl = strcspn(q, "=&");
		if (kl == nl && memcmp(q, name, nl) == 0) {
			if (found)
				return -1;
			found = 1;
			*val = malloc(seg + 1);
			fuzz_check(*val != NULL);
			if (kl == seg) {
				(*val)[0] = '\0';
			} else {
				long len = ref_decode(q + kl + 1, seg - kl - 1, *val);
				if (len < 0 || (size_t)len + 1 > outlen)
					return -1;
			}
		}
		q += seg;
		if (*q == '&')
			q++;
	}
	return found;
}

static void check(const char *q, const char *name, size_t outlen)
{
	struct req *r = calloc(1, sizeof *r);
	char *out = malloc(outlen), *want = NULL;
	int got, ref;

	fuzz_check(r != NULL && out != NULL);
	r->query = q;
	got = req_query(r, name, out, outlen);
	ref = ref_query(q, name, outlen, &want);
	fuzz_check(got == ref);
	if (got == 1) {
		fuzz_check(memchr(out, '\0', outlen) != NULL);
		fuzz_check(strcmp(out, want) == 0);
		/* what query_u64 in api_audit.c does next */
		int64_t v = -1;
		if (util_parse_i64(out, 0, INT64_MAX, &v) == 0)
			fuzz_check(v >= 0);
	}
	free(want);
	free(out);
	free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		const char *name;
		size_t outlen;
	} params[] = {
	    {"ticket", 130}, {"actor", 130},    {"action", 64},
	    {"outcome", 16}, {"after_seq", 32}, {"limit", 32},
	};
	char *q, *first;
	size_t kl;

	if (size > REQ_URI_MAX)
		return 0;
	if ((q = malloc(size + 1)) == NULL)
		return 0;
	memcpy(q, data, size);
	q[size] = '\0';
	for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
		check(q, params[i].name, params[i].outlen);
	/* the first key as a name, with tight buffers */
	kl = strcspn(q, "=&");
	if ((first = malloc(kl + 1)) != NULL) {
		memcpy(first, q, kl);
		first[kl] = '\0';
		check(q, first, 1);
		check(q, first, 8);
		free(first);
	}
	free(q);
	return 0;
}
